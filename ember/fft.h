// Fourier transforms (namespace ember::fft, as mlx.core.fft) and the
// Walsh-Hadamard transform (ember::hadamard_transform, as mlx.core).
//
// Semantics follow NumPy / MLX: `n` (or `s` in NumPy) crops or zero-pads the
// input along each transformed axis before the transform; the inverse
// transforms scale by 1/n; irfft's output length defaults to 2 * (m - 1) for
// an input of m frequency bins. Real inputs are promoted to complex64 for the
// complex transforms. As in MLX, the transforms run in single precision only:
// float64 (and integer, bool, half) inputs are converted to float32 /
// complex64 first, and the outputs are complex64 (fft, ifft, rfft) or float32
// (irfft). Errors: n <= 0, repeated axes, an axis out of range, n and axes of
// different lengths, rfft of a complex array.
#pragma once

#include <optional>
#include <vector>

#include "ember/array.h"
#include "ember/device.h"

namespace ember {

namespace fft {

/// n-d FFT over `axes`, each cropped or zero-padded to the matching entry of `n`.
array fftn(const array& a, const Shape& n, const std::vector<int>& axes, StreamOrDevice s = {});
array fftn(const array& a, const std::vector<int>& axes, StreamOrDevice s = {});
/// Over every axis.
array fftn(const array& a, StreamOrDevice s = {});
array ifftn(const array& a, const Shape& n, const std::vector<int>& axes, StreamOrDevice s = {});
array ifftn(const array& a, const std::vector<int>& axes, StreamOrDevice s = {});
array ifftn(const array& a, StreamOrDevice s = {});
/// Real-input FFT: the last of `axes` keeps n / 2 + 1 frequencies; `a` must be real.
array rfftn(const array& a, const Shape& n, const std::vector<int>& axes, StreamOrDevice s = {});
array rfftn(const array& a, const std::vector<int>& axes, StreamOrDevice s = {});
array rfftn(const array& a, StreamOrDevice s = {});
/// Inverse of rfftn: `n` gives the output sizes (the last one default 2 * (m - 1)).
array irfftn(const array& a, const Shape& n, const std::vector<int>& axes, StreamOrDevice s = {});
array irfftn(const array& a, const std::vector<int>& axes, StreamOrDevice s = {});
array irfftn(const array& a, StreamOrDevice s = {});

/// 1-d transforms along `axis`, the input cropped or zero-padded to `n`.
array fft(const array& a, int n, int axis, StreamOrDevice s = {});
array fft(const array& a, int axis = -1, StreamOrDevice s = {});
array ifft(const array& a, int n, int axis, StreamOrDevice s = {});
array ifft(const array& a, int axis = -1, StreamOrDevice s = {});
array rfft(const array& a, int n, int axis, StreamOrDevice s = {});
array rfft(const array& a, int axis = -1, StreamOrDevice s = {});
/// `n` is the output length (default 2 * (m - 1) for m input bins).
array irfft(const array& a, int n, int axis, StreamOrDevice s = {});
array irfft(const array& a, int axis = -1, StreamOrDevice s = {});

/// 2-d transforms (axes default to the last two; with `n` they must be given, as `n` and
/// `axes` are both vectors of ints and a braced list would be ambiguous).
array fft2(const array& a, const Shape& n, const std::vector<int>& axes, StreamOrDevice s = {});
array fft2(const array& a, const std::vector<int>& axes = {-2, -1}, StreamOrDevice s = {});
array ifft2(const array& a, const Shape& n, const std::vector<int>& axes, StreamOrDevice s = {});
array ifft2(const array& a, const std::vector<int>& axes = {-2, -1}, StreamOrDevice s = {});
array rfft2(const array& a, const Shape& n, const std::vector<int>& axes, StreamOrDevice s = {});
array rfft2(const array& a, const std::vector<int>& axes = {-2, -1}, StreamOrDevice s = {});
array irfft2(const array& a, const Shape& n, const std::vector<int>& axes, StreamOrDevice s = {});
array irfft2(const array& a, const std::vector<int>& axes = {-2, -1}, StreamOrDevice s = {});

/// Moves the zero frequency to the centre: a roll by n / 2 along each of `axes` (default: all).
array fftshift(const array& a, const std::vector<int>& axes, StreamOrDevice s = {});
array fftshift(const array& a, StreamOrDevice s = {});
/// The inverse of fftshift: a roll by -(n / 2).
array ifftshift(const array& a, const std::vector<int>& axes, StreamOrDevice s = {});
array ifftshift(const array& a, StreamOrDevice s = {});

}  // namespace fft

/// The Walsh-Hadamard transform along the last axis, scale * (a @ H_n); n = m * 2^k
/// with m in {1, 12, 20, 28} as in MLX. H_n is the Sylvester matrix for powers of two,
/// else H_m (x) H_{2^k} with H_m the symmetric Paley II matrix of order m, which need not
/// be the base matrix MLX uses (any Hadamard matrix gives an orthogonal transform, but
/// the outputs for these sizes can differ from MLX's). scale defaults to 1 / sqrt(n).
/// Floating inputs keep their dtype, others become float32.
array hadamard_transform(const array& a, std::optional<float> scale = std::nullopt, StreamOrDevice s = {});

}  // namespace ember
