"""Convolutions (channels last), as in mlx.nn."""

import math

import ember.core as mx

from .base import Module


def _ntuple(x, n):
    return (x,) * n if isinstance(x, int) else tuple(x)


class _ConvNd(Module):
    _nd = 1
    _transpose = False

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups=1,
        bias=True,
        output_padding=0,
    ):
        super().__init__()
        n = self._nd
        if in_channels % groups != 0:
            raise ValueError(
                f"The number of input channels ({in_channels}) must be divisible by the number of groups ({groups})"
            )
        kernel_size = _ntuple(kernel_size, n)
        scale = math.sqrt(1 / (in_channels * math.prod(kernel_size)))
        if self._transpose:
            wshape = (out_channels, *kernel_size, in_channels // groups)
        else:
            wshape = (out_channels, *kernel_size, in_channels // groups)
        self.weight = mx.random.uniform(low=-scale, high=scale, shape=wshape)
        if bias:
            self.bias = mx.zeros((out_channels,))
        self.stride = stride if n == 1 else _ntuple(stride, n)
        self.padding = padding if n == 1 else _ntuple(padding, n)
        self.dilation = dilation if n == 1 else _ntuple(dilation, n)
        self.output_padding = output_padding if n == 1 else _ntuple(output_padding, n)
        self.groups = groups

    def _extra_repr(self):
        w = self.weight.shape
        s = (
            f"{w[-1] * self.groups}, {w[0]}, kernel_size={w[1:-1] if self._nd > 1 else w[1]}, "
            f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
        )
        if self._transpose:
            s += f"output_padding={self.output_padding}, "
        s += f"groups={self.groups}, bias={'bias' in self}"
        return s


class Conv1d(_ConvNd):
    r"""1-D convolution over ``NLC`` input. ``weight`` has shape
    ``(out_channels, kernel_size, in_channels // groups)``, initialised from
    :math:`\mathcal{U}(-k, k)`, :math:`k = 1/\sqrt{C_{in} K}`; ``bias`` zeros."""

    _nd = 1

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        groups: int = 1,
        bias: bool = True,
    ):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias)

    def __call__(self, x):
        y = mx.conv1d(x, self.weight, self.stride, self.padding, self.dilation, self.groups)
        if "bias" in self:
            y = y + self.bias
        return y


class Conv2d(_ConvNd):
    r"""2-D convolution over ``NHWC`` input; ``weight`` has shape
    ``(out_channels, kh, kw, in_channels // groups)``."""

    _nd = 2

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        bias: bool = True,
    ):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias)

    def __call__(self, x):
        y = mx.conv2d(x, self.weight, self.stride, self.padding, self.dilation, self.groups)
        if "bias" in self:
            y = y + self.bias
        return y


class Conv3d(_ConvNd):
    r"""3-D convolution over ``NDHWC`` input; ``weight`` has shape
    ``(out_channels, kd, kh, kw, in_channels // groups)``."""

    _nd = 3

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        bias: bool = True,
    ):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias)

    def __call__(self, x):
        y = mx.conv3d(x, self.weight, self.stride, self.padding, self.dilation, self.groups)
        if "bias" in self:
            y = y + self.bias
        return y


class ConvTranspose1d(_ConvNd):
    r"""1-D transposed convolution over ``NLC`` input; ``weight`` has shape
    ``(out_channels, kernel_size, in_channels // groups)``."""

    _nd = 1
    _transpose = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        output_padding: int = 0,
        groups: int = 1,
        bias: bool = True,
    ):
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, output_padding
        )

    def __call__(self, x):
        y = mx.conv_transpose1d(
            x, self.weight, self.stride, self.padding, self.dilation, self.output_padding, self.groups
        )
        if "bias" in self:
            y = y + self.bias
        return y


class ConvTranspose2d(_ConvNd):
    r"""2-D transposed convolution over ``NHWC`` input."""

    _nd = 2
    _transpose = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        output_padding=0,
        groups: int = 1,
        bias: bool = True,
    ):
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, output_padding
        )

    def __call__(self, x):
        y = mx.conv_transpose2d(
            x, self.weight, self.stride, self.padding, self.dilation, self.output_padding, self.groups
        )
        if "bias" in self:
            y = y + self.bias
        return y


class ConvTranspose3d(_ConvNd):
    r"""3-D transposed convolution over ``NDHWC`` input."""

    _nd = 3
    _transpose = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        output_padding=0,
        groups: int = 1,
        bias: bool = True,
    ):
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, output_padding
        )

    def __call__(self, x):
        y = mx.conv_transpose3d(
            x, self.weight, self.stride, self.padding, self.dilation, self.output_padding, self.groups
        )
        if "bias" in self:
            y = y + self.bias
        return y
