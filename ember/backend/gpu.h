// The narrow seam between the core and the GPU backend. A CPU-only build links
// stubs (backend/cuda/no_cuda.cpp) that say so.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "ember/device.h"

namespace ember {
class array;
class Primitive;
struct Data;
}  // namespace ember

namespace ember::gpu {

/// Whether ops can run on a GPU in this build on this machine.
bool is_available();
/// Number of visible CUDA devices (0 without CUDA).
int device_count();
/// Why is_available() is false, for error messages.
std::string unavailable_reason();

/// A point in a GPU stream's queue (a CUDA event), shared by the outputs of one GPU task.
struct Fence;

/// Runs `p` on the GPU stream p.stream(): its CUDA kernel when it has one, else its CPU
/// kernel on host copies of the inputs (residency tracking keeps that correct).
void eval(Primitive& p, const std::vector<array>& inputs, std::vector<array>& outputs);
/// Whether the GPU backend has a kernel registered for p's primitive type (it may still
/// decline some inputs, which then run on the CPU kernel).
bool has_kernel(const Primitive& p);
/// Waits for the work queued on GPU stream `s`; throws the error of a failed kernel.
void finish(const Stream& s);
/// Marks the work queued so far on GPU stream `s`.
std::shared_ptr<Fence> record_fence(const Stream& s);
/// Blocks until the GPU work that writes d's device bytes (d.written) is done; throws the
/// error of a kernel that failed meanwhile.
void wait_written(Data& d);

/// Makes a buffer's host bytes current: gives it a host side if it has none (page-locked
/// memory, or with EMBER_CUDA_MANAGED=1 the managed device allocation itself) and copies
/// the device bytes there in stream order. Called with d.mu held.
void copy_to_host(Data& d);
/// Releases a buffer's device allocation (from Data's destructor).
void free_device(Data& d);

/// Page-locked host memory for the allocator's pinned blocks (null without a GPU or when
/// the driver refuses; never throws), and its release.
void* pinned_alloc(size_t bytes);
void pinned_free(void* p);

/// Device memory statistics of GPU `device` in bytes (0 without CUDA).
size_t active_memory(int device = 0);
size_t peak_memory(int device = 0);
/// Bytes of freed device blocks kept for reuse, over every GPU; clear_cache() returns them to
/// CUDA's pool; set_cache_limit caps each GPU's cache (ember::set_cache_limit calls these).
size_t cache_memory();
void clear_cache();
void set_cache_limit(size_t limit);

}  // namespace ember::gpu
