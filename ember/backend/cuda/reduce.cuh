// Device helpers shared by the reduction kernels (reduce.cu, reduce_arg.cu, softmax.cu):
// dtype -> device type dispatch, conversions, warp/block reductions of any trivially
// copyable accumulator, strided index math, and a vectorized walk over contiguous runs.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "ember/backend/cuda/cuda.h"

namespace ember::gpu::red {

// ---------------------------------------------------------------- types

template <class T>
inline constexpr bool is_half_v = std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>;

/// float16/bfloat16 compute in float; everything else in its own type.
template <class T>
using compute_t = std::conditional_t<is_half_v<T>, float, T>;

template <class T>
struct Tag {
  using type = T;
};

/// Calls f(Tag<T>{}) with T the device type of `t`; returns false (decline) for complex64.
template <class F>
bool dispatch_device_dtype(Dtype t, F&& f) {
  switch (t.val) {
    case Dtype::Val::bool_:
      return f(Tag<bool>{});
    case Dtype::Val::uint8:
      return f(Tag<uint8_t>{});
    case Dtype::Val::uint16:
      return f(Tag<uint16_t>{});
    case Dtype::Val::uint32:
      return f(Tag<uint32_t>{});
    case Dtype::Val::uint64:
      return f(Tag<uint64_t>{});
    case Dtype::Val::int8:
      return f(Tag<int8_t>{});
    case Dtype::Val::int16:
      return f(Tag<int16_t>{});
    case Dtype::Val::int32:
      return f(Tag<int32_t>{});
    case Dtype::Val::int64:
      return f(Tag<int64_t>{});
    case Dtype::Val::float16:
      return f(Tag<__half>{});
    case Dtype::Val::bfloat16:
      return f(Tag<__nv_bfloat16>{});
    case Dtype::Val::float32:
      return f(Tag<float>{});
    case Dtype::Val::float64:
      return f(Tag<double>{});
    default:
      return false;
  }
}

/// Calls f(Tag<T>{}) for the floating dtypes (float16, bfloat16, float32, float64); returns
/// false (decline) for every other dtype.
template <class F>
bool dispatch_float_device(Dtype t, F&& f) {
  switch (t.val) {
    case Dtype::Val::float16:
      return f(Tag<__half>{});
    case Dtype::Val::bfloat16:
      return f(Tag<__nv_bfloat16>{});
    case Dtype::Val::float32:
      return f(Tag<float>{});
    case Dtype::Val::float64:
      return f(Tag<double>{});
    default:
      return false;
  }
}

/// The Ember dtype of a device type.
template <class T>
constexpr Dtype dtype_of_device() {
  if constexpr (std::is_same_v<T, bool>)
    return bool_;
  else if constexpr (std::is_same_v<T, uint8_t>)
    return uint8;
  else if constexpr (std::is_same_v<T, uint16_t>)
    return uint16;
  else if constexpr (std::is_same_v<T, uint32_t>)
    return uint32;
  else if constexpr (std::is_same_v<T, uint64_t>)
    return uint64;
  else if constexpr (std::is_same_v<T, int8_t>)
    return int8;
  else if constexpr (std::is_same_v<T, int16_t>)
    return int16;
  else if constexpr (std::is_same_v<T, int32_t>)
    return int32;
  else if constexpr (std::is_same_v<T, int64_t>)
    return int64;
  else if constexpr (std::is_same_v<T, __half>)
    return float16;
  else if constexpr (std::is_same_v<T, __nv_bfloat16>)
    return bfloat16;
  else if constexpr (std::is_same_v<T, float>)
    return float32;
  else
    return float64;
}

/// Element -> compute type (halves widen exactly).
template <class T>
__device__ __forceinline__ compute_t<T> to_compute(T x) {
  if constexpr (std::is_same_v<T, __half>) {
    return __half2float(x);
  } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return __bfloat162float(x);
  } else {
    return x;
  }
}

/// Value -> D; halves round to nearest even; -> bool tests != 0 (nan is true), as cast_to on the CPU.
template <class D, class S>
__device__ __forceinline__ D convert(S v) {
  if constexpr (is_half_v<S>) {
    return convert<D>(to_compute(v));
  } else if constexpr (std::is_same_v<D, S>) {
    return v;
  } else if constexpr (std::is_same_v<D, bool>) {
    return v != S(0);
  } else if constexpr (std::is_same_v<D, __half>) {
    return __float2half_rn(static_cast<float>(v));
  } else if constexpr (std::is_same_v<D, __nv_bfloat16>) {
    return __float2bfloat16_rn(static_cast<float>(v));
  } else {
    return static_cast<D>(v);
  }
}

template <class C>
__device__ __forceinline__ bool is_nan(C x) {
  if constexpr (std::is_floating_point_v<C>) {
    return x != x;
  } else {
    return false;
  }
}

// ---------------------------------------------------------------- warp and block reductions

/// __shfl_down_sync for any trivially copyable value (moved as 32-bit words).
template <class A>
__device__ __forceinline__ A shfl_down(A v, int delta) {
  static_assert(std::is_trivially_copyable_v<A>);
  constexpr int kWords = (sizeof(A) + 3) / 4;
  int w[kWords] = {};
  memcpy(w, &v, sizeof(A));
#pragma unroll
  for (int i = 0; i < kWords; ++i) w[i] = __shfl_down_sync(0xffffffffu, w[i], delta);
  A r;
  memcpy(&r, w, sizeof(A));
  return r;
}

/// Combines the values of a full warp; lane 0 gets the result. `combine` must be
/// associative and commutative (index tie-breaks make argmax so).
template <class A, class Combine>
__device__ __forceinline__ A warp_reduce(A v, Combine combine) {
#pragma unroll
  for (int d = 16; d > 0; d >>= 1) v = combine(v, shfl_down(v, d));
  return v;
}

/// Combines the values of a whole block (blockDim.x a multiple of 32, <= 1024); thread 0
/// gets the result. Every thread of the block must call it.
template <class A, class Combine>
__device__ __forceinline__ A block_reduce(A v, Combine combine) {
  __shared__ A partial[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, nwarps = blockDim.x / 32;
  v = warp_reduce(v, combine);
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    A r = partial[0];
    for (int i = 1; i < nwarps; ++i) r = combine(r, partial[i]);
    v = r;
  }
  return v;
}

// ---------------------------------------------------------------- index math

constexpr int kMaxDims = 8;

/// A strided index space: element i of the flattened (row-major) shape sits at
/// offset sum(idx[d] * in[d]) in the input and sum(idx[d] * out[d]) in the output.
struct Dims {
  int nd = 0;
  int64_t shape[kMaxDims] = {};
  int64_t in[kMaxDims] = {};
  int64_t out[kMaxDims] = {};

  int64_t count() const {
    int64_t n = 1;
    for (int d = 0; d < nd; ++d) n *= shape[d];
    return n;
  }
};

/// Input offset of flattened index i over the first `nd` dims of `dims`.
__device__ __forceinline__ int64_t offset_in(const Dims& dims, int nd, int64_t i) {
  if (nd == 1) return i * dims.in[0];
  int64_t off = 0;
  for (int d = nd - 1; d >= 0; --d) {
    int64_t q = i / dims.shape[d];
    off += (i - q * dims.shape[d]) * dims.in[d];
    i = q;
  }
  return off;
}
__device__ __forceinline__ int64_t offset_out(const Dims& dims, int64_t i) {
  if (dims.nd == 1) return i * dims.out[0];
  int64_t off = 0;
  for (int d = dims.nd - 1; d >= 0; --d) {
    int64_t q = i / dims.shape[d];
    off += (i - q * dims.shape[d]) * dims.out[d];
    i = q;
  }
  return off;
}

/// An op over the last axis (softmax, the norms, rope): `rows` rows of `n` elements, the last
/// axis at element stride `stride`, row r starting at offset_in(row_dims, row_dims.nd, r).
struct LastAxisRows {
  int64_t rows = 0, n = 1, stride = 1;
  Dims row_dims;  // the other axes (input strides) -> row base offset
};

/// The LastAxisRows of `in` (its leading axes merged where contiguous); false when more than
/// kMaxDims leading axes remain.
inline bool last_axis_rows(const array& in, LastAxisRows& a) {
  const int nd = static_cast<int>(in.ndim());
  a.n = nd ? in.shape()[nd - 1] : 1;
  a.stride = nd ? in.strides()[nd - 1] : 1;
  for (int i = 0; i + 1 < nd; ++i) {
    int64_t n = in.shape()[i], s = in.strides()[i];
    if (n == 1) continue;
    Dims& d = a.row_dims;
    if (d.nd > 0 && d.in[d.nd - 1] == s * n) {
      d.shape[d.nd - 1] *= n;
      d.in[d.nd - 1] = s;
      continue;
    }
    if (d.nd == kMaxDims) return false;
    d.shape[d.nd] = n;
    d.in[d.nd] = s;
    ++d.nd;
  }
  a.rows = a.row_dims.count();
  return true;
}

// ---------------------------------------------------------------- vectorized contiguous walk

/// Calls f(x, e) for every element x = p[t], e = e0 + t, t < len, of a contiguous run,
/// spread over the G threads of a group (this thread is `lane`). The aligned middle is
/// read with 16-byte loads, four in flight per thread; the unaligned head and tail one
/// element at a time. Each thread visits its elements in increasing e.
template <int G, class T, class F>
__device__ __forceinline__ void for_each_in_run(const T* p, int64_t len, int64_t e0, int lane, F&& f) {
  constexpr int V = 16 / sizeof(T);
  const int64_t mis = static_cast<int64_t>((reinterpret_cast<uintptr_t>(p) / sizeof(T)) % V);
  const int64_t head = mis ? std::min<int64_t>(len, V - mis) : 0;
  if (lane < head) f(p[lane], e0 + lane);
  const T* q = p + head;
  const int64_t rem = len - head, nv = rem / V;
  const int64_t eq = e0 + head;
  const uint4* qv = reinterpret_cast<const uint4*>(q);
  // Up to four loads issued before any is used; the guards only cut the last round short.
  for (int64_t i = lane; i < nv; i += 4 * G) {
    uint4 raw[4];
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      if (i + u * G < nv) raw[u] = __ldg(qv + i + u * G);
    }
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      if (i + u * G < nv) {
        const T* v = reinterpret_cast<const T*>(&raw[u]);
#pragma unroll
        for (int k = 0; k < V; ++k) f(v[k], eq + (i + u * G) * V + k);
      }
    }
  }
  for (int64_t t = nv * V + lane; t < rem; t += G) f(q[t], eq + t);
}

// Registration of the other reduction-family primitives (called from register_reduce_kernels).
void register_arg_reduce_kernels();
void register_softmax_kernels();

}  // namespace ember::gpu::red
