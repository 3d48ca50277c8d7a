// CUDA device discovery. Kernels arrive with the CUDA backend; until an op has
// one, the GPU is reported unavailable so the default device stays the CPU.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "ember/backend/gpu.h"
#include "ember/primitives.h"

namespace ember::gpu {

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error of a machine without a driver
    return 0;
  }
  return n;
}

bool is_available() { return false; }

std::string unavailable_reason() {
  int n = device_count();
  return "the CUDA backend has no kernels yet (" + std::to_string(n) + " CUDA device(s) visible)";
}

void eval(Primitive& p, const std::vector<array>&, std::vector<array>&) {
  throw std::runtime_error(std::string("[") + p.name() + "] has no CUDA kernel yet");
}

}  // namespace ember::gpu
