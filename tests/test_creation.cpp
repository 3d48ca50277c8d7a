// Creation ops against reference loops, plus their error messages.
#include <gtest/gtest.h>

#include <ember/ember.h>

#include <cmath>
#include <random>

#include "test_utils.h"

using namespace ember;
using test_utils::error_of;

namespace {

// Row-major values of any array as double, read through its strides.
std::vector<double> vals(array a) {
  a.eval();
  array c = contiguous(astype(a, float64));
  c.eval();
  return std::vector<double>(c.data<double>(), c.data<double>() + c.size());
}

}  // namespace

TEST(Creation, ArangeMatchesNumpyRule) {
  struct Case {
    double start, stop, step;
  };
  for (auto c :
       {Case{0, 10, 1}, Case{2, 3, 0.1}, Case{5, -5, -1.5}, Case{1, 1, 1}, Case{3, 1, 1}, Case{-2.5, 4, 0.7}}) {
    array a = arange(c.start, c.stop, c.step, float64);
    int n = std::max(0, static_cast<int>(std::ceil((c.stop - c.start) / c.step)));
    ASSERT_EQ(a.shape(), (Shape{n})) << c.start << " " << c.stop << " " << c.step;
    auto v = vals(a);
    for (int i = 0; i < n; ++i) EXPECT_DOUBLE_EQ(v[i], c.start + i * c.step);
  }
  EXPECT_EQ(arange(5).dtype(), int32);
  EXPECT_EQ(arange(5.0).dtype(), float32);
  EXPECT_EQ(vals(arange(0, 10, 3)), (std::vector<double>{0, 3, 6, 9}));
  EXPECT_EQ(vals(arange(0.0, 4.0, 1.0, int16)), (std::vector<double>{0, 1, 2, 3}));
  EXPECT_NE(error_of([] { arange(0.0, 1.0, 0.0); }).find("[arange]"), std::string::npos);
  EXPECT_NE(error_of([] { arange(0.0, 1.0, 1.0, bool_); }).find("dtype bool"), std::string::npos);
  EXPECT_NE(error_of([] { arange(0.0, 1e12, 1.0); }).find("[arange]"), std::string::npos);
}

TEST(Creation, Linspace) {
  for (int num : {0, 1, 2, 7, 50}) {
    array a = linspace(-1.0, 3.0, num, float64);
    ASSERT_EQ(a.shape(), (Shape{num}));
    auto v = vals(a);
    for (int i = 0; i < num; ++i) {
      double expect = num == 1 ? -1.0 : -1.0 + i * (4.0 / (num - 1));
      EXPECT_NEAR(v[i], expect, 1e-12);
    }
    if (num > 1) EXPECT_EQ(v.back(), 3.0) << "the endpoint is exact";
  }
  EXPECT_EQ(linspace(0, 1, 5).dtype(), float32);
  EXPECT_NE(error_of([] { linspace(0, 1, -1); }).find("[linspace] num must be non-negative, got -1"),
            std::string::npos);
}

TEST(Creation, FullZerosOnesAndLike) {
  array f = full({2, 3}, array(2.5f));
  EXPECT_EQ(f.dtype(), float32);
  EXPECT_EQ(vals(f), std::vector<double>(6, 2.5));
  array g = full({3}, array(7), float16);
  EXPECT_EQ(g.dtype(), float16);
  EXPECT_EQ(vals(g), std::vector<double>(3, 7.0));
  // A non-scalar fill value broadcasts.
  EXPECT_EQ(vals(full({2, 2}, array({1, 2}))), (std::vector<double>{1, 2, 1, 2}));
  EXPECT_EQ(vals(zeros({4}, int8)), std::vector<double>(4, 0.0));
  EXPECT_EQ(vals(ones({2, 2}, bool_)), std::vector<double>(4, 1.0));
  array base = arange(0.0, 6.0, 1.0, float64);
  EXPECT_EQ(zeros_like(base).dtype(), float64);
  EXPECT_EQ(vals(ones_like(base)), std::vector<double>(6, 1.0));
  EXPECT_EQ(vals(full_like(base, array(3))), std::vector<double>(6, 3.0));
  EXPECT_EQ(full_like(base, array(3)).dtype(), float64);
  EXPECT_EQ(zeros({0, 3}).size(), 0u);
  EXPECT_NE(error_of([] { full({2}, array({1, 2, 3})); }).find("[broadcast"), std::string::npos);
  EXPECT_NE(error_of([] { zeros({2, -3}); }).find("negative dimension -3"), std::string::npos);
}

TEST(Creation, LargeFillsAndLongCopiesLandEveryElement) {
  // Materialized broadcasts are fills and one long run is copied in pieces over the threads:
  // lengths around the piece size (2^14), and one not a multiple of it, every element checked.
  for (int n : {16383, 16384, 49152, 70001}) {
    SCOPED_TRACE(n);
    // A fill of a scalar, with a conversion (int32 -> float32) and without.
    array z = full({n}, array(3), float32);
    EXPECT_EQ(vals(z), std::vector<double>(n, 3.0));
    EXPECT_EQ(vals(astype(full({n}, array(-2)), float16)), std::vector<double>(n, -2.0));
    // A long contiguous run into a fresh buffer, through a slice_update into zeros.
    array r = arange(0.0, static_cast<double>(n), 1.0, float32);
    array u = slice_update(zeros({2, n}), reshape(r, {1, n}), {1, 0}, {2, n});
    const std::vector<double> got = vals(u);
    for (int i = 0; i < n; ++i) {
      ASSERT_EQ(got[i], 0.0) << i;
      ASSERT_EQ(got[n + i], static_cast<double>(i)) << i;
    }
    // A strided long run: every other element of a 2n arange.
    const std::vector<double> odd = vals(contiguous(slice(arange(0.0, 2.0 * n, 1.0, float32), {1}, {2 * n}, {2})));
    for (int i = 0; i < n; ++i) ASSERT_EQ(odd[i], 2.0 * i + 1) << i;
  }
}

TEST(Creation, EyeIdentityTri) {
  for (int n : {1, 3, 5}) {
    for (int m : {1, 4}) {
      for (int k : {-2, 0, 1}) {
        auto e = vals(eye(n, m, k));
        auto t = vals(tri(n, m, k));
        ASSERT_EQ(e.size(), static_cast<size_t>(n * m));
        for (int i = 0; i < n; ++i) {
          for (int j = 0; j < m; ++j) {
            EXPECT_EQ(e[i * m + j], j == i + k ? 1.0 : 0.0) << n << m << k;
            EXPECT_EQ(t[i * m + j], j <= i + k ? 1.0 : 0.0) << n << m << k;
          }
        }
      }
    }
  }
  EXPECT_EQ(vals(identity(3)), vals(eye(3)));
  EXPECT_EQ(eye(2, int32).dtype(), int32);
  EXPECT_NE(error_of([] { eye(-1); }).find("[eye] n and m must be non-negative"), std::string::npos);
  EXPECT_NE(error_of([] { tri(2, -1, 0); }).find("[tri]"), std::string::npos);
}

TEST(Creation, TrilTriuBatched) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> data(2 * 3 * 4);
  for (auto& v : data) v = u(rng);
  array x(data, {2, 3, 4});
  for (int k : {-1, 0, 2}) {
    auto lo = vals(tril(x, k));
    auto hi = vals(triu(x, k));
    for (int b = 0; b < 2; ++b) {
      for (int i = 0; i < 3; ++i) {
        for (int j = 0; j < 4; ++j) {
          int idx = (b * 3 + i) * 4 + j;
          EXPECT_EQ(lo[idx], j <= i + k ? data[idx] : 0.0f);
          EXPECT_EQ(hi[idx], j >= i + k ? data[idx] : 0.0f);
        }
      }
    }
  }
  // Works on a transposed view too.
  array t = transpose(x, {0, 2, 1});
  auto tv = vals(tril(t));
  auto tref = vals(contiguous(t));
  for (int b = 0; b < 2; ++b)
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 3; ++j) EXPECT_EQ(tv[(b * 4 + i) * 3 + j], j <= i ? tref[(b * 4 + i) * 3 + j] : 0.0);
  EXPECT_NE(error_of([] {
              tril(array({1, 2}));
            }).find("[tril] expected an array with at least 2 dimensions"),
            std::string::npos);
}

TEST(Creation, Meshgrid) {
  array a({1, 2, 3}), b({10, 20});
  auto xy = meshgrid({a, b});
  ASSERT_EQ(xy[0].shape(), (Shape{2, 3}));
  EXPECT_EQ(vals(xy[0]), (std::vector<double>{1, 2, 3, 1, 2, 3}));
  EXPECT_EQ(vals(xy[1]), (std::vector<double>{10, 10, 10, 20, 20, 20}));
  auto ij = meshgrid({a, b}, false, "ij");
  ASSERT_EQ(ij[0].shape(), (Shape{3, 2}));
  EXPECT_EQ(vals(ij[0]), (std::vector<double>{1, 1, 2, 2, 3, 3}));
  EXPECT_EQ(vals(ij[1]), (std::vector<double>{10, 20, 10, 20, 10, 20}));
  auto sp = meshgrid({a, b}, true);
  EXPECT_EQ(sp[0].shape(), (Shape{1, 3}));
  EXPECT_EQ(sp[1].shape(), (Shape{2, 1}));
  auto three = meshgrid({a, b, array({5, 6, 7, 8})}, false, "ij");
  EXPECT_EQ(three[2].shape(), (Shape{3, 2, 4}));
  EXPECT_NE(error_of([&] { meshgrid({a}, false, "yx"); }).find("indexing must be 'xy' or 'ij'"), std::string::npos);
  EXPECT_NE(error_of([] { meshgrid({zeros({2, 2})}); }).find("expected 1-d arrays"), std::string::npos);
}

TEST(Creation, BroadcastArraysAndShapes) {
  auto out = broadcast_arrays({array({1, 2, 3}), reshape(array({4, 5}), {2, 1}), array(9)});
  for (auto& o : out) EXPECT_EQ(o.shape(), (Shape{2, 3}));
  EXPECT_EQ(vals(out[1]), (std::vector<double>{4, 4, 4, 5, 5, 5}));
  EXPECT_EQ(broadcast_shapes({5, 1, 3}, {4, 1}), (Shape{5, 4, 3}));
  EXPECT_EQ(error_of([] {
              broadcast_shapes({2, 3}, {4});
            }),
            "[broadcast_shapes] shapes (2,3) and (4,) cannot be broadcast");
  EXPECT_NE(error_of([] { broadcast_to(zeros({3}), {3, 2}); }).find("[broadcast_to]"), std::string::npos);
}
