// Reductions: sum, prod, max, min, all, any (the Reduce primitive), argmax and
// argmin (ArgReduce), mean/var/std (compositions of sum and elementwise ops),
// logsumexp, softmax and log_softmax (last-axis primitives; other axes are
// transposed to the end first).
#include <algorithm>
#include <limits>
#include <numeric>
#include <sstream>

#include "ember/ops.h"
#include "ember/ops_common.h"
#include "ember/primitives.h"
#include "ember/utils.h"

namespace ember {

namespace {

std::string axes_str(const std::vector<int>& axes) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < axes.size(); ++i) os << (i ? "," : "") << axes[i];
  os << (axes.size() == 1 ? ",)" : ")");
  return os.str();
}

// Normalized, sorted axes; throws on out-of-range or repeated axes.
std::vector<int> normalize_axes(const std::vector<int>& axes, int ndim, const char* op) {
  std::vector<int> out;
  out.reserve(axes.size());
  // Reductions word the out-of-bounds error "for array with" (NumPy's AxisError).
  for (int ax : axes) out.push_back(detail::normalize_axis(ax, ndim, op, "array"));
  std::sort(out.begin(), out.end());
  auto dup = std::adjacent_find(out.begin(), out.end());
  if (dup != out.end()) {
    throw std::invalid_argument(std::string("[") + op + "] received duplicate axis " + std::to_string(*dup) +
                                " in axes " + axes_str(axes));
  }
  return out;
}

std::vector<int> all_axes(const array& a) {
  std::vector<int> axes(a.ndim());
  std::iota(axes.begin(), axes.end(), 0);
  return axes;
}

// `shape` with the (sorted, normalized) `axes` set to 1 or removed.
Shape reduced_shape(const Shape& shape, const std::vector<int>& axes, bool keepdims) {
  Shape out;
  size_t k = 0;
  for (int i = 0; i < static_cast<int>(shape.size()); ++i) {
    bool reduced = k < axes.size() && axes[k] == i;
    if (reduced) ++k;
    if (!reduced) {
      out.push_back(shape[i]);
    } else if (keepdims) {
      out.push_back(1);
    }
  }
  return out;
}

// Number of elements each output of a reduction over `axes` combines.
size_t reduction_count(const array& a, const std::vector<int>& axes) {
  size_t n = 1;
  for (int ax : axes) n *= static_cast<size_t>(a.shape()[ax]);
  return n;
}

// MLX's accumulator dtypes for sum and prod: small integers widen to 32 bits.
Dtype sum_dtype(Dtype t) {
  if (t == bool_ || t == int8 || t == int16) return int32;
  if (t == uint8 || t == uint16) return uint32;
  return t;
}

Dtype reduce_out_dtype(ReduceOp op, Dtype t) {
  switch (op) {
    case ReduceOp::Sum:
    case ReduceOp::Prod:
      return sum_dtype(t);
    case ReduceOp::Max:
    case ReduceOp::Min:
      return t;
    case ReduceOp::And:
    case ReduceOp::Or:
      return bool_;
  }
  return t;
}

// Throws when an op without an identity (max, min, argmax, argmin) would reduce nothing.
void check_nonempty(const array& a, const std::vector<int>& axes, const char* op) {
  for (int ax : axes) {
    if (a.shape()[ax] == 0) {
      throw std::invalid_argument(std::string("[") + op + "] cannot reduce an array of size 0 (shape " +
                                  shape_to_string(a.shape()) + ") over axis " + std::to_string(ax) +
                                  ", which has no identity");
    }
  }
}

array make_reduce(const array& a, ReduceOp op, const std::vector<int>& axes_in, bool keepdims, const char* name,
                  StreamOrDevice s) {
  std::vector<int> axes = normalize_axes(axes_in, static_cast<int>(a.ndim()), name);
  if (is_complex(a.dtype()) && op != ReduceOp::Sum && op != ReduceOp::Prod && op != ReduceOp::And &&
      op != ReduceOp::Or) {
    throw std::invalid_argument(std::string("[") + name + "] not supported for complex64 inputs");
  }
  if (op == ReduceOp::Max || op == ReduceOp::Min) check_nonempty(a, axes, name);
  Dtype out_dtype = reduce_out_dtype(op, a.dtype());
  if (axes.empty()) return astype(a, out_dtype, s);
  Shape kept = reduced_shape(a.shape(), axes, true);
  array out(kept, out_dtype, std::make_shared<Reduce>(to_stream(s), op, axes), {a});
  return keepdims ? out : reshape(out, reduced_shape(a.shape(), axes, false), s);
}

array make_arg_reduce(const array& a, ArgReduceOp op, int axis_in, bool keepdims, const char* name, StreamOrDevice s) {
  if (is_complex(a.dtype())) {
    throw std::invalid_argument(std::string("[") + name + "] not supported for complex64 inputs");
  }
  int axis = detail::normalize_axis(axis_in, static_cast<int>(a.ndim()), name, "array");
  check_nonempty(a, {axis}, name);
  Shape kept = a.shape();
  kept[axis] = 1;
  array out(kept, uint32, std::make_shared<ArgReduce>(to_stream(s), op, axis), {a});
  return keepdims ? out : reshape(out, reduced_shape(a.shape(), {axis}, false), s);
}

array make_arg_reduce_all(const array& a, ArgReduceOp op, bool keepdims, const char* name, StreamOrDevice s) {
  array out = make_arg_reduce(reshape(a, {-1}, s), op, 0, false, name, s);
  return keepdims ? reshape(out, Shape(a.ndim(), 1), s) : out;
}

// Inexact dtype the float-valued reductions return (integers and bool -> float32).
Dtype float_dtype(Dtype t) { return is_inexact(t) ? t : float32; }
// Dtype mean and var compute in: float16/bfloat16 widen to float32.
Dtype compute_dtype(Dtype t) { return t == float16 || t == bfloat16 ? float32 : t; }

// Moves `axes` (sorted) to the end and flattens them into one: returns the
// (…, prod(axes)) array and the permutation applied.
std::pair<array, std::vector<int>> axes_to_last(const array& a, const std::vector<int>& axes, StreamOrDevice s) {
  int nd = static_cast<int>(a.ndim());
  std::vector<int> perm;
  std::vector<bool> reduced(nd, false);
  for (int ax : axes) reduced[ax] = true;
  Shape shape;
  for (int i = 0; i < nd; ++i) {
    if (!reduced[i]) {
      perm.push_back(i);
      shape.push_back(a.shape()[i]);
    }
  }
  int32_t inner = 1;
  for (int ax : axes) {
    perm.push_back(ax);
    inner *= a.shape()[ax];
  }
  shape.push_back(inner);
  bool identity = std::is_sorted(perm.begin(), perm.end());
  array t = identity ? a : transpose(a, perm, s);
  return {reshape(t, shape, s), perm};
}

array softmax_impl(const array& a, const std::vector<int>& axes_in, bool precise, bool log, StreamOrDevice s) {
  const char* name = log ? "log_softmax" : "softmax";
  if (is_complex(a.dtype())) {
    throw std::invalid_argument(std::string("[") + name + "] not supported for complex64 inputs");
  }
  std::vector<int> axes = normalize_axes(axes_in, static_cast<int>(a.ndim()), name);
  array x = astype(a, float_dtype(a.dtype()), s);
  auto prim = std::make_shared<Softmax>(to_stream(s), precise, log);
  int nd = static_cast<int>(x.ndim());
  if (nd > 0 && axes.size() == 1 && axes[0] == nd - 1) return array(x.shape(), x.dtype(), prim, {x});
  auto [flat, perm] = axes_to_last(x, axes, s);
  array y(flat.shape(), flat.dtype(), prim, {flat});
  Shape tshape(nd);
  for (int i = 0; i < nd; ++i) tshape[i] = x.shape()[perm[i]];
  y = reshape(y, tshape, s);
  if (std::is_sorted(perm.begin(), perm.end())) return y;
  std::vector<int> inverse(nd);
  for (int i = 0; i < nd; ++i) inverse[perm[i]] = i;
  return transpose(y, inverse, s);
}

}  // namespace

// ---------------------------------------------------------------- sum, prod, max, min, all, any

array sum(const array& a, const std::vector<int>& axes, bool keepdims, StreamOrDevice s) {
  return make_reduce(a, ReduceOp::Sum, axes, keepdims, "sum", s);
}
array sum(const array& a, int axis, bool keepdims, StreamOrDevice s) {
  return sum(a, std::vector<int>{axis}, keepdims, s);
}
array sum(const array& a, bool keepdims, StreamOrDevice s) { return sum(a, all_axes(a), keepdims, s); }

array prod(const array& a, const std::vector<int>& axes, bool keepdims, StreamOrDevice s) {
  return make_reduce(a, ReduceOp::Prod, axes, keepdims, "prod", s);
}
array prod(const array& a, int axis, bool keepdims, StreamOrDevice s) {
  return prod(a, std::vector<int>{axis}, keepdims, s);
}
array prod(const array& a, bool keepdims, StreamOrDevice s) { return prod(a, all_axes(a), keepdims, s); }

array max(const array& a, const std::vector<int>& axes, bool keepdims, StreamOrDevice s) {
  return make_reduce(a, ReduceOp::Max, axes, keepdims, "max", s);
}
array max(const array& a, int axis, bool keepdims, StreamOrDevice s) {
  return max(a, std::vector<int>{axis}, keepdims, s);
}
array max(const array& a, bool keepdims, StreamOrDevice s) { return max(a, all_axes(a), keepdims, s); }

array min(const array& a, const std::vector<int>& axes, bool keepdims, StreamOrDevice s) {
  return make_reduce(a, ReduceOp::Min, axes, keepdims, "min", s);
}
array min(const array& a, int axis, bool keepdims, StreamOrDevice s) {
  return min(a, std::vector<int>{axis}, keepdims, s);
}
array min(const array& a, bool keepdims, StreamOrDevice s) { return min(a, all_axes(a), keepdims, s); }

array all(const array& a, const std::vector<int>& axes, bool keepdims, StreamOrDevice s) {
  return make_reduce(a, ReduceOp::And, axes, keepdims, "all", s);
}
array all(const array& a, int axis, bool keepdims, StreamOrDevice s) {
  return all(a, std::vector<int>{axis}, keepdims, s);
}
array all(const array& a, bool keepdims, StreamOrDevice s) { return all(a, all_axes(a), keepdims, s); }

array any(const array& a, const std::vector<int>& axes, bool keepdims, StreamOrDevice s) {
  return make_reduce(a, ReduceOp::Or, axes, keepdims, "any", s);
}
array any(const array& a, int axis, bool keepdims, StreamOrDevice s) {
  return any(a, std::vector<int>{axis}, keepdims, s);
}
array any(const array& a, bool keepdims, StreamOrDevice s) { return any(a, all_axes(a), keepdims, s); }

// ---------------------------------------------------------------- mean, var, std

array mean(const array& a, const std::vector<int>& axes_in, bool keepdims, StreamOrDevice s) {
  std::vector<int> axes = normalize_axes(axes_in, static_cast<int>(a.ndim()), "mean");
  Dtype t = float_dtype(a.dtype());
  // Integers convert first so the sum cannot overflow their accumulator; halves
  // sum in float32 so a large total does not overflow float16 before the division.
  Dtype ct = compute_dtype(t);
  array total = sum(astype(a, ct, s), axes, keepdims, s);
  double n = static_cast<double>(reduction_count(a, axes));
  return astype(multiply(total, array(1.0 / n, ct == complex64 ? float32 : ct), s), t, s);
}
array mean(const array& a, int axis, bool keepdims, StreamOrDevice s) {
  return mean(a, std::vector<int>{axis}, keepdims, s);
}
array mean(const array& a, bool keepdims, StreamOrDevice s) { return mean(a, all_axes(a), keepdims, s); }

array var(const array& a, const std::vector<int>& axes_in, bool keepdims, int ddof, StreamOrDevice s) {
  if (is_complex(a.dtype())) throw std::invalid_argument("[var] not supported for complex64 inputs");
  std::vector<int> axes = normalize_axes(axes_in, static_cast<int>(a.ndim()), "var");
  Dtype t = float_dtype(a.dtype());
  Dtype ct = compute_dtype(t);
  array x = astype(a, ct, s);
  // Two passes (mean, then squared deviations): no cancellation from E[x^2] - E[x]^2.
  array mu = mean(x, axes, true, s);
  array d = subtract(x, mu, s);
  array ss = sum(multiply(d, d, s), axes, keepdims, s);
  // NumPy divides by max(N - ddof, 0): inf (or nan for 0/0) when nothing is left.
  double n = static_cast<double>(reduction_count(a, axes)) - ddof;
  double scale = n > 0 ? 1.0 / n : std::numeric_limits<double>::infinity();
  return astype(multiply(ss, array(scale, ct), s), t, s);
}
array var(const array& a, int axis, bool keepdims, int ddof, StreamOrDevice s) {
  return var(a, std::vector<int>{axis}, keepdims, ddof, s);
}
array var(const array& a, bool keepdims, int ddof, StreamOrDevice s) { return var(a, all_axes(a), keepdims, ddof, s); }

array std(const array& a, const std::vector<int>& axes, bool keepdims, int ddof, StreamOrDevice s) {
  return sqrt(var(a, axes, keepdims, ddof, s), s);
}
array std(const array& a, int axis, bool keepdims, int ddof, StreamOrDevice s) {
  return std(a, std::vector<int>{axis}, keepdims, ddof, s);
}
array std(const array& a, bool keepdims, int ddof, StreamOrDevice s) { return std(a, all_axes(a), keepdims, ddof, s); }

// ---------------------------------------------------------------- argmax, argmin

array argmax(const array& a, int axis, bool keepdims, StreamOrDevice s) {
  return make_arg_reduce(a, ArgReduceOp::ArgMax, axis, keepdims, "argmax", s);
}
array argmax(const array& a, bool keepdims, StreamOrDevice s) {
  return make_arg_reduce_all(a, ArgReduceOp::ArgMax, keepdims, "argmax", s);
}
array argmin(const array& a, int axis, bool keepdims, StreamOrDevice s) {
  return make_arg_reduce(a, ArgReduceOp::ArgMin, axis, keepdims, "argmin", s);
}
array argmin(const array& a, bool keepdims, StreamOrDevice s) {
  return make_arg_reduce_all(a, ArgReduceOp::ArgMin, keepdims, "argmin", s);
}

// ---------------------------------------------------------------- logsumexp, softmax

array logsumexp(const array& a, const std::vector<int>& axes_in, bool keepdims, StreamOrDevice s) {
  if (is_complex(a.dtype())) throw std::invalid_argument("[logsumexp] not supported for complex64 inputs");
  std::vector<int> axes = normalize_axes(axes_in, static_cast<int>(a.ndim()), "logsumexp");
  array x = astype(a, float_dtype(a.dtype()), s);
  auto prim = std::make_shared<LogSumExp>(to_stream(s));
  int nd = static_cast<int>(x.ndim());
  Shape out_shape = reduced_shape(x.shape(), axes, keepdims);
  if (nd > 0 && axes.size() == 1 && axes[0] == nd - 1) {
    Shape kept = x.shape();
    kept.back() = 1;
    array out(kept, x.dtype(), prim, {x});
    return keepdims ? out : reshape(out, out_shape, s);
  }
  // (…, prod(axes)) -> (…, 1), then back to the reduced shape.
  auto [flat, perm] = axes_to_last(x, axes, s);
  Shape kept = flat.shape();
  kept.back() = 1;
  array out(kept, x.dtype(), prim, {flat});
  return reshape(out, out_shape, s);
}
array logsumexp(const array& a, int axis, bool keepdims, StreamOrDevice s) {
  return logsumexp(a, std::vector<int>{axis}, keepdims, s);
}
array logsumexp(const array& a, bool keepdims, StreamOrDevice s) { return logsumexp(a, all_axes(a), keepdims, s); }

array softmax(const array& a, const std::vector<int>& axes, bool precise, StreamOrDevice s) {
  return softmax_impl(a, axes, precise, false, s);
}
array softmax(const array& a, int axis, bool precise, StreamOrDevice s) {
  return softmax_impl(a, {axis}, precise, false, s);
}
array softmax(const array& a, bool precise, StreamOrDevice s) {
  return softmax_impl(a, all_axes(a), precise, false, s);
}

array log_softmax(const array& a, const std::vector<int>& axes, bool precise, StreamOrDevice s) {
  return softmax_impl(a, axes, precise, true, s);
}
array log_softmax(const array& a, int axis, bool precise, StreamOrDevice s) {
  return softmax_impl(a, {axis}, precise, true, s);
}

}  // namespace ember
