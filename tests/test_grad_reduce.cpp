// vjp, jvp and vmap of the reductions (Reduce: sum, prod, max, min, all, any;
// ArgReduce: argmax, argmin) and of the softmax family (Softmax, LogSoftmax,
// LogSumExp) through the grad_check harness, plus hand-checked gradients where
// the derivative needs a convention or care: prod with zeros, max/min ties,
// logsumexp of rows of -inf and of large values. The ops keep reduced axes as
// size 1 in the primitive (keepdims=false adds a Reshape after it), and the
// softmax family works on the last axis (other axes are moved there first), so
// the primitive checks use keepdims=true / the last axis and the other forms go
// through the public transforms (check_transforms).
#include <gtest/gtest.h>

#include <ember/ember.h>
#include <ember/primitives.h>

#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "grad_check.h"

using namespace ember;
using grad_check::check;
using grad_check::check_transforms;
using grad_check::Options;

namespace {

using Args = std::vector<array>;
using grad_check::detail::values;

constexpr double kInf = std::numeric_limits<double>::infinity();

// The gradient of sum(f(x) * ones) at x: the vjp of f with an all-ones cotangent.
array grad_of(const std::function<array(const array&)>& f, const array& x) {
  MultiFn mf = [f](const Args& a) { return Args{f(a[0])}; };
  array out = f(x);
  auto [o, g] = ember::vjp(mf, {x}, {ones_like(out)});
  return g[0];
}

// The jvp of f at x along t.
array jvp_of(const std::function<array(const array&)>& f, const array& x, const array& t) {
  MultiFn mf = [f](const Args& a) { return Args{f(a[0])}; };
  auto [o, jv] = ember::jvp(mf, {x}, {t});
  return jv[0];
}

void expect_values(const array& got, const std::vector<double>& want, double tol, const std::string& what) {
  std::vector<double> g = values(got);
  ASSERT_EQ(g.size(), want.size()) << what;
  for (size_t i = 0; i < g.size(); ++i) {
    EXPECT_FALSE(std::isnan(g[i])) << what << ": element " << i << " is nan";
    EXPECT_NEAR(g[i], want[i], tol) << what << ": element " << i;
  }
}

// Options for the vmap placements of a single input: the batch axis at `axis`.
Options vmap_at(int axis) {
  Options o = grad_check::vmap_only();
  o.vmap_axes = {axis};
  return o;
}

}  // namespace

// ---------------------------------------------------------------- Sum

TEST(GradReduce, SumAxes) {
  // Single, multiple (unsorted, negative) and all axes; the primitive keeps them as size 1.
  check([](const Args& x) { return sum(x[0], 1, true); }, {{3, 4, 2}});
  check([](const Args& x) { return sum(x[0], -1, true); }, {{3, 4, 2}});
  check([](const Args& x) { return sum(x[0], std::vector<int>{2, 0}, true); }, {{3, 4, 2}});
  check([](const Args& x) { return sum(x[0], std::vector<int>{-3, -2}, true); }, {{3, 4, 2}});
  check([](const Args& x) { return sum(x[0], true); }, {{3, 4, 2}});
  check([](const Args& x) { return sum(x[0], 0, true); }, {{5}});
  // A broadcast (stride 0) input and a transposed one.
  check([](const Args& x) { return sum(broadcast_to(x[0], {3, 4}), 0, true); }, {{1, 4}});
  check([](const Args& x) { return sum(transpose(x[0], {1, 0}), 1, true); }, {{4, 3}});
}

TEST(GradReduce, SumKeepdimsThroughTheTransforms) {
  for (bool keepdims : {true, false}) {
    SCOPED_TRACE(keepdims ? "keepdims" : "squeezed");
    check_transforms([keepdims](const Args& x) { return sum(x[0], 1, keepdims); }, {{3, 4, 2}});
    check_transforms([keepdims](const Args& x) { return sum(x[0], std::vector<int>{-1, 0}, keepdims); }, {{3, 4, 2}});
    check_transforms([keepdims](const Args& x) { return sum(x[0], keepdims); }, {{3, 4}});
  }
}

TEST(GradReduce, SumFloat32) {
  Options o;
  o.eps = 1e-3;
  o.rtol = 1e-3;
  o.atol = 1e-4;
  o.vmap_tol = 1e-5;
  check([](const Args& x) { return sum(astype(x[0], float32), std::vector<int>{0, 2}, true); }, {{3, 4, 2}}, o);
}

// ---------------------------------------------------------------- Prod

TEST(GradReduce, ProdWithoutZeros) {
  Options o;
  o.low = 0.5;  // |x| in [0.5, 1.5]: no zero, products of a moderate size
  o.high = 1.5;
  check([](const Args& x) { return prod(x[0], 1, true); }, {{3, 4, 2}}, o);
  check([](const Args& x) { return prod(negative(x[0]), std::vector<int>{0, -1}, true); }, {{3, 4, 2}}, o);
  check([](const Args& x) { return prod(x[0], true); }, {{2, 3}}, o);
  for (bool keepdims : {true, false}) {
    check_transforms([keepdims](const Args& x) { return prod(x[0], -2, keepdims); }, {{3, 4, 2}}, o);
  }
}

TEST(GradReduce, ProdWithZerosThroughTheHarness) {
  // The product's input holds exact zeros (x * mask): one zero in some groups,
  // two in others. prod is linear in each element, so central differences stay exact.
  array one_zero = array(std::vector<double>{1, 0, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1}, {3, 4}, float64);
  array two_zeros = array(std::vector<double>{0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1}, {3, 4}, float64);
  for (const array& mask : {one_zero, two_zeros}) {
    check([mask](const Args& x) { return prod(multiply(x[0], mask), 1, true); }, {{3, 4}});
    check([mask](const Args& x) { return prod(multiply(x[0], mask), 0, true); }, {{3, 4}});
    check([mask](const Args& x) { return prod(multiply(x[0], mask), true); }, {{3, 4}});
  }
  check_transforms([one_zero](const Args& x) { return prod(multiply(x[0], one_zero), 1, false); }, {{3, 4}});
}

TEST(GradReduce, ProdWithZerosByHand) {
  // Rows: no zero, exactly one zero, two zeros. d prod / d x_i = product of the others.
  array x = array(std::vector<double>{1, 2, 4, 2, 0, 3, 0, 0, 5}, {3, 3}, float64);
  auto f = [](const array& a) { return prod(a, 1, false); };
  expect_values(f(x), {8, 0, 0}, 1e-12, "prod");
  expect_values(grad_of(f, x), {8, 4, 2, 0, 6, 0, 0, 0, 0}, 1e-12, "prod gradient");
  // The jvp along t is sum_i t_i * (product of the others).
  array t = array(std::vector<double>{1, 1, 1, 1, 2, 1, 1, 1, 1}, {3, 3}, float64);
  expect_values(jvp_of(f, x, t), {14, 12, 0}, 1e-12, "prod jvp");
  // Over the whole array (one zero): only that position gets the product of the rest.
  array y = array(std::vector<double>{2, 3, 0, -1}, {2, 2}, float64);
  expect_values(grad_of([](const array& a) { return prod(a); }, y), {0, 0, -6, 0}, 1e-12, "prod over all");
  // Over axis 0: column 0 holds the zero, column 1 none.
  expect_values(grad_of([](const array& a) { return prod(a, 0); }, y), {0, -1, 2, 3}, 1e-12, "prod over axis 0");
}

// ---------------------------------------------------------------- Max, Min

TEST(GradReduce, MaxMinWithoutTies) {
  // Random float64 inputs have no ties; finite differences stay on one side of every kink.
  check([](const Args& x) { return max(x[0], 1, true); }, {{3, 4, 2}});
  check([](const Args& x) { return max(x[0], std::vector<int>{0, -1}, true); }, {{3, 4, 2}});
  check([](const Args& x) { return max(x[0], true); }, {{3, 4}});
  check([](const Args& x) { return min(x[0], -1, true); }, {{3, 4, 2}});
  check([](const Args& x) { return min(x[0], std::vector<int>{1, 2}, true); }, {{3, 4, 2}});
  check([](const Args& x) { return min(x[0], true); }, {{4, 3}});
  for (bool keepdims : {true, false}) {
    check_transforms([keepdims](const Args& x) { return max(x[0], 0, keepdims); }, {{3, 4}});
    check_transforms([keepdims](const Args& x) { return min(x[0], std::vector<int>{0, 1}, keepdims); }, {{3, 4}});
  }
}

TEST(GradReduce, MaxMinTiesShareTheGradient) {
  array x = array(std::vector<double>{1, 3, 3, 2, 1, 0, 5, 5, 5}, {3, 3}, float64);
  auto fmax = [](const array& a) { return max(a, 1); };
  expect_values(fmax(x), {3, 2, 5}, 0, "max");
  expect_values(grad_of(fmax, x), {0, 0.5, 0.5, 1, 0, 0, 1.0 / 3, 1.0 / 3, 1.0 / 3}, 1e-12, "max gradient");
  // The jvp is the same convention: the mean of the tangents of the tied entries.
  array t = array(std::vector<double>{9, 2, 3, 4, 9, 9, 1, 2, 6}, {3, 3}, float64);
  expect_values(jvp_of(fmax, x, t), {2.5, 4, 3}, 1e-12, "max jvp");

  array y = array(std::vector<double>{1, 1, 2, 0, 3, 0}, {2, 3}, float64);
  auto fmin = [](const array& a) { return min(a, 1); };
  expect_values(grad_of(fmin, y), {0.5, 0.5, 0, 0.5, 0, 0.5}, 1e-12, "min gradient");
  // Over all axes: the two zeros tie for the minimum of y.
  expect_values(grad_of([](const array& a) { return min(a); }, y), {0, 0, 0, 0.5, 0, 0.5}, 1e-12, "min over all");
  // Ties along axis 0 (columns 0 and 2), with a cotangent other than ones.
  array z = array(std::vector<double>{1, 3, 5, 1, 2, 5}, {2, 3}, float64);
  MultiFn mf = [](const Args& a) { return Args{max(a[0], 0)}; };
  auto [o, g] = ember::vjp(mf, {z}, {array(std::vector<double>{10, 20, 30}, {3}, float64)});
  expect_values(g[0], {5, 20, 15, 5, 0, 15}, 1e-12, "max over axis 0 with a cotangent");
}

// ---------------------------------------------------------------- Softmax, LogSoftmax

TEST(GradReduce, SoftmaxLastAxis) {
  for (bool precise : {false, true}) {
    SCOPED_TRACE(precise ? "precise" : "not precise");
    check([precise](const Args& x) { return softmax(x[0], -1, precise); }, {{3, 5}});
    check([precise](const Args& x) { return softmax(x[0], 2, precise); }, {{2, 3, 4}});
    check([precise](const Args& x) { return log_softmax(x[0], -1, precise); }, {{3, 5}});
    check([precise](const Args& x) { return log_softmax(x[0], 2, precise); }, {{2, 3, 4}});
    check([precise](const Args& x) { return softmax(x[0], 0, precise); }, {{6}});
  }
}

TEST(GradReduce, SoftmaxOtherAxes) {
  // Non-last axes go through a transpose to the end; check the whole op.
  for (bool precise : {false, true}) {
    SCOPED_TRACE(precise ? "precise" : "not precise");
    check_transforms([precise](const Args& x) { return softmax(x[0], 0, precise); }, {{3, 4, 2}});
    check_transforms([precise](const Args& x) { return softmax(x[0], -2, precise); }, {{3, 4, 2}});
    check_transforms([precise](const Args& x) { return log_softmax(x[0], 1, precise); }, {{3, 4, 2}});
    check_transforms(
        [precise](const Args& x) {
          return log_softmax(x[0], std::vector<int>{0, 2}, precise);
        },
        {{3, 4, 2}});
    check_transforms([precise](const Args& x) { return softmax(x[0], precise); }, {{3, 4}});
  }
  // Softmax over all axes of a 1-d array and a composition with a weighting.
  check_transforms([](const Args& x) { return multiply(softmax(x[0], 0), x[1]); }, {{5}, {5}});
}

TEST(GradReduce, SoftmaxFloat32) {
  Options o;
  o.eps = 1e-3;
  o.rtol = 2e-3;
  o.atol = 1e-4;
  o.vmap_tol = 1e-5;
  check([](const Args& x) { return softmax(astype(x[0], float32), -1); }, {{3, 5}}, o);
  check([](const Args& x) { return log_softmax(astype(x[0], float32), -1); }, {{3, 5}}, o);
}

TEST(GradReduce, SoftmaxByHand) {
  // softmax([0, log 3]) = [1/4, 3/4]; the Jacobian is diag(p) - p p^T.
  array x = array(std::vector<double>{0, std::log(3.0)}, {2}, float64);
  MultiFn mf = [](const Args& a) { return Args{softmax(a[0], 0)}; };
  auto [o, g] = ember::vjp(mf, {x}, {array(std::vector<double>{1, 0}, {2}, float64)});
  expect_values(g[0], {3.0 / 16, -3.0 / 16}, 1e-12, "softmax vjp");
  MultiFn lf = [](const Args& a) { return Args{log_softmax(a[0], 0)}; };
  auto [lo, lg] = ember::vjp(lf, {x}, {array(std::vector<double>{1, 0}, {2}, float64)});
  expect_values(lg[0], {0.75, -0.75}, 1e-12, "log_softmax vjp");
}

// ---------------------------------------------------------------- LogSumExp

TEST(GradReduce, LogSumExp) {
  check([](const Args& x) { return logsumexp(x[0], -1, true); }, {{3, 5}});
  check([](const Args& x) { return logsumexp(x[0], 2, true); }, {{2, 3, 4}});
  check([](const Args& x) { return logsumexp(x[0], 0, true); }, {{6}});
  for (bool keepdims : {true, false}) {
    SCOPED_TRACE(keepdims ? "keepdims" : "squeezed");
    check_transforms([keepdims](const Args& x) { return logsumexp(x[0], 0, keepdims); }, {{3, 4, 2}});
    check_transforms(
        [keepdims](const Args& x) {
          return logsumexp(x[0], std::vector<int>{-1, 1}, keepdims);
        },
        {{3, 4, 2}});
    check_transforms([keepdims](const Args& x) { return logsumexp(x[0], keepdims); }, {{3, 4}});
  }
}

TEST(GradReduce, LogSumExpOfLargeValues) {
  // Around 1000, exp overflows; the derivative is softmax, computed stably.
  Options o;
  o.low = 999;
  o.high = 1001;
  o.eps = 1e-5;
  o.rtol = 1e-5;
  o.atol = 1e-7;
  check([](const Args& x) { return logsumexp(x[0], -1, true); }, {{3, 4}}, o);
  check([](const Args& x) { return softmax(x[0], -1); }, {{3, 4}}, o);
  check_transforms([](const Args& x) { return logsumexp(x[0], 0); }, {{3, 4}}, o);

  array x = array(std::vector<double>{1000, 1000, 1000, 1000 + std::log(3.0)}, {2, 2}, float64);
  auto f = [](const array& a) { return logsumexp(a, 1); };
  expect_values(f(x), {1000 + std::log(2.0), 1000 + std::log(4.0)}, 1e-9, "logsumexp");
  expect_values(grad_of(f, x), {0.5, 0.5, 0.25, 0.75}, 1e-12, "logsumexp gradient");
  array t = array(std::vector<double>{1, 3, 4, 8}, {2, 2}, float64);
  expect_values(jvp_of(f, x, t), {2, 7}, 1e-12, "logsumexp jvp");
}

TEST(GradReduce, LogSumExpOfNegativeInfinity) {
  // Row 0 is all -inf (logsumexp -inf, nothing to differentiate: gradient 0,
  // not exp(-inf + inf) = nan); row 1 has one -inf entry, which gets 0.
  array x = array(std::vector<double>{-kInf, -kInf, -kInf, 0, -kInf, std::log(3.0)}, {2, 3}, float64);
  auto f = [](const array& a) { return logsumexp(a, 1); };
  std::vector<double> out = values(f(x));
  EXPECT_EQ(out[0], -kInf);
  EXPECT_NEAR(out[1], std::log(4.0), 1e-12);
  expect_values(grad_of(f, x), {0, 0, 0, 0.25, 0, 0.75}, 1e-12, "logsumexp gradient");
  array t = array(std::vector<double>{1, 2, 3, 4, 5, 8}, {2, 3}, float64);
  expect_values(jvp_of(f, x, t), {0, 7}, 1e-12, "logsumexp jvp");
  // The primitive's own rules, and its vmap, on the same rows.
  array y = logsumexp(x, 1, true);
  std::shared_ptr<Primitive> p = y.primitive_ptr();  // taken before evaluation detaches it
  expect_values(p->vjp({x}, {ones_like(y)}, {0}, {y})[0], {0, 0, 0, 0.25, 0, 0.75}, 1e-12, "primitive vjp");
  expect_values(p->jvp({x}, {t}, {0})[0], {0, 7}, 1e-12, "primitive jvp");
  // Over several axes, where the op flattens them first.
  array z = reshape(x, {2, 3, 1});
  expect_values(grad_of(
                    [](const array& a) {
                      return logsumexp(a, std::vector<int>{1, 2});
                    },
                    z),
                {0, 0, 0, 0.25, 0, 0.75}, 1e-12, "logsumexp over two axes");
}

// ---------------------------------------------------------------- compositions

TEST(GradReduce, MeanVarStdLogSumExpCompositions) {
  for (bool keepdims : {true, false}) {
    SCOPED_TRACE(keepdims ? "keepdims" : "squeezed");
    check_transforms([keepdims](const Args& x) { return mean(x[0], 1, keepdims); }, {{3, 4, 2}});
    check_transforms([keepdims](const Args& x) { return mean(x[0], keepdims); }, {{3, 4}});
    check_transforms([keepdims](const Args& x) { return var(x[0], std::vector<int>{0, 2}, keepdims); }, {{3, 4, 2}});
    check_transforms([keepdims](const Args& x) { return var(x[0], -1, keepdims, 1); }, {{3, 4}});
    check_transforms([keepdims](const Args& x) { return ember::std(x[0], 0, keepdims); }, {{4, 3}});
    check_transforms([keepdims](const Args& x) { return ember::std(x[0], keepdims, 1); }, {{3, 4}});
  }
  // Layer-norm-like and cross-entropy-like chains mixing several reductions.
  check_transforms(
      [](const Args& x) {
        array mu = mean(x[0], -1, true);
        return divide(subtract(x[0], mu), sqrt(add(var(x[0], -1, true), array(1e-3))));
      },
      {{3, 5}});
  check_transforms(
      [](const Args& x) { return subtract(logsumexp(x[0], -1), sum(multiply(x[0], softmax(x[1], -1)), -1)); },
      {{4, 5}, {4, 5}});
  check_transforms([](const Args& x) { return add(max(x[0], 0), multiply(min(x[0], 0), prod(x[1], 0))); },
                   {{3, 4}, {2, 4}});
}

TEST(GradReduce, SecondDerivatives) {
  // Derivatives of the vjp graphs: the Hessian-vector products of logsumexp,
  // softmax, log_softmax and prod, checked against finite differences of the gradient.
  auto grad_fn = [](std::function<array(const array&)> f) { return [f](const Args& x) { return grad_of(f, x[0]); }; };
  check_transforms(grad_fn([](const array& a) { return logsumexp(a, -1); }), {{3, 4}});
  check_transforms(grad_fn([](const array& a) { return sum(multiply(softmax(a, -1), a)); }), {{3, 4}});
  check_transforms(grad_fn([](const array& a) { return sum(square(log_softmax(a, 0))); }), {{4, 3}});
  Options o;
  o.low = 0.5;
  o.high = 1.5;
  check_transforms(grad_fn([](const array& a) { return prod(a, 1); }), {{3, 4}}, o);
  check_transforms(grad_fn([](const array& a) { return var(a, 1); }), {{3, 4}});
}

// ---------------------------------------------------------------- vmap at every batch axis

TEST(GradReduce, VmapAtEveryBatchAxis) {
  // The default placements try the front, the middle and the back; here every
  // position of a 3-d input, and an unmapped input (-1).
  for (int axis : {-1, 0, 1, 2, 3}) {
    SCOPED_TRACE("batch axis " + std::to_string(axis));
    Options o = vmap_at(axis);
    check([](const Args& x) { return sum(x[0], std::vector<int>{0, 2}, true); }, {{3, 4, 2}}, o);
    check([](const Args& x) { return prod(x[0], 1, true); }, {{3, 4, 2}}, o);
    check([](const Args& x) { return max(x[0], -1, true); }, {{3, 4, 2}}, o);
    check([](const Args& x) { return min(x[0], true); }, {{3, 4, 2}}, o);
    check([](const Args& x) { return softmax(x[0], -1); }, {{3, 4, 2}}, o);
    check([](const Args& x) { return log_softmax(x[0], -1, true); }, {{3, 4, 2}}, o);
    check([](const Args& x) { return logsumexp(x[0], -1, true); }, {{3, 4, 2}}, o);
  }
}

// ---------------------------------------------------------------- non-differentiable: All, Any, ArgMax, ArgMin

TEST(GradReduce, AllAnyVmap) {
  // Bool inputs from float ones (about half true); every batch-axis position, including the last.
  for (int axis : {0, 1, 2, 3}) {
    SCOPED_TRACE("batch axis " + std::to_string(axis));
    check([](const Args& x) { return all(greater(x[0], array(-1.0)), 1, true); }, {{3, 4, 2}}, vmap_at(axis));
    check(
        [](const Args& x) {
          return any(greater(x[0], array(1.0)), std::vector<int>{0, 2}, true);
        },
        {{3, 4, 2}}, vmap_at(axis));
    check([](const Args& x) { return all(greater(x[0], array(-1.5)), true); }, {{3, 4, 2}}, vmap_at(axis));
    check([](const Args& x) { return any(greater(x[0], array(1.5)), -1, true); }, {{3, 4, 2}}, vmap_at(axis));
  }
  // The default placements and an unmapped input.
  check([](const Args& x) { return all(greater(x[0], array(0.0)), 0, true); }, {{4, 3}}, grad_check::vmap_only());
  check([](const Args& x) { return any(greater(x[0], array(0.0)), 1, true); }, {{4, 3}}, vmap_at(-1));
  // Through the public vmap, with keepdims off.
  Options o = grad_check::vmap_only();
  check_transforms([](const Args& x) { return astype(all(greater(x[0], array(-1.0)), 1), float64); }, {{3, 4}}, o);
  check_transforms([](const Args& x) { return astype(any(greater(x[0], array(1.0)), 0), float64); }, {{3, 4}}, o);
}

TEST(GradReduce, ArgMaxArgMinVmap) {
  for (int axis : {0, 1, 2, 3}) {
    SCOPED_TRACE("batch axis " + std::to_string(axis));
    for (int reduce_axis : {0, 1, 2}) {
      SCOPED_TRACE("reduce axis " + std::to_string(reduce_axis));
      check([reduce_axis](const Args& x) { return argmax(x[0], reduce_axis, true); }, {{3, 4, 2}}, vmap_at(axis));
      check([reduce_axis](const Args& x) { return argmin(x[0], reduce_axis, true); }, {{3, 4, 2}}, vmap_at(axis));
    }
  }
  check([](const Args& x) { return argmax(x[0], 0, true); }, {{5}}, vmap_at(1));
  check([](const Args& x) { return argmin(x[0], -1, true); }, {{4, 3}}, vmap_at(-1));
  // Through the public vmap: keepdims off, and over the flattened array.
  Options o = grad_check::vmap_only();
  check_transforms([](const Args& x) { return astype(argmax(x[0], 1), float64); }, {{3, 4}}, o);
  check_transforms([](const Args& x) { return astype(argmin(x[0]), float64); }, {{3, 4}}, o);
}

TEST(GradReduce, ArgReduceHasZeroDerivatives) {
  array x = array(std::vector<double>{3, 1, 2, 0, 5, 4}, {2, 3}, float64);
  for (bool is_max : {true, false}) {
    array y = is_max ? argmax(x, 1, true) : argmin(x, 1, true);
    std::shared_ptr<Primitive> p = y.primitive_ptr();  // taken before evaluation detaches it
    expect_values(y, is_max ? std::vector<double>{0, 1} : std::vector<double>{1, 0}, 0, "index");
    std::vector<array> g = p->vjp({x}, {ones_like(y)}, {0}, {y});
    ASSERT_EQ(g.size(), 1u);
    EXPECT_EQ(g[0].shape(), x.shape());
    EXPECT_EQ(g[0].dtype(), float64);
    expect_values(g[0], std::vector<double>(6, 0.0), 0, "vjp");
    std::vector<array> t = p->jvp({x}, {ones_like(x)}, {0});
    ASSERT_EQ(t.size(), 1u);
    EXPECT_EQ(t[0].shape(), y.shape());
    EXPECT_EQ(t[0].dtype(), uint32);
    expect_values(t[0], {0, 0}, 0, "jvp");
  }
  // Through the public transforms, an index used as a float contributes nothing.
  auto f = [](const array& a) { return add(a, astype(argmax(a, 1, true), float64)); };
  expect_values(grad_of(f, x), std::vector<double>(6, 1.0), 0, "gradient through argmax");
}
