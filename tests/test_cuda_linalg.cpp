// The cuSOLVER linalg kernels (backend/cuda/linalg.cpp) on random well-conditioned inputs,
// float32 and float64, batched and non-contiguous (transposed and batch-permuted views):
// every result must come from the GPU kernel (no CPU fallback), agree with the CPU LAPACK
// kernel where the answer is unique (inverses, Cholesky factors, singular values, LU with its
// pivots, eigenvalues) and satisfy the factorization's invariants, checked on the host in
// float64 (Q^T Q = I and Q R = A, U S Vt = A, A V = V diag(w), A[i] = (L U)[P[i]], ...).
// Singular and non-positive-definite inputs must throw std::runtime_error on the GPU as on
// the CPU. Skipped without a GPU; runs on the CPU emulator in `make test-emu`.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <functional>
#include <string>
#include <vector>

#include "ember/backend/gpu.h"
#include "ember/ember.h"
#include "ember/primitives_linalg.h"
#include "gpu_test_utils.h"

using namespace ember;

#ifdef EMBER_HAS_CUDA

namespace {

const Device kCpu = Device::cpu;
const Device kGpu = Device::gpu;

// ---------------------------------------------------------------- inputs

array randn(const Shape& shape, uint64_t seed) {
  return random::normal(shape, float64, 0.0, 1.0, random::key(seed), kCpu);
}

// (..., N, N) random plus N on the diagonal: well conditioned.
array well_conditioned(const Shape& shape, Dtype t, uint64_t seed) {
  int n = shape.back();
  array a = add(randn(shape, seed), multiply(array(static_cast<double>(n)), eye(n, float64, kCpu), kCpu), kCpu);
  return astype(a, t, kCpu);
}

// (..., N, N) symmetric positive definite: B B^T + N I.
array spd(const Shape& shape, Dtype t, uint64_t seed) {
  int n = shape.back();
  array b = randn(shape, seed);
  array a = add(matmul(b, swapaxes(b, -1, -2, kCpu), kCpu),
                multiply(array(static_cast<double>(n)), eye(n, float64, kCpu), kCpu), kCpu);
  return astype(a, t, kCpu);
}

// `a` with the triangle a kernel must not read (strictly above the diagonal when reading the
// lower one) replaced by junk, so a kernel that reads it gives a different answer.
array junk_outside(const array& a, bool read_upper, uint64_t seed) {
  array junk = astype(multiply(array(100.0), randn(a.shape(), seed), kCpu), a.dtype(), kCpu);
  array kept = read_upper ? triu(a, 0, kCpu) : tril(a, 0, kCpu);
  array other = read_upper ? tril(junk, -1, kCpu) : triu(junk, 1, kCpu);
  return add(kept, other, kCpu);
}

// The same values as `a` (..., R, C), stored transposed: a strided view.
array transposed_view(const array& a) {
  array t = contiguous(swapaxes(a, -1, -2, kCpu), false, kCpu);
  return swapaxes(t, -1, -2, kCpu);
}

// The same values as `a` (B0, B1, R, C), stored with the batch axes swapped.
array batch_permuted_view(const array& a) {
  array t = contiguous(transpose(a, {1, 0, 2, 3}, kCpu), false, kCpu);
  return transpose(t, {1, 0, 2, 3}, kCpu);
}

// ---------------------------------------------------------------- host views

// True when `a` came from a CUDA kernel: its buffer is device-only until a host read.
// A declined op runs its CPU kernel, whose output is host-resident.
bool computed_on_gpu(const array& a) {
  const auto& d = a.data_shared_ptr();
  return d && !d->host_valid.load();
}

std::vector<double> values(const array& x) {
  array y = contiguous(astype(x, float64, kCpu), false, kCpu);
  y.eval();
  return std::vector<double>(y.data<double>(), y.data<double>() + y.size());
}

// A batch of (r x c) matrices on the host, float64.
struct Mats {
  int64_t count = 1;
  int r = 1, c = 1;
  std::vector<double> v;
  double operator()(int64_t b, int i, int j) const { return v[(b * r + i) * c + j]; }
};

Mats mats(const array& x) {
  Mats m;
  m.r = x.shape(-2);
  m.c = x.shape(-1);
  for (size_t i = 0; i + 2 < x.ndim(); ++i) m.count *= x.shape(i);
  m.v = values(x);
  return m;
}

// (..., K) as (count, 1, K).
Mats vecs(const array& x) {
  Mats m;
  m.c = x.shape(-1);
  for (size_t i = 0; i + 1 < x.ndim(); ++i) m.count *= x.shape(i);
  m.v = values(x);
  return m;
}

double tol_of(Dtype t) { return t == float64 ? 1e-9 : 2e-4; }

// Checks |got - want| <= tol * max(1, |want|) elementwise (reporting the first few misses).
void expect_close(const std::vector<double>& got, const std::vector<double>& want, double tol,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < got.size() && bad < 3; ++i) {
    if (!(std::fabs(got[i] - want[i]) <= tol * std::max(1.0, std::fabs(want[i])))) {
      ++bad;
      ADD_FAILURE() << what << ": element " << i << " gpu " << got[i] << " cpu/expected " << want[i];
    }
  }
}

// max over the batch of |X Y - Z| with X (r x k), Y (k x c) given as element functions.
using Elem = std::function<double(int64_t, int, int)>;
double max_residual(int64_t count, int r, int k, int c, const Elem& x, const Elem& y, const Elem& z) {
  double worst = 0;
  for (int64_t b = 0; b < count; ++b) {
    for (int i = 0; i < r; ++i) {
      for (int j = 0; j < c; ++j) {
        double s = 0;
        for (int l = 0; l < k; ++l) s += x(b, i, l) * y(b, l, j);
        worst = std::max(worst, std::fabs(s - z(b, i, j)));
      }
    }
  }
  return worst;
}

double eye_elem(int64_t, int i, int j) { return i == j ? 1.0 : 0.0; }

// Runs the op on the GPU, evaluates every output and checks none fell back to the CPU.
std::vector<array> on_gpu(const std::function<std::vector<array>(Device)>& f, const std::string& what) {
  std::vector<array> out = f(kGpu);
  eval(out);
  for (size_t i = 0; i < out.size(); ++i)
    EXPECT_TRUE(computed_on_gpu(out[i])) << what << ": output " << i << " declined";
  return out;
}

std::vector<array> on_cpu(const std::function<std::vector<array>(Device)>& f) {
  std::vector<array> out = f(kCpu);
  eval(out);
  return out;
}

std::string name_of(const std::string& op, const array& a) {
  std::string s = op + " " + dtype_name(a.dtype()) + " (";
  for (size_t i = 0; i < a.ndim(); ++i) s += (i ? "," : "") + std::to_string(a.shape(i));
  return s + ")" + (a.flags().row_contiguous ? "" : " strided");
}

// The inputs of a test: contiguous, transposed and (4-d) batch-permuted layouts of each shape.
std::vector<array> layouts(const std::vector<array>& bases) {
  std::vector<array> out;
  for (const array& a : bases) {
    out.push_back(a);
    out.push_back(transposed_view(a));
    if (a.ndim() == 4) out.push_back(batch_permuted_view(a));
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------- Inverse

TEST(CudaLinalg, Inverse) {
  REQUIRE_GPU();
  for (Dtype t : {float32, float64}) {
    std::vector<array> inputs = layouts({well_conditioned({5, 5}, t, 1), well_conditioned({3, 2, 5, 5}, t, 2),
                                         well_conditioned({4, 17, 17}, t, 3), well_conditioned({1, 1}, t, 4)});
    inputs.push_back(broadcast_to(well_conditioned({1, 5, 5}, t, 35), {3, 5, 5}, kCpu));  // batch stride 0
    for (const array& a : inputs) {
      std::string what = name_of("inv", a);
      auto fn = [&](Device d) { return std::vector<array>{linalg::inv(a, d)}; };
      auto got = on_gpu(fn, what);
      auto want = on_cpu(fn);
      ASSERT_EQ(got[0].shape(), a.shape());
      expect_close(values(got[0]), values(want[0]), 10 * tol_of(t), what);
      Mats A = mats(a), X = mats(got[0]);
      double res = max_residual(
          A.count, A.r, A.r, A.r, [&](int64_t b, int i, int j) { return A(b, i, j); },
          [&](int64_t b, int i, int j) { return X(b, i, j); }, eye_elem);
      EXPECT_LE(res, 10 * tol_of(t)) << what << ": A inv(A) != I";
    }
  }
}

TEST(CudaLinalg, TriangularInverse) {
  REQUIRE_GPU();
  for (Dtype t : {float32, float64}) {
    for (bool upper : {false, true}) {
      for (const array& base : {well_conditioned({6, 6}, t, 5), well_conditioned({3, 2, 5, 5}, t, 6)}) {
        array a = junk_outside(base, upper, 7);
        for (const array& x : layouts({a})) {
          std::string what = name_of(upper ? "tri_inv upper" : "tri_inv lower", x);
          auto fn = [&](Device d) { return std::vector<array>{linalg::tri_inv(x, upper, d)}; };
          auto got = on_gpu(fn, what);
          auto want = on_cpu(fn);
          std::vector<double> g = values(got[0]);
          expect_close(g, values(want[0]), 10 * tol_of(t), what);
          Mats A = mats(base), X = mats(got[0]);
          auto tri = [&](int64_t b, int i, int j) { return (upper ? j >= i : j <= i) ? A(b, i, j) : 0.0; };
          for (int64_t b = 0; b < X.count; ++b)
            for (int i = 0; i < X.r; ++i)
              for (int j = 0; j < X.c; ++j)
                if (upper ? j < i : j > i) ASSERT_EQ(X(b, i, j), 0.0) << what << ": other triangle not zero";
          double res = max_residual(
              A.count, A.r, A.r, A.r, tri, [&](int64_t b, int i, int j) { return X(b, i, j); }, eye_elem);
          EXPECT_LE(res, 10 * tol_of(t)) << what << ": T inv(T) != I";
        }
      }
    }
  }
}

// ---------------------------------------------------------------- Cholesky

TEST(CudaLinalg, Cholesky) {
  REQUIRE_GPU();
  for (Dtype t : {float32, float64}) {
    for (bool upper : {false, true}) {
      for (const array& s : {spd({5, 5}, t, 8), spd({3, 2, 6, 6}, t, 9), spd({2, 16, 16}, t, 10)}) {
        array a = junk_outside(s, upper, 11);
        for (const array& x : layouts({a})) {
          std::string what = name_of(upper ? "cholesky upper" : "cholesky lower", x);
          auto fn = [&](Device d) { return std::vector<array>{linalg::cholesky(x, upper, d)}; };
          auto got = on_gpu(fn, what);
          auto want = on_cpu(fn);
          expect_close(values(got[0]), values(want[0]), 10 * tol_of(t), what);
          Mats S = mats(s), F = mats(got[0]);
          for (int64_t b = 0; b < F.count; ++b)
            for (int i = 0; i < F.r; ++i)
              for (int j = 0; j < F.c; ++j)
                if (upper ? j < i : j > i) ASSERT_EQ(F(b, i, j), 0.0) << what << ": other triangle not zero";
          // L L^T = A, or U^T U = A.
          Elem f = [&](int64_t b, int i, int j) { return F(b, i, j); };
          Elem ft = [&](int64_t b, int i, int j) { return F(b, j, i); };
          double res = max_residual(S.count, S.r, S.r, S.r, upper ? ft : f, upper ? f : ft,
                                    [&](int64_t b, int i, int j) { return S(b, i, j); });
          EXPECT_LE(res, 100 * tol_of(t)) << what << ": the factor does not reconstruct A";
        }
      }
    }
  }
}

// ---------------------------------------------------------------- QR

TEST(CudaLinalg, QR) {
  REQUIRE_GPU();
  for (Dtype t : {float32, float64}) {
    for (const array& a : layouts({astype(randn({5, 5}, 12), t, kCpu), astype(randn({3, 2, 7, 4}, 13), t, kCpu),
                                   astype(randn({2, 4, 7}, 14), t, kCpu), astype(randn({9, 1}, 15), t, kCpu)})) {
      std::string what = name_of("qr", a);
      auto fn = [&](Device d) {
        auto [q, r] = linalg::qr(a, d);
        return std::vector<array>{q, r};
      };
      auto got = on_gpu(fn, what);
      auto want = on_cpu(fn);
      ASSERT_EQ(got[0].shape(), want[0].shape()) << what;
      ASSERT_EQ(got[1].shape(), want[1].shape()) << what;
      Mats A = mats(a), Q = mats(got[0]), R = mats(got[1]);
      const int m = A.r, n = A.c, k = std::min(m, n);
      for (int64_t b = 0; b < R.count; ++b)
        for (int i = 0; i < k; ++i)
          for (int j = 0; j < std::min(i, n); ++j) ASSERT_EQ(R(b, i, j), 0.0) << what << ": R not upper triangular";
      double orth = max_residual(
          Q.count, k, m, k, [&](int64_t b, int i, int j) { return Q(b, j, i); },
          [&](int64_t b, int i, int j) { return Q(b, i, j); }, eye_elem);
      EXPECT_LE(orth, 10 * tol_of(t)) << what << ": Q^T Q != I";
      double rec = max_residual(
          A.count, m, k, n, [&](int64_t b, int i, int j) { return Q(b, i, j); },
          [&](int64_t b, int i, int j) { return R(b, i, j); }, [&](int64_t b, int i, int j) { return A(b, i, j); });
      EXPECT_LE(rec, 10 * tol_of(t)) << what << ": Q R != A";
      // R's diagonal is unique up to sign.
      Mats Rc = mats(want[1]);
      for (int64_t b = 0; b < R.count; ++b)
        for (int i = 0; i < k; ++i)
          EXPECT_NEAR(std::fabs(R(b, i, i)), std::fabs(Rc(b, i, i)),
                      10 * tol_of(t) * std::max(1.0, std::fabs(Rc(b, i, i))))
              << what;
    }
  }
}

// ---------------------------------------------------------------- SVD

TEST(CudaLinalg, SVD) {
  REQUIRE_GPU();
  for (Dtype t : {float32, float64}) {
    for (const array& a : layouts({astype(randn({5, 5}, 16), t, kCpu), astype(randn({3, 2, 7, 4}, 17), t, kCpu),
                                   astype(randn({2, 4, 7}, 18), t, kCpu), astype(randn({1, 6}, 19), t, kCpu)})) {
      std::string what = name_of("svd", a);
      auto fn = [&](Device d) { return linalg::svd(a, true, d); };
      auto got = on_gpu(fn, what);
      auto want = on_cpu(fn);
      for (int i = 0; i < 3; ++i) ASSERT_EQ(got[i].shape(), want[i].shape()) << what << ": output " << i;
      expect_close(values(got[1]), values(want[1]), 10 * tol_of(t), what + " S");
      auto s_only = on_gpu([&](Device d) { return linalg::svd(a, false, d); }, what + " S only");
      expect_close(values(s_only[0]), values(want[1]), 10 * tol_of(t), what + " S only");
      Mats A = mats(a), U = mats(got[0]), S = vecs(got[1]), Vt = mats(got[2]);
      const int m = A.r, n = A.c, k = std::min(m, n);
      for (int64_t b = 0; b < S.count; ++b)
        for (int i = 0; i + 1 < k; ++i) EXPECT_GE(S(b, 0, i), S(b, 0, i + 1)) << what << ": S not descending";
      double uo = max_residual(
          U.count, m, m, m, [&](int64_t b, int i, int j) { return U(b, j, i); },
          [&](int64_t b, int i, int j) { return U(b, i, j); }, eye_elem);
      double vo = max_residual(
          Vt.count, n, n, n, [&](int64_t b, int i, int j) { return Vt(b, i, j); },
          [&](int64_t b, int i, int j) { return Vt(b, j, i); }, eye_elem);
      EXPECT_LE(uo, 10 * tol_of(t)) << what << ": U^T U != I";
      EXPECT_LE(vo, 10 * tol_of(t)) << what << ": Vt Vt^T != I";
      double rec = max_residual(
          A.count, m, k, n, [&](int64_t b, int i, int j) { return U(b, i, j) * S(b, 0, j); },
          [&](int64_t b, int i, int j) { return Vt(b, i, j); }, [&](int64_t b, int i, int j) { return A(b, i, j); });
      EXPECT_LE(rec, 10 * tol_of(t)) << what << ": U S Vt != A";
    }
  }
}

// ---------------------------------------------------------------- LU

TEST(CudaLinalg, LU) {
  REQUIRE_GPU();
  // A singular matrix (zero column) factors without error, as on the CPU.
  array singular = astype(multiply(randn({4, 4}, 20), array({1.0, 0.0, 1.0, 1.0}, {4}), kCpu), float64, kCpu);
  for (Dtype t : {float32, float64}) {
    for (const array& a : layouts({astype(randn({5, 5}, 21), t, kCpu), astype(randn({3, 2, 7, 4}, 22), t, kCpu),
                                   astype(randn({2, 4, 7}, 23), t, kCpu), astype(singular, t, kCpu)})) {
      std::string what = name_of("lu_factor", a);
      auto fn = [&](Device d) {
        auto prim = std::make_shared<LUF>(default_stream(d));
        return array::make_arrays(prim->output_shapes({a}), {a.dtype(), uint32, uint32}, prim, {a});
      };
      auto got = on_gpu(fn, what);
      auto want = on_cpu(fn);
      for (int i = 0; i < 3; ++i) ASSERT_EQ(got[i].shape(), want[i].shape()) << what << ": output " << i;
      // The pivot chosen in an all-zero column is arbitrary: the singular case checks the invariant only.
      const bool is_singular = a.ndim() == 2 && a.shape(-2) == 4 && a.shape(-1) == 4;
      if (!is_singular) {
        expect_close(values(got[0]), values(want[0]), 10 * tol_of(t), what + " LU");
        EXPECT_EQ(values(got[1]), values(want[1])) << what << ": pivots";
        EXPECT_EQ(values(got[2]), values(want[2])) << what << ": permutation";
      }
      // A[i] = (L U)[P[i]].
      Mats A = mats(a), LU = mats(got[0]), P = vecs(got[2]);
      const int m = A.r, n = A.c, k = std::min(m, n);
      double worst = 0;
      for (int64_t b = 0; b < A.count; ++b) {
        for (int i = 0; i < m; ++i) {
          int row = static_cast<int>(P(b, 0, i));
          for (int j = 0; j < n; ++j) {
            double s = 0;
            for (int l = 0; l <= std::min(row, k - 1); ++l) {
              double lv = l == row ? 1.0 : LU(b, row, l);
              s += l <= j ? lv * LU(b, l, j) : 0.0;
            }
            worst = std::max(worst, std::fabs(s - A(b, i, j)));
          }
        }
      }
      EXPECT_LE(worst, 10 * tol_of(t)) << what << ": P, L, U do not reconstruct A";
    }
  }
}

// ---------------------------------------------------------------- Eigh

TEST(CudaLinalg, Eigh) {
  REQUIRE_GPU();
  for (Dtype t : {float32, float64}) {
    for (std::string uplo : {"L", "U"}) {
      for (const array& s :
           {spd({5, 5}, t, 24),
            astype(add(randn({3, 2, 6, 6}, 25), swapaxes(randn({3, 2, 6, 6}, 25), -1, -2, kCpu), kCpu), t, kCpu)}) {
        array a = junk_outside(s, uplo == "U", 26);
        for (const array& x : layouts({a})) {
          std::string what = name_of("eigh " + uplo, x);
          auto fn = [&](Device d) {
            auto [w, v] = linalg::eigh(x, uplo, d);
            return std::vector<array>{w, v};
          };
          auto got = on_gpu(fn, what);
          auto want = on_cpu(fn);
          expect_close(values(got[0]), values(want[0]), 10 * tol_of(t), what + " w");
          auto w_only = on_gpu([&](Device d) { return std::vector<array>{linalg::eigvalsh(x, uplo, d)}; }, what);
          expect_close(values(w_only[0]), values(want[0]), 10 * tol_of(t), what + " eigvalsh");
          Mats S = mats(s), W = vecs(got[0]), V = mats(got[1]);
          const int n = S.r;
          for (int64_t b = 0; b < W.count; ++b)
            for (int i = 0; i + 1 < n; ++i) EXPECT_LE(W(b, 0, i), W(b, 0, i + 1)) << what << ": not ascending";
          // A V = V diag(w) and V^T V = I.
          double res = max_residual(
              S.count, n, n, n, [&](int64_t b, int i, int j) { return S(b, i, j); },
              [&](int64_t b, int i, int j) { return V(b, i, j); },
              [&](int64_t b, int i, int j) { return V(b, i, j) * W(b, 0, j); });
          EXPECT_LE(res, 100 * tol_of(t)) << what << ": A V != V diag(w)";
          double orth = max_residual(
              V.count, n, n, n, [&](int64_t b, int i, int j) { return V(b, j, i); },
              [&](int64_t b, int i, int j) { return V(b, i, j); }, eye_elem);
          EXPECT_LE(orth, 10 * tol_of(t)) << what << ": V^T V != I";
        }
      }
    }
  }
}

// ---------------------------------------------------------------- Eig

TEST(CudaLinalg, Eig) {
  REQUIRE_GPU();
  using C = std::complex<double>;
  for (Dtype t : {float32, float64}) {
    for (const array& a : layouts({astype(randn({5, 5}, 27), t, kCpu), astype(randn({3, 2, 6, 6}, 28), t, kCpu)})) {
      std::string what = name_of("eig", a);
      auto fn = [&](Device d) {
        auto [w, v] = linalg::eig(a, d);
        return std::vector<array>{w, v};
      };
      auto got = on_gpu(fn, what);
      auto want = on_cpu(fn);
      ASSERT_EQ(got[0].dtype(), complex64);
      ASSERT_EQ(got[1].dtype(), complex64);
      auto vals_only = on_gpu([&](Device d) { return std::vector<array>{linalg::eigvals(a, d)}; }, what);
      Mats A = mats(a), Wr = vecs(real(got[0], kCpu)), Wi = vecs(imag(got[0], kCpu));
      Mats Cr = vecs(real(want[0], kCpu)), Ci = vecs(imag(want[0], kCpu));
      Mats Or = vecs(real(vals_only[0], kCpu)), Oi = vecs(imag(vals_only[0], kCpu));
      Mats Vr = mats(real(got[1], kCpu)), Vi = mats(imag(got[1], kCpu));
      const int n = A.r;
      const double tol = 1e-3;  // complex64 outputs
      for (int64_t b = 0; b < A.count; ++b) {
        for (int j = 0; j < n; ++j) {
          // Every CPU eigenvalue is one of the GPU's (any order), also in eigvals.
          C cw(Cr(b, 0, j), Ci(b, 0, j));
          double best = 1e300, best_only = 1e300;
          for (int l = 0; l < n; ++l) {
            best = std::min(best, std::abs(cw - C(Wr(b, 0, l), Wi(b, 0, l))));
            best_only = std::min(best_only, std::abs(cw - C(Or(b, 0, l), Oi(b, 0, l))));
          }
          EXPECT_LE(best, tol * std::max(1.0, std::abs(cw))) << what << ": eigenvalue " << cw << " missing";
          EXPECT_LE(best_only, tol * std::max(1.0, std::abs(cw))) << what << ": eigvals misses " << cw;
          // A v_j = w_j v_j with |v_j| = 1.
          C w(Wr(b, 0, j), Wi(b, 0, j));
          double norm = 0, res = 0;
          for (int i = 0; i < n; ++i) {
            C av = 0;
            for (int l = 0; l < n; ++l) av += A(b, i, l) * C(Vr(b, l, j), Vi(b, l, j));
            res = std::max(res, std::abs(av - w * C(Vr(b, i, j), Vi(b, i, j))));
            norm += std::norm(C(Vr(b, i, j), Vi(b, i, j)));
          }
          EXPECT_LE(res, tol * std::max(1.0, std::abs(w))) << what << ": A v != w v for column " << j;
          EXPECT_NEAR(norm, 1.0, tol) << what << ": column " << j << " not unit norm";
        }
      }
    }
  }
}

// ---------------------------------------------------------------- errors

namespace {

// Both devices must throw std::runtime_error mentioning `words` when `f`'s result is evaluated.
void expect_both_throw(const std::function<array(Device)>& f, const std::string& words, const std::string& what) {
  for (Device d : {kCpu, kGpu}) {
    std::string msg;
    try {
      array r = f(d);
      r.eval();
    } catch (const std::runtime_error& e) {
      msg = e.what();
    }
    EXPECT_NE(msg.find(words), std::string::npos) << what << " on " << (d == kCpu ? "cpu" : "gpu")
                                                  << ": expected an error with '" << words << "', got '" << msg << "'";
  }
}

}  // namespace

TEST(CudaLinalg, ErrorsAreExceptions) {
  REQUIRE_GPU();
  for (Dtype t : {float32, float64}) {
    // Matrix 1 of 3 has a zero column: exactly singular.
    array zero_col = array({1.0, 1.0, 0.0, 1.0}, {1, 4}, float64);
    array mask = concatenate(
        {ones({1, 4, 4}, float64, kCpu), broadcast_to(zero_col, {1, 4, 4}, kCpu), ones({1, 4, 4}, float64, kCpu)}, 0,
        kCpu);
    array sing = astype(multiply(well_conditioned({3, 4, 4}, float64, 30), mask, kCpu), t, kCpu);
    expect_both_throw([&](Device d) { return linalg::inv(sing, d); }, "singular", "inv " + dtype_name(t));
    // A zero on the diagonal of a triangular matrix: element (2, 2) masked out.
    array hole = subtract(ones({5, 5}, float64, kCpu),
                          multiply(eye(5, float64, kCpu), array({0.0, 0.0, 1.0, 0.0, 0.0}, {5}), kCpu), kCpu);
    array tri = astype(multiply(well_conditioned({2, 5, 5}, float64, 31), hole, kCpu), t, kCpu);
    expect_both_throw([&](Device d) { return linalg::tri_inv(tri, false, d); }, "singular", "tri_inv " + dtype_name(t));
    // diag(1, -1, 1, 1) is symmetric but not positive definite.
    array indef = astype(multiply(eye(4, float64, kCpu), array({1.0, -1.0, 1.0, 1.0}, {4}), kCpu), t, kCpu);
    array batch = concatenate({expand_dims(spd({4, 4}, t, 33), 0, kCpu), expand_dims(indef, 0, kCpu)}, 0, kCpu);
    expect_both_throw([&](Device d) { return linalg::cholesky(batch, false, d); }, "not positive definite",
                      "cholesky " + dtype_name(t));
    expect_both_throw([&](Device d) { return linalg::cholesky(batch, true, d); }, "not positive definite",
                      "cholesky upper " + dtype_name(t));
  }
  // The GPU keeps working after an error.
  array a = well_conditioned({3, 3}, float64, 34);
  auto got = on_gpu([&](Device d) { return std::vector<array>{linalg::inv(a, d)}; }, "inv after errors");
  expect_close(values(got[0]), values(linalg::inv(a, kCpu)), 1e-9, "inv after errors");
}

#endif  // EMBER_HAS_CUDA
