// Creation ops: arange, linspace, full, zeros, ones, eye, tri, meshgrid, ...
#include <cmath>

#include "ember/ops.h"
#include "ember/primitives.h"

namespace ember {

array arange(double start, double stop, double step, Dtype dtype, StreamOrDevice s) {
  if (dtype == bool_ || dtype == complex64) {
    throw std::invalid_argument("[arange] cannot make a range of dtype " + dtype_name(dtype));
  }
  if (step == 0 || std::isnan(start) || std::isnan(stop) || std::isnan(step)) {
    throw std::invalid_argument("[arange] start, stop and step must be numbers and step non-zero, got step " +
                                std::to_string(step));
  }
  if (std::isinf(start) || std::isinf(stop)) {
    throw std::invalid_argument("[arange] start and stop must be finite");
  }
  double n = std::ceil((stop - start) / step);
  if (n > static_cast<double>(INT32_MAX)) {
    throw std::invalid_argument("[arange] the range has " + std::to_string(n) + " elements, more than an axis holds");
  }
  int32_t size = n > 0 ? static_cast<int32_t>(n) : 0;
  return array(Shape{size}, dtype, std::make_shared<Arange>(to_stream(s), start, step, size, dtype), {});
}
array arange(double start, double stop, double step, StreamOrDevice s) { return arange(start, stop, step, float32, s); }
array arange(double start, double stop, Dtype dtype, StreamOrDevice s) { return arange(start, stop, 1.0, dtype, s); }
array arange(double start, double stop, StreamOrDevice s) { return arange(start, stop, 1.0, float32, s); }
array arange(double stop, Dtype dtype, StreamOrDevice s) { return arange(0.0, stop, 1.0, dtype, s); }
array arange(double stop, StreamOrDevice s) { return arange(0.0, stop, 1.0, float32, s); }
array arange(int start, int stop, int step, StreamOrDevice s) { return arange(start, stop, step, int32, s); }
array arange(int start, int stop, StreamOrDevice s) { return arange(start, stop, 1, int32, s); }
array arange(int stop, StreamOrDevice s) { return arange(0, stop, 1, int32, s); }

array linspace(double start, double stop, int num, Dtype dtype, StreamOrDevice s) {
  if (num < 0) throw std::invalid_argument("[linspace] num must be non-negative, got " + std::to_string(num));
  if (num == 1) return astype(array({start}, float64), dtype, s);
  double step = num > 1 ? (stop - start) / (num - 1) : 0.0;
  // start + i * step in float64, then the exact endpoint (NumPy's behaviour).
  array r = add(multiply(arange(0.0, num, 1.0, float64, s), array(step, float64), s), array(start, float64), s);
  if (num > 1) {
    r = where(equal(arange(0, num, 1, int32, s), array(num - 1), s), array(stop, float64), r, s);
  }
  return astype(r, dtype, s);
}

array full(Shape shape, array vals, Dtype dtype, StreamOrDevice s) {
  checked_size(shape, "full");
  // A broadcast of the value, made contiguous so writes into it (donation) are safe.
  return copy(broadcast_to(astype(vals, dtype, s), shape, s), s);
}
array full(Shape shape, array vals, StreamOrDevice s) {
  Dtype t = vals.dtype();
  return full(std::move(shape), std::move(vals), t, s);
}
array zeros(const Shape& shape, Dtype dtype, StreamOrDevice s) { return full(shape, array(0, dtype), dtype, s); }
array ones(const Shape& shape, Dtype dtype, StreamOrDevice s) { return full(shape, array(1, dtype), dtype, s); }
array zeros_like(const array& a, StreamOrDevice s) { return zeros(a.shape(), a.dtype(), s); }
array ones_like(const array& a, StreamOrDevice s) { return ones(a.shape(), a.dtype(), s); }
array full_like(const array& a, array vals, StreamOrDevice s) { return full(a.shape(), std::move(vals), a.dtype(), s); }

array tri(int n, int m, int k, Dtype dtype, StreamOrDevice s) {
  if (n < 0 || m < 0) {
    throw std::invalid_argument("[tri] n and m must be non-negative, got " + std::to_string(n) + " and " +
                                std::to_string(m));
  }
  // ones where column <= row + k
  array rows = reshape(arange(0, n, 1, int32, s), {n, 1}, s);
  array cols = reshape(arange(0, m, 1, int32, s), {1, m}, s);
  return astype(less_equal(cols, add(rows, array(k), s), s), dtype, s);
}
array tri(int n, Dtype dtype, StreamOrDevice s) { return tri(n, n, 0, dtype, s); }

array eye(int n, int m, int k, Dtype dtype, StreamOrDevice s) {
  if (n < 0 || m < 0) {
    throw std::invalid_argument("[eye] n and m must be non-negative, got " + std::to_string(n) + " and " +
                                std::to_string(m));
  }
  array rows = reshape(arange(0, n, 1, int32, s), {n, 1}, s);
  array cols = reshape(arange(0, m, 1, int32, s), {1, m}, s);
  return astype(equal(cols, add(rows, array(k), s), s), dtype, s);
}
array eye(int n, Dtype dtype, StreamOrDevice s) { return eye(n, n, 0, dtype, s); }
array identity(int n, Dtype dtype, StreamOrDevice s) { return eye(n, n, 0, dtype, s); }

array tril(const array& x, int k, StreamOrDevice s) {
  if (x.ndim() < 2) throw std::invalid_argument("[tril] expected an array with at least 2 dimensions");
  array mask = tri(x.shape(-2), x.shape(-1), k, bool_, s);
  return where(mask, x, zeros({}, x.dtype(), s), s);
}
array triu(const array& x, int k, StreamOrDevice s) {
  if (x.ndim() < 2) throw std::invalid_argument("[triu] expected an array with at least 2 dimensions");
  array mask = tri(x.shape(-2), x.shape(-1), k - 1, bool_, s);
  return where(mask, zeros({}, x.dtype(), s), x, s);
}

std::vector<array> meshgrid(const std::vector<array>& arrays, bool sparse, const std::string& indexing,
                            StreamOrDevice s) {
  if (indexing != "xy" && indexing != "ij") {
    throw std::invalid_argument("[meshgrid] indexing must be 'xy' or 'ij', got '" + indexing + "'");
  }
  int n = static_cast<int>(arrays.size());
  std::vector<array> out;
  for (int i = 0; i < n; ++i) {
    if (arrays[i].ndim() != 1) {
      throw std::invalid_argument("[meshgrid] expected 1-d arrays, input " + std::to_string(i) + " has " +
                                  std::to_string(arrays[i].ndim()) + " dimensions");
    }
    Shape shape(n, 1);
    int axis = i;
    if (indexing == "xy" && n >= 2 && i < 2) axis = 1 - i;  // swap the first two axes
    shape[axis] = arrays[i].shape(0);
    out.push_back(reshape(arrays[i], shape, s));
  }
  if (!sparse) out = broadcast_arrays(out, s);
  return out;
}

}  // namespace ember
