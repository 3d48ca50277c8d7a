// CUDA kernels of Reduce (sum, prod, max, min, all, any over any set of axes).
//
// The input's dims are sorted into memory order and neighbours merged (both reduced
// or both kept, and contiguous in the input and output); negative strides are flipped
// (a reduction does not care about order). Then the row or column pattern of
// reduce_kernels.cuh runs, chosen by whether the innermost memory dim is reduced.
// Semantics follow the CPU kernel (backend/cpu/reduce.cpp): sums and products of
// bool/int8/int16 accumulate in int32, of uint8/uint16 in uint32, of halves in float
// (stored back as halves); max/min propagate nan; all/any test != 0 on any dtype.
#include <algorithm>
#include <typeindex>

#include "ember/backend/cuda/reduce_kernels.cuh"

namespace ember::gpu {
namespace red {
namespace {

// ---------------------------------------------------------------- combine ops

struct SumOp {
  template <class A>
  __device__ static A init() {
    return A(0);
  }
  template <class A>
  __device__ A operator()(A a, A b) const {
    return a + b;
  }
};
struct ProdOp {
  template <class A>
  __device__ static A init() {
    return A(1);
  }
  template <class A>
  __device__ A operator()(A a, A b) const {
    return a * b;
  }
};
// max/min propagate nan from either side.
struct MaxOp {
  template <class A>
  __device__ static A init() {
    if constexpr (std::is_floating_point_v<A>) {
      return -std::numeric_limits<A>::infinity();
    } else {
      return std::numeric_limits<A>::lowest();
    }
  }
  template <class A>
  __device__ A operator()(A a, A b) const {
    return (b > a || is_nan(b)) ? b : a;
  }
};
struct MinOp {
  template <class A>
  __device__ static A init() {
    if constexpr (std::is_floating_point_v<A>) {
      return std::numeric_limits<A>::infinity();
    } else {
      return std::numeric_limits<A>::max();
    }
  }
  template <class A>
  __device__ A operator()(A a, A b) const {
    return (b < a || is_nan(b)) ? b : a;
  }
};
struct AndOp {
  template <class A>
  __device__ static A init() {
    return true;
  }
  __device__ bool operator()(bool a, bool b) const { return a && b; }
};
struct OrOp {
  template <class A>
  __device__ static A init() {
    return false;
  }
  __device__ bool operator()(bool a, bool b) const { return a || b; }
};

template <class T>
using widen_small_t =
    std::conditional_t<std::is_same_v<T, bool> || std::is_same_v<T, int8_t> || std::is_same_v<T, int16_t>, int32_t,
                       std::conditional_t<std::is_same_v<T, uint8_t> || std::is_same_v<T, uint16_t>, uint32_t,
                                          compute_t<T>>>;

template <class Op, class T>
using acc_t = std::conditional_t<std::is_same_v<Op, AndOp> || std::is_same_v<Op, OrOp>, bool,
                                 std::conditional_t<std::is_same_v<Op, SumOp> || std::is_same_v<Op, ProdOp>,
                                                    widen_small_t<T>, compute_t<T>>>;

// Halves are stored back as halves (except by all/any); everything else as its accumulator.
template <class Op, class T>
using out_t = std::conditional_t<is_half_v<T> && !std::is_same_v<acc_t<Op, T>, bool>, T, acc_t<Op, T>>;

template <class T, class Op>
struct ReducePolicy {
  using In = T;
  using A = acc_t<Op, T>;
  using U = out_t<Op, T>;
  __device__ __forceinline__ static A init() { return Op::template init<A>(); }
  __device__ __forceinline__ static A load(T x, int64_t) { return convert<A>(x); }
  __device__ __forceinline__ static A combine(A a, A b) { return Op{}(a, b); }
  __device__ __forceinline__ static U finalize(A a) { return convert<U>(a); }
};

// ---------------------------------------------------------------- plan

struct Plan {
  Dims kept, red;
  int64_t base = 0;      // element offset of the lowest address (after flipping negative strides)
  int64_t out_base = 0;  // output element the first kept index writes (flipped kept axes run backwards)
  bool row = false;  // the innermost memory dim is reduced
};

// False when more than kMaxDims groups remain after merging (the CPU kernel then runs).
bool make_plan(const array& in, const array& out, const std::vector<int>& axes, Plan& p) {
  struct Group {
    int64_t n, in, out;
    bool reduced;
  };
  const Strides out_strides = row_major_strides(out.shape());
  std::vector<bool> is_reduced(in.ndim(), false);
  for (int ax : axes) is_reduced[ax] = true;
  std::vector<Group> groups;
  for (size_t i = 0; i < in.ndim(); ++i) {
    int64_t n = in.shape()[i], s = in.strides()[i], o = is_reduced[i] ? 0 : out_strides[i];
    if (n == 1) continue;
    if (s < 0) {
      // Walk the axis forwards in memory; a kept axis then fills its outputs backwards.
      p.base += (n - 1) * s;
      s = -s;
      p.out_base += (n - 1) * o;
      o = -o;
    }
    groups.push_back({n, s, o, is_reduced[i]});
  }
  std::stable_sort(groups.begin(), groups.end(), [](const Group& a, const Group& b) { return a.in > b.in; });
  std::vector<Group> merged;
  for (const Group& g : groups) {
    if (!merged.empty()) {
      Group& o = merged.back();
      if (o.reduced == g.reduced && o.in == g.in * g.n && (g.reduced || o.out == g.out * g.n)) {
        o.n *= g.n;
        o.in = g.in;
        o.out = g.out;
        continue;
      }
    }
    merged.push_back(g);
  }
  for (const Group& g : merged) {
    Dims& d = g.reduced ? p.red : p.kept;
    if (d.nd == kMaxDims) return false;
    d.shape[d.nd] = g.n;
    d.in[d.nd] = g.in;
    d.out[d.nd] = g.out;
    ++d.nd;
  }
  p.row = !merged.empty() && merged.back().reduced;
  return true;
}

template <class T, class Op>
bool run_reduce(const array& in, array& out, const Plan& plan, cudaStream_t stream) {
  using P = ReducePolicy<T, Op>;
  if (out.dtype() != dtype_of_device<typename P::U>()) return false;
  auto* dst = static_cast<typename P::U*>(alloc_output(out, stream)) + plan.out_base;
  if (out.size() == 0) return true;
  const T* src = in.size() ? static_cast<const T*>(device_ptr(in, stream)) + plan.base : nullptr;
  launch_reduce<P>(src, dst, plan.kept, plan.red, plan.row, stream);
  return true;
}

bool eval_reduce(Primitive& prim, const std::vector<array>& inputs, std::vector<array>& outputs,
                 cudaStream_t stream) {
  auto& p = static_cast<Reduce&>(prim);
  const array& in = inputs[0];
  array& out = outputs[0];
  Plan plan;
  if (!make_plan(in, out, p.axes(), plan)) return false;
  return dispatch_device_dtype(in.dtype(), [&](auto tag) -> bool {
    using T = typename decltype(tag)::type;
    switch (p.op()) {
      case ReduceOp::Sum: return run_reduce<T, SumOp>(in, out, plan, stream);
      case ReduceOp::Prod: return run_reduce<T, ProdOp>(in, out, plan, stream);
      case ReduceOp::Max: return run_reduce<T, MaxOp>(in, out, plan, stream);
      case ReduceOp::Min: return run_reduce<T, MinOp>(in, out, plan, stream);
      case ReduceOp::And: return run_reduce<T, AndOp>(in, out, plan, stream);
      case ReduceOp::Or: return run_reduce<T, OrOp>(in, out, plan, stream);
    }
    return false;
  });
}

}  // namespace
}  // namespace red

void register_reduce_kernels() {
  register_kernel(std::type_index(typeid(Reduce)), &red::eval_reduce);
  red::register_arg_reduce_kernels();
  red::register_softmax_kernels();
}

}  // namespace ember::gpu
