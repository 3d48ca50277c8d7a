#include "lm/generate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

#include "ember/allocator.h"
#include "ember/ops.h"
#include "ember/transforms.h"

namespace ember::lm {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Holds back text that could still become a stop string; returns what may be emitted and
// whether a stop string was found (the text before it is emitted, the rest dropped).
class StopFilter {
 public:
  explicit StopFilter(const std::vector<std::string>& stop) : stop_(stop) {}
  std::pair<std::string, bool> push(std::string_view piece) {
    pending_ += piece;
    size_t cut = std::string::npos;
    for (const auto& s : stop_) {
      if (s.empty()) continue;
      size_t at = pending_.find(s);
      if (at != std::string::npos) cut = std::min(cut, at);
    }
    if (cut != std::string::npos) {
      std::string out = pending_.substr(0, cut);
      pending_.clear();
      return {out, true};
    }
    size_t hold = 0;  // longest suffix of pending that starts a stop string
    for (const auto& s : stop_) {
      for (size_t k = std::min(s.size() - (s.empty() ? 0 : 1), pending_.size()); k > hold; --k) {
        if (pending_.compare(pending_.size() - k, k, s, 0, k) == 0) {
          hold = k;
          break;
        }
      }
    }
    std::string out = pending_.substr(0, pending_.size() - hold);
    pending_.erase(0, pending_.size() - hold);
    return {out, false};
  }
  std::string flush() { return std::exchange(pending_, std::string()); }

 private:
  const std::vector<std::string>& stop_;
  std::string pending_;
};

// The last position's logits of a forward pass, on the host.
std::vector<float> last_logits(const array& logits) {
  array row =
      reshape(slice(logits, {0, logits.shape(1) - 1, 0}, {1, logits.shape(1), logits.shape(2)}), {logits.shape(2)});
  row = astype(row, float32);
  row.eval();
  const float* p = row.data<float>();
  return std::vector<float>(p, p + row.size());
}

// Log-probability of `token` and the `top` most likely tokens under logits (log-softmax).
TokenLogprob token_logprob(const std::vector<float>& logits, int32_t token, int top) {
  const float m = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float l : logits) sum += std::exp(static_cast<double>(l - m));
  const float lse = m + static_cast<float>(std::log(sum));
  TokenLogprob t;
  t.token = token;
  t.logprob = logits[token] - lse;
  const int k = std::min<int>(top, static_cast<int>(logits.size()));
  std::vector<int32_t> order(logits.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int32_t>(i);
  std::partial_sort(order.begin(), order.begin() + k, order.end(),
                    [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
  for (int i = 0; i < k; ++i) t.top.emplace_back(order[i], logits[order[i]] - lse);
  return t;
}

}  // namespace

GenerationResult generate(const Model& model, std::span<const int32_t> prompt, const GenerateOptions& opt,
                          const std::function<bool(std::string_view)>& on_text, PromptCache* cache) {
  const Transformer& tf = *model.transformer;
  int vocab = tf.config().vocab_size;
  opt.sampling.validate(vocab);
  if (opt.max_tokens < 0) throw std::invalid_argument("[generate] max_tokens must be >= 0");
  if (opt.prefill_step_size <= 0) throw std::invalid_argument("[generate] prefill_step_size must be > 0");
  if (prompt.empty()) throw std::invalid_argument("[generate] the prompt has no tokens");
  for (int32_t id : prompt) {
    if (id < 0 || id >= vocab) {
      throw std::invalid_argument("[generate] prompt token " + std::to_string(id) + " is outside the vocabulary [0, " +
                                  std::to_string(vocab) + ")");
    }
  }
  PromptCache local;
  PromptCache& pc = cache ? *cache : local;
  if (pc.layers.empty()) pc.layers = tf.make_cache();
  // Reuse the longest shared prefix when the prompt continues the cached conversation (holds
  // its last prompt whole), but always run at least one position for its logits; an exact
  // repeat of the cached prompt reuses its kept logits instead. Another conversation starts
  // over: how positions split between cached and computed changes the kernels that run (one
  // row, a few, a whole prefill), which round differently, and an unrelated request's answer
  // must not depend on what was asked before it.
  const bool repeat = !pc.prompt_logits.empty() && pc.prompt_logits_at == prompt.size() &&
                      pc.tokens.size() >= prompt.size() && std::equal(prompt.begin(), prompt.end(), pc.tokens.begin());
  size_t shared = 0;
  if (repeat) {
    shared = prompt.size();
  } else {
    while (shared < pc.tokens.size() && shared + 1 < prompt.size() && pc.tokens[shared] == prompt[shared]) ++shared;
    if (shared < pc.prompt_logits_at) shared = 0;
  }
  size_t drop = pc.tokens.size() - shared;
  bool trimmed = true;
  for (auto& c : pc.layers) {
    if (drop > static_cast<size_t>(c.offset() - c.start()) && drop > 0) trimmed = false;
  }
  if (trimmed) {
    for (auto& c : pc.layers)
      if (drop) c.trim(static_cast<int>(drop));
  } else {
    pc.layers = tf.make_cache();
    shared = 0;
  }
  pc.tokens.assign(prompt.begin(), prompt.begin() + shared);
  if (shared < prompt.size()) pc.prompt_logits.clear();

  GenerationResult r;
  r.cached_tokens = static_cast<int>(shared);
  r.prompt_tokens = static_cast<int>(prompt.size() - shared);
  reset_peak_memory();
  Sampler sampler(opt.sampling);
  StreamingDetokenizer detok(*model.tokenizer, true);
  StopFilter stops(opt.stop);
  std::vector<int32_t> context(prompt.begin(), prompt.end());

  auto t0 = Clock::now();
  std::vector<float> logits;
  if (shared == prompt.size()) logits = pc.prompt_logits;
  for (size_t at = shared; at < prompt.size();) {
    size_t n = std::min(prompt.size() - at, static_cast<size_t>(opt.prefill_step_size));
    std::vector<int32_t> chunk(prompt.begin() + at, prompt.begin() + at + n);
    array toks(chunk.data(), {1, static_cast<int>(n)}, int32);
    array out = tf.forward(toks, pc.layers, true);
    at += n;
    if (at == prompt.size()) {
      logits = last_logits(out);
      pc.prompt_logits = logits;
      pc.prompt_logits_at = prompt.size();
    } else {
      out.eval();
    }
  }
  pc.tokens.assign(prompt.begin(), prompt.end());
  r.finish_reason = "length";
  auto t1 = Clock::now();
  bool stopped = false, hit_stop = false;
  for (int i = 0; i < opt.max_tokens; ++i) {
    int32_t tok = sampler.sample(logits, context, r.tokens);
    if (i == 0) {
      r.prompt_seconds = seconds_since(t0);
      t1 = Clock::now();
    }
    if (std::find(model.eos_token_ids.begin(), model.eos_token_ids.end(), tok) != model.eos_token_ids.end()) {
      r.finish_reason = "stop";
      break;
    }
    r.tokens.push_back(tok);
    if (opt.logprobs >= 0) r.logprobs.push_back(token_logprob(logits, tok, opt.logprobs));
    context.push_back(tok);
    auto [text, hit] = stops.push(detok.add(tok));
    r.text += text;
    if (!text.empty() && on_text && !on_text(text)) stopped = true;
    if (hit) {
      r.finish_reason = "stop";
      hit_stop = true;
      break;
    }
    if (stopped || i + 1 == opt.max_tokens) break;
    array toks(&tok, {1, 1}, int32);
    logits = last_logits(tf.forward(toks, pc.layers, true));
    pc.tokens.push_back(tok);
  }
  if (!hit_stop) {  // text still held back by the detokenizer or the stop filter
    auto [text, hit] = stops.push(detok.finish());
    std::string rest = hit ? text : text + stops.flush();
    r.text += rest;
    if (!rest.empty() && on_text) on_text(rest);
  }
  if (!r.tokens.empty()) r.generation_seconds = seconds_since(t1);
  r.peak_memory = get_peak_memory();
  return r;
}

}  // namespace ember::lm
