// The CUDA backend's core: error checking, one cudaStream_t per Ember GPU
// stream, stream-ordered device memory with residency tracking, and dispatch
// of primitives to their registered kernels (or to their CPU kernels).
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "ember/backend/cuda/cuda.h"
#include "ember/backend/gpu.h"
#include "ember/primitives.h"

namespace ember::gpu {

// ---------------------------------------------------------------- errors

void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line) {
  std::ostringstream msg;
  msg << "[cuda] " << call << " failed: " << cudaGetErrorName(err) << " (" << cudaGetErrorString(err) << ") at "
      << file << ":" << line;
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // not sticky: clear it so the process stays usable
    throw out_of_memory(msg.str());
  }
  throw std::runtime_error(msg.str());
}

void throw_cublas_error(int status, const char* call, const char* file, int line) {
  std::ostringstream msg;
  msg << "[cublas] " << call << " failed with status " << status << " at " << file << ":" << line;
  if (status == CUBLAS_STATUS_ALLOC_FAILED) throw out_of_memory(msg.str());
  throw std::runtime_error(msg.str());
}

void throw_nvrtc_error(int result, const char* call, const char* file, int line, const std::string& log) {
  std::ostringstream msg;
  msg << "[nvrtc] " << call << " failed with result " << result << " at " << file << ":" << line;
  if (!log.empty()) msg << "\n" << log;
  throw std::runtime_error(msg.str());
}

void check_launch(const char* kernel_name, const char* file, int line) {
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) {
    std::ostringstream call;
    call << "launch of " << kernel_name;
    throw_cuda_error(err, call.str().c_str(), file, line);
  }
}

// ---------------------------------------------------------------- devices and streams

int device_count() {
  static const int n = [] {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
      cudaGetLastError();  // clear the error of a machine without a driver
      return 0;
    }
    return count;
  }();
  return n;
}

bool is_available() { return device_count() > 0; }

std::string unavailable_reason() {
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return std::string("no usable CUDA device: ") + cudaGetErrorString(err);
  }
  return count == 0 ? "no CUDA device is visible" : "";
}

namespace {

struct StreamTable {
  std::mutex mu;
  std::unordered_map<int, cudaStream_t> streams;  // Ember stream index -> CUDA stream
};

StreamTable& stream_table() {
  static auto* t = new StreamTable;  // leaked: streams must outlive arrays freed at exit
  return *t;
}

bool debug_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("EMBER_DEBUG");
    return v && *v && std::string(v) != "0";
  }();
  return on;
}

}  // namespace

cudaStream_t cuda_stream(const Stream& s) {
  auto& t = stream_table();
  std::lock_guard lk(t.mu);
  auto it = t.streams.find(s.index);
  if (it != t.streams.end()) return it->second;
  EMBER_CUDA_CHECK(cudaSetDevice(s.device.index));
  cudaStream_t cs;
  EMBER_CUDA_CHECK(cudaStreamCreateWithFlags(&cs, cudaStreamNonBlocking));
  t.streams.emplace(s.index, cs);
  return cs;
}

const cudaDeviceProp& device_props() {
  static const cudaDeviceProp props = [] {
    int dev = 0;
    EMBER_CUDA_CHECK(cudaGetDevice(&dev));
    cudaDeviceProp p;
    EMBER_CUDA_CHECK(cudaGetDeviceProperties(&p, dev));
    return p;
  }();
  return props;
}

cublasLtHandle_t cublaslt_handle() {
  static cublasLtHandle_t h = [] {
    cublasLtHandle_t handle;
    EMBER_CUBLAS_CHECK(cublasLtCreate(&handle));
    return handle;
  }();
  return h;
}

// ---------------------------------------------------------------- memory

namespace {

constexpr int kMaxDevices = 16;

struct DeviceStats {
  std::atomic<size_t> active{0};
  std::atomic<size_t> peak{0};
};

DeviceStats& stats(int device) {
  static DeviceStats s[kMaxDevices];
  return s[device >= 0 && device < kMaxDevices ? device : 0];
}

// Device pools keep freed memory for reuse instead of returning it to the driver.
void configure_pool(int device) {
  static std::once_flag flags[kMaxDevices];
  std::call_once(flags[device % kMaxDevices], [device] {
    cudaMemPool_t pool;
    if (cudaDeviceGetDefaultMemPool(&pool, device) == cudaSuccess) {
      uint64_t keep = UINT64_MAX;
      cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep);
    }
    cudaGetLastError();
  });
}

// Stream-ordered allocation; on failure, trims the pool and tries once more, then
// throws out_of_memory naming the request and what is in use.
void* raw_alloc(size_t bytes, cudaStream_t stream, int device) {
  if (bytes == 0) return nullptr;
  configure_pool(device);
  void* p = nullptr;
  cudaError_t err = cudaMallocAsync(&p, bytes, stream);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    cudaStreamSynchronize(stream);
    cudaMemPool_t pool;
    if (cudaDeviceGetDefaultMemPool(&pool, device) == cudaSuccess) cudaMemPoolTrimTo(pool, 0);
    err = cudaMallocAsync(&p, bytes, stream);
  }
  if (err != cudaSuccess) {
    cudaGetLastError();
    std::ostringstream msg;
    msg << "[cuda] cannot allocate " << bytes << " bytes on GPU " << device << " ("
        << stats(device).active.load() << " bytes in use): " << cudaGetErrorString(err);
    if (err == cudaErrorMemoryAllocation) throw out_of_memory(msg.str());
    throw std::runtime_error(msg.str());
  }
  allocator::record_device_memory(static_cast<int64_t>(bytes));
  auto& st = stats(device);
  size_t now = st.active.fetch_add(bytes) + bytes;
  size_t prev = st.peak.load();
  while (now > prev && !st.peak.compare_exchange_weak(prev, now)) {
  }
  return p;
}

int current_device() {
  int dev = 0;
  EMBER_CUDA_CHECK(cudaGetDevice(&dev));
  return dev;
}

}  // namespace

size_t active_memory(int device) { return stats(device).active.load(); }
size_t peak_memory(int device) { return stats(device).peak.load(); }

void free_device(Data& d) {
  // Called from destructors: never throws. Ordered after the last GPU use of the buffer.
  cudaFreeAsync(d.device_ptr, static_cast<cudaStream_t>(d.device_stream));
  cudaGetLastError();  // at exit the runtime may already be gone
  stats(d.device).active.fetch_sub(d.bytes);
  allocator::record_device_memory(-static_cast<int64_t>(d.bytes));
  d.device_ptr = nullptr;
}

void copy_to_host(Data& d) {
  auto stream = static_cast<cudaStream_t>(d.device_stream);
  EMBER_CUDA_CHECK(cudaSetDevice(d.device));
  EMBER_CUDA_CHECK(cudaMemcpyAsync(d.buffer.ptr, d.device_ptr, d.bytes, cudaMemcpyDeviceToHost, stream));
  EMBER_CUDA_CHECK(cudaStreamSynchronize(stream));
}

void* device_ptr(const array& a, cudaStream_t stream) {
  const auto& dp = a.data_shared_ptr();
  if (!dp) throw std::runtime_error("[cuda] input array is not evaluated");
  Data& d = *dp;
  std::lock_guard lk(d.mu);
  if (!d.device_valid) {
    int dev = current_device();
    if (!d.device_ptr && d.bytes > 0) {
      d.device_ptr = raw_alloc(d.bytes, stream, dev);
      d.device = dev;
    }
    if (d.bytes > 0) {
      EMBER_CUDA_CHECK(cudaMemcpyAsync(d.device_ptr, d.buffer.ptr, d.bytes, cudaMemcpyHostToDevice, stream));
    }
    d.device_valid = true;
  }
  d.device_stream = stream;
  return static_cast<char*>(d.device_ptr) + a.offset() * static_cast<int64_t>(a.itemsize());
}

std::shared_ptr<Data> alloc_device(size_t bytes, cudaStream_t stream) {
  int dev = current_device();
  auto d = std::make_shared<Data>(allocator::Buffer{nullptr, bytes, 0});
  d->device_ptr = raw_alloc(bytes, stream, dev);
  d->device = dev;
  d->device_stream = stream;
  d->device_valid = true;
  d->host_valid.store(false, std::memory_order_release);
  return d;
}

void* alloc_output(array& out, cudaStream_t stream) {
  auto d = alloc_device(out.nbytes(), stream);
  void* p = d->device_ptr;
  out.set_data(std::move(d), out.size(), row_major_strides(out.shape()), Flags{});
  return p;
}

void* workspace(size_t bytes, cudaStream_t stream) {
  // One growing buffer per stream; a grown one replaces the old after the work queued so far.
  static std::mutex mu;
  static std::unordered_map<cudaStream_t, std::pair<void*, size_t>> spaces;
  std::lock_guard lk(mu);
  auto& [ptr, size] = spaces[stream];
  if (size < bytes) {
    int dev = current_device();
    if (ptr) {
      EMBER_CUDA_CHECK(cudaFreeAsync(ptr, stream));
      stats(dev).active.fetch_sub(size);
      allocator::record_device_memory(-static_cast<int64_t>(size));
    }
    ptr = raw_alloc(bytes, stream, dev);
    size = bytes;
  }
  return ptr;
}

// ---------------------------------------------------------------- dispatch

namespace {

struct Registry {
  std::mutex mu;
  std::unordered_map<std::type_index, KernelFn> kernels;
  std::unordered_set<std::string> fallbacks_noted;
};

Registry& registry() {
  static auto* r = new Registry;
  return *r;
}

void register_all() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_elementwise_kernels();
    register_reduce_kernels();
    register_matmul_kernels();
    register_indexing_kernels();
    register_random_scan_kernels();
  });
}

KernelFn find_kernel(const Primitive& p) {
  register_all();
  auto& r = registry();
  std::lock_guard lk(r.mu);
  auto it = r.kernels.find(std::type_index(typeid(p)));
  return it == r.kernels.end() ? nullptr : it->second;
}

void note_fallback(const Primitive& p) {
  if (!debug_enabled()) return;
  auto& r = registry();
  std::lock_guard lk(r.mu);
  if (r.fallbacks_noted.insert(p.name()).second) {
    std::cerr << "[ember] " << p.name() << " has no CUDA kernel for these inputs; it runs on the CPU\n";
  }
}

}  // namespace

void register_kernel(std::type_index type, KernelFn fn) {
  auto& r = registry();
  std::lock_guard lk(r.mu);
  r.kernels[type] = fn;
}

void eval(Primitive& p, const std::vector<array>& inputs, std::vector<array>& outputs) {
  EMBER_CUDA_CHECK(cudaSetDevice(p.stream().device.index));
  cudaStream_t stream = cuda_stream(p.stream());
  if (KernelFn fn = find_kernel(p); fn && fn(p, inputs, outputs, stream)) return;
  // No kernel (or it declined): the CPU kernel reads host copies of the inputs, which
  // Data::host() brings back in stream order, and writes host-resident outputs.
  note_fallback(p);
  p.eval_cpu(inputs, outputs);
}

void finish(const Stream& s) {
  EMBER_CUDA_CHECK(cudaSetDevice(s.device.index));
  EMBER_CUDA_CHECK(cudaStreamSynchronize(cuda_stream(s)));
}

}  // namespace ember::gpu
