// Strided gather into a row-contiguous block, for matmul operands whose matrices
// cuBLASLt cannot read in place (a sliced last axis, say) and for AddMM's c
// (often a broadcast bias). Pure data movement: bytes are copied as 2-, 4- or
// 8-byte words, so one kernel serves every dtype.
//
// src: any strides (elements, may be 0 or negative), shape (ndim <= 8);
// dst: row-contiguous, n = prod(shape) elements.
#include <cuda_runtime.h>

#include <cstdint>

#include "ember/backend/cuda/cuda.h"
#include "ember/backend/cuda/matmul_copy.h"

namespace ember::gpu {

namespace {

template <class W, class I>
__global__ void gather_general(const W* __restrict__ src, W* __restrict__ dst, StridedShape s, I n) {
  I stride = static_cast<I>(gridDim.x) * blockDim.x;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    I idx = i;
    int64_t loc = 0;
    for (int d = s.ndim - 1; d >= 0; --d) {
      I sz = static_cast<I>(s.shape[d]);
      loc += static_cast<int64_t>(idx % sz) * s.strides[d];
      idx /= sz;
    }
    dst[i] = src[loc];
  }
}

template <class W>
void launch_gather(const void* src, void* dst, const StridedShape& s, int64_t n, cudaStream_t stream) {
  constexpr int kThreads = 256;
  // Grid-stride loop: a few waves of blocks cover any n.
  int64_t blocks = (n + kThreads - 1) / kThreads;
  if (blocks > 65535LL * 8) blocks = 65535LL * 8;
  if (n <= INT32_MAX) {
    launch_kernel(gather_general<W, int32_t>, static_cast<unsigned>(blocks), kThreads, 0, stream,
                  static_cast<const W*>(src), static_cast<W*>(dst), s, static_cast<int32_t>(n));
  } else {
    launch_kernel(gather_general<W, int64_t>, static_cast<unsigned>(blocks), kThreads, 0, stream,
                  static_cast<const W*>(src), static_cast<W*>(dst), s, n);
  }
}

}  // namespace

void gather_strided(const void* src, void* dst, const StridedShape& s, int64_t n, size_t elem_bytes,
                    cudaStream_t stream) {
  if (n == 0) return;
  switch (elem_bytes) {
    case 2:
      launch_gather<uint16_t>(src, dst, s, n, stream);
      break;
    case 4:
      launch_gather<uint32_t>(src, dst, s, n, stream);
      break;
    case 8:
      launch_gather<uint64_t>(src, dst, s, n, stream);
      break;
    default:
      launch_gather<uint8_t>(src, dst, s, n, stream);
      break;
  }
}

}  // namespace ember::gpu
