"""mx.compile: results against the function run eagerly and NumPy, the trace cache (no
retrace on a second call, retrace on new dtypes, shapes or constants, shapeless reuse),
captured state (inputs= / outputs=) across calls, a compiled training step, transforms
through compile and the errors."""

from functools import partial

import ember.core as mx
import ember.optimizers as optim
import numpy as np
import pytest
from helpers import assert_close

from ember import nn


def gelu_tanh(x):
    return 0.5 * x * (1 + mx.tanh(float(np.sqrt(2 / np.pi)) * (x + 0.044715 * x**3)))


def test_compiled_matches_eager_and_numpy(rng):
    x_np = rng.standard_normal((64, 129)).astype(np.float32)
    x = mx.array(x_np)
    want = 0.5 * x_np * (1 + np.tanh(np.sqrt(2 / np.pi) * (x_np + 0.044715 * x_np**3)))
    assert_close(mx.compile(gelu_tanh)(x), want, tol=1e-5)

    @mx.compile
    def chain(a, b):
        return mx.maximum((a - 1.5) * b, 0) ** 2 + a

    a_np = rng.standard_normal((3, 50)).astype(np.float32)
    b_np = rng.standard_normal((50,)).astype(np.float32)
    assert_close(chain(mx.array(a_np), mx.array(b_np)), np.maximum((a_np - 1.5) * b_np, 0) ** 2 + a_np, tol=1e-5)


def test_second_call_does_not_retrace(rng):
    calls = []

    @mx.compile
    def f(x, y):
        calls.append(1)
        return mx.exp(x) * y - y

    for _ in range(3):
        x, y = rng.standard_normal((2, 10)).astype(np.float32)
        assert_close(f(mx.array(x), mx.array(y)), np.exp(x) * y - y, tol=1e-5)
    assert len(calls) == 1
    f(mx.array(x, dtype=mx.float16), mx.array(y, dtype=mx.float16))  # new dtypes
    assert len(calls) == 2
    f(mx.ones((4, 10)), mx.ones((10,)))  # new shapes
    assert len(calls) == 3


def test_non_array_arguments_are_part_of_the_signature():
    calls = []

    @mx.compile
    def scale(x, factor, mode="mul"):
        calls.append(factor)
        return x * factor if mode == "mul" else x + factor

    x = mx.array([1.0, 2.0])
    assert scale(x, 2.0).tolist() == [2.0, 4.0]
    assert scale(x, 2.0).tolist() == [2.0, 4.0]
    assert scale(x, 3.0).tolist() == [3.0, 6.0]
    assert scale(x, 3.0, mode="add").tolist() == [4.0, 5.0]
    assert calls == [2.0, 3.0, 3.0]


def test_shapeless_reuses_one_trace(rng):
    calls = []

    @partial(mx.compile, shapeless=True)
    def f(x, y):
        calls.append(1)
        return mx.where(x > y, x * 2, y - x)

    for shape in [(5, 7), (2, 300), (1, 1), (9,)]:
        x = rng.standard_normal(shape).astype(np.float32)
        y = rng.standard_normal(shape[-1:]).astype(np.float32)
        assert_close(f(mx.array(x), mx.array(y)), np.where(x > y, x * 2, y - x), tol=1e-6)
    assert len(calls) == 2  # one trace per number of dimensions


def test_pytree_arguments_and_outputs(rng):
    @mx.compile
    def f(params, x):
        h = mx.tanh(x * params["w"] + params["b"])
        return {"h": h, "pair": (h * 2, h.sum())}

    params = {"w": mx.array(2.0), "b": mx.array([0.5, -0.5])}
    x = mx.array([[1.0, 2.0], [3.0, 4.0]])
    out = f(params, x)
    want = np.tanh(np.array([[1.0, 2.0], [3.0, 4.0]]) * 2 + np.array([0.5, -0.5]))
    assert_close(out["h"], want, tol=1e-6)
    assert_close(out["pair"][0], want * 2, tol=1e-6)
    assert out["pair"][1].item() == pytest.approx(want.sum(), rel=1e-5)


def test_captured_state_is_updated_across_calls():
    state = {"total": mx.array(0.0), "history": [mx.array(0.0)]}
    calls = []

    @partial(mx.compile, inputs=state, outputs=state)
    def accumulate(x):
        calls.append(1)
        state["total"] = state["total"] + x.sum()
        state["history"][0] = state["history"][0] * 0.5 + x.sum()
        return state["total"] * 2

    totals = []
    for v in [1.0, 2.0, 3.0]:
        totals.append(accumulate(mx.array([v, v])).item())
    assert totals == [4.0, 12.0, 24.0]
    assert state["total"].item() == 12.0
    assert state["history"][0].item() == pytest.approx(((0 * 0.5 + 2) * 0.5 + 4) * 0.5 + 6)
    assert len(calls) == 1


def test_compiled_training_step_matches_eager(rng):
    x = mx.array(rng.standard_normal((32, 8)).astype(np.float32))
    y = mx.array(rng.standard_normal((32, 1)).astype(np.float32))

    def run(compiled):
        mx.random.seed(3)
        model = nn.Sequential(nn.Linear(8, 16), nn.GELU(approx="precise"), nn.Linear(16, 1))
        opt = optim.Adam(learning_rate=1e-2)
        opt.init(model.trainable_parameters())

        def loss_fn(m, x, y):
            return nn.losses.mse_loss(m(x), y)

        loss_and_grad = nn.value_and_grad(model, loss_fn)

        def step(x, y):
            loss, grads = loss_and_grad(model, x, y)
            opt.update(model, grads)
            return loss

        if compiled:
            state = [model.state, opt.state]
            step = partial(mx.compile, inputs=state, outputs=state)(step)
        losses = []
        for _ in range(6):
            loss = step(x, y)
            mx.eval(model.parameters(), opt.state)
            losses.append(loss.item())
        return losses

    eager, compiled = run(False), run(True)
    np.testing.assert_allclose(compiled, eager, rtol=1e-4)
    assert compiled[-1] < compiled[0]


def test_transforms_compose_with_compile(rng):
    x_np = rng.standard_normal((6, 5)).astype(np.float32)
    x = mx.array(x_np)

    def f(x):
        return gelu_tanh(x).sum()

    want = mx.grad(f)(x)
    assert_close(mx.grad(mx.compile(f))(x), np.array(want), tol=1e-5)
    assert_close(mx.compile(mx.grad(f))(x), np.array(want), tol=1e-5)
    got = mx.vmap(mx.compile(lambda r: mx.exp(r) * r))(x)
    assert_close(got, np.exp(x_np) * x_np, tol=1e-5)


def test_disable_compile_calls_the_function():
    calls = []

    @mx.compile
    def f(x):
        calls.append(1)
        return x + 1

    mx.disable_compile()
    try:
        f(mx.array(1.0))
        f(mx.array(1.0))
    finally:
        mx.enable_compile()
    assert len(calls) == 2
    assert f(mx.array(1.0)).item() == 2.0


def test_evaluating_inside_a_compiled_function_raises():
    @mx.compile
    def f(x):
        return x * (x.sum().item())

    with pytest.raises(ValueError, match="compile"):
        f(mx.array([1.0, 2.0]))
