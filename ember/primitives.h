// The Primitive interface: one class per operation that knows how to run it
// on each backend and, as the transforms land, how to differentiate and vmap it.
#pragma once

#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "ember/array.h"
#include "ember/device.h"

namespace ember {

class Primitive {
 public:
  explicit Primitive(Stream stream) : stream_(stream) {}
  virtual ~Primitive() = default;
  Primitive(const Primitive&) = delete;
  Primitive& operator=(const Primitive&) = delete;

  /// Runs the op on the CPU. Outputs arrive without data; the kernel allocates
  /// (or donates an input buffer) and fills them.
  virtual void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) = 0;
  /// Runs the op on the GPU. The default says the op has no GPU kernel.
  virtual void eval_gpu(const std::vector<array>& inputs, std::vector<array>& outputs);

  /// Vector-Jacobian product: cotangents of `argnums` inputs given the outputs' cotangents.
  virtual std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                 const std::vector<int>& argnums, const std::vector<array>& outputs);
  /// Jacobian-vector product: tangents of the outputs given the inputs' tangents.
  virtual std::vector<array> jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                 const std::vector<int>& argnums);
  /// Batched application: inputs mapped over `axes` (-1 = not mapped); returns
  /// the outputs and their mapped axes.
  virtual std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                               const std::vector<int>& axes);
  /// Output shapes for given inputs (used by shapeless compile).
  virtual std::vector<Shape> output_shapes(const std::vector<array>& inputs);
  /// Whether `other` computes the same function (same class and parameters).
  virtual bool is_equivalent(const Primitive& other) const { return false; }

  /// The op's name, as used in printing and graph export ("Add", "Reduce", ...).
  virtual const char* name() const = 0;
  /// Prints the name and parameters.
  virtual void print(std::ostream& os) const { os << name(); }

  const Stream& stream() const { return stream_; }

 private:
  Stream stream_;
};

/// A primitive with one output; implement `eval_cpu(inputs, out)`.
class UnaryPrimitive : public Primitive {
 public:
  using Primitive::Primitive;
  virtual void eval_cpu(const std::vector<array>& inputs, array& out) = 0;
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) final { eval_cpu(inputs, outputs[0]); }
};

/// Declares a primitive's vjp, jvp and vmap overrides (defined in grad_*.cpp).
#define EMBER_DECLARE_TRANSFORMS()                                                                                     \
  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,                      \
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override;                 \
  std::vector<array> jvp(const std::vector<array>& primals, const std::vector<array>& tangents,                        \
                         const std::vector<int>& argnums) override;                                                    \
  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs, const std::vector<int>& axes) \
      override;

// ---------------------------------------------------------------- elementwise

enum class UnaryOp {
  Abs,
  Negative,
  Sign,
  Sqrt,
  Rsqrt,
  Square,
  Reciprocal,
  Exp,
  Expm1,
  Log,
  Log1p,
  Log2,
  Log10,
  Sin,
  Cos,
  Tan,
  ArcSin,
  ArcCos,
  ArcTan,
  Sinh,
  Cosh,
  Tanh,
  ArcSinh,
  ArcCosh,
  ArcTanh,
  Sigmoid,
  Erf,
  ErfInv,
  Floor,
  Ceil,
  Round,
  IsNan,
  LogicalNot,
  BitwiseInvert,
  Conjugate,
  Real,
  Imag,
};
const char* unary_op_name(UnaryOp op);

/// Every one-input elementwise op; `op` picks the function.
class Unary : public UnaryPrimitive {
 public:
  Unary(Stream s, UnaryOp op) : UnaryPrimitive(s), op_(op) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override { return {inputs[0].shape()}; }
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return unary_op_name(op_); }
  UnaryOp op() const { return op_; }

 private:
  UnaryOp op_;
};

enum class BinaryOp {
  Add,
  Subtract,
  Multiply,
  Divide,
  FloorDivide,
  Remainder,
  Power,
  Maximum,
  Minimum,
  ArcTan2,
  LogAddExp,
  Equal,
  NotEqual,
  Less,
  LessEqual,
  Greater,
  GreaterEqual,
  NaNEqual,
  LogicalAnd,
  LogicalOr,
  BitwiseAnd,
  BitwiseOr,
  BitwiseXor,
  LeftShift,
  RightShift,
};
const char* binary_op_name(BinaryOp op);
/// Whether `op` returns bool (comparisons and logical ops).
bool binary_op_is_predicate(BinaryOp op);

/// Every two-input elementwise op on inputs of one dtype and one (broadcast) shape.
class Binary : public UnaryPrimitive {
 public:
  Binary(Stream s, BinaryOp op) : UnaryPrimitive(s), op_(op) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override { return {inputs[0].shape()}; }
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return binary_op_name(op_); }
  BinaryOp op() const { return op_; }

 private:
  BinaryOp op_;
};

/// Quotient and remainder in one pass (two outputs).
class DivMod : public Primitive {
 public:
  using Primitive::Primitive;
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override {
    return {inputs[0].shape(), inputs[0].shape()};
  }
  bool is_equivalent(const Primitive& other) const override { return dynamic_cast<const DivMod*>(&other); }
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "DivMod"; }
};

/// where(condition, x, y).
class Select : public UnaryPrimitive {
 public:
  using UnaryPrimitive::UnaryPrimitive;
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override { return {inputs[0].shape()}; }
  bool is_equivalent(const Primitive& other) const override { return dynamic_cast<const Select*>(&other); }
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "Select"; }
};

/// Converts to another dtype.
class AsType : public UnaryPrimitive {
 public:
  AsType(Stream s, Dtype dtype) : UnaryPrimitive(s), dtype_(dtype) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override { return {inputs[0].shape()}; }
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "AsType"; }
  Dtype dtype() const { return dtype_; }

 private:
  Dtype dtype_;
};

/// A row-contiguous copy (or the input itself when it already is one).
class Copy : public UnaryPrimitive {
 public:
  using UnaryPrimitive::UnaryPrimitive;
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override { return {inputs[0].shape()}; }
  bool is_equivalent(const Primitive& other) const override { return dynamic_cast<const Copy*>(&other); }
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "Copy"; }
};

/// Identity whose gradient is zero.
class StopGradient : public UnaryPrimitive {
 public:
  using UnaryPrimitive::UnaryPrimitive;
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override { return {inputs[0].shape()}; }
  bool is_equivalent(const Primitive& other) const override { return dynamic_cast<const StopGradient*>(&other); }
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "StopGradient"; }
};

/// Bit reinterpretation (shares the input's buffer when it is row-contiguous).
class View : public UnaryPrimitive {
 public:
  View(Stream s, Dtype dtype) : UnaryPrimitive(s), dtype_(dtype) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "View"; }

 private:
  Dtype dtype_;
};

// ---------------------------------------------------------------- creation

/// start, start + step, ...: `size` elements of `dtype` (kept so transforms can rebuild it).
class Arange : public UnaryPrimitive {
 public:
  Arange(Stream s, double start, double step, int32_t size = -1, Dtype dtype = float32)
      : UnaryPrimitive(s), start_(start), step_(step), size_(size), dtype_(dtype) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "Arange"; }
  void print(std::ostream& os) const override { os << "Arange(" << start_ << ", " << step_ << ")"; }
  double start() const { return start_; }
  double step() const { return step_; }

 private:
  double start_, step_;
  int32_t size_;  // -1 when unknown
  Dtype dtype_;
};

// ---------------------------------------------------------------- random

/// Raw random bits from threefry2x32 (20 rounds). Input: uint32 keys of shape
/// (K..., 2); output: `shape` (which starts with K...) of unsigned integers
/// `width` bytes wide; each key fills its own trailing block of the output.
class RandomBits : public UnaryPrimitive {
 public:
  RandomBits(Stream s, Shape shape, int width) : UnaryPrimitive(s), shape_(std::move(shape)), width_(width) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<Shape> output_shapes(const std::vector<array>&) override { return {shape_}; }
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "RandomBits"; }
  void print(std::ostream& os) const override { os << "RandomBits(width=" << width_ << ")"; }
  const Shape& shape() const { return shape_; }
  int width() const { return width_; }

 private:
  Shape shape_;
  int width_;
};

// ---------------------------------------------------------------- reductions

enum class ReduceOp { Sum, Prod, Max, Min, And, Or };

/// Reduction over a set of axes (kept as size-1 axes in the output; ops squeeze them).
class Reduce : public UnaryPrimitive {
 public:
  Reduce(Stream s, ReduceOp op, std::vector<int> axes) : UnaryPrimitive(s), op_(op), axes_(std::move(axes)) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override;
  ReduceOp op() const { return op_; }
  const std::vector<int>& axes() const { return axes_; }

 private:
  ReduceOp op_;
  std::vector<int> axes_;
};

enum class ArgReduceOp { ArgMax, ArgMin };

/// Index (uint32) of the first max/min along one axis (kept as size 1).
class ArgReduce : public UnaryPrimitive {
 public:
  ArgReduce(Stream s, ArgReduceOp op, int axis) : UnaryPrimitive(s), op_(op), axis_(axis) {}
  ArgReduceOp op() const { return op_; }
  int axis() const { return axis_; }
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override;
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return op_ == ArgReduceOp::ArgMax ? "ArgMax" : "ArgMin"; }

 private:
  ArgReduceOp op_;
  int axis_;
};

/// Softmax over the last axis (other axes are moved there by the op).
class Softmax : public UnaryPrimitive {
 public:
  Softmax(Stream s, bool precise, bool log) : UnaryPrimitive(s), precise_(precise), log_(log) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override { return {inputs[0].shape()}; }
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return log_ ? "LogSoftmax" : "Softmax"; }
  /// Whether half inputs must compute in float32 (the CPU and CUDA kernels always do).
  bool precise() const { return precise_; }
  /// Whether this is log_softmax.
  bool is_log() const { return log_; }

 private:
  bool precise_, log_;
};

/// log(sum(exp(x))) over the last axis, kept as size 1.
class LogSumExp : public UnaryPrimitive {
 public:
  using UnaryPrimitive::UnaryPrimitive;
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  bool is_equivalent(const Primitive& other) const override { return dynamic_cast<const LogSumExp*>(&other); }
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "LogSumExp"; }
};

// ---------------------------------------------------------------- scans

enum class ScanOp { Sum, Prod, Max, Min, LogAddExp };

/// Cumulative sum/prod/max/min/logaddexp along one axis; output has the input's shape
/// and dtype (the ops cast first). exclusive (inclusive = false): out[0] is the identity.
class Scan : public UnaryPrimitive {
 public:
  Scan(Stream s, ScanOp op, int axis, bool reverse, bool inclusive)
      : UnaryPrimitive(s), op_(op), axis_(axis), reverse_(reverse), inclusive_(inclusive) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override { return {inputs[0].shape()}; }
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "Scan"; }
  void print(std::ostream& os) const override;
  ScanOp op() const { return op_; }
  int axis() const { return axis_; }
  bool reverse() const { return reverse_; }
  bool inclusive() const { return inclusive_; }

 private:
  ScanOp op_;
  int axis_;
  bool reverse_, inclusive_;
};

// ---------------------------------------------------------------- shape and views

class Reshape : public UnaryPrimitive {
 public:
  Reshape(Stream s, Shape shape) : UnaryPrimitive(s), shape_(std::move(shape)) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "Reshape"; }

 private:
  Shape shape_;
};

class Transpose : public UnaryPrimitive {
 public:
  Transpose(Stream s, std::vector<int> axes) : UnaryPrimitive(s), axes_(std::move(axes)) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "Transpose"; }

 private:
  std::vector<int> axes_;
};

class Broadcast : public UnaryPrimitive {
 public:
  Broadcast(Stream s, Shape shape) : UnaryPrimitive(s), shape_(std::move(shape)) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "Broadcast"; }
  const Shape& shape() const { return shape_; }

 private:
  Shape shape_;
};

/// Strided view: out[i] = in[start + i * strides] per axis (starts are normalized).
class Slice : public UnaryPrimitive {
 public:
  Slice(Stream s, Shape start, Shape stop, Shape strides)
      : UnaryPrimitive(s), start_(std::move(start)), stop_(std::move(stop)), strides_(std::move(strides)) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "Slice"; }

 private:
  Shape start_, stop_, strides_;
};

/// src with the strided region start:stop:strides (normalized as in Slice) replaced by
/// update. Inputs: (src, update broadcast to the region's shape in src's dtype).
class SliceUpdate : public UnaryPrimitive {
 public:
  SliceUpdate(Stream s, Shape start, Shape stop, Shape strides)
      : UnaryPrimitive(s), start_(std::move(start)), stop_(std::move(stop)), strides_(std::move(strides)) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override { return {inputs[0].shape()}; }
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "SliceUpdate"; }

  const Shape& start() const { return start_; }
  const Shape& strides() const { return strides_; }

 private:
  Shape start_, stop_, strides_;
};

/// General strided view of a row-contiguous input (offset and strides in elements).
class AsStrided : public UnaryPrimitive {
 public:
  AsStrided(Stream s, Shape shape, Strides strides, int64_t offset)
      : UnaryPrimitive(s), shape_(std::move(shape)), strides_(std::move(strides)), offset_(offset) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "AsStrided"; }

 private:
  Shape shape_;
  Strides strides_;
  int64_t offset_;
};

class Concatenate : public UnaryPrimitive {
 public:
  Concatenate(Stream s, int axis) : UnaryPrimitive(s), axis_(axis) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "Concatenate"; }

  int axis() const { return axis_; }

 private:
  int axis_;
};

/// Views of consecutive pieces along `axis`, cut at `indices`.
class Split : public Primitive {
 public:
  Split(Stream s, Shape indices, int axis) : Primitive(s), indices_(std::move(indices)), axis_(axis) {}
  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override;
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "Split"; }

 private:
  Shape indices_;
  int axis_;
};

/// Constant padding: inputs are (x, pad_value); `low`/`high` per axis in `axes`.
class Pad : public UnaryPrimitive {
 public:
  Pad(Stream s, std::vector<int> axes, Shape low, Shape high)
      : UnaryPrimitive(s), axes_(std::move(axes)), low_(std::move(low)), high_(std::move(high)) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "Pad"; }

  const std::vector<int>& axes() const { return axes_; }
  const Shape& low() const { return low_; }

 private:
  std::vector<int> axes_;
  Shape low_, high_;
};

// ---------------------------------------------------------------- sorting and gathers along an axis

/// Ascending sort along `axis`; nan sorts last.
class Sort : public UnaryPrimitive {
 public:
  Sort(Stream s, int axis) : UnaryPrimitive(s), axis_(axis) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override { return {inputs[0].shape()}; }
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "Sort"; }
  int axis() const { return axis_; }

 private:
  int axis_;
};

/// Stable argsort along `axis` (uint32 indices); nan sorts last.
class ArgSort : public UnaryPrimitive {
 public:
  ArgSort(Stream s, int axis) : UnaryPrimitive(s), axis_(axis) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override { return {inputs[0].shape()}; }
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "ArgSort"; }
  int axis() const { return axis_; }

 private:
  int axis_;
};

/// Partition along `axis` around the (normalized) `kth` element: smaller values before it, larger after.
class Partition : public UnaryPrimitive {
 public:
  Partition(Stream s, int kth, int axis) : UnaryPrimitive(s), kth_(kth), axis_(axis) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override { return {inputs[0].shape()}; }
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "Partition"; }
  int axis() const { return axis_; }

 private:
  int kth_, axis_;
};

/// The uint32 indices that Partition moves to each position.
class ArgPartition : public UnaryPrimitive {
 public:
  ArgPartition(Stream s, int kth, int axis) : UnaryPrimitive(s), kth_(kth), axis_(axis) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override { return {inputs[0].shape()}; }
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "ArgPartition"; }
  int axis() const { return axis_; }

 private:
  int kth_, axis_;
};

/// out[..., i, ...] = a[..., indices[..., i, ...], ...] along `axis`. Inputs (a, indices) have equal
/// shapes except along `axis`; the output has the indices' shape. Negative indices count from the
/// end; an index still out of range makes eval throw std::out_of_range.
class GatherAxis : public UnaryPrimitive {
 public:
  GatherAxis(Stream s, int axis) : UnaryPrimitive(s), axis_(axis) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override { return {inputs[1].shape()}; }
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "GatherAxis"; }

  int axis() const { return axis_; }

 private:
  int axis_;
};

/// a with updates[..., i, ...] added at a[..., indices[..., i, ...], ...] along `axis`. Inputs
/// (a, indices, updates): indices and updates share a shape, equal to a's except along `axis`.
/// Negative indices count from the end; an index still out of range makes eval throw std::out_of_range.
class ScatterAddAxis : public UnaryPrimitive {
 public:
  ScatterAddAxis(Stream s, int axis) : UnaryPrimitive(s), axis_(axis) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  std::vector<Shape> output_shapes(const std::vector<array>& inputs) override { return {inputs[0].shape()}; }
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "ScatterAddAxis"; }

  int axis() const { return axis_; }

 private:
  int axis_;
};

// ---------------------------------------------------------------- linear algebra

/// Batched matrix product of (..., M, K) and (..., K, N) with equal batch shapes.
class Matmul : public UnaryPrimitive {
 public:
  using UnaryPrimitive::UnaryPrimitive;
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  bool is_equivalent(const Primitive& other) const override { return dynamic_cast<const Matmul*>(&other); }
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "Matmul"; }
};

/// alpha * (a @ b) + beta * c, inputs (a, b, c) with c broadcast to the output.
class AddMM : public UnaryPrimitive {
 public:
  AddMM(Stream s, float alpha, float beta) : UnaryPrimitive(s), alpha_(alpha), beta_(beta) {}
  void eval_cpu(const std::vector<array>& inputs, array& out) override;
  bool is_equivalent(const Primitive& other) const override;
  EMBER_DECLARE_TRANSFORMS()
  const char* name() const override { return "AddMM"; }
  float alpha() const { return alpha_; }
  float beta() const { return beta_; }

 private:
  float alpha_, beta_;
};

}  // namespace ember
