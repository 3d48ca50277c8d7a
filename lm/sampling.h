// Choosing the next token from logits: greedy, or temperature with top-k, top-p and min-p
// filters, after repetition/presence/frequency penalties and a logit bias. Runs on the host
// over one row of logits (the vocabulary is small next to a forward pass).
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <span>
#include <vector>

namespace ember::lm {

struct SamplingParams {
  float temperature = 0.0f;         // 0: greedy (argmax)
  int top_k = 0;                    // 0: off
  float top_p = 1.0f;               // 1: off
  float min_p = 0.0f;               // 0: off; keeps tokens with p >= min_p * p_max
  float repetition_penalty = 1.0f;  // > 1 discourages tokens in the last repetition_context ids
  int repetition_context = 64;
  float presence_penalty = 0.0f;   // subtracted once from every token already generated
  float frequency_penalty = 0.0f;  // subtracted per occurrence
  std::map<int32_t, float> logit_bias;
  uint64_t seed = 0;

  /// Throws std::invalid_argument naming the field for out-of-range values.
  void validate(int vocab_size) const;
};

class Sampler {
 public:
  explicit Sampler(SamplingParams params) : p_(std::move(params)), rng_(p_.seed) {}
  /// The next token for `logits` (vocab,) given the ids so far: `context` for the repetition
  /// penalty (prompt and generated), `generated` for presence/frequency penalties.
  int32_t sample(std::span<const float> logits, std::span<const int32_t> context, std::span<const int32_t> generated);
  /// Probability of every token after penalties and temperature (for logprobs).
  std::vector<float> last_probs() const { return probs_; }

 private:
  SamplingParams p_;
  std::mt19937_64 rng_;
  std::vector<float> work_, probs_;
};

}  // namespace ember::lm
