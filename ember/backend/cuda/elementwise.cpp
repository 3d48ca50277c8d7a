// CUDA kernels of Unary, Binary, Select, AsType, Copy and Arange: NVRTC-generated from
// elementwise_codegen (one program per op and dtype pair, one kernel per access pattern);
// and Reshape, View and AsStrided, whose copies (when they need one) are AsType T -> T.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "ember/backend/common/utils.h"
#include "ember/backend/cuda/cuda.h"
#include "ember/backend/cuda/elementwise_codegen.h"
#include "ember/backend/cuda/jit.h"

namespace ember::gpu {

namespace {

using ew::Family;
using ew::Pattern;
using ew::Variant;

constexpr unsigned kBlock = 256;
// Grid-stride loops past this many blocks (about 2^28 threads).
constexpr size_t kMaxBlocks = size_t{1} << 20;

const jit::Kernel& kernel_for(const Variant& v, Pattern p) {
  uint64_t key = static_cast<uint64_t>(v.family) | static_cast<uint64_t>(static_cast<uint32_t>(v.op)) << 8 |
                 static_cast<uint64_t>(v.in.val) << 40 | static_cast<uint64_t>(v.out.val) << 48 |
                 static_cast<uint64_t>(p) << 56;
  return jit::cached_kernel(jit::kElementwiseKernels, key, [&] {
    return jit::KernelSpec{ew::program_source({v}), ew::kernel_name(v, p)};
  });
}

// EMBER_CUDA_INDEX64=1 sends every strided launch through the 64-bit kernels (tests).
bool force_index64() {
  static const bool on = [] {
    const char* e = std::getenv("EMBER_CUDA_INDEX64");
    return e && std::strcmp(e, "1") == 0;
  }();
  return on;
}

bool aligned(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

// Collapsed strided layout of `out` (row-major) over `ins`; nullopt when more than
// kMaxDims axes remain (the op then declines).
template <int NARR>
std::optional<ew::StridedArgs<NARR>> strided_args(const array& out, const std::vector<const array*>& ins) {
  ew::StridedArgs<NARR> a{};
  if (out.ndim() == 0 || out.size() == 0) return a;  // 0-d: offset 0 everywhere; empty: no launch
  std::vector<Strides> strides;
  for (const array* x : ins) strides.push_back(x->strides());
  strides.push_back(row_major_strides(out.shape()));
  auto [shape, st] = collapse_contiguous_dims(out.shape(), strides);
  if (shape.size() > static_cast<size_t>(ew::kMaxDims)) return std::nullopt;
  a.ndim = static_cast<int32_t>(shape.size());
  for (size_t d = 0; d < shape.size(); ++d) {
    a.shape[d] = shape[d];
    for (int k = 0; k < NARR; ++k) a.strides[k][d] = st[k][d];
  }
  return a;
}

// 32-bit index math when the element count and every operand's reach fit with room for
// the grid stride; else 64-bit.
template <int NARR>
Pattern index_pattern(const ew::StridedArgs<NARR>& a, size_t n) {
  if (force_index64()) return Pattern::Strided64;
  constexpr int64_t kLimit = int64_t{1} << 30;
  if (static_cast<int64_t>(n) >= kLimit) return Pattern::Strided64;
  for (int k = 0; k < NARR; ++k) {
    int64_t reach = 0;
    for (int d = 0; d < a.ndim; ++d) reach += (a.shape[d] - 1) * std::abs(a.strides[k][d]);
    if (reach >= kLimit) return Pattern::Strided64;
  }
  return Pattern::Strided32;
}

void launch(const Variant& v, Pattern p, size_t work_items, void** args, cudaStream_t stream) {
  size_t blocks = std::min<size_t>(kMaxBlocks, std::max<size_t>(1, (work_items + kBlock - 1) / kBlock));
  jit::launch(kernel_for(v, p), dim3(static_cast<unsigned>(blocks)), dim3(kBlock), args, 0, stream);
}

// One input (Unary, AsType, Copy): in -> out (row-major).
bool run_unary_like(const Variant& v, const array& in, array& out, cudaStream_t stream) {
  const size_t n = out.size();
  const bool dense = in.flags().row_contiguous && in.size() == n;
  std::optional<ew::StridedArgs<1>> sargs;
  if (!dense) {
    sargs = strided_args<1>(out, {&in});
    if (!sargs) return false;
  }
  void* o = alloc_output(out, stream);
  if (n == 0) return true;
  const void* i = device_ptr(in, stream);
  int64_t n64 = static_cast<int64_t>(n);
  const int width = ew::vector_width(v);
  if (dense && aligned(i, width * in.itemsize())) {
    void* args[] = {&i, &o, &n64};
    launch(v, Pattern::Contig, (n + width - 1) / width, args, stream);
    return true;
  }
  if (!sargs) {  // dense but misaligned for vector loads: the strided kernel is exact too
    sargs = strided_args<1>(out, {&in});
    if (!sargs) return false;  // unreachable: a dense input collapses to one axis
  }
  void* args[] = {&i, &o, &n64, &*sargs};
  launch(v, index_pattern(*sargs, n), n, args, stream);
  return true;
}

bool unary_kernel(Primitive& p, const std::vector<array>& inputs, std::vector<array>& outputs, cudaStream_t stream) {
  auto& prim = static_cast<Unary&>(p);
  const array& in = inputs[0];
  auto out_dtype = ew::unary_output(prim.op(), in.dtype());
  if (!out_dtype || *out_dtype != outputs[0].dtype()) return false;
  return run_unary_like({Family::Unary, static_cast<int>(prim.op()), in.dtype(), *out_dtype}, in, outputs[0], stream);
}

bool astype_kernel(Primitive& p, const std::vector<array>& inputs, std::vector<array>& outputs, cudaStream_t stream) {
  const array& in = inputs[0];
  return run_unary_like({Family::AsType, 0, in.dtype(), outputs[0].dtype()}, in, outputs[0], stream);
}

bool copy_kernel(Primitive& p, const std::vector<array>& inputs, std::vector<array>& outputs, cudaStream_t stream) {
  const array& in = inputs[0];
  if (in.flags().row_contiguous) {  // already what Copy promises: share it, as the CPU does
    outputs[0].copy_shared_buffer(in);
    return true;
  }
  return run_unary_like({Family::AsType, 0, in.dtype(), in.dtype()}, in, outputs[0], stream);
}

// Reshape, View and AsStrided: views, as on the CPU, except where the input must first be made
// row-contiguous. That copy runs here, on the GPU: their CPU kernels would bring the input to
// the host, copy it there and leave the result host-resident (a transposed attention output
// reshaped for the next projection would make that round trip every layer).
std::optional<array> row_contiguous_copy(const array& in, cudaStream_t stream) {
  array tmp = array::placeholder(in.shape(), in.dtype());
  if (!run_unary_like({Family::AsType, 0, in.dtype(), in.dtype()}, in, tmp, stream)) return std::nullopt;
  tmp.set_status(Status::available);
  return tmp;
}

// Runs p's CPU kernel (a view) on a row-contiguous copy of the input made on the GPU.
bool view_of_copy(Primitive& p, const array& in, std::vector<array>& outputs, cudaStream_t stream) {
  auto copy = row_contiguous_copy(in, stream);
  if (!copy) return false;
  p.eval_cpu({*copy}, outputs);
  return true;
}

bool reshape_kernel(Primitive& p, const std::vector<array>& inputs, std::vector<array>& outputs, cudaStream_t stream) {
  const array& in = inputs[0];
  if (in.size() == 0 || in.flags().row_contiguous || reshape_strides(in, outputs[0].shape())) {
    p.eval_cpu(inputs, outputs);
    return true;
  }
  return view_of_copy(p, in, outputs, stream);
}

bool view_kernel(Primitive& p, const std::vector<array>& inputs, std::vector<array>& outputs, cudaStream_t stream) {
  const array& in = inputs[0];
  if (in.flags().row_contiguous) {
    // An offset that is no whole number of the new elements makes the CPU kernel copy bytes.
    int64_t byte_offset = in.offset() * static_cast<int64_t>(in.itemsize());
    if (byte_offset % static_cast<int64_t>(outputs[0].itemsize()) != 0) return view_of_copy(p, in, outputs, stream);
    p.eval_cpu(inputs, outputs);
    return true;
  }
  return view_of_copy(p, in, outputs, stream);
}

// Transpose, Broadcast, Slice, Split and StopGradient only ever share the input's buffer with
// new strides: their CPU kernels touch no data, wherever it lives.
bool pure_view_kernel(Primitive& p, const std::vector<array>& inputs, std::vector<array>& outputs, cudaStream_t) {
  p.eval_cpu(inputs, outputs);
  return true;
}

bool as_strided_kernel(Primitive& p, const std::vector<array>& inputs, std::vector<array>& outputs,
                       cudaStream_t stream) {
  const array& in = inputs[0];
  if (in.flags().row_contiguous) {
    p.eval_cpu(inputs, outputs);
    return true;
  }
  return view_of_copy(p, in, outputs, stream);
}

bool binary_kernel(Primitive& p, const std::vector<array>& inputs, std::vector<array>& outputs, cudaStream_t stream) {
  auto& prim = static_cast<Binary&>(p);
  const array& a = inputs[0];
  const array& b = inputs[1];
  array& out = outputs[0];
  if (a.dtype() != b.dtype()) return false;
  auto out_dtype = ew::binary_output(prim.op(), a.dtype());
  if (!out_dtype || *out_dtype != out.dtype()) return false;
  const Variant v{Family::Binary, static_cast<int>(prim.op()), a.dtype(), *out_dtype};

  const size_t n = out.size();
  const bool a_dense = a.flags().row_contiguous && a.size() == n;
  const bool b_dense = b.flags().row_contiguous && b.size() == n;
  const bool a_scalar = a.data_size() == 1, b_scalar = b.data_size() == 1;
  Pattern pattern = Pattern::Strided64;
  if (a_dense && b_dense) {
    pattern = Pattern::Contig;
  } else if (a_scalar && b_dense) {
    pattern = Pattern::ScalarVector;
  } else if (a_dense && b_scalar) {
    pattern = Pattern::VectorScalar;
  }
  // The strided layout is worked out before anything is queued, so declining stays possible.
  auto sargs = strided_args<2>(out, {&a, &b});
  if (pattern == Pattern::Strided64 && !sargs) return false;

  void* o = alloc_output(out, stream);
  if (n == 0) return true;
  const void* ap = device_ptr(a, stream);
  const void* bp = device_ptr(b, stream);
  int64_t n64 = static_cast<int64_t>(n);
  const int width = ew::vector_width(v);
  const size_t vbytes = width * a.itemsize();
  bool ok_align = (pattern == Pattern::ScalarVector || aligned(ap, vbytes)) &&
                  (pattern == Pattern::VectorScalar || aligned(bp, vbytes));
  if (pattern != Pattern::Strided64 && ok_align) {
    void* args[] = {&ap, &bp, &o, &n64};
    launch(v, pattern, (n + width - 1) / width, args, stream);
    return true;
  }
  if (!sargs) throw std::logic_error("[cuda binary] dense operands did not collapse");  // unreachable
  void* args[] = {&ap, &bp, &o, &n64, &*sargs};
  launch(v, index_pattern(*sargs, n), n, args, stream);
  return true;
}

bool select_kernel(Primitive& p, const std::vector<array>& inputs, std::vector<array>& outputs, cudaStream_t stream) {
  // inputs: (condition bool, x, y), all broadcast to out's shape.
  const array& c = inputs[0];
  const array& x = inputs[1];
  const array& y = inputs[2];
  array& out = outputs[0];
  if (c.dtype() != bool_ || x.dtype() != out.dtype() || y.dtype() != out.dtype()) return false;
  const Variant v{Family::Select, 0, out.dtype(), out.dtype()};
  const size_t n = out.size();
  auto dense = [n](const array& a) { return a.flags().row_contiguous && a.size() == n; };
  const bool all_dense = dense(c) && dense(x) && dense(y);
  auto sargs = strided_args<3>(out, {&c, &x, &y});
  if (!all_dense && !sargs) return false;

  void* o = alloc_output(out, stream);
  if (n == 0) return true;
  const void* cp = device_ptr(c, stream);
  const void* xp = device_ptr(x, stream);
  const void* yp = device_ptr(y, stream);
  int64_t n64 = static_cast<int64_t>(n);
  const int width = ew::vector_width(v);
  if (all_dense && aligned(cp, width) && aligned(xp, width * x.itemsize()) && aligned(yp, width * y.itemsize())) {
    void* args[] = {&cp, &xp, &yp, &o, &n64};
    launch(v, Pattern::Contig, (n + width - 1) / width, args, stream);
    return true;
  }
  if (!sargs) throw std::logic_error("[cuda select] dense operands did not collapse");  // unreachable
  void* args[] = {&cp, &xp, &yp, &o, &n64, &*sargs};
  launch(v, index_pattern(*sargs, n), n, args, stream);
  return true;
}

bool arange_kernel(Primitive& p, const std::vector<array>& inputs, std::vector<array>& outputs, cudaStream_t stream) {
  auto& prim = static_cast<Arange&>(p);
  array& out = outputs[0];
  if (out.dtype() == bool_ || out.dtype() == complex64) return false;  // the CPU kernel raises the error
  const Variant v{Family::Arange, 0, out.dtype(), out.dtype()};
  void* o = alloc_output(out, stream);
  if (out.size() == 0) return true;
  int64_t n = static_cast<int64_t>(out.size());
  double start = prim.start(), step = prim.step();
  void* args[] = {&o, &n, &start, &step};
  launch(v, Pattern::Contig, out.size(), args, stream);
  return true;
}

}  // namespace

void register_elementwise_kernels() {
  register_kernel(typeid(Unary), unary_kernel);
  register_kernel(typeid(Binary), binary_kernel);
  register_kernel(typeid(Select), select_kernel);
  register_kernel(typeid(AsType), astype_kernel);
  register_kernel(typeid(Copy), copy_kernel);
  register_kernel(typeid(Reshape), reshape_kernel);
  register_kernel(typeid(View), view_kernel);
  register_kernel(typeid(AsStrided), as_strided_kernel);
  for (std::type_index t :
       {std::type_index(typeid(Transpose)), std::type_index(typeid(Broadcast)), std::type_index(typeid(Slice)),
        std::type_index(typeid(Split)), std::type_index(typeid(StopGradient))}) {
    register_kernel(t, pure_view_kernel);
  }
  register_kernel(typeid(Arange), arange_kernel);
}

}  // namespace ember::gpu
