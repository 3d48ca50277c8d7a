// Einstein summation (as mlx.core.einsum / numpy.einsum) and its contraction
// planner (einsum_path). Composed from existing ops (diagonal, sum, transpose,
// reshape, matmul, multiply), so vjp / jvp / vmap come for free.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "ember/array.h"
#include "ember/device.h"

namespace ember {

/// Evaluates the Einstein summation `subscripts` over `operands`, e.g.
/// "ij,jk->ik" (matmul), "bij,bjk->bik", "ii->i" (diagonal), "ii" (trace),
/// "...ij,...jk" (broadcast batch). Subscripts are letters (a-z, A-Z), at
/// most one "..." per term, ',' between operands and an optional "->output".
/// Without "->" the output is the "..." axes then the letters used once, in
/// ASCII order. Labels repeated within one operand take its diagonal; labels
/// missing from the output are summed (an explicit output must keep "..." when
/// the inputs have "..." axes, as NumPy); size-1 axes broadcast against the
/// other operands.
/// Operands are promoted to one dtype; pairwise contractions follow the path
/// einsum_path() chooses and run as (batched) matmuls for inexact dtypes.
array einsum(const std::string& subscripts, const std::vector<array>& operands, StreamOrDevice s = {});

/// The contraction order einsum uses and a printable report. Each entry names
/// the positions, in the current operand list, of the operands contracted at
/// that step; they are removed and their result appended at the end (NumPy's
/// convention; a single operand gives {{0}}). The path is optimal (fewest
/// FLOPs) by exhaustive search for up to 5 operands, greedy beyond. The report
/// gives the naive and optimized FLOP counts, the largest intermediate and
/// each step, as numpy.einsum_path prints them.
std::pair<std::vector<std::vector<int>>, std::string> einsum_path(const std::string& subscripts,
                                                                  const std::vector<array>& operands);

}  // namespace ember
