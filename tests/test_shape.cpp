// Shape ops against index-loop references, across dtypes and input layouts
// (contiguous, transposed, sliced with steps, reversed, broadcast, 0-d, empty),
// plus their error messages.
#include <gtest/gtest.h>

#include <ember/ember.h>
#include <ember/primitives.h>

#include <functional>
#include <random>

#include "test_utils.h"

using namespace ember;
using namespace test_utils;

namespace {

// ------------------------------------------------------------ helpers

// Values exactly representable in every dtype of `t` (so copies compare exactly).
std::vector<double> random_values(int64_t n, Dtype t, std::mt19937& rng) {
  std::uniform_int_distribution<int> d(-100, 100);
  std::vector<double> v(n);
  for (auto& x : v) {
    int k = d(rng);
    if (t == bool_) {
      x = k & 1;
    } else if (is_unsigned(t)) {
      x = k + 100;
    } else if (is_inexact(t)) {
      x = k / 4.0;
    } else {
      x = k;
    }
  }
  return v;
}

enum class Layout { contiguous, transposed, strided, reversed };
const Layout kLayouts[] = {Layout::contiguous, Layout::transposed, Layout::strided, Layout::reversed};

// An array of logical `shape` holding `v` (row-major) in the given memory layout.
array make(const std::vector<double>& v, const Shape& shape, Dtype t, Layout layout = Layout::contiguous) {
  int nd = static_cast<int>(shape.size());
  switch (layout) {
    case Layout::contiguous:
      return array(v, shape, t);
    case Layout::transposed: {
      Shape rev(shape.rbegin(), shape.rend());
      std::vector<double> base(v.size());
      for (int64_t j = 0; j < numel(rev); ++j) {
        Shape bj = unravel(j, rev);
        Shape li(bj.rbegin(), bj.rend());
        base[j] = v[ravel(li, shape)];
      }
      return transpose(array(base, rev, t));
    }
    case Layout::strided: {
      // Every other element of a larger array; the gaps hold a sentinel.
      Shape big(nd), start(nd, 0), stop(nd), step(nd, 2);
      for (int k = 0; k < nd; ++k) big[k] = 2 * shape[k] + 1;
      for (int k = 0; k < nd; ++k) stop[k] = 2 * shape[k];
      std::vector<double> base(numel(big), t == bool_ ? 1 : 7);
      for (int64_t i = 0; i < numel(shape); ++i) {
        Shape idx = unravel(i, shape);
        for (auto& x : idx) x *= 2;
        base[ravel(idx, big)] = v[i];
      }
      return slice(array(base, big, t), start, stop, step);
    }
    case Layout::reversed: {
      // Negative steps along every axis.
      Shape start(nd), stop(nd), step(nd, -1);
      std::vector<double> base(v.size());
      for (int64_t i = 0; i < numel(shape); ++i) {
        Shape idx = unravel(i, shape);
        for (int k = 0; k < nd; ++k) idx[k] = shape[k] - 1 - idx[k];
        base[ravel(idx, shape)] = v[i];
      }
      for (int k = 0; k < nd; ++k) {
        start[k] = shape[k] - 1;
        stop[k] = -shape[k] - 1;
      }
      return slice(array(base, shape, t), start, stop, step);
    }
  }
  return array(v, shape, t);
}

// Reference for ops that move elements: out[o] = in[f(o)], or `fill` when f declines.
std::vector<double> ref_map(const Shape& out_shape, const std::vector<double>& in, const Shape& in_shape,
                            const std::function<bool(const Shape&, Shape&)>& f, double fill = 0) {
  std::vector<double> out(numel(out_shape));
  Shape ii(in_shape.size());
  for (int64_t i = 0; i < numel(out_shape); ++i) {
    Shape oi = unravel(i, out_shape);
    out[i] = f(oi, ii) ? in[ravel(ii, in_shape)] : fill;
  }
  return out;
}

const std::vector<Dtype> kDtypes(std::begin(kAllDtypes), std::end(kAllDtypes));

}  // namespace

// ------------------------------------------------------------ flatten / unflatten

TEST(Shape, FlattenUnflatten) {
  std::mt19937 rng(1);
  Shape shape{2, 3, 4, 5};
  auto v = random_values(numel(shape), float32, rng);
  for (Layout l : kLayouts) {
    array a = make(v, shape, float32, l);
    EXPECT_EQ(flatten(a).shape(), Shape{120});
    EXPECT_EQ(values(flatten(a)), v);
    EXPECT_EQ(flatten(a, 1, 2).shape(), (Shape{2, 12, 5}));
    EXPECT_EQ(values(flatten(a, 1, 2)), v);
    EXPECT_EQ(flatten(a, -2, -1).shape(), (Shape{2, 3, 20}));
    EXPECT_EQ(flatten(a, 2, 2).shape(), shape);
    array u = unflatten(flatten(a, 1, 2), 1, {3, -1});
    EXPECT_EQ(u.shape(), shape);
    EXPECT_EQ(values(u), v);
  }
  EXPECT_EQ(flatten(array(3.0f)).shape(), Shape{1});
  EXPECT_EQ(flatten(zeros({2, 0, 3})).shape(), Shape{0});
  EXPECT_EQ(unflatten(zeros({6}), 0, {2, 3}).shape(), (Shape{2, 3}));
  EXPECT_EQ(unflatten(zeros({4, 6}), -1, {3, 1, 2}).shape(), (Shape{4, 3, 1, 2}));

  array a = zeros({2, 3, 4});
  expect_error<std::invalid_argument>([&] { flatten(a, 2, 1); }, "[flatten] start_axis (2) must not come after");
  expect_error<std::out_of_range>([&] { flatten(a, 0, 3); }, "[flatten] axis 3 is out of bounds");
  expect_error<std::out_of_range>([&] { flatten(array(1), 0, 1); }, "[flatten]");
  expect_error<std::invalid_argument>(
      [&] {
        unflatten(a, 1, {2, 2});
      },
      "[unflatten] cannot split axis 1 of size 3 into (2, 2)");
  expect_error<std::invalid_argument>([&] { unflatten(a, 2, {-1, -1}); }, "[unflatten] only one dimension can be -1");
  expect_error<std::invalid_argument>([&] { unflatten(a, 2, {3, -1}); }, "[unflatten] cannot infer");
  expect_error<std::invalid_argument>([&] { unflatten(a, 2, {}); }, "[unflatten] the new shape must not be empty");
  expect_error<std::out_of_range>([&] { unflatten(a, -4, {3}); }, "[unflatten] axis -4 is out of bounds");
}

// ------------------------------------------------------------ squeeze / expand_dims

TEST(Shape, SqueezeExpandDims) {
  std::mt19937 rng(2);
  Shape shape{1, 3, 1, 4};
  auto v = random_values(numel(shape), int32, rng);
  for (Layout l : kLayouts) {
    array a = make(v, shape, int32, l);
    EXPECT_EQ(squeeze(a).shape(), (Shape{3, 4}));
    EXPECT_EQ(values(squeeze(a)), v);
    EXPECT_EQ(squeeze(a, 2).shape(), (Shape{1, 3, 4}));
    EXPECT_EQ(squeeze(a, {0, -2}).shape(), (Shape{3, 4}));
    EXPECT_EQ(expand_dims(a, 0).shape(), (Shape{1, 1, 3, 1, 4}));
    EXPECT_EQ(expand_dims(a, -1).shape(), (Shape{1, 3, 1, 4, 1}));
    array e = expand_dims(a, {1, 3, -1});
    EXPECT_EQ(e.shape(), (Shape{1, 1, 3, 1, 1, 4, 1}));
    EXPECT_EQ(values(e), v);
  }
  EXPECT_EQ(squeeze(array(2.0f)).shape(), Shape{});
  EXPECT_EQ(expand_dims(array(2.0f), {0, 1}).shape(), (Shape{1, 1}));
  EXPECT_EQ(squeeze(zeros({1, 0, 1})).shape(), Shape{0});

  array a = zeros(shape);
  expect_error<std::invalid_argument>([&] { squeeze(a, 1); },
                                      "[squeeze] cannot squeeze axis 1 of size 3 in an array of shape (1, 3, 1, 4)");
  expect_error<std::out_of_range>([&] { squeeze(a, 4); }, "[squeeze] axis 4 is out of bounds");
  expect_error<std::invalid_argument>([&] { squeeze(a, {0, -4}); }, "[squeeze] axis -4 is repeated");
  expect_error<std::out_of_range>([&] { expand_dims(a, 5); }, "[expand_dims] axis 5 is out of bounds");
  expect_error<std::invalid_argument>([&] { expand_dims(a, {0, 0}); }, "[expand_dims] axis 0 is repeated");
}

// ------------------------------------------------------------ swapaxes / moveaxis

TEST(Shape, SwapaxesMoveaxis) {
  std::mt19937 rng(3);
  Shape shape{2, 3, 4};
  auto v = random_values(numel(shape), float16, rng);
  for (Layout l : kLayouts) {
    array a = make(v, shape, float16, l);
    array s = swapaxes(a, 0, -1);
    EXPECT_EQ(s.shape(), (Shape{4, 3, 2}));
    EXPECT_EQ(values(s), ref_map(s.shape(), v, shape, [](const Shape& o, Shape& i) {
                i = {o[2], o[1], o[0]};
                return true;
              }));
    array m = moveaxis(a, 0, 2);  // (3, 4, 2): out[j, k, i] = a[i, j, k]
    EXPECT_EQ(m.shape(), (Shape{3, 4, 2}));
    EXPECT_EQ(values(m), ref_map(m.shape(), v, shape, [](const Shape& o, Shape& i) {
                i = {o[2], o[0], o[1]};
                return true;
              }));
    array m2 = moveaxis(a, -1, 0);  // (4, 2, 3): out[k, i, j] = a[i, j, k]
    EXPECT_EQ(m2.shape(), (Shape{4, 2, 3}));
    EXPECT_EQ(values(m2), ref_map(m2.shape(), v, shape, [](const Shape& o, Shape& i) {
                i = {o[1], o[2], o[0]};
                return true;
              }));
  }
  array a = zeros(shape);
  expect_error<std::out_of_range>([&] { swapaxes(a, 0, 3); }, "[swapaxes] axis 3 is out of bounds");
  expect_error<std::out_of_range>([&] { moveaxis(a, -4, 0); }, "[moveaxis] axis -4 is out of bounds");
}

// ------------------------------------------------------------ concatenate / stack

TEST(Shape, ConcatenateDtypesLayouts) {
  std::mt19937 rng(4);
  for (Dtype t : kDtypes) {
    for (Layout l : kLayouts) {
      for (int axis = -3; axis < 3; ++axis) {
        int ax = axis < 0 ? axis + 3 : axis;
        Shape base{2, 3, 4};
        std::vector<Shape> shapes;
        std::vector<std::vector<double>> vals;
        std::vector<array> arrays;
        for (int32_t n : {2, 0, 3}) {
          Shape sh = base;
          sh[ax] = n;
          shapes.push_back(sh);
          vals.push_back(random_values(numel(sh), t, rng));
          // Mix layouts across the inputs.
          arrays.push_back(make(vals.back(), sh, t, arrays.size() == 1 ? Layout::contiguous : l));
        }
        array out = concatenate(arrays, axis);
        Shape os = base;
        os[ax] = 5;
        ASSERT_EQ(out.shape(), os);
        EXPECT_EQ(out.dtype(), t);
        std::vector<double> ref(numel(os));
        for (int64_t i = 0; i < numel(os); ++i) {
          Shape idx = unravel(i, os);
          int k = idx[ax] < 2 ? 0 : 2;
          if (k == 2) idx[ax] -= 2;
          ref[i] = vals[k][ravel(idx, shapes[k])];
        }
        EXPECT_EQ(values(out), ref) << dtype_name(t) << " axis " << axis;
      }
    }
  }
}

TEST(Shape, ConcatenatePromotesDtypes) {
  array a({1, 2}, int8);
  array b({3, 4}, uint8);
  array c({0.5f}, float16);
  EXPECT_EQ(concatenate({a, b}, 0).dtype(), int16);
  array ab = concatenate({a, b, c}, 0);
  EXPECT_EQ(ab.dtype(), float16);
  EXPECT_EQ(values(ab), (std::vector<double>{1, 2, 3, 4, 0.5}));
  array d = concatenate({array({true, false}), array({7}, int64)});
  EXPECT_EQ(d.dtype(), int64);
  EXPECT_EQ(values(d), (std::vector<double>{1, 0, 7}));
  EXPECT_EQ(concatenate({array({1.0f, 2.0f})}, 0).dtype(), float32);
  // The no-axis form flattens every input.
  array e = concatenate({reshape(arange(6), {2, 3}), array({9})});
  EXPECT_EQ(values(e), (std::vector<double>{0, 1, 2, 3, 4, 5, 9}));
  // Broadcast inputs (stride 0) are read correctly.
  array f = concatenate({broadcast_to(array({1.0f, 2.0f}), {3, 2}), ones({1, 2})}, 0);
  EXPECT_EQ(values(f), (std::vector<double>{1, 2, 1, 2, 1, 2, 1, 1}));
}

TEST(Shape, ConcatenateErrors) {
  expect_error<std::invalid_argument>(
      [] {
        concatenate({zeros({2, 3}), zeros({3})}, 0);
      },
      "[concatenate] all arrays must have the same number of dimensions, got shapes (2, 3) and (3,)");
  expect_error<std::invalid_argument>(
      [] {
        concatenate({zeros({2, 3}), zeros({2, 4})}, 0);
      },
      "[concatenate] all dimensions but the concatenation axis 0 must match, got "
      "shapes (2, 3) and (2, 4)");
  expect_error<std::invalid_argument>([] { concatenate({}, 0); }, "[concatenate] no arrays given");
  expect_error<std::invalid_argument>([] { concatenate({array(1), array(2)}, 0); }, "[concatenate] 0-d arrays");
  expect_error<std::out_of_range>(
      [] {
        concatenate({zeros({2, 3}), zeros({2, 3})}, 2);
      },
      "[concatenate] axis 2 is out of bounds for an array with 2 dimensions");
}

TEST(Shape, Stack) {
  std::mt19937 rng(5);
  Shape shape{3, 4};
  for (Layout l : kLayouts) {
    auto v0 = random_values(12, float32, rng), v1 = random_values(12, float32, rng);
    array a = make(v0, shape, float32, l), b = make(v1, shape, float32);
    for (int axis : {0, 1, 2, -1, -3}) {
      int ax = axis < 0 ? axis + 3 : axis;
      array out = stack({a, b}, axis);
      Shape os = shape;
      os.insert(os.begin() + ax, 2);
      ASSERT_EQ(out.shape(), os);
      std::vector<double> ref(numel(os));
      for (int64_t i = 0; i < numel(os); ++i) {
        Shape idx = unravel(i, os);
        int k = idx[ax];
        idx.erase(idx.begin() + ax);
        ref[i] = (k == 0 ? v0 : v1)[ravel(idx, shape)];
      }
      EXPECT_EQ(values(out), ref) << "axis " << axis;
    }
  }
  EXPECT_EQ(stack({array(1), array(2), array(3)}).shape(), Shape{3});
  EXPECT_EQ(values(stack({array(1), array(2.5f)})), (std::vector<double>{1, 2.5}));
  EXPECT_EQ(stack({zeros({0, 2}), zeros({0, 2})}, 1).shape(), (Shape{0, 2, 2}));
  expect_error<std::invalid_argument>(
      [] {
        stack({zeros({2}), zeros({3})});
      },
      "[stack] all arrays must have the same shape, got (2,) and (3,)");
  expect_error<std::invalid_argument>([] { stack({}); }, "[stack] no arrays given");
  expect_error<std::out_of_range>([] { stack({zeros({2}), zeros({2})}, 2); }, "[stack] axis 2 is out of bounds");
}

// ------------------------------------------------------------ split

TEST(Shape, SplitEqualParts) {
  std::mt19937 rng(6);
  Shape shape{4, 6, 2};
  for (Dtype t : {float32, int8, bfloat16, complex64, bool_}) {
    auto v = random_values(numel(shape), t, rng);
    for (Layout l : kLayouts) {
      array a = make(v, shape, t, l);
      for (int axis : {0, 1, -1}) {
        int ax = axis < 0 ? axis + 3 : axis;
        int parts = shape[ax] / 2;
        auto pieces = split(a, parts, axis);
        ASSERT_EQ(pieces.size(), static_cast<size_t>(parts));
        for (int p = 0; p < parts; ++p) {
          Shape ps = shape;
          ps[ax] = 2;
          ASSERT_EQ(pieces[p].shape(), ps);
          EXPECT_EQ(pieces[p].dtype(), t);
          auto ref = ref_map(ps, v, shape, [&](const Shape& o, Shape& i) {
            i = o;
            i[ax] += 2 * p;
            return true;
          });
          EXPECT_EQ(values(pieces[p]), ref) << dtype_name(t) << " axis " << axis << " piece " << p;
          // The piece also works as an input of later kernels.
          EXPECT_EQ(values(copy(pieces[p])), ref);
        }
      }
    }
  }
  auto pieces = split(reshape(arange(12), {3, 4}), 2, 1);
  EXPECT_EQ(values(pieces[1]), (std::vector<double>{2, 3, 6, 7, 10, 11}));
  EXPECT_EQ(split(arange(5), 1).size(), 1u);
}

TEST(Shape, SplitIsAView) {
  array a = reshape(arange(24.0, float32), {4, 6});
  a.eval();
  auto pieces = split(a, {1, 3}, 0);
  eval(pieces);
  EXPECT_EQ(pieces[1].data<float>(), a.data<float>() + 6);
  EXPECT_EQ(pieces[2].data<float>(), a.data<float>() + 18);
  auto cols = split(a, 3, 1);
  eval(cols);
  EXPECT_EQ(cols[2].data<float>(), a.data<float>() + 4);
  EXPECT_FALSE(cols[2].flags().row_contiguous);
  EXPECT_TRUE(pieces[1].flags().row_contiguous);
}

TEST(Shape, SplitIndices) {
  array a = arange(10);
  auto check = [&](const Shape& idx, const std::vector<std::vector<double>>& want) {
    auto pieces = split(a, idx);
    ASSERT_EQ(pieces.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(values(pieces[i]), want[i]) << "piece " << i;
  };
  check({3, 7}, {{0, 1, 2}, {3, 4, 5, 6}, {7, 8, 9}});
  check({0, 10}, {{}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {}});
  check({-2}, {{0, 1, 2, 3, 4, 5, 6, 7}, {8, 9}});
  check({20}, {{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {}});
  check({6, 2}, {{0, 1, 2, 3, 4, 5}, {}, {2, 3, 4, 5, 6, 7, 8, 9}});  // NumPy: decreasing cut gives an empty piece
  check({}, {{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}});

  std::mt19937 rng(7);
  Shape shape{3, 7};
  auto v = random_values(21, float64, rng);
  for (Layout l : kLayouts) {
    auto pieces = split(make(v, shape, float64, l), Shape{2, 5}, 1);
    ASSERT_EQ(pieces.size(), 3u);
    int starts[] = {0, 2, 5}, sizes[] = {2, 3, 2};
    for (int p = 0; p < 3; ++p) {
      Shape ps{3, sizes[p]};
      EXPECT_EQ(values(pieces[p]), ref_map(ps, v, shape, [&](const Shape& o, Shape& i) {
                  i = {o[0], o[1] + starts[p]};
                  return true;
                }));
    }
  }
}

TEST(Shape, SplitErrors) {
  array a = zeros({4, 6});
  expect_error<std::invalid_argument>([&] { split(a, 4, 1); },
                                      "[split] axis 1 of size 6 cannot be split into 4 equal parts");
  expect_error<std::invalid_argument>([&] { split(a, 0); }, "[split] num_splits must be positive, got 0");
  expect_error<std::out_of_range>([&] { split(a, 2, 2); }, "[split] axis 2 is out of bounds");
  expect_error<std::out_of_range>([&] { split(array(1.0f), 1); }, "[split] axis 0 is out of bounds");
}

// ------------------------------------------------------------ pad

TEST(Shape, PadConstant) {
  std::mt19937 rng(8);
  Shape shape{3, 4, 2};
  for (Dtype t : kDtypes) {
    auto v = random_values(numel(shape), t, rng);
    double fill = t == bool_ ? 1 : is_unsigned(t) ? 9 : -3;
    for (Layout l : kLayouts) {
      array a = make(v, shape, t, l);
      std::vector<int> axes{0, 2};
      Shape low{1, 0}, high{2, 3};
      array out = pad(a, axes, low, high, array(fill, float64));
      Shape os{6, 4, 5};
      ASSERT_EQ(out.shape(), os);
      EXPECT_EQ(out.dtype(), t);
      auto ref = ref_map(
          os, v, shape,
          [&](const Shape& o, Shape& i) {
            i = {o[0] - 1, o[1], o[2]};
            return i[0] >= 0 && i[0] < 3 && i[2] < 2;
          },
          fill);
      EXPECT_EQ(values(out), ref) << dtype_name(t);
    }
  }
}

TEST(Shape, PadOverloads) {
  array a = reshape(arange(6, float32), {2, 3});
  array p1 = pad(a, 1);
  EXPECT_EQ(p1.shape(), (Shape{4, 5}));
  EXPECT_EQ(values(p1), (std::vector<double>{0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 5, 0, 0, 0, 0, 0, 0}));
  array p2 = pad(a, {{0, 1}, {2, 0}}, array(-1.0f));
  EXPECT_EQ(p2.shape(), (Shape{3, 5}));
  EXPECT_EQ(values(p2), (std::vector<double>{-1, -1, 0, 1, 2, -1, -1, 3, 4, 5, -1, -1, -1, -1, -1}));
  array p3 = pad(a, std::pair<int, int>{1, 0}, array(7));
  EXPECT_EQ(p3.shape(), (Shape{3, 4}));
  EXPECT_EQ(values(p3), (std::vector<double>{7, 7, 7, 7, 7, 0, 1, 2, 7, 3, 4, 5}));
  // One pair broadcasts over all axes.
  EXPECT_EQ(pad(a, std::vector<std::pair<int, int>>{{1, 2}}).shape(), (Shape{5, 6}));
  // Zero widths return the input; 0-d and empty inputs.
  EXPECT_TRUE(pad(a, 0).is_same(a));
  EXPECT_EQ(values(pad(array(5.0f), 2)), std::vector<double>{5});
  array e = pad(zeros({0, 2}), {{1, 1}, {0, 0}}, array(4.0f));
  EXPECT_EQ(values(e), (std::vector<double>{4, 4, 4, 4}));
  // The pad value may be a 1-element array of another dtype; it's converted.
  EXPECT_EQ(values(pad(array({1, 2}), 1, array({2.9f}, Shape{1, 1}))), (std::vector<double>{2, 1, 2, 2}));
}

TEST(Shape, PadEdge) {
  std::mt19937 rng(9);
  Shape shape{3, 4};
  for (Dtype t : {float32, int16, bfloat16}) {
    auto v = random_values(12, t, rng);
    for (Layout l : kLayouts) {
      array out = pad(make(v, shape, t, l), {{2, 1}, {0, 3}}, array(0), "edge");
      Shape os{6, 7};
      ASSERT_EQ(out.shape(), os);
      EXPECT_EQ(values(out), ref_map(os, v, shape, [](const Shape& o, Shape& i) {
                  i = {std::clamp(o[0] - 2, 0, 2), std::clamp(o[1], 0, 3)};
                  return true;
                }));
    }
  }
  EXPECT_EQ(values(pad(array({1, 2}), 2, array(0), "edge")), (std::vector<double>{1, 1, 1, 2, 2, 2}));
  expect_error<std::invalid_argument>(
      [] {
        pad(zeros({0, 2}), 1, array(0), "edge");
      },
      "[pad] cannot edge-pad axis 0 of size 0");
}

TEST(Shape, PadErrors) {
  array a = zeros({2, 3});
  expect_error<std::invalid_argument>(
      [&] {
        pad(a, std::vector<int>{0}, Shape{1, 2}, Shape{1});
      },
      "[pad] axes, low_pad and high_pad must have the same length, got 1, 2 and 1");
  expect_error<std::invalid_argument>(
      [&] {
        pad(a, {{1, -1}, {0, 0}});
      },
      "[pad] pad widths must be non-negative, got (1, -1) for axis 0");
  expect_error<std::invalid_argument>([&] { pad(a, 1, array(0), "reflect"); },
                                      "[pad] mode must be 'constant' or 'edge', got 'reflect'");
  expect_error<std::invalid_argument>(
      [&] {
        pad(a, 1, array({1, 2}));
      },
      "[pad] pad_value must be a single value, got shape (2,)");
  expect_error<std::invalid_argument>(
      [&] {
        pad(a, {{1, 1}, {1, 1}, {1, 1}});
      },
      "[pad] pad_width needs one (low, high) pair per axis (2) or a single pair, got 3");
  expect_error<std::out_of_range>([&] { pad(a, std::vector<int>{2}, Shape{1}, Shape{1}); },
                                  "[pad] axis 2 is out of bounds");
  expect_error<std::invalid_argument>(
      [&] {
        pad(a, std::vector<int>{1, -1}, Shape{1, 1}, Shape{1, 1});
      },
      "[pad] axis -1 is repeated");
}

// ------------------------------------------------------------ repeat / tile / roll

TEST(Shape, Repeat) {
  std::mt19937 rng(10);
  Shape shape{2, 3};
  auto v = random_values(6, int64, rng);
  for (Layout l : kLayouts) {
    array a = make(v, shape, int64, l);
    array r0 = repeat(a, 3, 0);
    EXPECT_EQ(r0.shape(), (Shape{6, 3}));
    EXPECT_EQ(values(r0), ref_map(r0.shape(), v, shape, [](const Shape& o, Shape& i) {
                i = {o[0] / 3, o[1]};
                return true;
              }));
    array r1 = repeat(a, 2, -1);
    EXPECT_EQ(r1.shape(), (Shape{2, 6}));
    EXPECT_EQ(values(r1), ref_map(r1.shape(), v, shape, [](const Shape& o, Shape& i) {
                i = {o[0], o[1] / 2};
                return true;
              }));
    array rf = repeat(a, 2);
    EXPECT_EQ(rf.shape(), Shape{12});
    std::vector<double> ref;
    for (double x : v) ref.insert(ref.end(), {x, x});
    EXPECT_EQ(values(rf), ref);
    EXPECT_EQ(repeat(a, 0, 1).shape(), (Shape{2, 0}));
  }
  EXPECT_EQ(values(repeat(array(4), 3)), (std::vector<double>{4, 4, 4}));
  expect_error<std::invalid_argument>([] { repeat(zeros({2}), -1, 0); },
                                      "[repeat] repeats must be non-negative, got -1");
  expect_error<std::out_of_range>([] { repeat(zeros({2}), 2, 1); }, "[repeat] axis 1 is out of bounds");
}

TEST(Shape, Tile) {
  std::mt19937 rng(11);
  Shape shape{2, 3};
  auto v = random_values(6, uint16, rng);
  for (Layout l : kLayouts) {
    array a = make(v, shape, uint16, l);
    array t1 = tile(a, {2, 3});
    EXPECT_EQ(t1.shape(), (Shape{4, 9}));
    EXPECT_EQ(values(t1), ref_map(t1.shape(), v, shape, [](const Shape& o, Shape& i) {
                i = {o[0] % 2, o[1] % 3};
                return true;
              }));
    array t2 = tile(a, {2});  // reps shorter than ndim: leading 1s
    EXPECT_EQ(t2.shape(), (Shape{2, 6}));
    EXPECT_EQ(values(t2), ref_map(t2.shape(), v, shape, [](const Shape& o, Shape& i) {
                i = {o[0], o[1] % 3};
                return true;
              }));
    array t3 = tile(a, {2, 1, 1});  // reps longer: the array gains leading axes
    EXPECT_EQ(t3.shape(), (Shape{2, 2, 3}));
    EXPECT_EQ(values(t3), ref_map(t3.shape(), v, shape, [](const Shape& o, Shape& i) {
                i = {o[1], o[2]};
                return true;
              }));
    EXPECT_EQ(tile(a, {0, 2}).shape(), (Shape{0, 6}));
  }
  EXPECT_EQ(values(tile(array(1.5f), {3})), (std::vector<double>{1.5, 1.5, 1.5}));
  EXPECT_EQ(tile(array(1.5f), {}).shape(), Shape{});
  expect_error<std::invalid_argument>(
      [] {
        tile(zeros({2}), {2, -1});
      },
      "[tile] repetitions must be non-negative, got -1");
}

TEST(Shape, Roll) {
  std::mt19937 rng(12);
  Shape shape{3, 5};
  auto v = random_values(15, float32, rng);
  auto mod = [](int x, int n) { return ((x % n) + n) % n; };
  for (Layout l : kLayouts) {
    array a = make(v, shape, float32, l);
    for (int shift : {0, 1, -2, 7, 15, -16}) {
      array flat = roll(a, shift);
      EXPECT_EQ(flat.shape(), shape);
      EXPECT_EQ(values(flat), ref_map(shape, v, shape,
                                      [&](const Shape& o, Shape& i) {
                                        i = unravel(mod(static_cast<int>(ravel(o, shape)) - shift, 15), shape);
                                        return true;
                                      }))
          << "shift " << shift;
      array r1 = roll(a, shift, 1);
      EXPECT_EQ(values(r1), ref_map(shape, v, shape,
                                    [&](const Shape& o, Shape& i) {
                                      i = {o[0], mod(o[1] - shift, 5)};
                                      return true;
                                    }))
          << "shift " << shift;
    }
    array r2 = roll(a, {1, -2}, {0, 1});
    EXPECT_EQ(values(r2), ref_map(shape, v, shape, [&](const Shape& o, Shape& i) {
                i = {mod(o[0] - 1, 3), mod(o[1] + 2, 5)};
                return true;
              }));
    // A repeated axis adds its shifts.
    array r3 = roll(a, {2, 2}, {1, -1});
    EXPECT_EQ(values(r3), values(roll(a, 4, 1)));
  }
  EXPECT_EQ(roll(zeros({0, 3}), 2, 0).shape(), (Shape{0, 3}));
  EXPECT_EQ(values(roll(array(3), 1)), std::vector<double>{3});
  expect_error<std::invalid_argument>(
      [] {
        roll(zeros({3}), {1, 2}, {0});
      },
      "[roll] shift and axes must have the same length, got 2 and 1");
  expect_error<std::out_of_range>([] { roll(zeros({3}), 1, 1); }, "[roll] axis 1 is out of bounds");
}

TEST(Shape, AtLeastND) {
  array s(2.0f), v = zeros({3}), m = zeros({2, 3}), t = zeros({2, 3, 4}), q = zeros({1, 2, 3, 4});
  EXPECT_EQ(atleast_1d(s).shape(), Shape{1});
  EXPECT_EQ(atleast_1d(m).shape(), (Shape{2, 3}));
  EXPECT_EQ(atleast_2d(s).shape(), (Shape{1, 1}));
  EXPECT_EQ(atleast_2d(v).shape(), (Shape{1, 3}));
  EXPECT_EQ(atleast_2d(t).shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(atleast_3d(s).shape(), (Shape{1, 1, 1}));
  EXPECT_EQ(atleast_3d(v).shape(), (Shape{1, 3, 1}));
  EXPECT_EQ(atleast_3d(m).shape(), (Shape{2, 3, 1}));
  EXPECT_EQ(atleast_3d(q).shape(), (Shape{1, 2, 3, 4}));
  EXPECT_EQ(values(atleast_3d(array({1, 2, 3}))), (std::vector<double>{1, 2, 3}));
}

// ------------------------------------------------------------ composition

TEST(Shape, ComposedPipelineMatchesReference) {
  // pad -> split -> concatenate in swapped order -> tile, on a transposed input.
  std::mt19937 rng(13);
  Shape shape{4, 3};
  auto v = random_values(12, float32, rng);
  array a = make(v, shape, float32, Layout::transposed);
  array p = pad(a, {{0, 0}, {1, 1}}, array(0.0f));  // (4, 5)
  auto parts = split(p, {2}, 0);
  array c = concatenate({parts[1], parts[0]}, 0);  // rows 2,3,0,1
  array t = tile(c, {1, 2});                       // (4, 10)
  ASSERT_EQ(t.shape(), (Shape{4, 10}));
  auto ref = ref_map(t.shape(), v, shape, [](const Shape& o, Shape& i) {
    int col = o[1] % 5 - 1;
    i = {(o[0] + 2) % 4, col};
    return col >= 0 && col < 3;
  });
  EXPECT_EQ(values(t), ref);
}

TEST(Shape, PrimitivesCompareParameters) {
  array a = zeros({2, 4}), b = ones({2, 4});
  array cat = concatenate({a, b}, 0);  // keeps the primitive alive
  auto& c0 = cat.primitive();
  EXPECT_TRUE(c0.is_equivalent(concatenate({b, a}, 0).primitive()));
  EXPECT_FALSE(c0.is_equivalent(concatenate({a, b}, 1).primitive()));
  auto s0 = split(a, 2, 1);
  EXPECT_TRUE(s0[0].primitive().is_equivalent(split(b, Shape{2}, 1)[0].primitive()));
  EXPECT_FALSE(s0[0].primitive().is_equivalent(split(b, Shape{1}, 1)[0].primitive()));
  EXPECT_FALSE(s0[0].primitive().is_equivalent(c0));
  array padded = pad(a, 1);
  auto& p0 = padded.primitive();
  EXPECT_TRUE(p0.is_equivalent(pad(b, 1, array(3.0f)).primitive()));
  EXPECT_FALSE(p0.is_equivalent(pad(a, {{1, 1}, {1, 2}}).primitive()));
}
