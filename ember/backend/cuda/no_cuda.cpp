// Linked into builds without CUDA: every GPU entry point explains itself.
#include <stdexcept>

#include "ember/backend/gpu.h"
#include "ember/primitives.h"

namespace ember::gpu {

bool is_available() { return false; }
int device_count() { return 0; }
std::string unavailable_reason() { return "Ember was built without CUDA"; }
void eval(Primitive& p, const std::vector<array>&, std::vector<array>&) {
  throw std::runtime_error(std::string("[") + p.name() + "] cannot run on the GPU: Ember was built without CUDA");
}

}  // namespace ember::gpu
