"""Embedding, as in mlx.nn."""

import math

import ember.core as mx

from .base import Module


class Embedding(Module):
    r"""A lookup table mapping integer indices to ``dims``-dimensional vectors.

    ``weight`` has shape ``(num_embeddings, dims)`` and is initialised from
    :math:`\mathcal{N}(0, 1/\text{dims})`.
    """

    def __init__(self, num_embeddings: int, dims: int):
        super().__init__()
        scale = math.sqrt(1 / dims)
        self.weight = mx.random.normal(shape=(num_embeddings, dims), scale=scale)

    def _extra_repr(self):
        return f"{self.weight.shape[0]}, {self.weight.shape[1]}"

    def __call__(self, x):
        return self.weight[x]

    def as_linear(self, x):
        """Use the embedding matrix as a linear layer (``x @ weight.T``), e.g.
        for tied input/output embeddings."""
        return x @ self.weight.T
