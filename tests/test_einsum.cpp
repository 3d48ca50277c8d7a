// einsum against a naive nested-loop evaluator in double written here (every
// assignment of the labels, size-1 axes broadcast), on random inputs over ~35
// subscripts: matmul, batch matmul, trace, diagonals, outer products,
// transposes, sums, a bilinear form, ellipsis with broadcasting, chains of 4-6
// operands (the optimal and the greedy planner), integer and mixed dtypes,
// non-contiguous operands; then einsum_path's choices and report, the error
// messages, and gradients (GradEinsum) through the public transforms.
#include <gtest/gtest.h>

#include <ember/einsum.h>
#include <ember/ember.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "grad_check.h"
#include "test_utils.h"

using namespace ember;
using test_utils::expect_error;
using test_utils::numel;
using test_utils::unravel;

namespace {

// ---------------------------------------------------------------- reference

// Each operand's labels as characters; "..." becomes digits '0'.. right-aligned over the
// widest "..." so they broadcast like NumPy's. Returns the labels per operand and of the output.
struct RefSpec {
  std::vector<std::string> in;
  std::string out;
};

RefSpec ref_parse(std::string sub, const std::vector<array>& ops) {
  sub.erase(std::remove(sub.begin(), sub.end(), ' '), sub.end());
  size_t arrow = sub.find("->");
  std::string lhs = sub.substr(0, arrow);
  std::vector<std::string> terms;
  size_t start = 0;
  for (size_t c; (c = lhs.find(',', start)) != std::string::npos; start = c + 1)
    terms.push_back(lhs.substr(start, c - start));
  terms.push_back(lhs.substr(start));
  int widest = 0;
  for (size_t i = 0; i < terms.size(); ++i) {
    if (terms[i].find("...") != std::string::npos) {
      widest = std::max(widest, static_cast<int>(ops[i].ndim()) - static_cast<int>(terms[i].size() - 3));
    }
  }
  auto expand = [&](const std::string& t, int k) {
    size_t e = t.find("...");
    if (e == std::string::npos) return t;
    std::string dots;
    for (int d = widest - k; d < widest; ++d) dots += static_cast<char>('0' + d);
    return t.substr(0, e) + dots + t.substr(e + 3);
  };
  RefSpec r;
  for (size_t i = 0; i < terms.size(); ++i) {
    int k = static_cast<int>(ops[i].ndim()) - static_cast<int>(terms[i].size() - 3);
    r.in.push_back(expand(terms[i], k));
  }
  if (arrow != std::string::npos) {
    r.out = expand(sub.substr(arrow + 2), widest);
  } else {
    std::map<char, int> count;
    for (const auto& t : r.in) {
      for (char c : t) ++count[c];
    }
    for (auto [c, n] : count) {
      if (std::isdigit(static_cast<unsigned char>(c))) r.out += c;
    }
    for (auto [c, n] : count) {
      if (!std::isdigit(static_cast<unsigned char>(c)) && n == 1) r.out += c;
    }
  }
  return r;
}

// sum over every label assignment of prod_i op_i[its labels], size-1 axes broadcast.
std::vector<double> ref_einsum(const std::string& sub, const std::vector<array>& ops, Shape& out_shape) {
  RefSpec r = ref_parse(sub, ops);
  std::map<char, int> size;
  std::vector<std::vector<double>> vals;
  for (size_t i = 0; i < ops.size(); ++i) {
    vals.push_back(test_utils::values(ops[i]));
    for (size_t a = 0; a < r.in[i].size(); ++a) size[r.in[i][a]] = std::max(size[r.in[i][a]], ops[i].shape(a));
  }
  std::string labels;
  Shape dims;
  for (auto [c, n] : size) {
    labels += c;
    dims.push_back(n);
  }
  out_shape.clear();
  for (char c : r.out) out_shape.push_back(size[c]);
  std::vector<double> out(numel(out_shape), 0.0);
  for (int64_t flat = 0; flat < numel(dims); ++flat) {
    Shape idx = unravel(flat, dims);
    auto at = [&](char c) { return idx[labels.find(c)]; };
    double prod = 1;
    for (size_t i = 0; i < ops.size(); ++i) {
      int64_t off = 0;
      for (size_t a = 0; a < r.in[i].size(); ++a) {
        int d = ops[i].shape(a);
        off = off * d + (d == 1 ? 0 : at(r.in[i][a]));
      }
      prod *= vals[i][off];
    }
    int64_t o = 0;
    for (size_t a = 0; a < r.out.size(); ++a) o = o * out_shape[a] + at(r.out[a]);
    out[o] += prod;
  }
  return out;
}

array random_array(const Shape& shape, std::mt19937& rng, Dtype t = float32) {
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<double> v(numel(shape));
  for (auto& x : v) x = t == int32 ? std::round(4 * u(rng)) : u(rng);
  array a = astype(array(v, shape), t);
  a.eval();
  return a;
}

void check_einsum(const std::string& sub, const std::vector<array>& ops, double tol = 1e-5) {
  SCOPED_TRACE("einsum '" + sub + "'");
  Shape want_shape;
  std::vector<double> want = ref_einsum(sub, ops, want_shape);
  array got = einsum(sub, ops);
  ASSERT_EQ(got.shape(), want_shape);
  Dtype t = ops[0].dtype();
  for (const auto& o : ops) t = promote_types(t, o.dtype());
  if (is_inexact(t)) EXPECT_EQ(got.dtype(), t);
  std::vector<double> g = test_utils::values(got);
  for (size_t i = 0; i < g.size(); ++i) ASSERT_NEAR(g[i], want[i], tol * (1 + std::abs(want[i]))) << "element " << i;
}

}  // namespace

TEST(Einsum, AgainstNestedLoops) {
  std::mt19937 rng(1);
  auto R = [&](const Shape& s) { return random_array(s, rng); };
  check_einsum("ij,jk->ik", {R({3, 4}), R({4, 5})});
  check_einsum("ij,jk", {R({3, 4}), R({4, 5})});
  check_einsum("bij,bjk->bik", {R({2, 3, 4}), R({2, 4, 5})});
  check_einsum("bij,bkj->bki", {R({2, 3, 4}), R({2, 5, 4})});
  check_einsum("ii->", {R({4, 4})});
  check_einsum("ii", {R({4, 4})});
  check_einsum("ii->i", {R({4, 4})});
  check_einsum("iii->i", {R({3, 3, 3})});
  check_einsum("iji->j", {R({3, 5, 3})});
  check_einsum("i,j->ij", {R({3}), R({4})});
  check_einsum("a,b,c->abc", {R({2}), R({3}), R({4})});
  check_einsum("ij,kl->ijkl", {R({2, 3}), R({2, 2})});
  check_einsum("ij->ji", {R({3, 4})});
  check_einsum("ijk->kji", {R({2, 3, 4})});
  check_einsum("ij->", {R({3, 4})});
  check_einsum("ij->i", {R({3, 4})});
  check_einsum("i->i", {R({5})});
  check_einsum("i,i->", {R({7}), R({7})});
  check_einsum("i,i", {R({7}), R({7})});
  check_einsum("i,i->i", {R({7}), R({7})});
  check_einsum("ij,ij->ij", {R({3, 4}), R({3, 4})});
  check_einsum("ijk,ikj->i", {R({2, 3, 4}), R({2, 4, 3})});
  check_einsum("ik,jkl,il->ij", {R({3, 4}), R({5, 4, 6}), R({3, 6})});
  check_einsum("abc,cd,de->abe", {R({2, 3, 4}), R({4, 5}), R({5, 2})});
  check_einsum("Ab,bC->AC", {R({3, 4}), R({4, 2})});
  check_einsum(" ij , jk -> ik ", {R({3, 4}), R({4, 5})});
  // Ellipsis: batch axes broadcast (right-aligned), implicit outputs put them first.
  check_einsum("...ij,...jk->...ik", {R({2, 3, 4, 5}), R({3, 5, 2})});
  check_einsum("...ij,...jk", {R({2, 1, 4, 5}), R({3, 5, 2})});
  check_einsum("...ii->...i", {R({2, 3, 3})});
  check_einsum("i...->...", {R({3, 2, 4})});
  check_einsum("...,...->...", {R({2, 3}), R({3})});
  check_einsum("ij...,jk->ik...", {R({2, 3, 4}), R({3, 5})});
  check_einsum("b...i,i->b...", {R({2, 3, 4}), R({4})});
  // Size-1 axes broadcast against the other operands.
  check_einsum("ij,jk->ik", {R({3, 1}), R({4, 5})});
  check_einsum("bij,bjk->bik", {R({1, 3, 4}), R({3, 4, 2})});
  check_einsum("ij,ij->i", {R({3, 1}), R({1, 4})});
  // Chains: 4 and 5 operands (exhaustive path), 6 (greedy).
  check_einsum("ij,jk,kl,lm->im", {R({2, 3}), R({3, 4}), R({4, 5}), R({5, 2})});
  check_einsum("ab,bc,cd,de,ef->af", {R({2, 6}), R({6, 3}), R({3, 5}), R({5, 2}), R({2, 4})});
  check_einsum("ab,bc,cd,de,ef,fg->ag", {R({2, 3}), R({3, 4}), R({4, 2}), R({2, 5}), R({5, 3}), R({3, 2})});
  check_einsum("ab,cd,bc,ea,de->", {R({2, 3}), R({4, 5}), R({3, 4}), R({2, 2}), R({5, 2})});
}

TEST(Einsum, LayoutsAndDtypes) {
  std::mt19937 rng(2);
  array a = random_array({5, 4}, rng), b = random_array({6, 4}, rng);
  check_einsum("ji,kj->ik", {transpose(a), b});  // transposed operand: (4, 5) and (6, 4)
  check_einsum("ij,jk->ik",
               {slice(random_array({6, 8}, rng), Shape{0, 0}, Shape{6, 8}, Shape{2, 2}), random_array({4, 3}, rng)});
  check_einsum("ij,jk->ik", {broadcast_to(random_array({1, 5}, rng), {3, 5}), a});
  check_einsum("ij,jk->ik", {random_array({3, 4}, rng, int32), random_array({4, 2}, rng, int32)});
  check_einsum("ii->", {random_array({4, 4}, rng, int32)});
  check_einsum("ij,jk->ik", {random_array({3, 4}, rng, float32), random_array({4, 2}, rng, float64)}, 1e-6);
  check_einsum("ij,j->i", {random_array({3, 4}, rng, float64), random_array({4}, rng, float64)}, 1e-12);
  EXPECT_EQ(einsum("ij,jk->ik", {random_array({3, 4}, rng, int32), random_array({4, 2}, rng, int32)}).dtype(), int32);
  // Empty: a zero-size label gives zeros (contracted) or an empty result (kept).
  array z = einsum("ij,jk->ik", {zeros({3, 0}), zeros({0, 2})});
  EXPECT_EQ(z.shape(), (Shape{3, 2}));
  EXPECT_TRUE(array_equal(z, zeros({3, 2})).item<bool>());
  EXPECT_EQ(einsum("ij,jk->ik", {zeros({0, 4}), zeros({4, 2})}).shape(), (Shape{0, 2}));
}

TEST(Einsum, Path) {
  std::mt19937 rng(3);
  // (A B) C: 8000 + 480 FLOPs against A (B C): 12000 + 600.
  auto [p1, r1] = einsum_path("ij,jk,kl->il", {zeros({2, 50}), zeros({50, 40}), zeros({40, 3})});
  EXPECT_EQ(p1, (std::vector<std::vector<int>>{{0, 1}, {0, 1}}));
  // A (B C): 480 + 8000 against (A B) C: 12000 + 600.
  auto [p2, r2] = einsum_path("ij,jk,kl->il", {zeros({50, 40}), zeros({40, 3}), zeros({3, 2})});
  EXPECT_EQ(p2, (std::vector<std::vector<int>>{{1, 2}, {0, 1}}));
  EXPECT_NE(r2.find("Complete contraction:  ij,jk,kl->il"), std::string::npos) << r2;
  EXPECT_NE(r2.find("Naive scaling:  4"), std::string::npos) << r2;
  EXPECT_NE(r2.find("Optimized scaling:  3"), std::string::npos) << r2;
  // Naive: one loop nest over i, j, k, l (50 * 40 * 3 * 2) with 3 terms and a sum: factor 3.
  EXPECT_NE(r2.find("Naive FLOP count:  3.600e+04"), std::string::npos) << r2;
  EXPECT_NE(r2.find("Optimized FLOP count:  8.480e+03"), std::string::npos) << r2;
  EXPECT_NE(r2.find("Theoretical speedup:  4.245"), std::string::npos) << r2;
  EXPECT_NE(r2.find("jk,kl->jl"), std::string::npos) << r2;
  // A single operand, and ellipsis shown with free letters.
  auto [p3, r3] = einsum_path("ii->i", {zeros({3, 3})});
  EXPECT_EQ(p3, (std::vector<std::vector<int>>{{0}}));
  auto [p4, r4] = einsum_path("...ij,...jk", {zeros({2, 3, 4}), zeros({2, 4, 5})});
  EXPECT_EQ(p4.size(), 1u);
  EXPECT_NE(r4.find("Complete contraction:  aij,ajk->aik"), std::string::npos) << r4;
  // Greedy (6 operands): every step names two current operands, and einsum follows it.
  std::vector<array> ops;
  for (Shape s : {Shape{2, 3}, Shape{3, 4}, Shape{4, 2}, Shape{2, 5}, Shape{5, 3}, Shape{3, 2}}) {
    ops.push_back(random_array(s, rng));
  }
  auto [p5, r5] = einsum_path("ab,bc,cd,de,ef,fg->ag", ops);
  ASSERT_EQ(p5.size(), 5u);
  size_t n = 6;
  for (const auto& step : p5) {
    ASSERT_EQ(step.size(), 2u);
    EXPECT_TRUE(step[0] < step[1] && step[1] < static_cast<int>(n)) << r5;
    --n;
  }
}

TEST(Einsum, LowersToMatmul) {
  // Each pairwise contraction with a summed label is one (batched) Matmul node.
  auto count = [](const array& out, const std::string& name) {
    std::vector<array> stack = {out};
    int n = 0;
    while (!stack.empty()) {
      array a = stack.back();
      stack.pop_back();
      if (!a.has_primitive()) continue;
      n += std::string(a.primitive_ptr()->name()) == name;
      for (const auto& in : a.inputs()) stack.push_back(in);
    }
    return n;
  };
  EXPECT_EQ(count(einsum("ij,jk->ik", {zeros({3, 4}), zeros({4, 5})}), "Matmul"), 1);
  EXPECT_EQ(count(einsum("bij,bjk->bik", {zeros({2, 3, 4}), zeros({2, 4, 5})}), "Matmul"), 1);
  EXPECT_EQ(count(einsum("ij,jk,kl,lm->im", {zeros({2, 3}), zeros({3, 4}), zeros({4, 5}), zeros({5, 2})}), "Matmul"),
            3);
  EXPECT_EQ(count(einsum("i,j->ij", {zeros({3}), zeros({4})}), "Matmul"), 0);  // nothing summed: a multiply
}

TEST(Einsum, Errors) {
  array a = zeros({3, 4}), b = zeros({4, 5}), c = zeros({5, 6});
  expect_error<std::invalid_argument>(
      [&] {
        einsum("ij,j1->i", {a, zeros({4, 2})});
      },
      "[einsum] invalid character '1' in subscripts 'ij,j1->i'");
  expect_error<std::invalid_argument>([&] { einsum("ij,jk->i$", {a, b}); }, "invalid character '$'");
  expect_error<std::invalid_argument>(
      [&] {
        einsum("ij,jk", {a, c});
      },
      "[einsum] label 'j' has size 4 in an earlier operand but size 5 in operand 1");
  expect_error<std::invalid_argument>([&] { einsum("ij,jk->ik", {a}); },
                                      "[einsum] subscripts 'ij,jk->ik' name 2 operand(s) but 1 array(s) were given");
  expect_error<std::invalid_argument>([&] { einsum("ij->ik", {a, b}); }, "name 1 operand(s) but 2 array(s)");
  expect_error<std::invalid_argument>([&] { einsum("ij->ii", {a}); },
                                      "[einsum] output subscript 'i' appears more than once in 'ij->ii'");
  expect_error<std::invalid_argument>([&] { einsum("ij->k", {a}); },
                                      "[einsum] output subscript 'k' does not appear in the inputs");
  expect_error<std::invalid_argument>([&] { einsum("ijk->i", {a}); },
                                      "[einsum] operand 0 has 2 dimension(s) but its subscripts 'ijk' name 3");
  expect_error<std::invalid_argument>([&] { einsum("i->i", {a}); }, "operand 0 has 2 dimension(s)");
  expect_error<std::invalid_argument>([&] { einsum("ij->i->j", {a}); }, "more than one '->'");
  expect_error<std::invalid_argument>([&] { einsum("..ij", {a}); }, "[einsum] invalid ellipsis in term '..ij'");
  expect_error<std::invalid_argument>([&] { einsum("...i...", {a}); }, "invalid ellipsis");
  expect_error<std::invalid_argument>([&] { einsum("ii", {a}); },
                                      "[einsum] label 'i' is repeated in operand 0 with sizes 3 and 4");
  expect_error<std::invalid_argument>([&] { einsum("", {}); }, "[einsum] needs at least one operand");
  expect_error<std::invalid_argument>(
      [&] {
        einsum("...i->i", {zeros({2, 3})});
      },
      "[einsum] the inputs of '...i->i' have 1 '...' dimension(s) but the output has no");
  EXPECT_EQ(einsum("...i->i", {zeros({3})}).shape(), Shape{3});  // "..." of no axes
  expect_error<std::invalid_argument>([&] { einsum_path("ij,jk", {a, c}); }, "label 'j' has size 4");
}

// ---------------------------------------------------------------- gradients

TEST(GradEinsum, Compositions) {
  using Args = std::vector<array>;
  using grad_check::check_transforms;
  check_transforms([](const Args& x) { return einsum("ij,jk->ik", {x[0], x[1]}); }, {{3, 4}, {4, 2}});
  check_transforms([](const Args& x) { return einsum("bij,bjk->bik", {x[0], x[1]}); }, {{2, 3, 4}, {2, 4, 3}});
  check_transforms([](const Args& x) { return einsum("ii->i", {x[0]}); }, {{4, 4}});
  check_transforms([](const Args& x) { return einsum("iji->j", {x[0]}); }, {{3, 2, 3}});
  check_transforms(
      [](const Args& x) {
        return einsum("ik,jkl,il->ij", {x[0], x[1], x[2]});
      },
      {{3, 4}, {2, 4, 5}, {3, 5}});
  check_transforms([](const Args& x) { return einsum("...ij,...j->...i", {x[0], x[1]}); }, {{2, 3, 4}, {4}});
  check_transforms(
      [](const Args& x) {
        return einsum("ij,jk,kl,lm->im", {x[0], x[1], x[2], x[3]});
      },
      {{2, 3}, {3, 4}, {4, 2}, {2, 3}});
  check_transforms([](const Args& x) { return einsum("ij,ij->i", {x[0], x[1]}); }, {{3, 1}, {1, 4}});
}
