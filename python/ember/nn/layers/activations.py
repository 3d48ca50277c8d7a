"""Activation functions and their module forms, as in mlx.nn."""

import math
from typing import Any

import ember.core as mx

from .base import Module


def sigmoid(x):
    r"""Element-wise logistic sigmoid :math:`1 / (1 + e^{-x})`."""
    return mx.sigmoid(x)


def relu(x):
    r"""Rectified linear unit :math:`\max(x, 0)`."""
    return mx.maximum(x, 0)


def relu2(x):
    r"""Squared ReLU :math:`\max(x, 0)^2`."""
    return mx.square(mx.maximum(x, 0))


def relu6(x):
    r"""Rectified linear unit 6 :math:`\min(\max(x, 0), 6)`."""
    return mx.minimum(mx.maximum(x, 0), 6.0)


def leaky_relu(x, negative_slope=0.01):
    r"""Leaky ReLU :math:`\max(\text{negative\_slope} \cdot x, x)`."""
    return mx.maximum(negative_slope * x, x)


def log_softmax(x, axis=-1):
    r"""Log softmax :math:`x - \log \sum_i e^{x_i}` along ``axis``."""
    return x - mx.logsumexp(x, axis=axis, keepdims=True)


def elu(x, alpha=1.0):
    r"""Exponential linear unit: ``x`` if ``x > 0`` else ``alpha * (exp(x) - 1)``."""
    return mx.where(x > 0, x, alpha * (mx.exp(x) - 1))


def softmax(x, axis=-1):
    r"""Softmax :math:`e^{x_i} / \sum_j e^{x_j}` along ``axis``."""
    return mx.softmax(x, axis=axis)


def softplus(x):
    r"""Softplus :math:`\log(1 + e^x)`."""
    return mx.logaddexp(x, 0)


def softsign(x):
    r"""Softsign :math:`x / (1 + |x|)`."""
    return mx.divide(x, 1 + mx.abs(x))


def softshrink(x, lambd: float = 0.5):
    r"""Softshrink: ``x - lambd`` if ``x > lambd``, ``x + lambd`` if ``x < -lambd``, else 0."""
    return mx.where(mx.abs(x) > lambd, x - mx.sign(x) * lambd, 0)


def celu(x, alpha=1.0):
    r"""Continuously differentiable ELU :math:`\max(0, x) + \min(0, \alpha (e^{x/\alpha} - 1))`."""
    return mx.maximum(x, 0.0) + alpha * (mx.exp(mx.minimum(x, 0.0) / alpha) - 1)


def silu(x):
    r"""Sigmoid linear unit (swish) :math:`x \sigma(x)`."""
    return x * mx.sigmoid(x)


def log_sigmoid(x):
    r"""Log sigmoid :math:`\log \sigma(x) = -\text{softplus}(-x)`."""
    return -softplus(-x)


def gelu(x) -> mx.array:
    r"""Gaussian error linear unit :math:`x \Phi(x)` with the exact Gaussian CDF."""
    return x * (1 + mx.erf(x / math.sqrt(2))) / 2


def gelu_approx(x):
    r"""GELU with the tanh approximation
    :math:`0.5 x (1 + \tanh(\sqrt{2/\pi} (x + 0.044715 x^3)))`."""
    return 0.5 * x * (1 + mx.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def gelu_fast_approx(x):
    r"""GELU with the sigmoid approximation :math:`x \sigma(1.702 x)`."""
    return x * mx.sigmoid(1.702 * x)


def glu(x: mx.array, axis: int = -1) -> mx.array:
    r"""Gated linear unit: split ``x`` in halves ``a, b`` along ``axis`` and return :math:`a \sigma(b)`."""
    a, b = mx.split(x, indices_or_sections=2, axis=axis)
    return a * mx.sigmoid(b)


def step(x: mx.array, threshold: float = 0.0):
    r"""Binary step: 1 where ``x > threshold`` else 0."""
    return mx.where(x > threshold, 1, 0)


def selu(x):
    r"""Scaled ELU: ``1.0507 * elu(x, 1.67326)``."""
    return elu(x, 1.67326) * 1.0507


def prelu(x: mx.array, alpha: mx.array) -> mx.array:
    r"""Parametric ReLU :math:`\max(0, x) + \alpha \min(0, x)`."""
    return mx.maximum(0, x) + alpha * mx.minimum(0.0, x)


def mish(x: mx.array) -> mx.array:
    r"""Mish :math:`x \tanh(\text{softplus}(x))`."""
    return x * mx.tanh(softplus(x))


def hardswish(x):
    r"""Hard swish :math:`x \min(\max(x + 3, 0), 6) / 6`."""
    max_x_3 = mx.maximum(x + 3, 0)
    return x * mx.minimum(max_x_3, 6) / 6


def hard_tanh(x, min_val=-1.0, max_val=1.0):
    r"""HardTanh: clip ``x`` to ``[min_val, max_val]``."""
    return mx.minimum(mx.maximum(x, min_val), max_val)


def hard_shrink(x, lambd=0.5):
    r"""Hard shrink: ``x`` where ``|x| > lambd`` else 0."""
    return mx.where(mx.abs(x) > lambd, x, 0)


def softmin(x, axis=-1):
    r"""Softmin: ``softmax(-x)`` along ``axis``."""
    return mx.softmax(-x, axis=axis)


def tanh(x):
    r"""Hyperbolic tangent."""
    return mx.tanh(x)


class GLU(Module):
    r"""Gated linear unit module, see :func:`glu`."""

    def __init__(self, axis: int = -1):
        super().__init__()
        self.axis = axis

    def __call__(self, x) -> Any:
        return glu(x=x, axis=self.axis)


class Sigmoid(Module):
    r"""Logistic sigmoid, see :func:`sigmoid`."""

    def __call__(self, x):
        return sigmoid(x)


class Mish(Module):
    r"""Mish, see :func:`mish`."""

    def __call__(self, x):
        return mish(x)


class ReLU(Module):
    r"""ReLU, see :func:`relu`."""

    def __call__(self, x):
        return relu(x)


class ReLU2(Module):
    r"""Squared ReLU, see :func:`relu2`."""

    def __call__(self, x):
        return relu2(x)


class LeakyReLU(Module):
    r"""Leaky ReLU, see :func:`leaky_relu`."""

    def __init__(self, negative_slope=1e-2):
        super().__init__()
        self._negative_slope = negative_slope

    def __call__(self, x):
        return leaky_relu(x, self._negative_slope)


class ELU(Module):
    r"""ELU, see :func:`elu`."""

    def __init__(self, alpha=1.0):
        super().__init__()
        self._alpha = alpha

    def __call__(self, x):
        return elu(x, self._alpha)


class ReLU6(Module):
    r"""ReLU6, see :func:`relu6`."""

    def __call__(self, x):
        return relu6(x)


class Softmax(Module):
    r"""Softmax over the last axis, see :func:`softmax`."""

    def __call__(self, x):
        return softmax(x)


class Softplus(Module):
    r"""Softplus, see :func:`softplus`."""

    def __call__(self, x):
        return softplus(x)


class Softsign(Module):
    r"""Softsign, see :func:`softsign`."""

    def __call__(self, x):
        return softsign(x)


class Softshrink(Module):
    r"""Softshrink, see :func:`softshrink`."""

    def __init__(self, lambd=0.5):
        super().__init__()
        self.lambd = lambd

    def __call__(self, x):
        return softshrink(x, self.lambd)


class CELU(Module):
    r"""CELU, see :func:`celu`."""

    def __init__(self, alpha=1.0):
        super().__init__()
        self._alpha = alpha

    def __call__(self, x):
        return celu(x, self._alpha)


class SiLU(Module):
    r"""SiLU, see :func:`silu`."""

    def __call__(self, x):
        return silu(x)


class LogSoftmax(Module):
    r"""Log softmax over the last axis, see :func:`log_softmax`."""

    def __call__(self, x):
        return log_softmax(x)


class LogSigmoid(Module):
    r"""Log sigmoid, see :func:`log_sigmoid`."""

    def __call__(self, x):
        return log_sigmoid(x)


class PReLU(Module):
    r"""Parametric ReLU with a learnable slope ``weight`` of shape ``(num_parameters,)``."""

    def __init__(self, num_parameters=1, init=0.25):
        super().__init__()
        self.weight = mx.full([num_parameters], init)

    def __call__(self, x: mx.array):
        return prelu(x, self.weight)


class GELU(Module):
    r"""GELU. ``approx`` is ``'none'`` (exact), ``'precise'`` or ``'tanh'``
    (tanh approximation, :func:`gelu_approx`) or ``'fast'`` (:func:`gelu_fast_approx`)."""

    def __init__(self, approx="none"):
        super().__init__()
        self._approx = approx
        if approx == "none":
            self._act = gelu
        elif approx in ("precise", "tanh"):
            self._act = gelu_approx
        elif approx == "fast":
            self._act = gelu_fast_approx
        else:
            raise ValueError(
                f"The approximation should be in ['none', 'precise', 'tanh', 'fast'] but '{approx}' was given"
            )

    def __call__(self, x):
        return self._act(x)


class Tanh(Module):
    r"""Hyperbolic tangent, see :func:`tanh`."""

    def __call__(self, x):
        return tanh(x)


class Hardswish(Module):
    r"""Hard swish, see :func:`hardswish`."""

    def __call__(self, x):
        return hardswish(x)


class Step(Module):
    r"""Binary step, see :func:`step`."""

    def __init__(self, threshold: float = 0.0):
        super().__init__()
        self.threshold = threshold

    def __call__(self, x: mx.array):
        return step(x, self.threshold)


class SELU(Module):
    r"""SELU, see :func:`selu`."""

    def __call__(self, x):
        return selu(x)


class HardTanh(Module):
    r"""HardTanh, see :func:`hard_tanh`."""

    def __call__(self, x):
        return hard_tanh(x)


class HardShrink(Module):
    r"""Hard shrink, see :func:`hard_shrink`."""

    def __call__(self, x):
        return hard_shrink(x)


class Softmin(Module):
    r"""Softmin over the last axis, see :func:`softmin`."""

    def __call__(self, x):
        return softmin(x)
