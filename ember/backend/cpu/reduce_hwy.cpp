// Highway kernels behind reduce_simd.h. Compiled once per SIMD target
// (foreach_target.h re-includes this file); HWY_DYNAMIC_DISPATCH picks one at run time.
//   rows: nrows pointers to rows of n floats; acc/best/idx: (n,)
// Rows are taken 8 at a time: 8 concurrent streams keep the prefetchers busy and the
// accumulator tile is read and written once per 8 input rows.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "ember/backend/cpu/reduce_hwy.cpp"
#include <hwy/foreach_target.h>  // must come before highway.h

#include <hwy/highway.h>

#include <algorithm>
#include <cmath>

#include "ember/backend/cpu/reduce_simd.h"

HWY_BEFORE_NAMESPACE();
namespace ember::cpu::simd::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

constexpr int64_t kGroup = 8;

template <int kOp, class D, class V>  // 0 add, 1 max, 2 min
HWY_INLINE V combine(D d, V a, V x) {
  if constexpr (kOp == 0) {
    return hn::Add(a, x);
  } else {
    // x86 max/min drop a nan operand; Add keeps it, so use it where either is nan.
    V m = kOp == 1 ? hn::Max(a, x) : hn::Min(a, x);
    return hn::IfThenElse(hn::Or(hn::IsNaN(a), hn::IsNaN(x)), hn::Add(a, x), m);
  }
}

template <int kOp>
float combine_scalar(float a, float x) {
  if constexpr (kOp == 0) {
    return a + x;
  } else {
    if (std::isnan(a) || std::isnan(x)) return a + x;
    return kOp == 1 ? std::max(a, x) : std::min(a, x);
  }
}

template <int kOp>
void AccumulateRows(const float* const* rows, int64_t nrows, float* acc, int64_t n) {
  const hn::ScalableTag<float> d;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  for (int64_t r0 = 0; r0 < nrows; r0 += kGroup) {
    const int64_t g = std::min(kGroup, nrows - r0);
    const float* const* rp = rows + r0;
    int64_t j = 0;
    for (; j + N <= n; j += N) {
      auto a = hn::LoadU(d, acc + j);
      if (kOp == 0 && g == kGroup) {  // a balanced tree of adds: shorter dependency chain
        auto s0 = hn::Add(hn::LoadU(d, rp[0] + j), hn::LoadU(d, rp[1] + j));
        auto s1 = hn::Add(hn::LoadU(d, rp[2] + j), hn::LoadU(d, rp[3] + j));
        auto s2 = hn::Add(hn::LoadU(d, rp[4] + j), hn::LoadU(d, rp[5] + j));
        auto s3 = hn::Add(hn::LoadU(d, rp[6] + j), hn::LoadU(d, rp[7] + j));
        a = hn::Add(a, hn::Add(hn::Add(s0, s1), hn::Add(s2, s3)));
      } else {
        for (int64_t r = 0; r < g; ++r) a = combine<kOp>(d, a, hn::LoadU(d, rp[r] + j));
      }
      hn::StoreU(a, d, acc + j);
    }
    for (; j < n; ++j) {
      float a = acc[j];
      for (int64_t r = 0; r < g; ++r) a = combine_scalar<kOp>(a, rp[r][j]);
      acc[j] = a;
    }
  }
}

void AccumulateRowsF32(const float* const* rows, int64_t nrows, float* acc, int64_t n, ColOp op) {
  switch (op) {
    case ColOp::Add:
      return AccumulateRows<0>(rows, nrows, acc, n);
    case ColOp::Max:
      return AccumulateRows<1>(rows, nrows, acc, n);
    case ColOp::Min:
      return AccumulateRows<2>(rows, nrows, acc, n);
  }
}

template <bool kMax>
void ArgUpdateRows(const float* const* rows, int64_t nrows, uint32_t first, float* best, uint32_t* idx, int64_t n) {
  const hn::ScalableTag<float> d;
  const hn::RebindToUnsigned<decltype(d)> du;
  const int64_t N = static_cast<int64_t>(hn::Lanes(d));
  for (int64_t r0 = 0; r0 < nrows; r0 += kGroup) {
    const int64_t g = std::min(kGroup, nrows - r0);
    const float* const* rp = rows + r0;
    int64_t j = 0;
    for (; j + N <= n; j += N) {
      auto b = hn::LoadU(d, best + j);
      auto ix = hn::LoadU(du, idx + j);
      for (int64_t r = 0; r < g; ++r) {
        auto v = hn::LoadU(d, rp[r] + j);
        // Strictly better, or the first nan (a nan best is never replaced).
        auto take = hn::Or(kMax ? hn::Gt(v, b) : hn::Lt(v, b), hn::AndNot(hn::IsNaN(b), hn::IsNaN(v)));
        b = hn::IfThenElse(take, v, b);
        ix = hn::IfThenElse(hn::RebindMask(du, take), hn::Set(du, static_cast<uint32_t>(first + r0 + r)), ix);
      }
      hn::StoreU(b, d, best + j);
      hn::StoreU(ix, du, idx + j);
    }
    for (; j < n; ++j) {
      for (int64_t r = 0; r < g; ++r) {
        float v = rp[r][j];
        bool take = (kMax ? v > best[j] : v < best[j]) || (std::isnan(v) && !std::isnan(best[j]));
        if (take) {
          best[j] = v;
          idx[j] = static_cast<uint32_t>(first + r0 + r);
        }
      }
    }
  }
}

void ArgUpdateRowsF32(const float* const* rows, int64_t nrows, uint32_t first, float* best, uint32_t* idx, int64_t n,
                      bool is_max) {
  if (is_max) {
    ArgUpdateRows<true>(rows, nrows, first, best, idx, n);
  } else {
    ArgUpdateRows<false>(rows, nrows, first, best, idx, n);
  }
}

}  // namespace ember::cpu::simd::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace ember::cpu::simd {

HWY_EXPORT(AccumulateRowsF32);
HWY_EXPORT(ArgUpdateRowsF32);

void accumulate_rows_f32(const float* const* rows, int64_t nrows, float* acc, int64_t n, ColOp op) {
  HWY_DYNAMIC_DISPATCH(AccumulateRowsF32)(rows, nrows, acc, n, op);
}

void arg_update_rows_f32(const float* const* rows, int64_t nrows, uint32_t first_index, float* best, uint32_t* idx,
                         int64_t n, bool is_max) {
  HWY_DYNAMIC_DISPATCH(ArgUpdateRowsF32)(rows, nrows, first_index, best, idx, n, is_max);
}

}  // namespace ember::cpu::simd
#endif
