// vjp, jvp and vmap of the matrix-product primitives (Matmul, AddMM), written
// with public ops so they can be transformed again.
//
// Both primitives see operands a (..., M, K) and b (..., K, N) with one batch
// shape (matmul broadcast them and promoted 1-d operands before building the
// node), so cotangents come out with the operands' shapes and need no summing
// here: the Broadcast/Reshape nodes in front of them do that.
#include "ember/ops.h"
#include "ember/primitives.h"

namespace ember {

namespace {

array mT(const array& x, Stream s) { return swapaxes(x, -1, -2, s); }

// x * k, skipping the multiply when k == 1.
array scale(const array& x, float k, Stream s) { return k == 1.0f ? x : multiply(x, array(k, x.dtype()), s); }

array to_front(const array& x, int ax, Stream s) { return ax <= 0 ? x : moveaxis(x, ax, 0, s); }

// The tangent of primals[i] if it has one (found in argnums), else nullptr.
const array* find_tangent(const std::vector<array>& tangents, const std::vector<int>& argnums, int i) {
  for (size_t k = 0; k < argnums.size(); ++k) {
    if (argnums[k] == i) return &tangents[k];
  }
  return nullptr;
}

// Sum of the terms present; zeros shaped like `like` when there are none.
array sum_terms(const std::vector<array>& terms, const array& like, Stream s) {
  if (terms.empty()) return zeros_like(like, s);
  array out = terms[0];
  for (size_t i = 1; i < terms.size(); ++i) out = add(out, terms[i], s);
  return out;
}

}  // namespace

// ---------------------------------------------------------------- Matmul

std::vector<array> Matmul::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                               const std::vector<int>& argnums, const std::vector<array>&) {
  // out = a @ b: da = ct @ b^T, db = a^T @ ct.
  const array& ct = cotangents[0];
  std::vector<array> out;
  for (int i : argnums) {
    out.push_back(i == 0 ? matmul(ct, mT(primals[1], stream()), stream())
                         : matmul(mT(primals[0], stream()), ct, stream()));
  }
  return out;
}

std::vector<array> Matmul::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                               const std::vector<int>& argnums) {
  // d(a @ b) = da @ b + a @ db.
  std::vector<array> terms;
  if (auto* ta = find_tangent(tangents, argnums, 0)) terms.push_back(matmul(*ta, primals[1], stream()));
  if (auto* tb = find_tangent(tangents, argnums, 1)) terms.push_back(matmul(primals[0], *tb, stream()));
  if (terms.empty()) {
    Shape shape = primals[0].shape();
    shape.back() = primals[1].shape(-1);
    return {zeros(shape, primals[0].dtype(), stream())};
  }
  return {sum_terms(terms, primals[0], stream())};
}

std::pair<std::vector<array>, std::vector<int>> Matmul::vmap(const std::vector<array>& inputs,
                                                             const std::vector<int>& axes) {
  // Batch axes in front; matmul broadcasts an unmapped operand's batch axes.
  array a = to_front(inputs[0], axes[0], stream());
  array b = to_front(inputs[1], axes[1], stream());
  bool mapped = axes[0] >= 0 || axes[1] >= 0;
  return {{matmul(a, b, stream())}, {mapped ? 0 : -1}};
}

// ---------------------------------------------------------------- AddMM

std::vector<array> AddMM::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                              const std::vector<int>& argnums, const std::vector<array>&) {
  // out = alpha * (a @ b) + beta * c.
  const array& ct = cotangents[0];
  std::vector<array> out;
  for (int i : argnums) {
    if (i == 0) {
      out.push_back(scale(matmul(ct, mT(primals[1], stream()), stream()), alpha_, stream()));
    } else if (i == 1) {
      out.push_back(scale(matmul(mT(primals[0], stream()), ct, stream()), alpha_, stream()));
    } else {
      out.push_back(scale(ct, beta_, stream()));
    }
  }
  return out;
}

std::vector<array> AddMM::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                              const std::vector<int>& argnums) {
  std::vector<array> terms;
  if (auto* ta = find_tangent(tangents, argnums, 0)) {
    terms.push_back(scale(matmul(*ta, primals[1], stream()), alpha_, stream()));
  }
  if (auto* tb = find_tangent(tangents, argnums, 1)) {
    terms.push_back(scale(matmul(primals[0], *tb, stream()), alpha_, stream()));
  }
  if (auto* tc = find_tangent(tangents, argnums, 2)) terms.push_back(scale(*tc, beta_, stream()));
  return {sum_terms(terms, primals[2], stream())};
}

std::pair<std::vector<array>, std::vector<int>> AddMM::vmap(const std::vector<array>& inputs,
                                                            const std::vector<int>& axes) {
  array a = to_front(inputs[0], axes[0], stream());
  array b = to_front(inputs[1], axes[1], stream());
  array c = to_front(inputs[2], axes[2], stream());
  bool ab_mapped = axes[0] >= 0 || axes[1] >= 0;
  if (axes[2] >= 0 && !ab_mapped) {
    // addmm's c may not enlarge the product, so give a the batch axis too.
    Shape shape = a.shape();
    shape.insert(shape.begin(), c.shape(0));
    a = broadcast_to(expand_dims(a, 0, stream()), shape, stream());
  }
  bool mapped = ab_mapped || axes[2] >= 0;
  return {{addmm(c, a, b, alpha_, beta_, stream())}, {mapped ? 0 : -1}};
}

}  // namespace ember
