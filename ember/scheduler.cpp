#include "ember/scheduler.h"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>

#include "ember/backend/gpu.h"

namespace ember {

namespace {

// One ordered queue with its own thread. Tasks are numbered 1, 2, ...;
// `completed_` is the number of the last finished task, which is all a
// cross-stream fence needs since a stream runs its tasks in order.
class StreamWorker {
 public:
  StreamWorker() : thread_([this] { run(); }) {}
  ~StreamWorker() {
    {
      std::unique_lock lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  uint64_t enqueue(std::function<void()> task) {
    uint64_t seq;
    {
      std::unique_lock lk(mu_);
      seq = ++submitted_;
      queue_.push_back(std::move(task));
    }
    cv_.notify_one();
    return seq;
  }

  // See scheduler::enqueue_or_claim.
  uint64_t enqueue_or_claim(std::function<void()>& task) {
    uint64_t seq;
    {
      std::unique_lock lk(mu_);
      seq = ++submitted_;
      if (queue_.empty() && !running_) {
        running_ = true;  // the worker leaves the stream alone until run_claimed finishes
        return seq;
      }
      queue_.push_back(std::move(task));
    }
    task = nullptr;
    cv_.notify_one();
    return seq;
  }

  void run_claimed(std::function<void()> task) {
    execute(task);
    cv_.notify_one();  // tasks queued meanwhile were waiting for the stream
  }

  uint64_t next_seq() {
    std::unique_lock lk(mu_);
    return submitted_ + 1;
  }

  void wait_for(uint64_t seq) {
    if (completed_.load(std::memory_order_acquire) >= seq) return;
    std::unique_lock lk(mu_);
    done_cv_.wait(lk, [&] { return completed_.load(std::memory_order_acquire) >= seq; });
  }

  bool is_done(uint64_t seq) const { return completed_.load(std::memory_order_acquire) >= seq; }

  void wait_all() {
    uint64_t s;
    {
      std::unique_lock lk(mu_);
      s = submitted_;
    }
    wait_for(s);
  }

 private:
  void run() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [&] { return (stop_ && !running_) || (!queue_.empty() && !running_); });
        if (queue_.empty()) return;  // stop requested and drained
        task = std::move(queue_.front());
        queue_.pop_front();
        running_ = true;
      }
      execute(task);
    }
  }

  // Runs one task (the stream is reserved: running_), then marks it complete.
  void execute(std::function<void()>& task) {
    // Tasks catch their own kernel errors; this guard keeps the stream alive
    // if something unexpected escapes.
    try {
      task();
    } catch (...) {
    }
    task = nullptr;  // release captured arrays before signalling completion
    {
      std::unique_lock lk(mu_);
      running_ = false;
      completed_.fetch_add(1, std::memory_order_acq_rel);
    }
    done_cv_.notify_all();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable done_cv_;
  std::deque<std::function<void()>> queue_;
  uint64_t submitted_ = 0;
  std::atomic<uint64_t> completed_{0};
  bool stop_ = false;
  bool running_ = false;  // a task is executing, on the worker or claimed by a caller
  std::thread thread_;
};

struct StreamRegistry {
  std::mutex mu;
  std::vector<Stream> streams;
  std::vector<std::unique_ptr<StreamWorker>> workers;
  std::vector<int> default_streams{-1, -1};  // per device type (single GPU index for now)

  Stream create(Device d) {
    std::unique_lock lk(mu);
    Stream s(static_cast<int>(streams.size()), d);
    streams.push_back(s);
    workers.push_back(std::make_unique<StreamWorker>());
    return s;
  }
  StreamWorker& worker(int index) {
    std::unique_lock lk(mu);
    if (index < 0 || index >= static_cast<int>(workers.size())) {
      throw std::out_of_range("[stream] no stream with index " + std::to_string(index));
    }
    return *workers[index];
  }
};

StreamRegistry& registry() {
  // Leaked on purpose: worker threads must outlive static arrays freed at exit.
  static StreamRegistry* r = new StreamRegistry();
  return *r;
}

Device initial_default_device() {
  if (const char* env = std::getenv("EMBER_DEFAULT_DEVICE")) {
    std::string v(env);
    if (v == "cpu") return Device::cpu;
    if (v == "gpu") return Device::gpu;
    throw std::invalid_argument("[default_device] EMBER_DEFAULT_DEVICE must be 'cpu' or 'gpu', got '" + v + "'");
  }
  return gpu::is_available() ? Device(Device::gpu) : Device(Device::cpu);
}

Device& default_device_storage() {
  static Device d = initial_default_device();
  return d;
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const Device& d) {
  return os << "Device(" << (d.type == Device::cpu ? "cpu" : "gpu") << ", " << d.index << ")";
}

std::ostream& operator<<(std::ostream& os, const Stream& s) {
  return os << "Stream(" << s.device << ", " << s.index << ")";
}

const Device& default_device() { return default_device_storage(); }

bool is_available(const Device& d) {
  if (d.type == Device::cpu) return d.index == 0;
  return gpu::is_available() && d.index < gpu::device_count();
}

void set_default_device(const Device& d) {
  if (!is_available(d)) {
    std::ostringstream msg;
    msg << "[set_default_device] " << d << " is not available"
        << (d.type == Device::gpu ? " (" + gpu::unavailable_reason() + ")" : std::string());
    throw std::invalid_argument(msg.str());
  }
  default_device_storage() = d;
}

Stream default_stream(Device d) {
  if (!is_available(d)) {
    std::ostringstream msg;
    msg << "[default_stream] " << d << " is not available"
        << (d.type == Device::gpu ? " (" + gpu::unavailable_reason() + ")" : std::string());
    throw std::invalid_argument(msg.str());
  }
  auto& r = registry();
  int slot = d.type == Device::cpu ? 0 : 1;
  {
    std::unique_lock lk(r.mu);
    if (r.default_streams[slot] >= 0) return r.streams[r.default_streams[slot]];
  }
  Stream s = r.create(d);
  std::unique_lock lk(r.mu);
  if (r.default_streams[slot] < 0) r.default_streams[slot] = s.index;
  return r.streams[r.default_streams[slot]];
}

void set_default_stream(Stream s) {
  auto& r = registry();
  std::unique_lock lk(r.mu);
  r.default_streams[s.device.type == Device::cpu ? 0 : 1] = s.index;
}

Stream new_stream(Device d) {
  if (!is_available(d)) {
    std::ostringstream msg;
    msg << "[new_stream] " << d << " is not available";
    throw std::invalid_argument(msg.str());
  }
  return registry().create(d);
}

void synchronize(Stream s) {
  registry().worker(s.index).wait_all();
  if (s.device.type == Device::gpu) gpu::finish(s);  // GPU tasks end once queued, not once run
}

void synchronize() { synchronize(default_stream(default_device())); }

Stream to_stream(StreamOrDevice s) {
  switch (s.kind) {
    case StreamOrDevice::Kind::stream:
      return s.s;
    case StreamOrDevice::Kind::device:
      return default_stream(s.d);
    default:
      return default_stream(default_device());
  }
}

namespace scheduler {

uint64_t enqueue(const Stream& s, std::function<void()> task) {
  return registry().worker(s.index).enqueue(std::move(task));
}

uint64_t enqueue_or_claim(const Stream& s, std::function<void()>& task) {
  return registry().worker(s.index).enqueue_or_claim(task);
}

void run_claimed(const Stream& s, std::function<void()> task) {
  registry().worker(s.index).run_claimed(std::move(task));
}

uint64_t next_seq(const Stream& s) { return registry().worker(s.index).next_seq(); }

void wait_for(int stream_index, uint64_t seq) { registry().worker(stream_index).wait_for(seq); }

bool is_done(int stream_index, uint64_t seq) { return registry().worker(stream_index).is_done(seq); }

namespace {

// A fixed pool of helper threads; the calling thread does one chunk itself.
class ThreadPool {
 public:
  explicit ThreadPool(int n) : nthreads_(n) {
    for (int i = 1; i < n; ++i) helpers_.emplace_back([this, i] { run(i); });
  }
  ~ThreadPool() {
    {
      std::unique_lock lk(mu_);
      stop_ = true;
      stop_seen_.store(true);
    }
    cv_.notify_all();
    for (auto& t : helpers_) t.join();
  }
  int size() const { return nthreads_; }

  // Returns false (and does nothing) if another caller is using the pool.
  bool try_run(int nchunks, const std::function<void(int)>& chunk) {
    std::unique_lock busy(busy_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    {
      std::unique_lock lk(mu_);
      job_ = &chunk;
      nchunks_ = nchunks;
      next_.store(1, std::memory_order_relaxed);  // chunk 0 is the caller's
      pending_.store(nchunks - 1, std::memory_order_relaxed);
      quiet_.store(false, std::memory_order_relaxed);
      ++generation_;
      generation_seen_.store(generation_, std::memory_order_release);
    }
    cv_.notify_all();  // no system call when every helper is still spinning
    chunk(0);
    take_chunks();
    // The helpers' last chunks usually end within microseconds: spin before sleeping.
    if (!spin_until([&] { return pending_.load(std::memory_order_acquire) == 0; })) {
      std::unique_lock lk(mu_);
      done_cv_.wait(lk, [&] { return pending_.load(std::memory_order_acquire) == 0; });
    }
    std::unique_lock lk(mu_);
    job_ = nullptr;
    return true;
  }

 private:
  // Spins (with a pause) while `ready` is false, for at most kSpin: back-to-back parallel loops,
  // as a decode step runs (one per matrix product, tens of microseconds apart), then cost no
  // sleep and wake-up (a futex round trip, 10-50 us on a VM) per loop. True once ready.
  static constexpr auto kSpin = std::chrono::microseconds(100);
  template <class F>
  static bool spin_until(F&& ready) {
    auto until = std::chrono::steady_clock::now() + kSpin;
    for (int i = 0;; ++i) {
      if (ready()) return true;
      if ((i & 63) == 63 && std::chrono::steady_clock::now() > until) return false;
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
  }

  void take_chunks() {
    for (;;) {
      int c = next_.fetch_add(1, std::memory_order_relaxed);
      if (c >= nchunks_) return;
      (*job_)(c);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard lk(mu_);  // the caller may be between its check and its wait
        done_cv_.notify_all();
      }
    }
  }
  void run(int) {
    uint64_t seen = 0;
    for (;;) {
      spin_until([&] {
        return generation_seen_.load(std::memory_order_acquire) != seen || stop_seen_.load(std::memory_order_relaxed) ||
               quiet_.load(std::memory_order_relaxed);
      });
      {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        if (!job_) continue;
      }
      take_chunks();
    }
  }

  int nthreads_;
  std::vector<std::thread> helpers_;
  std::mutex busy_;
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int)>* job_ = nullptr;
  int nchunks_ = 0;
  std::atomic<int> next_{0};
  std::atomic<int> pending_{0};
  uint64_t generation_ = 0;
  std::atomic<uint64_t> generation_seen_{0};  // generation_, readable without the lock
  std::atomic<bool> stop_seen_{false};

 public:
  // Spinning helpers go to sleep now (until the next loop wakes them).
  void quiet() { quiet_.store(true, std::memory_order_relaxed); }

 private:
  std::atomic<bool> quiet_{false};
  bool stop_ = false;
};

ThreadPool& pool() {
  static ThreadPool* p = [] {
    int n = static_cast<int>(std::thread::hardware_concurrency());
    if (const char* env = std::getenv("EMBER_NUM_THREADS")) n = std::atoi(env);
    return new ThreadPool(std::max(1, std::min(n, 64)));
  }();
  return *p;
}

}  // namespace

int num_threads() { return pool().size(); }

void quiet_helpers() { pool().quiet(); }

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& f) {
  if (n <= 0) return;
  int64_t nchunks = std::min<int64_t>(num_threads(), n / std::max<int64_t>(grain, 1));
  if (nchunks <= 1) {
    f(0, n);
    return;
  }
  int64_t per = (n + nchunks - 1) / nchunks;
  // An exception in a helper thread would terminate the process; keep the
  // first one and rethrow it here, in the calling thread.
  std::exception_ptr error;
  std::mutex error_mu;
  std::function<void(int)> chunk = [&](int c) {
    int64_t b = c * per;
    int64_t e = std::min(n, b + per);
    if (b >= e) return;
    try {
      f(b, e);
    } catch (...) {
      std::lock_guard lk(error_mu);
      if (!error) error = std::current_exception();
    }
  };
  if (!pool().try_run(static_cast<int>(nchunks), chunk)) {
    f(0, n);
    return;
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace scheduler

}  // namespace ember
