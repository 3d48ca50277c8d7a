// Text generation: chunked prefill, then one token per forward pass with the KV cache, sampled
// on the host, streamed as whole UTF-8 pieces, stopped by EOS, stop strings or max_tokens.
#pragma once

#include <cstdint>
#include <functional>
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

/// The KV cache of a conversation and the ids it holds: a later prompt that extends its last
/// prompt (the next turn of a chat) runs only its new positions; the same prompt again runs
/// none; any other prompt starts over.
struct PromptCache {
  std::vector<KVCache> layers;
  std::vector<int32_t> tokens;
  std::vector<float> prompt_logits;  // the last prompt position's logits (an exact repeat reuses them)
  size_t prompt_logits_at = 0;       // that prompt's length
};

/// Generates from `prompt` ids. `on_text` receives each new piece of text as it becomes final
/// (return false to stop early). With `cache`, positions shared with cache->tokens are
/// reused, and the cache holds prompt and answer afterwards.
GenerationResult generate(const Model& model, std::span<const int32_t> prompt, const GenerateOptions& options,
                          const std::function<bool(std::string_view)>& on_text = {}, PromptCache* cache = nullptr);

}  // namespace ember::lm
