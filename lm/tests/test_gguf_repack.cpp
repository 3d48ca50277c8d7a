// GGUF block formats repacked into Ember's affine layout (lm/gguf_repack.h): on random blocks
// of every supported ggml type, dequantize() of the repacked weights must give what the GGUF
// loader's own dequantizer gives (ember/io_gguf.cpp, itself checked against gguf-py in
// IoGguf.ReadsGgufPyFilesAndDequantizes), and quantized_matmul on them must match a float64
// product with those weights.
#include <gtest/gtest.h>

#include <ember/ember.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "lm/gguf_repack.h"

using namespace ember;
using namespace ember::lm;

namespace {

struct BlockType {
  const char* name;
  int block, bytes;
  std::vector<int> f16_at;  // byte offsets of the block's float16 scales
  int bits, group;          // what the repack should produce
};

const std::vector<BlockType> kTypes = {
    {"Q4_0", 32, 18, {0}, 4, 32},      {"Q4_1", 32, 20, {0, 2}, 4, 32},  {"Q5_0", 32, 22, {0}, 5, 32},
    {"Q5_1", 32, 24, {0, 2}, 5, 32},   {"Q8_0", 32, 34, {0}, 8, 32},     {"Q4_K", 256, 144, {0, 2}, 4, 32},
    {"Q5_K", 256, 176, {0, 2}, 5, 32}, {"Q6_K", 256, 210, {208}, 6, 16},
};

// Random bytes, with each float16 scale a random value in (-0.05, 0.05) (random bits could be
// infinities or NaNs, which no quantizer writes).
GGUFQuantized random_tensor(const BlockType& t, int rows, int blocks, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> bytes(static_cast<size_t>(rows) * blocks * t.bytes);
  for (auto& b : bytes) b = static_cast<uint8_t>(rng());
  std::uniform_real_distribution<float> scale(-0.05f, 0.05f);
  for (size_t b = 0; b < bytes.size(); b += t.bytes) {
    for (int off : t.f16_at) {
      uint16_t h = float16_t(scale(rng)).bits_;
      std::memcpy(bytes.data() + b + off, &h, 2);
    }
  }
  GGUFQuantized q;
  q.type = t.name;
  q.shape = {rows, blocks * t.block};
  q.blocks = array(bytes.data(), {rows, blocks * t.bytes}, uint8);
  return q;
}

std::vector<double> values(const array& a) {
  array f = astype(a, float64);
  f.eval();
  return std::vector<double>(f.data<double>(), f.data<double>() + f.size());
}

}  // namespace

TEST(GgufRepack, EveryBlockTypeDequantizesAsTheLoaderDoes) {
  uint32_t seed = 1;
  std::vector<std::pair<BlockType, bool>> types;
  for (const BlockType& t : kTypes) {
    types.push_back({t, true});
    if (t.bits == 5 || t.bits == 6) {  // as 8-bit codes (narrow false)
      BlockType wide = t;
      wide.bits = 8;
      types.push_back({wide, false});
    }
  }
  for (const auto& [t, narrow] : types) {
    SCOPED_TRACE(std::string(t.name) + (narrow ? "" : " as 8-bit codes"));
    for (int blocks : {1, 3}) {
      const int rows = 5;
      GGUFQuantized q = random_tensor(t, rows, blocks, seed++);
      std::optional<QuantizedWeight> w = repack_gguf(q, narrow);
      ASSERT_TRUE(w.has_value());
      EXPECT_EQ(w->bits, t.bits);
      EXPECT_EQ(w->group_size, t.group);
      EXPECT_EQ(w->shape(), q.shape);
      // The non-K types' scales and biases are float16 values (ggml stores them so).
      const bool k_quant = std::string(t.name).find("_K") != std::string::npos;
      EXPECT_EQ(w->scales.dtype(), k_quant ? float32 : float16);
      // The symmetric types keep no biases (their codes are shifted to center on 2^(bits - 1)).
      const std::string name = t.name;
      const bool symmetric = name == "Q4_0" || name == "Q5_0" || name == "Q8_0" || name == "Q6_K";
      EXPECT_EQ(w->biases.has_value(), !symmetric);
      if (w->biases) EXPECT_EQ(w->biases->dtype(), w->scales.dtype());
      std::optional<array> bi;
      if (w->biases) bi = astype(*w->biases, float32);
      std::vector<double> got = values(dequantize(w->wq, astype(w->scales, float32), bi, w->group_size, w->bits));
      std::vector<double> want = values(dequantize_gguf(q));
      ASSERT_EQ(got.size(), want.size());
      // Every type but Q6_K computes the loader's float expression exactly; Q6_K's
      // scale * (q - 32) becomes scale * q - 32 * scale (as 8-bit codes scale * (q + 96) -
      // 128 * scale), two roundings of values below 0.05 * 127 * 159.
      const double tol = std::string(t.name) == "Q6_K" ? 1e-4 : 0.0;
      for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], tol) << "element " << i;
    }
  }
}

TEST(GgufRepack, QuantizedMatmulOnRepackedBlocksMatchesFloat64) {
  uint32_t seed = 100;
  for (const BlockType& t : kTypes) {
    SCOPED_TRACE(t.name);
    const int rows = 9, blocks = 2, K = blocks * t.block;
    GGUFQuantized q = random_tensor(t, rows, blocks, seed++);
    QuantizedWeight w = *repack_gguf(q);
    std::vector<double> wd = values(dequantize_gguf(q));
    for (int M : {1, 4, 40}) {
      array x = random::normal({M, K}, float32, 0.0, 1.0, random::key(seed++));
      std::vector<double> xv = values(x);
      std::vector<double> got = values(quantized_matmul(x, w.wq, w.scales, w.biases, true, w.group_size, w.bits));
      for (int m = 0; m < M; ++m) {
        for (int n = 0; n < rows; ++n) {
          double acc = 0, mag = 0;
          for (int k = 0; k < K; ++k) {
            acc += xv[m * K + k] * wd[n * K + k];
            mag += std::abs(xv[m * K + k] * wd[n * K + k]);
          }
          ASSERT_NEAR(got[m * rows + n], acc, 1e-5 * (1 + mag)) << "M " << M << " at (" << m << ", " << n << ")";
        }
      }
    }
  }
}

TEST(GgufRepack, TypesItCannotKeepAndBrokenRowsAreReported) {
  GGUFQuantized q;
  q.type = "Q2_K";
  q.shape = {2, 256};
  q.blocks = zeros({2, 84}, uint8);
  EXPECT_FALSE(repack_gguf(q).has_value());
  q.type = "Q4_K";
  q.blocks = zeros({2, 143}, uint8);  // not whole 144-byte blocks
  try {
    repack_gguf(q);
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("Q4_K rows of 143 bytes are not whole blocks of 144"), std::string::npos)
        << e.what();
  }
  q.blocks = zeros({2, 144}, uint8);
  q.shape = {2, 512};  // the logical shape claims two blocks per row
  try {
    repack_gguf(q);
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("does not match its blocks"), std::string::npos) << e.what();
  }
}
