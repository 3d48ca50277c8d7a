// CPU kernels of Gather and Scatter.
//
// Both walk the positions p of the index shape I. Position p selects a slice of
// `a` (Gather reads it, Scatter writes into it) starting at the indexed element;
// the slice is walked with its strides collapsed, so whole rows move at once
// when the array is contiguous there. Index arrays are read row-contiguous.
#include <cmath>
#include <cstring>
#include <string>

#include "ember/allocator.h"
#include "ember/backend/common/utils.h"
#include "ember/backend/cpu/copy.h"
#include "ember/backend/cpu/elementwise.h"
#include "ember/primitives_index.h"
#include "ember/scheduler.h"
#include "ember/utils.h"

namespace ember {

namespace cpu {
namespace {

// Below this many elements per chunk a thread hand-off costs more than it saves.
constexpr int64_t kGatherGrain = 1 << 14;

// Reads index arrays (any integer dtype) and turns positions of I into element offsets of the
// slice start, checking that the slice fits.
class IndexReader {
 public:
  IndexReader(const std::vector<array>& idx, const std::vector<int>& axes, const array& a, const Shape& slice,
              const char* op)
      : axes_(axes), op_(op) {
    for (const auto& i : idx) idx_.push_back(ensure_row_contiguous(i));
    for (int ax : axes) {
      size_.push_back(a.shape(ax));
      stride_.push_back(a.strides()[ax]);
      extent_.push_back(slice[ax]);
    }
  }

  // Element offset in `a` of the slice start for position p.
  int64_t offset(int64_t p) const {
    int64_t off = 0;
    for (size_t j = 0; j < idx_.size(); ++j) {
      int64_t v = read(idx_[j], p);
      int64_t n = size_[j];
      if (v < 0) v += n;
      if (v < 0 || v + extent_[j] > n) {
        int64_t raw = read(idx_[j], p);
        throw std::out_of_range("[" + std::string(op_) + "] index " + std::to_string(raw) +
                                " is out of bounds for axis " + std::to_string(axes_[j]) + " with size " +
                                std::to_string(n) +
                                (extent_[j] > 1 ? " and a slice of " + std::to_string(extent_[j]) : std::string()));
      }
      off += v * stride_[j];
    }
    return off;
  }

 private:
  static int64_t read(const array& idx, int64_t p) {
    return dispatch_dtype(idx.dtype(), [&](auto t) -> int64_t {
      using I = decltype(t);
      if constexpr (std::is_integral_v<I>) {
        return static_cast<int64_t>(idx.data<I>()[p]);
      } else {
        return 0;  // rejected when the op was built
      }
    });
  }

  std::vector<array> idx_;
  std::vector<int> axes_;
  std::vector<int64_t> size_, stride_, extent_;
  const char* op_;
};

// A slice of `shape` in an array with `strides`, collapsed against a row-contiguous
// buffer of the same shape: calls f(strided_offset, contiguous_offset, run) per run
// of elements that are consecutive in both when the strided side has stride 1 there.
struct SliceWalk {
  Shape shape;
  Strides strided, contig;
  int64_t run = 1, run_stride = 1;

  SliceWalk(const Shape& slice, const Strides& a_strides) {
    auto [s, st] = collapse_contiguous_dims(slice, {a_strides, row_major_strides(slice)});
    shape = s;
    strided = st[0];
    contig = st[1];
    if (!shape.empty()) {
      run = shape.back();
      run_stride = strided.back();
      shape.pop_back();
      strided.pop_back();
      contig.pop_back();
    }
  }
  int64_t outer() const {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
  template <class F>
  void for_each(F&& f) const {
    StridedIterator it(shape, strided), ic(shape, contig);
    for (int64_t i = 0, n = outer(); i < n; ++i, it.step(), ic.step()) f(it.loc(), ic.loc());
  }
};

template <class T>
T combine(ScatterReduce r, T cur, T upd) {
  using C = compute_t<T>;
  C x = static_cast<C>(cur), y = static_cast<C>(upd);
  switch (r) {
    case ScatterReduce::None:
      return upd;
    case ScatterReduce::Sum:
      return static_cast<T>(x + y);
    case ScatterReduce::Prod:
      if constexpr (std::is_same_v<T, bool>) {
        return x && y;
      } else {
        return static_cast<T>(x * y);
      }
    case ScatterReduce::Max:
    case ScatterReduce::Min:
      if constexpr (std::is_same_v<C, complex64_t>) {
        return cur;  // rejected when the op was built
      } else {
        if constexpr (std::is_floating_point_v<C>) {
          if (x != x) return cur;  // nan propagates, as maximum/minimum do
          if (y != y) return upd;
        }
        bool take = r == ScatterReduce::Max ? y > x : y < x;
        return take ? upd : cur;
      }
  }
  return cur;
}

}  // namespace
}  // namespace cpu

void Gather::eval_cpu(const std::vector<array>& inputs, array& out) {
  using namespace cpu;
  const array& a = inputs[0];
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  std::vector<array> idx(inputs.begin() + 1, inputs.end());
  IndexReader reader(idx, axes_, a, slice_sizes_, "gather");
  SliceWalk walk(slice_sizes_, a.strides());
  int64_t slice_elems = 1;
  for (auto d : slice_sizes_) slice_elems *= d;
  const int64_t positions = static_cast<int64_t>(out.size()) / slice_elems;
  const size_t isz = a.itemsize();
  const char* src = static_cast<const char*>(static_cast<const void*>(a.data<char>()));
  char* dst = out.data<char>();
  int64_t grain = std::max<int64_t>(1, kGatherGrain / slice_elems);
  scheduler::parallel_for(positions, grain, [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      const char* base = src + reader.offset(p) * static_cast<int64_t>(isz);
      char* o = dst + p * slice_elems * static_cast<int64_t>(isz);
      walk.for_each([&](int64_t ls, int64_t lc) {
        const char* s = base + ls * static_cast<int64_t>(isz);
        char* d = o + lc * static_cast<int64_t>(isz);
        if (walk.run_stride == 1) {
          std::memcpy(d, s, walk.run * isz);
        } else {
          for (int64_t i = 0; i < walk.run; ++i) std::memcpy(d + i * isz, s + i * walk.run_stride * isz, isz);
        }
      });
    }
  });
}

void Scatter::eval_cpu(const std::vector<array>& inputs, array& out) {
  // Out starts as a (its buffer when nobody else holds it); updates are applied in
  // order of p, one thread, so repeated indices combine deterministically.
  using namespace cpu;
  const array& a = inputs[0];
  if (can_donate(a, out)) {
    out.copy_shared_buffer(a);
  } else {
    copy_to_contiguous(a, out);
  }
  const array upd = ensure_row_contiguous(inputs.back());
  if (upd.size() == 0 || out.size() == 0) return;
  size_t r = upd.ndim() - a.ndim();
  Shape slice(upd.shape().begin() + r, upd.shape().end());
  std::vector<array> idx(inputs.begin() + 1, inputs.end() - 1);
  IndexReader reader(idx, axes_, out, slice, scatter_reduce_name(reduce_));
  SliceWalk walk(slice, out.strides());
  int64_t slice_elems = 1;
  for (auto d : slice) slice_elems *= d;
  const int64_t positions = static_cast<int64_t>(upd.size()) / slice_elems;
  dispatch_dtype(out.dtype(), [&](auto t) {
    using T = decltype(t);
    T* dst = out.data<T>();
    const T* u = upd.data<T>();
    const ScatterReduce red = reduce_;
    for (int64_t p = 0; p < positions; ++p) {
      T* base = dst + reader.offset(p);
      const T* up = u + p * slice_elems;
      walk.for_each([&](int64_t ls, int64_t lc) {
        T* d = base + ls;
        const T* s = up + lc;
        if (red == ScatterReduce::None) {
          for (int64_t i = 0; i < walk.run; ++i) d[i * walk.run_stride] = s[i];
        } else {
          for (int64_t i = 0; i < walk.run; ++i) d[i * walk.run_stride] = combine(red, d[i * walk.run_stride], s[i]);
        }
      });
    }
  });
}

// ---------------------------------------------------------------- parameters

std::vector<Shape> Gather::output_shapes(const std::vector<array>& inputs) {
  Shape out = inputs.size() > 1 ? inputs[1].shape() : Shape{};
  out.insert(out.end(), slice_sizes_.begin(), slice_sizes_.end());
  return {out};
}

bool Gather::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Gather*>(&other);
  return o && o->axes_ == axes_ && o->slice_sizes_ == slice_sizes_;
}

void Gather::print(std::ostream& os) const {
  os << "Gather axes=" << shape_to_string(Shape(axes_.begin(), axes_.end()))
     << " slice=" << shape_to_string(slice_sizes_);
}

bool Scatter::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Scatter*>(&other);
  return o && o->reduce_ == reduce_ && o->axes_ == axes_;
}

const char* scatter_reduce_name(ScatterReduce r) {
  switch (r) {
    case ScatterReduce::None:
      return "Scatter";
    case ScatterReduce::Sum:
      return "ScatterAdd";
    case ScatterReduce::Prod:
      return "ScatterProd";
    case ScatterReduce::Max:
      return "ScatterMax";
    case ScatterReduce::Min:
      return "ScatterMin";
  }
  return "Scatter";
}

}  // namespace ember
