// Dtypes: metadata and categories, float16/bfloat16 conversion (checked against
// GCC's _Float16 and a from-the-definition rounding), and type promotion
// (checked against NumPy, with MLX's deviations listed explicitly).
#include <gtest/gtest.h>

#include <ember/ember.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "test_utils.h"

using namespace ember;
using namespace test_utils;

namespace {

uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// GCC's _Float16 is the independent reference for float16 (libgcc's soft-fp
// conversions, or F16C/AVX512-FP16 instructions where the compiler uses them).
uint16_t gcc_f16_bits(_Float16 h) {
  uint16_t b;
  std::memcpy(&b, &h, 2);
  return b;
}
float gcc_f16_to_float(uint16_t b) {
  _Float16 h;
  std::memcpy(&h, &b, 2);
  return static_cast<float>(h);
}

bool f16_is_nan(uint16_t b) { return (b & 0x7c00u) == 0x7c00u && (b & 0x3ffu) != 0; }
bool bf16_is_nan(uint16_t b) { return (b & 0x7f80u) == 0x7f80u && (b & 0x7fu) != 0; }

// Rounds `v` half to even onto a binary format with `digits` significant bits,
// normal exponents >= emin and largest finite value `max_finite` (inf beyond).
// Straight from the definition, in long double (exact for float, double, int64).
long double round_to_format(long double v, int digits, int emin, long double max_finite) {
  if (std::isnan(v) || std::isinf(v) || v == 0) return v;
  int e;
  std::frexp(v, &e);  // |v| in [2^(e-1), 2^e)
  int ulp_exp = std::max(e - 1, emin) - (digits - 1);
  long double r = std::ldexp(std::nearbyint(std::ldexp(v, -ulp_exp)), ulp_exp);
  if (std::fabs(r) > max_finite) return std::copysign(std::numeric_limits<long double>::infinity(), v);
  return std::copysign(r, v);  // keeps the sign of values that round to zero
}
long double f16_round(long double v) { return round_to_format(v, 11, -14, 65504.0L); }
long double bf16_round(long double v) { return round_to_format(v, 8, -126, std::ldexp(255.0L, 120)); }

// Bit-pattern reference for float32 -> bfloat16 from the definition: keep the
// top 16 bits, add one when the dropped half is above 0x8000 or equal and the kept part is odd.
uint16_t bf16_ref_bits(float f) {
  uint32_t x = bits_of(f);
  uint32_t hi = x >> 16, lo = x & 0xffffu;
  if (lo > 0x8000u || (lo == 0x8000u && (hi & 1u))) ++hi;
  return static_cast<uint16_t>(hi);
}

std::vector<float> float32_edge_values() {
  std::vector<float> v = {0.0f,
                          -0.0f,
                          1.0f,
                          -1.0f,
                          65504.0f,
                          -65504.0f,
                          65519.0f,
                          65519.996f,
                          65520.0f,
                          -65520.0f,
                          65536.0f,
                          1e10f,
                          -1e10f,
                          std::numeric_limits<float>::max(),
                          -std::numeric_limits<float>::max(),
                          std::numeric_limits<float>::min(),
                          std::numeric_limits<float>::denorm_min(),
                          -std::numeric_limits<float>::denorm_min(),
                          std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity(),
                          std::numeric_limits<float>::quiet_NaN(),
                          -std::numeric_limits<float>::quiet_NaN(),
                          float_of(0x7f800001u),
                          float_of(0xffc00123u),
                          6.103515625e-05f,
                          6.0975551605224609e-05f,
                          5.9604644775390625e-08f,
                          2.98023223876953125e-08f,
                          2.98023259404089e-08f,
                          2.9802318e-08f,
                          8.940696716308594e-08f,
                          1.0e-8f,
                          0.1f,
                          0.3333333f,
                          3.14159265f,
                          2049.0f,
                          4097.0f,
                          1.00048828125f,
                          1.00146484375f};
  return v;
}

}  // namespace

// ---------------------------------------------------------------- metadata

TEST(Dtype, SizesNamesAndOrder) {
  const std::vector<std::pair<std::string, size_t>> expect = {
      {"bool", 1},  {"uint8", 1}, {"uint16", 2},  {"uint32", 4},   {"uint64", 8},  {"int8", 1},    {"int16", 2},
      {"int32", 4}, {"int64", 8}, {"float16", 2}, {"bfloat16", 2}, {"float32", 4}, {"float64", 8}, {"complex64", 8}};
  ASSERT_EQ(kNumDtypes, 14);
  for (int i = 0; i < kNumDtypes; ++i) {
    Dtype t = kAllDtypes[i];
    EXPECT_EQ(dtype_name(t), expect[i].first);
    EXPECT_EQ(t.size(), expect[i].second) << t;
    std::ostringstream os;
    os << t;
    EXPECT_EQ(os.str(), expect[i].first);
    for (int j = 0; j < kNumDtypes; ++j) EXPECT_EQ(t == kAllDtypes[j], i == j);
  }
}

TEST(Dtype, CppTypeMappingAndDispatch) {
  EXPECT_EQ(dtype_of<bool>, bool_);
  EXPECT_EQ(dtype_of<uint8_t>, uint8);
  EXPECT_EQ(dtype_of<int16_t>, int16);
  EXPECT_EQ(dtype_of<long long>, int64);
  EXPECT_EQ(dtype_of<unsigned long long>, uint64);
  EXPECT_EQ(dtype_of<float16_t>, float16);
  EXPECT_EQ(dtype_of<bfloat16_t>, bfloat16);
  EXPECT_EQ(dtype_of<double>, float64);
  EXPECT_EQ(dtype_of<complex64_t>, complex64);
  for (Dtype t : kAllDtypes) {
    Dtype back = dispatch_dtype(t, [](auto x) { return dtype_of<decltype(x)>; });
    EXPECT_EQ(back, t);
    size_t size = dispatch_dtype(t, [](auto x) { return sizeof(x); });
    EXPECT_EQ(size, t.size()) << t;
  }
}

TEST(Dtype, CategoriesAndKinds) {
  using K = Dtype::Kind;
  using C = DtypeCategory;
  EXPECT_EQ(kindof(bool_), K::b);
  for (Dtype t : {uint8, uint16, uint32, uint64}) {
    EXPECT_EQ(kindof(t), K::u);
    EXPECT_TRUE(is_unsigned(t) && is_integral(t) && !is_signed_integer(t) && !is_inexact(t));
    EXPECT_TRUE(issubdtype(t, C::unsignedinteger) && issubdtype(t, C::integer) && issubdtype(t, C::number));
    EXPECT_FALSE(issubdtype(t, C::signedinteger) || issubdtype(t, C::inexact));
  }
  for (Dtype t : {int8, int16, int32, int64}) {
    EXPECT_EQ(kindof(t), K::i);
    EXPECT_TRUE(is_signed_integer(t) && is_integral(t) && !is_unsigned(t));
    EXPECT_TRUE(issubdtype(t, C::signedinteger) && issubdtype(t, C::integer) && issubdtype(t, C::generic));
    EXPECT_FALSE(issubdtype(t, C::floating));
  }
  for (Dtype t : {float16, bfloat16, float32, float64}) {
    EXPECT_EQ(kindof(t), t == bfloat16 ? K::V : K::f);
    EXPECT_TRUE(is_floating_point(t) && is_inexact(t) && !is_complex(t) && !is_integral(t));
    EXPECT_TRUE(issubdtype(t, C::floating) && issubdtype(t, C::inexact) && issubdtype(t, C::number));
    EXPECT_FALSE(issubdtype(t, C::complexfloating) || issubdtype(t, C::integer));
  }
  EXPECT_EQ(kindof(complex64), K::c);
  EXPECT_TRUE(is_complex(complex64) && is_inexact(complex64) && !is_floating_point(complex64));
  EXPECT_TRUE(issubdtype(complex64, C::complexfloating) && issubdtype(complex64, C::inexact));
  EXPECT_FALSE(issubdtype(complex64, C::floating));
  EXPECT_FALSE(is_integral(bool_) || is_inexact(bool_) || is_unsigned(bool_));
  EXPECT_TRUE(issubdtype(bool_, C::generic));
  EXPECT_FALSE(issubdtype(bool_, C::number) || issubdtype(bool_, C::integer));
  EXPECT_TRUE(issubdtype(C::floating, C::inexact) && issubdtype(C::signedinteger, C::number));
  EXPECT_FALSE(issubdtype(C::inexact, C::floating) || issubdtype(C::generic, C::number));
  EXPECT_TRUE(issubdtype(float32, float32));
  EXPECT_FALSE(issubdtype(float32, float64));
}

// ---------------------------------------------------------------- float16

TEST(Half, AllFloat16BitPatternsRoundTrip) {
  for (uint32_t b = 0; b < 65536; ++b) {
    uint16_t h = static_cast<uint16_t>(b);
    float f = float16_t::from_bits(h);
    float ref = gcc_f16_to_float(h);
    if (f16_is_nan(h)) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << b;
      EXPECT_EQ(std::signbit(f), (h & 0x8000u) != 0) << std::hex << b;
      // Back to float16: still nan, same sign, payload kept, quiet bit set.
      EXPECT_EQ(float16_t(f).bits_, h | 0x200u) << std::hex << b;
      continue;
    }
    ASSERT_EQ(bits_of(f), bits_of(ref)) << "float16 bits 0x" << std::hex << b;
    ASSERT_EQ(float16_t(f).bits_, h) << "float16 bits 0x" << std::hex << b;
  }
}

TEST(Half, Float32ToFloat16MatchesGccFloat16) {
  std::vector<float> inputs = float32_edge_values();
  // Every rounding boundary: each float16 value, the midpoint to its successor
  // (exact in float32) and the float32 neighbours of both.
  for (uint32_t b = 0; b < 0x7c00u; ++b) {
    float lo = float16_t::from_bits(static_cast<uint16_t>(b));
    float hi = b + 1 < 0x7c00u ? static_cast<float>(float16_t::from_bits(static_cast<uint16_t>(b + 1))) : 65536.0f;
    float mid = lo + (hi - lo) / 2;
    for (float c : {lo, mid}) {
      for (float x : {c, std::nextafter(c, 0.0f), std::nextafter(c, 1e30f)}) {
        inputs.push_back(x);
        inputs.push_back(-x);
      }
    }
  }
  std::mt19937 rng(42);
  for (int i = 0; i < (1 << 20); ++i) inputs.push_back(float_of(static_cast<uint32_t>(rng())));
  std::uniform_real_distribution<float> near(-70000.0f, 70000.0f);
  for (int i = 0; i < (1 << 18); ++i) inputs.push_back(near(rng) * std::ldexp(1.0f, -static_cast<int>(rng() % 40)));
  for (float x : inputs) {
    uint16_t got = float16_t(x).bits_;
    uint16_t ref = gcc_f16_bits(static_cast<_Float16>(x));
    if (std::isnan(x)) {
      ASSERT_TRUE(f16_is_nan(got)) << std::hex << bits_of(x);
      ASSERT_EQ(got & 0x8000u, ref & 0x8000u) << std::hex << bits_of(x);
    } else {
      ASSERT_EQ(got, ref) << "float32 " << x << " (0x" << std::hex << bits_of(x) << ")";
    }
  }
}

TEST(Half, Float64AndIntegersToFloat16RoundOnce) {
  // 1 + 2^-11 + 2^-40 lies just above the midpoint of 1 and 1 + 2^-10; going
  // through float32 first lands exactly on the midpoint and rounds down.
  std::vector<double> inputs = {1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40),
                                1.0 + std::ldexp(1.0, -11) - std::ldexp(1.0, -40),
                                65519.99999999,
                                65520.0,
                                -65520.000001,
                                std::ldexp(1.0, -25) + std::ldexp(1.0, -60),
                                std::ldexp(1.0, -25),
                                std::ldexp(3.0, -26) - std::ldexp(1.0, -70),
                                1e-300,
                                -1e300,
                                std::numeric_limits<double>::infinity(),
                                -0.0};
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int> ex(-30, 17);
  for (int i = 0; i < 200000; ++i) {
    double m = 1.0 + static_cast<double>(rng() >> 11) * std::ldexp(1.0, -53);
    inputs.push_back((rng() & 1 ? -m : m) * std::ldexp(1.0, ex(rng)));
  }
  for (double x : inputs) {
    uint16_t got = float16_t(x).bits_;
    ASSERT_EQ(got, gcc_f16_bits(static_cast<_Float16>(x))) << "float64 " << x;
    ASSERT_EQ(static_cast<float>(float16_t(x)), static_cast<float>(f16_round(x))) << "float64 " << x;
  }
  for (int64_t v = -70000; v <= 70000; v += 3) {
    ASSERT_EQ(float16_t(v).bits_, gcc_f16_bits(static_cast<_Float16>(static_cast<int>(v)))) << v;
  }
  EXPECT_EQ(float16_t(uint64_t{1} << 63).bits_, 0x7c00u);
  EXPECT_TRUE(f16_is_nan(float16_t(std::nan("")).bits_));
}

TEST(Half, Float16Limits) {
  using L = std::numeric_limits<float16_t>;
  EXPECT_EQ(static_cast<float>(L::max()), 65504.0f);
  EXPECT_EQ(static_cast<float>(L::lowest()), -65504.0f);
  EXPECT_EQ(static_cast<float>(L::min()), std::ldexp(1.0f, -14));
  EXPECT_EQ(static_cast<float>(L::epsilon()), std::ldexp(1.0f, -10));
  EXPECT_TRUE(std::isinf(static_cast<float>(L::infinity())));
  EXPECT_TRUE(std::isnan(static_cast<float>(L::quiet_NaN())));
  using B = std::numeric_limits<bfloat16_t>;
  EXPECT_EQ(static_cast<float>(B::max()), std::ldexp(255.0f, 120));
  EXPECT_EQ(static_cast<float>(B::min()), std::numeric_limits<float>::min());
  EXPECT_EQ(static_cast<float>(B::epsilon()), std::ldexp(1.0f, -7));
  EXPECT_TRUE(std::isnan(static_cast<float>(B::quiet_NaN())));
}

// ---------------------------------------------------------------- bfloat16

TEST(Half, AllBfloat16BitPatternsRoundTrip) {
  for (uint32_t b = 0; b < 65536; ++b) {
    uint16_t h = static_cast<uint16_t>(b);
    float f = bfloat16_t::from_bits(h);
    ASSERT_EQ(bits_of(f), b << 16);  // bfloat16 is the top half of a float32
    if (bf16_is_nan(h)) {
      uint16_t back = bfloat16_t(f).bits_;
      EXPECT_TRUE(bf16_is_nan(back)) << std::hex << b;
      EXPECT_EQ(back & 0x8000u, h & 0x8000u) << std::hex << b;
    } else {
      ASSERT_EQ(bfloat16_t(f).bits_, h) << std::hex << b;
    }
  }
}

TEST(Half, Float32ToBfloat16MatchesDefinition) {
  std::vector<uint32_t> inputs;
  for (uint64_t x = 0; x < (uint64_t{1} << 32); x += 4099) inputs.push_back(static_cast<uint32_t>(x));
  for (uint32_t hi = 0; hi < 65536; ++hi) {  // every tie and its neighbours
    for (uint32_t lo : {0x0000u, 0x0001u, 0x7fffu, 0x8000u, 0x8001u, 0xffffu}) inputs.push_back(hi << 16 | lo);
  }
  for (uint32_t x : inputs) {
    float f = float_of(x);
    uint16_t got = bfloat16_t(f).bits_;
    if (std::isnan(f)) {
      ASSERT_TRUE(bf16_is_nan(got)) << std::hex << x;
      ASSERT_EQ(got >> 15, x >> 31) << std::hex << x;
      continue;
    }
    ASSERT_EQ(got, bf16_ref_bits(f)) << "float32 0x" << std::hex << x;
    ASSERT_EQ(static_cast<float>(bfloat16_t(f)), static_cast<float>(bf16_round(f))) << "float32 0x" << std::hex << x;
  }
}

TEST(Half, Bfloat16HandCheckedValues) {
  auto bf = [](float f) { return bfloat16_t(f).bits_; };
  EXPECT_EQ(bf(1.0f), 0x3f80u);
  EXPECT_EQ(bf(-2.0f), 0xc000u);
  EXPECT_EQ(bf(1.00390625f), 0x3f80u);            // 1 + 2^-8: tie between 1 and 1 + 2^-7, to even (down)
  EXPECT_EQ(bf(1.01171875f), 0x3f82u);            // 1 + 3*2^-8: tie, to even (up)
  EXPECT_EQ(bf(float_of(0x3f808001u)), 0x3f81u);  // just above the first tie
  EXPECT_EQ(bf(3.140625f), 0x4049u);              // exact
  EXPECT_EQ(bf(3.14159265f), 0x4049u);            // pi
  EXPECT_EQ(bf(0.1f), 0x3dcdu);
  EXPECT_EQ(bf(std::numeric_limits<float>::max()), 0x7f80u);  // rounds up to inf
  EXPECT_EQ(bf(float_of(0x7f7f8000u)), 0x7f80u);              // tie at the top, odd -> inf
  EXPECT_EQ(bf(float_of(0x7f7f7fffu)), 0x7f7fu);
  EXPECT_EQ(bf(float_of(0x7f7e8000u)), 0x7f7eu);  // tie, even stays
  EXPECT_EQ(bf(std::numeric_limits<float>::denorm_min()), 0x0000u);
  EXPECT_EQ(bf(float_of(0x00008000u)), 0x0000u);  // subnormal tie, even
  EXPECT_EQ(bf(float_of(0x00018000u)), 0x0002u);  // subnormal tie, odd -> up
  EXPECT_EQ(bf(-0.0f), 0x8000u);
  EXPECT_EQ(bf(std::numeric_limits<float>::infinity()), 0x7f80u);
  EXPECT_EQ(bf(-std::numeric_limits<float>::infinity()), 0xff80u);
  EXPECT_TRUE(bf16_is_nan(bf(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_TRUE(bf16_is_nan(bf(float_of(0x7f800001u))));  // nan whose top half would read as inf
  EXPECT_TRUE(bf16_is_nan(bf(float_of(0xff80ffffu))));
}

TEST(Half, Float64AndIntegersToBfloat16RoundOnce) {
  std::vector<long double> inputs = {
      1.0L + std::ldexp(1.0L, -8) + std::ldexp(1.0L, -40),  // above a tie
      1.0L + std::ldexp(1.0L, -8) - std::ldexp(1.0L, -40), 3.3961e38L, 3.4e38L, 1e-40L, 1e-300L, -1e300L};
  std::mt19937_64 rng(11);
  std::uniform_int_distribution<int> ex(-140, 127);
  for (int i = 0; i < 200000; ++i) {
    double m = 1.0 + static_cast<double>(rng() >> 11) * std::ldexp(1.0, -53);
    inputs.push_back((rng() & 1 ? -m : m) * std::ldexp(1.0L, ex(rng)));
  }
  for (long double x : inputs) {
    double d = static_cast<double>(x);
    ASSERT_EQ(static_cast<float>(bfloat16_t(d)), static_cast<float>(bf16_round(d))) << "float64 " << d;
  }
  // Integers wider than float32's 24 bits: 2^30 + 2^22 + 1 is above a tie.
  std::vector<int64_t> ints = {(1 << 30) + (1 << 22) + 1,
                               (1 << 30) + (1 << 22),
                               -((1 << 24) + 1),
                               (int64_t{1} << 62) + (int64_t{1} << 54) + 1,
                               std::numeric_limits<int64_t>::min(),
                               std::numeric_limits<int64_t>::max()};
  for (int i = 0; i < 100000; ++i) ints.push_back(static_cast<int64_t>(rng()) >> (rng() % 40));
  for (int64_t v : ints) {
    long double ref = bf16_round(static_cast<long double>(v));
    ASSERT_EQ(static_cast<float>(bfloat16_t(v)), static_cast<float>(ref)) << "int64 " << v;
    if (v == static_cast<int32_t>(v)) {
      ASSERT_EQ(static_cast<float>(bfloat16_t(static_cast<int32_t>(v))), static_cast<float>(ref)) << v;
    }
    uint64_t u = static_cast<uint64_t>(v);
    ASSERT_EQ(static_cast<float>(bfloat16_t(u)), static_cast<float>(bf16_round(static_cast<long double>(u)))) << u;
  }
}

TEST(Half, AsTypeUsesTheSameRounding) {
  std::vector<float> f32 = float32_edge_values();
  std::mt19937 rng(3);
  for (int i = 0; i < 4096; ++i) f32.push_back(float_of(static_cast<uint32_t>(rng())));
  array x(f32, Shape{static_cast<int32_t>(f32.size())});
  auto h = values<float16_t>(astype(x, float16));
  auto b = values<bfloat16_t>(astype(x, bfloat16));
  for (size_t i = 0; i < f32.size(); ++i) {
    if (std::isnan(f32[i])) {
      EXPECT_TRUE(f16_is_nan(h[i].bits_) && bf16_is_nan(b[i].bits_));
      continue;
    }
    ASSERT_EQ(h[i].bits_, gcc_f16_bits(static_cast<_Float16>(f32[i]))) << f32[i];
    ASSERT_EQ(b[i].bits_, bf16_ref_bits(f32[i])) << f32[i];
  }
  // float16 -> float32 -> float16 through arrays, every pattern.
  std::vector<float16_t> all(65536);
  for (uint32_t i = 0; i < 65536; ++i) all[i] = float16_t::from_bits(static_cast<uint16_t>(i));
  array hx(all, Shape{256, 256});
  auto back = values<float16_t>(astype(astype(hx, float32), float16));
  for (uint32_t i = 0; i < 65536; ++i) {
    if (!f16_is_nan(static_cast<uint16_t>(i))) ASSERT_EQ(back[i].bits_, i);
  }
  // float64 and int32 sources round once.
  double d = 1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40);
  EXPECT_EQ(values<float16_t>(astype(array(d), float16))[0].bits_, 0x3c01u);
  EXPECT_EQ(values<float16_t>(astype(array(std::vector<double>{d, -d}, Shape{2}), float16))[1].bits_, 0xbc01u);
  int32_t iv = (1 << 30) + (1 << 22) + 1;
  EXPECT_EQ(static_cast<float>(values<bfloat16_t>(astype(array(iv), bfloat16))[0]),
            std::ldexp(1.0f, 30) + std::ldexp(1.0f, 23));
}

TEST(Half, WideningToFloat32IsExactOnEveryPatternAndLength) {
  // astype(float16/bfloat16 -> float32) takes a SIMD path split across threads: every bit
  // pattern (nan payloads included), many copies so several chunks run, and odd lengths
  // so the vector tails are exercised.
  std::vector<uint16_t> bits;
  for (int rep = 0; rep < 4; ++rep) {
    for (uint32_t i = 0; i < 65536; ++i) bits.push_back(static_cast<uint16_t>(i * 40503u + rep));
  }
  for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{33}, int64_t{65535}, static_cast<int64_t>(bits.size())}) {
    std::vector<float16_t> h(n);
    std::vector<bfloat16_t> b(n);
    for (int64_t i = 0; i < n; ++i) {
      h[i] = float16_t::from_bits(bits[i]);
      b[i] = bfloat16_t::from_bits(bits[i]);
    }
    auto fh = values<float>(astype(array(h, Shape{static_cast<int32_t>(n)}), float32));
    auto fb = values<float>(astype(array(b, Shape{static_cast<int32_t>(n)}), float32));
    for (int64_t i = 0; i < n; ++i) {
      float want_h = gcc_f16_to_float(bits[i]);
      uint32_t wb = static_cast<uint32_t>(bits[i]) << 16;  // bfloat16 is the top half of a float32
      float want_b;
      std::memcpy(&want_b, &wb, 4);
      if (std::isnan(want_h)) {
        ASSERT_TRUE(std::isnan(fh[i])) << std::hex << bits[i];
      } else {
        ASSERT_EQ(fh[i], want_h) << "float16 0x" << std::hex << bits[i];
        ASSERT_EQ(std::signbit(fh[i]), std::signbit(want_h)) << std::hex << bits[i];
      }
      if (std::isnan(want_b)) {
        ASSERT_TRUE(std::isnan(fb[i])) << std::hex << bits[i];
      } else {
        ASSERT_EQ(fb[i], want_b) << "bfloat16 0x" << std::hex << bits[i];
        ASSERT_EQ(std::signbit(fb[i]), std::signbit(want_b)) << std::hex << bits[i];
      }
    }
  }
}

TEST(Half, NarrowingFromFloat32IsRoundToNearestEvenAtEveryLength) {
  // astype(float32 -> float16/bfloat16) takes a SIMD path split across threads.
  std::vector<float> f32 = float32_edge_values();
  std::mt19937 rng(17);
  while (f32.size() < (1u << 18) + 37) f32.push_back(float_of(static_cast<uint32_t>(rng())));
  for (size_t n : {size_t{3}, size_t{29}, f32.size()}) {
    array x(f32.data(), Shape{static_cast<int32_t>(n)});
    auto h = values<float16_t>(astype(x, float16));
    auto b = values<bfloat16_t>(astype(x, bfloat16));
    for (size_t i = 0; i < n; ++i) {
      if (std::isnan(f32[i])) {
        ASSERT_TRUE(f16_is_nan(h[i].bits_) && bf16_is_nan(b[i].bits_)) << i;
        ASSERT_EQ(h[i].bits_ >> 15, b[i].bits_ >> 15) << "nan sign " << i;
        continue;
      }
      ASSERT_EQ(h[i].bits_, gcc_f16_bits(static_cast<_Float16>(f32[i]))) << f32[i];
      ASSERT_EQ(b[i].bits_, bf16_ref_bits(f32[i])) << f32[i];
    }
  }
}

TEST(Half, ElementwiseOpsRoundOnceFromFloat32) {
  // Half-precision elementwise ops compute in float32 blocks and round once: the result
  // must equal the float32 computation rounded by the scalar conversion, for the dense,
  // scalar-broadcast and strided access patterns.
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-4.0f, 4.0f);
  const int n = 5000 + 3;
  std::vector<float> av(n), bv(n);
  for (auto& v : av) v = u(rng);
  for (auto& v : bv) v = u(rng);
  for (Dtype dt : {float16, bfloat16}) {
    array a = astype(array(av.data(), Shape{n}), dt), b = astype(array(bv.data(), Shape{n}), dt);
    std::vector<double> ad = test_utils::values(a), bd = test_utils::values(b);
    auto round = [&](float v) {
      return dt == float16 ? static_cast<double>(static_cast<float>(float16_t(v)))
                           : static_cast<double>(static_cast<float>(bfloat16_t(v)));
    };
    auto check = [&](const array& got, auto f, const std::string& what) {
      std::vector<double> g = test_utils::values(got);
      ASSERT_EQ(g.size(), static_cast<size_t>(n)) << what;
      for (int i = 0; i < n; ++i) {
        ASSERT_EQ(g[i], f(i)) << what << " " << dtype_name(dt) << " element " << i;
      }
    };
    check(
        add(a, b), [&](int i) { return round(float(ad[i]) + float(bd[i])); }, "add");
    check(
        multiply(a, b), [&](int i) { return round(float(ad[i]) * float(bd[i])); }, "multiply");
    // exp goes through the SIMD float32 exp (within 1 ulp there): allow one half-precision ulp.
    std::vector<double> e = test_utils::values(exp(a));
    for (int i = 0; i < n; ++i) {
      double want = std::exp(ad[i]), ulp = std::ldexp(want, dt == float16 ? -10 : -7);
      ASSERT_NEAR(e[i], want, ulp) << "exp " << dtype_name(dt) << " element " << i;
    }
    check(
        add(a, take(b, 7)), [&](int i) { return round(float(ad[i]) + float(bd[7])); }, "vector-scalar");
    check(
        subtract(take(b, 3), a), [&](int i) { return round(float(bd[3]) - float(ad[i])); }, "scalar-vector");
    check(
        less(a, b), [&](int i) { return ad[i] < bd[i] ? 1.0 : 0.0; }, "less");
    array r = reshape(slice(concatenate({a, b}), {0}, {2 * n}), {2, n});  // rows: a, b
    check(
        maximum(take(r, 0, 0), take(r, 1, 0)), [&](int i) { return std::max(ad[i], bd[i]); }, "maximum");
  }
}

// ---------------------------------------------------------------- promotion

namespace {

// Runs NumPy and returns "a b" -> name of np.promote_types(a, b) for every pair
// of the dtypes NumPy has. Empty (with `error` set) when python3/numpy is unusable.
std::map<std::string, std::string> numpy_promotions(std::string* error) {
  const char* cmd =
      R"py(python3 -c "import numpy as np; n='bool uint8 uint16 uint32 uint64 int8 int16 int32 int64 float16 )py"
      R"py(float32 float64 complex64'.split(); print(chr(10).join(a+' '+b+' '+np.promote_types(a,b).name )py"
      R"py(for a in n for b in n))" 2>&1)py";
  std::map<std::string, std::string> table;
  FILE* p = popen(cmd, "r");
  if (!p) {
    *error = "popen failed";
    return table;
  }
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int rc = pclose(p);
  std::istringstream in(out);
  std::string a, b, r;
  while (in >> a >> b >> r) table[a + " " + b] = r;
  if (rc != 0 || table.size() != 13 * 13) {
    *error = "exit status " + std::to_string(rc) + ", output:\n" + out;
    table.clear();
  }
  return table;
}

struct Deviation {
  Dtype a, b;
  Dtype mlx;          // what Ember (following MLX) returns
  const char* numpy;  // what NumPy returns
};

// Where MLX (and so Ember) departs from NumPy. Each pair is checked both ways:
// Ember gives `mlx` and NumPy really gives `numpy`.
const std::vector<Deviation> kMlxDeviations = {
    // A float mixed with any integer keeps the float's type (NumPy widens to hold the integer).
    {uint16, float16, float16, "float32"},
    {int16, float16, float16, "float32"},
    {uint32, float16, float16, "float64"},
    {int32, float16, float16, "float64"},
    {uint64, float16, float16, "float64"},
    {int64, float16, float16, "float64"},
    {uint32, float32, float32, "float64"},
    {int32, float32, float32, "float64"},
    {uint64, float32, float32, "float64"},
    {int64, float32, float32, "float64"},
    // No integer type holds uint64 and a signed integer: MLX picks float32.
    {uint64, int8, float32, "float64"},
    {uint64, int16, float32, "float64"},
    {uint64, int32, float32, "float64"},
    {uint64, int64, float32, "float64"},
    // complex64 is the only complex type.
    {complex64, uint32, complex64, "complex128"},
    {complex64, int32, complex64, "complex128"},
    {complex64, uint64, complex64, "complex128"},
    {complex64, int64, complex64, "complex128"},
    {complex64, float64, complex64, "complex128"},
};

}  // namespace

TEST(Promotion, MatchesNumPyExceptDocumentedMlxRules) {
  std::string error;
  auto numpy = numpy_promotions(&error);
  ASSERT_FALSE(numpy.empty()) << "this test needs python3 with numpy (pip install numpy, or scripts/install-deps): "
                              << error;
  std::map<std::string, const Deviation*> deviations;
  for (auto& d : kMlxDeviations) {
    deviations[dtype_name(d.a) + " " + dtype_name(d.b)] = &d;
    deviations[dtype_name(d.b) + " " + dtype_name(d.a)] = &d;
  }
  int checked = 0;
  for (Dtype a : kAllDtypes) {
    for (Dtype b : kAllDtypes) {
      if (a == bfloat16 || b == bfloat16) continue;  // NumPy has no bfloat16 (next test)
      std::string key = dtype_name(a) + " " + dtype_name(b);
      ASSERT_TRUE(numpy.count(key)) << key;
      Dtype got = promote_types(a, b);
      if (auto it = deviations.find(key); it != deviations.end()) {
        EXPECT_EQ(got, it->second->mlx) << key << " (documented MLX rule)";
        EXPECT_EQ(numpy[key], it->second->numpy) << key << ": the deviation list is out of date";
      } else {
        EXPECT_EQ(dtype_name(got), numpy[key]) << key;
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 169);
}

TEST(Promotion, Bfloat16FollowsMlx) {
  // MLX: bool and every integer + bfloat16 -> bfloat16; float16 + bfloat16 -> float32;
  // wider floats and complex win.
  for (Dtype t : {bool_, uint8, uint16, uint32, uint64, int8, int16, int32, int64, bfloat16}) {
    EXPECT_EQ(promote_types(t, bfloat16), bfloat16) << t;
    EXPECT_EQ(promote_types(bfloat16, t), bfloat16) << t;
  }
  EXPECT_EQ(promote_types(float16, bfloat16), float32);
  EXPECT_EQ(promote_types(bfloat16, float16), float32);
  EXPECT_EQ(promote_types(bfloat16, float32), float32);
  EXPECT_EQ(promote_types(float64, bfloat16), float64);
  EXPECT_EQ(promote_types(bfloat16, complex64), complex64);
}

TEST(Promotion, SymmetricWithBoolAsIdentity) {
  for (Dtype a : kAllDtypes) {
    EXPECT_EQ(promote_types(a, a), a);
    EXPECT_EQ(promote_types(a, bool_), a);
    for (Dtype b : kAllDtypes) EXPECT_EQ(promote_types(a, b), promote_types(b, a)) << a << " " << b;
  }
}

TEST(Promotion, BinaryOpsUsePromotedDtype) {
  array i8({-100, 50, 7}, int8);
  array u8({200, 250, 1}, uint8);
  array s = add(i8, u8);
  EXPECT_EQ(s.dtype(), int16);
  EXPECT_EQ(values<int16_t>(s), (std::vector<int16_t>{100, 300, 8}));
  array u64({uint64_t{1} << 40}, uint64);
  array m = multiply(u64, array({-2}, int32));
  EXPECT_EQ(m.dtype(), float32);
  EXPECT_EQ(values<float>(m)[0], -std::ldexp(1.0f, 41));
  array f16({1.5f}, float16);
  array h = add(f16, array({1000}, int32));
  EXPECT_EQ(h.dtype(), float16);
  EXPECT_EQ(static_cast<float>(values<float16_t>(h)[0]), 1001.5f);
  array bf = add(array({1.0f}, bfloat16), array({1.0f}, float16));
  EXPECT_EQ(bf.dtype(), float32);
  EXPECT_EQ(values<float>(bf)[0], 2.0f);
  EXPECT_EQ(add(array({1.0f}, complex64), array({1.0}, float64)).dtype(), complex64);
}

TEST(Promotion, WeakScalarDtypes) {
  for (Dtype t : kAllDtypes) {
    EXPECT_EQ(weak_scalar_dtype(ScalarKind::boolean, t), t);
    EXPECT_EQ(weak_scalar_dtype(ScalarKind::integer, t), t == bool_ ? int32 : t);
    EXPECT_EQ(weak_scalar_dtype(ScalarKind::floating, t), is_inexact(t) ? t : float32);
    EXPECT_EQ(weak_scalar_dtype(ScalarKind::complex, t), complex64);
  }
}

TEST(Promotion, WeakScalarOperators) {
  array i8({-3, 0, 125}, int8);
  array a = i8 + 2;
  EXPECT_EQ(a.dtype(), int8);
  EXPECT_EQ(values<int8_t>(a), (std::vector<int8_t>{-1, 2, 127}));
  EXPECT_EQ((2 + i8).dtype(), int8);
  EXPECT_EQ((i8 * int64_t{3}).dtype(), int8);  // the scalar's C++ width doesn't matter
  EXPECT_EQ((i8 + true).dtype(), int8);
  array u8({1, 2}, uint8);
  EXPECT_EQ((u8 - 1).dtype(), uint8);
  EXPECT_EQ(values<uint8_t>(u8 - 1), (std::vector<uint8_t>{0, 1}));

  array i32({1, 2, 3});
  array h = i32 * 0.5;
  EXPECT_EQ(h.dtype(), float32);
  EXPECT_EQ(values<float>(h), (std::vector<float>{0.5f, 1.0f, 1.5f}));
  EXPECT_EQ((0.5f * i32).dtype(), float32);
  EXPECT_EQ((array({int64_t{1}}) * 0.5).dtype(), float32);
  EXPECT_EQ((i32 / 2).dtype(), float32);
  EXPECT_EQ(values<float>(i32 / 2)[0], 0.5f);

  array f16({1.0f, -2.0f}, float16);
  array g = f16 + 1.5;
  EXPECT_EQ(g.dtype(), float16);
  EXPECT_EQ(static_cast<float>(values<float16_t>(g)[1]), -0.5f);
  EXPECT_EQ((f16 * 3).dtype(), float16);
  EXPECT_EQ((array({1.0f}, bfloat16) + 1.0).dtype(), bfloat16);
  EXPECT_EQ((array({1.0}) + 1.0f).dtype(), float64);

  array b({true, false});
  array c = b + 1;
  EXPECT_EQ(c.dtype(), int32);
  EXPECT_EQ(values<int32_t>(c), (std::vector<int32_t>{2, 1}));
  EXPECT_EQ((b + true).dtype(), bool_);
  EXPECT_EQ((b * 2.5).dtype(), float32);

  array z = array({1.0f}) * complex64_t(0, 1);
  EXPECT_EQ(z.dtype(), complex64);
  EXPECT_EQ(values<complex64_t>(z)[0], complex64_t(0, 1));
  EXPECT_EQ((i8 < 2).dtype(), bool_);
  EXPECT_EQ(values<bool>(i8 < 2), (std::vector<bool>{true, true, false}));
}
