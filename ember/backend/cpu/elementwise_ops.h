// The elementwise math of the CPU backend, one functor per op: the eager kernels
// (unary.cpp, binary.cpp) and the kernels compile generates (compiled.cpp) call the same
// functors, so a fused chain rounds exactly as the ops one by one.
//
// Self-contained on purpose: besides the standard library it needs only half.h and
// erfinv.h, and the three headers' text is pasted into every generated kernel program
// (see cmake/embed_headers.cmake), so installed copies need no Ember headers on disk.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "ember/backend/common/erfinv.h"
#include "ember/half.h"

// compile's kernels see no complex values: there the type is only named, which keeps
// <complex> out of every kernel build.
#ifdef EMBER_JIT_KERNEL
namespace ember {
struct complex64_t;
}
#else
#include <complex>
namespace ember {
using complex64_t = std::complex<float>;  // as in dtype.h
}
#endif

namespace ember::cpu {

template <class T>
constexpr bool is_cplx = std::is_same_v<T, complex64_t>;

/// One element converted as astype converts: complex -> real keeps the real part, -> bool
/// tests != 0, the half types go through float32.
template <class D, class S>
D convert_value(S s) {
  if constexpr (std::is_same_v<S, D>) {
    return s;
  } else if constexpr (is_cplx<S>) {
    if constexpr (std::is_same_v<D, bool>) {
      return s != S(0);
    } else {
      return static_cast<D>(s.real());
    }
  } else if constexpr (is_cplx<D>) {
    return D(static_cast<float>(s), 0.0f);
  } else if constexpr (std::is_same_v<D, bool>) {
    return static_cast<float>(s) != 0.0f || static_cast<bool>(s);
  } else if constexpr (std::is_same_v<S, bool>) {
    // A select, not a conversion: GCC vectorizes it where the bool comes from a comparison
    // (a fused kernel's relu gradient, say).
    return s ? static_cast<D>(1.0f) : static_cast<D>(0.0f);
  } else if constexpr (std::is_same_v<S, float16_t> || std::is_same_v<S, bfloat16_t>) {
    return static_cast<D>(static_cast<float>(s));
  } else {
    return static_cast<D>(s);
  }
}

/// float16/bfloat16 compute in float32; everything else in its own type.
template <class T>
using compute_t = std::conditional_t<std::is_same_v<T, float16_t> || std::is_same_v<T, bfloat16_t>, float, T>;

template <class T>
inline constexpr bool is_half_v = std::is_same_v<T, float16_t> || std::is_same_v<T, bfloat16_t>;

/// Integer + - * wrap around like NumPy's. Signed overflow is undefined in
/// C++ (and uint16 * uint16 overflows `int` after promotion), so compute in an
/// unsigned type at least as wide as `unsigned` and convert back (modular).
template <class T>
using wrap_t = std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;
template <class T>
T wrapping_add(T a, T b) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    return static_cast<T>(static_cast<wrap_t<T>>(a) + static_cast<wrap_t<T>>(b));
  } else {
    return a + b;
  }
}
template <class T>
T wrapping_sub(T a, T b) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    return static_cast<T>(static_cast<wrap_t<T>>(a) - static_cast<wrap_t<T>>(b));
  } else {
    return a - b;
  }
}
template <class T>
T wrapping_mul(T a, T b) {
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    return static_cast<T>(static_cast<wrap_t<T>>(a) * static_cast<wrap_t<T>>(b));
  } else {
    return a * b;
  }
}

// Round half to even, as NumPy and MLX do.
template <class T>
T round_half_even(T x) {
  return std::nearbyint(x);  // default rounding mode is to-nearest-even
}

// The trailing return type drops complex inputs the C++ library lacks (erf, floor, ...).
#define EMBER_REAL_FN(NAME, EXPR)                          \
  struct NAME {                                            \
    template <class T>                                     \
    auto operator()(T x) const -> decltype(std::EXPR(x)) { \
      return std::EXPR(x);                                 \
    }                                                      \
  };

EMBER_REAL_FN(Expm1, expm1)
EMBER_REAL_FN(Log, log)
EMBER_REAL_FN(Log1p, log1p)
EMBER_REAL_FN(Log2, log2)
EMBER_REAL_FN(Log10, log10)
EMBER_REAL_FN(Sin, sin)
EMBER_REAL_FN(Cos, cos)
EMBER_REAL_FN(Tan, tan)
EMBER_REAL_FN(ArcSin, asin)
EMBER_REAL_FN(ArcCos, acos)
EMBER_REAL_FN(ArcTan, atan)
EMBER_REAL_FN(Sinh, sinh)
EMBER_REAL_FN(Cosh, cosh)
EMBER_REAL_FN(ArcSinh, asinh)
EMBER_REAL_FN(ArcCosh, acosh)
EMBER_REAL_FN(ArcTanh, atanh)
EMBER_REAL_FN(Sqrt, sqrt)
EMBER_REAL_FN(Erf, erf)
EMBER_REAL_FN(Floor, floor)
EMBER_REAL_FN(Ceil, ceil)
#undef EMBER_REAL_FN

// c ? a : b through bit masks: both sides are computed, so loops using it stay
// branch-free and vectorize (GCC sinks the work of a ?: into branches it cannot vectorize).
inline float select_bits(bool c, float a, float b) {
  const uint32_t m = 0u - static_cast<uint32_t>(c);
  return std::bit_cast<float>((std::bit_cast<uint32_t>(a) & m) | (std::bit_cast<uint32_t>(b) & ~m));
}

// e^r for |r| <= ln 2 / 2 (after x = n ln2 + r): Cephes' expf polynomial.
inline float exp_reduced(float r) {
  return (((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r + 4.1665795894e-2f) * r +
           1.6666665459e-1f) *
              r +
          5.0000001201e-1f) *
             (r * r) +
         r + 1.0f;
}

// float32 exp without a library call per element, so the loops of compile's fused kernels
// (and eager strided ones) vectorize: x = n ln2 + r with |r| <= ln2 / 2, Cephes' expf
// polynomial for e^r, then 2^n applied as two normal powers of two so that results in the
// subnormal range round once. Above ln(FLT_MAX) it gives inf, below -103.98 zero, nan stays
// nan. Branch-free.
inline float exp_f32(float x) {
  const float c = std::fmin(std::fmax(x, -103.98f), 88.7228394f);  // nan -> -103.98 (fixed below)
  const float nf = std::floor(c * 1.44269504088896341f + 0.5f);
  const float r = c - nf * 0.693359375f + nf * 2.12194440e-4f;
  const float p = exp_reduced(r);
  const int32_t n = static_cast<int32_t>(nf);  // in [-150, 128]
  const int32_t h = n >> 1;
  const float e = p * std::bit_cast<float>((h + 127) << 23) * std::bit_cast<float>((n - h + 127) << 23);
  return select_bits(x != x, x, e);
}

struct Exp {
  template <class T>
  auto operator()(T x) const -> decltype(std::exp(x)) {
    if constexpr (std::is_same_v<T, float>) {
      return exp_f32(x);
    } else {
      return std::exp(x);
    }
  }
};

// float32 tanh without a library call per element, so compilers vectorize the loops that
// use it (eager and fused alike): Cephes' tanhf, an odd polynomial below |x| = 0.625 and
// 1 - 2 / (exp(2|x|) + 1) above, with exp from its polynomial on [0, 88] (2^n built from
// the bits). Within 2 ulp of the exact value; branch-free.
inline float tanh_f32(float x) {
  const float a = std::fabs(x), z = x * x;
  const float q = (((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z + 1.33314422036e-1f) * z -
                  3.33332819422e-1f;
  const float small = std::copysign(a + a * z * q, x);  // odd, -0 stays -0
  // exp(2|x|), 2|x| capped at 88 (exp(88) ~ 1.7e38; tanh is 1 in float long before); nan -> 88.
  const float t = select_bits(a < 44.0f, 2.0f * a, 88.0f);
  const int32_t n = static_cast<int32_t>(t * 1.44269504088896341f + 0.5f);  // round, as t >= 0
  const float nf = static_cast<float>(n);
  const float r = t - nf * 0.693359375f + nf * 2.12194440e-4f;
  const float p = exp_reduced(r);
  const float e = p * std::bit_cast<float>((n + 127) << 23);
  const float big = std::copysign(1.0f - 2.0f / (e + 1.0f), x);
  return select_bits(a < 0.625f, small, select_bits(x != x, x, big));
}

struct Tanh {
  template <class T>
  auto operator()(T x) const -> decltype(std::tanh(x)) {
    if constexpr (std::is_same_v<T, float>) {
      return tanh_f32(x);
    } else {
      return std::tanh(x);
    }
  }
};

// Integer negation and abs wrap (abs(int8 -128) == -128, as in NumPy) instead
// of overflowing, which is undefined for int32/int64.
struct Negative {
  template <class T>
  T operator()(T x) const {
    if constexpr (std::is_same_v<T, bool>) {
      return x;
    } else if constexpr (std::is_integral_v<T>) {
      return wrapping_sub(T(0), x);
    } else {
      return -x;
    }
  }
};
struct Abs {
  template <class T>
  T operator()(T x) const {
    if constexpr (std::is_unsigned_v<T> || std::is_same_v<T, bool>) {
      return x;
    } else if constexpr (is_cplx<T>) {
      return T(std::abs(x));  // the op routes complex abs to a float output; kept for completeness
    } else if constexpr (std::is_integral_v<T>) {
      return x < T(0) ? wrapping_sub(T(0), x) : x;
    } else {
      return std::fabs(x);  // clears the sign of -0.0 too
    }
  }
};
struct Sign {
  template <class T>
  T operator()(T x) const {
    if constexpr (is_cplx<T>) {
      float m = std::abs(x);
      return m == 0.0f ? T(0) : x / m;
    } else if constexpr (std::is_unsigned_v<T> || std::is_same_v<T, bool>) {
      return x != T(0);
    } else if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(x)) return x;
      return static_cast<T>((T(0) < x) - (x < T(0)));
    } else {
      return static_cast<T>((T(0) < x) - (x < T(0)));
    }
  }
};
struct Square {
  template <class T>
  T operator()(T x) const {
    if constexpr (std::is_same_v<T, bool>) {
      return x;
    } else {
      return wrapping_mul(x, x);
    }
  }
};
struct Reciprocal {
  template <class T>
  T operator()(T x) const {
    return T(1) / x;
  }
};
struct Rsqrt {
  template <class T>
  T operator()(T x) const {
    return T(1) / std::sqrt(x);
  }
};
struct Sigmoid {
  template <class T>
  requires(!is_cplx<T>) T operator()(T x) const {
    // exp of -|x| never overflows. For x < 0 use e / (1 + e), not 1 - sigmoid(-x),
    // which cancels to 0 (sigmoid(-40) is 4e-18, not 0).
    T e = std::exp(-std::abs(x));
    return x >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e);
  }
};
struct ErfInv {
  template <class T>
  requires(!is_cplx<T>) T operator()(T x) const { return static_cast<T>(math::erfinv(static_cast<double>(x))); }
};
struct Round {
  template <class T>
  T operator()(T x) const {
    if constexpr (std::is_floating_point_v<T>) {
      return round_half_even(x);
    } else if constexpr (is_cplx<T>) {
      return T(round_half_even(x.real()), round_half_even(x.imag()));
    } else {
      return x;
    }
  }
};
struct Identity {
  template <class T>
  T operator()(T x) const {
    return x;
  }
};
struct LogicalNot {
  bool operator()(bool x) const { return !x; }
};
struct BitwiseInvert {
  template <class T>
  T operator()(T x) const {
    if constexpr (std::is_same_v<T, bool>) {
      return !x;
    } else {
      return static_cast<T>(~x);
    }
  }
};

struct IsNaN {
  template <class T>
  bool operator()(T x) const {
    if constexpr (std::is_floating_point_v<T>) {
      return std::isnan(x);
    } else if constexpr (is_cplx<T>) {
      return std::isnan(x.real()) || std::isnan(x.imag());
    } else {
      return false;
    }
  }
};

// Integer + - * wrap around (see wrapping_add in elementwise.h).
struct Add {
  template <class T>
  T operator()(T a, T b) const {
    if constexpr (std::is_same_v<T, bool>) {
      return a || b;
    } else {
      return wrapping_add(a, b);
    }
  }
};
struct Subtract {
  template <class T>
  T operator()(T a, T b) const {
    return wrapping_sub(a, b);
  }
};
struct Multiply {
  template <class T>
  T operator()(T a, T b) const {
    if constexpr (std::is_same_v<T, bool>) {
      return a && b;
    } else {
      return wrapping_mul(a, b);
    }
  }
};
struct Divide {
  template <class T>
  T operator()(T a, T b) const {
    return a / b;
  }
};
// NumPy's npy_divmod for floating point: the quotient comes from a - fmod(a, b),
// an exact multiple of b, snapped to an integer, so floor_divide and remainder
// agree (a == b * (a // b) + a % b): 1 // 0.1 == 9 and 1 % 0.1 == 0.0999...
// (floor(1 / 0.1) would give 10). Zeros take the sign of a / b (quotient) or
// of b (remainder); x // inf is 0 or -1; inf // x is nan.
template <class T>
T float_divmod(T a, T b, T* mod) {
  T m = std::fmod(a, b);
  if (b == 0) {
    *mod = m;  // nan
    return a / b;
  }
  T div = (a - m) / b;
  if (m != 0) {
    if ((b < 0) != (m < 0)) {
      m += b;
      div -= T(1);
    }
  } else {
    m = std::copysign(T(0), b);
  }
  T floordiv;
  if (div != 0) {
    floordiv = std::floor(div);
    if (div - floordiv > T(0.5)) floordiv += T(1);
  } else {
    floordiv = std::copysign(T(0), a / b);
  }
  *mod = m;
  return floordiv;
}

// Integer division by zero is undefined in C++; like NumPy we return 0 instead of trapping.
struct FloorDivide {
  template <class T>
  T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>) {
      if (b == 0) return 0;
      if constexpr (std::is_signed_v<T>) {
        if (b == -1) return static_cast<T>(-static_cast<std::make_unsigned_t<T>>(a));  // no INT_MIN / -1 trap
        T q = a / b;
        return (q * b != a && ((a < 0) != (b < 0))) ? q - 1 : q;
      } else {
        return a / b;
      }
    } else {
      T mod;
      return float_divmod(a, b, &mod);
    }
  }
};
struct Remainder {
  template <class T>
  T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>) {
      if (b == 0) return 0;
      if constexpr (std::is_signed_v<T>) {
        if (b == -1) return 0;
        T r = a % b;
        return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
      } else {
        return a % b;
      }
    } else {
      T mod;
      float_divmod(a, b, &mod);
      return mod;
    }
  }
};
struct Power {
  template <class T>
  T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>) {
      // Exponentiation by squaring; negative exponents give 0 except for |a| == 1.
      if constexpr (std::is_signed_v<T>) {
        if (b < 0) return a == 1 ? 1 : (a == -1 ? ((b & 1) ? -1 : 1) : 0);
      }
      T result = 1;
      while (b) {
        if (b & 1) result = wrapping_mul(result, a);
        b >>= 1;
        a = wrapping_mul(a, a);
      }
      return result;
    } else {
      return std::pow(a, b);
    }
  }
};
struct Maximum {
  template <class T>
  T operator()(T a, T b) const {
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<T>::quiet_NaN();
    }
    return a > b ? a : b;
  }
};
struct Minimum {
  template <class T>
  T operator()(T a, T b) const {
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<T>::quiet_NaN();
    }
    return a < b ? a : b;
  }
};
struct ArcTan2 {
  template <class T>
  T operator()(T a, T b) const {
    return std::atan2(a, b);
  }
};
struct LogAddExp {
  template <class T>
  T operator()(T a, T b) const {
    if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<T>::quiet_NaN();
    T m = a > b ? a : b;
    if (std::isinf(m) && m < 0) return m;  // both -inf
    if (std::isinf(m)) return m;
    return m + std::log1p(std::exp(-std::abs(a - b)));
  }
};

#define EMBER_CMP(NAME, OP)           \
  struct NAME {                       \
    template <class T>                \
    bool operator()(T a, T b) const { \
      return a OP b;                  \
    }                                 \
  };
EMBER_CMP(Equal, ==)
EMBER_CMP(NotEqual, !=)
EMBER_CMP(Less, <)
EMBER_CMP(LessEqual, <=)
EMBER_CMP(Greater, >)
EMBER_CMP(GreaterEqual, >=)
#undef EMBER_CMP

struct NaNEqual {
  template <class T>
  bool operator()(T a, T b) const {
    if constexpr (std::is_floating_point_v<T>) {
      return a == b || (std::isnan(a) && std::isnan(b));
    } else if constexpr (is_cplx<T>) {
      auto nan = [](T z) { return std::isnan(z.real()) || std::isnan(z.imag()); };
      return a == b || (nan(a) && nan(b));
    } else {
      return a == b;
    }
  }
};
struct LogicalAnd {
  bool operator()(bool a, bool b) const { return a && b; }
};
struct LogicalOr {
  bool operator()(bool a, bool b) const { return a || b; }
};
struct BitwiseAnd {
  template <class T>
  T operator()(T a, T b) const {
    return a & b;
  }
};
struct BitwiseOr {
  template <class T>
  T operator()(T a, T b) const {
    return a | b;
  }
};
struct BitwiseXor {
  template <class T>
  T operator()(T a, T b) const {
    return a ^ b;
  }
};
// Shifts by >= the bit width are undefined in C++; NumPy gives 0 (or -1 for
// negative right shifts), which is what a wide shift means arithmetically.
struct LeftShift {
  template <class T>
  T operator()(T a, T b) const {
    if constexpr (std::is_same_v<T, bool>) {
      return a && !b ? a : false;
    } else {
      if (b < 0 || b >= static_cast<T>(sizeof(T) * 8)) return 0;
      return static_cast<T>(static_cast<std::make_unsigned_t<T>>(a) << b);
    }
  }
};
struct RightShift {
  template <class T>
  T operator()(T a, T b) const {
    if constexpr (std::is_same_v<T, bool>) {
      return a && !b;
    } else {
      if (b < 0 || b >= static_cast<T>(sizeof(T) * 8)) return (std::is_signed_v<T> && a < 0) ? T(-1) : T(0);
      return static_cast<T>(a >> b);
    }
  }
};

}  // namespace ember::cpu
