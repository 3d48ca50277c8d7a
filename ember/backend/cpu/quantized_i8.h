// The integer matvec of quantized_matmul with int8 activations (ember/quantized.h): x is
// rounded to int8 per block of 32 values, and each 4- or 8-bit weight code meets its x code in
// an integer dot product (AVX-512 VNNI vpdpbusd, or AVX2 vpmaddubsw + vpmaddwd for 4 bits),
// 64 codes per few instructions instead of 8 per float FMA. The float work is one convert and
// one FMA per 8 lanes (16 for 4 and 8 bits with VNNI), each lane the sum of 8 (4-bit) or 4
// (8-bit) products.
#pragma once

#include <cstdint>
#include <string>

namespace ember::cpu::quant {

/// Elements per chunk of the integer matvec for `bits` on this CPU: 64 (4 bits: AVX2 or
/// AVX-512 VNNI), 32 (8, 6, 5 and 3 bits: AVX-512 VNNI only), or 0 (no integer path: 2 bits,
/// other CPUs).
int64_t i8_chunk(int bits);

/// Picks the kernels: "vnni", "avx2" (both when this CPU has them) or "none" (the float
/// path); false, changing nothing, for a name this CPU cannot run. For tests: the best one
/// this CPU has is the default. Not thread-safe against running matvecs.
bool i8_select(const std::string& name);

/// Elements per chunk of the float-x matvec for 3, 5 and 6 bits (f32_dot) on this CPU: 32
/// (AVX2), or 0 (other widths, which have their own SIMD path, or no AVX2).
int64_t f32_chunk(int bits);

/// out[r * 4 + m] += sum_j sc[r * sstride + j / gs] * q[r, j] * x[m * K + j] over the first n
/// elements (a multiple of f32_chunk(bits)) of R rows of w (3, 5 or 6-bit codes, row stride
/// wstride words) and M <= 4 rows of x, float32 scales; the bias term is not added.
void f32_dot(int bits, int M, int R, const uint32_t* w, int64_t wstride, int64_t n, int64_t gs, const float* sc,
             int64_t sstride, const float* x, int64_t K, float* out);

/// Rounds the first n elements (a multiple of 32) of M rows of x (row stride K) to int8 per
/// block of 32: dx[m * n / 32 + b] = max|x| / 127 over block b, xq = round(x / dx). xq is laid
/// out as i8_dot reads it: for 4 bits each chunk of 64 holds its 32 even elements, then its 32
/// odd ones (the low and high nibbles of 32 packed bytes); for 8 and 6 bits the natural order.
void i8_quantize_x(int bits, const float* x, int64_t M, int64_t K, int64_t n, int8_t* xq, float* dx);

/// out[r * 4 + m] += sum_j sc[r * sstride + j / gs] * q[r, j] * dx[m, j / 32] * xq[m, j] over
/// the first n elements (a multiple of i8_chunk(bits)) of R rows of w (any number; 4 when
/// joint; packed codes, row stride wstride words), for M rows of x from i8_quantize_x (row
/// stride n; 1 to 4, or any number when joint: four at a time, block k of them in out[16 k...]),
/// plus the whole bias term sum_g bi[r * sstride + g] * xsum[m * G + g] over the G groups
/// (bi null: codes offset by half their range, bi = -2^(bits - 1) * sc).
/// sc and bi: float32, or float16 bits when f16 (converted in registers, no copy). joint: the
/// R = 4 rows together, sharing each load of x (w in cache, as in prefill); else one row after
/// another, a single sequential stream through w (decode, w from memory).
/// xoff: for codes offset by half their range (no biases), what i8_offsets returns for these
/// rows of x; the offset then enters the integer sums and bi, xsum and G are not read. Else null.
/// dxt: for 4 bits with joint, what i8_scales_by_four returns for these rows of x (else null):
/// then each whole four rows of x run a kernel that reduces their sums before the float work.
void i8_dot(int bits, int M, int R, bool joint, const uint32_t* w, int64_t wstride, int64_t n, int64_t gs, bool f16,
            const void* sc, int64_t sstride, const void* bi, const float* xsum, int64_t G, const int8_t* xq,
            const float* dx, const float* dxt, const int32_t* xoff, float* out);

/// dx of M rows of x (a multiple of 4; n elements per row, blocks of 32) regrouped per four rows
/// and chunk of 64: out[(q * n / 64 + c) * 8 + k] = dx of row 4q + k % 4, block 2c + k / 4.
void i8_scales_by_four(const float* dx, int64_t M, int64_t n, float* out);

/// For codes offset by 2^(bits - 1): per row of xq (from i8_quantize_x) and per chunk of
/// i8_chunk(bits) elements, the 8 int32 lanes -2^(bits - 1) * (sum of the x bytes that lane's
/// integer dot product covers), the start of each chunk's integer sum. out holds
/// M * n / i8_chunk(bits) * 8 values.
void i8_offsets(int bits, const int8_t* xq, int64_t M, int64_t n, int32_t* out);

}  // namespace ember::cpu::quant
