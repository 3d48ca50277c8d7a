#include "lm/transformer.h"

#include <cmath>
#include <stdexcept>

#include "ember/fast.h"
#include "ember/indexing.h"
#include "ember/ops.h"
#include "ember/quantized.h"
#include "ember/transforms.h"
#include "ember/utils.h"

namespace ember::lm {

std::optional<Linear> stack_linears(const std::vector<const Linear*>& parts) {
  const Linear& first = *parts[0];
  std::vector<array> w, sc, bi, bias;
  for (const Linear* l : parts) {
    if (l->quantized.has_value() != first.quantized.has_value() || l->bias.has_value() != first.bias.has_value()) {
      return std::nullopt;
    }
    if (l->quantized) {
      const QuantizedWeight &a = *l->quantized, &b = *first.quantized;
      if (a.bits != b.bits || a.group_size != b.group_size || a.scales.dtype() != b.scales.dtype() ||
          a.wq.shape(-1) != b.wq.shape(-1) || a.int8_activations != b.int8_activations ||
          a.biases.has_value() != b.biases.has_value() || (a.biases && a.biases->dtype() != b.biases->dtype())) {
        return std::nullopt;
      }
      w.push_back(a.wq), sc.push_back(a.scales);
      if (a.biases) bi.push_back(*a.biases);
    } else {
      if (l->weight.dtype() != first.weight.dtype() || l->weight.shape(-1) != first.weight.shape(-1)) {
        return std::nullopt;
      }
      w.push_back(l->weight);
    }
    if (l->bias) bias.push_back(*l->bias);
  }
  Linear out;
  if (first.quantized) {
    QuantizedWeight q;
    q.wq = concatenate(w, 0);
    q.scales = concatenate(sc, 0);
    if (!bi.empty()) q.biases = concatenate(bi, 0);
    q.group_size = first.quantized->group_size;
    q.bits = first.quantized->bits;
    q.int8_activations = first.quantized->int8_activations;
    eval(q.wq, q.scales);
    if (q.biases) q.biases->eval();
    out.quantized = std::move(q);
  } else {
    out.weight = concatenate(w, 0);
    out.weight.eval();
  }
  if (!bias.empty()) {
    out.bias = concatenate(bias, 0);
    out.bias->eval();
  }
  return out;
}

array Linear::operator()(const array& x) const {
  if (!quantized) return bias ? add(matmul(x, transpose(weight)), *bias) : matmul(x, transpose(weight));
  const QuantizedWeight& q = *quantized;
  array y = (q.int8_activations ? quantized_matmul_int8_activations : quantized_matmul)(x, q.wq, q.scales, q.biases,
                                                                                        true, q.group_size, q.bits, {});
  return bias ? add(y, *bias) : y;
}

namespace {

// Takes `name` out of the weight map after checking its shape.
array take_weight(std::unordered_map<std::string, array>& w, const std::string& name, const Shape& shape,
                  const std::string& source) {
  auto it = w.find(name);
  if (it == w.end()) throw std::runtime_error("[load] " + source + ": tensor '" + name + "' is missing");
  if (it->second.shape() != shape) {
    throw std::runtime_error("[load] " + source + ": tensor '" + name + "' has shape " +
                             shape_to_string(it->second.shape()) + ", expected " + shape_to_string(shape));
  }
  if (!is_floating_point(it->second.dtype())) {
    throw std::runtime_error("[load] " + source + ": tensor '" + name + "' has dtype " +
                             dtype_name(it->second.dtype()) + ", expected a floating-point type");
  }
  array a = it->second;
  w.erase(it);
  return a;
}

// A matrix weight, quantized when `quantized` holds it under that name.
Linear take_linear(std::unordered_map<std::string, array>& w, std::unordered_map<std::string, QuantizedWeight>& q,
                   const std::string& name, const Shape& shape, const std::string& source) {
  Linear lin;
  if (auto it = q.find(name); it != q.end()) {
    if (it->second.shape() != shape) {
      throw std::runtime_error("[load] " + source + ": tensor '" + name + "' has shape " +
                               shape_to_string(it->second.shape()) + ", expected " + shape_to_string(shape));
    }
    lin.quantized = it->second;
    q.erase(it);
  } else {
    lin.weight = take_weight(w, name, shape, source);
  }
  return lin;
}

}  // namespace

array llama3_rope_freqs(const RopeScaling& s, int head_dim, float base) {
  // Wavelengths shorter than original_max / high_freq_factor keep their frequency, longer
  // than original_max / low_freq_factor are slowed by `factor`, and those between blend.
  int half = head_dim / 2;
  double low_wavelen = s.original_max_position_embeddings / s.low_freq_factor;
  double high_wavelen = s.original_max_position_embeddings / s.high_freq_factor;
  std::vector<float> freqs(half);
  for (int i = 0; i < half; ++i) {
    double f = std::pow(static_cast<double>(base), 2.0 * i / head_dim);  // 1 / inv_freq
    double wavelen = 2 * M_PI * f;
    if (wavelen > low_wavelen) {
      f *= s.factor;
    } else if (wavelen >= high_wavelen) {
      double smooth =
          (s.original_max_position_embeddings / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
      f = f / ((1 - smooth) / s.factor + smooth);
    }
    freqs[i] = static_cast<float>(f);
  }
  return array(freqs.data(), {half}, float32);
}

Transformer::Transformer(ModelConfig c, std::unordered_map<std::string, array> w, const std::string& source,
                         std::optional<array> rope_freqs, std::unordered_map<std::string, QuantizedWeight> qw)
    : config_(std::move(c)) {
  const ModelConfig& cf = config_;
  int H = cf.hidden_size, q_dim = cf.num_heads * cf.head_dim, kv_dim = cf.num_kv_heads * cf.head_dim;
  embed_ = take_linear(w, qw, "model.embed_tokens.weight", {cf.vocab_size, H}, source);
  norm_ = take_weight(w, "model.norm.weight", {H}, source);
  if (w.count("lm_head.weight") || qw.count("lm_head.weight")) {
    lm_head_ = take_linear(w, qw, "lm_head.weight", {cf.vocab_size, H}, source);
  } else if (!cf.tie_word_embeddings) {
    // Checkpoints that omit the head share the embedding (SmolLM2's GGUF does).
    config_.tie_word_embeddings = true;
  }
  for (int l = 0; l < cf.num_layers; ++l) {
    std::string p = "model.layers." + std::to_string(l) + ".";
    Block b;
    b.attn_norm = take_weight(w, p + "input_layernorm.weight", {H}, source);
    b.mlp_norm = take_weight(w, p + "post_attention_layernorm.weight", {H}, source);
    auto linear = [&](const std::string& name, int out, int in, bool bias) {
      Linear lin = take_linear(w, qw, p + name + ".weight", {out, in}, source);
      if (bias) lin.bias = take_weight(w, p + name + ".bias", {out}, source);
      return lin;
    };
    b.attn.q = linear("self_attn.q_proj", q_dim, H, cf.attention_bias);
    b.attn.k = linear("self_attn.k_proj", kv_dim, H, cf.attention_bias);
    b.attn.v = linear("self_attn.v_proj", kv_dim, H, cf.attention_bias);
    b.attn.o = linear("self_attn.o_proj", H, q_dim, false);
    if (cf.qk_norm) {
      b.attn.q_norm = take_weight(w, p + "self_attn.q_norm.weight", {cf.head_dim}, source);
      b.attn.k_norm = take_weight(w, p + "self_attn.k_norm.weight", {cf.head_dim}, source);
    }
    b.mlp.gate = linear("mlp.gate_proj", cf.intermediate_size, H, false);
    b.mlp.up = linear("mlp.up_proj", cf.intermediate_size, H, false);
    b.mlp.down = linear("mlp.down_proj", H, cf.intermediate_size, false);
    if ((b.attn.qkv = stack_linears({&b.attn.q, &b.attn.k, &b.attn.v}))) b.attn.q = b.attn.k = b.attn.v = Linear{};
    if ((b.mlp.gate_up = stack_linears({&b.mlp.gate, &b.mlp.up}))) b.mlp.gate = b.mlp.up = Linear{};
    blocks_.push_back(std::move(b));
  }
  if (rope_freqs) {
    if (rope_freqs->ndim() != 1 || rope_freqs->shape(0) != cf.head_dim / 2) {
      throw std::runtime_error("[load] " + source + ": rope frequencies have shape " +
                               shape_to_string(rope_freqs->shape()) + ", expected (" + std::to_string(cf.head_dim / 2) +
                               ",)");
    }
    rope_freqs_ = astype(*rope_freqs, float32);
  } else if (cf.rope_scaling && cf.rope_scaling->type == "llama3") {
    rope_freqs_ = llama3_rope_freqs(*cf.rope_scaling, cf.head_dim, cf.rope_theta);
  } else {
    rope_base_ = cf.rope_theta;
    if (cf.rope_scaling && cf.rope_scaling->type == "linear") rope_scale_ = 1.0f / cf.rope_scaling->factor;
  }
}

std::vector<KVCache> Transformer::make_cache() const {
  return std::vector<KVCache>(config_.num_layers, KVCache(config_.sliding_window, 256, kv_bits_));
}

void Transformer::set_kv_bits(int bits) {
  KVCache check(0, 256, bits);  // rejects other widths with the cache's message
  kv_bits_ = bits;
}

namespace {

// Every Linear of the model, the embedding first.
template <class F>
void for_each_linear(const Linear& embed, const std::optional<Linear>& head, const std::vector<Block>& blocks, F&& f) {
  f(embed);
  if (head) f(*head);
  for (const Block& b : blocks) {
    for (const Linear* l : {&b.attn.q, &b.attn.k, &b.attn.v, &b.attn.o, &b.mlp.gate, &b.mlp.up, &b.mlp.down}) {
      if (l->quantized || l->weight.ndim() == 2) f(*l);  // stacked ones are left as empty placeholders
    }
    if (b.attn.qkv) f(*b.attn.qkv);
    if (b.mlp.gate_up) f(*b.mlp.gate_up);
  }
}

}  // namespace

std::vector<array> Transformer::parameters() const {
  std::vector<array> p{norm_};
  if (rope_freqs_) p.push_back(*rope_freqs_);
  for_each_linear(embed_, lm_head_, blocks_, [&](const Linear& l) {
    if (l.quantized) {
      p.insert(p.end(), {l.quantized->wq, l.quantized->scales});
      if (l.quantized->biases) p.push_back(*l.quantized->biases);
    } else {
      p.push_back(l.weight);
    }
    if (l.bias) p.push_back(*l.bias);
  });
  for (const Block& b : blocks_) {
    p.insert(p.end(), {b.attn_norm, b.mlp_norm});
    if (b.attn.q_norm) p.insert(p.end(), {*b.attn.q_norm, *b.attn.k_norm});
  }
  return p;
}

int Transformer::quantized_count() const {
  int n = 0;
  for_each_linear(embed_, lm_head_, blocks_, [&](const Linear& l) { n += l.quantized.has_value(); });
  return n;
}

bool Transformer::exact_prefill() const {
  // float32 activations (a quantized embedding dequantizes to float32) take the CPU attention's
  // per-row causal kernel; each matrix's rows must go through the integer kernels.
  if (default_device().type != Device::cpu) return false;
  if (!embed_.quantized && embed_.weight.dtype() != float32) return false;
  auto integer = [](const Linear& l) {
    const auto& q = l.quantized;
    return q && q->int8_activations && int8_activation_kernels(q->bits, q->group_size);
  };
  for (const Block& b : blocks_) {
    for (const Linear* l : {&b.attn.q, &b.attn.k, &b.attn.v, &b.attn.o, &b.mlp.gate, &b.mlp.up, &b.mlp.down}) {
      const bool placeholder = !l->quantized && l->weight.ndim() != 2;  // of a stacked matrix
      if (!placeholder && !integer(*l)) return false;
    }
    if ((b.attn.qkv && !integer(*b.attn.qkv)) || (b.mlp.gate_up && !integer(*b.mlp.gate_up))) return false;
  }
  return true;
}

array Transformer::embed(const array& tokens) const {
  // tokens (B, T) -> (B, T, H): rows of the table, dequantized after the lookup when quantized.
  if (!embed_.quantized) return take(embed_.weight, tokens, 0);
  const QuantizedWeight& q = *embed_.quantized;
  std::optional<array> bi;
  if (q.biases) bi = astype(take(*q.biases, tokens, 0), float32);
  return dequantize(take(q.wq, tokens, 0), astype(take(q.scales, tokens, 0), float32), bi, q.group_size, q.bits);
}

array Transformer::attention(const Block& b, const array& x, KVCache& cache) const {
  return attention(b, x, std::vector<KVCache*>{&cache});
}

std::tuple<array, array, array> Transformer::project_qkv(const Block& b, const array& x) const {
  const ModelConfig& c = config_;
  int B = x.shape(0), T = x.shape(1), D = c.head_dim;
  auto heads = [&](const array& y, int n) { return transpose(reshape(y, {B, T, n, D}), {0, 2, 1, 3}); };
  array q(0.0f), k(0.0f), v(0.0f);
  if (b.attn.qkv) {
    int nq = c.num_heads * D, nkv = c.num_kv_heads * D;
    array y = (*b.attn.qkv)(x);  // (B, T, nq + 2 nkv)
    auto part = [&](int from, int n) { return slice(y, {0, 0, from}, {B, T, from + n}); };
    q = heads(part(0, nq), c.num_heads);
    k = heads(part(nq, nkv), c.num_kv_heads);
    v = heads(part(nq + nkv, nkv), c.num_kv_heads);
  } else {
    q = heads(b.attn.q(x), c.num_heads);
    k = heads(b.attn.k(x), c.num_kv_heads);
    v = heads(b.attn.v(x), c.num_kv_heads);
  }
  if (b.attn.q_norm) {
    q = fast::rms_norm(q, b.attn.q_norm, c.rms_norm_eps);
    k = fast::rms_norm(k, b.attn.k_norm, c.rms_norm_eps);
  }
  return {q, k, v};
}

array Transformer::attention(const Block& b, const array& x, BatchKVCache& cache, const array& offsets,
                             const array& mask) const {
  // x: (B, 1, H), row b at position offsets[b]
  const ModelConfig& c = config_;
  int B = x.shape(0), D = c.head_dim;
  auto [q, k, v] = project_qkv(b, x);
  q = fast::rope(q, D, c.rope_traditional, rope_base_, rope_scale_, offsets, rope_freqs_);
  k = fast::rope(k, D, c.rope_traditional, rope_base_, rope_scale_, offsets, rope_freqs_);
  auto [keys, values] = cache.update_and_fetch(k, v);
  array o = fast::scaled_dot_product_attention(q, keys, values, 1.0f / std::sqrt(static_cast<float>(D)), "", mask);
  return b.attn.o(reshape(transpose(o, {0, 2, 1, 3}), {B, 1, c.num_heads * D}));
}

array Transformer::attention(const Block& b, const array& x, const std::vector<KVCache*>& caches) const {
  // x: (B, T, H) -> (B, T, H); one cache for all rows, or one per row (T == 1: decode steps of
  // several sequences)
  const ModelConfig& c = config_;
  int B = x.shape(0), T = x.shape(1), D = c.head_dim;
  auto [q, k, v] = project_qkv(b, x);
  if (caches.size() > 1) {
    // Each row its own sequence at its own position: rope, cache and attention per row.
    std::vector<array> rows;
    for (int i = 0; i < B; ++i) {
      auto row = [&](const array& y) { return slice(y, {i, 0, 0, 0}, {i + 1, y.shape(1), 1, D}); };
      rows.push_back(attend(row(q), row(k), row(v), *caches[i]));
    }
    array o = concatenate(rows, 0);
    return b.attn.o(reshape(transpose(o, {0, 2, 1, 3}), {B, T, c.num_heads * D}));
  }
  array o = attend(q, k, v, *caches[0]);
  return b.attn.o(reshape(transpose(o, {0, 2, 1, 3}), {B, T, c.num_heads * D}));
}

array Transformer::attend(array q, array k, const array& v, KVCache& cache) const {
  const ModelConfig& c = config_;
  const int T = q.shape(2), D = c.head_dim;
  const int offset = cache.offset();
  q = fast::rope(q, D, c.rope_traditional, rope_base_, rope_scale_, offset, rope_freqs_);
  k = fast::rope(k, D, c.rope_traditional, rope_base_, rope_scale_, offset, rope_freqs_);
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  if (cache.bits() != 0 && T <= 4) {
    // Decoding over a quantized cache reads it as stored, never dequantized whole. (A prefill's
    // many queries run faster as the fused attention over the dequantized positions.)
    std::array<array, 6> kv = cache.update_and_fetch_quantized(k, v);
    std::optional<array> mask;
    if (T > 1) mask = visible(offset, T, cache.start(), kv[0].shape(2));
    return quantized_scaled_dot_product_attention(q, kv[0], kv[1], kv[2], kv[3], kv[4], kv[5], scale, mask,
                                                  cache.group_size(), cache.bits());
  }
  auto [keys, values] = cache.update_and_fetch(k, v);
  int Tk = keys.shape(2), first = cache.start();
  std::string mode;
  std::optional<array> mask;
  if (T > 1) {
    bool window_cuts = c.sliding_window > 0 && offset + T - first > c.sliding_window;
    if (!window_cuts) {
      mode = "causal";
    } else {
      mask = visible(offset, T, first, Tk);
    }
  }
  return fast::scaled_dot_product_attention(q, keys, values, scale, mode, mask);
}

array Transformer::visible(int offset, int T, int first, int Tk) const {
  // Query at position offset + i sees key position p when p <= offset + i (and, with a
  // sliding window, offset + i < p + window).
  array qpos = reshape(arange(offset, offset + T), {T, 1});
  array kpos = reshape(arange(first, first + Tk), {1, Tk});
  array seen = less_equal(kpos, qpos);
  const int window = config_.sliding_window;
  return window > 0 ? logical_and(seen, less(subtract(qpos, kpos), array(window))) : seen;
}

array Transformer::mlp(const Block& b, const array& x) const {
  array g(0.0f), u(0.0f);
  if (b.mlp.gate_up) {
    int I = config_.intermediate_size, B = x.shape(0), T = x.shape(1);
    array y = (*b.mlp.gate_up)(x);  // (B, T, 2 I)
    g = slice(y, {0, 0, 0}, {B, T, I});
    u = slice(y, {0, 0, I}, {B, T, 2 * I});
  } else {
    g = b.mlp.gate(x);
    u = b.mlp.up(x);
  }
  return b.mlp.down(multiply(multiply(g, sigmoid(g)), u));
}

array Transformer::forward_decode(const std::vector<int32_t>& tokens,
                                  const std::vector<std::vector<KVCache>*>& caches) const {
  const int n = static_cast<int>(tokens.size());
  if (n == 0 || caches.size() != tokens.size()) {
    throw std::invalid_argument("[Transformer] forward_decode takes one cache per token, got " +
                                std::to_string(tokens.size()) + " tokens and " + std::to_string(caches.size()) +
                                " caches");
  }
  for (auto* c : caches) {
    if (c->size() != blocks_.size()) {
      throw std::invalid_argument("[Transformer] expects " + std::to_string(blocks_.size()) + " layer caches, got " +
                                  std::to_string(c->size()));
    }
  }
  const ModelConfig& c = config_;
  array h = embed(array(tokens.data(), {n, 1}, int32));
  std::vector<KVCache*> layer(n);
  for (size_t l = 0; l < blocks_.size(); ++l) {
    const Block& b = blocks_[l];
    for (int i = 0; i < n; ++i) layer[i] = &(*caches[i])[l];
    h = add(h, attention(b, fast::rms_norm(h, b.attn_norm, c.rms_norm_eps), layer));
    h = add(h, mlp(b, fast::rms_norm(h, b.mlp_norm, c.rms_norm_eps)));
  }
  h = fast::rms_norm(h, norm_, c.rms_norm_eps);
  return astype((lm_head_ ? *lm_head_ : embed_)(h), float32);
}

array Transformer::forward_segments(const std::vector<std::vector<int32_t>>& segments,
                                    const std::vector<std::vector<KVCache>*>& caches) const {
  const int n = static_cast<int>(segments.size());
  if (n == 0 || caches.size() != segments.size()) {
    throw std::invalid_argument("[Transformer] forward_segments takes one cache per segment, got " +
                                std::to_string(segments.size()) + " segments and " + std::to_string(caches.size()) +
                                " caches");
  }
  std::vector<int32_t> tokens;
  std::vector<int> starts;
  for (size_t i = 0; i < segments.size(); ++i) {
    if (segments[i].empty())
      throw std::invalid_argument("[Transformer] forward_segments: segment " + std::to_string(i) + " is empty");
    if (caches[i]->size() != blocks_.size()) {
      throw std::invalid_argument("[Transformer] expects " + std::to_string(blocks_.size()) + " layer caches, got " +
                                  std::to_string(caches[i]->size()));
    }
    starts.push_back(static_cast<int>(tokens.size()));
    tokens.insert(tokens.end(), segments[i].begin(), segments[i].end());
  }
  starts.push_back(static_cast<int>(tokens.size()));
  const ModelConfig& c = config_;
  const int T = static_cast<int>(tokens.size()), D = c.head_dim;
  array h = embed(array(tokens.data(), {1, T}, int32));
  for (size_t l = 0; l < blocks_.size(); ++l) {
    const Block& b = blocks_[l];
    auto [q, k, v] = project_qkv(b, fast::rms_norm(h, b.attn_norm, c.rms_norm_eps));
    std::vector<array> parts;
    for (int i = 0; i < n; ++i) {
      auto seg = [&](const array& y) {
        return slice(y, {0, 0, starts[i], 0}, {1, y.shape(1), starts[i + 1], y.shape(3)});
      };
      parts.push_back(attend(seg(q), seg(k), seg(v), (*caches[i])[l]));
    }
    array o = concatenate(parts, 2);
    h = add(h, b.attn.o(reshape(transpose(o, {0, 2, 1, 3}), {1, T, c.num_heads * D})));
    h = add(h, mlp(b, fast::rms_norm(h, b.mlp_norm, c.rms_norm_eps)));
  }
  // Each segment's last position, as forward's last_only takes it.
  std::vector<array> last;
  for (int i = 0; i < n; ++i) last.push_back(slice(h, {0, starts[i + 1] - 1, 0}, {1, starts[i + 1], h.shape(2)}));
  h = fast::rms_norm(reshape(concatenate(last, 1), {n, 1, h.shape(2)}), norm_, c.rms_norm_eps);
  return astype((lm_head_ ? *lm_head_ : embed_)(h), float32);
}

array Transformer::forward_batch(const std::vector<int32_t>& tokens, std::vector<BatchKVCache>& caches) const {
  const int n = static_cast<int>(tokens.size());
  if (caches.size() != blocks_.size()) {
    throw std::invalid_argument("[Transformer] expects " + std::to_string(blocks_.size()) + " layer caches, got " +
                                std::to_string(caches.size()));
  }
  if (n == 0 || caches[0].batch_size() != n) {
    throw std::invalid_argument("[Transformer] forward_batch takes one token per row of the caches (" +
                                std::to_string(caches[0].batch_size()) + "), got " + std::to_string(n));
  }
  const ModelConfig& c = config_;
  // Every layer's rows sit at the same positions: the offsets and the mask are built once.
  const array offsets = caches[0].offsets(), mask = caches[0].next_mask();
  array h = embed(array(tokens.data(), {n, 1}, int32));
  for (size_t l = 0; l < blocks_.size(); ++l) {
    const Block& b = blocks_[l];
    h = add(h, attention(b, fast::rms_norm(h, b.attn_norm, c.rms_norm_eps), caches[l], offsets, mask));
    h = add(h, mlp(b, fast::rms_norm(h, b.mlp_norm, c.rms_norm_eps)));
  }
  h = fast::rms_norm(h, norm_, c.rms_norm_eps);
  return astype((lm_head_ ? *lm_head_ : embed_)(h), float32);
}

array Transformer::forward(const array& tokens, std::vector<KVCache>& cache, bool last_only) const {
  // tokens: (B, T) int32 -> logits (B, T or 1, vocab) float32
  if (tokens.ndim() != 2) {
    throw std::invalid_argument("[Transformer] tokens must be (B, T), got shape " + shape_to_string(tokens.shape()));
  }
  if (cache.size() != blocks_.size()) {
    throw std::invalid_argument("[Transformer] expects " + std::to_string(blocks_.size()) + " layer caches, got " +
                                std::to_string(cache.size()));
  }
  const ModelConfig& c = config_;
  array h = embed(tokens);
  for (size_t l = 0; l < blocks_.size(); ++l) {
    const Block& b = blocks_[l];
    h = add(h, attention(b, fast::rms_norm(h, b.attn_norm, c.rms_norm_eps), cache[l]));
    h = add(h, mlp(b, fast::rms_norm(h, b.mlp_norm, c.rms_norm_eps)));
  }
  if (last_only && h.shape(1) > 1) {
    int T = h.shape(1);
    h = slice(h, {0, T - 1, 0}, {h.shape(0), T, h.shape(2)});
  }
  h = fast::rms_norm(h, norm_, c.rms_norm_eps);
  return astype((lm_head_ ? *lm_head_ : embed_)(h), float32);
}

}  // namespace ember::lm
