"""Convolutions (channels last), as in mlx.nn."""

import math

import ember.core as mx

from .base import Module


def _ntuple(x, n):
    return (x,) * n if isinstance(x, int) else tuple(x)


class _ConvNd(Module):
    _nd = 1
    _transpose = False
    _op = "conv1d"  # the ember.core function that applies the layer

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
        wshape = (out_channels, *kernel_size, in_channels // groups)
        self.weight = mx.random.uniform(low=-scale, high=scale, shape=wshape)
        if bias:
            self.bias = mx.zeros((out_channels,))
        self.stride = stride if n == 1 else _ntuple(stride, n)
        self.padding = padding if n == 1 else _ntuple(padding, n)
        self.dilation = dilation if n == 1 else _ntuple(dilation, n)
        self.output_padding = output_padding if n == 1 else _ntuple(output_padding, n)
        self.groups = groups

    def __call__(self, x):
        extra = (self.output_padding,) if self._transpose else ()
        y = getattr(mx, self._op)(x, self.weight, self.stride, self.padding, self.dilation, *extra, self.groups)
        return y + self.bias if "bias" in self else y

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


class _Conv(_ConvNd):
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


class _ConvTranspose(_ConvNd):
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


class Conv1d(_Conv):
    r"""1-D convolution over ``NLC`` input. ``weight`` has shape
    ``(out_channels, kernel_size, in_channels // groups)``, initialised from
    :math:`\mathcal{U}(-k, k)`, :math:`k = 1/\sqrt{C_{in} K}`; ``bias`` zeros."""

    _nd, _op = 1, "conv1d"


class Conv2d(_Conv):
    r"""2-D convolution over ``NHWC`` input; ``weight`` has shape
    ``(out_channels, kh, kw, in_channels // groups)``."""

    _nd, _op = 2, "conv2d"


class Conv3d(_Conv):
    r"""3-D convolution over ``NDHWC`` input; ``weight`` has shape
    ``(out_channels, kd, kh, kw, in_channels // groups)``."""

    _nd, _op = 3, "conv3d"


class ConvTranspose1d(_ConvTranspose):
    r"""1-D transposed convolution over ``NLC`` input; ``weight`` has shape
    ``(out_channels, kernel_size, in_channels // groups)``."""

    _nd, _op = 1, "conv_transpose1d"


class ConvTranspose2d(_ConvTranspose):
    r"""2-D transposed convolution over ``NHWC`` input."""

    _nd, _op = 2, "conv_transpose2d"


class ConvTranspose3d(_ConvTranspose):
    r"""3-D transposed convolution over ``NDHWC`` input."""

    _nd, _op = 3, "conv_transpose3d"
