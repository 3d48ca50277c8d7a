#include "ember/array.h"

#include <cstdint>
#include <cstring>
#include <limits>
#include <sstream>
#include <type_traits>

#include "ember/backend/cpu/elementwise_ops.h"
#include "ember/backend/gpu.h"
#include "ember/ops_common.h"
#include "ember/primitives.h"
#include "ember/scheduler.h"
#include "ember/transforms.h"

namespace ember {

namespace {
std::atomic<uint64_t> next_id{1};
}

Data::~Data() {
  if (device_ptr) gpu::free_device(*this);
  if (deleter) {
    deleter(buffer.ptr);
  } else if (buffer.ptr) {
    allocator::free(buffer);
  }
}

void Data::make_host_valid() {
  std::lock_guard lk(mu);
  if (host_valid.load(std::memory_order_relaxed)) return;
  gpu::copy_to_host(*this);  // gives the buffer its host side first, as the backend prefers
  host_valid.store(true, std::memory_order_release);
}

ArrayDesc::ArrayDesc(Shape s, Dtype t) : shape(std::move(s)), dtype(t), id(next_id.fetch_add(1)) {
  strides = row_major_strides(shape);
  size = checked_size(shape);
}

ArrayDesc::~ArrayDesc() {
  // Destroying the last handle of a long lazy chain would recurse once per
  // node; instead, collect inputs whose only owner is the node being freed
  // and release them from a flat list.
  if (!node || node.use_count() != 1) return;
  std::vector<array> pending = std::move(node->inputs);
  node.reset();
  while (!pending.empty()) {
    array a = std::move(pending.back());
    pending.pop_back();
    auto& d = a.desc();
    if (d.use_count() == 1 && d->node && d->node.use_count() == 1) {
      for (auto& in : d->node->inputs) pending.push_back(std::move(in));
      d->node->inputs.clear();
    }
  }
}

Strides row_major_strides(const Shape& shape) {
  Strides st(shape.size());
  int64_t s = 1;
  for (int i = static_cast<int>(shape.size()) - 1; i >= 0; --i) {
    st[i] = s;
    s *= std::max<int64_t>(shape[i], 1);
  }
  return st;
}

size_t checked_size(const Shape& shape, const char* op) {
  size_t n = 1;
  for (auto d : shape) {
    if (d < 0) {
      std::ostringstream msg;
      msg << "[" << op << "] negative dimension " << d << " in shape";
      throw std::invalid_argument(msg.str());
    }
    if (d != 0 && n > std::numeric_limits<size_t>::max() / 16 / static_cast<size_t>(d)) {
      std::ostringstream msg;
      msg << "[" << op << "] shape is too large: its byte size overflows";
      throw std::invalid_argument(msg.str());
    }
    n *= static_cast<size_t>(d);
  }
  return n;
}

array::array(Shape shape, Dtype dtype) : desc_(std::make_shared<ArrayDesc>(std::move(shape), dtype)) {}

void array::check_count(size_t n) const {
  if (n != size()) {
    std::ostringstream msg;
    msg << "[array] " << n << " values given for a shape of " << size() << " elements";
    throw std::invalid_argument(msg.str());
  }
}

void array::init_from(const void* src, Dtype src_dtype, size_t n) {
  set_data(allocator::malloc(nbytes()));
  convert_elements(src, src_dtype, raw_ptr(), dtype(), n);
  desc_->status = Status::available;
}

array::array(void* data, Shape shape, Dtype dtype, std::function<void(void*)> deleter)
    : array(std::move(shape), dtype) {
  auto d = std::make_shared<Data>(data, std::move(deleter));
  d->buffer.size = nbytes();
  d->bytes = nbytes();
  desc_->data = std::move(d);
  desc_->data_size = size();
  desc_->status = Status::available;
}

array::array(Shape shape, Dtype dtype, std::shared_ptr<Primitive> primitive, std::vector<array> inputs)
    : array(std::move(shape), dtype) {
  auto n = std::make_shared<Node>();
  n->primitive = std::move(primitive);
  n->inputs = std::move(inputs);
  n->outputs.push_back(desc_);
  desc_->node = std::move(n);
}

std::vector<array> array::make_arrays(std::vector<Shape> shapes, const std::vector<Dtype>& dtypes,
                                      std::shared_ptr<Primitive> primitive, std::vector<array> inputs) {
  auto n = std::make_shared<Node>();
  n->primitive = std::move(primitive);
  n->inputs = std::move(inputs);
  n->shapes = shapes;
  n->dtypes = dtypes;
  std::vector<array> outs;
  for (size_t i = 0; i < shapes.size(); ++i) {
    array a(std::move(shapes[i]), dtypes[i]);
    a.desc_->node = n;
    a.desc_->position = static_cast<int>(i);
    n->outputs.push_back(a.desc_);
    outs.push_back(std::move(a));
  }
  return outs;
}

int32_t array::shape(int dim) const {
  return desc_->shape[detail::normalize_axis(dim, static_cast<int>(ndim()), "shape")];
}

int64_t array::strides(int dim) const {
  return desc_->strides[detail::normalize_axis(dim, static_cast<int>(ndim()), "strides")];
}

void array::eval() {
  if (status() != Status::available) {
    ember::eval({*this});
  } else if (desc_->data) {
    gpu::wait_written(*desc_->data);  // its GPU work (after an async_eval) may still be running
  }
}

void array::wait() {
  Status s = status();
  if (s == Status::unscheduled) {
    if (!has_primitive()) throw std::runtime_error("[eval] array has neither data nor a recipe");
    ember::eval({*this});
    return;
  }
  if (s == Status::scheduled) scheduler::wait_for(desc_->event_stream, desc_->event_seq);
  if (status() == Status::error) std::rethrow_exception(desc_->error);
}

Primitive& array::primitive() const {
  if (!desc_->node) throw std::invalid_argument("[primitive] array has no primitive (it is data or was evaluated)");
  return *desc_->node->primitive;
}

std::shared_ptr<Primitive> array::primitive_ptr() const { return desc_->node ? desc_->node->primitive : nullptr; }

const std::vector<array>& array::inputs() const {
  static const std::vector<array> none;
  return desc_->node ? desc_->node->inputs : none;
}

std::vector<array> array::outputs() const {
  if (!desc_->node || desc_->node->outputs.size() <= 1) return {*this};
  std::vector<array> outs;
  auto& n = *desc_->node;
  for (size_t i = 0; i < n.outputs.size(); ++i) {
    if (auto d = n.outputs[i].lock()) {
      outs.emplace_back(std::move(d));
    } else {
      // The user dropped this sibling; rebuild a placeholder the kernel can fill.
      array a(n.shapes[i], n.dtypes[i]);
      a.desc_->node = desc_->node;
      a.desc_->position = static_cast<int>(i);
      n.outputs[i] = a.desc_;
      outs.push_back(std::move(a));
    }
  }
  return outs;
}

std::vector<array> array::siblings() const {
  std::vector<array> outs;
  if (!desc_->node || desc_->node->outputs.size() <= 1) return outs;
  for (auto& o : outputs()) {
    if (!o.is_same(*this)) outs.push_back(o);
  }
  return outs;
}

void* array::raw_ptr() const {
  if (!desc_->data) {
    throw std::runtime_error("[data] array is not evaluated; call eval() first");
  }
  return static_cast<char*>(desc_->data->host()) + desc_->offset * static_cast<int64_t>(itemsize());
}

void array::set_data(allocator::Buffer b) {
  desc_->data = std::make_shared<Data>(b);
  desc_->offset = 0;
  desc_->data_size = size();
  desc_->strides = row_major_strides(shape());
  desc_->flags = Flags{};
}

void array::set_data(allocator::Buffer b, size_t data_size, Strides strides, Flags flags) {
  desc_->data = std::make_shared<Data>(b);
  desc_->offset = 0;
  desc_->data_size = data_size;
  desc_->strides = std::move(strides);
  desc_->flags = flags;
}

void array::set_data(std::shared_ptr<Data> d, size_t data_size, Strides strides, Flags flags) {
  desc_->data = std::move(d);
  desc_->offset = 0;
  desc_->data_size = data_size;
  desc_->strides = std::move(strides);
  desc_->flags = flags;
}

void array::copy_shared_buffer(const array& other, Strides strides, Flags flags, size_t data_size, int64_t offset) {
  desc_->data = other.desc_->data;
  desc_->offset = other.desc_->offset + offset;
  desc_->strides = std::move(strides);
  desc_->flags = flags;
  desc_->data_size = data_size;
}

void array::copy_shared_buffer(const array& other) {
  copy_shared_buffer(other, other.strides(), other.flags(), other.data_size());
}

bool array::is_donatable() const {
  // Only the graph holds this input and no view shares its buffer; borrowed
  // memory is never written to.
  // A buffer with a device copy is not donated to CPU kernels (a host write would leave the
  // device bytes stale); GPU kernels check residency themselves.
  return desc_.use_count() == 1 && desc_->data && desc_->data.use_count() == 1 && !desc_->data->deleter &&
         !desc_->data->device_ptr;
}

void array::detach() {
  if (!desc_->node) return;
  auto n = std::move(desc_->node);
  for (auto& w : n->outputs) {
    if (auto d = w.lock()) d->node.reset();
  }
  n->inputs.clear();
}

namespace {

template <class S, class D>
void convert_loop(const S* s, D* d, size_t n) {
  if constexpr (std::is_same_v<S, bool> && std::is_arithmetic_v<D> && !std::is_same_v<D, bool>) {
    // Bools loaded from memory through their bytes: GCC vectorizes a select on a byte, not
    // one on a loaded bool (convert_value's select covers computed ones).
    const auto* u = reinterpret_cast<const uint8_t*>(s);
    for (size_t i = 0; i < n; ++i) d[i] = u[i] != 0 ? D(1) : D(0);
  } else {
    for (size_t i = 0; i < n; ++i) d[i] = cpu::convert_value<D>(s[i]);
  }
}

}  // namespace

void convert_elements(const void* src, Dtype src_dtype, void* dst, Dtype dst_dtype, size_t n) {
  if (n == 0) return;  // src and dst may be null then
  if (src_dtype == dst_dtype) {
    std::memcpy(dst, src, n * src_dtype.size());
    return;
  }
  dispatch_dtype(src_dtype, [&](auto s) {
    using S = decltype(s);
    dispatch_dtype(dst_dtype, [&](auto d) {
      using D = decltype(d);
      convert_loop(static_cast<const S*>(src), static_cast<D*>(dst), n);
    });
  });
}

}  // namespace ember
