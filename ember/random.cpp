// ember::random ops, built from the RandomBits primitive and ordinary ops
// (following mlx/random.cpp), plus RandomBits' transforms.
#include "ember/random.h"

#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

#include "ember/linalg.h"
#include "ember/ops.h"
#include "ember/primitives.h"
#include "ember/utils.h"

namespace ember {

namespace random {

namespace {

std::string shape_str(const Shape& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

void check_key(const array& k, const char* op) {
  if (k.dtype() != uint32) {
    throw std::invalid_argument(std::string("[") + op + "] expected a key of dtype uint32, got " +
                                dtype_name(k.dtype()));
  }
  if (k.ndim() == 0 || k.shape().back() != 2) {
    throw std::invalid_argument(std::string("[") + op + "] expected a key of shape (..., 2), got " +
                                shape_str(k.shape()));
  }
}

void check_shape(const Shape& shape, const char* op) {
  for (auto d : shape) {
    if (d < 0) {
      throw std::invalid_argument(std::string("[") + op + "] shape dimensions must be non-negative, got " +
                                  shape_str(shape));
    }
  }
}

void check_floating(Dtype dtype, const char* op) {
  if (!is_floating_point(dtype)) {
    throw std::invalid_argument(std::string("[") + op + "] can only generate floating-point values, got dtype " +
                                dtype_name(dtype));
  }
}

// The dtype the floating-point arithmetic runs in (half types go through float32).
Dtype compute_dtype(Dtype dtype) { return dtype == float64 ? float64 : float32; }

int normalize_axis(int axis, int ndim, const char* op) {
  if (axis < -ndim || axis >= ndim) {
    throw std::invalid_argument(std::string("[") + op + "] axis " + std::to_string(axis) +
                                " is out of bounds for an array of " + std::to_string(ndim) + " dimensions");
  }
  return axis < 0 ? axis + ndim : axis;
}

// Whether `from` broadcasts to exactly `to`.
bool broadcasts_to(const Shape& from, const Shape& to) {
  if (from.size() > to.size()) return false;
  size_t off = to.size() - from.size();
  for (size_t i = 0; i < from.size(); ++i) {
    if (from[i] != 1 && from[i] != to[off + i]) return false;
  }
  return true;
}

// The global key sequence.
struct KeySequence {
  std::mutex mu;
  uint32_t k0, k1;
  KeySequence() { reseed(static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count())); }
  void reseed(uint64_t s) {
    k0 = static_cast<uint32_t>(s >> 32);
    k1 = static_cast<uint32_t>(s);
  }
  // Splits the current key in two: keeps the first, returns the second.
  array next() {
    std::lock_guard<std::mutex> lock(mu);
    auto a = detail::threefry2x32({k0, k1}, {0, 2});
    auto b = detail::threefry2x32({k0, k1}, {1, 3});
    // The words of bits({2, 2}, 4, key): (a.first, b.first, a.second, b.second).
    k0 = a.first;
    k1 = b.first;
    return array({a.second, b.second}, uint32);
  }
  static KeySequence& global() {
    static KeySequence seq;
    return seq;
  }
};

array get_key(const Key& k) { return k ? *k : KeySequence::global().next(); }

// Uniform in [0, 1) in `dtype`.
array unit_uniform(const Shape& shape, Dtype dtype, const Key& k, Stream st) {
  array b = bits(shape, 4, k, st);
  if (dtype == float64) return multiply(astype(b, float64, st), array(std::ldexp(1.0, -32), float64), st);
  // The top 24 bits, exact in float32.
  array u = multiply(astype(right_shift(b, array(8u, uint32), st), float32, st), array(std::ldexp(1.0f, -24)), st);
  if (dtype == float32) return u;
  // Rounding to a narrower type can reach 1: clamp to the largest value below it.
  double below_one = dtype == float16 ? 1.0 - std::ldexp(1.0, -11) : 1.0 - std::ldexp(1.0, -8);
  return minimum(astype(u, dtype, st), array(below_one, dtype), st);
}

}  // namespace

array key(uint64_t seed) {
  return array({static_cast<uint32_t>(seed >> 32), static_cast<uint32_t>(seed & 0xffffffffu)}, uint32);
}

void seed(uint64_t seed) {
  auto& seq = KeySequence::global();
  std::lock_guard<std::mutex> lock(seq.mu);
  seq.reseed(seed);
}

array bits(const Shape& shape, int width, const Key& key_, StreamOrDevice s) {
  Dtype dtype = width == 4 ? uint32 : width == 2 ? uint16 : width == 1 ? uint8 : bool_;
  if (dtype == bool_) {
    throw std::invalid_argument("[bits] width must be 1, 2 or 4 bytes, got " + std::to_string(width));
  }
  check_shape(shape, "bits");
  array k = get_key(key_);
  check_key(k, "bits");
  // Several keys (K..., 2) each fill their own block: K... must lead the shape.
  size_t kdims = k.ndim() - 1;
  bool prefix = kdims <= shape.size();
  for (size_t i = 0; prefix && i < kdims; ++i) prefix = shape[i] == k.shape()[i];
  if (!prefix) {
    throw std::invalid_argument("[bits] keys of shape " + shape_str(k.shape()) + " cannot generate shape " +
                                shape_str(shape) + ": the key's leading dimensions must lead the shape");
  }
  return array(shape, dtype, std::make_shared<RandomBits>(to_stream(s), shape, width), {k});
}

array split(const array& key_, int num, StreamOrDevice s) {
  check_key(key_, "split");
  if (key_.ndim() != 1)
    throw std::invalid_argument("[split] expected one key of shape (2,), got " + shape_str(key_.shape()));
  if (num < 0) throw std::invalid_argument("[split] num must be non-negative, got " + std::to_string(num));
  return bits({num, 2}, 4, key_, s);
}

array uniform(const array& low, const array& high, const Shape& shape, Dtype dtype, const Key& k, StreamOrDevice s) {
  check_floating(dtype, "uniform");
  check_shape(shape, "uniform");
  Stream st = to_stream(s);
  array lo = astype(low, dtype, st), hi = astype(high, dtype, st);
  Shape range_shape = broadcast_shapes(lo.shape(), hi.shape());
  if (!broadcasts_to(range_shape, shape)) {
    throw std::invalid_argument("[uniform] cannot generate values of shape " + shape_str(shape) +
                                " from low and high of broadcast shape " + shape_str(range_shape));
  }
  array u = unit_uniform(shape, dtype, k, st);
  return add(lo, multiply(u, subtract(hi, lo, st), st), st);
}

array uniform(const Shape& shape, Dtype dtype, const Key& k, StreamOrDevice s) {
  check_floating(dtype, "uniform");
  check_shape(shape, "uniform");
  return unit_uniform(shape, dtype, k, to_stream(s));
}

array normal(const Shape& shape, Dtype dtype, double loc, double scale, const Key& k, StreamOrDevice s) {
  check_floating(dtype, "normal");
  Stream st = to_stream(s);
  Dtype ct = compute_dtype(dtype);
  // u in (-1, 1), then sqrt(2) erfinv(u) is standard normal.
  double lo = ct == float64 ? std::nextafter(-1.0, 0.0) : static_cast<double>(std::nextafter(-1.0f, 0.0f));
  array u = uniform(array(lo, ct), array(1.0, ct), shape, ct, k, st);
  array z = multiply(array(std::sqrt(2.0), ct), erfinv(u, st), st);
  if (scale != 1.0) z = multiply(z, array(scale, ct), st);
  if (loc != 0.0) z = add(z, array(loc, ct), st);
  return astype(z, dtype, st);
}

array randint(const array& low, const array& high, const Shape& shape, Dtype dtype, const Key& k, StreamOrDevice s) {
  if (!is_integral(dtype) && dtype != bool_) {
    throw std::invalid_argument("[randint] dtype must be an integer type, got " + dtype_name(dtype));
  }
  Stream st = to_stream(s);
  // floor of a uniform in [low, high) computed in float64 from 32 random bits.
  array lo = astype(low, float64, st), hi = astype(high, float64, st);
  array u = floor(uniform(lo, hi, shape, float64, k, st), st);
  u = minimum(maximum(u, ceil(lo, st), st), subtract(ceil(hi, st), array(1.0, float64), st), st);
  return astype(u, dtype, st);
}

array bernoulli(const array& p, const Shape& shape, const Key& k, StreamOrDevice s) {
  if (!is_floating_point(p.dtype())) {
    throw std::invalid_argument("[bernoulli] the probability p must have a floating-point dtype, got " +
                                dtype_name(p.dtype()));
  }
  check_shape(shape, "bernoulli");
  if (!broadcasts_to(p.shape(), shape)) {
    throw std::invalid_argument("[bernoulli] p of shape " + shape_str(p.shape()) + " does not broadcast to shape " +
                                shape_str(shape));
  }
  Stream st = to_stream(s);
  return less(uniform(shape, p.dtype(), k, st), p, st);
}

array bernoulli(const array& p, const Key& k, StreamOrDevice s) { return bernoulli(p, p.shape(), k, s); }

array bernoulli(const Key& k, StreamOrDevice s) { return bernoulli(array(0.5f), Shape{}, k, s); }

array truncated_normal(const array& lower, const array& upper, const Shape& shape, Dtype dtype, const Key& k,
                       StreamOrDevice s) {
  check_floating(dtype, "truncated_normal");
  Stream st = to_stream(s);
  Dtype ct = compute_dtype(dtype);
  array sqrt2(std::sqrt(2.0), ct);
  array lo = astype(lower, ct, st), hi = astype(upper, ct, st);
  // Inverse CDF: uniform between the CDF values of the bounds (in erf form).
  array a = erf(divide(lo, sqrt2, st), st), b = erf(divide(hi, sqrt2, st), st);
  array z = multiply(sqrt2, erfinv(uniform(a, b, shape, ct, k, st), st), st);
  return astype(maximum(minimum(z, hi, st), lo, st), dtype, st);
}

array truncated_normal(const array& lower, const array& upper, Dtype dtype, const Key& k, StreamOrDevice s) {
  return truncated_normal(lower, upper, broadcast_shapes(lower.shape(), upper.shape()), dtype, k, s);
}

array gumbel(const Shape& shape, Dtype dtype, const Key& k, StreamOrDevice s) {
  check_floating(dtype, "gumbel");
  Stream st = to_stream(s);
  Dtype ct = compute_dtype(dtype);
  double tiny = ct == float64 ? std::numeric_limits<double>::min() : std::numeric_limits<float>::min();
  array u = uniform(array(tiny, ct), array(1.0, ct), shape, ct, k, st);
  return astype(negative(log(negative(log(u, st), st), st), st), dtype, st);
}

array laplace(const Shape& shape, Dtype dtype, double loc, double scale, const Key& k, StreamOrDevice s) {
  check_floating(dtype, "laplace");
  Stream st = to_stream(s);
  Dtype ct = compute_dtype(dtype);
  double lo = ct == float64 ? std::nextafter(-1.0, 0.0) : static_cast<double>(std::nextafter(-1.0f, 0.0f));
  array u = uniform(array(lo, ct), array(1.0, ct), shape, ct, k, st);
  // Inverse CDF: -sign(u) log(1 - |u|).
  array z = negative(multiply(sign(u, st), log1p(negative(abs(u, st), st), st), st), st);
  if (scale != 1.0) z = multiply(z, array(scale, ct), st);
  if (loc != 0.0) z = add(z, array(loc, ct), st);
  return astype(z, dtype, st);
}

array multivariate_normal(const array& mean, const array& cov, const Shape& shape, Dtype dtype, const Key& k,
                          StreamOrDevice s) {
  if (dtype != float32 && dtype != float64) {
    throw std::invalid_argument("[multivariate_normal] dtype must be float32 or float64, got " + dtype_name(dtype));
  }
  if (mean.ndim() < 1 || cov.ndim() < 2) {
    throw std::invalid_argument(
        "[multivariate_normal] mean needs at least 1 dimension and cov at least 2, got shapes " +
        shape_to_string(mean.shape()) + " and " + shape_to_string(cov.shape()));
  }
  int n = mean.shape(-1);
  if (cov.shape(-1) != cov.shape(-2) || cov.shape(-1) != n) {
    throw std::invalid_argument("[multivariate_normal] cov must be (..., N, N) with N = " + std::to_string(n) +
                                " from mean, got shapes " + shape_to_string(mean.shape()) + " and " +
                                shape_to_string(cov.shape()));
  }
  Stream st = to_stream(s);
  Shape out_shape = broadcast_shapes(Shape(cov.shape().begin(), cov.shape().end() - 2),
                                     Shape(mean.shape().begin(), mean.shape().end() - 1));
  out_shape = broadcast_shapes(out_shape, shape);
  out_shape.push_back(n);
  // A square root of cov from its SVD: (U sqrt(S)) Vt, so z @ it has covariance cov.
  auto usv = linalg::svd(astype(cov, dtype, st), true, st);
  array root = matmul(multiply(usv[0], expand_dims(sqrt(usv[1], st), -2, st), st), usv[2], st);
  array z = normal(out_shape, dtype, 0.0, 1.0, k, st);
  array x = squeeze(matmul(expand_dims(z, -2, st), root, st), -2, st);
  return add(astype(mean, dtype, st), x, st);
}

namespace {

// Gumbel-max: argmax over the category axis of logits + Gumbel noise. `shape`
// is the output shape; the category axis goes back in at `axis` counted from the end.
array categorical_impl(const array& logits, int axis, const Shape& shape, const Key& k, Stream st) {
  Shape gshape = shape;
  int offset = axis + static_cast<int>(shape.size()) - static_cast<int>(logits.ndim()) + 1;
  gshape.insert(gshape.begin() + offset, logits.shape()[axis]);
  array g = gumbel(gshape, float32, k, st);
  return argmax(add(g, logits, st), offset, false, st);
}

}  // namespace

array categorical(const array& logits, int axis, const Shape& shape, const Key& k, StreamOrDevice s) {
  axis = normalize_axis(axis, static_cast<int>(logits.ndim()), "categorical");
  check_shape(shape, "categorical");
  Shape reduced = logits.shape();
  reduced.erase(reduced.begin() + axis);
  if (!broadcasts_to(reduced, shape)) {
    throw std::invalid_argument("[categorical] shape " + shape_str(shape) +
                                " is not broadcast-compatible with the logits' shape without the axis " +
                                shape_str(reduced));
  }
  return categorical_impl(logits, axis, shape, k, to_stream(s));
}

array categorical(const array& logits, int axis, int num_samples, const Key& k, StreamOrDevice s) {
  axis = normalize_axis(axis, static_cast<int>(logits.ndim()), "categorical");
  if (num_samples < 0) {
    throw std::invalid_argument("[categorical] num_samples must be non-negative, got " + std::to_string(num_samples));
  }
  Stream st = to_stream(s);
  Shape shape = logits.shape();
  shape.erase(shape.begin() + axis);
  shape.push_back(num_samples);
  return categorical_impl(expand_dims(logits, -1, st), axis, shape, k, st);
}

array categorical(const array& logits, int axis, const Key& k, StreamOrDevice s) {
  axis = normalize_axis(axis, static_cast<int>(logits.ndim()), "categorical");
  Shape shape = logits.shape();
  shape.erase(shape.begin() + axis);
  return categorical_impl(logits, axis, shape, k, to_stream(s));
}

array permutation(int n, const Key& k, StreamOrDevice s) {
  if (n < 0) throw std::invalid_argument("[permutation] n must be non-negative, got " + std::to_string(n));
  return permutation(arange(n, s), 0, k, s);
}

array permutation(const array& x, int axis, const Key& k, StreamOrDevice s) {
  axis = normalize_axis(axis, static_cast<int>(x.ndim()), "permutation");
  Stream st = to_stream(s);
  // Sorting random keys gives a uniformly random order (ties have probability ~n^2 / 2^33).
  array perm = argsort(bits({x.shape()[axis]}, 4, k, st), 0, st);
  Shape idx_shape(x.ndim(), 1);
  idx_shape[axis] = x.shape()[axis];
  array idx = broadcast_to(reshape(perm, idx_shape, st), x.shape(), st);
  return take_along_axis(x, idx, axis, st);
}

}  // namespace random

// ---------------------------------------------------------------- RandomBits transforms

namespace {
Dtype bits_dtype(int width) { return width == 1 ? uint8 : width == 2 ? uint16 : uint32; }
}  // namespace

std::vector<array> RandomBits::vjp(const std::vector<array>& primals, const std::vector<array>&,
                                   const std::vector<int>& argnums, const std::vector<array>&) {
  // The key is an integer input: its cotangent is zero.
  std::vector<array> out;
  for (int i : argnums) out.push_back(zeros_like(primals[i], stream()));
  return out;
}

std::vector<array> RandomBits::jvp(const std::vector<array>&, const std::vector<array>&, const std::vector<int>&) {
  return {zeros(shape_, bits_dtype(width_), stream())};
}

std::pair<std::vector<array>, std::vector<int>> RandomBits::vmap(const std::vector<array>& inputs,
                                                                 const std::vector<int>& axes) {
  Dtype dtype = bits_dtype(width_);
  if (axes[0] < 0) {
    return {{array(shape_, dtype, std::make_shared<RandomBits>(stream(), shape_, width_), {inputs[0]})}, {-1}};
  }
  // Keys (B, K..., 2) fill blocks in order, so the batch leads the output.
  array k = moveaxis(inputs[0], axes[0], 0, stream());
  Shape shape = shape_;
  shape.insert(shape.begin(), k.shape()[0]);
  return {{array(shape, dtype, std::make_shared<RandomBits>(stream(), shape, width_), {k})}, {0}};
}

}  // namespace ember
