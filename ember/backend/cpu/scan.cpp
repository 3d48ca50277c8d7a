// CPU kernel of Scan. The input is made row-contiguous and viewed as
// (outer, n, inner) with the scan axis in the middle; two access patterns:
//   row:     inner == 1, each of the `outer` rows is scanned in one contiguous
//            pass; rows are split across threads, and when there are fewer
//            rows than threads a long row is cut into blocks (block totals
//            first, then each block scanned from its carry-in);
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
#include <vector>

#include "ember/allocator.h"
#include "ember/backend/cpu/copy.h"
#include "ember/backend/cpu/elementwise.h"
#include "ember/backend/cpu/reduce_ops.h"
#include "ember/primitives.h"
#include "ember/scheduler.h"

namespace ember {

namespace cpu {
namespace {

// Below this many elements of work a thread hand-off costs more than it saves.
constexpr int64_t kScanGrain = 1 << 15;
// Columns per accumulator tile of the column pattern (4-8 KB of accumulators on the stack).
constexpr int64_t kScanTile = 1024;
// Rows at least this long are split across threads when there are fewer rows than threads.
constexpr int64_t kScanBlockedMin = 1 << 16;

template <class T>
using scan_acc_t = std::conditional_t<is_half_v<T>, float, T>;

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

// y = scan(x) over one contiguous row of n elements, starting from the accumulator `acc`.
template <class T, class Op>
void scan_row(const T* x, T* y, int64_t n, bool reverse, bool inclusive, Op op, scan_acc_t<T> acc) {
  using A = scan_acc_t<T>;
  const int64_t step = reverse ? -1 : 1;
  int64_t i = reverse ? n - 1 : 0;
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

// op folded over n contiguous elements with 8 independent accumulators, so the
// pass is bound by memory rather than by the latency of one dependent chain.
// Every op here is associative (float sums only up to rounding).
template <class T, class Op>
scan_acc_t<T> fold_block(const T* x, int64_t n, Op op) {
  using A = scan_acc_t<T>;
  A acc[8];
  std::fill(acc, acc + 8, Op::template init<A>());
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int k = 0; k < 8; ++k) acc[k] = op(acc[k], static_cast<A>(x[i + k]));
  }
  for (; i < n; ++i) acc[0] = op(acc[0], static_cast<A>(x[i]));
  A total = acc[0];
  for (int k = 1; k < 8; ++k) total = op(total, acc[k]);
  return total;
}

// One long row split across threads in two passes: block totals (fast fold),
// then each block scanned from the combined totals of the blocks before it in scan order.
template <class T, class Op>
void scan_row_blocked(const T* x, T* y, int64_t n, bool reverse, bool inclusive, Op op, int64_t nblocks) {
  using A = scan_acc_t<T>;
  const int64_t per = (n + nblocks - 1) / nblocks;
  std::vector<A> carry(nblocks, Op::template init<A>());
  scheduler::parallel_for(nblocks, 1, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      int64_t lo = std::min(n, k * per), hi = std::min(n, lo + per);
      carry[k] = fold_block(x + lo, hi - lo, op);
    }
  });
  // Exclusive prefix of the block totals in scan order.
  A acc = Op::template init<A>();
  for (int64_t j = 0; j < nblocks; ++j) {
    int64_t k = reverse ? nblocks - 1 - j : j;
    A total = carry[k];
    carry[k] = acc;
    acc = op(acc, total);
  }
  scheduler::parallel_for(nblocks, 1, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      int64_t lo = std::min(n, k * per), hi = std::min(n, lo + per);
      scan_row(x + lo, y + lo, hi - lo, reverse, inclusive, op, carry[k]);
    }
  });
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
    const int64_t nthreads = scheduler::num_threads();
    if (outer < nthreads && n >= kScanBlockedMin) {
      // Too few rows to occupy the threads: split each row instead.
      for (int64_t o = 0; o < outer; ++o) scan_row_blocked(x + o * n, y + o * n, n, reverse, inclusive, op, nthreads);
      return;
    }
    int64_t grain = std::max<int64_t>(1, kScanGrain / std::max<int64_t>(n, 1));
    scheduler::parallel_for(outer, grain, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o)
        scan_row(x + o * n, y + o * n, n, reverse, inclusive, op, Op::template init<scan_acc_t<T>>());
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
      if (op_ == ScanOp::Sum) return run(SumOp{});
      if (op_ == ScanOp::Prod) return run(ProdOp{});
      throw std::invalid_argument("[Scan] only sum and prod support complex64 inputs");
    } else if constexpr (std::is_same_v<T, bool>) {
      if (op_ == ScanOp::Max) return run(MaxOp{});
      if (op_ == ScanOp::Min) return run(MinOp{});
      throw std::invalid_argument("[Scan] bool inputs support only max and min");
    } else {
      switch (op_) {
        case ScanOp::Sum:
          return run(SumOp{});
        case ScanOp::Prod:
          return run(ProdOp{});
        case ScanOp::Max:
          return run(MaxOp{});
        case ScanOp::Min:
          return run(MinOp{});
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
