// The LLM runtime against references written by tests/fixtures/make_model_fixtures.py with
// Hugging Face transformers: random Llama / Mistral / Qwen2 / Qwen3 checkpoints (transformers'
// logits and greedy continuations, also through their GGUF conversions) and the default
// SmolLM2 GGUF (transformers' greedy continuation on the `gguf` package's dequantized
// weights); plus the KV cache, sampling, generation and the loaders' errors on bad files.
#include <gtest/gtest.h>
#include <unistd.h>

#include <ember/ember.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "lm/convert.h"
#include "lm/generate.h"
#include "lm/model.h"
#include "lm/sampling.h"

using namespace ember;
using namespace ember::lm;
namespace fs = std::filesystem;

namespace {

// The fixtures folder: $EMBER_LM_FIXTURES when set (make test-emu reuses the main build's),
// else the one this build's ctest step writes.
fs::path fixtures() {
  const char* env = std::getenv("EMBER_LM_FIXTURES");
  return fs::path(env && *env ? env : EMBER_LM_FIXTURES) / "models";
}

// Skips (with the fixture script's reason) when a reference could not be produced.
#define SKIP_IF_MISSING(skip_file, dir)                                                              \
  do {                                                                                               \
    if (fs::exists(fixtures() / (skip_file))) {                                                      \
      std::ifstream f(fixtures() / (skip_file));                                                     \
      GTEST_SKIP() << std::string(std::istreambuf_iterator<char>(f), {});                            \
    }                                                                                                \
    if (!fs::exists(dir)) GTEST_SKIP() << (dir) << " not generated: run the lm_fixtures ctest step"; \
  } while (0)

nlohmann::json read_json(const fs::path& p) {
  std::ifstream f(p);
  return nlohmann::json::parse(f);
}

std::vector<float> host(array a) {
  a = astype(a, float32);
  a.eval();
  std::vector<float> v(a.size());
  array c = copy(a);
  c.eval();
  std::copy(c.data<float>(), c.data<float>() + c.size(), v.begin());
  return v;
}

// Greedy ids after `prompt`, one forward pass per token with the KV cache.
std::vector<int> greedy(const Transformer& tf, const std::vector<int>& prompt, int n, int prefill_step = 1 << 30) {
  std::vector<KVCache> cache = tf.make_cache();
  array logits(0.0f);
  for (size_t at = 0; at < prompt.size(); at += prefill_step) {
    size_t m = std::min<size_t>(prefill_step, prompt.size() - at);
    std::vector<int32_t> chunk(prompt.begin() + at, prompt.begin() + at + m);
    logits = tf.forward(array(chunk.data(), {1, static_cast<int>(m)}, int32), cache, true);
  }
  std::vector<int> out;
  for (int i = 0; i < n; ++i) {
    array next = argmax(reshape(logits, {-1}));
    next.eval();
    int32_t tok = next.item<uint32_t>();
    out.push_back(tok);
    logits = tf.forward(array(&tok, {1, 1}, int32), cache, true);
  }
  return out;
}

// The largest |got - want| and the largest |want|: logits are compared relative to the latter.
std::pair<double, double> max_error(const std::vector<float>& got, const std::vector<float>& want) {
  double err = 0, scale = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    err = std::max(err, std::abs(double(got[i]) - want[i]));
    scale = std::max(scale, std::abs(double(want[i])));
  }
  return {err, scale};
}

const char* kArchs[] = {"llama", "mistral", "qwen2", "qwen3"};

}  // namespace

TEST(LmModel, RandomCheckpointsMatchTheReferenceLogitsAndGreedyText) {
  for (const char* arch : kArchs) {
    SCOPED_TRACE(arch);
    fs::path dir = fixtures() / arch;
    SKIP_IF_MISSING("checkpoints.SKIP", dir);
    Model m = load_model(dir.string());
    EXPECT_EQ(m.config.architecture, arch);
    auto expected = read_json(dir / "expected.json");
    std::vector<int> prompt = expected["prompt"];
    std::vector<int32_t> p32(prompt.begin(), prompt.end());
    std::vector<KVCache> cache = m.transformer->make_cache();
    array logits = m.transformer->forward(array(p32.data(), {1, static_cast<int>(p32.size())}, int32), cache);
    array want = load((dir / "expected_logits.npy").string());
    ASSERT_EQ(logits.shape(), (Shape{1, want.shape(0), want.shape(1)}));
    std::vector<float> g = host(logits), w = host(want);
    auto [err, scale] = max_error(g, w);
    EXPECT_LE(err / scale, 1e-4) << "max |logit error| " << err << " for logits up to " << scale;
    std::vector<int> want_ids = expected["greedy"];
    EXPECT_EQ(greedy(*m.transformer, prompt, 32), want_ids);
    // Chunked prefill (5 positions per pass) reaches the same continuation.
    EXPECT_EQ(greedy(*m.transformer, prompt, 8, 5), std::vector<int>(want_ids.begin(), want_ids.begin() + 8));

    // The same weights in bfloat16: logits within 1e-2 of the largest.
    LoadOptions bf16;
    bf16.dtype = bfloat16;
    Model mb = load_model(dir.string(), bf16);
    std::vector<KVCache> cb = mb.transformer->make_cache();
    std::vector<float> gb =
        host(mb.transformer->forward(array(p32.data(), {1, static_cast<int>(p32.size())}, int32), cb));
    double errb = 0;
    for (size_t i = 0; i < gb.size(); ++i) errb = std::max(errb, std::abs(double(gb[i]) - w[i]));
    EXPECT_LE(errb / scale, 1e-2) << "bfloat16: max |logit error| " << errb << " for logits up to " << scale;
  }
}

TEST(LmModel, PreTransformers5ConfigKeysReadTheSame) {
  // Checkpoints saved before transformers 5 have rope_theta and rope_scaling at the top level
  // instead of rope_parameters.
  fs::path src = fixtures() / "llama";
  SKIP_IF_MISSING("checkpoints.SKIP", src);
  fs::path dir = fs::temp_directory_path() / ("ember_lm_legacy_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::copy(src, dir);
  auto config = read_json(src / "config.json");
  ASSERT_TRUE(config.contains("rope_parameters"));
  nlohmann::json rope = config["rope_parameters"];
  config.erase("rope_parameters");
  config["rope_theta"] = rope["rope_theta"];
  rope.erase("rope_theta");
  config["rope_scaling"] = rope;
  std::ofstream(dir / "config.json") << config.dump();
  Model legacy = load_model(dir.string()), current = load_model(src.string());
  ASSERT_TRUE(legacy.config.rope_scaling.has_value());
  EXPECT_EQ(legacy.config.rope_scaling->type, "llama3");
  EXPECT_EQ(legacy.config.rope_theta, current.config.rope_theta);
  std::vector<int> prompt = read_json(src / "expected.json")["prompt"];
  EXPECT_EQ(greedy(*legacy.transformer, prompt, 8), greedy(*current.transformer, prompt, 8));
  fs::remove_all(dir);
}

TEST(LmModel, GgufConversionsMatchTheReferenceLogits) {
  // The same random checkpoints as llama.cpp's converter writes them (Llama's Q/K rows
  // interleaved, Llama 3 scaling as rope_freqs.weight, tokenizer in the metadata).
  for (const char* arch : {"llama", "qwen2", "qwen3"}) {
    SCOPED_TRACE(arch);
    fs::path dir = fixtures() / arch;
    SKIP_IF_MISSING("checkpoints.SKIP", dir);
    Model m = load_model((dir / "model.gguf").string());
    EXPECT_EQ(m.format, "gguf");
    EXPECT_EQ(m.config.rope_traditional, std::string(arch) == "llama");
    std::vector<int> prompt = read_json(dir / "expected.json")["prompt"];
    std::vector<int32_t> p32(prompt.begin(), prompt.end());
    std::vector<KVCache> cache = m.transformer->make_cache();
    std::vector<float> g =
        host(m.transformer->forward(array(p32.data(), {1, static_cast<int>(p32.size())}, int32), cache));
    std::vector<float> w = host(load((dir / "expected_logits.npy").string()));
    ASSERT_EQ(g.size(), w.size());
    auto [err, scale] = max_error(g, w);
    EXPECT_LE(err / scale, 1e-4) << "max |logit error| " << err << " for logits up to " << scale;
    // Its tokenizer, read from the metadata, agrees with the folder's tokenizer.json.
    Model hf = load_model(dir.string());
    std::string text = "hello world, the quick brown fox";
    EXPECT_EQ(m.tokenizer->encode(text, false), hf.tokenizer->encode(text, false));
  }
}

// The largest logit error, relative to the largest logit, that rounding x to int8 per block of
// 32 (LoadOptions::float_activations false, the default) may add on the random test models:
// measured up to 0.037 on them, and 0.052 on the K-quant one since its Q6_K matrices (attn_v
// and the head, groups of 16) take int8 x too, as in llama.cpp.
constexpr double kInt8ActivationTol = 6e-2;

TEST(LmModel, QuantizedGgufsRunQuantizedAndMatchTheReference) {
  // Q4_0 / Q4_1 / Q8_0 GGUFs written by the gguf package; transformers' logits on the same
  // dequantized weights. Ember repacks the blocks exactly and runs quantized_matmul: 1e-4 with
  // x in float32, kInt8ActivationTol with x rounded to int8.
  for (const char* arch : {"llama", "qwen2"}) {
    fs::path dir = fixtures() / arch;
    SKIP_IF_MISSING("checkpoints.SKIP", dir);
    std::vector<int> prompt = read_json(dir / "expected.json")["prompt"];
    std::vector<int32_t> p32(prompt.begin(), prompt.end());
    for (const char* quant : {"Q4_0", "Q4_1", "Q8_0"}) {
      SCOPED_TRACE(std::string(arch) + " " + quant);
      std::vector<float> want = host(load((dir / ("expected_logits_" + std::string(quant) + ".npy")).string()));
      for (int mode = 0; mode < 3; ++mode) {  // float x, int8 x, dequantized weights
        const bool dequantize = mode == 2;
        LoadOptions opt;
        opt.dequantize = dequantize;
        opt.float_activations = mode != 1;
        Model m = load_model((dir / ("model-" + std::string(quant) + ".gguf")).string(), opt);
        // q/k/v and gate/up are stacked: 4 matrices per layer, plus the embedding and head.
        int matrices = 1 + 4 * m.config.num_layers + (m.config.tie_word_embeddings ? 0 : 1);
        EXPECT_EQ(m.transformer->quantized_count(), dequantize ? 0 : matrices) << m.weight_types;
        std::vector<KVCache> cache = m.transformer->make_cache();
        std::vector<float> got =
            host(m.transformer->forward(array(p32.data(), {1, static_cast<int>(p32.size())}, int32), cache));
        ASSERT_EQ(got.size(), want.size());
        auto [err, scale] = max_error(got, want);
        EXPECT_LE(err / scale, mode == 1 ? kInt8ActivationTol : 1e-4) << (dequantize  ? "dequantized"
                                                                          : mode == 1 ? "quantized, int8 x"
                                                                                      : "quantized")
                                                                      << ": max |logit error| " << err;
      }
    }
  }
}

TEST(LmModel, KQuantGgufRunsQuantizedAndMatchesTheReference) {
  // A Llama with 256-wide rows written as a Q4_K_M-like mix (Q4_K, Q5_K for ffn_down, Q6_K for
  // attn_v and output) by the fixture script's own K-quant encoder; transformers' logits on the
  // weights as the gguf package decodes them. Every matrix must run quantized.
  fs::path dir = fixtures() / "llama_kquants";
  SKIP_IF_MISSING("checkpoints.SKIP", dir);
  std::vector<int> prompt = read_json(dir / "expected.json")["prompt"];
  std::vector<int32_t> p32(prompt.begin(), prompt.end());
  std::vector<float> want = host(load((dir / "expected_logits.npy").string()));
  for (bool float_x : {true, false}) {
    SCOPED_TRACE(float_x ? "float x" : "int8 x");
    LoadOptions opt;
    opt.float_activations = float_x;
    Model m = load_model((dir / "model-Q4_K_M.gguf").string(), opt);
    EXPECT_EQ(m.weight_types.find("dequantized"), std::string::npos) << m.weight_types;
    // attn_v (Q6_K: 6-bit codes, groups of 16) cannot stack with q and k (4-bit), so each
    // layer has q, k, v, o, gate+up and down; plus the embedding and the head.
    EXPECT_EQ(m.transformer->quantized_count(), 2 + 6 * m.config.num_layers) << m.weight_types;
    std::vector<KVCache> cache = m.transformer->make_cache();
    std::vector<float> got =
        host(m.transformer->forward(array(p32.data(), {1, static_cast<int>(p32.size())}, int32), cache));
    ASSERT_EQ(got.size(), want.size());
    auto [err, scale] = max_error(got, want);
    EXPECT_LE(err / scale, float_x ? 1e-4 : kInt8ActivationTol) << "max |logit error| " << err;
  }
}

TEST(LmModel, ConvertQuantizesAndReloads) {
  // convert -q writes X.weight/scales/biases + config "quantization"; the reloaded model runs
  // quantized and equals the float model holding dequantize(quantize(W)) (1e-4), and stays
  // within a documented distance of the original float model: 8 bits 3e-2, 4 bits 0.3 of the
  // largest logit (random weights are the worst case for 4 bits: no outliers, full range used).
  fs::path src = fixtures() / "llama";
  SKIP_IF_MISSING("checkpoints.SKIP", src);
  std::vector<int> prompt = read_json(src / "expected.json")["prompt"];
  std::vector<int32_t> p32(prompt.begin(), prompt.end());
  auto logits = [&](const Model& m) {
    std::vector<KVCache> cache = m.transformer->make_cache();
    return host(m.transformer->forward(array(p32.data(), {1, static_cast<int>(p32.size())}, int32), cache));
  };
  std::vector<float> original = host(load((src / "expected_logits.npy").string()));
  for (auto [bits, tol] : {std::pair{8, 3e-2}, std::pair{4, 0.3}}) {
    SCOPED_TRACE("bits " + std::to_string(bits));
    fs::path out = fs::temp_directory_path() / ("ember_lm_q" + std::to_string(bits) + "_" + std::to_string(::getpid()));
    fs::remove_all(out);
    ConvertOptions opt;
    opt.quantize = true;
    opt.bits = bits;
    opt.group_size = 32;
    int n = convert_model(src.string(), out.string(), opt);
    LoadOptions float_x;  // the exact comparison; int8 x is QuantizedGgufsRunQuantized...'s
    float_x.float_activations = true;
    Model q = load_model(out.string(), float_x);
    EXPECT_EQ(n, 2 + 7 * q.config.num_layers);  // embedding, head and every projection
    EXPECT_EQ(q.transformer->quantized_count(), 2 + 4 * q.config.num_layers);
    // The same values as float weights: dequantize(quantize(W)) written back.
    auto st = load_safetensors((out / "model.safetensors").string()).first;
    std::unordered_map<std::string, array> dense;
    for (auto& [name, a] : st) {
      if (name.size() > 7 && name.compare(name.size() - 7, 7, ".scales") == 0) continue;
      if (name.size() > 7 && name.compare(name.size() - 7, 7, ".biases") == 0) continue;
      std::string base = name.substr(0, name.size() - 7);
      dense.emplace(name, st.count(base + ".scales")
                              ? dequantize(a, st.at(base + ".scales"), st.at(base + ".biases"), 32, bits)
                              : a);
    }
    fs::path dq = out.string() + "_dense";
    fs::remove_all(dq);
    fs::copy(src, dq);
    fs::remove(dq / "model.safetensors");
    save_safetensors((dq / "model.safetensors").string(), dense);
    std::vector<float> got = logits(q), want = logits(load_model(dq.string()));
    double err = 0, dev = 0, scale = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      err = std::max(err, std::abs(double(got[i]) - want[i]));
      dev = std::max(dev, std::abs(double(got[i]) - original[i]));
      scale = std::max(scale, std::abs(double(original[i])));
    }
    EXPECT_LE(err / scale, 1e-4) << "quantized vs its dequantized float model";
    EXPECT_LE(dev / scale, tol) << "quantized vs the original float model";
    std::printf("[ convert ] %d-bit, group 32: logits within %.4f of the float model's largest\n", bits, dev / scale);
    fs::remove_all(out);
    fs::remove_all(dq);
  }
  EXPECT_THROW(convert_model((fixtures() / "nothing").string(), "/tmp/x", {}), std::runtime_error);
}

TEST(LmModel, DefaultGgufGreedyMatchesTheReference) {
  fs::path dir = fixtures() / "smollm2";
  SKIP_IF_MISSING("smollm2.SKIP", dir);
  auto expected = read_json(dir / "expected.json");
  Model m = load_model(expected["gguf"].get<std::string>());
  EXPECT_EQ(m.config.num_layers, 30);
  EXPECT_TRUE(m.chat_template.has_value());
  std::vector<int> want = expected["greedy"];
  EXPECT_EQ(m.transformer->quantized_count(), 1 + 4 * 30) << m.weight_types;  // Q4_1 and Q8_0 run quantized
  EXPECT_EQ(greedy(*m.transformer, expected["prompt"], static_cast<int>(want.size())), want);
}

TEST(LmModel, GenerateStopsAtStopStringsEosAndLength) {
  fs::path dir = fixtures() / "smollm2";
  SKIP_IF_MISSING("smollm2.SKIP", dir);
  // x in float32: that model answers "Paris" (with x rounded to int8 it, like llama.cpp on the
  // same file, drifts into another answer; the stop logic below is the same either way).
  LoadOptions opt;
  opt.float_activations = true;
  Model m = load_model(read_json(dir / "expected.json")["gguf"].get<std::string>(), opt);
  nlohmann::json msgs = {{{"role", "user"}, {"content", "What is the capital of France?"}}};
  std::vector<int32_t> ids = m.encode_prompt(m.apply_chat_template(msgs), true);
  GenerateOptions o;
  o.max_tokens = 40;
  std::string streamed;
  GenerationResult full = generate(m, ids, o, [&](std::string_view s) {
    streamed += s;
    return true;
  });
  EXPECT_EQ(streamed, full.text);
  EXPECT_EQ(full.finish_reason, "stop");  // the answer ends with <|im_end|>
  ASSERT_NE(full.text.find("Paris"), std::string::npos) << full.text;
  EXPECT_EQ(full.text, m.tokenizer->decode(full.tokens, true));
  // A stop string cuts the text before it.
  o.stop = {"Paris"};
  GenerationResult cut = generate(m, ids, o);
  EXPECT_EQ(cut.text, full.text.substr(0, full.text.find("Paris")));
  EXPECT_EQ(cut.finish_reason, "stop");
  // max_tokens.
  o.stop.clear();
  o.max_tokens = 3;
  GenerationResult three = generate(m, ids, o);
  EXPECT_EQ(three.tokens.size(), 3u);
  EXPECT_EQ(three.finish_reason, "length");
  EXPECT_EQ(std::vector<int32_t>(full.tokens.begin(), full.tokens.begin() + 3), three.tokens);
  // A prompt cache: the second turn reuses the first turn's positions and answers the same as
  // without the cache.
  PromptCache pc;
  o.max_tokens = 40;
  GenerationResult first = generate(m, ids, o, {}, &pc);
  msgs.push_back({{"role", "assistant"}, {"content", first.text}});
  msgs.push_back({{"role", "user"}, {"content", "And of Germany?"}});
  std::vector<int32_t> ids2 = m.encode_prompt(m.apply_chat_template(msgs), true);
  GenerationResult cached = generate(m, ids2, o, {}, &pc);
  GenerationResult fresh = generate(m, ids2, o);
  EXPECT_GT(cached.cached_tokens, static_cast<int>(ids.size()) - 1);
  EXPECT_EQ(cached.tokens, fresh.tokens);
  // The same prompt again runs no position (its logits are kept) and answers the same.
  GenerationResult again = generate(m, ids2, o, {}, &pc);
  EXPECT_EQ(again.cached_tokens, static_cast<int>(ids2.size()));
  EXPECT_EQ(again.prompt_tokens, 0);
  EXPECT_EQ(again.tokens, fresh.tokens);
  // Another conversation (sharing only the template's start) reuses only the exact positions
  // it shares, and answers as from scratch.
  std::vector<int32_t> ids3 = m.encode_prompt(
      m.apply_chat_template(nlohmann::json::array({{{"role", "user"}, {"content", "Hi there"}}})), true);
  const size_t exact = exact_prefix(pc, ids3);
  EXPECT_LT(exact, ids3.size());
  GenerationResult other = generate(m, ids3, o, {}, &pc);
  EXPECT_EQ(other.cached_tokens, static_cast<int>(exact));
  EXPECT_EQ(other.tokens, generate(m, ids3, o).tokens);
}

TEST(LmModel, BatchedDecodeStepsMatchEachSequenceAlone) {
  // Three sequences at different positions (prompts of 5, 9 and 2 tokens, one of them from a
  // quantized GGUF and the default model's int8 activations) take decode steps together
  // through forward_decode; each row's logits match that sequence stepped alone.
  for (const char* file : {"model.safetensors", "model-Q4_0.gguf"}) {
    SCOPED_TRACE(file);
    fs::path dir = fixtures() / "llama";
    SKIP_IF_MISSING("checkpoints.SKIP", dir);
    Model m = load_model(std::string(file) == "model.safetensors" ? dir.string() : (dir / file).string());
    const Transformer& tf = *m.transformer;
    std::vector<std::vector<int32_t>> prompts = {{1, 5, 9, 13, 2}, {7, 3, 3, 8, 1, 4, 6, 2, 9}, {11, 12}};
    std::vector<std::vector<KVCache>> batched, alone;
    for (const auto& p : prompts) {
      for (auto* caches : {&batched, &alone}) {
        caches->push_back(tf.make_cache());
        tf.forward(array(p.data(), {1, static_cast<int>(p.size())}, int32), caches->back(), true).eval();
      }
    }
    std::vector<int32_t> toks = {4, 10, 15};
    for (int step = 0; step < 4; ++step) {
      std::vector<std::vector<KVCache>*> ptrs = {&batched[0], &batched[1], &batched[2]};
      std::vector<float> rows = host(tf.forward_decode(toks, ptrs));
      const size_t V = rows.size() / 3;
      for (int i = 0; i < 3; ++i) {
        std::vector<float> one = host(tf.forward(array(&toks[i], {1, 1}, int32), alone[i], true));
        std::vector<float> got(rows.begin() + i * V, rows.begin() + (i + 1) * V);
        auto [err, scale] = max_error(got, one);
        EXPECT_LE(err, 1e-4 * scale) << "sequence " << i << " step " << step;
        EXPECT_EQ(batched[i][0].offset(), alone[i][0].offset());
      }
      for (auto& t : toks) t = (t * 7 + 3) % 32;
    }
    EXPECT_THROW(tf.forward_decode({1, 2}, {&batched[0]}), std::invalid_argument);
  }
}

TEST(LmModel, DecodeBatchFollowsSequencesJoiningAndLeaving) {
  // Four sequences join and leave a DecodeBatch over eight steps, as a server's requests do;
  // every row's logits match that sequence stepped alone, and a sequence handed back
  // (release) carries on alone or rejoins from its own caches.
  fs::path dir = fixtures() / "llama";
  SKIP_IF_MISSING("checkpoints.SKIP", dir);
  Model m = load_model((dir / "model-Q4_0.gguf").string());
  const Transformer& tf = *m.transformer;
  std::vector<std::vector<int32_t>> prompts = {{1, 5, 9, 13, 2}, {7, 3, 3, 8, 1, 4, 6, 2, 9}, {11, 12}, {4}};
  std::vector<std::vector<KVCache>> batched, alone;
  for (const auto& p : prompts) {
    for (auto* caches : {&batched, &alone}) {
      caches->push_back(tf.make_cache());
      tf.forward(array(p.data(), {1, static_cast<int>(p.size())}, int32), caches->back(), true).eval();
    }
  }
  // Who steps at each step: a join, a leave, a single sequence (forward_decode's path), a rejoin.
  const std::vector<std::vector<int>> schedule = {{0, 1}, {0, 1, 2}, {1, 2, 3}, {1, 2, 3}, {3}, {0, 3}, {3, 0, 2}, {2}};
  std::vector<int32_t> next = {4, 10, 15, 20};
  DecodeBatch decode(m);
  for (size_t step = 0; step < schedule.size(); ++step) {
    std::vector<int32_t> toks;
    std::vector<std::vector<KVCache>*> ptrs;
    for (int i : schedule[step]) {
      toks.push_back(next[i]);
      ptrs.push_back(&batched[i]);
    }
    // Sequences not stepping are handed back before anything else touches their caches.
    for (int i = 0; i < 4; ++i) {
      if (std::find(schedule[step].begin(), schedule[step].end(), i) == schedule[step].end()) {
        decode.release(&batched[i]);
      }
    }
    std::vector<std::vector<float>> rows = decode.step(toks, ptrs);
    ASSERT_EQ(rows.size(), toks.size());
    for (size_t r = 0; r < toks.size(); ++r) {
      const int i = schedule[step][r];
      std::vector<float> one = host(tf.forward(array(&next[i], {1, 1}, int32), alone[i], true));
      auto [err, scale] = max_error(rows[r], one);
      EXPECT_LE(err, 1e-4 * scale) << "sequence " << i << " step " << step;
      next[i] = (next[i] * 7 + 3) % 32;
    }
  }
  decode.release_all();
  for (int i = 0; i < 4; ++i) {
    for (size_t l = 0; l < alone[i].size(); ++l) {
      ASSERT_EQ(batched[i][l].offset(), alone[i][l].offset()) << "sequence " << i << " layer " << l;
      auto [kb, vb] = batched[i][l].contents();
      auto [ka, va] = alone[i][l].contents();
      EXPECT_TRUE(allclose(kb, ka, 1e-4, 1e-4).item<bool>()) << "keys of sequence " << i << " layer " << l;
      EXPECT_TRUE(allclose(vb, va, 1e-4, 1e-4).item<bool>()) << "values of sequence " << i << " layer " << l;
    }
  }
}

TEST(LmModel, SegmentsPrefilledTogetherMatchEachAlone) {
  // Three prompts (one continuing a cached prefix) in one forward_segments pass: each one's
  // last logits and caches match its prefill alone; prefill_together on Sequences gives each
  // the greedy continuation it gets alone, a short prompt included.
  fs::path dir = fixtures() / "llama";
  SKIP_IF_MISSING("checkpoints.SKIP", dir);
  Model m = load_model((dir / "model-Q4_0.gguf").string());
  const Transformer& tf = *m.transformer;
  std::vector<std::vector<int32_t>> segs = {
      {1, 5, 9, 13, 2, 7, 7}, {7, 3, 3, 8, 1, 4, 6, 2, 9, 30, 31}, {11, 12, 4, 4, 5, 6}};
  std::vector<std::vector<KVCache>> together(3), alone(3);
  for (int i = 0; i < 3; ++i) together[i] = tf.make_cache(), alone[i] = tf.make_cache();
  std::vector<int32_t> prefix = {3, 1, 4, 1, 5, 9};  // the third continues a cached prefix
  for (auto* c : {&together[2], &alone[2]}) tf.forward(array(prefix.data(), {1, 6}, int32), *c, true).eval();
  std::vector<float> rows = host(tf.forward_segments(segs, {&together[0], &together[1], &together[2]}));
  const size_t V = rows.size() / 3;
  for (int i = 0; i < 3; ++i) {
    std::vector<float> one =
        host(tf.forward(array(segs[i].data(), {1, static_cast<int>(segs[i].size())}, int32), alone[i], true));
    auto [err, scale] = max_error(std::vector<float>(rows.begin() + i * V, rows.begin() + (i + 1) * V), one);
    EXPECT_LE(err, 1e-4 * scale) << "segment " << i;
    for (size_t l = 0; l < alone[i].size(); ++l) {
      ASSERT_EQ(together[i][l].offset(), alone[i][l].offset());
      EXPECT_TRUE(allclose(together[i][l].contents().first, alone[i][l].contents().first, 1e-4, 1e-4).item<bool>());
    }
  }
  EXPECT_THROW(tf.forward_segments({{1, 2}, {}}, {&together[0], &together[1]}), std::invalid_argument);
  EXPECT_THROW(tf.forward_segments({{1, 2}}, {&together[0], &together[1]}), std::invalid_argument);

  GenerateOptions o;
  o.max_tokens = 6;
  o.sampling.temperature = 0;
  std::vector<std::vector<int32_t>> prompts = {{1, 5, 9, 13, 2, 7, 7}, {4, 2}, {7, 3, 3, 8, 1, 4, 6, 2, 9}};
  std::vector<std::unique_ptr<Sequence>> seqs;
  std::vector<Sequence*> ptrs;
  for (const auto& p : prompts) {
    seqs.push_back(std::make_unique<Sequence>(m, p, o));
    ptrs.push_back(seqs.back().get());
  }
  prefill_together(m, ptrs);
  for (size_t i = 0; i < prompts.size(); ++i) {
    Sequence& q = *seqs[i];
    while (auto t = q.step()) {
      int32_t tok = *t;
      q.set_logits(std::move(forward_decode(m, {tok}, {&q.cache()})[0]), tok);
    }
    EXPECT_EQ(q.result().tokens, generate(m, prompts[i], o).tokens) << "prompt " << i;
  }
}

TEST(LmModel, ExactPrefixesGiveTheBitsOfAFreshPrefill) {
  // Through the integer kernels a prompt's prefix prefilled for another prompt (or in steps)
  // gives, bit for bit, the caches and logits of the prompt's own prefill from scratch: the
  // prefill kernels compute each row alone. So another conversation may take it over
  // (exact_prefix, copy_prefix), as the server's slots lend a shared system prompt, without its
  // answer changing. A dense model (sgemm rounds with the number of rows) has no exact positions.
  for (const char* file : {"model.safetensors", "model-Q4_0.gguf"}) {
    SCOPED_TRACE(file);
    fs::path dir = fixtures() / "llama";
    SKIP_IF_MISSING("checkpoints.SKIP", dir);
    const bool dense = std::string(file) == "model.safetensors";
    Model m = load_model(dense ? dir.string() : (dir / file).string());
    const Transformer& tf = *m.transformer;
    ASSERT_EQ(tf.exact_prefill(), !dense && int8_activation_kernels(4, 32));
    std::vector<int32_t> a(23), b(19);
    for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<int32_t>((i * 7 + 3) % 32);
    for (size_t i = 0; i < b.size(); ++i) b[i] = i < 13 ? a[i] : static_cast<int32_t>((i * 5 + 1) % 32);
    GenerateOptions o;
    o.max_tokens = 5;
    o.sampling.temperature = 0;
    o.logprobs = 0;
    o.prefill_step_size = 8;  // a's prefill in steps of 8, 8 and 7 positions: all exact
    PromptCache pa;
    GenerationResult ra = generate(m, a, o, {}, &pa);
    EXPECT_EQ(pa.tokens.size(), a.size() + ra.tokens.size() - 1);
    GenerationResult fresh = generate(m, b, o);
    if (!tf.exact_prefill()) {
      EXPECT_EQ(pa.exact, 0u);
      EXPECT_EQ(exact_prefix(pa, b), 0u);
      GenerationResult again = generate(m, b, o, {}, &pa);
      EXPECT_EQ(again.cached_tokens, 0);
      EXPECT_EQ(again.tokens, fresh.tokens);
      continue;
    }
    EXPECT_EQ(pa.exact, a.size());  // the decoded positions after it are not exact
    EXPECT_EQ(exact_prefix(pa, b), 13u);
    EXPECT_EQ(exact_prefix(pa, std::vector<int32_t>(a.begin(), a.begin() + 16)), 11u);  // 5 positions left to run
    EXPECT_EQ(exact_prefix(pa, std::vector<int32_t>(a.begin(), a.begin() + 4)), 0u);
    std::vector<int32_t> longer = a;  // past the row-by-row attention: prefilled in blocks
    longer.resize(fast::kRowExactKeys + 1, 7);
    EXPECT_EQ(exact_prefix(pa, longer), 0u);
    // The copied prefix, then b's other positions in one pass: the same bits as b from scratch.
    auto logits = [&](const std::vector<int32_t>& ids, std::vector<KVCache>& c) {
      return host(tf.forward(array(ids.data(), {1, static_cast<int>(ids.size())}, int32), c, true));
    };
    std::vector<KVCache> fresh_b = tf.make_cache();
    const std::vector<float> want = logits(b, fresh_b);
    PromptCache pb;
    copy_prefix(pb, pa, 13);
    EXPECT_EQ(pb.exact, 13u);
    std::vector<int32_t> rest(b.begin() + 13, b.end());
    EXPECT_EQ(logits(rest, pb.layers), want);
    for (size_t l = 0; l < fresh_b.size(); ++l) {
      EXPECT_TRUE(array_equal(pb.layers[l].contents().first, fresh_b[l].contents().first).item<bool>()) << l;
      EXPECT_TRUE(array_equal(pb.layers[l].contents().second, fresh_b[l].contents().second).item<bool>()) << l;
    }
    // generate() through a's cache reuses the 13 shared positions and answers b exactly as
    // from scratch, log-probabilities included.
    GenerationResult reused = generate(m, b, o, {}, &pa);
    EXPECT_EQ(reused.cached_tokens, 13);
    EXPECT_EQ(reused.tokens, fresh.tokens);
    ASSERT_EQ(reused.logprobs.size(), fresh.logprobs.size());
    for (size_t i = 0; i < fresh.logprobs.size(); ++i) EXPECT_EQ(reused.logprobs[i].logprob, fresh.logprobs[i].logprob);
    EXPECT_EQ(pa.exact, b.size());
    // A lent prefix continues no conversation: a prompt with only two more positions takes
    // ten of its thirteen, so that five rows run as in its own prefill.
    PromptCache lent;
    copy_prefix(lent, pb, 13);
    std::vector<int32_t> b15(b.begin(), b.begin() + 15);
    GenerationResult short_reuse = generate(m, b15, o, {}, &lent);
    EXPECT_EQ(short_reuse.cached_tokens, 10);
    EXPECT_EQ(short_reuse.tokens, generate(m, b15, o).tokens);
    // Nothing is exact after a pass of fewer than kPrefillRows rows (a 4-token prompt).
    PromptCache small;
    generate(m, std::vector<int32_t>(a.begin(), a.begin() + 4), o, {}, &small);
    EXPECT_EQ(small.exact, 0u);
    EXPECT_EQ(exact_prefix(small, a), 0u);
    EXPECT_THROW(copy_prefix(pb, small, 2), std::invalid_argument);
    EXPECT_THROW(copy_prefix(pb, pa, pa.exact + 1), std::invalid_argument);
  }
}

TEST(LmKVCache, BatchCacheAlignsRowsAtTheRight) {
  // Rows of 3, 1 and 5 positions (at offsets 3, 8 and 5) in one batch with step 4: appends land
  // after each row's own positions, the mask marks them, rows come back as they went in plus the
  // appended positions, and growth keeps only the columns some row uses.
  auto plane = [](int n, float base) {
    return reshape(add(astype(arange(0, 2 * n * 4), float32), array(base)), {1, 2, n, 4});
  };
  std::vector<std::pair<array, array>> rows = {
      {plane(3, 0), plane(3, 100)}, {plane(1, 200), plane(1, 300)}, {plane(5, 400), plane(5, 500)}};
  BatchKVCache c(rows, {3, 8, 5}, 4);
  EXPECT_EQ(c.batch_size(), 3);
  EXPECT_TRUE(array_equal(c.offsets(), array({3, 8, 5})).item<bool>());
  array mask = c.next_mask();
  EXPECT_EQ(mask.shape(), (Shape{3, 1, 1, 6}));
  std::vector<uint8_t> want = {0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1};
  EXPECT_TRUE(array_equal(mask, astype(array(want, {3, 1, 1, 6}, uint8), bool_)).item<bool>());
  std::vector<array> ks, vs;
  for (int step = 0; step < 6; ++step) {  // crosses the capacity (8) twice
    array k = full({3, 2, 1, 4}, static_cast<float>(-1 - step)), v = full({3, 2, 1, 4}, static_cast<float>(-10 - step));
    auto [keys, values] = c.update_and_fetch(k, v);
    EXPECT_EQ(keys.shape(), (Shape{3, 2, 6 + step, 4}));
    ks.push_back(k);
    vs.push_back(v);
  }
  EXPECT_TRUE(array_equal(c.offsets(), array({9, 14, 11})).item<bool>());
  for (int b = 0; b < 3; ++b) {
    auto [k, v] = c.row(b);
    std::vector<array> kw = {rows[b].first}, vw = {rows[b].second};
    for (int s = 0; s < 6; ++s) {
      kw.push_back(slice(ks[s], {b, 0, 0, 0}, {b + 1, 2, 1, 4}));
      vw.push_back(slice(vs[s], {b, 0, 0, 0}, {b + 1, 2, 1, 4}));
    }
    EXPECT_TRUE(array_equal(k, concatenate(kw, 2)).item<bool>()) << "keys of row " << b;
    EXPECT_TRUE(array_equal(v, concatenate(vw, 2)).item<bool>()) << "values of row " << b;
    EXPECT_EQ(c.offset(b), (std::vector<int>{9, 14, 11})[b]);
  }
  // A row handed to a single-sequence cache continues there.
  KVCache one;
  auto [k1, v1] = c.row(1);
  one.assign(k1, v1, c.offset(1));
  EXPECT_EQ(one.offset(), 14);
  auto [kc, vc] = one.contents();
  EXPECT_TRUE(array_equal(kc, k1).item<bool>());
  // Errors: shapes that do not fit, rows longer than their offset, empty batches.
  EXPECT_THROW(c.update_and_fetch(zeros({2, 2, 1, 4}), zeros({2, 2, 1, 4})), std::invalid_argument);
  EXPECT_THROW(c.update_and_fetch(zeros({3, 2, 2, 4}), zeros({3, 2, 2, 4})), std::invalid_argument);
  EXPECT_THROW(BatchKVCache({{plane(3, 0), plane(3, 0)}}, {2}), std::invalid_argument);
  EXPECT_THROW(BatchKVCache({}, {}), std::invalid_argument);
  EXPECT_THROW(BatchKVCache({{plane(3, 0), plane(2, 0)}}, {3}), std::invalid_argument);
  EXPECT_THROW(c.row(3), std::out_of_range);
  EXPECT_THROW(one.assign(k1, v1, 2), std::invalid_argument);
  KVCache q(0, 256, 4);
  EXPECT_THROW(q.contents(), std::invalid_argument);
}

TEST(LmKVCache, WindowedCacheKeepsTheLastPositions) {
  // Append 1..40 one or several positions at a time to a window-6 cache with step 4 and check
  // every fetch holds the positions a query can still see, in order.
  KVCache c(6, 4);
  int pos = 0;
  for (int n : {3, 1, 1, 5, 1, 1, 1, 7, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1}) {
    std::vector<float> vals;
    for (int i = 0; i < n; ++i) vals.push_back(static_cast<float>(pos + i));
    array k(vals.data(), {1, 1, n, 1}, float32);
    auto [keys, values] = c.update_and_fetch(k, k);
    pos += n;
    EXPECT_EQ(c.offset(), pos);
    int first = std::max(0, pos - n - 5);
    std::vector<float> got = host(keys);
    ASSERT_EQ(static_cast<int>(got.size()), pos - first) << "after " << pos;
    EXPECT_EQ(c.start(), first);
    for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], first + static_cast<float>(i));
  }
  // An unbounded cache grows by steps and keeps everything.
  KVCache u(0, 4);
  for (int i = 0; i < 10; ++i) {
    float v = static_cast<float>(i);
    auto [keys, values] = u.update_and_fetch(array(&v, {1, 1, 1, 1}, float32), array(&v, {1, 1, 1, 1}, float32));
    EXPECT_EQ(keys.shape(2), i + 1);
  }
  u.trim(4);
  EXPECT_EQ(u.offset(), 6);
  EXPECT_THROW(u.trim(7), std::invalid_argument);
}

TEST(LmKVCache, QuantizedCacheKeepsItsPositionsWithinHalfAStep) {
  // The windowed append pattern above, with random keys and values of head size 64 quantized
  // to 8 and 4 bits: every fetch returns the positions a float cache returns, each value
  // within half a quantization step of its group (plus the float16 rounding of scale and
  // bias), and the cache holds a fraction of the float cache's bytes.
  for (int bits : {8, 4}) {
    SCOPED_TRACE("bits " + std::to_string(bits));
    KVCache q(6, 4, bits), f(6, 4);
    int pos = 0;
    uint64_t seed = 50 + bits;
    for (int n : {3, 1, 1, 5, 1, 1, 7, 1, 2}) {
      array k = random::normal({1, 2, n, 64}, float32, 0.0, 1.0, random::key(seed++));
      array v = random::normal({1, 2, n, 64}, float32, 0.0, 1.0, random::key(seed++));
      auto [qk, qv] = q.update_and_fetch(k, v);
      auto [fk, fv] = f.update_and_fetch(k, v);
      pos += n;
      ASSERT_EQ(q.start(), f.start());
      ASSERT_EQ(qk.shape(), fk.shape());
      ASSERT_EQ(qv.shape(), fv.shape());
      for (auto [got, want] : {std::pair{host(qk), host(fk)}, std::pair{host(qv), host(fv)}}) {
        for (size_t g = 0; g < want.size(); g += 64) {  // one group per (head, position)
          float lo = want[g], hi = want[g];
          for (size_t i = g; i < g + 64; ++i) lo = std::min(lo, want[i]), hi = std::max(hi, want[i]);
          const double half_step = (hi - lo) / ((1 << bits) - 1) / 2, f16 = 2e-3 * std::max(std::abs(lo), std::abs(hi));
          for (size_t i = g; i < g + 64; ++i) ASSERT_NEAR(got[i], want[i], half_step + f16) << "at " << i;
        }
      }
    }
    EXPECT_EQ(q.offset(), pos);
    // 64 values: bits / 8 bytes each plus two float16 per group, against 4 bytes each.
    EXPECT_EQ(q.nbytes() * 256, f.nbytes() * (bits * 8 + 4));
  }
  EXPECT_THROW(KVCache(0, 256, 3), std::invalid_argument);
  KVCache odd(0, 256, 4);
  EXPECT_THROW(odd.update_and_fetch(zeros({1, 1, 1, 24}), zeros({1, 1, 1, 24})), std::invalid_argument);
}

TEST(LmKVCache, QuantizedAttentionOverTheCacheMatchesFloat64) {
  // Attention over the cache's quantized planes as stored (views into its buffers, read in
  // place); the reference dequantizes the same planes and computes attention in float64:
  // 2 sequences, 6 query heads over 2 key heads, head sizes 64 (keys) and 32 (values), a
  // window of 6, chunks of 1 to 5 queries with the causal window as mask.
  for (int bits : {8, 4}) {
    SCOPED_TRACE("bits " + std::to_string(bits));
    const int B = 2, Hq = 6, Hkv = 2, D = 64, Dv = 32, window = 6;
    KVCache cache(window, 4, bits);
    uint64_t seed = 70 + bits;
    for (int n : {5, 1, 1, 3, 1, 2}) {
      const int offset = cache.offset();
      array q = random::normal({B, Hq, n, D}, float32, 0.0, 1.0, random::key(seed++));
      array k = random::normal({B, Hkv, n, D}, float32, 0.0, 1.0, random::key(seed++));
      array v = random::normal({B, Hkv, n, Dv}, float32, 0.0, 1.0, random::key(seed++));
      std::array<array, 6> kv = cache.update_and_fetch_quantized(k, v);
      const int Tk = kv[0].shape(2), first = cache.start(), gs = cache.group_size();
      ASSERT_EQ(cache.offset(), offset + n);
      // Query i (position offset + i) sees key j (position first + j) inside the window.
      std::vector<char> seen(n * Tk);
      for (int i = 0; i < n; ++i) {
        for (int j = 0; j < Tk; ++j) seen[i * Tk + j] = first + j <= offset + i && offset + i - (first + j) < window;
      }
      std::optional<array> mask;
      if (n > 1) mask = array(reinterpret_cast<const bool*>(seen.data()), {n, Tk}, bool_);
      const float scale = 0.125f;
      std::vector<float> got = host(
          quantized_scaled_dot_product_attention(q, kv[0], kv[1], kv[2], kv[3], kv[4], kv[5], scale, mask, gs, bits));
      ASSERT_EQ(got.size(), static_cast<size_t>(B * Hq * n * Dv));
      auto restore = [&](int i) {  // float32 scales and biases, so nothing rounds to float16
        return host(dequantize(kv[i], astype(kv[i + 1], float32), astype(kv[i + 2], float32), gs, bits));
      };
      std::vector<float> qs = host(q), ks = restore(0), vs = restore(3);
      for (int b = 0; b < B; ++b) {
        for (int h = 0; h < Hq; ++h) {
          const int hk = b * Hkv + h / (Hq / Hkv);
          for (int i = 0; i < n; ++i) {
            std::vector<double> p(Tk, 0.0);
            double top = -1e300, z = 0;
            for (int j = 0; j < Tk; ++j) {
              if (!seen[i * Tk + j]) continue;
              double d = 0;
              for (int e = 0; e < D; ++e) d += double(qs[((b * Hq + h) * n + i) * D + e]) * ks[(hk * Tk + j) * D + e];
              p[j] = d * scale;
              top = std::max(top, p[j]);
            }
            for (int j = 0; j < Tk; ++j) z += p[j] = seen[i * Tk + j] ? std::exp(p[j] - top) : 0.0;
            for (int e = 0; e < Dv; ++e) {
              double want = 0;
              for (int j = 0; j < Tk; ++j) want += p[j] / z * vs[(hk * Tk + j) * Dv + e];
              ASSERT_NEAR(got[((b * Hq + h) * n + i) * Dv + e], want, 1e-4 * (1 + std::abs(want)))
                  << "sequence " << b << ", head " << h << ", query " << i << " of " << n << ", element " << e;
            }
          }
        }
      }
    }
  }
  KVCache plain;
  EXPECT_THROW(plain.update_and_fetch_quantized(zeros({1, 1, 1, 16}), zeros({1, 1, 1, 16})), std::invalid_argument);
}

TEST(LmModel, QuantizedKVCacheStaysCloseToTheFloatCache) {
  // The random Llama (head size 16: groups of 16) through prefill and a few decode steps with
  // the cache in float32, 8 bits and 4 bits: the logits move by a documented fraction of
  // the largest (measured 0.5% at 8 bits, 7% at 4 bits), and the 8-bit greedy continuation
  // stays that of the float cache.
  fs::path dir = fixtures() / "llama";
  SKIP_IF_MISSING("checkpoints.SKIP", dir);
  std::vector<int> prompt = read_json(dir / "expected.json")["prompt"];
  std::vector<int32_t> p32(prompt.begin(), prompt.end());
  Model m = load_model(dir.string());
  auto run = [&](int bits) {
    m.transformer->set_kv_bits(bits);
    std::vector<KVCache> cache = m.transformer->make_cache();
    std::vector<float> logits =
        host(m.transformer->forward(array(p32.data(), {1, static_cast<int>(p32.size())}, int32), cache));
    return std::pair{logits, greedy(*m.transformer, prompt, 12)};
  };
  auto [want, want_tokens] = run(0);
  for (auto [bits, tol] : {std::pair{8, 1e-2}, std::pair{4, 0.1}}) {
    auto [got, tokens] = run(bits);
    auto [err, scale] = max_error(got, want);
    std::printf("[ kv cache ] %d bits: logits within %.4f of the float cache's largest\n", bits, err / scale);
    EXPECT_LE(err / scale, tol) << bits << " bits";
    if (bits == 8) EXPECT_EQ(tokens, want_tokens);
  }
  m.transformer->set_kv_bits(0);
  EXPECT_THROW(m.transformer->set_kv_bits(2), std::invalid_argument);
}

TEST(LmSampling, GreedyFiltersAndFrequencies) {
  std::vector<float> logits = {1.0f, 3.0f, 2.0f, 0.5f, 2.9f};
  Sampler greedy_s({});
  EXPECT_EQ(greedy_s.sample(logits, {}, {}), 1);
  // top_k = 1 at any temperature is greedy.
  SamplingParams p;
  p.temperature = 5.0f;
  p.top_k = 1;
  Sampler k1(p);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(k1.sample(logits, {}, {}), 1);
  // Frequencies at temperature 1 follow softmax (20000 draws, 5 sigma).
  SamplingParams t1;
  t1.temperature = 1.0f;
  t1.seed = 7;
  Sampler s(t1);
  std::vector<int> counts(5);
  const int N = 20000;
  for (int i = 0; i < N; ++i) ++counts[s.sample(logits, {}, {})];
  double z = 0;
  for (float l : logits) z += std::exp(l);
  for (int i = 0; i < 5; ++i) {
    double pi = std::exp(logits[i]) / z;
    EXPECT_NEAR(counts[i] / double(N), pi, 5 * std::sqrt(pi * (1 - pi) / N)) << "token " << i;
  }
  // top_p keeps the smallest set reaching p; min_p keeps p >= min_p * p_max.
  SamplingParams tp = t1;
  tp.top_p = 0.5f;
  Sampler sp(tp);
  for (int i = 0; i < 200; ++i) {
    int t = sp.sample(logits, {}, {});
    EXPECT_TRUE(t == 1 || t == 4) << t;
  }
  SamplingParams mp = t1;
  mp.min_p = 0.3f;  // p(2)/p(1) = e^-1 = 0.37 stays, p(0)/p(1) = e^-2 goes
  Sampler sm(mp);
  for (int i = 0; i < 200; ++i) {
    int t = sm.sample(logits, {}, {});
    EXPECT_TRUE(t == 1 || t == 4 || t == 2) << t;
  }
  // The same seed gives the same sequence.
  Sampler a(t1), b(t1);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(a.sample(logits, {}, {}), b.sample(logits, {}, {}));
  // Penalties and bias: repetition divides token 1's positive logit by 3 (1.0), the bias
  // lifts token 0 past the rest, presence/frequency subtract from generated tokens.
  SamplingParams rp;
  rp.repetition_penalty = 3.0f;
  std::vector<int32_t> ctx = {1};
  EXPECT_EQ(Sampler(rp).sample(logits, ctx, {}), 4);
  SamplingParams lb;
  lb.logit_bias = {{0, 2.5f}};
  EXPECT_EQ(Sampler(lb).sample(logits, {}, {}), 0);
  SamplingParams pf;
  pf.presence_penalty = 0.1f;
  pf.frequency_penalty = 0.05f;
  std::vector<int32_t> gen = {1, 1};
  EXPECT_EQ(Sampler(pf).sample(logits, {}, gen), 4);  // 3.0 - 0.1 - 2 * 0.05 = 2.8 < 2.9
}

TEST(LmSampling, BadParametersAreRejected) {
  auto bad = [](auto set, const std::string& field) {
    SamplingParams p;
    set(p);
    try {
      p.validate(10);
      ADD_FAILURE() << "no error for " << field;
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
    }
  };
  bad([](SamplingParams& p) { p.temperature = -1; }, "temperature");
  bad([](SamplingParams& p) { p.top_p = 0; }, "top_p");
  bad([](SamplingParams& p) { p.min_p = 2; }, "min_p");
  bad([](SamplingParams& p) { p.top_k = -3; }, "top_k");
  bad([](SamplingParams& p) { p.repetition_penalty = 0; }, "repetition_penalty");
  bad([](SamplingParams& p) { p.logit_bias = {{10, 1.0f}}; }, "logit_bias");
}

TEST(LmModel, BadFilesNameTheFileAndField) {
  fs::path src = fixtures() / "llama";
  SKIP_IF_MISSING("checkpoints.SKIP", src);
  fs::path dir = fs::temp_directory_path() / ("ember_lm_bad_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::copy(src, dir);
  auto config = read_json(src / "config.json");
  auto expect_error = [&](const nlohmann::json& cfg, const std::string& part) {
    std::ofstream(dir / "config.json") << cfg.dump();
    try {
      load_model(dir.string());
      ADD_FAILURE() << "loaded a bad config; expected: " << part;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  auto with = [&](const char* key, nlohmann::json v) {
    auto c = config;
    c[key] = v;
    return c;
  };
  expect_error(with("model_type", "gpt_neox"), "field 'model_type' is \"gpt_neox\"");
  expect_error(with("num_key_value_heads", 3), "field 'num_key_value_heads' (3) must divide");
  expect_error(with("hidden_size", -64), "field 'hidden_size' is -64");
  expect_error(with("num_hidden_layers", "two"), "field 'num_hidden_layers' must be an integer");
  expect_error(with("intermediate_size", 95), "tensor 'model.layers.0.mlp.gate_proj.weight' has shape (96, 64)");
  expect_error(with("num_hidden_layers", 3), "tensor 'model.layers.2.input_layernorm.weight' is missing");
  auto c = config;
  c.erase("vocab_size");
  expect_error(c, "field 'vocab_size' is missing");
  std::ofstream(dir / "config.json") << "{not json";
  EXPECT_THROW(load_model(dir.string()), std::runtime_error);
  std::ofstream(dir / "config.json") << config.dump();
  fs::remove(dir / "tokenizer.json");
  expect_error(config, "tokenizer.json is missing");
  fs::remove(dir / "model.safetensors");
  expect_error(config, "no model.safetensors");
  fs::remove_all(dir);
  EXPECT_THROW(load_model((dir / "nothing.gguf").string()), std::runtime_error);
}
