// Qwen3: RMSNorm of every head's q and k (before RoPE), no projection biases, and a head_dim
// that need not be hidden_size / heads.
#include "lm/models/architecture.h"

#include <nlohmann/json.hpp>

namespace ember::lm {

Architecture qwen3_architecture() {
  return {
      "qwen3",
      [](ModelConfig& c, const nlohmann::json& j, const std::string& path) {
        c.qk_norm = true;
        c.attention_bias = detail::config_bool(j, path, "attention_bias", false);
      },
      [](ModelConfig& c, const std::unordered_map<std::string, GGUFValue>&, const std::string&) { c.qk_norm = true; },
  };
}

}  // namespace ember::lm
