// The device-side header every NVRTC-compiled Ember kernel starts with.
#include "ember/backend/cuda/jit.h"

namespace ember::gpu::jit {

namespace {

// NVRTC has no C library headers: the fixed-width integers are spelled out. The half
// types come from the toolkit's cuda_fp16.h / cuda_bf16.h (jit::compile passes -I).
// Guarded, so a source that pastes the prelude twice still compiles.
const char* kDeviceHead = R"ember_prelude(
#ifndef EMBER_JIT_PRELUDE
#define EMBER_JIT_PRELUDE
#include <cuda_fp16.h>
#include <cuda_bf16.h>

typedef signed char int8_t;
typedef short int16_t;
typedef int int32_t;
typedef long long int64_t;
typedef unsigned char uint8_t;
typedef unsigned short uint16_t;
typedef unsigned int uint32_t;
typedef unsigned long long uint64_t;
typedef __half float16_t;
typedef __nv_bfloat16 bfloat16_t;
)ember_prelude";

// The same program compiled by the host compiler for the CPU emulator (emu/emu.h): the
// CUDA spellings and device functions come from the emulator's headers.
const char* kEmulatorHead = R"ember_prelude(
#ifndef EMBER_JIT_PRELUDE
#define EMBER_JIT_PRELUDE
#include <stdint.h>
#include "ember/backend/cuda/emu/emu.h"
#include "ember/backend/cuda/emu/device_math.h"
#define __align__(n) alignas(n)
typedef __half float16_t;
typedef __nv_bfloat16 bfloat16_t;
)ember_prelude";

const char* kPrelude = R"ember_prelude(

namespace ember {

// ------------------------------------------------------------------ complex64
// std::complex<float>'s layout: (real, imag), 8-byte aligned.
struct __align__(8) complex64_t {
  float real, imag;
  complex64_t() = default;
  __device__ constexpr complex64_t(float r, float i = 0.0f) : real(r), imag(i) {}
};
__device__ inline complex64_t operator+(complex64_t a, complex64_t b) { return {a.real + b.real, a.imag + b.imag}; }
__device__ inline complex64_t operator-(complex64_t a, complex64_t b) { return {a.real - b.real, a.imag - b.imag}; }
__device__ inline complex64_t operator-(complex64_t a) { return {-a.real, -a.imag}; }
__device__ inline complex64_t operator*(complex64_t a, complex64_t b) {
  return {a.real * b.real - a.imag * b.imag, a.real * b.imag + a.imag * b.real};
}
// Smith's algorithm: scales by the larger part of b so |b|^2 cannot overflow.
__device__ inline complex64_t operator/(complex64_t a, complex64_t b) {
  if (fabsf(b.real) >= fabsf(b.imag)) {
    if (b.real == 0.0f && b.imag == 0.0f) return {a.real / fabsf(b.real), a.imag / fabsf(b.real)};
    float r = b.imag / b.real, d = b.real + b.imag * r;
    return {(a.real + a.imag * r) / d, (a.imag - a.real * r) / d};
  }
  float r = b.real / b.imag, d = b.imag + b.real * r;
  return {(a.real * r + a.imag) / d, (a.imag * r - a.real) / d};
}
__device__ inline bool operator==(complex64_t a, complex64_t b) { return a.real == b.real && a.imag == b.imag; }
__device__ inline bool operator!=(complex64_t a, complex64_t b) { return !(a == b); }
__device__ inline float abs(complex64_t z) { return hypotf(z.real, z.imag); }

// ------------------------------------------------------------------ type traits
template <class A, class B> struct is_same { static constexpr bool value = false; };
template <class A> struct is_same<A, A> { static constexpr bool value = true; };
template <class A, class B> inline constexpr bool is_same_v = is_same<A, B>::value;

template <class T> inline constexpr bool is_signed_int_v =
    is_same_v<T, int8_t> || is_same_v<T, int16_t> || is_same_v<T, int32_t> || is_same_v<T, int64_t>;
template <class T> inline constexpr bool is_unsigned_int_v =
    is_same_v<T, uint8_t> || is_same_v<T, uint16_t> || is_same_v<T, uint32_t> || is_same_v<T, uint64_t>;
/// Integers including bool (as std::is_integral).
template <class T> inline constexpr bool is_integral_v = is_same_v<T, bool> || is_signed_int_v<T> || is_unsigned_int_v<T>;
template <class T> inline constexpr bool is_half_v = is_same_v<T, float16_t> || is_same_v<T, bfloat16_t>;
/// float and double (as std::is_floating_point; the half types compute in float).
template <class T> inline constexpr bool is_float_v = is_same_v<T, float> || is_same_v<T, double>;
template <class T> inline constexpr bool is_complex_v = is_same_v<T, complex64_t>;

template <bool C, class A, class B> struct conditional { using type = A; };
template <class A, class B> struct conditional<false, A, B> { using type = B; };
template <bool C, class A, class B> using conditional_t = typename conditional<C, A, B>::type;

template <class T> struct make_unsigned { using type = T; };
template <> struct make_unsigned<int8_t> { using type = uint8_t; };
template <> struct make_unsigned<int16_t> { using type = uint16_t; };
template <> struct make_unsigned<int32_t> { using type = uint32_t; };
template <> struct make_unsigned<int64_t> { using type = uint64_t; };
template <class T> using make_unsigned_t = typename make_unsigned<T>::type;

/// The type elementwise math runs in: float for the half types, else the type itself.
template <class T> using compute_t = conditional_t<is_half_v<T>, float, T>;

/// Integer + - * wrap like NumPy: computed in an unsigned type at least as wide as unsigned.
template <class T> using wrap_t = conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, make_unsigned_t<T>>;

template <class T> __device__ inline T quiet_nan();
template <> __device__ inline float quiet_nan<float>() { return __int_as_float(0x7fc00000); }
template <> __device__ inline double quiet_nan<double>() { return __longlong_as_double(0x7ff8000000000000ll); }

// ------------------------------------------------------------------ conversions
// cast_to<D>(S) follows the CPU's convert_elements: complex -> real keeps the real part,
// -> bool tests != 0 (nan is true), half types go through float, and rounding is to
// nearest even, directly from the source (double and 64-bit ints are not rounded twice).
// Out-of-range float -> int is undefined in C++; here it goes through int64 so negative
// values wrap into unsigned types as they do on x86.
template <class D, class S>
__device__ inline D cast_to(S v) {
  if constexpr (is_same_v<D, S>) {
    return v;
  } else if constexpr (is_same_v<S, float16_t>) {
    return cast_to<D>(__half2float(v));
  } else if constexpr (is_same_v<S, bfloat16_t>) {
    return cast_to<D>(__bfloat162float(v));
  } else if constexpr (is_complex_v<S>) {
    if constexpr (is_same_v<D, bool>) {
      return v.real != 0.0f || v.imag != 0.0f;
    } else {
      return cast_to<D>(v.real);
    }
  } else if constexpr (is_complex_v<D>) {
    return complex64_t(cast_to<float>(v), 0.0f);
  } else if constexpr (is_same_v<D, bool>) {
    return v != S(0);
  } else if constexpr (is_same_v<D, float16_t>) {
    if constexpr (is_same_v<S, double>) return __double2half(v);
    else if constexpr (is_same_v<S, int64_t>) return __ll2half_rn(v);
    else if constexpr (is_same_v<S, uint64_t>) return __ull2half_rn(v);
    else if constexpr (is_same_v<S, int32_t>) return __int2half_rn(v);
    else if constexpr (is_same_v<S, uint32_t>) return __uint2half_rn(v);
    else return __float2half_rn(static_cast<float>(v));  // exact in float: bool, 8/16-bit ints, float
  } else if constexpr (is_same_v<D, bfloat16_t>) {
    if constexpr (is_same_v<S, double>) return __double2bfloat16(v);
    else if constexpr (is_same_v<S, int64_t>) return __ll2bfloat16_rn(v);
    else if constexpr (is_same_v<S, uint64_t>) return __ull2bfloat16_rn(v);
    else if constexpr (is_same_v<S, int32_t>) return __int2bfloat16_rn(v);
    else if constexpr (is_same_v<S, uint32_t>) return __uint2bfloat16_rn(v);
    else return __float2bfloat16_rn(static_cast<float>(v));
  } else if constexpr (is_float_v<S> && is_integral_v<D> && sizeof(D) < 8) {
    return static_cast<D>(static_cast<int64_t>(v));
  } else if constexpr (is_float_v<S> && is_same_v<D, uint64_t>) {
    return v < S(0) ? static_cast<uint64_t>(static_cast<int64_t>(v)) : static_cast<uint64_t>(v);
  } else {
    return static_cast<D>(v);
  }
}

// ------------------------------------------------------------------ vectors and indexing
/// N elements loaded or stored as one access (N * sizeof(T) is a power of two).
template <class T, int N>
struct __align__(sizeof(T) * N) Vec {
  T v[N];
};

/// Up to kMaxDims axes (after collapsing) with one stride vector per operand.
constexpr int kMaxDims = 8;
template <int NARR>
struct StridedArgs {
  int32_t ndim;
  int64_t shape[kMaxDims];
  int64_t strides[NARR][kMaxDims];
};

/// Element offsets of row-major index `i` in each operand; IdxT is int32_t when every
/// offset fits, else int64_t (division by 32-bit values is much cheaper).
template <class IdxT, int NARR>
__device__ inline void elem_to_locs(IdxT i, const StridedArgs<NARR>& a, IdxT (&loc)[NARR]) {
#pragma unroll
  for (int k = 0; k < NARR; ++k) loc[k] = 0;
  for (int d = a.ndim - 1; d >= 0; --d) {
    IdxT n = static_cast<IdxT>(a.shape[d]);
    IdxT c = i % n;
    i /= n;
#pragma unroll
    for (int k = 0; k < NARR; ++k) loc[k] += c * static_cast<IdxT>(a.strides[k][d]);
  }
}

/// Grid-stride loops: this thread's first index and the stride, in 64 bits.
__device__ inline int64_t global_thread() { return static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; }
__device__ inline int64_t grid_threads() { return static_cast<int64_t>(gridDim.x) * blockDim.x; }

}  // namespace ember
#endif  // EMBER_JIT_PRELUDE
)ember_prelude";

}  // namespace

const char* type_name(Dtype t) {
  switch (t.val) {
    case Dtype::Val::bool_: return "bool";
    case Dtype::Val::uint8: return "uint8_t";
    case Dtype::Val::uint16: return "uint16_t";
    case Dtype::Val::uint32: return "uint32_t";
    case Dtype::Val::uint64: return "uint64_t";
    case Dtype::Val::int8: return "int8_t";
    case Dtype::Val::int16: return "int16_t";
    case Dtype::Val::int32: return "int32_t";
    case Dtype::Val::int64: return "int64_t";
    case Dtype::Val::float16: return "float16_t";
    case Dtype::Val::bfloat16: return "bfloat16_t";
    case Dtype::Val::float32: return "float";
    case Dtype::Val::float64: return "double";
    case Dtype::Val::complex64: return "ember::complex64_t";
  }
  return "float";
}

const std::string& prelude() {
  static const std::string s = std::string(kDeviceHead) + kPrelude;
  return s;
}

const std::string& emulator_prelude() {
  static const std::string s = std::string(kEmulatorHead) + kPrelude;
  return s;
}

}  // namespace ember::gpu::jit
