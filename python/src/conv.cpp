// ember.core convolutions (channels last), as mlx.core: conv1d/2d/3d,
// conv_transpose1d/2d/3d and conv_general.
#include "common.h"

namespace ember::py {

namespace {
using IntOrSeq = std::variant<int, std::vector<int>>;

// An int for every spatial axis, or one per axis.
std::vector<int> per_axis(const IntOrSeq& v, size_t n, const char* op, const char* arg) {
  if (auto* i = std::get_if<int>(&v)) return std::vector<int>(n, *i);
  auto& seq = std::get<std::vector<int>>(v);
  if (seq.size() != n) {
    throw std::invalid_argument(std::string(op) + " " + arg + " must have " + std::to_string(n) + " entries, got " +
                                std::to_string(seq.size()));
  }
  return seq;
}
std::pair<int, int> pair_of(const IntOrSeq& v, const char* op, const char* arg) {
  auto p = per_axis(v, 2, op, arg);
  return {p[0], p[1]};
}
std::tuple<int, int, int> triple_of(const IntOrSeq& v, const char* op, const char* arg) {
  auto p = per_axis(v, 3, op, arg);
  return {p[0], p[1], p[2]};
}
}  // namespace

void init_conv(nb::module_& m) {
  m.def(
      "conv1d",
      [](const ArrayLike& input, const ArrayLike& weight, int stride, int padding, int dilation, int groups,
         StreamOrDevice s) { return conv1d(input, weight, stride, padding, dilation, groups, s); },
      "input"_a, "weight"_a, "stride"_a = 1, "padding"_a = 0, "dilation"_a = 1, "groups"_a = 1, nb::kw_only(),
      "stream"_a = nb::none(), "1-d convolution: input (N, L, C_in), weight (C_out, K, C_in / groups).");
  m.def(
      "conv2d",
      [](const ArrayLike& input, const ArrayLike& weight, IntOrSeq stride, IntOrSeq padding, IntOrSeq dilation,
         int groups, StreamOrDevice s) {
        const char* op = "[conv2d]";
        return conv2d(input, weight, pair_of(stride, op, "stride"), pair_of(padding, op, "padding"),
                      pair_of(dilation, op, "dilation"), groups, s);
      },
      "input"_a, "weight"_a, "stride"_a = 1, "padding"_a = 0, "dilation"_a = 1, "groups"_a = 1, nb::kw_only(),
      "stream"_a = nb::none(), "2-d convolution: input (N, H, W, C_in), weight (C_out, KH, KW, C_in / groups).");
  m.def(
      "conv3d",
      [](const ArrayLike& input, const ArrayLike& weight, IntOrSeq stride, IntOrSeq padding, IntOrSeq dilation,
         int groups, StreamOrDevice s) {
        const char* op = "[conv3d]";
        return conv3d(input, weight, triple_of(stride, op, "stride"), triple_of(padding, op, "padding"),
                      triple_of(dilation, op, "dilation"), groups, s);
      },
      "input"_a, "weight"_a, "stride"_a = 1, "padding"_a = 0, "dilation"_a = 1, "groups"_a = 1, nb::kw_only(),
      "stream"_a = nb::none(), "3-d convolution: input (N, D, H, W, C_in), weight (C_out, KD, KH, KW, C_in / groups).");
  m.def(
      "conv_transpose1d",
      [](const ArrayLike& input, const ArrayLike& weight, int stride, int padding, int dilation, int output_padding,
         int groups, StreamOrDevice s) {
        return conv_transpose1d(input, weight, stride, padding, dilation, output_padding, groups, s);
      },
      "input"_a, "weight"_a, "stride"_a = 1, "padding"_a = 0, "dilation"_a = 1, "output_padding"_a = 0, "groups"_a = 1,
      nb::kw_only(), "stream"_a = nb::none(), "1-d transposed convolution.");
  m.def(
      "conv_transpose2d",
      [](const ArrayLike& input, const ArrayLike& weight, IntOrSeq stride, IntOrSeq padding, IntOrSeq dilation,
         IntOrSeq output_padding, int groups, StreamOrDevice s) {
        const char* op = "[conv_transpose2d]";
        return conv_transpose2d(input, weight, pair_of(stride, op, "stride"), pair_of(padding, op, "padding"),
                                pair_of(dilation, op, "dilation"), pair_of(output_padding, op, "output_padding"),
                                groups, s);
      },
      "input"_a, "weight"_a, "stride"_a = 1, "padding"_a = 0, "dilation"_a = 1, "output_padding"_a = 0, "groups"_a = 1,
      nb::kw_only(), "stream"_a = nb::none(), "2-d transposed convolution.");
  m.def(
      "conv_transpose3d",
      [](const ArrayLike& input, const ArrayLike& weight, IntOrSeq stride, IntOrSeq padding, IntOrSeq dilation,
         IntOrSeq output_padding, int groups, StreamOrDevice s) {
        const char* op = "[conv_transpose3d]";
        return conv_transpose3d(input, weight, triple_of(stride, op, "stride"), triple_of(padding, op, "padding"),
                                triple_of(dilation, op, "dilation"), triple_of(output_padding, op, "output_padding"),
                                groups, s);
      },
      "input"_a, "weight"_a, "stride"_a = 1, "padding"_a = 0, "dilation"_a = 1, "output_padding"_a = 0, "groups"_a = 1,
      nb::kw_only(), "stream"_a = nb::none(), "3-d transposed convolution.");
  m.def(
      "conv_general",
      [](const ArrayLike& input, const ArrayLike& weight, IntOrSeq stride,
         std::variant<int, std::vector<int>, std::pair<std::vector<int>, std::vector<int>>> padding,
         IntOrSeq kernel_dilation, IntOrSeq input_dilation, int groups, bool flip, StreamOrDevice s) {
        size_t n = input.get().ndim() >= 2 ? input.get().ndim() - 2 : 0;
        const char* op = "[conv_general]";
        auto st = per_axis(stride, n, op, "stride");
        auto kd = per_axis(kernel_dilation, n, op, "kernel_dilation");
        auto id = per_axis(input_dilation, n, op, "input_dilation");
        std::vector<int> lo, hi;
        if (auto* lohi = std::get_if<std::pair<std::vector<int>, std::vector<int>>>(&padding)) {
          lo = per_axis(lohi->first, n, op, "padding");
          hi = per_axis(lohi->second, n, op, "padding");
        } else if (auto* i = std::get_if<int>(&padding)) {
          lo = hi = per_axis(*i, n, op, "padding");
        } else {
          lo = hi = per_axis(std::get<std::vector<int>>(padding), n, op, "padding");
        }
        return conv_general(input, weight, st, lo, hi, kd, id, groups, flip, s);
      },
      "input"_a, "weight"_a, "stride"_a = 1, "padding"_a = 0, "kernel_dilation"_a = 1, "input_dilation"_a = 1,
      "groups"_a = 1, "flip"_a = false, nb::kw_only(), "stream"_a = nb::none(),
      "General convolution over 1-3 spatial axes; padding is an int, one per axis, or (low, high) lists.");
}

}  // namespace ember::py
