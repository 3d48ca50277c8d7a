// Elementwise kernels: one template per access pattern, functors for the math.
//   unary:  contiguous (flat over the buffer) | general strided
//   binary: scalar-scalar | scalar-vector | vector-scalar | vector-vector |
//           general strided, whose inner loop reuses the three vector kernels,
//           so row-broadcast (M,N)+(N,) runs at contiguous speed.
#pragma once

#include <algorithm>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "ember/array.h"
#include "ember/backend/common/utils.h"
#include "ember/backend/cpu/elementwise_ops.h"
#include "ember/backend/cpu/simd.h"
#include "ember/scheduler.h"

namespace ember::cpu {

/// Converts n half-precision values to float32 and back with SIMD (exact / round to nearest even).
template <class T>
void widen(const T* in, float* out, int64_t n) {
  const auto* bits = reinterpret_cast<const uint16_t*>(in);
  if constexpr (std::is_same_v<T, float16_t>) {
    simd::f16_to_f32(bits, out, n);
  } else {
    simd::bf16_to_f32(bits, out, n);
  }
}
template <class T>
void narrow(const float* in, T* out, int64_t n) {
  auto* bits = reinterpret_cast<uint16_t*>(out);
  if constexpr (std::is_same_v<T, float16_t>) {
    simd::f32_to_f16(in, bits, n);
  } else {
    simd::f32_to_bf16(in, bits, n);
  }
}

/// Half-precision inner loops run in blocks: widen to float32, compute, narrow.
inline constexpr int64_t kHalfBlock = 512;

/// Elements per parallel_for chunk below which splitting costs more than it saves.
inline constexpr int64_t kElementwiseGrain = 1 << 15;
/// The same for the SIMD exp and sigmoid kernels, which spend 0.5 to 2 ns per element (sigmoid
/// works in float64): a batched decode's (4, 1536) sigmoid splits in two, 11 -> 8 us.
inline constexpr int64_t kTranscendentalGrain = 1 << 12;

/// Gives `out` a buffer for an elementwise result over `in`: reuses `in`'s
/// buffer when donatable, keeps `in`'s layout when it is dense, else row-major.
inline void alloc_like(const array& in, array& out) {
  if (in.flags().contiguous && in.data_size() == in.size()) {
    if (can_donate(in, out)) {
      out.copy_shared_buffer(in);
      return;
    }
    out.set_data(allocator::malloc(in.data_size() * out.itemsize()), in.data_size(), in.strides(), in.flags());
  } else {
    out.set_data(allocator::malloc(out.nbytes()));
  }
}

/// Walks a unary op's input in the output's order: `row(src, src_stride, dst, n)`
/// once per parallel chunk when the input is dense, else once per collapsed
/// row (dst then row-major). The one place the unary access patterns live. `grain`: elements
/// per parallel chunk at least.
template <class T, class U, class RowFn>
void for_each_unary_row(const array& in, array& out, RowFn row, int64_t grain = kElementwiseGrain) {
  const T* src = in.data<T>();
  U* dst = out.data<U>();
  if (in.flags().contiguous && in.data_size() == in.size()) {
    scheduler::parallel_for(static_cast<int64_t>(in.size()), grain,
                            [&](int64_t b, int64_t e) { row(src + b, int64_t(1), dst + b, e - b); });
    return;
  }
  auto [shape, strides] = collapse_contiguous_dims(in.shape(), {in.strides()});
  int64_t inner = shape.back(), st = strides[0].back();
  int64_t rows = static_cast<int64_t>(in.size()) / inner;
  scheduler::parallel_for(rows, std::max<int64_t>(1, grain / inner), [&](int64_t b, int64_t e) {
    StridedIterator it(shape, strides[0], 1);
    it.seek(b);
    for (int64_t r = b; r < e; ++r) {
      row(src + it.loc(), st, dst + r * inner, inner);
      it.step();
    }
  });
}

template <class T, class U, class Op>
void unary_kernel(const array& in, array& out, Op op) {
  alloc_like(in, out);
  if (in.size() == 0) return;
  auto apply = [op](T x) -> U {
    using C = compute_t<T>;
    return static_cast<U>(op(static_cast<C>(x)));
  };
  for_each_unary_row<T, U>(in, out, [&](const T* s, int64_t st, U* d, int64_t n) {
    if constexpr (is_half_v<T>) {
      if (st == 1) {
        float x[kHalfBlock], y[kHalfBlock];
        for (int64_t b = 0; b < n; b += kHalfBlock) {
          int64_t m = std::min(kHalfBlock, n - b);
          widen(s + b, x, m);
          if constexpr (std::is_same_v<U, T>) {
            for (int64_t i = 0; i < m; ++i) y[i] = static_cast<float>(op(x[i]));
            narrow(y, d + b, m);
          } else {
            for (int64_t i = 0; i < m; ++i) d[b + i] = static_cast<U>(op(x[i]));
          }
        }
        return;
      }
    }
    if (st == 1) {
      for (int64_t i = 0; i < n; ++i) d[i] = apply(s[i]);  // unit stride, so it vectorizes
    } else {
      for (int64_t i = 0; i < n; ++i) d[i] = apply(s[i * st]);
    }
  });
}

enum class BinaryOpType { ScalarScalar, ScalarVector, VectorScalar, VectorVector, General };

inline BinaryOpType binary_op_type(const array& a, const array& b) {
  bool a_scalar = a.data_size() == 1, b_scalar = b.data_size() == 1;
  bool a_dense = a.flags().contiguous && a.data_size() == a.size();
  bool b_dense = b.flags().contiguous && b.data_size() == b.size();
  if (a_scalar && b_scalar) return BinaryOpType::ScalarScalar;
  if (a_scalar && b_dense) return BinaryOpType::ScalarVector;
  if (b_scalar && a_dense) return BinaryOpType::VectorScalar;
  if (a_dense && b_dense && a.strides() == b.strides()) return BinaryOpType::VectorVector;
  return BinaryOpType::General;
}

/// The three dense inner loops; `vectorized` ops may override them (see binary.cpp).
/// Half types go through float32 blocks (a_scalar / b_scalar: that operand is one value).
template <class T, class U, class Op>
struct BinaryLoops {
  template <bool a_scalar, bool b_scalar>
  static void half_blocks(const T* a, const T* b, U* o, int64_t n, Op op) {
    float x[kHalfBlock], y[kHalfBlock], r[kHalfBlock];
    const float xs = static_cast<float>(a[0]), ys = static_cast<float>(b[0]);
    for (int64_t s = 0; s < n; s += kHalfBlock) {
      int64_t m = std::min(kHalfBlock, n - s);
      if constexpr (!a_scalar) widen(a + s, x, m);
      if constexpr (!b_scalar) widen(b + s, y, m);
      for (int64_t i = 0; i < m; ++i) {
        auto v = op(a_scalar ? xs : x[i], b_scalar ? ys : y[i]);
        if constexpr (std::is_same_v<U, T>) {
          r[i] = static_cast<float>(v);
        } else {
          o[s + i] = static_cast<U>(v);
        }
      }
      if constexpr (std::is_same_v<U, T>) narrow(r, o + s, m);
    }
  }
  static void vv(const T* a, const T* b, U* o, int64_t n, Op op) {
    if constexpr (is_half_v<T>) {
      half_blocks<false, false>(a, b, o, n, op);
    } else {
      for (int64_t i = 0; i < n; ++i) {
        o[i] = static_cast<U>(op(static_cast<compute_t<T>>(a[i]), static_cast<compute_t<T>>(b[i])));
      }
    }
  }
  static void sv(const T* a, const T* b, U* o, int64_t n, Op op) {
    if constexpr (is_half_v<T>) {
      half_blocks<true, false>(a, b, o, n, op);
    } else {
      auto x = static_cast<compute_t<T>>(a[0]);
      for (int64_t i = 0; i < n; ++i) o[i] = static_cast<U>(op(x, static_cast<compute_t<T>>(b[i])));
    }
  }
  static void vs(const T* a, const T* b, U* o, int64_t n, Op op) {
    if constexpr (is_half_v<T>) {
      half_blocks<false, true>(a, b, o, n, op);
    } else {
      auto y = static_cast<compute_t<T>>(b[0]);
      for (int64_t i = 0; i < n; ++i) o[i] = static_cast<U>(op(static_cast<compute_t<T>>(a[i]), y));
    }
  }
};

template <class T, class U, class Op, class Loops = BinaryLoops<T, U, Op>>
void binary_kernel(const array& a, const array& b, array& out, Op op) {
  auto type = binary_op_type(a, b);
  switch (type) {
    case BinaryOpType::ScalarScalar:
      out.set_data(allocator::malloc(out.itemsize()), 1, Strides(out.ndim(), 0),
                   layout_of(out.shape(), Strides(out.ndim(), 0)).first);
      break;
    case BinaryOpType::ScalarVector:
      alloc_like(b, out);
      break;
    case BinaryOpType::VectorScalar:
    case BinaryOpType::VectorVector:
      if (can_donate(b, out) && type == BinaryOpType::VectorVector) {
        out.copy_shared_buffer(b);
      } else {
        alloc_like(a, out);
      }
      break;
    case BinaryOpType::General:
      out.set_data(allocator::malloc(out.nbytes()));
      break;
  }
  if (out.size() == 0) return;
  const T* ap = a.data<T>();
  const T* bp = b.data<T>();
  U* op_ = out.data<U>();
  int64_t n = static_cast<int64_t>(out.data_size());
  auto par = [&](auto&& body) { scheduler::parallel_for(n, kElementwiseGrain, body); };
  switch (type) {
    case BinaryOpType::ScalarScalar:
      Loops::vv(ap, bp, op_, 1, op);
      return;
    case BinaryOpType::ScalarVector:
      par([&](int64_t s, int64_t e) { Loops::sv(ap, bp + s, op_ + s, e - s, op); });
      return;
    case BinaryOpType::VectorScalar:
      par([&](int64_t s, int64_t e) { Loops::vs(ap + s, bp, op_ + s, e - s, op); });
      return;
    case BinaryOpType::VectorVector:
      par([&](int64_t s, int64_t e) { Loops::vv(ap + s, bp + s, op_ + s, e - s, op); });
      return;
    case BinaryOpType::General:
      break;
  }
  auto [shape, strides] = collapse_contiguous_dims(out.shape(), {a.strides(), b.strides(), out.strides()});
  int64_t inner = shape.back();
  int64_t sa = strides[0].back(), sb = strides[1].back();
  int64_t rows = static_cast<int64_t>(out.size()) / inner;
  scheduler::parallel_for(rows, std::max<int64_t>(1, kElementwiseGrain / inner), [&](int64_t b0, int64_t e0) {
    StridedIterator ia(shape, strides[0], 1), ib(shape, strides[1], 1);
    ia.seek(b0);
    ib.seek(b0);
    for (int64_t r = b0; r < e0; ++r) {
      const T* x = ap + ia.loc();
      const T* y = bp + ib.loc();
      U* o = op_ + r * inner;
      if (sa == 1 && sb == 1) {
        Loops::vv(x, y, o, inner, op);
      } else if (sa == 0 && sb == 1) {
        Loops::sv(x, y, o, inner, op);
      } else if (sa == 1 && sb == 0) {
        Loops::vs(x, y, o, inner, op);
      } else {
        for (int64_t i = 0; i < inner; ++i) {
          o[i] = static_cast<U>(op(static_cast<compute_t<T>>(x[i * sa]), static_cast<compute_t<T>>(y[i * sb])));
        }
      }
      ia.step();
      ib.step();
    }
  });
}

/// Calls f(T{}) for the floating dtypes (float32, float16, bfloat16, float64) of kernels that
/// take only those (softmax, the fused norms, ...); other dtypes throw naming the op.
template <class F>
void dispatch_float(Dtype t, const char* name, F&& f) {
  if (t == float32) return f(float{});
  if (t == float16) return f(float16_t{});
  if (t == bfloat16) return f(bfloat16_t{});
  if (t == float64) return f(double{});
  throw std::invalid_argument(std::string("[") + name + "] expects a floating-point input, got " + dtype_name(t));
}

}  // namespace ember::cpu
