// ember.core save / load: .npy, .npz, .safetensors and .gguf, as mlx.core.
// Paths or binary file objects (through a temporary file). GGUF metadata converts as MLX's does.
#include <nanobind/stl/unordered_map.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <variant>

#include "common.h"

namespace ember::py {

namespace {
bool is_path(nb::handle file) { return PyUnicode_Check(file.ptr()) || nb::hasattr(file, "__fspath__"); }

std::string path_of(nb::handle file) {
  if (PyUnicode_Check(file.ptr())) return nb::cast<std::string>(file);
  if (nb::hasattr(file, "__fspath__")) return nb::cast<std::string>(file.attr("__fspath__")());
  throw nb::type_error("[save/load] file must be a path (str or os.PathLike) or a binary file object");
}

// A temporary file named *.<ext>, removed when this goes away. The C++ writers and loaders
// work on paths (the loaders memory-map), so file objects go through one; a mapping made
// from it stays valid after the name is removed.
class TempFile {
 public:
  explicit TempFile(const std::string& ext) {
    std::string templ = (std::filesystem::temp_directory_path() / "ember-io-XXXXXX").string() + "." + ext;
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    int fd = mkstemps(buf.data(), static_cast<int>(ext.size() + 1));
    if (fd < 0) throw std::runtime_error("[save/load] cannot create a temporary file in " + templ);
    close(fd);
    path_ = buf.data();
  }
  ~TempFile() { std::remove(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Runs `write(path)` on the file's path, or for a file object on a temporary file whose
// bytes then go to file.write().
template <class F>
void save_to(nb::handle file, const char* ext, F&& write) {
  if (is_path(file)) return write(path_of(file));
  if (!nb::hasattr(file, "write")) path_of(file);  // throws the TypeError
  TempFile tmp(ext);
  write(tmp.path());
  std::ifstream in(tmp.path(), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  file.attr("write")(nb::bytes(bytes.data(), bytes.size()));
}

std::string extension(const std::string& path) {
  auto dot = path.rfind('.');
  auto slash = path.rfind('/');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  return path.substr(dot + 1);
}

nb::dict to_dict(const std::unordered_map<std::string, array>& m) {
  nb::dict d;
  for (auto& [k, v] : m) d[k.c_str()] = nb::cast(v);
  return d;
}

// savez(file, *args, **kwargs): positional arrays are named arr_0, arr_1, ...
std::unordered_map<std::string, array> named_arrays(const nb::args& args, const nb::kwargs& kwargs) {
  std::unordered_map<std::string, array> out;
  for (size_t i = 0; i < args.size(); ++i) out.emplace("arr_" + std::to_string(i), to_array(args[i]));
  for (auto [k, v] : kwargs) {
    std::string key = nb::cast<std::string>(k);
    if (out.count(key)) throw std::invalid_argument("[savez] cannot use un-named variables and keyword " + key);
    out.emplace(key, to_array(v));
  }
  return out;
}
// ---- GGUF metadata <-> Python, as mlx.core: numbers become arrays (0-d, or 1-d for a
// GGUF array), strings str, string arrays lists of str.

template <class T>
array numbers_of(const std::vector<GGUFValue>& vs) {
  // Through a plain buffer: std::vector<bool> has no data().
  std::unique_ptr<T[]> v(new T[vs.size()]);
  for (size_t i = 0; i < vs.size(); ++i) v[i] = vs[i].get<T>();
  return array(v.get(), Shape{static_cast<int32_t>(vs.size())});
}

nb::object from_gguf(const GGUFValue& v) {
  return std::visit(
      [&](const auto& x) -> nb::object {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return nb::str(x.c_str(), x.size());
        } else if constexpr (std::is_same_v<T, GGUFArray>) {
          switch (x.type) {
            case GGUFType::uint8:
              return nb::cast(numbers_of<uint8_t>(x.values));
            case GGUFType::int8:
              return nb::cast(numbers_of<int8_t>(x.values));
            case GGUFType::uint16:
              return nb::cast(numbers_of<uint16_t>(x.values));
            case GGUFType::int16:
              return nb::cast(numbers_of<int16_t>(x.values));
            case GGUFType::uint32:
              return nb::cast(numbers_of<uint32_t>(x.values));
            case GGUFType::int32:
              return nb::cast(numbers_of<int32_t>(x.values));
            case GGUFType::float32:
              return nb::cast(numbers_of<float>(x.values));
            case GGUFType::bool_:
              return nb::cast(numbers_of<bool>(x.values));
            case GGUFType::uint64:
              return nb::cast(numbers_of<uint64_t>(x.values));
            case GGUFType::int64:
              return nb::cast(numbers_of<int64_t>(x.values));
            case GGUFType::float64:
              return nb::cast(numbers_of<double>(x.values));
            default: {  // strings and nested arrays: a list
              nb::list l;
              for (const auto& e : x.values) l.append(from_gguf(e));
              return l;
            }
          }
        } else {
          return nb::cast(array(x));
        }
      },
      v.value);
}

GGUFValue scalar_of(const array& a) {
  array x = a;
  x.eval();
  return dispatch_dtype(x.dtype(), [&](auto t) -> GGUFValue {
    using T = decltype(t);
    if constexpr (std::is_same_v<T, uint8_t> || std::is_same_v<T, int8_t> || std::is_same_v<T, uint16_t> ||
                  std::is_same_v<T, int16_t> || std::is_same_v<T, uint32_t> || std::is_same_v<T, int32_t> ||
                  std::is_same_v<T, float> || std::is_same_v<T, bool> || std::is_same_v<T, uint64_t> ||
                  std::is_same_v<T, int64_t> || std::is_same_v<T, double>) {
      return GGUFValue(x.item<T>());
    } else {
      throw std::invalid_argument("[save_gguf] metadata arrays of dtype " + dtype_name(x.dtype()) +
                                  " have no GGUF type");
    }
  });
}

GGUFValue to_gguf(const std::string& key, nb::handle v) {
  if (PyUnicode_Check(v.ptr())) return GGUFValue(nb::cast<std::string>(v));
  if (PyList_Check(v.ptr()) && nb::len(v) > 0 && PyUnicode_Check(nb::borrow<nb::list>(v)[0].ptr())) {
    GGUFArray arr{GGUFType::string, {}};
    for (auto e : nb::borrow<nb::list>(v)) {
      if (!PyUnicode_Check(e.ptr()))
        throw std::invalid_argument("[save_gguf] metadata '" + key + "': a list must hold only strings");
      arr.values.emplace_back(nb::cast<std::string>(e));
    }
    return GGUFValue(std::move(arr));
  }
  array a = to_array(v);
  if (a.ndim() == 0) return scalar_of(a);
  if (a.ndim() != 1) {
    throw std::invalid_argument("[save_gguf] metadata '" + key + "' must be 0-d or 1-d, got shape " +
                                shape_to_string(a.shape()));
  }
  GGUFArray arr;
  arr.type = a.size() ? scalar_of(take(a, 0)).type() : scalar_of(array(0, a.dtype())).type();
  for (int i = 0; i < a.shape(0); ++i) arr.values.push_back(scalar_of(take(a, i)));
  return GGUFValue(std::move(arr));
}

}  // namespace

void init_io(nb::module_& m) {
  m.def(
      "save",
      [](nb::handle file, const ArrayLike& arr) { save_to(file, "npy", [&](const std::string& p) { save(p, arr); }); },
      "file"_a, "arr"_a, "Saves an array as a NumPy .npy file ('.npy' is appended when missing).");
  m.def(
      "savez",
      [](nb::handle file, nb::args args, nb::kwargs kwargs) {
        auto arrays = named_arrays(args, kwargs);
        save_to(file, "npz", [&](const std::string& p) { savez(p, arrays); });
      },
      "file"_a, "args"_a, "kwargs"_a,
      "Saves arrays in an uncompressed .npz archive (positional ones as arr_0, arr_1, ...).");
  m.def(
      "savez_compressed",
      [](nb::handle file, nb::args args, nb::kwargs kwargs) {
        auto arrays = named_arrays(args, kwargs);
        save_to(file, "npz", [&](const std::string& p) { savez_compressed(p, arrays); });
      },
      "file"_a, "args"_a, "kwargs"_a, "Saves arrays in a deflate-compressed .npz archive.");
  m.def(
      "save_safetensors",
      [](nb::handle file, std::unordered_map<std::string, ArrayLike> arrays,
         std::optional<std::unordered_map<std::string, std::string>> metadata) {
        std::unordered_map<std::string, array> a;
        for (auto& [k, v] : arrays) a.emplace(k, v.get());
        auto md = metadata.value_or(std::unordered_map<std::string, std::string>{});
        save_to(file, "safetensors", [&](const std::string& p) { save_safetensors(p, a, md); });
      },
      "file"_a, "arrays"_a, "metadata"_a = nb::none(), "Saves a dict of arrays (and string metadata) as .safetensors.");
  m.def(
      "save_gguf",
      [](nb::handle file, std::unordered_map<std::string, ArrayLike> arrays, std::optional<nb::dict> metadata) {
        std::unordered_map<std::string, array> a;
        for (auto& [k, v] : arrays) a.emplace(k, v.get());
        std::unordered_map<std::string, GGUFValue> md;
        if (metadata) {
          for (auto [k, v] : *metadata) {
            std::string key = nb::cast<std::string>(k);
            md.emplace(key, to_gguf(key, v));
          }
        }
        save_to(file, "gguf", [&](const std::string& p) { save_gguf(p, a, md); });
      },
      "file"_a, "arrays"_a, "metadata"_a = nb::none(),
      "Saves a dict of float32/float16/bfloat16 arrays as GGUF, with metadata values that are str, lists of str, "
      "or 0-d / 1-d arrays (numbers).");
  m.def(
      "load",
      [](nb::handle file, std::optional<std::string> format, bool return_metadata) -> nb::object {
        // A file object is read whole into a temporary file of the format's extension.
        std::optional<TempFile> tmp;
        std::string path, fmt;
        if (is_path(file)) {
          path = path_of(file);
          fmt = format.value_or(extension(path));
        } else {
          if (!nb::hasattr(file, "read")) path_of(file);  // throws the TypeError
          std::string name = nb::hasattr(file, "name") && PyUnicode_Check(file.attr("name").ptr())
                                 ? nb::cast<std::string>(file.attr("name"))
                                 : std::string();
          fmt = format.value_or(extension(name));
          if (fmt.empty()) throw std::invalid_argument("[load] give format= to load from a file object without a name");
          nb::bytes data = nb::cast<nb::bytes>(file.attr("read")());
          tmp.emplace(fmt);
          std::ofstream out(tmp->path(), std::ios::binary);
          out.write(static_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
          if (!out) throw std::runtime_error("[load] cannot write the temporary file " + tmp->path());
          path = tmp->path();
        }
        if (fmt == "npy") {
          if (return_metadata) throw std::invalid_argument("[load] metadata is only returned for safetensors and gguf");
          return nb::cast(load(path));
        }
        if (fmt == "safetensors") {
          auto [arrays, meta] = load_safetensors(path);
          if (!return_metadata) return to_dict(arrays);
          nb::dict md;
          for (auto& [k, v] : meta) md[k.c_str()] = v;
          return nb::make_tuple(to_dict(arrays), md);
        }
        if (fmt == "gguf") {
          GGUFLoad g = load_gguf(path);
          if (!return_metadata) return to_dict(g.arrays);
          nb::dict md;
          for (auto& [k, v] : g.metadata) md[k.c_str()] = from_gguf(v);
          return nb::make_tuple(to_dict(g.arrays), md);
        }
        if (return_metadata) throw std::invalid_argument("[load] metadata is only returned for safetensors and gguf");
        if (fmt == "npz") return to_dict(load_npz(path));
        throw std::invalid_argument("[load] unknown format '" + fmt + "' (npy, npz, safetensors or gguf)");
      },
      "file"_a, "format"_a = nb::none(), "return_metadata"_a = false,
      "Loads an array (.npy) or a dict of arrays (.npz, .safetensors, .gguf); format defaults to the file's "
      "extension.");
}

}  // namespace ember::py
