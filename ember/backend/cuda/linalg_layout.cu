// Layout kernels of the cuSOLVER-backed linalg primitives (linalg.cpp): strided <->
// column-major matrix copies with an optional triangle mask, identity fills, LAPACK
// pivots -> permutations, and geev's real packing -> complex64.
//
// All are memory-bound copies over a few matrices; one thread per output element
// (or per matrix for the sequential pivot walk), grid-stride loops for any size.
#include <cuda_runtime.h>

#include <cstdint>

#include "ember/backend/cuda/cuda.h"
#include "ember/backend/cuda/linalg_layout.h"

namespace ember::gpu::linalg {

namespace {

constexpr int kThreads = 256;

unsigned blocks_for(int64_t n) {
  int64_t b = (n + kThreads - 1) / kThreads;
  if (b > 65535LL * 8) b = 65535LL * 8;  // grid-stride loops cover the rest
  return static_cast<unsigned>(b < 1 ? 1 : b);
}

// src: batch of strided matrices -> dst: batch of matrices with dst strides (c describes both).
// The flat index walks dst in storage order (rows fastest when dst is column-major),
// so consecutive threads write consecutive words.
template <class W>
__global__ void copy_matrices_kernel(const W* __restrict__ src, W* __restrict__ dst, MatrixCopy c, int64_t n) {
  const bool col_major = c.dst_rs == 1 && c.rows > 1;
  int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < n; t += stride) {
    int64_t per = c.rows * c.cols;
    int64_t b = t / per, e = t % per;
    int64_t i = col_major ? e % c.rows : e / c.cols;
    int64_t j = col_major ? e / c.rows : e % c.cols;
    W v = W(0);
    bool keep = c.keep == Keep::All || (c.keep == Keep::Lower ? j <= i : j >= i);
    if (keep) {
      int64_t loc = 0, idx = b;
      for (int d = c.nb - 1; d >= 0; --d) {
        loc += (idx % c.bshape[d]) * c.src_bstride[d];
        idx /= c.bshape[d];
      }
      v = src[loc + i * c.src_rs + j * c.src_cs];
    }
    dst[b * c.dst_bstride + i * c.dst_rs + j * c.dst_cs] = v;
  }
}

template <class T>
__global__ void fill_identity_kernel(T* __restrict__ dst, int64_t n, int64_t total) {
  int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total; t += stride) {
    int64_t e = t % (n * n);
    dst[t] = (e % n == e / n) ? T(1) : T(0);
  }
}

// One thread per matrix: the row swaps are sequential by nature (k is at most a few thousand).
__global__ void lu_pivots_kernel(const int64_t* __restrict__ ipiv, uint32_t* __restrict__ piv,
                                 uint32_t* __restrict__ perm, uint32_t* __restrict__ rows, int64_t m, int64_t k,
                                 int64_t count) {
  int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t b = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; b < count; b += stride) {
    const int64_t* ip = ipiv + b * k;
    uint32_t* r = rows + b * m;
    // r[i]: the row of A that ends up as row i of L U.
    for (int64_t i = 0; i < m; ++i) r[i] = static_cast<uint32_t>(i);
    for (int64_t i = 0; i < k; ++i) {
      int64_t p = ip[i] - 1;
      piv[b * k + i] = static_cast<uint32_t>(p);
      uint32_t tmp = r[i];
      r[i] = r[p];
      r[p] = tmp;
    }
    for (int64_t i = 0; i < m; ++i) perm[b * m + r[i]] = static_cast<uint32_t>(i);
  }
}

// One thread per output element: w (count, n) when v_out is null, else v (count, n, n).
// A conjugate pair (j, j + 1) has wi[j] > 0: column j holds the real part, j + 1 the imaginary.
template <class T>
__global__ void eig_vectors_kernel(const T* __restrict__ w_ri, const T* __restrict__ vr, float* __restrict__ v_out,
                                   int64_t n, int64_t total) {
  int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total; t += stride) {
    int64_t b = t / (n * n), e = t % (n * n), i = e / n, j = e % n;
    const T* wi = w_ri + b * 2 * n + n;
    const T* v = vr + b * n * n;
    float re, im;
    if (wi[j] == T(0)) {
      re = static_cast<float>(v[j * n + i]);
      im = 0.0f;
    } else if (wi[j] > T(0)) {
      re = static_cast<float>(v[j * n + i]);
      im = static_cast<float>(v[(j + 1) * n + i]);
    } else {
      re = static_cast<float>(v[(j - 1) * n + i]);
      im = -static_cast<float>(v[j * n + i]);
    }
    v_out[2 * t] = re;
    v_out[2 * t + 1] = im;
  }
}

template <class T>
__global__ void eig_values_kernel(const T* __restrict__ w_ri, float* __restrict__ w_out, int64_t n, int64_t total) {
  int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total; t += stride) {
    int64_t b = t / n, j = t % n;
    w_out[2 * t] = static_cast<float>(w_ri[b * 2 * n + j]);
    w_out[2 * t + 1] = static_cast<float>(w_ri[b * 2 * n + n + j]);
  }
}

template <class T>
void eig_launch(const void* w_ri, const void* vr, float* w_out, float* v_out, int64_t n, int64_t count,
                cudaStream_t stream) {
  int64_t nw = n * count;
  launch_kernel(eig_values_kernel<T>, blocks_for(nw), kThreads, 0, stream, static_cast<const T*>(w_ri), w_out, n, nw);
  if (v_out) {
    int64_t nv = n * n * count;
    launch_kernel(eig_vectors_kernel<T>, blocks_for(nv), kThreads, 0, stream, static_cast<const T*>(w_ri),
                  static_cast<const T*>(vr), v_out, n, nv);
  }
}

}  // namespace

void copy_matrices(const void* src, void* dst, const MatrixCopy& c, int64_t count, size_t elem_bytes,
                   cudaStream_t stream) {
  int64_t n = count * c.rows * c.cols;
  if (n == 0) return;
  if (elem_bytes == 8) {
    launch_kernel(copy_matrices_kernel<uint64_t>, blocks_for(n), kThreads, 0, stream, static_cast<const uint64_t*>(src),
                  static_cast<uint64_t*>(dst), c, n);
  } else {
    launch_kernel(copy_matrices_kernel<uint32_t>, blocks_for(n), kThreads, 0, stream, static_cast<const uint32_t*>(src),
                  static_cast<uint32_t*>(dst), c, n);
  }
}

void fill_identity(void* dst, int64_t n, int64_t count, size_t elem_bytes, cudaStream_t stream) {
  int64_t total = n * n * count;
  if (total == 0) return;
  if (elem_bytes == 8) {
    launch_kernel(fill_identity_kernel<double>, blocks_for(total), kThreads, 0, stream, static_cast<double*>(dst), n,
                  total);
  } else {
    launch_kernel(fill_identity_kernel<float>, blocks_for(total), kThreads, 0, stream, static_cast<float*>(dst), n,
                  total);
  }
}

void lu_pivots(const int64_t* ipiv, uint32_t* piv, uint32_t* perm, uint32_t* rows, int64_t m, int64_t k, int64_t count,
               cudaStream_t stream) {
  if (count == 0) return;
  // Few threads per block: each walks a whole matrix's pivots.
  constexpr int kPerBlock = 64;
  unsigned blocks = static_cast<unsigned>((count + kPerBlock - 1) / kPerBlock);
  if (blocks > 65535u * 8) blocks = 65535u * 8;
  launch_kernel(lu_pivots_kernel, blocks, kPerBlock, 0, stream, ipiv, piv, perm, rows, m, k, count);
}

void eig_to_complex(const void* w_ri, const void* vr, float* w_out, float* v_out, int64_t n, int64_t count,
                    size_t elem_bytes, cudaStream_t stream) {
  if (n * count == 0) return;
  if (elem_bytes == 8) {
    eig_launch<double>(w_ri, vr, w_out, v_out, n, count, stream);
  } else {
    eig_launch<float>(w_ri, vr, w_out, v_out, n, count, stream);
  }
}

}  // namespace ember::gpu::linalg
