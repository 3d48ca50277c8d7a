// Evaluation of lazy arrays, and the function transforms: vjp, jvp, grad,
// value_and_grad, vmap. Transforms are functions of functions and nest freely.
#pragma once

#include <functional>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "ember/array.h"

namespace ember {

/// Evaluates `outputs` and everything they depend on, blocking until done.
/// A kernel's exception is rethrown here, in the caller's thread.
void eval(std::vector<array> outputs);
/// Starts evaluating `outputs` without waiting; array::wait(), eval or a read blocks.
void async_eval(std::vector<array> outputs);

template <class... Arrays>
void eval(Arrays&&... a) {
  eval(std::vector<array>{std::forward<Arrays>(a)...});
}

namespace detail {
/// While one is alive (on any thread), evaluated arrays keep their recipe so
/// transforms tracing a function can still walk through them.
struct TracingScope {
  TracingScope();
  ~TracingScope();
  TracingScope(const TracingScope&) = delete;
  TracingScope& operator=(const TracingScope&) = delete;
};
/// Whether a TracingScope is alive.
bool is_tracing();
}  // namespace detail

using MultiFn = std::function<std::vector<array>(const std::vector<array>&)>;
using UnaryFn = std::function<array(const array&)>;

/// Vector-Jacobian product: runs `fun` on `primals` and pulls `cotangents`
/// (one per output; missing ones count as zero) back to the primals.
/// Returns (outputs, cotangents of the primals).
std::pair<std::vector<array>, std::vector<array>> vjp(const MultiFn& fun, const std::vector<array>& primals,
                                                      const std::vector<array>& cotangents);
std::pair<array, array> vjp(const UnaryFn& fun, const array& primal, const array& cotangent);

/// Jacobian-vector product: pushes `tangents` (one per primal) through `fun`.
/// Returns (outputs, tangents of the outputs).
std::pair<std::vector<array>, std::vector<array>> jvp(const MultiFn& fun, const std::vector<array>& primals,
                                                      const std::vector<array>& tangents);
std::pair<array, array> jvp(const UnaryFn& fun, const array& primal, const array& tangent);

using ValueAndGradFn = std::function<std::pair<std::vector<array>, std::vector<array>>(const std::vector<array>&)>;

/// Returns a function computing fun's outputs and the gradient of its first
/// output (which must be a scalar) with respect to the inputs in `argnums`.
ValueAndGradFn value_and_grad(const MultiFn& fun, const std::vector<int>& argnums);
ValueAndGradFn value_and_grad(const MultiFn& fun, int argnum = 0);
std::function<std::pair<array, array>(const array&)> value_and_grad(const UnaryFn& fun);

/// Gradients of fun's first (scalar) output with respect to `argnums`.
MultiFn grad(const MultiFn& fun, const std::vector<int>& argnums);
MultiFn grad(const MultiFn& fun, int argnum = 0);
UnaryFn grad(const UnaryFn& fun);

/// An out_axes entry of vmap: the output comes back as fun computes it, without a mapped axis
/// (JAX's and MLX's out_axes=None); it must not depend on a mapped input.
inline constexpr int kUnmapped = std::numeric_limits<int>::min();

/// Vectorizes `fun` over axis in_axes[i] of input i (-1: not mapped); the
/// mapped axis of output j is out_axes[j] (negative: from the end; kUnmapped: none; the last
/// entry repeats for the outputs past it; empty: 0 for every output).
MultiFn vmap(const MultiFn& fun, const std::vector<int>& in_axes, const std::vector<int>& out_axes = {});
/// vmap with the outputs' axes decided once fun has been traced (they may depend on the
/// structure of what it returned): out_axes() is called after the trace.
MultiFn vmap_after_trace(const MultiFn& fun, const std::vector<int>& in_axes,
                         std::function<std::vector<int>()> out_axes);
UnaryFn vmap(const UnaryFn& fun, int in_axis = 0, int out_axis = 0);

/// User rules for custom_function: vjp gets (primals, cotangents, outputs) and
/// returns one cotangent per primal; jvp gets (primals, tangents, argnums) and
/// returns one tangent per output; vmap gets (inputs, axes) and returns
/// (outputs, output axes).
using CustomVjpFn =
    std::function<std::vector<array>(const std::vector<array>&, const std::vector<array>&, const std::vector<array>&)>;
using CustomJvpFn =
    std::function<std::vector<array>(const std::vector<array>&, const std::vector<array>&, const std::vector<int>&)>;
using CustomVmapFn =
    std::function<std::pair<std::vector<array>, std::vector<int>>(const std::vector<array>&, const std::vector<int>&)>;

/// Wraps `fun` so transforms use the given rules instead of differentiating
/// (or batching) through fun's graph. Missing rules fall back to fun's graph
/// (vmap) or raise a clear error (vjp/jvp).
MultiFn custom_function(MultiFn fun, std::optional<CustomVjpFn> fun_vjp = std::nullopt,
                        std::optional<CustomJvpFn> fun_jvp = std::nullopt,
                        std::optional<CustomVmapFn> fun_vmap = std::nullopt);
/// custom_function with only a vjp rule.
MultiFn custom_vjp(MultiFn fun, CustomVjpFn fun_vjp);

/// Gradient checkpointing: the backward pass recomputes fun's intermediates
/// from its inputs instead of keeping them alive, trading compute for memory.
MultiFn checkpoint(MultiFn fun);

}  // namespace ember
