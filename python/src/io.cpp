// ember.core save / load: .npy, .npz, .safetensors and .gguf, as mlx.core.
// Paths only (MLX also takes file objects).
#include <nanobind/stl/unordered_map.h>

#include "common.h"

namespace ember::py {

namespace {
std::string path_of(nb::handle file) {
  if (PyUnicode_Check(file.ptr())) return nb::cast<std::string>(file);
  if (nb::hasattr(file, "__fspath__")) return nb::cast<std::string>(file.attr("__fspath__")());
  throw nb::type_error("[save/load] file must be a path (str or os.PathLike); file objects are not supported yet");
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
}  // namespace

void init_io(nb::module_& m) {
  m.def(
      "save", [](nb::handle file, const ArrayLike& arr) { save(path_of(file), arr); }, "file"_a, "arr"_a,
      "Saves an array as a NumPy .npy file ('.npy' is appended when missing).");
  m.def(
      "savez",
      [](nb::handle file, nb::args args, nb::kwargs kwargs) { savez(path_of(file), named_arrays(args, kwargs)); },
      "file"_a, "args"_a, "kwargs"_a,
      "Saves arrays in an uncompressed .npz archive (positional ones as arr_0, arr_1, ...).");
  m.def(
      "savez_compressed",
      [](nb::handle file, nb::args args, nb::kwargs kwargs) {
        savez_compressed(path_of(file), named_arrays(args, kwargs));
      },
      "file"_a, "args"_a, "kwargs"_a, "Saves arrays in a deflate-compressed .npz archive.");
  m.def(
      "save_safetensors",
      [](nb::handle file, std::unordered_map<std::string, ArrayLike> arrays,
         std::optional<std::unordered_map<std::string, std::string>> metadata) {
        std::unordered_map<std::string, array> a;
        for (auto& [k, v] : arrays) a.emplace(k, v.get());
        save_safetensors(path_of(file), a, metadata.value_or(std::unordered_map<std::string, std::string>{}));
      },
      "file"_a, "arrays"_a, "metadata"_a = nb::none(), "Saves a dict of arrays (and string metadata) as .safetensors.");
  m.def(
      "save_gguf",
      [](nb::handle file, std::unordered_map<std::string, ArrayLike> arrays) {
        std::unordered_map<std::string, array> a;
        for (auto& [k, v] : arrays) a.emplace(k, v.get());
        save_gguf(path_of(file), a);
      },
      "file"_a, "arrays"_a, "Saves a dict of float32/float16/bfloat16 arrays as GGUF (metadata not bound yet).");
  m.def(
      "load",
      [](nb::handle file, std::optional<std::string> format, bool return_metadata) -> nb::object {
        std::string path = path_of(file);
        std::string fmt = format.value_or(extension(path));
        if (fmt == "npy") {
          if (return_metadata) throw std::invalid_argument("[load] metadata is only returned for safetensors");
          return nb::cast(load(path));
        }
        if (fmt == "safetensors") {
          auto [arrays, meta] = load_safetensors(path);
          if (!return_metadata) return to_dict(arrays);
          nb::dict md;
          for (auto& [k, v] : meta) md[k.c_str()] = v;
          return nb::make_tuple(to_dict(arrays), md);
        }
        if (return_metadata) throw std::invalid_argument("[load] metadata is only returned for safetensors");
        if (fmt == "npz") return to_dict(load_npz(path));
        if (fmt == "gguf") return to_dict(load_gguf(path).arrays);
        throw std::invalid_argument("[load] unknown format '" + fmt + "' (npy, npz, safetensors or gguf)");
      },
      "file"_a, "format"_a = nb::none(), "return_metadata"_a = false,
      "Loads an array (.npy) or a dict of arrays (.npz, .safetensors, .gguf); format defaults to the file's "
      "extension.");
}

}  // namespace ember::py
