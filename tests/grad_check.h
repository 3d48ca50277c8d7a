// Gradient checks of one primitive at a time, for the tests of every op family.
//
//   grad_check::check([](const std::vector<array>& x) { return transpose(x[0], {2, 0, 1}); },
//                     {{2, 3, 4}});
//
// `fn` builds an op from random float64 inputs of the given shapes; the check
// targets the primitive of the array it returns (its final node), applied to
// that node's own inputs P (which may be broadcast views, other dtypes, ...):
//   1. vjp against central finite differences along random directions v with a
//      random cotangent u:  <vjp(u), v>  vs  <u, (f(P + eps v) - f(P - eps v)) / 2 eps>;
//   2. jvp against vjp:     <u, jvp(v)>  vs  <vjp(u), v>, and both against
//      the same calls made one argnum at a time;
//   3. vmap against a loop: the primitive's vmap on inputs stacked along a batch
//      axis (several placements per input, unmapped inputs included) vs the
//      primitive applied to each batch element, stacked along the returned axis.
// Shapes and dtypes of every returned array are checked too. The primitive's
// name goes into grad_check::covered(), so a test can compare the set against
// the list of all primitives. Inputs P of other dtypes (bool conditions,
// integers) are not differentiated but are batched by the vmap check.
//
// check_transforms(fn, shapes) checks a whole function through the public
// ember::vjp / jvp / vmap instead (compositions, derivatives of derivatives).
#pragma once

#include <gtest/gtest.h>

#include <ember/ember.h>
#include <ember/primitives.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace grad_check {

using ember::array;
using ember::Dtype;
using ember::Shape;

struct Options {
  double eps = 1e-6;   // finite-difference step, applied in the primal's dtype
  double rtol = 1e-6;  // tolerance of the inner-product comparisons: atol + rtol * scale
  double atol = 1e-9;
  double vmap_tol = 1e-10;         // elementwise (relative + absolute) tolerance of vmap vs the loop
  int directions = 2;              // random (u, v) pairs per check
  int batch = 3;                   // vmap batch size
  bool finite_differences = true;  // off for ops whose vjp is deliberately not the derivative (stop_gradient)
  bool vjp = true, jvp = true, vmap = true;
  double low = -2.0, high = 2.0;  // range of random float inputs (also the vmap batch elements)
  std::vector<int> argnums;       // primitive inputs to differentiate; empty: every floating-point one
  std::vector<int> vmap_axes;     // one placement (axis or -1 per primitive input); empty: several defaults
  unsigned seed = 1234;
};

/// Options for an op without derivatives (comparisons, logical and bitwise
/// ops): only the vmap check runs.
inline Options vmap_only() {
  Options o;
  o.vjp = o.jvp = false;
  return o;
}

using Fn = std::function<array(const std::vector<array>&)>;

/// Names of the primitives checked so far in this process.
inline std::set<std::string>& covered() {
  static std::set<std::string> names;
  return names;
}

namespace detail {

inline size_t numel(const Shape& s) {
  size_t n = 1;
  for (auto d : s) n *= static_cast<size_t>(d);
  return n;
}

/// Row-major values of any array as doubles, read through its strides (complex: real part).
inline std::vector<double> values(array x) {
  x.eval();
  std::vector<double> out(x.size());
  if (x.size() == 0) return out;
  const char* base = static_cast<const char*>(x.raw_ptr());
  Shape idx(x.ndim(), 0);
  for (size_t i = 0; i < x.size(); ++i) {
    int64_t loc = 0;
    for (size_t k = 0; k < idx.size(); ++k) loc += idx[k] * x.strides()[k];
    ember::convert_elements(base + loc * static_cast<int64_t>(x.itemsize()), x.dtype(), &out[i], ember::float64, 1);
    for (int k = static_cast<int>(idx.size()) - 1; k >= 0; --k) {
      if (++idx[k] < x.shape(k)) break;
      idx[k] = 0;
    }
  }
  return out;
}

/// A float64 array of `shape` holding `v`, converted to `t` and evaluated.
inline array make(const std::vector<double>& v, const Shape& shape, Dtype t) {
  array a = ember::astype(array(v.data(), shape, ember::float64), t);
  a.eval();
  return a;
}

/// Random values for dtype t: uniform [low, high] floats, small integers, fair bools.
inline array random(const Shape& shape, Dtype t, std::mt19937& rng, double low, double high) {
  std::vector<double> v(numel(shape));
  std::uniform_real_distribution<double> real(low, high);
  std::uniform_int_distribution<int> small(-3, 3);
  for (auto& x : v) {
    if (t == ember::bool_) {
      x = small(rng) > 0;
    } else if (ember::is_unsigned(t)) {
      x = small(rng) + 3;
    } else if (ember::is_integral(t)) {
      x = small(rng);
    } else {
      x = real(rng);
    }
  }
  return make(v, shape, t);
}

inline double dot(const array& a, const array& b) {
  std::vector<double> x = values(a), y = values(b);
  EXPECT_EQ(x.size(), y.size());
  double s = 0;
  for (size_t i = 0; i < std::min(x.size(), y.size()); ++i) s += x[i] * y[i];
  return s;
}

inline double sum_dots(const std::vector<array>& a, const std::vector<array>& b) {
  double s = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) s += dot(a[i], b[i]);
  return s;
}

/// x + e * v computed in float64, returned in x's dtype.
inline array axpy(const array& x, double e, const array& v) {
  std::vector<double> xs = values(x), vs = values(v);
  for (size_t i = 0; i < xs.size(); ++i) xs[i] += e * vs[i];
  return make(xs, x.shape(), x.dtype());
}

inline void expect_close(const array& got, const array& want, double tol, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what << ": shape";
  EXPECT_EQ(got.dtype(), want.dtype()) << what << ": dtype";
  std::vector<double> g = values(got), w = values(want);
  for (size_t i = 0; i < g.size(); ++i) {
    if (std::isnan(g[i]) && std::isnan(w[i])) continue;
    ASSERT_NEAR(g[i], w[i], tol * (1 + std::abs(w[i]))) << what << ": element " << i;
  }
}

inline std::string axes_str(const std::vector<int>& axes) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < axes.size(); ++i) os << (i ? "," : "") << axes[i];
  os << ")";
  return os.str();
}

/// The vmap placements tried by default: a mix (front, back, unmapped, ...),
/// every input mapped in the middle, every input at the back, and each input
/// alone mapped at the front.
inline std::vector<std::vector<int>> default_placements(const std::vector<array>& ins) {
  std::vector<std::vector<int>> out;
  size_t n = ins.size();
  if (n == 0) return {{}};
  std::vector<int> mix(n), mid(n), back(n);
  for (size_t i = 0; i < n; ++i) {
    int nd = static_cast<int>(ins[i].ndim());
    mix[i] = i % 3 == 0 ? 0 : i % 3 == 1 ? nd : -1;
    mid[i] = (nd + 1) / 2;
    back[i] = nd;
  }
  out = {mix, mid, back};
  if (n > 1) {
    for (size_t i = 0; i < n; ++i) {
      std::vector<int> one(n, -1);
      one[i] = 0;
      out.push_back(one);
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace detail

/// Checks the vjp, jvp and vmap of the primitive at the final node of `fn`,
/// called on random float64 inputs of `shapes`. Failures are gtest failures.
inline void check(const Fn& fn, const std::vector<Shape>& shapes, const Options& opt = {}) {
  using namespace detail;
  std::mt19937 rng(opt.seed);
  std::vector<array> xs;
  for (const auto& s : shapes) xs.push_back(random(s, ember::float64, rng, opt.low, opt.high));
  array out = fn(xs);
  ASSERT_TRUE(out.has_primitive()) << "the function must return the output of an op, not an input or constant";
  std::shared_ptr<ember::Primitive> prim = out.primitive_ptr();
  std::string name = prim->name();
  covered().insert(name);
  SCOPED_TRACE("primitive " + name);

  std::vector<array> P = out.inputs();
  std::vector<array> outs = out.outputs();
  ember::eval(P);
  std::vector<Shape> out_shapes;
  std::vector<Dtype> out_dtypes;
  for (const auto& o : outs) {
    out_shapes.push_back(o.shape());
    out_dtypes.push_back(o.dtype());
  }
  // The primitive on other inputs of the same shapes (it keeps no per-node state).
  auto apply = [&](const std::vector<array>& ins) { return array::make_arrays(out_shapes, out_dtypes, prim, ins); };

  std::vector<int> argnums = opt.argnums;
  if (argnums.empty()) {
    for (size_t i = 0; i < P.size(); ++i) {
      if (ember::is_inexact(P[i].dtype())) argnums.push_back(static_cast<int>(i));
    }
  }

  for (int d = 0; d < opt.directions && (opt.vjp || opt.jvp); ++d) {
    SCOPED_TRACE("direction " + std::to_string(d));
    std::vector<array> u, v;
    for (const auto& o : outs) u.push_back(random(o.shape(), o.dtype(), rng, -1.0, 1.0));
    for (int a : argnums) v.push_back(random(P[a].shape(), P[a].dtype(), rng, -1.0, 1.0));

    double fd = 0;
    bool have_fd = opt.finite_differences && !argnums.empty();
    if (have_fd) {
      std::vector<array> plus = P, minus = P;
      for (size_t k = 0; k < argnums.size(); ++k) {
        plus[argnums[k]] = axpy(P[argnums[k]], opt.eps, v[k]);
        minus[argnums[k]] = axpy(P[argnums[k]], -opt.eps, v[k]);
      }
      std::vector<array> fp = apply(plus), fm = apply(minus);
      for (size_t j = 0; j < outs.size(); ++j) {
        std::vector<double> a = values(fp[j]), b = values(fm[j]), w = values(u[j]);
        for (size_t i = 0; i < a.size(); ++i) fd += w[i] * (a[i] - b[i]) / (2 * opt.eps);
      }
    }
    auto tol = [&](double x, double y) { return opt.atol + opt.rtol * (std::abs(x) + std::abs(y)); };

    double vjp_dot = 0;
    if (opt.vjp) {
      std::vector<array> ct = prim->vjp(P, u, argnums, outs);
      ASSERT_EQ(ct.size(), argnums.size()) << "vjp must return one cotangent per argnum";
      for (size_t k = 0; k < argnums.size(); ++k) {
        ASSERT_EQ(ct[k].shape(), P[argnums[k]].shape()) << "vjp cotangent " << k << " shape";
        EXPECT_EQ(ct[k].dtype(), P[argnums[k]].dtype()) << "vjp cotangent " << k << " dtype";
        // The same cotangent when asked for this argnum alone.
        std::vector<array> one = prim->vjp(P, u, {argnums[k]}, outs);
        ASSERT_EQ(one.size(), 1u);
        expect_close(one[0], ct[k], opt.vmap_tol, "vjp for argnum " + std::to_string(argnums[k]) + " alone");
      }
      vjp_dot = sum_dots(ct, v);
      if (have_fd) EXPECT_NEAR(vjp_dot, fd, tol(vjp_dot, fd)) << "vjp vs finite differences";
    }
    if (opt.jvp) {
      std::vector<array> jv = prim->jvp(P, v, argnums);
      ASSERT_EQ(jv.size(), outs.size()) << "jvp must return one tangent per output";
      for (size_t j = 0; j < outs.size(); ++j) {
        ASSERT_EQ(jv[j].shape(), outs[j].shape()) << "jvp tangent " << j << " shape";
        EXPECT_EQ(jv[j].dtype(), outs[j].dtype()) << "jvp tangent " << j << " dtype";
      }
      double jvp_dot = sum_dots(u, jv);
      if (opt.vjp) EXPECT_NEAR(jvp_dot, vjp_dot, tol(jvp_dot, vjp_dot)) << "jvp vs vjp";
      if (have_fd) EXPECT_NEAR(jvp_dot, fd, tol(jvp_dot, fd)) << "jvp vs finite differences";
      if (argnums.size() > 1) {
        // Linearity in the tangents: the sum of one-argnum jvps.
        double parts = 0;
        for (size_t k = 0; k < argnums.size(); ++k) parts += sum_dots(u, prim->jvp(P, {v[k]}, {argnums[k]}));
        EXPECT_NEAR(parts, jvp_dot, tol(parts, jvp_dot)) << "jvp one argnum at a time";
      }
    }
  }

  if (!opt.vmap) return;
  std::vector<std::vector<int>> placements =
      opt.vmap_axes.empty() ? default_placements(P) : std::vector<std::vector<int>>{opt.vmap_axes};
  const int n = opt.batch;
  for (const auto& axes : placements) {
    SCOPED_TRACE("vmap axes " + axes_str(axes));
    ASSERT_EQ(axes.size(), P.size()) << "vmap_axes needs one entry per primitive input";
    // Batch element b of each input: fresh random values where mapped, P where not.
    std::vector<std::vector<array>> elems(n);
    std::vector<array> batched;
    for (size_t i = 0; i < P.size(); ++i) {
      if (axes[i] < 0) {
        for (int b = 0; b < n; ++b) elems[b].push_back(P[i]);
        batched.push_back(P[i]);
        continue;
      }
      std::vector<array> parts;
      for (int b = 0; b < n; ++b) {
        elems[b].push_back(random(P[i].shape(), P[i].dtype(), rng, opt.low, opt.high));
        parts.push_back(elems[b].back());
      }
      batched.push_back(ember::stack(parts, axes[i]));
    }
    ember::eval(batched);
    auto [vo, vax] = prim->vmap(batched, axes);
    ASSERT_EQ(vo.size(), outs.size()) << "vmap must return one array per output";
    ASSERT_EQ(vax.size(), outs.size()) << "vmap must return one axis per output";
    std::vector<std::vector<array>> loop;
    for (int b = 0; b < n; ++b) loop.push_back(apply(elems[b]));
    for (size_t j = 0; j < outs.size(); ++j) {
      std::string what = "vmap output " + std::to_string(j);
      if (vax[j] < 0) {
        // Unmapped output: every batch element must give this same array.
        for (int b = 0; b < n; ++b) expect_close(vo[j], loop[b][j], opt.vmap_tol, what + " (unmapped)");
        continue;
      }
      ASSERT_LE(vax[j], static_cast<int>(outs[j].ndim())) << what << ": axis out of range";
      std::vector<array> parts;
      for (int b = 0; b < n; ++b) parts.push_back(loop[b][j]);
      expect_close(vo[j], ember::stack(parts, vax[j]), opt.vmap_tol, what);
    }
  }
}

/// Checks the public transforms on a whole function of float64 inputs (one
/// output): ember::vjp and ember::jvp against central finite differences, and
/// ember::vmap (every input mapped at the front, then every input at the back)
/// against a loop over batch elements. `fn` may itself call transforms, which
/// checks derivatives of derivatives.
inline void check_transforms(const Fn& fn, const std::vector<Shape>& shapes, const Options& opt = {}) {
  using namespace detail;
  std::mt19937 rng(opt.seed);
  std::vector<array> xs;
  for (const auto& s : shapes) xs.push_back(random(s, ember::float64, rng, opt.low, opt.high));
  ember::MultiFn mf = [fn](const std::vector<array>& a) { return std::vector<array>{fn(a)}; };
  array out = fn(xs);
  auto tol = [&](double x, double y) { return opt.atol + opt.rtol * (std::abs(x) + std::abs(y)); };
  for (int d = 0; d < opt.directions && (opt.vjp || opt.jvp); ++d) {
    SCOPED_TRACE("direction " + std::to_string(d));
    array u = random(out.shape(), out.dtype(), rng, -1.0, 1.0);
    std::vector<array> v, plus, minus;
    for (const auto& x : xs) {
      v.push_back(random(x.shape(), x.dtype(), rng, -1.0, 1.0));
      plus.push_back(axpy(x, opt.eps, v.back()));
      minus.push_back(axpy(x, -opt.eps, v.back()));
    }
    std::vector<double> fp = values(fn(plus)), fm = values(fn(minus)), w = values(u);
    double fd = 0;
    for (size_t i = 0; i < w.size(); ++i) fd += w[i] * (fp[i] - fm[i]) / (2 * opt.eps);
    if (opt.vjp) {
      auto [o, g] = ember::vjp(mf, xs, {u});
      ASSERT_EQ(g.size(), xs.size());
      double got = sum_dots(g, v);
      if (opt.finite_differences) EXPECT_NEAR(got, fd, tol(got, fd)) << "ember::vjp vs finite differences";
    }
    if (opt.jvp) {
      auto [o, t] = ember::jvp(mf, xs, v);
      ASSERT_EQ(t.size(), 1u);
      double got = dot(u, t[0]);
      if (opt.finite_differences) EXPECT_NEAR(got, fd, tol(got, fd)) << "ember::jvp vs finite differences";
    }
  }
  if (!opt.vmap) return;
  const int n = opt.batch;
  for (bool back : {false, true}) {
    std::vector<int> axes;
    std::vector<array> batched;
    std::vector<std::vector<array>> elems(n);
    for (const auto& x : xs) {
      axes.push_back(back ? static_cast<int>(x.ndim()) : 0);
      std::vector<array> parts;
      for (int b = 0; b < n; ++b) {
        elems[b].push_back(random(x.shape(), x.dtype(), rng, opt.low, opt.high));
        parts.push_back(elems[b].back());
      }
      batched.push_back(ember::stack(parts, axes.back()));
    }
    SCOPED_TRACE("ember::vmap with in_axes " + axes_str(axes));
    array got = ember::vmap(mf, axes)(batched)[0];
    std::vector<array> parts;
    for (int b = 0; b < n; ++b) parts.push_back(fn(elems[b]));
    expect_close(got, ember::stack(parts, 0), opt.vmap_tol, "ember::vmap vs loop");
  }
}

}  // namespace grad_check
