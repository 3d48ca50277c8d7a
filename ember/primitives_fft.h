// Primitives of the spectral family: FFT (complex, real-to-complex and
// complex-to-real discrete Fourier transforms over a set of axes) and
// Hadamard (the fast Walsh-Hadamard transform along the last axis).
// The graph-building functions are in ember/fft.h and ember/ops_fft.cpp.
#pragma once

#include <ostream>
#include <vector>

#include "ember/primitives.h"

namespace ember {

/// Discrete Fourier transform over `axes` (normalized, distinct), as successive
/// 1-d transforms; the ops have already cropped or zero-padded the input.
///   complex (real = false): complex64 -> complex64, same shape; inverse scales by 1/n.
///   rfft (real, !inverse): float32 -> complex64, the last axis n -> n / 2 + 1.
///   irfft (real, inverse): complex64 -> float32, the last axis n / 2 + 1 -> `irfft_n`
///     (kept because the input size does not tell an odd output length from an even one).
class FFT : public UnaryPrimitive {
 public:
  FFT(Stream s, std::vector<int> axes, bool inverse, bool real, int irfft_n = 0)
      : UnaryPrimitive(s), axes_(std::move(axes)), inverse_(inverse), real_(real), irfft_n_(irfft_n) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override {
    return {output_shape(inputs[0].shape())};
  }
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "FFT"; }
  void print(std::ostream& os) const override;

  /// The output's shape for an input of shape `in`.
  Shape output_shape(const Shape& in) const;
  /// The output's dtype: float32 for irfft, else complex64.
  Dtype output_dtype() const { return real_ && inverse_ ? float32 : complex64; }
  const std::vector<int>& axes() const { return axes_; }
  bool inverse() const { return inverse_; }
  bool real() const { return real_; }

 private:
  std::vector<int> axes_;
  bool inverse_, real_;
  int irfft_n_;
};

/// The odd factor m of a Hadamard transform size n = m * 2^k, m in {1, 12, 20, 28}
/// (the sizes MLX supports); 0 when n has no such form.
inline int hadamard_base(int64_t n) {
  for (int m : {1, 12, 20, 28}) {
    if (n > 0 && n % m == 0 && ((n / m) & (n / m - 1)) == 0) return m;
  }
  return 0;
}

/// scale * (x @ H) along the last axis, n = m * 2^k, H = H_m (x) H_{2^k}: H_{2^k} the
/// Sylvester matrix, H_m (m = 12, 20, 28) the Paley II matrix of GF(q), q = m/2 - 1.
/// Entries +-1, symmetric. Output dtype = input dtype (a floating type; half types
/// are computed in float32).
class Hadamard : public UnaryPrimitive {
 public:
  Hadamard(Stream s, double scale) : UnaryPrimitive(s), scale_(scale) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override { return {inputs[0].shape()}; }
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "Hadamard"; }
  void print(std::ostream& os) const override { os << "Hadamard(scale=" << scale_ << ")"; }
  double scale() const { return scale_; }

 private:
  double scale_;  // double so the float64 transform keeps 1 / sqrt(n) exact
};

}  // namespace ember
