// Source generation and launch plans for the CUDA kernels of RandomBits and Scan.
// Internal to the CUDA backend; the runtime (random_scan.cpp), the PTX-compile test
// (in tests/test_cuda_random_scan.cpp) and the emulator test
// (tests/test_cuda_emulated_random_scan.cpp) build their programs and launches from here.
//
// Kernels:
//   random_bits_threefry2x32:  threefry2x32-20, bit-identical to backend/cpu/random.cpp
//   scan_<Op>_<dtype>_row:     scan axis innermost (inner == 1), or few long columns: one
//                              block per row, a block-wide scan per chunk with a running carry
//   scan_<Op>_<dtype>_col:     any axis: one thread per (outer, inner) column walks the
//                              axis in order (coalesced across inner), as the CPU does
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ember/array.h"
#include "ember/backend/cuda/elementwise_codegen.h"
#include "ember/dtype.h"
#include "ember/primitives.h"

namespace ember::gpu::rs {

using ew::Target;

enum class Family : uint8_t { RandomBits, Scan };
enum class Pattern : uint8_t { Bits, Row, Column };

/// One program's worth of kernels: RandomBits (op and dtype unused), or one scan op on one dtype.
struct Variant {
  Family family;
  ScanOp op = ScanOp::Sum;
  Dtype dtype = uint32;
};

/// Host mirror of the device BitsArgs. keys: num_keys (k0, k1) pairs, key k's words at
/// keys[k * key_stride] and keys[k * key_stride + word_stride]; out: num_keys blocks of
/// bytes_per_key bytes.
struct BitsArgs {
  int64_t num_keys;
  int64_t key_stride;
  int64_t word_stride;
  int64_t bytes_per_key;
};

/// Host mirror of the device ScanArgs. in: (outer, n, inner) with element strides
/// (s_outer, s_n, s_inner); out: (outer, n, inner) row-major; reverse/inclusive are 0 or 1.
struct ScanArgs {
  int64_t outer, n, inner;
  int64_t s_outer, s_n, s_inner;
  int32_t reverse, inclusive;
};

/// A launch: kernel pattern, grid and block (x only), and the kernel's struct argument.
struct BitsLaunch {
  unsigned grid, block;
  BitsArgs args;
};
struct ScanLaunch {
  Pattern pattern;
  unsigned grid, block;
  ScanArgs args;
};

/// Elements each thread of the row kernel scans per chunk (consecutive in scan order).
inline constexpr int kRowItems = 4;
/// Scans of at most this many elements take the column kernel (one thread per row) instead.
inline constexpr int64_t kRowMinLength = 32;
/// A strided axis (inner > 1) with at most this many columns takes the row kernel, one block
/// per column, rather than the column kernel's one thread per column.
inline constexpr int64_t kRowMaxColumns = 1024;

/// Whether the GPU runs `op` on `t` (complex64 and the combinations the CPU rejects decline).
bool scan_supported(ScanOp op, Dtype t);

/// The launch of RandomBits for keys of `key_shape`/`key_strides` (uint32, (K..., 2)) filling
/// `out_nbytes` bytes; nullopt when the key dims do not collapse to one stride (the op then
/// declines). grid == 0 means there is nothing to compute.
std::optional<BitsLaunch> random_bits_launch(const Shape& key_shape, const Strides& key_strides, size_t out_nbytes);

/// The launch of a scan of an input of `shape`/`strides` along `axis`; nullopt when the axes
/// before or after `axis` do not each collapse to one stride. `shape` must be non-empty (size > 0).
std::optional<ScanLaunch> scan_launch(const Shape& shape, const Strides& strides, int axis, bool reverse,
                                      bool inclusive);

/// The patterns a variant's program has, and their kernel names.
std::vector<Pattern> patterns(Family f);
std::string kernel_name(const Variant& v, Pattern p);

/// What the backend compiles: the device form, or the emulator form in the emulated build.
using ew::kBackendTarget;
/// The full source of the program holding `variants` (see ew::program_source for Target).
std::string program_source(const std::vector<Variant>& variants, Target target = kBackendTarget);

/// RandomBits and every supported (scan op, dtype).
std::vector<Variant> all_variants();

/// jit::compile of program_source(variants); needs no GPU.
std::string compile_program(const std::vector<Variant>& variants, const std::string& name, const std::string& arch);

}  // namespace ember::gpu::rs
