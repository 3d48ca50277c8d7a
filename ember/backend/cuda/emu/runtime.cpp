// The CUDA runtime calls of Ember's backend, on the CPU (emulated build only; see
// include/cuda_runtime.h). "Device" memory is host memory of its own; streams run
// their work at once, in order; kernels run through the emulator.
#include <cuda_runtime.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>

namespace {

thread_local cudaError_t last_error = cudaSuccess;

cudaError_t fail(cudaError_t e) {
  last_error = e;
  return e;
}

// Emulated device memory (EMBER_EMU_DEVICE_MEMORY bytes, default 8 GiB): what a card has.
size_t device_capacity() {
  static const size_t cap = [] {
    const char* e = std::getenv("EMBER_EMU_DEVICE_MEMORY");
    return e && *e ? static_cast<size_t>(std::strtoull(e, nullptr, 10)) : size_t(8) << 30;
  }();
  return cap;
}

struct Allocations {
  std::mutex mu;
  std::unordered_map<void*, size_t> sizes;
  size_t used = 0;
};
Allocations& allocations() {
  static auto* a = new Allocations;
  return *a;
}

struct CUstream_emulated {
  int id;
};

}  // namespace

struct CUstream_st : CUstream_emulated {};
struct CUmemPoolHandle_st {};

namespace ember::emu {
uint64_t launch_seed() {
  static const uint64_t seed = [] {
    const char* e = std::getenv("EMBER_EMU_SEED");
    return e && *e ? static_cast<uint64_t>(std::strtoull(e, nullptr, 10)) : uint64_t{1};
  }();
  return seed;
}
}  // namespace ember::emu

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : fail(cudaErrorInvalidValue); }
cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
  if (device != 0) return fail(cudaErrorInvalidValue);
  std::memset(p, 0, sizeof(*p));
  std::strcpy(p->name, "Ember CUDA emulator (CPU)");
  p->major = 9;
  p->minor = 0;
  p->multiProcessorCount = 4;
  p->maxThreadsPerBlock = 1024;
  p->warpSize = 32;
  p->totalGlobalMem = device_capacity();
  p->sharedMemPerBlock = 48 * 1024;
  p->l2CacheSize = 4 << 20;
  return cudaSuccess;
}
cudaError_t cudaGetLastError() {
  cudaError_t e = last_error;
  last_error = cudaSuccess;
  return e;
}
const char* cudaGetErrorName(cudaError_t err) {
  switch (err) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
  }
  return "cudaErrorUnknown";
}
const char* cudaGetErrorString(cudaError_t err) {
  switch (err) {
    case cudaSuccess: return "no error";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    default: return cudaGetErrorName(err);
  }
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned) {
  static std::atomic<int> next{1};
  auto* s = new CUstream_st;
  s->id = next++;
  *stream = s;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaMallocAsync(void** ptr, size_t bytes, cudaStream_t) {
  auto& a = allocations();
  std::lock_guard lk(a.mu);
  if (a.used + bytes > device_capacity()) return fail(cudaErrorMemoryAllocation);
  void* p = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
  if (!p) return fail(cudaErrorMemoryAllocation);
  a.sizes[p] = bytes;
  a.used += bytes;
  *ptr = p;
  return cudaSuccess;
}
cudaError_t cudaFreeAsync(void* ptr, cudaStream_t) {
  if (!ptr) return cudaSuccess;
  auto& a = allocations();
  std::lock_guard lk(a.mu);
  auto it = a.sizes.find(ptr);
  if (it == a.sizes.end()) return fail(cudaErrorInvalidValue);
  a.used -= it->second;
  a.sizes.erase(it);
  std::free(ptr);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind, cudaStream_t) {
  if (bytes) std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t) {
  std::memset(dst, value, bytes);
  return cudaSuccess;
}
cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t* pool, int) {
  static CUmemPoolHandle_st the_pool;
  *pool = &the_pool;
  return cudaSuccess;
}
cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t, cudaMemPoolAttr, void*) { return cudaSuccess; }
cudaError_t cudaMemPoolTrimTo(cudaMemPool_t, size_t) { return cudaSuccess; }

cudaError_t cudaLaunchKernel(const void* kernel, dim3 grid, dim3 block, void** args, size_t, cudaStream_t) {
  if (grid.y != 1 || grid.z != 1 || block.y != 1 || block.z != 1) return fail(cudaErrorInvalidConfiguration);
  // Undefined behaviour the emulator sees (barrier divergence, a deadlock) throws
  // ember::emu::emulation_error with its description, which eval reports.
  static_cast<const EmberEmuKernel*>(kernel)->entry(grid.x, block.x, ember::emu::launch_seed(), args);
  return cudaSuccess;
}
cudaError_t cudaLibraryUnload(cudaLibrary_t) { return cudaSuccess; }
