#include "lm/convert.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <unordered_map>

#include "ember/io.h"
#include "ember/ops.h"
#include "ember/quantized.h"
#include "ember/transforms.h"

namespace ember::lm {

namespace fs = std::filesystem;

int convert_model(const std::string& src_dir, const std::string& out_dir, const ConvertOptions& opt) {
  fs::path src(src_dir), out(out_dir);
  if (!fs::is_directory(src) || !fs::exists(src / "config.json")) {
    throw std::runtime_error("[convert] " + src_dir + " is not a Hugging Face model folder (no config.json)");
  }
  if (opt.quantize && (opt.group_size != 32 && opt.group_size != 64 && opt.group_size != 128)) {
    throw std::invalid_argument("[convert] --q-group-size must be 32, 64 or 128, got " +
                                std::to_string(opt.group_size));
  }
  if (opt.quantize && (opt.bits < 2 || opt.bits > 8 || opt.bits == 7)) {
    throw std::invalid_argument("[convert] --q-bits must be 2, 3, 4, 5, 6 or 8, got " + std::to_string(opt.bits));
  }
  if (fs::exists(out / "config.json")) throw std::runtime_error("[convert] " + out_dir + " already holds a model");
  nlohmann::json config;
  {
    std::ifstream f(src / "config.json");
    config = nlohmann::json::parse(f);
  }
  if (config.contains("quantization")) throw std::runtime_error("[convert] " + src_dir + " is already quantized");
  // The tensors of every shard.
  std::vector<fs::path> files;
  if (fs::exists(src / "model.safetensors.index.json")) {
    std::ifstream f(src / "model.safetensors.index.json");
    std::set<std::string> shards;
    for (auto& [_, v] : nlohmann::json::parse(f).at("weight_map").items()) shards.insert(v.get<std::string>());
    for (const auto& s : shards) files.push_back(src / s);
  } else {
    files.push_back(src / "model.safetensors");
  }
  std::unordered_map<std::string, array> tensors;
  for (const auto& f : files)
    for (auto& [name, a] : load_safetensors(f.string()).first) tensors.emplace(name, a);

  std::unordered_map<std::string, array> result;
  int count = 0;
  for (auto& [name, a] : tensors) {
    array t = a;
    if (opt.dtype && is_floating_point(t.dtype())) t = astype(t, *opt.dtype);
    bool matrix = t.ndim() == 2 && name.size() > 7 && name.compare(name.size() - 7, 7, ".weight") == 0;
    if (opt.quantize && matrix && t.shape(1) % opt.group_size == 0 && is_floating_point(t.dtype())) {
      if (t.dtype() == float64) t = astype(t, float32);
      auto [wq, scales, biases] = quantize(t, opt.group_size, opt.bits);
      std::string base = name.substr(0, name.size() - 7);
      eval(wq, scales, biases);
      result.emplace(name, wq);
      result.emplace(base + ".scales", scales);
      result.emplace(base + ".biases", biases);
      ++count;
    } else {
      t.eval();
      result.emplace(name, t);
    }
  }
  fs::create_directories(out);
  save_safetensors((out / "model.safetensors").string(), result, {{"format", "mlx"}});
  if (opt.quantize) config["quantization"] = {{"group_size", opt.group_size}, {"bits", opt.bits}};
  if (opt.dtype) config["torch_dtype"] = dtype_name(*opt.dtype);
  std::ofstream(out / "config.json") << config.dump(2) << "\n";
  for (const char* f : {"tokenizer.json", "tokenizer_config.json", "generation_config.json", "chat_template.jinja",
                        "special_tokens_map.json"}) {
    if (fs::exists(src / f)) fs::copy_file(src / f, out / f, fs::copy_options::overwrite_existing);
  }
  return count;
}

}  // namespace ember::lm
