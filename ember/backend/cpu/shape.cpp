// CPU kernels of the shape primitives: Concatenate and Pad write their inputs
// into slabs of a fresh buffer with copy_strided; Split makes views;
// SliceUpdate copies (or donates) src and writes the update into its region.
#include <algorithm>

#include "ember/backend/common/utils.h"
#include "ember/backend/cpu/copy.h"
#include "ember/primitives.h"
#include "ember/scheduler.h"

namespace ember {

namespace {

// Elements per parallel chunk of the fill loop (a plain store, memory bound).
constexpr int64_t kFillGrain = 1 << 16;

}  // namespace

void Concatenate::eval_cpu(const std::vector<array>& inputs, array& out) {
  // out: (..., sum of n_i, ...); input i lands at offset (n_0 + ... + n_{i-1}) along axis_.
  out.set_data(allocator::malloc(out.nbytes()));
  int64_t axis_stride = out.strides()[axis_];
  int64_t start = 0;
  for (const auto& in : inputs) {
    cpu::copy_strided(in, out, out.strides(), start * axis_stride);
    start += in.shape(axis_);
  }
}

bool Concatenate::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Concatenate*>(&other);
  return o && o->axis_ == axis_;
}

void Split::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  // Each piece is a view of the input, starting at the previous cut.
  const array& in = inputs[0];
  for (size_t i = 0; i < outputs.size(); ++i) {
    array& out = outputs[i];
    int64_t start = i == 0 ? 0 : indices_[i - 1];
    int64_t offset = out.size() == 0 ? 0 : start * in.strides()[axis_];
    auto [flags, data_size] = layout_of(out.shape(), in.strides());
    out.copy_shared_buffer(in, in.strides(), flags, data_size, offset);
  }
}

bool Split::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Split*>(&other);
  return o && o->indices_ == indices_ && o->axis_ == axis_;
}

void Pad::eval_cpu(const std::vector<array>& inputs, array& out) {
  // inputs: x and a 0-d pad value of x's dtype. Fill everything with the
  // value, then copy x into the interior box that starts at `low_`.
  const array& in = inputs[0];
  const array& val = inputs[1];
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  dispatch_dtype(out.dtype(), [&](auto t) {
    using T = decltype(t);
    T v = val.data<T>()[0];
    T* dst = out.data<T>();
    scheduler::parallel_for(static_cast<int64_t>(out.size()), kFillGrain,
                            [&](int64_t b, int64_t e) { std::fill(dst + b, dst + e, v); });
  });
  int64_t offset = 0;
  for (size_t i = 0; i < axes_.size(); ++i) offset += static_cast<int64_t>(low_[i]) * out.strides()[axes_[i]];
  cpu::copy_strided(in, out, out.strides(), offset);
}

bool Pad::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Pad*>(&other);
  return o && o->axes_ == axes_ && o->low_ == low_ && o->high_ == high_;
}

void SliceUpdate::eval_cpu(const std::vector<array>& inputs, array& out) {
  // inputs: src (any layout) and update, already broadcast to the region's shape
  // in src's dtype. out starts as src (its own buffer when nobody else holds it,
  // else a row-contiguous copy); then the region is overwritten in place.
  const array& src = inputs[0];
  const array& upd = inputs[1];
  if (can_donate(src, out)) {
    out.copy_shared_buffer(src);
  } else {
    cpu::copy_to_contiguous(src, out);
  }
  // Region element i sits at sum(start * out_stride + i * step * out_stride) per axis.
  int64_t offset = 0;
  Strides st(out.ndim());
  for (size_t i = 0; i < out.ndim(); ++i) {
    offset += static_cast<int64_t>(start_[i]) * out.strides()[i];
    st[i] = out.strides()[i] * strides_[i];
  }
  cpu::copy_strided(upd, out, st, offset);
}

bool SliceUpdate::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const SliceUpdate*>(&other);
  return o && o->start_ == start_ && o->stop_ == stop_ && o->strides_ == strides_;
}

}  // namespace ember
