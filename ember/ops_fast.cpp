// The fused transformer ops (ember/fast.h): argument checks, the fallbacks composed of basic
// ops, and the transforms every fused primitive shares (through its fallback).
#include <cmath>
#include <limits>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>

#include "ember/backend/gpu.h"
#include "ember/fast.h"
#include "ember/ops.h"
#include "ember/primitives_fast.h"
#include "ember/utils.h"

namespace ember {

// ---------------------------------------------------------------- Fused: transforms via the fallback

std::vector<array> Fused::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                              const std::vector<int>& argnums, const std::vector<array>& outputs) {
  std::vector<array> all = ember::vjp(fallback_, primals, cotangents).second;
  std::vector<array> out;
  for (int a : argnums) out.push_back(all[a]);
  return out;
}

std::vector<array> Fused::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                              const std::vector<int>& argnums) {
  std::vector<array> all;
  for (auto& p : primals) all.push_back(zeros_like(p));
  for (size_t k = 0; k < argnums.size(); ++k) all[argnums[k]] = tangents[k];
  return ember::jvp(fallback_, primals, all).second;
}

std::pair<std::vector<array>, std::vector<int>> Fused::vmap(const std::vector<array>& inputs,
                                                            const std::vector<int>& axes) {
  std::vector<array> outs = ember::vmap(fallback_, axes)(inputs);
  return {outs, std::vector<int>(outs.size(), 0)};
}

namespace {
struct FallbackNames {
  std::mutex mu;
  std::set<std::string> names;
};
FallbackNames& fallback_names() {
  static auto* f = new FallbackNames;  // leaked: ops may run during static destruction
  return *f;
}
}  // namespace

bool use_fallback(const Fused& p, bool gpu_kernel_takes) {
  if (p.stream().device.type != Device::gpu || (gpu_kernel_takes && gpu::has_kernel(p))) return false;
  auto& f = fallback_names();
  std::lock_guard lk(f.mu);
  f.names.insert(p.name());
  return true;
}

std::vector<std::string> built_as_fallback() {
  auto& f = fallback_names();
  std::lock_guard lk(f.mu);
  return {f.names.begin(), f.names.end()};
}

bool RMSNorm::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const RMSNorm*>(&other);
  return o && o->eps_ == eps_ && o->has_weight_ == has_weight_;
}

bool LayerNorm::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const LayerNorm*>(&other);
  return o && o->eps_ == eps_ && o->has_weight_ == has_weight_ && o->has_bias_ == has_bias_;
}

bool RoPE::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const RoPE*>(&other);
  return o && o->dims_ == dims_ && o->traditional_ == traditional_ && o->base_ == base_ && o->scale_ == scale_ &&
         o->offset_ == offset_ && o->has_freqs_ == has_freqs_ && o->has_offsets_ == has_offsets_;
}

bool ScaledDotProductAttention::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const ScaledDotProductAttention*>(&other);
  return o && o->scale_ == scale_ && o->causal_ == causal_ && o->has_mask_ == has_mask_;
}

std::vector<Shape> ScaledDotProductAttention::output_shapes(const std::vector<array>& inputs) {
  Shape s = inputs[0].shape();
  s.back() = inputs[2].shape().back();
  return {s};
}

namespace fast {

namespace {

// The dtype a norm computes in: float64 stays float64, everything else float32.
Dtype compute_dtype(Dtype t) { return t == float64 ? float64 : float32; }

// Checks that `w` (a norm's weight or bias) is 1-D of size `dim`; returns it cast to `dtype`.
array check_affine(const char* op, const char* what, const array& w, int dim, Dtype dtype, StreamOrDevice s) {
  if (w.ndim() != 1 || w.shape(0) != dim) {
    throw std::invalid_argument(std::string("[") + op + "] " + what + " must be 1-D of size " + std::to_string(dim) +
                                " (the last axis of x), got shape " + shape_to_string(w.shape()));
  }
  return astype(w, dtype, s);
}

// The dtype of a norm's result: x's and the affine parameters' types promoted, floating.
Dtype norm_dtype(const char* op, const array& x, const std::optional<array>& w, const std::optional<array>& b) {
  if (x.ndim() == 0) throw std::invalid_argument(std::string("[") + op + "] x must have at least one axis");
  Dtype t = x.dtype();
  if (w) t = promote_types(t, w->dtype());
  if (b) t = promote_types(t, b->dtype());
  if (!is_floating_point(t)) {
    throw std::invalid_argument(std::string("[") + op + "] expects floating-point inputs, got " + dtype_name(t));
  }
  return t;
}

}  // namespace

array rms_norm(const array& x_in, const std::optional<array>& weight, float eps, StreamOrDevice s) {
  Dtype t = norm_dtype("rms_norm", x_in, weight, std::nullopt);
  array x = astype(x_in, t, s);
  std::vector<array> inputs{x};
  if (weight) inputs.push_back(check_affine("rms_norm", "weight", *weight, x.shape(-1), t, s));
  MultiFn fallback = [eps, t, s](const std::vector<array>& in) {
    array xc = astype(in[0], compute_dtype(t), s);
    array r = rsqrt(add(mean(square(xc, s), -1, true, s), array(eps, xc.dtype()), s), s);
    array y = astype(multiply(xc, r, s), t, s);
    if (in.size() > 1) y = multiply(y, in[1], s);
    return std::vector<array>{y};
  };
  auto prim = std::make_shared<RMSNorm>(to_stream(s), fallback, eps, weight.has_value());
  if (use_fallback(*prim)) return fallback(inputs)[0];
  return array(x.shape(), t, prim, std::move(inputs));
}

array layer_norm(const array& x_in, const std::optional<array>& weight, const std::optional<array>& bias, float eps,
                 StreamOrDevice s) {
  Dtype t = norm_dtype("layer_norm", x_in, weight, bias);
  array x = astype(x_in, t, s);
  std::vector<array> inputs{x};
  if (weight) inputs.push_back(check_affine("layer_norm", "weight", *weight, x.shape(-1), t, s));
  if (bias) inputs.push_back(check_affine("layer_norm", "bias", *bias, x.shape(-1), t, s));
  bool has_w = weight.has_value(), has_b = bias.has_value();
  MultiFn fallback = [eps, t, has_w, has_b, s](const std::vector<array>& in) {
    array xc = astype(in[0], compute_dtype(t), s);
    array centered = subtract(xc, mean(xc, -1, true, s), s);
    array v = mean(square(centered, s), -1, true, s);
    array y = astype(multiply(centered, rsqrt(add(v, array(eps, xc.dtype()), s), s), s), t, s);
    size_t k = 1;
    if (has_w) y = multiply(y, in[k++], s);
    if (has_b) y = add(y, in[k], s);
    return std::vector<array>{y};
  };
  auto prim = std::make_shared<LayerNorm>(to_stream(s), fallback, eps, has_w, has_b);
  if (use_fallback(*prim)) return fallback(inputs)[0];
  return array(x.shape(), t, prim, std::move(inputs));
}

namespace {

// rope with positions starting at `offset`, or at `offsets` (int32, () or (x.shape(0),)) when given.
array rope_impl(const array& x, int dims, bool traditional, std::optional<float> base, float scale, int offset,
                const std::optional<array>& offsets, const std::optional<array>& freqs, StreamOrDevice s) {
  if (x.ndim() < 2) {
    throw std::invalid_argument("[rope] x must have at least 2 axes (..., T, D), got shape " +
                                shape_to_string(x.shape()));
  }
  if (!is_floating_point(x.dtype())) {
    throw std::invalid_argument(std::string("[rope] expects a floating-point x, got ") + dtype_name(x.dtype()));
  }
  int D = x.shape(-1);
  if (dims <= 0 || dims % 2 != 0 || dims > D) {
    throw std::invalid_argument("[rope] dims must be even and in (0, " + std::to_string(D) + "], got " +
                                std::to_string(dims));
  }
  if (base.has_value() == freqs.has_value()) {
    throw std::invalid_argument("[rope] give exactly one of base and freqs");
  }
  if (offset < 0) throw std::invalid_argument("[rope] offset must be >= 0, got " + std::to_string(offset));
  int half = dims / 2;
  std::vector<array> inputs{x};
  if (freqs) {
    if (freqs->ndim() != 1 || freqs->shape(0) != half) {
      throw std::invalid_argument("[rope] freqs must be 1-D of size dims / 2 = " + std::to_string(half) +
                                  ", got shape " + shape_to_string(freqs->shape()));
    }
    inputs.push_back(astype(*freqs, x.dtype() == float64 ? float64 : float32, s));
  }
  const bool has_offsets = offsets.has_value();
  if (has_offsets) {
    const array& o = *offsets;
    if (!is_integral(o.dtype())) {
      throw std::invalid_argument(std::string("[rope] offset must be an integer array, got ") + dtype_name(o.dtype()));
    }
    const bool per_row = o.ndim() == 1 && x.ndim() >= 3 && o.shape(0) == x.shape(0);
    if (o.ndim() != 0 && !per_row) {
      throw std::invalid_argument(
          "[rope] an offset array must be a scalar or hold one offset per index of x's axis 0 "
          "(x at least 3-D), got offset shape " +
          shape_to_string(o.shape()) + " for x of shape " + shape_to_string(x.shape()));
    }
    inputs.push_back(astype(o, int32, s));
  }
  float b = base.value_or(0.0f);
  bool has_freqs = freqs.has_value();
  // The angles in float32 (float64 for float64 x): positions times inverse frequencies.
  MultiFn fallback = [dims, half, traditional, b, scale, offset, has_freqs, has_offsets,
                      s](const std::vector<array>& in) {
    const array& xi = in[0];
    int T = xi.shape(-2), nd = static_cast<int>(xi.ndim());
    Dtype ct = xi.dtype() == float64 ? float64 : float32;
    array inv =
        has_freqs
            ? reciprocal(astype(in[1], ct, s), s)
            : exp(multiply(astype(arange(0, half, s), ct, s), array(-std::log(static_cast<double>(b)) / half, ct), s),
                  s);
    // Positions (T, 1), or (B, 1, ..., T, 1) with one start per index of axis 0.
    array pos(0.0f);
    if (has_offsets) {
      const array& o = in.back();
      Shape sh(nd, 1);
      if (o.ndim() == 1) sh[0] = o.shape(0);
      array start = reshape(o, sh, s);
      Shape tsh(nd, 1);
      tsh[nd - 2] = T;
      pos = add(start, reshape(arange(0, T, s), tsh, s), s);
    } else {
      pos = reshape(arange(offset, offset + T, s), {T, 1}, s);
    }
    pos = multiply(astype(pos, ct, s), array(static_cast<double>(scale), ct), s);
    array theta = multiply(pos, reshape(inv, {1, half}, s), s);  // (..., T, half)
    array c = cos(theta, s), sn = sin(theta, s);
    array xf = astype(xi, ct, s);
    Shape start(nd, 0), stop = xi.shape(), step(nd, 1);
    auto part = [&](int from, int to, int stride) {
      Shape a = start, e = stop, st = step;
      a.back() = from;
      e.back() = to;
      st.back() = stride;
      return slice(xf, a, e, st, s);
    };
    array x1 = traditional ? part(0, dims, 2) : part(0, half, 1);
    array x2 = traditional ? part(1, dims, 2) : part(half, dims, 1);
    array r1 = subtract(multiply(x1, c, s), multiply(x2, sn, s), s);
    array r2 = add(multiply(x1, sn, s), multiply(x2, c, s), s);
    array rotated = traditional ? reshape(
                                      stack({r1, r2}, -1, s),
                                      [&] {
                                        Shape sh = xi.shape();
                                        sh.back() = dims;
                                        return sh;
                                      }(),
                                      s)
                                : concatenate({r1, r2}, -1, s);
    if (dims < xi.shape(-1)) rotated = concatenate({rotated, part(dims, xi.shape(-1), 1)}, -1, s);
    return std::vector<array>{astype(rotated, xi.dtype(), s)};
  };
  auto prim =
      std::make_shared<RoPE>(to_stream(s), fallback, dims, traditional, b, scale, offset, has_freqs, has_offsets);
  // The GPU kernel takes one start position.
  if (use_fallback(*prim, !has_offsets)) return fallback(inputs)[0];
  return array(x.shape(), x.dtype(), prim, std::move(inputs));
}

}  // namespace

array rope(const array& x, int dims, bool traditional, std::optional<float> base, float scale, int offset,
           const std::optional<array>& freqs, StreamOrDevice s) {
  return rope_impl(x, dims, traditional, base, scale, offset, std::nullopt, freqs, s);
}

array rope(const array& x, int dims, bool traditional, std::optional<float> base, float scale, const array& offset,
           const std::optional<array>& freqs, StreamOrDevice s) {
  return rope_impl(x, dims, traditional, base, scale, 0, offset, freqs, s);
}

array scaled_dot_product_attention(const array& q, const array& k, const array& v, float scale,
                                   const std::string& mask_mode, const std::optional<array>& mask, StreamOrDevice s) {
  const char* op = "[scaled_dot_product_attention] ";
  if (q.ndim() != 4 || k.ndim() != 4 || v.ndim() != 4) {
    throw std::invalid_argument(std::string(op) + "q, k and v must be 4-D (B, H, T, D), got shapes " +
                                shape_to_string(q.shape()) + ", " + shape_to_string(k.shape()) + ", " +
                                shape_to_string(v.shape()));
  }
  int B = q.shape(0), Hq = q.shape(1), Tq = q.shape(2), D = q.shape(3);
  int Hkv = k.shape(1), Tk = k.shape(2), Dv = v.shape(3);
  if (k.shape(0) != B || v.shape(0) != B || v.shape(1) != Hkv || v.shape(2) != Tk || k.shape(3) != D) {
    throw std::invalid_argument(
        std::string(op) + "k must be (B, Hkv, Tk, D) and v (B, Hkv, Tk, Dv) for q (B, Hq, Tq, D); got q " +
        shape_to_string(q.shape()) + ", k " + shape_to_string(k.shape()) + ", v " + shape_to_string(v.shape()));
  }
  if (Hkv == 0 || Hq % Hkv != 0) {
    throw std::invalid_argument(std::string(op) + "the query heads (" + std::to_string(Hq) +
                                ") must be a multiple of the key/value heads (" + std::to_string(Hkv) + ")");
  }
  if (mask_mode != "" && mask_mode != "causal") {
    throw std::invalid_argument(std::string(op) + "mask_mode must be \"\" or \"causal\", got \"" + mask_mode + "\"");
  }
  if (mask_mode == "causal" && mask) {
    throw std::invalid_argument(std::string(op) + "give either mask_mode=\"causal\" or a mask array, not both");
  }
  Dtype t = promote_types(q.dtype(), promote_types(k.dtype(), v.dtype()));
  if (!is_floating_point(t)) {
    throw std::invalid_argument(std::string(op) + "expects floating-point q, k, v, got " + dtype_name(t));
  }
  std::vector<array> inputs{astype(q, t, s), astype(k, t, s), astype(v, t, s)};
  bool causal = mask_mode == "causal", has_mask = mask.has_value();
  if (mask) {
    Shape full{B, Hq, Tq, Tk};
    if (mask->ndim() > 4) {
      throw std::invalid_argument(std::string(op) + "the mask has " + std::to_string(mask->ndim()) +
                                  " axes; it must broadcast to (B, Hq, Tq, Tk) = " + shape_to_string(full));
    }
    for (size_t i = 0; i < mask->ndim(); ++i) {
      int m = mask->shape(static_cast<int>(i)), f = full[4 - mask->ndim() + i];
      if (m != 1 && m != f) {
        throw std::invalid_argument(std::string(op) + "the mask of shape " + shape_to_string(mask->shape()) +
                                    " does not broadcast to (B, Hq, Tq, Tk) = " + shape_to_string(full));
      }
    }
    Dtype mt = mask->dtype() == bool_ ? bool_ : (t == float64 ? float64 : float32);
    inputs.push_back(broadcast_to(astype(*mask, mt, s), full, s));
  }
  int n_rep = Hq / std::max(Hkv, 1);
  // Grouped heads as a 5-D batch (B, Hkv, n_rep, T, D) against (B, Hkv, 1, Tk, D): K and V are
  // broadcast, not copied.
  MultiFn fallback = [scale, causal, has_mask, n_rep, t, s](const std::vector<array>& in) {
    int B = in[0].shape(0), Hq = in[0].shape(1), Tq = in[0].shape(2), D = in[0].shape(3);
    int Hkv = in[1].shape(1), Tk = in[1].shape(2), Dv = in[2].shape(3);
    Dtype ct = t == float64 ? float64 : float32;
    array qg = reshape(astype(in[0], ct, s), {B, Hkv, n_rep, Tq, D}, s);
    array kg = expand_dims(astype(in[1], ct, s), 2, s);
    array vg = expand_dims(astype(in[2], ct, s), 2, s);
    array scores = multiply(matmul(qg, swapaxes(kg, -1, -2, s), s), array(scale, ct), s);  // (B,Hkv,r,Tq,Tk)
    array lowest =
        array(ct == float64 ? std::numeric_limits<double>::lowest() : std::numeric_limits<float>::lowest(), ct);
    if (causal) {
      array rows = reshape(arange(Tk - Tq, Tk, s), {Tq, 1}, s);
      array cols = reshape(arange(0, Tk, s), {1, Tk}, s);
      scores = where(less_equal(cols, rows, s), scores, lowest, s);
    } else if (has_mask) {
      array m = reshape(in[3], {B, Hkv, n_rep, Tq, Tk}, s);
      scores = m.dtype() == bool_ ? where(m, scores, lowest, s) : add(scores, m, s);
    }
    array p = softmax(scores, -1, true, s);
    array o = matmul(p, vg, s);  // (B, Hkv, r, Tq, Dv)
    return std::vector<array>{astype(reshape(o, {B, Hq, Tq, Dv}, s), t, s)};
  };
  auto prim = std::make_shared<ScaledDotProductAttention>(to_stream(s), fallback, scale, causal, has_mask);
  const bool gpu_kernel_shape = Tq <= ScaledDotProductAttention::kGpuMaxQueries && Tk > 0 &&
                                std::max(D, Dv) <= ScaledDotProductAttention::kGpuMaxHead && t != float64;
  if (use_fallback(*prim, gpu_kernel_shape)) return fallback(inputs)[0];
  return array(Shape{B, Hq, Tq, Dv}, t, prim, std::move(inputs));
}

}  // namespace fast
}  // namespace ember
