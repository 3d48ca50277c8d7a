// Copies with dtype conversion between arbitrary strided layouts.
#pragma once

#include <type_traits>

#include "ember/array.h"

namespace ember::cpu {

/// Converts one element; complex -> real keeps the real part, -> bool tests != 0.
template <class D, class S>
inline D cast_to(S v) {
  if constexpr (std::is_same_v<D, S>) {
    return v;
  } else if constexpr (std::is_same_v<S, complex64_t>) {
    if constexpr (std::is_same_v<D, bool>) {
      return v != complex64_t(0);
    } else {
      return static_cast<D>(v.real());
    }
  } else if constexpr (std::is_same_v<D, complex64_t>) {
    return complex64_t(static_cast<float>(v), 0.0f);
  } else if constexpr (std::is_same_v<D, bool>) {
    if constexpr (std::is_same_v<S, float16_t> || std::is_same_v<S, bfloat16_t>) {
      return static_cast<float>(v) != 0.0f;
    } else {
      return v != S(0);
    }
  } else if constexpr (std::is_same_v<S, float16_t> || std::is_same_v<S, bfloat16_t>) {
    return static_cast<D>(static_cast<float>(v));
  } else {
    return static_cast<D>(v);
  }
}

/// Writes `src` (any layout, any dtype) into `dst`'s existing buffer, element i
/// of src going to dst offset `dst_offset + sum(idx * dst_strides)`.
void copy_strided(const array& src, const array& dst, const Strides& dst_strides, int64_t dst_offset);
/// Fills `dst` (freshly allocated, row-contiguous) from `src`.
void copy_to_contiguous(const array& src, array& dst);
/// Returns `src` itself if row-contiguous, else a row-contiguous copy.
array ensure_row_contiguous(const array& src);

}  // namespace ember::cpu
