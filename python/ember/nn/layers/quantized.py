"""Quantized layers and nn.quantize, as in mlx.nn: weights held as affine group-quantized
uint32 words with per-group scales and biases (ember.core.quantize), applied with
ember.core.quantized_matmul / ember.core.dequantize."""

from __future__ import annotations

import math
from typing import Callable

import ember.core as mx

from .base import Module


def _quantized_matmul(layer, x):
    """``x @ W.T`` with the layer's quantized W (its weight, scales and biases)."""
    return mx.quantized_matmul(
        x,
        layer["weight"],
        scales=layer["scales"],
        biases=layer["biases"],
        transpose=True,
        group_size=layer.group_size,
        bits=layer.bits,
    )


class QuantizedLinear(Module):
    r""":math:`y = x W^\top + b` with :math:`W` quantized to ``bits`` in groups of
    ``group_size`` along the input axis. The layer is frozen, and ``unfreeze`` leaves it frozen
    (as in mlx.nn); a bias copied in by ``from_linear`` stays trainable until then."""

    def __init__(self, input_dims: int, output_dims: int, bias: bool = True, group_size: int = 64, bits: int = 4):
        super().__init__()
        self.group_size = group_size
        self.bits = bits
        scale = math.sqrt(1 / input_dims)
        weight = mx.random.uniform(low=-scale, high=scale, shape=(output_dims, input_dims))
        self.weight, self.scales, self.biases = mx.quantize(weight, group_size, bits)
        if bias:
            self.bias = mx.zeros((output_dims,))
        self.freeze()

    def unfreeze(self, *args, **kwargs):
        # As mlx.nn: a quantized layer stays frozen whatever is asked (its words are integers).
        super().unfreeze(*args, **kwargs)
        self.freeze(recurse=False)
        return self

    def _extra_repr(self):
        out_dims, in_dims = self.weight.shape
        in_dims = in_dims * 32 // self.bits
        return (
            f"input_dims={in_dims}, output_dims={out_dims}, bias={'bias' in self}, "
            f"group_size={self.group_size}, bits={self.bits}"
        )

    def __call__(self, x):
        x = _quantized_matmul(self, x)
        if "bias" in self:
            x = x + self["bias"]
        return x

    @classmethod
    def from_linear(cls, linear_layer: Module, group_size: int = 64, bits: int = 4) -> QuantizedLinear:
        """A QuantizedLinear holding ``linear_layer``'s weight quantized (and its bias)."""
        output_dims, input_dims = linear_layer.weight.shape
        ql = cls(input_dims, output_dims, False, group_size, bits)
        ql.weight, ql.scales, ql.biases = mx.quantize(linear_layer.weight, group_size, bits)
        if "bias" in linear_layer:
            ql.bias = linear_layer.bias
        return ql


class QuantizedEmbedding(Module):
    r"""An embedding table quantized to ``bits`` in groups of ``group_size`` along ``dims``;
    rows are dequantized after the lookup. Its parameters are frozen."""

    def __init__(self, num_embeddings: int, dims: int, group_size: int = 64, bits: int = 4):
        super().__init__()
        self.group_size = group_size
        self.bits = bits
        scale = math.sqrt(1 / dims)
        weight = mx.random.normal(shape=(num_embeddings, dims), scale=scale)
        self.weight, self.scales, self.biases = mx.quantize(weight, group_size, bits)
        self.num_embeddings = num_embeddings
        self.dims = dims
        self.freeze()

    def unfreeze(self, *args, **kwargs):
        super().unfreeze(*args, **kwargs)
        self.freeze(recurse=False)
        return self

    def _extra_repr(self):
        return f"{self.num_embeddings}, {self.dims}, group_size={self.group_size}, bits={self.bits}"

    def __call__(self, x):
        return mx.dequantize(
            self["weight"][x],
            scales=self["scales"][x],
            biases=self["biases"][x],
            group_size=self.group_size,
            bits=self.bits,
        )

    def as_linear(self, x):
        """``x @ weight.T`` with the quantized table (tied input/output embeddings)."""
        return _quantized_matmul(self, x)

    @classmethod
    def from_embedding(cls, embedding_layer: Module, group_size: int = 64, bits: int = 4) -> QuantizedEmbedding:
        """A QuantizedEmbedding holding ``embedding_layer``'s table quantized."""
        num_embeddings, dims = embedding_layer.weight.shape
        qe = cls(num_embeddings, dims, group_size, bits)
        qe.weight, qe.scales, qe.biases = mx.quantize(embedding_layer.weight, group_size, bits)
        return qe


def _quantizable(module, group_size):
    from .embedding import Embedding
    from .linear import Linear

    return isinstance(module, (Linear, Embedding)) and module.weight.shape[-1] % group_size == 0


def quantize(
    model: Module,
    group_size: int = 64,
    bits: int = 4,
    class_predicate: Callable[[str, Module], bool | dict] | None = None,
):
    """Replaces, in place, the Linear and Embedding layers of ``model`` (those for which
    ``class_predicate(path, module)`` is true; by default every one whose input size is a
    multiple of ``group_size``) with their quantized versions. The predicate may also return a
    dict with ``group_size`` / ``bits`` for that layer."""
    from .embedding import Embedding
    from .linear import Linear

    predicate = class_predicate or (lambda _, m: _quantizable(m, group_size))
    replacements = {}
    for path, module in model.named_modules():
        if not isinstance(module, (Linear, Embedding)):
            continue
        choice = predicate(path, module)
        if not choice:
            continue
        gs, b = group_size, bits
        if isinstance(choice, dict):
            gs, b = choice.get("group_size", gs), choice.get("bits", b)
        if isinstance(module, Linear):
            replacements[path] = QuantizedLinear.from_linear(module, gs, b)
        else:
            replacements[path] = QuantizedEmbedding.from_embedding(module, gs, b)
    if replacements:
        from ember.utils import tree_unflatten

        model.update_modules(tree_unflatten(list(replacements.items())))
    return model
