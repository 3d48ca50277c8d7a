"""ember.core.fast against NumPy definitions in float64, its gradients against the NumPy
derivative by finite differences, and the nn layers built on it."""

import ember.core as mx
import numpy as np
import pytest

from ember import nn


def rms_ref(x, w, eps):
    return x / np.sqrt(np.mean(x * x, -1, keepdims=True) + eps) * (1 if w is None else w)


def ln_ref(x, w, b, eps):
    y = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + eps)
    return y * (1 if w is None else w) + (0 if b is None else b)


def rope_ref(x, dims, traditional, base, scale, offset, freqs=None):
    y = x.copy()
    L = x.shape[-2]
    half = dims // 2
    inv = 1 / freqs if freqs is not None else base ** (-2 * np.arange(half) / dims)
    th = (offset + np.arange(L))[:, None] * scale * inv[None]
    c, s = np.cos(th), np.sin(th)
    a = np.arange(0, dims, 2) if traditional else np.arange(half)
    b = a + 1 if traditional else a + half
    y[..., a] = x[..., a] * c - x[..., b] * s
    y[..., b] = x[..., a] * s + x[..., b] * c
    return y


def sdpa_ref(q, k, v, scale, mask):
    rep = q.shape[1] // k.shape[1]
    k, v = np.repeat(k, rep, 1), np.repeat(v, rep, 1)
    s = q @ k.swapaxes(-1, -2) * scale
    Lq, Lk = s.shape[-2:]
    if isinstance(mask, str):
        s = np.where(np.arange(Lk)[None] <= np.arange(Lq)[:, None] + Lk - Lq, s, -np.inf)
    elif mask is not None and mask.dtype == np.bool_:
        s = np.where(mask, s, -np.inf)
    elif mask is not None:
        s = s + mask
    p = np.exp(s - s.max(-1, keepdims=True))
    return (p / p.sum(-1, keepdims=True)) @ v


@pytest.mark.parametrize("dtype,tol", [(mx.float32, 2e-5), (mx.float16, 5e-3), (mx.float64, 1e-12)])
def test_norms_match_numpy(dtype, tol):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4, 40)) * 3
    w, b = rng.normal(size=40), rng.normal(size=40)
    npt = {mx.float32: np.float32, mx.float16: np.float16, mx.float64: np.float64}[dtype]
    xr, wr, br = (a.astype(npt).astype(np.float64) for a in (x, w, b))
    X, W, B = (mx.array(a.astype(npt), dtype=dtype) for a in (x, w, b))
    got = mx.fast.rms_norm(X, W, 1e-5)
    assert got.dtype == dtype
    np.testing.assert_allclose(np.array(got).astype(np.float64), rms_ref(xr, wr, 1e-5), rtol=tol * 4, atol=tol * 4)
    np.testing.assert_allclose(
        np.array(mx.fast.rms_norm(X, None, 1e-5)).astype(np.float64),
        rms_ref(xr, None, 1e-5),
        rtol=tol * 4,
        atol=tol * 4,
    )
    np.testing.assert_allclose(
        np.array(mx.fast.layer_norm(X, W, B, 1e-5)).astype(np.float64),
        ln_ref(xr, wr, br, 1e-5),
        rtol=tol * 8,
        atol=tol * 8,
    )
    np.testing.assert_allclose(
        np.array(mx.fast.layer_norm(X, None, None, 1e-5)).astype(np.float64),
        ln_ref(xr, None, None, 1e-5),
        rtol=tol * 8,
        atol=tol * 8,
    )


@pytest.mark.parametrize("traditional", [False, True])
@pytest.mark.parametrize("dims", [32, 16])
def test_rope_matches_numpy(traditional, dims):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 7, 32)).astype(np.float32)
    got = mx.fast.rope(mx.array(x), dims, traditional=traditional, base=10000.0, scale=0.5, offset=11)
    want = rope_ref(x.astype(np.float64), dims, traditional, 10000.0, 0.5, 11)
    np.testing.assert_allclose(np.array(got), want, rtol=1e-4, atol=1e-4)
    freqs = (10000.0 ** (2 * np.arange(dims // 2) / dims) * 1.5).astype(np.float32)
    got = mx.fast.rope(
        mx.array(x), dims, traditional=traditional, base=None, scale=1.0, offset=2, freqs=mx.array(freqs)
    )
    want = rope_ref(x.astype(np.float64), dims, traditional, None, 1.0, 2, freqs.astype(np.float64))
    np.testing.assert_allclose(np.array(got), want, rtol=1e-4, atol=1e-4)
    # nn.RoPE runs the same op.
    layer = nn.RoPE(dims, traditional=traditional, base=10000.0, scale=0.5)
    np.testing.assert_allclose(
        np.array(layer(mx.array(x), offset=11)),
        rope_ref(x.astype(np.float64), dims, traditional, 10000.0, 0.5, 11),
        rtol=1e-4,
        atol=1e-4,
    )


def test_rope_array_offsets():
    # An array offset: a scalar (as the int), or one start per sequence of the batch.
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 2, 5, 16)).astype(np.float32)
    starts = [0, 9, 200]
    got = np.array(mx.fast.rope(mx.array(x), 16, traditional=False, base=10000.0, scale=1.0, offset=mx.array(starts)))
    for b, s in enumerate(starts):
        want = rope_ref(x[b : b + 1].astype(np.float64), 16, False, 10000.0, 1.0, s)
        np.testing.assert_allclose(got[b : b + 1], want, rtol=1e-4, atol=1e-4)
    one = mx.fast.rope(mx.array(x), 16, traditional=True, base=10000.0, scale=1.0, offset=mx.array(4))
    np.testing.assert_array_equal(
        np.array(one), np.array(mx.fast.rope(mx.array(x), 16, traditional=True, base=10000.0, scale=1.0, offset=4))
    )
    with pytest.raises(ValueError, match="one offset per index"):
        mx.fast.rope(mx.array(x), 16, traditional=False, base=10000.0, scale=1.0, offset=mx.array([1, 2]))
    with pytest.raises(ValueError, match="integer"):
        mx.fast.rope(mx.array(x), 16, traditional=False, base=10000.0, scale=1.0, offset=mx.array([1.0, 2.0, 3.0]))


@pytest.mark.parametrize("Lq,Lk", [(6, 6), (1, 9), (4, 10)])
@pytest.mark.parametrize("mask_kind", ["none", "causal", "bool", "additive"])
def test_attention_matches_numpy(Lq, Lk, mask_kind):
    rng = np.random.default_rng(2)
    q = rng.normal(size=(2, 4, Lq, 16)).astype(np.float32)
    k = rng.normal(size=(2, 2, Lk, 16)).astype(np.float32)
    v = rng.normal(size=(2, 2, Lk, 8)).astype(np.float32)
    mask = {
        "none": None,
        "causal": "causal",
        "bool": rng.random((Lq, Lk)) < 0.7,
        "additive": rng.normal(size=(1, 4, Lq, Lk)).astype(np.float32),
    }[mask_kind]
    if mask_kind == "bool":
        mask[:, 0] = True  # every query sees a key
    m = mx.array(mask) if isinstance(mask, np.ndarray) else mask
    got = mx.fast.scaled_dot_product_attention(mx.array(q), mx.array(k), mx.array(v), scale=0.25, mask=m)
    want = sdpa_ref(q.astype(np.float64), k.astype(np.float64), v.astype(np.float64), 0.25, mask)
    np.testing.assert_allclose(np.array(got), want, rtol=1e-4, atol=1e-5)


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 3, 8))
    w = rng.normal(size=8)

    def f(x, w):
        return (mx.fast.rms_norm(x, w, 1e-5) * mx.arange(8, dtype=mx.float64)).sum()

    gx, gw = mx.grad(f, argnums=(0, 1))(mx.array(x, dtype=mx.float64), mx.array(w, dtype=mx.float64))

    def fn(x, w):
        return (rms_ref(x, w, 1e-5) * np.arange(8)).sum()

    eps = 1e-6
    num = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[i] = eps
        num[i] = (fn(x + d, w) - fn(x - d, w)) / (2 * eps)
    np.testing.assert_allclose(np.array(gx), num, rtol=1e-5, atol=1e-7)
    numw = np.array([(fn(x, w + eps * np.eye(8)[j]) - fn(x, w - eps * np.eye(8)[j])) / (2 * eps) for j in range(8)])
    np.testing.assert_allclose(np.array(gw), numw, rtol=1e-5, atol=1e-7)

    q = rng.normal(size=(1, 2, 3, 4))
    kv = rng.normal(size=(1, 1, 3, 4))

    def g(q):
        return mx.fast.scaled_dot_product_attention(
            q, mx.array(kv, dtype=mx.float64), mx.array(kv, dtype=mx.float64), scale=0.5, mask="causal"
        ).sum()

    gq = mx.grad(g)(mx.array(q, dtype=mx.float64))
    numq = np.zeros_like(q)
    for i in np.ndindex(q.shape):
        d = np.zeros_like(q)
        d[i] = eps
        numq[i] = (sdpa_ref(q + d, kv, kv, 0.5, "causal").sum() - sdpa_ref(q - d, kv, kv, 0.5, "causal").sum()) / (
            2 * eps
        )
    np.testing.assert_allclose(np.array(gq), numq, rtol=1e-5, atol=1e-7)


def test_nn_norm_layers_use_fast_ops():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(5, 12)).astype(np.float32)
    rms = nn.RMSNorm(12, eps=1e-6)
    rms.weight = mx.array(rng.normal(size=12).astype(np.float32))
    np.testing.assert_allclose(np.array(rms(mx.array(x))), rms_ref(x, np.array(rms.weight), 1e-6), rtol=1e-5, atol=1e-5)
    ln = nn.LayerNorm(12)
    np.testing.assert_allclose(np.array(ln(mx.array(x))), ln_ref(x, None, None, 1e-5), rtol=1e-4, atol=1e-4)


def test_bad_arguments_raise_value_error():
    x = mx.zeros((2, 8))
    with pytest.raises(ValueError, match=r"\[rms_norm\] weight must be 1-D of size 8"):
        mx.fast.rms_norm(x, mx.zeros((3,)), 1e-5)
    with pytest.raises(ValueError, match=r"\[rope\] dims must be even"):
        mx.fast.rope(mx.zeros((1, 2, 8)), 5, traditional=False, base=10000.0, scale=1.0, offset=0)
    with pytest.raises(ValueError, match="query heads"):
        mx.fast.scaled_dot_product_attention(
            mx.zeros((1, 3, 2, 4)), mx.zeros((1, 2, 2, 4)), mx.zeros((1, 2, 2, 4)), scale=1.0
        )
    with pytest.raises(ValueError, match="mask_mode"):
        mx.fast.scaled_dot_product_attention(
            mx.zeros((1, 2, 2, 4)), mx.zeros((1, 2, 2, 4)), mx.zeros((1, 2, 2, 4)), scale=1.0, mask="sliding"
        )
