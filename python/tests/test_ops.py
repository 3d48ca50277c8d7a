"""ember.core ops against NumPy on random inputs: dtypes, shapes and layouts
(contiguous, transposed, strided slices), including error cases."""

import math

import ember.core as mx
import numpy as np
import pytest
from helpers import FLOAT_DTYPES, LAYOUTS, NP_DTYPES, TOL, assert_close, make_input, random_np

erf = np.vectorize(math.erf)

# name -> (numpy reference, input range)
UNARY = {
    "abs": (np.abs, (-3, 3)),
    "negative": (np.negative, (-3, 3)),
    "sign": (np.sign, (-3, 3)),
    "sqrt": (np.sqrt, (0.1, 4)),
    "rsqrt": (lambda x: 1 / np.sqrt(x), (0.1, 4)),
    "square": (np.square, (-3, 3)),
    "reciprocal": (np.reciprocal, (0.5, 3)),
    "exp": (np.exp, (-3, 3)),
    "expm1": (np.expm1, (-1, 1)),
    "log": (np.log, (0.1, 4)),
    "log1p": (np.log1p, (0, 3)),
    "log2": (np.log2, (0.1, 4)),
    "log10": (np.log10, (0.1, 4)),
    "sin": (np.sin, (-3, 3)),
    "cos": (np.cos, (-3, 3)),
    "tan": (np.tan, (-1, 1)),
    "arcsin": (np.arcsin, (-0.9, 0.9)),
    "arccos": (np.arccos, (-0.9, 0.9)),
    "arctan": (np.arctan, (-3, 3)),
    "sinh": (np.sinh, (-2, 2)),
    "cosh": (np.cosh, (-2, 2)),
    "tanh": (np.tanh, (-3, 3)),
    "arcsinh": (np.arcsinh, (-3, 3)),
    "arccosh": (np.arccosh, (1.1, 4)),
    "arctanh": (np.arctanh, (-0.9, 0.9)),
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), (-3, 3)),
    "erf": (erf, (-2, 2)),
    "floor": (np.floor, (-3, 3)),
    "ceil": (np.ceil, (-3, 3)),
    "degrees": (np.degrees, (-3, 3)),
    "radians": (np.radians, (-90, 90)),
}


@pytest.mark.parametrize("name", list(UNARY))
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_unary_vs_numpy(rng, name, dtype, layout):
    ref, (lo, hi) = UNARY[name]
    x_np, x = make_input(random_np(rng, (5, 8), dtype, lo, hi), layout, dtype)
    out = getattr(mx, name)(x)
    assert out.dtype == dtype
    expected = ref(x_np.astype(np.float64))
    tol = TOL[dtype] * (8 if name in ("tan", "arctanh", "expm1", "radians", "degrees") else 2)
    assert_close(out, expected, tol=tol)


def test_unary_on_python_values_and_ints():
    assert mx.exp(0.0).item() == 1.0
    assert_close(mx.abs([-1, 2, -3]), [1, 2, 3], dtype=mx.int32)
    assert_close(mx.sqrt(mx.array([4, 9])), [2.0, 3.0], dtype=mx.float32)
    assert_close(mx.erfinv(mx.array([0.0, 0.5])), [0.0, 0.4769362762044699], tol=1e-5)
    assert_close(mx.round(mx.array([0.5, 1.5, 2.25]), 1), [0.5, 1.5, 2.2])
    assert_close(mx.isnan(mx.array([np.nan, 1.0])), [True, False])
    assert_close(mx.isinf(mx.array([np.inf, -np.inf, 1.0])), [True, True, False])
    assert_close(mx.isposinf(mx.array([np.inf, -np.inf])), [True, False])
    assert_close(mx.isneginf(mx.array([np.inf, -np.inf])), [False, True])
    assert_close(mx.isfinite(mx.array([np.inf, np.nan, 1.0])), [False, False, True])
    assert_close(mx.nan_to_num(mx.array([np.nan, 1.0]), nan=5.0), [5.0, 1.0])
    assert_close(mx.logical_not(mx.array([True, False])), [False, True])
    assert_close(mx.bitwise_invert(mx.array([0, 1], dtype=mx.uint8)), [255, 254])
    z = mx.array([1 + 2j, 3 - 1j])
    assert_close(mx.conjugate(z), [1 - 2j, 3 + 1j])
    assert_close(mx.real(z), [1, 3])
    assert_close(mx.imag(z), [2, -1])
    assert_close(z.real, [1, 3])


BINARY = {
    "add": np.add,
    "subtract": np.subtract,
    "multiply": np.multiply,
    "divide": np.divide,
    "maximum": np.maximum,
    "minimum": np.minimum,
    "power": np.power,
    "arctan2": np.arctan2,
    "logaddexp": np.logaddexp,
    "remainder": np.remainder,
    "floor_divide": np.floor_divide,
    "equal": np.equal,
    "not_equal": np.not_equal,
    "less": np.less,
    "less_equal": np.less_equal,
    "greater": np.greater,
    "greater_equal": np.greater_equal,
}


@pytest.mark.parametrize("name", list(BINARY))
@pytest.mark.parametrize("dtype", [mx.float32, mx.float64])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_binary_vs_numpy(rng, name, dtype, layout):
    lo = 0.5 if name == "power" else -3
    x_np, x = make_input(random_np(rng, (4, 6), dtype, lo, 3), layout, dtype)
    y_np, y = make_input(random_np(rng, (4, 6), dtype, 0.5, 3), layout, dtype)
    out = getattr(mx, name)(x, y)
    assert_close(out, BINARY[name](x_np.astype(np.float64), y_np.astype(np.float64)), tol=TOL[dtype] * 4)
    # broadcasting against a row and a Python scalar
    assert_close(getattr(mx, name)(x, 2.0), BINARY[name](x_np.astype(np.float64), 2.0), tol=TOL[dtype] * 4)


def test_logical_bitwise_where_clip(rng):
    a = rng.random((3, 4)) < 0.5
    b = rng.random((3, 4)) < 0.5
    assert_close(mx.logical_and(a, b), a & b)
    assert_close(mx.logical_or(mx.array(a), b), a | b)
    i = rng.integers(0, 50, (3, 4)).astype(np.int32)
    j = rng.integers(0, 50, (3, 4)).astype(np.int32)
    for name, ref in [("bitwise_and", np.bitwise_and), ("bitwise_or", np.bitwise_or), ("bitwise_xor", np.bitwise_xor)]:
        assert_close(getattr(mx, name)(i, j), ref(i, j))
    assert_close(mx.left_shift(i, 2), i << 2)
    assert_close(mx.right_shift(i, 1), i >> 1)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    assert_close(mx.where(a, x, 0.0), np.where(a, x, 0.0))
    assert mx.where(mx.array([True]), mx.array([1], dtype=mx.int8), 2).dtype == mx.int8
    assert_close(mx.clip(x, -0.5, 0.5), np.clip(x, -0.5, 0.5))
    assert_close(mx.clip(x, None, 0.1), np.minimum(x, 0.1))
    q, r = mx.divmod(mx.array([7, -7]), 3)
    assert q.tolist() == [2, -3] and r.tolist() == [1, 2]


REDUCE = {"sum": np.sum, "prod": np.prod, "max": np.max, "min": np.min, "mean": np.mean, "all": np.all, "any": np.any}


@pytest.mark.parametrize("name", list(REDUCE))
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2), (0, 1, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_reductions_vs_numpy(rng, name, axis, keepdims, layout):
    x_raw = rng.uniform(0.5, 1.5, (3, 4, 5)).astype(np.float32)
    if name in ("all", "any"):
        x_raw = x_raw > 1.2
    x_np, x = make_input(x_raw, layout)
    out = getattr(mx, name)(x, axis=axis, keepdims=keepdims)
    expected = REDUCE[name](x_np, axis=axis, keepdims=keepdims)
    assert_close(out, expected, tol=1e-4)
    method = getattr(x, name)(axis=axis, keepdims=keepdims)
    assert_close(method, expected, tol=1e-4)


@pytest.mark.parametrize("dtype", [mx.int8, mx.int32, mx.uint8, mx.bool_, mx.float16])
def test_sum_dtypes(rng, dtype):
    x_np = random_np(rng, (4, 5), dtype)
    out = mx.sum(mx.array(x_np), axis=1)
    assert_close(out, x_np.astype(np.float64).sum(axis=1), tol=1e-2)


def test_statistics_and_arg_reductions(rng):
    x = rng.standard_normal((4, 6)).astype(np.float32)
    assert_close(mx.var(x, axis=1), x.var(axis=1), tol=1e-5)
    assert_close(mx.var(x, axis=0, ddof=1, keepdims=True), x.var(axis=0, ddof=1, keepdims=True), tol=1e-5)
    assert_close(mx.std(x), x.std(), tol=1e-5)
    assert_close(mx.argmax(x, axis=1), x.argmax(axis=1))
    assert_close(mx.argmin(x), x.argmin())
    assert_close(mx.argmax(x, axis=0, keepdims=True), x.argmax(axis=0)[None])
    lse = np.log(np.exp(x.astype(np.float64)).sum(axis=1))
    assert_close(mx.logsumexp(x, axis=1), lse, tol=1e-5)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    assert_close(mx.softmax(x, axis=-1), e / e.sum(axis=-1, keepdims=True), tol=1e-5)
    assert_close(mx.log_softmax(x, axis=-1), np.log(e / e.sum(axis=-1, keepdims=True)), tol=1e-5)


@pytest.mark.parametrize(
    "name, ref",
    [
        ("cumsum", np.cumsum),
        ("cumprod", np.cumprod),
        ("cummax", np.maximum.accumulate),
        ("cummin", np.minimum.accumulate),
    ],
)
@pytest.mark.parametrize("axis", [0, 1])
def test_scans_vs_numpy(rng, name, ref, axis):
    x_np, x = make_input(rng.uniform(0.5, 1.5, (4, 5)).astype(np.float32), "transposed")
    assert_close(getattr(mx, name)(x, axis=axis), ref(x_np, axis=axis), tol=1e-5)
    rev = getattr(mx, name)(x, axis=axis, reverse=True)
    assert_close(rev, np.flip(ref(np.flip(x_np, axis), axis=axis), axis), tol=1e-5)


def test_scan_flat_exclusive_and_logcumsumexp(rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    assert_close(mx.cumsum(x), np.cumsum(x), tol=1e-5)
    excl = mx.cumsum(x, axis=1, inclusive=False)
    assert_close(excl, np.cumsum(x, axis=1) - x, tol=1e-5)
    assert_close(mx.logcumsumexp(x, axis=1), np.log(np.cumsum(np.exp(x), axis=1)), tol=1e-5)


@pytest.mark.parametrize("axis", [-1, 0, None])
def test_sorting(rng, axis):
    x = rng.standard_normal((5, 6)).astype(np.float32)
    assert_close(mx.sort(x, axis=axis), np.sort(x, axis=axis))
    assert_close(mx.argsort(x, axis=axis), np.argsort(x, axis=axis, kind="stable"))
    if axis is not None:
        p = np.array(mx.partition(x, 2, axis=axis))
        k = np.take(np.sort(x, axis=axis), [2], axis=axis)
        np.testing.assert_array_equal(np.take(p, [2], axis=axis), k)
        ap = np.array(mx.argpartition(x, 2, axis=axis)).astype(np.int64)
        np.testing.assert_array_equal(np.take(np.take_along_axis(x, ap, axis=axis), [2], axis=axis), k)
        top = np.sort(np.array(mx.topk(x, 3, axis=axis)), axis=axis)
        ref = np.take(np.sort(x, axis=axis), range(x.shape[axis] - 3, x.shape[axis]), axis=axis)
        np.testing.assert_allclose(top, ref)


def test_creation():
    assert_close(mx.arange(5), np.arange(5), dtype=mx.int32)
    assert_close(mx.arange(1, 7, 2), np.arange(1, 7, 2), dtype=mx.int32)
    assert_close(mx.arange(0, 1, 0.25), np.arange(0, 1, 0.25), dtype=mx.float32)
    assert_close(mx.arange(3, dtype=mx.float16), np.arange(3), dtype=mx.float16)
    assert_close(mx.linspace(0, 1, 5), np.linspace(0, 1, 5))
    assert_close(mx.zeros((2, 3)), np.zeros((2, 3)), dtype=mx.float32)
    assert_close(mx.zeros(3, dtype=mx.int8), np.zeros(3), dtype=mx.int8)
    assert_close(mx.ones((2,), mx.bool_), np.ones(2, bool))
    assert_close(mx.full((2, 2), 3), np.full((2, 2), 3), dtype=mx.int32)
    assert_close(mx.full((2, 3), mx.array([1.0, 2.0, 3.0])), np.tile([1.0, 2.0, 3.0], (2, 1)))
    a = mx.ones((2, 3), dtype=mx.int16)
    assert mx.zeros_like(a).dtype == mx.int16 and mx.ones_like(a).tolist() == [[1] * 3] * 2
    assert mx.full_like(a, 7).tolist() == [[7] * 3] * 2
    assert_close(mx.eye(3, 4, k=1), np.eye(3, 4, k=1))
    assert_close(mx.identity(3), np.identity(3))
    assert_close(mx.tri(3, 4, k=0), np.tri(3, 4))
    x = np.arange(12.0).reshape(3, 4).astype(np.float32)
    assert_close(mx.tril(x, k=-1), np.tril(x, k=-1))
    assert_close(mx.triu(x, k=1), np.triu(x, k=1))
    gx, gy = mx.meshgrid(mx.arange(3), mx.arange(2))
    nx, ny = np.meshgrid(np.arange(3), np.arange(2))
    assert_close(gx, nx)
    assert_close(gy, ny)


def test_shape_ops(rng):
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    a = mx.array(x)
    assert_close(mx.reshape(a, (4, -1)), x.reshape(4, -1))
    assert_close(mx.flatten(a, 1, 2), x.reshape(2, 12))
    assert_close(mx.unflatten(a, 2, (2, 2)), x.reshape(2, 3, 2, 2))
    assert_close(mx.squeeze(mx.expand_dims(a, (0, 2))), x)
    assert_close(mx.expand_dims(a, -1), x[..., None])
    assert_close(mx.transpose(a, (2, 0, 1)), x.transpose(2, 0, 1))
    assert_close(mx.transpose(a), x.T)
    assert_close(mx.swapaxes(a, 0, 2), x.swapaxes(0, 2))
    assert_close(mx.moveaxis(a, 0, -1), np.moveaxis(x, 0, -1))
    assert_close(mx.broadcast_to(mx.array([1.0, 2.0]), (3, 2)), np.broadcast_to([1.0, 2.0], (3, 2)))
    b1, b2 = mx.broadcast_arrays(mx.ones((3, 1)), mx.ones((4,)))
    assert b1.shape == b2.shape == (3, 4)
    assert_close(mx.concatenate([a, a], axis=1), np.concatenate([x, x], axis=1))
    assert_close(mx.concatenate([a, a], axis=None), np.concatenate([x.ravel(), x.ravel()]))
    assert_close(mx.stack([a, a], axis=1), np.stack([x, x], axis=1))
    parts = mx.split(a, 2, axis=2)
    for p, r in zip(parts, np.split(x, 2, axis=2)):
        assert_close(p, r)
    parts = mx.split(a, [1, 3], axis=2)
    for p, r in zip(parts, np.split(x, [1, 3], axis=2)):
        assert_close(p, r)
    assert_close(mx.pad(a, 1), np.pad(x, 1))
    assert_close(
        mx.pad(a, ((0, 0), (1, 2), (0, 1)), constant_values=2.0),
        np.pad(x, ((0, 0), (1, 2), (0, 1)), constant_values=2.0),
    )
    assert_close(mx.pad(a, ((1, 1), (0, 0), (2, 0)), mode="edge"), np.pad(x, ((1, 1), (0, 0), (2, 0)), mode="edge"))
    assert_close(mx.repeat(a, 2, axis=1), np.repeat(x, 2, axis=1))
    assert_close(mx.repeat(a, 2), np.repeat(x, 2))
    assert_close(mx.tile(a, (1, 2, 1)), np.tile(x, (1, 2, 1)))
    assert_close(mx.roll(a, 2), np.roll(x, 2))
    assert_close(mx.roll(a, 1, axis=2), np.roll(x, 1, axis=2))
    assert_close(mx.roll(a, (1, -1), axis=(0, 2)), np.roll(x, (1, -1), axis=(0, 2)))
    assert mx.atleast_1d(mx.array(1)).shape == (1,)
    assert mx.atleast_2d(mx.array([1])).shape == (1, 1)
    assert mx.atleast_3d(mx.array([1])).shape == (1, 1, 1)
    s = mx.as_strided(mx.arange(6), (2, 3), (1, 1))
    assert s.tolist() == [[0, 1, 2], [1, 2, 3]]


def test_take_and_put(rng):
    x = rng.standard_normal((4, 5)).astype(np.float32)
    idx = np.array([3, 0, 0, 2])
    assert_close(mx.take(x, mx.array(idx), axis=0), np.take(x, idx, axis=0))
    assert_close(mx.take(x, idx), np.take(x, idx))
    assert_close(mx.take(x, 1, axis=1), np.take(x, 1, axis=1))
    ia = rng.integers(0, 5, (4, 2))
    assert_close(mx.take_along_axis(x, mx.array(ia), axis=1), np.take_along_axis(x, ia, axis=1))
    iu = np.array([[0], [2], [4], [1]])
    y = x.copy()
    np.put_along_axis(y, iu, 9.0, axis=1)
    assert_close(mx.put_along_axis(x, mx.array(iu), 9.0, axis=1), y)
    su = mx.slice_update(mx.zeros((4, 4)), mx.ones((2, 2)), mx.array([1, 2]), axes=[0, 1])
    ref = np.zeros((4, 4))
    ref[1:3, 2:4] = 1
    assert_close(su, ref)
    assert_close(mx.slice(mx.array(x), mx.array([1]), axes=[1], slice_size=[2]), x[:, 1:3])


def test_linalg_basics(rng):
    a = rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal((4, 2)).astype(np.float32)
    c = rng.standard_normal((3, 2)).astype(np.float32)
    assert_close(mx.matmul(a, b), a @ b, tol=1e-4)
    assert_close(mx.addmm(c, a, b, alpha=2.0, beta=0.5), 2 * (a @ b) + 0.5 * c, tol=1e-4)
    v = rng.standard_normal(4).astype(np.float32)
    assert_close(mx.inner(v, v), np.inner(v, v), tol=1e-4)
    assert_close(mx.outer(v, v[:3]), np.outer(v, v[:3]), tol=1e-5)
    assert_close(mx.tensordot(a, b, axes=1), np.tensordot(a, b, axes=1), tol=1e-4)
    assert_close(mx.tensordot(a, b, axes=[[1], [0]]), np.tensordot(a, b, axes=[[1], [0]]), tol=1e-4)
    sq = rng.standard_normal((4, 4)).astype(np.float32)
    assert_close(mx.trace(sq, offset=1), np.trace(sq, offset=1), tol=1e-5)
    assert_close(mx.diag(sq, k=-1), np.diag(sq, k=-1))
    assert_close(mx.diag(v), np.diag(v))
    assert_close(mx.diagonal(sq, offset=1), np.diagonal(sq, offset=1))
    assert_close(mx.kron(a[:2, :2], b[:2]), np.kron(a[:2, :2], b[:2]), tol=1e-5)
    assert_close(mx.einsum("ij,jk->ik", a, b), a @ b, tol=1e-4)
    assert_close(mx.einsum("ii", sq), np.trace(sq), tol=1e-5)
    path, report = mx.einsum_path("ij,jk,kl->il", a, b, b.T)
    assert isinstance(path, list) and isinstance(report, str)
    assert mx.allclose(a, a + 1e-7).item() is True
    assert mx.array_equal(a, a).item() is True
    assert_close(mx.isclose(a, a + 1), np.zeros(a.shape, bool))


def test_astype_view_copy_contiguous(rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    a = mx.array(x)
    assert_close(mx.astype(a, mx.float16), x.astype(np.float16), tol=1e-3)
    assert_close(mx.view(a, mx.int32), x.view(np.int32))
    assert_close(mx.copy(a.T), x.T)
    assert_close(mx.contiguous(a.T), x.T)
    assert_close(mx.stop_gradient(a), x)


@pytest.mark.parametrize("dtype", list(NP_DTYPES))
def test_astype_every_dtype(rng, dtype):
    x = rng.uniform(0, 100, (5,)).astype(np.float32)
    out = mx.array(x).astype(dtype)
    assert out.dtype == dtype
    np.testing.assert_allclose(
        np.real(np.array(out)).astype(np.float64), np.real(x.astype(NP_DTYPES[dtype])).astype(np.float64), rtol=1e-2
    )


def test_op_errors():
    with pytest.raises(ValueError, match="reshape"):
        mx.reshape(mx.zeros((2, 3)), (4, 2))
    with pytest.raises(IndexError, match=r"\[sum\] axis 3"):
        mx.sum(mx.zeros((2, 3)), axis=3)
    with pytest.raises(ValueError):
        mx.matmul(mx.zeros((2, 3)), mx.zeros((2, 3)))
    with pytest.raises(ValueError):
        mx.concatenate([mx.zeros((2, 3)), mx.zeros((3, 3))], axis=1)
    with pytest.raises(TypeError):
        mx.exp("x")


SHAPES = [(), (0,), (1,), (7,), (3, 0, 2), (2, 3, 4), (33, 65)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", ["exp", "sin", "sqrt", "abs", "negative", "tanh", "floor", "sigmoid"])
def test_unary_shapes(rng, shape, name):
    ref, (lo, hi) = UNARY[name]
    x = rng.uniform(max(lo, 0.1) if name == "sqrt" else lo, hi, shape).astype(np.float32)
    out = getattr(mx, name)(mx.array(x))
    assert out.shape == shape
    assert_close(out, ref(x.astype(np.float64)), tol=1e-5)


@pytest.mark.parametrize(
    "sa, sb", [((), ()), ((), (3,)), ((0,), (1,)), ((4, 1), (1, 5)), ((2, 1, 3), (4, 1)), ((33, 65), (65,))], ids=str
)
@pytest.mark.parametrize("name", ["add", "multiply", "maximum", "greater", "divide"])
def test_binary_broadcast_shapes(rng, sa, sb, name):
    a = rng.uniform(0.5, 2, sa).astype(np.float32)
    b = rng.uniform(0.5, 2, sb).astype(np.float32)
    out = getattr(mx, name)(mx.array(a), mx.array(b))
    assert_close(out, BINARY[name](a.astype(np.float64), b.astype(np.float64)), tol=1e-5)


@pytest.mark.filterwarnings("ignore:Mean of empty slice")
@pytest.mark.filterwarnings("ignore:invalid value encountered")
@pytest.mark.parametrize("shape, axis", [((), None), ((0,), None), ((3, 0), 1), ((3, 0), 0), ((1,), 0), ((5, 7), 1)])
@pytest.mark.parametrize("name", ["sum", "prod", "mean", "any", "all"])
def test_reductions_edge_shapes(rng, shape, axis, name):
    x = rng.uniform(0.5, 1.5, shape).astype(np.float32)
    if name in ("any", "all"):
        x = x > 1.0
    expected = REDUCE[name](x, axis=axis)  # mean of nothing is nan in both
    assert_close(getattr(mx, name)(mx.array(x), axis=axis), expected, tol=1e-5)


@pytest.mark.parametrize("dtype", [mx.int8, mx.int16, mx.uint32, mx.int64, mx.float16, mx.bfloat16, mx.complex64])
def test_elementwise_on_more_dtypes(rng, dtype):
    x = rng.uniform(1, 5, (4, 5)).astype(np.float32)
    a = mx.array(x).astype(dtype)
    if dtype == mx.complex64:
        ref = x.astype(np.complex128)
    else:
        ref = np.array(a.astype(mx.float32)).astype(np.float64)  # the values after the cast
    tol = {mx.float16: 2e-3, mx.bfloat16: 2e-2}.get(dtype, 1e-5)
    assert_close(a + a, ref + ref, tol=tol)
    assert_close(a * a, ref * ref, tol=tol)
    assert_close(mx.sum(a, axis=1), ref.sum(axis=1), tol=tol * 5)
    if dtype != mx.complex64:
        assert_close(mx.maximum(a, a[:, :1]), np.maximum(ref, ref[:, :1]), tol=tol)
    if dtype in (mx.float16, mx.bfloat16, mx.complex64):
        assert_close(a.T @ a, ref.T @ ref, tol=tol * 10)


def test_numpy_scalars_and_0d_arrays_keep_their_shape():
    assert mx.array(np.float32(2.5)).shape == ()
    assert mx.array(np.array(3)).shape == ()
    assert mx.array(np.array(3)).dtype == mx.int64
    assert mx.array(np.float32(2.5)).dtype == mx.float32
