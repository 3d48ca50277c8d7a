// Memory: one allocator interface, a caching CPU allocator behind it, and the
// statistics and limits MLX exposes (get_active_memory, set_memory_limit, ...).
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace ember {

/// Thrown when an allocation cannot be satisfied even after freeing the cache.
class out_of_memory : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace allocator {

/// A raw block of memory owned by the allocator.
struct Buffer {
  void* ptr = nullptr;
  size_t size = 0;      // bytes requested
  size_t block = 0;     // bytes actually reserved (>= size)
  bool pinned = false;  // page-locked for GPU copies (from malloc_pinned)
};

/// Allocates `bytes` (64-byte aligned). Reuses cached blocks; over the memory
/// limit or when the system refuses, clears the cache and retries, then throws
/// out_of_memory naming the requested and in-use bytes.
Buffer malloc(size_t bytes);
/// As malloc, but page-locked host memory when a GPU backend can provide it (device copies
/// to and from it run at full bus speed, asynchronously); plain memory otherwise. Pinned
/// blocks are cached apart from plain ones, so their pinning cost is paid once.
Buffer malloc_pinned(size_t bytes);
/// Returns a block to the cache (or to the system if the cache is full).
void free(Buffer b);
/// GPU backends report their allocations (+bytes) and frees (-bytes) here, so the
/// statistics below count every live array wherever it lives.
void record_device_memory(int64_t delta);
/// What set_memory_limit caps each GPU's live buffers at, or 0 for no cap of Ember's own (the
/// card's memory then bounds them): the default limit, 90% of system memory, caps the host only.
size_t device_memory_limit();

}  // namespace allocator

/// Bytes held by live arrays (host and GPU).
size_t get_active_memory();
/// Highest active memory (host and GPU) since start or the last reset_peak_memory().
size_t get_peak_memory();
void reset_peak_memory();
/// Bytes kept in the cache for reuse.
size_t get_cache_memory();
/// Caps active memory on each device (the host's arrays, and each GPU's); returns the previous
/// limit. 0 means "no limit". The default, 90% of system memory, caps the host only.
size_t set_memory_limit(size_t limit);
size_t get_memory_limit();
/// Caps the cache; returns the previous limit.
size_t set_cache_limit(size_t limit);
/// Frees every cached block.
void clear_cache();

}  // namespace ember
