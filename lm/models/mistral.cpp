// Mistral: Llama with sliding-window attention (keys within the last `sliding_window`
// positions), when config.json sets a window. llama.cpp files Mistral GGUFs as "llama".
#include "lm/models/architecture.h"

#include <nlohmann/json.hpp>

namespace ember::lm {

Architecture mistral_architecture() {
  return {
      "mistral",
      [](ModelConfig& c, const nlohmann::json& j, const std::string& path) {
        c.sliding_window = detail::config_int(j, path, "sliding_window", 0, 0, 1 << 30);
      },
      nullptr,
  };
}

}  // namespace ember::lm
