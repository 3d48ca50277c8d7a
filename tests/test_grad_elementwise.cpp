// vjp, jvp and vmap of the elementwise primitives (Unary, Binary, DivMod)
// through the grad_check harness: every differentiable op in its domain (away
// from singularities and kinks), in float64 and float32, on broadcast and
// strided inputs; vmap (and zero derivatives) of the predicate, logical and
// bitwise ops; the complex-only ops (Real, Imag, Conjugate, complex Abs) by
// hand; and the public transforms through comparisons and integer ops.
#include <gtest/gtest.h>

#include <ember/ember.h>
#include <ember/primitives.h>

#include <cmath>
#include <complex>
#include <string>
#include <vector>

#include "grad_check.h"

using namespace ember;
using grad_check::check;
using grad_check::check_transforms;
using grad_check::Options;

namespace {

using Args = std::vector<array>;

// x pushed away from 0 by `gap` (keeping its sign): inputs clear of a kink or pole at 0.
array away_from_zero(const array& x, double gap = 0.2) { return x + sign(x) * gap; }

// Where an op isn't smooth inside [low, high]: a kink or pole at 0, or jumps
// at the integers and half-integers (floor, ceil, round).
enum class Rough { none, at_zero, at_integers };

struct UnaryCase {
  const char* name;
  std::function<array(const array&)> fn;
  double low, high;  // the op's domain, clear of singular points
  Rough rough = Rough::none;
};

std::vector<UnaryCase> unary_cases() {
  return {
      {"Abs", [](const array& x) { return abs(x); }, -2, 2, Rough::at_zero},
      {"Negative", [](const array& x) { return negative(x); }, -2, 2},
      {"Sign", [](const array& x) { return sign(x); }, -2, 2, Rough::at_zero},
      {"Sqrt", [](const array& x) { return sqrt(x); }, 0.2, 3},
      {"Rsqrt", [](const array& x) { return rsqrt(x); }, 0.2, 3},
      {"Square", [](const array& x) { return square(x); }, -2, 2},
      {"Reciprocal", [](const array& x) { return reciprocal(x); }, -2, 2, Rough::at_zero},
      {"Exp", [](const array& x) { return exp(x); }, -2, 2},
      {"Expm1", [](const array& x) { return expm1(x); }, -2, 2},
      {"Log", [](const array& x) { return log(x); }, 0.2, 3},
      {"Log1p", [](const array& x) { return log1p(x); }, -0.8, 2},
      {"Log2", [](const array& x) { return log2(x); }, 0.2, 3},
      {"Log10", [](const array& x) { return log10(x); }, 0.2, 3},
      {"Sin", [](const array& x) { return sin(x); }, -3, 3},
      {"Cos", [](const array& x) { return cos(x); }, -3, 3},
      {"Tan", [](const array& x) { return tan(x); }, -1.2, 1.2},
      {"ArcSin", [](const array& x) { return arcsin(x); }, -0.9, 0.9},
      {"ArcCos", [](const array& x) { return arccos(x); }, -0.9, 0.9},
      {"ArcTan", [](const array& x) { return arctan(x); }, -3, 3},
      {"Sinh", [](const array& x) { return sinh(x); }, -2, 2},
      {"Cosh", [](const array& x) { return cosh(x); }, -2, 2},
      {"Tanh", [](const array& x) { return tanh(x); }, -2, 2},
      {"ArcSinh", [](const array& x) { return arcsinh(x); }, -3, 3},
      {"ArcCosh", [](const array& x) { return arccosh(x); }, 1.2, 3},
      {"ArcTanh", [](const array& x) { return arctanh(x); }, -0.9, 0.9},
      {"Sigmoid", [](const array& x) { return sigmoid(x); }, -4, 4},
      {"Erf", [](const array& x) { return erf(x); }, -2, 2},
      {"ErfInv", [](const array& x) { return erfinv(x); }, -0.9, 0.9},
      // Piecewise constant: zero derivative; inputs are kept off the jumps below.
      {"Floor", [](const array& x) { return floor(x); }, -2, 2, Rough::at_integers},
      {"Ceil", [](const array& x) { return ceil(x); }, -2, 2, Rough::at_integers},
      {"Round", [](const array& x) { return round(x); }, -2, 2, Rough::at_integers},
  };
}

// Inputs for the piecewise-constant ops: k + 0.1 .. k + 0.4 and k + 0.6 .. k + 0.9,
// clear of the integers and half-integers where floor/ceil/round jump.
array off_the_jumps(const array& x) {
  array f = floor(x);
  array r = x - f;  // in [0, 1)
  return f + 0.1 + r * 0.6 + astype(r >= 0.5, x.dtype()) * 0.2;
}

// x moved clear of the points where an op of roughness r isn't smooth (the
// primitive then sees only smooth points; the harness differentiates there).
array clear_of(Rough r, const array& x) {
  switch (r) {
    case Rough::at_zero:
      return away_from_zero(x);
    case Rough::at_integers:
      return off_the_jumps(x);
    default:
      return x;
  }
}

Options float32_options() {
  Options o;     // float32 rounding: a larger step and looser tolerances
  o.eps = 2e-3;  // rounding error of f over 2 eps, ~1e-7 / 4e-3 per element, vs eps^2 f''' / 6
  o.rtol = 2e-3;
  o.atol = 1e-3;
  o.vmap_tol = 1e-6;
  return o;
}

Stream stream() { return default_stream(default_device()); }

// The Binary node for `op` on two same-shape inputs (for ops without a public function).
array binary_node(BinaryOp op, const array& a, const array& b, Dtype out) {
  return array(a.shape(), out, std::make_shared<Binary>(stream(), op), {a, b});
}

std::vector<std::complex<double>> complex_values(array x) {
  x = contiguous(astype(x, complex64));
  x.eval();
  std::vector<std::complex<double>> out;
  for (size_t i = 0; i < x.size(); ++i) out.emplace_back(x.data<complex64_t>()[i]);
  return out;
}

array complex_array(const std::vector<std::complex<double>>& v, const Shape& shape) {
  std::vector<complex64_t> c;
  for (auto z : v) c.emplace_back(static_cast<float>(z.real()), static_cast<float>(z.imag()));
  return array(c, shape, complex64);
}

void expect_complex_near(const array& got, const std::vector<std::complex<double>>& want, double tol,
                         const std::string& what) {
  std::vector<std::complex<double>> g = complex_values(got);
  ASSERT_EQ(g.size(), want.size()) << what;
  for (size_t i = 0; i < g.size(); ++i) {
    EXPECT_NEAR(g[i].real(), want[i].real(), tol) << what << ": element " << i << " (real)";
    EXPECT_NEAR(g[i].imag(), want[i].imag(), tol) << what << ": element " << i << " (imag)";
  }
}

}  // namespace

// ---------------------------------------------------------------- unary

TEST(GradElementwise, UnaryFloat64) {
  for (const auto& c : unary_cases()) {
    SCOPED_TRACE(c.name);
    Options o;
    o.low = c.low;
    o.high = c.high;
    auto fn = c.fn;
    auto prep = [r = c.rough](const array& x) { return clear_of(r, x); };
    auto op = [fn, prep](const Args& x) { return fn(prep(x[0])); };
    check(op, {{3, 4}}, o);
    check(op, {{}}, o);  // 0-d
    // A broadcast (stride-0) input and a transposed one.
    check([fn, prep](const Args& x) { return fn(broadcast_to(prep(x[0]), {2, 3, 4})); }, {{3, 1}}, o);
    check([fn, prep](const Args& x) { return fn(transpose(prep(x[0]))); }, {{4, 3}}, o);
    EXPECT_TRUE(grad_check::covered().count(c.name)) << "the case's op is not " << c.name;
  }
}

TEST(GradElementwise, UnaryFloat32) {
  for (const auto& c : unary_cases()) {
    SCOPED_TRACE(std::string(c.name) + " in float32");
    Options o = float32_options();
    o.low = c.low;
    o.high = c.high;
    auto fn = c.fn;
    check([fn, r = c.rough](const Args& x) { return fn(astype(clear_of(r, x[0]), float32)); }, {{2, 5}}, o);
  }
}

TEST(GradElementwise, UnaryDerivativesByHand) {
  // A few closed forms, independent of the finite differences.
  array x({0.5, 1.5}, float64);
  auto g = [&](UnaryFn f) { return grad_check::detail::values(vjp(f, x, ones_like(x)).second); };
  auto near = [](const std::vector<double>& got, std::vector<double> want) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-12) << "element " << i;
  };
  near(g([](const array& a) { return rsqrt(a); }), {-0.5 * std::pow(0.5, -1.5), -0.5 * std::pow(1.5, -1.5)});
  near(g([](const array& a) { return arccosh(a + 1.0); }),
       {1 / std::sqrt(1.5 * 1.5 - 1), 1 / std::sqrt(2.5 * 2.5 - 1)});
  near(g([](const array& a) { return erfinv(a * 0.5); }),
       {0.5 * std::sqrt(M_PI) / 2 * std::exp(std::pow(0.2253120550121781, 2)),
        0.5 * std::sqrt(M_PI) / 2 * std::exp(std::pow(0.8134198475976185, 2))});
  near(g([](const array& a) { return log10(a); }), {1 / (0.5 * std::log(10.0)), 1 / (1.5 * std::log(10.0))});
}

TEST(GradElementwise, UnarySecondDerivatives) {
  // The derivative rules are built from public ops, so the transforms apply to
  // them again: vjp and jvp of x -> vjp(op)(x, u), and of x -> jvp(op)(x, v).
  for (const auto& c : unary_cases()) {
    SCOPED_TRACE(c.name);
    Options o;
    o.low = c.low;
    o.high = c.high;
    o.rtol = 1e-5;
    auto fn = c.fn;
    auto prep = [r = c.rough](const array& x) { return clear_of(r, x); };
    array u({0.3, -0.7, 1.1, 0.2, -1.5, 0.9}, Shape{2, 3}, float64);
    UnaryFn f = [fn, prep](const array& x) { return fn(prep(x)); };
    check_transforms([f, u](const Args& x) { return vjp(f, x[0], u).second; }, {{2, 3}}, o);
    check_transforms([f, u](const Args& x) { return jvp(f, x[0], u).second; }, {{2, 3}}, o);
  }
}

// ---------------------------------------------------------------- binary

namespace {

struct BinaryCase {
  const char* name;
  std::function<array(const array&, const array&)> fn;
};

// Inputs are prepared so the op is smooth there: positive bases for power,
// divisors away from 0. Ties of maximum/minimum and a/b within eps of an
// integer (the jumps of remainder/floor_divide) have probability ~1e-6 with
// random inputs, and the seed is fixed.
std::vector<BinaryCase> binary_cases() {
  return {
      {"Add", [](const array& a, const array& b) { return add(a, b); }},
      {"Subtract", [](const array& a, const array& b) { return subtract(a, b); }},
      {"Multiply", [](const array& a, const array& b) { return multiply(a, b); }},
      {"Divide", [](const array& a, const array& b) { return divide(a, away_from_zero(b, 0.3)); }},
      {"Power", [](const array& a, const array& b) { return power(abs(a) + 0.2, b); }},
      {"Maximum", [](const array& a, const array& b) { return maximum(a, b); }},
      {"Minimum", [](const array& a, const array& b) { return minimum(a, b); }},
      {"ArcTan2", [](const array& a, const array& b) { return arctan2(a, b); }},
      {"LogAddExp", [](const array& a, const array& b) { return logaddexp(a, b); }},
      {"Remainder", [](const array& a, const array& b) { return remainder(a * 3.0, away_from_zero(b, 0.3)); }},
      {"FloorDivide", [](const array& a, const array& b) { return floor_divide(a * 3.0, away_from_zero(b, 0.3)); }},
  };
}

}  // namespace

TEST(GradElementwise, BinaryFloat64) {
  for (const auto& c : binary_cases()) {
    SCOPED_TRACE(c.name);
    auto fn = c.fn;
    auto op = [fn](const Args& x) { return fn(x[0], x[1]); };
    check(op, {{3, 4}, {3, 4}});
    check(op, {{}, {}});
    // Broadcasting: the primitive sees stride-0 views of the smaller operand.
    check(op, {{3, 4}, {4}});
    check(op, {{2, 1, 3}, {4, 1}});
    check(op, {{}, {2, 3}});
    // A transposed operand.
    check([fn](const Args& x) { return fn(transpose(x[0]), x[1]); }, {{4, 3}, {3, 4}});
    EXPECT_TRUE(grad_check::covered().count(c.name)) << "the case's op is not " << c.name;
  }
}

TEST(GradElementwise, BinaryFloat32) {
  for (const auto& c : binary_cases()) {
    SCOPED_TRACE(std::string(c.name) + " in float32");
    auto fn = c.fn;
    check([fn](const Args& x) { return fn(astype(x[0], float32), astype(x[1], float32)); }, {{2, 3}, {3}},
          float32_options());
  }
}

TEST(GradElementwise, BinarySecondDerivatives) {
  array u({0.3, -0.7, 1.1, 0.2, -1.5, 0.9}, Shape{2, 3}, float64);
  for (const auto& c : binary_cases()) {
    SCOPED_TRACE(c.name);
    auto fn = c.fn;
    MultiFn f = [fn](const Args& x) { return Args{fn(x[0], x[1])}; };
    Options o;
    o.rtol = 1e-5;
    for (int k = 0; k < 2; ++k) {
      check_transforms([f, u, k](const Args& x) { return vjp(f, x, {u}).second[k]; }, {{2, 3}, {3}}, o);
    }
    check_transforms([f](const Args& x) { return jvp(f, x, {x[1] * 0.5 + 1.0, x[0]}).second[0]; }, {{3}, {3}}, o);
  }
}

TEST(GradElementwise, BinaryWithAConstantOperand) {
  // Only one input depends on the traced value: the other argnum is not asked for.
  Options o;
  o.argnums = {1};
  check([](const Args& x) { return power(array(1.7, float64), x[0]); }, {{3}}, o);
  check([](const Args& x) { return x[0] * 2.5; }, {{3}});
  check([](const Args& x) { return 2.5 / away_from_zero(x[0]); }, {{3}});
  // The same input on both sides: x^x, x*x, maximum(x, x) (a tie, split consistently).
  array x({0.7, 1.3, 2.1}, float64);
  auto d = grad_check::detail::values(vjp(UnaryFn([](const array& a) { return power(a, a); }), x, ones_like(x)).second);
  for (int i = 0; i < 3; ++i) {
    double xi = grad_check::detail::values(x)[i];
    EXPECT_NEAR(d[i], std::pow(xi, xi) * (std::log(xi) + 1), 1e-12);
  }
  auto m =
      grad_check::detail::values(vjp(UnaryFn([](const array& a) { return maximum(a, a); }), x, ones_like(x)).second);
  for (double v : m) EXPECT_NEAR(v, 1.0, 1e-12) << "maximum(x, x) is x, its derivative 1";
}

TEST(GradElementwise, DivMod) {
  auto op = [](const Args& x) { return divmod(x[0] * 3.0, away_from_zero(x[1], 0.3)); };
  check([op](const Args& x) { return op(x)[0]; }, {{3, 4}, {3, 4}});
  check([op](const Args& x) { return op(x)[1]; }, {{3, 4}, {4}});
  check([op](const Args& x) { return op(x)[1]; }, {{2, 1, 3}, {4, 1}});
  check([op](const Args& x) { return op(x)[0]; }, {{}, {}});
  check(
      [](const Args& x) { return divmod(astype(x[0] * 3.0, float32), astype(away_from_zero(x[1], 0.3), float32))[1]; },
      {{2, 3}, {3}}, float32_options());
  // Through the transforms, the remainder output alone and both outputs together.
  check_transforms([op](const Args& x) { return op(x)[1]; }, {{3, 2}, {2}});
  check_transforms([op](const Args& x) { return op(x)[1] + op(x)[0] * 0.5; }, {{3, 2}, {2}});
}

// ---------------------------------------------------------------- non-differentiable ops

TEST(GradElementwise, PredicatesHaveZeroDerivatives) {
  // Comparisons of floats: the vjp is zero (the finite difference is too, away
  // from ties), the jvp a bool zero; vmap against the loop.
  std::vector<std::pair<const char*, std::function<array(const array&, const array&)>>> cases = {
      {"Equal", [](const array& a, const array& b) { return equal(a, b); }},
      {"NotEqual", [](const array& a, const array& b) { return not_equal(a, b); }},
      {"Less", [](const array& a, const array& b) { return less(a, b); }},
      {"LessEqual", [](const array& a, const array& b) { return less_equal(a, b); }},
      {"Greater", [](const array& a, const array& b) { return greater(a, b); }},
      {"GreaterEqual", [](const array& a, const array& b) { return greater_equal(a, b); }},
      {"NaNEqual", [](const array& a, const array& b) { return binary_node(BinaryOp::NaNEqual, a, b, bool_); }},
  };
  for (const auto& [name, fn] : cases) {
    SCOPED_TRACE(name);
    auto f = fn;
    check([f](const Args& x) { return f(x[0], x[1]); }, {{3, 4}, {3, 4}});
    check([f](const Args& x) { return f(x[0], round(x[1])); }, {{2, 3}, {2, 3}}, grad_check::vmap_only());
    EXPECT_TRUE(grad_check::covered().count(name));
  }
  // Ties, so Equal/LessEqual have true entries in the vmap check.
  check([](const Args& x) { return less_equal(round(x[0]), round(x[1])); }, {{4, 3}, {3}}, grad_check::vmap_only());
  // isnan: a vmap with some NaN entries.
  check([](const Args& x) { return isnan(x[0]); }, {{3, 4}});
  check([](const Args& x) { return isnan(log(x[0])); }, {{3, 4}}, grad_check::vmap_only());
}

TEST(GradElementwise, LogicalAndBitwiseVmap) {
  Options o = grad_check::vmap_only();
  auto b = [](const array& x) { return x > 0.0; };
  check([b](const Args& x) { return logical_and(b(x[0]), b(x[1])); }, {{3, 4}, {4}}, o);
  check([b](const Args& x) { return logical_or(b(x[0]), b(x[1])); }, {{2, 3}, {2, 3}}, o);
  check([b](const Args& x) { return logical_not(b(x[0])); }, {{2, 3}}, o);
  auto i = [](const array& x, Dtype t) { return astype(x * 3.0, t); };
  for (Dtype t : {int32, uint8, int64}) {
    SCOPED_TRACE(dtype_name(t));
    check([&](const Args& x) { return bitwise_and(i(x[0], t), i(x[1], t)); }, {{3, 4}, {4}}, o);
    check([&](const Args& x) { return bitwise_or(i(x[0], t), i(x[1], t)); }, {{3, 4}, {3, 4}}, o);
    check([&](const Args& x) { return bitwise_xor(i(x[0], t), i(x[1], t)); }, {{2, 3}, {}}, o);
    check([&](const Args& x) { return bitwise_invert(i(x[0], t)); }, {{2, 3}}, o);
  }
  // Shifts by non-negative amounts (the harness draws unsigned values from 0..6).
  check([&](const Args& x) { return left_shift(i(abs(x[0]), uint32), i(abs(x[1]), uint32)); }, {{3, 4}, {4}}, o);
  check([&](const Args& x) { return right_shift(i(abs(x[0]), uint16), i(abs(x[1]), uint16)); }, {{3, 4}, {3, 4}}, o);
  check([b](const Args& x) { return bitwise_invert(b(x[0])); }, {{2, 3}}, o);
  // Integer arithmetic batches too (and has no float inputs to differentiate).
  check([&](const Args& x) { return i(x[0], int32) * i(x[1], int32); }, {{3, 4}, {4}});
  check([&](const Args& x) { return floor_divide(i(x[0], int32), i(x[1], int32)); }, {{3, 4}, {3, 4}});
  check([&](const Args& x) { return divmod(i(x[0], int32), i(x[1], int32))[1]; }, {{3, 4}, {3, 4}});
  check([&](const Args& x) { return abs(i(x[0], int32)); }, {{3, 4}});
}

TEST(GradElementwise, NonDifferentiableOpsThroughTheTransforms) {
  // The jvp runs through comparisons, logical and integer ops on the way to the output.
  auto f = [](const Args& x) {
    array mask = logical_and(x[0] > 0.0, logical_not(isnan(x[0])));
    array bits = astype(bitwise_and(astype(x[0] * 4.0, int32), array(3)), float64);
    return where(mask, x[0] * x[1], -x[1]) + bits * 0.0 + astype(mask, float64) * x[1];
  };
  check_transforms(f, {{3, 4}, {3, 4}});
  array x({1.5, -0.5}, float64);
  auto [o, t] = jvp(UnaryFn([](const array& a) { return a > 1.0; }), x, ones_like(x));
  EXPECT_EQ(t.dtype(), bool_);
  EXPECT_EQ(grad_check::detail::values(t), (std::vector<double>{0, 0}));
  auto [o2, g] = vjp(UnaryFn([](const array& a) { return astype(isnan(a), float64) * a; }), x, ones_like(x));
  EXPECT_EQ(grad_check::detail::values(g), (std::vector<double>{0, 0}));
}

// ---------------------------------------------------------------- complex

TEST(GradElementwise, ComplexRealImagConjugateByHand) {
  // The JAX convention (real inner product <a, b> = Re(sum a * b)): for real(z)
  // the cotangent is u + 0i, for imag(z) it is -i u, for conj(z) it is conj(u).
  array z = complex_array({{1.0, 2.0}, {-0.5, 0.25}, {3.0, -1.0}}, {3});
  array u({0.5f, -2.0f, 1.5f});
  std::vector<std::complex<double>> uc = {{0.5, 0.0}, {-2.0, 0.0}, {1.5, 0.0}};

  auto [ro, rg] = vjp(UnaryFn([](const array& a) { return real(a); }), z, u);
  EXPECT_EQ(ro.dtype(), float32);
  EXPECT_EQ(rg.dtype(), complex64);
  expect_complex_near(rg, uc, 1e-6, "vjp of real");

  auto [io, ig] = vjp(UnaryFn([](const array& a) { return imag(a); }), z, u);
  EXPECT_EQ(ig.dtype(), complex64);
  expect_complex_near(ig, {{0.0, -0.5}, {0.0, 2.0}, {0.0, -1.5}}, 1e-6, "vjp of imag");

  array w = complex_array({{1.0, -1.0}, {0.5, 2.0}, {0.0, 1.0}}, {3});
  auto [co, cg] = vjp(UnaryFn([](const array& a) { return conjugate(a); }), z, w);
  expect_complex_near(cg, {{1.0, 1.0}, {0.5, -2.0}, {0.0, -1.0}}, 1e-6, "vjp of conjugate");

  // real(z)^2 + imag(z)^2 = |z|^2 has gradient 2 conj(z) in this convention (JAX's grad gives 6-8j at 3+4j).
  auto g = vjp(UnaryFn([](const array& a) { return square(real(a)) + square(imag(a)); }), z, ones({3})).second;
  expect_complex_near(g, {{2.0, -4.0}, {-1.0, -0.5}, {6.0, 2.0}}, 1e-5, "grad of |z|^2");

  // jvps: real(t), imag(t), conj(t).
  array t = complex_array({{0.5, 1.0}, {2.0, -1.0}, {-1.0, 0.0}}, {3});
  auto [o1, rt] = jvp(UnaryFn([](const array& a) { return real(a); }), z, t);
  EXPECT_EQ(rt.dtype(), float32);
  expect_complex_near(rt, {{0.5, 0}, {2.0, 0}, {-1.0, 0}}, 1e-6, "jvp of real");
  auto [o2, it] = jvp(UnaryFn([](const array& a) { return imag(a); }), z, t);
  expect_complex_near(it, {{1.0, 0}, {-1.0, 0}, {0.0, 0}}, 1e-6, "jvp of imag");
  auto [o3, ct] = jvp(UnaryFn([](const array& a) { return conjugate(a); }), z, t);
  expect_complex_near(ct, {{0.5, -1.0}, {2.0, 1.0}, {-1.0, 0.0}}, 1e-6, "jvp of conjugate");

  // vmap of each against a loop over rows.
  array zb = complex_array({{1, 2}, {3, 4}, {5, 6}, {-1, -2}, {-3, 4}, {5, -6}}, {2, 3});
  for (auto [name, f] :
       std::vector<std::pair<const char*, UnaryFn>>{{"Real", [](const array& a) { return real(a); }},
                                                    {"Imag", [](const array& a) { return imag(a); }},
                                                    {"Conjugate", [](const array& a) { return conjugate(a); }}}) {
    SCOPED_TRACE(name);
    array got = vmap(f, 1, 0)(zb);  // map over columns
    ASSERT_EQ(got.shape(), (Shape{3, 2}));
    std::vector<std::complex<double>> want;
    for (int j = 0; j < 3; ++j) {
      auto col = complex_values(f(slice(zb, {0, j}, {2, j + 1})));
      want.insert(want.end(), col.begin(), col.end());
    }
    expect_complex_near(got, want, 0, "vmap vs loop");
    grad_check::covered().insert(name);  // checked by hand here: the harness is real-valued
  }
}

TEST(GradElementwise, ComplexAbsAndHolomorphic) {
  // |z|: the cotangent is u conj(z) / |z| (consistent with real/imag above), the tangent Re(conj(z) t) / |z|.
  array z = complex_array({{3.0, 4.0}, {-1.0, 1.0}}, {2});
  array u({2.0f, -1.0f});
  auto [o, g] = vjp(UnaryFn([](const array& a) { return abs(a); }), z, u);
  EXPECT_EQ(o.dtype(), float32);
  EXPECT_EQ(g.dtype(), complex64);
  double r2 = std::sqrt(2.0);
  expect_complex_near(g, {{2.0 * 0.6, -2.0 * 0.8}, {1.0 / r2, 1.0 / r2}}, 1e-6, "vjp of abs");
  // It agrees with the hand-written |z| = sqrt(real^2 + imag^2).
  auto g2 = vjp(UnaryFn([](const array& a) { return sqrt(square(real(a)) + square(imag(a))); }), z, u).second;
  expect_complex_near(g2, complex_values(g), 1e-6, "vjp of abs vs its composition");
  array t = complex_array({{1.0, 2.0}, {0.5, -0.5}}, {2});
  auto [o2, tt] = jvp(UnaryFn([](const array& a) { return abs(a); }), z, t);
  EXPECT_EQ(tt.dtype(), float32);
  expect_complex_near(tt, {{(3.0 * 1.0 + 4.0 * 2.0) / 5.0, 0}, {(-1.0 * 0.5 + 1.0 * -0.5) / r2, 0}}, 1e-6,
                      "jvp of abs");
  // A holomorphic op: d/dz z^2 = 2z, both ways.
  auto [o3, sq] = jvp(UnaryFn([](const array& a) { return square(a) * exp(a); }), z, t);
  auto [o4, sv] = vjp(UnaryFn([](const array& a) { return square(a) * exp(a); }), z, t);
  auto zs = complex_values(z), ts = complex_values(t);
  std::vector<std::complex<double>> want;
  for (size_t i = 0; i < 2; ++i) want.push_back(ts[i] * (2.0 * zs[i] + zs[i] * zs[i]) * std::exp(zs[i]));
  expect_complex_near(sq, want, 1e-3, "jvp of z^2 e^z");
  expect_complex_near(sv, want, 1e-3, "vjp of z^2 e^z");
}

// ---------------------------------------------------------------- errors

TEST(GradElementwise, ZeroDerivativesOfNonDifferentiableOps) {
  // Asking the primitive directly for a derivative that has no meaning names the op.
  array a({1, 2}, int32);
  array y = bitwise_invert(a);
  std::vector<array> t = y.primitive().jvp(y.inputs(), {a}, {0});
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].dtype(), int32);
  EXPECT_EQ(grad_check::detail::values(t[0]), (std::vector<double>{0, 0}));
  // Comparisons: zero cotangents in the inputs' dtype.
  array x({1.0, 2.0}, float64);
  array c = x < 1.5;
  std::vector<array> g = c.primitive().vjp(c.inputs(), {array({true, false})}, {0, 1}, {c});
  ASSERT_EQ(g.size(), 2u);
  for (const auto& gi : g) {
    EXPECT_EQ(gi.dtype(), float64);
    EXPECT_EQ(grad_check::detail::values(gi), (std::vector<double>{0, 0}));
  }
}
