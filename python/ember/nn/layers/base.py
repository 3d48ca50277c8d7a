"""nn.Module: a dict of parameters (arrays) and submodules, as in mlx.nn."""

from __future__ import annotations

import textwrap
from typing import Any, Callable

import ember.core as mx
from ember.utils import tree_flatten, tree_unflatten


def _unwrap(model, value_key, value, filter_fn, map_fn, is_leaf_fn):
    if is_leaf_fn(model, value_key, value):
        return map_fn(value)
    elif isinstance(value, Module):
        return {
            k: _unwrap(value, k, v, filter_fn, map_fn, is_leaf_fn) for k, v in value.items() if filter_fn(value, k, v)
        }
    elif isinstance(value, dict):
        nd = {}
        for k, v in value.items():
            tk = f"{value_key}.{k}"
            nd[k] = _unwrap(model, tk, v, filter_fn, map_fn, is_leaf_fn) if filter_fn(model, tk, v) else {}
        return nd
    elif isinstance(value, list):
        nl = []
        for i, vi in enumerate(value):
            tk = f"{value_key}.{i}"
            nl.append(_unwrap(model, tk, vi, filter_fn, map_fn, is_leaf_fn) if filter_fn(model, tk, vi) else {})
        return nl
    raise RuntimeError("Unexpected leaf found while traversing the module")


class Module(dict):
    """Base class for building neural networks.

    Parameters (``ember.core.array``) and submodules stored as attributes are
    kept in the underlying dict, so a module is also a tree of its parameters.
    """

    __call__: Callable

    def __init__(self):
        self._no_grad = set()
        self._training = True

    @property
    def training(self):
        """Boolean indicating if the model is in training mode."""
        return self._training

    @property
    def state(self):
        """The module's state dictionary (the module itself)."""
        return self

    def _extra_repr(self):
        return ""

    def __repr__(self):
        children = tree_flatten(self.children(), is_leaf=self.is_module)
        value = f"{type(self).__name__}({self._extra_repr()}"
        for k, v in children:
            value += "\n"
            value += textwrap.indent(f"({k}): {v!r}", prefix="  ")
        if children:
            value += "\n"
        value += ")"
        return value

    def __getattr__(self, key: str):
        if key in self:
            return self[key]
        raise AttributeError(f"{type(self)!r} has no attribute {key!r}")

    def __setattr__(self, key: str, val: Any):
        if isinstance(val, (mx.array, dict, list, tuple)):
            if hasattr(self, key) and key not in self:
                delattr(self, key)
            self[key] = val
        else:
            super().__setattr__(key, val)
            self.pop(key, None)

    def __delattr__(self, name):
        if name in self:
            del self[name]
        else:
            super().__delattr__(name)

    # -------------------------------------------------------------- weights
    def load_weights(self, file_or_weights: str | list[tuple[str, mx.array]], strict: bool = True) -> Module:
        """Update the model's weights from a ``.npz``/``.safetensors`` file or a
        list of ``(name, array)`` pairs. With ``strict`` the weights must match
        the model's parameters exactly (names and shapes)."""
        weights = file_or_weights
        if isinstance(weights, str):
            weights = list(mx.load(weights).items())
        if strict:
            new_weights = dict(weights)
            curr_weights = dict(tree_flatten(self.parameters()))
            extras = new_weights.keys() - curr_weights.keys()
            if extras:
                num_extra = len(extras)
                extras = ",\n".join(sorted(extras))
                raise ValueError(f"Received {num_extra} parameters not in model: \n{extras}.")
            missing = curr_weights.keys() - new_weights.keys()
            if missing:
                num_missing = len(missing)
                missing = ",\n".join(sorted(missing))
                raise ValueError(f"Missing {num_missing} parameters: \n{missing}.")
            for k, v in curr_weights.items():
                v_new = new_weights[k]
                if not isinstance(v_new, mx.array):
                    raise ValueError(f"Expected mx.array but received {type(v_new)} for parameter {k}")  # noqa: TRY004 (as MLX)
                if v_new.shape != v.shape:
                    raise ValueError(f"Expected shape {v.shape} but received shape {v_new.shape} for parameter {k}")
        if len(weights) != 0:
            self.update(tree_unflatten(weights), strict=False)
        return self

    def save_weights(self, file: str):
        """Save the model's weights to ``.npz`` or ``.safetensors``."""
        params_dict = dict(tree_flatten(self.parameters()))
        if file.endswith(".npz"):
            mx.savez(file, **params_dict)
        elif file.endswith(".safetensors"):
            mx.save_safetensors(file, params_dict)
        else:
            raise ValueError("Unsupported file extension. Use '.npz' or '.safetensors'.")

    # ------------------------------------------------------------ traversal
    @staticmethod
    def is_module(value):
        """Whether ``value`` is a Module."""
        return isinstance(value, Module)

    @staticmethod
    def valid_child_filter(module, key, value):
        """Filter for containers that may hold child modules."""
        return isinstance(value, (dict, list))

    @staticmethod
    def valid_parameter_filter(module, key, value):
        """Filter for parameters: arrays (or containers) whose key has no leading underscore."""
        return isinstance(value, (dict, list, mx.array)) and not key.startswith("_")

    @staticmethod
    def trainable_parameter_filter(module, key, value):
        """Filter for parameters that are not frozen."""
        return Module.valid_parameter_filter(module, key, value) and key not in module._no_grad

    def filter_and_map(self, filter_fn, map_fn=None, is_leaf_fn=None):
        """Recursively filter the module's contents with ``filter_fn`` and map
        the leaves with ``map_fn``."""
        map_fn = map_fn or (lambda x: x)
        is_leaf_fn = is_leaf_fn or (lambda m, k, v: not isinstance(v, (Module, dict, list)))
        return {k: _unwrap(self, k, v, filter_fn, map_fn, is_leaf_fn) for k, v in self.items() if filter_fn(self, k, v)}

    def parameters(self):
        """All parameters (arrays) in a nested dict."""
        return self.filter_and_map(self.valid_parameter_filter)

    def trainable_parameters(self):
        """All non-frozen parameters in a nested dict."""
        return self.filter_and_map(self.trainable_parameter_filter)

    def children(self):
        """The direct descendants of this module."""
        return self.filter_and_map(self.valid_child_filter, is_leaf_fn=lambda m, k, v: isinstance(v, Module))

    def leaf_modules(self):
        """The submodules that contain no other modules."""

        def _is_leaf_module(m, k, v):
            return isinstance(v, Module) and len(tree_flatten(v.children())) == 0

        return self.filter_and_map(self.valid_child_filter, is_leaf_fn=_is_leaf_module)

    def update(self, parameters: dict, strict: bool = True) -> Module:
        """Replace the parameters of this module with the ones in ``parameters``
        (a nested dict/list tree, e.g. from ``parameters()`` or an optimizer)."""

        def apply(dst, params):
            if isinstance(params, dict):
                for k in params:
                    if k in dst:
                        current_value = dst[k]
                        new_value = params[k]
                        if isinstance(current_value, mx.array):
                            if strict and not isinstance(new_value, mx.array):
                                raise ValueError(f"Received invalid type: {type(new_value).__name__}.")
                            dst[k] = new_value
                        else:
                            apply(current_value, new_value)
                    elif strict:
                        raise ValueError(f'Module does not have parameter named "{k}".')
            elif isinstance(params, list):
                for i in range(len(params)):
                    if i >= len(dst):
                        if strict:
                            raise ValueError(f"Module does not have item at index {i}.")
                        continue
                    current_value = dst[i]
                    new_value = params[i]
                    if isinstance(current_value, mx.array):
                        if strict and not isinstance(new_value, mx.array):
                            raise ValueError(f"Received invalid type: {type(new_value).__name__}.")
                        dst[i] = new_value
                    else:
                        apply(current_value, new_value)
            elif strict:
                raise ValueError(f"Received invalid type: {type(params).__name__}.")

        apply(self, parameters)
        return self

    def apply(self, map_fn: Callable[[mx.array], mx.array], filter_fn=None) -> Module:
        """Map all parameters (those passing ``filter_fn``, default
        ``valid_parameter_filter``) through ``map_fn`` and update in place."""
        filter_fn = filter_fn or Module.valid_parameter_filter
        self.update(self.filter_and_map(filter_fn, map_fn))
        return self

    def update_modules(self, modules: dict, strict: bool = True) -> Module:
        """Replace child modules of this module with the ones in ``modules``."""

        def apply(dst, modules):
            if isinstance(modules, dict):
                for k in modules:
                    if k in dst:
                        current_value = dst[k]
                        new_value = modules[k]
                        if self.is_module(current_value) and self.is_module(new_value):
                            dst[k] = new_value
                        elif isinstance(current_value, (dict, list)):
                            apply(current_value, new_value)
                        elif strict and new_value != {}:
                            raise ValueError(f"Received invalid type: {type(new_value).__name__}.")
                    elif strict:
                        raise ValueError(f'Module does not have sub-module named "{k}".')
            elif isinstance(modules, list):
                for i in range(len(modules)):
                    current_value = dst[i]
                    new_value = modules[i]
                    if self.is_module(current_value) and self.is_module(new_value):
                        dst[i] = new_value
                    elif isinstance(current_value, (dict, list)):
                        apply(current_value, new_value)
                    elif strict and new_value != {}:
                        raise ValueError(f"Received invalid type: {type(new_value).__name__}.")
            elif strict:
                raise ValueError(f"Received invalid type: {type(modules).__name__}.")

        apply(self, modules)
        return self

    def apply_to_modules(self, apply_fn: Callable[[str, Module], Any]) -> Module:
        """Apply ``apply_fn(name, module)`` to this module and all descendants."""
        module_stack = [("", self)]
        while module_stack:
            prefix, mod = module_stack.pop()
            apply_fn(prefix, mod)
            prefix = "." + prefix if prefix else ""
            module_stack.extend(tree_flatten(mod.children(), prefix=prefix, is_leaf=self.is_module))
        return self

    def modules(self):
        """A list of all modules in this module and its descendants."""
        modulelist = []
        self.apply_to_modules(lambda k, m: modulelist.append(m))
        return modulelist

    def named_modules(self):
        """A list of ``(name, module)`` for this module and its descendants."""
        modulelist = []
        self.apply_to_modules(lambda k, m: modulelist.append((k, m)))
        return modulelist

    def _validate_keys(self, keys, strict):
        keys = keys if isinstance(keys, list) else [keys]
        if strict:
            for k in keys:
                if k not in self:
                    raise KeyError(f"Module doesn't contain member {k}.")
        return keys

    def freeze(self, *, recurse: bool = True, keys: str | list[str] | None = None, strict: bool = False):
        """Freeze the module's parameters (or the given ``keys``) so that
        ``trainable_parameters()`` leaves them out."""

        def _freeze_impl(_, m):
            local_keys = keys
            if local_keys is None:
                local_keys = tree_flatten(
                    m.filter_and_map(lambda m, k, v: (not isinstance(v, Module)) and m.valid_parameter_filter(m, k, v))
                )
                local_keys = [k for (k, v) in local_keys]
            local_keys = m._validate_keys(local_keys, strict)
            m._no_grad.update(local_keys)

        if recurse:
            self.apply_to_modules(_freeze_impl)
        else:
            _freeze_impl("", self)
        return self

    def unfreeze(self, *, recurse: bool = True, keys: str | list[str] | None = None, strict: bool = False):
        """Unfreeze the module's parameters (or the given ``keys``)."""

        def _unfreeze_impl(_, m):
            if keys is None:
                m._no_grad.clear()
            else:
                local_keys = m._validate_keys(keys, strict)
                m._no_grad.difference_update(local_keys)

        if recurse:
            self.apply_to_modules(_unfreeze_impl)
        else:
            _unfreeze_impl("", self)
        return self

    def train(self, mode: bool = True) -> Module:
        """Set training mode on this module and all descendants."""

        def _set_train(_, m):
            m._training = mode

        self.apply_to_modules(_set_train)
        return self

    def eval(self) -> Module:
        """Set evaluation mode (``train(False)``)."""
        return self.train(False)

    def set_dtype(self, dtype, predicate: Callable | None = lambda x: mx.issubdtype(x, mx.floating)):
        """Cast the parameters whose dtype satisfies ``predicate`` to ``dtype``."""
        if predicate is None:
            predicate = lambda _: True
        self.apply(lambda x: x.astype(dtype) if predicate(x.dtype) else x)
