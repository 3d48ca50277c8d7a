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

struct Log2C {  // complex log2/log10 (std has only log)
  complex64_t operator()(complex64_t x, float base_log) const { return std::log(x) / base_log; }
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
  for_each_unary_row<float, float>(
      in, out,
      [kernel](const float* s, int64_t st, float* d, int64_t n) {
        if (st == 1) {
          kernel(s, d, n);
          return;
        }
        for (int64_t i = 0; i < n; ++i) d[i] = s[i * st];  // gather the row, then in place
        kernel(d, d, n);
      },
      kTranscendentalGrain);
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
        unary_kernel<T, bool>(in, out, IsNaN{});
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
