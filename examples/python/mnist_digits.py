"""Trains an MLP (64 -> 128 -> 10, ReLU) on scikit-learn's bundled handwritten
digits (8x8 images, no download) with ember.nn and ember.optimizers, reports the
test accuracy and plots the training loss curve to a PNG.

    PYTHONPATH=build/python python3 examples/python/mnist_digits.py --plot digits_loss.png

Needs scikit-learn and matplotlib (scripts/install-deps installs them).
"""

from __future__ import annotations

import argparse
import time

import ember.core as mx
import ember.optimizers as optim
import numpy as np

from ember import nn


class MLP(nn.Module):
    def __init__(self, in_dims: int = 64, hidden_dims: int = 128, out_dims: int = 10):
        super().__init__()
        self.layers = [nn.Linear(in_dims, hidden_dims), nn.Linear(hidden_dims, out_dims)]

    def __call__(self, x):
        for layer in self.layers[:-1]:
            x = nn.relu(layer(x))
        return self.layers[-1](x)


def loss_fn(model, x, y):
    return nn.losses.cross_entropy(model(x), y, reduction="mean")


def load_data(seed: int = 0, test_fraction: float = 0.2):
    """(x_train, y_train, x_test, y_test) as NumPy arrays: pixels scaled to [0, 1],
    a fixed random split."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int32)
    perm = np.random.default_rng(seed).permutation(len(x))
    n_test = int(len(x) * test_fraction)
    test, train = perm[:n_test], perm[n_test:]
    return x[train], y[train], x[test], y[test]


def accuracy(model, x, y) -> float:
    return mx.mean(mx.argmax(model(x), axis=1) == y).item()


def train(
    epochs: int = 20,
    batch_size: int = 32,
    lr: float = 3e-3,
    optimizer: str = "adam",
    seed: int = 0,
    verbose: bool = False,
):
    """Trains the MLP; returns (model, per-step losses, per-epoch losses, test accuracy)."""
    mx.random.seed(seed)
    x_train, y_train, x_test, y_test = load_data(seed)
    x_train_mx, y_train_mx = mx.array(x_train), mx.array(y_train)
    x_test_mx, y_test_mx = mx.array(x_test), mx.array(y_test)

    model = MLP()
    mx.eval(model.parameters())
    if optimizer == "adam":
        opt = optim.Adam(learning_rate=lr)
    elif optimizer == "sgd":
        opt = optim.SGD(learning_rate=lr, momentum=0.9)
    else:
        raise ValueError(f"unknown optimizer {optimizer!r}")
    loss_and_grad = nn.value_and_grad(model, loss_fn)

    rng = np.random.default_rng(seed)
    step_losses, epoch_losses = [], []
    for epoch in range(epochs):
        tic = time.perf_counter()
        perm = rng.permutation(len(x_train))
        total = 0.0
        for i in range(0, len(perm), batch_size):
            idx = mx.array(perm[i : i + batch_size])
            loss, grads = loss_and_grad(model, x_train_mx[idx], y_train_mx[idx])
            opt.update(model, grads)
            mx.eval(model.parameters(), opt.state, loss)
            step_losses.append(loss.item())
            total += step_losses[-1] * len(idx)
        epoch_losses.append(total / len(perm))
        if verbose:
            acc = accuracy(model, x_test_mx, y_test_mx)
            print(
                f"epoch {epoch + 1:3d}  loss {epoch_losses[-1]:.4f}  test acc {acc:.4f}  ({time.perf_counter() - tic:.2f} s)"
            )
    return model, step_losses, epoch_losses, accuracy(model, x_test_mx, y_test_mx)


def plot_losses(step_losses, epoch_losses, path: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps_per_epoch = len(step_losses) / max(len(epoch_losses), 1)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(np.arange(1, len(step_losses) + 1) / steps_per_epoch, step_losses, lw=0.6, alpha=0.5, label="step")
    ax.plot(np.arange(1, len(epoch_losses) + 1), epoch_losses, marker="o", label="epoch mean")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy loss")
    ax.set_yscale("log")
    ax.set_title("ember MLP on sklearn digits")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plot", default="digits_loss.png", help="where to write the loss curve (PNG)")
    args = parser.parse_args()

    _, step_losses, epoch_losses, acc = train(
        args.epochs, args.batch_size, args.lr, args.optimizer, args.seed, verbose=True
    )
    print(f"test accuracy: {acc:.4f}")
    plot_losses(step_losses, epoch_losses, args.plot)
    print(f"loss curve written to {args.plot}")


if __name__ == "__main__":
    main()
