// vjp, jvp and vmap of the LAPACK-backed primitives (primitives_linalg.h),
// written with public ops so they can be transformed again.
//
// Conventions: mT is the matrix transpose, <X, Y> = sum(X * Y). Primitives that
// read one triangle of a symmetric input (Cholesky, Eigh) see the effective
// matrix A_eff = tril(A) + tril(A, -1)^T (or its upper mirror), so a gradient G
// with respect to A_eff becomes tril(G) + tril(G^T, -1) with respect to A.
// Every primitive has one input and batches over leading axes, so vmap moves
// the mapped axis to the front and applies the op again.
#include <string>

#include "ember/linalg.h"
#include "ember/ops.h"
#include "ember/primitives_linalg.h"
#include "ember/utils.h"

namespace ember {

namespace {

array mT(const array& x, Stream s) { return swapaxes(x, -1, -2, s); }
array mm(const array& a, const array& b, Stream s) { return matmul(a, b, s); }

// The gradient with respect to A of a function of the symmetric matrix read from
// A's lower (or upper) triangle, given its gradient G with respect to that matrix.
array to_triangle(const array& g, bool upper, Stream s) {
  if (upper) return add(triu(g, 0, s), triu(mT(g, s), 1, s), s);
  return add(tril(g, 0, s), tril(mT(g, s), -1, s), s);
}

// The symmetric matrix read from the lower (or upper) triangle of x.
array symmetric_from(const array& x, bool upper, Stream s) {
  if (upper) return add(triu(x, 0, s), mT(triu(x, 1, s), s), s);
  return add(tril(x, 0, s), mT(tril(x, -1, s), s), s);
}

// tril(x) with the diagonal halved.
array phi(const array& x, Stream s) {
  array d = multiply(eye(x.shape(-1), x.dtype(), s), array(0.5, x.dtype()), s);
  return subtract(tril(x, 0, s), multiply(d, x, s), s);
}

// F[i, j] = 1 / (w[j] - w[i]) off the diagonal, 0 on it, for w (..., N).
array gap_inverse(const array& w, Stream s) {
  int n = w.shape(-1);
  array diff = subtract(expand_dims(w, -2, s), expand_dims(w, -1, s), s);
  array id = eye(n, bool_, s);
  array one = ones({}, w.dtype(), s);
  return where(id, zeros({}, w.dtype(), s), divide(one, where(id, one, diff, s), s), s);
}

// x * v[..., None, :]: scales the columns of x by v.
array scale_columns(const array& x, const array& v, Stream s) { return multiply(x, expand_dims(v, -2, s), s); }

// The diagonal of x (..., N, N) as (..., N), and a vector as a diagonal matrix.
// (diagonal() is an AsStrided view without transforms; this form differentiates again.)
array diag_of(const array& x, Stream s) { return sum(multiply(x, eye(x.shape(-1), x.dtype(), s), s), -1, false, s); }
array diag_matrix(const array& v, Stream s) {
  return multiply(expand_dims(v, -1, s), eye(v.shape(-1), v.dtype(), s), s);
}

// Applies `f` to the input with its mapped axis in front (or unmapped); every output is mapped at 0.
template <class F>
std::pair<std::vector<array>, std::vector<int>> vmap_front(const array& x, int axis, Stream s, F&& f) {
  if (axis < 0) {
    std::vector<array> out = f(x);
    return {out, std::vector<int>(out.size(), -1)};
  }
  std::vector<array> out = f(moveaxis(x, axis, 0, s));
  return {out, std::vector<int>(out.size(), 0)};
}

}  // namespace

// ---------------------------------------------------------------- Inverse

std::vector<array> Inverse::vjp(const std::vector<array>&, const std::vector<array>& cotangents,
                                const std::vector<int>& argnums, const std::vector<array>& outputs) {
  // Y = A^-1: dY = -Y dA Y, so Abar = -Y^T Ybar Y^T (only the read triangle for tri_inv).
  Stream s = stream();
  const array& y = outputs[0];
  array g = negative(mm(mm(mT(y, s), cotangents[0], s), mT(y, s), s), s);
  if (tri_) g = upper_ ? triu(g, 0, s) : tril(g, 0, s);
  return std::vector<array>(argnums.size(), g);
}

std::vector<array> Inverse::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                const std::vector<int>&) {
  Stream s = stream();
  array y = tri_ ? linalg::tri_inv(primals[0], upper_, s) : linalg::inv(primals[0], s);
  array da = tangents[0];
  if (tri_) da = upper_ ? triu(da, 0, s) : tril(da, 0, s);
  return {negative(mm(mm(y, da, s), y, s), s)};
}

std::pair<std::vector<array>, std::vector<int>> Inverse::vmap(const std::vector<array>& inputs,
                                                              const std::vector<int>& axes) {
  Stream s = stream();
  return vmap_front(inputs[0], axes[0], s, [&](const array& x) {
    return std::vector<array>{tri_ ? linalg::tri_inv(x, upper_, s) : linalg::inv(x, s)};
  });
}

// ---------------------------------------------------------------- Cholesky

namespace {

// Lower factor L of A_eff = L L^T: with X = L^-1 dL (lower), L^-1 dA L^-T = X + X^T,
// so dL = L phi(L^-1 dA L^-T) and Abar_eff = L^-T phi(L^T Lbar) L^-1.
array cholesky_lower_vjp(const array& l, const array& lbar, Stream s) {
  array li = linalg::tri_inv(l, false, s);
  array g = mm(mm(mT(li, s), phi(mm(mT(l, s), lbar, s), s), s), li, s);
  return to_triangle(g, false, s);
}

array cholesky_lower_jvp(const array& l, const array& da, Stream s) {
  array li = linalg::tri_inv(l, false, s);
  array m = mm(mm(li, symmetric_from(da, false, s), s), mT(li, s), s);
  return mm(l, phi(m, s), s);
}

}  // namespace

std::vector<array> Cholesky::vjp(const std::vector<array>&, const std::vector<array>& cotangents,
                                 const std::vector<int>& argnums, const std::vector<array>& outputs) {
  // The upper factor of A is the transposed lower factor of A^T.
  Stream s = stream();
  array g = upper_ ? mT(cholesky_lower_vjp(mT(outputs[0], s), mT(cotangents[0], s), s), s)
                   : cholesky_lower_vjp(outputs[0], cotangents[0], s);
  return std::vector<array>(argnums.size(), g);
}

std::vector<array> Cholesky::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                 const std::vector<int>&) {
  Stream s = stream();
  array f = linalg::cholesky(primals[0], upper_, s);
  if (upper_) return {mT(cholesky_lower_jvp(mT(f, s), mT(tangents[0], s), s), s)};
  return {cholesky_lower_jvp(f, tangents[0], s)};
}

std::pair<std::vector<array>, std::vector<int>> Cholesky::vmap(const std::vector<array>& inputs,
                                                               const std::vector<int>& axes) {
  Stream s = stream();
  return vmap_front(inputs[0], axes[0], s,
                    [&](const array& x) { return std::vector<array>{linalg::cholesky(x, upper_, s)}; });
}

// ---------------------------------------------------------------- QRF

namespace {

void check_tall(const array& a, const char* what) {
  if (a.shape(-2) < a.shape(-1)) {
    throw std::invalid_argument(std::string("[linalg::qr] the ") + what +
                                " is implemented for matrices with M >= N, got shape " + shape_to_string(a.shape()));
  }
}

}  // namespace

std::vector<array> QRF::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                            const std::vector<int>& argnums, const std::vector<array>& outputs) {
  // With H = Rbar R^T - Q^T Qbar and E its upper triangle mirrored below:
  // Abar = (Qbar + Q E) R^-T (the adjoint of the jvp below).
  check_tall(primals[0], "vjp");
  Stream s = stream();
  const array &q = outputs[0], &r = outputs[1];
  array h = subtract(mm(cotangents[1], mT(r, s), s), mm(mT(q, s), cotangents[0], s), s);
  array e = add(triu(h, 0, s), tril(mT(h, s), -1, s), s);
  array ri = linalg::tri_inv(r, true, s);
  array g = mm(add(cotangents[0], mm(q, e, s), s), mT(ri, s), s);
  return std::vector<array>(argnums.size(), g);
}

std::vector<array> QRF::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                            const std::vector<int>&) {
  // X = Q^T dA R^-1, C = triu(X) + tril(X, -1)^T: dR = C R, dQ = dA R^-1 - Q C.
  check_tall(primals[0], "jvp");
  Stream s = stream();
  auto [q, r] = linalg::qr(primals[0], s);
  array ri = linalg::tri_inv(r, true, s);
  array dar = mm(tangents[0], ri, s);
  array x = mm(mT(q, s), dar, s);
  array c = add(triu(x, 0, s), mT(tril(x, -1, s), s), s);
  return {subtract(dar, mm(q, c, s), s), mm(c, r, s)};
}

std::pair<std::vector<array>, std::vector<int>> QRF::vmap(const std::vector<array>& inputs,
                                                          const std::vector<int>& axes) {
  Stream s = stream();
  return vmap_front(inputs[0], axes[0], s, [&](const array& x) {
    auto [q, r] = linalg::qr(x, s);
    return std::vector<array>{q, r};
  });
}

// ---------------------------------------------------------------- SVD

namespace {

void check_square_uv(const array& a, const char* what) {
  if (a.shape(-2) != a.shape(-1)) {
    throw std::invalid_argument(std::string("[linalg::svd] the ") + what +
                                " of U and Vt is implemented for square matrices, got shape " +
                                shape_to_string(a.shape()) + " (svd with compute_uv=false differentiates any shape)");
  }
}

// The first K columns of U and of V = Vt^T (K = min(M, N)).
std::pair<array, array> thin_uv(const array& u, const array& vt, int k, Stream s) {
  Shape us(u.ndim(), 0), ue = u.shape(), vs(vt.ndim(), 0), ve = vt.shape();
  ue.back() = k;
  ve[ve.size() - 2] = k;
  return {slice(u, us, ue, s), mT(slice(vt, vs, ve, s), s)};
}

}  // namespace

std::vector<array> SVD::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                            const std::vector<int>& argnums, const std::vector<array>& outputs) {
  Stream s = stream();
  const array& a = primals[0];
  int k = std::min(a.shape(-2), a.shape(-1));
  if (!compute_uv_) {
    // dS = diag(U^T dA V), so Abar = U diag(Sbar) V^T over the first K singular vectors.
    auto usv = linalg::svd(a, true, s);
    auto [u, v] = thin_uv(usv[0], usv[2], k, s);
    return std::vector<array>(argnums.size(), mm(scale_columns(u, cotangents[0], s), mT(v, s), s));
  }
  check_square_uv(a, "vjp");
  // Square A = U S V^T, dP = U^T dA V: dS = diag(dP), U^T dU = F o (dP S + S dP^T),
  // V^T dV = F o (S dP + dP^T S) with F = gap_inverse(S^2). Adjoint:
  // Pbar = diag(Sbar) + (Ju + Ju^T) S + S (Jv + Jv^T), Ju = F o U^T Ubar, Jv = F o V^T Vbar.
  const array &u = outputs[0], &sv = outputs[1];
  array v = mT(outputs[2], s);
  array f = gap_inverse(square(sv, s), s);
  array ju = multiply(f, mm(mT(u, s), cotangents[0], s), s);
  array jv = multiply(f, mm(mT(v, s), mT(cotangents[2], s), s), s);
  array pbar = add(diag_matrix(cotangents[1], s), scale_columns(add(ju, mT(ju, s), s), sv, s), s);
  pbar = add(pbar, multiply(expand_dims(sv, -1, s), add(jv, mT(jv, s), s), s), s);
  return std::vector<array>(argnums.size(), mm(mm(u, pbar, s), mT(v, s), s));
}

std::vector<array> SVD::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                            const std::vector<int>&) {
  Stream s = stream();
  const array& a = primals[0];
  int k = std::min(a.shape(-2), a.shape(-1));
  auto usv = linalg::svd(a, true, s);
  if (!compute_uv_) {
    auto [u, v] = thin_uv(usv[0], usv[2], k, s);
    return {sum(multiply(u, mm(tangents[0], v, s), s), -2, false, s)};
  }
  check_square_uv(a, "jvp");
  const array &u = usv[0], &sv = usv[1];
  array v = mT(usv[2], s);
  array dp = mm(mm(mT(u, s), tangents[0], s), v, s);
  array f = gap_inverse(square(sv, s), s);
  array sc = expand_dims(sv, -1, s);  // S as a column: S X scales rows
  array du = mm(u, multiply(f, add(scale_columns(dp, sv, s), multiply(sc, mT(dp, s), s), s), s), s);
  array dv = mm(v, multiply(f, add(multiply(sc, dp, s), scale_columns(mT(dp, s), sv, s), s), s), s);
  return {du, diag_of(dp, s), mT(dv, s)};
}

std::pair<std::vector<array>, std::vector<int>> SVD::vmap(const std::vector<array>& inputs,
                                                          const std::vector<int>& axes) {
  Stream s = stream();
  return vmap_front(inputs[0], axes[0], s, [&](const array& x) { return linalg::svd(x, compute_uv_, s); });
}

// ---------------------------------------------------------------- LUF

namespace {

void check_square_lu(const array& a, const char* what) {
  if (a.shape(-2) != a.shape(-1)) {
    throw std::invalid_argument(std::string("[linalg::lu_factor] the ") + what +
                                " is implemented for square matrices, got shape " + shape_to_string(a.shape()));
  }
}

std::vector<array> lu_factor_all(const array& a, Stream s) {
  auto prim = std::make_shared<LUF>(s);
  return array::make_arrays(prim->output_shapes({a}), {a.dtype(), uint32, uint32}, prim, {a});
}

// Rows of x (..., N, N) reordered: out[i] = x[idx[i]].
array take_rows(const array& x, const array& idx, Stream s) {
  return take_along_axis(x, expand_dims(idx, -1, s), -2, s);
}

// L (unit lower) and U from the packed factors.
std::pair<array, array> unpack_lu(const array& lu, Stream s) {
  array l = add(tril(lu, -1, s), eye(lu.shape(-1), lu.dtype(), s), s);
  return {l, triu(lu, 0, s)};
}

}  // namespace

std::vector<array> LUF::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                            const std::vector<int>& argnums, const std::vector<array>& outputs) {
  // B = A[perm] = L U with A[i] = B[P[i]]. dB = L dL' + ... gives F = L^-1 dB U^-1,
  // dL = L tril(F, -1), dU = triu(F) U; adjoint Bbar = L^-T (tril(L^T Lbar, -1) + triu(Ubar U^T)) U^-T
  // with Lbar, Ubar the strict-lower and upper parts of the packed cotangent; then Abar = Bbar[P].
  check_square_lu(primals[0], "vjp");
  Stream s = stream();
  auto [l, u] = unpack_lu(outputs[0], s);
  const array& ct = cotangents[0];
  array w = add(tril(mm(mT(l, s), tril(ct, -1, s), s), -1, s), triu(mm(triu(ct, 0, s), mT(u, s), s), 0, s), s);
  array li = linalg::tri_inv(l, false, s), ui = linalg::tri_inv(u, true, s);
  array bbar = mm(mm(mT(li, s), w, s), mT(ui, s), s);
  return std::vector<array>(argnums.size(), take_rows(bbar, outputs[2], s));
}

std::vector<array> LUF::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                            const std::vector<int>&) {
  check_square_lu(primals[0], "jvp");
  Stream s = stream();
  auto out = lu_factor_all(primals[0], s);
  auto [l, u] = unpack_lu(out[0], s);
  array perm = argsort(out[2], -1, s);
  array db = take_rows(tangents[0], perm, s);
  array f = mm(mm(linalg::tri_inv(l, false, s), db, s), linalg::tri_inv(u, true, s), s);
  array dlu = add(mm(l, tril(f, -1, s), s), mm(triu(f, 0, s), u, s), s);
  return {dlu, zeros_like(out[1], s), zeros_like(out[2], s)};
}

std::pair<std::vector<array>, std::vector<int>> LUF::vmap(const std::vector<array>& inputs,
                                                          const std::vector<int>& axes) {
  Stream s = stream();
  return vmap_front(inputs[0], axes[0], s, [&](const array& x) { return lu_factor_all(x, s); });
}

// ---------------------------------------------------------------- Eig (not differentiable)

std::vector<array> Eig::vjp(const std::vector<array>&, const std::vector<array>&, const std::vector<int>&,
                            const std::vector<array>&) {
  throw std::invalid_argument("[linalg::eig] eig and eigvals are not differentiable; use eigh for symmetric matrices");
}

std::vector<array> Eig::jvp(const std::vector<array>&, const std::vector<array>&, const std::vector<int>&) {
  throw std::invalid_argument("[linalg::eig] eig and eigvals are not differentiable; use eigh for symmetric matrices");
}

std::pair<std::vector<array>, std::vector<int>> Eig::vmap(const std::vector<array>& inputs,
                                                          const std::vector<int>& axes) {
  Stream s = stream();
  return vmap_front(inputs[0], axes[0], s, [&](const array& x) {
    if (!compute_eigenvectors_) return std::vector<array>{linalg::eigvals(x, s)};
    auto [w, v] = linalg::eig(x, s);
    return std::vector<array>{w, v};
  });
}

// ---------------------------------------------------------------- Eigh

std::vector<array> Eigh::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                             const std::vector<int>& argnums, const std::vector<array>& outputs) {
  // A_eff = V diag(w) V^T, P = V^T dA_eff V: dw = diag(P), dV = V (F o P) with
  // F = gap_inverse(w); adjoint G = V (diag(wbar) + F o V^T Vbar) V^T.
  Stream s = stream();
  std::string uplo(1, uplo_);
  array v = compute_eigenvectors_ ? outputs[1] : linalg::eigh(primals[0], uplo, s).second;
  array inner = diag_matrix(cotangents[0], s);
  if (compute_eigenvectors_) {
    inner = add(inner, multiply(gap_inverse(outputs[0], s), mm(mT(v, s), cotangents[1], s), s), s);
  }
  array g = mm(mm(v, inner, s), mT(v, s), s);
  return std::vector<array>(argnums.size(), to_triangle(g, uplo_ == 'U', s));
}

std::vector<array> Eigh::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                             const std::vector<int>&) {
  Stream s = stream();
  auto [w, v] = linalg::eigh(primals[0], std::string(1, uplo_), s);
  array p = mm(mm(mT(v, s), symmetric_from(tangents[0], uplo_ == 'U', s), s), v, s);
  if (!compute_eigenvectors_) return {diag_of(p, s)};
  return {diag_of(p, s), mm(v, multiply(gap_inverse(w, s), p, s), s)};
}

std::pair<std::vector<array>, std::vector<int>> Eigh::vmap(const std::vector<array>& inputs,
                                                           const std::vector<int>& axes) {
  Stream s = stream();
  std::string uplo(1, uplo_);
  return vmap_front(inputs[0], axes[0], s, [&](const array& x) {
    if (!compute_eigenvectors_) return std::vector<array>{linalg::eigvalsh(x, uplo, s)};
    auto [w, v] = linalg::eigh(x, uplo, s);
    return std::vector<array>{w, v};
  });
}

}  // namespace ember
