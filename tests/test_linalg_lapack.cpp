// ember::linalg (LAPACK-backed factorizations and their compositions) against
// independent float64 references on random inputs: reconstruction identities
// (Q R = A, U diag(S) Vt = A, A inv(A) = I, L L^T = A, L[P] U = A, A v = w v),
// a naive Gaussian elimination for det/slogdet and the LU pivots, a Jacobi
// eigen-solver for singular values in norm, plain loops for the vector norms
// and cross; hand-computed small cases; batched shapes, transposed / sliced /
// broadcast inputs, float32 and float64; error cases. Last,
// random::multivariate_normal's sample mean and covariance against the
// requested ones. The transforms are in test_grad_linalg_lapack.cpp.
#include <gtest/gtest.h>

#include <ember/ember.h>
#include <ember/primitives_linalg.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "test_utils.h"

using namespace ember;
using test_utils::cvalues;
using test_utils::expect_error;
using test_utils::numel;
using test_utils::values;

namespace {

using Vec = std::vector<double>;
constexpr double kInf = std::numeric_limits<double>::infinity();

// ------------------------------------------------------------ host references (float64)

// (M, K) @ (K, N), row-major.
Vec host_matmul(const Vec& a, const Vec& b, int m, int k, int n) {
  Vec c(static_cast<size_t>(m) * n, 0.0);
  for (int i = 0; i < m; ++i)
    for (int p = 0; p < k; ++p)
      for (int j = 0; j < n; ++j) c[i * n + j] += a[i * k + p] * b[p * n + j];
  return c;
}

Vec host_transpose(const Vec& a, int m, int n) {
  Vec t(a.size());
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) t[j * m + i] = a[i * n + j];
  return t;
}

Vec host_eye(int n) {
  Vec e(static_cast<size_t>(n) * n, 0.0);
  for (int i = 0; i < n; ++i) e[i * n + i] = 1.0;
  return e;
}

// Matrix b of a batch of (m, n) matrices stored row-major.
Vec mat(const Vec& all, int64_t b, int m, int n) { return Vec(all.begin() + b * m * n, all.begin() + (b + 1) * m * n); }

double max_abs(const Vec& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::abs(x));
  return m;
}

// Expects |got - want| <= tol * (1 + max|want|) elementwise.
void expect_near_all(const Vec& got, const Vec& want, double tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double scale = 1 + max_abs(want);
  int bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!(std::abs(got[i] - want[i]) <= tol * scale) && bad++ < 5) {
      ADD_FAILURE() << what << ": element " << i << " got " << got[i] << " want " << want[i] << " (tol " << tol * scale
                    << ")";
    }
  }
}

// Partial-pivoting Gaussian elimination of an (n, n) matrix: the determinant, the
// pivots (row swapped into position i at step i) and the packed LU factors.
struct NaiveLU {
  double det = 1;
  std::vector<int> piv;
  Vec lu;
};
NaiveLU naive_lu(Vec a, int n) {
  NaiveLU r;
  for (int i = 0; i < n; ++i) {
    int p = i;
    for (int k = i + 1; k < n; ++k) {
      if (std::abs(a[k * n + i]) > std::abs(a[p * n + i])) p = k;
    }
    r.piv.push_back(p);
    if (p != i) {
      for (int j = 0; j < n; ++j) std::swap(a[i * n + j], a[p * n + j]);
      r.det = -r.det;
    }
    r.det *= a[i * n + i];
    if (a[i * n + i] == 0) continue;
    for (int k = i + 1; k < n; ++k) {
      double f = a[k * n + i] / a[i * n + i];
      a[k * n + i] = f;
      for (int j = i + 1; j < n; ++j) a[k * n + j] -= f * a[i * n + j];
    }
  }
  r.lu = a;
  return r;
}

// Eigenvalues of a symmetric (n, n) matrix by cyclic Jacobi rotations, ascending.
Vec jacobi_eigenvalues(Vec a, int n) {
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0;
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j)
        if (i != j) off += a[i * n + j] * a[i * n + j];
    if (off < 1e-30) break;
    for (int p = 0; p < n; ++p) {
      for (int q = p + 1; q < n; ++q) {
        if (a[p * n + q] == 0) continue;
        double theta = (a[q * n + q] - a[p * n + p]) / (2 * a[p * n + q]);
        double t = (theta >= 0 ? 1 : -1) / (std::abs(theta) + std::sqrt(theta * theta + 1));
        double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (int k = 0; k < n; ++k) {  // columns p, q
          double akp = a[k * n + p], akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (int k = 0; k < n; ++k) {  // rows p, q
          double apk = a[p * n + k], aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
      }
    }
  }
  Vec w;
  for (int i = 0; i < n; ++i) w.push_back(a[i * n + i]);
  std::sort(w.begin(), w.end());
  return w;
}

// Singular values of an (m, n) matrix, descending: sqrt of the eigenvalues of A^T A or A A^T.
Vec naive_singular_values(const Vec& a, int m, int n) {
  Vec g = m >= n ? host_matmul(host_transpose(a, m, n), a, n, m, n) : host_matmul(a, host_transpose(a, m, n), m, n, m);
  Vec w = jacobi_eigenvalues(g, std::min(m, n));
  Vec s;
  for (auto it = w.rbegin(); it != w.rend(); ++it) s.push_back(std::sqrt(std::max(0.0, *it)));
  return s;
}

// ------------------------------------------------------------ inputs

enum class Layout { contiguous, transposed, sliced };
const Layout kLayouts[] = {Layout::contiguous, Layout::transposed, Layout::sliced};

double tol_of(Dtype t) { return t == float64 ? 1e-10 : 2e-4; }

Vec random_vec(int64_t n, std::mt19937& rng, double lo = -1, double hi = 1) {
  std::uniform_real_distribution<double> d(lo, hi);
  Vec v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Values `v` of logical `shape` in `layout`: a transposed view of the last two axes,
// or every other column of a wider array.
array make(const Vec& v, const Shape& shape, Dtype t, Layout layout = Layout::contiguous) {
  int nd = static_cast<int>(shape.size());
  if (layout == Layout::contiguous || nd < 2) return astype(array(v.data(), shape, float64), t);
  int m = shape[nd - 2], n = shape[nd - 1];
  int64_t batch = numel(shape) / std::max<int64_t>(1, int64_t(m) * n);
  if (layout == Layout::transposed) {
    Vec tv(v.size());
    for (int64_t b = 0; b < batch; ++b) {
      Vec tb = host_transpose(mat(v, b, m, n), m, n);
      std::copy(tb.begin(), tb.end(), tv.begin() + b * m * n);
    }
    Shape ts = shape;
    std::swap(ts[nd - 1], ts[nd - 2]);
    return swapaxes(astype(array(tv.data(), ts, float64), t), -1, -2);
  }
  Shape wide = shape;
  wide[nd - 1] = 2 * n;
  Vec wv(numel(wide), 1e6);  // a sentinel that would show in any result
  for (int64_t i = 0; i < numel(shape); ++i) wv[(i / n) * 2 * n + 2 * (i % n)] = v[i];
  Shape start(nd, 0), stop = wide, step(nd, 1);
  step[nd - 1] = 2;
  return slice(astype(array(wv.data(), wide, float64), t), start, stop, step);
}

// Random (..., n, n) matrices with n added on the diagonal (well conditioned).
Vec dominant(const Shape& shape, std::mt19937& rng) {
  int n = shape.back();
  Vec v = random_vec(numel(shape), rng);
  for (int64_t i = 0; i < numel(shape); ++i) {
    if ((i % (int64_t(n) * n)) / n == i % n) v[i] += n;
  }
  return v;
}

// Random symmetric positive definite (..., n, n): B B^T + n I per matrix.
Vec spd(const Shape& shape, std::mt19937& rng) {
  int n = shape.back();
  int64_t batch = numel(shape) / (int64_t(n) * n);
  Vec out;
  for (int64_t b = 0; b < batch; ++b) {
    Vec m = random_vec(int64_t(n) * n, rng);
    Vec g = host_matmul(m, host_transpose(m, n, n), n, n, n);
    for (int i = 0; i < n; ++i) g[i * n + i] += n;
    out.insert(out.end(), g.begin(), g.end());
  }
  return out;
}

int64_t batch_of(const Shape& shape) {
  return numel(shape) / std::max<int64_t>(1, int64_t(shape.end()[-2]) * shape.back());
}

const std::vector<Shape> kSquareShapes = {{4, 4}, {3, 4, 4}, {2, 1, 5, 5}, {1, 1}};
const Dtype kDtypes[] = {float32, float64};

std::string label(const Shape& shape, Dtype t, Layout l) {
  return shape_to_string(shape) + " " + dtype_name(t) + " layout " + std::to_string(static_cast<int>(l));
}

}  // namespace

// ------------------------------------------------------------ inv, tri_inv

TEST(LinalgLapack, InvReconstructs) {
  std::mt19937 rng(1);
  for (Dtype t : kDtypes) {
    for (const Shape& shape : kSquareShapes) {
      for (Layout l : kLayouts) {
        SCOPED_TRACE(label(shape, t, l));
        array a = make(dominant(shape, rng), shape, t, l);
        array x = linalg::inv(a);
        ASSERT_EQ(x.shape(), shape);
        EXPECT_EQ(x.dtype(), t);
        int n = shape.back();
        Vec av = values(a), xv = values(x);
        for (int64_t b = 0; b < batch_of(shape); ++b) {
          expect_near_all(host_matmul(mat(av, b, n, n), mat(xv, b, n, n), n, n, n), host_eye(n), tol_of(t), "A inv(A)");
        }
      }
    }
  }
  // By hand: [[4, 7], [2, 6]]^-1 = [[0.6, -0.7], [-0.2, 0.4]].
  expect_near_all(values(linalg::inv(array({4.0, 7.0, 2.0, 6.0}, {2, 2}))), {0.6, -0.7, -0.2, 0.4}, 1e-14, "2x2");
  // A broadcast batch of one matrix.
  array one = array({4.0f, 7.0f, 2.0f, 6.0f}, {1, 2, 2});
  array many = linalg::inv(broadcast_to(one, {3, 2, 2}));
  expect_near_all(values(many), {0.6, -0.7, -0.2, 0.4, 0.6, -0.7, -0.2, 0.4, 0.6, -0.7, -0.2, 0.4}, 1e-6, "broadcast");
  EXPECT_EQ(linalg::inv(zeros({2, 0, 0})).shape(), (Shape{2, 0, 0}));
}

TEST(LinalgLapack, LargeBatchesSplitAcrossThreads) {
  // Enough work per matrix that the batch is split across the pool: every matrix
  // must still come out right (no shared scratch between threads).
  std::mt19937 rng(16);
  const Shape shape{256, 16, 16};
  const int n = 16;
  array a = make(dominant(shape, rng), shape, float64);
  Vec av = values(a), xv = values(linalg::inv(a)), lv = values(linalg::cholesky(add(a, swapaxes(a, -1, -2))));
  auto [w, v] = linalg::eigh(a);
  Vec wv = values(w), vv = values(v);
  for (int64_t b = 0; b < 256; ++b) {
    Vec ab = mat(av, b, n, n), sym = ab;
    expect_near_all(host_matmul(ab, mat(xv, b, n, n), n, n, n), host_eye(n), 1e-10, "inv " + std::to_string(b));
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) sym[i * n + j] = ab[i * n + j] + ab[j * n + i];
    Vec lb = mat(lv, b, n, n);
    expect_near_all(host_matmul(lb, host_transpose(lb, n, n), n, n, n), sym, 1e-10, "cholesky " + std::to_string(b));
    Vec vb = mat(vv, b, n, n), vw = vb;
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) vw[i * n + j] *= wv[b * n + j];
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < i; ++j) sym[j * n + i] = sym[i * n + j] = ab[i * n + j];  // the lower triangle, mirrored
    for (int i = 0; i < n; ++i) sym[i * n + i] = ab[i * n + i];
    expect_near_all(host_matmul(sym, vb, n, n, n), vw, 1e-10, "eigh " + std::to_string(b));
  }
}

TEST(LinalgLapack, InvSingularThrowsFromEval) {
  // MLX's behavior: LAPACK reports the exact zero pivot and eval throws.
  for (Dtype t : kDtypes) {
    array a = linalg::inv(astype(array({1.0, 2.0, 2.0, 4.0}, {2, 2}), t));
    expect_error<std::runtime_error>([&] { a.eval(); }, "[linalg::inv] the matrix is singular (matrix 0 of the batch");
  }
  array batch = array({1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0}, {2, 2, 2});
  expect_error<std::runtime_error>([&] { linalg::inv(batch).eval(); }, "(matrix 1 of the batch");
  expect_error<std::runtime_error>(
      [] {
        linalg::tri_inv(array({1.0, 0.0, 5.0, 0.0}, {2, 2})).eval();
      },
      "[linalg::tri_inv] the matrix is singular");
}

TEST(LinalgLapack, TriInvReadsOneTriangle) {
  std::mt19937 rng(2);
  for (Dtype t : kDtypes) {
    for (bool upper : {false, true}) {
      for (const Shape& shape : kSquareShapes) {
        for (Layout l : kLayouts) {
          SCOPED_TRACE(label(shape, t, l) + (upper ? " upper" : " lower"));
          Vec v = dominant(shape, rng);  // the other triangle is garbage the op must ignore
          array x = linalg::tri_inv(make(v, shape, t, l), upper);
          int n = shape.back();
          Vec xv = values(x), av = values(make(v, shape, t));
          for (int64_t b = 0; b < batch_of(shape); ++b) {
            Vec tri = mat(av, b, n, n), xb = mat(xv, b, n, n);
            for (int i = 0; i < n; ++i)
              for (int j = 0; j < n; ++j) {
                if (upper ? j < i : j > i) {
                  tri[i * n + j] = 0;
                  EXPECT_EQ(xb[i * n + j], 0.0) << "the other triangle of the inverse is zero";
                }
              }
            expect_near_all(host_matmul(tri, xb, n, n, n), host_eye(n), tol_of(t), "T tri_inv(T)");
          }
        }
      }
    }
  }
}

// ------------------------------------------------------------ cholesky, cholesky_inv

TEST(LinalgLapack, CholeskyReconstructs) {
  std::mt19937 rng(3);
  for (Dtype t : kDtypes) {
    for (bool upper : {false, true}) {
      for (const Shape& shape : kSquareShapes) {
        for (Layout l : kLayouts) {
          SCOPED_TRACE(label(shape, t, l) + (upper ? " upper" : " lower"));
          int n = shape.back();
          Vec a = spd(shape, rng), garbage = a;
          // Garbage in the triangle that is not read.
          for (int64_t i = 0; i < numel(shape); ++i) {
            int r = static_cast<int>((i % (n * n)) / n), c = static_cast<int>(i % n);
            if (upper ? c < r : c > r) garbage[i] = 100.0 + i;
          }
          array f = linalg::cholesky(make(garbage, shape, t, l), upper);
          ASSERT_EQ(f.shape(), shape);
          Vec fv = values(f), ar = values(make(a, shape, t));
          for (int64_t b = 0; b < batch_of(shape); ++b) {
            Vec fb = mat(fv, b, n, n);
            for (int i = 0; i < n; ++i) {
              EXPECT_GT(fb[i * n + i], 0.0);
              for (int j = 0; j < n; ++j) {
                if (upper ? j < i : j > i) EXPECT_EQ(fb[i * n + j], 0.0);
              }
            }
            Vec rec = upper ? host_matmul(host_transpose(fb, n, n), fb, n, n, n)
                            : host_matmul(fb, host_transpose(fb, n, n), n, n, n);
            expect_near_all(rec, mat(ar, b, n, n), tol_of(t), "factor product");
          }
          // cholesky_inv gives A^-1.
          array ai = linalg::cholesky_inv(f, upper);
          Vec aiv = values(ai);
          for (int64_t b = 0; b < batch_of(shape); ++b) {
            expect_near_all(host_matmul(mat(ar, b, n, n), mat(aiv, b, n, n), n, n, n), host_eye(n), tol_of(t),
                            "A cholesky_inv(L)");
          }
        }
      }
    }
  }
  // By hand: [[4, 2], [2, 5]] = L L^T with L = [[2, 0], [1, 2]].
  expect_near_all(values(linalg::cholesky(array({4.0, 2.0, 2.0, 5.0}, {2, 2}))), {2, 0, 1, 2}, 1e-15, "2x2");
  expect_near_all(values(linalg::cholesky(array({4.0, 2.0, 2.0, 5.0}, {2, 2}), true)), {2, 1, 0, 2}, 1e-15, "2x2 U");
}

TEST(LinalgLapack, CholeskyNotPositiveDefiniteThrowsFromEval) {
  // The library that found it is named: cuSOLVER when the op ran on the GPU.
  const std::string lib = default_device() == Device::gpu ? "cuSOLVER" : "LAPACK";
  for (Dtype t : kDtypes) {
    array a = linalg::cholesky(astype(array({1.0, 2.0, 2.0, 1.0}, {2, 2}), t));  // eigenvalues 3, -1
    expect_error<std::runtime_error>(
        [&] { a.eval(); },
        "[linalg::cholesky] the matrix is not positive definite (matrix 0 of the batch, " + lib + " info 2)");
  }
  array batch = array({1.0, 0.0, 0.0, 1.0, -1.0, 0.0, 0.0, 1.0}, {2, 2, 2});
  expect_error<std::runtime_error>([&] { linalg::cholesky(batch).eval(); },
                                   "(matrix 1 of the batch, " + lib + " info 1)");
}

// ------------------------------------------------------------ qr

TEST(LinalgLapack, QRReconstructs) {
  std::mt19937 rng(4);
  const std::vector<Shape> shapes = {{5, 3}, {3, 5}, {4, 4}, {3, 4, 4}, {2, 1, 6, 2}, {1, 1}};
  for (Dtype t : kDtypes) {
    for (const Shape& shape : shapes) {
      for (Layout l : kLayouts) {
        SCOPED_TRACE(label(shape, t, l));
        array a = make(random_vec(numel(shape), rng), shape, t, l);
        auto [q, r] = linalg::qr(a);
        int m = shape.end()[-2], n = shape.back(), k = std::min(m, n);
        Shape qs = shape, rs = shape;
        qs.back() = k;
        rs.end()[-2] = k;
        ASSERT_EQ(q.shape(), qs);
        ASSERT_EQ(r.shape(), rs);
        EXPECT_EQ(q.dtype(), t);
        Vec av = values(a), qv = values(q), rv = values(r);
        for (int64_t b = 0; b < batch_of(shape); ++b) {
          Vec qb = mat(qv, b, m, k), rb = mat(rv, b, k, n);
          expect_near_all(host_matmul(host_transpose(qb, m, k), qb, k, m, k), host_eye(k), tol_of(t), "Q^T Q");
          for (int i = 0; i < k; ++i)
            for (int j = 0; j < i; ++j) EXPECT_EQ(rb[i * n + j], 0.0) << "R is upper triangular";
          expect_near_all(host_matmul(qb, rb, m, k, n), mat(av, b, m, n), tol_of(t), "Q R");
        }
      }
    }
  }
}

// ------------------------------------------------------------ svd, pinv

TEST(LinalgLapack, SVDReconstructs) {
  std::mt19937 rng(5);
  const std::vector<Shape> shapes = {{5, 3}, {3, 5}, {4, 4}, {3, 4, 4}, {2, 1, 5, 5}, {1, 1}};
  for (Dtype t : kDtypes) {
    for (const Shape& shape : shapes) {
      for (Layout l : kLayouts) {
        SCOPED_TRACE(label(shape, t, l));
        array a = make(random_vec(numel(shape), rng), shape, t, l);
        auto usv = linalg::svd(a);
        ASSERT_EQ(usv.size(), 3u);
        int m = shape.end()[-2], n = shape.back(), k = std::min(m, n);
        Shape batch(shape.begin(), shape.end() - 2), us = batch, ss = batch, vs = batch;
        us.insert(us.end(), {m, m});
        ss.push_back(k);
        vs.insert(vs.end(), {n, n});
        ASSERT_EQ(usv[0].shape(), us);
        ASSERT_EQ(usv[1].shape(), ss);
        ASSERT_EQ(usv[2].shape(), vs);
        Vec av = values(a), uv = values(usv[0]), sv = values(usv[1]), vv = values(usv[2]);
        Vec s_only = values(linalg::svd(a, false).at(0));
        expect_near_all(s_only, sv, tol_of(t), "compute_uv=false gives the same S");
        for (int64_t b = 0; b < batch_of(shape); ++b) {
          Vec ub = mat(uv, b, m, m), vb = mat(vv, b, n, n), sb = mat(sv, b, 1, k);
          expect_near_all(host_matmul(host_transpose(ub, m, m), ub, m, m, m), host_eye(m), tol_of(t), "U^T U");
          expect_near_all(host_matmul(vb, host_transpose(vb, n, n), n, n, n), host_eye(n), tol_of(t), "Vt Vt^T");
          for (int i = 0; i < k; ++i) {
            EXPECT_GE(sb[i], 0.0);
            if (i > 0) EXPECT_GE(sb[i - 1], sb[i]) << "descending";
          }
          // U[:, :K] diag(S) Vt[:K].
          Vec us_k(static_cast<size_t>(m) * k), vt_k(vb.begin(), vb.begin() + k * n);
          for (int i = 0; i < m; ++i)
            for (int j = 0; j < k; ++j) us_k[i * k + j] = ub[i * m + j] * sb[j];
          expect_near_all(host_matmul(us_k, vt_k, m, k, n), mat(av, b, m, n), tol_of(t), "U S Vt");
          expect_near_all(sb, naive_singular_values(mat(av, b, m, n), m, n), tol_of(t) * 10, "S vs Jacobi");
        }
      }
    }
  }
  // By hand: diag(3, -2) has singular values 3, 2.
  expect_near_all(values(linalg::svd(array({3.0, 0.0, 0.0, -2.0}, {2, 2}), false)[0]), {3, 2}, 1e-15, "diag");
}

TEST(LinalgLapack, PinvPenroseConditions) {
  std::mt19937 rng(6);
  const std::vector<Shape> shapes = {{5, 3}, {3, 5}, {2, 4, 4}};
  for (Dtype t : kDtypes) {
    for (const Shape& shape : shapes) {
      for (Layout l : kLayouts) {
        SCOPED_TRACE(label(shape, t, l));
        array a = make(random_vec(numel(shape), rng), shape, t, l);
        array p = linalg::pinv(a);
        int m = shape.end()[-2], n = shape.back();
        Shape ps = shape;
        std::swap(ps.end()[-1], ps.end()[-2]);
        ASSERT_EQ(p.shape(), ps);
        Vec av = values(a), pv = values(p);
        for (int64_t b = 0; b < batch_of(shape); ++b) {
          Vec ab = mat(av, b, m, n), pb = mat(pv, b, n, m);
          expect_near_all(host_matmul(host_matmul(ab, pb, m, n, m), ab, m, m, n), ab, tol_of(t) * 10, "A A+ A");
          expect_near_all(host_matmul(host_matmul(pb, ab, n, m, n), pb, n, n, m), pb, tol_of(t) * 10, "A+ A A+");
        }
      }
    }
  }
  // A rank-1 matrix: singular values below the cutoff count as zero.
  array r1 = array({1.0, 2.0, 2.0, 4.0}, {2, 2});
  expect_near_all(values(linalg::pinv(r1)), {0.04, 0.08, 0.08, 0.16}, 1e-12, "rank 1");
  EXPECT_EQ(linalg::pinv(zeros({3, 0})).shape(), (Shape{0, 3}));
}

// ------------------------------------------------------------ solve, solve_triangular

TEST(LinalgLapack, SolveAndSolveTriangular) {
  std::mt19937 rng(7);
  for (Dtype t : kDtypes) {
    for (Layout l : kLayouts) {
      SCOPED_TRACE(std::string(dtype_name(t)) + " layout " + std::to_string(static_cast<int>(l)));
      const int n = 4;
      Shape as{3, n, n};
      Vec av = dominant(as, rng);
      array a = make(av, as, t, l);
      // b: one vector per matrix, a matrix per matrix, and one matrix broadcast over the batch.
      Vec bv = random_vec(3 * n, rng), bm = random_vec(n * 2, rng);
      array xv = linalg::solve(a, make(bv, {3, n}, t));
      array xm = linalg::solve(a, make(bm, {1, n, 2}, t, l));
      ASSERT_EQ(xv.shape(), (Shape{3, n}));
      ASSERT_EQ(xm.shape(), (Shape{3, n, 2}));
      Vec ar = values(make(av, as, t)), xvv = values(xv), xmv = values(xm), br = values(make(bv, {3, n}, t)),
          bmr = values(make(bm, {n, 2}, t));
      for (int b = 0; b < 3; ++b) {
        Vec ab = mat(ar, b, n, n);
        expect_near_all(host_matmul(ab, mat(xvv, b, n, 1), n, n, 1), mat(br, b, n, 1), tol_of(t), "A x = b");
        expect_near_all(host_matmul(ab, mat(xmv, b, n, 2), n, n, 2), bmr, tol_of(t), "A X = B");
      }
      for (bool upper : {false, true}) {
        array xt = linalg::solve_triangular(a, make(bm, {1, n, 2}, t), upper);
        Vec xtv = values(xt);
        for (int b = 0; b < 3; ++b) {
          Vec tri = mat(ar, b, n, n);
          for (int i = 0; i < n; ++i)
            for (int j = 0; j < n; ++j)
              if (upper ? j < i : j > i) tri[i * n + j] = 0;
          expect_near_all(host_matmul(tri, mat(xtv, b, n, 2), n, n, 2), bmr, tol_of(t), "T X = B");
        }
      }
    }
  }
  // By hand: [[2, 1], [1, 3]] x = [3, 5] -> x = [0.8, 1.4]; int b is promoted.
  expect_near_all(values(linalg::solve(array({2.0f, 1.0f, 1.0f, 3.0f}, {2, 2}), array({3, 5}))), {0.8, 1.4}, 1e-6,
                  "2x2");
  EXPECT_EQ(linalg::solve(array({2.0f, 1.0f, 1.0f, 3.0f}, {2, 2}), array({3, 5})).dtype(), float32);
  // As MLX: b with one axis fewer than a is one vector per matrix, so a (2, 2) b with a (2, 2, 2) a
  // solves two vectors; a (1, 2, 2) b is a broadcast matrix.
  array a2 = broadcast_to(array({2.0, 1.0, 1.0, 3.0}, {1, 2, 2}), {2, 2, 2});
  EXPECT_EQ(linalg::solve(a2, array({3.0, 5.0, 3.0, 5.0}, {2, 2})).shape(), (Shape{2, 2}));
  expect_near_all(values(linalg::solve(a2, array({3.0, 5.0, 3.0, 5.0}, {1, 2, 2}))),
                  {1.2, 2.0, 0.6, 1.0, 1.2, 2.0, 0.6, 1.0}, 1e-14, "broadcast matrix b");
}

// ------------------------------------------------------------ lu, lu_factor, det, slogdet

TEST(LinalgLapack, LUFactorMatchesNaiveElimination) {
  std::mt19937 rng(8);
  for (Dtype t : kDtypes) {
    for (const Shape& shape : kSquareShapes) {
      for (Layout l : kLayouts) {
        SCOPED_TRACE(label(shape, t, l));
        array a = make(random_vec(numel(shape), rng), shape, t, l);
        auto [lu, piv] = linalg::lu_factor(a);
        int n = shape.back();
        ASSERT_EQ(lu.shape(), shape);
        EXPECT_EQ(piv.dtype(), uint32);
        Vec av = values(a), luv = values(lu), pv = values(piv);
        for (int64_t b = 0; b < batch_of(shape); ++b) {
          NaiveLU ref = naive_lu(mat(av, b, n, n), n);
          for (int i = 0; i < n; ++i) EXPECT_EQ(pv[b * n + i], ref.piv[i]) << "pivot " << i;
          expect_near_all(mat(luv, b, n, n), ref.lu, tol_of(t), "packed LU");
        }
      }
    }
  }
}

TEST(LinalgLapack, LUReconstructs) {
  std::mt19937 rng(9);
  const std::vector<Shape> shapes = {{4, 4}, {4, 6}, {6, 4}, {3, 4, 4}, {2, 1, 5, 5}};
  for (Dtype t : kDtypes) {
    for (const Shape& shape : shapes) {
      for (Layout l : kLayouts) {
        SCOPED_TRACE(label(shape, t, l));
        array a = make(random_vec(numel(shape), rng), shape, t, l);
        auto plu = linalg::lu(a);
        ASSERT_EQ(plu.size(), 3u);
        int m = shape.end()[-2], n = shape.back(), k = std::min(m, n);
        EXPECT_EQ(plu[0].dtype(), uint32);
        EXPECT_EQ(plu[0].shape().back(), m);
        Vec av = values(a), pv = values(plu[0]), lv = values(plu[1]), uv = values(plu[2]);
        for (int64_t b = 0; b < batch_of(shape); ++b) {
          Vec lb = mat(lv, b, m, k), ub = mat(uv, b, k, n);
          for (int i = 0; i < m; ++i)
            for (int j = 0; j < k; ++j) {
              if (j > i) EXPECT_EQ(lb[i * k + j], 0.0);
              if (j == i) EXPECT_EQ(lb[i * k + j], 1.0);
              if (j < i) EXPECT_LE(std::abs(lb[i * k + j]), 1.0 + 1e-6) << "partial pivoting bounds L";
            }
          for (int i = 0; i < k; ++i)
            for (int j = 0; j < i; ++j) EXPECT_EQ(ub[i * n + j], 0.0);
          Vec prod = host_matmul(lb, ub, m, k, n), rec(prod.size());
          std::vector<bool> seen(m, false);
          for (int i = 0; i < m; ++i) {
            int p = static_cast<int>(pv[b * m + i]);
            ASSERT_TRUE(p >= 0 && p < m && !seen[p]) << "P is a permutation";
            seen[p] = true;
            for (int j = 0; j < n; ++j) rec[i * n + j] = prod[p * n + j];  // A = L[P] U
          }
          expect_near_all(rec, mat(av, b, m, n), tol_of(t), "L[P] U");
        }
      }
    }
  }
}

TEST(LinalgLapack, DetAndSlogdet) {
  std::mt19937 rng(10);
  for (Dtype t : kDtypes) {
    for (const Shape& shape : kSquareShapes) {
      for (Layout l : kLayouts) {
        SCOPED_TRACE(label(shape, t, l));
        array a = make(random_vec(numel(shape), rng, -2, 2), shape, t, l);
        array d = linalg::det(a);
        auto [sg, ld] = linalg::slogdet(a);
        Shape batch(shape.begin(), shape.end() - 2);
        ASSERT_EQ(d.shape(), batch);
        ASSERT_EQ(sg.shape(), batch);
        ASSERT_EQ(ld.shape(), batch);
        EXPECT_EQ(d.dtype(), t);
        int n = shape.back();
        Vec av = values(a), dv = values(d), sv = values(sg), lv = values(ld);
        for (int64_t b = 0; b < batch_of(shape); ++b) {
          double ref = naive_lu(mat(av, b, n, n), n).det;
          EXPECT_NEAR(dv[b], ref, tol_of(t) * (1 + std::abs(ref))) << "det " << b;
          EXPECT_EQ(sv[b], ref > 0 ? 1.0 : -1.0) << "sign " << b;
          EXPECT_NEAR(lv[b], std::log(std::abs(ref)), tol_of(t) * 10) << "log|det| " << b;
        }
      }
    }
  }
  // By hand, and singular matrices: det 0, slogdet (0, -inf).
  EXPECT_NEAR(linalg::det(array({1.0, 2.0, 3.0, 4.0}, {2, 2})).item<double>(), -2.0, 1e-14);
  EXPECT_NEAR(linalg::det(array({0.0, 1.0, 1.0, 0.0}, {2, 2})).item<double>(), -1.0, 1e-15);
  array sing = array({1.0f, 0.0f, 2.0f, 0.0f}, {2, 2});
  EXPECT_EQ(linalg::det(sing).item<float>(), 0.0f);
  auto [s0, l0] = linalg::slogdet(sing);
  EXPECT_EQ(s0.item<float>(), 0.0f);
  EXPECT_EQ(l0.item<float>(), -std::numeric_limits<float>::infinity());
  EXPECT_EQ(linalg::det(zeros({0, 0})).item<float>(), 1.0f);
}

// ------------------------------------------------------------ eig, eigvals, eigh, eigvalsh

TEST(LinalgLapack, EigSatisfiesEigenEquation) {
  using cd = std::complex<double>;
  std::mt19937 rng(11);
  for (Dtype t : kDtypes) {
    for (const Shape& shape : kSquareShapes) {
      for (Layout l : kLayouts) {
        SCOPED_TRACE(label(shape, t, l));
        array a = make(random_vec(numel(shape), rng), shape, t, l);
        auto [w, v] = linalg::eig(a);
        EXPECT_EQ(w.dtype(), complex64);
        EXPECT_EQ(v.dtype(), complex64);
        int n = shape.back();
        Shape ws(shape.begin(), shape.end() - 1);
        ASSERT_EQ(w.shape(), ws);
        ASSERT_EQ(v.shape(), shape);
        Vec av = values(a);
        auto wv = cvalues(w), vv = cvalues(v), ev = cvalues(linalg::eigvals(a));
        for (int64_t b = 0; b < batch_of(shape); ++b) {
          for (int j = 0; j < n; ++j) {
            cd lam = wv[b * n + j];
            EXPECT_NEAR(std::abs(ev[b * n + j] - lam), 0.0, 1e-5) << "eigvals matches eig";
            double norm2 = 0;
            for (int i = 0; i < n; ++i) {
              cd av_i = 0;
              for (int p = 0; p < n; ++p) av_i += av[b * n * n + i * n + p] * vv[b * n * n + p * n + j];
              EXPECT_NEAR(std::abs(av_i - lam * vv[b * n * n + i * n + j]), 0.0, 1e-5) << "A v = w v, vector " << j;
              norm2 += std::norm(vv[b * n * n + i * n + j]);
            }
            EXPECT_NEAR(norm2, 1.0, 1e-5) << "unit eigenvector";
          }
        }
      }
    }
  }
  // By hand: a rotation has eigenvalues +-i; a triangular matrix its diagonal.
  auto rot = cvalues(linalg::eigvals(array({0.0f, -1.0f, 1.0f, 0.0f}, {2, 2})));
  EXPECT_NEAR(std::abs(rot[0] - cd(0, 1)) * std::abs(rot[0] - cd(0, -1)), 0.0, 1e-6);
  EXPECT_NEAR(std::abs(rot[0] - std::conj(rot[1])), 0.0, 1e-6);
  auto tri = cvalues(linalg::eigvals(array({2.0, 5.0, 0.0, -3.0}, {2, 2})));
  std::vector<double> re = {tri[0].real(), tri[1].real()};
  std::sort(re.begin(), re.end());
  EXPECT_NEAR(re[0], -3.0, 1e-12);
  EXPECT_NEAR(re[1], 2.0, 1e-12);
}

TEST(LinalgLapack, EighSatisfiesEigenEquation) {
  std::mt19937 rng(12);
  for (Dtype t : kDtypes) {
    for (std::string uplo : {"L", "U"}) {
      for (const Shape& shape : kSquareShapes) {
        for (Layout l : kLayouts) {
          SCOPED_TRACE(label(shape, t, l) + " " + uplo);
          int n = shape.back();
          Vec v = random_vec(numel(shape), rng), sym = v;
          // The symmetric matrix read from the chosen triangle; the input keeps garbage in the other.
          for (int64_t b = 0; b < batch_of(shape); ++b)
            for (int i = 0; i < n; ++i)
              for (int j = 0; j < n; ++j) {
                bool read = uplo == "L" ? j <= i : j >= i;
                if (!read) sym[b * n * n + i * n + j] = v[b * n * n + j * n + i];
              }
          array a = make(v, shape, t, l);
          auto [w, q] = linalg::eigh(a, uplo);
          EXPECT_EQ(w.dtype(), t);
          Vec sr = values(make(sym, shape, t)), wv = values(w), qv = values(q);
          Vec wo = values(linalg::eigvalsh(a, uplo));
          expect_near_all(wo, wv, tol_of(t), "eigvalsh matches eigh");
          for (int64_t b = 0; b < batch_of(shape); ++b) {
            Vec qb = mat(qv, b, n, n), wb = mat(wv, b, 1, n), sb = mat(sr, b, n, n);
            for (int i = 1; i < n; ++i) EXPECT_LE(wb[i - 1], wb[i]) << "ascending";
            expect_near_all(host_matmul(host_transpose(qb, n, n), qb, n, n, n), host_eye(n), tol_of(t), "V^T V");
            Vec qw = qb;
            for (int i = 0; i < n; ++i)
              for (int j = 0; j < n; ++j) qw[i * n + j] *= wb[j];
            expect_near_all(host_matmul(sb, qb, n, n, n), qw, tol_of(t), "A V = V diag(w)");
            expect_near_all(wb, jacobi_eigenvalues(sb, n), tol_of(t) * 10, "w vs Jacobi");
          }
        }
      }
    }
  }
  // By hand: [[2, 1], [1, 2]] has eigenvalues 1, 3.
  expect_near_all(values(linalg::eigvalsh(array({2.0, 1.0, 1.0, 2.0}, {2, 2}))), {1, 3}, 1e-14, "2x2");
}

// ------------------------------------------------------------ norm

namespace {

// Reference vector norm of `x` along one axis of a (R, C) matrix given by values.
double ref_vector_norm(const Vec& x, double ord) {
  if (std::isinf(ord)) {
    double m = ord > 0 ? 0 : kInf;
    for (double v : x) m = ord > 0 ? std::max(m, std::abs(v)) : std::min(m, std::abs(v));
    return m;
  }
  double s = 0;
  if (ord == 0) {
    for (double v : x) s += v != 0;
    return s;
  }
  for (double v : x) s += std::pow(std::abs(v), ord);
  return std::pow(s, 1 / ord);
}

double ref_matrix_norm(const Vec& a, int m, int n, const std::string& ord) {
  if (ord == "fro") {
    double s = 0;
    for (double v : a) s += v * v;
    return std::sqrt(s);
  }
  if (ord == "nuc" || ord == "2" || ord == "-2") {
    Vec sv = naive_singular_values(a, m, n);
    if (ord == "2") return sv.front();
    if (ord == "-2") return sv.back();
    double s = 0;
    for (double v : sv) s += v;
    return s;
  }
  bool cols = ord == "1" || ord == "-1";  // column sums for 1/-1, row sums for inf/-inf
  bool maxi = ord == "1" || ord == "inf";
  Vec sums(cols ? n : m, 0.0);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) sums[cols ? j : i] += std::abs(a[i * n + j]);
  return maxi ? *std::max_element(sums.begin(), sums.end()) : *std::min_element(sums.begin(), sums.end());
}

}  // namespace

TEST(LinalgLapack, VectorNorms) {
  std::mt19937 rng(13);
  const double ords[] = {kInf, -kInf, 0, 1, 2, 3, 0.5, -1, -2};
  for (Dtype t : kDtypes) {
    for (Layout l : kLayouts) {
      const int r = 3, c = 5;
      Vec v = random_vec(r * c, rng, -2, 2);
      v[7] = 0;  // a zero for ord 0
      array a = make(v, {r, c}, t, l);
      Vec av = values(a);
      for (double ord : ords) {
        SCOPED_TRACE("ord " + std::to_string(ord) + " " + dtype_name(t));
        for (int axis : {0, 1, -1}) {
          int ax = axis < 0 ? 1 : axis;
          for (bool keep : {false, true}) {
            array got = linalg::norm(a, ord, axis, keep);
            Shape want_shape = keep ? (ax == 0 ? Shape{1, c} : Shape{r, 1}) : (ax == 0 ? Shape{c} : Shape{r});
            ASSERT_EQ(got.shape(), want_shape);
            EXPECT_EQ(got.dtype(), t);
            Vec gv = values(got);
            for (int k = 0; k < (ax == 0 ? c : r); ++k) {
              Vec line;
              for (int j = 0; j < (ax == 0 ? r : c); ++j) line.push_back(ax == 0 ? av[j * c + k] : av[k * c + j]);
              double ref = ref_vector_norm(line, ord);
              EXPECT_NEAR(gv[k], ref, tol_of(t) * (1 + std::abs(ref))) << "axis " << axis << " line " << k;
            }
          }
        }
      }
      // A 1-d input without axis.
      Vec row(av.begin(), av.begin() + c);
      EXPECT_NEAR(linalg::norm(make(row, {c}, t), 3.0).item<double>(), ref_vector_norm(row, 3), tol_of(t) * 10);
    }
  }
  // Default: the 2-norm of the flattened input; integers compute in float32.
  array ints = array({3, 4, 0, 12}, {2, 2});
  EXPECT_EQ(linalg::norm(ints).dtype(), float32);
  EXPECT_NEAR(linalg::norm(ints).item<float>(), 13.0f, 1e-5);
  EXPECT_EQ(linalg::norm(ones({2, 3, 4}), std::nullopt, true).shape(), (Shape{1, 1, 1}));
  EXPECT_NEAR(linalg::norm(ones({2, 3, 4})).item<float>(), std::sqrt(24.0f), 1e-5);
  EXPECT_NEAR(linalg::norm(array({3.0f, -4.0f}), kInf).item<float>(), 4.0f, 0);
}

TEST(LinalgLapack, MatrixNorms) {
  std::mt19937 rng(14);
  const std::vector<std::pair<std::string, double>> ords = {{"1", 1},      {"-1", -1},      {"2", 2},   {"-2", -2},
                                                            {"inf", kInf}, {"-inf", -kInf}, {"fro", 0}, {"nuc", 0}};
  for (Dtype t : kDtypes) {
    for (Layout l : kLayouts) {
      // (B, R, C) = (2, 4, 3), norms over axes (1, 2), (2, 1) and (0, 2) given as negatives too.
      const Shape shape{2, 4, 3};
      array a = make(random_vec(numel(shape), rng, -2, 2), shape, t, l);
      Vec av = values(a);
      const std::vector<std::vector<int>> axes_list = {{1, 2}, {-1, -2}, {0, 2}};
      for (auto& [name, ord] : ords) {
        for (const auto& axes : axes_list) {
          for (bool keep : {false, true}) {
            SCOPED_TRACE("ord " + name + " axes " + std::to_string(axes[0]) + "," + std::to_string(axes[1]) + " " +
                         dtype_name(t) + (keep ? " keepdims" : ""));
            array got =
                name == "fro" || name == "nuc" ? linalg::norm(a, name, axes, keep) : linalg::norm(a, ord, axes, keep);
            int r = axes[0] < 0 ? axes[0] + 3 : axes[0], c = axes[1] < 0 ? axes[1] + 3 : axes[1];
            int other = 3 - r - c;
            Shape want_shape = keep ? Shape{1, 1, 1} : Shape{shape[other]};
            if (keep) want_shape[other] = shape[other];
            ASSERT_EQ(got.shape(), want_shape);
            Vec gv = values(got);
            for (int o = 0; o < shape[other]; ++o) {
              // The matrix with rows along axis r and columns along axis c.
              Vec m;
              for (int i = 0; i < shape[r]; ++i)
                for (int j = 0; j < shape[c]; ++j) {
                  int idx[3];
                  idx[other] = o;
                  idx[r] = i;
                  idx[c] = j;
                  m.push_back(av[(idx[0] * shape[1] + idx[1]) * shape[2] + idx[2]]);
                }
              double ref = ref_matrix_norm(m, shape[r], shape[c], name);
              EXPECT_NEAR(gv[o], ref, tol_of(t) * 10 * (1 + ref)) << "matrix " << o;
            }
          }
        }
      }
    }
  }
  // A 2-d input without axis: ord applies to the matrix.
  array m = array({1.0, -2.0, 3.0, 4.0}, {2, 2});
  EXPECT_NEAR(linalg::norm(m, 1.0).item<double>(), 6.0, 1e-14);
  EXPECT_NEAR(linalg::norm(m, kInf).item<double>(), 7.0, 1e-14);
  EXPECT_NEAR(linalg::norm(m, "fro").item<double>(), std::sqrt(30.0), 1e-14);
}

// ------------------------------------------------------------ cross

TEST(LinalgLapack, Cross) {
  std::mt19937 rng(15);
  for (Dtype t : kDtypes) {
    Vec av = random_vec(4 * 3, rng), bv = random_vec(3, rng);
    // a (4, 3) with b (3,) broadcast, along the last axis.
    array c = linalg::cross(make(av, {4, 3}, t, Layout::transposed), make(bv, {3}, t));
    ASSERT_EQ(c.shape(), (Shape{4, 3}));
    Vec a4 = values(make(av, {4, 3}, t)), b3 = values(make(bv, {3}, t)), cv = values(c);
    for (int i = 0; i < 4; ++i) {
      const double* x = &a4[i * 3];
      Vec ref = {x[1] * b3[2] - x[2] * b3[1], x[2] * b3[0] - x[0] * b3[2], x[0] * b3[1] - x[1] * b3[0]};
      expect_near_all(mat(cv, i, 1, 3), ref, tol_of(t), "cross row " + std::to_string(i));
    }
    // Along axis 0 of (3, 4) gives the same as along -1 of the transposes.
    array ct = linalg::cross(transpose(make(av, {4, 3}, t)), transpose(broadcast_to(make(bv, {3}, t), {4, 3})), 0);
    expect_near_all(values(transpose(ct)), cv, tol_of(t), "axis 0");
  }
  // By hand: x cross y = z; integers stay integers.
  array z = linalg::cross(array({1, 0, 0}), array({0, 1, 0}));
  EXPECT_EQ(z.dtype(), int32);
  EXPECT_EQ(values(z), (Vec{0, 0, 1}));
}

// ------------------------------------------------------------ empty inputs

TEST(LinalgLapack, EmptyMatrices) {
  // Empty batches and 0 x N matrices give empty (or identity) results, not LAPACK errors.
  EXPECT_EQ(linalg::cholesky(zeros({0, 3, 3})).shape(), (Shape{0, 3, 3}));
  EXPECT_EQ(linalg::eigvalsh(zeros({0, 0})).shape(), (Shape{0}));
  EXPECT_EQ(linalg::eig(zeros({2, 0, 0})).second.shape(), (Shape{2, 0, 0}));
  auto [q, r] = linalg::qr(zeros({3, 0}));
  EXPECT_EQ(q.shape(), (Shape{3, 0}));
  EXPECT_EQ(r.shape(), (Shape{0, 0}));
  auto usv = linalg::svd(zeros({2, 0}));
  EXPECT_EQ(values(usv[0]), values(eye(2)));
  EXPECT_EQ(usv[1].shape(), (Shape{0}));
  EXPECT_EQ(usv[2].shape(), (Shape{0, 0}));
  auto plu = linalg::lu(zeros({3, 0}));
  EXPECT_EQ(values(plu[0]), (Vec{0, 1, 2}));
  EXPECT_EQ(plu[1].shape(), (Shape{3, 0}));
  EXPECT_EQ(plu[2].shape(), (Shape{0, 0}));
  EXPECT_EQ(linalg::det(zeros({0, 2, 2})).shape(), (Shape{0}));
}

// ------------------------------------------------------------ errors

TEST(LinalgLapack, Errors) {
  using E = std::invalid_argument;
  expect_error<E>(
      [] {
        linalg::inv(ones({2, 3}));
      },
      "[linalg::inv] expected square matrices in the last two axes, got shape (2, 3)");
  expect_error<E>([] { linalg::inv(ones({3})); },
                  "[linalg::inv] expected an array with at least 2 dimensions, got shape (3,)");
  expect_error<E>(
      [] {
        linalg::inv(ones({2, 2}, int32));
      },
      "[linalg::inv] expected a float32 or float64 array, got int32");
  expect_error<E>(
      [] {
        linalg::cholesky(ones({2, 2}, float16));
      },
      "[linalg::cholesky] expected a float32 or float64 array, got float16");
  expect_error<E>([] { linalg::qr(ones({4})); }, "[linalg::qr] expected an array with at least 2 dimensions");
  expect_error<E>([] { linalg::svd(ones({2, 2}, bfloat16)); }, "[linalg::svd] expected a float32 or float64 array");
  expect_error<E>([] { linalg::eig(ones({2, 3})); }, "[linalg::eig] expected square matrices");
  expect_error<E>([] { linalg::eigh(ones({2, 2}), "X"); }, "[linalg::eigh] UPLO must be 'L' or 'U', got 'X'");
  expect_error<E>([] { linalg::eigvalsh(ones({3, 2})); }, "[linalg::eigvalsh] expected square matrices");
  expect_error<E>([] { linalg::det(ones({2, 3})); }, "[linalg::det] expected square matrices");
  expect_error<E>([] { linalg::lu(ones({2}, int32)); }, "[linalg::lu] expected an array with at least 2 dimensions");
  expect_error<E>([] { linalg::tri_inv(ones({2, 2}, complex64)); }, "[linalg::tri_inv] expected a float32 or float64");
  expect_error<E>(
      [] {
        linalg::solve(ones({3, 3}), ones({4}));
      },
      "[linalg::solve] b of shape (4,) does not match a of shape (3, 3)");
  expect_error<E>(
      [] {
        linalg::solve(ones({2, 2}, int32), ones({2}, int32));
      },
      "[linalg::solve] expected a float32 or float64 array, got int32");
  expect_error<E>(
      [] {
        linalg::norm(ones({2, 2}), 3.0, std::vector<int>{0, 1});
      },
      "[linalg::norm] invalid matrix norm order 3");
  expect_error<E>(
      [] {
        linalg::norm(ones({2, 2}), "fro", 0);
      },
      "[linalg::norm] ord 'fro' is a matrix norm and needs two axes");
  expect_error<E>([] { linalg::norm(ones({2, 2}), "abc"); }, "[linalg::norm] invalid norm order 'abc'");
  expect_error<E>(
      [] {
        linalg::norm(ones({2, 2, 2}), 2.0);
      },
      "[linalg::norm] an ord needs a 1-d or 2-d input when axis is not given, got shape (2, 2, 2)");
  expect_error<E>(
      [] {
        linalg::norm(ones({2, 2}), 2.0, std::vector<int>{1, -1});
      },
      "[linalg::norm] the two axes must differ");
  expect_error<std::out_of_range>([] { linalg::norm(ones({2, 2}), 2.0, 2); }, "axis 2 is out of bounds");
  expect_error<E>([] { linalg::cross(ones({4}), ones({4})); },
                  "[linalg::cross] axis -1 must have size 3 in both inputs");
}

// ------------------------------------------------------------ random::multivariate_normal

TEST(LinalgLapack, MultivariateNormalMoments) {
  const Vec mean = {1.0, -2.0, 0.5};
  const Vec cov = {2.0, 0.6, -0.4, 0.6, 1.0, 0.3, -0.4, 0.3, 0.5};
  const int n = 3, samples = 40000;
  for (Dtype t : kDtypes) {
    SCOPED_TRACE(dtype_name(t));
    array x = random::multivariate_normal(array(mean.data(), {3}, float64), array(cov.data(), {3, 3}, float64),
                                          {samples}, t, random::key(42));
    ASSERT_EQ(x.shape(), (Shape{samples, n}));
    EXPECT_EQ(x.dtype(), t);
    Vec xv = values(x), m(n, 0.0), c(n * n, 0.0);
    for (int s = 0; s < samples; ++s)
      for (int i = 0; i < n; ++i) m[i] += xv[s * n + i] / samples;
    for (int s = 0; s < samples; ++s)
      for (int i = 0; i < n; ++i)
        for (int j = 0; j < n; ++j) c[i * n + j] += (xv[s * n + i] - m[i]) * (xv[s * n + j] - m[j]) / (samples - 1);
    // Five standard errors: sd(mean_i) = sqrt(S_ii / N), sd(cov_ij) ~ sqrt((S_ii S_jj + S_ij^2) / N).
    for (int i = 0; i < n; ++i) {
      EXPECT_NEAR(m[i], mean[i], 5 * std::sqrt(cov[i * n + i] / samples)) << "mean " << i;
      for (int j = 0; j < n; ++j) {
        double se = std::sqrt((cov[i * n + i] * cov[j * n + j] + cov[i * n + j] * cov[i * n + j]) / samples);
        EXPECT_NEAR(c[i * n + j], cov[i * n + j], 5 * se) << "cov " << i << "," << j;
      }
    }
  }
  // Batch axes of mean and cov broadcast with `shape`; the same key gives the same samples.
  array mb = zeros({2, 3});
  array k = random::key(7);
  array y = random::multivariate_normal(mb, eye(3), {5, 2}, float32, k);
  EXPECT_EQ(y.shape(), (Shape{5, 2, 3}));
  EXPECT_EQ(values(y), values(random::multivariate_normal(mb, eye(3), {5, 2}, float32, k)));
  expect_error<std::invalid_argument>([] { random::multivariate_normal(zeros({3}), eye(2), {4}); },
                                      "[multivariate_normal] cov must be (..., N, N) with N = 3 from mean");
  expect_error<std::invalid_argument>([] { random::multivariate_normal(zeros({2}), eye(2), {4}, int32); },
                                      "[multivariate_normal] dtype must be float32 or float64, got int32");
  expect_error<std::invalid_argument>([] { random::multivariate_normal(array(0.0f), eye(2), {4}); },
                                      "[multivariate_normal] mean needs at least 1 dimension");
}

TEST(LinalgLapack, PrimitivesCompareParameters) {
  array a = ones({2, 2});
  array x = linalg::inv(a), y = linalg::tri_inv(a, true);
  EXPECT_STREQ(x.primitive().name(), "Inverse");
  EXPECT_TRUE(x.primitive().is_equivalent(linalg::inv(a).primitive()));
  EXPECT_FALSE(x.primitive().is_equivalent(y.primitive()));
  array c1 = linalg::cholesky(a), c2 = linalg::cholesky(a, true);
  EXPECT_FALSE(c1.primitive().is_equivalent(c2.primitive()));
  auto s1 = linalg::svd(a, false), s2 = linalg::svd(a, true);
  EXPECT_FALSE(s1[0].primitive().is_equivalent(s2[0].primitive()));
  auto e1 = linalg::eigh(a, "L"), e2 = linalg::eigh(a, "U");
  EXPECT_FALSE(e1.first.primitive().is_equivalent(e2.first.primitive()));
  EXPECT_TRUE(linalg::qr(a).first.primitive().is_equivalent(linalg::qr(a).first.primitive()));
}
