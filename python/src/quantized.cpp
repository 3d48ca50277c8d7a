// ember.core.quantize / dequantize / quantized_matmul / gather_qmm (ember/quantized.h), with MLX's
// signatures.
#include "common.h"

#include "ember/quantized.h"

namespace ember::py {

void init_quantized(nb::module_& m) {
  m.def(
      "quantize",
      [](const ArrayLike& w, int group_size, int bits, StreamOrDevice s) { return quantize(w, group_size, bits, s); },
      "w"_a, "group_size"_a = 64, "bits"_a = 4, nb::kw_only(), "stream"_a = nb::none(),
      "quantize(w, group_size=64, bits=4, *, stream=None)\n\n"
      "Affine group quantization of w (..., N, K) along its last axis: returns (wq, scales, "
      "biases), wq uint32 (..., N, K * bits / 32) holding each row's codes as an LSB-first "
      "bitstream, scales and biases (..., N, K / group_size) in w's dtype, with "
      "w ~= scales * q + biases per group. bits: 2, 3, 4, 5, 6 or 8; group_size: 16, 32, 64 or 128.");
  auto opt = [](const std::optional<ArrayLike>& a) { return a ? std::optional<array>(a->get()) : std::nullopt; };
  m.def(
      "dequantize",
      [opt](const ArrayLike& w, const ArrayLike& scales, const std::optional<ArrayLike>& biases, int group_size,
            int bits, StreamOrDevice s) { return dequantize(w, scales, opt(biases), group_size, bits, s); },
      "w"_a, "scales"_a, "biases"_a = nb::none(), "group_size"_a = 64, "bits"_a = 4, nb::kw_only(),
      "stream"_a = nb::none(),
      "dequantize(w, scales, biases=None, group_size=64, bits=4, *, stream=None)\n\n"
      "scales * q + biases for the codes q packed in w (uint32, as quantize returns), computed in "
      "float32 and returned in the dtype of scales. Without biases the codes are symmetric about "
      "half their range: biases = -2 ** (bits - 1) * scales.");
  m.def(
      "quantized_matmul",
      [opt](const ArrayLike& x, const ArrayLike& w, const ArrayLike& scales, const std::optional<ArrayLike>& biases,
            bool transpose, int group_size, int bits,
            StreamOrDevice s) { return quantized_matmul(x, w, scales, opt(biases), transpose, group_size, bits, s); },
      "x"_a, "w"_a, "scales"_a, "biases"_a = nb::none(), "transpose"_a = true, "group_size"_a = 64, "bits"_a = 4,
      nb::kw_only(), "stream"_a = nb::none(),
      "quantized_matmul(x, w, scales, biases=None, transpose=True, group_size=64, bits=4, *, stream=None)\n\n"
      "x @ dequantize(w).T when transpose (w quantized (N, K)), else x @ dequantize(w) (w quantized "
      "(K, N) along N), without materializing the float weights; accumulates in float32 and "
      "returns promote_types(x.dtype, scales.dtype). w may be a batch of matrices (..., N, K) whose "
      "batch axes broadcast with x's, as in MLX. biases=None: as dequantize. Differentiable in x.");
  m.def(
      "gather_qmm",
      [opt](const ArrayLike& x, const ArrayLike& w, const ArrayLike& scales, const ArrayLike& biases,
            std::optional<ArrayLike> lhs_indices, std::optional<ArrayLike> rhs_indices, bool transpose, int group_size,
            int bits, bool /*sorted_indices*/, StreamOrDevice s) {
        return gather_qmm(x, w, scales, biases, opt(lhs_indices), opt(rhs_indices), transpose, group_size, bits, s);
      },
      "x"_a, "w"_a, "scales"_a, "biases"_a, "lhs_indices"_a = nb::none(), "rhs_indices"_a = nb::none(),
      "transpose"_a = true, "group_size"_a = 64, "bits"_a = 4, nb::kw_only(), "sorted_indices"_a = false,
      "stream"_a = nb::none(),
      "gather_qmm(x, w, scales, biases, lhs_indices=None, rhs_indices=None, transpose=True, group_size=64, "
      "bits=4, *, sorted_indices=False, stream=None)\n\n"
      "quantized_matmul over gathered matrices (mixtures of experts): lhs_indices and rhs_indices "
      "hold flat indices into the batch axes of x (..., M, K) and of the quantized w; each defaults "
      "to every matrix in order. The result has shape broadcast(lhs_indices, rhs_indices) + (M, N). "
      "Pairs that gather the same matrix of w run as one product over their rows of x, so "
      "sorted_indices is accepted for MLX compatibility and changes nothing. Differentiable in x.");
}

}  // namespace ember::py
