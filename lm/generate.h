// Text generation: chunked prefill, then one token per forward pass with the KV cache, sampled
// on the host, streamed as whole UTF-8 pieces, stopped by EOS, stop strings or max_tokens.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lm/kv_cache.h"
#include "lm/model.h"
#include "lm/sampling.h"

namespace ember::lm {

struct GenerateOptions {
  int max_tokens = 256;
  SamplingParams sampling;
  std::vector<std::string> stop;  // generation ends before the first occurrence of any of these
  int prefill_step_size = 512;    // prompt positions per forward pass while prefilling
  int logprobs = -1;              // >= 0: each generated token's log-probability and this many top alternatives
};

/// A generated token's log-probability under the model (log-softmax of its logits, before
/// penalties, bias and temperature), and the most likely alternatives at that position.
struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top;  // most likely first
};

struct GenerationResult {
  std::string text;
  std::vector<int32_t> tokens;
  int prompt_tokens = 0;               // positions actually run (a reused prefix is not counted)
  int cached_tokens = 0;               // prompt positions taken from the prompt cache
  double prompt_seconds = 0;           // prefill through the first token
  double generation_seconds = 0;       // the tokens after the first
  size_t peak_memory = 0;              // bytes, from the allocator
  std::string finish_reason;           // "stop" (EOS or a stop string) or "length"
  std::vector<TokenLogprob> logprobs;  // per token of `tokens`, when options.logprobs >= 0
  double prompt_tps() const { return prompt_seconds > 0 ? prompt_tokens / prompt_seconds : 0; }
  double generation_tps() const {
    return generation_seconds > 0 && tokens.size() > 1 ? (tokens.size() - 1) / generation_seconds : 0;
  }
};

/// Rows a forward pass needs for the prefill kernels, whose rows come out the same whatever the
/// other rows are (the int8 matvec's four-row tiles, each a row's own arithmetic); passes of
/// fewer rows take the decode kernels, which round differently.
inline constexpr size_t kPrefillRows = 5;

/// The KV cache of a conversation and the ids it holds: a later prompt that extends its last
/// prompt (the next turn of a chat) runs only its new positions; the same prompt again runs
/// none; any other prompt reuses the exact positions it shares (below) and runs the rest.
struct PromptCache {
  std::vector<KVCache> layers;
  std::vector<int32_t> tokens;
  std::vector<float> prompt_logits;  // the last prompt position's logits (an exact repeat reuses them)
  size_t prompt_logits_at = 0;       // that prompt's length
  /// Leading positions computed as a prefill from scratch computes them (passes of
  /// kPrefillRows rows or more after exact positions only, within the first
  /// fast::kRowExactKeys positions, with a model whose exact_prefill() holds): another prompt
  /// that shares them gets the same bits from them as from its own prefill, so any
  /// conversation may reuse them (a system prompt, a chat template's start). Decoded positions
  /// are not exact.
  size_t exact = 0;
};

/// How many leading positions of `prompt` another conversation can take from `from` with the
/// answer unchanged: the exact positions they share, leaving kPrefillRows or more to run; 0
/// when `from` holds quantized or windowed caches or the prompt is longer than
/// fast::kRowExactKeys.
size_t exact_prefix(const PromptCache& from, std::span<const int32_t> prompt);

/// Makes `to` hold copies of `from`'s first n positions (n <= exact_prefix of some prompt), as
/// if it had prefilled them; what `to` held is dropped.
void copy_prefix(PromptCache& to, const PromptCache& from, size_t n);

class StopFilter;  // generate.cpp

/// One sequence being generated, advanced a token at a time by its owner: generate() alone, or
/// a server that batches several sequences' decode steps (forward_decode). prefill() runs the
/// prompt; then each step() samples a token from the current logits and emits its text,
/// returning the token to feed (whose logits the owner computes and hands to set_logits), or
/// nothing once finished (EOS, a stop string, max_tokens, or on_text returning false).
class Sequence {
 public:
  Sequence(const Model& model, std::span<const int32_t> prompt, const GenerateOptions& options,
           std::function<bool(std::string_view)> on_text = {}, PromptCache* cache = nullptr);
  ~Sequence();
  void prefill();
  /// prefill() in two halves, so an owner can run several sequences' prompts in one pass
  /// (prefill_together): reuses the cache, computes all but the last step of prefill_step_size
  /// positions, and returns the positions left (none: the logits are already known, nothing
  /// more to do). Their logits, the last position's, then go to end_prefill.
  std::vector<int32_t> begin_prefill();
  void end_prefill(std::vector<float> logits);
  std::optional<int32_t> step();
  /// The logits after feeding `fed` (the token step() returned) at the next position.
  void set_logits(std::vector<float> logits, int32_t fed);
  /// The per-layer KV caches this sequence appends to.
  std::vector<KVCache>& cache();
  bool done() const { return done_; }
  const GenerationResult& result() const { return r_; }

 private:
  void finish();
  // Whether the pass over positions [from, to) leaves the cache's positions exact through to:
  // it follows exact ones, has kPrefillRows rows or more, and attends row by row.
  bool exact_pass(size_t from, size_t to) const;
  const Model& model_;
  GenerateOptions opt_;
  std::function<bool(std::string_view)> on_text_;
  std::vector<int32_t> prompt_, context_;
  PromptCache local_;
  PromptCache* pc_;
  Sampler sampler_;
  StreamingDetokenizer detok_;
  std::unique_ptr<StopFilter> stops_;
  std::vector<float> logits_;
  size_t rest_at_ = 0;  // where the last prefill step starts
  bool exact_rows_;     // the model's exact_prefill(): the cache's exact positions grow
  GenerationResult r_;
  std::chrono::steady_clock::time_point t0_, t1_;
  bool done_ = false, stopped_ = false, hit_stop_ = false;
};

/// The next-token logits of several sequences at once, each at its own position with its own
/// caches: the linear layers run once over all rows, attention per sequence.
std::vector<std::vector<float>> forward_decode(const Model& model, const std::vector<int32_t>& tokens,
                                               const std::vector<std::vector<KVCache>*>& caches);

/// Prefills several sequences at once: each one's begin_prefill(), then the positions left of
/// those with more than four (whose products then take the same kernels alone and together,
/// so each gets the logits it would alone) in one forward pass, four sequences at most per
/// pass; the rest alone.
void prefill_together(const Model& model, const std::vector<Sequence*>& seqs);

/// Decode steps of a changing set of sequences (a server's running requests) through one batch
/// of KV caches (BatchKVCache), so rope and attention run once per layer for all of them. The
/// sequences' own caches are gathered into the batch when the set changes and handed back by
/// release(). One sequence alone, quantized caches and sliding windows take forward_decode.
class DecodeBatch {
 public:
  explicit DecodeBatch(const Model& model) : model_(model) {}
  /// Logits for tokens[i] appended to the sequence whose caches are caches[i] (distinct). When
  /// it throws, the batched sequences' caches are left as they were when they joined: their
  /// owners must drop them.
  std::vector<std::vector<float>> step(const std::vector<int32_t>& tokens,
                                       const std::vector<std::vector<KVCache>*>& caches);
  /// Hands `cache`'s positions back to it when it is in the batch (and drops it from the
  /// batch); call before its caches are read or changed elsewhere.
  void release(std::vector<KVCache>* cache);
  /// release() for every sequence in the batch.
  void release_all();

 private:
  // Whether these sequences' caches can be batched: no quantization, no window.
  bool batchable(const std::vector<std::vector<KVCache>*>& caches) const;
  const Model& model_;
  std::vector<std::vector<KVCache>*> rows_;  // the sequence of each row of layers_ (null: released)
  std::vector<BatchKVCache> layers_;
};

/// Generates from `prompt` ids. `on_text` receives each new piece of text as it becomes final
/// (return false to stop early). With `cache`, positions shared with cache->tokens are
/// reused, and the cache holds prompt and answer afterwards.
GenerationResult generate(const Model& model, std::span<const int32_t> prompt, const GenerateOptions& options,
                          const std::function<bool(std::string_view)>& on_text = {}, PromptCache* cache = nullptr);

}  // namespace ember::lm
