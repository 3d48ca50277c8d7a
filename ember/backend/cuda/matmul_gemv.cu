// Matrix-vector products for decode-style matmuls (M == 1 or N == 1) in float16,
// bfloat16 and float32, accumulating in float. Memory-bound: every weight byte
// is read once with 16-byte loads, so the aim is copy bandwidth, and each
// product is one launch (a cuBLASLt call costs the host several microseconds,
// more than a small product's kernel).
//
// gemv_rows: y (rows,) = w (rows, K) @ x (K,), w rows contiguous (ld ldw): one
//   warp per output, a warp-wide dot product.
// gemv_cols: y (N,) = x (K,) @ b (K, N), b rows contiguous (ld ldb): each thread
//   owns 16 bytes of columns, 8 warps and `splits` blocks share K; each block
//   writes its partial sums to a float scratch (splits, N), and the last block
//   of a column tile to finish (an atomic count per tile) adds them up.
//
// try_gemv picks the kernel for a product's layout; backend/cuda/matmul.cpp calls
// it for M == 1 or N == 1, and the emulated build runs it on the CPU emulator.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "ember/array.h"
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

// Block (32, kWarps): thread (tx, ty) owns columns [n0, n0 + V) (a warp reads 32 * 16 bytes of
// each row) and rows k0 + ty, k0 + ty + kWarps, ... of split blockIdx.y. The block's sums go to
// partial[blockIdx.y]; the last block of the column tile to finish adds the splits up into y and
// re-arms the tile's counter. (Blocks of 2, 4 or 8 warps side by side on a row, reading longer
// runs, measured slower on an H100: 18.2, 22.5 and 32.6 us against 16.3 for 1x4096x4096 f16.)
template <class T>
__global__ void gemv_cols_kernel(const T* __restrict__ b, const T* __restrict__ x, T* __restrict__ y,
                                 float* __restrict__ partial, unsigned* __restrict__ counters, int64_t N, int64_t K,
                                 int64_t ldb, int64_t chunk) {
  constexpr int V = 16 / sizeof(T);
  constexpr int U = 8;        // rows per step: eight independent 16-byte loads in flight per thread
  constexpr int RY = kWarps;  // rows of threads
  constexpr int TW = 32 * V;  // columns per block
  __shared__ float red[RY][TW];
  __shared__ bool last;
  const int tx = threadIdx.x, ty = threadIdx.y, t = ty * 32 + tx;
  const int64_t tile0 = static_cast<int64_t>(blockIdx.x) * TW;
  const int64_t n0 = tile0 + static_cast<int64_t>(tx) * V;
  const int64_t k0 = static_cast<int64_t>(blockIdx.y) * chunk;
  const int64_t k1 = k0 + chunk < K ? k0 + chunk : K;
  float acc[V];
#pragma unroll
  for (int j = 0; j < V; ++j) acc[j] = 0.0f;
  if (n0 < N) {  // the host guarantees N % V == 0, so a thread's columns are all in or all out
    int64_t k = k0 + ty;
    for (; k + (U - 1) * RY < k1; k += U * RY) {
      uint4 ba[U];
      float xk[U];
#pragma unroll
      for (int u = 0; u < U; ++u) {
        ba[u] = __ldcs(reinterpret_cast<const uint4*>(b + (k + u * RY) * ldb + n0));
        xk[u] = to_f(__ldg(x + k + u * RY));
      }
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const T* bp = reinterpret_cast<const T*>(&ba[u]);
#pragma unroll
        for (int j = 0; j < V; ++j) acc[j] += xk[u] * to_f(bp[j]);
      }
    }
    for (; k < k1; k += RY) {
      uint4 ba = __ldcs(reinterpret_cast<const uint4*>(b + k * ldb + n0));
      float xk = to_f(__ldg(x + k));
      const T* bp = reinterpret_cast<const T*>(&ba);
#pragma unroll
      for (int j = 0; j < V; ++j) acc[j] += xk * to_f(bp[j]);
    }
  }
#pragma unroll
  for (int j = 0; j < V; ++j) red[ty][tx * V + j] = acc[j];
  __syncthreads();
  // The block's columns, summed over its rows of threads by all its threads.
  const bool single = gridDim.y == 1;
  for (int c = t; c < TW; c += 32 * kWarps) {
    float s = 0.0f;
#pragma unroll
    for (int r = 0; r < RY; ++r) s += red[r][c];
    const int64_t n = tile0 + c;
    if (n >= N) continue;
    if (single) {
      y[n] = from_f<T>(s);
    } else {
      partial[static_cast<int64_t>(blockIdx.y) * N + n] = s;
    }
  }
  if (single) return;
  // Publish the partial sums, then count this block in; the last one of the tile reduces.
  __threadfence();
  __syncthreads();
  if (t == 0) last = atomicAdd(&counters[blockIdx.x], 1u) == gridDim.y - 1;
  __syncthreads();
  if (!last) return;
  __threadfence();
  for (int c = t; c < TW; c += 32 * kWarps) {
    const int64_t n = tile0 + c;
    if (n >= N) continue;
    float s = 0.0f;
    for (unsigned i = 0; i < gridDim.y; ++i) s += __ldcg(partial + static_cast<int64_t>(i) * N + n);
    y[n] = from_f<T>(s);
  }
  if (t == 0) counters[blockIdx.x] = 0;
}

template <class T>
void rows_impl(const void* w, const void* x, void* y, int64_t rows, int64_t K, int64_t ldw, cudaStream_t stream) {
  unsigned blocks = static_cast<unsigned>((rows + kWarps - 1) / kWarps);
  launch_kernel(gemv_rows_kernel<T>, blocks, 32 * kWarps, 0, stream, static_cast<const T*>(w), static_cast<const T*>(x),
                static_cast<T*>(y), rows, K, ldw);
}

template <class T>
void cols_impl(const void* b, const void* x, void* y, int64_t N, int64_t K, int64_t ldb, float* partial,
               unsigned* counters, int splits, cudaStream_t stream) {
  constexpr int V = 16 / sizeof(T);
  int64_t chunk = (K + splits - 1) / splits;
  dim3 grid(static_cast<unsigned>((N + 32 * V - 1) / (32 * V)), static_cast<unsigned>(splits));
  launch_kernel(gemv_cols_kernel<T>, grid, dim3(32, kWarps), 0, stream, static_cast<const T*>(b),
                static_cast<const T*>(x), static_cast<T*>(y), partial, counters, N, K, ldb, chunk);
}

}  // namespace

int gemv_cols_splits(int64_t N, int64_t K, int elem_bytes, int sm_count) {
  int64_t V = 16 / elem_bytes;
  int64_t col_blocks = (N + 32 * V - 1) / (32 * V);
  // About four blocks per SM in all, each with at least one full step (kWarps * 8 rows) of K.
  int64_t s = (4LL * sm_count + col_blocks - 1) / col_blocks;
  int64_t max_s = (K + kWarps * 8 - 1) / (kWarps * 8);
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
               unsigned* counters, int splits, cudaStream_t stream) {
  switch (t) {
    case GemvType::f16:
      cols_impl<__half>(b, x, y, N, K, ldb, partial, counters, splits, stream);
      break;
    case GemvType::bf16:
      cols_impl<__nv_bfloat16>(b, x, y, N, K, ldb, partial, counters, splits, stream);
      break;
    case GemvType::f32:
      cols_impl<float>(b, x, y, N, K, ldb, partial, counters, splits, stream);
      break;
  }
}

unsigned* gemv_counters(size_t n, cudaStream_t stream) {
  // One zeroed block per stream, grown as needed; the kernels leave every counter at zero.
  static std::mutex mu;
  static auto* blocks = new std::unordered_map<cudaStream_t, std::shared_ptr<Data>>;  // leaked, as buffers outlive main
  std::lock_guard lk(mu);
  auto& d = (*blocks)[stream];
  if (!d || d->bytes < n * sizeof(unsigned)) {
    size_t bytes = std::max<size_t>(n, 1024) * sizeof(unsigned);
    d = alloc_device(bytes, stream);
    EMBER_CUDA_CHECK(cudaMemsetAsync(d->device_ptr, 0, bytes, stream));
  }
  return static_cast<unsigned*>(d->device_ptr);
}

namespace {
bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }
}  // namespace

namespace {
std::atomic<int64_t> g_columns_limit{int64_t{32} << 20};
}  // namespace

void set_gemv_columns_limit(int64_t bytes) { g_columns_limit.store(bytes, std::memory_order_relaxed); }
int64_t gemv_columns_limit() { return g_columns_limit.load(std::memory_order_relaxed); }

bool try_gemv(const array& a, const array& b, array& out, cudaStream_t stream) {
  GemvType t;
  switch (out.dtype().val) {
    case Dtype::Val::float16:
      t = GemvType::f16;
      break;
    case Dtype::Val::bfloat16:
      t = GemvType::bf16;
      break;
    case Dtype::Val::float32:
      t = GemvType::f32;
      break;
    default:
      return false;
  }
  if (a.dtype() != out.dtype() || b.dtype() != out.dtype()) return false;
  size_t nd = out.ndim();
  if (nd < 2 || a.ndim() != nd || b.ndim() != nd) return false;
  const int64_t M = out.shape(-2), N = out.shape(-1), K = a.shape(-1);
  if ((M != 1 && N != 1) || static_cast<int64_t>(out.size()) != M * N || K == 0) return false;
  const int64_t isz = static_cast<int64_t>(out.itemsize()), V = 16 / isz;
  const int64_t a_rs = a.strides()[nd - 2], a_cs = a.strides()[nd - 1];
  const int64_t b_rs = b.strides()[nd - 2], b_cs = b.strides()[nd - 1];
  // The matrix w of the rows kernel, or b of the columns kernel, and the vector x.
  const array* mat = nullptr;
  const array* vec = nullptr;
  bool rows_kernel = false;
  int64_t rows = 0, ld = 0;
  if (M == 1 && (a_cs == 1 || K == 1)) {
    vec = &a;
    mat = &b;
    if (b_rs == 1 && (N == 1 || b_cs >= K)) {
      rows_kernel = true;  // b column-major: its columns are w's rows
      rows = N;
      ld = N == 1 ? K : b_cs;
    } else if (b_cs == 1 && (K == 1 || b_rs >= N)) {
      ld = K == 1 ? N : b_rs;  // b row-major
    } else {
      return false;
    }
  } else if (N == 1 && (b_rs == 1 || K == 1)) {
    vec = &b;
    mat = &a;
    if (a_cs == 1 && (M == 1 || a_rs >= K)) {
      rows_kernel = true;  // a row-major
      rows = M;
      ld = M == 1 ? K : a_rs;
    } else if (a_rs == 1 && (K == 1 || a_cs >= M)) {
      ld = K == 1 ? M : a_cs;  // a column-major: a^T (K, M) row-major
    } else {
      return false;
    }
  } else {
    return false;
  }
  const int64_t cols = M == 1 ? N : M;  // outputs of the columns kernel
  if (rows_kernel ? K % V != 0 : cols % V != 0) return false;
  // Column-layout products over gemv_columns_limit() (32 MiB) go to cuBLASLt. Measured end to
  // end, 32 products per eval, 1x4096x4096 float16 (32 MiB): on an H200 the columns kernel took
  // 17.8 us against 22.4 through cuBLASLt (whose call costs the host several microseconds more
  // than a launch); on an H100, 20.7 against 19.9. A float32 4096x4096 (64 MiB) took the same
  // time both ways on the H200 (24.2 against 24.0 us), so it stays with cuBLASLt.
  if (!rows_kernel && cols * K * isz > gemv_columns_limit()) return false;
  if ((ld * isz) % 16 != 0) return false;
  const void* mp = device_ptr(*mat, stream);
  const void* vp = device_ptr(*vec, stream);
  if (!aligned16(mp) || !aligned16(vp)) return false;
  void* o = alloc_output(out, stream);
  if (rows_kernel) {
    gemv_rows(t, mp, vp, o, rows, K, ld, stream);
    check_launch("gemv_rows", __FILE__, __LINE__);
  } else {
    int splits = gemv_cols_splits(cols, K, static_cast<int>(isz), device_props().multiProcessorCount);
    auto* partial = static_cast<float*>(workspace(static_cast<size_t>(splits) * cols * sizeof(float), stream));
    unsigned* counters = gemv_counters(static_cast<size_t>((cols + 32 * V - 1) / (32 * V)), stream);
    gemv_cols(t, mp, vp, o, cols, K, ld, partial, counters, splits, stream);
    check_launch("gemv_cols", __FILE__, __LINE__);
  }
  return true;
}

}  // namespace ember::gpu
