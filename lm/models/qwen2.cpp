// Qwen2 / Qwen2.5: biases on the q, k and v projections; sliding windows only when
// use_sliding_window is set (the released models leave it off).
#include "lm/models/architecture.h"

#include <nlohmann/json.hpp>

namespace ember::lm {

Architecture qwen2_architecture() {
  return {
      "qwen2",
      [](ModelConfig& c, const nlohmann::json& j, const std::string& path) {
        c.attention_bias = true;
        if (detail::config_bool(j, path, "use_sliding_window", false)) {
          c.sliding_window = detail::config_int(j, path, "sliding_window", 0, 0, 1 << 30);
        }
      },
      [](ModelConfig& c, const std::unordered_map<std::string, GGUFValue>&, const std::string&) {
        c.attention_bias = true;
      },
  };
}

}  // namespace ember::lm
