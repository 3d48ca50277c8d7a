// The CUDA backend's plumbing: residency (host <-> device copies in the right
// order), CPU fallback for ops without kernels, errors and out-of-memory as
// exceptions, streams. Runs only where a GPU is present (gpu-check).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "ember/backend/gpu.h"
#include "ember/ember.h"

using namespace ember;

namespace {

#define REQUIRE_GPU()                                                   \
  if (!gpu::is_available()) GTEST_SKIP() << gpu::unavailable_reason(); \
  else (void)0

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
  array c = subtract(b, x, Device::gpu);             // b goes to the device again
  array d = sort(c, -1, Device::gpu);                // may run on the CPU kernel (fallback)
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
  EXPECT_THROW(y.eval(), std::exception);
  array z = add(array({1.0f, 2.0f}), array({3.0f, 4.0f}), Device::gpu);
  expect_close(to_vector(z), {4.0f, 6.0f});
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
