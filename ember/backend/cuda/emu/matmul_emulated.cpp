// Emulated build: general products run through cuBLASLt on a GPU, a library with no kernel
// source to emulate, so they keep their CPU kernels here; matrix-vector products (M == 1 or
// N == 1) run Ember's own kernels (matmul_gemv.cu) on the emulator, as on a GPU.
#include "ember/backend/cuda/cuda.h"
#include "ember/backend/cuda/matmul_gemv.h"
#include "ember/primitives.h"

namespace ember::gpu {

namespace {
bool matmul_kernel(Primitive&, const std::vector<array>& inputs, std::vector<array>& outputs, cudaStream_t stream) {
  return try_gemv(inputs[0], inputs[1], outputs[0], stream);
}
}  // namespace

bool matmul_arrays(const array& a, const array& b, array& out, cudaStream_t stream) {
  return try_gemv(a, b, out, stream);
}

bool has_general_matmul() { return false; }

void register_matmul_kernels() { register_kernel(std::type_index(typeid(Matmul)), &matmul_kernel); }

}  // namespace ember::gpu
