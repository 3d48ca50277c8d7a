"""Python call overhead of ember.core per op on small arrays, against NumPy in the
same process (issue 5). "build" is the binding's cost: the call building the
lazy node; "build+eval" adds mx.eval, the cost a Python loop over small ops
pays (dominated by the scheduler's hand-off to the stream's worker thread).

    PYTHONPATH=build/python python3 bench/bench_python.py
"""

import timeit

import ember.core as mx
import numpy as np

N = 2000


def per_call_us(fn):
    fn()  # warm up
    best = min(timeit.repeat(fn, number=N, repeat=5))
    return best / N * 1e6


def main():
    rng = np.random.default_rng(0)
    a_np = rng.standard_normal((16, 16)).astype(np.float32)
    b_np = rng.standard_normal((16, 16)).astype(np.float32)
    a, b = mx.array(a_np), mx.array(b_np)
    mx.eval(a, b)
    cases = [
        ("a + b", lambda: a + b, lambda: a_np + b_np),
        ("a * 2.0", lambda: a * 2.0, lambda: a_np * np.float32(2.0)),
        ("exp(a)", lambda: mx.exp(a), lambda: np.exp(a_np)),
        ("sum(a, axis=1)", lambda: mx.sum(a, axis=1), lambda: a_np.sum(axis=1)),
        ("a @ b", lambda: a @ b, lambda: a_np @ b_np),
        ("a[1:3, ::2]", lambda: a[1:3, ::2], lambda: a_np[1:3, ::2].copy()),
        ("a[[0, 2]]", lambda: a[[0, 2]], lambda: a_np[[0, 2]]),
    ]
    print(f"{'op (16x16 float32)':<20} {'build us':>9} {'ratio':>7} {'build+eval us':>14} {'ratio':>7} {'numpy us':>9}")
    for name, fe, fn in cases:
        tb = per_call_us(fe)
        te = per_call_us(lambda fe=fe: mx.eval(fe()))
        tn = per_call_us(fn)
        print(f"{name:<20} {tb:>9.2f} {tb / tn:>6.1f}x {te:>14.2f} {te / tn:>6.1f}x {tn:>9.2f}")
    for name, fe, fn in [
        ("array([1, 2, 3])", lambda: mx.array([1, 2, 3]), lambda: np.array([1, 2, 3])),
        ("a[0, 0].item()", lambda: a[0, 0].item(), lambda: a_np[0, 0].item()),
        ("np.array(a)", lambda: np.array(a), lambda: np.array(a_np)),
    ]:
        te, tn = per_call_us(fe), per_call_us(fn)
        print(f"{name:<20} {'':>9} {'':>7} {te:>14.2f} {te / tn:>6.1f}x {tn:>9.2f}")


if __name__ == "__main__":
    main()
