// The CUDA sort family (Sort, ArgSort, Partition, ArgPartition; topk through Partition)
// against the CPU kernels, on random inputs of every sortable dtype with many ties, nan
// (payloads and signs included), +-inf, -0.0, subnormals and integer extremes, over
// contiguous, transposed and sliced-strided layouts and every axis of 3-d arrays:
//   - argsort must equal the CPU's stable argsort exactly;
//   - sort must equal the input gathered by that argsort bit for bit, and the CPU sort
//     value for value (the CPU sort is not stable: -0.0/+0.0 and nan payloads may trade places);
//   - partition is checked by its defining property (element kth in its sorted place, no
//     larger one before it, no smaller one after it, a permutation of the segment), and
//     must be the input gathered by argpartition.
// Each GPU result must come from the CUDA kernel (a device-only buffer), not the CPU
// fallback, except where the kernel is meant to decline. Skipped without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "ember/backend/gpu.h"
#include "ember/ember.h"
#include "gpu_test_utils.h"

using namespace ember;

#ifdef EMBER_HAS_CUDA

namespace {

const Dtype kSortable[] = {bool_, uint8, uint16,  uint32,   uint64,  int8,   int16,
                           int32, int64, float16, bfloat16, float32, float64};

// Calls f(T{}) with the C++ element type of `t` (every dtype but complex64).
template <class F>
void with_type(Dtype t, F&& f) {
  if (t == bool_) return f(bool{});
  if (t == uint8) return f(uint8_t{});
  if (t == uint16) return f(uint16_t{});
  if (t == uint32) return f(uint32_t{});
  if (t == uint64) return f(uint64_t{});
  if (t == int8) return f(int8_t{});
  if (t == int16) return f(int16_t{});
  if (t == int32) return f(int32_t{});
  if (t == int64) return f(int64_t{});
  if (t == float16) return f(float16_t{});
  if (t == bfloat16) return f(bfloat16_t{});
  if (t == float32) return f(float{});
  if (t == float64) return f(double{});
  FAIL() << "no element type for " << dtype_name(t);
}

template <class T>
T from_bits(uint64_t b) {
  T v;
  std::memcpy(&v, &b, sizeof(T));
  return v;
}

// Quiet and signalling nans of both signs, some with payloads.
template <class T>
T nan_of(uint64_t pick) {
  int k = static_cast<int>(pick % 4);
  if constexpr (std::is_same_v<T, float>) {
    const uint32_t bits[] = {0x7FC00000u, 0xFFC00000u, 0x7FC00123u, 0x7F800001u};
    return from_bits<float>(bits[k]);
  } else if constexpr (std::is_same_v<T, double>) {
    const uint64_t bits[] = {0x7FF8000000000000ull, 0xFFF8000000000000ull, 0x7FF8000000000123ull,
                             0x7FF0000000000001ull};
    return from_bits<double>(bits[k]);
  } else if constexpr (std::is_same_v<T, float16_t>) {
    const uint16_t bits[] = {0x7E00, 0xFE00, 0x7E15, 0x7C01};
    return float16_t::from_bits(bits[k]);
  } else {
    const uint16_t bits[] = {0x7FC0, 0xFFC0, 0x7FC5, 0x7F81};
    return bfloat16_t::from_bits(bits[k]);
  }
}

template <class T>
T sample(std::mt19937_64& rng) {
  const int r = static_cast<int>(rng() % 100);
  if constexpr (std::is_same_v<T, bool>) {
    return (rng() & 1) != 0;
  } else if constexpr (std::is_integral_v<T>) {
    if (r < 60) {  // ties
      int v = static_cast<int>(rng() % 13);
      return static_cast<T>(std::is_signed_v<T> ? v - 6 : v);
    }
    if (r < 70) return std::numeric_limits<T>::min();
    if (r < 80) return std::numeric_limits<T>::max();
    return from_bits<T>(rng());
  } else {
    const float inf = std::numeric_limits<float>::infinity();
    const float sign = (rng() & 1) ? -1.0f : 1.0f;
    if (r < 45) return T(static_cast<float>(static_cast<int>(rng() % 9) - 4) * 0.5f);  // ties, zeros
    if (r < 65) return T(std::uniform_real_distribution<double>(-1000.0, 1000.0)(rng));
    if (r < 72) return T(-0.0f);
    if (r < 79) return nan_of<T>(rng());
    if (r < 84) return T(inf);
    if (r < 89) return T(-inf);
    if (r < 94) return T(sign * 1e-40f);  // float32 subnormal (0 or the smallest step in the halves)
    return T(sign * 1e30f);               // inf in the halves
  }
}

array random_array(const Shape& shape, Dtype t, uint64_t seed) {
  std::mt19937_64 rng(seed);
  size_t n = 1;
  for (auto d : shape) n *= static_cast<size_t>(d);
  std::optional<array> out;
  with_type(t, [&](auto z) {
    using T = decltype(z);
    auto buf = std::make_unique<T[]>(std::max<size_t>(n, 1));
    for (size_t i = 0; i < n; ++i) buf[i] = sample<T>(rng);
    out = array(buf.get(), shape, t);
  });
  return *out;
}

enum class Layout { Contiguous, Transposed, Sliced };
const char* layout_name(Layout l) {
  return l == Layout::Contiguous ? "contiguous" : l == Layout::Transposed ? "transposed" : "sliced";
}

// A random array of `shape` in `layout`: its own buffer, a transposed view, or a view
// taking every other element (offset 1) of a larger one.
array make_input(const Shape& shape, Dtype t, Layout layout, uint64_t seed) {
  if (layout == Layout::Contiguous) return random_array(shape, t, seed);
  if (layout == Layout::Transposed) {
    Shape rev(shape.rbegin(), shape.rend());
    return transpose(random_array(rev, t, seed), Device::cpu);
  }
  Shape big, start, stop, step;
  for (auto d : shape) {
    big.push_back(2 * d + 1);
    start.push_back(1);
    stop.push_back(2 * d + 1);
    step.push_back(2);
  }
  return slice(random_array(big, t, seed), start, stop, step, Device::cpu);
}

// True when `a` came from a CUDA kernel: its buffer is device-only until a host read.
bool computed_on_gpu(const array& a) {
  const auto& d = a.data_shared_ptr();
  return d && !d->host_valid.load();
}

// Row-contiguous host bytes of `a` with `axis` moved last: (segments, n) rows.
struct Rows {
  Dtype t = float32;
  int64_t n = 0, segments = 0;
  std::vector<uint8_t> bytes;
  const uint8_t* at(int64_t s, int64_t j) const { return bytes.data() + (s * n + j) * t.size(); }
  double value(int64_t s, int64_t j) const {
    double v = 0;
    with_type(t, [&](auto z) {
      using T = decltype(z);
      T x;
      std::memcpy(&x, at(s, j), sizeof(T));
      v = static_cast<double>(x);
    });
    return v;
  }
};

Rows rows_of(const array& a, int axis) {
  array m = contiguous(moveaxis(a, axis, -1, Device::cpu), false, Device::cpu);
  m.eval();
  Rows r;
  r.t = m.dtype();
  r.n = a.ndim() == 0 ? 1 : a.shape(axis);
  r.segments = r.n == 0 ? 0 : static_cast<int64_t>(m.size()) / r.n;
  r.bytes.resize(m.nbytes());
  if (m.nbytes() > 0) std::memcpy(r.bytes.data(), m.data<uint8_t>(), m.nbytes());
  return r;
}

// Nan-last order, all nans equal (the CPU kernel's order).
bool le(double a, double b) { return std::isnan(b) || (!std::isnan(a) && a <= b); }
bool same_value(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

void expect_bitwise(const array& got, const array& want, int axis, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  Rows g = rows_of(got, axis), w = rows_of(want, axis);
  int bad = 0;
  for (int64_t s = 0; s < g.segments && bad < 3; ++s) {
    for (int64_t j = 0; j < g.n && bad < 3; ++j) {
      if (std::memcmp(g.at(s, j), w.at(s, j), g.t.size()) != 0) {
        ++bad;
        ADD_FAILURE() << what << ": segment " << s << " position " << j << " gpu " << g.value(s, j) << " want "
                      << w.value(s, j) << " (bits differ)";
      }
    }
  }
}

void expect_same_values(const array& got, const array& want, int axis, const std::string& what) {
  Rows g = rows_of(got, axis), w = rows_of(want, axis);
  int bad = 0;
  for (int64_t s = 0; s < g.segments && bad < 3; ++s) {
    for (int64_t j = 0; j < g.n && bad < 3; ++j) {
      if (!same_value(g.value(s, j), w.value(s, j))) {
        ++bad;
        ADD_FAILURE() << what << ": segment " << s << " position " << j << " gpu " << g.value(s, j) << " want "
                      << w.value(s, j);
      }
    }
  }
}

// p: a partition around kth, idx: its positions, sorted: the segments sorted (by the CPU).
void expect_partition(const array& p, const array& idx, const array& sorted, int axis, int kth,
                      const std::string& what) {
  Rows pr = rows_of(p, axis), ir = rows_of(idx, axis), sr = rows_of(sorted, axis);
  int bad = 0;
  auto fail = [&](int64_t s, const std::string& msg) {
    if (bad++ < 3) ADD_FAILURE() << what << " kth " << kth << ": segment " << s << ": " << msg;
  };
  for (int64_t s = 0; s < pr.segments; ++s) {
    const double pivot = pr.value(s, kth);
    if (!same_value(pivot, sr.value(s, kth))) {
      fail(s, "element kth is " + std::to_string(pivot) + ", sorted has " + std::to_string(sr.value(s, kth)));
    }
    std::vector<double> vals(pr.n);
    std::vector<uint32_t> perm(pr.n);
    for (int64_t j = 0; j < pr.n; ++j) {
      vals[j] = pr.value(s, j);
      std::memcpy(&perm[j], ir.at(s, j), sizeof(uint32_t));
      if (j < kth && !le(vals[j], pivot)) fail(s, "a larger element before kth at " + std::to_string(j));
      if (j > kth && !le(pivot, vals[j])) fail(s, "a smaller element after kth at " + std::to_string(j));
    }
    std::sort(perm.begin(), perm.end());
    for (int64_t j = 0; j < pr.n; ++j) {
      if (perm[j] != static_cast<uint32_t>(j)) {
        fail(s, "the indices are not a permutation");
        break;
      }
    }
    std::stable_sort(vals.begin(), vals.end(), [](double a, double b) { return le(a, b) && !le(b, a); });
    for (int64_t j = 0; j < pr.n; ++j) {
      if (!same_value(vals[j], sr.value(s, j))) {
        fail(s, "the values are not a permutation of the segment");
        break;
      }
    }
  }
}

// Every op of the family on x along `axis`, on the GPU against the CPU. `on_gpu`: the CUDA
// kernel must have run (false where it should decline).
void check_family(const array& x, int axis, const std::string& what, bool on_gpu = true) {
  SCOPED_TRACE(what + " axis " + std::to_string(axis));
  array ga = argsort(x, axis, Device::gpu);
  array gs = sort(x, axis, Device::gpu);
  eval({ga, gs});
  EXPECT_EQ(computed_on_gpu(ga), on_gpu) << "argsort";
  EXPECT_EQ(computed_on_gpu(gs), on_gpu) << "sort";
  array ca = argsort(x, axis, Device::cpu);
  array cs = sort(x, axis, Device::cpu);
  expect_bitwise(ga, ca, axis, "argsort");
  expect_bitwise(gs, take_along_axis(x, ca, axis, Device::cpu), axis, "sort vs x gathered by the stable argsort");
  expect_same_values(gs, cs, axis, "sort vs the CPU sort");
  const int n = x.shape(axis);
  if (n == 0) return;
  std::vector<int> kths = {0, n / 2, n - 1};
  kths.erase(std::unique(kths.begin(), kths.end()), kths.end());
  for (int kth : kths) {
    array gp = partition(x, kth, axis, Device::gpu);
    array gap = argpartition(x, kth, axis, Device::gpu);
    eval({gp, gap});
    EXPECT_EQ(computed_on_gpu(gp), on_gpu) << "partition";
    EXPECT_EQ(computed_on_gpu(gap), on_gpu) << "argpartition";
    expect_bitwise(gp, take_along_axis(x, gap, axis, Device::cpu), axis, "partition vs x gathered by argpartition");
    expect_partition(gp, gap, cs, axis, kth, "partition");
  }
}

Shape with_length(int axis, int length) {
  Shape s = {3, 2};
  s.insert(s.begin() + axis, length);
  return s;
}

TEST(CudaSort, EveryDtypeLayoutAndAxis) {
  REQUIRE_GPU();
  uint64_t seed = 1;
  for (Dtype t : kSortable) {
    for (int length : {1, 2, 17, 1000, 5000}) {
      for (int axis : {0, 1, 2}) {
        for (Layout l : {Layout::Contiguous, Layout::Transposed, Layout::Sliced}) {
          array x = make_input(with_length(axis, length), t, l, ++seed);
          check_family(x, axis, dtype_name(t) + " length " + std::to_string(length) + " " + layout_name(l));
        }
      }
    }
  }
}

TEST(CudaSort, OneAndFewLongSegments) {
  REQUIRE_GPU();
  // One segment, and a few past the GPU's per-segment threshold (2^16).
  check_family(random_array({20000}, float32, 1100), 0, "one segment");
  check_family(make_input({70000, 2}, int16, Layout::Transposed, 1101), 1, "two long segments");
  check_family(random_array({3, 70000}, float16, 1102), 1, "three long segments");
}

TEST(CudaSort, ManySmallSegments) {
  REQUIRE_GPU();
  uint64_t seed = 2000;
  for (Dtype t : {float32, float16, int8, uint64, float64}) {
    check_family(make_input({3000, 3}, t, Layout::Contiguous, ++seed), 1, dtype_name(t) + " rows of 3");
    check_family(make_input({4, 2500}, t, Layout::Transposed, ++seed), 0, dtype_name(t) + " columns of 4");
    check_family(make_input({700, 5, 2}, t, Layout::Sliced, ++seed), 1, dtype_name(t) + " middle axis of 5");
  }
}

TEST(CudaSort, EmptyBroadcastAndHighRankViews) {
  REQUIRE_GPU();
  check_family(random_array({0, 5}, float32, 3000), 1, "no segments");
  check_family(random_array({4, 0}, int32, 3001), 1, "empty segments");
  check_family(random_array({4, 0}, int32, 3002), 0, "empty other axis");
  // A broadcast row (stride 0 across segments) and a broadcast column (stride 0 along the axis).
  array row = broadcast_to(random_array({1, 50}, float32, 3003), {6, 50}, Device::cpu);
  check_family(row, 1, "broadcast rows");
  check_family(row, 0, "broadcast along the axis");
  // Ten axes of 2 reversed: no neighbours merge, more axes than the kernel's layout holds,
  // so the CPU kernel runs; a contiguous one merges to (segments, n) and runs on the GPU.
  Shape ten(10, 2);
  check_family(transpose(random_array(ten, float32, 3004), Device::cpu), 4, "rank 10 transposed", false);
  check_family(random_array(ten, int64, 3005), 4, "rank 10 contiguous");
}

TEST(CudaSort, TopkRunsOnTheGpuPartition) {
  REQUIRE_GPU();
  for (Dtype t : {float32, bfloat16, int32}) {
    array x = make_input({6, 300}, t, Layout::Transposed, 4000);
    for (int axis : {0, 1}) {
      int k = axis == 0 ? 4 : 37;
      array g = topk(x, k, axis, Device::gpu);
      g.eval();
      EXPECT_TRUE(computed_on_gpu(g)) << "topk is a slice of the partition, a view of its device buffer";
      array c = topk(x, k, axis, Device::cpu);
      // The order inside the top k is unspecified: compare them sorted.
      expect_same_values(sort(g, axis, Device::cpu), sort(c, axis, Device::cpu), axis,
                         "topk " + dtype_name(t) + " axis " + std::to_string(axis));
    }
  }
}

TEST(CudaSort, ComplexIsRejectedAsOnTheCpu) {
  REQUIRE_GPU();
  array z = astype(random_array({4, 3}, float32, 5000), complex64, Device::cpu);
  EXPECT_THROW(sort(z, 1, Device::gpu), std::invalid_argument);
  EXPECT_THROW(argsort(z, 0, Device::gpu), std::invalid_argument);
  EXPECT_THROW(partition(z, 1, 1, Device::gpu), std::invalid_argument);
  EXPECT_THROW(argpartition(z, 1, 0, Device::gpu), std::invalid_argument);
}

}  // namespace

#endif  // EMBER_HAS_CUDA
