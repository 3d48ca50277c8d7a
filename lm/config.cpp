// ModelConfig from config.json or GGUF metadata, with every field range-checked.
#include "lm/config.h"

#include "lm/models/architecture.h"

#include <nlohmann/json.hpp>

#include <stdexcept>

namespace ember::lm {

namespace {

[[noreturn]] void fail(const std::string& path, const std::string& field, const std::string& what) {
  throw std::runtime_error("[load] " + path + ": field '" + field + "' " + what);
}

int json_int(const nlohmann::json& c, const std::string& path, const char* key, std::optional<int> fallback,
             int low = 1, int high = 1 << 30) {
  auto it = c.find(key);
  if (it == c.end() || it->is_null()) {
    if (!fallback) fail(path, key, "is missing");
    return *fallback;
  }
  if (!it->is_number_integer()) fail(path, key, "must be an integer, got " + it->dump());
  int64_t v = it->get<int64_t>();
  if (v < low || v > high) {
    fail(path, key,
         "is " + std::to_string(v) + ", outside [" + std::to_string(low) + ", " + std::to_string(high) + "]");
  }
  return static_cast<int>(v);
}

float json_float(const nlohmann::json& c, const std::string& path, const char* key, float fallback, double low,
                 double high) {
  auto it = c.find(key);
  if (it == c.end() || it->is_null()) return fallback;
  if (!it->is_number()) fail(path, key, "must be a number, got " + it->dump());
  double v = it->get<double>();
  if (!(v >= low && v <= high))
    fail(path, key, "is " + it->dump() + ", outside [" + std::to_string(low) + ", " + std::to_string(high) + "]");
  return static_cast<float>(v);
}

bool json_bool(const nlohmann::json& c, const std::string& path, const char* key, bool fallback) {
  auto it = c.find(key);
  if (it == c.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) fail(path, key, "must be true or false, got " + it->dump());
  return it->get<bool>();
}

// Checks the shapes fit together (also for GGUF, whose fields are as untrusted as JSON).
void validate(const ModelConfig& c, const std::string& path) {
  if (c.num_heads % c.num_kv_heads != 0) {
    fail(path, "num_key_value_heads",
         "(" + std::to_string(c.num_kv_heads) + ") must divide num_attention_heads (" + std::to_string(c.num_heads) +
             ")");
  }
  if (c.head_dim % 2 != 0) fail(path, "head_dim", "must be even, got " + std::to_string(c.head_dim));
  if (int64_t(c.num_heads) * c.head_dim > (1 << 20)) fail(path, "head_dim", "times the head count is too large");
}

// The supported architectures, one file each under lm/models/.
const std::vector<Architecture>& architectures() {
  static const std::vector<Architecture> all = {llama_architecture(), mistral_architecture(), qwen2_architecture(),
                                                qwen3_architecture()};
  return all;
}

const Architecture* find_architecture(const std::string& name, bool gguf) {
  for (const auto& a : architectures())
    if (a.name == name && (!gguf || a.from_gguf)) return &a;
  return nullptr;
}

std::string architecture_names(bool gguf) {
  std::string out;
  for (const auto& a : architectures())
    if (!gguf || a.from_gguf) out += (out.empty() ? "" : ", ") + a.name;
  return out;
}

}  // namespace

bool detail::config_bool(const nlohmann::json& c, const std::string& path, const char* key, bool fallback) {
  return json_bool(c, path, key, fallback);
}

int detail::config_int(const nlohmann::json& c, const std::string& path, const char* key, int fallback, int low,
                       int high) {
  return json_int(c, path, key, fallback, low, high);
}

ModelConfig ModelConfig::from_hf(const nlohmann::json& j, const std::string& path) {
  if (!j.is_object()) throw std::runtime_error("[load] " + path + ": not a JSON object");
  ModelConfig c;
  auto mt = j.find("model_type");
  if (mt == j.end() || !mt->is_string()) fail(path, "model_type", "is missing");
  c.architecture = mt->get<std::string>();
  const Architecture* arch = find_architecture(c.architecture, false);
  if (!arch) fail(path, "model_type", "is \"" + c.architecture + "\"; supported: " + architecture_names(false));
  c.hidden_size = json_int(j, path, "hidden_size", std::nullopt);
  c.num_layers = json_int(j, path, "num_hidden_layers", std::nullopt, 1, 4096);
  c.num_heads = json_int(j, path, "num_attention_heads", std::nullopt, 1, 4096);
  c.num_kv_heads = json_int(j, path, "num_key_value_heads", c.num_heads, 1, 4096);
  if (c.hidden_size % c.num_heads != 0 && !j.contains("head_dim")) {
    fail(path, "hidden_size", "(" + std::to_string(c.hidden_size) + ") is not a multiple of num_attention_heads");
  }
  c.head_dim = json_int(j, path, "head_dim", c.hidden_size / c.num_heads, 2, 4096);
  c.intermediate_size = json_int(j, path, "intermediate_size", std::nullopt);
  c.vocab_size = json_int(j, path, "vocab_size", std::nullopt);
  c.max_position_embeddings = json_int(j, path, "max_position_embeddings", 4096);
  c.rms_norm_eps = json_float(j, path, "rms_norm_eps", 1e-6f, 0.0, 1.0);
  c.rope_theta = json_float(j, path, "rope_theta", 10000.0f, 1.0, 1e12);
  c.tie_word_embeddings = json_bool(j, path, "tie_word_embeddings", false);
  if (auto act = j.find("hidden_act"); act != j.end() && !act->is_null() && *act != "silu") {
    fail(path, "hidden_act", "is " + act->dump() + "; supported: \"silu\"");
  }
  if (json_bool(j, path, "mlp_bias", false)) fail(path, "mlp_bias", "is true; MLP biases are not supported");
  arch->from_hf(c, j, path);
  // transformers 5 writes "rope_parameters" (rope_theta inside); earlier versions "rope_scaling".
  const char* rope_key = j.contains("rope_parameters") ? "rope_parameters" : "rope_scaling";
  auto rs = j.find(rope_key);
  if (rs != j.end() && !rs->is_null()) {
    if (!rs->is_object()) fail(path, rope_key, "must be an object");
    c.rope_theta = json_float(*rs, path, "rope_theta", c.rope_theta, 1.0, 1e12);
    std::string type = rs->value("rope_type", rs->value("type", std::string()));
    if (type == "llama3" || type == "linear") {
      RopeScaling r;
      r.type = type;
      r.factor = json_float(*rs, path, "factor", 1.0f, 1e-3, 1e6);
      r.low_freq_factor = json_float(*rs, path, "low_freq_factor", 1.0f, 1e-3, 1e6);
      r.high_freq_factor = json_float(*rs, path, "high_freq_factor", 4.0f, 1e-3, 1e6);
      r.original_max_position_embeddings = json_int(*rs, path, "original_max_position_embeddings", 8192);
      if (type == "llama3" && r.high_freq_factor <= r.low_freq_factor) {
        fail(path, std::string(rope_key) + ".high_freq_factor", "must exceed low_freq_factor");
      }
      c.rope_scaling = r;
    } else if (type != "default" && !type.empty()) {
      fail(path, std::string(rope_key) + ".rope_type", "is \"" + type + "\"; supported: llama3, linear, default");
    }
  }
  if (auto b = j.find("bos_token_id"); b != j.end() && b->is_number_integer()) c.bos_token_id = b->get<int>();
  if (auto e = j.find("eos_token_id"); e != j.end()) {
    if (e->is_number_integer()) c.eos_token_ids.push_back(e->get<int>());
    if (e->is_array())
      for (auto& v : *e)
        if (v.is_number_integer()) c.eos_token_ids.push_back(v.get<int>());
  }
  validate(c, path);
  return c;
}

namespace {

// A GGUF metadata number as a double (any integer or float type).
std::optional<double> gguf_number(const std::unordered_map<std::string, GGUFValue>& m, const std::string& key) {
  auto it = m.find(key);
  if (it == m.end()) return std::nullopt;
  return std::visit(
      [](const auto& v) -> std::optional<double> {
        using V = std::decay_t<decltype(v)>;
        if constexpr (std::is_arithmetic_v<V>) {
          return static_cast<double>(v);
        } else {
          return std::nullopt;
        }
      },
      it->second.value);
}

int gguf_int(const std::unordered_map<std::string, GGUFValue>& m, const std::string& path, const std::string& key,
             std::optional<int> fallback, int low = 1, int high = 1 << 30) {
  std::optional<double> v = gguf_number(m, key);
  if (!v) {
    if (!fallback) fail(path, key, "is missing");
    return *fallback;
  }
  if (!(*v >= low && *v <= high) || *v != static_cast<double>(static_cast<int64_t>(*v))) {
    fail(
        path, key,
        "is " + std::to_string(*v) + ", not an integer in [" + std::to_string(low) + ", " + std::to_string(high) + "]");
  }
  return static_cast<int>(*v);
}

}  // namespace

ModelConfig ModelConfig::from_gguf(const std::unordered_map<std::string, GGUFValue>& m, const std::string& path) {
  ModelConfig c;
  auto arch = m.find("general.architecture");
  if (arch == m.end() || arch->second.type() != GGUFType::string) fail(path, "general.architecture", "is missing");
  c.architecture = arch->second.get<std::string>();
  const std::string& a = c.architecture;
  const Architecture* spec = find_architecture(a, true);
  if (!spec) fail(path, "general.architecture", "is \"" + a + "\"; supported: " + architecture_names(true));
  c.hidden_size = gguf_int(m, path, a + ".embedding_length", std::nullopt);
  c.num_layers = gguf_int(m, path, a + ".block_count", std::nullopt, 1, 4096);
  c.num_heads = gguf_int(m, path, a + ".attention.head_count", std::nullopt, 1, 4096);
  c.num_kv_heads = gguf_int(m, path, a + ".attention.head_count_kv", c.num_heads, 1, 4096);
  if (c.hidden_size % c.num_heads != 0 && !m.count(a + ".attention.key_length")) {
    fail(path, a + ".embedding_length", "is not a multiple of the head count");
  }
  c.head_dim = gguf_int(m, path, a + ".attention.key_length", c.hidden_size / c.num_heads, 2, 4096);
  c.intermediate_size = gguf_int(m, path, a + ".feed_forward_length", std::nullopt);
  c.vocab_size = gguf_int(m, path, a + ".vocab_size", 0, 0);
  if (c.vocab_size == 0) {
    auto t = m.find("tokenizer.ggml.tokens");
    if (t == m.end() || t->second.type() != GGUFType::array) fail(path, a + ".vocab_size", "is missing");
    c.vocab_size = static_cast<int>(t->second.get<GGUFArray>().values.size());
  }
  c.max_position_embeddings = gguf_int(m, path, a + ".context_length", 4096);
  std::optional<double> eps = gguf_number(m, a + ".attention.layer_norm_rms_epsilon");
  if (eps && !(*eps >= 0 && *eps <= 1)) fail(path, a + ".attention.layer_norm_rms_epsilon", "is out of [0, 1]");
  c.rms_norm_eps = static_cast<float>(eps.value_or(1e-5));
  std::optional<double> theta = gguf_number(m, a + ".rope.freq_base");
  if (theta && !(*theta >= 1 && *theta <= 1e12)) fail(path, a + ".rope.freq_base", "is out of [1, 1e12]");
  c.rope_theta = static_cast<float>(theta.value_or(10000.0));
  if (auto f = gguf_number(m, a + ".rope.scaling.factor"); f && *f != 1.0) {
    auto t = m.find(a + ".rope.scaling.type");
    std::string type = t != m.end() && t->second.type() == GGUFType::string ? t->second.get<std::string>() : "";
    if (type == "linear") {
      if (!(*f > 0 && *f < 1e6)) fail(path, a + ".rope.scaling.factor", "is out of range");
      c.rope_scaling = RopeScaling{"linear", static_cast<float>(*f)};
    }
  }
  spec->from_gguf(c, m, path);
  if (auto b = gguf_number(m, "tokenizer.ggml.bos_token_id")) c.bos_token_id = static_cast<int>(*b);
  if (auto e = gguf_number(m, "tokenizer.ggml.eos_token_id")) c.eos_token_ids.push_back(static_cast<int>(*e));
  validate(c, path);
  return c;
}

int64_t ModelConfig::parameter_count() const {
  int64_t h = hidden_size, q = int64_t(num_heads) * head_dim, kv = int64_t(num_kv_heads) * head_dim;
  int64_t layer = h * q + 2 * h * kv + q * h + 3 * h * intermediate_size + 2 * h;
  if (attention_bias) layer += q + 2 * kv;
  if (qk_norm) layer += 2 * head_dim;
  int64_t embed = int64_t(vocab_size) * h;
  return embed * (tie_word_embeddings ? 1 : 2) + num_layers * layer + h;
}

}  // namespace ember::lm
