// ember.core.fft, as mlx.core.fft.
#include "common.h"

namespace ember::py {

namespace {
using OneD = array (*)(const array&, int, int, StreamOrDevice);
using OneDNoN = array (*)(const array&, int, StreamOrDevice);
using ND = array (*)(const array&, const Shape&, const std::vector<int>&, StreamOrDevice);
using NDAxes = array (*)(const array&, const std::vector<int>&, StreamOrDevice);
using NDAll = array (*)(const array&, StreamOrDevice);

void def_1d(nb::module_& m, const char* name, OneD with_n, OneDNoN without_n, const char* doc) {
  m.def(
      name,
      [with_n, without_n](const ArrayLike& a, std::optional<int> n, int axis, StreamOrDevice s) {
        return n ? with_n(a, *n, axis, s) : without_n(a, axis, s);
      },
      "a"_a, "n"_a = nb::none(), "axis"_a = -1, nb::kw_only(), "stream"_a = nb::none(), doc);
}

// fftn-style: s (sizes) and axes both optional; 2-d variants default axes to (-2, -1).
void def_nd(nb::module_& m, const char* name, ND with_n, NDAxes with_axes, NDAll all, bool two_d, const char* doc) {
  m.def(
      name,
      [with_n, with_axes, all, two_d](const ArrayLike& a, std::optional<Shape> n, std::optional<std::vector<int>> axes,
                                      StreamOrDevice s) {
        if (!axes && two_d) axes = std::vector<int>{-2, -1};
        if (n) {
          if (!axes) {
            std::vector<int> last;
            int nd = static_cast<int>(a.get().ndim());
            for (size_t i = 0; i < n->size(); ++i)
              last.push_back(nd - static_cast<int>(n->size()) + static_cast<int>(i));
            axes = last;
          }
          return with_n(a, *n, *axes, s);
        }
        return axes ? with_axes(a, *axes, s) : all(a, s);
      },
      "a"_a, "s"_a = nb::none(), "axes"_a = nb::none(), nb::kw_only(), "stream"_a = nb::none(), doc);
}
}  // namespace

void init_fft(nb::module_& parent) {
  nb::module_ m = parent.def_submodule("fft", "Fourier transforms, as mlx.core.fft.");
  def_1d(m, "fft", &fft::fft, &fft::fft, "1-d discrete Fourier transform along axis.");
  def_1d(m, "ifft", &fft::ifft, &fft::ifft, "1-d inverse transform.");
  def_1d(m, "rfft", &fft::rfft, &fft::rfft, "1-d transform of a real input (n // 2 + 1 outputs).");
  def_1d(m, "irfft", &fft::irfft, &fft::irfft, "Inverse of rfft (n outputs, default 2 * (m - 1)).");
  def_nd(m, "fftn", &fft::fftn, &fft::fftn, &fft::fftn, false, "n-d transform over axes (all by default).");
  def_nd(m, "ifftn", &fft::ifftn, &fft::ifftn, &fft::ifftn, false, "n-d inverse transform.");
  def_nd(m, "rfftn", &fft::rfftn, &fft::rfftn, &fft::rfftn, false, "n-d transform of a real input.");
  def_nd(m, "irfftn", &fft::irfftn, &fft::irfftn, &fft::irfftn, false, "Inverse of rfftn.");
  def_nd(m, "fft2", &fft::fft2, &fft::fft2, &fft::fftn, true, "2-d transform (axes default (-2, -1)).");
  def_nd(m, "ifft2", &fft::ifft2, &fft::ifft2, &fft::ifftn, true, "2-d inverse transform.");
  def_nd(m, "rfft2", &fft::rfft2, &fft::rfft2, &fft::rfftn, true, "2-d transform of a real input.");
  def_nd(m, "irfft2", &fft::irfft2, &fft::irfft2, &fft::irfftn, true, "Inverse of rfft2.");
  m.def(
      "fftshift",
      [](const ArrayLike& a, std::optional<std::vector<int>> axes, StreamOrDevice s) {
        return axes ? fft::fftshift(a, *axes, s) : fft::fftshift(a, s);
      },
      "a"_a, "axes"_a = nb::none(), nb::kw_only(), "stream"_a = nb::none(), "Zero frequency moved to the centre.");
  m.def(
      "ifftshift",
      [](const ArrayLike& a, std::optional<std::vector<int>> axes, StreamOrDevice s) {
        return axes ? fft::ifftshift(a, *axes, s) : fft::ifftshift(a, s);
      },
      "a"_a, "axes"_a = nb::none(), nb::kw_only(), "stream"_a = nb::none(), "Inverse of fftshift.");
}

}  // namespace ember::py
