// Internal to the CUDA backend and its benchmark: the shape of the quantized matrix-vector kernel
// (quantized.cu), for measuring the alternatives on a GPU.
#pragma once

namespace ember::gpu {

/// Makes 4-bit quantized products of one row of x give `rows` rows of w to each group of `split`
/// warps, which share the row's chunks (built: rows 1 with split 1, 2, 4, 8; rows 2 with 1, 2,
/// 4, 8; rows 4 with 2, 4); rows 0 restores the default. Returns false, changing nothing, for a
/// pair that is not built.
bool set_qmv_config(int rows, int split);

}  // namespace ember::gpu
