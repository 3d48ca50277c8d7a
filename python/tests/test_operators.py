"""Array operators (arithmetic, comparison, bitwise, matmul; reflected and in-place)
against NumPy, and dtype promotion with Python scalars as weak types (MLX rules)."""

import operator

import ember.core as mx
import numpy as np
import pytest
from helpers import FLOAT_DTYPES, INT_DTYPES, LAYOUTS, NP_DTYPES, TOL, assert_close, make_input, random_np

ARITH = [operator.add, operator.sub, operator.mul, operator.truediv]
INT_OPS = [operator.floordiv, operator.mod, operator.and_, operator.or_, operator.xor]
CMP = [operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge]


@pytest.mark.parametrize("op", ARITH + CMP, ids=lambda f: f.__name__)
@pytest.mark.parametrize("dtype", FLOAT_DTYPES + [mx.int32, mx.uint8, mx.int64])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_binary_operators_vs_numpy(rng, op, dtype, layout):
    x_np, x = make_input(random_np(rng, (4, 6), dtype), layout, dtype)
    y_raw = random_np(rng, (4, 6), dtype)
    if op is operator.truediv:
        y_raw = np.where(y_raw == 0, 1, y_raw).astype(y_raw.dtype)
    y_np, y = make_input(y_raw, layout, dtype)
    out = op(x, y)
    with np.errstate(all="ignore"):
        expected = op(x_np.astype(np.float64), y_np.astype(np.float64))
    tol = TOL.get(dtype, 1e-5) * (4 if op is operator.truediv else 1)
    if dtype in INT_DTYPES and op is not operator.truediv and op not in CMP:
        expected = op(x_np, y_np)  # integer arithmetic wraps as NumPy's does
    assert_close(out, expected, tol=tol)


@pytest.mark.parametrize("op", INT_OPS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("dtype", [mx.int8, mx.int32, mx.uint16, mx.int64])
def test_integer_operators_vs_numpy(rng, op, dtype):
    x_np = random_np(rng, (5, 3), dtype)
    y_np = random_np(rng, (5, 3), dtype)
    y_np = np.where(y_np == 0, 1, y_np).astype(y_np.dtype)
    out = op(mx.array(x_np), mx.array(y_np))
    assert out.dtype == dtype
    np.testing.assert_array_equal(np.array(out), op(x_np, y_np))


def test_shifts_invert_neg_abs_pow(rng):
    x_np = rng.integers(0, 100, (3, 4)).astype(np.int32)
    x = mx.array(x_np)
    np.testing.assert_array_equal(np.array(x << 2), x_np << 2)
    np.testing.assert_array_equal(np.array(x >> 1), x_np >> 1)
    np.testing.assert_array_equal(np.array(1 << mx.array([1, 2])), [2, 4])
    np.testing.assert_array_equal(np.array(~x), ~x_np)
    np.testing.assert_array_equal(np.array(~mx.array([True, False])), [False, True])
    np.testing.assert_array_equal(np.array(-x), -x_np)
    np.testing.assert_array_equal(np.array(abs(-x)), x_np)
    np.testing.assert_array_equal(np.array(+x), x_np)
    f = rng.uniform(0.5, 2, (3, 4)).astype(np.float32)
    assert_close(mx.array(f) ** 2, f**2, tol=1e-5)
    assert_close(2 ** mx.array(f), 2**f, tol=1e-5)
    q, r = divmod(mx.array(x_np), 7)
    np.testing.assert_array_equal(np.array(q), x_np // 7)
    np.testing.assert_array_equal(np.array(r), x_np % 7)


@pytest.mark.parametrize("shapes", [((3, 4), (4, 5)), ((2, 3, 4), (4, 2)), ((4,), (4, 3)), ((5,), (5,))])
def test_matmul_operator(rng, shapes):
    a_np = rng.standard_normal(shapes[0]).astype(np.float32)
    b_np = rng.standard_normal(shapes[1]).astype(np.float32)
    assert_close(mx.array(a_np) @ mx.array(b_np), a_np @ b_np, tol=1e-4)
    assert_close(mx.array(a_np) @ b_np, a_np @ b_np, tol=1e-4)  # numpy operand converted


def test_matmul_transposed_operand(rng):
    a_np = rng.standard_normal((6, 4)).astype(np.float32)
    a = mx.array(a_np)
    assert_close(a.T @ a, a_np.T @ a_np, tol=1e-4)


@pytest.mark.parametrize(
    "dtype, scalar, expected",
    [
        (mx.int8, 2, mx.int8),
        (mx.uint8, 3, mx.uint8),
        (mx.int16, 2.5, mx.float32),
        (mx.float16, 2, mx.float16),
        (mx.float16, 2.5, mx.float16),
        (mx.bfloat16, 1.0, mx.bfloat16),
        (mx.float64, 1.0, mx.float64),
        (mx.bool_, 1, mx.int32),
        (mx.bool_, True, mx.bool_),
        (mx.uint8, True, mx.uint8),
        (mx.int32, 1j, mx.complex64),
        (mx.float32, 1j, mx.complex64),
    ],
)
def test_weak_scalar_promotion(dtype, scalar, expected):
    a = mx.ones((2,), dtype=dtype)
    for out in (a + scalar, scalar + a, a * scalar, scalar * a, mx.add(a, scalar), mx.multiply(scalar, a)):
        assert out.dtype == expected, (dtype, scalar, out.dtype)


@pytest.mark.parametrize(
    "a, b, expected",
    [
        (mx.int8, mx.uint8, mx.int16),
        (mx.int32, mx.float16, mx.float16),
        (mx.uint8, mx.float32, mx.float32),
        (mx.int32, mx.int64, mx.int64),
        (mx.float16, mx.bfloat16, mx.float32),
        (mx.bool_, mx.int8, mx.int8),
        (mx.float32, mx.complex64, mx.complex64),
    ],
)
def test_array_array_promotion(a, b, expected):
    assert (mx.ones((2,), dtype=a) + mx.ones((2,), dtype=b)).dtype == expected
    assert (mx.ones((2,), dtype=b) * mx.ones((2,), dtype=a)).dtype == expected


def test_reflected_operators_values():
    a = mx.array([1.0, 2.0, 4.0])
    np.testing.assert_allclose(np.array(10 - a), [9, 8, 6])
    np.testing.assert_allclose(np.array(8 / a), [8, 4, 2])
    np.testing.assert_allclose(np.array(9 // a), [9, 4, 2])
    np.testing.assert_allclose(np.array(7 % a), [0, 1, 3])
    np.testing.assert_array_equal(np.array(2 < a), [False, False, True])
    np.testing.assert_array_equal(np.array(3 | mx.array([4, 8])), [7, 11])


def test_comparisons_with_scalars_and_none():
    a = mx.array([1, 2, 3])
    np.testing.assert_array_equal(np.array(a == 2), [False, True, False])
    np.testing.assert_array_equal(np.array(a >= 2), [False, True, True])
    assert (a == None) is False
    assert (a != None) is True
    assert (a == "x") is False


@pytest.mark.parametrize(
    "iop, op",
    [
        ("__iadd__", operator.add),
        ("__isub__", operator.sub),
        ("__imul__", operator.mul),
        ("__itruediv__", operator.truediv),
        ("__ifloordiv__", operator.floordiv),
        ("__imod__", operator.mod),
        ("__ipow__", operator.pow),
    ],
)
def test_inplace_operators_update_the_object(iop, op):
    x_np = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    a = mx.array(x_np)
    alias = a
    ident = id(a)
    b = getattr(a, iop)(2)
    assert id(b) == ident
    # In place, as MLX: every Python reference to the object sees the result.
    np.testing.assert_allclose(np.array(alias), op(x_np, np.float32(2)), rtol=1e-6)


def test_inplace_bitwise_and_matmul():
    a = mx.array([1, 2, 3])
    a |= 4
    a &= 5
    a ^= 1
    a <<= 1
    a >>= 1
    np.testing.assert_array_equal(np.array(a), (((np.array([1, 2, 3]) | 4) & 5) ^ 1))
    m = mx.eye(2)
    m @= mx.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(np.array(m), [[1, 2], [3, 4]])
    x = mx.array([1, 2], dtype=mx.int8)
    x += 1
    assert x.dtype == mx.int8


def test_broadcasting(rng):
    a_np = rng.standard_normal((4, 1, 3)).astype(np.float32)
    b_np = rng.standard_normal((5, 1)).astype(np.float32)
    assert_close(mx.array(a_np) + mx.array(b_np), a_np + b_np)
    assert_close(mx.array(a_np) * [1.0, 2.0, 3.0], a_np * np.array([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError):
        mx.array(a_np) + mx.ones((2, 2))


@pytest.mark.parametrize("dtype", [d for d in NP_DTYPES if d not in (mx.bool_,)])
def test_add_every_dtype(rng, dtype):
    x_np = random_np(rng, (7,), dtype)
    y_np = random_np(rng, (7,), dtype)
    out = mx.array(x_np, dtype=dtype) + mx.array(y_np, dtype=dtype)
    assert out.dtype == dtype
    with np.errstate(all="ignore"):
        assert_close(out, x_np + y_np, tol=TOL.get(dtype, 1e-6))
