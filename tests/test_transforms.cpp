// The transform machinery: vjp, jvp, grad, value_and_grad, vmap and their nesting.
#include <gtest/gtest.h>

#include <ember/ember.h>

#include <cmath>

using namespace ember;

namespace {
double item(const array& a) { return const_cast<array&>(a).item<double>(); }
}  // namespace

TEST(Transforms, VjpOfElementwiseChain) {
  // f(x) = sin(x) * x^2 ; f'(x) = cos(x) x^2 + 2 x sin(x)
  array x({0.3, -1.2, 2.0}, float64);
  array u({1.0, 2.0, -0.5}, float64);
  auto [outs, grads] =
      vjp([](const std::vector<array>& v) { return std::vector<array>{sin(v[0]) * square(v[0])}; }, {x}, {u});
  eval(grads[0]);
  const double xs[] = {0.3, -1.2, 2.0}, us[] = {1.0, 2.0, -0.5};
  for (int i = 0; i < 3; ++i) {
    double d = std::cos(xs[i]) * xs[i] * xs[i] + 2 * xs[i] * std::sin(xs[i]);
    EXPECT_NEAR(grads[0].data<double>()[i], us[i] * d, 1e-12);
  }
  EXPECT_NEAR(item(reshape(slice(outs[0], {0}, {1}), {})), std::sin(0.3) * 0.09, 1e-12);
}

TEST(Transforms, JvpMatchesVjp) {
  array x({0.7, 1.3}, float64);
  array v({0.25, -1.0}, float64);
  auto f = [](const std::vector<array>& a) { return std::vector<array>{exp(a[0]) / (a[0] + 2.0)}; };
  auto [o1, tans] = jvp(f, {x}, {v});
  auto [o2, cots] = vjp(f, {x}, {ones({2}, float64)});
  eval(tans[0], cots[0]);
  for (int i = 0; i < 2; ++i) {
    EXPECT_NEAR(tans[0].data<double>()[i], cots[0].data<double>()[i] * v.data<double>()[i], 1e-12);
  }
}

TEST(Transforms, GradOfScalarAndHigherOrder) {
  UnaryFn f = [](const array& x) { return x * x * x; };  // 3x^2, 6x, 6
  array x(1.5, float64);
  EXPECT_NEAR(grad(f)(x).item<double>(), 3 * 1.5 * 1.5, 1e-12);
  EXPECT_NEAR(grad(grad(f))(x).item<double>(), 6 * 1.5, 1e-12);
  EXPECT_NEAR(grad(grad(grad(f)))(x).item<double>(), 6.0, 1e-12);
  auto [v, g] = value_and_grad(UnaryFn([](const array& x) { return tanh(x); }))(array(0.5f));
  EXPECT_NEAR(v.item<float>(), std::tanh(0.5f), 1e-6);
  EXPECT_NEAR(g.item<float>(), 1 - std::tanh(0.5f) * std::tanh(0.5f), 1e-6);
}

TEST(Transforms, GradWithArgnumsAndAux) {
  MultiFn f = [](const std::vector<array>& a) {
    return std::vector<array>{a[0] * a[1] + exp(a[1]), a[0] + 100.0};  // second output is auxiliary
  };
  auto vg = value_and_grad(f, std::vector<int>{0, 1});
  auto [vals, grads] = vg({array(2.0, float64), array(0.5, float64)});
  EXPECT_EQ(vals.size(), 2u);
  EXPECT_NEAR(vals[1].item<double>(), 102.0, 1e-12);
  EXPECT_NEAR(grads[0].item<double>(), 0.5, 1e-12);
  EXPECT_NEAR(grads[1].item<double>(), 2.0 + std::exp(0.5), 1e-12);
  auto g1 = grad(f, 1)({array(2.0, float64), array(0.5, float64)});
  EXPECT_NEAR(g1[0].item<double>(), 2.0 + std::exp(0.5), 1e-12);
}

TEST(Transforms, GradErrors) {
  UnaryFn vec = [](const array& x) { return x * 2.0f; };
  try {
    grad(vec)(array({1.0f, 2.0f}));
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("must return a scalar"), std::string::npos) << e.what();
  }
  EXPECT_THROW(
      value_and_grad(MultiFn([](const std::vector<array>& a) { return a; }), std::vector<int>{3})({array(1.0f)}),
      std::out_of_range);
  EXPECT_THROW(vjp(vec, array({1.0f, 2.0f}), array({1.0f})), std::invalid_argument);
}

TEST(Transforms, IntegerOutputsHaveZeroGradient) {
  UnaryFn f = [](const array& x) { return astype(greater(x, array(0.0f)), float32) * 0.0f + x * 0.0f; };
  EXPECT_EQ(grad(f)(array(2.0f)).item<float>(), 0.0f);
  // Gradient through a comparison is zero, not an error.
  auto [o, g] = vjp(UnaryFn([](const array& x) { return astype(x > 1.0f, float32); }), array(3.0f), array(1.0f));
  EXPECT_EQ(g.item<float>(), 0.0f);
}

TEST(Transforms, VmapElementwise) {
  array x = reshape(arange(0.0, 6.0, 1.0, float32), {2, 3});
  array y({10.0f, 20.0f, 30.0f});
  // Map over axis 1 of x, broadcast the unmapped y (a scalar per call is y's matching... y is unmapped).
  MultiFn f = [](const std::vector<array>& a) { return std::vector<array>{a[0] * 2.0f + a[1]}; };
  auto out = vmap(f, {1, -1})({x, reshape(array({1.0f, 2.0f}), {2})});
  ASSERT_EQ(out[0].shape(), (Shape{3, 2}));
  out[0].eval();
  array c = contiguous(out[0]);
  c.eval();
  // out[j][i] = 2 * x[i][j] + [1,2][i]
  for (int j = 0; j < 3; ++j)
    for (int i = 0; i < 2; ++i) EXPECT_EQ(c.data<float>()[j * 2 + i], 2.0f * (i * 3 + j) + (i + 1));
  (void)y;
  auto o2 = vmap(f, {0, 0}, {1})({x, x});
  ASSERT_EQ(o2[0].shape(), (Shape{3, 2}));
  EXPECT_THROW(vmap(f, {0})({x, x}), std::invalid_argument);
  EXPECT_THROW(vmap(f, {0, 0})({x, y}), std::invalid_argument);
}

TEST(Transforms, VmapUnmappedOutputs) {
  // kUnmapped (out_axes None): an output independent of the mapped inputs comes back as
  // computed; one that depends on them is an error. vmap_after_trace picks axes after tracing.
  array x = reshape(astype(arange(0, 6), float32), {2, 3});
  array w = array({1.0f, 2.0f, 3.0f});
  MultiFn f = [](const std::vector<array>& a) { return std::vector<array>{multiply(a[0], a[1]), sum(a[1])}; };
  auto out = vmap(f, {0, -1}, {0, kUnmapped})({x, w});
  EXPECT_EQ(out[0].shape(), (Shape{2, 3}));
  EXPECT_EQ(out[1].shape(), Shape{});
  EXPECT_EQ(out[1].item<float>(), 6.0f);
  EXPECT_TRUE(array_equal(out[0], multiply(x, w)).item<bool>());
  EXPECT_THROW(vmap(f, {0, -1}, {kUnmapped})({x, w}), std::invalid_argument);
  size_t traced_outputs = 0;
  auto late = vmap_after_trace(f, {0, -1}, [&] {
    traced_outputs = 2;
    return std::vector<int>{1, kUnmapped};
  })({x, w});
  EXPECT_EQ(traced_outputs, 2u);
  EXPECT_EQ(late[0].shape(), (Shape{3, 2}));
  EXPECT_TRUE(array_equal(late[0], transpose(multiply(x, w))).item<bool>());
}

TEST(Transforms, EvalInsideTracedFunctionKeepsGradient) {
  // Reading a value mid-function (logging a loss, say) must not cut the graph.
  float seen = 0.0f;
  UnaryFn f = [&](const array& x) {
    array y = x * x;
    y.eval();
    seen = y.item<float>();
    return sin(y);
  };
  array g = grad(f)(array(0.5f));
  EXPECT_NEAR(seen, 0.25f, 1e-7);
  EXPECT_NEAR(g.item<float>(), std::cos(0.25f) * 2 * 0.5f, 1e-6);
}

TEST(Transforms, NestedVmapAndVmapOfGrad) {
  // vmap(vmap(f)) over a (2, 3, 4) array equals f applied to every (4,) row.
  array x = reshape(arange(0.0, 24.0, 1.0, float32), {2, 3, 4});
  UnaryFn row_norm = [](const array& r) { return sqrt(sum(square(r))); };
  array out = vmap(vmap(row_norm, 0, 0), 0, 0)(x);
  ASSERT_EQ(out.shape(), (Shape{2, 3}));
  out.eval();
  for (int i = 0; i < 6; ++i) {
    double s = 0;
    for (int k = 0; k < 4; ++k) s += (i * 4.0 + k) * (i * 4.0 + k);
    EXPECT_NEAR(out.data<float>()[i], std::sqrt(s), 1e-4);
  }
  // Inner map over axis 1 of each (3, 4) slice: columns.
  array cols = vmap(vmap(row_norm, 1, 0), 0, 0)(x);
  ASSERT_EQ(cols.shape(), (Shape{2, 4}));
  // Per-row gradients of the norm: r / |r|.
  array g = vmap(grad(row_norm))(reshape(x, {6, 4}));
  ASSERT_EQ(g.shape(), (Shape{6, 4}));
  g.eval();
  array ref = reshape(x, {6, 4}) / reshape(out, {6, 1});
  EXPECT_TRUE(allclose(g, ref, 1e-5, 1e-6).item<bool>());
}
