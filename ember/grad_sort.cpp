// vjp, jvp and vmap of sorting (Sort, ArgSort, Partition, ArgPartition) and of
// the axis gathers (GatherAxis, ScatterAddAxis). Sort and Partition permute
// their input: y = take_along_axis(x, p) with p their arg-version, so the
// cotangent goes back through the inverse permutation argsort(p), and the
// tangent forward through p. The indices are piecewise constant in the input.
#include "ember/ops.h"
#include "ember/primitives.h"

namespace ember {

namespace {

// `axis` of an unbatched array, after a batch axis is inserted at `batch_axis` (-1: none).
int shift_axis(int axis, int batch_axis) { return batch_axis >= 0 && axis >= batch_axis ? axis + 1 : axis; }

// x with its batch axis moved to the front, or (unmapped) broadcast to `batch` copies there.
array batch_front(const array& x, int axis, int batch, Stream s) {
  if (axis >= 0) return moveaxis(x, axis, 0, s);
  Shape shape = x.shape();
  shape.insert(shape.begin(), batch);
  return broadcast_to(expand_dims(x, 0, s), shape, s);
}

int batch_size(const std::vector<array>& inputs, const std::vector<int>& axes) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (axes[i] >= 0) return inputs[i].shape()[axes[i]];
  }
  return -1;
}

// The cotangent of a permuting op y = x[perm] (along axis): ct[inverse(perm)].
array unpermute(const array& ct, const array& perm, int axis, Stream s) {
  return take_along_axis(ct, argsort(perm, axis, s), axis, s);
}

std::vector<array> zero_cotangents(const std::vector<array>& primals, const std::vector<int>& argnums, Stream s) {
  std::vector<array> out;
  for (int a : argnums) out.push_back(zeros_like(primals[a], s));
  return out;
}

}  // namespace

// ---------------------------------------------------------------- Sort

std::vector<array> Sort::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                             const std::vector<int>& argnums, const std::vector<array>&) {
  Stream s = stream();
  array g = unpermute(cotangents[0], argsort(primals[0], axis_, s), axis_, s);
  return std::vector<array>(argnums.size(), g);
}

std::vector<array> Sort::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                             const std::vector<int>&) {
  Stream s = stream();
  return {take_along_axis(tangents[0], argsort(primals[0], axis_, s), axis_, s)};
}

std::pair<std::vector<array>, std::vector<int>> Sort::vmap(const std::vector<array>& inputs,
                                                           const std::vector<int>& axes) {
  return {{sort(inputs[0], shift_axis(axis_, axes[0]), stream())}, {axes[0]}};
}

// ---------------------------------------------------------------- ArgSort

std::vector<array> ArgSort::vjp(const std::vector<array>& primals, const std::vector<array>&,
                                const std::vector<int>& argnums, const std::vector<array>&) {
  return zero_cotangents(primals, argnums, stream());
}

std::vector<array> ArgSort::jvp(const std::vector<array>& primals, const std::vector<array>&, const std::vector<int>&) {
  return {zeros(primals[0].shape(), uint32, stream())};
}

std::pair<std::vector<array>, std::vector<int>> ArgSort::vmap(const std::vector<array>& inputs,
                                                              const std::vector<int>& axes) {
  return {{argsort(inputs[0], shift_axis(axis_, axes[0]), stream())}, {axes[0]}};
}

// ---------------------------------------------------------------- Partition

std::vector<array> Partition::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                  const std::vector<int>& argnums, const std::vector<array>&) {
  Stream s = stream();
  array g = unpermute(cotangents[0], argpartition(primals[0], kth_, axis_, s), axis_, s);
  return std::vector<array>(argnums.size(), g);
}

std::vector<array> Partition::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                  const std::vector<int>&) {
  Stream s = stream();
  return {take_along_axis(tangents[0], argpartition(primals[0], kth_, axis_, s), axis_, s)};
}

std::pair<std::vector<array>, std::vector<int>> Partition::vmap(const std::vector<array>& inputs,
                                                                const std::vector<int>& axes) {
  return {{partition(inputs[0], kth_, shift_axis(axis_, axes[0]), stream())}, {axes[0]}};
}

// ---------------------------------------------------------------- ArgPartition

std::vector<array> ArgPartition::vjp(const std::vector<array>& primals, const std::vector<array>&,
                                     const std::vector<int>& argnums, const std::vector<array>&) {
  return zero_cotangents(primals, argnums, stream());
}

std::vector<array> ArgPartition::jvp(const std::vector<array>& primals, const std::vector<array>&,
                                     const std::vector<int>&) {
  return {zeros(primals[0].shape(), uint32, stream())};
}

std::pair<std::vector<array>, std::vector<int>> ArgPartition::vmap(const std::vector<array>& inputs,
                                                                   const std::vector<int>& axes) {
  return {{argpartition(inputs[0], kth_, shift_axis(axis_, axes[0]), stream())}, {axes[0]}};
}

// ---------------------------------------------------------------- GatherAxis: inputs (a, indices)

std::vector<array> GatherAxis::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                   const std::vector<int>& argnums, const std::vector<array>&) {
  Stream s = stream();
  std::vector<array> out;
  for (int a : argnums) {
    if (a == 0) {
      out.push_back(scatter_add_axis(zeros_like(primals[0], s), primals[1], cotangents[0], axis_, s));
    } else {
      out.push_back(zeros_like(primals[a], s));
    }
  }
  return out;
}

std::vector<array> GatherAxis::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                   const std::vector<int>& argnums) {
  Stream s = stream();
  for (size_t i = 0; i < argnums.size(); ++i) {
    if (argnums[i] == 0) return {take_along_axis(tangents[i], primals[1], axis_, s)};
  }
  return {zeros(primals[1].shape(), primals[0].dtype(), s)};
}

std::pair<std::vector<array>, std::vector<int>> GatherAxis::vmap(const std::vector<array>& inputs,
                                                                 const std::vector<int>& axes) {
  Stream s = stream();
  int b = batch_size(inputs, axes);
  if (b < 0) return {{take_along_axis(inputs[0], inputs[1], axis_, s)}, {-1}};
  array a = batch_front(inputs[0], axes[0], b, s);
  array idx = batch_front(inputs[1], axes[1], b, s);
  return {{take_along_axis(a, idx, axis_ + 1, s)}, {0}};
}

// ---------------------------------------------------------------- ScatterAddAxis: inputs (a, indices, updates)

std::vector<array> ScatterAddAxis::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                       const std::vector<int>& argnums, const std::vector<array>&) {
  Stream s = stream();
  std::vector<array> out;
  for (int a : argnums) {
    if (a == 0) {
      out.push_back(cotangents[0]);
    } else if (a == 2) {
      out.push_back(take_along_axis(cotangents[0], primals[1], axis_, s));
    } else {
      out.push_back(zeros_like(primals[a], s));
    }
  }
  return out;
}

std::vector<array> ScatterAddAxis::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                       const std::vector<int>& argnums) {
  Stream s = stream();
  // Linear in (a, updates): the tangent of a plus the scattered tangent of the updates.
  array t = zeros_like(primals[0], s);
  for (size_t i = 0; i < argnums.size(); ++i) {
    if (argnums[i] == 0) t = add(t, tangents[i], s);
    if (argnums[i] == 2) t = scatter_add_axis(t, primals[1], tangents[i], axis_, s);
  }
  return {t};
}

std::pair<std::vector<array>, std::vector<int>> ScatterAddAxis::vmap(const std::vector<array>& inputs,
                                                                     const std::vector<int>& axes) {
  Stream s = stream();
  int b = batch_size(inputs, axes);
  if (b < 0) return {{scatter_add_axis(inputs[0], inputs[1], inputs[2], axis_, s)}, {-1}};
  array a = batch_front(inputs[0], axes[0], b, s);
  array idx = batch_front(inputs[1], axes[1], b, s);
  array upd = batch_front(inputs[2], axes[2], b, s);
  return {{scatter_add_axis(a, idx, upd, axis_ + 1, s)}, {0}};
}

}  // namespace ember
