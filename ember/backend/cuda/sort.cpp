// CUDA kernels of Sort, ArgSort, Partition and ArgPartition: one stable segmented sort.
//
// x: (..., N, ...) along `axis` is viewed as (segments, N). Each element becomes an
// order-preserving unsigned key paired with its position (sort_keys.cu), the pairs are
// stable-sorted per segment (CUB in sort_cub.cu; std::stable_sort in the emulated build),
// and the sorted positions give the outputs: ArgSort writes them, Sort gathers the input's
// own elements through them (so -0.0 and nan payloads are the input's bits). The order is
// the CPU kernel's: nan last, -0.0 == +0.0, ties in input order, so ArgSort equals the
// CPU's stable argsort exactly.
//
// A full sort is a valid partition for every kth, so Partition and ArgPartition are Sort
// and ArgSort here (topk, a slice of a partition, runs on this path too).
//
// Declined (the CPU kernel runs): complex64 (which the ops reject anyway), 0-d inputs,
// axes longer than INT32_MAX (CUB's int offsets; uint32 positions), and views with more
// than SortLayout::kMaxDims dimensions after merging.
#include <climits>
#include <optional>
#include <vector>

#include "ember/backend/cuda/cuda.h"
#include "ember/backend/cuda/sort_kernels.h"

namespace ember::gpu {

namespace {

using sorting::KeyKind;
using sorting::SortLayout;

struct KeySpec {
  KeyKind kind;
  uint64_t inf_bits = 0;  // +inf's bits, for floats
};

std::optional<KeySpec> key_spec(Dtype t) {
  if (t == float16) return KeySpec{KeyKind::Float, 0x7C00};
  if (t == bfloat16) return KeySpec{KeyKind::Float, 0x7F80};
  if (t == float32) return KeySpec{KeyKind::Float, 0x7F800000};
  if (t == float64) return KeySpec{KeyKind::Float, 0x7FF0000000000000ull};
  if (t == int8 || t == int16 || t == int32 || t == int64) return KeySpec{KeyKind::Signed};
  if (t == bool_ || t == uint8 || t == uint16 || t == uint32 || t == uint64) return KeySpec{KeyKind::Unsigned};
  return std::nullopt;  // complex64
}

// The input's view with `axis` moved last, next to the row-contiguous output's strides.
// Size-1 axes are dropped and neighbours that are one strided run in both views merged,
// so a view of any rank usually fits SortLayout.
std::optional<SortLayout> layout_for(const array& in, int axis) {
  const Shape& shape = in.shape();
  const Strides& is = in.strides();
  const Strides os = row_major_strides(shape);
  std::vector<int64_t> sh, ist, ost;
  for (int d = 0; d < static_cast<int>(shape.size()); ++d) {
    if (d == axis || shape[d] == 1) continue;
    if (!sh.empty() && ist.back() == is[d] * shape[d] && ost.back() == os[d] * shape[d]) {
      sh.back() *= shape[d];
      ist.back() = is[d];
      ost.back() = os[d];
    } else {
      sh.push_back(shape[d]);
      ist.push_back(is[d]);
      ost.push_back(os[d]);
    }
  }
  sh.push_back(shape[axis]);
  ist.push_back(is[axis]);
  ost.push_back(os[axis]);
  if (sh.size() > static_cast<size_t>(SortLayout::kMaxDims)) return std::nullopt;
  SortLayout l;
  l.ndim = static_cast<int>(sh.size());
  for (int d = 0; d < l.ndim; ++d) {
    l.shape[d] = sh[d];
    l.in_strides[d] = ist[d];
    l.out_strides[d] = ost[d];
  }
  return l;
}

size_t align_up(size_t b) { return (b + 255) / 256 * 256; }

// x: (..., N, ...) -> out: same shape, uint32 positions (indices) or x's dtype (values).
bool sort_along_axis(const array& in, array& out, int axis, bool indices, cudaStream_t stream) {
  auto spec = key_spec(in.dtype());
  if (!spec || in.ndim() == 0) return false;
  const int64_t n = in.shape()[axis];
  if (n > INT_MAX) return false;
  if (out.size() == 0) {
    alloc_output(out, stream);
    return true;
  }
  auto layout = layout_for(in, axis);
  if (!layout) return false;

  const int64_t total = static_cast<int64_t>(out.size()), segments = total / n;
  const size_t elem = in.itemsize(), key_bytes = sorting::key_bytes_for(elem);
  const size_t key_part = align_up(total * key_bytes), val_part = align_up(total * sizeof(uint32_t));
  const size_t temp_bytes = n > 1 ? sorting::sort_pairs_temp_bytes(key_bytes, segments, n) : 0;

  void* o = alloc_output(out, stream);
  const void* src = device_ptr(in, stream);
  // keys0 | keys1 | vals0 | vals1; freed (stream-ordered) when `scratch` goes at return.
  auto scratch = alloc_device(2 * key_part + 2 * val_part, stream);
  char* base = static_cast<char*>(scratch->device_ptr);
  void* keys0 = base;
  void* keys1 = base + key_part;
  auto* vals0 = reinterpret_cast<uint32_t*>(base + 2 * key_part);
  auto* vals1 = reinterpret_cast<uint32_t*>(base + 2 * key_part + val_part);

  sorting::write_keys(src, *layout, elem, spec->kind, spec->inf_bits, keys0, vals0, total, stream);
  const uint32_t* sorted = vals0;  // n == 1: positions are all 0, already sorted
  if (n > 1) {
    // CUB reads a null scratch pointer as a size query: always hand it a real one.
    void* temp = workspace(temp_bytes > 0 ? temp_bytes : 256, stream);
    sorted = sorting::sort_pairs(temp, temp_bytes, keys0, keys1, vals0, vals1, key_bytes, segments, n, stream);
  }
  if (indices) {
    sorting::write_indices(sorted, *layout, static_cast<uint32_t*>(o), total, stream);
  } else {
    sorting::gather_sorted(src, sorted, *layout, o, elem, total, stream);
  }
  return true;
}

bool sort_kernel(Primitive& p, const std::vector<array>& inputs, std::vector<array>& outputs, cudaStream_t stream) {
  return sort_along_axis(inputs[0], outputs[0], static_cast<Sort&>(p).axis(), false, stream);
}
bool argsort_kernel(Primitive& p, const std::vector<array>& inputs, std::vector<array>& outputs, cudaStream_t stream) {
  return sort_along_axis(inputs[0], outputs[0], static_cast<ArgSort&>(p).axis(), true, stream);
}
bool partition_kernel(Primitive& p, const std::vector<array>& inputs, std::vector<array>& outputs,
                      cudaStream_t stream) {
  return sort_along_axis(inputs[0], outputs[0], static_cast<Partition&>(p).axis(), false, stream);
}
bool argpartition_kernel(Primitive& p, const std::vector<array>& inputs, std::vector<array>& outputs,
                         cudaStream_t stream) {
  return sort_along_axis(inputs[0], outputs[0], static_cast<ArgPartition&>(p).axis(), true, stream);
}

}  // namespace

void register_sort_kernels() {
  register_kernel(typeid(Sort), sort_kernel);
  register_kernel(typeid(ArgSort), argsort_kernel);
  register_kernel(typeid(Partition), partition_kernel);
  register_kernel(typeid(ArgPartition), argpartition_kernel);
}

}  // namespace ember::gpu
