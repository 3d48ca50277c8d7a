"""ember.optimizers: each optimizer's first steps against NumPy reference updates
written from the algorithms' definitions, schedules against their formulas,
clip_grad_norm, MultiOptimizer and saving/loading the optimizer state."""

import math

import ember.core as mx
import ember.optimizers as optim
import numpy as np
import pytest
from ember.utils import tree_flatten, tree_map, tree_unflatten

SHAPES = {"a": [(4, 3), (4,)], "b": [(2, 3, 5)]}
STEPS = 3


def np_tree(rng, scale=1.0):
    return {k: [(scale * rng.standard_normal(s)).astype(np.float32) for s in v] for k, v in SHAPES.items()}


def to_mx(tree):
    return tree_map(mx.array, tree)


def leaves(tree):
    return [v for _, v in tree_flatten(tree)]


def assert_tree_close(got, expected, tol=1e-5):
    g, e = tree_flatten(got), tree_flatten(expected)
    assert [k for k, _ in g] == [k for k, _ in e]
    for (k, a), (_, b) in zip(g, e):
        np.testing.assert_allclose(np.array(a), b, rtol=tol, atol=tol, err_msg=k)


# --------------------------------------------------------------------------- references
# Each reference is f(g, p, s, t) -> new p, with g, p float64 arrays, s a dict of state
# (filled lazily) and t the 1-based step number.


def rms(x):
    return np.sqrt(np.mean(np.square(x)))


def ref_sgd(lr, momentum=0.0, weight_decay=0.0, dampening=0.0, nesterov=False):
    def f(g, p, s, t):
        g = g + weight_decay * p
        if momentum <= 0:
            return p - lr * g
        v = momentum * s.get("v", 0.0) + (1 - dampening) * g
        s["v"] = v
        return p - lr * (g + momentum * v if nesterov else v)

    return f


def ref_rmsprop(lr, alpha=0.99, eps=1e-8):
    def f(g, p, s, t):
        s["v"] = alpha * s.get("v", 0.0) + (1 - alpha) * g * g
        return p - lr * g / (np.sqrt(s["v"]) + eps)

    return f


def ref_adagrad(lr, eps=1e-8):
    def f(g, p, s, t):
        s["v"] = s.get("v", 0.0) + g * g
        return p - lr * g / (np.sqrt(s["v"]) + eps)

    return f


def ref_adadelta(lr, rho=0.9, eps=1e-6):
    def f(g, p, s, t):
        s["v"] = rho * s.get("v", 0.0) + (1 - rho) * g * g
        u = s.get("u", np.zeros_like(p))
        d = np.sqrt(u + eps) / np.sqrt(s["v"] + eps) * g
        s["u"] = rho * u + (1 - rho) * d * d
        return p - lr * d

    return f


def ref_adam(lr, b1=0.9, b2=0.999, eps=1e-8, bias_correction=False, weight_decay=0.0):
    def f(g, p, s, t):
        p = p * (1 - lr * weight_decay)  # AdamW's decoupled decay (0 for Adam)
        s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
        m, v = s["m"], s["v"]
        if bias_correction:
            m, v = m / (1 - b1**t), v / (1 - b2**t)
        return p - lr * m / (np.sqrt(v) + eps)

    return f


def ref_adamax(lr, b1=0.9, b2=0.999, eps=1e-8):
    def f(g, p, s, t):
        s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
        s["u"] = np.maximum(b2 * s.get("u", np.zeros_like(p)), np.abs(g))
        return p - lr * s["m"] / (s["u"] + eps)

    return f


def ref_lion(lr, b1=0.9, b2=0.99, weight_decay=0.0):
    def f(g, p, s, t):
        m = s.get("m", 0.0)
        c = b1 * m + (1 - b1) * g
        s["m"] = b2 * m + (1 - b2) * g
        return p * (1 - lr * weight_decay) - lr * np.sign(c)

    return f


def ref_adafactor(
    lr=None,
    eps=(1e-30, 1e-3),
    clip=1.0,
    decay=-0.8,
    beta_1=None,
    weight_decay=0.0,
    scale_parameter=True,
    warmup_init=False,
):
    def f(g, p, s, t):
        rho = lr if lr is not None else min(1e-6 * t if warmup_init else 1e-2, 1 / math.sqrt(t))
        alpha = (max(eps[1], rms(p)) if scale_parameter else 1.0) * rho
        beta2 = 1 - t**decay
        g2 = g * g + eps[0]
        if g.ndim >= 2:  # factored second moment: V = R C / sum(R) (row and column means)
            s["R"] = beta2 * s.get("R", 0.0) + (1 - beta2) * g2.mean(axis=-1)
            s["C"] = beta2 * s.get("C", 0.0) + (1 - beta2) * g2.mean(axis=-2)
            v = s["R"][..., :, None] * s["C"][..., None, :] / s["R"].mean(axis=-1)[..., None, None]
        else:
            s["V"] = beta2 * s.get("V", 0.0) + (1 - beta2) * g2
            v = s["V"]
        u = g / np.sqrt(v)
        u = alpha * u / max(1.0, rms(u) / clip)
        if beta_1 is not None:
            s["m"] = beta_1 * s.get("m", 0.0) + (1 - beta_1) * u
            u = s["m"]
        return p * (1 - weight_decay * alpha) - u

    return f


CASES = [
    ("sgd", lambda: optim.SGD(0.1), ref_sgd(0.1)),
    ("sgd_wd", lambda: optim.SGD(0.1, weight_decay=0.05), ref_sgd(0.1, weight_decay=0.05)),
    ("sgd_momentum", lambda: optim.SGD(0.1, momentum=0.9), ref_sgd(0.1, 0.9)),
    (
        "sgd_dampening",
        lambda: optim.SGD(0.1, momentum=0.9, dampening=0.3, weight_decay=0.01),
        ref_sgd(0.1, 0.9, 0.01, 0.3),
    ),
    ("sgd_nesterov", lambda: optim.SGD(0.1, momentum=0.8, nesterov=True), ref_sgd(0.1, 0.8, nesterov=True)),
    ("rmsprop", lambda: optim.RMSprop(0.01), ref_rmsprop(0.01)),
    ("rmsprop_alpha", lambda: optim.RMSprop(0.01, alpha=0.9, eps=1e-4), ref_rmsprop(0.01, 0.9, 1e-4)),
    ("adagrad", lambda: optim.Adagrad(0.1), ref_adagrad(0.1)),
    ("adadelta", lambda: optim.AdaDelta(1.0), ref_adadelta(1.0)),
    ("adadelta_rho", lambda: optim.AdaDelta(0.5, rho=0.5, eps=1e-3), ref_adadelta(0.5, 0.5, 1e-3)),
    ("adam", lambda: optim.Adam(0.01), ref_adam(0.01)),
    (
        "adam_bias",
        lambda: optim.Adam(0.01, betas=[0.8, 0.99], bias_correction=True),
        ref_adam(0.01, 0.8, 0.99, bias_correction=True),
    ),
    ("adamw", lambda: optim.AdamW(0.01), ref_adam(0.01, weight_decay=0.01)),
    (
        "adamw_bias",
        lambda: optim.AdamW(0.05, weight_decay=0.1, bias_correction=True),
        ref_adam(0.05, weight_decay=0.1, bias_correction=True),
    ),
    ("adamax", lambda: optim.Adamax(0.01), ref_adamax(0.01)),
    ("lion", lambda: optim.Lion(0.01), ref_lion(0.01)),
    ("lion_wd", lambda: optim.Lion(0.01, betas=[0.8, 0.95], weight_decay=0.1), ref_lion(0.01, 0.8, 0.95, 0.1)),
    ("adafactor", lambda: optim.Adafactor(), ref_adafactor()),
    ("adafactor_warmup", lambda: optim.Adafactor(warmup_init=True), ref_adafactor(warmup_init=True)),
    (
        "adafactor_lr",
        lambda: optim.Adafactor(
            0.01, relative_step=False, beta_1=0.9, weight_decay=0.1, scale_parameter=False, clip_threshold=0.5
        ),
        ref_adafactor(0.01, beta_1=0.9, weight_decay=0.1, scale_parameter=False, clip=0.5),
    ),
]


def run_reference(ref, params, grads_seq):
    p = [x.astype(np.float64) for x in leaves(params)]
    states = [{} for _ in p]
    for t, grads in enumerate(grads_seq, start=1):
        p = [ref(g.astype(np.float64), x, s, t) for g, x, s in zip(leaves(grads), p, states)]
    return p


@pytest.mark.parametrize("name,make,ref", CASES, ids=[c[0] for c in CASES])
def test_first_steps_match_reference(rng, name, make, ref):
    params = np_tree(rng)
    grads_seq = [np_tree(rng) for _ in range(STEPS)]
    opt = make()
    p = to_mx(params)
    for t, grads in enumerate(grads_seq, start=1):
        p = opt.apply_gradients(to_mx(grads), p)
        mx.eval(p)
        assert opt.step.item() == t
        # After each step the result matches the reference run for that many steps.
        expected = run_reference(ref, params, grads_seq[:t])
        got = leaves(p)
        assert len(got) == len(expected)
        for a, b in zip(got, expected):
            assert a.dtype == mx.float32
            np.testing.assert_allclose(np.array(a), b, rtol=2e-5, atol=2e-6, err_msg=f"{name} step {t}")
    # The state tree mirrors the parameter tree, plus step and (given) learning_rate.
    assert isinstance(opt.state["a"], list) and len(opt.state["a"]) == 2
    assert isinstance(opt.state["a"][0], dict) and opt.state["a"][0]


def test_adafactor_state_is_factored():
    opt = optim.Adafactor()
    opt.init({"w": mx.zeros((4, 6)), "t": mx.zeros((2, 4, 6)), "b": mx.zeros((6,))})
    assert opt.state["w"]["exp_avg_sq_row"].shape == (4,)
    assert opt.state["w"]["exp_avg_sq_col"].shape == (6,)
    assert opt.state["t"]["exp_avg_sq_row"].shape == (2, 4)
    assert opt.state["t"]["exp_avg_sq_col"].shape == (2, 6)
    assert opt.state["b"]["exp_avg_sq"].shape == (6,)
    assert "learning_rate" not in opt.state


class DictModel(dict):
    """A stand-in for nn.Module: a dict of parameters with a recursive update."""

    def update(self, tree):
        def merge(dst, src):
            for k, v in src.items() if isinstance(src, dict) else enumerate(src):
                if isinstance(v, (dict, list)):
                    merge(dst[k], v)
                else:
                    dst[k] = v

        merge(self, tree)
        return self


def test_update_model(rng):
    params = np_tree(rng)
    grads = np_tree(rng)
    model = DictModel(to_mx(params))
    opt = optim.SGD(0.5)
    opt.update(model, to_mx(grads))
    assert_tree_close(model, tree_map(lambda p, g: p - 0.5 * g, params, grads))
    assert opt.step.item() == 1


def test_init_explicitly(rng):
    params = to_mx(np_tree(rng))
    opt = optim.Adam(1e-3)
    opt.init(params)
    assert opt.state["b"][0]["m"].shape == (2, 3, 5)
    assert opt.step.item() == 0
    assert np.array(opt.state["a"][1]["v"]).sum() == 0
    # Partial gradients (a subtree) update only those parameters.
    out = opt.apply_gradients({"a": [mx.ones((4, 3)), mx.ones((4,))]}, params)
    assert set(out) == {"a"}


def test_validation():
    with pytest.raises(ValueError):
        optim.SGD(0.1, nesterov=True)
    with pytest.raises(ValueError):
        optim.SGD(0.1, momentum=0.9, dampening=0.1, nesterov=True)
    with pytest.raises(ValueError):
        optim.RMSprop(0.1, alpha=-1)
    with pytest.raises(ValueError):
        optim.Adagrad(0.1, eps=-1)
    with pytest.raises(ValueError):
        optim.Adamax(0.1, eps=-1)
    with pytest.raises(ValueError):
        optim.MultiOptimizer([optim.SGD(0.1), optim.Adam(0.1)], [])


# --------------------------------------------------------------------------- learning rates


def test_learning_rate_property():
    opt = optim.SGD(0.1)
    assert opt.learning_rate.dtype == mx.float32
    assert opt.learning_rate.item() == pytest.approx(0.1)
    opt.learning_rate = 0.25
    p = opt.apply_gradients({"w": mx.array([1.0])}, {"w": mx.array([1.0])})
    assert p["w"].item() == pytest.approx(0.75)


def test_scheduled_learning_rate(rng):
    sched = optim.step_decay(0.1, 0.5, 1)  # 0.1, 0.05, 0.025: evaluated at the step before the increment
    opt = optim.SGD(sched)
    assert opt.learning_rate.item() == pytest.approx(0.1)
    p = {"w": mx.array([1.0, 2.0])}
    g = {"w": mx.array([1.0, -1.0])}
    expected = np.array([1.0, 2.0])
    for t in range(4):
        p = opt.apply_gradients(g, p)
        expected = expected - 0.1 * 0.5**t * np.array([1.0, -1.0])
        assert opt.learning_rate.item() == pytest.approx(0.1 * 0.5**t)
        np.testing.assert_allclose(np.array(p["w"]), expected, rtol=1e-6)


def test_schedules_formulas():
    steps = list(range(25))
    for s in steps:
        step = mx.array(s, mx.uint64)
        assert optim.exponential_decay(0.1, 0.9)(step).item() == pytest.approx(0.1 * 0.9**s, rel=1e-5)
        assert optim.step_decay(0.1, 0.9, 5)(step).item() == pytest.approx(0.1 * 0.9 ** (s // 5), rel=1e-5)
        cos = 0.5 * (1 + math.cos(math.pi * min(s, 10) / 10))
        assert optim.cosine_decay(0.1, 10)(step).item() == pytest.approx(0.1 * cos, rel=1e-5, abs=1e-7)
        assert optim.cosine_decay(0.1, 10, end=0.01)(step).item() == pytest.approx(0.01 + 0.09 * cos, rel=1e-5)
        assert optim.linear_schedule(0.0, 0.1, 8)(step).item() == pytest.approx(0.1 * min(s, 8) / 8, abs=1e-7)
        joined = optim.join_schedules([optim.linear_schedule(0.0, 0.1, 5), optim.cosine_decay(0.1, 10)], [5])
        want = 0.1 * s / 5 if s < 5 else 0.1 * 0.5 * (1 + math.cos(math.pi * min(s - 5, 10) / 10))
        assert joined(step).item() == pytest.approx(want, rel=1e-5, abs=1e-7)
    three = optim.join_schedules(
        [optim.linear_schedule(0.0, 1.0, 2), optim.exponential_decay(1.0, 0.5), optim.step_decay(0.2, 0.1, 100)], [2, 5]
    )
    assert [round(three(mx.array(s)).item(), 6) for s in range(7)] == [0.0, 0.5, 1.0, 0.5, 0.25, 0.2, 0.2]
    with pytest.raises(ValueError):
        optim.join_schedules([], [])
    with pytest.raises(ValueError):
        optim.join_schedules([optim.exponential_decay(0.1, 0.9)], [3])
    with pytest.raises(ValueError):
        optim.linear_schedule(0.0, 0.1, 0)


def test_warmup_then_cosine_with_adam(rng):
    # MLX's documented pattern: linear warmup joined to cosine decay as Adam's learning rate.
    warmup = optim.linear_schedule(0.0, 1e-2, 3)
    sched = optim.join_schedules([warmup, optim.cosine_decay(1e-2, 10)], [3])
    opt = optim.Adam(sched)
    params = {"w": mx.array(rng.standard_normal(5).astype(np.float32))}
    for t in range(6):
        params = opt.apply_gradients({"w": mx.ones((5,))}, params)
        assert opt.learning_rate.item() == pytest.approx(sched(mx.array(t)).item(), abs=1e-8)
    assert opt.step.item() == 6


# --------------------------------------------------------------------------- clip_grad_norm


def test_clip_grad_norm(rng):
    grads = np_tree(rng)
    total = math.sqrt(sum(float(np.sum(g.astype(np.float64) ** 2)) for g in leaves(grads)))
    clipped, norm = optim.clip_grad_norm(to_mx(grads), total / 2)
    assert norm.item() == pytest.approx(total, rel=1e-5)
    scale = (total / 2) / (total + 1e-6)
    assert_tree_close(clipped, tree_map(lambda g: g * scale, grads))
    clipped_norm = math.sqrt(sum(float(np.sum(np.array(g).astype(np.float64) ** 2)) for g in leaves(clipped)))
    assert clipped_norm == pytest.approx(total / 2, rel=1e-5)
    # Under the limit nothing changes.
    same, norm2 = optim.clip_grad_norm(to_mx(grads), total * 2)
    assert norm2.item() == pytest.approx(total, rel=1e-5)
    for a, b in zip(leaves(same), leaves(grads)):
        np.testing.assert_array_equal(np.array(a), b)
    # Leaves keep their dtype.
    c16, _ = optim.clip_grad_norm({"h": mx.array([3.0, 4.0], dtype=mx.float16)}, 1.0)
    assert c16["h"].dtype == mx.float16
    np.testing.assert_allclose(np.array(c16["h"]).astype(np.float32), [0.6, 0.8], rtol=2e-3)


# --------------------------------------------------------------------------- MultiOptimizer


def test_multi_optimizer(rng):
    params = np_tree(rng)
    grads_seq = [np_tree(rng) for _ in range(STEPS)]
    opt = optim.MultiOptimizer(
        [optim.SGD(0.1, momentum=0.9), optim.Adam(0.01)], [lambda path, g: path.startswith("b") or g.ndim == 1]
    )
    p = to_mx(params)
    for grads in grads_seq:
        p = opt.apply_gradients(to_mx(grads), p)
    sgd, adam = ref_sgd(0.1, 0.9), ref_adam(0.01)
    expected_sgd = run_reference(sgd, params, grads_seq)
    expected_adam = run_reference(adam, params, grads_seq)
    names = [k for k, _ in tree_flatten(params)]  # a.0 (adam), a.1 (sgd: 1-d), b.0 (sgd)
    assert [k for k, _ in tree_flatten(p)] == names
    for i, (k, a) in enumerate(tree_flatten(p)):
        want = expected_adam[i] if k == "a.0" else expected_sgd[i]
        np.testing.assert_allclose(np.array(a), want, rtol=2e-5, atol=2e-6, err_msg=k)
    st = opt.state
    assert len(st["states"]) == 2
    assert "m" in st["states"][1]["a"][0] and "v" in st["states"][0]["b"][0]
    assert opt.step.item() == STEPS
    opt.learning_rate = 0.5
    assert all(o.learning_rate.item() == 0.5 for o in opt.optimizers)
    with pytest.raises(ValueError):
        opt.state = {"states": [{}]}


# --------------------------------------------------------------------------- state save / load


def make_scheduled_adam():
    return optim.Adam(optim.cosine_decay(1e-2, 20, end=1e-3), bias_correction=True)


@pytest.mark.parametrize("fmt", ["npz", "safetensors"])
@pytest.mark.parametrize(
    "make",
    [
        lambda: optim.SGD(0.05, momentum=0.9, nesterov=True),
        make_scheduled_adam,
        lambda: optim.AdaDelta(1.0),
        lambda: optim.Adafactor(beta_1=0.9),
        lambda: optim.MultiOptimizer([optim.Lion(1e-3), optim.AdamW(1e-2)], [lambda k, g: k.startswith("a")]),
    ],
    ids=["sgd", "adam_sched", "adadelta", "adafactor", "multi"],
)
def test_state_save_load_continues_identically(rng, tmp_path, fmt, make):
    params = to_mx(np_tree(rng))
    grads_seq = [to_mx(np_tree(rng)) for _ in range(5)]
    opt = make()
    for g in grads_seq[:2]:
        params = opt.apply_gradients(g, params)
    mx.eval(params, opt.state)

    flat = dict(tree_flatten(opt.state))
    assert all(isinstance(v, mx.array) for v in flat.values())
    path = str(tmp_path / f"opt.{fmt}")
    if fmt == "npz":
        mx.savez(path, **flat)
    else:
        mx.save_safetensors(path, flat)
    loaded = mx.load(path)
    assert set(loaded) == set(flat)
    fresh = make()
    fresh.state = tree_unflatten(list(loaded.items()))
    assert fresh.step.item() == 2
    if "learning_rate" in opt.state:
        assert fresh.learning_rate.item() == pytest.approx(opt.learning_rate.item())

    p1, p2 = params, params
    for g in grads_seq[2:]:
        p1 = opt.apply_gradients(g, p1)
        p2 = fresh.apply_gradients(g, p2)
    for (k, a), (_, b) in zip(tree_flatten(p1), tree_flatten(p2)):
        np.testing.assert_array_equal(np.array(a), np.array(b), err_msg=k)
    s1, s2 = dict(tree_flatten(opt.state)), dict(tree_flatten(fresh.state))  # key order may differ
    assert set(s1) == set(s2)
    for k, v in s1.items():
        np.testing.assert_array_equal(np.array(v), np.array(s2[k]), err_msg=k)
    assert fresh.step.item() == 5


# --------------------------------------------------------------------------- with ember.nn and transforms


def test_with_nn_module():
    nn = pytest.importorskip("ember.nn")
    model = nn.Linear(3, 2)
    opt = optim.SGD(learning_rate=0.1, momentum=0.9)
    opt.init(model.trainable_parameters())
    assert set(opt.state) == {"step", "learning_rate", "weight", "bias"}
    before = {k: np.array(v) for k, v in tree_flatten(model.parameters())}
    x, y = mx.ones((4, 3)), mx.zeros((4, 2))
    loss_and_grad = nn.value_and_grad(model, lambda m, x, y: nn.losses.mse_loss(m(x), y))
    _, grads = loss_and_grad(model, x, y)
    opt.update(model, grads)
    mx.eval(model.parameters(), opt.state)
    for k, g in tree_flatten(grads):
        np.testing.assert_allclose(
            np.array(dict(tree_flatten(model.parameters()))[k]), before[k] - 0.1 * np.array(g), rtol=1e-6
        )


@pytest.mark.parametrize(
    "make",
    [
        lambda: optim.SGD(0.1, momentum=0.5),
        lambda: optim.Adam(0.1),
        lambda: optim.AdamW(0.1, weight_decay=0.0),
        lambda: optim.Adamax(0.1),
        lambda: optim.Adagrad(0.5),
        lambda: optim.RMSprop(0.05),
        lambda: optim.AdaDelta(10.0),
        lambda: optim.Lion(0.02),
        lambda: optim.Adafactor(0.05, relative_step=False, scale_parameter=False),
    ],
)
def test_minimizes_quadratic(make):
    # Each optimizer drives sum((w - target)^2) down when fed mx.grad's gradients.
    target = mx.array([[1.0, -2.0], [0.5, 3.0]])
    params = {"w": mx.zeros((2, 2)), "b": [mx.zeros((2,))]}

    def loss(p):
        return mx.sum(mx.square(p["w"] - target)) + mx.sum(mx.square(p["b"][0] - 1.0))

    grad_fn = mx.grad(loss)
    opt = make()
    start = loss(params).item()
    for _ in range(100):
        params = opt.apply_gradients(grad_fn(params), params)
        mx.eval(params, opt.state)
    assert loss(params).item() < 0.1 * start
