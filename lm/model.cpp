// load_model: reads a Hugging Face folder or a GGUF file into a Transformer, a Tokenizer and
// the chat template, mapping GGUF's tensor names onto Hugging Face's.
#include "lm/model.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "ember/io.h"
#include "ember/ops.h"
#include "ember/quantized.h"
#include "ember/transforms.h"

namespace ember::lm {

namespace fs = std::filesystem;

namespace {

nlohmann::json read_json(const fs::path& p) {
  std::ifstream f(p);
  if (!f) throw std::runtime_error("[load] cannot open " + p.string());
  try {
    return nlohmann::json::parse(f);
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error("[load] " + p.string() + " is not valid JSON: " + e.what());
  }
}

// A special token as tokenizer_config.json writes it: a string or {"content": ...}.
std::string token_text(const nlohmann::json& cfg, const char* key) {
  auto it = cfg.find(key);
  if (it == cfg.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) return (*it)["content"];
  return "";
}

// GGUF tensor names (blk.N.attn_q.weight, ...) as Hugging Face names them.
std::string hf_name(const std::string& g) {
  static const std::map<std::string, std::string> top = {{"token_embd.weight", "model.embed_tokens.weight"},
                                                         {"output_norm.weight", "model.norm.weight"},
                                                         {"output.weight", "lm_head.weight"}};
  if (auto it = top.find(g); it != top.end()) return it->second;
  static const std::map<std::string, std::string> in_block = {
      {"attn_q", "self_attn.q_proj"},      {"attn_k", "self_attn.k_proj"},
      {"attn_v", "self_attn.v_proj"},      {"attn_output", "self_attn.o_proj"},
      {"attn_q_norm", "self_attn.q_norm"}, {"attn_k_norm", "self_attn.k_norm"},
      {"attn_norm", "input_layernorm"},    {"ffn_norm", "post_attention_layernorm"},
      {"ffn_gate", "mlp.gate_proj"},       {"ffn_up", "mlp.up_proj"},
      {"ffn_down", "mlp.down_proj"}};
  static const std::regex block(R"(blk\.(\d+)\.([a-z_]+)\.(weight|bias))");
  std::smatch m;
  if (std::regex_match(g, m, block)) {
    if (auto it = in_block.find(m[2]); it != in_block.end()) {
      return "model.layers." + m[1].str() + "." + it->second + "." + m[3].str();
    }
  }
  return g;
}

// The tokenizer fields of GGUF metadata.
GGUFVocab gguf_vocab(const std::unordered_map<std::string, GGUFValue>& m, const std::string& path) {
  GGUFVocab v;
  auto str = [&](const char* k) -> std::string {
    auto it = m.find(k);
    return it != m.end() && it->second.type() == GGUFType::string ? it->second.get<std::string>() : "";
  };
  auto arr = [&](const char* k) -> const std::vector<GGUFValue>* {
    auto it = m.find(k);
    return it != m.end() && it->second.type() == GGUFType::array ? &it->second.get<GGUFArray>().values : nullptr;
  };
  auto num = [&](const char* k) -> std::optional<double> {
    auto it = m.find(k);
    if (it == m.end()) return std::nullopt;
    return std::visit(
        [](const auto& x) -> std::optional<double> {
          if constexpr (std::is_arithmetic_v<std::decay_t<decltype(x)>>) return static_cast<double>(x);
          return std::nullopt;
        },
        it->second.value);
  };
  v.model = str("tokenizer.ggml.model");
  v.pre = str("tokenizer.ggml.pre");
  if (v.model.empty()) throw std::runtime_error("[load] " + path + ": field 'tokenizer.ggml.model' is missing");
  const auto* tokens = arr("tokenizer.ggml.tokens");
  if (!tokens) throw std::runtime_error("[load] " + path + ": field 'tokenizer.ggml.tokens' is missing");
  for (const auto& t : *tokens) {
    if (t.type() != GGUFType::string) {
      throw std::runtime_error("[load] " + path + ": field 'tokenizer.ggml.tokens' holds a non-string");
    }
    v.tokens.push_back(t.get<std::string>());
  }
  if (const auto* types = arr("tokenizer.ggml.token_type")) {
    for (const auto& t : *types) {
      v.token_types.push_back(t.type() == GGUFType::int32 ? t.get<int32_t>() : 1);
    }
  }
  if (const auto* scores = arr("tokenizer.ggml.scores")) {
    for (const auto& s : *scores) v.scores.push_back(s.type() == GGUFType::float32 ? s.get<float>() : 0.0f);
  }
  if (const auto* merges = arr("tokenizer.ggml.merges")) {
    for (const auto& s : *merges) {
      if (s.type() == GGUFType::string) v.merges.push_back(s.get<std::string>());
    }
  }
  auto id = [&](const char* k) { return static_cast<int32_t>(num(k).value_or(-1)); };
  v.bos = id("tokenizer.ggml.bos_token_id");
  v.eos = id("tokenizer.ggml.eos_token_id");
  v.unk = id("tokenizer.ggml.unknown_token_id");
  v.pad = id("tokenizer.ggml.padding_token_id");
  auto flag = [&](const char* k) -> std::optional<bool> {
    auto it = m.find(k);
    if (it != m.end() && it->second.type() == GGUFType::bool_) return it->second.get<bool>();
    return std::nullopt;
  };
  v.add_bos = flag("tokenizer.ggml.add_bos_token");
  v.add_eos = flag("tokenizer.ggml.add_eos_token");
  v.add_space_prefix = flag("tokenizer.ggml.add_space_prefix");
  return v;
}

// Converts every weight to `dtype` (when asked) and evaluates them, reporting progress.
void materialize(std::unordered_map<std::string, array>& weights, const LoadOptions& opt) {
  std::vector<std::string> names;
  for (auto& [k, _] : weights) names.push_back(k);
  std::sort(names.begin(), names.end());
  int done = 0, total = static_cast<int>(names.size());
  for (const auto& n : names) {
    array& a = weights.at(n);
    if (opt.dtype && is_floating_point(a.dtype()) && a.dtype() != *opt.dtype) a = astype(a, *opt.dtype);
    a.eval();
    if (opt.progress) opt.progress(++done, total);
  }
}

Model load_gguf_model(const std::string& path, const LoadOptions& opt) {
  GGUFLoad g = load_gguf(path, !opt.dequantize);
  Model m;
  m.format = "gguf";
  m.config = ModelConfig::from_gguf(g.metadata, path);
  std::unordered_map<std::string, array> weights;
  std::optional<array> freqs;
  for (auto& [name, a] : g.arrays) {
    if (name == "rope_freqs.weight") {
      // llama.cpp stores Llama 3 scaling as per-frequency divisors of the base frequencies.
      int half = m.config.head_dim / 2;
      if (a.ndim() != 1 || a.shape(0) != half) {
        throw std::runtime_error("[load] " + path + ": tensor 'rope_freqs.weight' has the wrong shape");
      }
      std::vector<float> base(half);
      for (int i = 0; i < half; ++i) base[i] = std::pow(m.config.rope_theta, 2.0f * i / m.config.head_dim);
      freqs = multiply(array(base.data(), {half}, float32), astype(a, float32));
      continue;
    }
    weights.emplace(hf_name(name), a);
  }
  // Q4_0/Q4_1/Q5_0/Q5_1/Q8_0/Q4_K/Q5_K/Q6_K matrices stay quantized (repacked, see
  // gguf_repack.h); other types dequantize to float32.
  std::unordered_map<std::string, QuantizedWeight> quantized;
  std::map<std::string, int> kept, expanded;
  // Q5_* and Q6_K keep 5- and 6-bit codes where x is rounded to int8 and this CPU has the
  // integer kernels for them.
  const bool narrow = !opt.float_activations && int8_activation_kernels(6, 16) && int8_activation_kernels(5, 32);
  for (auto& [name, t] : g.quantized) {
    std::optional<QuantizedWeight> q = t.shape.size() == 2 ? repack_gguf(t, narrow) : std::nullopt;
    if (q) {
      q->int8_activations = !opt.float_activations;
      quantized.emplace(hf_name(name), std::move(*q));
      ++kept[t.type];
    } else {
      weights.emplace(hf_name(name), dequantize_gguf(t));
      ++expanded[t.type];
    }
  }
  g.quantized.clear();
  materialize(weights, opt);
  m.transformer = std::make_unique<Transformer>(m.config, std::move(weights), path, freqs, std::move(quantized));
  m.config = m.transformer->config();
  m.tokenizer = Tokenizer::from_gguf(gguf_vocab(g.metadata, path));
  if (auto t = g.metadata.find("tokenizer.chat_template");
      t != g.metadata.end() && t->second.type() == GGUFType::string) {
    m.chat_template.emplace(t->second.get<std::string>());
  }
  // Name the stored types: the metadata's file type is only a hint, so list what loaded.
  auto ft = g.metadata.find("general.file_type");
  static const std::map<uint32_t, std::string> file_types = {{0, "F32"},     {1, "F16"},   {2, "Q4_0"}, {3, "Q4_1"},
                                                             {7, "Q8_0"},    {8, "Q5_0"},  {9, "Q5_1"}, {15, "Q4_K_M"},
                                                             {17, "Q5_K_M"}, {18, "Q6_K"}, {32, "BF16"}};
  std::string type = "?";
  if (ft != g.metadata.end() && ft->second.type() == GGUFType::uint32) {
    auto it = file_types.find(ft->second.get<uint32_t>());
    type = it != file_types.end() ? it->second : "type " + std::to_string(ft->second.get<uint32_t>());
  }
  m.weight_types = type + " GGUF";
  auto list = [](const std::map<std::string, int>& types) {
    std::string out;
    for (auto& [t, n] : types) out += (out.empty() ? "" : ", ") + std::to_string(n) + " " + t;
    return out;
  };
  if (!kept.empty()) m.weight_types += "; run quantized: " + list(kept);
  if (!expanded.empty()) m.weight_types += "; dequantized to float32: " + list(expanded);
  if (opt.dequantize) m.weight_types += "; every quantized tensor dequantized to float32 (--dequantize)";
  return m;
}

Model load_hf_model(const fs::path& dir, const LoadOptions& opt) {
  Model m;
  m.format = "safetensors";
  fs::path cfg_path = dir / "config.json";
  if (!fs::exists(cfg_path)) throw std::runtime_error("[load] " + dir.string() + ": config.json is missing");
  nlohmann::json cfg_json = read_json(cfg_path);
  m.config = ModelConfig::from_hf(cfg_json, cfg_path.string());
  std::vector<fs::path> files;
  if (fs::exists(dir / "model.safetensors.index.json")) {
    auto index = read_json(dir / "model.safetensors.index.json");
    if (!index.contains("weight_map") || !index["weight_map"].is_object()) {
      throw std::runtime_error("[load] " + (dir / "model.safetensors.index.json").string() +
                               ": field 'weight_map' is missing");
    }
    std::set<std::string> shards;
    for (auto& [_, f] : index["weight_map"].items()) {
      if (!f.is_string() || f.get<std::string>().find('/') != std::string::npos) {
        throw std::runtime_error("[load] " + (dir / "model.safetensors.index.json").string() +
                                 ": field 'weight_map' names an invalid shard " + f.dump());
      }
      shards.insert(f.get<std::string>());
    }
    for (const auto& s : shards) files.push_back(dir / s);
  } else if (fs::exists(dir / "model.safetensors")) {
    files.push_back(dir / "model.safetensors");
  } else {
    throw std::runtime_error("[load] " + dir.string() + ": no model.safetensors or model.safetensors.index.json");
  }
  std::unordered_map<std::string, array> weights;
  std::vector<std::string> dtypes;
  for (const auto& f : files) {
    for (auto& [name, a] : load_safetensors(f.string()).first) {
      std::string t = dtype_name(a.dtype());
      if (std::find(dtypes.begin(), dtypes.end(), t) == dtypes.end()) dtypes.push_back(t);
      weights.emplace(name, a);
    }
  }
  // Quantized checkpoints (ember-lm convert -q, mlx-lm's format): config.json's
  // "quantization" {group_size, bits}; each quantized matrix X as X.weight (uint32 words),
  // X.scales and X.biases.
  std::unordered_map<std::string, QuantizedWeight> quantized;
  auto qcfg = cfg_json.value("quantization", nlohmann::json());
  if (qcfg.is_object()) {
    int gs = qcfg.value("group_size", 64), bits = qcfg.value("bits", 4);
    std::vector<std::string> bases;
    for (auto& [name, _] : weights)
      if (name.size() > 7 && name.compare(name.size() - 7, 7, ".scales") == 0)
        bases.push_back(name.substr(0, name.size() - 7));
    for (const auto& b : bases) {
      auto w = weights.find(b + ".weight"), sc = weights.find(b + ".scales"), bi = weights.find(b + ".biases");
      if (w == weights.end() || bi == weights.end() || w->second.dtype() != uint32) {
        throw std::runtime_error("[load] " + dir.string() + ": quantized tensor '" + b +
                                 "' needs uint32 .weight, .scales and .biases");
      }
      QuantizedWeight q;
      q.wq = w->second;
      q.scales = sc->second;
      q.biases = bi->second;
      q.group_size = gs;
      q.bits = bits;
      q.int8_activations = !opt.float_activations;
      quantized.emplace(b + ".weight", std::move(q));
      weights.erase(w);
      weights.erase(sc);
      weights.erase(bi);
    }
  }
  materialize(weights, opt);
  m.transformer =
      std::make_unique<Transformer>(m.config, std::move(weights), dir.string(), std::nullopt, std::move(quantized));
  m.config = m.transformer->config();
  for (size_t i = 0; i < dtypes.size(); ++i) m.weight_types += (i ? ", " : "") + dtypes[i];
  if (qcfg.is_object()) m.weight_types += "; quantized " + qcfg.dump();
  if (opt.dtype) m.weight_types += " (converted to " + std::string(dtype_name(*opt.dtype)) + ")";

  fs::path tok = dir / "tokenizer.json", tok_cfg = dir / "tokenizer_config.json";
  if (!fs::exists(tok)) throw std::runtime_error("[load] " + dir.string() + ": tokenizer.json is missing");
  m.tokenizer = Tokenizer::from_file(tok.string(), fs::exists(tok_cfg) ? tok_cfg.string() : "");
  if (fs::exists(tok_cfg)) {
    auto tc = read_json(tok_cfg);
    m.bos_token = token_text(tc, "bos_token");
    m.eos_token = token_text(tc, "eos_token");
    if (auto t = tc.find("chat_template"); t != tc.end() && t->is_string())
      m.chat_template.emplace(t->get<std::string>());
  }
  if (fs::exists(dir / "chat_template.jinja")) {
    std::ifstream f(dir / "chat_template.jinja");
    m.chat_template.emplace(std::string(std::istreambuf_iterator<char>(f), {}));
  }
  if (fs::exists(dir / "generation_config.json")) {
    auto gc = read_json(dir / "generation_config.json");
    if (auto e = gc.find("eos_token_id"); e != gc.end()) {
      m.config.eos_token_ids.clear();
      if (e->is_number_integer()) m.config.eos_token_ids.push_back(e->get<int>());
      if (e->is_array())
        for (auto& v : *e)
          if (v.is_number_integer()) m.config.eos_token_ids.push_back(v.get<int>());
    }
    auto f = [&](const char* k) -> std::optional<float> {
      auto it = gc.find(k);
      return it != gc.end() && it->is_number() ? std::optional<float>(it->get<float>()) : std::nullopt;
    };
    m.defaults.temperature = f("temperature");
    m.defaults.top_p = f("top_p");
    m.defaults.min_p = f("min_p");
    m.defaults.repetition_penalty = f("repetition_penalty");
    if (auto k = gc.find("top_k"); k != gc.end() && k->is_number_integer()) m.defaults.top_k = k->get<int>();
  }
  return m;
}

}  // namespace

std::string Model::apply_chat_template(const nlohmann::json& messages, bool add_generation_prompt) const {
  if (!chat_template) throw std::runtime_error("[chat] " + path + " has no chat template");
  nlohmann::json extra = {{"bos_token", bos_token}, {"eos_token", eos_token}};
  return chat_template->apply(messages, add_generation_prompt, extra);
}

std::vector<int32_t> Model::encode_prompt(const std::string& text, bool templated) const {
  // A rendered template already holds the special tokens it wants.
  return tokenizer->encode(text, !templated);
}

Model load_model(const std::string& path, const LoadOptions& options) {
  if (!fs::exists(path)) throw std::runtime_error("[load] " + path + " does not exist");
  Model m = fs::is_directory(path) ? load_hf_model(path, options) : load_gguf_model(path, options);
  m.path = path;
  m.transformer->set_kv_bits(options.kv_bits);
  if (m.bos_token.empty() && m.tokenizer->bos_id()) m.bos_token = m.tokenizer->id_to_token(*m.tokenizer->bos_id());
  if (m.eos_token.empty() && m.tokenizer->eos_id()) m.eos_token = m.tokenizer->id_to_token(*m.tokenizer->eos_id());
  m.eos_token_ids = m.config.eos_token_ids;
  if (m.tokenizer->eos_id() &&
      std::find(m.eos_token_ids.begin(), m.eos_token_ids.end(), *m.tokenizer->eos_id()) == m.eos_token_ids.end()) {
    m.eos_token_ids.push_back(*m.tokenizer->eos_id());
  }
  // Chat models end a turn with their template's end-of-turn token.
  for (const char* eot : {"<|im_end|>", "<|eot_id|>", "<|end|>"}) {
    if (auto id = m.tokenizer->token_to_id(eot);
        id && std::find(m.eos_token_ids.begin(), m.eos_token_ids.end(), *id) == m.eos_token_ids.end()) {
      m.eos_token_ids.push_back(*id);
    }
  }
  return m;
}

std::string default_model_path() {
  if (const char* p = std::getenv("EMBER_LM_MODEL"); p && *p) return p;
  fs::path dir;
  if (const char* d = std::getenv("EMBER_MODEL_DIR"); d && *d) {
    dir = d;
  } else if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) {
    dir = fs::path(x) / "ember" / "models";
  } else if (const char* h = std::getenv("HOME"); h && *h) {
    dir = fs::path(h) / ".cache" / "ember" / "models";
  }
  fs::path p = dir / "SmolLM2-135M-Instruct.Q4_1.gguf";
  if (!fs::exists(p)) {
    throw std::runtime_error("[ember-lm] no --model given and the default model is not at " + p.string() +
                             "; run scripts/install-deps (it installs SmolLM2-135M-Instruct) or pass --model");
  }
  return p.string();
}

}  // namespace ember::lm
