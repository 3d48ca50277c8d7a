// CUDA kernels of the quantized ops (backend/cuda/quantized.cu) against float64 products of
// weights dequantized on the CPU, on random data: every bit width, groups of 16 to 128 (with a
// half-full last chunk of 32 codes where K is 16 past a multiple of 32), odd N, from one row of
// x (decode) to past the matrix-vector kernel's limit, both orientations, float32, float16 and
// bfloat16 scales; gather_qmm with random and out-of-range indices; dequantize. A result left
// device-resident shows that the GPU kernel ran rather than the CPU kernel. Skipped without a
// GPU (the emulated build runs it on the CPU emulator).
#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "ember/backend/cuda/quantized.h"
#include "test_utils.h"

namespace {

using namespace ember;

const Device kGpu{Device::gpu, 0};
const Device kCpu{Device::cpu, 0};

#define SKIP_WITHOUT_GPU() \
  if (!ember::is_available(kGpu)) GTEST_SKIP() << "no CUDA GPU available"

array rand_in(const Shape& shape, Dtype t, uint64_t seed) {
  array x = astype(random::normal(shape, float32, 0.0, 1.0, random::key(seed), kCpu), t, kCpu);
  x.eval();
  return x;
}

std::vector<double> f64(const array& a) { return test_utils::values<double>(astype(a, float64, kCpu)); }

// The weights the products use: dequantized in float32 (not rounded to the scales' dtype).
// No biases: codes centered on half their range.
std::vector<double> weights(const array& wq, const array& sc, const std::optional<array>& bi, int gs, int bits) {
  std::optional<array> b;
  if (bi) b = astype(*bi, float32, kCpu);
  return f64(dequantize(wq, astype(sc, float32, kCpu), b, gs, bits, kCpu));
}

// Whether a (evaluated) holds its bytes on the device only: a GPU kernel wrote it.
bool written_on_device(const array& a) {
  const auto& d = a.data_shared_ptr();
  return d && d->device_valid && !d->host_valid.load();
}

// Row-major (rows, cols) @ (cols, n) or @ (n, cols).T in float64.
std::vector<double> product(const std::vector<double>& x, const std::vector<double>& w, int64_t rows, int64_t K,
                            int64_t N, bool transpose) {
  std::vector<double> y(rows * N, 0.0);
  for (int64_t m = 0; m < rows; ++m) {
    for (int64_t n = 0; n < N; ++n) {
      double acc = 0;
      for (int64_t k = 0; k < K; ++k) acc += x[m * K + k] * (transpose ? w[n * K + k] : w[k * N + n]);
      y[m * N + n] = acc;
    }
  }
  return y;
}

void expect_near_rel(const std::vector<double>& got, const std::vector<double>& want, double tol, double scale,
                     const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_LE(std::abs(got[i] - want[i]), tol * (std::abs(want[i]) + scale))
        << what << " at " << i << ": got " << got[i] << ", want " << want[i];
  }
}

TEST(CudaQuantized, ProductsMatchFloat64OfTheDequantizedWeights) {
  SKIP_WITHOUT_GPU();
  const Dtype scale_types[] = {float32, float16, bfloat16};
  uint64_t seed = 1;
  int cases = 0;
  for (int bits : {2, 3, 4, 5, 6, 8}) {
    for (int gs : {16, 32, 64, 128}) {
      // Groups of 16: K = 48 ends in half a chunk (even bits only: the row must fill whole words).
      const int K = gs == 16 ? (bits % 2 == 0 ? 48 : 64) : 3 * gs;
      for (bool transpose : {true, false}) {
        for (int M : {1, 2, 3, 5, 16, 17}) {
          const bool no_biases = cases % 4 == 3;
          const Dtype st = scale_types[cases++ % 3];
          // Not transposed: w (Kx, N) quantized along N, Kx odd.
          const int N = transpose ? 13 : 2 * gs, Kx = transpose ? K : 11;
          array w = rand_in(transpose ? Shape{N, Kx} : Shape{Kx, N}, st, seed++);
          auto [wq, sc, bi_all] = quantize(w, gs, bits, kCpu);
          const std::optional<array> bi = no_biases ? std::nullopt : std::optional<array>(bi_all);
          std::vector<double> wd = weights(wq, sc, bi, gs, bits);
          // float16 x with float16 scales gives a float16 result: the output conversion.
          const Dtype xt = st == float16 && M == 2 ? float16 : float32;
          array x = rand_in({M, Kx}, xt, seed++);
          array y = quantized_matmul(x, wq, sc, bi, transpose, gs, bits, kGpu);
          y.eval();
          const std::string what = std::to_string(bits) + " bits, group " + std::to_string(gs) + ", transpose " +
                                   std::to_string(transpose) + ", M " + std::to_string(M) + ", scales " +
                                   dtype_name(st) + (no_biases ? ", no biases" : "");
          ASSERT_EQ(y.dtype(), promote_types(xt, st)) << what;
          // The matrix-vector kernel takes up to 16 rows of x @ w.T everywhere.
          if (transpose && M <= 16) EXPECT_TRUE(written_on_device(y)) << what;
          const double tol = y.dtype() == float16 ? 2e-3 : 2e-5;
          expect_near_rel(f64(y), product(f64(x), wd, M, Kx, N, transpose), tol, std::sqrt(double(Kx)), what);
        }
      }
    }
  }
}

TEST(CudaQuantized, EveryShapeOfTheMatrixVectorKernelGivesTheProduct) {
  // Rows of w per group of warps, warps per group, x staged in shared memory or read from global
  // memory, blocks walking several tiles of rows (the alternatives bench_cuda measures), on rows
  // long enough for several rounds of chunks per warp, N not a multiple of any block's rows.
  SKIP_WITHOUT_GPU();
  const int N = 37, K = 64 * 40, gs = 64;
  array w = rand_in({N, K}, float16, 300);
  auto [wq, sc, bi] = quantize(w, gs, 4, kCpu);
  std::vector<double> wd = weights(wq, sc, bi, gs, 4);
  array x = rand_in({1, K}, float32, 301);
  std::vector<double> want = product(f64(x), wd, 1, K, N, true);
  for (auto [rows, split] :
       std::vector<std::pair<int, int>>{{1, 1}, {1, 2}, {1, 4}, {2, 1}, {2, 2}, {2, 4}, {4, 1}, {4, 2}}) {
    for (bool stage : {true, false}) {
      // One block per multiprocessor takes several tiles (the emulator has 4 multiprocessors).
      for (int blocks : {0, 1}) {
        ASSERT_TRUE(gpu::set_qmv_config(rows, split, stage, blocks));
        array y = quantized_matmul(x, wq, sc, bi, true, gs, 4, kGpu);
        y.eval();
        EXPECT_TRUE(written_on_device(y));
        expect_near_rel(f64(y), want, 2e-5, std::sqrt(double(K)),
                        std::to_string(rows) + " rows per " + std::to_string(split) + " warps, x " +
                            (stage ? "staged" : "global") + ", " + std::to_string(blocks) + " blocks per SM");
      }
    }
  }
  ASSERT_TRUE(gpu::set_qmv_config(0, 0));
  EXPECT_FALSE(gpu::set_qmv_config(3, 1));
  EXPECT_FALSE(gpu::set_qmv_config(2, 2, true, -1));
}

TEST(CudaQuantized, DequantizeMatchesTheCpu) {
  SKIP_WITHOUT_GPU();
  uint64_t seed = 100;
  for (int bits : {2, 3, 4, 5, 6, 8}) {
    for (int gs : {16, 64}) {
      for (Dtype st : {float32, float16, bfloat16}) {
        array w = rand_in({2, 5, 2 * gs}, st, seed++);  // batch axes in front
        auto [wq, sc, bi] = quantize(w, gs, bits, kCpu);
        for (bool no_biases : {false, true}) {
          const std::optional<array> b = no_biases ? std::nullopt : std::optional<array>(bi);
          array got = dequantize(wq, sc, b, gs, bits, kGpu);
          got.eval();
          const std::string what = std::to_string(bits) + " bits, group " + std::to_string(gs) + " " + dtype_name(st) +
                                   (no_biases ? ", no biases" : "");
          EXPECT_TRUE(written_on_device(got)) << what;
          ASSERT_EQ(got.dtype(), st) << what;
          // The same float32 arithmetic, rounded the same way (no fused multiply-add).
          const double tol = st == float32 ? 1e-7 : st == float16 ? 1e-3 : 8e-3;
          expect_near_rel(f64(got), f64(dequantize(wq, sc, b, gs, bits, kCpu)), tol, 1e-3, what);
        }
      }
    }
  }
}

TEST(CudaQuantized, GatherQmmMatchesEachProductAndChecksItsIndices) {
  SKIP_WITHOUT_GPU();
  std::mt19937 rng(7);
  uint64_t seed = 200;
  const int Bx = 3, Bw = 4, N = 21;
  for (int bits : {4, 3, 8}) {
    for (int gs : {32, 16}) {
      for (int M : {1, 3, 6}) {
        const int K = 4 * gs;
        array x = rand_in({Bx, M, K}, float32, seed++);
        array w = rand_in({Bw, N, K}, float16, seed++);
        auto [wq, sc, bi] = quantize(w, gs, bits, kCpu);
        std::vector<double> wd = weights(wq, sc, bi, gs, bits), xv = f64(x);
        std::vector<uint32_t> lv(10), rv(10);
        for (auto& v : lv) v = std::uniform_int_distribution<uint32_t>(0, Bx - 1)(rng);
        for (auto& v : rv) v = std::uniform_int_distribution<uint32_t>(0, Bw - 1)(rng);
        array li(lv.data(), {2, 5}, uint32), ri(rv.data(), {2, 5}, uint32);
        array y = gather_qmm(x, wq, sc, bi, li, ri, true, gs, bits, kGpu);
        y.eval();
        const std::string what =
            std::to_string(bits) + " bits, group " + std::to_string(gs) + ", M " + std::to_string(M);
        ASSERT_EQ(y.shape(), (Shape{2, 5, M, N})) << what;
        EXPECT_TRUE(written_on_device(y)) << what;
        std::vector<double> got = f64(y);
        for (int l = 0; l < 10; ++l) {
          std::vector<double> xs(xv.begin() + lv[l] * M * K, xv.begin() + (lv[l] + 1) * M * K);
          std::vector<double> ws(wd.begin() + rv[l] * N * K, wd.begin() + (rv[l] + 1) * N * K);
          std::vector<double> gl(got.begin() + l * M * N, got.begin() + (l + 1) * M * N);
          expect_near_rel(gl, product(xs, ws, M, K, N, true), 2e-5, std::sqrt(double(K)),
                          what + ", product " + std::to_string(l));
        }
      }
    }
  }
  // Out-of-range indices throw when the result is evaluated, naming the index and the count.
  array x = rand_in({Bx, 2, 64}, float32, 1);
  auto [wq, sc, bi] = quantize(rand_in({Bw, N, 64}, float32, 2), 32, 4, kCpu);
  auto expect_throws = [&](const array& li, const array& ri, const std::string& msg) {
    try {
      gather_qmm(x, wq, sc, bi, li, ri, true, 32, 4, kGpu).eval();
      ADD_FAILURE() << "expected an out_of_range containing: " << msg;
    } catch (const std::out_of_range& e) {
      EXPECT_NE(std::string(e.what()).find(msg), std::string::npos) << e.what();
    }
  };
  expect_throws(array({0u, 1u}, uint32), array({2u, 4u}, uint32),
                "[gather_qmm] index 4 is out of range for 4 matrices of w");
  expect_throws(array({3u, 1u}, uint32), array({0u, 1u}, uint32),
                "[gather_qmm] index 3 is out of range for 3 matrices of x");
  // The stream stays usable afterwards.
  array ok = gather_qmm(x, wq, sc, bi, array({2u}, uint32), array({3u}, uint32), true, 32, 4, kGpu);
  EXPECT_EQ(ok.shape(), (Shape{1, 2, N}));
  ok.eval();
}

}  // namespace
