// Compiles every generated elementwise kernel (each op x dtype x access pattern) to PTX
// with NVRTC. Needs the CUDA toolkit but no GPU, so CI catches a broken generator.
#if defined(EMBER_HAS_CUDA) && !defined(EMBER_CUDA_EMULATED)  // the emulated build has no NVRTC

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <ember/ember.h>

#include "ember/backend/cuda/elementwise_codegen.h"
#include "ember/backend/cuda/jit.h"
#include "ptx_compile_check.h"

using namespace ember;
namespace ew = ember::gpu::ew;

namespace {

std::vector<std::string> kernel_names(const ew::Variant& v) {
  std::vector<std::string> names;
  for (auto p : ew::patterns(v.family)) names.push_back(ew::kernel_name(v, p));
  return names;
}

}  // namespace

TEST(CudaJit, KernelNamesAreUnique) {
  std::set<std::string> seen;
  size_t kernels = 0;
  for (const auto& v : ew::all_variants()) {
    for (const auto& n : kernel_names(v)) {
      ++kernels;
      EXPECT_TRUE(seen.insert(n).second) << "duplicate kernel " << n;
    }
  }
  EXPECT_EQ(seen.size(), kernels);
}

TEST(CudaJit, SupportTablesMatchTheCpuKernels) {
  // Spot checks of the dtype tables against what backend/cpu accepts.
  EXPECT_EQ(ew::unary_output(UnaryOp::Abs, complex64), float32);
  EXPECT_EQ(ew::unary_output(UnaryOp::IsNan, bfloat16), bool_);
  EXPECT_EQ(ew::unary_output(UnaryOp::Exp, float64), float64);
  EXPECT_FALSE(ew::unary_output(UnaryOp::Exp, int32).has_value());
  EXPECT_FALSE(ew::unary_output(UnaryOp::LogicalNot, int8).has_value());
  EXPECT_EQ(ew::binary_output(BinaryOp::Less, float16), bool_);
  EXPECT_FALSE(ew::binary_output(BinaryOp::Less, complex64).has_value());
  EXPECT_FALSE(ew::binary_output(BinaryOp::Subtract, bool_).has_value());
  EXPECT_EQ(ew::binary_output(BinaryOp::LeftShift, bool_), bool_);
  EXPECT_FALSE(ew::binary_output(BinaryOp::BitwiseAnd, float32).has_value());
}

// Every variant, batched several to an NVRTC program (the runtime compiles one variant per
// program from the same pieces), over two threads to keep CI under a minute or so.
TEST(CudaJit, EveryElementwiseVariantCompilesToPtx) {
  const auto variants = ew::all_variants();
  ASSERT_GT(variants.size(), 600u);

  test_utils::expect_all_compile_to_ptx<ew::Variant>(
      "elementwise", variants, 32,
      [](const std::vector<ew::Variant>& batch, const std::string& name) {
        return ew::compile_program(batch, name, "compute_90");
      },
      kernel_names);
}

// compile's fused kernels: regions traced from a few functions (float, half with casts and
// where, integers), each access pattern, to PTX.
TEST(CudaJit, FusedKernelsCompileToPtx) {
  auto region = [](const MultiFn& f, std::vector<array> ins) {
    array out = compile(f)(ins)[0];
    auto* c = dynamic_cast<const Compiled*>(&out.primitive());
    EXPECT_NE(c, nullptr) << "not fused";
    return std::make_pair(out, c);
  };
  std::vector<std::pair<array, const Compiled*>> regions;
  regions.push_back(region(
      [](const std::vector<array>& x) {
        return std::vector<array>{0.5f * x[0] * (1.0f + tanh(0.79788456f * (x[0] + 0.044715f * x[0] * x[0] * x[0])))};
      },
      {zeros({8, 8})}));
  regions.push_back(region(
      [](const std::vector<array>& x) {
        return std::vector<array>{where(x[0] > x[1], exp(x[0]), astype(x[2], float16) - x[1])};
      },
      {zeros({8}, float16), zeros({8}, float16), zeros({8}, int32)}));
  regions.push_back(
      region([](const std::vector<array>& x) { return std::vector<array>{remainder(x[0] * x[1] + 3, x[1] + 1) << 2}; },
             {zeros({8}, int64), zeros({8}, int64)}));
  int k = 0;
  for (auto& [out, c] : regions) {
    ASSERT_NE(c, nullptr);
    ASSERT_TRUE(ew::fused_supported(*c));
    std::vector<bool> scalar(c->input_dtypes().size(), false);
    scalar.back() = true;
    for (auto p : {ew::Pattern::Contig, ew::Pattern::Strided32, ew::Pattern::Strided64}) {
      for (int width : {1, ew::fused_vector_width(*c)}) {
        if (width > 1 && p != ew::Pattern::Contig) continue;
        std::string name = "fused_test" + std::to_string(k++);
        std::string ptx =
            gpu::jit::compile(*ew::fused_source(*c, p, scalar, name, ew::Target::Device, width), name, "compute_90");
        EXPECT_NE(ptx.find(".entry " + name + "("), std::string::npos) << c->signature();
        // The vector form loads and stores whole vectors.
        if (width > 1) {
          EXPECT_NE(ptx.find("ld.global.v"), std::string::npos) << c->signature();
          EXPECT_NE(ptx.find("st.global.v"), std::string::npos) << c->signature();
        }
      }
    }
  }
}

#endif  // EMBER_HAS_CUDA
