// The convolution primitive (ops in ops_conv.cpp, transforms in grad_conv.cpp,
// CPU kernel in backend/cpu/conv.cpp).
#pragma once

#include <vector>

#include "ember/primitives.h"

namespace ember {

/// N-d (1-3 spatial axes) grouped convolution, channels last. Inputs (x, w) of
/// one floating dtype: x (N, L..., C_in), w (C_out, K..., C_in / groups); output
/// (N, O..., C_out) with, per spatial axis,
///   O = (Ld + padding_lo + padding_hi - Kd) / stride + 1,
///   Ld = (L - 1) * input_dilation + 1,  Kd = (K - 1) * kernel_dilation + 1.
/// Output o reads the dilated input at o * stride + k * kernel_dilation - padding_lo
/// (positions outside [0, Ld) or between input elements are zero); flip reverses k.
/// Paddings may be negative (a crop): the transforms produce such convolutions.
class Convolution : public UnaryPrimitive {
 public:
  Convolution(Stream s, std::vector<int> stride, std::vector<int> padding_lo, std::vector<int> padding_hi,
              std::vector<int> kernel_dilation, std::vector<int> input_dilation, int groups, bool flip)
      : UnaryPrimitive(s),
        stride_(std::move(stride)),
        padding_lo_(std::move(padding_lo)),
        padding_hi_(std::move(padding_hi)),
        kernel_dilation_(std::move(kernel_dilation)),
        input_dilation_(std::move(input_dilation)),
        groups_(groups),
        flip_(flip) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "Convolution"; }
  void print(std::ostream& os) const override;

  /// The output shape for input and weight shapes (no validation).
  static Shape out_shape(const Shape& in, const Shape& wt, const std::vector<int>& stride,
                         const std::vector<int>& padding_lo, const std::vector<int>& padding_hi,
                         const std::vector<int>& kernel_dilation, const std::vector<int>& input_dilation);

  const std::vector<int>& stride() const { return stride_; }
  const std::vector<int>& padding_lo() const { return padding_lo_; }
  const std::vector<int>& padding_hi() const { return padding_hi_; }
  const std::vector<int>& kernel_dilation() const { return kernel_dilation_; }
  const std::vector<int>& input_dilation() const { return input_dilation_; }
  int groups() const { return groups_; }
  bool flip() const { return flip_; }

 private:
  std::vector<int> stride_, padding_lo_, padding_hi_, kernel_dilation_, input_dilation_;
  int groups_;
  bool flip_;
};

}  // namespace ember
