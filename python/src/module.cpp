// ember.core: the compiled module. Each area registers itself (device.cpp,
// array.cpp, ops*.cpp, transforms.cpp, random.cpp, linalg.cpp, fft.cpp, conv.cpp, io.cpp).
#include "common.h"

NB_MODULE(core, m) {
  m.doc() = "Ember's core: arrays, ops and transforms with mlx.core's API.";
  m.attr("__version__") = "0.1.0";
  // Transformed functions (grad, vmap, ...) keep the Python callable they wrap in a C++
  // closure, which Python's cycle collector cannot see: a transformed function stored in
  // a module global that its callable also reaches is still alive when the interpreter
  // tears nanobind down, and nanobind would report it as a leak at exit. The memory goes
  // with the process; the warning would only be noise for users.
  nb::set_leak_warnings(false);
  // C++ errors become the Python ones MLX raises; nanobind's defaults already map
  // invalid_argument -> ValueError, out_of_range -> IndexError, others -> RuntimeError.
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const ember::out_of_memory& e) {
      PyErr_SetString(PyExc_MemoryError, e.what());
    }
  });
  using namespace ember::py;
  init_dtype(m);
  init_device(m);
  init_array(m);
  init_ops(m);
  init_ops_shape(m);
  init_transforms(m);
  init_random(m);
  init_linalg(m);
  init_fft(m);
  init_fast(m);
  init_quantized(m);
  init_conv(m);
  init_io(m);
}
