"""Parameter initializers, as in mlx.nn.init: each returns a function that
fills an array of a given shape."""

import math
from typing import Callable, Literal

import ember.core as mx


def constant(value: float, dtype=mx.float32) -> Callable[[mx.array], mx.array]:
    """An initializer returning an array shaped like its input filled with ``value``."""

    def initializer(a: mx.array) -> mx.array:
        return mx.full(a.shape, value, dtype=dtype)

    return initializer


def normal(mean: float = 0.0, std: float = 1.0, dtype=mx.float32) -> Callable[[mx.array], mx.array]:
    """An initializer sampling from N(mean, std**2)."""

    def initializer(a: mx.array) -> mx.array:
        return mx.random.normal(shape=a.shape, scale=std, loc=mean, dtype=dtype)

    return initializer


def uniform(low: float = 0.0, high: float = 1.0, dtype=mx.float32) -> Callable[[mx.array], mx.array]:
    """An initializer sampling from U(low, high)."""

    def initializer(a: mx.array) -> mx.array:
        return mx.random.uniform(low, high, a.shape, dtype=dtype)

    return initializer


def identity(dtype=mx.float32) -> Callable[[mx.array], mx.array]:
    """An initializer returning an identity matrix (input must be square 2-D)."""

    def initializer(arr: mx.array) -> mx.array:
        if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
            raise ValueError(f"The input array must be a 2D and square matrix but got shape {arr.shape}.")
        return mx.eye(n=arr.shape[0], dtype=dtype)

    return initializer


def _calculate_fan_in_fan_out(x):
    if x.ndim < 2:
        raise ValueError(
            f"Glorot / He initialization requires at least 2 dimensional input but input with {x.ndim} dimensions."
        )
    fan_in = x.shape[-1]
    fan_out = x.shape[0]
    if x.ndim > 2:
        receptive_field = 1
        for d in x.shape[1:-1]:
            receptive_field *= d
        fan_in = fan_in * receptive_field
        fan_out = fan_out * receptive_field
    return fan_in, fan_out


def glorot_normal(dtype=mx.float32) -> Callable[[mx.array, float], mx.array]:
    """Glorot normal: std = gain * sqrt(2 / (fan_in + fan_out))."""

    def initializer(a: mx.array, gain: float = 1.0) -> mx.array:
        fan_in, fan_out = _calculate_fan_in_fan_out(a)
        std = gain * math.sqrt(2.0 / (fan_in + fan_out))
        return mx.random.normal(shape=a.shape, dtype=dtype) * std

    return initializer


def glorot_uniform(dtype=mx.float32) -> Callable[[mx.array, float], mx.array]:
    """Glorot uniform: U(-l, l) with l = gain * sqrt(6 / (fan_in + fan_out))."""

    def initializer(a: mx.array, gain: float = 1.0) -> mx.array:
        fan_in, fan_out = _calculate_fan_in_fan_out(a)
        limit = gain * math.sqrt(6.0 / (fan_in + fan_out))
        return mx.random.uniform(-limit, limit, a.shape, dtype=dtype)

    return initializer


def he_normal(dtype=mx.float32) -> Callable[[mx.array, Literal["fan_in", "fan_out"], float], mx.array]:
    """He normal: std = gain / sqrt(fan) with fan = fan_in or fan_out."""

    def initializer(a: mx.array, mode: str = "fan_in", gain: float = 1.0) -> mx.array:
        fan_in, fan_out = _calculate_fan_in_fan_out(a)
        if mode == "fan_in":
            fan = fan_in
        elif mode == "fan_out":
            fan = fan_out
        else:
            raise ValueError(f"Invalid mode: {mode}. Valid modes are: fan_in, fan_out")
        std = gain / math.sqrt(fan)
        return mx.random.normal(shape=a.shape, dtype=dtype) * std

    return initializer


def he_uniform(dtype=mx.float32) -> Callable[[mx.array, Literal["fan_in", "fan_out"], float], mx.array]:
    """He uniform: U(-l, l) with l = gain * sqrt(3 / fan)."""

    def initializer(a: mx.array, mode: str = "fan_in", gain: float = 1.0) -> mx.array:
        fan_in, fan_out = _calculate_fan_in_fan_out(a)
        if mode == "fan_in":
            fan = fan_in
        elif mode == "fan_out":
            fan = fan_out
        else:
            raise ValueError(f"Invalid mode: {mode}. Valid modes are: fan_in, fan_out")
        limit = gain * math.sqrt(3.0 / fan)
        return mx.random.uniform(-limit, limit, a.shape, dtype=dtype)

    return initializer
