// CUDA kernels of Gather, Scatter, GatherAxis, ScatterAddAxis, Concatenate, Pad and
// SliceUpdate: NVRTC-generated from indexing_codegen (one program per variant), launched
// with the plans worked out there.
//
// What declines (the op then runs its CPU kernel): more than kMaxIndices index arrays or
// index arrays of mixed or non-integer dtypes; layouts that do not collapse to kMaxDims
// axes; Scatter Sum/Prod/Max/Min on dtypes other than (u)int32, (u)int64, float32, float64
// (no native atomics of that width).
//
// Determinism: Scatter None (claim-then-write: the last update wins, as on the CPU) and
// ScatterAddAxis over many columns (one thread per column, in order) match the CPU bit for
// bit. Scatter Sum/Prod and ScatterAddAxis over few columns use atomics: integers are
// exact, float sums and products may round differently from the CPU's in-order loop.
//
// Index errors: the index kernels record an out-of-range index in a small device buffer;
// the host copies it back and synchronizes the stream (one sync per index op, a cost we
// accept for now to throw the CPU's std::out_of_range at eval), then throws.
#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "ember/backend/common/utils.h"
#include "ember/backend/cuda/cuda.h"
#include "ember/backend/cuda/indexing_codegen.h"
#include "ember/backend/cuda/jit.h"
#include "ember/primitives_index.h"

namespace ember::gpu {

namespace {

using idx::Family;
using idx::StridedArgs;
using idx::Variant;

constexpr unsigned kBlock = 256;
constexpr size_t kMaxBlocks = size_t{1} << 20;

// Launches kernel `which` of v's program over `work_items` grid-stride items.
void launch(const Variant& v, size_t which, size_t work_items, void** args, cudaStream_t stream) {
  size_t blocks = std::min<size_t>(kMaxBlocks, std::max<size_t>(1, (work_items + kBlock - 1) / kBlock));
  uint64_t key = static_cast<uint64_t>(v.family) | static_cast<uint64_t>(v.data.val) << 8 |
                 static_cast<uint64_t>(v.index.val) << 16 | static_cast<uint64_t>(v.reduce) << 24 |
                 static_cast<uint64_t>(which) << 32;
  const jit::Kernel& k = jit::cached_kernel(jit::kIndexingKernels, key, [&] {
    return jit::KernelSpec{idx::program_source({v}), idx::kernel_names(v).at(which)};
  });
  jit::launch(k, dim3(static_cast<unsigned>(blocks)), dim3(kBlock), args, 0, stream);
}

// dst (with its offset) = src, element by element over src's shape.
void copy_into(const array& src, void* dst, const StridedArgs<2>& plan, cudaStream_t stream) {
  if (src.size() == 0) return;
  const Variant v{Family::Copy, idx::bits_dtype(src.dtype())};
  const void* s = device_ptr(src, stream);
  int64_t n = static_cast<int64_t>(src.size());
  StridedArgs<2> a = plan;
  void* args[] = {&s, &dst, &n, &a};
  launch(v, 0, src.size(), args, stream);
}

char* at_offset(void* base, int64_t elems, size_t itemsize) {
  return static_cast<char*>(base) + elems * static_cast<int64_t>(itemsize);
}

// The device error record of one index op: zeroed on `stream`, read back with a sync.
class ErrorRecord {
 public:
  explicit ErrorRecord(cudaStream_t stream) : stream_(stream) {
    data_ = alloc_device(idx::kErrorWords * sizeof(uint64_t), stream);
    EMBER_CUDA_CHECK(cudaMemsetAsync(ptr(), 0, idx::kErrorWords * sizeof(uint64_t), stream));
  }
  unsigned long long* ptr() const { return static_cast<unsigned long long*>(data_->device_ptr); }
  // Waits for the queued work; true (and the record in `out`) when a kernel reported an error.
  bool read(uint64_t out[idx::kErrorWords]) const {
    EMBER_CUDA_CHECK(cudaMemcpyAsync(out, ptr(), idx::kErrorWords * sizeof(uint64_t), cudaMemcpyDeviceToHost, stream_));
    EMBER_CUDA_CHECK(cudaStreamSynchronize(stream_));
    return out[0] != 0;
  }

 private:
  cudaStream_t stream_;
  std::shared_ptr<Data> data_;
};

// All index arrays of one integer dtype, or nullopt.
std::optional<Dtype> common_index_dtype(const std::vector<array>& indices) {
  Dtype t = indices.empty() ? int32 : indices[0].dtype();
  for (const auto& i : indices) {
    if (i.dtype() != t) return std::nullopt;
  }
  if (!idx::is_index_dtype(t)) return std::nullopt;
  return t;
}

// out = a as a fresh row-contiguous buffer (Scatter and SliceUpdate start from it).
std::optional<StridedArgs<2>> start_plan(const array& a) {
  return idx::copy_plan(a.shape(), a.strides(), row_major_strides(a.shape()));
}

// ------------------------------------------------------------------ Gather / Scatter

bool gather_kernel(Primitive& p, const std::vector<array>& inputs, std::vector<array>& outputs, cudaStream_t stream) {
  auto& prim = static_cast<Gather&>(p);
  const array& a = inputs[0];
  array& out = outputs[0];
  std::vector<array> indices(inputs.begin() + 1, inputs.end());
  auto it = common_index_dtype(indices);
  if (!it) return false;
  auto plan = idx::gather_plan(a, indices, prim.axes(), prim.slice_sizes());
  if (!plan) return false;
  void* o = alloc_output(out, stream);
  if (out.size() == 0) return true;
  idx::GatherArgs g = *plan;
  for (size_t j = 0; j < indices.size(); ++j) g.idx[j] = device_ptr(indices[j], stream);
  const void* ap = device_ptr(a, stream);
  ErrorRecord err(stream);
  unsigned long long* e = err.ptr();
  int64_t n = static_cast<int64_t>(out.size());
  void* args[] = {&ap, &o, &n, &g, &e};
  launch({Family::Gather, idx::bits_dtype(a.dtype()), *it}, 0, out.size(), args, stream);
  uint64_t rec[idx::kErrorWords];
  if (err.read(rec)) throw std::out_of_range(idx::gather_error_message("gather", g, rec));
  return true;
}

bool scatter_kernel(Primitive& p, const std::vector<array>& inputs, std::vector<array>& outputs, cudaStream_t stream) {
  auto& prim = static_cast<Scatter&>(p);
  const array& a = inputs[0];
  const array& upd = inputs.back();
  array& out = outputs[0];
  std::vector<array> indices(inputs.begin() + 1, inputs.end() - 1);
  auto it = common_index_dtype(indices);
  if (!it || !idx::scatter_supported(prim.reduce(), a.dtype()) || upd.dtype() != a.dtype()) return false;
  auto plan = idx::scatter_plan(a.shape(), indices, upd, prim.axes());
  auto start = start_plan(a);
  if (!plan || !start) return false;

  void* o = alloc_output(out, stream);
  copy_into(a, o, *start, stream);
  if (upd.size() == 0 || out.size() == 0) return true;
  idx::GatherArgs g = *plan;
  for (size_t j = 0; j < indices.size(); ++j) g.idx[j] = device_ptr(indices[j], stream);
  const void* up = device_ptr(upd, stream);
  ErrorRecord err(stream);
  unsigned long long* e = err.ptr();
  int64_t n = static_cast<int64_t>(upd.size());
  std::shared_ptr<Data> winner;  // kept alive until err.read() has synchronized
  if (prim.reduce() == ScatterReduce::None) {
    const Variant v{Family::ScatterNone, idx::bits_dtype(a.dtype()), *it};
    winner = alloc_device(out.size() * sizeof(int64_t), stream);
    void* w = winner->device_ptr;
    EMBER_CUDA_CHECK(cudaMemsetAsync(w, 0xff, out.size() * sizeof(int64_t), stream));  // -1: unclaimed
    void* claim[] = {&w, &n, &g, &e};
    launch(v, 0, upd.size(), claim, stream);
    void* write[] = {&up, &o, &w, &n, &g, &e};
    launch(v, 1, upd.size(), write, stream);
  } else {
    void* args[] = {&up, &o, &n, &g, &e};
    launch({Family::Scatter, a.dtype(), *it, prim.reduce()}, 0, upd.size(), args, stream);
  }
  uint64_t rec[idx::kErrorWords];
  if (err.read(rec)) throw std::out_of_range(idx::gather_error_message(scatter_reduce_name(prim.reduce()), g, rec));
  return true;
}

// ------------------------------------------------------------------ along one axis

bool gather_axis_kernel(Primitive& p, const std::vector<array>& inputs, std::vector<array>& outputs,
                        cudaStream_t stream) {
  auto& prim = static_cast<GatherAxis&>(p);
  const array& a = inputs[0];
  const array& ind = inputs[1];
  array& out = outputs[0];
  if (!idx::is_index_dtype(ind.dtype())) return false;
  auto plan = idx::gather_axis_plan(a, ind, prim.axis());
  if (!plan) return false;
  void* o = alloc_output(out, stream);
  if (out.size() == 0) return true;
  const void* ap = device_ptr(a, stream);
  const void* ip = device_ptr(ind, stream);
  ErrorRecord err(stream);
  unsigned long long* e = err.ptr();
  idx::GatherAxisPlan pl = *plan;
  void* args[] = {&ap, &ip, &o, &pl.n, &pl.na, &pl.a_axis_stride, &pl.layout, &e};
  launch({Family::GatherAxis, idx::bits_dtype(a.dtype()), ind.dtype()}, 0, out.size(), args, stream);
  uint64_t rec[idx::kErrorWords];
  if (err.read(rec)) throw std::out_of_range(idx::axis_error_message("take_along_axis", prim.axis(), pl.na, rec));
  return true;
}

bool scatter_add_axis_kernel(Primitive& p, const std::vector<array>& inputs, std::vector<array>& outputs,
                             cudaStream_t stream) {
  auto& prim = static_cast<ScatterAddAxis&>(p);
  const array& a = inputs[0];
  const array& ind = inputs[1];
  const array& upd = inputs[2];
  array& out = outputs[0];
  if (!idx::is_index_dtype(ind.dtype()) || upd.dtype() != a.dtype()) return false;
  auto plan = idx::scatter_add_axis_plan(a.shape(), ind, upd, prim.axis());
  auto start = start_plan(a);
  if (!plan || !start) return false;
  void* o = alloc_output(out, stream);
  if (out.size() == 0) return true;
  copy_into(a, o, *start, stream);
  if (upd.size() == 0) return true;
  const void* ip = device_ptr(ind, stream);
  const void* up = device_ptr(upd, stream);
  ErrorRecord err(stream);
  unsigned long long* e = err.ptr();
  idx::ScatterAxisPlan pl = *plan;
  void* args[] = {
      &ip,        &up, &o, &pl.cols, &pl.nu, &pl.na, &pl.idx_axis_stride, &pl.upd_axis_stride, &pl.out_axis_stride,
      &pl.layout, &e};
  launch({Family::ScatterAddAxis, a.dtype(), ind.dtype()}, pl.use_atomic ? 1 : 0,
         static_cast<size_t>(pl.use_atomic ? pl.cols * pl.nu : pl.cols), args, stream);
  uint64_t rec[idx::kErrorWords];
  if (err.read(rec)) throw std::out_of_range(idx::axis_error_message("scatter_add_axis", prim.axis(), pl.na, rec));
  return true;
}

// ------------------------------------------------------------------ shape copies

bool concatenate_kernel(Primitive& p, const std::vector<array>& inputs, std::vector<array>& outputs,
                        cudaStream_t stream) {
  // out: (..., sum of n_i, ...); input i lands at offset (n_0 + ... + n_{i-1}) along the axis.
  auto& prim = static_cast<Concatenate&>(p);
  array& out = outputs[0];
  const Strides os = row_major_strides(out.shape());
  std::vector<StridedArgs<2>> plans;
  for (const auto& in : inputs) {
    if (in.dtype() != out.dtype()) return false;
    auto pl = idx::copy_plan(in.shape(), in.strides(), os);
    if (!pl) return false;
    plans.push_back(*pl);
  }
  void* o = alloc_output(out, stream);
  if (out.size() == 0) return true;
  int64_t start = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    copy_into(inputs[i], at_offset(o, start * os[prim.axis()], out.itemsize()), plans[i], stream);
    start += inputs[i].shape(prim.axis());
  }
  return true;
}

bool pad_kernel(Primitive& p, const std::vector<array>& inputs, std::vector<array>& outputs, cudaStream_t stream) {
  // inputs: x and a 0-d pad value of x's dtype: fill with the value, then copy x into the box at `low`.
  auto& prim = static_cast<Pad&>(p);
  const array& in = inputs[0];
  const array& val = inputs[1];
  array& out = outputs[0];
  if (in.dtype() != out.dtype() || val.dtype() != out.dtype()) return false;
  const Strides os = row_major_strides(out.shape());
  auto pl = idx::copy_plan(in.shape(), in.strides(), os);
  if (!pl) return false;
  void* o = alloc_output(out, stream);
  if (out.size() == 0) return true;
  const Variant fill{Family::Fill, idx::bits_dtype(out.dtype())};
  const void* vp = device_ptr(val, stream);
  int64_t n = static_cast<int64_t>(out.size());
  void* args[] = {&vp, &o, &n};
  launch(fill, 0, out.size(), args, stream);
  int64_t offset = 0;
  for (size_t i = 0; i < prim.axes().size(); ++i) offset += prim.low()[i] * os[prim.axes()[i]];
  copy_into(in, at_offset(o, offset, out.itemsize()), *pl, stream);
  return true;
}

bool slice_update_kernel(Primitive& p, const std::vector<array>& inputs, std::vector<array>& outputs,
                         cudaStream_t stream) {
  // inputs: src (any layout) and update (the region's shape, src's dtype). out = src, then
  // region element i sits at sum(start * out_stride + i * step * out_stride) per axis.
  auto& prim = static_cast<SliceUpdate&>(p);
  const array& src = inputs[0];
  const array& upd = inputs[1];
  array& out = outputs[0];
  if (upd.dtype() != out.dtype() || src.dtype() != out.dtype()) return false;
  const Strides os = row_major_strides(out.shape());
  int64_t offset = 0;
  Strides st(out.ndim());
  for (size_t i = 0; i < out.ndim(); ++i) {
    offset += prim.start()[i] * os[i];
    st[i] = os[i] * prim.strides()[i];
  }
  auto start = start_plan(src);
  auto pl = idx::copy_plan(upd.shape(), upd.strides(), st);
  if (!start || !pl) return false;
  void* o = alloc_output(out, stream);
  if (out.size() == 0) return true;
  copy_into(src, o, *start, stream);
  copy_into(upd, at_offset(o, offset, out.itemsize()), *pl, stream);
  return true;
}

}  // namespace

void register_indexing_kernels() {
  register_kernel(typeid(Gather), gather_kernel);
  register_kernel(typeid(Scatter), scatter_kernel);
  register_kernel(typeid(GatherAxis), gather_axis_kernel);
  register_kernel(typeid(ScatterAddAxis), scatter_add_axis_kernel);
  register_kernel(typeid(Concatenate), concatenate_kernel);
  register_kernel(typeid(Pad), pad_kernel);
  register_kernel(typeid(SliceUpdate), slice_update_kernel);
}

}  // namespace ember::gpu
