// compile: results against the same function run eagerly (a property test over 500
// random graphs of fusible ops, dtypes, shapes and broadcasts), the simplifications
// (common subexpressions, merged constants, dropped no-ops), the trace cache (no retrace on
// a second call, retrace on a new dtype or shape, shapeless reuse), transforms through
// compile, and the errors.
#include <gtest/gtest.h>

#include <ember/ember.h>
#include <ember/primitives_compiled.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "grad_check.h"
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

// On a GPU the fused kernel is generated CUDA (NVRTC; on the emulated build, the same source
// through the host compiler): the result is written on the device and matches the CPU's.
TEST(Compile, FusedKernelsRunOnTheGpu) {
  if (!is_available(Device::gpu)) GTEST_SKIP() << "no GPU";
  auto f = [](const std::vector<array>& in) {
    return std::vector<array>{where(in[0] > in[1], gelu_tanh(in[0]), astype(in[2], float32) * in[1])};
  };
  auto cf = compile(f);
  for (Dtype t : {float32, float16}) {
    array a = astype(random::normal({37, 65}), t), b = astype(random::normal({65}), t);
    array c = transpose(astype(random::uniform(array(-9.0f), array(9.0f), {65, 37}), int32));
    for (bool strided : {false, true}) {
      std::vector<array> ins = strided ? std::vector<array>{a, b, c} : std::vector<array>{a, b, array(2)};
      array got = [&] {
        Device old = default_device();
        set_default_device(Device::gpu);
        array r = cf(ins)[0];
        set_default_device(old);
        return r;
      }();
      ASSERT_NE(compiled_of(got), nullptr);
      got.eval();
      const auto& data = got.data_shared_ptr();
      EXPECT_TRUE(data->device_valid && !data->host_valid.load()) << "the fused kernel declined";
      Device old = default_device();
      set_default_device(Device::cpu);
      array want = f(ins)[0];
      set_default_device(old);
      EXPECT_TRUE(agree(got, want, t == float16 ? 4e-3 : 2e-5)) << dtype_name(t) << (strided ? " strided" : "");
    }
  }
  // Dense inputs: aligned (vector loads, a length with a tail) and one element off alignment
  // (the scalar kernel).
  auto g = [](const std::vector<array>& in) { return std::vector<array>{gelu_tanh(in[0]) * in[1] - in[0]}; };
  auto cg = compile(g);
  for (int offset : {0, 1}) {
    for (int n : {4096, 1003}) {
      array a = slice(random::normal({n + 1}), {offset}, {offset + n}), b = random::normal({n});
      Device old = default_device();
      set_default_device(Device::gpu);
      array got = cg({a, b})[0];
      set_default_device(old);
      ASSERT_NE(compiled_of(got), nullptr);
      got.eval();
      EXPECT_TRUE(got.data_shared_ptr()->device_valid) << "the fused kernel declined";
      EXPECT_TRUE(agree(got, g({a, b})[0], 2e-5)) << "offset " << offset << ", n " << n;
    }
  }
}

// The Compiled primitive's vjp, jvp and vmap (through the region rebuilt from its ops)
// against finite differences and loops, like every primitive (grad_check.h).
TEST(GradCompile, CompiledRegionTransforms) {
  auto fused = [](const MultiFn& f) {
    return [cf = compile(f)](const std::vector<array>& x) {
      array out = cf(x)[0];
      EXPECT_NE(compiled_of(out), nullptr);
      return out;
    };
  };
  grad_check::check(fused([](const std::vector<array>& x) { return std::vector<array>{gelu_tanh(x[0]) * x[1]}; }),
                    {{3, 4}, {4}});
  grad_check::check(fused([](const std::vector<array>& x) {
                      return std::vector<array>{where(x[0] > x[1], exp(x[0]) - x[1], sin(x[1]) * x[0])};
                    }),
                    {{2, 5}, {2, 5}});
}

// ------------------------------------------------------------------ property test

// One step of a random graph: an op on earlier values (inputs first).
struct Step {
  int op;
  int a, b, c;
  Dtype cast;
};

constexpr int kUnaryOps = 12, kBinaryOps = 11, kOps = kUnaryOps + kBinaryOps + 2;

bool is_half(Dtype t) { return t == float16 || t == bfloat16; }

array apply_step(const Step& s, const std::vector<array>& v) {
  const array &a = v[s.a], &b = v[s.b], &c = v[s.c];
  switch (s.op) {
    case 0:
      return abs(a);
    case 1:
      return negative(a);
    case 2:
      return square(a);
    case 3:
      return sin(a);
    case 4:
      return cos(a);
    case 5:
      return tanh(a);
    case 6:
      return floor(a);
    case 7:
      return sqrt(abs(a));
    case 8:
      return log1p(abs(a));
    case 9:
      return exp(minimum(a, array(3, a.dtype())));
    case 10:
      return sigmoid(a);
    case 11:
      return erf(a);
    case 12:
      return a + b;
    case 13:
      return a - b;
    case 14:
      return a * b;
    case 15:
      return maximum(a, b);
    case 16:
      return minimum(a, b);
    case 17:
      return a / (abs(b) + 1);
    case 18:
      return where(a < b, a, b);
    case 19:
      return astype(equal(a, b), a.dtype()) + a;
    case 20:
      return floor_divide(a, abs(b) + 1);
    case 21:
      return remainder(a, abs(b) + 1);
    case 22:
      return power(abs(a), astype(array(2), a.dtype()));
    case 23:
      return where(astype(c, bool_), a, b);
    default:
      return astype(a, s.cast);
  }
}

// A shape that broadcasts to `base`: the whole of it, a suffix, some axes 1, or a scalar.
Shape operand_shape(const Shape& base, std::mt19937& rng) {
  int kind = std::uniform_int_distribution<int>(0, 5)(rng);
  if (kind <= 2 || base.empty()) return base;
  if (kind == 3) return {};
  if (kind == 4) return Shape(base.begin() + std::uniform_int_distribution<size_t>(0, base.size())(rng), base.end());
  Shape s = base;
  for (auto& d : s) {
    if (rng() % 2) d = 1;
  }
  return s;
}

// An input of `shape` and `dtype`, values in [-3, 3], sometimes a transposed or stepped view.
array random_input(const Shape& shape, Dtype dtype, std::mt19937& rng) {
  int layout = std::uniform_int_distribution<int>(0, 3)(rng);
  auto key = random::key(rng());
  auto draw = [&](const Shape& s) {
    array u = random::uniform(array(-3.0f), array(3.0f), s, float32, key);
    if (is_integral(dtype)) u = round(u);
    return astype(u, dtype);
  };
  if (layout == 1 && shape.size() >= 2) {
    Shape t(shape.rbegin(), shape.rend());
    return transpose(draw(t));
  }
  if (layout == 2 && !shape.empty()) {
    Shape wide = shape, start(shape.size(), 0), steps(shape.size(), 1);
    wide.back() = shape.back() * 2;
    steps.back() = 2;
    return slice(draw(wide), start, wide, steps);
  }
  return draw(shape);
}

// One random graph: its inputs, its steps and whether it returns a middle value too.
struct Case {
  std::vector<array> inputs;
  std::vector<Step> steps;
  bool two_outputs;
};

Case random_case(int g, std::mt19937& rng) {
  static const Dtype dtypes[] = {float32, float32, float32, float16, bfloat16, float64,
                                 int32,   int64,   int8,    uint8,   bool_};
  Case c;
  int rank = std::uniform_int_distribution<int>(0, 3)(rng);
  Shape base;
  for (int d = 0; d < rank; ++d) base.push_back(std::uniform_int_distribution<int>(1, 6)(rng));
  if (g % 50 == 0) base = {257, 300};  // large enough to be split across threads
  Dtype dtype = dtypes[rng() % std::size(dtypes)];
  int n_in = std::uniform_int_distribution<int>(1, 3)(rng);
  for (int i = 0; i < n_in; ++i) {
    Dtype t = rng() % 4 == 0 ? dtypes[rng() % std::size(dtypes)] : dtype;
    c.inputs.push_back(random_input(i == 0 ? base : operand_shape(base, rng), t, rng));
  }
  int n_steps = std::uniform_int_distribution<int>(2, 8)(rng);
  for (int k = 0; k < n_steps; ++k) {
    auto pick = [&] { return std::uniform_int_distribution<int>(0, n_in + k - 1)(rng); };
    c.steps.push_back(Step{std::uniform_int_distribution<int>(0, kOps - 1)(rng), pick(), pick(), pick(),
                           dtypes[rng() % std::size(dtypes)]});
  }
  c.two_outputs = rng() % 3 == 0;
  return c;
}

// Runs the case eagerly and compiled; "" when they agree (or when an op rejects the dtypes
// the graph gives it, so there is nothing to compare), else what differs. Counts the outputs
// a fused kernel computes.
std::string check_case(const Case& c, std::atomic<int>& fused) {
  auto fn = [&c](const std::vector<array>& in) {
    std::vector<array> v = in;
    for (auto& s : c.steps) v.push_back(apply_step(s, v));
    std::vector<array> out = {v.back()};
    if (c.two_outputs) out.push_back(v[v.size() / 2]);
    return out;
  };
  std::vector<array> want;
  try {
    want = fn(c.inputs);
    eval(want);
  } catch (const std::exception&) {
    return "";
  }
  std::vector<array> got = compile(fn)(c.inputs);
  for (auto& o : got) fused += compiled_of(o) != nullptr;
  eval(got);
  // Eager float32 and half exp and sigmoid are SIMD kernels, the fused code calls std::exp:
  // they differ in the last place, which later ops may magnify. Everything else rounds the
  // same way op by op, so half and integer results match exactly.
  bool transcendental = false;
  for (auto& s : c.steps) transcendental |= (s.op == 9 || s.op == 10);
  for (size_t i = 0; i < got.size(); ++i) {
    Dtype t = want[i].dtype();
    double tol = t == float32 ? 1e-4 : t == float64 ? 1e-10 : is_half(t) && transcendental ? 0.1 : 0.0;
    auto r = agree(got[i], want[i], tol);
    if (!r) return "output " + std::to_string(i) + ": " + r.message();
  }
  return "";
}

TEST(Compile, RandomGraphsMatchEager) {
  // EMBER_TEST_COMPILE_GRAPHS lowers the count where each kernel is slow to build (the
  // emulated GPU build runs 12).
  const char* env = std::getenv("EMBER_TEST_COMPILE_GRAPHS");
  const int kGraphs = env && *env ? std::atoi(env) : 500;
  std::mt19937 rng(20261127);
  std::vector<Case> cases;
  for (int g = 0; g < kGraphs; ++g) cases.push_back(random_case(g, rng));
  for (auto& c : cases) eval(c.inputs);
  // Two threads, as most kernels are new and their builds (compiler processes) dominate.
  std::atomic<int> fused{0};
  std::vector<std::string> errors(kGraphs);
  auto work = [&](int first) {
    for (int g = first; g < kGraphs; g += 2) {
      try {
        errors[g] = check_case(cases[g], fused);
      } catch (const std::exception& e) {
        errors[g] = std::string("threw: ") + e.what();
      }
    }
  };
  std::thread other(work, 1);
  work(0);
  other.join();
  for (int g = 0; g < kGraphs; ++g) EXPECT_EQ(errors[g], "") << "graph " << g;
  EXPECT_GT(fused.load(), kGraphs / 2) << "most graphs should fuse";
}

}  // namespace
