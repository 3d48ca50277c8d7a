// Per-layer key/value caches for incremental decoding.
#pragma once

#include <array>
#include <optional>
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
  /// For a quantized cache: appends as update_and_fetch does and returns what is stored for the
  /// positions to attend to, without dequantizing: (wq, scales, biases) of the keys, then of
  /// the values, each a (B, Hkv, T, .) view (for quantized_scaled_dot_product_attention).
  std::array<array, 6> update_and_fetch_quantized(const array& k, const array& v);
  /// Group size of the quantized planes (0 before the first append, or without quantization).
  int group_size() const { return group_size_; }
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
  /// Bits of the stored keys and values (0: as computed).
  int bits() const { return bits_; }
  /// The keys and values of positions [offset() - held, offset()) as (B, Hkv, held, .) views,
  /// for a cache without quantization (BatchKVCache gathers sequences from these).
  std::pair<array, array> contents() const;
  /// Replaces what the cache holds with keys and values (B, Hkv, n, .) of positions
  /// [offset - n, offset): a sequence handed back from a BatchKVCache. No quantization.
  void assign(const array& keys, const array& values, int offset);

 private:
  // Appends k, v; returns the slots [first, used) of the positions to attend to.
  std::pair<int, int> store(const array& k, const array& v);
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

/// The key/value caches of one layer for several sequences decoded together (continuous
/// batching), as mlx-lm's batch cache: one (B, Hkv, capacity, .) plane for keys and one for
/// values, each row a sequence aligned at the right, so one write per step appends every
/// row's new position and one attention call covers the batch. Row b holds its sequence's
/// positions in the last length(b) columns in use; the columns before are padding, which
/// mask() hides (the CPU attention kernel skips a row's leading masked keys, so each row
/// computes exactly what its sequence alone would).
class BatchKVCache {
 public:
  /// rows[b]: sequence b's keys and values (1, Hkv, n_b, .) with n_b >= 1, and offsets[b] its
  /// position after them (n_b <= offsets[b]). The planes grow in steps of `step` columns.
  BatchKVCache(const std::vector<std::pair<array, array>>& rows, const std::vector<int>& offsets, int step = 256);

  /// Appends k, v (B, Hkv, 1, .), one new position per row, and returns the keys and values to
  /// attend to: (B, Hkv, L, .) views with L the longest row's length.
  std::pair<array, array> update_and_fetch(const array& k, const array& v);
  /// (B,) int32: each row's position of the token the next update appends (rope's offsets).
  array offsets() const;
  /// (B, 1, 1, L) bool over what update_and_fetch would return after one more append: true
  /// on each row's own positions, false on its padding.
  array next_mask() const;
  /// Row b's keys and values, (1, Hkv, length(b), .) views, and its position after them.
  std::pair<array, array> row(int b) const;
  int offset(int b) const { return offsets_[b]; }
  int batch_size() const { return static_cast<int>(lengths_.size()); }

 private:
  array keys_{0.0f}, values_{0.0f};
  int step_, end_ = 0, capacity_ = 0;
  std::vector<int> lengths_, offsets_;
  int longest() const;
};

}  // namespace ember::lm
