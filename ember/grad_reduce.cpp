// vjp, jvp and vmap of the reductions and the softmax family.
#include "ember/ops.h"
#include "ember/primitives.h"

namespace ember {

namespace {

// Reduction axes after inserting a batch axis at `batch_axis` (-1: none).
std::vector<int> shift_axes(const std::vector<int>& axes, int batch_axis) {
  std::vector<int> out;
  for (int a : axes) out.push_back(batch_axis >= 0 && a >= batch_axis ? a + 1 : a);
  return out;
}

// d out / d x of a Reduce (x input, y output with kept axes), shaped like x.
array reduce_partial(ReduceOp op, const std::vector<int>& axes, const array& x, const array& y, Stream s) {
  switch (op) {
    case ReduceOp::Sum:
      return ones_like(x, s);
    case ReduceOp::Prod: {
      // prod over the others = y / x, computed without dividing by zero: with
      // one zero in the group only that position gets the product of the rest.
      array zero = zeros({}, x.dtype(), s);
      array is_zero = equal(x, zero, s);
      array nz = where(is_zero, ones({}, x.dtype(), s), x, s);
      array prod_nz = prod(nz, axes, true, s);
      array zcount = sum(astype(is_zero, int32, s), axes, true, s);
      array none_zero = divide(prod_nz, nz, s);
      array one_zero = where(is_zero, prod_nz, zero, s);
      return where(equal(zcount, array(0), s), none_zero,
                   where(equal(zcount, array(1), s), one_zero, zeros_like(x, s), s), s);
    }
    case ReduceOp::Max:
    case ReduceOp::Min: {
      // Ties share the gradient equally.
      array mask = astype(equal(x, y, s), x.dtype(), s);
      return divide(mask, sum(mask, axes, true, s), s);
    }
    default:
      throw std::invalid_argument("[Reduce] all/any are not differentiable");
  }
}

array reduce_like(ReduceOp op, const array& x, const std::vector<int>& axes, Stream s) {
  switch (op) {
    case ReduceOp::Sum:
      return sum(x, axes, true, s);
    case ReduceOp::Prod:
      return prod(x, axes, true, s);
    case ReduceOp::Max:
      return max(x, axes, true, s);
    case ReduceOp::Min:
      return min(x, axes, true, s);
    case ReduceOp::And:
      return all(x, axes, true, s);
    case ReduceOp::Or:
      return any(x, axes, true, s);
  }
  throw std::invalid_argument("[Reduce] unknown op");
}

// Moves a batch axis off the last position, where the softmax family works.
std::pair<array, int> batch_off_last(const array& x, int axis, Stream s) {
  int nd = static_cast<int>(x.ndim());
  if (axis == nd - 1) return {moveaxis(x, axis, 0, s), 0};
  return {x, axis};
}

}  // namespace

// ---------------------------------------------------------------- Reduce

std::vector<array> Reduce::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                               const std::vector<int>&, const std::vector<array>& outputs) {
  const array& x = primals[0];
  Stream s = stream();
  array g = broadcast_to(cotangents[0], x.shape(), s);
  if (op_ == ReduceOp::Sum) return {g};
  return {multiply(g, reduce_partial(op_, axes_, x, outputs[0], s), s)};
}

std::vector<array> Reduce::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                               const std::vector<int>&) {
  const array& x = primals[0];
  Stream s = stream();
  if (op_ == ReduceOp::Sum) return {sum(tangents[0], axes_, true, s)};
  array y = reduce_like(op_, x, axes_, s);
  return {sum(multiply(tangents[0], reduce_partial(op_, axes_, x, y, s), s), axes_, true, s)};
}

std::pair<std::vector<array>, std::vector<int>> Reduce::vmap(const std::vector<array>& inputs,
                                                             const std::vector<int>& axes) {
  return {{reduce_like(op_, inputs[0], shift_axes(axes_, axes[0]), stream())}, {axes[0]}};
}

// ---------------------------------------------------------------- ArgReduce

std::vector<array> ArgReduce::vjp(const std::vector<array>& primals, const std::vector<array>&,
                                  const std::vector<int>& argnums, const std::vector<array>&) {
  // Indices are piecewise constant in the input.
  std::vector<array> out;
  for (size_t i = 0; i < argnums.size(); ++i) out.push_back(zeros_like(primals[0], stream()));
  return out;
}

std::vector<array> ArgReduce::jvp(const std::vector<array>& primals, const std::vector<array>&,
                                  const std::vector<int>&) {
  Shape shape = primals[0].shape();
  shape[axis_] = 1;
  return {zeros(shape, uint32, stream())};
}

std::pair<std::vector<array>, std::vector<int>> ArgReduce::vmap(const std::vector<array>& inputs,
                                                                const std::vector<int>& axes) {
  int ax = shift_axes({axis_}, axes[0])[0];
  Stream s = stream();
  array r = op_ == ArgReduceOp::ArgMax ? argmax(inputs[0], ax, true, s) : argmin(inputs[0], ax, true, s);
  return {{r}, {axes[0]}};
}

// ---------------------------------------------------------------- Softmax / LogSoftmax

std::vector<array> Softmax::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                const std::vector<int>&, const std::vector<array>& outputs) {
  Stream s = stream();
  const array& g = cotangents[0];
  const array& y = outputs[0];
  if (log_) return {subtract(g, multiply(exp(y, s), sum(g, -1, true, s), s), s)};
  return {multiply(y, subtract(g, sum(multiply(g, y, s), -1, true, s), s), s)};
}

std::vector<array> Softmax::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                const std::vector<int>&) {
  Stream s = stream();
  const array& x = primals[0];
  const array& t = tangents[0];
  array p = array(x.shape(), x.dtype(), std::make_shared<Softmax>(s, precise_, false), {x});
  array mean_t = sum(multiply(p, t, s), -1, true, s);
  if (log_) return {subtract(t, mean_t, s)};
  return {multiply(p, subtract(t, mean_t, s), s)};
}

std::pair<std::vector<array>, std::vector<int>> Softmax::vmap(const std::vector<array>& inputs,
                                                              const std::vector<int>& axes) {
  auto [x, ax] = batch_off_last(inputs[0], axes[0], stream());
  return {{array(x.shape(), x.dtype(), std::make_shared<Softmax>(stream(), precise_, log_), {x})}, {ax}};
}

// ---------------------------------------------------------------- LogSumExp

std::vector<array> LogSumExp::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                  const std::vector<int>&, const std::vector<array>& outputs) {
  Stream s = stream();
  const array& x = primals[0];
  // d/dx logsumexp = softmax(x) = exp(x - out); a row of all -inf has no
  // mass to move, so its gradient is 0 rather than exp(-inf + inf) = nan.
  array p = exp(subtract(x, outputs[0], s), s);
  p = where(isneginf(outputs[0], s), zeros({}, x.dtype(), s), p, s);
  return {multiply(cotangents[0], p, s)};
}

std::vector<array> LogSumExp::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                  const std::vector<int>&) {
  Stream s = stream();
  const array& x = primals[0];
  // softmax(x), with 0 on rows of all -inf (where softmax itself is nan), as in the vjp.
  Shape kept = x.shape();
  kept.back() = 1;
  array out(kept, x.dtype(), std::make_shared<LogSumExp>(s), {x});
  array p = array(x.shape(), x.dtype(), std::make_shared<Softmax>(s, false, false), {x});
  p = where(isneginf(out, s), zeros({}, x.dtype(), s), p, s);
  return {sum(multiply(p, tangents[0], s), -1, true, s)};
}

std::pair<std::vector<array>, std::vector<int>> LogSumExp::vmap(const std::vector<array>& inputs,
                                                                const std::vector<int>& axes) {
  auto [x, ax] = batch_off_last(inputs[0], axes[0], stream());
  Shape shape = x.shape();
  shape.back() = 1;
  return {{array(shape, x.dtype(), std::make_shared<LogSumExp>(stream()), {x})}, {ax}};
}

}  // namespace ember
