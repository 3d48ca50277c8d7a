// vjp, jvp and vmap of the view, shape, copy, selection and matrix-product
// primitives through the grad_check harness (finite differences, jvp/vjp
// consistency, vmap vs a loop), end-to-end checks through the public
// transforms (including second derivatives), and slice_update's forward
// results and errors against an index-loop reference.
#include <gtest/gtest.h>

#include <ember/ember.h>
#include <ember/primitives.h>

#include <algorithm>
#include <numeric>
#include <random>

#include "grad_check.h"

using namespace ember;
using grad_check::check;
using grad_check::check_transforms;
using grad_check::Options;

namespace {

using Args = std::vector<array>;

// matmul/addmm end with a Reshape when an operand is 1-d; step back to the product's node.
array product_node(const array& out) {
  return std::string(out.primitive().name()) == "Reshape" ? out.inputs()[0] : out;
}

template <class E, class F>
void expect_error(F&& f, const std::vector<std::string>& substrings) {
  try {
    f();
    ADD_FAILURE() << "expected an exception containing: " << substrings[0];
  } catch (const E& e) {
    for (const auto& s : substrings) {
      EXPECT_NE(std::string(e.what()).find(s), std::string::npos) << "message: " << e.what() << "\nmissing: " << s;
    }
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type, message: " << e.what();
  }
}

}  // namespace

// ---------------------------------------------------------------- views

TEST(GradShape, Reshape) {
  check([](const Args& x) { return reshape(x[0], {6, 4}); }, {{2, 3, 4}});
  check([](const Args& x) { return reshape(x[0], {4, -1, 2}); }, {{2, 3, 4}});
  check([](const Args& x) { return reshape(x[0], {1, 2, 3, 1}); }, {{6}});
  check([](const Args& x) { return reshape(x[0], {1, 1}); }, {{}});
  check([](const Args& x) { return reshape(transpose(x[0]), {12}); }, {{3, 4}});  // from a strided view
}

TEST(GradShape, Transpose) {
  std::vector<int> perm{0, 1, 2};
  do {
    SCOPED_TRACE("perm " + std::to_string(perm[0]) + std::to_string(perm[1]) + std::to_string(perm[2]));
    check([perm](const Args& x) { return transpose(x[0], perm); }, {{2, 3, 4}});
  } while (std::next_permutation(perm.begin(), perm.end()));
  check([](const Args& x) { return transpose(x[0]); }, {{3, 5}});
  check([](const Args& x) { return transpose(x[0], {3, 1, 0, 2}); }, {{2, 1, 3, 2}});
}

TEST(GradShape, Broadcast) {
  check([](const Args& x) { return broadcast_to(x[0], {2, 3, 4}); }, {{3, 1}});
  check([](const Args& x) { return broadcast_to(x[0], {3, 4}); }, {{4}});
  check([](const Args& x) { return broadcast_to(x[0], {2, 2}); }, {{}});
  check([](const Args& x) { return broadcast_to(x[0], {2, 3, 5}); }, {{1, 3, 1}});
}

TEST(GradShape, Slice) {
  struct Case {
    Shape shape, start, stop, strides;
  };
  std::vector<Case> cases = {
      {{5, 6}, {1, 0}, {4, 6}, {2, 1}},
      {{5, 6}, {4, 5}, {-6, -7}, {-1, -2}},  // reversed to the front, with a step
      {{5, 6}, {3, 4}, {0, 1}, {-2, -1}},
      {{5, 6}, {-2, 1}, {100, -1}, {1, 3}},  // clamped stop, negative bounds
      {{5, 6}, {3, 0}, {1, 6}, {1, 1}},      // empty
      {{3, 4, 5}, {2, 0, 4}, {-4, 4, 0}, {-1, 2, -3}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE("slice of " + shape_to_string(c.shape) + " from " + shape_to_string(c.start) + " to " +
                 shape_to_string(c.stop) + " by " + shape_to_string(c.strides));
    check([&](const Args& x) { return slice(x[0], c.start, c.stop, c.strides); }, {c.shape});
  }
}

TEST(GradShape, SliceUpdatePrimitive) {
  check([](const Args& x) { return slice_update(x[0], x[1], {1, 0}, {4, 6}, {2, 1}); }, {{5, 6}, {2, 6}});
  check([](const Args& x) { return slice_update(x[0], x[1], {4, 5}, {-6, -7}, {-1, -2}); }, {{5, 6}, {5, 3}});
  // A broadcast update (the primitive sees a stride-0 view) and a 3-d region.
  check([](const Args& x) { return slice_update(x[0], x[1], {0, 1}, {5, 6}, {2, 2}); }, {{5, 6}, {1, 3}});
  check(
      [](const Args& x) {
        return slice_update(x[0], x[1], {2, 0, 4}, {-4, 4, 0}, {-1, 2, -3});
      },
      {{3, 4, 5}, {3, 2, 2}});
}

TEST(GradShape, AsStrided) {
  // Diagonals read each element once; the overlapping windows read some several times.
  check([](const Args& x) { return diagonal(x[0], 1); }, {{4, 5}});
  check([](const Args& x) { return diagonal(x[0], -1); }, {{4, 4}});
  check([](const Args& x) { return diagonal(x[0], 0, 0, 2); }, {{3, 4, 5}});
  check([](const Args& x) { return as_strided(x[0], {3, 4}, {2, 1}, 1); }, {{12}});
  check([](const Args& x) { return as_strided(x[0], {2, 3, 2}, {0, 3, 2}, 0); }, {{3, 3}});
  grad_check::check_transforms([](const Args& x) { return trace(x[0]); }, {{4, 4}});
}

// ---------------------------------------------------------------- shape

TEST(GradShape, Concatenate) {
  for (int axis = 0; axis < 3; ++axis) {
    SCOPED_TRACE("axis " + std::to_string(axis));
    std::vector<Shape> shapes;
    for (int32_t n : {1, 2, 3}) {
      Shape s{2, 3, 4};
      s[axis] = n;
      shapes.push_back(s);
    }
    check([axis](const Args& x) { return concatenate(x, axis); }, shapes);
  }
  check([](const Args& x) { return concatenate(x, -1); }, {{2, 3}, {2, 1}});
}

TEST(GradShape, Split) {
  check([](const Args& x) { return split(x[0], 3, 0)[0]; }, {{6, 4}});
  check([](const Args& x) { return split(x[0], 3, 1)[1]; }, {{2, 9}});
  check([](const Args& x) { return split(x[0], Shape{1, 4}, 1)[2]; }, {{3, 7}});
  check([](const Args& x) { return split(x[0], Shape{2, 2}, 0)[1]; }, {{4, 3}});  // an empty piece
  check([](const Args& x) { return split(x[0], Shape{4, 2}, 1)[0]; }, {{3, 7}});  // overlapping pieces (NumPy)
}

TEST(GradShape, Pad) {
  check([](const Args& x) { return pad(x[0], {0, 1}, {1, 0}, {2, 3}, x[1]); }, {{3, 4}, {}});
  check([](const Args& x) { return pad(x[0], {0}, {2}, {0}, x[1]); }, {{3}, {}});  // low only
  check([](const Args& x) { return pad(x[0], {2, 0}, {0, 1}, {2, 1}, x[1]); }, {{2, 3, 2}, {}});
}

// ---------------------------------------------------------------- selection, type, copy

TEST(GradShape, Select) {
  array cond({true, false, true}, Shape{3, 1});
  check([cond](const Args& x) { return where(cond, x[0], x[1]); }, {{3, 4}, {4}});  // broadcast condition and y
  array full_cond({true, false, false, true, true, false}, Shape{2, 3});
  check([full_cond](const Args& x) { return where(full_cond, x[0], x[1]); }, {{2, 3}, {2, 3}});
}

TEST(GradShape, AsType) {
  Options lossy;  // float32 rounding: a larger step and looser tolerances
  lossy.eps = 1e-2;
  lossy.rtol = 1e-4;
  lossy.atol = 1e-4;
  lossy.vmap_tol = 1e-6;
  check([](const Args& x) { return astype(x[0], float32); }, {{3, 4}}, lossy);
  check([](const Args& x) { return astype(astype(x[0], float32), float64); }, {{3, 4}}, lossy);
  // To integers or bool the cotangent is zero (and so is the finite difference).
  check([](const Args& x) { return astype(x[0], int32); }, {{3, 4}});
  check([](const Args& x) { return astype(x[0], bool_); }, {{2, 3}});
  array x({1.5, -2.5}, float64);
  array y = astype(x, int32);
  array g = y.primitive().vjp(y.inputs(), {array({3, 4}, int32)}, {0}, {y})[0];
  EXPECT_EQ(g.dtype(), float64);
  EXPECT_EQ(grad_check::detail::values(g), (std::vector<double>{0.0, 0.0}));
}

TEST(GradShape, Copy) {
  check([](const Args& x) { return copy(x[0]); }, {{3, 4}});
  check([](const Args& x) { return copy(transpose(x[0])); }, {{3, 4}});
}

TEST(GradShape, StopGradient) {
  Options o;
  o.finite_differences = false;  // the op is the identity, its vjp is zero by design
  check([](const Args& x) { return stop_gradient(x[0]); }, {{3, 4}}, o);
  array x({1.0, 2.0}, float64);
  array y = stop_gradient(x);
  array g = y.primitive().vjp(y.inputs(), {array({5.0, 6.0}, float64)}, {0}, {y})[0];
  EXPECT_EQ(grad_check::detail::values(g), (std::vector<double>{0.0, 0.0}));
  // Through the transforms: x * stop_gradient(x) has derivative x, not 2x.
  auto [outs, grads] =
      vjp([](const Args& a) { return Args{a[0] * stop_gradient(a[0])}; }, {x}, {array({1.0, 1.0}, float64)});
  EXPECT_EQ(grad_check::detail::values(grads[0]), (std::vector<double>{1.0, 2.0}));
}

TEST(GradShape, View) {
  Options o;
  o.vjp = o.jvp = false;
  check([](const Args& x) { return view(x[0], int64); }, {{3, 4}}, o);
  check([](const Args& x) { return view(x[0], int32); }, {{3, 4}}, o);  // the last axis doubles
  array x({1.0, 2.0}, float64);
  array y = view(x, complex64);
  expect_error<std::invalid_argument>([&] { y.primitive().vjp(y.inputs(), {y}, {0}, {y}); },
                                      {"[View] vjp is not supported"});
  expect_error<std::invalid_argument>([&] { y.primitive().jvp(y.inputs(), {x}, {0}); },
                                      {"[View] jvp is not supported"});
}

TEST(GradShape, Arange) {
  check([](const Args&) { return arange(0.0, 5.0, 0.5, float64); }, {});
  check([](const Args&) { return arange(3, 11, 2); }, {});
}

// ---------------------------------------------------------------- linear algebra

TEST(GradShape, Matmul) {
  check([](const Args& x) { return matmul(x[0], x[1]); }, {{3, 4}, {4, 5}});
  check([](const Args& x) { return matmul(x[0], x[1]); }, {{2, 3, 4}, {2, 4, 5}});
  check([](const Args& x) { return matmul(x[0], x[1]); }, {{2, 1, 3, 4}, {5, 4, 2}});  // broadcast batch axes
  check([](const Args& x) { return product_node(matmul(x[0], x[1])); }, {{4}, {4, 5}});
  check([](const Args& x) { return product_node(matmul(x[0], x[1])); }, {{2, 3, 4}, {4}});
  check([](const Args& x) { return product_node(matmul(x[0], x[1])); }, {{4}, {4}});
}

TEST(GradShape, AddMM) {
  check([](const Args& x) { return addmm(x[0], x[1], x[2], 0.5f, 2.0f); }, {{3, 5}, {3, 4}, {4, 5}});
  check([](const Args& x) { return addmm(x[0], x[1], x[2], -1.5f, 0.25f); }, {{5}, {3, 4}, {4, 5}});
  check([](const Args& x) { return addmm(x[0], x[1], x[2]); }, {{2, 3, 5}, {2, 3, 4}, {4, 5}});
  check([](const Args& x) { return product_node(addmm(x[0], x[1], x[2], 2.0f, -1.0f)); }, {{5}, {4}, {4, 5}});
}

// ---------------------------------------------------------------- through the transforms

TEST(GradShape, TransformsOfAChain) {
  // reshape -> transpose -> slice (negative step) -> pad -> concatenate -> split -> matmul -> where
  auto f = [](const Args& x) {
    array a = transpose(reshape(x[0], {3, 4, 2}), {2, 0, 1});  // (2, 3, 4)
    a = slice(a, {0, 2, 0}, {2, -4, 4}, {1, -1, 2});           // (2, 3, 2)
    a = pad(a, {1}, {1}, {0}, x[2]);                           // (2, 4, 2)
    a = concatenate({a, broadcast_to(x[2], {2, 4, 1})}, 2);    // (2, 4, 3)
    array m = matmul(split(a, 2, 0)[1], x[1]);                 // (1, 4, 5)
    return where(array({true, false, true, true, false}), m, slice_update(m, x[2], {0, 1, 0}, {1, 3, 5}));
  };
  check_transforms(f, {{24}, {3, 5}, {}});
}

TEST(GradShape, SecondDerivatives) {
  // Hessian-vector products: the transforms applied to a function that itself
  // runs vjp through matmul, slice, transpose and addmm.
  auto inner = [](const Args& x) {
    array y = matmul(x[0], transpose(x[0]));                                         // (3, 3)
    return Args{addmm(slice(x[0], {2, 0}, {-4, 4}, {-1, 1}), y, x[0], 0.5f, 2.0f)};  // (3, 4), cubic in x
  };
  array u({0.3, -0.7, 1.1, 0.2, 0.5, -0.4, 0.9, -1.3, 0.6, 0.8, -0.1, 0.4}, Shape{3, 4}, float64);
  auto grad_fn = [inner, u](const Args& x) { return vjp(inner, x, {u}).second[0]; };
  check_transforms(grad_fn, {{3, 4}});
}

// ---------------------------------------------------------------- slice_update forward

namespace {

// Python's slice.indices(n): the positions start, start + step, ... visited along one axis.
std::vector<int> visited(int n, int start, int stop, int step) {
  int lower = step > 0 ? 0 : -1, upper = step > 0 ? n : n - 1;
  auto fix = [&](int v) {
    if (v < 0) v += n;
    return std::max(lower, std::min(upper, v));
  };
  std::vector<int> out;
  for (int i = fix(start), e = fix(stop); step > 0 ? i < e : i > e; i += step) out.push_back(i);
  return out;
}

// src with update (broadcast to the region, row-major) written into the region, by loops.
std::vector<double> reference(const std::vector<double>& src, const Shape& shape, const std::vector<double>& upd,
                              const Shape& upd_shape, const Shape& start, const Shape& stop, const Shape& steps) {
  std::vector<std::vector<int>> idx;
  Shape region;
  for (size_t k = 0; k < shape.size(); ++k) {
    idx.push_back(visited(shape[k], start[k], stop[k], steps[k]));
    region.push_back(static_cast<int32_t>(idx.back().size()));
  }
  std::vector<double> out = src;
  size_t total = 1;
  for (auto r : region) total *= r;
  size_t lead = region.size() - upd_shape.size();
  for (size_t i = 0; i < total; ++i) {
    size_t rem = i, dst = 0, u = 0, dst_mul = 1, u_mul = 1;
    for (int k = static_cast<int>(region.size()) - 1; k >= 0; --k) {
      size_t r = rem % region[k];
      rem /= region[k];
      dst += idx[k][r] * dst_mul;
      dst_mul *= shape[k];
      if (k >= static_cast<int>(lead)) {
        int32_t ud = upd_shape[k - lead];
        u += (ud == 1 ? 0 : r) * u_mul;
        u_mul *= ud;
      }
    }
    out[dst] = upd[u];
  }
  return out;
}

}  // namespace

TEST(SliceUpdate, MatchesReferenceLoop) {
  struct Case {
    Shape shape, start, stop, steps, upd_shape;
  };
  std::vector<Case> cases = {
      {{5, 6}, {1, 0}, {4, 6}, {2, 1}, {2, 6}},
      {{5, 6}, {4, 5}, {-6, -7}, {-1, -2}, {5, 3}},
      {{5, 6}, {3, 4}, {0, 1}, {-2, -1}, {1, 3}},  // broadcast rows
      {{5, 6}, {-2, 1}, {100, -1}, {1, 3}, {}},    // a scalar update
      {{3, 4, 5}, {2, 0, 4}, {-4, 4, 0}, {-1, 2, -3}, {2, 2}},
      {{7}, {-1}, {-100}, {-3}, {3}},
  };
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> dist(-50, 50);
  for (const auto& c : cases) {
    SCOPED_TRACE("slice_update of " + shape_to_string(c.shape) + " from " + shape_to_string(c.start) + " to " +
                 shape_to_string(c.stop) + " by " + shape_to_string(c.steps));
    size_t n = 1, m = 1;
    for (auto d : c.shape) n *= d;
    for (auto d : c.upd_shape) m *= d;
    std::vector<double> sv(n), uv(m);
    for (auto& v : sv) v = dist(rng);
    for (auto& v : uv) v = dist(rng) + 1000;
    std::vector<double> want = reference(sv, c.shape, uv, c.upd_shape, c.start, c.stop, c.steps);
    for (Dtype t : {float32, int32, float64}) {
      array src = astype(array(sv, c.shape, float64), t);
      array upd = array(uv, c.upd_shape, int64);  // converted to src's dtype
      array out = slice_update(src, upd, c.start, c.stop, c.steps);
      EXPECT_EQ(out.dtype(), t);
      EXPECT_EQ(grad_check::detail::values(out), want) << dtype_name(t);
      EXPECT_EQ(grad_check::detail::values(src), sv) << "src must be left unchanged";
      // A transposed (non-contiguous) src gives the same result.
      std::vector<int> rev(c.shape.size());
      std::iota(rev.rbegin(), rev.rend(), 0);
      array src_t = transpose(copy(transpose(src, rev)), rev);
      EXPECT_EQ(grad_check::detail::values(slice_update(src_t, upd, c.start, c.stop, c.steps)), want);
    }
  }
}

TEST(SliceUpdate, ChainsAndTemporaries) {
  // Intermediate results nobody else holds may be updated in place; the values must not care.
  array z = zeros({4, 4}, float32);
  array a = slice_update(z * 2.0f, array(1.0f), {0, 0}, {4, 4}, {2, 2});
  array b = slice_update(a, array({5.0f, 6.0f}), {1, 0}, {2, 4}, {1, 2});
  std::vector<double> want = {1, 0, 1, 0, 5, 0, 6, 0, 1, 0, 1, 0, 0, 0, 0, 0};
  EXPECT_EQ(grad_check::detail::values(b), want);
  EXPECT_EQ(grad_check::detail::values(z), std::vector<double>(16, 0.0));
  // An empty region leaves src as it is.
  EXPECT_TRUE(slice_update(z, array(1.0f), {2, 0}, {1, 4}).is_same(z));
  // Overlapping src and update: a shifted copy of a row into the same array.
  array r = arange(0.0, 6.0, 1.0, float32);
  array s = slice_update(r, slice(r, {0}, {3}), {3}, {6});
  EXPECT_EQ(grad_check::detail::values(s), (std::vector<double>{0, 1, 2, 0, 1, 2}));
}

TEST(SliceUpdate, Errors) {
  array src = zeros({5, 6});
  expect_error<std::invalid_argument>([&] { slice_update(src, array(1.0f), {0}, {1}, {1}); },
                                      {"[slice_update]", "need 2 entries"});
  expect_error<std::invalid_argument>(
      [&] {
        slice_update(src, array(1.0f), {0, 0}, {5, 6}, {1, 0});
      },
      {"[slice_update] step on axis 1 cannot be 0"});
  expect_error<std::invalid_argument>(
      [&] {
        slice_update(src, zeros({3, 6}), {0, 0}, {2, 6});
      },
      {"[slice_update]", "(3, 6)", "(2, 6)", "(5, 6)"});
  expect_error<std::invalid_argument>(
      [&] {
        slice_update(src, zeros({1, 2, 6}), {0, 0}, {2, 6});
      },
      {"[slice_update]", "(1, 2, 6)", "(2, 6)"});
}

// ---------------------------------------------------------------- coverage

TEST(GradShape, ZZCoversTheShapePrimitives) {
  // Meaningful only when every GradShape test ran before this one, in file order.
  std::string filter = ::testing::GTEST_FLAG(filter);
  bool all_selected = filter == "*" || filter.find("GradShape*") != std::string::npos ||
                      filter.find("GradShape.*") != std::string::npos;
  if (!all_selected || ::testing::GTEST_FLAG(shuffle)) GTEST_SKIP() << "not every GradShape test ran before this one";
  for (const char* name :
       {"Reshape", "Transpose", "Broadcast", "Slice", "SliceUpdate", "AsStrided", "Concatenate", "Split", "Pad",
        "Select", "AsType", "Copy", "StopGradient", "View", "Arange", "Matmul", "AddMM"}) {
    EXPECT_TRUE(grad_check::covered().count(name)) << name << " has no grad_check case";
  }
}
