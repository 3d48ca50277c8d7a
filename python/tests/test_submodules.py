"""ember.core.random, linalg, fft; devices, streams and memory functions."""

import ember.core as mx
import numpy as np
import pytest
from helpers import assert_close


def test_random_keys_are_deterministic():
    k = mx.random.key(42)
    assert k.shape == (2,) and k.dtype == mx.uint32
    a = mx.random.uniform(shape=(100,), key=k)
    b = mx.random.uniform(shape=(100,), key=k)
    np.testing.assert_array_equal(np.array(a), np.array(b))
    k1, k2 = mx.random.split(k)
    assert not np.array_equal(
        np.array(mx.random.uniform(shape=(8,), key=k1)), np.array(mx.random.uniform(shape=(8,), key=k2))
    )
    assert mx.random.split(k, num=3).shape == (3, 2)
    mx.random.seed(3)
    x = mx.random.normal((4,))
    mx.random.seed(3)
    np.testing.assert_array_equal(np.array(x), np.array(mx.random.normal((4,))))


def test_random_distributions():
    k = mx.random.key(0)
    u = np.array(mx.random.uniform(-2, 3, (20000,), key=k))
    assert u.min() >= -2 and u.max() < 3 and abs(u.mean() - 0.5) < 0.05
    n = np.array(mx.random.normal((20000,), loc=1.0, scale=2.0, key=k))
    assert abs(n.mean() - 1.0) < 0.06 and abs(n.std() - 2.0) < 0.06
    assert mx.random.normal((3,), dtype=mx.float16, key=k).dtype == mx.float16
    r = np.array(mx.random.randint(0, 10, (5000,), key=k))
    assert r.min() >= 0 and r.max() <= 9 and mx.random.randint(0, 10, (2,), key=k).dtype == mx.int32
    bern = np.array(mx.random.bernoulli(0.25, (20000,), key=k))
    assert bern.dtype == np.bool_ and abs(bern.mean() - 0.25) < 0.02
    t = np.array(mx.random.truncated_normal(-1.0, 1.0, (5000,), key=k))
    assert t.min() >= -1 and t.max() <= 1
    assert mx.random.gumbel((3,), key=k).shape == (3,)
    assert mx.random.laplace((3,), key=k).shape == (3,)
    assert mx.random.bits((4,), key=k).dtype == mx.uint32
    c = np.array(mx.random.categorical(mx.log(mx.array([0.0, 1.0, 0.0])), num_samples=10, key=k))
    assert (c == 1).all()
    p = np.array(mx.random.permutation(10, key=k))
    assert sorted(p.tolist()) == list(range(10))
    assert mx.random.permutation(mx.arange(5), key=k).shape == (5,)
    mvn = mx.random.multivariate_normal(mx.zeros((2,)), mx.eye(2), (3,), key=k)
    assert mvn.shape == (3, 2)


def test_linalg_vs_numpy(rng):
    a = rng.standard_normal((4, 4)).astype(np.float32)
    spd = a @ a.T + 4 * np.eye(4, dtype=np.float32)
    b = rng.standard_normal((4, 2)).astype(np.float32)
    assert_close(mx.linalg.norm(a), np.linalg.norm(a), tol=1e-5)
    assert_close(mx.linalg.norm(a, ord=1, axis=(0, 1)), np.linalg.norm(a, ord=1), tol=1e-5)
    assert_close(mx.linalg.norm(a, "fro"), np.linalg.norm(a, "fro"), tol=1e-5)
    assert_close(mx.linalg.norm(a[0], ord=np.inf), np.linalg.norm(a[0], ord=np.inf), tol=1e-5)
    assert_close(mx.linalg.norm(a, axis=1, keepdims=True), np.linalg.norm(a, axis=1, keepdims=True), tol=1e-5)
    assert_close(mx.linalg.inv(spd), np.linalg.inv(spd), tol=1e-4)
    assert_close(mx.linalg.solve(spd, b), np.linalg.solve(spd, b), tol=1e-4)
    L = np.array(mx.linalg.cholesky(spd))
    assert_close(mx.array(L) @ mx.array(L.T), spd, tol=1e-4)
    q, r = mx.linalg.qr(a)
    assert_close(q @ r, a, tol=1e-4)
    u, s, vt = mx.linalg.svd(a)
    assert_close(s, np.linalg.svd(a, compute_uv=False), tol=1e-4)
    assert_close((u * s) @ vt, a, tol=1e-4)
    assert_close(mx.linalg.svd(a, compute_uv=False), np.linalg.svd(a, compute_uv=False), tol=1e-4)
    w, v = mx.linalg.eigh(spd)
    assert_close(w, np.linalg.eigvalsh(spd), tol=1e-3)
    assert_close((v * w) @ v.T, spd, tol=1e-3)
    assert_close(mx.linalg.eigvalsh(spd), np.linalg.eigvalsh(spd), tol=1e-3)
    assert_close(mx.linalg.det(spd), np.linalg.det(spd), tol=1e-2)
    sign, logdet = mx.linalg.slogdet(spd)
    assert sign.item() == 1.0 and logdet.item() == pytest.approx(np.linalg.slogdet(spd)[1], rel=1e-4)
    assert_close(mx.linalg.pinv(a), np.linalg.pinv(a), tol=1e-3)
    p, lo, up = mx.linalg.lu(a)
    assert_close(lo[p] @ up, a, tol=1e-4)
    lu, piv = mx.linalg.lu_factor(a)
    assert lu.shape == (4, 4) and piv.shape == (4,)
    ev = np.sort_complex(np.array(mx.linalg.eigvals(spd)))
    np.testing.assert_allclose(ev.real, np.sort(np.linalg.eigvalsh(spd)), rtol=1e-3)
    assert len(mx.linalg.eig(spd)) == 2
    tri = np.triu(spd)
    assert_close(mx.linalg.tri_inv(tri, upper=True), np.linalg.inv(tri), tol=1e-4)
    assert_close(mx.linalg.solve_triangular(tri, b, upper=True), np.linalg.solve(tri, b), tol=1e-4)
    assert_close(mx.linalg.cholesky_inv(mx.linalg.cholesky(spd)), np.linalg.inv(spd), tol=1e-4)
    assert_close(mx.linalg.cross(a[0, :3], a[1, :3]), np.cross(a[0, :3], a[1, :3]), tol=1e-5)
    with pytest.raises(ValueError, match="square"):
        mx.linalg.inv(mx.zeros((2, 3)))


def test_fft_vs_numpy(rng):
    x = rng.standard_normal((4, 8)).astype(np.float32)
    assert_close(mx.fft.fft(x), np.fft.fft(x), tol=1e-4)
    assert_close(mx.fft.fft(x, n=5, axis=0), np.fft.fft(x, n=5, axis=0), tol=1e-4)
    assert_close(mx.fft.ifft(mx.fft.fft(x)), x.astype(np.complex64), tol=1e-4)
    assert_close(mx.fft.rfft(x), np.fft.rfft(x), tol=1e-4)
    assert_close(mx.fft.irfft(mx.fft.rfft(x)), x, tol=1e-4)
    assert_close(mx.fft.fft2(x), np.fft.fft2(x), tol=1e-4)
    assert_close(mx.fft.ifft2(x), np.fft.ifft2(x), tol=1e-4)
    assert_close(mx.fft.rfft2(x), np.fft.rfft2(x), tol=1e-4)
    assert_close(mx.fft.irfft2(mx.fft.rfft2(x)), x, tol=1e-4)
    assert_close(mx.fft.fftn(x), np.fft.fftn(x), tol=1e-4)
    assert_close(mx.fft.fftn(x, s=(2, 4), axes=(0, 1)), np.fft.fftn(x, s=(2, 4), axes=(0, 1)), tol=1e-4)
    assert_close(mx.fft.ifftn(x), np.fft.ifftn(x), tol=1e-4)
    assert_close(mx.fft.rfftn(x), np.fft.rfftn(x), tol=1e-4)
    assert_close(mx.fft.irfftn(mx.fft.rfftn(x)), x, tol=1e-4)
    assert_close(mx.fft.fftshift(x), np.fft.fftshift(x))
    assert_close(mx.fft.ifftshift(x, axes=[1]), np.fft.ifftshift(x, axes=[1]))


def test_hadamard_transform(rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    h2 = np.array([[1, 1], [1, -1]], np.float32)
    h4 = np.kron(h2, h2)
    assert_close(mx.hadamard_transform(x), x @ h4 / 2, tol=1e-5)


def test_devices_and_streams():
    assert mx.cpu == mx.DeviceType.cpu
    d = mx.default_device()
    assert isinstance(d, mx.Device)
    assert mx.Device(mx.cpu) == mx.cpu
    assert repr(mx.Device(mx.cpu)) == "Device(cpu, 0)"
    assert mx.is_available(mx.cpu)
    s = mx.new_stream(mx.cpu)
    assert s.device == mx.Device(mx.cpu)
    assert s != mx.default_stream(mx.cpu)
    out = mx.add(mx.ones((3,)), 1, stream=s)
    assert out.tolist() == [2, 2, 2]
    assert mx.sum(mx.ones((3,)), stream=mx.cpu).item() == 3
    assert mx.exp(mx.zeros((1,)), stream=mx.Device(mx.cpu)).item() == 1
    mx.synchronize(s)
    mx.synchronize()
    old = mx.default_device()
    mx.set_default_device(mx.cpu)
    assert mx.default_device() == mx.cpu
    mx.set_default_device(old)


def test_memory_functions():
    mx.eval(mx.ones((1000,)) * 2)
    assert mx.get_active_memory() >= 0
    assert mx.get_peak_memory() >= mx.get_active_memory()
    assert mx.get_cache_memory() >= 0
    old = mx.set_memory_limit(1 << 40)
    assert mx.get_memory_limit() == 1 << 40
    mx.set_memory_limit(old)
    old_cache = mx.set_cache_limit(1 << 30)
    mx.set_cache_limit(old_cache)
    mx.clear_cache()
    assert mx.get_cache_memory() == 0
    mx.reset_peak_memory()


def test_stream_context_manager():
    s = mx.new_stream(mx.cpu)
    before = mx.default_stream(mx.cpu)
    with mx.stream(s):
        assert mx.default_stream(mx.cpu) == s
        out = mx.ones((2,)) + 1
    assert mx.default_stream(mx.cpu) == before
    assert out.tolist() == [2, 2]
    with mx.stream(mx.cpu):
        assert mx.default_device() == mx.cpu


def test_cuda_availability_is_a_bool():
    assert mx.cuda.is_available() in (True, False)
    assert mx.cuda.is_available() == mx.is_available(mx.gpu)
