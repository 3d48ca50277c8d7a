"""Upsampling (channels last), as in mlx.nn."""

from __future__ import annotations

from typing import Literal

import ember.core as mx

from .base import Module


def _nearest_indices(N, scale):
    # As MLX: for upsampling, the nearest input centre (rounded half to even);
    # for downsampling, floor(i * N / M).
    M = int(scale * N)
    indices = mx.arange(M, dtype=mx.float32)
    if M > N:
        indices = mx.round((indices + 0.5) * (N / M) - 0.5)
    else:
        indices = mx.floor(indices * (N / M))
    return mx.clip(indices, 0, N - 1).astype(mx.int32)


def upsample_nearest(x: mx.array, scale_factor: tuple):
    """Nearest-neighbour upsampling of the spatial axes of ``x`` (``N, ..., C``).
    Integer scales repeat each element; otherwise output ``i`` of ``M`` reads
    input ``round((i + 0.5) * N / M - 0.5)`` (``floor(i * N / M)`` when ``M <= N``)."""
    dims = x.ndim - 2
    if dims != len(scale_factor):
        raise ValueError("A scale needs to be provided for each spatial dimension")
    _N, *spatial, _C = x.shape
    for i, (d, s) in enumerate(zip(spatial, scale_factor)):
        idx = _nearest_indices(d, s)
        x = mx.take(x, idx, axis=i + 1)
    return x


def _scaled_indices(N, scale, align_corners):
    M = int(scale * N)
    if align_corners:
        indices = mx.arange(M, dtype=mx.float32) * ((N - 1) / max(M - 1, 1))
    else:
        step = 1 / scale
        start = ((M - 1) * step - N + 1) / 2
        indices = mx.arange(M, dtype=mx.float32) * step - start
    return indices


def upsample_linear(x: mx.array, scale_factor: tuple, align_corners: bool = False):
    """(Bi/tri)linear upsampling of the spatial axes of ``x`` (``N, ..., C``),
    separable over the axes."""
    dims = x.ndim - 2
    if dims != len(scale_factor):
        raise ValueError("A scale needs to be provided for each spatial dimension")
    _N, *spatial, _C = x.shape
    for i, (d, s) in enumerate(zip(spatial, scale_factor)):
        axis = i + 1
        idx = mx.clip(_scaled_indices(d, s, align_corners), 0, d - 1)
        il = mx.floor(idx)
        ir = mx.ceil(idx)
        w = idx - il
        if mx.issubdtype(x.dtype, mx.floating):
            w = w.astype(x.dtype)
        wshape = [1] * x.ndim
        wshape[axis] = -1
        w = w.reshape(wshape)
        xl = mx.take(x, il.astype(mx.int32), axis=axis)
        xr = mx.take(x, ir.astype(mx.int32), axis=axis)
        x = xl * (1 - w) + xr * w
    return x


def _cubic_weight(d, near):
    a = -0.75  # as MLX (OpenCV convention)
    if near:
        return ((a + 2.0) * d - (a + 3.0)) * d * d + 1
    return (((d - 5) * d + 8) * d - 4) * a


def upsample_cubic(x: mx.array, scale_factor: tuple, align_corners: bool = False):
    """Bicubic (Keys kernel, a = -0.75) upsampling of the spatial axes of ``x``
    (``N, ..., C``), separable over the axes, border values repeated."""
    dims = x.ndim - 2
    if dims != len(scale_factor):
        raise ValueError("A scale needs to be provided for each spatial dimension")
    _N, *spatial, _C = x.shape
    for i, (d, s) in enumerate(zip(spatial, scale_factor)):
        axis = i + 1
        idx = _scaled_indices(d, s, align_corners)
        l1 = mx.floor(idx)
        r1 = l1 + 1
        taps = [(l1 - 1, False), (l1, True), (r1, True), (r1 + 1, False)]
        wshape = [1] * x.ndim
        wshape[axis] = -1
        out = None
        for t, near in taps:
            w = _cubic_weight(mx.abs(idx - t), near).reshape(wshape)
            if mx.issubdtype(x.dtype, mx.floating):
                w = w.astype(x.dtype)
            term = mx.take(x, mx.clip(t, 0, d - 1).astype(mx.int32), axis=axis) * w
            out = term if out is None else out + term
        x = out
    return x


class Upsample(Module):
    r"""Upsample the spatial axes of ``N, ..., C`` input by ``scale_factor``
    (a number or one per spatial axis) with ``mode`` ``'nearest'``,
    ``'linear'`` (bilinear/trilinear for 2-D/3-D) or ``'cubic'``.
    ``align_corners`` applies to ``'linear'`` and ``'cubic'``."""

    def __init__(
        self,
        scale_factor: float | tuple,
        mode: Literal["nearest", "linear", "cubic"] = "nearest",
        align_corners: bool = False,
    ):
        super().__init__()
        if mode not in ["nearest", "linear", "cubic"]:
            raise ValueError(f"[Upsample] Got unsupported upsampling algorithm: {mode}")
        if isinstance(scale_factor, (list, tuple)):
            self.scale_factor = tuple(map(float, scale_factor))
        else:
            self.scale_factor = float(scale_factor)
        self.mode = mode
        self.align_corners = align_corners

    def _extra_repr(self) -> str:
        return f"scale_factor={self.scale_factor}, mode={self.mode!r}, align_corners={self.align_corners}"

    def __call__(self, x: mx.array) -> mx.array:
        dims = x.ndim - 2
        if dims <= 0:
            raise ValueError(
                f"[Upsample] The input should have at least 1 spatial dimension which means it should be at least 3D but {x.ndim}D was provided"
            )
        scale_factor = self.scale_factor
        if isinstance(scale_factor, tuple):
            if len(scale_factor) != dims:
                raise ValueError(
                    f"[Upsample] One scale per spatial dimension is required but scale_factor={scale_factor} and the number of spatial dimensions were {dims}"
                )
        else:
            scale_factor = (scale_factor,) * dims
        if self.mode == "nearest":
            return upsample_nearest(x, scale_factor)
        if self.mode == "linear":
            return upsample_linear(x, scale_factor, self.align_corners)
        return upsample_cubic(x, scale_factor, self.align_corners)
