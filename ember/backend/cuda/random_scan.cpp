// CUDA kernels of RandomBits and Scan: NVRTC-generated from random_scan_codegen (one
// program for RandomBits, one per scan op and dtype with its row and column kernels).
#include <string>

#include "ember/backend/cuda/cuda.h"
#include "ember/backend/cuda/jit.h"
#include "ember/backend/cuda/random_scan_codegen.h"

namespace ember::gpu {

namespace {

using rs::Family;
using rs::Pattern;
using rs::Variant;

void launch(const Variant& v, Pattern p, unsigned grid, unsigned block, void** args, cudaStream_t stream) {
  uint64_t key = static_cast<uint64_t>(v.family) | static_cast<uint64_t>(v.op) << 8 |
                 static_cast<uint64_t>(v.dtype.val) << 16 | static_cast<uint64_t>(p) << 24;
  const jit::Kernel& k = jit::cached_kernel(jit::kRandomScanKernels, key, [&] {
    return jit::KernelSpec{rs::program_source({v}), rs::kernel_name(v, p)};
  });
  jit::launch(k, dim3(grid), dim3(block), args, 0, stream);
}

// keys: (K..., 2) uint32 -> out: K blocks of random bytes (uint8/uint16/uint32 of any shape
// led by K...), bit for bit what the CPU kernel writes.
bool random_bits_kernel(Primitive&, const std::vector<array>& inputs, std::vector<array>& outputs,
                        cudaStream_t stream) {
  const array& keys = inputs[0];
  array& out = outputs[0];
  if (keys.dtype() != uint32) return false;
  auto plan = rs::random_bits_launch(keys.shape(), keys.strides(), out.nbytes());
  if (!plan) return false;  // keys in a layout that does not collapse: the CPU copies them
  void* o = alloc_output(out, stream);
  if (plan->grid == 0) return true;
  const void* k = device_ptr(keys, stream);
  void* args[] = {&k, &o, &plan->args};
  launch({Family::RandomBits}, Pattern::Bits, plan->grid, plan->block, args, stream);
  return true;
}

// x: (..., N, ...) -> same shape and dtype, scanned along the primitive's axis.
bool scan_kernel(Primitive& p, const std::vector<array>& inputs, std::vector<array>& outputs, cudaStream_t stream) {
  auto& prim = static_cast<Scan&>(p);
  const array& in = inputs[0];
  array& out = outputs[0];
  if (in.dtype() != out.dtype() || !rs::scan_supported(prim.op(), in.dtype())) return false;
  if (in.ndim() == 0) return false;
  if (out.size() == 0) {
    alloc_output(out, stream);
    return true;
  }
  auto plan = rs::scan_launch(in.shape(), in.strides(), prim.axis(), prim.reverse(), prim.inclusive());
  if (!plan) return false;  // axes around the scan axis do not collapse (a permuted view)
  void* o = alloc_output(out, stream);
  const void* i = device_ptr(in, stream);
  void* args[] = {&i, &o, &plan->args};
  launch({Family::Scan, prim.op(), in.dtype()}, plan->pattern, plan->grid, plan->block, args, stream);
  return true;
}

}  // namespace

void register_random_scan_kernels() {
  register_kernel(typeid(RandomBits), random_bits_kernel);
  register_kernel(typeid(Scan), scan_kernel);
}

}  // namespace ember::gpu
