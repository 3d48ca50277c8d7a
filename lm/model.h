// Loading a language model: a Hugging Face folder (config.json, safetensors shards,
// tokenizer.json, tokenizer_config.json, generation_config.json) or a single GGUF file.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lm/config.h"
#include "lm/text/chat_template.h"
#include "lm/text/tokenizer.h"
#include "lm/transformer.h"

namespace ember::lm {

struct LoadOptions {
  /// Convert floating-point weights to this dtype (none: keep float32/float16/bfloat16 as
  /// stored; GGUF's quantized tensors dequantize to float32).
  std::optional<Dtype> dtype;
  /// GGUF: dequantize every quantized tensor to float32 instead of running the types
  /// gguf_repack.h keeps quantized (the others are always dequantized).
  bool dequantize = false;
  /// Quantized matrices multiply with x in float32 (quantized_matmul) instead of x rounded to
  /// int8 per block of 32 (quantized_matmul_int8_activations), as llama.cpp does: a 1B Q4_0
  /// Llama decodes about 1.6x faster that way here; the logits move by a few hundredths of
  /// their largest value on the test models.
  bool float_activations = false;
  /// Keys and values cached with 4 or 8 bits (KVCache), or as computed (0).
  int kv_bits = 0;
  /// Called with (done, total) while weights load.
  std::function<void(int, int)> progress;
};

/// Sampling defaults a checkpoint ships (generation_config.json); unset fields stay unset.
struct GenerationDefaults {
  std::optional<float> temperature, top_p, min_p, repetition_penalty;
  std::optional<int> top_k;
};

struct Model {
  std::string path;
  std::string format;  // "gguf" or "safetensors"
  ModelConfig config;
  std::unique_ptr<Transformer> transformer;
  std::optional<Tokenizer> tokenizer;  // always set by load_model
  std::optional<ChatTemplate> chat_template;
  std::string bos_token, eos_token;  // texts the chat template may use
  std::vector<int> eos_token_ids;    // any of these ends generation
  GenerationDefaults defaults;
  std::string weight_types;  // e.g. "Q4_1 (dequantized to float32), F32"

  /// Renders the chat template over messages (JSON array of {role, content}); throws when the
  /// model has no template.
  std::string apply_chat_template(const nlohmann::json& messages, bool add_generation_prompt = true) const;
  /// Token ids of a prompt: with the template's text, BOS only when the template did not write it.
  std::vector<int32_t> encode_prompt(const std::string& text, bool templated) const;
};

/// Loads a model folder or .gguf file. Throws std::runtime_error naming the file and the field
/// or tensor at fault (missing files, unknown architecture, out-of-range config, bad shapes).
Model load_model(const std::string& path, const LoadOptions& options = {});

/// The default model (SmolLM2-135M-Instruct, Q4_1 GGUF): $EMBER_LM_MODEL when set, else the
/// file scripts/install-deps links into ${EMBER_MODEL_DIR:-~/.cache/ember/models}. Throws with
/// instructions when it is not there.
std::string default_model_path();

}  // namespace ember::lm
