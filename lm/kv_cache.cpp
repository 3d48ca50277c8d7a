#include "lm/kv_cache.h"

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>

#include "ember/ops.h"
#include "ember/quantized.h"
#include "ember/utils.h"

namespace ember::lm {

KVCache::KVCache(int window, int step, int bits) : window_(window), step_(step), bits_(bits) {
  if (bits != 0 && bits != 4 && bits != 8) {
    throw std::invalid_argument("[KVCache] bits must be 0 (no quantization), 4 or 8, got " + std::to_string(bits));
  }
}

namespace {

// Positions [from, to) of a (B, H, capacity, .) plane.
array positions(const array& a, int from, int to) {
  return slice(a, {0, 0, from, 0}, {a.shape(0), a.shape(1), to, a.shape(3)});
}

// `part` written at positions [at, at + part.shape(2)) of `a`.
array put(const array& a, const array& part, int at) {
  return slice_update(a, astype(part, a.dtype()), {0, 0, at, 0},
                      {a.shape(0), a.shape(1), at + part.shape(2), a.shape(3)});
}

// `a` (B, H, used, .) in a zeroed plane of `cap` positions.
array in_plane(const array& a, int cap, int used) {
  Shape s = a.shape();
  s[2] = cap;
  array z = zeros(s, a.dtype());
  return used > 0 ? put(z, positions(a, 0, used), 0) : z;
}

}  // namespace

std::pair<int, int> KVCache::store(const array& k, const array& v) {
  // k: (B, Hkv, T, D), v: (B, Hkv, T, Dv)
  if (k.ndim() != 4 || v.ndim() != 4 || k.shape(2) != v.shape(2)) {
    throw std::invalid_argument("[KVCache] expects k, v of shape (B, Hkv, T, D), got " + shape_to_string(k.shape()) +
                                " and " + shape_to_string(v.shape()));
  }
  // The planes that arrive: k and v, or each quantized into (wq, scales, biases).
  std::vector<array> parts;
  if (bits_ == 0) {
    parts = {k, v};
  } else {
    if (group_size_ == 0) {
      for (int g : {64, 32, 16}) {
        if (k.shape(3) % g == 0 && v.shape(3) % g == 0) {
          group_size_ = g;
          break;
        }
      }
      if (group_size_ == 0) {
        throw std::invalid_argument("[KVCache] a quantized cache needs head dimensions that are multiples of 16, got " +
                                    std::to_string(k.shape(3)) + " and " + std::to_string(v.shape(3)));
      }
    }
    for (const array& a : {k, v}) {
      auto [q, s, b] = quantize(astype(a, float16), group_size_, bits_);
      parts.insert(parts.end(), {q, s, b});
    }
  }
  if (!empty_) {
    for (size_t i = 0; i < parts.size(); ++i) {
      const array &p = planes_[i], &n = parts[i];
      if (p.shape(0) != n.shape(0) || p.shape(1) != n.shape(1) || p.shape(3) != n.shape(3)) {
        throw std::invalid_argument("[KVCache] new keys " + shape_to_string(k.shape()) +
                                    " do not match the cache's (B, Hkv, ., D) " + shape_to_string(planes_[0].shape()));
      }
    }
  }
  const int T = k.shape(2);
  int used = offset_ - start_;
  if (window_ > 0 && !empty_ && used + T > capacity_) {
    // Keep the last window - 1 positions (all a new query can still see), moved to the front.
    const int keep = std::min(used, window_ - 1), from = used - keep, cap = std::max(capacity_, keep + T);
    for (array& p : planes_) p = in_plane(positions(p, from, used), cap, keep);
    capacity_ = cap;
    start_ += from;
    used = keep;
  }
  if (empty_ || used + T > capacity_) {
    // Grow to the next multiple of step, copying what is there.
    const int cap = ((used + T + step_ - 1) / step_) * step_;
    if (empty_) {
      planes_.clear();
      for (const array& n : parts) planes_.push_back(in_plane(n, cap, 0));
    } else {
      for (array& p : planes_) p = in_plane(p, cap, used);
    }
    capacity_ = cap;
    empty_ = false;
  }
  for (size_t i = 0; i < parts.size(); ++i) planes_[i] = put(planes_[i], parts[i], used);
  offset_ += T;
  used += T;
  // A window needs no key older than the first new query can see.
  const int first = window_ > 0 ? std::max(0, used - T - (window_ - 1)) : 0;
  fetched_start_ = start_ + first;
  return {first, used};
}

std::pair<array, array> KVCache::update_and_fetch(const array& k, const array& v) {
  const auto [first, used] = store(k, v);
  if (bits_ == 0) return {positions(planes_[0], first, used), positions(planes_[1], first, used)};
  auto restore = [&](int i) {
    return dequantize(positions(planes_[i], first, used), astype(positions(planes_[i + 1], first, used), float32),
                      astype(positions(planes_[i + 2], first, used), float32), group_size_, bits_);
  };
  return {astype(restore(0), k.dtype()), astype(restore(3), v.dtype())};
}

std::array<array, 6> KVCache::update_and_fetch_quantized(const array& k, const array& v) {
  if (bits_ == 0) throw std::invalid_argument("[KVCache] update_and_fetch_quantized needs a quantized cache");
  const auto [first, used] = store(k, v);
  auto at = [&](int i) { return positions(planes_[i], first, used); };
  return {at(0), at(1), at(2), at(3), at(4), at(5)};
}

size_t KVCache::nbytes() const {
  size_t n = 0;
  for (const array& p : planes_) n += empty_ ? 0 : p.nbytes();
  return n;
}

void KVCache::reset() {
  offset_ = start_ = capacity_ = fetched_start_ = 0;
  planes_.clear();
  empty_ = true;
}

void KVCache::trim(int n) {
  if (n < 0 || n > offset_ - start_) {
    throw std::invalid_argument("[KVCache] cannot trim " + std::to_string(n) + " of " +
                                std::to_string(offset_ - start_) + " cached positions");
  }
  offset_ -= n;
}

std::pair<array, array> KVCache::contents() const {
  if (bits_ != 0) throw std::invalid_argument("[KVCache] contents() needs a cache without quantization");
  const int used = offset_ - start_;
  if (empty_ || used == 0) throw std::invalid_argument("[KVCache] contents() of an empty cache");
  return {positions(planes_[0], 0, used), positions(planes_[1], 0, used)};
}

void KVCache::assign(const array& keys, const array& values, int offset) {
  if (bits_ != 0) throw std::invalid_argument("[KVCache] assign() needs a cache without quantization");
  const int n = keys.ndim() == 4 ? keys.shape(2) : -1;
  if (n < 1 || values.ndim() != 4 || values.shape(2) != n || offset < n) {
    throw std::invalid_argument("[KVCache] assign takes keys and values (B, Hkv, n >= 1, .) of positions before " +
                                std::to_string(offset) + ", got " + shape_to_string(keys.shape()) + " and " +
                                shape_to_string(values.shape()));
  }
  capacity_ = (n + step_ - 1) / step_ * step_;
  planes_ = {in_plane(keys, capacity_, n), in_plane(values, capacity_, n)};
  offset_ = offset;
  start_ = fetched_start_ = offset - n;
  empty_ = false;
}

BatchKVCache::BatchKVCache(const std::vector<std::pair<array, array>>& rows, const std::vector<int>& offsets, int step)
    : step_(step) {
  const int B = static_cast<int>(rows.size());
  if (B == 0 || offsets.size() != rows.size() || step < 1) {
    throw std::invalid_argument("[BatchKVCache] takes one or more rows with one offset each, got " +
                                std::to_string(rows.size()) + " rows and " + std::to_string(offsets.size()) +
                                " offsets");
  }
  const array &k0 = rows[0].first, &v0 = rows[0].second;
  for (int b = 0; b < B; ++b) {
    const array &k = rows[b].first, &v = rows[b].second;
    if (k.ndim() != 4 || v.ndim() != 4 || k.shape(0) != 1 || k.shape(2) < 1 || v.shape(2) != k.shape(2) ||
        k.shape(1) != k0.shape(1) || k.shape(3) != k0.shape(3) || v.shape(1) != v0.shape(1) ||
        v.shape(3) != v0.shape(3) || k.dtype() != k0.dtype() || v.dtype() != v0.dtype() || offsets[b] < k.shape(2)) {
      throw std::invalid_argument("[BatchKVCache] row " + std::to_string(b) + ": keys " + shape_to_string(k.shape()) +
                                  " and values " + shape_to_string(v.shape()) + " at offset " +
                                  std::to_string(offsets[b]) + " do not fit the rows (1, " +
                                  std::to_string(k0.shape(1)) + ", n >= 1, " + std::to_string(k0.shape(3)) + ")");
    }
    lengths_.push_back(k.shape(2));
  }
  offsets_ = offsets;
  end_ = longest();
  capacity_ = (end_ + step_) / step_ * step_;
  keys_ = zeros({B, k0.shape(1), capacity_, k0.shape(3)}, k0.dtype());
  values_ = zeros({B, v0.shape(1), capacity_, v0.shape(3)}, v0.dtype());
  for (int b = 0; b < B; ++b) {
    const int from = end_ - lengths_[b];
    keys_ = slice_update(keys_, rows[b].first, {b, 0, from, 0}, {b + 1, k0.shape(1), end_, k0.shape(3)});
    values_ = slice_update(values_, rows[b].second, {b, 0, from, 0}, {b + 1, v0.shape(1), end_, v0.shape(3)});
  }
}

int BatchKVCache::longest() const { return *std::max_element(lengths_.begin(), lengths_.end()); }

std::pair<array, array> BatchKVCache::update_and_fetch(const array& k, const array& v) {
  const int B = batch_size();
  if (k.ndim() != 4 || v.ndim() != 4 || k.shape(0) != B || v.shape(0) != B || k.shape(2) != 1 || v.shape(2) != 1 ||
      k.shape(1) != keys_.shape(1) || k.shape(3) != keys_.shape(3) || v.shape(1) != values_.shape(1) ||
      v.shape(3) != values_.shape(3)) {
    throw std::invalid_argument("[BatchKVCache] expects one position per row, k " + shape_to_string(keys_.shape()) +
                                " and v " + shape_to_string(values_.shape()) + " with 1 column, got " +
                                shape_to_string(k.shape()) + " and " + shape_to_string(v.shape()));
  }
  if (end_ + 1 > capacity_) {
    // Grow, keeping only the columns some row still uses (a long sequence that left leaves
    // padding in front of the others).
    const int used = longest(), lo = end_ - used;
    capacity_ = (used + step_) / step_ * step_;
    keys_ = in_plane(positions(keys_, lo, end_), capacity_, used);
    values_ = in_plane(positions(values_, lo, end_), capacity_, used);
    end_ = used;
  }
  keys_ = put(keys_, k, end_);
  values_ = put(values_, v, end_);
  ++end_;
  for (int b = 0; b < B; ++b) ++lengths_[b], ++offsets_[b];
  const int from = end_ - longest();
  return {positions(keys_, from, end_), positions(values_, from, end_)};
}

array BatchKVCache::offsets() const { return array(offsets_, {batch_size()}, int32); }

array BatchKVCache::next_mask() const {
  const int B = batch_size(), L = longest() + 1;
  std::unique_ptr<bool[]> m(new bool[static_cast<size_t>(B) * L]);
  for (int b = 0; b < B; ++b) {
    for (int c = 0; c < L; ++c) m[static_cast<size_t>(b) * L + c] = c >= L - (lengths_[b] + 1);
  }
  return array(m.get(), {B, 1, 1, L}, bool_);
}

std::pair<array, array> BatchKVCache::row(int b) const {
  if (b < 0 || b >= batch_size()) {
    throw std::out_of_range("[BatchKVCache] row " + std::to_string(b) + " of " + std::to_string(batch_size()));
  }
  const int from = end_ - lengths_[b];
  auto one = [&](const array& a) { return slice(a, {b, 0, from, 0}, {b + 1, a.shape(1), end_, a.shape(3)}); };
  return {one(keys_), one(values_)};
}

}  // namespace ember::lm
