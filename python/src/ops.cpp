// ember.core ops: creation, elementwise (unary, binary), reductions, scans,
// sorting, comparison and linear-algebra basics. Names, argument names and
// defaults follow mlx.core.
#include "common.h"

namespace ember::py {

namespace {

using Unary = array (*)(const array&, StreamOrDevice);
using Binary = array (*)(const array&, const array&, StreamOrDevice);

void def_unary(nb::module_& m, const char* name, Unary fn, const char* doc) {
  m.def(
      name, [fn](const ArrayLike& a, StreamOrDevice s) { return fn(a, s); }, "a"_a, nb::kw_only(),
      "stream"_a = nb::none(), doc);
}

void def_binary(nb::module_& m, const char* name, Binary fn, const char* doc) {
  m.def(
      name,
      [fn](nb::handle a, nb::handle b, StreamOrDevice s) {
        auto [x, y] = to_arrays(a, b);
        return fn(x, y, s);
      },
      "a"_a, "b"_a, nb::kw_only(), "stream"_a = nb::none(), doc);
}

// sum(a, axis=None, keepdims=False, *, stream=None) and friends.
template <class F>
void def_reduce(nb::module_& m, const char* name, F fn, const char* doc) {
  m.def(
      name,
      [fn](const ArrayLike& a, std::optional<IntOrVec> axis, bool keepdims, StreamOrDevice s) {
        return fn(a.get(), reduce_axes(axis, static_cast<int>(a.get().ndim())), keepdims, s);
      },
      "a"_a, "axis"_a = nb::none(), "keepdims"_a = false, nb::kw_only(), "stream"_a = nb::none(), doc);
}

// cumsum(a, axis=None, *, reverse=False, inclusive=True, stream=None) and friends.
using Scan = array (*)(const array&, std::optional<int>, bool, bool, StreamOrDevice);
void def_scan(nb::module_& m, const char* name, Scan fn, const char* doc) {
  m.def(
      name,
      [fn](const ArrayLike& a, std::optional<int> axis, bool reverse, bool inclusive, StreamOrDevice s) {
        return fn(a, axis, reverse, inclusive, s);
      },
      "a"_a, "axis"_a = nb::none(), nb::kw_only(), "reverse"_a = false, "inclusive"_a = true, "stream"_a = nb::none(),
      doc);
}

// sort(a, axis=-1) family: axis None means the flattened array.
template <class F1, class F0>
void def_axis_op(nb::module_& m, const char* name, F1 with_axis, F0 flat, const char* doc) {
  m.def(
      name,
      [with_axis, flat](const ArrayLike& a, std::optional<int> axis, StreamOrDevice s) {
        return axis ? with_axis(a.get(), *axis, s) : flat(a.get(), s);
      },
      "a"_a, "axis"_a = -1, nb::kw_only(), "stream"_a = nb::none(), doc);
}

Shape to_shape(const std::variant<int, Shape>& v) {
  if (auto* i = std::get_if<int>(&v)) return {*i};
  return std::get<Shape>(v);
}

}  // namespace

void init_ops(nb::module_& m) {
  // ------------------------------------------------------------ creation
  m.def(
      "arange",
      [](nb::handle a, nb::handle b, nb::handle c, std::optional<Dtype> dtype, StreamOrDevice s) {
        // arange(stop) / arange(start, stop[, step]); ints give int32 unless a float appears.
        double start = 0, stop, step = 1;
        bool is_float = false;
        auto get = [&](nb::handle h) {
          is_float = is_float || PyFloat_Check(h.ptr());
          return nb::cast<double>(h);
        };
        if (b.is_none()) {
          stop = get(a);
        } else {
          start = get(a);
          stop = get(b);
        }
        if (!c.is_none()) step = get(c);
        Dtype t = dtype.value_or(is_float ? float32 : int32);
        return arange(start, stop, step, t, s);
      },
      "start"_a, "stop"_a.none() = nb::none(), "step"_a.none() = nb::none(), "dtype"_a = nb::none(), nb::kw_only(),
      "stream"_a = nb::none(),
      "arange(start, stop=None, step=None, dtype=None): evenly spaced values in [start, stop).");
  m.def(
      "linspace",
      [](double start, double stop, int num, std::optional<Dtype> dtype, StreamOrDevice s) {
        return linspace(start, stop, num, dtype.value_or(float32), s);
      },
      "start"_a, "stop"_a, "num"_a = 50, "dtype"_a = nb::none(), "stream"_a = nb::none(),
      "num evenly spaced values over [start, stop].");
  m.def(
      "zeros",
      [](std::variant<int, Shape> shape, std::optional<Dtype> dtype, StreamOrDevice s) {
        return zeros(to_shape(shape), dtype.value_or(float32), s);
      },
      "shape"_a, "dtype"_a = nb::none(), nb::kw_only(), "stream"_a = nb::none(), "An array of zeros.");
  m.def(
      "ones",
      [](std::variant<int, Shape> shape, std::optional<Dtype> dtype, StreamOrDevice s) {
        return ones(to_shape(shape), dtype.value_or(float32), s);
      },
      "shape"_a, "dtype"_a = nb::none(), nb::kw_only(), "stream"_a = nb::none(), "An array of ones.");
  m.def(
      "full",
      [](std::variant<int, Shape> shape, const ArrayLike& vals, std::optional<Dtype> dtype, StreamOrDevice s) {
        return dtype ? full(to_shape(shape), vals, *dtype, s) : full(to_shape(shape), vals, s);
      },
      "shape"_a, "vals"_a, "dtype"_a = nb::none(), nb::kw_only(), "stream"_a = nb::none(),
      "An array of shape filled with vals (broadcast).");
  m.def(
      "zeros_like", [](const ArrayLike& a, StreamOrDevice s) { return zeros_like(a, s); }, "a"_a, nb::kw_only(),
      "stream"_a = nb::none(), "Zeros with a's shape and dtype.");
  m.def(
      "ones_like", [](const ArrayLike& a, StreamOrDevice s) { return ones_like(a, s); }, "a"_a, nb::kw_only(),
      "stream"_a = nb::none(), "Ones with a's shape and dtype.");
  m.def(
      "full_like",
      [](const ArrayLike& a, nb::handle vals, std::optional<Dtype> dtype, StreamOrDevice s) {
        array v = to_array_weak(vals, a.get().dtype());
        array out = full_like(a, v, s);
        return dtype ? astype(out, *dtype, s) : out;
      },
      "a"_a, "vals"_a, "dtype"_a = nb::none(), nb::kw_only(), "stream"_a = nb::none(), "vals broadcast to a's shape.");
  m.def(
      "eye",
      [](int n, std::optional<int> mm, int k, std::optional<Dtype> dtype, StreamOrDevice s) {
        return eye(n, mm.value_or(n), k, dtype.value_or(float32), s);
      },
      "n"_a, "m"_a = nb::none(), "k"_a = 0, "dtype"_a = nb::none(), nb::kw_only(), "stream"_a = nb::none(),
      "Ones on the k-th diagonal of an n x m matrix.");
  m.def(
      "identity",
      [](int n, std::optional<Dtype> dtype, StreamOrDevice s) { return identity(n, dtype.value_or(float32), s); },
      "n"_a, "dtype"_a = nb::none(), nb::kw_only(), "stream"_a = nb::none(), "The n x n identity matrix.");
  m.def(
      "tri",
      [](int n, std::optional<int> mm, int k, std::optional<Dtype> dtype, StreamOrDevice s) {
        return tri(n, mm.value_or(n), k, dtype.value_or(float32), s);
      },
      "n"_a, "m"_a = nb::none(), "k"_a = 0, "dtype"_a = nb::none(), nb::kw_only(), "stream"_a = nb::none(),
      "Ones at and below the k-th diagonal.");
  m.def(
      "tril", [](const ArrayLike& x, int k, StreamOrDevice s) { return tril(x, k, s); }, "x"_a, "k"_a = 0,
      nb::kw_only(), "stream"_a = nb::none(), "The lower triangle (at and below diagonal k).");
  m.def(
      "triu", [](const ArrayLike& x, int k, StreamOrDevice s) { return triu(x, k, s); }, "x"_a, "k"_a = 0,
      nb::kw_only(), "stream"_a = nb::none(), "The upper triangle (at and above diagonal k).");
  m.def(
      "meshgrid",
      [](nb::args arrays, bool sparse, std::string indexing, StreamOrDevice s) {
        std::vector<array> v;
        for (nb::handle h : arrays) v.push_back(to_array(h));
        return meshgrid(v, sparse, indexing, s);
      },
      "arrays"_a, "sparse"_a = false, "indexing"_a = "xy", "stream"_a = nb::none(),
      "Coordinate grids from 1-d arrays (indexing 'xy' or 'ij').");

  // ------------------------------------------------------------ type and copy
  m.def(
      "astype", [](const ArrayLike& a, Dtype t, StreamOrDevice s) { return astype(a, t, s); }, "a"_a, "dtype"_a,
      nb::kw_only(), "stream"_a = nb::none(), "A copy of a converted to dtype.");
  m.def(
      "view", [](const ArrayLike& a, Dtype t, StreamOrDevice s) { return view(a, t, s); }, "a"_a, "dtype"_a,
      nb::kw_only(), "stream"_a = nb::none(), "a's bytes reinterpreted as dtype.");
  def_unary(m, "copy", &copy, "A copy of a.");
  def_unary(m, "stop_gradient", &stop_gradient, "a, with its gradient stopped (zero) in transforms.");
  m.def(
      "contiguous",
      [](const ArrayLike& a, bool allow_col_major, StreamOrDevice s) { return contiguous(a, allow_col_major, s); },
      "a"_a, "allow_col_major"_a = false, nb::kw_only(), "stream"_a = nb::none(), "A row-contiguous copy if needed.");

  // ------------------------------------------------------------ unary
  def_unary(m, "abs", &abs, "Elementwise absolute value.");
  def_unary(m, "negative", &negative, "Elementwise negation.");
  def_unary(m, "sign", &sign, "Elementwise sign.");
  def_unary(m, "sqrt", &sqrt, "Elementwise square root.");
  def_unary(m, "rsqrt", &rsqrt, "Elementwise reciprocal square root.");
  def_unary(m, "square", &square, "Elementwise square.");
  def_unary(m, "reciprocal", &reciprocal, "Elementwise 1 / a.");
  def_unary(m, "exp", &exp, "Elementwise exponential.");
  def_unary(m, "expm1", &expm1, "Elementwise exp(a) - 1.");
  def_unary(m, "log", &log, "Elementwise natural logarithm.");
  def_unary(m, "log1p", &log1p, "Elementwise log(1 + a).");
  def_unary(m, "log2", &log2, "Elementwise base-2 logarithm.");
  def_unary(m, "log10", &log10, "Elementwise base-10 logarithm.");
  def_unary(m, "sin", &sin, "Elementwise sine.");
  def_unary(m, "cos", &cos, "Elementwise cosine.");
  def_unary(m, "tan", &tan, "Elementwise tangent.");
  def_unary(m, "arcsin", &arcsin, "Elementwise inverse sine.");
  def_unary(m, "arccos", &arccos, "Elementwise inverse cosine.");
  def_unary(m, "arctan", &arctan, "Elementwise inverse tangent.");
  def_unary(m, "sinh", &sinh, "Elementwise hyperbolic sine.");
  def_unary(m, "cosh", &cosh, "Elementwise hyperbolic cosine.");
  def_unary(m, "tanh", &tanh, "Elementwise hyperbolic tangent.");
  def_unary(m, "arcsinh", &arcsinh, "Elementwise inverse hyperbolic sine.");
  def_unary(m, "arccosh", &arccosh, "Elementwise inverse hyperbolic cosine.");
  def_unary(m, "arctanh", &arctanh, "Elementwise inverse hyperbolic tangent.");
  def_unary(m, "sigmoid", &sigmoid, "Elementwise logistic sigmoid.");
  def_unary(m, "erf", &erf, "Elementwise error function.");
  def_unary(m, "erfinv", &erfinv, "Elementwise inverse error function.");
  def_unary(m, "floor", &floor, "Elementwise floor.");
  def_unary(m, "ceil", &ceil, "Elementwise ceiling.");
  def_unary(m, "isnan", &isnan, "Elementwise test for NaN.");
  def_unary(m, "isinf", &isinf, "Elementwise test for +-inf.");
  def_unary(m, "isposinf", &isposinf, "Elementwise test for +inf.");
  def_unary(m, "isneginf", &isneginf, "Elementwise test for -inf.");
  def_unary(m, "isfinite", &isfinite, "Elementwise test for finite values.");
  def_unary(m, "logical_not", &logical_not, "Elementwise logical not.");
  def_unary(m, "bitwise_invert", &bitwise_invert, "Elementwise bitwise not.");
  def_unary(m, "degrees", &degrees, "Radians to degrees.");
  def_unary(m, "radians", &radians, "Degrees to radians.");
  def_unary(m, "conjugate", &conjugate, "Elementwise complex conjugate.");
  def_unary(m, "conj", &conjugate, "Elementwise complex conjugate.");
  def_unary(m, "real", &real, "The real part.");
  def_unary(m, "imag", &imag, "The imaginary part.");
  m.def(
      "round", [](const ArrayLike& a, int decimals, StreamOrDevice s) { return round(a, decimals, s); }, "a"_a,
      "decimals"_a = 0, nb::kw_only(), "stream"_a = nb::none(), "Round half to even to `decimals` places.");
  m.def(
      "nan_to_num",
      [](const ArrayLike& a, float nan, std::optional<float> posinf, std::optional<float> neginf, StreamOrDevice s) {
        return nan_to_num(a, nan, posinf, neginf, s);
      },
      "a"_a, "nan"_a = 0.0f, "posinf"_a = nb::none(), "neginf"_a = nb::none(), nb::kw_only(), "stream"_a = nb::none(),
      "Replaces NaN and infinities with finite numbers.");

  // ------------------------------------------------------------ binary
  def_binary(m, "add", &add, "Elementwise a + b (broadcasting).");
  def_binary(m, "subtract", &subtract, "Elementwise a - b.");
  def_binary(m, "multiply", &multiply, "Elementwise a * b.");
  def_binary(m, "divide", &divide, "Elementwise a / b (true division).");
  def_binary(m, "floor_divide", &floor_divide, "Elementwise a // b.");
  def_binary(m, "remainder", &remainder, "Elementwise a % b (sign of b, as NumPy).");
  def_binary(m, "power", &power, "Elementwise a ** b.");
  def_binary(m, "maximum", &maximum, "Elementwise maximum.");
  def_binary(m, "minimum", &minimum, "Elementwise minimum.");
  def_binary(m, "arctan2", &arctan2, "Elementwise arctan(a / b) with the quadrant.");
  def_binary(m, "logaddexp", &logaddexp, "Elementwise log(exp(a) + exp(b)), computed stably.");
  def_binary(m, "equal", &equal, "Elementwise a == b.");
  def_binary(m, "not_equal", &not_equal, "Elementwise a != b.");
  def_binary(m, "less", &less, "Elementwise a < b.");
  def_binary(m, "less_equal", &less_equal, "Elementwise a <= b.");
  def_binary(m, "greater", &greater, "Elementwise a > b.");
  def_binary(m, "greater_equal", &greater_equal, "Elementwise a >= b.");
  def_binary(m, "logical_and", &logical_and, "Elementwise logical and.");
  def_binary(m, "logical_or", &logical_or, "Elementwise logical or.");
  def_binary(m, "bitwise_and", &bitwise_and, "Elementwise bitwise and.");
  def_binary(m, "bitwise_or", &bitwise_or, "Elementwise bitwise or.");
  def_binary(m, "bitwise_xor", &bitwise_xor, "Elementwise bitwise xor.");
  def_binary(m, "left_shift", &left_shift, "Elementwise a << b.");
  def_binary(m, "right_shift", &right_shift, "Elementwise a >> b.");
  def_binary(m, "matmul", &matmul, "Matrix product (NumPy semantics; batch axes broadcast).");
  def_binary(m, "inner", &inner, "Inner product over the last axes.");
  def_binary(m, "outer", &outer, "Outer product of the flattened inputs.");
  def_binary(m, "kron", &kron, "Kronecker product.");
  m.def(
      "divmod",
      [](nb::handle a, nb::handle b, StreamOrDevice s) {
        auto [x, y] = to_arrays(a, b);
        auto r = divmod(x, y, s);
        return nb::make_tuple(r[0], r[1]);
      },
      "a"_a, "b"_a, nb::kw_only(), "stream"_a = nb::none(), "(a // b, a % b).");
  m.def(
      "where",
      [](nb::handle cond, nb::handle x, nb::handle y, StreamOrDevice s) {
        auto [xx, yy] = to_arrays(x, y);
        return where(to_array(cond), xx, yy, s);
      },
      "condition"_a, "x"_a, "y"_a, nb::kw_only(), "stream"_a = nb::none(), "x where condition is true, else y.");
  m.def(
      "clip",
      [](const ArrayLike& a, nb::handle lo, nb::handle hi, StreamOrDevice s) {
        std::optional<array> l, h;
        if (!lo.is_none()) l = to_array_weak(lo, a.get().dtype());
        if (!hi.is_none()) h = to_array_weak(hi, a.get().dtype());
        return clip(a, l, h, s);
      },
      "a"_a, "a_min"_a.none(), "a_max"_a.none(), nb::kw_only(), "stream"_a = nb::none(),
      "a clipped to [a_min, a_max] (either may be None).");
  m.def(
      "addmm",
      [](const ArrayLike& c, const ArrayLike& a, const ArrayLike& b, float alpha, float beta, StreamOrDevice s) {
        return addmm(c, a, b, alpha, beta, s);
      },
      "c"_a, "a"_a, "b"_a, "alpha"_a = 1.0f, "beta"_a = 1.0f, nb::kw_only(), "stream"_a = nb::none(),
      "alpha * (a @ b) + beta * c.");
  m.def(
      "tensordot",
      [](const ArrayLike& a, const ArrayLike& b, std::variant<int, std::vector<std::vector<int>>> axes,
         StreamOrDevice s) {
        if (auto* n = std::get_if<int>(&axes)) return tensordot(a, b, *n, s);
        auto& v = std::get<std::vector<std::vector<int>>>(axes);
        if (v.size() != 2) throw std::invalid_argument("[tensordot] axes must be an int or two lists of axes");
        return tensordot(a, b, v[0], v[1], s);
      },
      "a"_a, "b"_a, "axes"_a = 2, nb::kw_only(), "stream"_a = nb::none(), "Tensor contraction over axes.");
  m.def(
      "trace",
      [](const ArrayLike& a, int offset, int axis1, int axis2, std::optional<Dtype> dtype, StreamOrDevice s) {
        return dtype ? trace(a, offset, axis1, axis2, *dtype, s) : trace(a, offset, axis1, axis2, s);
      },
      "a"_a, "offset"_a = 0, "axis1"_a = 0, "axis2"_a = 1, "dtype"_a = nb::none(), nb::kw_only(),
      "stream"_a = nb::none(), "Sum along a diagonal.");
  m.def(
      "diag", [](const ArrayLike& a, int k, StreamOrDevice s) { return diag(a, k, s); }, "a"_a, "k"_a = 0,
      nb::kw_only(), "stream"_a = nb::none(), "1-d: a diagonal matrix; 2-d: the k-th diagonal.");
  m.def(
      "diagonal",
      [](const ArrayLike& a, int offset, int axis1, int axis2, StreamOrDevice s) {
        return diagonal(a, offset, axis1, axis2, s);
      },
      "a"_a, "offset"_a = 0, "axis1"_a = 0, "axis2"_a = 1, nb::kw_only(), "stream"_a = nb::none(),
      "A diagonal of a (over axis1, axis2).");
  m.def(
      "einsum",
      [](const std::string& subscripts, nb::args operands, StreamOrDevice s) {
        std::vector<array> ops;
        for (nb::handle h : operands) ops.push_back(to_array(h));
        return einsum(subscripts, ops, s);
      },
      "subscripts"_a, "operands"_a, nb::kw_only(), "stream"_a = nb::none(), "Einstein summation.");
  m.def(
      "einsum_path",
      [](const std::string& subscripts, nb::args operands) {
        std::vector<array> ops;
        for (nb::handle h : operands) ops.push_back(to_array(h));
        auto [path, report] = einsum_path(subscripts, ops);
        nb::list p;
        for (auto& step : path) p.append(nb::tuple(nb::cast(step)));
        return nb::make_tuple(p, report);
      },
      "subscripts"_a, "operands"_a, "The contraction path einsum takes and a report.");
  m.def(
      "hadamard_transform",
      [](const ArrayLike& a, std::optional<float> scale, StreamOrDevice s) { return hadamard_transform(a, scale, s); },
      "a"_a, "scale"_a = nb::none(), nb::kw_only(), "stream"_a = nb::none(), "The Walsh-Hadamard transform.");

  // ------------------------------------------------------------ comparisons of whole arrays
  m.def(
      "allclose",
      [](const ArrayLike& a, const ArrayLike& b, double rtol, double atol, bool equal_nan, StreamOrDevice s) {
        return allclose(a, b, rtol, atol, equal_nan, s);
      },
      "a"_a, "b"_a, "rtol"_a = 1e-5, "atol"_a = 1e-8, nb::kw_only(), "equal_nan"_a = false, "stream"_a = nb::none(),
      "Whether all |a - b| <= atol + rtol * |b|.");
  m.def(
      "isclose",
      [](const ArrayLike& a, const ArrayLike& b, double rtol, double atol, bool equal_nan, StreamOrDevice s) {
        return isclose(a, b, rtol, atol, equal_nan, s);
      },
      "a"_a, "b"_a, "rtol"_a = 1e-5, "atol"_a = 1e-8, nb::kw_only(), "equal_nan"_a = false, "stream"_a = nb::none(),
      "Elementwise |a - b| <= atol + rtol * |b|.");
  m.def(
      "array_equal",
      [](const ArrayLike& a, const ArrayLike& b, bool equal_nan, StreamOrDevice s) {
        return array_equal(a, b, equal_nan, s);
      },
      "a"_a, "b"_a, "equal_nan"_a = false, nb::kw_only(), "stream"_a = nb::none(),
      "Whether a and b have the same shape and values.");

  // ------------------------------------------------------------ reductions
  def_reduce(
      m, "sum", [](const array& a, const std::vector<int>& ax, bool k, StreamOrDevice s) { return sum(a, ax, k, s); },
      "Sum over axis (all when None).");
  def_reduce(
      m, "prod", [](const array& a, const std::vector<int>& ax, bool k, StreamOrDevice s) { return prod(a, ax, k, s); },
      "Product over axis.");
  def_reduce(
      m, "max", [](const array& a, const std::vector<int>& ax, bool k, StreamOrDevice s) { return max(a, ax, k, s); },
      "Maximum over axis.");
  def_reduce(
      m, "min", [](const array& a, const std::vector<int>& ax, bool k, StreamOrDevice s) { return min(a, ax, k, s); },
      "Minimum over axis.");
  def_reduce(
      m, "mean", [](const array& a, const std::vector<int>& ax, bool k, StreamOrDevice s) { return mean(a, ax, k, s); },
      "Mean over axis.");
  def_reduce(
      m, "all", [](const array& a, const std::vector<int>& ax, bool k, StreamOrDevice s) { return all(a, ax, k, s); },
      "Whether all are true over axis.");
  def_reduce(
      m, "any", [](const array& a, const std::vector<int>& ax, bool k, StreamOrDevice s) { return any(a, ax, k, s); },
      "Whether any is true over axis.");
  def_reduce(
      m, "logsumexp",
      [](const array& a, const std::vector<int>& ax, bool k, StreamOrDevice s) { return logsumexp(a, ax, k, s); },
      "log(sum(exp(a))) over axis, computed stably.");
  for (const char* name : {"var", "std"}) {
    bool is_var = std::string(name) == "var";
    m.def(
        name,
        [is_var](const ArrayLike& a, std::optional<IntOrVec> axis, bool keepdims, int ddof, StreamOrDevice s) {
          auto ax = reduce_axes(axis, static_cast<int>(a.get().ndim()));
          return is_var ? var(a, ax, keepdims, ddof, s) : ember::std(a, ax, keepdims, ddof, s);
        },
        "a"_a, "axis"_a = nb::none(), "keepdims"_a = false, "ddof"_a = 0, nb::kw_only(), "stream"_a = nb::none(),
        is_var ? "Variance over axis (ddof: delta degrees of freedom)." : "Standard deviation over axis.");
  }
  m.def(
      "argmax",
      [](const ArrayLike& a, std::optional<int> axis, bool keepdims, StreamOrDevice s) {
        return axis ? argmax(a, *axis, keepdims, s) : argmax(a, keepdims, s);
      },
      "a"_a, "axis"_a = nb::none(), "keepdims"_a = false, nb::kw_only(), "stream"_a = nb::none(),
      "Indices (uint32) of the maxima along axis (of the flattened array when None).");
  m.def(
      "argmin",
      [](const ArrayLike& a, std::optional<int> axis, bool keepdims, StreamOrDevice s) {
        return axis ? argmin(a, *axis, keepdims, s) : argmin(a, keepdims, s);
      },
      "a"_a, "axis"_a = nb::none(), "keepdims"_a = false, nb::kw_only(), "stream"_a = nb::none(),
      "Indices (uint32) of the minima along axis.");
  for (const char* name : {"softmax", "log_softmax"}) {
    bool log = std::string(name) == "log_softmax";
    m.def(
        name,
        [log](const ArrayLike& a, std::optional<IntOrVec> axis, bool precise, StreamOrDevice s) {
          auto ax = reduce_axes(axis, static_cast<int>(a.get().ndim()));
          return log ? log_softmax(a, ax, precise, s) : softmax(a, ax, precise, s);
        },
        "a"_a, "axis"_a = nb::none(), nb::kw_only(), "precise"_a = false, "stream"_a = nb::none(),
        log ? "log(softmax(a)) over axis, computed stably." : "Softmax over axis (all when None).");
  }

  // ------------------------------------------------------------ scans
  def_scan(m, "cumsum", &cumsum, "Cumulative sum along axis (flattened when None).");
  def_scan(m, "cumprod", &cumprod, "Cumulative product along axis.");
  def_scan(m, "cummax", &cummax, "Cumulative maximum along axis.");
  def_scan(m, "cummin", &cummin, "Cumulative minimum along axis.");
  def_scan(m, "logcumsumexp", &logcumsumexp, "log(cumsum(exp(a))) along axis, computed stably.");

  // ------------------------------------------------------------ sorting
  def_axis_op(
      m, "sort", [](const array& a, int ax, StreamOrDevice s) { return sort(a, ax, s); },
      [](const array& a, StreamOrDevice s) { return sort(a, s); }, "Sorted along axis (flattened when None).");
  def_axis_op(
      m, "argsort", [](const array& a, int ax, StreamOrDevice s) { return argsort(a, ax, s); },
      [](const array& a, StreamOrDevice s) { return argsort(a, s); }, "Indices (uint32) that sort a along axis.");
  m.def(
      "partition",
      [](const ArrayLike& a, int kth, std::optional<int> axis, StreamOrDevice s) {
        return axis ? partition(a, kth, *axis, s) : partition(a, kth, s);
      },
      "a"_a, "kth"_a, "axis"_a = -1, nb::kw_only(), "stream"_a = nb::none(),
      "a with its kth element in sorted position, smaller ones before and larger after.");
  m.def(
      "argpartition",
      [](const ArrayLike& a, int kth, std::optional<int> axis, StreamOrDevice s) {
        return axis ? argpartition(a, kth, *axis, s) : argpartition(a, kth, s);
      },
      "a"_a, "kth"_a, "axis"_a = -1, nb::kw_only(), "stream"_a = nb::none(), "Indices that partition a.");
  m.def(
      "topk",
      [](const ArrayLike& a, int k, std::optional<int> axis, StreamOrDevice s) {
        return axis ? topk(a, k, *axis, s) : topk(a, k, s);
      },
      "a"_a, "k"_a, "axis"_a = -1, nb::kw_only(), "stream"_a = nb::none(),
      "The k largest elements along axis (unordered).");
}

}  // namespace ember::py
