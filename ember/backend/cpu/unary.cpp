// CPU kernels of the Unary primitive: a functor per op, plugged into unary_kernel.
#include <cmath>
#include <limits>

#include "ember/backend/common/erfinv.h"
#include "ember/backend/cpu/elementwise.h"
#include "ember/backend/cpu/simd.h"
#include "ember/primitives.h"

namespace ember {

namespace cpu {
namespace {

template <class T>
constexpr bool is_cplx = std::is_same_v<T, complex64_t>;

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

EMBER_REAL_FN(Exp, exp)
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
EMBER_REAL_FN(Tanh, tanh)
EMBER_REAL_FN(ArcSinh, asinh)
EMBER_REAL_FN(ArcCosh, acosh)
EMBER_REAL_FN(ArcTanh, atanh)
EMBER_REAL_FN(Sqrt, sqrt)
EMBER_REAL_FN(Erf, erf)
EMBER_REAL_FN(Floor, floor)
EMBER_REAL_FN(Ceil, ceil)
#undef EMBER_REAL_FN

struct Log2C {  // complex log2/log10 (std has only log)
  complex64_t operator()(complex64_t x, float base_log) const { return std::log(x) / base_log; }
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
struct Conjugate {
  complex64_t operator()(complex64_t x) const { return std::conj(x); }
};

template <class Op>
void float_unary(const array& in, array& out, Op op) {
  dispatch_dtype(in.dtype(), [&](auto t) {
    using T = decltype(t);
    if constexpr (std::is_floating_point_v<compute_t<T>> || is_cplx<T>) {
      if constexpr (is_cplx<T>) {
        if constexpr (std::is_invocable_v<Op, complex64_t>) {
          unary_kernel<T, T>(in, out, op);
        } else {
          throw std::invalid_argument("[unary] op not supported for complex64");
        }
      } else {
        unary_kernel<T, T>(in, out, op);
      }
    } else {
      throw std::invalid_argument("[unary] expected a floating point input, got " + dtype_name(in.dtype()));
    }
  });
}

template <class Op>
void any_unary(const array& in, array& out, Op op) {
  dispatch_dtype(in.dtype(), [&](auto t) {
    using T = decltype(t);
    unary_kernel<T, T>(in, out, op);
  });
}

// Runs a contiguous float32 SIMD kernel over any layout: dense inputs in one
// pass, strided ones row by row (gathered into the output row, then in place).
void simd_unary_f32(const array& in, array& out, void (*kernel)(const float*, float*, int64_t)) {
  alloc_like(in, out);
  if (in.size() == 0) return;
  for_each_unary_row<float, float>(in, out, [kernel](const float* s, int64_t st, float* d, int64_t n) {
    if (st == 1) {
      kernel(s, d, n);
      return;
    }
    for (int64_t i = 0; i < n; ++i) d[i] = s[i * st];  // gather the row, then in place
    kernel(d, d, n);
  });
}

// The same for float16/bfloat16: blocks widened to float32, the SIMD kernel, narrowed back.
template <class T>
void simd_unary_half(const array& in, array& out, void (*kernel)(const float*, float*, int64_t)) {
  alloc_like(in, out);
  if (in.size() == 0) return;
  for_each_unary_row<T, T>(in, out, [kernel](const T* s, int64_t st, T* d, int64_t n) {
    float buf[kHalfBlock];
    for (int64_t b = 0; b < n; b += kHalfBlock) {
      int64_t m = std::min(kHalfBlock, n - b);
      if (st == 1) {
        widen(s + b, buf, m);
      } else {
        for (int64_t i = 0; i < m; ++i) buf[i] = static_cast<float>(s[(b + i) * st]);
      }
      kernel(buf, buf, m);
      narrow(buf, d + b, m);
    }
  });
}

}  // namespace
}  // namespace cpu

const char* unary_op_name(UnaryOp op) {
  static const char* names[] = {"Abs",   "Negative", "Sign",    "Sqrt",    "Rsqrt",      "Square",        "Reciprocal",
                                "Exp",   "Expm1",    "Log",     "Log1p",   "Log2",       "Log10",         "Sin",
                                "Cos",   "Tan",      "ArcSin",  "ArcCos",  "ArcTan",     "Sinh",          "Cosh",
                                "Tanh",  "ArcSinh",  "ArcCosh", "ArcTanh", "Sigmoid",    "Erf",           "ErfInv",
                                "Floor", "Ceil",     "Round",   "IsNaN",   "LogicalNot", "BitwiseInvert", "Conjugate",
                                "Real",  "Imag"};
  return names[static_cast<int>(op)];
}

bool Unary::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Unary*>(&other);
  return o && o->op_ == op_;
}

void Unary::eval_cpu(const std::vector<array>& inputs, array& out) {
  using namespace cpu;
  const array& in = inputs[0];
  // float32 (and half-precision) exp and sigmoid always take the SIMD kernels, whatever the layout,
  // so an element's result doesn't depend on how its array is strided.
  if (in.dtype() == float32 && (op_ == UnaryOp::Exp || op_ == UnaryOp::Sigmoid)) {
    return simd_unary_f32(in, out, op_ == UnaryOp::Exp ? simd::exp_f32 : simd::sigmoid_f32);
  }
  if ((in.dtype() == float16 || in.dtype() == bfloat16) && (op_ == UnaryOp::Exp || op_ == UnaryOp::Sigmoid)) {
    auto kernel = op_ == UnaryOp::Exp ? simd::exp_f32 : simd::sigmoid_f32;
    return in.dtype() == float16 ? simd_unary_half<float16_t>(in, out, kernel)
                                 : simd_unary_half<bfloat16_t>(in, out, kernel);
  }
  switch (op_) {
    case UnaryOp::Abs:
      if (in.dtype() == complex64) {
        unary_kernel<complex64_t, float>(in, out, [](complex64_t x) { return std::abs(x); });
      } else {
        any_unary(in, out, Abs{});
      }
      return;
    case UnaryOp::Negative:
      return any_unary(in, out, Negative{});
    case UnaryOp::Sign:
      return any_unary(in, out, Sign{});
    case UnaryOp::Square:
      return any_unary(in, out, Square{});
    case UnaryOp::Sqrt:
      return float_unary(in, out, Sqrt{});
    case UnaryOp::Rsqrt:
      return float_unary(in, out, Rsqrt{});
    case UnaryOp::Reciprocal:
      return float_unary(in, out, Reciprocal{});
    case UnaryOp::Exp:
      return float_unary(in, out, Exp{});
    case UnaryOp::Expm1:
      return float_unary(in, out, Expm1{});
    case UnaryOp::Log:
      return float_unary(in, out, Log{});
    case UnaryOp::Log1p:
      return float_unary(in, out, Log1p{});
    case UnaryOp::Log2:
      if (in.dtype() == complex64) {
        return unary_kernel<complex64_t, complex64_t>(in, out,
                                                      [](complex64_t x) { return Log2C{}(x, std::log(2.0f)); });
      }
      return float_unary(in, out, Log2{});
    case UnaryOp::Log10:
      if (in.dtype() == complex64) {
        return unary_kernel<complex64_t, complex64_t>(in, out,
                                                      [](complex64_t x) { return Log2C{}(x, std::log(10.0f)); });
      }
      return float_unary(in, out, Log10{});
    case UnaryOp::Sin:
      return float_unary(in, out, Sin{});
    case UnaryOp::Cos:
      return float_unary(in, out, Cos{});
    case UnaryOp::Tan:
      return float_unary(in, out, Tan{});
    case UnaryOp::ArcSin:
      return float_unary(in, out, ArcSin{});
    case UnaryOp::ArcCos:
      return float_unary(in, out, ArcCos{});
    case UnaryOp::ArcTan:
      return float_unary(in, out, ArcTan{});
    case UnaryOp::Sinh:
      return float_unary(in, out, Sinh{});
    case UnaryOp::Cosh:
      return float_unary(in, out, Cosh{});
    case UnaryOp::Tanh:
      return float_unary(in, out, Tanh{});
    case UnaryOp::ArcSinh:
      return float_unary(in, out, ArcSinh{});
    case UnaryOp::ArcCosh:
      return float_unary(in, out, ArcCosh{});
    case UnaryOp::ArcTanh:
      return float_unary(in, out, ArcTanh{});
    case UnaryOp::Sigmoid:
      return float_unary(in, out, Sigmoid{});
    case UnaryOp::Erf:
      return float_unary(in, out, Erf{});
    case UnaryOp::ErfInv:
      return float_unary(in, out, ErfInv{});
    case UnaryOp::Floor:
      return float_unary(in, out, Floor{});
    case UnaryOp::Ceil:
      return float_unary(in, out, Ceil{});
    case UnaryOp::Round:
      return any_unary(in, out, Round{});
    case UnaryOp::IsNan:
      dispatch_dtype(in.dtype(), [&](auto t) {
        using T = decltype(t);
        unary_kernel<T, bool>(in, out, [](compute_t<T> x) {
          if constexpr (std::is_floating_point_v<compute_t<T>>) {
            return std::isnan(x);
          } else if constexpr (is_cplx<T>) {
            return std::isnan(x.real()) || std::isnan(x.imag());
          } else {
            return false;
          }
        });
      });
      return;
    case UnaryOp::LogicalNot:
      return unary_kernel<bool, bool>(in, out, LogicalNot{});
    case UnaryOp::BitwiseInvert:
      dispatch_dtype(in.dtype(), [&](auto t) {
        using T = decltype(t);
        if constexpr (std::is_integral_v<T>) {
          unary_kernel<T, T>(in, out, BitwiseInvert{});
        } else {
          throw std::invalid_argument("[bitwise_invert] expected an integer or bool input");
        }
      });
      return;
    case UnaryOp::Conjugate:
      return unary_kernel<complex64_t, complex64_t>(in, out, Conjugate{});
    case UnaryOp::Real:
      return unary_kernel<complex64_t, float>(in, out, [](complex64_t x) { return x.real(); });
    case UnaryOp::Imag:
      return unary_kernel<complex64_t, float>(in, out, [](complex64_t x) { return x.imag(); });
  }
}

}  // namespace ember
