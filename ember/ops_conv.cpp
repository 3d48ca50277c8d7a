// Convolutions: conv1d/2d/3d and conv_transpose1d/2d/3d are conv_general with
// their arguments spelled out, and conv_general builds one Convolution node.
// A transposed convolution is, as in MLX, a stride-1 convolution of the input
// dilated by `stride` with the kernel flipped and padded by Kd - 1 - padding
// (Kd the dilated kernel size), plus output_padding at the end.
#include <sstream>
#include <string>

#include "ember/conv.h"
#include "ember/ops.h"
#include "ember/primitives_conv.h"
#include "ember/utils.h"

namespace ember {

namespace {

std::string prefix(const char* op) { return std::string("[") + op + "] "; }

std::string ints_to_string(const std::vector<int>& v) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  os << ")";
  return os.str();
}

// One value per spatial axis from none (the default), one (for all axes) or `n` values.
std::vector<int> per_axis(std::vector<int> v, int n, int dflt, const char* what, const char* op) {
  if (v.empty()) return std::vector<int>(n, dflt);
  if (v.size() == 1) return std::vector<int>(n, v[0]);
  if (static_cast<int>(v.size()) != n) {
    throw std::invalid_argument(prefix(op) + what + " needs 1 or " + std::to_string(n) +
                                " values (one per spatial axis), got " + ints_to_string(v));
  }
  return v;
}

void check_at_least(const std::vector<int>& v, int lo, const char* what, const char* op) {
  for (int x : v) {
    if (x < lo) {
      throw std::invalid_argument(prefix(op) + what + " must be at least " + std::to_string(lo) + ", got " +
                                  ints_to_string(v));
    }
  }
}

// Validates ranks, dtypes and channels; returns the number of spatial axes.
// `want_spatial` > 0 pins it (conv1d/2d/3d), 0 accepts 1 to 3.
int check_conv_inputs(const array& in, const array& wt, int groups, int want_spatial, const char* op) {
  int nd = static_cast<int>(in.ndim());
  if (want_spatial > 0 && nd != want_spatial + 2) {
    throw std::invalid_argument(prefix(op) + "input must have " + std::to_string(want_spatial + 2) +
                                " dimensions (N, " +
                                (want_spatial == 1   ? "L"
                                 : want_spatial == 2 ? "H, W"
                                                     : "D, H, W") +
                                ", C_in), got shape " + shape_to_string(in.shape()));
  }
  if (nd < 3 || nd > 5) {
    throw std::invalid_argument(prefix(op) + "input must have 3 to 5 dimensions (N, spatial..., C_in), got shape " +
                                shape_to_string(in.shape()));
  }
  if (static_cast<int>(wt.ndim()) != nd) {
    throw std::invalid_argument(prefix(op) + "weight must have as many dimensions as the input (" + std::to_string(nd) +
                                ", as (C_out, kernel..., C_in / groups)), got weight shape " +
                                shape_to_string(wt.shape()) + " for input shape " + shape_to_string(in.shape()));
  }
  if (!is_floating_point(in.dtype())) {
    throw std::invalid_argument(prefix(op) + "input must be floating point, got " + dtype_name(in.dtype()));
  }
  if (is_complex(wt.dtype())) {
    throw std::invalid_argument(prefix(op) + "weight must be real, got " + dtype_name(wt.dtype()));
  }
  int c_in = in.shape(-1), c_out = wt.shape(0);
  if (groups < 1) throw std::invalid_argument(prefix(op) + "groups must be at least 1, got " + std::to_string(groups));
  if (c_in % groups != 0) {
    throw std::invalid_argument(prefix(op) + "input channels " + std::to_string(c_in) + " (input shape " +
                                shape_to_string(in.shape()) + ") are not divisible by groups " +
                                std::to_string(groups));
  }
  if (c_out % groups != 0) {
    throw std::invalid_argument(prefix(op) + "output channels " + std::to_string(c_out) + " (weight shape " +
                                shape_to_string(wt.shape()) + ") are not divisible by groups " +
                                std::to_string(groups));
  }
  if (wt.shape(-1) * groups != c_in) {
    throw std::invalid_argument(prefix(op) + "input channels " + std::to_string(c_in) + " (input shape " +
                                shape_to_string(in.shape()) + ") do not match the weight's " +
                                std::to_string(wt.shape(-1)) + " channels per group times groups " +
                                std::to_string(groups) + " (weight shape " + shape_to_string(wt.shape()) + ")");
  }
  return nd - 2;
}

// The node, after the per-axis arguments are normalized and the output size checked.
array make_conv(const array& in_, const array& wt_, const std::vector<int>& stride, const std::vector<int>& lo,
                const std::vector<int>& hi, const std::vector<int>& kdil, const std::vector<int>& idil, int groups,
                bool flip, StreamOrDevice s, const char* op) {
  check_at_least(stride, 1, "stride", op);
  check_at_least(kdil, 1, "kernel dilation", op);
  check_at_least(idil, 1, "input dilation", op);
  int nsp = static_cast<int>(stride.size());
  for (int i = 0; i < nsp; ++i) {
    int64_t l = in_.shape(1 + i), k = wt_.shape(1 + i);
    int64_t ld = l == 0 ? 0 : (l - 1) * idil[i] + 1;
    int64_t kd = k == 0 ? 0 : (k - 1) * kdil[i] + 1;
    int64_t padded = ld + lo[i] + hi[i];
    if (k == 0 || padded < kd) {
      throw std::invalid_argument(prefix(op) + "the kernel (dilated size " + std::to_string(kd) +
                                  ") is larger than the padded input (size " + std::to_string(padded) +
                                  ") along spatial axis " + std::to_string(i) + ": input shape " +
                                  shape_to_string(in_.shape()) + ", weight shape " + shape_to_string(wt_.shape()) +
                                  ", padding " + ints_to_string(lo) + " / " + ints_to_string(hi));
    }
  }
  Dtype t = promote_types(in_.dtype(), wt_.dtype());
  array in = astype(in_, t, s);
  array wt = astype(wt_, t, s);
  Shape out = Convolution::out_shape(in.shape(), wt.shape(), stride, lo, hi, kdil, idil);
  return array(std::move(out), t, std::make_shared<Convolution>(to_stream(s), stride, lo, hi, kdil, idil, groups, flip),
               {in, wt});
}

array conv_impl(const array& in, const array& wt, std::vector<int> stride, std::vector<int> lo, std::vector<int> hi,
                std::vector<int> kdil, std::vector<int> idil, int groups, bool flip, int want_spatial, StreamOrDevice s,
                const char* op) {
  int nsp = check_conv_inputs(in, wt, groups, want_spatial, op);
  stride = per_axis(std::move(stride), nsp, 1, "stride", op);
  lo = per_axis(std::move(lo), nsp, 0, "padding", op);
  hi = per_axis(std::move(hi), nsp, 0, "padding", op);
  kdil = per_axis(std::move(kdil), nsp, 1, "kernel dilation", op);
  idil = per_axis(std::move(idil), nsp, 1, "input dilation", op);
  return make_conv(in, wt, stride, lo, hi, kdil, idil, groups, flip, s, op);
}

// conv1d/2d/3d: symmetric, non-negative padding.
array conv_nd(const array& in, const array& wt, const std::vector<int>& stride, const std::vector<int>& padding,
              const std::vector<int>& dilation, int groups, int nsp, StreamOrDevice s, const char* op) {
  check_conv_inputs(in, wt, groups, nsp, op);
  check_at_least(padding, 0, "padding", op);
  return conv_impl(in, wt, stride, padding, padding, dilation, {1}, groups, false, nsp, s, op);
}

// Transposed convolution (MLX's conv_transpose_general).
array conv_transpose_nd(const array& in, const array& wt, const std::vector<int>& stride,
                        const std::vector<int>& padding, const std::vector<int>& dilation,
                        const std::vector<int>& output_padding, int groups, int nsp, StreamOrDevice s, const char* op) {
  check_conv_inputs(in, wt, groups, nsp, op);
  check_at_least(stride, 1, "stride", op);
  check_at_least(dilation, 1, "dilation", op);
  check_at_least(padding, 0, "padding", op);
  check_at_least(output_padding, 0, "output_padding", op);
  std::vector<int> lo(nsp), hi(nsp);
  for (int i = 0; i < nsp; ++i) {
    int kd = (wt.shape(1 + i) - 1) * dilation[i] + 1;
    lo[i] = kd - 1 - padding[i];
    hi[i] = kd - 1 - padding[i] + output_padding[i];
    int64_t out = static_cast<int64_t>(in.shape(1 + i) - 1) * stride[i] - 2 * padding[i] + kd + output_padding[i];
    if (in.shape(1 + i) > 0 && out < 1) {
      throw std::invalid_argument(prefix(op) + "output size " + std::to_string(out) + " along spatial axis " +
                                  std::to_string(i) + " is not positive: input shape " + shape_to_string(in.shape()) +
                                  ", weight shape " + shape_to_string(wt.shape()) + ", stride " +
                                  ints_to_string(stride) + ", padding " + ints_to_string(padding) + ", dilation " +
                                  ints_to_string(dilation) + ", output_padding " + ints_to_string(output_padding));
    }
  }
  return conv_impl(in, wt, std::vector<int>(nsp, 1), lo, hi, dilation, stride, groups, true, nsp, s, op);
}

std::vector<int> vec(const std::pair<int, int>& p) { return {p.first, p.second}; }
std::vector<int> vec(const std::tuple<int, int, int>& t) { return {std::get<0>(t), std::get<1>(t), std::get<2>(t)}; }

}  // namespace

array conv1d(const array& input, const array& weight, int stride, int padding, int dilation, int groups,
             StreamOrDevice s) {
  return conv_nd(input, weight, {stride}, {padding}, {dilation}, groups, 1, s, "conv1d");
}

array conv2d(const array& input, const array& weight, const std::pair<int, int>& stride,
             const std::pair<int, int>& padding, const std::pair<int, int>& dilation, int groups, StreamOrDevice s) {
  return conv_nd(input, weight, vec(stride), vec(padding), vec(dilation), groups, 2, s, "conv2d");
}

array conv3d(const array& input, const array& weight, const std::tuple<int, int, int>& stride,
             const std::tuple<int, int, int>& padding, const std::tuple<int, int, int>& dilation, int groups,
             StreamOrDevice s) {
  return conv_nd(input, weight, vec(stride), vec(padding), vec(dilation), groups, 3, s, "conv3d");
}

array conv_general(const array& input, const array& weight, std::vector<int> stride, std::vector<int> padding_lo,
                   std::vector<int> padding_hi, std::vector<int> kernel_dilation, std::vector<int> input_dilation,
                   int groups, bool flip, StreamOrDevice s) {
  return conv_impl(input, weight, std::move(stride), std::move(padding_lo), std::move(padding_hi),
                   std::move(kernel_dilation), std::move(input_dilation), groups, flip, 0, s, "conv_general");
}

array conv_general(const array& input, const array& weight, std::vector<int> stride, std::vector<int> padding,
                   std::vector<int> kernel_dilation, std::vector<int> input_dilation, int groups, bool flip,
                   StreamOrDevice s) {
  return conv_general(input, weight, std::move(stride), padding, padding, std::move(kernel_dilation),
                      std::move(input_dilation), groups, flip, s);
}

array conv_transpose1d(const array& input, const array& weight, int stride, int padding, int dilation,
                       int output_padding, int groups, StreamOrDevice s) {
  return conv_transpose_nd(input, weight, {stride}, {padding}, {dilation}, {output_padding}, groups, 1, s,
                           "conv_transpose1d");
}

array conv_transpose2d(const array& input, const array& weight, const std::pair<int, int>& stride,
                       const std::pair<int, int>& padding, const std::pair<int, int>& dilation,
                       const std::pair<int, int>& output_padding, int groups, StreamOrDevice s) {
  return conv_transpose_nd(input, weight, vec(stride), vec(padding), vec(dilation), vec(output_padding), groups, 2, s,
                           "conv_transpose2d");
}

array conv_transpose3d(const array& input, const array& weight, const std::tuple<int, int, int>& stride,
                       const std::tuple<int, int, int>& padding, const std::tuple<int, int, int>& dilation,
                       const std::tuple<int, int, int>& output_padding, int groups, StreamOrDevice s) {
  return conv_transpose_nd(input, weight, vec(stride), vec(padding), vec(dilation), vec(output_padding), groups, 3, s,
                           "conv_transpose3d");
}

// ---------------------------------------------------------------- Convolution (shape, equality, printing)

Shape Convolution::out_shape(const Shape& in, const Shape& wt, const std::vector<int>& stride,
                             const std::vector<int>& padding_lo, const std::vector<int>& padding_hi,
                             const std::vector<int>& kernel_dilation, const std::vector<int>& input_dilation) {
  Shape out(in.size());
  out[0] = in[0];
  out.back() = wt[0];
  for (size_t i = 0; i < stride.size(); ++i) {
    int64_t l = in[1 + i], k = wt[1 + i];
    int64_t ld = l == 0 ? 0 : (l - 1) * input_dilation[i] + 1;
    int64_t kd = (k - 1) * kernel_dilation[i] + 1;
    int64_t span = ld + padding_lo[i] + padding_hi[i] - kd;
    out[1 + i] = span < 0 ? 0 : static_cast<int32_t>(span / stride[i] + 1);
  }
  return out;
}

std::vector<Shape> Convolution::output_shapes(const std::vector<array>& inputs) {
  return {out_shape(inputs[0].shape(), inputs[1].shape(), stride_, padding_lo_, padding_hi_, kernel_dilation_,
                    input_dilation_)};
}

bool Convolution::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Convolution*>(&other);
  return o && o->stride_ == stride_ && o->padding_lo_ == padding_lo_ && o->padding_hi_ == padding_hi_ &&
         o->kernel_dilation_ == kernel_dilation_ && o->input_dilation_ == input_dilation_ && o->groups_ == groups_ &&
         o->flip_ == flip_;
}

void Convolution::print(std::ostream& os) const {
  os << "Convolution(stride=" << ints_to_string(stride_) << ", padding=" << ints_to_string(padding_lo_) << "/"
     << ints_to_string(padding_hi_) << ", kernel_dilation=" << ints_to_string(kernel_dilation_)
     << ", input_dilation=" << ints_to_string(input_dilation_) << ", groups=" << groups_
     << ", flip=" << (flip_ ? "true" : "false") << ")";
}

}  // namespace ember
