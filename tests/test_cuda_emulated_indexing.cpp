// The generated CUDA indexing kernels (indexing_codegen: Gather, Scatter, GatherAxis,
// ScatterAddAxis and the copies of Concatenate, Pad and SliceUpdate) run on the CPU
// emulator and compared with the CPU backend's kernel of the same primitive. Arguments
// come from the same plan functions the CUDA backend uses (gi::*_plan), and each op is
// launched in the order backend/cuda/indexing.cpp launches it. Inputs: random values,
// several layouts (dense, transposed, sliced, broadcast), repeated and negative indices,
// and out-of-range indices (the error record must be set, with the CPU's message).
// Needs no GPU.
#ifdef EMBER_HAS_CUDA

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ember/backend/cuda/indexing_codegen.h"
#include "ember/ember.h"
#include "ember/primitives.h"
#include "ember/primitives_index.h"
#include "emulated_program.h"
#include "test_utils.h"

using namespace ember;
namespace gi = ember::gpu::idx;
using test_utils::EmulatedProgram;

namespace {

// Few blocks of few threads, so grid-stride loops take several turns and atomics collide.
constexpr unsigned kBlock = 64, kGrid = 3;

const Stream& cpu_stream() {
  static Stream s = default_stream(Device::cpu);
  return s;
}

array random_values(const Shape& shape, Dtype t, uint64_t seed) {
  auto k = random::key(seed);
  if (t == bool_) return random::bernoulli(array(0.5f), shape, k, Device::cpu);
  if (t == complex64) {
    array re = random::uniform(array(-2.0f), array(2.0f), shape, float32, k, Device::cpu);
    array im = random::uniform(array(-2.0f), array(2.0f), shape, float32, random::key(seed + 7), Device::cpu);
    return add(astype(re, complex64, Device::cpu),
               multiply(astype(im, complex64, Device::cpu), array(complex64_t(0.0f, 1.0f)), Device::cpu), Device::cpu);
  }
  if (is_integral(t)) {
    bool is_unsigned = t == uint8 || t == uint16 || t == uint32 || t == uint64;
    return random::randint(array(is_unsigned ? 0 : -20), array(20), shape, t, k, Device::cpu);
  }
  return astype(random::uniform(array(-3.0f), array(3.0f), shape, float32, k, Device::cpu), t, Device::cpu);
}

// Indices in [lo, hi) of dtype t.
array random_indices(const Shape& shape, int64_t lo, int64_t hi, Dtype t, uint64_t seed) {
  array r = random::randint(array(static_cast<int>(lo)), array(static_cast<int>(hi)), shape, int32, random::key(seed),
                            Device::cpu);
  r = astype(r, t, Device::cpu);
  r.eval();
  return r;
}

// A copy of integer array `a` with its element `pos` (row-major) set to v.
array with_index(const array& a, int64_t pos, int64_t v) {
  array c = contiguous(astype(a, int64, Device::cpu), false, Device::cpu);
  c.eval();
  std::vector<int64_t> vals(c.data<int64_t>(), c.data<int64_t>() + c.size());
  vals[pos] = v;
  array r = astype(array(vals.data(), a.shape(), int64), a.dtype(), Device::cpu);
  r.eval();
  return r;
}

// The CPU kernel's result, or its std::out_of_range message.
struct CpuResult {
  std::optional<array> value;
  std::string error;
};
CpuResult cpu_run(std::shared_ptr<Primitive> p, std::vector<array> ins, std::optional<Shape> out_shape = {}) {
  Shape shape = out_shape ? *out_shape : p->output_shapes(ins)[0];
  Dtype t = ins[0].dtype();
  array r(shape, t, std::move(p), std::move(ins));
  try {
    r.eval();
  } catch (const std::out_of_range& e) {
    return {std::nullopt, e.what()};
  }
  return {r, ""};
}

// The device buffer of an output: bytes plus slack, 16-byte aligned (operator new).
struct Buffer {
  std::vector<char> bytes;
  explicit Buffer(size_t n) : bytes(n + 64, 0x5a) {}
  void* data() { return bytes.data(); }
};

void expect_equal(const array& want_in, const void* got_bytes, double tol, const std::string& what) {
  array want = contiguous(want_in, false, Device::cpu);
  want.eval();
  if (tol == 0 || want.dtype() == bool_ || is_integral(want.dtype())) {
    // Byte-exact (copies move bits; integer and in-order sums are exact).
    const size_t isz = want.itemsize();
    int bad = 0;
    for (size_t i = 0; i < want.size() && bad < 3; ++i) {
      if (std::memcmp(static_cast<const char*>(want.raw_ptr()) + i * isz, static_cast<const char*>(got_bytes) + i * isz,
                      isz) != 0) {
        ++bad;
        ADD_FAILURE() << what << ": element " << i << " differs from the CPU";
      }
    }
    return;
  }
  array got = dispatch_dtype(want.dtype(), [&](auto t) {
    using T = decltype(t);
    return array(static_cast<const T*>(got_bytes), want.shape(), want.dtype());
  });
  array w = astype(want, float64, Device::cpu), g = astype(got, float64, Device::cpu);
  w.eval();
  g.eval();
  int bad = 0;
  for (size_t i = 0; i < w.size() && bad < 3; ++i) {
    double a = w.data<double>()[i], b = g.data<double>()[i];
    if (!((std::isnan(a) && std::isnan(b)) || std::fabs(a - b) <= tol * std::max(1.0, std::fabs(a)))) {
      ++bad;
      ADD_FAILURE() << what << ": element " << i << " cpu " << a << " emulated gpu " << b;
    }
  }
}

// Launches kernels of one program the way backend/cuda/indexing.cpp does.
class Emu {
 public:
  explicit Emu(const EmulatedProgram& prog) : prog_(prog) {}

  void launch(const gi::Variant& v, size_t which, void** args) {
    prog_.entry(gi::kernel_names(v)[which])(kGrid, kBlock, seed_++, args);
  }
  void copy_into(const array& src, void* dst, const gi::StridedArgs<2>& plan) {
    if (src.size() == 0) return;
    const void* s = src.raw_ptr();
    int64_t n = static_cast<int64_t>(src.size());
    gi::StridedArgs<2> a = plan;
    void* args[] = {&s, &dst, &n, &a};
    launch({gi::Family::Copy, gi::bits_dtype(src.dtype())}, 0, args);
  }

 private:
  const EmulatedProgram& prog_;
  uint64_t seed_ = 1;
};

char* at_offset(void* base, int64_t elems, size_t itemsize) {
  return static_cast<char*>(base) + elems * static_cast<int64_t>(itemsize);
}

// The variants these tests launch (a subset of all_variants(): host-compiling all of them
// takes minutes; the PTX test compiles every one).
std::vector<gi::Variant> emulated_variants() {
  using F = gi::Family;
  std::vector<gi::Variant> v;
  for (Dtype b : {uint8, uint16, uint32, uint64}) {
    v.push_back({F::Copy, b});
    v.push_back({F::Fill, b});
  }
  for (Dtype i : {int32, int64, uint8}) {
    for (Dtype b : {uint8, uint16, uint32, uint64}) {
      v.push_back({F::Gather, b, i});
      v.push_back({F::GatherAxis, b, i});
      v.push_back({F::ScatterNone, b, i});
    }
  }
  for (ScatterReduce r : {ScatterReduce::Sum, ScatterReduce::Prod, ScatterReduce::Max, ScatterReduce::Min}) {
    for (Dtype t : {float32, float64, int32, int64, uint32, uint64}) v.push_back({F::Scatter, t, int32, r});
  }
  v.push_back({F::Scatter, float32, int64, ScatterReduce::Sum});
  for (Dtype t : {float32, float16, bfloat16, int32, int8, bool_, complex64, float64}) {
    v.push_back({F::ScatterAddAxis, t, int32});
  }
  v.push_back({F::ScatterAddAxis, float32, int64});
  v.push_back({F::ScatterAddAxis, float32, uint8});
  return v;
}

const EmulatedProgram& program() {
  static std::unique_ptr<EmulatedProgram> p = [] {
    auto t0 = std::chrono::steady_clock::now();
    auto prog =
        std::make_unique<EmulatedProgram>(gi::program_source(emulated_variants(), gi::Target::Emulator), "indexing");
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("[ emulated ] %zu indexing variants host-compiled in %.1f s\n", emulated_variants().size(), s);
    return prog;
  }();
  return *p;
}

// ------------------------------------------------------------------ Gather

// Gather as indexing.cpp runs it; returns the error record.
std::vector<uint64_t> emu_gather(Emu& emu, const array& a, const std::vector<array>& indices,
                                 const std::vector<int>& axes, const Shape& slice, Buffer& out, size_t out_size,
                                 std::string* message) {
  auto plan = gi::gather_plan(a, indices, axes, slice);
  EXPECT_TRUE(plan.has_value());
  gi::GatherArgs g = *plan;
  for (size_t j = 0; j < indices.size(); ++j) g.idx[j] = indices[j].raw_ptr();
  std::vector<uint64_t> err(gi::kErrorWords, 0);
  const void* ap = a.raw_ptr();
  void* o = out.data();
  unsigned long long* e = reinterpret_cast<unsigned long long*>(err.data());
  int64_t n = static_cast<int64_t>(out_size);
  void* args[] = {&ap, &o, &n, &g, &e};
  emu.launch({gi::Family::Gather, gi::bits_dtype(a.dtype()), indices[0].dtype()}, 0, args);
  if (err[0]) *message = gi::gather_error_message("gather", g, err.data());
  return err;
}

void check_gather(Emu& emu, const array& a, const std::vector<array>& indices, const std::vector<int>& axes,
                  const Shape& slice, const std::string& what) {
  SCOPED_TRACE(what);
  auto prim = std::make_shared<Gather>(cpu_stream(), axes, slice);
  std::vector<array> ins{a};
  ins.insert(ins.end(), indices.begin(), indices.end());
  auto want = cpu_run(prim, ins);
  Shape out_shape = prim->output_shapes(ins)[0];
  size_t n = 1;
  for (auto d : out_shape) n *= d;
  Buffer out(n * a.itemsize());
  std::string msg;
  auto err = emu_gather(emu, a, indices, axes, slice, out, n, &msg);
  if (!want.value) {
    EXPECT_EQ(err[0], 1u) << "the out-of-range index was not reported";
    EXPECT_EQ(msg, want.error);
  } else {
    EXPECT_EQ(err[0], 0u);
    expect_equal(*want.value, out.data(), 0, what);
  }
}

TEST(CudaEmulatedIndexing, GatherMatchesTheCpuBackend) {
  Emu emu(program());
  // a: (5, 6, 7) float32 from a transposed (7, 6, 5): every axis strided.
  array a = transpose(random_values({7, 6, 5}, float32, 1), Device::cpu);
  a.eval();
  for (Dtype it : {int32, int64, uint8}) {
    // Two index arrays on axes 0 and 2, scalar slices.
    array i0 = random_indices({3, 4}, 0, 5, it, 2), i2 = random_indices({3, 4}, 0, 7, it, 3);
    check_gather(emu, a, {i0, i2}, {0, 2}, {1, 6, 1}, "two indices " + dtype_name(it));
    // One index on axis 1 with a slice of 3 there (indices in [0, 3]).
    array i1 = random_indices({2, 5}, 0, 4, it, 4);
    check_gather(emu, a, {i1}, {1}, {5, 3, 7}, "slice of 3 " + dtype_name(it));
    if (it != uint8) {
      // Negative indices count from the end.
      array neg = random_indices({9}, -5, 0, it, 5);
      check_gather(emu, a, {neg}, {0}, {1, 6, 7}, "negative " + dtype_name(it));
    }
  }
  // Broadcast index arrays (stride-0 views), a float64 (8-byte) sliced input.
  array b = slice(random_values({6, 9}, float64, 6), {0, 1}, {6, 9}, {1, 2}, Device::cpu);  // (6, 4)
  array r = broadcast_to(random_indices({3, 1}, 0, 6, int64, 7), {3, 5}, Device::cpu);
  array c = broadcast_to(random_indices({1, 5}, -4, 4, int64, 8), {3, 5}, Device::cpu);
  eval({b, r, c});
  check_gather(emu, b, {r, c}, {0, 1}, {1, 1}, "broadcast indices");
  // 2-byte elements, 0-d index.
  array h = random_values({8, 3}, float16, 9);
  check_gather(emu, h, {array(int32_t{-2})}, {0}, {1, 3}, "0-d index");
  // Out of range: one bad index among good ones.
  check_gather(emu, a, {with_index(random_indices({6}, 0, 5, int32, 10), 4, 5)}, {0}, {1, 6, 7}, "index 5 of 5");
  check_gather(emu, a, {with_index(random_indices({6}, 0, 4, int64, 11), 2, -9)}, {1}, {5, 3, 7}, "index -9");
  check_gather(emu, a, {with_index(random_indices({6}, 0, 4, int64, 12), 3, 4)}, {1}, {5, 3, 7}, "slice leaves");
}

// ------------------------------------------------------------------ Scatter

void check_scatter(Emu& emu, ScatterReduce red, const array& a, const std::vector<array>& indices, const array& upd,
                   const std::vector<int>& axes, double tol, const std::string& what) {
  SCOPED_TRACE(what + " " + scatter_reduce_name(red));
  auto prim = std::make_shared<Scatter>(cpu_stream(), red, axes);
  std::vector<array> ins{a};
  ins.insert(ins.end(), indices.begin(), indices.end());
  ins.push_back(upd);
  auto want = cpu_run(prim, ins);

  // As scatter_kernel: out = a (row-contiguous), then the scatter kernel(s).
  ASSERT_TRUE(gi::scatter_supported(red, a.dtype()));
  auto plan = gi::scatter_plan(a.shape(), indices, upd, axes);
  auto start = gi::copy_plan(a.shape(), a.strides(), row_major_strides(a.shape()));
  ASSERT_TRUE(plan && start);
  Buffer out(a.size() * a.itemsize());
  void* o = out.data();
  emu.copy_into(a, o, *start);
  gi::GatherArgs g = *plan;
  for (size_t j = 0; j < indices.size(); ++j) g.idx[j] = indices[j].raw_ptr();
  std::vector<uint64_t> err(gi::kErrorWords, 0);
  unsigned long long* e = reinterpret_cast<unsigned long long*>(err.data());
  const void* up = upd.raw_ptr();
  int64_t n = static_cast<int64_t>(upd.size());
  const Dtype it = indices[0].dtype();
  if (red == ScatterReduce::None) {
    gi::Variant v{gi::Family::ScatterNone, gi::bits_dtype(a.dtype()), it};
    std::vector<int64_t> winner(a.size(), -1);
    void* w = winner.data();
    void* claim[] = {&w, &n, &g, &e};
    emu.launch(v, 0, claim);
    void* write[] = {&up, &o, &w, &n, &g, &e};
    emu.launch(v, 1, write);
  } else {
    void* args[] = {&up, &o, &n, &g, &e};
    emu.launch({gi::Family::Scatter, a.dtype(), it, red}, 0, args);
  }
  if (!want.value) {
    EXPECT_EQ(err[0], 1u) << "the out-of-range index was not reported";
    if (err[0]) EXPECT_EQ(gi::gather_error_message(scatter_reduce_name(red), g, err.data()), want.error);
  } else {
    EXPECT_EQ(err[0], 0u);
    expect_equal(*want.value, out.data(), tol, what);
  }
}

TEST(CudaEmulatedIndexing, ScatterMatchesTheCpuBackend) {
  Emu emu(program());
  // a: (6, 5) from a transposed (5, 6); 12 updates of (1, 5) rows at repeated rows.
  for (Dtype t : {float32, int64, float16, uint8, complex64}) {
    array a = transpose(random_values({5, 6}, t, 20), Device::cpu);
    array rows = random_indices({12}, 0, 6, int32, 21);  // 12 draws from 6 rows: repeats
    array upd = random_values({12, 1, 5}, t, 22);
    eval({a, upd});
    check_scatter(emu, ScatterReduce::None, a, {rows}, upd, {0}, 0, "rows " + dtype_name(t));
  }
  // Two index arrays, scalar slices, updates as a transposed view; every reduction.
  for (Dtype t : {float32, float64, int32, int64, uint32, uint64}) {
    array a = random_values({4, 7}, t, 30);
    array r = random_indices({10}, -4, 4, int32, 31), c = random_indices({10}, 0, 7, int32, 32);
    array upd = reshape(transpose(random_values({1, 1, 10}, t, 33), {2, 0, 1}, Device::cpu), {10, 1, 1}, Device::cpu);
    if (t == float32 || t == float64) {
      // Products and sums of a few values near 1 in magnitude: rounding-order differences stay tiny.
      upd = astype(random::uniform(array(0.5f), array(1.5f), {10, 1, 1}, float32, random::key(34), Device::cpu), t,
                   Device::cpu);
    }
    eval({a, upd});
    const double tol = (t == float32) ? 1e-5 : (t == float64) ? 1e-12 : 0;
    for (ScatterReduce red :
         {ScatterReduce::None, ScatterReduce::Sum, ScatterReduce::Prod, ScatterReduce::Max, ScatterReduce::Min}) {
      if (red == ScatterReduce::None && t != float32 && t != int64) continue;
      check_scatter(emu, red, a, {r, c}, upd, {0, 1}, red == ScatterReduce::None ? 0 : tol, "points " + dtype_name(t));
    }
  }
  // Sum with int64 indices, slices of (2, 3) in a (5, 6), overlapping.
  {
    array a = random_values({5, 6}, float32, 40);
    array r = random_indices({7}, 0, 4, int64, 41);
    array upd = random_values({7, 2, 3}, float32, 42);
    check_scatter(emu, ScatterReduce::Sum, a, {r}, upd, {0}, 1e-5, "overlapping slices");
  }
  // Out of range.
  {
    array a = random_values({5, 6}, float32, 50);
    array r = with_index(random_indices({4}, 0, 5, int32, 51), 2, 7);
    array upd = random_values({4, 1, 6}, float32, 52);
    check_scatter(emu, ScatterReduce::None, a, {r}, upd, {0}, 0, "index 7 of 5");
    check_scatter(emu, ScatterReduce::Sum, a, {r}, upd, {0}, 1e-5, "index 7 of 5");
    array r2 = with_index(random_indices({4}, 0, 5, int32, 53), 0, -6);
    check_scatter(emu, ScatterReduce::Max, a, {r2}, upd, {0}, 0, "index -6 of 5");
  }
}

// ------------------------------------------------------------------ along an axis

void check_gather_axis(Emu& emu, const array& a, const array& ind, int axis, const std::string& what) {
  SCOPED_TRACE(what);
  auto want = cpu_run(std::make_shared<GatherAxis>(cpu_stream(), axis), {a, ind});
  auto plan = gi::gather_axis_plan(a, ind, axis);
  ASSERT_TRUE(plan);
  Buffer out(ind.size() * a.itemsize());
  gi::GatherAxisPlan pl = *plan;
  std::vector<uint64_t> err(gi::kErrorWords, 0);
  unsigned long long* e = reinterpret_cast<unsigned long long*>(err.data());
  const void* ap = a.raw_ptr();
  const void* ip = ind.raw_ptr();
  void* o = out.data();
  void* args[] = {&ap, &ip, &o, &pl.n, &pl.na, &pl.a_axis_stride, &pl.layout, &e};
  emu.launch({gi::Family::GatherAxis, gi::bits_dtype(a.dtype()), ind.dtype()}, 0, args);
  if (!want.value) {
    EXPECT_EQ(err[0], 1u) << "the out-of-range index was not reported";
    if (err[0]) EXPECT_EQ(gi::axis_error_message("take_along_axis", axis, pl.na, err.data()), want.error);
  } else {
    EXPECT_EQ(err[0], 0u);
    expect_equal(*want.value, out.data(), 0, what);
  }
}

TEST(CudaEmulatedIndexing, GatherAxisMatchesTheCpuBackend) {
  Emu emu(program());
  for (Dtype it : {int32, int64, uint8}) {
    array a = transpose(random_values({5, 7, 4}, float32, 60), {2, 1, 0}, Device::cpu);  // (4, 7, 5)
    a.eval();
    int64_t lo = it == uint8 ? 0 : -7;
    for (int axis : {0, 1, 2}) {
      Shape s = a.shape();
      s[axis] = 3;
      array ind = random_indices(s, it == uint8 ? 0 : -a.shape(axis), a.shape(axis), it, 61 + axis);
      check_gather_axis(emu, a, ind, axis, "axis " + std::to_string(axis) + " " + dtype_name(it));
    }
    // Transposed indices, a 2-byte and an 8-byte dtype.
    array h = random_values({6, 9}, bfloat16, 65);
    array ind = transpose(random_indices({4, 6}, lo, 9, it, 66), Device::cpu);  // (6, 4)
    ind.eval();
    check_gather_axis(emu, h, ind, 1, "transposed indices " + dtype_name(it));
    array c = random_values({6, 9}, complex64, 67);
    check_gather_axis(emu, c, ind, 1, "complex64 " + dtype_name(it));
  }
  array a = random_values({4, 5}, float32, 68);
  check_gather_axis(emu, a, with_index(random_indices({4, 2}, 0, 5, int32, 69), 5, 5), 1, "index 5 of 5");
  check_gather_axis(emu, a, with_index(random_indices({3, 5}, 0, 4, int64, 70), 7, -5), 0, "index -5 of 4");
}

void check_scatter_add_axis(Emu& emu, const array& a, const array& ind, const array& upd, int axis,
                            const std::string& what, bool atomic = false) {
  SCOPED_TRACE(what + (atomic ? " atomic" : ""));
  auto want = cpu_run(std::make_shared<ScatterAddAxis>(cpu_stream(), axis), {a, ind, upd});
  auto plan = gi::scatter_add_axis_plan(a.shape(), ind, upd, axis);
  auto start = gi::copy_plan(a.shape(), a.strides(), row_major_strides(a.shape()));
  ASSERT_TRUE(plan && start);
  Buffer out(a.size() * a.itemsize());
  void* o = out.data();
  emu.copy_into(a, o, *start);
  gi::ScatterAxisPlan pl = *plan;
  std::vector<uint64_t> err(gi::kErrorWords, 0);
  unsigned long long* e = reinterpret_cast<unsigned long long*>(err.data());
  const void* ip = ind.raw_ptr();
  const void* up = upd.raw_ptr();
  void* args[] = {
      &ip,        &up, &o, &pl.cols, &pl.nu, &pl.na, &pl.idx_axis_stride, &pl.upd_axis_stride, &pl.out_axis_stride,
      &pl.layout, &e};
  emu.launch({gi::Family::ScatterAddAxis, a.dtype(), ind.dtype()}, atomic ? 1 : 0, args);
  if (!want.value) {
    EXPECT_EQ(err[0], 1u) << "the out-of-range index was not reported";
    if (err[0]) EXPECT_EQ(gi::axis_error_message("scatter_add_axis", axis, pl.na, err.data()), want.error);
  } else {
    EXPECT_EQ(err[0], 0u);
    // The column kernel adds in the CPU's order: exact. Atomic float sums round in another order.
    const double tol = !atomic ? 0 : a.dtype() == float32 ? 1e-5 : 1e-12;
    expect_equal(*want.value, out.data(), tol, what);
  }
}

TEST(CudaEmulatedIndexing, ScatterAddAxisMatchesTheCpuBackend) {
  Emu emu(program());
  for (Dtype t : {float32, float16, bfloat16, int32, int8, bool_, complex64, float64}) {
    array a = transpose(random_values({5, 6, 4}, t, 80), {2, 1, 0}, Device::cpu);  // (4, 6, 5)
    a.eval();
    for (int axis : {0, 1, 2}) {
      Shape s = a.shape();
      s[axis] = 9;  // more updates than rows: repeats
      array ind = random_indices(s, -a.shape(axis), a.shape(axis), int32, 81 + axis);
      array upd = random_values(s, t, 84 + axis);
      check_scatter_add_axis(emu, a, ind, upd, axis, "axis " + std::to_string(axis) + " " + dtype_name(t));
      if (gi::scatter_supported(ScatterReduce::Sum, t)) {
        check_scatter_add_axis(emu, a, ind, upd, axis, "axis " + std::to_string(axis) + " " + dtype_name(t), true);
      }
    }
  }
  // The plan takes the atomic kernel for few long columns (a 1-D scatter is one column).
  {
    array a1 = random_values({50}, float32, 97);
    array i1 = random_indices({400}, -50, 50, int32, 98);
    array u1 = random_values({400}, float32, 99);
    auto plan = gi::scatter_add_axis_plan(a1.shape(), i1, u1, 0);
    ASSERT_TRUE(plan);
    EXPECT_TRUE(plan->use_atomic);
    check_scatter_add_axis(emu, a1, i1, u1, 0, "1-d", true);
    EXPECT_FALSE(gi::scatter_add_axis_plan({4, 6, 5}, random_indices({4, 9, 5}, 0, 6, int32, 1),
                                           random_values({4, 9, 5}, float16, 2), 1)
                     ->use_atomic);  // no atomics for float16
  }
  // Transposed updates and indices, int64 and uint8 indices, broadcast updates.
  array a = random_values({7, 3}, float32, 90);
  array ind = transpose(random_indices({3, 10}, 0, 7, int64, 91), Device::cpu);  // (10, 3)
  array upd = transpose(random_values({3, 10}, float32, 92), Device::cpu);
  eval({ind, upd});
  check_scatter_add_axis(emu, a, ind, upd, 0, "transposed");
  array ind8 = random_indices({10, 3}, 0, 7, uint8, 93);
  array bc = broadcast_to(random_values({10, 1}, float32, 94), {10, 3}, Device::cpu);
  bc.eval();
  check_scatter_add_axis(emu, a, ind8, bc, 0, "broadcast updates");
  array bad = with_index(random_indices({4, 3}, 0, 7, int32, 95), 4, 7);
  check_scatter_add_axis(emu, a, bad, random_values({4, 3}, float32, 96), 0, "index 7 of 7");
  check_scatter_add_axis(emu, a, bad, random_values({4, 3}, float32, 96), 0, "index 7 of 7", true);
}

// ------------------------------------------------------------------ shape copies

TEST(CudaEmulatedIndexing, ConcatenatePadSliceUpdateMatchTheCpuBackend) {
  Emu emu(program());
  for (Dtype t : {uint8, float16, float32, complex64}) {
    SCOPED_TRACE(dtype_name(t));
    // Concatenate along axis 1: dense, transposed, sliced and broadcast pieces.
    array x = random_values({4, 3, 5}, t, 100);
    array y = transpose(random_values({5, 2, 4}, t, 101), {2, 1, 0}, Device::cpu);                      // (4, 2, 5)
    array z = slice(random_values({4, 8, 10}, t, 102), {0, 1, 0}, {4, 8, 10}, {1, 2, 2}, Device::cpu);  // (4, 4, 5)
    array w = broadcast_to(random_values({1, 1, 5}, t, 103), {4, 1, 5}, Device::cpu);
    eval({x, y, z, w});
    for (int axis : {1}) {
      std::vector<array> ins{x, y, z, w};
      Shape cs = x.shape();
      cs[axis] = 3 + 2 + 4 + 1;
      auto want = cpu_run(std::make_shared<Concatenate>(cpu_stream(), axis), ins, cs);
      Shape os = want.value->shape();
      Strides ost = row_major_strides(os);
      Buffer out(want.value->size() * x.itemsize());
      int64_t start = 0;
      for (const auto& in : ins) {
        auto pl = gi::copy_plan(in.shape(), in.strides(), ost);
        ASSERT_TRUE(pl);
        emu.copy_into(in, at_offset(out.data(), start * ost[axis], x.itemsize()), *pl);
        start += in.shape(axis);
      }
      expect_equal(*want.value, out.data(), 0, "concatenate");
    }
    // Pad a transposed (3, 4) with low (1, 2), high (2, 0).
    {
      array in = transpose(random_values({4, 3}, t, 104), Device::cpu);
      array val = reshape(random_values({1}, t, 105), {}, Device::cpu);
      eval({in, val});
      std::vector<int> axes{0, 1};
      Shape low{1, 2}, high{2, 0};
      auto want = cpu_run(std::make_shared<Pad>(cpu_stream(), axes, low, high), {in, val}, Shape{3 + 1 + 2, 4 + 2});
      Shape os = want.value->shape();
      Strides ost = row_major_strides(os);
      Buffer out(want.value->size() * in.itemsize());
      const void* vp = val.raw_ptr();
      void* o = out.data();
      int64_t n = static_cast<int64_t>(want.value->size());
      void* args[] = {&vp, &o, &n};
      emu.launch({gi::Family::Fill, gi::bits_dtype(t)}, 0, args);
      int64_t offset = 0;
      for (size_t i = 0; i < axes.size(); ++i) offset += low[i] * ost[axes[i]];
      auto pl = gi::copy_plan(in.shape(), in.strides(), ost);
      ASSERT_TRUE(pl);
      emu.copy_into(in, at_offset(o, offset, in.itemsize()), *pl);
      expect_equal(*want.value, out.data(), 0, "pad");
    }
    // SliceUpdate of a transposed (6, 8) at rows 1:6:2, columns 0:8:3 with a broadcast (3, 3).
    {
      array src = transpose(random_values({8, 6}, t, 106), Device::cpu);
      array upd = broadcast_to(random_values({3, 1}, t, 107), {3, 3}, Device::cpu);
      eval({src, upd});
      Shape start{1, 0}, stop{6, 8}, steps{2, 3};
      auto want = cpu_run(std::make_shared<SliceUpdate>(cpu_stream(), start, stop, steps), {src, upd});
      Strides os = row_major_strides(src.shape());
      int64_t offset = 0;
      Strides st(2);
      for (size_t i = 0; i < 2; ++i) {
        offset += start[i] * os[i];
        st[i] = os[i] * steps[i];
      }
      Buffer out(src.size() * src.itemsize());
      auto sp = gi::copy_plan(src.shape(), src.strides(), os);
      auto up = gi::copy_plan(upd.shape(), upd.strides(), st);
      ASSERT_TRUE(sp && up);
      emu.copy_into(src, out.data(), *sp);
      emu.copy_into(upd, at_offset(out.data(), offset, src.itemsize()), *up);
      expect_equal(*want.value, out.data(), 0, "slice_update");
    }
  }
}

TEST(CudaEmulatedIndexing, PlansDeclineWhatTheKernelsCannotTake) {
  // Five index arrays: more than kMaxIndices.
  array a = zeros({2, 2, 2, 2, 2}, float32, Device::cpu);
  std::vector<array> five(5, array(int32_t{0}));
  EXPECT_FALSE(gi::gather_plan(a, five, {0, 1, 2, 3, 4}, {1, 1, 1, 1, 1}).has_value());
  EXPECT_TRUE(gi::gather_plan(a, {five.begin(), five.begin() + 4}, {0, 1, 2, 3}, {1, 1, 1, 1, 2}).has_value());
  EXPECT_FALSE(gi::is_index_dtype(bool_));
  EXPECT_FALSE(gi::is_index_dtype(float32));
  EXPECT_TRUE(gi::scatter_supported(ScatterReduce::None, float16));
  EXPECT_FALSE(gi::scatter_supported(ScatterReduce::Sum, float16));
  EXPECT_FALSE(gi::scatter_supported(ScatterReduce::Max, int8));
  EXPECT_TRUE(gi::scatter_supported(ScatterReduce::Prod, uint64));
}

}  // namespace

#endif  // EMBER_HAS_CUDA
