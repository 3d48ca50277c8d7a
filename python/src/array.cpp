// ember.core.array: construction, properties, conversion, operators,
// indexing (__getitem__, __setitem__, .at[]) and the method forms of the ops.
#include <sstream>

#include "common.h"

namespace ember::py {

namespace {

using BinaryFn = array (*)(const array&, const array&, StreamOrDevice);

// The `a.at[idx]` helpers (MLX's ArrayAt / ArrayAtIndices).
struct ArrayAt {
  array a;
};
struct ArrayAtIndices {
  array a;
  nb::object indices;
};

array at_update(const ArrayAtIndices& x, nb::handle v, IndexUpdate op) {
  return index_update(x.a, to_indices(x.indices), to_array_weak(v, x.a.dtype()), op);
}

// Shape arguments given as reshape(2, 3) or reshape((2, 3)).
Shape shape_from_args(const nb::args& args) {
  Shape shape;
  if (args.size() == 1 && !PyLong_Check(args[0].ptr())) {
    for (nb::handle h : args[0]) shape.push_back(nb::cast<int32_t>(h));
  } else {
    for (nb::handle h : args) shape.push_back(nb::cast<int32_t>(h));
  }
  return shape;
}

template <class F>
void def_binary(nb::class_<array>& c, const char* name, const char* rname, const char* iname, F fn) {
  c.def(name, [fn](const array& a, nb::handle b) { return fn(a, to_array_weak(b, a.dtype()), {}); });
  if (rname) {
    c.def(rname, [fn](const array& a, nb::handle b) { return fn(to_array_weak(b, a.dtype()), a, {}); });
  }
  if (iname) {
    // In place, as MLX: the Python object now holds the result.
    c.def(iname, [fn](nb::object self, nb::handle b) {
      array& a = nb::cast<array&>(self);
      a = fn(a, to_array_weak(b, a.dtype()), {});
      return self;
    });
  }
}

// Reductions as methods: a.sum(axis=None, keepdims=False, stream=None).
template <class F>
void def_reduce(nb::class_<array>& c, const char* name, F fn, const char* doc) {
  c.def(
      name,
      [fn](const array& a, std::optional<IntOrVec> axis, bool keepdims, StreamOrDevice s) {
        return fn(a, reduce_axes(axis, static_cast<int>(a.ndim())), keepdims, s);
      },
      "axis"_a = nb::none(), "keepdims"_a = false, "stream"_a = nb::none(), doc);
}

template <class F>
void def_unary(nb::class_<array>& c, const char* name, F fn, const char* doc) {
  c.def(
      name, [fn](const array& a, StreamOrDevice s) { return fn(a, s); }, "stream"_a = nb::none(), doc);
}

}  // namespace

// The buffer protocol (memoryview(a), bytes(a), ...): the evaluated array exported
// through the NumPy view __array__ gives (read-only; bfloat16 as float32), which the
// Py_buffer keeps alive.
int array_getbuffer(PyObject* self, Py_buffer* view, int flags) {
  try {
    nb::object np = to_numpy(nb::cast<const array&>(nb::handle(self)));
    return PyObject_GetBuffer(np.ptr(), view, flags);
  } catch (const std::exception& e) {
    view->obj = nullptr;
    PyErr_SetString(PyExc_BufferError, e.what());
    return -1;
  }
}

PyType_Slot array_slots[] = {{Py_bf_getbuffer, reinterpret_cast<void*>(array_getbuffer)}, {0, nullptr}};

void init_array(nb::module_& m) {
  nb::class_<ArrayAtIndices>(m, "ArrayAtIndices", "The positions `a.at[idx]` updates.")
      .def(
          "add", [](const ArrayAtIndices& x, nb::handle v) { return at_update(x, v, IndexUpdate::Add); }, "value"_a)
      .def(
          "subtract", [](const ArrayAtIndices& x, nb::handle v) { return at_update(x, v, IndexUpdate::Subtract); },
          "value"_a)
      .def(
          "multiply", [](const ArrayAtIndices& x, nb::handle v) { return at_update(x, v, IndexUpdate::Multiply); },
          "value"_a)
      .def(
          "divide", [](const ArrayAtIndices& x, nb::handle v) { return at_update(x, v, IndexUpdate::Divide); },
          "value"_a)
      .def(
          "maximum", [](const ArrayAtIndices& x, nb::handle v) { return at_update(x, v, IndexUpdate::Maximum); },
          "value"_a)
      .def(
          "minimum", [](const ArrayAtIndices& x, nb::handle v) { return at_update(x, v, IndexUpdate::Minimum); },
          "value"_a);
  nb::class_<ArrayAt>(m, "ArrayAt", "`a.at`: index it to get an updatable view of positions.")
      .def(
          "__getitem__",
          [](const ArrayAt& x, nb::object idx) {
            return ArrayAtIndices{x.a, idx};
          },
          "index"_a.none());

  nb::class_<array> c(m, "array", nb::type_slots(array_slots), "A lazy n-dimensional array.");
  c.def(
       "__init__",
       [](array* self, nb::handle val, std::optional<Dtype> dtype) { new (self) array(to_array(val, dtype)); }, "val"_a,
       "dtype"_a = nb::none(), "An array from a scalar, a (nested) list or tuple, a NumPy array or another array.")
      .def_prop_ro(
          "shape", [](const array& a) { return nb::tuple(nb::cast(a.shape())); }, "The shape, a tuple of ints.")
      .def_prop_ro("ndim", &array::ndim, "Number of dimensions.")
      .def_prop_ro("size", &array::size, "Number of elements.")
      .def_prop_ro("dtype", &array::dtype, "The element type.")
      .def_prop_ro("itemsize", &array::itemsize, "Bytes per element.")
      .def_prop_ro("nbytes", &array::nbytes, "Bytes of all elements.")
      .def_prop_ro(
          "T", [](const array& a) { return transpose(a); }, "The array with its axes reversed.")
      .def_prop_ro(
          "at", [](const array& a) { return ArrayAt{a}; },
          "Functional updates: a.at[idx].add(v), subtract, multiply, divide, maximum, minimum.")
      .def_prop_ro(
          "real", [](const array& a) { return real(a); }, "The real part.")
      .def_prop_ro(
          "imag", [](const array& a) { return imag(a); }, "The imaginary part.")
      .def("item", &item, "The single element as a Python scalar.")
      .def("tolist", &tolist, "The elements as nested Python lists.")
      .def(
          "astype", [](const array& a, Dtype t, StreamOrDevice s) { return astype(a, t, s); }, "dtype"_a,
          "stream"_a = nb::none(), "A copy converted to dtype.")
      .def(
          "view", [](const array& a, Dtype t, StreamOrDevice s) { return view(a, t, s); }, "dtype"_a,
          "stream"_a = nb::none(), "The bytes reinterpreted as dtype.")
      .def(
          "__array__",
          [](const array& a, nb::handle dtype, nb::handle copy) {
            // A read-only view of the buffer (np.asarray: copy=None), or a writable
            // copy when NumPy asks for one (np.array: copy=True) or a dtype change.
            nb::object out = to_numpy(a);
            if (!dtype.is_none()) return out.attr("astype")(dtype);
            if (copy.ptr() == Py_True) return out.attr("copy")();
            return out;
          },
          "dtype"_a.none() = nb::none(), "copy"_a.none() = nb::none())
      .def(
          "__dlpack__", [](const array& a, nb::kwargs kwargs) { return to_numpy(a).attr("__dlpack__")(**kwargs); },
          "kwargs"_a, "The array as a DLPack capsule (CPU memory).")
      .def("__dlpack_device__", [](const array&) { return nb::make_tuple(1, 0); })
      .def("__reduce__",
           [](const array& a) {
             // Pickles as (array, (NumPy copy, dtype)); bfloat16 goes through float32 exactly.
             nb::object np = to_numpy(a).attr("copy")();
             return nb::make_tuple(nb::type<array>(), nb::make_tuple(np, a.dtype()));
           })
      .def("__repr__",
           [](const array& a) {
             eval_released({a});
             std::ostringstream os;
             os << a;
             return os.str();
           })
      .def("__len__",
           [](const array& a) {
             if (a.ndim() == 0) throw nb::type_error("len() 0-dimensional array.");
             return a.shape(0);
           })
      .def("__iter__",
           [](const array& a) {
             if (a.ndim() == 0) throw nb::type_error("iteration over a 0-d array.");
             nb::list l;
             for (int32_t i = 0; i < a.shape(0); ++i) l.append(index(a, {Index(i)}));
             return nb::iter(l);
           })
      .def("__bool__",
           [](const array& a) {
             if (a.size() != 1) {
               throw std::invalid_argument("The truth value of an array with more than one element is ambiguous.");
             }
             return nb::cast<bool>(item(astype(a, bool_)));
           })
      .def("__int__", [](const array& a) { return item(astype(a, int64)); })
      .def("__float__", [](const array& a) { return item(astype(a, float64)); })
      .def("__index__",
           [](const array& a) {
             if (!is_integral(a.dtype()) || a.size() != 1) {
               throw nb::type_error("only integer arrays with one element can be converted to an index");
             }
             return item(astype(a, int64));
           })
      .def("__hash__", [](const array& a) { return static_cast<Py_ssize_t>(a.id()); })
      .def("__copy__", [](const array& a) { return a; })
      .def(
          "__deepcopy__", [](const array& a, nb::handle) { return copy(a); }, "memo"_a)
      .def(
          "__getitem__", [](const array& a, nb::handle idx) { return index(a, to_indices(idx)); }, "index"_a.none())
      .def(
          "__setitem__",
          [](array& a, nb::handle idx, nb::handle v) {
            // In place, as MLX: the Python object now holds the updated array.
            a = index_update(a, to_indices(idx), to_array_weak(v, a.dtype()));
          },
          "index"_a.none(), "value"_a)
      // ---------------------------------------------------------- unary operators
      .def("__neg__", [](const array& a) { return negative(a); })
      .def("__pos__", [](const array& a) { return a; })
      .def("__abs__", [](const array& a) { return abs(a); })
      .def("__invert__", [](const array& a) { return a.dtype() == bool_ ? logical_not(a) : bitwise_invert(a); });

  def_binary(c, "__add__", "__radd__", "__iadd__",
             [](const array& a, const array& b, StreamOrDevice s) { return add(a, b, s); });
  def_binary(c, "__sub__", "__rsub__", "__isub__",
             [](const array& a, const array& b, StreamOrDevice s) { return subtract(a, b, s); });
  def_binary(c, "__mul__", "__rmul__", "__imul__",
             [](const array& a, const array& b, StreamOrDevice s) { return multiply(a, b, s); });
  def_binary(c, "__truediv__", "__rtruediv__", "__itruediv__",
             [](const array& a, const array& b, StreamOrDevice s) { return divide(a, b, s); });
  def_binary(c, "__floordiv__", "__rfloordiv__", "__ifloordiv__",
             [](const array& a, const array& b, StreamOrDevice s) { return floor_divide(a, b, s); });
  def_binary(c, "__mod__", "__rmod__", "__imod__",
             [](const array& a, const array& b, StreamOrDevice s) { return remainder(a, b, s); });
  def_binary(c, "__pow__", "__rpow__", "__ipow__",
             [](const array& a, const array& b, StreamOrDevice s) { return power(a, b, s); });
  def_binary(c, "__matmul__", "__rmatmul__", "__imatmul__",
             [](const array& a, const array& b, StreamOrDevice s) { return matmul(a, b, s); });
  def_binary(c, "__lt__", nullptr, nullptr,
             [](const array& a, const array& b, StreamOrDevice s) { return less(a, b, s); });
  def_binary(c, "__le__", nullptr, nullptr,
             [](const array& a, const array& b, StreamOrDevice s) { return less_equal(a, b, s); });
  def_binary(c, "__gt__", nullptr, nullptr,
             [](const array& a, const array& b, StreamOrDevice s) { return greater(a, b, s); });
  def_binary(c, "__ge__", nullptr, nullptr,
             [](const array& a, const array& b, StreamOrDevice s) { return greater_equal(a, b, s); });
  def_binary(c, "__and__", "__rand__", "__iand__",
             [](const array& a, const array& b, StreamOrDevice s) { return bitwise_and(a, b, s); });
  def_binary(c, "__or__", "__ror__", "__ior__",
             [](const array& a, const array& b, StreamOrDevice s) { return bitwise_or(a, b, s); });
  def_binary(c, "__xor__", "__rxor__", "__ixor__",
             [](const array& a, const array& b, StreamOrDevice s) { return bitwise_xor(a, b, s); });
  def_binary(c, "__lshift__", "__rlshift__", "__ilshift__",
             [](const array& a, const array& b, StreamOrDevice s) { return left_shift(a, b, s); });
  def_binary(c, "__rshift__", "__rrshift__", "__irshift__",
             [](const array& a, const array& b, StreamOrDevice s) { return right_shift(a, b, s); });
  // == and != with something that is not array-like are False / True, as in Python.
  c.def(
      "__eq__",
      [](const array& a, nb::handle b) -> nb::object {
        try {
          return nb::cast(equal(a, to_array_weak(b, a.dtype())));
        } catch (const nb::builtin_exception&) {
          return nb::bool_(false);
        }
      },
      "other"_a.none());
  c.def(
      "__ne__",
      [](const array& a, nb::handle b) -> nb::object {
        try {
          return nb::cast(not_equal(a, to_array_weak(b, a.dtype())));
        } catch (const nb::builtin_exception&) {
          return nb::bool_(true);
        }
      },
      "other"_a.none());
  c.def("__divmod__", [](const array& a, nb::handle b) {
    auto r = divmod(a, to_array_weak(b, a.dtype()));
    return nb::make_tuple(r[0], r[1]);
  });

  // ------------------------------------------------------------ method forms
  def_reduce(
      c, "sum", [](const array& a, const std::vector<int>& ax, bool k, StreamOrDevice s) { return sum(a, ax, k, s); },
      "See ember.core.sum.");
  def_reduce(
      c, "prod", [](const array& a, const std::vector<int>& ax, bool k, StreamOrDevice s) { return prod(a, ax, k, s); },
      "See ember.core.prod.");
  def_reduce(
      c, "max", [](const array& a, const std::vector<int>& ax, bool k, StreamOrDevice s) { return max(a, ax, k, s); },
      "See ember.core.max.");
  def_reduce(
      c, "min", [](const array& a, const std::vector<int>& ax, bool k, StreamOrDevice s) { return min(a, ax, k, s); },
      "See ember.core.min.");
  def_reduce(
      c, "mean", [](const array& a, const std::vector<int>& ax, bool k, StreamOrDevice s) { return mean(a, ax, k, s); },
      "See ember.core.mean.");
  def_reduce(
      c, "all", [](const array& a, const std::vector<int>& ax, bool k, StreamOrDevice s) { return all(a, ax, k, s); },
      "See ember.core.all.");
  def_reduce(
      c, "any", [](const array& a, const std::vector<int>& ax, bool k, StreamOrDevice s) { return any(a, ax, k, s); },
      "See ember.core.any.");
  def_reduce(
      c, "logsumexp",
      [](const array& a, const std::vector<int>& ax, bool k, StreamOrDevice s) { return logsumexp(a, ax, k, s); },
      "See ember.core.logsumexp.");
  c.def(
      "var",
      [](const array& a, std::optional<IntOrVec> axis, bool keepdims, int ddof, StreamOrDevice s) {
        return var(a, reduce_axes(axis, static_cast<int>(a.ndim())), keepdims, ddof, s);
      },
      "axis"_a = nb::none(), "keepdims"_a = false, "ddof"_a = 0, "stream"_a = nb::none(), "See ember.core.var.");
  c.def(
      "std",
      [](const array& a, std::optional<IntOrVec> axis, bool keepdims, int ddof, StreamOrDevice s) {
        return ember::std(a, reduce_axes(axis, static_cast<int>(a.ndim())), keepdims, ddof, s);
      },
      "axis"_a = nb::none(), "keepdims"_a = false, "ddof"_a = 0, "stream"_a = nb::none(), "See ember.core.std.");
  c.def(
      "argmax",
      [](const array& a, std::optional<int> axis, bool keepdims, StreamOrDevice s) {
        return axis ? argmax(a, *axis, keepdims, s) : argmax(a, keepdims, s);
      },
      "axis"_a = nb::none(), "keepdims"_a = false, "stream"_a = nb::none(), "See ember.core.argmax.");
  c.def(
      "argmin",
      [](const array& a, std::optional<int> axis, bool keepdims, StreamOrDevice s) {
        return axis ? argmin(a, *axis, keepdims, s) : argmin(a, keepdims, s);
      },
      "axis"_a = nb::none(), "keepdims"_a = false, "stream"_a = nb::none(), "See ember.core.argmin.");
  c.def(
      "cumsum",
      [](const array& a, std::optional<int> axis, bool reverse, bool inclusive, StreamOrDevice s) {
        return cumsum(a, axis, reverse, inclusive, s);
      },
      "axis"_a = nb::none(), "reverse"_a = false, "inclusive"_a = true, "stream"_a = nb::none(),
      "See ember.core.cumsum.");
  c.def(
      "cumprod",
      [](const array& a, std::optional<int> axis, bool reverse, bool inclusive, StreamOrDevice s) {
        return cumprod(a, axis, reverse, inclusive, s);
      },
      "axis"_a = nb::none(), "reverse"_a = false, "inclusive"_a = true, "stream"_a = nb::none(),
      "See ember.core.cumprod.");
  for (auto [name, fn] :
       {std::pair{"cummax", &cummax}, std::pair{"cummin", &cummin}, std::pair{"logcumsumexp", &logcumsumexp}}) {
    c.def(
        name,
        [fn](const array& a, std::optional<int> axis, bool reverse, bool inclusive, StreamOrDevice s) {
          return fn(a, axis, reverse, inclusive, s);
        },
        "axis"_a = nb::none(), "reverse"_a = false, "inclusive"_a = true, "stream"_a = nb::none(),
        "See the function of the same name in ember.core.");
  }
  c.def(
      "reshape", [](const array& a, nb::args shape, StreamOrDevice s) { return reshape(a, shape_from_args(shape), s); },
      "shape"_a, nb::kw_only(), "stream"_a = nb::none(), "reshape(*shape) or reshape(shape).");
  c.def(
      "transpose",
      [](const array& a, nb::args axes, StreamOrDevice s) {
        if (axes.size() == 0) return transpose(a, s);
        Shape ax = shape_from_args(axes);
        return transpose(a, std::vector<int>(ax.begin(), ax.end()), s);
      },
      "axes"_a, nb::kw_only(), "stream"_a = nb::none(), "transpose(*axes) or transpose(axes).");
  c.def(
      "flatten",
      [](const array& a, int start_axis, int end_axis, StreamOrDevice s) {
        return flatten(a, start_axis, end_axis, s);
      },
      "start_axis"_a = 0, "end_axis"_a = -1, "stream"_a = nb::none(), "See ember.core.flatten.");
  c.def(
      "squeeze",
      [](const array& a, std::optional<IntOrVec> axis, StreamOrDevice s) {
        return axis ? squeeze(a, reduce_axes(axis, 0), s) : squeeze(a, s);
      },
      "axis"_a = nb::none(), "stream"_a = nb::none(), "See ember.core.squeeze.");
  c.def(
      "swapaxes", [](const array& a, int a1, int a2, StreamOrDevice s) { return swapaxes(a, a1, a2, s); }, "axis1"_a,
      "axis2"_a, "stream"_a = nb::none(), "See ember.core.swapaxes.");
  c.def(
      "moveaxis", [](const array& a, int src, int dst, StreamOrDevice s) { return moveaxis(a, src, dst, s); },
      "source"_a, "destination"_a, "stream"_a = nb::none(), "See ember.core.moveaxis.");
  c.def(
      "split",
      [](const array& a, std::variant<int, Shape> ind, int axis, StreamOrDevice s) {
        if (auto* n = std::get_if<int>(&ind)) return split(a, *n, axis, s);
        return split(a, std::get<Shape>(ind), axis, s);
      },
      "indices_or_sections"_a, "axis"_a = 0, "stream"_a = nb::none(), "See ember.core.split.");
  c.def(
      "round", [](const array& a, int decimals, StreamOrDevice s) { return round(a, decimals, s); }, "decimals"_a = 0,
      "stream"_a = nb::none(), "See ember.core.round.");
  c.def(
      "diagonal",
      [](const array& a, int offset, int axis1, int axis2, StreamOrDevice s) {
        return diagonal(a, offset, axis1, axis2, s);
      },
      "offset"_a = 0, "axis1"_a = 0, "axis2"_a = 1, "stream"_a = nb::none(), "See ember.core.diagonal.");
  c.def(
      "diag", [](const array& a, int k, StreamOrDevice s) { return diag(a, k, s); }, "k"_a = 0, "stream"_a = nb::none(),
      "See ember.core.diag.");
  c.def(
      "conj", [](const array& a, StreamOrDevice s) { return conjugate(a, s); }, "stream"_a = nb::none(),
      "See ember.core.conjugate.");
  def_unary(
      c, "abs", [](const array& a, StreamOrDevice s) { return abs(a, s); }, "See ember.core.abs.");
  def_unary(
      c, "square", [](const array& a, StreamOrDevice s) { return square(a, s); }, "See ember.core.square.");
  def_unary(
      c, "sqrt", [](const array& a, StreamOrDevice s) { return sqrt(a, s); }, "See ember.core.sqrt.");
  def_unary(
      c, "rsqrt", [](const array& a, StreamOrDevice s) { return rsqrt(a, s); }, "See ember.core.rsqrt.");
  def_unary(
      c, "reciprocal", [](const array& a, StreamOrDevice s) { return reciprocal(a, s); }, "See ember.core.reciprocal.");
  def_unary(
      c, "exp", [](const array& a, StreamOrDevice s) { return exp(a, s); }, "See ember.core.exp.");
  def_unary(
      c, "log", [](const array& a, StreamOrDevice s) { return log(a, s); }, "See ember.core.log.");
  def_unary(
      c, "log2", [](const array& a, StreamOrDevice s) { return log2(a, s); }, "See ember.core.log2.");
  def_unary(
      c, "log10", [](const array& a, StreamOrDevice s) { return log10(a, s); }, "See ember.core.log10.");
  def_unary(
      c, "log1p", [](const array& a, StreamOrDevice s) { return log1p(a, s); }, "See ember.core.log1p.");
  def_unary(
      c, "sin", [](const array& a, StreamOrDevice s) { return sin(a, s); }, "See ember.core.sin.");
  def_unary(
      c, "cos", [](const array& a, StreamOrDevice s) { return cos(a, s); }, "See ember.core.cos.");
}

}  // namespace ember::py
