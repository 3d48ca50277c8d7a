// NVRTC compilation with an in-memory table of loaded modules and a disk cache
// of cubins, so a process pays for compiling a kernel once per machine.
#include "ember/backend/cuda/jit.h"

#include <nvrtc.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <unordered_map>
#include <vector>

#include "ember/backend/common/utils.h"
#include "ember/backend/cuda/cuda.h"

namespace ember::gpu::jit {

namespace fs = std::filesystem;

namespace {

#define EMBER_NVRTC_CHECK(call, log)                                                                              \
  do {                                                                                                            \
    nvrtcResult ember_res_ = (call);                                                                              \
    if (ember_res_ != NVRTC_SUCCESS) ::ember::gpu::throw_nvrtc_error(ember_res_, #call, __FILE__, __LINE__, log); \
  } while (0)

// The toolkit's include folders, for cuda_fp16.h / cuda_bf16.h and the CCCL headers they use.
std::vector<std::string> include_dirs() {
  std::vector<std::string> roots;
  if (const char* e = std::getenv("EMBER_CUDA_INCLUDE")) roots.push_back(e);
  if (const char* h = std::getenv("CUDA_HOME")) roots.push_back(std::string(h) + "/include");
#ifdef EMBER_CUDA_INCLUDE_DIR
  roots.push_back(EMBER_CUDA_INCLUDE_DIR);
#endif
  roots.push_back("/usr/local/cuda/include");
  std::vector<std::string> dirs;
  for (auto& r : roots) {
    std::error_code ec;
    if (!fs::exists(fs::path(r) / "cuda_fp16.h", ec)) continue;
    dirs.push_back(r);
    if (fs::exists(fs::path(r) / "cccl", ec)) dirs.push_back(r + "/cccl");
    break;
  }
  return dirs;
}

std::string nvrtc_version() {
  int major = 0, minor = 0;
  nvrtcVersion(&major, &minor);
  return std::to_string(major) + "." + std::to_string(minor);
}

// "" turns the disk cache off.
std::string cache_dir() {
  if (const char* e = std::getenv("EMBER_KERNEL_CACHE")) return e;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/ember/kernels";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/ember/kernels";
  return "";
}

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return "";
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Written to a temporary name and renamed, so concurrent processes never see half a file.
void write_file(const fs::path& p, const std::string& data) {
  std::error_code ec;
  fs::create_directories(p.parent_path(), ec);
  if (ec) return;
  fs::path tmp = p;
  tmp += ".tmp" + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary);
    if (!f) return;
    f.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!f) return;
  }
  fs::rename(tmp, p, ec);
  if (ec) fs::remove(tmp, ec);
}

struct ModuleTable {
  std::mutex mu;
  std::unordered_map<uint64_t, cudaLibrary_t> libraries;  // by hash of source and arch
};

ModuleTable& modules() {
  static auto* t = new ModuleTable;  // leaked: libraries stay loaded for the process
  return *t;
}

}  // namespace

std::string compile(const std::string& source, const std::string& name, const std::string& arch) {
  nvrtcProgram prog;
  EMBER_NVRTC_CHECK(nvrtcCreateProgram(&prog, source.c_str(), (name + ".cu").c_str(), 0, nullptr, nullptr), "");
  std::vector<std::string> opts = {"--gpu-architecture=" + arch, "--std=c++17", "-default-device"};
  for (auto& d : include_dirs()) opts.push_back("-I" + d);
  std::vector<const char*> argv;
  for (auto& o : opts) argv.push_back(o.c_str());
  nvrtcResult res = nvrtcCompileProgram(prog, static_cast<int>(argv.size()), argv.data());
  if (res != NVRTC_SUCCESS) {
    size_t n = 0;
    nvrtcGetProgramLogSize(prog, &n);
    std::string log(n, '\0');
    nvrtcGetProgramLog(prog, log.data());
    nvrtcDestroyProgram(&prog);
    throw_nvrtc_error(res, ("nvrtcCompileProgram(" + name + ")").c_str(), __FILE__, __LINE__, log);
  }
  std::string image;
  bool cubin = arch.rfind("sm_", 0) == 0;
  size_t n = 0;
  if (cubin) {
    EMBER_NVRTC_CHECK(nvrtcGetCUBINSize(prog, &n), "");
    image.resize(n);
    EMBER_NVRTC_CHECK(nvrtcGetCUBIN(prog, image.data()), "");
  } else {
    EMBER_NVRTC_CHECK(nvrtcGetPTXSize(prog, &n), "");
    image.resize(n);
    EMBER_NVRTC_CHECK(nvrtcGetPTX(prog, image.data()), "");
  }
  nvrtcDestroyProgram(&prog);
  return image;
}

std::string device_arch() {
  static const std::string arch = [] {
    const auto& p = device_props();
    int want = p.major * 10 + p.minor;
    int n = 0;
    nvrtcGetNumSupportedArchs(&n);
    std::vector<int> archs(n);
    if (n > 0) nvrtcGetSupportedArchs(archs.data());
    int best = 0;
    for (int a : archs) {
      if (a == want) return "sm_" + std::to_string(want);
      if (a < want && a > best) best = a;
    }
    // A device newer than this NVRTC: PTX for the newest architecture it knows, which the driver compiles.
    return "compute_" + std::to_string(best > 0 ? best : want);
  }();
  return arch;
}

cudaKernel_t get_kernel(const std::string& source, const std::string& kernel) {
  const std::string arch = device_arch();
  uint64_t key = fnv1a(arch + "\n" + nvrtc_version() + "\n", fnv1a(source));
  auto& t = modules();
  cudaLibrary_t lib = nullptr;
  {
    std::lock_guard lk(t.mu);
    if (auto it = t.libraries.find(key); it != t.libraries.end()) lib = it->second;
  }
  if (!lib) {
    std::string dir = cache_dir();
    char hex[17];
    std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(key));
    fs::path file =
        dir.empty() ? fs::path() : fs::path(dir) / (std::string(hex) + (arch[0] == 's' ? ".cubin" : ".ptx"));
    std::string image = dir.empty() ? "" : read_file(file);
    if (image.empty()) {
      image = compile(source, "ember_" + kernel, arch);
      if (!dir.empty()) write_file(file, image);
    }
    if (arch[0] == 'c') image.push_back('\0');  // PTX is loaded as a C string
    EMBER_CUDA_CHECK(cudaLibraryLoadData(&lib, image.data(), nullptr, nullptr, 0, nullptr, nullptr, 0));
    std::lock_guard lk(t.mu);
    auto [it, inserted] = t.libraries.emplace(key, lib);
    if (!inserted) {  // another thread loaded it first
      cudaLibraryUnload(lib);
      lib = it->second;
    }
  }
  cudaKernel_t k;
  EMBER_CUDA_CHECK(cudaLibraryGetKernel(&k, lib, kernel.c_str()));
  return k;
}

}  // namespace ember::gpu::jit
