"""Transforms over modules: value_and_grad and checkpoint, as in mlx.nn."""

from __future__ import annotations

from functools import wraps
from typing import Callable

import ember.core as mx

from .layers.base import Module


def value_and_grad(model: Module, fn: Callable):
    """Transform ``fn`` so that it returns its value and the gradient with
    respect to ``model.trainable_parameters()``.

    The returned function has the same signature as ``fn`` and returns
    ``(value, grads)`` where ``grads`` has the tree structure of the trainable
    parameters.
    """

    def inner_fn(params, *args, **kwargs):
        model.update(params)
        return fn(*args, **kwargs)

    value_grad_fn = mx.value_and_grad(inner_fn)

    @wraps(fn)
    def wrapped_value_grad_fn(*args, **kwargs):
        value, grad = value_grad_fn(model.trainable_parameters(), *args, **kwargs)
        return value, grad

    return wrapped_value_grad_fn


def checkpoint(module: Module, fn: Callable | None = None):
    """Transform ``fn`` (default: ``module.__call__``) so its intermediate
    values are recomputed in the backward pass instead of stored."""
    if fn is None:
        fn = module.__call__

    def inner_fn(params, *args, **kwargs):
        module.update(params)
        return fn(*args, **kwargs)

    checkpointed_fn = mx.checkpoint(inner_fn)

    @wraps(fn)
    def wrapped_checkpointed_fn(*args, **kwargs):
        return checkpointed_fn(module.trainable_parameters(), *args, **kwargs)

    return wrapped_checkpointed_fn
