// CUDA kernels of the fused transformer ops RMSNorm, LayerNorm and RoPE (ember/fast.h), with
// the CPU kernels' arithmetic (backend/cpu/fast.cpp): halves compute in float, float64 in
// double, and the same intermediate roundings (the normalized value is rounded to the output
// type before the weight multiplies it, as the fallbacks and Hugging Face do).
//
// x: (..., D) with any strides (rows from its leading axes, LastAxisRows) -> y row-contiguous. A warp
// (D <= 1024) or a block of 256 threads owns a row. The norms read the row twice (LayerNorm
// three times); the repeats come from L1/L2. RoPE: a warp per row of (..., T, D), each lane a
// rotated pair or a passed-through feature at a time.
// ScaledDotProductAttention for a few query rows (decoding: ScaledDotProductAttention::kGpuMaxQueries),
// float32 arithmetic, any strides (the KV cache's views): a block of warps per query row and
// run of keys (flash-decoding). A warp takes kKeysPerStep keys at a time (their k and v rows
// loaded together), a lane every 32nd feature of each, and keeps an online softmax; the
// block's warps, then the runs, combine their (max, sum, weighted v). Masked keys score
// float32's lowest, as in the fallback. Longer queries build the fallback.
#include <algorithm>
#include <cmath>
#include <memory>
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

// ---------------------------------------------------------------- attention

constexpr int kSdpaWarps = 8;    // per block
constexpr int kKeysPerStep = 4;  // keys per warp in flight
constexpr int kSdpaMaxSplits = 128;

struct SdpaArgs {
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  const void* mask = nullptr;  // bool or float32 (B, Hq, Tq, Tk) view, or null
  bool mask_bool = false, causal = false;
  int Hq = 1, group = 1, Tq = 1, Tk = 0, D = 0, Dv = 0;
  int64_t qs[4] = {}, ks[4] = {}, vs[4] = {}, ms[4] = {};  // element strides (B, H, T, D)
  float scale = 1;
  int splits = 1, keys_per_split = 0;
  void* out = nullptr;    // (B, Hq, Tq, Dv) row-contiguous, when splits == 1
  float* part = nullptr;  // else (rows, splits, 2 + Dv): max, sum, unnormalized output
};

// N elements of T loaded at once (16 bytes at most per load).
template <class T, int N>
struct alignas(N * sizeof(T) < 16 ? N * sizeof(T) : 16) SdpaVec {
  T v[N];
};

// Features d(i) of this lane, i < N: lane N + i where the last axes are contiguous and aligned
// (CONTIG: one vector load per row of k or v), else lane + 32 i (any strides).
template <int N, bool CONTIG>
__device__ __forceinline__ int feature(int lane, int i) {
  return CONTIG ? lane * N + i : lane + 32 * i;
}

// Loads this lane's features of a row (zeros past n).
template <class T, int N, bool CONTIG>
__device__ __forceinline__ void load_features(const T* row, int64_t stride, int n, int lane, T (&out)[N]) {
  if constexpr (CONTIG) {
    if (lane * N < n) {
      const SdpaVec<T, N> v = *reinterpret_cast<const SdpaVec<T, N>*>(row + lane * N);
#pragma unroll
      for (int i = 0; i < N; ++i) out[i] = v.v[i];
    } else {
#pragma unroll
      for (int i = 0; i < N; ++i) out[i] = T{};
    }
  } else {
#pragma unroll
    for (int i = 0; i < N; ++i) {
      const int d = lane + 32 * i;
      out[i] = d < n ? row[d * stride] : T{};
    }
  }
}

// N: features per lane (D and Dv at most 32 N).
template <class T, int N, bool CONTIG>
__global__ void __launch_bounds__(kSdpaWarps * 32) sdpa_kernel(SdpaArgs a) {
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  const int64_t row = blockIdx.x;  // b, hq, iq
  const int iq = static_cast<int>(row % a.Tq), hq = static_cast<int>((row / a.Tq) % a.Hq);
  const int64_t b = row / (static_cast<int64_t>(a.Tq) * a.Hq);
  const int hk = hq / a.group;
  const T* q = static_cast<const T*>(a.q) + b * a.qs[0] + hq * a.qs[1] + iq * a.qs[2];
  const T* kb = static_cast<const T*>(a.k) + b * a.ks[0] + hk * a.ks[1];
  const T* vb = static_cast<const T*>(a.v) + b * a.vs[0] + hk * a.vs[1];
  float qr[N];
  {
    T qt[N];
    load_features<T, N, CONTIG>(q, a.qs[3], a.D, lane, qt);
#pragma unroll
    for (int i = 0; i < N; ++i) qr[i] = static_cast<float>(to_compute(qt[i]));
  }
  // This block's keys; a causal row sees keys up to `last` (none: every key is masked).
  int begin = blockIdx.y * a.keys_per_split, end = min(a.Tk, begin + a.keys_per_split);
  const int last = a.Tk - a.Tq + iq;
  const bool all_masked = a.causal && last < 0;
  if (a.causal && !all_masked) end = min(end, last + 1);
  const float lowest = -3.402823466e38f;
  float m = -INFINITY, l = 0.0f, acc[N] = {};
  for (int j0 = begin + warp * kKeysPerStep; j0 < end; j0 += kSdpaWarps * kKeysPerStep) {
    // One round trip to memory per step: the keys' k and v rows and mask entries are loaded
    // together (v of a masked key too: a run where every key is masked weighs them equally).
    T kr[kKeysPerStep][N], vr[kKeysPerStep][N];
    float add[kKeysPerStep];
    bool masked[kKeysPerStep];
#pragma unroll
    for (int u = 0; u < kKeysPerStep; ++u) {
      const int j = min(j0 + u, end - 1);  // a step past the end repeats a key, unweighed
      masked[u] = all_masked;
      add[u] = 0.0f;
      if (a.mask) {
        const int64_t mo = b * a.ms[0] + hq * a.ms[1] + iq * a.ms[2] + j * a.ms[3];
        if (a.mask_bool) {
          masked[u] = !static_cast<const bool*>(a.mask)[mo];
        } else {
          add[u] = static_cast<const float*>(a.mask)[mo];
        }
      }
      load_features<T, N, CONTIG>(kb + j * a.ks[2], a.ks[3], a.D, lane, kr[u]);
      load_features<T, N, CONTIG>(vb + j * a.vs[2], a.vs[3], a.Dv, lane, vr[u]);
    }
    // Scores: the warp's dot products (every lane gets them), scaled, plus the additive mask;
    // float32's lowest where masked, -inf past the end (no weight).
    float s[kKeysPerStep], mx = m;
#pragma unroll
    for (int u = 0; u < kKeysPerStep; ++u) {
      float dot = 0.0f;
#pragma unroll
      for (int i = 0; i < N; ++i) dot += qr[i] * static_cast<float>(to_compute(kr[u][i]));
      dot = group_sum<32>(dot);
      s[u] = j0 + u >= end ? -INFINITY : masked[u] ? lowest : dot * a.scale + add[u];
      mx = fmaxf(mx, s[u]);
    }
    if (mx == -INFINITY) continue;  // nothing with weight yet
    const float corr = m == -INFINITY ? 0.0f : expf(m - mx);
    l *= corr;
#pragma unroll
    for (int i = 0; i < N; ++i) acc[i] *= corr;
    m = mx;
#pragma unroll
    for (int u = 0; u < kKeysPerStep; ++u) {
      const float p = expf(s[u] - mx);
      l += p;
#pragma unroll
      for (int i = 0; i < N; ++i) acc[i] += p * static_cast<float>(to_compute(vr[u][i]));
    }
  }
  // The block's warps meet: each warp's (max, sum, output) in shared memory.
  __shared__ float wm[kSdpaWarps], wl[kSdpaWarps], wo[kSdpaWarps][32 * N];
  if (lane == 0) {
    wm[warp] = m;
    wl[warp] = l;
  }
#pragma unroll
  for (int i = 0; i < N; ++i) wo[warp][feature<N, CONTIG>(lane, i)] = acc[i];
  __syncthreads();
  float M = -INFINITY;
#pragma unroll
  for (int w = 0; w < kSdpaWarps; ++w) M = fmaxf(M, wm[w]);
  float f[kSdpaWarps], L = 0.0f;
#pragma unroll
  for (int w = 0; w < kSdpaWarps; ++w) {
    f[w] = wm[w] == -INFINITY ? 0.0f : expf(wm[w] - M);
    L += wl[w] * f[w];
  }
  for (int d = threadIdx.x; d < a.Dv; d += kSdpaWarps * 32) {
    float o = 0.0f;
#pragma unroll
    for (int w = 0; w < kSdpaWarps; ++w) o += wo[w][d] * f[w];
    if (a.splits == 1) {
      // No key with weight (every score -inf): NaN, as the fallback's softmax gives.
      static_cast<T*>(a.out)[row * a.Dv + d] = convert<T>(M == -INFINITY ? NAN : o / L);
    } else {
      a.part[(row * a.splits + blockIdx.y) * (2 + a.Dv) + 2 + d] = o;
    }
  }
  if (a.splits > 1 && threadIdx.x == 0) {
    float* pr = a.part + (row * a.splits + blockIdx.y) * (2 + a.Dv);
    pr[0] = M;
    pr[1] = L;
  }
}

// out row = the runs' partial outputs combined (sdpa_kernel with splits > 1): each run's weight
// exp(max_run - max) computed once in shared memory, then a thread per feature.
template <class T>
__global__ void __launch_bounds__(256) sdpa_combine_kernel(SdpaArgs a) {
  __shared__ float weight[kSdpaMaxSplits], total;
  const int64_t row = blockIdx.x;
  const int64_t stride = 2 + a.Dv;
  const float* pr = a.part + row * a.splits * stride;
  if (threadIdx.x < 32) {
    float M = -INFINITY;
    for (int s = threadIdx.x; s < a.splits; s += 32) M = fmaxf(M, pr[s * stride]);
#pragma unroll
    for (int d = 16; d > 0; d >>= 1) M = fmaxf(M, __shfl_xor_sync(0xffffffffu, M, d));
    float L = 0.0f;
    for (int s = threadIdx.x; s < a.splits; s += 32) {
      const float ms = pr[s * stride];
      const float w = ms == -INFINITY ? 0.0f : expf(ms - M);
      weight[s] = w;
      L += pr[s * stride + 1] * w;
    }
    L = group_sum<32>(L);
    if (threadIdx.x == 0) total = M == -INFINITY ? NAN : L;  // no key with weight: NaN
  }
  __syncthreads();
  for (int d = threadIdx.x; d < a.Dv; d += blockDim.x) {
    float o = 0.0f;
    for (int s = 0; s < a.splits; ++s) o += pr[s * stride + 2 + d] * weight[s];
    static_cast<T*>(a.out)[row * a.Dv + d] = convert<T>(o / total);
  }
}

// A kernel instance with the blocks of it that fit on a multiprocessor (asked once).
struct SdpaInstance {
  void (*fn)(SdpaArgs);
  int blocks_per_sm;
};

template <class T, int N, bool CONTIG>
SdpaInstance sdpa_instance() {
  static const int blocks = [] {
    int b = 1;
    EMBER_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&b, sdpa_kernel<T, N, CONTIG>, kSdpaWarps * 32, 0));
    return std::max(b, 1);
  }();
  return {sdpa_kernel<T, N, CONTIG>, blocks};
}

bool eval_sdpa(Primitive& prim, const std::vector<array>& inputs, std::vector<array>& outputs, cudaStream_t stream) {
  auto& p = static_cast<ScaledDotProductAttention&>(prim);
  const array &q = inputs[0], &k = inputs[1], &v = inputs[2];
  array& out = outputs[0];
  const Dtype t = q.dtype();
  if (t == float64 || k.dtype() != t || v.dtype() != t || out.dtype() != t) return false;
  SdpaArgs a;
  const int B = q.shape(0), Hkv = k.shape(1);
  a.Hq = q.shape(1);
  a.Tq = q.shape(2);
  a.D = q.shape(3);
  a.Tk = k.shape(2);
  a.Dv = v.shape(3);
  if (a.D > 256 || a.Dv > 256 || Hkv == 0 || a.Hq % Hkv != 0) return false;
  a.group = a.Hq / Hkv;
  a.scale = p.scale();
  a.causal = p.causal();
  if (p.has_mask()) {
    const array& mk = inputs[3];
    if (mk.dtype() != bool_ && mk.dtype() != float32) return false;
    a.mask_bool = mk.dtype() == bool_;
  }
  const int64_t rows = static_cast<int64_t>(B) * a.Hq * a.Tq;
  if (rows > 0x7fffffff) return false;
  for (int d = 0; d < 4; ++d) {
    a.qs[d] = q.strides()[d];
    a.ks[d] = k.strides()[d];
    a.vs[d] = v.strides()[d];
    if (p.has_mask()) a.ms[d] = inputs[3].strides()[d];
  }
  const int n = std::max(a.D, a.Dv) <= 64 ? 2 : std::max(a.D, a.Dv) <= 128 ? 4 : 8;
  return dispatch_float_device(t, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, double>) {
      return false;
    } else {
      a.out = alloc_output(out, stream);
      if (out.size() == 0) return true;
      a.q = device_ptr(q, stream);
      a.k = device_ptr(k, stream);
      a.v = device_ptr(v, stream);
      if (p.has_mask()) a.mask = device_ptr(inputs[3], stream);
      // One vector load per row where the features are contiguous and the rows aligned to it.
      const size_t align = std::min<size_t>(16, n * sizeof(T));
      bool contig = a.D % n == 0 && a.Dv % n == 0;
      for (auto [ptr, st] : {std::pair{a.q, a.qs}, std::pair{a.k, a.ks}, std::pair{a.v, a.vs}}) {
        contig = contig && st[3] == 1 && reinterpret_cast<uintptr_t>(ptr) % align == 0;
        for (int d = 0; d < 3; ++d) contig = contig && (st[d] * sizeof(T)) % align == 0;
      }
      auto pick = [&](auto contig_tag) {
        constexpr bool C = decltype(contig_tag)::value;
        return n == 2 ? sdpa_instance<T, 2, C>() : n == 4 ? sdpa_instance<T, 4, C>() : sdpa_instance<T, 8, C>();
      };
      const SdpaInstance kernel = contig ? pick(std::true_type{}) : pick(std::false_type{});
      // Runs of keys per row: blocks for one full wave (as many as fit on the multiprocessors at
      // once), each run 64 keys or more.
      const int64_t wave = int64_t{kernel.blocks_per_sm} * device_props().multiProcessorCount;
      int splits = static_cast<int>(std::clamp<int64_t>(wave / std::max<int64_t>(rows, 1), 1, kSdpaMaxSplits));
      splits = std::min(splits, std::max(1, (a.Tk + 63) / 64));
      a.keys_per_split = (a.Tk + splits - 1) / splits;
      a.splits = a.keys_per_split > 0 ? (a.Tk + a.keys_per_split - 1) / a.keys_per_split : 1;
      std::shared_ptr<Data> part;
      if (a.splits > 1) {
        part = alloc_device(static_cast<size_t>(rows) * a.splits * (2 + a.Dv) * sizeof(float), stream);
        a.part = static_cast<float*>(part->device_ptr);
      }
      const dim3 grid(static_cast<unsigned>(rows), static_cast<unsigned>(a.splits));
      launch_kernel(kernel.fn, grid, kSdpaWarps * 32, 0, stream, a);
      EMBER_CUDA_CHECK_LAUNCH("sdpa_kernel");
      if (a.splits > 1) {
        launch_kernel(sdpa_combine_kernel<T>, static_cast<unsigned>(rows), 256, 0, stream, a);
        EMBER_CUDA_CHECK_LAUNCH("sdpa_combine_kernel");
      }
      return true;
    }
  });
}

}  // namespace
}  // namespace red

void register_fast_kernels() {
  register_kernel(std::type_index(typeid(RMSNorm)), &red::eval_rms_norm);
  register_kernel(std::type_index(typeid(LayerNorm)), &red::eval_layer_norm);
  register_kernel(std::type_index(typeid(RoPE)), &red::eval_rope);
  register_kernel(std::type_index(typeid(ScaledDotProductAttention)), &red::eval_sdpa);
}

}  // namespace ember::gpu
