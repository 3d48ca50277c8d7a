#include "ember/backend/cuda/elementwise_codegen.h"

#include <algorithm>
#include <functional>

#include "ember/backend/cuda/jit.h"

namespace ember::gpu::ew {

namespace {

// ------------------------------------------------------------------ device library
// The access-pattern kernels as device templates, then one functor per op. Functors take
// the compute type (float for the half types) and match the CPU kernels in
// backend/cpu/unary.cpp and binary.cpp: the same NaN, wrap-around and division rules.
const char* kKernels = R"ember_src(
namespace ember {

struct Convert;

// AsType/Copy convert straight from the source type: a half copied to a half keeps its
// exact bits (NaN payloads included), which a round trip through float would not.
template <class U, class T, class Op>
__device__ __forceinline__ U apply_unary(Op op, T x) {
  if constexpr (is_same_v<Op, Convert>) {
    return cast_to<U>(x);
  } else {
    return cast_to<U>(op(cast_to<compute_t<T>>(x)));
  }
}
template <class U, class T, class Op>
__device__ __forceinline__ U apply_binary(Op op, T a, T b) {
  return cast_to<U>(op(cast_to<compute_t<T>>(a), cast_to<compute_t<T>>(b)));
}

// in, out: (n,) dense; each thread converts N consecutive elements with one vector load
// and one vector store (the host checks both pointers are aligned to the vector size).
template <int N, class T, class U, class Op>
__device__ __forceinline__ void unary_contig(const T* in, U* out, int64_t n) {
  for (int64_t i = global_thread() * N; i < n; i += grid_threads() * N) {
    if (i + N <= n) {
      Vec<T, N> x = *reinterpret_cast<const Vec<T, N>*>(in + i);
      Vec<U, N> y;
#pragma unroll
      for (int k = 0; k < N; ++k) y.v[k] = apply_unary<U>(Op{}, x.v[k]);
      *reinterpret_cast<Vec<U, N>*>(out + i) = y;
    } else {
      for (int64_t k = i; k < n; ++k) out[k] = apply_unary<U>(Op{}, in[k]);
    }
  }
}

// in: any strided view of out's shape; out: (n,) row-major.
template <class IdxT, class T, class U, class Op>
__device__ __forceinline__ void unary_strided(const T* in, U* out, int64_t n, const StridedArgs<1>& args) {
  for (IdxT i = static_cast<IdxT>(global_thread()); i < n; i += static_cast<IdxT>(grid_threads())) {
    IdxT loc[1];
    elem_to_locs<IdxT>(i, args, loc);
    out[i] = apply_unary<U>(Op{}, in[loc[0]]);
  }
}

// a, b: (n,) dense, or one value (AS / BS); out: (n,).
template <int N, bool AS, bool BS, class T, class U, class Op>
__device__ __forceinline__ void binary_contig(const T* a, const T* b, U* out, int64_t n) {
  for (int64_t i = global_thread() * N; i < n; i += grid_threads() * N) {
    if (i + N <= n) {
      Vec<T, N> x, y;
      if constexpr (AS) {
#pragma unroll
        for (int k = 0; k < N; ++k) x.v[k] = a[0];
      } else {
        x = *reinterpret_cast<const Vec<T, N>*>(a + i);
      }
      if constexpr (BS) {
#pragma unroll
        for (int k = 0; k < N; ++k) y.v[k] = b[0];
      } else {
        y = *reinterpret_cast<const Vec<T, N>*>(b + i);
      }
      Vec<U, N> z;
#pragma unroll
      for (int k = 0; k < N; ++k) z.v[k] = apply_binary<U>(Op{}, x.v[k], y.v[k]);
      *reinterpret_cast<Vec<U, N>*>(out + i) = z;
    } else {
      for (int64_t k = i; k < n; ++k) out[k] = apply_binary<U>(Op{}, a[AS ? 0 : k], b[BS ? 0 : k]);
    }
  }
}

template <class IdxT, class T, class U, class Op>
__device__ __forceinline__ void binary_strided(const T* a, const T* b, U* out, int64_t n, const StridedArgs<2>& args) {
  for (IdxT i = static_cast<IdxT>(global_thread()); i < n; i += static_cast<IdxT>(grid_threads())) {
    IdxT loc[2];
    elem_to_locs<IdxT>(i, args, loc);
    out[i] = apply_binary<U>(Op{}, a[loc[0]], b[loc[1]]);
  }
}

// cond, x, y, out: (n,) dense.
template <int N, class T>
__device__ __forceinline__ void select_contig(const bool* c, const T* x, const T* y, T* out, int64_t n) {
  for (int64_t i = global_thread() * N; i < n; i += grid_threads() * N) {
    if (i + N <= n) {
      Vec<bool, N> cv = *reinterpret_cast<const Vec<bool, N>*>(c + i);
      Vec<T, N> xv = *reinterpret_cast<const Vec<T, N>*>(x + i);
      Vec<T, N> yv = *reinterpret_cast<const Vec<T, N>*>(y + i);
#pragma unroll
      for (int k = 0; k < N; ++k) xv.v[k] = cv.v[k] ? xv.v[k] : yv.v[k];
      *reinterpret_cast<Vec<T, N>*>(out + i) = xv;
    } else {
      for (int64_t k = i; k < n; ++k) out[k] = c[k] ? x[k] : y[k];
    }
  }
}

template <class IdxT, class T>
__device__ __forceinline__ void select_strided(const bool* c, const T* x, const T* y, T* out, int64_t n,
                                               const StridedArgs<3>& args) {
  for (IdxT i = static_cast<IdxT>(global_thread()); i < n; i += static_cast<IdxT>(grid_threads())) {
    IdxT loc[3];
    elem_to_locs<IdxT>(i, args, loc);
    out[i] = c[loc[0]] ? x[loc[1]] : y[loc[2]];
  }
}

// out: (n,) = start + i * step, computed in double as on the CPU (no fma contraction,
// so the rounding matches), then converted.
template <class T>
__device__ __forceinline__ void arange_contig(T* out, int64_t n, double start, double step) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    out[i] = cast_to<T>(__dadd_rn(start, __dmul_rn(static_cast<double>(i), step)));
  }
}

/// AsType and Copy: the unary kernels with a conversion and no math.
struct Convert {
  template <class T>
  __device__ T operator()(T x) const { return x; }
};

// ------------------------------------------------------------------ unary functors

struct Abs {
  template <class T>
  __device__ auto operator()(T x) const {
    if constexpr (is_complex_v<T>) {
      return abs(x);  // complex64 -> float32
    } else if constexpr (is_same_v<T, bool> || is_unsigned_int_v<T>) {
      return x;
    } else if constexpr (is_signed_int_v<T>) {
      return x < T(0) ? static_cast<T>(wrap_t<T>(0) - static_cast<wrap_t<T>>(x)) : x;  // abs(int8 -128) == -128
    } else {
      return fabs(x);
    }
  }
};
struct Negative {
  template <class T>
  __device__ T operator()(T x) const {
    if constexpr (is_same_v<T, bool>) {
      return x;
    } else if constexpr (is_integral_v<T>) {
      return static_cast<T>(wrap_t<T>(0) - static_cast<wrap_t<T>>(x));
    } else {
      return -x;
    }
  }
};
struct Sign {
  template <class T>
  __device__ T operator()(T x) const {
    if constexpr (is_complex_v<T>) {
      float m = abs(x);
      return m == 0.0f ? T(0.0f) : T(x.real / m, x.imag / m);
    } else if constexpr (is_same_v<T, bool> || is_unsigned_int_v<T>) {
      return x != T(0);
    } else if constexpr (is_float_v<T>) {
      if (isnan(x)) return x;
      return static_cast<T>((T(0) < x) - (x < T(0)));
    } else {
      return static_cast<T>((T(0) < x) - (x < T(0)));
    }
  }
};
struct Square {
  template <class T>
  __device__ T operator()(T x) const {
    if constexpr (is_same_v<T, bool>) {
      return x;
    } else if constexpr (is_integral_v<T>) {
      return static_cast<T>(static_cast<wrap_t<T>>(x) * static_cast<wrap_t<T>>(x));
    } else {
      return x * x;
    }
  }
};
struct Sqrt {
  template <class T>
  __device__ T operator()(T x) const { return sqrt(x); }
};
struct Rsqrt {  // 1 / sqrt(x), as the CPU computes it (rsqrt rounds differently)
  template <class T>
  __device__ T operator()(T x) const { return T(1) / sqrt(x); }
};
struct Reciprocal {
  template <class T>
  __device__ T operator()(T x) const { return T(1) / x; }
};
struct Exp {
  template <class T>
  __device__ T operator()(T x) const {
    if constexpr (is_complex_v<T>) {
      float e = expf(x.real), s, c;
      sincosf(x.imag, &s, &c);
      return T(e * c, e * s);
    } else {
      return exp(x);
    }
  }
};
struct Log {
  template <class T>
  __device__ T operator()(T x) const {
    if constexpr (is_complex_v<T>) {
      return T(logf(abs(x)), atan2f(x.imag, x.real));
    } else {
      return log(x);
    }
  }
};
struct Log2 {
  template <class T>
  __device__ T operator()(T x) const {
    if constexpr (is_complex_v<T>) {
      T l = Log{}(x);
      float d = logf(2.0f);
      return T(l.real / d, l.imag / d);
    } else {
      return log2(x);
    }
  }
};
struct Log10 {
  template <class T>
  __device__ T operator()(T x) const {
    if constexpr (is_complex_v<T>) {
      T l = Log{}(x);
      float d = logf(10.0f);
      return T(l.real / d, l.imag / d);
    } else {
      return log10(x);
    }
  }
};

#define EMBER_REAL_FN(NAME, FN) \
  struct NAME {                 \
    template <class T>          \
    __device__ T operator()(T x) const { return FN(x); } \
  };
EMBER_REAL_FN(Expm1, expm1)
EMBER_REAL_FN(Log1p, log1p)
EMBER_REAL_FN(Sin, sin)
EMBER_REAL_FN(Cos, cos)
EMBER_REAL_FN(Tan, tan)
EMBER_REAL_FN(ArcSin, asin)
EMBER_REAL_FN(ArcCos, acos)
EMBER_REAL_FN(ArcTan, atan)
EMBER_REAL_FN(Sinh, sinh)
EMBER_REAL_FN(Cosh, cosh)
EMBER_REAL_FN(Tanh, tanh)
EMBER_REAL_FN(ArcSinh, asinh)
EMBER_REAL_FN(ArcCosh, acosh)
EMBER_REAL_FN(ArcTanh, atanh)
EMBER_REAL_FN(Erf, erf)
EMBER_REAL_FN(Floor, floor)
EMBER_REAL_FN(Ceil, ceil)
#undef EMBER_REAL_FN

struct Sigmoid {
  template <class T>
  __device__ T operator()(T x) const {
    // exp(-|x|) never overflows; for x < 0, e / (1 + e) keeps sigmoid(-40) from cancelling to 0.
    T e = exp(-fabs(x));
    return x >= T(0) ? T(1) / (T(1) + e) : e / (T(1) + e);
  }
};
struct ErfInv {  // in double, as the CPU (float32 erfinvf is ~2 ulp off)
  template <class T>
  __device__ T operator()(T x) const { return static_cast<T>(erfinv(static_cast<double>(x))); }
};
struct Round {  // half to even
  template <class T>
  __device__ T operator()(T x) const {
    if constexpr (is_float_v<T>) {
      return rint(x);
    } else if constexpr (is_complex_v<T>) {
      return T(rintf(x.real), rintf(x.imag));
    } else {
      return x;
    }
  }
};
struct IsNaN {
  template <class T>
  __device__ bool operator()(T x) const {
    if constexpr (is_float_v<T>) {
      return isnan(x);
    } else if constexpr (is_complex_v<T>) {
      return isnan(x.real) || isnan(x.imag);
    } else {
      return false;
    }
  }
};
struct LogicalNot {
  __device__ bool operator()(bool x) const { return !x; }
};
struct BitwiseInvert {
  template <class T>
  __device__ T operator()(T x) const {
    if constexpr (is_same_v<T, bool>) {
      return !x;
    } else {
      return static_cast<T>(~x);
    }
  }
};
struct Conjugate {
  __device__ complex64_t operator()(complex64_t x) const { return complex64_t(x.real, -x.imag); }
};
struct Real {
  __device__ float operator()(complex64_t x) const { return x.real; }
};
struct Imag {
  __device__ float operator()(complex64_t x) const { return x.imag; }
};

// ------------------------------------------------------------------ binary functors

struct Add {
  template <class T>
  __device__ T operator()(T a, T b) const {
    if constexpr (is_same_v<T, bool>) {
      return a || b;
    } else if constexpr (is_integral_v<T>) {
      return static_cast<T>(static_cast<wrap_t<T>>(a) + static_cast<wrap_t<T>>(b));
    } else {
      return a + b;
    }
  }
};
struct Subtract {
  template <class T>
  __device__ T operator()(T a, T b) const {
    if constexpr (is_integral_v<T>) {
      return static_cast<T>(static_cast<wrap_t<T>>(a) - static_cast<wrap_t<T>>(b));
    } else {
      return a - b;
    }
  }
};
struct Multiply {
  template <class T>
  __device__ T operator()(T a, T b) const {
    if constexpr (is_same_v<T, bool>) {
      return a && b;
    } else if constexpr (is_integral_v<T>) {
      return static_cast<T>(static_cast<wrap_t<T>>(a) * static_cast<wrap_t<T>>(b));
    } else {
      return a * b;
    }
  }
};
// Integer division by zero gives 0 (the CPU's C++ division is undefined there), and
// INT_MIN / -1 wraps.
struct Divide {
  template <class T>
  __device__ T operator()(T a, T b) const {
    if constexpr (is_integral_v<T>) {
      if (b == T(0)) return T(0);
      if constexpr (is_signed_int_v<T>) {
        if (b == T(-1)) return static_cast<T>(wrap_t<T>(0) - static_cast<wrap_t<T>>(a));
      }
      return static_cast<T>(a / b);
    } else {
      return a / b;
    }
  }
};

// NumPy's npy_divmod (see float_divmod in backend/cpu/binary.cpp): floor_divide and
// remainder agree, a == b * (a // b) + a % b.
template <class T>
__device__ T float_divmod(T a, T b, T* mod) {
  T m = fmod(a, b);
  if (b == T(0)) {
    *mod = m;
    return a / b;
  }
  T div = (a - m) / b;
  if (m != T(0)) {
    if ((b < T(0)) != (m < T(0))) {
      m += b;
      div -= T(1);
    }
  } else {
    m = copysign(T(0), b);
  }
  T floordiv;
  if (div != T(0)) {
    floordiv = floor(div);
    if (div - floordiv > T(0.5)) floordiv += T(1);
  } else {
    floordiv = copysign(T(0), a / b);
  }
  *mod = m;
  return floordiv;
}

struct FloorDivide {
  template <class T>
  __device__ T operator()(T a, T b) const {
    if constexpr (is_integral_v<T>) {
      if (b == T(0)) return T(0);
      if constexpr (is_signed_int_v<T>) {
        if (b == T(-1)) return static_cast<T>(wrap_t<T>(0) - static_cast<wrap_t<T>>(a));
        T q = static_cast<T>(a / b);
        return (static_cast<T>(q * b) != a && ((a < T(0)) != (b < T(0)))) ? static_cast<T>(q - 1) : q;
      } else {
        return static_cast<T>(a / b);
      }
    } else {
      T mod;
      return float_divmod(a, b, &mod);
    }
  }
};
struct Remainder {
  template <class T>
  __device__ T operator()(T a, T b) const {
    if constexpr (is_integral_v<T>) {
      if (b == T(0)) return T(0);
      if constexpr (is_signed_int_v<T>) {
        if (b == T(-1)) return T(0);
        T r = static_cast<T>(a % b);
        return (r != T(0) && ((r < T(0)) != (b < T(0)))) ? static_cast<T>(r + b) : r;
      } else {
        return static_cast<T>(a % b);
      }
    } else {
      T mod;
      float_divmod(a, b, &mod);
      return mod;
    }
  }
};
struct Power {
  template <class T>
  __device__ T operator()(T a, T b) const {
    if constexpr (is_integral_v<T>) {
      // Exponentiation by squaring; negative exponents give 0 except for |a| == 1.
      if constexpr (is_signed_int_v<T>) {
        if (b < T(0)) return a == T(1) ? T(1) : (a == T(-1) ? ((b & 1) ? T(-1) : T(1)) : T(0));
      }
      wrap_t<T> result = 1, base = static_cast<wrap_t<T>>(a);
      while (b) {
        if (b & 1) result = static_cast<wrap_t<T>>(static_cast<T>(result * base));
        b = static_cast<T>(b >> 1);
        base = static_cast<wrap_t<T>>(static_cast<T>(base * base));
      }
      return static_cast<T>(result);
    } else {
      return pow(a, b);
    }
  }
};
struct Maximum {  // NaN wins, as in NumPy
  template <class T>
  __device__ T operator()(T a, T b) const {
    if constexpr (is_float_v<T>) {
      if (isnan(a) || isnan(b)) return quiet_nan<T>();
    }
    return a > b ? a : b;
  }
};
struct Minimum {
  template <class T>
  __device__ T operator()(T a, T b) const {
    if constexpr (is_float_v<T>) {
      if (isnan(a) || isnan(b)) return quiet_nan<T>();
    }
    return a < b ? a : b;
  }
};
struct ArcTan2 {
  template <class T>
  __device__ T operator()(T a, T b) const { return atan2(a, b); }
};
struct LogAddExp {
  template <class T>
  __device__ T operator()(T a, T b) const {
    if (isnan(a) || isnan(b)) return quiet_nan<T>();
    T m = a > b ? a : b;
    if (isinf(m)) return m;  // both -inf, or one +inf
    return m + log1p(exp(-fabs(a - b)));
  }
};

#define EMBER_CMP(NAME, OP) \
  struct NAME {             \
    template <class T>      \
    __device__ bool operator()(T a, T b) const { return a OP b; } \
  };
EMBER_CMP(Equal, ==)
EMBER_CMP(NotEqual, !=)
EMBER_CMP(Less, <)
EMBER_CMP(LessEqual, <=)
EMBER_CMP(Greater, >)
EMBER_CMP(GreaterEqual, >=)
#undef EMBER_CMP

struct NaNEqual {
  template <class T>
  __device__ bool operator()(T a, T b) const {
    if constexpr (is_float_v<T>) {
      return a == b || (isnan(a) && isnan(b));
    } else if constexpr (is_complex_v<T>) {
      return a == b || (IsNaN{}(a) && IsNaN{}(b));
    } else {
      return a == b;
    }
  }
};
struct LogicalAnd {
  __device__ bool operator()(bool a, bool b) const { return a && b; }
};
struct LogicalOr {
  __device__ bool operator()(bool a, bool b) const { return a || b; }
};
struct BitwiseAnd {
  template <class T>
  __device__ T operator()(T a, T b) const { return static_cast<T>(a & b); }
};
struct BitwiseOr {
  template <class T>
  __device__ T operator()(T a, T b) const { return static_cast<T>(a | b); }
};
struct BitwiseXor {
  template <class T>
  __device__ T operator()(T a, T b) const { return static_cast<T>(a ^ b); }
};
template <class T>
__device__ bool is_negative(T x) {
  if constexpr (is_signed_int_v<T>) {
    return x < T(0);
  } else {
    return false;
  }
}

// Shifts by >= the bit width (or by a negative amount) give 0, or -1 for a negative
// value shifted right, as in NumPy; C++ leaves them undefined.
struct LeftShift {
  template <class T>
  __device__ T operator()(T a, T b) const {
    if constexpr (is_same_v<T, bool>) {
      return a && !b ? a : false;
    } else {
      if (is_negative(b) || b >= static_cast<T>(sizeof(T) * 8)) return T(0);
      return static_cast<T>(static_cast<make_unsigned_t<T>>(a) << b);
    }
  }
};
struct RightShift {
  template <class T>
  __device__ T operator()(T a, T b) const {
    if constexpr (is_same_v<T, bool>) {
      return a && !b;
    } else {
      if (is_negative(b) || b >= static_cast<T>(sizeof(T) * 8)) return is_negative(a) ? T(-1) : T(0);
      return static_cast<T>(a >> b);
    }
  }
};

}  // namespace ember
)ember_src";

using jit::type_name;

const char* pattern_suffix(Pattern p) {
  switch (p) {
    case Pattern::Contig:
      return "contig";
    case Pattern::ScalarVector:
      return "sv";
    case Pattern::VectorScalar:
      return "vs";
    case Pattern::Strided32:
      return "strided32";
    case Pattern::Strided64:
      return "strided64";
  }
  return "";
}

bool is_int_type(Dtype t) { return is_integral(t) || t == bool_; }  // integers and bool

// The functor's name in the device library (the op's own name).
std::string functor(const Variant& v) {
  switch (v.family) {
    case Family::Unary:
      return unary_op_name(static_cast<UnaryOp>(v.op));
    case Family::Binary:
      return binary_op_name(static_cast<BinaryOp>(v.op));
    default:
      return "Convert";
  }
}

// The extern "C" kernels of one variant: thin wrappers around the device templates.
std::string wrappers(const Variant& v) {
  std::string T = type_name(v.in), U = type_name(v.out), F = "ember::" + functor(v);
  std::string N = std::to_string(vector_width(v));
  std::string s;
  auto head = [&](Pattern p) { return "extern \"C\" __global__ void " + kernel_name(v, p) + "("; };
  auto idx = [](Pattern p) { return p == Pattern::Strided32 ? std::string("int32_t") : std::string("int64_t"); };
  switch (v.family) {
    case Family::Unary:
    case Family::AsType:
      s += head(Pattern::Contig) + "const " + T + "* in, " + U + "* out, int64_t n) {\n  ember::unary_contig<" + N +
           ", " + T + ", " + U + ", " + F + ">(in, out, n);\n}\n";
      for (Pattern p : {Pattern::Strided32, Pattern::Strided64}) {
        s += head(p) + "const " + T + "* in, " + U + "* out, int64_t n, ember::StridedArgs<1> args) {\n" +
             "  ember::unary_strided<" + idx(p) + ", " + T + ", " + U + ", " + F + ">(in, out, n, args);\n}\n";
      }
      break;
    case Family::Binary: {
      const std::pair<Pattern, const char*> contig[] = {{Pattern::Contig, "false, false"},
                                                        {Pattern::ScalarVector, "true, false"},
                                                        {Pattern::VectorScalar, "false, true"}};
      for (auto [p, flags] : contig) {
        s += head(p) + "const " + T + "* a, const " + T + "* b, " + U + "* out, int64_t n) {\n" +
             "  ember::binary_contig<" + N + ", " + flags + ", " + T + ", " + U + ", " + F + ">(a, b, out, n);\n}\n";
      }
      for (Pattern p : {Pattern::Strided32, Pattern::Strided64}) {
        s += head(p) + "const " + T + "* a, const " + T + "* b, " + U +
             "* out, int64_t n, ember::StridedArgs<2> args) {\n" + "  ember::binary_strided<" + idx(p) + ", " + T +
             ", " + U + ", " + F + ">(a, b, out, n, args);\n}\n";
      }
      break;
    }
    case Family::Arange:
      s += head(Pattern::Contig) + U + "* out, int64_t n, double start, double step) {\n  ember::arange_contig<" + U +
           ">(out, n, start, step);\n}\n";
      break;
    case Family::Select:
      s += head(Pattern::Contig) + "const bool* c, const " + T + "* x, const " + T + "* y, " + T +
           "* out, int64_t n) {\n  ember::select_contig<" + N + ", " + T + ">(c, x, y, out, n);\n}\n";
      for (Pattern p : {Pattern::Strided32, Pattern::Strided64}) {
        s += head(p) + "const bool* c, const " + T + "* x, const " + T + "* y, " + T +
             "* out, int64_t n, ember::StridedArgs<3> args) {\n  ember::select_strided<" + idx(p) + ", " + T +
             ">(c, x, y, out, n, args);\n}\n";
      }
      break;
  }
  return s;
}

}  // namespace

std::optional<Dtype> unary_output(UnaryOp op, Dtype in) {
  const bool f = is_floating_point(in), c = in == complex64;
  switch (op) {
    case UnaryOp::Abs:
      return c ? float32 : in;
    case UnaryOp::Negative:
    case UnaryOp::Sign:
    case UnaryOp::Square:
    case UnaryOp::Round:
      return in;
    case UnaryOp::IsNan:
      return bool_;
    case UnaryOp::Reciprocal:
    case UnaryOp::Exp:
    case UnaryOp::Log:
    case UnaryOp::Log2:
    case UnaryOp::Log10:
      if (f || c) return in;
      return std::nullopt;
    case UnaryOp::LogicalNot:
      if (in == bool_) return bool_;
      return std::nullopt;
    case UnaryOp::BitwiseInvert:
      if (is_int_type(in)) return in;
      return std::nullopt;
    case UnaryOp::Conjugate:
      if (c) return complex64;
      return std::nullopt;
    case UnaryOp::Real:
    case UnaryOp::Imag:
      if (c) return float32;
      return std::nullopt;
    default:  // the real-only float functions (complex sqrt, sin, ... fall back to the CPU)
      if (f) return in;
      return std::nullopt;
  }
}

std::optional<Dtype> binary_output(BinaryOp op, Dtype in) {
  const bool f = is_floating_point(in), c = in == complex64, i = is_int_type(in);
  auto when = [&](bool ok, Dtype out) -> std::optional<Dtype> {
    if (ok) return out;
    return std::nullopt;
  };
  switch (op) {
    case BinaryOp::Add:
    case BinaryOp::Multiply:
      return in;
    case BinaryOp::Subtract:
    case BinaryOp::Divide:
      return when(in != bool_, in);
    case BinaryOp::FloorDivide:
    case BinaryOp::Remainder:
    case BinaryOp::Maximum:
    case BinaryOp::Minimum:
      return when(!c, in);
    case BinaryOp::Power:
      return when(in != bool_ && !c, in);  // complex power falls back to the CPU
    case BinaryOp::ArcTan2:
    case BinaryOp::LogAddExp:
      return when(f, in);
    case BinaryOp::Equal:
    case BinaryOp::NotEqual:
    case BinaryOp::NaNEqual:
      return bool_;
    case BinaryOp::Less:
    case BinaryOp::LessEqual:
    case BinaryOp::Greater:
    case BinaryOp::GreaterEqual:
      return when(!c, bool_);
    case BinaryOp::LogicalAnd:
    case BinaryOp::LogicalOr:
      return when(in == bool_, bool_);
    case BinaryOp::BitwiseAnd:
    case BinaryOp::BitwiseOr:
    case BinaryOp::BitwiseXor:
    case BinaryOp::LeftShift:
    case BinaryOp::RightShift:
      return when(i, in);
  }
  return std::nullopt;
}

int vector_width(const Variant& v) {
  size_t widest = std::max(v.in.size(), v.out.size());
  return static_cast<int>(std::max<size_t>(1, 16 / widest));
}

std::vector<Pattern> patterns(Family f) {
  if (f == Family::Arange) return {Pattern::Contig};
  if (f == Family::Binary) {
    return {Pattern::Contig, Pattern::ScalarVector, Pattern::VectorScalar, Pattern::Strided32, Pattern::Strided64};
  }
  return {Pattern::Contig, Pattern::Strided32, Pattern::Strided64};
}

std::string kernel_name(const Variant& v, Pattern p) {
  std::string s;
  switch (v.family) {
    case Family::Unary:
      s = "unary_" + functor(v) + "_" + dtype_name(v.in);
      break;
    case Family::Binary:
      s = "binary_" + functor(v) + "_" + dtype_name(v.in);
      break;
    case Family::Select:
      s = "select_" + dtype_name(v.in);
      break;
    case Family::AsType:
      s = "astype_" + dtype_name(v.in) + "_" + dtype_name(v.out);
      break;
    case Family::Arange:
      s = "arange_" + dtype_name(v.out);
      break;
  }
  if (v.family == Family::Binary && p == Pattern::Contig) return s + "_vv";
  return s + "_" + pattern_suffix(p);
}

std::string program_source(const std::vector<Variant>& variants, Target target) {
  std::string s = target == Target::Device ? jit::prelude() : jit::emulator_prelude();
  s += kKernels;
  for (const auto& v : variants) s += wrappers(v);
  if (target == Target::Emulator) {
    // Host entry points taking cudaLaunchKernel's argument array.
    for (const auto& v : variants) {
      for (Pattern p : patterns(v.family)) {
        std::string k = kernel_name(v, p);
        s += "EMBER_EMU_ENTRY(" + k + ")\n";
      }
    }
  }
  return s;
}

std::vector<Variant> all_variants() {
  std::vector<Variant> out;
  for (int op = 0; op <= static_cast<int>(UnaryOp::Imag); ++op) {
    for (Dtype t : kAllDtypes) {
      if (auto o = unary_output(static_cast<UnaryOp>(op), t)) out.push_back({Family::Unary, op, t, *o});
    }
  }
  for (int op = 0; op <= static_cast<int>(BinaryOp::RightShift); ++op) {
    for (Dtype t : kAllDtypes) {
      if (auto o = binary_output(static_cast<BinaryOp>(op), t)) out.push_back({Family::Binary, op, t, *o});
    }
  }
  for (Dtype t : kAllDtypes) out.push_back({Family::Select, 0, t, t});
  for (Dtype s : kAllDtypes) {
    for (Dtype d : kAllDtypes) out.push_back({Family::AsType, 0, s, d});
  }
  for (Dtype t : kAllDtypes) {
    if (t != bool_ && t != complex64) out.push_back({Family::Arange, 0, t, t});
  }
  return out;
}

const char* device_library() { return kKernels; }

bool fused_supported(const Compiled& c) {
  const int n_in = static_cast<int>(c.input_dtypes().size());
  for (auto& op : c.ops()) {
    Dtype in = op.args.empty() ? op.dtype
                               : (op.args[0] < n_in ? c.input_dtypes()[op.args[0]] : c.ops()[op.args[0] - n_in].dtype);
    if (auto* u = dynamic_cast<const Unary*>(op.primitive.get())) {
      auto out = unary_output(u->op(), in);
      if (!out || *out != op.dtype) return false;
    } else if (auto* b = dynamic_cast<const Binary*>(op.primitive.get())) {
      auto out = binary_output(b->op(), in);
      if (!out || *out != op.dtype) return false;
    } else if (!dynamic_cast<const Broadcast*>(op.primitive.get()) &&
               !dynamic_cast<const AsType*>(op.primitive.get()) && !dynamic_cast<const Select*>(op.primitive.get())) {
      return false;
    }
  }
  return true;
}

int fused_vector_width(const Compiled& c) {
  size_t widest = 1;
  for (Dtype t : c.input_dtypes()) widest = std::max(widest, t.size());
  widest = std::max(widest, c.ops().back().dtype.size());
  return static_cast<int>(std::max<size_t>(1, 16 / widest));
}

std::optional<std::string> fused_source(const Compiled& c, Pattern p, const std::vector<bool>& scalar,
                                        const std::string& name, Target target, int width) {
  if (!fused_supported(c)) return std::nullopt;
  const int n_in = static_cast<int>(c.input_dtypes().size());
  const int n_ops = static_cast<int>(c.ops().size());
  auto v = [](int a) { return "v" + std::to_string(a); };
  auto in_type = [&](int i) { return std::string(type_name(c.input_dtypes()[i])); };
  const std::string out_type = type_name(c.ops().back().dtype);
  // The region's arithmetic on one element: v0.. are the inputs (read by `load`), the last
  // value is the result.
  std::string ops;
  for (int k = 0; k < n_ops; ++k) {
    const auto& op = c.ops()[k];
    const Primitive* prim = op.primitive.get();
    const std::string U = type_name(op.dtype);
    std::string expr;
    if (dynamic_cast<const Broadcast*>(prim)) {
      expr = v(op.args[0]);
    } else if (dynamic_cast<const AsType*>(prim)) {
      expr = "ember::cast_to<" + U + ">(" + v(op.args[0]) + ")";
    } else if (dynamic_cast<const Select*>(prim)) {
      expr = v(op.args[0]) + " ? " + v(op.args[1]) + " : " + v(op.args[2]);
    } else if (auto* u = dynamic_cast<const Unary*>(prim)) {
      expr = "ember::apply_unary<" + U + ">(ember::" + unary_op_name(u->op()) + "{}, " + v(op.args[0]) + ")";
    } else if (auto* b = dynamic_cast<const Binary*>(prim)) {
      expr = "ember::apply_binary<" + U + ">(ember::" + binary_op_name(b->op()) + "{}, " + v(op.args[0]) + ", " +
             v(op.args[1]) + ")";
    } else {
      return std::nullopt;
    }
    ops += "    const " + U + " " + v(n_in + k) + " = " + expr + ";\n";
  }
  const std::string result = v(n_in + n_ops - 1);
  auto element = [&](const std::function<std::string(int)>& load, const std::string& store) {
    std::string b;
    for (int i = 0; i < n_in; ++i) b += "    const " + in_type(i) + " " + v(i) + " = " + load(i) + ";\n";
    return b + ops + "    " + store + " = " + result + ";\n";
  };

  std::string s = target == Target::Device ? jit::prelude() : jit::emulator_prelude();
  s += kKernels;
  s += "// " + c.signature() + "\nextern \"C\" __global__ void " + name + "(";
  for (int i = 0; i < n_in; ++i) s += "const " + in_type(i) + "* in" + std::to_string(i) + ", ";
  s += out_type + "* out, int64_t n";
  const std::string N = std::to_string(n_in);
  auto at = [&](const std::string& idx) {
    return [&, idx](int i) { return "in" + std::to_string(i) + "[" + (scalar[i] ? "0" : idx) + "]"; };
  };
  if (p == Pattern::Contig && width > 1) {
    // Each thread takes W consecutive elements: one vector load per dense input and one vector
    // store (the host checks that every pointer is aligned to its vector), then a scalar tail.
    const std::string W = std::to_string(width);
    std::string loads;
    for (int i = 0; i < n_in; ++i) {
      if (scalar[i]) continue;
      const std::string vec = "ember::Vec<" + in_type(i) + ", " + W + ">";
      loads += "      const " + vec + " x" + std::to_string(i) + " = *reinterpret_cast<const " + vec + "*>(in" +
               std::to_string(i) + " + i);\n";
    }
    const std::string lane =
        element([&](int i) { return scalar[i] ? "in" + std::to_string(i) + "[0]" : "x" + std::to_string(i) + ".v[k]"; },
                "y.v[k]");
    s += ") {\n  for (int64_t i = ember::global_thread() * " + W + "; i < n; i += ember::grid_threads() * " + W +
         ") {\n    if (i + " + W + " <= n) {\n" + loads + "      ember::Vec<" + out_type + ", " + W +
         "> y;\n#pragma unroll\n      for (int k = 0; k < " + W + "; ++k) {\n" + lane +
         "      }\n      *reinterpret_cast<ember::Vec<" + out_type + ", " + W +
         ">*>(out + i) = y;\n    } else {\n      for (int64_t j = i; j < n; ++j) {\n" + element(at("j"), "out[j]") +
         "      }\n    }\n  }\n}\n";
  } else if (p == Pattern::Contig) {
    s += ") {\n  for (int64_t i = ember::global_thread(); i < n; i += ember::grid_threads()) {\n" +
         element(at("i"), "out[i]") + "  }\n}\n";
  } else {
    std::string I = p == Pattern::Strided32 ? "int32_t" : "int64_t";
    s += ", ember::StridedArgs<" + N + "> args) {\n  for (" + I + " i = static_cast<" + I +
         ">(ember::global_thread()); i < n; i += static_cast<" + I + ">(ember::grid_threads())) {\n    " + I + " loc[" +
         N + "];\n    ember::elem_to_locs<" + I + ">(i, args, loc);\n" +
         element([](int i) { return "in" + std::to_string(i) + "[loc[" + std::to_string(i) + "]]"; }, "out[i]") +
         "  }\n}\n";
  }
  if (target == Target::Emulator) s += "EMBER_EMU_ENTRY(" + name + ")\n";
  return s;
}

std::string compile_program(const std::vector<Variant>& variants, const std::string& name, const std::string& arch) {
  return jit::compile(program_source(variants), name, arch);
}

}  // namespace ember::gpu::ew
