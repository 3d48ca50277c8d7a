// ember.core.linalg, as mlx.core.linalg.
#include "common.h"

namespace ember::py {

void init_linalg(nb::module_& parent) {
  nb::module_ m = parent.def_submodule("linalg", "Norms, factorizations and solvers, as mlx.core.linalg.");
  m.def(
      "norm",
      [](const ArrayLike& a, nb::handle ord, std::optional<IntOrVec> axis, bool keepdims, StreamOrDevice s) {
        std::optional<std::vector<int>> ax;
        if (axis) ax = reduce_axes(axis, 0);
        if (ord.is_none()) return linalg::norm(a, ax, keepdims, s);
        if (PyUnicode_Check(ord.ptr())) return linalg::norm(a, nb::cast<std::string>(ord), ax, keepdims, s);
        return linalg::norm(a, nb::cast<double>(ord), ax, keepdims, s);
      },
      "a"_a, "ord"_a = nb::none(), "axis"_a = nb::none(), "keepdims"_a = false, nb::kw_only(), "stream"_a = nb::none(),
      "Vector or matrix norm (ord: number, inf, -inf, 'fro' or 'nuc').");
  m.def(
      "qr",
      [](const ArrayLike& a, StreamOrDevice s) {
        auto [q, r] = linalg::qr(a, s);
        return nb::make_tuple(q, r);
      },
      "a"_a, nb::kw_only(), "stream"_a = nb::none(), "Reduced QR factorization (Q, R).");
  m.def(
      "svd",
      [](const ArrayLike& a, bool compute_uv, StreamOrDevice s) -> nb::object {
        auto r = linalg::svd(a, compute_uv, s);
        if (!compute_uv) return nb::cast(r[0]);
        return nb::make_tuple(r[0], r[1], r[2]);
      },
      "a"_a, "compute_uv"_a = true, nb::kw_only(), "stream"_a = nb::none(),
      "Singular value decomposition (U, S, Vt), or S alone.");
  m.def(
      "inv", [](const ArrayLike& a, StreamOrDevice s) { return linalg::inv(a, s); }, "a"_a, nb::kw_only(),
      "stream"_a = nb::none(), "Matrix inverse.");
  m.def(
      "tri_inv", [](const ArrayLike& a, bool upper, StreamOrDevice s) { return linalg::tri_inv(a, upper, s); }, "a"_a,
      "upper"_a = false, nb::kw_only(), "stream"_a = nb::none(), "Inverse of a triangular matrix.");
  m.def(
      "pinv", [](const ArrayLike& a, StreamOrDevice s) { return linalg::pinv(a, s); }, "a"_a, nb::kw_only(),
      "stream"_a = nb::none(), "Moore-Penrose pseudo-inverse.");
  m.def(
      "cholesky", [](const ArrayLike& a, bool upper, StreamOrDevice s) { return linalg::cholesky(a, upper, s); }, "a"_a,
      "upper"_a = false, nb::kw_only(), "stream"_a = nb::none(), "Cholesky factor.");
  m.def(
      "cholesky_inv",
      [](const ArrayLike& a, bool upper, StreamOrDevice s) { return linalg::cholesky_inv(a, upper, s); }, "a"_a,
      "upper"_a = false, nb::kw_only(), "stream"_a = nb::none(), "Inverse of A from its Cholesky factor.");
  m.def(
      "solve", [](const ArrayLike& a, const ArrayLike& b, StreamOrDevice s) { return linalg::solve(a, b, s); }, "a"_a,
      "b"_a, nb::kw_only(), "stream"_a = nb::none(), "x with a @ x = b.");
  m.def(
      "solve_triangular",
      [](const ArrayLike& a, const ArrayLike& b, bool upper, StreamOrDevice s) {
        return linalg::solve_triangular(a, b, upper, s);
      },
      "a"_a, "b"_a, nb::kw_only(), "upper"_a = false, "stream"_a = nb::none(), "x with a @ x = b, a triangular.");
  m.def(
      "lu",
      [](const ArrayLike& a, StreamOrDevice s) {
        auto r = linalg::lu(a, s);
        return nb::make_tuple(r[0], r[1], r[2]);
      },
      "a"_a, nb::kw_only(), "stream"_a = nb::none(), "LU factorization (P, L, U) with A = L[P] @ U.");
  m.def(
      "lu_factor",
      [](const ArrayLike& a, StreamOrDevice s) {
        auto [lu, piv] = linalg::lu_factor(a, s);
        return nb::make_tuple(lu, piv);
      },
      "a"_a, nb::kw_only(), "stream"_a = nb::none(), "Packed LU factors and pivots.");
  m.def(
      "eig",
      [](const ArrayLike& a, StreamOrDevice s) {
        auto [w, v] = linalg::eig(a, s);
        return nb::make_tuple(w, v);
      },
      "a"_a, nb::kw_only(), "stream"_a = nb::none(), "Eigenvalues and eigenvectors (complex64).");
  m.def(
      "eigvals", [](const ArrayLike& a, StreamOrDevice s) { return linalg::eigvals(a, s); }, "a"_a, nb::kw_only(),
      "stream"_a = nb::none(), "Eigenvalues (complex64).");
  m.def(
      "eigh",
      [](const ArrayLike& a, std::string uplo, StreamOrDevice s) {
        auto [w, v] = linalg::eigh(a, uplo, s);
        return nb::make_tuple(w, v);
      },
      "a"_a, "UPLO"_a = "L", nb::kw_only(), "stream"_a = nb::none(), "Symmetric eigen-decomposition.");
  m.def(
      "eigvalsh", [](const ArrayLike& a, std::string uplo, StreamOrDevice s) { return linalg::eigvalsh(a, uplo, s); },
      "a"_a, "UPLO"_a = "L", nb::kw_only(), "stream"_a = nb::none(), "Eigenvalues of a symmetric matrix.");
  m.def(
      "det", [](const ArrayLike& a, StreamOrDevice s) { return linalg::det(a, s); }, "a"_a, nb::kw_only(),
      "stream"_a = nb::none(), "Determinant.");
  m.def(
      "slogdet",
      [](const ArrayLike& a, StreamOrDevice s) {
        auto [sign, logdet] = linalg::slogdet(a, s);
        return nb::make_tuple(sign, logdet);
      },
      "a"_a, nb::kw_only(), "stream"_a = nb::none(), "(sign, log|det|).");
  m.def(
      "cross",
      [](const ArrayLike& a, const ArrayLike& b, int axis, StreamOrDevice s) { return linalg::cross(a, b, axis, s); },
      "a"_a, "b"_a, "axis"_a = -1, nb::kw_only(), "stream"_a = nb::none(), "Cross product of 3-vectors along axis.");
}

}  // namespace ember::py
