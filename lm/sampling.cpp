#include "lm/sampling.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>
#include <unordered_map>

namespace ember::lm {

void SamplingParams::validate(int vocab_size) const {
  auto bad = [](const std::string& field, const std::string& what) {
    throw std::invalid_argument("[sampling] " + field + " " + what);
  };
  if (!(temperature >= 0 && std::isfinite(temperature)))
    bad("temperature", "must be >= 0, got " + std::to_string(temperature));
  if (top_k < 0) bad("top_k", "must be >= 0, got " + std::to_string(top_k));
  if (!(top_p > 0 && top_p <= 1)) bad("top_p", "must be in (0, 1], got " + std::to_string(top_p));
  if (!(min_p >= 0 && min_p <= 1)) bad("min_p", "must be in [0, 1], got " + std::to_string(min_p));
  if (!(repetition_penalty > 0 && std::isfinite(repetition_penalty))) {
    bad("repetition_penalty", "must be > 0, got " + std::to_string(repetition_penalty));
  }
  if (repetition_context < 0) bad("repetition_context", "must be >= 0");
  if (!std::isfinite(presence_penalty) || !std::isfinite(frequency_penalty)) bad("penalties", "must be finite");
  for (auto [id, b] : logit_bias) {
    if (id < 0 || id >= vocab_size) {
      bad("logit_bias", "names token " + std::to_string(id) + ", outside [0, " + std::to_string(vocab_size) + ")");
    }
    if (std::isnan(b)) bad("logit_bias", "has a NaN bias for token " + std::to_string(id));
  }
}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> context,
                        std::span<const int32_t> generated) {
  int64_t n = static_cast<int64_t>(logits.size());
  work_.assign(logits.begin(), logits.end());
  float* l = work_.data();
  for (auto [id, b] : p_.logit_bias)
    if (id < n) l[id] += b;
  if (p_.repetition_penalty != 1.0f && p_.repetition_context > 0) {
    // As Hugging Face and llama.cpp: positive logits divided, negative multiplied, once per token.
    size_t from =
        context.size() > static_cast<size_t>(p_.repetition_context) ? context.size() - p_.repetition_context : 0;
    std::vector<int32_t> seen(context.begin() + from, context.end());
    std::sort(seen.begin(), seen.end());
    seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
    for (int32_t id : seen) {
      if (id < 0 || id >= n) continue;
      l[id] = l[id] > 0 ? l[id] / p_.repetition_penalty : l[id] * p_.repetition_penalty;
    }
  }
  if (p_.presence_penalty != 0 || p_.frequency_penalty != 0) {
    std::unordered_map<int32_t, int> counts;
    for (int32_t id : generated) ++counts[id];
    for (auto [id, c] : counts)
      if (id >= 0 && id < n) l[id] -= p_.presence_penalty + p_.frequency_penalty * c;
  }
  if (p_.temperature == 0.0f) {
    probs_.clear();
    return static_cast<int32_t>(std::max_element(l, l + n) - l);
  }
  // Probabilities at the temperature, then the filters on the sorted candidates.
  float m = *std::max_element(l, l + n);
  probs_.resize(n);
  double total = 0;
  for (int64_t i = 0; i < n; ++i) total += (probs_[i] = std::exp((l[i] - m) / p_.temperature));
  for (auto& p : probs_) p = static_cast<float>(p / total);
  std::vector<int32_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  int64_t keep = n;
  if (p_.top_k > 0 && p_.top_k < n) keep = p_.top_k;
  std::partial_sort(order.begin(), order.begin() + keep, order.end(),
                    [&](int32_t a, int32_t b) { return probs_[a] > probs_[b] || (probs_[a] == probs_[b] && a < b); });
  if (p_.top_p < 1.0f) {
    double cum = 0;
    int64_t k = 0;
    while (k < keep) {
      cum += probs_[order[k++]];
      if (cum >= p_.top_p) break;
    }
    keep = std::max<int64_t>(k, 1);
  }
  if (p_.min_p > 0.0f) {
    float cut = p_.min_p * probs_[order[0]];
    int64_t k = 1;
    while (k < keep && probs_[order[k]] >= cut) ++k;
    keep = k;
  }
  double mass = 0;
  for (int64_t k = 0; k < keep; ++k) mass += probs_[order[k]];
  double u = std::uniform_real_distribution<double>(0.0, mass)(rng_);
  for (int64_t k = 0; k < keep; ++k) {
    u -= probs_[order[k]];
    if (u <= 0) return order[k];
  }
  return order[keep - 1];
}

}  // namespace ember::lm
