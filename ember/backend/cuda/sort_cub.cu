// The segmented (key, position) sort of the sort family on a GPU, with CUB's radix sorts
// (stable, so ties keep input order, as the CPU's stable argsort does). Real CUDA builds
// only: the emulated build has emu/sort_emulated.cpp instead.
//
// Two plans:
//   - few long segments (or one): cub::DeviceRadixSort per segment, each sort spread
//     over the whole GPU (a segmented sort gives a segment to one block);
//   - otherwise cub::DeviceSegmentedSort::StableSortPairs, in batches of at most
//     INT32_MAX items (CUB's int offsets), segment bounds from an offsets array k * n.
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_segmented_sort.cuh>

#include <algorithm>
#include <climits>
#include <cstdint>

#include "ember/backend/cuda/cuda.h"
#include "ember/backend/cuda/sort_kernels.h"

namespace ember::gpu::sorting {

namespace {

// Per-segment device-wide sorts once a segment alone can fill the GPU and there are too
// few segments for one block each to do so. (A guess: not yet benchmarked.)
constexpr int64_t kLongSegment = int64_t(1) << 16;
constexpr int64_t kFewSegments = 128;

constexpr size_t kAlign = 256;
size_t align_up(size_t b) { return (b + kAlign - 1) / kAlign * kAlign; }

struct Plan {
  bool per_segment = false;
  int64_t batch = 0;  // segments per DeviceSegmentedSort call
};

Plan plan_for(int64_t segments, int64_t n) {
  Plan p;
  p.per_segment = segments == 1 || (n >= kLongSegment && segments <= kFewSegments);
  p.batch = std::max<int64_t>(1, std::min<int64_t>(segments, INT_MAX / n));
  return p;
}

template <class K>
size_t temp_bytes_for(const Plan& p, int64_t segments, int64_t n) {
  cub::DoubleBuffer<K> keys(nullptr, nullptr);
  cub::DoubleBuffer<uint32_t> vals(nullptr, nullptr);
  size_t bytes = 0;
  if (p.per_segment) {
    EMBER_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, bytes, keys, vals, static_cast<int>(n)));
    return bytes;
  }
  // Both batch sizes (full and last) may run; the offsets array sits in front.
  for (int64_t b : {p.batch, segments % p.batch}) {
    if (b == 0) continue;
    size_t need = 0;
    const int* offsets = nullptr;
    EMBER_CUDA_CHECK(cub::DeviceSegmentedSort::StableSortPairs(nullptr, need, keys, vals, static_cast<int>(b * n),
                                                               static_cast<int>(b), offsets, offsets + 1));
    bytes = std::max(bytes, need);
  }
  return align_up((p.batch + 1) * sizeof(int)) + bytes;
}

template <class K>
const uint32_t* sort_pairs_as(void* temp, size_t temp_bytes, K* keys0, K* keys1, uint32_t* vals0, uint32_t* vals1,
                              int64_t segments, int64_t n, cudaStream_t stream) {
  const Plan p = plan_for(segments, n);
  // Every call must leave its values in the same buffer: the first call's choice (CUB's
  // choice depends only on the key width and the sizes, so the copy below is a safeguard).
  uint32_t* result = nullptr;
  auto settle = [&](cub::DoubleBuffer<uint32_t>& v, int64_t first, int64_t count) {
    if (!result) result = v.Current() == vals0 + first ? vals0 : vals1;
    uint32_t* want = result + first;
    if (v.Current() != want) {
      EMBER_CUDA_CHECK(cudaMemcpyAsync(want, v.Current(), count * sizeof(uint32_t), cudaMemcpyDeviceToDevice, stream));
    }
  };
  if (p.per_segment) {
    for (int64_t s = 0; s < segments; ++s) {
      const int64_t first = s * n;
      cub::DoubleBuffer<K> keys(keys0 + first, keys1 + first);
      cub::DoubleBuffer<uint32_t> vals(vals0 + first, vals1 + first);
      size_t bytes = temp_bytes;
      EMBER_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp, bytes, keys, vals, static_cast<int>(n), 0,
                                                       static_cast<int>(sizeof(K) * 8), stream));
      settle(vals, first, n);
    }
    return result;
  }
  const size_t offsets_bytes = align_up((p.batch + 1) * sizeof(int));
  int* offsets = static_cast<int*>(temp);
  fill_offsets(offsets, p.batch + 1, n, stream);
  void* cub_temp = static_cast<char*>(temp) + offsets_bytes;
  for (int64_t s0 = 0; s0 < segments; s0 += p.batch) {
    const int64_t b = std::min(p.batch, segments - s0), first = s0 * n;
    cub::DoubleBuffer<K> keys(keys0 + first, keys1 + first);
    cub::DoubleBuffer<uint32_t> vals(vals0 + first, vals1 + first);
    size_t bytes = temp_bytes - offsets_bytes;
    EMBER_CUDA_CHECK(cub::DeviceSegmentedSort::StableSortPairs(cub_temp, bytes, keys, vals, static_cast<int>(b * n),
                                                               static_cast<int>(b), offsets, offsets + 1, stream));
    settle(vals, first, b * n);
  }
  return result;
}

}  // namespace

size_t sort_pairs_temp_bytes(size_t key_bytes, int64_t segments, int64_t n) {
  const Plan p = plan_for(segments, n);
  switch (key_bytes) {
    case 2:
      return temp_bytes_for<uint16_t>(p, segments, n);
    case 4:
      return temp_bytes_for<uint32_t>(p, segments, n);
    default:
      return temp_bytes_for<uint64_t>(p, segments, n);
  }
}

const uint32_t* sort_pairs(void* temp, size_t temp_bytes, void* keys0, void* keys1, uint32_t* vals0, uint32_t* vals1,
                           size_t key_bytes, int64_t segments, int64_t n, cudaStream_t stream) {
  switch (key_bytes) {
    case 2:
      return sort_pairs_as(temp, temp_bytes, static_cast<uint16_t*>(keys0), static_cast<uint16_t*>(keys1), vals0, vals1,
                           segments, n, stream);
    case 4:
      return sort_pairs_as(temp, temp_bytes, static_cast<uint32_t*>(keys0), static_cast<uint32_t*>(keys1), vals0, vals1,
                           segments, n, stream);
    default:
      return sort_pairs_as(temp, temp_bytes, static_cast<uint64_t*>(keys0), static_cast<uint64_t*>(keys1), vals0, vals1,
                           segments, n, stream);
  }
}

}  // namespace ember::gpu::sorting
