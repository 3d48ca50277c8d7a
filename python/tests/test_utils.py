"""ember.utils tree helpers (mlx.utils semantics)."""

import collections

import ember.core as mx
import numpy as np
import pytest
from ember.utils import tree_flatten, tree_map, tree_map_with_path, tree_reduce, tree_unflatten


def sample_tree():
    return {
        "layers": [{"w": mx.ones((2, 2)), "b": mx.zeros((2,))}, {"w": mx.ones((2, 3)), "b": mx.zeros((3,))}],
        "scale": mx.array(2.0),
        "meta": ("x", 3),
    }


def test_flatten_paths_and_roundtrip():
    flat = tree_flatten(sample_tree())
    assert [k for k, _ in flat] == [
        "layers.0.w",
        "layers.0.b",
        "layers.1.w",
        "layers.1.b",
        "scale",
        "meta.0",
        "meta.1",
    ]
    back = tree_unflatten(flat)
    assert back["layers"][1]["w"].shape == (2, 3)
    assert back["meta"] == ["x", 3]  # tuples come back as lists, as in MLX
    assert tree_flatten([[[0]]]) == [("0.0.0", 0)]
    assert tree_flatten({"a": {"b": 1}}, prefix=".hello") == [("hello.a.b", 1)]
    assert tree_unflatten([("0.0.0", 0)]) == [[[0]]]
    assert tree_unflatten([("", 5)]) == 5
    assert tree_unflatten([("2", 1)]) == [{}, {}, 1]
    assert tree_flatten(5) == [("", 5)]


def test_tree_map_multiple_trees_and_is_leaf():
    t = sample_tree()
    doubled = tree_map(lambda x: x * 2 if isinstance(x, mx.array) else x, t)
    assert doubled["scale"].item() == 4.0 and isinstance(doubled["meta"], tuple)
    summed = tree_map(lambda a, b: a + b, {"a": [1, 2]}, {"a": [10, 20]})
    assert summed == {"a": [11, 22]}
    lengths = tree_map(len, {"a": [1, 2], "b": [3]}, is_leaf=lambda x: isinstance(x, list))
    assert lengths == {"a": 2, "b": 1}
    Point = collections.namedtuple("Point", "x y")
    assert tree_map(lambda v: v + 1, Point(1, 2)) == Point(2, 3)


def test_tree_map_with_path():
    paths = []
    tree_map_with_path(lambda p, x: paths.append(p), {"a": [1, {"b": 2}], "c": 3})
    assert paths == ["a.0", "a.1.b", "c"]
    out = tree_map_with_path(lambda p, x, y: f"{p}:{x + y}", {"a": 1}, {"a": 2})
    assert out == {"a": "a:3"}


def test_tree_reduce():
    t = {"a": [1, 2], "b": (3, {"c": 4})}
    assert tree_reduce(lambda acc, x: acc + x, t, 0) == 10
    assert tree_reduce(lambda acc, x: acc * x, t) == 24
    total = tree_reduce(lambda acc, x: acc + x.sum(), sample_tree()["layers"], mx.array(0.0))
    assert total.item() == pytest.approx(10.0)


def test_utils_with_grad_on_parameters(rng):
    params = {"w": mx.array(rng.standard_normal((3, 2)).astype(np.float32)), "b": mx.zeros((2,))}
    x = mx.array(rng.standard_normal((4, 3)).astype(np.float32))
    grads = mx.grad(lambda p: ((x @ p["w"] + p["b"]) ** 2).mean())(params)
    updated = tree_map(lambda p, g: p - 0.1 * g, params, grads)
    assert [k for k, _ in tree_flatten(updated)] == ["w", "b"]
    assert not np.allclose(np.array(updated["w"]), np.array(params["w"]))
