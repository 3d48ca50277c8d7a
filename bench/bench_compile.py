"""compile on the CPU (issue 9): gelu (tanh approximation) and a 5-op elementwise chain
on 2^24 float32, compiled against eager Ember and NumPy in the same run (ratio = NumPy
time / Ember time, so above 1 is faster than NumPy), then the latency of a first call
(trace + kernel build, with an empty kernel cache), of a first call in a new process
whose kernels are on disk, and of a cached call.

    PYTHONPATH=build/python python3 bench/bench_compile.py
"""

import os
import subprocess
import sys
import tempfile
import time

import numpy as np

N = 1 << 24


def gelu(mx_or_np, x):
    tanh = mx_or_np.tanh
    return 0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))


def chain(mx_or_np, x, y):
    # 5 ops: subtract, multiply, maximum, multiply, add
    z = mx_or_np.maximum((x - 1.5) * y, 0)
    return z * z + x


def best_ms(fn, repeat=7):
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times) * 1e3


def throughput():
    import ember.core as mx

    rng = np.random.default_rng(0)
    x_np = rng.standard_normal(N).astype(np.float32)
    y_np = rng.standard_normal(N).astype(np.float32)
    x, y = mx.array(x_np), mx.array(y_np)
    mx.eval(x, y)
    # One compiled function per row, made once (a fresh lambda per call would retrace).
    cg = mx.compile(lambda a: gelu(mx, a))
    cc = mx.compile(lambda a, b: chain(mx, a, b))
    rows = [
        ("gelu (tanh)", lambda: mx.eval(cg(x)), lambda: mx.eval(gelu(mx, x)), lambda: gelu(np, x_np)),
        ("5-op chain", lambda: mx.eval(cc(x, y)), lambda: mx.eval(chain(mx, x, y)), lambda: chain(np, x_np, y_np)),
    ]
    print(f"2^24 float32, {os.cpu_count()} cores")
    print(f"{'':<12} {'compiled ms':>12} {'eager ms':>9} {'numpy ms':>9} {'compiled/numpy':>15} {'compiled/eager':>15}")
    for name, fc, fe, fn in rows:
        tc, te, tn = best_ms(fc), best_ms(fe), best_ms(fn)
        print(f"{name:<12} {tc:>12.2f} {te:>9.2f} {tn:>9.2f} {tn / tc:>14.2f}x {te / tc:>14.2f}x")


LATENCY = r"""
import sys, time
import ember.core as mx
x = mx.array([1.0, 2.0, 3.0])
mx.eval(x)
f = mx.compile(lambda a: mx.tanh(a * 0.5 + 1.0) * a - 2.0)
t = time.perf_counter(); mx.eval(f(x)); first = time.perf_counter() - t
n = 2000
t = time.perf_counter()
for _ in range(n):
    mx.eval(f(x))
cached = (time.perf_counter() - t) / n
g = lambda a: mx.tanh(a * 0.5 + 1.0) * a - 2.0
t = time.perf_counter()
for _ in range(n):
    mx.eval(g(x))
eager = (time.perf_counter() - t) / n
print(first, cached, eager)
"""


def latency():
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, EMBER_KERNEL_CACHE=cache)
        runs = []
        for _ in range(2):  # an empty cache, then the kernels on disk
            out = subprocess.run([sys.executable, "-c", LATENCY], env=env, capture_output=True, text=True, check=True)
            runs.append([float(v) for v in out.stdout.split()])
    (cold, cached, eager), (warm, _, _) = runs
    print("latency (3 elements, 4 ops):")
    print(f"  first call, empty kernel cache (trace + precompiled header + build): {cold * 1e3:8.1f} ms")
    print(f"  first call in a new process, kernel on disk (trace + load):          {warm * 1e3:8.1f} ms")
    print(f"  cached call (graph rebuild + eval):                                   {cached * 1e6:8.1f} us")
    print(f"  the same 4 ops eager (build + eval):                                   {eager * 1e6:8.1f} us")


if __name__ == "__main__":
    throughput()
    latency()
