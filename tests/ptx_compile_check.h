// Compiles every variant of a kernel generator to PTX with NVRTC (no GPU needed), several
// variants to a program, over two threads, and checks that each expected kernel is an entry
// of its program's PTX. Each failure becomes a gtest failure.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace test_utils {

template <class V>
void expect_all_compile_to_ptx(const std::string& label, const std::vector<V>& variants, size_t batch_size,
                               const std::function<std::string(const std::vector<V>&, const std::string&)>& compile,
                               const std::function<std::vector<std::string>(const V&)>& kernels) {
  std::vector<std::vector<V>> batches;
  for (size_t i = 0; i < variants.size(); i += batch_size) {
    batches.emplace_back(variants.begin() + i, variants.begin() + std::min(variants.size(), i + batch_size));
  }
  size_t kernel_count = 0;
  for (const auto& v : variants) kernel_count += kernels(v).size();
  std::atomic<size_t> next{0};
  std::mutex mu;
  std::vector<std::string> failures;
  auto worker = [&] {
    for (size_t b; (b = next.fetch_add(1)) < batches.size();) {
      std::string name = label + "_batch" + std::to_string(b);
      try {
        std::string ptx = compile(batches[b], name);
        for (const auto& v : batches[b]) {
          for (const auto& k : kernels(v)) {
            if (ptx.find(".entry " + k + "(") == std::string::npos) {
              std::lock_guard lk(mu);
              failures.push_back(name + ": no entry " + k + " in the PTX");
            }
          }
        }
      } catch (const std::exception& e) {
        std::lock_guard lk(mu);
        failures.push_back(std::string(e.what()).substr(0, 4000));
      }
    }
  };
  auto t0 = std::chrono::steady_clock::now();
  unsigned threads = std::max(1u, std::min(2u, std::thread::hardware_concurrency()));
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("[cuda jit] %s: %zu variants, %zu kernels, %zu programs compiled to PTX in %.1f s\n", label.c_str(),
              variants.size(), kernel_count, batches.size(), secs);
  for (const auto& f : failures) ADD_FAILURE() << f;
}

}  // namespace test_utils
