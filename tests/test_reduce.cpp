// Reductions (sum, prod, max, min, all, any, mean, var, std), argmax/argmin,
// logsumexp, softmax and log_softmax, each checked against a float64 loop on
// random inputs over dtypes, axis sets and layouts, plus the error cases.
#include <gtest/gtest.h>

#include <ember/ember.h>

#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <string>

#include "test_utils.h"

using namespace ember;
using namespace test_utils;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Random values suited to `dtype`: floats in [lo, hi), integers in a small range, bools 50/50.
array random_array(const Shape& shape, Dtype dtype, std::mt19937& rng, double lo = -1.0, double hi = 1.0) {
  std::vector<double> v(numel(shape));
  std::uniform_real_distribution<double> uf(lo, hi);
  for (auto& x : v) {
    if (dtype == bool_) {
      x = rng() % 2;
    } else if (dtype == uint8) {
      x = rng() % 200;
    } else if (dtype == int8) {
      x = static_cast<int>(rng() % 101) - 50;
    } else if (is_integral(dtype)) {
      x = static_cast<int>(rng() % 2001) - 1000;
    } else {
      x = uf(rng);
    }
  }
  return array(v, shape, dtype);
}

// Builds an array of logical shape `shape` in one of several layouts.
enum class Layout { Contiguous, Transposed, Broadcast, Sliced };
const char* layout_name(Layout l) {
  static const char* names[] = {"contiguous", "transposed", "broadcast", "sliced"};
  return names[static_cast<int>(l)];
}

array make_input(const Shape& shape, Dtype dtype, Layout layout, std::mt19937& rng,
                 const std::function<array(const Shape&)>& gen) {
  int nd = static_cast<int>(shape.size());
  switch (layout) {
    case Layout::Contiguous:
      return gen(shape);
    case Layout::Transposed: {
      Shape rev(shape.rbegin(), shape.rend());
      return transpose(gen(rev));
    }
    case Layout::Broadcast: {
      Shape small = shape;
      if (nd > 0) small[0] = 1;
      if (nd > 2) small[2] = 1;
      return broadcast_to(gen(small), shape);
    }
    case Layout::Sliced: {
      // Every other element of a (2n+1)-long axis; the first axis runs backwards.
      Shape big(nd), start(nd), stop(nd), step(nd);
      for (int i = 0; i < nd; ++i) {
        big[i] = 2 * shape[i] + 1;
        start[i] = 1;
        stop[i] = big[i];
        step[i] = 2;
      }
      if (nd > 0) {
        start[0] = -2;
        stop[0] = -big[0] - 5;
        step[0] = -2;
      }
      array x = slice(gen(big), start, stop, step);
      EXPECT_EQ(x.shape(), shape);
      return x;
    }
  }
  return gen(shape);
}

enum class Op { Sum, Prod, Max, Min, All, Any };
const char* op_name(Op op) {
  static const char* names[] = {"sum", "prod", "max", "min", "all", "any"};
  return names[static_cast<int>(op)];
}

array run_op(Op op, const array& x, const std::vector<int>& axes, bool keepdims) {
  switch (op) {
    case Op::Sum:
      return sum(x, axes, keepdims);
    case Op::Prod:
      return prod(x, axes, keepdims);
    case Op::Max:
      return max(x, axes, keepdims);
    case Op::Min:
      return min(x, axes, keepdims);
    case Op::All:
      return all(x, axes, keepdims);
    case Op::Any:
      return any(x, axes, keepdims);
  }
  return x;
}

// MLX's output dtypes, restated independently of the library.
Dtype expected_dtype(Op op, Dtype t) {
  if (op == Op::All || op == Op::Any) return bool_;
  if (op == Op::Sum || op == Op::Prod) {
    if (t == bool_ || t == int8 || t == int16) return int32;
    if (t == uint8 || t == uint16) return uint32;
  }
  return t;
}

struct Reference {
  Shape shape;                  // reduced axes kept as 1
  std::vector<double> value;    // per output
  std::vector<double> abs_sum;  // sum of |x| per output, the scale of a sum's rounding error
};

// float64 reduction of `v` (row-major over `shape`) over `axes` (normalized).
Reference reference_reduce(const std::vector<double>& v, const Shape& shape, const std::vector<int>& axes, Op op) {
  Reference r;
  r.shape = shape;
  for (int ax : axes) r.shape[ax] = 1;
  size_t n = numel(r.shape);
  double init = op == Op::Sum || op == Op::Any    ? 0.0
                : op == Op::Prod || op == Op::All ? 1.0
                : op == Op::Max                   ? -kInf
                                                  : kInf;
  r.value.assign(n, init);
  r.abs_sum.assign(n, 0.0);
  Strides out_strides(shape.size());
  int64_t st = 1;
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    out_strides[d] = st;
    st *= r.shape[d];
  }
  for (size_t i = 0; i < v.size(); ++i) {
    int64_t idx = static_cast<int64_t>(i), o = 0;
    for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
      int64_t c = idx % shape[d];
      idx /= shape[d];
      if (r.shape[d] != 1) o += c * out_strides[d];
    }
    double& acc = r.value[o];
    double x = v[i];
    r.abs_sum[o] += std::abs(x);
    switch (op) {
      case Op::Sum:
        acc += x;
        break;
      case Op::Prod:
        acc *= x;
        break;
      case Op::Max:
        acc = (std::isnan(acc) || std::isnan(x)) ? kNaN : std::max(acc, x);
        break;
      case Op::Min:
        acc = (std::isnan(acc) || std::isnan(x)) ? kNaN : std::min(acc, x);
        break;
      case Op::All:
        acc = (acc != 0 && x != 0) ? 1 : 0;
        break;
      case Op::Any:
        acc = (acc != 0 || x != 0) ? 1 : 0;
        break;
    }
  }
  return r;
}

Shape squeezed(const Shape& shape, const std::vector<int>& axes) {
  Shape out;
  for (int i = 0; i < static_cast<int>(shape.size()); ++i) {
    if (std::find(axes.begin(), axes.end(), i) == axes.end()) out.push_back(shape[i]);
  }
  return out;
}

std::vector<int> normalized(std::vector<int> axes, int ndim) {
  for (auto& a : axes) a = a < 0 ? a + ndim : a;
  std::sort(axes.begin(), axes.end());
  return axes;
}

// Relative rounding of a dtype (0 for exact integer results).
double rounding(Dtype t) {
  if (t == float16) return 1e-3;
  if (t == bfloat16) return 8e-3;
  if (t == float32) return 1e-5;
  if (t == float64) return 1e-12;
  return 0.0;
}

bool close(double got, double want, double tol) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want)) return got == want;
  return std::abs(got - want) <= tol;
}

std::string axes_text(const std::vector<int>& axes) {
  std::string out = "axes (";
  for (size_t i = 0; i < axes.size(); ++i) out += (i ? "," : "") + std::to_string(axes[i]);
  return out + ")";
}

void check_reduce(Op op, const array& x, const std::vector<int>& axes, bool keepdims) {
  SCOPED_TRACE(axes_text(axes) + " keepdims " + std::to_string(keepdims));
  std::vector<double> v = values(x);
  std::vector<int> ax = normalized(axes, static_cast<int>(x.ndim()));
  Reference ref = reference_reduce(v, x.shape(), ax, op);
  array out = run_op(op, x, axes, keepdims);
  ASSERT_EQ(out.dtype(), expected_dtype(op, x.dtype()));
  ASSERT_EQ(out.shape(), keepdims ? ref.shape : squeezed(x.shape(), ax));
  std::vector<double> got = values(out);
  ASSERT_EQ(got.size(), ref.value.size());
  double r = rounding(out.dtype());
  for (size_t i = 0; i < got.size(); ++i) {
    double tol = op == Op::Sum ? r * (ref.abs_sum[i] + 1.0) : op == Op::Prod ? 4 * r * std::abs(ref.value[i]) : 0.0;
    ASSERT_TRUE(close(got[i], ref.value[i], tol))
        << op_name(op) << " output " << i << ": got " << got[i] << ", want " << ref.value[i];
  }
}

const Dtype kDtypes[] = {float32, float64, float16, bfloat16, int32, int8, uint8, bool_};
const std::vector<std::vector<int>> kAxisSets = {{0}, {1}, {2}, {-1}, {0, 2}, {2, 0}, {1, 2}, {0, 1}, {0, 1, 2}, {}};

}  // namespace

// ---------------------------------------------------------------- sum, prod, max, min, all, any

TEST(ReduceOps, AllOpsDtypesAxesLayouts) {
  std::mt19937 rng(42);
  const Shape shape{5, 6, 7};
  for (Dtype t : kDtypes) {
    for (Layout layout : {Layout::Contiguous, Layout::Transposed, Layout::Broadcast, Layout::Sliced}) {
      for (Op op : {Op::Sum, Op::Max, Op::Min, Op::All, Op::Any}) {
        auto gen = [&](const Shape& s) {
          // Sparse zeros give all/any both answers.
          array a = random_array(s, t, rng);
          if (op == Op::All || op == Op::Any) a = where(random_array(s, float32, rng) > 0.9f, array(0, t), a);
          return a;
        };
        array x = make_input(shape, t, layout, rng, gen);
        for (const auto& axes : kAxisSets) {
          for (bool keepdims : {false, true}) {
            SCOPED_TRACE(std::string(op_name(op)) + " " + dtype_name(t) + " " + layout_name(layout));
            check_reduce(op, x, axes, keepdims);
          }
        }
      }
    }
  }
}

TEST(ReduceOps, InterleavedAxes4d) {
  // Reduced and kept axes alternate in memory: (R,K,R,K), (K,R,K,R) and mixed orders.
  std::mt19937 rng(31);
  const Shape shape{3, 4, 5, 6};
  const std::vector<std::vector<int>> axis_sets = {{0, 2}, {1, 3}, {0, 3}, {1, 2}, {0, 1, 3}, {-3}, {0, 1, 2, 3}};
  for (Dtype t : {float32, int32, float16}) {
    for (Layout layout : {Layout::Contiguous, Layout::Transposed, Layout::Broadcast, Layout::Sliced}) {
      array x = make_input(shape, t, layout, rng, [&](const Shape& s) { return random_array(s, t, rng); });
      for (const auto& axes : axis_sets) {
        for (Op op : {Op::Sum, Op::Max, Op::Any}) {
          SCOPED_TRACE(std::string(op_name(op)) + " " + dtype_name(t) + " " + layout_name(layout));
          check_reduce(op, x, axes, false);
        }
      }
    }
  }
  // A permuted (not fully reversed) dense layout: kept axes land in the output in logical order.
  array base = random_array({5, 3, 6, 4}, float32, rng);
  array p = transpose(base, {1, 3, 0, 2});  // logical (3, 4, 5, 6)
  for (const auto& axes : axis_sets) check_reduce(Op::Sum, p, axes, true);
}

TEST(ReduceOps, Prod) {
  // Factors +-1, +-2 (0..2 unsigned) keep 24-element products exact in every dtype.
  std::mt19937 rng(7);
  const Shape shape{2, 3, 4};
  for (Dtype t : kDtypes) {
    for (Layout layout : {Layout::Contiguous, Layout::Transposed, Layout::Sliced}) {
      auto gen = [&](const Shape& s) {
        std::vector<double> v(numel(s));
        for (auto& x : v) {
          x = (t == bool_) ? (rng() % 5 != 0)
                           : static_cast<int>(1 + rng() % 2) * ((is_unsigned(t) || rng() % 2) ? 1 : -1);
          if (is_floating_point(t)) x *= 0.75;
        }
        return array(v, s, t);
      };
      array x = make_input(shape, t, layout, rng, gen);
      for (const auto& axes : kAxisSets) {
        for (bool keepdims : {false, true}) {
          SCOPED_TRACE(std::string(dtype_name(t)) + " " + layout_name(layout));
          check_reduce(Op::Prod, x, axes, keepdims);
        }
      }
    }
  }
}

TEST(ReduceOps, SingleAxisAndAllAxesOverloads) {
  array x({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(values(sum(x, 1)), (std::vector<double>{6, 15}));
  EXPECT_EQ(values(sum(x, -2)), (std::vector<double>{5, 7, 9}));
  EXPECT_EQ(sum(x, 1, true).shape(), (Shape{2, 1}));
  EXPECT_EQ(sum(x).shape(), Shape{});
  EXPECT_EQ(sum(x).item<int>(), 21);
  EXPECT_EQ(sum(x, true).shape(), (Shape{1, 1}));
  EXPECT_EQ(prod(x).item<int>(), 720);
  EXPECT_EQ(prod(x, 0).shape(), (Shape{3}));
  EXPECT_EQ(max(x).item<int>(), 6);
  EXPECT_EQ(min(x, 1, true).shape(), (Shape{2, 1}));
  EXPECT_EQ(values(min(x, 1)), (std::vector<double>{1, 4}));
  EXPECT_TRUE(all(x).item<bool>());
  EXPECT_FALSE(all(x - 1).item<bool>());
  EXPECT_TRUE(any(x - 1).item<bool>());
  EXPECT_EQ(values(any(x - 1, 1)), (std::vector<double>{1, 1}));
  EXPECT_EQ(values(all(x - 1, 0)), (std::vector<double>{0, 1, 1}));
}

TEST(ReduceOps, OutputDtypes) {
  for (Dtype t : {bool_, int8, int16}) EXPECT_EQ(sum(zeros({3}, t)).dtype(), int32);
  for (Dtype t : {uint8, uint16}) EXPECT_EQ(prod(zeros({3}, t)).dtype(), uint32);
  for (Dtype t : {int32, int64, uint32, uint64, float16, bfloat16, float32, float64}) {
    EXPECT_EQ(sum(zeros({3}, t)).dtype(), t);
    EXPECT_EQ(max(zeros({3}, t)).dtype(), t);
  }
  EXPECT_EQ(mean(zeros({3}, int32)).dtype(), float32);
  EXPECT_EQ(mean(zeros({3}, bool_)).dtype(), float32);
  EXPECT_EQ(mean(zeros({3}, float16)).dtype(), float16);
  EXPECT_EQ(all(zeros({3}, float32)).dtype(), bool_);
  EXPECT_EQ(any(zeros({3}, int8)).dtype(), bool_);
  // int8 sums widen: 100 * 3 does not wrap.
  EXPECT_EQ(sum(full({3}, array(100, int8))).item<int>(), 300);
  EXPECT_EQ(sum(full({300}, array(200, uint8))).item<uint32_t>(), 60000u);
  EXPECT_EQ(sum(array({true, true, false, true})).item<int>(), 3);
}

TEST(ReduceOps, ZeroDimAndEmpty) {
  array s(3.5f);
  EXPECT_EQ(sum(s).item<float>(), 3.5f);
  EXPECT_EQ(sum(s).shape(), Shape{});
  EXPECT_EQ(max(s, true).shape(), Shape{});
  EXPECT_EQ(argmax(s).item<uint32_t>(), 0u);
  EXPECT_EQ(mean(s).item<float>(), 3.5f);

  array e = zeros({2, 0, 3});
  EXPECT_EQ(sum(e).item<float>(), 0.0f);
  EXPECT_EQ(prod(e).item<float>(), 1.0f);
  EXPECT_TRUE(all(e).item<bool>());
  EXPECT_FALSE(any(e).item<bool>());
  EXPECT_TRUE(std::isnan(mean(e).item<float>()));
  EXPECT_EQ(values(sum(e, 1)), std::vector<double>(6, 0.0));
  EXPECT_EQ(sum(e, 1).shape(), (Shape{2, 3}));
  EXPECT_EQ(values(prod(e, {1}, true)), std::vector<double>(6, 1.0));
  EXPECT_EQ(sum(e, 2).shape(), (Shape{2, 0}));
  EXPECT_EQ(sum(e, 2).size(), 0u);
  // Reducing a non-empty axis of an empty array is fine even for max.
  array m = max(e, 2);
  EXPECT_EQ(m.shape(), (Shape{2, 0}));
  m.eval();
  EXPECT_EQ(argmax(e, 0).shape(), (Shape{0, 3}));
}

TEST(ReduceOps, NanPropagates) {
  for (Dtype t : {float32, float64, float16, bfloat16}) {
    SCOPED_TRACE(dtype_name(t));
    // Rows: nan first, nan last, nan in the middle of a long row (past the SIMD blocks).
    std::vector<double> v(3 * 5000, 1.0);
    v[0] = kNaN;
    v[2 * 5000 - 1] = kNaN;
    v[2 * 5000 + 4321] = kNaN;
    v[2 * 5000 + 4999] = 7.0;
    array x(v, {3, 5000}, t);
    for (double r : values(max(x, 1))) EXPECT_TRUE(std::isnan(r));
    for (double r : values(min(x, 1))) EXPECT_TRUE(std::isnan(r));
    // Column reductions: nan in an early row must survive larger later rows.
    array xt = transpose(x);  // (5000, 3), axis 0 is the memory-innermost one of x
    array c = reshape(x, {5000, 3});
    std::vector<double> cm = values(max(c, 0));
    std::vector<double> want = reference_reduce(values(c), c.shape(), {0}, Op::Max).value;
    for (size_t i = 0; i < cm.size(); ++i) EXPECT_TRUE(close(cm[i], want[i], 0)) << i;
    // Wide columns take the vector path: nan lanes must survive max/min there too.
    array wide = reshape(x, {300, 50});
    for (bool is_max : {true, false}) {
      std::vector<double> got = values(is_max ? max(wide, 0) : min(wide, 0));
      std::vector<double> ref = reference_reduce(values(wide), wide.shape(), {0}, is_max ? Op::Max : Op::Min).value;
      for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(close(got[i], ref[i], 0)) << i;
    }
    std::vector<double> cn = values(min(xt, 0));
    for (double r : cn) EXPECT_TRUE(std::isnan(r));
    EXPECT_TRUE(std::isnan(values(max(x))[0]));
    EXPECT_TRUE(std::isnan(values(sum(x))[0]));
  }
}

TEST(ReduceOps, LargeFloat32SumIsAccurate) {
  // 1e6 positive values: a naive float loop drifts by ~1e-4 here.
  std::mt19937 rng(3);
  const int n = 1000000;
  array x = random_array({n}, float32, rng, 0.0, 1.0);
  std::vector<double> v = values(x);
  double want = std::accumulate(v.begin(), v.end(), 0.0);
  EXPECT_NEAR(sum(x).item<float>(), want, 1e-5 * want);
  EXPECT_NEAR(mean(x).item<float>(), want / n, 1e-5 * want / n);

  // Row (few long rows), column (cascade + split rows), and tile-per-thread paths.
  for (Shape shape : {Shape{4, 250000}, Shape{250000, 4}, Shape{1000, 1000}, Shape{2, 500000}}) {
    array y = reshape(x, shape);
    for (int axis : {0, 1}) {
      SCOPED_TRACE(shape_to_string(shape) + " axis " + std::to_string(axis));
      Reference ref = reference_reduce(v, shape, {axis}, Op::Sum);
      std::vector<double> got = values(sum(y, axis));
      for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], ref.value[i], 1e-5 * ref.abs_sum[i]) << i;
    }
  }
  // 0.1f a million times: a plain float running sum ends ~1% off (100958); blocked sums stay exact to 1e-5.
  array tenth = full({1000000, 2}, array(0.1f));
  for (double g : values(sum(tenth, 0))) EXPECT_NEAR(g, 100000.0, 1.0);
  for (double g : values(sum(transpose(tenth), 1))) EXPECT_NEAR(g, 100000.0, 1.0);
  for (double g : values(sum(reshape(tenth, {8, 250000}), 0))) ASSERT_NEAR(g, 0.8, 1e-6);
  for (double g : values(sum(reshape(tenth, {2000, 1000}), 0))) EXPECT_NEAR(g, 200.0, 2e-3);
  // Column-order (transposed) input read in place, and a bfloat16 full sum.
  array t = transpose(reshape(x, {1000, 1000}));
  Reference ref = reference_reduce(values(t), t.shape(), {1}, Op::Sum);
  std::vector<double> got = values(sum(t, 1));
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], ref.value[i], 1e-5 * ref.abs_sum[i]) << i;
  array b = astype(x, bfloat16);
  std::vector<double> bv = values(b);
  double bwant = std::accumulate(bv.begin(), bv.end(), 0.0);
  EXPECT_NEAR(sum(b).item<float>(), bwant, 8e-3 * bwant);
  EXPECT_NEAR(values(max(x))[0], *std::max_element(v.begin(), v.end()), 0.0);
  EXPECT_NEAR(values(min(reshape(x, {1000, 1000}), 0))[17], reference_reduce(v, {1000, 1000}, {0}, Op::Min).value[17],
              0.0);
}

TEST(ReduceOps, IntegerSumsAreExact) {
  std::mt19937 rng(5);
  array x = random_array({3, 100000}, int32, rng);
  std::vector<double> v = values(x);
  for (int axis : {0, 1}) {
    Reference ref = reference_reduce(v, x.shape(), {axis}, Op::Sum);
    EXPECT_EQ(values(sum(x, axis)), ref.value);
  }
  Reference all_ref = reference_reduce(v, x.shape(), {0, 1}, Op::Sum);
  EXPECT_EQ(values(sum(x)), all_ref.value);
}

// ---------------------------------------------------------------- mean, var, std

TEST(ReduceStats, MeanVarStdMatchReference) {
  std::mt19937 rng(11);
  for (Dtype t : {float32, float64, float16, int32, uint8, bool_}) {
    for (Layout layout : {Layout::Contiguous, Layout::Transposed, Layout::Sliced}) {
      array x = make_input({4, 5, 6}, t, layout, rng, [&](const Shape& s) { return random_array(s, t, rng); });
      std::vector<double> v = values(x);
      for (const auto& axes : kAxisSets) {
        for (int ddof : {0, 1}) {
          SCOPED_TRACE(std::string(dtype_name(t)) + " " + layout_name(layout) + " ddof " + std::to_string(ddof));
          std::vector<int> ax = normalized(axes, 3);
          Reference s = reference_reduce(v, x.shape(), ax, Op::Sum);
          double count = 1;
          for (int a : ax) count *= x.shape()[a];
          // Two-pass reference variance.
          std::vector<double> var_ref(s.value.size(), 0.0);
          std::vector<double> dev(v.size());
          Reference sq = s;
          {
            std::vector<double> d2(v.size());
            Strides rs(3);
            int64_t st = 1;
            for (int d = 2; d >= 0; --d) {
              rs[d] = st;
              st *= s.shape[d];
            }
            for (size_t i = 0; i < v.size(); ++i) {
              int64_t idx = i, o = 0;
              for (int d = 2; d >= 0; --d) {
                if (s.shape[d] != 1) o += (idx % x.shape()[d]) * rs[d];
                idx /= x.shape()[d];
              }
              double m = s.value[o] / count;
              d2[i] = (v[i] - m) * (v[i] - m);
            }
            sq = reference_reduce(d2, x.shape(), ax, Op::Sum);
          }
          Dtype ft = is_floating_point(t) ? t : float32;
          double r = 4 * rounding(ft);
          array mu = mean(x, axes, true);
          array va = var(x, axes, false, ddof);
          array sd = ember::std(x, axes, true, ddof);
          EXPECT_EQ(mu.dtype(), ft);
          EXPECT_EQ(va.dtype(), ft);
          EXPECT_EQ(mu.shape(), s.shape);
          EXPECT_EQ(va.shape(), squeezed(x.shape(), ax));
          std::vector<double> gm = values(mu), gv = values(va), gs = values(sd);
          for (size_t i = 0; i < gm.size(); ++i) {
            double want_mean = s.value[i] / count;
            double want_var = sq.value[i] / (count - ddof);
            ASSERT_NEAR(gm[i], want_mean, r * (s.abs_sum[i] / count + 1)) << i;
            if (count - ddof <= 0) {
              ASSERT_TRUE(std::isnan(gv[i]) || std::isinf(gv[i])) << i;
            } else {
              ASSERT_NEAR(gv[i], want_var, r * (std::abs(want_var) + 1)) << i;
              ASSERT_NEAR(gs[i], std::sqrt(want_var), r * (std::sqrt(want_var) + 1)) << i;
            }
          }
        }
      }
    }
  }
}

TEST(ReduceStats, HalfPrecisionMeanDoesNotOverflow) {
  // The float16 total (1e5) is past float16's max (65504); the mean is not.
  array x = full({100000}, array(1.0f, float16));
  EXPECT_EQ(mean(x).dtype(), float16);
  EXPECT_EQ(mean(x).item<float>(), 1.0f);
  EXPECT_NEAR(var(x + array(3.0f, float16)).item<float>(), 0.0f, 1e-6);
  EXPECT_EQ(mean(astype(x, bfloat16)).item<float>(), 1.0f);
}

TEST(ReduceStats, VarDdof) {
  array x({1.0f, 2.0f, 3.0f, 4.0f});
  EXPECT_FLOAT_EQ(var(x).item<float>(), 1.25f);
  EXPECT_FLOAT_EQ(var(x, false, 1).item<float>(), 5.0f / 3.0f);
  EXPECT_FLOAT_EQ(ember::std(x, false, 1).item<float>(), std::sqrt(5.0f / 3.0f));
  EXPECT_TRUE(std::isinf(var(x, false, 4).item<float>()));  // NumPy: division by max(N - ddof, 0)
  // Large offset: a one-pass E[x^2] - E[x]^2 would lose everything here.
  array y = array({1.0f, 2.0f, 3.0f, 4.0f}) + 1e4f;
  EXPECT_NEAR(var(y).item<float>(), 1.25f, 1e-3);
}

// ---------------------------------------------------------------- argmax, argmin

TEST(ArgReduce, MatchesReference) {
  std::mt19937 rng(13);
  const Shape shape{6, 7, 8};
  for (Dtype t : kDtypes) {
    for (Layout layout : {Layout::Contiguous, Layout::Transposed, Layout::Broadcast, Layout::Sliced}) {
      array x = make_input(shape, t, layout, rng, [&](const Shape& s) { return random_array(s, t, rng); });
      std::vector<double> v = values(x);
      for (int axis : {0, 1, 2, -1}) {
        for (bool is_max : {true, false}) {
          for (bool keepdims : {false, true}) {
            SCOPED_TRACE(std::string(dtype_name(t)) + " " + layout_name(layout) + " axis " + std::to_string(axis));
            int ax = axis < 0 ? axis + 3 : axis;
            array out = is_max ? argmax(x, axis, keepdims) : argmin(x, axis, keepdims);
            ASSERT_EQ(out.dtype(), uint32);
            Shape want_shape = shape;
            want_shape[ax] = 1;
            ASSERT_EQ(out.shape(), keepdims ? want_shape : squeezed(shape, {ax}));
            std::vector<double> got = values(out);
            int64_t inner = 1;
            for (int d = ax + 1; d < 3; ++d) inner *= shape[d];
            int64_t n = shape[ax];
            for (size_t o = 0; o < got.size(); ++o) {
              int64_t outer_i = o / inner, inner_i = o % inner;
              int64_t best = 0;
              for (int64_t i = 1; i < n; ++i) {
                double c = v[(outer_i * n + i) * inner + inner_i], b = v[(outer_i * n + best) * inner + inner_i];
                if (is_max ? c > b : c < b) best = i;
              }
              ASSERT_EQ(got[o], best) << o;
            }
          }
        }
      }
    }
  }
}

TEST(ArgReduce, FlattenedTiesAndNan) {
  array x({3.0f, 9.0f, 1.0f, 9.0f, 1.0f, 0.0f}, {2, 3});
  EXPECT_EQ(argmax(x).item<uint32_t>(), 1u);  // ties: first index
  EXPECT_EQ(argmin(x).item<uint32_t>(), 5u);
  EXPECT_EQ(argmax(x, true).shape(), (Shape{1, 1}));
  EXPECT_EQ(values(argmin(x, 1)), (std::vector<double>{2, 2}));
  EXPECT_EQ(values(argmax(x, 0)), (std::vector<double>{1, 0, 0}));
  EXPECT_EQ(argmax(full({1000}, array(2))).item<uint32_t>(), 0u);
  // nan wins, the first one.
  array y({1.0f, NAN, 5.0f, NAN});
  EXPECT_EQ(argmax(y).item<uint32_t>(), 1u);
  EXPECT_EQ(argmin(y).item<uint32_t>(), 1u);
}

TEST(ArgReduce, LargeRowsAndColumns) {
  std::mt19937 rng(17);
  for (Dtype t : {float32, float16, int32}) {
    SCOPED_TRACE(dtype_name(t));
    const int n = 1 << 20;
    std::vector<double> v(n);
    for (auto& e : v) e = static_cast<int>(rng() % 1000) - 500;
    v[777777] = 5000;  // max, tied later across a chunk boundary
    v[900001] = 5000;
    v[123456] = -5000;  // min
    array x(v, {n}, t);
    EXPECT_EQ(argmax(x).item<uint32_t>(), 777777u);
    EXPECT_EQ(argmin(x).item<uint32_t>(), 123456u);
    array two = reshape(x, {2, n / 2});
    std::vector<double> rows = values(argmax(two, 1));
    EXPECT_EQ(rows[1], 777777 - n / 2);
    // Column argreduce over (1024, 1024), against the reference.
    array sq = reshape(x, {1024, 1024});
    std::vector<double> got = values(argmin(sq, 0));
    for (int j = 0; j < 1024; ++j) {
      int best = 0;
      for (int i = 1; i < 1024; ++i) {
        if (v[i * 1024 + j] < v[best * 1024 + j]) best = i;
      }
      ASSERT_EQ(got[j], best) << j;
    }
    if (t == float32 || t == float16) {
      std::vector<double> w = v;
      w[600000] = kNaN;
      w[800000] = kNaN;
      array z(w, {n}, t);
      EXPECT_EQ(argmax(z).item<uint32_t>(), 600000u);
      EXPECT_EQ(argmin(z).item<uint32_t>(), 600000u);
      EXPECT_EQ(values(argmax(reshape(z, {1024, 1024}), 0))[600000 % 1024], 600000 / 1024);
    }
  }
}

// ---------------------------------------------------------------- logsumexp

TEST(ReduceLogSumExp, MatchesReference) {
  std::mt19937 rng(19);
  for (Dtype t : {float32, float64, float16, bfloat16, int32}) {
    for (Layout layout : {Layout::Contiguous, Layout::Transposed, Layout::Sliced}) {
      array x = make_input({4, 5, 6}, t, layout, rng, [&](const Shape& s) { return random_array(s, t, rng, -5, 5); });
      std::vector<double> v = values(x);
      if (t == int32) {
        for (auto& e : v) e = e / 1000.0;
        x = astype(x, float32) / 1000.0f;
      }
      for (const auto& axes : kAxisSets) {
        for (bool keepdims : {false, true}) {
          SCOPED_TRACE(std::string(dtype_name(t)) + " " + layout_name(layout));
          std::vector<int> ax = normalized(axes, 3);
          Reference m = reference_reduce(v, x.shape(), ax, Op::Max);
          std::vector<double> e(v.size());
          // exp(x - max) per element, using the max of its own output.
          Reference s = m;
          {
            Strides rs(3);
            int64_t st = 1;
            for (int d = 2; d >= 0; --d) {
              rs[d] = st;
              st *= m.shape[d];
            }
            for (size_t i = 0; i < v.size(); ++i) {
              int64_t idx = i, o = 0;
              for (int d = 2; d >= 0; --d) {
                if (m.shape[d] != 1) o += (idx % x.shape()[d]) * rs[d];
                idx /= x.shape()[d];
              }
              e[i] = std::exp(v[i] - m.value[o]);
            }
            s = reference_reduce(e, x.shape(), ax, Op::Sum);
          }
          array out = logsumexp(x, axes, keepdims);
          Dtype ft = is_floating_point(t) ? t : float32;
          ASSERT_EQ(out.dtype(), ft);
          ASSERT_EQ(out.shape(), keepdims ? m.shape : squeezed(x.shape(), ax));
          std::vector<double> got = values(out);
          for (size_t i = 0; i < got.size(); ++i) {
            double want = m.value[i] + std::log(s.value[i]);
            ASSERT_NEAR(got[i], want, 2 * rounding(ft) * (std::abs(want) + 1)) << i;
          }
        }
      }
    }
  }
}

TEST(ReduceLogSumExp, InfinitiesAndLargeValues) {
  for (Dtype t : {float32, float64, float16, bfloat16}) {
    SCOPED_TRACE(dtype_name(t));
    array x({-kInf, -kInf, -kInf, 1000.0, 1000.0, 1000.0, 0.0, kInf, 1.0, -kInf, 0.0, -kInf}, {4, 3}, t);
    std::vector<double> got = values(logsumexp(x, 1));
    EXPECT_EQ(got[0], -kInf);
    EXPECT_NEAR(got[1], 1000.0 + std::log(3.0), t == float64 || t == float32 ? 1e-3 : 8.0);
    EXPECT_EQ(got[2], kInf);
    EXPECT_NEAR(got[3], 0.0, 1e-6);
    EXPECT_EQ(values(logsumexp(x, 0))[1], kInf);
    EXPECT_EQ(values(logsumexp(zeros({3, 0}, t), 1)), std::vector<double>(3, -kInf));
  }
  // Long rows (several chunks) of large values.
  array big = full({3, 5000}, array(1000.0f));
  for (double g : values(logsumexp(big, -1))) EXPECT_NEAR(g, 1000.0 + std::log(5000.0), 1e-3);
  EXPECT_NEAR(logsumexp(big).item<float>(), 1000.0 + std::log(15000.0), 1e-3);
}

// ---------------------------------------------------------------- softmax, log_softmax

TEST(Softmax, MatchesReference) {
  std::mt19937 rng(23);
  const std::vector<std::vector<int>> axis_sets = {{-1}, {0}, {1}, {0, 2}, {0, 1, 2}};
  for (Dtype t : {float32, float64, float16, bfloat16, int8}) {
    for (Layout layout : {Layout::Contiguous, Layout::Transposed, Layout::Sliced}) {
      array x = make_input({3, 4, 70}, t, layout, rng, [&](const Shape& s) { return random_array(s, t, rng, -4, 4); });
      std::vector<double> v = values(x);
      for (const auto& axes : axis_sets) {
        for (bool log : {false, true}) {
          for (bool precise : {false, true}) {
            SCOPED_TRACE(std::string(dtype_name(t)) + " " + layout_name(layout) + (log ? " log" : ""));
            std::vector<int> ax = normalized(axes, 3);
            Reference m = reference_reduce(v, x.shape(), ax, Op::Max);
            Strides rs(3);
            int64_t st = 1;
            for (int d = 2; d >= 0; --d) {
              rs[d] = st;
              st *= m.shape[d];
            }
            std::vector<int64_t> owner(v.size());
            std::vector<double> e(v.size());
            for (size_t i = 0; i < v.size(); ++i) {
              int64_t idx = i, o = 0;
              for (int d = 2; d >= 0; --d) {
                if (m.shape[d] != 1) o += (idx % x.shape()[d]) * rs[d];
                idx /= x.shape()[d];
              }
              owner[i] = o;
              e[i] = std::exp(v[i] - m.value[o]);
            }
            Reference s = reference_reduce(e, x.shape(), ax, Op::Sum);
            array out = log ? log_softmax(x, axes, precise) : softmax(x, axes, precise);
            Dtype ft = is_floating_point(t) ? t : float32;
            ASSERT_EQ(out.dtype(), ft);
            ASSERT_EQ(out.shape(), x.shape());
            std::vector<double> got = values(out);
            for (size_t i = 0; i < got.size(); ++i) {
              double want = log ? (v[i] - m.value[owner[i]]) - std::log(s.value[owner[i]]) : e[i] / s.value[owner[i]];
              ASSERT_NEAR(got[i], want, 2 * rounding(ft) * (std::abs(want) + (log ? 1 : 0.01))) << i;
            }
            if (!log) {  // each softmax group sums to 1
              for (double g : values(sum(astype(out, float32), axes)))
                ASSERT_NEAR(g, 1.0, 20 * std::max(rounding(ft), 1e-6));
            }
          }
        }
      }
    }
  }
}

TEST(Softmax, LargeValuesAndOverloads) {
  array x({1000.0f, 1000.0f, 999.0f, -1000.0f}, {2, 2});
  std::vector<double> p = values(softmax(x, -1));
  EXPECT_NEAR(p[0], 0.5, 1e-6);
  EXPECT_NEAR(p[1], 0.5, 1e-6);
  EXPECT_NEAR(p[2], 1.0, 1e-6);
  EXPECT_NEAR(p[3], 0.0, 1e-6);
  std::vector<double> lp = values(log_softmax(x, 1));
  EXPECT_NEAR(lp[0], -std::log(2.0), 1e-5);
  EXPECT_NEAR(lp[3], -1999.0, 1e-2);
  // All axes, and a -inf entry (probability 0, log-probability -inf).
  std::vector<double> all_p = values(softmax(x));
  EXPECT_NEAR(std::accumulate(all_p.begin(), all_p.end(), 0.0), 1.0, 1e-6);
  array y({0.0f, -INFINITY, 0.0f});
  EXPECT_EQ(values(softmax(y)), (std::vector<double>{0.5, 0.0, 0.5}));
  EXPECT_EQ(values(log_softmax(y, 0))[1], -kInf);
  // Long rows cross the chunked paths.
  array r = reshape(arange(0.0, 12000.0, 1.0) / 1000.0f, {2, 6000});
  for (double g : values(sum(softmax(r, 1), 1))) EXPECT_NEAR(g, 1.0, 1e-5);
  for (double g : values(sum(softmax(astype(r, float16), 1, true), 1))) EXPECT_NEAR(g, 1.0, 2e-2);
  EXPECT_EQ(softmax(array(2.0f)).item<float>(), 1.0f);
  EXPECT_EQ(softmax(zeros({0, 3}), 1).shape(), (Shape{0, 3}));
}

// Many short rows (a classifier's logits), which take the block path: lengths around its
// limit, enough rows to split over threads, and rows with nan, inf and -inf, against a
// float64 reference computed here.
TEST(Softmax, ShortRowsMatchReference) {
  std::mt19937 rng(29);
  std::uniform_real_distribution<float> u(-20.0f, 20.0f);
  for (int n : {1, 3, 10, 31, 32, 33}) {
    const int rows = 3001;
    std::vector<float> v(static_cast<size_t>(rows) * n);
    for (auto& e : v) e = u(rng);
    v[0] = NAN;                         // row 0: nan
    v[static_cast<size_t>(n)] = kInf;   // row 1: +inf
    for (int i = 0; i < n; ++i) v[2 * n + i] = -kInf;  // row 2: all -inf
    v[3 * n] = -kInf;                   // row 3: one -inf
    for (int i = 0; i < n; ++i) v[4 * n + i] = 80.0f + i;  // row 4: large values
    for (Dtype t : {float32, float16, bfloat16}) {
      SCOPED_TRACE(dtype_name(t) + " n=" + std::to_string(n));
      array x = astype(array(v.data(), {rows, n}), t);
      std::vector<double> xs = values(x);  // the values as rounded to t
      std::vector<double> lse = values(logsumexp(x, 1)), sm = values(softmax(x, 1)), lsm = values(log_softmax(x, 1));
      const double tol = t == float32 ? 1e-5 : 1e-2;
      for (int r = 0; r < rows; ++r) {
        const double* xr = xs.data() + static_cast<size_t>(r) * n;
        double m = -kInf;
        bool nan = false;
        for (int i = 0; i < n; ++i) {
          nan |= std::isnan(xr[i]);
          m = std::max(m, xr[i]);
        }
        if (nan) {
          EXPECT_TRUE(std::isnan(lse[r])) << "row " << r;
          EXPECT_TRUE(std::isnan(sm[static_cast<size_t>(r) * n])) << "row " << r;
          continue;
        }
        if (std::isinf(m)) {
          EXPECT_EQ(lse[r], m) << "row " << r;
          continue;
        }
        double s = 0.0;
        for (int i = 0; i < n; ++i) s += std::exp(xr[i] - m);
        EXPECT_NEAR(lse[r], m + std::log(s), tol * std::max(1.0, std::abs(m))) << "row " << r;
        for (int i = 0; i < n; ++i) {
          const size_t k = static_cast<size_t>(r) * n + i;
          const double want = xr[i] - m - std::log(s);
          EXPECT_NEAR(sm[k], std::exp(want), tol) << "row " << r << ", " << i;
          if (std::isinf(want)) {
            EXPECT_EQ(lsm[k], want) << "row " << r << ", " << i;
          } else {
            EXPECT_NEAR(lsm[k], want, tol * std::max(1.0, std::abs(want))) << "row " << r << ", " << i;
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------- errors

TEST(ReduceErrors, MessagesNameOpAndValues) {
  array x = zeros({2, 3});
  EXPECT_THROW(sum(x, 3), std::out_of_range);
  EXPECT_EQ(error_of([&] { sum(x, 3); }), "[sum] axis 3 is out of bounds for array with 2 dimensions");
  EXPECT_EQ(error_of([&] { max(x, {0, -3}); }), "[max] axis -3 is out of bounds for array with 2 dimensions");
  EXPECT_THROW(prod(x, {1, -1}), std::invalid_argument);
  EXPECT_NE(error_of([&] { prod(x, {1, -1}); }).find("[prod] received duplicate axis 1"), std::string::npos);
  EXPECT_NE(error_of([&] { mean(x, {0, 0}); }).find("[mean]"), std::string::npos);
  EXPECT_NE(error_of([&] { var(x, 2); }).find("[var] axis 2 is out of bounds"), std::string::npos);
  EXPECT_THROW(ember::std(x, {5}), std::out_of_range);
  EXPECT_THROW(all(x, -3), std::out_of_range);
  EXPECT_THROW(any(x, {0, 0}), std::invalid_argument);
  EXPECT_THROW(sum(array(1.0f), 0), std::out_of_range);

  array e = zeros({0, 3});
  EXPECT_THROW(max(e), std::invalid_argument);
  EXPECT_NE(error_of([&] { max(e, 0); }).find("[max] cannot reduce an array of size 0"), std::string::npos);
  EXPECT_NE(error_of([&] { min(e); }).find("[min] cannot reduce an array of size 0 (shape (0, 3))"), std::string::npos);
  EXPECT_NE(error_of([&] { argmax(e); }).find("[argmax] cannot reduce an array of size 0"), std::string::npos);
  EXPECT_NE(error_of([&] { argmin(e, 0); }).find("[argmin] cannot reduce"), std::string::npos);

  EXPECT_EQ(error_of([&] { argmax(x, 2); }), "[argmax] axis 2 is out of bounds for array with 2 dimensions");
  EXPECT_EQ(error_of([&] { argmin(x, -3); }), "[argmin] axis -3 is out of bounds for array with 2 dimensions");
  EXPECT_EQ(error_of([&] { softmax(x, 2); }), "[softmax] axis 2 is out of bounds for array with 2 dimensions");
  EXPECT_NE(error_of([&] {
              log_softmax(x, {1, 1});
            }).find("[log_softmax] received duplicate axis 1"),
            std::string::npos);
  EXPECT_EQ(error_of([&] { logsumexp(x, 7); }), "[logsumexp] axis 7 is out of bounds for array with 2 dimensions");

  array c(complex64_t(1, 2));
  EXPECT_NE(error_of([&] { max(c); }).find("[max] not supported for complex64"), std::string::npos);
  EXPECT_NE(error_of([&] { argmax(c); }).find("[argmax] not supported for complex64"), std::string::npos);
  EXPECT_NE(error_of([&] { softmax(c); }).find("[softmax] not supported for complex64"), std::string::npos);
  // Complex sums are supported.
  array cs = sum(array({complex64_t(1, 2), complex64_t(3, -1)}));
  EXPECT_EQ(cs.item<complex64_t>(), complex64_t(4, 1));
}
