// View ops: reshape, transpose, slice, as_strided. They share the input's
// buffer whenever strides allow (see backend/cpu/views.cpp). Also slice_update,
// slice's write counterpart (its kernel is in backend/cpu/shape.cpp).
#include <algorithm>
#include <numeric>

#include "ember/ops.h"
#include "ember/ops_common.h"
#include "ember/primitives.h"
#include "ember/utils.h"

namespace ember {

array reshape(const array& a, Shape shape, StreamOrDevice s) {
  int infer = -1;
  size_t known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (infer >= 0)
        throw std::invalid_argument("[reshape] only one dimension can be -1, got " + shape_to_string(shape));
      infer = static_cast<int>(i);
    } else if (shape[i] < 0) {
      throw std::invalid_argument("[reshape] invalid dimension " + std::to_string(shape[i]) + " in " +
                                  shape_to_string(shape));
    } else {
      known *= static_cast<size_t>(shape[i]);
    }
  }
  if (infer >= 0) {
    if (known == 0 || a.size() % known != 0) {
      throw std::invalid_argument("[reshape] cannot infer the -1 dimension to reshape array of size " +
                                  std::to_string(a.size()) + " into shape " + shape_to_string(shape));
    }
    shape[infer] = static_cast<int32_t>(a.size() / known);
    known = a.size();
  }
  if (known != a.size()) {
    throw std::invalid_argument("[reshape] cannot reshape array of size " + std::to_string(a.size()) + " into shape " +
                                shape_to_string(shape));
  }
  if (shape == a.shape()) return a;
  Shape out_shape = shape;
  return array(std::move(out_shape), a.dtype(), std::make_shared<Reshape>(to_stream(s), std::move(shape)), {a});
}

array transpose(const array& a, std::vector<int> axes, StreamOrDevice s) {
  int nd = static_cast<int>(a.ndim());
  if (static_cast<int>(axes.size()) != nd) {
    throw std::invalid_argument("[transpose] " + std::to_string(axes.size()) + " axes given for an array with " +
                                std::to_string(nd) + " dimensions");
  }
  std::vector<bool> seen(nd, false);
  for (auto& ax : axes) {
    ax = detail::normalize_axis(ax, nd, "transpose");
    if (seen[ax]) throw std::invalid_argument("[transpose] axis " + std::to_string(ax) + " repeated");
    seen[ax] = true;
  }
  Shape shape(nd);
  for (int i = 0; i < nd; ++i) shape[i] = a.shape()[axes[i]];
  return array(std::move(shape), a.dtype(), std::make_shared<Transpose>(to_stream(s), std::move(axes)), {a});
}

array transpose(const array& a, StreamOrDevice s) {
  std::vector<int> axes(a.ndim());
  std::iota(axes.rbegin(), axes.rend(), 0);
  return transpose(a, std::move(axes), s);
}

namespace {

// Reads slice bounds as NumPy does (negative values count from the end, out-of-range
// bounds clamp) and returns the region's shape. start/stop are rewritten normalized:
// 0 <= start < n on non-empty axes, stop >= -1, and start = stop = 0 on empty axes,
// so the region's length can be recomputed from them.
Shape normalize_slice(const Shape& in_shape, Shape& start, Shape& stop, const Shape& strides, const char* op) {
  size_t nd = in_shape.size();
  if (start.size() != nd || stop.size() != nd || strides.size() != nd) {
    throw std::invalid_argument(std::string("[") + op + "] start, stop and strides need " + std::to_string(nd) +
                                " entries (one per axis), got " + std::to_string(start.size()) + ", " +
                                std::to_string(stop.size()) + ", " + std::to_string(strides.size()));
  }
  Shape shape(nd);
  for (size_t i = 0; i < nd; ++i) {
    int64_t n = in_shape[i];
    int64_t st = strides[i];
    if (st == 0) {
      throw std::invalid_argument(std::string("[") + op + "] step on axis " + std::to_string(i) + " cannot be 0");
    }
    int64_t b = start[i], e = stop[i];
    if (b < 0) b += n;
    if (e < 0) e += n;
    if (st > 0) {
      b = std::clamp<int64_t>(b, 0, n);
      e = std::clamp<int64_t>(e, 0, n);
      shape[i] = static_cast<int32_t>(e > b ? (e - b + st - 1) / st : 0);
    } else {
      b = std::clamp<int64_t>(b, -1, n - 1);
      e = std::clamp<int64_t>(e, -1, n - 1);
      shape[i] = static_cast<int32_t>(b > e ? (b - e - st - 1) / (-st) : 0);
    }
    start[i] = static_cast<int32_t>(shape[i] > 0 ? b : 0);
    stop[i] = static_cast<int32_t>(shape[i] > 0 ? e : 0);
  }
  return shape;
}

}  // namespace

array slice(const array& a, Shape start, Shape stop, Shape strides, StreamOrDevice s) {
  Shape shape = normalize_slice(a.shape(), start, stop, strides, "slice");
  if (shape == a.shape() && std::all_of(strides.begin(), strides.end(), [](int v) { return v == 1; })) return a;
  return array(std::move(shape), a.dtype(),
               std::make_shared<Slice>(to_stream(s), std::move(start), std::move(stop), std::move(strides)), {a});
}

array slice(const array& a, const Shape& start, const Shape& stop, StreamOrDevice s) {
  return slice(a, start, stop, Shape(a.ndim(), 1), s);
}

array slice_update(const array& src, const array& update, Shape start, Shape stop, Shape strides, StreamOrDevice s) {
  Shape region = normalize_slice(src.shape(), start, stop, strides, "slice_update");
  // The update broadcasts to the region (MLX's rule: it may not have more axes than src).
  Shape b;
  try {
    b = broadcast_shapes(update.shape(), region);
  } catch (const std::invalid_argument&) {
    b.clear();
  }
  if (b != region) {
    throw std::invalid_argument("[slice_update] update of shape " + shape_to_string(update.shape()) +
                                " cannot be broadcast to the shape " + shape_to_string(region) +
                                " of the slice of src with shape " + shape_to_string(src.shape()));
  }
  if (checked_size(region, "slice_update") == 0) return src;
  array upd = broadcast_to(astype(update, src.dtype(), s), region, s);
  return array(src.shape(), src.dtype(),
               std::make_shared<SliceUpdate>(to_stream(s), std::move(start), std::move(stop), std::move(strides)),
               {src, upd});
}

array slice_update(const array& src, const array& update, const Shape& start, const Shape& stop, StreamOrDevice s) {
  return slice_update(src, update, start, stop, Shape(src.ndim(), 1), s);
}

array as_strided(const array& a, Shape shape, Strides strides, size_t offset, StreamOrDevice s) {
  if (shape.size() != strides.size()) {
    throw std::invalid_argument("[as_strided] shape " + shape_to_string(shape) + " and " +
                                std::to_string(strides.size()) + " strides differ in length");
  }
  int64_t lo = static_cast<int64_t>(offset), hi = lo, n = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) throw std::invalid_argument("[as_strided] negative dimension in shape " + shape_to_string(shape));
    n *= shape[i];
    int64_t reach = (static_cast<int64_t>(shape[i]) - 1) * strides[i];
    (reach < 0 ? lo : hi) += reach;
  }
  if (n > 0 && (lo < 0 || hi >= static_cast<int64_t>(a.size()))) {
    throw std::invalid_argument("[as_strided] the view reads positions " + std::to_string(lo) + " to " +
                                std::to_string(hi) + ", outside the " + std::to_string(a.size()) +
                                " elements of the array");
  }
  Shape out = shape;
  return array(
      std::move(out), a.dtype(),
      std::make_shared<AsStrided>(to_stream(s), std::move(shape), std::move(strides), static_cast<int64_t>(offset)),
      {a});
}

}  // namespace ember
