#include "ember/backend/cuda/random_scan_codegen.h"

#include <algorithm>

#include "ember/backend/cuda/jit.h"

namespace ember::gpu::rs {

namespace {

// ------------------------------------------------------------------ device library
// The kernels as device templates over the prelude (jit::prelude). The scan functors
// follow backend/cpu/reduce_ops.h and cpu/scan.cpp: the same identities, NaN rules and
// wrap-around, with float16/bfloat16 accumulating in float (compute_t) and rounded
// only when stored, as the CPU does.
const char* kKernels = R"ember_src(
namespace ember {

// ------------------------------------------------------------------ RandomBits

struct BitsArgs {
  int64_t num_keys;
  int64_t key_stride;
  int64_t word_stride;
  int64_t bytes_per_key;
};

// Random123's threefry2x32 with 20 rounds (random::detail::threefry2x32 on the CPU).
__device__ __forceinline__ uint32_t rotl32(uint32_t x, uint32_t r) { return (x << r) | (x >> (32u - r)); }
__device__ __forceinline__ void threefry2x32(uint32_t k0, uint32_t k1, uint32_t c0, uint32_t c1, uint32_t* o0,
                                             uint32_t* o1) {
  const uint32_t ks[3] = {k0, k1, k0 ^ k1 ^ 0x1BD11BDAu};
  const uint32_t rot[2][4] = {{13u, 15u, 26u, 6u}, {17u, 29u, 16u, 24u}};
  uint32_t x0 = c0 + ks[0];
  uint32_t x1 = c1 + ks[1];
#pragma unroll
  for (uint32_t i = 0; i < 5; ++i) {
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      x0 += x1;
      x1 = rotl32(x1, rot[i % 2][j]);
      x1 ^= x0;
    }
    x0 += ks[(i + 1) % 3];
    x1 += ks[(i + 2) % 3] + i + 1;
  }
  *o0 = x0;
  *o1 = x1;
}

// Word w of a key's block, little-endian; a trailing partial word keeps its low bytes.
// `aligned`: bytes_per_key % 4 == 0, so every block starts on a word and whole words fit.
__device__ __forceinline__ void put_word(uint8_t* blk, int64_t bytes_per_key, int64_t w, uint32_t v, bool aligned) {
  if (aligned) {
    reinterpret_cast<uint32_t*>(blk)[w] = v;
    return;
  }
  int64_t n = bytes_per_key - 4 * w;
  if (n > 4) n = 4;
  for (int64_t b = 0; b < n; ++b) blk[4 * w + b] = static_cast<uint8_t>(v >> (8 * b));
}

// out: num_keys blocks of bytes_per_key bytes, each W = ceil(bytes / 4) words. With
// H = W / 2, odd = W % 2, hash j < H fills words (j, j + H + odd) from counters
// (j, j + H + odd); for odd W, hash H fills word H from counters (H, 0). One thread per
// hash: consecutive threads write consecutive words.
__device__ __forceinline__ void random_bits(const uint32_t* keys, uint8_t* out, const BitsArgs& a) {
  const int64_t words = (a.bytes_per_key + 3) / 4, half = words / 2, odd = words % 2, per_key = half + odd;
  const bool aligned = a.bytes_per_key % 4 == 0;
  const int64_t items = a.num_keys * per_key;
  for (int64_t item = global_thread(); item < items; item += grid_threads()) {
    const int64_t k = item / per_key, j = item - k * per_key;
    const uint32_t k0 = keys[k * a.key_stride], k1 = keys[k * a.key_stride + a.word_stride];
    uint8_t* blk = out + k * a.bytes_per_key;
    uint32_t x0, x1;
    if (j < half) {
      threefry2x32(k0, k1, static_cast<uint32_t>(j), static_cast<uint32_t>(j + half + odd), &x0, &x1);
      put_word(blk, a.bytes_per_key, j, x0, aligned);
      put_word(blk, a.bytes_per_key, j + half + odd, x1, aligned);
    } else {
      threefry2x32(k0, k1, static_cast<uint32_t>(half), 0u, &x0, &x1);
      put_word(blk, a.bytes_per_key, half, x0, aligned);
    }
  }
}

// ------------------------------------------------------------------ Scan

struct ScanArgs {
  int64_t outer, n, inner;
  int64_t s_outer, s_n, s_inner;
  int32_t reverse, inclusive;
};

template <class A>
__device__ inline A lowest_value() {
  if constexpr (is_same_v<A, float>) {
    return __int_as_float(static_cast<int>(0xff800000u));
  } else if constexpr (is_same_v<A, double>) {
    return __longlong_as_double(static_cast<long long>(0xfff0000000000000ull));
  } else if constexpr (is_same_v<A, bool>) {
    return false;
  } else if constexpr (is_signed_int_v<A>) {
    return static_cast<A>(static_cast<make_unsigned_t<A>>(make_unsigned_t<A>(1) << (sizeof(A) * 8 - 1)));
  } else {
    return A(0);
  }
}
template <class A>
__device__ inline A highest_value() {
  if constexpr (is_same_v<A, float>) {
    return __int_as_float(0x7f800000);
  } else if constexpr (is_same_v<A, double>) {
    return __longlong_as_double(0x7ff0000000000000ll);
  } else if constexpr (is_same_v<A, bool>) {
    return true;
  } else if constexpr (is_signed_int_v<A>) {
    return static_cast<A>(~lowest_value<A>());
  } else {
    return static_cast<A>(~A(0));
  }
}

// Each op: identity<A>() and op(a, x), a the earlier (accumulated) value in scan order.
// Integer + and * wrap; max/min keep the earlier of equal values and let nan through.
struct ScanSum {
  template <class A>
  __device__ static A identity() { return A(0); }
  template <class A>
  __device__ A operator()(A a, A x) const {
    if constexpr (is_integral_v<A>) {
      return static_cast<A>(static_cast<wrap_t<A>>(a) + static_cast<wrap_t<A>>(x));
    } else {
      return a + x;
    }
  }
};
struct ScanProd {
  template <class A>
  __device__ static A identity() { return A(1); }
  template <class A>
  __device__ A operator()(A a, A x) const {
    if constexpr (is_integral_v<A>) {
      return static_cast<A>(static_cast<wrap_t<A>>(a) * static_cast<wrap_t<A>>(x));
    } else {
      return a * x;
    }
  }
};
struct ScanMax {
  template <class A>
  __device__ static A identity() { return lowest_value<A>(); }
  template <class A>
  __device__ A operator()(A a, A x) const {
    if constexpr (is_float_v<A>) {
      return (x > a || x != x) ? x : a;
    } else {
      return x > a ? x : a;
    }
  }
};
struct ScanMin {
  template <class A>
  __device__ static A identity() { return highest_value<A>(); }
  template <class A>
  __device__ A operator()(A a, A x) const {
    if constexpr (is_float_v<A>) {
      return (x < a || x != x) ? x : a;
    } else {
      return x < a ? x : a;
    }
  }
};
// log(exp(a) + exp(x)) without overflow; -inf is the identity, nan propagates.
struct ScanLogAddExp {
  template <class A>
  __device__ static A identity() { return lowest_value<A>(); }
  template <class A>
  __device__ A operator()(A a, A x) const {
    if (a != a || x != x) return a + x;
    A m = a > x ? a : x;
    A d = a > x ? x - a : a - x;  // <= 0, or nan when both are the same infinity
    if (isinf(m)) return m;
    return m + log1p(exp(d));
  }
};

// __shfl_up_sync has no 8- or 16-bit forms: those move as int.
template <class A>
__device__ __forceinline__ A shfl_up_acc(A v, unsigned d) {
  if constexpr (sizeof(A) < 4) {
    return static_cast<A>(__shfl_up_sync(0xffffffffu, static_cast<int>(v), d));
  } else {
    return __shfl_up_sync(0xffffffffu, v, d);
  }
}

template <class A, class Op>
__device__ __forceinline__ A warp_inclusive_scan(A v, Op op, int lane) {
#pragma unroll
  for (int d = 1; d < 32; d <<= 1) {
    A y = shfl_up_acc(v, d);
    if (lane >= d) v = op(y, v);
  }
  return v;
}

// Exclusive scan of v over the block (blockDim.x a multiple of 32): returns this thread's
// prefix (the identity for thread 0) and the block's total in *total. Every thread of the
// block calls it; it ends with a barrier, so it may be called again at once.
template <class A, class Op>
__device__ A block_exclusive_scan(A v, Op op, A* total) {
  __shared__ A warp_totals[32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  const A id = Op::template identity<A>();
  A incl = warp_inclusive_scan(v, op, lane);
  A excl = shfl_up_acc(incl, 1u);
  if (lane == 31) warp_totals[warp] = incl;
  __syncthreads();
  if (warp == 0) {
    A t = lane < nwarps ? warp_totals[lane] : id;
    t = warp_inclusive_scan(t, op, lane);
    if (lane < nwarps) warp_totals[lane] = t;
  }
  __syncthreads();
  A prefix = warp > 0 ? warp_totals[warp - 1] : id;
  *total = warp_totals[nwarps - 1];
  __syncthreads();
  return lane > 0 ? op(prefix, excl) : prefix;
}

// in: (outer, n, inner), element (o, i, j) at in[o * s_outer + i * s_n + j * s_inner];
// out: (outer, n, inner) row-major. Each (o, j) is a row of n elements (contiguous when
// inner == 1 and s_n == 1; else strided: few long columns, where one thread per column
// would leave the GPU idle). One block per row (grid-stride over rows). Each chunk of blockDim.x * N elements in scan
// order gives thread t the N consecutive positions t*N..t*N+N-1: a sequential scan of
// those, a block-wide exclusive scan of the thread totals, then the carry of the earlier
// chunks in front. Positions past the row hold the identity.
template <int N, class T, class Op>
__device__ void scan_row(const T* in, T* out, const ScanArgs& a) {
  using A = compute_t<T>;
  const Op op{};
  const A id = Op::template identity<A>();
  const int64_t n = a.n, inner = a.inner, chunk = static_cast<int64_t>(blockDim.x) * N;
  for (int64_t r = blockIdx.x; r < a.outer * inner; r += gridDim.x) {
    const int64_t o = r / inner, j = r - o * inner;
    const T* x = in + o * a.s_outer + j * a.s_inner;
    T* y = out + o * n * inner + j;
    A carry = id;
    for (int64_t base = 0; base < n; base += chunk) {
      const int64_t p0 = base + static_cast<int64_t>(threadIdx.x) * N;
      A v[N];
#pragma unroll
      for (int k = 0; k < N; ++k) {
        const int64_t p = p0 + k;
        A xv = id;
        if (p < n) xv = cast_to<A>(x[(a.reverse ? n - 1 - p : p) * a.s_n]);
        v[k] = k == 0 ? xv : op(v[k - 1], xv);
      }
      A total;
      const A prefix = op(carry, block_exclusive_scan(v[N - 1], op, &total));
#pragma unroll
      for (int k = 0; k < N; ++k) {
        const int64_t p = p0 + k;
        if (p < n) {
          A o = a.inclusive ? op(prefix, v[k]) : (k == 0 ? prefix : op(prefix, v[k - 1]));
          y[(a.reverse ? n - 1 - p : p) * inner] = cast_to<T>(o);
        }
      }
      carry = op(carry, total);
    }
  }
}

// in: (outer, n, inner) with strides (s_outer, s_n, s_inner); out: (outer, n, inner) row-major.
// One thread per (outer, inner) column walks the axis in scan order, accumulating exactly as
// the CPU's column pattern; neighbouring threads take neighbouring columns, so each step's
// loads (when s_inner == 1) and stores are coalesced.
template <class T, class Op>
__device__ void scan_col(const T* in, T* out, const ScanArgs& a) {
  using A = compute_t<T>;
  const Op op{};
  const int64_t n = a.n, inner = a.inner, cols = a.outer * a.inner;
  for (int64_t c = global_thread(); c < cols; c += grid_threads()) {
    const int64_t o = c / inner, j = c - o * inner;
    const T* x = in + o * a.s_outer + j * a.s_inner;
    T* y = out + o * n * inner + j;
    A acc = Op::template identity<A>();
    for (int64_t k = 0; k < n; ++k) {
      const int64_t i = a.reverse ? n - 1 - k : k;
      const A xv = cast_to<A>(x[i * a.s_n]);
      if (a.inclusive) {
        acc = op(acc, xv);
        y[i * inner] = cast_to<T>(acc);
      } else {
        y[i * inner] = cast_to<T>(acc);
        acc = op(acc, xv);
      }
    }
  }
}

}  // namespace ember
)ember_src";

using jit::type_name;

const char* op_name(ScanOp op) {
  switch (op) {
    case ScanOp::Sum:
      return "Sum";
    case ScanOp::Prod:
      return "Prod";
    case ScanOp::Max:
      return "Max";
    case ScanOp::Min:
      return "Min";
    case ScanOp::LogAddExp:
      return "LogAddExp";
  }
  return "";
}

// The extern "C" kernels of one variant: thin wrappers around the device templates.
std::string wrappers(const Variant& v) {
  if (v.family == Family::RandomBits) {
    return "extern \"C\" __global__ void " + kernel_name(v, Pattern::Bits) +
           "(const uint32_t* keys, uint8_t* out, ember::BitsArgs args) {\n"
           "  ember::random_bits(keys, out, args);\n}\n";
  }
  const std::string T = type_name(v.dtype), F = std::string("ember::Scan") + op_name(v.op);
  return "extern \"C\" __global__ void " + kernel_name(v, Pattern::Row) + "(const " + T + "* in, " + T +
         "* out, ember::ScanArgs args) {\n  ember::scan_row<" + std::to_string(kRowItems) + ", " + T + ", " + F +
         ">(in, out, args);\n}\n" + "extern \"C\" __global__ void " + kernel_name(v, Pattern::Column) + "(const " + T +
         "* in, " + T + "* out, ember::ScanArgs args) {\n  ember::scan_col<" + T + ", " + F + ">(in, out, args);\n}\n";
}

// The one stride that walks axes [lo, hi) of `shape` in row-major order, or nullopt when
// they are not evenly strided (a permuted or partly broadcast block). Size-1 axes are skipped.
std::optional<int64_t> collapse_stride(const Shape& shape, const Strides& strides, int lo, int hi) {
  std::optional<int64_t> stride;
  int64_t expected = 0;
  for (int d = hi - 1; d >= lo; --d) {
    if (shape[d] == 1) continue;
    if (!stride) {
      stride = strides[d];
    } else if (strides[d] != expected) {
      return std::nullopt;
    }
    expected = strides[d] * shape[d];
  }
  return stride.value_or(0);
}

int64_t product(const Shape& shape, int lo, int hi) {
  int64_t p = 1;
  for (int d = lo; d < hi; ++d) p *= shape[d];
  return p;
}

constexpr unsigned kBlock = 256;
constexpr size_t kMaxBlocks = size_t{1} << 20;  // grid-stride loops past this

unsigned blocks_for(int64_t work, unsigned block) {
  int64_t b = (work + block - 1) / block;
  return static_cast<unsigned>(std::clamp<int64_t>(b, 1, static_cast<int64_t>(kMaxBlocks)));
}

}  // namespace

bool scan_supported(ScanOp op, Dtype t) {
  if (t == complex64) return false;  // complex sum/prod run on the CPU
  switch (op) {
    case ScanOp::Sum:
    case ScanOp::Prod:
      return t != bool_;
    case ScanOp::Max:
    case ScanOp::Min:
      return true;
    case ScanOp::LogAddExp:
      return is_floating_point(t);
  }
  return false;
}

std::optional<BitsLaunch> random_bits_launch(const Shape& key_shape, const Strides& key_strides, size_t out_nbytes) {
  const int kd = static_cast<int>(key_shape.size()) - 1;  // key dims before the (k0, k1) axis
  if (kd < 0 || key_shape.back() != 2) return std::nullopt;
  auto key_stride = collapse_stride(key_shape, key_strides, 0, kd);
  if (!key_stride) return std::nullopt;
  BitsLaunch l{0, kBlock, {product(key_shape, 0, kd), *key_stride, key_strides.back(), 0}};
  if (l.args.num_keys == 0 || out_nbytes == 0) return l;
  l.args.bytes_per_key = static_cast<int64_t>(out_nbytes) / l.args.num_keys;
  const int64_t words = (l.args.bytes_per_key + 3) / 4;
  const int64_t hashes = l.args.num_keys * (words / 2 + words % 2);
  if (hashes > 0) l.grid = blocks_for(hashes, kBlock);
  return l;
}

std::optional<ScanLaunch> scan_launch(const Shape& shape, const Strides& strides, int axis, bool reverse,
                                      bool inclusive) {
  const int nd = static_cast<int>(shape.size());
  if (axis < 0 || axis >= nd) return std::nullopt;
  auto s_outer = collapse_stride(shape, strides, 0, axis);
  auto s_inner = collapse_stride(shape, strides, axis + 1, nd);
  if (!s_outer || !s_inner) return std::nullopt;
  ScanArgs a{};
  a.outer = product(shape, 0, axis);
  a.n = shape[axis];
  a.inner = product(shape, axis + 1, nd);
  a.s_outer = *s_outer;
  a.s_n = strides[axis];
  a.s_inner = *s_inner;
  a.reverse = reverse ? 1 : 0;
  a.inclusive = inclusive ? 1 : 0;
  const int64_t rows = a.outer * a.inner;
  if (a.n > kRowMinLength && (a.inner == 1 || rows <= kRowMaxColumns)) {
    // Row: enough threads to cover the row once at kRowItems each, 32 to 256 (a multiple of 32).
    int64_t threads = (a.n + kRowItems - 1) / kRowItems;
    unsigned block = static_cast<unsigned>(std::clamp<int64_t>((threads + 31) / 32 * 32, 32, kBlock));
    unsigned grid = static_cast<unsigned>(std::clamp<int64_t>(rows, 1, static_cast<int64_t>(kMaxBlocks)));
    return ScanLaunch{Pattern::Row, grid, block, a};
  }
  return ScanLaunch{Pattern::Column, blocks_for(a.outer * a.inner, kBlock), kBlock, a};
}

std::vector<Pattern> patterns(Family f) {
  if (f == Family::RandomBits) return {Pattern::Bits};
  return {Pattern::Row, Pattern::Column};
}

std::string kernel_name(const Variant& v, Pattern p) {
  if (v.family == Family::RandomBits) return "random_bits_threefry2x32";
  return std::string("scan_") + op_name(v.op) + "_" + dtype_name(v.dtype) + (p == Pattern::Row ? "_row" : "_col");
}

std::string program_source(const std::vector<Variant>& variants, Target target) {
  std::string s = target == Target::Device ? jit::prelude() : jit::emulator_prelude();
  s += kKernels;
  for (const auto& v : variants) s += wrappers(v);
  if (target == Target::Emulator) {
    // Host entry points taking cudaLaunchKernel's argument array.
    for (const auto& v : variants) {
      for (Pattern p : patterns(v.family)) {
        std::string k = kernel_name(v, p);
        s += "EMBER_EMU_ENTRY(" + k + ")\n";
      }
    }
  }
  return s;
}

std::vector<Variant> all_variants() {
  std::vector<Variant> out{{Family::RandomBits}};
  for (ScanOp op : {ScanOp::Sum, ScanOp::Prod, ScanOp::Max, ScanOp::Min, ScanOp::LogAddExp}) {
    for (Dtype t : kAllDtypes) {
      if (scan_supported(op, t)) out.push_back({Family::Scan, op, t});
    }
  }
  return out;
}

std::string compile_program(const std::vector<Variant>& variants, const std::string& name, const std::string& arch) {
  return jit::compile(program_source(variants, Target::Device), name, arch);
}

}  // namespace ember::gpu::rs
