// Accumulation functors shared by the reduction and scan kernels: each has an
// identity (init) and a combine step; max/min propagate nan.
#pragma once

#include <limits>
#include <type_traits>

namespace ember::cpu {

struct SumOp {
  template <class A>
  static A init() {
    return A(0);
  }
  template <class A>
  A operator()(A a, A x) const {
    return a + x;
  }
};
struct ProdOp {
  template <class A>
  static A init() {
    return A(1);
  }
  template <class A>
  A operator()(A a, A x) const {
    return a * x;
  }
};
// max/min propagate nan: once the accumulator is nan it stays nan.
struct MaxOp {
  template <class A>
  static A init() {
    if constexpr (std::is_floating_point_v<A>) {
      return -std::numeric_limits<A>::infinity();
    } else {
      return std::numeric_limits<A>::lowest();
    }
  }
  template <class A>
  A operator()(A a, A x) const {
    if constexpr (std::is_floating_point_v<A>) {
      return (x > a || x != x) ? x : a;
    } else {
      return x > a ? x : a;
    }
  }
};
struct MinOp {
  template <class A>
  static A init() {
    if constexpr (std::is_floating_point_v<A>) {
      return std::numeric_limits<A>::infinity();
    } else {
      return std::numeric_limits<A>::max();
    }
  }
  template <class A>
  A operator()(A a, A x) const {
    if constexpr (std::is_floating_point_v<A>) {
      return (x < a || x != x) ? x : a;
    } else {
      return x < a ? x : a;
    }
  }
};

}  // namespace ember::cpu
