// Shared pieces of the ember.core bindings: conversions between Python objects
// and ember::array, type casters for array-like arguments and stream/device
// keywords, and the pytree helpers.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/variant.h>
#include <nanobind/stl/vector.h>

#include <optional>
#include <variant>
#include <vector>

#include "ember/ember.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace ember::py {

/// Anything MLX accepts where an array is expected: an array, a Python scalar,
/// a (nested) list or tuple, a NumPy array or an object with __array__.
struct ArrayLike {
  std::optional<array> v;
  operator const array&() const { return *v; }
  const array& get() const { return *v; }
};

/// `axis=`: None, an int or a sequence of ints.
using IntOrVec = std::variant<int, std::vector<int>>;

/// Converts a Python object to an array (MLX's dtype inference: bool -> bool,
/// int -> int32, float -> float32, complex -> complex64; NumPy float64 -> float32
/// unless `dtype` says otherwise). Throws nb::type_error / std::invalid_argument.
array to_array(nb::handle obj, std::optional<Dtype> dtype = std::nullopt);
/// Whether `obj` is a Python bool/int/float/complex (a "weak" scalar).
bool is_python_scalar(nb::handle obj);
/// `obj` as an array for use next to an array of dtype `other`: Python scalars
/// are weak (they take `other`'s dtype unless their kind is higher).
array to_array_weak(nb::handle obj, Dtype other);
/// Both operands of a binary op as arrays, with MLX's weak-scalar rules.
std::pair<array, array> to_arrays(nb::handle a, nb::handle b);

/// The NumPy array of `a` (evaluates; shares the buffer when possible; read-only).
nb::object to_numpy(const array& a);
/// Python scalar of a one-element array.
nb::object item(array a);
/// Nested Python lists of `a`'s elements.
nb::object tolist(array a);

/// All axes of an `ndim`-d array for `axis=None`, else the given axes.
std::vector<int> reduce_axes(const std::optional<IntOrVec>& axis, int ndim);

/// Converts a Python index expression (int, slice, None, Ellipsis, arrays, lists, tuples of those).
std::vector<Index> to_indices(nb::handle obj);

// ---------------------------------------------------------------- pytrees
/// The arrays in a nested list/tuple/dict, depth first (dict values in key order of
/// iteration). Other leaves are skipped unless `strict`, where they raise ValueError.
std::vector<array> tree_flatten(nb::handle tree, bool strict = true);
/// A copy of `tree` with its array leaves replaced, in tree_flatten's order, by
/// `leaves[pos...]`; `pos` advances past the leaves used.
nb::object tree_unflatten(nb::handle tree, const std::vector<array>& leaves, size_t& pos);
/// A copy of `tree` with every array leaf passed through `f`.
/// Puts `leaves` (from pos on) in place of the array leaves of `tree`'s lists and dicts,
/// in tree_flatten's order (compile's state update).
void tree_replace(nb::handle tree, const std::vector<array>& leaves, size_t& pos);
/// Appends a text naming `tree`'s structure and its non-array leaves (compile's cache key).
void tree_key(nb::handle tree, std::string& key);
nb::object tree_map_arrays(nb::handle tree, const std::function<nb::object(const array&)>& f);

/// Evaluates with the GIL released.
void eval_released(std::vector<array> outputs);

void init_dtype(nb::module_& m);
void init_device(nb::module_& m);
void init_array(nb::module_& m);
void init_ops(nb::module_& m);
void init_ops_shape(nb::module_& m);
void init_transforms(nb::module_& m);
void init_random(nb::module_& m);
void init_linalg(nb::module_& m);
void init_fft(nb::module_& m);
void init_fast(nb::module_& m);
void init_quantized(nb::module_& m);
void init_conv(nb::module_& m);
void init_io(nb::module_& m);

}  // namespace ember::py

namespace nanobind::detail {

template <>
struct type_caster<ember::py::ArrayLike> {
  NB_TYPE_CASTER(ember::py::ArrayLike, const_name("array | bool | int | float | complex | list | tuple"))
  bool from_python(handle src, uint8_t, cleanup_list*) noexcept {
    try {
      value.v = ember::py::to_array(src);
      return true;
    } catch (...) {
      return false;
    }
  }
  static handle from_cpp(const ember::py::ArrayLike& v, rv_policy p, cleanup_list* cl) noexcept {
    return make_caster<ember::array>::from_cpp(*v.v, rv_policy::copy, cl);
  }
};

/// `stream=`: None, a Stream, a Device or a DeviceType.
template <>
struct type_caster<ember::StreamOrDevice> {
  NB_TYPE_CASTER(ember::StreamOrDevice, const_name("Stream | Device"))
  bool from_python(handle src, uint8_t, cleanup_list*) noexcept {
    try {
      if (src.is_none()) {
        value = ember::StreamOrDevice{};
      } else if (nanobind::isinstance<ember::Stream>(src)) {
        value = ember::StreamOrDevice(nanobind::cast<ember::Stream>(src));
      } else if (nanobind::isinstance<ember::Device>(src)) {
        value = ember::StreamOrDevice(nanobind::cast<ember::Device>(src));
      } else if (nanobind::isinstance<ember::Device::DeviceType>(src)) {
        value = ember::StreamOrDevice(nanobind::cast<ember::Device::DeviceType>(src));
      } else {
        return false;
      }
      return true;
    } catch (...) {
      return false;
    }
  }
  static handle from_cpp(const ember::StreamOrDevice&, rv_policy, cleanup_list*) noexcept { return none().release(); }
};

}  // namespace nanobind::detail
