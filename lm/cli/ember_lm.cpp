// ember-lm: generate, chat and info for Llama / Mistral / Qwen / SmolLM2 checkpoints.
//
//   ember-lm generate --prompt "Why is the sky blue?"   (the default model when --model is omitted)
//   ember-lm chat --model ~/models/Qwen2.5-0.5B-Instruct
//   ember-lm info --model model.gguf
//   ember-lm serve --port 8080                          (an OpenAI-compatible HTTP server)
//
// Generated text goes to stdout as it is produced; progress and statistics go to stderr.
#include <signal.h>
#include <unistd.h>
#include <cerrno>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>
#include <string>
#include <thread>

#include "ember/allocator.h"
#include "ember/ops.h"
#include "ember/scheduler.h"
#include "lm/convert.h"
#include "lm/generate.h"
#include "lm/model.h"
#include "lm/server.h"

using namespace ember;
using namespace ember::lm;

namespace {

struct Common {
  std::string model;
  std::string dtype;
  bool dequantize = false;
  bool float_activations = false;
  int kv_bits = 0;
};

struct SamplingArgs {
  int max_tokens = 256;
  float temp = 0.0f, top_p = 1.0f, min_p = 0.0f, repetition_penalty = 1.0f;
  float presence_penalty = 0.0f, frequency_penalty = 0.0f;
  int top_k = 0, repetition_context = 64, prefill_step_size = 512;
  uint64_t seed = 0;
  std::vector<std::string> stop;
  std::vector<std::string> logit_bias;  // "ID=BIAS"
};

void add_sampling(CLI::App* app, SamplingArgs& s) {
  app->add_option("--max-tokens,-m", s.max_tokens, "Maximum tokens to generate")->capture_default_str();
  app->add_option("--temp", s.temp, "Sampling temperature (0: greedy)")->capture_default_str();
  app->add_option("--top-p", s.top_p, "Nucleus sampling: keep the smallest set with this much mass")
      ->capture_default_str();
  app->add_option("--top-k", s.top_k, "Keep the k most likely tokens (0: off)")->capture_default_str();
  app->add_option("--min-p", s.min_p, "Keep tokens with p >= min_p * p_max (0: off)")->capture_default_str();
  app->add_option("--repetition-penalty", s.repetition_penalty, "Penalty for tokens in the recent context (1: off)")
      ->capture_default_str();
  app->add_option("--repetition-context-size", s.repetition_context, "Ids the repetition penalty looks back over")
      ->capture_default_str();
  app->add_option("--presence-penalty", s.presence_penalty, "Subtracted from generated tokens' logits")
      ->capture_default_str();
  app->add_option("--frequency-penalty", s.frequency_penalty, "Subtracted per occurrence")->capture_default_str();
  app->add_option("--seed", s.seed, "Random seed (reproducible sampling)")->capture_default_str();
  app->add_option("--stop", s.stop, "Stop before this string (repeatable)");
  app->add_option("--logit-bias", s.logit_bias, "Add BIAS to token ID's logit, as ID=BIAS (repeatable)");
  app->add_option("--prefill-step-size", s.prefill_step_size, "Prompt tokens per forward pass while prefilling")
      ->capture_default_str();
}

void add_common(CLI::App* app, Common& c) {
  app->add_option("--model", c.model, "Hugging Face model folder or .gguf file (default: SmolLM2-135M-Instruct)");
  app->add_option("--dtype", c.dtype, "Convert weights to float32, float16 or bfloat16 at load");
  app->add_flag("--dequantize", c.dequantize, "GGUF: dequantize every tensor to float32 instead of running quantized");
  app->add_option("--kv-bits", c.kv_bits, "Keep the key/value cache quantized to 4 or 8 bits (0: as computed)")
      ->check(CLI::IsMember({0, 4, 8}));
  app->add_flag("--float-activations", c.float_activations,
                "Quantized matrices take x in float32 instead of rounded to int8 per block of 32 (llama.cpp's way)");
}

GenerateOptions generate_options(const SamplingArgs& s) {
  GenerateOptions o;
  o.max_tokens = s.max_tokens;
  o.stop = s.stop;
  o.prefill_step_size = s.prefill_step_size;
  o.sampling.temperature = s.temp;
  o.sampling.top_p = s.top_p;
  o.sampling.top_k = s.top_k;
  o.sampling.min_p = s.min_p;
  o.sampling.repetition_penalty = s.repetition_penalty;
  o.sampling.repetition_context = s.repetition_context;
  o.sampling.presence_penalty = s.presence_penalty;
  o.sampling.frequency_penalty = s.frequency_penalty;
  o.sampling.seed = s.seed;
  for (const auto& b : s.logit_bias) {
    size_t eq = b.find('=');
    try {
      if (eq == std::string::npos) throw std::invalid_argument(b);
      size_t used_id = 0, used_bias = 0;
      int id = std::stoi(b.substr(0, eq), &used_id);
      float bias = std::stof(b.substr(eq + 1), &used_bias);
      if (used_id != eq || used_bias != b.size() - eq - 1) throw std::invalid_argument(b);
      o.sampling.logit_bias[id] = bias;
    } catch (const std::exception&) {
      throw CLI::ValidationError("--logit-bias", "expects ID=BIAS (e.g. 42=-100), got \"" + b + "\"");
    }
  }
  return o;
}

Model load(const Common& c) {
  std::string path = c.model.empty() ? default_model_path() : c.model;
  LoadOptions opt;
  opt.dequantize = c.dequantize;
  opt.float_activations = c.float_activations;
  opt.kv_bits = c.kv_bits;
  if (!c.dtype.empty()) {
    if (c.dtype == "float32")
      opt.dtype = float32;
    else if (c.dtype == "float16")
      opt.dtype = float16;
    else if (c.dtype == "bfloat16")
      opt.dtype = bfloat16;
    else
      throw CLI::ValidationError("--dtype", "must be float32, float16 or bfloat16, got " + c.dtype);
  }
  bool tty = isatty(STDERR_FILENO);
  opt.progress = [tty, path](int done, int total) {
    if (!tty && done != total) return;
    int width = 30, filled = total ? done * width / total : width;
    std::fprintf(stderr, "\rLoading %s [%s%s] %d/%d", path.c_str(), std::string(filled, '#').c_str(),
                 std::string(width - filled, ' ').c_str(), done, total);
    if (done == total) std::fprintf(stderr, "\n");
  };
  return load_model(path, opt);
}

void print_stats(const GenerationResult& r) {
  std::fprintf(stderr, "\n==========\n");
  std::fprintf(stderr, "Prompt: %d tokens, %.3f tokens-per-sec\n", r.prompt_tokens, r.prompt_tps());
  std::fprintf(stderr, "Generation: %zu tokens, %.3f tokens-per-sec\n", r.tokens.size(), r.generation_tps());
  std::fprintf(stderr, "Peak memory: %.3f GB\n", r.peak_memory / 1e9);
}

nlohmann::json messages_for(const std::string& system, const std::string& prompt) {
  nlohmann::json m = nlohmann::json::array();
  if (!system.empty()) m.push_back({{"role", "system"}, {"content", system}});
  m.push_back({{"role", "user"}, {"content", prompt}});
  return m;
}

int run_generate(const Common& c, const SamplingArgs& s, const std::string& prompt, const std::string& system,
                 bool ignore_template) {
  Model model = load(c);
  bool templated = !ignore_template && model.chat_template.has_value();
  std::string text = templated ? model.apply_chat_template(messages_for(system, prompt)) : prompt;
  std::vector<int32_t> ids = model.encode_prompt(text, templated);
  GenerationResult r = generate(model, ids, generate_options(s), [](std::string_view piece) {
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
    return true;
  });
  std::fputc('\n', stdout);
  std::fflush(stdout);
  print_stats(r);
  return 0;
}

int run_chat(const Common& c, const SamplingArgs& s, const std::string& system) {
  Model model = load(c);
  if (!model.chat_template) {
    std::fprintf(stderr, "[chat] %s has no chat template\n", model.path.c_str());
    return 1;
  }
  nlohmann::json history = nlohmann::json::array();
  if (!system.empty()) history.push_back({{"role", "system"}, {"content", system}});
  nlohmann::json start = history;
  PromptCache cache;
  std::fprintf(stderr, "[chat] type a message; /reset clears the conversation, /quit exits\n");
  std::string line;
  while (true) {
    std::fprintf(stderr, ">> ");
    std::fflush(stderr);
    if (!std::getline(std::cin, line)) break;
    if (line == "/quit" || line == "/exit") break;
    if (line == "/reset") {
      history = start;
      cache = PromptCache{};
      std::fprintf(stderr, "[chat] conversation cleared\n");
      continue;
    }
    if (line.empty()) continue;
    history.push_back({{"role", "user"}, {"content", line}});
    std::vector<int32_t> ids = model.encode_prompt(model.apply_chat_template(history), true);
    GenerationResult r = generate(
        model, ids, generate_options(s),
        [](std::string_view piece) {
          std::fwrite(piece.data(), 1, piece.size(), stdout);
          std::fflush(stdout);
          return true;
        },
        &cache);
    std::fputc('\n', stdout);
    std::fflush(stdout);
    history.push_back({{"role", "assistant"}, {"content", r.text}});
    std::fprintf(stderr, "[%d new prompt tokens (%d cached), %zu generated, %.1f tokens/s]\n", r.prompt_tokens,
                 r.cached_tokens, r.tokens.size(), r.generation_tps());
  }
  return 0;
}

// Ctrl-C / SIGTERM end `serve` cleanly: the handler only writes a byte to a pipe (what a signal
// handler may do, on whichever thread the signal lands), and a thread reading it stops the server.
int g_stop_pipe[2] = {-1, -1};
void on_stop_signal(int) {
  const char b = 1;
  [[maybe_unused]] ssize_t n = write(g_stop_pipe[1], &b, 1);
}

int run_serve(const Common& c, const ServerOptions& opt) {
  if (pipe(g_stop_pipe) != 0) throw std::runtime_error("[serve] cannot create the signal pipe");
  std::thread([] {
    char b;
    while (read(g_stop_pipe[0], &b, 1) < 0 && errno == EINTR) {
    }
    stop_server();
  }).detach();
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  Model model = load(c);
  serve(model, opt, [&](int port) {
    std::fprintf(stderr, "[serve] %s on http://%s:%d (OpenAI API at /v1, chat page at /)\n", model.path.c_str(),
                 opt.host.c_str(), port);
  });
  return 0;
}

int run_info(const Common& c) {
  Model m = load(c);
  const ModelConfig& cf = m.config;
  std::printf("path:               %s\n", m.path.c_str());
  std::printf("format:             %s\n", m.format.c_str());
  std::printf("architecture:       %s\n", cf.architecture.c_str());
  std::printf("parameters:         %.1fM\n", cf.parameter_count() / 1e6);
  std::printf("weights:            %s\n", m.weight_types.c_str());
  std::printf("layers:             %d\n", cf.num_layers);
  std::printf("hidden size:        %d (intermediate %d)\n", cf.hidden_size, cf.intermediate_size);
  std::printf("attention heads:    %d (key/value heads %d, head dim %d)\n", cf.num_heads, cf.num_kv_heads, cf.head_dim);
  std::printf("vocabulary:         %d\n", cf.vocab_size);
  std::printf("context length:     %d\n", cf.max_position_embeddings);
  std::printf("rope:               base %g%s%s\n", cf.rope_theta, cf.rope_scaling ? ", scaling " : "",
              cf.rope_scaling ? cf.rope_scaling->type.c_str() : "");
  if (cf.sliding_window) std::printf("sliding window:     %d\n", cf.sliding_window);
  std::printf("tied embeddings:    %s\n", cf.tie_word_embeddings ? "yes" : "no");
  std::printf("chat template:      %s\n", m.chat_template ? "yes" : "no");
  size_t bytes = 0;  // what the weights occupy, memory-mapped or not
  for (const array& p : m.transformer->parameters()) bytes += p.nbytes();
  std::printf("weights in memory:  %.1f MB (%d matrices quantized)\n", bytes / 1e6, m.transformer->quantized_count());
  return 0;
}

// llama-bench's pp/tg: a prompt of n_prompt random ids processed in one prefill, then n_gen
// tokens generated one at a time from an empty cache, or after `depth` positions of context
// (llama-bench's -d); the median of `runs` after a warm-up.
int run_bench(const Common& c, int n_prompt, int n_gen, int depth, int batch, int runs, bool json) {
  Model m = load(c);
  const Transformer& tf = *m.transformer;
  std::mt19937 rng(0);
  std::uniform_int_distribution<int32_t> pick(0, m.config.vocab_size - 1);
  std::vector<int32_t> prompt(n_prompt);
  for (auto& t : prompt) t = pick(rng);
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  using Clock = std::chrono::steady_clock;
  std::vector<double> pp, tg;
  for (int r = 0; r <= runs; ++r) {  // run 0 warms up
    if (n_prompt > 0) {
      std::vector<KVCache> cache = tf.make_cache();
      auto t0 = Clock::now();
      array out = tf.forward(array(prompt.data(), {1, n_prompt}, int32), cache, true);
      out.eval();
      double s = std::chrono::duration<double>(Clock::now() - t0).count();
      if (r) pp.push_back(n_prompt / s);
    }
    if (n_gen > 0 && batch == 1) {
      std::vector<KVCache> cache = tf.make_cache();
      if (depth > 0) {
        std::vector<int32_t> context(depth);
        for (auto& t : context) t = pick(rng);
        tf.forward(array(context.data(), {1, depth}, int32), cache, true).eval();
      }
      int32_t tok = prompt.empty() ? 0 : prompt[0];
      auto t0 = Clock::now();
      for (int i = 0; i < n_gen; ++i) {
        array logits = tf.forward(array(&tok, {1, 1}, int32), cache, true);
        array next = argmax(reshape(logits, {-1}));
        next.eval();
        tok = static_cast<int32_t>(next.item<uint32_t>());
      }
      double s = std::chrono::duration<double>(Clock::now() - t0).count();
      if (r) tg.push_back(n_gen / s);
    } else if (n_gen > 0) {
      // `batch` sequences, each after its own prompt of n_prompt random tokens (at least one,
      // prefilled alone), stepped together as the server does.
      std::vector<std::vector<KVCache>> caches(batch);
      std::vector<std::vector<KVCache>*> ptrs;
      std::vector<int32_t> toks(batch);
      for (int b = 0; b < batch; ++b) {
        caches[b] = tf.make_cache();
        ptrs.push_back(&caches[b]);
        std::vector<int32_t> first(std::max(1, n_prompt));
        for (auto& t : first) t = pick(rng);
        array logits = tf.forward(array(first.data(), {1, (int)first.size()}, int32), caches[b], true);
        array next = argmax(reshape(logits, {-1}));
        next.eval();
        toks[b] = static_cast<int32_t>(next.item<uint32_t>());
      }
      DecodeBatch decode(m);
      auto t0 = Clock::now();
      for (int i = 0; i < n_gen; ++i) {
        std::vector<std::vector<float>> logits = decode.step(toks, ptrs);
        for (int b = 0; b < batch; ++b) {
          toks[b] = static_cast<int32_t>(std::max_element(logits[b].begin(), logits[b].end()) - logits[b].begin());
        }
      }
      double s = std::chrono::duration<double>(Clock::now() - t0).count();
      if (r) tg.push_back(double(n_gen) * batch / s);
    }
  }
  double pp_tps = pp.empty() ? 0 : median(pp), tg_tps = tg.empty() ? 0 : median(tg);
  if (json) {
    nlohmann::json j = {{"model", m.path},      {"threads", ember::scheduler::num_threads()},
                        {"n_prompt", n_prompt}, {"n_gen", n_gen},
                        {"n_depth", depth},     {"batch", batch},
                        {"runs", runs},         {"pp_tps", pp_tps},
                        {"tg_tps", tg_tps}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("| model | test | tokens/s (median of %d) |\n|---|---|---|\n", runs);
    if (n_prompt) std::printf("| %s | pp%d | %.2f |\n", m.path.c_str(), n_prompt, pp_tps);
    if (n_gen && batch == 1 && depth == 0) std::printf("| %s | tg%d | %.2f |\n", m.path.c_str(), n_gen, tg_tps);
    if (n_gen && batch == 1 && depth > 0) {
      std::printf("| %s | tg%d @ d%d | %.2f |\n", m.path.c_str(), n_gen, depth, tg_tps);
    }
    if (n_gen && batch > 1) std::printf("| %s | tg%d x%d | %.2f |\n", m.path.c_str(), n_gen, batch, tg_tps);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ember-lm: run Llama, Mistral, Qwen and SmolLM2 models with Ember"};
  app.require_subcommand(1);
  Common common;
  SamplingArgs sampling;
  std::string prompt, system;
  bool ignore_template = false;

  CLI::App* gen = app.add_subcommand("generate", "Generate a continuation of a prompt");
  add_common(gen, common);
  add_sampling(gen, sampling);
  gen->add_option("--prompt,-p", prompt, "The prompt")->required();
  gen->add_option("--system", system, "System message (chat template only)");
  gen->add_flag("--ignore-chat-template", ignore_template,
                "Tokenize the prompt as given (with the model's BOS rule) instead of templating it");

  CLI::App* chat = app.add_subcommand("chat", "Interactive chat with streaming answers");
  add_common(chat, common);
  add_sampling(chat, sampling);
  chat->add_option("--system", system, "System message");

  CLI::App* info = app.add_subcommand("info", "Print the model's architecture, size and tokenizer");
  add_common(info, common);

  CLI::App* bench =
      app.add_subcommand("bench", "Prompt processing (pp) and generation (tg) tokens/s, llama-bench style");
  add_common(bench, common);
  int n_prompt = 512, n_gen = 128, depth = 0, batch = 1, runs = 5;
  bool json = false;
  bench->add_option("--n-prompt,-p", n_prompt, "Prompt tokens processed in one prefill")->capture_default_str();
  bench->add_option("--n-gen,-n", n_gen, "Tokens generated one at a time")->capture_default_str();
  bench
      ->add_option("--n-depth,-d", depth,
                   "Positions of context (random ids, prefilled untimed) before the generated tokens; with "
                   "--batch, each sequence's context is its --n-prompt prompt")
      ->capture_default_str();
  bench
      ->add_option("--batch,-b", batch,
                   "Sequences generated together, each after its own prompt of --n-prompt tokens (tg reports "
                   "their total tokens/s)")
      ->capture_default_str();
  bench->add_option("--runs,-r", runs, "Timed runs (the median is reported)")->capture_default_str();
  bench->add_flag("--json", json, "Print one JSON line instead of a table");

  CLI::App* srv = app.add_subcommand("serve", "OpenAI-compatible HTTP server (/v1/chat/completions, ...)");
  add_common(srv, common);
  ServerOptions srv_opt;
  srv->add_option("--host", srv_opt.host, "Address to listen on")->capture_default_str();
  srv->add_option("--port", srv_opt.port, "Port (0: any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  srv->add_option("--api-key", srv_opt.api_key, "Require \"Authorization: Bearer KEY\" on API requests");
  srv->add_option("--max-body-bytes", srv_opt.max_body_bytes, "Larger request bodies get 413")->capture_default_str();
  srv->add_option("--max-tokens", srv_opt.default_max_tokens, "Tokens generated when a request sets no limit")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  srv->add_option("--threads", srv_opt.threads, "Connections served at once")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  srv->add_option("--cache-slots", srv_opt.cache_slots, "Conversations whose KV caches are kept for their next turn")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  srv->add_option("--max-batch", srv_opt.max_batch, "Requests whose decode steps run together")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  srv->add_option("--model-id", srv_opt.model_id, "Model name listed by /v1/models (default: the file or folder name)");

  CLI::App* conv = app.add_subcommand("convert", "Write a Hugging Face model folder quantized (or cast)");
  std::string conv_out, conv_dtype;
  ConvertOptions conv_opt;
  conv->add_option("--model", common.model, "Hugging Face model folder to convert")->required();
  conv->add_option("--out", conv_out, "Output folder")->required();
  conv->add_flag("-q,--quantize", conv_opt.quantize, "Quantize the matrices");
  conv->add_option("--q-bits", conv_opt.bits, "Bits per weight (2, 3, 4, 5, 6, 8)")->capture_default_str();
  conv->add_option("--q-group-size", conv_opt.group_size, "Weights per scale and bias (32, 64, 128)")
      ->capture_default_str();
  conv->add_option("--dtype", conv_dtype, "Cast floating-point tensors to float32, float16 or bfloat16 first");

  CLI11_PARSE(app, argc, argv);
  try {
    if (gen->parsed()) return run_generate(common, sampling, prompt, system, ignore_template);
    if (chat->parsed()) return run_chat(common, sampling, system);
    if (info->parsed()) return run_info(common);
    if (srv->parsed()) return run_serve(common, srv_opt);
    if (conv->parsed()) {
      if (!conv_dtype.empty()) {
        if (conv_dtype == "float32")
          conv_opt.dtype = float32;
        else if (conv_dtype == "float16")
          conv_opt.dtype = float16;
        else if (conv_dtype == "bfloat16")
          conv_opt.dtype = bfloat16;
        else
          throw CLI::ValidationError("--dtype", "must be float32, float16 or bfloat16, got " + conv_dtype);
      }
      int n = convert_model(common.model, conv_out, conv_opt);
      std::fprintf(stderr, "[convert] wrote %s (%d matrices quantized)\n", conv_out.c_str(), n);
      return 0;
    }
    if (bench->parsed()) {
      if (n_prompt < 0 || n_gen < 0 || depth < 0 || runs < 1)
        throw std::invalid_argument("[bench] sizes must be >= 0 and runs >= 1");
      if (batch < 1 || batch > 256)
        throw std::invalid_argument("[bench] --batch must be in [1, 256], got " + std::to_string(batch));
      return run_bench(common, n_prompt, n_gen, depth, batch, runs, json);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ember-lm: %s\n", e.what());
    return 1;
  }
  return 0;
}
