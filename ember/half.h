// 16-bit floating point storage types. Arithmetic happens in float32; the
// conversions round to nearest even and keep inf/nan, as IEEE 754 requires.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

namespace ember {

namespace detail {

inline uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

inline float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// IEEE binary32 -> binary16, round to nearest even.
inline uint16_t float_to_half_bits(float f) {
  uint32_t x = float_bits(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) {  // inf or nan: keep nan-ness with a quiet bit
    return static_cast<uint16_t>(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u | ((ax >> 13) & 0x3ffu) : 0u));
  }
  if (ax >= 0x477ff000u) {  // rounds to >= 65520 -> inf
    return static_cast<uint16_t>(sign | 0x7c00u);
  }
  if (ax < 0x38800000u) {  // result is subnormal or zero
    // Add 0.5 (as a float) so the hardware adder does the rounding for us.
    float v = bits_float(ax) + 0.5f;
    return static_cast<uint16_t>(sign | (float_bits(v) - 0x3f000000u));
  }
  uint32_t mant_odd = (ax >> 13) & 1u;
  ax += 0xc8000fffu + mant_odd;  // rebias exponent (-112 << 23) and round
  return static_cast<uint16_t>(sign | (ax >> 13));
}

inline float half_bits_to_float(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0x1f) {
    return bits_float(sign | 0x7f800000u | (mant << 13));
  }
  if (exp == 0) {
    // subnormal: value = mant * 2^-24, exact in float32
    float v = static_cast<float>(mant) * 5.9604644775390625e-08f;
    return sign ? -v : v;
  }
  return bits_float(sign | ((exp + 112u) << 23) | (mant << 13));
}

inline uint16_t float_to_bf16_bits(float f) {
  uint32_t x = float_bits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) {
    return static_cast<uint16_t>((x >> 16) | 0x40u);  // quiet nan
  }
  uint32_t rounding = 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>((x + rounding) >> 16);
}

inline float bf16_bits_to_float(uint16_t b) { return bits_float(static_cast<uint32_t>(b) << 16); }

// Narrows `v` to float32 so that a second rounding, to float16 or bfloat16,
// still rounds `v` correctly (to nearest even): exact values pass through;
// inexact ones are truncated and get their lowest bit set ("round to odd"),
// which records that `v` lies strictly between two 16-bit numbers. A plain
// static_cast<float> would round twice: 1 + 2^-11 + 2^-40 (double) becomes
// the float16 tie 1 + 2^-11 and then rounds down instead of up.
template <class T>
inline float to_float_round_odd(T v) {
  if constexpr (std::is_floating_point_v<T> && sizeof(T) > sizeof(float)) {
    float f = static_cast<float>(v);
    if (std::isnan(v) || std::isinf(f) || static_cast<T>(f) == v) return f;
    if (std::fabs(static_cast<T>(f)) > std::fabs(v)) f = std::nextafter(f, 0.0f);
    return bits_float(float_bits(f) | 1u);
  } else if constexpr (std::is_integral_v<T> && sizeof(T) > 2) {
    bool neg = false;
    uint64_t m = static_cast<uint64_t>(v);
    if constexpr (std::is_signed_v<T>) {
      neg = v < 0;
      if (neg) m = uint64_t{0} - m;
    }
    if (m >= (uint64_t{1} << 24)) {  // more than float32's 24 significant bits
      int shift = 64 - std::countl_zero(m) - 24;
      uint64_t kept = (m >> shift) | ((m & ((uint64_t{1} << shift) - 1)) != 0);
      float f = std::ldexp(static_cast<float>(kept), shift);
      return neg ? -f : f;
    }
    return neg ? -static_cast<float>(m) : static_cast<float>(m);
  } else {
    return static_cast<float>(v);  // exact: float, 8/16-bit integers, bool, float16_t, bfloat16_t
  }
}

}  // namespace detail

/// IEEE 754 binary16 storage type.
struct float16_t {
  uint16_t bits_ = 0;
  float16_t() = default;
  template <class T>
  float16_t(T v) : bits_(detail::float_to_half_bits(detail::to_float_round_odd(v))) {}
  static float16_t from_bits(uint16_t b) {
    float16_t h;
    h.bits_ = b;
    return h;
  }
  operator float() const { return detail::half_bits_to_float(bits_); }
};

/// bfloat16 storage type (the upper half of a float32).
struct bfloat16_t {
  uint16_t bits_ = 0;
  bfloat16_t() = default;
  template <class T>
  bfloat16_t(T v) : bits_(detail::float_to_bf16_bits(detail::to_float_round_odd(v))) {}
  static bfloat16_t from_bits(uint16_t b) {
    bfloat16_t h;
    h.bits_ = b;
    return h;
  }
  operator float() const { return detail::bf16_bits_to_float(bits_); }
};

}  // namespace ember

namespace std {
template <>
class numeric_limits<ember::float16_t> {
 public:
  static constexpr bool is_specialized = true;
  static constexpr bool is_signed = true;
  static constexpr bool is_integer = false;
  static constexpr bool has_infinity = true;
  static constexpr bool has_quiet_NaN = true;
  static constexpr int digits = 11;
  static ember::float16_t lowest() { return ember::float16_t::from_bits(0xfbff); }
  static ember::float16_t max() { return ember::float16_t::from_bits(0x7bff); }
  static ember::float16_t min() { return ember::float16_t::from_bits(0x0400); }
  static ember::float16_t epsilon() { return ember::float16_t::from_bits(0x1400); }
  static ember::float16_t infinity() { return ember::float16_t::from_bits(0x7c00); }
  static ember::float16_t quiet_NaN() { return ember::float16_t::from_bits(0x7e00); }
};
template <>
class numeric_limits<ember::bfloat16_t> {
 public:
  static constexpr bool is_specialized = true;
  static constexpr bool is_signed = true;
  static constexpr bool is_integer = false;
  static constexpr bool has_infinity = true;
  static constexpr bool has_quiet_NaN = true;
  static constexpr int digits = 8;
  static ember::bfloat16_t lowest() { return ember::bfloat16_t::from_bits(0xff7f); }
  static ember::bfloat16_t max() { return ember::bfloat16_t::from_bits(0x7f7f); }
  static ember::bfloat16_t min() { return ember::bfloat16_t::from_bits(0x0080); }
  static ember::bfloat16_t epsilon() { return ember::bfloat16_t::from_bits(0x3c00); }
  static ember::bfloat16_t infinity() { return ember::bfloat16_t::from_bits(0x7f80); }
  static ember::bfloat16_t quiet_NaN() { return ember::bfloat16_t::from_bits(0x7fc0); }
};
}  // namespace std
