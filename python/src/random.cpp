// ember.core.random: keys, seed, split and the samplers, as mlx.core.random.
#include "common.h"

namespace ember::py {

namespace {
Shape shape_arg(const std::optional<Shape>& s) { return s.value_or(Shape{}); }
std::optional<array> key_arg(const std::optional<ArrayLike>& k) {
  if (!k) return std::nullopt;
  return k->get();
}
}  // namespace

void init_random(nb::module_& parent) {
  nb::module_ m =
      parent.def_submodule("random", "Random numbers from explicit keys (threefry2x32), as mlx.core.random.");
  m.def("key", &random::key, "seed"_a, "The PRNG key of a seed: a uint32 array of shape (2,).");
  m.def("seed", &random::seed, "seed"_a, "Re-seeds the global key sequence.");
  m.def(
      "split", [](const ArrayLike& key, int num, StreamOrDevice s) { return random::split(key, num, s); }, "key"_a,
      "num"_a = 2, "stream"_a = nb::none(), "num new keys from key, shape (num, 2).");
  m.def(
      "bits",
      [](std::optional<Shape> shape, int width, std::optional<ArrayLike> key, StreamOrDevice s) {
        return random::bits(shape_arg(shape), width, key_arg(key), s);
      },
      "shape"_a = Shape{}, "width"_a = 4, "key"_a = nb::none(), "stream"_a = nb::none(),
      "Random bits; width 1, 2 or 4 bytes gives uint8, uint16 or uint32.");
  m.def(
      "uniform",
      [](nb::handle low, nb::handle high, std::optional<Shape> shape, std::optional<Dtype> dtype,
         std::optional<ArrayLike> key, StreamOrDevice s) {
        Dtype t = dtype.value_or(float32);
        return random::uniform(to_array_weak(low, t), to_array_weak(high, t), shape_arg(shape), t, key_arg(key), s);
      },
      "low"_a = 0, "high"_a = 1, "shape"_a = Shape{}, "dtype"_a = nb::none(), "key"_a = nb::none(),
      "stream"_a = nb::none(), "Uniform samples in [low, high).");
  m.def(
      "normal",
      [](std::optional<Shape> shape, std::optional<Dtype> dtype, double loc, double scale, std::optional<ArrayLike> key,
         StreamOrDevice s) {
        return random::normal(shape_arg(shape), dtype.value_or(float32), loc, scale, key_arg(key), s);
      },
      "shape"_a = Shape{}, "dtype"_a = nb::none(), "loc"_a = 0.0, "scale"_a = 1.0, "key"_a = nb::none(),
      "stream"_a = nb::none(), "Normal samples with mean loc and standard deviation scale.");
  m.def(
      "randint",
      [](nb::handle low, nb::handle high, std::optional<Shape> shape, std::optional<Dtype> dtype,
         std::optional<ArrayLike> key, StreamOrDevice s) {
        Dtype t = dtype.value_or(int32);
        return random::randint(to_array_weak(low, t), to_array_weak(high, t), shape_arg(shape), t, key_arg(key), s);
      },
      "low"_a, "high"_a, "shape"_a = Shape{}, "dtype"_a = nb::none(), "key"_a = nb::none(), "stream"_a = nb::none(),
      "Integers uniform in [low, high).");
  m.def(
      "bernoulli",
      [](nb::handle p, std::optional<Shape> shape, std::optional<ArrayLike> key, StreamOrDevice s) {
        array pa = to_array_weak(p, float32);
        return shape ? random::bernoulli(pa, *shape, key_arg(key), s) : random::bernoulli(pa, key_arg(key), s);
      },
      "p"_a = 0.5, "shape"_a = nb::none(), "key"_a = nb::none(), "stream"_a = nb::none(), "True with probability p.");
  m.def(
      "truncated_normal",
      [](nb::handle lower, nb::handle upper, std::optional<Shape> shape, std::optional<Dtype> dtype,
         std::optional<ArrayLike> key, StreamOrDevice s) {
        Dtype t = dtype.value_or(float32);
        array lo = to_array_weak(lower, t), hi = to_array_weak(upper, t);
        return shape ? random::truncated_normal(lo, hi, *shape, t, key_arg(key), s)
                     : random::truncated_normal(lo, hi, t, key_arg(key), s);
      },
      "lower"_a, "upper"_a, "shape"_a = nb::none(), "dtype"_a = nb::none(), "key"_a = nb::none(),
      "stream"_a = nb::none(), "Standard normal samples truncated to [lower, upper].");
  m.def(
      "gumbel",
      [](std::optional<Shape> shape, std::optional<Dtype> dtype, std::optional<ArrayLike> key, StreamOrDevice s) {
        return random::gumbel(shape_arg(shape), dtype.value_or(float32), key_arg(key), s);
      },
      "shape"_a = Shape{}, "dtype"_a = nb::none(), "key"_a = nb::none(), "stream"_a = nb::none(),
      "Standard Gumbel samples.");
  m.def(
      "laplace",
      [](std::optional<Shape> shape, std::optional<Dtype> dtype, double loc, double scale, std::optional<ArrayLike> key,
         StreamOrDevice s) {
        return random::laplace(shape_arg(shape), dtype.value_or(float32), loc, scale, key_arg(key), s);
      },
      "shape"_a = Shape{}, "dtype"_a = nb::none(), "loc"_a = 0.0, "scale"_a = 1.0, "key"_a = nb::none(),
      "stream"_a = nb::none(), "Laplace samples.");
  m.def(
      "multivariate_normal",
      [](const ArrayLike& mean, const ArrayLike& cov, std::optional<Shape> shape, std::optional<Dtype> dtype,
         std::optional<ArrayLike> key, StreamOrDevice s) {
        return random::multivariate_normal(mean, cov, shape_arg(shape), dtype.value_or(float32), key_arg(key), s);
      },
      "mean"_a, "cov"_a, "shape"_a = Shape{}, "dtype"_a = nb::none(), "key"_a = nb::none(), "stream"_a = nb::none(),
      "Multivariate normal samples.");
  m.def(
      "categorical",
      [](const ArrayLike& logits, int axis, std::optional<Shape> shape, std::optional<int> num_samples,
         std::optional<ArrayLike> key, StreamOrDevice s) {
        if (shape && num_samples) {
          throw std::invalid_argument("[categorical] at most one of shape or num_samples can be given");
        }
        if (shape) return random::categorical(logits, axis, *shape, key_arg(key), s);
        if (num_samples) return random::categorical(logits, axis, *num_samples, key_arg(key), s);
        return random::categorical(logits, axis, key_arg(key), s);
      },
      "logits"_a, "axis"_a = -1, "shape"_a = nb::none(), "num_samples"_a = nb::none(), "key"_a = nb::none(),
      "stream"_a = nb::none(), "Samples indices with probabilities softmax(logits) along axis.");
  m.def(
      "permutation",
      [](nb::handle x, int axis, std::optional<ArrayLike> key, StreamOrDevice s) {
        if (PyLong_Check(x.ptr())) return random::permutation(nb::cast<int>(x), key_arg(key), s);
        return random::permutation(to_array(x), axis, key_arg(key), s);
      },
      "x"_a, "axis"_a = 0, "key"_a = nb::none(), "stream"_a = nb::none(),
      "A random permutation of arange(x) (x an int) or x shuffled along axis.");
}

}  // namespace ember::py
