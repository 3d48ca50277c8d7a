// Internal to the CUDA matmul: matrix-vector kernels (matmul_gemv.cu).
// Preconditions (checked by the caller): every pointer and every row start
// (ld * element size) 16-byte aligned; K (gemv_rows) or N (gemv_cols) a
// multiple of 16 / element size. Launches are not checked here.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace ember {
class array;
}

namespace ember::gpu {

enum class GemvType { f16, bf16, f32 };

/// y (rows,) = w (rows, K; row stride ldw) @ x (K,). One warp per output.
void gemv_rows(GemvType t, const void* w, const void* x, void* y, int64_t rows, int64_t K, int64_t ldw,
               cudaStream_t stream);

/// y (N,) = x (K,) @ b (K, N; row stride ldb), K split over `splits` blocks whose partial
/// sums go to `partial` (splits * N floats); `counters` (one per column tile of
/// 32 * 16 / element size columns; zero, left zero) count the blocks done: gemv_counters
/// gives a stream such a block.
void gemv_cols(GemvType t, const void* b, const void* x, void* y, int64_t N, int64_t K, int64_t ldb, float* partial,
               unsigned* counters, int splits, cudaStream_t stream);

/// How many K-splits gemv_cols should use on a GPU with `sm_count` SMs.
int gemv_cols_splits(int64_t N, int64_t K, int elem_bytes, int sm_count);

/// At least `n` zeroed counters for gemv_cols launches on `stream`.
unsigned* gemv_counters(size_t n, cudaStream_t stream);

/// The largest matrix (bytes) the columns kernel takes; larger column-layout products go to
/// cuBLASLt. Default 32 MiB; benchmarks set it to compare both paths in one process.
void set_gemv_columns_limit(int64_t bytes);
int64_t gemv_columns_limit();

/// out (1, N) = a (1, K) @ b (K, N) or out (M, 1) = a (M, K) @ b (K, 1), no batch, float32,
/// float16 or bfloat16, through the kernels above when the layouts and alignments fit their
/// 16-byte loads. False (nothing queued): the caller runs the product another way.
bool try_gemv(const array& a, const array& b, array& out, cudaStream_t stream);

}  // namespace ember::gpu
