// The Fourier transforms of ember::fft (one FFT primitive: complex, rfft and
// irfft over a set of axes; kernels in backend/cpu/fft.cpp), fftshift and
// ifftshift (rolls), and hadamard_transform (the Hadamard primitive).
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "ember/fft.h"
#include "ember/ops.h"
#include "ember/ops_common.h"
#include "ember/primitives_fft.h"
#include "ember/utils.h"

namespace ember {

namespace fft {

namespace {

std::string prefix(const char* op) { return std::string("[fft::") + op + "] "; }

std::string ints_to_string(const std::vector<int>& v) {
  std::string s = "(";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + ")";
}

// Normalized axes; throws on an axis out of range or a repeated one.
std::vector<int> check_axes(const array& a, const std::vector<int>& axes, const char* op) {
  std::string name = std::string("fft::") + op;
  int nd = static_cast<int>(a.ndim());
  std::vector<int> out;
  for (int ax : axes) {
    int x = detail::normalize_axis(ax, nd, name.c_str());
    if (std::find(out.begin(), out.end(), x) != out.end()) {
      throw std::invalid_argument(prefix(op) + "axes " + ints_to_string(axes) + " contain axis " + std::to_string(ax) +
                                  " more than once");
    }
    out.push_back(x);
  }
  return out;
}

// a cropped or zero-padded to `sizes` along `axes`.
array fit_to(const array& a, const std::vector<int>& axes, const Shape& sizes, StreamOrDevice s) {
  array x = a;
  Shape start(a.ndim(), 0), stop = a.shape();
  bool crop = false;
  std::vector<int> pad_axes;
  Shape low, high;
  for (size_t i = 0; i < axes.size(); ++i) {
    int ax = axes[i], have = a.shape(ax), want = sizes[i];
    if (want < have) {
      stop[ax] = want;
      crop = true;
    } else if (want > have) {
      pad_axes.push_back(ax);
      low.push_back(0);
      high.push_back(want - have);
    }
  }
  if (crop) x = slice(x, start, stop, s);
  if (!pad_axes.empty()) x = pad(x, pad_axes, low, high, array(0, x.dtype()), "constant", s);
  return x;
}

// The shared implementation: validates, converts the dtype, crops or pads, builds the node.
// `n` gives the transform sizes (for irfft the last is the output length).
array fft_impl(const array& a, const Shape& n, const std::vector<int>& axes_in, bool real, bool inverse, const char* op,
               StreamOrDevice s) {
  if (a.ndim() == 0) {
    throw std::invalid_argument(prefix(op) + "expected an array with at least 1 dimension, got a scalar");
  }
  if (n.size() != axes_in.size()) {
    throw std::invalid_argument(prefix(op) + "n " + shape_to_string(n) + " and axes " + ints_to_string(axes_in) +
                                " must have the same length, got " + std::to_string(n.size()) + " and " +
                                std::to_string(axes_in.size()));
  }
  std::vector<int> axes = check_axes(a, axes_in, op);
  for (size_t i = 0; i < n.size(); ++i) {
    if (n[i] <= 0) {
      throw std::invalid_argument(prefix(op) + "invalid FFT size " + std::to_string(n[i]) + " along axis " +
                                  std::to_string(axes_in[i]) + " (n " + shape_to_string(n) +
                                  "); sizes must be positive");
    }
  }
  if (real && !inverse && is_complex(a.dtype())) {
    throw std::invalid_argument(prefix(op) + "input must be real, got complex64; use fft::fft for complex inputs");
  }
  if (axes.empty()) {
    if (real) throw std::invalid_argument(prefix(op) + "needs at least one axis");
    return astype(a, complex64, s);
  }
  // Single precision only, as MLX: float64 inputs are computed in float32 / complex64.
  array x = astype(a, real && !inverse ? float32 : complex64, s);
  Shape in_sizes = n;
  if (real && inverse) in_sizes.back() = n.back() / 2 + 1;
  x = fit_to(x, axes, in_sizes, s);
  auto prim = std::make_shared<FFT>(to_stream(s), axes, inverse, real, real && inverse ? n.back() : 0);
  Shape out_shape = prim->output_shape(x.shape());
  checked_size(out_shape, op);
  Dtype t = prim->output_dtype();
  return array(std::move(out_shape), t, std::move(prim), {x});
}

// The sizes of `axes` of a (the default n); for irfft the last becomes 2 * (m - 1).
Shape default_n(const array& a, const std::vector<int>& axes, bool irfft, const char* op) {
  std::vector<int> ax = check_axes(a, axes, op);
  Shape n;
  for (int x : ax) n.push_back(a.shape(x));
  if (irfft && !n.empty()) n.back() = 2 * (n.back() - 1);
  return n;
}

std::vector<int> all_axes(const array& a) {
  std::vector<int> axes(a.ndim());
  std::iota(axes.begin(), axes.end(), 0);
  return axes;
}

}  // namespace

// ---------------------------------------------------------------- n-d

array fftn(const array& a, const Shape& n, const std::vector<int>& axes, StreamOrDevice s) {
  return fft_impl(a, n, axes, false, false, "fftn", s);
}
array fftn(const array& a, const std::vector<int>& axes, StreamOrDevice s) {
  return fftn(a, default_n(a, axes, false, "fftn"), axes, s);
}
array fftn(const array& a, StreamOrDevice s) { return fftn(a, all_axes(a), s); }

array ifftn(const array& a, const Shape& n, const std::vector<int>& axes, StreamOrDevice s) {
  return fft_impl(a, n, axes, false, true, "ifftn", s);
}
array ifftn(const array& a, const std::vector<int>& axes, StreamOrDevice s) {
  return ifftn(a, default_n(a, axes, false, "ifftn"), axes, s);
}
array ifftn(const array& a, StreamOrDevice s) { return ifftn(a, all_axes(a), s); }

array rfftn(const array& a, const Shape& n, const std::vector<int>& axes, StreamOrDevice s) {
  return fft_impl(a, n, axes, true, false, "rfftn", s);
}
array rfftn(const array& a, const std::vector<int>& axes, StreamOrDevice s) {
  return rfftn(a, default_n(a, axes, false, "rfftn"), axes, s);
}
array rfftn(const array& a, StreamOrDevice s) { return rfftn(a, all_axes(a), s); }

array irfftn(const array& a, const Shape& n, const std::vector<int>& axes, StreamOrDevice s) {
  return fft_impl(a, n, axes, true, true, "irfftn", s);
}
array irfftn(const array& a, const std::vector<int>& axes, StreamOrDevice s) {
  return irfftn(a, default_n(a, axes, true, "irfftn"), axes, s);
}
array irfftn(const array& a, StreamOrDevice s) { return irfftn(a, all_axes(a), s); }

// ---------------------------------------------------------------- 1-d

array fft(const array& a, int n, int axis, StreamOrDevice s) {
  return fft_impl(a, {n}, {axis}, false, false, "fft", s);
}
array fft(const array& a, int axis, StreamOrDevice s) {
  return fft_impl(a, default_n(a, {axis}, false, "fft"), {axis}, false, false, "fft", s);
}
array ifft(const array& a, int n, int axis, StreamOrDevice s) {
  return fft_impl(a, {n}, {axis}, false, true, "ifft", s);
}
array ifft(const array& a, int axis, StreamOrDevice s) {
  return fft_impl(a, default_n(a, {axis}, false, "ifft"), {axis}, false, true, "ifft", s);
}
array rfft(const array& a, int n, int axis, StreamOrDevice s) {
  return fft_impl(a, {n}, {axis}, true, false, "rfft", s);
}
array rfft(const array& a, int axis, StreamOrDevice s) {
  return fft_impl(a, default_n(a, {axis}, false, "rfft"), {axis}, true, false, "rfft", s);
}
array irfft(const array& a, int n, int axis, StreamOrDevice s) {
  return fft_impl(a, {n}, {axis}, true, true, "irfft", s);
}
array irfft(const array& a, int axis, StreamOrDevice s) {
  return fft_impl(a, default_n(a, {axis}, true, "irfft"), {axis}, true, true, "irfft", s);
}

// ---------------------------------------------------------------- 2-d

array fft2(const array& a, const Shape& n, const std::vector<int>& axes, StreamOrDevice s) {
  return fft_impl(a, n, axes, false, false, "fft2", s);
}
array fft2(const array& a, const std::vector<int>& axes, StreamOrDevice s) {
  return fft_impl(a, default_n(a, axes, false, "fft2"), axes, false, false, "fft2", s);
}
array ifft2(const array& a, const Shape& n, const std::vector<int>& axes, StreamOrDevice s) {
  return fft_impl(a, n, axes, false, true, "ifft2", s);
}
array ifft2(const array& a, const std::vector<int>& axes, StreamOrDevice s) {
  return fft_impl(a, default_n(a, axes, false, "ifft2"), axes, false, true, "ifft2", s);
}
array rfft2(const array& a, const Shape& n, const std::vector<int>& axes, StreamOrDevice s) {
  return fft_impl(a, n, axes, true, false, "rfft2", s);
}
array rfft2(const array& a, const std::vector<int>& axes, StreamOrDevice s) {
  return fft_impl(a, default_n(a, axes, false, "rfft2"), axes, true, false, "rfft2", s);
}
array irfft2(const array& a, const Shape& n, const std::vector<int>& axes, StreamOrDevice s) {
  return fft_impl(a, n, axes, true, true, "irfft2", s);
}
array irfft2(const array& a, const std::vector<int>& axes, StreamOrDevice s) {
  return fft_impl(a, default_n(a, axes, true, "irfft2"), axes, true, true, "irfft2", s);
}

// ---------------------------------------------------------------- shifts

namespace {

array shift_impl(const array& a, const std::vector<int>& axes_in, bool inverse, const char* op, StreamOrDevice s) {
  std::vector<int> axes = check_axes(a, axes_in, op);
  Shape shift;
  for (int ax : axes) {
    int n = a.shape(ax);
    // fftshift rolls by floor(n / 2), ifftshift by -floor(n / 2) (they differ for odd n).
    shift.push_back(inverse ? -(n / 2) : n / 2);
  }
  if (axes.empty()) return a;
  return roll(a, shift, axes, s);
}

}  // namespace

array fftshift(const array& a, const std::vector<int>& axes, StreamOrDevice s) {
  return shift_impl(a, axes, false, "fftshift", s);
}
array fftshift(const array& a, StreamOrDevice s) { return fftshift(a, all_axes(a), s); }
array ifftshift(const array& a, const std::vector<int>& axes, StreamOrDevice s) {
  return shift_impl(a, axes, true, "ifftshift", s);
}
array ifftshift(const array& a, StreamOrDevice s) { return ifftshift(a, all_axes(a), s); }

}  // namespace fft

// ---------------------------------------------------------------- FFT primitive: shape, printing

Shape FFT::output_shape(const Shape& in) const {
  Shape out = in;
  if (real_) out[axes_.back()] = inverse_ ? irfft_n_ : in[axes_.back()] / 2 + 1;
  return out;
}

bool FFT::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const FFT*>(&other);
  return o && o->axes_ == axes_ && o->inverse_ == inverse_ && o->real_ == real_ && o->irfft_n_ == irfft_n_;
}

void FFT::print(std::ostream& os) const {
  os << "FFT(axes=(";
  for (size_t i = 0; i < axes_.size(); ++i) os << (i ? ", " : "") << axes_[i];
  os << "), inverse=" << inverse_ << ", real=" << real_;
  if (real_ && inverse_) os << ", n=" << irfft_n_;
  os << ")";
}

// ---------------------------------------------------------------- hadamard_transform

array hadamard_transform(const array& a, std::optional<float> scale, StreamOrDevice s) {
  if (a.ndim() == 0) {
    throw std::invalid_argument("[hadamard_transform] expected an array with at least 1 dimension, got a scalar");
  }
  int64_t n = a.shape(-1);
  if (hadamard_base(n) == 0) {
    throw std::invalid_argument(
        "[hadamard_transform] the last axis must have a size m * 2^k with m in {1, 12, 20, 28}, got " +
        std::to_string(n) + " (shape " + shape_to_string(a.shape()) + ")");
  }
  if (is_complex(a.dtype())) throw std::invalid_argument("[hadamard_transform] complex64 inputs are not supported");
  double sc = scale ? static_cast<double>(*scale) : 1.0 / std::sqrt(static_cast<double>(n));
  Dtype t = is_floating_point(a.dtype()) ? a.dtype() : float32;
  array x = astype(a, t, s);
  return array(x.shape(), t, std::make_shared<Hadamard>(to_stream(s), sc), {x});
}

bool Hadamard::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Hadamard*>(&other);
  return o && o->scale_ == scale_;
}

}  // namespace ember
