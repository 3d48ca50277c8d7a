// The emulated build's JIT (EMBER_CUDA_EMULATOR=ON): generated programs, in their
// Target::Emulator form, are compiled by the host compiler into shared libraries
// (cached on disk like cubins) and loaded; a kernel is its emu_ entry point.
#include <dlfcn.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

#include "ember/backend/common/utils.h"
#include "ember/backend/cuda/cuda.h"
#include "ember/backend/cuda/jit.h"

namespace ember::gpu::jit {

namespace fs = std::filesystem;

namespace {

fs::path cache_dir() {
  if (const char* e = std::getenv("EMBER_KERNEL_CACHE"); e && *e) return fs::path(e) / "emulated";
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return fs::path(x) / "ember/emulated";
  if (const char* h = std::getenv("HOME"); h && *h) return fs::path(h) / ".cache/ember/emulated";
  return fs::temp_directory_path() / "ember-emulated";
}

// Compiles `source` into `lib` (through a temporary name, so concurrent processes never
// load half a file).
void build_library(const std::string& source, const fs::path& lib) {
  fs::create_directories(lib.parent_path());
  std::string stem = lib.stem().string() + "." + std::to_string(::getpid());
  fs::path src = lib.parent_path() / (stem + ".cpp"), tmp = lib.parent_path() / (stem + ".so"),
           log = lib.parent_path() / (stem + ".log");
  std::ofstream(src) << source;
  const char* cxx = std::getenv("CXX");
  std::string cmd = std::string(cxx && *cxx ? cxx : "c++") + " -std=c++20 -O1 -fPIC -shared -Wl,-Bsymbolic -w -I" +
                    EMBER_EMU_SOURCE_DIR + " -o " + tmp.string() + " " + src.string() + " > " + log.string() + " 2>&1";
  int rc = std::system(cmd.c_str());
  std::ifstream in(log);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::error_code ec;
  fs::remove(src, ec);
  fs::remove(log, ec);
  if (rc != 0) {
    fs::remove(tmp, ec);
    throw std::runtime_error("[jit] compiling a kernel program for the emulator failed:\n" + text.substr(0, 4000));
  }
  fs::rename(tmp, lib, ec);
  if (ec) throw std::runtime_error("[jit] cannot store " + lib.string() + ": " + ec.message());
}

struct Loaded {
  std::mutex mu;
  std::unordered_map<uint64_t, void*> libraries;             // by source hash
  std::unordered_map<std::string, EmberEmuKernel*> kernels;  // by hash + name
};
Loaded& loaded() {
  static auto* l = new Loaded;  // leaked: the libraries stay loaded for the process
  return *l;
}

}  // namespace

std::string compile(const std::string&, const std::string& name, const std::string&) {
  throw std::runtime_error("[jit] " + name +
                           ": this is the emulated build (EMBER_CUDA_EMULATOR), which compiles kernels with the host "
                           "compiler, not NVRTC");
}

std::string device_arch() { return "emulator"; }

// The emulator's headers are part of every program: a change to them must not reuse old libraries.
const std::string& header_text() {
  static const std::string text = [] {
    std::string all;
    for (const char* h : {"/ember/backend/cuda/emu/emu.h", "/ember/backend/cuda/emu/device_math.h",
                          "/ember/backend/common/erfinv.h", "/ember/half.h"}) {
      std::ifstream in(std::string(EMBER_EMU_SOURCE_DIR) + h);
      all += std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }
    return all;
  }();
  return text;
}

cudaKernel_t get_kernel(const std::string& source, const std::string& kernel) {
  uint64_t key = fnv1a(header_text() + source);
  auto& l = loaded();
  std::lock_guard lk(l.mu);  // held while compiling: one compile per program, whoever asks first
  std::string kkey = std::to_string(key) + ":" + kernel;
  if (auto it = l.kernels.find(kkey); it != l.kernels.end()) return it->second;
  void* handle = nullptr;
  if (auto it = l.libraries.find(key); it != l.libraries.end()) {
    handle = it->second;
  } else {
    char hex[17];
    std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(key));
    fs::path lib = cache_dir() / (std::string(hex) + ".so");
    if (!fs::exists(lib)) build_library(source, lib);
    handle = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) throw std::runtime_error(std::string("[jit] cannot load ") + lib.string() + ": " + dlerror());
    l.libraries.emplace(key, handle);
  }
  auto entry =
      reinterpret_cast<void (*)(unsigned, unsigned, uint64_t, void**)>(dlsym(handle, ("emu_" + kernel).c_str()));
  if (!entry) throw std::runtime_error("[jit] the emulated program has no kernel " + kernel);
  auto bind =
      reinterpret_cast<void* (*)(unsigned, unsigned, uint64_t, void**)>(dlsym(handle, ("emu_bind_" + kernel).c_str()));
  auto* k = new EmberEmuKernel{entry, bind};
  l.kernels.emplace(kkey, k);
  return k;
}

}  // namespace ember::gpu::jit
