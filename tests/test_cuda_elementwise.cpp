// The CUDA elementwise kernels against the CPU kernels: every variant the generator
// produces (each Unary/Binary op on each dtype it supports, Select, AsType between every
// pair of dtypes, Copy), built as the primitive itself on the GPU stream and on the CPU
// stream from the same random inputs, over layouts: contiguous, transposed, sliced with
// steps, broadcast (row and scalar), offset (dense but not 16-byte aligned), 0-d, empty.
// Skipped without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <cstdlib>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "ember/backend/gpu.h"
#include "ember/ember.h"
#include "ember/primitives.h"

#ifdef EMBER_HAS_CUDA
#include "ember/backend/cuda/elementwise_codegen.h"
#include "gpu_test_utils.h"
#endif

using namespace ember;

#ifdef EMBER_HAS_CUDA

namespace {

namespace ew = ember::gpu::ew;

// ------------------------------------------------------------------ inputs

// Value ranges inside each function's domain, and away from the CPU's undefined cases
// (integer division by zero, float -> int overflow).
enum class Domain { Any, Positive, Unit, AboveOne, NonZero, Small };

struct Range {
  double lo, hi;
};

Range range_for(Domain d, Dtype t) {
  const bool is_unsigned_t = t == uint8 || t == uint16 || t == uint32 || t == uint64;
  if (is_integral(t)) {
    switch (d) {
      case Domain::Positive:
      case Domain::NonZero:
        return {1, 40};
      case Domain::Small:
        return {is_unsigned_t ? 0.0 : -3.0, 12};
      default:
        return {is_unsigned_t ? 0.0 : -40.0, 40};
    }
  }
  switch (d) {
    case Domain::Positive:
      return {0.1, 3.0};
    case Domain::Unit:
      return {-0.95, 0.95};
    case Domain::AboveOne:
      return {1.1, 4.0};
    case Domain::NonZero:
      return {0.25, 3.0};  // sign flipped at random below
    default:
      return {-3.0, 3.0};
  }
}

// A row-contiguous CPU array of `shape` with random values of `dtype`.
array random_array(const Shape& shape, Dtype dtype, Domain dom, uint32_t seed) {
  std::mt19937 g(seed);
  int64_t n = 1;
  for (auto s : shape) n *= s;
  if (dtype == bool_) {
    std::vector<uint8_t> v(n);
    for (auto& x : v) x = g() & 1;
    return astype(array(v, shape, uint8), bool_, Device::cpu);
  }
  Range r = range_for(dom, dtype);
  std::uniform_real_distribution<double> u(r.lo, r.hi);
  auto draw = [&] {
    double x = u(g);
    if (dom == Domain::NonZero && (g() & 1)) x = -x;
    if (is_integral(dtype)) x = std::round(x);
    if (dom == Domain::NonZero && x == 0) x = 1;
    return x;
  };
  if (dtype == complex64) {
    std::vector<complex64_t> v(n);
    for (auto& x : v) x = complex64_t(static_cast<float>(draw()), static_cast<float>(draw()));
    return array(v, shape, complex64);
  }
  std::vector<double> v(n);
  for (auto& x : v) x = draw();
  return array(v, shape, dtype);
}

// ------------------------------------------------------------------ layouts

constexpr int R = 5, C = 37;  // odd sizes: vector tails and misaligned rows

struct Layout {
  const char* name;
  Shape shape;  // the logical shape the view has
  // A CPU view of that shape over fresh random data.
  std::function<array(Dtype, Domain, uint32_t)> make;
};

std::vector<Layout> layouts() {
  const Device cpu = Device::cpu;
  return {
      {"contiguous",
       {R, C},
       [](Dtype t, Domain d, uint32_t s) {
         return random_array({R, C}, t, d, s);
       }},
      {"transposed",
       {R, C},
       [cpu](Dtype t, Domain d, uint32_t s) {
         return transpose(random_array({C, R}, t, d, s), cpu);
       }},
      {"sliced",
       {R, C},
       [cpu](Dtype t, Domain d, uint32_t s) {
         return slice(random_array({2 * R, 2 * C + 1}, t, d, s), {0, 1}, {2 * R, 2 * C + 1}, {2, 2}, cpu);
       }},
      {"broadcast_row",
       {R, C},
       [cpu](Dtype t, Domain d, uint32_t s) {
         return broadcast_to(random_array({C}, t, d, s), {R, C}, cpu);
       }},
      {"broadcast_scalar",
       {R, C},
       [cpu](Dtype t, Domain d, uint32_t s) {
         return broadcast_to(random_array({}, t, d, s), {R, C}, cpu);
       }},
      {"offset",
       {R * C},  // dense, starting one element into its buffer
       [cpu](Dtype t, Domain d, uint32_t s) {
         return slice(random_array({R * C + 1}, t, d, s), {1}, {R * C + 1}, cpu);
       }},
      {"0-d", {}, [](Dtype t, Domain d, uint32_t s) { return random_array({}, t, d, s); }},
      {"empty",
       {0, 7},
       [](Dtype t, Domain d, uint32_t s) {
         return random_array({0, 7}, t, d, s);
       }},
  };
}

// ------------------------------------------------------------------ running and comparing

using MakePrimitive = std::function<std::shared_ptr<Primitive>(Stream)>;

// The primitive on `device`'s default stream over `inputs`, evaluated.
array run_on(Device device, const MakePrimitive& make, Shape shape, Dtype out, const std::vector<array>& inputs) {
  array r(std::move(shape), out, make(default_stream(device)), inputs);
  eval(r);
  return r;
}

// True when `a` came from a CUDA kernel: its buffer is device-only until a host read.
// A declined op runs its CPU kernel, whose output is host-resident.
bool computed_on_gpu(const array& a) {
  const auto& d = a.data_shared_ptr();
  return d && !d->host_valid.load();
}

// The primitive on the GPU, which must not have fallen back to the CPU kernel.
array run_gpu(const MakePrimitive& make, Shape shape, Dtype out, const std::vector<array>& inputs,
              const std::string& what) {
  array r = run_on(Device::gpu, make, std::move(shape), out, inputs);
  EXPECT_TRUE(computed_on_gpu(r)) << what << ": the CUDA kernel declined";
  return r;
}

std::vector<double> host_doubles(const array& a) {
  array c = contiguous(astype(a, float64, Device::cpu), false, Device::cpu);
  eval(c);
  const double* p = c.data<double>();
  return std::vector<double>(p, p + c.size());
}

// Max error relative to max(1, |cpu value|). Integer results, conversions and the
// correctly rounded float ops (+ - * /, sqrt, floor, comparisons, ...) must match exactly;
// the math library functions may differ by a few ulp between CUDA and glibc.
double tolerance(Dtype compute, bool library_fn) {
  if (!library_fn) return compute == complex64 ? 1e-5 : 0.0;  // complex *, / and abs round differently
  if (compute == float16) return 2e-3;
  if (compute == bfloat16) return 1.6e-2;
  if (compute == float64) return 1e-13;
  return 1e-5;  // float32, complex64
}

void compare(const array& want, const array& got, double tol, const std::string& what) {
  ASSERT_EQ(want.shape(), got.shape()) << what;
  ASSERT_EQ(want.dtype(), got.dtype()) << what;
  if (want.size() == 0) return;
  if (want.dtype() == complex64) {
    compare(real(want, Device::cpu), real(got, Device::cpu), tol, what + " (real)");
    compare(imag(want, Device::cpu), imag(got, Device::cpu), tol, what + " (imag)");
    return;
  }
  auto w = host_doubles(want), g = host_doubles(got);
  size_t bad = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    bool ok = (std::isnan(w[i]) && std::isnan(g[i])) || w[i] == g[i] ||
              std::fabs(w[i] - g[i]) <= tol * std::max(1.0, std::fabs(w[i]));
    if (!ok && bad++ < 4) ADD_FAILURE() << what << ": element " << i << " cpu " << w[i] << " gpu " << g[i];
  }
  EXPECT_EQ(bad, 0u) << what;
}

bool unary_is_library_fn(UnaryOp op) {
  switch (op) {
    case UnaryOp::Abs:
    case UnaryOp::Negative:
    case UnaryOp::Sign:
    case UnaryOp::Sqrt:
    case UnaryOp::Rsqrt:
    case UnaryOp::Square:
    case UnaryOp::Reciprocal:
    case UnaryOp::Floor:
    case UnaryOp::Ceil:
    case UnaryOp::Round:
    case UnaryOp::IsNan:
    case UnaryOp::LogicalNot:
    case UnaryOp::BitwiseInvert:
    case UnaryOp::Conjugate:
    case UnaryOp::Real:
    case UnaryOp::Imag:
      return false;
    default:
      return true;
  }
}

Domain unary_domain(UnaryOp op) {
  switch (op) {
    case UnaryOp::Sqrt:
    case UnaryOp::Rsqrt:
    case UnaryOp::Log:
    case UnaryOp::Log1p:
    case UnaryOp::Log2:
    case UnaryOp::Log10:
      return Domain::Positive;
    case UnaryOp::ArcSin:
    case UnaryOp::ArcCos:
    case UnaryOp::ArcTanh:
    case UnaryOp::ErfInv:
    case UnaryOp::Tan:
      return Domain::Unit;
    case UnaryOp::ArcCosh:
      return Domain::AboveOne;
    case UnaryOp::Reciprocal:
      return Domain::NonZero;
    default:
      return Domain::Any;
  }
}

bool binary_is_library_fn(BinaryOp op, Dtype t) {
  switch (op) {
    case BinaryOp::Power:
      return is_inexact(t);
    case BinaryOp::ArcTan2:
    case BinaryOp::LogAddExp:
      return true;
    default:
      return false;
  }
}

std::pair<Domain, Domain> binary_domains(BinaryOp op, Dtype t) {
  switch (op) {
    case BinaryOp::Divide:
      return {Domain::Any, Domain::NonZero};
    case BinaryOp::Power:
      return is_integral(t) ? std::pair{Domain::Any, Domain::Small} : std::pair{Domain::Positive, Domain::Any};
    case BinaryOp::LeftShift:
    case BinaryOp::RightShift:
      return {Domain::Any, Domain::Small};
    default:
      return {Domain::Any, Domain::Any};
  }
}

const Layout& layout(const std::string& name) {
  static const auto all = layouts();
  for (const auto& l : all) {
    if (name == l.name) return l;
  }
  throw std::invalid_argument("no layout " + name);
}

std::string describe(const ew::Variant& v) { return ew::kernel_name(v, ew::Pattern::Contig); }

void check_unary_variant(const ew::Variant& v, const std::vector<std::string>& layout_names, uint32_t seed) {
  auto op = static_cast<UnaryOp>(v.op);
  MakePrimitive make = [op](Stream s) { return std::make_shared<Unary>(s, op); };
  double tol = tolerance(v.in, unary_is_library_fn(op));
  for (const auto& name : layout_names) {
    const Layout& l = layout(name);
    array x = l.make(v.in, unary_domain(op), seed++);
    array want = run_on(Device::cpu, make, l.shape, v.out, {x});
    std::string what = describe(v) + " on " + name;
    compare(want, run_gpu(make, l.shape, v.out, {x}, what), tol, what);
  }
}

void check_binary_variant(const ew::Variant& v, const std::vector<std::pair<std::string, std::string>>& pairs,
                          uint32_t seed) {
  auto op = static_cast<BinaryOp>(v.op);
  MakePrimitive make = [op](Stream s) { return std::make_shared<Binary>(s, op); };
  double tol = tolerance(v.in, binary_is_library_fn(op, v.in));
  auto [da, db] = binary_domains(op, v.in);
  for (const auto& [na, nb] : pairs) {
    const Layout& la = layout(na);
    const Layout& lb = layout(nb);
    array a = la.make(v.in, da, seed++);
    array b = lb.make(v.in, db, seed++);
    array want = run_on(Device::cpu, make, la.shape, v.out, {a, b});
    std::string what = describe(v) + " on " + na + " x " + nb;
    compare(want, run_gpu(make, la.shape, v.out, {a, b}, what), tol, what);
  }
}

const std::vector<std::string> kUnaryLayouts = {"contiguous",       "transposed", "sliced", "broadcast_row",
                                                "broadcast_scalar", "offset",     "0-d",    "empty"};
const std::vector<std::pair<std::string, std::string>> kBinaryLayouts = {{"contiguous", "contiguous"},
                                                                         {"contiguous", "broadcast_scalar"},
                                                                         {"broadcast_scalar", "contiguous"},
                                                                         {"broadcast_row", "contiguous"},
                                                                         {"transposed", "sliced"},
                                                                         {"offset", "offset"},
                                                                         {"broadcast_scalar", "broadcast_row"},
                                                                         {"0-d", "0-d"},
                                                                         {"empty", "empty"}};

// Sets an environment variable for one scope.
struct ScopedEnv {
  std::string name;
  ScopedEnv(const char* n, const char* value) : name(n) { setenv(n, value, 1); }
  ~ScopedEnv() { unsetenv(name.c_str()); }
};

}  // namespace

TEST(CudaElementwise, EveryUnaryVariantMatchesTheCpu) {
  REQUIRE_GPU();
  uint32_t seed = 1;
  for (const auto& v : ew::all_variants()) {
    if (v.family == ew::Family::Unary) check_unary_variant(v, kUnaryLayouts, seed += 16);
  }
}

TEST(CudaElementwise, EveryBinaryVariantMatchesTheCpu) {
  REQUIRE_GPU();
  uint32_t seed = 7;
  for (const auto& v : ew::all_variants()) {
    if (v.family == ew::Family::Binary) check_binary_variant(v, kBinaryLayouts, seed += 32);
  }
}

TEST(CudaElementwise, SelectMatchesTheCpuOnEveryDtype) {
  REQUIRE_GPU();
  MakePrimitive make = [](Stream s) { return std::make_shared<Select>(s); };
  const std::vector<std::vector<std::string>> combos = {{"contiguous", "contiguous", "contiguous"},
                                                        {"broadcast_row", "broadcast_scalar", "transposed"},
                                                        {"sliced", "contiguous", "broadcast_scalar"},
                                                        {"offset", "offset", "offset"},
                                                        {"0-d", "0-d", "0-d"},
                                                        {"empty", "empty", "empty"}};
  uint32_t seed = 11;
  for (Dtype t : kAllDtypes) {
    for (const auto& c : combos) {
      array cond = layout(c[0]).make(bool_, Domain::Any, seed++);
      array x = layout(c[1]).make(t, Domain::Any, seed++);
      array y = layout(c[2]).make(t, Domain::Any, seed++);
      const Shape& shape = layout(c[0]).shape;
      std::string what = "select " + dtype_name(t) + " on " + c[0] + "/" + c[1] + "/" + c[2];
      compare(run_on(Device::cpu, make, shape, t, {cond, x, y}), run_gpu(make, shape, t, {cond, x, y}, what), 0.0,
              what);
    }
  }
}

TEST(CudaElementwise, AsTypeMatchesTheCpuBetweenEveryPairOfDtypes) {
  REQUIRE_GPU();
  uint32_t seed = 13;
  for (Dtype from : kAllDtypes) {
    for (Dtype to : kAllDtypes) {
      MakePrimitive make = [to](Stream s) { return std::make_shared<AsType>(s, to); };
      // Values every target holds without overflow (float -> int overflow is undefined
      // on the CPU); wider integers go through the half types' rounding.
      for (const char* name : {"contiguous", "transposed", "offset", "0-d", "empty"}) {
        const Layout& l = layout(name);
        Domain dom = (to == uint8 || to == uint16 || to == uint32 || to == uint64) ? Domain::Positive : Domain::Any;
        array x = l.make(from, dom, seed++);
        if (is_inexact(from) && !is_integral(to)) x = multiply(x, array(1000.0f, from), Device::cpu);
        std::string what = "astype " + dtype_name(from) + " -> " + dtype_name(to) + " on " + name;
        compare(run_on(Device::cpu, make, l.shape, to, {x}), run_gpu(make, l.shape, to, {x}, what), 0.0, what);
      }
    }
  }
}

TEST(CudaElementwise, AsTypeRoundsSpecialValuesLikeTheCpu) {
  REQUIRE_GPU();
  // Ties, overflow to inf, subnormals, nan, -0 and 64-bit integers past float32's precision.
  std::vector<double> f = {0.0,
                           -0.0,
                           1.0 + 1.0 / 2048,
                           1.0 + 3.0 / 2048,
                           65504.0,
                           65520.0,
                           1e-7,
                           6e-8,
                           1e-40,
                           3.0e38,
                           1e300,
                           -1e300,
                           std::nan(""),
                           INFINITY,
                           -INFINITY,
                           1.0 + 1.0 / 256 + 1e-12};
  std::vector<int64_t> i = {0, 1, -1, 2049, 16777217, -16777217, (int64_t{1} << 53) + 1, INT64_MAX, INT64_MIN};
  for (Dtype to : {float16, bfloat16, float32, bool_, complex64}) {
    MakePrimitive make = [to](Stream s) { return std::make_shared<AsType>(s, to); };
    for (Dtype from : {float64, float32}) {
      array x = array(f, {static_cast<int32_t>(f.size())}, from);
      compare(run_on(Device::cpu, make, x.shape(), to, {x}),
              run_gpu(make, x.shape(), to, {x}, "specials " + dtype_name(from) + " -> " + dtype_name(to)), 0.0,
              "specials " + dtype_name(from) + " -> " + dtype_name(to));
    }
    array y = array(i, {static_cast<int32_t>(i.size())}, int64);
    compare(run_on(Device::cpu, make, y.shape(), to, {y}),
            run_gpu(make, y.shape(), to, {y}, "specials int64 -> " + dtype_name(to)), 0.0,
            "specials int64 -> " + dtype_name(to));
  }
}

TEST(CudaElementwise, CopyMakesRowContiguousCopies) {
  REQUIRE_GPU();
  uint32_t seed = 17;
  for (Dtype t : kAllDtypes) {
    MakePrimitive make = [](Stream s) { return std::make_shared<Copy>(s); };
    for (const auto& name : kUnaryLayouts) {
      const Layout& l = layout(name);
      array x = l.make(t, Domain::Any, seed++);
      array got = run_on(Device::gpu, make, l.shape, t, {x});
      EXPECT_TRUE(got.flags().row_contiguous) << name;
      // A row-contiguous input is shared, not copied (as on the CPU).
      if (!x.flags().row_contiguous) EXPECT_TRUE(computed_on_gpu(got)) << "copy " << dtype_name(t) << " on " << name;
      compare(run_on(Device::cpu, make, l.shape, t, {x}), got, 0.0, "copy " + dtype_name(t) + " on " + name);
    }
  }
}

// EMBER_CUDA_INDEX64=1 sends the strided launches through the 64-bit index kernels
// (real 2^31-element arrays would take too long here).
TEST(CudaElementwise, SixtyFourBitIndexKernelsMatchTheCpu) {
  REQUIRE_GPU();
  ScopedEnv env("EMBER_CUDA_INDEX64", "1");
  const std::vector<std::string> strided = {"transposed", "sliced", "broadcast_row", "0-d"};
  for (Dtype t : {float32, float16, int64, complex64}) {
    if (auto o = ew::unary_output(UnaryOp::Negative, t)) {
      check_unary_variant({ew::Family::Unary, static_cast<int>(UnaryOp::Negative), t, *o}, strided, 101);
    }
    if (auto o = ew::binary_output(BinaryOp::Add, t)) {
      check_binary_variant({ew::Family::Binary, static_cast<int>(BinaryOp::Add), t, *o},
                           {{"transposed", "sliced"}, {"broadcast_row", "broadcast_scalar"}}, 103);
    }
  }
  MakePrimitive make = [](Stream s) { return std::make_shared<AsType>(s, float16); };
  array x = layout("transposed").make(float32, Domain::Any, 107);
  compare(run_on(Device::cpu, make, {R, C}, float16, {x}), run_gpu(make, {R, C}, float16, {x}, "astype strided64"), 0.0,
          "astype strided64");
}

TEST(CudaElementwise, ArangeMatchesTheCpu) {
  REQUIRE_GPU();
  for (Dtype t : kAllDtypes) {
    if (t == bool_ || t == complex64) continue;
    const bool is_unsigned_t = t == uint8 || t == uint16 || t == uint32 || t == uint64;
    for (auto [start, step, n] : {std::tuple{0.0, 1.0, 1000}, std::tuple{-3.5, 0.1, 77}, std::tuple{2.0, 3.0, 0}}) {
      if (is_unsigned_t && start < 0) start = 1.0;
      MakePrimitive make = [=](Stream s) { return std::make_shared<Arange>(s, start, step, n, t); };
      std::string what = "arange " + dtype_name(t) + " from " + std::to_string(start);
      compare(run_on(Device::cpu, make, {n}, t, {}), run_gpu(make, {n}, t, {}, what), 0.0, what);
    }
  }
}

// Several thousand blocks, a grid-stride pass and a ragged vector tail.
TEST(CudaElementwise, LargeArraysMatchTheCpu) {
  REQUIRE_GPU();
  const Shape shape = {(1 << 21) + 3};
  array a = random_array(shape, float32, Domain::Any, 201);
  array b = random_array(shape, float32, Domain::Any, 202);
  MakePrimitive add = [](Stream s) { return std::make_shared<Binary>(s, BinaryOp::Add); };
  compare(run_on(Device::cpu, add, shape, float32, {a, b}), run_gpu(add, shape, float32, {a, b}, "large add"), 0.0,
          "large add");
  MakePrimitive ex = [](Stream s) { return std::make_shared<Unary>(s, UnaryOp::Exp); };
  compare(run_on(Device::cpu, ex, shape, float32, {a}), run_gpu(ex, shape, float32, {a}, "large exp"), 1e-5,
          "large exp");
  array t = transpose(random_array({1024, 2051}, bfloat16, Domain::Any, 203), Device::cpu);
  MakePrimitive cast = [](Stream s) { return std::make_shared<AsType>(s, float32); };
  compare(run_on(Device::cpu, cast, t.shape(), float32, {t}),
          run_gpu(cast, t.shape(), float32, {t}, "large transposed astype"), 0.0, "large transposed astype");
}

#endif  // EMBER_HAS_CUDA
