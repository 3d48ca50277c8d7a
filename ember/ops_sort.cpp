// Sorting along an axis: sort, argsort, partition, argpartition (one primitive
// each), topk (a slice of a partition), and the axis gathers they differentiate
// through: take_along_axis (GatherAxis) and scatter_add_axis (ScatterAddAxis).
#include <string>

#include "ember/ops.h"
#include "ember/ops_common.h"
#include "ember/primitives.h"
#include "ember/utils.h"

namespace ember {

namespace {

std::string op_prefix(const char* op) { return std::string("[") + op + "] "; }

void check_sortable(const array& a, const char* op) {
  if (is_complex(a.dtype())) throw std::invalid_argument(op_prefix(op) + "not supported for complex64 inputs");
}

// Normalizes `kth` against the size of `axis`; throws naming both when out of range.
int normalize_kth(const array& a, int kth, int axis, const char* op) {
  int n = a.shape()[axis];
  int k = kth < 0 ? kth + n : kth;
  if (k < 0 || k >= n) {
    throw std::out_of_range(op_prefix(op) + "kth " + std::to_string(kth) + " is out of bounds for axis " +
                            std::to_string(axis) + " of size " + std::to_string(n) + " (shape " +
                            shape_to_string(a.shape()) + ")");
  }
  return k;
}

void check_index_dtype(const array& indices, const char* op) {
  if (!is_integral(indices.dtype())) {
    throw std::invalid_argument(op_prefix(op) + "indices must be integers, got " + dtype_name(indices.dtype()));
  }
}

void check_same_ndim(const array& a, const array& b, const char* op, const char* what) {
  if (a.ndim() != b.ndim()) {
    throw std::invalid_argument(op_prefix(op) + what + " must have the same number of dimensions as the array (" +
                                std::to_string(b.ndim()) + " vs " + std::to_string(a.ndim()) + ")");
  }
}

}  // namespace

// ---------------------------------------------------------------- sort, argsort

array sort(const array& a, int axis, StreamOrDevice s) {
  check_sortable(a, "sort");
  int ax = detail::normalize_axis(axis, static_cast<int>(a.ndim()), "sort");
  return array(a.shape(), a.dtype(), std::make_shared<Sort>(to_stream(s), ax), {a});
}

array sort(const array& a, StreamOrDevice s) { return sort(flatten(a, 0, -1, s), 0, s); }

array argsort(const array& a, int axis, StreamOrDevice s) {
  check_sortable(a, "argsort");
  int ax = detail::normalize_axis(axis, static_cast<int>(a.ndim()), "argsort");
  return array(a.shape(), uint32, std::make_shared<ArgSort>(to_stream(s), ax), {a});
}

array argsort(const array& a, StreamOrDevice s) { return argsort(flatten(a, 0, -1, s), 0, s); }

// ---------------------------------------------------------------- partition, argpartition, topk

array partition(const array& a, int kth, int axis, StreamOrDevice s) {
  check_sortable(a, "partition");
  int ax = detail::normalize_axis(axis, static_cast<int>(a.ndim()), "partition");
  int k = normalize_kth(a, kth, ax, "partition");
  return array(a.shape(), a.dtype(), std::make_shared<Partition>(to_stream(s), k, ax), {a});
}

array partition(const array& a, int kth, StreamOrDevice s) { return partition(flatten(a, 0, -1, s), kth, 0, s); }

array argpartition(const array& a, int kth, int axis, StreamOrDevice s) {
  check_sortable(a, "argpartition");
  int ax = detail::normalize_axis(axis, static_cast<int>(a.ndim()), "argpartition");
  int k = normalize_kth(a, kth, ax, "argpartition");
  return array(a.shape(), uint32, std::make_shared<ArgPartition>(to_stream(s), k, ax), {a});
}

array argpartition(const array& a, int kth, StreamOrDevice s) { return argpartition(flatten(a, 0, -1, s), kth, 0, s); }

array topk(const array& a, int k, int axis, StreamOrDevice s) {
  check_sortable(a, "topk");
  int ax = detail::normalize_axis(axis, static_cast<int>(a.ndim()), "topk");
  int n = a.shape()[ax];
  if (k < 0 || k > n) {
    throw std::out_of_range("[topk] k " + std::to_string(k) + " is out of range for axis " + std::to_string(ax) +
                            " of size " + std::to_string(n) + " (shape " + shape_to_string(a.shape()) + ")");
  }
  Shape start(a.ndim(), 0), stop = a.shape();
  start[ax] = n - k;
  // The k largest are the tail of a partition around n - k; k == 0 needs no partition.
  array p = k == 0 ? a : partition(a, n - k, ax, s);
  return slice(p, start, stop, s);
}

array topk(const array& a, int k, StreamOrDevice s) { return topk(flatten(a, 0, -1, s), k, 0, s); }

// ---------------------------------------------------------------- take_along_axis, scatter_add_axis

array take_along_axis(const array& a, const array& indices, int axis, StreamOrDevice s) {
  check_index_dtype(indices, "take_along_axis");
  check_same_ndim(a, indices, "take_along_axis", "indices");
  int ax = detail::normalize_axis(axis, static_cast<int>(a.ndim()), "take_along_axis");
  // Broadcast the other axes; each keeps its own extent along `axis`.
  Shape sa = a.shape(), si = indices.shape();
  sa[ax] = si[ax] = 1;
  Shape b = broadcast_shapes(sa, si);
  Shape a_shape = b, i_shape = b;
  a_shape[ax] = a.shape()[ax];
  i_shape[ax] = indices.shape()[ax];
  array x = broadcast_to(a, a_shape, s);
  array idx = broadcast_to(indices, i_shape, s);
  return array(i_shape, a.dtype(), std::make_shared<GatherAxis>(to_stream(s), ax), {x, idx});
}

array scatter_add_axis(const array& a, const array& indices, const array& values, int axis, StreamOrDevice s) {
  check_index_dtype(indices, "scatter_add_axis");
  check_same_ndim(a, indices, "scatter_add_axis", "indices");
  check_same_ndim(a, values, "scatter_add_axis", "values");
  int ax = detail::normalize_axis(axis, static_cast<int>(a.ndim()), "scatter_add_axis");
  Shape u = broadcast_shapes(indices.shape(), values.shape());
  for (int i = 0; i < static_cast<int>(a.ndim()); ++i) {
    if (i != ax && u[i] != a.shape()[i]) {
      throw std::invalid_argument("[scatter_add_axis] indices and values of shape " + shape_to_string(u) +
                                  " do not match the array's shape " + shape_to_string(a.shape()) + " outside axis " +
                                  std::to_string(ax));
    }
  }
  array idx = broadcast_to(indices, u, s);
  array v = astype(broadcast_to(values, u, s), a.dtype(), s);
  return array(a.shape(), a.dtype(), std::make_shared<ScatterAddAxis>(to_stream(s), ax), {a, idx, v});
}

}  // namespace ember
