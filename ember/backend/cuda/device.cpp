// The CUDA backend's core: error checking, one cudaStream_t per Ember GPU
// stream, stream-ordered device memory with residency tracking, and dispatch
// of primitives to their registered kernels (or to their CPU kernels).
#include <cublasLt.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <iostream>
#include <map>
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
  msg << "[cuda] " << call << " failed: " << cudaGetErrorName(err) << " (" << cudaGetErrorString(err) << ") at " << file
      << ":" << line;
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

// EMBER_CUDA_MANAGED=1: device buffers are managed memory (cudaMallocManaged), which the host
// reads in place once their stream is done: no copy back and no second host buffer. Meant for
// hardware-coherent systems (Grace Hopper), where the CPU reads GPU memory at interconnect speed.
// Managed memory would let a process oversubscribe the card and thrash; Ember never holds more
// than the card had free when the pool started, and raises out_of_memory instead.
bool managed_mode() {
  static const bool on = [] {
    const char* v = std::getenv("EMBER_CUDA_MANAGED");
    return v && *v && std::string(v) != "0";
  }();
  return on;
}

// Managed blocks are cached for reuse (cudaFree of managed memory synchronizes the device). A
// freed block keeps an event recorded on the stream that last used it; whoever reuses it first
// makes its own stream wait for that event, so reuse is stream-ordered like cudaMallocAsync.
struct ManagedPool {
  struct Cached {
    void* ptr;
    cudaEvent_t released;
  };
  std::mutex mu;
  std::multimap<size_t, Cached> cached;      // by block size
  std::unordered_map<void*, size_t> blocks;  // every block the pool holds -> its size
  size_t held = 0;                           // bytes of all blocks, live and cached
  size_t budget = 0;                         // what the card had free when the pool started

  void release_cached() {
    for (auto& [size, c] : cached) {
      cudaEventSynchronize(c.released);
      cudaEventDestroy(c.released);
      cudaFree(c.ptr);
      blocks.erase(c.ptr);
      held -= size;
    }
    cached.clear();
  }
};

ManagedPool& managed_pool(int device) {
  static ManagedPool* pools = new ManagedPool[kMaxDevices];  // leaked: buffers outlive main
  return pools[device >= 0 && device < kMaxDevices ? device : 0];
}

// Managed blocks come in the host allocator's size classes (1/8 of a power of two) so that
// nearby sizes share them.
size_t managed_block_size(size_t n) {
  if (n <= 4096) return (n + 255) & ~size_t(255);
  size_t p = size_t(1) << (63 - __builtin_clzll(n));
  size_t step = p / 8;
  return (n + step - 1) / step * step;
}

void* managed_alloc(size_t bytes, cudaStream_t stream, int device) {
  auto& pool = managed_pool(device);
  size_t size = managed_block_size(bytes);
  std::lock_guard lk(pool.mu);
  auto it = pool.cached.lower_bound(size);
  if (it != pool.cached.end() && it->first <= 2 * size) {
    ManagedPool::Cached c = it->second;
    pool.cached.erase(it);
    cudaError_t err = cudaStreamWaitEvent(stream, c.released, 0);
    cudaEventDestroy(c.released);
    if (err != cudaSuccess) {
      cudaGetLastError();
      cudaStreamSynchronize(stream);  // cannot order on the event: wait for everything instead
      cudaDeviceSynchronize();
    }
    return c.ptr;
  }
  if (pool.budget == 0) {
    size_t free_bytes = 0, total = 0;
    EMBER_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total));
    pool.budget = free_bytes;
  }
  if (pool.held + size > pool.budget) pool.release_cached();
  if (pool.held + size > pool.budget) {
    std::ostringstream msg;
    msg << "[cuda] managed memory: cannot allocate " << bytes << " bytes on GPU " << device << " (" << pool.held
        << " bytes held of the " << pool.budget << " the card had free)";
    throw out_of_memory(msg.str());
  }
  void* p = nullptr;
  cudaError_t err = cudaMallocManaged(&p, size, cudaMemAttachGlobal);
  if (err != cudaSuccess) {
    cudaGetLastError();
    std::ostringstream msg;
    msg << "[cuda] cudaMallocManaged of " << size << " bytes on GPU " << device
        << " failed: " << cudaGetErrorString(err);
    if (err == cudaErrorMemoryAllocation) throw out_of_memory(msg.str());
    throw std::runtime_error(msg.str());
  }
  pool.blocks.emplace(p, size);
  pool.held += size;
  return p;
}

// Never throws (called from destructors).
void managed_free(void* p, cudaStream_t stream, int device) {
  auto& pool = managed_pool(device);
  std::lock_guard lk(pool.mu);
  auto it = pool.blocks.find(p);
  if (it == pool.blocks.end()) return;
  cudaEvent_t ev = nullptr;
  if (cudaEventCreateWithFlags(&ev, cudaEventDisableTiming) == cudaSuccess &&
      cudaEventRecord(ev, stream) == cudaSuccess) {
    pool.cached.emplace(it->second, ManagedPool::Cached{p, ev});
    return;
  }
  cudaGetLastError();  // at exit the runtime may already be gone: give the block back directly
  if (ev) cudaEventDestroy(ev);
  cudaStreamSynchronize(stream);
  cudaFree(p);
  pool.held -= it->second;
  pool.blocks.erase(it);
}

void record_alloc(size_t bytes, int device) {
  allocator::record_device_memory(static_cast<int64_t>(bytes));
  auto& st = stats(device);
  size_t now = st.active.fetch_add(bytes) + bytes;
  size_t prev = st.peak.load();
  while (now > prev && !st.peak.compare_exchange_weak(prev, now)) {
  }
}

void record_free(size_t bytes, int device) {
  stats(device).active.fetch_sub(bytes);
  allocator::record_device_memory(-static_cast<int64_t>(bytes));
}

// Device blocks come in size classes (1/8 of a power of two; 256-byte steps up to 4 KiB), so
// nearby sizes share them. Managed blocks use the same classes.
size_t block_size(size_t n) { return managed_block_size(n); }

// Freed device blocks, kept per stream for reuse on that stream: work queued later on the same
// stream runs after every use of the block that was queued before it was freed, so a cached
// block is reused with no CUDA call at all (cudaMallocAsync and cudaFreeAsync cost the host
// about a microsecond each, a sizeable part of a small op). EMBER_CUDA_CACHE=0 turns it off.
// The cache holds at most the cache limit (ember::set_cache_limit), by default a quarter of
// the card; an allocation that fails empties it and tries again.
struct BlockCache {
  std::mutex mu;
  std::unordered_map<cudaStream_t, std::unordered_map<size_t, std::vector<void*>>> free;  // stream -> class -> blocks
  size_t bytes = 0;
  size_t limit = SIZE_MAX;  // set from the card's size on first use
  int device = 0;
};

bool block_cache_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("EMBER_CUDA_CACHE");
    return !(v && std::strcmp(v, "0") == 0);
  }();
  return on;
}

BlockCache& block_cache(int device) {
  static BlockCache* caches = [] {
    auto* c = new BlockCache[kMaxDevices];  // leaked: buffers outlive main
    for (int i = 0; i < kMaxDevices; ++i) c[i].device = i;
    return c;
  }();
  return caches[device >= 0 && device < kMaxDevices ? device : 0];
}

// Returns every cached block of `c` to the pool (each ordered on the stream it was freed on).
void release_cached_blocks(BlockCache& c) {
  for (auto& [stream, classes] : c.free) {
    for (auto& [size, blocks] : classes) {
      for (void* p : blocks) cudaFreeAsync(p, stream);
    }
  }
  cudaGetLastError();
  c.free.clear();
  c.bytes = 0;
}

// Stream-ordered allocation: a cached block of the stream, else the pool; on failure, empties
// the cache, trims the pool and tries once more, then throws out_of_memory naming the request
// and what is in use.
void* raw_alloc(size_t bytes, cudaStream_t stream, int device) {
  if (bytes == 0) return nullptr;
  if (size_t limit = allocator::device_memory_limit(); limit != 0 && stats(device).active.load() + bytes > limit) {
    std::ostringstream msg;
    msg << "[cuda] out of memory: cannot allocate " << bytes << " bytes on GPU " << device
        << " (over the memory limit; " << stats(device).active.load() << " bytes in use on it, limit " << limit << ")";
    throw out_of_memory(msg.str());
  }
  if (managed_mode()) {
    void* p = managed_alloc(bytes, stream, device);
    record_alloc(bytes, device);
    return p;
  }
  const size_t size = block_size(bytes);
  if (block_cache_enabled()) {
    auto& c = block_cache(device);
    std::lock_guard lk(c.mu);
    auto s = c.free.find(stream);
    if (s != c.free.end()) {
      auto b = s->second.find(size);
      if (b != s->second.end() && !b->second.empty()) {
        void* p = b->second.back();
        b->second.pop_back();
        c.bytes -= size;
        record_alloc(bytes, device);
        return p;
      }
    }
  }
  configure_pool(device);
  void* p = nullptr;
  cudaError_t err = cudaMallocAsync(&p, size, stream);
  if (err == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    {
      auto& c = block_cache(device);
      std::lock_guard lk(c.mu);
      release_cached_blocks(c);
    }
    cudaDeviceSynchronize();  // the cached blocks' frees, on every stream
    cudaGetLastError();
    cudaMemPool_t pool;
    if (cudaDeviceGetDefaultMemPool(&pool, device) == cudaSuccess) cudaMemPoolTrimTo(pool, 0);
    err = cudaMallocAsync(&p, size, stream);
  }
  if (err != cudaSuccess) {
    cudaGetLastError();
    std::ostringstream msg;
    msg << "[cuda] cannot allocate " << bytes << " bytes on GPU " << device << " (" << stats(device).active.load()
        << " bytes in use): " << cudaGetErrorString(err);
    if (err == cudaErrorMemoryAllocation) throw out_of_memory(msg.str());
    throw std::runtime_error(msg.str());
  }
  record_alloc(bytes, device);
  return p;
}

// Never throws: ordered after the work queued so far on `stream`.
void raw_free(void* p, size_t bytes, cudaStream_t stream, int device) {
  if (!p) return;
  record_free(bytes, device);
  if (managed_mode()) {
    managed_free(p, stream, device);
    return;
  }
  const size_t size = block_size(bytes);
  if (block_cache_enabled()) {
    auto& c = block_cache(device);
    std::lock_guard lk(c.mu);
    if (c.limit == SIZE_MAX) {
      size_t free_bytes = 0, total = 0;
      c.limit = cudaMemGetInfo(&free_bytes, &total) == cudaSuccess ? total / 4 : 0;
      cudaGetLastError();
    }
    if (c.bytes + size <= c.limit) {
      c.free[stream][size].push_back(p);
      c.bytes += size;
      return;
    }
  }
  cudaFreeAsync(p, stream);
  cudaGetLastError();  // at exit the runtime may already be gone
}

// Host copies of device buffers at least this large go to page-locked memory: the copy back
// then runs at full bus speed instead of through the driver's staging buffer.
constexpr size_t kPinnedMinBytes = size_t(64) << 10;

int current_device() {
  int dev = 0;
  EMBER_CUDA_CHECK(cudaGetDevice(&dev));
  return dev;
}

}  // namespace

size_t active_memory(int device) { return stats(device).active.load(); }
size_t peak_memory(int device) { return stats(device).peak.load(); }

size_t cache_memory() {
  size_t total = 0;
  for (int d = 0; d < kMaxDevices; ++d) {
    auto& c = block_cache(d);
    std::lock_guard lk(c.mu);
    total += c.bytes;
  }
  return total;
}

void clear_cache() {
  for (int d = 0; d < kMaxDevices; ++d) {
    auto& c = block_cache(d);
    std::lock_guard lk(c.mu);
    if (c.bytes > 0) release_cached_blocks(c);
  }
}

void set_cache_limit(size_t limit) {
  for (int d = 0; d < kMaxDevices; ++d) {
    auto& c = block_cache(d);
    std::lock_guard lk(c.mu);
    c.limit = limit;
    if (c.bytes > limit) release_cached_blocks(c);
  }
}

void free_device(Data& d) {
  // Called from destructors: never throws. Ordered after the last GPU use of the buffer, and
  // after the work queued so far on every other stream that used it.
  auto stream = static_cast<cudaStream_t>(d.device_stream);
  for (void* other : d.other_streams) {
    if (other == d.device_stream) continue;
    cudaEvent_t ev = nullptr;
    if (cudaEventCreateWithFlags(&ev, cudaEventDisableTiming) == cudaSuccess &&
        cudaEventRecord(ev, static_cast<cudaStream_t>(other)) == cudaSuccess &&
        cudaStreamWaitEvent(stream, ev, 0) == cudaSuccess) {
      cudaEventDestroy(ev);  // released once the wait no longer needs it
      continue;
    }
    cudaGetLastError();  // at exit the runtime may already be gone: wait on the host instead
    if (ev) cudaEventDestroy(ev);
    cudaStreamSynchronize(static_cast<cudaStream_t>(other));
  }
  d.other_streams.clear();
  raw_free(d.device_ptr, d.bytes, static_cast<cudaStream_t>(d.device_stream), d.device);
  d.device_ptr = nullptr;
}

void* pinned_alloc(size_t bytes) {
  void* p = nullptr;
  if (cudaHostAlloc(&p, bytes, cudaHostAllocPortable) != cudaSuccess) {
    cudaGetLastError();
    return nullptr;
  }
  return p;
}

void pinned_free(void* p) {
  cudaFreeHost(p);
  cudaGetLastError();
}

// d.device_stream is the stream that wrote the bytes or one that waited for them, so work
// queued on it after the writes sees them.
void copy_to_host(Data& d) {
  auto stream = static_cast<cudaStream_t>(d.device_stream);
  EMBER_CUDA_CHECK(cudaSetDevice(d.device));
  if (!d.buffer.ptr && managed_mode()) {
    // The managed allocation is the host copy once the stream is done with it.
    EMBER_CUDA_CHECK(cudaStreamSynchronize(stream));
    d.buffer = allocator::Buffer{d.device_ptr, d.bytes, 0};
    d.deleter = [](void*) {};  // free_device releases the allocation
  } else {
    if (!d.buffer.ptr)
      d.buffer = d.bytes >= kPinnedMinBytes ? allocator::malloc_pinned(d.bytes) : allocator::malloc(d.bytes);
    EMBER_CUDA_CHECK(cudaMemcpyAsync(d.buffer.ptr, d.device_ptr, d.bytes, cudaMemcpyDeviceToHost, stream));
    EMBER_CUDA_CHECK(cudaStreamSynchronize(stream));
  }
  d.written.reset();  // the writes are done
}

namespace {

// A copy from pageable host memory makes the driver wait for the stream first, which would
// stall the queueing thread behind the GPU. Copies up to kStagingMaxBytes go through a
// page-locked staging block instead and queue at once; a block returns to the allocator's
// pinned cache once the copy out of it is done (checked on later copies).
constexpr size_t kStagingMaxBytes = size_t(16) << 20;

struct Staging {
  std::mutex mu;
  std::deque<std::pair<allocator::Buffer, cudaEvent_t>> in_flight;  // oldest first
};

Staging& staging() {
  static auto* s = new Staging;  // leaked: blocks in flight at exit are the process's anyway
  return *s;
}

// Returns the blocks whose copies are done; with `all`, waits for the rest first.
void reclaim_staging(Staging& st, bool all) {
  while (!st.in_flight.empty()) {
    auto& [buf, ev] = st.in_flight.front();
    if (all) {
      cudaEventSynchronize(ev);
    } else if (cudaEventQuery(ev) != cudaSuccess) {
      cudaGetLastError();  // cudaErrorNotReady is not an error
      break;
    }
    cudaEventDestroy(ev);
    allocator::free(buf);
    st.in_flight.pop_front();
  }
}

void copy_to_device(void* dst, const void* src, size_t bytes, cudaStream_t stream) {
  allocator::Buffer buf;
  if (bytes <= kStagingMaxBytes) buf = allocator::malloc_pinned(bytes);
  if (!buf.pinned) {  // large, or no page-locked memory to be had: the driver stages it
    if (buf.ptr) allocator::free(buf);
    EMBER_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream));
    return;
  }
  std::memcpy(buf.ptr, src, bytes);
  cudaEvent_t ev = nullptr;
  cudaError_t err = cudaMemcpyAsync(dst, buf.ptr, bytes, cudaMemcpyHostToDevice, stream);
  if (err == cudaSuccess) err = cudaEventCreateWithFlags(&ev, cudaEventDisableTiming);
  if (err == cudaSuccess) err = cudaEventRecord(ev, stream);
  if (err != cudaSuccess) {
    cudaStreamSynchronize(stream);  // the block may be in use by a queued copy: let it finish
    if (ev) cudaEventDestroy(ev);
    allocator::free(buf);
    throw_cuda_error(err, "cudaMemcpyAsync (staged host to device)", __FILE__, __LINE__);
  }
  auto& st = staging();
  std::lock_guard lk(st.mu);
  st.in_flight.emplace_back(buf, ev);
  reclaim_staging(st, st.in_flight.size() > 64);  // bound the blocks held
}

}  // namespace

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
      copy_to_device(d.device_ptr, d.buffer.ptr, d.bytes, stream);
    }
    d.device_valid = true;
  }
  if (d.written && d.device_stream != stream) {
    // Written by another stream's task, which may still be running: this stream waits for it.
    EMBER_CUDA_CHECK(cudaStreamWaitEvent(stream, d.written->event, 0));
  }
  if (d.device_stream && d.device_stream != stream &&
      std::find(d.other_streams.begin(), d.other_streams.end(), d.device_stream) == d.other_streams.end()) {
    d.other_streams.push_back(d.device_stream);
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
    raw_free(ptr, size, stream, dev);
    ptr = nullptr;
    size = 0;
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
    register_sort_kernels();
    register_linalg_kernels();
    register_fast_kernels();
    register_quantized_kernels();
    register_compiled_kernels();
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

bool has_kernel(const Primitive& p) { return find_kernel(p) != nullptr; }

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

std::shared_ptr<Fence> record_fence(const Stream& s) {
  EMBER_CUDA_CHECK(cudaSetDevice(s.device.index));
  auto f = std::make_shared<Fence>();
  f->device = s.device.index;
  EMBER_CUDA_CHECK(cudaEventCreateWithFlags(&f->event, cudaEventDisableTiming));
  EMBER_CUDA_CHECK(cudaEventRecord(f->event, cuda_stream(s)));
  return f;
}

void wait_written(Data& d) {
  std::shared_ptr<Fence> f;
  {
    std::lock_guard lk(d.mu);
    f = d.written;
  }
  if (!f) return;
  EMBER_CUDA_CHECK(cudaSetDevice(f->device));
  EMBER_CUDA_CHECK(cudaEventSynchronize(f->event));
  std::lock_guard lk(d.mu);
  if (d.written == f) d.written.reset();
}

}  // namespace ember::gpu
