// File-loading benchmark: a ~1 GB safetensors file and a ~1 GB GGUF file
// (float16 + float32 tensors) written to /tmp, then loaded by Ember (the file
// is memory-mapped and the arrays borrow it) with every byte touched, against
// the peer: read() of the same file into a buffer, in the same run. Both read
// from the page cache (the files were just written), so this measures the
// loader's overhead, not the disk. Prints GB/s and ratio = Ember / read().
//
// Usage: bench_io [size_in_MB]   (default 1024; less when /tmp lacks space)
#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include <ember/ember.h>

using namespace ember;
using Clock = std::chrono::steady_clock;

namespace {

// Median of `reps` timed runs after one warm-up, in seconds.
double time_it(const std::function<void()>& f, int reps) {
  f();
  std::vector<double> ts;
  for (int i = 0; i < reps; ++i) {
    auto t0 = Clock::now();
    f();
    ts.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::sort(ts.begin(), ts.end());
  return ts[ts.size() / 2];
}

size_t file_size(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  off_t n = ::lseek(fd, 0, SEEK_END);
  ::close(fd);
  return static_cast<size_t>(n);
}

// The peer: read() the whole file into one buffer (which touches every byte).
uint64_t read_whole(const std::string& path, std::vector<char>& buf) {
  int fd = ::open(path.c_str(), O_RDONLY);
  size_t n = file_size(path), got = 0;
  buf.resize(n);
  while (got < n) {
    ssize_t r = ::read(fd, buf.data() + got, n - got);
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  ::close(fd);
  return got;
}

// Touches every byte of an evaluated array (sums its 64-bit words) without Ember's kernels.
uint64_t touch(array a) {
  a.eval();
  const auto* p = static_cast<const unsigned char*>(a.raw_ptr());
  size_t n = a.nbytes();
  uint64_t s = 0;
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    s += w;
  }
  return s;
}

// Evaluates every array's sum (in float32), so every element is read by Ember's reduction.
double sum_all(const std::unordered_map<std::string, array>& arrays) {
  std::vector<array> sums;
  for (auto& [k, a] : arrays) sums.push_back(sum(a.dtype() == float32 ? a : astype(a, float32)));
  eval(sums);
  double s = 0;
  for (auto& x : sums) s += x.item<float>();
  return s;
}

struct Row {
  std::string name;
  double gbs;
  double ratio;
};

}  // namespace

int main(int argc, char** argv) {
  size_t mb = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 1024;
  struct statvfs vfs {};
  if (::statvfs("/tmp", &vfs) == 0) {
    size_t free_mb = static_cast<size_t>(vfs.f_bavail) * vfs.f_frsize >> 20;
    if (free_mb < 2 * mb + 512) {
      size_t fit = free_mb > 640 ? (free_mb - 512) / 2 : 64;
      std::printf("note: /tmp has %zu MB free; using %zu MB files instead of %zu MB\n", free_mb, fit, mb);
      mb = fit;
    }
  }
  std::printf("Ember I/O benchmark: %zu MB safetensors and GGUF files in /tmp (page-cache warm)\n", mb);
  // 8 tensors: half float16, half float32, each (rows, 4096).
  size_t per = (mb << 20) / 8;
  std::unordered_map<std::string, array> arrays;
  for (int i = 0; i < 8; ++i) {
    Dtype dt = i % 2 ? float32 : float16;
    int rows = static_cast<int>(per / (4096 * dt.size()));
    arrays.emplace("layer" + std::to_string(i), astype(random::uniform({rows, 4096}), dt));
  }
  eval([&] {
    std::vector<array> v;
    for (auto& [k, a] : arrays) v.push_back(a);
    return v;
  }());

  std::string st = "/tmp/ember_bench_io.safetensors", gg = "/tmp/ember_bench_io.gguf";
  auto t0 = Clock::now();
  save_safetensors(st, arrays);
  double t_save_st = std::chrono::duration<double>(Clock::now() - t0).count();
  t0 = Clock::now();
  save_gguf(gg, arrays);
  double t_save_gg = std::chrono::duration<double>(Clock::now() - t0).count();
  double gb_st = file_size(st) / 1e9, gb_gg = file_size(gg) / 1e9;

  std::vector<char> buf;
  uint64_t sink = 0;
  std::vector<Row> rows;
  for (auto& [label, path, gb] :
       std::vector<std::tuple<std::string, std::string, double>>{{"safetensors", st, gb_st}, {"gguf", gg, gb_gg}}) {
    bool is_st = label == "safetensors";
    auto loader = [&, path = path] { return is_st ? load_safetensors(path).first : load_gguf(path).arrays; };
    double t_read = time_it([&] { sink += read_whole(path, buf); }, 3);
    buf.clear();
    buf.shrink_to_fit();
    double t_touch = time_it(
        [&] {
          for (auto& [k, a] : loader()) sink += touch(a);
        },
        3);
    double t_sum = time_it([&] { sink += static_cast<uint64_t>(sum_all(loader()) != 0); }, 3);
    double t_open = time_it([&] { sink += loader().size(); }, 3);
    double read_gbs = gb / t_read;
    rows.push_back({label + ": read() into a buffer (peer)", read_gbs, 1.0});
    rows.push_back({label + ": load + touch every byte", gb / t_touch, (gb / t_touch) / read_gbs});
    rows.push_back({label + ": load + sum of every tensor", gb / t_sum, (gb / t_sum) / read_gbs});
    rows.push_back({label + ": load only (mapped, untouched)", gb / t_open, (gb / t_open) / read_gbs});
  }
  std::printf("\n%-46s %10s %8s\n", "benchmark", "GB/s", "ratio");
  std::printf("%s\n", std::string(66, '-').c_str());
  for (auto& r : rows) std::printf("%-46s %10.2f %8.3f\n", r.name.c_str(), r.gbs, r.ratio);
  std::printf("\nsave: safetensors %.2f GB/s, gguf %.2f GB/s (write to /tmp, page cache)\n", gb_st / t_save_st,
              gb_gg / t_save_gg);
  std::printf(
      "ratio = GB/s / read() GB/s of the same file in this run; load + touch >= 1 means the\n"
      "mapped load costs no more than reading the file (sink %llu)\n",
      static_cast<unsigned long long>(sink % 10));
  std::remove(st.c_str());
  std::remove(gg.c_str());
  return 0;
}
