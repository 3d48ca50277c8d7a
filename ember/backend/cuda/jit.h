// Run-time compilation of CUDA C++ kernels with NVRTC, cached in memory and on
// disk. Compiling needs no GPU (CI compiles every generated kernel to PTX);
// loading and launching do.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include "ember/dtype.h"

namespace ember::gpu::jit {

/// Compiles `source` (CUDA C++; kernels declared extern "C") with NVRTC for `arch`:
/// "compute_XY" gives PTX, "sm_XY" a cubin. Throws std::runtime_error with NVRTC's log on
/// a compile error; `name` labels the program in that message.
std::string compile(const std::string& source, const std::string& name, const std::string& arch);

/// The NVRTC architecture for the current device ("sm_90" on an H100).
std::string device_arch();

/// Kernel `kernel` of the module built from `source` for the current device. Modules are
/// kept in memory and their cubins on disk under EMBER_KERNEL_CACHE (default
/// $XDG_CACHE_HOME/ember/kernels or ~/.cache/ember/kernels; an empty value turns the disk
/// cache off), keyed by a hash of the source, the architecture and NVRTC's version.
cudaKernel_t get_kernel(const std::string& source, const std::string& kernel);

/// A loaded generated kernel and its name (for error messages).
struct Kernel {
  cudaKernel_t fn;
  std::string name;
};
/// Tags of the kernel generators (cached_kernel's `family`).
inline constexpr int kElementwiseKernels = 1;
inline constexpr int kIndexingKernels = 2;
inline constexpr int kRandomScanKernels = 3;
inline constexpr int kCompiledKernels = 4;
/// The program source and kernel name a family generates for one key.
using KernelSpec = std::pair<std::string, std::string>;
/// The kernel of generator `family` (a tag per generator) selected by `key`, which the caller
/// packs from everything that picks the kernel (op, dtypes, access pattern), on the current
/// device. The first call per device runs `spec()` and get_kernel; later ones are a hash
/// lookup: no source or name strings are built on the launch path.
const Kernel& cached_kernel(int family, uint64_t key, const std::function<KernelSpec()>& spec);
/// Launches `k`, then checks the launch (throws naming it).
void launch(const Kernel& k, dim3 grid, dim3 block, void** args, size_t shared_bytes, cudaStream_t stream);

/// Device code every generated kernel starts with: fixed-width integers, float16/bfloat16
/// (cuda_fp16.h, cuda_bf16.h), complex64 and the index helpers.
const std::string& prelude();
/// The same prelude for the host compiler and the CPU emulator (emu/emu.h), so a generated
/// program also runs on machines without a GPU (tests/test_cuda_emulated_kernels.cpp).
const std::string& emulator_prelude();

/// The prelude's spelling of a dtype's element type ("float", "float16_t", "ember::complex64_t", ...).
const char* type_name(Dtype t);

}  // namespace ember::gpu::jit
