// ember::linalg: norms, factorizations and solvers with mlx.core.linalg's names
// and signatures, on the CPU through LAPACK(E).
//
// Conventions shared by every function here:
// - Matrix functions read the last two axes and batch over the leading ones.
// - Factorizations and solvers take float32 or float64 (MLX takes float32 only)
//   and return the input's dtype; any other dtype throws std::invalid_argument
//   naming the op and the dtype. norm accepts every real dtype (integers and
//   bool are computed in float32); cross accepts every dtype.
// - Shape errors (fewer than 2 dimensions, non-square where a square matrix is
//   required, mismatched operands) throw std::invalid_argument when the graph is
//   built: "[linalg::inv] expected a square matrix, got shape (2, 3)".
// - Numerical failures are found by LAPACK while evaluating, so they throw
//   std::runtime_error from eval(), as MLX does: inv, tri_inv, solve,
//   solve_triangular and cholesky_inv of a singular matrix, and cholesky of a
//   matrix that is not positive definite. lu, lu_factor, det and slogdet do not
//   throw on a singular matrix (det gives 0, slogdet (0, -inf)); svd, eig and
//   eigh throw only when LAPACK fails to converge.
//
// Transforms: inv, tri_inv, cholesky, qr (M >= N), svd (singular values for any
// shape; U and Vt for square matrices) and eigh have vjp and jvp, and so have the
// compositions built on them (solve, solve_triangular, cholesky_inv, pinv of a
// square matrix, norm, det, slogdet, cross). lu_factor/lu differentiate only for
// square matrices (through the packed LU). eig/eigvals are not differentiable.
// Everything vmaps.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ember/array.h"
#include "ember/device.h"

namespace ember::linalg {

/// Vector or matrix norm. `ord` as NumPy/MLX: with one axis (or a 1-d input
/// and no axis) the vector norm sum(|x|^ord)^(1/ord), ord = inf: max |x|,
/// -inf: min |x|, 0: count of non-zeros; with two axes (or a 2-d input and no
/// axis) the matrix norm for ord 1, -1, 2, -2, inf, -inf. Without `axis` the
/// input must be 1-d or 2-d.
array norm(const array& a, double ord, const std::optional<std::vector<int>>& axis = std::nullopt,
           bool keepdims = false, StreamOrDevice s = {});
array norm(const array& a, double ord, int axis, bool keepdims = false, StreamOrDevice s = {});
/// Matrix norm by name: "fro" (Frobenius) or "nuc" (nuclear, sum of singular values).
array norm(const array& a, const std::string& ord, const std::optional<std::vector<int>>& axis = std::nullopt,
           bool keepdims = false, StreamOrDevice s = {});
array norm(const array& a, const std::string& ord, int axis, bool keepdims = false, StreamOrDevice s = {});
/// Without ord: the 2-norm over `axis` (all axes when absent; the Frobenius norm for two).
array norm(const array& a, const std::optional<std::vector<int>>& axis = std::nullopt, bool keepdims = false,
           StreamOrDevice s = {});
array norm(const array& a, int axis, bool keepdims = false, StreamOrDevice s = {});

/// Reduced QR: Q (..., M, K) with orthonormal columns, R (..., K, N) upper triangular, K = min(M, N).
std::pair<array, array> qr(const array& a, StreamOrDevice s = {});
/// compute_uv: {U (..., M, M), S (..., K), Vt (..., N, N)} with A = U[:, :K] diag(S) Vt[:K];
/// else {S}. S is descending.
std::vector<array> svd(const array& a, bool compute_uv = true, StreamOrDevice s = {});
/// Inverse of a square matrix (throws from eval when singular).
array inv(const array& a, StreamOrDevice s = {});
/// Inverse of a triangular matrix; only the `upper` (else lower) triangle is read.
array tri_inv(const array& a, bool upper = false, StreamOrDevice s = {});
/// Moore-Penrose pseudo-inverse (..., N, M) through the SVD; singular values below
/// max(M, N) * eps * max(S) count as zero.
array pinv(const array& a, StreamOrDevice s = {});
/// Cholesky factor of a symmetric positive definite matrix: lower L (A = L L^T), or
/// upper U (A = U^T U); only that triangle of `a` is read.
array cholesky(const array& a, bool upper = false, StreamOrDevice s = {});
/// Inverse of A given its Cholesky factor (lower L, or upper U when `upper`).
array cholesky_inv(const array& L, bool upper = false, StreamOrDevice s = {});
/// x with a x = b (computed as inv(a) @ b). As in MLX, b with one axis fewer than a
/// is one vector per matrix (..., N); otherwise b is (..., N, K) and batch axes broadcast.
array solve(const array& a, const array& b, StreamOrDevice s = {});
/// x with a x = b for triangular a (only the `upper` or lower triangle is read), as tri_inv(a) @ b;
/// b is read as in solve.
array solve_triangular(const array& a, const array& b, bool upper = false, StreamOrDevice s = {});
/// {P, L, U}: P (..., M) uint32 row indices, L (..., M, K) unit lower, U (..., K, N)
/// upper with A = L[P, :] @ U (take_along_axis(L, P[..., None], -2) @ U when batched).
std::vector<array> lu(const array& a, StreamOrDevice s = {});
/// {LU, pivots}: packed factors (..., M, N) and LAPACK's row swaps (..., K) as 0-based uint32
/// (row i was swapped with row pivots[i]).
std::pair<array, array> lu_factor(const array& a, StreamOrDevice s = {});
/// {eigenvalues (..., N), eigenvectors (..., N, N) as columns}, both complex64.
std::pair<array, array> eig(const array& a, StreamOrDevice s = {});
array eigvals(const array& a, StreamOrDevice s = {});
/// Symmetric eigen-decomposition from the "L" (lower) or "U" (upper) triangle:
/// {eigenvalues ascending (..., N), orthonormal eigenvectors (..., N, N) as columns}.
std::pair<array, array> eigh(const array& a, const std::string& UPLO = "L", StreamOrDevice s = {});
array eigvalsh(const array& a, const std::string& UPLO = "L", StreamOrDevice s = {});
/// Determinant (through the LU factorization; 0 for a singular matrix).
array det(const array& a, StreamOrDevice s = {});
/// {sign, log|det|}: sign is -1, 0 or 1 (0 with log|det| = -inf for a singular matrix).
std::pair<array, array> slogdet(const array& a, StreamOrDevice s = {});
/// Cross product of 3-vectors along `axis` (a and b broadcast; that axis has size 3 in both).
array cross(const array& a, const array& b, int axis = -1, StreamOrDevice s = {});

}  // namespace ember::linalg
