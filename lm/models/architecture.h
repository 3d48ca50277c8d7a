// One file per architecture (llama.cpp, mistral.cpp, qwen2.cpp, qwen3.cpp beside this header):
// each says how its checkpoints differ from the shared transformer of lm/transformer.h: its
// config fields and the GGUF conventions of llama.cpp's converter. config.cpp lists them.
#pragma once

#include <string>
#include <unordered_map>

#include <nlohmann/json_fwd.hpp>

#include "ember/io.h"
#include "lm/config.h"

namespace ember::lm {

struct Architecture {
  /// config.json's "model_type" (and general.architecture in GGUF, when supported there).
  std::string name;
  /// Sets the architecture's own fields from config.json (the common ones are read already).
  void (*from_hf)(ModelConfig& c, const nlohmann::json& config, const std::string& path) = nullptr;
  /// Same for GGUF metadata; null when llama.cpp has no files of this name.
  void (*from_gguf)(ModelConfig& c, const std::unordered_map<std::string, GGUFValue>& metadata,
                    const std::string& path) = nullptr;
};

Architecture llama_architecture();
Architecture mistral_architecture();
Architecture qwen2_architecture();
Architecture qwen3_architecture();

namespace detail {
/// Reads an optional boolean config field (json_bool of config.cpp, shared with the files).
bool config_bool(const nlohmann::json& c, const std::string& path, const char* key, bool fallback);
/// Reads an optional integer config field in [low, high].
int config_int(const nlohmann::json& c, const std::string& path, const char* key, int fallback, int low, int high);
}  // namespace detail

}  // namespace ember::lm
