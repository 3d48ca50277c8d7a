"""ember.core.array: construction, properties, conversion to Python and NumPy."""

import copy

import ember.core as mx
import numpy as np
import pytest
from helpers import NP_DTYPES, assert_close, random_np


@pytest.mark.parametrize(
    "value, dtype",
    [(True, mx.bool_), (3, mx.int32), (2.5, mx.float32), (1 + 2j, mx.complex64), (2**40, mx.int64)],
)
def test_scalar_inference(value, dtype):
    a = mx.array(value)
    assert a.dtype == dtype
    assert a.shape == () and a.ndim == 0 and a.size == 1
    assert a.item() == value


@pytest.mark.parametrize(
    "value, dtype",
    [
        ([True, False], mx.bool_),
        ([1, 2, 3], mx.int32),
        ([1, 2.5], mx.float32),
        ([[1, 2], [3, 4]], mx.int32),
        ([True, 2], mx.int32),
        ([1, 2j], mx.complex64),
        ((1.0, (2.0)), mx.float32),
    ],
)
def test_list_inference(value, dtype):
    a = mx.array(value)
    assert a.dtype == dtype
    np.testing.assert_array_equal(np.array(a), np.array(value))


def test_list_of_arrays_and_dtype_kwarg():
    a = mx.array([mx.array([1, 2]), mx.array([3, 4])])
    assert a.shape == (2, 2) and a.dtype == mx.int32
    b = mx.array([1, 2, 3], dtype=mx.float16)
    assert b.dtype == mx.float16
    assert b.tolist() == [1.0, 2.0, 3.0]
    c = mx.array(a, dtype=mx.float32)
    assert c.dtype == mx.float32
    assert mx.array([]).shape == (0,) and mx.array([]).dtype == mx.float32
    assert mx.array([[]]).shape == (1, 0)


def test_ragged_list_raises():
    with pytest.raises(ValueError, match="non-uniform"):
        mx.array([[1, 2], [3]])
    with pytest.raises(ValueError, match="non-uniform"):
        mx.array([1, [2]])


def test_unconvertible_raises_type_error():
    with pytest.raises(TypeError):
        mx.array(object())


@pytest.mark.parametrize("dtype", list(NP_DTYPES))
def test_numpy_roundtrip(rng, dtype):
    x = random_np(rng, (3, 4), dtype)
    a = mx.array(x)
    # float64 NumPy input becomes float32, as in MLX, unless asked for.
    expected = mx.float32 if dtype == mx.float64 else dtype
    assert a.dtype == expected
    if dtype == mx.float64:
        a = mx.array(x, dtype=mx.float64)
        assert a.dtype == mx.float64
    y = np.array(a)
    assert y.dtype == NP_DTYPES[a.dtype]
    np.testing.assert_array_equal(y, x.astype(y.dtype))


def test_numpy_non_contiguous_input(rng):
    x = rng.standard_normal((4, 6)).astype(np.float32)
    for view in (x.T, x[::2, 1::3], x[:, ::-1]):
        np.testing.assert_array_equal(np.array(mx.array(view)), view)


def test_numpy_of_view_and_bfloat16(rng):
    x = rng.standard_normal((4, 6)).astype(np.float32)
    a = mx.array(x)
    np.testing.assert_array_equal(np.array(a.T), x.T)
    np.testing.assert_array_equal(np.array(a[1:, ::2]), x[1:, ::2])
    b = a.astype(mx.bfloat16)
    assert b.dtype == mx.bfloat16 and b.itemsize == 2
    np.testing.assert_allclose(np.array(b), x, rtol=1e-2)
    assert np.array(a, dtype=np.float64).dtype == np.float64


def test_properties():
    a = mx.zeros((2, 3, 4), dtype=mx.float16)
    assert a.shape == (2, 3, 4)
    assert a.ndim == 3 and a.size == 24
    assert a.itemsize == 2 and a.nbytes == 48
    assert a.dtype == mx.float16 and a.dtype.size == 2
    assert a.T.shape == (4, 3, 2)
    assert len(a) == 2
    with pytest.raises(TypeError):
        len(mx.array(1))


def test_item_tolist_and_python_conversions():
    a = mx.array([[1.5, 2.0], [3.0, 4.0]])
    assert a.tolist() == [[1.5, 2.0], [3.0, 4.0]]
    assert isinstance(a[0, 0].item(), float)
    assert mx.array([1, 2]).tolist() == [1, 2]
    assert isinstance(mx.array([1, 2]).tolist()[0], int)
    assert mx.array([True]).tolist() == [True]
    assert mx.array(1 + 1j).item() == 1 + 1j
    assert int(mx.array(7)) == 7 and float(mx.array(2.5)) == 2.5
    assert bool(mx.array(1)) is True and bool(mx.array([0])) is False
    with pytest.raises(ValueError, match="ambiguous"):
        bool(mx.array([1, 2]))
    with pytest.raises(ValueError, match="item"):
        a.item()
    assert [5, 6, 7][mx.array(1)] == 6  # __index__


def test_iteration():
    a = mx.array([[1, 2], [3, 4], [5, 6]])
    rows = list(a)
    assert len(rows) == 3
    assert [r.tolist() for r in rows] == [[1, 2], [3, 4], [5, 6]]


def test_repr_mlx_format():
    assert repr(mx.array([[1, 2], [3, 4]])) == "array([[1, 2],\n       [3, 4]], dtype=int32)"
    assert repr(mx.array(True)) == "array(True, dtype=bool)"
    assert repr(mx.array([1.5, 2.0])) == "array([1.5, 2], dtype=float32)"
    assert repr(mx.float32) == "ember.core.float32"


def test_astype_and_methods(rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    a = mx.array(x)
    assert a.astype(mx.int32).dtype == mx.int32
    assert_close(a.sum(axis=1), x.sum(axis=1))
    assert_close(a.mean(), x.mean())
    assert_close(a.max(axis=0, keepdims=True), x.max(axis=0, keepdims=True))
    assert_close(a.min(axis=(0, 1)), x.min())
    assert_close(a.reshape(2, 6), x.reshape(2, 6))
    assert_close(a.reshape((4, 3)), x.reshape(4, 3))
    assert_close(a.transpose(), x.T)
    assert_close(a.transpose(1, 0), x.T)
    assert_close(a.flatten(), x.flatten())
    assert_close(a[None].squeeze(0), x)
    assert_close(a.swapaxes(0, 1), x.T)
    assert_close(a.var(axis=0, ddof=1), x.var(axis=0, ddof=1), tol=1e-4)
    assert_close(a.std(), x.std(), tol=1e-4)
    assert_close(a.argmax(axis=1), x.argmax(axis=1))
    assert_close(a.cumsum(axis=0), x.cumsum(axis=0), tol=1e-5)
    assert_close(a.abs(), np.abs(x))
    assert_close(a.square(), x * x)
    assert_close(a.exp(), np.exp(x), tol=1e-5)
    assert [p.shape for p in a.split(2, axis=1)] == [(3, 2), (3, 2)]
    assert_close(a.round(1), np.round(x, 1))


def test_copy_and_deepcopy():
    a = mx.array([1, 2, 3])
    b = copy.copy(a)
    c = copy.deepcopy(a)
    assert b.tolist() == c.tolist() == [1, 2, 3]


def test_dtypes_and_categories():
    assert mx.float32 == mx.float32 and mx.float32 != mx.int32
    assert mx.float32 != "float32"
    assert {mx.float32: 1}[mx.float32] == 1
    assert mx.issubdtype(mx.float32, mx.floating)
    assert mx.issubdtype(mx.int8, mx.signedinteger)
    assert not mx.issubdtype(mx.uint8, mx.signedinteger)
    assert mx.issubdtype(mx.floating, mx.inexact)
    assert mx.issubdtype(mx.float16, mx.float16)
    assert not mx.issubdtype(mx.float16, mx.float32)
    assert mx.promote_types(mx.int8, mx.uint8) == mx.int16
    assert [mx.int8.size, mx.float64.size, mx.complex64.size] == [1, 8, 8]


def test_numpy_and_tolist_of_views():
    # Row-contiguous views (with an offset) are handed out directly; others are copied first.
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    a = mx.array(x)
    views = [
        (a[1:], x[1:]),
        (a[1], x[1]),
        (a[:, 1:], x[:, 1:]),
        (a[..., 2], x[..., 2]),
        (mx.broadcast_to(a[0, 0], (3, 4)), np.broadcast_to(x[0, 0], (3, 4))),
        (a.T, x.T),
        (a[1, 2:], x[1, 2:]),
        (a[:, ::-1], x[:, ::-1]),
    ]
    for v, r in views:
        np.testing.assert_array_equal(np.array(v), r)
        assert v.tolist() == r.tolist()
    # The NumPy array keeps the buffer alive after the ember array is gone.
    y = np.asarray(mx.arange(6) * 2)
    assert y.tolist() == [0, 2, 4, 6, 8, 10]


@pytest.mark.parametrize("dtype", [mx.float32, mx.bfloat16, mx.int8, mx.bool_, mx.complex64, mx.float64])
def test_pickle_roundtrip(dtype):
    import pickle

    a = (mx.arange(6).reshape(2, 3) % 3).astype(dtype)
    b = pickle.loads(pickle.dumps(a.T))
    assert b.dtype == dtype and b.shape == (3, 2)
    np.testing.assert_array_equal(np.array(b.astype(mx.float32)), np.array(a.T.astype(mx.float32)))
    assert pickle.loads(pickle.dumps(dtype)) == dtype


def test_dlpack():
    a = mx.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(np.from_dlpack(a), [[1, 2], [3, 4]])
    assert a.__dlpack_device__() == (1, 0)


def test_finfo_iinfo():
    f = mx.finfo(mx.float32)
    assert f.max == pytest.approx(np.finfo(np.float32).max) and f.eps == pytest.approx(np.finfo(np.float32).eps)
    assert f.min == -f.max and f.dtype == mx.float32
    assert mx.finfo(mx.float16).max == 65504.0
    assert mx.finfo(mx.bfloat16).eps == 2.0**-7
    assert mx.finfo(mx.float64).eps == np.finfo(np.float64).eps
    for t in [mx.int8, mx.uint8, mx.int32, mx.uint64, mx.int64]:
        i = mx.iinfo(t)
        ref = np.iinfo(NP_DTYPES[t])
        assert (i.min, i.max) == (ref.min, ref.max)
    with pytest.raises(ValueError):
        mx.finfo(mx.int32)
    with pytest.raises(ValueError):
        mx.iinfo(mx.float32)
    assert "float32" in repr(f)


def test_numpy_copy_semantics():
    a = mx.array([1.0, 2.0, 3.0])
    x = np.array(a)  # a writable copy
    assert x.flags.writeable
    x[0] = 5.0
    assert a.tolist() == [1.0, 2.0, 3.0]
    y = np.asarray(a)  # a read-only view of the buffer, no copy
    assert not y.flags.writeable
    assert np.shares_memory(y, np.asarray(a))
    with pytest.raises(ValueError, match="read-only"):
        y[0] = 1.0
    assert np.array(a, dtype=np.float64).dtype == np.float64


def test_buffer_protocol_inputs():
    import array as pyarray

    buf = pyarray.array("f", [1.0, 2.0, 3.0])
    a = mx.array(memoryview(buf))
    assert a.dtype == mx.float32 and a.tolist() == [1.0, 2.0, 3.0]
    assert mx.array(pyarray.array("h", [1, -2])).dtype == mx.int16
    with pytest.raises(TypeError):
        mx.array(b"bytes")


def test_buffer_protocol():
    # memoryview / bytes / np.frombuffer read the evaluated array (any layout) read-only.
    x = np.arange(12, dtype=np.int32).reshape(3, 4)
    a = mx.array(x).T + 0  # lazy, and transposed underneath
    m = memoryview(a)
    assert m.shape == (4, 3) and m.format == "i" and m.readonly
    assert m.tolist() == x.T.tolist()
    assert bytes(mx.array([1, 2, 255], dtype=mx.uint8)) == b"\x01\x02\xff"
    np.testing.assert_array_equal(np.frombuffer(mx.array([1.5, -2.0]), dtype=np.float32), [1.5, -2.0])
    with pytest.raises(TypeError):
        memoryview(a).cast("B")[0] = 1
