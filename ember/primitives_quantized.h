// Primitives of affine group quantization (ember/quantized.h). Dequantize and QuantizedMatmul
// are fused ops: their transforms go through a fallback built from basic ops (shifts, masks,
// matmul), and wq, an integer input, is never differentiated.
#pragma once

#include <utility>
#include <vector>

#include "ember/primitives_fast.h"

namespace ember {

/// quantize: input w (..., N, K); outputs wq (uint32), scales, biases (w's dtype). No
/// derivative; vmap moves the batch axis to the front and quantizes the stacked rows.
class Quantize : public Primitive {
 public:
  Quantize(Stream s, int group_size, int bits) : Primitive(s), group_size_(group_size), bits_(bits) {}
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                       const std::vector<int>& axes) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
  bool is_equivalent(const Primitive& other) const override;
  const char* name() const override { return "Quantize"; }

 private:
  int group_size_, bits_;
};

/// dequantize. Inputs: wq (..., N, W) uint32, scales and biases (..., N, G) of one dtype; no
/// biases input for codes offset by half their range (bias = -2^(bits - 1) * scale).
class Dequantize : public Fused {
 public:
  Dequantize(Stream s, MultiFn fallback, int group_size, int bits)
      : Fused(s, std::move(fallback)), group_size_(group_size), bits_(bits) {}
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  std::vector<array> jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                         const std::vector<int>& argnums) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
  bool is_equivalent(const Primitive& other) const override;
  const char* name() const override { return "Dequantize"; }
  int group_size() const { return group_size_; }
  int bits() const { return bits_; }

 private:
  int group_size_, bits_;
};

/// quantized_matmul. Inputs: x (..., K) float32, wq (N, W) or (K, W) uint32, scales and
/// biases (one of float16, bfloat16, float32), or scales alone (as Dequantize). The output has
/// the op's result dtype. int8_x: quantized_matmul_int8_activations (the CPU matvec may round x
/// to int8 per block of 32).
class QuantizedMatmul : public Fused {
 public:
  QuantizedMatmul(Stream s, MultiFn fallback, bool transpose, int group_size, int bits, bool int8_x = false)
      : Fused(s, std::move(fallback)), transpose_(transpose), group_size_(group_size), bits_(bits), int8_x_(int8_x) {}
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  std::vector<array> jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                         const std::vector<int>& argnums) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
  bool is_equivalent(const Primitive& other) const override;
  const char* name() const override { return "QuantizedMatmul"; }
  bool transpose() const { return transpose_; }
  int group_size() const { return group_size_; }
  int bits() const { return bits_; }

 private:
  bool transpose_;
  int group_size_, bits_;
  bool int8_x_;
};

/// gather_qmm. Inputs: x (Bx, M, K) float32, wq (Bw, N, W) or (Bw, K, W) uint32, scales and
/// biases (Bw, ., G), lhs and rhs (L,) uint32 flat indices of x's and w's matrices. Output
/// (L, M, N): product l multiplies matrix lhs[l] of x by matrix rhs[l] of w.
class GatherQMM : public Fused {
 public:
  GatherQMM(Stream s, MultiFn fallback, bool transpose, int group_size, int bits)
      : Fused(s, std::move(fallback)), transpose_(transpose), group_size_(group_size), bits_(bits) {}
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  std::vector<array> jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                         const std::vector<int>& argnums) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
  bool is_equivalent(const Primitive& other) const override;
  const char* name() const override { return "GatherQMM"; }
  bool transpose() const { return transpose_; }
  int group_size() const { return group_size_; }
  int bits() const { return bits_; }

 private:
  bool transpose_;
  int group_size_, bits_;
};

/// quantized_scaled_dot_product_attention. Inputs: q (B, Hq, Tq, D) float32; the keys' wq
/// (B, Hkv, Tk, W) uint32, scales and biases (B, Hkv, Tk, G) of one float dtype; the values'
/// three likewise; then, when has_mask, a boolean (B, Hq, Tq, Tk) (a broadcast view). Output
/// float32 (B, Hq, Tq, Dv). The planes are read in place where each matrix's rows are
/// contiguous (a KV cache's views of its buffers).
class QuantizedAttention : public Fused {
 public:
  QuantizedAttention(Stream s, MultiFn fallback, float scale, bool has_mask, int group_size, int bits)
      : Fused(s, std::move(fallback)), scale_(scale), has_mask_(has_mask), group_size_(group_size), bits_(bits) {}
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;
  std::vector<array> jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                         const std::vector<int>& argnums) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
  bool is_equivalent(const Primitive& other) const override;
  const char* name() const override { return "QuantizedAttention"; }

  /// Query rows per key head (Tq times the query heads sharing it) up to which the CPU kernel
  /// runs (decoding); more build the fallback, whose products run as matrix products.
  static constexpr int kMaxRows = 32;

 private:
  float scale_;
  bool has_mask_;
  int group_size_, bits_;
};

}  // namespace ember
