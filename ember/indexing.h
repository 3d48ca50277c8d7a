// Indexing: gather/scatter of slices at index arrays, take/put, slices at array
// (dynamic) starts, and NumPy-style indexing with integers, slices, index arrays,
// new axes and an ellipsis. Shapes are static, as in MLX: boolean masks that
// would give data-dependent shapes are rejected.
//
//   index(a, {0, idx::Slice{1, std::nullopt, 2}, idx::newaxis, indices})   // a[0, 1::2, None, indices]
//
// Index arrays are integers; negative values count from the end. An index that
// is still out of range makes eval throw on the CPU (like NumPy's IndexError).
#pragma once

#include <optional>
#include <type_traits>
#include <variant>
#include <vector>

#include "ember/array.h"
#include "ember/device.h"

namespace ember {

/// For each position p of the broadcast shape I of `indices`, the slice of
/// `slice_sizes` (one size per axis of a) starting at indices[j][p] on axes[j] and
/// at 0 on the other axes. The output has shape I + slice_sizes.
array gather(const array& a, const std::vector<array>& indices, const std::vector<int>& axes, const Shape& slice_sizes,
             StreamOrDevice s = {});
array gather(const array& a, const array& indices, int axis, const Shape& slice_sizes, StreamOrDevice s = {});

/// a with `updates` written at the slices that gather(a, indices, axes, ...) would read.
/// `updates` has shape I + (a slice shape with a.ndim() axes), where I is the broadcast
/// shape of the indices; the slice shape is updates.shape()[I.size():]. scatter assigns
/// (with repeated indices the last update in row-major order wins); the others combine.
array scatter(const array& a, const std::vector<array>& indices, const array& updates, const std::vector<int>& axes,
              StreamOrDevice s = {});
array scatter(const array& a, const array& indices, const array& updates, int axis, StreamOrDevice s = {});
array scatter_add(const array& a, const std::vector<array>& indices, const array& updates, const std::vector<int>& axes,
                  StreamOrDevice s = {});
array scatter_add(const array& a, const array& indices, const array& updates, int axis, StreamOrDevice s = {});
array scatter_prod(const array& a, const std::vector<array>& indices, const array& updates,
                   const std::vector<int>& axes, StreamOrDevice s = {});
array scatter_prod(const array& a, const array& indices, const array& updates, int axis, StreamOrDevice s = {});
array scatter_max(const array& a, const std::vector<array>& indices, const array& updates, const std::vector<int>& axes,
                  StreamOrDevice s = {});
array scatter_max(const array& a, const array& indices, const array& updates, int axis, StreamOrDevice s = {});
array scatter_min(const array& a, const std::vector<array>& indices, const array& updates, const std::vector<int>& axes,
                  StreamOrDevice s = {});
array scatter_min(const array& a, const array& indices, const array& updates, int axis, StreamOrDevice s = {});

/// Elements of `a` at `indices` along `axis`: the result's shape is a.shape[:axis] +
/// indices.shape + a.shape[axis+1:]. Without an axis, indexes the flattened array.
array take(const array& a, const array& indices, int axis, StreamOrDevice s = {});
array take(const array& a, const array& indices, StreamOrDevice s = {});
array take(const array& a, int index, int axis, StreamOrDevice s = {});
array take(const array& a, int index, StreamOrDevice s = {});

/// a with `values` written at `indices` along `axis` (the inverse of take_along_axis):
/// indices and values broadcast against a on the other axes and against each other.
/// Without an axis, writes into the flattened array and reshapes back.
array put_along_axis(const array& a, const array& indices, const array& values, int axis, StreamOrDevice s = {});

namespace detail {
array dynamic_slice(const array& a, const array& start, const std::vector<int>& axes, const Shape& slice_size,
                    StreamOrDevice s);
array dynamic_slice_update(const array& src, const array& update, const array& start, const std::vector<int>& axes,
                           StreamOrDevice s);
}  // namespace detail

// The start of these overloads must be an array expression, not a braced list, so
// slice(a, {1, 0}, {3, 4}, {1, 2}) keeps meaning the static slice of ops.h.

/// A slice of `slice_size` (one per axis of `axes`) starting at `start` (a 1-d integer
/// array, one entry per axis, read at eval time). Starts are clamped so the slice fits,
/// as in JAX's dynamic_slice; the other axes are taken whole.
template <class A, class = std::enable_if_t<std::is_same_v<A, array>>>
array slice(const array& a, const A& start, const std::vector<int>& axes, const Shape& slice_size,
            StreamOrDevice s = {}) {
  return detail::dynamic_slice(a, start, axes, slice_size, s);
}
/// `src` with `update` written at `start` (1-d integer array, one entry per axis of
/// `axes`, clamped so the update fits); update has src's number of axes.
template <class A, class = std::enable_if_t<std::is_same_v<A, array>>>
array slice_update(const array& src, const array& update, const A& start, const std::vector<int>& axes,
                   StreamOrDevice s = {}) {
  return detail::dynamic_slice_update(src, update, start, axes, s);
}

// ---------------------------------------------------------------- NumPy-style indexing

namespace idx {
/// A slice start:stop:step; unset bounds mean the whole axis in the step's direction.
struct Slice {
  std::optional<int64_t> start, stop;
  int64_t step = 1;
};
/// `np.newaxis` / `None` in an index.
struct NewAxis {};
inline constexpr NewAxis newaxis{};
/// `...` in an index.
struct Ellipsis {};
inline constexpr Ellipsis ellipsis{};
}  // namespace idx

/// One entry of an index expression: an integer, a slice, an integer index array, a new axis or an ellipsis.
class Index {
 public:
  Index(int64_t i) : v_(i) {}
  Index(int i) : v_(static_cast<int64_t>(i)) {}
  Index(idx::Slice s) : v_(s) {}
  Index(array a) : v_(std::move(a)) {}
  Index(idx::NewAxis n) : v_(n) {}
  Index(idx::Ellipsis e) : v_(e) {}
  using Variant = std::variant<int64_t, idx::Slice, array, idx::NewAxis, idx::Ellipsis>;
  const Variant& value() const { return v_; }

 private:
  Variant v_;
};

/// a[idx...] with NumPy semantics: integers and slices give views, index arrays broadcast
/// together and gather (their dimensions replace the indexed axes when the array/integer
/// indices are adjacent, else they go first), NewAxis inserts an axis, one Ellipsis
/// stands for the axes not named. Bool index arrays are rejected (data-dependent shapes).
array index(const array& a, const std::vector<Index>& idx, StreamOrDevice s = {});

/// How index_update combines the values with what is at the indexed positions.
enum class IndexUpdate { Set, Add, Subtract, Multiply, Divide, Maximum, Minimum };

/// a with `values` (broadcast to the shape of index(a, idx), cast to a's dtype) combined
/// into the indexed positions: MLX's `a.at[idx].add(values)` and friends, or `a[idx] = values`
/// with IndexUpdate::Set. Repeated positions accumulate for Add/Subtract/Multiply/Divide/
/// Maximum/Minimum; for Set the last in row-major order wins.
array index_update(const array& a, const std::vector<Index>& idx, const array& values,
                   IndexUpdate op = IndexUpdate::Set, StreamOrDevice s = {});

}  // namespace ember
