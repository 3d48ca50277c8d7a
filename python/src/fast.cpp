// ember.core.fast, as mlx.core.fast: the fused transformer ops of ember/fast.h.
#include "common.h"

#include "ember/fast.h"

namespace ember::py {

void init_fast(nb::module_& parent) {
  nb::module_ m = parent.def_submodule("fast", "Fused transformer ops, as mlx.core.fast.");
  m.def(
      "rms_norm",
      [](const ArrayLike& x, std::optional<ArrayLike> weight, float eps, StreamOrDevice s) {
        return fast::rms_norm(x, weight ? std::optional<array>(weight->get()) : std::nullopt, eps, s);
      },
      "x"_a, "weight"_a.none(), "eps"_a, nb::kw_only(), "stream"_a = nb::none(),
      "rms_norm(x, weight, eps, *, stream=None)\n\n"
      "x * rsqrt(mean(x**2, -1) + eps) * weight over the last axis, in float32. weight: 1-D "
      "of size x.shape[-1], or None.");
  m.def(
      "layer_norm",
      [](const ArrayLike& x, std::optional<ArrayLike> weight, std::optional<ArrayLike> bias, float eps,
         StreamOrDevice s) {
        return fast::layer_norm(x, weight ? std::optional<array>(weight->get()) : std::nullopt,
                                bias ? std::optional<array>(bias->get()) : std::nullopt, eps, s);
      },
      "x"_a, "weight"_a.none(), "bias"_a.none(), "eps"_a, nb::kw_only(), "stream"_a = nb::none(),
      "layer_norm(x, weight, bias, eps, *, stream=None)\n\n"
      "(x - mean) * rsqrt(var + eps) * weight + bias over the last axis; weight and bias may be None.");
  m.def(
      "rope",
      [](const ArrayLike& a, int dims, bool traditional, std::optional<float> base, float scale, nb::handle offset,
         std::optional<ArrayLike> freqs, StreamOrDevice s) {
        auto f = freqs ? std::optional<array>(freqs->get()) : std::nullopt;
        if (PyLong_Check(offset.ptr()) && !PyBool_Check(offset.ptr())) {
          return fast::rope(a, dims, traditional, base, scale, nb::cast<int>(offset), f, s);
        }
        return fast::rope(a, dims, traditional, base, scale, to_array(offset), f, s);
      },
      "a"_a, "dims"_a, nb::kw_only(), "traditional"_a, "base"_a.none(), "scale"_a, "offset"_a, "freqs"_a = nb::none(),
      "stream"_a = nb::none(),
      "rope(a, dims, *, traditional, base, scale, offset, freqs=None, stream=None)\n\n"
      "Rotary position embedding of the first dims features of a (..., L, D), positions offset + i "
      "along axis -2 (offset an int, an integer array scalar, or one start per index of a's axis 0). traditional "
      "rotates pairs (2j, 2j+1), otherwise (j, j + dims/2); the angle is "
      "(offset + i) * scale * base**(-2j/dims), or (offset + i) * scale / freqs[j] when freqs is "
      "given (then base must be None).");
  m.def(
      "scaled_dot_product_attention",
      [](const ArrayLike& q, const ArrayLike& k, const ArrayLike& v, float scale,
         std::variant<std::monostate, std::string, ArrayLike> mask, StreamOrDevice s) {
        std::string mode;
        std::optional<array> arr;
        if (auto* m = std::get_if<std::string>(&mask)) mode = *m;
        if (auto* m = std::get_if<ArrayLike>(&mask)) arr = m->get();
        return fast::scaled_dot_product_attention(q, k, v, scale, mode, arr, s);
      },
      "q"_a, "k"_a, "v"_a, nb::kw_only(), "scale"_a, "mask"_a = nb::none(), "stream"_a = nb::none(),
      "scaled_dot_product_attention(q, k, v, *, scale, mask=None, stream=None)\n\n"
      "softmax(q @ k.T * scale + mask) @ v for q (B, Hq, Lq, D), k (B, Hkv, Lk, D), v (B, Hkv, Lk, Dv) "
      "with Hq a multiple of Hkv (grouped-query attention without repeating k and v). mask: None, "
      "\"causal\", or a boolean (True attends) or additive array broadcastable to (B, Hq, Lq, Lk).");
}

}  // namespace ember::py
