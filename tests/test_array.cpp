// The array handle: construction, metadata, views, printing.
#include <gtest/gtest.h>

#include <ember/ember.h>

#include <random>
#include <sstream>

#include "test_utils.h"

using namespace ember;
using namespace test_utils;

namespace {

std::string str(const array& a) {
  std::ostringstream os;
  os << a;
  return os.str();
}

}  // namespace

TEST(Array, ScalarConstruction) {
  array a(3);
  EXPECT_EQ(a.dtype(), int32);
  EXPECT_EQ(a.ndim(), 0u);
  EXPECT_EQ(a.size(), 1u);
  EXPECT_EQ(a.item<int>(), 3);
  array b(2.5f);
  EXPECT_EQ(b.dtype(), float32);
  EXPECT_EQ(b.item<float>(), 2.5f);
  array c(true);
  EXPECT_EQ(c.dtype(), bool_);
  array d(1.5, float16);
  EXPECT_EQ(d.dtype(), float16);
  EXPECT_EQ(d.item<float>(), 1.5f);
  array e(complex64_t(1, -2));
  EXPECT_EQ(e.dtype(), complex64);
  EXPECT_EQ(e.item<complex64_t>(), complex64_t(1, -2));
}

TEST(Array, ListConstruction) {
  array a({1, 2, 3, 4}, {2, 2});
  EXPECT_EQ(a.shape(), (Shape{2, 2}));
  EXPECT_EQ(a.strides(), (Strides{2, 1}));
  EXPECT_EQ(a.data<int32_t>()[3], 4);
  array b({1.0, 2.0}, float32);
  EXPECT_EQ(b.dtype(), float32);
  EXPECT_EQ(b.data<float>()[1], 2.0f);
  EXPECT_EQ(a.itemsize(), 4u);
  EXPECT_EQ(a.nbytes(), 16u);
  EXPECT_EQ(a.shape(-1), 2);
  EXPECT_NE(error_of([] { array({1, 2, 3}, {2, 2}); }).find("3 values given for a shape of 4"), std::string::npos);
  EXPECT_NE(error_of([&] { a.shape(2); }).find("axis 2 is out of bounds"), std::string::npos);
}

TEST(Array, FromVectorAndPointer) {
  std::vector<double> v = {1.25, -2.5, 3.75, 4, 5, 6};
  array a(v, {2, 3}, float32);
  EXPECT_EQ(a.dtype(), float32);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(a.data<float>()[i], static_cast<float>(v[i]));
  int16_t raw[3] = {7, -8, 9};
  array b(raw, {3});
  EXPECT_EQ(b.dtype(), int16);
  raw[0] = 100;  // the array copied
  EXPECT_EQ(b.data<int16_t>()[0], 7);
}

TEST(Array, BorrowedBufferCallsDeleter) {
  int calls = 0;
  auto* buf = new float[4]{1, 2, 3, 4};
  {
    array a(buf, {4}, float32, [&](void* p) {
      ++calls;
      delete[] static_cast<float*>(p);
    });
    EXPECT_EQ(a.data<float>(), buf);  // no copy
    array b = a * 2.0f;
    b.eval();
    EXPECT_NE(b.data<float>(), buf) << "borrowed memory must never be donated";
    EXPECT_EQ(b.data<float>()[3], 8.0f);
    EXPECT_EQ(calls, 0);
  }
  EXPECT_EQ(calls, 1);
}

TEST(Array, ItemErrors) {
  array a({1, 2});
  EXPECT_NE(error_of([&] { a.item<int>(); }).find("[item]"), std::string::npos);
}

TEST(Array, SizeOverflowRejected) {
  std::string msg = error_of([] { zeros({1 << 30, 1 << 30, 1 << 30}); });
  EXPECT_NE(msg.find("overflow"), std::string::npos) << msg;
  msg = error_of([] { zeros({-1, 2}); });
  EXPECT_NE(msg.find("negative dimension -1"), std::string::npos) << msg;
}

TEST(Array, ViewsShareMemory) {
  array a = reshape(arange(0, 12, 1), {3, 4});
  a.eval();
  array t = transpose(a);
  t.eval();
  EXPECT_EQ(t.data<int32_t>(), a.data<int32_t>());
  EXPECT_EQ(t.strides(), (Strides{1, 4}));
  EXPECT_FALSE(t.flags().row_contiguous);
  EXPECT_TRUE(t.flags().col_contiguous);
  array s = slice(a, {1, 0}, {3, 4}, {1, 2});
  s.eval();
  EXPECT_EQ(s.shape(), (Shape{2, 2}));
  EXPECT_EQ(s.data<int32_t>(), a.data<int32_t>() + 4);
  array r = reshape(a, {12});
  r.eval();
  EXPECT_EQ(r.data<int32_t>(), a.data<int32_t>());
  array b = broadcast_to(array(5), {3, 3});
  b.eval();
  EXPECT_EQ(b.strides(), (Strides{0, 0}));
  EXPECT_EQ(b.data_size(), 1u);
  // A reshape of a non-contiguous view copies.
  array rt = reshape(t, {12});
  rt.eval();
  EXPECT_NE(rt.data<int32_t>(), a.data<int32_t>());
  for (int i = 0; i < 12; ++i) EXPECT_EQ(rt.data<int32_t>()[i], (i % 3) * 4 + i / 3);
}

TEST(Array, ReshapeErrors) {
  array a = zeros({2, 3});
  EXPECT_EQ(error_of([&] { reshape(a, {4, 2}); }), "[reshape] cannot reshape array of size 6 into shape (4, 2)");
  EXPECT_NE(error_of([&] { reshape(a, {-1, -1}); }).find("only one dimension can be -1"), std::string::npos);
  EXPECT_EQ(reshape(a, {-1}).shape(), (Shape{6}));
}

TEST(Array, PrintFormat) {
  EXPECT_EQ(str(array({1, 2, 3, 4}, {2, 2})), "array([[1, 2],\n       [3, 4]], dtype=int32)");
  EXPECT_EQ(str(array({1.0f, 2.5f})), "array([1, 2.5], dtype=float32)");
  EXPECT_EQ(str(array(7)), "array(7, dtype=int32)");
  EXPECT_EQ(str(array({true, false})), "array([True, False], dtype=bool)");
  EXPECT_EQ(str(array({uint8_t(200)})), "array([200], dtype=uint8)");
  EXPECT_EQ(str(array({complex64_t(1, -2)})), "array([1-2j], dtype=complex64)");
  EXPECT_EQ(str(zeros({0}, float32)), "array([], dtype=float32)");
  EXPECT_EQ(str(array(std::numeric_limits<float>::infinity())), "array(inf, dtype=float32)");
  std::string s3 = str(reshape(arange(0, 8, 1), {2, 2, 2}));
  EXPECT_EQ(s3, "array([[[0, 1],\n        [2, 3]],\n       [[4, 5],\n        [6, 7]]], dtype=int32)");
}

TEST(Array, PrintSummarizesLargeArrays) {
  std::string s = str(arange(0, 2000, 1));
  EXPECT_EQ(s, "array([0, 1, 2, ..., 1997, 1998, 1999], dtype=int32)");
  std::string m = str(reshape(arange(0, 2000, 1), {40, 50}));
  EXPECT_NE(m.find("..."), std::string::npos);
  EXPECT_LT(m.size(), 400u);
}

TEST(Array, PrintTransposedView) {
  array t = transpose(array({1, 2, 3, 4, 5, 6}, {2, 3}));
  EXPECT_EQ(str(t), "array([[1, 4],\n       [2, 5],\n       [3, 6]], dtype=int32)");
}

TEST(Array, SliceMatchesNumpySemantics) {
  // Reference: Python's range(*slice(start, stop, step).indices(n)).
  auto ref = [](int n, int start, int stop, int step) {
    std::vector<int> out;
    auto norm = [&](int v, bool is_stop) {
      if (v < 0) v += n;
      if (step > 0) return std::clamp(v, 0, n);
      return std::clamp(v, -1, n - 1);
    };
    int b = norm(start, false), e = norm(stop, true);
    for (int i = b; step > 0 ? i < e : i > e; i += step) out.push_back(i);
    return out;
  };
  const int n = 11;
  array a = arange(0, n, 1);
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> pos(-15, 15), stp(1, 4);
  for (int trial = 0; trial < 300; ++trial) {
    int start = pos(rng), stop = pos(rng), step = stp(rng) * (trial % 2 ? -1 : 1);
    array s = slice(a, {start}, {stop}, {step});
    auto expect = ref(n, start, stop, step);
    ASSERT_EQ(s.shape(0), static_cast<int>(expect.size())) << start << ":" << stop << ":" << step;
    s.eval();
    for (size_t i = 0; i < expect.size(); ++i) {
      ASSERT_EQ(s.data<int32_t>()[i * s.strides(0)], expect[i]) << start << ":" << stop << ":" << step;
    }
  }
  EXPECT_NE(error_of([&] { slice(a, {0}, {3}, {0}); }).find("step on axis 0 cannot be 0"), std::string::npos);
  EXPECT_NE(error_of([&] { slice(a, {0, 0}, {3, 3}); }).find("[slice]"), std::string::npos);
}

TEST(Array, SliceOfSliceAndTranspose2D) {
  array a = reshape(arange(0, 30, 1), {5, 6});
  array s = slice(transpose(a), {5, 4}, {-7, -6}, {-2, -3});  // rows 5,3,1 of a^T; cols 4,1
  ASSERT_EQ(s.shape(), (Shape{3, 2}));
  array c = contiguous(s);
  c.eval();
  std::vector<int> expect = {4 * 6 + 5, 1 * 6 + 5, 4 * 6 + 3, 1 * 6 + 3, 4 * 6 + 1, 1 * 6 + 1};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(c.data<int32_t>()[i], expect[i]);
}

TEST(Array, ViewBitcast) {
  array a({1.0f, -2.0f});
  array u = view(a, uint32);
  EXPECT_EQ(u.shape(), (Shape{2}));
  u.eval();
  EXPECT_EQ(u.data<uint32_t>()[0], 0x3f800000u);
  array h = view(a, uint16);
  EXPECT_EQ(h.shape(), (Shape{4}));
  h.eval();
  EXPECT_EQ(h.data<uint16_t>()[1], 0x3f80u);  // little endian: high half second
  array back = view(view(a, int8), float32);
  back.eval();
  EXPECT_EQ(back.data<float>()[1], -2.0f);
  EXPECT_NE(error_of([] { view(array({1, 2, 3}, int8), int16); }).find("[view]"), std::string::npos);
  EXPECT_NE(error_of([] { view(array(1.0f), float64); }).find("0-d"), std::string::npos);
}
