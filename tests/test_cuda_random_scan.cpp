// RandomBits and Scan on the GPU (backend/cuda/random_scan.cpp) against the CPU kernels:
// random bits and the random ops built on them bit for bit, scans for every op and a
// spread of dtypes, axes, layouts and reverse/inclusive. The GPU cases run only where a
// GPU is present; the PTX compile of every generated variant needs only the toolkit.
#ifdef EMBER_HAS_CUDA

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ember/backend/cuda/random_scan_codegen.h"
#include "ember/backend/gpu.h"
#include "ember/ember.h"
#include "gpu_test_utils.h"
#include "ptx_compile_check.h"
#include "test_utils.h"

using namespace ember;
namespace rs = ember::gpu::rs;

namespace {

// Byte-for-byte equality of two evaluated arrays of one dtype and shape.
void expect_same_bytes(array a, array b, const std::string& what) {
  a = contiguous(a, false, Device::cpu);
  b = contiguous(b, false, Device::cpu);
  a.eval();
  b.eval();
  ASSERT_EQ(a.dtype(), b.dtype()) << what;
  ASSERT_EQ(a.shape(), b.shape()) << what;
  EXPECT_EQ(std::memcmp(a.raw_ptr(), b.raw_ptr(), a.nbytes()), 0) << what << ": bytes differ";
}

std::vector<double> to_doubles(const array& a) {
  array x = contiguous(astype(a, float64, Device::cpu), false, Device::cpu);
  x.eval();
  return std::vector<double>(x.data<double>(), x.data<double>() + x.size());
}

array host_values(const Shape& shape, Dtype t, ScanOp op, uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<double> v(test_utils::numel(shape));
  for (auto& x : v) {
    if (t == bool_) {
      x = u(g) < 0.3;
    } else if (op == ScanOp::Prod) {
      x = is_integral(t) ? 2 * std::floor(5 * u(g)) - 3 : (u(g) < 0.5 ? -1.0 : 1.0) * (0.8 + 0.45 * u(g));
    } else if (is_integral(t)) {
      x = std::floor(u(g) * 200) - (is_unsigned(t) ? 0 : 100);
    } else {
      x = (u(g) - 0.5) * 6;
    }
  }
  array a = astype(array(v.data(), shape, float64), t, Device::cpu);
  a.eval();
  return a;
}

}  // namespace

TEST(CudaRandomScan, RandomBitsMatchTheCpuBitForBit) {
  REQUIRE_GPU();
  for (int width : {1, 2, 4}) {
    for (Shape shape : {Shape{}, Shape{3}, Shape{5, 3}, Shape{1000, 37}, Shape{1 << 20}}) {
      auto k = random::key(42 + width);
      expect_same_bytes(random::bits(shape, width, k, Device::gpu), random::bits(shape, width, k, Device::cpu),
                        "bits width " + std::to_string(width));
    }
    array keys = random::split(random::key(7), 6);  // (6, 2)
    expect_same_bytes(random::bits({6, 33}, width, keys, Device::gpu), random::bits({6, 33}, width, keys, Device::cpu),
                      "batched keys, width " + std::to_string(width));
  }
}

TEST(CudaRandomScan, RandomOpsMatchTheCpu) {
  REQUIRE_GPU();
  auto k = random::key(1234);
  expect_same_bytes(random::uniform({513, 7}, float32, k, Device::gpu),
                    random::uniform({513, 7}, float32, k, Device::cpu), "uniform float32");
  expect_same_bytes(random::uniform({1001}, float16, k, Device::gpu), random::uniform({1001}, float16, k, Device::cpu),
                    "uniform float16");
  expect_same_bytes(random::randint(array(-5), array(9), {300}, int32, k, Device::gpu),
                    random::randint(array(-5), array(9), {300}, int32, k, Device::cpu), "randint");
  // normal goes through erfinv, whose GPU and CPU results may differ by an ulp.
  auto g = to_doubles(random::normal({4096}, float32, 0.0, 1.0, k, Device::gpu));
  auto c = to_doubles(random::normal({4096}, float32, 0.0, 1.0, k, Device::cpu));
  for (size_t i = 0; i < g.size(); ++i) ASSERT_NEAR(g[i], c[i], 1e-5 * (1 + std::fabs(c[i]))) << i;
}

TEST(CudaRandomScan, ScansMatchTheCpu) {
  REQUIRE_GPU();
  struct Case {
    Shape shape;
    int axis;
    bool transposed;
  };
#ifdef EMBER_CUDA_EMULATED
  const int32_t long_row = 20000;  // the emulated build runs every GPU thread on the CPU
#else
  const int32_t long_row = 300000;
#endif
  const std::vector<Case> cases = {
      {{4, 5000}, 1, false},   {{1, long_row}, 1, false}, {{3, 70}, 1, false},    {{9, 17}, 1, false},
      {{64, 5, 33}, 0, false}, {{6, 130, 40}, 1, false},  {{300, 9}, 1, true},    {{17, 0}, 1, false},
      {{3000, 3}, 0, false},   {{5, 2000, 2}, 1, false},  {{40, 2000}, 0, false},
  };
  for (ScanOp op : {ScanOp::Sum, ScanOp::Prod, ScanOp::Max, ScanOp::Min, ScanOp::LogAddExp}) {
    for (Dtype t : {float32, float16, bfloat16, float64, int32, int64, uint8, bool_}) {
      if (!rs::scan_supported(op, t)) continue;
      for (size_t ci = 0; ci < cases.size(); ++ci) {
        const auto& c = cases[ci];
        array x = c.transposed ? transpose(host_values({c.shape[1], c.shape[0]}, t, op, 3 + ci), Device::cpu)
                               : host_values(c.shape, t, op, 3 + ci);
        for (int combo = 0; combo < 4; ++combo) {
          bool reverse = combo & 1, inclusive = !(combo & 2);
          std::string what = std::string("op ") + std::to_string(static_cast<int>(op)) + " " + dtype_name(t) +
                             " case " + std::to_string(ci) + (reverse ? " reverse" : "") +
                             (inclusive ? "" : " exclusive");
          auto make = [&](Device d) {
            array r(x.shape(), x.dtype(), std::make_shared<Scan>(default_stream(d), op, c.axis, reverse, inclusive),
                    {x});
            r.eval();
            return r;
          };
          array want = make(Device::cpu), got = make(Device::gpu);
          const bool exact = !is_floating_point(t) || op == ScanOp::Max || op == ScanOp::Min;
          if (exact) {
            expect_same_bytes(got, want, what);
            continue;
          }
          // Float sums, products and logaddexp reassociate on the GPU (a block-wide scan): within
          // tolerance of the CPU, or no further from a float64 scan than twice the CPU's error
          // (a long float32 logcumsumexp drifts sequentially more than it does as a tree).
          auto w = to_doubles(want), g = to_doubles(got);
          auto s = to_doubles(
              cumsum(abs(astype(x, float64, Device::cpu), Device::cpu), c.axis, reverse, inclusive, Device::cpu));
          array x64 = astype(x, float64, Device::cpu);
          array r64(x.shape(), float64,
                    std::make_shared<Scan>(default_stream(Device::cpu), op, c.axis, reverse, inclusive), {x64});
          auto r = to_doubles(r64);
          double tol = t == float16 ? 4e-3 : t == bfloat16 ? 3e-2 : t == float32 ? 2e-5 : 1e-12;
          int bad = 0;
          for (size_t i = 0; i < w.size() && bad < 3; ++i) {
            double scale = op == ScanOp::Sum    ? 1 + s[i]
                           : op == ScanOp::Prod ? std::fabs(w[i]) + 1e-30
                                                : 1 + std::fabs(w[i]);
            const bool close = w[i] == g[i] || std::fabs(w[i] - g[i]) <= tol * scale ||
                               std::fabs(g[i] - r[i]) <= 2 * std::fabs(w[i] - r[i]);
            if (!(close || (std::isnan(w[i]) && std::isnan(g[i])))) {
              ++bad;
              ADD_FAILURE() << what << ": element " << i << " cpu " << w[i] << " gpu " << g[i] << " float64 " << r[i];
            }
          }
        }
      }
    }
  }
}

// Equal values within `rel` (relative), where every NaN equals every NaN and infinities must match
// exactly: arithmetic on a NaN gives the processor's own NaN (x86 keeps the operand's bits,
// NVIDIA GPUs give 0x7fffffff), so only NaN-ness is compared.
void expect_same_values(const array& gpu, const array& cpu, const std::string& what, double rel = 0.0) {
  std::vector<double> g = to_doubles(gpu), c = to_doubles(cpu);
  ASSERT_EQ(g.size(), c.size()) << what;
  for (size_t i = 0; i < g.size(); ++i) {
    bool same = std::isnan(c[i])   ? std::isnan(g[i])
                : std::isinf(c[i]) ? g[i] == c[i]
                                   : std::abs(g[i] - c[i]) <= rel * std::abs(c[i]);
    ASSERT_TRUE(same) << what << ": element " << i << " is " << g[i] << " on the GPU, " << c[i] << " on the CPU";
  }
}

TEST(CudaRandomScan, ScanNanAndInfinities) {
  REQUIRE_GPU();
  std::vector<float> v(2000, 1.0f);
  v[10] = std::nanf("");
  v[700] = -INFINITY;
  v[1500] = INFINITY;
  array x(v.data(), {2000}, float32);
  // cummax and cummin pass the input's NaN through: the same bytes.
  for (auto f : {cummax, cummin}) {
    expect_same_bytes(f(x, 0, false, true, Device::gpu), f(x, 0, false, true, Device::cpu), "nan/inf");
  }
  // The infinities before the NaN, then NaN from it on, in either direction. Sums of 1.0 are
  // exact; logcumsumexp goes through exp and log, whose GPU versions differ by an ulp or two.
  for (bool reverse : {false, true}) {
    expect_same_values(cumsum(x, 0, reverse, true, Device::gpu), cumsum(x, 0, reverse, true, Device::cpu), "nan/inf");
    expect_same_values(logcumsumexp(x, 0, reverse, true, Device::gpu), logcumsumexp(x, 0, reverse, true, Device::cpu),
                       "nan/inf", 1e-6);
  }
  std::vector<float> w(2000, 0.5f);
  w[300] = INFINITY;
  w[1200] = -INFINITY;
  array y(w.data(), {2000}, float32);
  for (auto f : {cumsum, cummax, cummin}) {
    expect_same_values(f(y, 0, false, true, Device::gpu), f(y, 0, false, true, Device::cpu), "inf");
  }
  expect_same_values(logcumsumexp(y, 0, false, true, Device::gpu), logcumsumexp(y, 0, false, true, Device::cpu), "inf",
                     1e-6);
}

// Every generated variant compiled to PTX with NVRTC (no GPU needed), in a few programs.
TEST(CudaJit, EveryRandomScanVariantCompilesToPtx) {
  const auto variants = rs::all_variants();
  std::set<std::string> names;
  size_t kernels = 0;
  for (const auto& v : variants) {
    for (auto p : rs::patterns(v.family)) {
      ++kernels;
      EXPECT_TRUE(names.insert(rs::kernel_name(v, p)).second) << "duplicate kernel " << rs::kernel_name(v, p);
    }
  }
  ASSERT_GT(variants.size(), 50u);
  EXPECT_EQ(names.size(), kernels);
  test_utils::expect_all_compile_to_ptx<rs::Variant>(
      "random_scan", variants, 16,
      [](const std::vector<rs::Variant>& batch, const std::string& name) {
        return rs::compile_program(batch, name, "compute_90");
      },
      [](const rs::Variant& v) {
        std::vector<std::string> names;
        for (auto p : rs::patterns(v.family)) names.push_back(rs::kernel_name(v, p));
        return names;
      });
}

#endif  // EMBER_HAS_CUDA
