// Convolution benchmark: conv2d, N=8, 56x56, 64 -> 64 channels, 3x3, padding 1,
// float32 (a ResNet stage-1 layer, 1.85 GFLOP), channels last.
// Ember (eval'd, best of 15 interleaved runs) against a peer in the same process:
// the textbook im2col (the whole (N*H*W, 9*C_in) column matrix) + one direct
// cblas_sgemm. ratio = baseline / ember: > 1 means Ember is faster.
// Also timed: Ember's own im2col + sgemm kernel (EMBER_CONV_DNNL=0; the route of
// builds without oneDNN) and, when built with oneDNN (EMBER_BENCH_DNNL), oneDNN's
// convolution called directly, which Ember's float32 kernel uses when available.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

#include <ember/ember.h>

#include <ember/scheduler.h>
#include "ember/backend/cpu/blas.h"

#ifdef EMBER_BENCH_DNNL
#include <dnnl.hpp>
#endif

using namespace ember;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kN = 8, kH = 56, kW = 56, kC = 64, kOC = 64, kK = 3, kPad = 1;

// Seconds of one call.
double time_once(const std::function<void()>& f) {
  auto t0 = Clock::now();
  f();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Best time of each function over `reps` rounds after one warm-up each. The rounds
// interleave the functions, so a burst of load from other processes hits all alike.
std::vector<double> best_of_interleaved(const std::vector<std::function<void()>>& fs, int reps) {
  for (auto& f : fs) f();
  std::vector<double> best(fs.size(), 1e30);
  for (int r = 0; r < reps; ++r) {
    for (size_t i = 0; i < fs.size(); ++i) best[i] = std::min(best[i], time_once(fs[i]));
  }
  return best;
}

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::vector<float> v(n);
  uint32_t x = seed;
  for (auto& e : v) {
    x = x * 1664525u + 1013904223u;
    e = static_cast<float>(x >> 8) / 16777216.0f - 0.5f;
  }
  return v;
}

// x: (N, H, W, C), w: (OC, K, K, C) -> y: (N, H, W, OC), stride 1, padding kPad.
void im2col_sgemm(const float* x, const float* w, float* col, float* y) {
  const int kc = kK * kK * kC;
  for (int n = 0; n < kN; ++n) {
    for (int oh = 0; oh < kH; ++oh) {
      for (int ow = 0; ow < kW; ++ow) {
        float* dst = col + ((static_cast<size_t>(n) * kH + oh) * kW + ow) * kc;
        for (int kh = 0; kh < kK; ++kh) {
          for (int kw = 0; kw < kK; ++kw, dst += kC) {
            int ih = oh + kh - kPad, iw = ow + kw - kPad;
            if (ih < 0 || ih >= kH || iw < 0 || iw >= kW) {
              std::memset(dst, 0, kC * sizeof(float));
            } else {
              std::memcpy(dst, x + ((static_cast<size_t>(n) * kH + ih) * kW + iw) * kC, kC * sizeof(float));
            }
          }
        }
      }
    }
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, kN * kH * kW, kOC, kc, 1.0f, col, kc, w, kc, 0.0f, y, kOC);
}

#ifdef EMBER_BENCH_DNNL
// oneDNN forward-inference convolution on the same nhwc input and ohwi weight; each
// call reorders the weight into oneDNN's preferred layout, as Ember's kernel does
// (a framework sees new weights every step).
struct DnnlConv {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream s{eng};
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward conv;
  dnnl::memory src, dst, wu, wp;

  DnnlConv(const float* x, const float* w, float* y) {
    using namespace dnnl;
    using tag = memory::format_tag;
    using dt = memory::data_type;
    memory::desc src_md({kN, kC, kH, kW}, dt::f32, tag::nhwc);
    memory::desc dst_md({kN, kOC, kH, kW}, dt::f32, tag::nhwc);
    memory::desc wei_any({kOC, kC, kK, kK}, dt::f32, tag::any);
    memory::desc wei_user({kOC, kC, kK, kK}, dt::f32, tag::ohwi);
    convolution_forward::desc d(prop_kind::forward_inference, algorithm::convolution_direct, src_md, wei_any, dst_md,
                                {1, 1}, {kPad, kPad}, {kPad, kPad});
    pd = convolution_forward::primitive_desc(d, eng);
    conv = convolution_forward(pd);
    src = memory(src_md, eng, const_cast<float*>(x));
    dst = memory(dst_md, eng, y);
    wu = memory(wei_user, eng, const_cast<float*>(w));
    wp = memory(pd.weights_desc(), eng);
  }
  void run() {
    dnnl::reorder(wu, wp).execute(s, wu, wp);
    conv.execute(s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wp}, {DNNL_ARG_DST, dst}});
    s.wait();
  }
};
#endif

}  // namespace

int main() {
  const int reps = 15;
  const double gflop = 2.0 * kN * kH * kW * kOC * kK * kK * kC / 1e9;
  std::printf("Ember conv benchmark: conv2d N=%d %dx%d %d->%d 3x3 pad 1 float32 (%.2f GFLOP), %d threads\n", kN, kH, kW,
              kC, kOC, gflop, scheduler::num_threads());
  std::vector<float> xv = random_floats(static_cast<size_t>(kN) * kH * kW * kC, 1);
  std::vector<float> wv = random_floats(static_cast<size_t>(kOC) * kK * kK * kC, 2);
  array x(xv.data(), {kN, kH, kW, kC}, float32);
  array w(wv.data(), {kOC, kK, kK, kC}, float32);
  eval(x, w);

  std::vector<float> col(static_cast<size_t>(kN) * kH * kW * kK * kK * kC), y(static_cast<size_t>(kN) * kH * kW * kOC);
  std::vector<std::function<void()>> fs = {
      [&] {
        // The baseline's sgemm with OpenBLAS's own threads (Ember keeps it on one and splits
        // products itself).
        openblas_set_num_threads(scheduler::num_threads());
        im2col_sgemm(xv.data(), wv.data(), col.data(), y.data());
        openblas_set_num_threads(1);
      },
      [&] {
        conv2d(x, w, {1, 1}, {kPad, kPad}).eval();
      },
      [&] {
        // Ember's own im2col + sgemm kernel (what builds without oneDNN run).
        setenv("EMBER_CONV_DNNL", "0", 1);
        conv2d(x, w, {1, 1}, {kPad, kPad}).eval();
        unsetenv("EMBER_CONV_DNNL");
      },
  };
#ifdef EMBER_BENCH_DNNL
  std::vector<float> yd(y.size());
  DnnlConv dn(xv.data(), wv.data(), yd.data());
  fs.push_back([&] { dn.run(); });
#endif
  std::vector<double> t = best_of_interleaved(fs, reps);
  double t_base = t[0], t_ember = t[1], t_im2col = t[2];

  // The two must agree before their times mean anything.
  array ye = conv2d(x, w, {1, 1}, {kPad, kPad});
  ye.eval();
  double max_diff = 0;
  for (size_t i = 0; i < y.size(); ++i) max_diff = std::max<double>(max_diff, std::abs(ye.data<float>()[i] - y[i]));

  std::printf("\n%-40s %10s %10s %8s\n", "implementation", "ms", "GFLOP/s", "ratio");
  std::printf("%s\n", std::string(72, '-').c_str());
  std::printf("%-40s %10.3f %10.1f %8s\n", "im2col + cblas_sgemm (baseline)", t_base * 1e3, gflop / t_base, "1.000");
  std::printf("%-40s %10.3f %10.1f %8.3f\n", "ember conv2d", t_ember * 1e3, gflop / t_ember, t_base / t_ember);
  std::printf("%-40s %10.3f %10.1f %8.3f\n", "ember conv2d, im2col kernel (no oneDNN)", t_im2col * 1e3,
              gflop / t_im2col, t_base / t_im2col);
#ifdef EMBER_BENCH_DNNL
  double t_dnnl = t[3], dnnl_diff = 0;
  for (size_t i = 0; i < y.size(); ++i) dnnl_diff = std::max<double>(dnnl_diff, std::abs(yd[i] - y[i]));
  std::printf("%-40s %10.3f %10.1f %8.3f\n", "oneDNN convolution_forward (direct)", t_dnnl * 1e3, gflop / t_dnnl,
              t_base / t_dnnl);
  std::printf("oneDNN max |difference| from the baseline: %.2e\n", dnnl_diff);
#endif
  std::printf("ember max |difference| from the baseline: %.2e\n", max_diff);
  std::printf("ratio = baseline time / implementation time (> 1: faster than the baseline)\n");
  return max_diff < 1e-3 ? 0 : 1;
}
