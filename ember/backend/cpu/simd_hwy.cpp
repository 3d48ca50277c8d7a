// Highway kernels behind simd.h. This file is compiled once per SIMD target
// (foreach_target.h re-includes it); HWY_DYNAMIC_DISPATCH picks one at run time.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ember/backend/cpu/simd_hwy.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h

#include <hwy/contrib/math/math-inl.h>
#include <hwy/highway.h>

#include <cmath>

#include <limits>
#include "ember/half.h"

HWY_BEFORE_NAMESPACE();
namespace ember::cpu::simd::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Applies a vector function to n floats; the tail goes through a padded buffer
// so every element takes the same (vector) path.
template <class F>
HWY_INLINE void map_f32(const float* in, float* out, int64_t n, F f) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(f(d, hn::LoadU(d, in + i)), d, out + i);
  if (i < n) {
    HWY_ALIGN float buf[HWY_MAX_BYTES / sizeof(float)] = {};
    for (int64_t j = i; j < n; ++j) buf[j - i] = in[j];
    hn::Store(f(d, hn::Load(d, buf)), d, buf);
    for (int64_t j = i; j < n; ++j) out[j] = buf[j - i];
  }
}

template <class D, class V>
HWY_INLINE V safe_exp(D d, V x) {
  // Highway's Exp is valid on [-FLT_MAX, 104]; beyond 89 the answer is inf anyway.
  V y = hn::Exp(d, hn::Min(x, hn::Set(d, 100.0f)));
  return hn::IfThenElse(hn::IsNaN(x), x, y);
}

void ExpF32(const float* in, float* out, int64_t n) {
  map_f32(in, out, n, [](auto d, auto x) { return safe_exp(d, x); });
}

// Computed in double lanes: 1 / (1 + exp(-x)) in float32 compounds Exp's 1 ulp
// with two roundings (just over 2 ulp for x near -16); in double the result
// is rounded to float32 once. x is clamped so exp(-x) stays finite.
template <class DD>
HWY_INLINE hn::Vec<DD> sigmoid_f64(DD dd, hn::Vec<DD> x) {
  auto one = hn::Set(dd, 1.0);
  auto e = hn::Exp(dd, hn::Min(hn::Neg(x), hn::Set(dd, 700.0)));
  return hn::IfThenElse(hn::IsNaN(x), x, hn::Div(one, hn::Add(one, e)));
}

void SigmoidF32(const float* in, float* out, int64_t n) {
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> df;
  const int64_t N = static_cast<int64_t>(hn::Lanes(dd));
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    hn::StoreU(hn::DemoteTo(df, sigmoid_f64(dd, hn::PromoteTo(dd, hn::LoadU(df, in + i)))), df, out + i);
  }
  if (i < n) {
    HWY_ALIGN float buf[HWY_MAX_BYTES / sizeof(float)] = {};
    for (int64_t j = i; j < n; ++j) buf[j - i] = in[j];
    hn::StoreU(hn::DemoteTo(df, sigmoid_f64(dd, hn::PromoteTo(dd, hn::LoadU(df, buf)))), df, buf);
    for (int64_t j = i; j < n; ++j) out[j] = buf[j - i];
  }
}

double SumF32(const float* in, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  double total = 0.0;
  constexpr int64_t kBlock = 4096;
  for (int64_t b = 0; b < n; b += kBlock) {
    int64_t e = std::min(n, b + kBlock);
    auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
    int64_t i = b;
    for (; i + 4 * N <= e; i += 4 * N) {
      a0 = hn::Add(a0, hn::LoadU(d, in + i));
      a1 = hn::Add(a1, hn::LoadU(d, in + i + N));
      a2 = hn::Add(a2, hn::LoadU(d, in + i + 2 * N));
      a3 = hn::Add(a3, hn::LoadU(d, in + i + 3 * N));
    }
    for (; i + N <= e; i += N) a0 = hn::Add(a0, hn::LoadU(d, in + i));
    float part = hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))));
    for (; i < e; ++i) part += in[i];
    total += part;
  }
  return total;
}

template <bool kMax>
float ExtremeF32(const float* in, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  float init = kMax ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity();
  auto acc0 = hn::Set(d, init), acc1 = hn::Set(d, init);
  auto nan_seen = hn::Zero(d);  // any lane nan -> result nan
  int64_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    auto x0 = hn::LoadU(d, in + i), x1 = hn::LoadU(d, in + i + N);
    nan_seen = hn::Or(nan_seen, hn::VecFromMask(d, hn::IsNaN(x0)));
    nan_seen = hn::Or(nan_seen, hn::VecFromMask(d, hn::IsNaN(x1)));
    acc0 = kMax ? hn::Max(acc0, x0) : hn::Min(acc0, x0);
    acc1 = kMax ? hn::Max(acc1, x1) : hn::Min(acc1, x1);
  }
  auto acc = kMax ? hn::Max(acc0, acc1) : hn::Min(acc0, acc1);
  float r = kMax ? hn::GetLane(hn::MaxOfLanes(d, acc)) : hn::GetLane(hn::MinOfLanes(d, acc));
  bool has_nan = !hn::AllTrue(d, hn::Eq(nan_seen, hn::Zero(d)));
  for (; i < n; ++i) {
    if (std::isnan(in[i])) has_nan = true;
    r = kMax ? std::max(r, in[i]) : std::min(r, in[i]);
  }
  return has_nan ? std::numeric_limits<float>::quiet_NaN() : r;
}
float MaxF32(const float* in, int64_t n) { return ExtremeF32<true>(in, n); }
float MinF32(const float* in, int64_t n) { return ExtremeF32<false>(in, n); }

template <int kOp>  // 0 add, 1 max, 2 min
void AccumulateF32(const float* in, float* acc, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    auto a = hn::LoadU(d, acc + i), x = hn::LoadU(d, in + i);
    if constexpr (kOp == 0) {
      a = hn::Add(a, x);
    } else {
      // x86 max/min return the other operand when one is nan; a + x keeps it.
      a = hn::IfThenElse(hn::Or(hn::IsNaN(a), hn::IsNaN(x)), hn::Add(a, x), kOp == 1 ? hn::Max(a, x) : hn::Min(a, x));
    }
    hn::StoreU(a, d, acc + i);
  }
  for (; i < n; ++i) {
    if constexpr (kOp == 0) {
      acc[i] += in[i];
    } else if (std::isnan(in[i]) || std::isnan(acc[i])) {
      acc[i] = std::numeric_limits<float>::quiet_NaN();
    } else {
      acc[i] = kOp == 1 ? std::max(acc[i], in[i]) : std::min(acc[i], in[i]);
    }
  }
}
void AccumulateAddF32(const float* in, float* acc, int64_t n) { AccumulateF32<0>(in, acc, n); }
void AccumulateMaxF32(const float* in, float* acc, int64_t n) { AccumulateF32<1>(in, acc, n); }
void AccumulateMinF32(const float* in, float* acc, int64_t n) { AccumulateF32<2>(in, acc, n); }

// Widens n 16-bit floats (float16 or bfloat16, by Half) to float32; exact.
template <class Half>
HWY_INLINE void widen_to_f32(const uint16_t* in, float* out, int64_t n) {
  const hn::ScalableTag<float> df;
  const hn::Rebind<Half, decltype(df)> dh;
  const auto* src = reinterpret_cast<const Half*>(in);
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::PromoteTo(df, hn::LoadU(dh, src + i)), df, out + i);
  if (i < n) {
    HWY_ALIGN Half buf[HWY_MAX_BYTES / sizeof(float)] = {};
    HWY_ALIGN float res[HWY_MAX_BYTES / sizeof(float)];
    for (int64_t j = i; j < n; ++j) buf[j - i] = src[j];
    hn::Store(hn::PromoteTo(df, hn::Load(dh, buf)), df, res);
    for (int64_t j = i; j < n; ++j) out[j] = res[j - i];
  }
}

void F16ToF32(const uint16_t* in, float* out, int64_t n) { widen_to_f32<hwy::float16_t>(in, out, n); }

// float32 -> float16 bits, round to nearest even (subnormals, overflow to inf, nan kept).
// x86 targets with F16C (AVX2 and up) convert in hardware; elsewhere each element goes
// through float16_t, whose rounding the tests hold to GCC's _Float16.
void F32ToF16(const float* in, uint16_t* out, int64_t n) {
  int64_t i = 0;
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
  const hn::ScalableTag<float> df;
  const hn::Rebind<hwy::float16_t, decltype(df)> dh;
  auto* dst = reinterpret_cast<hwy::float16_t*>(out);
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  for (; i + N <= n; i += N) hn::StoreU(hn::DemoteTo(dh, hn::LoadU(df, in + i)), dh, dst + i);
#endif
  for (; i < n; ++i) out[i] = ember::float16_t(in[i]).bits_;
}

// float32 -> bfloat16 bits, round to nearest even in integer lanes: add 0x7fff plus the
// lowest kept bit, keep the top half; nan becomes a quiet nan of the same sign.
void F32ToBF16(const float* in, uint16_t* out, int64_t n) {
  const hn::ScalableTag<uint32_t> du;
  const hn::Rebind<float, decltype(du)> df;
  const hn::Rebind<int32_t, decltype(du)> di;
  const hn::Rebind<uint16_t, decltype(du)> dh;
  const int64_t N = static_cast<int64_t>(hn::Lanes(du));
  auto narrow = [&](auto v) {
    auto bits = hn::BitCast(du, v);
    auto lsb = hn::And(hn::ShiftRight<16>(bits), hn::Set(du, 1u));
    auto rounded = hn::ShiftRight<16>(hn::Add(bits, hn::Add(hn::Set(du, 0x7fffu), lsb)));
    auto quiet = hn::ShiftRight<16>(hn::Or(bits, hn::Set(du, 0x400000u)));
    // Every lane is below 2^16 now: the signed-to-unsigned 16-bit demotion keeps it as is.
    return hn::DemoteTo(dh, hn::BitCast(di, hn::IfThenElse(hn::RebindMask(du, hn::IsNaN(v)), quiet, rounded)));
  };
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(narrow(hn::LoadU(df, in + i)), dh, out + i);
  if (i < n) {
    HWY_ALIGN float buf[HWY_MAX_BYTES / sizeof(float)] = {};
    HWY_ALIGN uint16_t res[HWY_MAX_BYTES / sizeof(float)];
    for (int64_t j = i; j < n; ++j) buf[j - i] = in[j];
    hn::Store(narrow(hn::Load(df, buf)), dh, res);
    for (int64_t j = i; j < n; ++j) out[j] = res[j - i];
  }
}
void BF16ToF32(const uint16_t* in, float* out, int64_t n) { widen_to_f32<hwy::bfloat16_t>(in, out, n); }

// Four keys at a time share each load of q; every score has its own accumulator, so a score's
// value depends only on q and its key.
void ScoresF32(const float* q, int64_t D, const float* k, int64_t ks, int64_t n, float scale, float* s) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d)), Dv = D / N * N;
  auto tail = [&](const float* kr) {
    float t = 0.0f;
    for (int64_t e = Dv; e < D; ++e) t += q[e] * kr[e];
    return t;
  };
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    const float *k0 = k + j * ks, *k1 = k0 + ks, *k2 = k1 + ks, *k3 = k2 + ks;
    auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
    for (int64_t e = 0; e < Dv; e += N) {
      const auto qv = hn::LoadU(d, q + e);
      a0 = hn::MulAdd(qv, hn::LoadU(d, k0 + e), a0);
      a1 = hn::MulAdd(qv, hn::LoadU(d, k1 + e), a1);
      a2 = hn::MulAdd(qv, hn::LoadU(d, k2 + e), a2);
      a3 = hn::MulAdd(qv, hn::LoadU(d, k3 + e), a3);
    }
    s[j] = (hn::GetLane(hn::SumOfLanes(d, a0)) + tail(k0)) * scale;
    s[j + 1] = (hn::GetLane(hn::SumOfLanes(d, a1)) + tail(k1)) * scale;
    s[j + 2] = (hn::GetLane(hn::SumOfLanes(d, a2)) + tail(k2)) * scale;
    s[j + 3] = (hn::GetLane(hn::SumOfLanes(d, a3)) + tail(k3)) * scale;
  }
  for (; j < n; ++j) {
    const float* kr = k + j * ks;
    auto a = hn::Zero(d);
    for (int64_t e = 0; e < Dv; e += N) a = hn::MulAdd(hn::LoadU(d, q + e), hn::LoadU(d, kr + e), a);
    s[j] = (hn::GetLane(hn::SumOfLanes(d, a)) + tail(kr)) * scale;
  }
}

// Up to four vectors of the output stay in registers across all n rows of v.
void WeightedSumF32(const float* p, int64_t n, const float* v, int64_t vs, int64_t Dv, float* out) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d)), full = Dv / N * N;
  int64_t e0 = 0;
  for (; e0 + 4 * N <= full; e0 += 4 * N) {
    auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
    for (int64_t j = 0; j < n; ++j) {
      const auto pj = hn::Set(d, p[j]);
      const float* vr = v + j * vs + e0;
      a0 = hn::MulAdd(pj, hn::LoadU(d, vr), a0);
      a1 = hn::MulAdd(pj, hn::LoadU(d, vr + N), a1);
      a2 = hn::MulAdd(pj, hn::LoadU(d, vr + 2 * N), a2);
      a3 = hn::MulAdd(pj, hn::LoadU(d, vr + 3 * N), a3);
    }
    hn::StoreU(a0, d, out + e0);
    hn::StoreU(a1, d, out + e0 + N);
    hn::StoreU(a2, d, out + e0 + 2 * N);
    hn::StoreU(a3, d, out + e0 + 3 * N);
  }
  for (; e0 < full; e0 += N) {
    auto a = hn::Zero(d);
    for (int64_t j = 0; j < n; ++j) a = hn::MulAdd(hn::Set(d, p[j]), hn::LoadU(d, v + j * vs + e0), a);
    hn::StoreU(a, d, out + e0);
  }
  for (int64_t e = full; e < Dv; ++e) {
    float a = 0.0f;
    for (int64_t j = 0; j < n; ++j) a += p[j] * v[j * vs + e];
    out[e] = a;
  }
}

}  // namespace ember::cpu::simd::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <hwy/targets.h>

namespace ember::cpu::simd {

HWY_EXPORT(ExpF32);
HWY_EXPORT(SigmoidF32);
HWY_EXPORT(SumF32);
HWY_EXPORT(MaxF32);
HWY_EXPORT(MinF32);
HWY_EXPORT(AccumulateAddF32);
HWY_EXPORT(AccumulateMaxF32);
HWY_EXPORT(AccumulateMinF32);
HWY_EXPORT(F16ToF32);
HWY_EXPORT(BF16ToF32);
HWY_EXPORT(F32ToF16);
HWY_EXPORT(F32ToBF16);
HWY_EXPORT(ScoresF32);
HWY_EXPORT(WeightedSumF32);

void exp_f32(const float* in, float* out, int64_t n) { HWY_DYNAMIC_DISPATCH(ExpF32)(in, out, n); }
void sigmoid_f32(const float* in, float* out, int64_t n) { HWY_DYNAMIC_DISPATCH(SigmoidF32)(in, out, n); }
double sum_f32(const float* in, int64_t n) { return HWY_DYNAMIC_DISPATCH(SumF32)(in, n); }
float max_f32(const float* in, int64_t n) { return HWY_DYNAMIC_DISPATCH(MaxF32)(in, n); }
float min_f32(const float* in, int64_t n) { return HWY_DYNAMIC_DISPATCH(MinF32)(in, n); }
void accumulate_add_f32(const float* in, float* acc, int64_t n) { HWY_DYNAMIC_DISPATCH(AccumulateAddF32)(in, acc, n); }
void accumulate_max_f32(const float* in, float* acc, int64_t n) { HWY_DYNAMIC_DISPATCH(AccumulateMaxF32)(in, acc, n); }
void accumulate_min_f32(const float* in, float* acc, int64_t n) { HWY_DYNAMIC_DISPATCH(AccumulateMinF32)(in, acc, n); }

void f16_to_f32(const uint16_t* in, float* out, int64_t n) { HWY_DYNAMIC_DISPATCH(F16ToF32)(in, out, n); }
void bf16_to_f32(const uint16_t* in, float* out, int64_t n) { HWY_DYNAMIC_DISPATCH(BF16ToF32)(in, out, n); }

void f32_to_f16(const float* in, uint16_t* out, int64_t n) { HWY_DYNAMIC_DISPATCH(F32ToF16)(in, out, n); }
void f32_to_bf16(const float* in, uint16_t* out, int64_t n) { HWY_DYNAMIC_DISPATCH(F32ToBF16)(in, out, n); }

void scores_f32(const float* q, int64_t D, const float* k, int64_t ks, int64_t n, float scale, float* s) {
  HWY_DYNAMIC_DISPATCH(ScoresF32)(q, D, k, ks, n, scale, s);
}
void weighted_sum_f32(const float* p, int64_t n, const float* v, int64_t vs, int64_t Dv, float* out) {
  HWY_DYNAMIC_DISPATCH(WeightedSumF32)(p, n, v, vs, Dv, out);
}

const char* target_name() { return hwy::TargetName(hwy::SupportedAndGeneratedTargets()[0]); }

}  // namespace ember::cpu::simd
#endif
