// Binary and ternary elementwise ops against reference loops written here, for
// every dtype an op supports and every layout the kernels dispatch on:
// contiguous, scalar-broadcast, row- and column-broadcast, transposed, sliced
// with steps, 0-d, empty, 3-d mixes and one array large enough to be split
// across threads. NumPy (via python3) checks floor_divide/remainder signs.
#include <gtest/gtest.h>

#include <ember/ember.h>

#include <cmath>
#include <complex>
#include <cstdio>
#include <functional>
#include <limits>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "test_utils.h"

using namespace ember;
using namespace test_utils;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
const double kNan = std::numeric_limits<double>::quiet_NaN();
using LD = long double;
using CLD = std::complex<long double>;

template <class T>
constexpr bool is_half_v = std::is_same_v<T, float16_t> || std::is_same_v<T, bfloat16_t>;
template <class T>
constexpr bool is_float_v = std::is_floating_point_v<T> || is_half_v<T>;
template <class T>
constexpr bool is_int_v = std::is_integral_v<T> && !std::is_same_v<T, bool>;
template <class T>
constexpr bool is_real_v = !std::is_same_v<T, complex64_t>;

// Units in the last place of dtype t at magnitude `at` (subnormal spacing near 0).
double ulp(LD at, Dtype t) {
  int digits = t == float16 ? 11 : t == bfloat16 ? 8 : t == float32 ? 24 : 53;
  int emin = t == float16 ? -14 : t == float64 ? -1022 : -126;
  int e = emin;
  if (at != 0 && std::isfinite(at)) std::frexp(at, &e), e -= 1;
  return std::ldexp(1.0, std::max(e, emin) - (digits - 1));
}

double max_finite(Dtype t) {
  return t == float16    ? 65504.0
         : t == bfloat16 ? std::ldexp(255.0, 120)
         : t == float32  ? std::numeric_limits<float>::max()
                         : std::numeric_limits<double>::max();
}

// `got` within `ulps` of `ref` (measured at max(|ref|, scale)); nan matches nan,
// infinities must match, and a finite reference past the dtype's range may give inf.
bool near_ref(double got, LD ref, Dtype t, double ulps, LD scale = 0) {
  if (std::isnan(ref) || std::isnan(got)) return std::isnan(ref) && std::isnan(got);
  if (std::isinf(got) || std::isinf(ref)) {
    return got == ref || (std::isinf(got) && std::fabs(ref) > max_finite(t) && std::signbit(got) == std::signbit(ref));
  }
  LD tol = ulps * ulp(std::max(std::fabs(ref), scale), t);
  return std::fabs(got - ref) <= tol;
}

// Exact equality, nan == nan, signed zeros distinguished.
template <class T>
bool same(T a, T b) {
  if constexpr (std::is_same_v<T, complex64_t>) {
    return same(a.real(), b.real()) && same(a.imag(), b.imag());
  } else if constexpr (is_float_v<T>) {
    double x = static_cast<double>(a), y = static_cast<double>(b);
    return (std::isnan(x) && std::isnan(y)) || (x == y && std::signbit(x) == std::signbit(y));
  } else {
    return a == b;
  }
}

template <class T>
std::string str(T v) {
  std::ostringstream os;
  os.precision(17);
  if constexpr (std::is_integral_v<T>) {
    os << +v;
  } else {
    os << v;
  }
  return os.str();
}

// Wide arithmetic for the references: integers wrap modulo 2^bits (computed in
// uint64), 16-bit floats compute in double and round once, complex in long double.
template <class T>
T wrap(uint64_t v) {
  return static_cast<T>(v);
}
template <class T>
T round_to(double v) {
  return static_cast<T>(v);
}
template <class T>
CLD cld(T z) {
  return CLD(z.real(), z.imag());
}

template <class T>
__int128 wide(T v) {
  return static_cast<__int128>(v);
}
// An input as the op sees it: integers and bool are converted to float32 first.
template <class T>
LD in(T v) {
  if constexpr (is_float_v<T>) {
    return static_cast<LD>(v);
  } else {
    return static_cast<float>(v);
  }
}

// ---------------------------------------------------------------- inputs

enum class Dom { Any, Divisor, Base, Exponent, Shift, Positive };

template <class T>
T gen(Dom d, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(-10, 10);
  uint64_t r = rng();
  if constexpr (std::is_same_v<T, bool>) {
    return r & 1;
  } else if constexpr (std::is_same_v<T, complex64_t>) {
    std::uniform_real_distribution<float> c(-3, 3);
    return r % 16 == 0 ? complex64_t(0, 0) : complex64_t(c(rng), c(rng));
  } else if constexpr (is_int_v<T>) {
    constexpr int bits = sizeof(T) * 8;
    auto small = [&](int lo, int hi) { return static_cast<T>(lo + static_cast<int>(rng() % (hi - lo + 1))); };
    switch (d) {
      case Dom::Divisor:
        if (r % 4 == 0) return small(std::is_signed_v<T> ? -2 : 0, 2);  // zeros, -1, 1
        if (r % 4 == 1) return std::is_signed_v<T> ? T(-1) : T(0);
        break;
      case Dom::Base:
        return r % 8 == 0 ? static_cast<T>(rng()) : small(std::is_signed_v<T> ? -4 : 0, 4);
      case Dom::Exponent:
        return small(std::is_signed_v<T> ? -3 : 0, 3 * bits / 2);
      case Dom::Shift:
        return small(std::is_signed_v<T> ? -2 : 0, bits + 3);
      default:
        break;
    }
    if (r % 8 == 0) return r % 16 ? std::numeric_limits<T>::min() : std::numeric_limits<T>::max();
    if (r % 4 == 1) return small(std::is_signed_v<T> ? -20 : 0, 20);
    return static_cast<T>(rng() >> (rng() % (64 - bits + 1)));
  } else {
    double v = u(rng);
    switch (d) {
      case Dom::Base:
        v = v / 3;
        break;
      case Dom::Exponent:
        v = r % 3 == 0 ? std::round(v / 2) : v / 2.5;
        break;
      case Dom::Positive:
        v = std::fabs(v) * 5;
        break;
      case Dom::Divisor:
        if (r % 5 == 0) v = std::round(v);  // exact quotients, divisors 0 and +-1
        break;
      default:
        break;
    }
    if (d != Dom::Positive && r % 16 == 3) {
      const double special[] = {0.0, -0.0, kInf, -kInf, kNan, 1.0, -1.0, 0.5};
      v = special[(r >> 8) % 8];
    }
    return static_cast<T>(v);
  }
}

// A row-contiguous array from elements (std::vector<bool> has no data(), so copy through a buffer).
template <class T>
array from_values(const std::vector<T>& v, const Shape& shape) {
  std::unique_ptr<T[]> buf(new T[v.size() + 1]);
  std::copy(v.begin(), v.end(), buf.get());
  return array(buf.get(), shape);
}

template <class T>
array rand_array(const Shape& shape, Dom d, std::mt19937_64& rng) {
  size_t n = 1;
  for (auto s : shape) n *= s;
  std::vector<T> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = gen<T>(d, rng);
  return from_values(v, shape);
}

// The bytes of each element, row-major (any layout): the strictest equality.
std::vector<std::string> element_bytes(array a) {
  a.eval();
  std::vector<std::string> out(a.size());
  const char* p = a.data<char>();
  size_t w = a.itemsize();
  for (size_t i = 0; i < a.size(); ++i) {
    int64_t idx = static_cast<int64_t>(i), loc = 0;
    for (int d = static_cast<int>(a.ndim()) - 1; d >= 0; --d) {
      loc += (idx % a.shape()[d]) * a.strides()[d];
      idx /= a.shape()[d];
    }
    out[i].assign(p + loc * static_cast<int64_t>(w), w);
  }
  return out;
}

// The same values, row-contiguous.
template <class T>
array dense_copy(const array& a) {
  return from_values(values<T>(a), a.shape());
}

struct Case {
  std::string layout;
  array a, b;
};

// (a, b) pairs in every layout the binary kernels dispatch on.
template <class T>
std::vector<Case> layout_cases(Dom da, Dom db, std::mt19937_64& rng) {
  const int M = 5, N = 7;
  auto A = [&](const Shape& s) { return rand_array<T>(s, da, rng); };
  auto B = [&](const Shape& s) { return rand_array<T>(s, db, rng); };
  array strided_a = slice(A({2 * M, 3 * N}), {0, 1}, {2 * M, 3 * N}, {2, 3});  // (M, N)
  array strided_b = slice(B({M + 1, N + 2}), {1, 2}, {M + 1, N + 2});          // offset, gaps between rows
  return {
      {"contiguous", A({M, N}), B({M, N})},
      {"scalar right", A({M, N}), B({})},
      {"scalar left", A({}), B({M, N})},
      {"row broadcast", A({M, N}), B({N})},
      {"column broadcast", A({M, 1}), B({1, N})},
      {"transposed", transpose(A({N, M})), B({M, N})},
      {"both transposed", transpose(A({N, M})), transpose(B({N, M}))},
      {"sliced with steps", strided_a, strided_b},
      {"sliced + row broadcast", strided_a, B({N})},
      {"transposed + column broadcast", transpose(A({N, M})), B({M, 1})},
      {"0-d", A({}), B({})},
      {"empty", A({0, N}), B({N})},
      {"3-d", transpose(A({4, 2, 3}), {1, 2, 0}), B({3, 1})},
      {"broadcast view", broadcast_to(A({1, N}), {M, N}), transpose(B({N, M}))},
  };
}

// Flat index into an input of shape `in` broadcast to `out`.
int64_t bcast_index(int64_t i, const Shape& out, const Shape& in) {
  int64_t idx = 0, stride = 1;
  for (int d = static_cast<int>(out.size()) - 1; d >= 0; --d) {
    int64_t pos = i % out[d];
    i /= out[d];
    int k = d - static_cast<int>(out.size() - in.size());
    if (k >= 0) {
      if (in[k] != 1) idx += pos * stride;
      stride *= in[k];
    }
  }
  return idx;
}

using BinFn = std::function<array(const array&, const array&)>;

// Runs `op` on dtype-T inputs in every layout and compares with `ref` element
// by element. ref returns the exact result in the output's C++ type, or a
// long double (real) / complex<long double> to compare within `ulps`.
template <class T, class Ref>
void check_layouts(const std::string& name, const BinFn& op, Ref ref, Dom da, Dom db, double ulps, bool rel_to_inputs,
                   std::mt19937_64& rng) {
  using R = std::invoke_result_t<Ref, T, T>;
  for (auto& c : layout_cases<T>(da, db, rng)) {
    SCOPED_TRACE(name + " " + dtype_name(dtype_of<T>) + " " + c.layout);
    array out = op(c.a, c.b);
    Shape shape = broadcast_shapes(c.a.shape(), c.b.shape());
    ASSERT_EQ(out.shape(), shape);
    auto av = values<T>(c.a), bv = values<T>(c.b);
    int failures = 0;
    auto report = [&](T x, T y, const std::string& got, const std::string& want) {
      if (failures++ < 4)
        ADD_FAILURE() << name << "(" << str(x) << ", " << str(y) << ") = " << got << ", want " << want;
    };
    if constexpr (std::is_same_v<R, LD>) {
      Dtype want_dtype = is_inexact(dtype_of<T>) ? dtype_of<T> : float32;
      ASSERT_EQ(out.dtype(), want_dtype);
      double tol = ulps > 0 && (want_dtype == float16 || want_dtype == bfloat16) ? 1 : ulps;
      auto got = doubles(out);
      for (size_t i = 0; i < got.size(); ++i) {
        T x = av[bcast_index(i, shape, c.a.shape())], y = bv[bcast_index(i, shape, c.b.shape())];
        LD want = ref(x, y);
        LD scale = rel_to_inputs ? std::max(std::fabs(in(x)), std::fabs(in(y))) : 0;
        if (!near_ref(got[i], want, want_dtype, tol, scale)) report(x, y, str(got[i]), str(want));
      }
    } else if constexpr (std::is_same_v<R, CLD>) {
      ASSERT_EQ(out.dtype(), complex64);
      auto got = values<complex64_t>(out);
      for (size_t i = 0; i < got.size(); ++i) {
        T x = av[bcast_index(i, shape, c.a.shape())], y = bv[bcast_index(i, shape, c.b.shape())];
        CLD want = ref(x, y), g(got[i].real(), got[i].imag());
        bool bad = std::isfinite(std::abs(want)) ? std::abs(g - want) > 4e-6L * std::max<LD>(std::abs(want), 1e-3L)
                                                 : std::isfinite(std::abs(g)) && !std::isnan(std::abs(want));
        if (bad) report(x, y, str(got[i]), str(complex64_t(want)));
      }
    } else {
      ASSERT_EQ(out.dtype(), dtype_of<R>);
      auto got = values<R>(out);
      for (size_t i = 0; i < got.size(); ++i) {
        T x = av[bcast_index(i, shape, c.a.shape())], y = bv[bcast_index(i, shape, c.b.shape())];
        R want = ref(x, y);
        if (!same<R>(got[i], want)) report(x, y, str<R>(got[i]), str<R>(want));
      }
    }
    // Layout must not change a single bit: the same op on dense copies.
    EXPECT_EQ(element_bytes(out), element_bytes(op(dense_copy<T>(c.a), dense_copy<T>(c.b))));
  }
}

const std::vector<Dtype> kTested = {bool_,  uint8,  int8,    int16,    int32,   int64,   uint16,
                                    uint32, uint64, float16, bfloat16, float32, float64, complex64};

// Checks `op` for every dtype in kTested whose C++ type `ref` accepts; that
// must be `want_dtypes` of them (so a reference that rejects a dtype can't hide it).
template <class Ref>
void check_op(const std::string& name, int want_dtypes, const BinFn& op, Ref ref, Dom da = Dom::Any, Dom db = Dom::Any,
              double ulps = 0, bool rel_to_inputs = false) {
  std::mt19937_64 rng(std::hash<std::string>{}(name));
  int ran = 0;
  for (Dtype t : kTested) {
    dispatch_dtype(t, [&](auto tag) {
      using T = decltype(tag);
      if constexpr (std::is_invocable_v<Ref, T, T>) {
        check_layouts<T>(name, op, ref, da, db, ulps, rel_to_inputs, rng);
        ++ran;
      }
    });
  }
  EXPECT_EQ(ran, want_dtypes) << name;
}

}  // namespace

// ---------------------------------------------------------------- arithmetic

TEST(Binary, Add) {
  check_op(
      "add", 14, [](const array& a, const array& b) { return add(a, b); },
      []<class T>(T a, T b) {
        if constexpr (std::is_same_v<T, bool>) {
          return bool(a || b);
        } else if constexpr (is_int_v<T>) {
          return wrap<T>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
        } else if constexpr (is_float_v<T>) {
          return round_to<T>(static_cast<double>(a) + static_cast<double>(b));
        } else {
          return cld(a) + cld(b);
        }
      });
}

TEST(Binary, Subtract) {
  check_op(
      "subtract", 13, [](const array& a, const array& b) { return subtract(a, b); },
      []<class T>(T a, T b) requires(!std::is_same_v<T, bool>) {
        if constexpr (is_int_v<T>) {
          return wrap<T>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
        } else if constexpr (is_float_v<T>) {
          return round_to<T>(static_cast<double>(a) - static_cast<double>(b));
        } else {
          return cld(a) - cld(b);
        }
      });
}

TEST(Binary, Multiply) {
  check_op(
      "multiply", 14, [](const array& a, const array& b) { return multiply(a, b); },
      []<class T>(T a, T b) {
        if constexpr (std::is_same_v<T, bool>) {
          return bool(a && b);
        } else if constexpr (is_int_v<T>) {
          return wrap<T>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
        } else if constexpr (is_float_v<T>) {
          return round_to<T>(static_cast<double>(a) * static_cast<double>(b));
        } else {
          return cld(a) * cld(b);
        }
      });
}

TEST(Binary, Divide) {
  // Integers and bool divide in float32 (MLX); x / 0 is inf or nan, never a trap.
  check_op(
      "divide", 14, [](const array& a, const array& b) { return divide(a, b); },
      []<class T>(T a, T b) {
        if constexpr (is_float_v<T>) {
          return round_to<T>(static_cast<double>(a) / static_cast<double>(b));
        } else if constexpr (std::is_same_v<T, complex64_t>) {
          return cld(a) / cld(b);
        } else {
          return static_cast<float>(static_cast<double>(static_cast<float>(a)) / static_cast<float>(b));
        }
      },
      Dom::Any, Dom::Divisor);
}

// Python/NumPy floor division and modulo: the result of % has the divisor's
// sign; x // 0 == x % 0 == 0 for integers. Integer references use __int128, so
// INT_MIN // -1 wraps instead of trapping.
TEST(Binary, FloorDivideRemainderAndDivmod) {
  auto ref_div = []<class T>(T a, T b) requires is_real_v<T> {
    if constexpr (std::is_same_v<T, bool>) {
      return int32_t(b ? a : 0);
    } else if constexpr (is_int_v<T>) {
      if (b == 0) return T(0);
      __int128 q = wide(a) / wide(b);
      if (q * wide(b) != wide(a) && ((a < 0) != (b < 0))) q -= 1;
      return static_cast<T>(static_cast<uint64_t>(q));
    } else {
      using C = std::conditional_t<std::is_same_v<T, double>, double, float>;
      C x = static_cast<C>(a), y = static_cast<C>(b);
      if (y == 0) return T(x / y);
      C r = std::fmod(x, y);
      LD q = std::isnan(r) ? LD(kNan) : std::nearbyint((LD(x) - r) / y);  // exact: a - fmod(a, b) is a multiple of b
      if (r != 0 && (r < 0) != (y < 0)) q -= 1;
      if (q == 0) q = std::copysign(LD(0), LD(x) / y);
      return T(static_cast<C>(q));
    }
  };
  auto ref_mod = []<class T>(T a, T b) requires is_real_v<T> {
    if constexpr (std::is_same_v<T, bool>) {
      return int32_t(0);
    } else if constexpr (is_int_v<T>) {
      if (b == 0) return T(0);
      __int128 r = wide(a) % wide(b);
      if (r != 0 && ((r < 0) != (b < 0))) r += wide(b);
      return static_cast<T>(r);
    } else {
      using C = std::conditional_t<std::is_same_v<T, double>, double, float>;
      C x = static_cast<C>(a), y = static_cast<C>(b);
      C r = std::fmod(x, y);
      if (y != 0 && r == 0) r = std::copysign(C(0), y);
      if (r != 0 && (r < 0) != (y < 0)) r += y;
      return T(r);
    }
  };
  check_op(
      "floor_divide", 13, [](const array& a, const array& b) { return floor_divide(a, b); }, ref_div, Dom::Any,
      Dom::Divisor);
  check_op(
      "remainder", 13, [](const array& a, const array& b) { return remainder(a, b); }, ref_mod, Dom::Any, Dom::Divisor);
  check_op(
      "divmod[0]", 13, [](const array& a, const array& b) { return divmod(a, b)[0]; }, ref_div, Dom::Any, Dom::Divisor);
  check_op(
      "divmod[1]", 13, [](const array& a, const array& b) { return divmod(a, b)[1]; }, ref_mod, Dom::Any, Dom::Divisor);
  check_op(
      "operator%", 13, [](const array& a, const array& b) { return a % b; }, ref_mod, Dom::Any, Dom::Divisor);
}

TEST(Binary, FloorDivideRemainderSignsMatchNumPy) {
  std::vector<std::pair<double, double>> pairs = {
      {7, 2},    {-7, 2},          {7, -2},    {-7, -2},   {1, 0.1},     {-1, 0.1},  {7.5, -2},
      {-7.5, 2}, {-0.0, 1},        {0.0, -1},  {-0.0, -1}, {4, -2},      {-4, 2},    {5, 0},
      {-5, 0},   {0, 0},           {5, kInf},  {-5, kInf}, {5, -kInf},   {kInf, 2},  {kNan, 1},
      {1, kNan}, {1e-300, -1e300}, {3.5, 0.5}, {1e300, 3}, {-2.5, 1.25}, {0.3, 0.1}, {-0.3, 0.1}};
  std::ostringstream script;
  script.precision(17);
  script << "import numpy as np, warnings\nwarnings.simplefilter('ignore')\np=[";
  auto py = [](double v) { return v == 0 && std::signbit(v) ? std::string("-0.0") : str(v); };
  for (auto [a, b] : pairs) script << "(" << py(a) << "," << py(b) << "),";
  script << "]\nfor dt in ('float64','float32'):\n a=np.array([x for x,_ in p],dtype=dt); b=np.array([y for _,y in "
            "p],dtype=dt)\n"
         << " print(' '.join(repr(float(v)) for v in np.floor_divide(a,b)))\n"
         << " print(' '.join(repr(float(v)) for v in np.remainder(a,b)))\n";
  std::string s = script.str();
  for (size_t i = 0; (i = s.find("inf", i)) != std::string::npos; i += 9) s.replace(i, 3, "float('inf')");
  for (size_t i = 0; (i = s.find("nan", i)) != std::string::npos; i += 12) s.replace(i, 3, "float('nan')");
  FILE* p = popen(("python3 -c \"" + s + "\" 2>&1").c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  ASSERT_EQ(pclose(p), 0) << "this test needs python3 with numpy (pip install numpy, or scripts/install-deps): " << out;
  std::istringstream lines(out);
  for (Dtype t : {float64, float32}) {
    std::vector<double> av, bv;
    for (auto [a, b] : pairs) av.push_back(a), bv.push_back(b);
    array a(av, Shape{static_cast<int32_t>(av.size())}, t), b(bv, Shape{static_cast<int32_t>(bv.size())}, t);
    for (auto& [name, result] : std::vector<std::pair<std::string, array>>{{"floor_divide", floor_divide(a, b)},
                                                                           {"remainder", remainder(a, b)}}) {
      std::string line, tok;
      ASSERT_TRUE(std::getline(lines, line)) << out;
      std::istringstream ls(line);
      auto got = doubles(result);
      for (size_t i = 0; i < pairs.size(); ++i) {
        ASSERT_TRUE(ls >> tok) << line;
        double want = std::strtod(tok.c_str(), nullptr);
        EXPECT_TRUE(same(got[i], want)) << name << "(" << pairs[i].first << ", " << pairs[i].second << ") " << t
                                        << ": got " << got[i] << ", NumPy " << want;
      }
    }
  }
  // Integers, hand-checked.
  array a({7, -7, 7, -7, -128, 5, 0}, int8), b({2, 2, -2, -2, -1, 0, 0}, int8);
  EXPECT_EQ(values<int8_t>(floor_divide(a, b)), (std::vector<int8_t>{3, -4, -4, 3, -128, 0, 0}));
  EXPECT_EQ(values<int8_t>(remainder(a, b)), (std::vector<int8_t>{1, 1, -1, -1, 0, 0, 0}));
  array big({std::numeric_limits<int64_t>::min(), int64_t{-9}}), m1({int64_t{-1}, int64_t{4}});
  EXPECT_EQ(values<int64_t>(floor_divide(big, m1)), (std::vector<int64_t>{std::numeric_limits<int64_t>::min(), -3}));
  EXPECT_EQ(values<int64_t>(remainder(big, m1)), (std::vector<int64_t>{0, 3}));
  array u({7u, 9u}), z({0u, 0u});
  EXPECT_EQ(values<uint32_t>(floor_divide(u, z)), (std::vector<uint32_t>{0, 0}));
  EXPECT_EQ(values<uint32_t>(remainder(u, z)), (std::vector<uint32_t>{0, 0}));
}

TEST(Binary, Power) {
  // Integers: wrap like NumPy; negative exponents give 0, except bases 1 and -1
  // (NumPy raises there; Ember, like MLX, can't raise from inside a kernel).
  check_op(
      "power", 14, [](const array& a, const array& b) { return power(a, b); },
      []<class T>(T a, T b) {
        if constexpr (std::is_same_v<T, bool>) {
          return int32_t(a || !b);
        } else if constexpr (is_int_v<T>) {
          if constexpr (std::is_signed_v<T>) {
            if (b < 0) return T(a == 1 ? 1 : a == -1 ? (b % 2 ? -1 : 1) : 0);
          }
          uint64_t r = 1;
          for (T i = 0; i < b; ++i) r *= static_cast<uint64_t>(a);
          return wrap<T>(r);
        } else if constexpr (is_float_v<T>) {
          return std::pow(LD(a), LD(b));
        } else {
          return std::pow(cld(a), cld(b));
        }
      },
      Dom::Base, Dom::Exponent, 2);
  EXPECT_EQ(values<int8_t>(power(array({2, 2, -2, 3}, int8), array({7, 8, 3, 4}, int8))),
            (std::vector<int8_t>{-128, 0, -8, 81}));
  EXPECT_EQ(values<int32_t>(power(array({2, 1, -1, -1, 0, 5}), array({-1, -5, -3, -2, 0, 0}))),
            (std::vector<int32_t>{0, 1, -1, 1, 1, 1}));
  EXPECT_EQ(values<uint8_t>(power(array({2, 3}, uint8), array({8, 5}, uint8))), (std::vector<uint8_t>{0, 243}));
  EXPECT_EQ(values<int64_t>(power(array({int64_t{3}}), array({int64_t{40}})))[0],
            static_cast<int64_t>(12157665459056928801ull));
  EXPECT_EQ(values<float>(power(array({2.0f, 4.0f}), array({-1.0f, 0.5f}))), (std::vector<float>{0.5f, 2.0f}));
}

TEST(Binary, MaximumMinimum) {
  // NaN propagates from either side (NumPy's maximum/minimum, not fmax/fmin).
  auto pick = [](bool first) {
    return [first]<class T>(T a, T b) requires is_real_v<T> {
      if constexpr (is_float_v<T>) {
        double x = static_cast<double>(a), y = static_cast<double>(b);
        if (std::isnan(x)) return a;
        if (std::isnan(y)) return b;
        return (first ? x > y : x < y) ? a : b;
      } else {
        return (first ? a > b : a < b) ? a : b;
      }
    };
  };
  check_op(
      "maximum", 13, [](const array& a, const array& b) { return maximum(a, b); }, pick(true));
  check_op(
      "minimum", 13, [](const array& a, const array& b) { return minimum(a, b); }, pick(false));
}

TEST(Binary, ArcTan2AndLogAddExp) {
  check_op(
      "arctan2", 13, [](const array& a, const array& b) { return arctan2(a, b); },
      []<class T>(T a, T b) requires is_real_v<T> { return std::atan2(in(a), in(b)); }, Dom::Any, Dom::Any, 2);
  // logaddexp = m + log1p(exp(-|a - b|)) (as in NumPy) loses relative accuracy
  // when the result is near 0 from cancellation: the error is measured on the inputs' scale.
  check_op(
      "logaddexp", 13, [](const array& a, const array& b) { return logaddexp(a, b); },
      []<class T>(T a, T b) requires is_real_v<T> {
        LD x = in(a), y = in(b), m = std::max(x, y);
        if (std::isnan(x) || std::isnan(y)) return LD(kNan);
        if (std::isinf(m)) return m;  // +inf, or both -inf
        return m + std::log1p(std::exp(-std::fabs(x - y)));
      },
      Dom::Any, Dom::Any, 2, true);
  EXPECT_EQ(
      values<float>(logaddexp(array({kInf, -kInf, -kInf, 1.0}, float32), array({-kInf, -kInf, 2.0, kInf}, float32))),
      (std::vector<float>{INFINITY, -INFINITY, 2.0f, INFINITY}));
  auto z = doubles(arctan2(array({0.0, -0.0, 0.0, -0.0}), array({-0.0, -0.0, 0.0, 0.0})));
  EXPECT_TRUE(same(z[0], M_PI) && same(z[1], -M_PI) && same(z[2], 0.0) && same(z[3], -0.0));
}

// ---------------------------------------------------------------- comparisons and logic

TEST(Binary, Comparisons) {
  auto real = [](auto cmp) {
    return [cmp]<class T>(T a, T b) requires is_real_v<T> {
      if constexpr (is_half_v<T>) {
        return bool(cmp(static_cast<float>(a), static_cast<float>(b)));
      } else {
        return bool(cmp(a, b));
      }
    };
  };
  check_op(
      "less", 13, [](const array& a, const array& b) { return less(a, b); }, real(std::less<>{}));
  check_op(
      "less_equal", 13, [](const array& a, const array& b) { return a <= b; }, real(std::less_equal<>{}));
  check_op(
      "greater", 13, [](const array& a, const array& b) { return greater(a, b); }, real(std::greater<>{}));
  check_op(
      "greater_equal", 13, [](const array& a, const array& b) { return a >= b; }, real(std::greater_equal<>{}));
  auto eq = [](bool want_equal) {
    return [want_equal]<class T>(T a, T b) {
      if constexpr (is_half_v<T>) {
        return bool((static_cast<float>(a) == static_cast<float>(b)) == want_equal);
      } else {
        return bool((a == b) == want_equal);
      }
    };
  };
  check_op(
      "equal", 14, [](const array& a, const array& b) { return equal(a, b); }, eq(true));
  check_op(
      "not_equal", 14, [](const array& a, const array& b) { return a != b; }, eq(false));
}

TEST(Binary, LogicalOps) {
  auto truth = []<class T>(T v) {
    if constexpr (is_half_v<T>) {
      return static_cast<float>(v) != 0.0f;
    } else {
      return v != T(0);
    }
  };
  check_op(
      "logical_and", 14, [](const array& a, const array& b) { return logical_and(a, b); },
      [truth]<class T>(T a, T b) { return bool(truth(a) && truth(b)); });
  check_op(
      "logical_or", 14, [](const array& a, const array& b) { return a || b; },
      [truth]<class T>(T a, T b) { return bool(truth(a) || truth(b)); });
}

TEST(Binary, BitwiseAndShifts) {
  auto bits = [](auto f) {
    return [f]<class T>(T a, T b) requires std::is_integral_v<T> {
      return static_cast<T>(f(static_cast<uint64_t>(a), static_cast<uint64_t>(b)));
    };
  };
  check_op(
      "bitwise_and", 9, [](const array& a, const array& b) { return a & b; }, bits(std::bit_and<>{}));
  check_op(
      "bitwise_or", 9, [](const array& a, const array& b) { return bitwise_or(a, b); }, bits(std::bit_or<>{}));
  check_op(
      "bitwise_xor", 9, [](const array& a, const array& b) { return a ^ b; }, bits(std::bit_xor<>{}));
  // Shifts by >= the bit width (or < 0) give 0, or -1 for a negative value shifted right, as in NumPy.
  check_op(
      "left_shift", 9, [](const array& a, const array& b) { return left_shift(a, b); },
      []<class T>(T a, T b) requires std::is_integral_v<T> {
        if constexpr (std::is_same_v<T, bool>) {
          return uint8_t(a ? (b ? 2 : 1) : 0);
        } else {
          if (b < 0 || b >= T(sizeof(T) * 8)) return T(0);
          return wrap<T>(static_cast<uint64_t>(a) << b);
        }
      },
      Dom::Any, Dom::Shift);
  check_op(
      "right_shift", 9, [](const array& a, const array& b) { return a >> b; },
      []<class T>(T a, T b) requires std::is_integral_v<T> {
        if constexpr (std::is_same_v<T, bool>) {
          return uint8_t(a && !b);
        } else {
          __int128 p = (b < 0 || b >= T(sizeof(T) * 8)) ? (__int128(1) << 100) : (__int128(1) << b);
          __int128 q = wide(a) / p;  // floor division by 2^b
          if (q * p != wide(a) && a < 0) q -= 1;
          return static_cast<T>(q);
        }
      },
      Dom::Any, Dom::Shift);
  EXPECT_EQ(values<int8_t>(left_shift(array({1, 1, 3, -1}, int8), array({7, 8, -1, 2}, int8))),
            (std::vector<int8_t>{-128, 0, 0, -4}));
  EXPECT_EQ(values<int8_t>(right_shift(array({-5, -5, 64, -128}, int8), array({9, 1, 6, 7}, int8))),
            (std::vector<int8_t>{-1, -3, 1, -1}));
  EXPECT_EQ(values<int64_t>(left_shift(array({int64_t{1}}), array({int64_t{63}})))[0],
            std::numeric_limits<int64_t>::min());
  EXPECT_EQ(values<uint32_t>(right_shift(array({0xffffffffu}), array({32u})))[0], 0u);
}

// ---------------------------------------------------------------- ternary

TEST(Binary, WhereAllLayouts) {
  std::mt19937_64 rng(3);
  for (Dtype t : kTested) {
    dispatch_dtype(t, [&](auto tag) {
      using T = decltype(tag);
      for (auto& c : layout_cases<T>(Dom::Any, Dom::Any, rng)) {
        SCOPED_TRACE(std::string(dtype_name(t)) + " " + c.layout);
        Shape shape = broadcast_shapes(c.a.shape(), c.b.shape());
        // Conditions in three layouts: full, column, transposed.
        std::vector<array> conds = {rand_array<bool>(shape, Dom::Any, rng)};
        if (shape.size() == 2) {
          conds.push_back(rand_array<bool>({shape[0], 1}, Dom::Any, rng));
          conds.push_back(transpose(rand_array<bool>({shape[1], shape[0]}, Dom::Any, rng)));
        }
        for (auto& cond : conds) {
          array out = where(cond, c.a, c.b);
          ASSERT_EQ(out.dtype(), t);
          ASSERT_EQ(out.shape(), shape);
          auto cv = values<bool>(cond);
          auto av = values<T>(c.a), bv = values<T>(c.b), got = values<T>(out);
          for (size_t i = 0; i < got.size(); ++i) {
            T want = cv[bcast_index(i, shape, cond.shape())] ? av[bcast_index(i, shape, c.a.shape())]
                                                             : bv[bcast_index(i, shape, c.b.shape())];
            ASSERT_TRUE(same<T>(got[i], want)) << i;
          }
        }
      }
    });
  }
}

TEST(Binary, WherePromotesAndAcceptsNonBoolConditions) {
  array c({1.0f, 0.0f, NAN, -0.0f});  // nonzero (nan included) is true
  array out = where(c, array({1, 2, 3, 4}, int8), array(0.5f));
  EXPECT_EQ(out.dtype(), float32);
  EXPECT_EQ(values<float>(out), (std::vector<float>{1.0f, 0.5f, 3.0f, 0.5f}));
  EXPECT_EQ(where(array(true), array(1), array(2)).item<int>(), 1);
  EXPECT_EQ(where(array(false), array(1), array(2)).ndim(), 0u);
  EXPECT_EQ(where(zeros({0, 3}, bool_), array(1), array(2)).shape(), (Shape{0, 3}));
  std::string msg = error_of([] { where(array({true, false}), array({1, 2, 3}), array(0)); });
  EXPECT_NE(msg.find("(2,)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(3,)"), std::string::npos) << msg;
}

TEST(Binary, Clip) {
  array a({-5.0f, -1.0f, 0.5f, 3.0f, 10.0f, NAN});
  EXPECT_TRUE(same(doubles(clip(a, array(-2.0f), array(4.0f)))[0], -2.0));
  auto both = doubles(clip(a, array(-2.0f), array(4.0f)));
  std::vector<double> want = {-2, -1, 0.5, 3, 4, kNan};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_TRUE(same(both[i], want[i])) << i;
  auto lo = doubles(clip(a, array({0.0f, 0.0f, 0.0f, 5.0f, 5.0f, 0.0f}), std::nullopt));
  want = {0, 0, 0.5, 5, 10, kNan};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_TRUE(same(lo[i], want[i])) << i;
  auto hi = doubles(clip(a, std::nullopt, array(1.0f)));
  want = {-5, -1, 0.5, 1, 1, kNan};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_TRUE(same(hi[i], want[i])) << i;
  array i8({-100, 0, 100}, int8);
  array ci = clip(i8, array(int8_t{-10}), array(int8_t{10}));
  EXPECT_EQ(ci.dtype(), int8);
  EXPECT_EQ(values<int8_t>(ci), (std::vector<int8_t>{-10, 0, 10}));
  // Bounds broadcast: a (2, 3) clipped by a column of lower bounds.
  array m({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(values<int32_t>(clip(m, array({2, 5}, {2, 1}), array(5))), (std::vector<int32_t>{2, 2, 3, 5, 5, 5}));
  EXPECT_NE(error_of([&] { clip(a, std::nullopt, std::nullopt); }).find("[clip]"), std::string::npos);
}

TEST(Binary, DivmodOutputs) {
  auto qr = divmod(array({7, -7, 5}, int16), array({2, 2, 0}, int16));
  ASSERT_EQ(qr.size(), 2u);
  EXPECT_EQ(qr[0].dtype(), int16);
  EXPECT_EQ(values<int16_t>(qr[0]), (std::vector<int16_t>{3, -4, 0}));
  EXPECT_EQ(values<int16_t>(qr[1]), (std::vector<int16_t>{1, 1, 0}));
  auto qb = divmod(array({true, false}), array({true, true}));
  EXPECT_EQ(qb[0].dtype(), int32);
  EXPECT_EQ(values<int32_t>(qb[0]), (std::vector<int32_t>{1, 0}));
}

// ---------------------------------------------------------------- size

TEST(Binary, LargeArraysSplitAcrossThreads) {
  // 512 x 300 = 153600 elements > 2^17, so parallel_for splits every kernel.
  std::mt19937_64 rng(5);
  const int M = 512, N = 300;
  array a = rand_array<float>({M, N}, Dom::Positive, rng), row = rand_array<float>({N}, Dom::Positive, rng);
  array at = transpose(rand_array<float>({N, M}, Dom::Positive, rng));
  auto av = values<float>(a), rv = values<float>(row), atv = values<float>(at);
  auto sum = values<float>(a + row), prod = values<float>(at * a);
  auto lt = values<bool>(less(at, a));
  auto sel = values<float>(where(less(a, at), a, row));
  for (int i = 0; i < M; ++i) {
    for (int j = 0; j < N; ++j) {
      size_t k = static_cast<size_t>(i) * N + j;
      ASSERT_EQ(sum[k], av[k] + rv[j]) << k;
      ASSERT_EQ(prod[k], atv[k] * av[k]) << k;
      ASSERT_EQ(lt[k], atv[k] < av[k]) << k;
      ASSERT_EQ(sel[k], av[k] < atv[k] ? av[k] : rv[j]) << k;
    }
  }
  array ia = rand_array<int32_t>({M, N}, Dom::Any, rng), ib = rand_array<int32_t>({N, M}, Dom::Divisor, rng);
  auto iav = values<int32_t>(ia), ibv = values<int32_t>(transpose(ib));
  auto fd = values<int32_t>(floor_divide(ia, transpose(ib)));
  for (size_t k = 0; k < fd.size(); ++k) {
    int64_t x = iav[k], y = ibv[k];
    int64_t q = y == 0 ? 0 : (x / y - ((x % y != 0) && ((x < 0) != (y < 0))));
    ASSERT_EQ(fd[k], static_cast<int32_t>(q)) << x << " // " << y;
  }
}

// ---------------------------------------------------------------- errors

TEST(Binary, ErrorsNameOpDtypeAndShapes) {
  array f({1.0f, 2.0f});
  array z(std::vector<complex64_t>{{1, 1}, {2, 2}}, Shape{2});
  auto expect_msg = [](const std::string& msg, std::vector<std::string> parts) {
    for (auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  };
  expect_msg(error_of([&] { bitwise_and(f, array({1, 2})); }), {"[bitwise_and]", "float32"});
  expect_msg(error_of([&] { bitwise_xor(array({1, 2}), array({1.0}, float16)); }), {"[bitwise_xor]", "float16"});
  expect_msg(error_of([&] { left_shift(f, f); }), {"[left_shift]", "float32"});
  expect_msg(error_of([&] { right_shift(array({1}), z); }), {"[right_shift]", "complex64"});
  expect_msg(error_of([&] { add(zeros({2, 3}), zeros({4})); }), {"(2,3)", "(4,)"});
  expect_msg(error_of([&] { multiply(zeros({5, 1, 2}), zeros({3, 3})); }), {"(5,1,2)", "(3,3)"});
  expect_msg(error_of([&] { subtract(array({true}), array({false})); }), {"[subtract]", "bool"});
  for (auto& [name, fn] : std::vector<std::pair<std::string, BinFn>>{
           {"maximum", [](const array&a, const array&b) { return maximum(a, b); }},
           {"minimum", [](const array&a, const array&b) { return minimum(a, b); }},
           {"floor_divide", [](const array&a, const array&b) { return floor_divide(a, b); }},
           {"remainder", [](const array&a, const array&b) { return remainder(a, b); }},
           {"divmod", [](const array&a, const array&b) { return divmod(a, b)[0]; }},
           {"arctan2", [](const array&a, const array&b) { return arctan2(a, b); }},
           {"logaddexp", [](const array&a, const array&b) { return logaddexp(a, b); }},
           {"less", [](const array&a, const array&b) { return less(a, b); }},
           {"greater_equal", [](const array&a, const array&b) { return greater_equal(a, b); }}}) {
    expect_msg(error_of([&] { fn(z, f); }), {"[" + name + "]", "complex64"});
  }
  // Integer division by zero is 0, never a crash (SIGFPE would end this test binary).
  for (Dtype t : {int8, int16, int32, int64, uint8, uint32, uint64}) {
    array x(std::vector<int>{5, -5, 0}, Shape{3}, t), zero = zeros({3}, t);
    auto d = doubles(astype(floor_divide(x, zero), float64)), r = doubles(astype(remainder(x, zero), float64));
    EXPECT_EQ(d, std::vector<double>(3, 0.0)) << t;
    EXPECT_EQ(r, std::vector<double>(3, 0.0)) << t;
  }
}
