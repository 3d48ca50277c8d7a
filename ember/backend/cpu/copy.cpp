#include "ember/backend/cpu/copy.h"

#include <algorithm>
#include <cstring>

#include "ember/backend/common/utils.h"
#include "ember/scheduler.h"

namespace ember::cpu {

namespace {

template <class S, class D>
void copy_loop(const S* src, D* dst, const Shape& shape, const Strides& ss, const Strides& ds, int64_t begin,
               int64_t end) {
  // Axes were collapsed; the innermost runs as a tight loop.
  int inner = shape.back();
  int64_t s_in = ss.back(), d_in = ds.back();
  StridedIterator si(shape, ss, 1), di(shape, ds, 1);
  si.seek(begin);
  di.seek(begin);
  for (int64_t r = begin; r < end; ++r) {
    const S* s = src + si.loc();
    D* d = dst + di.loc();
    if (s_in == 0 && d_in == 1) {  // a broadcast value (zeros, full): a fill
      std::fill_n(d, inner, cast_to<D>(*s));
    } else if (s_in == 1 && d_in == 1) {
      if constexpr (std::is_same_v<S, D>) {
        std::memcpy(d, s, inner * sizeof(S));
      } else {
        for (int i = 0; i < inner; ++i) d[i] = cast_to<D>(s[i]);
      }
    } else {
      for (int i = 0; i < inner; ++i) d[i * d_in] = cast_to<D>(s[i * s_in]);
    }
    si.step();
    di.step();
  }
}

}  // namespace

void copy_strided(const array& src, const array& dst, const Strides& dst_strides, int64_t dst_offset) {
  if (src.size() == 0) return;
  auto [shape, strides] = collapse_contiguous_dims(src.shape(), {src.strides(), dst_strides});
  int64_t rows = 1;
  for (size_t i = 0; i + 1 < shape.size(); ++i) rows *= shape[i];
  int64_t inner = shape.back();
  dispatch_dtype(src.dtype(), [&](auto s) {
    using S = decltype(s);
    dispatch_dtype(dst.dtype(), [&](auto d) {
      using D = decltype(d);
      const S* sp = src.data<S>();
      D* dp = const_cast<array&>(dst).data<D>() + dst_offset;
      if (shape.size() == 1) {
        // One run (a contiguous or broadcast source as a whole): pieces of it over the threads.
        constexpr int64_t kPiece = int64_t{1} << 14;
        const int64_t ss = strides[0][0], ds = strides[1][0];
        scheduler::parallel_for((inner + kPiece - 1) / kPiece, 1, [&](int64_t b, int64_t e) {
          for (int64_t p = b; p < e; ++p) {
            const int64_t at = p * kPiece, len = std::min(kPiece, inner - at);
            copy_loop(sp + at * ss, dp + at * ds, Shape{static_cast<int32_t>(len)}, {ss}, {ds}, 0, 1);
          }
        });
        return;
      }
      scheduler::parallel_for(rows, std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(inner, 1)),
                              [&](int64_t b, int64_t e) { copy_loop(sp, dp, shape, strides[0], strides[1], b, e); });
    });
  });
}

void copy_to_contiguous(const array& src, array& dst) {
  // dst may have another shape (a reshape); src's elements land in row-major order.
  dst.set_data(allocator::malloc(dst.nbytes()));
  copy_strided(src, dst, row_major_strides(src.shape()), 0);
}

array ensure_row_contiguous(const array& src) {
  if (src.flags().row_contiguous) return src;
  array out = array::placeholder(src.shape(), src.dtype());
  copy_to_contiguous(src, out);
  out.set_status(Status::available);
  return out;
}

}  // namespace ember::cpu
