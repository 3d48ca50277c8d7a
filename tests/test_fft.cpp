// ember::fft (fft, ifft, rfft, irfft, their 2-d and n-d forms, fftshift,
// ifftshift) against a naive O(n^2) DFT in double written here, on random
// inputs: sizes 1, primes, powers of two, odd irfft lengths, cropping and zero
// padding, several axes in any order, non-contiguous layouts, round trips and
// the error messages. Then hadamard_transform against an explicit Sylvester
// matrix product. The GradFFT suite checks the vjp/jvp/vmap of FFT and
// Hadamard (grad_check), real-valued compositions through the public
// transforms, and the vjps against explicit transposed DFT matrices.
#include <gtest/gtest.h>

#include <ember/ember.h>
#include <ember/fft.h>
#include <ember/primitives_fft.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "grad_check.h"
#include "test_utils.h"

using namespace ember;
using cd = std::complex<double>;
using test_utils::expect_error;
using test_utils::numel;
using test_utils::ravel;
using test_utils::unravel;

namespace {

constexpr double kPi = 3.14159265358979323846;

// ---------------------------------------------------------------- reference (double, O(n^2))

// Values in row-major order plus their shape.
struct Ref {
  std::vector<cd> v;
  Shape shape;
};

Ref ref_of(const array& a) { return {test_utils::cvalues(a), a.shape()}; }

// Applies f(line) -> new line (of length n_out) to every line along `axis`.
template <class F>
Ref map_lines(const Ref& in, int axis, int n_out, F f) {
  Ref out{{}, in.shape};
  out.shape[axis] = n_out;
  out.v.assign(numel(out.shape), 0.0);
  for (int64_t i = 0; i < numel(in.shape); ++i) {
    Shape idx = unravel(i, in.shape);
    if (idx[axis] != 0) continue;
    std::vector<cd> line;
    for (int j = 0; j < in.shape[axis]; ++j) {
      idx[axis] = j;
      line.push_back(in.v[ravel(idx, in.shape)]);
    }
    std::vector<cd> res = f(line);
    for (int j = 0; j < n_out; ++j) {
      idx[axis] = j;
      out.v[ravel(idx, out.shape)] = res[j];
    }
  }
  return out;
}

// Crops or zero-pads along `axis` to n.
Ref ref_fit(const Ref& in, int axis, int n) {
  return map_lines(in, axis, n, [&](std::vector<cd> line) {
    line.resize(n, 0.0);
    return line;
  });
}

// DFT along `axis`: X_k = sum_j x_j e^{-2 pi i jk / n}; the inverse uses e^{+} and 1/n.
Ref ref_dft(const Ref& in, int axis, bool inverse) {
  int n = in.shape[axis];
  return map_lines(in, axis, n, [&](const std::vector<cd>& x) {
    std::vector<cd> y(n, 0.0);
    double sign = inverse ? 1.0 : -1.0;
    for (int k = 0; k < n; ++k) {
      for (int j = 0; j < n; ++j) y[k] += x[j] * std::polar(1.0, sign * 2 * kPi * double(j) * k / n);
      if (inverse) y[k] /= n;
    }
    return y;
  });
}

// irfft along `axis` to length n from the first n / 2 + 1 bins (imaginary parts of
// bin 0 and, for even n, bin n / 2 ignored, as NumPy):
//   y_j = (Re X_0 + sum_{0<k<n/2} 2 Re(X_k e^{2 pi i jk/n}) + [n even] Re(X_{n/2}) (-1)^j) / n
Ref ref_irfft(const Ref& in, int axis, int n) {
  Ref x = ref_fit(in, axis, n / 2 + 1);
  return map_lines(x, axis, n, [&](const std::vector<cd>& X) {
    std::vector<cd> y(n, 0.0);
    for (int j = 0; j < n; ++j) {
      double s = X[0].real();
      for (int k = 1; 2 * k < n; ++k) s += 2 * (X[k] * std::polar(1.0, 2 * kPi * double(j) * k / n)).real();
      if (n % 2 == 0) s += X[n / 2].real() * (j % 2 ? -1.0 : 1.0);
      y[j] = s / n;
    }
    return y;
  });
}

int norm_axis(int ax, int nd) { return ax < 0 ? ax + nd : ax; }

// The reference of a complex transform over `axes` with sizes n.
Ref ref_fftn(const array& a, const Shape& n, const std::vector<int>& axes, bool inverse) {
  Ref r = ref_of(a);
  for (size_t i = 0; i < axes.size(); ++i) {
    int ax = norm_axis(axes[i], a.ndim());
    r = ref_dft(ref_fit(r, ax, n[i]), ax, inverse);
  }
  return r;
}

// rfftn: the full DFT, then the last of `axes` cropped to n / 2 + 1.
Ref ref_rfftn(const array& a, const Shape& n, const std::vector<int>& axes) {
  Ref r = ref_fftn(a, n, axes, false);
  int last = norm_axis(axes.back(), a.ndim());
  return ref_fit(r, last, n.back() / 2 + 1);
}

// irfftn: inverse DFTs over all but the last of `axes`, then irfft on the last.
Ref ref_irfftn(const array& a, const Shape& n, const std::vector<int>& axes) {
  Ref r = ref_of(a);
  for (size_t i = 0; i + 1 < axes.size(); ++i) {
    int ax = norm_axis(axes[i], a.ndim());
    r = ref_dft(ref_fit(r, ax, n[i]), ax, true);
  }
  return ref_irfft(r, norm_axis(axes.back(), a.ndim()), n.back());
}

// Expects `got` to match the reference within float32 FFT accuracy (relative to the largest value).
void expect_matches(const array& got, const Ref& want, Dtype dtype, const std::string& what) {
  SCOPED_TRACE(what);
  ASSERT_EQ(got.shape(), want.shape);
  EXPECT_EQ(got.dtype(), dtype);
  std::vector<cd> g = test_utils::cvalues(got);
  double scale = 1.0;
  for (const cd& x : want.v) scale = std::max(scale, std::abs(x));
  double tol = 2e-6 * scale * std::log2(2.0 + static_cast<double>(want.v.size()));
  for (size_t i = 0; i < g.size(); ++i) {
    ASSERT_LE(std::abs(g[i] - want.v[i]), tol) << "element " << i << " got " << g[i] << " want " << want.v[i];
  }
}

array random_complex(const Shape& shape, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<complex64_t> v(numel(shape));
  for (auto& x : v) x = {u(rng), u(rng)};
  return array(v, shape);
}

array random_real(const Shape& shape, std::mt19937& rng, Dtype t = float32) {
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<double> v(numel(shape));
  for (auto& x : v) x = u(rng);
  array a = astype(array(v, shape), t);
  a.eval();
  return a;
}

}  // namespace

// ---------------------------------------------------------------- 1-d

TEST(FFT, ComplexSizesAndAxes) {
  std::mt19937 rng(1);
  // 67, 97, 134, 1009: a prime factor > 61 goes through Bluestein's algorithm.
  for (int n : {1, 2, 3, 7, 8, 13, 16, 60, 64, 67, 97, 134, 1009}) {
    array a = random_complex({3, n}, rng);
    expect_matches(fft::fft(a), ref_fftn(a, {n}, {-1}, false), complex64, "fft n=" + std::to_string(n));
    expect_matches(fft::ifft(a), ref_fftn(a, {n}, {-1}, true), complex64, "ifft n=" + std::to_string(n));
    array b = random_complex({n, 2, 3}, rng);
    expect_matches(fft::fft(b, 0), ref_fftn(b, {n}, {0}, false), complex64, "fft axis 0 n=" + std::to_string(n));
    expect_matches(fft::ifft(b, 1), ref_fftn(b, {2}, {1}, true), complex64, "ifft axis 1 n=" + std::to_string(n));
  }
}

TEST(FFT, RealInputsArePromoted) {
  std::mt19937 rng(2);
  for (Dtype t : {float32, float64, float16, int32, bool_}) {
    array a = random_real({4, 7}, rng, t);
    if (t == int32) a = astype(multiply(a, array(5.0f)), int32);
    expect_matches(fft::fft(a), ref_fftn(a, {7}, {-1}, false), complex64, "fft of " + dtype_name(t));
    expect_matches(fft::rfft(a), ref_rfftn(a, {7}, {-1}), complex64, "rfft of " + dtype_name(t));
  }
}

TEST(FFT, RealTransforms) {
  std::mt19937 rng(3);
  // 134 = 2 * 67 and 201 = 3 * 67: real transforms whose complex half needs Bluestein.
  for (int n : {1, 2, 3, 7, 8, 13, 16, 33, 64, 134, 201}) {
    array x = random_real({2, n, 3}, rng);
    expect_matches(fft::rfft(x, 1), ref_rfftn(x, {n}, {1}), complex64, "rfft n=" + std::to_string(n));
    // irfft of m bins: default length 2 * (m - 1), or any n (odd included).
    array X = random_complex({3, n / 2 + 1}, rng);
    int m = n / 2 + 1;
    if (m > 1) {
      expect_matches(fft::irfft(X), ref_irfftn(X, {2 * (m - 1)}, {-1}), float32,
                     "irfft default m=" + std::to_string(m));
    }
    expect_matches(fft::irfft(X, n, -1), ref_irfftn(X, {n}, {-1}), float32, "irfft n=" + std::to_string(n));
  }
}

TEST(FFT, CropAndPad) {
  std::mt19937 rng(4);
  array a = random_complex({3, 8}, rng);
  for (int n : {1, 5, 8, 12, 13}) {
    expect_matches(fft::fft(a, n, 1), ref_fftn(a, {n}, {1}, false), complex64, "fft n=" + std::to_string(n));
    expect_matches(fft::ifft(a, n, -1), ref_fftn(a, {n}, {-1}, true), complex64, "ifft n=" + std::to_string(n));
    expect_matches(fft::fft(a, n, 0), ref_fftn(a, {n}, {0}, false), complex64, "fft axis 0 n=" + std::to_string(n));
  }
  array x = random_real({8, 3}, rng);
  for (int n : {3, 8, 11, 16}) {
    expect_matches(fft::rfft(x, n, 0), ref_rfftn(x, {n}, {0}), complex64, "rfft n=" + std::to_string(n));
  }
  // irfft takes n / 2 + 1 bins: more bins than that are dropped, fewer are zero-padded.
  array X = random_complex({2, 6}, rng);
  for (int n : {1, 2, 5, 9, 10, 11, 20, 21}) {
    expect_matches(fft::irfft(X, n, 1), ref_irfftn(X, {n}, {1}), float32, "irfft n=" + std::to_string(n));
  }
}

// ---------------------------------------------------------------- n-d

TEST(FFT, MultiAxis) {
  std::mt19937 rng(5);
  array a = random_complex({4, 5, 6}, rng);
  expect_matches(fft::fft2(a), ref_fftn(a, {5, 6}, {-2, -1}, false), complex64, "fft2");
  expect_matches(fft::ifft2(a), ref_fftn(a, {5, 6}, {-2, -1}, true), complex64, "ifft2");
  expect_matches(fft::fftn(a), ref_fftn(a, {4, 5, 6}, {0, 1, 2}, false), complex64, "fftn");
  expect_matches(fft::ifftn(a), ref_fftn(a, {4, 5, 6}, {0, 1, 2}, true), complex64, "ifftn");
  expect_matches(fft::fftn(a, {2, 0}), ref_fftn(a, {6, 4}, {2, 0}, false), complex64, "fftn axes (2, 0)");
  expect_matches(fft::fftn(a, {3, 8}, {0, 2}), ref_fftn(a, {3, 8}, {0, 2}, false), complex64, "fftn with n");
  expect_matches(fft::fft2(a, {7, 2}, {0, 1}), ref_fftn(a, {7, 2}, {0, 1}, false), complex64, "fft2 with n");
  expect_matches(fft::ifftn(a, {5, 3}, {1, 0}), ref_fftn(a, {5, 3}, {1, 0}, true), complex64, "ifftn with n");

  array x = random_real({4, 5, 6}, rng);
  expect_matches(fft::rfft2(x), ref_rfftn(x, {5, 6}, {1, 2}), complex64, "rfft2");
  expect_matches(fft::rfftn(x), ref_rfftn(x, {4, 5, 6}, {0, 1, 2}), complex64, "rfftn");
  // The real axis is the last of `axes`, not the array's last axis.
  expect_matches(fft::rfftn(x, {2, 0}), ref_rfftn(x, {6, 4}, {2, 0}), complex64, "rfftn axes (2, 0)");
  expect_matches(fft::rfftn(x, {3, 7}, {1, 2}), ref_rfftn(x, {3, 7}, {1, 2}), complex64, "rfftn with n");
  expect_matches(fft::rfft2(x, {4, 9}, {-1, -3}), ref_rfftn(x, {4, 9}, {-1, -3}), complex64, "rfft2 with n");

  array X = random_complex({3, 4, 5}, rng);
  expect_matches(fft::irfft2(X), ref_irfftn(X, {4, 8}, {1, 2}), float32, "irfft2");
  expect_matches(fft::irfftn(X), ref_irfftn(X, {3, 4, 8}, {0, 1, 2}), float32, "irfftn");
  expect_matches(fft::irfftn(X, {2, 0}), ref_irfftn(X, {5, 4}, {2, 0}), float32, "irfftn axes (2, 0)");
  expect_matches(fft::irfftn(X, {6, 7}, {0, 2}), ref_irfftn(X, {6, 7}, {0, 2}), float32, "irfftn odd n");
  expect_matches(fft::irfft2(X, {2, 9}, {2, 1}), ref_irfftn(X, {2, 9}, {2, 1}), float32, "irfft2 with n");
}

TEST(FFT, LargeBatchesUseThreads) {
  // Enough lines to split across the pool, along a strided axis and a contiguous one.
  std::mt19937 rng(6);
  array a = random_complex({48, 128}, rng);
  expect_matches(fft::fft(a, 0), ref_fftn(a, {48}, {0}, false), complex64, "fft axis 0");
  expect_matches(fft::fft(a, 1), ref_fftn(a, {128}, {1}, false), complex64, "fft axis 1");
  array x = random_real({130, 64}, rng);
  expect_matches(fft::rfft(x, 0), ref_rfftn(x, {130}, {0}), complex64, "rfft axis 0");
  expect_matches(fft::irfft(fft::rfft(x, 0), 130, 0), ref_of(x), float32, "irfft(rfft) axis 0");
}

TEST(FFT, NonContiguousInputs) {
  std::mt19937 rng(7);
  array base = random_complex({6, 10}, rng);
  array t = transpose(base);  // (10, 6), strides (1, 10)
  expect_matches(fft::fft(t), ref_fftn(t, {6}, {-1}, false), complex64, "transposed");
  expect_matches(fft::fft2(t), ref_fftn(t, {10, 6}, {0, 1}, false), complex64, "transposed fft2");
  array sl = slice(base, Shape{1, 0}, Shape{6, 10}, Shape{2, 3});  // (3, 4), strided
  expect_matches(fft::fft(sl), ref_fftn(sl, {4}, {-1}, false), complex64, "sliced");
  expect_matches(fft::ifft(sl, 0), ref_fftn(sl, {3}, {0}, true), complex64, "sliced axis 0");
  array br = broadcast_to(random_complex({1, 7}, rng), {4, 7});
  expect_matches(fft::fft(br), ref_fftn(br, {7}, {-1}, false), complex64, "broadcast");
  array xr = transpose(random_real({5, 4, 3}, rng), {2, 0, 1});
  expect_matches(fft::rfftn(xr, {0, 2}), ref_rfftn(xr, {3, 4}, {0, 2}), complex64, "transposed rfftn");
  array Xr = slice(random_complex({4, 9}, rng), Shape{0, 1}, Shape{4, 9}, Shape{1, 2});
  expect_matches(fft::irfft(Xr, 7, 1), ref_irfftn(Xr, {7}, {1}), float32, "sliced irfft");
}

TEST(FFT, RoundTrips) {
  std::mt19937 rng(8);
  for (int n : {1, 5, 8, 13}) {
    array a = random_complex({3, n}, rng);
    expect_matches(fft::ifft(fft::fft(a)), ref_of(a), complex64, "ifft(fft) n=" + std::to_string(n));
    expect_matches(fft::fft(fft::ifft(a)), ref_of(a), complex64, "fft(ifft) n=" + std::to_string(n));
    array x = random_real({n, 2}, rng);
    expect_matches(fft::irfft(fft::rfft(x, 0), n, 0), ref_of(x), float32, "irfft(rfft) n=" + std::to_string(n));
  }
  array a = random_complex({3, 4, 5}, rng);
  expect_matches(fft::ifftn(fft::fftn(a)), ref_of(a), complex64, "ifftn(fftn)");
  array x = random_real({3, 4, 5}, rng);
  expect_matches(fft::irfftn(fft::rfftn(x), {3, 4, 5}, {0, 1, 2}), ref_of(x), float32, "irfftn(rfftn) odd");
  array y = random_real({6, 4}, rng);
  expect_matches(fft::irfft2(fft::rfft2(y)), ref_of(y), float32, "irfft2(rfft2) even");
  // float64 in: computed in single precision (complex64), as MLX.
  array d = random_real({2, 9}, rng, float64);
  EXPECT_EQ(fft::fft(d).dtype(), complex64);
  EXPECT_EQ(fft::irfft(fft::rfft(d), 9, -1).dtype(), float32);
  expect_matches(fft::irfft(fft::rfft(d), 9, -1), ref_of(d), float32, "float64 round trip");
}

TEST(FFT, Shifts) {
  std::mt19937 rng(9);
  array a = random_real({5, 6, 3}, rng);
  Ref r = ref_of(a);
  // NumPy: fftshift(x)[i] = x[(i - n // 2) mod n], ifftshift(x)[i] = x[(i + n // 2) mod n].
  auto want = [&](const std::vector<int>& axes, bool inverse) {
    Ref out = r;
    for (int64_t i = 0; i < numel(a.shape()); ++i) {
      Shape idx = unravel(i, a.shape()), src = idx;
      for (int ax : axes) {
        int n = a.shape(ax), h = n / 2;
        src[ax] = ((idx[ax] + (inverse ? h : -h)) % n + n) % n;
      }
      out.v[i] = r.v[ravel(src, a.shape())];
    }
    return out;
  };
  expect_matches(fft::fftshift(a), want({0, 1, 2}, false), float32, "fftshift all");
  expect_matches(fft::ifftshift(a), want({0, 1, 2}, true), float32, "ifftshift all");
  expect_matches(fft::fftshift(a, {0}), want({0}, false), float32, "fftshift axis 0 (odd)");
  expect_matches(fft::ifftshift(a, {-3, 1}), want({0, 1}, true), float32, "ifftshift axes (-3, 1)");
  expect_matches(fft::ifftshift(fft::fftshift(a)), r, float32, "ifftshift(fftshift)");
  expect_error<std::out_of_range>([&] { fft::fftshift(a, {3}); }, "[fft::fftshift] axis 3 is out of bounds");
  expect_error<std::invalid_argument>([&] { fft::ifftshift(a, {1, -2}); }, "[fft::ifftshift] axes (1, -2) contain");
}

TEST(FFT, Errors) {
  array a = zeros({4, 6}, complex64);
  array x = zeros({4, 6});
  expect_error<std::invalid_argument>([&] { fft::fft(a, 0, -1); }, "[fft::fft] invalid FFT size 0 along axis -1");
  expect_error<std::invalid_argument>([&] { fft::rfft(x, -3, 0); }, "[fft::rfft] invalid FFT size -3 along axis 0");
  expect_error<std::invalid_argument>([&] { fft::fftn(a, {4, 0}, {0, 1}); }, "[fft::fftn] invalid FFT size 0");
  expect_error<std::out_of_range>([&] { fft::fft(a, 2); }, "[fft::fft] axis 2 is out of bounds for an array with 2");
  expect_error<std::out_of_range>([&] { fft::ifft2(a, {-3, 0}); }, "[fft::ifft2] axis -3 is out of bounds");
  expect_error<std::invalid_argument>(
      [&] {
        fft::fftn(a, {1, -1});
      },
      "[fft::fftn] axes (1, -1) contain axis -1 more than once");
  expect_error<std::invalid_argument>([&] { fft::rfft2(x, {0, 0}); }, "[fft::rfft2] axes (0, 0) contain axis 0");
  expect_error<std::invalid_argument>(
      [&] {
        fft::fftn(a, {4}, {0, 1});
      },
      "[fft::fftn] n (4,) and axes (0, 1) must have the same length, got 1 and 2");
  expect_error<std::invalid_argument>(
      [&] {
        fft::irfftn(a, {4, 6, 2}, {0, 1});
      },
      "[fft::irfftn] n (4, 6, 2) and axes (0, 1) must have the same length");
  expect_error<std::invalid_argument>([&] { fft::rfft(a); }, "[fft::rfft] input must be real, got complex64");
  expect_error<std::out_of_range>([&] { fft::fft(array(1.0f)); },
                                  "[fft::fft] axis -1 is out of bounds for an array with 0 dimensions");
  expect_error<std::invalid_argument>([&] { fft::fftn(array(1.0f), Shape{}, std::vector<int>{}); },
                                      "[fft::fftn] expected an array with at least 1 dimension");
  // irfft of a single bin has no default length (2 * (1 - 1) = 0).
  expect_error<std::invalid_argument>(
      [&] {
        fft::irfft(zeros({3, 1}, complex64));
      },
      "[fft::irfft] invalid FFT size 0 along axis -1");
}

TEST(FFT, EmptyBatch) {
  array a = zeros({0, 8}, complex64);
  array f = fft::fft(a);
  EXPECT_EQ(f.shape(), (Shape{0, 8}));
  EXPECT_EQ(fft::rfft(zeros({3, 0, 8})).shape(), (Shape{3, 0, 5}));
  EXPECT_EQ(fft::irfft(zeros({0, 5}, complex64)).shape(), (Shape{0, 8}));
  f.eval();
}

// ---------------------------------------------------------------- hadamard_transform

namespace {

// The Sylvester Hadamard matrix: H_1 = [1], H_2n = [[H, H], [H, -H]]; H[i][j] = (-1)^popcount(i & j).
double sylvester(int i, int j) { return __builtin_popcount(static_cast<unsigned>(i & j)) % 2 ? -1.0 : 1.0; }

void check_hadamard(const array& a, std::optional<float> scale, double tol, const std::string& what) {
  SCOPED_TRACE(what);
  array h = hadamard_transform(a, scale);
  Dtype want_dtype = is_floating_point(a.dtype()) ? a.dtype() : float32;
  EXPECT_EQ(h.dtype(), want_dtype);
  ASSERT_EQ(h.shape(), a.shape());
  int n = a.shape(-1);
  double sc = scale ? *scale : 1.0 / std::sqrt(static_cast<double>(n));
  std::vector<double> x = test_utils::values(a), got = test_utils::values(h);
  for (size_t r = 0; r < x.size() / n; ++r) {
    for (int j = 0; j < n; ++j) {
      double want = 0;
      for (int i = 0; i < n; ++i) want += x[r * n + i] * sylvester(i, j);
      want *= sc;
      ASSERT_NEAR(got[r * n + j], want, tol * (1 + std::abs(want))) << "row " << r << " column " << j;
    }
  }
}

}  // namespace

TEST(Hadamard, AgainstSylvesterMatrix) {
  std::mt19937 rng(10);
  for (int n : {1, 2, 4, 8, 64, 256}) {
    check_hadamard(random_real({3, n}, rng), std::nullopt, 1e-5, "float32 n=" + std::to_string(n));
    check_hadamard(random_real({2, 2, n}, rng, float64), std::nullopt, 1e-12, "float64 n=" + std::to_string(n));
  }
  check_hadamard(random_real({4, 32}, rng, float16), std::nullopt, 1e-2, "float16");
  check_hadamard(random_real({4, 32}, rng, bfloat16), std::nullopt, 2e-2, "bfloat16");
  check_hadamard(astype(multiply(random_real({3, 16}, rng), array(4.0f)), int32), std::nullopt, 1e-5, "int32");
  check_hadamard(random_real({5, 16}, rng), 0.5f, 1e-5, "scale 0.5");
  check_hadamard(random_real({5, 16}, rng), 1.0f, 1e-5, "scale 1");
  check_hadamard(transpose(random_real({8, 6}, rng)), std::nullopt, 1e-5, "transposed");
  check_hadamard(slice(random_real({4, 32}, rng), Shape{0, 0}, Shape{4, 32}, Shape{1, 2}), std::nullopt, 1e-5,
                 "sliced");
  check_hadamard(random_real({300, 128}, rng), std::nullopt, 1e-5, "many rows");
  // Scaled by 1/sqrt(n) it is orthogonal and its own inverse.
  array x = random_real({3, 64}, rng);
  EXPECT_TRUE(allclose(hadamard_transform(hadamard_transform(x)), x, 1e-5, 1e-5).item<bool>());
}

TEST(Hadamard, NonPowerOfTwoSizesAreHadamardKroneckerSylvester) {
  // n = m * 2^k, m in {12, 20, 28}: the transform of the identity (scale 1) is the matrix
  // itself. It must be a Hadamard matrix (entries +-1, H H^T = n I), symmetric (its vjp
  // applies the same transform), and H_m (x) Sylvester(2^k) in its block structure.
  for (int n : {12, 20, 28, 24, 40, 56, 96}) {
    SCOPED_TRACE("n=" + std::to_string(n));
    int m = n % 28 == 0 && ((n / 28) & (n / 28 - 1)) == 0 ? 28 : n % 20 == 0 ? 20 : 12;
    int p = n / m;
    std::vector<double> h = test_utils::values(hadamard_transform(eye(n, float64), 1.0f));
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < n; ++j) {
        double v = h[i * n + j];
        ASSERT_TRUE(v == 1.0 || v == -1.0) << i << "," << j << " = " << v;
        ASSERT_EQ(v, h[j * n + i]) << "not symmetric at " << i << "," << j;
        ASSERT_EQ(v, h[(i / p) * p * n + (j / p) * p] * sylvester(i % p, j % p)) << i << "," << j;
        double dot = 0;
        for (int k = 0; k < n; ++k) dot += h[i * n + k] * h[j * n + k];
        ASSERT_EQ(dot, i == j ? n : 0) << "rows " << i << " and " << j;
      }
    }
    // Random inputs against the extracted matrix, in float32, with the default scale.
    std::mt19937 rng(n);
    array x = random_real({3, n}, rng);
    std::vector<double> xv = test_utils::values(x), got = test_utils::values(hadamard_transform(x));
    for (int r = 0; r < 3; ++r) {
      for (int j = 0; j < n; ++j) {
        double want = 0;
        for (int i = 0; i < n; ++i) want += xv[r * n + i] * h[i * n + j];
        want /= std::sqrt(static_cast<double>(n));
        ASSERT_NEAR(got[r * n + j], want, 1e-5 * (1 + std::abs(want)));
      }
    }
  }
}

TEST(Hadamard, Errors) {
  expect_error<std::invalid_argument>(
      [] {
        hadamard_transform(zeros({3, 36}));
      },
      "[hadamard_transform] the last axis must have a size m * 2^k with m in {1, 12, 20, 28}, got 36");
  expect_error<std::invalid_argument>([] { hadamard_transform(zeros({3, 0})); }, "got 0");
  expect_error<std::invalid_argument>([] { hadamard_transform(zeros({3, 14})); }, "got 14");
  expect_error<std::invalid_argument>([] { hadamard_transform(array(2.0f)); }, "at least 1 dimension");
  expect_error<std::invalid_argument>([] { hadamard_transform(zeros({4}, complex64)); }, "complex64");
}

// ---------------------------------------------------------------- gradients

using Args = std::vector<array>;

namespace {

// The transforms are linear, so central differences are exact for any step;
// a large step keeps the float32 rounding of the FFT small next to it.
grad_check::Options fft_options() {
  grad_check::Options o;
  o.eps = 0.5;
  o.rtol = 2e-4;
  o.atol = 1e-4;
  o.vmap_tol = 1e-5;
  return o;
}

// Compositions through the public transforms (real in, real out); central
// differences are exact for the quadratic ones too.
grad_check::Options composition_options() {
  grad_check::Options o = fft_options();
  o.eps = 0.05;
  o.rtol = 1e-3;
  o.atol = 1e-3;
  o.vmap_tol = 1e-4;
  return o;
}

}  // namespace

TEST(GradFFT, Complex) {
  using grad_check::check;
  check([](const Args& x) { return fft::fft(x[0]); }, {{3, 7}}, fft_options());
  check([](const Args& x) { return fft::ifft(x[0], 0); }, {{8, 3}}, fft_options());
  check([](const Args& x) { return fft::fft2(x[0]); }, {{2, 4, 5}}, fft_options());
  check([](const Args& x) { return fft::ifftn(x[0], {2, 0}); }, {{3, 2, 4}}, fft_options());
}

TEST(GradFFT, Real) {
  using grad_check::check;
  check([](const Args& x) { return fft::rfft(x[0]); }, {{3, 8}}, fft_options());
  check([](const Args& x) { return fft::rfft(x[0], 0); }, {{7, 2}}, fft_options());
  check([](const Args& x) { return fft::rfftn(x[0], {2, 0}); }, {{4, 2, 5}}, fft_options());
  check([](const Args& x) { return fft::irfft(x[0]); }, {{3, 5}}, fft_options());
  check([](const Args& x) { return fft::irfft(x[0], 9, 1); }, {{2, 5}}, fft_options());
  check([](const Args& x) { return fft::irfftn(x[0], {6, 7}, {1, 0}); }, {{4, 3, 2}}, fft_options());
}

TEST(GradFFT, RealValuedCompositions) {
  using grad_check::check_transforms;
  auto o = composition_options();
  // Complex intermediates, real ends: the true derivative whatever the complex convention.
  check_transforms([](const Args& x) { return add(real(fft::fft(x[0])), imag(fft::fft2(x[0]))); }, {{3, 5}}, o);
  check_transforms([](const Args& x) { return abs(fft::ifft(x[0])); }, {{2, 6}}, o);
  check_transforms([](const Args& x) { return square(abs(fft::rfft(x[0], 9, 1))); }, {{2, 7}}, o);
  check_transforms([](const Args& x) { return real(fft::rfftn(x[0], {0, 1})); }, {{4, 5}}, o);
  check_transforms([](const Args& x) { return imag(fft::rfftn(x[0], {1, 0})); }, {{4, 6}}, o);
  // irfft of a complex spectrum built from two real inputs: the imaginary parts of
  // bin 0 and the Nyquist bin must get zero gradient, interior bins doubled.
  auto spectrum = [](const Args& x) { return add(x[0], multiply(x[1], array(complex64_t(0.0f, 1.0f)))); };
  check_transforms([spectrum](const Args& x) { return fft::irfft(spectrum(x)); }, {{2, 5}, {2, 5}}, o);
  check_transforms([spectrum](const Args& x) { return fft::irfft(spectrum(x), 7, -1); }, {{2, 4}, {2, 4}}, o);
  check_transforms([spectrum](const Args& x) { return fft::irfftn(spectrum(x), {3, 6}, {0, 1}); }, {{3, 4}, {3, 4}}, o);
  // A filter: irfft(rfft(x) * h), odd length.
  check_transforms(
      [](const Args& x) {
        array h = array(std::vector<complex64_t>{{1, 0}, {0.5f, -0.25f}, {-0.3f, 0.7f}, {0.2f, 0.1f}}, {4});
        return fft::irfft(multiply(fft::rfft(x[0]), h), 7, -1);
      },
      {{3, 7}}, o);
  // Shifts are rolls.
  check_transforms([](const Args& x) { return fft::fftshift(x[0]); }, {{3, 5}}, o);
}

TEST(GradFFT, VjpIsTheTransposedDftMatrix) {
  // Under Ember's complex convention (pairing Re(sum a * b)) the vjp of a linear map is
  // its transpose: checked against explicit DFT matrices on complex cotangents.
  std::mt19937 rng(11);
  const int n = 6, m = n / 2 + 1;
  auto w = [&](int j, int k, double sign) { return std::polar(1.0, sign * 2 * kPi * j * k / n); };
  array xc = random_complex({n}, rng), xr = random_real({n}, rng), gc = random_complex({n}, rng);
  array gm = random_complex({m}, rng), gr = random_real({n}, rng);
  std::vector<cd> g = test_utils::cvalues(gc), g_m = test_utils::cvalues(gm), g_r = test_utils::cvalues(gr);
  auto vjp1 = [](std::function<array(const array&)> f, const array& x, const array& ct) {
    return ember::vjp([f](const Args& a) { return Args{f(a[0])}; }, {x}, {ct}).second[0];
  };
  Ref want{std::vector<cd>(n), {n}};
  // fft: F^T g = F g.
  for (int j = 0; j < n; ++j) {
    want.v[j] = 0;
    for (int k = 0; k < n; ++k) want.v[j] += w(j, k, -1) * g[k];
  }
  expect_matches(vjp1([](const array& a) { return fft::fft(a); }, xc, gc), want, complex64, "fft");
  // ifft: (conj(F) / n)^T g.
  for (int j = 0; j < n; ++j) {
    want.v[j] = 0;
    for (int k = 0; k < n; ++k) want.v[j] += w(j, k, 1) * g[k] / double(n);
  }
  expect_matches(vjp1([](const array& a) { return fft::ifft(a); }, xc, gc), want, complex64, "ifft");
  // rfft of real x: Re(R^T g), R the first m rows of F.
  for (int j = 0; j < n; ++j) {
    cd s = 0;
    for (int k = 0; k < m; ++k) s += w(j, k, -1) * g_m[k];
    want.v[j] = s.real();
  }
  expect_matches(vjp1([](const array& a) { return fft::rfft(a); }, xr, gm), want, float32, "rfft");
  // irfft to n (even) from m bins: c_k / n sum_j g_j e^{+2 pi i jk / n}, c = (1, 2, ..., 2, 1).
  Ref want_m{std::vector<cd>(m), {m}};
  for (int k = 0; k < m; ++k) {
    cd s = 0;
    for (int j = 0; j < n; ++j) s += w(j, k, 1) * g_r[j];
    want_m.v[k] = s * ((k == 0 || k == m - 1) ? 1.0 : 2.0) / double(n);
  }
  expect_matches(vjp1([](const array& a) { return fft::irfft(a, n, 0); }, gm, gr), want_m, complex64, "irfft");
}

TEST(GradFFT, Hadamard) {
  using grad_check::check;
  check([](const Args& x) { return hadamard_transform(x[0]); }, {{3, 8}});
  check([](const Args& x) { return hadamard_transform(x[0], 0.25f); }, {{2, 3, 4}});
  check([](const Args& x) { return hadamard_transform(transpose(x[0])); }, {{16, 2}});
  check([](const Args& x) { return hadamard_transform(x[0]); }, {{2, 24}});
  check([](const Args& x) { return hadamard_transform(x[0]); }, {{2, 20}});
  grad_check::check_transforms([](const Args& x) { return square(hadamard_transform(x[0])); }, {{2, 16}});
}
