// Helpers shared by tests/test_io.cpp and tests/test_io_malformed.cpp: a
// temporary directory, random arrays as raw bytes, the logical bytes of any
// array (read through its strides), file I/O and running python3 scripts.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <ember/ember.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace io_test {

using ember::array;
using ember::Dtype;
using ember::Shape;

/// A fresh directory under /tmp, removed with its contents on destruction.
class TempDir {
 public:
  /// `in_memory`: under /dev/shm when writable (many small files: truncating a file on
  /// this machine's disk costs milliseconds), else /tmp.
  explicit TempDir(bool in_memory = false) {
    std::string base = in_memory && ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    std::string tmpl_s = base + "/ember_io_XXXXXX";
    std::vector<char> tmpl(tmpl_s.begin(), tmpl_s.end());
    tmpl.push_back('\0');
    char* p = ::mkdtemp(tmpl.data());
    if (!p) throw std::runtime_error("mkdtemp failed");
    path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

inline void write_file(const std::string& path, const void* data, size_t n) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
  if (!f) throw std::runtime_error("cannot write " + path);
}
inline void write_file(const std::string& path, const std::vector<uint8_t>& b) { write_file(path, b.data(), b.size()); }
inline void write_file(const std::string& path, const std::string& s) { write_file(path, s.data(), s.size()); }

/// An array of random bytes (bools 0/1) of `shape` and `dtype`, evaluated.
inline array random_array(const Shape& shape, Dtype dtype, std::mt19937& rng) {
  size_t n = 1;
  for (auto d : shape) n *= static_cast<size_t>(d);
  // At least one byte: array's copying constructor memcpy's from data() even for 0
  // elements, and memcpy from a null pointer is undefined (UBSan stops on it).
  std::vector<uint8_t> bytes(std::max<size_t>(n * dtype.size(), 1));
  for (auto& b : bytes) b = static_cast<uint8_t>(rng());
  if (dtype == ember::bool_) {
    for (auto& b : bytes) b &= 1;
  }
  array a = ember::dispatch_dtype(dtype, [&](auto t) {
    using T = decltype(t);
    return array(reinterpret_cast<const T*>(bytes.data()), shape, dtype);
  });
  a.eval();
  return a;
}

/// The row-major (logical) bytes of any array, read element by element through its strides.
inline std::vector<uint8_t> bytes_of(array a) {
  a.eval();
  size_t item = a.itemsize();
  std::vector<uint8_t> out(a.size() * item);
  if (a.size() == 0) return out;
  const auto* base = static_cast<const uint8_t*>(a.raw_ptr());
  for (size_t i = 0; i < a.size(); ++i) {
    int64_t idx = static_cast<int64_t>(i), loc = 0;
    for (int d = static_cast<int>(a.ndim()) - 1; d >= 0; --d) {
      loc += (idx % a.shape()[d]) * a.strides()[d];
      idx /= a.shape()[d];
    }
    std::memcpy(out.data() + i * item, base + loc * static_cast<int64_t>(item), item);
  }
  return out;
}

/// Whether `python3 -c "import <modules>"` works (cached per module list).
inline bool python_has(const std::string& modules) {
  static std::map<std::string, bool> cache;
  auto it = cache.find(modules);
  if (it != cache.end()) return it->second;
  bool ok = std::system(("python3 -c 'import " + modules + "' >/dev/null 2>&1").c_str()) == 0;
  cache[modules] = ok;
  return ok;
}

/// Runs `script` with python3 in `dir`; on failure adds a test failure with its output.
inline bool run_python(const TempDir& dir, const std::string& script) {
  std::string py = dir.file("script.py"), log = dir.file("script.log");
  write_file(py, script);
  int rc = std::system(("cd '" + dir.path() + "' && python3 '" + py + "' > '" + log + "' 2>&1").c_str());
  if (rc != 0) {
    auto out = read_file(log);
    ADD_FAILURE() << "python3 failed (" << rc << "):\n" << std::string(out.begin(), out.end());
    return false;
  }
  return true;
}

inline std::string shape_str(const Shape& s) {
  std::ostringstream o;
  o << "(";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? "," : "") << s[i];
  o << ")";
  return o.str();
}

}  // namespace io_test
