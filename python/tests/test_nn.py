"""ember.nn.Module tree operations, weights I/O, nn.value_and_grad and nn.init."""

import math

import ember.core as mx
import numpy as np
import pytest
from ember.utils import tree_flatten, tree_map

from ember import nn


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(3, 4)
        self.blocks = [nn.Linear(4, 4), nn.Sequential(nn.ReLU(), nn.Linear(4, 2))]
        self.extra = {"scale": mx.array(2.0)}
        self._private = mx.array(1.0)
        self.not_param = 5

    def __call__(self, x):
        x = nn.relu(self.l1(x))
        for b in self.blocks:
            x = b(x)
        return x * self.extra["scale"]


def _keys(tree):
    return sorted(k for k, _ in tree_flatten(tree))


def test_module_is_dict_and_attributes():
    m = MLP()
    assert isinstance(m, dict)
    assert "l1" in m and m.l1 is m["l1"]
    assert "not_param" not in m and m.not_param == 5
    with pytest.raises(AttributeError):
        _ = m.missing
    m.w = mx.zeros((2,))
    assert "w" in m
    del m.w
    assert "w" not in m


def test_attribute_reassignment():
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.val = None
            self.val = mx.array(1.0)

    m = Model()
    assert m.val.item() == 1.0 and "val" in m
    m.val = None
    assert m.val is None and "val" not in m
    m.val = mx.array([3])
    assert m.val.item() == 3 and "val" in m


def test_children_with_non_module_callables():
    m = nn.Sequential(
        nn.Sequential(nn.Linear(2, 10), nn.relu),
        nn.Sequential(nn.Linear(10, 10), nn.ReLU()),
        nn.Linear(10, 1),
        mx.sigmoid,
    )
    children = m.children()
    assert isinstance(children["layers"], list) and len(children["layers"]) == 4
    assert children["layers"][3] == {}
    leaves = tree_flatten(m.leaf_modules(), is_leaf=nn.Module.is_module)
    assert [k for k, _ in leaves] == ["layers.0.layers.0", "layers.1.layers.0", "layers.1.layers.1", "layers.2"]
    assert leaves[2][1] is m.layers[1].layers[1]
    assert m(mx.ones((3, 2))).shape == (3, 1)


def test_parameters_children_leaf_modules():
    m = MLP()
    assert _keys(m.parameters()) == [
        "blocks.0.bias",
        "blocks.0.weight",
        "blocks.1.layers.1.bias",
        "blocks.1.layers.1.weight",
        "extra.scale",
        "l1.bias",
        "l1.weight",
    ]
    ch = m.children()
    assert set(ch) == {"l1", "blocks", "extra"}
    assert ch["l1"] is m.l1 and ch["blocks"][1] is m.blocks[1]
    leaves = tree_flatten(m.leaf_modules(), is_leaf=nn.Module.is_module)
    assert sorted(k for k, _ in leaves) == ["blocks.0", "blocks.1.layers.0", "blocks.1.layers.1", "l1"]
    names = [k for k, _ in m.named_modules()]
    assert set(names) == {"", "l1", "blocks.0", "blocks.1", "blocks.1.layers.0", "blocks.1.layers.1"}
    assert len(m.modules()) == 6


def test_freeze_unfreeze():
    m = MLP()
    m.freeze()
    assert _keys(m.trainable_parameters()) == []
    assert len(_keys(m.parameters())) == 7
    m.unfreeze()
    assert len(_keys(m.trainable_parameters())) == 7
    m.l1.freeze(keys="bias")
    assert "l1.bias" not in _keys(m.trainable_parameters())
    assert "l1.weight" in _keys(m.trainable_parameters())
    m.unfreeze(keys=["bias"])
    assert "l1.bias" in _keys(m.trainable_parameters())
    m.freeze(recurse=False, keys="extra")
    assert not any(k.startswith("extra") for k in _keys(m.trainable_parameters()))
    with pytest.raises(KeyError):
        m.l1.freeze(keys="nope", strict=True)


def test_update_and_apply():
    m = MLP()
    zeros = tree_map(lambda p: mx.zeros_like(p), m.parameters())
    m.update(zeros)
    for _, p in tree_flatten(m.parameters()):
        assert np.all(np.array(p) == 0)
    with pytest.raises(ValueError):
        m.update({"nope": mx.zeros((1,))})
    m.update({"nope": mx.zeros((1,))}, strict=False)
    m.apply(lambda p: p + 1)
    for _, p in tree_flatten(m.parameters()):
        assert np.all(np.array(p) == 1)
    m.apply(lambda p: p.astype(mx.float16), filter_fn=lambda mod, k, v: k != "bias")
    assert m.l1.weight.dtype == mx.float16 and m.l1.bias.dtype == mx.float32
    m.set_dtype(mx.float32)
    assert m.l1.weight.dtype == mx.float32


def test_update_modules_and_apply_to_modules():
    m = MLP()
    new = nn.Linear(4, 4, bias=False)
    m.update_modules({"blocks": [new, {}]})
    assert m.blocks[0] is new
    seen = []
    m.apply_to_modules(lambda k, mod: seen.append(k))
    assert "blocks.0" in seen and "" in seen


def test_train_eval():
    m = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    assert m.training and m.layers[1].training
    m.eval()
    assert not m.training and not m.layers[1].training
    m.train()
    assert m.layers[1].training


def test_repr():
    m = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    r = repr(m)
    assert r.startswith("Sequential(") and "(layers.0): Linear(input_dims=2, output_dims=3, bias=True)" in r
    assert "(layers.1): ReLU()" in r


@pytest.mark.parametrize("ext", ["npz", "safetensors"])
def test_save_load_weights_round_trip(tmp_path, ext):
    m = MLP()
    path = str(tmp_path / f"w.{ext}")
    m.save_weights(path)
    m2 = MLP()
    m2.load_weights(path)
    for (k1, v1), (k2, v2) in zip(tree_flatten(m.parameters()), tree_flatten(m2.parameters())):
        assert k1 == k2
        np.testing.assert_array_equal(np.array(v1), np.array(v2))
    # strict checks
    with pytest.raises(ValueError):
        nn.Linear(3, 5).load_weights(str(tmp_path / f"w.{ext}"))
    lin = nn.Linear(3, 4)
    with pytest.raises(ValueError):
        lin.load_weights([("weight", mx.zeros((4, 3)))])  # missing bias
    with pytest.raises(ValueError):
        lin.load_weights([("weight", mx.zeros((3, 3))), ("bias", mx.zeros((4,)))])
    lin.load_weights([("weight", mx.zeros((4, 3)))], strict=False)
    assert np.all(np.array(lin.weight) == 0)
    with pytest.raises(ValueError):
        m.save_weights(str(tmp_path / "w.bin"))


def test_value_and_grad_matches_finite_differences():
    mx.random.seed(3)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))
    model.set_dtype(mx.float64)
    x = mx.random.normal((4, 3)).astype(mx.float64)
    y = mx.array([0, 1, 1, 0])

    def loss_fn(x, y):
        return nn.losses.cross_entropy(model(x), y, reduction="mean")

    loss, grads = nn.value_and_grad(model, loss_fn)(x, y)
    assert sorted(k for k, _ in tree_flatten(grads)) == sorted(k for k, _ in tree_flatten(model.parameters()))
    params = dict(tree_flatten(model.parameters()))
    eps = 1e-6
    from ember.utils import tree_unflatten

    for name, g in tree_flatten(grads):
        p = np.array(params[name])
        num = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            vals = []
            for s in (1, -1):
                q = p.copy()
                q[idx] += s * eps
                model.update(tree_unflatten([(name, mx.array(q, dtype=mx.float64))]))
                vals.append(loss_fn(x, y).item())
            model.update(tree_unflatten([(name, mx.array(p, dtype=mx.float64))]))
            num[idx] = (vals[0] - vals[1]) / (2 * eps)
        np.testing.assert_allclose(np.array(g), num, rtol=1e-5, atol=1e-7)
    # The loss value matches a direct evaluation
    assert abs(loss.item() - loss_fn(x, y).item()) < 1e-12


def test_value_and_grad_skips_frozen():
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    model.layers[0].freeze()
    x = mx.ones((2, 3))
    _, grads = nn.value_and_grad(model, lambda x: model(x).sum())(x)
    assert sorted(k for k, _ in tree_flatten(grads)) == ["layers.1.bias", "layers.1.weight"]


def test_training_loop_reduces_loss():
    mx.random.seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))
    rng = np.random.default_rng(0)
    xs = rng.normal(size=(64, 2)).astype(np.float32)
    ys = (xs[:, :1] * 2 - xs[:, 1:]).astype(np.float32)
    x, y = mx.array(xs), mx.array(ys)
    fn = nn.value_and_grad(model, lambda x, y: nn.losses.mse_loss(model(x), y))
    first = None
    for _ in range(100):
        loss, g = fn(x, y)
        model.update(tree_map(lambda p, g: p - 0.05 * g, model.parameters(), g))
        mx.eval(model.parameters())
        first = first if first is not None else loss.item()
    assert loss.item() < 0.1 * first


def test_init_functions():
    mx.random.seed(0)
    a = mx.zeros((200, 300))
    np.testing.assert_array_equal(np.array(nn.init.constant(0.5)(a)), np.full((200, 300), 0.5, np.float32))
    n = np.array(nn.init.normal(1.0, 2.0)(a))
    assert abs(n.mean() - 1.0) < 0.05 and abs(n.std() - 2.0) < 0.05
    u = np.array(nn.init.uniform(-2, 3)(a))
    assert u.min() >= -2 and u.max() < 3 and abs(u.mean() - 0.5) < 0.05
    np.testing.assert_array_equal(np.array(nn.init.identity()(mx.zeros((4, 4)))), np.eye(4))
    with pytest.raises(ValueError):
        nn.init.identity()(mx.zeros((3, 4)))
    fan_in, fan_out = 300, 200
    g = np.array(nn.init.glorot_normal()(a))
    assert abs(g.std() - math.sqrt(2 / (fan_in + fan_out))) < 0.003
    g = np.array(nn.init.glorot_uniform()(a, gain=2.0))
    lim = 2.0 * math.sqrt(6 / (fan_in + fan_out))
    assert g.max() <= lim and g.min() >= -lim and g.max() > 0.95 * lim
    h = np.array(nn.init.he_normal()(a))
    assert abs(h.std() - 1 / math.sqrt(fan_in)) < 0.003
    h = np.array(nn.init.he_normal()(a, mode="fan_out"))
    assert abs(h.std() - 1 / math.sqrt(fan_out)) < 0.003
    h = np.array(nn.init.he_uniform()(a))
    lim = math.sqrt(3 / fan_in)
    assert h.max() <= lim and h.min() >= -lim and h.max() > 0.95 * lim
    # conv-shaped weights count the receptive field
    c = np.array(nn.init.he_normal()(mx.zeros((64, 3, 3, 32))))
    assert abs(c.std() - 1 / math.sqrt(32 * 9)) < 0.01
    assert nn.init.normal(dtype=mx.float16)(a).dtype == mx.float16
    with pytest.raises(ValueError):
        nn.init.glorot_uniform()(mx.zeros((3,)))
    # used with Module.apply
    lin = nn.Linear(4, 4)
    lin.apply(nn.init.constant(0.0))
    assert np.all(np.array(lin.weight) == 0)


def test_checkpoint_matches_plain_gradient():
    mx.random.seed(1)
    model = nn.Sequential(nn.Linear(3, 4), nn.GELU(), nn.Linear(4, 2))
    x = mx.random.normal((5, 3))
    plain = nn.value_and_grad(model, lambda x: (model(x) ** 2).sum())(x)
    ck = nn.checkpoint(model)
    checked = nn.value_and_grad(model, lambda x: (ck(x) ** 2).sum())(x)
    np.testing.assert_allclose(np.array(plain[0]), np.array(checked[0]), rtol=1e-6)
    for (k1, g1), (k2, g2) in zip(tree_flatten(plain[1]), tree_flatten(checked[1])):
        assert k1 == k2
        np.testing.assert_allclose(np.array(g1), np.array(g2), rtol=1e-5, atol=1e-6)
    enc = nn.TransformerEncoder(1, 8, 2, checkpoint=True)
    xe = mx.random.normal((2, 3, 8))
    _, g = nn.value_and_grad(enc, lambda x: enc(x, None).sum())(xe)
    assert all(np.all(np.isfinite(np.array(v))) for _, v in tree_flatten(g))


def test_batch_norm_running_stats_under_grad():
    bn = nn.BatchNorm(2)
    x = mx.array(np.arange(8, dtype=np.float32).reshape(4, 2))
    nn.value_and_grad(bn, lambda x: bn(x).sum())(x)
    mx.eval(bn.parameters())
    np.testing.assert_allclose(np.array(bn.running_mean), 0.1 * np.array([3.0, 4.0]), rtol=1e-6)
