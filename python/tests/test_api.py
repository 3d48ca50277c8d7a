"""The shape of the API: MLX's names exist, every function documents its signature,
and the package's modules import."""

import inspect

import ember.core as mx
import pytest

import ember

CORE_NAMES = [
    "array",
    "Dtype",
    "DtypeCategory",
    "finfo",
    "iinfo",
    "issubdtype",
    "promote_types",
    "Device",
    "DeviceType",
    "Stream",
    "cpu",
    "gpu",
    "default_device",
    "set_default_device",
    "default_stream",
    "set_default_stream",
    "new_stream",
    "stream",
    "synchronize",
    "get_active_memory",
    "get_peak_memory",
    "reset_peak_memory",
    "get_cache_memory",
    "set_memory_limit",
    "get_memory_limit",
    "set_cache_limit",
    "clear_cache",
    "bool_",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "int8",
    "int16",
    "int32",
    "int64",
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "complex64",
    "floating",
    "integer",
    "inexact",
    "signedinteger",
    "unsignedinteger",
    "complexfloating",
    "number",
    "generic",
    "arange",
    "linspace",
    "zeros",
    "ones",
    "full",
    "zeros_like",
    "ones_like",
    "full_like",
    "eye",
    "identity",
    "tri",
    "tril",
    "triu",
    "meshgrid",
    "astype",
    "view",
    "copy",
    "contiguous",
    "stop_gradient",
    "abs",
    "negative",
    "sign",
    "sqrt",
    "rsqrt",
    "square",
    "reciprocal",
    "exp",
    "expm1",
    "log",
    "log1p",
    "log2",
    "log10",
    "sin",
    "cos",
    "tan",
    "arcsin",
    "arccos",
    "arctan",
    "sinh",
    "cosh",
    "tanh",
    "arcsinh",
    "arccosh",
    "arctanh",
    "sigmoid",
    "erf",
    "erfinv",
    "floor",
    "ceil",
    "round",
    "isnan",
    "isinf",
    "isposinf",
    "isneginf",
    "isfinite",
    "nan_to_num",
    "logical_not",
    "bitwise_invert",
    "degrees",
    "radians",
    "conjugate",
    "conj",
    "real",
    "imag",
    "add",
    "subtract",
    "multiply",
    "divide",
    "floor_divide",
    "remainder",
    "divmod",
    "power",
    "maximum",
    "minimum",
    "arctan2",
    "logaddexp",
    "equal",
    "not_equal",
    "less",
    "less_equal",
    "greater",
    "greater_equal",
    "logical_and",
    "logical_or",
    "bitwise_and",
    "bitwise_or",
    "bitwise_xor",
    "left_shift",
    "right_shift",
    "where",
    "clip",
    "sum",
    "prod",
    "max",
    "min",
    "all",
    "any",
    "mean",
    "var",
    "std",
    "argmax",
    "argmin",
    "logsumexp",
    "softmax",
    "log_softmax",
    "cumsum",
    "cumprod",
    "cummax",
    "cummin",
    "logcumsumexp",
    "reshape",
    "flatten",
    "unflatten",
    "squeeze",
    "expand_dims",
    "transpose",
    "permute_dims",
    "swapaxes",
    "moveaxis",
    "broadcast_to",
    "broadcast_arrays",
    "concatenate",
    "concat",
    "stack",
    "split",
    "as_strided",
    "pad",
    "repeat",
    "tile",
    "roll",
    "atleast_1d",
    "atleast_2d",
    "atleast_3d",
    "sort",
    "argsort",
    "partition",
    "argpartition",
    "topk",
    "take",
    "take_along_axis",
    "put_along_axis",
    "slice",
    "slice_update",
    "matmul",
    "quantize",
    "dequantize",
    "quantized_matmul",
    "addmm",
    "inner",
    "outer",
    "tensordot",
    "trace",
    "diag",
    "diagonal",
    "kron",
    "einsum",
    "einsum_path",
    "hadamard_transform",
    "allclose",
    "isclose",
    "array_equal",
    "eval",
    "async_eval",
    "grad",
    "value_and_grad",
    "vjp",
    "jvp",
    "vmap",
    "custom_function",
    "checkpoint",
    "export_to_dot",
    "print_graph",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "conv_general",
    "save",
    "load",
    "savez",
    "savez_compressed",
    "save_safetensors",
    "save_gguf",
    "random",
    "linalg",
    "fft",
    "fast",
    "cuda",
]


@pytest.mark.parametrize("name", CORE_NAMES)
def test_core_name_exists(name):
    assert hasattr(mx, name), name


def public_callables():
    for mod, prefix in [(mx, "core"), (mx.random, "random"), (mx.linalg, "linalg"), (mx.fft, "fft"), (mx.fast, "fast"),
                        (mx.cuda, "cuda")]:
        for name in dir(mod):
            obj = getattr(mod, name)
            if not name.startswith("_") and callable(obj) and not inspect.isclass(obj):
                yield f"{prefix}.{name}", obj
    for name in dir(mx.array):
        if not name.startswith("_"):
            obj = getattr(mx.array, name)
            if callable(obj):
                yield f"array.{name}", obj


@pytest.mark.parametrize("qualname, obj", list(public_callables()), ids=lambda v: v if isinstance(v, str) else "")
def test_docstring_with_signature(qualname, obj):
    doc = obj.__doc__ or ""
    name = qualname.split(".")[-1]
    # nanobind puts the signature first; a description must follow it.
    assert doc.startswith(name + "("), doc[:80]
    assert len(doc.strip().split("\n")) >= 2, f"{qualname} has no description"


def test_keyword_names_follow_mlx():
    a = mx.ones((2, 3))
    assert mx.sum(a, axis=1, keepdims=True, stream=mx.cpu).shape == (2, 1)
    assert mx.take(a, indices=mx.array([0]), axis=0).shape == (1, 3)
    assert mx.concatenate(arrays=[a, a], axis=0).shape == (4, 3)
    assert mx.split(a, indices_or_sections=3, axis=1)[0].shape == (2, 1)
    assert mx.random.uniform(low=0, high=1, shape=(2,), dtype=mx.float32, key=mx.random.key(0)).shape == (2,)
    assert mx.linalg.norm(a, ord=None, axis=None, keepdims=False).shape == ()


def test_package_layout():
    assert ember.core is mx
    assert ember.__version__


def test_graph_export(tmp_path):
    a = mx.ones((2,))
    b = mx.exp(a) + a
    text = mx.print_graph(b)
    assert "Exp" in text and "Add" in text
    path = tmp_path / "g.dot"
    mx.export_to_dot(str(path), {"out": b})
    dot = path.read_text()
    assert dot.startswith("digraph") and "Exp" in dot
    assert mx.__version__ == ember.__version__
