// Dtypes, devices, streams and memory statistics.
#include <limits>
#include <sstream>

#include "common.h"

namespace ember::py {

namespace {
// mlx.core.finfo / iinfo.
struct FInfo {
  Dtype dtype;
  double min, max, eps;
};
struct IInfo {
  Dtype dtype;
  nb::object min, max;
};

// `with ember.core.stream(s):` makes s (or the device's default stream) the default while inside.
struct StreamContext {
  StreamOrDevice target;
  std::optional<Device> prev_device;
  std::optional<Stream> prev_stream;
};
}  // namespace

void init_dtype(nb::module_& m) {
  nb::class_<Dtype>(m, "Dtype", "An element type, e.g. ember.core.float32.")
      .def(
          "__init__",
          [](Dtype* self, const std::string& name) {
            for (Dtype t : kAllDtypes) {
              if (dtype_name(t) == name || (t == bool_ && name == "bool_")) {
                new (self) Dtype(t);
                return;
              }
            }
            throw std::invalid_argument("[Dtype] unknown dtype name '" + name + "'");
          },
          "name"_a, "The dtype of a name ('float32', ...); pickle uses it.")
      .def_prop_ro("size", &Dtype::size, "Bytes per element.")
      .def("__repr__", [](const Dtype& t) { return "ember.core." + dtype_name(t); })
      .def("__eq__", [](const Dtype& a, nb::handle b) { return nb::isinstance<Dtype>(b) && a == nb::cast<Dtype>(b); })
      .def("__hash__", [](const Dtype& t) { return static_cast<int>(t.val); })
      // Pickles by name: the module attribute ember.core.<name>.
      .def("__reduce__", [](const Dtype& t) {
        std::string name = t == bool_ ? "bool_" : dtype_name(t);
        return nb::make_tuple(nb::type<Dtype>(), nb::make_tuple(name));
      });
  for (Dtype t : kAllDtypes) {
    std::string name = dtype_name(t);
    m.attr(name == "bool" ? "bool_" : name.c_str()) = t;
  }

  nb::enum_<DtypeCategory>(m, "DtypeCategory", "Categories of dtypes, as numpy's type hierarchy.")
      .value("complexfloating", DtypeCategory::complexfloating)
      .value("floating", DtypeCategory::floating)
      .value("inexact", DtypeCategory::inexact)
      .value("signedinteger", DtypeCategory::signedinteger)
      .value("unsignedinteger", DtypeCategory::unsignedinteger)
      .value("integer", DtypeCategory::integer)
      .value("number", DtypeCategory::number)
      .value("generic", DtypeCategory::generic)
      .export_values();

  m.def("issubdtype", nb::overload_cast<Dtype, Dtype>(&issubdtype), "arg1"_a, "arg2"_a,
        "Whether arg1 is a subtype of arg2 (a dtype or a DtypeCategory).");
  m.def("issubdtype", nb::overload_cast<Dtype, DtypeCategory>(&issubdtype), "arg1"_a, "arg2"_a);
  m.def("issubdtype", nb::overload_cast<DtypeCategory, DtypeCategory>(&issubdtype), "arg1"_a, "arg2"_a);
  m.def(
      "issubdtype", [](DtypeCategory, Dtype) { return false; }, "arg1"_a, "arg2"_a);
  nb::class_<FInfo>(m, "finfo", "Machine limits of a floating-point dtype: min, max, eps.")
      .def(
          "__init__",
          [](FInfo* self, Dtype t) {
            if (!is_inexact(t)) {
              throw std::invalid_argument("[finfo] dtype " + dtype_name(t) + " is not inexact");
            }
            Dtype real = t == complex64 ? float32 : t;
            new (self) FInfo(dispatch_dtype(real, [real](auto v) -> FInfo {
              using T = decltype(v);
              if constexpr (std::is_same_v<T, complex64_t> || std::is_integral_v<T>) {
                return {real, 0, 0, 0};  // unreachable: real is a floating dtype
              } else {
                using L = std::numeric_limits<T>;
                auto d = [](T x) {
                  if constexpr (std::is_same_v<T, double>) {
                    return x;
                  } else {
                    return static_cast<double>(static_cast<float>(x));
                  }
                };
                return {real, d(L::lowest()), d(L::max()), d(L::epsilon())};
              }
            }));
            self->dtype = t;
          },
          "dtype"_a)
      .def_ro("min", &FInfo::min)
      .def_ro("max", &FInfo::max)
      .def_ro("eps", &FInfo::eps)
      .def_ro("dtype", &FInfo::dtype)
      .def("__repr__", [](const FInfo& f) {
        std::ostringstream os;
        os << "finfo(min=" << f.min << ", max=" << f.max << ", eps=" << f.eps << ", dtype=" << dtype_name(f.dtype)
           << ")";
        return os.str();
      });
  nb::class_<IInfo>(m, "iinfo", "Limits of an integer dtype: min, max.")
      .def(
          "__init__",
          [](IInfo* self, Dtype t) {
            if (!is_integral(t)) {
              throw std::invalid_argument("[iinfo] dtype " + dtype_name(t) + " is not an integer type");
            }
            new (self) IInfo(dispatch_dtype(t, [t](auto v) -> IInfo {
              using T = decltype(v);
              if constexpr (std::is_integral_v<T>) {
                return {t, nb::int_(std::numeric_limits<T>::min()), nb::int_(std::numeric_limits<T>::max())};
              } else {
                return {t, nb::none(), nb::none()};  // unreachable
              }
            }));
          },
          "dtype"_a)
      .def_ro("min", &IInfo::min)
      .def_ro("max", &IInfo::max)
      .def_ro("dtype", &IInfo::dtype)
      .def("__repr__", [](const IInfo& i) {
        return "iinfo(min=" + std::string(nb::str(i.min).c_str()) + ", max=" + std::string(nb::str(i.max).c_str()) +
               ", dtype=" + dtype_name(i.dtype) + ")";
      });

  m.def("promote_types", &promote_types, "type1"_a, "type2"_a, "The dtype two dtypes promote to.");
}

void init_device(nb::module_& m) {
  nb::enum_<Device::DeviceType>(m, "DeviceType").value("cpu", Device::cpu).value("gpu", Device::gpu).export_values();
  nb::class_<Device>(m, "Device", "A compute device.")
      .def(nb::init<Device::DeviceType, int>(), "type"_a, "index"_a = 0)
      .def_ro("type", &Device::type)
      .def_ro("index", &Device::index)
      .def("__repr__",
           [](const Device& d) {
             std::ostringstream os;
             os << d;
             return os.str();
           })
      .def("__eq__", [](const Device& a, nb::handle b) {
        if (nb::isinstance<Device>(b)) return a == nb::cast<Device>(b);
        if (nb::isinstance<Device::DeviceType>(b)) return a == Device(nb::cast<Device::DeviceType>(b));
        return false;
      });
  nb::implicitly_convertible<Device::DeviceType, Device>();

  nb::class_<Stream>(m, "Stream", "An ordered queue of work on one device.")
      .def(nb::init<int, Device>(), "index"_a, "device"_a)
      .def_ro("index", &Stream::index)
      .def_ro("device", &Stream::device)
      .def("__repr__",
           [](const Stream& s) {
             std::ostringstream os;
             os << s;
             return os.str();
           })
      .def("__eq__",
           [](const Stream& a, nb::handle b) { return nb::isinstance<Stream>(b) && a == nb::cast<Stream>(b); });

  m.def("default_device", &default_device, nb::rv_policy::copy, "The device ops use when none is given.");
  m.def("set_default_device", &set_default_device, "device"_a, "Sets the default device.");
  m.def("is_available", &is_available, "device"_a, "Whether this build and machine can run ops on the device.");
  m.def(
      "default_stream", [](const Device& d) { return default_stream(d); }, "device"_a,
      "The default stream of a device.");
  m.def("set_default_stream", &set_default_stream, "stream"_a, "Sets the default stream of its device.");
  m.def(
      "new_stream", [](const Device& d) { return new_stream(d); }, "device"_a, "A new stream on the device.");
  m.def(
      "synchronize",
      [](std::optional<Stream> s) {
        nb::gil_scoped_release r;
        if (s) {
          synchronize(*s);
        } else {
          synchronize();
        }
      },
      "stream"_a = nb::none(), "Blocks until the stream's (default: the default stream's) work is done.");

  nb::class_<StreamContext>(m, "StreamContext", "Context manager made by stream().")
      .def("__enter__",
           [](StreamContext& c) {
             c.prev_device = default_device();
             Stream s = to_stream(c.target);
             c.prev_stream = default_stream(s.device);
             set_default_device(s.device);
             set_default_stream(s);
           })
      .def(
          "__exit__",
          [](StreamContext& c, nb::handle, nb::handle, nb::handle) {
            if (c.prev_stream) set_default_stream(*c.prev_stream);
            if (c.prev_device) set_default_device(*c.prev_device);
          },
          "exc_type"_a.none(), "exc_value"_a.none(), "traceback"_a.none());
  m.def(
      "stream",
      [](StreamOrDevice s) {
        return StreamContext{s, std::nullopt, std::nullopt};
      },
      "s"_a, "A context manager making s (a Stream or Device) the default while inside: `with stream(cpu): ...`.");

  nb::module_ cuda = m.def_submodule("cuda", "CUDA availability, as mlx.core.cuda.");
  cuda.def(
      "is_available", [] { return is_available(Device(Device::gpu)); },
      "Whether this build has the CUDA backend and a GPU is present.");

  m.def("get_active_memory", &get_active_memory, "Bytes held by live arrays.");
  m.def("get_peak_memory", &get_peak_memory, "Highest active memory since start or reset_peak_memory().");
  m.def("reset_peak_memory", &reset_peak_memory, "Resets the peak memory to zero.");
  m.def("get_cache_memory", &get_cache_memory, "Bytes kept in the allocator's cache.");
  m.def("set_memory_limit", &set_memory_limit, "limit"_a,
        "Caps active memory on each device (the host's arrays, each GPU's); returns the previous limit. The "
        "default, 90% of system memory, caps the host only.");
  m.def("get_memory_limit", &get_memory_limit, "The memory limit (0: none).");
  m.def("set_cache_limit", &set_cache_limit, "limit"_a, "Caps the cache; returns the previous limit.");
  m.def("clear_cache", &clear_cache, "Frees every cached block.");
}

}  // namespace ember::py
