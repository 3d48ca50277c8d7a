// The integer matvec of quantized_matmul with int8 activations (quantized_i8.h). The kernels
// are compiled twice from quantized_i8_kernels.inc, once per instruction set, with GCC's or
// Clang's target pragmas, and picked at run time from what the CPU reports.
#include "ember/backend/cpu/quantized_i8.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define EMBER_I8_X86 1
#include <immintrin.h>

// AVX2: 4-bit codes through vpmaddubsw (u8 x i8 -> i16 pairs) and vpmaddwd.
#define EMBER_I8_NS avx2
#define EMBER_I8_VNNI 0
#ifdef __clang__
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif
#include "ember/backend/cpu/quantized_i8_kernels.inc"
#ifdef __clang__
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#undef EMBER_I8_NS
#undef EMBER_I8_VNNI

// AVX-512 VNNI on 256-bit vectors: vpdpbusd adds four u8 x i8 products into each i32 lane.
#define EMBER_I8_NS vnni
#define EMBER_I8_VNNI 1
#ifdef __clang__
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")
#endif
#include "ember/backend/cpu/quantized_i8_kernels.inc"
#ifdef __clang__
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#undef EMBER_I8_NS
#undef EMBER_I8_VNNI
#endif

namespace ember::cpu::quant {

namespace {

enum class Isa { none, avx2, vnni };

Isa detect() {
#ifdef EMBER_I8_X86
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  if (avx2 && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw")) {
    return Isa::vnni;
  }
  if (avx2) return Isa::avx2;
#endif
  return Isa::none;
}

Isa& selected() {
  static Isa chosen = detect();
  return chosen;
}

Isa isa() { return selected(); }

}  // namespace

bool i8_select(const std::string& name) {
  const Isa best = detect();
  const Isa want = name == "vnni" ? Isa::vnni : name == "avx2" ? Isa::avx2 : Isa::none;
  if (name != "vnni" && name != "avx2" && name != "none") return false;
  if (want == Isa::vnni && best != Isa::vnni) return false;
  if (want == Isa::avx2 && best == Isa::none) return false;
  selected() = want;
  return true;
}

int64_t i8_chunk(int bits) {
  const Isa i = isa();
  if (bits == 4 && i != Isa::none) return 64;
  if ((bits == 8 || bits == 6 || bits == 5 || bits == 3) && i == Isa::vnni) return 32;
  return 0;
}

int64_t f32_chunk(int bits) { return (bits == 3 || bits == 5 || bits == 6) && isa() != Isa::none ? 32 : 0; }

void f32_dot(int bits, int M, int R, const uint32_t* w, int64_t wstride, int64_t n, int64_t gs, const float* sc,
             int64_t sstride, const float* x, int64_t K, float* out) {
#ifdef EMBER_I8_X86
  if (isa() == Isa::vnni) return vnni::fdot_bits(bits, M, R, w, wstride, n, gs, sc, sstride, x, K, out);
  if (isa() == Isa::avx2) return avx2::fdot_bits(bits, M, R, w, wstride, n, gs, sc, sstride, x, K, out);
#endif
  (void)bits, (void)M, (void)R, (void)w, (void)wstride, (void)n, (void)gs, (void)sc, (void)sstride, (void)x, (void)K,
      (void)out;
}

void i8_quantize_x(int bits, const float* x, int64_t M, int64_t K, int64_t n, int8_t* xq, float* dx) {
#ifdef EMBER_I8_X86
  if (isa() == Isa::vnni) return vnni::quantize_x(bits, x, M, K, n, xq, dx);
  if (isa() == Isa::avx2) return avx2::quantize_x(bits, x, M, K, n, xq, dx);
#endif
  const int64_t blocks = n / 32;
  for (int64_t m = 0; m < M; ++m) {
    const float* xr = x + m * K;
    int8_t* qr = xq + m * n;
    for (int64_t b = 0; b < blocks; ++b) {
      float amax = 0.0f;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(xr[b * 32 + j]));
      const float d = amax / 127.0f, inv = amax > 0.0f ? 127.0f / amax : 0.0f;
      dx[m * blocks + b] = d;
      for (int j = 0; j < 32; ++j) {
        const auto q = static_cast<int8_t>(std::clamp(std::nearbyint(xr[b * 32 + j] * inv), -127.0f, 127.0f));
        if (bits == 4) {
          // Element p of its chunk of 64: even ones first (low nibbles), then odd ones.
          const int64_t c = b / 2, p = (b % 2) * 32 + j;
          qr[c * 64 + (p % 2) * 32 + p / 2] = q;
        } else {
          qr[b * 32 + j] = q;
        }
      }
    }
  }
}

void i8_offsets(int bits, const int8_t* xq, int64_t M, int64_t n, int32_t* out) {
  const int64_t per = bits == 4 ? 64 : 32, chunks = n / per;
  const int32_t offset = 1 << (bits - 1);
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t c = 0; c < chunks; ++c) {
      const int8_t* p = xq + m * n + c * per;
      for (int l = 0; l < 8; ++l) {
        int32_t s = 0;
        for (int b = 0; b < 4; ++b) s += p[4 * l + b] + (bits == 4 ? p[32 + 4 * l + b] : 0);
        out[(m * chunks + c) * 8 + l] = -offset * s;
      }
    }
  }
}

void i8_dot(int bits, int M, int R, bool joint, const uint32_t* w, int64_t wstride, int64_t n, int64_t gs, bool f16,
            const void* sc, int64_t sstride, const void* bi, const float* xsum, int64_t G, const int8_t* xq,
            const float* dx, const float* dxt, const int32_t* xoff, float* out) {
#ifdef EMBER_I8_X86
  if (isa() == Isa::vnni)
    return vnni::dot(bits, M, R, joint, w, wstride, n, gs, f16, sc, sstride, bi, xsum, G, xq, dx, dxt, xoff, out);
  if (isa() == Isa::avx2)
    return avx2::dot(bits, M, R, joint, w, wstride, n, gs, f16, sc, sstride, bi, xsum, G, xq, dx, dxt, xoff, out);
#endif
  (void)bits, (void)M, (void)R, (void)joint, (void)w, (void)wstride, (void)n, (void)gs, (void)f16, (void)sc,
      (void)sstride, (void)bi, (void)xsum, (void)G, (void)xq, (void)dx, (void)dxt, (void)xoff, (void)out;
}

void i8_scales_by_four(const float* dx, int64_t M, int64_t n, float* out) {
  const int64_t blocks = n / 32, chunks = n / 64;
  for (int64_t q = 0; q < M / 4; ++q) {
    for (int64_t c = 0; c < chunks; ++c) {
      for (int k = 0; k < 8; ++k) out[(q * chunks + c) * 8 + k] = dx[(4 * q + k % 4) * blocks + 2 * c + k / 4];
    }
  }
}

}  // namespace ember::cpu::quant
