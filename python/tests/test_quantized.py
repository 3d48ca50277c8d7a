"""ember.core.quantize / dequantize / quantized_matmul against NumPy: the bitstream unpacked
bit by bit, the group min/max scales, and float64 matmuls on the dequantized weights."""

import ember.core as mx
import numpy as np
import pytest


def unpack(wq, bits):
    """Codes of each row of wq (uint32, (..., W)): bit t of code j is bit j * bits + t of the row."""
    wq = np.asarray(wq).astype(np.uint64)
    k = wq.shape[-1] * 32 // bits
    bitpos = np.arange(k)[:, None] * bits + np.arange(bits)[None, :]  # (K, bits)
    words = wq[..., bitpos // 32]  # (..., K, bits)
    bitvals = (words >> (bitpos % 32).astype(np.uint64)) & np.uint64(1)
    return (bitvals << np.arange(bits, dtype=np.uint64)).sum(-1)


def reference_dequantize(wq, scales, biases, group_size, bits):
    q = unpack(wq, bits).astype(np.float64)
    s = np.repeat(np.asarray(scales, dtype=np.float64), group_size, axis=-1)
    b = np.repeat(np.asarray(biases, dtype=np.float64), group_size, axis=-1)
    return s * q + b


@pytest.mark.parametrize("bits", [2, 3, 4, 5, 6, 8])
@pytest.mark.parametrize("group_size", [16, 32, 64, 128])
def test_quantize_matches_numpy(bits, group_size):
    w = np.random.default_rng(bits * 100 + group_size).normal(size=(2, 5, 2 * group_size)).astype(np.float32)
    wq, scales, biases = mx.quantize(mx.array(w), group_size, bits)
    assert wq.dtype == mx.uint32 and wq.shape == (2, 5, 2 * group_size * bits // 32)
    g = w.reshape(2, 5, -1, group_size)
    lo, hi = g.min(-1), g.max(-1)
    want_s = (hi - lo) / np.float32(2**bits - 1)
    np.testing.assert_array_equal(np.array(scales), want_s)
    np.testing.assert_array_equal(np.array(biases), lo)
    q = np.clip(np.rint((g - lo[..., None]) / want_s[..., None]), 0, 2**bits - 1).reshape(w.shape)
    np.testing.assert_array_equal(unpack(np.array(wq), bits), q)
    d = np.array(mx.dequantize(wq, scales, biases, group_size, bits))
    np.testing.assert_allclose(d, reference_dequantize(wq, scales, biases, group_size, bits), rtol=1e-6, atol=1e-6)
    step = np.repeat(want_s, group_size, axis=-1)
    assert np.all(np.abs(d - w) <= step / 2 + 1e-6)


@pytest.mark.parametrize("bits", [3, 4, 8])
@pytest.mark.parametrize("transpose", [True, False])
@pytest.mark.parametrize("m", [1, 3, 17])
def test_quantized_matmul_matches_numpy(bits, transpose, m):
    rng = np.random.default_rng(m + bits)
    shape = (13, 128) if transpose else (128, 64)
    w = rng.normal(size=shape).astype(np.float32)
    wq, scales, biases = mx.quantize(mx.array(w), 32, bits)
    x = rng.normal(size=(2, m, 128)).astype(np.float32)
    y = mx.quantized_matmul(mx.array(x), wq, scales, biases, transpose=transpose, group_size=32, bits=bits)
    wd = reference_dequantize(wq, scales, biases, 32, bits)
    want = x.astype(np.float64) @ (wd.T if transpose else wd)
    np.testing.assert_allclose(np.array(y), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("bits", [4, 8, 3])
@pytest.mark.parametrize("transpose", [True, False])
def test_no_biases_centers_the_codes(bits, transpose):
    """biases=None: w = scales * (q - 2 ** (bits - 1)), as GGUF's symmetric formats store it."""
    rng = np.random.default_rng(bits + 10 * transpose)
    shape = (13, 128) if transpose else (128, 64)
    wq, scales, _ = mx.quantize(mx.array(rng.normal(size=shape).astype(np.float32)), 32, bits)
    q = unpack(np.array(wq), bits).astype(np.float64)
    wd = np.repeat(np.array(scales, dtype=np.float64), 32, axis=-1) * (q - 2 ** (bits - 1))
    np.testing.assert_allclose(np.array(mx.dequantize(wq, scales, group_size=32, bits=bits)), wd, rtol=1e-6, atol=1e-6)
    x = rng.normal(size=(3, 128)).astype(np.float32)
    y = mx.quantized_matmul(mx.array(x), wq, scales, transpose=transpose, group_size=32, bits=bits)
    np.testing.assert_allclose(np.array(y), x.astype(np.float64) @ (wd.T if transpose else wd), rtol=1e-4, atol=1e-4)


def test_half_scales_promote_and_gradient_of_x():
    w = mx.array(np.random.default_rng(1).normal(size=(8, 64)).astype(np.float32)).astype(mx.bfloat16)
    wq, scales, biases = mx.quantize(w)
    assert scales.dtype == mx.bfloat16
    x = mx.array(np.random.default_rng(2).normal(size=(3, 64)).astype(np.float32))
    assert mx.quantized_matmul(x, wq, scales, biases).dtype == mx.float32
    wd = reference_dequantize(wq, scales.astype(mx.float32), biases.astype(mx.float32), 64, 4)
    g = mx.grad(lambda a: mx.quantized_matmul(a, wq, scales, biases).sum())(x)
    np.testing.assert_allclose(np.array(g), np.ones((3, 8)) @ wd, rtol=1e-5, atol=1e-5)


def test_quantized_matmul_batched_w_as_mlx_lm_attention():
    """mlx-lm's quantized KV-cache attention: queries (B, H, r, L, D) against cached keys
    (B, H, 1, S, D) quantized along D, scores = quantized_matmul(q, *keys, transpose=True), then
    the probabilities against the values with transpose=False; batch axes broadcast."""
    rng = np.random.default_rng(7)
    B, H, r, L, S, D = 1, 2, 3, 2, 9, 64
    q = rng.normal(size=(B, H, r, L, D)).astype(np.float32)
    k = rng.normal(size=(B, H, 1, S, D)).astype(np.float32)
    v = rng.normal(size=(B, H, 1, S, D)).astype(np.float32)
    kq = mx.quantize(mx.array(k), 64, 8)
    vq = mx.quantize(mx.array(v), 64, 8)
    scores = mx.quantized_matmul(mx.array(q), *kq, transpose=True, group_size=64, bits=8)
    assert scores.shape == (B, H, r, L, S)
    kd = reference_dequantize(*kq, 64, 8)
    np.testing.assert_allclose(np.array(scores), q.astype(np.float64) @ np.swapaxes(kd, -1, -2), rtol=1e-4, atol=1e-4)
    p = mx.softmax(scores, axis=-1)
    out = mx.quantized_matmul(p, *vq, transpose=False, group_size=64, bits=8)
    assert out.shape == (B, H, r, L, D)
    vd = reference_dequantize(*vq, 64, 8)
    np.testing.assert_allclose(np.array(out), np.array(p).astype(np.float64) @ vd, rtol=1e-4, atol=1e-4)


def test_bad_arguments_raise_value_error():
    w = mx.zeros((4, 128))
    with pytest.raises(ValueError, match=r"\[quantize\] group_size must be 16, 32, 64 or 128, got 48"):
        mx.quantize(w, 48)
    wq, s, b = mx.quantize(w)
    with pytest.raises(ValueError, match=r"\[quantized_matmul\] the last axis of x \(64\)"):
        mx.quantized_matmul(mx.zeros((1, 64)), wq, s, b)


@pytest.mark.parametrize("transpose", [True, False])
def test_gather_qmm_matches_numpy_per_gathered_product(transpose):
    rng = np.random.default_rng(7)
    shape = (4, 6, 64) if transpose else (4, 64, 32)  # four experts
    w = rng.normal(size=shape).astype(np.float32)
    wq, scales, biases = mx.quantize(mx.array(w), 32, 4)
    wd = reference_dequantize(wq, scales, biases, 32, 4)
    x = rng.normal(size=(3, 2, 64)).astype(np.float32)
    lhs = np.array([[2], [0], [1]], dtype=np.int32)  # (3, 1) against (1, 2): a (3, 2) grid
    rhs = np.array([[3, 1]], dtype=np.uint32)
    y = mx.gather_qmm(mx.array(x), wq, scales, biases, mx.array(lhs), mx.array(rhs), transpose=transpose, group_size=32)
    n = w.shape[1] if transpose else w.shape[2]
    assert y.shape == (3, 2, 2, n)
    for i in range(3):
        for j in range(2):
            m = wd[rhs[0, j]]
            want = x[lhs[i, 0]].astype(np.float64) @ (m.T if transpose else m)
            np.testing.assert_allclose(np.array(y[i, j]), want, rtol=1e-4, atol=1e-4)
    # Default indices: every matrix in order, batches broadcast.
    x4 = rng.normal(size=(4, 1, 64)).astype(np.float32)
    y4 = mx.gather_qmm(mx.array(x4), wq, scales, biases, transpose=transpose, group_size=32)
    want4 = np.stack([x4[e].astype(np.float64) @ (wd[e].T if transpose else wd[e]) for e in range(4)])
    np.testing.assert_allclose(np.array(y4), want4, rtol=1e-4, atol=1e-4)


def test_gather_qmm_gradient_of_x_and_bad_indices():
    rng = np.random.default_rng(8)
    wq, scales, biases = mx.quantize(mx.array(rng.normal(size=(2, 5, 64)).astype(np.float32)), 64, 4)
    wd = reference_dequantize(wq, scales, biases, 64, 4)
    x = mx.array(rng.normal(size=(1, 64)).astype(np.float32))
    rhs = mx.array(np.array([1, 1, 0], dtype=np.int32))
    g = mx.grad(lambda a: mx.gather_qmm(a, wq, scales, biases, rhs_indices=rhs).sum())(x)
    np.testing.assert_allclose(np.array(g), np.ones((1, 5)) @ (2 * wd[1] + wd[0]), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match=r"\[gather_qmm\] rhs_indices must be an integer array, got float32"):
        mx.gather_qmm(x, wq, scales, biases, rhs_indices=mx.array([0.5]))
