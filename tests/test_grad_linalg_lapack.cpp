// GradLinalg: vjp/jvp/vmap of the LAPACK-backed primitives (Inverse, Cholesky,
// QRF, SVD, LUF, Eigh; vmap of Eig) through the grad_check harness, and of the
// ember::linalg compositions (det, slogdet, solve, solve_triangular,
// cholesky_inv, pinv, norm, cross, second derivatives) through the public
// transforms.
#include <gtest/gtest.h>

#include <ember/ember.h>
#include <ember/primitives_linalg.h>

#include <vector>

#include "grad_check.h"
#include "test_utils.h"

using namespace ember;
using test_utils::expect_error;

namespace {

using Args = std::vector<array>;
using grad_check::check;
using grad_check::check_transforms;

// x + n I for (..., n, n): keeps random inputs well conditioned.
array shift(const array& x) { return add(x, multiply(eye(x.shape(-1), x.dtype()), array(2.0 * x.shape(-1)))); }
// x x^T + n I: symmetric positive definite.
array make_spd(const array& x) { return add(matmul(x, swapaxes(x, -1, -2)), eye(x.shape(-1), x.dtype())); }

grad_check::Options no_vmap() {
  grad_check::Options o;
  o.vmap = false;
  return o;
}

}  // namespace

TEST(GradLinalg, Inverse) {
  check([](const Args& x) { return linalg::inv(shift(x[0])); }, {{4, 4}});
  check([](const Args& x) { return linalg::inv(shift(x[0])); }, {{2, 3, 3}});
  check([](const Args& x) { return linalg::tri_inv(shift(x[0]), false); }, {{4, 4}});
  check([](const Args& x) { return linalg::tri_inv(shift(x[0]), true); }, {{2, 3, 3}});
}

TEST(GradLinalg, Cholesky) {
  // The vmap batch elements of grad_check are raw random matrices (not positive
  // definite), so vmap goes through check_transforms, whose inputs pass through fn.
  check([](const Args& x) { return linalg::cholesky(make_spd(x[0])); }, {{4, 4}}, no_vmap());
  check([](const Args& x) { return linalg::cholesky(make_spd(x[0]), true); }, {{2, 3, 3}}, no_vmap());
  check_transforms([](const Args& x) { return linalg::cholesky(make_spd(x[0])); }, {{3, 3}});
  check_transforms([](const Args& x) { return linalg::cholesky(make_spd(x[0]), true); }, {{3, 3}});
}

TEST(GradLinalg, QRF) {
  check([](const Args& x) { return linalg::qr(x[0]).first; }, {{5, 3}});
  check([](const Args& x) { return linalg::qr(x[0]).first; }, {{2, 4, 4}});
  // M < N: forward and vmap only.
  grad_check::Options o = grad_check::vmap_only();
  check([](const Args& x) { return linalg::qr(x[0]).first; }, {{3, 5}}, o);
  expect_error<std::invalid_argument>(
      [] {
        ember::vjp([](const Args& x) { return std::vector<array>{linalg::qr(x[0]).second}; }, {ones({2, 3})},
                   {ones({2, 3})});
      },
      "[linalg::qr] the vjp is implemented for matrices with M >= N, got shape (2, 3)");
}

TEST(GradLinalg, SVD) {
  check([](const Args& x) { return linalg::svd(x[0], false)[0]; }, {{5, 3}});
  check([](const Args& x) { return linalg::svd(x[0], false)[0]; }, {{2, 3, 4}});
  check([](const Args& x) { return linalg::svd(x[0], true)[1]; }, {{4, 4}});
  check([](const Args& x) { return linalg::svd(x[0], true)[0]; }, {{2, 3, 3}});
  check([](const Args& x) { return linalg::svd(x[0], true)[0]; }, {{3, 5}}, grad_check::vmap_only());
}

TEST(GradLinalg, LUF) {
  check([](const Args& x) { return linalg::lu_factor(x[0]).first; }, {{4, 4}});
  check([](const Args& x) { return linalg::lu_factor(x[0]).first; }, {{2, 3, 3}});
  check([](const Args& x) { return linalg::lu_factor(x[0]).first; }, {{3, 5}}, grad_check::vmap_only());
}

TEST(GradLinalg, Eigh) {
  check([](const Args& x) { return linalg::eigh(x[0]).first; }, {{4, 4}});
  check([](const Args& x) { return linalg::eigh(x[0], "U").first; }, {{2, 3, 3}});
  check([](const Args& x) { return linalg::eigvalsh(x[0]); }, {{4, 4}});
  check([](const Args& x) { return linalg::eigvalsh(x[0], "U"); }, {{2, 3, 3}});
}

TEST(GradLinalg, EigVmap) {
  check([](const Args& x) { return linalg::eig(x[0]).first; }, {{4, 4}}, grad_check::vmap_only());
  check([](const Args& x) { return linalg::eigvals(x[0]); }, {{2, 3, 3}}, grad_check::vmap_only());
  expect_error<std::invalid_argument>(
      [] {
        ember::vjp([](const Args& x) { return std::vector<array>{linalg::eigvals(x[0])}; }, {ones({2, 2})},
                   {ones({2}, complex64)});
      },
      "[linalg::eig] eig and eigvals are not differentiable");
}

TEST(GradLinalg, Compositions) {
  // Whole functions through ember::vjp / jvp / vmap, derivatives of derivatives included.
  check_transforms([](const Args& x) { return linalg::det(x[0]); }, {{3, 3}});
  check_transforms([](const Args& x) { return linalg::slogdet(shift(x[0])).second; }, {{2, 3, 3}});
  check_transforms([](const Args& x) { return linalg::solve(shift(x[0]), x[1]); }, {{3, 3}, {3, 2}});
  check_transforms([](const Args& x) { return linalg::solve_triangular(shift(x[0]), x[1], true); }, {{3, 3}, {3}});
  check_transforms([](const Args& x) { return linalg::cholesky_inv(linalg::cholesky(make_spd(x[0]))); }, {{3, 3}});
  check_transforms([](const Args& x) { return linalg::pinv(x[0]); }, {{3, 3}});
  check_transforms([](const Args& x) { return linalg::norm(x[0], 2.0, std::vector<int>{0, 1}); }, {{4, 3}});
  check_transforms([](const Args& x) { return linalg::norm(x[0], "nuc"); }, {{3, 4}});
  check_transforms([](const Args& x) { return linalg::norm(x[0], 3.0, 1); }, {{2, 4}});
  check_transforms([](const Args& x) { return linalg::cross(x[0], x[1]); }, {{2, 3}, {2, 3}});
  // Second derivative: grad of the log-determinant is inv(A)^T; its own vjp runs through Inverse.
  check_transforms(
      [](const Args& x) {
        auto g = ember::grad([](const Args& y) { return std::vector<array>{linalg::slogdet(shift(y[0])).second}; });
        return g(x)[0];
      },
      {{3, 3}});
  check_transforms(
      [](const Args& x) {
        // Weighted eigenvalues: the gradient V diag(w) V^T depends on the eigenvectors.
        auto g = ember::grad([](const Args& y) {
          return std::vector<array>{sum(linalg::eigvalsh(y[0]) * array({1.0, 2.0, 4.0}))};
        });
        return sum(square(g(x)[0]));
      },
      {{3, 3}});
}
