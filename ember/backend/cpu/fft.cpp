// CPU kernels of FFT (kissfft, single precision) and Hadamard (Walsh-Hadamard butterflies).
//
// FFT: a multi-axis transform is a sequence of 1-d transforms, each over one
// axis of a row-contiguous buffer viewed as (outer, n, inner): a "line" is one
// of the outer * inner runs of n elements with stride `inner`. Lines are split
// into chunks across the thread pool; each chunk gathers its line into a
// contiguous scratch (kissfft wants unit stride), transforms it and scatters
// the result. rfft runs its real-to-complex step first (the last axis), then
// complex transforms of the other axes in place; irfft runs the complex
// inverse transforms first, in place on a copy of its input, and its
// complex-to-real step last. kiss_fftr only handles even sizes, so odd real
// transforms go through a complex DFT (Hermitian extension for c2r). Sizes
// with a prime factor > 61 use Bluestein's algorithm instead of kissfft's
// O(n p) generic radix (n = 4093 went from 7 s to milliseconds for 256 lines).
#include <kiss_fft.h>
#include <kiss_fftr.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "ember/allocator.h"
#include "ember/backend/cpu/copy.h"
#include "ember/backend/cpu/elementwise.h"
#include "ember/primitives_fft.h"
#include "ember/scheduler.h"

static_assert(sizeof(kiss_fft_cpx) == sizeof(ember::complex64_t), "kissfft must be built with float scalars");

namespace ember {
namespace cpu {
namespace {

// ---------------------------------------------------------------- plans

// kissfft's generic radix costs O(p) per output for a prime factor p: sizes with a
// prime factor above this go through Bluestein's algorithm (a convolution done with
// fast power-of-two-ish FFTs), as pocketfft does.
constexpr int kBluesteinMinPrime = 61;
constexpr double kPi = 3.14159265358979323846;

int largest_prime_factor(int n) {
  int largest = 1;
  for (int p = 2; static_cast<int64_t>(p) * p <= n; ++p) {
    while (n % p == 0) {
      largest = p;
      n /= p;
    }
  }
  return n > 1 ? std::max(largest, n) : largest;
}

bool use_bluestein(int n) { return largest_prime_factor(n) > kBluesteinMinPrime; }

struct KissFree {
  void operator()(void* p) const { kiss_fft_free(p); }
};
using KissCfg = std::unique_ptr<std::remove_pointer_t<kiss_fft_cfg>, KissFree>;
using KissRCfg = std::unique_ptr<std::remove_pointer_t<kiss_fftr_cfg>, KissFree>;

KissCfg make_kiss(int n, bool inverse) {
  KissCfg c(kiss_fft_alloc(n, inverse, nullptr, nullptr));
  if (!c) throw std::runtime_error("[FFT] could not allocate a kissfft plan of size " + std::to_string(n));
  return c;
}

// An unnormalized complex DFT of size n (sign - forward, + inverse), for one thread at a time.
class ComplexDft {
 public:
  ComplexDft(int n, bool inverse) : n_(n) {
    if (!use_bluestein(n)) {
      direct_ = make_kiss(n, inverse);
      return;
    }
    // Bluestein: jk = (j^2 + k^2 - (k - j)^2) / 2, so X_k = w_k sum_j (x_j w_j) conj(w_{k-j}) with
    // w_t = e^{sign i pi t^2 / n}: a convolution, done with FFTs of a fast size m >= 2n - 1.
    m_ = kiss_fft_next_fast_size(2 * n - 1);
    fwd_ = make_kiss(m_, false);
    inv_ = make_kiss(m_, true);
    const double sign = inverse ? 1.0 : -1.0;
    chirp_.resize(n);
    for (int64_t t = 0; t < n; ++t) {
      // t^2 mod 2n keeps the angle accurate for large t.
      double angle = sign * kPi * static_cast<double>((t * t) % (2 * static_cast<int64_t>(n))) / n;
      chirp_[t] = {static_cast<float>(std::cos(angle)), static_cast<float>(std::sin(angle))};
    }
    // The filter conj(w_t) at t mod m for |t| < n, transformed once; 1/m of the inverse folded in.
    std::vector<kiss_fft_cpx> b(m_, kiss_fft_cpx{0.0f, 0.0f});
    for (int t = 0; t < n; ++t) {
      kiss_fft_cpx c = {chirp_[t].r / m_, -chirp_[t].i / m_};
      b[t] = c;
      if (t > 0) b[m_ - t] = c;
    }
    filter_.resize(m_);
    kiss_fft(fwd_.get(), b.data(), filter_.data());
    work_a_.resize(m_);
    work_b_.resize(m_);
  }

  // out[k] = sum_j in[j] e^{sign 2 pi i jk / n}; in and out must differ.
  void run(const kiss_fft_cpx* in, kiss_fft_cpx* out) {
    if (direct_) {
      kiss_fft(direct_.get(), in, out);
      return;
    }
    kiss_fft_cpx* a = work_a_.data();
    kiss_fft_cpx* b = work_b_.data();
    for (int j = 0; j < n_; ++j) a[j] = mul(in[j], chirp_[j]);
    std::fill(a + n_, a + m_, kiss_fft_cpx{0.0f, 0.0f});
    kiss_fft(fwd_.get(), a, b);
    for (int k = 0; k < m_; ++k) b[k] = mul(b[k], filter_[k]);
    kiss_fft(inv_.get(), b, a);
    for (int k = 0; k < n_; ++k) out[k] = mul(a[k], chirp_[k]);
  }

  // Elements held, for the cache's budget.
  size_t footprint() const { return direct_ ? static_cast<size_t>(n_) : 6 * static_cast<size_t>(m_); }

 private:
  static kiss_fft_cpx mul(kiss_fft_cpx x, kiss_fft_cpx y) { return {x.r * y.r - x.i * y.i, x.r * y.i + x.i * y.r}; }

  int n_, m_ = 0;
  KissCfg direct_, fwd_, inv_;
  std::vector<kiss_fft_cpx> chirp_, filter_, work_a_, work_b_;
};

// One transform along a line: kiss_fftr for real transforms of an even size whose half
// is fast, else a complex DFT (also for odd real sizes, through a complex line).
struct LinePlan {
  LinePlan(int n, bool inverse, bool real) {
    if (real) {
      rcfg.reset(kiss_fftr_alloc(n, inverse, nullptr, nullptr));
      if (!rcfg) throw std::runtime_error("[FFT] could not allocate a kissfft real plan of size " + std::to_string(n));
    } else {
      cdft = std::make_unique<ComplexDft>(n, inverse);
    }
  }
  size_t footprint() const { return cdft ? cdft->footprint() : 0; }
  KissRCfg rcfg;
  std::unique_ptr<ComplexDft> cdft;
};

// Plans keyed by (n, inverse, real). A plan holds scratch it writes during a transform
// (kiss_fftr's buffer, Bluestein's work arrays), so each is used by one thread at a time:
// the cache is a pool from which a chunk of lines takes plans and returns them after.
class PlanPool {
 public:
  using Key = std::tuple<int, bool, bool>;

  std::unique_ptr<LinePlan> acquire(const Key& key) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.find(key);
      if (it != free_.end() && !it->second.empty()) {
        std::unique_ptr<LinePlan> p = std::move(it->second.back());
        it->second.pop_back();
        held_ -= p->footprint() + std::get<0>(key);
        return p;
      }
    }
    auto [n, inverse, real] = key;
    return std::make_unique<LinePlan>(n, inverse, real);
  }

  // Called from destructors: never throws (a plan that cannot be kept is freed).
  void release(const Key& key, std::unique_ptr<LinePlan> p) noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    // Bounded: past kMaxHeld elements (many or huge sizes), returned plans are freed.
    size_t size = p->footprint() + std::get<0>(key);
    if (held_ + size > kMaxHeld) return;
    try {
      free_[key].push_back(std::move(p));
      held_ += size;
    } catch (...) {
    }
  }

 private:
  static constexpr size_t kMaxHeld = size_t{1} << 24;
  std::mutex mu_;
  std::map<Key, std::vector<std::unique_ptr<LinePlan>>> free_;
  size_t held_ = 0;
};

PlanPool& plan_pool() {
  static PlanPool pool;
  return pool;
}

// A plan taken from the pool for the lifetime of this handle.
class Plan {
 public:
  Plan(int n, bool inverse, bool real) : key_(n, inverse, real), p_(plan_pool().acquire(key_)) {}
  Plan(Plan&&) noexcept = default;
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
  Plan& operator=(Plan&&) = delete;
  ~Plan() {
    if (p_) plan_pool().release(key_, std::move(p_));
  }
  ComplexDft& complex() const { return *p_->cdft; }
  kiss_fftr_cfg real() const { return p_->rcfg.get(); }

 private:
  PlanPool::Key key_;
  std::unique_ptr<LinePlan> p_;
};

// ---------------------------------------------------------------- one axis

enum class Kind { C2C, R2C, C2R };

// Below about this many flops per chunk a thread hand-off costs more than it saves.
constexpr int64_t kFftGrain = 1 << 15;

// (outer, n, inner) around `axis` of a row-contiguous `shape`.
struct Lines {
  int64_t outer = 1, inner = 1;
  Lines(const Shape& shape, int axis) {
    for (int i = 0; i < axis; ++i) outer *= shape[i];
    for (size_t i = axis + 1; i < shape.size(); ++i) inner *= shape[i];
  }
  int64_t count() const { return outer * inner; }
  // Offset of element 0 of line r in an array with `n` elements along the axis.
  int64_t base(int64_t r, int64_t n) const { return (r / inner) * n * inner + r % inner; }
};

// One 1-d transform of size `nfft` along `axis`, from `src` (row-contiguous, `in_shape`)
// to `dst` (row-contiguous, in_shape with the axis resized; dst may equal src for C2C).
//   C2C: complex64 n -> complex64 n (inverse: e^{+i}, scaled by 1/n)
//   R2C: float32 n -> complex64 n / 2 + 1
//   C2R: complex64 n / 2 + 1 -> float32 n (scaled by 1/n)
void transform_axis(Kind kind, bool inverse, const void* src, void* dst, const Shape& in_shape, int axis, int nfft) {
  Lines lines(in_shape, axis);
  const int64_t n_in = in_shape[axis];
  const int64_t n_out = kind == Kind::C2C ? nfft : kind == Kind::R2C ? nfft / 2 + 1 : nfft;
  const int64_t rows = lines.count(), inner = lines.inner;
  if (rows == 0) return;
  const bool even = nfft % 2 == 0;
  // kiss_fftr runs a complex FFT of n / 2 inside: only when that one is fast.
  const bool use_fftr = kind != Kind::C2C && even && !use_bluestein(nfft / 2);
  const bool plan_inverse = kind == Kind::C2R || (kind == Kind::C2C && inverse);
  const float scale = plan_inverse ? 1.0f / static_cast<float>(nfft) : 1.0f;

  // Work per line ~ n log2 n; chunks of at least kFftGrain of it.
  int64_t work = rows * nfft * static_cast<int64_t>(std::max(1.0, std::log2(static_cast<double>(nfft))));
  int64_t nchunks = std::clamp<int64_t>(work / kFftGrain, 1, std::min<int64_t>(rows, scheduler::num_threads()));

  // Everything that may throw (plans, scratch) happens before the parallel region.
  std::vector<Plan> plans;
  plans.reserve(nchunks);
  for (int64_t c = 0; c < nchunks; ++c) plans.emplace_back(nfft, plan_inverse, use_fftr);
  std::vector<kiss_fft_cpx> cscratch(static_cast<size_t>(nchunks) * 2 * nfft);
  std::vector<float> rscratch(use_fftr ? static_cast<size_t>(nchunks) * nfft : 0);

  const auto* csrc = static_cast<const kiss_fft_cpx*>(src);
  const auto* fsrc = static_cast<const float*>(src);
  auto* cdst = static_cast<kiss_fft_cpx*>(dst);
  auto* fdst = static_cast<float*>(dst);

  scheduler::parallel_for(nchunks, 1, [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) {
      kiss_fft_cpx* a = cscratch.data() + c * 2 * nfft;
      kiss_fft_cpx* b = a + nfft;
      float* r = use_fftr ? rscratch.data() + c * nfft : nullptr;
      const Plan& plan = plans[c];
      for (int64_t row = c * rows / nchunks; row < (c + 1) * rows / nchunks; ++row) {
        const int64_t ib = lines.base(row, n_in), ob = lines.base(row, n_out);
        switch (kind) {
          case Kind::C2C: {
            for (int64_t j = 0; j < nfft; ++j) a[j] = csrc[ib + j * inner];
            plan.complex().run(a, b);
            for (int64_t j = 0; j < nfft; ++j) cdst[ob + j * inner] = {b[j].r * scale, b[j].i * scale};
            break;
          }
          case Kind::R2C: {
            if (use_fftr) {
              for (int64_t j = 0; j < nfft; ++j) r[j] = fsrc[ib + j * inner];
              kiss_fftr(plan.real(), r, b);
            } else {
              for (int64_t j = 0; j < nfft; ++j) a[j] = {fsrc[ib + j * inner], 0.0f};
              plan.complex().run(a, b);
            }
            for (int64_t j = 0; j < n_out; ++j) cdst[ob + j * inner] = b[j];
            break;
          }
          case Kind::C2R: {
            // The imaginary parts of bin 0 (and of bin n / 2 for even n) are ignored, as in NumPy.
            if (use_fftr) {
              for (int64_t j = 0; j < n_in; ++j) a[j] = csrc[ib + j * inner];
              kiss_fftri(plan.real(), a, r);
              for (int64_t j = 0; j < nfft; ++j) fdst[ob + j * inner] = r[j] * scale;
            } else {
              // Odd n: the full Hermitian spectrum X[n - k] = conj(X[k]).
              a[0] = {csrc[ib].r, 0.0f};
              for (int64_t k = 1; k < n_in; ++k) {
                kiss_fft_cpx x = csrc[ib + k * inner];
                a[k] = x;
                a[nfft - k] = {x.r, -x.i};
              }
              plan.complex().run(a, b);
              for (int64_t j = 0; j < nfft; ++j) fdst[ob + j * inner] = b[j].r * scale;
            }
            break;
          }
        }
      }
    }
  });
}

}  // namespace
}  // namespace cpu

void FFT::eval_cpu(const std::vector<array>& inputs, array& out) {
  // x: complex64 (fft, ifft, irfft) or float32 (rfft), cropped / padded by the op;
  // out: x's shape with the last of axes_ resized for rfft / irfft.
  using namespace cpu;
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  array in = ensure_row_contiguous(inputs[0]);
  if (in.size() == 0) return;
  const int last = axes_.back();
  if (!real_) {
    std::memcpy(out.data<complex64_t>(), in.data<complex64_t>(), out.nbytes());
    for (int ax : axes_) {
      transform_axis(Kind::C2C, inverse_, out.data<complex64_t>(), out.data<complex64_t>(), out.shape(), ax,
                     out.shape(ax));
    }
  } else if (!inverse_) {
    transform_axis(Kind::R2C, false, in.data<float>(), out.data<complex64_t>(), in.shape(), last, in.shape(last));
    for (int ax : axes_) {
      if (ax != last) {
        transform_axis(Kind::C2C, false, out.data<complex64_t>(), out.data<complex64_t>(), out.shape(), ax,
                       out.shape(ax));
      }
    }
  } else {
    std::vector<complex64_t> work(in.data<complex64_t>(), in.data<complex64_t>() + in.size());
    for (int ax : axes_) {
      if (ax != last) transform_axis(Kind::C2C, true, work.data(), work.data(), in.shape(), ax, in.shape(ax));
    }
    transform_axis(Kind::C2R, true, work.data(), out.data<float>(), in.shape(), last, out.shape(last));
  }
}

// ---------------------------------------------------------------- Hadamard

namespace cpu {
namespace {

// In-place x @ H_p of one row, p a power of two: log2(p) butterfly passes.
template <class C>
void sylvester_row(C* x, int64_t p) {
  for (int64_t h = 1; h < p; h *= 2) {
    for (int64_t i = 0; i < p; i += 2 * h) {
      for (int64_t j = i; j < i + h; ++j) {
        C a = x[j], b = x[j + h];
        x[j] = a + b;
        x[j + h] = a - b;
      }
    }
  }
}

// The symmetric Hadamard matrix of order m = 2(q + 1) from Paley's second construction,
// q = 5, 9, 13 (q = 1 mod 4): with the quadratic character chi of GF(q) and the
// conference matrix C = [[0, 1...], [1..., chi(x - y)]], H = C (x) [[1, 1], [1, -1]] +
// I (x) [[1, -1], [-1, -1]]. GF(9) is GF(3)[i] with i^2 = -1, element a + 3b = a + b i.
std::vector<int8_t> paley_matrix(int m) {
  const int q = m / 2 - 1;
  auto sub = [q](int x, int y) {
    if (q != 9) return ((x - y) % q + q) % q;
    return ((x % 3 - y % 3 + 3) % 3) + 3 * ((x / 3 - y / 3 + 3) % 3);
  };
  auto mul = [q](int x, int y) {
    if (q != 9) return x * y % q;
    int a = x % 3, b = x / 3, c = y % 3, d = y / 3;
    return ((a * c - b * d) % 3 + 3) % 3 + 3 * ((a * d + b * c) % 3);
  };
  std::vector<bool> square(q, false);
  for (int x = 1; x < q; ++x) square[mul(x, x)] = true;
  auto chi = [&](int z) { return z == 0 ? 0 : square[z] ? 1 : -1; };
  const int c = q + 1;
  auto conf = [&](int r, int k) {
    if (r == 0 || k == 0) return r == k ? 0 : 1;
    return chi(sub(r - 1, k - 1));
  };
  std::vector<int8_t> h(static_cast<size_t>(m) * m);
  for (int r = 0; r < c; ++r) {
    for (int k = 0; k < c; ++k) {
      int v = conf(r, k);
      int8_t blk[2][2] = {{1, -1}, {-1, -1}};
      if (v != 0) {
        blk[0][0] = blk[0][1] = blk[1][0] = static_cast<int8_t>(v);
        blk[1][1] = static_cast<int8_t>(-v);
      }
      for (int i = 0; i < 2; ++i) {
        for (int j = 0; j < 2; ++j) h[(2 * r + i) * m + 2 * k + j] = blk[i][j];
      }
    }
  }
  return h;
}

const std::vector<int8_t>& paley_hadamard(int m) {
  static const std::vector<int8_t> h12 = paley_matrix(12), h20 = paley_matrix(20), h28 = paley_matrix(28);
  return m == 12 ? h12 : m == 20 ? h20 : h28;
}

// In-place scale * (x @ (H_m (x) H_p)) of one row of n = m * p: the butterflies on each
// block of p, then H_m across the blocks (element b of every block at once).
template <class C>
void hadamard_row(C* x, int64_t n, int m, C scale) {
  const int64_t p = n / m;
  for (int a = 0; a < m; ++a) sylvester_row(x + a * p, p);
  if (m > 1) {
    const int8_t* h = paley_hadamard(m).data();
    C col[28], res[28];
    for (int64_t b = 0; b < p; ++b) {
      for (int a = 0; a < m; ++a) col[a] = x[a * p + b];
      for (int a = 0; a < m; ++a) {
        C acc = 0;
        for (int k = 0; k < m; ++k) acc += h[k * m + a] > 0 ? col[k] : -col[k];
        res[a] = acc;
      }
      for (int a = 0; a < m; ++a) x[a * p + b] = res[a];
    }
  }
  for (int64_t j = 0; j < n; ++j) x[j] *= scale;
}

}  // namespace
}  // namespace cpu

void Hadamard::eval_cpu(const std::vector<array>& inputs, array& out) {
  // x: (..., n) floating, n = m * 2^k -> out: (..., n), same dtype.
  using namespace cpu;
  out.set_data(allocator::malloc(out.nbytes()));
  if (out.size() == 0) return;
  copy_to_contiguous(inputs[0], out);
  const int64_t n = out.shape(-1), rows = static_cast<int64_t>(out.size()) / n;
  const int m = hadamard_base(n);
  const int64_t log_n = std::max<int64_t>(1, static_cast<int64_t>(std::log2(static_cast<double>(n))));
  const int64_t grain = std::max<int64_t>(1, kFftGrain / (n * log_n));
  dispatch_dtype(out.dtype(), [&](auto t) {
    using T = decltype(t);
    using C = compute_t<T>;
    if constexpr (std::is_floating_point_v<C>) {
      T* x = out.data<T>();
      const C scale = static_cast<C>(scale_);
      if constexpr (std::is_same_v<T, C>) {
        scheduler::parallel_for(rows, grain, [&](int64_t b, int64_t e) {
          for (int64_t r = b; r < e; ++r) hadamard_row<C>(x + r * n, n, m, scale);
        });
      } else {
        // Half types: each row through a float scratch (allocated before the parallel region).
        int64_t nchunks = std::max<int64_t>(1, std::min<int64_t>(rows, scheduler::num_threads()));
        std::vector<C> scratch(static_cast<size_t>(nchunks * n));
        scheduler::parallel_for(nchunks, 1, [&](int64_t cb, int64_t ce) {
          for (int64_t c = cb; c < ce; ++c) {
            C* buf = scratch.data() + c * n;
            for (int64_t r = c * rows / nchunks; r < (c + 1) * rows / nchunks; ++r) {
              for (int64_t j = 0; j < n; ++j) buf[j] = static_cast<C>(x[r * n + j]);
              hadamard_row<C>(buf, n, m, scale);
              for (int64_t j = 0; j < n; ++j) x[r * n + j] = static_cast<T>(buf[j]);
            }
          }
        });
      }
    } else {
      throw std::invalid_argument(std::string("[Hadamard] unsupported dtype ") + dtype_name(out.dtype()));
    }
  });
}

}  // namespace ember
