#include "ember/backend/cpu/gemm.h"

#include <algorithm>
#include <type_traits>

#include "ember/backend/cpu/blas.h"
#include "ember/dtype.h"
#include "ember/scheduler.h"

namespace ember::cpu {

namespace {

// OpenBLAS on one thread, before any product runs (see gemm.h).
const bool kBlasSingleThreaded = [] {
  openblas_set_num_threads(1);
  return true;
}();

// Products under this many multiply-adds are one call: splitting costs more than it gains.
constexpr double kSplitMacs = 64.0 * 1024;

template <class T>
void blas(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc) {
  const auto ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;
  const int m = static_cast<int>(M), n = static_cast<int>(N), k = static_cast<int>(K);
  if constexpr (std::is_same_v<T, float>) {
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
  } else if constexpr (std::is_same_v<T, double>) {
    cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
  } else {
    static_assert(std::is_same_v<T, complex64_t>);
    cblas_cgemm(CblasRowMajor, ta, tb, m, n, k, &alpha, A, lda, B, ldb, &beta, C, ldc);
  }
}

}  // namespace

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc) {
  (void)kBlasSingleThreaded;
  const int64_t threads = scheduler::num_threads();
  if (threads > 1 && double(M) * N * K >= kSplitMacs) {
    // Each block reads the whole of the other operand: split the longer side (a few rows
    // against a large matrix, as in batched decoding, go as column blocks).
    const bool rows_fit = M >= 2 * threads, cols_fit = N >= 16 * threads;
    if (rows_fit && (M >= N || !cols_fit)) {
      // Row r of op(A) starts at A + r * lda (stored row-major) or A + r (column-major).
      const int64_t step = trans_a ? 1 : lda;
      scheduler::parallel_for(M, M / threads, [&](int64_t b, int64_t e) {
        blas(trans_a, trans_b, e - b, N, K, alpha, A + b * step, lda, B, ldb, beta, C + b * ldc, ldc);
      });
      return;
    }
    if (cols_fit) {
      // Column c of op(B) starts at B + c (stored row-major) or B + c * ldb (column-major).
      const int64_t step = trans_b ? ldb : 1;
      scheduler::parallel_for(N, N / threads, [&](int64_t b, int64_t e) {
        blas(trans_a, trans_b, M, e - b, K, alpha, A, lda, B + b * step, ldb, beta, C + b, ldc);
      });
      return;
    }
  }
  blas(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                          float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t);
template void gemm<complex64_t>(bool, bool, int64_t, int64_t, int64_t, complex64_t, const complex64_t*, int64_t,
                                const complex64_t*, int64_t, complex64_t, complex64_t*, int64_t);

}  // namespace ember::cpu
