// Core benchmark: Ember's CPU kernels against peers measured in the same run
// (STREAM-style loops on the same threads, cblas_sgemm called directly).
// Prints one table of ratios; timings alone mean little on a shared machine.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <ember/ember.h>

#include <ember/scheduler.h>
#include "ember/backend/cpu/blas.h"

using namespace ember;
using Clock = std::chrono::steady_clock;

namespace {

// Median of `reps` timed runs after one warm-up, in seconds.
double time_it(const std::function<void()>& f, int reps) {
  f();
  std::vector<double> ts;
  for (int i = 0; i < reps; ++i) {
    auto t0 = Clock::now();
    f();
    ts.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::sort(ts.begin(), ts.end());
  return ts[ts.size() / 2];
}

int reps_for(size_t n) { return n >= (1u << 26) ? 5 : n >= (1u << 20) ? 20 : 2000; }

// STREAM-style kernels split over the same number of threads Ember uses.
template <class F>
void threaded(size_t n, F f) {
  int nt = scheduler::num_threads();
  if (n < (1u << 16) || nt == 1) {
    f(0, n);
    return;
  }
  std::vector<std::thread> ts;
  size_t per = (n + nt - 1) / nt;
  for (int t = 0; t < nt; ++t) {
    size_t b = t * per, e = std::min(n, b + per);
    ts.emplace_back([&f, b, e] { f(b, e); });
  }
  for (auto& t : ts) t.join();
}

struct Row {
  std::string name;
  double value;  // GB/s, GFLOP/s or us/op
  std::string unit;
  double ratio;  // against the peer
  std::string peer;
  std::string target;
};

std::vector<Row> rows;

void print_table() {
  std::printf("\n%-34s %12s %-8s %8s  %-22s %s\n", "benchmark", "value", "unit", "ratio", "peer", "target");
  std::printf("%s\n", std::string(100, '-').c_str());
  for (auto& r : rows) {
    std::printf("%-34s %12.2f %-8s %8.3f  %-22s %s\n", r.name.c_str(), r.value, r.unit.c_str(), r.ratio, r.peer.c_str(),
                r.target.c_str());
  }
}

array random_f32(Shape shape) {
  size_t n = 1;
  for (auto d : shape) n *= d;
  std::vector<float> v(n);
  uint32_t x = 12345;
  for (auto& e : v) {
    x = x * 1664525u + 1013904223u;
    e = static_cast<float>(x >> 8) / 16777216.0f - 0.5f;
  }
  return array(v, shape);
}

void bench_elementwise() {
  for (int lg : {12, 20, 26}) {
    size_t n = size_t(1) << lg;
    array a = random_f32({static_cast<int>(n)});
    array b = random_f32({static_cast<int>(n)});
    eval(a, b);
    std::vector<float> x(n), y(n), z(n);
    std::memcpy(x.data(), a.data<float>(), n * 4);
    std::memcpy(y.data(), b.data<float>(), n * 4);
    int reps = reps_for(n);
    double t_triad = time_it(
        [&] {
          threaded(n, [&](size_t s, size_t e) {
            for (size_t i = s; i < e; ++i) z[i] = x[i] + 3.0f * y[i];
          });
        },
        reps);
    double triad_gbs = 3.0 * n * 4 / t_triad / 1e9;
    auto run = [&](const char* name, std::function<array()> op, double bytes_per_elem) {
      double t = time_it([&] { op().eval(); }, reps);
      double gbs = bytes_per_elem * n / t / 1e9;
      rows.push_back({std::string(name) + " f32 2^" + std::to_string(lg), gbs, "GB/s", gbs / triad_gbs,
                      "STREAM triad " + std::to_string(static_cast<int>(triad_gbs)) + " GB/s",
                      lg == 26 ? ">= 0.8" : ""});
    };
    run(
        "add", [&] { return add(a, b); }, 12);
    run(
        "mul", [&] { return multiply(a, b); }, 12);
    run(
        "exp", [&] { return exp(a); }, 8);
  }
}

void bench_reductions() {
  size_t n = size_t(1) << 26;
  array a = random_f32({static_cast<int>(n)});
  a.eval();
  std::vector<float> src(n), dst(n);
  std::memcpy(src.data(), a.data<float>(), n * 4);
  double t_copy = time_it(
      [&] { threaded(n, [&](size_t s, size_t e) { std::memcpy(dst.data() + s, src.data() + s, (e - s) * 4); }); }, 5);
  double copy_gbs = 2.0 * n * 4 / t_copy / 1e9;
  std::string peer = "STREAM copy " + std::to_string(static_cast<int>(copy_gbs)) + " GB/s";
  auto run = [&](const std::string& name, std::function<array()> op) {
    double t = time_it([&] { op().eval(); }, 5);
    double gbs = n * 4.0 / t / 1e9;
    rows.push_back({name, gbs, "GB/s", gbs / copy_gbs, peer, ">= 0.7"});
  };
  run("sum f32 2^26", [&] { return sum(a); });
  run("argmax f32 2^26", [&] { return argmax(a); });
  array m = reshape(slice(a, {0}, {4096 * 4096}), {4096, 4096});
  m = contiguous(m);
  m.eval();
  n = size_t(4096) * 4096;  // bytes read per reduction below
  for (int axis : {0, 1}) {
    run("sum 4096x4096 axis " + std::to_string(axis), [&] { return sum(m, axis); });
    run("argmax 4096x4096 axis " + std::to_string(axis), [&] { return argmax(m, axis); });
  }
}

void bench_gemm() {
  for (int n : {1024, 2048}) {
    array a = random_f32({n, n});
    array b = random_f32({n, n});
    eval(a, b);
    std::vector<float> c(static_cast<size_t>(n) * n);
    // The peer: OpenBLAS with its own threads (Ember keeps it on one and splits products itself).
    openblas_set_num_threads(scheduler::num_threads());
    double t_blas = time_it(
        [&] {
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data<float>(), n, b.data<float>(), n,
                      0.0f, c.data(), n);
        },
        5);
    openblas_set_num_threads(1);
    double t = time_it([&] { matmul(a, b).eval(); }, 5);
    double gflops = 2.0 * n * n * n / t / 1e9;
    rows.push_back({"sgemm " + std::to_string(n), gflops, "GFLOP/s", t_blas / t, "cblas_sgemm direct", ">= 0.95"});
  }
}

void bench_overhead() {
  // Build and evaluate a graph of 100 dependent scalar adds.
  const int kOps = 100;
  double t = time_it(
      [&] {
        array x(0.0f);
        for (int i = 0; i < kOps; ++i) x = x + 1.0f;
        x.eval();
      },
      200);
  double us = t / kOps * 1e6;
  rows.push_back({"graph of 100 scalar adds", us, "us/op", 2.0 / us, "target 2 us/op", "ratio >= 1"});
}

void bench_transforms() {
  // 3-layer MLP, batch 256, width 1024: value_and_grad vs the forward pass alone.
  const int batch = 256, width = 1024;
  std::vector<array> params;
  for (int l = 0; l < 3; ++l) {
    params.push_back(random_f32({width, width}) * 0.05f);
    params.push_back(zeros({width}));
  }
  array x = random_f32({batch, width});
  eval(params);
  x.eval();
  MultiFn loss = [&](const std::vector<array>& p) {
    array h = x;
    for (int l = 0; l < 3; ++l) {
      h = matmul(h, p[2 * l]) + p[2 * l + 1];
      if (l < 2) h = maximum(h, array(0.0f));
    }
    return std::vector<array>{mean(square(h))};
  };
  std::vector<int> argnums = {0, 1, 2, 3, 4, 5};
  auto vg = value_and_grad(loss, argnums);
  double t_fwd = time_it([&] { loss(params)[0].eval(); }, 10);
  double t_vg = time_it(
      [&] {
        auto [v, g] = vg(params);
        g.push_back(v[0]);
        eval(g);
      },
      10);
  rows.push_back({"MLP 3x1024 b256 value_and_grad", t_vg * 1e3, "ms", t_vg / t_fwd, "forward pass alone", "<= 3"});
  // Graph-building cost per node: build (not evaluate) a chain of elementwise ops.
  const int kNodes = 10000;
  array seed(1.0f);
  double t_build = time_it(
      [&] {
        array y = seed;
        for (int i = 0; i < kNodes; ++i) y = y * 1.0001f;
      },
      20);
  double us = t_build / kNodes * 1e6;
  rows.push_back({"graph building", us, "us/node", 1.0 / us, "1 us/node", ""});
}

void bench_sort() {
  // 2^20 float32 as one row, and as 1024 rows of 1024 (rows split across threads); the peer is
  // std::sort (copy + sort, as ember's sort copies) on the same data, one thread. ratio = t_std / t_ember.
  const int n = 1 << 20;
  array a = random_f32({n});
  a.eval();
  std::vector<float> src(a.data<float>(), a.data<float>() + n), buf(n);
  double t_std = time_it(
      [&] {
        std::copy(src.begin(), src.end(), buf.begin());
        std::sort(buf.begin(), buf.end());
      },
      5);
  std::string peer = "std::sort 2^20, 1 thread";
  auto run = [&](const std::string& name, std::function<array()> op) {
    double t = time_it([&] { op().eval(); }, 5);
    rows.push_back({name, n / t / 1e6, "Melem/s", t_std / t, peer, ""});
  };
  run("sort f32 2^20", [&] { return sort(a); });
  run("argsort f32 2^20", [&] { return argsort(a); });
  // Rows: the peer sorts each row of 1024 in turn, so the ratio shows the thread split.
  t_std = time_it(
      [&] {
        std::copy(src.begin(), src.end(), buf.begin());
        for (int r = 0; r < 1024; ++r) std::sort(buf.begin() + r * 1024, buf.begin() + (r + 1) * 1024);
      },
      5);
  peer = "std::sort per row, 1 thread";
  array m = reshape(a, {1024, 1024});
  run("sort f32 1024x1024 axis 1", [&] { return sort(m, 1); });
  run("argsort f32 1024x1024 axis 1", [&] { return argsort(m, 1); });
}

void bench_scan() {
  // cumsum over 2^24 float32 (8 bytes moved per element: one read, one write). The peer is a
  // single-pass C++ prefix-sum loop on one thread, in this run; ratio = ember GB/s / loop GB/s.
  // One row cannot be split across rows, so both run one pass on one thread; the 4096 x 4096
  // axis-0 case takes the column path (whole rows accumulated, tiles split across threads).
  const size_t n = size_t(1) << 24;
  array a = random_f32({static_cast<int>(n)});
  a.eval();
  std::vector<float> src(a.data<float>(), a.data<float>() + n), dst(n);
  double t_loop = time_it(
      [&] {
        float acc = 0.0f;
        for (size_t i = 0; i < n; ++i) dst[i] = acc += src[i];
      },
      10);
  double loop_gbs = 8.0 * n / t_loop / 1e9;
  std::string peer = "C++ loop " + std::to_string(static_cast<int>(loop_gbs)) + " GB/s";
  auto run = [&](const std::string& name, std::function<array()> op) {
    double t = time_it([&] { op().eval(); }, 10);
    double gbs = 8.0 * n / t / 1e9;
    rows.push_back({name, gbs, "GB/s", gbs / loop_gbs, peer, ">= 0.9"});
  };
  run("cumsum f32 2^24", [&] { return cumsum(a); });
  array m = reshape(a, {4096, 4096});
  run("cumsum f32 4096x4096 axis 0", [&] { return cumsum(m, 0); });
  run("cumsum f32 4096x4096 axis 1", [&] { return cumsum(m, 1); });
}

void bench_gather() {
  // Embedding lookup: take 8192 random rows of a 32000 x 1024 float32 table (32 MB moved out)
  // vs copying the same rows with memcpy on one thread in this run. scatter_add writes the rows
  // back into a zero table (the embedding's gradient). ratio = t_peer / t_ember.
  const int vocab = 32000, dim = 1024, rows_n = 8192;
  array table = random_f32({vocab, dim});
  table.eval();
  std::vector<int32_t> ids(rows_n);
  uint32_t x = 99;
  for (auto& i : ids) i = static_cast<int32_t>((x = x * 1664525u + 1013904223u) % vocab);
  array idx(ids.data(), {rows_n}, int32);
  std::vector<float> out(static_cast<size_t>(rows_n) * dim);
  const float* t = table.data<float>();
  double t_copy = time_it(
      [&] {
        for (int r = 0; r < rows_n; ++r) std::memcpy(&out[size_t(r) * dim], t + size_t(ids[r]) * dim, dim * 4);
      },
      10);
  double t_take = time_it([&] { take(table, idx, 0).eval(); }, 10);
  double gb = 4.0 * rows_n * dim / 1e9;
  rows.push_back(
      {"take rows 8192 of 32000x1024", gb / t_take, "GB/s", t_copy / t_take, "memcpy per row, 1 thread", ""});
  array grads = random_f32({rows_n, 1, dim});
  grads.eval();
  array zero = zeros({vocab, dim});
  zero.eval();
  double t_acc = time_it(
      [&] {
        std::vector<float> acc(static_cast<size_t>(vocab) * dim, 0.0f);
        const float* g = grads.data<float>();
        for (int r = 0; r < rows_n; ++r) {
          float* d = &acc[size_t(ids[r]) * dim];
          for (int c = 0; c < dim; ++c) d[c] += g[size_t(r) * dim + c];
        }
      },
      5);
  double t_sc = time_it([&] { scatter_add(zero, idx, grads, 0).eval(); }, 5);
  rows.push_back({"scatter_add rows into 32000x1024", gb / t_sc, "GB/s", t_acc / t_sc, "zeroed table + loop", ""});
}

// 4-bit quantized matvec (decode, M = 1) against this machine's read bandwidth: a threaded
// loop summing 256 MiB of uint64 (four streams per thread) in this run. The value is GB/s of weight bytes read (wq +
// scales + biases); copies of the weights are cycled so that they come from DRAM, not cache.
void bench_quantized() {
  size_t nr = size_t(1) << 25;  // 256 MiB of uint64
  std::vector<uint64_t> buf(nr);
  for (size_t i = 0; i < nr; ++i) buf[i] = i * 2654435761u;
  std::vector<uint64_t> partial(scheduler::num_threads() + 1);
  // The best of three medians: the machine is shared, and a limit is the best it does.
  auto read_loop = [&] {
    std::vector<std::thread> ts;
    int nt = scheduler::num_threads();
    size_t per = (nr + nt - 1) / nt;
    for (int t = 0; t < nt; ++t) {
      ts.emplace_back([&, t] {
        // Four streams per thread, as the matvec reads four rows of w at once: one stream
        // alone leaves memory-level parallelism unused.
        size_t b = t * per, e = std::min(nr, (t + 1) * per), q = (e - b) / 4;
        uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        for (size_t i = b; i < b + q; ++i) {
          a0 += buf[i];
          a1 += buf[i + q];
          a2 += buf[i + 2 * q];
          a3 += buf[i + 3 * q];
        }
        for (size_t i = b + 4 * q; i < e; ++i) a0 += buf[i];
        partial[t] = a0 + a1 + a2 + a3;
      });
    }
    for (auto& t : ts) t.join();
  };
  double t_read = 1e30;
  for (int i = 0; i < 3; ++i) t_read = std::min(t_read, time_it(read_loop, 5));
  double read_gbs = nr * 8.0 / t_read / 1e9;
  std::string peer = "read loop " + std::to_string(static_cast<int>(read_gbs)) + " GB/s";
  for (auto [N, K] : {std::pair<int, int>{4096, 4096}, std::pair<int, int>{4096, 11008}}) {
    // 6-bit g16: what GGUF Q6_K loads as; 5 and 3 bits: MLX's other widths.
    for (auto [bits, gs] : {std::pair{4, 64}, std::pair{8, 64}, std::pair{6, 16}, std::pair{5, 64}, std::pair{3, 64}}) {
      array w = astype(random_f32({N, K}), float16);
      auto [wq, sc, bi] = quantize(w, gs, bits);
      eval(wq, sc, bi);
      double bytes = static_cast<double>(wq.nbytes() + sc.nbytes() + bi.nbytes());
      int copies = static_cast<int>(std::max(2.0, 256e6 / bytes));
      std::vector<array> wqs, scs, bis;
      for (int c = 0; c < copies; ++c) {
        wqs.push_back(copy(wq));
        scs.push_back(copy(sc));
        bis.push_back(copy(bi));
      }
      eval(wqs);
      eval(scs);
      eval(bis);
      array x = astype(random_f32({1, K}), float16);
      x.eval();
      // x in float32, rounded to int8 (what the LLM runtime decodes with), and rounded to int8
      // with no biases (codes centered on half their range: GGUF's Q4_0 and Q8_0), whose
      // bytes are the codes and scales alone.
      for (int variant : {0, 1, 2}) {
        const bool int8_x = variant > 0, no_biases = variant == 2;
        int c = 0;
        double t = time_it(
            [&] {
              std::optional<array> b;
              if (!no_biases) b = bis[c];
              (int8_x ? quantized_matmul_int8_activations : quantized_matmul)(x, wqs[c], scs[c], b, true, gs, bits, {})
                  .eval();
              c = (c + 1) % copies;
            },
            50);
        double gbs = (no_biases ? bytes - static_cast<double>(bi.nbytes()) : bytes) / t / 1e9;
        rows.push_back({"qmv " + std::to_string(bits) + "-bit g" + std::to_string(gs) + " " + std::to_string(N) + "x" +
                            std::to_string(K) +
                            (no_biases ? " int8 x, no biases"
                             : int8_x  ? " int8 x"
                                       : " f32 x"),
                        gbs, "GB/s", gbs / read_gbs, peer, bits == 4 && int8_x ? ">= 0.7" : ""});
        if (no_biases) std::printf("  %s: %.0f us per product\n", rows.back().name.c_str(), t * 1e6);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::printf("Ember core benchmark: %d threads\n", scheduler::num_threads());
  // `bench_core quantized` runs the quantized rows alone.
  if (argc > 1 && std::string(argv[1]) == "quantized") {
    bench_quantized();
    print_table();
    return 0;
  }
  bench_overhead();
  bench_elementwise();
  bench_reductions();
  bench_gemm();
  bench_transforms();
  bench_sort();
  bench_scan();
  bench_gather();
  bench_quantized();
  print_table();
  return 0;
}
