"""C++ exceptions reach Python as the errors MLX raises, with the C++ message."""

import ember.core as mx
import pytest


def test_value_error_with_message():
    with pytest.raises(ValueError, match=r"\[reshape\].*size 6.*\(4, 2\)"):
        mx.reshape(mx.zeros((2, 3)), (4, 2))
    with pytest.raises(ValueError, match="broadcast"):
        mx.add(mx.zeros((2, 3)), mx.zeros((4,)))


def test_index_error_with_message():
    with pytest.raises(IndexError, match="index"):
        mx.zeros((3,))[3]
    with pytest.raises(IndexError):
        mx.zeros((3,))[-4]


def test_runtime_error_from_eval():
    # Numerical failures found while evaluating surface as RuntimeError from eval.
    with pytest.raises(RuntimeError):
        mx.eval(mx.linalg.inv(mx.zeros((2, 2))))


def test_out_of_range_gather_raises_on_eval():
    idx = mx.array([5])
    with pytest.raises((IndexError, RuntimeError)):
        mx.eval(mx.zeros((3,))[idx])


def test_memory_error():
    old = mx.set_memory_limit(1 << 20)
    try:
        with pytest.raises(MemoryError, match="bytes"):
            mx.eval(mx.random.normal((4_000_000,), key=mx.random.key(0)))
    finally:
        mx.set_memory_limit(old)
    mx.eval(mx.random.normal((1000,)))  # still usable afterwards


def test_type_errors():
    with pytest.raises(TypeError):
        mx.array({"a": 1})
    with pytest.raises(TypeError):
        mx.sum(mx.zeros((2,)), axis="x")
