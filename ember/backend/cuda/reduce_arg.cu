// CUDA kernels of ArgReduce (argmax / argmin along one axis, uint32 output).
//
// Runs on the row/column patterns of reduce_kernels.cuh with an accumulator of
// (value, index). The combine keeps the better value, and on a tie (equal values,
// or both nan) the lower index, so the result is the first extreme whatever order
// the threads meet in; a nan beats any number (the first nan wins), as on the CPU.
#include <algorithm>
#include <typeindex>

#include "ember/backend/cuda/reduce_kernels.cuh"

namespace ember::gpu {
namespace red {
namespace {

template <class C>
struct ArgAcc {
  C v;
  uint32_t i;
};

template <class T, bool kMax>
struct ArgPolicy {
  using In = T;
  using C = compute_t<T>;
  using A = ArgAcc<C>;
  using U = uint32_t;
  __device__ __forceinline__ static bool better(C x, C y) {
    return (kMax ? x > y : x < y) || (is_nan(x) && !is_nan(y));
  }
  __device__ __forceinline__ static A init() {
    C v;
    if constexpr (std::is_floating_point_v<C>) {
      v = kMax ? -std::numeric_limits<C>::infinity() : std::numeric_limits<C>::infinity();
    } else {
      v = kMax ? std::numeric_limits<C>::lowest() : std::numeric_limits<C>::max();
    }
    return {v, 0xffffffffu};  // loses every tie on index
  }
  __device__ __forceinline__ static A load(T x, int64_t e) { return {to_compute(x), static_cast<uint32_t>(e)}; }
  __device__ __forceinline__ static A combine(A a, A b) {
    if (better(b.v, a.v)) return b;
    if (better(a.v, b.v)) return a;
    return b.i < a.i ? b : a;
  }
  __device__ __forceinline__ static U finalize(A a) { return a.i; }
};

bool eval_arg_reduce(Primitive& prim, const std::vector<array>& inputs, std::vector<array>& outputs,
                     cudaStream_t stream) {
  auto& p = static_cast<ArgReduce&>(prim);
  const array& in = inputs[0];
  array& out = outputs[0];
  const int axis = p.axis();
  if (out.dtype() != uint32 || in.ndim() == 0 || in.shape()[axis] == 0) return false;
  // Kept dims in memory order (largest stride first), merged where contiguous in input and output.
  struct Group {
    int64_t n, in, out;
  };
  const Strides out_strides = row_major_strides(out.shape());
  std::vector<Group> groups;
  for (int i = 0; i < static_cast<int>(in.ndim()); ++i) {
    if (i == axis || in.shape()[i] == 1) continue;
    groups.push_back({in.shape()[i], in.strides()[i], out_strides[i]});
  }
  std::stable_sort(groups.begin(), groups.end(),
                   [](const Group& a, const Group& b) { return std::abs(a.in) > std::abs(b.in); });
  Dims kept;
  for (const Group& g : groups) {
    if (kept.nd > 0) {
      const int d = kept.nd - 1;
      if (kept.in[d] == g.in * g.n && kept.out[d] == g.out * g.n) {
        kept.shape[d] *= g.n;
        kept.in[d] = g.in;
        kept.out[d] = g.out;
        continue;
      }
    }
    if (kept.nd == kMaxDims) return false;
    kept.shape[kept.nd] = g.n;
    kept.in[kept.nd] = g.in;
    kept.out[kept.nd] = g.out;
    ++kept.nd;
  }
  Dims red;  // the axis itself: its index is the element's position in the reduction
  red.nd = 1;
  red.shape[0] = in.shape()[axis];
  red.in[0] = in.strides()[axis];
  const bool row = red.in[0] == 1;
  return dispatch_device_dtype(in.dtype(), [&](auto tag) -> bool {
    using T = typename decltype(tag)::type;
    uint32_t* dst = static_cast<uint32_t*>(alloc_output(out, stream));
    if (out.size() == 0) return true;
    const T* src = static_cast<const T*>(device_ptr(in, stream));
    if (p.op() == ArgReduceOp::ArgMax) {
      launch_reduce<ArgPolicy<T, true>>(src, dst, kept, red, row, stream);
    } else {
      launch_reduce<ArgPolicy<T, false>>(src, dst, kept, red, row, stream);
    }
    return true;
  });
}

}  // namespace

void register_arg_reduce_kernels() { register_kernel(std::type_index(typeid(ArgReduce)), &eval_arg_reduce); }

}  // namespace red
}  // namespace ember::gpu
