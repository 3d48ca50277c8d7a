"""ember.nn.losses against their formulas in NumPy."""

import math

import ember.core as mx
import numpy as np
import pytest

from ember import nn

L = nn.losses


def _lse(x, axis=-1):
    m = x.max(axis=axis, keepdims=True)
    return (m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))).squeeze(axis)


def _reduce(x, reduction):
    return {"none": x, "mean": x.mean(), "sum": x.sum()}[reduction]


def close(a, b, tol=1e-5):
    np.testing.assert_allclose(np.array(a), b, rtol=tol, atol=tol)


REDUCTIONS = ["none", "mean", "sum"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_indices(rng, reduction):
    logits = rng.normal(size=(6, 5)).astype(np.float32)
    t = rng.integers(0, 5, size=6)
    ref = _lse(logits) - logits[np.arange(6), t]
    close(L.cross_entropy(mx.array(logits), mx.array(t), reduction=reduction), _reduce(ref, reduction))


def test_cross_entropy_default_reduction_is_none(rng):
    logits = rng.normal(size=(3, 4)).astype(np.float32)
    assert L.cross_entropy(mx.array(logits), mx.array([0, 1, 2])).shape == (3,)


def test_cross_entropy_probs_and_one_hot(rng):
    logits = rng.normal(size=(4, 3)).astype(np.float32)
    t = np.array([0, 2, 1, 1])
    onehot = np.eye(3, dtype=np.float32)[t]
    a = L.cross_entropy(mx.array(logits), mx.array(onehot))
    b = L.cross_entropy(mx.array(logits), mx.array(t))
    close(a, np.array(b))
    probs = rng.dirichlet(np.ones(3), size=4).astype(np.float32)
    ref = -(probs * (logits - _lse(logits)[:, None])).sum(-1)
    close(L.cross_entropy(mx.array(logits), mx.array(probs)), ref)


def test_cross_entropy_label_smoothing_weights_axis(rng):
    logits = rng.normal(size=(4, 5)).astype(np.float32)
    t = rng.integers(0, 5, size=4)
    ls = 0.2
    logp = logits - _lse(logits)[:, None]
    # MLX's formula: (1-ls) * NLL(true) + ls * mean over classes of -logp
    ref = -(1 - ls) * logp[np.arange(4), t] - ls * logp.mean(-1)
    close(L.cross_entropy(mx.array(logits), mx.array(t), label_smoothing=ls), ref)
    w = rng.random(4).astype(np.float32)
    base = _lse(logits) - logits[np.arange(4), t]
    close(L.cross_entropy(mx.array(logits), mx.array(t), weights=mx.array(w), reduction="sum"), (base * w).sum())
    # class axis first
    close(L.cross_entropy(mx.array(logits.T), mx.array(t), axis=0), base)
    with pytest.raises(ValueError):
        L.cross_entropy(mx.array(logits), mx.array(t), label_smoothing=1.0)
    with pytest.raises(ValueError):
        L.cross_entropy(mx.array(logits), mx.array(t[:3]))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy(rng, reduction):
    x = rng.normal(size=(5, 3)).astype(np.float32)
    t = (rng.random((5, 3)) < 0.5).astype(np.float32)
    p = 1 / (1 + np.exp(-x))
    ref = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    close(L.binary_cross_entropy(mx.array(x), mx.array(t), reduction=reduction), _reduce(ref, reduction), 1e-4)
    close(
        L.binary_cross_entropy(mx.array(p), mx.array(t), with_logits=False, reduction=reduction),
        _reduce(ref, reduction),
        1e-4,
    )
    w = rng.random((5, 3)).astype(np.float32)
    close(L.binary_cross_entropy(mx.array(x), mx.array(t), weights=mx.array(w), reduction="none"), ref * w, 1e-4)
    # probabilities of exactly 0/1 are clipped at log = -100
    out = L.binary_cross_entropy(mx.array([0.0, 1.0]), mx.array([1.0, 0.0]), with_logits=False, reduction="none")
    close(out, [100.0, 100.0])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_losses(rng, reduction):
    p = rng.normal(size=(4, 3)).astype(np.float32)
    t = rng.normal(size=(4, 3)).astype(np.float32)
    P, T = mx.array(p), mx.array(t)
    d = p - t
    close(L.mse_loss(P, T, reduction=reduction), _reduce(d**2, reduction))
    close(L.l1_loss(P, T, reduction=reduction), _reduce(np.abs(d), reduction))
    beta = 0.7
    sl1 = np.where(np.abs(d) < beta, 0.5 * d**2 / beta, np.abs(d) - 0.5 * beta)
    close(L.smooth_l1_loss(P, T, beta=beta, reduction=reduction), _reduce(sl1, reduction))
    delta = 0.5
    hub = np.where(np.abs(d) <= delta, 0.5 * d**2, delta * (np.abs(d) - 0.5 * delta))
    close(L.huber_loss(P, T, delta=delta, reduction=reduction), _reduce(hub, reduction))
    close(L.log_cosh_loss(P, T, reduction=reduction), _reduce(np.log(np.cosh(d)), reduction))


def test_regression_defaults(rng):
    p = mx.array(rng.normal(size=(4,)).astype(np.float32))
    assert L.mse_loss(p, p).shape == () and L.l1_loss(p, p).shape == () and L.smooth_l1_loss(p, p).shape == ()
    assert L.huber_loss(p, p).shape == (4,) and L.log_cosh_loss(p, p).shape == (4,)
    with pytest.raises(ValueError):
        L.mse_loss(p, p[:2])
    with pytest.raises(ValueError):
        L.mse_loss(p, p, reduction="max")


def test_nll_and_kl(rng):
    x = rng.normal(size=(4, 5)).astype(np.float32)
    logp = x - _lse(x)[:, None]
    t = rng.integers(0, 5, size=4)
    close(L.nll_loss(mx.array(logp), mx.array(t)), -logp[np.arange(4), t])
    close(L.nll_loss(mx.array(logp), mx.array(t), reduction="mean"), -logp[np.arange(4), t].mean())
    y = rng.normal(size=(4, 5)).astype(np.float32)
    logq = y - _lse(y)[:, None]
    ref = (np.exp(logq) * (logq - logp)).sum(-1)
    close(L.kl_div_loss(mx.array(logp), mx.array(logq)), ref)
    close(L.kl_div_loss(mx.array(logp), mx.array(logq), reduction="sum"), ref.sum())


def test_gaussian_nll(rng):
    mu = rng.normal(size=(3, 4)).astype(np.float32)
    t = rng.normal(size=(3, 4)).astype(np.float32)
    v = rng.random((3, 4)).astype(np.float32) + 0.1
    ref = 0.5 * (np.log(v) + (t - mu) ** 2 / v)
    close(L.gaussian_nll_loss(mx.array(mu), mx.array(t), mx.array(v)), ref.mean())
    close(
        L.gaussian_nll_loss(mx.array(mu), mx.array(t), mx.array(v), full=True, reduction="none"),
        ref + 0.5 * math.log(2 * math.pi),
    )
    with pytest.raises(ValueError):
        L.gaussian_nll_loss(mx.array(mu), mx.array(t), mx.array(v[:2]))


def test_cosine_hinge_margin_triplet(rng):
    a = rng.normal(size=(4, 6)).astype(np.float32)
    b = rng.normal(size=(4, 6)).astype(np.float32)
    c = rng.normal(size=(4, 6)).astype(np.float32)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    close(L.cosine_similarity_loss(mx.array(a), mx.array(b)), cos)
    close(L.cosine_similarity_loss(mx.array(a), mx.array(b), reduction="mean"), cos.mean())
    x = rng.normal(size=(8,)).astype(np.float32)
    y = np.sign(rng.normal(size=(8,))).astype(np.float32)
    close(L.hinge_loss(mx.array(x), mx.array(y)), np.maximum(1 - x * y, 0))
    x2 = rng.normal(size=(8,)).astype(np.float32)
    close(
        L.margin_ranking_loss(mx.array(x), mx.array(x2), mx.array(y), margin=0.3, reduction="sum"),
        np.maximum(0, -y * (x - x2) + 0.3).sum(),
    )
    with pytest.raises(ValueError):
        L.margin_ranking_loss(mx.array(x), mx.array(x2[:3]), mx.array(y))
    eps = 1e-6
    ref = np.maximum(np.sqrt(((a - b) ** 2).sum(-1) + eps) - np.sqrt(((a - c) ** 2).sum(-1) + eps) + 1.0, 0)
    close(L.triplet_loss(mx.array(a), mx.array(b), mx.array(c)), ref)
    close(
        L.triplet_loss(mx.array(a), mx.array(b), mx.array(c), margin=2.0, reduction="mean"),
        np.maximum(ref - 1.0 + 2.0, 0).mean()
        if np.all(ref > 0)
        else np.maximum(np.sqrt(((a - b) ** 2).sum(-1) + eps) - np.sqrt(((a - c) ** 2).sum(-1) + eps) + 2.0, 0).mean(),
    )


def test_losses_are_differentiable(rng):
    logits = mx.array(rng.normal(size=(3, 4)).astype(np.float32))
    t = mx.array([1, 0, 3])
    g = mx.grad(lambda z: L.cross_entropy(z, t, reduction="sum"))(logits)
    lg = np.array(logits)
    sm = np.exp(lg - _lse(lg)[:, None])
    close(g, sm - np.eye(4)[[1, 0, 3]])
