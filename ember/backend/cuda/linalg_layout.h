// Internal to the CUDA linalg kernels (linalg.cpp): the layout kernels of linalg_layout.cu.
// cuSOLVER is column-major and Ember row-major with arbitrary strides, so every
// factorization starts and ends with one of these copies.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace ember::gpu::linalg {

/// Which part of each matrix a copy keeps; the rest is written as zero.
/// Lower: j <= i, Upper: j >= i, for element (i, j) of the (rows x cols) matrix.
enum class Keep : int { All = 0, Lower = 1, Upper = 2 };

/// A batch of (rows x cols) matrices: element (b, i, j) of the source is at
/// loc(b) + i * src_rs + j * src_cs (loc over the batch axes bshape / src_bstride),
/// of the destination at b * dst_bstride + i * dst_rs + j * dst_cs (elements).
struct MatrixCopy {
  static constexpr int kMaxBatchDims = 8;
  int nb = 0;
  int64_t bshape[kMaxBatchDims] = {};
  int64_t src_bstride[kMaxBatchDims] = {};
  int64_t rows = 0, cols = 0;
  int64_t src_rs = 0, src_cs = 0;
  int64_t dst_bstride = 0, dst_rs = 0, dst_cs = 0;
  Keep keep = Keep::All;
};

/// dst <- src for `count` matrices as described by c; elem_bytes is 4 (float32) or 8 (float64).
/// Zeroes are the all-zero bit pattern (+0.0). The caller checks the launch.
void copy_matrices(const void* src, void* dst, const MatrixCopy& c, int64_t count, size_t elem_bytes,
                   cudaStream_t stream);

/// count column-major (n x n) identities, back to back (float32 or float64 by elem_bytes).
void fill_identity(void* dst, int64_t n, int64_t count, size_t elem_bytes, cudaStream_t stream);

/// ipiv: (count, k) 1-based int64 LAPACK row swaps -> piv: (count, k) 0-based uint32 and
/// perm: (count, m) uint32 with A[i] = (L U)[perm[i]]; rows: (count, m) scratch.
void lu_pivots(const int64_t* ipiv, uint32_t* piv, uint32_t* perm, uint32_t* rows, int64_t m, int64_t k, int64_t count,
               cudaStream_t stream);

/// Xgeev's real outputs -> complex64: w_ri (count, 2n) real parts then imaginary parts,
/// vr (count, n, n) column-major with LAPACK's packing of conjugate pairs (or null);
/// w_out (count, n) and v_out (count, n, n) row-major as interleaved float pairs.
void eig_to_complex(const void* w_ri, const void* vr, float* w_out, float* v_out, int64_t n, int64_t count,
                    size_t elem_bytes, cudaStream_t stream);

}  // namespace ember::gpu::linalg
