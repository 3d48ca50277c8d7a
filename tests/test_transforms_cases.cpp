// Hand-checked compositions of the transforms, each against a closed form or
// a plain loop: Hessians of a quadratic form (reverse-over-reverse and
// forward-over-reverse), per-example gradients (vmap of grad), jvp of vjp,
// grad through vmap, custom_function / custom_vjp rules and their errors, and
// checkpoint (same gradients, lower peak memory).
#include <gtest/gtest.h>

#include <ember/ember.h>
#include <ember/primitives.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "grad_check.h"

using namespace ember;

namespace {

using Args = std::vector<array>;
using grad_check::detail::values;

array random_array(const Shape& shape, std::mt19937& rng, double low = -1.0, double high = 1.0) {
  size_t n = 1;
  for (auto d : shape) n *= d;
  std::vector<double> v(n);
  std::uniform_real_distribution<double> dist(low, high);
  for (auto& x : v) x = dist(rng);
  return array(v, shape, float64);
}

// The unit vector e_j of length n.
array unit(int n, int j) {
  std::vector<double> v(n, 0.0);
  v[j] = 1.0;
  return array(v, {n}, float64);
}

void expect_near(const std::vector<double>& got, const std::vector<double>& want, double tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << what << ": element " << i;
}

template <class F>
void expect_invalid_argument(F&& f, const std::string& substring) {
  try {
    f();
    ADD_FAILURE() << "expected std::invalid_argument containing: " << substring;
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(substring), std::string::npos) << "message: " << e.what();
  }
}

}  // namespace

// ---------------------------------------------------------------- second derivatives

TEST(TransformsCases, HessianOfQuadraticForm) {
  // f(x) = 0.5 x^T A x with A not symmetric: grad f = (A + A^T) x / 2, Hessian (A + A^T) / 2.
  const int n = 5;
  std::mt19937 rng(7);
  array A = random_array({n, n}, rng);
  array x = random_array({n}, rng);
  std::vector<double> a = values(A);
  MultiFn f = [A](const Args& v) { return Args{matmul(v[0], matmul(A, v[0])) * 0.5}; };
  MultiFn g = grad(f);

  std::vector<double> want_grad(n, 0.0), xs = values(x);
  for (int i = 0; i < n; ++i) {
    for (int k = 0; k < n; ++k) want_grad[i] += 0.5 * (a[i * n + k] + a[k * n + i]) * xs[k];
  }
  expect_near(values(g({x})[0]), want_grad, 1e-12, "gradient");

  for (int j = 0; j < n; ++j) {
    SCOPED_TRACE("column " + std::to_string(j));
    std::vector<double> col(n);
    for (int i = 0; i < n; ++i) col[i] = 0.5 * (a[i * n + j] + a[j * n + i]);
    // Reverse over reverse: e_j^T H (H is symmetric, so this is column j).
    expect_near(values(vjp(g, {x}, {unit(n, j)}).second[0]), col, 1e-12, "vjp of grad");
    // Forward over reverse: the Hessian-vector product H e_j.
    expect_near(values(jvp(g, {x}, {unit(n, j)}).second[0]), col, 1e-12, "jvp of grad");
    // grad(grad) of the j-th gradient component.
    MultiFn gj = [g, j, n](const Args& v) { return Args{matmul(g(v)[0], unit(n, j))}; };
    expect_near(values(grad(gj)({x})[0]), col, 1e-12, "grad of a gradient component");
  }
  // The Hessian of a quadratic doesn't depend on x.
  array x2 = random_array({n}, rng, -5, 5);
  expect_near(values(jvp(g, {x2}, {unit(n, 2)}).second[0]), values(jvp(g, {x}, {unit(n, 2)}).second[0]), 1e-12,
              "Hessian at another point");
}

TEST(TransformsCases, JvpOfVjp) {
  // h(x) = <u, tanh(A x)>: vjp gives A^T (u (1 - t^2)), and its jvp along v is
  // A^T (u * -2 t (1 - t^2) * (A v)) with t = tanh(A x).
  const int m = 4, n = 3;
  std::mt19937 rng(11);
  array A = random_array({m, n}, rng), x = random_array({n}, rng), u = random_array({m}, rng),
        v = random_array({n}, rng);
  MultiFn f = [A](const Args& a) { return Args{tanh(matmul(A, a[0]))}; };
  MultiFn g = [f, u](const Args& a) { return vjp(f, a, {u}).second; };
  auto [gx, hv] = jvp(g, {x}, {v});

  std::vector<double> av = values(A), xs = values(x), us = values(u), vs = values(v);
  std::vector<double> want_g(n, 0.0), want_hv(n, 0.0);
  for (int i = 0; i < m; ++i) {
    double ax = 0, avv = 0;
    for (int k = 0; k < n; ++k) {
      ax += av[i * n + k] * xs[k];
      avv += av[i * n + k] * vs[k];
    }
    double t = std::tanh(ax);
    for (int k = 0; k < n; ++k) {
      want_g[k] += av[i * n + k] * us[i] * (1 - t * t);
      want_hv[k] += av[i * n + k] * us[i] * -2 * t * (1 - t * t) * avv;
    }
  }
  expect_near(values(gx[0]), want_g, 1e-12, "vjp");
  expect_near(values(hv[0]), want_hv, 1e-12, "jvp of vjp");
  // The same through finite differences of the whole composition.
  grad_check::check_transforms([g](const Args& a) { return g(a)[0]; }, {{n}});
}

// ---------------------------------------------------------------- vmap and grad

namespace {

// Squared error of a linear model on one example: sum((x W + b - y)^2),
// x (D,), W (D, K), b (K,), y (K,).
array example_loss(const array& W, const array& b, const array& x, const array& y) {
  return sum(square(matmul(x, W) + b - y));
}

}  // namespace

TEST(TransformsCases, PerExampleGradients) {
  const int B = 6, D = 4, K = 3;
  std::mt19937 rng(3);
  array W = random_array({D, K}, rng), b = random_array({K}, rng);
  array X = random_array({B, D}, rng), Y = random_array({B, K}, rng);
  MultiFn loss = [](const Args& a) { return Args{example_loss(a[0], a[1], a[2], a[3])}; };
  // Gradients in W and b for every example at once: W, b unmapped, X and Y mapped over rows.
  Args per_example = vmap(grad(loss, std::vector<int>{0, 1}), {-1, -1, 0, 0})({W, b, X, Y});
  ASSERT_EQ(per_example.size(), 2u);
  ASSERT_EQ(per_example[0].shape(), (Shape{B, D, K}));
  ASSERT_EQ(per_example[1].shape(), (Shape{B, K}));

  std::vector<double> w = values(W), bv = values(b), xv = values(X), yv = values(Y);
  std::vector<double> gw = values(per_example[0]), gb = values(per_example[1]);
  for (int e = 0; e < B; ++e) {
    SCOPED_TRACE("example " + std::to_string(e));
    // Against a loop of grad over the examples ...
    array xe = reshape(slice(X, {e, 0}, {e + 1, D}), {D}), ye = reshape(slice(Y, {e, 0}, {e + 1, K}), {K});
    Args loop = grad(loss, std::vector<int>{0, 1})({W, b, xe, ye});
    expect_near(std::vector<double>(gw.begin() + e * D * K, gw.begin() + (e + 1) * D * K), values(loop[0]), 1e-12,
                "dW vs loop");
    expect_near(std::vector<double>(gb.begin() + e * K, gb.begin() + (e + 1) * K), values(loop[1]), 1e-12,
                "db vs loop");
    // ... and the closed form: r = x W + b - y, dW = 2 x r^T, db = 2 r.
    for (int k = 0; k < K; ++k) {
      double r = bv[k] - yv[e * K + k];
      for (int d = 0; d < D; ++d) r += xv[e * D + d] * w[d * K + k];
      EXPECT_NEAR(gb[e * K + k], 2 * r, 1e-12);
      for (int d = 0; d < D; ++d) EXPECT_NEAR(gw[(e * D + d) * K + k], 2 * xv[e * D + d] * r, 1e-12);
    }
  }
  // Mapping X over its columns instead (in_axis 1) gives the same gradients.
  Args by_columns = vmap(grad(loss, std::vector<int>{0, 1}), {-1, -1, 1, 0})({W, b, transpose(X), Y});
  expect_near(values(by_columns[0]), gw, 1e-12, "X mapped over axis 1");
}

TEST(TransformsCases, GradThroughVmap) {
  // F(w) = sum_i tanh(x_i . w)^2 written with vmap; dF/dw = sum_i 2 t_i (1 - t_i^2) x_i.
  const int B = 5, D = 3;
  std::mt19937 rng(5);
  array w = random_array({D}, rng), X = random_array({B, D}, rng);
  MultiFn per = [](const Args& a) { return Args{square(tanh(matmul(a[1], a[0])))}; };
  MultiFn total = [per](const Args& a) { return Args{sum(vmap(per, {-1, 0})(a)[0])}; };
  Args g = grad(total)({w, X});
  std::vector<double> ws = values(w), xs = values(X), want(D, 0.0);
  for (int i = 0; i < B; ++i) {
    double dot = 0;
    for (int d = 0; d < D; ++d) dot += xs[i * D + d] * ws[d];
    double t = std::tanh(dot);
    for (int d = 0; d < D; ++d) want[d] += 2 * t * (1 - t * t) * xs[i * D + d];
  }
  expect_near(values(g[0]), want, 1e-12, "grad of a vmapped sum");
  // vjp and jvp of the vmapped function against finite differences, and vmap of its gradient.
  grad_check::check_transforms([total](const Args& a) { return total(a)[0]; }, {{D}, {B, D}});
  grad_check::check_transforms([total](const Args& a) { return grad(total)(a)[0]; }, {{D}, {B, D}});
}

// ---------------------------------------------------------------- custom_function

TEST(TransformsCases, CustomVjpRuleReplacesTheGraph) {
  // round has a zero derivative; a straight-through rule passes the cotangent on
  // unchanged, scaled by 2 so the rule's own output is recognizable.
  int calls = 0;
  std::vector<double> seen_outputs;
  MultiFn ste = custom_vjp([](const Args& a) { return Args{round(a[0])}; },
                           [&](const Args& primals, const Args& cotangents, const Args& outputs) {
                             ++calls;
                             EXPECT_EQ(primals.size(), 1u);
                             EXPECT_EQ(cotangents.size(), 1u);
                             seen_outputs = values(outputs[0]);
                             return Args{cotangents[0] * 2.0};
                           });
  array x({0.2, 1.7, -2.6}, float64);
  array u({1.0, -3.0, 0.5}, float64);
  auto [outs, g] = vjp(ste, {x}, {u});
  EXPECT_EQ(values(outs[0]), (std::vector<double>{0.0, 2.0, -3.0}));
  EXPECT_EQ(values(g[0]), (std::vector<double>{2.0, -6.0, 1.0}));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(seen_outputs, (std::vector<double>{0.0, 2.0, -3.0})) << "the rule gets fun's outputs";
  // Composed with other ops, the rule is one link of the chain: d/dx sin(ste(x)) = cos(round(x)) * 2.
  auto [o2, g2] = vjp([ste](const Args& a) { return Args{sin(ste(a)[0])}; }, {x}, {ones_like(x)});
  expect_near(values(g2[0]), {2 * std::cos(0.0), 2 * std::cos(2.0), 2 * std::cos(-3.0)}, 1e-12, "in a chain");

  // Two inputs: a rule that sees both primals, asked for one input only.
  MultiFn mul = custom_vjp([](const Args& a) { return Args{a[0] * a[1]}; },
                           [](const Args& p, const Args& c, const Args&) {
                             return Args{c[0] * 10.0, c[0] * p[0]};
                           });
  array y({4.0, 5.0, 6.0}, float64);
  Args gy = grad([mul](const Args& a) { return Args{sum(mul(a)[0])}; }, 1)({x, y});
  EXPECT_EQ(values(gy[0]), values(x));
  Args gx = grad([mul](const Args& a) { return Args{sum(mul(a)[0])}; }, 0)({x, y});
  EXPECT_EQ(values(gx[0]), (std::vector<double>{10.0, 10.0, 10.0}));

  // The rule above reads values, which evaluates (and detaches) the graph in
  // front of it in the middle of the backward walk; exp before it must still
  // get its cotangent: d/dx ste(exp(x)) = 2 exp(x).
  auto [o3, g3] = vjp([ste](const Args& a) { return Args{ste({exp(a[0])})[0]}; }, {x}, {ones_like(x)});
  expect_near(values(g3[0]), {2 * std::exp(0.2), 2 * std::exp(1.7), 2 * std::exp(-2.6)}, 1e-12, "after an eval");
  grad_check::covered().insert("CustomTransforms");  // checked by hand in this file: the harness can't
}

TEST(TransformsCases, CustomFunctionErrors) {
  array x({1.0, 2.0}, float64);
  // A rule returning the wrong number of cotangents.
  MultiFn two = custom_vjp([](const Args& a) { return Args{exp(a[0])}; },
                           [](const Args&, const Args& c, const Args&) {
                             return Args{c[0], c[0]};
                           });
  expect_invalid_argument([&] { vjp(two, {x}, {x}); },
                          "[custom_function] the vjp rule returned 2 cotangents for 1 inputs");
  MultiFn none = custom_vjp([](const Args& a) { return Args{exp(a[0])}; },
                            [](const Args&, const Args&, const Args&) { return Args{}; });
  expect_invalid_argument([&] { vjp(none, {x}, {x}); }, "returned 0 cotangents for 1 inputs");
  // Missing rules: vjp and jvp say so instead of differentiating fun.
  MultiFn no_rules = custom_function([](const Args& a) { return Args{exp(a[0])}; });
  expect_invalid_argument([&] { vjp(no_rules, {x}, {x}); }, "[custom_function] no vjp rule was given");
  expect_invalid_argument([&] { jvp(no_rules, {x}, {x}); }, "[custom_function] no jvp rule was given");
  expect_invalid_argument([&] { jvp(two, {x}, {x}); }, "[custom_function] no jvp rule was given");
}

TEST(TransformsCases, CustomJvpRule) {
  // A jvp rule 3 t for exp (deliberately not exp's derivative), used instead of the graph.
  std::vector<std::vector<int>> seen_argnums;
  MultiFn f = custom_function([](const Args& a) { return Args{exp(a[0]) * a[1]}; }, std::nullopt,
                              [&](const Args& primals, const Args& tangents, const std::vector<int>& argnums) {
                                seen_argnums.push_back(argnums);
                                EXPECT_EQ(primals.size(), 2u);
                                EXPECT_EQ(tangents.size(), argnums.size());
                                array t = zeros_like(primals[0]);
                                for (size_t k = 0; k < argnums.size(); ++k) {
                                  t = t + tangents[k] * (argnums[k] == 0 ? 3.0 : 100.0);
                                }
                                return Args{t};
                              });
  array x({0.5, -1.0}, float64), y({2.0, 3.0}, float64), t({1.0, 2.0}, float64);
  auto [o, tan] = jvp(f, {x, y}, {t, t});
  EXPECT_EQ(values(tan[0]), (std::vector<double>{103.0, 206.0}));
  ASSERT_EQ(seen_argnums.size(), 1u);
  EXPECT_EQ(seen_argnums[0], (std::vector<int>{0, 1}));
  // Only the first input traced (the second is a constant): the rule sees argnums {0}.
  auto [o2, tan2] = jvp([f, y](const Args& a) { return f({a[0], y}); }, {x}, {t});
  EXPECT_EQ(values(tan2[0]), (std::vector<double>{3.0, 6.0}));
  ASSERT_EQ(seen_argnums.size(), 2u);
  EXPECT_EQ(seen_argnums[1], (std::vector<int>{0}));
  // The forward values are fun's.
  expect_near(values(o[0]), {std::exp(0.5) * 2.0, std::exp(-1.0) * 3.0}, 1e-12, "outputs");
}

TEST(TransformsCases, CustomFunctionVmap) {
  array X({0.2, 1.7, -2.6, 3.4, -0.4, 0.6}, Shape{3, 2}, float64);
  // No vmap rule: fun is batched through its graph.
  MultiFn ste = custom_vjp([](const Args& a) { return Args{round(a[0]) * 2.0}; },
                           [](const Args&, const Args& c, const Args&) { return Args{c[0] * 2.0}; });
  array got = vmap(ste, {1})({X})[0];  // map over columns: (2, 3)
  ASSERT_EQ(got.shape(), (Shape{2, 3}));
  EXPECT_EQ(values(got), (std::vector<double>{0.0, -6.0, -0.0, 4.0, 6.0, 2.0}));
  // The custom vjp rule still applies to the batched function.
  Args g = grad([ste](const Args& a) { return Args{sum(vmap(ste, {0})(a)[0])}; })({X});
  EXPECT_EQ(values(g[0]), std::vector<double>(6, 2.0)) << "grad of vmap(custom_vjp) must use the rule";
  Args gt = vmap(grad([ste](const Args& a) { return Args{sum(ste(a)[0])}; }), {0})({X});
  EXPECT_EQ(values(gt[0]), std::vector<double>(6, 2.0)) << "vmap of grad(custom_vjp) uses the rule";
  // An unmapped input of the batched rule gets the sum of the per-example cotangents.
  MultiFn mul = custom_vjp([](const Args& a) { return Args{a[0] * a[1]}; },
                           [](const Args& p, const Args& c, const Args&) {
                             return Args{c[0] * 10.0, c[0] * p[0]};
                           });
  array w({0.5, -1.5}, float64);
  Args gm = grad([mul](const Args& a) { return Args{sum(vmap(mul, {0, -1})(a)[0])}; }, std::vector<int>{0, 1})({X, w});
  EXPECT_EQ(values(gm[0]), std::vector<double>(6, 10.0));
  expect_near(values(gm[1]), {0.2 - 2.6 - 0.4, 1.7 + 3.4 + 0.6}, 1e-12, "unmapped input: summed over the batch");
  // The jvp rule is batched too.
  MultiFn tripled =
      custom_function([](const Args& a) { return Args{exp(a[0])}; }, std::nullopt,
                      [](const Args&, const Args& t, const std::vector<int>&) { return Args{t[0] * 3.0}; });
  array tx = ones_like(X);
  auto [vo, vt] = jvp(vmap(tripled, {1}), {X}, {tx});
  EXPECT_EQ(values(vt[0]), std::vector<double>(6, 3.0)) << "jvp of vmap(custom_function) uses the jvp rule";

  // A vmap rule is used when given, with the axes it reports.
  int calls = 0;
  MultiFn with_rule = custom_function([](const Args& a) { return Args{a[0] * 3.0}; }, std::nullopt, std::nullopt,
                                      [&](const Args& ins, const std::vector<int>& axes) {
                                        ++calls;
                                        EXPECT_EQ(axes, (std::vector<int>{1}));
                                        // Batched result with the batch axis left where it was (1).
                                        return std::make_pair(Args{ins[0] * 3.0 + 1000.0}, std::vector<int>{1});
                                      });
  array r = vmap(with_rule, {1}, {0})({X})[0];
  EXPECT_EQ(calls, 1);
  ASSERT_EQ(r.shape(), (Shape{2, 3}));
  std::vector<double> xs = values(transpose(X)), want;
  for (double v : xs) want.push_back(v * 3.0 + 1000.0);
  expect_near(values(r), want, 1e-12, "the rule's output, moved to out_axis 0");
}

// ---------------------------------------------------------------- checkpoint

namespace {

// layers of x = tanh(x * w_i), for w_i in ws.
array tanh_chain(array x, const std::vector<array>& ws) {
  for (const auto& w : ws) x = tanh(x * w);
  return x;
}

}  // namespace

TEST(TransformsCases, CheckpointSmallChain) {
  // Gradient, jvp and vmap of a checkpointed chain match the plain chain.
  std::mt19937 rng(9);
  Args inputs = {random_array({5}, rng), random_array({}, rng, 0.5, 1.5), random_array({}, rng, 0.5, 1.5)};
  MultiFn chain = [](const Args& a) { return Args{tanh_chain(a[0], {a[1], a[2]})}; };
  MultiFn ck = checkpoint(chain);
  array u = random_array({5}, rng);
  auto [o1, g1] = vjp(chain, inputs, {u});
  auto [o2, g2] = vjp(ck, inputs, {u});
  for (size_t i = 0; i < inputs.size(); ++i) expect_near(values(g2[i]), values(g1[i]), 1e-14, "vjp");
  Args t = {random_array({5}, rng), random_array({}, rng), random_array({}, rng)};
  expect_near(values(jvp(ck, inputs, t).second[0]), values(jvp(chain, inputs, t).second[0]), 1e-14, "jvp");
  array X = random_array({3, 5}, rng);
  expect_near(values(vmap(ck, {0, -1, -1})({X, inputs[1], inputs[2]})[0]),
              values(vmap(chain, {0, -1, -1})({X, inputs[1], inputs[2]})[0]), 1e-14, "vmap");
  // grad of a vmapped checkpoint (its rule is batched) matches the plain chain.
  auto batched_loss = [](MultiFn f) {
    return MultiFn([f](const Args& a) { return Args{sum(vmap(f, {0, -1, -1})(a)[0])}; });
  };
  Args gb1 = grad(batched_loss(chain), std::vector<int>{0, 1, 2})({X, inputs[1], inputs[2]});
  Args gb2 = grad(batched_loss(ck), std::vector<int>{0, 1, 2})({X, inputs[1], inputs[2]});
  for (size_t i = 0; i < 3; ++i) expect_near(values(gb2[i]), values(gb1[i]), 1e-13, "grad of vmap(checkpoint)");
  // Second order through the checkpoint's rule.
  grad_check::check_transforms([ck, u](const Args& a) { return vjp(ck, a, {u}).second[0]; }, {{5}, {}, {}});
}

TEST(TransformsCases, CheckpointLowersPeakMemory) {
  // 30 layers of x = tanh(x * w_i) on 2^20 float32 values (4 MiB per array).
  // The backward pass needs every layer's output; checkpointing blocks of 5
  // layers keeps only the 6 block inputs and recomputes one block at a time.
  const int n = 1 << 20, layers = 30, block = 5;
  const size_t mib4 = size_t{4} << 20;
  std::vector<float> xv(n);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  for (auto& v : xv) v = dist(rng);
  array x(xv, {n}, float32);
  Args ws;
  for (int i = 0; i < layers; ++i) ws.push_back(array(0.9f + 0.01f * i));
  eval(x);
  eval(ws);

  // f(x, w_1, ..., w_30), block by block.
  auto blockwise = [layers, block](bool use_checkpoint) {
    return MultiFn([use_checkpoint, layers, block](const Args& a) {
      array h = a[0];
      for (int start = 0; start < layers; start += block) {
        MultiFn seg = [](const Args& s) { return Args{tanh_chain(s[0], Args(s.begin() + 1, s.end()))}; };
        Args seg_in = {h};
        seg_in.insert(seg_in.end(), a.begin() + 1 + start, a.begin() + 1 + start + block);
        h = (use_checkpoint ? checkpoint(seg) : seg)(seg_in)[0];
      }
      return Args{h};
    });
  };
  Args all = {x};
  all.insert(all.end(), ws.begin(), ws.end());

  // The same gradients in x and every w_i, to the bit: the recomputation runs the same kernels.
  std::vector<std::vector<double>> grads[2];
  for (int c = 0; c < 2; ++c) {
    auto [outs, g] = vjp(blockwise(c == 1), all, {ones({n}, float32)});
    eval(g);
    for (const auto& gi : g) grads[c].push_back(values(gi));
  }
  ASSERT_EQ(grads[0].size(), all.size());
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(grads[0][i], grads[1][i]) << "gradient " << i << " differs";

  // Peak memory of the gradient in x (the activations' memory), above what is live before.
  auto peak = [&](bool use_checkpoint) {
    MultiFn f = blockwise(use_checkpoint);
    MultiFn of_x = [f, ws](const Args& a) {
      Args in = {a[0]};
      in.insert(in.end(), ws.begin(), ws.end());
      return f(in);
    };
    clear_cache();
    reset_peak_memory();
    size_t base = get_active_memory();
    {
      array g = vjp(of_x, {x}, {ones({n}, float32)}).second[0];
      eval(g);
    }
    return get_peak_memory() - base;
  };
  size_t plain_peak = peak(false), ck_peak = peak(true);
  std::cout << "peak memory of the gradient: " << plain_peak / double(1 << 20) << " MiB without checkpoint, "
            << ck_peak / double(1 << 20) << " MiB with (" << layers << " layers of 4 MiB, blocks of " << block << ")\n";
  // Without: every layer's output is held for the backward pass.
  EXPECT_GE(plain_peak, layers * mib4);
  // With: 6 block inputs, one block's recomputed layers and a few working arrays.
  EXPECT_LT(ck_peak, plain_peak * 2 / 3);
  EXPECT_LE(ck_peak, (layers / block + 2 * block + 6) * mib4);
}
