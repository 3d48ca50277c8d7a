"""Loss functions, as in mlx.nn.losses. ``reduction`` is ``'none'``,
``'mean'`` or ``'sum'``."""

from __future__ import annotations

import math
from typing import Literal

import ember.core as mx

Reduction = Literal["none", "mean", "sum"]


def _reduce(loss: mx.array, reduction: Reduction = "none"):
    if reduction == "mean":
        return mx.mean(loss)
    elif reduction == "sum":
        return mx.sum(loss)
    elif reduction == "none":
        return loss
    else:
        raise ValueError("Invalid reduction. Must be 'none', 'mean', or 'sum'.")


def cross_entropy(
    logits: mx.array,
    targets: mx.array,
    weights: mx.array | None = None,
    axis: int = -1,
    label_smoothing: float = 0.0,
    reduction: Reduction = "none",
) -> mx.array:
    r"""Cross entropy between ``logits`` (unnormalised) and ``targets``.

    ``targets`` are class indices (shape of ``logits`` without ``axis``) or
    probabilities / one-hot vectors (same shape as ``logits``). ``weights``
    (broadcastable to the loss) scale each element's loss; ``label_smoothing``
    in ``[0, 1)`` mixes the targets with the uniform distribution.
    """
    if label_smoothing < 0 or label_smoothing >= 1:
        raise ValueError(f"Label smoothing must in [0, 1), got {label_smoothing}.")

    # Whether targets are class indices or probabilities
    targets_as_probs = targets.ndim == logits.ndim

    def _drop_dim(shape, axis):
        shape = list(shape)
        shape.pop(axis)
        return shape

    # Check shapes in two cases: targets as class indices and targets as probabilities
    if (targets_as_probs and targets.shape != logits.shape) or (
        not targets_as_probs and targets.shape != tuple(_drop_dim(logits.shape, axis))
    ):
        raise ValueError(f"Targets shape {targets.shape} does not match logits shape {logits.shape}.")

    if targets_as_probs:
        score = mx.sum(logits * targets, axis=axis)
    else:
        score = mx.take_along_axis(logits, mx.expand_dims(targets, axis), axis).squeeze(axis)

    logsumexp_logits = mx.logsumexp(logits, axis=axis)
    if label_smoothing > 0:
        # Adjust the true class score with label smoothing
        adjusted_score = (1 - label_smoothing) * score
        # Calculate the mean logit across the classes for smoothed loss
        mean_logits = logits.mean(axis=axis)
        smoothed_loss = -mean_logits * label_smoothing
        # Combine the adjusted score and smoothed loss with the logsumexp logits
        loss = logsumexp_logits - adjusted_score + smoothed_loss
    else:
        loss = logsumexp_logits - score

    # Apply weights if provided
    if weights is not None:
        if weights.shape != loss.shape:
            raise ValueError(
                f"Weights with shape {weights.shape} is not the same as output loss with shape {loss.shape}."
            )
        loss *= weights

    return _reduce(loss, reduction)


def binary_cross_entropy(
    inputs: mx.array,
    targets: mx.array,
    weights: mx.array | None = None,
    with_logits: bool = True,
    reduction: Reduction = "mean",
) -> mx.array:
    r"""Binary cross entropy. ``inputs`` are logits (``with_logits=True``,
    computed stably as ``logaddexp(0, x) - x * t``) or probabilities."""
    if inputs.shape != targets.shape:
        raise ValueError(f"Inputs shape {inputs.shape} does not match targets shape {targets.shape}.")

    if with_logits:
        loss = mx.logaddexp(0.0, inputs) - inputs * targets
    else:
        log_inputs_clip = mx.clip(mx.log(inputs), a_min=-100, a_max=None)
        log_inputs_inv_clip = mx.clip(mx.log(1 - inputs), a_min=-100, a_max=None)
        loss = -(targets * log_inputs_clip + (1 - targets) * log_inputs_inv_clip)

    # Apply weights if provided
    if weights is not None:
        if weights.shape != loss.shape:
            raise ValueError(
                f"Weights with shape {weights.shape} is not the same as output loss with shape {loss.shape}."
            )
        loss *= weights

    return _reduce(loss, reduction)


def l1_loss(predictions: mx.array, targets: mx.array, reduction: Reduction = "mean") -> mx.array:
    r"""Mean absolute error :math:`|p - t|`."""
    if predictions.shape != targets.shape:
        raise ValueError(f"Predictions shape {predictions.shape} does not match targets shape {targets.shape}.")
    loss = mx.abs(predictions - targets)
    return _reduce(loss, reduction)


def mse_loss(predictions: mx.array, targets: mx.array, reduction: Reduction = "mean") -> mx.array:
    r"""Mean squared error :math:`(p - t)^2`."""
    if predictions.shape != targets.shape:
        raise ValueError(f"Predictions shape {predictions.shape} does not match targets shape {targets.shape}.")
    loss = mx.square(predictions - targets)
    return _reduce(loss, reduction)


def nll_loss(inputs: mx.array, targets: mx.array, axis: int = -1, reduction: Reduction = "none") -> mx.array:
    r"""Negative log likelihood of the class indices ``targets`` given
    log-probabilities ``inputs``."""
    loss = -mx.take_along_axis(inputs, mx.expand_dims(targets, axis), axis).squeeze(axis)
    return _reduce(loss, reduction)


def gaussian_nll_loss(
    inputs: mx.array,
    targets: mx.array,
    vars: mx.array,
    full: bool = False,
    eps: float = 1e-6,
    reduction: Reduction = "mean",
) -> mx.array:
    r"""Negative log likelihood of ``targets`` under a Gaussian with mean
    ``inputs`` and variance ``vars``:
    :math:`\frac12(\log\max(v, \epsilon) + (t - \mu)^2 / \max(v, \epsilon))`
    plus :math:`\frac12\log 2\pi` when ``full``."""
    if inputs.shape != targets.shape:
        raise ValueError(f"Inputs shape {inputs.shape} does not match targets shape {targets.shape}.")
    if inputs.shape != vars.shape:
        raise ValueError(f"Inputs shape {inputs.shape} does not match vars shape {vars.shape}.")

    # For stability
    vars = mx.maximum(vars, eps)
    loss = 0.5 * (mx.log(vars) + mx.square(targets - inputs) / vars)
    if full:
        loss += 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def kl_div_loss(inputs: mx.array, targets: mx.array, axis: int = -1, reduction: Reduction = "none") -> mx.array:
    r"""Kullback-Leibler divergence with log-probabilities ``inputs`` and
    ``targets``: :math:`\sum e^{t} (t - x)` along ``axis``."""
    loss = mx.sum(mx.exp(targets) * (targets - inputs), axis)
    return _reduce(loss, reduction)


def smooth_l1_loss(
    predictions: mx.array, targets: mx.array, beta: float = 1.0, reduction: Reduction = "mean"
) -> mx.array:
    r"""Smooth L1: :math:`0.5 d^2 / \beta` where :math:`|d| < \beta`, else :math:`|d| - 0.5\beta`."""
    if predictions.shape != targets.shape:
        raise ValueError(f"Predictions shape {predictions.shape} does not match targets shape {targets.shape}.")
    diff = mx.abs(predictions - targets)
    loss = mx.where(diff < beta, 0.5 * mx.square(diff) / beta, diff - 0.5 * beta)
    return _reduce(loss, reduction)


def triplet_loss(
    anchors: mx.array,
    positives: mx.array,
    negatives: mx.array,
    axis: int = -1,
    p: int = 2,
    margin: float = 1.0,
    eps: float = 1e-6,
    reduction: Reduction = "none",
) -> mx.array:
    r"""Triplet margin loss
    :math:`\max(\|a - p\|_p - \|a - n\|_p + \text{margin}, 0)`, with the norm
    computed as :math:`\sqrt{\sum d^p + \epsilon}` (as in MLX)."""
    loss = mx.maximum(
        mx.sqrt(mx.power(anchors - positives, p).sum(axis) + eps)
        - mx.sqrt(mx.power(anchors - negatives, p).sum(axis) + eps)
        + margin,
        0,
    )
    return _reduce(loss, reduction)


def hinge_loss(inputs: mx.array, targets: mx.array, reduction: Reduction = "none") -> mx.array:
    r"""Hinge loss :math:`\max(1 - y x, 0)` with targets in {-1, 1}."""
    loss = mx.maximum(1 - inputs * targets, 0)
    return _reduce(loss, reduction)


def huber_loss(inputs: mx.array, targets: mx.array, delta: float = 1.0, reduction: Reduction = "none") -> mx.array:
    r"""Huber loss: :math:`\frac12 d^2` where :math:`|d| \le \delta`, else :math:`\delta(|d| - \frac12\delta)`."""
    errors = inputs - targets
    abs_errors = mx.abs(errors)
    quadratic = mx.minimum(abs_errors, delta)
    linear = abs_errors - quadratic
    loss = 0.5 * quadratic**2 + delta * linear
    return _reduce(loss, reduction)


def log_cosh_loss(inputs: mx.array, targets: mx.array, reduction: Reduction = "none") -> mx.array:
    r"""Log-cosh loss :math:`\log\cosh(x - t)` computed stably as
    :math:`\text{logaddexp}(d, -d) - \log 2`."""
    errors = inputs - targets
    loss = mx.logaddexp(errors, -errors) - math.log(2)
    return _reduce(loss, reduction)


def cosine_similarity_loss(
    x1: mx.array, x2: mx.array, axis: int = 1, eps: float = 1e-8, reduction: Reduction = "none"
) -> mx.array:
    r"""Cosine similarity :math:`\frac{x_1 \cdot x_2}{\max(\|x_1\| \|x_2\|, \epsilon)}` along ``axis``."""
    x1_norm = mx.linalg.norm(x1, axis=axis)
    x2_norm = mx.linalg.norm(x2, axis=axis)
    loss = mx.sum(x1 * x2, axis=axis) / mx.maximum(x1_norm * x2_norm, eps)
    return _reduce(loss, reduction)


def margin_ranking_loss(
    inputs1: mx.array, inputs2: mx.array, targets: mx.array, margin: float = 0.0, reduction: Reduction = "none"
) -> mx.array:
    r"""Margin ranking loss :math:`\max(0, -y (x_1 - x_2) + \text{margin})`."""
    if not (inputs1.shape == inputs2.shape == targets.shape):
        raise ValueError(
            f"The shapes of the arguments do not match. The provided shapes are inputs1.shape={inputs1.shape}, "
            f"inputs2.shape={inputs2.shape}, and targets.shape={targets.shape}."
        )
    differences = inputs1 - inputs2
    loss = mx.maximum(0, -targets * differences + margin)
    return _reduce(loss, reduction)
