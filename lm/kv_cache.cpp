#include "lm/kv_cache.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "ember/ops.h"
#include "ember/utils.h"

namespace ember::lm {

std::pair<array, array> KVCache::update_and_fetch(const array& k, const array& v) {
  // k: (B, Hkv, T, D), v: (B, Hkv, T, Dv)
  if (k.ndim() != 4 || v.ndim() != 4 || k.shape(2) != v.shape(2)) {
    throw std::invalid_argument("[KVCache] expects k, v of shape (B, Hkv, T, D), got " + shape_to_string(k.shape()) +
                                " and " + shape_to_string(v.shape()));
  }
  int T = k.shape(2);
  int used = offset_ - start_;
  if (!empty_ && (keys_.shape(0) != k.shape(0) || keys_.shape(1) != k.shape(1) || keys_.shape(3) != k.shape(3))) {
    throw std::invalid_argument("[KVCache] new keys " + shape_to_string(k.shape()) + " do not match the cache's " +
                                shape_to_string(keys_.shape()));
  }
  if (window_ > 0 && !empty_ && used + T > capacity_) {
    // Keep the last window - 1 positions (all a new query can still see), moved to the front.
    int keep = std::min(used, window_ - 1);
    int from = used - keep;
    auto tail = [&](const array& a) { return slice(a, {0, 0, from, 0}, {a.shape(0), a.shape(1), used, a.shape(3)}); };
    array kk = tail(keys_), vv = tail(values_);
    int cap = std::max(capacity_, keep + T);
    Shape ks = keys_.shape(), vs = values_.shape();
    ks[2] = vs[2] = cap;
    keys_ = slice_update(zeros(ks, keys_.dtype()), kk, {0, 0, 0, 0}, {ks[0], ks[1], keep, ks[3]});
    values_ = slice_update(zeros(vs, values_.dtype()), vv, {0, 0, 0, 0}, {vs[0], vs[1], keep, vs[3]});
    capacity_ = cap;
    start_ += from;
    used = keep;
  }
  if (empty_ || used + T > capacity_) {
    // Grow to the next multiple of step, copying what is there.
    int cap = ((used + T + step_ - 1) / step_) * step_;
    Shape ks = k.shape(), vs = v.shape();
    ks[2] = vs[2] = cap;
    array nk = zeros(ks, k.dtype()), nv = zeros(vs, v.dtype());
    if (!empty_ && used > 0) {
      nk = slice_update(nk, slice(keys_, {0, 0, 0, 0}, {ks[0], ks[1], used, ks[3]}), {0, 0, 0, 0},
                        {ks[0], ks[1], used, ks[3]});
      nv = slice_update(nv, slice(values_, {0, 0, 0, 0}, {vs[0], vs[1], used, vs[3]}), {0, 0, 0, 0},
                        {vs[0], vs[1], used, vs[3]});
    }
    keys_ = nk;
    values_ = nv;
    capacity_ = cap;
    empty_ = false;
  }
  keys_ =
      slice_update(keys_, astype(k, keys_.dtype()), {0, 0, used, 0}, {k.shape(0), k.shape(1), used + T, k.shape(3)});
  values_ = slice_update(values_, astype(v, values_.dtype()), {0, 0, used, 0},
                         {v.shape(0), v.shape(1), used + T, v.shape(3)});
  offset_ += T;
  used += T;
  // A window needs no key older than the first new query can see.
  int first = 0;
  if (window_ > 0) first = std::max(0, used - T - (window_ - 1));
  array kf = slice(keys_, {0, 0, first, 0}, {keys_.shape(0), keys_.shape(1), used, keys_.shape(3)});
  array vf = slice(values_, {0, 0, first, 0}, {values_.shape(0), values_.shape(1), used, values_.shape(3)});
  fetched_start_ = start_ + first;
  return {kf, vf};
}

size_t KVCache::nbytes() const { return empty_ ? 0 : keys_.nbytes() + values_.nbytes(); }

void KVCache::reset() {
  offset_ = start_ = capacity_ = fetched_start_ = 0;
  keys_ = values_ = array(0.0f);
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
