// CPU kernels of Sort, ArgSort, Partition, ArgPartition, GatherAxis and ScatterAddAxis.
//
// Every kernel views its (row-contiguous) input as (outer, n, inner) around the
// axis: a "row" is one of the outer * inner lines of n elements, stride inner.
// Rows are independent and split across threads in chunks; each chunk owns a
// scratch buffer allocated before the parallel region (nothing in it throws).
// Rows with inner > 1 are strided, so they are gathered into the scratch,
// sorted there (cache-friendly) and scattered back.
#include <algorithm>
#include <cstring>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>

#include "ember/allocator.h"
#include "ember/backend/cpu/copy.h"
#include "ember/backend/cpu/elementwise.h"
#include "ember/primitives.h"
#include "ember/scheduler.h"

namespace ember {

namespace cpu {
namespace {

// Below this many elements per chunk a thread hand-off costs more than it saves.
constexpr int64_t kSortGrain = 1 << 14;

// Strict weak order with nan after every number (all nans equivalent), as NumPy sorts.
template <class C>
inline bool nan_less(C a, C b) {
  if constexpr (std::is_floating_point_v<C>) {
    return a < b || (b != b && a == a);
  } else {
    return a < b;
  }
}

// (outer, n, inner) view of a row-contiguous array of `shape` around `axis`.
struct Rows {
  int64_t outer = 1, n = 1, inner = 1;
  Rows(const Shape& shape, int axis) {
    for (int i = 0; i < axis; ++i) outer *= shape[i];
    n = shape[axis];
    for (size_t i = axis + 1; i < shape.size(); ++i) inner *= shape[i];
  }
  int64_t count() const { return outer * inner; }
  // Offset of element 0 of row r (rows numbered outer-major).
  int64_t base(int64_t r) const { return (r / inner) * n * inner + r % inner; }
};

// Splits `rows` rows of `n` elements into chunks and runs f(chunk, row_begin, row_end) on the pool.
template <class F>
void for_row_chunks(int64_t nchunks, int64_t rows, F&& f) {
  scheduler::parallel_for(nchunks, 1, [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) f(c, c * rows / nchunks, (c + 1) * rows / nchunks);
  });
}

int64_t chunk_count(int64_t rows, int64_t n) {
  int64_t by_work = std::max<int64_t>(1, rows * std::max<int64_t>(n, 1) / kSortGrain);
  return std::max<int64_t>(1, std::min<int64_t>({by_work, rows, scheduler::num_threads()}));
}

// Sorts [b, e) in nan-last order: for floating types the nans are moved to the end first (a
// stable partition, so argsort stays stable), then the rest is sorted with a plain `<`, which
// std::sort runs faster than the two-comparison nan-aware order.
template <bool kStable, class It, class Key>
void sort_nan_last(It b, It e, Key key) {
  using C = decltype(key(*b));
  auto lt = [&](const auto& x, const auto& y) { return key(x) < key(y); };
  if constexpr (std::is_floating_point_v<C>) {
    auto not_nan = [&](const auto& x) { return key(x) == key(x); };
    e = kStable ? std::stable_partition(b, e, not_nan) : std::partition(b, e, not_nan);
  }
  if constexpr (kStable) {
    std::stable_sort(b, e, lt);
  } else {
    std::sort(b, e, lt);
  }
}

// Sorts the values of each row: in place in the output when rows are contiguous, else via scratch.
// Thrown from the kernels (eval rethrows it): an index still out of range after wrapping.
[[noreturn]] void throw_index_error(const char* op, int64_t index, int axis, int64_t size) {
  throw std::out_of_range(std::string("[") + op + "] index " + std::to_string(index) + " is out of bounds for axis " +
                          std::to_string(axis) + " with size " + std::to_string(size));
}

template <class T>
void sort_rows(const array& in, array& out, int axis) {
  using C = compute_t<T>;
  Rows r(in.shape(), axis);
  const T* src = in.data<T>();
  T* dst = out.data<T>();
  auto key = [](T x) { return static_cast<C>(x); };
  int64_t rows = r.count(), nchunks = chunk_count(rows, r.n);
  if (r.inner == 1) {
    std::memcpy(dst, src, sizeof(T) * out.size());
    for_row_chunks(nchunks, rows, [&](int64_t, int64_t b, int64_t e) {
      for (int64_t row = b; row < e; ++row) sort_nan_last<false>(dst + row * r.n, dst + (row + 1) * r.n, key);
    });
    return;
  }
  auto scratch = std::make_unique<T[]>(nchunks * r.n);
  for_row_chunks(nchunks, rows, [&](int64_t c, int64_t b, int64_t e) {
    T* buf = scratch.get() + c * r.n;
    for (int64_t row = b; row < e; ++row) {
      int64_t base = r.base(row);
      for (int64_t j = 0; j < r.n; ++j) buf[j] = src[base + j * r.inner];
      sort_nan_last<false>(buf, buf + r.n, key);
      for (int64_t j = 0; j < r.n; ++j) dst[base + j * r.inner] = buf[j];
    }
  });
}

enum class ArgMode { Sort, Partition };

// Per row: (value, index) pairs ordered by value (stable sort, or nth_element
// around kth), then the indices written to `idx_out` and, when given, the
// values to `val_out` (Partition computes its values from its own indices, so
// they agree with ArgPartition and the vjp's permutation).
template <class T>
void arg_rows(const array& in, uint32_t* idx_out, T* val_out, int axis, ArgMode mode, int kth) {
  using C = compute_t<T>;
  using P = std::pair<C, uint32_t>;
  Rows r(in.shape(), axis);
  const T* src = in.data<T>();
  auto less = [](const P& a, const P& b) { return nan_less(a.first, b.first); };
  int64_t rows = r.count(), nchunks = chunk_count(rows, r.n);
  auto scratch = std::make_unique<P[]>(nchunks * r.n);
  for_row_chunks(nchunks, rows, [&](int64_t c, int64_t b, int64_t e) {
    P* buf = scratch.get() + c * r.n;
    for (int64_t row = b; row < e; ++row) {
      int64_t base = r.base(row);
      for (int64_t j = 0; j < r.n; ++j) buf[j] = {static_cast<C>(src[base + j * r.inner]), static_cast<uint32_t>(j)};
      if (mode == ArgMode::Sort) {
        sort_nan_last<true>(buf, buf + r.n, [](const P& x) { return x.first; });
      } else {
        std::nth_element(buf, buf + kth, buf + r.n, less);
      }
      for (int64_t j = 0; j < r.n; ++j) {
        if (idx_out) idx_out[base + j * r.inner] = buf[j].second;
        if (val_out) val_out[base + j * r.inner] = src[base + buf[j].second * r.inner];
      }
    }
  });
}

// Reads an index of any integer dtype as int64 (0 for other dtypes, which the ops reject).
template <class I>
inline int64_t index_value(I v) {
  if constexpr (std::is_integral_v<I>) {
    return static_cast<int64_t>(v);
  } else {
    return 0;
  }
}

template <class T>
void check_real(const char* name) {
  if constexpr (std::is_same_v<T, complex64_t>) {
    throw std::invalid_argument(std::string("[") + name + "] not supported for complex64 inputs");
  }
}

}  // namespace
}  // namespace cpu

// ---------------------------------------------------------------- Sort, ArgSort, Partition, ArgPartition

bool Sort::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Sort*>(&other);
  return o && o->axis_ == axis_;
}
bool ArgSort::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const ArgSort*>(&other);
  return o && o->axis_ == axis_;
}
bool Partition::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Partition*>(&other);
  return o && o->axis_ == axis_ && o->kth_ == kth_;
}
bool ArgPartition::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const ArgPartition*>(&other);
  return o && o->axis_ == axis_ && o->kth_ == kth_;
}
bool GatherAxis::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const GatherAxis*>(&other);
  return o && o->axis_ == axis_;
}
bool ScatterAddAxis::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const ScatterAddAxis*>(&other);
  return o && o->axis_ == axis_;
}

namespace cpu {
namespace {

// The shared prologue of the sort-family kernels: the output buffer, a
// row-contiguous input, then `f(in, T{})` with its real element type.
template <class F>
void run_sort_kernel(const char* name, const array& input, array& out, F f) {
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  array in = ensure_row_contiguous(input);
  dispatch_dtype(in.dtype(), [&](auto t) {
    using T = decltype(t);
    check_real<T>(name);
    if constexpr (!std::is_same_v<T, complex64_t>) f(in, T{});
  });
}

}  // namespace
}  // namespace cpu

void Sort::eval_cpu(const std::vector<array>& inputs, array& out) {
  // x: (..., N, ...) -> same shape, sorted along axis_
  cpu::run_sort_kernel(name(), inputs[0], out, [&](const array& in, auto t) {
    using T = decltype(t);
    cpu::sort_rows<T>(in, out, axis_);
  });
}

void ArgSort::eval_cpu(const std::vector<array>& inputs, array& out) {
  // x: (..., N, ...) -> uint32 indices of the same shape
  cpu::run_sort_kernel(name(), inputs[0], out, [&](const array& in, auto t) {
    using T = decltype(t);
    cpu::arg_rows<T>(in, out.data<uint32_t>(), nullptr, axis_, cpu::ArgMode::Sort, 0);
  });
}

void Partition::eval_cpu(const std::vector<array>& inputs, array& out) {
  cpu::run_sort_kernel(name(), inputs[0], out, [&](const array& in, auto t) {
    using T = decltype(t);
    cpu::arg_rows<T>(in, nullptr, out.data<T>(), axis_, cpu::ArgMode::Partition, kth_);
  });
}

void ArgPartition::eval_cpu(const std::vector<array>& inputs, array& out) {
  cpu::run_sort_kernel(name(), inputs[0], out, [&](const array& in, auto t) {
    using T = decltype(t);
    cpu::arg_rows<T>(in, out.data<uint32_t>(), nullptr, axis_, cpu::ArgMode::Partition, kth_);
  });
}

// ---------------------------------------------------------------- GatherAxis, ScatterAddAxis

void GatherAxis::eval_cpu(const std::vector<array>& inputs, array& out) {
  // a: (O, Na, I), indices: (O, Ni, I) -> out: (O, Ni, I); memory-bound, split over output elements.
  using namespace cpu;
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  array a = ensure_row_contiguous(inputs[0]);
  array idx = ensure_row_contiguous(inputs[1]);
  Rows ra(a.shape(), axis_), ri(idx.shape(), axis_);
  const int64_t na = ra.n, ni = ri.n, inner = ri.inner, total = static_cast<int64_t>(out.size());
  dispatch_dtype(a.dtype(), [&](auto t) {
    using T = decltype(t);
    const T* src = a.data<T>();
    T* dst = out.data<T>();
    dispatch_dtype(idx.dtype(), [&](auto it) {
      using I = decltype(it);
      const I* ind = idx.data<I>();
      scheduler::parallel_for(total, kSortGrain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          int64_t k = i % inner, o = i / (inner * ni);
          int64_t j = index_value(ind[i]);
          if (j < 0) j += na;
          if (j < 0 || j >= na) throw_index_error("take_along_axis", index_value(ind[i]), axis_, na);
          dst[i] = src[(o * na + j) * inner + k];
        }
      });
    });
  });
}

void ScatterAddAxis::eval_cpu(const std::vector<array>& inputs, array& out) {
  // a: (O, Na, I), indices and updates: (O, Nu, I) -> out: (O, Na, I). Each (o, k) column of the
  // output is owned by one thread, so repeated indices accumulate without races.
  using namespace cpu;
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  copy_to_contiguous(inputs[0], out);
  array idx = ensure_row_contiguous(inputs[1]);
  array upd = ensure_row_contiguous(inputs[2]);
  Rows ra(out.shape(), axis_), ru(upd.shape(), axis_);
  const int64_t na = ra.n, nu = ru.n, inner = ra.inner, cols = ra.count();
  if (upd.size() == 0) return;
  dispatch_dtype(out.dtype(), [&](auto t) {
    using T = decltype(t);
    using C = compute_t<T>;
    const T* u = upd.data<T>();
    T* dst = out.data<T>();
    dispatch_dtype(idx.dtype(), [&](auto it) {
      using I = decltype(it);
      const I* ind = idx.data<I>();
      scheduler::parallel_for(cols, std::max<int64_t>(1, kSortGrain / std::max<int64_t>(nu, 1)),
                              [&](int64_t b, int64_t e) {
                                for (int64_t c = b; c < e; ++c) {
                                  int64_t o = c / inner, k = c % inner;
                                  for (int64_t j = 0; j < nu; ++j) {
                                    int64_t src_off = (o * nu + j) * inner + k;
                                    int64_t d = index_value(ind[src_off]);
                                    if (d < 0) d += na;
                                    if (d < 0 || d >= na) {
                                      throw_index_error("scatter_add_axis", index_value(ind[src_off]), axis_, na);
                                    }
                                    T& y = dst[(o * na + d) * inner + k];
                                    y = static_cast<T>(static_cast<C>(y) + static_cast<C>(u[src_off]));
                                  }
                                }
                              });
    });
  });
}

}  // namespace ember
