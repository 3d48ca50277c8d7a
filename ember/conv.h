// Convolutions with MLX's layout and signatures (channels last):
//   input  (N, spatial..., C_in)
//   weight (C_out, kernel_spatial..., C_in / groups)
//   output (N, out_spatial..., C_out)
// with 1 to 3 spatial axes. Each computes the cross-correlation
//   out[n, o, co] = sum_{k, c} x_pad[n, o * stride + k * dilation, g * C_in/groups + c] * w[co, k, c]
// where g = co / (C_out / groups) and x_pad is the input with zero padding
// (and, for conv_general, zeros inserted between elements: input dilation).
// Inputs must be floating point (integer inputs are rejected, as MLX does);
// input and weight are promoted to one dtype; float16/bfloat16 accumulate in float32.
// Differences from MLX: groups work for 3-d too; conv1d/2d/3d and the transposed
// convolutions reject negative padding (MLX silently crops); conv_general's
// negative padding crops the dilated input (MLX crops before dilating, which
// only differs with input_dilation > 1).
// CPU kernels: oneDNN for float32 when the build has it (EMBER_CONV_DNNL=0 in
// the environment turns it off), else im2col + BLAS.
#pragma once

#include <tuple>
#include <utility>
#include <vector>

#include "ember/array.h"
#include "ember/device.h"

namespace ember {

/// 1-d convolution: input (N, L, C_in), weight (C_out, K, C_in / groups).
array conv1d(const array& input, const array& weight, int stride = 1, int padding = 0, int dilation = 1, int groups = 1,
             StreamOrDevice s = {});
/// 2-d convolution: input (N, H, W, C_in), weight (C_out, KH, KW, C_in / groups).
array conv2d(const array& input, const array& weight, const std::pair<int, int>& stride = {1, 1},
             const std::pair<int, int>& padding = {0, 0}, const std::pair<int, int>& dilation = {1, 1}, int groups = 1,
             StreamOrDevice s = {});
/// 3-d convolution: input (N, D, H, W, C_in), weight (C_out, KD, KH, KW, C_in / groups).
array conv3d(const array& input, const array& weight, const std::tuple<int, int, int>& stride = {1, 1, 1},
             const std::tuple<int, int, int>& padding = {0, 0, 0},
             const std::tuple<int, int, int>& dilation = {1, 1, 1}, int groups = 1, StreamOrDevice s = {});

/// General convolution over 1-3 spatial axes. Every per-axis argument takes
/// one value per spatial axis, or one value for all, or none (the default:
/// stride 1, padding 0, dilations 1). padding_lo/padding_hi pad the start and
/// end of each axis (a negative value crops, as in MLX); input_dilation
/// inserts input_dilation - 1 zeros between input elements; flip = true runs
/// the kernel reversed along its spatial axes (a true convolution).
array conv_general(const array& input, const array& weight, std::vector<int> stride = {},
                   std::vector<int> padding_lo = {}, std::vector<int> padding_hi = {},
                   std::vector<int> kernel_dilation = {}, std::vector<int> input_dilation = {}, int groups = 1,
                   bool flip = false, StreamOrDevice s = {});
/// conv_general with symmetric padding.
array conv_general(const array& input, const array& weight, std::vector<int> stride, std::vector<int> padding,
                   std::vector<int> kernel_dilation, std::vector<int> input_dilation, int groups, bool flip,
                   StreamOrDevice s = {});

/// 1-d transposed convolution (the gradient of conv1d with respect to its
/// input): input (N, L, C_in), weight (C_out, K, C_in / groups), output length
/// (L - 1) * stride - 2 * padding + dilation * (K - 1) + output_padding + 1.
array conv_transpose1d(const array& input, const array& weight, int stride = 1, int padding = 0, int dilation = 1,
                       int output_padding = 0, int groups = 1, StreamOrDevice s = {});
/// 2-d transposed convolution: input (N, H, W, C_in), weight (C_out, KH, KW, C_in / groups).
array conv_transpose2d(const array& input, const array& weight, const std::pair<int, int>& stride = {1, 1},
                       const std::pair<int, int>& padding = {0, 0}, const std::pair<int, int>& dilation = {1, 1},
                       const std::pair<int, int>& output_padding = {0, 0}, int groups = 1, StreamOrDevice s = {});
/// 3-d transposed convolution: input (N, D, H, W, C_in), weight (C_out, KD, KH, KW, C_in / groups).
array conv_transpose3d(const array& input, const array& weight, const std::tuple<int, int, int>& stride = {1, 1, 1},
                       const std::tuple<int, int, int>& padding = {0, 0, 0},
                       const std::tuple<int, int, int>& dilation = {1, 1, 1},
                       const std::tuple<int, int, int>& output_padding = {0, 0, 0}, int groups = 1,
                       StreamOrDevice s = {});

}  // namespace ember
