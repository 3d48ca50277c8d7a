// Every primitive has its derivatives (and vmap) checked: the names the
// grad_check harness recorded in this process (grad_check::covered()), plus the
// ones checked by hand, must account for every primitive except the
// non-differentiable ones listed below.
//
// The check reads what the other tests recorded, so it must run after them in
// the same process: tests/CMakeLists.txt links this file last (gtest runs
// suites in registration order, which follows link order, not names), and the
// test verifies at run time that every other selected test has already run.
// Run alone (ctest runs each test in its own process) it skips; the ctest entry
// GradCoverage runs it together with the tests that feed it.
#include <gtest/gtest.h>

#include <ember/primitives.h>
#include <ember/primitives_fast.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "grad_check.h"

namespace {

// The name() of every primitive: primitives.h (unary_op_name / binary_op_name
// for Unary and Binary, Reduce::name for Reduce) and CustomTransforms in transforms.cpp.
const std::vector<std::string>& all_primitive_names() {
  // A table: clang-format would put one name per line.
  // clang-format off
  static const std::vector<std::string> names = {
      // Unary
      "Abs", "Negative", "Sign", "Sqrt", "Rsqrt", "Square", "Reciprocal", "Exp", "Expm1", "Log", "Log1p", "Log2",
      "Log10", "Sin", "Cos", "Tan", "ArcSin", "ArcCos", "ArcTan", "Sinh", "Cosh", "Tanh", "ArcSinh", "ArcCosh",
      "ArcTanh", "Sigmoid", "Erf", "ErfInv", "Floor", "Ceil", "Round", "IsNaN", "LogicalNot", "BitwiseInvert",
      "Conjugate", "Real", "Imag",
      // Binary
      "Add", "Subtract", "Multiply", "Divide", "FloorDivide", "Remainder", "Power", "Maximum", "Minimum", "ArcTan2",
      "LogAddExp", "Equal", "NotEqual", "Less", "LessEqual", "Greater", "GreaterEqual", "NaNEqual", "LogicalAnd",
      "LogicalOr", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "LeftShift", "RightShift",
      // Other elementwise, type and creation
      "DivMod", "Select", "AsType", "Copy", "StopGradient", "View", "Arange",
      // Reductions
      "Sum", "Prod", "Max", "Min", "All", "Any", "ArgMax", "ArgMin", "Softmax", "LogSoftmax", "LogSumExp",
      // Shape and views
      "Reshape", "Transpose", "Broadcast", "Slice", "SliceUpdate", "AsStrided", "Concatenate", "Split", "Pad",
      // Linear algebra
      "Matmul", "AddMM",
      // Scans
      "Scan",
      // Sorting and gathers along an axis
      "Sort", "ArgSort", "Partition", "ArgPartition", "GatherAxis", "ScatterAddAxis",
      // Indexing
      "Gather", "Scatter", "ScatterAdd", "ScatterProd", "ScatterMax", "ScatterMin",
      // Convolution (primitives_conv.h)
      "Convolution",
      // Random
      "RandomBits",
      // Spectral (primitives_fft.h)
      "FFT", "Hadamard",
      // LAPACK-backed linear algebra (primitives_linalg.h)
      "Inverse", "Cholesky", "QRF", "SVD", "LUF", "Eig", "Eigh",
      // Fused transformer ops (primitives_fast.h)
      "RMSNorm", "LayerNorm", "RoPE", "ScaledDotProductAttention",
      // Affine group quantization (primitives_quantized.h)
      "Quantize", "Dequantize", "QuantizedMatmul", "GatherQMM", "QuantizedAttention",
      // compile's fused regions (primitives_compiled.h)
      "Compiled",
      // custom_function / checkpoint (checked by hand in test_transforms_cases.cpp)
      "CustomTransforms",
  };
  // clang-format on
  return names;
}

// Primitives without a derivative (bool or integer results, or piecewise
// constant in every input). They need no vjp/jvp check, only vmap.
const std::set<std::string>& non_differentiable() {
  // clang-format off
  static const std::set<std::string> names = {
      "IsNaN", "LogicalNot", "BitwiseInvert", "Equal", "NotEqual", "Less", "LessEqual", "Greater", "GreaterEqual",
      "NaNEqual", "LogicalAnd", "LogicalOr", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "LeftShift", "RightShift",
      "ArgMax", "ArgMin", "All", "Any", "ArgSort", "ArgPartition",
      "RandomBits", "Eig", "Quantize",
  };
  // clang-format on
  return names;
}

// Suites whose tests record into grad_check::covered().
bool feeds_coverage(const std::string& suite) { return suite.rfind("Grad", 0) == 0 || suite == "TransformsCases"; }

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

}  // namespace

TEST(ZZGradCoverage, NameListMatchesThePrimitives) {
  const auto& names = all_primitive_names();
  std::set<std::string> unique(names.begin(), names.end());
  EXPECT_EQ(unique.size(), names.size()) << "duplicate names in the list";
  // The Unary and Binary parts of the list follow the enums.
  for (int i = 0; i <= static_cast<int>(ember::UnaryOp::Imag); ++i) {
    EXPECT_TRUE(unique.count(ember::unary_op_name(static_cast<ember::UnaryOp>(i)))) << "unary op " << i;
  }
  for (int i = 0; i <= static_cast<int>(ember::BinaryOp::RightShift); ++i) {
    EXPECT_TRUE(unique.count(ember::binary_op_name(static_cast<ember::BinaryOp>(i)))) << "binary op " << i;
  }
  for (const auto& n : non_differentiable()) EXPECT_TRUE(unique.count(n)) << n << " is not a primitive name";
}

TEST(ZZGradCoverage, EveryPrimitiveIsChecked) {
  // Meaningful only after every test that records coverage has run in this process.
  const ::testing::UnitTest& unit = *::testing::UnitTest::GetInstance();
  const ::testing::TestInfo* self = unit.current_test_info();
  std::vector<std::string> not_selected, not_yet_run;
  for (int i = 0; i < unit.total_test_suite_count(); ++i) {
    const ::testing::TestSuite* suite = unit.GetTestSuite(i);
    if (std::string(suite->name()) == self->test_suite_name()) continue;
    for (int j = 0; j < suite->total_test_count(); ++j) {
      const ::testing::TestInfo* t = suite->GetTestInfo(j);
      std::string name = std::string(suite->name()) + "." + t->name();
      if (!t->should_run()) {
        if (feeds_coverage(suite->name())) not_selected.push_back(name);
      } else if (t->result()->start_timestamp() == 0) {
        not_yet_run.push_back(name);
      }
    }
  }
  ASSERT_TRUE(not_yet_run.empty()) << "these tests run after ZZGradCoverage; keep test_grad_coverage.cpp last in "
                                      "tests/CMakeLists.txt and don't shuffle: "
                                   << join(not_yet_run);
  if (!not_selected.empty()) {
    GTEST_SKIP() << "needs every Grad* and TransformsCases test in this process; " << not_selected.size()
                 << " not selected (run ctest -R GradCoverage)";
  }

  std::set<std::string> covered = grad_check::covered();
  // On a GPU, a fused op whose primitive has no CUDA kernel builds its fallback in its place
  // (use_fallback): the checks of that op went through the fallback's primitives instead.
  for (const auto& n : ember::built_as_fallback()) covered.insert(n);
  const auto& names = all_primitive_names();
  std::vector<std::string> unchecked, vmap_unchecked, unknown;
  for (const auto& n : names) {
    if (covered.count(n)) continue;
    (non_differentiable().count(n) ? vmap_unchecked : unchecked).push_back(n);
  }
  for (const auto& n : covered) {
    if (std::find(names.begin(), names.end(), n) == names.end()) unknown.push_back(n);
  }
  EXPECT_TRUE(unchecked.empty()) << "differentiable primitives without a gradient check: " << join(unchecked);
  // Non-differentiable ones still batch: their vmap goes through the harness too.
  EXPECT_TRUE(vmap_unchecked.empty()) << "non-differentiable primitives without a vmap check: " << join(vmap_unchecked);
  EXPECT_TRUE(unknown.empty()) << "checked names missing from all_primitive_names(): " << join(unknown);
}
