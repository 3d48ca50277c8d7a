// CPU kernels of the copy, conversion and view primitives. Views share the
// input's buffer and only compute new strides and an offset.
#include <cstring>

#include "ember/backend/common/utils.h"
#include "ember/backend/cpu/copy.h"
#include "ember/backend/cpu/elementwise.h"
#include "ember/backend/cpu/simd.h"
#include "ember/primitives.h"
#include "ember/scheduler.h"

namespace ember {

namespace {

void share_view(const array& in, array& out, Strides strides, int64_t offset) {
  auto [flags, data_size] = layout_of(out.shape(), strides);
  out.copy_shared_buffer(in, std::move(strides), flags, data_size, offset);
}

}  // namespace

void AsType::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  if (in.flags().contiguous && in.data_size() == in.size()) {
    // Keep the input's (dense) layout; convert the flat buffer in chunks across the pool,
    // with SIMD between float32 and the half types (weights are loaded and kept in them).
    cpu::alloc_like(in, out);
    const char* src = in.data<char>();
    char* dst = out.data<char>();
    const size_t isz = in.itemsize(), osz = out.itemsize();
    const Dtype from = in.dtype(), to = out.dtype();
    scheduler::parallel_for(static_cast<int64_t>(in.size()), int64_t{1} << 16, [&](int64_t b, int64_t e) {
      const auto* half = reinterpret_cast<const uint16_t*>(src) + b;
      float* f = reinterpret_cast<float*>(dst) + b;
      if (from == float16 && to == float32) {
        cpu::simd::f16_to_f32(half, f, e - b);
      } else if (from == bfloat16 && to == float32) {
        cpu::simd::bf16_to_f32(half, f, e - b);
      } else if (from == float32 && (to == float16 || to == bfloat16)) {
        const float* fs = reinterpret_cast<const float*>(src) + b;
        uint16_t* hd = reinterpret_cast<uint16_t*>(dst) + b;
        (to == float16 ? cpu::simd::f32_to_f16 : cpu::simd::f32_to_bf16)(fs, hd, e - b);
      } else {
        convert_elements(src + b * isz, from, dst + b * osz, to, static_cast<size_t>(e - b));
      }
    });
    return;
  }
  cpu::copy_to_contiguous(in, out);
}

void Copy::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  if (in.flags().row_contiguous) {
    out.copy_shared_buffer(in);
    return;
  }
  cpu::copy_to_contiguous(in, out);
}

void StopGradient::eval_cpu(const std::vector<array>& inputs, array& out) { out.copy_shared_buffer(inputs[0]); }

void View::eval_cpu(const std::vector<array>& inputs, array& out) {
  array in = cpu::ensure_row_contiguous(inputs[0]);
  // Row-contiguous input: reinterpret the same bytes with the new shape.
  // Offsets are kept in elements; convert the input's byte offset to the new type.
  int64_t byte_offset = in.offset() * static_cast<int64_t>(in.itemsize());
  if (byte_offset % static_cast<int64_t>(out.itemsize()) != 0) {
    // Misaligned for the new type: copy the bytes into a fresh buffer.
    out.set_data(allocator::malloc(out.nbytes()));
    std::memcpy(out.data<char>(), in.data<char>(), out.nbytes());
    return;
  }
  out.copy_shared_buffer(in, row_major_strides(out.shape()), Flags{}, out.size(),
                         byte_offset / static_cast<int64_t>(out.itemsize()) - in.offset());
}

bool AsType::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const AsType*>(&other);
  return o && o->dtype_ == dtype_;
}

bool View::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const View*>(&other);
  return o && o->dtype_ == dtype_;
}

void Arange::eval_cpu(const std::vector<array>&, array& out) {
  out.set_data(allocator::malloc(out.nbytes()));
  dispatch_dtype(out.dtype(), [&](auto t) {
    using T = decltype(t);
    if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, complex64_t>) {
      throw std::invalid_argument("[arange] unsupported dtype " + dtype_name(out.dtype()));
    } else {
      T* p = out.data<T>();
      for (size_t i = 0; i < out.size(); ++i) p[i] = static_cast<T>(start_ + static_cast<double>(i) * step_);
    }
  });
}

bool Arange::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Arange*>(&other);
  return o && o->start_ == start_ && o->step_ == step_;
}

void Reshape::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  if (in.size() == 0) {
    // Nothing to share or copy (and the stride matching below assumes no zero-length axis).
    out.set_data(allocator::malloc(0));
    return;
  }
  if (in.flags().row_contiguous) {
    share_view(in, out, row_major_strides(out.shape()), 0);
    return;
  }
  // Try to express the new shape with strides of the old one; fall back to a copy.
  if (auto strides = reshape_strides(in, out.shape())) {
    share_view(in, out, std::move(*strides), 0);
    return;
  }
  cpu::copy_to_contiguous(in, out);
}

bool Reshape::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Reshape*>(&other);
  return o && o->shape_ == shape_;
}

void Transpose::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  Strides st(axes_.size());
  for (size_t i = 0; i < axes_.size(); ++i) st[i] = in.strides()[axes_[i]];
  // A permutation keeps density, so the data size is unchanged.
  auto [flags, ds] = layout_of(out.shape(), st);
  out.copy_shared_buffer(in, std::move(st), flags, in.data_size());
}

bool Transpose::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Transpose*>(&other);
  return o && o->axes_ == axes_;
}

void Broadcast::eval_cpu(const std::vector<array>& inputs, array& out) {
  share_view(inputs[0], out, broadcast_strides(inputs[0], out.shape()), 0);
}

bool Broadcast::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Broadcast*>(&other);
  return o && o->shape_ == shape_;
}

void Slice::eval_cpu(const std::vector<array>& inputs, array& out) {
  const array& in = inputs[0];
  if (out.size() == 0) {
    out.set_data(allocator::malloc(0));
    return;
  }
  int64_t offset = 0;
  Strides st(in.ndim());
  for (size_t i = 0; i < in.ndim(); ++i) {
    offset += static_cast<int64_t>(start_[i]) * in.strides()[i];
    st[i] = in.strides()[i] * strides_[i];
  }
  share_view(in, out, std::move(st), offset);
}

bool Slice::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Slice*>(&other);
  return o && o->start_ == start_ && o->stop_ == stop_ && o->strides_ == strides_;
}

void AsStrided::eval_cpu(const std::vector<array>& inputs, array& out) {
  array in = cpu::ensure_row_contiguous(inputs[0]);
  share_view(in, out, strides_, offset_);
}

bool AsStrided::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const AsStrided*>(&other);
  return o && o->shape_ == shape_ && o->strides_ == strides_ && o->offset_ == offset_;
}

}  // namespace ember
