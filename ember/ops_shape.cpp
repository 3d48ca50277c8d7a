// Shape ops: flatten, squeeze, expand_dims, concatenate, stack, split, pad,
// repeat, tile, roll, atleast_nd. Most are compositions of the view ops
// (reshape, transpose, slice, broadcast); concatenate, split and constant pad
// have their own primitives (backend/cpu/shape.cpp).
#include <algorithm>
#include <numeric>

#include "ember/ops.h"
#include "ember/ops_common.h"
#include "ember/primitives.h"
#include "ember/utils.h"

namespace ember {

namespace {

std::string op_prefix(const char* op) { return std::string("[") + op + "] "; }

using detail::normalize_axis;

// Normalizes a list of axes and rejects repeats.
std::vector<int> normalize_axes(const std::vector<int>& axes, int ndim, const char* op) {
  std::vector<int> out;
  std::vector<bool> seen(ndim, false);
  for (int ax : axes) {
    int a = normalize_axis(ax, ndim, op);
    if (seen[a]) throw std::invalid_argument(op_prefix(op) + "axis " + std::to_string(ax) + " is repeated");
    seen[a] = true;
    out.push_back(a);
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------- flatten / squeeze / expand

array flatten(const array& a, int start_axis, int end_axis, StreamOrDevice s) {
  int nd = static_cast<int>(a.ndim());
  if (nd == 0) {
    // A 0-d array flattens to (1,) for any axes that name it (-1, 0), as in MLX.
    if ((start_axis != 0 && start_axis != -1) || (end_axis != 0 && end_axis != -1)) {
      throw std::out_of_range("[flatten] axes (" + std::to_string(start_axis) + ", " + std::to_string(end_axis) +
                              ") are out of bounds for a 0-d array");
    }
    return reshape(a, {1}, s);
  }
  int b = normalize_axis(start_axis, nd, "flatten");
  int e = normalize_axis(end_axis, nd, "flatten");
  if (b > e) {
    throw std::invalid_argument("[flatten] start_axis (" + std::to_string(start_axis) +
                                ") must not come after end_axis (" + std::to_string(end_axis) + ")");
  }
  if (b == e) return a;
  Shape shape(a.shape().begin(), a.shape().begin() + b);
  int64_t n = 1;
  for (int i = b; i <= e; ++i) n *= a.shape(i);
  shape.push_back(static_cast<int32_t>(n));
  shape.insert(shape.end(), a.shape().begin() + e + 1, a.shape().end());
  return reshape(a, std::move(shape), s);
}

array unflatten(const array& a, int axis, Shape shape, StreamOrDevice s) {
  if (shape.empty()) throw std::invalid_argument("[unflatten] the new shape must not be empty");
  int ax = normalize_axis(axis, static_cast<int>(a.ndim()), "unflatten");
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (infer >= 0) {
        throw std::invalid_argument("[unflatten] only one dimension can be -1, got " + shape_to_string(shape));
      }
      infer = static_cast<int>(i);
    } else if (shape[i] < 0) {
      throw std::invalid_argument("[unflatten] invalid dimension " + std::to_string(shape[i]) + " in " +
                                  shape_to_string(shape));
    } else {
      known *= shape[i];
    }
  }
  int64_t n = a.shape(ax);
  if (infer >= 0) {
    if (known == 0 || n % known != 0) {
      throw std::invalid_argument("[unflatten] cannot infer the -1 dimension to split axis " + std::to_string(axis) +
                                  " of size " + std::to_string(n) + " into " + shape_to_string(shape));
    }
    shape[infer] = static_cast<int32_t>(n / known);
  } else if (known != n) {
    throw std::invalid_argument("[unflatten] cannot split axis " + std::to_string(axis) + " of size " +
                                std::to_string(n) + " into " + shape_to_string(shape));
  }
  Shape out(a.shape().begin(), a.shape().begin() + ax);
  out.insert(out.end(), shape.begin(), shape.end());
  out.insert(out.end(), a.shape().begin() + ax + 1, a.shape().end());
  return reshape(a, std::move(out), s);
}

array squeeze(const array& a, const std::vector<int>& axes, StreamOrDevice s) {
  std::vector<int> ax = normalize_axes(axes, static_cast<int>(a.ndim()), "squeeze");
  std::vector<bool> drop(a.ndim(), false);
  for (size_t i = 0; i < ax.size(); ++i) {
    if (a.shape(ax[i]) != 1) {
      throw std::invalid_argument("[squeeze] cannot squeeze axis " + std::to_string(axes[i]) + " of size " +
                                  std::to_string(a.shape(ax[i])) + " in an array of shape " +
                                  shape_to_string(a.shape()));
    }
    drop[ax[i]] = true;
  }
  Shape shape;
  for (size_t i = 0; i < a.ndim(); ++i) {
    if (!drop[i]) shape.push_back(a.shape(i));
  }
  return reshape(a, std::move(shape), s);
}

array squeeze(const array& a, int axis, StreamOrDevice s) { return squeeze(a, std::vector<int>{axis}, s); }

array squeeze(const array& a, StreamOrDevice s) {
  Shape shape;
  for (auto d : a.shape()) {
    if (d != 1) shape.push_back(d);
  }
  return reshape(a, std::move(shape), s);
}

array expand_dims(const array& a, const std::vector<int>& axes, StreamOrDevice s) {
  int out_nd = static_cast<int>(a.ndim() + axes.size());
  std::vector<int> ax = normalize_axes(axes, out_nd, "expand_dims");
  std::vector<bool> is_new(out_nd, false);
  for (int x : ax) is_new[x] = true;
  Shape shape;
  size_t k = 0;
  for (int i = 0; i < out_nd; ++i) shape.push_back(is_new[i] ? 1 : a.shape()[k++]);
  return reshape(a, std::move(shape), s);
}

array expand_dims(const array& a, int axis, StreamOrDevice s) { return expand_dims(a, std::vector<int>{axis}, s); }

array swapaxes(const array& a, int axis1, int axis2, StreamOrDevice s) {
  int nd = static_cast<int>(a.ndim());
  int a1 = normalize_axis(axis1, nd, "swapaxes");
  int a2 = normalize_axis(axis2, nd, "swapaxes");
  std::vector<int> perm(nd);
  std::iota(perm.begin(), perm.end(), 0);
  std::swap(perm[a1], perm[a2]);
  return transpose(a, std::move(perm), s);
}

array moveaxis(const array& a, int source, int destination, StreamOrDevice s) {
  int nd = static_cast<int>(a.ndim());
  int src = normalize_axis(source, nd, "moveaxis");
  int dst = normalize_axis(destination, nd, "moveaxis");
  std::vector<int> perm;
  for (int i = 0; i < nd; ++i) {
    if (i != src) perm.push_back(i);
  }
  perm.insert(perm.begin() + dst, src);
  return transpose(a, std::move(perm), s);
}

// ---------------------------------------------------------------- concatenate / stack / split

array concatenate(const std::vector<array>& arrays, int axis, StreamOrDevice s) {
  if (arrays.empty()) throw std::invalid_argument("[concatenate] no arrays given");
  const array& first = arrays[0];
  int nd = static_cast<int>(first.ndim());
  for (size_t i = 1; i < arrays.size(); ++i) {
    if (static_cast<int>(arrays[i].ndim()) != nd) {
      throw std::invalid_argument("[concatenate] all arrays must have the same number of dimensions, got shapes " +
                                  shape_to_string(first.shape()) + " and " + shape_to_string(arrays[i].shape()));
    }
  }
  if (nd == 0) throw std::invalid_argument("[concatenate] 0-d arrays cannot be concatenated");
  int ax = normalize_axis(axis, nd, "concatenate");
  Dtype t = first.dtype();
  int64_t total = 0;
  for (const auto& x : arrays) {
    for (int i = 0; i < nd; ++i) {
      if (i != ax && x.shape(i) != first.shape(i)) {
        throw std::invalid_argument("[concatenate] all dimensions but the concatenation axis " + std::to_string(axis) +
                                    " must match, got shapes " + shape_to_string(first.shape()) + " and " +
                                    shape_to_string(x.shape()));
      }
    }
    total += x.shape(ax);
    t = promote_types(t, x.dtype());
  }
  if (total > INT32_MAX) {
    throw std::invalid_argument("[concatenate] the result's axis " + std::to_string(axis) + " would have " +
                                std::to_string(total) + " elements, more than an axis holds");
  }
  if (arrays.size() == 1) return astype(first, t, s);
  Shape shape = first.shape();
  shape[ax] = static_cast<int32_t>(total);
  checked_size(shape, "concatenate");
  std::vector<array> inputs;
  for (const auto& x : arrays) inputs.push_back(astype(x, t, s));
  return array(std::move(shape), t, std::make_shared<Concatenate>(to_stream(s), ax), std::move(inputs));
}

array concatenate(const std::vector<array>& arrays, StreamOrDevice s) {
  std::vector<array> flat;
  for (const auto& x : arrays) flat.push_back(flatten(x, 0, -1, s));
  return concatenate(flat, 0, s);
}

array stack(const std::vector<array>& arrays, int axis, StreamOrDevice s) {
  if (arrays.empty()) throw std::invalid_argument("[stack] no arrays given");
  for (size_t i = 1; i < arrays.size(); ++i) {
    if (arrays[i].shape() != arrays[0].shape()) {
      throw std::invalid_argument("[stack] all arrays must have the same shape, got " +
                                  shape_to_string(arrays[0].shape()) + " and " + shape_to_string(arrays[i].shape()));
    }
  }
  int ax = normalize_axis(axis, static_cast<int>(arrays[0].ndim()) + 1, "stack");
  std::vector<array> expanded;
  for (const auto& x : arrays) expanded.push_back(expand_dims(x, ax, s));
  return concatenate(expanded, ax, s);
}

array stack(const std::vector<array>& arrays, StreamOrDevice s) { return stack(arrays, 0, s); }

std::vector<array> split(const array& a, const Shape& indices, int axis, StreamOrDevice s) {
  int ax = normalize_axis(axis, static_cast<int>(a.ndim()), "split");
  int32_t n = a.shape(ax);
  // NumPy's semantics: piece i is a[idx[i-1]:idx[i]] along the axis, negative
  // indices count from the end, bounds clamp, and a decreasing pair gives an empty piece.
  Shape cuts;
  for (int32_t i : indices) {
    int64_t c = i < 0 ? static_cast<int64_t>(i) + n : i;
    cuts.push_back(static_cast<int32_t>(std::clamp<int64_t>(c, 0, n)));
  }
  if (cuts.empty()) return {a};
  std::vector<Shape> shapes;
  for (size_t i = 0; i <= cuts.size(); ++i) {
    int32_t b = i == 0 ? 0 : cuts[i - 1];
    int32_t e = i == cuts.size() ? n : cuts[i];
    Shape sh = a.shape();
    sh[ax] = std::max(0, e - b);
    shapes.push_back(std::move(sh));
  }
  std::vector<Dtype> dtypes(shapes.size(), a.dtype());
  return array::make_arrays(std::move(shapes), dtypes, std::make_shared<Split>(to_stream(s), std::move(cuts), ax), {a});
}

std::vector<array> split(const array& a, const Shape& indices, StreamOrDevice s) { return split(a, indices, 0, s); }

std::vector<array> split(const array& a, int num_splits, int axis, StreamOrDevice s) {
  int ax = normalize_axis(axis, static_cast<int>(a.ndim()), "split");
  if (num_splits <= 0) {
    throw std::invalid_argument("[split] num_splits must be positive, got " + std::to_string(num_splits));
  }
  int32_t n = a.shape(ax);
  if (n % num_splits != 0) {
    throw std::invalid_argument("[split] axis " + std::to_string(axis) + " of size " + std::to_string(n) +
                                " cannot be split into " + std::to_string(num_splits) + " equal parts");
  }
  Shape indices;
  for (int i = 1; i < num_splits; ++i) indices.push_back(i * (n / num_splits));
  return split(a, indices, ax, s);
}

std::vector<array> split(const array& a, int num_splits, StreamOrDevice s) { return split(a, num_splits, 0, s); }

// ---------------------------------------------------------------- pad

namespace {

// Edge padding along one axis: the first/last slab repeated, by concatenation.
array edge_pad_axis(const array& a, int ax, int low, int high, StreamOrDevice s) {
  int32_t n = a.shape(ax);
  std::vector<array> parts;
  Shape start(a.ndim(), 0), stop = a.shape();
  if (low > 0) {
    stop[ax] = 1;
    Shape shape = a.shape();
    shape[ax] = low;
    parts.push_back(broadcast_to(slice(a, start, stop, s), shape, s));
  }
  parts.push_back(a);
  if (high > 0) {
    start[ax] = n - 1;
    stop[ax] = n;
    Shape shape = a.shape();
    shape[ax] = high;
    parts.push_back(broadcast_to(slice(a, start, stop, s), shape, s));
  }
  return concatenate(parts, ax, s);
}

}  // namespace

array pad(const array& a, const std::vector<int>& axes, const Shape& low_pad, const Shape& high_pad,
          const array& pad_value, const std::string& mode, StreamOrDevice s) {
  if (axes.size() != low_pad.size() || axes.size() != high_pad.size()) {
    throw std::invalid_argument("[pad] axes, low_pad and high_pad must have the same length, got " +
                                std::to_string(axes.size()) + ", " + std::to_string(low_pad.size()) + " and " +
                                std::to_string(high_pad.size()));
  }
  if (mode != "constant" && mode != "edge") {
    throw std::invalid_argument("[pad] mode must be 'constant' or 'edge', got '" + mode + "'");
  }
  std::vector<int> ax = normalize_axes(axes, static_cast<int>(a.ndim()), "pad");
  Shape shape = a.shape();
  for (size_t i = 0; i < ax.size(); ++i) {
    if (low_pad[i] < 0 || high_pad[i] < 0) {
      throw std::invalid_argument("[pad] pad widths must be non-negative, got (" + std::to_string(low_pad[i]) + ", " +
                                  std::to_string(high_pad[i]) + ") for axis " + std::to_string(axes[i]));
    }
    int64_t n = static_cast<int64_t>(shape[ax[i]]) + low_pad[i] + high_pad[i];
    if (n > INT32_MAX) {
      throw std::invalid_argument("[pad] axis " + std::to_string(axes[i]) + " would have " + std::to_string(n) +
                                  " elements, more than an axis holds");
    }
    if (mode == "edge" && shape[ax[i]] == 0 && n > 0) {
      throw std::invalid_argument("[pad] cannot edge-pad axis " + std::to_string(axes[i]) + " of size 0");
    }
    shape[ax[i]] = static_cast<int32_t>(n);
  }
  checked_size(shape, "pad");
  if (shape == a.shape()) return a;
  if (mode == "edge") {
    array out = a;
    for (size_t i = 0; i < ax.size(); ++i) {
      if (low_pad[i] || high_pad[i]) out = edge_pad_axis(out, ax[i], low_pad[i], high_pad[i], s);
    }
    return out;
  }
  if (pad_value.size() != 1) {
    throw std::invalid_argument("[pad] pad_value must be a single value, got shape " +
                                shape_to_string(pad_value.shape()));
  }
  array v = astype(reshape(pad_value, {}, s), a.dtype(), s);
  return array(std::move(shape), a.dtype(), std::make_shared<Pad>(to_stream(s), std::move(ax), low_pad, high_pad),
               {a, v});
}

array pad(const array& a, const std::vector<std::pair<int, int>>& pad_width, const array& pad_value,
          const std::string& mode, StreamOrDevice s) {
  size_t nd = a.ndim();
  // One pair applies to every axis (NumPy's broadcasting of pad_width).
  if (pad_width.size() != nd && pad_width.size() != 1) {
    throw std::invalid_argument("[pad] pad_width needs one (low, high) pair per axis (" + std::to_string(nd) +
                                ") or a single pair, got " + std::to_string(pad_width.size()));
  }
  std::vector<int> axes(nd);
  std::iota(axes.begin(), axes.end(), 0);
  Shape low, high;
  for (size_t i = 0; i < nd; ++i) {
    const auto& p = pad_width.size() == 1 ? pad_width[0] : pad_width[i];
    low.push_back(p.first);
    high.push_back(p.second);
  }
  return pad(a, axes, low, high, pad_value, mode, s);
}

array pad(const array& a, const std::pair<int, int>& pad_width, const array& pad_value, const std::string& mode,
          StreamOrDevice s) {
  return pad(a, std::vector<std::pair<int, int>>(a.ndim(), pad_width), pad_value, mode, s);
}

array pad(const array& a, int pad_width, const array& pad_value, const std::string& mode, StreamOrDevice s) {
  return pad(a, std::vector<std::pair<int, int>>(a.ndim(), {pad_width, pad_width}), pad_value, mode, s);
}

// ---------------------------------------------------------------- repeat / tile / roll

array repeat(const array& a, int repeats, int axis, StreamOrDevice s) {
  int ax = normalize_axis(axis, static_cast<int>(a.ndim()), "repeat");
  if (repeats < 0) throw std::invalid_argument("[repeat] repeats must be non-negative, got " + std::to_string(repeats));
  if (repeats == 1) return a;
  // (..., n, ...) -> (..., n, 1, ...) broadcast to (..., n, r, ...) -> (..., n * r, ...).
  Shape shape = a.shape();
  shape.insert(shape.begin() + ax + 1, repeats);
  array b = broadcast_to(expand_dims(a, ax + 1, s), shape, s);
  return flatten(b, ax, ax + 1, s);
}

array repeat(const array& a, int repeats, StreamOrDevice s) { return repeat(flatten(a, 0, -1, s), repeats, 0, s); }

array tile(const array& a, std::vector<int> reps, StreamOrDevice s) {
  for (int r : reps) {
    if (r < 0) throw std::invalid_argument("[tile] repetitions must be non-negative, got " + std::to_string(r));
  }
  size_t nd = std::max(a.ndim(), reps.size());
  Shape shape = a.shape();
  shape.insert(shape.begin(), nd - shape.size(), 1);
  reps.insert(reps.begin(), nd - reps.size(), 1);
  // (d0, d1, ...) -> (1, d0, 1, d1, ...) broadcast to (r0, d0, r1, d1, ...), then merged pairwise.
  Shape inter, bshape, out;
  for (size_t i = 0; i < nd; ++i) {
    inter.insert(inter.end(), {1, shape[i]});
    bshape.insert(bshape.end(), {reps[i], shape[i]});
    int64_t n = static_cast<int64_t>(reps[i]) * shape[i];
    if (n > INT32_MAX) {
      throw std::invalid_argument("[tile] axis " + std::to_string(i) + " would have " + std::to_string(n) +
                                  " elements, more than an axis holds");
    }
    out.push_back(static_cast<int32_t>(n));
  }
  checked_size(out, "tile");
  if (out == shape) return reshape(a, std::move(out), s);
  return reshape(broadcast_to(reshape(a, inter, s), bshape, s), std::move(out), s);
}

array roll(const array& a, const Shape& shift, const std::vector<int>& axes, StreamOrDevice s) {
  if (shift.size() != axes.size()) {
    throw std::invalid_argument("[roll] shift and axes must have the same length, got " + std::to_string(shift.size()) +
                                " and " + std::to_string(axes.size()));
  }
  int nd = static_cast<int>(a.ndim());
  array out = a;
  // Repeated axes add their shifts, as in NumPy, so they are applied one after another.
  for (size_t i = 0; i < axes.size(); ++i) {
    int ax = normalize_axis(axes[i], nd, "roll");
    int64_t n = a.shape(ax);
    if (n == 0) continue;
    int64_t k = ((static_cast<int64_t>(shift[i]) % n) + n) % n;
    if (k == 0) continue;
    Shape start(nd, 0), stop = out.shape();
    start[ax] = static_cast<int32_t>(n - k);
    array tail = slice(out, start, stop, s);
    start[ax] = 0;
    stop[ax] = static_cast<int32_t>(n - k);
    array head = slice(out, start, stop, s);
    out = concatenate({tail, head}, ax, s);
  }
  return out;
}

array roll(const array& a, int shift, int axis, StreamOrDevice s) { return roll(a, Shape{shift}, {axis}, s); }

array roll(const array& a, int shift, StreamOrDevice s) {
  return reshape(roll(flatten(a, 0, -1, s), shift, 0, s), a.shape(), s);
}

array atleast_1d(const array& a, StreamOrDevice s) { return a.ndim() == 0 ? reshape(a, {1}, s) : a; }

array atleast_2d(const array& a, StreamOrDevice s) {
  switch (a.ndim()) {
    case 0:
      return reshape(a, {1, 1}, s);
    case 1:
      return reshape(a, {1, a.shape(0)}, s);
    default:
      return a;
  }
}

array atleast_3d(const array& a, StreamOrDevice s) {
  switch (a.ndim()) {
    case 0:
      return reshape(a, {1, 1, 1}, s);
    case 1:
      return reshape(a, {1, a.shape(0), 1}, s);
    case 2:
      return reshape(a, {a.shape(0), a.shape(1), 1}, s);
    default:
      return a;
  }
}

}  // namespace ember
