// Internal to the CUDA sort family (Sort, ArgSort, Partition, ArgPartition): the kernels
// around the segmented sort (sort_keys.cu) and the sort itself (sort_cub.cu with CUB on a
// GPU, emu/sort_emulated.cpp with std::stable_sort in the emulated build).
//
// The input is viewed as (segments, n): every line along the sort axis is one segment.
// Its elements become unsigned keys whose unsigned order is the CPU kernel's order, paired
// with their uint32 positions; a stable (key, position) sort per segment then gives the
// stable argsort, from which the outputs are written.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace ember::gpu::sorting {

/// A view with the sort axis moved last: shape (..., n), element strides of the input
/// (any sign, 0 for broadcasts) and of the row-contiguous output. Passed to kernels by value.
struct SortLayout {
  static constexpr int kMaxDims = 8;
  int ndim = 0;
  int64_t shape[kMaxDims] = {};
  int64_t in_strides[kMaxDims] = {};
  int64_t out_strides[kMaxDims] = {};
};

/// How an element's bits map to its key (see sort_keys.cu).
enum class KeyKind : int { Unsigned, Signed, Float };

/// Width of the keys of elem_bytes-wide elements (1-byte elements get 2-byte keys).
inline size_t key_bytes_for(size_t elem_bytes) { return elem_bytes < 2 ? 2 : elem_bytes; }

/// keys[i], vals[i] for the `total` elements of `layout` in row-major order: the
/// order-preserving key of the element (key_bytes_for(elem_bytes) wide) and its position j
/// along the axis. `inf_bits` is +inf's bit pattern (Float only).
void write_keys(const void* in, const SortLayout& layout, size_t elem_bytes, KeyKind kind, uint64_t inf_bits,
                void* keys, uint32_t* vals, int64_t total, cudaStream_t stream);

/// offsets[k] = k * n for k in [0, count): the segment bounds CUB reads.
void fill_offsets(int* offsets, int64_t count, int64_t n, cudaStream_t stream);

/// out[segment, j] = sorted[segment * n + j] (ArgSort, ArgPartition): uint32 output.
void write_indices(const uint32_t* sorted, const SortLayout& layout, uint32_t* out, int64_t total, cudaStream_t stream);

/// out[segment, j] = in[segment, sorted[segment * n + j]] (Sort, Partition): the input's own
/// bits, copied as elem_bytes-wide words.
void gather_sorted(const void* in, const uint32_t* sorted, const SortLayout& layout, void* out, size_t elem_bytes,
                   int64_t total, cudaStream_t stream);

/// Device scratch that sort_pairs needs for `segments` segments of n keys of key_bytes.
size_t sort_pairs_temp_bytes(size_t key_bytes, int64_t segments, int64_t n);

/// Stable-sorts each of the `segments` segments of n (key, value) pairs in (keys0, vals0)
/// by key, ascending. keys1 and vals1 are buffers of the same size; all four may be
/// overwritten. Returns the buffer (vals0 or vals1) holding the sorted values. `temp` holds
/// sort_pairs_temp_bytes(key_bytes, segments, n) bytes. Requires 1 < n <= INT32_MAX.
const uint32_t* sort_pairs(void* temp, size_t temp_bytes, void* keys0, void* keys1, uint32_t* vals0, uint32_t* vals1,
                           size_t key_bytes, int64_t segments, int64_t n, cudaStream_t stream);

}  // namespace ember::gpu::sorting
