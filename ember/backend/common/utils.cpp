#include "ember/backend/common/utils.h"

#include <algorithm>

namespace ember {

std::pair<Shape, std::vector<Strides>> collapse_contiguous_dims(const Shape& shape,
                                                                const std::vector<Strides>& strides) {
  Shape out_shape;
  std::vector<Strides> out_strides(strides.size());
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    bool merge = !out_shape.empty();
    if (merge) {
      for (size_t k = 0; k < strides.size(); ++k) {
        if (out_strides[k].back() != strides[k][i] * shape[i]) {
          merge = false;
          break;
        }
      }
    }
    if (merge) {
      out_shape.back() *= shape[i];
      for (size_t k = 0; k < strides.size(); ++k) out_strides[k].back() = strides[k][i];
    } else {
      out_shape.push_back(shape[i]);
      for (size_t k = 0; k < strides.size(); ++k) out_strides[k].push_back(strides[k][i]);
    }
  }
  if (out_shape.empty()) {  // a single element
    out_shape.push_back(1);
    for (auto& s : out_strides) s.push_back(0);
  }
  return {out_shape, out_strides};
}

std::pair<Shape, std::vector<Strides>> collapse_contiguous_dims(const std::vector<array>& xs) {
  std::vector<Strides> strides;
  for (auto& x : xs) strides.push_back(x.strides());
  return collapse_contiguous_dims(xs[0].shape(), strides);
}

std::optional<Strides> reshape_strides(const array& in, const Shape& shape) {
  // Axes of size 1 carry no stride; each run of input axes that multiplies out to a run of
  // output axes must be one contiguous block of the input.
  Shape ishape;
  Strides istrides;
  for (size_t i = 0; i < in.ndim(); ++i) {
    if (in.shape(i) != 1) {
      ishape.push_back(in.shape(i));
      istrides.push_back(in.strides()[i]);
    }
  }
  Strides ostrides(shape.size(), 0);
  size_t oi = 0, ii = 0;
  while (ii < ishape.size() && oi < shape.size()) {
    int64_t np = ishape[ii], op = shape[oi];
    size_t ilast = ii, olast = oi;
    while (np != op) {
      if (np < op) {
        np *= ishape[++ilast];
      } else {
        op *= shape[++olast];
      }
    }
    for (size_t k = ii; k < ilast; ++k) {
      if (istrides[k] != istrides[k + 1] * ishape[k + 1]) return std::nullopt;
    }
    ostrides[olast] = istrides[ilast];
    for (size_t k = olast; k > oi; --k) ostrides[k - 1] = ostrides[k] * shape[k];
    ii = ilast + 1;
    oi = olast + 1;
  }
  // Trailing size-1 output axes keep any stride; use 1 for tidiness.
  for (size_t k = oi; k < shape.size(); ++k) ostrides[k] = 1;
  return ostrides;
}

std::pair<Flags, size_t> layout_of(const Shape& shape, const Strides& strides) {
  size_t size = 1;
  for (auto d : shape) size *= d;
  Flags f;
  int64_t expect = 1;
  f.row_contiguous = true;
  for (int i = static_cast<int>(shape.size()) - 1; i >= 0; --i) {
    if (shape[i] == 1) continue;
    if (strides[i] != expect) {
      f.row_contiguous = false;
      break;
    }
    expect *= shape[i];
  }
  expect = 1;
  f.col_contiguous = true;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    if (strides[i] != expect) {
      f.col_contiguous = false;
      break;
    }
    expect *= shape[i];
  }
  // Dense in some axis order: sorted by stride, each axis steps over exactly
  // the block the smaller ones span (no broadcast, no gaps, no overlap).
  f.contiguous = f.row_contiguous || f.col_contiguous;
  if (!f.contiguous && size > 0) {
    std::vector<std::pair<int64_t, int32_t>> axes;
    for (size_t i = 0; i < shape.size(); ++i) {
      if (shape[i] != 1) axes.emplace_back(strides[i], shape[i]);
    }
    std::sort(axes.begin(), axes.end());
    int64_t expect_stride = 1;
    bool dense = true;
    for (auto& [st, n] : axes) {
      if (st != expect_stride) {
        dense = false;
        break;
      }
      expect_stride *= n;
    }
    f.contiguous = dense;
  }
  size_t span = 1;  // elements reachable from the first one
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 0) span = 0;
    if (span && strides[i] > 0) span += static_cast<size_t>(strides[i]) * (shape[i] - 1);
  }
  if (size == 0) span = 0;
  size_t data_size = f.contiguous ? size : span;
  return {f, data_size};
}

bool can_donate(const array& in, const array& out) {
  return in.is_donatable() && in.itemsize() == out.itemsize() && in.flags().contiguous &&
         in.data_size() == out.size() && in.size() == out.size();
}

Strides broadcast_strides(const array& in, const Shape& shape) {
  Strides st(shape.size(), 0);
  size_t lead = shape.size() - in.ndim();
  for (size_t d = 0; d < in.ndim(); ++d) {
    st[lead + d] = in.shape(d) == 1 && shape[lead + d] != 1 ? 0 : in.strides()[d];
  }
  return st;
}

}  // namespace ember
