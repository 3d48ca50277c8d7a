// Matrix-vector products for decode-style matmuls (M == 1 or N == 1) in float16,
// bfloat16 and float32, accumulating in float. Memory-bound: every weight byte
// is read once with 16-byte loads, so the aim is copy bandwidth. Used by
// backend/cuda/matmul.cpp only when EMBER_CUDA_GEMV=1 (bench_cuda compares it
// with cuBLASLt; it becomes the default only if it wins there).
//
// gemv_rows: y (rows,) = w (rows, K) @ x (K,), w rows contiguous (ld ldw): one
//   warp per output, a warp-wide dot product.
// gemv_cols: y (N,) = x (K,) @ b (K, N), b rows contiguous (ld ldb): each thread
//   owns 16 bytes of columns, 8 warps and `splits` blocks share K; partial sums
//   go to a float scratch (splits, N) and a second kernel adds them up.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "ember/backend/cuda/cuda.h"
#include "ember/backend/cuda/matmul_gemv.h"

namespace ember::gpu {

namespace {

__device__ __forceinline__ float to_f(float v) { return v; }
__device__ __forceinline__ float to_f(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_f(__nv_bfloat16 v) { return __bfloat162float(v); }

template <class T>
__device__ __forceinline__ T from_f(float v);
template <>
__device__ __forceinline__ float from_f<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ __half from_f<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

constexpr int kWarps = 8;

template <class T>
__global__ void gemv_rows_kernel(const T* __restrict__ w, const T* __restrict__ x, T* __restrict__ y, int64_t rows,
                                 int64_t K, int64_t ldw) {
  constexpr int V = 16 / sizeof(T);
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int64_t row = static_cast<int64_t>(blockIdx.x) * kWarps + warp;
  if (row >= rows) return;
  const uint4* wr = reinterpret_cast<const uint4*>(w + row * ldw);
  const uint4* xv = reinterpret_cast<const uint4*>(x);
  float acc = 0.0f;
  int64_t nv = K / V;  // the host guarantees K % V == 0
#pragma unroll 4
  for (int64_t i = lane; i < nv; i += 32) {
    uint4 wa = __ldcs(wr + i);  // weights are read once: stream them past L1
    uint4 xa = __ldg(xv + i);   // x is shared by every warp: keep it cached
    const T* wp = reinterpret_cast<const T*>(&wa);
    const T* xp = reinterpret_cast<const T*>(&xa);
#pragma unroll
    for (int j = 0; j < V; ++j) acc += to_f(wp[j]) * to_f(xp[j]);
  }
#pragma unroll
  for (int o = 16; o > 0; o /= 2) acc += __shfl_xor_sync(0xffffffffu, acc, o);
  if (lane == 0) y[row] = from_f<T>(acc);
}

// Block (32, kWarps): thread (tx, ty) owns columns [n0, n0 + V) and rows k0 + ty, k0 + ty + kWarps, ...
template <class T>
__global__ void gemv_cols_partial_kernel(const T* __restrict__ b, const T* __restrict__ x, float* __restrict__ partial,
                                         int64_t N, int64_t K, int64_t ldb, int64_t chunk) {
  constexpr int V = 16 / sizeof(T);
  __shared__ float red[kWarps][32 * V];
  int tx = threadIdx.x, ty = threadIdx.y;
  int64_t n0 = (static_cast<int64_t>(blockIdx.x) * 32 + tx) * V;
  int64_t k0 = static_cast<int64_t>(blockIdx.y) * chunk;
  int64_t k1 = k0 + chunk < K ? k0 + chunk : K;
  float acc[V];
#pragma unroll
  for (int j = 0; j < V; ++j) acc[j] = 0.0f;
  if (n0 < N) {  // the host guarantees N % V == 0, so a thread's columns are all in or all out
    int64_t k = k0 + ty;
    // Four rows per step: four independent 16-byte loads in flight per thread.
    for (; k + 3 * kWarps < k1; k += 4 * kWarps) {
      uint4 ba[4];
      float xk[4];
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        ba[u] = __ldcs(reinterpret_cast<const uint4*>(b + (k + u * kWarps) * ldb + n0));
        xk[u] = to_f(x[k + u * kWarps]);
      }
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const T* bp = reinterpret_cast<const T*>(&ba[u]);
#pragma unroll
        for (int j = 0; j < V; ++j) acc[j] += xk[u] * to_f(bp[j]);
      }
    }
    for (; k < k1; k += kWarps) {
      uint4 ba = __ldcs(reinterpret_cast<const uint4*>(b + k * ldb + n0));
      float xk = to_f(x[k]);
      const T* bp = reinterpret_cast<const T*>(&ba);
#pragma unroll
      for (int j = 0; j < V; ++j) acc[j] += xk * to_f(bp[j]);
    }
  }
#pragma unroll
  for (int j = 0; j < V; ++j) red[ty][tx * V + j] = acc[j];
  __syncthreads();
  // The block's 32 * V columns, summed over its warps by all its threads.
  int t = ty * 32 + tx;
  for (int c = t; c < 32 * V; c += 32 * kWarps) {
    float s = 0.0f;
#pragma unroll
    for (int r = 0; r < kWarps; ++r) s += red[r][c];
    int64_t n = static_cast<int64_t>(blockIdx.x) * 32 * V + c;
    if (n < N) partial[static_cast<int64_t>(blockIdx.y) * N + n] = s;
  }
}

template <class T>
__global__ void gemv_cols_finish_kernel(const float* __restrict__ partial, T* __restrict__ y, int64_t N, int splits) {
  int64_t n = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (n >= N) return;
  float s = 0.0f;
  for (int i = 0; i < splits; ++i) s += partial[static_cast<int64_t>(i) * N + n];
  y[n] = from_f<T>(s);
}

template <class T>
void rows_impl(const void* w, const void* x, void* y, int64_t rows, int64_t K, int64_t ldw, cudaStream_t stream) {
  unsigned blocks = static_cast<unsigned>((rows + kWarps - 1) / kWarps);
  launch_kernel(gemv_rows_kernel<T>, blocks, 32 * kWarps, 0, stream, static_cast<const T*>(w), static_cast<const T*>(x),
                static_cast<T*>(y), rows, K, ldw);
}

template <class T>
void cols_impl(const void* b, const void* x, void* y, int64_t N, int64_t K, int64_t ldb, float* partial, int splits,
               cudaStream_t stream) {
  constexpr int V = 16 / sizeof(T);
  int64_t chunk = (K + splits - 1) / splits;
  dim3 grid(static_cast<unsigned>((N + 32 * V - 1) / (32 * V)), static_cast<unsigned>(splits));
  launch_kernel(gemv_cols_partial_kernel<T>, grid, dim3(32, kWarps), 0, stream, static_cast<const T*>(b),
                static_cast<const T*>(x), partial, N, K, ldb, chunk);
  launch_kernel(gemv_cols_finish_kernel<T>, static_cast<unsigned>((N + 255) / 256), 256, 0, stream, partial,
                static_cast<T*>(y), N, splits);
}

}  // namespace

int gemv_cols_splits(int64_t N, int64_t K, int elem_bytes, int sm_count) {
  int64_t V = 16 / elem_bytes;
  int64_t col_blocks = (N + 32 * V - 1) / (32 * V);
  // About four blocks per SM in all, each with at least kWarps * 4 rows of K to stream.
  int64_t s = (4LL * sm_count + col_blocks - 1) / col_blocks;
  int64_t max_s = (K + kWarps * 4 - 1) / (kWarps * 4);
  if (s > max_s) s = max_s;
  if (s > 65535) s = 65535;
  return static_cast<int>(s < 1 ? 1 : s);
}

void gemv_rows(GemvType t, const void* w, const void* x, void* y, int64_t rows, int64_t K, int64_t ldw,
               cudaStream_t stream) {
  switch (t) {
    case GemvType::f16:
      rows_impl<__half>(w, x, y, rows, K, ldw, stream);
      break;
    case GemvType::bf16:
      rows_impl<__nv_bfloat16>(w, x, y, rows, K, ldw, stream);
      break;
    case GemvType::f32:
      rows_impl<float>(w, x, y, rows, K, ldw, stream);
      break;
  }
}

void gemv_cols(GemvType t, const void* b, const void* x, void* y, int64_t N, int64_t K, int64_t ldb, float* partial,
               int splits, cudaStream_t stream) {
  switch (t) {
    case GemvType::f16:
      cols_impl<__half>(b, x, y, N, K, ldb, partial, splits, stream);
      break;
    case GemvType::bf16:
      cols_impl<__nv_bfloat16>(b, x, y, N, K, ldb, partial, splits, stream);
      break;
    case GemvType::f32:
      cols_impl<float>(b, x, y, N, K, ldb, partial, splits, stream);
      break;
  }
}

}  // namespace ember::gpu
