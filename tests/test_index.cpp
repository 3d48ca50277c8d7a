// Indexing: gather and the scatter family against plain loops over random
// inputs (dtypes, repeated indices, negative indices, strided inputs); take,
// put_along_axis and NumPy-style index / index_update against NumPy itself;
// slices at array starts against static slices; the error messages; then the
// GradIndex suite: vjp/jvp/vmap of Gather and every Scatter through grad_check.
#include <gtest/gtest.h>

#include <ember/ember.h>
#include <ember/primitives_index.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "grad_check.h"
#include "numpy_ref.h"
#include "test_utils.h"

using namespace ember;
using test_utils::expect_error;
using test_utils::numel;
using test_utils::ravel;
using test_utils::unravel;

namespace {

// Random small integers (exact in every dtype), in `dtype`.
array random_array(const Shape& shape, Dtype dtype, std::mt19937& rng, int lo = -40, int hi = 40) {
  std::vector<double> v(numel(shape));
  for (auto& x : v) x = dtype == bool_ ? static_cast<double>(rng() % 2) : lo + static_cast<int>(rng() % (hi - lo + 1));
  if (dtype == uint8 || dtype == uint32) {
    for (auto& x : v) x = std::abs(x);
  }
  return astype(array(v.data(), shape, float64), dtype);
}

// Random starts in [0, n - extent], half of them written as the equivalent negative index.
std::vector<int> random_starts(int64_t count, int n, int extent, std::mt19937& rng) {
  std::vector<int> v(count);
  for (auto& x : v) {
    x = static_cast<int>(rng() % (n - extent + 1));
    if (rng() % 2) x -= n;
  }
  return v;
}

std::vector<double> vals(const array& a) { return test_utils::values(a); }

void expect_same(const array& got, const numpy_ref::Result& want, const std::string& what) {
  ASSERT_TRUE(want.ok) << what << ": NumPy raised";
  ASSERT_EQ(got.shape(), want.shape) << what;
  std::vector<double> g = vals(got);
  ASSERT_EQ(g.size(), want.values.size()) << what;
  for (size_t i = 0; i < g.size(); ++i) {
    ASSERT_NEAR(g[i], want.values[i], 1e-6 * (1 + std::abs(want.values[i]))) << what << " element " << i;
  }
}

}  // namespace

// ---------------------------------------------------------------- gather

TEST(Index, GatherMatchesLoop) {
  std::mt19937 rng(5);
  struct Case {
    Shape a;
    std::vector<int> axes;
    Shape sizes;
    Shape ishape;
  };
  std::vector<Case> cases = {
      {{9}, {0}, {1}, {5}},
      {{6, 7}, {0}, {1, 7}, {3, 2}},
      {{6, 7, 5}, {0, 2}, {1, 3, 2}, {4}},
      {{6, 7, 5}, {2, 0}, {2, 7, 1}, {2, 3}},
      {{4, 5, 6}, {1}, {4, 2, 6}, {}},
      {{4, 5}, {}, {2, 3}, {}},
      {{8, 3}, {0}, {3, 3}, {0}},
  };
  for (Dtype dt : {float32, int64, float16, bool_, uint8, complex64}) {
    for (size_t c = 0; c < cases.size(); ++c) {
      const Case& k = cases[c];
      // A transposed, then sliced source, so strides are not row-major.
      Shape big = k.a;
      std::reverse(big.begin(), big.end());
      big.back() += 2;
      array src = random_array(big, dt, rng);
      array a = transpose(src);
      Shape start(a.ndim(), 0), stop = a.shape();
      start[0] = 2;
      a = slice(a, start, stop);
      ASSERT_EQ(a.shape(), k.a);
      std::vector<array> idx;
      std::vector<std::vector<int>> iv;
      for (size_t j = 0; j < k.axes.size(); ++j) {
        iv.push_back(random_starts(numel(k.ishape), k.a[k.axes[j]], k.sizes[k.axes[j]], rng));
        idx.push_back(array(iv.back().data(), k.ishape, j % 2 ? int64 : int32));
      }
      array got = gather(a, idx, k.axes, k.sizes);
      Shape want_shape = k.ishape;
      want_shape.insert(want_shape.end(), k.sizes.begin(), k.sizes.end());
      ASSERT_EQ(got.shape(), want_shape);
      auto av = test_utils::cvalues(a);
      auto gv = test_utils::cvalues(got);
      int64_t per = numel(k.sizes);
      for (int64_t i = 0; i < static_cast<int64_t>(gv.size()); ++i) {
        int64_t p = i / per;
        Shape pos = unravel(i % per, k.sizes);
        for (size_t j = 0; j < k.axes.size(); ++j) {
          int v = iv[j][p];
          pos[k.axes[j]] += v < 0 ? v + k.a[k.axes[j]] : v;
        }
        ASSERT_EQ(gv[i], av[ravel(pos, k.a)]) << dtype_name(dt) << " case " << c << " element " << i;
      }
    }
  }
}

TEST(Index, GatherErrors) {
  array a = zeros({4, 5});
  array i = array({1, 2}, int32);
  expect_error<std::invalid_argument>(
      [&] {
        gather(a, {i}, {0, 1}, {1, 5});
      },
      "[gather] got 1 index arrays but 2 axes");
  expect_error<std::invalid_argument>([&] { gather(a, {i, i}, {0, 0}, {1, 1}); }, "[gather] axis 0 is indexed twice");
  expect_error<std::invalid_argument>([&] { gather(a, i, 0, {1}); }, "[gather] slice_sizes (1,) must have one entry");
  expect_error<std::invalid_argument>(
      [&] {
        gather(a, i, 0, {1, 6});
      },
      "[gather] slice size 6 on axis 1 must lie in [0, 5]");
  expect_error<std::invalid_argument>(
      [&] {
        gather(a, array({1.0f}), 0, {1, 5});
      },
      "[gather] indices must be integers, got float32");
  expect_error<std::invalid_argument>(
      [&] {
        gather(a, {i, array({1, 2, 3})}, {0, 1}, {1, 1});
      },
      "[gather] index arrays of shapes (2,), (3,) cannot be broadcast together");
  expect_error<std::out_of_range>([&] { gather(a, i, 2, {1, 5}); }, "[gather] axis 2 is out of bounds");
  // Out-of-range values are found when the kernel runs.
  expect_error<std::out_of_range>(
      [&] {
        gather(a, array({4}), 0, {1, 5}).eval();
      },
      "[gather] index 4 is out of bounds for axis 0 with size 4");
  expect_error<std::out_of_range>(
      [&] {
        gather(a, array({-5}), 0, {1, 5}).eval();
      },
      "[gather] index -5 is out of bounds for axis 0 with size 4");
  expect_error<std::out_of_range>(
      [&] {
        gather(a, array({3}), 1, {4, 3}).eval();
      },
      "[gather] index 3 is out of bounds for axis 1 with size 5 and a slice of 3");
  // The library stays usable after a kernel error.
  EXPECT_EQ(gather(a, array({3}), 1, {4, 2}).shape(), (Shape{1, 4, 2}));
  EXPECT_NO_THROW(gather(a, array({3}), 1, {4, 2}).eval());
}

// ---------------------------------------------------------------- scatter family

TEST(Index, ScatterMatchesLoop) {
  std::mt19937 rng(9);
  const std::vector<std::pair<ScatterReduce, const char*>> reductions = {{ScatterReduce::None, "scatter"},
                                                                         {ScatterReduce::Sum, "scatter_add"},
                                                                         {ScatterReduce::Prod, "scatter_prod"},
                                                                         {ScatterReduce::Max, "scatter_max"},
                                                                         {ScatterReduce::Min, "scatter_min"}};
  struct Case {
    Shape a;
    std::vector<int> axes;
    Shape slice;
    Shape ishape;
  };
  std::vector<Case> cases = {
      {{7}, {0}, {1}, {12}},                // many repeated indices
      {{5, 6}, {0}, {1, 6}, {3, 2}},        // whole rows
      {{5, 6, 4}, {0, 2}, {1, 2, 2}, {6}},  // 2-axis index, blocks
      {{5, 6, 4}, {1}, {2, 1, 4}, {}},      // one block, 0-d index
      {{4, 5}, {}, {2, 3}, {}},             // no index arrays
      {{4, 5}, {1}, {4, 1}, {0}},           // nothing to scatter
  };
  for (auto [red, name] : reductions) {
    for (Dtype dt : {float32, int32, float64, float16}) {
      for (size_t c = 0; c < cases.size(); ++c) {
        const Case& k = cases[c];
        bool prod = red == ScatterReduce::Prod;
        array a = transpose(random_array({k.a.rbegin(), k.a.rend()}, dt, rng, prod ? -3 : -40, prod ? 3 : 40));
        Shape ushape = k.ishape;
        ushape.insert(ushape.end(), k.slice.begin(), k.slice.end());
        array upd = random_array(ushape, dt, rng, prod ? -2 : -40, prod ? 2 : 40);
        std::vector<array> idx;
        std::vector<std::vector<int>> iv;
        for (size_t j = 0; j < k.axes.size(); ++j) {
          iv.push_back(random_starts(numel(k.ishape), k.a[k.axes[j]], k.slice[k.axes[j]], rng));
          idx.push_back(array(iv.back().data(), k.ishape, int32));
        }
        array got = red == ScatterReduce::None   ? scatter(a, idx, upd, k.axes)
                    : red == ScatterReduce::Sum  ? scatter_add(a, idx, upd, k.axes)
                    : red == ScatterReduce::Prod ? scatter_prod(a, idx, upd, k.axes)
                    : red == ScatterReduce::Max  ? scatter_max(a, idx, upd, k.axes)
                                                 : scatter_min(a, idx, upd, k.axes);
        ASSERT_EQ(got.shape(), a.shape());
        ASSERT_EQ(got.dtype(), dt);
        std::vector<double> want = vals(a), uv = vals(upd);
        int64_t per = numel(k.slice);
        for (int64_t i = 0; i < static_cast<int64_t>(uv.size()); ++i) {
          int64_t p = i / per;
          Shape pos = unravel(i % per, k.slice);
          for (size_t j = 0; j < k.axes.size(); ++j) {
            int v = iv[j][p];
            pos[k.axes[j]] += v < 0 ? v + k.a[k.axes[j]] : v;
          }
          double& w = want[ravel(pos, k.a)];
          double u = uv[i];
          w = red == ScatterReduce::None   ? u
              : red == ScatterReduce::Sum  ? w + u
              : red == ScatterReduce::Prod ? w * u
              : red == ScatterReduce::Max  ? std::max(w, u)
                                           : std::min(w, u);
        }
        if (dt == float16) {
          for (auto& w : want) w = static_cast<double>(static_cast<float>(float16_t(static_cast<float>(w))));
        }
        std::vector<double> g = vals(got);
        for (size_t i = 0; i < g.size(); ++i) {
          // float16 sums round at every step: allow a few ulps at these magnitudes.
          double tol = dt == float16 ? 0.5 : 0.0;
          ASSERT_NEAR(g[i], want[i], tol) << name << " " << dtype_name(dt) << " case " << c << " element " << i;
        }
      }
    }
  }
}

TEST(Index, ScatterNanAndBool) {
  // maximum/minimum semantics: nan propagates from either side.
  float nan = std::nanf("");
  array a = array({1.0f, nan, 3.0f});
  array got = scatter_max(a, array({0, 1, 2}), reshape(array({nan, 5.0f, 2.0f}), {3, 1}), 0);
  std::vector<double> g = vals(got);
  EXPECT_TRUE(std::isnan(g[0]));
  EXPECT_TRUE(std::isnan(g[1]));
  EXPECT_EQ(g[2], 3.0);
  // bool arrays: sum is "or", prod is "and".
  array b = array({true, false, true});
  EXPECT_EQ(vals(scatter_add(b, array({1}), reshape(array({true}), {1, 1}), 0)), (std::vector<double>{1, 1, 1}));
  EXPECT_EQ(vals(scatter_prod(b, array({0}), reshape(array({false}), {1, 1}), 0)), (std::vector<double>{0, 0, 1}));
}

TEST(Index, ScatterErrors) {
  array a = zeros({4, 5});
  array i = array({1, 2}, int32);
  expect_error<std::invalid_argument>(
      [&] {
        scatter(a, i, zeros({2, 5}), 0);
      },
      "[scatter] updates of shape (2, 5) need 3 dimensions: the index shape (2,)");
  expect_error<std::invalid_argument>(
      [&] {
        scatter_add(a, i, zeros({2, 1, 6}), 0);
      },
      "[scatter_add] update slice (1, 6) is larger than the array of shape (4, 5)");
  expect_error<std::invalid_argument>(
      [&] {
        scatter_max(a, i, zeros({3, 1, 5}), 0);
      },
      "[scatter_max] updates of shape (3, 1, 5) do not match the index shape (2,)");
  expect_error<std::invalid_argument>(
      [&] {
        scatter_min(astype(a, complex64), i, zeros({2, 1, 5}), 0);
      },
      "[scatter_min] not supported for complex64 arrays");
  expect_error<std::out_of_range>(
      [&] {
        scatter_prod(a, array({4}), ones({1, 1, 5}), 0).eval();
      },
      "[ScatterProd] index 4 is out of bounds for axis 0 with size 4");
  // Updates broadcast along the index dims and are cast to a's dtype.
  array r = scatter(zeros({3, 2}, int32), array({0, 2}), array({7.9f, 1.0f}, {1, 1, 2}), 0);
  EXPECT_EQ(r.dtype(), int32);
  EXPECT_EQ(vals(r), (std::vector<double>{7, 1, 0, 0, 7, 1}));
}

// ---------------------------------------------------------------- take, put_along_axis (vs NumPy)

TEST(Index, TakeAndPutAlongAxisMatchNumpy) {
  if (!numpy_ref::available()) GTEST_SKIP() << "python3 with numpy is not installed";
  std::mt19937 rng(3);
  array a = random_array({4, 5, 6}, float32, rng);
  array at = transpose(random_array({6, 5, 4}, int32, rng));  // strided
  std::vector<int> iv = {0, -1, 3, 2, 2, -4};
  array i23(iv.data(), {2, 3}, int32);
  std::vector<int64_t> lv = {5, 0, -6};
  array i3(lv.data(), {3}, int64);
  std::vector<int> pv = {0, 3, 1, 2, 1, 0, 3, 3, 2, 1};  // along axis 0 of (4, 5, 6): shape (2, 5, 1)
  array ip(pv.data(), {2, 5, 1}, int32);
  array pvals = random_array({2, 5, 6}, float32, rng);
  std::string setup = "a = " + numpy_ref::literal(a) + "\nat = " + numpy_ref::literal(at) +
                      "\ni23 = " + numpy_ref::literal(i23) + "\ni3 = " + numpy_ref::literal(i3) +
                      "\nip = " + numpy_ref::literal(ip) + "\npv = " + numpy_ref::literal(pvals) +
                      "\ndef put(x, i, v, axis):\n    y = x.copy(); np.put_along_axis(y, i, v, axis); return y\n";
  std::vector<std::pair<array, std::string>> cases = {
      {take(a, i23, 0), "np.take(a, i23, 0)"},
      {take(a, i23, 1), "np.take(a, i23, 1)"},
      {take(a, i3, 2), "np.take(a, i3, 2)"},
      {take(a, i3, -1), "np.take(a, i3, -1)"},
      {take(at, i23, 2), "np.take(at, i23, 2)"},
      {take(a, i23), "np.take(a, i23)"},
      {take(a, 2, 1), "np.take(a, 2, 1)"},
      {take(a, -7), "np.take(a, -7)"},
      {take(a, array(3, int32), 0), "np.take(a, np.int32(3), 0)"},
      {put_along_axis(a, ip, 7.5f, 0), "put(a, ip, 7.5, 0)"},
      {put_along_axis(a, ip, pvals, 0), "put(a, ip, pv, 0)"},
      {put_along_axis(at, argsort(at, 1), 0, 1), "put(at, np.argsort(at, 1, kind='stable'), 0, 1)"},
      {put_along_axis(a, reshape(array({5, 0}, int32), {1, 1, 2}), array(-1.0f), 2),
       "put(a, np.array([5,0]).reshape(1,1,2), -1.0, 2)"},
  };
  std::vector<std::string> exprs;
  for (auto& c : cases) exprs.push_back(c.second);
  auto want = numpy_ref::eval(setup, exprs);
  ASSERT_EQ(want.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) expect_same(cases[i].first, want[i], cases[i].second);
  EXPECT_EQ(take(a, i23, 1).dtype(), float32);
  expect_error<std::out_of_range>([&] { take(a, 4, 0); }, "[take] index 4 is out of bounds for axis 0 with size 4");
  expect_error<std::out_of_range>([&] { take(a, array({9}), 0).eval(); },
                                  "index 9 is out of bounds for axis 0 with size 4");
  expect_error<std::invalid_argument>([&] { take(a, array({true}), 0); }, "[take] boolean index arrays");
  expect_error<std::invalid_argument>([&] { put_along_axis(a, i3, 1.0f, 0); },
                                      "[put_along_axis] indices of shape (3,) must have as many dimensions");
  expect_error<std::invalid_argument>(
      [&] {
        put_along_axis(a, zeros({1, 3, 6}, int32), 1.0f, 0);
      },
      "do not broadcast to the array of shape (4, 5, 6) outside axis 0");
}

// ---------------------------------------------------------------- slices at array starts

TEST(Index, DynamicSliceMatchesStaticSlice) {
  std::mt19937 rng(4);
  array a = transpose(random_array({7, 6, 5}, float32, rng));  // (5, 6, 7), strided
  for (int trial = 0; trial < 20; ++trial) {
    int s0 = static_cast<int>(rng() % 12) - 3, s2 = static_cast<int>(rng() % 12) - 3;
    int n0 = 1 + static_cast<int>(rng() % 5), n2 = static_cast<int>(rng() % 8);
    array start = array({s0, s2}, int32);
    // Starts clamp so the slice fits, as JAX's dynamic_slice does.
    int c0 = std::clamp(s0, 0, 5 - n0), c2 = std::clamp(s2, 0, 7 - n2);
    array got = slice(a, start, {0, -1}, {n0, n2});
    array want = slice(a, {c0, 0, c2}, {c0 + n0, 6, c2 + n2});
    ASSERT_EQ(got.shape(), want.shape());
    ASSERT_EQ(vals(got), vals(want)) << "start " << s0 << "," << s2;
    array upd = random_array({n0, 6, n2}, float32, rng);
    array u = slice_update(a, upd, start, {0, 2});
    array uw = slice_update(a, upd, {c0, 0, c2}, {c0 + n0, 6, c2 + n2});
    ASSERT_EQ(vals(u), vals(uw)) << "start " << s0 << "," << s2;
  }
  // The start is data: the same graph gives different slices for different starts.
  array x = arange(10);
  EXPECT_EQ(vals(slice(x, array({3}), {0}, {2})), (std::vector<double>{3, 4}));
  EXPECT_EQ(vals(slice(x, add(array({3}), array({4})), {0}, {2})), (std::vector<double>{7, 8}));
  EXPECT_EQ(vals(slice_update(x, array({-1, -2}), array({uint32_t{9}}), {0})),
            (std::vector<double>{0, 1, 2, 3, 4, 5, 6, 7, -1, -2}));
  expect_error<std::invalid_argument>(
      [&] {
        slice(x, array({1, 2}), {0}, {2});
      },
      "[slice] start must be a 1-d array with one entry per axis (1), got shape (2,)");
  expect_error<std::invalid_argument>([&] { slice(x, array({1}), {0}, {11}); },
                                      "[slice] slice size 11 on axis 0 must lie in [0, 10]");
  expect_error<std::invalid_argument>([&] { slice(x, array({1.0f}), {0}, {1}); },
                                      "[slice] indices must be integers, got float32");
  expect_error<std::invalid_argument>(
      [&] {
        slice_update(x, zeros({2, 1}), array({0}), {0});
      },
      "[slice_update] update of shape (2, 1) must have as many dimensions as src");
  expect_error<std::invalid_argument>(
      [&] {
        slice_update(zeros({3, 4}), zeros({2, 3}), array({0}), {0});
      },
      "does not match src of shape (3, 4) outside the updated axes");
}

// ---------------------------------------------------------------- NumPy-style indexing

namespace {

using idx::newaxis;
using S = idx::Slice;
const idx::Ellipsis ellipsis{};
const S whole{};

struct IndexCase {
  std::vector<Index> index;
  std::string py;  // the same index in Python syntax
};

}  // namespace

TEST(Index, IndexMatchesNumpy) {
  if (!numpy_ref::available()) GTEST_SKIP() << "python3 with numpy is not installed";
  std::mt19937 rng(8);
  array a = random_array({4, 5, 6, 3}, float32, rng);
  array b = slice(transpose(random_array({3, 6, 5, 8}, int32, rng)), {0, 0, 0, 0}, {8, 5, 6, 3}, {2, 1, 1, 1});
  std::vector<int> v1 = {0, 3, -1, 2, 1, 1};
  array i1(v1.data(), {2, 3}, int32);
  std::vector<int64_t> v2 = {4, 0, -5};
  array i2(v2.data(), {3}, int64);
  std::vector<uint8_t> v3 = {2, 0};
  array i3(v3.data(), {2, 1}, uint8);
  std::string setup = "a = " + numpy_ref::literal(a) + "\nb = " + numpy_ref::literal(b) +
                      "\ni1 = " + numpy_ref::literal(i1) + "\ni2 = " + numpy_ref::literal(i2) +
                      "\ni3 = " + numpy_ref::literal(i3);
  std::vector<IndexCase> cases = {
      {{1}, "1"},
      {{-1, 2}, "-1, 2"},
      {{S{1, 3}}, "1:3"},
      {{S{std::nullopt, std::nullopt, -1}}, "::-1"},
      {{whole, S{std::nullopt, std::nullopt, 2}, S{1, -1, 2}}, ":, ::2, 1:-1:2"},
      {{S{5, 1, -2}}, "5:1:-2"},
      {{S{10, std::nullopt}}, "10:"},
      {{S{-100, 100, 3}, S{3, 3}}, "-100:100:3, 3:3"},
      {{ellipsis, 0}, "..., 0"},
      {{newaxis, 1, ellipsis, newaxis}, "None, 1, ..., None"},
      {{ellipsis}, "..."},
      {{i1}, "i1"},
      {{whole, i1}, ":, i1"},
      {{i1, whole, i2}, "i1, :, i2"},
      {{whole, i1, i2}, ":, i1, i2"},
      {{1, whole, i2}, "1, :, i2"},
      {{whole, 1, i2}, ":, 1, i2"},
      {{ellipsis, i3}, "..., i3"},
      {{newaxis, whole, i2, newaxis}, "None, :, i2, None"},
      {{whole, S{std::nullopt, std::nullopt, -1}, i1, i3}, ":, ::-1, i1, i3"},
      {{i1, newaxis, i3}, "i1, None, i3"},
      {{i1, i1, i1, 1}, "i1, i1, i1, 1"},
      {{S{1, 4}, i1, ellipsis, 2}, "1:4, i1, ..., 2"},
      {{S{std::nullopt, 2}, i1, ellipsis, i2, 1}, ":2, i1, ..., i2, 1"},  // an empty ellipsis still separates
      {{0, 0, 0, 0}, "0, 0, 0, 0"},
  };
  std::vector<std::string> exprs;
  for (auto& c : cases) exprs.push_back("a[" + c.py + "]");
  for (auto& c : cases) exprs.push_back("b[" + c.py + "]");
  auto want = numpy_ref::eval(setup, exprs);
  ASSERT_EQ(want.size(), 2 * cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    expect_same(index(a, cases[i].index), want[i], "a[" + cases[i].py + "]");
    expect_same(index(b, cases[i].index), want[cases.size() + i], "b[" + cases[i].py + "]");
  }
  // Basic indexing gives views of the same buffer.
  a.eval();
  array v = index(a, {1, S{std::nullopt, std::nullopt, 2}});
  v.eval();
  EXPECT_EQ(v.data_shared_ptr(), a.data_shared_ptr());
  // A 0-d array: () and None.
  array z = array(3.5f);
  EXPECT_EQ(vals(index(z, {})), (std::vector<double>{3.5}));
  EXPECT_EQ(index(z, {newaxis}).shape(), Shape{1});
}

TEST(Index, IndexErrors) {
  array a = zeros({4, 5});
  expect_error<std::out_of_range>([&] { index(a, {4}); }, "[index] index 4 is out of bounds for axis 0 with size 4");
  expect_error<std::out_of_range>(
      [&] {
        index(a, {0, -6});
      },
      "[index] index -6 is out of bounds for axis 1 with size 5");
  expect_error<std::out_of_range>(
      [&] {
        index(a, {0, 0, 0});
      },
      "[index] too many indices for an array with 2 dimensions: 3 were given");
  expect_error<std::invalid_argument>(
      [&] {
        index(a, {ellipsis, 0, ellipsis});
      },
      "[index] an index can only have a single ellipsis");
  expect_error<std::invalid_argument>([&] { index(a, {S{0, 2, 0}}); }, "[index] slice step cannot be 0 (axis 0)");
  expect_error<std::invalid_argument>(
      [&] {
        index(a, {array({true, false, true, true})});
      },
      "[index] boolean index arrays would give a data-dependent shape");
  expect_error<std::invalid_argument>([&] { index(a, {array({1.0f})}); },
                                      "[index] indices must be integers, got float32");
  expect_error<std::invalid_argument>(
      [&] {
        index(a, {array({1, 2}), array({1, 2, 3})});
      },
      "[index] index arrays of shapes (2,), (3,) cannot be broadcast together");
  expect_error<std::out_of_range>(
      [&] {
        index(a, {array({1, 7})}).eval();
      },
      "[gather] index 7 is out of bounds for axis 0 with size 4");
}

TEST(Index, IndexUpdateMatchesNumpy) {
  if (!numpy_ref::available()) GTEST_SKIP() << "python3 with numpy is not installed";
  std::mt19937 rng(12);
  array a = random_array({4, 5, 3}, float32, rng, 1, 9);
  std::vector<int> dup = {1, 3, 1, 0, 3, 3};  // repeated positions accumulate
  array id(dup.data(), {2, 3}, int32);
  std::vector<int> uniq = {2, 0, 3};
  array iu(uniq.data(), {3}, int32);
  std::string setup = "a = " + numpy_ref::literal(a) + "\nid = " + numpy_ref::literal(id) +
                      "\niu = " + numpy_ref::literal(iu) +
                      "\ndef setitem(x, i, v):\n    y = x.copy(); y[i] = v; return y\n"
                      "def at(x, f, i, v):\n    y = x.copy(); f.at(y, i, v); return y\n";
  struct UpdCase {
    std::vector<Index> index;
    std::string py;
    IndexUpdate op;
    array values;
  };
  array v_row = random_array({3}, float32, rng, 1, 9);
  array v_23 = random_array({2, 3, 1, 3}, float32, rng, 1, 9);
  array v_5 = random_array({5}, float32, rng, 1, 9);
  setup += "\nv_row = " + numpy_ref::literal(v_row) + "\nv_23 = " + numpy_ref::literal(v_23) +
           "\nv_5 = " + numpy_ref::literal(v_5);
  std::vector<std::pair<UpdCase, std::string>> cases = {
      {{{1}, "1", IndexUpdate::Set, v_row}, "setitem(a, (1,), v_row)"},
      {{{S{1, 3}, S{std::nullopt, std::nullopt, 2}}, "", IndexUpdate::Set, array(7.0f)},
       "setitem(a, (slice(1,3), slice(None,None,2)), 7.0)"},
      {{{S{std::nullopt, std::nullopt, -1}, 2}, "", IndexUpdate::Add, v_row},
       "at(a, np.add, (slice(None,None,-1), 2), v_row)"},
      {{{ellipsis, 1}, "", IndexUpdate::Multiply, v_5}, "at(a, np.multiply, (Ellipsis, 1), v_5)"},
      {{{2, S{1, 4}, 0}, "", IndexUpdate::Subtract, array(2.0f)}, "at(a, np.subtract, (2, slice(1,4), 0), 2.0)"},
      {{{whole, iu}, "", IndexUpdate::Set, array(-1.0f)}, "setitem(a, (slice(None), iu), -1.0)"},
      {{{id}, "", IndexUpdate::Add, v_23}, "at(a, np.add, (id,), v_23)"},
      {{{id, 2}, "", IndexUpdate::Add, array(1.0f)}, "at(a, np.add, (id, 2), 1.0)"},
      {{{id, whole, 0}, "", IndexUpdate::Maximum, array(5.0f)}, "at(a, np.maximum, (id, slice(None), 0), 5.0)"},
      {{{iu, S{1, 3}}, "", IndexUpdate::Minimum, array(3.0f)}, "at(a, np.minimum, (iu, slice(1,3)), 3.0)"},
      {{{whole, id, newaxis}, "", IndexUpdate::Multiply, array(2.0f)},
       "at(a, np.multiply, (slice(None), id, None), 2.0)"},
      {{{S{3, 0, -1}, iu}, "", IndexUpdate::Divide, array(4.0f)}, "at(a, np.divide, (slice(3,0,-1), iu), 4.0)"},
      {{{id, newaxis, S{std::nullopt, std::nullopt, 2}, take(iu, 0)}, "", IndexUpdate::Subtract, array(1.5f)},
       "at(a, np.subtract, (id, None, slice(None,None,2), iu[0]), 1.5)"},
  };
  std::vector<std::string> exprs;
  for (auto& c : cases) exprs.push_back(c.second);
  auto want = numpy_ref::eval(setup, exprs);
  ASSERT_EQ(want.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    auto& c = cases[i].first;
    array got = index_update(a, c.index, c.values, c.op);
    EXPECT_EQ(got.dtype(), float32);
    expect_same(got, want[i], cases[i].second);
  }
  expect_error<std::invalid_argument>(
      [&] { index_update(a, {1}, zeros({4})); },
      "[index_update] values of shape (4,) cannot be broadcast to the indexed shape (5, 3)");
  expect_error<std::invalid_argument>([&] { index_update(zeros({3}, int32), {0}, array(1), IndexUpdate::Divide); },
                                      "[index_update] divide needs a floating-point array, got int32");
  expect_error<std::invalid_argument>([&] { index_update(zeros({3}, complex64), {0}, array(1), IndexUpdate::Maximum); },
                                      "[index_update] maximum and minimum are not supported for complex64");
}

TEST(Index, AsStridedMatchesLoop) {
  std::mt19937 rng(21);
  // A transposed input: as_strided addresses its row-major order, not its memory.
  array a = transpose(random_array({5, 4}, float32, rng));
  std::vector<double> av = vals(a);
  struct Case {
    Shape shape;
    Strides strides;
    size_t offset;
  };
  for (const Case& c : std::vector<Case>{{{3, 4}, {2, 1}, 1},        // overlapping windows
                                         {{4}, {6}, 0},              // diagonal-like
                                         {{2, 3, 2}, {0, 3, 2}, 0},  // broadcast axis
                                         {{5},
                                          {
                                              -2,
                                          },
                                          19},                      // backwards
                                         {{0, 7}, {1, 100}, 3}}) {  // empty
    array got = as_strided(a, c.shape, c.strides, c.offset);
    ASSERT_EQ(got.shape(), c.shape);
    std::vector<double> g = vals(got);
    for (int64_t i = 0; i < numel(c.shape); ++i) {
      Shape p = unravel(i, c.shape);
      int64_t pos = static_cast<int64_t>(c.offset);
      for (size_t k = 0; k < p.size(); ++k) pos += p[k] * c.strides[k];
      ASSERT_EQ(g[i], av[pos]) << "element " << i;
    }
  }
  expect_error<std::invalid_argument>(
      [&] {
        as_strided(a, {3, 4}, {9, 1}, 0);
      },
      "[as_strided] the view reads positions 0 to 21, outside the 20 elements");
  expect_error<std::invalid_argument>([&] { as_strided(a, {2}, {-1}, 0); }, "reads positions -1 to 0");
  expect_error<std::invalid_argument>(
      [&] {
        as_strided(a, {2, 2}, {1}, 0);
      },
      "[as_strided] shape (2, 2) and 1 strides differ in length");
}

// ---------------------------------------------------------------- gradients

namespace {
using Args = std::vector<array>;
using grad_check::check;
using grad_check::check_transforms;
}  // namespace

// The harness draws vmapped indices in [0, 6] (uint32) or [-3, 3] (int32); indexed axes
// are long enough to hold them with the slice.
TEST(GradIndex, Gather) {
  std::vector<int> iv = {7, 0, -3, 3, 1, 5};
  array i23(iv.data(), {2, 3}, int32);
  std::vector<uint32_t> uv = {1, 4, 0};
  array i3(uv.data(), {3}, uint32);
  check([i23](const Args& x) { return gather(x[0], i23, 0, {1, 4}); }, {{9, 4}});
  check([i23, i3](const Args& x) { return gather(x[0], {i3, i23}, {2, 0}, {1, 2, 2}); }, {{9, 3, 8}});
  check([i3](const Args& x) { return take(x[0], i3, 1); }, {{3, 8}});
  check([](const Args& x) { return gather(x[0], {}, {}, {2, 1}); }, {{3, 2}});
}

TEST(GradIndex, Scatter) {
  std::vector<int> iv = {7, 0, -3, 3, 7, 5};  // 7 repeats: updates there combine (or the last wins)
  array i23(iv.data(), {2, 3}, int32);
  std::vector<uint32_t> uv = {1, 4, 0};
  array i3(uv.data(), {3}, uint32);
  using Fn = array (*)(const array&, const std::vector<array>&, const array&, const std::vector<int>&, StreamOrDevice);
  for (Fn f : {static_cast<Fn>(scatter), static_cast<Fn>(scatter_add), static_cast<Fn>(scatter_prod),
               static_cast<Fn>(scatter_max), static_cast<Fn>(scatter_min)}) {
    check([f, i23](const Args& x) { return f(x[0], {i23}, x[1], {0}, {}); }, {{9, 4}, {2, 3, 1, 4}});
    check([f, i23, i3](const Args& x) { return f(x[0], {i3, i23}, x[1], {2, 0}, {}); }, {{9, 3, 8}, {2, 3, 1, 2, 2}});
    check([f](const Args& x) { return f(x[0], {}, x[1], {}, {}); }, {{3, 2}, {2, 1}});
  }
}

TEST(GradIndex, Compositions) {
  std::vector<int> iv = {2, 0, -1};
  array i3(iv.data(), {3}, int32);
  check_transforms([i3](const Args& x) { return index(x[0], {idx::Slice{}, i3, 1}); }, {{2, 4, 3}});
  check_transforms([i3](const Args& x) { return index_update(x[0], {i3}, x[1], IndexUpdate::Add); }, {{4, 3}, {3, 3}});
  check_transforms([i3](const Args& x) { return index_update(x[0], {1, idx::Slice{0, 2}}, x[1]); }, {{4, 3}, {2}});
  check_transforms([](const Args& x) { return slice(x[0], array({1, 5}), {0, 1}, {2, 2}); }, {{4, 3}});
  check_transforms([](const Args& x) { return slice_update(x[0], x[1], array({1}), {1}); }, {{4, 3}, {4, 2}});
  check_transforms(
      [](const Args& x) {
        return put_along_axis(x[0], array({2, 0}, {1, 2}), x[1], 1);
      },
      {{3, 4}, {3, 2}});
}
