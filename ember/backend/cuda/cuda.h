// Internal to the CUDA backend: error checking, streams, residency, and the
// per-primitive kernel registry. Nothing outside ember/backend/cuda includes this.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <tuple>
#include <typeindex>
#include <vector>

#include "ember/array.h"
#include "ember/primitives.h"

namespace ember::gpu {

// ---------------------------------------------------------------- error checking

/// Throws std::runtime_error naming the call, its error and where it was made.
/// cudaErrorMemoryAllocation becomes ember::out_of_memory, as on the CPU.
[[noreturn]] void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line);
[[noreturn]] void throw_cublas_error(int status, const char* call, const char* file, int line);
[[noreturn]] void throw_nvrtc_error(int result, const char* call, const char* file, int line, const std::string& log);

#define EMBER_CUDA_CHECK(call)                                                                            \
  do {                                                                                                    \
    cudaError_t ember_err_ = (call);                                                                      \
    if (ember_err_ != cudaSuccess) ::ember::gpu::throw_cuda_error(ember_err_, #call, __FILE__, __LINE__); \
  } while (0)

#define EMBER_CUBLAS_CHECK(call)                                                                \
  do {                                                                                          \
    cublasStatus_t ember_st_ = (call);                                                          \
    if (ember_st_ != CUBLAS_STATUS_SUCCESS)                                                     \
      ::ember::gpu::throw_cublas_error(static_cast<int>(ember_st_), #call, __FILE__, __LINE__); \
  } while (0)

/// Throws std::runtime_error naming the cuSOLVER call, its status and where it was made
/// (CUSOLVER_STATUS_ALLOC_FAILED becomes ember::out_of_memory). Defined in linalg.cpp.
[[noreturn]] void throw_cusolver_error(int status, const char* call, const char* file, int line);

#define EMBER_CUSOLVER_CHECK(call)                                                                 \
  do {                                                                                             \
    auto ember_sst_ = (call);                                                                      \
    if (ember_sst_ != CUSOLVER_STATUS_SUCCESS)                                                     \
      ::ember::gpu::throw_cusolver_error(static_cast<int>(ember_sst_), #call, __FILE__, __LINE__); \
  } while (0)

/// After a kernel launch: throws if the launch failed (bad configuration, no kernel image, ...).
#define EMBER_CUDA_CHECK_LAUNCH(kernel_name) ::ember::gpu::check_launch(kernel_name, __FILE__, __LINE__)
void check_launch(const char* kernel_name, const char* file, int line);

// ---------------------------------------------------------------- device and streams

/// The CUDA stream behind an Ember GPU stream (created on first use; non-blocking).
cudaStream_t cuda_stream(const Stream& s);
/// Properties of the current device (cached).
const cudaDeviceProp& device_props();
/// The cuBLASLt handle of this process.
cublasLtHandle_t cublaslt_handle();
/// A device workspace of at least `bytes`, valid for work queued on `stream` (grows as needed).
void* workspace(size_t bytes, cudaStream_t stream);

// ---------------------------------------------------------------- memory and residency

/// The end of one GPU task's queued work (gpu.h): a CUDA event on the task's stream.
struct Fence {
  cudaEvent_t event = nullptr;
  int device = 0;
  Fence() = default;
  Fence(const Fence&) = delete;
  Fence& operator=(const Fence&) = delete;
  ~Fence() {
    if (event) cudaEventDestroy(event);
  }
};

/// Device address of a's first element (offset applied). Copies the buffer to the device,
/// ordered on `stream`, when its device copy is missing or stale.
void* device_ptr(const array& a, cudaStream_t stream);
template <class T>
T* device_data(const array& a, cudaStream_t stream) {
  return static_cast<T*>(device_ptr(a, stream));
}
/// Gives `out` a fresh row-contiguous device-only buffer of out.nbytes() and returns its address.
void* alloc_output(array& out, cudaStream_t stream);
/// A device-only buffer of `bytes` (for scratch arrays and layouts other than row-contiguous).
std::shared_ptr<Data> alloc_device(size_t bytes, cudaStream_t stream);

// ---------------------------------------------------------------- kernel registry

/// A primitive's GPU implementation. Returns false to decline (an unsupported dtype, say):
/// the op then runs on the CPU kernel instead. Declining must happen before any work is queued.
using KernelFn = bool (*)(Primitive& p, const std::vector<array>& inputs, std::vector<array>& outputs,
                          cudaStream_t stream);
/// Registers `fn` for primitives whose dynamic type is `type`.
void register_kernel(std::type_index type, KernelFn fn);

// Each kernel family registers its primitives here (called once, in device.cpp).
void register_elementwise_kernels();
void register_reduce_kernels();
void register_matmul_kernels();
void register_indexing_kernels();
void register_random_scan_kernels();
void register_sort_kernels();
void register_linalg_kernels();
void register_fast_kernels();
void register_quantized_kernels();
void register_compiled_kernels();

/// out = a @ b for arrays of one dtype (the Matmul kernel, matmul.cpp); false where it
/// declines, before queuing any work. The emulated build has cuBLASLt for no product: there it
/// runs matrix-vector products only (has_general_matmul() is false).
bool matmul_arrays(const array& a, const array& b, array& out, cudaStream_t stream);
bool has_general_matmul();

// ---------------------------------------------------------------- launch helpers

inline unsigned int ceil_div(size_t a, size_t b) { return static_cast<unsigned int>((a + b - 1) / b); }

/// Inside a kernel: `name`, a `type*` to the block's dynamic shared memory (the launch's `shared`
/// bytes, 16-byte aligned). The emulator defines its own (emu/emu.h).
#if !defined(EMBER_CUDA_EMULATED) && defined(__CUDACC__)
#define EMBER_DYNAMIC_SHARED(type, name)                              \
  extern __shared__ __align__(16) unsigned char ember_dynamic_smem[]; \
  type* name = reinterpret_cast<type*>(ember_dynamic_smem)
#endif

/// Launches __global__ function `kernel` on `stream`: nvcc's <<<grid, block, shared, stream>>>,
/// or, in the emulated build (EMBER_CUDA_EMULATOR), a run on the CPU emulator. Check the
/// launch with EMBER_CUDA_CHECK_LAUNCH afterwards, as after <<<>>>.
template <class... KArgs, class... Args>
void launch_kernel(void (*kernel)(KArgs...), dim3 grid, dim3 block, size_t shared, cudaStream_t stream,
                   Args&&... args) {
#if defined(EMBER_CUDA_EMULATED)
  ::ember::emu::submit(stream, [=, seed = ::ember::emu::launch_seed(),
                                values = std::make_tuple(static_cast<std::decay_t<KArgs>>(args)...)] {
    std::apply([&](const auto&... v) { ::ember::emu::launch(grid, block, shared, seed, kernel, v...); }, values);
  });
#elif defined(__CUDACC__)
  kernel<<<grid, block, shared, stream>>>(static_cast<KArgs>(args)...);
#else
  static_assert(sizeof...(KArgs) != sizeof...(KArgs), "launch_kernel launches from .cu files");
#endif
}

}  // namespace ember::gpu
