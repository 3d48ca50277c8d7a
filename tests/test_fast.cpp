// The fused transformer ops (ember/fast.h) against float64 loops written here from the
// definitions, over dtypes, layouts (transposed, sliced KV caches) and masks; their gradients,
// jvp and vmap through grad_check; and their argument errors.
#include <gtest/gtest.h>

#include <ember/ember.h>

#include <cmath>
#include <random>
#include <vector>

#include "grad_check.h"
#include "test_utils.h"

using namespace ember;
using test_utils::expect_error;
using test_utils::unravel;
using test_utils::values;

namespace {

array rnd(const Shape& shape, Dtype t, uint64_t seed, double scale = 1.0) {
  array a = astype(multiply(random::normal(shape, float32, 0.0, 1.0, random::key(seed)), array(float(scale))), t);
  a.eval();
  return a;
}

// Tolerance of a result in dtype t computed from the same rounded inputs.
double tol_for(Dtype t) { return t == float64 ? 1e-12 : t == float32 ? 2e-5 : t == float16 ? 4e-3 : 3e-2; }

void expect_near_all(const std::vector<double>& got, const std::vector<double>& want, double tol,
                     const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], tol * (1 + std::abs(want[i]))) << what << " at " << i;
  }
}

const std::vector<Dtype> kFloatTypes = {float32, float16, bfloat16, float64};

}  // namespace

TEST(Fast, RmsNormMatchesDefinition) {
  for (Dtype t : kFloatTypes) {
    for (bool with_w : {true, false}) {
      Shape shape{3, 5, 96};
      array x = rnd(shape, t, 1, 3.0);
      array w = rnd({96}, t, 2);
      array y = fast::rms_norm(x, with_w ? std::optional<array>(w) : std::nullopt, 1e-5f);
      ASSERT_EQ(y.dtype(), t);
      ASSERT_EQ(y.shape(), shape);
      std::vector<double> xv = values(x), wv = values(w), want(xv.size());
      for (size_t r = 0; r < xv.size() / 96; ++r) {
        double ss = 0;
        for (int i = 0; i < 96; ++i) ss += xv[r * 96 + i] * xv[r * 96 + i];
        double s = 1 / std::sqrt(ss / 96 + 1e-5);
        for (int i = 0; i < 96; ++i) want[r * 96 + i] = xv[r * 96 + i] * s * (with_w ? wv[i] : 1.0);
      }
      expect_near_all(values(y), want, 2 * tol_for(t), std::string("rms_norm ") + dtype_name(t));
    }
  }
  // A float32 weight promotes a float16 x, and a transposed x reads through its strides.
  array x = transpose(rnd({64, 4}, float16, 3), {1, 0});
  array y = fast::rms_norm(x, rnd({64}, float32, 4), 1e-6f);
  EXPECT_EQ(y.dtype(), float32);
  array ref = multiply(
      astype(multiply(astype(x, float32), rsqrt(add(mean(square(astype(x, float32)), -1, true), array(1e-6f)))),
             float32),
      rnd({64}, float32, 4));
  expect_near_all(values(y), values(ref), 1e-5, "rms_norm promoted");
}

TEST(Fast, LayerNormMatchesDefinition) {
  for (Dtype t : kFloatTypes) {
    for (int mode = 0; mode < 3; ++mode) {  // weight and bias, weight only, neither
      array x = add(rnd({4, 7, 80}, t, 5, 2.0), array(1.5f, t));
      array w = rnd({80}, t, 6), b = rnd({80}, t, 7);
      std::optional<array> wo = mode < 2 ? std::optional<array>(w) : std::nullopt;
      std::optional<array> bo = mode == 0 ? std::optional<array>(b) : std::nullopt;
      array y = fast::layer_norm(x, wo, bo, 1e-5f);
      std::vector<double> xv = values(x), wv = values(w), bv = values(b), want(xv.size());
      for (size_t r = 0; r < xv.size() / 80; ++r) {
        double m = 0, v = 0;
        for (int i = 0; i < 80; ++i) m += xv[r * 80 + i] / 80;
        for (int i = 0; i < 80; ++i) v += (xv[r * 80 + i] - m) * (xv[r * 80 + i] - m) / 80;
        for (int i = 0; i < 80; ++i) {
          double n = (xv[r * 80 + i] - m) / std::sqrt(v + 1e-5);
          want[r * 80 + i] = n * (wo ? wv[i] : 1.0) + (bo ? bv[i] : 0.0);
        }
      }
      expect_near_all(values(y), want, 2 * tol_for(t), std::string("layer_norm ") + dtype_name(t));
    }
  }
}

namespace {

// RoPE from its definition in float64: x (N, T, D) row-major values.
std::vector<double> rope_ref(const std::vector<double>& x, int N, int T, int D, int dims, bool traditional, double base,
                             double scale, int offset, const std::vector<double>* freqs) {
  std::vector<double> y = x;
  int half = dims / 2;
  for (int n = 0; n < N; ++n) {
    for (int t = 0; t < T; ++t) {
      const double* xr = x.data() + (static_cast<size_t>(n) * T + t) * D;
      double* yr = y.data() + (static_cast<size_t>(n) * T + t) * D;
      for (int i = 0; i < half; ++i) {
        double inv = freqs ? 1.0 / (*freqs)[i] : std::pow(base, -2.0 * i / dims);
        double th = (offset + t) * scale * inv;
        int a = traditional ? 2 * i : i, b = traditional ? 2 * i + 1 : i + half;
        yr[a] = xr[a] * std::cos(th) - xr[b] * std::sin(th);
        yr[b] = xr[a] * std::sin(th) + xr[b] * std::cos(th);
      }
    }
  }
  return y;
}

}  // namespace

TEST(Fast, RopeMatchesDefinition) {
  for (Dtype t : kFloatTypes) {
    for (bool traditional : {false, true}) {
      for (int dims : {64, 32}) {  // all features, and a partial rotation
        int offset = 37;
        array x = rnd({2, 3, 11, 64}, t, 8);
        array y = fast::rope(x, dims, traditional, 10000.0f, 1.0f, offset);
        // The angle grows with the position: float32 angles lose ~1e-7 of it.
        double tol = t == float64 ? 1e-10 : std::max(tol_for(t), 4e-6 * (offset + 11));
        expect_near_all(values(y), rope_ref(values(x), 6, 11, 64, dims, traditional, 10000.0, 1.0, offset, nullptr),
                        tol, std::string("rope ") + dtype_name(t) + (traditional ? " traditional" : ""));
      }
    }
  }
  // Custom frequencies and a position scale (how Llama 3 scaling reaches rope).
  std::vector<double> fv;
  for (int i = 0; i < 16; ++i) fv.push_back(std::pow(500000.0, 2.0 * i / 32) * (1 + 0.1 * i));
  array freqs = astype(array(fv.data(), {16}, float64), float32);
  array x = rnd({1, 2, 9, 48}, float32, 9);
  array y = fast::rope(x, 32, false, std::nullopt, 0.5f, 3, freqs);
  std::vector<double> f32 = values(freqs);
  expect_near_all(values(y), rope_ref(values(x), 2, 9, 48, 32, false, 0, 0.5, 3, &f32), 1e-5, "rope freqs");
  // A transposed input (B, T, H, D) -> (B, H, T, D) view.
  array xt = swapaxes(rnd({1, 9, 2, 32}, float32, 10), 1, 2);
  expect_near_all(values(fast::rope(xt, 32, false, 10000.0f, 1.0f, 0)),
                  rope_ref(values(xt), 2, 9, 32, 32, false, 10000.0, 1.0, 0, nullptr), 1e-5, "rope strided");
}

namespace {

// Bit-for-bit equal on the CPU, whose kernels promise it; within `tol` on a GPU, where the
// array-offset rope is built from basic ops and attention's kernels make no such promise.
void expect_same(const array& got, const array& want, double tol) {
  if (default_device() == Device(Device::cpu)) {
    EXPECT_TRUE(array_equal(got, want).item<bool>());
  } else {
    expect_near_all(values(got), values(want), tol, "same");
  }
}

}  // namespace

TEST(Fast, RopeWithPerSequenceOffsets) {
  // One start position per index of axis 0 (sequences of a decode batch at their own
  // positions): each sequence against the definition and, exactly, against rope run on it alone
  // with an int offset; a scalar array offset as the int one.
  const std::vector<int32_t> starts = {0, 7, 130};
  for (Dtype t : kFloatTypes) {
    for (bool traditional : {false, true}) {
      for (int dims : {32, 16}) {
        SCOPED_TRACE(std::string(dtype_name(t)) + (traditional ? " traditional" : "") + " dims " +
                     std::to_string(dims));
        array x = rnd({3, 2, 5, 32}, t, 21);
        array y = fast::rope(x, dims, traditional, 10000.0f, 1.0f, array(starts, {3}, int32));
        for (int b = 0; b < 3; ++b) {
          array xb = slice(x, {b, 0, 0, 0}, {b + 1, 2, 5, 32}), yb = slice(y, {b, 0, 0, 0}, {b + 1, 2, 5, 32});
          double tol = t == float64 ? 1e-10 : std::max(tol_for(t), 4e-6 * (starts[b] + 5));
          expect_near_all(values(yb),
                          rope_ref(values(xb), 2, 5, 32, dims, traditional, 10000.0, 1.0, starts[b], nullptr), tol,
                          "rope offsets row " + std::to_string(b));
          expect_same(yb, fast::rope(xb, dims, traditional, 10000.0f, 1.0f, starts[b]), tol);
        }
        expect_same(fast::rope(x, dims, traditional, 10000.0f, 1.0f, array(9)),
                    fast::rope(x, dims, traditional, 10000.0f, 1.0f, 9), tol_for(t));
      }
    }
  }
  // Custom frequencies with a position scale, and (B, T, D) input.
  array freqs = astype(array({1.0, 3.0, 10.0, 30.0}, {4}, float64), float32);
  array x3 = rnd({2, 6, 8}, float32, 22);
  array y3 = fast::rope(x3, 8, false, std::nullopt, 0.5f, array({2, 40}, {2}, int32), freqs);
  std::vector<double> fv = values(freqs);
  for (int b = 0; b < 2; ++b) {
    array xb = slice(x3, {b, 0, 0}, {b + 1, 6, 8});
    expect_near_all(values(slice(y3, {b, 0, 0}, {b + 1, 6, 8})),
                    rope_ref(values(xb), 1, 6, 8, 8, false, 0, 0.5, b == 0 ? 2 : 40, &fv), 1e-5, "rope offsets freqs");
  }
  // The gradient (through the op written with basic ops) against each sequence's own.
  array x = rnd({2, 3, 4, 16}, float32, 23), ct = rnd({2, 3, 4, 16}, float32, 24);
  auto [out, grad] = vjp(
      [](const array& a) {
        return fast::rope(a, 16, false, 10000.0f, 1.0f, array({5, 60}, {2}));
      },
      x, ct);
  for (int b = 0; b < 2; ++b) {
    const int off = b == 0 ? 5 : 60;
    auto one = [&](const array& a) { return slice(a, {b, 0, 0, 0}, {b + 1, 3, 4, 16}); };
    auto [ob, gb] =
        vjp([off](const array& a) { return fast::rope(a, 16, false, 10000.0f, 1.0f, off); }, one(x), one(ct));
    expect_near_all(values(one(grad)), values(gb), 1e-5, "rope offsets vjp row " + std::to_string(b));
  }
  // Errors name the op and the shapes.
  array x4 = rnd({2, 3, 4, 16}, float32, 25);
  expect_error<std::invalid_argument>(
      [&] {
        fast::rope(x4, 16, false, 10000.0f, 1.0f, array({1.0f, 2.0f}));
      },
      "[rope] offset must be an integer");
  expect_error<std::invalid_argument>(
      [&] {
        fast::rope(x4, 16, false, 10000.0f, 1.0f, array({1, 2, 3}));
      },
      "one offset per index");
  expect_error<std::invalid_argument>(
      [&] {
        fast::rope(x4, 16, false, 10000.0f, 1.0f, array({1, 2, 3, 4}, {2, 2}));
      },
      "(2, 2)");
  expect_error<std::invalid_argument>(
      [&] {
        fast::rope(rnd({2, 16}, float32, 26), 16, false, 10000.0f, 1.0f, array({1, 2}));
      },
      "at least 3-D");
}

TEST(Fast, DecodeAttentionSkipsLeadingMaskedKeys) {
  // A left-padded batch of caches (the padding masked out) gives each row exactly what its
  // own unpadded keys give.
  const int Hq = 4, Hkv = 2, D = 16;
  const std::vector<int> lengths = {9, 3, 14};
  const int L = 14;
  array q = rnd({3, Hq, 1, D}, float32, 31), k = rnd({3, Hkv, L, D}, float32, 32), v = rnd({3, Hkv, L, D}, float32, 33);
  std::vector<uint8_t> m(3 * L);
  for (int b = 0; b < 3; ++b) {
    for (int j = 0; j < L; ++j) m[b * L + j] = j >= L - lengths[b];
  }
  array mask = astype(array(m, {3, 1, 1, L}, uint8), bool_);
  array out = fast::scaled_dot_product_attention(q, k, v, 0.25f, "", mask);
  for (int b = 0; b < 3; ++b) {
    auto rows = [&](const array& a, int from) { return slice(a, {b, 0, from, 0}, {b + 1, a.shape(1), a.shape(2), D}); };
    array alone =
        fast::scaled_dot_product_attention(rows(q, 0), rows(k, L - lengths[b]), rows(v, L - lengths[b]), 0.25f);
    SCOPED_TRACE("row " + std::to_string(b));
    expect_same(rows(out, 0), alone, 1e-5);
  }
}

TEST(Fast, CausalAttentionRowsDoNotDependOnTheOtherRows) {
  // A float32 causal prefill's row takes exactly the keys up to its own position: the last
  // rows of a prompt computed after the others (a cached prefix) give the same bits as within
  // the whole prompt, and one row alone (a decode step) the same as among them. (The CPU's
  // kernel: the GPU's make no such promise.)
  const Device cpu(Device::cpu);
  for (int D : {16, 64}) {
    const int Hq = 9, Hkv = 3, T = 37;
    array q = rnd({1, Hq, T, D}, float32, 41), k = rnd({1, Hkv, T, D}, float32, 42),
          v = rnd({1, Hkv, T, D}, float32, 43);
    array whole = fast::scaled_dot_product_attention(q, k, v, 0.125f, "causal", std::nullopt, cpu);
    for (int from : {1, 12, 29, 33, 36}) {
      SCOPED_TRACE("D " + std::to_string(D) + ", rows from " + std::to_string(from));
      array last = slice(q, {0, 0, from, 0}, {1, Hq, T, D});
      array part = fast::scaled_dot_product_attention(last, k, v, 0.125f, "causal", std::nullopt, cpu);
      EXPECT_TRUE(array_equal(part, slice(whole, {0, 0, from, 0}, {1, Hq, T, D})).item<bool>());
    }
  }
}

namespace {

// Attention from its definition in float64. q (B,Hq,Tq,D), k (B,Hkv,Tk,D), v (B,Hkv,Tk,Dv)
// row-major values; mask (B,Hq,Tq,Tk) values: kind 0 none, 1 causal, 2 boolean, 3 additive.
std::vector<double> sdpa_ref(const std::vector<double>& q, const std::vector<double>& k, const std::vector<double>& v,
                             const std::vector<double>& mask, int kind, int B, int Hq, int Hkv, int Tq, int Tk, int D,
                             int Dv, double scale) {
  std::vector<double> out(static_cast<size_t>(B) * Hq * Tq * Dv);
  int rep = Hq / Hkv;
  for (int b = 0; b < B; ++b) {
    for (int h = 0; h < Hq; ++h) {
      int g = h / rep;
      for (int i = 0; i < Tq; ++i) {
        std::vector<double> s(Tk);
        std::vector<bool> keep(Tk, true);
        for (int j = 0; j < Tk; ++j) {
          double dot = 0;
          for (int d = 0; d < D; ++d)
            dot += q[((static_cast<size_t>(b) * Hq + h) * Tq + i) * D + d] *
                   k[((static_cast<size_t>(b) * Hkv + g) * Tk + j) * D + d];
          s[j] = dot * scale;
          size_t mi = ((static_cast<size_t>(b) * Hq + h) * Tq + i) * Tk + j;
          if (kind == 1) keep[j] = j <= i + Tk - Tq;
          if (kind == 2) keep[j] = mask[mi] != 0;
          if (kind == 3) s[j] += mask[mi];
        }
        double m = -INFINITY, sum = 0;
        for (int j = 0; j < Tk; ++j)
          if (keep[j]) m = std::max(m, s[j]);
        for (int j = 0; j < Tk; ++j) sum += keep[j] ? std::exp(s[j] - m) : 0.0;
        for (int d = 0; d < Dv; ++d) {
          double acc = 0;
          for (int j = 0; j < Tk; ++j)
            if (keep[j]) acc += std::exp(s[j] - m) / sum * v[((static_cast<size_t>(b) * Hkv + g) * Tk + j) * Dv + d];
          out[((static_cast<size_t>(b) * Hq + h) * Tq + i) * Dv + d] = acc;
        }
      }
    }
  }
  return out;
}

}  // namespace

TEST(Fast, AttentionMatchesDefinition) {
  struct Case {
    int B, Hq, Hkv, Tq, Tk, D, Dv;
  };
  // Prefill (square and with a cached prefix), decode (Tq = 1, 3), grouped and plain heads.
  std::vector<Case> cases = {{2, 4, 2, 9, 9, 16, 16},
                             {1, 6, 2, 7, 12, 32, 24},
                             {2, 3, 3, 1, 20, 16, 16},
                             {1, 8, 2, 3, 17, 64, 64},
                             {1, 2, 1, 40, 40, 8, 8},
                             // Several blocks of 64 query positions (causal blocks see fewer keys).
                             {1, 4, 2, 150, 170, 16, 16},
                             {1, 2, 2, 130, 130, 8, 8},
                             // Beyond kRowExactKeys keys: the CPU's blocked BLAS products.
                             {1, 2, 1, 70, fast::kRowExactKeys + 60, 16, 16},
                             // Decoding over long caches: the GPU kernel splits the keys into runs
                             // (flash-decoding), head sizes up to its limit of 256.
                             {1, 4, 1, 1, 1000, 128, 128},
                             {2, 2, 2, 2, 700, 256, 200},
                             {1, 8, 8, 8, 300, 80, 72}};
  uint64_t seed = 100;
  for (Dtype t : kFloatTypes) {
    for (const Case& c : cases) {
      for (int kind = 0; kind < 4; ++kind) {
        array q = rnd({c.B, c.Hq, c.Tq, c.D}, t, seed++), k = rnd({c.B, c.Hkv, c.Tk, c.D}, t, seed++);
        array v = rnd({c.B, c.Hkv, c.Tk, c.Dv}, t, seed++);
        Shape ms{c.B, c.Hq, c.Tq, c.Tk};
        array mask = kind == 2 ? greater(random::uniform({c.Tq, c.Tk}, float32, random::key(seed++)), array(0.3f))
                               : rnd({c.B, 1, c.Tq, c.Tk}, float32, seed++);
        if (kind == 2) mask = logical_or(mask, reshape(equal(arange(c.Tk), array(0)), {1, c.Tk}));  // one key each
        double scale = static_cast<float>(1.0 / std::sqrt(c.D));  // the op takes a float
        array y = fast::scaled_dot_product_attention(q, k, v, static_cast<float>(scale), kind == 1 ? "causal" : "",
                                                     kind >= 2 ? std::optional<array>(mask) : std::nullopt);
        ASSERT_EQ(y.shape(), (Shape{c.B, c.Hq, c.Tq, c.Dv}));
        ASSERT_EQ(y.dtype(), t);
        std::vector<double> mv = kind >= 2 ? values(broadcast_to(astype(mask, float64), ms)) : std::vector<double>{};
        auto want = sdpa_ref(values(q), values(k), values(v), mv, kind, c.B, c.Hq, c.Hkv, c.Tq, c.Tk, c.D, c.Dv, scale);
        expect_near_all(
            values(y), want, 3 * tol_for(t),
            std::string("sdpa ") + dtype_name(t) + " kind " + std::to_string(kind) + " Tq " + std::to_string(c.Tq));
      }
    }
  }
}

TEST(Fast, AttentionReadsSlicedCacheWithoutCopy) {
  // K/V as the first Tk positions of a preallocated cache (B, H, Tmax, D): a strided view.
  array kc = rnd({1, 2, 64, 16}, float32, 300), vc = rnd({1, 2, 64, 16}, float32, 301);
  for (int Tq : {1, 6}) {
    array k = slice(kc, {0, 0, 0, 0}, {1, 2, 21, 16}), v = slice(vc, {0, 0, 0, 0}, {1, 2, 21, 16});
    array q = rnd({1, 4, Tq, 16}, float32, 302);
    array y = fast::scaled_dot_product_attention(q, k, v, 0.25f, "causal");
    auto want = sdpa_ref(values(q), values(k), values(v), {}, 1, 1, 4, 2, Tq, 21, 16, 16, 0.25);
    expect_near_all(values(y), want, 1e-5, "sdpa cache slice Tq " + std::to_string(Tq));
  }
}

TEST(GradFast, FusedOpsDifferentiateThroughTheirFallbacks) {
  grad_check::check([](const std::vector<array>& x) { return fast::rms_norm(x[0], x[1], 1e-5f); }, {{3, 16}, {16}});
  grad_check::check([](const std::vector<array>& x) { return fast::rms_norm(x[0], std::nullopt, 1e-5f); }, {{2, 8}});
  grad_check::check([](const std::vector<array>& x) { return fast::layer_norm(x[0], x[1], x[2], 1e-5f); },
                    {{3, 12}, {12}, {12}});
  grad_check::check([](const std::vector<array>& x) { return fast::rope(x[0], 8, false, 10000.0f, 1.0f, 5); },
                    {{2, 5, 12}});
  grad_check::check(
      [](const std::vector<array>& x) { return fast::rope(x[0], 8, true, std::nullopt, 2.0f, 1, abs(x[1]) + 1.0); },
      {{1, 4, 8}, {4}});
  grad_check::check(
      [](const std::vector<array>& x) { return fast::scaled_dot_product_attention(x[0], x[1], x[2], 0.5f, "causal"); },
      {{1, 4, 3, 4}, {1, 2, 5, 4}, {1, 2, 5, 3}});
  grad_check::check(
      [](const std::vector<array>& x) {
        return fast::scaled_dot_product_attention(x[0], x[1], x[2], 0.5f, "", x[3]);  // additive mask
      },
      {{1, 2, 3, 4}, {1, 2, 5, 4}, {1, 2, 5, 4}, {3, 5}});
}

TEST(Fast, VmapOfAttentionMatchesALoop) {
  // vmap over a leading axis of q only (k, v shared), through the fallback.
  array q = rnd({3, 1, 2, 4, 8}, float32, 400), k = rnd({1, 1, 4, 8}, float32, 401);
  array v = rnd({1, 1, 4, 8}, float32, 402);
  auto f = vmap(
      [](const std::vector<array>& in) {
        return std::vector<array>{fast::scaled_dot_product_attention(in[0], in[1], in[2], 0.3f, "causal")};
      },
      {0, -1, -1});
  array y = f({q, k, v})[0];
  for (int i = 0; i < 3; ++i) {
    array qi = take(q, array(i), 0);
    expect_near_all(values(take(y, array(i), 0)), values(fast::scaled_dot_product_attention(qi, k, v, 0.3f, "causal")),
                    1e-5, "vmap sdpa");
  }
}

TEST(Fast, BadArgumentsNameTheOpAndValues) {
  array x = zeros({2, 8});
  expect_error<std::invalid_argument>([&] { fast::rms_norm(x, zeros({7}), 1e-5f); },
                                      "[rms_norm] weight must be 1-D of size 8");
  expect_error<std::invalid_argument>(
      [&] {
        fast::rms_norm(zeros({2, 8}, int32), std::nullopt, 1e-5f);
      },
      "[rms_norm] expects floating-point");
  expect_error<std::invalid_argument>([&] { fast::layer_norm(x, std::nullopt, zeros({2}), 1e-5f); },
                                      "[layer_norm] bias must be 1-D of size 8");
  expect_error<std::invalid_argument>(
      [&] {
        fast::rope(zeros({2, 3, 8}), 7, false, 1e4f, 1.0f, 0);
      },
      "[rope] dims must be even and in (0, 8], got 7");
  expect_error<std::invalid_argument>([&] { fast::rope(zeros({8}), 8, false, 1e4f, 1.0f, 0); },
                                      "[rope] x must have at least 2 axes");
  expect_error<std::invalid_argument>(
      [&] {
        fast::rope(zeros({2, 3, 8}), 8, false, std::nullopt, 1.0f, 0);
      },
      "[rope] give exactly one of base and freqs");
  expect_error<std::invalid_argument>(
      [&] {
        fast::rope(zeros({2, 3, 8}), 8, false, std::nullopt, 1.0f, 0, zeros({3}));
      },
      "[rope] freqs must be 1-D of size dims / 2 = 4");
  array q = zeros({1, 3, 2, 4}), kv = zeros({1, 2, 2, 4});
  expect_error<std::invalid_argument>([&] { fast::scaled_dot_product_attention(q, kv, kv, 1.0f); },
                                      "query heads (3) must be a multiple of the key/value heads (2)");
  expect_error<std::invalid_argument>(
      [&] {
        fast::scaled_dot_product_attention(zeros({1, 2, 2, 4}), kv, kv, 1.0f, "sliding");
      },
      "mask_mode must be \"\" or \"causal\", got \"sliding\"");
  expect_error<std::invalid_argument>(
      [&] {
        fast::scaled_dot_product_attention(zeros({1, 2, 2, 4}), kv, kv, 1.0f, "", zeros({3, 2}));
      },
      "does not broadcast to (B, Hq, Tq, Tk) = (1, 2, 2, 2)");
  expect_error<std::invalid_argument>(
      [&] {
        fast::scaled_dot_product_attention(zeros({1, 2, 4}), kv, kv, 1.0f);
      },
      "q, k and v must be 4-D");
}
