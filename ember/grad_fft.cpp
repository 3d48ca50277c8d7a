// vjp, jvp and vmap of FFT and Hadamard. Both are linear, so the jvp applies
// the same primitive to the tangent. Cotangents follow Ember's convention for
// complex values (the one of Multiply, Real, Imag: the pairing Re(sum a * b),
// no conjugation), under which the vjp of a linear map is its transpose:
//   fft:   y = F x (F symmetric)            -> vjp(g) = fft(g)
//   ifft:  y = conj(F) x / n                -> vjp(g) = ifft(g)
//   rfft:  y = crop(F x), x real            -> vjp(g) = Re(fft(zero_pad(g)))
//   irfft: y_j = sum_k c_k Re(X_k w^{jk}) / n, c_k = 2 except 1 for bin 0 and
//          (n even) bin n / 2, whose imaginary parts are ignored
//                                          -> vjp(g) = c * crop(ifft(g))
// The multi-axis versions compose these one axis at a time. (MLX, whose
// cotangents became conjugated in 2025, writes fft's vjp as n * ifft(g).)
// Hadamard: y = scale * x H with H symmetric -> vjp(g) = scale * g H.
#include <vector>

#include "ember/fft.h"
#include "ember/ops.h"
#include "ember/primitives_fft.h"

namespace ember {

// ---------------------------------------------------------------- FFT

std::vector<array> FFT::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                            const std::vector<int>& argnums, const std::vector<array>&) {
  Stream s = stream();
  const array& in = primals[0];
  const array& g = cotangents[0];
  const int last = axes_.back();
  array ct = g;
  if (!real_) {
    array x = astype(g, complex64, s);
    ct = array(x.shape(), complex64, std::make_shared<FFT>(s, axes_, inverse_, false), {x});
  } else if (!inverse_) {
    Shape n;
    for (int ax : axes_) n.push_back(in.shape(ax));
    ct = astype(ember::real(fft::fftn(g, n, axes_, s), s), in.dtype(), s);
  } else {
    const int m = in.shape(last), n = irfft_n_;
    array f = fft::ifftn(g, axes_, s);
    Shape start(f.ndim(), 0), stop = f.shape();
    stop[last] = m;
    f = slice(f, start, stop, s);
    std::vector<float> c(m, 2.0f);
    c[0] = 1.0f;
    if (n % 2 == 0) c[m - 1] = 1.0f;
    Shape mask_shape(f.ndim(), 1);
    mask_shape[last] = m;
    ct = multiply(f, array(c, mask_shape), s);
  }
  return std::vector<array>(argnums.size(), ct);
}

std::vector<array> FFT::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                            const std::vector<int>&) {
  array t = astype(tangents[0], primals[0].dtype(), stream());
  return {array(output_shape(t.shape()), output_dtype(),
                std::make_shared<FFT>(stream(), axes_, inverse_, real_, irfft_n_), {t})};
}

std::pair<std::vector<array>, std::vector<int>> FFT::vmap(const std::vector<array>& inputs,
                                                          const std::vector<int>& axes) {
  // The batch axis is never transformed: the transformed axes at or after it move up by one.
  const array& in = inputs[0];
  int b = axes[0];
  std::vector<int> fa = axes_;
  if (b >= 0) {
    for (int& a : fa) a += a >= b ? 1 : 0;
  }
  auto prim = std::make_shared<FFT>(stream(), fa, inverse_, real_, irfft_n_);
  Shape shape = prim->output_shape(in.shape());
  return {{array(std::move(shape), output_dtype(), prim, {in})}, {b}};
}

// ---------------------------------------------------------------- Hadamard

namespace {

array apply_hadamard(const array& x, double scale, Stream s) {
  return array(x.shape(), x.dtype(), std::make_shared<Hadamard>(s, scale), {x});
}

}  // namespace

std::vector<array> Hadamard::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                 const std::vector<int>& argnums, const std::vector<array>&) {
  array g = apply_hadamard(astype(cotangents[0], primals[0].dtype(), stream()), scale_, stream());
  return std::vector<array>(argnums.size(), g);
}

std::vector<array> Hadamard::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                 const std::vector<int>&) {
  return {apply_hadamard(astype(tangents[0], primals[0].dtype(), stream()), scale_, stream())};
}

std::pair<std::vector<array>, std::vector<int>> Hadamard::vmap(const std::vector<array>& inputs,
                                                               const std::vector<int>& axes) {
  // The transform runs along the last axis: a batch axis there moves to the front.
  Stream s = stream();
  int b = axes[0];
  if (b >= 0 && b == static_cast<int>(inputs[0].ndim()) - 1) {
    return {{apply_hadamard(moveaxis(inputs[0], b, 0, s), scale_, s)}, {0}};
  }
  return {{apply_hadamard(inputs[0], scale_, s)}, {b}};
}

}  // namespace ember
