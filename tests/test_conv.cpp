// conv1d/2d/3d, conv_general and conv_transpose1d/2d/3d against direct loops in
// double written from MLX's definitions, on random inputs: 1-3 spatial axes,
// strides, symmetric and asymmetric (also negative) padding, kernel and input
// dilation, groups (depthwise too), flip, output_padding; float32/float64/
// float16/bfloat16; transposed and sliced (non-contiguous) inputs; batch 1 and
// more; sizes that span several kernel tiles; the error messages. Then the
// GradConv suite: vjp/jvp/vmap of Convolution for every option through the
// grad_check harness, and derivatives of derivatives through the public transforms.
#include <gtest/gtest.h>

#include <ember/ember.h>
#include <ember/primitives_conv.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "grad_check.h"
#include "test_utils.h"

using namespace ember;
using test_utils::expect_error;
using test_utils::numel;

namespace {

// A convolution's arguments, one value per spatial axis.
struct ConvArgs {
  std::vector<int> stride, lo, hi, kdil, idil;
  int groups = 1;
  bool flip = false;
};

std::vector<double> random_values(int64_t n, std::mt19937& rng) {
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<double> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

array make(const std::vector<double>& v, const Shape& shape, Dtype t) {
  array a = astype(array(v.data(), shape, float64), t);
  a.eval();
  return a;
}

// Row-major flat index of a multi-index.
int64_t flat(const std::vector<int64_t>& idx, const Shape& shape) {
  int64_t i = 0;
  for (size_t k = 0; k < shape.size(); ++k) i = i * shape[k] + idx[k];
  return i;
}

// Visits every multi-index of `shape`.
template <class F>
void for_each_index(const Shape& shape, F f) {
  int64_t n = numel(shape);
  std::vector<int64_t> idx(shape.size(), 0);
  for (int64_t i = 0; i < n; ++i) {
    f(idx);
    for (int k = static_cast<int>(shape.size()) - 1; k >= 0; --k) {
      if (++idx[k] < shape[k]) break;
      idx[k] = 0;
    }
  }
}

// MLX's conv_general, straight from its definition: the input dilated (zeros between
// elements), padded (negative: cropped), then cross-correlated (flip: the kernel reversed).
std::vector<double> ref_conv(const std::vector<double>& x, const Shape& xs, const std::vector<double>& w,
                             const Shape& ws, const ConvArgs& a, Shape& out_shape) {
  int nsp = static_cast<int>(xs.size()) - 2;
  int c_in = xs.back(), c_out = ws[0], cg = c_in / a.groups, cog = c_out / a.groups;
  out_shape = {xs[0]};
  std::vector<int64_t> ld(nsp);
  for (int d = 0; d < nsp; ++d) {
    ld[d] = (xs[1 + d] - 1) * int64_t(a.idil[d]) + 1;
    int64_t kd = (ws[1 + d] - 1) * int64_t(a.kdil[d]) + 1;
    out_shape.push_back(static_cast<int>((ld[d] + a.lo[d] + a.hi[d] - kd) / a.stride[d] + 1));
  }
  out_shape.push_back(c_out);
  std::vector<double> out(numel(out_shape), 0.0);
  Shape kshape(ws.begin() + 1, ws.end() - 1);
  for_each_index(out_shape, [&](const std::vector<int64_t>& o) {
    int64_t co = o.back(), g = co / cog;
    double acc = 0;
    for_each_index(kshape, [&](const std::vector<int64_t>& k) {
      std::vector<int64_t> xi = {o[0]};
      for (int d = 0; d < nsp; ++d) {
        int64_t tap = a.flip ? kshape[d] - 1 - k[d] : k[d];
        int64_t pos = o[1 + d] * a.stride[d] + tap * a.kdil[d] - a.lo[d];
        if (pos < 0 || pos >= ld[d] || pos % a.idil[d] != 0) return;
        xi.push_back(pos / a.idil[d]);
      }
      xi.push_back(0);
      std::vector<int64_t> wi = {co};
      wi.insert(wi.end(), k.begin(), k.end());
      wi.push_back(0);
      for (int c = 0; c < cg; ++c) {
        xi.back() = g * cg + c;
        wi.back() = c;
        acc += x[flat(xi, xs)] * w[flat(wi, ws)];
      }
    });
    out[flat(o, out_shape)] = acc;
  });
  return out;
}

// Transposed convolution as the scatter that defines it (independent of ref_conv):
// y[n, i * s + k * d - p, co] += x[n, i, g * Cg + c] * w[co, k, c], output length
// (L - 1) * s - 2p + d (K - 1) + output_padding + 1.
std::vector<double> ref_conv_transpose(const std::vector<double>& x, const Shape& xs, const std::vector<double>& w,
                                       const Shape& ws, const std::vector<int>& s, const std::vector<int>& p,
                                       const std::vector<int>& d, const std::vector<int>& op, int groups,
                                       Shape& out_shape) {
  int nsp = static_cast<int>(xs.size()) - 2;
  int c_in = xs.back(), c_out = ws[0], cg = c_in / groups, cog = c_out / groups;
  out_shape = {xs[0]};
  for (int i = 0; i < nsp; ++i)
    out_shape.push_back((xs[1 + i] - 1) * s[i] - 2 * p[i] + d[i] * (ws[1 + i] - 1) + op[i] + 1);
  out_shape.push_back(c_out);
  std::vector<double> y(numel(out_shape), 0.0);
  Shape kshape(ws.begin() + 1, ws.end() - 1);
  for_each_index(xs, [&](const std::vector<int64_t>& xi) {
    int64_t ci = xi.back(), g = ci / cg, c = ci % cg;
    double xv = x[flat(xi, xs)];
    for_each_index(kshape, [&](const std::vector<int64_t>& k) {
      std::vector<int64_t> yi = {xi[0]};
      for (int i = 0; i < nsp; ++i) {
        int64_t o = xi[1 + i] * s[i] + k[i] * d[i] - p[i];
        if (o < 0 || o >= out_shape[1 + i]) return;
        yi.push_back(o);
      }
      yi.push_back(0);
      std::vector<int64_t> wi = {0};
      wi.insert(wi.end(), k.begin(), k.end());
      wi.push_back(c);
      for (int co = g * cog; co < (g + 1) * cog; ++co) {
        yi.back() = co;
        wi[0] = co;
        y[flat(yi, out_shape)] += xv * w[flat(wi, ws)];
      }
    });
  });
  return y;
}

double tolerance(Dtype t) { return t == float64 ? 1e-11 : t == float32 ? 2e-5 : t == float16 ? 4e-3 : 3e-2; }

void expect_near_values(const array& got, const std::vector<double>& want, const Shape& want_shape, Dtype t,
                        double scale, const std::string& what) {
  ASSERT_EQ(got.shape(), want_shape) << what;
  EXPECT_EQ(got.dtype(), t) << what;
  std::vector<double> g = test_utils::values(got);
  double tol = tolerance(t) * scale;
  for (size_t i = 0; i < g.size(); ++i) {
    ASSERT_NEAR(g[i], want[i], tol * (1 + std::abs(want[i]))) << what << ": element " << i;
  }
}

// Runs conv_general on random inputs of the given shapes and compares with ref_conv.
// The reference reads the values the op sees (rounded to `t`).
void check_general(const Shape& xs, const Shape& ws, const ConvArgs& a, Dtype t, unsigned seed,
                   const std::string& what) {
  SCOPED_TRACE(what);
  std::mt19937 rng(seed);
  array x = make(random_values(numel(xs), rng), xs, t);
  array w = make(random_values(numel(ws), rng), ws, t);
  Shape ref_shape;
  std::vector<double> ref = ref_conv(test_utils::values(x), xs, test_utils::values(w), ws, a, ref_shape);
  array y = conv_general(x, w, a.stride, a.lo, a.hi, a.kdil, a.idil, a.groups, a.flip);
  double depth = static_cast<double>(numel(ws)) / ws[0];
  expect_near_values(y, ref, ref_shape, t, std::sqrt(depth), what);
}

ConvArgs args(int nsp, int stride = 1, int pad = 0, int kdil = 1, int idil = 1, int groups = 1, bool flip = false) {
  ConvArgs a;
  a.stride.assign(nsp, stride);
  a.lo.assign(nsp, pad);
  a.hi.assign(nsp, pad);
  a.kdil.assign(nsp, kdil);
  a.idil.assign(nsp, idil);
  a.groups = groups;
  a.flip = flip;
  return a;
}

}  // namespace

// ---------------------------------------------------------------- forward

TEST(Conv, Conv1dMatchesReference) {
  std::mt19937 rng(1);
  struct Case {
    Shape x, w;
    int stride, pad, dil, groups;
  };
  for (const Case& c : std::vector<Case>{{{1, 9, 3}, {4, 3, 3}, 1, 0, 1, 1},
                                         {{3, 11, 4}, {5, 3, 4}, 2, 1, 1, 1},
                                         {{2, 12, 6}, {4, 2, 3}, 3, 2, 2, 2},
                                         {{2, 10, 4}, {8, 3, 1}, 1, 1, 1, 4},    // depthwise, multiplier 2
                                         {{2, 7, 5}, {2, 7, 5}, 1, 0, 1, 1}}) {  // kernel = input
    for (Dtype t : {float32, float64}) {
      SCOPED_TRACE(dtype_name(t) + " x " + shape_to_string(c.x) + " w " + shape_to_string(c.w));
      array x = make(random_values(numel(c.x), rng), c.x, t);
      array w = make(random_values(numel(c.w), rng), c.w, t);
      Shape rs;
      auto ref = ref_conv(test_utils::values(x), c.x, test_utils::values(w), c.w,
                          args(1, c.stride, c.pad, c.dil, 1, c.groups), rs);
      expect_near_values(conv1d(x, w, c.stride, c.pad, c.dil, c.groups), ref, rs, t, 3, "conv1d");
    }
  }
}

TEST(Conv, Conv2dMatchesReference) {
  std::mt19937 rng(2);
  struct Case {
    Shape x, w;
    std::pair<int, int> stride, pad, dil;
    int groups;
  };
  for (const Case& c : std::vector<Case>{{{1, 6, 7, 3}, {4, 3, 3, 3}, {1, 1}, {0, 0}, {1, 1}, 1},
                                         {{2, 8, 9, 4}, {6, 3, 2, 4}, {2, 1}, {1, 2}, {1, 2}, 1},
                                         {{3, 9, 8, 6}, {6, 3, 3, 2}, {2, 3}, {1, 1}, {2, 1}, 3},
                                         {{2, 7, 7, 5}, {5, 3, 3, 1}, {1, 1}, {1, 1}, {1, 1}, 5},   // depthwise
                                         {{2, 5, 6, 8}, {12, 1, 1, 8}, {1, 1}, {0, 0}, {1, 1}, 1},  // 1x1
                                         {{2, 5, 6, 8}, {12, 1, 1, 4}, {1, 1}, {0, 0}, {1, 1}, 2},  // 1x1 grouped
                                         {{1, 6, 6, 4}, {4, 1, 1, 4}, {2, 2}, {0, 0}, {1, 1}, 1}}) {
    for (Dtype t : {float32, float64}) {
      SCOPED_TRACE(dtype_name(t) + " x " + shape_to_string(c.x) + " w " + shape_to_string(c.w));
      array x = make(random_values(numel(c.x), rng), c.x, t);
      array w = make(random_values(numel(c.w), rng), c.w, t);
      ConvArgs a = args(2, 1, 0, 1, 1, c.groups);
      a.stride = {c.stride.first, c.stride.second};
      a.lo = a.hi = {c.pad.first, c.pad.second};
      a.kdil = {c.dil.first, c.dil.second};
      Shape rs;
      auto ref = ref_conv(test_utils::values(x), c.x, test_utils::values(w), c.w, a, rs);
      expect_near_values(conv2d(x, w, c.stride, c.pad, c.dil, c.groups), ref, rs, t, 4, "conv2d");
    }
  }
}

TEST(Conv, Conv3dMatchesReference) {
  std::mt19937 rng(3);
  for (Dtype t : {float32, float64}) {
    Shape xs = {2, 5, 6, 4, 3}, ws = {4, 2, 3, 2, 3};
    array x = make(random_values(numel(xs), rng), xs, t);
    array w = make(random_values(numel(ws), rng), ws, t);
    ConvArgs a = args(3);
    a.stride = {1, 2, 1};
    a.lo = a.hi = {1, 0, 1};
    a.kdil = {2, 1, 1};
    Shape rs;
    auto ref = ref_conv(test_utils::values(x), xs, test_utils::values(w), ws, a, rs);
    expect_near_values(conv3d(x, w, {1, 2, 1}, {1, 0, 1}, {2, 1, 1}), ref, rs, t, 4, "conv3d");
    // Grouped 3-d.
    Shape ws2 = {4, 2, 2, 2, 1};
    Shape xs2 = {1, 4, 4, 4, 2};
    array x2 = make(random_values(numel(xs2), rng), xs2, t);
    array w2 = make(random_values(numel(ws2), rng), ws2, t);
    ref = ref_conv(test_utils::values(x2), xs2, test_utils::values(w2), ws2, args(3, 2, 1, 1, 1, 2), rs);
    expect_near_values(conv3d(x2, w2, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}, 2), ref, rs, t, 4, "conv3d grouped");
  }
}

TEST(Conv, ConvGeneralOptions) {
  // Asymmetric padding, input dilation, flip, per-axis values, negative padding (a crop).
  unsigned seed = 10;
  for (bool flip : {false, true}) {
    ConvArgs a = args(1, 2, 0, 2, 3, 1, flip);
    a.lo = {3};
    a.hi = {1};
    check_general({2, 7, 3}, {2, 3, 3}, a, float64, ++seed, "1-d asymmetric, input dilation");
    a = args(2, 1, 0, 1, 2, 2, flip);
    a.stride = {2, 1};
    a.lo = {0, 2};
    a.hi = {3, 1};
    a.kdil = {1, 2};
    check_general({2, 5, 4, 4}, {4, 3, 2, 2}, a, float64, ++seed, "2-d mixed, groups 2");
    a = args(3, 1, 1, 1, 1, 1, flip);
    a.idil = {1, 2, 1};
    a.hi = {0, 2, 1};
    check_general({1, 3, 4, 3, 2}, {3, 2, 2, 3, 2}, a, float32, ++seed, "3-d input dilation");
    a = args(2, 1, 0, 1, 1, 1, flip);
    a.lo = {-1, 2};
    a.hi = {1, -2};
    check_general({2, 6, 7, 3}, {2, 3, 3, 3}, a, float64, ++seed, "negative padding");
    a = args(1, 1, 0, 1, 2, 1, flip);
    a.lo = {-2};
    a.hi = {-1};
    check_general({1, 6, 2}, {2, 2, 2}, a, float64, ++seed, "negative padding with input dilation");
  }
  // One value for all axes and the defaults.
  std::mt19937 rng(5);
  array x = make(random_values(2 * 6 * 5 * 4, rng), {2, 6, 5, 4}, float64);
  array w = make(random_values(3 * 3 * 2 * 4, rng), {3, 3, 2, 4}, float64);
  Shape rs;
  auto ref = ref_conv(test_utils::values(x), x.shape(), test_utils::values(w), w.shape(), args(2, 2, 1, 1, 1), rs);
  expect_near_values(conv_general(x, w, {2}, {1}, {1}), ref, rs, float64, 1, "scalar per-axis args");
  expect_near_values(conv_general(x, w, {2}, {1}, {1}, {1}, 1, false), ref, rs, float64, 1, "symmetric overload");
  ref = ref_conv(test_utils::values(x), x.shape(), test_utils::values(w), w.shape(), args(2), rs);
  expect_near_values(conv_general(x, w), ref, rs, float64, 1, "defaults");
  // conv2d is conv_general without input dilation or flip.
  EXPECT_TRUE(array_equal(conv2d(x, w, {2, 1}, {1, 0}), conv_general(x, w, {2, 1}, {1, 0}, {1, 0})).item<bool>());
}

TEST(Conv, DtypesAndPromotion) {
  std::mt19937 rng(6);
  Shape xs = {2, 7, 6, 4}, ws = {5, 3, 3, 4};
  std::vector<double> xv = random_values(numel(xs), rng), wv = random_values(numel(ws), rng);
  for (Dtype t : {float16, bfloat16, float32, float64}) {
    SCOPED_TRACE(dtype_name(t));
    array x = make(xv, xs, t), w = make(wv, ws, t);
    Shape rs;
    auto ref = ref_conv(test_utils::values(x), xs, test_utils::values(w), ws, args(2, 1, 1), rs);
    expect_near_values(conv2d(x, w, {1, 1}, {1, 1}), ref, rs, t, 6, "dtype");
  }
  // Mixed dtypes promote; an integer weight joins a floating input.
  array x16 = make(xv, xs, float16), w32 = make(wv, ws, float32);
  EXPECT_EQ(conv2d(x16, w32).dtype(), float32);
  array wi = astype(make(wv, ws, float32) * 4.0f, int32);
  array y = conv2d(make(xv, xs, float32), wi);
  EXPECT_EQ(y.dtype(), float32);
  Shape rs;
  auto ref = ref_conv(xv, xs, test_utils::values(wi), ws, args(2), rs);
  expect_near_values(y, ref, rs, float32, 20, "integer weight");
}

TEST(Conv, NonContiguousInputs) {
  std::mt19937 rng(7);
  // Input built as (N, C, H, W) and viewed channels-last; weight as (C_in, KH, KW, C_out) transposed.
  array xn = make(random_values(2 * 4 * 6 * 7, rng), {2, 4, 6, 7}, float32);
  array x = transpose(xn, {0, 2, 3, 1});
  x.eval();
  array wn = make(random_values(4 * 3 * 3 * 5, rng), {4, 3, 3, 5}, float32);
  array w = transpose(wn, {3, 1, 2, 0});
  ASSERT_FALSE(x.flags().row_contiguous);
  Shape rs;
  auto ref = ref_conv(test_utils::values(x), x.shape(), test_utils::values(w), w.shape(), args(2, 2, 1), rs);
  expect_near_values(conv2d(x, w, {2, 2}, {1, 1}), ref, rs, float32, 4, "transposed views");
  // A strided slice of a bigger input.
  array big = make(random_values(3 * 12 * 5, rng), {3, 12, 5}, float64);
  array xs = slice(big, Shape{0, 1, 0}, Shape{3, 12, 5}, Shape{2, 2, 1});
  array w1 = make(random_values(2 * 3 * 5, rng), {2, 3, 5}, float64);
  auto ref1 = ref_conv(test_utils::values(xs), xs.shape(), test_utils::values(w1), w1.shape(), args(1, 1, 1), rs);
  expect_near_values(conv1d(xs, w1, 1, 1), ref1, rs, float64, 1, "sliced input");
}

TEST(Conv, ManyTilesAndBatchSizes) {
  // More output rows than one kernel tile holds (the tile is ~2 MB of columns), batch 1 and 5.
  for (int n : {1, 5}) {
    ConvArgs a = args(2, 1, 1);
    check_general({n, 40, 36, 32}, {24, 3, 3, 32}, a, float32, 20 + n, "batch " + std::to_string(n));
  }
  check_general({3, 30, 30, 16}, {16, 3, 3, 1}, args(2, 1, 1, 1, 1, 16), float32, 30, "depthwise, many tiles");
  // Kernels so big that a tile's column rows are also split along the taps (the weight
  // gradient's convolutions look like this), with partial sums accumulated.
  check_general({16, 40, 40, 8}, {4, 36, 36, 8}, args(2), float64, 31, "taps split, float64");
  check_general({4, 30, 30, 8}, {2, 26, 26, 8}, args(2), float16, 32, "taps split, float16");
  check_general({2, 30, 30, 8}, {4, 26, 26, 4}, args(2, 1, 0, 1, 1, 2), float64, 33, "taps split, groups");
}

TEST(Conv, BothKernelRoutes) {
  // float32 goes to oneDNN when the build has it (no input dilation, no negative padding);
  // EMBER_CONV_DNNL=0 forces the im2col + sgemm kernel. Both must match the reference.
  for (const char* route : {"1", "0"}) {
    setenv("EMBER_CONV_DNNL", route, 1);
    std::string r = std::string("EMBER_CONV_DNNL=") + route;
    unsigned seed = 40;
    for (bool flip : {false, true}) {
      check_general({2, 9, 4}, {6, 3, 4}, args(1, 2, 1, 2, 1, 1, flip), float32, ++seed, r + " 1-d");
      ConvArgs a = args(2, 1, 0, 1, 1, 2, flip);
      a.stride = {1, 2};
      a.lo = {2, 0};
      a.hi = {0, 1};
      a.kdil = {2, 1};
      check_general({3, 8, 9, 6}, {4, 3, 2, 3}, a, float32, ++seed, r + " 2-d grouped, asymmetric");
      check_general({2, 7, 6, 8}, {8, 3, 3, 1}, args(2, 1, 1, 1, 1, 8, flip), float32, ++seed, r + " depthwise");
      check_general({1, 4, 5, 4, 3}, {2, 2, 3, 2, 3}, args(3, 1, 1, 1, 1, 1, flip), float32, ++seed, r + " 3-d");
      check_general({2, 6, 5, 4}, {6, 1, 1, 4}, args(2, 1, 0, 1, 1, 1, flip), float32, ++seed, r + " 1x1");
      // Input dilation with stride 1 (oneDNN: a deconvolution).
      a = args(2, 1, 0, 1, 2, 1, flip);
      a.lo = {2, 1};
      a.hi = {1, 2};
      a.kdil = {1, 2};
      check_general({2, 5, 4, 3}, {4, 3, 3, 3}, a, float32, ++seed, r + " input dilation");
      check_general({2, 5, 4}, {4, 3, 2}, args(1, 1, 1, 2, 3, 2, flip), float32, ++seed, r + " input dilation, groups");
    }
    std::mt19937 rng(seed);
    Shape xs = {2, 5, 4, 4}, ws = {6, 3, 3, 2};
    array x = make(random_values(numel(xs), rng), xs, float32);
    array w = make(random_values(numel(ws), rng), ws, float32);
    Shape rs;
    auto ref =
        ref_conv_transpose(test_utils::values(x), xs, test_utils::values(w), ws, {2, 3}, {1, 2}, {1, 1}, {1, 0}, 2, rs);
    expect_near_values(conv_transpose2d(x, w, {2, 3}, {1, 2}, {1, 1}, {1, 0}, 2), ref, rs, float32, 4,
                       r + " conv_transpose2d");
    check_general({8, 20, 20, 16}, {16, 3, 3, 16}, args(2, 1, 1), float32, ++seed, r + " batch 8");
  }
  unsetenv("EMBER_CONV_DNNL");
}

TEST(Conv, EmptyArrays) {
  array x = zeros({0, 5, 3});
  array w = ones({2, 3, 3});
  array y = conv1d(x, w, 1, 1);
  EXPECT_EQ(y.shape(), (Shape{0, 5, 2}));
  y.eval();
  // No input channels: an empty sum.
  array y0 = conv1d(zeros({2, 5, 0}), zeros({3, 2, 0}));
  EXPECT_EQ(y0.shape(), (Shape{2, 4, 3}));
  for (double v : test_utils::values(y0)) EXPECT_EQ(v, 0.0);
}

// ---------------------------------------------------------------- transposed

TEST(Conv, ConvTransposeMatchesScatterDefinition) {
  std::mt19937 rng(8);
  struct Case {
    Shape x, w;
    std::vector<int> s, p, d, op;
    int groups;
  };
  for (const Case& c :
       std::vector<Case>{{{2, 5, 3}, {4, 3, 3}, {1}, {0}, {1}, {0}, 1},
                         {{2, 5, 3}, {4, 3, 3}, {2}, {1}, {1}, {1}, 1},
                         {{1, 6, 4}, {6, 4, 2}, {3}, {2}, {2}, {2}, 2},
                         {{2, 4, 5, 4}, {3, 3, 2, 4}, {2, 1}, {1, 0}, {1, 2}, {1, 0}, 1},
                         {{1, 5, 4, 6}, {6, 3, 3, 1}, {2, 2}, {1, 1}, {1, 1}, {0, 1}, 6},  // depthwise
                         {{2, 3, 4, 3, 2}, {3, 2, 3, 2, 2}, {2, 1, 2}, {0, 1, 1}, {1, 1, 2}, {1, 0, 0}, 1},
                         {{1, 4, 3, 3, 4}, {2, 2, 2, 2, 2}, {1, 2, 1}, {1, 0, 0}, {1, 1, 1}, {0, 1, 0}, 2},
                         {{1, 6, 2}, {2, 3, 2}, {1}, {3}, {1}, {0}, 1}}) {  // padding > kernel - 1: a crop
    for (Dtype t : {float32, float64}) {
      SCOPED_TRACE(dtype_name(t) + " x " + shape_to_string(c.x) + " w " + shape_to_string(c.w));
      array x = make(random_values(numel(c.x), rng), c.x, t);
      array w = make(random_values(numel(c.w), rng), c.w, t);
      Shape rs;
      auto ref =
          ref_conv_transpose(test_utils::values(x), c.x, test_utils::values(w), c.w, c.s, c.p, c.d, c.op, c.groups, rs);
      array y = c.x.size() == 3   ? conv_transpose1d(x, w, c.s[0], c.p[0], c.d[0], c.op[0], c.groups)
                : c.x.size() == 4 ? conv_transpose2d(x, w, {c.s[0], c.s[1]}, {c.p[0], c.p[1]}, {c.d[0], c.d[1]},
                                                     {c.op[0], c.op[1]}, c.groups)
                                  : conv_transpose3d(x, w, {c.s[0], c.s[1], c.s[2]}, {c.p[0], c.p[1], c.p[2]},
                                                     {c.d[0], c.d[1], c.d[2]}, {c.op[0], c.op[1], c.op[2]}, c.groups);
      expect_near_values(y, ref, rs, t, 4, "conv_transpose");
    }
  }
}

TEST(Conv, ConvTransposeIsTheInputGradientOfConv) {
  // <conv2d(x, w), y> == <x, conv_transpose2d(y, w')> with w' the weight with channels swapped.
  std::mt19937 rng(9);
  Shape xs = {2, 9, 8, 3}, ws = {4, 3, 3, 3};
  array x = make(random_values(numel(xs), rng), xs, float64);
  array w = make(random_values(numel(ws), rng), ws, float64);
  array fwd = conv2d(x, w, {2, 2}, {1, 1});
  array y = make(random_values(numel(fwd.shape()), rng), fwd.shape(), float64);
  array back = conv_transpose2d(y, transpose(w, {3, 1, 2, 0}), {2, 2}, {1, 1}, {1, 1}, {0, 1});
  ASSERT_EQ(back.shape(), xs);
  EXPECT_NEAR(sum(fwd * y).item<double>(), sum(x * back).item<double>(), 1e-10);
}

// ---------------------------------------------------------------- errors

TEST(Conv, Errors) {
  array x2 = zeros({1, 5, 5, 4});
  array w2 = zeros({6, 3, 3, 4});
  expect_error<std::invalid_argument>(
      [&] {
        conv2d(x2, zeros({6, 3, 3, 3}));
      },
      "[conv2d] input channels 4 (input shape (1, 5, 5, 4)) do not match");
  expect_error<std::invalid_argument>(
      [&] {
        conv2d(x2, zeros({6, 3, 3, 2}), {1, 1}, {0, 0}, {1, 1}, 3);
      },
      "[conv2d] input channels 4 (input shape (1, 5, 5, 4)) are not divisible by groups 3");
  expect_error<std::invalid_argument>(
      [&] {
        conv2d(x2, zeros({5, 3, 3, 2}), {1, 1}, {0, 0}, {1, 1}, 2);
      },
      "[conv2d] output channels 5 (weight shape (5, 3, 3, 2)) are not divisible by groups 2");
  expect_error<std::invalid_argument>(
      [&] {
        conv2d(x2, w2, {1, 1}, {-1, 0});
      },
      "[conv2d] padding must be at least 0, got (-1, 0)");
  expect_error<std::invalid_argument>(
      [&] {
        conv2d(x2, zeros({6, 7, 3, 4}), {1, 1}, {0, 1});
      },
      "[conv2d] the kernel (dilated size 7) is larger than the padded input (size 5) along spatial axis 0: input shape "
      "(1, 5, 5, 4), weight shape (6, 7, 3, 4)");
  expect_error<std::invalid_argument>(
      [&] {
        conv2d(x2, w2, {1, 1}, {0, 0}, {3, 1});
      },
      "the kernel (dilated size 7) is larger than the padded input (size 5)");
  expect_error<std::invalid_argument>(
      [&] {
        conv2d(zeros({5, 5, 4}), zeros({6, 3, 4}));
      },
      "[conv2d] input must have 4 dimensions (N, H, W, C_in), got shape (5, 5, 4)");
  expect_error<std::invalid_argument>(
      [&] {
        conv2d(x2, zeros({6, 3, 4}));
      },
      "[conv2d] weight must have as many dimensions as the input (4");
  expect_error<std::invalid_argument>(
      [&] {
        conv1d(zeros({1, 5, 2}, int32), zeros({1, 2, 2}));
      },
      "[conv1d] input must be floating point, got int32");
  expect_error<std::invalid_argument>(
      [&] {
        conv1d(zeros({1, 5, 2}), zeros({1, 2, 2}), 0);
      },
      "[conv1d] stride must be at least 1, got (0)");
  expect_error<std::invalid_argument>(
      [&] {
        conv3d(zeros({1, 4, 4, 4, 2}), zeros({2, 2, 2, 2, 2}), {1, 1, 1}, {0, 0, 0}, {0, 1, 1});
      },
      "[conv3d] kernel dilation must be at least 1, got (0, 1, 1)");
  expect_error<std::invalid_argument>(
      [&] {
        conv_general(zeros({1, 4, 2}), zeros({1, 2, 2}), {1, 1});
      },
      "[conv_general] stride needs 1 or 1 values (one per spatial axis), got (1, 1)");
  expect_error<std::invalid_argument>(
      [&] {
        conv_general(zeros({1, 4, 2}), zeros({1, 2, 2}), {1}, {0}, {0}, {1}, {0});
      },
      "[conv_general] input dilation must be at least 1, got (0)");
  expect_error<std::invalid_argument>(
      [&] {
        conv_general(zeros({4, 2}), zeros({1, 2}));
      },
      "[conv_general] input must have 3 to 5 dimensions (N, spatial..., C_in), got shape (4, 2)");
  expect_error<std::invalid_argument>(
      [&] {
        conv_general(zeros({1, 4, 2}), zeros({1, 2, 2}), {1}, {-2}, {-2});
      },
      "[conv_general] the kernel (dilated size 2) is larger than the padded input (size 0)");
  expect_error<std::invalid_argument>(
      [&] {
        conv_transpose1d(zeros({1, 4, 2}), zeros({3, 2, 2}), 1, -1);
      },
      "[conv_transpose1d] padding must be at least 0, got (-1)");
  expect_error<std::invalid_argument>(
      [&] {
        conv_transpose1d(zeros({1, 4, 2}), zeros({3, 2, 2}), 1, 0, 1, -1);
      },
      "[conv_transpose1d] output_padding must be at least 0, got (-1)");
  expect_error<std::invalid_argument>(
      [&] {
        conv_transpose1d(zeros({1, 1, 2}), zeros({3, 2, 2}), 1, 1);
      },
      "[conv_transpose1d] output size 0 along spatial axis 0 is not positive");
  expect_error<std::invalid_argument>(
      [&] {
        conv_transpose2d(zeros({1, 4, 4, 3}), zeros({3, 2, 2, 2}));
      },
      "[conv_transpose2d] input channels 3 (input shape (1, 4, 4, 3)) do not match");
  expect_error<std::invalid_argument>(
      [&] {
        conv1d(zeros({1, 5, 2}, complex64), zeros({1, 2, 2}));
      },
      "[conv1d] input must be floating point, got complex64");
  expect_error<std::invalid_argument>(
      [&] {
        conv1d(zeros({1, 5, 2}), zeros({1, 2, 2}), 1, 0, 1, 0);
      },
      "[conv1d] groups must be at least 1, got 0");
}

// ---------------------------------------------------------------- transforms

namespace {

grad_check::Fn conv_fn(ConvArgs a) {
  return [a](const std::vector<array>& x) {
    return conv_general(x[0], x[1], a.stride, a.lo, a.hi, a.kdil, a.idil, a.groups, a.flip);
  };
}

}  // namespace

TEST(GradConv, Conv1dOptions) {
  for (bool flip : {false, true}) {
    for (int stride : {1, 2}) {
      for (int kdil : {1, 2}) {
        for (int idil : {1, 3}) {
          SCOPED_TRACE("flip " + std::to_string(flip) + " stride " + std::to_string(stride) + " kdil " +
                       std::to_string(kdil) + " idil " + std::to_string(idil));
          ConvArgs a = args(1, stride, 0, kdil, idil, 1, flip);
          a.lo = {2};
          a.hi = {1};
          grad_check::check(conv_fn(a), {{2, 7, 3}, {2, 3, 3}});
        }
      }
    }
  }
}

TEST(GradConv, Groups) {
  ConvArgs a = args(1, 2, 1, 1, 1, 2);
  grad_check::check(conv_fn(a), {{2, 8, 4}, {6, 3, 2}});
  a = args(2, 1, 1, 1, 1, 3);  // depthwise, multiplier 2
  grad_check::check(conv_fn(a), {{2, 5, 5, 3}, {6, 3, 3, 1}});
  a = args(2, 2, 1, 2, 2, 2, true);
  a.hi = {0, 2};
  grad_check::check(conv_fn(a), {{1, 5, 4, 4}, {4, 2, 3, 2}});
}

TEST(GradConv, TwoAndThreeDimensions) {
  ConvArgs a = args(2, 1, 0, 1, 1);
  a.stride = {2, 1};
  a.lo = {1, 0};
  a.hi = {0, 2};
  a.kdil = {1, 2};
  grad_check::check(conv_fn(a), {{2, 6, 5, 3}, {4, 3, 2, 3}});
  a = args(3, 1, 1, 1, 1);
  a.stride = {2, 1, 1};
  a.idil = {1, 1, 2};
  grad_check::check(conv_fn(a), {{1, 4, 3, 3, 2}, {3, 2, 2, 2, 2}});
}

TEST(GradConv, NegativePaddingAndUnusedInputs) {
  // Stride that leaves trailing inputs unread, and crops: the input gradient is zero there.
  ConvArgs a = args(1, 3, 0);
  grad_check::check(conv_fn(a), {{2, 10, 2}, {3, 3, 2}});
  a = args(2, 1, 0, 1, 2, 1, true);
  a.lo = {-1, 2};
  a.hi = {1, -3};
  grad_check::check(conv_fn(a), {{2, 5, 6, 2}, {2, 2, 3, 2}});
}

TEST(GradConv, ConvTranspose) {
  grad_check::check([](const std::vector<array>& x) { return conv_transpose1d(x[0], x[1], 2, 1, 2, 1); },
                    {{2, 5, 3}, {2, 3, 3}});
  grad_check::check(
      [](const std::vector<array>& x) {
        return conv_transpose2d(x[0], x[1], {2, 1}, {1, 0}, {1, 1}, {1, 0}, 2);
      },
      {{1, 4, 3, 4}, {4, 3, 2, 2}});
  grad_check::check(
      [](const std::vector<array>& x) {
        return conv_transpose3d(x[0], x[1], {2, 1, 1}, {0, 1, 0}, {1, 1, 2}, {1, 0, 0});
      },
      {{1, 3, 3, 2, 2}, {2, 2, 2, 2, 2}});
}

TEST(GradConv, ComposedTransforms) {
  // Derivatives of derivatives and vmap through the public transforms.
  auto f = [](const std::vector<array>& x) { return sum(square(conv2d(x[0], x[1], {2, 1}, {1, 1}))); };
  grad_check::check_transforms(f, {{2, 5, 4, 3}, {2, 3, 2, 3}});
  auto g = [f](const std::vector<array>& x) {
    auto [v, grads] = value_and_grad([f](const std::vector<array>& y) { return std::vector<array>{f(y)}; },
                                     std::vector<int>{0, 1})(x);
    return sum(grads[0] * grads[0]) + sum(grads[1]);
  };
  grad_check::check_transforms(g, {{1, 4, 4, 2}, {2, 3, 3, 2}});
}
