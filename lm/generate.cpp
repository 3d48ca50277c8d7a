#include "lm/generate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

#include "ember/allocator.h"
#include "ember/fast.h"
#include "ember/ops.h"
#include "ember/transforms.h"

namespace ember::lm {

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

namespace {

using Clock = std::chrono::steady_clock;

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

namespace {

// Caches whose positions can be lent: kept as computed, all of them from position 0.
bool lendable(const PromptCache& c) {
  return std::all_of(c.layers.begin(), c.layers.end(),
                     [](const KVCache& l) { return l.bits() == 0 && l.window() == 0 && l.start() == 0; });
}

}  // namespace

size_t exact_prefix(const PromptCache& from, std::span<const int32_t> prompt) {
  if (!lendable(from)) return 0;
  // A prompt of fewer rows than a prefill pass, or of more positions than the attention
  // computes row by row, is not prefilled exactly from scratch: nothing can match it.
  if (prompt.size() < kPrefillRows || prompt.size() > static_cast<size_t>(fast::kRowExactKeys)) return 0;
  const size_t most = std::min({from.exact, from.tokens.size(), prompt.size() - kPrefillRows});
  size_t n = 0;
  while (n < most && from.tokens[n] == prompt[n]) ++n;
  return n;
}

void copy_prefix(PromptCache& to, const PromptCache& from, size_t n) {
  if (n == 0 || n > from.exact || n > from.tokens.size() || !lendable(from)) {
    throw std::invalid_argument("[copy_prefix] " + std::to_string(n) + " positions asked of a cache with " +
                                std::to_string(from.exact) + " exact ones (none when quantized or windowed)");
  }
  std::vector<KVCache> layers;
  std::vector<array> planes;
  for (const KVCache& c : from.layers) {
    auto [k, v] = c.contents();  // positions [0, offset) (exact_prefix: no window)
    auto first = [&](const array& a) {
      return copy(slice(a, {0, 0, 0, 0}, {a.shape(0), a.shape(1), static_cast<int>(n), a.shape(3)}));
    };
    KVCache& l = layers.emplace_back(c.window(), 256, c.bits());
    l.assign(first(k), first(v), static_cast<int>(n));
    auto [lk, lv] = l.contents();
    planes.push_back(lk);
    planes.push_back(lv);
  }
  eval(planes);  // the copies no longer refer to `from`'s buffers
  PromptCache lent;
  lent.layers = std::move(layers);
  lent.tokens.assign(from.tokens.begin(), from.tokens.begin() + static_cast<std::ptrdiff_t>(n));
  lent.exact = n;
  to = std::move(lent);
}

Sequence::Sequence(const Model& model, std::span<const int32_t> prompt, const GenerateOptions& opt,
                   std::function<bool(std::string_view)> on_text, PromptCache* cache)
    : model_(model),
      opt_(opt),
      on_text_(std::move(on_text)),
      prompt_(prompt.begin(), prompt.end()),
      pc_(cache ? cache : &local_),
      sampler_(opt.sampling),
      detok_(*model.tokenizer, true),
      stops_(std::make_unique<StopFilter>(opt_.stop)),
      exact_rows_(model.transformer->exact_prefill()) {
  const Transformer& tf = *model.transformer;
  int vocab = tf.config().vocab_size;
  opt_.sampling.validate(vocab);
  if (opt_.max_tokens < 0) throw std::invalid_argument("[generate] max_tokens must be >= 0");
  if (opt_.prefill_step_size <= 0) throw std::invalid_argument("[generate] prefill_step_size must be > 0");
  if (prompt_.empty()) throw std::invalid_argument("[generate] the prompt has no tokens");
  for (int32_t id : prompt_) {
    if (id < 0 || id >= vocab) {
      throw std::invalid_argument("[generate] prompt token " + std::to_string(id) + " is outside the vocabulary [0, " +
                                  std::to_string(vocab) + ")");
    }
  }
  context_ = prompt_;
  r_.finish_reason = "length";
}

Sequence::~Sequence() = default;

bool Sequence::exact_pass(size_t from, size_t to) const {
  return exact_rows_ && pc_->exact == from && to - from >= kPrefillRows &&
         to <= static_cast<size_t>(fast::kRowExactKeys);
}

std::vector<int32_t> Sequence::begin_prefill() {
  const Transformer& tf = *model_.transformer;
  PromptCache& pc = *pc_;
  if (pc.layers.empty()) pc.layers = tf.make_cache();
  // Reuse the longest shared prefix when the prompt continues the cached conversation (holds
  // its last prompt whole), but always run at least one position for its logits; an exact
  // repeat of the cached prompt reuses its kept logits instead. Another prompt reuses only the
  // exact positions it shares (exact_prefix): how positions split between cached and computed
  // must not change the kernels that run, or an unrelated request's answer would depend on
  // what was asked before it.
  const std::vector<int32_t>& prompt = prompt_;
  const bool repeat = !pc.prompt_logits.empty() && pc.prompt_logits_at == prompt.size() &&
                      pc.tokens.size() >= prompt.size() && std::equal(prompt.begin(), prompt.end(), pc.tokens.begin());
  size_t shared = 0;
  if (repeat) {
    shared = prompt.size();
  } else {
    while (shared < pc.tokens.size() && shared + 1 < prompt.size() && pc.tokens[shared] == prompt[shared]) ++shared;
    // (A lent prefix, prompt_logits_at 0, continues nothing: only its exact positions count.)
    if (shared < pc.prompt_logits_at || pc.prompt_logits_at == 0) {
      shared = opt_.prefill_step_size >= static_cast<int>(kPrefillRows) ? exact_prefix(pc, prompt) : 0;
    }
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
  pc.exact = std::min(pc.exact, shared);
  if (shared < prompt.size()) pc.prompt_logits.clear();

  r_.cached_tokens = static_cast<int>(shared);
  r_.prompt_tokens = static_cast<int>(prompt.size() - shared);
  t0_ = Clock::now();
  if (shared == prompt.size()) {
    logits_ = pc.prompt_logits;
    t1_ = Clock::now();
    return {};
  }
  // Every step but the last now; the last one's positions go back to the caller. A last step
  // of fewer than kPrefillRows joins the one before, so that a prompt's positions are exact
  // however it splits into steps.
  size_t at = shared;
  const auto step = static_cast<size_t>(opt_.prefill_step_size);
  while (prompt.size() - at > step && prompt.size() - at - step >= kPrefillRows) {
    std::vector<int32_t> chunk(prompt.begin() + at, prompt.begin() + at + step);
    tf.forward(array(chunk.data(), {1, static_cast<int>(step)}, int32), pc.layers, true).eval();
    pc.tokens.insert(pc.tokens.end(), chunk.begin(), chunk.end());
    if (exact_pass(at, at + step)) pc.exact = at + step;
    at += step;
  }
  rest_at_ = at;
  return std::vector<int32_t>(prompt.begin() + at, prompt.end());
}

void Sequence::end_prefill(std::vector<float> logits) {
  PromptCache& pc = *pc_;
  logits_ = std::move(logits);
  pc.prompt_logits = logits_;
  pc.prompt_logits_at = prompt_.size();
  pc.tokens.assign(prompt_.begin(), prompt_.end());
  if (exact_pass(rest_at_, prompt_.size())) pc.exact = prompt_.size();
  t1_ = Clock::now();
}

void Sequence::prefill() {
  std::vector<int32_t> rest = begin_prefill();
  if (rest.empty()) return;
  array out =
      model_.transformer->forward(array(rest.data(), {1, static_cast<int>(rest.size())}, int32), pc_->layers, true);
  end_prefill(last_logits(out));
}

std::optional<int32_t> Sequence::step() {
  if (done_) return std::nullopt;
  if (r_.tokens.size() >= static_cast<size_t>(opt_.max_tokens) || stopped_) {
    finish();
    return std::nullopt;
  }
  int32_t tok = sampler_.sample(logits_, context_, r_.tokens);
  if (r_.tokens.empty()) {
    r_.prompt_seconds = std::chrono::duration<double>(Clock::now() - t0_).count();
    t1_ = Clock::now();
  }
  const auto& eos = model_.eos_token_ids;
  if (std::find(eos.begin(), eos.end(), tok) != eos.end()) {
    r_.finish_reason = "stop";
    finish();
    return std::nullopt;
  }
  r_.tokens.push_back(tok);
  if (opt_.logprobs >= 0) r_.logprobs.push_back(token_logprob(logits_, tok, opt_.logprobs));
  context_.push_back(tok);
  auto [text, hit] = stops_->push(detok_.add(tok));
  r_.text += text;
  if (!text.empty() && on_text_ && !on_text_(text)) stopped_ = true;
  if (hit) {
    r_.finish_reason = "stop";
    hit_stop_ = true;
    finish();
    return std::nullopt;
  }
  if (stopped_ || r_.tokens.size() == static_cast<size_t>(opt_.max_tokens)) {
    finish();
    return std::nullopt;
  }
  return tok;
}

void Sequence::set_logits(std::vector<float> logits, int32_t fed) {
  logits_ = std::move(logits);
  pc_->tokens.push_back(fed);
}

std::vector<KVCache>& Sequence::cache() { return pc_->layers; }

void Sequence::finish() {
  if (done_) return;
  done_ = true;
  if (!hit_stop_) {  // text still held back by the detokenizer or the stop filter
    auto [text, hit] = stops_->push(detok_.finish());
    std::string rest = hit ? text : text + stops_->flush();
    r_.text += rest;
    if (!rest.empty() && on_text_ && !stopped_) on_text_(rest);
  }
  if (!r_.tokens.empty()) r_.generation_seconds = std::chrono::duration<double>(Clock::now() - t1_).count();
  r_.peak_memory = get_peak_memory();
}

namespace {

// (n, 1, vocab) logits -> one host vector per row.
std::vector<std::vector<float>> host_rows(const array& out) {
  const int n = out.shape(0);
  array rows = astype(reshape(out, {n, out.shape(2)}), float32);
  rows.eval();
  const float* p = rows.data<float>();
  std::vector<std::vector<float>> result(n);
  for (int i = 0; i < n; ++i) result[i].assign(p + static_cast<size_t>(i) * rows.shape(1), p + (i + 1) * rows.shape(1));
  return result;
}

}  // namespace

std::vector<std::vector<float>> forward_decode(const Model& model, const std::vector<int32_t>& tokens,
                                               const std::vector<std::vector<KVCache>*>& caches) {
  const int n = static_cast<int>(tokens.size());
  return host_rows(n == 1 ? model.transformer->forward(array(tokens.data(), {1, 1}, int32), *caches[0], true)
                          : model.transformer->forward_decode(tokens, caches));
}

void prefill_together(const Model& model, const std::vector<Sequence*>& seqs) {
  std::vector<Sequence*> group;
  std::vector<std::vector<int32_t>> rests;
  auto flush = [&] {
    if (group.empty()) return;
    std::vector<std::vector<KVCache>*> caches;
    for (Sequence* q : group) caches.push_back(&q->cache());
    std::vector<std::vector<float>> logits = host_rows(model.transformer->forward_segments(rests, caches));
    for (size_t i = 0; i < group.size(); ++i) group[i]->end_prefill(std::move(logits[i]));
    group.clear();
    rests.clear();
  };
  for (Sequence* q : seqs) {
    std::vector<int32_t> rest = q->begin_prefill();
    if (rest.empty()) continue;
    if (rest.size() < kPrefillRows) {  // alone: a few rows take other kernels than many
      array out =
          model.transformer->forward(array(rest.data(), {1, static_cast<int>(rest.size())}, int32), q->cache(), true);
      q->end_prefill(last_logits(out));
      continue;
    }
    group.push_back(q);
    rests.push_back(std::move(rest));
    if (group.size() == 4) flush();
  }
  flush();
}

bool DecodeBatch::batchable(const std::vector<std::vector<KVCache>*>& caches) const {
  for (auto* c : caches) {
    for (const KVCache& l : *c) {
      if (l.bits() != 0 || l.window() != 0 || l.offset() == 0) return false;
    }
  }
  return true;
}

std::vector<std::vector<float>> DecodeBatch::step(const std::vector<int32_t>& tokens,
                                                  const std::vector<std::vector<KVCache>*>& caches) {
  if (caches.size() < 2 || !batchable(caches)) {
    release_all();
    return forward_decode(model_, tokens, caches);
  }
  if (caches != rows_) {
    // Rebuild the batch for the new set: rows that stay are copied from the old batch, rows
    // that left are handed back, new ones gathered from their own caches.
    for (auto* c : std::vector(rows_)) {
      if (c && std::find(caches.begin(), caches.end(), c) == caches.end()) release(c);
    }
    const size_t L = caches[0]->size();
    std::vector<BatchKVCache> layers;
    layers.reserve(L);
    for (size_t l = 0; l < L; ++l) {
      std::vector<std::pair<array, array>> rows;
      std::vector<int> offsets;
      for (auto* c : caches) {
        auto at = std::find(rows_.begin(), rows_.end(), c);
        if (at != rows_.end()) {
          const int b = static_cast<int>(at - rows_.begin());
          rows.push_back(layers_[l].row(b));
          offsets.push_back(layers_[l].offset(b));
        } else {
          rows.push_back((*c)[l].contents());
          offsets.push_back((*c)[l].offset());
        }
      }
      layers.emplace_back(rows, offsets);
    }
    layers_ = std::move(layers);
    rows_ = caches;
  }
  try {
    return host_rows(model_.transformer->forward_batch(tokens, layers_));
  } catch (...) {
    // Some layers may hold the new position and others not: nothing is handed back.
    rows_.clear();
    layers_.clear();
    throw;
  }
}

void DecodeBatch::release(std::vector<KVCache>* cache) {
  if (!cache) return;
  auto at = std::find(rows_.begin(), rows_.end(), cache);
  if (at == rows_.end()) return;
  const int b = static_cast<int>(at - rows_.begin());
  std::vector<array> written;
  for (size_t l = 0; l < layers_.size(); ++l) {
    auto [k, v] = layers_[l].row(b);
    (*cache)[l].assign(k, v, layers_[l].offset(b));
    auto [k2, v2] = (*cache)[l].contents();
    written.insert(written.end(), {k2, v2});
  }
  // Computed now, so the batch's planes are not shared with a pending copy when the next step
  // writes to them in place.
  eval(written);
  // A hole until the next step() regathers the batch without it.
  *at = nullptr;
  if (std::all_of(rows_.begin(), rows_.end(), [](auto* c) { return c == nullptr; })) {
    rows_.clear();
    layers_.clear();
  }
}

void DecodeBatch::release_all() {
  for (auto* c : std::vector(rows_)) {
    if (c) release(c);
  }
}

GenerationResult generate(const Model& model, std::span<const int32_t> prompt, const GenerateOptions& opt,
                          const std::function<bool(std::string_view)>& on_text, PromptCache* cache) {
  reset_peak_memory();
  Sequence seq(model, prompt, opt, on_text, cache);
  seq.prefill();
  while (auto tok = seq.step()) {
    int32_t t = *tok;
    seq.set_logits(std::move(forward_decode(model, {t}, {&seq.cache()})[0]), t);
  }
  return seq.result();
}

}  // namespace ember::lm
