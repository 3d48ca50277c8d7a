// Runtime-dispatched (Highway) column kernels of the reductions: several input
// rows are folded into one row of accumulators per pass, so the accumulators
// are loaded and stored once per group of rows instead of once per row.
#pragma once

#include <cstdint>

namespace ember::cpu::simd {

enum class ColOp { Add, Max, Min };

/// acc[j] = op(acc[j], rows[0][j], ..., rows[nrows-1][j]) for j < n. Max/min
/// propagate nan (a nan accumulator stays nan).
void accumulate_rows_f32(const float* const* rows, int64_t nrows, float* acc, int64_t n, ColOp op);

/// Running column argmax (is_max) or argmin over rows first_index, first_index + 1, ...:
/// where rows[r][j] beats best[j] (strictly, or is the first nan), best[j] = rows[r][j]
/// and idx[j] = first_index + r. Ties keep the earlier row.
void arg_update_rows_f32(const float* const* rows, int64_t nrows, uint32_t first_index, float* best, uint32_t* idx,
                         int64_t n, bool is_max);

}  // namespace ember::cpu::simd
