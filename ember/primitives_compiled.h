// The primitive compile puts in place of a chain of elementwise ops: one generated kernel
// per backend computes the chain's result element by element, so intermediates never
// reach memory.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ember/primitives.h"

namespace ember {

/// A fused region: `ops` in dependency order, each a Unary, Binary, Select, AsType or
/// Broadcast primitive; an op's arguments index the region's inputs (0 .. n_inputs-1) and
/// then earlier ops (n_inputs + k). Every op has the output's shape, except that Broadcast
/// reads an input of a smaller shape broadcast to it, so the inputs broadcast to the output
/// shape and the last op is the output.
class Compiled : public UnaryPrimitive {
 public:
  struct Op {
    std::shared_ptr<Primitive> primitive;
    std::vector<int> args;
    Dtype dtype;
  };

  Compiled(Stream s, std::vector<Op> ops, std::vector<Dtype> input_dtypes);

  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "Compiled"; }
  void print(std::ostream& os) const override;

  const std::vector<Op>& ops() const { return ops_; }
  const std::vector<Dtype>& input_dtypes() const { return input_dtypes_; }
  /// A text naming every op, its dtype and its arguments: equal for equal regions.
  const std::string& signature() const { return signature_; }

  /// The region rebuilt from its primitives on `inputs` (the transforms differentiate and
  /// batch through it).
  array inline_ops(const std::vector<array>& inputs) const;
  /// Runs the region one op at a time with each op's own kernel (no code generation).
  void eval_unfused(const std::vector<array>& inputs, array& out, bool gpu);

 private:
  std::vector<Op> ops_;
  std::vector<Dtype> input_dtypes_;
  std::string signature_;
};

/// Whether compile may put `p` (with output dtype `out` and input dtypes `ins`) in a region.
bool is_fusable(const Primitive& p, Dtype out, const std::vector<Dtype>& ins);

}  // namespace ember
