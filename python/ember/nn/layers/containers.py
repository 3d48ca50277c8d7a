"""Containers, as in mlx.nn."""

from .base import Module


class Sequential(Module):
    r"""Call the given modules (or callables) in order, each on the output of
    the previous one. They are stored in the ``layers`` list."""

    def __init__(self, *modules):
        super().__init__()
        self.layers = list(modules)

    def __call__(self, x):
        for m in self.layers:
            x = m(x)
        return x
