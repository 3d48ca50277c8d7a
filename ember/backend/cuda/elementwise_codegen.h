// Source generation for the CUDA elementwise kernels (Unary, Binary, Select, AsType/Copy).
// Internal to the CUDA backend; the runtime (elementwise.cpp) and the PTX-compile test
// (tests/test_cuda_jit.cpp) build their NVRTC programs from the same pieces.
//
// A Variant is one op on one dtype pair; its program holds one kernel per access pattern:
//   unary / astype / select: contig (16-byte vector accesses), strided32, strided64
//   binary:                  vv, sv (a is one value), vs (b is one value), strided32, strided64
//   arange:                  contig only (no input)
// Row-broadcast inputs ((M,N) op (N,)) collapse to two axes and take the strided kernels.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ember/dtype.h"
#include "ember/primitives.h"
#include "ember/primitives_compiled.h"

namespace ember::gpu::ew {

enum class Family : uint8_t { Unary, Binary, Select, AsType, Arange };

enum class Pattern : uint8_t { Contig, ScalarVector, VectorScalar, Strided32, Strided64 };

/// One op on one (input, output) dtype pair. `op` is a UnaryOp/BinaryOp value (0 otherwise).
struct Variant {
  Family family;
  int op;
  Dtype in;
  Dtype out;
};

/// Most axes a strided kernel takes after collapsing contiguous ones (more: the op declines).
inline constexpr int kMaxDims = 8;

/// Host mirror of the device StridedArgs<NARR> (same layout: int32 ndim, then int64 arrays).
template <int NARR>
struct StridedArgs {
  int32_t ndim;
  int64_t shape[kMaxDims];
  int64_t strides[NARR][kMaxDims];
};

/// The output dtype of `op` on `in` when the GPU supports it, else nullopt (the op declines).
std::optional<Dtype> unary_output(UnaryOp op, Dtype in);
std::optional<Dtype> binary_output(BinaryOp op, Dtype in);

/// Elements per thread of the contig/vv/sv/vs kernels (each access is <= 16 bytes).
int vector_width(const Variant& v);

/// The patterns a variant's program has, and the kernel name of each
/// ("binary_Add_float32_vv", "astype_int8_float16_strided64", ...).
std::vector<Pattern> patterns(Family f);
std::string kernel_name(const Variant& v, Pattern p);

/// The full NVRTC source of the programs holding `variants` (prelude, the device
/// library of templates and functors, then each variant's extern "C" kernels).
/// The runtime compiles one variant per program; the test batches many.
enum class Target : uint8_t { Device, Emulator };
/// Target::Emulator gives the same kernels for the host compiler and the CPU emulator
/// (emu/emu.h), plus for each kernel K an entry point
/// `extern "C" void emu_K(unsigned grid, unsigned block, uint64_t seed, void** args)`
/// taking the argument array cudaLaunchKernel would.
/// What the backend compiles: the device form, or the emulator form in the emulated build.
#ifdef EMBER_CUDA_EMULATED
inline constexpr Target kBackendTarget = Target::Emulator;
#else
inline constexpr Target kBackendTarget = Target::Device;
#endif
std::string program_source(const std::vector<Variant>& variants, Target target = kBackendTarget);

/// Every variant the GPU supports: all unary and binary ops on each dtype they accept,
/// Select on every dtype, AsType between every pair of dtypes (Copy is AsType T -> T),
/// Arange on every real dtype but bool.
std::vector<Variant> all_variants();

/// The device library of program_source (the access-pattern templates and one functor per
/// op), for programs generated elsewhere (compile's fused kernels).
const char* device_library();

/// Whether every op of region `c` has a GPU form.
bool fused_supported(const Compiled& c);
/// compile's fused kernel `name` for region `c` (backend/cuda/compiled.cpp): a complete
/// program, or nullopt when an op of the region has no GPU form. Pattern::Contig reads input i
/// at the element's index, or its one value where scalar[i]; with `width` > 1 each thread
/// reads `width` consecutive elements of each dense input as one vector (every pointer
/// aligned to its vector). Strided32/64 take a StridedArgs<number of inputs>. Arguments: the
/// inputs' pointers, the output's, n (int64), then the StridedArgs.
std::optional<std::string> fused_source(const Compiled& c, Pattern p, const std::vector<bool>& scalar,
                                        const std::string& name, Target target = kBackendTarget, int width = 1);
/// The vector width of a dense fused kernel over these dtypes: 16 bytes of the widest.
int fused_vector_width(const Compiled& c);

/// jit::compile of program_source(variants) (PTX for "compute_XY", a cubin for "sm_XY");
/// throws with NVRTC's log on a compile error. Needs no GPU.
std::string compile_program(const std::vector<Variant>& variants, const std::string& name, const std::string& arch);

}  // namespace ember::gpu::ew
