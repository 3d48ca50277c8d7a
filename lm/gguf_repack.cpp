#include "lm/gguf_repack.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "ember/allocator.h"
#include "ember/half.h"
#include "ember/ops.h"
#include "ember/scheduler.h"
#include "ember/transforms.h"
#include "ember/utils.h"

namespace ember::lm {

Shape QuantizedWeight::shape() const {
  Shape s = wq.shape();
  s.back() = s.back() * 32 / bits;
  return s;
}

namespace {

// An evaluated array whose buffer the repack fills.
array uninitialized(const Shape& shape, Dtype dtype) {
  array a = array::placeholder(shape, dtype);
  a.set_data(allocator::malloc(a.nbytes()));
  a.set_status(Status::available);
  return a;
}

float f16_at(const uint8_t* p) {
  uint16_t bits;
  std::memcpy(&bits, p, 2);
  return static_cast<float>(float16_t::from_bits(bits));
}

// One ggml block as unsigned codes q[j] and, per group of `group` elements, a scale and a bias
// with x = scale * q + bias. The layouts follow ggml's block structs; each decoder reads only
// its block's bytes.
struct Format {
  int block, block_bytes, group, bits;  // elements and bytes per block; Ember group and code width
  void (*codes)(const uint8_t* b, uint8_t* q, float* scale, float* bias);
  // Symmetric types (bias = -offset * scale) add `shift` to each code so that the offset
  // becomes 2^(bits - 1), and keep no biases; -1: the type has a minimum per group.
  int shift = -1;
};

// Q4_0 {f16 d; u8 qs[16]}: element j is the low nibble of qs[j], j + 16 the high one; x = d * (q - 8).
void q4_0(const uint8_t* b, uint8_t* q, float* s, float* m) {
  const float d = f16_at(b);
  for (int j = 0; j < 16; ++j) q[j] = b[2 + j] & 0xF, q[j + 16] = b[2 + j] >> 4;
  s[0] = d, m[0] = -8.0f * d;
}

// Q4_1 {f16 d, m; u8 qs[16]}: x = d * q + m.
void q4_1(const uint8_t* b, uint8_t* q, float* s, float* m) {
  for (int j = 0; j < 16; ++j) q[j] = b[4 + j] & 0xF, q[j + 16] = b[4 + j] >> 4;
  s[0] = f16_at(b), m[0] = f16_at(b + 2);
}

// The fifth bits of Q5_0/Q5_1: bit j of the 32-bit qh is element j's.
void five_bits(const uint8_t* qh_bytes, const uint8_t* qs, uint8_t* q) {
  uint32_t qh;
  std::memcpy(&qh, qh_bytes, 4);
  for (int j = 0; j < 16; ++j) {
    q[j] = static_cast<uint8_t>((qs[j] & 0xF) | (((qh >> j) & 1) << 4));
    q[j + 16] = static_cast<uint8_t>((qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4));
  }
}

// Q5_0 {f16 d; u8 qh[4]; u8 qs[16]}: x = d * (q - 16).
void q5_0(const uint8_t* b, uint8_t* q, float* s, float* m) {
  five_bits(b + 2, b + 6, q);
  const float d = f16_at(b);
  s[0] = d, m[0] = -16.0f * d;
}

// Q5_1 {f16 d, m; u8 qh[4]; u8 qs[16]}: x = d * q + m.
void q5_1(const uint8_t* b, uint8_t* q, float* s, float* m) {
  five_bits(b + 4, b + 8, q);
  s[0] = f16_at(b), m[0] = f16_at(b + 2);
}

// Q8_0 {f16 d; i8 qs[32]}: x = d * qs = d * (qs + 128) - 128 d.
void q8_0(const uint8_t* b, uint8_t* q, float* s, float* m) {
  for (int j = 0; j < 32; ++j) q[j] = static_cast<uint8_t>(static_cast<int8_t>(b[2 + j]) + 128);
  const float d = f16_at(b);
  s[0] = d, m[0] = -128.0f * d;
}

// The 6-bit scale and min of sub-block j of Q4_K/Q5_K from their 12 packed bytes: sub-blocks
// 0-3 in the low 6 bits of bytes j and j + 4; 4-7 in the nibbles of byte j + 4 with their top
// two bits in the top bits of bytes j - 4 and j.
void k_scale_min(const uint8_t* p, int j, int& sc, int& mn) {
  if (j < 4) {
    sc = p[j] & 63, mn = p[j + 4] & 63;
  } else {
    sc = (p[j + 4] & 0xF) | ((p[j - 4] >> 6) << 4);
    mn = (p[j + 4] >> 4) | ((p[j] >> 6) << 4);
  }
}

// Q4_K/Q5_K scales and biases of the 8 sub-blocks of 32: x = (d * sc) * q - dmin * mn.
void k_groups(const uint8_t* b, float* s, float* m) {
  const float d = f16_at(b), dmin = f16_at(b + 2);
  for (int j = 0; j < 8; ++j) {
    int sc, mn;
    k_scale_min(b + 4, j, sc, mn);
    s[j] = d * static_cast<float>(sc), m[j] = -(dmin * static_cast<float>(mn));
  }
}

// Q4_K {f16 d, dmin; u8 scales[12]; u8 qs[128]}: chunk i of 64 elements takes 32 bytes of
// qs, sub-block 2i in their low nibbles and 2i + 1 in their high ones.
void q4_k(const uint8_t* b, uint8_t* q, float* s, float* m) {
  k_groups(b, s, m);
  const uint8_t* qs = b + 16;
  for (int i = 0; i < 4; ++i) {
    for (int l = 0; l < 32; ++l) q[64 * i + l] = qs[32 * i + l] & 0xF, q[64 * i + 32 + l] = qs[32 * i + l] >> 4;
  }
}

// Q5_K {f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]}: as Q4_K plus a fifth bit from
// qh[l]: bit 2i for element l of sub-block 2i, bit 2i + 1 for sub-block 2i + 1.
void q5_k(const uint8_t* b, uint8_t* q, float* s, float* m) {
  k_groups(b, s, m);
  const uint8_t *qh = b + 16, *qs = b + 48;
  for (int i = 0; i < 4; ++i) {
    for (int l = 0; l < 32; ++l) {
      q[64 * i + l] = static_cast<uint8_t>((qs[32 * i + l] & 0xF) | (((qh[l] >> (2 * i)) & 1) << 4));
      q[64 * i + 32 + l] = static_cast<uint8_t>((qs[32 * i + l] >> 4) | (((qh[l] >> (2 * i + 1)) & 1) << 4));
    }
  }
}

// Q6_K {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}: per half of 128 elements (ql + 64h,
// qh + 32h), element l + 32k (k < 4) has low bits from nibble k / 2 of ql[l + 32 (k % 2)] and
// high bits k of qh[l] (two bits each); x = (d * scales[e / 16]) * (q - 32).
void q6_k(const uint8_t* b, uint8_t* q, float* s, float* m) {
  const float d = f16_at(b + 208);
  for (int h = 0; h < 2; ++h) {
    const uint8_t *ql = b + 64 * h, *qh = b + 128 + 32 * h;
    for (int l = 0; l < 32; ++l) {
      for (int k = 0; k < 4; ++k) {
        const int low = (ql[l + 32 * (k % 2)] >> (4 * (k / 2))) & 0xF, high = (qh[l] >> (2 * k)) & 3;
        q[128 * h + 32 * k + l] = static_cast<uint8_t>(low | (high << 4));
      }
    }
  }
  for (int g = 0; g < 16; ++g) {
    s[g] = d * static_cast<float>(static_cast<int8_t>(b[192 + g]));
    m[g] = -32.0f * s[g];
  }
}

// 5- and 6-bit codes stay that narrow where the int8 matvec unpacks them with SIMD (narrow),
// else become 8-bit ones, which the float32-x matvec of CPUs without it reads fastest.
const Format* format(const std::string& type, bool narrow) {
  static const std::pair<const char*, Format> formats[] = {
      {"Q4_0", {32, 18, 32, 4, q4_0, 0}},   {"Q4_1", {32, 20, 32, 4, q4_1}},
      {"Q5_0", {32, 22, 32, 5, q5_0, 0}},  // q - 16: codes centered on 2^4
      {"Q5_1", {32, 24, 32, 5, q5_1}},      {"Q8_0", {32, 34, 32, 8, q8_0, 0}},
      {"Q4_K", {256, 144, 32, 4, q4_k}},    {"Q5_K", {256, 176, 32, 5, q5_k}},
      {"Q6_K", {256, 210, 16, 6, q6_k, 0}},  // q - 32: codes centered on 2^5
  };
  static const std::pair<const char*, Format> as_8_bits[] = {
      {"Q5_0", {32, 22, 32, 8, q5_0, 112}},  // q - 16 = (q + 112) - 128
      {"Q5_1", {32, 24, 32, 8, q5_1}},
      {"Q5_K", {256, 176, 32, 8, q5_k}},
      {"Q6_K", {256, 210, 16, 8, q6_k, 96}},  // q - 32 = (q + 96) - 128
  };
  for (const auto& [name, f] : as_8_bits) {
    if (!narrow && type == name) return &f;
  }
  for (const auto& [name, f] : formats) {
    if (type == name) return &f;
  }
  return nullptr;
}

}  // namespace

std::optional<QuantizedWeight> repack_gguf(const GGUFQuantized& t, bool narrow) {
  const Format* f = format(t.type, narrow);
  if (!f) return std::nullopt;
  const int rows = t.blocks.shape(0), row_bytes = t.blocks.shape(1);
  if (row_bytes % f->block_bytes != 0) {
    throw std::runtime_error("[load] " + t.type + " rows of " + std::to_string(row_bytes) +
                             " bytes are not whole blocks of " + std::to_string(f->block_bytes));
  }
  const int blocks = row_bytes / f->block_bytes, cols = blocks * f->block, groups = cols / f->group;
  const int words = cols * f->bits / 32, gpb = f->block / f->group;
  // Leading axes of the logical shape stay; the last becomes the packed words / the groups.
  Shape ws = t.shape, ss = t.shape;
  ws.back() = words;
  ss.back() = groups;
  int64_t n = 1;
  for (int d : ws) n *= d;
  if (t.shape.empty() || t.shape.back() != cols || n != static_cast<int64_t>(rows) * words) {
    throw std::runtime_error("[load] " + t.type + " tensor of shape " + shape_to_string(t.shape) +
                             " does not match its blocks (" + std::to_string(rows) + " rows of " +
                             std::to_string(blocks) + " blocks)");
  }
  // Written straight into the arrays' buffers, rows split over the threads (a 1.1B model's
  // load is mostly this loop).
  array wq_arr = uninitialized(ws, uint32), sc_arr = uninitialized(ss, float32), bi_arr = uninitialized(ss, float32);
  uint32_t* wq = wq_arr.data<uint32_t>();
  float *scales = sc_arr.data<float>(), *biases = bi_arr.data<float>();
  array src = t.blocks;
  src.eval();
  const uint8_t* base = src.data<uint8_t>();
  const uint32_t shift = f->shift > 0 ? static_cast<uint32_t>(f->shift) : 0u;
  scheduler::parallel_for(rows, 64, [&](int64_t r0, int64_t r1) {
    std::vector<uint8_t> q(f->block);
    for (int64_t r = r0; r < r1; ++r) {
      for (int blk = 0; blk < blocks; ++blk) {
        const size_t g0 = static_cast<size_t>(r) * groups + static_cast<size_t>(blk) * gpb;
        f->codes(base + static_cast<size_t>(r) * row_bytes + static_cast<size_t>(blk) * f->block_bytes, q.data(),
                 scales + g0, biases + g0);
        // A block's codes as an LSB-first bitstream (the words of 4- and 8-bit codes hold whole
        // codes; 5- and 6-bit ones straddle words).
        uint32_t* out = wq + static_cast<size_t>(r) * words + static_cast<size_t>(blk) * f->block * f->bits / 32;
        std::fill(out, out + f->block * f->bits / 32, 0u);
        for (int j = 0; j < f->block; ++j) {
          const uint32_t code = q[j] + shift;
          const int bit = j * f->bits, at = bit / 32, sh = bit % 32;
          out[at] |= code << sh;
          if (sh + f->bits > 32) out[at + 1] |= code >> (32 - sh);
        }
      }
    }
  });
  QuantizedWeight qw;
  qw.wq = wq_arr;
  // float16 where every scale and bias is one exactly (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0: ggml
  // stores d and m in float16, and -8d, -16d, -128d stay exact): a quarter less memory to
  // stream than float32 at 4 bits. The K-quants' d * sc need float32.
  const size_t n_groups = static_cast<size_t>(rows) * groups;
  auto exact_f16 = [n_groups](const float* v) {
    for (size_t i = 0; i < n_groups; ++i) {
      if (static_cast<float>(float16_t(v[i])) != v[i]) return false;
    }
    return true;
  };
  const bool symmetric = f->shift >= 0;
  const Dtype st = exact_f16(scales) && (symmetric || exact_f16(biases)) ? float16 : float32;
  qw.scales = astype(sc_arr, st);
  qw.scales.eval();
  if (!symmetric) {
    qw.biases = astype(bi_arr, st);
    qw.biases->eval();
  }
  qw.group_size = f->group;
  qw.bits = f->bits;
  return qw;
}

}  // namespace ember::lm
