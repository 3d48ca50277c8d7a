"""Training-step time of the digits MLP (64 -> 128 -> 10, ReLU, cross-entropy, Adam;
examples/python/mnist_digits.py) with ember.nn + ember.optimizers, against PyTorch
on the CPU when torch is installed (issue 5: target ratio >= 1.2x, i.e. ember's
step 1.2 times as fast as torch's), and against the same step written by hand in
NumPy, which needs nothing installed. A step is forward, backward, optimizer update
and evaluation of the new parameters; ember's step runs eagerly and compiled
(mx.compile with the model's and optimizer's state, as MLX's examples train).

    PYTHONPATH=build/python python3 bench/bench_train.py
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import ember.core as mx
import ember.optimizers as optim
import numpy as np

from ember import nn


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(64, 128), nn.Linear(128, 10)]

    def __call__(self, x):
        return self.layers[1](nn.relu(self.layers[0](x)))


def best_step_us(step, iters: int, repeat: int = 5) -> float:
    for _ in range(10):  # warm up
        step()
    best = float("inf")
    for _ in range(repeat):
        tic = time.perf_counter()
        for _ in range(iters):
            step()
        best = min(best, (time.perf_counter() - tic) / iters)
    return best * 1e6


def ember_step(x_np, y_np, compiled=False):
    """One training step; compiled: as MLX programs write it for speed, mx.compile with the
    model's and the optimizer's state as the compiled function's implicit inputs and outputs."""
    model = MLP()
    opt = optim.Adam(learning_rate=1e-3)
    x, y = mx.array(x_np), mx.array(y_np)

    def loss_fn(model, x, y):
        return nn.losses.cross_entropy(model(x), y, reduction="mean")

    loss_and_grad = nn.value_and_grad(model, loss_fn)
    state = [model.state, opt.state]

    def train(x, y):
        loss, grads = loss_and_grad(model, x, y)
        opt.update(model, grads)
        return loss

    if compiled:
        train = partial(mx.compile, inputs=state, outputs=state)(train)

    def step():
        loss = train(x, y)
        mx.eval(state, loss)

    return step


def torch_step(x_np, y_np):
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np.astype(np.int64))
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    return step


def numpy_step(x_np, y_np):
    """The same step written by hand in NumPy (forward, backward, Adam): a peer that is
    always available, and the floor a framework's overhead is measured against."""
    rng = np.random.default_rng(0)
    s1, s2 = 1 / np.sqrt(64), 1 / np.sqrt(128)
    params = [
        rng.uniform(-s1, s1, (128, 64)).astype(np.float32),
        rng.uniform(-s1, s1, 128).astype(np.float32),
        rng.uniform(-s2, s2, (10, 128)).astype(np.float32),
        rng.uniform(-s2, s2, 10).astype(np.float32),
    ]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    onehot = np.eye(10, dtype=np.float32)[y_np]
    n = x_np.shape[0]
    t = [0]

    def step():
        w1, b1, w2, b2 = params
        h = x_np @ w1.T + b1
        a = np.maximum(h, 0)
        z = a @ w2.T + b2
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        dz = (p - onehot) / n
        da = dz @ w2
        dh = da * (h > 0)
        grads = [dh.T @ x_np, dh.sum(0), dz.T @ a, dz.sum(0)]
        t[0] += 1
        b1c, b2c = 1 - 0.9 ** t[0], 1 - 0.999 ** t[0]
        for i, g in enumerate(grads):
            m[i] = 0.9 * m[i] + 0.1 * g
            v[i] = 0.999 * v[i] + 0.001 * g * g
            params[i] -= 1e-3 * (m[i] / b1c) / (np.sqrt(v[i] / b2c) + 1e-8)

    return step


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 256, 1437])
    parser.add_argument("--iters", type=int, default=200)
    args = parser.parse_args()

    try:
        import torch  # noqa: F401

        torch_available = True
    except ImportError:
        torch_available = False
        print("peer unavailable: PyTorch is not installed (ratios vs torch CPU not measured)")

    rng = np.random.default_rng(0)
    header = f"{'batch':>6} {'ember us/step':>14} {'compiled':>9} {'numpy us/step':>14} {'ratio':>7}"
    if torch_available:
        header += f" {'torch us/step':>14} {'ratio':>7} {'compiled':>9}"
    print(header)
    for bs in args.batch_sizes:
        x_np = rng.random((bs, 64), dtype=np.float32)
        y_np = rng.integers(0, 10, size=bs).astype(np.int32)
        t_ember = best_step_us(ember_step(x_np, y_np), args.iters)
        t_comp = best_step_us(ember_step(x_np, y_np, compiled=True), args.iters)
        t_numpy = best_step_us(numpy_step(x_np, y_np), args.iters)
        line = f"{bs:>6} {t_ember:>14.1f} {t_comp:>9.1f} {t_numpy:>14.1f} {t_numpy / t_ember:>6.2f}x"
        if torch_available:
            t_torch = best_step_us(torch_step(x_np, y_np), args.iters)
            line += f" {t_torch:>14.1f} {t_torch / t_ember:>6.2f}x {t_torch / t_comp:>8.2f}x"
        print(line)
    print(
        "ratios = peer time / ember time (> 1: ember is faster), eager and (last column) with the step "
        "compiled as MLX examples do (mx.compile with the model and optimizer state); numpy: the same "
        "step written by hand"
    )
    if torch_available:
        print("torch target (issue 5): >= 1.2x")


if __name__ == "__main__":
    main()
