// Per-layer key/value caches for incremental decoding.
#pragma once

#include <utility>
#include <vector>

#include "ember/array.h"

namespace ember::lm {

/// Keys and values of one attention layer, (B, Hkv, T, D), preallocated in steps of `step`
/// positions so a decode step writes in place (slice_update donates the buffer) instead of
/// concatenating. With a window (sliding-window attention), only the last `window` positions
/// are needed: the buffer then holds at most window + step positions and drops the oldest
/// when it fills.
class KVCache {
 public:
  /// bits 0: keys and values kept as they come; 4 or 8: quantized on arrival (affine groups of
  /// 64 values along the head dimension, or 32 or 16 when that does not divide it; float16
  /// scales and biases), dequantized to float32 when fetched, as mlx-lm's --kv-bits does. A
  /// 4-bit cache holds about a sixth of the bytes of a float32 one.
  explicit KVCache(int window = 0, int step = 256, int bits = 0);

  /// Appends k, v (B, Hkv, T, D) at positions [offset(), offset() + T) and returns the keys and
  /// values to attend to: views of positions [start(), offset()) after the append.
  std::pair<array, array> update_and_fetch(const array& k, const array& v);
  /// Positions seen so far (the next token's position).
  int offset() const { return offset_; }
  /// Absolute position of the first key update_and_fetch returned.
  int start() const { return fetched_start_; }
  /// The window (0: none).
  int window() const { return window_; }
  /// Bytes held by the buffers.
  size_t nbytes() const;
  /// Forgets every position (keeps nothing).
  void reset();
  /// Drops the last n positions (a prompt cache reused up to a shared prefix).
  void trim(int n);

 private:
  int window_, step_;
  int offset_ = 0;  // absolute positions seen
  int start_ = 0;   // absolute position of buffer slot 0
  int fetched_start_ = 0;
  int capacity_ = 0;  // slots allocated
  int bits_ = 0, group_size_ = 0;
  // The stored planes, all (B, Hkv, capacity, .): float keys and values, or the quantized
  // keys' (wq, scales, biases) then the values'.
  std::vector<array> planes_;
  bool empty_ = true;
};

}  // namespace ember::lm
