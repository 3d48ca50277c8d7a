// Internal to the CUDA backend and its benchmark: the shape of the quantized matrix-vector kernel
// (quantized.cu), for measuring the alternatives on a GPU.
#pragma once

namespace ember::gpu {

/// Makes 4-bit quantized products of one row of x give `rows` rows of w to each group of `split`
/// warps, which share the row's chunks (built: rows 1 with split 1, 2, 4; rows 2 with 1, 2, 4;
/// rows 4 with 1, 2), with x staged in shared memory (where it fits) or read from global memory,
/// and at most `blocks_per_sm` blocks per multiprocessor walking the rows (0: a block per tile of
/// rows); rows 0 restores the default. Returns false, changing nothing, for a choice not built.
bool set_qmv_config(int rows, int split, bool stage_x = true, int blocks_per_sm = 0);

}  // namespace ember::gpu
