// Affine group quantization (ember/quantized.h) against plain loops written here: the
// bitstream read bit by bit, group min/max scales, dequantized weights and float64 matmuls;
// over bit widths, group sizes, shapes, scale dtypes and both weight orientations. Gradients,
// jvp and vmap go through grad_check; argument errors are checked too.
#include <gtest/gtest.h>

#include <ember/ember.h>
#include <ember/primitives_quantized.h>

#include "ember/backend/cpu/quantized_i8.h"

#include <cmath>
#include <optional>
#include <random>
#include <tuple>
#include <vector>

#include "grad_check.h"
#include "test_utils.h"

using namespace ember;
using test_utils::expect_error;
using test_utils::values;

namespace {

const std::vector<int> kBits = {2, 3, 4, 5, 6, 8};
const std::vector<int> kGroups = {16, 32, 64, 128};

array rnd(const Shape& shape, Dtype t, uint64_t seed, double scale = 1.0) {
  array a = astype(multiply(random::normal(shape, float32, 0.0, 1.0, random::key(seed)), array(float(scale))), t);
  a.eval();
  return a;
}

// Code j of a packed row read one bit at a time: bit t of code j is bit j * bits + t of the
// row's LSB-first bitstream.
uint32_t code_at(const std::vector<double>& words, size_t row_start, int64_t j, int bits) {
  uint32_t v = 0;
  for (int t = 0; t < bits; ++t) {
    int64_t p = j * bits + t;
    uint32_t word = static_cast<uint32_t>(words[row_start + p / 32]);
    v |= ((word >> (p % 32)) & 1u) << t;
  }
  return v;
}

// The weights that (wq, scales, biases) stand for, in float64: rows x cols.
std::vector<double> dequant_ref(const array& wq, const array& scales, const array& biases, int rows, int cols, int gs,
                                int bits) {
  std::vector<double> w = values(wq), s = values(scales), b = values(biases), out(static_cast<size_t>(rows) * cols);
  size_t W = static_cast<size_t>(cols) * bits / 32, G = cols / gs;
  for (int r = 0; r < rows; ++r) {
    for (int j = 0; j < cols; ++j) {
      out[r * cols + j] = s[r * G + j / gs] * code_at(w, r * W, j, bits) + b[r * G + j / gs];
    }
  }
  return out;
}

}  // namespace

TEST(Quantized, PackingAndScalesMatchTheDefinition) {
  for (int bits : kBits) {
    for (int gs : kGroups) {
      const int R = 3, K = 2 * gs;
      array w = rnd({R, K}, float32, 10 + bits * 7 + gs);
      auto [wq, sc, bi] = quantize(w, gs, bits);
      ASSERT_EQ(wq.dtype(), uint32);
      ASSERT_EQ(wq.shape(), (Shape{R, K * bits / 32}));
      ASSERT_EQ(sc.shape(), (Shape{R, K / gs}));
      ASSERT_EQ(bi.dtype(), float32);
      std::vector<float> wv(R * K);
      std::vector<double> wd = values(w), words = values(wq), sv = values(sc), bv = values(bi);
      const float levels = static_cast<float>((1 << bits) - 1);
      for (int r = 0; r < R; ++r) {
        for (int g = 0; g < K / gs; ++g) {
          float lo = 1e30f, hi = -1e30f;
          for (int j = 0; j < gs; ++j) {
            lo = std::min(lo, static_cast<float>(wd[r * K + g * gs + j]));
            hi = std::max(hi, static_cast<float>(wd[r * K + g * gs + j]));
          }
          float s = (hi - lo) / levels;
          ASSERT_EQ(sv[r * (K / gs) + g], s) << bits << " bits, group " << gs;
          ASSERT_EQ(bv[r * (K / gs) + g], lo);
          for (int j = 0; j < gs; ++j) {
            float q = std::nearbyint((static_cast<float>(wd[r * K + g * gs + j]) - lo) / s);
            q = std::min(std::max(q, 0.0f), levels);
            ASSERT_EQ(code_at(words, r * (K * bits / 32), g * gs + j, bits), static_cast<uint32_t>(q))
                << bits << " bits, group " << gs << ", row " << r << ", element " << g * gs + j;
          }
        }
      }
    }
  }
}

TEST(Quantized, DequantizeIsWithinHalfAStep) {
  for (Dtype t : {float32, float16, bfloat16}) {
    for (int bits : kBits) {
      for (int gs : kGroups) {
        // Leading axes too: w (2, 3, K).
        const int K = 2 * gs;
        array w = rnd({2, 3, K}, t, 100 + bits + gs, 2.0);
        auto [wq, sc, bi] = quantize(w, gs, bits);
        ASSERT_EQ(sc.dtype(), t);
        array d = dequantize(wq, sc, bi, gs, bits);
        ASSERT_EQ(d.dtype(), t);
        ASSERT_EQ(d.shape(), w.shape());
        std::vector<double> got = values(d), want = values(w), s = values(sc);
        std::vector<double> ref =
            dequant_ref(reshape(wq, {6, -1}), reshape(sc, {6, -1}), reshape(bi, {6, -1}), 6, K, gs, bits);
        // Rounding of the output to t, plus a step a rounded scale may miss at the top code.
        double ulp = t == float32 ? 1e-6 : t == float16 ? 1e-3 : 8e-3;
        for (size_t i = 0; i < got.size(); ++i) {
          double step = s[i / gs];
          ASSERT_LE(std::abs(got[i] - want[i]), step / 2 + ulp * (std::abs(want[i]) + step * (1 << bits)))
              << dtype_name(t) << " " << bits << " bits, group " << gs << " at " << i;
          ASSERT_NEAR(got[i], ref[i], ulp * (1 + std::abs(ref[i]))) << "dequantize vs the bit-level reference";
        }
      }
    }
  }
}

TEST(Quantized, RepresentableValuesRoundTripExactly) {
  std::mt19937 rng(7);
  for (Dtype t : {float32, float16, bfloat16}) {
    for (int bits : kBits) {
      for (int gs : kGroups) {
        // w = bias + q * 2^-3 with q spanning 0 .. 2^bits - 1 in every group: scale 2^-3 exactly.
        const int R = 2, K = 2 * gs, top = (1 << bits) - 1;
        std::vector<double> wv(R * K);
        std::uniform_int_distribution<int> code(0, top), base(-8, 8);
        for (int r = 0; r < R; ++r) {
          for (int g = 0; g < K / gs; ++g) {
            double b = base(rng) * 0.5;
            for (int j = 0; j < gs; ++j) wv[r * K + g * gs + j] = b + 0.125 * (j == 0 ? 0 : j == 1 ? top : code(rng));
          }
        }
        if (t == bfloat16 && bits > 6) continue;  // 8-bit codes times 2^-3 plus a bias overflow bf16's 8 bits
        array w = astype(array(wv.data(), {R, K}, float64), t);
        auto [wq, sc, bi] = quantize(w, gs, bits);
        std::vector<double> got = values(dequantize(wq, sc, bi, gs, bits)), want = values(w);
        for (size_t i = 0; i < got.size(); ++i) {
          ASSERT_EQ(got[i], want[i]) << dtype_name(t) << " " << bits << " bits, group " << gs << " at " << i;
        }
      }
    }
  }
  // A constant group: tiny scale, codes 0, the constant back exactly.
  array c = full({1, 64}, array(0.75f));
  auto [wq, sc, bi] = quantize(c, 64, 4);
  for (double v : values(wq)) EXPECT_EQ(v, 0.0);
  for (double v : values(dequantize(wq, sc, bi, 64, 4))) EXPECT_EQ(v, 0.75);
}

TEST(Quantized, MatmulMatchesFloat64Reference) {
  uint64_t seed = 1000;
  for (int bits : kBits) {
    for (int gs : kGroups) {
      for (bool transpose : {true, false}) {
        for (int M : {1, 2, 3, 4, 17, 40}) {  // 40: past the matvec, dequantized tiles and sgemm
          for (Dtype st : {float32, float16, bfloat16}) {
            // transpose: w (N, K) with N odd; else w (K, N) quantized along N, with K odd.
            const int N = transpose ? 13 : 2 * gs, K = transpose ? 4 * gs : 11;
            array w = rnd(transpose ? Shape{N, K} : Shape{K, N}, st, seed++);
            auto [wq, sc, bi] = quantize(w, gs, bits);
            Dtype xt = M == 2 ? float16 : float32;
            Shape xs = M == 3 ? Shape{2, M, K} : Shape{M, K};  // batch axes on x
            array x = rnd(xs, xt, seed++);
            array y = quantized_matmul(x, wq, sc, bi, transpose, gs, bits);
            Dtype want_t = promote_types(xt, st);
            ASSERT_EQ(y.dtype(), want_t);
            Shape ys = xs;
            ys.back() = N;
            ASSERT_EQ(y.shape(), ys);
            int rows = transpose ? N : K, cols = transpose ? K : N;
            std::vector<double> wd = dequant_ref(wq, sc, bi, rows, cols, gs, bits), xv = values(x), got = values(y);
            int64_t Mt = static_cast<int64_t>(xv.size()) / K;
            double tol = want_t == float32 ? 2e-5 : want_t == float16 ? 2e-3 : 1e-2;
            for (int64_t m = 0; m < Mt; ++m) {
              for (int n = 0; n < N; ++n) {
                double acc = 0, mag = 0;
                for (int k = 0; k < K; ++k) {
                  double wkn = transpose ? wd[n * K + k] : wd[k * N + n];
                  acc += xv[m * K + k] * wkn;
                  mag += std::abs(xv[m * K + k] * wkn);
                }
                ASSERT_NEAR(got[m * N + n], acc, tol * (1 + mag))
                    << bits << " bits, group " << gs << ", transpose " << transpose << ", M " << M << ", scales "
                    << dtype_name(st) << " at (" << m << ", " << n << ")";
              }
            }
          }
        }
      }
    }
  }
}

TEST(Quantized, DecodeMatvecOnLargeRows) {
  // Many groups and SIMD chunks per row, a scalar tail, every M of the register-blocked path.
  for (int bits : {4, 8, 2, 3}) {
    const int N = 37, K = 1088, gs = 64;  // 4-bit rows: 8 whole AVX-512 chunks and a tail
    array w = rnd({N, K}, float32, 500 + bits);
    auto [wq, sc, bi] = quantize(w, gs, bits);
    array wd = dequantize(wq, sc, bi, gs, bits);
    for (int M = 1; M <= 5; ++M) {
      array x = rnd({M, K}, float32, 600 + M);
      array want = matmul(astype(x, float64), transpose(astype(wd, float64)));
      std::vector<double> got = values(quantized_matmul(x, wq, sc, bi, true, gs, bits)), ref = values(want);
      for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], ref[i], 1e-4 * (1 + std::abs(ref[i]))) << i;
    }
  }
}

TEST(Quantized, Int8ActivationsMatchRoundedXInFloat64) {
  // The reference rounds x to int8 per block of 32 in float64 (scale max|x| / 127, the
  // quantized_matmul_int8_activations contract) over the elements the integer path covers on
  // this CPU (whole chunks of i8_chunk(bits), any M: M = 40 is prefill); the rest of x, and the bias
  // term, stay exact. Without biases (codes offset by 2^(bits - 1), as GGUF's Q4_0) the offset
  // is part of the integer sums, so it meets the rounded x, as in llama.cpp. K = 1088 is 17
  // chunks of 64; 1120 leaves a tail of 32 at 4 bits. Every kernel set this CPU runs is
  // checked, the best one last (it stays selected).
  for (const char* kernels : {"none", "avx2", "vnni"}) {
    if (!cpu::quant::i8_select(kernels)) continue;
    SCOPED_TRACE(kernels);
    for (int bits : {4, 8, 6, 2, 5, 3}) {
      const int64_t chunk = cpu::quant::i8_chunk(bits);
      for (int gs : {16, 32, 64}) {  // 16: Q6_K's groups, on the integer path but at 4 bits
        for (int K : {1088, 1120, 96}) {
          if (K % gs != 0) continue;
          const int N = 21, G = K / gs;
          // float16 scales are read in place by the integer path; float32 and bfloat16 too.
          const Dtype st = K == 1120 ? float16 : K == 1088 ? bfloat16 : float32;
          array w = rnd({N, K}, st, 700 + bits + K + gs);
          auto [wq, sc, bi_affine] = quantize(w, gs, bits);
          for (bool no_biases : {false, true}) {
            // The biases the codes stand with: -2^(bits - 1) * scales (exact) when there are none.
            const array bi = no_biases ? multiply(sc, array(-static_cast<float>(1 << (bits - 1)), st)) : bi_affine;
            std::vector<double> wd = dequant_ref(wq, sc, bi, N, K, gs, bits), b = values(bi);
            for (int M : {1, 3, 4, 6, 40, 70}) {  // 40, 70: prefill (70: two blocks of 64 rows of x)
              array x = rnd({M, K}, float32, 800 + M + K);
              // On the CPU: these are its kernels (on a GPU the op equals quantized_matmul).
              array y = quantized_matmul_int8_activations(x, wq, sc, no_biases ? std::nullopt : std::optional(bi), true,
                                                          gs, bits, Device(Device::cpu));
              ASSERT_EQ(y.shape(), (Shape{M, N}));
              std::vector<double> xv = values(x), got = values(y);
              const int64_t covered = chunk > 0 && (gs >= 32 || (gs == 16 && bits != 4)) ? K / chunk * chunk : 0;
              double worst_shift = 0;  // how far rounding x moves the exact result, relative
              for (int m = 0; m < M; ++m) {
                std::vector<double> xr(xv.begin() + m * K, xv.begin() + (m + 1) * K);
                for (int64_t blk = 0; blk < covered / 32; ++blk) {
                  double amax = 0;
                  for (int j = 0; j < 32; ++j) amax = std::max(amax, std::abs(xr[blk * 32 + j]));
                  const double d = static_cast<float>(amax / 127), inv = static_cast<float>(127 / amax);
                  for (int j = 0; j < 32 && amax > 0; ++j) {
                    xr[blk * 32 + j] = d * std::clamp(std::nearbyint(xr[blk * 32 + j] * inv), -127.0, 127.0);
                  }
                }
                for (int n = 0; n < N; ++n) {
                  double acc = 0, exact = 0, mag = 0;
                  for (int k = 0; k < K; ++k) {
                    const double wk = wd[n * K + k], bias = b[n * G + k / gs], xk = xv[m * K + k];
                    acc += no_biases ? xr[k] * wk : xr[k] * (wk - bias) + xk * bias;
                    exact += xk * wk;
                    mag += std::abs(xk * wk);
                  }
                  ASSERT_NEAR(got[m * N + n], acc, 2e-5 * (1 + mag))
                      << bits << " bits, group " << gs << ", K " << K << ", M " << M << ", no biases " << no_biases
                      << " at (" << m << ", " << n << ")";
                  worst_shift = std::max(worst_shift, std::abs(acc - exact) / (1 + mag));
                }
              }
              // Where the integer path runs, the reference's rounding is visible (so the check
              // above tells the two paths apart); where it does not, the reference is exact.
              if (covered > 0) {
                EXPECT_GT(worst_shift, 1e-4) << bits << " bits, K " << K << ", M " << M;
              } else {
                EXPECT_LT(worst_shift, 1e-12);
              }
            }
          }
        }
      }
    }
  }
}

TEST(Quantized, Int8ActivationRowsAreBitIdenticalAloneOrInADecodeBatch) {
  // A server batches the decode steps of up to four sequences into one product; a sequence's
  // answer must not depend on who else is running (the server tests compare greedy answers
  // with and without company). So each row of x gives the same bits alone as among 2, 3 or 4
  // rows: both integer kernel sets, every width, group size and scale layout, with and
  // without biases (K = 1120 leaves a 4-bit tail of 32 to the scalar loop). (Not the float-x
  // path, kernel set "none": its FMA chains per row vary with the rows of x, see qdot.)
  for (const char* kernels : {"avx2", "vnni"}) {
    if (!cpu::quant::i8_select(kernels)) continue;
    SCOPED_TRACE(kernels);
    for (int bits : {4, 8, 6, 5, 3}) {
      if (cpu::quant::i8_chunk(bits) == 0) continue;  // this width takes the float-x path here
      for (int gs : {16, 32, 64}) {
        if (gs == 16 && bits == 4) continue;
        for (int K : {576, 1120}) {
          if (K % gs != 0) continue;
          const int N = 37;
          const Dtype st = K == 576 ? float16 : float32;
          auto [wq, sc, bi] = quantize(rnd({N, K}, st, 900 + bits + gs + K), gs, bits);
          array x = rnd({4, K}, float32, 950 + bits + K);
          for (bool biases : {true, false}) {
            const std::optional<array> b = biases ? std::optional(bi) : std::nullopt;
            auto product = [&](const array& xs) {
              return values(quantized_matmul_int8_activations(xs, wq, sc, b, true, gs, bits, Device(Device::cpu)));
            };
            const std::vector<double> all = product(x);
            for (int M = 1; M <= 3; ++M) {
              for (int m0 = 0; m0 + M <= 4; m0 += M) {
                const std::vector<double> part = product(slice(x, {m0, 0}, {m0 + M, K}));
                for (int i = 0; i < M * N; ++i) {
                  ASSERT_EQ(part[i], all[m0 * N + i])
                      << bits << " bits, group " << gs << ", K " << K << ", biases " << biases << ": rows " << m0
                      << " to " << m0 + M - 1 << " apart, element " << i;
                }
              }
            }
          }
        }
      }
    }
  }
}

TEST(Quantized, NoBiasesMeansCodesCenteredOnHalfTheirRange) {
  // Without biases, w = scale * (q - 2^(bits - 1)): dequantize against that formula in float64,
  // and every float product path (matvec, dequantized tiles, x @ w) against the same op given
  // biases = -2^(bits - 1) * scales explicitly, which the other tests check in float64.
  // Multiplying by a power of two commutes with rounding, so the two agree to the last bit; the
  // tolerance only allows for a different summation order. (Int8 x: Int8ActivationsMatch...)
  uint64_t seed = 3000;
  for (int bits : kBits) {
    for (int gs : {16, 32, 64}) {
      for (Dtype st : {float16, float32, bfloat16}) {
        const int N = 13, K = 4 * gs * (bits == 3 || bits == 5 ? 2 : 1) + 64;  // K * bits a multiple of 32
        if (K % gs != 0) continue;
        array w = rnd({N, K}, st, seed++);
        auto [wq, sc, bi_unused] = quantize(w, gs, bits);
        (void)bi_unused;
        array b = multiply(sc, array(-static_cast<float>(1 << (bits - 1)), st));
        // dequantize: scale * (q - 2^(bits - 1)) in float64. The op computes scale * q + bias in
        // float32 and rounds to the scales' dtype: within a unit in the last place of
        // scale * 2^bits, in float32 and then in that dtype.
        std::vector<double> wv = values(wq), sv = values(sc), got = values(dequantize(wq, sc, std::nullopt, gs, bits));
        const double eps = st == float32 ? 0x1p-23 : st == float16 ? 0x1p-10 : 0x1p-7;
        const size_t W = static_cast<size_t>(K) * bits / 32, G = K / gs;
        for (int r = 0; r < N; ++r) {
          for (int j = 0; j < K; ++j) {
            const double scale = sv[r * G + j / gs];
            const double want = scale * (double(code_at(wv, r * W, j, bits)) - (1 << (bits - 1)));
            ASSERT_NEAR(got[r * K + j], want, std::abs(scale) * (1 << bits) * (eps + 0x1p-23))
                << bits << " bits, group " << gs << " " << dtype_name(st) << " at (" << r << ", " << j << ")";
          }
        }
        for (int M : {1, 4, 40}) {
          array x = rnd({M, K}, float32, seed++);
          std::vector<double> y0 = values(quantized_matmul(x, wq, sc, std::nullopt, true, gs, bits));
          std::vector<double> y1 = values(quantized_matmul(x, wq, sc, b, true, gs, bits));
          for (size_t i = 0; i < y0.size(); ++i) {
            ASSERT_NEAR(y0[i], y1[i], 1e-5 * (1 + std::abs(y1[i])))
                << bits << " bits, group " << gs << " " << dtype_name(st) << ", M " << M;
          }
        }
        // x @ w, w quantized along N.
        array wn = rnd({11, 2 * gs}, st, seed++);
        auto [wqn, scn, bin_unused] = quantize(wn, gs, bits);
        (void)bin_unused;
        array bn = multiply(scn, array(-static_cast<float>(1 << (bits - 1)), st));
        array xn = rnd({3, 11}, float32, seed++);
        std::vector<double> z0 = values(quantized_matmul(xn, wqn, scn, std::nullopt, false, gs, bits));
        std::vector<double> z1 = values(quantized_matmul(xn, wqn, scn, bn, false, gs, bits));
        for (size_t i = 0; i < z0.size(); ++i) ASSERT_NEAR(z0[i], z1[i], 1e-5 * (1 + std::abs(z1[i])));
      }
    }
  }
}

TEST(GradQuantized, NoBiasesDifferentiatesInXAndScales) {
  // The fallback derives the biases from the scales, so d/dscale sees q - 2^(bits - 1).
  grad_check::Options o;
  o.eps = 0.1;
  o.rtol = 1e-3;
  o.atol = 1e-3;
  o.vmap_tol = 1e-4;
  grad_check::check(
      [](const std::vector<array>& a) {
        auto [wq, sc, bi] = quantize(astype(a[1], float32), 32, 4);
        (void)bi;
        return quantized_matmul(astype(a[0], float32), wq, add(sc, astype(a[2], float32)), std::nullopt, true, 32, 4);
      },
      {{3, 64}, {5, 64}, {5, 2}}, o);
  grad_check::check(
      [](const std::vector<array>& a) {
        auto [wq, sc, bi] = quantize(astype(a[0], float32), 32, 3);
        (void)bi;
        return dequantize(wq, add(sc, astype(a[1], float32)), std::nullopt, 32, 3);
      },
      {{2, 64}, {2, 2}}, o);
}

TEST(GradQuantized, MatmulAndDequantizeDifferentiateThroughFallbacks) {
  // Both ops are linear in x, scales and biases: large finite-difference steps are exact up to
  // float32 rounding.
  grad_check::Options o;
  o.eps = 0.1;
  o.rtol = 1e-3;
  o.atol = 1e-3;
  o.vmap_tol = 1e-4;
  for (bool tr : {true, false}) {
    grad_check::check(
        [tr](const std::vector<array>& a) {
          auto [wq, sc, bi] = quantize(astype(a[1], float32), 32, 4);
          return quantized_matmul(astype(a[0], float32), wq, sc, bi, tr, 32, 4);
        },
        {{3, 64}, tr ? Shape{5, 64} : Shape{64, 32}}, o);
  }
  grad_check::check(
      [](const std::vector<array>& a) {
        auto [wq, sc, bi] = quantize(astype(a[0], float32), 32, 3);
        return dequantize(wq, sc, bi, 32, 3);
      },
      {{2, 64}}, o);
  // quantize has no derivative; its vmap goes through the harness.
  grad_check::Options v = grad_check::vmap_only();
  v.vmap_tol = 0;
  grad_check::check([](const std::vector<array>& a) { return std::get<1>(quantize(astype(a[0], float32), 32, 5)); },
                    {{2, 64}}, v);
}

TEST(GradQuantized, GradientOfXMatchesTheDequantizedMatmul) {
  // d/dx sum(y * u) = u @ W for y = x @ W^T.
  array w = rnd({6, 64}, float32, 900);
  auto [wq, sc, bi] = quantize(w, 32, 4);
  array wd = dequantize(wq, sc, bi, 32, 4);
  array x = rnd({2, 64}, float32, 901), u = rnd({2, 6}, float32, 902);
  auto f = [&](const std::vector<array>& in) {
    return std::vector<array>{sum(multiply(quantized_matmul(in[0], wq, sc, bi, true, 32, 4), u))};
  };
  array g = vjp(f, {x}, {array(1.0f)}).second[0];
  std::vector<double> got = values(g), want = values(matmul(u, wd));
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5 * (1 + std::abs(want[i])));
}

TEST(Quantized, GatherQmmMatchesEachGatheredProductInFloat64) {
  // Experts w (E, N, K) (else (E, K, N)), a batch of x, index patterns: explicit flat indices,
  // broadcasting (4, 1) against (1, 3), and the defaults (every matrix, batches broadcast).
  uint64_t seed = 3000;
  for (bool transpose : {true, false}) {
    for (int bits : {4, 8, 3}) {
      const int E = 3, N = transpose ? 7 : 64, K = transpose ? 64 : 9, M = 2, gs = 32;
      array w = rnd(transpose ? Shape{E, N, K} : Shape{E, K, N}, float16, seed++);
      auto [wq, sc, bi] = quantize(w, gs, bits);
      const int rows = transpose ? N : K, cols = transpose ? K : N;
      std::vector<std::vector<double>> wd;
      for (int e = 0; e < E; ++e) {
        wd.push_back(dequant_ref(take(wq, e, 0), take(sc, e, 0), take(bi, e, 0), rows, cols, gs, bits));
      }
      array x = rnd({2, M, K}, float32, seed++);
      std::vector<double> xv = values(x);
      struct Case {
        std::optional<array> lhs, rhs;
        Shape out_batch;
        std::vector<std::pair<int, int>> pairs;  // (x matrix, w matrix) per output matrix
      };
      std::vector<Case> cases = {
          {array({1, 0, 1, 1}, {4}, int32), array({2, 2, 0, 1}, {4}, uint32), {4}, {{1, 2}, {0, 2}, {1, 0}, {1, 1}}},
          {array({0, 1, 1, 0}, {4, 1}, int32), array({2, 0, 1}, {1, 3}, int32), {4, 3}, {}},
          {std::nullopt, array({1, 2}, {2}, int32), {2}, {{0, 1}, {1, 2}}},
      };
      for (int i : {0, 1, 1, 0}) {
        for (int j : {2, 0, 1}) cases[1].pairs.push_back({i, j});
      }
      for (const Case& c : cases) {
        array y = gather_qmm(x, wq, sc, bi, c.lhs, c.rhs, transpose, gs, bits);
        Shape want_shape = c.out_batch;
        want_shape.push_back(M);
        want_shape.push_back(N);
        ASSERT_EQ(y.shape(), want_shape);
        ASSERT_EQ(y.dtype(), float32);
        std::vector<double> got = values(y);
        for (size_t l = 0; l < c.pairs.size(); ++l) {
          auto [xi, wi] = c.pairs[l];
          for (int m = 0; m < M; ++m) {
            for (int n = 0; n < N; ++n) {
              double acc = 0, mag = 0;
              for (int k = 0; k < K; ++k) {
                double wkn = transpose ? wd[wi][n * K + k] : wd[wi][k * N + n];
                acc += xv[(xi * M + m) * K + k] * wkn;
                mag += std::abs(xv[(xi * M + m) * K + k] * wkn);
              }
              ASSERT_NEAR(got[(l * M + m) * N + n], acc, 2e-5 * (1 + mag))
                  << "transpose " << transpose << ", " << bits << " bits, product " << l;
            }
          }
        }
      }
    }
  }
}

TEST(Quantized, MatmulWithABatchOfWBroadcastsAsMlx) {
  // w (..., N, K): batch axes broadcast against x's, as mlx-lm's quantized attention uses it
  // (queries (B, H, r, L, D) against keys (B, H, 1, S, D)); with and without biases, both
  // orientations, and a 1-D x against a batch of w.
  uint64_t seed = 3500;
  for (bool transpose : {true, false}) {
    for (bool no_biases : {false, true}) {
      const int K = 64, N = 32, gs = 32, bits = 4;
      array w = rnd(transpose ? Shape{2, 3, 1, N, K} : Shape{2, 3, 1, K, N}, float32, seed++);
      auto [wq, sc, bi] = quantize(w, gs, bits);
      const array b = no_biases ? multiply(sc, array(-8.0f)) : bi;
      array x = rnd({2, 3, 4, 5, K}, float32, seed++);
      array y = quantized_matmul(x, wq, sc, no_biases ? std::nullopt : std::optional(bi), transpose, gs, bits);
      ASSERT_EQ(y.shape(), (Shape{2, 3, 4, 5, N}));
      const int rows = transpose ? N : K, cols = transpose ? K : N;
      std::vector<double> wd = dequant_ref(wq, sc, b, 6 * rows, cols, gs, bits), xv = values(x), got = values(y);
      for (int m = 0; m < 6; ++m) {  // matrix m of w meets the 4 x 5 rows of x at batch m
        for (int r = 0; r < 20; ++r) {
          for (int n = 0; n < N; ++n) {
            double acc = 0, mag = 0;
            for (int k = 0; k < K; ++k) {
              const double wkn = transpose ? wd[(m * N + n) * K + k] : wd[(m * K + k) * N + n];
              acc += xv[(m * 20 + r) * K + k] * wkn;
              mag += std::abs(xv[(m * 20 + r) * K + k] * wkn);
            }
            ASSERT_NEAR(got[(m * 20 + r) * N + n], acc, 2e-5 * (1 + mag))
                << "transpose " << transpose << ", no biases " << no_biases << ", matrix " << m << ", row " << r;
          }
        }
      }
      // A 1-D x is one row against every matrix: (2, 3, 1, N).
      array x1 = rnd({K}, float32, seed++);
      array y1 = quantized_matmul(x1, wq, sc, no_biases ? std::nullopt : std::optional(bi), transpose, gs, bits);
      ASSERT_EQ(y1.shape(), (Shape{2, 3, 1, N}));
      std::vector<double> want1 = values(
          matmul(x1, transpose ? swapaxes(dequantize(wq, sc, b, gs, bits), -1, -2) : dequantize(wq, sc, b, gs, bits)));
      std::vector<double> got1 = values(y1);
      for (size_t i = 0; i < got1.size(); ++i) ASSERT_NEAR(got1[i], want1[i], 1e-4 * (1 + std::abs(want1[i]))) << i;
    }
  }
}

TEST(Quantized, GatherQmmStacksThePairsOfOneMatrix) {
  // Tokens routed to experts (a mixture-of-experts layer): 45 single-row products over 3
  // experts, so each expert's pairs run as one product of up to ~20 rows (the matvec) and,
  // with 3 rows per token, of ~45 (dequantized tiles); and the attention shape x @ w (w
  // quantized along N) with a long K. Each result equals its own pair's product.
  uint64_t seed = 3100;
  for (bool transpose : {true, false}) {
    for (int bits : {4, 8, 6}) {
      for (int M : {1, 3}) {
        const int E = 3, L = 45, N = transpose ? 24 : 64, K = transpose ? 128 : 300, gs = 64;
        array w = rnd(transpose ? Shape{E, N, K} : Shape{E, K, N}, float16, seed++);
        auto [wq, sc, bi] = quantize(w, gs, bits);
        const int rows = transpose ? N : K, cols = transpose ? K : N;
        std::vector<std::vector<double>> wd;
        for (int e = 0; e < E; ++e) {
          wd.push_back(dequant_ref(take(wq, e, 0), take(sc, e, 0), take(bi, e, 0), rows, cols, gs, bits));
        }
        array x = rnd({L, M, K}, float32, seed++);
        array rhs = random::randint(0, E, {L}, int32, random::key(seed++));
        std::vector<double> xv = values(x), rv = values(rhs),
                            got = values(gather_qmm(x, wq, sc, bi, arange(L), rhs, transpose, gs, bits));
        ASSERT_EQ(got.size(), static_cast<size_t>(L * M * N));
        for (int l = 0; l < L; ++l) {
          const int e = static_cast<int>(rv[l]);
          for (int m = 0; m < M; ++m) {
            for (int n = 0; n < N; ++n) {
              double acc = 0, mag = 0;
              for (int k = 0; k < K; ++k) {
                const double wkn = transpose ? wd[e][n * K + k] : wd[e][k * N + n];
                acc += xv[(l * M + m) * K + k] * wkn;
                mag += std::abs(xv[(l * M + m) * K + k] * wkn);
              }
              ASSERT_NEAR(got[(l * M + m) * N + n], acc, 2e-5 * (1 + mag))
                  << "transpose " << transpose << ", " << bits << " bits, M " << M << ", pair " << l << " (expert " << e
                  << ")";
            }
          }
        }
      }
    }
  }
}

TEST(Quantized, AttentionMatchesFloat64OverTheDequantizedPlanes) {
  // softmax(scale * q @ k.T, masked) @ v in float64 from the planes' dequantized values, for
  // the CPU kernel (up to 32 query rows per key head: SIMD where chunks fit, scalar for 3
  // bits) and the gather_qmm fallback (more rows); grouped and plain heads; no mask, a (Tq, Tk)
  // mask and a full random one; planes sliced from longer buffers (a cache's views). Long
  // caches (700 to 1500 keys) are split into blocks of keys whose softmax is merged at the end,
  // including blocks that see no key (mask 3: only the first five keys and the last).
  uint64_t seed = 3300;
  struct Case {
    // mask: 0 none, 1 (Tq, Tk) causal, 2 (B, Hq, Tq, Tk) random, 3 (Tq, Tk) the first five and the last
    int bits, gs, Hq, Hkv, Tq, Tk, D, Dv, mask;
  };
  const std::vector<Case> cases = {
      {4, 64, 6, 2, 1, 37, 64, 64, 0},   {8, 32, 6, 2, 3, 40, 64, 32, 1},  {4, 32, 4, 4, 2, 9, 32, 64, 2},
      {3, 32, 4, 2, 1, 12, 64, 32, 0},   {4, 64, 8, 2, 20, 30, 64, 64, 1}, {8, 64, 8, 1, 1, 1, 128, 64, 0},
      {6, 64, 2, 1, 2, 17, 64, 64, 2},   {4, 32, 6, 2, 1, 700, 64, 64, 1}, {8, 64, 4, 1, 2, 1500, 64, 64, 3},
      {4, 64, 3, 3, 1, 1100, 64, 64, 2}, {3, 32, 2, 1, 1, 600, 64, 32, 0},
  };
  const int B = 2;
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << c.bits << " bits, group " << c.gs << ", heads " << c.Hq << "/" << c.Hkv
                                      << ", Tq " << c.Tq << ", Tk " << c.Tk << ", D " << c.D << "/" << c.Dv << ", mask "
                                      << c.mask);
    // Positions [2, 2 + Tk) of buffers of Tk + 5 positions.
    array kf = rnd({B, c.Hkv, c.Tk + 5, c.D}, float16, seed++), vf = rnd({B, c.Hkv, c.Tk + 5, c.Dv}, float16, seed++);
    auto [kq, ks, kb] = quantize(kf, c.gs, c.bits);
    auto [vq, vs, vb] = quantize(vf, c.gs, c.bits);
    auto part = [&](const array& a) { return slice(a, {0, 0, 2, 0}, {B, c.Hkv, 2 + c.Tk, a.shape(3)}); };
    array q = rnd({B, c.Hq, c.Tq, c.D}, float32, seed++);
    std::vector<char> seen(static_cast<size_t>(B) * c.Hq * c.Tq * c.Tk, 1);
    std::optional<array> mask;
    if (c.mask == 1) {
      for (int i = 0; i < c.Tq; ++i) {
        for (int j = 0; j < c.Tk; ++j) seen[i * c.Tk + j] = j <= c.Tk - c.Tq + i;
      }
      mask = array(reinterpret_cast<const bool*>(seen.data()), {c.Tq, c.Tk}, bool_);
      for (size_t i = static_cast<size_t>(c.Tq) * c.Tk; i < seen.size(); ++i) seen[i] = seen[i % (c.Tq * c.Tk)];
    } else if (c.mask == 2) {
      std::vector<double> u = values(random::uniform({B, c.Hq, c.Tq, c.Tk}, float32, random::key(seed++)));
      for (size_t i = 0; i < seen.size(); ++i) seen[i] = u[i] < 0.7 || i % c.Tk == 0;  // a key for every query
      mask = array(reinterpret_cast<const bool*>(seen.data()), {B, c.Hq, c.Tq, c.Tk}, bool_);
    } else if (c.mask == 3) {
      for (size_t i = 0; i < seen.size(); ++i) seen[i] = i % c.Tk < 5 || i % c.Tk == static_cast<size_t>(c.Tk - 1);
      mask = array(reinterpret_cast<const bool*>(seen.data()), {c.Tq, c.Tk}, bool_);
    }
    const float scale = 0.125f;
    array y = quantized_scaled_dot_product_attention(q, part(kq), part(ks), part(kb), part(vq), part(vs), part(vb),
                                                     scale, mask, c.gs, c.bits);
    ASSERT_EQ(y.shape(), (Shape{B, c.Hq, c.Tq, c.Dv}));
    ASSERT_EQ(y.dtype(), float32);
    // On a GPU the op always builds its fallback.
    const bool kernel = c.Hq / c.Hkv * c.Tq <= 32 && default_device() == Device(Device::cpu);
    array node = y;
    while (node.has_primitive() && std::string(node.primitive().name()) == "AsType") node = node.inputs()[0];
    EXPECT_EQ(node.has_primitive() && std::string(node.primitive().name()) == "QuantizedAttention", kernel);
    const int rows = B * c.Hkv * c.Tk;
    std::vector<double> kd = dequant_ref(part(kq), part(ks), part(kb), rows, c.D, c.gs, c.bits);
    std::vector<double> vd = dequant_ref(part(vq), part(vs), part(vb), rows, c.Dv, c.gs, c.bits);
    std::vector<double> qv = values(q), got = values(y);
    const int rep = c.Hq / c.Hkv;
    for (int b = 0; b < B; ++b) {
      for (int h = 0; h < c.Hq; ++h) {
        const int hk = b * c.Hkv + h / rep;
        for (int i = 0; i < c.Tq; ++i) {
          const char* vis = seen.data() + ((b * c.Hq + h) * c.Tq + i) * c.Tk;
          std::vector<double> p(c.Tk, 0.0);
          double top = -1e300, z = 0;
          for (int j = 0; j < c.Tk; ++j) {
            double d = 0;
            for (int e = 0; e < c.D; ++e)
              d += qv[((b * c.Hq + h) * c.Tq + i) * c.D + e] * kd[(hk * c.Tk + j) * c.D + e];
            p[j] = d * scale;
            if (vis[j]) top = std::max(top, p[j]);
          }
          for (int j = 0; j < c.Tk; ++j) z += p[j] = vis[j] ? std::exp(p[j] - top) : 0.0;
          for (int e = 0; e < c.Dv; ++e) {
            double want = 0;
            for (int j = 0; j < c.Tk; ++j) want += p[j] / z * vd[(hk * c.Tk + j) * c.Dv + e];
            ASSERT_NEAR(got[((b * c.Hq + h) * c.Tq + i) * c.Dv + e], want, 1e-4 * (1 + std::abs(want)))
                << "sequence " << b << ", head " << h << ", query " << i << ", element " << e;
          }
        }
      }
    }
  }
}

TEST(Quantized, AttentionRefusesBadArguments) {
  array k = rnd({1, 2, 5, 64}, float32, 3400), v = rnd({1, 2, 5, 32}, float32, 3401);
  auto [kq, ks, kb] = quantize(k, 32, 4);
  auto [vq, vs, vb] = quantize(v, 32, 4);
  auto attend = [&](const array& q, const std::optional<array>& mask = std::nullopt) {
    return quantized_scaled_dot_product_attention(q, kq, ks, kb, vq, vs, vb, 0.5f, mask, 32, 4, Device(Device::cpu));
  };
  expect_error<std::invalid_argument>(
      [&] {
        attend(zeros({1, 3, 1, 64}));
      },
      "the query heads (3) must be a multiple of the key/value heads (2)");
  expect_error<std::invalid_argument>(
      [&] {
        attend(zeros({1, 2, 1, 32}));
      },
      "the keys must be (B, Hkv, Tk, D) and the values (B, Hkv, Tk, Dv) for q");
  expect_error<std::invalid_argument>([&] { attend(zeros({2, 1, 64})); }, "must be 4-D");
  expect_error<std::invalid_argument>(
      [&] {
        attend(zeros({1, 2, 1, 64}), zeros({1, 5}));
      },
      "the mask must be boolean, got float32");
  expect_error<std::invalid_argument>(
      [&] {
        attend(zeros({1, 2, 1, 64}), full({1, 4}, array(true)));
      },
      "does not broadcast to (B, Hq, Tq, Tk) = (1, 2, 1, 5)");
  expect_error<std::invalid_argument>(
      [&] {
        quantized_scaled_dot_product_attention(zeros({1, 2, 1, 64}), kq, ks, kb, vq, vs, vb, 0.5f, {}, 64, 4);
      },
      "scales and biases must have shape (1, 2, 5, 1)");
  expect_error<std::invalid_argument>([&] { attend(zeros({1, 2, 1, 64}, int32)); }, "q");
  // The codes and the mask have no gradient.
  array y = attend(rnd({1, 2, 2, 64}, float32, 3402), full({2, 5}, array(true)));
  ASSERT_EQ(std::string(y.primitive().name()), "QuantizedAttention");
  for (int argnum : {1, 4, 7}) {
    expect_error<std::invalid_argument>(
        [&] { y.primitive().vjp(y.inputs(), {ones(y.shape())}, {argnum}, {y}); },
        argnum == 7 ? "the mask has no gradient" : "gradients with respect to the quantized weights");
  }
}

TEST(GradQuantized, AttentionDifferentiatesThroughItsFallback) {
  // In q and in the keys' and values' scales and biases; through the softmax, so small steps.
  grad_check::Options o;
  o.eps = 1e-2;
  o.rtol = 2e-2;
  o.atol = 1e-3;
  o.vmap_tol = 1e-4;
  for (bool masked : {false, true}) {
    grad_check::check(
        [masked](const std::vector<array>& a) {
          auto [kq, ks, kb] = quantize(astype(a[1], float32), 32, 4);
          auto [vq, vs, vb] = quantize(astype(a[2], float32), 32, 4);
          std::optional<array> mask;
          if (masked) mask = array({true, false, true, true, true, true, true, false, true, true}, {2, 5}, bool_);
          return quantized_scaled_dot_product_attention(astype(a[0], float32), kq, ks, kb, vq, vs, vb, 0.5f, mask, 32,
                                                        4);
        },
        {{1, 4, 2, 32}, {1, 2, 5, 32}, {1, 2, 5, 32}}, o);
  }
}

TEST(GradQuantized, GatherQmmGradientOfXMatchesTheGatheredDequantizedMatmul) {
  // y[l] = x[lhs[l]] @ W[rhs[l]]^T: dx[i] = sum over l with lhs[l] = i of u[l] @ W[rhs[l]].
  array w = rnd({3, 6, 64}, float32, 910);
  auto [wq, sc, bi] = quantize(w, 32, 4);
  array wd = dequantize(wq, sc, bi, 32, 4);
  array x = rnd({2, 1, 64}, float32, 911), u = rnd({4, 1, 6}, float32, 912);
  array lhs = array({1, 0, 1, 1}, {4}, int32), rhs = array({2, 2, 0, 1}, {4}, int32);
  auto f = [&](const std::vector<array>& in) {
    return std::vector<array>{sum(multiply(gather_qmm(in[0], wq, sc, bi, lhs, rhs, true, 32, 4), u))};
  };
  std::vector<double> got = values(vjp(f, {x}, {array(1.0f)}).second[0]);
  std::vector<double> uv = values(u), wv = values(wd), want(2 * 64, 0.0);
  const int li[4] = {1, 0, 1, 1}, ri[4] = {2, 2, 0, 1};
  for (int l = 0; l < 4; ++l) {
    for (int k = 0; k < 64; ++k) {
      for (int n = 0; n < 6; ++n) want[li[l] * 64 + k] += uv[l * 6 + n] * wv[(ri[l] * 6 + n) * 64 + k];
    }
  }
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-4 * (1 + std::abs(want[i]))) << i;
  // The weights and the indices have no gradient (the transforms give integer inputs none; the
  // primitive refuses if asked).
  array y = gather_qmm(x, wq, sc, bi, lhs, rhs, true, 32, 4);
  array g = std::string(y.primitive().name()) == "GatherQMM" ? y : y.inputs()[0];
  ASSERT_EQ(std::string(g.primitive().name()), "GatherQMM");
  for (int argnum : {1, 4, 5}) {
    expect_error<std::invalid_argument>([&] { g.primitive().vjp(g.inputs(), {ones(g.shape())}, {argnum}, {g}); },
                                        argnum == 1 ? "[gather_qmm] gradients with respect to the quantized weights"
                                                    : "[gather_qmm] gradients with respect to the indices");
  }
  // vmap over x against a loop of the products.
  array xs = rnd({3, 2, 1, 64}, float32, 913);
  UnaryFn per = [&](const array& xi) { return gather_qmm(xi, wq, sc, bi, lhs, rhs, true, 32, 4); };
  std::vector<double> batched = values(vmap(per, 0, 0)(xs));
  for (int b = 0; b < 3; ++b) {
    std::vector<double> one = values(per(take(xs, b, 0)));
    for (size_t i = 0; i < one.size(); ++i) ASSERT_NEAR(batched[b * one.size() + i], one[i], 1e-5) << b;
  }
  // grad_check: vjp and jvp of x, scales and biases through the fallback (linear in each, so
  // large steps are exact up to rounding). Its vmap check also batches the index inputs and
  // goes out of their range here; vmap over x is checked above.
  grad_check::Options o;
  o.eps = 0.1;
  o.rtol = 1e-3;
  o.atol = 1e-3;
  o.vmap = false;
  // The products are float32: asked for one argnum alone, a GPU may pick another kernel for the
  // fallback's matmul and round differently in the last place.
  o.vmap_tol = 1e-6;
  grad_check::check(
      [&](const std::vector<array>& a) {
        auto [q, s, b] = quantize(astype(a[1], float32), 32, 4);
        return gather_qmm(astype(a[0], float32), q, s, b, lhs, array({1, 1, 0, 1}, {4}, int32), true, 32, 4);
      },
      {{2, 1, 64}, {2, 5, 64}}, o);
}

TEST(Quantized, GatherQmmBadArgumentsNameTheOpAndValues) {
  auto [wq, sc, bi] = quantize(rnd({3, 4, 64}, float32, 920), 32, 4);
  expect_error<std::invalid_argument>([&] { gather_qmm(zeros({64}), wq, sc, bi); },
                                      "[gather_qmm] x must have at least 2 axes (..., M, K), got shape (64,)");
  expect_error<std::invalid_argument>(
      [&] {
        gather_qmm(zeros({1, 32}), wq, sc, bi, std::nullopt, array({0}), true, 32, 4);
      },
      "[gather_qmm] the last axis of x (32) must equal K = 64");
  expect_error<std::invalid_argument>(
      [&] {
        gather_qmm(zeros({1, 64}), wq, sc, bi, std::nullopt, array({0.5f}), true, 32, 4);
      },
      "[gather_qmm] rhs_indices must be an integer array, got float32");
  expect_error<std::invalid_argument>(
      [&] {
        gather_qmm(zeros({2, 1, 64}), wq, sc, bi, array({0, 1}), array({0, 1, 2}), true, 32, 4);
      },
      "broadcast");
  try {
    gather_qmm(zeros({1, 64}), wq, sc, bi, std::nullopt, array({3}), true, 32, 4).eval();
    FAIL() << "expected an out-of-range error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("[gather_qmm] index 3 is out of range for 3 matrices of w"), std::string::npos)
        << e.what();
  }
}

TEST(Quantized, BadArgumentsNameTheOpAndValues) {
  array w = zeros({4, 128});
  expect_error<std::invalid_argument>([&] { quantize(w, 48, 4); },
                                      "[quantize] group_size must be 16, 32, 64 or 128, got 48");
  expect_error<std::invalid_argument>([&] { quantize(w, 64, 7); }, "[quantize] bits must be 2, 3, 4, 5, 6 or 8, got 7");
  expect_error<std::invalid_argument>([&] { quantize(zeros({128}), 64, 4); }, "[quantize] w must have at least 2 axes");
  expect_error<std::invalid_argument>(
      [&] {
        quantize(zeros({2, 96}), 64, 4);
      },
      "[quantize] the last axis of w (96) must be a multiple of group_size 64");
  expect_error<std::invalid_argument>(
      [&] {
        quantize(zeros({2, 64}, int32), 64, 4);
      },
      "[quantize] w must be float16, bfloat16 or float32, got int32");
  auto [wq, sc, bi] = quantize(w, 64, 4);
  expect_error<std::invalid_argument>([&] { dequantize(wq, sc, bi, 32, 4); },
                                      "[dequantize] scales and biases must have shape (4, 4)");
  expect_error<std::invalid_argument>(
      [&] {
        quantized_matmul(zeros({1, 128}), wq, sc, std::nullopt, true, 32, 4);
      },
      "[quantized_matmul] scales must have shape (4, 4) for wq of shape (4, 16), got "
      "(4, 2)");
  expect_error<std::invalid_argument>([&] { dequantize(astype(wq, int32), sc, bi, 64, 4); },
                                      "[dequantize] wq must be uint32, got int32");
  expect_error<std::invalid_argument>(
      [&] {
        quantized_matmul(zeros({1, 64}), wq, sc, bi);
      },
      "[quantized_matmul] the last axis of x (64) must equal K = 128");
  expect_error<std::invalid_argument>(
      [&] {
        quantized_matmul(zeros({1, 128}), wq, sc, bi, true, 64, 3);
      },
      "[quantized_matmul] the last axis of wq (16 words) does not hold a whole number of 3-bit codes");
  expect_error<std::invalid_argument>(
      [&] {
        quantized_matmul(zeros({1, 128}), wq, sc, bi, true, 32, 4);
      },
      "[quantized_matmul] scales and biases must have shape (4, 4)");
  expect_error<std::invalid_argument>(
      [&] {
        quantized_matmul(zeros({1, 128}, int32), wq, sc, bi);
      },
      "[quantized_matmul] x must be float16, bfloat16 or float32, got int32");
  expect_error<std::invalid_argument>(
      [&] {
        quantized_matmul(zeros({1, 128}), wq, sc, bi, true, 64, 1);
      },
      "[quantized_matmul] bits must be 2, 3, 4, 5, 6 or 8, got 1");
  expect_error<std::invalid_argument>(
      [&] {
        quantized_matmul(zeros({1, 128}), reshape(wq, {64}), sc, bi);
      },
      "[quantized_matmul] wq must have at least 2 axes, got shape (64,)");
  expect_error<std::invalid_argument>(
      [&] {
        quantized_matmul(zeros({3, 1, 128}), reshape(wq, {2, 2, 16}), reshape(sc, {2, 2, 2}), reshape(bi, {2, 2, 2}))
            .eval();
      },
      "broadcast");
  // The packed weights are integers: no gradient flows into them.
  array y = quantized_matmul(zeros({1, 128}), wq, sc, bi);
  expect_error<std::invalid_argument>(
      [&] {
        y.primitive().vjp(y.inputs(), {ones({1, 4})}, {1}, {y});
      },
      "[quantized_matmul] gradients with respect to the quantized weights are not supported");
}
