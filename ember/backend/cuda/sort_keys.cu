// The kernels around the segmented sort of the sort family (see sort_kernels.h): sort keys
// from a strided input, segment offsets, and the outputs from the sorted positions. All are
// grid-stride loops over the (segments, n) elements, memory-bound; each reads its input
// through the view's own strides, so no contiguous copy of the input is made first.
//
// Keys are unsigned integers whose unsigned order is the CPU kernel's order (cpu/sort.cpp):
//   - unsigned ints and bool: the value itself;
//   - signed ints: the sign bit flipped (two's complement -> offset binary);
//   - floats (float16, bfloat16, float32, float64 bits): positive numbers get the sign bit
//     set, negative numbers are complemented, so -inf < ... < -0 < +0 < ... < +inf; -0.0
//     maps to +0.0's key (the CPU compares them equal, and its argsort keeps them in input
//     order) and every nan to the largest key (the CPU sorts nan last, all nans equal).
// 1-byte inputs get 2-byte keys: one CUB instantiation fewer, at the cost of a second
// 8-bit radix pass.
#include <cuda_runtime.h>

#include <cstdint>

#include "ember/backend/cuda/cuda.h"
#include "ember/backend/cuda/sort_kernels.h"

namespace ember::gpu::sorting {

namespace {

constexpr int kThreads = 256;

template <class K>
__device__ __forceinline__ K float_key(K u, K inf_bits) {
  constexpr K kSign = static_cast<K>(K(1) << (sizeof(K) * 8 - 1));
  K mag = static_cast<K>(u & static_cast<K>(~kSign));
  if (mag > inf_bits) return static_cast<K>(~K(0));  // nan, either sign, any payload
  if (mag == 0) return kSign;                        // -0.0 and +0.0
  return (u & kSign) ? static_cast<K>(~u) : static_cast<K>(u | kSign);
}

template <KeyKind kKind, class W, class K>
__device__ __forceinline__ K key_of(W w, K inf_bits) {
  if constexpr (kKind == KeyKind::Float) {
    static_assert(sizeof(W) == sizeof(K), "float keys are as wide as the float");
    return float_key<K>(static_cast<K>(w), inf_bits);
  } else if constexpr (kKind == KeyKind::Signed) {
    constexpr W kSign = static_cast<W>(W(1) << (sizeof(W) * 8 - 1));
    return static_cast<K>(static_cast<W>(w ^ kSign));
  } else {
    return static_cast<K>(w);
  }
}

// in: strided view (l), W-wide elements -> keys, vals: (segments, n) row-contiguous.
template <KeyKind kKind, class W, class K, class I>
__global__ void keys_strided(const W* __restrict__ in, SortLayout l, K inf_bits, K* __restrict__ keys,
                             uint32_t* __restrict__ vals, I total) {
  const int last = l.ndim - 1;
  const I n = static_cast<I>(l.shape[last]);
  const I stride = static_cast<I>(gridDim.x) * blockDim.x;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    I j = i % n, s = i / n;
    int64_t loc = static_cast<int64_t>(j) * l.in_strides[last];
    for (int d = last - 1; d >= 0; --d) {
      I sz = static_cast<I>(l.shape[d]);
      loc += static_cast<int64_t>(s % sz) * l.in_strides[d];
      s /= sz;
    }
    keys[i] = key_of<kKind, W, K>(in[loc], inf_bits);
    vals[i] = static_cast<uint32_t>(j);
  }
}

// Offsets of segment s's first element in the input and in the output.
template <class I>
__device__ __forceinline__ void segment_bases(const SortLayout& l, I s, int64_t& in_base, int64_t& out_base) {
  in_base = 0;
  out_base = 0;
  for (int d = l.ndim - 2; d >= 0; --d) {
    I sz = static_cast<I>(l.shape[d]);
    I c = s % sz;
    in_base += static_cast<int64_t>(c) * l.in_strides[d];
    out_base += static_cast<int64_t>(c) * l.out_strides[d];
    s /= sz;
  }
}

// sorted: (segments, n) positions -> out: the layout's output strides, uint32.
template <class I>
__global__ void indices_strided(const uint32_t* __restrict__ sorted, SortLayout l, uint32_t* __restrict__ out,
                                I total) {
  const int last = l.ndim - 1;
  const I n = static_cast<I>(l.shape[last]);
  const I stride = static_cast<I>(gridDim.x) * blockDim.x;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    int64_t in_base, out_base;
    segment_bases<I>(l, i / n, in_base, out_base);
    out[out_base + static_cast<int64_t>(i % n) * l.out_strides[last]] = sorted[i];
  }
}

// in: strided view, sorted: (segments, n) positions -> out: in's elements in sorted order.
template <class W, class I>
__global__ void gather_sorted_strided(const W* __restrict__ in, const uint32_t* __restrict__ sorted, SortLayout l,
                                      W* __restrict__ out, I total) {
  const int last = l.ndim - 1;
  const I n = static_cast<I>(l.shape[last]);
  const I stride = static_cast<I>(gridDim.x) * blockDim.x;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    int64_t in_base, out_base;
    segment_bases<I>(l, i / n, in_base, out_base);
    int64_t src = in_base + static_cast<int64_t>(sorted[i]) * l.in_strides[last];
    out[out_base + static_cast<int64_t>(i % n) * l.out_strides[last]] = in[src];
  }
}

__global__ void offsets_linear(int* __restrict__ offsets, int64_t count, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < count; k += stride) {
    offsets[k] = static_cast<int>(k * n);
  }
}

// A grid-stride loop needs only a few waves of blocks.
unsigned grid_for(int64_t total) {
  int64_t blocks = (total + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 65535LL * 8 ? blocks : 65535LL * 8);
}

// 32-bit loop indices while i + stride cannot wrap (total < 2^31, stride < 2^28).
bool narrow(int64_t total) { return total < (int64_t(1) << 31); }

template <KeyKind kKind, class W, class K>
void launch_keys(const void* in, const SortLayout& l, uint64_t inf_bits, void* keys, uint32_t* vals, int64_t total,
                 cudaStream_t stream) {
  auto src = static_cast<const W*>(in);
  auto dst = static_cast<K*>(keys);
  auto inf = static_cast<K>(inf_bits);
  if (narrow(total)) {
    launch_kernel(keys_strided<kKind, W, K, uint32_t>, grid_for(total), kThreads, 0, stream, src, l, inf, dst, vals,
                  static_cast<uint32_t>(total));
  } else {
    launch_kernel(keys_strided<kKind, W, K, int64_t>, grid_for(total), kThreads, 0, stream, src, l, inf, dst, vals,
                  total);
  }
  EMBER_CUDA_CHECK_LAUNCH("sort keys_strided");
}

template <class W, class K>
void launch_keys_kind(KeyKind kind, const void* in, const SortLayout& l, uint64_t inf_bits, void* keys, uint32_t* vals,
                      int64_t total, cudaStream_t stream) {
  if (kind == KeyKind::Signed) {
    launch_keys<KeyKind::Signed, W, K>(in, l, inf_bits, keys, vals, total, stream);
    return;
  }
  if constexpr (sizeof(W) == sizeof(K)) {  // (no 1-byte floats)
    if (kind == KeyKind::Float) {
      launch_keys<KeyKind::Float, W, K>(in, l, inf_bits, keys, vals, total, stream);
      return;
    }
  }
  launch_keys<KeyKind::Unsigned, W, K>(in, l, inf_bits, keys, vals, total, stream);
}

template <class W>
void launch_gather(const void* in, const uint32_t* sorted, const SortLayout& l, void* out, int64_t total,
                   cudaStream_t stream) {
  auto src = static_cast<const W*>(in);
  auto dst = static_cast<W*>(out);
  if (narrow(total)) {
    launch_kernel(gather_sorted_strided<W, uint32_t>, grid_for(total), kThreads, 0, stream, src, sorted, l, dst,
                  static_cast<uint32_t>(total));
  } else {
    launch_kernel(gather_sorted_strided<W, int64_t>, grid_for(total), kThreads, 0, stream, src, sorted, l, dst, total);
  }
  EMBER_CUDA_CHECK_LAUNCH("sort gather_sorted_strided");
}

}  // namespace

void write_keys(const void* in, const SortLayout& layout, size_t elem_bytes, KeyKind kind, uint64_t inf_bits,
                void* keys, uint32_t* vals, int64_t total, cudaStream_t stream) {
  if (total == 0) return;
  switch (elem_bytes) {
    case 1:
      launch_keys_kind<uint8_t, uint16_t>(kind, in, layout, inf_bits, keys, vals, total, stream);
      break;
    case 2:
      launch_keys_kind<uint16_t, uint16_t>(kind, in, layout, inf_bits, keys, vals, total, stream);
      break;
    case 4:
      launch_keys_kind<uint32_t, uint32_t>(kind, in, layout, inf_bits, keys, vals, total, stream);
      break;
    default:
      launch_keys_kind<uint64_t, uint64_t>(kind, in, layout, inf_bits, keys, vals, total, stream);
      break;
  }
}

void fill_offsets(int* offsets, int64_t count, int64_t n, cudaStream_t stream) {
  if (count == 0) return;
  launch_kernel(offsets_linear, grid_for(count), kThreads, 0, stream, offsets, count, n);
  EMBER_CUDA_CHECK_LAUNCH("sort offsets_linear");
}

void write_indices(const uint32_t* sorted, const SortLayout& layout, uint32_t* out, int64_t total,
                   cudaStream_t stream) {
  if (total == 0) return;
  if (narrow(total)) {
    launch_kernel(indices_strided<uint32_t>, grid_for(total), kThreads, 0, stream, sorted, layout, out,
                  static_cast<uint32_t>(total));
  } else {
    launch_kernel(indices_strided<int64_t>, grid_for(total), kThreads, 0, stream, sorted, layout, out, total);
  }
  EMBER_CUDA_CHECK_LAUNCH("sort indices_strided");
}

void gather_sorted(const void* in, const uint32_t* sorted, const SortLayout& layout, void* out, size_t elem_bytes,
                   int64_t total, cudaStream_t stream) {
  if (total == 0) return;
  switch (elem_bytes) {
    case 1:
      launch_gather<uint8_t>(in, sorted, layout, out, total, stream);
      break;
    case 2:
      launch_gather<uint16_t>(in, sorted, layout, out, total, stream);
      break;
    case 4:
      launch_gather<uint32_t>(in, sorted, layout, out, total, stream);
      break;
    default:
      launch_gather<uint64_t>(in, sorted, layout, out, total, stream);
      break;
  }
}

}  // namespace ember::gpu::sorting
