// CUDA benchmark: Ember's GPU ops against peers run in the same process on the
// same device. Ember ops are timed end to end through eval() (which waits for
// the GPU); peers (a device-to-device cudaMemcpyAsync, cuBLASLt called directly
// with its best heuristic algorithm) with CUDA events. Medians of repeats after
// warm-ups, on random non-zero inputs. Prints one table of ratios at the end
// (after "== summary"); never fails on performance. About 30-60 s on an H100.
//
//   bench_cuda [--quick] [--only SECTIONS]
//     --quick: smaller sizes, fewer repeats (a smoke run)
//     --only:  a comma-separated subset of bandwidth, matmul, residency, sort, launch, quantized,
//              attention, gemv
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include <ember/ember.h>

#include "ember/backend/cuda/matmul_gemv.h"
#include "ember/backend/cuda/quantized.h"

using namespace ember;
using Clock = std::chrono::steady_clock;

namespace {

#define CUDA_OK(call)                                                                                                 \
  do {                                                                                                                \
    cudaError_t e_ = (call);                                                                                          \
    if (e_ != cudaSuccess) {                                                                                          \
      std::fprintf(stderr, "bench_cuda: %s failed: %s (%s:%d)\n", #call, cudaGetErrorString(e_), __FILE__, __LINE__); \
      std::exit(2);                                                                                                   \
    }                                                                                                                 \
  } while (0)
#define LT_OK(call)                                                                                             \
  do {                                                                                                          \
    cublasStatus_t s_ = (call);                                                                                 \
    if (s_ != CUBLAS_STATUS_SUCCESS) {                                                                          \
      std::fprintf(stderr, "bench_cuda: %s failed: status %d (%s:%d)\n", #call, static_cast<int>(s_), __FILE__, \
                   __LINE__);                                                                                   \
      std::exit(2);                                                                                             \
    }                                                                                                           \
  } while (0)

const Device kGpu{Device::gpu, 0};
bool g_quick = false;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

// Median seconds of `reps` end-to-end runs of an Ember computation (eval waits for the GPU).
double time_ember(const std::function<array()>& f, int warmup, int reps) {
  for (int i = 0; i < warmup; ++i) f().eval();
  std::vector<double> ts;
  for (int i = 0; i < reps; ++i) {
    auto t0 = Clock::now();
    array r = f();
    r.eval();
    ts.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return median(ts);
}

// Like time_ember, for `count` independent results evaluated together (one wait for all):
// seconds per result, with the per-eval overhead amortized.
double time_ember_many(const std::function<array()>& f, int count, int warmup, int reps) {
  auto run = [&] {
    std::vector<array> outs;
    for (int i = 0; i < count; ++i) outs.push_back(f());
    eval(outs);
  };
  for (int i = 0; i < warmup; ++i) run();
  std::vector<double> ts;
  for (int i = 0; i < reps; ++i) {
    auto t0 = Clock::now();
    run();
    ts.push_back(std::chrono::duration<double>(Clock::now() - t0).count() / count);
  }
  return median(ts);
}

// Median seconds of `reps` runs of GPU work queued by `f` on `stream`, timed with events;
// each run queues `per` calls back to back and counts their mean (as time_ember_many does).
double time_events(const std::function<void(cudaStream_t)>& f, cudaStream_t stream, int warmup, int reps, int per = 1) {
  for (int i = 0; i < warmup; ++i) f(stream);
  CUDA_OK(cudaStreamSynchronize(stream));
  cudaEvent_t e0, e1;
  CUDA_OK(cudaEventCreate(&e0));
  CUDA_OK(cudaEventCreate(&e1));
  std::vector<double> ts;
  for (int i = 0; i < reps; ++i) {
    CUDA_OK(cudaEventRecord(e0, stream));
    for (int j = 0; j < per; ++j) f(stream);
    CUDA_OK(cudaEventRecord(e1, stream));
    CUDA_OK(cudaEventSynchronize(e1));
    float ms = 0;
    CUDA_OK(cudaEventElapsedTime(&ms, e0, e1));
    ts.push_back(ms * 1e-3 / per);
  }
  CUDA_OK(cudaEventDestroy(e0));
  CUDA_OK(cudaEventDestroy(e1));
  return median(ts);
}

struct Row {
  std::string name;
  std::string ember;  // measured value with unit
  std::string peer;
  double ratio;   // ember / peer, higher is better
  double target;  // the ratio we aim for
};
std::vector<Row> g_rows;

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}

void add_row(Row r) {
  std::printf("  %-34s ember %-14s peer %-14s ratio %.3f (target %.2f)\n", r.name.c_str(), r.ember.c_str(),
              r.peer.c_str(), r.ratio, r.target);
  std::fflush(stdout);
  g_rows.push_back(std::move(r));
}

// Random non-zero values in [1, 2), made on the GPU stream and evaluated.
array rand_gpu(const Shape& shape, Dtype t, uint64_t seed) {
  array x = astype(random::uniform(array(1.0f), array(2.0f), shape, float32, random::key(seed), kGpu), t, kGpu);
  x.eval();
  return x;
}

// ---------------------------------------------------------------- bandwidth

// Device-to-device copy of `bytes`: the peer for memory-bound ops. Returns GB/s counting read + write.
double copy_bandwidth(size_t bytes, cudaStream_t stream) {
  void *src = nullptr, *dst = nullptr;
  CUDA_OK(cudaMalloc(&src, bytes));
  CUDA_OK(cudaMalloc(&dst, bytes));
  CUDA_OK(cudaMemset(src, 1, bytes));
  double t =
      time_events([&](cudaStream_t s) { CUDA_OK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s)); },
                  stream, 3, g_quick ? 5 : 15);
  CUDA_OK(cudaFree(src));
  CUDA_OK(cudaFree(dst));
  return 2.0 * bytes / t / 1e9;
}

void bench_bandwidth(cudaStream_t stream) {
  const int64_t n = g_quick ? (1 << 24) : (1 << 28);
  const size_t bytes = n * sizeof(float);
  std::printf("memory-bound ops on %lld float32 (%.2f GiB per array)\n", static_cast<long long>(n),
              bytes / double(1 << 30));
  double copy_bw = copy_bandwidth(bytes, stream);
  std::printf("  device-to-device copy: %.0f GB/s (read + write)\n", copy_bw);
  std::string peer = fmt("%.0f GB/s", copy_bw);
  int reps = g_quick ? 5 : 15;
  {
    array x = rand_gpu({static_cast<int32_t>(n)}, float32, 1);
    array y = rand_gpu({static_cast<int32_t>(n)}, float32, 2);
    double t = time_ember([&] { return add(x, y, kGpu); }, 3, reps);
    double bw = 3.0 * bytes / t / 1e9;  // two reads, one write
    add_row({"add f32 2^28", fmt("%.0f GB/s", bw), peer, bw / copy_bw, 0.85});
  }
  {
    array x = rand_gpu({static_cast<int32_t>(n)}, float32, 3);
    double t = time_ember([&] { return sum(x, false, kGpu); }, 3, reps);
    double bw = 1.0 * bytes / t / 1e9;
    add_row({"sum f32 2^28", fmt("%.0f GB/s", bw), peer, bw / copy_bw, 0.75});
    t = time_ember([&] { return argmax(x, false, kGpu); }, 3, reps);
    bw = 1.0 * bytes / t / 1e9;
    add_row({"argmax f32 2^28", fmt("%.0f GB/s", bw), peer, bw / copy_bw, 0.75});
  }
}

// ---------------------------------------------------------------- matmul

struct LtPeer {
  cublasLtHandle_t handle = nullptr;
  void* ws = nullptr;
  static constexpr size_t kWs = 32u << 20;
  LtPeer() {
    LT_OK(cublasLtCreate(&handle));
    CUDA_OK(cudaMalloc(&ws, kWs));
  }
  ~LtPeer() {
    cudaFree(ws);
    cublasLtDestroy(handle);
  }
};

// Row-major out (M, N) = a (M, K) @ b (K, N), all contiguous, through cuBLASLt as
// out^T = b^T a^T (column-major, no transposes): the best heuristic algorithm, timed with events.
// `bs` holds one or more copies of b, used in turn (several copies keep a small product's
// weights from staying in L2 between calls, as in a real decode step).
double time_cublaslt(LtPeer& lt, Dtype t, int64_t M, int64_t N, int64_t K, const void* a, const std::vector<void*>& bs,
                     void* out, cudaStream_t stream, int reps, int per, bool b_transposed = false) {
  cudaDataType_t dt = t == float16 ? CUDA_R_16F : t == bfloat16 ? CUDA_R_16BF : CUDA_R_32F;
  cublasLtMatmulDesc_t desc;
  LT_OK(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  cublasLtMatrixLayout_t la, lb, lc;
  if (b_transposed) {
    // b = w^T with w (N, K) row-major: w is K x N column-major (ld K), read with op T.
    cublasOperation_t op = CUBLAS_OP_T;
    LT_OK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &op, sizeof(op)));
    LT_OK(cublasLtMatrixLayoutCreate(&la, dt, K, N, K));
  } else {
    LT_OK(cublasLtMatrixLayoutCreate(&la, dt, N, K, N));  // b^T stored column-major: N x K, ld N
  }
  LT_OK(cublasLtMatrixLayoutCreate(&lb, dt, K, M, K));  // a^T: K x M, ld K
  LT_OK(cublasLtMatrixLayoutCreate(&lc, dt, N, M, N));  // out^T: N x M, ld N
  cublasLtMatmulPreference_t pref;
  LT_OK(cublasLtMatmulPreferenceCreate(&pref));
  uint64_t ws = LtPeer::kWs;
  LT_OK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
  cublasLtMatmulHeuristicResult_t res{};
  int count = 0;
  LT_OK(cublasLtMatmulAlgoGetHeuristic(lt.handle, desc, la, lb, lc, lc, pref, 1, &res, &count));
  if (count == 0) {
    std::fprintf(stderr, "bench_cuda: cuBLASLt has no algorithm for %lldx%lldx%lld\n", (long long)M, (long long)K,
                 (long long)N);
    std::exit(2);
  }
  float alpha = 1.0f, beta = 0.0f;
  size_t turn = 0;
  double sec = time_events(
      [&](cudaStream_t s) {
        const void* b = bs[turn++ % bs.size()];
        LT_OK(cublasLtMatmul(lt.handle, desc, &alpha, b, la, a, lb, &beta, out, lc, out, lc, &res.algo, lt.ws,
                             LtPeer::kWs, s));
      },
      stream, 3, reps, per);
  cublasLtMatmulPreferenceDestroy(pref);
  cublasLtMatrixLayoutDestroy(la);
  cublasLtMatrixLayoutDestroy(lb);
  cublasLtMatrixLayoutDestroy(lc);
  cublasLtMatmulDescDestroy(desc);
  return sec;
}

void bench_matmul(cudaStream_t stream) {
  struct Case {
    int M, K, N;
    const char* label;
    bool bt = false;  // b = transpose(w) with w (N, K) contiguous: x @ W.T, as a Linear layer computes
  };
  std::vector<Case> cases = {{4096, 4096, 4096, "4096^3"},
                             {1, 4096, 4096, "1x4096x4096"},
                             {1, 4096, 4096, "1x4096x4096 W.T", true},
                             {1, 2048, 2048, "1x2048x2048"},
                             {512, 4096, 11008, "512x4096x11008"}};
  if (g_quick) cases = {{1024, 1024, 1024, "1024^3"}, {1, 1024, 1024, "1x1024x1024"}};
  std::printf(
      "matmul (M x K x N): ember, several products per eval, vs cuBLASLt (best heuristic algo) as many\n"
      "calls back to back, timed with events; the one-product eval latency is printed too\n");
  LtPeer lt;
  for (Dtype t : {float16, bfloat16, float32}) {
    for (auto c : cases) {
      int reps = g_quick ? 5 : (int64_t(c.M) * c.N * c.K > (int64_t(1) << 32) ? 10 : 30);
      array a = rand_gpu({c.M, c.K}, t, 10);
      // Matrix-vector products read only the weights: rotate four copies (over the 50 MB L2).
      const int copies = c.M == 1 ? 4 : 1;
      std::vector<array> stored, bcopies;  // the weights as stored, and as the product's b
      for (int i = 0; i < copies; ++i) {
        stored.push_back(c.bt ? rand_gpu({c.N, c.K}, t, 11 + i) : rand_gpu({c.K, c.N}, t, 11 + i));
        bcopies.push_back(c.bt ? transpose(stored.back()) : stored.back());
      }
      array b = bcopies[0];
      // Products per measurement, ember and peer alike: one eval's launch-and-wait (tens of us)
      // would otherwise dominate the small products; it is printed separately.
      const int per = c.M == 1 ? 32 : 8;
      size_t turn = 0;
      auto rotating = [&] { return matmul(a, bcopies[turn++ % bcopies.size()], kGpu); };
      double t1 = time_ember([&] { return matmul(a, b, kGpu); }, 3, reps);
      // The peer reads the very same device buffers and writes its own output.
      array out = matmul(a, b, kGpu);
      out.eval();
      void* pa = nullptr;
      void* po = nullptr;
      size_t isz = t.size();
      CUDA_OK(cudaMalloc(&pa, size_t(c.M) * c.K * isz));
      CUDA_OK(cudaMalloc(&po, size_t(c.M) * c.N * isz));
      // Same values as Ember's inputs (copied from the host view of them).
      CUDA_OK(cudaMemcpy(pa, a.data<char>(), a.nbytes(), cudaMemcpyHostToDevice));
      std::vector<void*> pbs(copies, nullptr);
      for (int i = 0; i < copies; ++i) {
        CUDA_OK(cudaMalloc(&pbs[i], size_t(c.K) * c.N * isz));
        CUDA_OK(cudaMemcpy(pbs[i], stored[i].data<char>(), stored[i].nbytes(), cudaMemcpyHostToDevice));
      }
      // Ember and the peer alternate for a few rounds and each keeps its best median, so
      // neither pays alone for the GPU's clocks ramping up after the host-side setup.
      double te = 1e30, tp = 1e30;
      for (int round = 0; round < (g_quick ? 1 : 3); ++round) {
        te = std::min(te, time_ember_many(rotating, per, 2, reps));
        tp = std::min(tp, time_cublaslt(lt, t, c.M, c.N, c.K, pa, pbs, po, stream, reps, per, c.bt));
      }
      CUDA_OK(cudaFree(pa));
      for (void* p : pbs) CUDA_OK(cudaFree(p));
      CUDA_OK(cudaFree(po));
      double flops = 2.0 * c.M * c.N * c.K;
      bool tiny = flops < 1e9;  // latency-bound: microseconds read better than TFLOP/s
      std::string ev = tiny ? fmt("%.1f us", te * 1e6) : fmt("%.1f TFLOP/s", flops / te / 1e12);
      std::string pv = tiny ? fmt("%.1f us", tp * 1e6) : fmt("%.1f TFLOP/s", flops / tp / 1e12);
      add_row({"matmul " + dtype_name(t) + " " + c.label + " x" + std::to_string(per), ev, pv, tp / te, 0.9});
      std::printf("    one product per eval: %.1f us end to end (%.1f us per product at %d per eval)\n", t1 * 1e6,
                  te * 1e6, per);
      if (c.M == 1) {
        // The same products through cuBLASLt instead of the matrix-vector kernels (matmul_gemv.cu).
        setenv("EMBER_CUDA_GEMV", "0", 1);
        double tg = time_ember_many(rotating, per, 2, reps);
        unsetenv("EMBER_CUDA_GEMV");
        add_row({"  same, EMBER_CUDA_GEMV=0", fmt("%.1f us", tg * 1e6), pv, tp / tg, 0.0});
        if (!c.bt && gpu::gemv_columns_limit() < int64_t(c.K) * c.N * int64_t(isz)) {
          // Over the size limit of the columns kernel: the same products through it.
          const int64_t limit = gpu::gemv_columns_limit();
          gpu::set_gemv_columns_limit(INT64_MAX);
          double tk = time_ember_many(rotating, per, 2, reps);
          gpu::set_gemv_columns_limit(limit);
          add_row({"  same, columns kernel", fmt("%.1f us", tk * 1e6), pv, tp / tk, 0.0});
        }
        // Bandwidth view: the weights dominate the bytes.
        double bytes = (double(c.K) * c.N + c.K + c.N) * isz;
        std::printf("    weights+io %.1f MB: cuBLASLt %.0f GB/s, ember %.0f GB/s, ember through cuBLASLt %.0f GB/s\n",
                    bytes / 1e6, bytes / tp / 1e9, bytes / te / 1e9, bytes / tg / 1e9);
      }
    }
  }
}

// ---------------------------------------------------------------- quantized products

// quantized_matmul (backend/cuda/quantized.cu), 4 bits in groups of 64 with float16 scales, as a
// quantized Linear layer computes x @ W.T. Decode rows (M = 1) read the packed weights once:
// their bandwidth against the device-to-device copy's. Prefill (M = 512) dequantizes W and runs
// cuBLASLt in float32: its time against Ember's float32 product with W already in float32.
void bench_quantized(cudaStream_t stream) {
  struct Case {
    int M, K, N;
    const char* label;
  };
  std::vector<Case> cases = {{1, 4096, 4096, "1x4096x4096"},
                             {1, 4096, 11008, "1x4096x11008"},
                             {1, 11008, 4096, "1x11008x4096"},
                             {512, 4096, 4096, "512x4096x4096"}};
  if (g_quick) cases = {{1, 1024, 1024, "1x1024x1024"}, {64, 1024, 1024, "64x1024x1024"}};
  const int gs = 64, bits = 4;
  std::printf("quantized_matmul, %d bits, groups of %d, float16 scales, x @ W.T\n", bits, gs);
  const double copy_bw = copy_bandwidth(size_t(1) << (g_quick ? 26 : 30), stream);
  for (const auto& c : cases) {
    const int reps = g_quick ? 5 : 20;
    array x = rand_gpu({c.M, c.K}, float32, 30);
    const int copies = c.M == 1 ? 4 : 1;  // decode: rotate weight copies past the L2
    std::vector<std::tuple<array, array, array>> ws;
    std::vector<array> dense;
    for (int i = 0; i < copies; ++i) {
      array w = rand_gpu({c.N, c.K}, float16, 31 + i);
      auto q = quantize(w, gs, bits, kGpu);
      eval({std::get<0>(q), std::get<1>(q), std::get<2>(q)});
      ws.push_back(q);
      if (c.M > 1) dense.push_back(astype(w, float32, kGpu));
    }
    size_t turn = 0;
    auto product = [&] {
      auto& [wq, sc, bi] = ws[turn++ % ws.size()];
      return quantized_matmul(x, wq, sc, bi, true, gs, bits, kGpu);
    };
    const int per = c.M == 1 ? 32 : 4;
    const double t = time_ember_many(product, per, 2, reps);
    const auto& [wq0, sc0, bi0] = ws[0];
    const double bytes = double(wq0.nbytes() + sc0.nbytes() + bi0.nbytes());
    if (c.M == 1 && &c == &cases.front() && !g_quick) {
      // The kernel's alternatives on this GPU: rows of w per group of warps, warps per group, x
      // staged in shared memory or read from global memory, blocks per multiprocessor (0: a
      // block per tile of rows). The default is the row below.
      struct Alt {
        int rows, split;
        bool stage;
        int blocks;
      };
      for (auto [r, u, st, bl] : std::vector<Alt>{{2, 2, false, 0},
                                                  {1, 1, true, 0},
                                                  {1, 2, true, 0},
                                                  {1, 4, true, 0},
                                                  {2, 1, true, 0},
                                                  {2, 2, true, 0},
                                                  {2, 4, true, 0},
                                                  {4, 1, true, 0},
                                                  {4, 2, true, 0},
                                                  {2, 2, true, 1},
                                                  {2, 2, true, 2},
                                                  {2, 2, true, 4},
                                                  {4, 1, true, 2},
                                                  {4, 1, true, 4}}) {
        gpu::set_qmv_config(r, u, st, bl);
        const double tc = time_ember_many(product, per, 2, reps);
        std::printf("    qmv %d rows per %d warps, x %s, %d blocks/SM: %.1f us, %.0f GB/s\n", r, u,
                    st ? "staged" : "global", bl, tc * 1e6, bytes / tc / 1e9);
      }
      gpu::set_qmv_config(0, 0);
    }
    if (c.M == 1) {
      const double bw = bytes / t / 1e9;
      add_row({"qmv 4-bit " + std::string(c.label) + " x" + std::to_string(per), fmt("%.0f GB/s", bw),
               fmt("%.0f GB/s", copy_bw), bw / copy_bw, 0.0});
      std::printf("    %.1f us per product, %.1f MB of packed weights\n", t * 1e6, bytes / 1e6);
    } else {
      eval(dense);
      array d = transpose(dense[0]);
      const double tp = time_ember_many([&] { return matmul(x, d, kGpu); }, per, 2, reps);
      const double flops = 2.0 * c.M * c.N * c.K;
      add_row({"qmm 4-bit " + std::string(c.label) + " x" + std::to_string(per), fmt("%.1f TFLOP/s", flops / t / 1e12),
               fmt("%.1f TFLOP/s", flops / tp / 1e12), tp / t, 0.0});
    }
  }
}

// ---------------------------------------------------------------- matrix-vector kernels alone

// The hand-written matrix-vector kernels (backend/cuda/matmul_gemv.cu) called directly and timed
// with events, so the numbers are the GPU's alone: the columns kernel over K-split counts, the
// rows kernel, and cuBLASLt on the same bytes. Four weight copies in turn keep L2 out of it.
void bench_gemv_kernels(cudaStream_t stream) {
  const int64_t K = 4096, N = 4096;
  std::printf("matrix-vector kernels alone, 1x%lldx%lld, GPU time per product (events), 4 weight copies\n",
              (long long)K, (long long)N);
  const int reps = g_quick ? 5 : 20, per = 32;
  LtPeer lt;
  for (Dtype t : {float16, float32}) {
    const gpu::GemvType gt = t == float16 ? gpu::GemvType::f16 : gpu::GemvType::f32;
    const size_t isz = t.size();
    const double bytes = double(K) * N * isz;
    std::vector<void*> ws(4);
    std::vector<array> keep;
    for (int i = 0; i < 4; ++i) {
      CUDA_OK(cudaMalloc(&ws[i], K * N * isz));
      array w = rand_gpu({static_cast<int32_t>(K), static_cast<int32_t>(N)}, t, 50 + i);
      CUDA_OK(cudaMemcpy(ws[i], w.data<char>(), w.nbytes(), cudaMemcpyHostToDevice));
    }
    void* x = nullptr;
    void* y = nullptr;
    float* partial = nullptr;
    unsigned* counters = nullptr;
    array xv = rand_gpu({1, static_cast<int32_t>(K)}, t, 60);
    CUDA_OK(cudaMalloc(&x, K * isz));
    CUDA_OK(cudaMemcpy(x, xv.data<char>(), xv.nbytes(), cudaMemcpyHostToDevice));
    CUDA_OK(cudaMalloc(&y, N * isz));
    CUDA_OK(cudaMalloc(&partial, 1024 * N * sizeof(float)));
    CUDA_OK(cudaMalloc(&counters, 4096 * sizeof(unsigned)));
    CUDA_OK(cudaMemset(counters, 0, 4096 * sizeof(unsigned)));
    size_t turn = 0;
    int sm = 0;
    CUDA_OK(cudaDeviceGetAttribute(&sm, cudaDevAttrMultiProcessorCount, 0));
    char buf[96];
    int heuristic = gpu::gemv_cols_splits(N, K, static_cast<int>(isz), sm);
    std::string line = "  " + dtype_name(t) + ":";
    // The columns kernel over K-split counts (the first, the default).
    for (int splits : {heuristic, 16, 32, 64}) {
      double sec = time_events(
          [&](cudaStream_t s) { gpu::gemv_cols(gt, ws[turn++ % 4], x, y, N, K, N, partial, counters, splits, s); },
          stream, 3, reps, per);
      std::snprintf(buf, sizeof(buf), " cols/%d %.1f us (%.0f GB/s)%s", splits, sec * 1e6, bytes / sec / 1e9,
                    splits == heuristic ? ";" : "");
      line += buf;
    }
    double rows = time_events([&](cudaStream_t s) { gpu::gemv_rows(gt, ws[turn++ % 4], x, y, N, K, K, s); }, stream, 3,
                              reps, per);
    std::snprintf(buf, sizeof(buf), "; rows %.1f us (%.0f GB/s)", rows * 1e6, bytes / rows / 1e9);
    line += buf;
    double peer = time_cublaslt(lt, t, 1, N, K, x, ws, y, stream, reps, per);
    std::snprintf(buf, sizeof(buf), "; cuBLASLt %.1f us (%.0f GB/s)", peer * 1e6, bytes / peer / 1e9);
    line += buf;
    CUDA_OK(cudaGetLastError());
    std::printf("%s\n", line.c_str());
    for (void* p : ws) CUDA_OK(cudaFree(p));
    CUDA_OK(cudaFree(x));
    CUDA_OK(cudaFree(y));
    CUDA_OK(cudaFree(partial));
    CUDA_OK(cudaFree(counters));
  }
}

// ---------------------------------------------------------------- host cost of runtime calls

// What the CUDA runtime calls an op makes cost the host, each the median over batches of 1000.
void bench_host_calls(cudaStream_t stream) {
  auto per_call = [](const std::function<void()>& f) {
    std::vector<double> ts;
    for (int r = 0; r < 7; ++r) {
      auto t0 = Clock::now();
      for (int i = 0; i < 1000; ++i) f();
      ts.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / 1000);
    }
    return median(ts);
  };
  // Allocations and frees in batches of 1000, each batch's blocks freed by the next free batch.
  std::vector<void*> ptrs(1000);
  std::vector<double> ta, tf;
  for (int r = 0; r < 7; ++r) {
    auto t0 = Clock::now();
    for (auto& p : ptrs) CUDA_OK(cudaMallocAsync(&p, 8192, stream));
    auto t1 = Clock::now();
    for (auto p : ptrs) CUDA_OK(cudaFreeAsync(p, stream));
    auto t2 = Clock::now();
    ta.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count() / 1000);
    tf.push_back(std::chrono::duration<double, std::micro>(t2 - t1).count() / 1000);
  }
  double t_alloc = median(ta), t_free = median(tf);
  CUDA_OK(cudaStreamSynchronize(stream));
  double t_event = per_call([&] {
    cudaEvent_t e;
    CUDA_OK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    CUDA_OK(cudaEventRecord(e, stream));
    CUDA_OK(cudaEventDestroy(e));
  });
  int dev = 0;
  double t_get = per_call([&] { CUDA_OK(cudaGetDevice(&dev)); });
  double t_set = per_call([&] { CUDA_OK(cudaSetDevice(dev)); });
  void* buf = nullptr;
  CUDA_OK(cudaMalloc(&buf, 8192));
  double t_memset = per_call([&] { CUDA_OK(cudaMemsetAsync(buf, 0, 8192, stream)); });
  CUDA_OK(cudaStreamSynchronize(stream));
  CUDA_OK(cudaFree(buf));
  std::printf(
      "  host cost per call: cudaMallocAsync %.2f us, cudaFreeAsync %.2f us, event create+record+destroy %.2f us, "
      "cudaGetDevice %.3f us, cudaSetDevice %.3f us, cudaMemsetAsync (a launch) %.2f us\n",
      t_alloc, t_free, t_event, t_get, t_set, t_memset);
}

// ---------------------------------------------------------------- sort

// argsort / sort of float32 (CUB radix sort behind Ember's key and output kernels) against
// Ember's CPU kernel in this process; GB/s counts one read of the input and one write of the
// output, for scale against the copy bandwidth printed above.
void bench_sort() {
  const Device cpu{Device::cpu, 0};
  struct Case {
    int rows, n;
  };
  const int total = g_quick ? (1 << 20) : (1 << 24);
  const Case cases[] = {{1, total}, {total / 1024, 1024}, {total / 16, 16}};
  std::printf("sort along the last axis, %d float32 in all\n", total);
  const int reps = g_quick ? 3 : 7;
  for (const Case& c : cases) {
    array x = rand_gpu({c.rows, c.n}, float32, 30);
    array xc = contiguous(x, false, cpu);
    xc.eval();
    const double bytes = 2.0 * total * sizeof(float);
    for (bool indices : {true, false}) {
      auto op = [&](const array& a, Device d) { return indices ? argsort(a, -1, d) : sort(a, -1, d); };
      double tg = time_ember([&] { return op(x, kGpu); }, 2, reps);
      double tc = time_ember([&] { return op(xc, cpu); }, 0, 1);  // the CPU peer is slow: one run
      std::string name =
          std::string(indices ? "argsort" : "sort") + " f32 " + std::to_string(c.rows) + "x" + std::to_string(c.n);
      std::printf("    %s: %.0f GB/s\n", name.c_str(), bytes / tg / 1e9);
      add_row({name + " vs CPU", fmt("%.2f ms", tg * 1e3), fmt("%.2f ms", tc * 1e3), tc / tg, 0.0});
    }
  }
}

// ---------------------------------------------------------------- unified memory

void bench_residency() {
  const int n = g_quick ? 1024 : 4096;
  std::printf("residency: %dx%d float32 matmul whose inputs were last written by a CPU op\n", n, n);
  const Device cpu{Device::cpu, 0};
  // Device-resident reference: inputs written by GPU ops.
  array ga = rand_gpu({n, n}, float32, 20), gb = rand_gpu({n, n}, float32, 21);
  double t_res = time_ember([&] { return matmul(ga, gb, kGpu); }, 3, g_quick ? 5 : 15);
  // Inputs written on the CPU: the first GPU use copies them to the device.
  array ca = multiply(ga, array(1.5f), cpu), cb = multiply(gb, array(0.5f), cpu);
  eval(ca, cb);
  auto t0 = Clock::now();
  matmul(ca, cb, kGpu).eval();
  double t_first = std::chrono::duration<double>(Clock::now() - t0).count();
  double t_second = time_ember([&] { return matmul(ca, cb, kGpu); }, 0, g_quick ? 5 : 15);
  std::printf("  first call %.2f ms (includes the host-to-device copy), device-resident %.2f ms\n", t_first * 1e3,
              t_res * 1e3);
  add_row({"matmul after CPU write, 1st call", fmt("%.2f ms", t_first * 1e3), fmt("%.2f ms", t_res * 1e3),
           t_res / t_first, 0.0});
  add_row({"matmul after CPU write, 2nd+", fmt("%.2f ms", t_second * 1e3), fmt("%.2f ms", t_res * 1e3),
           t_res / t_second, 0.95});
}

// ---------------------------------------------------------------- launch overhead

// A decode-like step: 64 small dependent elementwise ops in one eval. The peer is the floor
// for 64 queued operations: 64 back-to-back 16 KB device-to-device copies and one wait.
// Pipelined: the next step is queued (async_eval) before the current one is waited for.
void bench_launch(cudaStream_t stream) {
  constexpr int kOps = 64;
  constexpr int kLen = 4096;
  std::printf("launch overhead: %d dependent float32 ops of %d elements per eval\n", kOps, kLen);
  array x = rand_gpu({kLen}, float32, 30);
  array a = rand_gpu({kLen}, float32, 31), b = rand_gpu({kLen}, float32, 32);
  auto step = [&](array v) {
    for (int i = 0; i < kOps / 2; ++i) v = add(multiply(v, a, kGpu), b, kGpu);
    return v;
  };
  const int reps = g_quick ? 20 : 200;
  double t_step = time_ember([&] { return step(x); }, 5, reps);

  // Pipelined steps, each consuming the previous one, as a generate loop does.
  auto pipelined = [&](int steps) {
    array cur = step(x);
    async_eval({cur});
    for (int i = 1; i < steps; ++i) {
      array next = step(multiply(cur, array(0.5f), kGpu));
      async_eval({next});
      cur.eval();
      cur = next;
    }
    cur.eval();
  };
  pipelined(5);
  auto t0 = Clock::now();
  pipelined(reps);
  double t_pipe = std::chrono::duration<double>(Clock::now() - t0).count() / reps;

  void* src = nullptr;
  void* dst = nullptr;
  CUDA_OK(cudaMalloc(&src, kLen * sizeof(float)));
  CUDA_OK(cudaMalloc(&dst, kLen * sizeof(float)));
  std::vector<double> ts;
  for (int r = 0; r < reps + 5; ++r) {
    auto c0 = Clock::now();
    for (int i = 0; i < kOps; ++i) {
      CUDA_OK(cudaMemcpyAsync(i % 2 ? src : dst, i % 2 ? dst : src, kLen * sizeof(float), cudaMemcpyDeviceToDevice,
                              stream));
    }
    CUDA_OK(cudaStreamSynchronize(stream));
    if (r >= 5) ts.push_back(std::chrono::duration<double>(Clock::now() - c0).count());
  }
  double t_peer = median(ts);
  CUDA_OK(cudaFree(src));
  CUDA_OK(cudaFree(dst));
  std::printf("  one eval %.1f us (%.2f us/op), pipelined %.1f us/step, %d raw copies %.1f us\n", t_step * 1e6,
              t_step * 1e6 / kOps, t_pipe * 1e6, kOps, t_peer * 1e6);
  add_row({"64-op step, one eval", fmt("%.1f us", t_step * 1e6), fmt("%.1f us", t_peer * 1e6), t_peer / t_step, 0.0});
  add_row({"64-op step, pipelined", fmt("%.1f us", t_pipe * 1e6), fmt("%.1f us", t_peer * 1e6), t_peer / t_pipe, 0.0});

  // Host cost of a small product: 256 independent 1x256x256 float16 products per eval, each a
  // few microseconds of GPU work, so the rate at which the host queues them sets the pace; the
  // peer is as many cublasLtMatmul calls back to back.
  const int per = 256, n = 256;
  array sa = rand_gpu({1, n}, float16, 40);
  array sb = rand_gpu({n, n}, float16, 41);
  double te = time_ember_many([&] { return matmul(sa, sb, kGpu); }, per, 3, g_quick ? 5 : 30);
  void* pa = nullptr;
  void* pb = nullptr;
  void* po = nullptr;
  CUDA_OK(cudaMalloc(&pa, n * sizeof(uint16_t)));
  CUDA_OK(cudaMalloc(&pb, n * n * sizeof(uint16_t)));
  CUDA_OK(cudaMalloc(&po, n * sizeof(uint16_t)));
  CUDA_OK(cudaMemcpy(pa, sa.data<char>(), sa.nbytes(), cudaMemcpyHostToDevice));
  CUDA_OK(cudaMemcpy(pb, sb.data<char>(), sb.nbytes(), cudaMemcpyHostToDevice));
  LtPeer lt;
  double tp = time_cublaslt(lt, float16, 1, n, n, pa, {pb}, po, stream, g_quick ? 5 : 30, per);
  CUDA_OK(cudaFree(pa));
  CUDA_OK(cudaFree(pb));
  CUDA_OK(cudaFree(po));
  std::printf("  small product 1x%dx%d float16, %d per eval: ember %.2f us each, cublasLtMatmul %.2f us each\n", n, n,
              per, te * 1e6, tp * 1e6);
  add_row({"matmul 1x256x256 host-bound", fmt("%.2f us", te * 1e6), fmt("%.2f us", tp * 1e6), tp / te, 0.0});
  // Where Ember's host time goes: building the products' graph, then its eval (sort, dispatch,
  // launches, the wait).
  std::vector<double> tb, tv;
  for (int r = 0; r < (g_quick ? 5 : 30); ++r) {
    auto c0 = Clock::now();
    std::vector<array> outs;
    for (int i = 0; i < per; ++i) outs.push_back(matmul(sa, sb, kGpu));
    auto c1 = Clock::now();
    eval(outs);
    auto c2 = Clock::now();
    tb.push_back(std::chrono::duration<double, std::micro>(c1 - c0).count() / per);
    tv.push_back(std::chrono::duration<double, std::micro>(c2 - c1).count() / per);
  }
  std::printf("    of which building the graph %.2f us per product, its eval %.2f us per product\n", median(tb),
              median(tv));
  bench_host_calls(stream);
}

// ---------------------------------------------------------------- attention

// Decode attention (fast::scaled_dot_product_attention with one query row, the GPU kernel of
// backend/cuda/fast.cu): Llama-3-8B heads (32 query heads over 8 key/value heads of 128),
// float16, over caches of 1024 and 4096 positions. The bytes of K and V read once, against the
// device-to-device copy's bandwidth; the same attention composed of matmul and softmax is
// printed beside it.
void bench_attention(cudaStream_t stream) {
  const int Hq = 32, Hkv = 8, D = 128;
  const double copy_bw = copy_bandwidth(size_t(1) << (g_quick ? 26 : 30), stream);
  std::printf("decode attention, %d query heads over %d key/value heads of %d, float16\n", Hq, Hkv, D);
  for (int Tk : g_quick ? std::vector<int>{256} : std::vector<int>{1024, 4096}) {
    array q = rand_gpu({1, Hq, 1, D}, float16, 50);
    std::vector<std::pair<array, array>> kv;  // four caches rotate past the L2
    for (int i = 0; i < 4; ++i)
      kv.emplace_back(rand_gpu({1, Hkv, Tk, D}, float16, 51 + 2 * i), rand_gpu({1, Hkv, Tk, D}, float16, 52 + 2 * i));
    size_t turn = 0;
    const float scale = 1.0f / std::sqrt(float(D));
    auto fused = [&] {
      auto& [k, v] = kv[turn++ % kv.size()];
      return fast::scaled_dot_product_attention(q, k, v, scale, "", std::nullopt, kGpu);
    };
    auto composed = [&] {
      auto& [k, v] = kv[turn++ % kv.size()];
      array qg = reshape(astype(q, float32, kGpu), {1, Hkv, Hq / Hkv, D}, kGpu);
      array s = multiply(matmul(qg, swapaxes(astype(k, float32, kGpu), -1, -2, kGpu), kGpu), array(scale), kGpu);
      array o = matmul(softmax(s, -1, true, kGpu), astype(v, float32, kGpu), kGpu);
      return astype(reshape(o, {1, Hq, 1, D}, kGpu), float16, kGpu);
    };
    const int per = 32, reps = g_quick ? 5 : 20;
    const double tf = time_ember_many(fused, per, 2, reps);
    const double tc = time_ember_many(composed, per, 2, reps);
    const double bytes = 2.0 * Hkv * Tk * D * 2;
    add_row({"attention decode f16 Tk " + std::to_string(Tk), fmt("%.0f GB/s", bytes / tf / 1e9),
             fmt("%.0f GB/s", copy_bw), bytes / tf / 1e9 / copy_bw, 0.0});
    std::printf("    fused %.1f us, composed of matmul and softmax %.1f us (%.2fx)\n", tf * 1e6, tc * 1e6, tc / tf);
  }
}

// ---------------------------------------------------------------- compile

// Issue 9's rows on the GPU: gelu (tanh approximation) and a 5-op chain on 2^24 float32,
// compiled (one fused NVRTC kernel) against eager (a kernel per op). The ratio is eager time
// over compiled time; the fused kernel's bandwidth (inputs read once, output written once) is
// printed against the copy's. The first call's time includes the trace and, with an empty
// kernel cache, the NVRTC build.
void bench_compile(cudaStream_t stream) {
  const int n = g_quick ? (1 << 22) : (1 << 24);
  const double copy_bw = copy_bandwidth(size_t(n) * 4, stream);
  std::printf("compile: fused elementwise kernels on %d float32\n", n);
  auto gelu = [](const std::vector<array>& in) -> std::vector<array> {
    const array& x = in[0];
    array cube = multiply(multiply(multiply(x, x, kGpu), x, kGpu), array(0.044715f), kGpu);
    array inner = multiply(add(x, cube, kGpu), array(0.7978845608028654f), kGpu);
    return {multiply(multiply(x, array(0.5f), kGpu), add(tanh(inner, kGpu), array(1.0f), kGpu), kGpu)};
  };
  auto chain = [](const std::vector<array>& in) -> std::vector<array> {
    // subtract, multiply, maximum, multiply, add
    array z = maximum(multiply(subtract(in[0], array(1.5f), kGpu), in[1], kGpu), array(0.0f), kGpu);
    return {add(multiply(z, z, kGpu), in[0], kGpu)};
  };
  std::vector<array> inputs = {rand_gpu({n}, float32, 60), rand_gpu({n}, float32, 61)};
  struct Case {
    const char* name;
    MultiFn fn;
    int arity;
  };
  for (const Case& c : {Case{"gelu (tanh)", gelu, 1}, Case{"5-op chain", chain, 2}}) {
    std::vector<array> in(inputs.begin(), inputs.begin() + c.arity);
    MultiFn compiled = compile(c.fn);
    const auto before = detail::compile_stats();
    auto t0 = Clock::now();
    array first = compiled(in)[0];
    first.eval();
    const double t_first = std::chrono::duration<double>(Clock::now() - t0).count();
    const auto after = detail::compile_stats();
    // The fused result against eager's on the same inputs: a wrong kernel must not be timed.
    array err = max(abs(subtract(first, c.fn(in)[0], kGpu), kGpu), false, kGpu);
    const float max_err = err.item<float>();
    const int reps = g_quick ? 5 : 20, per = 16;
    const double tc = time_ember([&] { return compiled(in)[0]; }, 3, reps);
    const double te = time_ember([&] { return c.fn(in)[0]; }, 3, reps);
    // 16 calls per eval (the GPU's time, host work overlapped), then the same with inputs one
    // element off 16-byte alignment (the fused kernel's scalar form), then the host's cost per
    // call on 1024 elements.
    const double tm = time_ember_many([&] { return compiled(in)[0]; }, per, 2, reps);
    std::vector<array> off;
    for (int i = 0; i < c.arity; ++i) off.push_back(slice(rand_gpu({n + 1}, float32, 62 + i), {1}, {n + 1}, kGpu));
    const double to = time_ember_many([&] { return compiled(off)[0]; }, per, 2, reps);
    std::vector<array> tiny;
    for (int i = 0; i < c.arity; ++i) tiny.push_back(rand_gpu({1024}, float32, 64 + i));
    const double tt = time_ember_many([&] { return compiled(tiny)[0]; }, 64, 2, reps);
    const double bytes = (c.arity + 1.0) * n * 4;
    add_row({std::string("compiled ") + c.name + " vs eager", fmt("%.1f us", tc * 1e6), fmt("%.1f us", te * 1e6),
             te / tc, 0.0});
    std::printf(
        "    %d per eval: %.1f us, %.0f GB/s (copy %.0f GB/s); misaligned inputs %.1f us; 1024 elements "
        "%.2f us per call\n",
        per, tm * 1e6, bytes / tm / 1e9, copy_bw, to * 1e6, tt * 1e6);
    std::printf("    %llu fused kernel(s) traced, first call %.1f ms, max |compiled - eager| %.3g\n",
                static_cast<unsigned long long>(after.fused_kernels - before.fused_kernels), t_first * 1e3, max_err);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string only;  // --only a,b: those sections alone
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) g_quick = true;
    if (std::strcmp(argv[i], "--only") == 0 && i + 1 < argc) only = "," + std::string(argv[++i]) + ",";
  }
  auto run = [&](const char* section) {
    return only.empty() || only.find("," + std::string(section) + ",") != std::string::npos;
  };
  if (!is_available(kGpu)) {
    std::fprintf(stderr, "bench_cuda: no GPU available to Ember\n");
    return 2;
  }
  cudaDeviceProp prop{};
  CUDA_OK(cudaGetDeviceProperties(&prop, 0));
  std::printf("bench_cuda on %s (%d SMs, %.0f GiB)%s\n", prop.name, prop.multiProcessorCount,
              prop.totalGlobalMem / double(1 << 30), g_quick ? ", quick" : "");
  cudaStream_t stream;
  CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  auto t0 = Clock::now();
  if (run("bandwidth")) bench_bandwidth(stream);
  if (run("matmul")) bench_matmul(stream);
  if (run("residency")) bench_residency();
  if (run("sort")) bench_sort();
  if (run("launch")) bench_launch(stream);
  if (run("quantized")) bench_quantized(stream);
  if (run("attention")) bench_attention(stream);
  if (run("gemv")) bench_gemv_kernels(stream);
  if (run("compile")) bench_compile(stream);
  CUDA_OK(cudaStreamDestroy(stream));

  std::printf("\n== summary (%s, %.0f s; ratio = ember / peer in throughput, >= target is good)\n", prop.name,
              std::chrono::duration<double>(Clock::now() - t0).count());
  std::printf("%-34s %-15s %-15s %7s %7s\n", "name", "ember", "peer", "ratio", "target");
  for (auto& r : g_rows) {
    std::printf("%-34s %-15s %-15s %7.3f %7s%s\n", r.name.c_str(), r.ember.c_str(), r.peer.c_str(), r.ratio,
                r.target > 0 ? fmt("%.2f", r.target).c_str() : "-",
                r.target > 0 && r.ratio < r.target ? "  below" : "");
  }
  return 0;
}
