// BLAS matrix products split over Ember's thread pool. OpenBLAS itself runs single-threaded
// (gemm.cpp sets that when the library loads): its own worker threads spin for a long while
// after each call and, on a machine with few cores, take them from the pool's elementwise
// work that follows (a prompt's prefill ran at half speed beside them). LAPACK calls
// (linalg.cpp) therefore run on one thread.
#pragma once

#include <cstdint>

namespace ember::cpu {

/// Row-major C (M, N) = alpha * op(A) @ op(B) + beta * C, op(A) (M, K) and op(B) (K, N);
/// trans_a / trans_b: A or B is stored transposed (column-major), with its leading dimension
/// lda / ldb. Large products run as blocks of the longer side of C on the pool (rows, or
/// columns), each block one single-threaded BLAS call. T: float, double or complex64_t.
template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc);

}  // namespace ember::cpu
