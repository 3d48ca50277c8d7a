"""Ember: lazy arrays, NumPy-style ops and composable transforms with MLX's
Python API. ``import ember.core as mx`` stands in for ``import mlx.core as mx``."""

from ember import core  # noqa: F401

__version__ = "0.1.0"
