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

#include "ember/backend/cuda/elementwise_codegen.h"

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
  size_t kernels = 0;
  for (const auto& v : variants) kernels += ew::patterns(v.family).size();
  ASSERT_GT(variants.size(), 600u);

  constexpr size_t kBatch = 32;
  std::vector<std::vector<ew::Variant>> batches;
  for (size_t i = 0; i < variants.size(); i += kBatch) {
    batches.emplace_back(variants.begin() + i, variants.begin() + std::min(variants.size(), i + kBatch));
  }
  std::atomic<size_t> next{0};
  std::mutex mu;
  std::vector<std::string> failures;
  auto worker = [&] {
    for (size_t b; (b = next.fetch_add(1)) < batches.size();) {
      const auto& batch = batches[b];
      std::string name = "elementwise_batch" + std::to_string(b);
      try {
        std::string ptx = ew::compile_program(batch, name, "compute_90");
        for (const auto& v : batch) {
          for (const auto& k : kernel_names(v)) {
            if (ptx.find(".entry " + k + "(") == std::string::npos) {
              std::lock_guard lk(mu);
              failures.push_back(name + ": no entry " + k + " in the PTX");
            }
          }
        }
      } catch (const std::exception& e) {
        std::lock_guard lk(mu);
        failures.push_back(std::string(e.what()).substr(0, 4000));
      }
    }
  };
  auto t0 = std::chrono::steady_clock::now();
  unsigned threads = std::max(1u, std::min(2u, std::thread::hardware_concurrency()));
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("[cuda jit] %zu variants, %zu kernels, %zu programs compiled to PTX in %.1f s\n", variants.size(),
              kernels, batches.size(), secs);
  for (const auto& f : failures) ADD_FAILURE() << f;
}

#endif  // EMBER_HAS_CUDA
