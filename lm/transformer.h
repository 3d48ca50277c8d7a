// The decoder-only transformer shared by Llama, Mistral, Qwen2 and Qwen3: token embedding,
// pre-norm blocks of grouped-query attention (optional q/k/v biases, q/k RMSNorm, sliding
// window) and a SwiGLU MLP, a final RMSNorm and the (possibly tied) output projection.
#pragma once

#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "ember/array.h"
#include "lm/config.h"
#include "lm/gguf_repack.h"
#include "lm/kv_cache.h"

namespace ember::lm {

/// y = x @ weight^T + bias; weight: (out, in), or quantized (then `weight` is unused).
struct Linear {
  array weight{0.0f};
  std::optional<QuantizedWeight> quantized;
  std::optional<array> bias;
  array operator()(const array& x) const;
};

/// Rows of several Linears stacked into one (all quantized alike, or all dense of one dtype;
/// biases on all or none), or nothing when their forms differ.
std::optional<Linear> stack_linears(const std::vector<const Linear*>& parts);

struct Attention {
  Linear q, k, v, o;
  // q, k and v stacked into one matrix when their forms allow (then q, k, v are empty): one
  // product per token instead of three, which matters when decode is bound by per-call costs.
  std::optional<Linear> qkv;
  std::optional<array> q_norm, k_norm;  // (head_dim,), Qwen3
};

struct Mlp {
  Linear gate, up, down;
  std::optional<Linear> gate_up;  // gate and up stacked, likewise
};

struct Block {
  array attn_norm{0.0f}, mlp_norm{0.0f};
  Attention attn;
  Mlp mlp;
};

class Transformer {
 public:
  /// Takes weights under Hugging Face's names (model.layers.N.self_attn.q_proj.weight, ...);
  /// checks each one's presence and shape against the config. `source` names the files in
  /// errors. `rope_freqs` (head_dim / 2) replaces the base-derived frequencies when given.
  /// Matrices in `quantized` (same names) run through quantized_matmul instead.
  Transformer(ModelConfig config, std::unordered_map<std::string, array> weights, const std::string& source,
              std::optional<array> rope_freqs = std::nullopt,
              std::unordered_map<std::string, QuantizedWeight> quantized = {});

  /// Logits (B, T, vocab) in float32 for tokens (B, T) int32 at the cache's positions;
  /// appends the keys and values to `cache` (one per layer). With last_only, only the last
  /// position's logits (B, 1, vocab) are computed.
  array forward(const array& tokens, std::vector<KVCache>& cache, bool last_only = false) const;
  /// Logits (n, 1, vocab) in float32 for one token of each of n sequences, each at its own
  /// caches' position (caches[i]: sequence i's per-layer caches, appended to): the linear layers
  /// run once over the n rows, rope and attention per sequence.
  array forward_decode(const std::vector<int32_t>& tokens, const std::vector<std::vector<KVCache>*>& caches) const;
  /// Logits (n, 1, vocab) in float32 of the last position of each of n segments of tokens,
  /// segment i appended to caches[i] (a prefill of several sequences): the linear layers run
  /// once over all the positions, rope and attention per segment.
  array forward_segments(const std::vector<std::vector<int32_t>>& segments,
                         const std::vector<std::vector<KVCache>*>& caches) const;
  /// Logits (B, 1, vocab) in float32 for one token of each row of a batch of caches (one per
  /// layer; every row at its own position): as forward_decode, with rope and attention also
  /// run once for the batch. Each row's logits equal its sequence's run alone on the CPU.
  array forward_batch(const std::vector<int32_t>& tokens, std::vector<BatchKVCache>& caches) const;
  /// One empty cache per layer (with the model's sliding window).
  std::vector<KVCache> make_cache() const;
  /// Bits of the caches make_cache returns: 0 (as the keys come), 4 or 8 (KVCache).
  void set_kv_bits(int bits);
  int kv_bits() const { return kv_bits_; }
  const ModelConfig& config() const { return config_; }
  /// Every weight array (for memory accounting and evaluation at load).
  std::vector<array> parameters() const;
  /// Number of matrices held quantized.
  int quantized_count() const;
  /// Whether a prefill pass of five rows or more computes each row alone, bit for bit the same
  /// whatever the other rows are: on the CPU, float32 activations (whose causal attention takes
  /// each row over its own keys) and every matrix of the blocks quantized and multiplied through
  /// the integer kernels for int8 activations, which take rows four at a time in tiles that keep
  /// each row's arithmetic. Dense matrices (sgemm), the float-x kernels and the GPU's round
  /// differently with the number of rows.
  bool exact_prefill() const;

 private:
  int kv_bits_ = 0;
  array attention(const Block& b, const array& x, KVCache& cache) const;
  array attention(const Block& b, const array& x, const std::vector<KVCache*>& caches) const;
  array attention(const Block& b, const array& x, BatchKVCache& cache, const array& offsets, const array& mask) const;
  // Attention of q, k, v (B, heads, T, head_dim) with rope at the cache's position, appending
  // k and v to the cache: (B, heads, T, head_dim).
  array attend(array q, array k, const array& v, KVCache& cache) const;
  // Boolean (T, Tk): which of the keys at positions [first, first + Tk) the queries at
  // positions [offset, offset + T) see (causal, and within the sliding window if any).
  array visible(int offset, int T, int first, int Tk) const;
  // q, k, v of x (B, T, hidden) as (B, heads, T, head_dim), after the q/k norms.
  std::tuple<array, array, array> project_qkv(const Block& b, const array& x) const;
  array mlp(const Block& b, const array& x) const;
  array embed(const array& tokens) const;
  ModelConfig config_;
  Linear embed_;  // (vocab, hidden): rows looked up, and the output projection when tied
  std::optional<Linear> lm_head_;
  array norm_{0.0f};
  std::vector<Block> blocks_;
  std::optional<array> rope_freqs_;
  std::optional<float> rope_base_;
  float rope_scale_ = 1.0f;
};

/// Frequencies of Llama 3's RoPE scaling for head_dim and base (what rope's freqs take).
array llama3_rope_freqs(const RopeScaling& s, int head_dim, float base);

}  // namespace ember::lm
