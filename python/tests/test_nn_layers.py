"""ember.nn layers and activations against NumPy reference implementations."""

import math

import ember.core as mx
import numpy as np
import pytest
from ember.utils import tree_flatten

from ember import nn


def A(x):
    return np.array(x)


def close(a, b, tol=1e-5):
    np.testing.assert_allclose(np.array(a), b, rtol=tol, atol=tol)


def sig(x):
    return 1 / (1 + np.exp(-x))


def softplus(x):
    return np.logaddexp(x, 0)


def np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


_erf = np.vectorize(math.erf)

ACTIVATIONS = [
    ("relu", nn.ReLU(), lambda x: np.maximum(x, 0)),
    ("relu6", nn.ReLU6(), lambda x: np.clip(x, 0, 6)),
    ("leaky_relu", nn.LeakyReLU(0.1), lambda x: np.where(x > 0, x, 0.1 * x)),
    ("prelu", nn.PReLU(), lambda x: np.where(x > 0, x, 0.25 * x)),
    ("elu", nn.ELU(0.5), lambda x: np.where(x > 0, x, 0.5 * (np.exp(x) - 1))),
    ("celu", nn.CELU(1.5), lambda x: np.maximum(x, 0) + np.minimum(0, 1.5 * (np.exp(x / 1.5) - 1))),
    ("selu", nn.SELU(), lambda x: 1.0507 * np.where(x > 0, x, 1.67326 * (np.exp(x) - 1))),
    ("gelu", nn.GELU(), lambda x: 0.5 * x * (1 + _erf(x / math.sqrt(2)))),
    ("gelu_tanh", nn.GELU("tanh"), lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))),
    (
        "gelu_precise",
        nn.GELU("precise"),
        lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
    ),
    ("gelu_fast", nn.GELU("fast"), lambda x: x * sig(1.702 * x)),
    ("silu", nn.SiLU(), lambda x: x * sig(x)),
    ("mish", nn.Mish(), lambda x: x * np.tanh(softplus(x))),
    ("softplus", nn.Softplus(), softplus),
    ("softsign", nn.Softsign(), lambda x: x / (1 + np.abs(x))),
    ("softmin", nn.Softmin(), lambda x: np_softmax(-x)),
    ("softmax", nn.Softmax(), np_softmax),
    ("log_softmax", nn.LogSoftmax(), lambda x: np.log(np_softmax(x))),
    ("log_sigmoid", nn.LogSigmoid(), lambda x: np.log(sig(x))),
    ("sigmoid", nn.Sigmoid(), sig),
    ("tanh", nn.Tanh(), np.tanh),
    ("hardswish", nn.Hardswish(), lambda x: x * np.clip(x + 3, 0, 6) / 6),
    ("hard_tanh", nn.HardTanh(), lambda x: np.clip(x, -1, 1)),
    ("glu", nn.GLU(), lambda x: x[..., :3] * sig(x[..., 3:])),
    ("step", nn.Step(), lambda x: (x > 0).astype(np.float32)),
]


@pytest.mark.parametrize("name,mod,ref", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation_modules(rng, name, mod, ref):
    x = rng.normal(size=(4, 6)).astype(np.float32) * 3
    close(mod(mx.array(x)), ref(x.astype(np.float64)), 1e-5)


def test_functional_activations(rng):
    x = rng.normal(size=(5, 4)).astype(np.float32) * 3
    X = mx.array(x)
    close(nn.relu(X), np.maximum(x, 0))
    close(nn.gelu(X), 0.5 * x * (1 + _erf(x / math.sqrt(2))))
    close(nn.gelu_approx(X), 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))))
    close(nn.gelu_fast_approx(X), x * sig(1.702 * x))
    close(nn.leaky_relu(X, 0.2), np.where(x > 0, x, 0.2 * x))
    close(nn.elu(X), np.where(x > 0, x, np.exp(x) - 1))
    close(nn.silu(X), x * sig(x))
    close(nn.softmax(X, axis=0), np_softmax(x, 0))
    close(nn.log_softmax(X, axis=0), np.log(np_softmax(x, 0)))
    close(nn.softmin(X), np_softmax(-x))
    close(nn.glu(X, axis=0), x[:2] * sig(x[2:]) if x.shape[0] % 2 == 0 else np.zeros(0)) if x.shape[
        0
    ] % 2 == 0 else None
    close(nn.glu(X, axis=-1), x[:, :2] * sig(x[:, 2:]))
    close(nn.step(X, 1.0), (x > 1.0).astype(np.float32))
    close(nn.prelu(X, mx.array([0.1, 0.2, 0.3, 0.4])), np.where(x > 0, x, x * np.array([0.1, 0.2, 0.3, 0.4])))
    close(nn.hard_tanh(X, -0.5, 2.0), np.clip(x, -0.5, 2.0))
    close(nn.relu6(X), np.clip(x, 0, 6))
    close(nn.softsign(X), x / (1 + np.abs(x)))
    close(nn.log_sigmoid(X), np.log(sig(x)))
    close(nn.selu(X), 1.0507 * np.where(x > 0, x, 1.67326 * (np.exp(x) - 1)))
    close(nn.celu(X), np.maximum(x, 0) + np.minimum(0, np.exp(x) - 1))
    close(nn.mish(X), x * np.tanh(softplus(x)))
    close(nn.hardswish(X), x * np.clip(x + 3, 0, 6) / 6)
    with pytest.raises(ValueError):
        nn.GELU("bogus")


def test_prelu_parameter():
    m = nn.PReLU(3, init=0.1)
    assert m.weight.shape == (3,) and "weight" in m.parameters()


def test_linear(rng):
    mx.random.seed(0)
    m = nn.Linear(6, 3)
    assert m.weight.shape == (3, 6) and m.bias.shape == (3,)
    k = 1 / math.sqrt(6)
    w = A(m.weight)
    assert np.all(np.abs(w) <= k) and np.all(np.abs(A(m.bias)) <= k)
    x = rng.normal(size=(2, 5, 6)).astype(np.float32)
    close(m(mx.array(x)), x @ w.T + A(m.bias))
    m2 = nn.Linear(6, 3, bias=False)
    assert "bias" not in m2.parameters()
    close(m2(mx.array(x)), x @ A(m2.weight).T)


def test_bilinear(rng):
    m = nn.Bilinear(3, 4, 5)
    x1 = rng.normal(size=(2, 3)).astype(np.float32)
    x2 = rng.normal(size=(2, 4)).astype(np.float32)
    w = A(m.weight)  # (out, in2, in1) as in MLX
    assert w.shape == (5, 4, 3)
    ref = np.einsum("bi,oji,bj->bo", x1, w, x2) + A(m.bias)
    close(m(mx.array(x1), mx.array(x2)), ref, 1e-4)


def test_identity_sequential_embedding(rng):
    x = mx.array(rng.normal(size=(2, 3)).astype(np.float32))
    assert nn.Identity(1, 2, a=3)(x) is x
    seq = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), lambda z: z * 2)
    l = seq.layers[0]
    close(seq(x), 2 * np.maximum(A(x) @ A(l.weight).T + A(l.bias), 0))
    e = nn.Embedding(10, 4)
    assert e.weight.shape == (10, 4)
    idx = np.array([[1, 3], [9, 0]])
    close(e(mx.array(idx)), A(e.weight)[idx])
    close(e.as_linear(x @ mx.ones((3, 4))), A(x @ mx.ones((3, 4))) @ A(e.weight).T, 1e-4)


def _ln(x, axes, eps=1e-5):
    m = x.mean(axes, keepdims=True)
    v = x.var(axes, keepdims=True)
    return (x - m) / np.sqrt(v + eps)


def test_layer_norm_rms_norm(rng):
    x = rng.normal(size=(2, 3, 8)).astype(np.float32)
    m = nn.LayerNorm(8)
    m.weight = mx.array(rng.normal(size=8).astype(np.float32))
    m.bias = mx.array(rng.normal(size=8).astype(np.float32))
    close(m(mx.array(x)), _ln(x, -1) * A(m.weight) + A(m.bias), 1e-4)
    close(nn.LayerNorm(8, affine=False)(mx.array(x)), _ln(x, -1), 1e-4)
    assert "bias" not in nn.LayerNorm(8, bias=False).parameters()
    r = nn.RMSNorm(8, eps=1e-6)
    r.weight = mx.array(rng.normal(size=8).astype(np.float32))
    close(r(mx.array(x)), x / np.sqrt((x**2).mean(-1, keepdims=True) + 1e-6) * A(r.weight), 1e-4)


def test_group_norm(rng):
    x = rng.normal(size=(2, 5, 6)).astype(np.float32)
    # PyTorch-compatible: contiguous channel groups
    g = nn.GroupNorm(3, 6, pytorch_compatible=True)
    xr = x.reshape(2, 5, 3, 2)
    ref = _ln(xr, (1, 3)).reshape(2, 5, 6)
    close(g(mx.array(x)), ref, 1e-4)
    # MLX default: channel c in group c % num_groups
    g = nn.GroupNorm(3, 6)
    xr = x.reshape(2, 5, 2, 3)
    ref = _ln(xr, (1, 2)).reshape(2, 5, 6)
    close(g(mx.array(x)), ref, 1e-4)
    g.weight = mx.array(np.arange(6, dtype=np.float32))
    close(g(mx.array(x)), ref * np.arange(6), 1e-4)


def test_instance_norm(rng):
    x = rng.normal(size=(2, 4, 4, 3)).astype(np.float32)
    close(nn.InstanceNorm(3)(mx.array(x)), _ln(x, (1, 2)), 1e-4)
    m = nn.InstanceNorm(3, affine=True)
    assert set(m.parameters()) == {"weight", "bias"}
    assert "weight" not in nn.InstanceNorm(3).parameters()


def test_batch_norm(rng):
    x = rng.normal(size=(8, 4, 3)).astype(np.float32) * 2 + 1
    bn = nn.BatchNorm(3, momentum=0.1)
    assert set(bn.trainable_parameters()) == {"weight", "bias"}
    assert set(bn.parameters()) == {"weight", "bias", "running_mean", "running_var"}
    y = bn(mx.array(x))
    close(y, _ln(x, (0, 1)), 1e-4)
    mean, var = x.mean((0, 1)), x.var((0, 1))
    close(bn.running_mean, 0.1 * mean, 1e-5)
    close(bn.running_var, 0.9 + 0.1 * var, 1e-5)
    bn.eval()
    y = bn(mx.array(x))
    close(y, (x - 0.1 * mean) / np.sqrt(0.9 + 0.1 * var + 1e-5), 1e-4)
    close(bn.running_mean, 0.1 * mean, 1e-5)  # unchanged in eval
    bn.unfreeze()
    assert set(bn.trainable_parameters()) == {"weight", "bias"}
    bn2 = nn.BatchNorm(3, affine=False, track_running_stats=False)
    assert bn2.parameters() == {}
    bn2.eval()
    close(bn2(mx.array(x)), _ln(x, (0, 1)), 1e-4)
    with pytest.raises(ValueError):
        bn(mx.zeros((3,)))


def test_dropout():
    mx.random.seed(0)
    x = mx.ones((100, 100))
    d = nn.Dropout(0.25)
    y = A(d(x))
    assert set(np.unique(y).tolist()) <= {0.0, float(np.float32(1) / np.float32(0.75))}
    assert abs((y == 0).mean() - 0.25) < 0.03
    d.eval()
    assert np.all(A(d(x)) == 1)
    assert np.all(A(nn.Dropout(0.0)(x)) == 1)
    with pytest.raises(ValueError):
        nn.Dropout(1.0)
    x = mx.ones((4, 5, 6, 50))
    y = A(nn.Dropout2d(0.5)(x))
    # whole channels are dropped together
    assert np.all(y == y[:, :1, :1, :]) and set(np.unique(y).tolist()) <= {0.0, 2.0}
    y = A(nn.Dropout3d(0.5)(mx.ones((2, 3, 4, 5, 50))))
    assert np.all(y == y[:, :1, :1, :1, :])
    with pytest.raises(ValueError):
        nn.Dropout2d()(mx.ones((2, 3)))


def _np_conv_nd(x, w, stride, padding, dilation, groups):
    """Direct channels-last convolution; x (N, *S, C), w (O, *K, C/groups)."""
    nd = x.ndim - 2
    x = np.pad(x, [(0, 0)] + [(padding[i], padding[i]) for i in range(nd)] + [(0, 0)])
    N, *S, _C = x.shape
    O, *K, Cg = w.shape
    Keff = [dilation[i] * (K[i] - 1) + 1 for i in range(nd)]
    out_sp = [(S[i] - Keff[i]) // stride[i] + 1 for i in range(nd)]
    out = np.zeros((N, *out_sp, O), dtype=np.float64)
    og = O // groups
    for pos in np.ndindex(*out_sp):
        for kpos in np.ndindex(*K):
            idx = tuple(pos[i] * stride[i] + kpos[i] * dilation[i] for i in range(nd))
            xv = x[(slice(None),) + idx]  # (N, C)
            for g in range(groups):
                out[(slice(None),) + pos + (slice(g * og, (g + 1) * og),)] += (
                    xv[:, g * Cg : (g + 1) * Cg] @ w[(slice(g * og, (g + 1) * og),) + kpos].T
                )
    return out


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_conv(rng, nd):
    sp = {1: (9,), 2: (7, 6), 3: (5, 5, 4)}[nd]
    cls = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[nd]
    x = rng.normal(size=(2, *sp, 4)).astype(np.float32)
    m = cls(4, 6, 3, stride=2 if nd == 1 else 1, padding=1, groups=2)
    w = A(m.weight)
    assert w.shape == (6, *([3] * nd), 2)
    k = 1 / math.sqrt(4 * 3**nd)
    assert np.all(np.abs(w) <= k)
    m.bias = mx.array(rng.normal(size=6).astype(np.float32))
    stride = [2 if nd == 1 else 1] * nd
    ref = _np_conv_nd(x, w, stride, [1] * nd, [1] * nd, 2) + A(m.bias)
    close(m(mx.array(x)), ref, 1e-4)
    m = cls(4, 3, 2, dilation=2, bias=False)
    close(m(mx.array(x)), _np_conv_nd(x, A(m.weight), [1] * nd, [0] * nd, [2] * nd, 1), 1e-4)


def _np_conv_transpose(x, w, stride, padding):
    """Transposed conv (groups=1, dilation=1): scatter each input into the output."""
    nd = x.ndim - 2
    N, *S, _C = x.shape
    O, *K, _ = w.shape
    full = [(S[i] - 1) * stride[i] + K[i] for i in range(nd)]
    out = np.zeros((N, *full, O))
    for pos in np.ndindex(*S):
        xv = x[(slice(None),) + pos]
        for kpos in np.ndindex(*K):
            o = tuple(pos[i] * stride[i] + kpos[i] for i in range(nd))
            out[(slice(None),) + o] += xv @ w[(slice(None),) + kpos].T
    sl = tuple(slice(padding[i], full[i] - padding[i]) for i in range(nd))
    return out[(slice(None),) + sl]


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_conv_transpose(rng, nd):
    sp = {1: (5,), 2: (4, 3), 3: (3, 3, 2)}[nd]
    cls = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d, 3: nn.ConvTranspose3d}[nd]
    x = rng.normal(size=(2, *sp, 3)).astype(np.float32)
    m = cls(3, 4, 3, stride=2, padding=1)
    assert m.weight.shape == (4, *([3] * nd), 3)
    m.bias = mx.array(rng.normal(size=4).astype(np.float32))
    ref = _np_conv_transpose(x, A(m.weight), [2] * nd, [1] * nd) + A(m.bias)
    close(m(mx.array(x)), ref, 1e-4)


def _np_pool(x, k, s, p, fn, pad_value):
    nd = x.ndim - 2
    x = np.pad(x, [(0, 0)] + [(p, p)] * nd + [(0, 0)], constant_values=pad_value)
    N, *S, C = x.shape
    out_sp = [(S[i] - k) // s + 1 for i in range(nd)]
    out = np.zeros((N, *out_sp, C), dtype=x.dtype)
    for pos in np.ndindex(*out_sp):
        win = x[(slice(None),) + tuple(slice(pos[i] * s, pos[i] * s + k) for i in range(nd))]
        out[(slice(None),) + pos] = fn(win, axis=tuple(range(1, nd + 1)))
    return out


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling(rng, nd, kind):
    sp = {1: (9,), 2: (7, 6), 3: (5, 6, 4)}[nd]
    x = rng.normal(size=(2, *sp, 3)).astype(np.float32)
    cls = getattr(nn, f"{'Max' if kind == 'max' else 'Avg'}Pool{nd}d")
    fn, pv = (np.max, -np.inf) if kind == "max" else (np.mean, 0.0)
    close(cls(2)(mx.array(x)), _np_pool(x, 2, 2, 0, fn, pv))
    close(cls(3, stride=1, padding=1)(mx.array(x)), _np_pool(x, 3, 1, 1, fn, pv))
    # non-contiguous input
    xt = np.ascontiguousarray(np.swapaxes(x, 1, 2)) if nd > 1 else x
    X = mx.swapaxes(mx.array(x), 1, 2) if nd > 1 else mx.array(x)
    close(cls(2, stride=1)(X), _np_pool(xt, 2, 1, 0, fn, pv))


def test_pooling_gradient(rng):
    x = mx.array(rng.normal(size=(1, 4, 4, 1)).astype(np.float32))
    g = mx.grad(lambda z: nn.AvgPool2d(2)(z).sum())(x)
    close(g, np.full((1, 4, 4, 1), 0.25))
    g = A(mx.grad(lambda z: nn.MaxPool2d(2)(z).sum())(x))
    assert g.sum() == 4 and set(np.unique(g).tolist()) == {0.0, 1.0}


def test_upsample(rng):
    x = rng.normal(size=(2, 3, 4, 2)).astype(np.float32)
    close(nn.Upsample(2)(mx.array(x)), x.repeat(2, 1).repeat(2, 2))
    close(nn.Upsample((2, 3))(mx.array(x)), x.repeat(2, 1).repeat(3, 2))

    def lin_idx(n, scale, align):
        m = int(n * scale)
        if align:
            src = np.arange(m) * ((n - 1) / (m - 1))
        else:  # MLX: output grid centred on the input grid
            src = np.arange(m) / scale - ((m - 1) / scale - n + 1) / 2
        src = np.clip(src, 0, n - 1)
        lo = np.floor(src).astype(int)
        hi = np.ceil(src).astype(int)
        return lo, hi, src - lo

    for align in (False, True):
        ref = x
        for axis, n in ((1, 3), (2, 4)):
            lo, hi, w = lin_idx(n, 2, align)
            shp = [1] * 4
            shp[axis] = -1
            ref = np.take(ref, lo, axis) * (1 - w.reshape(shp)) + np.take(ref, hi, axis) * w.reshape(shp)
        close(nn.Upsample(2, mode="linear", align_corners=align)(mx.array(x)), ref, 1e-5)
    x1 = rng.normal(size=(1, 5, 2)).astype(np.float32)
    lo, hi, w = lin_idx(5, 1.5, False)
    close(nn.Upsample(1.5, mode="linear")(mx.array(x1)), x1[:, lo] * (1 - w[:, None]) + x1[:, hi] * w[:, None], 1e-5)
    # non-integer nearest: MLX's index rule
    n, m = 5, 7
    idx = np.clip(np.round((np.arange(m) + 0.5) * (n / m) - 0.5), 0, n - 1).astype(int)
    close(nn.Upsample(1.5)(mx.array(x1)), x1[:, idx])
    close(nn.Upsample(0.5)(mx.array(x1)), x1[:, [0, 2]])
    # MLX documentation example
    x4 = mx.arange(1, 5).reshape((1, 2, 2, 1))
    close(nn.Upsample(2)(x4).squeeze(), [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])
    close(
        nn.Upsample(2, mode="linear")(x4).squeeze(),
        [[1, 1.25, 1.75, 2], [1.5, 1.75, 2.25, 2.5], [2.5, 2.75, 3.25, 3.5], [3, 3.25, 3.75, 4]],
    )
    close(
        nn.Upsample(2, mode="linear", align_corners=True)(x4).squeeze(),
        [[1, 4 / 3, 5 / 3, 2], [5 / 3, 2, 7 / 3, 8 / 3], [7 / 3, 8 / 3, 3, 10 / 3], [3, 10 / 3, 11 / 3, 4]],
    )
    with pytest.raises(ValueError):
        nn.Upsample(2, mode="bogus")


def _np_cubic_1d(x, axis, scale, align):
    n = x.shape[axis]
    m = int(n * scale)
    if align:
        src = np.arange(m) * ((n - 1) / (m - 1))
    else:
        src = np.arange(m) / scale - ((m - 1) / scale - n + 1) / 2
    a = -0.75

    def k(t):
        t = np.abs(t)
        return np.where(
            t <= 1,
            ((a + 2) * t - (a + 3)) * t * t + 1,
            np.where(t < 2, a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a, 0.0),
        )

    base = np.floor(src)
    out = 0
    for off in (-1, 0, 1, 2):
        t = base + off
        w = k(src - t)
        shp = [1] * x.ndim
        shp[axis] = -1
        out = out + np.take(x, np.clip(t, 0, n - 1).astype(int), axis) * w.reshape(shp)
    return out


@pytest.mark.parametrize("align", [False, True])
def test_upsample_cubic(rng, align):
    x = rng.normal(size=(2, 4, 5, 3)).astype(np.float32)
    ref = _np_cubic_1d(_np_cubic_1d(x, 1, 2, align), 2, 2, align)
    close(nn.Upsample(2, mode="cubic", align_corners=align)(mx.array(x)), ref, 1e-4)
    x1 = rng.normal(size=(1, 6, 2)).astype(np.float32)
    close(nn.Upsample(1.5, mode="cubic", align_corners=align)(mx.array(x1)), _np_cubic_1d(x1, 1, 1.5, align), 1e-4)


def _np_rope(x, dims, traditional, base, scale, offset):
    L = x.shape[-2]
    pos = (np.arange(L) + offset) * scale
    inv = base ** (-np.arange(0, dims, 2) / dims)
    th = pos[:, None] * inv[None]
    c, s = np.cos(th), np.sin(th)
    out = x.copy()
    if traditional:
        x1, x2 = x[..., 0:dims:2], x[..., 1:dims:2]
        out[..., 0:dims:2] = x1 * c - x2 * s
        out[..., 1:dims:2] = x1 * s + x2 * c
    else:
        h = dims // 2
        x1, x2 = x[..., :h], x[..., h:dims]
        out[..., :h] = x1 * c - x2 * s
        out[..., h:dims] = x1 * s + x2 * c
    return out


@pytest.mark.parametrize("traditional", [False, True])
def test_rope(rng, traditional):
    x = rng.normal(size=(2, 3, 5, 8)).astype(np.float32)
    close(nn.RoPE(8, traditional)(mx.array(x)), _np_rope(x, 8, traditional, 10000, 1.0, 0), 1e-4)
    close(
        nn.RoPE(4, traditional, base=100, scale=0.5)(mx.array(x), offset=3),
        _np_rope(x, 4, traditional, 100, 0.5, 3),
        1e-4,
    )


def test_sinusoidal_and_alibi():
    pe = nn.SinusoidalPositionalEncoding(8)
    x = np.arange(5, dtype=np.float32)
    sig_ = np.exp((1 - np.arange(4) / 3) * (0 - math.log(1e-4)) + math.log(1e-4))
    y = x[:, None] * sig_
    close(pe(mx.array(x)), np.concatenate([np.sin(y), np.cos(y)], -1) * math.sqrt(2 / 8), 1e-5)
    pe = nn.SinusoidalPositionalEncoding(8, cos_first=True, scale=1.0)
    close(pe(mx.array(x)), np.concatenate([np.cos(y), np.sin(y)], -1), 1e-5)
    assert nn.SinusoidalPositionalEncoding(8).parameters() == {}

    scores = np.zeros((1, 4, 3, 3), np.float32)
    out = A(nn.ALiBi()(mx.array(scores)))
    slopes = (2.0**8) ** (-np.arange(1, 5) / 4)
    d = -np.abs(np.arange(3)[:, None] - np.arange(3)[None])
    close(out, slopes[None, :, None, None] * d[None, None], 1e-6)


def test_multi_head_attention(rng):
    mha = nn.MultiHeadAttention(8, 2, bias=True)
    q = rng.normal(size=(2, 3, 8)).astype(np.float32)
    kv = rng.normal(size=(2, 4, 8)).astype(np.float32)

    def lin(m, x):
        return x @ A(m.weight).T + A(m.bias)

    def ref(mask=None):
        Q = lin(mha.query_proj, q).reshape(2, 3, 2, 4).transpose(0, 2, 1, 3)
        K = lin(mha.key_proj, kv).reshape(2, 4, 2, 4).transpose(0, 2, 1, 3)
        V = lin(mha.value_proj, kv).reshape(2, 4, 2, 4).transpose(0, 2, 1, 3)
        s = Q @ K.transpose(0, 1, 3, 2) / 2.0
        if mask is not None:
            s = s + mask
        o = (np_softmax(s) @ V).transpose(0, 2, 1, 3).reshape(2, 3, 8)
        return lin(mha.out_proj, o)

    close(mha(mx.array(q), mx.array(kv), mx.array(kv)), ref(), 1e-4)
    mask = np.where(rng.random((3, 4)) < 0.3, -1e9, 0).astype(np.float32)
    close(mha(mx.array(q), mx.array(kv), mx.array(kv), mx.array(mask)), ref(mask), 1e-4)
    cm = A(nn.MultiHeadAttention.create_additive_causal_mask(3))
    assert np.all(cm[np.tril_indices(3)] == 0) and np.all(cm[np.triu_indices(3, 1)] < -1e30)


def test_transformer_shapes_and_causality(rng):
    mx.random.seed(0)
    enc = nn.TransformerEncoder(2, 8, 2, mlp_dims=16)
    x = mx.array(rng.normal(size=(2, 5, 8)).astype(np.float32))
    mask = nn.MultiHeadAttention.create_additive_causal_mask(5)
    y = A(enc(x, mask))
    assert y.shape == (2, 5, 8)
    # with a causal mask, changing the last position leaves earlier outputs unchanged
    x2 = A(x).copy()
    x2[:, -1] += rng.normal(size=(2, 8)).astype(np.float32)
    y2 = A(enc(mx.array(x2), mask))
    close(y2[:, :-1], y[:, :-1], 1e-5)
    assert not np.allclose(y2[:, -1], y[:, -1])
    for norm_first in (True, False):
        t = nn.Transformer(8, 2, 1, 1, mlp_dims=16, norm_first=norm_first)
        out = t(x, x[:, :3], None, nn.MultiHeadAttention.create_additive_causal_mask(3), None)
        assert out.shape == (2, 3, 8)
    names = [k for k, _ in tree_flatten(t.parameters())]
    assert "encoder.layers.0.attention.query_proj.weight" in names
    assert "decoder.layers.0.cross_attention.out_proj.weight" in names


def test_rnn(rng):
    m = nn.RNN(3, 4)
    x = rng.normal(size=(2, 5, 3)).astype(np.float32)
    Wxh, Whh, b = A(m.Wxh), A(m.Whh), A(m.bias)
    h = np.zeros((2, 4))
    outs = []
    for t in range(5):
        h = np.tanh(x[:, t] @ Wxh.T + h @ Whh.T + b)
        outs.append(h)
    close(m(mx.array(x)), np.stack(outs, 1), 1e-5)
    # unbatched input and initial hidden state
    h0 = rng.normal(size=(4,)).astype(np.float32)
    h = h0
    outs = []
    for t in range(5):
        h = np.maximum(x[0, t] @ Wxh.T + h @ Whh.T + b, 0)
        outs.append(h)
    m.nonlinearity = nn.relu
    close(m(mx.array(x[0]), mx.array(h0)), np.stack(outs, 0), 1e-5)


def test_gru(rng):
    m = nn.GRU(3, 4)
    x = rng.normal(size=(2, 5, 3)).astype(np.float32)
    Wx, Wh, b, bhn = A(m.Wx), A(m.Wh), A(m.b), A(m.bhn)
    H = 4
    h = np.zeros((2, H))
    outs = []
    for t in range(5):
        gx = x[:, t] @ Wx.T + b
        gh = h @ Wh.T
        r = sig(gx[:, :H] + gh[:, :H])
        z = sig(gx[:, H : 2 * H] + gh[:, H : 2 * H])
        n = np.tanh(gx[:, 2 * H :] + r * (gh[:, 2 * H :] + bhn))
        h = (1 - z) * n + z * h
        outs.append(h)
    close(m(mx.array(x[:, 1:]), mx.array(outs[0].astype(np.float32))), np.stack(outs[1:], 1), 1e-5)
    # Without an initial state MLX's GRU starts from "no hidden state": the
    # first step has no recurrent term at all (bhn included).
    gx = x[:, 0] @ Wx.T + b
    r, z = sig(gx[:, :H]), sig(gx[:, H : 2 * H])
    h1 = (1 - z) * np.tanh(gx[:, 2 * H :])
    close(m(mx.array(x))[:, 0], h1, 1e-5)


def test_lstm(rng):
    m = nn.LSTM(3, 4)
    x = rng.normal(size=(2, 5, 3)).astype(np.float32)
    Wx, Wh, b = A(m.Wx), A(m.Wh), A(m.bias)
    H = 4
    h = np.zeros((2, H))
    c = np.zeros((2, H))
    hs, cs = [], []
    for t in range(5):
        g = x[:, t] @ Wx.T + h @ Wh.T + b
        i, f, gg, o = sig(g[:, :H]), sig(g[:, H : 2 * H]), np.tanh(g[:, 2 * H : 3 * H]), sig(g[:, 3 * H :])
        c = f * c + i * gg
        h = o * np.tanh(c)
        hs.append(h)
        cs.append(c)
    hy, cy = m(mx.array(x))
    close(hy, np.stack(hs, 1), 1e-5)
    close(cy, np.stack(cs, 1), 1e-5)


def test_layers_train_with_grad(rng):
    # gradients flow through conv, norm, pooling, recurrent layers
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, padding=1)
            self.bn = nn.BatchNorm(2)
            self.pool = nn.MaxPool2d(2)
            self.gru = nn.GRU(2, 3)
            self.out = nn.Linear(3, 2)

        def __call__(self, x):
            y = self.pool(nn.relu(self.bn(self.conv(x))))  # (N, 2, 2, 2)
            y = self.gru(y.reshape(y.shape[0], 4, 2))[:, -1]
            return self.out(y)

    net = Net()
    x = mx.array(rng.normal(size=(3, 4, 4, 1)).astype(np.float32))
    _loss, grads = nn.value_and_grad(
        net, lambda x: nn.losses.cross_entropy(net(x), mx.array([0, 1, 0]), reduction="mean")
    )(x)
    names = {k for k, _ in tree_flatten(grads)}
    assert "conv.weight" in names and "gru.Wx" in names and "bn.running_mean" not in names
    assert all(np.all(np.isfinite(A(g))) for _, g in tree_flatten(grads))
    assert np.abs(A(grads["conv"]["weight"])).sum() > 0
