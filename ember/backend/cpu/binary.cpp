// CPU kernels of Binary, DivMod and Select.
#include <cmath>

#include "ember/backend/cpu/elementwise.h"
#include "ember/primitives.h"

namespace ember {

namespace cpu {
namespace {

template <class T>
constexpr bool is_cplx = std::is_same_v<T, complex64_t>;

// Integer + - * wrap around (see wrapping_add in elementwise.h).
struct Add {
  template <class T>
  T operator()(T a, T b) const {
    if constexpr (std::is_same_v<T, bool>) {
      return a || b;
    } else {
      return wrapping_add(a, b);
    }
  }
};
struct Subtract {
  template <class T>
  T operator()(T a, T b) const {
    return wrapping_sub(a, b);
  }
};
struct Multiply {
  template <class T>
  T operator()(T a, T b) const {
    if constexpr (std::is_same_v<T, bool>) {
      return a && b;
    } else {
      return wrapping_mul(a, b);
    }
  }
};
struct Divide {
  template <class T>
  T operator()(T a, T b) const {
    return a / b;
  }
};
// NumPy's npy_divmod for floating point: the quotient comes from a - fmod(a, b),
// an exact multiple of b, snapped to an integer, so floor_divide and remainder
// agree (a == b * (a // b) + a % b): 1 // 0.1 == 9 and 1 % 0.1 == 0.0999...
// (floor(1 / 0.1) would give 10). Zeros take the sign of a / b (quotient) or
// of b (remainder); x // inf is 0 or -1; inf // x is nan.
template <class T>
T float_divmod(T a, T b, T* mod) {
  T m = std::fmod(a, b);
  if (b == 0) {
    *mod = m;  // nan
    return a / b;
  }
  T div = (a - m) / b;
  if (m != 0) {
    if ((b < 0) != (m < 0)) {
      m += b;
      div -= T(1);
    }
  } else {
    m = std::copysign(T(0), b);
  }
  T floordiv;
  if (div != 0) {
    floordiv = std::floor(div);
    if (div - floordiv > T(0.5)) floordiv += T(1);
  } else {
    floordiv = std::copysign(T(0), a / b);
  }
  *mod = m;
  return floordiv;
}

// Integer division by zero is undefined in C++; like NumPy we return 0 instead of trapping.
struct FloorDivide {
  template <class T>
  T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>) {
      if (b == 0) return 0;
      if constexpr (std::is_signed_v<T>) {
        if (b == -1) return static_cast<T>(-static_cast<std::make_unsigned_t<T>>(a));  // no INT_MIN / -1 trap
        T q = a / b;
        return (q * b != a && ((a < 0) != (b < 0))) ? q - 1 : q;
      } else {
        return a / b;
      }
    } else {
      T mod;
      return float_divmod(a, b, &mod);
    }
  }
};
struct Remainder {
  template <class T>
  T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>) {
      if (b == 0) return 0;
      if constexpr (std::is_signed_v<T>) {
        if (b == -1) return 0;
        T r = a % b;
        return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
      } else {
        return a % b;
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
  T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>) {
      // Exponentiation by squaring; negative exponents give 0 except for |a| == 1.
      if constexpr (std::is_signed_v<T>) {
        if (b < 0) return a == 1 ? 1 : (a == -1 ? ((b & 1) ? -1 : 1) : 0);
      }
      T result = 1;
      while (b) {
        if (b & 1) result = wrapping_mul(result, a);
        b >>= 1;
        a = wrapping_mul(a, a);
      }
      return result;
    } else {
      return std::pow(a, b);
    }
  }
};
struct Maximum {
  template <class T>
  T operator()(T a, T b) const {
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<T>::quiet_NaN();
    }
    return a > b ? a : b;
  }
};
struct Minimum {
  template <class T>
  T operator()(T a, T b) const {
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<T>::quiet_NaN();
    }
    return a < b ? a : b;
  }
};
struct ArcTan2 {
  template <class T>
  T operator()(T a, T b) const {
    return std::atan2(a, b);
  }
};
struct LogAddExp {
  template <class T>
  T operator()(T a, T b) const {
    if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<T>::quiet_NaN();
    T m = a > b ? a : b;
    if (std::isinf(m) && m < 0) return m;  // both -inf
    if (std::isinf(m)) return m;
    return m + std::log1p(std::exp(-std::abs(a - b)));
  }
};

#define EMBER_CMP(NAME, OP)           \
  struct NAME {                       \
    template <class T>                \
    bool operator()(T a, T b) const { \
      return a OP b;                  \
    }                                 \
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
  bool operator()(T a, T b) const {
    if constexpr (std::is_floating_point_v<T>) {
      return a == b || (std::isnan(a) && std::isnan(b));
    } else if constexpr (is_cplx<T>) {
      auto nan = [](T z) { return std::isnan(z.real()) || std::isnan(z.imag()); };
      return a == b || (nan(a) && nan(b));
    } else {
      return a == b;
    }
  }
};
struct LogicalAnd {
  bool operator()(bool a, bool b) const { return a && b; }
};
struct LogicalOr {
  bool operator()(bool a, bool b) const { return a || b; }
};
struct BitwiseAnd {
  template <class T>
  T operator()(T a, T b) const {
    return a & b;
  }
};
struct BitwiseOr {
  template <class T>
  T operator()(T a, T b) const {
    return a | b;
  }
};
struct BitwiseXor {
  template <class T>
  T operator()(T a, T b) const {
    return a ^ b;
  }
};
// Shifts by >= the bit width are undefined in C++; NumPy gives 0 (or -1 for
// negative right shifts), which is what a wide shift means arithmetically.
struct LeftShift {
  template <class T>
  T operator()(T a, T b) const {
    if constexpr (std::is_same_v<T, bool>) {
      return a && !b ? a : false;
    } else {
      if (b < 0 || b >= static_cast<T>(sizeof(T) * 8)) return 0;
      return static_cast<T>(static_cast<std::make_unsigned_t<T>>(a) << b);
    }
  }
};
struct RightShift {
  template <class T>
  T operator()(T a, T b) const {
    if constexpr (std::is_same_v<T, bool>) {
      return a && !b;
    } else {
      if (b < 0 || b >= static_cast<T>(sizeof(T) * 8)) return (std::is_signed_v<T> && a < 0) ? T(-1) : T(0);
      return static_cast<T>(a >> b);
    }
  }
};

// Calls binary_kernel<T, U> for the input dtype when Op accepts it; `name`
// is only for the (unreachable after op validation) error.
template <class Op, bool kPredicate = false>
void run_binary(const array& a, const array& b, array& out, Op op, const char* name) {
  dispatch_dtype(a.dtype(), [&](auto t) {
    using T = decltype(t);
    using C = compute_t<T>;
    if constexpr (std::is_invocable_v<Op, C, C>) {
      using U = std::conditional_t<kPredicate, bool, T>;
      binary_kernel<T, U>(a, b, out, op);
    } else {
      throw std::invalid_argument(std::string("[") + name + "] not supported for dtype " + dtype_name(a.dtype()));
    }
  });
}

// SFINAE wrappers so unsupported dtype/op pairs become runtime errors, not compile errors.
template <class Op, class Pred>
struct Restricted {
  Op op;
  template <class T>
  requires(Pred::template value<T>) auto operator()(T a, T b) const { return op(a, b); }
};
struct RealOnly {
  template <class T>
  static constexpr bool value = !is_cplx<T>;
};
struct FloatOnly {
  template <class T>
  static constexpr bool value = std::is_floating_point_v<T>;
};
struct IntOnly {
  template <class T>
  static constexpr bool value = std::is_integral_v<T>;
};
struct NotBool {
  template <class T>
  static constexpr bool value = !std::is_same_v<T, bool>;
};

}  // namespace
}  // namespace cpu

const char* binary_op_name(BinaryOp op) {
  static const char* names[] = {"Add",        "Subtract",     "Multiply",   "Divide",     "FloorDivide",
                                "Remainder",  "Power",        "Maximum",    "Minimum",    "ArcTan2",
                                "LogAddExp",  "Equal",        "NotEqual",   "Less",       "LessEqual",
                                "Greater",    "GreaterEqual", "NaNEqual",   "LogicalAnd", "LogicalOr",
                                "BitwiseAnd", "BitwiseOr",    "BitwiseXor", "LeftShift",  "RightShift"};
  return names[static_cast<int>(op)];
}

bool binary_op_is_predicate(BinaryOp op) {
  switch (op) {
    case BinaryOp::Equal:
    case BinaryOp::NotEqual:
    case BinaryOp::Less:
    case BinaryOp::LessEqual:
    case BinaryOp::Greater:
    case BinaryOp::GreaterEqual:
    case BinaryOp::NaNEqual:
    case BinaryOp::LogicalAnd:
    case BinaryOp::LogicalOr:
      return true;
    default:
      return false;
  }
}

bool Binary::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Binary*>(&other);
  return o && o->op_ == op_;
}

void Binary::eval_cpu(const std::vector<array>& inputs, array& out) {
  using namespace cpu;
  const array& a = inputs[0];
  const array& b = inputs[1];
  const char* n = name();
  switch (op_) {
    case BinaryOp::Add:
      return run_binary(a, b, out, Add{}, n);
    case BinaryOp::Subtract:
      return run_binary(a, b, out, Restricted<Subtract, NotBool>{}, n);
    case BinaryOp::Multiply:
      return run_binary(a, b, out, Multiply{}, n);
    case BinaryOp::Divide:
      return run_binary(a, b, out, Restricted<Divide, NotBool>{}, n);
    case BinaryOp::FloorDivide:
      return run_binary(a, b, out, Restricted<FloorDivide, RealOnly>{}, n);
    case BinaryOp::Remainder:
      return run_binary(a, b, out, Restricted<Remainder, RealOnly>{}, n);
    case BinaryOp::Power:
      return run_binary(a, b, out, Restricted<Power, NotBool>{}, n);
    case BinaryOp::Maximum:
      return run_binary(a, b, out, Restricted<Maximum, RealOnly>{}, n);
    case BinaryOp::Minimum:
      return run_binary(a, b, out, Restricted<Minimum, RealOnly>{}, n);
    case BinaryOp::ArcTan2:
      return run_binary(a, b, out, Restricted<ArcTan2, FloatOnly>{}, n);
    case BinaryOp::LogAddExp:
      return run_binary(a, b, out, Restricted<LogAddExp, FloatOnly>{}, n);
    case BinaryOp::Equal:
      return run_binary<Equal, true>(a, b, out, {}, n);
    case BinaryOp::NotEqual:
      return run_binary<NotEqual, true>(a, b, out, {}, n);
    case BinaryOp::Less:
      return run_binary<Restricted<Less, RealOnly>, true>(a, b, out, {}, n);
    case BinaryOp::LessEqual:
      return run_binary<Restricted<LessEqual, RealOnly>, true>(a, b, out, {}, n);
    case BinaryOp::Greater:
      return run_binary<Restricted<Greater, RealOnly>, true>(a, b, out, {}, n);
    case BinaryOp::GreaterEqual:
      return run_binary<Restricted<GreaterEqual, RealOnly>, true>(a, b, out, {}, n);
    case BinaryOp::NaNEqual:
      return run_binary<NaNEqual, true>(a, b, out, {}, n);
    case BinaryOp::LogicalAnd:
      return binary_kernel<bool, bool>(a, b, out, LogicalAnd{});
    case BinaryOp::LogicalOr:
      return binary_kernel<bool, bool>(a, b, out, LogicalOr{});
    case BinaryOp::BitwiseAnd:
      return run_binary(a, b, out, Restricted<BitwiseAnd, IntOnly>{}, n);
    case BinaryOp::BitwiseOr:
      return run_binary(a, b, out, Restricted<BitwiseOr, IntOnly>{}, n);
    case BinaryOp::BitwiseXor:
      return run_binary(a, b, out, Restricted<BitwiseXor, IntOnly>{}, n);
    case BinaryOp::LeftShift:
      return run_binary(a, b, out, Restricted<LeftShift, IntOnly>{}, n);
    case BinaryOp::RightShift:
      return run_binary(a, b, out, Restricted<RightShift, IntOnly>{}, n);
  }
}

void DivMod::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  // Two passes; the extra handles keep the first pass from donating an input
  // buffer the second pass still reads.
  std::vector<array> held = inputs;
  Binary(stream(), BinaryOp::FloorDivide).eval_cpu(held, outputs[0]);
  Binary(stream(), BinaryOp::Remainder).eval_cpu(held, outputs[1]);
}

void Select::eval_cpu(const std::vector<array>& inputs, array& out) {
  // inputs: (condition bool, x, y), all broadcast to out's shape.
  const array& c = inputs[0];
  const array& x = inputs[1];
  const array& y = inputs[2];
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  auto [shape, strides] = collapse_contiguous_dims(out.shape(), {c.strides(), x.strides(), y.strides(), out.strides()});
  int64_t inner = shape.back();
  int64_t rows = static_cast<int64_t>(out.size()) / inner;
  dispatch_dtype(out.dtype(), [&](auto t) {
    using T = decltype(t);
    const bool* cp = c.data<bool>();
    const T* xp = x.data<T>();
    const T* yp = y.data<T>();
    T* op = out.data<T>();
    int64_t sc = strides[0].back(), sx = strides[1].back(), sy = strides[2].back();
    scheduler::parallel_for(rows, std::max<int64_t>(1, cpu::kElementwiseGrain / inner), [&](int64_t b, int64_t e) {
      StridedIterator ic(shape, strides[0], 1), ix(shape, strides[1], 1), iy(shape, strides[2], 1);
      ic.seek(b);
      ix.seek(b);
      iy.seek(b);
      for (int64_t r = b; r < e; ++r) {
        const bool* cc = cp + ic.loc();
        const T* xx = xp + ix.loc();
        const T* yy = yp + iy.loc();
        T* o = op + r * inner;
        for (int64_t i = 0; i < inner; ++i) o[i] = cc[i * sc] ? xx[i * sx] : yy[i * sy];
        ic.step();
        ix.step();
        iy.step();
      }
    });
  });
}

}  // namespace ember
