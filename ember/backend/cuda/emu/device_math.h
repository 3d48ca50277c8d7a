// Host versions of the CUDA device functions Ember's generated kernels call (bit casts,
// rounding-mode arithmetic, half conversions, math overloads), for running those
// kernels on the CPU emulator (emu.h). Values match CUDA's round-to-nearest-even
// forms; the math functions are the host C library's, so results agree with the
// GPU's within each library's documented error, not bit for bit.
#pragma once

#include <math.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "ember/half.h"

template <class To, class From>
inline To ember_emu_bit_cast(From v) {
  static_assert(sizeof(To) == sizeof(From), "bit casts keep the size");
  To out;
  std::memcpy(&out, &v, sizeof(To));
  return out;
}

inline float __int_as_float(int v) { return ember_emu_bit_cast<float>(v); }
inline int __float_as_int(float v) { return ember_emu_bit_cast<int>(v); }
inline unsigned __float_as_uint(float v) { return ember_emu_bit_cast<unsigned>(v); }
inline double __longlong_as_double(long long v) { return ember_emu_bit_cast<double>(v); }
inline long long __double_as_longlong(double v) { return ember_emu_bit_cast<long long>(v); }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }

// Half conversions (the types themselves are ember::float16_t / bfloat16_t, see emu.h).
inline ::ember::float16_t __float2half_rn(float f) { return ::ember::float16_t(f); }
inline ::ember::float16_t __double2half(double d) { return ::ember::float16_t(static_cast<float>(d)); }
inline ::ember::float16_t __int2half_rn(int v) { return ::ember::float16_t(static_cast<float>(v)); }
inline ::ember::float16_t __uint2half_rn(unsigned v) { return ::ember::float16_t(static_cast<float>(v)); }
inline ::ember::float16_t __ll2half_rn(long long v) { return ::ember::float16_t(static_cast<float>(v)); }
inline ::ember::float16_t __ull2half_rn(unsigned long long v) { return ::ember::float16_t(static_cast<float>(v)); }
inline ::ember::bfloat16_t __float2bfloat16_rn(float f) { return ::ember::bfloat16_t(f); }
inline ::ember::bfloat16_t __double2bfloat16(double d) { return ::ember::bfloat16_t(static_cast<float>(d)); }
inline ::ember::bfloat16_t __int2bfloat16_rn(int v) { return ::ember::bfloat16_t(static_cast<float>(v)); }
inline ::ember::bfloat16_t __uint2bfloat16_rn(unsigned v) { return ::ember::bfloat16_t(static_cast<float>(v)); }
inline ::ember::bfloat16_t __ll2bfloat16_rn(long long v) { return ::ember::bfloat16_t(static_cast<float>(v)); }
inline ::ember::bfloat16_t __ull2bfloat16_rn(unsigned long long v) {
  return ::ember::bfloat16_t(static_cast<float>(v));
}

// Inverse error function (CUDA has erfinv/erfinvf; C does not): Giles' single-precision
// approximation, refined by two Newton steps on erf in double.
inline double erfinv(double x) {
  if (!(x > -1.0 && x < 1.0)) {
    if (x == 1.0) return std::numeric_limits<double>::infinity();
    if (x == -1.0) return -std::numeric_limits<double>::infinity();
    return std::numeric_limits<double>::quiet_NaN();
  }
  double w = -std::log((1.0 - x) * (1.0 + x)), p;
  if (w < 5.0) {
    w -= 2.5;
    p = 2.81022636e-08;
    p = 3.43273939e-07 + p * w;
    p = -3.5233877e-06 + p * w;
    p = -4.39150654e-06 + p * w;
    p = 0.00021858087 + p * w;
    p = -0.00125372503 + p * w;
    p = -0.00417768164 + p * w;
    p = 0.246640727 + p * w;
    p = 1.50140941 + p * w;
  } else {
    w = std::sqrt(w) - 3.0;
    p = -0.000200214257;
    p = 0.000100950558 + p * w;
    p = 0.00134934322 + p * w;
    p = -0.00367342844 + p * w;
    p = 0.00573950773 + p * w;
    p = -0.0076224613 + p * w;
    p = 0.00943887047 + p * w;
    p = 1.00167406 + p * w;
    p = 2.83297682 + p * w;
  }
  double y = p * x;
  const double two_over_sqrt_pi = 1.1283791670955126;
  for (int i = 0; i < 2; ++i) y -= (std::erf(y) - x) / (two_over_sqrt_pi * std::exp(-y * y));
  return y;
}
inline float erfinvf(float x) { return static_cast<float>(erfinv(static_cast<double>(x))); }

// CUDA overloads the math functions for float; bring the C++ overloads to global scope.
using std::abs;
using std::acos;
using std::acosh;
using std::asin;
using std::asinh;
using std::atan;
using std::atan2;
using std::atanh;
using std::ceil;
using std::copysign;
using std::cos;
using std::cosh;
using std::erf;
using std::exp;
using std::expm1;
using std::fabs;
using std::floor;
using std::fmod;
using std::isinf;
using std::isnan;
using std::log;
using std::log10;
using std::log1p;
using std::log2;
using std::pow;
using std::rint;
using std::sin;
using std::sinh;
using std::sqrt;
using std::tan;
using std::tanh;
