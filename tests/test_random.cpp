// ember::random: threefry2x32 known-answer vectors, the bit layout, keys and
// splitting, distributions (generous bounds on 10^5 samples), permutations,
// error messages, and RandomBits' vmap through the grad_check harness.
#include <gtest/gtest.h>

#include <ember/ember.h>
#include <ember/random.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <set>
#include <vector>

#include "grad_check.h"
#include "test_utils.h"

using namespace ember;
using test_utils::expect_error;
using test_utils::values;

namespace {

constexpr int kN = 100000;

// The words of key (k0, k1)'s block of n words, computed serially from the layout.
std::vector<uint32_t> reference_words(uint32_t k0, uint32_t k1, int64_t n) {
  std::vector<uint32_t> w(n);
  int64_t half = n / 2, odd = n % 2;
  for (int64_t j = 0; j < half; ++j) {
    auto r = random::detail::threefry2x32({k0, k1}, {static_cast<uint32_t>(j), static_cast<uint32_t>(j + half + odd)});
    w[j] = r.first;
    w[j + half + odd] = r.second;
  }
  if (odd) w[half] = random::detail::threefry2x32({k0, k1}, {static_cast<uint32_t>(half), 0u}).first;
  return w;
}

double mean(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / v.size(); }
double var(const std::vector<double>& v) {
  double m = mean(v), s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return s / v.size();
}
std::vector<double> as_doubles(const array& a) {
  auto f = values<float>(a);
  return std::vector<double>(f.begin(), f.end());
}

}  // namespace

TEST(Random, ThreefryKnownAnswers) {
  using random::detail::threefry2x32;
  EXPECT_EQ(threefry2x32({0, 0}, {0, 0}), std::make_pair(0x6b200159u, 0x99ba4efeu));
  EXPECT_EQ(threefry2x32({0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu}),
            std::make_pair(0x1cb996fcu, 0xbb002be7u));
  EXPECT_EQ(threefry2x32({0x13198a2eu, 0x03707344u}, {0x243f6a88u, 0x85a308d3u}),
            std::make_pair(0xc4923a9cu, 0x483df7a0u));
  // Through the primitive: two words from key (0, 0) are counter (0, 1)'s block.
  auto w = values<uint32_t>(random::bits({2}, 4, random::key(0)));
  auto r = threefry2x32({0, 0}, {0, 1});
  EXPECT_EQ(w[0], r.first);
  EXPECT_EQ(w[1], r.second);
}

TEST(Random, KeyAndSplit) {
  auto k = values<uint32_t>(random::key(0x0000000500000007ull));
  EXPECT_EQ(k, (std::vector<uint32_t>{5, 7}));
  array s = random::split(random::key(1), 3);
  EXPECT_EQ(s.shape(), (Shape{3, 2}));
  EXPECT_EQ(s.dtype(), uint32);
  auto sv = values<uint32_t>(s);
  EXPECT_EQ(sv, reference_words(0, 1, 6));
  std::set<std::pair<uint32_t, uint32_t>> keys;
  for (int i = 0; i < 3; ++i) keys.insert({sv[2 * i], sv[2 * i + 1]});
  EXPECT_EQ(keys.size(), 3u);
  EXPECT_EQ(random::split(random::key(1)).shape(), (Shape{2, 2}));
}

TEST(Random, BitsLayoutMatchesReferenceForEveryWidthAndSize) {
  for (int width : {1, 2, 4}) {
    for (int n : {0, 1, 2, 3, 5, 8, 33, 100001}) {
      array b = random::bits({n}, width, random::key(42));
      ASSERT_EQ(b.dtype(), width == 1 ? uint8 : width == 2 ? uint16 : uint32);
      b.eval();
      int64_t bytes = static_cast<int64_t>(n) * width;
      auto w = reference_words(0, 42, (bytes + 3) / 4);
      if (bytes) EXPECT_EQ(std::memcmp(b.data<char>(), w.data(), bytes), 0) << "width " << width << " n " << n;
    }
  }
  // Several keys: each fills its own block.
  array keys = random::split(random::key(3), 4);
  auto kv = values<uint32_t>(keys);
  auto b = values<uint32_t>(random::bits({4, 7}, 4, keys));
  for (int i = 0; i < 4; ++i) {
    auto w = reference_words(kv[2 * i], kv[2 * i + 1], 7);
    EXPECT_TRUE(std::equal(w.begin(), w.end(), b.begin() + 7 * i)) << "key " << i;
  }
}

TEST(Random, DeterministicAndKeySensitive) {
  auto a = values<float>(random::uniform({1000}, float32, random::key(7)));
  auto b = values<float>(random::uniform({1000}, float32, random::key(7)));
  auto c = values<float>(random::uniform({1000}, float32, random::key(8)));
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  // Global sequence: seed() makes it reproducible, successive calls differ.
  random::seed(5);
  auto g1 = values<float>(random::normal({100}));
  auto g2 = values<float>(random::normal({100}));
  random::seed(5);
  EXPECT_EQ(values<float>(random::normal({100})), g1);
  EXPECT_NE(g1, g2);
}

TEST(Random, SplitKeysAreIndependent) {
  array ks = random::split(random::key(11));
  array k0 = reshape(slice(ks, {0, 0}, {1, 2}), {2});
  array k1 = reshape(slice(ks, {1, 0}, {2, 2}), {2});
  auto a = as_doubles(random::uniform({kN}, float32, k0));
  auto b = as_doubles(random::uniform({kN}, float32, k1));
  double ma = mean(a), mb = mean(b), cov = 0;
  for (int i = 0; i < kN; ++i) cov += (a[i] - ma) * (b[i] - mb);
  cov /= kN;
  double corr = cov / std::sqrt(var(a) * var(b));
  EXPECT_LT(std::abs(corr), 0.02);
  EXPECT_NE(a, b);
}

TEST(Random, UniformMoments) {
  auto u = as_doubles(random::uniform(array(-1.0f), array(3.0f), {kN}, float32, random::key(1)));
  EXPECT_NEAR(mean(u), 1.0, 0.03);
  EXPECT_NEAR(var(u), 16.0 / 12.0, 0.03);
  EXPECT_GE(*std::min_element(u.begin(), u.end()), -1.0);
  EXPECT_LT(*std::max_element(u.begin(), u.end()), 3.0);
  auto d = values<double>(random::uniform({kN}, float64, random::key(2)));
  std::vector<double> dd(d.begin(), d.end());
  EXPECT_NEAR(mean(dd), 0.5, 0.01);
  for (Dtype t : {float16, bfloat16}) {
    auto h = test_utils::values<float>(astype(random::uniform({kN}, t, random::key(3)), float32));
    EXPECT_LT(*std::max_element(h.begin(), h.end()), 1.0f);
    EXPECT_GE(*std::min_element(h.begin(), h.end()), 0.0f);
  }
}

TEST(Random, NormalMoments) {
  auto z = as_doubles(random::normal({kN}, float32, 0.0, 1.0, random::key(4)));
  EXPECT_NEAR(mean(z), 0.0, 0.02);
  EXPECT_NEAR(var(z), 1.0, 0.03);
  auto y = as_doubles(random::normal({kN}, float32, 2.0, 3.0, random::key(5)));
  EXPECT_NEAR(mean(y), 2.0, 0.05);
  EXPECT_NEAR(std::sqrt(var(y)), 3.0, 0.05);
  for (double v : z) ASSERT_TRUE(std::isfinite(v));
}

TEST(Random, RandintRangeAndUniformity) {
  array r = random::randint(array(-3), array(7), {kN}, int32, random::key(6));
  EXPECT_EQ(r.dtype(), int32);
  auto v = values<int32_t>(r);
  std::vector<int> counts(10, 0);
  for (int x : v) {
    ASSERT_GE(x, -3);
    ASSERT_LT(x, 7);
    counts[x + 3]++;
  }
  // Chi-square with 9 degrees of freedom: P(chi2 > 30) ~ 4e-4.
  double expected = kN / 10.0, chi2 = 0;
  for (int c : counts) chi2 += (c - expected) * (c - expected) / expected;
  EXPECT_LT(chi2, 30.0);
}

TEST(Random, BernoulliRate) {
  auto b = values<bool>(random::bernoulli(array(0.3f), {kN}, random::key(7)));
  double rate = std::count(b.begin(), b.end(), true) / static_cast<double>(kN);
  EXPECT_NEAR(rate, 0.3, 0.01);
  // A bare key array would be taken for p: pass it as a Key.
  EXPECT_EQ(random::bernoulli(random::Key(random::key(1))).shape(), Shape{});
  EXPECT_EQ(random::bernoulli(array({0.1f, 0.9f}), random::key(1)).shape(), (Shape{2}));
}

TEST(Random, TruncatedNormalBounds) {
  auto t = as_doubles(random::truncated_normal(array(-0.5f), array(1.5f), {kN}, float32, random::key(8)));
  for (double x : t) {
    ASSERT_GE(x, -0.5);
    ASSERT_LE(x, 1.5);
  }
  // Mean of N(0,1) truncated to [a, b]: (phi(a) - phi(b)) / (Phi(b) - Phi(a)).
  auto phi = [](double x) { return std::exp(-x * x / 2) / std::sqrt(2 * M_PI); };
  auto Phi = [](double x) { return 0.5 * (1 + std::erf(x / std::sqrt(2.0))); };
  double want = (phi(-0.5) - phi(1.5)) / (Phi(1.5) - Phi(-0.5));
  EXPECT_NEAR(mean(t), want, 0.02);
  EXPECT_EQ(random::truncated_normal(array({-1.0f, 0.0f}), array(1.0f), float32, random::key(1)).shape(), (Shape{2}));
}

TEST(Random, GumbelAndLaplaceMoments) {
  auto g = as_doubles(random::gumbel({kN}, float32, random::key(9)));
  EXPECT_NEAR(mean(g), 0.5772156649, 0.03);
  EXPECT_NEAR(var(g), M_PI * M_PI / 6, 0.06);
  auto l = as_doubles(random::laplace({kN}, float32, 1.0, 2.0, random::key(10)));
  EXPECT_NEAR(mean(l), 1.0, 0.05);
  EXPECT_NEAR(var(l), 8.0, 0.3);
}

TEST(Random, CategoricalFrequenciesFollowSoftmax) {
  std::vector<float> lv = {0.0f, 1.0f, 2.0f, -1.0f};
  array logits(lv.data(), {1, 4});
  array c = random::categorical(logits, -1, {1, kN}, random::key(12));
  // Draws with shape (1, kN) broadcast against the (1,) reduced logits shape.
  EXPECT_EQ(c.shape(), (Shape{1, kN}));
  auto v = values<uint32_t>(astype(c, uint32));
  std::vector<double> counts(4, 0);
  for (auto x : v) counts.at(x) += 1;
  double z = 0;
  for (float l : lv) z += std::exp(l);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(counts[i] / kN, std::exp(lv[i]) / z, 0.01) << "category " << i;
  EXPECT_EQ(random::categorical(logits, 1, 5, random::key(1)).shape(), (Shape{1, 5}));
  EXPECT_EQ(random::categorical(logits, -1, random::key(1)).shape(), (Shape{1}));
}

TEST(Random, PermutationIsAPermutation) {
  auto p = values<int32_t>(random::permutation(1000, random::key(13)));
  std::vector<int32_t> sorted = p;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int32_t> want(1000);
  std::iota(want.begin(), want.end(), 0);
  EXPECT_EQ(sorted, want);
  EXPECT_NE(p, want);
  // Along an axis: rows of a (3, 4) array shuffled together.
  array x = reshape(arange(12), {3, 4});
  auto y = values<int32_t>(random::permutation(x, 0, random::key(14)));
  std::set<int32_t> firsts;
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 4; ++j) EXPECT_EQ(y[4 * i + j], y[4 * i] + j);
    firsts.insert(y[4 * i]);
  }
  EXPECT_EQ(firsts, (std::set<int32_t>{0, 4, 8}));
}

TEST(Random, Errors) {
  array k = random::key(1);
  expect_error<std::invalid_argument>([&] { random::bits({3}, 3, k); }, "[bits] width must be 1, 2 or 4");
  expect_error<std::invalid_argument>([&] { random::bits({3}, 4, array({1, 2})); }, "expected a key of dtype uint32");
  expect_error<std::invalid_argument>(
      [&] {
        random::bits({3}, 4, array({1u, 2u, 3u}));
      },
      "expected a key of shape (..., 2)");
  expect_error<std::invalid_argument>([&] { random::bits({-1}, 4, k); }, "must be non-negative");
  expect_error<std::invalid_argument>([&] { random::bits({3, 2}, 4, random::split(k, 2)); }, "must lead the shape");
  expect_error<std::invalid_argument>([&] { random::split(k, -1); }, "[split] num must be non-negative");
  expect_error<std::invalid_argument>([&] { random::uniform({3}, int32, k); }, "[uniform] can only generate");
  expect_error<std::invalid_argument>(
      [&] {
        random::uniform(array({0.f, 1.f}), array(2.f), {3}, float32, k);
      },
      "[uniform] cannot generate values of shape (3,)");
  expect_error<std::invalid_argument>([&] { random::normal({3}, int32, 0, 1, k); }, "[normal]");
  expect_error<std::invalid_argument>([&] { random::randint(array(0), array(5), {3}, float32, k); },
                                      "[randint] dtype must be an integer type");
  expect_error<std::invalid_argument>([&] { random::bernoulli(array(1), {3}, k); },
                                      "[bernoulli] the probability p must have a floating-point dtype");
  expect_error<std::invalid_argument>(
      [&] {
        random::bernoulli(array({0.5f, 0.5f}), {3}, k);
      },
      "[bernoulli] p of shape (2,) does not broadcast");
  expect_error<std::invalid_argument>([&] { random::truncated_normal(array(0.f), array(1.f), {2}, int32, k); },
                                      "[truncated_normal]");
  expect_error<std::invalid_argument>(
      [&] {
        random::categorical(array({1.f, 2.f}), 1, k);
      },
      "[categorical] axis 1 is out of bounds");
  expect_error<std::invalid_argument>(
      [&] {
        random::categorical(zeros({2, 3}), -1, Shape{3}, k);
      },
      "[categorical] shape (3,) is not broadcast-compatible");
  expect_error<std::invalid_argument>([&] { random::permutation(-2, k); }, "[permutation] n must be non-negative");
  expect_error<std::invalid_argument>([&] { random::gumbel({2}, uint8, k); }, "[gumbel]");
  expect_error<std::invalid_argument>([&] { random::laplace({2}, int8, 0, 1, k); }, "[laplace]");
}

// RandomBits has no derivative; its vmap batches the keys.
TEST(GradRandom, RandomBitsVmap) {
  using Args = std::vector<array>;
  grad_check::check(
      [](const Args& x) {
        return random::bits({2, 3}, 4, astype(x[0], uint32));
      },
      {{2}}, grad_check::vmap_only());
  grad_check::check(
      [](const Args& x) {
        return random::bits({3, 5}, 1, astype(x[0], uint32));
      },
      {{3, 2}}, grad_check::vmap_only());
  grad_check::check([](const Args& x) { return random::bits({7}, 2, astype(x[0], uint32)); }, {{2}},
                    grad_check::vmap_only());
}

TEST(Random, VmapOverKeysMatchesALoop) {
  array keys = random::split(random::key(21), 4);
  auto f = [](const array& k) { return random::normal({5}, float32, 0.0, 1.0, k); };
  array batched = vmap(f, 0, 0)(keys);
  ASSERT_EQ(batched.shape(), (Shape{4, 5}));
  auto got = values<float>(batched);
  for (int i = 0; i < 4; ++i) {
    array k = reshape(slice(keys, {i, 0}, {i + 1, 2}), {2});
    auto want = values<float>(f(k));
    EXPECT_TRUE(std::equal(want.begin(), want.end(), got.begin() + 5 * i)) << "key " << i;
  }
}
