"""The digits MLP of examples/python/mnist_digits.py (ember.nn + ember.optimizers on
scikit-learn's bundled handwritten digits) reaches >= 95% test accuracy (issue 5)."""

import importlib.util
import pathlib

import numpy as np
import pytest

pytest.importorskip("sklearn")
nn = pytest.importorskip("ember.nn")

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "python" / "mnist_digits.py"


@pytest.fixture(scope="module")
def digits():
    spec = importlib.util.spec_from_file_location("mnist_digits", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("optimizer,lr,epochs", [("adam", 3e-3, 10), ("sgd", 5e-2, 15)])
def test_digits_mlp_accuracy(digits, optimizer, lr, epochs):
    _, step_losses, epoch_losses, acc = digits.train(epochs=epochs, lr=lr, optimizer=optimizer, seed=0)
    assert acc >= 0.95, acc
    assert np.all(np.isfinite(step_losses))
    assert epoch_losses[-1] < epoch_losses[0] / 3


def test_digits_plot(digits, tmp_path):
    pytest.importorskip("matplotlib")
    _, step_losses, epoch_losses, _ = digits.train(epochs=1)
    path = tmp_path / "loss.png"
    digits.plot_losses(step_losses, epoch_losses, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
