"""Tree utilities, as mlx.utils: nested lists, tuples and dicts ("trees") whose
other values are leaves. Paths name a leaf by its keys and indices joined with
dots ("layers.0.weight")."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Callable

__all__ = ["tree_flatten", "tree_map", "tree_map_with_path", "tree_reduce", "tree_unflatten"]


def _is_node(tree, is_leaf):
    return (is_leaf is None or not is_leaf(tree)) and isinstance(tree, (list, tuple, dict))


def _rebuild(tree, children):
    if isinstance(tree, dict):
        return dict(zip(tree.keys(), children))
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):  # namedtuple
        return type(tree)(*children)
    return type(tree)(children)


def tree_map(fn: Callable, tree: Any, *rest: Any, is_leaf: Callable | None = None) -> Any:
    """Applies ``fn`` to the leaves of ``tree`` (and the matching leaves of each tree
    in ``rest``, which must have at least ``tree``'s structure), keeping the structure.

    ``is_leaf`` decides which nodes count as leaves (default: anything that is not
    a list, tuple or dict).
    """
    if not _is_node(tree, is_leaf):
        return fn(tree, *rest)
    keys = tree.keys() if isinstance(tree, dict) else range(len(tree))
    children = [tree_map(fn, tree[k], *(r[k] for r in rest), is_leaf=is_leaf) for k in keys]
    return _rebuild(tree, children)


def tree_map_with_path(
    fn: Callable, tree: Any, *rest: Any, is_leaf: Callable | None = None, path: str | None = None
) -> Any:
    """As :func:`tree_map`, with ``fn(path, leaf, *rest_leaves)``; ``path`` is the dotted
    path of the leaf (``None`` for a tree that is itself a leaf)."""
    if not _is_node(tree, is_leaf):
        return fn(path, tree, *rest)
    prefix = f"{path}." if path else ""
    keys = tree.keys() if isinstance(tree, dict) else range(len(tree))
    children = [
        tree_map_with_path(fn, tree[k], *(r[k] for r in rest), is_leaf=is_leaf, path=f"{prefix}{k}") for k in keys
    ]
    return _rebuild(tree, children)


def tree_flatten(tree: Any, prefix: str = "", is_leaf: Callable | None = None) -> list[tuple[str, Any]]:
    """The leaves of ``tree`` as a list of ``(path, leaf)`` pairs, depth first.

    >>> tree_flatten([[[0]]])
    [('0.0.0', 0)]
    >>> tree_flatten({"a": {"b": 1}}, prefix=".hello")
    [('hello.a.b', 1)]
    """
    if not _is_node(tree, is_leaf):
        return [(prefix[1:], tree)]
    items = tree.items() if isinstance(tree, dict) else enumerate(tree)
    flat = []
    for k, child in items:
        flat.extend(tree_flatten(child, f"{prefix}.{k}", is_leaf))
    return flat


def tree_unflatten(tree: list[tuple[str, Any]]) -> Any:
    """The tree of a list of ``(path, leaf)`` pairs (the inverse of :func:`tree_flatten`).
    Integer path components make lists (missing positions are filled with ``{}``),
    others make dicts.

    >>> tree_unflatten([("0.0.0", 0)])
    [[[0]]]
    """
    if len(tree) == 1 and tree[0][0] == "":
        return tree[0][1]
    try:
        int(tree[0][0].split(".", maxsplit=1)[0])
        is_list = True
    except ValueError:
        is_list = False
    children = defaultdict(list)
    for key, value in tree:
        head, *tail = key.split(".", maxsplit=1)
        children[head].append((tail[0] if tail else "", value))
    if not is_list:
        return {k: tree_unflatten(v) for k, v in children.items()}
    out = []
    for i, k in sorted((int(k), k) for k in children):
        out.extend({} for _ in range(i - len(out)))
        out.append(tree_unflatten(children[k]))
    return out


def tree_reduce(fn: Callable, tree: Any, initializer: Any = None, is_leaf: Callable | None = None) -> Any:
    """Folds ``fn(accumulator, leaf)`` over the leaves of ``tree``, depth first. Without
    an ``initializer`` the first leaf starts the accumulation.

    >>> tree_reduce(lambda acc, x: acc + x, {"a": [1, 2], "b": 3}, 0)
    6
    """
    if not _is_node(tree, is_leaf):
        return tree if initializer is None else fn(initializer, tree)
    acc = initializer
    for child in tree.values() if isinstance(tree, dict) else tree:
        acc = tree_reduce(fn, child, acc, is_leaf)
    return acc
