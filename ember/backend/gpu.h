// The narrow seam between the core and the GPU backend. A CPU-only build links
// stubs (backend/cuda/no_cuda.cpp) that say so.
#pragma once

#include <string>
#include <vector>

namespace ember {
class array;
class Primitive;
}  // namespace ember

namespace ember::gpu {

/// Whether ops can run on a GPU in this build on this machine.
bool is_available();
/// Number of visible CUDA devices (0 without CUDA).
int device_count();
/// Why is_available() is false, for error messages.
std::string unavailable_reason();
/// Runs `p` on the GPU (throws until the backend has a kernel for it).
void eval(Primitive& p, const std::vector<array>& inputs, std::vector<array>& outputs);

}  // namespace ember::gpu
