"""ember.nn: neural-network modules, losses and initializers in pure Python
on ember.core, mirroring mlx.nn (``import ember.nn as nn``)."""

from . import init, losses  # noqa: F401
from .layers import *
from .layers.base import Module  # noqa: F401
from .utils import checkpoint, value_and_grad  # noqa: F401
