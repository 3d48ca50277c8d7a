// Python objects <-> ember::array: scalars, nested lists, NumPy arrays.
#include <complex>
#include <cstring>

#include "common.h"

namespace ember::py {

namespace {

enum class Kind { boolean = 0, integer = 1, floating = 2, complex = 3 };

Kind scalar_kind(nb::handle o) {
  if (PyBool_Check(o.ptr())) return Kind::boolean;
  if (PyLong_Check(o.ptr())) return Kind::integer;
  if (PyFloat_Check(o.ptr())) return Kind::floating;
  return Kind::complex;
}

Dtype default_dtype(Kind k, bool big_int) {
  switch (k) {
    case Kind::boolean:
      return bool_;
    case Kind::integer:
      return big_int ? int64 : int32;
    case Kind::floating:
      return float32;
    case Kind::complex:
      return complex64;
  }
  return float32;
}

int64_t to_int64(nb::handle o) {
  int overflow = 0;
  long long v = PyLong_AsLongLongAndOverflow(o.ptr(), &overflow);
  if (overflow != 0) {
    // Beyond int64: accept uint64 values, else fail as NumPy does.
    unsigned long long u = PyLong_AsUnsignedLongLong(o.ptr());
    if (PyErr_Occurred()) {
      PyErr_Clear();
      throw std::overflow_error("[array] Python int too large to convert to an array element");
    }
    return static_cast<int64_t>(u);
  }
  return v;
}

complex64_t to_complex(nb::handle o) {
  Py_complex c = PyComplex_AsCComplex(o.ptr());
  if (PyErr_Occurred()) throw nb::python_error();
  return complex64_t(static_cast<float>(c.real), static_cast<float>(c.imag));
}

bool out_of_int32(int64_t v) { return v < INT32_MIN || v > INT32_MAX; }

// A nested list/tuple of scalars: its shape and its leaves (row-major).
struct Nested {
  Shape shape;
  std::vector<nb::handle> leaves;
  std::vector<array> arrays;  // when the leaves are arrays
  bool has_arrays = false;
  bool has_scalars = false;
};

void walk(nb::handle o, size_t depth, Nested& n) {
  if (PyList_Check(o.ptr()) || PyTuple_Check(o.ptr())) {
    auto len = static_cast<int32_t>(nb::len(o));
    if (depth == n.shape.size()) {
      if (!n.leaves.empty() || !n.arrays.empty()) {
        throw std::invalid_argument("[array] Initialization encountered non-uniform length.");
      }
      n.shape.push_back(len);
    } else if (depth > n.shape.size() || n.shape[depth] != len) {
      throw std::invalid_argument("[array] Initialization encountered non-uniform length.");
    }
    for (nb::handle item : o) walk(item, depth + 1, n);
    return;
  }
  if (depth != n.shape.size()) {
    throw std::invalid_argument("[array] Initialization encountered non-uniform length.");
  }
  if (nb::isinstance<array>(o)) {
    n.has_arrays = true;
    n.arrays.push_back(nb::cast<array>(o));
  } else if (is_python_scalar(o)) {
    n.has_scalars = true;
    n.leaves.push_back(o);
  } else {
    // NumPy scalars and other array-likes inside a list.
    n.has_arrays = true;
    n.arrays.push_back(to_array(o));
  }
}

array from_nested(nb::handle o, std::optional<Dtype> dtype) {
  Nested n;
  walk(o, 0, n);
  if (n.has_arrays && n.has_scalars) {
    throw std::invalid_argument(
        "[array] Initialization of an array from a mix of arrays and scalars is not supported.");
  }
  if (n.has_arrays) {
    // A list of arrays: stack them (each level of nesting adds an axis).
    Shape outer = n.shape;
    Dtype t = n.arrays[0].dtype();
    for (auto& a : n.arrays) t = promote_types(t, a.dtype());
    for (auto& a : n.arrays) {
      if (a.shape() != n.arrays[0].shape()) {
        throw std::invalid_argument("[array] Initialization encountered non-uniform length.");
      }
    }
    Shape inner = n.arrays[0].shape();
    array out = stack(n.arrays, 0);
    Shape full = outer;
    full.insert(full.end(), inner.begin(), inner.end());
    out = reshape(out, full);
    return astype(out, dtype.value_or(t));
  }
  // An empty list is float32, as in MLX.
  Kind k = n.leaves.empty() ? Kind::floating : Kind::boolean;
  bool big = false;
  for (auto h : n.leaves) {
    k = std::max(k, scalar_kind(h));
  }
  size_t count = n.leaves.size();
  Dtype out_dtype = dtype.value_or(float32);
  switch (k) {
    case Kind::boolean: {
      std::vector<uint8_t> v(count);
      for (size_t i = 0; i < count; ++i) v[i] = n.leaves[i].ptr() == Py_True;
      array a(reinterpret_cast<const bool*>(v.data()), n.shape, dtype.value_or(bool_));
      return a;
    }
    case Kind::integer: {
      std::vector<int64_t> v(count);
      for (size_t i = 0; i < count; ++i) {
        v[i] = to_int64(n.leaves[i]);
        big = big || out_of_int32(v[i]);
      }
      out_dtype = dtype.value_or(default_dtype(k, big));
      return array(v.data(), n.shape, out_dtype);
    }
    case Kind::floating: {
      std::vector<double> v(count);
      for (size_t i = 0; i < count; ++i) v[i] = nb::cast<double>(n.leaves[i]);
      return array(v.data(), n.shape, dtype.value_or(float32));
    }
    case Kind::complex: {
      std::vector<complex64_t> v(count);
      for (size_t i = 0; i < count; ++i) {
        v[i] = to_complex(n.leaves[i]);
      }
      return array(v.data(), n.shape, dtype.value_or(complex64));
    }
  }
  throw std::invalid_argument("[array] unsupported element");
}

using NdArray = nb::ndarray<nb::ro, nb::c_contig, nb::device::cpu>;

template <class T>
array from_buffer(const NdArray& nd, const Shape& shape, Dtype dtype) {
  return array(static_cast<const T*>(nd.data()), shape, dtype);
}

array from_numpy(nb::handle obj, std::optional<Dtype> dtype) {
  nb::module_ np = nb::module_::import_("numpy");
  nb::object c = np.attr("asarray")(obj, "order"_a = "C");  // keeps 0-d (ascontiguousarray makes it 1-d)
  NdArray nd;
  if (!nb::try_cast<NdArray>(c, nd)) {
    throw nb::type_error(
        ("[array] cannot convert a NumPy array of dtype " + nb::cast<std::string>(c.attr("dtype").attr("name")))
            .c_str());
  }
  Shape shape(nd.ndim());
  for (size_t i = 0; i < nd.ndim(); ++i) shape[i] = static_cast<int32_t>(nd.shape(i));
  auto t = nd.dtype();
  using nb::dlpack::dtype_code;
  auto code = static_cast<dtype_code>(t.code);
  switch (code) {
    case dtype_code::Bool:
      return from_buffer<bool>(nd, shape, dtype.value_or(bool_));
    case dtype_code::Int:
      switch (t.bits) {
        case 8:
          return from_buffer<int8_t>(nd, shape, dtype.value_or(int8));
        case 16:
          return from_buffer<int16_t>(nd, shape, dtype.value_or(int16));
        case 32:
          return from_buffer<int32_t>(nd, shape, dtype.value_or(int32));
        case 64:
          return from_buffer<int64_t>(nd, shape, dtype.value_or(int64));
      }
      break;
    case dtype_code::UInt:
      switch (t.bits) {
        case 8:
          return from_buffer<uint8_t>(nd, shape, dtype.value_or(uint8));
        case 16:
          return from_buffer<uint16_t>(nd, shape, dtype.value_or(uint16));
        case 32:
          return from_buffer<uint32_t>(nd, shape, dtype.value_or(uint32));
        case 64:
          return from_buffer<uint64_t>(nd, shape, dtype.value_or(uint64));
      }
      break;
    case dtype_code::Float:
      switch (t.bits) {
        case 16:
          return from_buffer<float16_t>(nd, shape, dtype.value_or(float16));
        case 32:
          return from_buffer<float>(nd, shape, dtype.value_or(float32));
        case 64:  // as MLX: NumPy's default float64 becomes float32 unless asked for
          return from_buffer<double>(nd, shape, dtype.value_or(float32));
      }
      break;
    case dtype_code::Complex:
      if (t.bits == 64) return from_buffer<complex64_t>(nd, shape, dtype.value_or(complex64));
      if (t.bits == 128) {
        // complex128 -> complex64 (Ember has no complex128).
        nb::object c64 = c.attr("astype")(np.attr("complex64"));
        NdArray nd64 = nb::cast<NdArray>(c64);
        return from_buffer<complex64_t>(nd64, shape, dtype.value_or(complex64));
      }
      break;
    default:
      break;
  }
  throw nb::type_error("[array] unsupported NumPy dtype");
}

}  // namespace

bool is_python_scalar(nb::handle o) {
  return PyBool_Check(o.ptr()) || PyLong_Check(o.ptr()) || PyFloat_Check(o.ptr()) || PyComplex_Check(o.ptr());
}

array to_array(nb::handle obj, std::optional<Dtype> dtype) {
  if (nb::isinstance<array>(obj)) {
    const array& a = nb::cast<const array&>(obj);
    return dtype && *dtype != a.dtype() ? astype(a, *dtype) : a;
  }
  if (is_python_scalar(obj)) {
    switch (scalar_kind(obj)) {
      case Kind::boolean:
        return array(obj.ptr() == Py_True, dtype.value_or(bool_));
      case Kind::integer: {
        int64_t v = to_int64(obj);
        return array(v, dtype.value_or(out_of_int32(v) ? int64 : int32));
      }
      case Kind::floating:
        return array(nb::cast<double>(obj), dtype.value_or(float32));
      case Kind::complex: {
        return array(to_complex(obj), dtype.value_or(complex64));
      }
    }
  }
  if (PyList_Check(obj.ptr()) || PyTuple_Check(obj.ptr())) return from_nested(obj, dtype);
  if (nb::hasattr(obj, "__array__") || nb::hasattr(obj, "__array_interface__") || PyObject_CheckBuffer(obj.ptr())) {
    return from_numpy(obj, dtype);  // NumPy arrays, array-likes and buffer-protocol objects (memoryview, ...)
  }
  throw nb::type_error(("[array] cannot convert an object of type " +
                        std::string(nb::str(nb::handle(obj.type()).attr("__name__")).c_str()) + " to an array")
                           .c_str());
}

array to_array_weak(nb::handle obj, Dtype other) {
  if (!is_python_scalar(obj)) return to_array(obj);
  switch (scalar_kind(obj)) {
    case Kind::boolean:
      return array(obj.ptr() == Py_True, weak_scalar_dtype(ScalarKind::boolean, other));
    case Kind::integer:
      return array(to_int64(obj), weak_scalar_dtype(ScalarKind::integer, other));
    case Kind::floating:
      return array(nb::cast<double>(obj), weak_scalar_dtype(ScalarKind::floating, other));
    case Kind::complex:
      return to_array(obj);
  }
  return to_array(obj);
}

std::pair<array, array> to_arrays(nb::handle a, nb::handle b) {
  bool sa = is_python_scalar(a), sb = is_python_scalar(b);
  if (sa && !sb) {
    array y = to_array(b);
    return {to_array_weak(a, y.dtype()), y};
  }
  if (sb && !sa) {
    array x = to_array(a);
    return {x, to_array_weak(b, x.dtype())};
  }
  return {to_array(a), to_array(b)};
}

nb::object to_numpy(const array& a_in) {
  array a = a_in;
  // NumPy has no bfloat16: hand out float32 (MLX raises here).
  if (a.dtype() == bfloat16) a = astype(a, float32);
  eval_released({a});
  if (!a.flags().row_contiguous) {
    // Views (transposes, strided slices) are copied to row-major first.
    a = contiguous(a);
    eval_released({a});
  }
  std::vector<size_t> shape(a.shape().begin(), a.shape().end());
  nb::dlpack::dtype dt;
  using nb::dlpack::dtype_code;
  Dtype t = a.dtype();
  dt.lanes = 1;
  dt.bits = static_cast<uint8_t>(t.size() * 8);
  if (t == bool_) {
    dt.code = static_cast<uint8_t>(dtype_code::Bool);
  } else if (is_unsigned(t)) {
    dt.code = static_cast<uint8_t>(dtype_code::UInt);
  } else if (is_signed_integer(t)) {
    dt.code = static_cast<uint8_t>(dtype_code::Int);
  } else if (is_complex(t)) {
    dt.code = static_cast<uint8_t>(dtype_code::Complex);
  } else {
    dt.code = static_cast<uint8_t>(dtype_code::Float);
  }
  // The capsule keeps the ember array (and so its buffer) alive while NumPy uses it.
  auto* keep = new array(a);
  nb::capsule owner(keep, [](void* p) noexcept { delete static_cast<array*>(p); });
  nb::ndarray<nb::numpy, nb::ro> nd(a.raw_ptr(), shape.size(), shape.data(), owner, nullptr, dt);
  return nb::cast(nd, nb::rv_policy::reference);
}

namespace {
template <class T>
nb::object scalar_object(const T& v) {
  if constexpr (std::is_same_v<T, bool>) {
    return nb::bool_(v);
  } else if constexpr (std::is_integral_v<T>) {
    return nb::int_(v);
  } else if constexpr (std::is_same_v<T, complex64_t>) {
    return nb::steal(PyComplex_FromDoubles(v.real(), v.imag()));
  } else {
    return nb::float_(static_cast<double>(v));
  }
}

template <class T>
nb::object list_rec(const T* data, const Shape& shape, size_t dim, size_t& pos) {
  if (dim == shape.size()) return scalar_object(data[pos++]);
  nb::list l;
  for (int32_t i = 0; i < shape[dim]; ++i) l.append(list_rec(data, shape, dim + 1, pos));
  return l;
}
}  // namespace

nb::object item(array a) {
  if (a.size() != 1) {
    throw std::invalid_argument("[item] can only get the item of an array with exactly 1 element, got " +
                                std::to_string(a.size()));
  }
  eval_released({a});
  return dispatch_dtype(a.dtype(), [&](auto t) -> nb::object {
    using T = decltype(t);
    return scalar_object(*a.data<T>());
  });
}

nb::object tolist(array a) {
  if (a.ndim() == 0) return item(a);
  eval_released({a});
  if (!a.flags().row_contiguous) {
    a = contiguous(a);
    eval_released({a});
  }
  return dispatch_dtype(a.dtype(), [&](auto t) -> nb::object {
    using T = decltype(t);
    size_t pos = 0;
    return list_rec(a.data<T>(), a.shape(), 0, pos);
  });
}

std::vector<int> reduce_axes(const std::optional<IntOrVec>& axis, int ndim) {
  if (!axis) {
    std::vector<int> all(ndim);
    for (int i = 0; i < ndim; ++i) all[i] = i;
    return all;
  }
  if (auto* i = std::get_if<int>(&*axis)) return {*i};
  return std::get<std::vector<int>>(*axis);
}

void eval_released(std::vector<array> outputs) {
  nb::gil_scoped_release release;
  eval(std::move(outputs));
}

// ---------------------------------------------------------------- indices

namespace {
Index to_index(nb::handle o) {
  if (PyBool_Check(o.ptr())) {
    throw std::invalid_argument("[index] boolean indices are not supported (data-dependent shapes)");
  }
  if (PyLong_Check(o.ptr())) return Index(to_int64(o));
  if (o.is_none()) return Index(idx::newaxis);
  if (o.ptr() == Py_Ellipsis) return Index(idx::ellipsis);
  if (PySlice_Check(o.ptr())) {
    auto* s = reinterpret_cast<PySliceObject*>(o.ptr());
    idx::Slice sl;
    auto get = [](PyObject* v) -> std::optional<int64_t> {
      if (v == Py_None) return std::nullopt;
      return to_int64(nb::handle(v));
    };
    sl.start = get(s->start);
    sl.stop = get(s->stop);
    if (s->step != Py_None) sl.step = to_int64(nb::handle(s->step));
    if (sl.step == 0) throw std::invalid_argument("[index] slice step cannot be zero");
    return Index(sl);
  }
  if (nb::hasattr(o, "__index__") && !nb::isinstance<array>(o) && !nb::hasattr(o, "__array__")) {
    return Index(to_int64(o.attr("__index__")()));
  }
  // Index arrays: ember arrays, lists, NumPy arrays (a 0-d one indexes like an int).
  return Index(to_array(o));
}
}  // namespace

std::vector<Index> to_indices(nb::handle obj) {
  std::vector<Index> out;
  if (PyTuple_Check(obj.ptr())) {
    for (nb::handle h : obj) out.push_back(to_index(h));
  } else {
    out.push_back(to_index(obj));
  }
  return out;
}

}  // namespace ember::py
