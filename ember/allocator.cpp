#include "ember/allocator.h"

#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <sstream>

#include "ember/backend/gpu.h"

namespace ember {

namespace {

size_t system_memory() {
  struct sysinfo info;
  if (sysinfo(&info) == 0) return static_cast<size_t>(info.totalram) * info.mem_unit;
  return size_t(1) << 34;
}

// Blocks are rounded up so that nearby sizes share cache entries: small sizes
// to 64 bytes, large ones to 1/8 of their power of two (at most 12.5% waste).
size_t round_block(size_t n) {
  if (n <= 4096) return std::max<size_t>(64, (n + 63) & ~size_t(63));
  size_t p = size_t(1) << (63 - __builtin_clzll(n));
  size_t step = p / 8;
  return (n + step - 1) / step * step;
}

// Host memory for a block. Blocks of 2 MiB or more start on a 2 MiB boundary and ask the
// kernel for transparent huge pages (where it grants them on request, Linux's default
// "madvise" mode): a matrix-vector product streams its weights once per call, and with 4 KiB
// pages the TLB misses cost it up to half of its speed (4096x8192 4-bit: 950 against 500 us
// here).
void* host_alloc(size_t block) {
  constexpr size_t kHuge = size_t(2) << 20;
  if (block < kHuge) return std::aligned_alloc(64, block);
  void* p = std::aligned_alloc(kHuge, (block + kHuge - 1) / kHuge * kHuge);
#ifdef MADV_HUGEPAGE
  if (p) madvise(p, block, MADV_HUGEPAGE);
#endif
  return p;
}

class CpuAllocator {
 public:
  CpuAllocator() {
    memory_limit_ = default_limit_ = system_memory() / 10 * 9;
    cache_limit_ = memory_limit_;
  }

  allocator::Buffer malloc(size_t bytes, bool pinned = false) {
    size_t block = round_block(bytes);
    std::unique_lock lk(mu_);
    auto& cache = pinned ? pinned_cache_ : cache_;
    // Reuse a cached block of the same rounded size, or one at most 2x larger.
    auto it = cache.lower_bound(block);
    if (it != cache.end() && it->first <= 2 * block) {
      void* p = it->second;
      size_t bsize = it->first;
      cache.erase(it);
      cache_bytes_ -= bsize;
      record_alloc(bsize);
      return {p, bytes, bsize, pinned};
    }
    // Limits are per device: this one bounds the host's live arrays (each GPU checks its own
    // buffers against device_memory_limit()).
    if (memory_limit_ != 0 && active_ + block > memory_limit_) {
      free_cache_locked();
      if (active_ + block > memory_limit_) throw_oom(bytes, "over the memory limit");
    }
    void* p = pinned ? gpu::pinned_alloc(block) : host_alloc(block);
    if (!p && pinned) {
      lk.unlock();
      return malloc(bytes);  // no GPU, or no page-locked memory left: plain memory does
    }
    if (!p) {
      free_cache_locked();
      p = host_alloc(block);
      if (!p) throw_oom(bytes, "the system allocator failed");
    }
    record_alloc(block);
    return {p, bytes, block, pinned};
  }

  void free(allocator::Buffer b, size_t block) {
    if (!b.ptr) return;
    std::unique_lock lk(mu_);
    active_ -= block;
    if (cache_bytes_ + block <= cache_limit_) {
      (b.pinned ? pinned_cache_ : cache_).emplace(block, b.ptr);
      cache_bytes_ += block;
    } else {
      release(b.ptr, b.pinned);
    }
  }

  size_t active() {
    std::unique_lock lk(mu_);
    return active_ + device_active_;
  }
  // GPU buffers count in the statistics (not against the host memory limit).
  void record_device(int64_t delta) {
    std::unique_lock lk(mu_);
    device_active_ += delta;
    peak_ = std::max(peak_, active_ + device_active_);
  }
  size_t peak() {
    std::unique_lock lk(mu_);
    return peak_;
  }
  void reset_peak() {
    std::unique_lock lk(mu_);
    peak_ = active_ + device_active_;
  }
  size_t cache() {
    std::unique_lock lk(mu_);
    return cache_bytes_;
  }
  size_t memory_limit() {
    std::unique_lock lk(mu_);
    return memory_limit_;
  }
  size_t set_memory_limit(size_t l) {
    std::unique_lock lk(mu_);
    std::swap(l, memory_limit_);
    return l;
  }
  size_t device_memory_limit() {
    std::unique_lock lk(mu_);
    return memory_limit_ == default_limit_ ? 0 : memory_limit_;
  }
  size_t set_cache_limit(size_t l) {
    std::unique_lock lk(mu_);
    std::swap(l, cache_limit_);
    for (bool pinned : {false, true}) {
      auto& cache = pinned ? pinned_cache_ : cache_;
      while (cache_bytes_ > cache_limit_ && !cache.empty()) {
        auto it = std::prev(cache.end());  // drop the largest blocks first
        cache_bytes_ -= it->first;
        release(it->second, pinned);
        cache.erase(it);
      }
    }
    return l;
  }
  void clear() {
    std::unique_lock lk(mu_);
    free_cache_locked();
  }

 private:
  void record_alloc(size_t block) {
    active_ += block;
    peak_ = std::max(peak_, active_ + device_active_);
  }
  static void release(void* p, bool pinned) {
    if (pinned) {
      gpu::pinned_free(p);
    } else {
      std::free(p);
    }
  }
  void free_cache_locked() {
    for (auto& [sz, p] : cache_) release(p, false);
    for (auto& [sz, p] : pinned_cache_) release(p, true);
    cache_.clear();
    pinned_cache_.clear();
    cache_bytes_ = 0;
  }
  [[noreturn]] void throw_oom(size_t bytes, const char* why) {
    std::ostringstream msg;
    msg << "[malloc] out of memory: cannot allocate " << bytes << " bytes (" << why << "; " << active_
        << " bytes in use on the host, limit " << memory_limit_ << ")";
    throw out_of_memory(msg.str());
  }

  std::mutex mu_;
  std::multimap<size_t, void*> cache_;
  std::multimap<size_t, void*> pinned_cache_;  // page-locked blocks (malloc_pinned)
  size_t cache_bytes_ = 0;
  size_t active_ = 0;         // host bytes
  size_t device_active_ = 0;  // GPU bytes
  size_t peak_ = 0;           // of both together
  size_t memory_limit_;
  size_t default_limit_;  // 90% of system memory: caps the host only
  size_t cache_limit_;
};

CpuAllocator& cpu_allocator() {
  // Leaked on purpose: arrays in static storage may be freed after main returns.
  static CpuAllocator* a = new CpuAllocator();
  return *a;
}

}  // namespace

namespace allocator {

Buffer malloc(size_t bytes) { return cpu_allocator().malloc(bytes); }
Buffer malloc_pinned(size_t bytes) { return cpu_allocator().malloc(bytes, true); }
void free(Buffer b) { cpu_allocator().free(b, b.block); }
void record_device_memory(int64_t delta) { cpu_allocator().record_device(delta); }
size_t device_memory_limit() { return cpu_allocator().device_memory_limit(); }

}  // namespace allocator

size_t get_active_memory() { return cpu_allocator().active(); }
size_t get_peak_memory() { return cpu_allocator().peak(); }
void reset_peak_memory() { cpu_allocator().reset_peak(); }
size_t get_cache_memory() { return cpu_allocator().cache() + gpu::cache_memory(); }
size_t set_memory_limit(size_t limit) { return cpu_allocator().set_memory_limit(limit); }
size_t get_memory_limit() { return cpu_allocator().memory_limit(); }
size_t set_cache_limit(size_t limit) {
  gpu::set_cache_limit(limit);
  return cpu_allocator().set_cache_limit(limit);
}
void clear_cache() {
  cpu_allocator().clear();
  gpu::clear_cache();
}

}  // namespace ember
