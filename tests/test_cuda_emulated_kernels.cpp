// The generated CUDA elementwise kernels, run on the CPU emulator: each program
// is generated for Target::Emulator (the same kernel source, the emulator's
// prelude), compiled by the host compiler into a shared library, loaded, and
// every kernel of it (each access pattern) is launched the way the CUDA backend
// launches it and compared with the CPU backend. Needs no GPU: this is how CI
// runs the GPU kernels.
#ifdef EMBER_HAS_CUDA

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "ember/backend/common/utils.h"
#include "ember/backend/cuda/elementwise_codegen.h"
#include "ember/ember.h"
#include "ember/primitives.h"
#include "emulated_program.h"
#include "test_utils.h"

using namespace ember;
namespace ew = ember::gpu::ew;
namespace fs = std::filesystem;

namespace {

// A generated elementwise program compiled for the emulator and loaded.
class EmulatedProgram : public test_utils::EmulatedProgram {
 public:
  EmulatedProgram(const std::vector<ew::Variant>& variants, const std::string& name)
      : test_utils::EmulatedProgram(ew::program_source(variants, ew::Target::Emulator), name) {}
};

// Values of dtype t; `divisor`: small positive integers (integer division, shifts and powers
// by zero or by large counts differ between C++ implementations).
array random_values(const Shape& shape, Dtype t, uint64_t seed, bool divisor = false) {
  auto k = random::key(seed);
  if (t == bool_) return random::bernoulli(array(0.5f), shape, k, Device::cpu);
  if (t == complex64) {
    array re = random::uniform(array(-2.0f), array(2.0f), shape, float32, k, Device::cpu);
    array im = random::uniform(array(-2.0f), array(2.0f), shape, float32, random::key(seed + 7), Device::cpu);
    return add(astype(re, complex64, Device::cpu),
               multiply(astype(im, complex64, Device::cpu), array(complex64_t(0.0f, 1.0f)), Device::cpu),
               Device::cpu);
  }
  if (is_integral(t)) {
    bool is_unsigned = t == uint8 || t == uint16 || t == uint32 || t == uint64;
    if (divisor) return random::randint(array(1), array(6), shape, t, k, Device::cpu);
    return random::randint(array(is_unsigned ? 0 : -20), array(20), shape, t, k, Device::cpu);
  }
  return astype(random::uniform(array(-3.0f), array(3.0f), shape, float32, k, Device::cpu), t, Device::cpu);
}

// Runs primitive `p` on the CPU.
array cpu_reference(std::shared_ptr<Primitive> p, const Shape& shape, Dtype out, std::vector<array> ins) {
  array r(shape, out, std::move(p), std::move(ins));
  r.eval();
  return r;
}

void expect_match(const array& want, const std::vector<char>& got_bytes, const std::string& what) {
  array got = dispatch_dtype(want.dtype(), [&](auto t) {
    using T = decltype(t);
    return array(reinterpret_cast<const T*>(got_bytes.data()), want.shape(), want.dtype());
  });
  auto as_doubles = [](const array& a, bool imag) {
    array x = imag ? ember::imag(a, Device::cpu) : (a.dtype() == complex64 ? real(a, Device::cpu) : a);
    x = contiguous(astype(x, float64, Device::cpu), false, Device::cpu);
    x.eval();
    return std::vector<double>(x.data<double>(), x.data<double>() + x.size());
  };
  Dtype t = want.dtype();
  double tol = (t == float16 || t == bfloat16) ? 1e-2 : (t == float32 || t == complex64) ? 2e-5 : 1e-12;
  int parts = t == complex64 ? 2 : 1;
  for (int part = 0; part < parts; ++part) {
    auto w = as_doubles(want, part == 1), g = as_doubles(got, part == 1);
    int bad = 0;
    for (size_t i = 0; i < w.size() && bad < 3; ++i) {
      bool ok = (std::isnan(w[i]) && std::isnan(g[i])) || w[i] == g[i] ||
                std::fabs(w[i] - g[i]) <= tol * std::max(1.0, std::fabs(w[i]));
      if (!ok) {
        ++bad;
        ADD_FAILURE() << what << ": element " << i << " cpu " << w[i] << " emulated gpu " << g[i];
      }
    }
  }
}

template <int NARR>
ew::StridedArgs<NARR> strided_args(const Shape& out_shape, std::vector<Strides> strides) {
  strides.push_back(row_major_strides(out_shape));
  auto [shape, st] = collapse_contiguous_dims(out_shape, strides);
  ew::StridedArgs<NARR> a{};
  a.ndim = static_cast<int32_t>(shape.size());
  for (size_t d = 0; d < shape.size(); ++d) {
    a.shape[d] = shape[d];
    for (int k = 0; k < NARR; ++k) a.strides[k][d] = st[k][d];
  }
  return a;
}

// Few blocks of few threads, so the grid-stride loops take several turns.
constexpr unsigned kBlock = 64, kGrid = 3;

std::shared_ptr<Primitive> primitive_of(const ew::Variant& v) {
  Stream s = default_stream(Device::cpu);
  switch (v.family) {
    case ew::Family::Unary: return std::make_shared<Unary>(s, static_cast<UnaryOp>(v.op));
    case ew::Family::Binary: return std::make_shared<Binary>(s, static_cast<BinaryOp>(v.op));
    case ew::Family::Select: return std::make_shared<Select>(s);
    case ew::Family::AsType: return std::make_shared<AsType>(s, v.out);
    case ew::Family::Arange: break;
  }
  return nullptr;
}

// Runs every kernel of `v` from `prog` on dense, transposed and scalar inputs.
void check_variant(const EmulatedProgram& prog, const ew::Variant& v, uint64_t seed) {
  const Shape shape{13, 21};  // 273 elements: not a multiple of any vector width
  const int64_t n = 273;
  const int nin = v.family == ew::Family::Binary ? 2 : v.family == ew::Family::Select ? 3 : 1;
  std::vector<array> dense;
  for (int i = 0; i < nin; ++i) {
    Dtype t = (v.family == ew::Family::Select && i == 0) ? bool_ : v.in;
    dense.push_back(random_values(shape, t, seed * 10 + i, v.family == ew::Family::Binary && i == 1));
  }
  eval(dense);
  auto prim = primitive_of(v);
  std::string tag = ew::kernel_name(v, ew::Pattern::Contig);
  std::vector<char> out(n * v.out.size() + 64);

  // Dense (contig) kernel: n / width vectors.
  {
    std::vector<const void*> ptrs;
    for (auto& a : dense) ptrs.push_back(a.raw_ptr());
    void* o = out.data();
    int64_t n64 = n;
    std::vector<void*> args;
    for (auto& p : ptrs) args.push_back(&p);
    args.push_back(&o);
    args.push_back(&n64);
    prog.entry(ew::kernel_name(v, ew::Pattern::Contig))(kGrid, kBlock, seed, args.data());
    expect_match(cpu_reference(prim, shape, v.out, dense), out, tag + " contig");
  }
  // Strided kernels on transposed views of (21, 13) inputs.
  std::vector<array> views;
  for (int i = 0; i < nin; ++i) {
    Dtype t = (v.family == ew::Family::Select && i == 0) ? bool_ : v.in;
    views.push_back(
        transpose(random_values({21, 13}, t, seed * 10 + 5 + i, v.family == ew::Family::Binary && i == 1), Device::cpu));
  }
  eval(views);
  for (ew::Pattern p : {ew::Pattern::Strided32, ew::Pattern::Strided64}) {
    std::vector<Strides> st;
    std::vector<const void*> ptrs;
    for (auto& a : views) {
      st.push_back(a.strides());
      ptrs.push_back(a.raw_ptr());
    }
    void* o = out.data();
    int64_t n64 = n;
    std::vector<void*> args;
    for (auto& q : ptrs) args.push_back(&q);
    args.push_back(&o);
    args.push_back(&n64);
    ew::StridedArgs<1> s1;
    ew::StridedArgs<2> s2;
    ew::StridedArgs<3> s3;
    if (nin == 1) args.push_back(&(s1 = strided_args<1>(shape, st)));
    if (nin == 2) args.push_back(&(s2 = strided_args<2>(shape, st)));
    if (nin == 3) args.push_back(&(s3 = strided_args<3>(shape, st)));
    prog.entry(ew::kernel_name(v, p))(kGrid, kBlock, seed + 1, args.data());
    expect_match(cpu_reference(prim, shape, v.out, views), out,
                 tag + (p == ew::Pattern::Strided32 ? " strided32" : " strided64"));
  }
  // Binary with one operand a single value.
  if (v.family == ew::Family::Binary) {
    array one = random_values({1}, v.in, seed * 10 + 9, true);
    one.eval();
    for (ew::Pattern p : {ew::Pattern::ScalarVector, ew::Pattern::VectorScalar}) {
      bool scalar_first = p == ew::Pattern::ScalarVector;
      const void* a = scalar_first ? one.raw_ptr() : dense[0].raw_ptr();
      const void* b = scalar_first ? dense[1].raw_ptr() : one.raw_ptr();
      void* o = out.data();
      int64_t n64 = n;
      void* args[] = {&a, &b, &o, &n64};
      prog.entry(ew::kernel_name(v, p))(kGrid, kBlock, seed + 2, args);
      array bc = broadcast_to(reshape(one, {}, Device::cpu), shape, Device::cpu);
      std::vector<array> ins = scalar_first ? std::vector<array>{bc, dense[1]} : std::vector<array>{dense[0], bc};
      expect_match(cpu_reference(prim, shape, v.out, ins), out, tag + (scalar_first ? " sv" : " vs"));
    }
  }
}

// The variants run here: every op on float32 and on one integer and one half type, every
// conversion between a spread of dtypes, and select.
std::vector<ew::Variant> emulated_variants(ew::Family family) {
  std::vector<ew::Variant> out;
  for (const auto& v : ew::all_variants()) {
    if (v.family != family) continue;
    bool pick = false;
    switch (family) {
      case ew::Family::Unary:
      case ew::Family::Binary:
        pick = v.in == float32 || v.in == int32 || v.in == bfloat16 || v.in == bool_ || v.in == complex64;
        break;
      case ew::Family::AsType: {
        auto in_set = [](Dtype t) {
          return t == bool_ || t == uint8 || t == int32 || t == int64 || t == float16 || t == bfloat16 ||
                 t == float32 || t == float64 || t == complex64;
        };
        pick = in_set(v.in) && in_set(v.out);
        break;
      }
      case ew::Family::Select: pick = v.in == float32 || v.in == float16 || v.in == int64 || v.in == bool_; break;
      case ew::Family::Arange: pick = false; break;
    }
    if (pick) out.push_back(v);
  }
  return out;
}

void run_family(ew::Family family, const char* name) {
  auto variants = emulated_variants(family);
  ASSERT_FALSE(variants.empty());
  EmulatedProgram prog(variants, name);
  uint64_t seed = 1;
  for (const auto& v : variants) {
    SCOPED_TRACE(ew::kernel_name(v, ew::Pattern::Contig));
    check_variant(prog, v, seed++);
  }
  std::cout << "[ emulated ] " << variants.size() << " " << name << " variants, every access pattern\n";
}

}  // namespace

TEST(CudaEmulatedKernels, UnaryMatchesTheCpuBackend) { run_family(ew::Family::Unary, "unary"); }
TEST(CudaEmulatedKernels, BinaryMatchesTheCpuBackend) { run_family(ew::Family::Binary, "binary"); }
TEST(CudaEmulatedKernels, AsTypeMatchesTheCpuBackend) { run_family(ew::Family::AsType, "astype"); }
TEST(CudaEmulatedKernels, SelectMatchesTheCpuBackend) { run_family(ew::Family::Select, "select"); }

TEST(CudaEmulatedKernels, EveryOpIsEmulatedAndTheRestIsListed) {
  // Each unary and binary op runs on the emulator for at least one dtype.
  std::set<int> unary, binary;
  for (const auto& v : emulated_variants(ew::Family::Unary)) unary.insert(v.op);
  for (const auto& v : emulated_variants(ew::Family::Binary)) binary.insert(v.op);
  for (int op = 0; op <= static_cast<int>(UnaryOp::Imag); ++op) {
    EXPECT_TRUE(unary.count(op)) << unary_op_name(static_cast<UnaryOp>(op)) << " has no emulated variant";
  }
  for (int op = 0; op <= static_cast<int>(BinaryOp::RightShift); ++op) {
    EXPECT_TRUE(binary.count(op)) << binary_op_name(static_cast<BinaryOp>(op)) << " has no emulated variant";
  }
  std::cout << "[ not emulated ] Matmul/AddMM (cuBLASLt, a library: no kernel source), "
               "Reduce/ArgReduce/Softmax/LogSumExp (hand-written .cu, compiled by nvcc only), "
               "Arange (covered on the GPU only)\n";
}

#endif  // EMBER_HAS_CUDA
