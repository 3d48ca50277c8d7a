// CPU kernels of the Compiled primitive: C++ generated per fused region and access
// pattern, built with the system compiler into a shared library, cached on disk and
// loaded with dlopen. The generated loops call the eager kernels' functors
// (elementwise_ops.h), so a fused chain rounds as the ops one at a time do.
//
// Two patterns: "dense", where each input is either the output's size and dense in its
// order or a single value; and "strided", rows of the collapsed output shape with each
// input's inner stride (0, 1 or other) fixed in the source, so row broadcasts vectorize.
#include <dlfcn.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "ember/backend/common/utils.h"
#include "ember/backend/cpu/elementwise.h"
#include "ember/compile.h"
#include "ember/primitives_compiled.h"
#include "ember/scheduler.h"

extern char** environ;

namespace ember {

namespace cpu {
const std::string& jit_headers();  // generated from the headers (cmake/embed_headers.cmake)
}

namespace {

namespace fs = std::filesystem;

std::atomic<uint64_t> builds{0}, disk_loads{0};

const char* cxx_type(Dtype t) {
  switch (t.val) {
    case Dtype::Val::bool_:
      return "bool";
    case Dtype::Val::uint8:
      return "uint8_t";
    case Dtype::Val::uint16:
      return "uint16_t";
    case Dtype::Val::uint32:
      return "uint32_t";
    case Dtype::Val::uint64:
      return "uint64_t";
    case Dtype::Val::int8:
      return "int8_t";
    case Dtype::Val::int16:
      return "int16_t";
    case Dtype::Val::int32:
      return "int32_t";
    case Dtype::Val::int64:
      return "int64_t";
    case Dtype::Val::float16:
      return "float16_t";
    case Dtype::Val::bfloat16:
      return "bfloat16_t";
    case Dtype::Val::float32:
      return "float";
    case Dtype::Val::float64:
      return "double";
    case Dtype::Val::complex64:
      return "complex64_t";
  }
  return "float";
}

// How the kernel reads an input: at the element's index (1), one value (0), or at a
// runtime stride (2, strided pattern only).
enum Access : char { kScalar = '0', kUnit = '1', kStrided = '2' };

// The value of op `k` (named v<n_in + k>) from its arguments.
std::string op_expr(const Compiled& c, size_t k) {
  const auto& op = c.ops()[k];
  const int n_in = static_cast<int>(c.input_dtypes().size());
  auto dtype_of_arg = [&](int a) { return a < n_in ? c.input_dtypes()[a] : c.ops()[a - n_in].dtype; };
  auto arg = [&](int i) {
    std::string name = std::to_string(op.args[i]);
    return name.insert(0, 1, 'v');  // (GCC 12 warns falsely on "v" + std::string)
  };
  auto in = [&](int i) {
    return std::string("static_cast<compute_t<") + cxx_type(dtype_of_arg(op.args[i])) + ">>(" + arg(i) + ")";
  };
  const std::string U = cxx_type(op.dtype);
  const Primitive* p = op.primitive.get();
  if (dynamic_cast<const Broadcast*>(p)) return arg(0);
  if (dynamic_cast<const AsType*>(p)) return "convert_value<" + U + ">(" + arg(0) + ")";
  if (dynamic_cast<const Select*>(p)) return arg(0) + " ? " + arg(1) + " : " + arg(2);
  if (auto* u = dynamic_cast<const Unary*>(p)) {
    return "static_cast<" + U + ">(" + unary_op_name(u->op()) + "{}(" + in(0) + "))";
  }
  if (auto* b = dynamic_cast<const Binary*>(p)) {
    return "static_cast<" + U + ">(" + binary_op_name(b->op()) + "{}(" + in(0) + ", " + in(1) + "))";
  }
  throw std::logic_error(std::string("[compile] no CPU code for ") + p->name());
}

// The loop body: reads of the inputs (given as expressions), then each op.
std::string body(const Compiled& c, const std::vector<std::string>& reads, const std::string& store) {
  std::string s;
  const int n_in = static_cast<int>(c.input_dtypes().size());
  for (int i = 0; i < n_in; ++i) {
    s +=
        "    const " + std::string(cxx_type(c.input_dtypes()[i])) + " v" + std::to_string(i) + " = " + reads[i] + ";\n";
  }
  for (size_t k = 0; k < c.ops().size(); ++k) {
    s += "    const " + std::string(cxx_type(c.ops()[k].dtype)) + " v" + std::to_string(n_in + k) + " = " +
         op_expr(c, k) + ";\n";
  }
  s += "    " + store + " = v" + std::to_string(n_in + c.ops().size() - 1) + ";\n";
  return s;
}

std::string kernel_source(const Compiled& c, bool dense, const std::string& access) {
  const int n_in = static_cast<int>(c.input_dtypes().size());
  const std::string U = cxx_type(c.ops().back().dtype);
  std::string s = "// " + c.signature() + "\n";
  std::string ptrs;
  for (int i = 0; i < n_in; ++i) {
    std::string T = cxx_type(c.input_dtypes()[i]), n = std::to_string(i);
    ptrs += "  const " + T + "* p" + n + " = static_cast<const " + T + "*>(in[" + n + "]);\n";
  }
  ptrs += "  " + U + "* out = static_cast<" + U + "*>(out_);\n";
  std::vector<std::string> reads;
  if (dense) {
    s += "extern \"C\" void ember_kernel(const void* const* in, void* out_, int64_t begin, int64_t end) {\n" + ptrs;
    for (int i = 0; i < n_in; ++i) {
      std::string n = std::to_string(i);
      if (access[i] == kScalar) {
        s += "  const auto s" + n + " = p" + n + "[0];\n";
        reads.push_back("s" + n);
      } else {
        reads.push_back("p" + n + "[i]");
      }
    }
    s += "  for (int64_t i = begin; i < end; ++i) {\n" + body(c, reads, "out[i]") + "  }\n}\n";
    return s;
  }
  // strides: n_in rows of ndim strides; rows [row_begin, row_end) of the collapsed shape.
  s += "extern \"C\" void ember_kernel(const void* const* in, void* out_, const int64_t* shape, const int64_t* "
       "strides, int ndim, int64_t row_begin, int64_t row_end) {\n" +
       ptrs + "  const int64_t inner = shape[ndim - 1];\n";
  for (int i = 0; i < n_in; ++i) {
    std::string n = std::to_string(i);
    s += "  const int64_t st" + n + " = strides[" + n + " * ndim + ndim - 1];\n";
  }
  s += "  (void)inner;\n  for (int64_t r = row_begin; r < row_end; ++r) {\n    int64_t rem = r;\n";
  for (int i = 0; i < n_in; ++i) s += "    int64_t o" + std::to_string(i) + " = 0;\n";
  s += "    for (int d = ndim - 2; d >= 0; --d) {\n      const int64_t q = rem % shape[d];\n      rem /= shape[d];\n";
  for (int i = 0; i < n_in; ++i) {
    std::string n = std::to_string(i);
    s += "      o" + n + " += q * strides[" + n + " * ndim + d];\n";
  }
  s += "    }\n";
  for (int i = 0; i < n_in; ++i) {
    std::string n = std::to_string(i), T = cxx_type(c.input_dtypes()[i]);
    s += "    const " + T + "* q" + n + " = p" + n + " + o" + n + ";\n";
    if (access[i] == kScalar) {
      s += "    const auto s" + n + " = q" + n + "[0];\n";
      reads.push_back("s" + n);
    } else if (access[i] == kUnit) {
      reads.push_back("q" + n + "[j]");
    } else {
      reads.push_back("q" + n + "[j * st" + n + "]");
    }
  }
  std::string b = body(c, reads, "orow[j]");
  s += "    " + U + "* orow = out + r * inner;\n    for (int64_t j = 0; j < inner; ++j) {\n" + b + "    }\n  }\n}\n";
  return s;
}

// ------------------------------------------------------------------ the compiler and the cache

// The system compiler: EMBER_CXX, else CXX, else c++ (found on PATH); empty when none.
const std::string& compiler() {
  static const std::string cxx = []() -> std::string {
    for (const char* var : {"EMBER_CXX", "CXX"}) {
      if (const char* v = std::getenv(var); v && *v) return v;
    }
    if (const char* path = std::getenv("PATH")) {
      std::stringstream ss(path);
      std::string dir;
      while (std::getline(ss, dir, ':')) {
        fs::path p = fs::path(dir.empty() ? "." : dir) / "c++";
        if (::access(p.c_str(), X_OK) == 0) return p.string();
      }
    }
    return "";
  }();
  return cxx;
}

// Also used for the precompiled header, so -shared goes on the library builds only.
const char* kFlags = "-std=c++20 -O3 -march=native -fno-math-errno -fPIC -w";

// What a cached library depends on besides its source: the compiler (path, size, time),
// the flags and the processor (-march=native).
const std::string& build_identity() {
  static const std::string id = [] {
    std::string s = compiler() + "\n" + kFlags + "\n";
    struct stat st {};
    if (::stat(compiler().c_str(), &st) == 0) {
      s += std::to_string(st.st_size) + ":" + std::to_string(st.st_mtime) + "\n";
    }
    std::ifstream cpu("/proc/cpuinfo");
    std::string line;
    int found = 0;
    while (found < 2 && std::getline(cpu, line)) {
      if (line.rfind("model name", 0) == 0 || line.rfind("flags", 0) == 0) {
        s += line + "\n";
        ++found;
      }
    }
    return s;
  }();
  return id;
}

fs::path cache_dir() {
  if (const char* e = std::getenv("EMBER_KERNEL_CACHE"); e && *e) return fs::path(e) / "cpu";
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return fs::path(x) / "ember/cpu";
  if (const char* h = std::getenv("HOME"); h && *h) return fs::path(h) / ".cache/ember/cpu";
  return fs::temp_directory_path() / "ember-cpu";
}

std::string hex(uint64_t h) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// A file name private to this process and thread, next to `final`.
fs::path private_name(const fs::path& final, const std::string& ext) {
  std::ostringstream tag;
  tag << final.filename().string() << '.' << ::getpid() << '.' << std::this_thread::get_id() << ext;
  return final.parent_path() / tag.str();
}

// Moves `tmp` to `final`: atomic on one file system, so concurrent processes never see half
// a file, and two that make the same file at once both end with a complete one.
bool publish(const fs::path& tmp, const fs::path& final) {
  std::error_code ec;
  fs::rename(tmp, final, ec);
  if (ec) fs::remove(tmp, ec);
  return !ec;
}

// Runs the compiler with `args` (after the common flags), its output going to `log`;
// returns its exit status and output. posix_spawn, not system(): no shell, and builds from
// several threads run in parallel.
std::pair<int, std::string> run_compiler(const std::vector<std::string>& args, const fs::path& log) {
  std::vector<std::string> words = {compiler()};
  std::stringstream flags(kFlags);
  for (std::string w; flags >> w;) words.push_back(w);
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return {-1, "cannot run " + compiler() + ": " + std::strerror(rc)};
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::ifstream in(log);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::error_code ec;
  fs::remove(log, ec);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text};
}

// The headers every kernel includes, written once per cache folder with a precompiled form
// next to them (GCC's .gch): a kernel then builds in about a fifth of the time. Returns the
// #include line. Without a usable precompiled header the include still works, only slower.
const std::string& prelude_include() {
  static const std::string line = [] {
    std::string text = "#pragma once\n#define EMBER_JIT_KERNEL 1\n" + cpu::jit_headers() +
                       "\nusing namespace ember;\nusing namespace ember::cpu;\n";
    fs::path dir = cache_dir();
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw std::runtime_error("[compile] cannot create the kernel cache " + dir.string());
    fs::path header = dir / ("prelude-" + hex(fnv1a(build_identity(), fnv1a(text))) + ".h");
    if (!fs::exists(header, ec)) {
      fs::path tmp = private_name(header, ".tmp");
      std::ofstream(tmp) << text;
      publish(tmp, header);
    }
    fs::path gch = header;
    gch += ".gch";
    if (!fs::exists(gch, ec)) {
      fs::path tmp = private_name(gch, ".tmp");
      auto [rc, log] =
          run_compiler({"-x", "c++-header", header.string(), "-o", tmp.string()}, private_name(gch, ".log"));
      if (rc == 0) {
        publish(tmp, gch);
      } else {
        fs::remove(tmp, ec);
      }
    }
    return "#include \"" + header.filename().string() + "\"\n";
  }();
  return line;
}

// Builds `source` into the library `lib`.
void build_library(const std::string& source, const fs::path& lib) {
  fs::path src = private_name(lib, ".cpp"), tmp = private_name(lib, ".tmp");
  {
    std::ofstream f(src);
    f << source;
    if (!f) throw std::runtime_error("[compile] cannot write " + src.string());
  }
  auto [rc, log] = run_compiler({"-shared", "-I" + lib.parent_path().string(), "-o", tmp.string(), src.string()},
                                private_name(lib, ".log"));
  std::error_code ec;
  fs::remove(src, ec);
  if (rc != 0) {
    fs::remove(tmp, ec);
    throw std::runtime_error("[compile] building a fused CPU kernel with " + compiler() + " failed:\n" +
                             log.substr(0, 4000));
  }
  if (!publish(tmp, lib)) throw std::runtime_error("[compile] cannot store " + lib.string());
  builds.fetch_add(1);
}

// Loaded kernels by key; a kernel being built is a future others wait on, so different
// kernels build in parallel and each only once.
struct Library {
  std::mutex mu;
  std::unordered_map<std::string, std::shared_future<void*>> kernels;
};
Library& library() {
  static auto* l = new Library;  // leaked: the libraries stay loaded for the process
  return *l;
}

void* load_kernel(const std::string& kernel_text) {
  std::string source = prelude_include() + kernel_text;
  fs::path lib = cache_dir() / (hex(fnv1a(build_identity(), fnv1a(source))) + ".so");
  std::error_code ec;
  if (fs::exists(lib, ec)) {
    disk_loads.fetch_add(1);
  } else {
    build_library(source, lib);
  }
  void* handle = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) throw std::runtime_error(std::string("[compile] cannot load ") + lib.string() + ": " + dlerror());
  void* fn = dlsym(handle, "ember_kernel");
  if (!fn) throw std::runtime_error("[compile] " + lib.string() + " has no ember_kernel");
  return fn;
}

// The kernel of region `c` for an access pattern: the first call per process generates the
// source and loads (or builds) its library.
void* get_kernel(const Compiled& c, bool dense, const std::string& access) {
  std::string key = c.signature() + (dense ? "|dense|" : "|strided|") + access;
  auto& l = library();
  std::promise<void*> mine;
  std::shared_future<void*> fut;
  bool build = false;
  {
    std::lock_guard lk(l.mu);
    if (auto it = l.kernels.find(key); it != l.kernels.end()) {
      fut = it->second;
    } else {
      fut = mine.get_future().share();
      l.kernels.emplace(key, fut);
      build = true;
    }
  }
  if (build) {
    try {
      mine.set_value(load_kernel(kernel_source(c, dense, access)));
    } catch (...) {
      mine.set_exception(std::current_exception());
      std::lock_guard lk(l.mu);
      l.kernels.erase(key);  // a later call tries again
    }
  }
  return fut.get();  // rethrows a failed build's error
}

using DenseFn = void (*)(const void* const*, void*, int64_t, int64_t);
using StridedFn = void (*)(const void* const*, void*, const int64_t*, const int64_t*, int, int64_t, int64_t);

}  // namespace

namespace detail {
uint64_t compile_cpu_builds() { return builds.load(); }
uint64_t compile_cpu_disk_loads() { return disk_loads.load(); }
}  // namespace detail

void Compiled::eval_cpu(const std::vector<array>& inputs, array& out) {
  if (compiler().empty()) return eval_unfused(inputs, out, false);  // no compiler here: op by op
  const Shape& shape = out.shape();
  const size_t n = out.size();
  // Dense: every input is one value, or dense with the output's shape and one shared layout.
  const array* layout = nullptr;
  bool dense = true;
  for (auto& in : inputs) {
    if (in.data_size() == 1 && in.size() >= 1) continue;
    bool full = in.flags().contiguous && in.data_size() == in.size() && in.shape() == shape;
    if (!full || (layout && layout->strides() != in.strides())) {
      dense = false;
      break;
    }
    layout = &in;
  }
  std::vector<const void*> ptrs;
  for (auto& in : inputs) ptrs.push_back(in.data<void>());
  if (dense) {
    // The output takes the inputs' layout; a dense input no one else holds donates its buffer.
    const array* donor = nullptr;
    for (auto& in : inputs) {
      if (in.shape() == shape && can_donate(in, out)) donor = &in;
    }
    if (donor) {
      out.copy_shared_buffer(*donor);
    } else if (layout) {
      out.set_data(allocator::malloc(n * out.itemsize()), n, layout->strides(), layout->flags());
    } else {
      out.set_data(allocator::malloc(n * out.itemsize()));
    }
    if (n == 0) return;
    std::string access;
    for (auto& in : inputs) access += in.data_size() == 1 && n > 1 ? kScalar : kUnit;
    auto fn = reinterpret_cast<DenseFn>(get_kernel(*this, true, access));
    void* dst = out.data<void>();
    scheduler::parallel_for(static_cast<int64_t>(n), cpu::kElementwiseGrain,
                            [&](int64_t b, int64_t e) { fn(ptrs.data(), dst, b, e); });
    return;
  }
  out.set_data(allocator::malloc(out.nbytes()));
  if (n == 0) return;
  std::vector<Strides> strides;
  for (auto& in : inputs) strides.push_back(broadcast_strides(in, shape));
  strides.push_back(out.strides());
  auto [cshape, cstrides] = collapse_contiguous_dims(shape, strides);
  if (cshape.empty()) {
    cshape = {1};
    for (auto& st : cstrides) st = {0};
  }
  const int ndim = static_cast<int>(cshape.size());
  std::vector<int64_t> shape64(cshape.begin(), cshape.end()), flat;
  std::string access;
  for (size_t i = 0; i < inputs.size(); ++i) {
    flat.insert(flat.end(), cstrides[i].begin(), cstrides[i].end());
    int64_t inner = cstrides[i].back();
    access += inner == 0 ? kScalar : inner == 1 ? kUnit : kStrided;
  }
  auto fn = reinterpret_cast<StridedFn>(get_kernel(*this, false, access));
  void* dst = out.data<void>();
  const int64_t inner = shape64.back(), rows = static_cast<int64_t>(n) / inner;
  scheduler::parallel_for(rows, std::max<int64_t>(1, cpu::kElementwiseGrain / inner),
                          [&](int64_t b, int64_t e) { fn(ptrs.data(), dst, shape64.data(), flat.data(), ndim, b, e); });
}

}  // namespace ember
