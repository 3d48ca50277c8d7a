// Emulated build: the cuSOLVER dense calls of include/cusolverDn.h on LAPACKE's column-major
// *_work routines. Device memory is host memory here, so the matrices, the workspace and
// `info` are read and written in place. The *_bufferSize queries ask LAPACK for its optimal
// workspace and the compute calls run in the buffer they are given (a buffer smaller than the
// query is CUSOLVER_STATUS_INVALID_VALUE), so a glue bug in workspace sizing shows up here
// too. info follows cuSOLVER (and LAPACK): 0, -i for a bad argument i, or i > 0.
#include <cusolverDn.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "ember/backend/cpu/blas.h"

struct cusolverDnContext {
  cudaStream_t stream = nullptr;
};
struct cusolverDnParams {};

namespace {

constexpr int kCol = LAPACK_COL_MAJOR;

bool real_type(cudaDataType t) { return t == CUDA_R_32F || t == CUDA_R_64F; }
char fill(cublasFillMode_t u) { return u == CUBLAS_FILL_MODE_UPPER ? 'U' : 'L'; }

// The compute calls run here on the calling thread, so they first wait for the work queued
// on the handle's stream (the emulated streams run behind the host, as a GPU's do); work
// queued after them runs after them.
void await_stream(cusolverDnHandle_t handle) {
  if (handle && handle->stream) cudaStreamSynchronize(handle->stream);
}

// Runs f(T{}) for float (CUDA_R_32F) or double (CUDA_R_64F).
template <class F>
cusolverStatus_t dispatch(cudaDataType t, F&& f) {
  if (t == CUDA_R_32F) return f(float{});
  if (t == CUDA_R_64F) return f(double{});
  return CUSOLVER_STATUS_NOT_SUPPORTED;
}

// The result of a LAPACK call: info written like cuSOLVER, which reports bad arguments both in
// info and as CUSOLVER_STATUS_INVALID_VALUE.
cusolverStatus_t finish(lapack_int info, int* dev_info) {
  if (dev_info) *dev_info = static_cast<int>(info);
  return info < 0 ? CUSOLVER_STATUS_INVALID_VALUE : CUSOLVER_STATUS_SUCCESS;
}

// LAPACK's workspace query answers in elements, stored in a T.
template <class T>
size_t lwork_of(T query) {
  return static_cast<size_t>(std::max<T>(query, T(1)));
}

// The LAPACK work length a device buffer of `bytes` holds (LAPACK counts in lapack_int).
template <class T>
lapack_int lwork_in(size_t bytes) {
  return static_cast<lapack_int>(std::min<size_t>(bytes / sizeof(T), std::numeric_limits<lapack_int>::max()));
}

// ---------------------------------------------------------------- LAPACKE by element type

lapack_int getrf(int64_t m, int64_t n, float* a, int64_t lda, lapack_int* ipiv) {
  return LAPACKE_sgetrf_work(kCol, m, n, a, lda, ipiv);
}
lapack_int getrf(int64_t m, int64_t n, double* a, int64_t lda, lapack_int* ipiv) {
  return LAPACKE_dgetrf_work(kCol, m, n, a, lda, ipiv);
}
lapack_int getrs(char tr, int64_t n, int64_t nrhs, const float* a, int64_t lda, const lapack_int* ipiv, float* b,
                 int64_t ldb) {
  return LAPACKE_sgetrs_work(kCol, tr, n, nrhs, a, lda, ipiv, b, ldb);
}
lapack_int getrs(char tr, int64_t n, int64_t nrhs, const double* a, int64_t lda, const lapack_int* ipiv, double* b,
                 int64_t ldb) {
  return LAPACKE_dgetrs_work(kCol, tr, n, nrhs, a, lda, ipiv, b, ldb);
}
lapack_int trtri(char uplo, char diag, int64_t n, float* a, int64_t lda) {
  return LAPACKE_strtri_work(kCol, uplo, diag, n, a, lda);
}
lapack_int trtri(char uplo, char diag, int64_t n, double* a, int64_t lda) {
  return LAPACKE_dtrtri_work(kCol, uplo, diag, n, a, lda);
}
lapack_int potrf(char uplo, int64_t n, float* a, int64_t lda) { return LAPACKE_spotrf_work(kCol, uplo, n, a, lda); }
lapack_int potrf(char uplo, int64_t n, double* a, int64_t lda) { return LAPACKE_dpotrf_work(kCol, uplo, n, a, lda); }
lapack_int geqrf(int64_t m, int64_t n, float* a, int64_t lda, float* tau, float* work, lapack_int lwork) {
  return LAPACKE_sgeqrf_work(kCol, m, n, a, lda, tau, work, lwork);
}
lapack_int geqrf(int64_t m, int64_t n, double* a, int64_t lda, double* tau, double* work, lapack_int lwork) {
  return LAPACKE_dgeqrf_work(kCol, m, n, a, lda, tau, work, lwork);
}
lapack_int orgqr(int m, int n, int k, float* a, int lda, const float* tau, float* work, lapack_int lwork) {
  return LAPACKE_sorgqr_work(kCol, m, n, k, a, lda, tau, work, lwork);
}
lapack_int orgqr(int m, int n, int k, double* a, int lda, const double* tau, double* work, lapack_int lwork) {
  return LAPACKE_dorgqr_work(kCol, m, n, k, a, lda, tau, work, lwork);
}
lapack_int gesvd(char ju, char jv, int64_t m, int64_t n, float* a, int64_t lda, float* s, float* u, int64_t ldu,
                 float* vt, int64_t ldvt, float* work, lapack_int lwork) {
  return LAPACKE_sgesvd_work(kCol, ju, jv, m, n, a, lda, s, u, ldu, vt, ldvt, work, lwork);
}
lapack_int gesvd(char ju, char jv, int64_t m, int64_t n, double* a, int64_t lda, double* s, double* u, int64_t ldu,
                 double* vt, int64_t ldvt, double* work, lapack_int lwork) {
  return LAPACKE_dgesvd_work(kCol, ju, jv, m, n, a, lda, s, u, ldu, vt, ldvt, work, lwork);
}
lapack_int syevd(char jobz, char uplo, int64_t n, float* a, int64_t lda, float* w, float* work, lapack_int lwork,
                 lapack_int* iwork, lapack_int liwork) {
  return LAPACKE_ssyevd_work(kCol, jobz, uplo, n, a, lda, w, work, lwork, iwork, liwork);
}
lapack_int syevd(char jobz, char uplo, int64_t n, double* a, int64_t lda, double* w, double* work, lapack_int lwork,
                 lapack_int* iwork, lapack_int liwork) {
  return LAPACKE_dsyevd_work(kCol, jobz, uplo, n, a, lda, w, work, lwork, iwork, liwork);
}
lapack_int geev(char jobvr, int64_t n, float* a, int64_t lda, float* wr, float* wi, float* vr, int64_t ldvr,
                float* work, lapack_int lwork) {
  return LAPACKE_sgeev_work(kCol, 'N', jobvr, n, a, lda, wr, wi, nullptr, 1, vr, ldvr, work, lwork);
}
lapack_int geev(char jobvr, int64_t n, double* a, int64_t lda, double* wr, double* wi, double* vr, int64_t ldvr,
                double* work, lapack_int lwork) {
  return LAPACKE_dgeev_work(kCol, 'N', jobvr, n, a, lda, wr, wi, nullptr, 1, vr, ldvr, work, lwork);
}

// syevd's device workspace: lwork reals, then liwork LAPACK integers.
template <class T>
void syevd_query(char jobz, char uplo, int64_t n, int64_t lda, lapack_int& lwork, lapack_int& liwork) {
  T wq = 0;
  lapack_int iq = 0;
  syevd(jobz, uplo, n, nullptr, lda, nullptr, &wq, -1, &iq, -1);
  lwork = static_cast<lapack_int>(lwork_of(wq));
  liwork = std::max<lapack_int>(iq, 1);
}

}  // namespace

// ---------------------------------------------------------------- handles

cusolverStatus_t cusolverDnCreate(cusolverDnHandle_t* handle) {
  *handle = new cusolverDnContext;
  return CUSOLVER_STATUS_SUCCESS;
}
cusolverStatus_t cusolverDnDestroy(cusolverDnHandle_t handle) {
  delete handle;
  return CUSOLVER_STATUS_SUCCESS;
}
cusolverStatus_t cusolverDnSetStream(cusolverDnHandle_t handle, cudaStream_t stream) {
  if (!handle) return CUSOLVER_STATUS_NOT_INITIALIZED;
  handle->stream = stream;
  return CUSOLVER_STATUS_SUCCESS;
}
cusolverStatus_t cusolverDnCreateParams(cusolverDnParams_t* params) {
  *params = new cusolverDnParams;
  return CUSOLVER_STATUS_SUCCESS;
}
cusolverStatus_t cusolverDnDestroyParams(cusolverDnParams_t params) {
  delete params;
  return CUSOLVER_STATUS_SUCCESS;
}

// ---------------------------------------------------------------- getrf / getrs

cusolverStatus_t cusolverDnXgetrf_bufferSize(cusolverDnHandle_t handle, cusolverDnParams_t, int64_t m, int64_t n,
                                             cudaDataType dataTypeA, const void*, int64_t, cudaDataType computeType,
                                             size_t* dev_bytes, size_t* host_bytes) {
  if (!handle) return CUSOLVER_STATUS_NOT_INITIALIZED;
  if (!real_type(dataTypeA) || computeType != dataTypeA) return CUSOLVER_STATUS_NOT_SUPPORTED;
  // LAPACK's 32-bit pivots, widened to the caller's int64 ipiv afterwards.
  *dev_bytes = static_cast<size_t>(std::max<int64_t>(std::min(m, n), 1)) * sizeof(lapack_int);
  *host_bytes = 0;
  return CUSOLVER_STATUS_SUCCESS;
}

cusolverStatus_t cusolverDnXgetrf(cusolverDnHandle_t handle, cusolverDnParams_t params, int64_t m, int64_t n,
                                  cudaDataType dataTypeA, void* A, int64_t lda, int64_t* ipiv, cudaDataType computeType,
                                  void* dev_buf, size_t dev_bytes, void*, size_t, int* info) {
  await_stream(handle);
  size_t need = 0, host = 0;
  if (auto st = cusolverDnXgetrf_bufferSize(handle, params, m, n, dataTypeA, A, lda, computeType, &need, &host);
      st != CUSOLVER_STATUS_SUCCESS)
    return st;
  if (dev_bytes < need || !dev_buf || !ipiv) return CUSOLVER_STATUS_INVALID_VALUE;
  return dispatch(dataTypeA, [&](auto t) {
    using T = decltype(t);
    auto* piv = static_cast<lapack_int*>(dev_buf);
    lapack_int r = getrf(m, n, static_cast<T*>(A), lda, piv);
    if (r >= 0) {
      for (int64_t i = 0; i < std::min(m, n); ++i) ipiv[i] = piv[i];
    }
    return finish(r, info);
  });
}

cusolverStatus_t cusolverDnXgetrs(cusolverDnHandle_t handle, cusolverDnParams_t, cublasOperation_t trans, int64_t n,
                                  int64_t nrhs, cudaDataType dataTypeA, const void* A, int64_t lda, const int64_t* ipiv,
                                  cudaDataType dataTypeB, void* B, int64_t ldb, int* info) {
  await_stream(handle);
  if (!handle) return CUSOLVER_STATUS_NOT_INITIALIZED;
  if (!real_type(dataTypeA) || dataTypeB != dataTypeA) return CUSOLVER_STATUS_NOT_SUPPORTED;
  std::vector<lapack_int> piv(ipiv, ipiv + n);
  return dispatch(dataTypeA, [&](auto t) {
    using T = decltype(t);
    return finish(getrs(trans == CUBLAS_OP_N ? 'N' : 'T', n, nrhs, static_cast<const T*>(A), lda, piv.data(),
                        static_cast<T*>(B), ldb),
                  info);
  });
}

// ---------------------------------------------------------------- trtri

cusolverStatus_t cusolverDnXtrtri_bufferSize(cusolverDnHandle_t handle, cublasFillMode_t, cublasDiagType_t, int64_t,
                                             cudaDataType dataTypeA, void*, int64_t, size_t* dev_bytes,
                                             size_t* host_bytes) {
  if (!handle) return CUSOLVER_STATUS_NOT_INITIALIZED;
  if (!real_type(dataTypeA)) return CUSOLVER_STATUS_NOT_SUPPORTED;
  *dev_bytes = 0;
  *host_bytes = 0;
  return CUSOLVER_STATUS_SUCCESS;
}

cusolverStatus_t cusolverDnXtrtri(cusolverDnHandle_t handle, cublasFillMode_t uplo, cublasDiagType_t diag, int64_t n,
                                  cudaDataType dataTypeA, void* A, int64_t lda, void*, size_t, void*, size_t,
                                  int* info) {
  await_stream(handle);
  if (!handle) return CUSOLVER_STATUS_NOT_INITIALIZED;
  return dispatch(dataTypeA, [&](auto t) {
    using T = decltype(t);
    return finish(trtri(fill(uplo), diag == CUBLAS_DIAG_UNIT ? 'U' : 'N', n, static_cast<T*>(A), lda), info);
  });
}

// ---------------------------------------------------------------- potrf

cusolverStatus_t cusolverDnXpotrf_bufferSize(cusolverDnHandle_t handle, cusolverDnParams_t, cublasFillMode_t, int64_t,
                                             cudaDataType dataTypeA, const void*, int64_t, cudaDataType computeType,
                                             size_t* dev_bytes, size_t* host_bytes) {
  if (!handle) return CUSOLVER_STATUS_NOT_INITIALIZED;
  if (!real_type(dataTypeA) || computeType != dataTypeA) return CUSOLVER_STATUS_NOT_SUPPORTED;
  *dev_bytes = 0;
  *host_bytes = 0;
  return CUSOLVER_STATUS_SUCCESS;
}

cusolverStatus_t cusolverDnXpotrf(cusolverDnHandle_t handle, cusolverDnParams_t, cublasFillMode_t uplo, int64_t n,
                                  cudaDataType dataTypeA, void* A, int64_t lda, cudaDataType computeType, void*, size_t,
                                  void*, size_t, int* info) {
  await_stream(handle);
  if (!handle) return CUSOLVER_STATUS_NOT_INITIALIZED;
  if (computeType != dataTypeA) return CUSOLVER_STATUS_NOT_SUPPORTED;
  return dispatch(dataTypeA, [&](auto t) {
    using T = decltype(t);
    return finish(potrf(fill(uplo), n, static_cast<T*>(A), lda), info);
  });
}

// ---------------------------------------------------------------- geqrf / orgqr

cusolverStatus_t cusolverDnXgeqrf_bufferSize(cusolverDnHandle_t handle, cusolverDnParams_t, int64_t m, int64_t n,
                                             cudaDataType dataTypeA, const void*, int64_t lda, cudaDataType dataTypeTau,
                                             const void*, cudaDataType computeType, size_t* dev_bytes,
                                             size_t* host_bytes) {
  if (!handle) return CUSOLVER_STATUS_NOT_INITIALIZED;
  if (!real_type(dataTypeA) || dataTypeTau != dataTypeA || computeType != dataTypeA)
    return CUSOLVER_STATUS_NOT_SUPPORTED;
  return dispatch(dataTypeA, [&](auto t) {
    using T = decltype(t);
    T q = 0;
    lapack_int r = geqrf(m, n, nullptr, lda, nullptr, &q, -1);
    if (r < 0) return CUSOLVER_STATUS_INVALID_VALUE;
    *dev_bytes = lwork_of(q) * sizeof(T);
    *host_bytes = 0;
    return CUSOLVER_STATUS_SUCCESS;
  });
}

cusolverStatus_t cusolverDnXgeqrf(cusolverDnHandle_t handle, cusolverDnParams_t params, int64_t m, int64_t n,
                                  cudaDataType dataTypeA, void* A, int64_t lda, cudaDataType dataTypeTau, void* tau,
                                  cudaDataType computeType, void* dev_buf, size_t dev_bytes, void*, size_t, int* info) {
  await_stream(handle);
  size_t need = 0, host = 0;
  if (auto st = cusolverDnXgeqrf_bufferSize(handle, params, m, n, dataTypeA, A, lda, dataTypeTau, tau, computeType,
                                            &need, &host);
      st != CUSOLVER_STATUS_SUCCESS)
    return st;
  if (dev_bytes < need || !dev_buf) return CUSOLVER_STATUS_INVALID_VALUE;
  return dispatch(dataTypeA, [&](auto t) {
    using T = decltype(t);
    lapack_int lwork = lwork_in<T>(dev_bytes);
    return finish(geqrf(m, n, static_cast<T*>(A), lda, static_cast<T*>(tau), static_cast<T*>(dev_buf), lwork), info);
  });
}

namespace {

template <class T>
cusolverStatus_t orgqr_query(cusolverDnHandle_t handle, int m, int n, int k, int lda, int* lwork) {
  if (!handle) return CUSOLVER_STATUS_NOT_INITIALIZED;
  T q = 0;
  lapack_int r = orgqr(m, n, k, static_cast<T*>(nullptr), lda, nullptr, &q, -1);
  if (r < 0) return CUSOLVER_STATUS_INVALID_VALUE;
  *lwork = static_cast<int>(lwork_of(q));
  return CUSOLVER_STATUS_SUCCESS;
}

template <class T>
cusolverStatus_t orgqr_run(cusolverDnHandle_t handle, int m, int n, int k, T* A, int lda, const T* tau, T* work,
                           int lwork, int* info) {
  await_stream(handle);
  int need = 0;
  if (auto st = orgqr_query<T>(handle, m, n, k, lda, &need); st != CUSOLVER_STATUS_SUCCESS) return st;
  if (lwork < need || !work) return CUSOLVER_STATUS_INVALID_VALUE;
  return finish(orgqr(m, n, k, A, lda, tau, work, lwork), info);
}

}  // namespace

cusolverStatus_t cusolverDnSorgqr_bufferSize(cusolverDnHandle_t handle, int m, int n, int k, const float*, int lda,
                                             const float*, int* lwork) {
  return orgqr_query<float>(handle, m, n, k, lda, lwork);
}
cusolverStatus_t cusolverDnDorgqr_bufferSize(cusolverDnHandle_t handle, int m, int n, int k, const double*, int lda,
                                             const double*, int* lwork) {
  return orgqr_query<double>(handle, m, n, k, lda, lwork);
}
cusolverStatus_t cusolverDnSorgqr(cusolverDnHandle_t handle, int m, int n, int k, float* A, int lda, const float* tau,
                                  float* work, int lwork, int* info) {
  return orgqr_run(handle, m, n, k, A, lda, tau, work, lwork, info);
}
cusolverStatus_t cusolverDnDorgqr(cusolverDnHandle_t handle, int m, int n, int k, double* A, int lda, const double* tau,
                                  double* work, int lwork, int* info) {
  return orgqr_run(handle, m, n, k, A, lda, tau, work, lwork, info);
}

// ---------------------------------------------------------------- gesvd

cusolverStatus_t cusolverDnXgesvd_bufferSize(cusolverDnHandle_t handle, cusolverDnParams_t, signed char jobu,
                                             signed char jobvt, int64_t m, int64_t n, cudaDataType dataTypeA,
                                             const void*, int64_t lda, cudaDataType dataTypeS, const void*,
                                             cudaDataType dataTypeU, const void*, int64_t ldu, cudaDataType dataTypeVT,
                                             const void*, int64_t ldvt, cudaDataType computeType, size_t* dev_bytes,
                                             size_t* host_bytes) {
  if (!handle) return CUSOLVER_STATUS_NOT_INITIALIZED;
  if (!real_type(dataTypeA) || dataTypeS != dataTypeA || dataTypeU != dataTypeA || dataTypeVT != dataTypeA ||
      computeType != dataTypeA)
    return CUSOLVER_STATUS_NOT_SUPPORTED;
  if (m < n) return CUSOLVER_STATUS_INVALID_VALUE;  // cuSOLVER's gesvd: m >= n only
  return dispatch(dataTypeA, [&](auto t) {
    using T = decltype(t);
    T q = 0;
    lapack_int r = gesvd(jobu, jobvt, m, n, nullptr, lda, nullptr, nullptr, ldu, nullptr, ldvt, &q, -1);
    if (r < 0) return CUSOLVER_STATUS_INVALID_VALUE;
    *dev_bytes = lwork_of(q) * sizeof(T);
    *host_bytes = 0;
    return CUSOLVER_STATUS_SUCCESS;
  });
}

cusolverStatus_t cusolverDnXgesvd(cusolverDnHandle_t handle, cusolverDnParams_t params, signed char jobu,
                                  signed char jobvt, int64_t m, int64_t n, cudaDataType dataTypeA, void* A, int64_t lda,
                                  cudaDataType dataTypeS, void* S, cudaDataType dataTypeU, void* U, int64_t ldu,
                                  cudaDataType dataTypeVT, void* VT, int64_t ldvt, cudaDataType computeType,
                                  void* dev_buf, size_t dev_bytes, void*, size_t, int* info) {
  await_stream(handle);
  size_t need = 0, host = 0;
  if (auto st = cusolverDnXgesvd_bufferSize(handle, params, jobu, jobvt, m, n, dataTypeA, A, lda, dataTypeS, S,
                                            dataTypeU, U, ldu, dataTypeVT, VT, ldvt, computeType, &need, &host);
      st != CUSOLVER_STATUS_SUCCESS)
    return st;
  if (dev_bytes < need || !dev_buf) return CUSOLVER_STATUS_INVALID_VALUE;
  return dispatch(dataTypeA, [&](auto t) {
    using T = decltype(t);
    lapack_int lwork = lwork_in<T>(dev_bytes);
    return finish(gesvd(jobu, jobvt, m, n, static_cast<T*>(A), lda, static_cast<T*>(S), static_cast<T*>(U), ldu,
                        static_cast<T*>(VT), ldvt, static_cast<T*>(dev_buf), lwork),
                  info);
  });
}

// ---------------------------------------------------------------- syevd

cusolverStatus_t cusolverDnXsyevd_bufferSize(cusolverDnHandle_t handle, cusolverDnParams_t, cusolverEigMode_t jobz,
                                             cublasFillMode_t uplo, int64_t n, cudaDataType dataTypeA, const void*,
                                             int64_t lda, cudaDataType dataTypeW, const void*, cudaDataType computeType,
                                             size_t* dev_bytes, size_t* host_bytes) {
  if (!handle) return CUSOLVER_STATUS_NOT_INITIALIZED;
  if (!real_type(dataTypeA) || dataTypeW != dataTypeA || computeType != dataTypeA) return CUSOLVER_STATUS_NOT_SUPPORTED;
  return dispatch(dataTypeA, [&](auto t) {
    using T = decltype(t);
    lapack_int lw = 0, liw = 0;
    syevd_query<T>(jobz == CUSOLVER_EIG_MODE_VECTOR ? 'V' : 'N', fill(uplo), n, lda, lw, liw);
    *dev_bytes = static_cast<size_t>(lw) * sizeof(T) + static_cast<size_t>(liw) * sizeof(lapack_int);
    *host_bytes = 0;
    return CUSOLVER_STATUS_SUCCESS;
  });
}

cusolverStatus_t cusolverDnXsyevd(cusolverDnHandle_t handle, cusolverDnParams_t params, cusolverEigMode_t jobz,
                                  cublasFillMode_t uplo, int64_t n, cudaDataType dataTypeA, void* A, int64_t lda,
                                  cudaDataType dataTypeW, void* W, cudaDataType computeType, void* dev_buf,
                                  size_t dev_bytes, void*, size_t, int* info) {
  await_stream(handle);
  size_t need = 0, host = 0;
  if (auto st = cusolverDnXsyevd_bufferSize(handle, params, jobz, uplo, n, dataTypeA, A, lda, dataTypeW, W, computeType,
                                            &need, &host);
      st != CUSOLVER_STATUS_SUCCESS)
    return st;
  if (dev_bytes < need || !dev_buf) return CUSOLVER_STATUS_INVALID_VALUE;
  return dispatch(dataTypeA, [&](auto t) {
    using T = decltype(t);
    char jz = jobz == CUSOLVER_EIG_MODE_VECTOR ? 'V' : 'N';
    lapack_int lw = 0, liw = 0;
    syevd_query<T>(jz, fill(uplo), n, lda, lw, liw);
    // The workspace split the size query promised: lw reals, then liw integers.
    auto* work = static_cast<T*>(dev_buf);
    auto* iwork = reinterpret_cast<lapack_int*>(static_cast<char*>(dev_buf) + static_cast<size_t>(lw) * sizeof(T));
    return finish(syevd(jz, fill(uplo), n, static_cast<T*>(A), lda, static_cast<T*>(W), work, lw, iwork, liw), info);
  });
}

// ---------------------------------------------------------------- geev

cusolverStatus_t cusolverDnXgeev_bufferSize(cusolverDnHandle_t handle, cusolverDnParams_t, cusolverEigMode_t jobvl,
                                            cusolverEigMode_t jobvr, int64_t n, cudaDataType dataTypeA, const void*,
                                            int64_t lda, cudaDataType dataTypeW, const void*, cudaDataType dataTypeVL,
                                            const void*, int64_t, cudaDataType dataTypeVR, const void*, int64_t ldvr,
                                            cudaDataType computeType, size_t* dev_bytes, size_t* host_bytes) {
  if (!handle) return CUSOLVER_STATUS_NOT_INITIALIZED;
  // Real A with real W (2n: real parts, then imaginary parts); the complex-W form is not emulated.
  if (!real_type(dataTypeA) || dataTypeW != dataTypeA || dataTypeVR != dataTypeA || dataTypeVL != dataTypeA ||
      computeType != dataTypeA)
    return CUSOLVER_STATUS_NOT_SUPPORTED;
  if (jobvl != CUSOLVER_EIG_MODE_NOVECTOR) return CUSOLVER_STATUS_NOT_SUPPORTED;
  return dispatch(dataTypeA, [&](auto t) {
    using T = decltype(t);
    T q = 0;
    lapack_int r =
        geev(jobvr == CUSOLVER_EIG_MODE_VECTOR ? 'V' : 'N', n, nullptr, lda, nullptr, nullptr, nullptr, ldvr, &q, -1);
    if (r < 0) return CUSOLVER_STATUS_INVALID_VALUE;
    *dev_bytes = lwork_of(q) * sizeof(T);
    *host_bytes = 0;
    return CUSOLVER_STATUS_SUCCESS;
  });
}

cusolverStatus_t cusolverDnXgeev(cusolverDnHandle_t handle, cusolverDnParams_t params, cusolverEigMode_t jobvl,
                                 cusolverEigMode_t jobvr, int64_t n, cudaDataType dataTypeA, void* A, int64_t lda,
                                 cudaDataType dataTypeW, void* W, cudaDataType dataTypeVL, void* VL, int64_t ldvl,
                                 cudaDataType dataTypeVR, void* VR, int64_t ldvr, cudaDataType computeType,
                                 void* dev_buf, size_t dev_bytes, void*, size_t, int* info) {
  await_stream(handle);
  size_t need = 0, host = 0;
  if (auto st = cusolverDnXgeev_bufferSize(handle, params, jobvl, jobvr, n, dataTypeA, A, lda, dataTypeW, W, dataTypeVL,
                                           VL, ldvl, dataTypeVR, VR, ldvr, computeType, &need, &host);
      st != CUSOLVER_STATUS_SUCCESS)
    return st;
  if (dev_bytes < need || !dev_buf) return CUSOLVER_STATUS_INVALID_VALUE;
  return dispatch(dataTypeA, [&](auto t) {
    using T = decltype(t);
    lapack_int lwork = lwork_in<T>(dev_bytes);
    T* w = static_cast<T*>(W);
    return finish(geev(jobvr == CUSOLVER_EIG_MODE_VECTOR ? 'V' : 'N', n, static_cast<T*>(A), lda, w, w + n,
                       static_cast<T*>(VR), ldvr, static_cast<T*>(dev_buf), lwork),
                  info);
  });
}
