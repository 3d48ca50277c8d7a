// The CUDA runtime calls of Ember's backend, on the CPU (emulated build only; see
// include/cuda_runtime.h). "Device" memory is host memory of its own; streams run
// their work at once, in order; kernels run through the emulator.
#include <cuda_runtime.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

thread_local cudaError_t last_error = cudaSuccess;

cudaError_t fail(cudaError_t e) {
  last_error = e;
  return e;
}

// Emulated device memory (EMBER_EMU_DEVICE_MEMORY bytes, default 8 GiB): what a card has.
size_t device_capacity() {
  static const size_t cap = [] {
    const char* e = std::getenv("EMBER_EMU_DEVICE_MEMORY");
    return e && *e ? static_cast<size_t>(std::strtoull(e, nullptr, 10)) : size_t(8) << 30;
  }();
  return cap;
}

struct Allocations {
  std::mutex mu;
  std::unordered_map<void*, size_t> sizes;
  size_t used = 0;
};
Allocations& allocations() {
  static auto* a = new Allocations;
  return *a;
}

bool run_at_once() {
  static const bool on = [] {
    const char* e = std::getenv("EMBER_EMU_SYNC");
    return e && *e && std::string(e) != "0";
  }();
  return on;
}

std::chrono::microseconds stream_delay() {
  static const auto d = [] {
    const char* e = std::getenv("EMBER_EMU_STREAM_DELAY_US");
    return std::chrono::microseconds(e && *e ? std::strtoll(e, nullptr, 10) : 0);
  }();
  return d;
}

// Work of all streams runs one piece at a time: __shared__ variables are one instance per
// kernel in the emulator, so two launches of a kernel must not overlap. Waits for events
// run outside it.
std::mutex& device_mutex() {
  static auto* m = new std::mutex;
  return *m;
}

// Page-locked host blocks (cudaHostAlloc): copies to them are asynchronous; copies to
// other host memory return only once done, as on a GPU.
struct PinnedBlocks {
  std::mutex mu;
  std::map<const char*, size_t> blocks;
  bool contains(const void* p) {
    std::lock_guard lk(mu);
    auto c = static_cast<const char*>(p);
    auto it = blocks.upper_bound(c);
    if (it == blocks.begin()) return false;
    --it;
    return c < it->first + it->second;
  }
};
PinnedBlocks& pinned_blocks() {
  static auto* p = new PinnedBlocks;
  return *p;
}

}  // namespace

// An emulated stream: a queue of work run in order by a thread of its own (never joined:
// streams live as long as the process, as Ember's do).
struct CUstream_st {
  int id = 0;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::function<void()>> queue;
  uint64_t submitted = 0, done = 0;
  std::exception_ptr error;

  uint64_t push(std::function<void()> work) {
    std::lock_guard lk(mu);
    queue.push_back(std::move(work));
    cv.notify_all();
    return ++submitted;
  }
  void wait_for(uint64_t n) {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return done >= n; });
  }
  // Waits for everything queued so far; hands over the first error since the last call.
  std::exception_ptr synchronize() {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return done >= submitted; });
    return std::exchange(error, nullptr);
  }
  std::exception_ptr take_error() {
    std::lock_guard lk(mu);
    return std::exchange(error, nullptr);
  }
  void run() {
    for (;;) {
      std::function<void()> work;
      {
        std::unique_lock lk(mu);
        cv.wait(lk, [&] { return !queue.empty(); });
        work = std::move(queue.front());
        queue.pop_front();
      }
      if (stream_delay().count() > 0) std::this_thread::sleep_for(stream_delay());
      try {
        work();
      } catch (...) {
        std::lock_guard lk(mu);
        if (!error) error = std::current_exception();
      }
      std::lock_guard lk(mu);
      ++done;
      cv.notify_all();
    }
  }
};

// An event: the point `target` in `stream`'s queue (null stream or never recorded: done).
struct CUevent_st {
  std::mutex mu;
  cudaStream_t stream = nullptr;
  uint64_t target = 0;
};

struct CUmemPoolHandle_st {};

namespace {

// Runs the device-side part of an operation: at once on the null stream or with
// EMBER_EMU_SYNC=1, else queued behind the stream's earlier work.
void enqueue(cudaStream_t stream, std::function<void()> work) {
  if (!stream || run_at_once()) {
    std::lock_guard lk(device_mutex());
    work();
    return;
  }
  stream->push([w = std::move(work)] {
    std::lock_guard lk(device_mutex());
    w();
  });
}

bool is_device_memory(const void* p) {
  auto& a = allocations();
  std::lock_guard lk(a.mu);
  auto c = static_cast<const char*>(p);
  for (auto& [base, size] : a.sizes) {  // small maps in tests; exact containment
    auto b = static_cast<const char*>(base);
    if (c >= b && c < b + size) return true;
  }
  return false;
}

}  // namespace

namespace ember::emu {
void submit(cudaStream_t stream, std::function<void()> work) { enqueue(stream, std::move(work)); }
}  // namespace ember::emu

namespace ember::emu {
uint64_t launch_seed() {
  static const uint64_t seed = [] {
    const char* e = std::getenv("EMBER_EMU_SEED");
    return e && *e ? static_cast<uint64_t>(std::strtoull(e, nullptr, 10)) : uint64_t{1};
  }();
  return seed;
}
}  // namespace ember::emu

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : fail(cudaErrorInvalidValue); }
cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int device) {
  if (device != 0) return fail(cudaErrorInvalidValue);
  std::memset(p, 0, sizeof(*p));
  std::strcpy(p->name, "Ember CUDA emulator (CPU)");
  p->major = 9;
  p->minor = 0;
  p->multiProcessorCount = 4;
  p->maxThreadsPerBlock = 1024;
  p->warpSize = 32;
  p->totalGlobalMem = device_capacity();
  p->sharedMemPerBlock = 48 * 1024;
  p->l2CacheSize = 4 << 20;
  return cudaSuccess;
}
cudaError_t cudaGetLastError() {
  cudaError_t e = last_error;
  last_error = cudaSuccess;
  return e;
}
const char* cudaGetErrorName(cudaError_t err) {
  switch (err) {
    case cudaSuccess:
      return "cudaSuccess";
    case cudaErrorInvalidValue:
      return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation:
      return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration:
      return "cudaErrorInvalidConfiguration";
    case cudaErrorNoDevice:
      return "cudaErrorNoDevice";
    case cudaErrorLaunchFailure:
      return "cudaErrorLaunchFailure";
  }
  return "cudaErrorUnknown";
}
const char* cudaGetErrorString(cudaError_t err) {
  switch (err) {
    case cudaSuccess:
      return "no error";
    case cudaErrorMemoryAllocation:
      return "out of memory";
    case cudaErrorInvalidConfiguration:
      return "invalid configuration argument";
    case cudaErrorLaunchFailure:
      return "unspecified launch failure";
    default:
      return cudaGetErrorName(err);
  }
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned) {
  static std::atomic<int> next{1};
  auto* s = new CUstream_st;
  s->id = next++;
  std::thread([s] { s->run(); }).detach();
  *stream = s;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  if (!stream) return cudaSuccess;
  if (auto e = stream->synchronize()) std::rethrow_exception(e);  // the emulator's own errors say more
  return cudaSuccess;
}
cudaError_t cudaMallocAsync(void** ptr, size_t bytes, cudaStream_t) {
  auto& a = allocations();
  std::lock_guard lk(a.mu);
  if (a.used + bytes > device_capacity()) return fail(cudaErrorMemoryAllocation);
  void* p = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
  if (!p) return fail(cudaErrorMemoryAllocation);
  a.sizes[p] = bytes;
  a.used += bytes;
  *ptr = p;
  return cudaSuccess;
}
cudaError_t cudaFreeAsync(void* ptr, cudaStream_t stream) {
  if (!ptr) return cudaSuccess;
  {
    auto& a = allocations();
    std::lock_guard lk(a.mu);
    if (!a.sizes.count(ptr)) return fail(cudaErrorInvalidValue);
  }
  enqueue(stream, [ptr] {  // stream-ordered: after the work queued before the free
    auto& a = allocations();
    std::lock_guard lk(a.mu);
    auto it = a.sizes.find(ptr);
    a.used -= it->second;
    a.sizes.erase(it);
    std::free(ptr);
  });
  return cudaSuccess;
}
// As on a GPU: a copy from pageable host memory reads it before returning (the driver
// stages it); a copy into pageable host memory returns once done; copies into page-locked
// memory and between device buffers are asynchronous.
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  if (!bytes) return cudaSuccess;
  if (kind == cudaMemcpyDefault) {
    bool from_device = is_device_memory(src), to_device = is_device_memory(dst);
    kind = from_device ? (to_device ? cudaMemcpyDeviceToDevice : cudaMemcpyDeviceToHost)
                       : (to_device ? cudaMemcpyHostToDevice : cudaMemcpyHostToHost);
  }
  bool from_pageable =
      (kind == cudaMemcpyHostToDevice || kind == cudaMemcpyHostToHost) && !pinned_blocks().contains(src);
  bool to_pageable = (kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyHostToHost) && !pinned_blocks().contains(dst);
  if (from_pageable) {
    auto staged =
        std::make_shared<std::vector<char>>(static_cast<const char*>(src), static_cast<const char*>(src) + bytes);
    enqueue(stream, [dst, staged] { std::memcpy(dst, staged->data(), staged->size()); });
  } else {
    enqueue(stream, [dst, src, bytes] { std::memmove(dst, src, bytes); });
  }
  if (to_pageable && stream && !run_at_once()) {
    if (auto e = stream->synchronize()) std::rethrow_exception(e);
  }
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* dst, int value, size_t bytes, cudaStream_t stream) {
  enqueue(stream, [=] { std::memset(dst, value, bytes); });
  return cudaSuccess;
}
// Managed memory is device memory the host may read (here, all of it is host memory): it
// counts against the emulated card like cudaMallocAsync's.
cudaError_t cudaMallocManaged(void** ptr, size_t bytes, unsigned) { return cudaMallocAsync(ptr, bytes, nullptr); }
cudaError_t cudaFree(void* ptr) { return cudaFreeAsync(ptr, nullptr); }
cudaError_t cudaMemGetInfo(size_t* free, size_t* total) {
  auto& a = allocations();
  std::lock_guard lk(a.mu);
  *total = device_capacity();
  *free = device_capacity() - a.used;
  return cudaSuccess;
}
cudaError_t cudaHostAlloc(void** ptr, size_t bytes, unsigned) {
  size_t size = (bytes + 63) / 64 * 64;
  *ptr = std::aligned_alloc(64, size);
  if (!*ptr) return fail(cudaErrorMemoryAllocation);
  auto& p = pinned_blocks();
  std::lock_guard lk(p.mu);
  p.blocks[static_cast<const char*>(*ptr)] = size;
  return cudaSuccess;
}
cudaError_t cudaFreeHost(void* ptr) {
  {
    auto& p = pinned_blocks();
    std::lock_guard lk(p.mu);
    p.blocks.erase(static_cast<const char*>(ptr));
  }
  std::free(ptr);
  return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }  // Ember synchronizes its streams itself
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned) {
  *event = new CUevent_st;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  std::lock_guard lk(event->mu);
  event->stream = stream;
  if (stream) {
    std::lock_guard slk(stream->mu);
    event->target = stream->submitted;
  }
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  cudaStream_t stream;
  uint64_t target;
  {
    std::lock_guard lk(event->mu);
    stream = event->stream;
    target = event->target;
  }
  if (stream) {
    stream->wait_for(target);
    if (auto e = stream->take_error()) std::rethrow_exception(e);
  }
  return cudaSuccess;
}
cudaError_t cudaEventQuery(cudaEvent_t event) {
  std::lock_guard lk(event->mu);
  if (!event->stream) return cudaSuccess;
  std::lock_guard slk(event->stream->mu);
  return event->stream->done >= event->target ? cudaSuccess : cudaErrorNotReady;
}
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  delete event;
  return cudaSuccess;
}
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned) {
  cudaStream_t other;
  uint64_t target;
  {
    std::lock_guard lk(event->mu);
    other = event->stream;
    target = event->target;
  }
  if (!other || other == stream) return cudaSuccess;  // nothing to wait for, or stream order does it
  if (!stream || run_at_once()) {
    other->wait_for(target);
  } else {
    stream->push([other, target] { other->wait_for(target); });  // outside the device mutex
  }
  return cudaSuccess;
}

cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t* pool, int) {
  static CUmemPoolHandle_st the_pool;
  *pool = &the_pool;
  return cudaSuccess;
}
cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t, cudaMemPoolAttr, void*) { return cudaSuccess; }
cudaError_t cudaMemPoolTrimTo(cudaMemPool_t, size_t) { return cudaSuccess; }

cudaError_t cudaLaunchKernel(const void* kernel, dim3 grid, dim3 block, void** args, size_t, cudaStream_t stream) {
  if (grid.y != 1 || grid.z != 1 || block.y != 1 || block.z != 1) return fail(cudaErrorInvalidConfiguration);
  // Undefined behaviour the emulator sees (barrier divergence, a deadlock) throws
  // ember::emu::emulation_error with its description: here, or from the stream's next
  // synchronization when the kernel runs queued.
  auto* k = static_cast<const EmberEmuKernel*>(kernel);
  if (!k->bind || !stream || run_at_once()) {
    std::lock_guard lk(device_mutex());
    k->entry(grid.x, block.x, ember::emu::launch_seed(), args);
    return cudaSuccess;
  }
  auto* bound = static_cast<std::function<void()>*>(k->bind(grid.x, block.x, ember::emu::launch_seed(), args));
  std::function<void()> work = std::move(*bound);
  delete bound;
  enqueue(stream, std::move(work));
  return cudaSuccess;
}
cudaError_t cudaLibraryUnload(cudaLibrary_t) { return cudaSuccess; }
