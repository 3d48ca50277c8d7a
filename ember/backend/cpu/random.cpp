// CPU kernel of RandomBits: threefry2x32 with 20 rounds (Random123's
// threefry2x32_20), laid out as MLX does.
//
// Each key (k0, k1) fills its own block of `bytes_per_key` bytes of the output,
// viewed as W = ceil(bytes_per_key / 4) little-endian uint32 words. With
// H = W / 2 and odd = W % 2, counter pair j in [0, H) gives
//   (word[j], word[j + H + odd]) = threefry(key, (j, j + H + odd)),
// and for odd W, word[H] = threefry(key, (H, 0)).first. A trailing partial word
// keeps only its low bytes. Every word depends only on the key and its
// counter, so the result does not depend on how the work is split over threads.
#include <cstdint>
#include <cstring>

#include "ember/allocator.h"
#include "ember/backend/cpu/copy.h"
#include "ember/primitives.h"
#include "ember/random.h"
#include "ember/scheduler.h"

namespace ember {

namespace random::detail {

std::pair<uint32_t, uint32_t> threefry2x32(std::pair<uint32_t, uint32_t> key, std::pair<uint32_t, uint32_t> ctr) {
  constexpr uint32_t rotations[2][4] = {{13, 15, 26, 6}, {17, 29, 16, 24}};
  const uint32_t ks[3] = {key.first, key.second, key.first ^ key.second ^ 0x1BD11BDAu};
  uint32_t x0 = ctr.first + ks[0];
  uint32_t x1 = ctr.second + ks[1];
  for (uint32_t i = 0; i < 5; ++i) {
    for (uint32_t r : rotations[i % 2]) {
      x0 += x1;
      x1 = (x1 << r) | (x1 >> (32 - r));
      x1 ^= x0;
    }
    x0 += ks[(i + 1) % 3];
    x1 += ks[(i + 2) % 3] + i + 1;
  }
  return {x0, x1};
}

}  // namespace random::detail

void RandomBits::eval_cpu(const std::vector<array>& inputs, array& out) {
  out.set_data(allocator::malloc(out.nbytes()));
  array keys = cpu::ensure_row_contiguous(inputs[0]);
  const int64_t num_keys = static_cast<int64_t>(keys.size() / 2);
  if (out.size() == 0 || num_keys == 0) return;
  const int64_t bytes_per_key = static_cast<int64_t>(out.nbytes()) / num_keys;
  const int64_t words = (bytes_per_key + 3) / 4;
  const int64_t half = words / 2;
  const int64_t odd = words % 2;
  const int64_t per_key = half + odd;  // hashes per key
  const uint32_t* kp = keys.data<uint32_t>();
  char* base = out.data<char>();

  // Writes word `w` of key block `blk` (only the bytes inside the block).
  auto put = [bytes_per_key](char* blk, int64_t w, uint32_t v) {
    int64_t n = bytes_per_key - 4 * w;
    std::memcpy(blk + 4 * w, &v, static_cast<size_t>(n < 4 ? n : 4));
  };
  scheduler::parallel_for(num_keys * per_key, 1024, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      int64_t k = item / per_key, j = item % per_key;
      std::pair<uint32_t, uint32_t> key{kp[2 * k], kp[2 * k + 1]};
      char* blk = base + k * bytes_per_key;
      if (j < half) {
        uint32_t c1 = static_cast<uint32_t>(j + half + odd);
        auto [a, b] = random::detail::threefry2x32(key, {static_cast<uint32_t>(j), c1});
        put(blk, j, a);
        put(blk, j + half + odd, b);
      } else {
        put(blk, half, random::detail::threefry2x32(key, {static_cast<uint32_t>(half), 0u}).first);
      }
    }
  });
}

bool RandomBits::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const RandomBits*>(&other);
  return o && o->shape_ == shape_ && o->width_ == width_;
}

}  // namespace ember
