// Scans: cumsum, cumprod, cummax, cummin, logcumsumexp (the Scan primitive).
// The ops cast to the output dtype first, so the kernel reads and writes one dtype.
#include <string>

#include "ember/ops.h"
#include "ember/ops_common.h"
#include "ember/primitives.h"

namespace ember {

namespace {

// MLX's accumulator dtypes for sum and prod: bool and small integers widen to 32 bits.
Dtype scan_sum_dtype(Dtype t) {
  if (t == bool_ || t == int8 || t == int16) return int32;
  if (t == uint8 || t == uint16) return uint32;
  return t;
}

Dtype scan_out_dtype(ScanOp op, Dtype t) {
  switch (op) {
    case ScanOp::Sum:
    case ScanOp::Prod:
      return scan_sum_dtype(t);
    case ScanOp::Max:
    case ScanOp::Min:
      return t;
    case ScanOp::LogAddExp:
      return is_inexact(t) ? t : float32;
  }
  return t;
}

array make_scan(const array& a, ScanOp op, std::optional<int> axis_in, bool reverse, bool inclusive, const char* name,
                StreamOrDevice s) {
  if (is_complex(a.dtype()) && op != ScanOp::Sum && op != ScanOp::Prod) {
    throw std::invalid_argument(std::string("[") + name + "] not supported for complex64 inputs");
  }
  // No axis: scan the flattened array (a 0-d input becomes shape (1,)).
  array x = axis_in ? a : reshape(a, {-1}, s);
  int axis = detail::normalize_axis(axis_in.value_or(0), static_cast<int>(x.ndim()), name, "array");
  x = astype(x, scan_out_dtype(op, a.dtype()), s);
  return array(x.shape(), x.dtype(), std::make_shared<Scan>(to_stream(s), op, axis, reverse, inclusive), {x});
}

}  // namespace

array cumsum(const array& a, std::optional<int> axis, bool reverse, bool inclusive, StreamOrDevice s) {
  return make_scan(a, ScanOp::Sum, axis, reverse, inclusive, "cumsum", s);
}
array cumprod(const array& a, std::optional<int> axis, bool reverse, bool inclusive, StreamOrDevice s) {
  return make_scan(a, ScanOp::Prod, axis, reverse, inclusive, "cumprod", s);
}
array cummax(const array& a, std::optional<int> axis, bool reverse, bool inclusive, StreamOrDevice s) {
  return make_scan(a, ScanOp::Max, axis, reverse, inclusive, "cummax", s);
}
array cummin(const array& a, std::optional<int> axis, bool reverse, bool inclusive, StreamOrDevice s) {
  return make_scan(a, ScanOp::Min, axis, reverse, inclusive, "cummin", s);
}
array logcumsumexp(const array& a, std::optional<int> axis, bool reverse, bool inclusive, StreamOrDevice s) {
  return make_scan(a, ScanOp::LogAddExp, axis, reverse, inclusive, "logcumsumexp", s);
}

}  // namespace ember
