// Every primitive class declared in ember/primitives*.h must be known to the
// gradient-coverage test (tests/test_grad_coverage.cpp). This catches a new
// primitive that nobody added to the coverage list.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "test_utils.h"

namespace {

// Classes whose names() are listed in test_grad_coverage.cpp's all_primitive_names().
// A table: clang-format would reflow it to three columns.
// clang-format off
const std::set<std::string> kKnownClasses = {
    "Unary",        "Binary",      "DivMod",    "Select",       "AsType",     "Copy",
    "StopGradient", "View",        "Arange",    "Reduce",       "ArgReduce",  "Softmax",
    "LogSumExp",    "Reshape",     "Transpose", "Broadcast",    "Slice",      "SliceUpdate",
    "AsStrided",    "Concatenate", "Split",     "Pad",          "Matmul",     "AddMM",
    "Sort",         "ArgSort",     "Partition", "ArgPartition", "GatherAxis", "ScatterAddAxis",
    "Gather",       "Scatter",     "Scan",      "RandomBits",   "FFT",        "Hadamard",
    "Convolution",  "Inverse",     "Cholesky",  "QRF",          "SVD",        "LUF",
    "Eig",          "Eigh",        "RMSNorm",   "LayerNorm",    "RoPE",       "ScaledDotProductAttention",
    "Quantize",     "Dequantize",  "QuantizedMatmul", "GatherQMM", "QuantizedAttention", "Compiled",
};
// clang-format on

}  // namespace

TEST(PrimitiveRegistry, EveryDeclaredPrimitiveIsKnownToCoverage) {
  // primitives.h plus the family headers beside it (primitives_linalg.h, ...).
  std::string src;
  for (const auto& entry : std::filesystem::directory_iterator(test_utils::source_dir() + "/ember")) {
    std::string file = entry.path().filename().string();
    if (file.rfind("primitives", 0) != 0 || entry.path().extension() != ".h") continue;
    std::ifstream in(entry.path());
    ASSERT_TRUE(in) << "cannot read " << entry.path();
    std::stringstream text;
    text << in.rdbuf();
    src += text.str();
  }
  std::regex decl(R"(class\s+(\w+)\s*:\s*public\s+(?:(?:Unary)?Primitive|Fused)\b)");
  std::set<std::string> declared;
  for (auto it = std::sregex_iterator(src.begin(), src.end(), decl); it != std::sregex_iterator(); ++it) {
    // UnaryPrimitive and Fused (primitives_fast.h) are abstract bases, not ops.
    if ((*it)[1] != "UnaryPrimitive" && (*it)[1] != "Fused") declared.insert((*it)[1]);
  }
  EXPECT_GT(declared.size(), 20u) << "the pattern no longer matches primitives.h";
  for (auto& name : declared) {
    EXPECT_TRUE(kKnownClasses.count(name))
        << "primitive class " << name << " is not listed here nor (by its name()) in test_grad_coverage.cpp";
  }
}
