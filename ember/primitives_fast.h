// Primitives of the fused transformer ops (ember/fast.h). Each keeps the fallback its op
// built from basic ops: transforms go through the fallback, kernels only run forward.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "ember/primitives.h"
#include "ember/transforms.h"

namespace ember {

/// A fused op: a kernel per backend plus a fallback composed of basic ops (same inputs, same
/// outputs). vjp, jvp and vmap transform the fallback, so the gradient never needs the kernel.
class Fused : public Primitive {
 public:
  Fused(Stream s, MultiFn fallback) : Primitive(s), fallback_(std::move(fallback)) {}
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  std::vector<array> jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                         const std::vector<int>& argnums) override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                       const std::vector<int>& axes) override;
  /// The fallback: the op written with basic ops.
  const MultiFn& fallback() const { return fallback_; }

 private:
  MultiFn fallback_;
};

/// Whether an op should build `p`'s fallback in its place: p's stream is a GPU whose backend
/// has no kernel for p, or whose kernel does not take these inputs (`gpu_kernel_takes` false).
/// The fallback's basic ops all have GPU kernels, so the work stays on the device instead of
/// running p's CPU kernel on host copies of its inputs.
bool use_fallback(const Fused& p, bool gpu_kernel_takes = true);
/// The names of the fused primitives that use_fallback has replaced so far in this process
/// (for the gradient-coverage test: on a GPU, their fallbacks are what gets checked).
std::vector<std::string> built_as_fallback();

/// rms_norm over the last axis. Inputs: x, then weight when has_weight (same dtype as x).
class RMSNorm : public Fused {
 public:
  RMSNorm(Stream s, MultiFn fallback, float eps, bool has_weight)
      : Fused(s, std::move(fallback)), eps_(eps), has_weight_(has_weight) {}
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override { return {inputs[0].shape()}; }
  bool is_equivalent(const Primitive& other) const override;
  const char* name() const override { return "RMSNorm"; }
  float eps() const { return eps_; }
  bool has_weight() const { return has_weight_; }

 private:
  float eps_;
  bool has_weight_;
};

/// layer_norm over the last axis. Inputs: x, then weight and bias where present (x's dtype).
class LayerNorm : public Fused {
 public:
  LayerNorm(Stream s, MultiFn fallback, float eps, bool has_weight, bool has_bias)
      : Fused(s, std::move(fallback)), eps_(eps), has_weight_(has_weight), has_bias_(has_bias) {}
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override { return {inputs[0].shape()}; }
  bool is_equivalent(const Primitive& other) const override;
  const char* name() const override { return "LayerNorm"; }
  float eps() const { return eps_; }
  bool has_weight() const { return has_weight_; }
  bool has_bias() const { return has_bias_; }

 private:
  float eps_;
  bool has_weight_, has_bias_;
};

/// rope. Inputs: x (..., T, D), then freqs (dims/2; float64 for float64 x, else float32) when
/// given, then the int32 start positions when has_offsets: shape () or (x.shape(0),).
class RoPE : public Fused {
 public:
  RoPE(Stream s, MultiFn fallback, int dims, bool traditional, float base, float scale, int offset, bool has_freqs,
       bool has_offsets = false)
      : Fused(s, std::move(fallback)),
        dims_(dims),
        traditional_(traditional),
        base_(base),
        scale_(scale),
        offset_(offset),
        has_freqs_(has_freqs),
        has_offsets_(has_offsets) {}
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override { return {inputs[0].shape()}; }
  bool is_equivalent(const Primitive& other) const override;
  const char* name() const override { return "RoPE"; }
  int dims() const { return dims_; }
  bool traditional() const { return traditional_; }
  float base() const { return base_; }
  float scale() const { return scale_; }
  int offset() const { return offset_; }
  bool has_freqs() const { return has_freqs_; }
  /// Whether the positions start at an int32 input (last; one value, or one per index of
  /// axis 0) instead of at offset().
  bool has_offsets() const { return has_offsets_; }

 private:
  int dims_;
  bool traditional_;
  float base_, scale_;
  int offset_;
  bool has_freqs_, has_offsets_;
};

/// scaled_dot_product_attention. Inputs: q, k, v (one dtype), then the mask when given:
/// boolean or float32, already broadcast to (B, Hq, Tq, Tk) (a view).
class ScaledDotProductAttention : public Fused {
 public:
  ScaledDotProductAttention(Stream s, MultiFn fallback, float scale, bool causal, bool has_mask)
      : Fused(s, std::move(fallback)), scale_(scale), causal_(causal), has_mask_(has_mask) {}
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
  bool is_equivalent(const Primitive& other) const override;
  const char* name() const override { return "ScaledDotProductAttention"; }
  float scale() const { return scale_; }
  bool causal() const { return causal_; }
  bool has_mask() const { return has_mask_; }

  /// The GPU kernel's reach: query rows (decoding), head sizes, and 16/32-bit floats. Other
  /// shapes build the fallback on a GPU, whose products run on the tensor cores.
  static constexpr int kGpuMaxQueries = 8, kGpuMaxHead = 256;

 private:
  float scale_;
  bool causal_, has_mask_;
};

}  // namespace ember
