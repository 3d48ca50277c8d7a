// eval / async_eval: iterative topological sort, then dispatch of each node to
// its stream. Consecutive nodes on one stream travel as one task, so a graph of
// small ops pays one thread hand-off, not one per op.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <sstream>
#include <unordered_set>

#include <optional>

#include "ember/backend/gpu.h"
#include "ember/compile.h"
#include "ember/primitives.h"
#include "ember/scheduler.h"
#include "ember/transforms.h"
#include "ember/utils.h"

namespace ember {

namespace {

// EMBER_DEBUG=1 prints each kernel launch with its time to stderr.
bool debug_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("EMBER_DEBUG");
    return v && *v && std::string(v) != "0";
  }();
  return on;
}

void mark_error(std::vector<array>& outs, std::exception_ptr e) {
  for (auto& o : outs) {
    o.desc()->error = e;
    o.set_status(Status::error);
  }
}

// Runs one node on the current stream worker. `outs` are all of its outputs. GPU nodes
// only queue work: their task marks them available once the stream has finished.
void run_node(Primitive& p, std::vector<array>& outs) {
  const auto& inputs = outs[0].inputs();
  int my_stream = p.stream().index;
  for (auto& in : inputs) {
    if (in.status() == Status::scheduled && in.desc()->event_stream != my_stream) {
      scheduler::wait_for(in.desc()->event_stream, in.desc()->event_seq);  // cross-stream fence
    }
    if (in.status() == Status::error) {
      mark_error(outs, in.desc()->error);
      return;
    }
  }
  try {
    auto t0 = debug_enabled() ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    if (p.stream().device.type == Device::cpu) {
      p.eval_cpu(inputs, outs);
    } else {
      p.eval_gpu(inputs, outs);
    }
    if (debug_enabled()) {
      double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
      std::ostringstream line;
      line << "[ember] ";
      p.print(line);
      line << " -> " << shape_to_string(outs[0].shape()) << " " << outs[0].dtype() << " on " << p.stream() << ": " << us
           << " us\n";
      std::cerr << line.str();
    }
  } catch (...) {
    for (auto& o : outs) o.desc()->data.reset();
    mark_error(outs, std::current_exception());
    return;
  }
  if (p.stream().device.type == Device::cpu) {
    for (auto& o : outs) o.set_status(Status::available);
  }
}

// Ends a GPU task: marks the end of its queued kernels with a fence and publishes the nodes'
// outputs. The worker does not wait for the GPU: the next task queues while this one runs.
// Another stream that reads an output waits for the fence on the device (gpu::device_ptr),
// a host read waits for the stream (Data::host()), and eval() waits for its outputs' fences.
// Outputs are held weakly, so intermediates nobody needs are freed as soon as the graph lets go.
void finish_gpu_task(const Stream& s, const std::vector<std::weak_ptr<ArrayDesc>>& outputs) {
  std::shared_ptr<gpu::Fence> fence;
  std::exception_ptr err;
  try {
    fence = gpu::record_fence(s);
  } catch (...) {
    err = std::current_exception();
  }
  for (auto& w : outputs) {
    auto d = w.lock();
    if (!d || d->status.load() == Status::error) continue;
    if (err) {
      d->data.reset();
      d->error = err;
      d->status.store(Status::error, std::memory_order_release);
      continue;
    }
    if (auto& data = d->data) {
      // The first writer's fence stays: a view made later shares the buffer, not its writes.
      std::lock_guard lk(data->mu);
      if (data->device_ptr && !data->host_valid.load(std::memory_order_relaxed) && !data->written) {
        data->written = fence;
      }
    }
    d->status.store(Status::available, std::memory_order_release);
  }
}

// Blocks until the GPU work behind an evaluated array is done (eval's promise); throws
// the error of a kernel that failed meanwhile.
void wait_device(const array& a) {
  if (const auto& data = a.desc()->data) gpu::wait_written(*data);
}

struct Task {
  Stream stream;
  std::vector<array> nodes;  // one representative output per node
};

// Sorts the unevaluated part of the graph below `outputs` (inputs first)
// without recursion, so chains of millions of nodes don't overflow the stack.
// A traced input of compile: neither data nor a recipe.
void check_not_traced(const array& a) {
  if (a.status() == Status::unscheduled && !a.has_primitive() && !a.data_shared_ptr() && detail::in_compile_trace()) {
    throw std::invalid_argument(
        "[compile] cannot evaluate an array that depends on the inputs of a function while compile traces it (eval, "
        "item or a data read inside the compiled function)");
  }
}

std::vector<array> topo_sort(const std::vector<array>& outputs) {
  std::vector<array> tape;
  std::unordered_set<const Node*> visited;
  std::vector<std::pair<array, size_t>> stack;  // (array, next input to visit)
  for (auto& out : outputs) {
    check_not_traced(out);
    if (out.status() != Status::unscheduled || !out.has_primitive()) continue;
    if (!visited.insert(out.desc()->node.get()).second) continue;
    stack.emplace_back(out, 0);
    while (!stack.empty()) {
      auto& [a, i] = stack.back();
      const auto& ins = a.inputs();
      if (i < ins.size()) {
        const array& in = ins[i++];
        check_not_traced(in);
        if (in.status() == Status::unscheduled && in.has_primitive() && visited.insert(in.desc()->node.get()).second) {
          stack.emplace_back(in, 0);  // invalidates a and i; loop re-reads back()
        }
        continue;
      }
      tape.push_back(std::move(a));
      stack.pop_back();
    }
  }
  return tape;
}

// A task eval() runs in its own thread instead of handing it to the stream's worker.
struct Claimed {
  Stream stream;
  std::function<void()> task;
};

// Sorts and submits the graph. With `claim_last` (a caller that waits for the result), the
// last task, when its stream is idle, is returned to run inline rather than queued: for a GPU
// stream that saves two thread hand-offs per eval (the task queues its kernels and waits).
std::optional<Claimed> schedule(const std::vector<array>& outputs, bool claim_last) {
  // One lock around sorting and submission: concurrent evals from several
  // threads neither schedule a shared node twice nor reuse a sequence number.
  static std::mutex submit_mu;
  std::lock_guard lk(submit_mu);
  if (debug_enabled()) {
    std::cerr << "[ember] eval graph:\n";
    print_graph(std::cerr, outputs);
  }
  std::vector<array> tape = topo_sort(outputs);
  if (tape.empty()) return std::nullopt;

  // Split the tape into runs of consecutive nodes on the same stream. Each
  // run depends only on earlier runs, so waiting across streams can't deadlock.
  std::vector<Task> tasks;
  for (auto& a : tape) {
    const Stream& s = a.primitive().stream();
    if (tasks.empty() || tasks.back().stream != s) tasks.push_back(Task{s, {}});
    tasks.back().nodes.push_back(std::move(a));
  }
  for (auto& t : tasks) {
    uint64_t seq = scheduler::next_seq(t.stream);
    for (auto& a : t.nodes) {
      for (auto& o : a.outputs()) {
        o.desc()->event_stream = t.stream.index;
        o.desc()->event_seq = seq;
        o.set_status(Status::scheduled);
      }
    }
    auto nodes = std::make_shared<std::vector<array>>(std::move(t.nodes));
    bool keep_graph = detail::is_tracing();
    Stream stream = t.stream;
    std::function<void()> task = [nodes, keep_graph, stream]() {
      bool gpu = stream.device.type == Device::gpu;
      std::vector<std::weak_ptr<ArrayDesc>> gpu_outputs;
      for (auto& a : *nodes) {
        array node = std::move(a);  // the tape lets go, so inputs may be donated
        std::vector<array> outs = node.outputs();
        auto prim = node.primitive_ptr();
        run_node(*prim, outs);
        if (!keep_graph) node.detach();
        if (gpu) {
          for (auto& o : outs) gpu_outputs.push_back(o.desc());
        }
      }
      if (gpu) finish_gpu_task(stream, gpu_outputs);
    };
    bool last = &t == &tasks.back();
    if (claim_last && last) {
      scheduler::enqueue_or_claim(t.stream, task);
      if (task) return Claimed{t.stream, std::move(task)};
    } else {
      scheduler::enqueue(t.stream, std::move(task));
    }
  }
  return std::nullopt;
}

}  // namespace

namespace detail {

namespace {
std::atomic<int> tracing_depth{0};
}

TracingScope::TracingScope() { tracing_depth.fetch_add(1); }
TracingScope::~TracingScope() { tracing_depth.fetch_sub(1); }
bool is_tracing() { return tracing_depth.load() > 0; }

}  // namespace detail

void async_eval(std::vector<array> outputs) { schedule(outputs, false); }

void eval(std::vector<array> outputs) {
  // The last task of the graph runs right here when its stream is idle (after the submit lock
  // is released): handing it to the worker thread and waiting costs more than most small ops.
  if (auto claimed = schedule(outputs, true)) scheduler::run_claimed(claimed->stream, std::move(claimed->task));
  for (auto& o : outputs) {
    o.wait();
    wait_device(o);
  }
}

}  // namespace ember
