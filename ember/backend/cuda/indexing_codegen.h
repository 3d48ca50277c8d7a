// Source generation and launch plans for the CUDA indexing and shape-copy kernels:
// Gather, Scatter (None/Sum/Prod/Max/Min), GatherAxis, ScatterAddAxis, and the strided
// copy and fill behind Concatenate, Pad and SliceUpdate. Internal to the CUDA backend; the
// runtime (indexing.cpp), the PTX-compile test (tests/test_cuda_jit.cpp) and the emulator
// test (tests/test_cuda_emulated_indexing.cpp) all build from these pieces, and the
// plan functions below are the one place the kernels' arguments are worked out.
//
// Pure data movement (copy, fill, gather, gather_axis, scatter None) moves bytes: one
// variant per element size (uint8/16/32/64 standing in for every dtype of that size).
// Scatter with a reduction and ScatterAddAxis compute, so they have one variant per dtype.
// Index kernels have one variant per index dtype (any integer dtype; all of one op's
// index arrays share it, else the op declines).
//
// Out-of-range indices: kernels record the first one they meet in a 3-word device error
// record (flag, raw index, which index array) and skip that element; the host reads the
// record back and throws std::out_of_range with the CPU kernel's message.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ember/array.h"
#include "ember/backend/cuda/elementwise_codegen.h"
#include "ember/dtype.h"
#include "ember/primitives_index.h"

namespace ember::gpu::idx {

enum class Family : uint8_t {
  Copy,            // dst[strided] = src[strided]             (Concatenate, Pad, SliceUpdate, Scatter's start)
  Fill,            // out[i] = *value                          (Pad)
  Gather,          // out[p, s] = a[idx(p) + s]
  GatherAxis,      // out[..., i, ...] = a[..., idx[..., i, ...], ...]
  Scatter,         // out[idx(p) + s] op= upd[p, s]            (reduce Sum/Prod/Max/Min: atomics)
  ScatterNone,     // two passes: claim (last p wins), then write
  ScatterAddAxis,  // one thread per column, updates added in order; or atomics for few columns
};

/// One kernel family on one element dtype (a same-size unsigned type for the byte movers)
/// and one index dtype (ignored by Copy and Fill).
struct Variant {
  Family family;
  Dtype data;
  Dtype index = int32;
  ScatterReduce reduce = ScatterReduce::None;
};

using ew::kMaxDims;
using ew::StridedArgs;
using ew::Target;

/// Most index arrays one Gather/Scatter kernel takes (more: the op declines).
inline constexpr int kMaxIndices = 4;

/// Host mirror of the device GatherArgs (same fields in the same order; every member is
/// 8-byte aligned, so host and device compilers lay it out alike).
struct GatherArgs {
  int64_t nidx;
  const void* idx[kMaxIndices];      // device pointers, filled at launch
  int64_t axis[kMaxIndices];         // a's axis of index array j (for the error message)
  int64_t axis_size[kMaxIndices];    // a.shape(axis)
  int64_t axis_stride[kMaxIndices];  // stride of that axis in a (gather) / out (scatter)
  int64_t extent[kMaxIndices];       // the slice's extent on that axis (the index must leave room)
  StridedArgs<kMaxIndices> index;    // positions p of I (collapsed) -> each index array's offset
  StridedArgs<1> slice;              // slice element s (collapsed) -> offset in a / out
  int64_t slice_elems;
  StridedArgs<1> updates;  // Scatter: update element (row-major over I + slice) -> offset
};

/// The error record's words: [0] set to 1 on an error, [1] the raw index, [2] which index array.
inline constexpr int kErrorWords = 3;

/// The unsigned type standing in for `t` in the byte-moving kernels.
Dtype bits_dtype(Dtype t);
/// The index dtypes the kernels read (every integer dtype; not bool).
bool is_index_dtype(Dtype t);
/// Whether Scatter with `r` has a kernel for dtype `t` (4- and 8-byte numbers: native
/// atomics or a compare-and-swap loop; None works on every dtype).
bool scatter_supported(ScatterReduce r, Dtype t);

/// The kernels of a variant's program, in launch order (ScatterNone has two).
std::vector<std::string> kernel_names(const Variant& v);

/// The program holding `variants` (prelude, device library, each variant's extern "C"
/// kernels). Target::Emulator adds `extern "C" void emu_K(unsigned grid, unsigned block,
/// uint64_t seed, void** args)` for each kernel K (see elementwise_codegen.h).
/// What the backend compiles: the device form, or the emulator form in the emulated build.
using ew::kBackendTarget;
std::string program_source(const std::vector<Variant>& variants, Target target = kBackendTarget);

/// Every variant the runtime can ask for.
std::vector<Variant> all_variants();

/// jit::compile of program_source(variants); throws with NVRTC's log. Needs no GPU.
std::string compile_program(const std::vector<Variant>& variants, const std::string& name, const std::string& arch);

// ------------------------------------------------------------------ launch plans
// Pure functions of shapes, strides and dtypes (no device pointers), shared by
// indexing.cpp and the tests. nullopt: too many axes or index arrays (the op declines).

/// Strided copy of `shape` from `src_strides` to `dst_strides` (element strides; the
/// destination pointer carries any offset). Kernel args: (src, dst, int64 n, StridedArgs<2>).
std::optional<StridedArgs<2>> copy_plan(const Shape& shape, const Strides& src_strides, const Strides& dst_strides);

/// Gather: a and the index arrays as they are (any layout). Kernel args:
/// (a, out, int64 n = out.size(), GatherArgs, uint64* err).
std::optional<GatherArgs> gather_plan(const array& a, const std::vector<array>& indices, const std::vector<int>& axes,
                                      const Shape& slice_sizes);
/// Scatter into a row-contiguous out of `out_shape`; updates of any layout. Kernel args:
/// Sum/Prod/Max/Min: (upd, out, int64 n = upd.size(), GatherArgs, uint64* err);
/// None: claim (int64* winner, int64 n, GatherArgs, uint64* err), then
///       write (upd, out, const int64* winner, int64 n, GatherArgs, uint64* err), with winner
///       out.size() int64s set to -1 first.
std::optional<GatherArgs> scatter_plan(const Shape& out_shape, const std::vector<array>& indices, const array& updates,
                                       const std::vector<int>& axes);

/// GatherAxis (take_along_axis). Kernel args: (a, idx, out, int64 n = out.size(),
/// int64 na, int64 a_axis_stride, StridedArgs<2>, uint64* err).
struct GatherAxisPlan {
  int64_t n, na, a_axis_stride;
  StridedArgs<2> layout;  // out index -> (index offset, a offset without the axis)
};
std::optional<GatherAxisPlan> gather_axis_plan(const array& a, const array& indices, int axis);

/// ScatterAddAxis into a row-contiguous out of `out_shape`. Kernel 0: one thread per column
/// (every axis but `axis`) adding its updates in order, as the CPU: exact. Kernel 1 (dtypes
/// with atomic adds only): one thread per update, atomics; taken when there are too few
/// columns to fill the GPU (use_atomic). Both take (idx, upd, out, int64 cols, int64 nu,
/// int64 na, int64 idx_axis_stride, int64 upd_axis_stride, int64 out_axis_stride,
/// StridedArgs<3>, uint64* err).
struct ScatterAxisPlan {
  int64_t cols, nu, na, idx_axis_stride, upd_axis_stride, out_axis_stride;
  StridedArgs<3> layout;  // column -> (index offset, update offset, out offset), axis excluded
  bool use_atomic;        // kernel 1 rather than kernel 0
};
std::optional<ScatterAxisPlan> scatter_add_axis_plan(const Shape& out_shape, const array& indices, const array& updates,
                                                     int axis);

/// The CPU kernels' std::out_of_range message for an error record read back from the device.
std::string gather_error_message(const char* op, const GatherArgs& g, const uint64_t err[kErrorWords]);
std::string axis_error_message(const char* op, int axis, int64_t size, const uint64_t err[kErrorWords]);

}  // namespace ember::gpu::idx
