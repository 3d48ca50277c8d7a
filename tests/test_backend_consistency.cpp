// The backend-consistency harness: every case builds one op from the same
// random inputs on the CPU and on the GPU and compares the results with the
// op's tolerance, over dtypes and layouts (contiguous, transposed, sliced,
// broadcast, 0-d, empty). Ops without a CUDA kernel run on the CPU kernel from
// the GPU stream, which checks the residency plumbing around them. Skipped
// where no GPU is present; scripts/gpu-check runs it.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "ember/backend/gpu.h"
#include "ember/ember.h"

using namespace ember;

namespace {

using OpFn = std::function<array(const std::vector<array>&, StreamOrDevice)>;

struct Layout {
  const char* name;
  // Turns a row-contiguous (rows, cols) input into a view of the same logical shape family.
  std::function<array(const array&)> view;
};

// Inputs of shape (rows, cols) in several layouts; each gives a 2-d array.
std::vector<Layout> layouts() {
  return {
      {"contiguous", [](const array& a) { return a; }},
      {"transposed", [](const array& a) { return transpose(contiguous(transpose(a))); }},  // column-major
      {"sliced", [](const array& a) {
         // A strided window: pad first so the view has a.shape().
         array big = concatenate({a, a}, 1);
         return slice(big, {0, 0}, {a.shape(0), 2 * a.shape(1)}, {1, 2});
       }},
      {"broadcast_row", [](const array& a) { return broadcast_to(slice(a, {0, 0}, {1, a.shape(1)}), a.shape()); }},
      {"broadcast_scalar", [](const array& a) { return broadcast_to(reshape(slice(a, {0, 0}, {1, 1}), {}), a.shape()); }},
  };
}

array random_input(const Shape& shape, Dtype dtype, uint64_t seed, bool positive = false) {
  auto k = random::key(seed);
  if (dtype == bool_) return random::bernoulli(array(0.5f), shape, k, Device::cpu);
  if (is_integral(dtype)) {
    int lo = (dtype == uint8 || dtype == uint16 || dtype == uint32 || dtype == uint64 || positive) ? 1 : -50;
    return random::randint(array(lo), array(50), shape, dtype, k, Device::cpu);
  }
  array u = random::uniform(positive ? array(0.1f) : array(-2.0f), array(2.0f), shape, float32, k, Device::cpu);
  return astype(u, dtype, Device::cpu);
}

double tolerance(Dtype dtype, double base) {
  if (dtype == float16 || dtype == bfloat16) return std::max(base, 2e-2);
  if (dtype == float64) return base * 1e-3;
  return base;
}

void compare(const array& cpu_result, const array& gpu_result, double tol, const std::string& what) {
  ASSERT_EQ(cpu_result.shape(), gpu_result.shape()) << what;
  ASSERT_EQ(cpu_result.dtype(), gpu_result.dtype()) << what;
  if (cpu_result.size() == 0) return;
  Dtype t = cpu_result.dtype();
  if (t == complex64) {
    compare(real(cpu_result, Device::cpu), real(gpu_result, Device::cpu), tol, what + " (real)");
    compare(imag(cpu_result, Device::cpu), imag(gpu_result, Device::cpu), tol, what + " (imag)");
    return;
  }
  array c = contiguous(astype(cpu_result, float64, Device::cpu), false, Device::cpu);
  array g = contiguous(astype(gpu_result, float64, Device::cpu), false, Device::cpu);
  eval(c, g);
  const double* pc = c.data<double>();
  const double* pg = g.data<double>();
  size_t bad = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    double want = pc[i], got = pg[i];
    bool ok = (std::isnan(want) && std::isnan(got)) || want == got ||
              std::fabs(want - got) <= tol * (1.0 + std::fabs(want));
    if (!ok && bad++ < 5) ADD_FAILURE() << what << ": element " << i << " cpu " << want << " gpu " << got;
  }
  EXPECT_EQ(bad, 0u) << what;
}

struct Case {
  std::string name;
  int arity;
  std::vector<Dtype> dtypes;
  OpFn fn;
  double tol = 1e-5;
  bool positive = false;  // inputs in (0.1, 2) (logs, roots, ...)
};

std::vector<Dtype> floats() { return {float32, float16, bfloat16, float64}; }
std::vector<Dtype> numbers() { return {float32, float16, bfloat16, float64, int32, int64, uint8, int16, uint32}; }

#define UNARY(fname, ...) Case{#fname, 1, __VA_ARGS__, [](const std::vector<array>& x, StreamOrDevice s) { return fname(x[0], s); }}
#define BINARY(fname, ...) \
  Case{#fname, 2, __VA_ARGS__, [](const std::vector<array>& x, StreamOrDevice s) { return fname(x[0], x[1], s); }}

std::vector<Case> cases() {
  std::vector<Case> cs = {
      UNARY(abs, numbers()), UNARY(negative, {float32, float16, bfloat16, float64, int32, int64, int8}),
      UNARY(sign, numbers()), UNARY(square, numbers()), UNARY(exp, floats()), UNARY(expm1, floats()),
      UNARY(sin, floats()), UNARY(cos, floats()), UNARY(tan, floats()), UNARY(tanh, floats()),
      UNARY(sinh, floats()), UNARY(cosh, floats()), UNARY(arctan, floats()), UNARY(arcsinh, floats()),
      UNARY(sigmoid, floats()), UNARY(erf, floats()), UNARY(floor, floats()), UNARY(ceil, floats()),
      Case{"round", 1, floats(), [](const std::vector<array>& x, StreamOrDevice s) { return round(x[0], 0, s); }}, UNARY(isnan, floats()), UNARY(logical_not, {bool_}),
      UNARY(bitwise_invert, {int32, uint8, int64, uint32}),
      BINARY(add, numbers()), BINARY(subtract, numbers()), BINARY(multiply, numbers()),
      BINARY(maximum, numbers()), BINARY(minimum, numbers()), BINARY(equal, numbers()),
      BINARY(not_equal, numbers()), BINARY(less, numbers()), BINARY(greater_equal, numbers()),
      BINARY(arctan2, floats()), BINARY(logaddexp, floats()), BINARY(logical_and, {bool_}),
      BINARY(logical_or, {bool_}), BINARY(bitwise_and, {int32, uint8, int64}),
      BINARY(bitwise_xor, {int32, uint16, int64}),
  };
  auto add_case = [&](Case c) { cs.push_back(std::move(c)); };
  for (auto* n : {"log", "log1p", "log2", "log10", "sqrt", "rsqrt", "reciprocal", "arccosh"}) {
    std::string name = n;
    add_case(Case{name, 1, floats(),
                  [name](const std::vector<array>& x, StreamOrDevice s) {
                    if (name == "log") return log(x[0], s);
                    if (name == "log1p") return log1p(x[0], s);
                    if (name == "log2") return log2(x[0], s);
                    if (name == "log10") return log10(x[0], s);
                    if (name == "sqrt") return sqrt(x[0], s);
                    if (name == "rsqrt") return rsqrt(x[0], s);
                    if (name == "reciprocal") return reciprocal(x[0], s);
                    return arccosh(add(x[0], array(1.0f, x[0].dtype()), s), s);
                  },
                  1e-5, true});
  }
  add_case({"divide", 2, floats(), [](auto& x, StreamOrDevice s) { return divide(x[0], x[1], s); }, 1e-5, true});
  add_case({"floor_divide", 2, {float32, int32, int64, uint8},
            [](auto& x, StreamOrDevice s) { return floor_divide(x[0], x[1], s); }, 1e-5, true});
  add_case({"remainder", 2, {float32, int32, int64, uint8},
            [](auto& x, StreamOrDevice s) { return remainder(x[0], x[1], s); }, 1e-5, true});
  add_case({"power", 2, {float32, float64}, [](auto& x, StreamOrDevice s) { return power(x[0], x[1], s); }, 1e-5, true});
  add_case({"where", 2, numbers(), [](auto& x, StreamOrDevice s) {
              return where(greater(x[0], x[1], s), x[0], x[1], s);
            }});
  for (Dtype to : {float32, float16, bfloat16, float64, int32, uint8, bool_, int64, complex64}) {
    add_case({std::string("astype_") + dtype_name(to), 1, numbers(),
              [to](auto& x, StreamOrDevice s) { return astype(x[0], to, s); }});
  }
  // Reductions over each axis and all axes.
  for (int axis : {-1, 0}) {
    std::string ax = std::to_string(axis);
    add_case({"sum" + ax, 1, numbers(), [axis](auto& x, StreamOrDevice s) { return sum(x[0], axis, false, s); }, 1e-4});
    add_case({"max" + ax, 1, numbers(), [axis](auto& x, StreamOrDevice s) { return max(x[0], axis, false, s); }});
    add_case({"min" + ax, 1, numbers(), [axis](auto& x, StreamOrDevice s) { return min(x[0], axis, false, s); }});
    add_case({"prod" + ax, 1, {float32, float64}, [axis](auto& x, StreamOrDevice s) { return prod(x[0], axis, false, s); }, 1e-4});
    add_case({"argmax" + ax, 1, numbers(), [axis](auto& x, StreamOrDevice s) { return argmax(x[0], axis, false, s); }});
    add_case({"argmin" + ax, 1, numbers(), [axis](auto& x, StreamOrDevice s) { return argmin(x[0], axis, false, s); }});
    add_case({"any" + ax, 1, {bool_}, [axis](auto& x, StreamOrDevice s) { return any(x[0], axis, false, s); }});
    add_case({"all" + ax, 1, {bool_}, [axis](auto& x, StreamOrDevice s) { return all(x[0], axis, false, s); }});
    add_case({"logsumexp" + ax, 1, floats(), [axis](auto& x, StreamOrDevice s) { return logsumexp(x[0], axis, false, s); }, 1e-5});
    add_case({"softmax" + ax, 1, floats(), [axis](auto& x, StreamOrDevice s) { return softmax(x[0], axis, false, s); }, 1e-5});
    add_case({"cumsum" + ax, 1, {float32, int32}, [axis](auto& x, StreamOrDevice s) { return cumsum(x[0], axis, false, true, s); }, 1e-4});
    add_case({"sort" + ax, 1, {float32, int32}, [axis](auto& x, StreamOrDevice s) { return sort(x[0], axis, s); }});
  }
  add_case({"sum_all", 1, numbers(), [](auto& x, StreamOrDevice s) { return sum(x[0], false, s); }, 1e-4});
  add_case({"max_all", 1, numbers(), [](auto& x, StreamOrDevice s) { return max(x[0], false, s); }});
  add_case({"log_softmax", 1, floats(), [](auto& x, StreamOrDevice s) {
              return subtract(x[0], logsumexp(x[0], -1, true, s), s);
            }, 1e-5});
  add_case({"matmul", 2, {float32, float16, bfloat16, float64}, [](auto& x, StreamOrDevice s) {
              return matmul(x[0], transpose(x[1], s), s);
            }, 1e-4});
  add_case({"addmm", 2, {float32, float16, bfloat16}, [](auto& x, StreamOrDevice s) {
              return addmm(x[0], x[0], transpose(x[1], s), 0.5f, 2.0f, s);
            }, 1e-4});
  add_case({"take", 1, numbers(), [](auto& x, StreamOrDevice s) {
              return take(x[0], array({2, 0, 1, 2}, int32), 1, s);
            }});
  add_case({"concatenate", 2, numbers(), [](auto& x, StreamOrDevice s) { return concatenate({x[0], x[1]}, 1, s); }});
  add_case({"pad", 1, numbers(), [](auto& x, StreamOrDevice s) {
              return pad(x[0], {{1, 2}, {0, 3}}, array(0, x[0].dtype()), "constant", s);
            }});
  return cs;
}

}  // namespace

TEST(BackendConsistency, EveryCaseMatchesTheCpu) {
  if (!gpu::is_available()) GTEST_SKIP() << gpu::unavailable_reason();
  const std::vector<Shape> shapes = {{37, 129}, {3, 1}, {1, 1}, {0, 5}, {256, 1024}};
  int run = 0;
  uint64_t seed = 1;
  for (auto& c : cases()) {
    for (Dtype t : c.dtypes) {
      for (auto& shape : shapes) {
        for (auto& layout : layouts()) {
          if (shape[0] == 0 && std::string(layout.name).rfind("broadcast", 0) == 0) continue;
          std::vector<array> ins;
          for (int i = 0; i < c.arity; ++i) ins.push_back(layout.view(random_input(shape, t, seed++, c.positive)));
          eval(ins);
          std::string what = c.name + " " + dtype_name(t) + " " + layout.name + " (" + std::to_string(shape[0]) +
                             ", " + std::to_string(shape[1]) + ")";
          std::optional<array> want, got;
          try {
            want = c.fn(ins, Device::cpu);
            want->eval();
          } catch (const std::exception&) {
            continue;  // not defined for this dtype on any backend
          }
          try {
            got = c.fn(ins, Device::gpu);
            got->eval();
          } catch (const std::exception& e) {
            ADD_FAILURE() << what << ": the CPU ran it but the GPU threw: " << e.what();
            continue;
          }
          compare(*want, *got, tolerance(t, c.tol), what);
          ++run;
        }
      }
    }
  }
  std::cout << "backend consistency: " << run << " op/dtype/layout/shape cases matched the CPU\n";
  EXPECT_GT(run, 1000);
}

TEST(BackendConsistency, RandomBitsAreIdenticalOnBothDevices) {
  if (!gpu::is_available()) GTEST_SKIP() << gpu::unavailable_reason();
  auto k = random::key(42);
  array a = random::bits({1000, 3}, 4, k, Device::cpu);
  array b = random::bits({1000, 3}, 4, k, Device::gpu);
  EXPECT_TRUE(array_equal(a, b, false, Device::cpu).item<bool>());
  array u = random::normal({257}, float32, 0.0f, 1.0f, k, Device::cpu);
  array v = random::normal({257}, float32, 0.0f, 1.0f, k, Device::gpu);
  EXPECT_TRUE(allclose(u, v, 1e-6, 1e-6, false, Device::cpu).item<bool>());
}
