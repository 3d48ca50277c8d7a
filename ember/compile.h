// compile: traces a function once per input signature into a graph, simplifies the
// graph (merges identical constants and common subexpressions, drops no-ops and dead
// nodes) and fuses chains of elementwise ops into one generated kernel: C++ built with
// the system compiler on the CPU, CUDA C++ through NVRTC on the GPU.
#pragma once

#include <cstdint>

#include "ember/transforms.h"

namespace ember {

/// Returns `fun` compiled. A call whose inputs have a signature (dtypes, shapes, the
/// default device) not seen before traces `fun` on placeholders and keeps the simplified,
/// fused graph; later calls with that signature only rebuild the graph on the new inputs.
/// With `shapeless`, a trace is reused for inputs of any shape with the same dtypes and
/// numbers of dimensions, the output shapes following the ops' shape rules (ops that fix a
/// shape, such as reshape or broadcast_to, throw then).
///
/// Arrays `fun` captures (weights in a closure, say) are constants of the trace: a later
/// change to the captured variable is not seen. Pass state as inputs instead. `fun` may not
/// evaluate arrays that depend on its inputs (eval, item) while it is traced.
///
/// compile composes with the transforms: grad(compile(f)), compile(grad(f)), vmap(compile(f)).
MultiFn compile(MultiFn fun, bool shapeless = false);

/// Turns compile off (compiled functions then call `fun` directly) or back on for the
/// process. EMBER_DISABLE_COMPILE=1 in the environment starts the process with it off.
void disable_compile();
void enable_compile();
bool compile_enabled();

namespace detail {

/// Counters for tests and benchmarks.
struct CompileStats {
  uint64_t traces = 0;          // functions traced (a cache miss of a compiled function)
  uint64_t fused_kernels = 0;   // fused elementwise regions made by those traces
  uint64_t cpu_builds = 0;      // CPU kernel libraries built with the system compiler
  uint64_t cpu_disk_loads = 0;  // CPU kernel libraries loaded from the disk cache
};
CompileStats compile_stats();

/// Whether this thread is tracing a function for compile.
bool in_compile_trace();

}  // namespace detail

}  // namespace ember
