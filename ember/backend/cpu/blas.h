// The BLAS and LAPACKE that Ember's CPU kernels call: OpenBLAS. Kernels include this header
// instead of <cblas.h> / <lapacke.h> and call the plain names.
//
// Where the build found the scipy-openblas32 wheel (CMakeLists.txt, EMBER_BLAS), that newer
// OpenBLAS is used: its symbols carry a scipy_ prefix, which the defines below add. Else the
// system's OpenBLAS (Debian's libopenblas and liblapacke). A function newly called from a
// kernel gets its line here.
#pragma once

#include <cblas.h>
#include <lapacke.h>

#if defined(EMBER_SCIPY_OPENBLAS)
#define LAPACKE_dgeev scipy_LAPACKE_dgeev
#define LAPACKE_dgeev_work scipy_LAPACKE_dgeev_work
#define LAPACKE_dgeqrf scipy_LAPACKE_dgeqrf
#define LAPACKE_dgeqrf_work scipy_LAPACKE_dgeqrf_work
#define LAPACKE_dgesvd scipy_LAPACKE_dgesvd
#define LAPACKE_dgesvd_work scipy_LAPACKE_dgesvd_work
#define LAPACKE_dgetrf scipy_LAPACKE_dgetrf
#define LAPACKE_dgetrf_work scipy_LAPACKE_dgetrf_work
#define LAPACKE_dgetri scipy_LAPACKE_dgetri
#define LAPACKE_dgetrs_work scipy_LAPACKE_dgetrs_work
#define LAPACKE_dorgqr scipy_LAPACKE_dorgqr
#define LAPACKE_dorgqr_work scipy_LAPACKE_dorgqr_work
#define LAPACKE_dpotrf scipy_LAPACKE_dpotrf
#define LAPACKE_dpotrf_work scipy_LAPACKE_dpotrf_work
#define LAPACKE_dsyevd scipy_LAPACKE_dsyevd
#define LAPACKE_dsyevd_work scipy_LAPACKE_dsyevd_work
#define LAPACKE_dtrtri scipy_LAPACKE_dtrtri
#define LAPACKE_dtrtri_work scipy_LAPACKE_dtrtri_work
#define LAPACKE_sgeev scipy_LAPACKE_sgeev
#define LAPACKE_sgeev_work scipy_LAPACKE_sgeev_work
#define LAPACKE_sgeqrf scipy_LAPACKE_sgeqrf
#define LAPACKE_sgeqrf_work scipy_LAPACKE_sgeqrf_work
#define LAPACKE_sgesvd scipy_LAPACKE_sgesvd
#define LAPACKE_sgesvd_work scipy_LAPACKE_sgesvd_work
#define LAPACKE_sgetrf scipy_LAPACKE_sgetrf
#define LAPACKE_sgetrf_work scipy_LAPACKE_sgetrf_work
#define LAPACKE_sgetri scipy_LAPACKE_sgetri
#define LAPACKE_sgetrs_work scipy_LAPACKE_sgetrs_work
#define LAPACKE_sorgqr scipy_LAPACKE_sorgqr
#define LAPACKE_sorgqr_work scipy_LAPACKE_sorgqr_work
#define LAPACKE_spotrf scipy_LAPACKE_spotrf
#define LAPACKE_spotrf_work scipy_LAPACKE_spotrf_work
#define LAPACKE_ssyevd scipy_LAPACKE_ssyevd
#define LAPACKE_ssyevd_work scipy_LAPACKE_ssyevd_work
#define LAPACKE_strtri scipy_LAPACKE_strtri
#define LAPACKE_strtri_work scipy_LAPACKE_strtri_work
#define cblas_cgemm scipy_cblas_cgemm
#define cblas_dgemm scipy_cblas_dgemm
#define cblas_sgemm scipy_cblas_sgemm
#define openblas_set_num_threads scipy_openblas_set_num_threads
#define openblas_get_num_threads scipy_openblas_get_num_threads
#endif
