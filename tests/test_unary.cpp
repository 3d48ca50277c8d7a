// Unary elementwise ops against a long double reference computed here: random
// inputs in each op's domain, special values, every dtype, layouts and errors.
#include <gtest/gtest.h>

#include <ember/ember.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdio>
#include <functional>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "test_utils.h"

using namespace ember;
using namespace test_utils;

namespace {

constexpr long double kPi = 3.141592653589793238462643383279502884L;
constexpr double kInf = std::numeric_limits<double>::infinity();
const double kNan = std::numeric_limits<double>::quiet_NaN();

struct Format {
  int digits, emin;
  double max;
};
Format format_of(Dtype t) {
  if (t == float16) return {11, -14, 65504.0};
  if (t == bfloat16) return {8, -126, std::ldexp(255.0, 120)};
  if (t == float32) return {24, -126, std::numeric_limits<float>::max()};
  return {53, -1022, std::numeric_limits<double>::max()};
}

// Spacing of format `f` at `ref` (the subnormal spacing near 0).
double ulp(long double ref, Format f) {
  int e = f.emin;
  if (ref != 0 && std::isfinite(ref)) std::frexp(ref, &e), e -= 1;
  return std::ldexp(1.0, std::max(e, f.emin) - (f.digits - 1));
}

// `got` is within `max_ulps` of `ref` in dtype t, or within the smallest normal
// of t (results near 0, where a library may flush denormals); nan matches nan,
// infinities and the sign of an exact zero must match.
::testing::AssertionResult near_ref(double got, long double ref, Dtype t, double max_ulps) {
  Format f = format_of(t);
  auto fail = [&]() {
    std::ostringstream os;
    os.precision(17);
    os << "got " << got << ", reference " << static_cast<double>(ref) << " ("
       << static_cast<double>(std::fabs(got - ref) / ulp(ref, f)) << " ulp of " << t << ")";
    return ::testing::AssertionFailure() << os.str();
  };
  if (std::isnan(ref)) return std::isnan(got) ? ::testing::AssertionSuccess() : fail();
  if (std::isnan(got)) return fail();
  if (std::isinf(ref) || std::isinf(got)) {
    // Overflow: a finite reference beyond the largest value may round to inf.
    bool ok = got == ref || (std::isinf(got) && std::fabs(ref) > f.max && std::signbit(got) == std::signbit(ref));
    return ok ? ::testing::AssertionSuccess() : fail();
  }
  if (ref == 0 && got == 0 && std::signbit(got) != std::signbit(ref)) return fail();
  long double diff = std::fabs(got - ref);
  if (diff <= max_ulps * ulp(ref, f) || diff <= std::ldexp(1.0, f.emin)) return ::testing::AssertionSuccess();
  return fail();
}

// Exact match of two result vectors (nan == nan, signed zeros distinguished).
::testing::AssertionResult same_values(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return ::testing::AssertionFailure() << "sizes " << a.size() << " vs " << b.size();
  for (size_t i = 0; i < a.size(); ++i) {
    bool same = (std::isnan(a[i]) && std::isnan(b[i])) || (a[i] == b[i] && std::signbit(a[i]) == std::signbit(b[i]));
    if (!same) return ::testing::AssertionFailure() << "element " << i << ": " << a[i] << " vs " << b[i];
  }
  return ::testing::AssertionSuccess();
}

// erfinv by bisection on erf (erfc in the tails, where 1 - |x| is exact and erfc keeps its relative accuracy).
long double erfinv_ref(long double x) {
  if (std::isnan(x) || std::fabs(x) > 1) return std::numeric_limits<long double>::quiet_NaN();
  if (std::fabs(x) == 1) return std::copysign(std::numeric_limits<long double>::infinity(), x);
  if (x == 0) return x;
  long double ax = std::fabs(x), lo = 0, hi = 10;
  bool tail = ax > 0.5L;
  long double target = tail ? 1 - ax : ax;
  for (int i = 0; i < 200 && lo < hi; ++i) {
    long double mid = (lo + hi) / 2;
    if (mid == lo || mid == hi) break;
    bool below = tail ? std::erfc(mid) > target : std::erf(mid) < target;
    (below ? lo : hi) = mid;
  }
  return std::copysign((lo + hi) / 2, x);
}

struct UnaryCase {
  std::string name;
  std::function<array(const array&)> op;
  std::function<long double(long double)> ref;
  double lo, hi;        // random inputs, uniform in [lo, hi]
  bool tiny = false;    // also try inputs near 0 (cancellation-prone ops)
  double low_ulps = 1;  // float16 / bfloat16 tolerance
  double f32_ulps = 2;
  double f64_ulps = 2;
};

std::vector<UnaryCase> float_cases() {
  using L = long double;
  std::vector<UnaryCase> c = {
      {"abs", [](const array& x) { return abs(x); }, [](L x) { return std::fabs(x); }, -100, 100},
      {"negative", [](const array& x) { return negative(x); }, [](L x) { return -x; }, -100, 100},
      {"sign", [](const array& x) { return sign(x); },
       [](L x) { return x > 0    ? L(1)
                        : x < 0  ? L(-1)
                        : x == 0 ? L(0)
                                 : x; }, -3, 3},
      {"sqrt", [](const array& x) { return sqrt(x); }, [](L x) { return std::sqrt(x); }, 0, 1e4, true},
      {"rsqrt", [](const array& x) { return rsqrt(x); }, [](L x) { return 1 / std::sqrt(x); }, 0, 1e4, true},
      {"square", [](const array& x) { return square(x); }, [](L x) { return x * x; }, -200, 200},
      {"reciprocal", [](const array& x) { return reciprocal(x); }, [](L x) { return 1 / x; }, -100, 100, true},
      {"exp", [](const array& x) { return exp(x); }, [](L x) { return std::exp(x); }, -100, 90},
      {"expm1", [](const array& x) { return expm1(x); }, [](L x) { return std::expm1(x); }, -20, 20, true},
      {"log", [](const array& x) { return log(x); }, [](L x) { return std::log(x); }, 0, 1e6, true},
      {"log1p", [](const array& x) { return log1p(x); }, [](L x) { return std::log1p(x); }, -1, 100, true},
      {"log2", [](const array& x) { return log2(x); }, [](L x) { return std::log2(x); }, 0, 1e6, true},
      {"log10", [](const array& x) { return log10(x); }, [](L x) { return std::log10(x); }, 0, 1e6, true},
      {"sin", [](const array& x) { return sin(x); }, [](L x) { return std::sin(x); }, -100, 100, true},
      {"cos", [](const array& x) { return cos(x); }, [](L x) { return std::cos(x); }, -100, 100},
      {"tan", [](const array& x) { return tan(x); }, [](L x) { return std::tan(x); }, -1.5, 1.5, true},
      {"arcsin", [](const array& x) { return arcsin(x); }, [](L x) { return std::asin(x); }, -1, 1, true},
      {"arccos", [](const array& x) { return arccos(x); }, [](L x) { return std::acos(x); }, -1, 1},
      {"arctan", [](const array& x) { return arctan(x); }, [](L x) { return std::atan(x); }, -100, 100, true},
      {"sinh", [](const array& x) { return sinh(x); }, [](L x) { return std::sinh(x); }, -20, 20, true},
      {"cosh", [](const array& x) { return cosh(x); }, [](L x) { return std::cosh(x); }, -20, 20},
      {"tanh", [](const array& x) { return tanh(x); }, [](L x) { return std::tanh(x); }, -10, 10, true},
      {"arcsinh", [](const array& x) { return arcsinh(x); }, [](L x) { return std::asinh(x); }, -100, 100, true},
      {"arccosh", [](const array& x) { return arccosh(x); }, [](L x) { return std::acosh(x); }, 1, 100},
      {"arctanh", [](const array& x) { return arctanh(x); }, [](L x) { return std::atanh(x); }, -1, 1, true},
      {"sigmoid", [](const array& x) { return sigmoid(x); }, [](L x) { return 1 / (1 + std::exp(-x)); }, -60, 40},
      {"erf", [](const array& x) { return erf(x); }, [](L x) { return std::erf(x); }, -5, 5, true},
      {"erfinv", [](const array& x) { return erfinv(x); }, erfinv_ref, -1, 1, true},
      {"floor", [](const array& x) { return floor(x); }, [](L x) { return std::floor(x); }, -100, 100},
      {"ceil", [](const array& x) { return ceil(x); }, [](L x) { return std::ceil(x); }, -100, 100},
      {"round", [](const array& x) { return round(x); }, [](L x) { return std::nearbyint(x); }, -100, 100},
      {"degrees", [](const array& x) { return degrees(x); }, [](L x) { return x * (180 / kPi); }, -10, 10, true},
      {"radians", [](const array& x) { return radians(x); }, [](L x) { return x * (kPi / 180); }, -1000, 1000, true},
  };
  for (auto& k : c) {
    if (k.name == "degrees" || k.name == "radians") k.low_ulps = 2;  // the constant is rounded to the dtype first
  }
  return c;
}

// Random inputs for a case, plus values near the ends and (for `tiny`) near 0.
std::vector<double> case_inputs(const UnaryCase& c, int n, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(c.lo, c.hi);
  std::vector<double> x;
  for (int i = 0; i < n; ++i) x.push_back(u(rng));
  for (int k = 0; k < 16; ++k) {
    x.push_back(c.lo + (c.hi - c.lo) * std::ldexp(1.0, -k - 4));
    x.push_back(c.hi - (c.hi - c.lo) * std::ldexp(1.0, -k - 4));
  }
  x.push_back(c.lo);
  x.push_back(c.hi);
  if (c.tiny) {
    for (int k = 1; k < 60; ++k) {
      double v = std::ldexp(1.0, -2 * k) * (1 + 0.1 * k);
      if (v >= c.lo && v <= c.hi) x.push_back(v);
      if (-v >= c.lo && -v <= c.hi) x.push_back(-v);
    }
  }
  if (c.name == "round" || c.name == "floor" || c.name == "ceil") {
    for (double h = -4.5; h <= 4.5; h += 0.5) x.push_back(h);  // ties and integers
  }
  return x;
}

// float32 ulps allowed for a case whose CPU bound is `cpu_ulps`: CUDA's math library documents
// up to 4 ulp for its float functions (tanf; expf and sinf 2), so GPU results get that much.
double f32_ulps(double cpu_ulps) { return default_device() == Device::gpu ? std::max(cpu_ulps, 4.0) : cpu_ulps; }

// float64 likewise: CUDA documents up to 5 ulp for erfinv (2 for most others).
double f64_ulps(double cpu_ulps) { return default_device() == Device::gpu ? std::max(cpu_ulps, 5.0) : cpu_ulps; }

double tolerance(const UnaryCase& c, Dtype t) {
  return t == float32 ? f32_ulps(c.f32_ulps) : t == float64 ? f64_ulps(c.f64_ulps) : c.low_ulps;
}

// Runs `c` on `x` (as dtype t) and compares every element with the reference
// of the (rounded) input actually stored.
void check_case(const UnaryCase& c, const std::vector<double>& x, Dtype t, Shape shape = {}) {
  if (shape.empty()) shape = {static_cast<int32_t>(x.size())};
  array in(x, shape, t);
  array out = c.op(in);
  ASSERT_EQ(out.dtype(), t) << c.name;
  ASSERT_EQ(out.shape(), shape) << c.name;
  std::vector<double> xin = doubles(in), got = doubles(out);
  int failures = 0;
  for (size_t i = 0; i < x.size() && failures < 5; ++i) {
    auto r = near_ref(got[i], c.ref(xin[i]), t, tolerance(c, t));
    if (!r) {
      ADD_FAILURE() << c.name << "(" << t << " " << xin[i] << "): " << r.message();
      ++failures;
    }
  }
}

}  // namespace

// ---------------------------------------------------------------- real floating point

TEST(Unary, FloatOpsMatchReferenceOnRandomInputs) {
  std::mt19937_64 rng(1234);
  for (const auto& c : float_cases()) {
    for (Dtype t : {float32, float64, float16, bfloat16}) {
      SCOPED_TRACE(c.name + " " + dtype_name(t));
      check_case(c, case_inputs(c, 3000, rng), t);
    }
  }
}

TEST(Unary, FloatOpsSpecialValues) {
  std::vector<double> specials = {0.0, -0.0, kInf, -kInf, kNan, -kNan, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 1e-30};
  for (const auto& c : float_cases()) {
    for (Dtype t : {float32, float64, float16, bfloat16}) {
      SCOPED_TRACE(c.name + " " + dtype_name(t));
      check_case(c, specials, t);
    }
  }
}

TEST(Unary, Float32ExpAndSigmoidWholeRange) {
  // The SIMD paths: every float32 exponent, both signs, overflow and underflow edges.
  std::vector<double> x;
  for (int e = -149; e <= 7; ++e) {
    for (double m : {1.0, 1.3, 1.7, 1.99}) {
      x.push_back(std::ldexp(m, e));
      x.push_back(-std::ldexp(m, e));
    }
  }
  for (double v : {88.72, 88.7228, 88.73, 89.0, 103.0, 104.0, 200.0, 1e30, -87.3, -87.34, -103.0, -103.97, -104.0,
                   -150.0, -1e30, 16.0, -16.0, 17.0, -17.0}) {
    x.push_back(v);
  }
  for (auto& c : float_cases()) {
    if (c.name == "exp" || c.name == "sigmoid" || c.name == "expm1") check_case(c, x, float32);
  }
}

TEST(Unary, IntegerInputsPromoteToFloat32) {
  std::vector<std::string> names = {"sqrt",    "rsqrt",   "reciprocal", "exp",     "expm1",  "log",
                                    "log1p",   "log2",    "sin",        "cos",     "arctan", "tanh",
                                    "arcsinh", "sigmoid", "erf",        "degrees", "radians"};
  std::vector<UnaryCase> cases;
  for (auto& c : float_cases()) {
    if (std::find(names.begin(), names.end(), c.name) != names.end()) cases.push_back(c);
  }
  ASSERT_EQ(cases.size(), names.size());
  for (Dtype t : {bool_, uint8, uint16, uint32, uint64, int8, int16, int32, int64}) {
    std::vector<double> x =
        t == bool_ ? std::vector<double>{0, 1, 1, 0} : std::vector<double>{0, 1, 2, 3, 7, 10, 50, 100};
    if (!is_unsigned(t) && t != bool_) x.insert(x.end(), {-1, -2, -7, -100});
    array in(x, Shape{static_cast<int32_t>(x.size())}, t);
    for (auto& c : cases) {
      SCOPED_TRACE(c.name + " " + dtype_name(t));
      array out = c.op(in);
      ASSERT_EQ(out.dtype(), float32);
      auto got = doubles(out);
      for (size_t i = 0; i < x.size(); ++i) EXPECT_TRUE(near_ref(got[i], c.ref(x[i]), float32, 2)) << x[i];
    }
  }
}

TEST(Unary, RoundWithDecimalsMatchesNumPy) {
  std::vector<double> x = {1.235,     2.675,      -2.675, 0.5,   1.5,  2.5,  -0.5,  -1.5,       250,    350,    -250,
                           1234.5678, -1234.5678, 0.125,  0.375, 1e-3, 5e-3, 0.045, 12345.6789, 99.995, -0.004, 7.0};
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u(-2000, 2000);
  for (int i = 0; i < 40; ++i) x.push_back(std::round(u(rng) * 1000) / 1000 + 0.0005);
  std::ostringstream script;
  script.precision(17);
  script << "import numpy as np\nx=[";
  for (double v : x) script << v << ",";
  script << "]\nfor dt in ('float32','float64'):\n a=np.array(x,dtype=dt)\n for d in range(-2,4):\n"
         << "  print(' '.join(repr(float(v)) for v in np.round(a,d)))\n";
  std::string cmd = "python3 -c \"" + script.str() + "\" 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int rc = pclose(p);
  ASSERT_EQ(rc, 0) << "this test needs python3 with numpy (pip install numpy, or scripts/install-deps): " << out;
  std::istringstream lines(out);
  for (Dtype t : {float32, float64}) {
    array a(x, Shape{static_cast<int32_t>(x.size())}, t);
    for (int d = -2; d < 4; ++d) {
      std::string line;
      ASSERT_TRUE(std::getline(lines, line)) << out;
      std::istringstream ls(line);
      std::vector<double> expect;
      std::string tok;
      while (ls >> tok) expect.push_back(std::strtod(tok.c_str(), nullptr));
      array r = round(a, d);
      EXPECT_EQ(r.dtype(), t);
      EXPECT_TRUE(same_values(doubles(r), expect)) << t << " decimals=" << d;
    }
  }
  // float16 and integers.
  array h({1.25f, 2.5f, -3.75f}, float16);
  EXPECT_TRUE(same_values(doubles(round(h, 1)), {1.2001953125, 2.5, -3.80078125}));  // float16 nearest of 1.2, -3.8
  array i({-15, 25, 7}, int32);
  EXPECT_EQ(round(i).dtype(), int32);
  EXPECT_TRUE(same_values(doubles(round(i, 1)), {-15, 25, 7}));
}

TEST(Unary, ClassificationOps) {
  std::vector<double> x = {0.0, -0.0, 1.5, -2.0, kInf, -kInf, kNan, 65504, 1e30};
  for (Dtype t : {float16, bfloat16, float32, float64}) {
    SCOPED_TRACE(dtype_name(t));
    array a(x, Shape{static_cast<int32_t>(x.size())}, t);
    auto xs = doubles(a);  // 1e30 is inf in float16
    auto check = [&](array r, auto pred) {
      ASSERT_EQ(r.dtype(), bool_);
      auto got = values<bool>(r);
      for (size_t i = 0; i < xs.size(); ++i) EXPECT_EQ(got[i], pred(xs[i])) << xs[i];
    };
    check(isnan(a), [](double v) { return std::isnan(v); });
    check(isinf(a), [](double v) { return std::isinf(v); });
    check(isposinf(a), [](double v) { return v == kInf; });
    check(isneginf(a), [](double v) { return v == -kInf; });
    check(isfinite(a), [](double v) { return std::isfinite(v); });
  }
  for (Dtype t : {bool_, uint8, int8, int32, uint64, int64}) {
    array a(std::vector<double>{0, 1, 1}, Shape{3}, t);
    EXPECT_EQ(values<bool>(isnan(a)), std::vector<bool>(3, false)) << t;
    EXPECT_EQ(values<bool>(isinf(a)), std::vector<bool>(3, false)) << t;
    EXPECT_EQ(values<bool>(isposinf(a)), std::vector<bool>(3, false)) << t;
    EXPECT_EQ(values<bool>(isneginf(a)), std::vector<bool>(3, false)) << t;
    EXPECT_EQ(values<bool>(isfinite(a)), std::vector<bool>(3, true)) << t;
  }
  std::vector<complex64_t> z = {{1, 2}, {float(kNan), 0}, {0, float(kInf)}, {float(-kInf), float(kNan)}};
  array cz(z, Shape{4});
  EXPECT_EQ(values<bool>(isnan(cz)), (std::vector<bool>{false, true, false, true}));
  EXPECT_EQ(values<bool>(isinf(cz)), (std::vector<bool>{false, false, true, true}));
  EXPECT_EQ(values<bool>(isfinite(cz)), (std::vector<bool>{true, false, false, false}));
}

TEST(Unary, NanToNum) {
  std::vector<double> x = {kNan, kInf, -kInf, 1.5, -0.0};
  for (Dtype t : {float16, bfloat16, float32, float64}) {
    SCOPED_TRACE(dtype_name(t));
    array a(x, Shape{5}, t);
    double mx = format_of(t).max;
    array d = nan_to_num(a);
    EXPECT_EQ(d.dtype(), t);
    EXPECT_TRUE(same_values(doubles(d), {0.0, mx, -mx, 1.5, -0.0}));
    EXPECT_TRUE(same_values(doubles(nan_to_num(a, 7.0f, 100.0f, -100.0f)), {7.0, 100.0, -100.0, 1.5, -0.0}));
    EXPECT_TRUE(same_values(doubles(nan_to_num(a, -1.0f, std::nullopt, -3.0f)), {-1.0, mx, -3.0, 1.5, -0.0}));
  }
  array i({1, -2}, int32);
  EXPECT_EQ(values<int32_t>(nan_to_num(i)), (std::vector<int32_t>{1, -2}));
}

// ---------------------------------------------------------------- integers and bool

TEST(Unary, IntegerOpsWrapLikeNumPy) {
  std::mt19937_64 rng(99);
  for (Dtype t : {uint8, uint16, uint32, uint64, int8, int16, int32, int64}) {
    dispatch_dtype(t, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
        using U = uint64_t;
        std::vector<T> x = {0, 1, T(-1), std::numeric_limits<T>::min(), std::numeric_limits<T>::max(), 3, T(-7)};
        for (int i = 0; i < 500; ++i) x.push_back(static_cast<T>(rng() >> (rng() % 64)));
        array a(x, Shape{static_cast<int32_t>(x.size())});
        auto ab = values<T>(abs(a)), ng = values<T>(negative(a)), sg = values<T>(sign(a)), sq = values<T>(square(a));
        auto inv = values<T>(bitwise_invert(a));
        auto lnot = values<bool>(logical_not(a));
        auto fl = values<T>(floor(a)), ce = values<T>(ceil(a)), ro = values<T>(round(a));
        for (size_t i = 0; i < x.size(); ++i) {
          T v = x[i];
          SCOPED_TRACE(std::to_string(static_cast<long long>(v)) + " " + dtype_name(t));
          T neg = static_cast<T>(U(0) - static_cast<U>(v));
          EXPECT_EQ(ab[i], std::is_signed_v<T> && v < 0 ? neg : v);
          EXPECT_EQ(ng[i], neg);
          EXPECT_EQ(sg[i], static_cast<T>(v > 0 ? 1 : (v == 0 ? 0 : -1)));
          EXPECT_EQ(sq[i], static_cast<T>(static_cast<U>(v) * static_cast<U>(v)));
          EXPECT_EQ(inv[i], static_cast<T>(~static_cast<U>(v)));
          EXPECT_EQ(lnot[i], v == 0);
          EXPECT_EQ(fl[i], v);
          EXPECT_EQ(ce[i], v);
          EXPECT_EQ(ro[i], v);
        }
        EXPECT_EQ(abs(a).dtype(), t);
        EXPECT_EQ(square(a).dtype(), t);
      }
    });
  }
}

TEST(Unary, BoolOps) {
  array b({true, false, true});
  EXPECT_EQ(values<bool>(logical_not(b)), (std::vector<bool>{false, true, false}));
  EXPECT_EQ(values<bool>(bitwise_invert(b)), (std::vector<bool>{false, true, false}));
  EXPECT_EQ(values<bool>(abs(b)), (std::vector<bool>{true, false, true}));
  EXPECT_EQ(values<bool>(sign(b)), (std::vector<bool>{true, false, true}));
  EXPECT_EQ(values<bool>(square(b)), (std::vector<bool>{true, false, true}));
  EXPECT_EQ(values<bool>(!b), (std::vector<bool>{false, true, false}));
  for (Dtype t : {float32, float16, int32, complex64}) {
    array a(std::vector<double>{0, -0.0, 2, kNan}, Shape{4}, t);
    if (t == int32) a = array({0, 0, 2, 3});
    EXPECT_EQ(values<bool>(logical_not(a)), (std::vector<bool>{true, true, false, false})) << t;
  }
}

// ---------------------------------------------------------------- complex

TEST(Unary, ComplexOps) {
  using CL = std::complex<long double>;
  struct ComplexCase {
    std::string name;
    std::function<array(const array&)> op;
    std::function<CL(CL)> ref;
  };
  std::vector<ComplexCase> cases = {
      {"negative", [](const array& x) { return negative(x); }, [](CL z) { return -z; }},
      {"square", [](const array& x) { return square(x); }, [](CL z) { return z * z; }},
      {"reciprocal", [](const array& x) { return reciprocal(x); }, [](CL z) { return CL(1) / z; }},
      {"sqrt", [](const array& x) { return sqrt(x); }, [](CL z) { return std::sqrt(z); }},
      {"rsqrt", [](const array& x) { return rsqrt(x); }, [](CL z) { return CL(1) / std::sqrt(z); }},
      {"exp", [](const array& x) { return exp(x); }, [](CL z) { return std::exp(z); }},
      {"log", [](const array& x) { return log(x); }, [](CL z) { return std::log(z); }},
      {"log2", [](const array& x) { return log2(x); }, [](CL z) { return std::log(z) / std::log(2.0L); }},
      {"log10", [](const array& x) { return log10(x); }, [](CL z) { return std::log10(z); }},
      {"sin", [](const array& x) { return sin(x); }, [](CL z) { return std::sin(z); }},
      {"cos", [](const array& x) { return cos(x); }, [](CL z) { return std::cos(z); }},
      {"tan", [](const array& x) { return tan(x); }, [](CL z) { return std::tan(z); }},
      {"arcsin", [](const array& x) { return arcsin(x); }, [](CL z) { return std::asin(z); }},
      {"arccos", [](const array& x) { return arccos(x); }, [](CL z) { return std::acos(z); }},
      {"arctan", [](const array& x) { return arctan(x); }, [](CL z) { return std::atan(z); }},
      {"sinh", [](const array& x) { return sinh(x); }, [](CL z) { return std::sinh(z); }},
      {"cosh", [](const array& x) { return cosh(x); }, [](CL z) { return std::cosh(z); }},
      {"tanh", [](const array& x) { return tanh(x); }, [](CL z) { return std::tanh(z); }},
      {"arcsinh", [](const array& x) { return arcsinh(x); }, [](CL z) { return std::asinh(z); }},
      {"arccosh", [](const array& x) { return arccosh(x); }, [](CL z) { return std::acosh(z); }},
      {"arctanh", [](const array& x) { return arctanh(x); }, [](CL z) { return std::atanh(z); }},
      {"conjugate", [](const array& x) { return conjugate(x); }, [](CL z) { return std::conj(z); }},
      {"sign", [](const array& x) { return sign(x); }, [](CL z) { return z / std::abs(z); }},
      {"round", [](const array& x) { return round(x); },
       [](CL z) { return CL(std::nearbyint(z.real()), std::nearbyint(z.imag())); }},
  };
  std::mt19937_64 rng(77);
  std::uniform_real_distribution<float> u(-2.5f, 2.5f);
  std::vector<complex64_t> z;
  for (int i = 0; i < 400; ++i) z.push_back({u(rng), u(rng)});
  z.push_back({0.5f, 0.0f});
  z.push_back({-1.5f, 0.25f});
  array a(z, Shape{static_cast<int32_t>(z.size())});
  for (auto& c : cases) {
    SCOPED_TRACE(c.name);
    array r = c.op(a);
    ASSERT_EQ(r.dtype(), complex64);
    auto got = values<complex64_t>(r);
    for (size_t i = 0; i < z.size(); ++i) {
      CL ref = c.ref(CL(z[i].real(), z[i].imag()));
      long double err = std::abs(CL(got[i].real(), got[i].imag()) - ref);
      ASSERT_LE(err, 4e-6L * std::max(std::abs(ref), 1e-3L))
          << z[i] << " -> " << got[i] << " vs (" << ref.real() << "," << ref.imag() << ")";
    }
  }
  // Complex to real.
  auto ab = values<float>(abs(a)), re = values<float>(real(a)), im = values<float>(imag(a));
  ASSERT_EQ(abs(a).dtype(), float32);
  for (size_t i = 0; i < z.size(); ++i) {
    EXPECT_TRUE(near_ref(ab[i], std::hypot(static_cast<long double>(z[i].real()), z[i].imag()), float32, 2));
    EXPECT_EQ(re[i], z[i].real());
    EXPECT_EQ(im[i], z[i].imag());
  }
  // Real inputs: real is the identity, imag is zero, conjugate is the identity.
  array f({1.5f, -2.0f});
  EXPECT_EQ(values<float>(real(f)), (std::vector<float>{1.5f, -2.0f}));
  EXPECT_EQ(values<float>(imag(f)), (std::vector<float>{0.0f, 0.0f}));
  EXPECT_EQ(values<float>(conjugate(f)), (std::vector<float>{1.5f, -2.0f}));
  EXPECT_EQ(values<bool>(isnan(sign(array(complex64_t(0, 0))))), std::vector<bool>{false});
}

// ---------------------------------------------------------------- layouts

TEST(Unary, ResultsDoNotDependOnLayout) {
  std::mt19937_64 rng(8);
  std::uniform_real_distribution<double> u(-6, 6);
  std::vector<double> base(40 * 66);
  for (auto& v : base) v = u(rng);
  base[5] = kNan;
  base[77] = -0.0;
  base[100] = kInf;
  std::vector<std::function<array(const array&)>> ops = {
      [](const array& x) { return exp(x); },       [](const array& x) { return sigmoid(x); },
      [](const array& x) { return sin(x); },       [](const array& x) { return abs(x); },
      [](const array& x) { return round(x); },     [](const array& x) { return tanh(x); },
      [](const array& x) { return erf(x); },       [](const array& x) { return square(x); },
      [](const array& x) { return log1p(x); },     [](const array& x) { return astype(isnan(x), float32); },
      [](const array& x) { return erfinv(x / 7); }};
  for (Dtype t : {float32, float16, float64, bfloat16}) {
    array x(base, Shape{40, 66}, t);
    // Views with the same logical shape (33, 20): transposed, sliced with steps, broadcast rows.
    array tr = transpose(slice(x, {0, 0}, {20, 33}));
    array st = slice(x, {1, 0}, {40, 66}, {2, 2});  // (20, 33)
    array st_t = transpose(st);                     // (33, 20)
    array bc = broadcast_to(slice(x, {3, 0}, {4, 20}), {33, 20});
    for (auto& op : ops) {
      for (const array& v : {tr, st_t, bc}) {
        array dense(doubles(v), v.shape(), t);  // the same values, row-contiguous
        EXPECT_TRUE(same_values(doubles(op(v)), doubles(op(dense)))) << t;
      }
    }
  }
}

TEST(Unary, LargeArraysSplitAcrossThreads) {
  // 600 x 300 = 180000 elements > 2^17: the thread pool splits the work.
  std::mt19937_64 rng(21);
  std::uniform_real_distribution<double> u(-30, 30);
  std::vector<double> base(600 * 300);
  for (auto& v : base) v = u(rng);
  array x(base, Shape{600, 300}, float32);
  auto xs = doubles(x);
  for (auto& c : float_cases()) {
    if (c.name != "exp" && c.name != "sigmoid" && c.name != "sin" && c.name != "abs") continue;
    SCOPED_TRACE(c.name);
    auto got = doubles(c.op(x));
    for (size_t i = 0; i < xs.size(); ++i) ASSERT_TRUE(near_ref(got[i], c.ref(xs[i]), float32, f32_ulps(2))) << i;
    auto got_t = doubles(c.op(transpose(x)));
    for (size_t i = 0; i < 300; ++i) {
      for (size_t j = 0; j < 600; ++j) ASSERT_EQ(got_t[i * 600 + j], got[j * 300 + i]);
    }
  }
}

TEST(Unary, EmptyAndZeroDim) {
  for (Dtype t : {float32, float16, int32, complex64}) {
    array e = zeros({0, 3}, t);
    EXPECT_EQ(negative(e).shape(), (Shape{0, 3}));
    EXPECT_EQ(negative(e).size(), 0u);
    EXPECT_NO_THROW(eval(std::vector<array>{negative(e), square(e), exp(e), isnan(e)}));
    EXPECT_EQ(exp(e).dtype(), is_inexact(t) ? t : float32);
  }
  array s(0.5f);
  EXPECT_TRUE(near_ref(exp(s).item<float>(), std::exp(0.5L), float32, 2));
  EXPECT_EQ(exp(s).ndim(), 0u);
  EXPECT_EQ(sigmoid(array(-0.0)).item<double>(), 0.5);
  EXPECT_EQ(abs(array(-3)).item<int>(), 3);
}

// ---------------------------------------------------------------- errors

TEST(Unary, ErrorsNameOpAndDtype) {
  array z(std::vector<complex64_t>{{1, 1}}, Shape{1});
  for (auto& [name, fn] : std::vector<std::pair<std::string, std::function<array(const array&)>>>{
           {"expm1", [](const array& x) { return expm1(x); }},
           {"log1p", [](const array& x) { return log1p(x); }},
           {"sigmoid", [](const array& x) { return sigmoid(x); }},
           {"erf", [](const array& x) { return erf(x); }},
           {"erfinv", [](const array& x) { return erfinv(x); }},
           {"floor", [](const array& x) { return floor(x); }},
           {"ceil", [](const array& x) { return ceil(x); }},
           {"nan_to_num", [](const array& x) { return nan_to_num(x); }}}) {
    std::string msg = error_of([&] { fn(z).eval(); });
    EXPECT_NE(msg.find("[" + name + "]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("complex64"), std::string::npos) << msg;
  }
  std::string msg = error_of([] { negative(array({true})); });
  EXPECT_NE(msg.find("[negative]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("bool"), std::string::npos) << msg;
  msg = error_of([] { bitwise_invert(array({1.0f})); });
  EXPECT_NE(msg.find("[bitwise_invert]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("float32"), std::string::npos) << msg;
}
