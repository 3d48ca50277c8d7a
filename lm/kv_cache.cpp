#include "lm/kv_cache.h"

#include <algorithm>
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

std::pair<array, array> KVCache::update_and_fetch(const array& k, const array& v) {
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
  if (bits_ == 0) return {positions(planes_[0], first, used), positions(planes_[1], first, used)};
  auto restore = [&](int i) {
    return dequantize(positions(planes_[i], first, used), astype(positions(planes_[i + 1], first, used), float32),
                      astype(positions(planes_[i + 2], first, used), float32), group_size_, bits_);
  };
  return {astype(restore(0), k.dtype()), astype(restore(3), v.dtype())};
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

}  // namespace ember::lm
