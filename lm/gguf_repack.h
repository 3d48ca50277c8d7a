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
  array wq{0.0f}, scales{0.0f}, biases{0.0f};
  int group_size = 32, bits = 4;
  /// The logical (rows, columns) shape.
  Shape shape() const;
};

/// Repacks Q4_0, Q4_1 (4-bit) and Q8_0 (8-bit) blocks exactly (each block's d and m become a
/// group's scale and bias, held in float32: the matvec reads them per row, and converting
/// float16 there costs more than the extra 4 bytes per 32 weights); returns nothing for the
/// other ggml types, which the caller dequantizes instead.
std::optional<QuantizedWeight> repack_gguf(const GGUFQuantized& t);

}  // namespace ember::lm
