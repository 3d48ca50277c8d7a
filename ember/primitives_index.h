// Primitives of the indexing family: gather and scatter of slices at index arrays.
#pragma once

#include <vector>

#include "ember/primitives.h"

namespace ember {

/// Inputs (a, idx_0, ..., idx_{k-1}), the index arrays (integers) sharing one shape I.
/// For each position p of I, the slice of `slice_sizes` starting at a[..., idx_j[p] on
/// axes[j], ..., 0 elsewhere] goes to out[p, ...]; the output shape is I + slice_sizes.
/// Negative indices count from the end; an index still out of range (so that the slice
/// would leave the array) makes eval throw.
class Gather : public UnaryPrimitive {
 public:
  Gather(Stream s, std::vector<int> axes, Shape slice_sizes)
      : UnaryPrimitive(s), axes_(std::move(axes)), slice_sizes_(std::move(slice_sizes)) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "Gather"; }
  void print(std::ostream& os) const override;
  const std::vector<int>& axes() const { return axes_; }
  const Shape& slice_sizes() const { return slice_sizes_; }

 private:
  std::vector<int> axes_;
  Shape slice_sizes_;
};

/// How Scatter combines an update with the value already in place.
enum class ScatterReduce { None, Sum, Prod, Max, Min };
const char* scatter_reduce_name(ScatterReduce r);

/// Inputs (a, idx_0, ..., idx_{k-1}, updates): index arrays as in Gather, updates of shape
/// I + (a slice shape of a.ndim() axes). Returns a with each update slice combined into the
/// slice starting at the indexed position; updates are applied in row-major order of I, so
/// with ScatterReduce::None the last of repeated indices wins. Out-of-range indices make eval throw.
class Scatter : public UnaryPrimitive {
 public:
  Scatter(Stream s, ScatterReduce reduce, std::vector<int> axes)
      : UnaryPrimitive(s), reduce_(reduce), axes_(std::move(axes)) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override { return {inputs[0].shape()}; }
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return scatter_reduce_name(reduce_); }
  ScatterReduce reduce() const { return reduce_; }
  const std::vector<int>& axes() const { return axes_; }

 private:
  ScatterReduce reduce_;
  std::vector<int> axes_;
};

}  // namespace ember
