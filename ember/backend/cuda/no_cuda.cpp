// Linked into builds without CUDA: every GPU entry point explains itself.
#include <stdexcept>

#include "ember/array.h"
#include "ember/backend/cuda/quantized.h"
#include "ember/backend/gpu.h"
#include "ember/primitives.h"

namespace ember::gpu {

namespace {
[[noreturn]] void no_cuda(const std::string& what) {
  throw std::runtime_error("[" + what + "] cannot run on the GPU: Ember was built without CUDA");
}
}  // namespace

bool is_available() { return false; }
int device_count() { return 0; }
std::string unavailable_reason() { return "Ember was built without CUDA"; }
void eval(Primitive& p, const std::vector<array>&, std::vector<array>&) { no_cuda(p.name()); }
bool has_kernel(const Primitive&) { return false; }
void finish(const Stream&) { no_cuda("synchronize"); }
std::shared_ptr<Fence> record_fence(const Stream&) { no_cuda("record_fence"); }
void wait_written(Data&) {}
// Without CUDA no buffer ever gets a device copy, so these are never reached.
void copy_to_host(Data&) { no_cuda("copy_to_host"); }
void free_device(Data&) {}
void* pinned_alloc(size_t) { return nullptr; }
void pinned_free(void*) {}
size_t active_memory(int) { return 0; }
size_t peak_memory(int) { return 0; }
size_t cache_memory() { return 0; }
void clear_cache() {}
void set_cache_limit(size_t) {}
bool set_qmv_config(int, int) { return false; }

}  // namespace ember::gpu
