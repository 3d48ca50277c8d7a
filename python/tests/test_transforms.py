"""Transforms over pytrees: grad, value_and_grad, vjp, jvp, vmap, eval."""

import threading

import ember.core as mx
import numpy as np
import pytest
from helpers import assert_close


def test_grad_of_simple_functions(rng):
    x_np = rng.uniform(0.5, 2.0, (5,)).astype(np.float32)
    x = mx.array(x_np)
    assert_close(mx.grad(lambda x: (x * x).sum())(x), 2 * x_np, tol=1e-5)
    assert_close(mx.grad(lambda x: mx.sin(x).sum())(x), np.cos(x_np), tol=1e-5)
    assert_close(mx.grad(lambda x: mx.log(x).sum())(x), 1 / x_np, tol=1e-5)
    assert_close(mx.grad(lambda x: (mx.exp(2 * x) / 2).sum())(x), np.exp(2 * x_np), tol=1e-4)
    # a scalar input, and grad of grad
    assert mx.grad(lambda x: x**3)(mx.array(2.0)).item() == pytest.approx(12.0)
    assert mx.grad(mx.grad(lambda x: x**3))(mx.array(2.0)).item() == pytest.approx(12.0)


def test_grad_argnums_and_kwargs(rng):
    a = mx.array([1.0, 2.0])
    b = mx.array([3.0, 4.0])

    def f(x, y, scale=1.0):
        return (scale * x * y * y).sum()

    ga = mx.grad(f)(a, b)
    assert_close(ga, [9.0, 16.0])
    gb = mx.grad(f, argnums=1)(a, b, scale=2.0)
    assert_close(gb, [12.0, 32.0])
    gab = mx.grad(f, argnums=(0, 1))(a, b)
    assert isinstance(gab, tuple) and len(gab) == 2
    assert_close(gab[0], [9.0, 16.0])
    assert_close(gab[1], [6.0, 16.0])


def test_grad_of_pytrees():
    params = {"w": mx.array([[1.0, 2.0], [3.0, 4.0]]), "b": [mx.array([1.0, -1.0]), (mx.array(2.0),)]}
    x = mx.array([1.0, 1.0])

    def loss(p, x):
        y = p["w"] @ x + p["b"][0] * p["b"][1][0]
        return (y * y).sum()

    g = mx.grad(loss)(params, x)
    assert set(g) == {"w", "b"} and isinstance(g["b"], list) and isinstance(g["b"][1], tuple)
    w, b0, b1 = np.array(params["w"]), np.array(params["b"][0]), 2.0
    y = w @ np.ones(2) + b0 * b1
    assert_close(g["w"], 2 * np.outer(y, np.ones(2)), tol=1e-5)
    assert_close(g["b"][0], 2 * y * b1, tol=1e-5)
    assert_close(g["b"][1][0], (2 * y * b0).sum(), tol=1e-5)


def test_value_and_grad_with_aux():
    def f(x):
        loss = (x**2).sum()
        return loss, {"double": 2 * x}

    (loss, aux), g = mx.value_and_grad(f)(mx.array([1.0, 2.0, 3.0]))
    assert loss.item() == pytest.approx(14.0)
    assert_close(aux["double"], [2.0, 4.0, 6.0])
    assert_close(g, [2.0, 4.0, 6.0])
    v, g = mx.value_and_grad(lambda x, y: (x * y).sum(), argnums=[0, 1])(mx.array([2.0]), mx.array([5.0]))
    assert v.item() == 10.0 and g[0].item() == 5.0 and g[1].item() == 2.0


def test_grad_errors():
    with pytest.raises(ValueError, match="scalar"):
        mx.grad(lambda x: x * 2)(mx.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="return value"):
        mx.grad(lambda x: "nope")(mx.array(1.0))
    with pytest.raises(ValueError, match="argument index"):
        mx.grad(lambda x: x.sum(), argnums=2)(mx.array([1.0]))
    with pytest.raises(ValueError):
        mx.grad(lambda x: x)(1.0)  # non-array leaves can't be differentiated

    def boom(x):
        raise KeyError("inside")

    with pytest.raises(KeyError, match="inside"):
        mx.grad(boom)(mx.array(1.0))


def test_vjp_and_jvp(rng):
    x_np = rng.standard_normal((3,)).astype(np.float32)
    v_np = rng.standard_normal((3,)).astype(np.float32)
    outs, vjps = mx.vjp(lambda x: mx.sin(x) * 2, [mx.array(x_np)], [mx.array(v_np)])
    assert_close(outs[0], 2 * np.sin(x_np), tol=1e-5)
    assert_close(vjps[0], 2 * np.cos(x_np) * v_np, tol=1e-5)
    outs, jvps = mx.jvp(lambda x, y: [x * y, x + y], [mx.array(x_np), mx.array(v_np)], [mx.ones(3), mx.zeros(3)])
    assert len(outs) == 2 and len(jvps) == 2
    assert_close(jvps[0], v_np, tol=1e-6)
    assert_close(jvps[1], np.ones(3), tol=1e-6)


def test_vmap_vs_python_loop(rng):
    x_np = rng.standard_normal((4, 3, 5)).astype(np.float32)
    w_np = rng.standard_normal((5, 2)).astype(np.float32)

    def f(x, w):
        return mx.tanh(x @ w).sum(axis=0)

    out = mx.vmap(f, in_axes=(0, None))(mx.array(x_np), mx.array(w_np))
    ref = np.stack([np.tanh(x_np[i] @ w_np).sum(axis=0) for i in range(4)])
    assert_close(out, ref, tol=1e-5)
    out1 = mx.vmap(f, in_axes=(1, None), out_axes=1)(mx.array(x_np), mx.array(w_np))
    ref1 = np.stack([np.tanh(x_np[:, i] @ w_np).sum(axis=0) for i in range(3)], axis=1)
    assert_close(out1, ref1, tol=1e-5)
    neg = mx.vmap(lambda x: x.sum(), in_axes=-1)(mx.array(x_np))
    assert_close(neg, x_np.sum(axis=(0, 1)), tol=1e-4)


def test_vmap_pytrees_and_multiple_outputs(rng):
    xs = {"a": mx.array(rng.standard_normal((6, 2)).astype(np.float32)), "b": [mx.ones((6,))]}

    def f(d):
        return d["a"].sum() + d["b"][0], (d["a"] * 2, {"c": d["b"][0]})

    s, (twice, c) = mx.vmap(f)(xs)
    assert_close(s, np.array(xs["a"]).sum(axis=1) + 1, tol=1e-5)
    assert_close(twice, 2 * np.array(xs["a"]))
    assert c["c"].shape == (6,)
    out = mx.vmap(lambda x: (x, x * 2), out_axes=(0, 1))(mx.ones((3, 4)))
    assert out[0].shape == (3, 4) and out[1].shape == (4, 3)


def test_vmap_of_grad_per_example(rng):
    x_np = rng.standard_normal((5, 3)).astype(np.float32)
    g = mx.vmap(mx.grad(lambda x: (x**3).sum()))(mx.array(x_np))
    assert_close(g, 3 * x_np**2, tol=1e-5)


def test_vmap_errors():
    with pytest.raises(ValueError, match="in_axes"):
        mx.vmap(lambda x, y: x + y, in_axes=(0,))(mx.ones((2,)), mx.ones((2,)))
    with pytest.raises(ValueError, match="out of range"):
        mx.vmap(lambda x: x, in_axes=2)(mx.ones((2,)))


def test_eval_pytrees_and_async_eval():
    a = mx.arange(4) * 2
    tree = {"x": [a, (a + 1, None)], "y": 3}
    mx.eval(tree)
    mx.eval(a, [a + 2], {"k": a})
    b = mx.exp(mx.ones((100,)))
    mx.async_eval(b)
    assert b.sum().item() == pytest.approx(100 * np.e, rel=1e-5)


def test_eval_releases_the_gil():
    # Another Python thread runs while eval blocks: it must be able to take the GIL.
    big = mx.random.normal((512, 512), key=mx.random.key(0))
    y = big
    for _ in range(20):
        y = mx.tanh(y @ big)
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(1)
            stop.wait(0.001)

    t = threading.Thread(target=ticker)
    t.start()
    before = len(ticks)
    mx.eval(y)
    during = len(ticks) - before
    stop.set()
    t.join()
    # Without releasing the GIL the ticker could not run at all while eval blocks.
    assert during >= 3, during


def test_custom_function_vjp_jvp_vmap():
    calls = {"vjp": 0, "vmap": 0}

    @mx.custom_function
    def f(x, y):
        return mx.sin(x) * y

    @f.vjp
    def f_vjp(primals, cotangent, output):
        calls["vjp"] += 1
        x, y = primals
        # Deliberately scaled by 10 so the rule's use is visible.
        return 10 * cotangent * mx.cos(x) * y, cotangent * mx.sin(x)

    @f.jvp
    def f_jvp(primals, tangents):
        x, y = primals
        dx, dy = tangents
        return dx * mx.cos(x) * y + dy * mx.sin(x)

    x = mx.array([0.1, 0.2])
    y = mx.array([2.0, 3.0])
    assert_close(f(x, y), np.sin(np.array(x)) * np.array(y), tol=1e-6)
    gx, gy = mx.grad(lambda x, y: f(x, y).sum(), argnums=(0, 1))(x, y)
    assert calls["vjp"] == 1
    assert_close(gx, 10 * np.cos(np.array(x)) * np.array(y), tol=1e-5)
    assert_close(gy, np.sin(np.array(x)), tol=1e-6)
    _, (t,) = mx.jvp(lambda x: f(x, y), [x], [mx.ones((2,))])
    assert_close(t, np.cos(np.array(x)) * np.array(y), tol=1e-6)

    @f.vmap
    def f_vmap(inputs, axes):
        calls["vmap"] += 1
        assert axes == (0, None)
        x, y = inputs
        return mx.sin(x) * y, 0

    out = mx.vmap(f, in_axes=(0, None))(mx.ones((3, 2)), y)
    assert calls["vmap"] == 1 and out.shape == (3, 2)


def test_checkpoint_matches_plain_gradient(rng):
    w = mx.array(rng.standard_normal((4, 4)).astype(np.float32))
    x = mx.array(rng.standard_normal((4,)).astype(np.float32))

    def block(w, x):
        return mx.tanh(w @ mx.tanh(w @ x))

    g_plain = mx.grad(lambda w: block(w, x).sum())(w)
    g_ckpt = mx.grad(lambda w: mx.checkpoint(block)(w, x).sum())(w)
    assert_close(g_ckpt, np.array(g_plain), tol=1e-5)


def test_vmap_in_axes_trees(rng):
    x_np = rng.standard_normal((3, 4)).astype(np.float32)
    params = {"w": mx.array(x_np), "b": mx.ones((3,))}

    def f(p, scale):
        return (p["w"] + p["b"]) * scale

    out = mx.vmap(f, in_axes=({"w": 1, "b": None}, None))(params, mx.array(2.0))
    assert_close(out, ((x_np + 1) * 2).T, tol=1e-6)
    out = mx.vmap(lambda pair: pair[0] * pair[1], in_axes=([0, None],))([mx.array(x_np), mx.array(3.0)])
    assert_close(out, x_np * 3, tol=1e-6)
    with pytest.raises(ValueError, match="in_axes"):
        mx.vmap(f, in_axes=({"w": 0}, None))(params, mx.array(2.0))


def test_vmap_out_axes_none_and_trees(rng):
    # out_axes None: an output that does not depend on the mapped inputs comes back as computed,
    # without a mapped axis; out_axes trees mirror the outputs (dicts included).
    x_np = rng.standard_normal((3, 4)).astype(np.float32)
    w_np = rng.standard_normal((4,)).astype(np.float32)
    w = mx.array(w_np)

    def f(x):
        return {"y": x * w, "norm": (w * w).sum(), "pair": (x.sum(), x + 1)}

    out = mx.vmap(f, out_axes={"y": 1, "norm": None, "pair": (0, -1)})(mx.array(x_np))
    assert_close(out["y"], (x_np * w_np).T, tol=1e-6)
    assert out["norm"].shape == ()
    assert_close(out["norm"], (w_np * w_np).sum(), tol=1e-5)
    assert_close(out["pair"][0], x_np.sum(axis=1), tol=1e-5)
    assert_close(out["pair"][1], (x_np + 1).T, tol=1e-6)
    # A mapped output cannot be unmapped; the tree must match.
    with pytest.raises(ValueError, match="out_axes None"):
        mx.vmap(lambda x: x * 2, out_axes=None)(mx.array(x_np))
    with pytest.raises(ValueError, match="out_axes"):
        mx.vmap(f, out_axes={"y": 0})(mx.array(x_np))
    # None for every output of a function whose outputs are all unmapped.
    both = mx.vmap(lambda x, c: (c * 2, c + 1), in_axes=(0, None), out_axes=None)(mx.array(x_np), w)
    assert_close(both[0], 2 * w_np, tol=1e-6)
    assert_close(both[1], w_np + 1, tol=1e-6)


def test_custom_function_rules_survive_graph_release():
    # The rules live in a graph node that may be released on an evaluation thread.
    def gradient_through_custom_rule():
        @mx.custom_function
        def f(x):
            return x * 2

        @f.vjp
        def f_vjp(primals, cotangent, output):
            return cotangent * 3

        return mx.grad(lambda x: f(x).sum())(mx.ones((64,)))

    for _ in range(20):
        g = gradient_through_custom_rule()
        mx.eval(g)
        assert g[0].item() == 3.0


def test_grad_argnames():
    def f(x, *, w, b):
        return (w * x + b).sum()

    x = mx.array([1.0, 2.0])
    w = mx.array([3.0, 4.0])
    b = mx.array(0.5)
    (gx, kw) = mx.grad(f, argnums=0, argnames=["w", "b"])(x, w=w, b=b)
    assert_close(gx, [3.0, 4.0])
    assert set(kw) == {"w", "b"}
    assert_close(kw["w"], [1.0, 2.0])
    assert kw["b"].item() == 2.0
    pos, kw = mx.grad(f, argnames="w")(x, w=w, b=b)
    assert pos == () and list(kw) == ["w"]
    (value, (pos, kw)) = mx.value_and_grad(f, argnames=["b"])(x, w=w, b=b)
    assert value.item() == pytest.approx(12.0) and kw["b"].item() == 2.0
    with pytest.raises(ValueError, match="keyword argument 'w'"):
        mx.grad(lambda x, w=None: x.sum(), argnames="w")(x)


def test_value_and_grad_aux_with_python_values():
    (loss, aux), g = mx.value_and_grad(lambda x: ((x * x).sum(), {"step": 3, "y": x + 1}))(mx.array([2.0]))
    assert loss.item() == 4.0 and aux["step"] == 3 and aux["y"].item() == 3.0 and g.item() == 4.0
