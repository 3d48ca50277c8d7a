"""Dropout layers, as in mlx.nn."""

import ember.core as mx

from .base import Module


class Dropout(Module):
    r"""Randomly zero elements with probability ``p`` during training and
    scale the rest by :math:`1/(1-p)`. The identity in eval mode."""

    # Channel-wise variants: the input ranks they take and how many axes before the
    # channels share one mask value (0: every element has its own).
    _ranks = None
    _shared_axes = 0

    def __init__(self, p: float = 0.5):
        super().__init__()
        if p < 0 or p >= 1:
            raise ValueError(f"The dropout probability {p} is not in [0, 1)")
        self._p_1 = 1 - p

    def _extra_repr(self):
        return f"p={1 - self._p_1}"

    def __call__(self, x):
        if self._ranks is not None and x.ndim not in self._ranks:
            expected = " or ".join(str(r) for r in self._ranks)
            raise ValueError(f"Received input with {x.ndim} dimensions. Expected {expected} dimensions.")
        if self._p_1 == 1 or not self.training:
            return x
        mask_shape = list(x.shape)
        for k in range(2, 2 + self._shared_axes):
            mask_shape[-k] = 1
        mask = mx.random.bernoulli(p=self._p_1, shape=mask_shape)
        return (mask * x) * (1 / self._p_1)


class Dropout2d(Dropout):
    r"""Channel-wise dropout for inputs of shape ``NWHC`` or ``WHC``: entire
    channels are zeroed with probability ``p`` during training and the rest
    scaled by :math:`1/(1-p)`."""

    _ranks = (3, 4)
    _shared_axes = 2


class Dropout3d(Dropout):
    r"""Channel-wise dropout for inputs of shape ``NDHWC`` or ``DHWC``."""

    _ranks = (4, 5)
    _shared_axes = 3
