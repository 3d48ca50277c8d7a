"""Pooling layers (channels last), as in mlx.nn."""

from __future__ import annotations

import operator
from itertools import accumulate

import ember.core as mx

from .base import Module


def _value_or_list(x, n, msg):
    if isinstance(x, (list, tuple)):
        if len(x) != n:
            raise ValueError(msg)
        return list(x)
    if not isinstance(x, int):
        raise ValueError(msg)  # noqa: TRY004 (as MLX)
    return [x] * n


def _sliding_windows(x, window_shape, window_strides):
    if x.ndim < 3:
        raise ValueError(
            f"To extract sliding windows at least 1 spatial dimension (3 total) is needed but the input only has {x.ndim} dimensions."
        )
    spatial_dims = x.shape[1:-1]
    if not (len(spatial_dims) == len(window_shape) == len(window_strides)):
        raise ValueError(
            "To extract sliding windows the window shapes and strides must have the same number of spatial "
            f"dimensions as the signal but the signal has {len(spatial_dims)} dims and the window shape has "
            f"{len(window_shape)} and strides have {len(window_strides)}."
        )
    x = mx.contiguous(x)
    shape = x.shape
    strides = list(reversed(list(accumulate(reversed(shape + (1,)), operator.mul))))[1:]
    # Compute the output shape
    final_shape = [shape[0]]
    final_shape += [
        (size - window) // stride + 1 for size, window, stride in zip(spatial_dims, window_shape, window_strides)
    ]
    final_shape += window_shape
    final_shape += [shape[-1]]
    # Compute the output strides
    final_strides = strides[:1]
    final_strides += [og_stride * stride for og_stride, stride in zip(strides[1:-1], window_strides)]
    final_strides += strides[1:-1]
    final_strides += strides[-1:]  # should always be [1]
    return mx.as_strided(x, final_shape, final_strides)


class _Pool(Module):
    def __init__(self, pooling_function, kernel_size, stride, padding, padding_value):
        super().__init__()
        self._pooling_function = pooling_function
        self._kernel_size = kernel_size
        self._stride = stride
        self._padding = padding
        self._padding_value = padding_value
        self._axes = tuple(range(-len(self._kernel_size) - 1, -1, 1))

    def _extra_repr(self):
        ks = tuple(self._kernel_size)
        st = tuple(self._stride)
        pd = tuple(p[0] for p in self._padding)
        return f"kernel_size={ks}, stride={st}, padding={pd}"

    def __call__(self, x):
        if any(p[0] > 0 for p in self._padding):
            x = mx.pad(x, [(0, 0)] + self._padding + [(0, 0)], constant_values=self._padding_value)
        x = _sliding_windows(x, self._kernel_size, self._stride)
        return self._pooling_function(x, self._axes)


class _PoolNd(_Pool):
    def __init__(self, pooling_function, padding_value, kernel_size, stride, padding, n):
        class_name = type(self).__name__
        msg = "[{}] '{}' must be an integer or a tuple containing {} integers"
        kernel_size = _value_or_list(kernel_size, n, msg.format(class_name, "kernel_size", n))
        if stride is not None:
            stride = _value_or_list(stride, n, msg.format(class_name, "stride", n))
        else:
            stride = kernel_size
        padding = _value_or_list(padding, n, msg.format(class_name, "padding", n))
        padding = [(p, p) for p in padding]
        super().__init__(pooling_function, kernel_size, stride, padding, padding_value)


def _max(x, axes):
    return mx.max(x, axes)


def _mean(x, axes):
    return mx.mean(x, axes)


class MaxPool1d(_PoolNd):
    r"""1-D max pooling over ``NLC`` input; ``stride`` defaults to
    ``kernel_size`` and ``padding`` pads with ``-inf``."""

    def __init__(
        self, kernel_size: int | tuple[int], stride: int | tuple[int] | None = None, padding: int | tuple[int] = 0
    ):
        super().__init__(_max, float("-inf"), kernel_size, stride, padding, 1)


class MaxPool2d(_PoolNd):
    r"""2-D max pooling over ``NHWC`` input."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__(_max, float("-inf"), kernel_size, stride, padding, 2)


class MaxPool3d(_PoolNd):
    r"""3-D max pooling over ``NDHWC`` input."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__(_max, float("-inf"), kernel_size, stride, padding, 3)


class AvgPool1d(_PoolNd):
    r"""1-D average pooling over ``NLC`` input; ``padding`` pads with zeros
    (which count in the average, as in MLX)."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__(_mean, 0, kernel_size, stride, padding, 1)


class AvgPool2d(_PoolNd):
    r"""2-D average pooling over ``NHWC`` input."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__(_mean, 0, kernel_size, stride, padding, 2)


class AvgPool3d(_PoolNd):
    r"""3-D average pooling over ``NDHWC`` input."""

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__(_mean, 0, kernel_size, stride, padding, 3)
