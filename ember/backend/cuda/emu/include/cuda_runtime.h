// The part of the CUDA runtime API Ember's backend uses, implemented on the CPU
// emulator (emu/runtime.cpp). Only the emulated build (EMBER_CUDA_EMULATOR=ON)
// puts this folder on the include path: the backend's sources then compile
// unchanged with the host compiler, kernels run through emu.h, and "device"
// memory is separate host memory, so residency copies really happen.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>

#include "ember/backend/cuda/emu/device_math.h"
#include "ember/backend/cuda/emu/emu.h"

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorNoDevice = 100,
  cudaErrorNotReady = 600,
  cudaErrorLaunchFailure = 719,
};
enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4
};
enum cudaMemPoolAttr { cudaMemPoolAttrReleaseThreshold = 4 };
constexpr unsigned cudaStreamNonBlocking = 1;
constexpr unsigned cudaMemAttachGlobal = 1;
constexpr unsigned cudaHostAllocPortable = 1;
constexpr unsigned cudaEventDisableTiming = 2;

struct CUstream_st;
using cudaStream_t = CUstream_st*;
struct CUmemPoolHandle_st;
using cudaMemPool_t = CUmemPoolHandle_st*;
struct CUevent_st;
using cudaEvent_t = CUevent_st*;
struct EmberEmuLibrary;
using cudaLibrary_t = EmberEmuLibrary*;
struct EmberEmuKernel;
using cudaKernel_t = EmberEmuKernel*;

struct cudaDeviceProp {
  char name[256];
  int major, minor;
  int multiProcessorCount;
  int maxThreadsPerBlock;
  int warpSize;
  size_t totalGlobalMem;
  size_t sharedMemPerBlock;
  int l2CacheSize;
};

cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaGetLastError();
const char* cudaGetErrorName(cudaError_t err);
const char* cudaGetErrorString(cudaError_t err);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaMallocAsync(void** ptr, size_t bytes, cudaStream_t stream);
cudaError_t cudaFreeAsync(void* ptr, cudaStream_t stream);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream);
cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t stream);
cudaError_t cudaMallocManaged(void** ptr, size_t bytes, unsigned flags);
cudaError_t cudaFree(void* ptr);
cudaError_t cudaMemGetInfo(size_t* free, size_t* total);
cudaError_t cudaHostAlloc(void** ptr, size_t bytes, unsigned flags);
cudaError_t cudaFreeHost(void* ptr);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned flags);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned flags);
cudaError_t cudaEventQuery(cudaEvent_t event);
cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t* pool, int device);
cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, cudaMemPoolAttr attr, void* value);
cudaError_t cudaMemPoolTrimTo(cudaMemPool_t pool, size_t keep);
/// Blocks of `kernel` that fit on one multiprocessor (a fixed 4 here).
template <class K>
cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int* blocks, K, int, size_t) {
  *blocks = 4;
  return cudaSuccess;
}
/// Runs a kernel obtained from jit::get_kernel (the emulated build's JIT: host compiler + dlopen).
cudaError_t cudaLaunchKernel(const void* kernel, dim3 grid, dim3 block, void** args, size_t shared, cudaStream_t s);
cudaError_t cudaLibraryUnload(cudaLibrary_t lib);

namespace ember::emu {
/// The shuffling seed launches use (EMBER_EMU_SEED, default 1; 0 runs threads in index order).
uint64_t launch_seed();
/// Queues `work` on `stream` (a null stream runs it at once). Emulated streams run their work
/// in order on a thread of their own, behind the host as a GPU's would be, so a missing wait
/// shows: EMBER_EMU_STREAM_DELAY_US holds each piece of work back that long first, and
/// EMBER_EMU_SYNC=1 runs everything at once instead. An exception thrown by the work (an
/// emulation_error) is rethrown by the next synchronization with the stream.
void submit(cudaStream_t stream, std::function<void()> work);
}  // namespace ember::emu

template <class T>
inline T __ldg(const T* p) {
  return *p;
}
template <class T>
inline T __ldcs(const T* p) {
  return *p;
}
template <class T>
inline T __ldcg(const T* p) {
  return *p;
}
/// Blocks run one at a time on the emulator, so a fence only has to order this thread's memory operations.
inline void __threadfence() { std::atomic_thread_fence(std::memory_order_seq_cst); }

/// What jit::get_kernel hands out in the emulated build: the host entry point of a kernel
/// compiled for the emulator (elementwise_codegen's emu_ functions).
struct EmberEmuKernel {
  void (*entry)(unsigned grid, unsigned block, uint64_t seed, void** args);
  void* (*bind)(unsigned grid, unsigned block, uint64_t seed, void** args);  // emu_bind_, or null
};
