// The two access patterns every reduction here runs on, parameterized by a policy
// (accumulator type, identity, per-element load, combine, finalize):
//   row:    the innermost memory axis is reduced. G threads (a warp, or a block of 256)
//           own one output (or one split of it) and walk its contiguous runs with 16-byte
//           loads; few long rows are split across blocks and the partials combined by a
//           column pass. Inputs whose runs are short or strided use plain index math.
//   column: the innermost memory axis is kept. Threads along x own adjacent outputs
//           (coalesced), 8 threads along y share each output's reduction; few outputs
//           split the reduction across gridDim.y and a second column pass combines them.
// Reductions are memory-bound: each element is read once, and the launch keeps every SM
// full (one wave of resident blocks) so the loads in flight cover DRAM latency.
//
// A policy P provides: In (element type), A (accumulator, trivially copyable), U (output),
// and __device__ static A init(); A load(In x, int64_t e) (e: index of x within its
// reduction); A combine(A, A) (associative and commutative); U finalize(A).
#pragma once

#include "ember/backend/cuda/reduce.cuh"

namespace ember::gpu::red {

struct RowArgs {
  int64_t K = 1;      // outputs
  int64_t R = 1;      // elements reduced into each output
  int64_t n = 1;      // length of the innermost reduced dim (contiguous runs when vec)
  int64_t chunk = 1;  // elements per split
  int64_t splits = 1;
  bool vec = false;  // the innermost reduced dim has stride 1: walk runs with vector loads
  Dims kept, red;    // outputs (in and out strides) and the reduction (in strides, innermost last)
};

struct ColArgs {
  int64_t K = 1, R = 1, chunk = 1;
  Dims kept, red;
};

constexpr int kBlock = 256;  // threads per block of every reduction kernel
constexpr int kColX = 32, kColY = 8;

template <class P>
struct CombineFn {
  __device__ __forceinline__ typename P::A operator()(typename P::A a, typename P::A b) const {
    return P::combine(a, b);
  }
};

// x: strided input; out: U at kept.out offsets, or (kPartial) A at [split * K + k].
template <int G, bool kPartial, class P>
__global__ void __launch_bounds__(kBlock)
    reduce_row_kernel(const typename P::In* __restrict__ x, void* out, RowArgs a) {
  using In = typename P::In;
  using A = typename P::A;
  const int lane = threadIdx.x % G;
  const int64_t unit = static_cast<int64_t>(blockIdx.x) * (kBlock / G) + threadIdx.x / G;
  if constexpr (G == 32) {
    if (unit >= a.K * a.splits) return;  // whole warps leave; G == kBlock grids are exact
  }
  const int64_t k = unit / a.splits, sp = unit % a.splits;
  const int64_t e0 = sp * a.chunk, e1 = min(a.R, e0 + a.chunk);
  const In* base = x + offset_in(a.kept, a.kept.nd, k);
  A acc = P::init();
  auto add = [&](In v, int64_t e) { acc = P::combine(acc, P::load(v, e)); };
  if (a.vec && a.red.nd == 1) {  // one contiguous run (the common case): no index math
    for_each_in_run<G>(base + e0, e1 - e0, e0, lane, add);
  } else if (a.vec) {
    for (int64_t e = e0; e < e1;) {
      const int64_t j = e / a.n, w = e - j * a.n;
      const int64_t len = min(a.n - w, e1 - e);
      for_each_in_run<G>(base + offset_in(a.red, a.red.nd - 1, j) + w, len, e, lane, add);
      e += len;
    }
  } else {
    for (int64_t e = e0 + lane; e < e1; e += G) add(base[offset_in(a.red, a.red.nd, e)], e);
  }
  if constexpr (G == 32) {
    acc = warp_reduce(acc, CombineFn<P>{});
  } else {
    acc = block_reduce(acc, CombineFn<P>{});
  }
  if (lane != 0) return;
  if constexpr (kPartial) {
    static_cast<A*>(out)[sp * a.K + k] = acc;
  } else {
    static_cast<typename P::U*>(out)[offset_out(a.kept, k)] = P::finalize(acc);
  }
}

// x: strided input of In (or, kInAcc, partial accumulators); block (32, 8).
template <bool kInAcc, bool kPartial, class P>
__global__ void __launch_bounds__(kBlock) reduce_col_kernel(const void* x_, void* out, ColArgs a) {
  using A = typename P::A;
  using In = std::conditional_t<kInAcc, A, typename P::In>;
  const In* __restrict__ x = static_cast<const In*>(x_);
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t k = static_cast<int64_t>(blockIdx.x) * kColX + tx;
  const int64_t sp = blockIdx.y;
  const int64_t e0 = sp * a.chunk, e1 = min(a.R, e0 + a.chunk);
  A acc = P::init();
  if (k < a.K) {
    const In* base = x + offset_in(a.kept, a.kept.nd, k);
    auto val = [&](int64_t e) -> A {
      In v = base[offset_in(a.red, a.red.nd, e)];
      if constexpr (kInAcc) {
        return v;
      } else {
        return P::load(v, e);
      }
    };
    int64_t e = e0 + ty;
    // Four independent loads per iteration keep enough bytes in flight.
    for (; e + 3 * kColY < e1; e += 4 * kColY) {
      A v0 = val(e), v1 = val(e + kColY), v2 = val(e + 2 * kColY), v3 = val(e + 3 * kColY);
      acc = P::combine(P::combine(acc, v0), P::combine(v1, P::combine(v2, v3)));
    }
    for (; e < e1; e += kColY) acc = P::combine(acc, val(e));
  }
  __shared__ A tile[kColY][kColX + 1];
  tile[ty][tx] = acc;
  __syncthreads();
  if (ty != 0 || k >= a.K) return;
  for (int i = 1; i < kColY; ++i) acc = P::combine(acc, tile[i][tx]);
  if constexpr (kPartial) {
    static_cast<A*>(out)[sp * a.K + k] = acc;
  } else {
    static_cast<typename P::U*>(out)[offset_out(a.kept, k)] = P::finalize(acc);
  }
}

inline int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/// Blocks of `kernel` (kBlock threads) resident on the whole device at once: one full wave.
template <class Kernel>
int64_t wave_blocks(Kernel kernel) {
  int per_sm = 0;
  EMBER_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kBlock, 0));
  return static_cast<int64_t>(device_props().multiProcessorCount) * std::max(1, per_sm);
}

// Combines partials[splits][K] (accumulators, contiguous) into the outputs at kept.out offsets.
template <class P>
void launch_combine_partials(const void* partials, void* out, const Dims& kept, int64_t K, int64_t splits,
                             cudaStream_t stream) {
  ColArgs b;
  b.K = K;
  b.R = splits;
  b.chunk = splits;
  b.kept = kept;
  int64_t st = 1;
  for (int d = kept.nd - 1; d >= 0; --d) {  // partial k sits at flat index k
    b.kept.in[d] = st;
    st *= kept.shape[d];
  }
  b.red.nd = 1;
  b.red.shape[0] = splits;
  b.red.in[0] = K;
  launch_kernel(reduce_col_kernel<true, false, P>, dim3(static_cast<unsigned>(cdiv(K, kColX)), 1), dim3(kColX, kColY),
                0, stream, partials, out, b);
  EMBER_CUDA_CHECK_LAUNCH("reduce_col_kernel(partials)");
}

/// Reduces x (at offsets kept x red) into out (U at kept.out offsets). `row`: the
/// innermost memory dim is the last of `red`. kept.nd and red.nd may be 0.
template <class P>
void launch_reduce(const typename P::In* x, void* out, const Dims& kept, const Dims& red, bool row,
                   cudaStream_t stream) {
  using A = typename P::A;
  const int64_t K = kept.count(), R = red.count();
  if (row && R > 16) {
    RowArgs a;
    a.K = K;
    a.R = R;
    a.kept = kept;
    a.red = red;
    a.n = red.shape[red.nd - 1];
    a.vec = red.in[red.nd - 1] == 1 && (red.nd == 1 || a.n >= 128);
    if (R <= 1024) {  // a warp per output, 8 outputs per block
      a.splits = 1;
      a.chunk = R;
      launch_kernel(reduce_row_kernel<32, false, P>, static_cast<unsigned>(cdiv(K, kBlock / 32)), kBlock, 0, stream, x,
                    out, a);
      EMBER_CUDA_CHECK_LAUNCH("reduce_row_kernel<32>");
      return;
    }
    // A block per output; few outputs split their reduction so every SM has blocks.
    static const int64_t target = wave_blocks(reduce_row_kernel<kBlock, true, P>);
    int64_t splits = 1;
    if (K < target) splits = std::max<int64_t>(1, std::min(cdiv(target, K), cdiv(R, 4096)));
    a.chunk = cdiv(cdiv(R, splits), 16) * 16;
    a.splits = cdiv(R, a.chunk);
    if (a.splits == 1) {
      launch_kernel(reduce_row_kernel<kBlock, false, P>, static_cast<unsigned>(K), kBlock, 0, stream, x, out, a);
      EMBER_CUDA_CHECK_LAUNCH("reduce_row_kernel<256>");
      return;
    }
    auto partials = alloc_device(static_cast<size_t>(a.splits * K) * sizeof(A), stream);
    launch_kernel(reduce_row_kernel<kBlock, true, P>, static_cast<unsigned>(K * a.splits), kBlock, 0, stream, x,
                  partials->device_ptr, a);
    EMBER_CUDA_CHECK_LAUNCH("reduce_row_kernel<256, partial>");
    launch_combine_partials<P>(partials->device_ptr, out, kept, K, a.splits, stream);
    return;  // `partials` is freed in stream order, after the kernels above
  }
  ColArgs a;
  a.K = K;
  a.R = R;
  a.kept = kept;
  a.red = red;
  const int64_t bx = cdiv(K, kColX);
  static const int64_t target = wave_blocks(reduce_col_kernel<false, true, P>);
  int64_t splits = 1;
  if (bx < target && R > 64) splits = std::min<int64_t>({cdiv(target, bx), cdiv(R, 64), 65535});
  a.chunk = std::max<int64_t>(1, cdiv(R, splits));
  splits = std::max<int64_t>(1, cdiv(R, a.chunk));
  if (splits == 1) {
    launch_kernel(reduce_col_kernel<false, false, P>, dim3(static_cast<unsigned>(bx), 1), dim3(kColX, kColY), 0, stream,
                  x, out, a);
    EMBER_CUDA_CHECK_LAUNCH("reduce_col_kernel");
    return;
  }
  auto partials = alloc_device(static_cast<size_t>(splits * K) * sizeof(A), stream);
  launch_kernel(reduce_col_kernel<false, true, P>, dim3(static_cast<unsigned>(bx), static_cast<unsigned>(splits)),
                dim3(kColX, kColY), 0, stream, x, partials->device_ptr, a);
  EMBER_CUDA_CHECK_LAUNCH("reduce_col_kernel(partial)");
  launch_combine_partials<P>(partials->device_ptr, out, kept, K, splits, stream);
}

}  // namespace ember::gpu::red
