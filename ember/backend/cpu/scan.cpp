// CPU kernel of Scan. The input is made row-contiguous and viewed as
// (outer, n, inner) with the scan axis in the middle; two access patterns:
//   row:     inner == 1, each of the `outer` rows is scanned in one contiguous
//            pass; rows are split across threads;
//   column:  inner > 1, whole rows of a tile of `inner` are accumulated at a time
//            (acc[j] = op(acc[j], x[i, j]) streams row i contiguously), so every
//            element is still read once in memory order; (outer, tile) units are
//            split across threads.
// Scans are memory-bound: one read and one write per element. float16/bfloat16
// accumulate in float32; the ops cast small integers to int32/uint32 beforehand.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "ember/allocator.h"
#include "ember/backend/cpu/copy.h"
#include "ember/primitives.h"
#include "ember/scheduler.h"

namespace ember {

namespace cpu {
namespace {

// Below this many elements of work a thread hand-off costs more than it saves.
constexpr int64_t kScanGrain = 1 << 15;
// Columns per accumulator tile of the column pattern (4-8 KB of accumulators on the stack).
constexpr int64_t kScanTile = 1024;

template <class T>
constexpr bool is_half_v = std::is_same_v<T, float16_t> || std::is_same_v<T, bfloat16_t>;
template <class T>
using scan_acc_t = std::conditional_t<is_half_v<T>, float, T>;

struct ScanSumOp {
  template <class A>
  static A init() {
    return A(0);
  }
  template <class A>
  A operator()(A a, A x) const {
    return a + x;
  }
};
struct ScanProdOp {
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
struct ScanMaxOp {
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
struct ScanMinOp {
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
// log(exp(a) + exp(x)) without overflow; -inf is the identity, nan propagates.
struct ScanLogAddExpOp {
  template <class A>
  static A init() {
    return -std::numeric_limits<A>::infinity();
  }
  template <class A>
  A operator()(A a, A x) const {
    if (a != a || x != x) return a + x;
    A m = a > x ? a : x;
    A d = a > x ? x - a : a - x;  // <= 0, or nan when both are the same infinity
    if (std::isinf(m)) return m;
    return m + std::log1p(std::exp(d));
  }
};

// y = scan(x) over one contiguous row of n elements.
template <class T, class Op>
void scan_row(const T* x, T* y, int64_t n, bool reverse, bool inclusive, Op op) {
  using A = scan_acc_t<T>;
  A acc = Op::template init<A>();
  const int64_t first = reverse ? n - 1 : 0, step = reverse ? -1 : 1;
  int64_t i = first;
  if (inclusive) {
    for (int64_t k = 0; k < n; ++k, i += step) {
      acc = op(acc, static_cast<A>(x[i]));
      y[i] = static_cast<T>(acc);
    }
  } else {
    for (int64_t k = 0; k < n; ++k, i += step) {
      y[i] = static_cast<T>(acc);
      acc = op(acc, static_cast<A>(x[i]));
    }
  }
}

// y = scan(x) along the middle axis of (n, inner) for the columns [j0, j0 + w), w <= kScanTile.
template <class T, class Op>
void scan_columns(const T* x, T* y, int64_t n, int64_t inner, int64_t j0, int64_t w, bool reverse, bool inclusive,
                  Op op) {
  using A = scan_acc_t<T>;
  A acc[kScanTile];
  std::fill(acc, acc + w, Op::template init<A>());
  for (int64_t k = 0; k < n; ++k) {
    int64_t i = reverse ? n - 1 - k : k;
    const T* xr = x + i * inner + j0;
    T* yr = y + i * inner + j0;
    if (inclusive) {
      for (int64_t j = 0; j < w; ++j) {
        acc[j] = op(acc[j], static_cast<A>(xr[j]));
        yr[j] = static_cast<T>(acc[j]);
      }
    } else {
      for (int64_t j = 0; j < w; ++j) {
        yr[j] = static_cast<T>(acc[j]);
        acc[j] = op(acc[j], static_cast<A>(xr[j]));
      }
    }
  }
}

// x, y: (outer, n, inner) row-contiguous.
template <class T, class Op>
void scan_dispatch(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, bool reverse, bool inclusive, Op op) {
  if (inner == 1) {
    int64_t grain = std::max<int64_t>(1, kScanGrain / std::max<int64_t>(n, 1));
    scheduler::parallel_for(outer, grain, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) scan_row(x + o * n, y + o * n, n, reverse, inclusive, op);
    });
    return;
  }
  const int64_t ntiles = (inner + kScanTile - 1) / kScanTile;
  const int64_t w = std::min(kScanTile, inner);
  const int64_t grain = std::max<int64_t>(1, kScanGrain / std::max<int64_t>(n * w, 1));
  scheduler::parallel_for(outer * ntiles, grain, [&](int64_t b, int64_t e) {
    for (int64_t u = b; u < e; ++u) {
      int64_t o = u / ntiles, j0 = (u % ntiles) * kScanTile;
      const int64_t off = o * n * inner;
      scan_columns(x + off, y + off, n, inner, j0, std::min(kScanTile, inner - j0), reverse, inclusive, op);
    }
  });
}

}  // namespace
}  // namespace cpu

bool Scan::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Scan*>(&other);
  return o && o->op_ == op_ && o->axis_ == axis_ && o->reverse_ == reverse_ && o->inclusive_ == inclusive_;
}

void Scan::print(std::ostream& os) const {
  static const char* names[] = {"Sum", "Prod", "Max", "Min", "LogAddExp"};
  os << "Scan(" << names[static_cast<int>(op_)] << ", axis=" << axis_ << (reverse_ ? ", reverse" : "")
     << (inclusive_ ? "" : ", exclusive") << ")";
}

void Scan::eval_cpu(const std::vector<array>& inputs, array& out) {
  // x: (..., N, ...) -> same shape and dtype, scanned along axis_.
  using namespace cpu;
  array in = ensure_row_contiguous(inputs[0]);
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  const Shape& shape = in.shape();
  int64_t outer = 1, inner = 1, n = shape[axis_];
  for (int i = 0; i < axis_; ++i) outer *= shape[i];
  for (int i = axis_ + 1; i < static_cast<int>(shape.size()); ++i) inner *= shape[i];
  dispatch_dtype(in.dtype(), [&](auto t) {
    using T = decltype(t);
    const T* src = in.data<T>();
    T* dst = out.data<T>();
    auto run = [&](auto op) { scan_dispatch<T>(src, dst, outer, n, inner, reverse_, inclusive_, op); };
    // The ops reject the combinations below before building the graph.
    if constexpr (std::is_same_v<T, complex64_t>) {
      if (op_ == ScanOp::Sum) return run(ScanSumOp{});
      if (op_ == ScanOp::Prod) return run(ScanProdOp{});
      throw std::invalid_argument("[Scan] only sum and prod support complex64 inputs");
    } else if constexpr (std::is_same_v<T, bool>) {
      if (op_ == ScanOp::Max) return run(ScanMaxOp{});
      if (op_ == ScanOp::Min) return run(ScanMinOp{});
      throw std::invalid_argument("[Scan] bool inputs support only max and min");
    } else {
      switch (op_) {
        case ScanOp::Sum:
          return run(ScanSumOp{});
        case ScanOp::Prod:
          return run(ScanProdOp{});
        case ScanOp::Max:
          return run(ScanMaxOp{});
        case ScanOp::Min:
          return run(ScanMinOp{});
        case ScanOp::LogAddExp:
          if constexpr (std::is_floating_point_v<scan_acc_t<T>>) {
            return run(ScanLogAddExpOp{});
          } else {
            throw std::invalid_argument("[Scan] logaddexp expects a floating-point input");
          }
      }
    }
  });
}

}  // namespace ember
