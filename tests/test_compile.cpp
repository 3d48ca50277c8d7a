// compile: results against the same function run eagerly (a property test over 500
// random graphs of fusible ops, dtypes, shapes and broadcasts), the simplifications
// (common subexpressions, merged constants, dropped no-ops), the trace cache (no retrace on
// a second call, retrace on a new dtype or shape, shapeless reuse), transforms through
// compile, and the errors.
#include <gtest/gtest.h>

#include <ember/ember.h>
#include <ember/primitives_compiled.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "test_utils.h"

using namespace ember;
using namespace test_utils;

namespace {

// Whether a and b (evaluated) agree: exactly for integers and bool, within `rtol` for
// floats (nan matches nan).
::testing::AssertionResult agree(const array& got, const array& want, double rtol) {
  if (got.shape() != want.shape()) {
    return ::testing::AssertionFailure() << "shape " << shape_to_string(got.shape()) << " vs "
                                         << shape_to_string(want.shape());
  }
  if (got.dtype() != want.dtype()) {
    return ::testing::AssertionFailure() << "dtype " << dtype_name(got.dtype()) << " vs " << dtype_name(want.dtype());
  }
  auto g = values(got), w = values(want);
  for (size_t i = 0; i < g.size(); ++i) {
    bool ok;
    if (std::isnan(w[i])) {
      ok = std::isnan(g[i]);
    } else if (std::isinf(w[i])) {
      ok = g[i] == w[i];
    } else {
      ok = std::fabs(g[i] - w[i]) <= rtol * std::max(1.0, std::fabs(w[i]));
    }
    if (!ok) return ::testing::AssertionFailure() << "element " << i << ": " << g[i] << " vs " << w[i];
  }
  return ::testing::AssertionSuccess();
}

double tolerance(Dtype t) {
  if (t == float16) return 2e-3;
  if (t == bfloat16) return 1.6e-2;
  if (t == float32) return 2e-6;
  if (t == float64) return 1e-13;
  return 0.0;
}

// The Compiled node producing `a`, or null.
const Compiled* compiled_of(const array& a) {
  return a.has_primitive() ? dynamic_cast<const Compiled*>(&a.primitive()) : nullptr;
}

array gelu_tanh(const array& x) {
  const float c = std::sqrt(2.0f / static_cast<float>(M_PI));
  return 0.5f * x * (1.0f + tanh(c * (x + 0.044715f * x * x * x)));
}

TEST(Compile, MatchesEagerAndFusesTheChain) {
  auto f = [](const std::vector<array>& in) { return std::vector<array>{gelu_tanh(in[0])}; };
  auto cf = compile(f);
  array x = random::normal({64, 33});
  array got = cf({x})[0];
  const Compiled* c = compiled_of(got);
  ASSERT_NE(c, nullptr) << "the chain was not fused";
  EXPECT_EQ(got.inputs().size(), 5u) << "x and the constants 0.5, 1, sqrt(2 / pi), 0.044715";
  EXPECT_TRUE(agree(got, f({x})[0], 2e-6));
}

TEST(Compile, SecondCallNeitherTracesNorBuilds) {
  auto f = [](const std::vector<array>& in) { return std::vector<array>{exp(in[0] * in[1]) - in[1]}; };
  auto cf = compile(f);
  array x = random::uniform({100}), y = random::uniform({100});
  eval(cf({x, y}));
  auto before = detail::compile_stats();
  for (int i = 0; i < 3; ++i) {
    array x2 = random::uniform({100}), y2 = random::uniform({100});
    array got = cf({x2, y2})[0];
    EXPECT_TRUE(agree(got, f({x2, y2})[0], 2e-6));
  }
  auto after = detail::compile_stats();
  EXPECT_EQ(after.traces, before.traces);
  EXPECT_EQ(after.cpu_builds, before.cpu_builds);
  EXPECT_EQ(after.cpu_disk_loads, before.cpu_disk_loads);
}

TEST(Compile, RetracesOnANewDtypeOrShape) {
  int calls = 0;
  auto f = [&calls](const std::vector<array>& in) {
    ++calls;
    return std::vector<array>{abs(in[0]) + square(in[0])};
  };
  auto cf = compile(f);
  array a = random::normal({8});
  eval(cf({a}));
  eval(cf({random::normal({8})}));
  EXPECT_EQ(calls, 1);
  array b = astype(random::normal({8}), float16);
  EXPECT_TRUE(agree(cf({b})[0], abs(b) + square(b), tolerance(float16)));
  EXPECT_EQ(calls, 2);
  array c = random::normal({3, 8});
  EXPECT_TRUE(agree(cf({c})[0], abs(c) + square(c), 1e-6));
  EXPECT_EQ(calls, 3);
}

TEST(Compile, ShapelessReusesOneTraceAcrossShapes) {
  int calls = 0;
  auto f = [&calls](const std::vector<array>& in) {
    ++calls;
    return std::vector<array>{maximum(in[0] * 2.0f - in[1], 0.0f)};
  };
  auto cf = compile(f, /*shapeless=*/true);
  for (Shape s : {Shape{5, 7}, Shape{2, 300}, Shape{1, 1}, Shape{0, 4}}) {
    array x = random::normal(s), y = random::normal({s.back()});
    array got = cf({x, y})[0];
    EXPECT_EQ(got.shape(), s);
    EXPECT_TRUE(agree(got, maximum(x * 2.0f - y, 0.0f), 1e-6)) << shape_to_string(s);
  }
  EXPECT_EQ(calls, 1);
  cf({random::normal({2, 3, 4}), random::normal({4})});  // another number of dimensions
  EXPECT_EQ(calls, 2);
  cf({astype(random::normal({5, 7}), float16), astype(random::normal({7}), float16)});
  EXPECT_EQ(calls, 3);
}

TEST(Compile, CommonSubexpressionsAreComputedOnce) {
  auto f = [](const std::vector<array>& in) {
    array a = sin(in[0]) * cos(in[0]);
    array b = sin(in[0]) * cos(in[0]);
    return std::vector<array>{a + b};
  };
  array x = random::normal({16});
  array got = compile(f)({x})[0];
  const Compiled* c = compiled_of(got);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->ops().size(), 4u) << "sin, cos, multiply, add";
  EXPECT_TRUE(agree(got, f({x})[0], 2e-6));
}

TEST(Compile, IdenticalConstantsMergeAndNoOpsDrop) {
  auto f = [](const std::vector<array>& in) {
    Stream s = to_stream({});
    // A cast to the same dtype and a broadcast to the same shape, built directly (the ops
    // return their input unchanged).
    array same = array(in[0].shape(), float32, std::make_shared<AsType>(s, float32), {in[0]});
    array wide = array(in[0].shape(), float32, std::make_shared<Broadcast>(s, in[0].shape()), {same});
    return std::vector<array>{(wide + array(3.0f)) * array(3.0f) - array(2.0f)};
  };
  array x = random::normal({10});
  array got = compile(f)({x})[0];
  const Compiled* c = compiled_of(got);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(got.inputs().size(), 3u) << "x, 3 and 2";
  for (auto& op : c->ops()) EXPECT_EQ(dynamic_cast<const AsType*>(op.primitive.get()), nullptr);
  EXPECT_TRUE(agree(got, (x + 3.0f) * 3.0f - 2.0f, 1e-6));
}

TEST(Compile, SharedIntermediatesAndSeveralOutputs) {
  auto f = [](const std::vector<array>& in) {
    array t = exp(in[0]) + 1.0f;
    return std::vector<array>{t * 2.0f, t - in[1], sum(t)};
  };
  array x = random::normal({4, 5}), y = random::normal({5});
  auto got = compile(f)({x, y});
  auto want = f({x, y});
  for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(agree(got[i], want[i], 2e-6)) << i;
}

TEST(Compile, StridedAndBroadcastInputs) {
  auto f = [](const std::vector<array>& in) {
    return std::vector<array>{where(in[0] > in[1], in[0] * in[2], in[1] - in[2])};
  };
  auto cf = compile(f);
  array a = transpose(random::normal({6, 9}));                        // (9, 6) column-major view
  array b = random::normal({9, 1});                                   // column broadcast
  array c = slice(random::normal({9, 12}), {0, 0}, {9, 12}, {1, 2});  // stepped rows
  EXPECT_TRUE(agree(cf({a, b, c})[0], f({a, b, c})[0], 1e-6));
  array big = random::normal({300, 1000});  // split across threads
  array row = random::normal({1000});
  EXPECT_TRUE(agree(cf({big, row, array(0.5f)})[0], f({big, row, array(0.5f)})[0], 1e-6));
}

TEST(Compile, DisabledCallsTheFunction) {
  int calls = 0;
  auto f = [&calls](const std::vector<array>& in) {
    ++calls;
    return std::vector<array>{in[0] + 1.0f};
  };
  auto cf = compile(f);
  disable_compile();
  EXPECT_FALSE(compile_enabled());
  cf({array(1.0f)});
  cf({array(1.0f)});
  enable_compile();
  EXPECT_EQ(calls, 2);
  EXPECT_FLOAT_EQ(cf({array(1.0f)})[0].item<float>(), 2.0f);
  EXPECT_EQ(calls, 3);
}

TEST(Compile, EvaluatingATracedInputThrows) {
  auto f = [](const std::vector<array>& in) {
    array y = in[0] * 2.0f;
    y.eval();
    return std::vector<array>{y};
  };
  expect_error<std::invalid_argument>([&] { compile(f)({array(1.0f)}); }, "[compile] cannot evaluate");
  // Constants may still be evaluated inside.
  auto g = [](const std::vector<array>& in) {
    array k = array(2.0f) + array(1.0f);
    float v = k.item<float>();
    return std::vector<array>{in[0] * v};
  };
  EXPECT_FLOAT_EQ(compile(g)({array(2.0f)})[0].item<float>(), 6.0f);
}

TEST(Compile, GradOfCompiledAndCompiledGrad) {
  auto f = [](const std::vector<array>& in) { return std::vector<array>{sum(gelu_tanh(in[0]) * in[1])}; };
  array x = random::normal({7, 3}), y = random::normal({3});
  auto want = grad(f, {0, 1})({x, y});
  auto g1 = grad(compile(f), {0, 1})({x, y});
  auto g2 = compile(grad(f, {0, 1}))({x, y});
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(agree(g1[i], want[i], 1e-5)) << i;
    EXPECT_TRUE(agree(g2[i], want[i], 1e-5)) << i;
  }
  // jvp through a Compiled node.
  auto h = [](const std::vector<array>& in) { return std::vector<array>{gelu_tanh(in[0])}; };
  array t = random::normal({7, 3});
  auto [o1, jt1] = jvp(compile(h), {x}, {t});
  auto [o2, jt2] = jvp(h, {x}, {t});
  EXPECT_TRUE(agree(jt1[0], jt2[0], 1e-5));
}

TEST(Compile, VmapOfCompiled) {
  auto f = [](const std::vector<array>& in) { return std::vector<array>{exp(in[0]) * in[1] + in[1]}; };
  array x = random::normal({5, 4}), y = random::normal({4});
  auto got = vmap(compile(f), {0, -1})({x, y});
  auto want = vmap(f, {0, -1})({x, y});
  EXPECT_TRUE(agree(got[0], want[0], 2e-6));
}

TEST(Compile, EveryDtypeAndMixedPromotion) {
  auto f = [](const std::vector<array>& in) {
    array a = in[0] + in[1];
    return std::vector<array>{where(a > 0, a * in[0], astype(in[1], a.dtype()) - a)};
  };
  auto cf = compile(f);
  for (Dtype t : {float32, float16, bfloat16, float64, int8, int16, int32, int64, uint8, uint32, bool_}) {
    array x = astype(random::uniform(-50.0f, 50.0f, {33}), t);
    array y = astype(random::uniform(-50.0f, 50.0f, {3, 33}), int32);
    array got = cf({x, y})[0];
    EXPECT_TRUE(agree(got, f({x, y})[0], tolerance(got.dtype()))) << dtype_name(t);
  }
}

}  // namespace
