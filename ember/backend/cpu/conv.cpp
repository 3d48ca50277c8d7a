// CPU kernel of Convolution: implicit GEMM (im2col one tile of output rows at
// a time) + OpenBLAS sgemm/dgemm.
//
//   x: (N, L0, L1, L2, C_in)    w: (C_out, K0, K1, K2, Cg)    out: (N, O0, O1, O2, C_out)
//   (1-d and 2-d convolutions get leading spatial axes of size 1; Cg = C_in / G,
//   Cog = C_out / G for G groups.)
//
// Output rows r = (n, o0, o1, o2) are cut into tiles. For a tile, the gather
// writes one column row per output row, laid out [g][k0][k1][k2][c] so that
// group g's block (Ktot * Cg values) lines up with the weight's row layout; then
// per group one gemm: col_g (rows, Ktot*Cg) x w_g^T (Ktot*Cg, Cog) -> out[:, g*Cog:].
// A tile's column block stays around kTileBytes so it is still in cache when the
// gemm reads it (the whole im2col of a 56x56x64 batch of 8 is ~58 MB). Very wide
// column rows (huge kernels) are also cut along the taps, accumulating in out.
// The gather is split across the pool; the gemm uses OpenBLAS's own threads.
// Which input element (or zero) each (o, k) pair reads is precomputed per axis,
// which folds stride, padding (also negative), both dilations and flip into
// one table lookup.
// float16/bfloat16 are gathered into float32 columns, multiplied by sgemm and
// rounded once on the way out.
//
// With oneDNN (EMBER_HAS_DNNL), float32 convolutions without input dilation or
// negative padding go to oneDNN's convolution_forward instead (1.2-1.6x the
// im2col route on the 56x56x64 3x3 benchmark, bench/bench_conv.cpp), and
// stride-1 convolutions of dilated inputs (transposed convolutions, input
// gradients of strided ones) to its deconvolution_forward (~4x: im2col would
// multiply the inserted zeros); primitives are cached by shape and parameters.
// EMBER_CONV_DNNL=0 turns that off.

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#ifdef EMBER_HAS_DNNL
#include <dlfcn.h>
#include <dnnl.hpp>

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#endif

#include "ember/allocator.h"
#include "ember/backend/cpu/copy.h"
#include "ember/backend/cpu/elementwise.h"
#include "ember/backend/cpu/gemm.h"
#include "ember/primitives_conv.h"
#include "ember/scheduler.h"

namespace ember {

namespace cpu {
namespace {

// Column block per tile: big enough for efficient gemm calls, small enough to stay in L2/L3.
constexpr int64_t kTileBytes = int64_t(1) << 21;

struct ConvGeom {
  int64_t n = 0, c_in = 0, c_out = 0, groups = 1, cg = 0, cog = 0;
  int64_t l[3] = {1, 1, 1}, k[3] = {1, 1, 1}, o[3] = {1, 1, 1};
  // tables[d][o * k[d] + kk]: input index read by output o and kernel tap kk along axis d, or -1 (zero).
  std::vector<int64_t> tables[3];
  int64_t rows() const { return n * o[0] * o[1] * o[2]; }
  int64_t ktot() const { return k[0] * k[1] * k[2]; }
  int64_t kc() const { return ktot() * cg; }  // gemm depth per group
  // Whether every table is the identity (1x1 kernel, stride 1, no padding): then x is its own im2col.
  bool identity() const {
    for (int d = 0; d < 3; ++d) {
      if (k[d] != 1 || o[d] != l[d]) return false;
      for (int64_t i = 0; i < o[d]; ++i) {
        if (tables[d][i] != i) return false;
      }
    }
    return true;
  }
};

ConvGeom make_geom(const Shape& xs, const Shape& ws, const Shape& os, const Convolution& p) {
  ConvGeom g;
  int nsp = static_cast<int>(xs.size()) - 2;
  int off = 3 - nsp;
  g.n = xs[0];
  g.c_in = xs.back();
  g.c_out = ws[0];
  g.groups = p.groups();
  g.cg = g.c_in / g.groups;
  g.cog = g.c_out / g.groups;
  for (int d = 0; d < 3; ++d) {
    int a = d - off;  // spatial axis of the op, or < 0 for a padding axis
    int64_t s = a < 0 ? 1 : p.stride()[a], lo = a < 0 ? 0 : p.padding_lo()[a];
    int64_t kd = a < 0 ? 1 : p.kernel_dilation()[a], id = a < 0 ? 1 : p.input_dilation()[a];
    if (a >= 0) {
      g.l[d] = xs[1 + a];
      g.k[d] = ws[1 + a];
      g.o[d] = os[1 + a];
    }
    int64_t ld = g.l[d] == 0 ? 0 : (g.l[d] - 1) * id + 1;
    g.tables[d].resize(g.o[d] * g.k[d]);
    for (int64_t o = 0; o < g.o[d]; ++o) {
      for (int64_t kk = 0; kk < g.k[d]; ++kk) {
        int64_t tap = p.flip() ? g.k[d] - 1 - kk : kk;
        int64_t pos = o * s + tap * kd - lo;
        bool ok = pos >= 0 && pos < ld && pos % id == 0;
        g.tables[d][o * g.k[d] + kk] = ok ? pos / id : -1;
      }
    }
  }
  return g;
}

template <class C>
void gemm_nt(int64_t m, int64_t n, int64_t k, const C* a, int64_t lda, const C* b, int64_t ldb, C* c, int64_t ldc,
             C beta) {
  // c (m, n) = a (m, k) x b (n, k)^T + beta * c
  cpu::gemm<C>(false, true, m, n, k, C(1), a, lda, b, ldb, beta, c, ldc);
}

// Writes the columns of kernel taps [t0, t1) (flat over K0 x K1 x K2) of output rows
// [r0, r1) into col: row stride G * (t1 - t0) * Cg, group g's block at g * (t1 - t0) * Cg.
template <class T, class C>
void gather_tile(const ConvGeom& g, const T* x, int64_t r0, int64_t r1, int64_t t0, int64_t t1, C* col) {
  const int64_t cg = g.cg, block = (t1 - t0) * cg, width = g.groups * block;
  const int64_t o12 = g.o[1] * g.o[2], o012 = g.o[0] * o12, k12 = g.k[1] * g.k[2];
  int64_t grain = std::max<int64_t>(1, (int64_t(1) << 15) / std::max<int64_t>(width, 1));
  scheduler::parallel_for(r1 - r0, grain, [&](int64_t b, int64_t e) {
    for (int64_t r = r0 + b; r < r0 + e; ++r) {
      int64_t n = r / o012, rem = r % o012;
      int64_t o0 = rem / o12, o1 = (rem / g.o[2]) % g.o[1], o2 = rem % g.o[2];
      C* dst_row = col + (r - r0) * width;
      const int64_t* tab0 = g.tables[0].data() + o0 * g.k[0];
      const int64_t* tab1 = g.tables[1].data() + o1 * g.k[1];
      const int64_t* tab2 = g.tables[2].data() + o2 * g.k[2];
      for (int64_t t = t0; t < t1; ++t) {
        int64_t i0 = tab0[t / k12], i1 = tab1[(t / g.k[2]) % g.k[1]], i2 = tab2[t % g.k[2]];
        C* dst = dst_row + (t - t0) * cg;
        if ((i0 | i1 | i2) < 0) {
          for (int64_t gi = 0; gi < g.groups; ++gi) std::fill_n(dst + gi * block, cg, C(0));
          continue;
        }
        const T* src = x + (((n * g.l[0] + i0) * g.l[1] + i1) * g.l[2] + i2) * g.c_in;
        for (int64_t gi = 0; gi < g.groups; ++gi) {
          const T* sp = src + gi * cg;
          C* d = dst + gi * block;
          if constexpr (std::is_same_v<T, C>) {
            std::memcpy(d, sp, cg * sizeof(C));
          } else {
            for (int64_t c = 0; c < cg; ++c) d[c] = static_cast<C>(sp[c]);
          }
        }
      }
    }
  });
}

// T the storage type, C the gemm type (float or double).
template <class T, class C>
void conv_gemm(const ConvGeom& g, const array& xa, const array& wa, array& out) {
  const T* x = xa.data<T>();
  T* o = out.data<T>();
  const int64_t rows = g.rows(), kc = g.kc(), ktot = g.ktot();
  // The weight in the gemm type: (C_out, kc) row-major, group gi's rows from gi * Cog.
  std::vector<C> w_conv;
  const C* w;
  if constexpr (std::is_same_v<T, C>) {
    w = wa.data<C>();
  } else {
    const T* ws = wa.data<T>();
    w_conv.resize(g.c_out * kc);
    for (size_t i = 0; i < w_conv.size(); ++i) w_conv[i] = static_cast<C>(ws[i]);
    w = w_conv.data();
  }
  const bool direct = std::is_same_v<T, C> && g.identity();
  // Tiles of `tile` rows x `taps` kernel taps. Taps are split only when a full column
  // row is too wide for a tile of at least kMinRows rows (big kernels: the weight
  // gradient's convolution has the forward output as its kernel); partial sums then
  // accumulate in out (beta = 1).
  constexpr int64_t kMinRows = 256;
  const int64_t tap_bytes = g.groups * g.cg * static_cast<int64_t>(sizeof(C));
  int64_t tile = std::clamp<int64_t>(kTileBytes / std::max<int64_t>(ktot * tap_bytes, 1), 1, rows);
  int64_t taps = ktot;
  if (tile < std::min(rows, kMinRows)) {
    tile = std::min(rows, kMinRows);
    taps = std::clamp<int64_t>(kTileBytes / std::max<int64_t>(tile * tap_bytes, 1), 1, ktot);
  }
  if (direct) tile = std::min<int64_t>(rows, int64_t(1) << 30);  // BLAS sizes are int
  std::vector<C> col(direct ? 0 : tile * taps * g.groups * g.cg);
  std::vector<C> acc(std::is_same_v<T, C> ? 0 : tile * g.c_out);
  for (int64_t r0 = 0; r0 < rows; r0 += tile) {
    int64_t r1 = std::min(rows, r0 + tile), m = r1 - r0;
    C* c;
    if constexpr (std::is_same_v<T, C>) {
      c = o + r0 * g.c_out;
    } else {
      c = acc.data();
    }
    for (int64_t t0 = 0; t0 < ktot; t0 += taps) {
      int64_t t1 = std::min(ktot, t0 + taps), depth = (t1 - t0) * g.cg;
      const C* a;
      int64_t lda;
      if (direct) {
        a = reinterpret_cast<const C*>(x) + r0 * g.c_in;
        lda = g.c_in;
      } else {
        gather_tile<T, C>(g, x, r0, r1, t0, t1, col.data());
        a = col.data();
        lda = g.groups * depth;
      }
      for (int64_t gi = 0; gi < g.groups; ++gi) {
        gemm_nt<C>(m, g.cog, depth, a + gi * depth, lda, w + gi * g.cog * kc + t0 * g.cg, kc, c + gi * g.cog, g.c_out,
                   t0 == 0 ? C(0) : C(1));
      }
    }
    if constexpr (!std::is_same_v<T, C>) {
      T* dst = o + r0 * g.c_out;
      for (int64_t i = 0; i < m * g.c_out; ++i) dst[i] = static_cast<T>(acc[i]);
    }
  }
}

#ifdef EMBER_HAS_DNNL
// ---------------------------------------------------------------- oneDNN route (float32)

bool dnnl_enabled() {
  const char* e = std::getenv("EMBER_CONV_DNNL");
  return !(e && e[0] == '0');
}

// How oneDNN runs a Convolution: as a convolution (no input dilation, no negative
// padding), or, for a stride-1 convolution of a dilated input (conv_transpose and
// the input gradient of strided convolutions), as a deconvolution with stride
// input_dilation and padding Kd - 1 - padding (the scatter y[i * s + k * kd - p] +=
// x[i] w[k], which is the flipped-kernel convolution of the dilated input), which
// skips the zeros im2col would multiply.
enum class DnnlKind { None, Conv, Deconv };

DnnlKind dnnl_kind(const Convolution& p, const Shape& ws, Dtype t) {
  if (t != float32 || !dnnl_enabled()) return DnnlKind::None;
  bool dilated = false, conv_ok = true, deconv_ok = true;
  for (size_t i = 0; i < p.stride().size(); ++i) {
    int kd = (ws[1 + i] - 1) * p.kernel_dilation()[i] + 1;
    dilated |= p.input_dilation()[i] != 1;
    conv_ok &= p.input_dilation()[i] == 1 && p.padding_lo()[i] >= 0 && p.padding_hi()[i] >= 0;
    deconv_ok &= p.stride()[i] == 1 && kd - 1 - p.padding_lo()[i] >= 0 && kd - 1 - p.padding_hi()[i] >= 0;
  }
  if (conv_ok) return DnnlKind::Conv;
  return dilated && deconv_ok ? DnnlKind::Deconv : DnnlKind::None;
}

struct DnnlConv {
  dnnl::primitive prim;
  dnnl::memory::desc src, wei, dst;  // the layouts Ember holds: channels last, (G, Cog, Cg, K...) weights
  dnnl::memory::desc wei_prim;       // the weight layout the primitive wants
};

// Debian's oneDNN runs on OpenMP, whose team size follows the calling thread's
// omp_set_num_threads: give it Ember's thread count (EMBER_NUM_THREADS) once per thread.
// The symbol comes from libgomp, which oneDNN loads, so Ember needs no OpenMP flags.
void limit_dnnl_threads() {
  thread_local bool done = false;
  if (done) return;
  done = true;
  using SetThreads = void (*)(int);
  static const auto set_threads = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  if (set_threads) set_threads(scheduler::num_threads());
}

dnnl::engine& dnnl_engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

// Row-major strides of `shape` read in the axis order `order` (order[i]: the axis of `shape` at position i).
dnnl::memory::dims strides_for(const std::vector<int64_t>& dims_in_memory_order, const std::vector<int>& order) {
  std::vector<int64_t> mem_strides(dims_in_memory_order.size());
  int64_t s = 1;
  for (int i = static_cast<int>(dims_in_memory_order.size()) - 1; i >= 0; --i) {
    mem_strides[i] = s;
    s *= dims_in_memory_order[i];
  }
  dnnl::memory::dims out(order.size());
  for (size_t i = 0; i < order.size(); ++i) out[order[i]] = mem_strides[i];
  return out;
}

// The oneDNN primitive for these shapes and parameters (built once, then cached).
std::shared_ptr<DnnlConv> dnnl_conv_for(const Shape& xs, const Shape& ws, const Shape& os, const Convolution& p,
                                        DnnlKind kind) {
  static std::mutex mu;
  static std::unordered_map<std::string, std::shared_ptr<DnnlConv>> cache;
  std::string key;
  for (const auto* v : {&xs, &ws, &os}) {
    for (int d : *v) key += std::to_string(d) + ",";
    key += ";";
  }
  for (const auto* v : {&p.stride(), &p.padding_lo(), &p.padding_hi(), &p.kernel_dilation(), &p.input_dilation()}) {
    for (int d : *v) key += std::to_string(d) + ",";
    key += ";";
  }
  key += std::to_string(p.groups()) + (kind == DnnlKind::Deconv ? "d" : "c");
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache.find(key);
    if (it != cache.end()) return it->second;
  }
  using dnnl::memory;
  const int nsp = static_cast<int>(xs.size()) - 2;
  const int64_t g = p.groups(), c_in = xs.back(), c_out = ws[0];
  // Logical dims are (N, C, spatial...); memory is channels last.
  memory::dims src_dims = {xs[0], c_in}, dst_dims = {os[0], c_out}, xs_mem = {xs[0]}, os_mem = {os[0]};
  std::vector<int> act_order = {0};  // memory position -> logical axis
  for (int i = 0; i < nsp; ++i) {
    src_dims.push_back(xs[1 + i]);
    dst_dims.push_back(os[1 + i]);
    xs_mem.push_back(xs[1 + i]);
    os_mem.push_back(os[1 + i]);
    act_order.push_back(2 + i);
  }
  xs_mem.push_back(c_in);
  os_mem.push_back(c_out);
  act_order.push_back(1);
  // Weights: logical (G, Cog, Cg, K...) (or (C_out, C_in, K...) for one group), memory (G, Cog, K..., Cg).
  memory::dims wei_dims, wei_mem;
  std::vector<int> wei_order;
  int lead = g > 1 ? 1 : 0;
  if (g > 1) {
    wei_dims = {g, c_out / g, ws.back()};
    wei_mem = {g, c_out / g};
    wei_order = {0, 1};
  } else {
    wei_dims = {c_out, ws.back()};
    wei_mem = {c_out};
    wei_order = {0};
  }
  for (int i = 0; i < nsp; ++i) {
    wei_dims.push_back(ws[1 + i]);
    wei_mem.push_back(ws[1 + i]);
    wei_order.push_back(lead + 2 + i);
  }
  wei_mem.push_back(ws.back());
  wei_order.push_back(lead + 1);
  memory::desc src(src_dims, memory::data_type::f32, strides_for(xs_mem, act_order));
  memory::desc dst(dst_dims, memory::data_type::f32, strides_for(os_mem, act_order));
  memory::desc wei(wei_dims, memory::data_type::f32, strides_for(wei_mem, wei_order));
  memory::desc wei_any(wei_dims, memory::data_type::f32, memory::format_tag::any);
  memory::dims strides, dilates, lo, hi;
  for (int i = 0; i < nsp; ++i) {
    int kd = (ws[1 + i] - 1) * p.kernel_dilation()[i] + 1;
    bool de = kind == DnnlKind::Deconv;
    strides.push_back(de ? p.input_dilation()[i] : p.stride()[i]);
    dilates.push_back(p.kernel_dilation()[i] - 1);  // oneDNN counts the zeros between taps
    lo.push_back(de ? kd - 1 - p.padding_lo()[i] : p.padding_lo()[i]);
    hi.push_back(de ? kd - 1 - p.padding_hi()[i] : p.padding_hi()[i]);
  }
  std::shared_ptr<DnnlConv> entry;
  if (kind == DnnlKind::Conv) {
    dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src,
                                      wei_any, dst, strides, dilates, lo, hi);
    dnnl::convolution_forward::primitive_desc pd(d, dnnl_engine());
    entry = std::make_shared<DnnlConv>(DnnlConv{dnnl::convolution_forward(pd), src, wei, dst, pd.weights_desc()});
  } else {
    dnnl::deconvolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::deconvolution_direct, src,
                                        wei_any, dst, strides, dilates, lo, hi);
    dnnl::deconvolution_forward::primitive_desc pd(d, dnnl_engine());
    entry = std::make_shared<DnnlConv>(DnnlConv{dnnl::deconvolution_forward(pd), src, wei, dst, pd.weights_desc()});
  }
  std::lock_guard<std::mutex> lock(mu);
  if (cache.size() >= 256) cache.clear();  // shapes seen by one program are few; bound a pathological one
  cache.emplace(key, entry);
  return entry;
}

// x: (N, L..., C_in), w: (C_out, K..., Cg) row-contiguous float32 -> out. Returns false
// when oneDNN declines (the caller falls back to im2col).
bool dnnl_conv(const array& x, const array& w, array& out, const Convolution& p, DnnlKind kind) {
  limit_dnnl_threads();  // before the primitive is made: it fixes its thread count then
  std::shared_ptr<DnnlConv> c;
  try {
    c = dnnl_conv_for(x.shape(), w.shape(), out.shape(), p, kind);
  } catch (const dnnl::error&) {
    return false;
  }
  dnnl::engine& eng = dnnl_engine();
  const float* wp = w.data<float>();
  std::vector<float> flipped;
  // oneDNN's convolution reads the kernel unflipped and its deconvolution flipped.
  if (p.flip() == (kind == DnnlKind::Conv)) {
    // Reverse the kernel taps (the weight is small next to the activations).
    const int64_t c_out = w.shape(0), cg = w.shape(-1), ktot = static_cast<int64_t>(w.size()) / (c_out * cg);
    flipped.resize(w.size());
    for (int64_t co = 0; co < c_out; ++co) {
      for (int64_t t = 0; t < ktot; ++t) {
        const float* src = wp + (co * ktot + (ktot - 1 - t)) * cg;  // all axes reversed: flat tap reversed
        std::memcpy(flipped.data() + (co * ktot + t) * cg, src, cg * sizeof(float));
      }
    }
    wp = flipped.data();
  }
  dnnl::stream s(eng);
  dnnl::memory src(c->src, eng, const_cast<float*>(x.data<float>()));
  dnnl::memory dst(c->dst, eng, out.data<float>());
  dnnl::memory wei(c->wei, eng, const_cast<float*>(wp));
  dnnl::memory wei_run = wei;
  if (c->wei_prim != c->wei) {
    wei_run = dnnl::memory(c->wei_prim, eng);
    dnnl::reorder(wei, wei_run).execute(s, wei, wei_run);
  }
  c->prim.execute(s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei_run}, {DNNL_ARG_DST, dst}});
  s.wait();
  return true;
}
#endif

}  // namespace
}  // namespace cpu

void Convolution::eval_cpu(const std::vector<array>& inputs, array& out) {
  scheduler::quiet_helpers();  // oneDNN's and OpenBLAS's threads get the cores
  using namespace cpu;
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  array x = ensure_row_contiguous(inputs[0]);
  array w = ensure_row_contiguous(inputs[1]);
  ConvGeom g = make_geom(x.shape(), w.shape(), out.shape(), *this);
  if (g.kc() == 0 || x.size() == 0) {
    // An empty sum (no input channels or an empty input): zeros.
    std::memset(out.data<char>(), 0, out.nbytes());
    return;
  }
#ifdef EMBER_HAS_DNNL
  DnnlKind kind = dnnl_kind(*this, w.shape(), out.dtype());
  if (kind != DnnlKind::None && dnnl_conv(x, w, out, *this, kind)) return;
#endif
  switch (out.dtype().val) {
    case Dtype::Val::float32:
      conv_gemm<float, float>(g, x, w, out);
      break;
    case Dtype::Val::float64:
      conv_gemm<double, double>(g, x, w, out);
      break;
    case Dtype::Val::float16:
      conv_gemm<float16_t, float>(g, x, w, out);
      break;
    case Dtype::Val::bfloat16:
      conv_gemm<bfloat16_t, float>(g, x, w, out);
      break;
    default:
      throw std::invalid_argument("[conv] unsupported dtype " + dtype_name(out.dtype()));
  }
}

}  // namespace ember
