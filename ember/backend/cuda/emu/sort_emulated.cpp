// Emulated build: the segmented (key, position) sort of the sort family, which a GPU runs
// with CUB (sort_cub.cu, a library with no kernel source to emulate), as std::stable_sort
// per segment on the emulator's device memory (host memory), queued on the stream as a kernel would be. The
// key and output kernels around it (sort_keys.cu) still run on the emulator.
#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "ember/backend/cuda/sort_kernels.h"

namespace ember::gpu::sorting {

namespace {

// Sorted values go to vals1, as a radix sort with an odd number of passes leaves them,
// so the caller's "which buffer" logic is exercised.
template <class K>
const uint32_t* sort_pairs_as(const K* keys0, const uint32_t* vals0, uint32_t* vals1, int64_t segments, int64_t n) {
  std::vector<std::pair<K, uint32_t>> seg(static_cast<size_t>(n));
  for (int64_t s = 0; s < segments; ++s) {
    const int64_t first = s * n;
    for (int64_t j = 0; j < n; ++j) seg[j] = {keys0[first + j], vals0[first + j]};
    std::stable_sort(seg.begin(), seg.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (int64_t j = 0; j < n; ++j) vals1[first + j] = seg[j].second;
  }
  return vals1;
}

}  // namespace

size_t sort_pairs_temp_bytes(size_t, int64_t, int64_t) { return 0; }

// Queued on `stream` like the CUB call: the key kernel before it and the output kernel after
// it run on the stream's thread, behind the host.
const uint32_t* sort_pairs(void*, size_t, void* keys0, void*, uint32_t* vals0, uint32_t* vals1, size_t key_bytes,
                           int64_t segments, int64_t n, cudaStream_t stream) {
  emu::submit(stream, [=] {
    switch (key_bytes) {
      case 2:
        sort_pairs_as(static_cast<const uint16_t*>(keys0), vals0, vals1, segments, n);
        break;
      case 4:
        sort_pairs_as(static_cast<const uint32_t*>(keys0), vals0, vals1, segments, n);
        break;
      default:
        sort_pairs_as(static_cast<const uint64_t*>(keys0), vals0, vals1, segments, n);
    }
  });
  return vals1;
}

}  // namespace ember::gpu::sorting
