// Stride and broadcast logic shared by every backend's kernels.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <tuple>
#include <vector>

#include "ember/array.h"

namespace ember {

/// Merges adjacent axes that are contiguous in every one of `strides` (and drops
/// size-1 axes), so kernels loop over as few axes as possible. Returns the
/// collapsed shape and one stride vector per input, in the same order.
std::pair<Shape, std::vector<Strides>> collapse_contiguous_dims(const Shape& shape,
                                                                const std::vector<Strides>& strides);
std::pair<Shape, std::vector<Strides>> collapse_contiguous_dims(const std::vector<array>& xs);

/// 64-bit FNV-1a hash of `s`, continuing from `h`; keys the on-disk kernel caches.
inline uint64_t fnv1a(std::string_view s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

/// `in`'s strides when broadcast to `shape` (0 along broadcast and leading axes).
Strides broadcast_strides(const array& in, const Shape& shape);

/// Element offset (in elements) of flat row-major index `idx` in an array of `shape` with `strides`.
inline int64_t elem_to_loc(int64_t idx, const Shape& shape, const Strides& strides) {
  int64_t loc = 0;
  for (int i = static_cast<int>(shape.size()) - 1; i >= 0; --i) {
    loc += (idx % shape[i]) * strides[i];
    idx /= shape[i];
  }
  return loc;
}

/// Walks the element offsets of a strided array in row-major order, one step at a time.
class StridedIterator {
 public:
  StridedIterator(const Shape& shape, const Strides& strides, int skip_inner = 0)
      : shape_(shape.begin(), shape.end() - skip_inner),
        strides_(strides.begin(), strides.end() - skip_inner),
        pos_(shape_.size(), 0) {}
  /// Jumps to flat index `idx` (over the non-skipped axes).
  void seek(int64_t idx) {
    loc_ = 0;
    for (int i = static_cast<int>(shape_.size()) - 1; i >= 0; --i) {
      pos_[i] = static_cast<int32_t>(idx % shape_[i]);
      loc_ += pos_[i] * strides_[i];
      idx /= shape_[i];
    }
  }
  void step() {
    for (int i = static_cast<int>(shape_.size()) - 1; i >= 0; --i) {
      if (++pos_[i] < shape_[i]) {
        loc_ += strides_[i];
        return;
      }
      loc_ -= static_cast<int64_t>(pos_[i] - 1) * strides_[i];
      pos_[i] = 0;
    }
  }
  int64_t loc() const { return loc_; }

 private:
  Shape shape_;
  Strides strides_;
  Shape pos_;
  int64_t loc_ = 0;
};

/// Layout flags and data size of a view with `shape` and `strides`.
std::pair<Flags, size_t> layout_of(const Shape& shape, const Strides& strides);

/// Strides that read `in`'s elements, in row-major order, as an array of `shape` (same size):
/// NumPy's attempt_nocopy. None when the reshape needs a copy (e.g. a transposed input
/// merged across its permuted axes). Assumes no zero-length axis.
std::optional<Strides> reshape_strides(const array& in, const Shape& shape);

/// Whether `in`'s buffer can be reused for `out` (same element size, dense, unshared).
bool can_donate(const array& in, const array& out);

}  // namespace ember
