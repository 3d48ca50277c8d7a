// The CUDA indexing kernels against the CPU kernels: gather, scatter (every reduction),
// take_along_axis, scatter_add_axis, concatenate, pad and slice_update built on the GPU
// and on the CPU from the same random inputs over several layouts, out-of-range indices
// included (both must throw std::out_of_range). Skipped without a GPU. The PTX test at the
// end needs only the toolkit: every generated indexing variant compiles with NVRTC.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ember/backend/gpu.h"
#include "ember/ember.h"

#ifdef EMBER_HAS_CUDA
#include "ember/backend/cuda/indexing_codegen.h"
#include "gpu_test_utils.h"
#include "ptx_compile_check.h"
#endif

using namespace ember;

#ifdef EMBER_HAS_CUDA

namespace {

array rand_of(const Shape& shape, Dtype t, uint64_t seed) {
  auto k = random::key(seed);
  if (t == bool_) return random::bernoulli(array(0.5f), shape, k, Device::cpu);
  if (is_integral(t)) return random::randint(array(0), array(20), shape, t, k, Device::cpu);
  return astype(random::uniform(array(-3.0f), array(3.0f), shape, float32, k, Device::cpu), t, Device::cpu);
}

array indices_of(const Shape& shape, int lo, int hi, Dtype t, uint64_t seed) {
  return astype(random::randint(array(lo), array(hi), shape, int32, random::key(seed), Device::cpu), t, Device::cpu);
}

// Runs f on the GPU and on the CPU; both must agree (within tol), or both throw out_of_range.
template <class F>
void check(F f, double tol, const std::string& what) {
  SCOPED_TRACE(what);
  std::string cpu_err, gpu_err;
  std::optional<array> want, got;
  try {
    want = f(Device::cpu);
    want->eval();
  } catch (const std::out_of_range& e) {
    cpu_err = e.what();
  }
  try {
    got = f(Device::gpu);
    got->eval();
  } catch (const std::out_of_range& e) {
    gpu_err = e.what();
  }
  if (!cpu_err.empty() || !gpu_err.empty()) {  // (the optionals are set even when eval threw)
    EXPECT_FALSE(cpu_err.empty()) << "the GPU threw " << gpu_err << " but the CPU did not";
    EXPECT_FALSE(gpu_err.empty()) << "the CPU threw " << cpu_err << " but the GPU did not";
    return;
  }
  ASSERT_EQ(want->shape(), got->shape());
  ASSERT_EQ(want->dtype(), got->dtype());
  Dtype t = want->dtype();
  array w = astype(t == complex64 ? real(*want, Device::cpu) : *want, float64, Device::cpu);
  array g = astype(t == complex64 ? real(*got, Device::cpu) : *got, float64, Device::cpu);
  w = contiguous(w, false, Device::cpu);
  g = contiguous(g, false, Device::cpu);
  eval({w, g});
  int bad = 0;
  for (size_t i = 0; i < w.size() && bad < 3; ++i) {
    double a = w.data<double>()[i], b = g.data<double>()[i];
    if (!((std::isnan(a) && std::isnan(b)) || std::fabs(a - b) <= tol * std::max(1.0, std::fabs(a)))) {
      ++bad;
      ADD_FAILURE() << "element " << i << " cpu " << a << " gpu " << b;
    }
  }
}

TEST(CudaIndexing, GatherAndTake) {
  REQUIRE_GPU();
  for (Dtype t : {float32, float16, int64, uint8, complex64}) {
    array a = transpose(rand_of({7, 6, 5}, t, 1), Device::cpu);  // (5, 6, 7), strided
    for (Dtype it : {int32, int64, uint8}) {
      array i0 = indices_of({3, 4}, 0, 5, it, 2), i2 = indices_of({3, 4}, 0, 7, it, 3);
      check([&](Device d) { return gather(a, {i0, i2}, {0, 2}, {1, 6, 1}, d); }, 0, "gather " + dtype_name(t));
      array i1 = indices_of({2, 5}, 0, 4, it, 4);
      check([&](Device d) { return gather(a, {i1}, {1}, {5, 3, 7}, d); }, 0, "slices " + dtype_name(t));
    }
    array neg = indices_of({9}, -5, 5, int32, 5);
    check([&](Device d) { return take(a, neg, 0, d); }, 0, "take " + dtype_name(t));
  }
  array a = rand_of({5, 6}, float32, 6);
  array bad = array({0, 3, 5, 1}, {4}, int32);
  check([&](Device d) { return take(a, bad, 0, d); }, 0, "out of range");
  check([&](Device d) { return gather(a, {array({-7}, {1}, int64)}, {1}, {5, 1}, d); }, 0, "negative out of range");
  // Large enough for several blocks.
  array big = rand_of({1000, 257}, float32, 7);
  array rows = indices_of({3000}, -1000, 1000, int64, 8);
  check([&](Device d) { return take(big, rows, 0, d); }, 0, "large");
}

TEST(CudaIndexing, ScatterEveryReduction) {
  REQUIRE_GPU();
  for (Dtype t : {float32, float64, int32, int64, uint32, uint64, float16, int8}) {
    array a = transpose(rand_of({6, 5}, t, 10), Device::cpu);  // (5, 6)
    array r = indices_of({40}, -5, 5, int32, 11), c = indices_of({40}, 0, 6, int32, 12);
    array upd =
        t == float32 || t == float64
            ? astype(random::uniform(array(0.9f), array(1.1f), {40, 1, 1}, float32, random::key(13), Device::cpu), t,
                     Device::cpu)
            : rand_of({40, 1, 1}, t, 13);
    const double tol = t == float32 ? 1e-5 : t == float64 ? 1e-12 : t == float16 ? 1e-2 : 0;
    check([&](Device d) { return scatter(a, {r, c}, upd, {0, 1}, d); }, 0, "scatter " + dtype_name(t));
    check([&](Device d) { return scatter_add(a, {r, c}, upd, {0, 1}, d); }, tol, "add " + dtype_name(t));
    check([&](Device d) { return scatter_prod(a, {r, c}, upd, {0, 1}, d); }, tol, "prod " + dtype_name(t));
    check([&](Device d) { return scatter_max(a, {r, c}, upd, {0, 1}, d); }, 0, "max " + dtype_name(t));
    check([&](Device d) { return scatter_min(a, {r, c}, upd, {0, 1}, d); }, 0, "min " + dtype_name(t));
  }
  array a = rand_of({5, 6}, float32, 14);
  array upd = rand_of({3, 1, 6}, float32, 15);
  array bad = array({0, 9, 1}, {3}, int32);
  check([&](Device d) { return scatter(a, {bad}, upd, {0}, d); }, 0, "scatter out of range");
  check([&](Device d) { return scatter_add(a, {bad}, upd, {0}, d); }, 0, "scatter_add out of range");
  // Many updates on few rows: the last writer must win, as on the CPU.
  array big = zeros({4, 300}, float32, Device::cpu);
  array rows = indices_of({5000}, 0, 4, int64, 16);
  array vals = rand_of({5000, 1, 300}, float32, 17);
  check([&](Device d) { return scatter(big, {rows}, vals, {0}, d); }, 0, "last writer wins");
}

TEST(CudaIndexing, AlongAxis) {
  REQUIRE_GPU();
  for (Dtype t : {float32, float16, bfloat16, int32, bool_, complex64, float64}) {
    array a = transpose(rand_of({5, 6, 4}, t, 20), {2, 1, 0}, Device::cpu);  // (4, 6, 5)
    for (int axis : {0, 1, 2}) {
      Shape s = a.shape();
      s[axis] = 9;
      array ind = indices_of(s, -static_cast<int>(a.shape(axis)), static_cast<int>(a.shape(axis)), int64, 21 + axis);
      array upd = rand_of(s, t, 24 + axis);
      check([&](Device d) { return take_along_axis(a, ind, axis, d); }, 0, "take_along_axis " + dtype_name(t));
      // Few columns take the atomic kernel: float sums may round in another order.
      const double tol = t == float32 ? 1e-5 : t == float64 ? 1e-12 : 0;
      check([&](Device d) { return scatter_add_axis(a, ind, upd, axis, d); }, tol, "scatter_add_axis " + dtype_name(t));
    }
  }
  // Many columns (the in-order column kernel: exact) and one long column (atomics).
  array wide = rand_of({64, 300}, float32, 32);
  array wi = indices_of({200, 300}, 0, 64, int32, 33);
  array wu = rand_of({200, 300}, float32, 34);
  check([&](Device d) { return scatter_add_axis(wide, wi, wu, 0, d); }, 1e-5, "scatter_add_axis few columns");
  array big = rand_of({64, 5000}, float32, 35);
  array bi = indices_of({30, 5000}, -64, 64, int64, 36);
  array bu = rand_of({30, 5000}, float32, 37);
  check([&](Device d) { return scatter_add_axis(big, bi, bu, 0, d); }, 0, "scatter_add_axis many columns");
  array line = rand_of({1000}, float32, 38);
  array li = indices_of({100000}, 0, 1000, int32, 39);
  array lu = rand_of({100000}, float32, 40);
  check([&](Device d) { return scatter_add_axis(line, li, lu, 0, d); }, 1e-4, "scatter_add_axis 1-d");
  array a = rand_of({4, 5}, float32, 30);
  array bad = array({0, 1, 5, 2}, {4, 1}, int32);
  check([&](Device d) { return take_along_axis(a, bad, 0, d); }, 0, "take_along_axis out of range");
  check(
      [&](Device d) {
        return scatter_add_axis(rand_of({4, 1}, float32, 29), bad, rand_of({4, 1}, float32, 31), 0, d);
      },
      0, "scatter_add_axis out of range");
}

TEST(CudaIndexing, ConcatenatePadSliceUpdate) {
  REQUIRE_GPU();
  for (Dtype t : {uint8, float16, float32, int64, complex64}) {
    array x = rand_of({4, 3, 5}, t, 40);
    array y = transpose(rand_of({5, 2, 4}, t, 41), {2, 1, 0}, Device::cpu);
    array z = slice(rand_of({4, 8, 10}, t, 42), {0, 1, 0}, {4, 8, 10}, {1, 2, 2}, Device::cpu);
    check([&](Device d) { return concatenate({x, y, z}, 1, d); }, 0, "concatenate " + dtype_name(t));
    check([&](Device d) { return pad(y, {0, 2}, {1, 0}, {2, 3}, array(7), "constant", d); }, 0, "pad " + dtype_name(t));
    array src = transpose(rand_of({8, 6}, t, 43), Device::cpu);
    array upd = broadcast_to(rand_of({3, 1}, t, 44), {3, 3}, Device::cpu);
    check(
        [&](Device d) {
          return slice_update(src, upd, {1, 0}, {6, 8}, {2, 3}, d);
        },
        0, "slice_update " + dtype_name(t));
  }
}

}  // namespace

#endif  // EMBER_HAS_CUDA

#if defined(EMBER_HAS_CUDA) && !defined(EMBER_CUDA_EMULATED)  // the emulated build has no NVRTC

namespace gi = ember::gpu::idx;

TEST(CudaJitIndexing, EveryIndexingVariantCompilesToPtx) {
  const auto variants = gi::all_variants();
  std::set<std::string> seen;
  size_t kernels = 0;
  for (const auto& v : variants) {
    for (const auto& k : gi::kernel_names(v)) {
      ++kernels;
      EXPECT_TRUE(seen.insert(k).second) << "duplicate kernel " << k;
    }
  }
  EXPECT_EQ(seen.size(), kernels);
  test_utils::expect_all_compile_to_ptx<gi::Variant>(
      "indexing", variants, 48,
      [](const std::vector<gi::Variant>& batch, const std::string& name) {
        return gi::compile_program(batch, name, "compute_90");
      },
      gi::kernel_names);
}

#endif
