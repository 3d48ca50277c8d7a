// Emulated build: cuBLASLt is a library without kernel source, so matmul declines to the
// CPU kernel there; only the handle type the backend's interface names exists.
#pragma once
#include "cuda_runtime.h"

enum cublasStatus_t { CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_NOT_INITIALIZED = 1, CUBLAS_STATUS_ALLOC_FAILED = 3 };
struct cublasLtContext;
using cublasLtHandle_t = cublasLtContext*;
inline cublasStatus_t cublasLtCreate(cublasLtHandle_t* h) {
  *h = nullptr;
  return CUBLAS_STATUS_SUCCESS;
}
