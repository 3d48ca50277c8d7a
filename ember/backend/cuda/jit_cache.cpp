// Generated kernels by packed key (jit::cached_kernel), shared by the elementwise, indexing
// and random/scan families; built for the GPU and for the emulator alike.
#include <mutex>
#include <unordered_map>

#include "ember/backend/cuda/cuda.h"
#include "ember/backend/cuda/jit.h"

namespace ember::gpu::jit {

namespace {

struct Key {
  int family;
  int device;
  uint64_t key;
  bool operator==(const Key&) const = default;
};

struct KeyHash {
  size_t operator()(const Key& k) const {
    uint64_t h = k.key * 0x9E3779B97F4A7C15ull;
    h ^= (static_cast<uint64_t>(k.family) << 8 | static_cast<uint64_t>(k.device)) + 0x632BE59BD9B4E019ull + (h << 6) +
         (h >> 2);
    return static_cast<size_t>(h);
  }
};

}  // namespace

const Kernel& cached_kernel(int family, uint64_t key, const std::function<KernelSpec()>& spec) {
  static std::mutex mu;
  static auto* cache = new std::unordered_map<Key, Kernel, KeyHash>;  // leaked: used until exit
  int dev = 0;
  EMBER_CUDA_CHECK(cudaGetDevice(&dev));
  Key k{family, dev, key};
  {
    std::lock_guard lk(mu);
    if (auto it = cache->find(k); it != cache->end()) return it->second;
  }
  auto [source, name] = spec();
  cudaKernel_t fn = get_kernel(source, name);  // compiles outside the lock
  std::lock_guard lk(mu);
  return cache->try_emplace(k, Kernel{fn, std::move(name)}).first->second;  // map nodes never move
}

void launch(const Kernel& k, dim3 grid, dim3 block, void** args, size_t shared_bytes, cudaStream_t stream) {
  EMBER_CUDA_CHECK(cudaLaunchKernel(reinterpret_cast<const void*>(k.fn), grid, block, args, shared_bytes, stream));
  check_launch(k.name.c_str(), __FILE__, __LINE__);
}

}  // namespace ember::gpu::jit
