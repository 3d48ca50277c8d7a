// CPU kernels of Reduce, ArgReduce, Softmax and LogSumExp.
//
// Reduce sorts the input's axes by stride (memory order), merges neighbours
// that are both reduced or both kept, and then runs one of two access patterns:
//   row:    the innermost memory axis is reduced; each output combines
//           contiguous runs (vectorized), outputs are split across threads,
//           and a lone output (full reduce) is split within its run;
//   column: the innermost memory axis is kept; rows are folded into a tile
//           of accumulators (float32: 8 rows per pass, see reduce_simd.h);
//           tiles are split across threads, and when there are fewer tiles
//           than threads the reduced rows are split too (each thread then
//           streams a contiguous block of rows) and the partials combined.
// Reductions are memory-bound: every element is read once from its buffer.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <numeric>

#include "ember/backend/common/utils.h"
#include "ember/backend/cpu/copy.h"
#include "ember/backend/cpu/elementwise.h"
#include "ember/backend/cpu/reduce_ops.h"
#include "ember/backend/cpu/reduce_simd.h"
#include "ember/backend/cpu/simd.h"
#include "ember/primitives.h"
#include "ember/scheduler.h"

namespace ember {

namespace cpu {
namespace {

// Below this many elements of work a thread hand-off costs more than it saves.
constexpr int64_t kReduceGrain = 1 << 15;
// Width of the accumulator tile of column reductions: 16 KB of float accumulators,
// and rows up to this width are read whole (measured better than 2048 or 8192).
constexpr int64_t kColTile = 4096;
// Bytes of per-split partial results a column reduction may allocate.
constexpr int64_t kMaxPartialBytes = 16 << 20;
// Column float sums fold their float accumulators into double every this many rows,
// so the error grows with kCascade, not with the number of rows.
constexpr int64_t kCascade = 128;
// Half-precision inputs are widened to float32 in stack chunks of this size.
constexpr int64_t kChunk = 1024;

// ---------------------------------------------------------------- reduction functors

struct AndOp {
  template <class A>
  static A init() {
    return true;
  }
  bool operator()(bool a, bool x) const { return a && x; }
};
struct OrOp {
  template <class A>
  static A init() {
    return false;
  }
  bool operator()(bool a, bool x) const { return a || x; }
};

template <class Op>
constexpr bool is_extreme_v = std::is_same_v<Op, MaxOp> || std::is_same_v<Op, MinOp>;

// Accumulator type: small integers widen (as the output dtype does), halves use float.
template <class Op, class T>
struct AccType {
  using type = compute_t<T>;
};
template <class T>
struct SumAcc {
  using type = std::conditional_t<
      std::is_same_v<T, bool> || std::is_same_v<T, int8_t> || std::is_same_v<T, int16_t>, int32_t,
      std::conditional_t<std::is_same_v<T, uint8_t> || std::is_same_v<T, uint16_t>, uint32_t, compute_t<T>>>;
};
template <class T>
struct AccType<SumOp, T> : SumAcc<T> {};
template <class T>
struct AccType<ProdOp, T> : SumAcc<T> {};
template <class T>
struct AccType<AndOp, T> {
  using type = bool;
};
template <class T>
struct AccType<OrOp, T> {
  using type = bool;
};

// Output type: the accumulator's, except that halves are stored back as halves.
template <class Op, class T>
using out_t = std::conditional_t<is_half_v<T> && !std::is_same_v<Op, AndOp> && !std::is_same_v<Op, OrOp>, T,
                                 typename AccType<Op, T>::type>;

// What one contiguous run reduces to: float sums come back in double.
template <class Op, class A>
using partial_t = std::conditional_t<std::is_same_v<Op, SumOp> && std::is_same_v<A, float>, double, A>;

template <class U, class P>
U to_out(P v) {
  if constexpr (is_half_v<U>) {
    return U(static_cast<float>(v));
  } else {
    return static_cast<U>(v);
  }
}

// ---------------------------------------------------------------- row kernels (contiguous runs)

// Eight independent accumulators so the loop vectorizes without reassociating one chain.
template <class T, class A, class Op>
A generic_run(const T* x, int64_t n, Op op) {
  constexpr int K = 8;
  A acc[K];
  for (int k = 0; k < K; ++k) acc[k] = Op::template init<A>();
  int64_t i = 0;
  for (; i + K <= n; i += K) {
    for (int k = 0; k < K; ++k) acc[k] = op(acc[k], cast_to<A>(x[i + k]));
  }
  for (; i < n; ++i) acc[0] = op(acc[0], cast_to<A>(x[i]));
  A r = acc[0];
  for (int k = 1; k < K; ++k) r = op(r, acc[k]);
  return r;
}

// Reduces x[0..n) (n >= 1) to a partial value.
template <class T, class A, class Op>
partial_t<Op, A> row_run(const T* x, int64_t n, Op op) {
  if constexpr (std::is_same_v<T, float> && std::is_same_v<Op, SumOp>) {
    if (n < 32) {
      double s = 0.0;
      for (int64_t i = 0; i < n; ++i) s += x[i];
      return s;
    }
    return simd::sum_f32(x, n);
  } else if constexpr (std::is_same_v<T, float> && is_extreme_v<Op>) {
    if (n < 32) return generic_run<float, float>(x, n, op);
    return std::is_same_v<Op, MaxOp> ? simd::max_f32(x, n) : simd::min_f32(x, n);
  } else if constexpr (is_half_v<T> && (std::is_same_v<Op, SumOp> || is_extreme_v<Op>)) {
    // Widen a chunk at a time and reuse the float32 kernels.
    float buf[kChunk];
    auto acc = Op::template init<partial_t<Op, float>>();
    for (int64_t b = 0; b < n; b += kChunk) {
      int64_t m = std::min(kChunk, n - b);
      widen(x + b, buf, m);
      acc = op(acc, row_run<float, float>(buf, m, op));
    }
    return acc;
  } else {
    return generic_run<T, A>(x, n, op);
  }
}

// ---------------------------------------------------------------- column kernels (whole rows)

// acc[j] = op(acc[j], x[j]) for j < w.
template <class T, class A, class Op>
void col_accumulate(const T* x, A* acc, int64_t w, Op op) {
  if constexpr (std::is_same_v<T, float> && std::is_same_v<A, float> && std::is_same_v<Op, SumOp>) {
    if (w >= 16) {
      simd::accumulate_add_f32(x, acc, w);
      return;
    }
  }
  // max/min stay in plain C++: the loop keeps a nan accumulator, and GCC vectorizes it.
  for (int64_t j = 0; j < w; ++j) acc[j] = op(acc[j], cast_to<A>(x[j]));
}

// ---------------------------------------------------------------- plan

// Walks a row-major index space with two sets of strides (input and output offsets).
class Walker {
 public:
  Walker(std::vector<int64_t> shape, std::vector<int64_t> sa, std::vector<int64_t> sb)
      : shape_(std::move(shape)), sa_(std::move(sa)), sb_(std::move(sb)), pos_(shape_.size(), 0) {}
  void seek(int64_t idx) {
    a_ = b_ = 0;
    for (int i = static_cast<int>(shape_.size()) - 1; i >= 0; --i) {
      pos_[i] = idx % shape_[i];
      idx /= shape_[i];
      a_ += pos_[i] * sa_[i];
      b_ += pos_[i] * sb_[i];
    }
  }
  void step() {
    for (int i = static_cast<int>(shape_.size()) - 1; i >= 0; --i) {
      if (++pos_[i] < shape_[i]) {
        a_ += sa_[i];
        b_ += sb_[i];
        return;
      }
      a_ -= (pos_[i] - 1) * sa_[i];
      b_ -= (pos_[i] - 1) * sb_[i];
      pos_[i] = 0;
    }
  }
  int64_t a() const { return a_; }
  int64_t b() const { return b_; }

 private:
  std::vector<int64_t> shape_, sa_, sb_, pos_;
  int64_t a_ = 0, b_ = 0;
};

// The reduction after sorting axes into memory order and merging neighbours.
struct ReducePlan {
  bool row = true;                                     // the innermost memory axis is reduced
  int64_t n = 1;                                       // extent of the innermost group (stride 1 in the input)
  int64_t n_out_stride = 0;                            // column case: output stride of the innermost group
  std::vector<int64_t> kept_shape, kept_in, kept_out;  // outer kept groups
  std::vector<int64_t> red_shape, red_in;              // outer reduced groups
  int64_t kept_count() const { return prod(kept_shape); }
  int64_t red_count() const { return prod(red_shape); }
  static int64_t prod(const std::vector<int64_t>& v) {
    return std::accumulate(v.begin(), v.end(), int64_t{1}, std::multiplies<>());
  }
};

// `in` must be dense (any axis order, positive strides); `out` row-major with reduced axes of size 1.
ReducePlan make_plan(const array& in, const array& out, const std::vector<int>& axes) {
  struct Group {
    int64_t n, in_stride, out_stride;
    bool reduced;
  };
  std::vector<bool> is_reduced(in.ndim(), false);
  for (int ax : axes) is_reduced[ax] = true;
  std::vector<Group> groups;
  for (size_t i = 0; i < in.ndim(); ++i) {
    if (in.shape()[i] == 1) continue;
    groups.push_back({in.shape()[i], in.strides()[i], is_reduced[i] ? 0 : out.strides()[i], is_reduced[i]});
  }
  std::stable_sort(groups.begin(), groups.end(),
                   [](const Group& a, const Group& b) { return a.in_stride > b.in_stride; });
  std::vector<Group> merged;
  for (auto& g : groups) {
    if (!merged.empty()) {
      Group& o = merged.back();
      bool same_kind = o.reduced == g.reduced;
      bool in_ok = o.in_stride == g.in_stride * g.n;
      bool out_ok = g.reduced || o.out_stride == g.out_stride * g.n;
      if (same_kind && in_ok && out_ok) {
        o.n *= g.n;
        o.in_stride = g.in_stride;
        o.out_stride = g.out_stride;
        continue;
      }
    }
    merged.push_back(g);
  }
  if (merged.empty()) merged.push_back({1, 1, 0, true});  // a single element
  ReducePlan p;
  const Group& inner = merged.back();
  p.row = inner.reduced;
  p.n = inner.n;
  p.n_out_stride = inner.out_stride;
  for (size_t i = 0; i + 1 < merged.size(); ++i) {
    const Group& g = merged[i];
    if (g.reduced) {
      p.red_shape.push_back(g.n);
      p.red_in.push_back(g.in_stride);
    } else {
      p.kept_shape.push_back(g.n);
      p.kept_in.push_back(g.in_stride);
      p.kept_out.push_back(g.out_stride);
    }
  }
  return p;
}

// A plain buffer (std::vector<bool> has no element references), filled with `init`.
template <class P>
class Scratch {
 public:
  explicit Scratch(int64_t n, P init = P()) : data_(std::make_unique<P[]>(n)) {
    std::fill(data_.get(), data_.get() + n, init);
  }
  P& operator[](int64_t i) { return data_[i]; }
  P* data() { return data_.get(); }

 private:
  std::unique_ptr<P[]> data_;
};

// Runs f(chunk, begin, end) over [0, n) cut into `nchunks` equal ranges, on the pool.
template <class F>
void for_chunks(int64_t n, int64_t nchunks, F&& f) {
  int64_t per = (n + nchunks - 1) / nchunks;
  scheduler::parallel_for(nchunks, 1, [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) {
      int64_t b = c * per, e = std::min(n, b + per);
      if (b < e) f(c, b, e);
    }
  });
}

// How many pieces `n` items of `work` elements each are worth splitting into.
int64_t split_count(int64_t n, int64_t work) {
  int64_t by_work = std::max<int64_t>(1, n * work / kReduceGrain);
  return std::max<int64_t>(1, std::min<int64_t>({scheduler::num_threads(), n, by_work}));
}

// How a column reduction is cut: `units` = kept rows x column tiles of width `w`;
// when there are fewer units than threads, the reduced rows are split `rsplit`
// ways too (each split reads a contiguous block of rows) and combined afterwards.
struct ColSplit {
  int64_t w, ntiles, units, rsplit, items;
  ColSplit(int64_t kept, int64_t n, int64_t rows, int64_t partial_bytes_per_col) {
    const int64_t nthreads = scheduler::num_threads();
    w = std::min(kColTile, n);
    ntiles = (n + w - 1) / w;
    units = kept * ntiles;
    rsplit = 1;
    if (units < nthreads && rows > 1 && units * rows * w >= 2 * kReduceGrain) {
      rsplit = std::min<int64_t>((nthreads + units - 1) / units, rows);
      int64_t cap = std::max<int64_t>(1, kMaxPartialBytes / (units * w * partial_bytes_per_col));
      rsplit = std::min(rsplit, cap);
    }
    items = units * rsplit;
  }
  // Rows [begin, end) of split s.
  std::pair<int64_t, int64_t> rows_of(int64_t s, int64_t rows) const {
    return {rows * s / rsplit, rows * (s + 1) / rsplit};
  }
};

// ---------------------------------------------------------------- reduce drivers

template <class T, class A, class U, class Op>
void reduce_rows(const T* src, U* dst, const ReducePlan& p, Op op) {
  using P = partial_t<Op, A>;
  const int64_t n = p.n, kept = p.kept_count(), runs = p.red_count();
  std::vector<int64_t> zeros_r(p.red_shape.size(), 0);
  int64_t nthreads = scheduler::num_threads();
  if (kept >= nthreads || kept * runs * n < 2 * kReduceGrain) {
    // Many outputs: each thread owns a range of them.
    int64_t nch = split_count(kept, runs * n);
    std::vector<Walker> kw(nch, Walker(p.kept_shape, p.kept_in, p.kept_out));
    std::vector<Walker> rw(nch, Walker(p.red_shape, p.red_in, zeros_r));
    for_chunks(kept, nch, [&](int64_t c, int64_t b, int64_t e) {
      Walker& k = kw[c];
      Walker& r = rw[c];
      k.seek(b);
      for (int64_t o = b; o < e; ++o, k.step()) {
        P acc = Op::template init<P>();
        r.seek(0);
        for (int64_t i = 0; i < runs; ++i, r.step()) acc = op(acc, row_run<T, A>(src + k.a() + r.a(), n, op));
        dst[k.b()] = to_out<U>(acc);
      }
    });
    return;
  }
  // Few outputs: split each output's work (its runs, or its single run) across threads.
  Walker k(p.kept_shape, p.kept_in, p.kept_out);
  k.seek(0);
  for (int64_t o = 0; o < kept; ++o, k.step()) {
    const T* base = src + k.a();
    P acc = Op::template init<P>();
    if (runs == 1) {
      int64_t nch = split_count(n, 1);
      Scratch<P> part(nch, Op::template init<P>());
      for_chunks(n, nch, [&](int64_t c, int64_t b, int64_t e) { part[c] = row_run<T, A>(base + b, e - b, op); });
      for (int64_t c = 0; c < nch; ++c) acc = op(acc, part[c]);
    } else {
      int64_t nch = split_count(runs, n);
      Scratch<P> part(nch, Op::template init<P>());
      std::vector<Walker> rw(nch, Walker(p.red_shape, p.red_in, zeros_r));
      for_chunks(runs, nch, [&](int64_t c, int64_t b, int64_t e) {
        P a = Op::template init<P>();
        rw[c].seek(b);
        for (int64_t i = b; i < e; ++i, rw[c].step()) a = op(a, row_run<T, A>(base + rw[c].a(), n, op));
        part[c] = a;
      });
      for (int64_t c = 0; c < nch; ++c) acc = op(acc, part[c]);
    }
    dst[k.b()] = to_out<U>(acc);
  }
}

template <class T, class A, class U, class Op>
void reduce_cols(const T* src, U* dst, const ReducePlan& p, Op op) {
  // Float sums cascade: rows accumulate in float, every kCascade rows fold into double.
  constexpr bool kCascadeSum = std::is_same_v<Op, SumOp> && std::is_same_v<A, float>;
  constexpr bool kSimdRows = std::is_same_v<T, float> && (std::is_same_v<Op, SumOp> || is_extreme_v<Op>);
  using P = partial_t<Op, A>;
  const int64_t n = p.n, kept = p.kept_count(), rows = p.red_count();
  const ColSplit cs(kept, n, rows, sizeof(P));
  const int64_t w = cs.w, ntiles = cs.ntiles, units = cs.units, rsplit = cs.rsplit, items = cs.items;
  Scratch<P> partials(rsplit > 1 ? items * w : 0);
  int64_t nch = split_count(items, rows * w / rsplit);
  std::vector<int64_t> zeros_r(p.red_shape.size(), 0);
  std::vector<Walker> kw(nch, Walker(p.kept_shape, p.kept_in, p.kept_out));
  std::vector<Walker> rw(nch, Walker(p.red_shape, p.red_in, zeros_r));
  for_chunks(items, nch, [&](int64_t c, int64_t b, int64_t e) {
    A acc[kColTile];
    double wide[kCascadeSum ? kColTile : 1];
    for (int64_t item = b; item < e; ++item) {
      int64_t u = item / rsplit, s = item % rsplit;
      int64_t ki = u / ntiles, j0 = (u % ntiles) * w;
      int64_t tw = std::min(w, n - j0);
      auto [rb, re] = cs.rows_of(s, rows);
      kw[c].seek(ki);
      const T* base = src + kw[c].a() + j0;
      std::fill(acc, acc + tw, Op::template init<A>());
      if constexpr (kCascadeSum) std::fill(wide, wide + tw, 0.0);
      Walker& r = rw[c];
      r.seek(rb);
      if constexpr (kSimdRows) {
        // float32: kCascade rows per call, folded 8 at a time into the accumulators.
        constexpr simd::ColOp col_op = std::is_same_v<Op, SumOp>   ? simd::ColOp::Add
                                       : std::is_same_v<Op, MaxOp> ? simd::ColOp::Max
                                                                   : simd::ColOp::Min;
        const float* ptrs[kCascade];
        for (int64_t i = rb; i < re;) {
          int64_t cnt = std::min(kCascade, re - i);
          for (int64_t q = 0; q < cnt; ++q, r.step()) ptrs[q] = base + r.a();
          simd::accumulate_rows_f32(ptrs, cnt, acc, tw, col_op);
          if constexpr (kCascadeSum) {
            for (int64_t j = 0; j < tw; ++j) wide[j] += acc[j];
            std::fill(acc, acc + tw, 0.0f);
          }
          i += cnt;
        }
      } else {
        int64_t since_fold = 0;
        for (int64_t i = rb; i < re; ++i, r.step()) {
          col_accumulate<T, A>(base + r.a(), acc, tw, op);
          if constexpr (kCascadeSum) {
            if (++since_fold == kCascade) {
              for (int64_t j = 0; j < tw; ++j) wide[j] += acc[j];
              std::fill(acc, acc + tw, 0.0f);
              since_fold = 0;
            }
          }
        }
      }
      auto value = [&](int64_t j) -> P {
        if constexpr (kCascadeSum) {
          return wide[j] + acc[j];
        } else {
          return acc[j];
        }
      };
      if (rsplit == 1) {
        U* o = dst + kw[c].b() + j0 * p.n_out_stride;
        for (int64_t j = 0; j < tw; ++j) o[j * p.n_out_stride] = to_out<U>(value(j));
      } else {
        P* part = partials.data() + item * w;
        for (int64_t j = 0; j < tw; ++j) part[j] = value(j);
      }
    }
  });
  if (rsplit == 1) return;
  Walker k(p.kept_shape, p.kept_in, p.kept_out);
  for (int64_t u = 0; u < units; ++u) {
    int64_t ki = u / ntiles, j0 = (u % ntiles) * w;
    int64_t tw = std::min(w, n - j0);
    k.seek(ki);
    U* o = dst + k.b() + j0 * p.n_out_stride;
    for (int64_t j = 0; j < tw; ++j) {
      P v = partials[u * rsplit * w + j];
      for (int64_t s = 1; s < rsplit; ++s) v = op(v, partials[(u * rsplit + s) * w + j]);
      o[j * p.n_out_stride] = to_out<U>(v);
    }
  }
}

template <class T, class Op>
void reduce_dispatch(const array& input, array& out, const std::vector<int>& axes, Op op) {
  using A = typename AccType<Op, T>::type;
  using U = out_t<Op, T>;
  U* dst = out.data<U>();
  if (input.size() == 0) {  // an empty reduction gives the identity (max/min were rejected by the op)
    std::fill(dst, dst + out.size(), to_out<U>(Op::template init<A>()));
    return;
  }
  // Dense inputs are read in place in memory order; others (broadcast, stepped or negative strides) are copied.
  array in = input;
  if (!(in.flags().contiguous && in.data_size() == in.size())) in = ensure_row_contiguous(in);
  ReducePlan p = make_plan(in, out, axes);
  if (p.row) {
    reduce_rows<T, A, U>(in.data<T>(), dst, p, op);
  } else {
    reduce_cols<T, A, U>(in.data<T>(), dst, p, op);
  }
}

// ---------------------------------------------------------------- argmax / argmin

// Whether x beats the current best; the first nan wins and keeps winning.
template <bool kMax>
struct ArgBetter {
  template <class C>
  bool operator()(C x, C best) const {
    bool b = kMax ? x > best : x < best;
    if constexpr (std::is_floating_point_v<C>) b = b || (x != x && best == best);
    return b;
  }
};

template <class C>
struct ArgPartial {
  C best;
  int64_t index;
};

// float32: a vector max/min per L1-sized block; only a block that beats the best
// is searched, first by vector max/min of its sub-blocks, then by a scalar scan
// of the one sub-block holding the value. Random data rarely beats the best, so
// the cost is one vector pass.
template <bool kMax>
ArgPartial<float> arg_run_f32(const float* x, int64_t n) {
  constexpr int64_t kBlock = 4096, kSub = 256;
  ArgBetter<kMax> better;
  auto extreme = [](const float* p, int64_t m) { return kMax ? simd::max_f32(p, m) : simd::min_f32(p, m); };
  ArgPartial<float> r{x[0], 0};
  if (std::isnan(r.best)) return r;
  for (int64_t b = 0; b < n; b += kBlock) {
    int64_t m = std::min(kBlock, n - b);
    float v = extreme(x + b, m);
    if (!better(v, r.best)) continue;
    bool nan = std::isnan(v);
    auto hit = [&](float e) { return nan ? std::isnan(e) : e == v; };
    for (int64_t sb = b; sb < b + m; sb += kSub) {
      int64_t sm = std::min(kSub, b + m - sb);
      if (!hit(extreme(x + sb, sm))) continue;
      for (int64_t i = sb; i < sb + sm; ++i) {
        if (hit(x[i])) {
          r = {x[i], i};
          break;
        }
      }
      break;
    }
    if (nan) return r;
  }
  return r;
}

template <class T, bool kMax>
ArgPartial<compute_t<T>> arg_run(const T* x, int64_t n) {
  using C = compute_t<T>;
  if constexpr (std::is_same_v<T, float>) {
    return arg_run_f32<kMax>(x, n);
  } else if constexpr (is_half_v<T>) {
    ArgBetter<kMax> better;
    float buf[kChunk];
    ArgPartial<float> r{static_cast<float>(x[0]), 0};
    for (int64_t b = 0; b < n; b += kChunk) {
      int64_t m = std::min(kChunk, n - b);
      for (int64_t i = 0; i < m; ++i) buf[i] = static_cast<float>(x[b + i]);
      ArgPartial<float> c = arg_run_f32<kMax>(buf, m);
      if (better(c.best, r.best)) r = {c.best, b + c.index};
    }
    return r;
  } else {
    ArgBetter<kMax> better;
    ArgPartial<C> r{static_cast<C>(x[0]), 0};
    for (int64_t i = 1; i < n; ++i) {
      C v = static_cast<C>(x[i]);
      if (better(v, r.best)) r = {v, i};
    }
    return r;
  }
}

template <class T, bool kMax>
void arg_reduce(const array& input, array& out, int axis) {
  using C = compute_t<T>;
  uint32_t* dst = out.data<uint32_t>();
  if (out.size() == 0) return;
  array in = ensure_row_contiguous(input);
  const T* src = in.data<T>();
  int64_t outer = 1, inner = 1, n = in.shape()[axis];
  for (int i = 0; i < axis; ++i) outer *= in.shape()[i];
  for (size_t i = axis + 1; i < in.ndim(); ++i) inner *= in.shape()[i];
  if (n == 0) {  // rejected by the op; never throw in a kernel
    std::fill(dst, dst + out.size(), 0u);
    return;
  }
  ArgBetter<kMax> better;
  if (inner == 1) {
    const int64_t nthreads = scheduler::num_threads();
    if (outer >= nthreads || outer * n < 2 * kReduceGrain) {
      for_chunks(outer, split_count(outer, n), [&](int64_t, int64_t b, int64_t e) {
        for (int64_t o = b; o < e; ++o) dst[o] = static_cast<uint32_t>(arg_run<T, kMax>(src + o * n, n).index);
      });
      return;
    }
    // Few long rows: split each row, then keep the first best in row order.
    for (int64_t o = 0; o < outer; ++o) {
      const T* row = src + o * n;
      int64_t nch = split_count(n, 1);
      std::vector<ArgPartial<C>> part(nch, ArgPartial<C>{C{}, -1});
      for_chunks(n, nch, [&](int64_t c, int64_t b, int64_t e) {
        auto r = arg_run<T, kMax>(row + b, e - b);
        part[c] = {r.best, r.index + b};
      });
      ArgPartial<C> best = part[0];
      for (auto& pc : part) {
        if (pc.index >= 0 && better(pc.best, best.best)) best = pc;
      }
      dst[o] = static_cast<uint32_t>(best.index);
    }
    return;
  }
  // Column case: (outer, n, inner); a tile of running bests per unit of work,
  // and with few units the n rows split across threads, merged in row order.
  const ColSplit cs(outer, inner, n, sizeof(C) + sizeof(uint32_t));
  const int64_t w = cs.w, ntiles = cs.ntiles, rsplit = cs.rsplit;
  Scratch<C> part_best(rsplit > 1 ? cs.items * w : 0);
  Scratch<uint32_t> part_idx(rsplit > 1 ? cs.items * w : 0);
  for_chunks(cs.items, split_count(cs.items, n * w / rsplit), [&](int64_t, int64_t b, int64_t e) {
    C best[kColTile];
    uint32_t idx[kColTile];
    for (int64_t item = b; item < e; ++item) {
      int64_t u = item / rsplit, s = item % rsplit;
      int64_t o = u / ntiles, j0 = (u % ntiles) * w;
      int64_t tw = std::min(w, inner - j0);
      auto [rb, re] = cs.rows_of(s, n);
      const T* base = src + o * n * inner + j0;
      for (int64_t j = 0; j < tw; ++j) {
        best[j] = static_cast<C>(base[rb * inner + j]);
        idx[j] = static_cast<uint32_t>(rb);
      }
      if constexpr (std::is_same_v<T, float>) {
        const float* ptrs[kCascade];
        for (int64_t i = rb + 1; i < re;) {
          int64_t cnt = std::min(kCascade, re - i);
          for (int64_t q = 0; q < cnt; ++q) ptrs[q] = base + (i + q) * inner;
          simd::arg_update_rows_f32(ptrs, cnt, static_cast<uint32_t>(i), best, idx, tw, kMax);
          i += cnt;
        }
      } else {
        for (int64_t i = rb + 1; i < re; ++i) {
          const T* row = base + i * inner;
          for (int64_t j = 0; j < tw; ++j) {
            C v = static_cast<C>(row[j]);
            bool take = better(v, best[j]);
            best[j] = take ? v : best[j];
            idx[j] = take ? static_cast<uint32_t>(i) : idx[j];
          }
        }
      }
      if (rsplit == 1) {
        std::copy(idx, idx + tw, dst + o * inner + j0);
      } else {
        std::copy(best, best + tw, part_best.data() + item * w);
        std::copy(idx, idx + tw, part_idx.data() + item * w);
      }
    }
  });
  if (rsplit == 1) return;
  for (int64_t u = 0; u < cs.units; ++u) {
    int64_t o = u / ntiles, j0 = (u % ntiles) * w;
    int64_t tw = std::min(w, inner - j0);
    for (int64_t j = 0; j < tw; ++j) {
      int64_t first = u * rsplit * w + j;
      C bv = part_best[first];
      uint32_t bi = part_idx[first];
      for (int64_t sp = 1; sp < rsplit; ++sp) {
        int64_t k = (u * rsplit + sp) * w + j;
        if (better(part_best[k], bv)) {
          bv = part_best[k];
          bi = part_idx[k];
        }
      }
      dst[o * inner + j0 + j] = bi;
    }
  }
}

// ---------------------------------------------------------------- softmax / logsumexp (last axis)

// Max of a row in float (nan if any is nan); halves are widened in chunks.
template <class T>
float row_max_f(const T* x, int64_t n) {
  return static_cast<float>(row_run<T, float>(x, n, MaxOp{}));
}

// sum(exp(x - m)) of a float-like row, through a stack buffer.
template <class T>
double row_sum_exp(const T* x, int64_t n, float m) {
  float buf[kChunk];
  double s = 0.0;
  for (int64_t b = 0; b < n; b += kChunk) {
    int64_t len = std::min(kChunk, n - b);
    for (int64_t i = 0; i < len; ++i) buf[i] = static_cast<float>(x[b + i]) - m;
    simd::exp_f32(buf, buf, len);
    s += simd::sum_f32(buf, len);
  }
  return s;
}

// y = softmax(x) or log_softmax(x) over one row of n >= 1 elements.
template <class T>
void softmax_row(const T* x, T* y, int64_t n, bool log) {
  if constexpr (std::is_same_v<T, double>) {
    double m = -std::numeric_limits<double>::infinity();
    bool nan = false;
    for (int64_t i = 0; i < n; ++i) {
      nan |= std::isnan(x[i]);
      m = std::max(m, x[i]);
    }
    if (nan) m = std::numeric_limits<double>::quiet_NaN();
    double s = 0.0;
    for (int64_t i = 0; i < n; ++i) s += std::exp(x[i] - m);
    if (log) {
      double ls = std::log(s);
      for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - m) - ls;
    } else {
      for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i] - m) / s;
    }
  } else {
    float m = row_max_f(x, n);
    if constexpr (std::is_same_v<T, float>) {
      if (!log) {  // exp lands in y directly; one more pass scales it
        for (int64_t i = 0; i < n; ++i) y[i] = x[i] - m;
        simd::exp_f32(y, y, n);
        float inv = static_cast<float>(1.0 / simd::sum_f32(y, n));
        for (int64_t i = 0; i < n; ++i) y[i] *= inv;
        return;
      }
    }
    double s = row_sum_exp(x, n, m);
    float buf[kChunk];
    float ls = static_cast<float>(std::log(s)), inv = static_cast<float>(1.0 / s);
    for (int64_t b = 0; b < n; b += kChunk) {
      int64_t len = std::min(kChunk, n - b);
      for (int64_t i = 0; i < len; ++i) buf[i] = static_cast<float>(x[b + i]) - m;
      if (log) {
        for (int64_t i = 0; i < len; ++i) y[b + i] = T(buf[i] - ls);
      } else {
        simd::exp_f32(buf, buf, len);
        for (int64_t i = 0; i < len; ++i) y[b + i] = T(buf[i] * inv);
      }
    }
  }
}

// log(sum(exp(x))) of one row; -inf for an empty or all -inf row, +inf if any is +inf.
template <class T>
T logsumexp_row(const T* x, int64_t n) {
  if (n == 0) return T(-std::numeric_limits<float>::infinity());
  if constexpr (std::is_same_v<T, double>) {
    double m = -std::numeric_limits<double>::infinity();
    for (int64_t i = 0; i < n; ++i) {
      if (std::isnan(x[i])) return x[i];
      m = std::max(m, x[i]);
    }
    if (std::isinf(m)) return m;
    double s = 0.0;
    for (int64_t i = 0; i < n; ++i) s += std::exp(x[i] - m);
    return m + std::log(s);
  } else {
    float m = row_max_f(x, n);
    if (!std::isfinite(m)) return T(m);
    return T(static_cast<float>(m + std::log(row_sum_exp(x, n, m))));
  }
}

// Rows shorter than this (a classifier's logits, say) take the block paths below: one exp
// call over a block of rows, since a call per row of a few elements costs more than its
// arithmetic.
constexpr int64_t kShortRow = 32;

// For rows [0, rows) of x (n each, rows * n <= kChunk): m[r] = the row's max (nan if any is
// nan), buf = exp(x - m) row by row, sum[r] = the row's sum of buf.
template <class T>
void exp_shifted_rows(const T* x, int64_t rows, int64_t n, float* m, float* buf, double* sum) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* xr = x + r * n;
    float mr = -std::numeric_limits<float>::infinity();
    bool nan = false;
    for (int64_t i = 0; i < n; ++i) {
      const float v = static_cast<float>(xr[i]);
      nan |= v != v;
      mr = std::max(mr, v);
    }
    m[r] = nan ? std::numeric_limits<float>::quiet_NaN() : mr;
    for (int64_t i = 0; i < n; ++i) buf[r * n + i] = static_cast<float>(xr[i]) - m[r];
  }
  simd::exp_f32(buf, buf, rows * n);
  for (int64_t r = 0; r < rows; ++r) {
    sum[r] = 0.0;
    for (int64_t i = 0; i < n; ++i) sum[r] += buf[r * n + i];
  }
}

// Runs f(first row, row count) over blocks of rows of n (< kShortRow) elements, on the pool.
template <class F>
void for_row_blocks(int64_t rows, int64_t n, F&& f) {
  const int64_t per = kChunk / n;
  for_chunks(rows, split_count(rows, n), [&](int64_t, int64_t b, int64_t e) {
    for (int64_t r = b; r < e; r += per) f(r, std::min(per, e - r));
  });
}

// logsumexp_row over rows shorter than kShortRow (float32 and halves).
template <class T>
void logsumexp_short_rows(const T* src, T* dst, int64_t rows, int64_t n) {
  for_row_blocks(rows, n, [&](int64_t r0, int64_t count) {
    float buf[kChunk], m[kChunk];
    double sum[kChunk];
    exp_shifted_rows(src + r0 * n, count, n, m, buf, sum);
    for (int64_t r = 0; r < count; ++r) {
      dst[r0 + r] = std::isfinite(m[r]) ? T(static_cast<float>(m[r] + std::log(sum[r]))) : T(m[r]);
    }
  });
}

// softmax_row over rows shorter than kShortRow (float32 and halves).
template <class T>
void softmax_short_rows(const T* src, T* dst, int64_t rows, int64_t n, bool log) {
  for_row_blocks(rows, n, [&](int64_t r0, int64_t count) {
    float buf[kChunk], m[kChunk];
    double sum[kChunk];
    exp_shifted_rows(src + r0 * n, count, n, m, buf, sum);
    for (int64_t r = 0; r < count; ++r) {
      const T* x = src + (r0 + r) * n;
      T* y = dst + (r0 + r) * n;
      if (log) {
        const float ls = static_cast<float>(std::log(sum[r]));
        for (int64_t i = 0; i < n; ++i) y[i] = T((static_cast<float>(x[i]) - m[r]) - ls);
      } else {
        const float inv = static_cast<float>(1.0 / sum[r]);
        for (int64_t i = 0; i < n; ++i) y[i] = T(buf[r * n + i] * inv);
      }
    }
  });
}

template <class F>
void for_rows(int64_t rows, int64_t n, F&& f) {
  for_chunks(rows, split_count(rows, std::max<int64_t>(n, 1)), [&](int64_t, int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) f(r);
  });
}

}  // namespace
}  // namespace cpu

// ---------------------------------------------------------------- primitives

std::vector<Shape> Reduce::output_shapes(const std::vector<array>& inputs) {
  Shape s = inputs[0].shape();
  for (int ax : axes_) s[ax] = 1;
  return {s};
}

bool Reduce::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Reduce*>(&other);
  return o && o->op_ == op_ && o->axes_ == axes_;
}

const char* Reduce::name() const {
  switch (op_) {
    case ReduceOp::Sum:
      return "Sum";
    case ReduceOp::Prod:
      return "Prod";
    case ReduceOp::Max:
      return "Max";
    case ReduceOp::Min:
      return "Min";
    case ReduceOp::And:
      return "All";
    case ReduceOp::Or:
      return "Any";
  }
  return "Reduce";
}

void Reduce::eval_cpu(const std::vector<array>& inputs, array& out) {
  using namespace cpu;
  const array& in = inputs[0];
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  dispatch_dtype(in.dtype(), [&](auto t) {
    using T = decltype(t);
    switch (op_) {
      case ReduceOp::Sum:
        return reduce_dispatch<T>(in, out, axes_, SumOp{});
      case ReduceOp::Prod:
        return reduce_dispatch<T>(in, out, axes_, ProdOp{});
      case ReduceOp::And:
        return reduce_dispatch<T>(in, out, axes_, AndOp{});
      case ReduceOp::Or:
        return reduce_dispatch<T>(in, out, axes_, OrOp{});
      case ReduceOp::Max:
      case ReduceOp::Min:
        if constexpr (std::is_same_v<T, complex64_t>) {
          throw std::invalid_argument(std::string("[") + name() + "] not supported for complex64 inputs");
        } else if (op_ == ReduceOp::Max) {
          return reduce_dispatch<T>(in, out, axes_, MaxOp{});
        } else {
          return reduce_dispatch<T>(in, out, axes_, MinOp{});
        }
    }
  });
}

std::vector<Shape> ArgReduce::output_shapes(const std::vector<array>& inputs) {
  Shape s = inputs[0].shape();
  s[axis_] = 1;
  return {s};
}

bool ArgReduce::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const ArgReduce*>(&other);
  return o && o->op_ == op_ && o->axis_ == axis_;
}

void ArgReduce::eval_cpu(const std::vector<array>& inputs, array& out) {
  using namespace cpu;
  const array& in = inputs[0];
  out.set_data(allocator::malloc(out.nbytes()));
  dispatch_dtype(in.dtype(), [&](auto t) {
    using T = decltype(t);
    if constexpr (std::is_same_v<T, complex64_t>) {
      throw std::invalid_argument(std::string("[") + name() + "] not supported for complex64 inputs");
    } else if (op_ == ArgReduceOp::ArgMax) {
      arg_reduce<T, true>(in, out, axis_);
    } else {
      arg_reduce<T, false>(in, out, axis_);
    }
  });
}

bool Softmax::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Softmax*>(&other);
  return o && o->precise_ == precise_ && o->log_ == log_;
}

void Softmax::eval_cpu(const std::vector<array>& inputs, array& out) {
  // x: (..., N) -> (..., N); half inputs always compute in float32 on the CPU, so `precise` changes nothing here.
  using namespace cpu;
  array in = ensure_row_contiguous(inputs[0]);
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  int64_t n = in.ndim() ? in.shape().back() : 1;
  int64_t rows = static_cast<int64_t>(in.size()) / n;
  dispatch_float(in.dtype(), name(), [&](auto t) {
    using T = decltype(t);
    const T* src = in.data<T>();
    T* dst = out.data<T>();
    bool log = log_;
    if constexpr (!std::is_same_v<T, double>) {
      if (n < kShortRow) return softmax_short_rows(src, dst, rows, n, log);
    }
    for_rows(rows, n, [&](int64_t r) { softmax_row(src + r * n, dst + r * n, n, log); });
  });
}

void LogSumExp::eval_cpu(const std::vector<array>& inputs, array& out) {
  // x: (..., N) -> (..., 1)
  using namespace cpu;
  array in = ensure_row_contiguous(inputs[0]);
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  int64_t n = in.ndim() ? in.shape().back() : 1;
  int64_t rows = static_cast<int64_t>(out.size());
  dispatch_float(in.dtype(), name(), [&](auto t) {
    using T = decltype(t);
    const T* src = in.data<T>();
    T* dst = out.data<T>();
    if constexpr (!std::is_same_v<T, double>) {
      if (n > 0 && n < kShortRow) return logsumexp_short_rows(src, dst, rows, n);
    }
    for_rows(rows, n, [&](int64_t r) { dst[r] = logsumexp_row(src + r * n, n); });
  });
}

}  // namespace ember
