// Graph-building functions for type conversion, elementwise ops and views.
// Reductions, shape ops and linear algebra live in ops_*.cpp.
#include "ember/ops.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <sstream>

#include "ember/primitives.h"

namespace ember {

namespace {

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? "," : "") << s[i];
  os << (s.size() == 1 ? ",)" : ")");
  return os.str();
}

array make_unary(const array& a, UnaryOp op, Dtype out_dtype, StreamOrDevice s) {
  return array(a.shape(), out_dtype, std::make_shared<Unary>(to_stream(s), op), {a});
}

// Inexact ops on integer or bool inputs compute in float32, as in MLX.
array to_inexact(const array& a, StreamOrDevice s) { return is_inexact(a.dtype()) ? a : astype(a, float32, s); }

array float_unary(const array& a, UnaryOp op, StreamOrDevice s) {
  array x = to_inexact(a, s);
  return make_unary(x, op, x.dtype(), s);
}

array real_float_unary(const array& a, UnaryOp op, const char* name, StreamOrDevice s) {
  if (is_complex(a.dtype())) {
    throw std::invalid_argument(std::string("[") + name + "] not supported for complex64 inputs");
  }
  return float_unary(a, op, s);
}

// Promotes both operands to one dtype and broadcasts them to one shape.
std::pair<array, array> prepare_binary(const array& a, const array& b, Dtype dtype, StreamOrDevice s) {
  array x = astype(a, dtype, s);
  array y = astype(b, dtype, s);
  if (x.shape() != y.shape()) {
    Shape shape = broadcast_shapes(x.shape(), y.shape());
    x = broadcast_to(x, shape, s);
    y = broadcast_to(y, shape, s);
  }
  return {x, y};
}

array make_binary(const array& a, const array& b, BinaryOp op, StreamOrDevice s,
                  std::optional<Dtype> compute = std::nullopt) {
  Dtype t = compute ? *compute : promote_types(a.dtype(), b.dtype());
  auto [x, y] = prepare_binary(a, b, t, s);
  Dtype out = binary_op_is_predicate(op) ? bool_ : t;
  return array(x.shape(), out, std::make_shared<Binary>(to_stream(s), op), {x, y});
}

void check_not_complex(const array& a, const array& b, const char* name) {
  if (is_complex(a.dtype()) || is_complex(b.dtype())) {
    throw std::invalid_argument(std::string("[") + name + "] not supported for complex64 inputs");
  }
}

void check_integer(const array& a, const array& b, const char* name) {
  for (auto* x : {&a, &b}) {
    if (!is_integral(x->dtype()) && x->dtype() != bool_) {
      throw std::invalid_argument(std::string("[") + name + "] requires integer or bool inputs, got " +
                                  dtype_name(x->dtype()));
    }
  }
}

}  // namespace

// ---------------------------------------------------------------- type and copy

array astype(const array& a, Dtype dtype, StreamOrDevice s) {
  if (a.dtype() == dtype) return a;
  return array(a.shape(), dtype, std::make_shared<AsType>(to_stream(s), dtype), {a});
}

array view(const array& a, Dtype dtype, StreamOrDevice s) {
  if (a.dtype() == dtype) return a;
  Shape shape = a.shape();
  size_t ibytes = a.itemsize(), obytes = dtype.size();
  if (ibytes != obytes) {
    if (shape.empty()) {
      throw std::invalid_argument("[view] cannot view a 0-d array of " + dtype_name(a.dtype()) + " as " +
                                  dtype_name(dtype) + " (different item sizes)");
    }
    int64_t last_bytes = static_cast<int64_t>(shape.back()) * ibytes;
    if (last_bytes % obytes != 0) {
      throw std::invalid_argument("[view] the last axis (" + std::to_string(shape.back()) + " x " +
                                  std::to_string(ibytes) + " bytes) is not a multiple of " + dtype_name(dtype) + "'s " +
                                  std::to_string(obytes) + " bytes");
    }
    shape.back() = static_cast<int32_t>(last_bytes / obytes);
  }
  return array(shape, dtype, std::make_shared<View>(to_stream(s), dtype), {a});
}

array copy(const array& a, StreamOrDevice s) {
  return array(a.shape(), a.dtype(), std::make_shared<Copy>(to_stream(s)), {a});
}

array contiguous(const array& a, bool allow_col_major, StreamOrDevice s) {
  return array(a.shape(), a.dtype(), std::make_shared<Copy>(to_stream(s)), {a});
}

array stop_gradient(const array& a, StreamOrDevice s) {
  return array(a.shape(), a.dtype(), std::make_shared<StopGradient>(to_stream(s)), {a});
}

// ---------------------------------------------------------------- unary

array abs(const array& a, StreamOrDevice s) {
  return make_unary(a, UnaryOp::Abs, is_complex(a.dtype()) ? float32 : a.dtype(), s);
}
array negative(const array& a, StreamOrDevice s) {
  if (a.dtype() == bool_) throw std::invalid_argument("[negative] not supported for bool, use logical_not");
  return make_unary(a, UnaryOp::Negative, a.dtype(), s);
}
array sign(const array& a, StreamOrDevice s) { return make_unary(a, UnaryOp::Sign, a.dtype(), s); }
array sqrt(const array& a, StreamOrDevice s) { return float_unary(a, UnaryOp::Sqrt, s); }
array rsqrt(const array& a, StreamOrDevice s) { return float_unary(a, UnaryOp::Rsqrt, s); }
array square(const array& a, StreamOrDevice s) { return make_unary(a, UnaryOp::Square, a.dtype(), s); }
array reciprocal(const array& a, StreamOrDevice s) { return float_unary(a, UnaryOp::Reciprocal, s); }
array exp(const array& a, StreamOrDevice s) { return float_unary(a, UnaryOp::Exp, s); }
array expm1(const array& a, StreamOrDevice s) { return real_float_unary(a, UnaryOp::Expm1, "expm1", s); }
array log(const array& a, StreamOrDevice s) { return float_unary(a, UnaryOp::Log, s); }
array log1p(const array& a, StreamOrDevice s) { return real_float_unary(a, UnaryOp::Log1p, "log1p", s); }
array log2(const array& a, StreamOrDevice s) { return float_unary(a, UnaryOp::Log2, s); }
array log10(const array& a, StreamOrDevice s) { return float_unary(a, UnaryOp::Log10, s); }
array sin(const array& a, StreamOrDevice s) { return float_unary(a, UnaryOp::Sin, s); }
array cos(const array& a, StreamOrDevice s) { return float_unary(a, UnaryOp::Cos, s); }
array tan(const array& a, StreamOrDevice s) { return float_unary(a, UnaryOp::Tan, s); }
array arcsin(const array& a, StreamOrDevice s) { return float_unary(a, UnaryOp::ArcSin, s); }
array arccos(const array& a, StreamOrDevice s) { return float_unary(a, UnaryOp::ArcCos, s); }
array arctan(const array& a, StreamOrDevice s) { return float_unary(a, UnaryOp::ArcTan, s); }
array sinh(const array& a, StreamOrDevice s) { return float_unary(a, UnaryOp::Sinh, s); }
array cosh(const array& a, StreamOrDevice s) { return float_unary(a, UnaryOp::Cosh, s); }
array tanh(const array& a, StreamOrDevice s) { return float_unary(a, UnaryOp::Tanh, s); }
array arcsinh(const array& a, StreamOrDevice s) { return float_unary(a, UnaryOp::ArcSinh, s); }
array arccosh(const array& a, StreamOrDevice s) { return float_unary(a, UnaryOp::ArcCosh, s); }
array arctanh(const array& a, StreamOrDevice s) { return float_unary(a, UnaryOp::ArcTanh, s); }
array sigmoid(const array& a, StreamOrDevice s) { return real_float_unary(a, UnaryOp::Sigmoid, "sigmoid", s); }
array erf(const array& a, StreamOrDevice s) { return real_float_unary(a, UnaryOp::Erf, "erf", s); }
array erfinv(const array& a, StreamOrDevice s) { return real_float_unary(a, UnaryOp::ErfInv, "erfinv", s); }

array floor(const array& a, StreamOrDevice s) {
  if (is_complex(a.dtype())) throw std::invalid_argument("[floor] not supported for complex64 inputs");
  if (!is_inexact(a.dtype())) return a;
  return make_unary(a, UnaryOp::Floor, a.dtype(), s);
}
array ceil(const array& a, StreamOrDevice s) {
  if (is_complex(a.dtype())) throw std::invalid_argument("[ceil] not supported for complex64 inputs");
  if (!is_inexact(a.dtype())) return a;
  return make_unary(a, UnaryOp::Ceil, a.dtype(), s);
}
array round(const array& a, int decimals, StreamOrDevice s) {
  if (!is_inexact(a.dtype())) return a;
  if (decimals == 0) return make_unary(a, UnaryOp::Round, a.dtype(), s);
  // Scale, round half to even, unscale (NumPy's method). For decimals < 0 NumPy
  // divides by 10^-decimals, which is exact, instead of multiplying by the inexact 10^decimals.
  Dtype st = a.dtype() == complex64 ? float32 : a.dtype();
  if (decimals < 0) {
    array scale = array(std::pow(10.0, -decimals), st);
    return multiply(make_unary(divide(a, scale, s), UnaryOp::Round, a.dtype(), s), scale, s);
  }
  array scale = array(std::pow(10.0, decimals), st);
  return divide(make_unary(multiply(a, scale, s), UnaryOp::Round, a.dtype(), s), scale, s);
}

array isnan(const array& a, StreamOrDevice s) {
  if (!is_inexact(a.dtype())) return full(a.shape(), array(false), s);
  return make_unary(a, UnaryOp::IsNan, bool_, s);
}
array isinf(const array& a, StreamOrDevice s) {
  if (!is_inexact(a.dtype())) return full(a.shape(), array(false), s);
  if (is_complex(a.dtype())) return logical_or(isinf(real(a, s), s), isinf(imag(a, s), s), s);
  return equal(abs(a, s), array(std::numeric_limits<float>::infinity(), a.dtype()), s);
}
array isposinf(const array& a, StreamOrDevice s) {
  if (!is_floating_point(a.dtype())) return full(a.shape(), array(false), s);
  return equal(a, array(std::numeric_limits<float>::infinity(), a.dtype()), s);
}
array isneginf(const array& a, StreamOrDevice s) {
  if (!is_floating_point(a.dtype())) return full(a.shape(), array(false), s);
  return equal(a, array(-std::numeric_limits<float>::infinity(), a.dtype()), s);
}
array isfinite(const array& a, StreamOrDevice s) {
  if (!is_inexact(a.dtype())) return full(a.shape(), array(true), s);
  return logical_not(logical_or(isinf(a, s), isnan(a, s), s), s);
}

array nan_to_num(const array& a, float nan, std::optional<float> posinf, std::optional<float> neginf,
                 StreamOrDevice s) {
  if (!is_floating_point(a.dtype())) {
    if (is_complex(a.dtype())) throw std::invalid_argument("[nan_to_num] not supported for complex64 inputs");
    return a;
  }
  Dtype t = a.dtype();
  // Default replacements are the dtype's finite extremes.
  double maxv = t == float16    ? 65504.0
                : t == bfloat16 ? static_cast<double>(static_cast<float>(std::numeric_limits<bfloat16_t>::max()))
                : t == float32  ? std::numeric_limits<float>::max()
                                : std::numeric_limits<double>::max();
  array pv(posinf ? static_cast<double>(*posinf) : maxv, t);
  array nv(neginf ? static_cast<double>(*neginf) : -maxv, t);
  array out = where(isnan(a, s), array(nan, t), a, s);
  out = where(isposinf(a, s), pv, out, s);
  return where(isneginf(a, s), nv, out, s);
}

array logical_not(const array& a, StreamOrDevice s) {
  return make_unary(astype(a, bool_, s), UnaryOp::LogicalNot, bool_, s);
}
array bitwise_invert(const array& a, StreamOrDevice s) {
  if (!is_integral(a.dtype()) && a.dtype() != bool_) {
    throw std::invalid_argument("[bitwise_invert] requires an integer or bool input, got " + dtype_name(a.dtype()));
  }
  return make_unary(a, UnaryOp::BitwiseInvert, a.dtype(), s);
}
array degrees(const array& a, StreamOrDevice s) {
  array x = to_inexact(a, s);
  return multiply(x, array(180.0 / M_PI, x.dtype()), s);
}
array radians(const array& a, StreamOrDevice s) {
  array x = to_inexact(a, s);
  return multiply(x, array(M_PI / 180.0, x.dtype()), s);
}
array conjugate(const array& a, StreamOrDevice s) {
  if (!is_complex(a.dtype())) return a;
  return make_unary(a, UnaryOp::Conjugate, complex64, s);
}
array real(const array& a, StreamOrDevice s) {
  if (!is_complex(a.dtype())) return a;
  return make_unary(a, UnaryOp::Real, float32, s);
}
array imag(const array& a, StreamOrDevice s) {
  if (!is_complex(a.dtype())) return zeros_like(a, s);
  return make_unary(a, UnaryOp::Imag, float32, s);
}

// ---------------------------------------------------------------- binary

array add(const array& a, const array& b, StreamOrDevice s) { return make_binary(a, b, BinaryOp::Add, s); }
array subtract(const array& a, const array& b, StreamOrDevice s) {
  if (a.dtype() == bool_ && b.dtype() == bool_) {
    throw std::invalid_argument("[subtract] not supported for two bool arrays, use logical_xor or not_equal");
  }
  return make_binary(a, b, BinaryOp::Subtract, s);
}
array multiply(const array& a, const array& b, StreamOrDevice s) { return make_binary(a, b, BinaryOp::Multiply, s); }
array divide(const array& a, const array& b, StreamOrDevice s) {
  Dtype t = promote_types(a.dtype(), b.dtype());
  return make_binary(a, b, BinaryOp::Divide, s, is_inexact(t) ? t : float32);
}
array floor_divide(const array& a, const array& b, StreamOrDevice s) {
  check_not_complex(a, b, "floor_divide");
  Dtype t = promote_types(a.dtype(), b.dtype());
  return make_binary(a, b, BinaryOp::FloorDivide, s, t == bool_ ? int32 : t);
}
array remainder(const array& a, const array& b, StreamOrDevice s) {
  check_not_complex(a, b, "remainder");
  Dtype t = promote_types(a.dtype(), b.dtype());
  return make_binary(a, b, BinaryOp::Remainder, s, t == bool_ ? int32 : t);
}
std::vector<array> divmod(const array& a, const array& b, StreamOrDevice s) {
  check_not_complex(a, b, "divmod");
  Dtype t = promote_types(a.dtype(), b.dtype());
  if (t == bool_) t = int32;
  auto [x, y] = prepare_binary(a, b, t, s);
  return array::make_arrays({x.shape(), x.shape()}, {t, t}, std::make_shared<DivMod>(to_stream(s)), {x, y});
}
array power(const array& a, const array& b, StreamOrDevice s) {
  Dtype t = promote_types(a.dtype(), b.dtype());
  return make_binary(a, b, BinaryOp::Power, s, t == bool_ ? int32 : t);
}
array maximum(const array& a, const array& b, StreamOrDevice s) {
  check_not_complex(a, b, "maximum");
  return make_binary(a, b, BinaryOp::Maximum, s);
}
array minimum(const array& a, const array& b, StreamOrDevice s) {
  check_not_complex(a, b, "minimum");
  return make_binary(a, b, BinaryOp::Minimum, s);
}
array arctan2(const array& a, const array& b, StreamOrDevice s) {
  check_not_complex(a, b, "arctan2");
  Dtype t = promote_types(a.dtype(), b.dtype());
  return make_binary(a, b, BinaryOp::ArcTan2, s, is_floating_point(t) ? t : float32);
}
array logaddexp(const array& a, const array& b, StreamOrDevice s) {
  check_not_complex(a, b, "logaddexp");
  Dtype t = promote_types(a.dtype(), b.dtype());
  return make_binary(a, b, BinaryOp::LogAddExp, s, is_floating_point(t) ? t : float32);
}
array equal(const array& a, const array& b, StreamOrDevice s) { return make_binary(a, b, BinaryOp::Equal, s); }
array not_equal(const array& a, const array& b, StreamOrDevice s) { return make_binary(a, b, BinaryOp::NotEqual, s); }
array less(const array& a, const array& b, StreamOrDevice s) {
  check_not_complex(a, b, "less");
  return make_binary(a, b, BinaryOp::Less, s);
}
array less_equal(const array& a, const array& b, StreamOrDevice s) {
  check_not_complex(a, b, "less_equal");
  return make_binary(a, b, BinaryOp::LessEqual, s);
}
array greater(const array& a, const array& b, StreamOrDevice s) {
  check_not_complex(a, b, "greater");
  return make_binary(a, b, BinaryOp::Greater, s);
}
array greater_equal(const array& a, const array& b, StreamOrDevice s) {
  check_not_complex(a, b, "greater_equal");
  return make_binary(a, b, BinaryOp::GreaterEqual, s);
}
array logical_and(const array& a, const array& b, StreamOrDevice s) {
  return make_binary(a, b, BinaryOp::LogicalAnd, s, bool_);
}
array logical_or(const array& a, const array& b, StreamOrDevice s) {
  return make_binary(a, b, BinaryOp::LogicalOr, s, bool_);
}
array bitwise_and(const array& a, const array& b, StreamOrDevice s) {
  check_integer(a, b, "bitwise_and");
  return make_binary(a, b, BinaryOp::BitwiseAnd, s);
}
array bitwise_or(const array& a, const array& b, StreamOrDevice s) {
  check_integer(a, b, "bitwise_or");
  return make_binary(a, b, BinaryOp::BitwiseOr, s);
}
array bitwise_xor(const array& a, const array& b, StreamOrDevice s) {
  check_integer(a, b, "bitwise_xor");
  return make_binary(a, b, BinaryOp::BitwiseXor, s);
}
array left_shift(const array& a, const array& b, StreamOrDevice s) {
  check_integer(a, b, "left_shift");
  Dtype t = promote_types(a.dtype(), b.dtype());
  return make_binary(a, b, BinaryOp::LeftShift, s, t == bool_ ? uint8 : t);
}
array right_shift(const array& a, const array& b, StreamOrDevice s) {
  check_integer(a, b, "right_shift");
  Dtype t = promote_types(a.dtype(), b.dtype());
  return make_binary(a, b, BinaryOp::RightShift, s, t == bool_ ? uint8 : t);
}

array where(const array& condition, const array& x, const array& y, StreamOrDevice s) {
  Dtype t = promote_types(x.dtype(), y.dtype());
  Shape shape = broadcast_shapes(broadcast_shapes(condition.shape(), x.shape()), y.shape());
  array c = broadcast_to(astype(condition, bool_, s), shape, s);
  array xx = broadcast_to(astype(x, t, s), shape, s);
  array yy = broadcast_to(astype(y, t, s), shape, s);
  return array(shape, t, std::make_shared<Select>(to_stream(s)), {c, xx, yy});
}

array clip(const array& a, const std::optional<array>& a_min, const std::optional<array>& a_max, StreamOrDevice s) {
  if (!a_min && !a_max) throw std::invalid_argument("[clip] at least one of a_min and a_max must be given");
  array out = a;
  if (a_min) out = maximum(out, *a_min, s);
  if (a_max) out = minimum(out, *a_max, s);
  return out;
}

// ---------------------------------------------------------------- broadcasting

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int32_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int32_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1) {
      throw std::invalid_argument("[broadcast_shapes] shapes " + shape_str(a) + " and " + shape_str(b) +
                                  " cannot be broadcast");
    }
    out[i] = da == 1 ? db : da;
  }
  return out;
}

array broadcast_to(const array& a, const Shape& shape, StreamOrDevice s) {
  if (a.shape() == shape) return a;
  // Each axis of `a`, aligned from the right, must be 1 or match the target.
  bool ok = a.ndim() <= shape.size();
  for (size_t i = 0; ok && i < a.ndim(); ++i) {
    int32_t d = a.shape()[a.ndim() - 1 - i];
    ok = d == 1 || d == shape[shape.size() - 1 - i];
  }
  if (!ok) {
    throw std::invalid_argument("[broadcast_to] cannot broadcast an array of shape " + shape_str(a.shape()) +
                                " to shape " + shape_str(shape));
  }
  checked_size(shape, "broadcast_to");
  return array(shape, a.dtype(), std::make_shared<Broadcast>(to_stream(s), shape), {a});
}

std::vector<array> broadcast_arrays(const std::vector<array>& inputs, StreamOrDevice s) {
  Shape shape;
  for (auto& x : inputs) shape = broadcast_shapes(shape, x.shape());
  std::vector<array> out;
  for (auto& x : inputs) out.push_back(broadcast_to(x, shape, s));
  return out;
}

}  // namespace ember
