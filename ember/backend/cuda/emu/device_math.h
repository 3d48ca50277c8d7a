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

#include "ember/backend/common/erfinv.h"
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
inline float __uint_as_float(unsigned v) { return ember_emu_bit_cast<float>(v); }
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

// Inverse error function (CUDA has erfinv/erfinvf; C does not).
using ::ember::math::erfinv;
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
