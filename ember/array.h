// The array: a cheap handle to a descriptor holding shape, strides, dtype and
// either data (a buffer + offset) or a recipe (primitive + inputs).
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "ember/allocator.h"
#include "ember/device.h"
#include "ember/dtype.h"

namespace ember {

using Shape = std::vector<int32_t>;
using Strides = std::vector<int64_t>;

class Primitive;
class array;
struct ArrayDesc;
namespace gpu {
struct Fence;
}

/// Owner of the bytes behind one or more arrays (views share it).
///
/// With the CUDA backend the bytes can live on the host, on a GPU, or both
/// (residency): a GPU op makes its inputs device-resident, and a host read
/// (`host()`, which array::data goes through) copies device bytes back first.
/// A buffer written on the GPU may have no host allocation until then.
struct Data {
  allocator::Buffer buffer;            // host bytes; buffer.ptr is null until a host copy exists
  std::function<void(void*)> deleter;  // set for borrowed memory; else the allocator frees
  size_t bytes = 0;                    // size of the contents, wherever they live

  // Residency. Guarded by `mu`, except the fast-path read of host_valid.
  std::atomic<bool> host_valid{true};
  bool device_valid = false;
  void* device_ptr = nullptr;     // device allocation (bytes long), or null
  int device = -1;                // its CUDA device
  void* device_stream = nullptr;  // cudaStream_t of the last GPU use: copies and frees are ordered on it
  // Other streams that used the device bytes since they were written: a free waits for their
  // work queued so far too, so a block still being read there is not reused early.
  std::vector<void*> other_streams;
  // The GPU work that writes the device bytes, until it is known to be done: other streams
  // wait for it on the device, eval waits for it on the host.
  std::shared_ptr<gpu::Fence> written;
  std::mutex mu;

  explicit Data(allocator::Buffer b) : buffer(b), bytes(b.size) {}
  Data(void* ptr, std::function<void(void*)> d) : deleter(std::move(d)) { buffer.ptr = ptr; }
  Data(const Data&) = delete;
  Data& operator=(const Data&) = delete;
  ~Data();

  /// Pointer to valid host bytes (copies them from the GPU first when only the device copy is current).
  void* host() {
    if (!host_valid.load(std::memory_order_acquire)) make_host_valid();
    return buffer.ptr;
  }

 private:
  void make_host_valid();
};

/// One recipe shared by the outputs of an op (several for split, divmod, ...).
/// Outputs are held weakly, so sibling arrays don't keep each other alive.
struct Node {
  std::shared_ptr<Primitive> primitive;
  std::vector<array> inputs;
  std::vector<std::weak_ptr<ArrayDesc>> outputs;
  std::vector<Shape> shapes;  // output shapes, kept so a dropped sibling can be rebuilt
  std::vector<Dtype> dtypes;
};

/// Layout facts the kernels dispatch on.
struct Flags {
  bool contiguous = true;      // elements fill a dense block (any axis order)
  bool row_contiguous = true;  // C order
  bool col_contiguous = true;  // Fortran order
};

enum class Status : uint8_t { unscheduled, scheduled, available, error };

/// The state behind an array handle. Kernels and the scheduler use it; users
/// go through `array`.
struct ArrayDesc {
  Shape shape;
  Strides strides;
  size_t size = 1;
  Dtype dtype;

  // Recipe (until evaluated).
  std::shared_ptr<Node> node;
  int position = 0;  // which output of node

  // Data (once evaluated).
  std::shared_ptr<Data> data;
  int64_t offset = 0;    // in elements from buffer start
  size_t data_size = 0;  // elements reachable in the buffer from offset (when contiguous)
  Flags flags;

  std::atomic<Status> status{Status::unscheduled};
  std::exception_ptr error;  // set when status == error
  int event_stream = -1;     // stream that produces it and
  uint64_t event_seq = 0;    // its sequence number there
  uint64_t id;

  ArrayDesc(Shape s, Dtype t);
  ~ArrayDesc();  // releases long input chains iteratively (no deep recursion)
};

/// Row-major strides (in elements) of a shape.
Strides row_major_strides(const Shape& shape);
/// Number of elements of a shape, checked for overflow; `op` names the caller in errors.
size_t checked_size(const Shape& shape, const char* op = "array");

class array {
 public:
  /// A 0-d array holding `val` (dtype from the C++ type unless given).
  template <class T, class = std::enable_if_t<std::is_arithmetic_v<T> || std::is_same_v<T, float16_t> ||
                                              std::is_same_v<T, bfloat16_t> || std::is_same_v<T, complex64_t>>>
  array(T val, Dtype dtype = dtype_of<T>) : array(Shape{}, dtype) {
    init_from(&val, dtype_of<T>, 1);
  }

  /// A 1-d array from a list.
  template <class T>
  array(std::initializer_list<T> data) : array(Shape{static_cast<int32_t>(data.size())}, dtype_of<T>) {
    init_from(data.begin(), dtype_of<T>, data.size());
  }
  template <class T>
  array(std::initializer_list<T> data, Dtype dtype) : array(Shape{static_cast<int32_t>(data.size())}, dtype) {
    init_from(data.begin(), dtype_of<T>, data.size());
  }
  /// An array of `shape` filled from a list (row-major).
  template <class T>
  array(std::initializer_list<T> data, Shape shape, Dtype dtype = dtype_of<T>) : array(std::move(shape), dtype) {
    check_count(data.size());
    init_from(data.begin(), dtype_of<T>, data.size());
  }
  /// Copies `shape`-many elements of type T (converted to `dtype`).
  template <class T>
  array(const T* data, Shape shape, Dtype dtype = dtype_of<T>) : array(std::move(shape), dtype) {
    init_from(data, dtype_of<T>, size());
  }
  template <class T>
  array(const std::vector<T>& data, Shape shape, Dtype dtype = dtype_of<T>) : array(std::move(shape), dtype) {
    check_count(data.size());
    init_from(data.data(), dtype_of<T>, data.size());
  }
  /// Borrows `data` (row-major, `dtype`), calling `deleter(data)` when the last user is gone.
  array(void* data, Shape shape, Dtype dtype, std::function<void(void*)> deleter);

  /// A lazy array: output of `primitive` applied to `inputs`.
  array(Shape shape, Dtype dtype, std::shared_ptr<Primitive> primitive, std::vector<array> inputs);
  /// Several lazy arrays sharing one primitive (siblings).
  static std::vector<array> make_arrays(std::vector<Shape> shapes, const std::vector<Dtype>& dtypes,
                                        std::shared_ptr<Primitive> primitive, std::vector<array> inputs);

  /// An array with neither data nor recipe, for temporaries inside kernels:
  /// give it data with set_data, then set_status(Status::available).
  static array placeholder(Shape shape, Dtype dtype) { return array(std::move(shape), dtype); }

  array(const array&) = default;
  array(array&&) = default;
  array& operator=(const array&) = default;
  array& operator=(array&&) = default;

  // Metadata.
  const Shape& shape() const { return desc_->shape; }
  /// Size of dimension `dim` (negative counts from the end).
  int32_t shape(int dim) const;
  const Strides& strides() const { return desc_->strides; }
  int64_t strides(int dim) const;
  size_t ndim() const { return desc_->shape.size(); }
  size_t size() const { return desc_->size; }
  Dtype dtype() const { return desc_->dtype; }
  size_t itemsize() const { return desc_->dtype.size(); }
  size_t nbytes() const { return size() * itemsize(); }

  /// Evaluates this array (and what it depends on).
  void eval();
  /// Evaluates and returns the single element, converted to T.
  template <class T>
  T item();
  /// Pointer to the first element (evaluate first). Views share memory, so
  /// respect strides().
  template <class T>
  T* data() {
    return reinterpret_cast<T*>(raw_ptr());
  }
  template <class T>
  const T* data() const {
    return reinterpret_cast<const T*>(raw_ptr());
  }

  // Graph.
  bool has_primitive() const { return desc_->node != nullptr; }
  Primitive& primitive() const;
  std::shared_ptr<Primitive> primitive_ptr() const;
  const std::vector<array>& inputs() const;
  /// The other outputs of this array's op (empty for single-output ops).
  std::vector<array> siblings() const;
  /// All outputs of this array's op, this one included, in order.
  std::vector<array> outputs() const;
  Status status() const { return desc_->status.load(std::memory_order_acquire); }
  bool is_available() const { return status() == Status::available; }
  /// A unique id of the descriptor (stable while the array lives).
  uint64_t id() const { return desc_->id; }
  bool is_same(const array& o) const { return desc_ == o.desc_; }
  /// Blocks until an async_eval'ed array is ready; rethrows a kernel's error.
  void wait();

  // Layout and storage, for kernels.
  const Flags& flags() const { return desc_->flags; }
  size_t data_size() const { return desc_->data_size; }
  int64_t offset() const { return desc_->offset; }
  const std::shared_ptr<Data>& data_shared_ptr() const { return desc_->data; }
  void* raw_ptr() const;
  /// Gives this array a fresh row-contiguous buffer.
  void set_data(allocator::Buffer b);
  /// Gives this array a buffer with explicit layout.
  void set_data(allocator::Buffer b, size_t data_size, Strides strides, Flags flags);
  /// Gives this array existing storage (a device-resident buffer, say) with explicit layout.
  void set_data(std::shared_ptr<Data> d, size_t data_size, Strides strides, Flags flags);
  /// Makes this array a view into `other`'s buffer.
  void copy_shared_buffer(const array& other, Strides strides, Flags flags, size_t data_size, int64_t offset = 0);
  void copy_shared_buffer(const array& other);
  /// Whether an op may write its output into this input's buffer (nobody else holds it).
  bool is_donatable() const;
  /// Drops the recipe after evaluation so the graph doesn't pin memory.
  void detach();
  /// Marks this array as holding a buffer (after a kernel filled it).
  void set_status(Status s) { desc_->status.store(s, std::memory_order_release); }

  const std::shared_ptr<ArrayDesc>& desc() const { return desc_; }
  explicit array(std::shared_ptr<ArrayDesc> d) : desc_(std::move(d)) {}

 private:
  array(Shape shape, Dtype dtype);
  void init_from(const void* src, Dtype src_dtype, size_t n);
  void check_count(size_t n) const;

  std::shared_ptr<ArrayDesc> desc_;
};

/// Copies `n` elements of `src_dtype` at `src` into `dst` as `dst_dtype`.
void convert_elements(const void* src, Dtype src_dtype, void* dst, Dtype dst_dtype, size_t n);

template <class T>
T array::item() {
  if (size() != 1) {
    throw std::invalid_argument("[item] can only get the item of an array with exactly 1 element, got " +
                                std::to_string(size()));
  }
  eval();
  T out;
  convert_elements(raw_ptr(), dtype(), &out, dtype_of<T>, 1);
  return out;
}

}  // namespace ember
