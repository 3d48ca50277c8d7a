// CPU kernels of affine group quantization (ember/quantized.h). This file is compiled once per
// SIMD target (foreach_target.h re-includes it) for the Highway matvec at the top; everything
// else sits under HWY_ONCE and is compiled once.
//
// quantized_matmul, transpose (x (M, K) float32, wq (N, K * bits / 32), scales/biases (N, G)):
//   M <= 32 (decode, short prompts): a matvec that should be bound by memory: each weight
//     byte is read from memory once, four rows of w at a time, for blocks of up to four rows of
//     x while those rows of w stay in cache, and unpacked in registers
//     (2/4/8 bits with Highway, 3/5/6 bits with a scalar unpack). Per output n:
//       y[m, n] = sum_g scale[n, g] * dot(q[n, g], x[m, g]) + sum_g bias[n, g] * xsum[m, g]
//     with xsum[m, g] = sum(x[m, g]) computed once. The traffic is wq (K * bits / 8 bytes per
//     row) plus scales and biases (2 * G * sizeof(S)); x (M * K floats) stays in cache. The
//     SIMD path multiplies codes left in place by x * 2^(-bits * k) (exact scaling by a power of
//     two), so only an |x| below ~1e-29 (subnormal after scaling) loses precision.
//   M > 32 (prefill): tiles of rows of w are dequantized to float32 and multiplied with
//     cblas_sgemm: the tile is reused M times, so unpacking costs little against the FLOPs.
// transpose = false (wq (K, N * bits / 32)): M <= 32 with 4 or 8 bits, each row of w read
//   once and its codes (unpacked in registers) added into y with weight x[m, k] * scale;
//   otherwise tiles of K rows dequantized, sgemm accumulates.
// quantized_matmul_int8_activations, transpose, 4, 6 or 8 bits, groups of 32 or more (6 and 8
//   bits: also 16, Q6_K's), any M:
//   x rounded to int8 per block of 32 and the integer kernels of quantized_i8.h, the same
//   driver as the matvec (x in blocks of 64 rows when M is large).
// gather_qmm runs the same driver once per matrix of w, over the stacked rows of x of the pairs
// that gather it.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ember/backend/cpu/quantized.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h

#include <hwy/cache_control.h>
#include <hwy/highway.h>

#include <cstring>
#include <optional>

#include <algorithm>
#include <cstdint>

HWY_BEFORE_NAMESPACE();
namespace ember::cpu::quant::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Vector lanes are packed words: lane i of a chunk of C words (C = lanes of a full vector)
// holds elements i * EPW + k (k < EPW, EPW = 32 / bits) of the chunk. x is permuted to match
// (xp[k * C + i] = x[i * EPW + k] per chunk), so code k of every lane meets its x with one
// plain load. Codes are isolated with one AND and no shift: the lane then holds
// q * 2^(bits * k), still exact as int32 and float, and xp carries the factor 2^(-bits * k);
// the top code is a single shift instead. Per code: and, convert, FMA, load of x: 4
// instructions per vector of codes. A chunk may span groups (wpg words per group, a power of
// two): its lanes then take their scales with one permute.
template <int EPW, int M, int R, class D>
HWY_INLINE void qdot(D df, const uint32_t* w, int64_t wstride, int64_t nw, int64_t wpg, const float* sc,
                     int64_t sstride, const float* bi, const float* xsum, int64_t G, const float* xp, int64_t K,
                     float* out) {
  // w: R rows of nw words (row stride wstride), nw a multiple of C; sc: R rows (stride sstride)
  // of G scales, readable C floats past the last; bi: (R, G); xsum: (M, G) sums of x per group; xp: (M, K);
  // out: (R, 4) accumulated. R = 4 rows share every load of x: x is 8x the bytes of 4-bit
  // codes, so this cuts the cache traffic that otherwise bounds the loop (K = 11008: 44 KB
  // of x per row, beyond L1).
  const hn::RebindToUnsigned<D> du;
  const hn::RebindToSigned<D> di;
  using V = hn::Vec<D>;
  constexpr int kBits = 32 / EPW;
  constexpr int kAcc = M * R == 1 ? 4 : M * R <= 4 ? 2 : 1;  // independent FMA chains per (r, m)
  const int64_t C = static_cast<int64_t>(hn::Lanes(df));
  int shift = 0;
  while ((int64_t{1} << shift) < wpg) ++shift;
  const auto lane_group = hn::IndicesFromVec(df, hn::ShiftRightSame(hn::Iota(di, 0), shift));
  V acc[R][M];
  for (int r = 0; r < R; ++r) {
    for (int m = 0; m < M; ++m) acc[r][m] = hn::Zero(df);
  }
  for (int64_t c = 0; c < nw; c += C) {
    hn::Vec<decltype(du)> wv[R];
    for (int r = 0; r < R; ++r) {
      // The four row streams are too many for the hardware prefetcher alone: ask 1 KiB ahead.
      hwy::Prefetch(w + r * wstride + c + 256);
      wv[r] = hn::LoadU(du, w + r * wstride + c);
    }
    const float* xc = xp + c * EPW;
    V dv[R][M][kAcc];
    for (int r = 0; r < R; ++r) {
      for (int m = 0; m < M; ++m) {
        for (int a = 0; a < kAcc; ++a) dv[r][m][a] = hn::Zero(df);
      }
    }
#pragma GCC unroll 16
    for (int k = 0; k < EPW; ++k) {
      V q[R];
      for (int r = 0; r < R; ++r) {
        const auto code = k == EPW - 1 ? hn::ShiftRight<32 - kBits>(wv[r])
                                       : hn::And(wv[r], hn::Set(du, ((1u << kBits) - 1) << (k * kBits)));
        q[r] = hn::ConvertTo(df, hn::BitCast(di, code));
      }
      for (int m = 0; m < M; ++m) {
        const V xv = hn::LoadU(df, xc + m * K + k * C);
        for (int r = 0; r < R; ++r) dv[r][m][k % kAcc] = hn::MulAdd(q[r], xv, dv[r][m][k % kAcc]);
      }
    }
    for (int r = 0; r < R; ++r) {
      const float* sr = sc + r * sstride;
      const V sv =
          wpg >= C ? hn::Set(df, sr[c >> shift]) : hn::TableLookupLanes(hn::LoadU(df, sr + (c >> shift)), lane_group);
      for (int m = 0; m < M; ++m) {
        V d = dv[r][m][0];
        for (int a = 1; a < kAcc; ++a) d = hn::Add(d, dv[r][m][a]);
        acc[r][m] = hn::MulAdd(sv, d, acc[r][m]);
      }
    }
  }
  // The bias term, sum_g bias[g] * xsum[m, g], vectorized over groups.
  int64_t g = 0;
  for (; g + C <= G; g += C) {
    for (int r = 0; r < R; ++r) {
      const V bv = hn::LoadU(df, bi + r * G + g);
      for (int m = 0; m < M; ++m) acc[r][m] = hn::MulAdd(bv, hn::LoadU(df, xsum + m * G + g), acc[r][m]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int m = 0; m < M; ++m) {
      float v = hn::GetLane(hn::SumOfLanes(df, acc[r][m]));
      for (int64_t t = g; t < G; ++t) v += bi[r * G + t] * xsum[m * G + t];
      out[r * 4 + m] += v;
    }
  }
}

template <int EPW, int R, class D>
HWY_INLINE void qdot_m(D d, int M, const uint32_t* w, int64_t wstride, int64_t nw, int64_t wpg, const float* sc,
                       int64_t sstride, const float* bi, const float* xsum, int64_t G, const float* xp, int64_t K,
                       float* out) {
  switch (M) {
    case 1:
      return qdot<EPW, 1, R>(d, w, wstride, nw, wpg, sc, sstride, bi, xsum, G, xp, K, out);
    case 2:
      return qdot<EPW, 2, R>(d, w, wstride, nw, wpg, sc, sstride, bi, xsum, G, xp, K, out);
    case 3:
      return qdot<EPW, 3, R>(d, w, wstride, nw, wpg, sc, sstride, bi, xsum, G, xp, K, out);
    default:
      return qdot<EPW, 4, R>(d, w, wstride, nw, wpg, sc, sstride, bi, xsum, G, xp, K, out);
  }
}

template <int EPW, class D>
HWY_INLINE void qdot_r(D d, int M, int R, const uint32_t* w, int64_t wstride, int64_t nw, int64_t wpg, const float* sc,
                       int64_t sstride, const float* bi, const float* xsum, int64_t G, const float* xp, int64_t K,
                       float* out) {
  if (R == 4) return qdot_m<EPW, 4>(d, M, w, wstride, nw, wpg, sc, sstride, bi, xsum, G, xp, K, out);
  return qdot_m<EPW, 1>(d, M, w, wstride, nw, wpg, sc, sstride, bi, xsum, G, xp, K, out);
}

// Full vectors, or 8 lanes when a row's W words are a multiple of 8 but not of the full width
// (K = 576 at 4 bits: 72 words, which 16-lane AVX-512 vectors would leave a scalar tail of).
int64_t ChunkWords(int bits, int64_t W) {
  if (bits != 2 && bits != 4 && bits != 8) return 0;
  const int64_t full = static_cast<int64_t>(hn::Lanes(hn::ScalableTag<float>()));
  return W % full != 0 && full > 8 && W % 8 == 0 ? 8 : full;
}

template <class D>
void qdot_bits(D d, int bits, int M, int R, const uint32_t* w, int64_t wstride, int64_t nw, int64_t wpg,
               const float* sc, int64_t sstride, const float* bi, const float* xsum, int64_t G, const float* xp,
               int64_t K, float* out) {
  if (bits == 2) return qdot_r<16>(d, M, R, w, wstride, nw, wpg, sc, sstride, bi, xsum, G, xp, K, out);
  if (bits == 4) return qdot_r<8>(d, M, R, w, wstride, nw, wpg, sc, sstride, bi, xsum, G, xp, K, out);
  return qdot_r<4>(d, M, R, w, wstride, nw, wpg, sc, sstride, bi, xsum, G, xp, K, out);
}

void QdotRows(int bits, int64_t C, int M, int R, const uint32_t* w, int64_t wstride, int64_t nw, int64_t wpg,
              const float* sc, int64_t sstride, const float* bi, const float* xsum, int64_t G, const float* xp,
              int64_t K, float* out) {
  const hn::ScalableTag<float> full;
  if (C == static_cast<int64_t>(hn::Lanes(full))) {
    return qdot_bits(full, bits, M, R, w, wstride, nw, wpg, sc, sstride, bi, xsum, G, xp, K, out);
  }
  return qdot_bits(hn::CappedTag<float, 8>(), bits, M, R, w, wstride, nw, wpg, sc, sstride, bi, xsum, G, xp, K, out);
}

// QdotRows over all n rows of w in one call (four at a time, then one by one), results
// stored to y[m * ystride + r]: short rows (a key cache's head size) would otherwise pay a
// call's cost for every four rows. sc and bi: (n, G), readable C floats past the last.
template <class D>
void qdot_many(D d, int bits, int M, const uint32_t* w, int64_t wstride, int64_t n, int64_t nw, int64_t wpg,
               const float* sc, const float* bi, const float* xsum, int64_t G, const float* xp, int64_t K, float* y,
               int64_t ystride) {
  for (int64_t r = 0; r < n;) {
    const int R = n - r >= 4 ? 4 : 1;
    float part[16] = {};
    qdot_bits(d, bits, M, R, w + r * wstride, wstride, nw, wpg, sc + r * G, G, bi + r * G, xsum, G, xp, K, part);
    for (int i = 0; i < R; ++i) {
      for (int m = 0; m < M; ++m) y[m * ystride + r + i] = part[i * 4 + m];
    }
    r += R;
  }
}

void QdotMany(int bits, int64_t C, int M, const uint32_t* w, int64_t wstride, int64_t n, int64_t nw, int64_t wpg,
              const float* sc, const float* bi, const float* xsum, int64_t G, const float* xp, int64_t K, float* y,
              int64_t ystride) {
  const hn::ScalableTag<float> full;
  if (C == static_cast<int64_t>(hn::Lanes(full))) {
    return qdot_many(full, bits, M, w, wstride, n, nw, wpg, sc, bi, xsum, G, xp, K, y, ystride);
  }
  return qdot_many(hn::CappedTag<float, 8>(), bits, M, w, wstride, n, nw, wpg, sc, bi, xsum, G, xp, K, y, ystride);
}

// x @ w for w quantized along its rows (K, N): y (M, N) = sum_k (x[m, k] * scale[k, g]) *
// q[k, .] over columns [c0, c1) of every row of w (the bias term is the caller's). A block of L
// code bytes is promoted to L int32 lanes: 8 bits hold L columns in order; 4 bits hold 2L,
// the low nibbles the even columns and the high nibbles the odd ones, so y is written per
// block as [even | odd] and the caller interleaves it. A block never spans two groups. Each
// block's sums stay in registers over all K rows (summing in memory stalled on store-to-load
// forwarding of the 64-byte stores, 20x slower).
template <int M, class D>
HWY_INLINE void qaxpy(D df, int bits, const uint32_t* w, int64_t W, int64_t K, int64_t N, int64_t gs, const float* sc,
                      const float* x, int64_t c0, int64_t c1, float* y) {
  const hn::RebindToUnsigned<D> du;
  const hn::RebindToSigned<D> di;
  const hn::Rebind<uint8_t, D> d8;
  using V = hn::Vec<D>;
  const int64_t L = static_cast<int64_t>(hn::Lanes(df)), G = N / gs, per = bits == 4 ? 2 * L : L;
  const auto* base = reinterpret_cast<const uint8_t*>(w);
  const int64_t row_bytes = W * 4;
  for (int64_t c = c0; c < c1; c += per) {
    V lo_acc[M], hi_acc[M];
    for (int m = 0; m < M; ++m) lo_acc[m] = hi_acc[m] = hn::Zero(df);
    const uint8_t* p = base + c * bits / 8;
    const float* sk = sc + c / gs;
    for (int64_t k = 0; k < K; ++k, p += row_bytes, sk += G) {
      const auto bytes = hn::PromoteTo(du, hn::LoadU(d8, p));
      const float s = *sk;
      if (bits == 4) {
        const V lo = hn::ConvertTo(df, hn::BitCast(di, hn::And(bytes, hn::Set(du, 15u))));
        const V hi = hn::ConvertTo(df, hn::BitCast(di, hn::ShiftRight<4>(bytes)));
        for (int m = 0; m < M; ++m) {
          const V f = hn::Set(df, x[m * K + k] * s);
          lo_acc[m] = hn::MulAdd(f, lo, lo_acc[m]);
          hi_acc[m] = hn::MulAdd(f, hi, hi_acc[m]);
        }
      } else {
        const V q = hn::ConvertTo(df, hn::BitCast(di, bytes));
        for (int m = 0; m < M; ++m) lo_acc[m] = hn::MulAdd(hn::Set(df, x[m * K + k] * s), q, lo_acc[m]);
      }
    }
    for (int m = 0; m < M; ++m) {
      hn::StoreU(lo_acc[m], df, y + m * N + c);
      if (bits == 4) hn::StoreU(hi_acc[m], df, y + m * N + c + L);
    }
  }
}

template <class D>
void qaxpy_m(D d, int M, int bits, const uint32_t* w, int64_t W, int64_t K, int64_t N, int64_t gs, const float* sc,
             const float* x, int64_t c0, int64_t c1, float* y) {
  // Rows of x eight at a time (a grouped-query head's queries at once): each pass reads w once
  // more, from cache.
  for (int m0 = 0; m0 < M; m0 += 8) {
    const float* xm = x + m0 * K;
    float* ym = y + m0 * N;
    switch (std::min(8, M - m0)) {
#define EMBER_QAXPY_CASE(R)                                \
  case R:                                                  \
    qaxpy<R>(d, bits, w, W, K, N, gs, sc, xm, c0, c1, ym); \
    break;
      EMBER_QAXPY_CASE(1)
      EMBER_QAXPY_CASE(2)
      EMBER_QAXPY_CASE(3)
      EMBER_QAXPY_CASE(4)
      EMBER_QAXPY_CASE(5)
      EMBER_QAXPY_CASE(6)
      EMBER_QAXPY_CASE(7)
      default:
        qaxpy<8>(d, bits, w, W, K, N, gs, sc, xm, c0, c1, ym);
#undef EMBER_QAXPY_CASE
    }
  }
}

// The columns per block qaxpy takes for these bits, N and group size: the widest vectors whose
// block divides both N and gs, at least 4 lanes; 0 where none does (and for widths other
// than 4 and 8 bits).
int64_t AxpyColumns(int bits, int64_t N, int64_t gs) {
  if (bits != 4 && bits != 8) return 0;
  for (int64_t L = static_cast<int64_t>(hn::Lanes(hn::ScalableTag<float>())); L >= 4; L /= 2) {
    const int64_t per = bits == 4 ? 2 * L : L;
    if (N % per == 0 && gs % per == 0) return per;
  }
  return 0;
}

void QaxpyRows(int64_t per, int M, int bits, const uint32_t* w, int64_t W, int64_t K, int64_t N, int64_t gs,
               const float* sc, const float* x, int64_t c0, int64_t c1, float* y) {
  const int64_t L = bits == 4 ? per / 2 : per;
  const hn::ScalableTag<float> full;
  if (L == static_cast<int64_t>(hn::Lanes(full))) return qaxpy_m(full, M, bits, w, W, K, N, gs, sc, x, c0, c1, y);
  if (L == 8) return qaxpy_m(hn::CappedTag<float, 8>(), M, bits, w, W, K, N, gs, sc, x, c0, c1, y);
  return qaxpy_m(hn::CappedTag<float, 4>(), M, bits, w, W, K, N, gs, sc, x, c0, c1, y);
}

}  // namespace ember::cpu::quant::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <hwy/targets.h>

#include <array>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "ember/allocator.h"
#include "ember/backend/cpu/copy.h"
#include "ember/backend/cpu/gemm.h"
#include "ember/backend/cpu/quantized_i8.h"
#include "ember/backend/cpu/simd.h"
#include "ember/primitives_quantized.h"
#include "ember/scheduler.h"

namespace ember {

namespace cpu::quant {

HWY_EXPORT(ChunkWords);
HWY_EXPORT(QdotRows);
HWY_EXPORT(QdotMany);
HWY_EXPORT(AxpyColumns);
HWY_EXPORT(QaxpyRows);

/// Words per vector chunk of the SIMD matvec for `bits` and rows of W words; 0: no SIMD path
/// (3, 5, 6 bits).
int64_t chunk_words(int bits, int64_t W) { return HWY_DYNAMIC_DISPATCH(ChunkWords)(bits, W); }

/// out[r * 4 + m] += sum_j sc[r, g(j)] * q[r, j] * x[m, j] over the first nw words of R (1 or 4)
/// packed rows (nw a multiple of chunk_words, wpg words per group), plus
/// sum_g bi[r, g] * xsum[m, g] over G groups, for M <= 4 rows of x permuted and prescaled as
/// qdot says. sc: R rows of G scales (row stride sstride), readable 16 floats past the last
/// row's G (the lanes past a row's groups are loaded, never used).
void qdot_rows(int bits, int64_t C, int M, int R, const uint32_t* w, int64_t wstride, int64_t nw, int64_t wpg,
               const float* sc, int64_t sstride, const float* bi, const float* xsum, int64_t G, const float* xp,
               int64_t K, float* out) {
  HWY_DYNAMIC_DISPATCH(QdotRows)(bits, C, M, R, w, wstride, nw, wpg, sc, sstride, bi, xsum, G, xp, K, out);
}

/// qdot_rows over n rows of w (all of each row in whole chunks: nw words), M <= 4 rows of x,
/// in one call: y[m * ystride + r] = the dot product of row m of x and row r of w plus its
/// bias term. sc, bi: (n, G) float32, readable 16 floats past the last.
void qdot_many(int bits, int64_t C, int M, const uint32_t* w, int64_t wstride, int64_t n, int64_t nw, int64_t wpg,
               const float* sc, const float* bi, const float* xsum, int64_t G, const float* xp, int64_t K, float* y,
               int64_t ystride) {
  HWY_DYNAMIC_DISPATCH(QdotMany)(bits, C, M, w, wstride, n, nw, wpg, sc, bi, xsum, G, xp, K, y, ystride);
}

/// Columns per block of the non-transposed matvec (qaxpy_rows) for these bits, N and group
/// size; 0: no SIMD path.
int64_t axpy_columns(int bits, int64_t N, int64_t gs) { return HWY_DYNAMIC_DISPATCH(AxpyColumns)(bits, N, gs); }

/// y (M, N) = x (M, K) @ (scale * codes) of w quantized (K, N) along N (wq row stride W
/// words, float32 scales (K, N / gs)), over columns [c0, c1) (multiples of per =
/// axpy_columns(...)); the bias term is not added. 4 bits: y holds each block of per columns
/// as its even columns, then its odd ones.
void qaxpy_rows(int64_t per, int M, int bits, const uint32_t* w, int64_t W, int64_t K, int64_t N, int64_t gs,
                const float* sc, const float* x, int64_t c0, int64_t c1, float* y) {
  HWY_DYNAMIC_DISPATCH(QaxpyRows)(per, M, bits, w, W, K, N, gs, sc, x, c0, c1, y);
}

}  // namespace cpu::quant

namespace {

// Code j of a packed row: bits [j * bits, (j + 1) * bits) of its LSB-first bitstream.
inline uint32_t extract(const uint32_t* row, int64_t j, int bits) {
  int64_t off = j * bits;
  int64_t word = off >> 5;
  int sh = static_cast<int>(off & 31);
  uint64_t v = row[word] >> sh;
  if (sh + bits > 32) v |= static_cast<uint64_t>(row[word + 1]) << (32 - sh);
  return static_cast<uint32_t>(v) & ((1u << bits) - 1);
}

// One row of K codes dequantized to float32: out[j] = scale[g] * q[j] + bias[g]. Whole codes
// per word (2, 4, 8 bits) use compile-time shifts, which the compiler vectorizes.
template <int kBits>
void dequant_row_whole(const uint32_t* w, int64_t K, int64_t gs, const float* sc, const float* bi, float* out) {
  constexpr int epw = 32 / kBits;
  constexpr uint32_t mask = (1u << kBits) - 1;
  for (int64_t g = 0; g < K / gs; ++g) {
    const float s = sc[g], b = bi[g];
    const uint32_t* wg = w + g * gs / epw;
    float* og = out + g * gs;
    for (int64_t i = 0; i < gs / epw; ++i) {
      const uint32_t word = wg[i];
      for (int k = 0; k < epw; ++k) og[i * epw + k] = s * static_cast<float>((word >> (k * kBits)) & mask) + b;
    }
  }
}

void dequant_row_f32(const uint32_t* w, int64_t K, int bits, int64_t gs, const float* sc, const float* bi, float* out) {
  if (bits == 2) return dequant_row_whole<2>(w, K, gs, sc, bi, out);
  if (bits == 4) return dequant_row_whole<4>(w, K, gs, sc, bi, out);
  if (bits == 8) return dequant_row_whole<8>(w, K, gs, sc, bi, out);
  for (int64_t g = 0; g < K / gs; ++g) {
    float s = sc[g], b = bi[g];
    for (int64_t j = g * gs; j < (g + 1) * gs; ++j) out[j] = s * static_cast<float>(extract(w, j, bits)) + b;
  }
}

// Calls f(T{}) for the storage types quantization takes.
template <class F>
void dispatch_half(Dtype t, const char* name, F&& f) {
  if (t == float32) return f(float{});
  if (t == float16) return f(float16_t{});
  if (t == bfloat16) return f(bfloat16_t{});
  throw std::invalid_argument(std::string("[") + name + "] expects float16, bfloat16 or float32, got " + dtype_name(t));
}

// n float32 scales/biases from element `offset` of a (float32, float16 or bfloat16). Called
// per row of w in the matvec, so float32 (what the LLM runtime stores) is a plain copy.
void to_f32(const array& a, int64_t offset, int64_t n, float* out) {
  const char* src = static_cast<const char*>(a.raw_ptr()) + offset * a.itemsize();
  if (a.dtype() == float32) {
    std::memcpy(out, src, static_cast<size_t>(n) * sizeof(float));
  } else if (a.dtype() == float16) {
    // Vectorized (F16C on x86): the scalar conversion took half the time of a 4-bit matvec.
    cpu::simd::f16_to_f32(reinterpret_cast<const uint16_t*>(src), out, n);
  } else if (a.dtype() == bfloat16) {
    cpu::simd::bf16_to_f32(reinterpret_cast<const uint16_t*>(src), out, n);
  } else {
    convert_elements(src, a.dtype(), out, float32, static_cast<size_t>(n));
  }
}

// The bias of codes offset by half their range (no biases input): -2^(bits - 1) * scale.
float bias_offset(int bits) { return -static_cast<float>(1 << (bits - 1)); }

// n float32 biases from element `offset`: of bi, or from the scales where there is no bi.
void biases_f32(const array* bi, const array& sc, int bits, int64_t offset, int64_t n, float* out) {
  if (bi) return to_f32(*bi, offset, n, out);
  to_f32(sc, offset, n, out);
  const float o = bias_offset(bits);
  for (int64_t i = 0; i < n; ++i) out[i] *= o;
}

// The first n elements (whole chunks of C words) of M rows of x (row stride K) permuted and
// prescaled as qdot reads them: out[m * K + e0 + k * C + i] = x[m * K + e0 + i * EPW + k] *
// 2^(-bits * k) per chunk at e0 (the top code, shifted down, takes x as is).
void permute_x(int bits, int64_t C, int64_t M, int64_t K, int64_t n, const float* x, float* out) {
  const int64_t epw = 32 / bits;
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t e0 = 0; e0 < n; e0 += C * epw) {
      for (int64_t k = 0; k < epw; ++k) {
        const float f = k == epw - 1 ? 1.0f : std::ldexp(1.0f, static_cast<int>(-bits * k));
        for (int64_t i = 0; i < C; ++i) out[m * K + e0 + k * C + i] = x[m * K + e0 + i * epw + k] * f;
      }
    }
  }
}

// y (M, N, row stride ys) from qaxpy_rows' sums `acc` (M, N; 4 bits: blocks of `per` columns
// as [even | odd]) plus the bias term sum_k x[m, k] * bias[k, g(n)] (x (M, K), bias (K, N / gs)).
void axpy_finish(int bits, int64_t per, int64_t M, int64_t N, int64_t K, int64_t gs, const float* x, const float* b,
                 const float* acc, float* y, int64_t ys) {
  const int64_t G = N / gs, half = bits == 4 ? per / 2 : per;
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t g = 0; g < G; ++g) {
      float t = 0.0f;
      for (int64_t k = 0; k < K; ++k) t += x[m * K + k] * b[k * G + g];
      for (int64_t n = g * gs; n < (g + 1) * gs; ++n) {
        // 4 bits: column n sits in its block among the even or the odd columns.
        const int64_t c = n / per * per, i = n - c;
        const int64_t at = bits == 4 ? c + (i % 2) * half + i / 2 : n;
        y[m * ys + n] = acc[m * N + at] + t;
      }
    }
  }
}

}  // namespace

void Quantize::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  // w: (R, K) -> wq (R, K * bits / 32), scales, biases (R, K / gs)
  array w = cpu::ensure_row_contiguous(inputs[0]);
  for (auto& o : outputs) o.set_data(allocator::malloc(o.nbytes()));
  if (w.size() == 0) return;
  const int64_t K = w.shape(-1), R = static_cast<int64_t>(w.size()) / K, gs = group_size_, G = K / gs;
  const int64_t W = K * bits_ / 32;
  const int bits = bits_;
  const float levels = static_cast<float>((1 << bits_) - 1);
  dispatch_half(w.dtype(), name(), [&](auto tag) {
    using T = decltype(tag);
    const T* src = w.data<T>();
    uint32_t* wq = outputs[0].data<uint32_t>();
    T* scales = outputs[1].data<T>();
    T* biases = outputs[2].data<T>();
    scheduler::parallel_for(R, std::max<int64_t>(1, 16384 / K), [&](int64_t r0, int64_t r1) {
      std::vector<float> row(K);
      for (int64_t r = r0; r < r1; ++r) {
        for (int64_t j = 0; j < K; ++j) row[j] = static_cast<float>(src[r * K + j]);
        uint32_t* out = wq + r * W;
        std::fill(out, out + W, 0u);
        for (int64_t g = 0; g < G; ++g) {
          const float* x = row.data() + g * gs;
          float lo = x[0], hi = x[0];
          for (int64_t j = 1; j < gs; ++j) {
            lo = std::min(lo, x[j]);
            hi = std::max(hi, x[j]);
          }
          // The stored (rounded) scale and bias produce the codes, so dequantizing reproduces
          // w to within half a step. A constant group gets a tiny scale and codes 0.
          T st = T(std::max((hi - lo) / levels, 1e-7f));
          T bt = T(lo);
          scales[r * G + g] = st;
          biases[r * G + g] = bt;
          float s = static_cast<float>(st), b = static_cast<float>(bt);
          for (int64_t j = 0; j < gs; ++j) {
            float q = s > 0 ? std::nearbyint((x[j] - b) / s) : 0.0f;
            uint32_t v = static_cast<uint32_t>(std::clamp(q, 0.0f, levels));
            int64_t off = (g * gs + j) * bits;
            int sh = static_cast<int>(off & 31);
            out[off >> 5] |= v << sh;
            if (sh + bits > 32) out[(off >> 5) + 1] |= v >> (32 - sh);
          }
        }
      }
    });
  });
}

void Dequantize::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  // wq: (R, W), scales/biases: (R, G) -> (R, K) in scales' dtype, computed in float32
  array wq = cpu::ensure_row_contiguous(inputs[0]);
  array sc = cpu::ensure_row_contiguous(inputs[1]);
  std::optional<array> bi;
  if (inputs.size() > 2) bi = cpu::ensure_row_contiguous(inputs[2]);
  array& out = outputs[0];
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  const int64_t K = out.shape(-1), R = static_cast<int64_t>(out.size()) / K, gs = group_size_, G = K / gs;
  const int64_t W = K * bits_ / 32;
  const uint32_t* w = wq.data<uint32_t>();
  char* dst = static_cast<char*>(out.raw_ptr());
  scheduler::parallel_for(R, std::max<int64_t>(1, 16384 / K), [&](int64_t r0, int64_t r1) {
    std::vector<float> s(G), b(G), row(K);
    for (int64_t r = r0; r < r1; ++r) {
      to_f32(sc, r * G, G, s.data());
      biases_f32(bi ? &*bi : nullptr, sc, bits_, r * G, G, b.data());
      dequant_row_f32(w + r * W, K, bits_, gs, s.data(), b.data(), row.data());
      convert_elements(row.data(), float32, dst + r * K * out.itemsize(), out.dtype(), static_cast<size_t>(K));
    }
  });
}

// The elements of each row of x that the integer path covers (whole chunks), or 0 where it
// does not run: quantized_matmul without int8 activations, groups under 32 (but 16 at 6 and 8 bits), no kernel for
// `bits` on this CPU, rows shorter than a chunk.
int64_t i8_rows(bool int8_x, int bits, int64_t gs, int64_t K) {
  // Groups of 16 (Q6_K's) where a chunk is 32 codes (two groups, lanes 0-3 and 4-7).
  const int64_t chunk = int8_x && (gs >= 32 || (gs == 16 && bits != 4)) ? cpu::quant::i8_chunk(bits) : 0;
  return chunk > 0 ? K / chunk * chunk : 0;
}

bool int8_activation_kernels(int bits, int group_size) {
  // Rows of 64 elements are whole chunks (of 64 or 32) wherever the integer path runs.
  return i8_rows(true, bits, group_size, 64) > 0;
}

// Up to this many rows of x, transpose runs the register-blocked matvec (four rows of x per
// pass over cached rows of w); beyond, dequantized tiles and sgemm win. 4096x4096, 4 bits,
// 2 threads: 32 rows take 7.6 ms here and 13.5 ms through tiles; 128 rows 31 ms through tiles.
constexpr int64_t kMatvecRows = 32;

namespace {

// y (M, N) float32 = x (M, K) float32 @ w.T (transpose: wq (N, K * bits / 32), scales/biases
// (N, K / gs)) or x @ w (wq (K, N * bits / 32), scales/biases (K, N / gs)). The arrays are
// row-contiguous, possibly views into a batch of matrices (gather_qmm).
void qmm(const array& x, const array& wq, const array& sc, const array* bi, int64_t M, int64_t N, bool transpose,
         int64_t gs, int bits, bool int8_x, float* y) {
  const int64_t K = x.shape(-1);
  const float* xp = x.data<float>();
  const uint32_t* w = wq.data<uint32_t>();
  if (K == 0) {
    std::fill(y, y + M * N, 0.0f);
  } else if (transpose && (M <= kMatvecRows || i8_rows(int8_x, bits, gs, K) > 0)) {
    const int64_t G = K / gs, W = K * bits / 32;
    // The integer path (int8_x) covers whole chunks of I8 elements, the float SIMD path whole
    // chunks of C words; the tail (and 3/5/6 bits) is scalar.
    const int64_t n_i8 = i8_rows(int8_x, bits, gs, K);
    // Prefill through the integer kernels runs x four rows at a time: its buffers are padded
    // with zero rows to a multiple of 4, whose results are never stored.
    const int64_t Mp = n_i8 > 0 && M > 4 ? (M + 3) / 4 * 4 : M;
    // Per group sums of x for the bias term (which the integer path without biases does not
    // take), and x permuted for the SIMD chunk layout. Rows of x split over the threads for a
    // prefill's hundreds of rows.
    std::vector<float> xsum(n_i8 > 0 && !bi ? 0 : Mp * G, 0.0f);
    if (!xsum.empty()) {
      scheduler::parallel_for(M, 16, [&](int64_t m0, int64_t m1) {
        for (int64_t m = m0; m < m1; ++m) {
          for (int64_t g = 0; g < G; ++g) {
            float t = 0.0f;
            for (int64_t j = g * gs; j < (g + 1) * gs; ++j) t += xp[m * K + j];
            xsum[m * G + g] = t;
          }
        }
      });
    }
    std::vector<int8_t> xq(Mp * n_i8);
    std::vector<float> dx(Mp * n_i8 / 32);
    if (n_i8 > 0) {
      scheduler::parallel_for(M, 16, [&](int64_t m0, int64_t m1) {
        cpu::quant::i8_quantize_x(bits, xp + m0 * K, m1 - m0, K, n_i8, xq.data() + m0 * n_i8,
                                  dx.data() + m0 * (n_i8 / 32));
      });
    }
    // No biases: the integer path folds the codes' offset into its integer sums (i8_offsets).
    const bool use_xoff = n_i8 > 0 && !bi;
    const int64_t xoff_row = use_xoff ? n_i8 / cpu::quant::i8_chunk(bits) * 8 : 0;
    std::vector<int32_t> xoff(Mp * xoff_row);
    if (use_xoff) cpu::quant::i8_offsets(bits, xq.data(), M, n_i8, xoff.data());
    // 4-bit prefill: the scales of x regrouped per four rows (i8_scales_by_four).
    std::vector<float> dxt(bits == 4 && M > 4 && n_i8 > 0 ? Mp * n_i8 / 32 : 0);
    if (!dxt.empty()) cpu::quant::i8_scales_by_four(dx.data(), Mp, n_i8, dxt.data());
    const float tail_offset = use_xoff ? bias_offset(bits) : 0.0f;
    const int64_t C = n_i8 > 0 ? 0 : cpu::quant::chunk_words(bits, W);
    // 3, 5 and 6 bits with float x: whole chunks of 32 through f32_dot.
    const int64_t F = n_i8 > 0 || C > 0 ? 0 : cpu::quant::f32_chunk(bits), n_f32 = F > 0 ? K / F * F : 0;
    const int64_t epw = 32 / bits, nw = C > 0 ? W / C * C : 0;
    const int64_t n_simd = n_i8 > 0 ? n_i8 : C > 0 ? nw * epw : n_f32;
    std::vector<float> xperm(C > 0 ? M * K : 0);
    if (C > 0) permute_x(bits, C, M, K, n_simd, xp, xperm.data());
    if (C > 0 && nw == W && K <= 512) {
      // Short rows, all in whole chunks (scores against a quantized key cache, K the head
      // size): each task's rows in one kernel call, scales and biases converted per task.
      scheduler::parallel_for(N, 64, [&](int64_t n0, int64_t n1) {
        std::vector<float> s((n1 - n0) * G + 16), b((n1 - n0) * G + 16);
        to_f32(sc, n0 * G, (n1 - n0) * G, s.data());
        biases_f32(bi, sc, bits, n0 * G, (n1 - n0) * G, b.data());
        for (int64_t m0 = 0; m0 < M; m0 += 4) {
          cpu::quant::qdot_many(bits, C, static_cast<int>(std::min<int64_t>(4, M - m0)), w + n0 * W, W, n1 - n0, nw,
                                gs / epw, s.data(), b.data(), xsum.data() + m0 * G, G, xperm.data() + m0 * K, K,
                                y + m0 * N + n0, N);
        }
      });
      return;
    }
    // Rows of w split over the threads, 16 rows (16 * K * bits / 8 bytes) per task at least,
    // taken four at a time.
    // float32 scales and biases (what GGUF files load as) are read in place; a row's SIMD scale
    // loads may run up to 16 floats past its G, into the next rows, so the last rows (and
    // other dtypes) are read from float32 copies of blocks of rows with 16 floats to spare.
    const float* sc32 = sc.dtype() == float32 ? sc.data<float>() : nullptr;
    const float* bi32 = bi && bi->dtype() == float32 ? bi->data<float>() : nullptr;
    // The integer path reads float16 scales and biases in place too, converting in registers.
    // (No biases: the kernel makes them from the scales.)
    const bool f16_in_place = n_i8 > 0 && sc.dtype() == float16 && (!bi || bi->dtype() == float16);
    const float16_t* bi16 = f16_in_place && bi ? bi->data<float16_t>() : nullptr;
    // Rows of x in blocks of kXBlock (prefill through the integer path): each block's pass reads
    // w once from memory, four rows at a time, while the block's x stays in L2.
    constexpr int64_t kXBlock = 64;
    for (int64_t x0 = 0; x0 < M; x0 += kXBlock) {
      const int64_t x1 = std::min(M, x0 + kXBlock);
      // Rows of w split over the threads in fours, so that only the last N % 4 rows take the
      // one-row kernels: a row's kernel (and its bits) must not depend on the thread count.
      scheduler::parallel_for((N + 3) / 4, 4, [&](int64_t g0, int64_t g1) {
        const int64_t n0 = g0 * 4, n1 = std::min(N, g1 * 4);
        // Converted a block of rows at a time: one conversion call per 64 rows instead of two
        // per row (float16/bfloat16 checkpoints; float32 is a copy).
        constexpr int64_t kBlock = 64;
        std::vector<float> sblk, bblk;  // at first use (scales read in place need none)
        int64_t blk0 = n0, blkn = 0;
        // Decode through the integer kernels with the scales read in place: up to kMany rows per
        // call, which the kernel walks one by one, so the per-call work is paid once per kMany
        // rows rather than per 4 (rows of 1 KB stream in about 30 ns each).
        constexpr int kMany = 32;
        const bool many = f16_in_place && M <= 4;
        std::vector<float> part_buf(many ? kMany * 4 : 16 * (kXBlock / 4));
        float* part = part_buf.data();
        const float16_t* sc16 = f16_in_place ? sc.data<float16_t>() : nullptr;
        for (int64_t n = n0; n < n1;) {
          const int R = many ? static_cast<int>(std::min<int64_t>(kMany, n1 - n)) : n1 - n >= 4 ? 4 : 1;
          const bool in_place = sc32 && bi32 && (n + R) * G + 16 <= N * G;
          if (!in_place && !f16_in_place && n + R > blk0 + blkn) {
            if (sblk.empty()) {
              sblk.assign(kBlock * G + 16, 0.0f);
              bblk.resize(kBlock * G);
            }
            blk0 = n;
            blkn = std::min(kBlock, n1 - n);
            to_f32(sc, n * G, blkn * G, sblk.data());
            biases_f32(bi, sc, bits, n * G, blkn * G, bblk.data());
          }
          const float* sr = in_place ? sc32 + n * G : f16_in_place ? nullptr : sblk.data() + (n - blk0) * G;
          const float* br = in_place ? bi32 + n * G : f16_in_place ? nullptr : bblk.data() + (n - blk0) * G;
          const int64_t sstride = G;
          // Prefill through the integer kernels: one call takes all the block's rows of x against
          // these four rows of w (it walks x four rows at a time, results in blocks of 16), so a
          // call's setup is paid once per four rows of w rather than per tile.
          const bool all_x = n_i8 > 0 && M > 4 && R == 4;
          if (all_x) {
            const int Mx = static_cast<int>(std::min(Mp, x0 + kXBlock) - x0);  // padded rows too
            std::fill(part, part + 16 * ((Mx + 3) / 4), 0.0f);
            const float* xs = xsum.empty() ? nullptr : xsum.data() + x0 * G;
            const int32_t* xo = use_xoff ? xoff.data() + x0 * xoff_row : nullptr;
            const float* dt = dxt.empty() ? nullptr : dxt.data() + x0 * (n_i8 / 32);
            if (f16_in_place) {
              cpu::quant::i8_dot(bits, Mx, R, true, w + n * W, W, n_i8, gs, true, sc16 + n * G, G,
                                 bi16 ? bi16 + n * G : nullptr, xs, G, xq.data() + x0 * n_i8,
                                 dx.data() + x0 * (n_i8 / 32), dt, xo, part);
            } else {
              cpu::quant::i8_dot(bits, Mx, R, true, w + n * W, W, n_i8, gs, false, sr, sstride, use_xoff ? nullptr : br,
                                 xs, G, xq.data() + x0 * n_i8, dx.data() + x0 * (n_i8 / 32), dt, xo, part);
            }
          }
          // Rows of x four at a time against these rows of w, which stay in cache meanwhile.
          for (int64_t mb = x0; mb < x1; mb += 4) {
            const int Mb = static_cast<int>(std::min<int64_t>(4, x1 - mb));
            const float* xb = xp + mb * K;
            const float* xs = xsum.empty() ? nullptr : xsum.data() + mb * G;
            float* pm = all_x ? part + (mb - x0) / 4 * 16 : part;
            if (!all_x) std::fill(part, part + part_buf.size(), 0.0f);
            if (all_x) {
              // computed above
            } else if (C > 0) {
              cpu::quant::qdot_rows(bits, C, Mb, R, w + n * W, W, nw, gs / epw, sr, sstride, br, xs, G,
                                    xperm.data() + mb * K, K, part);
            } else if (f16_in_place) {
              cpu::quant::i8_dot(bits, Mb, R, M > 4, w + n * W, W, n_i8, gs, true, sc16 + n * G, G,
                                 bi16 ? bi16 + n * G : nullptr, xs, G, xq.data() + mb * n_i8,
                                 dx.data() + mb * (n_i8 / 32), nullptr,
                                 use_xoff ? xoff.data() + mb * xoff_row : nullptr, part);
            } else if (n_i8 > 0) {
              cpu::quant::i8_dot(bits, Mb, R, M > 4, w + n * W, W, n_i8, gs, false, sr, sstride,
                                 use_xoff ? nullptr : br, xs, G, xq.data() + mb * n_i8, dx.data() + mb * (n_i8 / 32),
                                 nullptr, use_xoff ? xoff.data() + mb * xoff_row : nullptr, part);
            } else {
              if (n_f32 > 0) cpu::quant::f32_dot(bits, Mb, R, w + n * W, W, n_f32, gs, sr, sstride, xb, K, part);
              for (int r = 0; r < R; ++r) {
                for (int m = 0; m < Mb; ++m) {
                  for (int64_t g = 0; g < G; ++g) part[r * 4 + m] += br[r * G + g] * xs[m * G + g];
                }
              }
            }
            for (int r = 0; r < R; ++r) {
              // The words after the last whole chunk, and all of 3, 5 and 6 bits: scalar unpack.
              const uint32_t* wr = w + (n + r) * W;
              for (int64_t j = n_simd; j < K; ++j) {
                const float scale =
                    f16_in_place ? static_cast<float>(sc16[(n + r) * G + j / gs]) : sr[r * sstride + j / gs];
                // (With the offset in the integer sums, the tail's share of it is added here.)
                const float q = scale * (static_cast<float>(extract(wr, j, bits)) + tail_offset);
                for (int m = 0; m < Mb; ++m) pm[r * 4 + m] += q * xb[m * K + j];
              }
              for (int m = 0; m < Mb; ++m) y[(mb + m) * N + n + r] = pm[r * 4 + m];
            }
          }
          n += R;
        }
      });
    }
  } else if (!transpose && M <= kMatvecRows && cpu::quant::axpy_columns(bits, N, gs) > 0) {
    // x @ w for few rows of x (attention over a quantized value cache, a decode step): each row
    // k of w is read once and unpacked in registers, its codes meeting x[m, k] * scale; the
    // biases enter per group, y[m, n] += sum_k x[m, k] * bias[k, g(n)].
    const int64_t per = cpu::quant::axpy_columns(bits, N, gs), G = N / gs, W = N * bits / 32;
    std::vector<float> s(K * G), b(K * G), acc(M * N);
    to_f32(sc, 0, K * G, s.data());
    biases_f32(bi, sc, bits, 0, K * G, b.data());
    // Threads split the columns in blocks of `per`, each task some 64K codes at least.
    scheduler::parallel_for(N / per, std::max<int64_t>(1, 65536 / (K * per)), [&](int64_t b0, int64_t b1) {
      cpu::quant::qaxpy_rows(per, static_cast<int>(M), bits, w, W, K, N, gs, s.data(), xp, b0 * per, b1 * per,
                             acc.data());
    });
    axpy_finish(bits, per, M, N, K, gs, xp, b.data(), acc.data(), y, N);
  } else {
    // Tiles of rows of w (transpose: rows n of (N, K); else rows k of (K, N)) dequantized to
    // float32 in parallel, then one sgemm per tile on OpenBLAS's threads. A tile of about
    // 8 MB keeps sgemm efficient while never holding the whole float32 weight.
    const int64_t rows = wq.shape(0), len = transpose ? K : N, G = len / gs, W = len * bits / 32;
    const int64_t tile_rows = std::clamp<int64_t>((int64_t{1} << 21) / len, 16, rows);
    std::vector<float> tile(tile_rows * len);
    for (int64_t r0 = 0; r0 < rows; r0 += tile_rows) {
      const int64_t nr = std::min(tile_rows, rows - r0);
      scheduler::parallel_for(nr, 4, [&](int64_t a, int64_t e) {
        std::vector<float> s(G), b(G);
        for (int64_t r = a; r < e; ++r) {
          to_f32(sc, (r0 + r) * G, G, s.data());
          biases_f32(bi, sc, bits, (r0 + r) * G, G, b.data());
          dequant_row_f32(w + (r0 + r) * W, len, bits, gs, s.data(), b.data(), tile.data() + r * len);
        }
      });
      if (transpose) {
        // y[:, r0:r0+nr] = x (M, K) @ tile (nr, K)^T
        cpu::gemm<float>(false, true, M, nr, K, 1.0f, xp, K, tile.data(), K, 0.0f, y + r0, N);
      } else {
        // y += x[:, r0:r0+nr] (M, nr) @ tile (nr, N)
        cpu::gemm<float>(false, false, M, N, nr, 1.0f, xp + r0, K, tile.data(), N, r0 == 0 ? 0.0f : 1.0f, y, N);
      }
    }
  }
}

// Matrix `index` of a row-contiguous batch of (rows, cols) matrices, as a 2-D view.
array matrix_at(const array& a, int64_t index, int rows, int cols) {
  array v = array::placeholder({rows, cols}, a.dtype());
  v.copy_shared_buffer(a, {cols, 1}, Flags{true, true, rows <= 1 || cols <= 1}, static_cast<size_t>(rows) * cols,
                       index * rows * cols);
  return v;
}

}  // namespace

void QuantizedMatmul::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  // x: (M, K) float32; transpose: wq (N, K * bits / 32), scales/biases (N, K / gs) -> (M, N)
  //                    else:      wq (K, N * bits / 32), scales/biases (K, N / gs) -> (M, N)
  array x = cpu::ensure_row_contiguous(inputs[0]);
  array wq = cpu::ensure_row_contiguous(inputs[1]);
  array sc = cpu::ensure_row_contiguous(inputs[2]);
  array& out = outputs[0];
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  const int64_t N = out.shape(-1), M = static_cast<int64_t>(out.size()) / N;
  // float32 results go straight to the output; other dtypes through a float32 buffer.
  std::vector<float> tmp(out.dtype() == float32 ? 0 : static_cast<size_t>(M * N));
  float* y = out.dtype() == float32 ? out.data<float>() : tmp.data();
  std::optional<array> bi;
  if (inputs.size() > 3) bi = cpu::ensure_row_contiguous(inputs[3]);
  qmm(x, wq, sc, bi ? &*bi : nullptr, M, N, transpose_, group_size_, bits_, int8_x_, y);
  if (out.dtype() != float32) convert_elements(y, float32, out.raw_ptr(), out.dtype(), static_cast<size_t>(M * N));
}

void GatherQMM::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  // x (Bx, M, K) float32; wq (Bw, rows, W); scales/biases (Bw, rows, G); lhs, rhs (L,) uint32
  // -> (L, M, N): product l takes matrix lhs[l] of x and rhs[l] of w.
  array x = cpu::ensure_row_contiguous(inputs[0]);
  array wq = cpu::ensure_row_contiguous(inputs[1]);
  array sc = cpu::ensure_row_contiguous(inputs[2]), bi = cpu::ensure_row_contiguous(inputs[3]);
  array li = cpu::ensure_row_contiguous(inputs[4]), ri = cpu::ensure_row_contiguous(inputs[5]);
  array& out = outputs[0];
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  const int64_t L = out.shape(0), M = out.shape(1), N = out.shape(2), K = x.shape(2);
  const int64_t Bx = x.shape(0), Bw = wq.shape(0);
  const int rows = wq.shape(1), W = wq.shape(2), G = sc.shape(2);
  std::vector<float> tmp(out.dtype() == float32 ? 0 : static_cast<size_t>(L * M * N));
  float* y = out.dtype() == float32 ? out.data<float>() : tmp.data();
  const uint32_t *lp = li.data<uint32_t>(), *rp = ri.data<uint32_t>();
  for (int64_t l = 0; l < L; ++l) {
    if (lp[l] >= Bx || rp[l] >= Bw) {
      throw std::out_of_range("[gather_qmm] index " + std::to_string(lp[l] >= Bx ? lp[l] : rp[l]) +
                              " is out of range for " + std::to_string(lp[l] >= Bx ? Bx : Bw) +
                              (lp[l] >= Bx ? " matrices of x" : " matrices of w"));
    }
  }
  // Pairs that share a matrix of w run as one product over their stacked rows of x (the tokens
  // routed to one expert of a mixture), so that matrix is read once and a prefill's tokens
  // make a matrix product rather than one matvec each.
  std::vector<int64_t> order(static_cast<size_t>(L));
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return rp[a] < rp[b]; });
  for (size_t a = 0; a < order.size();) {
    size_t e = a + 1;
    while (e < order.size() && rp[order[e]] == rp[order[a]]) ++e;
    const uint32_t r = rp[order[a]];
    const array bl = matrix_at(bi, r, rows, G), wl = matrix_at(wq, r, rows, W), sl = matrix_at(sc, r, rows, G);
    const int64_t n = static_cast<int64_t>(e - a);
    if (n == 1) {
      const int64_t l = order[a];
      qmm(matrix_at(x, lp[l], static_cast<int>(M), static_cast<int>(K)), wl, sl, &bl, M, N, transpose_, group_size_,
          bits_, false, y + l * M * N);
    } else {
      // The pairs' rows of x gathered straight into the buffer qmm reads.
      array xs = array::placeholder({static_cast<int>(n * M), static_cast<int>(K)}, float32);
      xs.set_data(allocator::malloc(xs.nbytes()));
      std::vector<float> ys(static_cast<size_t>(n * M * N));
      const float* xp = x.data<float>();
      for (int64_t i = 0; i < n; ++i) {
        std::memcpy(xs.data<float>() + i * M * K, xp + lp[order[a + i]] * M * K,
                    static_cast<size_t>(M * K) * sizeof(float));
      }
      qmm(xs, wl, sl, &bl, n * M, N, transpose_, group_size_, bits_, false, ys.data());
      for (int64_t i = 0; i < n; ++i) {
        std::memcpy(y + order[a + i] * M * N, ys.data() + i * M * N, static_cast<size_t>(M * N) * sizeof(float));
      }
    }
    a = e;
  }
  if (out.dtype() != float32) convert_elements(y, float32, out.raw_ptr(), out.dtype(), static_cast<size_t>(L * M * N));
}

void QuantizedAttention::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  // q (B, Hq, Tq, D) float32; keys wq (B, Hkv, Tk, Wk), scales and biases (B, Hkv, Tk, Gk);
  // values likewise (Wv, Gv); a boolean mask (B, Hq, Tq, Tk), any strides, when has_mask_.
  array q = cpu::ensure_row_contiguous(inputs[0]);
  // Each (b, h) matrix needs contiguous rows: a cache's views have them and are read in place.
  auto rows = [](const array& a) {
    const bool ok = a.strides()[3] == 1 && (a.shape(2) <= 1 || a.strides()[2] == a.shape(3));
    return ok ? a : cpu::ensure_row_contiguous(a);
  };
  const std::array<array, 6> pl = {rows(inputs[1]), rows(inputs[2]), rows(inputs[3]),
                                   rows(inputs[4]), rows(inputs[5]), rows(inputs[6])};
  array& out = outputs[0];
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  const int64_t B = q.shape(0), Hq = q.shape(1), Tq = q.shape(2), D = q.shape(3);
  const int64_t Hkv = pl[0].shape(1), Tk = pl[0].shape(2), rep = Hq / Hkv, Mq = rep * Tq;
  const int64_t Wk = pl[0].shape(3), Gk = pl[1].shape(3), Wv = pl[3].shape(3), Gv = pl[4].shape(3);
  const int bits = bits_;
  const int64_t gs = group_size_, epw = 32 / bits, Dv = Wv * 32 / bits;
  // Scores through the chunked matvec where whole chunks cover a key (else scalar); values
  // through qaxpy where blocks fit the head (else scalar).
  const int64_t C = cpu::quant::chunk_words(bits, Wk);
  const bool simd_keys = C > 0 && Wk % C == 0;
  const int64_t per = cpu::quant::axpy_columns(bits, Dv, gs);
  const bool* mp = has_mask_ ? inputs[7].data<bool>() : nullptr;
  const Strides ms = has_mask_ ? inputs[7].strides() : Strides{};
  const float* qp = q.data<float>();
  float* op = out.data<float>();
  // Element offset of matrix (b, h) in plane i.
  auto at = [&](int i, int64_t b, int64_t h) { return b * pl[i].strides()[0] + h * pl[i].strides()[1]; };
  // Work units are (b, h, block of keys): a decode step has B * Hkv matrices (3 for SmolLM2),
  // too few to keep the threads busy, so long caches are split into blocks of at least kMinKeys
  // keys, each block's softmax kept unnormalized beside its row maxima and sums, and the blocks
  // merged per row at the end (flash-decoding's split).
  constexpr int64_t kMinKeys = 256;
  const int64_t mats = B * Hkv, want = 4 * scheduler::num_threads();
  const int64_t splits =
      mats >= want ? 1 : std::clamp<int64_t>((want + mats - 1) / mats, 1, std::max<int64_t>(1, Tk / kMinKeys));
  const int64_t Tb = (Tk + splits - 1) / splits, S = (Tk + Tb - 1) / Tb;
  // Per unit and row: the block's maximum score, its sum of exponentials and its weighted values.
  std::vector<float> part_max(mats * S * Mq), part_sum(mats * S * Mq), part_y(mats * S * Mq * Dv);
  scheduler::parallel_for(mats * S, 1, [&](int64_t i0, int64_t i1) {
    std::vector<float> x(Mq * D), xp(simd_keys ? Mq * D : 0), xsum(Mq * Gk), sk(Tb * Gk + 16), bk(Tb * Gk + 16);
    std::vector<float> sv(Tb * Gv), bv(Tb * Gv), p(Mq * Tb), acc(Mq * Dv);
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t b = i / S / Hkv, h = i / S % Hkv, t0 = i % S * Tb, T = std::min(Tk, t0 + Tb) - t0;
      // The rep heads' Tq rows each: row r = head r / Tq of the group, query r % Tq, contiguous in q.
      const float* qi = qp + (b * Hq + h * rep) * Tq * D;
      for (int64_t j = 0; j < Mq * D; ++j) x[j] = qi[j] * scale_;
      for (int64_t r = 0; r < Mq; ++r) {
        for (int64_t g = 0; g < Gk; ++g) {
          float t = 0.0f;
          for (int64_t e = g * gs; e < (g + 1) * gs; ++e) t += x[r * D + e];
          xsum[r * Gk + g] = t;
        }
      }
      to_f32(pl[1], at(1, b, h) + t0 * Gk, T * Gk, sk.data());
      to_f32(pl[2], at(2, b, h) + t0 * Gk, T * Gk, bk.data());
      const uint32_t* kw = pl[0].data<uint32_t>() + at(0, b, h) + t0 * Wk;
      if (simd_keys) {
        permute_x(bits, C, Mq, D, D, x.data(), xp.data());
        for (int64_t m0 = 0; m0 < Mq; m0 += 4) {
          cpu::quant::qdot_many(bits, C, static_cast<int>(std::min<int64_t>(4, Mq - m0)), kw, Wk, T, Wk, gs / epw,
                                sk.data(), bk.data(), xsum.data() + m0 * Gk, Gk, xp.data() + m0 * D, D,
                                p.data() + m0 * T, T);
        }
      } else {
        for (int64_t j = 0; j < T; ++j) {
          for (int64_t r = 0; r < Mq; ++r) {
            float t = 0.0f;
            for (int64_t e = 0; e < D; ++e) {
              t += x[r * D + e] *
                   (sk[j * Gk + e / gs] * static_cast<float>(extract(kw + j * Wk, e, bits)) + bk[j * Gk + e / gs]);
            }
            p[r * T + j] = t;
          }
        }
      }
      // Mask, then the block's exponentials against its row maxima (a row with no key seen
      // here has maximum `lowest`, which the merge weighs by zero unless no block saw one).
      float* pm = part_max.data() + i * Mq;
      float* ps = part_sum.data() + i * Mq;
      for (int64_t r = 0; r < Mq; ++r) {
        float* row = p.data() + r * T;
        if (mp) {
          const bool* mr = mp + b * ms[0] + (h * rep + r / Tq) * ms[1] + (r % Tq) * ms[2] + t0 * ms[3];
          for (int64_t j = 0; j < T; ++j) {
            if (!mr[j * ms[3]]) row[j] = std::numeric_limits<float>::lowest();
          }
        }
        pm[r] = cpu::simd::max_f32(row, T);
        for (int64_t j = 0; j < T; ++j) row[j] -= pm[r];
        cpu::simd::exp_f32(row, row, T);
        ps[r] = static_cast<float>(cpu::simd::sum_f32(row, T));
      }
      to_f32(pl[4], at(4, b, h) + t0 * Gv, T * Gv, sv.data());
      to_f32(pl[5], at(5, b, h) + t0 * Gv, T * Gv, bv.data());
      const uint32_t* vw = pl[3].data<uint32_t>() + at(3, b, h) + t0 * Wv;
      float* y = part_y.data() + i * Mq * Dv;
      if (per > 0) {
        cpu::quant::qaxpy_rows(per, static_cast<int>(Mq), bits, vw, Wv, T, Dv, gs, sv.data(), p.data(), 0, Dv,
                               acc.data());
        axpy_finish(bits, per, Mq, Dv, T, gs, p.data(), bv.data(), acc.data(), y, Dv);
      } else {
        std::fill(y, y + Mq * Dv, 0.0f);
        for (int64_t j = 0; j < T; ++j) {
          for (int64_t e = 0; e < Dv; ++e) {
            const float v =
                sv[j * Gv + e / gs] * static_cast<float>(extract(vw + j * Wv, e, bits)) + bv[j * Gv + e / gs];
            for (int64_t r = 0; r < Mq; ++r) y[r * Dv + e] += p[r * T + j] * v;
          }
        }
      }
    }
  });
  // Each row: its blocks weighed by exp(block maximum - row maximum), over the weighted sum of exponentials.
  scheduler::parallel_for(mats * Mq, 16, [&](int64_t k0, int64_t k1) {
    std::vector<float> w(S);
    for (int64_t k = k0; k < k1; ++k) {
      const int64_t u = k / Mq, r = k % Mq, b = u / Hkv, h = u % Hkv;
      float top = std::numeric_limits<float>::lowest();
      for (int64_t s = 0; s < S; ++s) top = std::max(top, part_max[(u * S + s) * Mq + r]);
      double z = 0.0;
      for (int64_t s = 0; s < S; ++s) {
        w[s] = std::exp(part_max[(u * S + s) * Mq + r] - top);
        z += static_cast<double>(w[s]) * part_sum[(u * S + s) * Mq + r];
      }
      const float inv = static_cast<float>(1.0 / z);
      // The same rows, contiguous in the output.
      float* y = op + (b * Hq + h * rep) * Tq * Dv + r * Dv;
      for (int64_t e = 0; e < Dv; ++e) {
        float t = 0.0f;
        for (int64_t s = 0; s < S; ++s) t += w[s] * part_y[((u * S + s) * Mq + r) * Dv + e];
        y[e] = t * inv;
      }
    }
  });
}

}  // namespace ember
#endif  // HWY_ONCE
