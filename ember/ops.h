// The NumPy/MLX-shaped operations. Each validates its arguments when the graph
// is built and throws with a message naming the op and the offending values.
// Names and signatures follow mlx.core.
#pragma once

#include <optional>
#include <utility>
#include <vector>

#include "ember/array.h"
#include "ember/device.h"

namespace ember {

// ---------------------------------------------------------------- creation
array arange(double start, double stop, double step, Dtype dtype, StreamOrDevice s = {});
array arange(double start, double stop, double step, StreamOrDevice s = {});
array arange(double start, double stop, Dtype dtype, StreamOrDevice s = {});
array arange(double start, double stop, StreamOrDevice s = {});
array arange(double stop, Dtype dtype, StreamOrDevice s = {});
array arange(double stop, StreamOrDevice s = {});
array arange(int start, int stop, int step, StreamOrDevice s = {});
array arange(int start, int stop, StreamOrDevice s = {});
array arange(int stop, StreamOrDevice s = {});
array linspace(double start, double stop, int num = 50, Dtype dtype = float32, StreamOrDevice s = {});
array full(Shape shape, array vals, Dtype dtype, StreamOrDevice s = {});
array full(Shape shape, array vals, StreamOrDevice s = {});
array zeros(const Shape& shape, Dtype dtype = float32, StreamOrDevice s = {});
array ones(const Shape& shape, Dtype dtype = float32, StreamOrDevice s = {});
array zeros_like(const array& a, StreamOrDevice s = {});
array ones_like(const array& a, StreamOrDevice s = {});
array full_like(const array& a, array vals, StreamOrDevice s = {});
array eye(int n, int m, int k, Dtype dtype = float32, StreamOrDevice s = {});
array eye(int n, Dtype dtype = float32, StreamOrDevice s = {});
array identity(int n, Dtype dtype = float32, StreamOrDevice s = {});
/// Ones at and below the k-th diagonal.
array tri(int n, int m, int k, Dtype dtype = float32, StreamOrDevice s = {});
array tri(int n, Dtype dtype = float32, StreamOrDevice s = {});
array tril(const array& x, int k = 0, StreamOrDevice s = {});
array triu(const array& x, int k = 0, StreamOrDevice s = {});
/// indexing: "xy" (Cartesian, default) or "ij" (matrix).
std::vector<array> meshgrid(const std::vector<array>& arrays, bool sparse = false, const std::string& indexing = "xy",
                            StreamOrDevice s = {});

// ---------------------------------------------------------------- type and copy
array astype(const array& a, Dtype dtype, StreamOrDevice s = {});
/// Reinterprets the bytes as `dtype`; the last axis scales by the size ratio.
array view(const array& a, Dtype dtype, StreamOrDevice s = {});
array copy(const array& a, StreamOrDevice s = {});
/// A row-contiguous copy when `a` isn't (or `allow_col_major` and it's column-contiguous).
array contiguous(const array& a, bool allow_col_major = false, StreamOrDevice s = {});
array stop_gradient(const array& a, StreamOrDevice s = {});

// ---------------------------------------------------------------- unary
array abs(const array& a, StreamOrDevice s = {});
array negative(const array& a, StreamOrDevice s = {});
array sign(const array& a, StreamOrDevice s = {});
array sqrt(const array& a, StreamOrDevice s = {});
array rsqrt(const array& a, StreamOrDevice s = {});
array square(const array& a, StreamOrDevice s = {});
array reciprocal(const array& a, StreamOrDevice s = {});
array exp(const array& a, StreamOrDevice s = {});
array expm1(const array& a, StreamOrDevice s = {});
array log(const array& a, StreamOrDevice s = {});
array log1p(const array& a, StreamOrDevice s = {});
array log2(const array& a, StreamOrDevice s = {});
array log10(const array& a, StreamOrDevice s = {});
array sin(const array& a, StreamOrDevice s = {});
array cos(const array& a, StreamOrDevice s = {});
array tan(const array& a, StreamOrDevice s = {});
array arcsin(const array& a, StreamOrDevice s = {});
array arccos(const array& a, StreamOrDevice s = {});
array arctan(const array& a, StreamOrDevice s = {});
array sinh(const array& a, StreamOrDevice s = {});
array cosh(const array& a, StreamOrDevice s = {});
array tanh(const array& a, StreamOrDevice s = {});
array arcsinh(const array& a, StreamOrDevice s = {});
array arccosh(const array& a, StreamOrDevice s = {});
array arctanh(const array& a, StreamOrDevice s = {});
array sigmoid(const array& a, StreamOrDevice s = {});
array erf(const array& a, StreamOrDevice s = {});
array erfinv(const array& a, StreamOrDevice s = {});
array floor(const array& a, StreamOrDevice s = {});
array ceil(const array& a, StreamOrDevice s = {});
/// Rounds half to even, to `decimals` places.
array round(const array& a, int decimals = 0, StreamOrDevice s = {});
array isnan(const array& a, StreamOrDevice s = {});
array isinf(const array& a, StreamOrDevice s = {});
array isposinf(const array& a, StreamOrDevice s = {});
array isneginf(const array& a, StreamOrDevice s = {});
array isfinite(const array& a, StreamOrDevice s = {});
/// Replaces nan with `nan`, +inf with `posinf` (default: the dtype's max), -inf with `neginf`.
array nan_to_num(const array& a, float nan = 0.0f, std::optional<float> posinf = std::nullopt,
                 std::optional<float> neginf = std::nullopt, StreamOrDevice s = {});
array logical_not(const array& a, StreamOrDevice s = {});
array bitwise_invert(const array& a, StreamOrDevice s = {});
array degrees(const array& a, StreamOrDevice s = {});
array radians(const array& a, StreamOrDevice s = {});
array conjugate(const array& a, StreamOrDevice s = {});
array real(const array& a, StreamOrDevice s = {});
array imag(const array& a, StreamOrDevice s = {});

// ---------------------------------------------------------------- binary (broadcasting)
array add(const array& a, const array& b, StreamOrDevice s = {});
array subtract(const array& a, const array& b, StreamOrDevice s = {});
array multiply(const array& a, const array& b, StreamOrDevice s = {});
array divide(const array& a, const array& b, StreamOrDevice s = {});
array floor_divide(const array& a, const array& b, StreamOrDevice s = {});
/// Result has the sign of the divisor (NumPy's mod).
array remainder(const array& a, const array& b, StreamOrDevice s = {});
std::vector<array> divmod(const array& a, const array& b, StreamOrDevice s = {});
array power(const array& a, const array& b, StreamOrDevice s = {});
array maximum(const array& a, const array& b, StreamOrDevice s = {});
array minimum(const array& a, const array& b, StreamOrDevice s = {});
array arctan2(const array& a, const array& b, StreamOrDevice s = {});
array logaddexp(const array& a, const array& b, StreamOrDevice s = {});
array equal(const array& a, const array& b, StreamOrDevice s = {});
array not_equal(const array& a, const array& b, StreamOrDevice s = {});
array less(const array& a, const array& b, StreamOrDevice s = {});
array less_equal(const array& a, const array& b, StreamOrDevice s = {});
array greater(const array& a, const array& b, StreamOrDevice s = {});
array greater_equal(const array& a, const array& b, StreamOrDevice s = {});
array logical_and(const array& a, const array& b, StreamOrDevice s = {});
array logical_or(const array& a, const array& b, StreamOrDevice s = {});
array bitwise_and(const array& a, const array& b, StreamOrDevice s = {});
array bitwise_or(const array& a, const array& b, StreamOrDevice s = {});
array bitwise_xor(const array& a, const array& b, StreamOrDevice s = {});
array left_shift(const array& a, const array& b, StreamOrDevice s = {});
array right_shift(const array& a, const array& b, StreamOrDevice s = {});
/// Elementwise choice: x where condition is true, else y (all three broadcast).
array where(const array& condition, const array& x, const array& y, StreamOrDevice s = {});
array clip(const array& a, const std::optional<array>& a_min, const std::optional<array>& a_max, StreamOrDevice s = {});

// ---------------------------------------------------------------- reductions
array sum(const array& a, const std::vector<int>& axes, bool keepdims = false, StreamOrDevice s = {});
array sum(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});
array sum(const array& a, bool keepdims = false, StreamOrDevice s = {});
array prod(const array& a, const std::vector<int>& axes, bool keepdims = false, StreamOrDevice s = {});
array prod(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});
array prod(const array& a, bool keepdims = false, StreamOrDevice s = {});
array max(const array& a, const std::vector<int>& axes, bool keepdims = false, StreamOrDevice s = {});
array max(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});
array max(const array& a, bool keepdims = false, StreamOrDevice s = {});
array min(const array& a, const std::vector<int>& axes, bool keepdims = false, StreamOrDevice s = {});
array min(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});
array min(const array& a, bool keepdims = false, StreamOrDevice s = {});
array all(const array& a, const std::vector<int>& axes, bool keepdims = false, StreamOrDevice s = {});
array all(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});
array all(const array& a, bool keepdims = false, StreamOrDevice s = {});
array any(const array& a, const std::vector<int>& axes, bool keepdims = false, StreamOrDevice s = {});
array any(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});
array any(const array& a, bool keepdims = false, StreamOrDevice s = {});
array mean(const array& a, const std::vector<int>& axes, bool keepdims = false, StreamOrDevice s = {});
array mean(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});
array mean(const array& a, bool keepdims = false, StreamOrDevice s = {});
array var(const array& a, const std::vector<int>& axes, bool keepdims = false, int ddof = 0, StreamOrDevice s = {});
array var(const array& a, int axis, bool keepdims = false, int ddof = 0, StreamOrDevice s = {});
array var(const array& a, bool keepdims = false, int ddof = 0, StreamOrDevice s = {});
array std(const array& a, const std::vector<int>& axes, bool keepdims = false, int ddof = 0, StreamOrDevice s = {});
array std(const array& a, int axis, bool keepdims = false, int ddof = 0, StreamOrDevice s = {});
array std(const array& a, bool keepdims = false, int ddof = 0, StreamOrDevice s = {});
array argmax(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});
array argmax(const array& a, bool keepdims = false, StreamOrDevice s = {});
array argmin(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});
array argmin(const array& a, bool keepdims = false, StreamOrDevice s = {});
array logsumexp(const array& a, const std::vector<int>& axes, bool keepdims = false, StreamOrDevice s = {});
array logsumexp(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});
array logsumexp(const array& a, bool keepdims = false, StreamOrDevice s = {});
/// precise: for low-precision inputs, compute in float32.
array softmax(const array& a, const std::vector<int>& axes, bool precise = false, StreamOrDevice s = {});
array softmax(const array& a, int axis, bool precise = false, StreamOrDevice s = {});
array softmax(const array& a, bool precise = false, StreamOrDevice s = {});
array log_softmax(const array& a, const std::vector<int>& axes, bool precise = false, StreamOrDevice s = {});
array log_softmax(const array& a, int axis, bool precise = false, StreamOrDevice s = {});

// ---------------------------------------------------------------- scans
// Cumulative ops along `axis` (none: over the flattened array). reverse scans from
// the end; exclusive (inclusive = false) leaves element i out of out[i].
/// Sum: bool and small integers accumulate in int32/uint32, as sum does.
array cumsum(const array& a, std::optional<int> axis = std::nullopt, bool reverse = false, bool inclusive = true,
             StreamOrDevice s = {});
/// Product: bool and small integers accumulate in int32/uint32, as prod does.
array cumprod(const array& a, std::optional<int> axis = std::nullopt, bool reverse = false, bool inclusive = true,
              StreamOrDevice s = {});
/// Running maximum (nan propagates); exclusive scans start at the dtype's lowest value.
array cummax(const array& a, std::optional<int> axis = std::nullopt, bool reverse = false, bool inclusive = true,
             StreamOrDevice s = {});
/// Running minimum (nan propagates); exclusive scans start at the dtype's highest value.
array cummin(const array& a, std::optional<int> axis = std::nullopt, bool reverse = false, bool inclusive = true,
             StreamOrDevice s = {});
/// log(cumsum(exp(a))) computed stably; integers and bool become float32.
array logcumsumexp(const array& a, std::optional<int> axis = std::nullopt, bool reverse = false, bool inclusive = true,
                   StreamOrDevice s = {});

// ---------------------------------------------------------------- shape
array reshape(const array& a, Shape shape, StreamOrDevice s = {});
array flatten(const array& a, int start_axis = 0, int end_axis = -1, StreamOrDevice s = {});
array unflatten(const array& a, int axis, Shape shape, StreamOrDevice s = {});
array squeeze(const array& a, const std::vector<int>& axes, StreamOrDevice s = {});
array squeeze(const array& a, int axis, StreamOrDevice s = {});
array squeeze(const array& a, StreamOrDevice s = {});
array expand_dims(const array& a, const std::vector<int>& axes, StreamOrDevice s = {});
array expand_dims(const array& a, int axis, StreamOrDevice s = {});
array transpose(const array& a, std::vector<int> axes, StreamOrDevice s = {});
array transpose(const array& a, StreamOrDevice s = {});
array swapaxes(const array& a, int axis1, int axis2, StreamOrDevice s = {});
array moveaxis(const array& a, int source, int destination, StreamOrDevice s = {});
array broadcast_to(const array& a, const Shape& shape, StreamOrDevice s = {});
std::vector<array> broadcast_arrays(const std::vector<array>& inputs, StreamOrDevice s = {});
/// The NumPy broadcast of two shapes; throws naming both when incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b);
array concatenate(const std::vector<array>& arrays, int axis, StreamOrDevice s = {});
array concatenate(const std::vector<array>& arrays, StreamOrDevice s = {});
array stack(const std::vector<array>& arrays, int axis, StreamOrDevice s = {});
array stack(const std::vector<array>& arrays, StreamOrDevice s = {});
/// Splits into `num_splits` equal parts along `axis`.
std::vector<array> split(const array& a, int num_splits, int axis, StreamOrDevice s = {});
std::vector<array> split(const array& a, int num_splits, StreamOrDevice s = {});
/// Splits at the given indices along `axis`.
std::vector<array> split(const array& a, const Shape& indices, int axis, StreamOrDevice s = {});
std::vector<array> split(const array& a, const Shape& indices, StreamOrDevice s = {});
/// Basic slicing: start/stop/strides per axis (negative values count from the end, clamped like NumPy).
array slice(const array& a, Shape start, Shape stop, Shape strides, StreamOrDevice s = {});
array slice(const array& a, const Shape& start, const Shape& stop, StreamOrDevice s = {});
/// `src` with the region `slice(src, start, stop, strides)` replaced by `update` (broadcast to the
/// region's shape, cast to src's dtype). Bounds are read as in slice.
array slice_update(const array& src, const array& update, Shape start, Shape stop, Shape strides,
                   StreamOrDevice s = {});
array slice_update(const array& src, const array& update, const Shape& start, const Shape& stop, StreamOrDevice s = {});
/// A view of a's elements (in row-major order) with the given shape, strides (in elements,
/// may be 0 or negative) and offset, as NumPy's as_strided; every position it reads must lie
/// inside a. Overlapping views are allowed (their gradients add up).
array as_strided(const array& a, Shape shape, Strides strides, size_t offset, StreamOrDevice s = {});
/// Pads `axes` with (low, high) widths; mode "constant" or "edge".
array pad(const array& a, const std::vector<int>& axes, const Shape& low_pad, const Shape& high_pad,
          const array& pad_value = array(0), const std::string& mode = "constant", StreamOrDevice s = {});
array pad(const array& a, const std::vector<std::pair<int, int>>& pad_width, const array& pad_value = array(0),
          const std::string& mode = "constant", StreamOrDevice s = {});
array pad(const array& a, const std::pair<int, int>& pad_width, const array& pad_value = array(0),
          const std::string& mode = "constant", StreamOrDevice s = {});
array pad(const array& a, int pad_width, const array& pad_value = array(0), const std::string& mode = "constant",
          StreamOrDevice s = {});
array repeat(const array& a, int repeats, int axis, StreamOrDevice s = {});
array repeat(const array& a, int repeats, StreamOrDevice s = {});
array tile(const array& a, std::vector<int> reps, StreamOrDevice s = {});
array roll(const array& a, int shift, StreamOrDevice s = {});
array roll(const array& a, int shift, int axis, StreamOrDevice s = {});
array roll(const array& a, const Shape& shift, const std::vector<int>& axes, StreamOrDevice s = {});
array atleast_1d(const array& a, StreamOrDevice s = {});
array atleast_2d(const array& a, StreamOrDevice s = {});
array atleast_3d(const array& a, StreamOrDevice s = {});

// ---------------------------------------------------------------- sorting
/// Ascending sort along `axis` (nan last, as NumPy); without an axis, of the flattened array.
array sort(const array& a, int axis, StreamOrDevice s = {});
array sort(const array& a, StreamOrDevice s = {});
/// Indices (uint32) that sort `a` along `axis`; stable, so ties keep their order.
array argsort(const array& a, int axis, StreamOrDevice s = {});
array argsort(const array& a, StreamOrDevice s = {});
/// A copy with the element that would sit at `kth` in sorted order there, smaller (or equal)
/// elements before it and larger (or equal) ones after, in unspecified order. kth < 0 counts from the end.
array partition(const array& a, int kth, int axis, StreamOrDevice s = {});
array partition(const array& a, int kth, StreamOrDevice s = {});
/// Indices (uint32) that partition `a` along `axis` as partition() does.
array argpartition(const array& a, int kth, int axis, StreamOrDevice s = {});
array argpartition(const array& a, int kth, StreamOrDevice s = {});
/// The k largest elements along `axis` (0 <= k <= size), in unspecified order.
array topk(const array& a, int k, int axis, StreamOrDevice s = {});
array topk(const array& a, int k, StreamOrDevice s = {});
/// out[..., i, ...] = a[..., indices[..., i, ...], ...] along `axis`; a and (integer) indices
/// broadcast against each other on the other axes. Negative indices count from the end; one
/// still out of range makes eval throw std::out_of_range, as NumPy raises IndexError.
array take_along_axis(const array& a, const array& indices, int axis, StreamOrDevice s = {});
/// a with `values` added at `indices` along `axis` (repeated indices accumulate); indices and
/// values broadcast to one shape, equal to a's on the other axes.
array scatter_add_axis(const array& a, const array& indices, const array& values, int axis, StreamOrDevice s = {});

// ---------------------------------------------------------------- linear algebra basics
/// Matrix product with NumPy semantics: 1-d operands are promoted, batch axes broadcast.
array matmul(const array& a, const array& b, StreamOrDevice s = {});
/// alpha * (a @ b) + beta * c.
array addmm(const array& c, const array& a, const array& b, float alpha = 1.0f, float beta = 1.0f,
            StreamOrDevice s = {});
array inner(const array& a, const array& b, StreamOrDevice s = {});
array outer(const array& a, const array& b, StreamOrDevice s = {});
array tensordot(const array& a, const array& b, int axes = 2, StreamOrDevice s = {});
array tensordot(const array& a, const array& b, const std::vector<int>& axes_a, const std::vector<int>& axes_b,
                StreamOrDevice s = {});
array trace(const array& a, int offset = 0, int axis1 = 0, int axis2 = 1, StreamOrDevice s = {});
array trace(const array& a, int offset, int axis1, int axis2, Dtype dtype, StreamOrDevice s = {});
/// 1-d input: a 2-d array with it on the k-th diagonal; 2-d input: its k-th diagonal.
array diag(const array& a, int k = 0, StreamOrDevice s = {});
array diagonal(const array& a, int offset = 0, int axis1 = 0, int axis2 = 1, StreamOrDevice s = {});
array kron(const array& a, const array& b, StreamOrDevice s = {});

// ---------------------------------------------------------------- comparison of whole arrays
array allclose(const array& a, const array& b, double rtol = 1e-5, double atol = 1e-8, bool equal_nan = false,
               StreamOrDevice s = {});
array isclose(const array& a, const array& b, double rtol = 1e-5, double atol = 1e-8, bool equal_nan = false,
              StreamOrDevice s = {});
array array_equal(const array& a, const array& b, bool equal_nan = false, StreamOrDevice s = {});

// ---------------------------------------------------------------- operators
// Scalars mixed with arrays are "weak", as Python scalars are in MLX:
// int8_array + 2 stays int8, int_array * 0.5 becomes float32.
namespace detail {
/// A 0-d array for a C++ scalar used next to an array of dtype `other`.
template <class T>
array weak_scalar(T v, Dtype other) {
  ScalarKind k = std::is_same_v<T, bool>          ? ScalarKind::boolean
                 : std::is_integral_v<T>          ? ScalarKind::integer
                 : std::is_same_v<T, complex64_t> ? ScalarKind::complex
                                                  : ScalarKind::floating;
  return array(v, weak_scalar_dtype(k, other));
}
template <class T>
inline constexpr bool is_scalar_v = std::is_arithmetic_v<T> || std::is_same_v<T, complex64_t>;
}  // namespace detail

#define EMBER_BINARY_OPERATOR(OP, FN)                                           \
  inline array operator OP(const array& a, const array& b) { return FN(a, b); } \
  template <class T, class = std::enable_if_t<detail::is_scalar_v<T>>>          \
  array operator OP(const array& a, T b) {                                      \
    return FN(a, detail::weak_scalar(b, a.dtype()));                            \
  }                                                                             \
  template <class T, class = std::enable_if_t<detail::is_scalar_v<T>>>          \
  array operator OP(T a, const array& b) {                                      \
    return FN(detail::weak_scalar(a, b.dtype()), b);                            \
  }
EMBER_BINARY_OPERATOR(+, add)
EMBER_BINARY_OPERATOR(-, subtract)
EMBER_BINARY_OPERATOR(*, multiply)
EMBER_BINARY_OPERATOR(/, divide)
EMBER_BINARY_OPERATOR(%, remainder)
EMBER_BINARY_OPERATOR(==, equal)
EMBER_BINARY_OPERATOR(!=, not_equal)
EMBER_BINARY_OPERATOR(<, less)
EMBER_BINARY_OPERATOR(<=, less_equal)
EMBER_BINARY_OPERATOR(>, greater)
EMBER_BINARY_OPERATOR(>=, greater_equal)
EMBER_BINARY_OPERATOR(&&, logical_and)
EMBER_BINARY_OPERATOR(||, logical_or)
EMBER_BINARY_OPERATOR(&, bitwise_and)
EMBER_BINARY_OPERATOR(|, bitwise_or)
EMBER_BINARY_OPERATOR(^, bitwise_xor)
EMBER_BINARY_OPERATOR(<<, left_shift)
EMBER_BINARY_OPERATOR(>>, right_shift)
#undef EMBER_BINARY_OPERATOR

inline array operator-(const array& a) { return negative(a); }
inline array operator!(const array& a) { return logical_not(a); }
inline array operator~(const array& a) { return bitwise_invert(a); }

}  // namespace ember
