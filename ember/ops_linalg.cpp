// Basic linear algebra: matmul, addmm, inner, outer, tensordot, trace, diag,
// diagonal, kron, and whole-array comparisons (isclose, allclose, array_equal).
// matmul and addmm have primitives (backend/cpu/matmul.cpp, via BLAS); the
// rest are compositions.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "ember/ops.h"
#include "ember/ops_common.h"
#include "ember/primitives.h"
#include "ember/utils.h"

namespace ember {

namespace {

// Like MLX, products only run on floating point (and complex) dtypes.
void check_inexact(Dtype t, const std::vector<array>& xs, const char* op) {
  if (is_inexact(t)) return;
  std::string got;
  for (size_t i = 0; i < xs.size(); ++i) got += (i ? " and " : "") + dtype_name(xs[i].dtype());
  throw std::invalid_argument(std::string("[") + op + "] only floating point types are supported, got " + got +
                              " (promoted to " + dtype_name(t) + ")");
}

// Operands of a matrix product: a (..., M, K) and b (..., K, N) with one batch
// shape (broadcast views), plus the shape of the result once the axes added
// for 1-d operands are dropped.
struct MatmulOperands {
  array a, b;
  Shape out_shape;
};

MatmulOperands prepare_matmul(const array& a_in, const array& b_in, Dtype t, const char* op, StreamOrDevice s) {
  if (a_in.ndim() == 0 || b_in.ndim() == 0) {
    throw std::invalid_argument(std::string("[") + op + "] operands must have at least 1 dimension, got shapes " +
                                shape_to_string(a_in.shape()) + " and " + shape_to_string(b_in.shape()) +
                                "; use multiply for scalars");
  }
  array a = astype(a_in, t, s);
  array b = astype(b_in, t, s);
  bool a_vec = a.ndim() == 1, b_vec = b.ndim() == 1;
  if (a_vec) a = reshape(a, {1, a.shape(0)}, s);
  if (b_vec) b = reshape(b, {b.shape(0), 1}, s);
  if (a.shape(-1) != b.shape(-2)) {
    throw std::invalid_argument(std::string("[") + op + "] the last axis of the first operand (" +
                                std::to_string(a.shape(-1)) + ") must match the " +
                                (b_vec ? "length" : "second-to-last axis") + " of the second (" +
                                std::to_string(b.shape(-2)) + "), got shapes " + shape_to_string(a_in.shape()) +
                                " and " + shape_to_string(b_in.shape()));
  }
  Shape a_batch(a.shape().begin(), a.shape().end() - 2);
  Shape b_batch(b.shape().begin(), b.shape().end() - 2);
  Shape batch;
  try {
    batch = broadcast_shapes(a_batch, b_batch);
  } catch (const std::invalid_argument&) {
    throw std::invalid_argument(std::string("[") + op + "] batch axes of shapes " + shape_to_string(a_in.shape()) +
                                " and " + shape_to_string(b_in.shape()) + " cannot be broadcast");
  }
  Shape as = batch, bs = batch;
  as.insert(as.end(), {a.shape(-2), a.shape(-1)});
  bs.insert(bs.end(), {b.shape(-2), b.shape(-1)});
  a = broadcast_to(a, as, s);
  b = broadcast_to(b, bs, s);
  Shape out = batch;
  if (!a_vec) out.push_back(a.shape(-2));
  if (!b_vec) out.push_back(b.shape(-1));
  return {a, b, out};
}

// The product's full shape (..., M, N) before 1-d axes are dropped.
Shape full_product_shape(const array& a, const array& b) {
  Shape shape = a.shape();
  shape.back() = b.shape(-1);
  return shape;
}

}  // namespace

array matmul(const array& a, const array& b, StreamOrDevice s) {
  Dtype t = promote_types(a.dtype(), b.dtype());
  check_inexact(t, {a, b}, "matmul");
  auto [x, y, out_shape] = prepare_matmul(a, b, t, "matmul", s);
  Shape full = full_product_shape(x, y);
  checked_size(full, "matmul");
  array out(full, t, std::make_shared<Matmul>(to_stream(s)), {x, y});
  return reshape(out, std::move(out_shape), s);
}

array addmm(const array& c, const array& a, const array& b, float alpha, float beta, StreamOrDevice s) {
  Dtype t = promote_types(promote_types(a.dtype(), b.dtype()), c.dtype());
  check_inexact(t, {c, a, b}, "addmm");
  auto [x, y, out_shape] = prepare_matmul(a, b, t, "addmm", s);
  Shape full = full_product_shape(x, y);
  checked_size(full, "addmm");
  // c broadcasts against the product (NumPy rules) but may not enlarge it.
  Shape cb;
  try {
    cb = broadcast_shapes(c.shape(), out_shape);
  } catch (const std::invalid_argument&) {
    cb.clear();
  }
  if (cb != out_shape) {
    throw std::invalid_argument("[addmm] c of shape " + shape_to_string(c.shape()) +
                                " cannot be broadcast to the product's shape " + shape_to_string(out_shape));
  }
  array cc = reshape(broadcast_to(astype(c, t, s), out_shape, s), full, s);
  array out(full, t, std::make_shared<AddMM>(to_stream(s), alpha, beta), {x, y, cc});
  return reshape(out, std::move(out_shape), s);
}

array tensordot(const array& a, const array& b, const std::vector<int>& axes_a, const std::vector<int>& axes_b,
                StreamOrDevice s) {
  if (axes_a.size() != axes_b.size()) {
    throw std::invalid_argument("[tensordot] axes_a and axes_b must have the same length, got " +
                                std::to_string(axes_a.size()) + " and " + std::to_string(axes_b.size()));
  }
  Dtype t = promote_types(a.dtype(), b.dtype());
  check_inexact(t, {a, b}, "tensordot");
  int nda = static_cast<int>(a.ndim()), ndb = static_cast<int>(b.ndim());
  std::vector<bool> in_a(nda, false), in_b(ndb, false);
  std::vector<int> ca, cb;
  int64_t k = 1;
  for (size_t i = 0; i < axes_a.size(); ++i) {
    int x = detail::normalize_axis(axes_a[i], nda, "tensordot");
    int y = detail::normalize_axis(axes_b[i], ndb, "tensordot");
    if (in_a[x] || in_b[y]) {
      throw std::invalid_argument("[tensordot] axis " + std::to_string(in_a[x] ? axes_a[i] : axes_b[i]) +
                                  " is repeated");
    }
    if (a.shape(x) != b.shape(y)) {
      throw std::invalid_argument("[tensordot] axis " + std::to_string(axes_a[i]) + " of a (size " +
                                  std::to_string(a.shape(x)) + ") and axis " + std::to_string(axes_b[i]) +
                                  " of b (size " + std::to_string(b.shape(y)) + ") must match");
    }
    in_a[x] = in_b[y] = true;
    ca.push_back(x);
    cb.push_back(y);
    k *= a.shape(x);
  }
  // a -> (free_a..., contracted) as (M, K); b -> (contracted, free_b...) as (K, N).
  std::vector<int> pa, pb = cb;
  Shape out_shape;
  int64_t m = 1, n = 1;
  for (int i = 0; i < nda; ++i) {
    if (!in_a[i]) {
      pa.push_back(i);
      out_shape.push_back(a.shape(i));
      m *= a.shape(i);
    }
  }
  pa.insert(pa.end(), ca.begin(), ca.end());
  for (int i = 0; i < ndb; ++i) {
    if (!in_b[i]) {
      pb.push_back(i);
      out_shape.push_back(b.shape(i));
      n *= b.shape(i);
    }
  }
  checked_size(out_shape, "tensordot");
  array x = reshape(transpose(a, pa, s), {static_cast<int32_t>(m), static_cast<int32_t>(k)}, s);
  array y = reshape(transpose(b, pb, s), {static_cast<int32_t>(k), static_cast<int32_t>(n)}, s);
  return reshape(matmul(x, y, s), std::move(out_shape), s);
}

array tensordot(const array& a, const array& b, int axes, StreamOrDevice s) {
  if (axes < 0 || axes > static_cast<int>(a.ndim()) || axes > static_cast<int>(b.ndim())) {
    throw std::invalid_argument(
        "[tensordot] axes must be between 0 and the number of dimensions of both operands, "
        "got " +
        std::to_string(axes) + " for shapes " + shape_to_string(a.shape()) + " and " + shape_to_string(b.shape()));
  }
  std::vector<int> xa, xb;
  for (int i = 0; i < axes; ++i) {
    xa.push_back(static_cast<int>(a.ndim()) - axes + i);
    xb.push_back(i);
  }
  return tensordot(a, b, xa, xb, s);
}

array inner(const array& a, const array& b, StreamOrDevice s) {
  if (a.ndim() == 0 || b.ndim() == 0) return multiply(a, b, s);
  if (a.shape(-1) != b.shape(-1)) {
    throw std::invalid_argument("[inner] the last axes must match, got shapes " + shape_to_string(a.shape()) + " and " +
                                shape_to_string(b.shape()));
  }
  return tensordot(a, b, {-1}, {-1}, s);
}

array outer(const array& a, const array& b, StreamOrDevice s) {
  return multiply(reshape(a, {static_cast<int32_t>(a.size()), 1}, s), flatten(b, 0, -1, s), s);
}

// ---------------------------------------------------------------- diagonals

array diagonal(const array& a, int offset, int axis1, int axis2, StreamOrDevice s) {
  int nd = static_cast<int>(a.ndim());
  if (nd < 2) {
    throw std::invalid_argument("[diagonal] expected an array with at least 2 dimensions, got shape " +
                                shape_to_string(a.shape()));
  }
  int x1 = detail::normalize_axis(axis1, nd, "diagonal");
  int x2 = detail::normalize_axis(axis2, nd, "diagonal");
  if (x1 == x2) {
    throw std::invalid_argument("[diagonal] axis1 and axis2 must differ, got " + std::to_string(axis1) + " and " +
                                std::to_string(axis2));
  }
  // Element j of the diagonal is a[..., i1 + j, ..., i2 + j, ...]: a strided view
  // of the row-major layout with step s1 + s2, appended as the last axis.
  int64_t n1 = a.shape(x1), n2 = a.shape(x2);
  int64_t i1 = std::max(0, -offset), i2 = std::max(0, offset);
  int64_t len = std::max<int64_t>(0, std::min(n1 - i1, n2 - i2));
  Strides rm = row_major_strides(a.shape());
  Shape shape;
  Strides strides;
  for (int i = 0; i < nd; ++i) {
    if (i == x1 || i == x2) continue;
    shape.push_back(a.shape(i));
    strides.push_back(rm[i]);
  }
  shape.push_back(static_cast<int32_t>(len));
  strides.push_back(rm[x1] + rm[x2]);
  int64_t off = len > 0 && a.size() > 0 ? i1 * rm[x1] + i2 * rm[x2] : 0;
  Shape out_shape = shape;
  return array(std::move(out_shape), a.dtype(),
               std::make_shared<AsStrided>(to_stream(s), std::move(shape), std::move(strides), off), {a});
}

array diag(const array& a, int k, StreamOrDevice s) {
  if (a.ndim() == 2) return diagonal(a, k, 0, 1, s);
  if (a.ndim() != 1) {
    throw std::invalid_argument("[diag] expected a 1-d or 2-d array, got shape " + shape_to_string(a.shape()));
  }
  int64_t n64 = static_cast<int64_t>(a.shape(0)) + std::abs(static_cast<int64_t>(k));
  if (n64 > INT32_MAX) throw std::invalid_argument("[diag] offset " + std::to_string(k) + " is too large");
  int n = static_cast<int>(n64);
  // out[r, c] = a[r] (k >= 0) or a[c] (k < 0) where c - r == k; a is padded to n.
  array v = pad(a, std::vector<int>{0}, Shape{0}, Shape{n - a.shape(0)}, array(0, a.dtype()), "constant", s);
  v = k >= 0 ? reshape(v, {n, 1}, s) : reshape(v, {1, n}, s);
  return where(eye(n, n, k, bool_, s), v, zeros({}, a.dtype(), s), s);
}

array trace(const array& a, int offset, int axis1, int axis2, Dtype dtype, StreamOrDevice s) {
  array d = diagonal(a, offset, axis1, axis2, s);
  return astype(sum(astype(d, dtype, s), -1, false, s), dtype, s);
}

array trace(const array& a, int offset, int axis1, int axis2, StreamOrDevice s) {
  return trace(a, offset, axis1, axis2, a.dtype(), s);
}

array kron(const array& a, const array& b, StreamOrDevice s) {
  if (a.ndim() == 0 || b.ndim() == 0) return multiply(a, b, s);
  size_t nd = std::max(a.ndim(), b.ndim());
  Shape sa = a.shape(), sb = b.shape();
  sa.insert(sa.begin(), nd - sa.size(), 1);
  sb.insert(sb.begin(), nd - sb.size(), 1);
  // a as (a0, 1, a1, 1, ...) times b as (1, b0, 1, b1, ...), then pairs merged.
  Shape ia, ib, out;
  for (size_t i = 0; i < nd; ++i) {
    ia.insert(ia.end(), {sa[i], 1});
    ib.insert(ib.end(), {1, sb[i]});
    int64_t d = static_cast<int64_t>(sa[i]) * sb[i];
    if (d > INT32_MAX) {
      throw std::invalid_argument("[kron] axis " + std::to_string(i) + " would have " + std::to_string(d) +
                                  " elements, more than an axis holds");
    }
    out.push_back(static_cast<int32_t>(d));
  }
  return reshape(multiply(reshape(a, ia, s), reshape(b, ib, s), s), std::move(out), s);
}

// ---------------------------------------------------------------- comparisons

array isclose(const array& a, const array& b, double rtol, double atol, bool equal_nan, StreamOrDevice s) {
  // |a - b| <= atol + rtol * |b|, computed in an inexact type so integers don't
  // wrap; equal infinities are close, infinities and finite values are not.
  Dtype t = promote_types(a.dtype(), b.dtype());
  if (!is_inexact(t)) t = float32;
  array x = astype(a, t, s), y = astype(b, t, s);
  Dtype rt = is_complex(t) ? float32 : t;
  array lhs = abs(subtract(x, y, s), s);
  array rhs = add(array(atol, rt), multiply(array(rtol, rt), abs(y, s), s), s);
  array out = less_equal(lhs, rhs, s);
  out = logical_and(out, logical_not(logical_or(isinf(x, s), isinf(y, s), s), s), s);
  out = logical_or(out, logical_and(isinf(x, s), equal(x, y, s), s), s);
  if (equal_nan) out = logical_or(out, logical_and(isnan(x, s), isnan(y, s), s), s);
  return out;
}

array allclose(const array& a, const array& b, double rtol, double atol, bool equal_nan, StreamOrDevice s) {
  return all(isclose(a, b, rtol, atol, equal_nan, s), false, s);
}

array array_equal(const array& a, const array& b, bool equal_nan, StreamOrDevice s) {
  if (a.shape() != b.shape()) return array(false);
  Dtype t = promote_types(a.dtype(), b.dtype());
  array x = astype(a, t, s), y = astype(b, t, s);
  array eq = equal(x, y, s);
  if (equal_nan && is_inexact(t)) eq = logical_or(eq, logical_and(isnan(x, s), isnan(y, s), s), s);
  return all(eq, false, s);
}

}  // namespace ember
