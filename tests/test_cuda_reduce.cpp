// Backend consistency of the CUDA reduction kernels (backend/cuda/reduce*.cu, softmax.cu):
// sum/prod/max/min/all/any, argmax/argmin, softmax/log_softmax and logsumexp on the GPU
// against the CPU kernels, for every supported dtype, on random nonzero inputs in
// contiguous, transposed, sliced and broadcast layouts, over all/last/first/middle/several
// axes, plus 0-d, empty, nan/inf and sizes large enough to split reductions across blocks.
// Runs only where a GPU is present.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "ember/backend/gpu.h"
#include "ember/ember.h"
#include "gpu_test_utils.h"
#include "test_utils.h"

using namespace ember;

namespace {

const std::vector<Dtype> kRealDtypes = {bool_, uint8, uint16,  uint32,   uint64,  int8,   int16,
                                        int32, int64, float16, bfloat16, float32, float64};
const std::vector<Dtype> kFloatDtypes = {float16, bfloat16, float32, float64};

enum class Values { general, near_one };

// Random nonzero values of `dtype` (built in float64 on the host, converted on the CPU).
// general: floats +-[0.5, 2], signed ints +-[1, 5], unsigned [1, 9], bool mostly true;
// near_one (for products): floats +-[0.9, 1.1], ints mostly 1 with a few 2 and -1.
array random_array(const Shape& shape, Dtype dtype, uint32_t seed, Values kind = Values::general) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<double> v(test_utils::numel(shape));
  for (auto& x : v) {
    double sign = u(g) < 0.5 ? -1.0 : 1.0;
    if (dtype == bool_) {
      x = u(g) < 0.8 ? 1.0 : 0.0;
    } else if (is_floating_point(dtype)) {
      x = kind == Values::near_one ? sign * (0.9 + 0.2 * u(g)) : sign * (0.5 + 1.5 * u(g));
    } else if (kind == Values::near_one) {
      double r = u(g);
      x = r < 0.03 ? 2.0 : (r < 0.1 && !is_unsigned(dtype) ? -1.0 : 1.0);
    } else if (is_unsigned(dtype)) {
      x = 1.0 + std::floor(9.0 * u(g));
    } else {
      x = sign * (1.0 + std::floor(5.0 * u(g)));
    }
  }
  array a = astype(array(v, shape, float64), dtype, Device::cpu);
  a.eval();
  return a;
}

// The same logical shape in four layouts: contiguous, transposed, sliced (stepped), broadcast.
struct Layout {
  std::string name;
  std::function<array(const Shape&, Dtype, uint32_t, Values)> make;
};

std::vector<Layout> layouts() {
  return {
      {"contiguous", [](const Shape& s, Dtype t, uint32_t seed, Values k) { return random_array(s, t, seed, k); }},
      {"transposed",
       [](const Shape& s, Dtype t, uint32_t seed, Values k) {
         Shape r(s.rbegin(), s.rend());
         std::vector<int> perm(s.size());
         for (size_t i = 0; i < s.size(); ++i) perm[i] = static_cast<int>(s.size() - 1 - i);
         return transpose(random_array(r, t, seed, k), perm, Device::cpu);
       }},
      {"sliced",
       [](const Shape& s, Dtype t, uint32_t seed, Values k) {
         // Every axis twice as long plus one, read from 1 with step 2.
         Shape big, start, stop, step;
         for (int n : s) {
           big.push_back(2 * n + 1);
           start.push_back(1);
           stop.push_back(2 * n + 1);
           step.push_back(2);
         }
         return slice(random_array(big, t, seed, k), start, stop, step, Device::cpu);
       }},
      {"broadcast",
       [](const Shape& s, Dtype t, uint32_t seed, Values k) {
         // Every other axis broadcast from size 1 (stride 0).
         Shape small = s;
         for (size_t i = 0; i < s.size(); i += 2) small[i] = 1;
         return broadcast_to(random_array(small, t, seed, k), s, Device::cpu);
       }},
  };
}

std::string axes_name(const std::vector<int>& axes) {
  std::string s = "(";
  for (int a : axes) s += std::to_string(a) + ",";
  return s + ")";
}

double dtype_tol(Dtype t) {
  if (t == float16) return 4e-3;
  if (t == bfloat16) return 3e-2;
  if (t == float32) return 2e-5;
  if (t == float64) return 1e-12;
  return 0.0;  // integers and bool: exact
}

// |got - want| <= tol * scale[i] for each element (nan matches nan).
void expect_close(const array& got, const array& want, const std::vector<double>& scale, double tol,
                  const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  auto g = test_utils::values(got), w = test_utils::values(want);
  for (size_t i = 0; i < g.size(); ++i) {
    if (std::isnan(w[i])) {
      ASSERT_TRUE(std::isnan(g[i])) << what << " at " << i << ": got " << g[i] << ", want nan";
      continue;
    }
    if (std::isinf(w[i])) {
      ASSERT_EQ(g[i], w[i]) << what << " at " << i;
      continue;
    }
    ASSERT_LE(std::fabs(g[i] - w[i]), tol * scale[i]) << what << " at " << i << ": got " << g[i] << ", want " << w[i];
  }
}

using ReduceFn = array (*)(const array&, const std::vector<int>&, bool, StreamOrDevice);

struct ReduceCase {
  const char* name;
  ReduceFn fn;
  Values values;
};

const std::vector<ReduceCase> kReduceOps = {
    {"sum", static_cast<ReduceFn>(&sum), Values::general}, {"prod", static_cast<ReduceFn>(&prod), Values::near_one},
    {"max", static_cast<ReduceFn>(&max), Values::general}, {"min", static_cast<ReduceFn>(&min), Values::general},
    {"all", static_cast<ReduceFn>(&all), Values::general}, {"any", static_cast<ReduceFn>(&any), Values::general},
};

// Compares op(x, axes) on the GPU and the CPU. Sums are held to tol * (1 + sum|x|),
// products to tol * (1 + |want|) times the number of factors; max/min/all/any are exact.
void check_reduce(const ReduceCase& op, const array& x, const std::vector<int>& axes, const std::string& what) {
  array want = op.fn(x, axes, false, Device::cpu);
  array got = op.fn(x, axes, false, Device::gpu);
  std::string name = std::string(op.name) + " " + what + " axes " + axes_name(axes);
  const std::string op_name = op.name;
  double tol = (op_name == "sum" || op_name == "prod") ? dtype_tol(x.dtype()) : 0.0;
  std::vector<double> scale;
  if (op_name == "sum") {
    scale = test_utils::values(sum(abs(astype(x, float64, Device::cpu), Device::cpu), axes, false, Device::cpu));
    for (auto& s : scale) s += 1.0;
  } else {
    auto w = test_utils::values(want);
    size_t count = want.size() ? x.size() / want.size() : 1;
    for (double v : w) scale.push_back((1.0 + std::fabs(v)) * static_cast<double>(count));
  }
  expect_close(got, want, scale, tol, name);
}

}  // namespace

TEST(CudaReduce, EveryOpDtypeLayoutAndAxes) {
  REQUIRE_GPU();
  const Shape shape = {6, 33, 40};
  const std::vector<std::vector<int>> axes_sets = {{0, 1, 2}, {2}, {0}, {1}, {0, 2}};
  uint32_t seed = 1;
  for (const auto& op : kReduceOps) {
    for (Dtype t : kRealDtypes) {
      for (const auto& layout : layouts()) {
        array x = layout.make(shape, t, seed++, op.values);
        for (const auto& axes : axes_sets) {
          check_reduce(op, x, axes, dtype_name(t) + " " + layout.name);
          if (HasFatalFailure()) return;
        }
      }
    }
  }
}

TEST(CudaReduce, SizesThatSplitAcrossBlocks) {
  REQUIRE_GPU();
  // shape, axes: all-reduce (two passes), few long rows, many short rows (warp per row),
  // rows of 3 (column path), column with few outputs (split rows), column with many.
  const std::vector<std::pair<Shape, std::vector<int>>> cases = {
      {{1 << 20}, {0}},    {{4, 300001}, {1}}, {{64, 700}, {1}},        {{5000, 3}, {1}},       {{100003, 5}, {0}},
      {{3, 5001, 7}, {1}}, {{300, 4097}, {1}}, {{2, 3, 40000}, {0, 2}}, {{1000, 1000}, {0, 1}}, {{257, 129}, {0}},
  };
  uint32_t seed = 100;
  for (const auto& [shape, axes] : cases) {
    for (Dtype t : {float32, float16, bfloat16, int32, uint8, bool_, float64}) {
      array x = random_array(shape, t, seed++);
      for (size_t i : {size_t{0}, size_t{2}, size_t{3}, size_t{5}}) {  // sum, max, min, any
        check_reduce(kReduceOps[i], x, axes, dtype_name(t) + " " + shape_to_string(shape));
        if (HasFatalFailure()) return;
      }
    }
  }
}

TEST(CudaReduce, ZeroDimAndEmpty) {
  REQUIRE_GPU();
  array s = array(2.5f);
  for (const auto& op : kReduceOps) check_reduce(op, s, {}, "0-d");
  array e = random_array({0, 5}, float32, 7);
  check_reduce(kReduceOps[0], e, {0}, "empty (0,5)");  // five zeros
  check_reduce(kReduceOps[1], e, {0}, "empty (0,5)");  // five ones
  check_reduce(kReduceOps[4], e, {0}, "empty (0,5)");  // all: true
  check_reduce(kReduceOps[5], e, {0}, "empty (0,5)");  // any: false
  check_reduce(kReduceOps[0], e, {1}, "empty (0,5)");  // no outputs
  check_reduce(kReduceOps[0], random_array({3, 0}, int8, 8), {1}, "empty (3,0)");
  check_reduce(kReduceOps[2], random_array({0, 4}, float32, 9), {1}, "empty (0,4)");
}

TEST(CudaReduce, NanAndInfPropagate) {
  REQUIRE_GPU();
  for (Dtype t : kFloatDtypes) {
    std::vector<double> v(8 * 1500);
    std::mt19937 g(3);
    std::uniform_real_distribution<double> u(-3, 3);
    for (auto& x : v) x = u(g);
    v[5 * 1500 + 700] = NAN;  // row 5 has a nan
    v[2 * 1500 + 10] = INFINITY;
    v[3 * 1500 + 11] = -INFINITY;
    array x = astype(array(v, {8, 1500}, float64), t, Device::cpu);
    for (size_t i : {size_t{0}, size_t{2}, size_t{3}, size_t{4}, size_t{5}}) {
      check_reduce(kReduceOps[i], x, {1}, dtype_name(t) + " nan rows");
      check_reduce(kReduceOps[i], x, {0}, dtype_name(t) + " nan cols");
      check_reduce(kReduceOps[i], x, {0, 1}, dtype_name(t) + " nan all");
    }
  }
}

// ---------------------------------------------------------------- argmax / argmin

TEST(CudaArgReduce, EveryDtypeLayoutAndAxis) {
  REQUIRE_GPU();
  const Shape shape = {6, 33, 40};
  uint32_t seed = 500;
  for (Dtype t : kRealDtypes) {
    for (const auto& layout : layouts()) {
      // Small integers tie often: the first extreme must win.
      array x = layout.make(shape, t, seed++, Values::general);
      for (int axis : {0, 1, 2, -1}) {
        for (bool is_max : {true, false}) {
          array want = is_max ? argmax(x, axis, false, Device::cpu) : argmin(x, axis, false, Device::cpu);
          array got = is_max ? argmax(x, axis, false, Device::gpu) : argmin(x, axis, false, Device::gpu);
          EXPECT_EQ(test_utils::values(got), test_utils::values(want))
              << (is_max ? "argmax " : "argmin ") << dtype_name(t) << " " << layout.name << " axis " << axis;
        }
      }
      EXPECT_EQ(test_utils::values(argmax(x, false, Device::gpu)), test_utils::values(argmax(x, false, Device::cpu)))
          << "argmax all " << dtype_name(t) << " " << layout.name;
    }
  }
}

TEST(CudaArgReduce, LongRowsTiesAndNan) {
  REQUIRE_GPU();
  for (Dtype t : {float32, float16, bfloat16, float64, int8, uint16, int64}) {
    // Values in a small range: many ties, spread over split blocks.
    std::vector<double> v(3 * 400003);
    std::mt19937 g(11);
    for (auto& x : v) x = static_cast<double>(g() % 50) + 1.0;
    v[400003 + 123456] = 100.0;  // row 1: a unique max
    v[400003 + 300000] = 100.0;  // and its tie later
    array x = astype(array(v, {3, 400003}, float64), t, Device::cpu);
    for (int axis : {0, 1}) {
      EXPECT_EQ(test_utils::values(argmax(x, axis, false, Device::gpu)),
                test_utils::values(argmax(x, axis, false, Device::cpu)))
          << dtype_name(t) << " axis " << axis;
      EXPECT_EQ(test_utils::values(argmin(x, axis, false, Device::gpu)),
                test_utils::values(argmin(x, axis, false, Device::cpu)))
          << dtype_name(t) << " axis " << axis;
    }
    EXPECT_EQ(test_utils::values(argmax(x, false, Device::gpu)), test_utils::values(argmax(x, false, Device::cpu)));
    if (is_floating_point(t)) {
      v[2 * 400003 + 7] = NAN;
      v[2 * 400003 + 9] = NAN;
      array y = astype(array(v, {3, 400003}, float64), t, Device::cpu);
      EXPECT_EQ(test_utils::values(argmax(y, 1, false, Device::gpu)),
                test_utils::values(argmax(y, 1, false, Device::cpu)));
      EXPECT_EQ(test_utils::values(argmin(y, 1, false, Device::gpu)),
                test_utils::values(argmin(y, 1, false, Device::cpu)));
      EXPECT_EQ(test_utils::values(argmin(y, false, Device::gpu)), test_utils::values(argmin(y, false, Device::cpu)));
    }
  }
}

// ---------------------------------------------------------------- softmax / logsumexp

namespace {

void check_softmax_family(const array& x, const std::vector<int>& axes, const std::string& what) {
  const double tol = 4 * dtype_tol(x.dtype());
  {
    array want = softmax(x, axes, false, Device::cpu), got = softmax(x, axes, false, Device::gpu);
    std::vector<double> scale(want.size(), 1.0);  // outputs in [0, 1]
    expect_close(got, want, scale, tol, "softmax " + what);
    array got_precise = softmax(x, axes, true, Device::gpu);
    expect_close(got_precise, want, scale, tol, "softmax precise " + what);
  }
  {
    array want = log_softmax(x, axes, false, Device::cpu);
    array got = log_softmax(x, axes, false, Device::gpu);
    std::vector<double> scale;
    for (double w : test_utils::values(want)) scale.push_back(1.0 + std::fabs(w));
    expect_close(got, want, scale, tol, "log_softmax " + what);
  }
  {
    array want = logsumexp(x, axes, false, Device::cpu), got = logsumexp(x, axes, false, Device::gpu);
    std::vector<double> scale;
    for (double w : test_utils::values(want)) scale.push_back(1.0 + std::fabs(w));
    expect_close(got, want, scale, tol, "logsumexp " + what);
  }
}

}  // namespace

TEST(CudaSoftmax, DtypesLayoutsAndAxes) {
  REQUIRE_GPU();
  uint32_t seed = 900;
  for (Dtype t : kFloatDtypes) {
    for (const auto& layout : layouts()) {
      array x = layout.make({6, 33, 40}, t, seed++, Values::general);
      for (const auto& axes : std::vector<std::vector<int>>{{2}, {0}, {1}, {0, 2}, {0, 1, 2}}) {
        check_softmax_family(x, axes, dtype_name(t) + " " + layout.name + " axes " + axes_name(axes));
        if (HasFatalFailure()) return;
      }
    }
    // Long rows (a block per row), short rows, one row, 0-d.
    check_softmax_family(random_array({5, 3001}, t, seed++), {1}, dtype_name(t) + " (5,3001)");
    check_softmax_family(random_array({1000, 3}, t, seed++), {1}, dtype_name(t) + " (1000,3)");
    check_softmax_family(random_array({1, 70000}, t, seed++), {1}, dtype_name(t) + " (1,70000)");
    check_softmax_family(astype(array(1.5), t, Device::cpu), {}, dtype_name(t) + " 0-d");
  }
}

TEST(CudaSoftmax, EmptyNanAndInfRows) {
  REQUIRE_GPU();
  for (Dtype t : kFloatDtypes) {
    for (int n : {7, 2000}) {
      std::vector<double> v(5 * n);
      std::mt19937 g(5);
      std::uniform_real_distribution<double> u(-4, 4);
      for (auto& x : v) x = u(g);
      v[0 * n + 3] = NAN;                                    // row 0: nan
      v[1 * n + 2] = INFINITY;                               // row 1: +inf
      for (int j = 0; j < n; ++j) v[2 * n + j] = -INFINITY;  // row 2: all -inf
      v[3 * n + 1] = -INFINITY;                              // row 3: one -inf
      array x = astype(array(v, {5, n}, float64), t, Device::cpu);
      check_softmax_family(x, {1}, dtype_name(t) + " special rows n=" + std::to_string(n));
    }
    array e = astype(random_array({3, 0}, float32, 1), t, Device::cpu);
    EXPECT_EQ(test_utils::values(logsumexp(e, {1}, false, Device::gpu)),
              test_utils::values(logsumexp(e, {1}, false, Device::cpu)));
    EXPECT_EQ(softmax(e, {1}, false, Device::gpu).shape(), Shape({3, 0}));
  }
}

// ---------------------------------------------------------------- bandwidth (run by hand)

// Prints GB/s of sum, max, argmax and softmax over 2^28 float32 against an elementwise
// negative (read + write) in the same process; run with --gtest_also_run_disabled_tests.
TEST(CudaReduce, DISABLED_Bandwidth) {
  REQUIRE_GPU();
  const int n = 1 << 28;
  array x = random::uniform({n}, float32, std::nullopt, Device::gpu);
  x.eval();
  auto time_of = [&](const std::function<array()>& f) {
    f().eval();  // warm up (and first-use costs)
    synchronize(default_stream(Device::gpu));
    const int reps = 10;
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) f().eval();
    synchronize(default_stream(Device::gpu));
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
  };
  const double bytes = 4.0 * n;
  double t_copy = time_of([&] { return negative(x, Device::gpu); });
  std::printf("negative (read+write): %.0f GB/s\n", 2 * bytes / t_copy / 1e9);
  auto report = [&](const char* name, double t, double b) {
    std::printf("%-22s %.0f GB/s (%.2f of negative's)\n", name, b / t / 1e9, (b / t) / (2 * bytes / t_copy));
  };
  report("sum all", time_of([&] { return sum(x, false, Device::gpu); }), bytes);
  report("max all", time_of([&] { return max(x, false, Device::gpu); }), bytes);
  report("argmax all", time_of([&] { return argmax(x, false, Device::gpu); }), bytes);
  array m = reshape(x, {1 << 14, 1 << 14}, Device::gpu);
  report("sum rows (16k x 16k)", time_of([&] { return sum(m, 1, false, Device::gpu); }), bytes);
  report("sum cols (16k x 16k)", time_of([&] { return sum(m, 0, false, Device::gpu); }), bytes);
  report("argmax cols", time_of([&] { return argmax(m, 0, false, Device::gpu); }), bytes);
  array r = reshape(x, {1 << 16, 1 << 12}, Device::gpu);
  report("sum rows (64k x 4k)", time_of([&] { return sum(r, 1, false, Device::gpu); }), bytes);
  report("softmax (64k x 4k)", time_of([&] { return softmax(r, 1, false, Device::gpu); }), 2 * bytes);
  array s = reshape(x, {1 << 20, 256}, Device::gpu);
  report("softmax (1M x 256)", time_of([&] { return softmax(s, 1, false, Device::gpu); }), 2 * bytes);
  report("logsumexp (1M x 256)", time_of([&] { return logsumexp(s, 1, false, Device::gpu); }), bytes);
  report("sum (1M x 256) axis 1", time_of([&] { return sum(s, 1, false, Device::gpu); }), bytes);
  report("sum (1M x 256) axis 0", time_of([&] { return sum(s, 0, false, Device::gpu); }), bytes);
}
