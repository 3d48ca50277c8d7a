// GPU kernels of the LAPACK-style linalg primitives (primitives_linalg.h) through cuSOLVER's
// dense API: Inverse (getrf + getrs against I, or trtri), Cholesky (potrf), QRF (geqrf +
// orgqr), SVD (gesvd), LUF (getrf), Eigh (syevd) and Eig (geev), float32 and float64, the
// 64-bit cusolverDnX* calls where they exist (orgqr has only the 32-bit one).
//
// Layouts: cuSOLVER is column-major. A row-contiguous copy of A read column-major is A^T,
// which is all Inverse (inv(A^T) = inv(A)^T), Cholesky and tri-inverse (the triangle flips)
// and the wide SVD (A^T = U' S V'^T gives A = V' S U'^T) need: their results land in the
// output buffer already in Ember's row-major layout. QRF, LUF, Eigh, Eig and the tall SVD
// factor a true column-major copy and transpose their results back (linalg_layout.cu).
// Inputs may have any strides: the first copy gathers them.
//
// Batching: one cuSOLVER call per matrix, queued on the op's stream with the handle of the
// current device bound to it. Each call writes its `info` into a device array; the array
// comes back once per op (one stream synchronization), and a failure throws
// std::runtime_error worded as the CPU kernel's ("[linalg::inv] the matrix is singular
// (matrix 2 of the batch, cuSOLVER info 3)"). Empty inputs decline to the CPU kernels.
#include <cusolverDn.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "ember/allocator.h"
#include "ember/backend/common/utils.h"
#include "ember/backend/cuda/cuda.h"
#include "ember/backend/cuda/linalg_layout.h"
#include "ember/primitives_linalg.h"

namespace ember::gpu {

void throw_cusolver_error(int status, const char* call, const char* file, int line) {
  std::ostringstream msg;
  msg << "[cusolver] " << call << " failed with status " << status << " at " << file << ":" << line;
  if (status == CUSOLVER_STATUS_ALLOC_FAILED) throw out_of_memory(msg.str());
  throw std::runtime_error(msg.str());
}

namespace {

using linalg::Keep;
using linalg::MatrixCopy;

// ---------------------------------------------------------------- handles

// One cuSOLVER handle per device. The mutex covers an op's whole call sequence: the handle's
// stream binding is shared state.
struct Solver {
  std::mutex mu;
  cusolverDnHandle_t handle = nullptr;
  cusolverDnParams_t params = nullptr;
};

Solver& solver_of_current_device() {
  static std::mutex mu;
  static auto* solvers = new std::unordered_map<int, std::unique_ptr<Solver>>;  // leaked: outlives arrays at exit
  int dev = 0;
  EMBER_CUDA_CHECK(cudaGetDevice(&dev));
  std::lock_guard lk(mu);
  auto& s = (*solvers)[dev];
  if (!s) {
    auto fresh = std::make_unique<Solver>();
    EMBER_CUSOLVER_CHECK(cusolverDnCreate(&fresh->handle));
    EMBER_CUSOLVER_CHECK(cusolverDnCreateParams(&fresh->params));
    s = std::move(fresh);
  }
  return *s;
}

// The current device's handle, locked and bound to `stream` for one op.
class SolverScope {
 public:
  explicit SolverScope(cudaStream_t stream) : s_(solver_of_current_device()), lock_(s_.mu) {
    EMBER_CUSOLVER_CHECK(cusolverDnSetStream(s_.handle, stream));
  }
  cusolverDnHandle_t h() const { return s_.handle; }
  cusolverDnParams_t p() const { return s_.params; }

 private:
  Solver& s_;
  std::unique_lock<std::mutex> lock_;
};

// ---------------------------------------------------------------- shapes and layouts

bool supported(Dtype t) { return t == float32 || t == float64; }
cudaDataType data_type(Dtype t) { return t == float64 ? CUDA_R_64F : CUDA_R_32F; }

// (count, M, N) view of an input (..., M, N).
struct Dims {
  int64_t count = 1, m = 0, n = 0, k = 0;
  explicit Dims(const array& a) : m(a.shape(-2)), n(a.shape(-1)), k(std::min(m, n)) {
    for (size_t i = 0; i + 2 < a.ndim(); ++i) count *= a.shape(i);
  }
};

// Reads a's matrices (any strides, batch axes collapsed) into back-to-back (M x N) blocks,
// row-major or column-major. nullopt: too many batch axes survive collapsing (decline).
std::optional<MatrixCopy> gather_plan(const array& a, bool col_major, Keep keep = Keep::All) {
  size_t nd = a.ndim();
  Shape bshape(a.shape().begin(), a.shape().end() - 2);
  Strides bstrides(a.strides().begin(), a.strides().end() - 2);
  auto [cs, cst] = collapse_contiguous_dims(bshape, {bstrides});
  if (cs.size() > static_cast<size_t>(MatrixCopy::kMaxBatchDims)) return std::nullopt;
  MatrixCopy c;
  c.nb = static_cast<int>(cs.size());
  for (int i = 0; i < c.nb; ++i) {
    c.bshape[i] = cs[i];
    c.src_bstride[i] = cst[0][i];
  }
  c.rows = a.shape(-2);
  c.cols = a.shape(-1);
  c.src_rs = a.strides()[nd - 2];
  c.src_cs = a.strides()[nd - 1];
  c.dst_bstride = c.rows * c.cols;
  c.dst_rs = col_major ? 1 : c.cols;
  c.dst_cs = col_major ? c.rows : 1;
  c.keep = keep;
  return c;
}

// The leading (rows x cols) blocks of `count` column-major matrices (leading dimension ld,
// `bstride` elements apart) into back-to-back row-major (rows x cols) matrices.
MatrixCopy store_plan(int64_t count, int64_t rows, int64_t cols, int64_t ld, int64_t bstride, Keep keep = Keep::All) {
  MatrixCopy c;
  c.nb = 1;
  c.bshape[0] = count;
  c.src_bstride[0] = bstride;
  c.rows = rows;
  c.cols = cols;
  c.src_rs = 1;
  c.src_cs = ld;
  c.dst_bstride = rows * cols;
  c.dst_rs = cols;
  c.dst_cs = 1;
  c.keep = keep;
  return c;
}

void copy(const void* src, void* dst, const MatrixCopy& c, int64_t count, size_t isz, cudaStream_t stream) {
  linalg::copy_matrices(src, dst, c, count, isz, stream);
  EMBER_CUDA_CHECK_LAUNCH("linalg_copy_matrices");
}

// Byte address of matrix b in a buffer of matrices `elems` elements apart.
template <class P>
P* at(P* base, int64_t b, int64_t elems, size_t isz) {
  using Byte = std::conditional_t<std::is_const_v<P>, const char, char>;
  return reinterpret_cast<P*>(reinterpret_cast<Byte*>(base) + b * elems * static_cast<int64_t>(isz));
}

void* dptr(const std::shared_ptr<Data>& d) { return d->device_ptr; }

// The device buffer cuSOLVER's calls share, and their host buffer (kept until the op's sync).
struct Work {
  void* dev = nullptr;
  size_t dev_bytes = 0;
  std::vector<char> host;
  Work(size_t dev_b, size_t host_b, cudaStream_t stream) : dev_bytes(std::max<size_t>(dev_b, 256)), host(host_b + 1) {
    dev = workspace(dev_bytes, stream);
  }
  void* h() { return host.data(); }
  size_t host_bytes() const { return host.size() - 1; }
};

// ---------------------------------------------------------------- info

// `slots` cuSOLVER info words per matrix, zeroed on the device; check() brings them back.
class Infos {
 public:
  Infos(int64_t count, int slots, cudaStream_t stream)
      : count_(count), slots_(slots), buf_(alloc_device(static_cast<size_t>(count) * slots * sizeof(int), stream)) {
    EMBER_CUDA_CHECK(cudaMemsetAsync(buf_->device_ptr, 0, static_cast<size_t>(count) * slots * sizeof(int), stream));
  }
  int* at(int64_t b, int slot = 0) { return static_cast<int*>(buf_->device_ptr) + b * slots_ + slot; }

  // Waits for the op and throws "[op] what (matrix b of the batch, cuSOLVER info i)" for the first
  // matrix with a nonzero info (or a negative one only, when positive_ok: LU of a singular matrix).
  void check(cudaStream_t stream, const char* op, const char* what, bool positive_ok = false) {
    std::vector<int> info(static_cast<size_t>(count_) * slots_);
    EMBER_CUDA_CHECK(
        cudaMemcpyAsync(info.data(), buf_->device_ptr, info.size() * sizeof(int), cudaMemcpyDeviceToHost, stream));
    EMBER_CUDA_CHECK(cudaStreamSynchronize(stream));
    for (size_t i = 0; i < info.size(); ++i) {
      int v = info[i];
      if (v == 0 || (v > 0 && positive_ok)) continue;
      std::ostringstream os;
      os << "[" << op << "] " << (v < 0 ? "invalid cuSOLVER argument" : what) << " (matrix " << i / slots_
         << " of the batch, cuSOLVER info " << v << ")";
      throw std::runtime_error(os.str());
    }
  }

 private:
  int64_t count_;
  int slots_;
  std::shared_ptr<Data> buf_;
};

// ---------------------------------------------------------------- Inverse

// a: (..., N, N) -> out: (..., N, N). The row-major copy of A in `out` is A^T column-major:
// trtri inverts it in place (triangle flipped); for the general case getrf factors a copy and
// getrs solves A^T X = I into out, X = inv(A)^T column-major = inv(A) row-major.
bool inverse_kernel(Primitive& p, const std::vector<array>& inputs, std::vector<array>& outputs, cudaStream_t stream) {
  auto& prim = static_cast<Inverse&>(p);
  const array& in = inputs[0];
  array& out = outputs[0];
  if (!supported(in.dtype()) || in.size() == 0) return false;
  Keep keep = !prim.tri() ? Keep::All : prim.upper() ? Keep::Upper : Keep::Lower;
  auto plan = gather_plan(in, /*col_major=*/false, keep);
  if (!plan) return false;
  Dims d(in);
  const int64_t n = d.n, nn = n * n;
  const size_t isz = in.itemsize();
  const cudaDataType dt = data_type(in.dtype());
  const void* src = device_ptr(in, stream);
  void* o = alloc_output(out, stream);
  SolverScope sv(stream);

  if (prim.tri()) {
    copy(src, o, *plan, d.count, isz, stream);
    cublasFillMode_t fm = prim.upper() ? CUBLAS_FILL_MODE_LOWER : CUBLAS_FILL_MODE_UPPER;
    size_t db = 0, hb = 0;
    EMBER_CUSOLVER_CHECK(cusolverDnXtrtri_bufferSize(sv.h(), fm, CUBLAS_DIAG_NON_UNIT, n, dt, o, n, &db, &hb));
    Work w(db, hb, stream);
    Infos info(d.count, 1, stream);
    for (int64_t b = 0; b < d.count; ++b) {
      EMBER_CUSOLVER_CHECK(cusolverDnXtrtri(sv.h(), fm, CUBLAS_DIAG_NON_UNIT, n, dt, at(o, b, nn, isz), n, w.dev,
                                            w.dev_bytes, w.h(), w.host_bytes(), info.at(b)));
    }
    info.check(stream, "linalg::tri_inv", "the matrix is singular");
    return true;
  }

  auto lu = alloc_device(static_cast<size_t>(d.count * nn) * isz, stream);
  auto ipiv = alloc_device(static_cast<size_t>(d.count * n) * sizeof(int64_t), stream);
  copy(src, dptr(lu), *plan, d.count, isz, stream);
  linalg::fill_identity(o, n, d.count, isz, stream);
  EMBER_CUDA_CHECK_LAUNCH("linalg_fill_identity");
  size_t db = 0, hb = 0;
  EMBER_CUSOLVER_CHECK(cusolverDnXgetrf_bufferSize(sv.h(), sv.p(), n, n, dt, dptr(lu), n, dt, &db, &hb));
  Work w(db, hb, stream);
  Infos info(d.count, 2, stream);
  auto* piv = static_cast<int64_t*>(dptr(ipiv));
  for (int64_t b = 0; b < d.count; ++b) {
    void* a = at(dptr(lu), b, nn, isz);
    EMBER_CUSOLVER_CHECK(cusolverDnXgetrf(sv.h(), sv.p(), n, n, dt, a, n, piv + b * n, dt, w.dev, w.dev_bytes, w.h(),
                                          w.host_bytes(), info.at(b, 0)));
    EMBER_CUSOLVER_CHECK(cusolverDnXgetrs(sv.h(), sv.p(), CUBLAS_OP_N, n, n, dt, a, n, piv + b * n, dt,
                                          at(o, b, nn, isz), n, info.at(b, 1)));
  }
  info.check(stream, "linalg::inv", "the matrix is singular");
  return true;
}

// ---------------------------------------------------------------- Cholesky

// a: (..., N, N) -> out: (..., N, N). out starts as A with the unread triangle zeroed; read
// column-major it is A^T, whose opposite triangle potrf factors in place: U with A = U^T U
// column-major is L = U^T row-major (and the other way round for upper).
bool cholesky_kernel(Primitive& p, const std::vector<array>& inputs, std::vector<array>& outputs, cudaStream_t stream) {
  auto& prim = static_cast<Cholesky&>(p);
  const array& in = inputs[0];
  array& out = outputs[0];
  if (!supported(in.dtype()) || in.size() == 0) return false;
  auto plan = gather_plan(in, /*col_major=*/false, prim.upper() ? Keep::Upper : Keep::Lower);
  if (!plan) return false;
  Dims d(in);
  const int64_t n = d.n, nn = n * n;
  const size_t isz = in.itemsize();
  const cudaDataType dt = data_type(in.dtype());
  const void* src = device_ptr(in, stream);
  void* o = alloc_output(out, stream);
  SolverScope sv(stream);
  copy(src, o, *plan, d.count, isz, stream);
  cublasFillMode_t fm = prim.upper() ? CUBLAS_FILL_MODE_LOWER : CUBLAS_FILL_MODE_UPPER;
  size_t db = 0, hb = 0;
  EMBER_CUSOLVER_CHECK(cusolverDnXpotrf_bufferSize(sv.h(), sv.p(), fm, n, dt, o, n, dt, &db, &hb));
  Work w(db, hb, stream);
  Infos info(d.count, 1, stream);
  for (int64_t b = 0; b < d.count; ++b) {
    EMBER_CUSOLVER_CHECK(cusolverDnXpotrf(sv.h(), sv.p(), fm, n, dt, at(o, b, nn, isz), n, dt, w.dev, w.dev_bytes,
                                          w.h(), w.host_bytes(), info.at(b)));
  }
  info.check(stream, "linalg::cholesky", "the matrix is not positive definite");
  return true;
}

// ---------------------------------------------------------------- QRF

// a: (..., M, N) -> Q: (..., M, K), R: (..., K, N). geqrf on a column-major copy; R is its
// upper triangle (stored before orgqr overwrites the reflectors with Q's K columns).
bool qrf_kernel(Primitive&, const std::vector<array>& inputs, std::vector<array>& outputs, cudaStream_t stream) {
  const array& in = inputs[0];
  if (!supported(in.dtype()) || in.size() == 0) return false;
  auto plan = gather_plan(in, /*col_major=*/true);
  if (!plan) return false;
  Dims d(in);
  const int64_t m = d.m, n = d.n, k = d.k, mn = m * n;
  const size_t isz = in.itemsize();
  const cudaDataType dt = data_type(in.dtype());
  const void* src = device_ptr(in, stream);
  void* q = alloc_output(outputs[0], stream);
  void* r = alloc_output(outputs[1], stream);
  auto a = alloc_device(static_cast<size_t>(d.count * mn) * isz, stream);
  auto tau = alloc_device(static_cast<size_t>(d.count * k) * isz, stream);
  SolverScope sv(stream);
  copy(src, dptr(a), *plan, d.count, isz, stream);
  size_t db = 0, hb = 0;
  EMBER_CUSOLVER_CHECK(cusolverDnXgeqrf_bufferSize(sv.h(), sv.p(), m, n, dt, dptr(a), m, dt, dptr(tau), dt, &db, &hb));
  int lw = 0;
  if (dt == CUDA_R_64F) {
    EMBER_CUSOLVER_CHECK(cusolverDnDorgqr_bufferSize(sv.h(), static_cast<int>(m), static_cast<int>(k),
                                                     static_cast<int>(k), static_cast<const double*>(dptr(a)),
                                                     static_cast<int>(m), static_cast<const double*>(dptr(tau)), &lw));
  } else {
    EMBER_CUSOLVER_CHECK(cusolverDnSorgqr_bufferSize(sv.h(), static_cast<int>(m), static_cast<int>(k),
                                                     static_cast<int>(k), static_cast<const float*>(dptr(a)),
                                                     static_cast<int>(m), static_cast<const float*>(dptr(tau)), &lw));
  }
  Work w(std::max(db, static_cast<size_t>(lw) * isz), hb, stream);
  Infos info(d.count, 2, stream);
  for (int64_t b = 0; b < d.count; ++b) {
    EMBER_CUSOLVER_CHECK(cusolverDnXgeqrf(sv.h(), sv.p(), m, n, dt, at(dptr(a), b, mn, isz), m, dt,
                                          at(dptr(tau), b, k, isz), dt, w.dev, w.dev_bytes, w.h(), w.host_bytes(),
                                          info.at(b, 0)));
  }
  copy(dptr(a), r, store_plan(d.count, k, n, m, mn, Keep::Upper), d.count, isz, stream);
  // orgqr's int lwork: the buffer holds at least lw elements (the query's answer).
  for (int64_t b = 0; b < d.count; ++b) {
    void* ab = at(dptr(a), b, mn, isz);
    void* tb = at(dptr(tau), b, k, isz);
    if (dt == CUDA_R_64F) {
      EMBER_CUSOLVER_CHECK(cusolverDnDorgqr(
          sv.h(), static_cast<int>(m), static_cast<int>(k), static_cast<int>(k), static_cast<double*>(ab),
          static_cast<int>(m), static_cast<const double*>(tb), static_cast<double*>(w.dev), lw, info.at(b, 1)));
    } else {
      EMBER_CUSOLVER_CHECK(cusolverDnSorgqr(sv.h(), static_cast<int>(m), static_cast<int>(k), static_cast<int>(k),
                                            static_cast<float*>(ab), static_cast<int>(m), static_cast<const float*>(tb),
                                            static_cast<float*>(w.dev), lw, info.at(b, 1)));
    }
  }
  copy(dptr(a), q, store_plan(d.count, m, k, m, mn), d.count, isz, stream);
  info.check(stream, "linalg::qr", "the factorization failed");
  return true;
}

// ---------------------------------------------------------------- SVD

// a: (..., M, N) -> [U: (..., M, M)], S: (..., K), [Vt: (..., N, N)]. cuSOLVER's gesvd wants
// M >= N: a tall A is factored from a column-major copy and U, Vt transposed back; a wide A
// is factored as A^T (its row-major copy read column-major), U' and V'^T of A^T landing in
// Vt and U directly (A = V' S U'^T).
bool svd_kernel(Primitive& p, const std::vector<array>& inputs, std::vector<array>& outputs, cudaStream_t stream) {
  auto& prim = static_cast<SVD&>(p);
  const array& in = inputs[0];
  if (!supported(in.dtype()) || in.size() == 0) return false;
  Dims d(in);
  const bool tall = d.m >= d.n, uv = prim.compute_uv();
  auto plan = gather_plan(in, /*col_major=*/tall);
  if (!plan) return false;
  const int64_t m = d.m, n = d.n, k = d.k, mn = m * n;
  const int64_t rows = tall ? m : n, cols = tall ? n : m;  // the matrix gesvd factors
  const size_t isz = in.itemsize();
  const cudaDataType dt = data_type(in.dtype());
  const void* src = device_ptr(in, stream);
  void* u_out = uv ? alloc_output(outputs[0], stream) : nullptr;
  void* s_out = alloc_output(outputs[uv ? 1 : 0], stream);
  void* vt_out = uv ? alloc_output(outputs[2], stream) : nullptr;
  auto a = alloc_device(static_cast<size_t>(d.count * mn) * isz, stream);
  // gesvd's U (rows x rows) and VT (cols x cols): scratch when tall, the outputs when wide.
  std::shared_ptr<Data> u_scr, vt_scr;
  void* u = nullptr;
  void* vt = nullptr;
  if (uv && tall) {
    u_scr = alloc_device(static_cast<size_t>(d.count * m * m) * isz, stream);
    vt_scr = alloc_device(static_cast<size_t>(d.count * n * n) * isz, stream);
    u = dptr(u_scr);
    vt = dptr(vt_scr);
  } else if (uv) {
    u = vt_out;  // U' (n x n)
    vt = u_out;  // V'^T (m x m)
  }
  const signed char job = uv ? 'A' : 'N';
  SolverScope sv(stream);
  copy(src, dptr(a), *plan, d.count, isz, stream);
  size_t db = 0, hb = 0;
  EMBER_CUSOLVER_CHECK(cusolverDnXgesvd_bufferSize(sv.h(), sv.p(), job, job, rows, cols, dt, dptr(a), rows, dt, s_out,
                                                   dt, u, rows, dt, vt, cols, dt, &db, &hb));
  Work w(db, hb, stream);
  Infos info(d.count, 1, stream);
  for (int64_t b = 0; b < d.count; ++b) {
    EMBER_CUSOLVER_CHECK(cusolverDnXgesvd(sv.h(), sv.p(), job, job, rows, cols, dt, at(dptr(a), b, mn, isz), rows, dt,
                                          at(s_out, b, k, isz), dt, uv ? at(u, b, rows * rows, isz) : nullptr, rows, dt,
                                          uv ? at(vt, b, cols * cols, isz) : nullptr, cols, dt, w.dev, w.dev_bytes,
                                          w.h(), w.host_bytes(), info.at(b)));
  }
  if (uv && tall) {
    copy(u, u_out, store_plan(d.count, m, m, m, m * m), d.count, isz, stream);
    copy(vt, vt_out, store_plan(d.count, n, n, n, n * n), d.count, isz, stream);
  }
  info.check(stream, "linalg::svd", "the SVD did not converge");
  return true;
}

// ---------------------------------------------------------------- LUF

// a: (..., M, N) -> LU: (..., M, N), pivots: (..., K) uint32, P: (..., M) uint32. getrf on a
// column-major copy; its 1-based int64 pivots become the CPU kernel's pivots and permutation.
bool luf_kernel(Primitive&, const std::vector<array>& inputs, std::vector<array>& outputs, cudaStream_t stream) {
  const array& in = inputs[0];
  if (!supported(in.dtype()) || in.size() == 0) return false;
  auto plan = gather_plan(in, /*col_major=*/true);
  if (!plan) return false;
  Dims d(in);
  const int64_t m = d.m, n = d.n, k = d.k, mn = m * n;
  const size_t isz = in.itemsize();
  const cudaDataType dt = data_type(in.dtype());
  const void* src = device_ptr(in, stream);
  void* lu_out = alloc_output(outputs[0], stream);
  auto* piv_out = static_cast<uint32_t*>(alloc_output(outputs[1], stream));
  auto* perm_out = static_cast<uint32_t*>(alloc_output(outputs[2], stream));
  auto a = alloc_device(static_cast<size_t>(d.count * mn) * isz, stream);
  auto ipiv = alloc_device(static_cast<size_t>(d.count * k) * sizeof(int64_t), stream);
  auto rows = alloc_device(static_cast<size_t>(d.count * m) * sizeof(uint32_t), stream);
  SolverScope sv(stream);
  copy(src, dptr(a), *plan, d.count, isz, stream);
  size_t db = 0, hb = 0;
  EMBER_CUSOLVER_CHECK(cusolverDnXgetrf_bufferSize(sv.h(), sv.p(), m, n, dt, dptr(a), m, dt, &db, &hb));
  Work w(db, hb, stream);
  Infos info(d.count, 1, stream);
  auto* piv = static_cast<int64_t*>(dptr(ipiv));
  for (int64_t b = 0; b < d.count; ++b) {
    EMBER_CUSOLVER_CHECK(cusolverDnXgetrf(sv.h(), sv.p(), m, n, dt, at(dptr(a), b, mn, isz), m, piv + b * k, dt, w.dev,
                                          w.dev_bytes, w.h(), w.host_bytes(), info.at(b)));
  }
  copy(dptr(a), lu_out, store_plan(d.count, m, n, m, mn), d.count, isz, stream);
  linalg::lu_pivots(piv, piv_out, perm_out, static_cast<uint32_t*>(dptr(rows)), m, k, d.count, stream);
  EMBER_CUDA_CHECK_LAUNCH("linalg_lu_pivots");
  // info > 0: U has an exact zero on its diagonal; the factors are still valid (as on the CPU).
  info.check(stream, "linalg::lu_factor", "the factorization failed", /*positive_ok=*/true);
  return true;
}

// ---------------------------------------------------------------- Eigh

// a: (..., N, N) symmetric -> w: (..., N) ascending, [V: (..., N, N) eigenvectors as columns].
// syevd on a column-major copy (same triangle); V transposed back to row-major.
bool eigh_kernel(Primitive& p, const std::vector<array>& inputs, std::vector<array>& outputs, cudaStream_t stream) {
  auto& prim = static_cast<Eigh&>(p);
  const array& in = inputs[0];
  if (!supported(in.dtype()) || in.size() == 0) return false;
  auto plan = gather_plan(in, /*col_major=*/true);
  if (!plan) return false;
  Dims d(in);
  const int64_t n = d.n, nn = n * n;
  const bool vec = prim.compute_eigenvectors();
  const size_t isz = in.itemsize();
  const cudaDataType dt = data_type(in.dtype());
  const cublasFillMode_t fm = prim.uplo() == 'U' ? CUBLAS_FILL_MODE_UPPER : CUBLAS_FILL_MODE_LOWER;
  const cusolverEigMode_t jobz = vec ? CUSOLVER_EIG_MODE_VECTOR : CUSOLVER_EIG_MODE_NOVECTOR;
  const void* src = device_ptr(in, stream);
  void* w_out = alloc_output(outputs[0], stream);
  void* v_out = vec ? alloc_output(outputs[1], stream) : nullptr;
  auto a = alloc_device(static_cast<size_t>(d.count * nn) * isz, stream);
  SolverScope sv(stream);
  copy(src, dptr(a), *plan, d.count, isz, stream);
  size_t db = 0, hb = 0;
  EMBER_CUSOLVER_CHECK(
      cusolverDnXsyevd_bufferSize(sv.h(), sv.p(), jobz, fm, n, dt, dptr(a), n, dt, w_out, dt, &db, &hb));
  Work w(db, hb, stream);
  Infos info(d.count, 1, stream);
  for (int64_t b = 0; b < d.count; ++b) {
    EMBER_CUSOLVER_CHECK(cusolverDnXsyevd(sv.h(), sv.p(), jobz, fm, n, dt, at(dptr(a), b, nn, isz), n, dt,
                                          at(w_out, b, n, isz), dt, w.dev, w.dev_bytes, w.h(), w.host_bytes(),
                                          info.at(b)));
  }
  if (vec) copy(dptr(a), v_out, store_plan(d.count, n, n, n, nn), d.count, isz, stream);
  info.check(stream, "linalg::eigh", "the eigenvalue iteration did not converge");
  return true;
}

// ---------------------------------------------------------------- Eig

// a: (..., N, N) real -> w: (..., N) complex64, [V: (..., N, N) complex64 columns]. geev in
// real arithmetic on a column-major copy (W: real parts then imaginary parts, VR in LAPACK's
// pair packing), unpacked to complex64 row-major as the CPU kernel does.
bool eig_kernel(Primitive& p, const std::vector<array>& inputs, std::vector<array>& outputs, cudaStream_t stream) {
  auto& prim = static_cast<Eig&>(p);
  const array& in = inputs[0];
  if (!supported(in.dtype()) || in.size() == 0) return false;
  auto plan = gather_plan(in, /*col_major=*/true);
  if (!plan) return false;
  Dims d(in);
  const int64_t n = d.n, nn = n * n;
  const bool vec = prim.compute_eigenvectors();
  const size_t isz = in.itemsize();
  const cudaDataType dt = data_type(in.dtype());
  const cusolverEigMode_t jobvr = vec ? CUSOLVER_EIG_MODE_VECTOR : CUSOLVER_EIG_MODE_NOVECTOR;
  const void* src = device_ptr(in, stream);
  auto* w_out = static_cast<float*>(alloc_output(outputs[0], stream));
  auto* v_out = vec ? static_cast<float*>(alloc_output(outputs[1], stream)) : nullptr;
  auto a = alloc_device(static_cast<size_t>(d.count * nn) * isz, stream);
  auto wri = alloc_device(static_cast<size_t>(d.count * 2 * n) * isz, stream);
  std::shared_ptr<Data> vr = vec ? alloc_device(static_cast<size_t>(d.count * nn) * isz, stream) : nullptr;
  void* vr_ptr = vr ? dptr(vr) : nullptr;
  SolverScope sv(stream);
  copy(src, dptr(a), *plan, d.count, isz, stream);
  size_t db = 0, hb = 0;
  EMBER_CUSOLVER_CHECK(cusolverDnXgeev_bufferSize(sv.h(), sv.p(), CUSOLVER_EIG_MODE_NOVECTOR, jobvr, n, dt, dptr(a), n,
                                                  dt, dptr(wri), dt, nullptr, 1, dt, vr_ptr, n, dt, &db, &hb));
  Work w(db, hb, stream);
  Infos info(d.count, 1, stream);
  for (int64_t b = 0; b < d.count; ++b) {
    EMBER_CUSOLVER_CHECK(cusolverDnXgeev(sv.h(), sv.p(), CUSOLVER_EIG_MODE_NOVECTOR, jobvr, n, dt,
                                         at(dptr(a), b, nn, isz), n, dt, at(dptr(wri), b, 2 * n, isz), dt, nullptr, 1,
                                         dt, vec ? at(vr_ptr, b, nn, isz) : nullptr, n, dt, w.dev, w.dev_bytes, w.h(),
                                         w.host_bytes(), info.at(b)));
  }
  linalg::eig_to_complex(dptr(wri), vr_ptr, w_out, v_out, n, d.count, isz, stream);
  EMBER_CUDA_CHECK_LAUNCH("linalg_eig_to_complex");
  info.check(stream, "linalg::eig", "the eigenvalue iteration did not converge");
  return true;
}

}  // namespace

void register_linalg_kernels() {
  register_kernel(typeid(Inverse), inverse_kernel);
  register_kernel(typeid(Cholesky), cholesky_kernel);
  register_kernel(typeid(QRF), qrf_kernel);
  register_kernel(typeid(SVD), svd_kernel);
  register_kernel(typeid(LUF), luf_kernel);
  register_kernel(typeid(Eigh), eigh_kernel);
  register_kernel(typeid(Eig), eig_kernel);
}

}  // namespace ember::gpu
