// vjp, jvp and vmap of the elementwise primitives (Unary, Binary, DivMod),
// written with public ops so they can be differentiated again.
#include <cmath>
#include <optional>
#include <vector>

#include "ember/ops.h"
#include "ember/primitives.h"

namespace ember {

namespace {

// A scalar of `like`'s dtype (float32 for non-float dtypes).
array scalar(double v, const array& like) { return array(v, is_inexact(like.dtype()) ? like.dtype() : float32); }

// d out / d x for a unary op, as an array shaped like x (x input, y output).
// Piecewise-constant ops return zeros.
array unary_derivative(UnaryOp op, const array& x, const array& y, Stream s) {
  switch (op) {
    case UnaryOp::Abs:
      return sign(x, s);
    case UnaryOp::Negative:
      return full(x.shape(), scalar(-1.0, x), s);
    case UnaryOp::Sqrt:
      return divide(scalar(0.5, x), y, s);
    case UnaryOp::Rsqrt:
      return multiply(scalar(-0.5, x), divide(y, x, s), s);
    case UnaryOp::Square:
      return multiply(scalar(2.0, x), x, s);
    case UnaryOp::Reciprocal:
      return negative(square(y, s), s);
    case UnaryOp::Exp:
      return y;
    case UnaryOp::Expm1:
      return add(y, scalar(1.0, y), s);
    case UnaryOp::Log:
      return reciprocal(x, s);
    case UnaryOp::Log1p:
      return reciprocal(add(x, scalar(1.0, x), s), s);
    case UnaryOp::Log2:
      return reciprocal(multiply(x, scalar(std::log(2.0), x), s), s);
    case UnaryOp::Log10:
      return reciprocal(multiply(x, scalar(std::log(10.0), x), s), s);
    case UnaryOp::Sin:
      return cos(x, s);
    case UnaryOp::Cos:
      return negative(sin(x, s), s);
    case UnaryOp::Tan:
      return add(scalar(1.0, y), square(y, s), s);
    case UnaryOp::ArcSin:
      return rsqrt(subtract(scalar(1.0, x), square(x, s), s), s);
    case UnaryOp::ArcCos:
      return negative(rsqrt(subtract(scalar(1.0, x), square(x, s), s), s), s);
    case UnaryOp::ArcTan:
      return reciprocal(add(scalar(1.0, x), square(x, s), s), s);
    case UnaryOp::Sinh:
      return cosh(x, s);
    case UnaryOp::Cosh:
      return sinh(x, s);
    case UnaryOp::Tanh:
      return subtract(scalar(1.0, y), square(y, s), s);
    case UnaryOp::ArcSinh:
      return rsqrt(add(square(x, s), scalar(1.0, x), s), s);
    case UnaryOp::ArcCosh:
      return rsqrt(subtract(square(x, s), scalar(1.0, x), s), s);
    case UnaryOp::ArcTanh:
      return reciprocal(subtract(scalar(1.0, x), square(x, s), s), s);
    case UnaryOp::Sigmoid:
      return multiply(y, subtract(scalar(1.0, y), y, s), s);
    case UnaryOp::Erf:
      return multiply(scalar(2.0 / std::sqrt(M_PI), x), exp(negative(square(x, s), s), s), s);
    case UnaryOp::ErfInv:
      return multiply(scalar(std::sqrt(M_PI) / 2.0, x), exp(square(y, s), s), s);
    case UnaryOp::Sign:
    case UnaryOp::Floor:
    case UnaryOp::Ceil:
    case UnaryOp::Round:
      return zeros_like(x, s);
    default:
      throw std::invalid_argument(std::string("[") + unary_op_name(op) + "] is not differentiable");
  }
}

// Ops whose outputs are piecewise constant in every input or not real numbers
// at all (bool, bits): their derivatives are zero, not an error, so that the
// jvp transform can pass through a mask or an integer on its way to the output.
bool unary_has_zero_derivative(UnaryOp op) {
  return op == UnaryOp::IsNan || op == UnaryOp::LogicalNot || op == UnaryOp::BitwiseInvert;
}

bool binary_has_zero_derivative(BinaryOp op) {
  switch (op) {
    case BinaryOp::BitwiseAnd:
    case BinaryOp::BitwiseOr:
    case BinaryOp::BitwiseXor:
    case BinaryOp::LeftShift:
    case BinaryOp::RightShift:
      return true;
    default:
      return binary_op_is_predicate(op);
  }
}

// Zero cotangents for the inputs in argnums.
std::vector<array> zero_cotangents(const std::vector<array>& primals, const std::vector<int>& argnums, Stream s) {
  std::vector<array> out;
  for (int a : argnums) out.push_back(zeros_like(primals[a], s));
  return out;
}

Dtype unary_out_dtype(UnaryOp op, Dtype in) {
  switch (op) {
    case UnaryOp::IsNan:
    case UnaryOp::LogicalNot:
      return bool_;
    case UnaryOp::Real:
    case UnaryOp::Imag:
      return float32;
    case UnaryOp::Abs:
      return in == complex64 ? float32 : in;
    default:
      return in;
  }
}

// Applies a binary op through its public function (which promotes and
// broadcasts), so batched and unbatched operands combine correctly.
array apply_binary(BinaryOp op, const array& a, const array& b, Stream s) {
  switch (op) {
    case BinaryOp::Add:
      return add(a, b, s);
    case BinaryOp::Subtract:
      return subtract(a, b, s);
    case BinaryOp::Multiply:
      return multiply(a, b, s);
    case BinaryOp::Divide:
      return divide(a, b, s);
    case BinaryOp::FloorDivide:
      return floor_divide(a, b, s);
    case BinaryOp::Remainder:
      return remainder(a, b, s);
    case BinaryOp::Power:
      return power(a, b, s);
    case BinaryOp::Maximum:
      return maximum(a, b, s);
    case BinaryOp::Minimum:
      return minimum(a, b, s);
    case BinaryOp::ArcTan2:
      return arctan2(a, b, s);
    case BinaryOp::LogAddExp:
      return logaddexp(a, b, s);
    case BinaryOp::Equal:
      return equal(a, b, s);
    case BinaryOp::NotEqual:
      return not_equal(a, b, s);
    case BinaryOp::Less:
      return less(a, b, s);
    case BinaryOp::LessEqual:
      return less_equal(a, b, s);
    case BinaryOp::Greater:
      return greater(a, b, s);
    case BinaryOp::GreaterEqual:
      return greater_equal(a, b, s);
    case BinaryOp::LogicalAnd:
      return logical_and(a, b, s);
    case BinaryOp::LogicalOr:
      return logical_or(a, b, s);
    case BinaryOp::BitwiseAnd:
      return bitwise_and(a, b, s);
    case BinaryOp::BitwiseOr:
      return bitwise_or(a, b, s);
    case BinaryOp::BitwiseXor:
      return bitwise_xor(a, b, s);
    case BinaryOp::LeftShift:
      return left_shift(a, b, s);
    case BinaryOp::RightShift:
      return right_shift(a, b, s);
    case BinaryOp::NaNEqual: {  // no public function of its own
      std::vector<array> xy = broadcast_arrays({a, b}, s);
      return array(xy[0].shape(), bool_, std::make_shared<Binary>(s, BinaryOp::NaNEqual), xy);
    }
  }
  throw std::invalid_argument("[Binary] unknown op");
}

// Partial derivatives (d y / d a, d y / d b) of a smooth binary op.
std::pair<array, array> binary_partials(BinaryOp op, const array& a, const array& b, const array& y, Stream s) {
  switch (op) {
    case BinaryOp::Multiply:
      return {b, a};
    case BinaryOp::Divide:
      return {reciprocal(b, s), negative(divide(y, b, s), s)};
    case BinaryOp::Power: {
      array da = multiply(b, power(a, subtract(b, scalar(1.0, b), s), s), s);
      // d/db a^b = a^b log a, taken as 0 where a <= 0 (undefined there for most b).
      array db = where(greater(a, scalar(0.0, a), s), multiply(y, log(a, s), s), zeros_like(y, s), s);
      return {da, db};
    }
    case BinaryOp::Maximum: {
      array m = astype(greater(a, b, s), a.dtype(), s);
      return {m, subtract(scalar(1.0, m), m, s)};
    }
    case BinaryOp::Minimum: {
      array m = astype(less(a, b, s), a.dtype(), s);
      return {m, subtract(scalar(1.0, m), m, s)};
    }
    case BinaryOp::ArcTan2: {
      array d = add(square(a, s), square(b, s), s);
      return {divide(b, d, s), negative(divide(a, d, s), s)};
    }
    case BinaryOp::LogAddExp:
      return {exp(subtract(a, y, s), s), exp(subtract(b, y, s), s)};
    case BinaryOp::FloorDivide:
      return {zeros_like(a, s), zeros_like(b, s)};
    case BinaryOp::Remainder:
      return {ones_like(a, s), negative(floor_divide(a, b, s), s)};
    default:
      throw std::invalid_argument(std::string("[") + binary_op_name(op) + "] is not differentiable");
  }
}

// Moves the batch axis of a to 0 (or adds a size-1 axis 0 if a is unbatched).
array batch_first(const array& a, int axis, Stream s) {
  if (axis < 0) return expand_dims(a, 0, s);
  return axis == 0 ? a : moveaxis(a, axis, 0, s);
}

}  // namespace

// ---------------------------------------------------------------- Unary

std::vector<array> Unary::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                              const std::vector<int>& argnums, const std::vector<array>& outputs) {
  const array& x = primals[0];
  const array& g = cotangents[0];
  Stream s = stream();
  if (argnums.empty()) return {};
  if (unary_has_zero_derivative(op_)) return zero_cotangents(primals, argnums, s);
  // |z| of complex z: the cotangent is g conj(z) / |z| (sign(z) is z / |z|, 0 at 0),
  // the convention of Real and Imag below (the real inner product Re(a * b)).
  if (op_ == UnaryOp::Abs && is_complex(x.dtype())) return {multiply(g, conjugate(sign(x, s), s), s)};
  switch (op_) {
    case UnaryOp::Negative:
      return {negative(g, s)};
    case UnaryOp::Conjugate:
      return {conjugate(g, s)};
    case UnaryOp::Real:
      return {astype(g, complex64, s)};
    case UnaryOp::Imag:
      return {multiply(array(complex64_t(0.0f, -1.0f)), astype(g, complex64, s), s)};
    default:
      return {multiply(g, unary_derivative(op_, x, outputs[0], s), s)};
  }
}

std::vector<array> Unary::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                              const std::vector<int>& argnums) {
  const array& x = primals[0];
  Stream s = stream();
  if (argnums.empty() || unary_has_zero_derivative(op_)) {
    return {zeros(x.shape(), unary_out_dtype(op_, x.dtype()), s)};
  }
  const array& t = tangents[0];
  // d|z| = Re(conj(z) dz) / |z| for complex z.
  if (op_ == UnaryOp::Abs && is_complex(x.dtype())) return {real(multiply(conjugate(sign(x, s), s), t, s), s)};
  switch (op_) {
    case UnaryOp::Negative:
      return {negative(t, s)};
    case UnaryOp::Conjugate:
      return {conjugate(t, s)};
    case UnaryOp::Real:
      return {real(t, s)};
    case UnaryOp::Imag:
      return {imag(t, s)};
    default: {
      array y = array(x.shape(), unary_out_dtype(op_, x.dtype()), std::make_shared<Unary>(s, op_), {x});
      return {multiply(t, unary_derivative(op_, x, y, s), s)};
    }
  }
}

std::pair<std::vector<array>, std::vector<int>> Unary::vmap(const std::vector<array>& inputs,
                                                            const std::vector<int>& axes) {
  const array& x = inputs[0];
  array y(x.shape(), unary_out_dtype(op_, x.dtype()), std::make_shared<Unary>(stream(), op_), {x});
  return {{y}, {axes[0]}};
}

// ---------------------------------------------------------------- Binary

std::vector<array> Binary::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                               const std::vector<int>& argnums, const std::vector<array>& outputs) {
  const array& g = cotangents[0];
  Stream s = stream();
  if (binary_has_zero_derivative(op_)) return zero_cotangents(primals, argnums, s);
  std::vector<array> out;
  if (op_ == BinaryOp::Add || op_ == BinaryOp::Subtract) {
    for (int a : argnums) out.push_back(a == 1 && op_ == BinaryOp::Subtract ? negative(g, s) : g);
    return out;
  }
  auto [da, db] = binary_partials(op_, primals[0], primals[1], outputs[0], s);
  for (int a : argnums) out.push_back(multiply(g, a == 0 ? da : db, s));
  return out;
}

std::vector<array> Binary::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                               const std::vector<int>& argnums) {
  Stream s = stream();
  if (argnums.empty() || binary_has_zero_derivative(op_)) {
    Dtype out = binary_op_is_predicate(op_) ? bool_ : primals[0].dtype();
    return {zeros(primals[0].shape(), out, s)};
  }
  std::optional<array> result;
  auto accumulate = [&](const array& v) { result = result ? add(*result, v, s) : v; };
  if (op_ == BinaryOp::Add || op_ == BinaryOp::Subtract) {
    for (size_t k = 0; k < argnums.size(); ++k) {
      accumulate(argnums[k] == 1 && op_ == BinaryOp::Subtract ? negative(tangents[k], s) : tangents[k]);
    }
    return {*result};
  }
  array y(primals[0].shape(), primals[0].dtype(), std::make_shared<Binary>(s, op_), primals);
  auto [da, db] = binary_partials(op_, primals[0], primals[1], y, s);
  for (size_t k = 0; k < argnums.size(); ++k) accumulate(multiply(tangents[k], argnums[k] == 0 ? da : db, s));
  return {*result};
}

std::pair<std::vector<array>, std::vector<int>> Binary::vmap(const std::vector<array>& inputs,
                                                             const std::vector<int>& axes) {
  Stream s = stream();
  array a = batch_first(inputs[0], axes[0], s);
  array b = batch_first(inputs[1], axes[1], s);
  return {{apply_binary(op_, a, b, s)}, {0}};
}

// ---------------------------------------------------------------- DivMod

std::vector<array> DivMod::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                               const std::vector<int>& argnums, const std::vector<array>&) {
  // The quotient is piecewise constant; the remainder a - b*floor(a/b) carries the gradient.
  Stream s = stream();
  const array& g = cotangents[1];
  std::vector<array> out;
  for (int a : argnums) {
    out.push_back(a == 0 ? g : multiply(negative(g, s), floor_divide(primals[0], primals[1], s), s));
  }
  return out;
}

std::vector<array> DivMod::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                               const std::vector<int>& argnums) {
  Stream s = stream();
  if (argnums.empty()) return {zeros_like(primals[0], s), zeros_like(primals[0], s)};
  std::optional<array> r;
  for (size_t k = 0; k < argnums.size(); ++k) {
    array v =
        argnums[k] == 0 ? tangents[k] : multiply(negative(tangents[k], s), floor_divide(primals[0], primals[1], s), s);
    r = r ? add(*r, v, s) : v;
  }
  return {zeros_like(primals[0], s), *r};
}

std::pair<std::vector<array>, std::vector<int>> DivMod::vmap(const std::vector<array>& inputs,
                                                             const std::vector<int>& axes) {
  Stream s = stream();
  return {divmod(batch_first(inputs[0], axes[0], s), batch_first(inputs[1], axes[1], s), s), {0, 0}};
}

}  // namespace ember
