// GPU matrix products through cuBLASLt: Matmul (a @ b) and AddMM
// (alpha * a @ b + beta * c) in float32, float16, bfloat16 (float32 accumulate)
// and float64. Integer and complex dtypes are declined (they run on the CPU).
//
// a: (..., M, K), b: (..., K, N) with one (possibly broadcast, stride 0) batch
// shape; out: (..., M, N) row-contiguous. cuBLASLt is column-major, so the row-
// major product out = a @ b is computed as out^T = b^T @ a^T: b is cuBLAS's A
// operand, a its B, and out^T (N x M, ld N) its C/D. An operand whose matrices
// are row- or column-major (transposed views included) is read in place with a
// leading dimension and a transpose flag; any other layout (a sliced last
// axis, say) is gathered into a row-contiguous scratch block first.
//
// Batch axes are collapsed where every operand's strides allow; the last
// collapsed axis becomes cuBLASLt's strided batch, any others a host loop.
// (B, M, K) @ (K, N) with b shared folds into one (B*M, K) @ (K, N) product.
//
// float32 runs in full float32 (MLX semantics); EMBER_CUDA_TF32=1 allows TF32.
// The descriptors and algorithm for each (shape, dtype, layout, alignment) are built once
// (cublasLtMatmulAlgoGetHeuristic) and cached, so a repeated product costs one map lookup.
//
// M == 1 or N == 1 (decode-style matvec) goes to the hand-written kernels of
// matmul_gemv.cu (one launch, a fraction of a cuBLASLt call's host cost) when
// the layout fits them; EMBER_CUDA_GEMV=0 sends it to cuBLASLt instead, and
// bench/bench_cuda.cpp times both against a direct cuBLASLt call.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "ember/backend/common/utils.h"
#include "ember/backend/cuda/cuda.h"
#include "ember/backend/cuda/matmul_copy.h"
#include "ember/backend/cuda/matmul_gemv.h"
#include "ember/primitives.h"

namespace ember::gpu {

namespace {

// 32 MiB: what NVIDIA recommends for cuBLASLt on Hopper (some split-K and stream-K
// algorithms need it); smaller GPUs just get a larger-than-needed buffer.
constexpr size_t kWorkspaceBytes = 32u << 20;

bool tf32_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("EMBER_CUDA_TF32");
    return v && std::strcmp(v, "0") != 0 && *v != '\0';
  }();
  return on;
}

struct GemmTypes {
  cudaDataType_t data;
  cublasComputeType_t compute;
  cudaDataType_t scale;
};

bool gemm_types(Dtype t, GemmTypes& g) {
  switch (t.val) {
    case Dtype::Val::float32:
      g = {CUDA_R_32F, tf32_enabled() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F, CUDA_R_32F};
      return true;
    case Dtype::Val::float16:
      g = {CUDA_R_16F, CUBLAS_COMPUTE_32F, CUDA_R_32F};
      return true;
    case Dtype::Val::bfloat16:
      g = {CUDA_R_16BF, CUBLAS_COMPUTE_32F, CUDA_R_32F};
      return true;
    case Dtype::Val::float64:
      g = {CUDA_R_64F, CUBLAS_COMPUTE_64F, CUDA_R_64F};
      return true;
    default:
      return false;  // integers, bool, complex64: the CPU kernel runs them
  }
}

// How cuBLASLt reads one operand's matrices: the stored column-major layout
// (rows x cols, leading dimension ld) and whether it is transposed by the op.
struct LtLayout {
  bool direct = false;
  bool trans = false;
  int64_t rows = 0, cols = 0, ld = 0;
};

// A (R x C) row-major-indexed matrix with element (i, j) at i * rs + j * cs, used
// where cuBLAS wants op(X) = X^T (C x R): both of our operands enter transposed
// (out^T = b^T a^T). Row-major storage of X is column-major storage of X^T: no op.
// Column-major storage of X is read as X with op = T.
LtLayout lt_layout_transposed(int64_t R, int64_t C, int64_t rs, int64_t cs) {
  if ((cs == 1 || C == 1) && (R == 1 || rs >= std::max<int64_t>(C, 1))) {
    int64_t ld = R == 1 ? std::max<int64_t>(C, 1) : rs;
    return {true, false, C, R, ld};
  }
  if ((rs == 1 || R == 1) && (C == 1 || cs >= std::max<int64_t>(R, 1))) {
    int64_t ld = C == 1 ? std::max<int64_t>(R, 1) : cs;
    return {true, true, R, C, ld};
  }
  return {};
}

// One operand as the kernel sees it: device address of element 0, shape and element strides.
struct View {
  const char* ptr = nullptr;
  Shape shape;
  Strides strides;
};

int64_t row_major_size(const Shape& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

Strides row_major_strides(const Shape& s) {
  Strides st(s.size());
  int64_t acc = 1;
  for (int i = static_cast<int>(s.size()) - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}

// The StridedShape of a view after merging axes, or ndim = -1 when it has too many axes.
StridedShape strided_shape(const Shape& shape, const Strides& strides) {
  auto [cs, cst] = collapse_contiguous_dims(shape, {strides});
  StridedShape s;
  if (cs.size() > static_cast<size_t>(StridedShape::kMaxDims)) {
    s.ndim = -1;
    return s;
  }
  s.ndim = static_cast<int>(cs.size());
  for (int i = 0; i < s.ndim; ++i) {
    s.shape[i] = cs[i];
    s.strides[i] = cst[0][i];
  }
  return s;
}

// Alignment guaranteed to the heuristic, up to cuBLASLt's default assumption of 256 bytes:
// promising less (16, say) makes it skip algorithms and can cost 10-20% on Hopper.
uint32_t alignment_of(const void* p) {
  auto v = reinterpret_cast<uintptr_t>(p);
  uint32_t a = 256;
  while (a > 1 && (v % a) != 0) a /= 2;
  return a;
}

// ---------------------------------------------------------------- cuBLASLt descriptors

struct LayoutDesc {
  cublasLtMatrixLayout_t h = nullptr;
  LayoutDesc(cudaDataType_t t, int64_t rows, int64_t cols, int64_t ld, int32_t batch, int64_t batch_stride) {
    EMBER_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&h, t, static_cast<uint64_t>(rows), static_cast<uint64_t>(cols), ld));
    if (batch > 1) {
      EMBER_CUBLAS_CHECK(
          cublasLtMatrixLayoutSetAttribute(h, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch, sizeof(batch)));
      EMBER_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(h, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &batch_stride,
                                                          sizeof(batch_stride)));
    }
  }
  ~LayoutDesc() { cublasLtMatrixLayoutDestroy(h); }
  LayoutDesc(const LayoutDesc&) = delete;
  LayoutDesc& operator=(const LayoutDesc&) = delete;
};

struct MatmulDesc {
  cublasLtMatmulDesc_t h = nullptr;
  MatmulDesc(const GemmTypes& g, bool ta, bool tb) {
    EMBER_CUBLAS_CHECK(cublasLtMatmulDescCreate(&h, g.compute, g.scale));
    cublasOperation_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
    EMBER_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(h, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof(opa)));
    EMBER_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(h, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof(opb)));
  }
  ~MatmulDesc() { cublasLtMatmulDescDestroy(h); }
  MatmulDesc(const MatmulDesc&) = delete;
  MatmulDesc& operator=(const MatmulDesc&) = delete;
};

struct PrefDesc {
  cublasLtMatmulPreference_t h = nullptr;
  PrefDesc(size_t workspace_bytes, uint32_t align_a, uint32_t align_b, uint32_t align_c) {
    EMBER_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&h));
    uint64_t ws = workspace_bytes;
    EMBER_CUBLAS_CHECK(
        cublasLtMatmulPreferenceSetAttribute(h, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
    EMBER_CUBLAS_CHECK(
        cublasLtMatmulPreferenceSetAttribute(h, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a, sizeof(align_a)));
    EMBER_CUBLAS_CHECK(
        cublasLtMatmulPreferenceSetAttribute(h, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b, sizeof(align_b)));
    EMBER_CUBLAS_CHECK(
        cublasLtMatmulPreferenceSetAttribute(h, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_c, sizeof(align_c)));
    EMBER_CUBLAS_CHECK(
        cublasLtMatmulPreferenceSetAttribute(h, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_c, sizeof(align_c)));
  }
  ~PrefDesc() { cublasLtMatmulPreferenceDestroy(h); }
  PrefDesc(const PrefDesc&) = delete;
  PrefDesc& operator=(const PrefDesc&) = delete;
};

// Everything the heuristic's answer depends on.
struct AlgoKey {
  int device;
  int data, compute;
  bool ta, tb;
  int64_t m, n, k, lda, ldb, ldc;
  int32_t batch;
  int64_t sa, sb, sc;
  uint32_t align_a, align_b, align_c;
  bool beta_zero;
  auto tie() const {
    return std::tie(device, data, compute, ta, tb, m, n, k, lda, ldb, ldc, batch, sa, sb, sc, align_a, align_b, align_c,
                    beta_zero);
  }
  bool operator<(const AlgoKey& o) const { return tie() < o.tie(); }
};

// One cuBLASLt problem (possibly strided-batched): its descriptors and the heuristic's algorithm,
// built once per AlgoKey and kept for the process (a decode step runs the same few shapes each
// token: building descriptors per call costs more host time than a small product's kernel).
class LtGemm {
 public:
  LtGemm(const GemmTypes& g, const AlgoKey& key)
      : desc_(g, key.ta, key.tb),
        a_(g.data, key.ta ? key.k : key.m, key.ta ? key.m : key.k, key.lda, key.batch, key.sa),
        b_(g.data, key.tb ? key.n : key.k, key.tb ? key.k : key.n, key.ldb, key.batch, key.sb),
        c_(g.data, key.m, key.n, key.m, key.batch, key.sc) {
    PrefDesc pref(kWorkspaceBytes, key.align_a, key.align_b, key.align_c);
    cublasLtMatmulHeuristicResult_t result{};
    int count = 0;
    cublasStatus_t st =
        cublasLtMatmulAlgoGetHeuristic(cublaslt_handle(), desc_.h, a_.h, b_.h, c_.h, c_.h, pref.h, 1, &result, &count);
    if (st != CUBLAS_STATUS_SUCCESS || count == 0) return;  // found_ stays false: the caller declines
    algo_ = result.algo;
    found_ = true;
  }

  bool found() const { return found_; }

  // D = alpha * op(A) op(B) + beta * C, with C = D (in place).
  void run(const void* alpha, const void* A, const void* B, const void* beta, void* C, cudaStream_t stream) const {
    void* ws = workspace(kWorkspaceBytes, stream);
    EMBER_CUBLAS_CHECK(cublasLtMatmul(cublaslt_handle(), desc_.h, alpha, A, a_.h, B, b_.h, beta, C, c_.h, C, c_.h,
                                      &algo_, ws, kWorkspaceBytes, stream));
  }

 private:
  MatmulDesc desc_;
  LayoutDesc a_, b_, c_;
  cublasLtMatmulAlgo_t algo_{};
  bool found_ = false;
};

// The problem for `key`, built on first use (null when cuBLASLt has no algorithm for it).
const LtGemm* lt_gemm(const GemmTypes& g, const AlgoKey& key) {
  static std::mutex mu;
  static auto* cache = new std::map<AlgoKey, std::unique_ptr<LtGemm>>;  // leaked: outlives cuBLASLt use at exit
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache->find(key);
  if (it == cache->end()) it = cache->emplace(key, std::make_unique<LtGemm>(g, key)).first;
  return it->second->found() ? it->second.get() : nullptr;
}

// ---------------------------------------------------------------- matrix-vector kernels

// Read on every call (not cached) so a benchmark can compare both paths in one process.
bool gemv_enabled() {
  const char* v = std::getenv("EMBER_CUDA_GEMV");
  return !(v && v[0] == '0');
}

// ---------------------------------------------------------------- the product

// out = alpha * a @ b + beta * c (c null for a plain product). Returns false to decline,
// before any work is queued on `stream` (residency copies of the inputs aside).
bool matmul_gpu(const array& a, const array& b, const array* c, array& out, float alpha, float beta,
                cudaStream_t stream) {
  GemmTypes g;
  if (!gemm_types(out.dtype(), g) || a.dtype() != out.dtype() || b.dtype() != out.dtype()) return false;
  if (c && c->dtype() != out.dtype()) return false;
  size_t nd = out.ndim();
  if (nd < 2 || a.ndim() != nd || b.ndim() != nd) return false;
  const int64_t M = out.shape(-2), N = out.shape(-1), K = a.shape(-1);
  if (out.size() == 0) {
    alloc_output(out, stream);
    return true;
  }
  if (K == 0) return false;  // an empty sum: the CPU kernel writes zeros (or beta * c)
  if (!c && gemv_enabled() && try_gemv(a, b, out, stream)) return true;

  // --- Host-side planning: nothing is queued until every decline check has passed.
  size_t isz = out.itemsize();
  Shape full_batch(out.shape().begin(), out.shape().end() - 2);
  auto inner_of = [&](const array& x) {
    return lt_layout_transposed(x.shape(-2), x.shape(-1), x.strides()[nd - 2], x.strides()[nd - 1]);
  };
  // Operands cuBLASLt cannot read in place are gathered whole (batch axes included).
  bool gather_a = !inner_of(a).direct, gather_b = !inner_of(b).direct;
  StridedShape ga, gb, gc;
  if (gather_a && (ga = strided_shape(a.shape(), a.strides())).ndim < 0) return false;
  if (gather_b && (gb = strided_shape(b.shape(), b.strides())).ndim < 0) return false;
  bool c_needed = c && beta != 0.0f;
  bool c_is_copy = c_needed && c->flags().row_contiguous && c->data_size() >= c->size();
  if (c_needed && !c_is_copy && (gc = strided_shape(c->shape(), c->strides())).ndim < 0) return false;

  // Device pointers (residency copies), output and scratch buffers.
  const void* a_src = device_ptr(a, stream);
  const void* b_src = device_ptr(b, stream);
  View A{static_cast<const char*>(a_src), a.shape(), a.strides()};
  View B{static_cast<const char*>(b_src), b.shape(), b.strides()};
  const char* c_ptr = c_needed ? static_cast<const char*>(device_ptr(*c, stream)) : nullptr;
  char* o = static_cast<char*>(alloc_output(out, stream));
  std::shared_ptr<Data> scratch_a, scratch_b;  // freed stream-ordered after the product
  if (gather_a) {
    scratch_a = alloc_device(a.size() * isz, stream);
    A.ptr = static_cast<const char*>(scratch_a->device_ptr);
    A.strides = row_major_strides(a.shape());
  }
  if (gather_b) {
    scratch_b = alloc_device(b.size() * isz, stream);
    B.ptr = static_cast<const char*>(scratch_b->device_ptr);
    B.strides = row_major_strides(b.shape());
  }

  // Batch axes (size-1 axes dropped, contiguous runs merged across a, b and out).
  Strides out_strides = row_major_strides(out.shape());
  Shape bshape;
  Strides abs_, bbs, obs;
  for (size_t i = 0; i + 2 < nd; ++i) {
    if (full_batch[i] == 1) continue;
    bshape.push_back(full_batch[i]);
    abs_.push_back(A.strides[i]);
    bbs.push_back(B.strides[i]);
    obs.push_back(out_strides[i]);
  }
  if (!bshape.empty()) {
    auto [s, st] = collapse_contiguous_dims(bshape, {abs_, bbs, obs});
    bshape = s;
    abs_ = st[0];
    bbs = st[1];
    obs = st[2];
  }
  int64_t a_rs = A.strides[nd - 2], a_cs = A.strides[nd - 1];
  int64_t b_rs = B.strides[nd - 2], b_cs = B.strides[nd - 1];
  int64_t Mx = M;  // M after folding a shared-b batch into rows
  int64_t batch_total = row_major_size(bshape);
  // (B, M, K) @ (K, N) with b shared and a's batch continuing its rows: one tall product.
  if (batch_total > 1 && bshape.size() == 1 && bbs[0] == 0 && (a_cs == 1 || K == 1) &&
      a_rs >= std::max<int64_t>(K, 1) && abs_[0] == a_rs * M) {
    Mx = M * bshape[0];
    bshape.clear();
    abs_.clear();
    bbs.clear();
    obs.clear();
    batch_total = 1;
  }
  if (bshape.empty()) {
    bshape = {1};
    abs_ = {0};
    bbs = {0};
    obs = {0};
  }
  // The last batch axis is cuBLASLt's strided batch (when its strides are non-negative
  // and its count fits int32); the others are a host loop.
  int64_t inner = bshape.back();
  bool strided_ok = inner <= INT32_MAX && abs_.back() >= 0 && bbs.back() >= 0;
  int32_t lt_batch = strided_ok ? static_cast<int32_t>(inner) : 1;
  int64_t outer = batch_total / lt_batch;
  Shape outer_shape = bshape;
  Strides outer_as = abs_, outer_bs = bbs, outer_os = obs;
  if (strided_ok) {
    outer_shape.pop_back();
    outer_as.pop_back();
    outer_bs.pop_back();
    outer_os.pop_back();
  }

  // cuBLAS A = b (op = N when b is row-major), cuBLAS B = a; D = out^T (N x Mx, ld N).
  LtLayout la = lt_layout_transposed(K, N, b_rs, b_cs);
  LtLayout lb = lt_layout_transposed(Mx, K, a_rs, a_cs);
  if (!la.direct || !lb.direct) return false;  // cannot happen after gathering; stay safe

  uint32_t al_a = alignment_of(B.ptr), al_b = alignment_of(A.ptr), al_c = alignment_of(o);
  if (lt_batch > 1 || outer > 1) {
    // Every matrix of the batch must honour the alignment the algorithm is chosen for.
    auto fit = [&](uint32_t al, int64_t stride_elems) {
      while (al > 1 && (stride_elems * static_cast<int64_t>(isz)) % al != 0) al /= 2;
      return al;
    };
    for (auto s : bbs) al_a = fit(al_a, s);
    for (auto s : abs_) al_b = fit(al_b, s);
    for (auto s : obs) al_c = fit(al_c, s);
  }
  int dev = 0;
  EMBER_CUDA_CHECK(cudaGetDevice(&dev));
  const AlgoKey key{dev,
                    static_cast<int>(g.data),
                    static_cast<int>(g.compute),
                    la.trans,
                    lb.trans,
                    N,
                    Mx,
                    K,
                    la.ld,
                    lb.ld,
                    N,
                    lt_batch,
                    bbs.back(),
                    abs_.back(),
                    obs.back(),
                    al_a,
                    al_b,
                    al_c,
                    !c_needed};
  const LtGemm* gemm = lt_gemm(g, key);
  if (!gemm) return false;

  // --- Queue the work.
  if (gather_a) {
    gather_strided(a_src, const_cast<char*>(A.ptr), ga, static_cast<int64_t>(a.size()), isz, stream);
    check_launch("matmul_gather_a", __FILE__, __LINE__);
  }
  if (gather_b) {
    gather_strided(b_src, const_cast<char*>(B.ptr), gb, static_cast<int64_t>(b.size()), isz, stream);
    check_launch("matmul_gather_b", __FILE__, __LINE__);
  }
  if (c_needed) {
    if (c_is_copy) {
      EMBER_CUDA_CHECK(cudaMemcpyAsync(o, c_ptr, out.nbytes(), cudaMemcpyDeviceToDevice, stream));
    } else {
      gather_strided(c_ptr, o, gc, static_cast<int64_t>(out.size()), isz, stream);
      check_launch("addmm_gather_c", __FILE__, __LINE__);
    }
  }
  double alpha64 = alpha, beta64 = c_needed ? beta : 0.0;
  float alpha32 = alpha, beta32 = c_needed ? beta : 0.0f;
  const void* pa = g.scale == CUDA_R_64F ? static_cast<const void*>(&alpha64) : static_cast<const void*>(&alpha32);
  const void* pb = g.scale == CUDA_R_64F ? static_cast<const void*>(&beta64) : static_cast<const void*>(&beta32);
  for (int64_t i = 0; i < outer; ++i) {
    int64_t ao = outer > 1 ? elem_to_loc(i, outer_shape, outer_as) : 0;
    int64_t bo = outer > 1 ? elem_to_loc(i, outer_shape, outer_bs) : 0;
    int64_t oo = outer > 1 ? elem_to_loc(i, outer_shape, outer_os) : 0;
    gemm->run(pa, B.ptr + bo * static_cast<int64_t>(isz), A.ptr + ao * static_cast<int64_t>(isz), pb,
              o + oo * static_cast<int64_t>(isz), stream);
  }
  return true;
}

bool matmul_kernel(Primitive& p, const std::vector<array>& inputs, std::vector<array>& outputs, cudaStream_t stream) {
  return matmul_gpu(inputs[0], inputs[1], nullptr, outputs[0], 1.0f, 0.0f, stream);
}

bool addmm_kernel(Primitive& p, const std::vector<array>& inputs, std::vector<array>& outputs, cudaStream_t stream) {
  auto& op = static_cast<AddMM&>(p);
  return matmul_gpu(inputs[0], inputs[1], &inputs[2], outputs[0], op.alpha(), op.beta(), stream);
}

}  // namespace

bool matmul_arrays(const array& a, const array& b, array& out, cudaStream_t stream) {
  return matmul_gpu(a, b, nullptr, out, 1.0f, 0.0f, stream);
}

bool has_general_matmul() { return true; }

void register_matmul_kernels() {
  register_kernel(std::type_index(typeid(Matmul)), &matmul_kernel);
  register_kernel(std::type_index(typeid(AddMM)), &addmm_kernel);
}

}  // namespace ember::gpu
