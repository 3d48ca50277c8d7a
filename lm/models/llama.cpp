// Llama 1/2/3 (and SmolLM2, which is Llama): the shared transformer as is. Llama 3's rope
// scaling is read with the common fields (config.cpp); its GGUF form is a rope_freqs tensor
// (model.cpp).
#include "lm/models/architecture.h"

#include <nlohmann/json.hpp>

namespace ember::lm {

Architecture llama_architecture() {
  return {
      "llama",
      [](ModelConfig& c, const nlohmann::json& j, const std::string& path) {
        c.attention_bias = detail::config_bool(j, path, "attention_bias", false);
      },
      [](ModelConfig& c, const std::unordered_map<std::string, GGUFValue>&, const std::string&) {
        // llama.cpp's converter permutes each head's Q and K rows so that pairs (2i, 2i+1)
        // rotate together; Hugging Face's rows rotate (i, i + d/2).
        c.rope_traditional = true;
      },
  };
}

}  // namespace ember::lm
