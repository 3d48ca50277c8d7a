// vjp, jvp and vmap of Convolution, written with Convolution itself.
//
// Per spatial axis the forward reads, for output o and kernel tap k,
//   x_dilated[o * s + t(k) * kd - lo],   t(k) = flip ? K - 1 - k : k
// (s stride, kd kernel dilation, id input dilation, lo padding_lo). Then
//   dx: the cotangent dy dilated by s, convolved with the weight with its
//       channel axes swapped per group, stride id, kernel dilation kd, the
//       opposite flip and padding Kd - 1 - lo (Kd = (K - 1) * kd + 1) at the
//       start; the end padding makes the output exactly L long.
//   dw: x as a "batch" of its channels, convolved with dy as the kernel: stride
//       kd, kernel dilation s, input dilation id, padding lo; per group, the
//       batch axis N becomes the contraction (channel) axis. flip reverses the
//       result along the kernel axes.
// Paddings derived this way can be negative (a crop), which the kernel handles.
#include <optional>

#include "ember/ops.h"
#include "ember/primitives_conv.h"

namespace ember {

namespace {

array conv_node(const array& x, const array& w, const std::vector<int>& stride, const std::vector<int>& lo,
                const std::vector<int>& hi, const std::vector<int>& kdil, const std::vector<int>& idil, int groups,
                bool flip, Stream s) {
  Shape shape = Convolution::out_shape(x.shape(), w.shape(), stride, lo, hi, kdil, idil);
  return array(std::move(shape), x.dtype(), std::make_shared<Convolution>(s, stride, lo, hi, kdil, idil, groups, flip),
               {x, w});
}

// Axes [first, first + n) as a vector, appended to `v`.
void append_range(std::vector<int>& v, int first, int n) {
  for (int i = 0; i < n; ++i) v.push_back(first + i);
}

Shape with(Shape front, const Shape& mid, const Shape& back) {
  front.insert(front.end(), mid.begin(), mid.end());
  front.insert(front.end(), back.begin(), back.end());
  return front;
}

Shape spatial(const array& a) { return Shape(a.shape().begin() + 1, a.shape().end() - 1); }

}  // namespace

std::vector<array> Convolution::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                    const std::vector<int>& argnums, const std::vector<array>&) {
  Stream s = stream();
  const array& x = primals[0];
  const array& w = primals[1];
  const array& dy = cotangents[0];
  const int nsp = static_cast<int>(x.ndim()) - 2;
  const int G = groups_;
  const int n = x.shape(0), c_in = x.shape(-1), c_out = w.shape(0), cg = c_in / G, cog = c_out / G;
  const Shape L = spatial(x), K = spatial(w), O = spatial(dy);
  const bool empty = x.size() == 0 || w.size() == 0 || dy.size() == 0;
  std::vector<array> out;
  for (int a : argnums) {
    if (empty) {
      out.push_back(zeros_like(primals[a], s));
      continue;
    }
    if (a == 0) {
      // w (G*Cog, K..., Cg) -> (G*Cg, K..., Cog)
      std::vector<int> perm = {0, nsp + 2};
      append_range(perm, 2, nsp);
      perm.push_back(1);
      array wt = reshape(transpose(reshape(w, with({G, cog}, K, {cg}), s), perm, s), with({c_in}, K, {cog}), s);
      std::vector<int> lo(nsp), hi(nsp);
      for (int i = 0; i < nsp; ++i) {
        int kd = (K[i] - 1) * kernel_dilation_[i] + 1;
        lo[i] = kd - 1 - padding_lo_[i];
        hi[i] = (L[i] - 1) * input_dilation_[i] - (O[i] - 1) * stride_[i] + padding_lo_[i];
      }
      out.push_back(conv_node(dy, wt, input_dilation_, lo, hi, kernel_dilation_, stride_, G, !flip_, s));
    } else {
      // x (N, L..., G*Cg) -> (Cg, L..., G*N); dy (N, O..., G*Cog) -> (G*Cog, O..., N)
      std::vector<int> px = {nsp + 2};
      append_range(px, 1, nsp);
      px.push_back(nsp + 1);
      px.push_back(0);
      array xt = reshape(transpose(reshape(x, with({n}, L, {G, cg}), s), px, s), with({cg}, L, {G * n}), s);
      std::vector<int> pd = {nsp + 1, nsp + 2};
      append_range(pd, 1, nsp);
      pd.push_back(0);
      array dyt = reshape(transpose(reshape(dy, with({n}, O, {G, cog}), s), pd, s), with({c_out}, O, {n}), s);
      std::vector<int> hi(nsp);
      for (int i = 0; i < nsp; ++i) {
        int ld = (L[i] - 1) * input_dilation_[i] + 1;
        hi[i] = (K[i] - 1) * kernel_dilation_[i] + (O[i] - 1) * stride_[i] + 1 - ld - padding_lo_[i];
      }
      // (Cg, K..., C_out) -> (C_out, K..., Cg)
      array dw = conv_node(xt, dyt, kernel_dilation_, padding_lo_, hi, stride_, input_dilation_, G, false, s);
      std::vector<int> pw = {nsp + 1};
      append_range(pw, 1, nsp);
      pw.push_back(0);
      dw = transpose(dw, pw, s);
      if (flip_) {
        Shape start(nsp + 2, 0), stop = dw.shape(), step(nsp + 2, 1);
        for (int i = 1; i <= nsp; ++i) {
          start[i] = -1;
          stop[i] = -dw.shape(i) - 1;
          step[i] = -1;
        }
        dw = slice(dw, start, stop, step, s);
      }
      out.push_back(dw);
    }
  }
  return out;
}

std::vector<array> Convolution::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                    const std::vector<int>& argnums) {
  // Bilinear: the tangent is conv(t_x, w) + conv(x, t_w).
  Stream s = stream();
  std::optional<array> t;
  for (size_t i = 0; i < argnums.size(); ++i) {
    array a = argnums[i] == 0 ? tangents[i] : primals[0];
    array b = argnums[i] == 0 ? primals[1] : tangents[i];
    array y = conv_node(a, b, stride_, padding_lo_, padding_hi_, kernel_dilation_, input_dilation_, groups_, flip_, s);
    t = t ? add(*t, y, s) : y;
  }
  return {*t};
}

std::pair<std::vector<array>, std::vector<int>> Convolution::vmap(const std::vector<array>& inputs,
                                                                  const std::vector<int>& axes) {
  Stream s = stream();
  const int nsp = static_cast<int>(inputs[0].ndim()) - 2 + (axes[0] >= 0 ? -1 : 0);
  auto conv = [&](const array& x, const array& w, int groups) {
    return conv_node(x, w, stride_, padding_lo_, padding_hi_, kernel_dilation_, input_dilation_, groups, flip_, s);
  };
  if (axes[0] < 0 && axes[1] < 0) return {{conv(inputs[0], inputs[1], groups_)}, {-1}};
  if (axes[1] < 0) {
    // Batch folded into N: (B, N, L..., C_in) -> (B*N, ...).
    array x = moveaxis(inputs[0], axes[0], 0, s);
    Shape xs = x.shape();
    int b = xs[0];
    xs.erase(xs.begin());
    xs[0] *= b;
    array y = conv(reshape(x, xs, s), inputs[1], groups_);
    Shape ys = y.shape();
    ys[0] /= b;
    ys.insert(ys.begin(), b);
    return {{reshape(y, ys, s)}, {0}};
  }
  array w = moveaxis(inputs[1], axes[1], 0, s);  // (B, C_out, K..., Cg)
  const int b = w.shape(0), c_out = w.shape(1), G = groups_, cog = c_out / G;
  Shape ws(w.shape().begin() + 2, w.shape().end());  // (K..., Cg)
  if (axes[0] < 0) {
    // Batch folded into each group's output channels: weight (G, B, Cog, K..., Cg).
    std::vector<int> perm = {1, 0};
    append_range(perm, 2, nsp + 2);
    array wf = reshape(transpose(reshape(w, with({b, G, cog}, ws, {}), s), perm, s), with({G * b * cog}, ws, {}), s);
    array y = conv(inputs[0], wf, G);  // (N, O..., G*B*Cog)
    Shape lead(y.shape().begin(), y.shape().end() - 1);
    y = reshape(y, with(lead, {G, b, cog}, {}), s);
    y = swapaxes(y, nsp + 1, nsp + 2, s);  // (N, O..., B, G, Cog)
    return {{reshape(y, with(lead, {b, c_out}, {}), s)}, {nsp + 1}};
  }
  // Both mapped: batch folded into the groups, channels ordered (B, C).
  array x = moveaxis(inputs[0], axes[0], static_cast<int>(inputs[0].ndim()) - 2, s);  // (N, L..., B, C_in)
  Shape xs(x.shape().begin(), x.shape().end() - 2);
  int c_in = x.shape(-1);
  x = reshape(x, with(xs, {b * c_in}, {}), s);
  array wf = reshape(w, with({b * c_out}, ws, {}), s);
  array y = conv(x, wf, b * G);
  Shape lead(y.shape().begin(), y.shape().end() - 1);
  return {{reshape(y, with(lead, {b, c_out}, {}), s)}, {nsp + 1}};
}

}  // namespace ember
