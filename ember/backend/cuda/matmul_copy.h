// Internal to the CUDA matmul: a strided gather kernel (matmul_copy.cu).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace ember::gpu {

/// Shape and element strides of a view, passed to kernels by value.
struct StridedShape {
  static constexpr int kMaxDims = 8;
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};
};

/// dst[i] = src[loc(i)] for the n elements of `s` in row-major order; dst is row-contiguous.
/// Copies raw elem_bytes-wide words (any dtype). Checks nothing: the caller checks the launch.
void gather_strided(const void* src, void* dst, const StridedShape& s, int64_t n, size_t elem_bytes,
                    cudaStream_t stream);

}  // namespace ember::gpu
