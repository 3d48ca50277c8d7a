"""Shared helpers for the ember.core tests: NumPy references and layouts."""

import ember.core as mx
import numpy as np

# Ember dtypes and their NumPy counterparts (bfloat16 has none).
NP_DTYPES = {
    mx.bool_: np.bool_,
    mx.uint8: np.uint8,
    mx.uint16: np.uint16,
    mx.uint32: np.uint32,
    mx.uint64: np.uint64,
    mx.int8: np.int8,
    mx.int16: np.int16,
    mx.int32: np.int32,
    mx.int64: np.int64,
    mx.float16: np.float16,
    mx.float32: np.float32,
    mx.float64: np.float64,
    mx.complex64: np.complex64,
}
FLOAT_DTYPES = [mx.float16, mx.float32, mx.float64]
INT_DTYPES = [mx.int8, mx.int16, mx.int32, mx.int64, mx.uint8, mx.uint16, mx.uint32, mx.uint64]

# Tolerances by dtype for elementwise math against NumPy in float64.
TOL = {mx.float16: 2e-3, mx.bfloat16: 2e-2, mx.float32: 2e-5, mx.float64: 1e-12, mx.complex64: 2e-5}

# Layouts an input can arrive in: contiguous, transposed, strided slice.
LAYOUTS = ["contiguous", "transposed", "sliced"]


def random_np(rng, shape, dtype, low=-3.0, high=3.0):
    """Random NumPy data of `dtype` (an ember Dtype)."""
    npt = NP_DTYPES[dtype]
    if dtype == mx.bool_:
        return rng.random(shape) < 0.5
    if dtype in INT_DTYPES:
        lo = 0 if np.issubdtype(npt, np.unsignedinteger) else int(low) * 3
        return rng.integers(lo, int(high) * 3 + 1, size=shape).astype(npt)
    if dtype == mx.complex64:
        return (rng.uniform(low, high, shape) + 1j * rng.uniform(low, high, shape)).astype(npt)
    return rng.uniform(low, high, shape).astype(npt)


def make_input(x_np, layout, dtype=None):
    """(numpy reference, ember array) with the same values, the ember array in `layout`.
    A 2-d+ input is transposed or sliced (a strided view) on the Ember side."""
    a = mx.array(x_np, dtype=dtype) if dtype is not None else mx.array(x_np)
    if layout == "transposed" and x_np.ndim >= 2:
        return x_np.T, a.T
    if layout == "sliced" and x_np.ndim >= 1:
        return x_np[..., ::2], a[..., ::2]
    return x_np, a


def assert_close(a, expected, tol=1e-5, dtype=None):
    """Compares an ember array to a NumPy reference (values, shape, optionally dtype)."""
    got = np.array(a)
    expected = np.asarray(expected)
    assert got.shape == expected.shape, (got.shape, expected.shape)
    if dtype is not None:
        assert a.dtype == dtype, (a.dtype, dtype)
    if got.dtype == np.bool_ or np.issubdtype(got.dtype, np.integer):
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(
            got.astype(np.complex128 if np.iscomplexobj(got) else np.float64),
            expected,
            rtol=tol,
            atol=tol,
            equal_nan=True,
        )
