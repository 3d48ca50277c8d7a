// Element types, their categories and NumPy/MLX type promotion.
#pragma once

#include <complex>
#include <cstdint>
#include <ostream>
#include <string>

#include "ember/half.h"

namespace ember {

using complex64_t = std::complex<float>;

/// An element type. Compare with the constants below: `a.dtype() == float32`.
struct Dtype {
  enum class Val : uint8_t {
    bool_,
    uint8,
    uint16,
    uint32,
    uint64,
    int8,
    int16,
    int32,
    int64,
    float16,
    bfloat16,
    float32,
    float64,
    complex64,
  };
  /// Kinds of dtype, as in NumPy's type hierarchy (used by issubdtype).
  enum class Kind : uint8_t { b, u, i, f, V, c };

  Val val;
  uint8_t size_;  // bytes per element

  constexpr Dtype(Val v, uint8_t s) : val(v), size_(s) {}
  constexpr size_t size() const { return size_; }
  constexpr bool operator==(const Dtype& o) const { return val == o.val; }
  constexpr bool operator!=(const Dtype& o) const { return val != o.val; }
};

inline constexpr Dtype bool_{Dtype::Val::bool_, 1};
inline constexpr Dtype uint8{Dtype::Val::uint8, 1};
inline constexpr Dtype uint16{Dtype::Val::uint16, 2};
inline constexpr Dtype uint32{Dtype::Val::uint32, 4};
inline constexpr Dtype uint64{Dtype::Val::uint64, 8};
inline constexpr Dtype int8{Dtype::Val::int8, 1};
inline constexpr Dtype int16{Dtype::Val::int16, 2};
inline constexpr Dtype int32{Dtype::Val::int32, 4};
inline constexpr Dtype int64{Dtype::Val::int64, 8};
inline constexpr Dtype float16{Dtype::Val::float16, 2};
inline constexpr Dtype bfloat16{Dtype::Val::bfloat16, 2};
inline constexpr Dtype float32{Dtype::Val::float32, 4};
inline constexpr Dtype float64{Dtype::Val::float64, 8};
inline constexpr Dtype complex64{Dtype::Val::complex64, 8};

inline constexpr int kNumDtypes = 14;
/// All dtypes, in enum order.
inline constexpr Dtype kAllDtypes[kNumDtypes] = {bool_, uint8, uint16,  uint32,   uint64,  int8,    int16,
                                                 int32, int64, float16, bfloat16, float32, float64, complex64};

/// Categories of dtypes, as in MLX's DtypeCategory.
enum class DtypeCategory {
  complexfloating,
  floating,
  inexact,
  signedinteger,
  unsignedinteger,
  integer,
  number,
  generic
};

Dtype::Kind kindof(Dtype t);
bool is_unsigned(Dtype t);
bool is_signed_integer(Dtype t);
bool is_integral(Dtype t);  // bool excluded
bool is_floating_point(Dtype t);
bool is_complex(Dtype t);
bool is_inexact(Dtype t);  // floating or complex
bool issubdtype(Dtype a, Dtype b);
bool issubdtype(Dtype a, DtypeCategory c);
bool issubdtype(DtypeCategory a, DtypeCategory b);

/// NumPy/MLX promotion of two dtypes (e.g. int8 + uint8 -> int16, int32 + float16 -> float16).
Dtype promote_types(Dtype a, Dtype b);

/// Kind of a Python-style "weak" scalar: when mixed with an array, the array's
/// dtype wins unless the scalar's kind is higher (int array + float scalar -> float32).
enum class ScalarKind { boolean, integer, floating, complex };

/// The dtype a weak scalar of kind `k` takes when combined with an array of dtype `t`.
Dtype weak_scalar_dtype(ScalarKind k, Dtype t);

/// "float32", "int8", ... (MLX's names).
std::string dtype_name(Dtype t);
std::ostream& operator<<(std::ostream& os, Dtype t);
inline std::ostream& operator<<(std::ostream& os, float16_t h) { return os << static_cast<float>(h); }
inline std::ostream& operator<<(std::ostream& os, bfloat16_t h) { return os << static_cast<float>(h); }

/// Maps a C++ type to its dtype.
template <class T>
struct TypeToDtype;
#define EMBER_TYPE_TO_DTYPE(T, D)     \
  template <>                         \
  struct TypeToDtype<T> {             \
    static constexpr Dtype value = D; \
  };
EMBER_TYPE_TO_DTYPE(bool, bool_)
EMBER_TYPE_TO_DTYPE(uint8_t, uint8)
EMBER_TYPE_TO_DTYPE(uint16_t, uint16)
EMBER_TYPE_TO_DTYPE(uint32_t, uint32)
EMBER_TYPE_TO_DTYPE(uint64_t, uint64)
EMBER_TYPE_TO_DTYPE(int8_t, int8)
EMBER_TYPE_TO_DTYPE(int16_t, int16)
EMBER_TYPE_TO_DTYPE(int32_t, int32)
EMBER_TYPE_TO_DTYPE(int64_t, int64)
EMBER_TYPE_TO_DTYPE(float16_t, float16)
EMBER_TYPE_TO_DTYPE(bfloat16_t, bfloat16)
EMBER_TYPE_TO_DTYPE(float, float32)
EMBER_TYPE_TO_DTYPE(double, float64)
EMBER_TYPE_TO_DTYPE(complex64_t, complex64)
#undef EMBER_TYPE_TO_DTYPE
// `long long` / `unsigned long long` are distinct from int64_t/uint64_t on LP64.
template <>
struct TypeToDtype<long long> {
  static constexpr Dtype value = int64;
};
template <>
struct TypeToDtype<unsigned long long> {
  static constexpr Dtype value = uint64;
};

template <class T>
inline constexpr Dtype dtype_of = TypeToDtype<T>::value;

/// Calls `f(T{})` with the C++ type of runtime dtype `t`: the one dispatch helper
/// the kernels use to turn a runtime dtype into a compile-time type.
template <class F>
decltype(auto) dispatch_dtype(Dtype t, F&& f) {
  switch (t.val) {
    case Dtype::Val::bool_:
      return f(bool{});
    case Dtype::Val::uint8:
      return f(uint8_t{});
    case Dtype::Val::uint16:
      return f(uint16_t{});
    case Dtype::Val::uint32:
      return f(uint32_t{});
    case Dtype::Val::uint64:
      return f(uint64_t{});
    case Dtype::Val::int8:
      return f(int8_t{});
    case Dtype::Val::int16:
      return f(int16_t{});
    case Dtype::Val::int32:
      return f(int32_t{});
    case Dtype::Val::int64:
      return f(int64_t{});
    case Dtype::Val::float16:
      return f(float16_t{});
    case Dtype::Val::bfloat16:
      return f(bfloat16_t{});
    case Dtype::Val::float32:
      return f(float{});
    case Dtype::Val::float64:
      return f(double{});
    case Dtype::Val::complex64:
      return f(complex64_t{});
  }
  return f(float{});  // unreachable
}

}  // namespace ember
