// CPU kernels of the LAPACK-backed linalg primitives (Inverse, Cholesky, QRF,
// SVD, LUF, Eig, Eigh) through LAPACKE, float32 (s*) and float64 (d*).
//
// Every kernel sees an input (..., M, N) and runs one LAPACK call sequence per
// matrix of the batch. The input is made row-contiguous once; each matrix is
// then copied into the output buffer (when the op works in place) or into a
// per-matrix scratch block and handed to LAPACKE in row-major layout (LAPACKE
// transposes to LAPACK's column-major internally). Matrices are independent,
// so the batch is split across the thread pool; a LAPACK failure (singular,
// not positive definite, no convergence) is recorded per matrix and thrown as
// std::runtime_error naming the first failing matrix after the loop.

#include <algorithm>
#include <cstring>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "ember/allocator.h"
#include "ember/backend/cpu/blas.h"
#include "ember/backend/cpu/copy.h"
#include "ember/primitives_linalg.h"
#include "ember/scheduler.h"

namespace ember {

namespace cpu {
namespace {

constexpr int kRowMajor = LAPACK_ROW_MAJOR;

// ---------------------------------------------------------------- LAPACKE overloads by element type

lapack_int getrf(int m, int n, float* a, lapack_int* ipiv) { return LAPACKE_sgetrf(kRowMajor, m, n, a, n, ipiv); }
lapack_int getrf(int m, int n, double* a, lapack_int* ipiv) { return LAPACKE_dgetrf(kRowMajor, m, n, a, n, ipiv); }
lapack_int getri(int n, float* a, const lapack_int* ipiv) { return LAPACKE_sgetri(kRowMajor, n, a, n, ipiv); }
lapack_int getri(int n, double* a, const lapack_int* ipiv) { return LAPACKE_dgetri(kRowMajor, n, a, n, ipiv); }
lapack_int trtri(char uplo, int n, float* a) { return LAPACKE_strtri(kRowMajor, uplo, 'N', n, a, n); }
lapack_int trtri(char uplo, int n, double* a) { return LAPACKE_dtrtri(kRowMajor, uplo, 'N', n, a, n); }
lapack_int potrf(char uplo, int n, float* a) { return LAPACKE_spotrf(kRowMajor, uplo, n, a, n); }
lapack_int potrf(char uplo, int n, double* a) { return LAPACKE_dpotrf(kRowMajor, uplo, n, a, n); }
lapack_int geqrf(int m, int n, float* a, float* tau) { return LAPACKE_sgeqrf(kRowMajor, m, n, a, n, tau); }
lapack_int geqrf(int m, int n, double* a, double* tau) { return LAPACKE_dgeqrf(kRowMajor, m, n, a, n, tau); }
// Q's first k columns, from geqrf's reflectors stored in a (m x lda).
lapack_int orgqr(int m, int k, int lda, float* a, const float* tau) {
  return LAPACKE_sorgqr(kRowMajor, m, k, k, a, lda, tau);
}
lapack_int orgqr(int m, int k, int lda, double* a, const double* tau) {
  return LAPACKE_dorgqr(kRowMajor, m, k, k, a, lda, tau);
}
lapack_int gesvd(char job, int m, int n, float* a, float* s, float* u, float* vt, float* superb) {
  return LAPACKE_sgesvd(kRowMajor, job, job, m, n, a, n, s, u, m, vt, n, superb);
}
lapack_int gesvd(char job, int m, int n, double* a, double* s, double* u, double* vt, double* superb) {
  return LAPACKE_dgesvd(kRowMajor, job, job, m, n, a, n, s, u, m, vt, n, superb);
}
lapack_int geev(char jobvr, int n, float* a, float* wr, float* wi, float* vr) {
  return LAPACKE_sgeev(kRowMajor, 'N', jobvr, n, a, n, wr, wi, nullptr, n, vr, n);
}
lapack_int geev(char jobvr, int n, double* a, double* wr, double* wi, double* vr) {
  return LAPACKE_dgeev(kRowMajor, 'N', jobvr, n, a, n, wr, wi, nullptr, n, vr, n);
}
lapack_int syevd(char jobz, char uplo, int n, float* a, float* w) {
  return LAPACKE_ssyevd(kRowMajor, jobz, uplo, n, a, n, w);
}
lapack_int syevd(char jobz, char uplo, int n, double* a, double* w) {
  return LAPACKE_dsyevd(kRowMajor, jobz, uplo, n, a, n, w);
}

// ---------------------------------------------------------------- batching

// (batch, M, N) view of an input (..., M, N).
struct Batch {
  int64_t count = 1;
  int m = 0, n = 0;
  explicit Batch(const array& a) {
    m = a.shape(-2);
    n = a.shape(-1);
    for (size_t i = 0; i + 2 < a.ndim(); ++i) count *= a.shape(i);
  }
};

// Runs f(b) for every matrix b of the batch on the pool; f returns LAPACK's info.
// Throws "[op] <what> (matrix b of the batch, LAPACK info k)" for the first b with info != 0.
template <class F>
void for_each_matrix(int64_t count, int64_t work_per_matrix, const char* op, const char* what, F&& f) {
  std::vector<lapack_int> info(count, 0);
  int64_t grain = std::max<int64_t>(1, (1 << 15) / std::max<int64_t>(work_per_matrix, 1));
  scheduler::parallel_for(count, grain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) info[i] = f(i);
  });
  for (int64_t i = 0; i < count; ++i) {
    if (info[i] == 0) continue;
    std::ostringstream os;
    os << "[" << op << "] " << (info[i] < 0 ? "invalid LAPACK argument" : what) << " (matrix " << i
       << " of the batch, LAPACK info " << info[i] << ")";
    throw std::runtime_error(os.str());
  }
}

// Zeroes the strict lower (keep_upper) or strict upper triangle of a row-major n x n matrix.
template <class T>
void zero_other_triangle(T* a, int n, bool keep_upper) {
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) {
      if (keep_upper ? j < i : j > i) a[i * n + j] = T(0);
    }
  }
}

// Runs f(T{}) for a float32 or float64 dtype (the ops reject the others).
template <class F>
void dispatch_real(Dtype t, const char* op, F&& f) {
  if (t == float32) {
    f(float{});
  } else if (t == float64) {
    f(double{});
  } else {
    throw std::invalid_argument(std::string("[") + op + "] unsupported dtype " + dtype_name(t));
  }
}

void allocate(std::vector<array>& outputs) {
  for (auto& o : outputs) o.set_data(allocator::malloc(o.nbytes()));
}

}  // namespace
}  // namespace cpu

// ---------------------------------------------------------------- Inverse

void Inverse::eval_cpu(const std::vector<array>& inputs, array& out) {
  // a: (..., N, N) -> out: (..., N, N), inverted in place in out's buffer.
  using namespace cpu;
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  copy_to_contiguous(inputs[0], out);
  Batch bt(out);
  const int n = bt.n;
  const char* op = tri_ ? "linalg::tri_inv" : "linalg::inv";
  dispatch_real(out.dtype(), op, [&](auto t) {
    using T = decltype(t);
    T* base = out.data<T>();
    for_each_matrix(bt.count, int64_t(n) * n * n, op, "the matrix is singular", [&](int64_t b) -> lapack_int {
      T* a = base + b * n * n;
      if (tri_) {
        zero_other_triangle(a, n, upper_);
        return trtri(upper_ ? 'U' : 'L', n, a);
      }
      std::vector<lapack_int> ipiv(n);
      lapack_int info = getrf(n, n, a, ipiv.data());
      return info != 0 ? info : getri(n, a, ipiv.data());
    });
  });
}

bool Inverse::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Inverse*>(&other);
  return o && o->tri_ == tri_ && o->upper_ == upper_;
}

// ---------------------------------------------------------------- Cholesky

void Cholesky::eval_cpu(const std::vector<array>& inputs, array& out) {
  // a: (..., N, N) symmetric positive definite -> out: (..., N, N) triangular factor.
  using namespace cpu;
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  copy_to_contiguous(inputs[0], out);
  Batch bt(out);
  const int n = bt.n;
  dispatch_real(out.dtype(), "linalg::cholesky", [&](auto t) {
    using T = decltype(t);
    T* base = out.data<T>();
    for_each_matrix(bt.count, int64_t(n) * n * n, "linalg::cholesky", "the matrix is not positive definite",
                    [&](int64_t b) -> lapack_int {
                      T* a = base + b * n * n;
                      lapack_int info = potrf(upper_ ? 'U' : 'L', n, a);
                      zero_other_triangle(a, n, upper_);
                      return info;
                    });
  });
}

bool Cholesky::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Cholesky*>(&other);
  return o && o->upper_ == upper_;
}

// ---------------------------------------------------------------- QRF

std::vector<Shape> QRF::output_shapes(const std::vector<array>& inputs) {
  Shape q = inputs[0].shape(), r = q;
  int k = std::min(q[q.size() - 2], q.back());
  q.back() = k;
  r[r.size() - 2] = k;
  return {q, r};
}

void QRF::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  // a: (..., M, N) -> Q: (..., M, K), R: (..., K, N).
  using namespace cpu;
  allocate(outputs);
  if (inputs[0].size() == 0) {
    for (auto& o : outputs) std::memset(o.raw_ptr(), 0, o.nbytes());
    return;
  }
  array in = ensure_row_contiguous(inputs[0]);
  Batch bt(in);
  const int m = bt.m, n = bt.n, k = std::min(m, n);
  dispatch_real(in.dtype(), "linalg::qr", [&](auto t) {
    using T = decltype(t);
    const T* src = in.data<T>();
    T* q = outputs[0].data<T>();
    T* r = outputs[1].data<T>();
    for_each_matrix(bt.count, int64_t(m) * n * k, "linalg::qr", "the factorization failed",
                    [&](int64_t b) -> lapack_int {
                      std::vector<T> a(src + b * m * n, src + (b + 1) * m * n), tau(std::max(k, 1));
                      lapack_int info = geqrf(m, n, a.data(), tau.data());
                      if (info != 0) return info;
                      T* rb = r + b * k * n;
                      for (int i = 0; i < k; ++i) {
                        for (int j = 0; j < n; ++j) rb[i * n + j] = j >= i ? a[i * n + j] : T(0);
                      }
                      info = orgqr(m, k, n, a.data(), tau.data());
                      T* qb = q + b * m * k;
                      for (int i = 0; i < m; ++i) std::copy(&a[i * n], &a[i * n] + k, qb + i * k);
                      return info;
                    });
  });
}

// ---------------------------------------------------------------- SVD

std::vector<Shape> SVD::output_shapes(const std::vector<array>& inputs) {
  const Shape& a = inputs[0].shape();
  Shape batch(a.begin(), a.end() - 2), u = batch, s = batch, vt = batch;
  int m = a[a.size() - 2], n = a.back();
  s.push_back(std::min(m, n));
  if (!compute_uv_) return {s};
  u.insert(u.end(), {m, m});
  vt.insert(vt.end(), {n, n});
  return {u, s, vt};
}

void SVD::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  // a: (..., M, N) -> [U: (..., M, M)], S: (..., K), [Vt: (..., N, N)].
  using namespace cpu;
  allocate(outputs);
  array in = ensure_row_contiguous(inputs[0]);
  Batch bt(in);
  const int m = bt.m, n = bt.n, k = std::min(m, n);
  if (in.size() == 0) {
    // No singular values; U and Vt of an empty product are identities.
    for (auto& o : outputs) std::memset(o.raw_ptr(), 0, o.nbytes());
    if (compute_uv_) {
      dispatch_real(in.dtype(), "linalg::svd", [&](auto t) {
        using T = decltype(t);
        for (int64_t b = 0; b < bt.count; ++b) {
          for (int i = 0; i < m; ++i) outputs[0].data<T>()[b * m * m + i * m + i] = T(1);
          for (int i = 0; i < n; ++i) outputs[2].data<T>()[b * n * n + i * n + i] = T(1);
        }
      });
    }
    return;
  }
  dispatch_real(in.dtype(), "linalg::svd", [&](auto t) {
    using T = decltype(t);
    const T* src = in.data<T>();
    T* s = outputs[compute_uv_ ? 1 : 0].data<T>();
    T* u = compute_uv_ ? outputs[0].data<T>() : nullptr;
    T* vt = compute_uv_ ? outputs[2].data<T>() : nullptr;
    for_each_matrix(bt.count, int64_t(m) * n * std::max(m, n), "linalg::svd", "the SVD did not converge",
                    [&](int64_t b) -> lapack_int {
                      std::vector<T> a(src + b * m * n, src + (b + 1) * m * n), superb(std::max(k, 2));
                      return gesvd(compute_uv_ ? 'A' : 'N', m, n, a.data(), s + b * k,
                                   compute_uv_ ? u + b * m * m : nullptr, compute_uv_ ? vt + b * n * n : nullptr,
                                   superb.data());
                    });
  });
}

bool SVD::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const SVD*>(&other);
  return o && o->compute_uv_ == compute_uv_;
}

// ---------------------------------------------------------------- LUF

std::vector<Shape> LUF::output_shapes(const std::vector<array>& inputs) {
  const Shape& a = inputs[0].shape();
  Shape piv(a.begin(), a.end() - 2), perm = piv;
  piv.push_back(std::min(a[a.size() - 2], a.back()));
  perm.push_back(a[a.size() - 2]);
  return {a, piv, perm};
}

void LUF::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  // a: (..., M, N) -> LU: (..., M, N) in place, pivots: (..., K), P: (..., M).
  using namespace cpu;
  allocate(outputs);
  if (inputs[0].size() == 0) {
    // Empty matrices: nothing to factor; the permutation is the identity.
    Batch bt(inputs[0]);
    uint32_t* p = outputs[2].data<uint32_t>();
    for (int64_t b = 0; b < bt.count; ++b) std::iota(p + b * bt.m, p + (b + 1) * bt.m, 0u);
    return;
  }
  copy_to_contiguous(inputs[0], outputs[0]);
  Batch bt(outputs[0]);
  const int m = bt.m, n = bt.n, k = std::min(m, n);
  uint32_t* piv = outputs[1].data<uint32_t>();
  uint32_t* perm = outputs[2].data<uint32_t>();
  dispatch_real(outputs[0].dtype(), "linalg::lu_factor", [&](auto t) {
    using T = decltype(t);
    T* base = outputs[0].data<T>();
    for_each_matrix(bt.count, int64_t(m) * n * k, "linalg::lu_factor", "the factorization failed",
                    [&](int64_t b) -> lapack_int {
                      std::vector<lapack_int> ipiv(std::max(k, 1));
                      lapack_int info = getrf(m, n, base + b * m * n, ipiv.data());
                      // info > 0: U has an exact zero on its diagonal; the factors are still valid.
                      if (info < 0) return info;
                      // rows[i]: the row of A that ends up as row i of L U.
                      std::vector<uint32_t> rows(m);
                      std::iota(rows.begin(), rows.end(), 0u);
                      for (int i = 0; i < k; ++i) {
                        piv[b * k + i] = static_cast<uint32_t>(ipiv[i] - 1);
                        std::swap(rows[i], rows[ipiv[i] - 1]);
                      }
                      for (int i = 0; i < m; ++i) perm[b * m + rows[i]] = static_cast<uint32_t>(i);
                      return 0;
                    });
  });
}

// ---------------------------------------------------------------- Eig

std::vector<Shape> Eig::output_shapes(const std::vector<array>& inputs) {
  const Shape& a = inputs[0].shape();
  Shape w(a.begin(), a.end() - 1);
  if (!compute_eigenvectors_) return {w};
  return {w, a};
}

void Eig::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  // a: (..., N, N) real -> w: (..., N) complex64, [V: (..., N, N) complex64 columns].
  using namespace cpu;
  allocate(outputs);
  if (inputs[0].size() == 0) return;
  array in = ensure_row_contiguous(inputs[0]);
  Batch bt(in);
  const int n = bt.n;
  complex64_t* w = outputs[0].data<complex64_t>();
  complex64_t* v = compute_eigenvectors_ ? outputs[1].data<complex64_t>() : nullptr;
  dispatch_real(in.dtype(), "linalg::eig", [&](auto t) {
    using T = decltype(t);
    const T* src = in.data<T>();
    for_each_matrix(bt.count, int64_t(10) * n * n * n, "linalg::eig", "the eigenvalue iteration did not converge",
                    [&](int64_t b) -> lapack_int {
                      std::vector<T> a(src + b * n * n, src + (b + 1) * n * n), wr(n), wi(n);
                      std::vector<T> vr(v ? static_cast<size_t>(n) * n : 1);
                      lapack_int info = geev(v ? 'V' : 'N', n, a.data(), wr.data(), wi.data(), vr.data());
                      if (info != 0) return info;
                      complex64_t* wb = w + b * n;
                      for (int j = 0; j < n; ++j) wb[j] = complex64_t(float(wr[j]), float(wi[j]));
                      if (!v) return 0;
                      // A complex pair (j, j+1) is stored as real part in column j, imaginary in j+1.
                      complex64_t* vb = v + b * n * n;
                      for (int j = 0; j < n; ++j) {
                        if (wi[j] == T(0)) {
                          for (int i = 0; i < n; ++i) vb[i * n + j] = complex64_t(float(vr[i * n + j]), 0.0f);
                          continue;
                        }
                        for (int i = 0; i < n; ++i) {
                          float re = float(vr[i * n + j]), im = float(vr[i * n + j + 1]);
                          vb[i * n + j] = complex64_t(re, im);
                          vb[i * n + j + 1] = complex64_t(re, -im);
                        }
                        ++j;
                      }
                      return 0;
                    });
  });
}

bool Eig::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Eig*>(&other);
  return o && o->compute_eigenvectors_ == compute_eigenvectors_;
}

// ---------------------------------------------------------------- Eigh

std::vector<Shape> Eigh::output_shapes(const std::vector<array>& inputs) {
  const Shape& a = inputs[0].shape();
  Shape w(a.begin(), a.end() - 1);
  if (!compute_eigenvectors_) return {w};
  return {w, a};
}

void Eigh::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  // a: (..., N, N) symmetric -> w: (..., N) ascending, [V: (..., N, N) columns].
  using namespace cpu;
  allocate(outputs);
  if (inputs[0].size() == 0) return;
  array in = ensure_row_contiguous(inputs[0]);
  Batch bt(in);
  const int n = bt.n;
  dispatch_real(in.dtype(), "linalg::eigh", [&](auto t) {
    using T = decltype(t);
    const T* src = in.data<T>();
    T* w = outputs[0].data<T>();
    T* v = compute_eigenvectors_ ? outputs[1].data<T>() : nullptr;
    for_each_matrix(bt.count, int64_t(4) * n * n * n, "linalg::eigh", "the eigenvalue iteration did not converge",
                    [&](int64_t b) -> lapack_int {
                      std::vector<T> scratch;
                      T* a;
                      if (v) {
                        a = v + b * n * n;
                        std::copy(src + b * n * n, src + (b + 1) * n * n, a);
                      } else {
                        scratch.assign(src + b * n * n, src + (b + 1) * n * n);
                        a = scratch.data();
                      }
                      return syevd(v ? 'V' : 'N', uplo_, n, a, w + b * n);
                    });
  });
}

bool Eigh::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Eigh*>(&other);
  return o && o->uplo_ == uplo_ && o->compute_eigenvectors_ == compute_eigenvectors_;
}

}  // namespace ember
