// CPU kernels of the fused transformer ops (ember/fast.h). Half inputs compute in float32,
// float64 in float64, like the fallbacks in ops_fast.cpp that the tests hold them to.

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "ember/allocator.h"
#include "ember/backend/cpu/copy.h"
#include "ember/backend/cpu/elementwise.h"
#include "ember/backend/cpu/gemm.h"
#include "ember/backend/cpu/simd.h"
#include "ember/fast.h"
#include "ember/primitives_fast.h"
#include "ember/scheduler.h"

namespace ember {

namespace {

// The type a kernel accumulates in for storage type T.
template <class T>
using Acc = std::conditional_t<std::is_same_v<T, double>, double, float>;

// Rows of a row-contiguous (..., D) array, split over the thread pool.
template <class F>
void for_rows(int64_t rows, int64_t d, F&& f) {
  int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(d, 1));
  scheduler::parallel_for(rows, grain, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) f(r);
  });
}

}  // namespace

void RMSNorm::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  // x: (..., D), w: (D,) -> (..., D)
  array x = cpu::ensure_row_contiguous(inputs[0]);
  std::optional<array> w;
  if (has_weight_) w = cpu::ensure_row_contiguous(inputs[1]);
  array& out = outputs[0];
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  int64_t D = x.shape(-1), rows = static_cast<int64_t>(x.size()) / D;
  cpu::dispatch_float(x.dtype(), name(), [&](auto tag) {
    using T = decltype(tag);
    using C = Acc<T>;
    const T* src = x.data<T>();
    const T* wp = w ? w->data<T>() : nullptr;
    T* dst = out.data<T>();
    C eps = eps_;
    for_rows(rows, D, [&](int64_t r) {
      const T* xr = src + r * D;
      T* yr = dst + r * D;
      C ss = 0;
      for (int64_t i = 0; i < D; ++i) ss += static_cast<C>(xr[i]) * static_cast<C>(xr[i]);
      C scale = C(1) / std::sqrt(ss / static_cast<C>(D) + eps);
      // Rounded to T before the weight, as the fallback (and Hugging Face) do.
      if (wp) {
        for (int64_t i = 0; i < D; ++i)
          yr[i] = T(static_cast<C>(T(static_cast<C>(xr[i]) * scale)) * static_cast<C>(wp[i]));
      } else {
        for (int64_t i = 0; i < D; ++i) yr[i] = T(static_cast<C>(xr[i]) * scale);
      }
    });
  });
}

void LayerNorm::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  // x: (..., D), w, b: (D,) -> (..., D)
  array x = cpu::ensure_row_contiguous(inputs[0]);
  std::optional<array> w, b;
  size_t k = 1;
  if (has_weight_) w = cpu::ensure_row_contiguous(inputs[k++]);
  if (has_bias_) b = cpu::ensure_row_contiguous(inputs[k]);
  array& out = outputs[0];
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  int64_t D = x.shape(-1), rows = static_cast<int64_t>(x.size()) / D;
  cpu::dispatch_float(x.dtype(), name(), [&](auto tag) {
    using T = decltype(tag);
    using C = Acc<T>;
    const T* src = x.data<T>();
    const T* wp = w ? w->data<T>() : nullptr;
    const T* bp = b ? b->data<T>() : nullptr;
    T* dst = out.data<T>();
    C eps = eps_;
    for_rows(rows, D, [&](int64_t r) {
      const T* xr = src + r * D;
      T* yr = dst + r * D;
      C sum = 0;
      for (int64_t i = 0; i < D; ++i) sum += static_cast<C>(xr[i]);
      C mean = sum / static_cast<C>(D), var = 0;
      for (int64_t i = 0; i < D; ++i) {
        C c = static_cast<C>(xr[i]) - mean;
        var += c * c;
      }
      C scale = C(1) / std::sqrt(var / static_cast<C>(D) + eps);
      for (int64_t i = 0; i < D; ++i) {
        C y = static_cast<C>(T((static_cast<C>(xr[i]) - mean) * scale));
        if (wp) y = static_cast<C>(T(y * static_cast<C>(wp[i])));
        if (bp) y = y + static_cast<C>(bp[i]);
        yr[i] = T(y);
      }
    });
  });
}

void RoPE::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  // x: (..., T, D) -> (..., T, D); features [0, dims) rotate in pairs, the rest pass through.
  array x = cpu::ensure_row_contiguous(inputs[0]);
  array& out = outputs[0];
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  int64_t T = x.shape(-2), D = x.shape(-1), rows = static_cast<int64_t>(x.size()) / D;
  int half = dims_ / 2;
  cpu::dispatch_float(x.dtype(), name(), [&](auto tag) {
    using S = decltype(tag);
    using C = Acc<S>;
    // cos/sin per (position, pair), computed as the fallback does: angle = (pos * scale) * inv.
    std::vector<C> inv(half);
    if (has_freqs_) {
      array f = cpu::ensure_row_contiguous(inputs[1]);
      const C* fp = f.data<C>();
      for (int i = 0; i < half; ++i) inv[i] = C(1) / static_cast<C>(fp[i]);
    } else {
      C step = static_cast<C>(-std::log(static_cast<double>(base_)) / half);
      for (int i = 0; i < half; ++i) inv[i] = std::exp(static_cast<C>(i) * step);
    }
    // One table of T positions per start: offset(), or each of the offsets input's values.
    std::vector<int64_t> starts{offset_};
    if (has_offsets_) {
      array o = cpu::ensure_row_contiguous(inputs.back());
      starts.assign(o.data<int32_t>(), o.data<int32_t>() + o.size());
    }
    const int64_t n_starts = static_cast<int64_t>(starts.size());
    // Rows per start: all of them, or those of one index of axis 0.
    const int64_t rows_per_start = rows / n_starts;
    std::vector<C> cs(n_starts * T * half), sn(n_starts * T * half);
    for (int64_t k = 0; k < n_starts; ++k) {
      for (int64_t t = 0; t < T; ++t) {
        C pos = static_cast<C>(starts[k] + t) * static_cast<C>(scale_);
        for (int i = 0; i < half; ++i) {
          C theta = pos * inv[i];
          cs[(k * T + t) * half + i] = std::cos(theta);
          sn[(k * T + t) * half + i] = std::sin(theta);
        }
      }
    }
    const S* src = x.data<S>();
    S* dst = out.data<S>();
    int dims = dims_;
    bool trad = traditional_;
    for_rows(rows, D, [&](int64_t r) {
      const S* xr = src + r * D;
      S* yr = dst + r * D;
      const int64_t at = (r / rows_per_start * T + r % T) * half;
      const C* c = cs.data() + at;
      const C* s = sn.data() + at;
      for (int i = 0; i < half; ++i) {
        int64_t a = trad ? 2 * i : i, b = trad ? 2 * i + 1 : i + half;
        C x1 = static_cast<C>(xr[a]), x2 = static_cast<C>(xr[b]);
        yr[a] = S(x1 * c[i] - x2 * s[i]);
        yr[b] = S(x1 * s[i] + x2 * c[i]);
      }
      for (int64_t i = dims; i < D; ++i) yr[i] = xr[i];
    });
  });
}

namespace {

// C = alpha * A @ op(B) for row-major blocks, in float or double.
template <class C>
void gemm(bool trans_b, int M, int N, int K, C alpha, const C* A, int lda, const C* B, int ldb, C* out, int ldc) {
  cpu::gemm<C>(false, trans_b, M, N, K, alpha, A, lda, B, ldb, C(0), out, ldc);
}

// softmax of one row of scores in place.
template <class C>
void softmax_row(C* s, int64_t n) {
  C m = *std::max_element(s, s + n), sum = 0;
  if constexpr (std::is_same_v<C, float>) {
    // The vectorized exp: a 512-token prefill spends a tenth of its attention time here with
    // std::exp, which also takes a slow path for every masked (-inf) score.
    for (int64_t j = 0; j < n; ++j) s[j] -= m;
    cpu::simd::exp_f32(s, s, n);
    for (int64_t j = 0; j < n; ++j) sum += s[j];
  } else {
    for (int64_t j = 0; j < n; ++j) sum += (s[j] = std::exp(s[j] - m));
  }
  C r = C(1) / sum;
  for (int64_t j = 0; j < n; ++j) s[j] *= r;
}

// Copies a rows x cols block of T (row stride ld) into contiguous C.
template <class T, class C>
void load_block(const T* src, int64_t ld, int64_t rows, int64_t cols, C* dst) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[r * cols + c] = static_cast<C>(src[r * ld + c]);
}

}  // namespace

void ScaledDotProductAttention::eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) {
  // q: (B, Hq, Tq, D), k: (B, Hkv, Tk, D), v: (B, Hkv, Tk, Dv), mask: (B, Hq, Tq, Tk) view
  // -> out: (B, Hq, Tq, Dv). Rows of q, k, v must be contiguous (a KV cache slice is: only
  // its T stride differs); anything else is copied first.
  auto rows_contiguous = [](const array& a) {
    bool ok = a.strides().back() == 1 && (a.shape(-2) == 1 || a.strides()[2] >= a.shape(-1));
    return ok ? a : cpu::ensure_row_contiguous(a);
  };
  array q = rows_contiguous(inputs[0]), k = rows_contiguous(inputs[1]), v = rows_contiguous(inputs[2]);
  array& out = outputs[0];
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  int B = q.shape(0), Hq = q.shape(1), Tq = q.shape(2), D = q.shape(3);
  int Hkv = k.shape(1), Tk = k.shape(2), Dv = v.shape(3), rep = Hq / Hkv;
  const Strides &qs = q.strides(), &ks = k.strides(), &vs = v.strides();
  const array* mask = has_mask_ ? &inputs[3] : nullptr;
  cpu::dispatch_float(q.dtype(), name(), [&](auto tag) {
    using T = decltype(tag);
    using C = Acc<T>;
    const C lowest = std::numeric_limits<C>::lowest();
    const T *qp = q.data<T>(), *kp = k.data<T>(), *vp = v.data<T>();
    T* op = out.data<T>();
    // Adds the mask (or the causal cut) to the scores of query row i of head (b, h): the first
    // n keys (a causal block may stop before Tk).
    auto apply_mask = [&](C* s, int n, int b, int h, int i) {
      if (causal_) {
        for (int j = std::max(0, i + Tk - Tq + 1); j < n; ++j) s[j] = lowest;
      } else if (mask) {
        const Strides& ms = mask->strides();
        int64_t base = b * ms[0] + h * ms[1] + i * ms[2];
        if (mask->dtype() == bool_) {
          const bool* m = mask->data<bool>() + base;
          for (int j = 0; j < Tk; ++j)
            if (!m[j * ms[3]]) s[j] = lowest;
        } else {
          const C* m = mask->data<C>() + base;
          for (int j = 0; j < Tk; ++j) s[j] += m[j * ms[3]];
        }
      }
    };
    C scale = static_cast<C>(scale_);
    if (Tq <= 4 || (causal_ && std::is_same_v<T, float> && Tk <= fast::kRowExactKeys)) {
      // Decode: a few query rows against a long cache; dot products straight from the cache,
      // one (b, head, row) per task (the work is reading K and V once). Also a float32 causal
      // prefill over keys that stay in L2 (a head's K and V read again for each row): each row
      // then takes exactly the keys up to its own position, so its arithmetic does not depend
      // on how many rows the pass has (a prompt prefilled whole, in steps, or after a prefix
      // taken from a cache give the same bits), which the blocked BLAS products below do not
      // promise. pp512 attention, SmolLM2: 6.5 -> 8.0-8.7 ms per layer.
      int64_t tasks = static_cast<int64_t>(B) * Hq * Tq;
      scheduler::parallel_for(tasks, 1, [&](int64_t t0, int64_t t1) {
        std::vector<C> s(Tk), acc(Dv), qrow(D);
        for (int64_t t = t0; t < t1; ++t) {
          int i = static_cast<int>(t % Tq), h = static_cast<int>((t / Tq) % Hq), b = static_cast<int>(t / Tq / Hq);
          const T* qr = qp + b * qs[0] + h * qs[1] + i * qs[2];
          const T* kb = kp + b * ks[0] + (h / rep) * ks[1];
          const T* vb = vp + b * vs[0] + (h / rep) * vs[1];
          for (int d = 0; d < D; ++d) qrow[d] = static_cast<C>(qr[d]);
          // A boolean mask's leading masked keys are skipped (a left-padded batch of caches),
          // so a row computes exactly what it would without them.
          int j0 = 0;
          if (mask && mask->dtype() == bool_) {
            const Strides& ms = mask->strides();
            const bool* m = mask->data<bool>() + b * ms[0] + h * ms[1] + i * ms[2];
            while (j0 < Tk && !m[j0 * ms[3]]) ++j0;
            if (j0 == Tk) j0 = 0;  // nothing attended: as without the skip
          }
          if constexpr (std::is_same_v<T, float>) {
            // float32 (what the LLM runtime computes in): the runtime-dispatched SIMD kernels,
            // over the first n keys (a causal row's: up to its position; a row that sees none
            // takes all, masked).
            const int seen = i + Tk - Tq + 1;
            const int n = causal_ && seen > 0 ? std::min(seen, Tk) : Tk;
            cpu::simd::scores_f32(qr, D, kb + j0 * ks[2], ks[2], n - j0, scale, s.data() + j0);
            apply_mask(s.data(), n, b, h, i);
            softmax_row(s.data() + j0, n - j0);
            cpu::simd::weighted_sum_f32(s.data() + j0, n - j0, vb + j0 * vs[2], vs[2], Dv,
                                        op + ((static_cast<int64_t>(b) * Hq + h) * Tq + i) * Dv);
            continue;
          }
          for (int j = j0; j < Tk; ++j) {
            // Eight partial sums, which the compiler keeps in one vector (a single running sum
            // cannot be reordered, so it stays scalar).
            const T* kr = kb + j * ks[2];
            C part[8] = {};
            int d = 0;
            for (; d + 8 <= D; d += 8) {
              for (int u = 0; u < 8; ++u) part[u] += qrow[d + u] * static_cast<C>(kr[d + u]);
            }
            C dot = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
            for (; d < D; ++d) dot += qrow[d] * static_cast<C>(kr[d]);
            s[j] = dot * scale;
          }
          apply_mask(s.data(), Tk, b, h, i);
          softmax_row(s.data() + j0, Tk - j0);
          std::fill(acc.begin(), acc.end(), C(0));
          for (int j = j0; j < Tk; ++j) {
            const T* vr = vb + j * vs[2];
            C p = s[j];
            for (int d = 0; d < Dv; ++d) acc[d] += p * static_cast<C>(vr[d]);
          }
          T* orow = op + ((static_cast<int64_t>(b) * Hq + h) * Tq + i) * Dv;
          for (int d = 0; d < Dv; ++d) orow[d] = T(acc[d]);
        }
      });
      return;
    }
    // Prefill: per key/value head, the `rep` query heads sharing it together, position-major
    // (row i * rep + r is position i of head g * rep + r), in blocks of kBlock positions: two
    // BLAS products around a row softmax per block. A causal block takes only the keys its last
    // position sees, which halves the work of a prompt's square. K and V are read (converted)
    // once per group.
    constexpr int kBlock = 64;
    const int64_t rows_max = static_cast<int64_t>(rep) * std::min(Tq, kBlock);
    std::vector<C> qbuf(static_cast<size_t>(rep) * Tq * D), kbuf, vbuf, sc(rows_max * Tk),
        ob(static_cast<size_t>(rep) * Tq * Dv);
    for (int b = 0; b < B; ++b) {
      for (int g = 0; g < Hkv; ++g) {
        for (int r = 0; r < rep; ++r) {
          const T* src = qp + b * qs[0] + (g * rep + r) * qs[1];
          for (int i = 0; i < Tq; ++i) {
            C* dst = qbuf.data() + (static_cast<int64_t>(i) * rep + r) * D;
            for (int d = 0; d < D; ++d) dst[d] = static_cast<C>(src[i * qs[2] + d]);
          }
        }
        const T* kb = kp + b * ks[0] + g * ks[1];
        const T* vb = vp + b * vs[0] + g * vs[1];
        const C *kc, *vc;
        int ldk, ldv;
        if constexpr (std::is_same_v<T, C>) {
          kc = kb, vc = vb;
          ldk = Tk == 1 ? D : static_cast<int>(ks[2]);
          ldv = Tk == 1 ? Dv : static_cast<int>(vs[2]);
        } else {
          kbuf.resize(static_cast<size_t>(Tk) * D);
          vbuf.resize(static_cast<size_t>(Tk) * Dv);
          load_block(kb, ks[2], Tk, D, kbuf.data());
          load_block(vb, vs[2], Tk, Dv, vbuf.data());
          kc = kbuf.data(), vc = vbuf.data(), ldk = D, ldv = Dv;
        }
        for (int i0 = 0; i0 < Tq; i0 += kBlock) {
          const int i1 = std::min(Tq, i0 + kBlock), rows = (i1 - i0) * rep;
          // Keys of this block: all, or up to what its last position sees (when that is any).
          int n = causal_ ? std::min(Tk, i1 + Tk - Tq) : Tk;
          if (n <= 0) n = Tk;
          const C* qb = qbuf.data() + static_cast<int64_t>(i0) * rep * D;
          gemm<C>(true, rows, n, D, scale, qb, D, kc, std::max(ldk, 1), sc.data(), n);
          scheduler::parallel_for(rows, 16, [&](int64_t r0, int64_t r1) {
            for (int64_t r = r0; r < r1; ++r) {
              apply_mask(sc.data() + r * n, n, b, g * rep + static_cast<int>(r % rep), i0 + static_cast<int>(r / rep));
              softmax_row(sc.data() + r * n, n);
            }
          });
          gemm<C>(false, rows, Dv, n, C(1), sc.data(), n, vc, std::max(ldv, 1),
                  ob.data() + static_cast<int64_t>(i0) * rep * Dv, Dv);
        }
        for (int r = 0; r < rep; ++r) {
          T* dst = op + ((static_cast<int64_t>(b) * Hq + g * rep + r) * Tq) * Dv;
          for (int i = 0; i < Tq; ++i) {
            const C* src = ob.data() + (static_cast<int64_t>(i) * rep + r) * Dv;
            for (int d = 0; d < Dv; ++d) dst[static_cast<int64_t>(i) * Dv + d] = T(src[d]);
          }
        }
      }
    }
  });
}

}  // namespace ember
