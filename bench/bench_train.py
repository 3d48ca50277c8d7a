"""Training-step time of the digits MLP (64 -> 128 -> 10, ReLU, cross-entropy, Adam;
examples/python/mnist_digits.py) with ember.nn + ember.optimizers, against PyTorch
on the CPU when torch is installed (issue 5: target ratio >= 1.2x, i.e. ember's
step 1.2 times as fast as torch's). A step is forward, backward, optimizer update
and evaluation of the new parameters.

    PYTHONPATH=build/python python3 bench/bench_train.py
"""

from __future__ import annotations

import argparse
import time

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


def ember_step(x_np, y_np):
    model = MLP()
    opt = optim.Adam(learning_rate=1e-3)
    x, y = mx.array(x_np), mx.array(y_np)

    def loss_fn(model, x, y):
        return nn.losses.cross_entropy(model(x), y, reduction="mean")

    loss_and_grad = nn.value_and_grad(model, loss_fn)

    def step():
        loss, grads = loss_and_grad(model, x, y)
        opt.update(model, grads)
        mx.eval(model.parameters(), opt.state, loss)

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
    header = f"{'batch':>6} {'ember us/step':>14}"
    if torch_available:
        header += f" {'torch us/step':>14} {'ratio':>7}"
    print(header)
    for bs in args.batch_sizes:
        x_np = rng.random((bs, 64), dtype=np.float32)
        y_np = rng.integers(0, 10, size=bs).astype(np.int32)
        t_ember = best_step_us(ember_step(x_np, y_np), args.iters)
        line = f"{bs:>6} {t_ember:>14.1f}"
        if torch_available:
            t_torch = best_step_us(torch_step(x_np, y_np), args.iters)
            line += f" {t_torch:>14.1f} {t_torch / t_ember:>6.2f}x"
        print(line)
    if torch_available:
        print("ratio = torch time / ember time (higher is better for ember; target >= 1.2x)")


if __name__ == "__main__":
    main()
