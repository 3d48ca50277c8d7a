// CUDA matmul and addmm (backend/cuda/matmul.cpp, cuBLASLt) against a float64
// CPU product of the same (already rounded) inputs, on random data: every
// float dtype, edge shapes (M, N or K = 1), batched and broadcast batches,
// transposed views (read in place with transpose flags), sliced views (gathered
// first) and alpha/beta. Skipped without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "test_utils.h"

namespace {

using namespace ember;

const Device kGpu{Device::gpu, 0};
const Device kCpu{Device::cpu, 0};

#define SKIP_WITHOUT_GPU() \
  if (!ember::is_available(kGpu)) GTEST_SKIP() << "no CUDA GPU available"

// Random normal values of `shape`, rounded to `t` (on the CPU).
array rand_in(const Shape& shape, Dtype t, uint64_t seed) {
  array x = random::normal(shape, float32, 0.0, 1.0, random::key(seed), kCpu);
  x = astype(x, t, kCpu);
  x.eval();
  return x;
}

// Allowed error per unit of typical output magnitude (entries of a K-term sum of
// unit normals are ~sqrt(K)): output rounding for half types, accumulation for f32.
double tol_for(Dtype t) {
  if (t == float16) return 2e-3;
  if (t == bfloat16) return 1e-2;
  if (t == float32) return 1e-5;
  return 1e-12;
}

// Compares a GPU result with the float64 CPU reference, elementwise:
// |got - ref| <= tol * (|ref| + scale), scale the typical magnitude of an entry.
void expect_close(const array& got, const array& ref, Dtype t, double scale, const std::string& what) {
  ASSERT_EQ(got.shape(), ref.shape()) << what;
  ASSERT_EQ(got.dtype(), t) << what;
  auto g = test_utils::values<double>(astype(got, float64, kCpu));
  auto r = test_utils::values<double>(ref);
  double tol = tol_for(t);
  size_t bad = 0;
  double worst = 0;
  for (size_t i = 0; i < r.size(); ++i) {
    double err = std::abs(g[i] - r[i]) / (std::abs(r[i]) + scale);
    if (!(err <= tol)) ++bad;  // NaN counts as bad
    worst = std::max(worst, std::isnan(err) ? INFINITY : err);
  }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << r.size() << " elements off, worst relative error " << worst
                     << " (tolerance " << tol << ")";
}

array ref_matmul(const array& a, const array& b) {
  return matmul(astype(a, float64, kCpu), astype(b, float64, kCpu), kCpu);
}

const std::vector<Dtype> kDtypes = {float32, float16, bfloat16, float64};

std::string name_of(Dtype t, const std::string& what) { return dtype_name(t) + " " + what; }

void check_product(const array& a, const array& b, Dtype t, const std::string& what) {
  array got = matmul(a, b, kGpu);
  got.eval();
  int64_t K = a.shape(-1);
  expect_close(got, ref_matmul(a, b), t, std::sqrt(static_cast<double>(K)), name_of(t, what));
}

TEST(CudaMatmul, ShapesAndDtypes) {
  SKIP_WITHOUT_GPU();
  struct Case {
    int M, N, K;
  };
  const std::vector<Case> cases = {{1, 1, 1},     {1, 64, 128},  {64, 1, 128},    {33, 17, 1}, {1, 4096, 512},
                                   {128, 96, 64}, {77, 131, 45}, {256, 256, 256}, {5, 3, 1000}};
  uint64_t seed = 1;
  for (Dtype t : kDtypes) {
    for (auto c : cases) {
      array a = rand_in({c.M, c.K}, t, seed++);
      array b = rand_in({c.K, c.N}, t, seed++);
      check_product(a, b, t,
                    "(" + std::to_string(c.M) + "x" + std::to_string(c.K) + ") @ (" + std::to_string(c.K) + "x" +
                        std::to_string(c.N) + ")");
    }
  }
}

TEST(CudaMatmul, Vectors) {
  SKIP_WITHOUT_GPU();
  for (Dtype t : kDtypes) {
    array m = rand_in({40, 24}, t, 3);
    array v = rand_in({24}, t, 4);
    array w = rand_in({40}, t, 5);
    check_product(m, v, t, "matrix @ vector");
    check_product(w, m, t, "vector @ matrix");
    check_product(v, v, t, "vector @ vector");
  }
}

TEST(CudaMatmul, BatchedAndBroadcast) {
  SKIP_WITHOUT_GPU();
  for (Dtype t : kDtypes) {
    check_product(rand_in({4, 33, 20}, t, 10), rand_in({4, 20, 18}, t, 11), t, "batched (4,33,20)@(4,20,18)");
    // b shared by the batch: folds into one tall product.
    check_product(rand_in({3, 5, 16, 24}, t, 12), rand_in({24, 40}, t, 13), t, "(3,5,16,24)@(24,40)");
    // a shared by the batch: batch stride 0 for a.
    check_product(rand_in({16, 24}, t, 14), rand_in({6, 24, 40}, t, 15), t, "(16,24)@(6,24,40)");
    // Broadcast on both sides across different axes: a host loop over an outer axis.
    check_product(rand_in({2, 1, 9, 7}, t, 16), rand_in({1, 3, 7, 11}, t, 17), t, "(2,1,9,7)@(1,3,7,11)");
    // Empty batch and empty rows.
    array e = matmul(rand_in({0, 4, 5}, t, 18), rand_in({0, 5, 3}, t, 19), kGpu);
    e.eval();
    EXPECT_EQ(e.shape(), (Shape{0, 4, 3}));
  }
}

TEST(CudaMatmul, TransposedViews) {
  SKIP_WITHOUT_GPU();
  for (Dtype t : kDtypes) {
    array a = rand_in({37, 29}, t, 20), b = rand_in({29, 41}, t, 21);
    array at = transpose(rand_in({29, 37}, t, 22), kCpu);  // (37, 29), column-major
    array bt = transpose(rand_in({41, 29}, t, 23), kCpu);  // (29, 41), column-major
    check_product(at, b, t, "a^T view @ b");
    check_product(a, bt, t, "a @ b^T view");
    check_product(at, bt, t, "a^T view @ b^T view");
    // Batched transposes: swap the last two axes of a (B, K, M) block.
    array ab = swapaxes(rand_in({3, 29, 37}, t, 24), -1, -2, kCpu);
    array bb = swapaxes(rand_in({3, 41, 29}, t, 25), -1, -2, kCpu);
    check_product(ab, bb, t, "batched transposed views");
    // Batch axis moved inside: (M, B, K) -> (B, M, K) is neither row- nor column-batched.
    array mid = transpose(rand_in({37, 3, 29}, t, 26), {1, 0, 2}, kCpu);
    check_product(mid, rand_in({3, 29, 41}, t, 27), t, "batch axis moved inside");
  }
}

TEST(CudaMatmul, SlicedViews) {
  SKIP_WITHOUT_GPU();
  for (Dtype t : kDtypes) {
    // Rows and columns sliced out of larger blocks: row-major with ld > cols, read in place.
    array big_a = rand_in({50, 70}, t, 30), big_b = rand_in({70, 80}, t, 31);
    array a = slice(big_a, {3, 5}, {40, 38}, kCpu);  // (37, 33), ld 70, offset
    array b = slice(big_b, {7, 1}, {40, 44}, kCpu);  // (33, 43), ld 80
    check_product(a, b, t, "sliced (ld > cols, offset)");
    // A step in the last axis: no unit stride, gathered before the product.
    array as = slice(big_a, {0, 0}, {20, 66}, {1, 2}, kCpu);  // (20, 33), column stride 2
    array bs = slice(big_b, {0, 0}, {66, 80}, {2, 3}, kCpu);  // (33, 27), strides (160, 3)
    check_product(as, bs, t, "stepped slices (gathered)");
    // An odd offset: the operand starts at a 2- or 4-byte address.
    array odd = slice(rand_in({1, 129}, t, 32), {0, 1}, {1, 129}, kCpu);  // (1, 128)
    check_product(odd, rand_in({128, 64}, t, 33), t, "odd offset");
  }
}

// The hand-written matrix-vector kernels (backend/cuda/matmul_gemv.cu, on unless
// EMBER_CUDA_GEMV=0): both of their layouts, both M == 1 and N == 1, and shapes
// they must hand back to cuBLASLt (an unaligned N, a sliced offset).
TEST(CudaMatmul, GemvKernels) {
  SKIP_WITHOUT_GPU();
  const char* old = std::getenv("EMBER_CUDA_GEMV");
  std::string saved = old ? old : "";
  setenv("EMBER_CUDA_GEMV", "1", 1);
  for (Dtype t : {float32, float16, bfloat16}) {
    const int K = 520, N = 264;  // multiples of 8: every 16-byte load fits
    array x = rand_in({1, K}, t, 70);
    array bt = transpose(rand_in({N, K}, t, 71), kCpu);  // (K, N) column-major: the rows kernel
    array br = rand_in({K, N}, t, 72);                   // (K, N) row-major: the columns kernel
    check_product(x, bt, t, "gemv M=1, b column-major");
    check_product(x, br, t, "gemv M=1, b row-major");
    check_product(rand_in({K}, t, 73), br, t, "gemv vector @ matrix");
    array ar = rand_in({N, K}, t, 74);                   // (M, K) row-major: the rows kernel
    array ac = transpose(rand_in({K, N}, t, 75), kCpu);  // (M, K) column-major: the columns kernel
    array xc = rand_in({K, 1}, t, 76);
    check_product(ar, xc, t, "gemv N=1, a row-major");
    check_product(ac, xc, t, "gemv N=1, a column-major");
    check_product(rand_in({1, 4096}, t, 77), rand_in({4096, 4096}, t, 78), t, "gemv 1x4096x4096");
    // Not for the kernels: cuBLASLt takes these.
    check_product(x, rand_in({K, 13}, t, 79), t, "gemv N=13 (unaligned)");
    array xs = slice(rand_in({1, K + 1}, t, 80), {0, 1}, {1, K + 1}, kCpu);
    check_product(xs, br, t, "gemv x at an odd offset");
  }
  if (old) {
    setenv("EMBER_CUDA_GEMV", saved.c_str(), 1);
  } else {
    unsetenv("EMBER_CUDA_GEMV");
  }
}

TEST(CudaMatmul, AddMM) {
  SKIP_WITHOUT_GPU();
  struct Case {
    float alpha, beta;
  };
  for (Dtype t : kDtypes) {
    for (auto ab : std::vector<Case>{{1.0f, 1.0f}, {0.5f, -2.0f}, {2.0f, 0.0f}}) {
      array a = rand_in({2, 19, 23}, t, 40), b = rand_in({2, 23, 31}, t, 41);
      std::string tag = " alpha=" + std::to_string(ab.alpha) + " beta=" + std::to_string(ab.beta);
      // c full-size, a broadcast bias row, and a transposed view.
      std::vector<std::pair<array, std::string>> cs = {
          {rand_in({2, 19, 31}, t, 42), "full c"},
          {rand_in({31}, t, 43), "bias row"},
          {transpose(rand_in({31, 19}, t, 44), kCpu), "transposed c"},
      };
      for (auto& [c, cname] : cs) {
        array got = addmm(c, a, b, ab.alpha, ab.beta, kGpu);
        got.eval();
        array c64 = astype(c, float64, kCpu);
        array ref = add(multiply(array(static_cast<double>(ab.alpha)), ref_matmul(a, b), kCpu),
                        multiply(array(static_cast<double>(ab.beta)), c64, kCpu), kCpu);
        double scale = std::sqrt(23.0) * std::max(1.0, static_cast<double>(std::abs(ab.alpha)));
        expect_close(got, ref, t, scale, name_of(t, "addmm " + cname + tag));
      }
    }
  }
}

TEST(CudaMatmul, InputsWrittenOnCpuThenGpu) {
  SKIP_WITHOUT_GPU();
  // The same inputs used by a GPU product, then changed by a CPU op, then used again:
  // residency must follow the latest writer.
  array a = rand_in({64, 48}, float32, 50), b = rand_in({48, 32}, float32, 51);
  array first = matmul(a, b, kGpu);
  first.eval();
  array a2 = multiply(a, array(2.0f), kCpu);
  array second = matmul(a2, b, kGpu);
  second.eval();
  expect_close(second, ref_matmul(a2, b), float32, std::sqrt(48.0), "after a CPU write");
  // And a GPU product feeding a CPU op and another GPU product.
  array chain = matmul(add(first, array(1.0f), kCpu), rand_in({32, 16}, float32, 52), kGpu);
  chain.eval();
  EXPECT_EQ(chain.shape(), (Shape{64, 16}));
}

TEST(CudaMatmul, IntegerAndComplexStillWork) {
  SKIP_WITHOUT_GPU();
  // complex64 is declined by the CUDA kernel and runs on the CPU kernel: still correct.
  array a = astype(rand_in({5, 4}, float32, 60), complex64, kCpu);
  array b = astype(rand_in({4, 3}, float32, 61), complex64, kCpu);
  array got = matmul(a, b, kGpu);
  array ref = matmul(a, b, kCpu);
  auto g = test_utils::cvalues(got), r = test_utils::cvalues(ref);
  for (size_t i = 0; i < r.size(); ++i) EXPECT_NEAR(std::abs(g[i] - r[i]), 0.0, 1e-4);
  // Integer products are rejected when the graph is built, on any device.
  EXPECT_THROW(matmul(array({1, 2}), array({3, 4}), kGpu), std::invalid_argument);
}

}  // namespace
