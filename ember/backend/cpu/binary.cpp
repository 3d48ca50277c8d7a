// CPU kernels of Binary, DivMod and Select.
#include <cmath>

#include "ember/backend/cpu/elementwise.h"
#include "ember/primitives.h"

namespace ember {

namespace cpu {
namespace {

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
