"""Optimizers and learning-rate schedules, as mlx.optimizers.

An optimizer keeps its state as a tree (``opt.state``): one dict per parameter
(at the parameter's position in the parameter tree) plus ``"step"`` and the
hyperparameters that may be scheduled (``"learning_rate"``). The state is made of
arrays only, so ``tree_flatten(opt.state)`` can be saved with ``ember.core.savez`` /
``save_safetensors`` and loaded back with ``opt.state = tree_unflatten(...)``.

>>> opt = SGD(learning_rate=0.1, momentum=0.9)
>>> opt.update(model, grads)            # model.update(opt.apply_gradients(grads, model))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Callable

import ember.core as mx
from ember.utils import tree_flatten, tree_map, tree_reduce, tree_unflatten

__all__ = [
    "SGD",
    "AdaDelta",
    "Adafactor",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Lion",
    "MultiOptimizer",
    "Optimizer",
    "RMSprop",
    "clip_grad_norm",
    "cosine_decay",
    "exponential_decay",
    "join_schedules",
    "linear_schedule",
    "step_decay",
]


# ----------------------------------------------------------------------------- base


class Optimizer:
    """The base class of the optimizers. Subclasses implement ``init_single(parameter,
    state)`` (fill the per-parameter ``state`` dict) and ``apply_single(gradient,
    parameter, state)`` (return the updated parameter, updating ``state`` in place)."""

    def __init__(self, schedulers=None):
        self._initialized = False
        self._state = {"step": mx.array(0, mx.uint64)}
        self._schedulers = dict(schedulers or {})

    def update(self, model, gradients):
        """Applies the gradients to the parameters of ``model`` (an ``nn.Module`` or
        anything with an ``update(tree)`` method that is also the parameter tree)."""
        model.update(self.apply_gradients(gradients, model))

    def init(self, parameters):
        """Initializes the state of the parameters in ``parameters`` that have none yet
        (state already present, e.g. loaded, is kept). Called by the first
        :meth:`apply_gradients`; call it yourself to have the state before that."""

        def update_state(params, state):
            if isinstance(params, (list, tuple)):
                state = list(state)
                for i in range(len(state)):
                    state[i] = update_state(params[i], state[i])
                if len(state) != len(params):
                    state.extend(tree_map(lambda _: {}, list(params[len(state) :])))
                return type(params)(state) if not hasattr(params, "_fields") else type(params)(*state)
            if isinstance(params, dict):
                for k, v in params.items():
                    if k not in state:
                        state[k] = tree_map(lambda _: {}, v)
                    else:
                        state[k] = update_state(v, state[k])
                return state
            return state

        update_state(parameters, self._state)
        tree_map(lambda p, s: s or self.init_single(p, s), parameters, self._state)
        self._initialized = True

    def init_single(self, parameter, state: dict):
        raise NotImplementedError

    def apply_gradients(self, gradients, parameters):
        """The updated parameters (a tree with ``gradients``' structure); advances the
        step and evaluates the schedules at the step before the increment."""
        if not self._initialized:
            self.init(gradients)
        for name, scheduler in self._schedulers.items():
            self.state[name] = scheduler(self.step)
        self.state["step"] = self.step + 1
        return tree_map(self.apply_single, gradients, parameters, self.state)

    def apply_single(self, gradient, parameter, state: dict):
        raise NotImplementedError

    @property
    def state(self):
        """The optimizer state (a tree of arrays)."""
        return self._state

    @state.setter
    def state(self, state):
        self._initialized = False
        self._state = state

    @property
    def step(self):
        return self.state["step"]

    @property
    def learning_rate(self):
        return self.state["learning_rate"]

    @learning_rate.setter
    def learning_rate(self, learning_rate: float | mx.array):
        self.state["learning_rate"] = mx.array(learning_rate)

    def _maybe_schedule(self, name: str, param: float | Callable):
        """Stores ``param`` in the state under ``name``; a callable is a schedule
        (step -> value) evaluated at every step."""
        if callable(param):
            self._schedulers[name] = param
            value = param(self.step)
        else:
            value = mx.array(param)
        self.state[name] = value


def _lr(opt, gradient):
    return opt.learning_rate.astype(gradient.dtype)


# ----------------------------------------------------------------------------- optimizers


class SGD(Optimizer):
    r"""Stochastic gradient descent, with optional momentum, dampening, Nesterov
    momentum and (L2) weight decay:

    .. math:: v_{t+1} = \mu v_t + (1 - \tau) g_t,\quad w_{t+1} = w_t - \lambda v_{t+1}
    """

    def __init__(
        self,
        learning_rate: float | Callable,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
    ):
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening.")
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.dampening = dampening
        self.nesterov = nesterov

    def init_single(self, parameter, state):
        state["v"] = mx.zeros_like(parameter)

    def apply_single(self, gradient, parameter, state):
        if self.weight_decay != 0:
            gradient = gradient + self.weight_decay * parameter
        lr = _lr(self, gradient)
        if self.momentum <= 0:
            return parameter - lr * gradient
        v = self.momentum * state.get("v")
        if self.dampening > 0:
            v = v + (1 - self.dampening) * gradient
        else:
            v = v + gradient
        update = gradient + self.momentum * v if self.nesterov else v
        state["v"] = v
        return parameter - lr * update


class RMSprop(Optimizer):
    r"""RMSprop: :math:`v_{t+1} = \alpha v_t + (1-\alpha) g_t^2`,
    :math:`w_{t+1} = w_t - \lambda g_t / (\sqrt{v_{t+1}} + \epsilon)`."""

    def __init__(self, learning_rate: float | Callable, alpha: float = 0.99, eps: float = 1e-8):
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.alpha = alpha
        self.eps = eps
        if self.alpha < 0.0:
            raise ValueError(f"RMSprop alpha should be >=0, {self.alpha} was provided instead")
        if self.eps < 0.0:
            raise ValueError(f"RMSprop epsilon should be >0, {self.eps} was provided instead")

    def init_single(self, parameter, state):
        state["v"] = mx.zeros_like(parameter)

    def apply_single(self, gradient, parameter, state):
        lr = _lr(self, gradient)
        v = self.alpha * state["v"] + (1 - self.alpha) * mx.square(gradient)
        state["v"] = v
        return parameter - lr * gradient / (mx.sqrt(v) + self.eps)


class Adagrad(Optimizer):
    r"""Adagrad: :math:`v_{t+1} = v_t + g_t^2`,
    :math:`w_{t+1} = w_t - \lambda g_t / (\sqrt{v_{t+1}} + \epsilon)`."""

    def __init__(self, learning_rate: float | Callable, eps: float = 1e-8):
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.eps = eps
        if self.eps < 0.0:
            raise ValueError(f"Adagrad epsilon should be >0, {self.eps} was provided instead")

    def init_single(self, parameter, state):
        state["v"] = mx.zeros_like(parameter)

    def apply_single(self, gradient, parameter, state):
        lr = _lr(self, gradient)
        v = state["v"] + mx.square(gradient)
        state["v"] = v
        return parameter - lr * gradient / (mx.sqrt(v) + self.eps)


class AdaDelta(Optimizer):
    r"""AdaDelta: :math:`v_{t+1} = \rho v_t + (1-\rho) g_t^2`,
    :math:`\Delta w = \sqrt{u_t + \epsilon}/\sqrt{v_{t+1} + \epsilon}\, g_t`,
    :math:`u_{t+1} = \rho u_t + (1-\rho)\Delta w^2`, :math:`w_{t+1} = w_t - \lambda \Delta w`."""

    def __init__(self, learning_rate: float | Callable, rho: float = 0.9, eps: float = 1e-6):
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.rho = rho
        self.eps = eps
        if self.rho < 0.0:
            raise ValueError(f"AdaDelta rho should be >=0, {self.rho} was provided instead")
        if self.eps < 0.0:
            raise ValueError(f"AdaDelta epsilon should be >0, {self.eps} was provided instead")

    def init_single(self, parameter, state):
        state["v"] = mx.zeros_like(parameter)
        state["u"] = mx.zeros_like(parameter)

    def apply_single(self, gradient, parameter, state):
        lr = _lr(self, gradient)
        rho, eps = self.rho, self.eps
        v = rho * state["v"] + (1 - rho) * mx.square(gradient)
        u = state["u"]
        d = mx.sqrt(u + eps) / mx.sqrt(v + eps) * gradient
        u = rho * u + (1 - rho) * mx.square(d)
        state["v"] = v
        state["u"] = u
        return parameter - lr * d


class Adam(Optimizer):
    r"""Adam. Without ``bias_correction`` (MLX's default):
    :math:`m_{t+1} = \beta_1 m_t + (1-\beta_1) g_t`,
    :math:`v_{t+1} = \beta_2 v_t + (1-\beta_2) g_t^2`,
    :math:`w_{t+1} = w_t - \lambda m_{t+1} / (\sqrt{v_{t+1}} + \epsilon)`; with it,
    :math:`m` and :math:`v` are divided by :math:`1-\beta_1^t` and :math:`1-\beta_2^t`."""

    def __init__(
        self,
        learning_rate: float | Callable,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        bias_correction: bool = False,
    ):
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.betas = betas
        self.eps = eps
        self.bias_correction = bias_correction

    def init_single(self, parameter, state):
        state["m"] = mx.zeros_like(parameter)
        state["v"] = mx.zeros_like(parameter)

    def apply_single(self, gradient, parameter, state):
        lr = _lr(self, gradient)
        b1, b2 = self.betas
        eps = self.eps
        m = b1 * state["m"] + (1 - b1) * gradient
        v = b2 * state["v"] + (1 - b2) * mx.square(gradient)
        state["m"] = m
        state["v"] = v
        if self.bias_correction:
            step = self.step
            c1 = (lr / (1 - b1**step)).astype(gradient.dtype)
            c2 = mx.rsqrt(1 - b2**step).astype(gradient.dtype)
            return parameter - c1 * m / (mx.sqrt(v) * c2 + eps)
        return parameter - lr * m / (mx.sqrt(v) + eps)


class AdamW(Adam):
    r"""Adam with decoupled weight decay: the parameter is first scaled by
    :math:`1 - \lambda \cdot \text{weight\_decay}`, then updated as by :class:`Adam`."""

    def __init__(
        self,
        learning_rate: float | Callable,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
        bias_correction: bool = False,
    ):
        super().__init__(learning_rate=learning_rate, betas=betas, eps=eps, bias_correction=bias_correction)
        self.weight_decay = weight_decay

    def apply_single(self, gradient, parameter, state):
        lr = _lr(self, gradient)
        return super().apply_single(gradient, parameter * (1 - lr * self.weight_decay), state)


class Adamax(Adam):
    r"""Adamax (Adam with the infinity norm): :math:`m_{t+1} = \beta_1 m_t + (1-\beta_1) g_t`,
    :math:`v_{t+1} = \max(\beta_2 v_t, |g_t|)`,
    :math:`w_{t+1} = w_t - \lambda m_{t+1} / (v_{t+1} + \epsilon)`."""

    def __init__(self, learning_rate: float | Callable, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        super().__init__(learning_rate, betas, eps)
        if not 0.0 <= eps:
            raise ValueError(f"Epsilon value should be >=0, {self.eps} was provided instead")

    def apply_single(self, gradient, parameter, state):
        lr = _lr(self, gradient)
        b1, b2 = self.betas
        m = b1 * state["m"] + (1 - b1) * gradient
        v = mx.maximum(b2 * state["v"], mx.abs(gradient))
        state["m"] = m
        state["v"] = v
        return parameter - lr * m / (v + self.eps)


class Lion(Optimizer):
    r"""Lion: :math:`c = \beta_1 m_t + (1-\beta_1) g_t`,
    :math:`m_{t+1} = \beta_2 m_t + (1-\beta_2) g_t`,
    :math:`w_{t+1} = w_t (1 - \lambda \cdot \text{wd}) - \lambda\,\text{sign}(c)`."""

    def __init__(
        self, learning_rate: float | Callable, betas: tuple[float, float] = (0.9, 0.99), weight_decay: float = 0.0
    ):
        super().__init__()
        self._maybe_schedule("learning_rate", learning_rate)
        self.betas = betas
        self.weight_decay = weight_decay

    def init_single(self, parameter, state):
        state["m"] = mx.zeros_like(parameter)

    def apply_single(self, gradient, parameter, state):
        lr = _lr(self, gradient)
        b1, b2 = self.betas
        m = state["m"]
        c = b1 * m + (1 - b1) * gradient
        state["m"] = b2 * m + (1 - b2) * gradient
        if self.weight_decay > 0:
            parameter = (1 - lr * self.weight_decay) * parameter
        return parameter - lr * mx.sign(c)


class Adafactor(Optimizer):
    r"""Adafactor (Shazeer & Stern, 2018): second moments factored into row and column
    averages for parameters with two or more dimensions. With ``relative_step`` (the
    default, used when no ``learning_rate`` is given) the step size is
    :math:`\min(10^{-2}, 1/\sqrt{t})` (:math:`\min(10^{-6} t, 1/\sqrt{t})` with
    ``warmup_init``), scaled by :math:`\max(\epsilon_2, \text{RMS}(w))` with
    ``scale_parameter``."""

    def __init__(
        self,
        learning_rate: float | Callable | None = None,
        eps: tuple[float, float] = (1e-30, 1e-3),
        clip_threshold: float = 1.0,
        decay_rate: float = -0.8,
        beta_1: float | None = None,
        weight_decay: float = 0.0,
        scale_parameter: bool = True,
        relative_step: bool = True,
        warmup_init: bool = False,
    ):
        super().__init__()
        if learning_rate is not None:
            self._maybe_schedule("learning_rate", learning_rate)
        self.eps = eps
        self.clip_threshold = clip_threshold
        self.decay_rate = decay_rate
        self.beta_1 = beta_1
        self.weight_decay = weight_decay
        self.scale_parameter = scale_parameter
        self.relative_step = relative_step
        self.warmup_init = warmup_init

    def init_single(self, parameter, state):
        if parameter.ndim >= 2:
            shape = tuple(parameter.shape)
            dtype = parameter.dtype
            state["exp_avg_sq_row"] = mx.zeros(shape[:-1], dtype=dtype)
            state["exp_avg_sq_col"] = mx.zeros(shape[:-2] + shape[-1:], dtype=dtype)
        else:
            state["exp_avg_sq"] = mx.zeros_like(parameter)
        if self.beta_1 is not None:
            state["exp_avg"] = mx.zeros_like(parameter)

    @staticmethod
    def _compute_rms(inputs):
        return mx.sqrt(mx.mean(mx.square(inputs)))

    def _compute_learning_rate(self, step, parameter_rms):
        if self.relative_step:
            min_step = 1e-6 * step if self.warmup_init else 1e-2
            relative_step_size = mx.minimum(min_step, mx.rsqrt(step))
        else:
            relative_step_size = self.learning_rate
        relative_step_size = relative_step_size.astype(parameter_rms.dtype)
        parameter_scale = 1.0
        if self.scale_parameter:
            parameter_scale = mx.maximum(self.eps[1], parameter_rms)
        return parameter_scale * relative_step_size

    @staticmethod
    def _approximate_exp_moving_avg(exp_avg_sq_row, exp_avg_sq_col):
        r_factor = mx.rsqrt(exp_avg_sq_row / mx.mean(exp_avg_sq_row, axis=-1, keepdims=True))
        c_factor = mx.rsqrt(exp_avg_sq_col)
        return mx.matmul(mx.expand_dims(r_factor, axis=-1), mx.expand_dims(c_factor, axis=-2))

    def apply_single(self, gradient, parameter, state):
        factored = gradient.ndim >= 2
        step = self.step
        parameter_rms = self._compute_rms(parameter)
        learning_rate = self._compute_learning_rate(step, parameter_rms)
        beta_2 = 1.0 - (step**self.decay_rate).astype(parameter_rms.dtype)
        update = mx.square(gradient) + self.eps[0]
        if factored:
            row = beta_2 * state["exp_avg_sq_row"] + (1 - beta_2) * mx.mean(update, axis=-1)
            col = beta_2 * state["exp_avg_sq_col"] + (1 - beta_2) * mx.mean(update, axis=-2)
            state["exp_avg_sq_row"] = row
            state["exp_avg_sq_col"] = col
            update = self._approximate_exp_moving_avg(row, col) * gradient
        else:
            exp_avg_sq = beta_2 * state["exp_avg_sq"] + (1 - beta_2) * update
            state["exp_avg_sq"] = exp_avg_sq
            update = mx.rsqrt(exp_avg_sq) * gradient
        update = update / mx.maximum(1.0, self._compute_rms(update) / self.clip_threshold)
        update = learning_rate * update
        if self.beta_1 is not None:
            exp_avg = self.beta_1 * state["exp_avg"] + (1 - self.beta_1) * update
            state["exp_avg"] = exp_avg
            update = exp_avg
        if self.weight_decay != 0:
            parameter = parameter + parameter * (-self.weight_decay * learning_rate)
        return parameter - update


# ----------------------------------------------------------------------------- MultiOptimizer


def _tree_merge(a, b):
    """Merges two trees whose leaves sit at different places (``{}`` is empty)."""
    if isinstance(a, (dict, list, tuple)) and len(a) == 0:
        return b
    if isinstance(b, (dict, list, tuple)) and len(b) == 0:
        return a
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        n = max(len(a), len(b))
        a = list(a) + [{}] * (n - len(a))
        b = list(b) + [{}] * (n - len(b))
        return [_tree_merge(x, y) for x, y in zip(a, b)]
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = _tree_merge(out[k], v) if k in out else v
        return out
    raise ValueError("Trees contain elements at the same locations but no merge function was provided")


class MultiOptimizer(Optimizer):
    """Several optimizers over one parameter tree: each gradient goes to the first
    optimizer whose filter, called as ``filter(path, gradient)``, returns True; the last
    optimizer takes the rest (so ``len(filters) == len(optimizers) - 1``)."""

    def __init__(self, optimizers: list[Optimizer], filters: Sequence[Callable] = ()):
        super().__init__()
        self._state = {}
        if len(filters) != len(optimizers) - 1:
            raise ValueError(f"Given {len(filters)} filters but {len(optimizers) - 1} needed.")
        self.optimizers = optimizers
        self.filters = list(filters) + [lambda *args, **kwargs: True]

    def _split_dictionary(self, gradients):
        if len(self.optimizers) == 1:
            return [gradients]
        parts = [[] for _ in self.optimizers]
        for k, g in tree_flatten(gradients):
            for i, fn in enumerate(self.filters):
                if fn(k, g):
                    parts[i].append((k, g))
                    break
        return [tree_unflatten(p) if p else {} for p in parts]

    def init(self, parameters):
        for o, p in zip(self.optimizers, self._split_dictionary(parameters)):
            o.init(p)

    def apply_gradients(self, gradients, parameters):
        tree = {}
        for o, g in zip(self.optimizers, self._split_dictionary(gradients)):
            tree = _tree_merge(tree, o.apply_gradients(g, parameters))
        return tree

    @property
    def state(self):
        return {"states": [o.state for o in self.optimizers]}

    @state.setter
    def state(self, state):
        if "states" not in state or len(state["states"]) != len(self.optimizers):
            raise ValueError("Invalid state provided")
        for o, s in zip(self.optimizers, state["states"]):
            o.state = s

    @property
    def step(self):
        return self.optimizers[0].step

    @property
    def learning_rate(self):
        return self.optimizers[0].learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        for o in self.optimizers:
            o.learning_rate = learning_rate


# ----------------------------------------------------------------------------- utilities


def clip_grad_norm(grads, max_norm: float):
    """Scales the gradient tree so that its global L2 norm is at most ``max_norm``
    (gradients whose norm is below ``max_norm`` are returned unchanged).
    Returns ``(clipped_grads, total_norm)`` (the norm before clipping).

    >>> clipped, norm = clip_grad_norm({"w1": mx.array([2.0, 3.0]), "w2": mx.array([1.0])}, 2.0)
    """
    norm_squared = tree_reduce(lambda acc, g: acc + mx.sum(mx.square(g)), grads, 0.0)
    total_norm = mx.sqrt(norm_squared)
    normalizer = max_norm / (total_norm + 1e-6)
    clipped = tree_map(lambda g: mx.where(total_norm < max_norm, g, g * normalizer), grads)
    return clipped, total_norm


# ----------------------------------------------------------------------------- schedules


def exponential_decay(init: float, decay_rate: float) -> Callable:
    """``init * decay_rate ** step``."""

    def schedule(step):
        return init * decay_rate**step

    return schedule


def step_decay(init: float, decay_rate: float, step_size: int) -> Callable:
    """``init * decay_rate ** (step // step_size)``."""

    def schedule(step):
        return init * (decay_rate ** (step // step_size))

    return schedule


def cosine_decay(init: float, decay_steps: int, end: float = 0.0) -> Callable:
    """``end + (init - end) * 0.5 * (1 + cos(pi * min(step, decay_steps) / decay_steps))``."""

    def schedule(step):
        s = mx.minimum(step, decay_steps)
        decay = 0.5 * (1.0 + mx.cos((math.pi / decay_steps) * s))
        return end + decay * (init - end)

    return schedule


def join_schedules(schedules: list[Callable], boundaries: list[int]) -> Callable:
    """``schedules[i]`` from ``boundaries[i-1]`` on (its step counted from that
    boundary); ``schedules[0]`` before ``boundaries[0]``."""
    if len(schedules) == 0:
        raise ValueError("Must provide at least 1 schedule to join.")
    if len(schedules) != len(boundaries) + 1:
        raise ValueError(f"Received {len(boundaries)} boundaries but expected {len(schedules) - 1}.")

    def schedule(step):
        output = schedules[0](step)
        for boundary, sched in zip(boundaries, schedules[1:]):
            output = mx.where(step < boundary, output, sched(step - boundary))
        return output

    return schedule


def linear_schedule(init: float, end: float, steps: int) -> Callable:
    """From ``init`` to ``end`` linearly over ``steps`` steps, then ``end``."""
    if steps < 1:
        raise ValueError(f"steps must be greater than 0, but got {steps}.")

    def schedule(step):
        step = mx.minimum(step, steps)
        return step * ((end - init) / steps) + init

    return schedule
