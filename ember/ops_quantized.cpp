// Affine group quantization (ember/quantized.h): argument checks, the fallbacks built from
// basic ops (bit extraction with shifts and masks, then matmul), and the transforms.
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>

#include "ember/indexing.h"
#include "ember/ops.h"
#include "ember/primitives_quantized.h"
#include "ember/quantized.h"
#include "ember/utils.h"

namespace ember {

namespace {

std::string op_prefix(const char* op) { return std::string("[") + op + "] "; }

// Input i if there is one (the biases, absent for codes offset by half their range).
std::optional<array> optional_at(const std::vector<array>& in, size_t i) {
  return i < in.size() ? std::optional<array>(in[i]) : std::nullopt;
}

void check_params(const char* op, int group_size, int bits) {
  if (group_size != 16 && group_size != 32 && group_size != 64 && group_size != 128) {
    throw std::invalid_argument(op_prefix(op) + "group_size must be 16, 32, 64 or 128, got " +
                                std::to_string(group_size));
  }
  if (bits != 2 && bits != 3 && bits != 4 && bits != 5 && bits != 6 && bits != 8) {
    throw std::invalid_argument(op_prefix(op) + "bits must be 2, 3, 4, 5, 6 or 8, got " + std::to_string(bits));
  }
}

bool is_half_or_f32(Dtype t) { return t == float16 || t == bfloat16 || t == float32; }

void check_float(const char* op, const char* what, const array& a) {
  if (!is_half_or_f32(a.dtype())) {
    throw std::invalid_argument(op_prefix(op) + what + " must be float16, bfloat16 or float32, got " +
                                dtype_name(a.dtype()));
  }
}

// Checks wq (uint32, (..., R, W)) against scales and biases (..., R, W * 32 / bits / group_size)
// and returns the dtype both are cast to. No biases: the codes are offset by half their range.
Dtype check_packed(const char* op, const array& wq, const array& scales, const std::optional<array>& biases,
                   int group_size, int bits) {
  if (wq.dtype() != uint32) {
    throw std::invalid_argument(op_prefix(op) + "wq must be uint32, got " + dtype_name(wq.dtype()));
  }
  if (wq.ndim() < 2) {
    throw std::invalid_argument(op_prefix(op) + "wq must have at least 2 axes, got shape " +
                                shape_to_string(wq.shape()));
  }
  check_float(op, "scales", scales);
  if (biases) check_float(op, "biases", *biases);
  if (static_cast<int64_t>(wq.shape(-1)) * 32 % bits != 0) {
    throw std::invalid_argument(op_prefix(op) + "the last axis of wq (" + std::to_string(wq.shape(-1)) +
                                " words) does not hold a whole number of " + std::to_string(bits) + "-bit codes");
  }
  int64_t cols = static_cast<int64_t>(wq.shape(-1)) * 32 / bits;
  if (cols % group_size != 0) {
    throw std::invalid_argument(op_prefix(op) + "the unpacked last axis of wq (" + std::to_string(cols) +
                                ") must be a multiple of group_size " + std::to_string(group_size));
  }
  Shape sshape = wq.shape();
  sshape.back() = static_cast<int32_t>(cols / group_size);
  if (!biases && scales.shape() != sshape) {
    throw std::invalid_argument(op_prefix(op) + "scales must have shape " + shape_to_string(sshape) +
                                " for wq of shape " + shape_to_string(wq.shape()) + ", got " +
                                shape_to_string(scales.shape()));
  }
  if (biases && (scales.shape() != sshape || biases->shape() != sshape)) {
    throw std::invalid_argument(op_prefix(op) + "scales and biases must have shape " + shape_to_string(sshape) +
                                " for wq of shape " + shape_to_string(wq.shape()) + ", got " +
                                shape_to_string(scales.shape()) + " and " + shape_to_string(biases->shape()));
  }
  return biases ? promote_types(scales.dtype(), biases->dtype()) : scales.dtype();
}

// The codes of wq (..., W) as uint32 (..., W * 32 / bits): element j is bits
// [j * bits, (j + 1) * bits) of the row's bitstream. Word and shift tables are constants.
array unpack_codes(const array& wq, int bits, StreamOrDevice s) {
  int W = wq.shape(-1), K = W * 32 / bits;
  std::vector<int32_t> word(K), next(K);
  std::vector<uint32_t> lo(K), hi(K);
  std::vector<uint8_t> spill(K);
  bool any_spill = false;
  for (int j = 0; j < K; ++j) {
    int off = j * bits;
    word[j] = off / 32;
    lo[j] = static_cast<uint32_t>(off % 32);
    spill[j] = lo[j] + bits > 32;
    any_spill = any_spill || spill[j];
    next[j] = spill[j] ? word[j] + 1 : word[j];
    hi[j] = spill[j] ? 32 - lo[j] : 0;  // never 32: a shift by the word width is undefined
  }
  Shape k_shape{K};
  array codes = right_shift(take(wq, array(word, k_shape), -1, s), array(lo, k_shape), s);
  if (any_spill) {
    array high = left_shift(take(wq, array(next, k_shape), -1, s), array(hi, k_shape), s);
    array mask = astype(array(spill, k_shape), bool_, s);
    codes = bitwise_or(codes, where(mask, high, array(0u, uint32), s), s);
  }
  return bitwise_and(codes, array(static_cast<uint32_t>((1u << bits) - 1), uint32), s);
}

// The dequantize fallback: scale * q + bias in float32 (float32 scales and biases), cast to t.
// Without biases, bias = -2^(bits - 1) * scale (exact: a power of two).
array dequantize_ops(const array& wq, const array& scales, const std::optional<array>& biases, int group_size, int bits,
                     Dtype t, StreamOrDevice s) {
  array q = astype(unpack_codes(wq, bits, s), float32, s);
  Shape full = q.shape(), grouped = q.shape();
  grouped.back() = full.back() / group_size;
  grouped.push_back(group_size);
  array sc = expand_dims(astype(scales, float32, s), -1, s);
  array bi = biases ? expand_dims(astype(*biases, float32, s), -1, s)
                    : multiply(sc, array(-static_cast<float>(1 << (bits - 1))), s);
  array w = add(multiply(reshape(q, grouped, s), sc, s), bi, s);
  return astype(reshape(w, full, s), t, s);
}

// The argnums that are not the integer input `int_arg`; throws if it was asked for.
void refuse_int_argnum(const char* op, const std::vector<int>& argnums, int int_arg) {
  for (int a : argnums) {
    if (a == int_arg) {
      throw std::invalid_argument(op_prefix(op) + "gradients with respect to the quantized weights are not supported");
    }
  }
}

// vjp/jvp of a fallback in the differentiated inputs only: the others (the integer wq among
// them) are closed over, so no tangent or cotangent of an integer array is ever formed.
MultiFn restricted(const MultiFn& f, const std::vector<array>& primals, const std::vector<int>& argnums) {
  return [f, primals, argnums](const std::vector<array>& sub) {
    std::vector<array> all = primals;
    for (size_t k = 0; k < argnums.size(); ++k) all[argnums[k]] = sub[k];
    return f(all);
  };
}

// gather_qmm's integer inputs: the packed weights (1) and the indices (4, 5).
void refuse_gather_argnums(const std::vector<int>& argnums) {
  refuse_int_argnum("gather_qmm", argnums, 1);
  for (int a : argnums) {
    if (a == 4 || a == 5)
      throw std::invalid_argument("[gather_qmm] gradients with respect to the indices are not supported");
  }
}

std::vector<array> pick(const std::vector<array>& v, const std::vector<int>& idx) {
  std::vector<array> out;
  for (int i : idx) out.push_back(v[i]);
  return out;
}

}  // namespace

// ---------------------------------------------------------------- primitives

std::vector<Shape> Quantize::output_shapes(const std::vector<array>& inputs) {
  Shape wq = inputs[0].shape(), sc = inputs[0].shape();
  wq.back() = wq.back() * bits_ / 32;
  sc.back() = sc.back() / group_size_;
  return {wq, sc, sc};
}

bool Quantize::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Quantize*>(&other);
  return o && o->group_size_ == group_size_ && o->bits_ == bits_;
}

std::pair<std::vector<array>, std::vector<int>> Quantize::vmap(const std::vector<array>& inputs,
                                                               const std::vector<int>& axes) {
  // The batch axis in front keeps the quantized axis last; quantize acts on any leading axes.
  array w = axes[0] < 0 ? inputs[0] : moveaxis(inputs[0], axes[0], 0, stream());
  auto [wq, sc, bi] = quantize(w, group_size_, bits_, stream());
  int ax = axes[0] < 0 ? -1 : 0;
  return {{wq, sc, bi}, {ax, ax, ax}};
}

std::vector<Shape> Dequantize::output_shapes(const std::vector<array>& inputs) {
  Shape s = inputs[0].shape();
  s.back() = s.back() * 32 / bits_;
  return {s};
}

bool Dequantize::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Dequantize*>(&other);
  return o && o->group_size_ == group_size_ && o->bits_ == bits_;
}

std::vector<array> Dequantize::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                   const std::vector<int>& argnums, const std::vector<array>&) {
  refuse_int_argnum("dequantize", argnums, 0);
  return ember::vjp(restricted(fallback(), primals, argnums), pick(primals, argnums), cotangents).second;
}

std::vector<array> Dequantize::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                   const std::vector<int>& argnums) {
  refuse_int_argnum("dequantize", argnums, 0);
  return ember::jvp(restricted(fallback(), primals, argnums), pick(primals, argnums), tangents).second;
}

std::vector<Shape> QuantizedMatmul::output_shapes(const std::vector<array>& inputs) {
  Shape s = inputs[0].shape();
  s.back() = transpose_ ? inputs[1].shape(0) : inputs[1].shape(1) * 32 / bits_;
  return {s};
}

bool QuantizedMatmul::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const QuantizedMatmul*>(&other);
  return o && o->transpose_ == transpose_ && o->group_size_ == group_size_ && o->bits_ == bits_ &&
         o->int8_x_ == int8_x_;
}

std::vector<array> QuantizedMatmul::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                        const std::vector<int>& argnums, const std::vector<array>&) {
  refuse_int_argnum("quantized_matmul", argnums, 1);
  return ember::vjp(restricted(fallback(), primals, argnums), pick(primals, argnums), cotangents).second;
}

std::vector<array> QuantizedMatmul::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                        const std::vector<int>& argnums) {
  refuse_int_argnum("quantized_matmul", argnums, 1);
  return ember::jvp(restricted(fallback(), primals, argnums), pick(primals, argnums), tangents).second;
}

std::vector<Shape> GatherQMM::output_shapes(const std::vector<array>& inputs) {
  const array& w = inputs[1];
  int N = transpose_ ? w.shape(1) : w.shape(2) * 32 / bits_;
  return {{inputs[4].shape(0), inputs[0].shape(1), N}};
}

bool GatherQMM::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const GatherQMM*>(&other);
  return o && o->transpose_ == transpose_ && o->group_size_ == group_size_ && o->bits_ == bits_;
}

std::vector<array> GatherQMM::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                  const std::vector<int>& argnums, const std::vector<array>&) {
  refuse_gather_argnums(argnums);
  return ember::vjp(restricted(fallback(), primals, argnums), pick(primals, argnums), cotangents).second;
}

std::vector<array> GatherQMM::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                  const std::vector<int>& argnums) {
  refuse_gather_argnums(argnums);
  return ember::jvp(restricted(fallback(), primals, argnums), pick(primals, argnums), tangents).second;
}

std::vector<Shape> QuantizedAttention::output_shapes(const std::vector<array>& inputs) {
  const array& q = inputs[0];
  return {{q.shape(0), q.shape(1), q.shape(2), inputs[4].shape(3) * 32 / bits_}};
}

bool QuantizedAttention::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const QuantizedAttention*>(&other);
  return o && o->scale_ == scale_ && o->has_mask_ == has_mask_ && o->group_size_ == group_size_ && o->bits_ == bits_;
}

namespace {
void refuse_attention_argnums(const std::vector<int>& argnums) {
  for (int a : argnums) {
    if (a == 1 || a == 4) refuse_int_argnum("quantized_scaled_dot_product_attention", argnums, a);
    if (a == 7) {
      throw std::invalid_argument("[quantized_scaled_dot_product_attention] the mask has no gradient");
    }
  }
}
}  // namespace

std::vector<array> QuantizedAttention::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                           const std::vector<int>& argnums, const std::vector<array>&) {
  refuse_attention_argnums(argnums);
  return ember::vjp(restricted(fallback(), primals, argnums), pick(primals, argnums), cotangents).second;
}

std::vector<array> QuantizedAttention::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                           const std::vector<int>& argnums) {
  refuse_attention_argnums(argnums);
  return ember::jvp(restricted(fallback(), primals, argnums), pick(primals, argnums), tangents).second;
}

// ---------------------------------------------------------------- ops

std::tuple<array, array, array> quantize(const array& w, int group_size, int bits, StreamOrDevice s) {
  check_params("quantize", group_size, bits);
  check_float("quantize", "w", w);
  if (w.ndim() < 2) {
    throw std::invalid_argument("[quantize] w must have at least 2 axes (..., N, K), got shape " +
                                shape_to_string(w.shape()));
  }
  if (w.shape(-1) % group_size != 0) {
    throw std::invalid_argument("[quantize] the last axis of w (" + std::to_string(w.shape(-1)) +
                                ") must be a multiple of group_size " + std::to_string(group_size));
  }
  auto prim = std::make_shared<Quantize>(to_stream(s), group_size, bits);
  std::vector<Shape> shapes = prim->output_shapes({w});
  auto outs = array::make_arrays(shapes, {uint32, w.dtype(), w.dtype()}, prim, {w});
  return {outs[0], outs[1], outs[2]};
}

array dequantize(const array& wq, const array& scales, const std::optional<array>& biases, int group_size, int bits,
                 StreamOrDevice s) {
  check_params("dequantize", group_size, bits);
  Dtype t = check_packed("dequantize", wq, scales, biases, group_size, bits);
  MultiFn fallback = [group_size, bits, t, s](const std::vector<array>& in) {
    return std::vector<array>{dequantize_ops(in[0], in[1], optional_at(in, 2), group_size, bits, t, s)};
  };
  auto prim = std::make_shared<Dequantize>(to_stream(s), fallback, group_size, bits);
  std::vector<array> inputs{wq, astype(scales, t, s)};
  if (biases) inputs.push_back(astype(*biases, t, s));
  if (use_fallback(*prim)) return fallback(inputs)[0];
  Shape shape = prim->output_shapes(inputs)[0];
  return array(shape, t, prim, std::move(inputs));
}

namespace {

array quantized_matmul_impl(const char* op, const array& x, const array& wq, const array& scales,
                            const std::optional<array>& biases, bool transpose, int group_size, int bits, bool int8_x,
                            StreamOrDevice s) {
  check_params(op, group_size, bits);
  check_float(op, "x", x);
  if (x.ndim() < 1) throw std::invalid_argument("[quantized_matmul] x must have at least 1 axis");
  if (wq.ndim() < 2) {
    throw std::invalid_argument("[quantized_matmul] wq must have at least 2 axes, got shape " +
                                shape_to_string(wq.shape()));
  }
  Dtype st = check_packed(op, wq, scales, biases, group_size, bits);
  if (wq.ndim() > 2) {
    // A batch of matrices (MLX: a quantized KV cache's keys): the batch axes of x and w
    // broadcast, as gather_qmm's default indices do; a 1-D x is a row.
    array x2 = x.ndim() == 1 ? reshape(x, {1, x.shape(0)}, s) : x;
    array b = biases ? *biases : multiply(scales, array(-static_cast<float>(1 << (bits - 1)), scales.dtype()), s);
    array y = gather_qmm(x2, wq, scales, b, std::nullopt, std::nullopt, transpose, group_size, bits, s);
    if (x.ndim() == 1) {
      Shape shape = y.shape();
      shape.erase(shape.end() - 2);
      y = reshape(y, shape, s);
    }
    return y;
  }
  int64_t unpacked = static_cast<int64_t>(wq.shape(1)) * 32 / bits;
  int64_t K = transpose ? unpacked : wq.shape(0);
  if (x.shape(-1) != K) {
    throw std::invalid_argument(std::string("[quantized_matmul] the last axis of x (") + std::to_string(x.shape(-1)) +
                                ") must equal K = " + std::to_string(K) + " of the weights (wq of shape " +
                                shape_to_string(wq.shape()) + ", " + std::to_string(bits) + " bits, transpose " +
                                (transpose ? "true" : "false") + ")");
  }
  Dtype t = promote_types(x.dtype(), st);
  MultiFn fallback = [transpose, group_size, bits, t, s](const std::vector<array>& in) {
    std::optional<array> b = optional_at(in, 3);
    array w = dequantize(in[1], astype(in[2], float32, s), b ? std::optional(astype(*b, float32, s)) : std::nullopt,
                         group_size, bits, s);
    array y = matmul(astype(in[0], float32, s), transpose ? swapaxes(w, -1, -2, s) : w, s);
    return std::vector<array>{astype(y, t, s)};
  };
  auto prim = std::make_shared<QuantizedMatmul>(to_stream(s), fallback, transpose, group_size, bits, int8_x);
  std::vector<array> inputs{astype(x, float32, s), wq, astype(scales, st, s)};
  if (biases) inputs.push_back(astype(*biases, st, s));
  if (use_fallback(*prim)) return fallback(inputs)[0];
  Shape shape = prim->output_shapes(inputs)[0];
  return array(shape, t, prim, std::move(inputs));
}

}  // namespace

array quantized_matmul(const array& x, const array& wq, const array& scales, const std::optional<array>& biases,
                       bool transpose, int group_size, int bits, StreamOrDevice s) {
  return quantized_matmul_impl("quantized_matmul", x, wq, scales, biases, transpose, group_size, bits, false, s);
}

array quantized_matmul_int8_activations(const array& x, const array& wq, const array& scales,
                                        const std::optional<array>& biases, bool transpose, int group_size, int bits,
                                        StreamOrDevice s) {
  return quantized_matmul_impl("quantized_matmul_int8_activations", x, wq, scales, biases, transpose, group_size, bits,
                               true, s);
}

array gather_qmm(const array& x, const array& wq, const array& scales, const array& biases,
                 const std::optional<array>& lhs_indices, const std::optional<array>& rhs_indices, bool transpose,
                 int group_size, int bits, StreamOrDevice s) {
  const char* op = "gather_qmm";
  check_params(op, group_size, bits);
  check_float(op, "x", x);
  if (x.ndim() < 2) {
    throw std::invalid_argument("[gather_qmm] x must have at least 2 axes (..., M, K), got shape " +
                                shape_to_string(x.shape()));
  }
  Dtype st = check_packed(op, wq, scales, biases, group_size, bits);
  const int64_t cols = static_cast<int64_t>(wq.shape(-1)) * 32 / bits;
  const int64_t K = transpose ? cols : wq.shape(-2), N = transpose ? wq.shape(-2) : cols;
  if (x.shape(-1) != K) {
    throw std::invalid_argument("[gather_qmm] the last axis of x (" + std::to_string(x.shape(-1)) +
                                ") must equal K = " + std::to_string(K) + " of the weights (wq of shape " +
                                shape_to_string(wq.shape()) + ", " + std::to_string(bits) + " bits, transpose " +
                                (transpose ? "true" : "false") + ")");
  }
  // Flat indices into the batch axes; by default every matrix in order, shaped as the batch.
  auto batch = [](const array& a) { return Shape(a.shape().begin(), a.shape().end() - 2); };
  auto count = [](const Shape& sh) {
    int64_t n = 1;
    for (int d : sh) n *= d;
    return n;
  };
  auto indices = [&](const std::optional<array>& given, const array& a, const char* which) {
    if (!given) return reshape(arange(0.0, static_cast<double>(count(batch(a))), 1.0, uint32, s), batch(a), s);
    if (!is_integral(given->dtype())) {
      throw std::invalid_argument(std::string("[gather_qmm] ") + which + " must be an integer array, got " +
                                  dtype_name(given->dtype()));
    }
    return astype(*given, uint32, s);
  };
  array li = indices(lhs_indices, x, "lhs_indices"), ri = indices(rhs_indices, wq, "rhs_indices");
  Shape out_batch = broadcast_shapes(li.shape(), ri.shape());
  const int L = static_cast<int>(count(out_batch));
  li = reshape(broadcast_to(li, out_batch, s), {L}, s);
  ri = reshape(broadcast_to(ri, out_batch, s), {L}, s);
  const int M = x.shape(-2);
  array x3 = reshape(astype(x, float32, s), {static_cast<int>(count(batch(x))), M, static_cast<int>(K)}, s);
  auto as3 = [&](const array& a) {
    return reshape(a, {static_cast<int>(count(batch(a))), a.shape(-2), a.shape(-1)}, s);
  };
  array w3 = as3(wq), s3 = as3(astype(scales, st, s)), b3 = as3(astype(biases, st, s));
  Dtype t = promote_types(x.dtype(), st);
  MultiFn fallback = [transpose, group_size, bits, t, s](const std::vector<array>& in) {
    array w = dequantize(take(in[1], in[5], 0, s), astype(take(in[2], in[5], 0, s), float32, s),
                         astype(take(in[3], in[5], 0, s), float32, s), group_size, bits, s);
    array y = matmul(take(in[0], in[4], 0, s), transpose ? swapaxes(w, -1, -2, s) : w, s);
    return std::vector<array>{astype(y, t, s)};
  };
  auto prim = std::make_shared<GatherQMM>(to_stream(s), fallback, transpose, group_size, bits);
  std::vector<array> inputs{x3, w3, s3, b3, li, ri};
  Shape shape = out_batch;
  shape.push_back(M);
  shape.push_back(static_cast<int>(N));
  if (use_fallback(*prim)) return reshape(fallback(inputs)[0], shape, s);
  Shape flat = prim->output_shapes(inputs)[0];
  return reshape(array(flat, t, prim, std::move(inputs)), shape, s);
}

array quantized_scaled_dot_product_attention(const array& q, const array& k_wq, const array& k_scales,
                                             const array& k_biases, const array& v_wq, const array& v_scales,
                                             const array& v_biases, float scale, const std::optional<array>& mask,
                                             int group_size, int bits, StreamOrDevice s) {
  const char* op = "quantized_scaled_dot_product_attention";
  check_params(op, group_size, bits);
  check_float(op, "q", q);
  if (q.ndim() != 4 || k_wq.ndim() != 4 || v_wq.ndim() != 4) {
    throw std::invalid_argument(
        "[quantized_scaled_dot_product_attention] q and the keys' and values' wq must be 4-D "
        "(B, H, T, .), got shapes " +
        shape_to_string(q.shape()) + ", " + shape_to_string(k_wq.shape()) + ", " + shape_to_string(v_wq.shape()));
  }
  Dtype st = check_packed(op, k_wq, k_scales, k_biases, group_size, bits);
  check_packed(op, v_wq, v_scales, v_biases, group_size, bits);
  const int B = q.shape(0), Hq = q.shape(1), Tq = q.shape(2), D = q.shape(3);
  const int Hkv = k_wq.shape(1), Tk = k_wq.shape(2);
  const int64_t Dk = static_cast<int64_t>(k_wq.shape(3)) * 32 / bits,
                Dv = static_cast<int64_t>(v_wq.shape(3)) * 32 / bits;
  if (k_wq.shape(0) != B || v_wq.shape(0) != B || v_wq.shape(1) != Hkv || v_wq.shape(2) != Tk || Dk != D) {
    throw std::invalid_argument(
        "[quantized_scaled_dot_product_attention] the keys must be (B, Hkv, Tk, D) and the values (B, Hkv, Tk, Dv) "
        "for q (B, Hq, Tq, D) = " +
        shape_to_string(q.shape()) + "; got keys of " + std::to_string(Dk) + " and values of " + std::to_string(Dv) +
        " per position, wq shapes " + shape_to_string(k_wq.shape()) + " and " + shape_to_string(v_wq.shape()));
  }
  if (Hkv == 0 || Hq % Hkv != 0) {
    throw std::invalid_argument("[quantized_scaled_dot_product_attention] the query heads (" + std::to_string(Hq) +
                                ") must be a multiple of the key/value heads (" + std::to_string(Hkv) + ")");
  }
  std::vector<array> inputs{astype(q, float32, s),   k_wq, astype(k_scales, st, s),
                            astype(k_biases, st, s), v_wq, astype(v_scales, st, s),
                            astype(v_biases, st, s)};
  const Shape full{B, Hq, Tq, Tk};
  if (mask) {
    if (mask->dtype() != bool_) {
      throw std::invalid_argument("[quantized_scaled_dot_product_attention] the mask must be boolean, got " +
                                  dtype_name(mask->dtype()));
    }
    bool fits = mask->ndim() <= 4;
    for (size_t i = 0; fits && i < mask->ndim(); ++i) {
      const int m = mask->shape(static_cast<int>(i)), f = full[4 - mask->ndim() + i];
      fits = m == 1 || m == f;
    }
    if (!fits) {
      throw std::invalid_argument("[quantized_scaled_dot_product_attention] the mask of shape " +
                                  shape_to_string(mask->shape()) +
                                  " does not broadcast to (B, Hq, Tq, Tk) = " + shape_to_string(full));
    }
    inputs.push_back(broadcast_to(*mask, full, s));
  }
  const int rep = Hq / Hkv;
  // The rep query heads of a key head are rows of one product with its matrices.
  MultiFn fallback = [scale, group_size, bits, rep, s](const std::vector<array>& in) {
    const int B = in[0].shape(0), Hq = in[0].shape(1), Tq = in[0].shape(2), D = in[0].shape(3);
    const int Hkv = in[1].shape(1), Tk = in[1].shape(2);
    auto mats = [&](const array& a) { return reshape(a, {B * Hkv, Tk, a.shape(3)}, s); };
    array qs = reshape(multiply(in[0], array(scale), s), {B * Hkv, rep * Tq, D}, s);
    array sc =
        gather_qmm(qs, mats(in[1]), mats(in[2]), mats(in[3]), std::nullopt, std::nullopt, true, group_size, bits, s);
    if (in.size() > 7) {
      sc = where(reshape(in[7], {B * Hkv, rep * Tq, Tk}, s), sc, array(std::numeric_limits<float>::lowest()), s);
    }
    array p = softmax(sc, -1, true, s);
    array o =
        gather_qmm(p, mats(in[4]), mats(in[5]), mats(in[6]), std::nullopt, std::nullopt, false, group_size, bits, s);
    return std::vector<array>{reshape(o, {B, Hq, Tq, o.shape(2)}, s)};
  };
  auto prim = std::make_shared<QuantizedAttention>(to_stream(s), fallback, scale, mask.has_value(), group_size, bits);
  const bool kernel_shape = rep * Tq <= QuantizedAttention::kMaxRows && Tk > 0;
  if (!kernel_shape || use_fallback(*prim, false)) return astype(fallback(inputs)[0], q.dtype(), s);
  return astype(array(Shape{B, Hq, Tq, static_cast<int>(Dv)}, float32, prim, std::move(inputs)), q.dtype(), s);
}

}  // namespace ember
