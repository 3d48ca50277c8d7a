// Primitives of ember::linalg's LAPACK-backed factorizations (kernels in
// backend/cpu/linalg.cpp, transforms in grad_linalg_lapack.cpp). Every one
// works on the last two axes of a row-contiguous-or-not float32/float64 input
// of shape (..., M, N) and is batched over the leading axes; the ops in
// linalg.cpp validate shapes and dtypes, so kernels assume valid input.
// det, slogdet, solve, pinv, norm, cross, cholesky_inv and solve_triangular are
// compositions of these and the basic ops.
#pragma once

#include "ember/primitives.h"

namespace ember {

/// Matrix inverse of (..., N, N). tri: the input is triangular (`upper` picks
/// the half that is read; the other is ignored and zero in the output).
/// A singular matrix makes eval throw std::runtime_error.
class Inverse : public UnaryPrimitive {
 public:
  Inverse(Stream s, bool tri, bool upper) : UnaryPrimitive(s), tri_(tri), upper_(upper) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override { return {inputs[0].shape()}; }
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "Inverse"; }
  void print(std::ostream& os) const override { os << "Inverse(tri=" << tri_ << ", upper=" << upper_ << ")"; }
  bool tri() const { return tri_; }
  bool upper() const { return upper_; }

 private:
  bool tri_, upper_;
};

/// Cholesky factor of a symmetric positive definite (..., N, N), reading only
/// the lower (or, `upper`, the upper) triangle: L with A = L L^T, or U with
/// A = U^T U; the other triangle of the output is zero. A matrix that is not
/// positive definite makes eval throw std::runtime_error.
class Cholesky : public UnaryPrimitive {
 public:
  Cholesky(Stream s, bool upper) : UnaryPrimitive(s), upper_(upper) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override { return {inputs[0].shape()}; }
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "Cholesky"; }
  void print(std::ostream& os) const override { os << "Cholesky(upper=" << upper_ << ")"; }
  bool upper() const { return upper_; }

 private:
  bool upper_;
};

/// Reduced QR of (..., M, N): outputs Q (..., M, K) with orthonormal columns and
/// upper-triangular R (..., K, N), K = min(M, N).
class QRF : public Primitive {
 public:
  using Primitive::Primitive;
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
  bool is_equivalent(const Primitive& other) const override { return dynamic_cast<const QRF*>(&other); }
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "QRF"; }
};

/// Singular value decomposition of (..., M, N). compute_uv: outputs U (..., M, M),
/// S (..., K) descending, Vt (..., N, N) with A = U[:, :K] diag(S) Vt[:K]; else S only.
class SVD : public Primitive {
 public:
  SVD(Stream s, bool compute_uv) : Primitive(s), compute_uv_(compute_uv) {}
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "SVD"; }
  void print(std::ostream& os) const override { os << "SVD(compute_uv=" << compute_uv_ << ")"; }
  bool compute_uv() const { return compute_uv_; }

 private:
  bool compute_uv_;
};

/// LU factorization with partial pivoting of (..., M, N): outputs the packed
/// factors LU (..., M, N) (unit-diagonal L below the diagonal, U on and above),
/// the LAPACK pivots (..., K) as 0-based uint32 row swaps, and the row
/// permutation P (..., M) uint32 with A[i] = (L U)[P[i]] (MLX's convention).
class LUF : public Primitive {
 public:
  using Primitive::Primitive;
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
  bool is_equivalent(const Primitive& other) const override { return dynamic_cast<const LUF*>(&other); }
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "LUF"; }
};

/// Eigen-decomposition of a general real (..., N, N): complex64 eigenvalues
/// (..., N) and, when compute_eigenvectors, complex64 right eigenvectors
/// (..., N, N) as unit-norm columns. Not differentiable.
class Eig : public Primitive {
 public:
  Eig(Stream s, bool compute_eigenvectors) : Primitive(s), compute_eigenvectors_(compute_eigenvectors) {}
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "Eig"; }
  bool compute_eigenvectors() const { return compute_eigenvectors_; }

 private:
  bool compute_eigenvectors_;
};

/// Eigen-decomposition of a symmetric (..., N, N) read from its lower (uplo 'L')
/// or upper ('U') triangle: eigenvalues (..., N) ascending and, when
/// compute_eigenvectors, orthonormal eigenvectors (..., N, N) as columns.
class Eigh : public Primitive {
 public:
  Eigh(Stream s, char uplo, bool compute_eigenvectors)
      : Primitive(s), uplo_(uplo), compute_eigenvectors_(compute_eigenvectors) {}
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "Eigh"; }
  void print(std::ostream& os) const override { os << "Eigh(" << uplo_ << ")"; }
  char uplo() const { return uplo_; }
  bool compute_eigenvectors() const { return compute_eigenvectors_; }

 private:
  char uplo_;
  bool compute_eigenvectors_;
};

}  // namespace ember
