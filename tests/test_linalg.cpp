// Linear algebra basics against float64 / complex<double> loop references on
// random inputs, across dtypes and layouts (contiguous, transposed, strided,
// reversed, broadcast, 0-d, empty), plus error messages.
#include <gtest/gtest.h>

#include <ember/ember.h>
#include <ember/primitives.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstring>
#include <functional>
#include <limits>
#include <random>

#include "test_utils.h"

using namespace ember;
using namespace test_utils;

namespace {

using cd = std::complex<double>;

double eps_of(Dtype t) {
  if (t == float16) return 1.0 / 1024;
  if (t == bfloat16) return 1.0 / 128;
  if (t == float64) return std::numeric_limits<double>::epsilon();
  return std::numeric_limits<float>::epsilon();
}

// Random values, rounded to `t` so references see exactly what the op sees.
std::vector<cd> random_values(int64_t n, Dtype t, std::mt19937& rng) {
  std::uniform_real_distribution<double> d(-1, 1);
  std::vector<cd> v(n);
  for (auto& x : v) {
    if (t == complex64) {
      x = cd(static_cast<float>(d(rng)), static_cast<float>(d(rng)));
    } else if (t == float64) {
      x = d(rng);
    } else if (t == float16) {
      x = static_cast<float>(float16_t(d(rng)));
    } else if (t == bfloat16) {
      x = static_cast<float>(bfloat16_t(d(rng)));
    } else if (t == float32) {
      x = static_cast<float>(d(rng));
    } else {
      x = std::round(d(rng) * 10);
    }
  }
  return v;
}

enum class Layout { contiguous, transposed, strided, reversed };
const Layout kLayouts[] = {Layout::contiguous, Layout::transposed, Layout::strided, Layout::reversed};

array from_host(const std::vector<cd>& v, const Shape& shape, Dtype t) {
  if (t == complex64) {
    std::vector<complex64_t> c;
    for (auto x : v) c.emplace_back(static_cast<float>(x.real()), static_cast<float>(x.imag()));
    return array(c, shape, complex64);
  }
  std::vector<double> r;
  for (auto x : v) r.push_back(x.real());
  return array(r, shape, t);
}

// An array of logical `shape` holding `v` in the given memory layout.
array make(const std::vector<cd>& v, const Shape& shape, Dtype t, Layout layout = Layout::contiguous) {
  int nd = static_cast<int>(shape.size());
  switch (layout) {
    case Layout::contiguous:
      return from_host(v, shape, t);
    case Layout::transposed: {
      Shape rev(shape.rbegin(), shape.rend());
      std::vector<cd> base(v.size());
      for (int64_t j = 0; j < numel(rev); ++j) {
        Shape bj = unravel(j, rev);
        base[j] = v[ravel(Shape(bj.rbegin(), bj.rend()), shape)];
      }
      return transpose(from_host(base, rev, t));
    }
    case Layout::strided: {
      Shape big(nd), start(nd, 0), stop(nd), step(nd, 2);
      for (int k = 0; k < nd; ++k) {
        big[k] = 2 * shape[k] + 1;
        stop[k] = 2 * shape[k];
      }
      std::vector<cd> base(numel(big), cd(1e6, 0));  // a sentinel that would show in any sum
      for (int64_t i = 0; i < numel(shape); ++i) {
        Shape idx = unravel(i, shape);
        for (auto& x : idx) x *= 2;
        base[ravel(idx, big)] = v[i];
      }
      return slice(from_host(base, big, t), start, stop, step);
    }
    case Layout::reversed: {
      Shape start(nd), stop(nd), step(nd, -1);
      std::vector<cd> base(v.size());
      for (int64_t i = 0; i < numel(shape); ++i) {
        Shape idx = unravel(i, shape);
        for (int k = 0; k < nd; ++k) idx[k] = shape[k] - 1 - idx[k];
        base[ravel(idx, shape)] = v[i];
      }
      for (int k = 0; k < nd; ++k) {
        start[k] = shape[k] - 1;
        stop[k] = -shape[k] - 1;
      }
      return slice(from_host(base, shape, t), start, stop, step);
    }
  }
  return from_host(v, shape, t);
}

// NumPy matmul in complex<double>: 1-d operands promoted then dropped, batch
// axes broadcast. `abs_sum` gets sum |a||b| per output (the error scale).
std::vector<cd> ref_matmul(const std::vector<cd>& a, Shape as, const std::vector<cd>& b, Shape bs, Shape* out_shape,
                           std::vector<double>* abs_sum) {
  bool a_vec = as.size() == 1, b_vec = bs.size() == 1;
  if (a_vec) as = {1, as[0]};
  if (b_vec) bs = {bs[0], 1};
  int M = as[as.size() - 2], K = as.back(), N = bs.back();
  size_t nb = std::max(as.size(), bs.size()) - 2;
  Shape ab(nb, 1), bb(nb, 1), batch(nb);
  for (size_t i = 0; i < as.size() - 2; ++i) ab[nb - (as.size() - 2) + i] = as[i];
  for (size_t i = 0; i < bs.size() - 2; ++i) bb[nb - (bs.size() - 2) + i] = bs[i];
  for (size_t i = 0; i < nb; ++i) batch[i] = ab[i] == 1 ? bb[i] : ab[i];
  Shape full = batch;
  full.insert(full.end(), {M, N});
  std::vector<cd> out(numel(full));
  abs_sum->assign(out.size(), 0);
  for (int64_t o = 0; o < numel(full); ++o) {
    Shape idx = unravel(o, full);
    Shape ia(nb), ib(nb);
    for (size_t d = 0; d < nb; ++d) {
      ia[d] = ab[d] == 1 ? 0 : idx[d];
      ib[d] = bb[d] == 1 ? 0 : idx[d];
    }
    int i = idx[nb], j = idx[nb + 1];
    int64_t abase = ravel(ia, ab) * M * K, bbase = ravel(ib, bb) * K * N;
    cd acc = 0;
    for (int k = 0; k < K; ++k) {
      cd x = a[abase + i * K + k], y = b[bbase + k * N + j];
      acc += x * y;
      (*abs_sum)[o] += std::abs(x) * std::abs(y);
    }
    out[o] = acc;
  }
  *out_shape = batch;
  if (!a_vec) out_shape->push_back(M);
  if (!b_vec) out_shape->push_back(N);
  return out;
}

// |got - ref| <= tol_scale[i] * factor + atol for every element.
void expect_close(const std::vector<cd>& got, const std::vector<cd>& ref, const std::vector<double>& scale,
                  double factor, double atol, const std::string& what) {
  ASSERT_EQ(got.size(), ref.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    double tol = scale[i] * factor + atol;
    if (!(std::abs(got[i] - ref[i]) <= tol) && bad++ < 5) {
      ADD_FAILURE() << what << ": element " << i << " got " << got[i] << " want " << ref[i] << " (tol " << tol << ")";
    }
  }
}

const Dtype kFloatTypes[] = {float32, float64, float16, bfloat16, complex64};

// Checks matmul(a, b) against the reference for the given shapes, dtype and layouts.
void check_matmul(const Shape& as, const Shape& bs, Dtype t, Layout la, Layout lb, std::mt19937& rng) {
  auto av = random_values(numel(as), t, rng), bv = random_values(numel(bs), t, rng);
  array out = matmul(make(av, as, t, la), make(bv, bs, t, lb));
  Shape ref_shape;
  std::vector<double> scale;
  auto ref = ref_matmul(av, as, bv, bs, &ref_shape, &scale);
  std::string what = "matmul " + shape_to_string(as) + " @ " + shape_to_string(bs) + " " + dtype_name(t) + " layouts " +
                     std::to_string(static_cast<int>(la)) + "," + std::to_string(static_cast<int>(lb));
  ASSERT_EQ(out.shape(), ref_shape) << what;
  EXPECT_EQ(out.dtype(), t);
  int K = as.back();
  double compute_eps = t == float64 ? eps_of(float64) : eps_of(float32);
  // Accumulation error (K roundings in the compute type) plus the output's rounding.
  double factor = (K + 2) * compute_eps + 2 * eps_of(t);
  expect_close(cvalues(out), ref, scale, factor, 1e-30, what);
}

}  // namespace

// ------------------------------------------------------------ matmul

TEST(Linalg, MatmulDtypesLayouts) {
  std::mt19937 rng(1);
  const std::vector<std::tuple<int, int, int>> mkn = {{4, 5, 3}, {1, 7, 1}, {1, 1, 1}, {9, 1, 6}, {16, 33, 17}};
  for (Dtype t : kFloatTypes) {
    for (auto [m, k, n] : mkn) {
      for (Layout la : kLayouts) {
        for (Layout lb : kLayouts) check_matmul({m, k}, {k, n}, t, la, lb, rng);
      }
    }
  }
}

TEST(Linalg, MatmulLargerFloat32) {
  std::mt19937 rng(2);
  check_matmul({130, 70}, {70, 90}, float32, Layout::contiguous, Layout::contiguous, rng);
  check_matmul({130, 70}, {70, 90}, float32, Layout::transposed, Layout::transposed, rng);
  check_matmul({64, 300}, {300, 40}, bfloat16, Layout::transposed, Layout::contiguous, rng);
  check_matmul({64, 300}, {300, 40}, float16, Layout::strided, Layout::transposed, rng);
  // backend/cpu/gemm.cpp splits these over the pool: row blocks (an odd row count), then
  // column blocks (few rows against a wide b), with both layouts of each operand.
  check_matmul({1437, 64}, {64, 128}, float32, Layout::transposed, Layout::contiguous, rng);
  check_matmul({1437, 10}, {10, 128}, float64, Layout::contiguous, Layout::transposed, rng);
  check_matmul({4, 256}, {256, 301}, float32, Layout::transposed, Layout::transposed, rng);
  check_matmul({6, 200}, {200, 517}, float32, Layout::contiguous, Layout::contiguous, rng);
  check_matmul({3, 130}, {130, 400}, complex64, Layout::contiguous, Layout::transposed, rng);
}

TEST(Linalg, MatmulBatchedBroadcast) {
  std::mt19937 rng(3);
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{2, 3, 4}, {2, 4, 5}},        // equal batches
      {{3, 4, 5}, {5, 6}},           // b shared by the batch (folded into one gemm)
      {{2, 3, 4, 5}, {5, 2}},        // two batch axes folded
      {{4, 5}, {3, 5, 6}},           // a shared
      {{2, 1, 4, 5}, {3, 5, 6}},     // broadcast on both sides
      {{1, 3, 2, 4}, {2, 1, 4, 3}},  // size-1 batch axes on both
      {{5}, {2, 5, 3}},              // 1-d a with a batch
      {{2, 3, 5}, {5}},              // 1-d b with a batch
      {{0, 3, 4}, {4, 2}},           // empty batch
  };
  for (auto& [as, bs] : cases) {
    for (Dtype t : {float32, float64, float16, complex64}) {
      for (Layout l : kLayouts) {
        check_matmul(as, bs, t, l, Layout::contiguous, rng);
        check_matmul(as, bs, t, Layout::contiguous, l, rng);
      }
    }
  }
}

TEST(Linalg, MatmulBroadcastViewsAndSlices) {
  std::mt19937 rng(4);
  // Operands that are broadcast views inside the matrix (row stride 0) need a gather.
  auto rv = random_values(5, float32, rng);
  auto bv = random_values(15, float32, rng);
  array row = make(rv, {1, 5}, float32);
  array a = broadcast_to(row, {4, 5});
  array b = make(bv, {5, 3}, float32);
  Shape ref_shape;
  std::vector<double> scale;
  std::vector<cd> a_full;
  for (int i = 0; i < 4; ++i) a_full.insert(a_full.end(), rv.begin(), rv.end());
  auto ref = ref_matmul(a_full, {4, 5}, bv, {5, 3}, &ref_shape, &scale);
  expect_close(cvalues(matmul(a, b)), ref, scale, 1e-6, 1e-30, "broadcast rows");
  // A column slice keeps a row stride larger than K (lda > K).
  auto wide = random_values(4 * 9, float64, rng);
  array w = make(wide, {4, 9}, float64);
  array ws = slice(w, {0, 2}, {4, 7});
  std::vector<cd> ws_host;
  for (int i = 0; i < 4; ++i)
    for (int j = 2; j < 7; ++j) ws_host.push_back(wide[i * 9 + j]);
  auto bv64 = random_values(15, float64, rng);
  auto ref2 = ref_matmul(ws_host, {4, 5}, bv64, {5, 3}, &ref_shape, &scale);
  expect_close(cvalues(matmul(ws, make(bv64, {5, 3}, float64, Layout::transposed))), ref2, scale, 1e-14, 1e-30,
               "sliced lda");
}

TEST(Linalg, MatmulVectorsAndEmpty) {
  std::mt19937 rng(5);
  check_matmul({6}, {6}, float32, Layout::contiguous, Layout::reversed, rng);
  check_matmul({6}, {6, 3}, float32, Layout::strided, Layout::contiguous, rng);
  check_matmul({4, 6}, {6}, float64, Layout::transposed, Layout::strided, rng);
  EXPECT_EQ(matmul(zeros({3}), zeros({3})).shape(), Shape{});
  // K = 0 gives zeros; M or N = 0 gives an empty result.
  array z = matmul(ones({3, 0}), ones({0, 4}));
  EXPECT_EQ(z.shape(), (Shape{3, 4}));
  EXPECT_EQ(values(z), std::vector<double>(12, 0.0));
  EXPECT_EQ(values(matmul(ones({2, 0}, float16), ones({0, 2}, float16))), std::vector<double>(4, 0.0));
  EXPECT_EQ(matmul(ones({0, 3}), ones({3, 4})).shape(), (Shape{0, 4}));
  EXPECT_EQ(matmul(ones({2, 3}), ones({3, 0})).shape(), (Shape{2, 0}));
  // Promotion: float16 @ float32 -> float32, int8 @ float16 -> float16.
  EXPECT_EQ(matmul(ones({2, 2}, float16), ones({2, 2})).dtype(), float32);
  array p = matmul(ones({2, 2}, int8), ones({2, 2}, float16));
  EXPECT_EQ(p.dtype(), float16);
  EXPECT_EQ(values(p), std::vector<double>(4, 2.0));
}

TEST(Linalg, MatmulErrors) {
  expect_error<std::invalid_argument>(
      [] {
        matmul(ones({2, 2}, int32), ones({2, 2}, int32));
      },
      "[matmul] only floating point types are supported, got int32 and int32");
  expect_error<std::invalid_argument>(
      [] {
        matmul(ones({2, 2}, bool_), ones({2, 2}, uint8));
      },
      "[matmul] only floating point types are supported, got bool and uint8");
  expect_error<std::invalid_argument>([] { matmul(array(1.0f), ones({2})); },
                                      "[matmul] operands must have at least 1 dimension, got shapes () and (2,)");
  expect_error<std::invalid_argument>(
      [] {
        matmul(ones({2, 3}), ones({4, 5}));
      },
      "[matmul] the last axis of the first operand (3) must match the second-to-last axis of the second (4), got "
      "shapes (2, 3) and (4, 5)");
  expect_error<std::invalid_argument>([] { matmul(ones({3}), ones({4})); },
                                      "[matmul] the last axis of the first operand (3) must match the length");
  expect_error<std::invalid_argument>(
      [] {
        matmul(ones({2, 2, 3}), ones({3, 3, 4}));
      },
      "[matmul] batch axes of shapes (2, 2, 3) and (3, 3, 4) cannot be broadcast");
}

// ------------------------------------------------------------ addmm

TEST(Linalg, AddMM) {
  std::mt19937 rng(6);
  struct Case {
    Shape a, b, c;
    float alpha, beta;
  };
  const std::vector<Case> cases = {
      {{4, 5}, {5, 3}, {4, 3}, 1.0f, 1.0f},     {{4, 5}, {5, 3}, {3}, 2.0f, -0.5f},
      {{4, 5}, {5, 3}, {4, 1}, 0.5f, 3.0f},     {{4, 5}, {5, 3}, {}, 1.0f, 2.0f},
      {{2, 4, 5}, {5, 3}, {4, 3}, -1.0f, 1.0f}, {{2, 4, 5}, {2, 5, 3}, {2, 1, 3}, 1.5f, 0.25f},
      {{5}, {5, 3}, {3}, 1.0f, 1.0f},           {{4, 5}, {5}, {4}, 1.0f, -1.0f},
      {{4, 0}, {0, 3}, {4, 3}, 1.0f, 2.0f},
  };
  for (Dtype t : kFloatTypes) {
    for (Layout l : kLayouts) {
      for (auto& cs : cases) {
        auto av = random_values(numel(cs.a), t, rng), bv = random_values(numel(cs.b), t, rng);
        auto cv = random_values(numel(cs.c), t, rng);
        array out =
            addmm(make(cv, cs.c, t, l), make(av, cs.a, t, l), make(bv, cs.b, t, Layout::contiguous), cs.alpha, cs.beta);
        Shape ref_shape;
        std::vector<double> scale;
        auto ref = ref_matmul(av, cs.a, bv, cs.b, &ref_shape, &scale);
        ASSERT_EQ(out.shape(), ref_shape);
        // c broadcast against the product, right-aligned.
        for (int64_t i = 0; i < numel(ref_shape); ++i) {
          Shape idx = unravel(i, ref_shape), ci(cs.c.size());
          for (size_t d = 0; d < cs.c.size(); ++d) {
            size_t od = ref_shape.size() - cs.c.size() + d;
            ci[d] = cs.c[d] == 1 ? 0 : idx[od];
          }
          cd c = cv[ravel(ci, cs.c)];
          ref[i] = static_cast<double>(cs.alpha) * ref[i] + static_cast<double>(cs.beta) * c;
          scale[i] = std::abs(cs.alpha) * scale[i] + std::abs(cs.beta) * std::abs(c);
        }
        int K = cs.a.back();
        double factor = (K + 4) * (t == float64 ? eps_of(float64) : eps_of(float32)) + 2 * eps_of(t);
        expect_close(cvalues(out), ref, scale, factor, 1e-30,
                     "addmm " + shape_to_string(cs.a) + " c " + shape_to_string(cs.c) + " " + dtype_name(t));
      }
    }
  }
}

TEST(Linalg, AddMMBetaZeroIgnoresC) {
  array c = full({2, 2}, array(std::numeric_limits<float>::quiet_NaN()));
  array out = addmm(c, ones({2, 3}), ones({3, 2}), 1.0f, 0.0f);
  EXPECT_EQ(values(out), std::vector<double>(4, 3.0));
  EXPECT_EQ(addmm(ones({2}, int32), ones({2, 2}, float16), ones({2, 2}, float16)).dtype(), float16);
  expect_error<std::invalid_argument>(
      [] {
        addmm(ones({3, 3}), ones({2, 3}), ones({3, 2}));
      },
      "[addmm] c of shape (3, 3) cannot be broadcast to the product's shape (2, 2)");
  expect_error<std::invalid_argument>(
      [] {
        addmm(ones({2}, int32), ones({2, 2}, int32), ones({2, 2}, int32));
      },
      "[addmm] only floating point types are supported");
}

// ------------------------------------------------------------ tensordot / inner / outer

namespace {

// out[free_a..., free_b...] = sum over contracted multi-indices of a * b.
std::vector<cd> ref_tensordot(const std::vector<cd>& a, const Shape& as, const std::vector<cd>& b, const Shape& bs,
                              const std::vector<int>& xa, const std::vector<int>& xb, Shape* out_shape) {
  std::vector<int> fa, fb;
  for (int i = 0; i < static_cast<int>(as.size()); ++i) {
    if (std::find(xa.begin(), xa.end(), i) == xa.end()) fa.push_back(i);
  }
  for (int i = 0; i < static_cast<int>(bs.size()); ++i) {
    if (std::find(xb.begin(), xb.end(), i) == xb.end()) fb.push_back(i);
  }
  Shape os, cs;
  for (int i : fa) os.push_back(as[i]);
  for (int i : fb) os.push_back(bs[i]);
  for (int i : xa) cs.push_back(as[i]);
  std::vector<cd> out(numel(os));
  for (int64_t o = 0; o < numel(os); ++o) {
    Shape oi = unravel(o, os);
    cd acc = 0;
    for (int64_t c = 0; c < numel(cs); ++c) {
      Shape ci = unravel(c, cs), ia(as.size()), ib(bs.size());
      for (size_t k = 0; k < fa.size(); ++k) ia[fa[k]] = oi[k];
      for (size_t k = 0; k < fb.size(); ++k) ib[fb[k]] = oi[fa.size() + k];
      for (size_t k = 0; k < xa.size(); ++k) {
        ia[xa[k]] = ci[k];
        ib[xb[k]] = ci[k];
      }
      acc += a[ravel(ia, as)] * b[ravel(ib, bs)];
    }
    out[o] = acc;
  }
  *out_shape = os;
  return out;
}

void check_near(const std::vector<cd>& got, const std::vector<cd>& ref, double tol, const std::string& what) {
  expect_close(got, ref, std::vector<double>(ref.size(), 0.0), 0.0, tol, what);
}

}  // namespace

TEST(Linalg, Tensordot) {
  std::mt19937 rng(7);
  Shape as{2, 3, 4}, bs{4, 3, 5};
  for (Layout l : kLayouts) {
    auto av = random_values(numel(as), float64, rng), bv = random_values(numel(bs), float64, rng);
    array a = make(av, as, float64, l), b = make(bv, bs, float64, Layout::transposed);
    Shape rs;
    auto ref = ref_tensordot(av, as, bv, bs, {1, 2}, {1, 0}, &rs);
    array out = tensordot(a, b, {1, -1}, {1, 0});
    ASSERT_EQ(out.shape(), rs);
    check_near(cvalues(out), ref, 1e-12, "tensordot lists");
    ref = ref_tensordot(av, as, bv, bs, {2}, {0}, &rs);
    out = tensordot(a, b, 1);
    ASSERT_EQ(out.shape(), rs);
    check_near(cvalues(out), ref, 1e-12, "tensordot 1");
    ref = ref_tensordot(av, as, bv, bs, {}, {}, &rs);
    out = tensordot(a, b, 0);
    ASSERT_EQ(out.shape(), rs);
    check_near(cvalues(out), ref, 1e-12, "tensordot 0");
  }
  // axes = 2 on matching trailing/leading axes.
  auto av = random_values(24, float32, rng), bv = random_values(60, float32, rng);
  Shape rs;
  auto ref = ref_tensordot(av, {2, 3, 4}, bv, {3, 4, 5}, {1, 2}, {0, 1}, &rs);
  array out = tensordot(make(av, {2, 3, 4}, float32), make(bv, {3, 4, 5}, float32));
  ASSERT_EQ(out.shape(), rs);
  check_near(cvalues(out), ref, 1e-5, "tensordot 2");

  array a = ones({2, 3}), b = ones({3, 4});
  expect_error<std::invalid_argument>([&] { tensordot(a, b, 3); }, "[tensordot] axes must be between 0");
  expect_error<std::invalid_argument>([&] { tensordot(a, b, {0}, {0}); },
                                      "[tensordot] axis 0 of a (size 2) and axis 0 of b (size 3) must match");
  expect_error<std::invalid_argument>(
      [&] {
        tensordot(a, b, {1}, {0, 1});
      },
      "[tensordot] axes_a and axes_b must have the same length, got 1 and 2");
  expect_error<std::out_of_range>([&] { tensordot(a, b, {2}, {0}); }, "[tensordot] axis 2 is out of bounds");
  expect_error<std::invalid_argument>(
      [&] {
        tensordot(ones({3, 3}), ones({3, 3}), {0, 0}, {0, 1});
      },
      "[tensordot] axis 0 is repeated");
  expect_error<std::invalid_argument>([&] { tensordot(ones({3}, int32), ones({3}, int32), 1); },
                                      "[tensordot] only floating point types are supported, got int32 and int32");
}

TEST(Linalg, InnerOuter) {
  std::mt19937 rng(8);
  auto av = random_values(12, float32, rng), bv = random_values(20, float32, rng);
  Shape rs;
  auto ref = ref_tensordot(av, {3, 4}, bv, {5, 4}, {1}, {1}, &rs);
  array in = inner(make(av, {3, 4}, float32, Layout::strided), make(bv, {5, 4}, float32, Layout::reversed));
  ASSERT_EQ(in.shape(), (Shape{3, 5}));
  check_near(cvalues(in), ref, 1e-5, "inner");
  EXPECT_EQ(values(inner(array({1.0f, 2.0f}), array({3.0f, 4.0f}))), std::vector<double>{11});
  EXPECT_EQ(values(inner(array(2.0f), array({1.0f, 3.0f}))), (std::vector<double>{2, 6}));
  expect_error<std::invalid_argument>(
      [] {
        inner(ones({2, 3}), ones({2}));
      },
      "[inner] the last axes must match, got shapes (2, 3) and (2,)");

  // outer flattens both operands; any dtype.
  array o = outer(make(av, {3, 4}, float32, Layout::transposed), array({1, 2}));
  ASSERT_EQ(o.shape(), (Shape{12, 2}));
  std::vector<double> oref;
  for (auto x : av) oref.insert(oref.end(), {x.real(), 2 * x.real()});
  EXPECT_EQ(values(o), oref);
  EXPECT_EQ(outer(array({1, 2}), array({3, 4, 5})).dtype(), int32);
  EXPECT_EQ(outer(array(2), array({3})).shape(), (Shape{1, 1}));
}

// ------------------------------------------------------------ diagonal / trace / diag

TEST(Linalg, Diagonal) {
  std::mt19937 rng(9);
  Shape shape{3, 4, 5};
  auto v = random_values(numel(shape), float32, rng);
  for (Layout l : kLayouts) {
    array a = make(v, shape, float32, l);
    for (auto [x1, x2] : std::vector<std::pair<int, int>>{{0, 1}, {1, 0}, {0, 2}, {2, 1}, {-1, -3}}) {
      for (int off : {0, 1, -1, 2, -3, 6, -7}) {
        array d = diagonal(a, off, x1, x2);
        int a1 = x1 < 0 ? x1 + 3 : x1, a2 = x2 < 0 ? x2 + 3 : x2;
        int other = 3 - a1 - a2;
        int i1 = std::max(0, -off), i2 = std::max(0, off);
        int len = std::max(0, std::min(shape[a1] - i1, shape[a2] - i2));
        Shape ds{shape[other], len};
        ASSERT_EQ(d.shape(), ds) << "offset " << off << " axes " << x1 << "," << x2;
        std::vector<double> ref;
        for (int o = 0; o < shape[other]; ++o) {
          for (int j = 0; j < len; ++j) {
            Shape idx(3);
            idx[other] = o;
            idx[a1] = i1 + j;
            idx[a2] = i2 + j;
            ref.push_back(v[ravel(idx, shape)].real());
          }
        }
        EXPECT_EQ(values(d), ref) << "offset " << off << " axes " << x1 << "," << x2;
      }
    }
  }
  // A view of a contiguous input.
  array m = reshape(arange(16.0, float32), {4, 4});
  m.eval();
  array d = diagonal(m, 1);
  d.eval();
  EXPECT_EQ(d.data<float>(), m.data<float>() + 1);
  EXPECT_EQ(values(d), (std::vector<double>{1, 6, 11}));
  EXPECT_EQ(diagonal(zeros({0, 3})).shape(), Shape{0});

  expect_error<std::invalid_argument>([] { diagonal(ones({3})); },
                                      "[diagonal] expected an array with at least 2 dimensions, got shape (3,)");
  expect_error<std::invalid_argument>(
      [] {
        diagonal(ones({3, 3}), 0, 1, -1);
      },
      "[diagonal] axis1 and axis2 must differ, got 1 and -1");
  expect_error<std::out_of_range>([] { diagonal(ones({3, 3}), 0, 0, 2); }, "[diagonal] axis 2 is out of bounds");
}

TEST(Linalg, TraceAndDiag) {
  std::mt19937 rng(10);
  auto v = random_values(20, float64, rng);
  for (Layout l : kLayouts) {
    array a = make(v, {4, 5}, float64, l);
    for (int off : {0, 1, -2, 4, -5}) {
      double ref = 0;
      for (int i = 0; i < 4; ++i) {
        int j = i + off;
        if (j >= 0 && j < 5) ref += v[i * 5 + j].real();
      }
      EXPECT_NEAR(trace(a, off).item<double>(), ref, 1e-12) << "offset " << off;
    }
  }
  array b = reshape(arange(0, 24), {2, 3, 4});
  // trace over axes (0, 2): for each middle index j, b[0, j, 0] + b[1, j, 1].
  array t = trace(b, 0, 0, 2);
  EXPECT_EQ(values(t), (std::vector<double>{0 + 13, 4 + 17, 8 + 21}));
  EXPECT_EQ(trace(b, 0, 0, 2, float32).dtype(), float32);
  EXPECT_EQ(trace(ones({3, 3}, int8), 0, 0, 1, int32).item<int>(), 3);

  // diag of a vector builds a matrix; of a matrix extracts a diagonal.
  auto dv = random_values(3, float32, rng);
  for (int k : {0, 1, -2}) {
    array m = diag(make(dv, {3}, float32, Layout::reversed), k);
    int n = 3 + std::abs(k);
    ASSERT_EQ(m.shape(), (Shape{n, n}));
    std::vector<double> ref(n * n, 0.0);
    for (int i = 0; i < 3; ++i) {
      int r = k >= 0 ? i : i - k, c = k >= 0 ? i + k : i;
      ref[r * n + c] = dv[i].real();
    }
    EXPECT_EQ(values(m), ref) << "k " << k;
    EXPECT_EQ(values(diag(m, k)), values(make(dv, {3}, float32)));
  }
  EXPECT_EQ(diag(array({1, 2}, int16)).dtype(), int16);
  EXPECT_EQ(diag(zeros({0})).shape(), (Shape{0, 0}));
  expect_error<std::invalid_argument>(
      [] {
        diag(ones({2, 2, 2}));
      },
      "[diag] expected a 1-d or 2-d array, got shape (2, 2, 2)");
  expect_error<std::invalid_argument>([] { diag(array(1.0f)); }, "[diag] expected a 1-d or 2-d array");
}

// ------------------------------------------------------------ kron

TEST(Linalg, Kron) {
  std::mt19937 rng(11);
  auto av = random_values(6, float32, rng), bv = random_values(8, float32, rng);
  Shape as{2, 3}, bs{2, 1, 4};
  for (Layout l : kLayouts) {
    array k = kron(make(av, as, float32, l), make(bv, bs, float32, Layout::transposed));
    // a is treated as (1, 2, 3); out[i, j, m] = a[i/2, j/1, m/4] * b[i%2, j%1, m%4] with a's shape (1,2,3).
    Shape os{2, 2, 12};
    ASSERT_EQ(k.shape(), os);
    std::vector<double> ref(numel(os));
    for (int64_t o = 0; o < numel(os); ++o) {
      Shape idx = unravel(o, os);
      Shape ia{idx[0] / 2, idx[1] / 1, idx[2] / 4}, ib{idx[0] % 2, idx[1] % 1, idx[2] % 4};
      ref[o] = av[ravel(ia, {1, 2, 3})].real() * bv[ravel(ib, bs)].real();
    }
    auto got = values(k);
    for (size_t i = 0; i < ref.size(); ++i) EXPECT_NEAR(got[i], ref[i], 1e-6);
  }
  array k = kron(array({1, 2}), array({1, 10, 100}));
  EXPECT_EQ(k.dtype(), int32);
  EXPECT_EQ(values(k), (std::vector<double>{1, 10, 100, 2, 20, 200}));
  EXPECT_EQ(values(kron(array(3), array({1, 2}))), (std::vector<double>{3, 6}));
  EXPECT_EQ(kron(zeros({0, 2}), ones({3, 3})).shape(), (Shape{0, 6}));
}

// ------------------------------------------------------------ isclose / allclose / array_equal

TEST(Linalg, IsCloseAllClose) {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> x{1.0, 1.0, 100.0, inf, inf, -inf, nan, nan, 0.0, 1e-9};
  std::vector<double> y{1.0, 1.00001, 100.002, inf, -inf, -inf, nan, 1.0, 1e-9, 0.0};
  for (Dtype t : {float32, float64}) {
    for (bool en : {false, true}) {
      array got = isclose(array(x, {10}, t), array(y, {10}, t), 1e-5, 1e-8, en);
      EXPECT_EQ(got.dtype(), bool_);
      // NumPy's rule: |x - y| <= atol + rtol * |y|, infinities equal only to themselves.
      std::vector<double> ref;
      for (size_t i = 0; i < x.size(); ++i) {
        double a = static_cast<double>(t == float32 ? static_cast<float>(x[i]) : x[i]);
        double b = static_cast<double>(t == float32 ? static_cast<float>(y[i]) : y[i]);
        bool r;
        if (std::isnan(a) || std::isnan(b)) {
          r = en && std::isnan(a) && std::isnan(b);
        } else if (std::isinf(a) || std::isinf(b)) {
          r = a == b;
        } else {
          double tol = 1e-8 + 1e-5 * std::abs(b);
          r = std::abs(a - b) <= tol;  // the cases keep clear of the boundary
        }
        ref.push_back(r);
      }
      EXPECT_EQ(values(got), ref) << dtype_name(t) << " equal_nan " << en;
    }
  }
  // Integers don't wrap: uint8 0 vs 255 are far apart.
  EXPECT_FALSE(allclose(array({0}, uint8), array({255}, uint8)).item<bool>());
  EXPECT_TRUE(allclose(array({1, 2}), array({1.0f, 2.0f})).item<bool>());
  EXPECT_TRUE(allclose(array({true}), array({true})).item<bool>());
  // Broadcasting and tolerances.
  EXPECT_TRUE(allclose(ones({2, 3}), array(1.0005f), 1e-3).item<bool>());
  EXPECT_FALSE(allclose(ones({2, 3}), array(1.0005f)).item<bool>());
  EXPECT_TRUE(allclose(ones({2}), array(1.1f), 0.0, 0.2).item<bool>());
  EXPECT_TRUE(allclose(zeros({0}), zeros({0})).item<bool>());
  EXPECT_FALSE(allclose(array({nan}), array({nan})).item<bool>());
  EXPECT_TRUE(allclose(array({nan}), array({nan}), 1e-5, 1e-8, true).item<bool>());
  EXPECT_EQ(isclose(ones({2, 1}), ones({3})).shape(), (Shape{2, 3}));
  expect_error<std::invalid_argument>([] { isclose(ones({2}), ones({3})); }, "cannot be broadcast");
}

TEST(Linalg, ArrayEqual) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(array_equal(array({1, 2, 3}), array({1.0f, 2.0f, 3.0f})).item<bool>());
  EXPECT_FALSE(array_equal(array({1, 2, 3}), array({1, 2, 4})).item<bool>());
  EXPECT_FALSE(array_equal(ones({2, 3}), ones({3, 2})).item<bool>());
  EXPECT_FALSE(array_equal(ones({3}), ones({1, 3})).item<bool>());
  EXPECT_FALSE(array_equal(array({1.0f, nan}), array({1.0f, nan})).item<bool>());
  EXPECT_TRUE(array_equal(array({1.0f, nan}), array({1.0f, nan}), true).item<bool>());
  EXPECT_FALSE(array_equal(array({1.0f, nan}), array({nan, 1.0f}), true).item<bool>());
  EXPECT_TRUE(array_equal(zeros({0, 2}), zeros({0, 2}, int32)).item<bool>());
  EXPECT_TRUE(array_equal(array(2), array(2.0)).item<bool>());
  // Layouts: a transposed view equals its contiguous copy.
  array m = reshape(arange(12), {3, 4});
  EXPECT_TRUE(array_equal(transpose(m), copy(transpose(m))).item<bool>());
  EXPECT_FALSE(array_equal(transpose(m), reshape(arange(12), {4, 3})).item<bool>());
}

TEST(Linalg, PrimitivesCompareParameters) {
  array a = ones({2, 2}), b = ones({2, 2});
  // matmul/addmm return the product itself for 2-d operands (no reshape on top).
  EXPECT_EQ(matmul(a, b).primitive().name(), std::string("Matmul"));
  EXPECT_TRUE(matmul(a, b).primitive().is_equivalent(matmul(b, a).primitive()));
  array mm = addmm(a, a, b, 1.0f, 2.0f);  // keeps the primitive alive
  auto& m0 = mm.primitive();
  EXPECT_TRUE(m0.is_equivalent(addmm(b, a, b, 1.0f, 2.0f).primitive()));
  EXPECT_FALSE(m0.is_equivalent(addmm(a, a, b, 1.0f, 1.0f).primitive()));
  EXPECT_FALSE(m0.is_equivalent(matmul(a, b).primitive()));
}
