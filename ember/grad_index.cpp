// vjp, jvp and vmap of Gather and Scatter. Gather and the sum-scatter are linear in
// the array operands and transpose into each other; the indices are piecewise
// constant (zero cotangents). vmap turns the batch axis into one more indexed
// axis, indexed by arange(batch).
#include <numeric>
#include <optional>

#include "ember/indexing.h"
#include "ember/ops.h"
#include "ember/primitives_index.h"

namespace ember {

namespace {

int batch_size(const std::vector<array>& inputs, const std::vector<int>& axes) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (axes[i] >= 0) return inputs[i].shape()[axes[i]];
  }
  return -1;
}

std::vector<array> index_inputs(const std::vector<array>& primals, size_t count) {
  return std::vector<array>(primals.begin() + 1, primals.begin() + 1 + count);
}

// Index arrays for a batched call: each gets a leading batch axis (size 1 when unmapped),
// and arange(batch) indexes the batch axis of the operand, moved to the front.
struct BatchedIndices {
  std::vector<array> indices;
  std::vector<int> axes;
};

BatchedIndices batch_indices(const std::vector<array>& idx, const std::vector<int>& idx_axes,
                             const std::vector<int>& axes, int batch, Stream s) {
  size_t rank = idx.empty() ? 0 : idx[0].ndim();
  for (size_t j = 0; j < idx.size(); ++j) {
    if (idx_axes[j] >= 0) rank = idx[j].ndim() - 1;
  }
  BatchedIndices out;
  Shape bshape(rank + 1, 1);
  bshape[0] = batch;
  out.indices.push_back(reshape(arange(batch, s), bshape, s));
  out.axes.push_back(0);
  for (size_t j = 0; j < idx.size(); ++j) {
    out.indices.push_back(idx_axes[j] >= 0 ? moveaxis(idx[j], idx_axes[j], 0, s) : expand_dims(idx[j], 0, s));
    out.axes.push_back(axes[j] + 1);
  }
  return out;
}

// x with its batch axis moved to the front, or broadcast to `batch` copies there.
array batch_front(const array& x, int axis, int batch, Stream s) {
  if (axis >= 0) return moveaxis(x, axis, 0, s);
  Shape shape = x.shape();
  shape.insert(shape.begin(), batch);
  return broadcast_to(expand_dims(x, 0, s), shape, s);
}

array scatter_with(ScatterReduce r, const array& a, const std::vector<array>& idx, const array& upd,
                   const std::vector<int>& axes, Stream s) {
  switch (r) {
    case ScatterReduce::None:
      return scatter(a, idx, upd, axes, s);
    case ScatterReduce::Sum:
      return scatter_add(a, idx, upd, axes, s);
    case ScatterReduce::Prod:
      return scatter_prod(a, idx, upd, axes, s);
    case ScatterReduce::Max:
      return scatter_max(a, idx, upd, axes, s);
    case ScatterReduce::Min:
      return scatter_min(a, idx, upd, axes, s);
  }
  return a;
}

// The slice shape of a scatter's updates (their trailing a.ndim() axes).
Shape update_slice(const array& a, const array& upd) {
  return Shape(upd.shape().end() - static_cast<int64_t>(a.ndim()), upd.shape().end());
}

// Whether each update element is the one a ScatterReduce::None scatter leaves in place
// (with repeated indices, the last in row-major order).
array last_writer(const array& a, const std::vector<array>& idx, const array& upd, const std::vector<int>& axes,
                  Stream s) {
  array ids = reshape(arange(0.0, static_cast<double>(upd.size()), 1.0, int64, s), upd.shape(), s);
  array winner = scatter(full(a.shape(), array(int64_t{-1}), int64, s), idx, ids, axes, s);
  return equal(gather(winner, idx, axes, update_slice(a, upd), s), ids, s);
}

}  // namespace

// ---------------------------------------------------------------- Gather: inputs (a, idx...)

std::vector<array> Gather::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                               const std::vector<int>& argnums, const std::vector<array>&) {
  Stream s = stream();
  std::vector<array> out;
  for (int i : argnums) {
    if (i == 0) {
      auto idx = index_inputs(primals, axes_.size());
      out.push_back(scatter_add(zeros_like(primals[0], s), idx, cotangents[0], axes_, s));
    } else {
      out.push_back(zeros_like(primals[i], s));
    }
  }
  return out;
}

std::vector<array> Gather::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                               const std::vector<int>& argnums) {
  Stream s = stream();
  auto idx = index_inputs(primals, axes_.size());
  for (size_t i = 0; i < argnums.size(); ++i) {
    if (argnums[i] == 0) return {gather(tangents[i], idx, axes_, slice_sizes_, s)};
  }
  return {zeros(output_shapes(primals)[0], primals[0].dtype(), s)};
}

std::pair<std::vector<array>, std::vector<int>> Gather::vmap(const std::vector<array>& inputs,
                                                             const std::vector<int>& axes) {
  Stream s = stream();
  int b = batch_size(inputs, axes);
  auto idx = index_inputs(inputs, axes_.size());
  if (b < 0) return {{gather(inputs[0], idx, axes_, slice_sizes_, s)}, {-1}};
  std::vector<int> idx_axes(axes.begin() + 1, axes.end());
  if (axes[0] < 0) {
    // Only the indices are batched: their batch axis leads the index shape.
    BatchedIndices bi = batch_indices(idx, idx_axes, axes_, b, s);
    std::vector<array> ix(bi.indices.begin() + 1, bi.indices.end());
    return {{gather(inputs[0], ix, axes_, slice_sizes_, s)}, {0}};
  }
  BatchedIndices bi = batch_indices(idx, idx_axes, axes_, b, s);
  Shape sizes = slice_sizes_;
  sizes.insert(sizes.begin(), 1);
  array g = gather(moveaxis(inputs[0], axes[0], 0, s), bi.indices, bi.axes, sizes, s);
  // (batch, I..., 1, slice...): drop the batch axis's unit slice.
  int r = static_cast<int>(g.ndim() - sizes.size());
  return {{squeeze(g, r, s)}, {0}};
}

// ---------------------------------------------------------------- Scatter: inputs (a, idx..., updates)

std::vector<array> Scatter::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                const std::vector<int>& argnums, const std::vector<array>& outputs) {
  Stream s = stream();
  const array& a = primals[0];
  const array& upd = primals.back();
  const array& ct = cotangents[0];
  auto idx = index_inputs(primals, axes_.size());
  Shape slice = update_slice(a, upd);
  int upd_arg = static_cast<int>(primals.size()) - 1;
  std::vector<array> out;
  for (int i : argnums) {
    if (i != 0 && i != upd_arg) {
      out.push_back(zeros_like(primals[i], s));
      continue;
    }
    bool wrt_a = i == 0;
    switch (reduce_) {
      case ScatterReduce::None:
        // Overwritten positions get nothing back; each update element gets the cotangent
        // where it was the one written last.
        out.push_back(
            wrt_a ? scatter(ct, idx, zeros_like(upd, s), axes_, s)
                  : where(last_writer(a, idx, upd, axes_, s), gather(ct, idx, axes_, slice, s), zeros_like(upd, s), s));
        break;
      case ScatterReduce::Sum:
        out.push_back(wrt_a ? ct : gather(ct, idx, axes_, slice, s));
        break;
      case ScatterReduce::Prod:
        // out = a * prod(updates there): d/da = prod(updates), d/du_k = out / u_k.
        out.push_back(wrt_a ? scatter_prod(ct, idx, upd, axes_, s)
                            : divide(gather(multiply(ct, outputs[0], s), idx, axes_, slice, s), upd, s));
        break;
      case ScatterReduce::Max:
      case ScatterReduce::Min: {
        // The cotangent flows to whichever operand produced the result (both on ties).
        const array& y = outputs[0];
        if (wrt_a) {
          out.push_back(where(equal(y, a, s), ct, zeros_like(ct, s), s));
        } else {
          array sel = equal(gather(y, idx, axes_, slice, s), upd, s);
          out.push_back(where(sel, gather(ct, idx, axes_, slice, s), zeros_like(upd, s), s));
        }
        break;
      }
    }
  }
  return out;
}

std::vector<array> Scatter::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                const std::vector<int>& argnums) {
  Stream s = stream();
  const array& a = primals[0];
  const array& upd = primals.back();
  auto idx = index_inputs(primals, axes_.size());
  Shape slice = update_slice(a, upd);
  int upd_arg = static_cast<int>(primals.size()) - 1;
  std::optional<array> ta, tu;
  for (size_t i = 0; i < argnums.size(); ++i) {
    if (argnums[i] == 0) ta = tangents[i];
    if (argnums[i] == upd_arg) tu = tangents[i];
  }
  array zero_a = zeros_like(a, s);
  switch (reduce_) {
    case ScatterReduce::None:
      return {scatter(ta ? *ta : zero_a, idx, tu ? *tu : zeros_like(upd, s), axes_, s)};
    case ScatterReduce::Sum:
      return {tu ? scatter_add(ta ? *ta : zero_a, idx, *tu, axes_, s) : (ta ? *ta : zero_a)};
    case ScatterReduce::Prod: {
      array y = scatter_prod(a, idx, upd, axes_, s);
      array t = ta ? scatter_prod(*ta, idx, upd, axes_, s) : zero_a;
      if (tu) t = scatter_add(t, idx, divide(multiply(gather(y, idx, axes_, slice, s), *tu, s), upd, s), axes_, s);
      return {t};
    }
    case ScatterReduce::Max:
    case ScatterReduce::Min: {
      array y = scatter_with(reduce_, a, idx, upd, axes_, s);
      array t = ta ? where(equal(y, a, s), *ta, zero_a, s) : zero_a;
      if (tu) {
        array sel = equal(gather(y, idx, axes_, slice, s), upd, s);
        t = scatter_add(t, idx, where(sel, *tu, zeros_like(upd, s), s), axes_, s);
      }
      return {t};
    }
  }
  return {zero_a};
}

std::pair<std::vector<array>, std::vector<int>> Scatter::vmap(const std::vector<array>& inputs,
                                                              const std::vector<int>& axes) {
  Stream s = stream();
  int b = batch_size(inputs, axes);
  auto idx = index_inputs(inputs, axes_.size());
  const array& upd = inputs.back();
  if (b < 0) return {{scatter_with(reduce_, inputs[0], idx, upd, axes_, s)}, {-1}};
  std::vector<int> idx_axes(axes.begin() + 1, axes.end() - 1);
  BatchedIndices bi = batch_indices(idx, idx_axes, axes_, b, s);
  array a = batch_front(inputs[0], axes[0], b, s);
  // updates (I..., slice...) -> (batch or 1, I..., 1, slice...).
  int nd = static_cast<int>(inputs[0].ndim()) - (axes[0] >= 0 ? 1 : 0);
  int r = static_cast<int>(upd.ndim()) - (axes.back() >= 0 ? 1 : 0) - nd;
  array u = axes.back() >= 0 ? moveaxis(upd, axes.back(), 0, s) : expand_dims(upd, 0, s);
  u = expand_dims(u, r + 1, s);
  return {{scatter_with(reduce_, a, bi.indices, u, bi.axes, s)}, {0}};
}

}  // namespace ember
