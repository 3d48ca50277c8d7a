// vjp, jvp and vmap of Scan, written with the public ops (so they differentiate again).
#include <limits>
#include <utility>

#include "ember/ops.h"
#include "ember/primitives.h"

namespace ember {

namespace {

// For each output of a cummax/cummin along `axis`, the position its value came from.
// m_j: x_j equals the inclusive running extreme there (j starts a new segment; on
// ties the later position in scan order wins); output i takes the last segment start
// at or before i in scan order (strictly before for exclusive scans), found with a
// running max (forward) or min (reverse) of the start positions. Returns the
// positions, clamped into range, and where they are valid (an exclusive scan's first
// output is the identity and comes from nowhere).
std::pair<array, array> arg_positions(const array& x, ScanOp op, int axis, bool reverse, bool inclusive, Stream s) {
  int nd = static_cast<int>(x.ndim());
  int n = x.shape()[axis];
  Shape pshape(nd, 1);
  pshape[axis] = n;
  array pos = reshape(arange(0, n, 1, s), pshape, s);  // int32
  array run = op == ScanOp::Max ? cummax(x, axis, reverse, true, s) : cummin(x, axis, reverse, true, s);
  array m = equal(x, run, s);
  // Segment starts keep their position; others get a value the running max/min passes over.
  array start = where(m, pos, array(reverse ? n : -1), s);
  array idx = reverse ? cummin(start, axis, true, inclusive, s) : cummax(start, axis, false, inclusive, s);
  array valid = reverse ? less(idx, array(n), s) : greater_equal(idx, array(0), s);
  return {where(valid, idx, array(0), s), valid};
}

// log|v| restricted to v's positive (sign > 0) or negative part: -inf elsewhere.
array log_part(const array& v, bool positive, Stream s) {
  array zero = zeros({}, v.dtype(), s);
  array keep = positive ? greater(v, zero, s) : less(v, zero, s);
  array ninf = full({}, array(-std::numeric_limits<double>::infinity(), v.dtype()), v.dtype(), s);
  return where(keep, log(abs(v, s), s), ninf, s);
}

}  // namespace

std::vector<array> Scan::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                             const std::vector<int>&, const std::vector<array>& outputs) {
  const array& x = primals[0];
  const array& g = cotangents[0];
  const array& y = outputs[0];
  Stream s = stream();
  switch (op_) {
    case ScanOp::Sum:
      // out_i = sum of x_j over the (inclusive or exclusive) prefix: the adjoint sums
      // g over the matching suffix, i.e. the same scan in the other direction.
      return {cumsum(g, axis_, !reverse_, inclusive_, s)};
    case ScanOp::Prod:
      // As MLX: d out_i / d x_j = out_i / x_j for j in the prefix, so
      // dx = reverse-scan(g * out) / x. An input of exactly 0 gives inf/nan here.
      return {divide(cumsum(multiply(g, y, s), axis_, !reverse_, inclusive_, s), x, s)};
    case ScanOp::Max:
    case ScanOp::Min: {
      // Each output's gradient goes to the position its value came from.
      auto [idx, valid] = arg_positions(x, op_, axis_, reverse_, inclusive_, s);
      array gv = where(valid, g, zeros({}, g.dtype(), s), s);
      return {scatter_add_axis(zeros_like(x, s), idx, gv, axis_, s)};
    }
    case ScanOp::LogAddExp: {
      // dx_j = sum over outputs i whose prefix holds j of g_i exp(x_j - out_i)
      //      = exp(x_j + log(suffix-sum of g_i exp(-out_i))), kept in log space with g
      // split by sign so nothing overflows. Outputs equal to -inf (exclusive starts)
      // hold no x and are dropped.
      array ninf = full({}, array(-std::numeric_limits<double>::infinity(), x.dtype()), x.dtype(), s);
      array dead = isneginf(y, s);
      auto part = [&](bool positive) {
        array l = where(dead, ninf, subtract(log_part(g, positive, s), y, s), s);
        return exp(add(x, logcumsumexp(l, axis_, !reverse_, inclusive_, s), s), s);
      };
      return {subtract(part(true), part(false), s)};
    }
  }
  throw std::invalid_argument("[Scan] unknown op");
}

std::vector<array> Scan::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                             const std::vector<int>&) {
  const array& x = primals[0];
  const array& t = tangents[0];
  Stream s = stream();
  switch (op_) {
    case ScanOp::Sum:
      return {cumsum(t, axis_, reverse_, inclusive_, s)};
    case ScanOp::Prod: {
      // d out_i = out_i * sum over the prefix of t_j / x_j (MLX's formula; x = 0 gives nan).
      array y = cumprod(x, axis_, reverse_, inclusive_, s);
      return {multiply(y, cumsum(divide(t, x, s), axis_, reverse_, inclusive_, s), s)};
    }
    case ScanOp::Max:
    case ScanOp::Min: {
      auto [idx, valid] = arg_positions(x, op_, axis_, reverse_, inclusive_, s);
      return {where(valid, take_along_axis(t, idx, axis_, s), zeros({}, t.dtype(), s), s)};
    }
    case ScanOp::LogAddExp: {
      // d out_i = sum over the prefix of t_j exp(x_j - out_i), t split by sign in log space.
      array y = logcumsumexp(x, axis_, reverse_, inclusive_, s);
      array dead = isneginf(y, s);
      array zero = zeros({}, x.dtype(), s);
      auto part = [&](bool positive) {
        array l = logcumsumexp(add(log_part(t, positive, s), x, s), axis_, reverse_, inclusive_, s);
        return where(dead, zero, exp(subtract(l, y, s), s), s);
      };
      return {subtract(part(true), part(false), s)};
    }
  }
  throw std::invalid_argument("[Scan] unknown op");
}

std::pair<std::vector<array>, std::vector<int>> Scan::vmap(const std::vector<array>& inputs,
                                                           const std::vector<int>& axes) {
  const array& x = inputs[0];
  int b = axes[0];
  int axis = b >= 0 && b <= axis_ ? axis_ + 1 : axis_;
  return {{array(x.shape(), x.dtype(), std::make_shared<Scan>(stream(), op_, axis, reverse_, inclusive_), {x})}, {b}};
}

}  // namespace ember
