// Runtime-dispatched SIMD kernels (Google Highway): the CPU picks the widest
// instruction set it has (SSE4, AVX2, AVX-512) when the library loads.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ember::cpu::simd {

/// out[i] = exp(in[i]); within 1 ulp (Highway's Exp), inf/nan preserved.
void exp_f32(const float* in, float* out, int64_t n);
/// out[i] = 1 / (1 + exp(-in[i])).
void sigmoid_f32(const float* in, float* out, int64_t n);
/// Sum of n floats: SIMD partial sums per 4096-element block, blocks added in double.
double sum_f32(const float* in, int64_t n);
/// Max / min of n > 0 floats (nan if any is nan).
float max_f32(const float* in, int64_t n);
float min_f32(const float* in, int64_t n);
/// acc[i] += in[i] (column reductions).
void accumulate_add_f32(const float* in, float* acc, int64_t n);
void accumulate_max_f32(const float* in, float* acc, int64_t n);
void accumulate_min_f32(const float* in, float* acc, int64_t n);
/// Widens float16 / bfloat16 (given as their bits) to float32, exactly (subnormals, inf, nan kept).
void f16_to_f32(const uint16_t* in, float* out, int64_t n);
void bf16_to_f32(const uint16_t* in, float* out, int64_t n);
/// Narrows float32 to float16 / bfloat16 bits, rounding to nearest even (as float16_t and
/// bfloat16_t do): subnormals, overflow to inf and nan (quieted) as the scalar conversions.
void f32_to_f16(const float* in, uint16_t* out, int64_t n);
void f32_to_bf16(const float* in, uint16_t* out, int64_t n);
/// s[j] = scale * dot(q, k + j * ks) over D elements, for j in [0, n): decode attention's
/// scores. Each score depends only on q and its key (not on n or its neighbours).
void scores_f32(const float* q, int64_t D, const float* k, int64_t ks, int64_t n, float scale, float* s);
/// out[e] = sum_j p[j] * v[j * vs + e] over j in [0, n) (in order), for e in [0, Dv).
void weighted_sum_f32(const float* p, int64_t n, const float* v, int64_t vs, int64_t Dv, float* out);
/// Name of the instruction set chosen at run time ("AVX2", "AVX3", ...).
const char* target_name();

}  // namespace ember::cpu::simd
