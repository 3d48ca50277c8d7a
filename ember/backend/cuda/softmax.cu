// CUDA kernels of Softmax (and log_softmax) and LogSumExp, over the last axis.
//
// x: (rows, N) with any strides -> y: (rows, N) or (rows, 1), row-contiguous.
// A warp (N <= 1024) or a block of 256 threads owns a row. Pass 1 keeps an online
// (max, sum of exp(x - max)) per thread, in float for f16/bf16/f32 and double for
// f64, and combines them across the group; pass 2 (softmax only) re-reads the row
// (mostly from L2) and writes exp(x - max) / sum or (x - max) - log(sum).
// A row whose max is not finite (nan anywhere, +inf, or all -inf) gives nan for
// softmax and its max for logsumexp, as the CPU kernel does. `precise` changes
// nothing: halves always compute in float.
#include <typeindex>

#include "ember/backend/cuda/reduce.cuh"

namespace ember::gpu {
namespace red {
namespace {

template <class C>
struct MaxSum {
  C m, s;
};

template <class C>
__device__ __forceinline__ C exp_c(C x) {
  if constexpr (std::is_same_v<C, double>) {
    return exp(x);
  } else {
    return expf(x);
  }
}
template <class C>
__device__ __forceinline__ C log_c(C x) {
  if constexpr (std::is_same_v<C, double>) {
    return log(x);
  } else {
    return logf(x);
  }
}
template <class C>
__device__ __forceinline__ bool is_finite_c(C x) {
  return x == x && x != std::numeric_limits<C>::infinity() && x != -std::numeric_limits<C>::infinity();
}

// Folds one element into the running state. A nan sticks in m; -inf adds nothing.
template <class C>
__device__ __forceinline__ void online_add(MaxSum<C>& st, C x) {
  if (x != x) {
    st.m = x;
  } else if (x == -std::numeric_limits<C>::infinity()) {
    return;
  } else if (x > st.m) {
    st.s = st.s * exp_c(st.m - x) + C(1);
    st.m = x;
  } else {
    st.s += exp_c(x - st.m);
  }
}

template <class C>
struct MaxSumCombine {
  __device__ __forceinline__ MaxSum<C> operator()(MaxSum<C> a, MaxSum<C> b) const {
    const C ninf = -std::numeric_limits<C>::infinity();
    C m = (b.m > a.m || b.m != b.m) ? b.m : a.m;
    if (a.m != a.m) m = a.m;
    if (!is_finite_c(m)) return {m, C(0)};  // the result no longer depends on s
    C s = (a.m == ninf ? C(0) : a.s * exp_c(a.m - m)) + (b.m == ninf ? C(0) : b.s * exp_c(b.m - m));
    return {m, s};
  }
};

// The combined state of the G threads of a group, in every thread of it.
template <int G, class C>
__device__ __forceinline__ MaxSum<C> group_allreduce(MaxSum<C> st) {
  MaxSumCombine<C> combine;
  if constexpr (G == 32) {
#pragma unroll
    for (int d = 16; d > 0; d >>= 1) {
      MaxSum<C> o{__shfl_xor_sync(0xffffffffu, st.m, d), __shfl_xor_sync(0xffffffffu, st.s, d)};
      st = combine(st, o);
    }
    return st;
  } else {
    __shared__ MaxSum<C> result;
    st = block_reduce(st, combine);
    if (threadIdx.x == 0) result = st;
    __syncthreads();
    return result;
  }
}

using SoftmaxArgs = LastAxisRows;

// kMode: 0 softmax, 1 log_softmax, 2 logsumexp (y: one value per row).
template <class T, int G, int kMode>
__global__ void __launch_bounds__(256) softmax_rows_kernel(const T* __restrict__ x, T* __restrict__ y, SoftmaxArgs a) {
  using C = std::conditional_t<std::is_same_v<T, double>, double, float>;
  const int lane = threadIdx.x % G;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (256 / G) + threadIdx.x / G;
  if constexpr (G == 32) {
    if (row >= a.rows) return;  // whole warps leave; G == 256 grids are exact
  }
  const T* xr = x + offset_in(a.row_dims, a.row_dims.nd, row);
  MaxSum<C> st{-std::numeric_limits<C>::infinity(), C(0)};
  if (a.stride == 1) {
    for_each_in_run<G>(xr, a.n, 0, lane, [&](T v, int64_t) { online_add(st, static_cast<C>(to_compute(v))); });
  } else {
    for (int64_t e = lane; e < a.n; e += G) online_add(st, static_cast<C>(to_compute(xr[e * a.stride])));
  }
  st = group_allreduce<G>(st);
  if constexpr (kMode == 2) {
    if (lane == 0) y[row] = convert<T>(is_finite_c(st.m) ? st.m + log_c(st.s) : st.m);
  } else {
    T* yr = y + row * a.n;
    if (!is_finite_c(st.m)) {
      const T nan = convert<T>(std::numeric_limits<C>::quiet_NaN());
      for (int64_t e = lane; e < a.n; e += G) yr[e] = nan;
      return;
    }
    const C ls = log_c(st.s), inv = C(1) / st.s;
#pragma unroll 4
    for (int64_t e = lane; e < a.n; e += G) {
      C v = static_cast<C>(to_compute(xr[e * a.stride])) - st.m;
      yr[e] = convert<T>(kMode == 1 ? v - ls : exp_c(v) * inv);
    }
  }
}

template <class T, int kMode>
void launch_softmax(const T* x, T* y, const SoftmaxArgs& a, cudaStream_t stream) {
  if (a.n <= 1024) {
    launch_kernel(softmax_rows_kernel<T, 32, kMode>, static_cast<unsigned>((a.rows + 7) / 8), 256, 0, stream, x, y, a);
  } else {
    launch_kernel(softmax_rows_kernel<T, 256, kMode>, static_cast<unsigned>(a.rows), 256, 0, stream, x, y, a);
  }
  EMBER_CUDA_CHECK_LAUNCH("softmax_rows_kernel");
}

// mode: 0 softmax, 1 log_softmax, 2 logsumexp.
bool run_softmax(const array& in, array& out, int mode, cudaStream_t stream) {
  if (out.dtype() != in.dtype()) return false;
  SoftmaxArgs a;
  if (!last_axis_rows(in, a)) return false;
  return dispatch_float_device(in.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* y = static_cast<T*>(alloc_output(out, stream));
    if (out.size() == 0) return true;
    // An empty row: logsumexp is -inf (no element is read), softmax has no output.
    const T* x = in.size() ? static_cast<const T*>(device_ptr(in, stream)) : nullptr;
    if (mode == 0) launch_softmax<T, 0>(x, y, a, stream);
    if (mode == 1) launch_softmax<T, 1>(x, y, a, stream);
    if (mode == 2) launch_softmax<T, 2>(x, y, a, stream);
    return true;
  });
}

bool eval_softmax(Primitive& prim, const std::vector<array>& inputs, std::vector<array>& outputs, cudaStream_t stream) {
  auto& p = static_cast<Softmax&>(prim);
  return run_softmax(inputs[0], outputs[0], p.is_log() ? 1 : 0, stream);
}

bool eval_logsumexp(Primitive&, const std::vector<array>& inputs, std::vector<array>& outputs, cudaStream_t stream) {
  return run_softmax(inputs[0], outputs[0], 2, stream);
}

}  // namespace

void register_softmax_kernels() {
  register_kernel(std::type_index(typeid(Softmax)), &eval_softmax);
  register_kernel(std::type_index(typeid(LogSumExp)), &eval_logsumexp);
}

}  // namespace red
}  // namespace ember::gpu
