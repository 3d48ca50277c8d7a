// ember::linalg ops: validation and graph building for the LAPACK-backed
// primitives of primitives_linalg.h, and the compositions on top of them
// (norm, pinv, solve, solve_triangular, cholesky_inv, lu, det, slogdet, cross).
#include "ember/linalg.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "ember/ops.h"
#include "ember/ops_common.h"
#include "ember/primitives_linalg.h"
#include "ember/utils.h"

namespace ember::linalg {

namespace {

std::string prefix(const char* op) { return std::string("[linalg::") + op + "] "; }

void check_float(const array& a, const char* op) {
  if (a.dtype() != float32 && a.dtype() != float64) {
    throw std::invalid_argument(prefix(op) + "expected a float32 or float64 array, got " + dtype_name(a.dtype()));
  }
}

void check_matrix(const array& a, const char* op) {
  if (a.ndim() < 2) {
    throw std::invalid_argument(prefix(op) + "expected an array with at least 2 dimensions, got shape " +
                                shape_to_string(a.shape()));
  }
  check_float(a, op);
}

void check_square(const array& a, const char* op) {
  check_matrix(a, op);
  if (a.shape(-1) != a.shape(-2)) {
    throw std::invalid_argument(prefix(op) + "expected square matrices in the last two axes, got shape " +
                                shape_to_string(a.shape()));
  }
}

array mT(const array& x, StreamOrDevice s) { return swapaxes(x, -1, -2, s); }

// x[..., r0:r1, c0:c1] of a (..., R, C) array.
array block(const array& x, int r0, int r1, int c0, int c1, StreamOrDevice s) {
  Shape start(x.ndim(), 0), stop = x.shape();
  start[x.ndim() - 2] = r0;
  stop[x.ndim() - 2] = r1;
  start[x.ndim() - 1] = c0;
  stop[x.ndim() - 1] = c1;
  return slice(x, start, stop, s);
}

// The diagonal of (..., N, N) as (..., N), differentiable (diagonal() is a view without transforms).
array diag_of(const array& x, StreamOrDevice s) {
  return sum(multiply(x, eye(x.shape(-1), x.dtype(), s), s), -1, false, s);
}

double eps_of(Dtype t) {
  return t == float64 ? std::numeric_limits<double>::epsilon() : std::numeric_limits<float>::epsilon();
}

// a^-1 b (inv_a given) where b is one vector per matrix (b.ndim() == a.ndim() - 1) or a matrix.
array apply_to_rhs(const array& a, const array& inv_a, const array& b, const char* op, StreamOrDevice s) {
  bool vec = b.ndim() + 1 == a.ndim();
  if (b.ndim() == 0 || (vec ? b.shape(-1) : b.ndim() >= 2 ? b.shape(-2) : -1) != a.shape(-1)) {
    throw std::invalid_argument(prefix(op) + "b of shape " + shape_to_string(b.shape()) +
                                " does not match a of shape " + shape_to_string(a.shape()) +
                                " (b must be (..., N) or (..., N, K) with N = " + std::to_string(a.shape(-1)) + ")");
  }
  if (vec) return squeeze(matmul(inv_a, expand_dims(b, -1, s), s), -1, s);
  return matmul(inv_a, b, s);
}

// a and b cast to their common float type, which must be float32 or float64.
std::pair<array, array> promote_pair(const array& a, const array& b, const char* op, StreamOrDevice s) {
  Dtype t = promote_types(a.dtype(), b.dtype());
  if (t != float32 && t != float64) {
    throw std::invalid_argument(prefix(op) + "expected float32 or float64 arrays, got " + dtype_name(a.dtype()) +
                                " and " + dtype_name(b.dtype()));
  }
  return {astype(a, t, s), astype(b, t, s)};
}

}  // namespace

// ---------------------------------------------------------------- factorizations

array inv(const array& a, StreamOrDevice s) {
  check_square(a, "inv");
  return array(a.shape(), a.dtype(), std::make_shared<Inverse>(to_stream(s), false, false), {a});
}

array tri_inv(const array& a, bool upper, StreamOrDevice s) {
  check_square(a, "tri_inv");
  return array(a.shape(), a.dtype(), std::make_shared<Inverse>(to_stream(s), true, upper), {a});
}

array cholesky(const array& a, bool upper, StreamOrDevice s) {
  check_square(a, "cholesky");
  return array(a.shape(), a.dtype(), std::make_shared<Cholesky>(to_stream(s), upper), {a});
}

array cholesky_inv(const array& L, bool upper, StreamOrDevice s) {
  check_square(L, "cholesky_inv");
  // A = L L^T gives A^-1 = L^-T L^-1; A = U^T U gives U^-1 U^-T.
  array f = tri_inv(L, upper, s);
  return upper ? matmul(f, mT(f, s), s) : matmul(mT(f, s), f, s);
}

std::pair<array, array> qr(const array& a, StreamOrDevice s) {
  check_matrix(a, "qr");
  auto prim = std::make_shared<QRF>(to_stream(s));
  auto out = array::make_arrays(prim->output_shapes({a}), {a.dtype(), a.dtype()}, prim, {a});
  return {out[0], out[1]};
}

std::vector<array> svd(const array& a, bool compute_uv, StreamOrDevice s) {
  check_matrix(a, "svd");
  auto prim = std::make_shared<SVD>(to_stream(s), compute_uv);
  auto shapes = prim->output_shapes({a});
  return array::make_arrays(shapes, std::vector<Dtype>(shapes.size(), a.dtype()), prim, {a});
}

array pinv(const array& a, StreamOrDevice s) {
  check_matrix(a, "pinv");
  int m = a.shape(-2), n = a.shape(-1), k = std::min(m, n);
  if (k == 0) {
    Shape shape = a.shape();
    std::swap(shape[shape.size() - 1], shape[shape.size() - 2]);
    return zeros(shape, a.dtype(), s);
  }
  auto usv = svd(a, true, s);
  array u = block(usv[0], 0, m, 0, k, s);   // (..., M, K)
  array vt = block(usv[2], 0, k, 0, n, s);  // (..., K, N)
  array sv = usv[1];
  array cutoff = multiply(max(sv, -1, true, s), array(std::max(m, n) * eps_of(a.dtype()), a.dtype()), s);
  array keep = greater(sv, cutoff, s);
  array one = ones({}, a.dtype(), s);
  array sinv = where(keep, divide(one, where(keep, sv, one, s), s), zeros({}, a.dtype(), s), s);
  // V diag(1/S) U^T.
  return matmul(multiply(mT(vt, s), expand_dims(sinv, -2, s), s), mT(u, s), s);
}

array solve(const array& a, const array& b, StreamOrDevice s) {
  check_square(a, "solve");
  auto [x, y] = promote_pair(a, b, "solve", s);
  return apply_to_rhs(x, inv(x, s), y, "solve", s);
}

array solve_triangular(const array& a, const array& b, bool upper, StreamOrDevice s) {
  check_square(a, "solve_triangular");
  auto [x, y] = promote_pair(a, b, "solve_triangular", s);
  return apply_to_rhs(x, tri_inv(x, upper, s), y, "solve_triangular", s);
}

namespace {

std::vector<array> luf(const array& a, StreamOrDevice s) {
  auto prim = std::make_shared<LUF>(to_stream(s));
  return array::make_arrays(prim->output_shapes({a}), {a.dtype(), uint32, uint32}, prim, {a});
}

// (-1)^(number of actual row swaps) as `t`.
array pivot_sign(const array& piv, Dtype t, StreamOrDevice s) {
  int k = piv.shape(-1);
  array swaps = sum(astype(not_equal(piv, arange(0, k, 1, uint32, s), s), int32, s), -1, false, s);
  array odd = astype(remainder(swaps, array(2), s), t, s);
  return subtract(ones({}, t, s), multiply(array(2.0, t), odd, s), s);
}

}  // namespace

std::pair<array, array> lu_factor(const array& a, StreamOrDevice s) {
  check_matrix(a, "lu_factor");
  auto out = luf(a, s);
  return {out[0], out[1]};
}

std::vector<array> lu(const array& a, StreamOrDevice s) {
  check_matrix(a, "lu");
  auto out = luf(a, s);
  int m = a.shape(-2), n = a.shape(-1), k = std::min(m, n);
  array l = add(tril(block(out[0], 0, m, 0, k, s), -1, s), eye(m, k, 0, a.dtype(), s), s);
  array u = triu(block(out[0], 0, k, 0, n, s), 0, s);
  return {out[2], l, u};
}

array det(const array& a, StreamOrDevice s) {
  check_square(a, "det");
  auto out = luf(a, s);
  array d = prod(diag_of(out[0], s), -1, false, s);
  return multiply(d, pivot_sign(out[1], a.dtype(), s), s);
}

std::pair<array, array> slogdet(const array& a, StreamOrDevice s) {
  check_square(a, "slogdet");
  auto out = luf(a, s);
  array d = diag_of(out[0], s);
  array sgn = multiply(prod(sign(d, s), -1, false, s), pivot_sign(out[1], a.dtype(), s), s);
  array logabs = sum(log(abs(d, s), s), -1, false, s);
  return {sgn, logabs};
}

std::pair<array, array> eig(const array& a, StreamOrDevice s) {
  check_square(a, "eig");
  auto prim = std::make_shared<Eig>(to_stream(s), true);
  auto out = array::make_arrays(prim->output_shapes({a}), {complex64, complex64}, prim, {a});
  return {out[0], out[1]};
}

array eigvals(const array& a, StreamOrDevice s) {
  check_square(a, "eigvals");
  auto prim = std::make_shared<Eig>(to_stream(s), false);
  return array::make_arrays(prim->output_shapes({a}), {complex64}, prim, {a})[0];
}

namespace {

char check_uplo(const std::string& uplo, const char* op) {
  if (uplo != "L" && uplo != "U")
    throw std::invalid_argument(prefix(op) + "UPLO must be 'L' or 'U', got '" + uplo + "'");
  return uplo[0];
}

}  // namespace

std::pair<array, array> eigh(const array& a, const std::string& UPLO, StreamOrDevice s) {
  check_square(a, "eigh");
  auto prim = std::make_shared<Eigh>(to_stream(s), check_uplo(UPLO, "eigh"), true);
  auto out = array::make_arrays(prim->output_shapes({a}), {a.dtype(), a.dtype()}, prim, {a});
  return {out[0], out[1]};
}

array eigvalsh(const array& a, const std::string& UPLO, StreamOrDevice s) {
  check_square(a, "eigvalsh");
  auto prim = std::make_shared<Eigh>(to_stream(s), check_uplo(UPLO, "eigvalsh"), false);
  return array::make_arrays(prim->output_shapes({a}), {a.dtype()}, prim, {a})[0];
}

// ---------------------------------------------------------------- cross

array cross(const array& a, const array& b, int axis, StreamOrDevice s) {
  if (a.ndim() == 0 || b.ndim() == 0) {
    throw std::invalid_argument(prefix("cross") + "expected arrays with at least 1 dimension, got shapes " +
                                shape_to_string(a.shape()) + " and " + shape_to_string(b.shape()));
  }
  Shape shape = broadcast_shapes(a.shape(), b.shape());
  int ax = detail::normalize_axis(axis, static_cast<int>(shape.size()), "linalg::cross");
  int off_a = static_cast<int>(shape.size() - a.ndim()), off_b = static_cast<int>(shape.size() - b.ndim());
  int na = ax >= off_a ? a.shape(ax - off_a) : 1, nb = ax >= off_b ? b.shape(ax - off_b) : 1;
  if (na != 3 || nb != 3) {
    throw std::invalid_argument(prefix("cross") + "axis " + std::to_string(axis) +
                                " must have size 3 in both inputs, got shapes " + shape_to_string(a.shape()) + " and " +
                                shape_to_string(b.shape()));
  }
  Dtype t = promote_types(a.dtype(), b.dtype());
  array x = broadcast_to(astype(a, t, s), shape, s), y = broadcast_to(astype(b, t, s), shape, s);
  auto comp = [&](const array& v, int i) {
    Shape start(shape.size(), 0), stop = shape;
    start[ax] = i;
    stop[ax] = i + 1;
    return slice(v, start, stop, s);
  };
  array x0 = comp(x, 0), x1 = comp(x, 1), x2 = comp(x, 2);
  array y0 = comp(y, 0), y1 = comp(y, 1), y2 = comp(y, 2);
  return concatenate(
      {subtract(multiply(x1, y2, s), multiply(x2, y1, s), s), subtract(multiply(x2, y0, s), multiply(x0, y2, s), s),
       subtract(multiply(x0, y1, s), multiply(x1, y0, s), s)},
      ax, s);
}

// ---------------------------------------------------------------- norm

namespace {

// The input of a norm in an inexact dtype (integers and bool in float32).
array norm_input(const array& a) {
  if (is_complex(a.dtype())) throw std::invalid_argument(prefix("norm") + "complex64 inputs are not supported");
  if (!is_floating_point(a.dtype())) return astype(a, float32);
  return a;
}

std::vector<int> norm_axes(const array& a, const std::optional<std::vector<int>>& axis, bool have_ord) {
  int nd = static_cast<int>(a.ndim());
  std::vector<int> axes;
  if (!axis) {
    if (have_ord && nd != 1 && nd != 2) {
      throw std::invalid_argument(prefix("norm") +
                                  "an ord needs a 1-d or 2-d input when axis is not given, got shape " +
                                  shape_to_string(a.shape()));
    }
    for (int i = 0; i < nd; ++i) axes.push_back(i);
    return axes;
  }
  for (int x : *axis) axes.push_back(detail::normalize_axis(x, nd, "linalg::norm"));
  if (axes.size() == 2 && axes[0] == axes[1]) {
    throw std::invalid_argument(prefix("norm") + "the two axes must differ, got " + std::to_string((*axis)[0]) +
                                " and " + std::to_string((*axis)[1]));
  }
  if (axes.empty() || axes.size() > 2) {
    throw std::invalid_argument(prefix("norm") + "axis must name 1 or 2 axes, got " + std::to_string(axes.size()));
  }
  return axes;
}

array vector_norm(const array& x, double ord, int ax, bool keepdims, StreamOrDevice s) {
  array ab = abs(x, s);
  if (std::isinf(ord)) return ord > 0 ? max(ab, ax, keepdims, s) : min(ab, ax, keepdims, s);
  if (ord == 0) return sum(astype(not_equal(x, zeros({}, x.dtype(), s), s), x.dtype(), s), ax, keepdims, s);
  if (ord == 1) return sum(ab, ax, keepdims, s);
  if (ord == 2) return sqrt(sum(square(x, s), ax, keepdims, s), s);
  array p = array(ord, x.dtype());
  return power(sum(power(ab, p, s), ax, keepdims, s), array(1.0 / ord, x.dtype()), s);
}

// Singular values of the matrices in axes (r, c), with those axes removed (or kept as size 1).
array singular_values(const array& x, int r, int c, bool keepdims, StreamOrDevice s) {
  std::vector<int> perm;
  for (int i = 0; i < static_cast<int>(x.ndim()); ++i) {
    if (i != r && i != c) perm.push_back(i);
  }
  perm.insert(perm.end(), {r, c});
  if (x.dtype() != float32 && x.dtype() != float64) {
    throw std::invalid_argument(prefix("norm") + "the 2, -2 and nuclear norms need float32 or float64, got " +
                                dtype_name(x.dtype()));
  }
  array sv = svd(transpose(x, perm, s), false, s)[0];
  if (!keepdims) return sv;
  // Restore r and c as size-1 axes (before the trailing singular-value axis, reduced by the caller).
  std::vector<int> both = {std::min(r, c), std::max(r, c)};
  array out = expand_dims(sv, both[0], s);
  return expand_dims(out, both[1], s);
}

array matrix_norm(const array& x, double ord, int r, int c, bool keepdims, StreamOrDevice s) {
  if (ord == 2 || ord == -2) {
    array sv = singular_values(x, r, c, keepdims, s);
    return ord > 0 ? max(sv, -1, false, s) : min(sv, -1, false, s);
  }
  int sum_ax, red_ax;
  if (ord == 1 || ord == -1) {
    sum_ax = r;  // column sums, then max/min over columns
    red_ax = c;
  } else if (std::isinf(ord)) {
    sum_ax = c;  // row sums, then max/min over rows
    red_ax = r;
  } else {
    throw std::invalid_argument(prefix("norm") + "invalid matrix norm order " + std::to_string(ord) +
                                " (expected 1, -1, 2, -2, inf, -inf, 'fro' or 'nuc')");
  }
  array sums = sum(abs(x, s), sum_ax, true, s);
  array out = ord > 0 ? max(sums, red_ax, true, s) : min(sums, red_ax, true, s);
  return keepdims ? out : squeeze(out, std::vector<int>{r, c}, s);
}

}  // namespace

array norm(const array& a, double ord, const std::optional<std::vector<int>>& axis, bool keepdims, StreamOrDevice s) {
  array x = norm_input(a);
  std::vector<int> axes = norm_axes(x, axis, true);
  if (axes.size() == 1) return vector_norm(x, ord, axes[0], keepdims, s);
  return matrix_norm(x, ord, axes[0], axes[1], keepdims, s);
}

array norm(const array& a, double ord, int axis, bool keepdims, StreamOrDevice s) {
  return norm(a, ord, std::vector<int>{axis}, keepdims, s);
}

array norm(const array& a, const std::string& ord, const std::optional<std::vector<int>>& axis, bool keepdims,
           StreamOrDevice s) {
  array x = norm_input(a);
  std::vector<int> axes = norm_axes(x, axis, true);
  if (ord != "fro" && ord != "nuc") {
    throw std::invalid_argument(prefix("norm") + "invalid norm order '" + ord + "' (expected 'fro' or 'nuc')");
  }
  if (axes.size() != 2) {
    throw std::invalid_argument(prefix("norm") + "ord '" + ord + "' is a matrix norm and needs two axes, got " +
                                std::to_string(axes.size()));
  }
  if (ord == "fro") return sqrt(sum(square(x, s), axes, keepdims, s), s);
  return sum(singular_values(x, axes[0], axes[1], keepdims, s), -1, false, s);
}

array norm(const array& a, const std::string& ord, int axis, bool keepdims, StreamOrDevice s) {
  return norm(a, ord, std::vector<int>{axis}, keepdims, s);
}

array norm(const array& a, const std::optional<std::vector<int>>& axis, bool keepdims, StreamOrDevice s) {
  array x = norm_input(a);
  std::vector<int> axes = norm_axes(x, axis, false);
  return sqrt(sum(square(x, s), axes, keepdims, s), s);
}

array norm(const array& a, int axis, bool keepdims, StreamOrDevice s) {
  return norm(a, std::vector<int>{axis}, keepdims, s);
}

}  // namespace ember::linalg
