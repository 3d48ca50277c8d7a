// vjp, jvp and vmap of the view, shape, copy and selection primitives:
// Reshape, Transpose, Broadcast, Slice, SliceUpdate, AsStrided, Concatenate,
// Split, Pad, Select, AsType, Copy, StopGradient, View, Arange. All are
// written with public ops so they can be transformed again.
//
// vmap convention: a mapped input carries its batch axis at axes[i] (-1: not
// mapped). Rules either keep that axis where it is (views that act per axis)
// or move it to the front and return out axis 0.
#include <algorithm>
#include <numeric>

#include "ember/indexing.h"
#include "ember/ops.h"
#include "ember/primitives.h"
#include "ember/utils.h"

namespace ember {

namespace {

// x with its mapped axis `ax` moved to the front (unmapped arrays are returned as is).
array to_front(const array& x, int ax, Stream s) { return ax <= 0 ? x : moveaxis(x, ax, 0, s); }

// The size of the mapped axis (every mapped input agrees; the transform checked it).
int batch_size(const std::vector<array>& inputs, const std::vector<int>& axes) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (axes[i] >= 0) return inputs[i].shape(axes[i]);
  }
  return -1;
}

bool any_mapped(const std::vector<int>& axes) {
  return std::any_of(axes.begin(), axes.end(), [](int a) { return a >= 0; });
}

// An unmapped x given a leading batch axis of size n (a broadcast view, no copy).
array with_batch(const array& x, int n, Stream s) {
  Shape shape = x.shape();
  shape.insert(shape.begin(), n);
  return broadcast_to(expand_dims(x, 0, s), shape, s);
}

// The tangent of primals[i]: the given one when i is in argnums, else zeros.
array tangent_or_zeros(const std::vector<array>& primals, const std::vector<array>& tangents,
                       const std::vector<int>& argnums, int i, Stream s) {
  for (size_t k = 0; k < argnums.size(); ++k) {
    if (argnums[k] == i) return tangents[k];
  }
  return zeros_like(primals[i], s);
}

// Slice and SliceUpdate store normalized bounds (see normalize_slice in
// ops_views.cpp): a negative step may stop at -1, which the public ops would
// read as n - 1. These stops read back to the same region.
Shape public_stop(const Shape& stop, const Shape& strides, const Shape& in_shape) {
  Shape out = stop;
  for (size_t i = 0; i < out.size(); ++i) {
    if (strides[i] < 0 && out[i] < 0) out[i] -= in_shape[i];
  }
  return out;
}

// Bounds with a full, unit-step range of length n inserted at `ax` (a mapped axis).
void insert_full_range(Shape& start, Shape& stop, Shape& strides, int ax, int n) {
  start.insert(start.begin() + ax, 0);
  stop.insert(stop.begin() + ax, n);
  strides.insert(strides.begin() + ax, 1);
}

}  // namespace

// ---------------------------------------------------------------- Reshape

std::vector<array> Reshape::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                const std::vector<int>&, const std::vector<array>&) {
  return {reshape(cotangents[0], primals[0].shape(), stream())};
}

std::vector<array> Reshape::jvp(const std::vector<array>&, const std::vector<array>& tangents,
                                const std::vector<int>&) {
  return {reshape(tangents[0], shape_, stream())};
}

std::pair<std::vector<array>, std::vector<int>> Reshape::vmap(const std::vector<array>& inputs,
                                                              const std::vector<int>& axes) {
  if (axes[0] < 0) return {{reshape(inputs[0], shape_, stream())}, {-1}};
  array x = to_front(inputs[0], axes[0], stream());
  Shape shape = shape_;
  shape.insert(shape.begin(), x.shape(0));
  return {{reshape(x, std::move(shape), stream())}, {0}};
}

// ---------------------------------------------------------------- Transpose

std::vector<array> Transpose::vjp(const std::vector<array>&, const std::vector<array>& cotangents,
                                  const std::vector<int>&, const std::vector<array>&) {
  std::vector<int> inverse(axes_.size());
  for (size_t i = 0; i < axes_.size(); ++i) inverse[axes_[i]] = static_cast<int>(i);
  return {transpose(cotangents[0], std::move(inverse), stream())};
}

std::vector<array> Transpose::jvp(const std::vector<array>&, const std::vector<array>& tangents,
                                  const std::vector<int>&) {
  return {transpose(tangents[0], axes_, stream())};
}

std::pair<std::vector<array>, std::vector<int>> Transpose::vmap(const std::vector<array>& inputs,
                                                                const std::vector<int>& axes) {
  int b = axes[0];
  if (b < 0) return {{transpose(inputs[0], axes_, stream())}, {-1}};
  // The batch axis leads; the other axes are permuted as before, renumbered around it.
  std::vector<int> perm{b};
  for (int a : axes_) perm.push_back(a < b ? a : a + 1);
  return {{transpose(inputs[0], std::move(perm), stream())}, {0}};
}

// ---------------------------------------------------------------- Broadcast

std::vector<array> Broadcast::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                  const std::vector<int>&, const std::vector<array>&) {
  // Sum over the added leading axes and over the size-1 axes that were stretched.
  const array& x = primals[0];
  int lead = static_cast<int>(shape_.size() - x.ndim());
  std::vector<int> reduce(lead);
  std::iota(reduce.begin(), reduce.end(), 0);
  for (int i = 0; i < static_cast<int>(x.ndim()); ++i) {
    if (x.shape(i) == 1 && shape_[lead + i] != 1) reduce.push_back(lead + i);
  }
  array ct = cotangents[0];
  if (!reduce.empty()) ct = sum(ct, reduce, true, stream());
  return {reshape(ct, x.shape(), stream())};
}

std::vector<array> Broadcast::jvp(const std::vector<array>&, const std::vector<array>& tangents,
                                  const std::vector<int>&) {
  return {broadcast_to(tangents[0], shape_, stream())};
}

std::pair<std::vector<array>, std::vector<int>> Broadcast::vmap(const std::vector<array>& inputs,
                                                                const std::vector<int>& axes) {
  if (axes[0] < 0) return {{broadcast_to(inputs[0], shape_, stream())}, {-1}};
  // (B, in...) -> (B, 1, ..., 1, in...) -> (B, shape_...).
  array x = to_front(inputs[0], axes[0], stream());
  Shape padded = x.shape();
  padded.insert(padded.begin() + 1, shape_.size() - (x.ndim() - 1), 1);
  Shape target = shape_;
  target.insert(target.begin(), x.shape(0));
  return {{broadcast_to(reshape(x, std::move(padded), stream()), target, stream())}, {0}};
}

// ---------------------------------------------------------------- Slice

std::vector<array> Slice::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                              const std::vector<int>&, const std::vector<array>&) {
  // The cotangent lands in the sliced region of zeros.
  const array& x = primals[0];
  return {slice_update(zeros_like(x, stream()), cotangents[0], start_, public_stop(stop_, strides_, x.shape()),
                       strides_, stream())};
}

std::vector<array> Slice::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                              const std::vector<int>&) {
  return {slice(tangents[0], start_, public_stop(stop_, strides_, primals[0].shape()), strides_, stream())};
}

std::pair<std::vector<array>, std::vector<int>> Slice::vmap(const std::vector<array>& inputs,
                                                            const std::vector<int>& axes) {
  const array& x = inputs[0];
  int b = axes[0];
  Shape start = start_, strides = strides_;
  Shape in_shape = x.shape();
  if (b >= 0) in_shape.erase(in_shape.begin() + b);
  Shape stop = public_stop(stop_, strides_, in_shape);
  if (b >= 0) insert_full_range(start, stop, strides, b, x.shape(b));
  return {{slice(x, std::move(start), std::move(stop), std::move(strides), stream())}, {b}};
}

// ---------------------------------------------------------------- SliceUpdate

std::vector<array> SliceUpdate::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                    const std::vector<int>& argnums, const std::vector<array>&) {
  // src gets the cotangent outside the region; update gets the region.
  const array& src = primals[0];
  const array& ct = cotangents[0];
  Shape stop = public_stop(stop_, strides_, src.shape());
  std::vector<array> out;
  for (int a : argnums) {
    if (a == 0) {
      out.push_back(slice_update(ct, zeros_like(primals[1], stream()), start_, stop, strides_, stream()));
    } else {
      out.push_back(slice(ct, start_, stop, strides_, stream()));
    }
  }
  return out;
}

std::vector<array> SliceUpdate::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                    const std::vector<int>& argnums) {
  array ts = tangent_or_zeros(primals, tangents, argnums, 0, stream());
  array tu = tangent_or_zeros(primals, tangents, argnums, 1, stream());
  return {slice_update(ts, tu, start_, public_stop(stop_, strides_, primals[0].shape()), strides_, stream())};
}

std::pair<std::vector<array>, std::vector<int>> SliceUpdate::vmap(const std::vector<array>& inputs,
                                                                  const std::vector<int>& axes) {
  Shape start = start_, strides = strides_;
  if (!any_mapped(axes)) {
    Shape stop = public_stop(stop_, strides_, inputs[0].shape());
    return {{slice_update(inputs[0], inputs[1], start, stop, strides, stream())}, {-1}};
  }
  // Both move their batch axis to the front; an unmapped src is repeated, an
  // unmapped update broadcasts over the batch by itself.
  int n = batch_size(inputs, axes);
  array src = axes[0] >= 0 ? to_front(inputs[0], axes[0], stream()) : with_batch(inputs[0], n, stream());
  array upd = to_front(inputs[1], axes[1], stream());
  Shape in_shape(src.shape().begin() + 1, src.shape().end());
  Shape stop = public_stop(stop_, strides_, in_shape);
  insert_full_range(start, stop, strides, 0, n);
  return {{slice_update(src, upd, std::move(start), std::move(stop), std::move(strides), stream())}, {0}};
}

// ---------------------------------------------------------------- AsStrided

namespace {

// Flat row-major positions in the input read by an as_strided view, in the view's shape.
array strided_positions(const Shape& shape, const Strides& strides, int64_t offset, Stream s) {
  array pos = array(offset, int64);
  for (size_t k = 0; k < shape.size(); ++k) {
    Shape axis_shape(shape.size(), 1);
    axis_shape[k] = shape[k];
    array step = multiply(arange(0.0, static_cast<double>(shape[k]), 1.0, int64, s), array(strides[k], int64), s);
    pos = add(pos, reshape(step, axis_shape, s), s);
  }
  return broadcast_to(pos, shape, s);
}

}  // namespace

std::vector<array> AsStrided::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                  const std::vector<int>&, const std::vector<array>&) {
  // Each output element reads one input element (several may read the same one): the
  // cotangents add up at the positions they were read from.
  Stream s = stream();
  const array& x = primals[0];
  const array& ct = cotangents[0];
  int n = static_cast<int>(ct.size());
  array pos = reshape(strided_positions(shape_, strides_, offset_, s), {n}, s);
  array flat = scatter_add(zeros({static_cast<int>(x.size())}, ct.dtype(), s), {pos}, reshape(ct, {n, 1}, s), {0}, s);
  return {reshape(flat, x.shape(), s)};
}

std::vector<array> AsStrided::jvp(const std::vector<array>&, const std::vector<array>& tangents,
                                  const std::vector<int>&) {
  return {array(shape_, tangents[0].dtype(), std::make_shared<AsStrided>(stream(), shape_, strides_, offset_),
                {tangents[0]})};
}

std::pair<std::vector<array>, std::vector<int>> AsStrided::vmap(const std::vector<array>& inputs,
                                                                const std::vector<int>& axes) {
  // Strides address the row-major layout of one batch element; with the batch
  // axis in front, element b starts b * (elements per batch) further on.
  array x = to_front(inputs[0], axes[0], stream());
  Shape shape = shape_;
  Strides strides = strides_;
  if (axes[0] >= 0) {
    int n = x.shape(0);
    shape.insert(shape.begin(), n);
    strides.insert(strides.begin(), n == 0 ? 0 : static_cast<int64_t>(x.size() / n));
  }
  Shape out_shape = shape;
  array out(std::move(out_shape), x.dtype(),
            std::make_shared<AsStrided>(stream(), std::move(shape), std::move(strides), offset_), {x});
  return {{out}, {axes[0] >= 0 ? 0 : -1}};
}

// ---------------------------------------------------------------- Concatenate

std::vector<array> Concatenate::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                    const std::vector<int>& argnums, const std::vector<array>&) {
  // Input i's cotangent is its slab of the output's cotangent.
  const array& ct = cotangents[0];
  std::vector<int32_t> offsets{0};
  for (const auto& p : primals) offsets.push_back(offsets.back() + p.shape(axis_));
  std::vector<array> out;
  for (int a : argnums) {
    Shape start(ct.ndim(), 0), stop = ct.shape();
    start[axis_] = offsets[a];
    stop[axis_] = offsets[a + 1];
    out.push_back(slice(ct, std::move(start), std::move(stop), stream()));
  }
  return out;
}

std::vector<array> Concatenate::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                    const std::vector<int>& argnums) {
  std::vector<array> parts;
  for (int i = 0; i < static_cast<int>(primals.size()); ++i) {
    parts.push_back(tangent_or_zeros(primals, tangents, argnums, i, stream()));
  }
  return {concatenate(parts, axis_, stream())};
}

std::pair<std::vector<array>, std::vector<int>> Concatenate::vmap(const std::vector<array>& inputs,
                                                                  const std::vector<int>& axes) {
  if (!any_mapped(axes)) return {{concatenate(inputs, axis_, stream())}, {-1}};
  int n = batch_size(inputs, axes);
  std::vector<array> parts;
  for (size_t i = 0; i < inputs.size(); ++i) {
    parts.push_back(axes[i] >= 0 ? to_front(inputs[i], axes[i], stream()) : with_batch(inputs[i], n, stream()));
  }
  return {{concatenate(parts, axis_ + 1, stream())}, {0}};
}

// ---------------------------------------------------------------- Split

std::vector<array> Split::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                              const std::vector<int>&, const std::vector<array>&) {
  // cotangents: one per piece (zeros for unused pieces). With ascending cuts the
  // pieces tile the axis; otherwise (NumPy allows it) they may overlap, and each
  // piece's cotangent is padded into place and summed.
  const array& x = primals[0];
  if (std::is_sorted(indices_.begin(), indices_.end())) return {concatenate(cotangents, axis_, stream())};
  int32_t n = x.shape(axis_);
  array g = zeros_like(x, stream());
  for (size_t i = 0; i < cotangents.size(); ++i) {
    int32_t len = cotangents[i].shape(axis_);
    if (len == 0) continue;
    int32_t b = i == 0 ? 0 : indices_[i - 1];
    array zero = array(0, x.dtype());
    array placed =
        pad(cotangents[i], std::vector<int>{axis_}, Shape{b}, Shape{n - b - len}, zero, "constant", stream());
    g = add(g, placed, stream());
  }
  return {g};
}

std::vector<array> Split::jvp(const std::vector<array>&, const std::vector<array>& tangents, const std::vector<int>&) {
  return split(tangents[0], indices_, axis_, stream());
}

std::pair<std::vector<array>, std::vector<int>> Split::vmap(const std::vector<array>& inputs,
                                                            const std::vector<int>& axes) {
  // The batch axis stays where it is; the split axis shifts past it if needed.
  int b = axes[0];
  int ax = b >= 0 && b <= axis_ ? axis_ + 1 : axis_;
  std::vector<array> outs = split(inputs[0], indices_, ax, stream());
  return {outs, std::vector<int>(outs.size(), b)};
}

// ---------------------------------------------------------------- Pad

std::vector<array> Pad::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                            const std::vector<int>& argnums, const std::vector<array>&) {
  // x gets the interior box; the pad value gets the sum over everything else.
  const array& x = primals[0];
  const array& ct = cotangents[0];
  Shape start(ct.ndim(), 0), stop = ct.shape();
  for (size_t k = 0; k < axes_.size(); ++k) {
    start[axes_[k]] = low_[k];
    stop[axes_[k]] = low_[k] + x.shape(axes_[k]);
  }
  array interior = slice(ct, start, stop, stream());
  std::vector<array> out;
  for (int a : argnums) {
    if (a == 0) {
      out.push_back(interior);
    } else {
      // Sum the border directly (interior zeroed) rather than sum(ct) - sum(interior), which cancels.
      array border = slice_update(ct, zeros_like(x, stream()), start, stop, stream());
      out.push_back(reshape(sum(border, false, stream()), primals[1].shape(), stream()));
    }
  }
  return out;
}

std::vector<array> Pad::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                            const std::vector<int>& argnums) {
  array tx = tangent_or_zeros(primals, tangents, argnums, 0, stream());
  array tv = tangent_or_zeros(primals, tangents, argnums, 1, stream());
  return {pad(tx, axes_, low_, high_, tv, "constant", stream())};
}

std::pair<std::vector<array>, std::vector<int>> Pad::vmap(const std::vector<array>& inputs,
                                                          const std::vector<int>& axes) {
  Stream s = stream();
  const array& v = inputs[1];
  array x = to_front(inputs[0], axes[0], s);
  std::vector<int> pad_axes = axes_;
  if (axes[0] >= 0) {
    for (auto& a : pad_axes) ++a;
  }
  if (axes[1] < 0) {
    return {{pad(x, pad_axes, low_, high_, v, "constant", s)}, {axes[0] >= 0 ? 0 : -1}};
  }
  // One pad value per batch element: pad with zeros, then put each value on the
  // border through a mask of the unbatched output's shape.
  Shape unbatched = inputs[0].shape();
  if (axes[0] >= 0) unbatched.erase(unbatched.begin() + axes[0]);
  array mask = pad(zeros(unbatched, bool_, s), axes_, low_, high_, array(true), "constant", s);
  array padded = pad(x, pad_axes, low_, high_, zeros({}, x.dtype(), s), "constant", s);
  Shape vshape(unbatched.size() + 1, 1);
  vshape[0] = v.shape(axes[1]);
  array vb = reshape(v, std::move(vshape), s);
  return {{where(mask, vb, padded, s)}, {0}};
}

// ---------------------------------------------------------------- Select

std::vector<array> Select::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                               const std::vector<int>& argnums, const std::vector<array>&) {
  // The cotangent flows to x where the condition holds and to y elsewhere.
  const array& c = primals[0];
  const array& ct = cotangents[0];
  array zero = zeros({}, ct.dtype(), stream());
  std::vector<array> out;
  for (int a : argnums) {
    if (a == 0) {
      out.push_back(zeros_like(c, stream()));
    } else if (a == 1) {
      out.push_back(where(c, ct, zero, stream()));
    } else {
      out.push_back(where(c, zero, ct, stream()));
    }
  }
  return out;
}

std::vector<array> Select::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                               const std::vector<int>& argnums) {
  // A tangent of the condition (if any) has no effect.
  array tx = tangent_or_zeros(primals, tangents, argnums, 1, stream());
  array ty = tangent_or_zeros(primals, tangents, argnums, 2, stream());
  return {where(primals[0], tx, ty, stream())};
}

std::pair<std::vector<array>, std::vector<int>> Select::vmap(const std::vector<array>& inputs,
                                                             const std::vector<int>& axes) {
  // Batch axes in front; unmapped operands broadcast against them.
  std::vector<array> xs;
  for (size_t i = 0; i < 3; ++i) xs.push_back(to_front(inputs[i], axes[i], stream()));
  return {{where(xs[0], xs[1], xs[2], stream())}, {any_mapped(axes) ? 0 : -1}};
}

// ---------------------------------------------------------------- AsType, Copy, StopGradient, View

std::vector<array> AsType::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                               const std::vector<int>&, const std::vector<array>&) {
  // Rounding to an integer or bool is piecewise constant: no gradient.
  if (!is_inexact(dtype_)) return {zeros_like(primals[0], stream())};
  return {astype(cotangents[0], primals[0].dtype(), stream())};
}

std::vector<array> AsType::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                               const std::vector<int>&) {
  if (!is_inexact(dtype_)) return {zeros(primals[0].shape(), dtype_, stream())};
  return {astype(tangents[0], dtype_, stream())};
}

std::pair<std::vector<array>, std::vector<int>> AsType::vmap(const std::vector<array>& inputs,
                                                             const std::vector<int>& axes) {
  return {{astype(inputs[0], dtype_, stream())}, {axes[0]}};
}

std::vector<array> Copy::vjp(const std::vector<array>&, const std::vector<array>& cotangents, const std::vector<int>&,
                             const std::vector<array>&) {
  return {cotangents[0]};
}

std::vector<array> Copy::jvp(const std::vector<array>&, const std::vector<array>& tangents, const std::vector<int>&) {
  return {tangents[0]};
}

std::pair<std::vector<array>, std::vector<int>> Copy::vmap(const std::vector<array>& inputs,
                                                           const std::vector<int>& axes) {
  return {{copy(inputs[0], stream())}, {axes[0]}};
}

std::vector<array> StopGradient::vjp(const std::vector<array>& primals, const std::vector<array>&,
                                     const std::vector<int>&, const std::vector<array>&) {
  return {zeros_like(primals[0], stream())};
}

std::vector<array> StopGradient::jvp(const std::vector<array>& primals, const std::vector<array>&,
                                     const std::vector<int>&) {
  return {zeros_like(primals[0], stream())};
}

std::pair<std::vector<array>, std::vector<int>> StopGradient::vmap(const std::vector<array>& inputs,
                                                                   const std::vector<int>& axes) {
  return {{stop_gradient(inputs[0], stream())}, {axes[0]}};
}

std::vector<array> View::vjp(const std::vector<array>&, const std::vector<array>&, const std::vector<int>&,
                             const std::vector<array>&) {
  throw std::invalid_argument("[View] vjp is not supported: reinterpreting bits as " + dtype_name(dtype_) +
                              " is not differentiable");
}

std::vector<array> View::jvp(const std::vector<array>&, const std::vector<array>&, const std::vector<int>&) {
  throw std::invalid_argument("[View] jvp is not supported: reinterpreting bits as " + dtype_name(dtype_) +
                              " is not differentiable");
}

std::pair<std::vector<array>, std::vector<int>> View::vmap(const std::vector<array>& inputs,
                                                           const std::vector<int>& axes) {
  // view rescales the last axis, so a batch axis there moves to the front.
  const array& x = inputs[0];
  int b = axes[0];
  if (b >= 0 && b == static_cast<int>(x.ndim()) - 1 && x.itemsize() != dtype_.size()) {
    return {{view(to_front(x, b, stream()), dtype_, stream())}, {0}};
  }
  return {{view(x, dtype_, stream())}, {b}};
}

// ---------------------------------------------------------------- Arange

std::vector<array> Arange::vjp(const std::vector<array>&, const std::vector<array>&, const std::vector<int>& argnums,
                               const std::vector<array>&) {
  if (!argnums.empty()) throw std::invalid_argument("[Arange] has no inputs to differentiate");
  return {};
}

std::vector<array> Arange::jvp(const std::vector<array>&, const std::vector<array>&, const std::vector<int>&) {
  if (size_ < 0) throw std::invalid_argument("[Arange] jvp needs the output size, which this node does not record");
  return {zeros({size_}, dtype_, stream())};
}

std::pair<std::vector<array>, std::vector<int>> Arange::vmap(const std::vector<array>&, const std::vector<int>&) {
  // No inputs, so nothing is mapped: the same range, unbatched.
  if (size_ < 0) throw std::invalid_argument("[Arange] vmap needs the output size, which this node does not record");
  return {{array(Shape{size_}, dtype_, std::make_shared<Arange>(stream(), start_, step_, size_, dtype_), {})}, {-1}};
}

}  // namespace ember
