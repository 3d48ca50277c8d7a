// CUDA kernels of compile's Compiled primitive: one NVRTC program per fused region and
// access pattern (elementwise_codegen's fused_source), cached like the other generated
// kernels. A region with an op the GPU lacks declines (the CPU's fused kernel runs it).
#include <cstring>
#include <optional>

#include "ember/backend/common/utils.h"
#include "ember/backend/cuda/cuda.h"
#include "ember/backend/cuda/elementwise_codegen.h"
#include "ember/backend/cuda/jit.h"
#include "ember/primitives_compiled.h"

namespace ember::gpu {

namespace {

using ew::Pattern;

constexpr unsigned kBlock = 256;
constexpr size_t kMaxBlocks = size_t{1} << 20;
// Inputs a strided fused kernel takes (its StridedArgs grows with each).
constexpr size_t kMaxStridedInputs = 24;

bool compiled_kernel(Primitive& p, const std::vector<array>& inputs, std::vector<array>& outputs, cudaStream_t stream) {
  auto& c = static_cast<Compiled&>(p);
  array& out = outputs[0];
  const Shape& shape = out.shape();
  const size_t n = out.size(), n_in = inputs.size();
  std::vector<bool> scalar(n_in, false);
  bool contig = true;
  for (size_t i = 0; i < n_in; ++i) {
    const array& in = inputs[i];
    scalar[i] = in.data_size() == 1 && in.size() >= 1;
    contig &= scalar[i] || (in.flags().row_contiguous && in.shape() == shape);
  }
  // The layout of a strided launch: one StridedArgs<n_in> (int32 ndim, then int64 shape[8]
  // and strides[n_in][8]), built in int64 words.
  std::vector<int64_t> sargs;
  Pattern pattern = Pattern::Contig;
  if (!contig) {
    if (n_in > kMaxStridedInputs) return false;
    std::vector<Strides> strides;
    for (auto& in : inputs) strides.push_back(broadcast_strides(in, shape));
    strides.push_back(row_major_strides(shape));
    auto [cshape, cst] = collapse_contiguous_dims(shape, strides);
    if (cshape.size() > static_cast<size_t>(ew::kMaxDims)) return false;
    sargs.assign(1 + ew::kMaxDims * (1 + n_in), 0);
    int32_t ndim = static_cast<int32_t>(cshape.size());
    std::memcpy(sargs.data(), &ndim, sizeof(ndim));
    int64_t reach_max = 0;
    for (size_t d = 0; d < cshape.size(); ++d) {
      sargs[1 + d] = cshape[d];
      for (size_t i = 0; i < n_in; ++i) sargs[1 + ew::kMaxDims * (1 + i) + d] = cst[i][d];
    }
    for (size_t i = 0; i < n_in; ++i) {
      int64_t reach = 0;
      for (size_t d = 0; d < cshape.size(); ++d) reach += (cshape[d] - 1) * std::abs(cst[i][d]);
      reach_max = std::max(reach_max, reach);
    }
    constexpr int64_t kLimit = int64_t{1} << 30;
    pattern = static_cast<int64_t>(n) < kLimit && reach_max < kLimit ? Pattern::Strided32 : Pattern::Strided64;
  }
  if (!ew::fused_supported(c)) return false;
  void* o = alloc_output(out, stream);
  if (n == 0) return true;
  std::vector<const void*> ptrs;
  for (auto& in : inputs) ptrs.push_back(device_ptr(in, stream));
  // A dense launch reads and writes whole vectors when every dense pointer is aligned to one.
  int width = 1;
  if (pattern == Pattern::Contig) {
    width = ew::fused_vector_width(c);
    auto aligned = [&](const void* ptr, size_t itemsize) {
      return reinterpret_cast<uintptr_t>(ptr) % (itemsize * width) == 0;
    };
    bool ok = aligned(o, out.itemsize());
    for (size_t i = 0; i < n_in; ++i) ok &= scalar[i] || aligned(ptrs[i], inputs[i].itemsize());
    if (!ok) width = 1;
  }
  std::string key = c.signature() + "|" + std::to_string(static_cast<int>(pattern)) + "|" + std::to_string(width) + "|";
  for (bool s : scalar) key += s ? '1' : '0';
  const uint64_t h = fnv1a(key);
  const std::string name = "fused_" + std::to_string(h);  // built only on the first launch
  const jit::Kernel& k = jit::cached_kernel(jit::kCompiledKernels, h, [&] {
    return jit::KernelSpec{*ew::fused_source(c, pattern, scalar, name, ew::kBackendTarget, width), name};
  });

  int64_t n64 = static_cast<int64_t>(n);
  std::vector<void*> args;
  for (auto& ptr : ptrs) args.push_back(&ptr);
  args.push_back(&o);
  args.push_back(&n64);
  if (pattern != Pattern::Contig) args.push_back(sargs.data());
  const size_t per_block = size_t{kBlock} * width;
  size_t blocks = std::min<size_t>(kMaxBlocks, std::max<size_t>(1, (n + per_block - 1) / per_block));
  jit::launch(k, dim3(static_cast<unsigned>(blocks)), dim3(kBlock), args.data(), 0, stream);
  return true;
}

}  // namespace

void register_compiled_kernels() { register_kernel(typeid(Compiled), compiled_kernel); }

}  // namespace ember::gpu
