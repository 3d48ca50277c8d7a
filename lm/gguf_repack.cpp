#include "lm/gguf_repack.h"

#include <cstring>
#include <stdexcept>
#include <vector>

#include "ember/half.h"

namespace ember::lm {

Shape QuantizedWeight::shape() const {
  Shape s = wq.shape();
  s.back() = s.back() * 32 / bits;
  return s;
}

namespace {

float16_t f16_at(const uint8_t* p) {
  uint16_t bits;
  std::memcpy(&bits, p, 2);
  return float16_t::from_bits(bits);
}

}  // namespace

std::optional<QuantizedWeight> repack_gguf(const GGUFQuantized& t) {
  // Block layouts (ggml): Q4_0 {f16 d; u8 qs[16]}: x = d * (nibble - 8); Q4_1 {f16 d, m; u8
  // qs[16]}: x = d * nibble + m; both keep element j in the low nibble of qs[j] and element
  // j + 16 in its high nibble. Q8_0 {f16 d; i8 qs[32]}: x = d * q = d * (q + 128) - 128 d.
  int bits, block_bytes;
  if (t.type == "Q4_0") {
    bits = 4, block_bytes = 18;
  } else if (t.type == "Q4_1") {
    bits = 4, block_bytes = 20;
  } else if (t.type == "Q8_0") {
    bits = 8, block_bytes = 34;
  } else {
    return std::nullopt;
  }
  int rows = t.blocks.shape(0), row_bytes = t.blocks.shape(1);
  if (row_bytes % block_bytes != 0) {
    throw std::runtime_error("[load] " + t.type + " rows of " + std::to_string(row_bytes) +
                             " bytes are not whole blocks");
  }
  int groups = row_bytes / block_bytes, cols = groups * 32, words = cols * bits / 32;
  std::vector<uint32_t> wq(static_cast<size_t>(rows) * words);
  std::vector<float> scales(static_cast<size_t>(rows) * groups), biases(scales.size());
  array src = t.blocks;
  src.eval();
  const uint8_t* base = src.data<uint8_t>();
  for (int r = 0; r < rows; ++r) {
    const uint8_t* row = base + static_cast<size_t>(r) * row_bytes;
    uint32_t* out = wq.data() + static_cast<size_t>(r) * words;
    for (int g = 0; g < groups; ++g) {
      const uint8_t* b = row + static_cast<size_t>(g) * block_bytes;
      float d = f16_at(b);
      size_t at = static_cast<size_t>(r) * groups + g;
      scales[at] = d;
      uint8_t q[32];
      if (bits == 4) {
        const uint8_t* qs = b + (t.type == "Q4_1" ? 4 : 2);
        for (int j = 0; j < 16; ++j) {
          q[j] = qs[j] & 0x0F;
          q[j + 16] = qs[j] >> 4;
        }
        biases[at] = t.type == "Q4_1" ? static_cast<float>(f16_at(b + 2)) : -8.0f * d;
        for (int w = 0; w < 4; ++w) {
          uint32_t word = 0;
          for (int k = 0; k < 8; ++k) word |= static_cast<uint32_t>(q[w * 8 + k]) << (4 * k);
          out[g * 4 + w] = word;
        }
      } else {
        for (int j = 0; j < 32; ++j) q[j] = static_cast<uint8_t>(static_cast<int8_t>(b[2 + j]) + 128);
        biases[at] = -128.0f * d;
        for (int w = 0; w < 8; ++w) {
          uint32_t word = 0;
          for (int k = 0; k < 4; ++k) word |= static_cast<uint32_t>(q[w * 4 + k]) << (8 * k);
          out[g * 8 + w] = word;
        }
      }
    }
  }
  // Leading axes of the logical shape stay; the last becomes the packed words / the groups.
  Shape ws = t.shape, ss = t.shape;
  ws.back() = words;
  ss.back() = groups;
  if (static_cast<int64_t>(rows) * words != [&] {
        int64_t n = 1;
        for (int d : ws) n *= d;
        return n;
      }()) {
    throw std::runtime_error("[load] " + t.type + " tensor of shape " + std::to_string(t.shape.size()) +
                             "-d does not match its blocks");
  }
  QuantizedWeight qw;
  qw.wq = array(wq.data(), ws, uint32);
  qw.scales = array(scales.data(), ss, float32);
  qw.biases = array(biases.data(), ss, float32);
  qw.group_size = 32;
  qw.bits = bits;
  return qw;
}

}  // namespace ember::lm
