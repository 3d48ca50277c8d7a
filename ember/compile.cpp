// compile: tracing, the trace cache, graph simplification and elementwise fusion. The
// fused regions become Compiled primitives, whose kernels the backends generate
// (backend/cpu/compiled.cpp, backend/cuda/compiled.cpp).
#include "ember/compile.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <queue>
#include <sstream>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "ember/ops.h"
#include "ember/primitives.h"
#include "ember/primitives_compiled.h"
#include "ember/utils.h"

namespace ember {

namespace {

std::atomic<bool>& enabled_flag() {
  static std::atomic<bool> on{[] {
    const char* v = std::getenv("EMBER_DISABLE_COMPILE");
    return !(v && *v && std::string(v) != "0");
  }()};
  return on;
}

thread_local int trace_depth = 0;

struct Counters {
  std::atomic<uint64_t> traces{0}, fused{0};
};
Counters& counters() {
  static Counters c;
  return c;
}

struct TraceGuard {
  TraceGuard() { ++trace_depth; }
  ~TraceGuard() { --trace_depth; }
};

// ------------------------------------------------------------------ the graph of a trace

// A node of the traced graph: one representative output of a primitive application.
// `ins` are the arrays its inputs are (placeholders, constants or other nodes' outputs).
using Tape = std::vector<array>;

// The nodes between the placeholders and `outputs` that depend on a placeholder (or
// broadcast a constant), inputs first. Everything else the outputs reach is a constant of
// the trace, computed once.
Tape sort_dependent(const std::vector<array>& outputs, const std::unordered_set<uint64_t>& sources) {
  std::unordered_map<const Node*, bool> depends;  // per visited node: depends on a source
  Tape tape;
  std::vector<std::pair<array, size_t>> stack;
  auto is_dep = [&](const array& a) {
    if (sources.count(a.id())) return true;
    if (!a.has_primitive()) return false;
    auto it = depends.find(a.desc()->node.get());
    return it != depends.end() && it->second;
  };
  for (auto& out : outputs) {
    if (!out.has_primitive() || depends.count(out.desc()->node.get())) continue;
    stack.emplace_back(out, 0);
    while (!stack.empty()) {
      auto& [a, i] = stack.back();
      const auto& ins = a.inputs();
      if (i < ins.size()) {
        const array& in = ins[i++];
        if (in.has_primitive() && !sources.count(in.id()) && !depends.count(in.desc()->node.get())) {
          stack.emplace_back(in, 0);  // invalidates a and i
        }
        continue;
      }
      // A broadcast constant counts as dependent, so its constant is merged with equal ones
      // and the broadcast fuses (in shapeless mode its shape follows the inputs').
      bool dep = std::any_of(ins.begin(), ins.end(), is_dep) ||
                 (ins.size() == 1 && !ins[0].has_primitive() && dynamic_cast<Broadcast*>(&a.primitive()));
      depends[a.desc()->node.get()] = dep;
      if (dep) tape.push_back(a);
      stack.pop_back();
    }
  }
  return tape;
}

// Maps arrays of an old graph to their replacements while it is rebuilt.
struct Remap {
  std::unordered_map<uint64_t, array> to;
  const array& operator()(const array& a) const {
    auto it = to.find(a.id());
    return it == to.end() ? a : it->second;
  }
  void set(const array& from, const array& a) { to.insert_or_assign(from.id(), a); }
};

// The node's outputs rebuilt on `ins` with the same primitive; `shapes` empty keeps the
// traced shapes, else gives them.
std::vector<array> rebuild(const array& node, std::vector<array> ins, std::vector<Shape> shapes = {}) {
  std::vector<array> outs = node.outputs();
  std::vector<Dtype> dtypes;
  for (auto& o : outs) dtypes.push_back(o.dtype());
  if (shapes.empty()) {
    for (auto& o : outs) shapes.push_back(o.shape());
  }
  if (outs.size() == 1) return {array(std::move(shapes[0]), dtypes[0], node.primitive_ptr(), std::move(ins))};
  return array::make_arrays(std::move(shapes), dtypes, node.primitive_ptr(), std::move(ins));
}

// The shapes and dtypes of a node's outputs, as one comparable value.
std::pair<std::vector<Shape>, std::vector<Dtype>> output_types(const array& node) {
  std::pair<std::vector<Shape>, std::vector<Dtype>> t;
  for (auto& o : node.outputs()) {
    t.first.push_back(o.shape());
    t.second.push_back(o.dtype());
  }
  return t;
}

// ------------------------------------------------------------------ simplification

// A constant small enough to compare by value (scalars and short vectors).
bool mergeable_constant(const array& a) {
  return !a.has_primitive() && a.is_available() && a.size() <= 8 && a.data_shared_ptr() && a.flags().row_contiguous &&
         a.data_shared_ptr()->host_valid.load();
}

std::string constant_key(const array& a) {
  std::string k = dtype_name(a.dtype()) + shape_to_string(a.shape()) + ":";
  k.append(static_cast<const char*>(a.raw_ptr()), a.nbytes());
  return k;
}

// Whether the node computes its input unchanged (a cast to the same dtype, a broadcast or
// reshape to the same shape).
bool is_noop(const array& node) {
  const auto& ins = node.inputs();
  if (ins.size() != 1 || node.siblings().size() != 0) return false;
  const array& in = ins[0];
  if (in.dtype() != node.dtype() || in.shape() != node.shape()) return false;
  Primitive& p = node.primitive();
  return dynamic_cast<AsType*>(&p) || dynamic_cast<Broadcast*>(&p) || dynamic_cast<Reshape*>(&p);
}

// Rebuilds the dependent graph with identical constants merged, no-ops dropped and common
// subexpressions computed once (a node is the same as an earlier one when its primitive is
// equivalent and its inputs are the same arrays). Returns the new outputs; `tape` becomes
// the new graph's dependent nodes.
std::vector<array> simplify(const std::vector<array>& outputs, const std::unordered_set<uint64_t>& sources,
                            Tape& tape) {
  Remap remap;
  std::unordered_map<std::string, array> constants;
  auto merge_constant = [&](const array& c) {
    if (!mergeable_constant(c) || remap.to.count(c.id())) return;
    auto [it, fresh] = constants.emplace(constant_key(c), c);
    if (!fresh) remap.set(c, it->second);
  };
  // CSE table: (primitive name, input ids) -> earlier nodes with those inputs.
  std::unordered_map<std::string, std::vector<array>> seen;
  for (const array& node : tape) {
    std::vector<array> ins;
    for (const array& in : node.inputs()) {
      merge_constant(in);
      ins.push_back(remap(in));
    }
    std::vector<array> outs = node.outputs();
    if (is_noop(node)) {
      remap.set(node, ins[0]);
      continue;
    }
    std::ostringstream key;
    key << node.primitive().name();
    for (auto& in : ins) key << ':' << in.id();
    auto& same = seen[key.str()];
    const array* match = nullptr;
    for (const array& cand : same) {
      if (output_types(cand) == output_types(node) && cand.primitive().is_equivalent(node.primitive())) {
        match = &cand;
        break;
      }
    }
    std::vector<array> repl;
    if (match) {
      repl = match->outputs();
    } else {
      bool changed = false;
      const auto& old_ins = node.inputs();
      for (size_t i = 0; i < ins.size(); ++i) changed |= !ins[i].is_same(old_ins[i]);
      repl = changed ? rebuild(node, ins) : outs;
      same.push_back(repl[0]);
    }
    for (size_t k = 0; k < outs.size(); ++k) remap.set(outs[k], repl[k]);
  }
  std::vector<array> result;
  for (auto& o : outputs) result.push_back(remap(o));
  tape = sort_dependent(result, sources);  // what the outputs still reach: dead nodes are gone
  return result;
}

// ------------------------------------------------------------------ fusion

// Whether a node may join a region of shape `shape`.
bool node_fusable(const array& node, const Stream& stream, const Shape& shape) {
  if (node.siblings().size() != 0 || node.shape() != shape) return false;
  Primitive& p = node.primitive();
  if (p.stream() != stream) return false;
  std::vector<Dtype> ins;
  for (auto& in : node.inputs()) ins.push_back(in.dtype());
  return is_fusable(p, node.dtype(), ins);
}

bool counts_as_work(const array& node) { return !dynamic_cast<Broadcast*>(&node.primitive()); }

// Replaces maximal chains of elementwise ops (one output each) by Compiled nodes. Regions
// grow from a root backwards through inputs whose consumers are all in the region, so the
// root is the only value leaving the region.
std::vector<array> fuse(const std::vector<array>& outputs, const std::unordered_set<uint64_t>& sources, Tape& tape,
                        bool shapeless) {
  const size_t n = tape.size();
  std::unordered_map<const Node*, size_t> index;
  for (size_t i = 0; i < n; ++i) index[tape[i].desc()->node.get()] = i;
  auto index_of = [&](const array& a) -> long {
    if (!a.has_primitive() || sources.count(a.id())) return -1;
    auto it = index.find(a.desc()->node.get());
    return it == index.end() ? -1 : static_cast<long>(it->second);
  };
  std::vector<std::vector<size_t>> consumers(n);
  for (size_t i = 0; i < n; ++i) {
    for (auto& in : tape[i].inputs()) {
      long j = index_of(in);
      if (j >= 0) consumers[j].push_back(i);
    }
  }
  std::vector<bool> is_output(n, false);
  for (auto& o : outputs) {
    long j = index_of(o);
    if (j >= 0) is_output[j] = true;
  }

  std::vector<long> region_of(n, -1);  // region id, or -1
  std::vector<std::vector<size_t>> regions;
  std::vector<bool> tried(n, false);
  for (size_t r = n; r-- > 0;) {
    if (region_of[r] >= 0 || tried[r]) continue;
    tried[r] = true;
    const array& root = tape[r];
    if (!root.has_primitive() || root.siblings().size() != 0) continue;
    const Shape& shape = root.shape();
    const Stream stream = root.primitive().stream();
    if (!node_fusable(root, stream, shape)) continue;
    long id = static_cast<long>(regions.size());
    std::vector<size_t> members = {r};
    region_of[r] = id;
    std::priority_queue<size_t> cand;  // highest tape index first: consumers are decided before
    std::unordered_set<size_t> queued;
    auto push_inputs = [&](size_t k) {
      for (auto& in : tape[k].inputs()) {
        long j = index_of(in);
        if (j >= 0 && region_of[j] < 0 && queued.insert(j).second) cand.push(static_cast<size_t>(j));
      }
    };
    push_inputs(r);
    while (!cand.empty()) {
      size_t k = cand.top();
      cand.pop();
      if (is_output[k] || !node_fusable(tape[k], stream, shape)) continue;
      bool inside = std::all_of(consumers[k].begin(), consumers[k].end(), [&](size_t c) { return region_of[c] == id; });
      if (!inside) continue;
      region_of[k] = id;
      members.push_back(k);
      push_inputs(k);
    }
    std::sort(members.begin(), members.end());
    long work = std::count_if(members.begin(), members.end(), [&](size_t k) { return counts_as_work(tape[k]); });
    // The region's inputs, in order of first use.
    std::vector<array> ins;
    std::unordered_set<uint64_t> in_ids;
    for (size_t k : members) {
      for (auto& in : tape[k].inputs()) {
        long j = index_of(in);
        if ((j < 0 || region_of[j] != id) && in_ids.insert(in.id()).second) ins.push_back(in);
      }
    }
    // The output shape must follow from the inputs' (Compiled::output_shapes), and one op
    // alone is not worth a generated kernel.
    Shape bshape;
    for (auto& in : ins) bshape = broadcast_shapes(bshape, in.shape());
    bool ok = work >= 2 && (ins.empty() ? false : bshape == shape);
    if (!ok) {
      for (size_t k : members) region_of[k] = -1;
      continue;
    }
    regions.push_back(std::move(members));
  }
  (void)shapeless;
  if (regions.empty()) return outputs;

  // Rebuild the graph with each region as one Compiled node.
  Remap remap;
  std::vector<bool> done(regions.size(), false);
  for (size_t i = 0; i < n; ++i) {
    const array& node = tape[i];
    long id = region_of[i];
    if (id < 0) {
      std::vector<array> ins;
      bool changed = false;
      for (auto& in : node.inputs()) {
        ins.push_back(remap(in));
        changed |= !ins.back().is_same(in);
      }
      std::vector<array> outs = node.outputs();
      std::vector<array> repl = changed ? rebuild(node, ins) : outs;
      for (size_t k = 0; k < outs.size(); ++k) remap.set(outs[k], repl[k]);
      continue;
    }
    const auto& members = regions[id];
    if (i != members.back()) continue;       // the region is built at its root, after all its inputs
    std::unordered_map<uint64_t, int> slot;  // array id -> argument index
    std::vector<array> ins;
    std::vector<Dtype> in_dtypes;
    std::vector<Compiled::Op> ops;
    for (size_t k : members) {
      for (auto& in : tape[k].inputs()) {
        long j = index_of(in);
        if ((j < 0 || region_of[j] != id) && !slot.count(in.id())) {
          slot[in.id()] = static_cast<int>(ins.size());
          ins.push_back(remap(in));
          in_dtypes.push_back(in.dtype());
        }
      }
    }
    const int n_in = static_cast<int>(ins.size());
    for (size_t k : members) {
      Compiled::Op op{tape[k].primitive_ptr(), {}, tape[k].dtype()};
      for (auto& in : tape[k].inputs()) op.args.push_back(slot.at(in.id()));
      slot[tape[k].id()] = n_in + static_cast<int>(ops.size());
      ops.push_back(std::move(op));
    }
    auto prim = std::make_shared<Compiled>(node.primitive().stream(), std::move(ops), std::move(in_dtypes));
    remap.set(node, array(node.shape(), node.dtype(), std::move(prim), std::move(ins)));
    counters().fused.fetch_add(1);
  }
  std::vector<array> result;
  for (auto& o : outputs) result.push_back(remap(o));
  tape = sort_dependent(result, sources);
  return result;
}

// ------------------------------------------------------------------ traces and the cache

struct Trace {
  std::vector<array> inputs;   // the placeholders
  std::vector<array> outputs;  // the simplified, fused graph's outputs
  Tape tape;                   // its nodes that depend on the inputs, inputs first
};

struct Signature {
  std::vector<Dtype> dtypes;
  std::vector<Shape> shapes;  // ndim-long runs of -1 in shapeless mode
  int stream;
  bool operator==(const Signature&) const = default;
};

Signature signature_of(const std::vector<array>& args, bool shapeless) {
  Signature s;
  s.stream = to_stream({}).index;
  for (auto& a : args) {
    s.dtypes.push_back(a.dtype());
    s.shapes.push_back(shapeless ? Shape(a.ndim(), -1) : a.shape());
  }
  return s;
}

std::shared_ptr<Trace> make_trace(const MultiFn& fun, const std::vector<array>& args, bool shapeless) {
  auto t = std::make_shared<Trace>();
  std::unordered_set<uint64_t> sources;
  for (auto& a : args) {
    t->inputs.push_back(array::placeholder(a.shape(), a.dtype()));
    sources.insert(t->inputs.back().id());
  }
  std::vector<array> outs;
  {
    TraceGuard guard;
    outs = fun(t->inputs);
  }
  counters().traces.fetch_add(1);
  Tape tape = sort_dependent(outs, sources);
  outs = simplify(outs, sources, tape);
  outs = fuse(outs, sources, tape, shapeless);
  t->outputs = std::move(outs);
  t->tape = std::move(tape);
  return t;
}

// The trace's graph rebuilt on `args`.
std::vector<array> replay(const Trace& t, const std::vector<array>& args, bool shapeless) {
  Remap remap;
  for (size_t i = 0; i < args.size(); ++i) remap.set(t.inputs[i], args[i]);
  for (const array& node : t.tape) {
    std::vector<array> ins;
    for (auto& in : node.inputs()) ins.push_back(remap(in));
    std::vector<Shape> shapes;
    if (shapeless) shapes = node.primitive().output_shapes(ins);
    std::vector<array> outs = node.outputs();
    std::vector<array> repl = rebuild(node, std::move(ins), std::move(shapes));
    for (size_t k = 0; k < outs.size(); ++k) remap.set(outs[k], repl[k]);
  }
  std::vector<array> result;
  for (auto& o : t.outputs) result.push_back(remap(o));
  return result;
}

struct CompiledFunction {
  MultiFn fun;
  bool shapeless;
  std::mutex mu;
  std::vector<std::pair<Signature, std::shared_ptr<Trace>>> cache;
};

}  // namespace

MultiFn compile(MultiFn fun, bool shapeless) {
  auto state = std::make_shared<CompiledFunction>();
  state->fun = std::move(fun);
  state->shapeless = shapeless;
  return [state](const std::vector<array>& args) -> std::vector<array> {
    if (!compile_enabled()) return state->fun(args);
    Signature sig = signature_of(args, state->shapeless);
    std::shared_ptr<Trace> trace;
    {
      std::lock_guard lk(state->mu);
      for (auto& [s, t] : state->cache) {
        if (s == sig) trace = t;
      }
    }
    if (!trace) {
      trace = make_trace(state->fun, args, state->shapeless);
      std::lock_guard lk(state->mu);
      state->cache.emplace_back(std::move(sig), trace);
    }
    return replay(*trace, args, state->shapeless);
  };
}

void disable_compile() { enabled_flag().store(false); }
void enable_compile() { enabled_flag().store(true); }
bool compile_enabled() { return enabled_flag().load(); }

namespace detail {

bool in_compile_trace() { return trace_depth > 0; }

uint64_t compile_cpu_builds();
uint64_t compile_cpu_disk_loads();

CompileStats compile_stats() {
  CompileStats s;
  s.traces = counters().traces.load();
  s.fused_kernels = counters().fused.load();
  s.cpu_builds = compile_cpu_builds();
  s.cpu_disk_loads = compile_cpu_disk_loads();
  return s;
}

}  // namespace detail

// ------------------------------------------------------------------ the Compiled primitive

bool is_fusable(const Primitive& p, Dtype out, const std::vector<Dtype>& ins) {
  if (out == complex64) return false;
  for (Dtype t : ins) {
    if (t == complex64) return false;
  }
  if (auto* u = dynamic_cast<const Unary*>(&p)) {
    switch (u->op()) {
      case UnaryOp::Conjugate:
      case UnaryOp::Real:
      case UnaryOp::Imag:
        return false;
      default:
        return true;
    }
  }
  if (auto* b = dynamic_cast<const Binary*>(&p)) {
    // Integer true division is undefined at 0 in C++; ops promote it to float anyway.
    return !(b->op() == BinaryOp::Divide && !is_floating_point(ins[0]));
  }
  return dynamic_cast<const Select*>(&p) || dynamic_cast<const AsType*>(&p) || dynamic_cast<const Broadcast*>(&p);
}

Compiled::Compiled(Stream s, std::vector<Op> ops, std::vector<Dtype> input_dtypes)
    : UnaryPrimitive(s), ops_(std::move(ops)), input_dtypes_(std::move(input_dtypes)) {
  std::ostringstream os;
  for (Dtype t : input_dtypes_) os << dtype_name(t) << ',';
  for (auto& op : ops_) {
    os << ';';
    op.primitive->print(os);
    os << ':' << dtype_name(op.dtype);
    for (int a : op.args) os << ',' << a;
  }
  signature_ = os.str();
}

std::vector<Shape> Compiled::output_shapes(const std::vector<array>& inputs) {
  Shape s;
  for (auto& in : inputs) s = broadcast_shapes(s, in.shape());
  return {s};
}

bool Compiled::is_equivalent(const Primitive& other) const {
  auto* o = dynamic_cast<const Compiled*>(&other);
  return o && o->signature_ == signature_;
}

void Compiled::print(std::ostream& os) const {
  os << "Compiled(";
  for (size_t i = 0; i < ops_.size(); ++i) {
    if (i) os << ' ';
    ops_[i].primitive->print(os);
  }
  os << ')';
}

array Compiled::inline_ops(const std::vector<array>& inputs) const {
  Shape shape;
  for (auto& in : inputs) shape = broadcast_shapes(shape, in.shape());
  std::vector<array> vals(inputs.begin(), inputs.end());
  for (auto& op : ops_) {
    std::vector<array> args;
    for (int a : op.args) args.push_back(vals[a]);
    if (dynamic_cast<const Broadcast*>(op.primitive.get())) {
      vals.push_back(broadcast_to(args[0], shape, stream()));
    } else {
      vals.push_back(array(shape, op.dtype, op.primitive, std::move(args)));
    }
  }
  return vals.back();
}

void Compiled::eval_unfused(const std::vector<array>& inputs, array& out, bool gpu) {
  const Shape& shape = out.shape();
  std::vector<array> vals(inputs.begin(), inputs.end());
  for (size_t k = 0; k < ops_.size(); ++k) {
    auto& op = ops_[k];
    std::vector<array> args;
    for (int a : op.args) args.push_back(vals[a]);
    std::shared_ptr<Primitive> prim = op.primitive;
    if (dynamic_cast<const Broadcast*>(prim.get())) prim = std::make_shared<Broadcast>(stream(), shape);
    std::vector<array> outs = {k + 1 == ops_.size() ? out : array::placeholder(shape, op.dtype)};
    if (gpu) {
      prim->eval_gpu(args, outs);
    } else {
      prim->eval_cpu(args, outs);
    }
    outs[0].set_status(Status::available);
    vals.push_back(outs[0]);
  }
}

std::vector<array> Compiled::vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                                 const std::vector<int>& argnums, const std::vector<array>&) {
  auto fn = [this](const std::vector<array>& xs) { return std::vector<array>{inline_ops(xs)}; };
  auto [outs, grads] = ember::vjp(fn, primals, cotangents);
  std::vector<array> result;
  for (int a : argnums) result.push_back(grads[a]);
  return result;
}

std::vector<array> Compiled::jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                                 const std::vector<int>& argnums) {
  std::vector<array> all;
  for (auto& p : primals) all.push_back(zeros_like(p, stream()));
  for (size_t i = 0; i < argnums.size(); ++i) all[argnums[i]] = tangents[i];
  auto fn = [this](const std::vector<array>& xs) { return std::vector<array>{inline_ops(xs)}; };
  return ember::jvp(fn, primals, all).second;
}

std::pair<std::vector<array>, std::vector<int>> Compiled::vmap(const std::vector<array>& inputs,
                                                               const std::vector<int>& axes) {
  auto fn = [this](const std::vector<array>& xs) { return std::vector<array>{inline_ops(xs)}; };
  return {ember::vmap(fn, axes, {0})(inputs), {0}};
}

}  // namespace ember
