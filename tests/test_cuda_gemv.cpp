// The matrix-vector kernels of backend/cuda/matmul_gemv.cu called directly: the columns kernel
// over several K-splits, including one split (no cross-block sum) and splits shorter than a
// block's rows of threads, and the rows
// kernel, in float32, float16 and bfloat16, against a float64 product of the same rounded
// inputs. Each launch runs twice over a poisoned output: the second run finds the tile counters
// the first left armed. On a GPU, and on the CPU emulator in the emulated build.
#ifdef EMBER_HAS_CUDA

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "ember/backend/cuda/matmul_gemv.h"
#include "ember/ember.h"
#include "test_utils.h"

namespace {

using namespace ember;
using gpu::GemvType;

const Device kCpu{Device::cpu, 0};

#define CUDA_TRY(call) ASSERT_EQ((call), cudaSuccess) << #call

// A random normal array of `shape` rounded to `t`, with its host bytes and float64 values.
struct Input {
  std::vector<char> bytes;
  std::vector<double> values;
};
Input random_input(const Shape& shape, Dtype t, uint64_t seed) {
  array a = astype(random::normal(shape, float32, 0.0, 1.0, random::key(seed), kCpu), t, kCpu);
  a.eval();
  Input in;
  const char* p = static_cast<const char*>(a.raw_ptr());
  in.bytes.assign(p, p + a.nbytes());
  in.values = test_utils::doubles(a);
  return in;
}

std::vector<double> to_doubles(const std::vector<char>& bytes, Dtype t, int64_t n) {
  const Shape shape = {static_cast<int32_t>(n)};
  if (t == float16) return test_utils::doubles(array(reinterpret_cast<const float16_t*>(bytes.data()), shape, t));
  if (t == bfloat16) return test_utils::doubles(array(reinterpret_cast<const bfloat16_t*>(bytes.data()), shape, t));
  return test_utils::doubles(array(reinterpret_cast<const float*>(bytes.data()), shape, t));
}

double tolerance(Dtype t) { return t == float32 ? 1e-5 : t == float16 ? 2e-3 : 1e-2; }

struct Case {
  GemvType gt;
  Dtype t;
};
const std::vector<Case> kCases = {{GemvType::f32, float32}, {GemvType::f16, float16}, {GemvType::bf16, bfloat16}};

// Device buffers on one stream for the whole test.
class Buffers {
 public:
  explicit Buffers(cudaStream_t s) : s_(s) {}
  ~Buffers() {
    for (void* p : ptrs_) cudaFreeAsync(p, s_);
    cudaStreamSynchronize(s_);
  }
  void* alloc(size_t bytes) {
    void* p = nullptr;
    if (cudaMallocAsync(&p, bytes, s_) != cudaSuccess) return nullptr;
    ptrs_.push_back(p);
    return p;
  }

 private:
  cudaStream_t s_;
  std::vector<void*> ptrs_;
};

// Compares y (n outputs, dtype t) with ref, each a sum of `terms` products of unit normals.
void expect_close(const std::vector<double>& y, const std::vector<double>& ref, Dtype t, int64_t terms,
                  const std::string& what) {
  ASSERT_EQ(y.size(), ref.size());
  const double scale = std::sqrt(static_cast<double>(terms));
  size_t bad = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    double err = std::abs(y[i] - ref[i]) / (std::abs(ref[i]) + scale);
    if (!(err <= tolerance(t))) {
      if (bad++ < 3) ADD_FAILURE() << what << ": y[" << i << "] = " << y[i] << ", expected " << ref[i];
    }
  }
  EXPECT_EQ(bad, 0u) << what;
}

}  // namespace

TEST(CudaGemv, ColumnsKernelEverySplit) {
  if (!is_available(Device{Device::gpu, 0})) GTEST_SKIP() << "no CUDA GPU available";
  cudaStream_t s;
  CUDA_TRY(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  const int64_t K = 300, N = 520;  // N a multiple of 8: every 16-byte load fits
  for (const Case& c : kCases) {
    Input x = random_input({static_cast<int32_t>(K)}, c.t, 1);
    Input b = random_input({static_cast<int32_t>(K), static_cast<int32_t>(N)}, c.t, 2);
    std::vector<double> ref(N, 0.0);
    for (int64_t k = 0; k < K; ++k) {
      for (int64_t n = 0; n < N; ++n) ref[n] += x.values[k] * b.values[k * N + n];
    }
    const size_t isz = c.t.size();
    Buffers buf(s);
    void* db = buf.alloc(b.bytes.size());
    void* dx = buf.alloc(x.bytes.size());
    void* dy = buf.alloc(N * isz);
    auto* partial = static_cast<float*>(buf.alloc(64 * N * sizeof(float)));
    auto* counters = static_cast<unsigned*>(buf.alloc(N * sizeof(unsigned)));
    ASSERT_TRUE(db && dx && dy && partial && counters);
    CUDA_TRY(cudaMemcpyAsync(db, b.bytes.data(), b.bytes.size(), cudaMemcpyHostToDevice, s));
    CUDA_TRY(cudaMemcpyAsync(dx, x.bytes.data(), x.bytes.size(), cudaMemcpyHostToDevice, s));
    CUDA_TRY(cudaMemsetAsync(counters, 0, N * sizeof(unsigned), s));
    for (int splits : {1, 3, 16, 64}) {
      for (int run = 0; run < 2; ++run) {
        std::string what =
            dtype_name(c.t) + " columns kernel, " + std::to_string(splits) + " splits, run " + std::to_string(run + 1);
        CUDA_TRY(cudaMemsetAsync(dy, 0xff, N * isz, s));  // NaN in every float dtype
        gpu::gemv_cols(c.gt, db, dx, dy, N, K, N, partial, counters, splits, s);
        CUDA_TRY(cudaGetLastError());
        std::vector<char> out(N * isz);
        CUDA_TRY(cudaMemcpyAsync(out.data(), dy, out.size(), cudaMemcpyDeviceToHost, s));
        CUDA_TRY(cudaStreamSynchronize(s));
        expect_close(to_doubles(out, c.t, N), ref, c.t, K, what);
      }
    }
    // Every counter is back at zero for the next launch.
    std::vector<unsigned> left(N);
    CUDA_TRY(cudaMemcpyAsync(left.data(), counters, N * sizeof(unsigned), cudaMemcpyDeviceToHost, s));
    CUDA_TRY(cudaStreamSynchronize(s));
    for (int64_t i = 0; i < N; ++i) ASSERT_EQ(left[i], 0u) << "counter " << i;
  }
}

TEST(CudaGemv, RowsKernel) {
  if (!is_available(Device{Device::gpu, 0})) GTEST_SKIP() << "no CUDA GPU available";
  cudaStream_t s;
  CUDA_TRY(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  const int64_t rows = 37, K = 264, ld = 272;  // a padded row stride, still 16-byte aligned
  for (const Case& c : kCases) {
    Input x = random_input({static_cast<int32_t>(K)}, c.t, 3);
    Input w = random_input({static_cast<int32_t>(rows), static_cast<int32_t>(ld)}, c.t, 4);
    std::vector<double> ref(rows, 0.0);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t k = 0; k < K; ++k) ref[r] += w.values[r * ld + k] * x.values[k];
    }
    const size_t isz = c.t.size();
    Buffers buf(s);
    void* dw = buf.alloc(w.bytes.size());
    void* dx = buf.alloc(x.bytes.size());
    void* dy = buf.alloc(rows * isz);
    ASSERT_TRUE(dw && dx && dy);
    CUDA_TRY(cudaMemcpyAsync(dw, w.bytes.data(), w.bytes.size(), cudaMemcpyHostToDevice, s));
    CUDA_TRY(cudaMemcpyAsync(dx, x.bytes.data(), x.bytes.size(), cudaMemcpyHostToDevice, s));
    CUDA_TRY(cudaMemsetAsync(dy, 0xff, rows * isz, s));
    gpu::gemv_rows(c.gt, dw, dx, dy, rows, K, ld, s);
    CUDA_TRY(cudaGetLastError());
    std::vector<char> out(rows * isz);
    CUDA_TRY(cudaMemcpyAsync(out.data(), dy, out.size(), cudaMemcpyDeviceToHost, s));
    CUDA_TRY(cudaStreamSynchronize(s));
    expect_close(to_doubles(out, c.t, rows), ref, c.t, K, dtype_name(c.t) + " rows kernel");
  }
}

#endif  // EMBER_HAS_CUDA
