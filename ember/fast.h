// Fused ops for transformer models, mirroring mlx.core.fast: rms_norm, layer_norm, rope and
// scaled_dot_product_attention.
//
// Each is one primitive with a CPU kernel and a fallback composed of basic ops (see
// ../shared/STYLE.md). The fallback is the gradient (vjp/jvp differentiate it), the batching
// rule (vmap maps it), the path on a backend without the kernel, and the tests' oracle.
#pragma once

#include <optional>
#include <string>

#include "ember/array.h"
#include "ember/device.h"

namespace ember::fast {

/// x * rsqrt(mean(x^2, -1) + eps) * weight over the last axis, computed in float32 (float64
/// for float64 input). weight: 1-D of size x.shape(-1), or none. The result has the type
/// promoted from x and weight.
array rms_norm(const array& x, const std::optional<array>& weight, float eps, StreamOrDevice s = {});

/// (x - mean) * rsqrt(var + eps) * weight + bias over the last axis (biased variance),
/// computed in float32 (float64 for float64 input). weight, bias: 1-D of size x.shape(-1), or none.
array layer_norm(const array& x, const std::optional<array>& weight, const std::optional<array>& bias, float eps,
                 StreamOrDevice s = {});

/// Rotary position embedding of the first `dims` features of x: (..., T, D), positions along
/// axis -2 starting at `offset`. Pair i of features, (2i, 2i+1) when `traditional` else
/// (i, i + dims/2), turns by angle (offset + t) * scale * base^(-2i/dims), or
/// (offset + t) * scale / freqs[i] when `freqs` (1-D, dims/2) is given instead of `base`.
/// Features from `dims` on pass through.
array rope(const array& x, int dims, bool traditional, std::optional<float> base, float scale, int offset,
           const std::optional<array>& freqs = std::nullopt, StreamOrDevice s = {});
/// rope with the start positions in an integer array: a scalar, or (x at least 3-D) one start
/// per index of x's axis 0, so each sequence of a batch turns from its own position.
array rope(const array& x, int dims, bool traditional, std::optional<float> base, float scale, const array& offset,
           const std::optional<array>& freqs = std::nullopt, StreamOrDevice s = {});

/// softmax(q @ k^T * scale + mask) @ v with grouped-query attention: q (B, Hq, Tq, D),
/// k (B, Hkv, Tk, D), v (B, Hkv, Tk, Dv) with Hq a multiple of Hkv; the result is
/// (B, Hq, Tq, Dv). `mask_mode` is "" or "causal" (query i sees keys j <= i + Tk - Tq);
/// `mask` is a boolean (true = attend) or additive mask broadcastable to (B, Hq, Tq, Tk).
/// The softmax runs in float32 and K/V are never repeated in memory. On the CPU, a float32
/// "causal" call over at most kRowExactKeys keys computes each query row over exactly the keys
/// it sees, so a row's result does not depend on the call's other rows (a prompt's positions
/// come out the same prefilled whole, in steps or after a cached prefix); longer ones take
/// blocked BLAS products, whose rounding depends on the shapes.
inline constexpr int kRowExactKeys = 1024;
array scaled_dot_product_attention(const array& q, const array& k, const array& v, float scale,
                                   const std::string& mask_mode = "", const std::optional<array>& mask = std::nullopt,
                                   StreamOrDevice s = {});

}  // namespace ember::fast
