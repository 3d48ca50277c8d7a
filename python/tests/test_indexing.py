"""__getitem__ / __setitem__ / .at[] against NumPy on generated index expressions:
ints, slices with steps, Ellipsis, None, integer arrays (lists and arrays) and combinations."""

import ember.core as mx
import numpy as np
import pytest

SHAPE = (5, 6, 7)


def random_component(rng, size, unique, n):
    kind = rng.choice(["int", "slice", "slice", "array", "list"])
    if kind == "int":
        return int(rng.integers(-size, size))
    if kind == "slice":
        step = int(rng.choice([1, 1, 2, 3, -1, -2]))
        start = None if rng.random() < 0.3 else int(rng.integers(-size - 2, size + 2))
        stop = None if rng.random() < 0.3 else int(rng.integers(-size - 2, size + 2))
        return slice(start, stop, step)
    if unique:
        vals = rng.permutation(size)[:n]
        vals = np.where(rng.random(n) < 0.3, vals - size, vals)
    else:
        vals = rng.integers(-size, size, n)
    if kind == "list":
        return [int(v) for v in vals]
    return vals.reshape(n, 1) if rng.random() < 0.2 and not unique else vals


def random_index(rng, unique=False):
    """A random index expression for an array of SHAPE, as a tuple (or a single entry)."""
    axes = list(range(len(SHAPE)))
    n_named = int(rng.integers(1, len(SHAPE) + 1))
    use_ellipsis = rng.random() < 0.3
    parts = []
    n = int(rng.integers(1, 4))  # index arrays of one length broadcast together
    for ax in axes[:n_named]:
        parts.append(random_component(rng, SHAPE[ax], unique, n))
    if unique:
        # At most one index array so that set positions are distinct.
        seen = False
        for i, p in enumerate(parts):
            if isinstance(p, (list, np.ndarray)):
                if seen:
                    parts[i] = slice(None)
                seen = True
    if use_ellipsis:
        # An Ellipsis standing for zero axes between two advanced indices separates them in
        # NumPy (their axes go first); ember::index treats them as adjacent. Known gap, see
        # test_zero_length_ellipsis_separates_advanced_indices; generated cases avoid it.
        zero_axes = n_named == len(SHAPE)
        parts.insert(0 if zero_axes else int(rng.integers(0, len(parts) + 1)), Ellipsis)
    for _ in range(int(rng.integers(0, 2))):
        parts.insert(int(rng.integers(0, len(parts) + 1)), None)
    if len(parts) == 1 and rng.random() < 0.5:
        return parts[0]
    return tuple(parts)


def to_ember_index(idx):
    """The same expression with NumPy index arrays turned into ember arrays half the time."""
    if isinstance(idx, tuple):
        return tuple(to_ember_index(i) for i in idx)
    if isinstance(idx, np.ndarray):
        return mx.array(idx)
    return idx


@pytest.mark.parametrize("seed", range(150))
def test_getitem_matches_numpy(seed):
    rng = np.random.default_rng(seed)
    x = np.arange(np.prod(SHAPE), dtype=np.int32).reshape(SHAPE)
    a = mx.array(x)
    idx = random_index(rng)
    eidx = to_ember_index(idx) if seed % 2 else idx
    try:
        expected = x[idx]
    except IndexError:
        with pytest.raises((IndexError, ValueError)):
            a[eidx]
        return
    got = a[eidx]
    assert got.shape == expected.shape, (idx, got.shape, expected.shape)
    np.testing.assert_array_equal(np.array(got), expected, err_msg=str(idx))


@pytest.mark.parametrize("seed", range(150))
def test_setitem_matches_numpy(seed):
    rng = np.random.default_rng(1000 + seed)
    x = np.arange(np.prod(SHAPE), dtype=np.float32).reshape(SHAPE)
    a = mx.array(x)
    alias = a
    idx = random_index(rng, unique=True)
    target_shape = x[idx].shape
    if rng.random() < 0.3:
        value = -1.5
    else:
        value = rng.standard_normal(target_shape).astype(np.float32)
        if len(target_shape) > 0 and rng.random() < 0.3:
            value = value[..., :1]  # broadcast along the last axis
    x[idx] = value
    a[idx] = mx.array(value) if isinstance(value, np.ndarray) and seed % 2 else value
    np.testing.assert_array_equal(np.array(a), x, err_msg=str(idx))
    # __setitem__ replaces the array held by the Python object.
    np.testing.assert_array_equal(np.array(alias), x)


def test_basic_examples():
    x = np.arange(24).reshape(2, 3, 4).astype(np.int32)
    a = mx.array(x)
    for idx in [
        0,
        -1,
        (1, 2),
        (slice(None), 1),
        (..., 1),
        (None, 0),
        (0, ..., None),
        ([0, 1], 0, [1, 3]),
        (slice(None), [2, 0]),
        (slice(None, None, -1),),
        (1, slice(3, 0, -2), [0, 0, 3]),
        (mx.array([1, 0]),),
        np.array([[0], [1]]),
    ]:
        np.testing.assert_array_equal(
            np.array(a[idx]),
            x[
                idx
                if not isinstance(idx, tuple) or not any(isinstance(i, mx.array) for i in idx)
                else tuple(np.array(i) if isinstance(i, mx.array) else i for i in idx)
            ],
        )


def test_index_with_0d_array_and_numpy_int():
    a = mx.array([10, 20, 30])
    assert a[mx.array(2)].item() == 30
    assert a[np.int64(1)].item() == 20


def test_at_updates_accumulate():
    a = mx.zeros((4,), dtype=mx.float32)
    idx = mx.array([0, 1, 1, 3])
    np.testing.assert_array_equal(np.array(a.at[idx].add(1.0)), [1, 2, 0, 1])
    np.testing.assert_array_equal(np.array(a.at[idx].subtract(1.0)), [-1, -2, 0, -1])
    b = mx.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(np.array(b.at[[0, 0, 2]].multiply(2.0)), [4, 2, 6, 4])
    np.testing.assert_array_equal(np.array(b.at[[1, 3]].divide(2.0)), [1, 1, 3, 2])
    np.testing.assert_array_equal(np.array(b.at[[0, 1]].maximum(mx.array([5.0, 0.0]))), [5, 2, 3, 4])
    np.testing.assert_array_equal(np.array(b.at[1:3].minimum(2.5)), [1, 2, 2.5, 4])
    # .at does not modify the original
    np.testing.assert_array_equal(np.array(b), [1, 2, 3, 4])


def test_at_matches_numpy_add_at(rng):
    x = rng.standard_normal((6, 3)).astype(np.float32)
    idx = rng.integers(0, 6, 10)
    v = rng.standard_normal((10, 3)).astype(np.float32)
    expected = x.copy()
    np.add.at(expected, idx, v)
    got = mx.array(x).at[mx.array(idx)].add(mx.array(v))
    np.testing.assert_allclose(np.array(got), expected, rtol=1e-5, atol=1e-5)


def test_index_errors():
    a = mx.zeros((3, 4))
    with pytest.raises(IndexError):
        a[5]
    with pytest.raises(IndexError):
        a[0, 0, 0]
    with pytest.raises(ValueError, match="step"):
        a[::0]
    with pytest.raises(ValueError):
        a[[True, False, True]]
    with pytest.raises((IndexError, ValueError)):
        a[..., ...]


def test_zero_length_ellipsis_separates_advanced_indices():
    x = np.arange(210).reshape(SHAPE)
    idx = (slice(None, 2), [0, 1], Ellipsis, [3, 1])
    np.testing.assert_array_equal(np.array(mx.array(x)[idx]), x[idx])


@pytest.mark.parametrize("layout", ["transposed", "sliced"])
@pytest.mark.parametrize("seed", range(40))
def test_get_and_set_on_non_contiguous_arrays(seed, layout):
    rng = np.random.default_rng(5000 + seed)
    if layout == "transposed":
        base = np.arange(210, dtype=np.float32).reshape(7, 6, 5)
        x, a = base.T, mx.array(base).T
    else:
        base = np.arange(10 * 6 * 14, dtype=np.float32).reshape(10, 6, 14)
        x, a = base[::2, :, 1::2], mx.array(base)[::2, :, 1::2]
    assert x.shape == SHAPE
    idx = random_index(rng, unique=True)
    np.testing.assert_array_equal(np.array(a[idx]), x[idx], err_msg=str(idx))
    x = x.copy()
    x[idx] = -7.0
    a[idx] = -7.0
    np.testing.assert_array_equal(np.array(a), x, err_msg=str(idx))
