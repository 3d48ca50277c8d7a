// Indexing ops: gather/scatter (the two primitives of the family), and take,
// put_along_axis, dynamic slices and NumPy-style indexing composed from them and
// from the view ops.
#include <algorithm>
#include <numeric>

#include "ember/indexing.h"
#include "ember/ops.h"
#include "ember/ops_common.h"
#include "ember/primitives_index.h"
#include "ember/utils.h"

namespace ember {

namespace {

std::string op_prefix(const char* op) { return std::string("[") + op + "] "; }

void check_index_array(const array& idx, const char* op) {
  if (idx.dtype() == bool_) {
    throw std::invalid_argument(op_prefix(op) +
                                "boolean index arrays would give a data-dependent shape and are not supported "
                                "(use where() or an integer index array)");
  }
  if (!is_integral(idx.dtype())) {
    throw std::invalid_argument(op_prefix(op) + "indices must be integers, got " + dtype_name(idx.dtype()));
  }
}

// Broadcast shape of the index arrays (a scalar shape when there are none).
Shape broadcast_index_shape(const std::vector<array>& indices, const char* op) {
  Shape shape;
  for (const auto& idx : indices) {
    check_index_array(idx, op);
    try {
      shape = broadcast_shapes(shape, idx.shape());
    } catch (const std::invalid_argument&) {
      std::string shapes;
      for (const auto& i : indices) shapes += (shapes.empty() ? "" : ", ") + shape_to_string(i.shape());
      throw std::invalid_argument(op_prefix(op) + "index arrays of shapes " + shapes + " cannot be broadcast together");
    }
  }
  return shape;
}

// Normalizes the indexed axes (distinct, in range).
std::vector<int> normalize_axes(const array& a, const std::vector<int>& axes, const char* op) {
  int nd = static_cast<int>(a.ndim());
  std::vector<int> out;
  std::vector<bool> seen(nd, false);
  for (int ax : axes) {
    int n = detail::normalize_axis(ax, nd, op);
    if (seen[n]) throw std::invalid_argument(op_prefix(op) + "axis " + std::to_string(ax) + " is indexed twice");
    seen[n] = true;
    out.push_back(n);
  }
  return out;
}

// The same, with one index array per axis.
std::vector<int> normalize_index_axes(const array& a, const std::vector<array>& indices, const std::vector<int>& axes,
                                      const char* op) {
  if (indices.size() != axes.size()) {
    throw std::invalid_argument(op_prefix(op) + "got " + std::to_string(indices.size()) + " index arrays but " +
                                std::to_string(axes.size()) + " axes");
  }
  return normalize_axes(a, axes, op);
}

std::vector<array> broadcast_indices(const std::vector<array>& indices, const Shape& shape, Stream s) {
  std::vector<array> out;
  for (const auto& idx : indices) out.push_back(broadcast_to(idx, shape, s));
  return out;
}

array scatter_impl(const array& a, const std::vector<array>& indices, const array& updates,
                   const std::vector<int>& axes_in, ScatterReduce reduce, const char* op, StreamOrDevice sd) {
  Stream s = to_stream(sd);
  std::vector<int> axes = normalize_index_axes(a, indices, axes_in, op);
  Shape ishape = broadcast_index_shape(indices, op);
  size_t r = ishape.size(), nd = a.ndim();
  if (updates.ndim() != r + nd) {
    throw std::invalid_argument(op_prefix(op) + "updates of shape " + shape_to_string(updates.shape()) + " need " +
                                std::to_string(r + nd) + " dimensions: the index shape " + shape_to_string(ishape) +
                                " followed by one slice dimension per axis of the array of shape " +
                                shape_to_string(a.shape()));
  }
  Shape slice(updates.shape().begin() + r, updates.shape().end());
  for (size_t i = 0; i < nd; ++i) {
    if (slice[i] > a.shape(i)) {
      throw std::invalid_argument(op_prefix(op) + "update slice " + shape_to_string(slice) +
                                  " is larger than the array of shape " + shape_to_string(a.shape()) + " on axis " +
                                  std::to_string(i));
    }
  }
  Shape ushape = ishape;
  ushape.insert(ushape.end(), slice.begin(), slice.end());
  Shape lead(updates.shape().begin(), updates.shape().begin() + r);
  bool lead_ok = true;
  for (size_t i = 0; i < r; ++i) lead_ok = lead_ok && (lead[i] == 1 || lead[i] == ishape[i]);
  if (!lead_ok) {
    throw std::invalid_argument(op_prefix(op) + "updates of shape " + shape_to_string(updates.shape()) +
                                " do not match the index shape " + shape_to_string(ishape));
  }
  if ((reduce == ScatterReduce::Max || reduce == ScatterReduce::Min) && is_complex(a.dtype())) {
    throw std::invalid_argument(op_prefix(op) + "not supported for complex64 arrays");
  }
  std::vector<array> inputs{a};
  for (auto& idx : broadcast_indices(indices, ishape, s)) inputs.push_back(idx);
  inputs.push_back(broadcast_to(astype(updates, a.dtype(), s), ushape, s));
  return array(a.shape(), a.dtype(), std::make_shared<Scatter>(s, reduce, std::move(axes)), std::move(inputs));
}

}  // namespace

// ---------------------------------------------------------------- gather / scatter

array gather(const array& a, const std::vector<array>& indices, const std::vector<int>& axes_in,
             const Shape& slice_sizes, StreamOrDevice sd) {
  Stream s = to_stream(sd);
  std::vector<int> axes = normalize_index_axes(a, indices, axes_in, "gather");
  if (slice_sizes.size() != a.ndim()) {
    throw std::invalid_argument("[gather] slice_sizes " + shape_to_string(slice_sizes) +
                                " must have one entry per axis of the array of shape " + shape_to_string(a.shape()));
  }
  for (size_t i = 0; i < a.ndim(); ++i) {
    if (slice_sizes[i] < 0 || slice_sizes[i] > a.shape(i)) {
      throw std::invalid_argument("[gather] slice size " + std::to_string(slice_sizes[i]) + " on axis " +
                                  std::to_string(i) + " must lie in [0, " + std::to_string(a.shape(i)) + "]");
    }
  }
  Shape ishape = broadcast_index_shape(indices, "gather");
  Shape out = ishape;
  out.insert(out.end(), slice_sizes.begin(), slice_sizes.end());
  std::vector<array> inputs{a};
  for (auto& idx : broadcast_indices(indices, ishape, s)) inputs.push_back(idx);
  return array(std::move(out), a.dtype(), std::make_shared<Gather>(s, std::move(axes), slice_sizes), std::move(inputs));
}

array gather(const array& a, const array& indices, int axis, const Shape& slice_sizes, StreamOrDevice s) {
  return gather(a, std::vector<array>{indices}, std::vector<int>{axis}, slice_sizes, s);
}

#define EMBER_SCATTER_OP(NAME, REDUCE)                                                                              \
  array NAME(const array& a, const std::vector<array>& indices, const array& updates, const std::vector<int>& axes, \
             StreamOrDevice s) {                                                                                    \
    return scatter_impl(a, indices, updates, axes, ScatterReduce::REDUCE, #NAME, s);                                \
  }                                                                                                                 \
  array NAME(const array& a, const array& indices, const array& updates, int axis, StreamOrDevice s) {              \
    return scatter_impl(a, {indices}, updates, {axis}, ScatterReduce::REDUCE, #NAME, s);                            \
  }
EMBER_SCATTER_OP(scatter, None)
EMBER_SCATTER_OP(scatter_add, Sum)
EMBER_SCATTER_OP(scatter_prod, Prod)
EMBER_SCATTER_OP(scatter_max, Max)
EMBER_SCATTER_OP(scatter_min, Min)
#undef EMBER_SCATTER_OP

// ---------------------------------------------------------------- take / put_along_axis

array take(const array& a, const array& indices, int axis, StreamOrDevice sd) {
  Stream s = to_stream(sd);
  check_index_array(indices, "take");
  int nd = static_cast<int>(a.ndim());
  int ax = detail::normalize_axis(axis, nd, "take");
  Shape sizes = a.shape();
  sizes[ax] = 1;
  int k = static_cast<int>(indices.ndim());
  // gather gives I + a.shape (1 at axis): drop that axis, then move I to where the axis was.
  array g = squeeze(gather(a, indices, ax, sizes, s), k + ax, s);
  std::vector<int> perm;
  for (int i = 0; i < ax; ++i) perm.push_back(k + i);
  for (int i = 0; i < k; ++i) perm.push_back(i);
  for (int i = k + ax; i < k + nd - 1; ++i) perm.push_back(i);
  return transpose(g, perm, s);
}

array take(const array& a, const array& indices, StreamOrDevice s) { return take(flatten(a, 0, -1, s), indices, 0, s); }

array take(const array& a, int index, int axis, StreamOrDevice s) {
  int nd = static_cast<int>(a.ndim());
  int ax = detail::normalize_axis(axis, nd, "take");
  int n = a.shape(ax);
  if (index < -n || index >= n) {
    throw std::out_of_range("[take] index " + std::to_string(index) + " is out of bounds for axis " +
                            std::to_string(ax) + " with size " + std::to_string(n));
  }
  int i = index < 0 ? index + n : index;
  Shape start(nd, 0), stop = a.shape();
  start[ax] = i;
  stop[ax] = i + 1;
  return squeeze(slice(a, start, stop, s), ax, s);
}

array take(const array& a, int index, StreamOrDevice s) { return take(flatten(a, 0, -1, s), index, 0, s); }

array put_along_axis(const array& a, const array& indices, const array& values, int axis, StreamOrDevice sd) {
  Stream s = to_stream(sd);
  check_index_array(indices, "put_along_axis");
  int nd = static_cast<int>(a.ndim());
  int ax = detail::normalize_axis(axis, nd, "put_along_axis");
  if (indices.ndim() != a.ndim()) {
    throw std::invalid_argument("[put_along_axis] indices of shape " + shape_to_string(indices.shape()) +
                                " must have as many dimensions as the array of shape " + shape_to_string(a.shape()));
  }
  Shape u;
  try {
    u = broadcast_shapes(indices.shape(), values.shape());
  } catch (const std::invalid_argument&) {
    u.clear();
  }
  bool ok = u.size() == a.ndim();
  for (int i = 0; ok && i < nd; ++i) ok = i == ax || u[i] == 1 || u[i] == a.shape(i);
  if (!ok) {
    throw std::invalid_argument("[put_along_axis] indices of shape " + shape_to_string(indices.shape()) +
                                " and values of shape " + shape_to_string(values.shape()) +
                                " do not broadcast to the array of shape " + shape_to_string(a.shape()) +
                                " outside axis " + std::to_string(ax));
  }
  for (int i = 0; i < nd; ++i) {
    if (i != ax) u[i] = a.shape(i);
  }
  // One index array per axis: the given indices on `axis`, the position itself elsewhere.
  std::vector<array> idx;
  std::vector<int> axes(nd);
  std::iota(axes.begin(), axes.end(), 0);
  for (int i = 0; i < nd; ++i) {
    if (i == ax) {
      idx.push_back(broadcast_to(indices, u, s));
    } else {
      Shape shape(nd, 1);
      shape[i] = a.shape(i);
      idx.push_back(broadcast_to(reshape(arange(a.shape(i), s), shape, s), u, s));
    }
  }
  Shape ushape = u;
  ushape.insert(ushape.end(), nd, 1);
  array upd = reshape(broadcast_to(astype(values, a.dtype(), s), u, s), ushape, s);
  return scatter_impl(a, idx, upd, axes, ScatterReduce::None, "put_along_axis", s);
}

// ---------------------------------------------------------------- slices at array starts

namespace {

// The starts of a dynamic slice as 0-d int64 arrays, clamped so `sizes` fit in `a`.
std::vector<array> clamped_starts(const array& a, const array& start, const std::vector<int>& axes, const Shape& sizes,
                                  const char* op, Stream s) {
  check_index_array(start, op);
  if (start.ndim() != 1 || start.shape(0) != static_cast<int>(axes.size())) {
    throw std::invalid_argument(op_prefix(op) + "start must be a 1-d array with one entry per axis (" +
                                std::to_string(axes.size()) + "), got shape " + shape_to_string(start.shape()));
  }
  array st = astype(start, int64, s);
  std::vector<array> out;
  for (size_t j = 0; j < axes.size(); ++j) {
    int64_t hi = static_cast<int64_t>(a.shape(axes[j])) - sizes[j];
    out.push_back(clip(take(st, static_cast<int>(j), 0, s), array(int64_t{0}), array(hi), s));
  }
  return out;
}

}  // namespace

array detail::dynamic_slice(const array& a, const array& start, const std::vector<int>& axes_in,
                            const Shape& slice_size, StreamOrDevice sd) {
  Stream s = to_stream(sd);
  if (slice_size.size() != axes_in.size()) {
    throw std::invalid_argument("[slice] slice_size " + shape_to_string(slice_size) + " needs one entry per axis (" +
                                std::to_string(axes_in.size()) + ")");
  }
  std::vector<int> axes = normalize_axes(a, axes_in, "slice");
  Shape sizes = a.shape();
  for (size_t j = 0; j < axes.size(); ++j) {
    if (slice_size[j] < 0 || slice_size[j] > a.shape(axes[j])) {
      throw std::invalid_argument("[slice] slice size " + std::to_string(slice_size[j]) + " on axis " +
                                  std::to_string(axes[j]) + " must lie in [0, " + std::to_string(a.shape(axes[j])) +
                                  "]");
    }
    sizes[axes[j]] = slice_size[j];
  }
  return gather(a, clamped_starts(a, start, axes, slice_size, "slice", s), axes, sizes, s);
}

array detail::dynamic_slice_update(const array& src, const array& update, const array& start,
                                   const std::vector<int>& axes_in, StreamOrDevice sd) {
  Stream s = to_stream(sd);
  std::vector<int> axes = normalize_axes(src, axes_in, "slice_update");
  if (update.ndim() != src.ndim()) {
    throw std::invalid_argument("[slice_update] update of shape " + shape_to_string(update.shape()) +
                                " must have as many dimensions as src of shape " + shape_to_string(src.shape()));
  }
  Shape region = src.shape(), sizes;
  for (int ax : axes) {
    region[ax] = update.shape(ax);
    if (region[ax] > src.shape(ax)) {
      throw std::invalid_argument("[slice_update] update of shape " + shape_to_string(update.shape()) +
                                  " does not fit in src of shape " + shape_to_string(src.shape()) + " on axis " +
                                  std::to_string(ax));
    }
    sizes.push_back(region[ax]);
  }
  bool fits = true;
  for (size_t i = 0; i < region.size(); ++i) fits = fits && (update.shape(i) == 1 || update.shape(i) == region[i]);
  if (!fits) {
    throw std::invalid_argument("[slice_update] update of shape " + shape_to_string(update.shape()) +
                                " does not match src of shape " + shape_to_string(src.shape()) +
                                " outside the updated axes");
  }
  return scatter_impl(src, clamped_starts(src, start, axes, sizes, "slice_update", s), broadcast_to(update, region, s),
                      axes, ScatterReduce::None, "slice_update", s);
}

// ---------------------------------------------------------------- NumPy-style indexing

namespace {

enum class Kind { Int, Slice, Array, NewAxis };

// An index expression with the ellipsis expanded: one entry per source axis (and new axes).
struct Plan {
  std::vector<Kind> kind;
  std::vector<int> axis;        // source axis of each entry (-1 for new axes)
  std::vector<int64_t> start;   // normalized bounds of Int and Slice entries (Int: the index)
  std::vector<int64_t> length;  // element count of Slice entries
  std::vector<int64_t> step;
  std::vector<array> arrays;       // index array of each Array entry (else a placeholder)
  std::vector<int> array_entries;  // positions of the Array entries
  Shape ishape;                    // broadcast shape of the index arrays
  bool adjacent = true;            // Array entries consecutive: their dims replace them in place
  Shape out_shape;                 // the result's shape
  int front = 0;                   // position of the index-array dims in out_shape
};

Plan make_plan(const array& a, const std::vector<Index>& idx, const char* op) {
  int nd = static_cast<int>(a.ndim());
  int consumed = 0, ellipses = 0;
  bool has_array = false;
  for (const auto& e : idx) {
    const auto& v = e.value();
    if (std::holds_alternative<idx::Ellipsis>(v)) {
      ++ellipses;
    } else if (!std::holds_alternative<idx::NewAxis>(v)) {
      ++consumed;
    }
    if (std::holds_alternative<array>(v)) has_array = true;
  }
  if (ellipses > 1) throw std::invalid_argument(op_prefix(op) + "an index can only have a single ellipsis ('...')");
  if (consumed > nd) {
    throw std::out_of_range(op_prefix(op) + "too many indices for an array with " + std::to_string(nd) +
                            " dimensions: " + std::to_string(consumed) + " were given");
  }
  std::vector<Index::Variant> entries;
  int ellipsis_at = -1;  // where the ellipsis was in `entries`: it separates index arrays even when empty
  for (const auto& e : idx) {
    if (std::holds_alternative<idx::Ellipsis>(e.value())) {
      ellipsis_at = static_cast<int>(entries.size());
      for (int i = 0; i < nd - consumed; ++i) entries.emplace_back(idx::Slice{});
    } else {
      entries.push_back(e.value());
    }
  }
  if (ellipses == 0) {
    for (int i = 0; i < nd - consumed; ++i) entries.emplace_back(idx::Slice{});
  }
  Plan p;
  int ax = 0;
  for (auto& v : entries) {
    int64_t st = 0, len = 1, step = 1;
    Kind k;
    array arr = array(0);
    if (auto* i = std::get_if<int64_t>(&v)) {
      int64_t n = a.shape(ax);
      if (*i < -n || *i >= n) {
        throw std::out_of_range(op_prefix(op) + "index " + std::to_string(*i) + " is out of bounds for axis " +
                                std::to_string(ax) + " with size " + std::to_string(n));
      }
      st = *i < 0 ? *i + n : *i;
      k = has_array ? Kind::Array : Kind::Int;
      if (has_array) arr = array(st, int64);
    } else if (auto* sl = std::get_if<idx::Slice>(&v)) {
      int64_t n = a.shape(ax);
      step = sl->step;
      if (step == 0)
        throw std::invalid_argument(op_prefix(op) + "slice step cannot be 0 (axis " + std::to_string(ax) + ")");
      auto norm = [&](std::optional<int64_t> b, int64_t dflt, int64_t lo, int64_t hi) {
        if (!b) return dflt;
        int64_t x = *b < 0 ? *b + n : *b;
        return std::clamp(x, lo, hi);
      };
      int64_t e;
      if (step > 0) {
        st = norm(sl->start, 0, 0, n);
        e = norm(sl->stop, n, 0, n);
        len = e > st ? (e - st + step - 1) / step : 0;
      } else {
        st = norm(sl->start, n - 1, -1, n - 1);
        e = norm(sl->stop, -1, -1, n - 1);
        len = st > e ? (st - e - step - 1) / (-step) : 0;
      }
      if (len == 0) st = 0;
      k = Kind::Slice;
    } else if (auto* x = std::get_if<array>(&v)) {
      check_index_array(*x, op);
      arr = *x;
      k = Kind::Array;
    } else {
      k = Kind::NewAxis;
    }
    p.kind.push_back(k);
    p.axis.push_back(k == Kind::NewAxis ? -1 : ax);
    p.start.push_back(st);
    p.length.push_back(len);
    p.step.push_back(step);
    p.arrays.push_back(arr);
    if (k == Kind::Array) p.array_entries.push_back(static_cast<int>(p.kind.size()) - 1);
    if (k != Kind::NewAxis) ++ax;
  }
  std::vector<array> arrays;
  for (int e : p.array_entries) arrays.push_back(p.arrays[e]);
  p.ishape = broadcast_index_shape(arrays, op);
  const auto& ae = p.array_entries;
  p.adjacent = ae.empty() || (ae.back() - ae.front() == static_cast<int>(ae.size()) - 1 &&
                              !(ellipsis_at > ae.front() && ellipsis_at <= ae.back()));
  // The non-array entries' dims in order, with the index dims first or in place of the first array entry.
  for (size_t e = 0; e < p.kind.size(); ++e) {
    if (!ae.empty() && static_cast<int>(e) == ae.front()) {
      p.front = p.adjacent ? static_cast<int>(p.out_shape.size()) : 0;
    }
    if (p.kind[e] == Kind::Slice) p.out_shape.push_back(static_cast<int32_t>(p.length[e]));
    if (p.kind[e] == Kind::NewAxis) p.out_shape.push_back(1);
  }
  if (!ae.empty()) p.out_shape.insert(p.out_shape.begin() + p.front, p.ishape.begin(), p.ishape.end());
  return p;
}

// Slice bounds selecting the Int and Slice entries (Array entries keep their axis whole).
struct Bounds {
  Shape start, stop, strides;
};

Bounds basic_bounds(const array& a, const Plan& p) {
  int nd = static_cast<int>(a.ndim());
  Bounds b{Shape(nd, 0), a.shape(), Shape(nd, 1)};
  for (size_t e = 0; e < p.kind.size(); ++e) {
    int ax = p.axis[e];
    if (p.kind[e] != Kind::Int && p.kind[e] != Kind::Slice) continue;
    int64_t len = p.kind[e] == Kind::Int ? 1 : p.length[e];
    b.start[ax] = static_cast<int32_t>(p.start[e]);
    b.strides[ax] = static_cast<int32_t>(p.step[e]);
    // One step past the last element; below zero (a reversed slice reaching index 0) it is
    // written as a count from the end that slice() clamps to "before index 0".
    int64_t stop = len == 0 ? p.start[e] : p.start[e] + len * p.step[e];
    b.stop[ax] = static_cast<int32_t>(stop < 0 ? stop - a.shape(ax) : stop);
  }
  return b;
}

array basic_view(const array& a, const Plan& p, Stream s) {
  Bounds b = basic_bounds(a, p);
  return slice(a, b.start, b.stop, b.strides, s);
}

}  // namespace

array index(const array& a, const std::vector<Index>& idx, StreamOrDevice sd) {
  Stream s = to_stream(sd);
  Plan p = make_plan(a, idx, "index");
  array v = basic_view(a, p, s);
  if (p.array_entries.empty()) return reshape(v, p.out_shape, s);
  // Insert the new axes so every entry has an axis of v, then gather on the array entries.
  Shape vshape;
  for (size_t e = 0; e < p.kind.size(); ++e) vshape.push_back(p.kind[e] == Kind::NewAxis ? 1 : v.shape(p.axis[e]));
  v = reshape(v, vshape, s);
  std::vector<array> arrays;
  std::vector<int> axes;
  Shape sizes = vshape;
  for (int e : p.array_entries) {
    arrays.push_back(p.arrays[e]);
    axes.push_back(e);
    sizes[e] = 1;
  }
  int r = static_cast<int>(p.ishape.size());
  std::vector<int> drop;
  for (int e : p.array_entries) drop.push_back(r + e);
  array g = squeeze(gather(v, arrays, axes, sizes, s), drop, s);
  if (p.front == 0) return g;
  // Move the index dims from the front to position `front`.
  int nout = static_cast<int>(g.ndim());
  std::vector<int> perm;
  for (int i = 0; i < p.front; ++i) perm.push_back(r + i);
  for (int i = 0; i < r; ++i) perm.push_back(i);
  for (int i = r + p.front; i < nout; ++i) perm.push_back(i);
  return transpose(g, perm, s);
}

array index_update(const array& a, const std::vector<Index>& idx, const array& values, IndexUpdate op,
                   StreamOrDevice sd) {
  Stream s = to_stream(sd);
  Plan p = make_plan(a, idx, "index_update");
  if (op == IndexUpdate::Divide && !is_floating_point(a.dtype()) && !is_complex(a.dtype())) {
    throw std::invalid_argument("[index_update] divide needs a floating-point array, got " + dtype_name(a.dtype()));
  }
  if ((op == IndexUpdate::Maximum || op == IndexUpdate::Minimum) && is_complex(a.dtype())) {
    throw std::invalid_argument("[index_update] maximum and minimum are not supported for complex64 arrays");
  }
  Shape vb;
  try {
    vb = broadcast_shapes(values.shape(), p.out_shape);
  } catch (const std::invalid_argument&) {
    vb.clear();
  }
  if (vb != p.out_shape) {
    throw std::invalid_argument("[index_update] values of shape " + shape_to_string(values.shape()) +
                                " cannot be broadcast to the indexed shape " + shape_to_string(p.out_shape));
  }
  array vals = broadcast_to(astype(values, a.dtype(), s), p.out_shape, s);
  if (p.array_entries.empty()) {
    // Basic indexing: the region is a strided slice; combine there and write it back.
    array region = basic_view(a, p, s);
    array v = reshape(vals, region.shape(), s);
    switch (op) {
      case IndexUpdate::Set:
        break;
      case IndexUpdate::Add:
        v = add(region, v, s);
        break;
      case IndexUpdate::Subtract:
        v = subtract(region, v, s);
        break;
      case IndexUpdate::Multiply:
        v = multiply(region, v, s);
        break;
      case IndexUpdate::Divide:
        v = divide(region, v, s);
        break;
      case IndexUpdate::Maximum:
        v = maximum(region, v, s);
        break;
      case IndexUpdate::Minimum:
        v = minimum(region, v, s);
        break;
    }
    Bounds bd = basic_bounds(a, p);
    return slice_update(a, astype(v, a.dtype(), s), bd.start, bd.stop, bd.strides, s);
  }
  // Advanced indexing: one index array per source axis, shaped like the result, and a scatter.
  int nout = static_cast<int>(p.out_shape.size()), r = static_cast<int>(p.ishape.size());
  std::vector<array> indices;
  std::vector<int> axes;
  int nonarray = 0;  // non-array entries seen: they fill out_shape around the index dims
  for (size_t e = 0; e < p.kind.size(); ++e) {
    if (p.kind[e] == Kind::NewAxis) {
      ++nonarray;
      continue;
    }
    array ix = array(0);
    if (p.kind[e] == Kind::Array) {
      Shape shape(nout, 1);
      std::copy(p.ishape.begin(), p.ishape.end(), shape.begin() + p.front);
      ix = reshape(broadcast_to(p.arrays[e], p.ishape, s), shape, s);
    } else {  // Slice
      int pos = nonarray < p.front ? nonarray : nonarray + r;
      Shape shape(nout, 1);
      shape[pos] = static_cast<int32_t>(p.length[e]);
      double b = static_cast<double>(p.start[e]), st = static_cast<double>(p.step[e]);
      ix = reshape(arange(b, b + static_cast<double>(p.length[e]) * st, st, int64, s), shape, s);
      ++nonarray;
    }
    indices.push_back(ix);
    axes.push_back(p.axis[e]);
  }
  Shape ushape = p.out_shape;
  ushape.insert(ushape.end(), a.ndim(), 1);
  array upd = reshape(vals, ushape, s);
  switch (op) {
    case IndexUpdate::Set:
      return scatter(a, indices, upd, axes, s);
    case IndexUpdate::Add:
      return scatter_add(a, indices, upd, axes, s);
    case IndexUpdate::Subtract:
      return scatter_add(a, indices, negative(upd, s), axes, s);
    case IndexUpdate::Multiply:
      return scatter_prod(a, indices, upd, axes, s);
    case IndexUpdate::Divide:
      return scatter_prod(a, indices, reciprocal(upd, s), axes, s);
    case IndexUpdate::Maximum:
      return scatter_max(a, indices, upd, axes, s);
    case IndexUpdate::Minimum:
      return scatter_min(a, indices, upd, axes, s);
  }
  return a;
}

}  // namespace ember
