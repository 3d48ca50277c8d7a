// The generated CUDA kernels of RandomBits and Scan (backend/cuda/random_scan_codegen),
// run on the CPU emulator: each program is generated for Target::Emulator, compiled by
// the host compiler, loaded, launched with the grid, block and arguments the CUDA
// backend computes (rs::random_bits_launch / rs::scan_launch), and compared with the
// CPU backend. RandomBits must match bit for bit; scans match exactly where the GPU
// combines in the CPU's order (integers, max/min, the column kernel) and within a
// rounding tolerance where the block-wide scan reassociates float sums and products.
// Needs no GPU.
#ifdef EMBER_HAS_CUDA

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "ember/backend/cuda/random_scan_codegen.h"
#include "ember/ember.h"
#include "ember/primitives.h"
#include "emulated_program.h"
#include "test_utils.h"

using namespace ember;
namespace rs = ember::gpu::rs;

namespace {

// A generated program compiled for the emulator and loaded (tests/emulated_program.h).
class EmulatedProgram : public test_utils::EmulatedProgram {
 public:
  EmulatedProgram(const std::vector<rs::Variant>& variants, const std::string& name)
      : test_utils::EmulatedProgram(rs::program_source(variants, rs::Target::Emulator), "rs-" + name) {}
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// ------------------------------------------------------------------ RandomBits

// keys: (K..., 2) uint32 from a host generator (any layout).
array random_keys(const Shape& key_shape, uint32_t seed) {
  std::mt19937 g(seed);
  std::vector<uint32_t> v(test_utils::numel(key_shape));
  for (auto& x : v) x = g();
  return array(v.data(), key_shape, uint32);
}

// Runs RandomBits(shape, width) on `keys` on the emulator (with the backend's launch and
// with a tiny grid, so the grid-stride loop turns) and on the CPU; the bytes must agree.
void check_bits(const EmulatedProgram& prog, const array& keys, const Shape& shape, int width, uint64_t seed) {
  SCOPED_TRACE("keys " + std::to_string(keys.ndim()) + "-d, out size " + std::to_string(test_utils::numel(shape)) +
               ", width " + std::to_string(width));
  array want = random::bits(shape, width, keys, Device::cpu);
  want.eval();
  auto plan = rs::random_bits_launch(keys.shape(), keys.strides(), want.nbytes());
  ASSERT_TRUE(plan.has_value());
  const std::string name = rs::kernel_name({rs::Family::RandomBits}, rs::Pattern::Bits);
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::vector<uint8_t> got(want.nbytes() + 8, 0xAB);  // 8 guard bytes past the end
    if (plan->grid > 0) {
      const void* k = keys.raw_ptr();
      void* o = got.data();
      rs::BitsArgs a = plan->args;
      void* args[] = {&k, &o, &a};
      unsigned grid = attempt == 0 ? plan->grid : 1, block = attempt == 0 ? plan->block : 32;
      prog.entry(name)(grid, block, seed + attempt, args);
    }
    ASSERT_EQ(std::memcmp(got.data(), want.raw_ptr(), want.nbytes()), 0)
        << (attempt == 0 ? "backend launch" : "grid 1 x 32") << ": bytes differ from the CPU kernel";
    for (size_t i = want.nbytes(); i < got.size(); ++i) ASSERT_EQ(got[i], 0xAB) << "write past the output";
  }
}

TEST(CudaEmulatedRandomScan, RandomBitsIsBitIdenticalToTheCpu) {
  auto t0 = std::chrono::steady_clock::now();
  EmulatedProgram prog({{rs::Family::RandomBits}}, "random_bits");
  uint64_t seed = 1;
  int cases = 0;
  for (int width : {1, 2, 4}) {
    // One key: sizes giving an even and odd number of words and trailing partial words.
    array key = random_keys({2}, 7 + width);
    for (Shape shape : {Shape{}, Shape{1}, Shape{2}, Shape{3}, Shape{5}, Shape{7}, Shape{5, 3}, Shape{1000}}) {
      check_bits(prog, key, shape, width, seed++);
      ++cases;
    }
    // A batch of keys, each filling its own block (blocks not word-aligned for odd sizes).
    array keys = random_keys({4, 2}, 11 + width);
    for (Shape shape : {Shape{4}, Shape{4, 3}, Shape{4, 5, 7}, Shape{4, 1}, Shape{4, 0}, Shape{4, 64}}) {
      check_bits(prog, keys, shape, width, seed++);
      ++cases;
    }
    check_bits(prog, random_keys({2, 3, 2}, 5), {2, 3, 5}, width, seed++);
    // Keys as a transposed view: (2, 6) -> (6, 2) with strides (1, 6).
    array kt = transpose(random_keys({2, 6}, 9), Device::cpu);
    kt.eval();
    ASSERT_FALSE(kt.flags().row_contiguous);
    check_bits(prog, kt, {6, 9}, width, seed++);
    cases += 2;
  }
  std::printf("[ emulated ] RandomBits: %d cases in %.1f s\n", cases, seconds_since(t0));
}

TEST(CudaEmulatedRandomScan, RandomBitsLaunchPlan) {
  // Keys whose batch axes are not evenly strided decline (the CPU kernel copies them).
  array k = random_keys({3, 4, 2}, 1);
  array perm = transpose(k, {1, 0, 2}, Device::cpu);
  perm.eval();
  EXPECT_FALSE(rs::random_bits_launch(perm.shape(), perm.strides(), 4 * 3 * 4).has_value());
  auto one = rs::random_bits_launch({2}, {1}, 0);
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(one->grid, 0u);
  auto l = rs::random_bits_launch({4, 2}, {2, 1}, 4 * 3 * 4);  // 4 keys, 3 words each: 2 hashes per key
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->args.num_keys, 4);
  EXPECT_EQ(l->args.bytes_per_key, 12);
  EXPECT_EQ(l->args.key_stride, 2);
  EXPECT_EQ(l->args.word_stride, 1);
}

// ------------------------------------------------------------------ Scan

const char* op_label(ScanOp op) {
  static const char* names[] = {"Sum", "Prod", "Max", "Min", "LogAddExp"};
  return names[static_cast<int>(op)];
}

// Inputs suited to each op: sums over +-3 (ints: large enough to wrap int32), products of
// values near 1 (ints: odd values, so products wrap instead of reaching 0), max/min with
// a few nan for floats, logaddexp over +-3.
array scan_input(const Shape& shape, Dtype t, ScanOp op, uint32_t seed) {
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const int64_t n = test_utils::numel(shape);
  if (t == bool_) {
    std::vector<uint8_t> b(n);
    for (auto& x : b) x = u(g) < 0.3;
    array a(reinterpret_cast<const bool*>(b.data()), shape, bool_);
    return a;
  }
  if (t == int64 || t == int32) {
    std::vector<int64_t> v(n);
    for (auto& x : v) {
      if (op == ScanOp::Prod) {
        x = 2 * static_cast<int64_t>(std::floor(5 * u(g))) - 3;  // -3, -1, 1, 3, 5
      } else if (op == ScanOp::Sum) {
        x = static_cast<int64_t>((u(g) - 0.5) * (t == int32 ? 2.0e9 : 1.0e18));
      } else {
        x = static_cast<int64_t>((u(g) - 0.5) * 2000);
      }
    }
    array a(v.data(), shape, int64);
    return astype(a, t, Device::cpu);
  }
  std::vector<double> v(n);
  for (auto& x : v) {
    if (op == ScanOp::Prod) {
      x = (u(g) < 0.5 ? -1.0 : 1.0) * (0.8 + 0.45 * u(g));
    } else if (is_integral(t)) {
      x = std::floor(u(g) * 100);
    } else {
      x = (u(g) - 0.5) * 6;
      if ((op == ScanOp::Max || op == ScanOp::Min) && u(g) < 0.002) x = std::nan("");
    }
  }
  return astype(array(v.data(), shape, float64), t, Device::cpu);
}

array run_cpu_scan(const array& x, ScanOp op, int axis, bool reverse, bool inclusive) {
  array r(x.shape(), x.dtype(), std::make_shared<Scan>(default_stream(Device::cpu), op, axis, reverse, inclusive), {x});
  r.eval();
  return r;
}

std::vector<double> to_doubles(const array& a) {
  array x = contiguous(astype(a, float64, Device::cpu), false, Device::cpu);
  x.eval();
  return std::vector<double>(x.data<double>(), x.data<double>() + x.size());
}

double tolerance(Dtype t) {
  if (t == float16) return 4e-3;
  if (t == bfloat16) return 3e-2;
  if (t == float32) return 2e-5;
  return 1e-12;
}

// Compares the emulated output with the CPU's: byte for byte when `exact`, else within
// tolerance(dtype) scaled by the running sum of |x| (sums), |want| (products) or
// 1 + |want| (logaddexp).
void expect_scan_match(const array& x, const array& want, const std::vector<char>& got_bytes, ScanOp op, int axis,
                       bool reverse, bool inclusive, bool exact, const std::string& what) {
  const size_t item = want.itemsize(), n = want.size();
  if (exact) {
    int bad = 0;
    for (size_t i = 0; i < n && bad < 3; ++i) {
      const char* w = static_cast<const char*>(want.raw_ptr()) + i * item;
      if (std::memcmp(w, got_bytes.data() + i * item, item) != 0) {
        ++bad;
        ADD_FAILURE() << what << ": element " << i << " differs bitwise from the CPU";
      }
    }
    return;
  }
  array got = dispatch_dtype(want.dtype(), [&](auto t) {
    using T = decltype(t);
    return array(reinterpret_cast<const T*>(got_bytes.data()), want.shape(), want.dtype());
  });
  auto w = to_doubles(want), g = to_doubles(got);
  std::vector<double> scale;
  if (op == ScanOp::Sum) {
    scale = to_doubles(
        run_cpu_scan(abs(astype(x, float64, Device::cpu), Device::cpu), ScanOp::Sum, axis, reverse, inclusive));
  }
  const double tol = tolerance(want.dtype());
  int bad = 0;
  for (size_t i = 0; i < n && bad < 3; ++i) {
    double s = op == ScanOp::Sum    ? 1.0 + scale[i]
               : op == ScanOp::Prod ? std::fabs(w[i]) + 1e-30
                                    : 1.0 + std::fabs(w[i]);
    bool ok = (std::isnan(w[i]) && std::isnan(g[i])) || w[i] == g[i] || std::fabs(w[i] - g[i]) <= tol * s;
    if (!ok) {
      ++bad;
      ADD_FAILURE() << what << ": element " << i << " cpu " << w[i] << " emulated gpu " << g[i];
    }
  }
}

struct ScanCase {
  Shape shape;
  int axis;
  bool transpose;      // scan a transposed view: the input is built with the last two axes swapped
  rs::Pattern kernel;  // the kernel the backend picks
};

// Runs one scan of `x` on the emulator with the backend's launch plan.
std::vector<char> emulate_scan(const EmulatedProgram& prog, const rs::Variant& v, const array& x, int axis,
                               bool reverse, bool inclusive, uint64_t seed, rs::Pattern* used) {
  auto plan = rs::scan_launch(x.shape(), x.strides(), axis, reverse, inclusive);
  if (!plan) throw std::runtime_error("scan_launch declined a layout the test expects to run");
  *used = plan->pattern;
  std::vector<char> out(x.nbytes() + 16);
  const void* in = x.raw_ptr();
  void* o = out.data();
  rs::ScanArgs a = plan->args;
  void* args[] = {&in, &o, &a};
  prog.entry(rs::kernel_name(v, plan->pattern))(plan->grid, plan->block, seed, args);
  return out;
}

void check_scan_variant(const EmulatedProgram& prog, const rs::Variant& v, uint64_t& seed, int& launches) {
  using rs::Pattern;
  const std::vector<ScanCase> cases = {
      {{3, 3000}, 1, false, Pattern::Row},        // three chunks of 1024 per row (256 threads x 4)
      {{3, 100}, 1, false, Pattern::Row},         // one partial chunk (32 threads)
      {{6, 20}, 1, false, Pattern::Column},       // short rows: one thread per row
      {{50, 7, 9}, 0, false, Pattern::Row},       // outer axis, few columns: a block per column
      {{5, 40, 6}, 1, false, Pattern::Row},       // middle axis, few columns
      {{7, 300}, 1, true, Pattern::Row},          // transposed input: strided rows
      {{40, 5}, 0, true, Pattern::Row},           // transposed input, outer axis
      {{30, 20, 40}, 1, false, Pattern::Column},  // middle axis, short
      {{40, 1100}, 0, false, Pattern::Column},    // outer axis, many columns: a thread per column
      {{12, 8, 60}, 1, true, Pattern::Column},    // transposed, strided columns
  };
  const bool float_math = v.dtype == float16 || v.dtype == bfloat16 || v.dtype == float32 || v.dtype == float64;
  const bool reassociates = float_math && (v.op == ScanOp::Sum || v.op == ScanOp::Prod || v.op == ScanOp::LogAddExp);
  for (size_t c = 0; c < cases.size(); ++c) {
    const auto& sc = cases[c];
    array x = [&] {
      if (!sc.transpose) return scan_input(sc.shape, v.dtype, v.op, static_cast<uint32_t>(seed * 31 + c));
      Shape s = sc.shape;
      std::swap(s[s.size() - 1], s[s.size() - 2]);
      std::vector<int> perm(s.size());
      for (size_t d = 0; d < perm.size(); ++d) perm[d] = static_cast<int>(d);
      std::swap(perm[perm.size() - 1], perm[perm.size() - 2]);
      return transpose(scan_input(s, v.dtype, v.op, static_cast<uint32_t>(seed * 31 + c)), perm, Device::cpu);
    }();
    x.eval();
    for (int combo = 0; combo < 4; ++combo) {
      const bool reverse = combo & 1, inclusive = !(combo & 2);
      std::string what = rs::kernel_name(v, rs::Pattern::Row) + " case " + std::to_string(c) + " axis " +
                         std::to_string(sc.axis) + (reverse ? " reverse" : "") + (inclusive ? "" : " exclusive");
      array want = run_cpu_scan(x, v.op, sc.axis, reverse, inclusive);
      rs::Pattern used;
      auto got = emulate_scan(prog, v, x, sc.axis, reverse, inclusive, ++seed, &used);
      ++launches;
      // The column kernel accumulates in the CPU's order: exact even for float sums.
      const bool exact = !reassociates || used == rs::Pattern::Column;
      expect_scan_match(x, want, got, v.op, sc.axis, reverse, inclusive, exact,
                        what + (used == rs::Pattern::Row ? " [row]" : " [col]"));
      EXPECT_EQ(used, sc.kernel) << what;
    }
  }
}

std::vector<rs::Variant> emulated_scan_variants() {
  std::vector<rs::Variant> out;
  for (ScanOp op : {ScanOp::Sum, ScanOp::Prod, ScanOp::Max, ScanOp::Min, ScanOp::LogAddExp}) {
    for (Dtype t : {float32, float16, bfloat16, float64, int32, int64, uint8, bool_}) {
      if (!rs::scan_supported(op, t)) continue;
      if (t == uint8 && op != ScanOp::Sum && op != ScanOp::Max) continue;  // a small type with int shuffles
      if (t == bfloat16 && op != ScanOp::Sum) continue;
      out.push_back({rs::Family::Scan, op, t});
    }
  }
  return out;
}

TEST(CudaEmulatedRandomScan, ScanMatchesTheCpuBackend) {
  auto t0 = std::chrono::steady_clock::now();
  const auto variants = emulated_scan_variants();
  EmulatedProgram prog(variants, "scan");
  const double compile_s = seconds_since(t0);
  uint64_t seed = 1;
  int launches = 0;
  for (const auto& v : variants) {
    SCOPED_TRACE(rs::kernel_name(v, rs::Pattern::Row));
    check_scan_variant(prog, v, seed, launches);
  }
  std::printf("[ emulated ] Scan: %zu variants, %d launches, compile %.1f s, total %.1f s\n", variants.size(), launches,
              compile_s, seconds_since(t0));
}

TEST(CudaEmulatedRandomScan, ScanBarriersHoldUnderShuffledThreadOrders) {
  // The multi-chunk row kernel (carry, warp totals in shared memory) under several orders.
  const rs::Variant v{rs::Family::Scan, ScanOp::Sum, int32};
  EmulatedProgram prog({v}, "scan_orders");
  array x = scan_input({2, 2500}, int32, ScanOp::Sum, 3);
  x.eval();
  for (bool inclusive : {true, false}) {
    array want = run_cpu_scan(x, ScanOp::Sum, 1, false, inclusive);
    for (uint64_t seed : {0ull, 17ull, 12345ull, 987654321ull}) {
      rs::Pattern used;
      auto got = emulate_scan(prog, v, x, 1, false, inclusive, seed, &used);
      ASSERT_EQ(used, rs::Pattern::Row);
      expect_scan_match(x, want, got, ScanOp::Sum, 1, false, inclusive, true,
                        "order seed " + std::to_string(seed) + (inclusive ? "" : " exclusive"));
    }
  }
}

TEST(CudaEmulatedRandomScan, ScanLaunchPlan) {
  // (4, 3, 5) permuted to (3, 4, 5) strides (5, 15, 1): the axes before axis 2 do not collapse.
  EXPECT_FALSE(rs::scan_launch({3, 4, 5}, {5, 15, 1}, 2, false, true).has_value());
  // ... but along axis 0 and axis 1 each side is one axis.
  EXPECT_TRUE(rs::scan_launch({3, 4, 5}, {5, 15, 1}, 1, false, true).has_value());
  // Size-1 axes and broadcast (stride 0) axes are fine.
  auto b = rs::scan_launch({1, 8, 1, 100}, {0, 0, 7, 1}, 3, true, false);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->pattern, rs::Pattern::Row);
  EXPECT_EQ(b->args.outer, 8);
  EXPECT_EQ(b->args.s_outer, 0);
  EXPECT_EQ(b->args.reverse, 1);
  EXPECT_EQ(b->args.inclusive, 0);
  EXPECT_EQ(b->block % 32, 0u);
  EXPECT_FALSE(rs::scan_supported(ScanOp::Sum, complex64));
  EXPECT_FALSE(rs::scan_supported(ScanOp::Sum, bool_));
  EXPECT_TRUE(rs::scan_supported(ScanOp::Max, bool_));
  EXPECT_FALSE(rs::scan_supported(ScanOp::LogAddExp, int32));
}

}  // namespace

#endif  // EMBER_HAS_CUDA
