// A decoder-only transformer's hyper-parameters, read from a Hugging Face config.json or from
// the metadata of a GGUF file, checked before any weight is touched.
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "ember/io.h"

namespace ember::lm {

/// Llama 3's frequency-dependent RoPE scaling ("rope_type": "llama3"), or linear scaling.
struct RopeScaling {
  std::string type;  // "llama3" or "linear"
  float factor = 1.0f;
  float low_freq_factor = 1.0f;
  float high_freq_factor = 4.0f;
  int original_max_position_embeddings = 8192;
};

struct ModelConfig {
  std::string architecture;  // "llama", "mistral", "qwen2", "qwen3"
  int hidden_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;
  int intermediate_size = 0;
  int vocab_size = 0;
  int max_position_embeddings = 0;
  float rms_norm_eps = 1e-5f;
  float rope_theta = 10000.0f;
  std::optional<RopeScaling> rope_scaling;
  // Pairs (2i, 2i+1) rotate together: GGUF's Llama layout (its converter permuted Q and K).
  // Hugging Face checkpoints rotate (i, i + d/2).
  bool rope_traditional = false;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v projections have biases (Qwen2)
  bool qk_norm = false;         // RMSNorm of each head's q and k before RoPE (Qwen3)
  int sliding_window = 0;       // 0: full attention (Mistral: keys within the last window only)
  std::optional<int> bos_token_id;
  std::vector<int> eos_token_ids;

  /// Reads config.json's fields for the supported architectures ("model_type" llama,
  /// mistral, qwen2, qwen3). Throws std::runtime_error naming `path` and the field.
  static ModelConfig from_hf(const nlohmann::json& config, const std::string& path);
  /// Reads "<arch>.*" GGUF metadata (general.architecture llama or qwen2/qwen3).
  static ModelConfig from_gguf(const std::unordered_map<std::string, GGUFValue>& metadata, const std::string& path);

  /// Number of parameters the shapes imply.
  int64_t parameter_count() const;
};

}  // namespace ember::lm
