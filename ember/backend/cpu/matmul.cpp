// CPU matrix products through OpenBLAS: sgemm (float32), dgemm (float64),
// cgemm (complex64); float16/bfloat16 are converted to float32 blocks, run
// through sgemm and converted back.
//
// a: (..., M, K), b: (..., K, N) with equal (possibly broadcast, stride 0)
// batch axes; out: (..., M, N) row-contiguous. An operand whose matrices are
// row- or column-major with a leading dimension BLAS accepts (including
// transposed views) goes to BLAS as is, with CblasTrans for column-major; any
// other layout is gathered into a scratch block first.

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "ember/backend/common/utils.h"
#include "ember/backend/cpu/copy.h"
#include "ember/backend/cpu/gemm.h"
#include "ember/primitives.h"
#include "ember/scheduler.h"

namespace ember {

namespace {

// How BLAS reads one operand's matrices.
struct BlasLayout {
  bool direct = false;  // strides fit BLAS without a copy
  bool trans = false;   // column-major: pass with CblasTrans
  int ld = 0;
};

// A rows x cols matrix whose element (i, j) sits at i * rs + j * cs.
BlasLayout blas_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
  int64_t ld;
  if ((cs == 1 || cols == 1) && (rows == 1 || rs >= std::max<int64_t>(cols, 1))) {
    ld = rows == 1 ? std::max<int64_t>(cols, 1) : rs;
    if (ld <= INT_MAX) return {true, false, static_cast<int>(ld)};
  }
  if ((rs == 1 || rows == 1) && (cols == 1 || cs >= std::max<int64_t>(rows, 1))) {
    ld = cols == 1 ? std::max<int64_t>(rows, 1) : cs;
    if (ld <= INT_MAX) return {true, true, static_cast<int>(ld)};
  }
  return {};
}

// The product as a sequence of `count` gemm calls of (M, K) x (K, N): call i
// reads a and b at the offsets of batch index i and writes out at i * M * N.
struct GemmPlan {
  int64_t count = 1;
  int M = 0, N = 0, K = 0;
  Shape batch_shape;
  Strides a_batch, b_batch;
  int64_t a_rs = 0, a_cs = 0, b_rs = 0, b_cs = 0;
};

GemmPlan make_plan(const array& a, const array& b, const array& out) {
  GemmPlan p;
  size_t nd = out.ndim();
  p.M = out.shape(-2);
  p.N = out.shape(-1);
  p.K = a.shape(-1);
  p.a_rs = a.strides()[nd - 2];
  p.a_cs = a.strides()[nd - 1];
  p.b_rs = b.strides()[nd - 2];
  p.b_cs = b.strides()[nd - 1];
  for (size_t i = 0; i + 2 < nd; ++i) {
    if (out.shape(i) == 1) continue;
    p.batch_shape.push_back(out.shape(i));
    p.a_batch.push_back(a.strides()[i]);
    p.b_batch.push_back(b.strides()[i]);
    p.count *= out.shape(i);
  }
  // (B, M, K) @ (K, N) with b shared by the whole batch: when a's batch axes
  // continue its row stride, fold them into M and make one large gemm.
  bool b_shared = std::all_of(p.b_batch.begin(), p.b_batch.end(), [](int64_t s) { return s == 0; });
  if (p.count > 1 && b_shared && (p.a_cs == 1 || p.K == 1) && p.a_rs >= std::max(p.K, 1)) {
    int64_t expect = p.a_rs * p.M;
    bool folds = true;
    for (int i = static_cast<int>(p.batch_shape.size()) - 1; i >= 0 && folds; --i) {
      folds = p.a_batch[i] == expect;
      expect *= p.batch_shape[i];
    }
    if (folds && p.count * p.M <= INT_MAX) {
      p.M = static_cast<int>(p.count * p.M);
      p.count = 1;
      p.batch_shape.clear();
      p.a_batch.clear();
      p.b_batch.clear();
    }
  }
  return p;
}

// Gathers a strided rows x cols matrix into a row-major block, converting.
template <class D, class S>
void gather_matrix(const S* src, int64_t rows, int64_t cols, int64_t rs, int64_t cs, D* dst) {
  int64_t grain = std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(cols, 1));
  scheduler::parallel_for(rows, grain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const S* s = src + i * rs;
      D* d = dst + i * cols;
      for (int64_t j = 0; j < cols; ++j) d[j] = cpu::cast_to<D>(s[j * cs]);
    }
  });
}

template <class T>
void gemm(const BlasLayout& la, const BlasLayout& lb, int M, int N, int K, T alpha, const T* A, const T* B, T beta,
          T* C) {
  cpu::gemm<T>(la.trans, lb.trans, M, N, K, alpha, A, la.ld, B, lb.ld, beta, C, N);
}

// One operand's matrices, handed to BLAS directly or through a scratch block
// (reused while consecutive calls read the same matrix, e.g. a broadcast b).
template <class C, class S>
class Operand {
 public:
  Operand(const S* base, int64_t rows, int64_t cols, int64_t rs, int64_t cs)
      : base_(base), rows_(rows), cols_(cols), rs_(rs), cs_(cs) {
    layout_ = std::is_same_v<C, S> ? blas_layout(rows, cols, rs, cs) : BlasLayout{};
    if (!layout_.direct) {
      scratch_.resize(rows * cols);
      layout_ = {false, false, static_cast<int>(std::max<int64_t>(cols, 1))};
    }
  }
  const BlasLayout& layout() const { return layout_; }
  const C* at(int64_t offset) {
    if (layout_.direct) return reinterpret_cast<const C*>(base_ + offset);
    if (!gathered_ || offset != last_) {
      gather_matrix(base_ + offset, rows_, cols_, rs_, cs_, scratch_.data());
      last_ = offset;
      gathered_ = true;
    }
    return scratch_.data();
  }

 private:
  const S* base_;
  int64_t rows_, cols_, rs_, cs_;
  BlasLayout layout_;
  std::vector<C> scratch_;
  int64_t last_ = 0;
  bool gathered_ = false;
};

// out = alpha * a @ b + beta * out, T the storage type, C the BLAS compute type.
template <class T, class C>
void run_gemm(const array& a, const array& b, array& out, const GemmPlan& p, C alpha, C beta) {
  Operand<C, T> A(a.data<T>(), p.M, p.K, p.a_rs, p.a_cs);
  Operand<C, T> B(b.data<T>(), p.K, p.N, p.b_rs, p.b_cs);
  T* o = out.data<T>();
  int64_t mn = static_cast<int64_t>(p.M) * p.N;
  std::vector<C> c_scratch(std::is_same_v<T, C> ? 0 : mn);
  for (int64_t i = 0; i < p.count; ++i) {
    int64_t ao = p.count > 1 ? elem_to_loc(i, p.batch_shape, p.a_batch) : 0;
    int64_t bo = p.count > 1 ? elem_to_loc(i, p.batch_shape, p.b_batch) : 0;
    const C* ap = A.at(ao);
    const C* bp = B.at(bo);
    if constexpr (std::is_same_v<T, C>) {
      gemm<C>(A.layout(), B.layout(), p.M, p.N, p.K, alpha, ap, bp, beta, o + i * mn);
    } else {
      T* oi = o + i * mn;
      if (beta != C(0)) {
        for (int64_t j = 0; j < mn; ++j) c_scratch[j] = static_cast<C>(oi[j]);
      }
      gemm<C>(A.layout(), B.layout(), p.M, p.N, p.K, alpha, ap, bp, beta, c_scratch.data());
      for (int64_t j = 0; j < mn; ++j) oi[j] = static_cast<T>(c_scratch[j]);
    }
  }
}

// out = alpha * a @ b + beta * out, dispatched on out's dtype (out holds c when beta != 0).
void matmul_cpu(const array& a, const array& b, array& out, float alpha, float beta) {
  if (out.size() == 0) return;
  GemmPlan p = make_plan(a, b, out);
  if (p.K == 0) {
    // An empty sum: out = beta * c (or zeros for a plain product).
    dispatch_dtype(out.dtype(), [&](auto t) {
      using T = decltype(t);
      T* o = out.data<T>();
      if constexpr (std::is_same_v<T, float16_t> || std::is_same_v<T, bfloat16_t>) {
        for (size_t j = 0; j < out.size(); ++j)
          o[j] = static_cast<T>(beta == 0 ? 0.0f : beta * static_cast<float>(o[j]));
      } else if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, complex64_t>) {
        for (size_t j = 0; j < out.size(); ++j) o[j] = beta == 0 ? T(0) : static_cast<T>(beta) * o[j];
      }
    });
    return;
  }
  switch (out.dtype().val) {
    case Dtype::Val::float32:
      run_gemm<float, float>(a, b, out, p, alpha, beta);
      break;
    case Dtype::Val::float64:
      run_gemm<double, double>(a, b, out, p, alpha, beta);
      break;
    case Dtype::Val::complex64:
      run_gemm<complex64_t, complex64_t>(a, b, out, p, complex64_t(alpha), complex64_t(beta));
      break;
    case Dtype::Val::float16:
      run_gemm<float16_t, float>(a, b, out, p, alpha, beta);
      break;
    case Dtype::Val::bfloat16:
      run_gemm<bfloat16_t, float>(a, b, out, p, alpha, beta);
      break;
    default:
      throw std::invalid_argument("[matmul] unsupported dtype " + dtype_name(out.dtype()));
  }
}

}  // namespace

void Matmul::eval_cpu(const std::vector<array>& inputs, array& out) {
  out.set_data(allocator::malloc(out.nbytes()));
  matmul_cpu(inputs[0], inputs[1], out, 1.0f, 0.0f);
}

void AddMM::eval_cpu(const std::vector<array>& inputs, array& out) {
  // inputs: a (..., M, K), b (..., K, N), c broadcast to out's shape.
  out.set_data(allocator::malloc(out.nbytes()));
  if (beta_ != 0.0f) cpu::copy_strided(inputs[2], out, out.strides(), 0);
  matmul_cpu(inputs[0], inputs[1], out, alpha_, beta_);
}

bool AddMM::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const AddMM*>(&other);
  return o && o->alpha_ == alpha_ && o->beta_ == beta_;
}

}  // namespace ember
