// Scans (cumsum, cumprod, cummax, cummin, logcumsumexp) against a float64
// reference loop over every axis, direction and inclusive/exclusive mode, on
// several dtypes and layouts, plus empty and 0-d inputs and the error messages;
// then the Scan primitive's vjp/jvp/vmap through the grad_check harness (suite GradScan).
#include <gtest/gtest.h>

#include <ember/ember.h>
#include <ember/primitives.h>

#include <cmath>
#include <functional>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "grad_check.h"
#include "test_utils.h"

using namespace ember;
using test_utils::doubles;
using test_utils::expect_error;

namespace {

using Args = std::vector<array>;
constexpr double kInf = std::numeric_limits<double>::infinity();

using ScanFn = array (*)(const array&, std::optional<int>, bool, bool, StreamOrDevice);

struct OpCase {
  const char* name;
  ScanOp op;
  ScanFn fn;
};

const std::vector<OpCase>& all_ops() {
  static const std::vector<OpCase> ops = {
      {"cumsum", ScanOp::Sum, cumsum},
      {"cumprod", ScanOp::Prod, cumprod},
      {"cummax", ScanOp::Max, cummax},
      {"cummin", ScanOp::Min, cummin},
      {"logcumsumexp", ScanOp::LogAddExp, logcumsumexp},
  };
  return ops;
}

double ref_init(ScanOp op) {
  switch (op) {
    case ScanOp::Sum:
      return 0;
    case ScanOp::Prod:
      return 1;
    case ScanOp::Max:
      return -kInf;
    case ScanOp::Min:
      return kInf;
    case ScanOp::LogAddExp:
      return -kInf;
  }
  return 0;
}

double ref_combine(ScanOp op, double a, double x) {
  switch (op) {
    case ScanOp::Sum:
      return a + x;
    case ScanOp::Prod:
      return a * x;
    case ScanOp::Max:
      return std::isnan(x) || x > a ? x : a;
    case ScanOp::Min:
      return std::isnan(x) || x < a ? x : a;
    case ScanOp::LogAddExp: {
      if (std::isnan(a) || std::isnan(x)) return a + x;
      double m = std::max(a, x);
      if (std::isinf(m)) return m;
      return m + std::log(std::exp(a - m) + std::exp(x - m));
    }
  }
  return 0;
}

// Float64 reference: scan of row-major values `v` of `shape` along `axis` (already normalized).
std::vector<double> ref_scan(const std::vector<double>& v, const Shape& shape, int axis, ScanOp op, bool reverse,
                             bool inclusive) {
  int64_t outer = 1, inner = 1, n = shape[axis];
  for (int i = 0; i < axis; ++i) outer *= shape[i];
  for (size_t i = axis + 1; i < shape.size(); ++i) inner *= shape[i];
  std::vector<double> out(v.size());
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < inner; ++j) {
      double acc = ref_init(op);
      for (int64_t k = 0; k < n; ++k) {
        int64_t i = reverse ? n - 1 - k : k;
        int64_t at = (o * n + i) * inner + j;
        if (!inclusive) out[at] = acc;
        acc = ref_combine(op, acc, v[at]);
        if (inclusive) out[at] = acc;
      }
    }
  }
  return out;
}

// Random float64 values in [low, high), converted to `dtype`.
array random_array(const Shape& shape, Dtype dtype, double low, double high, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> dist(low, high);
  std::vector<double> v(test_utils::numel(shape));
  for (auto& x : v) x = dist(rng);
  return astype(array(v, shape, float64), dtype);
}

void expect_all_close(const std::vector<double>& got, const std::vector<double>& want, double rtol, double atol,
                      const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << what << ": element " << i;
    } else if (std::isinf(want[i])) {
      EXPECT_EQ(got[i], want[i]) << what << ": element " << i;
    } else {
      EXPECT_NEAR(got[i], want[i], atol + rtol * std::abs(want[i])) << what << ": element " << i;
    }
  }
}

// Checks op(x, axis, reverse, inclusive) for every direction and mode against the
// reference on x's own (dtype-rounded) values.
void check_against_reference(const OpCase& c, const array& x, std::optional<int> axis, double rtol, double atol) {
  std::vector<double> xv = doubles(x);
  Shape shape = axis ? x.shape() : Shape{static_cast<int32_t>(x.size())};
  int ax = axis ? (*axis < 0 ? *axis + static_cast<int>(x.ndim()) : *axis) : 0;
  for (bool reverse : {false, true}) {
    for (bool inclusive : {true, false}) {
      std::string what = std::string(c.name) + " axis " + (axis ? std::to_string(*axis) : "none") +
                         (reverse ? " reverse" : "") + (inclusive ? "" : " exclusive") + " " + dtype_name(x.dtype());
      array y = c.fn(x, axis, reverse, inclusive, {});
      ASSERT_EQ(y.shape(), shape) << what;
      std::vector<double> want = ref_scan(xv, shape, ax, c.op, reverse, inclusive);
      if (!is_inexact(y.dtype())) {
        // Integer max/min identities are the dtype's extremes rather than infinities.
        auto [lo, hi] = dispatch_dtype(y.dtype(), [](auto t) {
          using T = decltype(t);
          if constexpr (std::is_same_v<T, complex64_t>) {
            return std::pair<double, double>(0, 0);
          } else {
            return std::pair<double, double>(static_cast<double>(std::numeric_limits<T>::lowest()),
                                             static_cast<double>(std::numeric_limits<T>::max()));
          }
        });
        for (auto& w : want) w = w == -kInf ? lo : w == kInf ? hi : w;
      }
      expect_all_close(doubles(y), want, rtol, atol, what);
    }
  }
}

// Inputs where every op's values stay moderate (cumprod: |x| in [0.5, 1.5]).
array input_for(ScanOp op, const Shape& shape, Dtype dtype, unsigned seed) {
  return op == ScanOp::Prod ? random_array(shape, dtype, 0.5, 1.5, seed) : random_array(shape, dtype, -2, 2, seed);
}

}  // namespace

// ---------------------------------------------------------------- values

TEST(Scan, EveryOpAxisDirectionAndModeFloat32) {
  for (const auto& c : all_ops()) {
    array x = input_for(c.op, {3, 4, 5}, float32, 7);
    for (std::optional<int> axis : {std::optional<int>{}, std::optional<int>{0}, std::optional<int>{1},
                                    std::optional<int>{2}, std::optional<int>{-1}, std::optional<int>{-3}}) {
      check_against_reference(c, x, axis, 1e-5, 1e-5);
    }
  }
}

TEST(Scan, Float64AndHalfDtypes) {
  for (const auto& c : all_ops()) {
    check_against_reference(c, input_for(c.op, {4, 6}, float64, 3), 1, 1e-13, 1e-13);
    check_against_reference(c, input_for(c.op, {4, 6}, float64, 3), 0, 1e-13, 1e-13);
    // Output is rounded to the half type once; the reference runs on the rounded inputs.
    check_against_reference(c, input_for(c.op, {4, 6}, float16, 4), 1, 2e-3, 2e-2);
    check_against_reference(c, input_for(c.op, {6, 4}, bfloat16, 5), 0, 1e-2, 5e-2);
    EXPECT_EQ(c.fn(zeros({3}, float16), std::nullopt, false, true, {}).dtype(), float16);
  }
}

TEST(Scan, HalfAccumulatesInFloat32) {
  // float16 holds integers exactly only up to 2048: a float16 accumulator would stop at 2048.
  array y = cumsum(ones({4096}, float16));
  std::vector<double> v = doubles(y);
  EXPECT_EQ(v.back(), 4096.0);
  EXPECT_EQ(v[2047], 2048.0);
  array yb = cumsum(ones({1024, 3}, bfloat16), 0);  // column path; bfloat16 is exact up to 256
  EXPECT_EQ(doubles(yb).back(), 1024.0);
}

TEST(Scan, IntegerAndBoolDtypes) {
  // Sum/prod of small ints and bool widen like sum/prod; max/min keep the dtype; logcumsumexp -> float32.
  array i8 = astype(array(std::vector<double>{100, 100, -50, 7, 120, 1}, {2, 3}, float64), int8);
  EXPECT_EQ(cumsum(i8).dtype(), int32);
  EXPECT_EQ(doubles(cumsum(i8)), (std::vector<double>{100, 200, 150, 157, 277, 278}));
  EXPECT_EQ(doubles(cumsum(i8, 0, true)), (std::vector<double>{107, 220, -49, 7, 120, 1}));
  EXPECT_EQ(cumprod(i8, 1).dtype(), int32);
  EXPECT_EQ(doubles(cumprod(i8, 1)), (std::vector<double>{100, 10000, -500000, 7, 840, 840}));
  EXPECT_EQ(cummax(i8, 1).dtype(), int8);
  EXPECT_EQ(doubles(cummax(i8, 1, false, false)), (std::vector<double>{-128, 100, 100, -128, 7, 120}));
  EXPECT_EQ(doubles(cummin(i8, 1, true, false)), (std::vector<double>{-50, -50, 127, 1, 1, 127}));
  array u8 = astype(array(std::vector<double>{200, 200, 255}, {3}, float64), uint8);
  EXPECT_EQ(cumsum(u8).dtype(), uint32);
  EXPECT_EQ(doubles(cumsum(u8)), (std::vector<double>{200, 400, 655}));
  array b = astype(array(std::vector<double>{1, 0, 1, 1}, {4}, float64), bool_);
  EXPECT_EQ(cumsum(b).dtype(), int32);
  EXPECT_EQ(doubles(cumsum(b, 0, false, false)), (std::vector<double>{0, 1, 1, 2}));
  EXPECT_EQ(cummax(b).dtype(), bool_);
  EXPECT_EQ(doubles(cummin(b)), (std::vector<double>{1, 0, 0, 0}));
  array i32 = astype(array(std::vector<double>{0, 1, 2}, {3}, float64), int32);
  EXPECT_EQ(logcumsumexp(i32).dtype(), float32);
  expect_all_close(doubles(logcumsumexp(i32)),
                   {0, std::log(1 + std::exp(1.0)), std::log(1 + std::exp(1.0) + std::exp(2.0))}, 1e-6, 1e-6,
                   "logcumsumexp int32");
  for (Dtype t : {int32, int64, uint32}) {
    for (const auto& c : all_ops()) {
      if (c.op == ScanOp::LogAddExp) continue;
      array x = astype(random_array({3, 5}, float64, 0, 4, 11), t);
      check_against_reference(c, x, -1, 0, 0);
      check_against_reference(c, x, 0, 0, 0);
    }
  }
}

TEST(Scan, ComplexSumAndProd) {
  array re = array(std::vector<double>{1, 2, 3}, {3}, float64);
  array z = add(astype(re, complex64), multiply(astype(re, complex64), array(complex64_t(0, 1))));  // k + k i
  auto v = test_utils::cvalues(cumsum(z));
  EXPECT_EQ(v[2], std::complex<double>(6, 6));
  auto p = test_utils::cvalues(cumprod(z));
  EXPECT_EQ(p[1], std::complex<double>(0, 4));  // (1+i)(2+2i) = 4i
}

TEST(Scan, Layouts) {
  // Transposed, sliced (strided), broadcast inputs: values are read through their strides.
  for (const auto& c : all_ops()) {
    array base = input_for(c.op, {4, 5, 6}, float32, 9);
    array tr = transpose(base, {2, 0, 1});
    array sl = slice(base, {0, 1, 0}, {4, 5, 6}, {2, 1, 3});
    array bc = broadcast_to(input_for(c.op, {1, 5}, float32, 10), {3, 5});
    for (int axis : {0, 1, -1}) {
      check_against_reference(c, tr, axis, 1e-5, 1e-5);
      check_against_reference(c, sl, axis, 1e-5, 1e-5);
    }
    check_against_reference(c, bc, 0, 1e-5, 1e-5);
    check_against_reference(c, bc, 1, 1e-5, 1e-5);
    check_against_reference(c, tr, std::nullopt, 1e-5, 1e-5);
  }
}

TEST(Scan, LargeRowsAndColumnsSplitAcrossThreads) {
  // Row path (many rows), column path with a narrow and a multi-tile inner extent.
  for (const auto& c : {all_ops()[0], all_ops()[2], all_ops()[4]}) {
    check_against_reference(c, random_array({64, 3000}, float32, -1, 1, 1), 1, 1e-4, 1e-3);
    check_against_reference(c, random_array({3000, 3}, float32, -1, 1, 2), 0, 1e-4, 1e-3);
    check_against_reference(c, random_array({3, 40, 2500}, float32, -1, 1, 3), 1, 1e-4, 1e-3);
  }
}

TEST(Scan, LongSingleRowsSplitIntoBlocks) {
  // Fewer rows than threads and >= 2^16 elements: each row is cut into blocks scanned
  // from carried-in totals. int32 sums are exact, so the carries are checked exactly.
  array xi = astype(random_array({100003}, float64, -50, 50, 4), int32);
  array x2 = astype(random_array({1, 70001}, float64, -50, 50, 5), int32);
  for (const auto& c : {all_ops()[0], all_ops()[2], all_ops()[3]}) {
    check_against_reference(c, xi, 0, 0, 0);
    check_against_reference(c, x2, 1, 0, 0);
  }
  check_against_reference(all_ops()[4], random_array({100003}, float32, -1, 1, 6), 0, 1e-5, 1e-5);
  check_against_reference(all_ops()[1], random_array({100003}, float64, 0.9999, 1.0001, 7), 0, 1e-12, 0);
}

TEST(Scan, SpecialValues) {
  array x = array(std::vector<double>{1, NAN, 3, -kInf, 2}, {5}, float64);
  expect_all_close(doubles(cummax(x)), {1, NAN, NAN, NAN, NAN}, 0, 0, "cummax nan");
  expect_all_close(doubles(cummin(x, 0, true)), {NAN, NAN, -kInf, -kInf, 2}, 0, 0, "cummin reverse nan");
  array y = array(std::vector<double>{-kInf, -kInf, 0, kInf, 1}, {5}, float32);
  expect_all_close(doubles(logcumsumexp(y)), {-kInf, -kInf, 0, kInf, kInf}, 0, 0, "logcumsumexp infinities");
  expect_all_close(doubles(logcumsumexp(y, 0, false, false)), {-kInf, -kInf, -kInf, 0, kInf}, 0, 0,
                   "logcumsumexp exclusive");
  // Large values stay finite (no exp overflow).
  array big = array(std::vector<double>{1000, 1000}, {2}, float32);
  expect_all_close(doubles(logcumsumexp(big)), {1000, 1000 + std::log(2.0)}, 1e-6, 0, "logcumsumexp large");
  // Exclusive scans start at the identity.
  array f = array(std::vector<double>{2, 3}, {2}, float32);
  EXPECT_EQ(doubles(cumprod(f, 0, false, false)), (std::vector<double>{1, 2}));
  EXPECT_EQ(doubles(cummax(f, 0, false, false)), (std::vector<double>{-kInf, 2}));
  EXPECT_EQ(doubles(cummin(f, 0, true, false)), (std::vector<double>{3, kInf}));
}

TEST(Scan, EmptyAndZeroDim) {
  for (const auto& c : all_ops()) {
    array e = zeros({0, 3}, float32);
    EXPECT_EQ(c.fn(e, 0, false, true, {}).shape(), (Shape{0, 3}));
    EXPECT_EQ(c.fn(e, 1, true, false, {}).shape(), (Shape{0, 3}));
    array flat = c.fn(e, std::nullopt, false, true, {});
    EXPECT_EQ(flat.shape(), (Shape{0}));
    flat.eval();
    array s = array(0.5f);
    array y = c.fn(s, std::nullopt, false, true, {});
    EXPECT_EQ(y.shape(), (Shape{1}));
    EXPECT_NEAR(doubles(y)[0], 0.5, 1e-7) << c.name;
    EXPECT_EQ(doubles(c.fn(s, std::nullopt, false, false, {}))[0], ref_init(c.op)) << c.name;
    expect_error<std::out_of_range>(
        [&] { c.fn(s, 0, false, true, {}); },
        std::string("[") + c.name + "] axis 0 is out of bounds for array with 0 dimensions");
  }
}

TEST(Scan, Errors) {
  array x = zeros({2, 3});
  expect_error<std::out_of_range>([&] { cumsum(x, 2); },
                                  "[cumsum] axis 2 is out of bounds for array with 2 dimensions");
  expect_error<std::out_of_range>([&] { cummax(x, -3); },
                                  "[cummax] axis -3 is out of bounds for array with 2 dimensions");
  array z = zeros({3}, complex64);
  for (auto* name : {"cummax", "cummin", "logcumsumexp"}) {
    for (const auto& c : all_ops()) {
      if (std::string(c.name) != name) continue;
      expect_error<std::invalid_argument>([&] { c.fn(z, 0, false, true, {}); },
                                          std::string("[") + name + "] not supported for complex64 inputs");
    }
  }
}

TEST(Scan, PrimitiveParameters) {
  array x = zeros({2, 3});
  array y = cumsum(x, -1, true, false);
  auto* p = dynamic_cast<Scan*>(y.primitive_ptr().get());
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->axis(), 1);
  EXPECT_TRUE(p->reverse());
  EXPECT_FALSE(p->inclusive());
  EXPECT_TRUE(p->is_equivalent(*cumsum(x, 1, true, false).primitive_ptr()));
  EXPECT_FALSE(p->is_equivalent(*cumsum(x, 1, true, true).primitive_ptr()));
  EXPECT_FALSE(p->is_equivalent(*cumprod(x, 1, true, false).primitive_ptr()));
}

// ---------------------------------------------------------------- gradients

namespace {

// Drops the identity that an exclusive scan puts first (in scan order) along `axis` of a (3, 4, 2) output.
array drop_identity(const array& y, int axis, bool reverse) {
  Shape start = {0, 0, 0}, stop = y.shape();
  int ax = axis < 0 ? axis + 3 : axis;
  if (reverse) {
    stop[ax] -= 1;
  } else {
    start[ax] = 1;
  }
  return slice(y, start, stop);
}

array grad_sum_of(ScanFn fn, const array& x, std::optional<int> axis, bool reverse, bool inclusive) {
  MultiFn mf = [=](const Args& a) { return Args{fn(a[0], axis, reverse, inclusive, {})}; };
  array out = fn(x, axis, reverse, inclusive, {});
  return ember::vjp(mf, {x}, {ones_like(out)}).second[0];
}

}  // namespace

TEST(GradScan, EveryOpThroughTheHarness) {
  for (const auto& c : all_ops()) {
    grad_check::Options o;
    if (c.op == ScanOp::Prod) {
      o.low = 0.5;  // away from 0, where the (MLX) division formula breaks down
      o.high = 1.5;
    }
    for (int axis : {0, 1, -1}) {
      for (bool reverse : {false, true}) {
        for (bool inclusive : {true, false}) {
          SCOPED_TRACE(std::string(c.name) + " axis " + std::to_string(axis) + (reverse ? " reverse" : "") +
                       (inclusive ? "" : " exclusive"));
          ScanFn fn = c.fn;
          auto f = [=](const Args& x) { return fn(x[0], axis, reverse, inclusive, {}); };
          // max/min/logaddexp exclusive scans start at -inf/+inf, where differences are nan:
          // the primitive check compares vjp with jvp only, and the sliced composition checks
          // both against finite differences and vmap.
          bool infinite_start = !inclusive && c.op != ScanOp::Sum && c.op != ScanOp::Prod;
          grad_check::Options po = o;
          if (infinite_start) {
            po.finite_differences = false;
            po.vmap = false;
            grad_check::check_transforms(
                [=](const Args& x) { return drop_identity(fn(x[0], axis, reverse, inclusive, {}), axis, reverse); },
                {{3, 4, 2}}, o);
          }
          grad_check::check(f, {{3, 4, 2}}, po);
        }
      }
    }
  }
}

TEST(GradScan, FlattenedAndComposed) {
  grad_check::check([](const Args& x) { return cumsum(x[0]); }, {{3, 4}});
  grad_check::check([](const Args& x) { return logcumsumexp(x[0], std::nullopt, true); }, {{3, 4}});
  grad_check::check_transforms([](const Args& x) { return multiply(cummax(x[0], 1), logcumsumexp(x[0], 0)); },
                               {{3, 4}});
  // Derivatives of derivatives: grad of sum(logcumsumexp(x) * x).
  grad_check::check_transforms(
      [](const Args& x) {
        MultiFn inner = [](const Args& a) { return Args{sum(multiply(logcumsumexp(a[0], 1), a[0]))}; };
        return ember::vjp(inner, {x[0]}, {array(1.0)}).second[0];
      },
      {{2, 5}});
}

TEST(GradScan, Float32) {
  grad_check::Options o;
  o.eps = 1e-3;
  o.rtol = 1e-3;
  o.atol = 1e-4;
  o.vmap_tol = 1e-5;
  grad_check::check([](const Args& x) { return cumsum(astype(x[0], float32), 1, true); }, {{3, 4, 2}}, o);
  grad_check::check([](const Args& x) { return logcumsumexp(astype(x[0], float32), 0); }, {{3, 4, 2}}, o);
}

TEST(GradScan, MaxMinGradientGoesToTheArgPositions) {
  array x = array(std::vector<double>{1, 3, 2, 5, 4}, {5}, float64);
  EXPECT_EQ(doubles(grad_sum_of(cummax, x, 0, false, true)), (std::vector<double>{1, 2, 0, 2, 0}));
  EXPECT_EQ(doubles(grad_sum_of(cummax, x, 0, true, true)), (std::vector<double>{0, 0, 0, 4, 1}));
  EXPECT_EQ(doubles(grad_sum_of(cummax, x, 0, false, false)), (std::vector<double>{1, 2, 0, 1, 0}));
  EXPECT_EQ(doubles(grad_sum_of(cummin, x, 0, false, true)), (std::vector<double>{5, 0, 0, 0, 0}));
  EXPECT_EQ(doubles(grad_sum_of(cummin, x, 0, true, false)), (std::vector<double>{0, 0, 2, 0, 2}));
  // Ties: each output takes its value from the latest position that reached it.
  array t = array(std::vector<double>{2, 2, 1}, {3}, float64);
  EXPECT_EQ(doubles(grad_sum_of(cummax, t, 0, false, true)), (std::vector<double>{1, 2, 0}));
}

TEST(GradScan, SumAndLogcumsumexpByHand) {
  array x = array(std::vector<double>{0, 1, 2}, {3}, float64);
  EXPECT_EQ(doubles(grad_sum_of(cumsum, x, 0, false, true)), (std::vector<double>{3, 2, 1}));
  EXPECT_EQ(doubles(grad_sum_of(cumsum, x, 0, true, false)), (std::vector<double>{0, 1, 2}));
  // Exclusive logcumsumexp: out = (-inf, 0, log(1 + e)); the -inf start must not make nan.
  double e = std::exp(1.0);
  expect_all_close(doubles(grad_sum_of(logcumsumexp, x, 0, false, false)), {1 + 1 / (1 + e), e / (1 + e), 0}, 1e-12,
                   1e-12, "logcumsumexp exclusive grad");
  // Large inputs: no overflow in the gradient.
  array big = array(std::vector<double>{1000, 1000}, {2}, float64);
  expect_all_close(doubles(grad_sum_of(logcumsumexp, big, 0, false, true)), {1.5, 0.5}, 1e-12, 1e-12,
                   "logcumsumexp large grad");
}

TEST(GradScan, CumprodByHand) {
  // out = (2, 6, 24); d sum / dx = (1 + 3 + 12, 2 + 8, 6).
  array x = array(std::vector<double>{2, 3, 4}, {3}, float64);
  EXPECT_EQ(doubles(grad_sum_of(cumprod, x, 0, false, true)), (std::vector<double>{16, 10, 6}));
  // Exclusive: out = (1, 2, 6); d/dx = (1 + 3, 2, 0).
  EXPECT_EQ(doubles(grad_sum_of(cumprod, x, 0, false, false)), (std::vector<double>{4, 2, 0}));
}
