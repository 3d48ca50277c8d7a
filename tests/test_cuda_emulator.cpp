// The CPU emulation of the CUDA execution model (ember/backend/cuda/emu/emu.h):
// known-tricky kernels give the right answer on random data, and kernels with
// a planted bug (a missing barrier, a barrier some threads skip, lanes that
// never meet) are exposed. Runs everywhere, GPU or not.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "ember/backend/cuda/emu/emu.h"

namespace {

// ---------------------------------------------------------------- kernels, in plain CUDA C++

// out[block] = sum of the block's slice of x: shared-memory tree reduction.
__global__ void block_sum(const float* x, float* out, int n) {
  __shared__ float partial[256];
  int tid = threadIdx.x;
  int i = blockIdx.x * blockDim.x + tid;
  partial[tid] = i < n ? x[i] : 0.0f;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (tid < s) partial[tid] += partial[tid + s];
    __syncthreads();
  }
  if (tid == 0) out[blockIdx.x] = partial[0];
}

// The same with the barrier inside the loop left out: threads read partial sums other
// threads have not written yet.
__global__ void block_sum_missing_barrier(const float* x, float* out, int n) {
  __shared__ float partial[256];
  int tid = threadIdx.x;
  int i = blockIdx.x * blockDim.x + tid;
  partial[tid] = i < n ? x[i] : 0.0f;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (tid < s) partial[tid] += partial[tid + s];
  }
  __syncthreads();
  if (tid == 0) out[blockIdx.x] = partial[0];
}

// Warp reduction with shuffles, then one atomicAdd per warp.
__global__ void warp_sum(const float* x, float* out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  float v = i < n ? x[i] : 0.0f;
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
  if (threadIdx.x % warpSize == 0) atomicAdd(out, v);
}

// Butterfly (xor) reduction: every lane ends with the warp's max.
__global__ void warp_max_all_lanes(const int* x, int* out) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  int v = x[i];
  for (int m = 16; m > 0; m /= 2) v = max(v, __shfl_xor_sync(0xffffffffu, v, m));
  out[i] = v;
}

// Inclusive prefix sum within each warp (Kogge-Stone with shfl_up).
__global__ void warp_scan(const int* x, int* out) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  int lane = threadIdx.x % 32;
  int v = x[i];
  for (int d = 1; d < 32; d *= 2) {
    int up = __shfl_up_sync(0xffffffffu, v, d);
    if (lane >= d) v += up;
  }
  out[i] = v;
}

// Count of positive elements per warp by ballot.
__global__ void ballot_count(const float* x, int* out) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  unsigned bits = __ballot_sync(0xffffffffu, x[i] > 0.0f);
  if (threadIdx.x % 32 == 0) out[i / 32] = __popc(bits);
}

// 32x32 tile transpose through padded shared memory, blocks of (32, 8).
__global__ void transpose_tiled(const float* in, float* out, int rows, int cols) {
  __shared__ float tile[32][33];
  int x = blockIdx.x * 32 + threadIdx.x;
  int y = blockIdx.y * 32 + threadIdx.y;
  for (int j = 0; j < 32; j += 8) {
    if (x < cols && y + j < rows) tile[threadIdx.y + j][threadIdx.x] = in[(y + j) * cols + x];
  }
  __syncthreads();
  x = blockIdx.y * 32 + threadIdx.x;
  y = blockIdx.x * 32 + threadIdx.y;
  for (int j = 0; j < 32; j += 8) {
    if (x < rows && y + j < cols) out[(y + j) * rows + x] = tile[threadIdx.x][threadIdx.y + j];
  }
}

// Histogram with shared-memory atomics and dynamic shared memory.
__global__ void histogram(const int* x, int n, int bins, int* out) {
  EMBER_DYNAMIC_SHARED(int, counts);
  for (int b = threadIdx.x; b < bins; b += blockDim.x) counts[b] = 0;
  __syncthreads();
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) atomicAdd(&counts[x[i]], 1);
  __syncthreads();
  for (int b = threadIdx.x; b < bins; b += blockDim.x) atomicAdd(&out[b], counts[b]);
}

// Threads past the end return before a barrier the others wait at.
__global__ void early_exit_before_barrier(float* x, int n) {
  __shared__ float s[64];
  int i = threadIdx.x;
  if (i >= n) return;
  s[i] = x[i];
  __syncthreads();
  x[i] = s[n - 1 - i];
}

// Half the warp shuffles while the other half waits at the block barrier.
__global__ void split_warp_deadlock(float* x) {
  float v = x[threadIdx.x];
  if (threadIdx.x % 32 < 16) {
    v = __shfl_down_sync(0xffffffffu, v, 1);
  } else {
    __syncthreads();
  }
  x[threadIdx.x] = v;
}

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& f : v) f = d(g);
  return v;
}

std::vector<int> random_ints(size_t n, int lo, int hi, uint32_t seed) {
  std::mt19937 g(seed);
  std::uniform_int_distribution<int> d(lo, hi);
  std::vector<int> v(n);
  for (auto& f : v) f = d(g);
  return v;
}

using ember::emu::launch;

}  // namespace

TEST(CudaEmulator, BlockReductionInSharedMemory) {
  const int n = 1000, threads = 256, blocks = (n + threads - 1) / threads;
  auto x = random_floats(n, 1);
  for (uint64_t seed : {0u, 1u, 2u}) {
    std::vector<float> out(blocks, -99.0f);
    launch(dim3(blocks), dim3(threads), 0, seed, block_sum, x.data(), out.data(), n);
    for (int b = 0; b < blocks; ++b) {
      double want = 0;
      for (int i = b * threads; i < std::min(n, (b + 1) * threads); ++i) want += x[i];
      EXPECT_NEAR(out[b], want, 1e-4) << "block " << b << " seed " << seed;
    }
  }
}

TEST(CudaEmulator, MissingBarrierIsExposedByShuffledScheduling) {
  const int n = 256, threads = 256;
  auto x = random_floats(n, 2);
  double want = 0;
  for (float v : x) want += v;
  std::vector<float> out(1);
  int wrong = 0;
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    launch(dim3(1), dim3(threads), 0, seed, block_sum_missing_barrier, x.data(), out.data(), n);
    wrong += std::fabs(out[0] - want) > 1e-3;
    // The correct kernel is right under the same schedules.
    std::vector<float> good(1);
    launch(dim3(1), dim3(threads), 0, seed, block_sum, x.data(), good.data(), n);
    EXPECT_NEAR(good[0], want, 1e-4);
  }
  EXPECT_GT(wrong, 0) << "the planted race gave the right sum under every schedule";
}

TEST(CudaEmulator, WarpShuffleReduction) {
  const int n = 777, threads = 128, blocks = (n + threads - 1) / threads;
  auto x = random_floats(n, 3);
  float out = 0.0f;
  launch(dim3(blocks), dim3(threads), 0, 7, warp_sum, x.data(), &out, n);
  double want = 0;
  for (float v : x) want += v;
  EXPECT_NEAR(out, want, 1e-3);
}

TEST(CudaEmulator, XorShuffleScanAndBallot) {
  const int n = 256;
  auto xi = random_ints(n, -1000, 1000, 4);
  std::vector<int> maxes(n), scans(n);
  launch(dim3(2), dim3(128), 0, 3, warp_max_all_lanes, xi.data(), maxes.data());
  launch(dim3(2), dim3(128), 0, 5, warp_scan, xi.data(), scans.data());
  for (int w = 0; w < n / 32; ++w) {
    int m = xi[w * 32], acc = 0;
    for (int l = 0; l < 32; ++l) m = std::max(m, xi[w * 32 + l]);
    for (int l = 0; l < 32; ++l) {
      acc += xi[w * 32 + l];
      EXPECT_EQ(maxes[w * 32 + l], m);
      EXPECT_EQ(scans[w * 32 + l], acc);
    }
  }
  auto xf = random_floats(n, 5);
  std::vector<int> counts(n / 32, -1);
  launch(dim3(4), dim3(64), 0, 9, ballot_count, xf.data(), counts.data());
  for (int w = 0; w < n / 32; ++w) {
    int want = 0;
    for (int l = 0; l < 32; ++l) want += xf[w * 32 + l] > 0.0f;
    EXPECT_EQ(counts[w], want);
  }
}

TEST(CudaEmulator, SharedMemoryTranspose) {
  const int rows = 70, cols = 45;
  auto in = random_floats(rows * cols, 6);
  std::vector<float> out(rows * cols, -99.0f);
  launch(dim3((cols + 31) / 32, (rows + 31) / 32), dim3(32, 8), 0, 11, transpose_tiled, in.data(), out.data(), rows,
         cols);
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) ASSERT_EQ(out[c * rows + r], in[r * cols + c]) << r << "," << c;
  }
}

TEST(CudaEmulator, AtomicsAndDynamicSharedMemory) {
  const int n = 5000, bins = 37;
  auto x = random_ints(n, 0, bins - 1, 7);
  std::vector<int> out(bins, 0);
  launch(dim3(3), dim3(96), bins * sizeof(int), 13, histogram, x.data(), n, bins, out.data());
  std::vector<int> want(bins, 0);
  for (int v : x) ++want[v];
  EXPECT_EQ(out, want);
}

TEST(CudaEmulator, BarrierDivergenceAndDeadlockAreReported) {
  std::vector<float> x = random_floats(64, 8);
  // All threads in range: fine.
  EXPECT_NO_THROW(launch(dim3(1), dim3(64), 0, 1, early_exit_before_barrier, x.data(), 64));
  // Some threads leave before the barrier the rest wait at.
  try {
    launch(dim3(1), dim3(64), 0, 1, early_exit_before_barrier, x.data(), 40);
    FAIL() << "expected barrier divergence";
  } catch (const ember::emu::emulation_error& e) {
    EXPECT_NE(std::string(e.what()).find("barrier divergence"), std::string::npos) << e.what();
  }
  try {
    launch(dim3(1), dim3(64), 0, 1, split_warp_deadlock, x.data());
    FAIL() << "expected a deadlock";
  } catch (const ember::emu::emulation_error& e) {
    EXPECT_NE(std::string(e.what()).find("deadlock"), std::string::npos) << e.what();
  }
  EXPECT_THROW(launch(dim3(1), dim3(2048), 0, 0, block_sum, x.data(), x.data(), 1), ember::emu::emulation_error);
}
