// CUDA kernels of the fused transformer ops RMSNorm, LayerNorm and RoPE (ember/fast.h), with
// the CPU kernels' arithmetic (backend/cpu/fast.cpp): halves compute in float, float64 in
// double, and the same intermediate roundings (the normalized value is rounded to the output
// type before the weight multiplies it, as the fallbacks and Hugging Face do).
//
// x: (..., D) with any strides (rows from its leading axes, LastAxisRows) -> y row-contiguous. A warp
// (D <= 1024) or a block of 256 threads owns a row. The norms read the row twice (LayerNorm
// three times); the repeats come from L1/L2. RoPE: a warp per row of (..., T, D), each lane a
// rotated pair or a passed-through feature at a time.
// ScaledDotProductAttention has no kernel here: its op builds its fallback (matmul, softmax:
// GPU kernels) on a GPU stream.
#include <cmath>
#include <typeindex>

#include "ember/backend/cuda/reduce.cuh"
#include "ember/primitives_fast.h"

namespace ember::gpu {
namespace red {
namespace {

template <class T>
using acc_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

template <class C>
__device__ __forceinline__ C sqrt_c(C x) {
  if constexpr (std::is_same_v<C, double>) {
    return sqrt(x);
  } else {
    return sqrtf(x);
  }
}

// The sum of v over the G threads of a group (a warp, or the block when G == 256), in every
// thread of it. A block-wide call must be reached by all of its threads.
template <int G, class C>
__device__ __forceinline__ C group_sum(C v) {
  if constexpr (G == 32) {
#pragma unroll
    for (int d = 16; d > 0; d >>= 1) v += __shfl_xor_sync(0xffffffffu, v, d);
    return v;
  } else {
    __shared__ C result;
    v = block_reduce(v, [](C a, C b) { return a + b; });
    if (threadIdx.x == 0) result = v;
    __syncthreads();
    C r = result;
    __syncthreads();  // a later call may overwrite result
    return r;
  }
}

// Element e of the row starting at xr (last-axis stride `stride`), in the compute type.
template <class T>
__device__ __forceinline__ acc_t<T> at(const T* xr, int64_t e, int64_t stride) {
  return static_cast<acc_t<T>>(to_compute(xr[e * stride]));
}

// Rounds v to T and back: the CPU kernels' intermediate roundings.
template <class T, class C>
__device__ __forceinline__ C round_to(C v) {
  return static_cast<C>(to_compute(convert<T>(v)));
}

struct Affine {
  const void* w = nullptr;  // weight, or null
  const void* b = nullptr;  // bias, or null
  int64_t ws = 1, bs = 1;   // their element strides
};

// kLayer: false RMSNorm, true LayerNorm.
template <class T, int G, bool kLayer>
__global__ void __launch_bounds__(256)
    norm_kernel(const T* __restrict__ x, T* __restrict__ y, LastAxisRows a, Affine af, float eps) {
  using C = acc_t<T>;
  const int lane = threadIdx.x % G;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (256 / G) + threadIdx.x / G;
  if constexpr (G == 32) {
    if (row >= a.rows) return;  // whole warps leave; G == 256 grids are exact
  }
  const T* xr = x + offset_in(a.row_dims, a.row_dims.nd, row);
  const C n = static_cast<C>(a.n);
  C mean = C(0);
  if constexpr (kLayer) {
    C s = C(0);
    for (int64_t e = lane; e < a.n; e += G) s += at(xr, e, a.stride);
    mean = group_sum<G>(s) / n;
  }
  C ss = C(0);
  for (int64_t e = lane; e < a.n; e += G) {
    C c = at(xr, e, a.stride) - mean;
    ss += c * c;
  }
  const C scale = C(1) / sqrt_c(group_sum<G>(ss) / n + static_cast<C>(eps));
  const T* w = static_cast<const T*>(af.w);
  const T* b = static_cast<const T*>(af.b);
  T* yr = y + row * a.n;
  for (int64_t e = lane; e < a.n; e += G) {
    C v = round_to<T>((at(xr, e, a.stride) - mean) * scale);
    if (w) v = round_to<T>(v * static_cast<C>(to_compute(w[e * af.ws])));
    if (b) v = v + static_cast<C>(to_compute(b[e * af.bs]));
    yr[e] = convert<T>(v);
  }
}

struct RopeArgs {
  int64_t T = 1;  // positions: row r is at position r % T
  int dims = 0;   // features [0, dims) rotate in pairs, the rest pass through
  bool traditional = false;
  double offset = 0, scale = 1;
  double log_step = 0;          // inv_freq[i] = exp(i * log_step) when freqs is null
  const void* freqs = nullptr;  // or inv_freq[i] = 1 / freqs[i] (dims / 2 of the compute type)
  int64_t fs = 1;
};

template <class T>
__global__ void __launch_bounds__(256)
    rope_kernel(const T* __restrict__ x, T* __restrict__ y, LastAxisRows a, RopeArgs r) {
  using C = acc_t<T>;
  const int lane = threadIdx.x % 32;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * 8 + threadIdx.x / 32;
  if (row >= a.rows) return;
  const T* xr = x + offset_in(a.row_dims, a.row_dims.nd, row);
  T* yr = y + row * a.n;
  const int half = r.dims / 2;
  const C pos = static_cast<C>(r.offset + static_cast<double>(row % r.T)) * static_cast<C>(r.scale);
  const C* freqs = static_cast<const C*>(r.freqs);
  const int64_t work = half + (a.n - r.dims);
  for (int64_t j = lane; j < work; j += 32) {
    if (j < half) {
      const int i = static_cast<int>(j);
      C inv;
      if (freqs) {
        inv = C(1) / freqs[i * r.fs];
      } else if constexpr (std::is_same_v<C, double>) {
        inv = exp(static_cast<C>(i) * static_cast<C>(r.log_step));
      } else {
        inv = expf(static_cast<C>(i) * static_cast<C>(r.log_step));
      }
      C theta = pos * inv, c, s;
      if constexpr (std::is_same_v<C, double>) {
        c = cos(theta);
        s = sin(theta);
      } else {
        c = cosf(theta);
        s = sinf(theta);
      }
      const int64_t p = r.traditional ? 2 * i : i, q = r.traditional ? 2 * i + 1 : i + half;
      const C x1 = at(xr, p, a.stride), x2 = at(xr, q, a.stride);
      yr[p] = convert<T>(x1 * c - x2 * s);
      yr[q] = convert<T>(x1 * s + x2 * c);
    } else {
      const int64_t e = r.dims + (j - half);
      yr[e] = xr[e * a.stride];
    }
  }
}

// Runs a norm; `w`/`b` are the weight and bias inputs or null.
bool run_norm(const array& x, const array* w, const array* b, float eps, bool layer, array& out, cudaStream_t stream) {
  const Dtype t = x.dtype();
  if (out.dtype() != t || x.ndim() == 0) return false;
  if ((w && w->dtype() != t) || (b && b->dtype() != t)) return false;
  LastAxisRows a;
  if (!last_axis_rows(x, a)) return false;
  return dispatch_float_device(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* y = static_cast<T*>(alloc_output(out, stream));
    if (out.size() == 0) return true;
    const T* xp = static_cast<const T*>(device_ptr(x, stream));
    Affine af;
    if (w) {
      af.w = device_ptr(*w, stream);
      af.ws = w->strides()[0];
    }
    if (b) {
      af.b = device_ptr(*b, stream);
      af.bs = b->strides()[0];
    }
    if (a.n <= 1024) {
      auto k = layer ? norm_kernel<T, 32, true> : norm_kernel<T, 32, false>;
      launch_kernel(k, static_cast<unsigned>((a.rows + 7) / 8), 256, 0, stream, xp, y, a, af, eps);
    } else {
      auto k = layer ? norm_kernel<T, 256, true> : norm_kernel<T, 256, false>;
      launch_kernel(k, static_cast<unsigned>(a.rows), 256, 0, stream, xp, y, a, af, eps);
    }
    EMBER_CUDA_CHECK_LAUNCH(layer ? "layer_norm_kernel" : "rms_norm_kernel");
    return true;
  });
}

bool eval_rms_norm(Primitive& prim, const std::vector<array>& inputs, std::vector<array>& outputs,
                   cudaStream_t stream) {
  auto& p = static_cast<RMSNorm&>(prim);
  return run_norm(inputs[0], p.has_weight() ? &inputs[1] : nullptr, nullptr, p.eps(), false, outputs[0], stream);
}

bool eval_layer_norm(Primitive& prim, const std::vector<array>& inputs, std::vector<array>& outputs,
                     cudaStream_t stream) {
  auto& p = static_cast<LayerNorm&>(prim);
  size_t k = 1;
  const array* w = p.has_weight() ? &inputs[k++] : nullptr;
  const array* b = p.has_bias() ? &inputs[k] : nullptr;
  return run_norm(inputs[0], w, b, p.eps(), true, outputs[0], stream);
}

bool eval_rope(Primitive& prim, const std::vector<array>& inputs, std::vector<array>& outputs, cudaStream_t stream) {
  auto& p = static_cast<RoPE&>(prim);
  const array& x = inputs[0];
  array& out = outputs[0];
  const Dtype t = x.dtype();
  if (out.dtype() != t || x.ndim() < 2) return false;
  LastAxisRows a;
  if (!last_axis_rows(x, a)) return false;
  RopeArgs r;
  r.T = x.shape(-2);
  r.dims = p.dims();
  r.traditional = p.traditional();
  r.offset = p.offset();
  r.scale = p.scale();
  const int half = r.dims / 2;
  // As the CPU kernel: the step is computed in double, then used in the compute type.
  r.log_step = half > 0 ? -std::log(static_cast<double>(p.base())) / half : 0.0;
  if (p.has_freqs()) {
    const array& f = inputs[1];
    if (f.dtype() != (t == float64 ? float64 : float32)) return false;
  }
  return dispatch_float_device(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* y = static_cast<T*>(alloc_output(out, stream));
    if (out.size() == 0) return true;
    const T* xp = static_cast<const T*>(device_ptr(x, stream));
    if (p.has_freqs()) {
      r.freqs = device_ptr(inputs[1], stream);
      r.fs = inputs[1].strides()[0];
    }
    if constexpr (!std::is_same_v<T, double>) {
      // The CPU kernel rounds the step to float before use.
      r.log_step = static_cast<float>(r.log_step);
    }
    launch_kernel(rope_kernel<T>, static_cast<unsigned>((a.rows + 7) / 8), 256, 0, stream, xp, y, a, r);
    EMBER_CUDA_CHECK_LAUNCH("rope_kernel");
    return true;
  });
}

}  // namespace
}  // namespace red

void register_fast_kernels() {
  register_kernel(std::type_index(typeid(RMSNorm)), &red::eval_rms_norm);
  register_kernel(std::type_index(typeid(LayerNorm)), &red::eval_layer_norm);
  register_kernel(std::type_index(typeid(RoPE)), &red::eval_rope);
}

}  // namespace ember::gpu
