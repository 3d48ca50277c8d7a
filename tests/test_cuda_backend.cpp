// The CUDA backend's plumbing: residency (host <-> device copies in the right
// order), CPU fallback for ops without kernels, errors and out-of-memory as
// exceptions, streams. Runs only where a GPU is present (gpu-check).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ember/backend/gpu.h"
#include "ember/ember.h"
#include "ember/primitives.h"
#include "gpu_test_utils.h"

using namespace ember;

namespace {

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(-2.0f, 2.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g);
  return v;
}

std::vector<float> to_vector(array a) {
  a = contiguous(a);
  a.eval();
  return std::vector<float>(a.data<float>(), a.data<float>() + a.size());
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want, float tol = 1e-5f) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], tol * (1.0f + std::fabs(want[i]))) << "at " << i;
  }
}

}  // namespace

TEST(CudaBackend, AvailabilityIsConsistent) {
  // Holds everywhere: without a GPU the reason says why, with one the GPU is a usable device.
  if (gpu::is_available()) {
    EXPECT_GT(gpu::device_count(), 0);
    EXPECT_TRUE(is_available(Device::gpu));
  } else {
    EXPECT_FALSE(gpu::unavailable_reason().empty());
    EXPECT_FALSE(is_available(Device::gpu));
    EXPECT_THROW(default_stream(Device::gpu), std::invalid_argument);
  }
}

TEST(CudaBackend, HostDataRoundTripsThroughTheDevice) {
  REQUIRE_GPU();
  auto v = random_floats(1000, 1);
  array x(v.data(), {10, 100});
  array y = add(x, x, Device::gpu);  // H2D copy of x, kernel, D2H on read
  std::vector<float> want(v.size());
  for (size_t i = 0; i < v.size(); ++i) want[i] = v[i] + v[i];
  expect_close(to_vector(y), want);
  // x now has a device copy; reading it again on the host still gives the original values.
  expect_close(to_vector(x), v);
}

TEST(CudaBackend, MixedCpuAndGpuChainsNeedNoCopiesFromTheUser) {
  REQUIRE_GPU();
  auto v = random_floats(4096, 2);
  array x(v.data(), {64, 64});
  array a = exp(x, Device::gpu);
  array b = multiply(a, array(2.0f), Device::cpu);  // reads a's device bytes back
  array c = subtract(b, x, Device::gpu);            // b goes to the device again
  array d = sort(c, -1, Device::gpu);               // may run on the CPU kernel (fallback)
  array e = sum(d, -1, false, Device::gpu);
  std::vector<float> want(64);
  for (int i = 0; i < 64; ++i) {
    double s = 0;
    for (int j = 0; j < 64; ++j) s += 2.0 * std::exp(v[i * 64 + j]) - v[i * 64 + j];
    want[i] = static_cast<float>(s);
  }
  expect_close(to_vector(e), want, 1e-4f);
}

TEST(CudaBackend, ViewsOfDeviceBuffersKeepTheirOffsets) {
  REQUIRE_GPU();
  auto v = random_floats(6 * 8, 3);
  array x = exp(array(v.data(), {6, 8}), Device::gpu);  // device-only buffer
  array s = slice(x, {1, 2}, {5, 8}, {2, 3});           // strided view, on any device
  array t = transpose(s, {1, 0});
  array y = negative(t, Device::gpu);
  auto got = to_vector(y);
  ASSERT_EQ(y.shape(), Shape({2, 2}));
  std::vector<float> want;
  for (int j = 2; j < 8; j += 3) {
    for (int i = 1; i < 5; i += 2) want.push_back(-std::exp(v[i * 8 + j]));
  }
  expect_close(got, want);
}

TEST(CudaBackend, AsyncEvalAndSecondStream) {
  REQUIRE_GPU();
  auto v = random_floats(1 << 16, 4);
  array x(v.data(), {1 << 16});
  Stream s2 = new_stream(Device::gpu);
  array a = square(x, Device::gpu);
  array b = sqrt(a, s2);  // a cross-stream dependency
  async_eval({b});
  std::vector<float> want(v.size());
  for (size_t i = 0; i < v.size(); ++i) want[i] = std::fabs(v[i]);
  expect_close(to_vector(b), want, 1e-5f);
  synchronize(s2);
}

TEST(CudaBackend, GradientsRunOnTheGpu) {
  REQUIRE_GPU();
  auto v = random_floats(256, 5);
  array x(v.data(), {16, 16});
  auto f = [](const std::vector<array>& in) {
    return std::vector<array>{sum(multiply(tanh(in[0], Device::gpu), in[0], Device::gpu), false, Device::gpu)};
  };
  auto [outs, grads] = vjp(f, {x}, {array(1.0f)});
  std::vector<float> want(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    float t = std::tanh(v[i]);
    want[i] = t + v[i] * (1 - t * t);
  }
  expect_close(to_vector(grads[0]), want, 1e-4f);
}

TEST(CudaBackend, OutOfMemoryIsAnExceptionAndTheProcessStaysUsable) {
  REQUIRE_GPU();
  // 2^40 floats = 4 TiB: no card has it.
  array huge = zeros({1 << 20, 1 << 20}, float32, Device::gpu);
  array y = add(huge, huge, Device::gpu);
  // The same error type as on the CPU (with EMBER_CUDA_MANAGED=1 too: managed memory could
  // oversubscribe the card, but Ember never asks for more than it has free).
  EXPECT_THROW(y.eval(), out_of_memory);
  array z = add(array({1.0f, 2.0f}), array({3.0f, 4.0f}), Device::gpu);
  expect_close(to_vector(z), {4.0f, 6.0f});
}

TEST(CudaBackend, MemoryLimitCapsEachDeviceOnItsOwn) {
  REQUIRE_GPU();
  clear_cache();
  // The default limit (90% of system memory) caps the host only.
  EXPECT_EQ(allocator::device_memory_limit(), 0u);
  array held = ones({1 << 24}, float32, Device::gpu);       // 64 MiB on the GPU
  array host_held = ones({1 << 24}, float32, Device::cpu);  // and 64 MiB on the host
  eval({held, host_held});
  const size_t gpu_before = gpu::active_memory(0);
  ASSERT_GE(gpu_before, size_t(64) << 20);
  const size_t host_before = get_active_memory() - gpu_before;
  // A limit of 32 MiB over the larger of the two: 16 MiB more on the host fits, as the host's
  // limit does not count the GPU's buffers (both hold at least 64 MiB); 64 MiB more on the GPU
  // does not.
  const size_t limit = std::max(host_before, gpu_before) + (size_t(32) << 20);
  const size_t old = set_memory_limit(limit);
  EXPECT_EQ(allocator::device_memory_limit(), limit);
  try {
    array host = zeros({1 << 22}, float32, Device::cpu);
    EXPECT_NO_THROW(host.eval());
    array more = add(held, held, Device::gpu);
    EXPECT_THROW(more.eval(), out_of_memory);
    try {
      array again = multiply(held, held, Device::gpu);
      again.eval();
      ADD_FAILURE() << "expected out_of_memory over the GPU's limit";
    } catch (const out_of_memory& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find("67108864 bytes on GPU 0"), std::string::npos) << msg;
      EXPECT_NE(msg.find("limit " + std::to_string(limit)), std::string::npos) << msg;
    }
    // Under the limit the GPU still works.
    array small = add(array({1.0f, 2.0f}), array({3.0f, 4.0f}), Device::gpu);
    expect_close(to_vector(small), {4.0f, 6.0f});
  } catch (...) {
    set_memory_limit(old);
    throw;
  }
  set_memory_limit(old);
  EXPECT_EQ(allocator::device_memory_limit(), 0u);
  array after = add(held, held, Device::gpu);  // no cap again
  EXPECT_NO_THROW(after.eval());
}

TEST(CudaBackend, ReshapesAndViewsThatNeedACopyMakeItOnTheDevice) {
  REQUIRE_GPU();
  auto v = random_floats(2 * 3 * 4 * 5, 7);
  array x = multiply(array(v.data(), {2, 3, 4, 5}), array(2.0f), Device::gpu);  // device-resident
  x.eval();
  // Each needs its input made row-contiguous first: a transposed attention output merged into
  // rows, a strided slice flattened, a reinterpretation and an as_strided of a transpose.
  auto build = [&](const array& in, Device d) {
    array t = transpose(in, {0, 2, 1, 3}, d);
    return std::vector<array>{reshape(t, {2, 4, 15}, d),
                              reshape(slice(in, {0, 0, 0, 1}, {2, 3, 4, 5}, {1, 1, 1, 2}, d), {6, 8}, d),
                              view(t, int32, d), as_strided(t, {4, 30}, {30, 1}, 0, d)};
  };
  std::vector<array> gpu = build(x, Device::gpu);
  eval(gpu);
  ASSERT_FALSE(x.data_shared_ptr()->host_valid.load()) << "the input was brought to the host";
  for (auto& g : gpu) {
    EXPECT_NE(g.data_shared_ptr()->device_ptr, nullptr) << "the result is not on the device";
    EXPECT_FALSE(g.data_shared_ptr()->host_valid.load()) << "the result was made on the host";
  }
  // The same ops on the CPU, from a host copy of x, give the same elements.
  array xc = copy(x, Device::cpu);
  std::vector<array> cpu = build(xc, Device::cpu);
  auto floats = [](const array& a) { return a.dtype() == int32 ? view(a, float32, Device::cpu) : a; };
  for (size_t i = 0; i < gpu.size(); ++i) {
    ASSERT_EQ(gpu[i].shape(), cpu[i].shape()) << "result " << i;
    expect_close(to_vector(floats(gpu[i])), to_vector(floats(cpu[i])), 0.0f);
  }
}

TEST(CudaBackend, HostReadsOfDeviceResultsNeedAHostCopyOnlyWithoutManagedMemory) {
  REQUIRE_GPU();
  const char* m = std::getenv("EMBER_CUDA_MANAGED");
  bool managed = m && *m && std::string(m) != "0";
  auto v = random_floats(1 << 18, 6);  // 1 MiB: a pinned host copy without managed memory
  array x(v.data(), {1 << 18});
  array y = multiply(x, array(2.0f), Device::gpu);
  y.eval();
  size_t before = get_active_memory();
  const float* p = y.data<float>();
  size_t after = get_active_memory();
  if (managed) {
    EXPECT_EQ(after, before) << "a managed buffer is read in place";
  } else {
    EXPECT_GE(after, before + y.nbytes()) << "a host copy was made";
  }
  for (size_t i = 0; i < v.size(); ++i) ASSERT_EQ(p[i], 2.0f * v[i]) << "at " << i;
  // The host copy stays current through further GPU reads, and CPU ops see it.
  array z = add(y, y, Device::cpu);
  array w = add(y, y, Device::gpu);
  std::vector<float> want(v.size());
  for (size_t i = 0; i < v.size(); ++i) want[i] = 4.0f * v[i];
  expect_close(to_vector(z), want, 0.0f);
  expect_close(to_vector(w), want, 0.0f);
}

TEST(CudaBackend, DeviceBuffersAreReusedInStreamOrder) {
  REQUIRE_GPU();
  // Freed buffers come back (from the pool, or the managed cache) to later ops on any stream;
  // every result must still be the one its own inputs give.
  Stream s2 = new_stream(Device::gpu);
  for (int round = 0; round < 6; ++round) {
    auto v = random_floats(4096, 100 + round);
    array x(v.data(), {64, 64});
    array a = exp(x, round % 2 ? s2 : default_stream(Device::gpu));
    array b = negative(a, round % 2 ? default_stream(Device::gpu) : s2);
    std::vector<float> want(v.size());
    for (size_t i = 0; i < v.size(); ++i) want[i] = -std::exp(v[i]);
    expect_close(to_vector(b), want, 1e-6f);
  }
  synchronize(s2);
}

TEST(CudaBackend, ABufferReadOnTwoStreamsOutlivesBothReads) {
  REQUIRE_GPU();
  // x is read on s2 behind a long queue, then on the default stream, and dropped: its block
  // must not come back to the default stream (and be overwritten there) before s2 has read it.
  // (On the emulator, where the work queued ahead takes milliseconds, s2 reads long after.)
  const Stream s1 = default_stream(Device::gpu);
  const Stream s2 = new_stream(Device::gpu);
  constexpr int kN = 1 << 14;
  array busy = ones({1 << 22}, float32, s2);
  array fill = zeros({kN}, float32, s1);
  eval({busy, fill});
  for (int round = 0; round < 4; ++round) {
    auto v = random_floats(kN, 300 + round);
    array x = exp(array(v.data(), {kN}), s1);
    x.eval();
    // Work queued ahead of the read (milliseconds when emulated), finite: 0 * slow is 0.
    array slow = sum(sin(busy, s2), false, s2);
    for (int i = 0; i < 4; ++i) slow = sum(sin(add(busy, slow, s2), s2), false, s2);
    array y = multiply(add(x, multiply(slow, array(0.0f), s2), s2), array(2.0f), s2);  // reads x after slow
    async_eval({y});
    // A GPU task marks its outputs available once its kernels are queued (not run): then s2
    // has taken x, and the default stream below is the last to use it.
    while (!y.is_available()) std::this_thread::yield();
    array z = add(x, array(1.0f), s1);
    z.eval();
    x = array(0.0f);
    z = array(0.0f);
    std::vector<array> writes;  // fresh blocks of x's size on the default stream, written at once
    for (int k = 0; k < 4; ++k) writes.push_back(add(fill, array(7.0f + k), s1));
    eval(writes);
    std::vector<float> want(kN);
    for (int i = 0; i < kN; ++i) want[i] = 2.0f * std::exp(v[i]);
    expect_close(to_vector(y), want, 1e-6f);
  }
  synchronize(s2);
}

TEST(CudaBackend, ManyHostInputsInOneTaskEachArriveIntact) {
  REQUIRE_GPU();
  // Each host input goes to the device through a staging block of the same size; a block
  // reused before the GPU has copied out of it would mix up the inputs.
  constexpr int kInputs = 80;
  constexpr size_t kSize = 3000;
  std::vector<double> want(kSize, 0.0);
  array acc = zeros({static_cast<int>(kSize)}, float32, Device::gpu);
  for (int k = 0; k < kInputs; ++k) {
    auto v = random_floats(kSize, 1000 + k);
    for (size_t i = 0; i < kSize; ++i) want[i] += (k + 1) * static_cast<double>(v[i]);
    array x(v.data(), {static_cast<int>(kSize)});
    acc = add(acc, multiply(x, array(static_cast<float>(k + 1)), Device::gpu), Device::gpu);
  }
  std::vector<float> wantf(want.begin(), want.end());
  expect_close(to_vector(acc), wantf, 1e-4f);
}

TEST(CudaBackend, DeviceMemoryIsFreedWithTheArrays) {
  REQUIRE_GPU();
  size_t before = gpu::active_memory();
  {
    array x = exp(ones({1024, 1024}, float32, Device::gpu), Device::gpu);
    x.eval();
    EXPECT_GE(gpu::active_memory(), before + 4u * 1024 * 1024);
  }
  synchronize(default_stream(Device::gpu));
  EXPECT_LE(gpu::active_memory(), before + 4u * 1024 * 1024);
}

TEST(CudaBackend, DecodeAttentionRunsItsKernelOnTheDevice) {
  // A few query rows (decoding) keep the fused primitive, whose GPU kernel writes the result on
  // the device and agrees with the CPU kernel: over a sliced cache (a strided view), with a
  // boolean and an additive mask, causal, and over runs of keys (a long cache). A long query
  // builds the fallback on the GPU instead.
  REQUIRE_GPU();
  const Device gpu = Device::gpu, cpu = Device::cpu;
  uint64_t seed = 900;
  auto rnd = [&](const Shape& s, Dtype t) {
    return astype(random::normal(s, float32, 0.0, 1.0, random::key(seed++)), t);
  };
  for (Dtype t : {float32, float16, bfloat16}) {
    for (int Tk : {37, 2000}) {
      array kc = rnd(Shape{2, 2, Tk + 16, 64}, t);
      array vc = rnd(Shape{2, 2, Tk + 16, 48}, t);
      array k = slice(kc, {0, 0, 0, 0}, {2, 2, Tk, 64});
      array v = slice(vc, {0, 0, 0, 0}, {2, 2, Tk, 48});
      for (int Tq : {1, 5}) {
        array q = rnd(Shape{2, 6, Tq, 64}, t);
        array keep = greater(random::uniform({Tq, Tk}, float32, random::key(seed++)), array(0.2f));
        array bias = rnd(Shape{1, 6, Tq, Tk}, float32);
        for (int kind = 0; kind < 3; ++kind) {
          auto attend = [&](Device d) {
            const std::string mode = kind == 0 ? "causal" : "";
            std::optional<array> mask;
            if (kind == 1) mask = keep;
            if (kind == 2) mask = bias;
            return fast::scaled_dot_product_attention(q, k, v, 0.125f, mode, mask, d);
          };
          array y = attend(gpu);
          ASSERT_TRUE(y.has_primitive());
          EXPECT_STREQ(y.primitive().name(), "ScaledDotProductAttention");
          y.eval();
          const auto& data = y.data_shared_ptr();
          EXPECT_TRUE(data->device_valid && !data->host_valid.load()) << "the kernel declined";
          const double tol = t == float32 ? 1e-5 : t == float16 ? 4e-3 : 3e-2;
          array want = astype(attend(cpu), float32, cpu), got = astype(y, float32, cpu);
          EXPECT_TRUE(allclose(got, want, tol, tol).item<bool>())
              << dtype_name(t) << " Tk " << Tk << " Tq " << Tq << " mask kind " << kind << ": max difference "
              << max(abs(subtract(got, want, cpu), cpu), false, cpu).item<float>();
        }
      }
    }
  }
  array q = rnd(Shape{1, 2, 9, 64}, float32);
  array k = rnd(Shape{1, 2, 9, 64}, float32);
  array y = fast::scaled_dot_product_attention(q, k, k, 0.125f, "causal", std::nullopt, gpu);
  EXPECT_STRNE(y.primitive().name(), "ScaledDotProductAttention");
}
