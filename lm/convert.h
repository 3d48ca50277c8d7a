// ember-lm convert: a Hugging Face model folder rewritten with its matrices quantized (or
// cast), in the layout load_model reads back (and mlx-lm uses): X.weight as uint32 words,
// X.scales, X.biases, and config.json's "quantization": {"group_size", "bits"}.
#pragma once

#include <optional>
#include <string>

#include "ember/dtype.h"

namespace ember::lm {

struct ConvertOptions {
  bool quantize = false;
  int bits = 4;
  int group_size = 64;
  std::optional<Dtype> dtype;  // cast the floating-point tensors (and scales) to this first
};

/// Writes `out_dir` (created; must not hold a model already) from the folder `src_dir`.
/// Quantizes every 2-D weight whose rows are a multiple of group_size (the projections and
/// the embedding; norms and biases stay as they are). Returns the number of matrices quantized.
int convert_model(const std::string& src_dir, const std::string& out_dir, const ConvertOptions& options);

}  // namespace ember::lm
