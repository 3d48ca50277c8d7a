"""nn.QuantizedLinear, nn.QuantizedEmbedding and nn.quantize against their float layers on
the dequantized weights (NumPy), and the freezing rules MLX applies."""

import ember.core as mx
import numpy as np
import pytest

from ember import nn


def dequantized(wq, scales, biases, group_size, bits):
    return np.array(mx.dequantize(wq, scales=scales, biases=biases, group_size=group_size, bits=bits))


@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.parametrize("group_size", [32, 64])
def test_quantized_linear_matches_dequantized_float(bits, group_size):
    lin = nn.Linear(128, 48)
    q = nn.QuantizedLinear.from_linear(lin, group_size, bits)
    w = dequantized(q.weight, q.scales, q.biases, group_size, bits)
    # Quantization error is at most half a step per element.
    step = (np.ptp(np.array(lin.weight).reshape(48, -1, group_size), axis=-1) / (2**bits - 1)).repeat(group_size, -1)
    assert np.all(np.abs(w - np.array(lin.weight)) <= step.reshape(48, 128) / 2 + 1e-6)
    x = np.random.default_rng(0).normal(size=(3, 5, 128)).astype(np.float32)
    want = x @ w.T + np.array(lin.bias)
    np.testing.assert_allclose(np.array(q(mx.array(x))), want, rtol=1e-4, atol=1e-4)


def test_quantized_embedding_lookup_and_as_linear():
    emb = nn.Embedding(50, 64)
    q = nn.QuantizedEmbedding.from_embedding(emb, 32, 4)
    table = dequantized(q.weight, q.scales, q.biases, 32, 4)
    ids = np.array([[3, 7, 49], [0, 0, 1]])
    np.testing.assert_allclose(np.array(q(mx.array(ids))), table[ids], rtol=1e-6, atol=1e-6)
    x = np.random.default_rng(1).normal(size=(2, 64)).astype(np.float32)
    np.testing.assert_allclose(np.array(q.as_linear(mx.array(x))), x @ table.T, rtol=1e-4, atol=1e-4)


def test_quantize_replaces_layers_and_freezes_them():
    model = nn.Sequential(nn.Embedding(40, 64), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    nn.quantize(model, group_size=32, bits=4)
    assert isinstance(model.layers[0], nn.QuantizedEmbedding)
    assert isinstance(model.layers[1], nn.QuantizedLinear)
    assert isinstance(model.layers[3], nn.QuantizedLinear)  # 64 inputs: a multiple of 32
    # The quantized words never train; the copied float biases do until the layer's own
    # unfreeze, which leaves a quantized layer frozen whole (as mlx.nn's does).
    from ember.utils import tree_flatten

    trainable = {k for k, _ in tree_flatten(model.trainable_parameters())}
    assert trainable == {"layers.1.bias", "layers.3.bias"}
    model.layers[1].unfreeze()
    model.layers[0].unfreeze()
    assert tree_flatten(model.layers[1].trainable_parameters()) == []
    assert tree_flatten(model.layers[0].trainable_parameters()) == []
    out = model(mx.array([[1, 2, 3]]))
    assert out.shape == (1, 3, 10)


def test_class_predicate_picks_layers_and_bits():
    model = nn.Sequential(nn.Linear(64, 64), nn.Linear(64, 32))
    nn.quantize(model, class_predicate=lambda path, m: {"bits": 8, "group_size": 32} if path == "layers.1" else False)
    assert isinstance(model.layers[0], nn.Linear)
    assert isinstance(model.layers[1], nn.QuantizedLinear)
    assert model.layers[1].bits == 8 and model.layers[1].group_size == 32
