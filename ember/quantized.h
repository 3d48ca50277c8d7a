// Affine group quantization with MLX's API and layout: quantize, dequantize, quantized_matmul.
//
// A row of K values is cut into groups of `group_size`; group g keeps a scale and a bias in
// w's dtype and each value an unsigned `bits`-bit code q with w ~= scale * q + bias. Codes
// are packed into uint32 words as an LSB-first little-endian bitstream: element j of a row
// occupies bits [j * bits, (j + 1) * bits) of the row (for 3, 5 and 6 bits a code may
// straddle two words). bits: 2, 3, 4, 5, 6 or 8; group_size: 16, 32, 64 or 128 (16: what GGUF Q6_K
// blocks need; MLX takes 32, 64 and 128).
#pragma once

#include <optional>
#include <tuple>

#include "ember/array.h"
#include "ember/device.h"

namespace ember {

/// Quantizes w (..., N, K) along its last axis in groups of group_size: returns
/// (wq uint32 (..., N, K * bits / 32), scales (..., N, K / group_size), biases (same)), scales
/// and biases in w's dtype (float16, bfloat16 or float32). Per group, in float32:
/// scale = (max - min) / (2^bits - 1), bias = min, q = clamp(round((w - bias) / scale)),
/// with q computed from scale and bias as rounded to w's dtype. Not differentiable.
std::tuple<array, array, array> quantize(const array& w, int group_size = 64, int bits = 4, StreamOrDevice s = {});

/// scale * q + bias (computed in float32), in the dtype of scales and biases: (..., N, K) for
/// wq (..., N, K * bits / 32). Without biases the codes are symmetric about half their range:
/// bias = -2^(bits - 1) * scale (GGUF's Q4_0, Q8_0, ... store no bias). Differentiable in
/// scales and biases, never in wq.
array dequantize(const array& wq, const array& scales, const std::optional<array>& biases, int group_size = 64,
                 int bits = 4, StreamOrDevice s = {});

/// x @ dequantize(w).T when transpose (w quantized (N, K): x (..., K) -> (..., N)), else
/// x @ dequantize(w) (w quantized (K, N) along N). x is float16, bfloat16 or float32; scales
/// and biases may have any of those dtypes independently of x; the result has
/// promote_types(x, scales)'s dtype and accumulates in float32. No biases: as dequantize.
/// w may be a batch of matrices (..., N, K) (scales and biases alike): its batch axes and x's
/// broadcast, as in MLX (x (..., M, K); a 1-D x is one row), through gather_qmm.
/// Differentiable in x (and through the fallback in scales and biases), never in wq.
array quantized_matmul(const array& x, const array& wq, const array& scales, const std::optional<array>& biases,
                       bool transpose = true, int group_size = 64, int bits = 4, StreamOrDevice s = {});

/// quantized_matmul for LLMs, as llama.cpp computes it: where the CPU has integer dot products
/// (AVX2 for 4 bits, AVX-512 VNNI for 4, 6 and 8 bits), x @ w.T (transpose, groups of 32 or
/// more, or of 16 at 6 and 8 bits, any number of rows of x) rounds x to int8 per block of 32 values (scale max|x| /
/// 127) and sums the codes' products in int32. Each x then carries a rounding error of up to max|x of its block| / 254;
/// the bias term uses x unrounded (without biases, the codes' offset is part of the integer sums and meets the rounded
/// x, as in llama.cpp). Elsewhere (other widths, x @ w, other CPUs, the GPU, a batch of w) it equals quantized_matmul.
/// Gradients are quantized_matmul's.
array quantized_matmul_int8_activations(const array& x, const array& wq, const array& scales,
                                        const std::optional<array>& biases, bool transpose = true, int group_size = 64,
                                        int bits = 4, StreamOrDevice s = {});

/// Whether quantized_matmul_int8_activations has integer kernels for these bits and group
/// size on this machine's CPU (elsewhere it computes as quantized_matmul does).
bool int8_activation_kernels(int bits, int group_size);

/// quantized_matmul with a gather of matrices, for mixtures of experts (MLX's gather_qmm):
/// x (..., M, K) and the quantized w (..., N, K * bits / 32) with transpose (else
/// (..., K, N * bits / 32)) are batches of matrices; lhs_indices and rhs_indices (integer
/// arrays, broadcast together) hold flat indices into x's and w's batch axes, each defaulting
/// to every matrix in order (shaped as that batch). The result has shape
/// broadcast(lhs_indices, rhs_indices) + (M, N). scales and biases have w's batch axes.
/// Differentiable in x (and through the fallback in scales and biases), never in wq or the
/// indices. An index out of range throws when the result is evaluated.
array gather_qmm(const array& x, const array& wq, const array& scales, const array& biases,
                 const std::optional<array>& lhs_indices = std::nullopt,
                 const std::optional<array>& rhs_indices = std::nullopt, bool transpose = true, int group_size = 64,
                 int bits = 4, StreamOrDevice s = {});

/// Attention over keys and values kept quantized (a quantized KV cache), without
/// dequantizing them: softmax(scale * q @ k.T, masked) @ v for q (B, Hq, Tq, D) and the keys'
/// and values' quantized planes (B, Hkv, Tk, .) as quantize makes them along the head axis
/// (Hq a multiple of Hkv: grouped-query attention). mask: boolean, broadcast to
/// (B, Hq, Tq, Tk), true where a query sees a key. The CPU kernel (up to 32 query rows per key
/// head) unpacks the codes in registers as quantized_matmul does; otherwise, and on a GPU,
/// gather_qmm products. Returns (B, Hq, Tq, Dv) in q's dtype. Differentiable in q, the scales
/// and the biases.
array quantized_scaled_dot_product_attention(const array& q, const array& k_wq, const array& k_scales,
                                             const array& k_biases, const array& v_wq, const array& v_scales,
                                             const array& v_biases, float scale,
                                             const std::optional<array>& mask = std::nullopt, int group_size = 64,
                                             int bits = 4, StreamOrDevice s = {});

}  // namespace ember
