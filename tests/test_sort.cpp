// sort, argsort, partition, argpartition, topk, take_along_axis and
// scatter_add_axis against std::stable_sort / plain loops on random inputs over
// dtypes, axes and layouts (transposed, sliced, broadcast), with nan placement,
// argsort stability on ties, kth edge cases and the error messages; then the
// GradSort suite: vjp/jvp/vmap of Sort, Partition, GatherAxis, ScatterAddAxis
// (and vmap of ArgSort, ArgPartition) through the grad_check harness.
#include <gtest/gtest.h>

#include <ember/ember.h>
#include <ember/primitives.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "grad_check.h"
#include "test_utils.h"

using namespace ember;
using test_utils::expect_error;
using test_utils::numel;
using test_utils::ravel;
using test_utils::unravel;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// NumPy's order: nan after everything, nans equal.
bool ref_less(double a, double b) { return a < b || (std::isnan(b) && !std::isnan(a)); }
bool same(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

// Random values for `dtype` with many ties for the integer and bool dtypes, in `dtype`.
array random_array(const Shape& shape, Dtype dtype, std::mt19937& rng) {
  std::vector<double> v(numel(shape));
  std::uniform_real_distribution<double> uf(-4.0, 4.0);
  for (auto& x : v) {
    if (dtype == bool_) {
      x = rng() % 2;
    } else if (is_unsigned(dtype)) {
      x = rng() % 20;
    } else if (is_integral(dtype)) {
      x = static_cast<int>(rng() % 41) - 20;
    } else {
      x = uf(rng);
    }
  }
  array a = astype(array(v.data(), shape, float64), dtype);
  a.eval();
  return a;
}

// The rows of `v` (row-major values of `shape`) along `axis`, and the flat position of each element.
struct RowView {
  std::vector<std::vector<double>> vals;
  std::vector<std::vector<int64_t>> pos;
};
RowView rows_along(const std::vector<double>& v, const Shape& shape, int axis) {
  RowView r;
  int64_t n = shape[axis];
  for (int64_t i = 0; i < static_cast<int64_t>(v.size()); ++i) {
    Shape idx = unravel(i, shape);
    if (idx[axis] != 0) continue;
    std::vector<double> row;
    std::vector<int64_t> p;
    for (int64_t j = 0; j < n; ++j) {
      idx[axis] = j;
      p.push_back(ravel(idx, shape));
      row.push_back(v[p.back()]);
    }
    r.vals.push_back(row);
    r.pos.push_back(p);
  }
  return r;
}

// Stable argsort of a row under ref_less.
std::vector<int64_t> ref_argsort(const std::vector<double>& row) {
  std::vector<int64_t> idx(row.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return ref_less(row[a], row[b]); });
  return idx;
}

// Checks sort and argsort of `a` along `axis` against std::stable_sort.
void check_sort(const array& a, int axis, const std::string& what) {
  SCOPED_TRACE(what + " axis " + std::to_string(axis));
  int ax = axis < 0 ? axis + static_cast<int>(a.ndim()) : axis;
  std::vector<double> in = test_utils::values(a);
  array s = sort(a, axis), as = argsort(a, axis);
  EXPECT_EQ(s.dtype(), a.dtype());
  EXPECT_EQ(as.dtype(), uint32);
  ASSERT_EQ(s.shape(), a.shape());
  ASSERT_EQ(as.shape(), a.shape());
  RowView got_s = rows_along(test_utils::values(s), a.shape(), ax);
  RowView got_i = rows_along(test_utils::values(as), a.shape(), ax);
  RowView ref = rows_along(in, a.shape(), ax);
  for (size_t r = 0; r < ref.vals.size(); ++r) {
    std::vector<int64_t> idx = ref_argsort(ref.vals[r]);
    for (size_t j = 0; j < idx.size(); ++j) {
      ASSERT_TRUE(same(got_s.vals[r][j], ref.vals[r][idx[j]])) << "sort row " << r << " element " << j;
      ASSERT_EQ(got_i.vals[r][j], static_cast<double>(idx[j])) << "argsort row " << r << " element " << j;
    }
  }
}

// Checks that `p` (values) and `pi` (indices) partition `a` along `axis` around kth.
void check_partition(const array& a, int kth, int axis, const std::string& what) {
  SCOPED_TRACE(what + " kth " + std::to_string(kth) + " axis " + std::to_string(axis));
  int ax = axis < 0 ? axis + static_cast<int>(a.ndim()) : axis;
  int n = a.shape()[ax];
  int k = kth < 0 ? kth + n : kth;
  array p = partition(a, kth, axis), pi = argpartition(a, kth, axis);
  EXPECT_EQ(p.dtype(), a.dtype());
  EXPECT_EQ(pi.dtype(), uint32);
  RowView ref = rows_along(test_utils::values(a), a.shape(), ax);
  RowView got = rows_along(test_utils::values(p), a.shape(), ax);
  RowView gi = rows_along(test_utils::values(pi), a.shape(), ax);
  for (size_t r = 0; r < ref.vals.size(); ++r) {
    std::vector<double> sorted = ref.vals[r];
    std::stable_sort(sorted.begin(), sorted.end(), ref_less);
    const std::vector<double>& row = got.vals[r];
    ASSERT_TRUE(same(row[k], sorted[k])) << "row " << r << " kth element";
    for (int j = 0; j < n; ++j) {
      if (j < k) EXPECT_FALSE(ref_less(row[k], row[j])) << "row " << r << " element " << j << " > kth";
      if (j > k) EXPECT_FALSE(ref_less(row[j], row[k])) << "row " << r << " element " << j << " < kth";
    }
    std::vector<double> multiset = row;
    std::stable_sort(multiset.begin(), multiset.end(), ref_less);
    for (int j = 0; j < n; ++j) ASSERT_TRUE(same(multiset[j], sorted[j])) << "row " << r << " lost an element";
    // argpartition: a permutation whose values are the partition's values.
    std::vector<bool> seen(n, false);
    for (int j = 0; j < n; ++j) {
      int64_t i = static_cast<int64_t>(gi.vals[r][j]);
      ASSERT_TRUE(i >= 0 && i < n && !seen[i]) << "argpartition row " << r << " is not a permutation";
      seen[i] = true;
      EXPECT_TRUE(same(ref.vals[r][i], row[j])) << "argpartition and partition disagree, row " << r << " pos " << j;
    }
  }
}

const std::vector<Dtype> kRealDtypes = {bool_, uint8, uint16,  uint32,   uint64,  int8,   int16,
                                        int32, int64, float16, bfloat16, float32, float64};

}  // namespace

// ---------------------------------------------------------------- sort, argsort

TEST(Sort, EveryDtypeAndAxis) {
  std::mt19937 rng(7);
  for (Dtype t : kRealDtypes) {
    for (const Shape& shape : {Shape{37}, Shape{5, 17}, Shape{4, 6, 9}}) {
      array a = random_array(shape, t, rng);
      for (int axis = -static_cast<int>(shape.size()); axis < static_cast<int>(shape.size()); ++axis) {
        check_sort(a, axis, dtype_name(t) + " " + shape_to_string(shape));
      }
    }
  }
}

TEST(Sort, Layouts) {
  std::mt19937 rng(11);
  array a = random_array({6, 10}, float32, rng);
  check_sort(transpose(a), 0, "transposed");
  check_sort(transpose(a), 1, "transposed");
  array sl = slice(a, {1, 0}, {6, 10}, {2, 3});
  check_sort(sl, 0, "sliced");
  check_sort(sl, 1, "sliced");
  array neg = slice(a, {5, 9}, {-7, -11}, {-1, -2});  // negative strides
  check_sort(neg, 1, "reversed");
  check_sort(broadcast_to(random_array({1, 7}, int32, rng), {4, 7}), 0, "broadcast");
  check_sort(broadcast_to(random_array({1, 7}, int32, rng), {4, 7}), 1, "broadcast");
}

TEST(Sort, NanAndInfPlacement) {
  std::vector<double> v = {3, kNaN, -kInf, 1, kNaN, kInf, -0.5, 1, kNaN, 2};
  for (Dtype t : {float16, bfloat16, float32, float64}) {
    array a = astype(array(v.data(), {10}, float64), t);
    check_sort(a, 0, dtype_name(t));
    std::vector<double> s = test_utils::values(sort(a));
    EXPECT_EQ(s[0], -kInf);
    EXPECT_EQ(s[6], kInf);
    for (int i = 7; i < 10; ++i) EXPECT_TRUE(std::isnan(s[i])) << dtype_name(t) << " element " << i;
    // nan ties keep their order in argsort.
    std::vector<double> idx = test_utils::values(argsort(a));
    EXPECT_EQ(idx[7], 1);
    EXPECT_EQ(idx[8], 4);
    EXPECT_EQ(idx[9], 8);
    check_partition(a, 7, 0, dtype_name(t));
    check_partition(a, 3, 0, dtype_name(t));
  }
}

TEST(Sort, ArgsortIsStable) {
  std::vector<int> v = {2, 1, 2, 0, 1, 2, 0, 1};
  array a(v.data(), {8}, int32);
  std::vector<uint32_t> idx = test_utils::values<uint32_t>(argsort(a));
  EXPECT_EQ(idx, (std::vector<uint32_t>{3, 6, 1, 4, 7, 0, 2, 5}));
  // Long rows of few distinct values, along a strided axis (the scratch path) too.
  std::mt19937 rng(3);
  array b = random_array({3000, 2}, bool_, rng);
  check_sort(b, 0, "bool column");
  check_sort(astype(b, int8), 0, "int8 column");
}

TEST(Sort, FlattenedAndLargeRows) {
  std::mt19937 rng(5);
  array a = random_array({3, 4, 5}, float32, rng);
  check_sort(flatten(a), 0, "reference");
  EXPECT_TRUE(array_equal(sort(a), sort(flatten(a), 0)).item<bool>());
  EXPECT_TRUE(array_equal(argsort(a), argsort(flatten(a), 0)).item<bool>());
  EXPECT_EQ(sort(a).shape(), Shape{60});
  // Enough rows and elements to split across threads, on both row layouts.
  array big = random_array({64, 3000}, float32, rng);
  check_sort(big, 1, "big rows");
  check_sort(big, 0, "big columns");
  array ints = random_array({40000}, int32, rng);
  check_sort(ints, 0, "one long row");
}

TEST(Sort, EmptyAndSizeOne) {
  array e = zeros({0, 3}, float32);
  EXPECT_EQ(sort(e, 0).shape(), (Shape{0, 3}));
  EXPECT_EQ(argsort(e, 1).shape(), (Shape{0, 3}));
  EXPECT_EQ(sort(e).shape(), Shape{0});
  check_sort(array(std::vector<float>{4.0f}.data(), {1, 1}, float32), 0, "1x1");
  EXPECT_EQ(sort(array(2.5f)).shape(), Shape{1});  // 0-d: the flattened form
}

TEST(Sort, Errors) {
  array a = zeros({2, 3}, float32);
  expect_error<std::out_of_range>([&] { sort(a, 2); }, "[sort] axis 2 is out of bounds for an array with 2 dimensions");
  expect_error<std::out_of_range>([&] { argsort(a, -3); }, "[argsort] axis -3 is out of bounds");
  expect_error<std::out_of_range>([&] { sort(array(1.0f), -1); }, "[sort] axis -1 is out of bounds");
  array c = zeros({4}, complex64);
  expect_error<std::invalid_argument>([&] { sort(c); }, "[sort] not supported for complex64 inputs");
  expect_error<std::invalid_argument>([&] { argsort(c); }, "[argsort] not supported for complex64 inputs");
  expect_error<std::invalid_argument>([&] { partition(c, 1); }, "[partition] not supported for complex64");
  expect_error<std::invalid_argument>([&] { topk(c, 1); }, "[topk] not supported for complex64");
}

// ---------------------------------------------------------------- partition, argpartition, topk

TEST(Partition, EveryDtypeAxisAndKth) {
  std::mt19937 rng(13);
  for (Dtype t : kRealDtypes) {
    array a = random_array({5, 9}, t, rng);
    for (int axis : {0, 1, -1}) {
      int n = a.shape()[axis < 0 ? axis + 2 : axis];
      for (int kth : {0, 1, n / 2, n - 1, -1, -n}) check_partition(a, kth, axis, dtype_name(t));
    }
  }
  array b = random_array({7, 8}, float32, rng);
  check_partition(transpose(b), 3, 0, "transposed");
  check_partition(slice(b, {0, 1}, {7, 8}, {3, 2}), 2, 1, "sliced");
  check_partition(random_array({50000}, float32, rng), 12345, 0, "long row");
}

TEST(Partition, FlattenedAndErrors) {
  std::mt19937 rng(17);
  array a = random_array({3, 4}, float32, rng);
  EXPECT_EQ(partition(a, 5).shape(), Shape{12});
  check_partition(flatten(a), 5, 0, "flattened");
  EXPECT_EQ(argpartition(a, -2).shape(), Shape{12});
  expect_error<std::out_of_range>([&] { partition(a, 4, 1); },
                                  "[partition] kth 4 is out of bounds for axis 1 of size 4 (shape (3, 4))");
  expect_error<std::out_of_range>([&] { argpartition(a, -4, 0); },
                                  "[argpartition] kth -4 is out of bounds for axis 0 of size 3");
  expect_error<std::out_of_range>([&] { partition(zeros({0}), 0); }, "[partition] kth 0 is out of bounds");
  expect_error<std::out_of_range>([&] { partition(a, 0, 2); }, "[partition] axis 2 is out of bounds");
}

TEST(Partition, TopK) {
  std::mt19937 rng(19);
  for (Dtype t : {int32, float16, float32}) {
    array a = random_array({4, 11}, t, rng);
    std::vector<double> v = test_utils::values(a);
    for (int axis : {0, 1}) {
      int n = a.shape()[axis];
      RowView ref = rows_along(v, a.shape(), axis);
      for (int k : {0, 1, 3, n}) {
        array top = topk(a, k, axis);
        Shape want = a.shape();
        want[axis] = k;
        ASSERT_EQ(top.shape(), want);
        EXPECT_EQ(top.dtype(), t);
        RowView got = rows_along(test_utils::values(top), want, axis);
        for (size_t r = 0; r < ref.vals.size() && k > 0; ++r) {
          std::vector<double> s = ref.vals[r], g = got.vals[r];
          std::sort(s.begin(), s.end(), ref_less);
          std::sort(g.begin(), g.end(), ref_less);
          for (int j = 0; j < k; ++j) EXPECT_EQ(g[j], s[n - k + j]) << "k " << k << " row " << r;
        }
      }
    }
  }
  array a = random_array({2, 3}, float32, rng);
  EXPECT_EQ(topk(a, 4).shape(), Shape{4});
  expect_error<std::out_of_range>([&] { topk(a, 4, 1); }, "[topk] k 4 is out of range for axis 1 of size 3");
  expect_error<std::out_of_range>([&] { topk(a, -1, 0); }, "[topk] k -1 is out of range");
}

// ---------------------------------------------------------------- take_along_axis, scatter_add_axis

TEST(Sort, AxisGathersRejectOutOfRangeIndices) {
  array a = zeros({3, 4});
  expect_error<std::out_of_range>(
      [&] {
        take_along_axis(a, array({0, 4, 1}, {3, 1}), 1).eval();
      },
      "[take_along_axis] index 4 is out of bounds for axis 1 with size 4");
  expect_error<std::out_of_range>(
      [&] {
        take_along_axis(a, array({-5}, {1, 1}), 1).eval();
      },
      "[take_along_axis] index -5 is out of bounds for axis 1 with size 4");
  expect_error<std::out_of_range>(
      [&] {
        scatter_add_axis(a, array({3, 0, 0, 0}, {1, 4}), ones({1, 4}), 0).eval();
      },
      "[scatter_add_axis] index 3 is out of bounds for axis 0 with size 3");
  // In range (negative ones wrap) they work, and the library stays usable after the errors.
  EXPECT_EQ(take_along_axis(arange(4.0), array({-1, 0}), 0).shape(), Shape{2});
  EXPECT_EQ(test_utils::values(take_along_axis(arange(4.0), array({-1, 0}), 0)), (std::vector<double>{3, 0}));
}

TEST(Sort, TakeAlongAxis) {
  std::mt19937 rng(23);
  array a = random_array({4, 6, 5}, float32, rng);
  std::vector<double> av = test_utils::values(a);
  for (int axis : {0, 1, 2}) {
    Shape is = a.shape();
    is[axis] = 7;
    std::vector<int> iv(numel(is));
    int n = a.shape()[axis];
    for (auto& x : iv) x = static_cast<int>(rng() % (2 * n)) - n;  // negative indices count from the end
    array idx(iv.data(), is, int32);
    array got = take_along_axis(a, idx, axis);
    ASSERT_EQ(got.shape(), is);
    std::vector<double> g = test_utils::values(got);
    for (int64_t i = 0; i < numel(is); ++i) {
      Shape p = unravel(i, is);
      p[axis] = iv[i] < 0 ? iv[i] + n : iv[i];
      EXPECT_EQ(g[i], av[ravel(p, a.shape())]) << "axis " << axis << " element " << i;
    }
  }
  // argsort + take_along_axis is sort, on a transposed input with uint32 indices.
  array t = transpose(a, {2, 0, 1});
  EXPECT_TRUE(array_equal(take_along_axis(t, argsort(t, 1), 1), sort(t, 1)).item<bool>());
  // Broadcast on the other axes: one index row for every row of a.
  std::vector<int> one = {2, 0};
  array b = take_along_axis(a, array(one.data(), {1, 2, 1}, int32), 1);
  EXPECT_EQ(b.shape(), (Shape{4, 2, 5}));
  EXPECT_TRUE(array_equal(slice(b, {0, 0, 0}, {4, 1, 5}), slice(a, {0, 2, 0}, {4, 3, 5})).item<bool>());
  expect_error<std::invalid_argument>(
      [&] {
        take_along_axis(a, zeros({4, 2, 5}), 1);
      },
      "[take_along_axis] indices must be integers, got float32");
  expect_error<std::invalid_argument>(
      [&] {
        take_along_axis(a, zeros({2, 5}, int32), 1);
      },
      "[take_along_axis] indices must have the same number of dimensions");
  expect_error<std::out_of_range>(
      [&] {
        take_along_axis(a, zeros({4, 2, 5}, int32), 3);
      },
      "[take_along_axis] axis 3 is out of bounds");
}

TEST(Sort, ScatterAddAxis) {
  std::mt19937 rng(29);
  for (Dtype t : {float32, float64, int32, float16}) {
    array a = random_array({3, 5, 4}, t, rng);
    std::vector<double> av = test_utils::values(a);
    for (int axis : {0, 1, 2}) {
      int n = a.shape()[axis];
      Shape us = a.shape();
      us[axis] = 6;  // more updates than slots: repeated indices accumulate
      std::vector<int> iv(numel(us));
      for (auto& x : iv) x = static_cast<int>(rng() % (2 * n)) - n;
      array idx(iv.data(), us, int32);
      array upd = random_array(us, t, rng);
      std::vector<double> uv = test_utils::values(upd), want = av;
      for (int64_t i = 0; i < numel(us); ++i) {
        Shape p = unravel(i, us);
        p[axis] = iv[i] < 0 ? iv[i] + n : iv[i];
        want[ravel(p, a.shape())] += uv[i];
      }
      array got = scatter_add_axis(a, idx, upd, axis);
      EXPECT_EQ(got.dtype(), t);
      std::vector<double> g = test_utils::values(got);
      double tol = t == float16 ? 0.05 : 1e-5;
      for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], want[i], tol) << dtype_name(t) << " axis " << axis;
    }
  }
  array a = zeros({3, 4});
  expect_error<std::invalid_argument>(
      [&] {
        scatter_add_axis(a, zeros({2, 4}, int32), zeros({2, 4}), 1);
      },
      "[scatter_add_axis] indices and values of shape (2, 4) do not match");
  expect_error<std::invalid_argument>(
      [&] {
        scatter_add_axis(a, zeros({3, 4}), zeros({3, 4}), 1);
      },
      "[scatter_add_axis] indices must be integers");
}

// ---------------------------------------------------------------- gradients

using Args = std::vector<array>;
using grad_check::check;

TEST(GradSort, Sort) {
  check([](const Args& x) { return sort(x[0], 0); }, {{5, 4, 3}});
  check([](const Args& x) { return sort(x[0], 1); }, {{5, 4, 3}});
  check([](const Args& x) { return sort(x[0], -1); }, {{5, 4, 3}});
  check([](const Args& x) { return sort(transpose(x[0]), 1); }, {{6, 4}});
  check([](const Args& x) { return sort(x[0], 0); }, {{9}});
}

TEST(GradSort, Partition) {
  check([](const Args& x) { return partition(x[0], 2, 1); }, {{4, 7}});
  check([](const Args& x) { return partition(x[0], 0, 0); }, {{4, 7}});
  check([](const Args& x) { return partition(x[0], -1, 2); }, {{3, 2, 6}});
}

TEST(GradSort, ArgSortAndArgPartitionVmap) {
  check([](const Args& x) { return argsort(x[0], 1); }, {{4, 6}}, grad_check::vmap_only());
  check([](const Args& x) { return argpartition(x[0], 3, 0); }, {{7, 2}}, grad_check::vmap_only());
}

TEST(GradSort, GatherAxis) {
  // The harness draws vmapped indices in [0, 6] (uint32) or [-3, 3] (int32): axes of size 8 hold them.
  std::vector<uint32_t> iu = {7, 0, 3, 3, 1, 5, 2, 2, 6, 0, 4, 7, 1, 1, 0};
  array idx(iu.data(), {3, 5}, uint32);
  check([idx](const Args& x) { return take_along_axis(x[0], idx, 1); }, {{3, 8}});
  std::vector<int> is = {-1, 0, 3, 3, -8, 5, 2, 2, 6, 0, 4, 7};
  array idx2(is.data(), {4, 3}, int32);
  check([idx2](const Args& x) { return take_along_axis(x[0], idx2, 0); }, {{8, 3}});
}

TEST(GradSort, ScatterAddAxis) {
  std::vector<uint32_t> iu = {7, 0, 3, 3, 1, 5, 2, 2, 6, 0, 4, 7, 1, 1, 0};
  array idx(iu.data(), {3, 5}, uint32);
  check([idx](const Args& x) { return scatter_add_axis(x[0], idx, x[1], 1); }, {{3, 8}, {3, 5}});
  std::vector<int> is = {-1, 0, 3, 3, -8, 5, 2, 2, 6, 0, 4, 7};
  array idx2(is.data(), {4, 3}, int32);
  check([idx2](const Args& x) { return scatter_add_axis(x[0], idx2, x[1], 0); }, {{8, 3}, {4, 3}});
}

TEST(GradSort, Compositions) {
  grad_check::check_transforms([](const Args& x) { return topk(x[0], 2, 1); }, {{3, 5}});
  grad_check::check_transforms([](const Args& x) { return sort(x[0]); }, {{3, 4}});
  grad_check::check_transforms([](const Args& x) { return take_along_axis(x[0], argsort(x[0], 0), 0); }, {{5, 2}});
}
