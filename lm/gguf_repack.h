// GGUF's block-quantized tensors as Ember's affine group quantization (ember/quantized.h), so
// a GGUF model runs quantized instead of dequantized to float32.
#pragma once

#include <optional>

#include "ember/array.h"
#include "ember/io.h"

namespace ember::lm {

/// Weights in Ember's affine layout: w ~= scales * q + biases per group of `group_size` along
/// the last axis, q packed LSB-first into uint32 words.
struct QuantizedWeight {
  array wq{0.0f}, scales{0.0f};
  /// None: codes offset by half their range, bias = -2^(bits - 1) * scale (GGUF's symmetric
  /// types), which saves streaming a bias per group.
  std::optional<array> biases;
  int group_size = 32, bits = 4;
  /// Multiply with x rounded to int8 per block of 32 (quantized_matmul_int8_activations, what
  /// llama.cpp computes) instead of x in float32 (quantized_matmul).
  bool int8_activations = false;
  /// The logical (rows, columns) shape.
  Shape shape() const;
};

/// Repacks ggml blocks into that layout with the values they stand for: Q4_0, Q4_1 and Q4_K
/// as 4-bit codes in groups of 32; Q5_0, Q5_1 and Q5_K as 5-bit codes in groups of 32; Q8_0 as
/// 8-bit codes in groups of 32; Q6_K as 6-bit codes in groups of 16. Each block's (or K-quant
/// sub-block's) scale and minimum become a group's scale and bias, computed in float32 as
/// ggml's dequantizer computes them, so dequantizing gives its values (Q6_K's d * sc * (q - 32)
/// to within a rounding); they are stored as float16 when that holds every one exactly (the
/// non-K types), else as float32. The symmetric types (Q4_0, Q5_0, Q8_0, Q6_K:
/// x = d * (q - offset)) keep no biases: their codes are shifted so that the offset is half
/// the code range (2^(bits - 1)). Returns nothing for the other ggml types, which the caller
/// dequantizes instead.
/// narrow false: the 5- and 6-bit types as 8-bit codes (for CPUs without the 5- and 6-bit
/// integer kernels, and x in float32, whose 8-bit matvec is the fastest).
std::optional<QuantizedWeight> repack_gguf(const GGUFQuantized& t, bool narrow = true);

}  // namespace ember::lm
