// CUDA kernels of the quantized ops (ember/quantized.h): Dequantize, QuantizedMatmul and
// GatherQMM, with the CPU kernels' layout and arithmetic (backend/cpu/quantized.cpp): codes are
// an LSB-first bitstream per row of wq, w = scale * code + bias per group, and everything is
// computed in float32 whatever the scales' dtype, then rounded to the output dtype once.
//
// dequantize_kernel: one thread per output element.
// qmv_kernel: y (M, N) = x (M, K) @ w.T for few rows of x (decode): S warps share R rows of w
//   and MT rows of x; each lane takes chunks of 32 codes (`bits` words, so a chunk never splits
//   a code), sums code * x per half chunk (16 codes: groups of 16 fit) and applies that group's
//   scale, plus bias * sum(x). grid.y walks tiles of MT rows of x, grid.z the
//   products of a gather (GatherQMM: the matrices of x and w come from index arrays, checked on
//   the device). Weights are read once per tile of x, in 16-byte loads where aligned.
// Larger products (QuantizedMatmul with many rows of x, or x @ w) dequantize w to float32
//   scratch and run cuBLASLt's float32 product (no TF32), as the CPU runs sgemm; the emulated
//   build has no cuBLASLt and runs those on the CPU kernel instead.
// int8 activations (quantized_matmul_int8_activations) are a CPU kernel's choice: on the GPU
// the op equals quantized_matmul, as documented.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <typeindex>

#include "ember/backend/cuda/cuda.h"
#include "ember/backend/cuda/quantized.h"
#include "ember/primitives_quantized.h"

namespace ember::gpu {
namespace {

// Scale/bias and output dtypes, passed to kernels at run time (one conversion per group or
// per output: not worth a template instance each).
enum class FloatKind : int { f32, f16, bf16, f64 };

bool float_kind(Dtype t, FloatKind& k) {
  if (t == float32) {
    k = FloatKind::f32;
  } else if (t == float16) {
    k = FloatKind::f16;
  } else if (t == bfloat16) {
    k = FloatKind::bf16;
  } else if (t == float64) {
    k = FloatKind::f64;
  } else {
    return false;
  }
  return true;
}

__device__ __forceinline__ float load_f(const void* p, int64_t i, FloatKind k) {
  switch (k) {
    case FloatKind::f16:
      return __half2float(static_cast<const __half*>(p)[i]);
    case FloatKind::bf16:
      return __bfloat162float(static_cast<const __nv_bfloat16*>(p)[i]);
    case FloatKind::f64:
      return static_cast<float>(static_cast<const double*>(p)[i]);
    default:
      return static_cast<const float*>(p)[i];
  }
}

__device__ __forceinline__ void store_f(void* p, int64_t i, float v, FloatKind k) {
  switch (k) {
    case FloatKind::f16:
      static_cast<__half*>(p)[i] = __float2half_rn(v);
      break;
    case FloatKind::bf16:
      static_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16_rn(v);
      break;
    case FloatKind::f64:
      static_cast<double*>(p)[i] = static_cast<double>(v);
      break;
    default:
      static_cast<float*>(p)[i] = v;
  }
}

// Code j of the packed row `row` (W words): bits [j * bits, (j + 1) * bits) of its bitstream.
__device__ __forceinline__ uint32_t extract(const uint32_t* row, int64_t j, int bits, int64_t W) {
  const int64_t off = j * bits, word = off >> 5;
  const int sh = static_cast<int>(off & 31);
  uint64_t v = row[word] >> sh;
  if (sh + bits > 32 && word + 1 < W) v |= static_cast<uint64_t>(row[word + 1]) << (32 - sh);
  return static_cast<uint32_t>(v) & ((1u << bits) - 1u);
}

struct Packed {
  const uint32_t* w = nullptr;  // (B, R, W)
  const void* sc = nullptr;     // (B, R, G)
  const void* bi = nullptr;     // or null: codes offset by half their range, bias = -2^(bits - 1) * scale
  FloatKind st = FloatKind::f32;
  int64_t R = 0, W = 0, G = 0;  // rows, words and groups per row
  int gs = 64, bits = 4;
};

// out (B * R, K) = dequantized rows, in the output kind.
__global__ void __launch_bounds__(256) dequantize_kernel(Packed p, int64_t K, int64_t n, void* out, FloatKind ok) {
  const int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= n) return;
  const int64_t r = e / K, j = e - r * K, g = r * p.G + j / p.gs;
  const float q = static_cast<float>(extract(p.w + r * p.W, j, p.bits, p.W));
  const float s = load_f(p.sc, g, p.st);
  // Rounded as the CPU kernel rounds (the product, then the sum): a fused multiply-add would
  // differ in the last place, which the cancellation against the bias makes large.
  const float b = p.bi ? load_f(p.bi, g, p.st) : __fmul_rn(-static_cast<float>(1 << (p.bits - 1)), s);
  store_f(out, e, __fadd_rn(__fmul_rn(s, q), b), ok);
}

constexpr int kWarps = 8;  // per block of qmv_kernel

struct QmvArgs {
  const float* x = nullptr;  // (Bx, M, K) row-contiguous
  Packed w;                  // (Bw, N, W)
  void* y = nullptr;         // (L, M, N) in kind `yk`
  FloatKind yk = FloatKind::f32;
  const uint32_t* li = nullptr;  // (L,) matrices of x and w per product, or null (product l uses l)
  const uint32_t* ri = nullptr;
  int64_t Bx = 1, Bw = 1;
  int64_t M = 0, K = 0;
  bool vec = false;                   // w rows and chunks 16-byte aligned (bits 4 and 8)
  unsigned long long* err = nullptr;  // {flag, index, which (0 x, 1 w)}
};

// The words of chunk c of one row (zeros past the row's end; 16-byte loads when aligned).
template <int BITS>
__device__ __forceinline__ void load_chunk(const uint32_t* row, int64_t c, int64_t W, bool vec, uint32_t (&v)[BITS]) {
  const int64_t w0 = c * BITS;
  if constexpr (BITS == 4 || BITS == 8) {
    if (vec && w0 + BITS <= W) {
#pragma unroll
      for (int i = 0; i < BITS; i += 4) {
        const uint4 u = *reinterpret_cast<const uint4*>(row + w0 + i);
        v[i] = u.x;
        v[i + 1] = u.y;
        v[i + 2] = u.z;
        v[i + 3] = u.w;
      }
      return;
    }
  }
#pragma unroll
  for (int i = 0; i < BITS; ++i) v[i] = w0 + i < W ? row[w0 + i] : 0u;
}

// Code i (0..31) of a chunk held in v, as a float: the code's bits under the exponent of 2^23
// give 2^23 + code exactly, and one subtraction leaves the code (no integer conversion, which
// runs at a quarter of the float rate).
template <int BITS>
__device__ __forceinline__ float code(const uint32_t (&v)[BITS], int i) {
  const int off = i * BITS, word = off >> 5, sh = off & 31;
  uint32_t q = v[word] >> sh;
  if (sh + BITS > 32) q |= v[word + 1] << (32 - sh);
  return __uint_as_float(0x4B000000u | (q & ((1u << BITS) - 1u))) - 8388608.0f;
}

// x staged in shared memory (SX): chunk c's 32 floats at c * 32, rotated by 4 (c % 8) floats
// within the chunk, so that the float4 reads of 8 lanes on consecutive chunks hit 32 distinct
// banks (read from global memory, lanes 128 bytes apart touch a cache line each: 8 float4
// loads per chunk cost the L1 32 wavefronts each, which bounded the kernel).
__device__ __forceinline__ int64_t staged_index(int64_t c, int j) { return c * 32 + ((j + 4 * (c & 7)) & 31); }

// A group of S warps owns R rows of w and MT rows of x (a block holds kWarps / S groups; blocks
// walk tiles of rows, gridDim.x apart). Warp p of a group takes chunks 32 p + lane, then 32 S
// further on, and so on, so each warp reads consecutive chunks; the group's partial sums meet in
// shared memory. Four accumulators per row and row of x keep the multiply-adds independent.
template <int MT, int BITS, int R, int S, bool SX>
__global__ void __launch_bounds__(kWarps * 32) qmv_kernel(QmvArgs a) {
  static_assert(kWarps % S == 0, "a block holds whole groups");
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, part = warp % S, group = warp / S;
  const int64_t l = blockIdx.z;
  int64_t xm = l, wm = l;  // this product's matrices of x and w
  if (a.li) {
    xm = a.li[l];
    wm = a.ri[l];
    if (xm >= a.Bx || wm >= a.Bw) {  // the whole block leaves (l is the block's)
      if (threadIdx.x == 0 && atomicCAS(a.err, 0ull, 1ull) == 0ull) {
        a.err[1] = xm >= a.Bx ? xm : wm;
        a.err[2] = xm >= a.Bx ? 0 : 1;
      }
      return;
    }
  }
  const int64_t N = a.w.R, K = a.K, W = a.w.W, G = a.w.G;
  const int64_t m0 = static_cast<int64_t>(blockIdx.y) * MT;
  const float* x = a.x + (xm * a.M + m0) * K;
  const int mt = static_cast<int>(min(static_cast<int64_t>(MT), a.M - m0));
  const int64_t all_chunks = (K + 31) / 32;
  const float* sx = nullptr;  // x staged: row m at m * 32 * all_chunks
  if constexpr (SX) {
    EMBER_DYNAMIC_SHARED(float, staged);
    const int64_t quads = all_chunks * 8;  // float4s per row, zeros past K
    for (int m = 0; m < mt; ++m) {
      for (int64_t e = threadIdx.x; e < quads; e += kWarps * 32) {
        const int64_t c = e / 8;
        const int j = static_cast<int>(e % 8) * 4;
        const int64_t k = c * 32 + j;
        const float4 v = k < K ? *reinterpret_cast<const float4*>(x + m * K + k) : make_float4(0.f, 0.f, 0.f, 0.f);
        *reinterpret_cast<float4*>(staged + m * 32 * all_chunks + staged_index(c, j)) = v;
      }
    }
    __syncthreads();
    sx = staged;
  }
  const int64_t tiles = (N + kWarps / S * R - 1) / (kWarps / S * R);
  for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const int64_t n0 = (tile * (kWarps / S) + group) * R;
    const bool active = n0 < N;  // no early return: the block meets at a barrier below
    const uint32_t* rows[R];
    int64_t grow[R];  // each row's first group
#pragma unroll
    for (int r = 0; r < R; ++r) {
      const int64_t n = max(int64_t(0), min(n0 + r, N - 1));  // a missing row repeats one before, unused
      rows[r] = a.w.w + (wm * N + n) * W;
      grow[r] = (wm * N + n) * G;
    }
    float acc[MT][R] = {};
    const int64_t chunks = active ? all_chunks : 0;
    for (int64_t c = static_cast<int64_t>(part) * 32 + lane; c < chunks; c += 32 * S) {
      uint32_t v[R][BITS];
#pragma unroll
      for (int r = 0; r < R; ++r) load_chunk<BITS>(rows[r], c, W, a.vec, v[r]);
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int64_t k0 = c * 32 + h * 16;
        if (k0 >= K) break;  // K is a multiple of 16: only the last chunk can be half full
        const int64_t g = k0 / a.w.gs;
        float s[R], b[R];
#pragma unroll
        for (int r = 0; r < R; ++r) {
          s[r] = load_f(a.w.sc, grow[r] + g, a.w.st);
          b[r] = a.w.bi ? load_f(a.w.bi, grow[r] + g, a.w.st) : -static_cast<float>(1 << (BITS - 1)) * s[r];
        }
#pragma unroll
        for (int m = 0; m < MT; ++m) {
          if (m >= mt) break;
          float dot[R][4] = {}, xs[4] = {};
#pragma unroll
          for (int q = 0; q < 16; q += 4) {
            float4 xv;
            if constexpr (SX) {
              xv = *reinterpret_cast<const float4*>(sx + m * 32 * all_chunks + staged_index(c, h * 16 + q));
            } else {
              xv = *reinterpret_cast<const float4*>(x + m * K + k0 + q);
            }
            xs[0] += xv.x;
            xs[1] += xv.y;
            xs[2] += xv.z;
            xs[3] += xv.w;
            const int i = h * 16 + q;
#pragma unroll
            for (int r = 0; r < R; ++r) {
              dot[r][0] += code<BITS>(v[r], i) * xv.x;
              dot[r][1] += code<BITS>(v[r], i + 1) * xv.y;
              dot[r][2] += code<BITS>(v[r], i + 2) * xv.z;
              dot[r][3] += code<BITS>(v[r], i + 3) * xv.w;
            }
          }
          const float xsum = (xs[0] + xs[1]) + (xs[2] + xs[3]);
#pragma unroll
          for (int r = 0; r < R; ++r) {
            acc[m][r] += s[r] * ((dot[r][0] + dot[r][1]) + (dot[r][2] + dot[r][3])) + b[r] * xsum;
          }
        }
      }
    }
#pragma unroll
    for (int m = 0; m < MT; ++m) {
#pragma unroll
      for (int r = 0; r < R; ++r) {
        float v = acc[m][r];
#pragma unroll
        for (int d = 16; d > 0; d >>= 1) v += __shfl_xor_sync(0xffffffffu, v, d);
        acc[m][r] = v;
      }
    }
    if constexpr (S > 1) {
      __shared__ float partial[kWarps][MT][R];
      if (lane == 0) {
#pragma unroll
        for (int m = 0; m < MT; ++m) {
#pragma unroll
          for (int r = 0; r < R; ++r) partial[warp][m][r] = acc[m][r];
        }
      }
      __syncthreads();
      if (part == 0 && lane == 0) {
#pragma unroll
        for (int m = 0; m < MT; ++m) {
#pragma unroll
          for (int r = 0; r < R; ++r) {
            float t = 0.0f;
#pragma unroll
            for (int p = 0; p < S; ++p) t += partial[warp + p][m][r];
            acc[m][r] = t;
          }
        }
      }
      __syncthreads();  // partial is rewritten by the next tile
    }
    if (lane == 0 && part == 0 && active) {
      for (int m = 0; m < mt; ++m) {
#pragma unroll
        for (int r = 0; r < R; ++r) {
          if (n0 + r < N) store_f(a.y, (l * a.M + m0 + m) * N + n0 + r, acc[m][r], a.yk);
        }
      }
    }
  }
}

// Rows of w per group of warps (R), warps per group (S), x staged in shared memory or read from
// global memory, and blocks per multiprocessor at most (0: a block per tile of rows): the
// default, and a choice for benchmarks (set_qmv_config) that applies to 4-bit single-row products.
struct QmvConfig {
  int rows = 2, split = 2;  // of those measured on an H100 (bench/GPU_NOTES.md), near the best
  bool stage = true;
  int blocks_per_sm = 0;
};
QmvConfig g_qmv_override{0, 0};  // rows 0: none

template <int MT, int BITS, bool SX>
void launch_qmv_config(const QmvArgs& a, const dim3& grid, size_t shared, int R, int S, cudaStream_t stream) {
  auto go = [&](auto kernel) { launch_kernel(kernel, grid, kWarps * 32, shared, stream, a); };
  if constexpr (MT == 1 && BITS == 4) {
    if (R == 1 && S == 1) return go(qmv_kernel<MT, BITS, 1, 1, SX>);
    if (R == 1 && S == 2) return go(qmv_kernel<MT, BITS, 1, 2, SX>);
    if (R == 1 && S == 4) return go(qmv_kernel<MT, BITS, 1, 4, SX>);
    if (R == 2 && S == 1) return go(qmv_kernel<MT, BITS, 2, 1, SX>);
    if (R == 2 && S == 4) return go(qmv_kernel<MT, BITS, 2, 4, SX>);
    if (R == 4 && S == 1) return go(qmv_kernel<MT, BITS, 4, 1, SX>);
    if (R == 4 && S == 2) return go(qmv_kernel<MT, BITS, 4, 2, SX>);
  }
  (void)R;
  (void)S;
  go(qmv_kernel<MT, BITS, 2, 2, SX>);
}

template <int MT, bool SX>
void launch_qmv_bits(const QmvArgs& a, const dim3& grid, size_t shared, int R, int S, cudaStream_t stream) {
  switch (a.w.bits) {
    case 2:
      return launch_qmv_config<MT, 2, SX>(a, grid, shared, R, S, stream);
    case 3:
      return launch_qmv_config<MT, 3, SX>(a, grid, shared, R, S, stream);
    case 4:
      return launch_qmv_config<MT, 4, SX>(a, grid, shared, R, S, stream);
    case 5:
      return launch_qmv_config<MT, 5, SX>(a, grid, shared, R, S, stream);
    case 6:
      return launch_qmv_config<MT, 6, SX>(a, grid, shared, R, S, stream);
    default:
      return launch_qmv_config<MT, 8, SX>(a, grid, shared, R, S, stream);
  }
}

template <int MT>
void launch_qmv_tile(const QmvArgs& a, const dim3& grid, size_t shared, int R, int S, cudaStream_t stream) {
  if (shared > 0) {
    launch_qmv_bits<MT, true>(a, grid, shared, R, S, stream);
  } else {
    launch_qmv_bits<MT, false>(a, grid, shared, R, S, stream);
  }
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Queues the qmv kernel for L products of M rows; false (nothing queued) if a grid axis is too long.
bool launch_qmv(QmvArgs a, int64_t L, cudaStream_t stream) {
  const int MT = a.M == 1 ? 1 : a.M == 2 ? 2 : 4;
  const QmvConfig cfg = g_qmv_override.rows > 0 && MT == 1 && a.w.bits == 4 ? g_qmv_override : QmvConfig{};
  const int64_t per_block = kWarps / cfg.split * cfg.rows;
  int64_t bx = (a.w.R + per_block - 1) / per_block;
  const int64_t by = (a.M + MT - 1) / MT;
  if (bx > 0x7fffffff || by > 65535 || L > 65535) return false;
  if (cfg.blocks_per_sm > 0)
    bx = std::min<int64_t>(bx, int64_t{cfg.blocks_per_sm} * device_props().multiProcessorCount);
  a.vec = (a.w.bits == 4 || a.w.bits == 8) && a.w.W % 4 == 0 && aligned16(a.w.w);
  // x staged in shared memory where MT rows of it fit the 48 KB a block has without opting in.
  const size_t staged = static_cast<size_t>(MT) * static_cast<size_t>((a.K + 31) / 32) * 32 * sizeof(float);
  const size_t shared = cfg.stage && staged <= 48 * 1024 ? staged : 0;
  const dim3 grid(static_cast<unsigned>(bx), static_cast<unsigned>(by), static_cast<unsigned>(L));
  if (MT == 1) {
    launch_qmv_tile<1>(a, grid, shared, cfg.rows, cfg.split, stream);
  } else if (MT == 2) {
    launch_qmv_tile<2>(a, grid, shared, cfg.rows, cfg.split, stream);
  } else {
    launch_qmv_tile<4>(a, grid, shared, cfg.rows, cfg.split, stream);
  }
  EMBER_CUDA_CHECK_LAUNCH("qmv_kernel");
  return true;
}

// The packed operand's layout, or false (decline) for layouts and dtypes the kernels do not take.
// bi: the biases, or null (codes offset by half their range).
bool packed_of(const array& wq, const array& sc, const array* bi, int gs, int bits, Packed& p) {
  if (!wq.flags().row_contiguous || !sc.flags().row_contiguous || (bi && !bi->flags().row_contiguous)) return false;
  if ((bi && sc.dtype() != bi->dtype()) || !float_kind(sc.dtype(), p.st)) return false;
  p.W = wq.shape(-1);
  p.G = sc.shape(-1);
  p.R = wq.shape(-2);
  p.gs = gs;
  p.bits = bits;
  return true;
}

void set_device_pointers(Packed& p, const array& wq, const array& sc, const array* bi, cudaStream_t stream) {
  p.w = static_cast<const uint32_t*>(device_ptr(wq, stream));
  p.sc = device_ptr(sc, stream);
  p.bi = bi ? device_ptr(*bi, stream) : nullptr;
}

// out (..., K) in the kind `ok` = the dequantized rows of p (n elements in all).
void launch_dequantize(const Packed& p, int64_t K, int64_t n, void* out, FloatKind ok, cudaStream_t stream) {
  if (n == 0) return;
  launch_kernel(dequantize_kernel, ceil_div(static_cast<size_t>(n), 256), 256, 0, stream, p, K, n, out, ok);
  EMBER_CUDA_CHECK_LAUNCH("dequantize_kernel");
}

bool eval_dequantize(Primitive& prim, const std::vector<array>& inputs, std::vector<array>& outputs,
                     cudaStream_t stream) {
  auto& op = static_cast<Dequantize&>(prim);
  array& out = outputs[0];
  Packed p;
  FloatKind ok;
  const array* bi = inputs.size() > 2 ? &inputs[2] : nullptr;
  if (!packed_of(inputs[0], inputs[1], bi, op.group_size(), op.bits(), p) || !float_kind(out.dtype(), ok)) {
    return false;
  }
  void* o = alloc_output(out, stream);
  if (out.size() == 0) return true;
  set_device_pointers(p, inputs[0], inputs[1], bi, stream);
  launch_dequantize(p, out.shape(-1), static_cast<int64_t>(out.size()), o, ok, stream);
  return true;
}

__global__ void __launch_bounds__(256) store_kernel(const float* __restrict__ y, void* out, int64_t n, FloatKind ok) {
  const int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e < n) store_f(out, e, y[e], ok);
}

// Up to this many rows of x, x @ w.T runs the qmv kernel; beyond, dequantized w and cuBLASLt.
constexpr int64_t kQmvRows = 16;

Strides row_major(const Shape& shape) {
  Strides st(shape.size(), 1);
  for (int d = static_cast<int>(shape.size()) - 2; d >= 0; --d) st[d] = st[d + 1] * shape[d + 1];
  return st;
}

// out (M, N) = x (M, K) @ w.T (transpose) or x @ w: w dequantized to float32 scratch, then
// cuBLASLt's float32 product. Declines (nothing queued) where this build has no cuBLASLt.
bool dequantized_product(const array& x, Packed p, const array& wq, const array& sc, const array* bi, int64_t M,
                         int64_t N, int64_t K, bool transpose, array& out, FloatKind ok, cudaStream_t stream) {
  if (!has_general_matmul()) return false;
  set_device_pointers(p, wq, sc, bi, stream);
  const int wr = static_cast<int>(transpose ? N : K), wc = static_cast<int>(transpose ? K : N);
  array w = array::placeholder({wr, wc}, float32);
  launch_dequantize(p, wc, static_cast<int64_t>(wr) * wc, alloc_output(w, stream), FloatKind::f32, stream);
  w.set_status(Status::available);
  array b = w;
  if (transpose) {  // w.T as a column-major view
    b = array::placeholder({wc, wr}, float32);
    b.copy_shared_buffer(w, {1, wc}, Flags{true, false, true}, w.size());
    b.set_status(Status::available);
  }
  array a = array::placeholder({static_cast<int>(M), static_cast<int>(K)}, float32);
  a.copy_shared_buffer(x, {K, 1}, Flags{}, static_cast<size_t>(M * K));
  a.set_status(Status::available);
  array y = array::placeholder({static_cast<int>(M), static_cast<int>(N)}, float32);
  if (!matmul_arrays(a, b, y, stream)) {
    throw std::runtime_error("[quantized_matmul] cuBLASLt declined the float32 product of (" + std::to_string(M) +
                             ", " + std::to_string(K) + ") and (" + std::to_string(K) + ", " + std::to_string(N) + ")");
  }
  if (ok == FloatKind::f32) {
    out.copy_shared_buffer(y, row_major(out.shape()), Flags{}, y.size());
    return true;
  }
  void* o = alloc_output(out, stream);
  const auto n = static_cast<int64_t>(out.size());
  launch_kernel(store_kernel, ceil_div(static_cast<size_t>(n), 256), 256, 0, stream,
                static_cast<const float*>(device_ptr(y, stream)), o, n, ok);
  EMBER_CUDA_CHECK_LAUNCH("quantized store_kernel");
  return true;
}

// x: row-contiguous float32 with 16-byte aligned rows (the qmv kernel's float4 loads).
bool qmv_ready(const array& x) {
  return x.dtype() == float32 && x.flags().row_contiguous && x.shape(-1) % 4 == 0 && (x.offset() % 4) == 0;
}

bool eval_quantized_matmul(Primitive& prim, const std::vector<array>& inputs, std::vector<array>& outputs,
                           cudaStream_t stream) {
  auto& op = static_cast<QuantizedMatmul&>(prim);
  const array &x = inputs[0], &wq = inputs[1], &sc = inputs[2];
  const array* bi = inputs.size() > 3 ? &inputs[3] : nullptr;
  array& out = outputs[0];
  Packed p;
  FloatKind ok;
  if (!packed_of(wq, sc, bi, op.group_size(), op.bits(), p) || !float_kind(out.dtype(), ok)) return false;
  if (!qmv_ready(x)) return false;
  const int64_t K = x.shape(-1), N = out.shape(-1);
  const int64_t M = K == 0 ? 0 : static_cast<int64_t>(x.size()) / K;
  if (out.size() == 0 || K == 0) return false;  // nothing to compute, or zeros: the CPU kernel
  if (op.transpose() && (M <= kQmvRows || !has_general_matmul())) {
    QmvArgs a;
    a.w = p;
    a.yk = ok;
    a.M = M;
    a.K = K;
    if ((M + 3) / 4 > 65535) return false;  // grid.y: the CPU kernel takes it
    a.y = alloc_output(out, stream);
    set_device_pointers(a.w, wq, sc, bi, stream);
    a.x = static_cast<const float*>(device_ptr(x, stream));
    launch_qmv(a, 1, stream);
    return true;
  }
  return dequantized_product(x, p, wq, sc, bi, M, N, K, op.transpose(), out, ok, stream);
}

bool eval_gather_qmm(Primitive& prim, const std::vector<array>& inputs, std::vector<array>& outputs,
                     cudaStream_t stream) {
  auto& op = static_cast<GatherQMM&>(prim);
  const array &x = inputs[0], &wq = inputs[1], &sc = inputs[2], &bi = inputs[3], &li = inputs[4], &ri = inputs[5];
  array& out = outputs[0];
  Packed p;
  FloatKind ok;
  if (!op.transpose() || !packed_of(wq, sc, &bi, op.group_size(), op.bits(), p) || !float_kind(out.dtype(), ok)) {
    return false;
  }
  if (!qmv_ready(x) || !li.flags().row_contiguous || !ri.flags().row_contiguous) return false;
  const int64_t L = out.shape(0), M = out.shape(1), K = x.shape(2);
  if (out.size() == 0 || K == 0 || L > 65535 || (M + 3) / 4 > 65535) return false;
  QmvArgs a;
  a.w = p;
  a.yk = ok;
  a.M = M;
  a.K = K;
  a.Bx = x.shape(0);
  a.Bw = wq.shape(0);
  a.y = alloc_output(out, stream);
  set_device_pointers(a.w, wq, sc, &bi, stream);
  a.x = static_cast<const float*>(device_ptr(x, stream));
  a.li = static_cast<const uint32_t*>(device_ptr(li, stream));
  a.ri = static_cast<const uint32_t*>(device_ptr(ri, stream));
  // The out-of-range record: zeroed before the launch, read back (a wait) after it.
  auto err = alloc_device(3 * sizeof(unsigned long long), stream);
  a.err = static_cast<unsigned long long*>(err->device_ptr);
  EMBER_CUDA_CHECK(cudaMemsetAsync(a.err, 0, 3 * sizeof(unsigned long long), stream));
  launch_qmv(a, L, stream);
  unsigned long long rec[3];
  EMBER_CUDA_CHECK(cudaMemcpyAsync(rec, a.err, sizeof(rec), cudaMemcpyDeviceToHost, stream));
  EMBER_CUDA_CHECK(cudaStreamSynchronize(stream));
  if (rec[0] != 0) {
    const bool of_x = rec[2] == 0;
    throw std::out_of_range("[gather_qmm] index " + std::to_string(rec[1]) + " is out of range for " +
                            std::to_string(of_x ? a.Bx : a.Bw) + (of_x ? " matrices of x" : " matrices of w"));
  }
  return true;
}

}  // namespace

bool set_qmv_config(int rows, int split, bool stage_x, int blocks_per_sm) {
  static const int built[][2] = {{1, 1}, {1, 2}, {1, 4}, {2, 1}, {2, 2}, {2, 4}, {4, 1}, {4, 2}};
  bool known = rows == 0;
  for (const auto& b : built) known = known || (b[0] == rows && b[1] == split);
  if (!known || blocks_per_sm < 0) return false;
  g_qmv_override = QmvConfig{rows, split, stage_x, blocks_per_sm};
  return true;
}

void register_quantized_kernels() {
  register_kernel(std::type_index(typeid(Dequantize)), &eval_dequantize);
  register_kernel(std::type_index(typeid(QuantizedMatmul)), &eval_quantized_matmul);
  register_kernel(std::type_index(typeid(GatherQMM)), &eval_gather_qmm);
}

}  // namespace ember::gpu
