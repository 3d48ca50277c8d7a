// A generated CUDA program (Target::Emulator source) compiled by the host compiler into a
// shared library and loaded, so its kernels run on the CPU emulator (emu/emu.h) through
// their `emu_<kernel>(grid, block, seed, args)` entry points. Needs no GPU.
#pragma once

#include <dlfcn.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

#include "test_utils.h"

namespace test_utils {

using EmuEntry = void (*)(unsigned grid, unsigned block, uint64_t seed, void** args);

class EmulatedProgram {
 public:
  /// Compiles `source` (named `name` in temp file names and errors) and loads it.
  EmulatedProgram(const std::string& source, const std::string& name) {
    namespace fs = std::filesystem;
    dir_ = fs::temp_directory_path() / ("ember-emu-" + std::to_string(::getpid()) + "-" + name);
    fs::create_directories(dir_);
    fs::path src = dir_ / (name + ".cpp"), lib = dir_ / (name + ".so"), log = dir_ / (name + ".log");
    std::ofstream(src) << source;
    const char* cxx = std::getenv("CXX");
    std::string cmd = std::string(cxx && *cxx ? cxx : "c++") + " -std=c++20 -O1 -fPIC -shared -Wl,-Bsymbolic -w -I" + source_dir() +
                      " -o " + lib.string() + " " + src.string() + " > " + log.string() + " 2>&1";
    if (std::system(cmd.c_str()) != 0) {
      std::ifstream in(log);
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      throw std::runtime_error("compiling " + src.string() + " failed:\n" + text.substr(0, 4000));
    }
    handle_ = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle_) throw std::runtime_error(std::string("dlopen: ") + dlerror());
  }
  ~EmulatedProgram() {
    if (handle_) dlclose(handle_);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  EmulatedProgram(const EmulatedProgram&) = delete;
  EmulatedProgram& operator=(const EmulatedProgram&) = delete;

  /// The entry point of kernel `kernel` (throws when the program has none).
  EmuEntry entry(const std::string& kernel) const {
    auto f = reinterpret_cast<EmuEntry>(dlsym(handle_, ("emu_" + kernel).c_str()));
    if (!f) throw std::runtime_error("no kernel " + kernel + " in the emulated program");
    return f;
  }

 private:
  std::filesystem::path dir_;
  void* handle_ = nullptr;
};

}  // namespace test_utils
