// vjp, jvp, grad and vmap. Each traces the function on stand-in inputs,
// walks the recorded graph (iteratively) and asks every primitive on the path
// for its vjp / jvp / vmap, which are written with public ops and so can be
// transformed again.
#include "ember/transforms.h"

#include <algorithm>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "ember/ops.h"
#include "ember/primitives.h"
#include "ember/utils.h"

namespace ember {

namespace {

// One node of a tape. Its structure is copied when the tape is built: a rule
// that evaluates arrays (a custom vjp reading values, say) detaches the
// evaluated nodes from the graph, and the walk must not lose them.
struct TapeNode {
  std::shared_ptr<Primitive> primitive;
  std::vector<array> inputs;
  std::vector<array> outputs;
};

// Nodes between `outputs` and the arrays in `sources` that depend on a source,
// inputs first. Traversal stops at sources and at evaluated arrays.
std::vector<TapeNode> active_tape(const std::vector<array>& outputs, const std::unordered_set<uint64_t>& sources,
                                  bool cut_stop_gradient, std::unordered_set<uint64_t>* active_out = nullptr) {
  std::vector<TapeNode> order;
  std::unordered_set<const Node*> visited;
  std::unordered_set<uint64_t> local_active;
  std::unordered_set<uint64_t>& active = active_out ? *active_out : local_active;  // ids depending on a source
  active.insert(sources.begin(), sources.end());
  std::vector<std::pair<array, size_t>> stack;
  for (auto& out : outputs) {
    if (sources.count(out.id()) || !out.has_primitive()) continue;
    if (!visited.insert(out.desc()->node.get()).second) continue;
    stack.emplace_back(out, 0);
    while (!stack.empty()) {
      auto& [a, i] = stack.back();
      const auto& ins = a.inputs();
      if (i < ins.size()) {
        const array& in = ins[i++];
        if (!sources.count(in.id()) && in.has_primitive() && visited.insert(in.desc()->node.get()).second) {
          stack.emplace_back(in, 0);
        }
        continue;
      }
      // stop_gradient cuts the graph: nothing flows through it, so the subgraph
      // behind it is neither differentiated nor kept alive by the backward pass.
      bool is_active = !(cut_stop_gradient && dynamic_cast<const StopGradient*>(&a.primitive())) &&
                       std::any_of(ins.begin(), ins.end(), [&](const array& x) { return active.count(x.id()); });
      if (is_active) {
        TapeNode node{a.primitive_ptr(), ins, a.outputs()};
        for (auto& o : node.outputs) active.insert(o.id());
        order.push_back(std::move(node));
      }
      stack.pop_back();
    }
  }
  return order;
}

// Stand-ins for the primals: fresh nodes with unique ids to differentiate against.
std::vector<array> make_tracers(const std::vector<array>& primals) {
  std::vector<array> tracers;
  for (auto& p : primals) {
    Stream s = p.has_primitive() ? p.primitive().stream() : default_stream(default_device());
    tracers.push_back(copy(p, s));
  }
  return tracers;
}

bool differentiable(Dtype t) { return is_inexact(t); }

// Runs a function being traced; arrays it evaluates keep their graph, so an
// eval() or item() inside it does not cut the gradient path.
std::vector<array> traced_call(const MultiFn& fun, const std::vector<array>& args) {
  detail::TracingScope scope;
  return fun(args);
}

using CotangentFn = std::function<std::vector<array>(const std::vector<array>& outputs)>;

// vjp with the cotangents chosen once the outputs are known (grad seeds ones).
std::pair<std::vector<array>, std::vector<array>> vjp_impl(const MultiFn& fun, const std::vector<array>& primals,
                                                           const CotangentFn& make_cotangents) {
  std::vector<array> tracers = make_tracers(primals);
  std::vector<array> outputs = traced_call(fun, tracers);
  std::vector<array> cotangents = make_cotangents(outputs);
  if (cotangents.size() > outputs.size()) {
    throw std::invalid_argument("[vjp] got " + std::to_string(cotangents.size()) + " cotangents for a function with " +
                                std::to_string(outputs.size()) + " outputs");
  }
  std::unordered_map<uint64_t, array> cots;
  for (size_t i = 0; i < cotangents.size(); ++i) {
    if (cotangents[i].shape() != outputs[i].shape()) {
      throw std::invalid_argument("[vjp] cotangent " + std::to_string(i) + " has shape " +
                                  shape_to_string(cotangents[i].shape()) + " but the output has shape " +
                                  shape_to_string(outputs[i].shape()));
    }
    auto [it, fresh] = cots.try_emplace(outputs[i].id(), cotangents[i]);
    if (!fresh) it->second = add(it->second, cotangents[i]);
  }

  std::unordered_set<uint64_t> sources, active;
  for (auto& t : tracers) sources.insert(t.id());
  std::vector<TapeNode> tape = active_tape(outputs, sources, true, &active);

  for (auto it = tape.rbegin(); it != tape.rend(); ++it) {
    const TapeNode& node = *it;
    const std::vector<array>& outs = node.outputs;
    // Cotangents of this node's outputs; zeros where none arrived.
    std::vector<array> node_cots;
    bool any = false;
    for (auto& o : outs) {
      auto c = cots.find(o.id());
      if (c != cots.end()) {
        node_cots.push_back(c->second);
        any = true;
      } else {
        node_cots.push_back(zeros_like(o));
      }
    }
    if (!any) continue;
    if (std::none_of(outs.begin(), outs.end(), [](const array& o) { return differentiable(o.dtype()); })) continue;
    const std::vector<array>& inputs = node.inputs;
    std::vector<int> argnums;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (differentiable(inputs[i].dtype()) && active.count(inputs[i].id())) {
        argnums.push_back(static_cast<int>(i));
      }
    }
    if (argnums.empty()) continue;
    std::vector<array> in_cots = node.primitive->vjp(inputs, node_cots, argnums, outs);
    if (in_cots.size() != argnums.size()) {
      throw std::runtime_error(std::string("[vjp] ") + node.primitive->name() + " returned " +
                               std::to_string(in_cots.size()) + " cotangents for " + std::to_string(argnums.size()) +
                               " inputs");
    }
    for (size_t k = 0; k < argnums.size(); ++k) {
      const array& in = inputs[argnums[k]];
      auto [c, fresh] = cots.try_emplace(in.id(), in_cots[k]);
      if (!fresh) c->second = add(c->second, in_cots[k]);
    }
  }

  std::vector<array> grads;
  for (size_t i = 0; i < tracers.size(); ++i) {
    auto c = cots.find(tracers[i].id());
    grads.push_back(c != cots.end() ? astype(c->second, primals[i].dtype()) : zeros_like(primals[i]));
  }
  return {outputs, grads};
}

}  // namespace

std::pair<std::vector<array>, std::vector<array>> vjp(const MultiFn& fun, const std::vector<array>& primals,
                                                      const std::vector<array>& cotangents) {
  return vjp_impl(fun, primals, [&](const std::vector<array>&) { return cotangents; });
}

std::pair<array, array> vjp(const UnaryFn& fun, const array& primal, const array& cotangent) {
  auto [outs, grads] =
      vjp([&](const std::vector<array>& x) { return std::vector<array>{fun(x[0])}; }, {primal}, {cotangent});
  return {outs[0], grads[0]};
}

std::pair<std::vector<array>, std::vector<array>> jvp(const MultiFn& fun, const std::vector<array>& primals,
                                                      const std::vector<array>& tangents) {
  if (primals.size() != tangents.size()) {
    throw std::invalid_argument("[jvp] got " + std::to_string(tangents.size()) + " tangents for " +
                                std::to_string(primals.size()) + " primals");
  }
  for (size_t i = 0; i < primals.size(); ++i) {
    if (primals[i].shape() != tangents[i].shape()) {
      throw std::invalid_argument("[jvp] tangent " + std::to_string(i) + " has shape " +
                                  shape_to_string(tangents[i].shape()) + " but the primal has shape " +
                                  shape_to_string(primals[i].shape()));
    }
  }
  std::vector<array> tracers = make_tracers(primals);
  std::vector<array> outputs = traced_call(fun, tracers);
  std::unordered_map<uint64_t, array> tans;
  std::unordered_set<uint64_t> sources;
  for (size_t i = 0; i < tracers.size(); ++i) {
    sources.insert(tracers[i].id());
    tans.emplace(tracers[i].id(), tangents[i]);
  }
  for (auto& node : active_tape(outputs, sources, true)) {
    const std::vector<array>& inputs = node.inputs;
    std::vector<int> argnums;
    std::vector<array> in_tans;
    for (size_t i = 0; i < inputs.size(); ++i) {
      auto t = tans.find(inputs[i].id());
      if (t != tans.end()) {
        argnums.push_back(static_cast<int>(i));
        in_tans.push_back(t->second);
      }
    }
    const std::vector<array>& outs = node.outputs;
    std::vector<array> out_tans = node.primitive->jvp(inputs, in_tans, argnums);
    if (out_tans.size() != outs.size()) {
      throw std::runtime_error(std::string("[jvp] ") + node.primitive->name() + " returned " +
                               std::to_string(out_tans.size()) + " tangents for " + std::to_string(outs.size()) +
                               " outputs");
    }
    for (size_t k = 0; k < outs.size(); ++k) tans.insert_or_assign(outs[k].id(), out_tans[k]);
  }
  std::vector<array> out_tangents;
  for (auto& o : outputs) {
    auto t = tans.find(o.id());
    out_tangents.push_back(t != tans.end() ? t->second : zeros_like(o));
  }
  return {outputs, out_tangents};
}

std::pair<array, array> jvp(const UnaryFn& fun, const array& primal, const array& tangent) {
  auto [outs, tans] =
      jvp([&](const std::vector<array>& x) { return std::vector<array>{fun(x[0])}; }, {primal}, {tangent});
  return {outs[0], tans[0]};
}

ValueAndGradFn value_and_grad(const MultiFn& fun, const std::vector<int>& argnums) {
  if (argnums.empty()) throw std::invalid_argument("[value_and_grad] argnums must not be empty");
  return [fun, argnums](const std::vector<array>& inputs) {
    std::vector<array> primals;
    for (int a : argnums) {
      if (a < 0 || a >= static_cast<int>(inputs.size())) {
        throw std::out_of_range("[value_and_grad] argnum " + std::to_string(a) + " is out of range for " +
                                std::to_string(inputs.size()) + " inputs");
      }
      primals.push_back(inputs[a]);
    }
    auto inner = [&](const std::vector<array>& ps) {
      std::vector<array> args = inputs;
      for (size_t k = 0; k < argnums.size(); ++k) args[argnums[k]] = ps[k];
      auto outs = fun(args);
      if (outs.empty() || outs[0].size() != 1) {
        std::ostringstream msg;
        msg << "[grad] the function must return a scalar as its first output, got "
            << (outs.empty() ? std::string("nothing") : "shape " + shape_to_string(outs[0].shape()));
        throw std::invalid_argument(msg.str());
      }
      return outs;
    };
    // Seed the first output's cotangent with ones once its dtype is known.
    return vjp_impl(inner, primals, [](const std::vector<array>& outs) {
      return std::vector<array>{ones(outs[0].shape(), outs[0].dtype())};
    });
  };
}

ValueAndGradFn value_and_grad(const MultiFn& fun, int argnum) { return value_and_grad(fun, std::vector<int>{argnum}); }

std::function<std::pair<array, array>(const array&)> value_and_grad(const UnaryFn& fun) {
  auto vg = value_and_grad([fun](const std::vector<array>& x) { return std::vector<array>{fun(x[0])}; }, 0);
  return [vg](const array& x) {
    auto [v, g] = vg({x});
    return std::make_pair(v[0], g[0]);
  };
}

MultiFn grad(const MultiFn& fun, const std::vector<int>& argnums) {
  auto vg = value_and_grad(fun, argnums);
  return [vg](const std::vector<array>& inputs) { return vg(inputs).second; };
}

MultiFn grad(const MultiFn& fun, int argnum) { return grad(fun, std::vector<int>{argnum}); }

UnaryFn grad(const UnaryFn& fun) {
  auto vg = value_and_grad(fun);
  return [vg](const array& x) { return vg(x).second; };
}

MultiFn vmap(const MultiFn& fun, const std::vector<int>& in_axes, const std::vector<int>& out_axes) {
  return vmap_after_trace(fun, in_axes, [out_axes] { return out_axes; });
}

MultiFn vmap_after_trace(const MultiFn& fun, const std::vector<int>& in_axes,
                         std::function<std::vector<int>()> out_axes_of) {
  return [fun, in_axes, out_axes_of](const std::vector<array>& inputs) {
    if (in_axes.size() != inputs.size()) {
      throw std::invalid_argument("[vmap] " + std::to_string(in_axes.size()) + " in_axes given for " +
                                  std::to_string(inputs.size()) + " inputs");
    }
    // Placeholders without the mapped axis stand in for the inputs while tracing.
    int batch = -1;
    std::vector<array> tracers;
    std::unordered_map<uint64_t, std::pair<array, int>> mapped;  // traced id -> (batched array, its axis)
    for (size_t i = 0; i < inputs.size(); ++i) {
      int ax = in_axes[i];
      if (ax < 0) {
        if (ax != -1)
          throw std::invalid_argument("[vmap] in_axes entries must be >= 0 or -1, got " + std::to_string(ax));
        tracers.push_back(inputs[i]);
        continue;
      }
      if (ax >= static_cast<int>(inputs[i].ndim())) {
        throw std::out_of_range("[vmap] in_axis " + std::to_string(ax) + " is out of range for input " +
                                std::to_string(i) + " with " + std::to_string(inputs[i].ndim()) + " dimensions");
      }
      int n = inputs[i].shape(ax);
      if (batch >= 0 && n != batch) {
        throw std::invalid_argument("[vmap] inputs have different sizes along their mapped axes: " +
                                    std::to_string(batch) + " and " + std::to_string(n));
      }
      batch = n;
      Shape s = inputs[i].shape();
      s.erase(s.begin() + ax);
      array t = array::placeholder(s, inputs[i].dtype());
      mapped.emplace(t.id(), std::make_pair(inputs[i], ax));
      tracers.push_back(t);
    }
    if (batch < 0) throw std::invalid_argument("[vmap] at least one input must be mapped (in_axes all -1)");
    std::vector<array> outputs = traced_call(fun, tracers);

    std::unordered_set<uint64_t> sources;
    for (auto& [id, v] : mapped) sources.insert(id);
    for (auto& node : active_tape(outputs, sources, false)) {
      const std::vector<array>& ins = node.inputs;
      std::vector<array> v_ins;
      std::vector<int> v_axes;
      for (auto& in : ins) {
        auto m = mapped.find(in.id());
        if (m != mapped.end()) {
          v_ins.push_back(m->second.first);
          v_axes.push_back(m->second.second);
        } else {
          v_ins.push_back(in);
          v_axes.push_back(-1);
        }
      }
      auto [v_outs, v_out_axes] = node.primitive->vmap(v_ins, v_axes);
      const std::vector<array>& outs = node.outputs;
      for (size_t k = 0; k < outs.size(); ++k) mapped.emplace(outs[k].id(), std::make_pair(v_outs[k], v_out_axes[k]));
    }

    const std::vector<int> out_axes = out_axes_of();
    std::vector<array> results;
    for (size_t j = 0; j < outputs.size(); ++j) {
      int want = out_axes.empty() ? 0 : (j < out_axes.size() ? out_axes[j] : out_axes.back());
      auto m = mapped.find(outputs[j].id());
      array r = outputs[j];
      int ax = -1;
      if (m != mapped.end()) {
        r = m->second.first;
        ax = m->second.second;
      }
      if (want == kUnmapped) {
        if (ax >= 0) {
          throw std::invalid_argument("[vmap] output " + std::to_string(j) +
                                      " depends on the mapped inputs, so it cannot have out_axes None");
        }
        results.push_back(r);
        continue;
      }
      if (ax < 0) {  // the output doesn't depend on a mapped input: repeat it
        r = expand_dims(r, 0);
        Shape s = r.shape();
        s[0] = batch;
        r = broadcast_to(r, s);
        ax = 0;
      }
      int nd = static_cast<int>(r.ndim());
      int dest = want < 0 ? want + nd : want;
      if (dest < 0 || dest >= nd) {
        throw std::out_of_range("[vmap] out_axis " + std::to_string(want) + " is out of range for an output with " +
                                std::to_string(nd) + " dimensions");
      }
      if (ax != dest) r = moveaxis(r, ax, dest);
      results.push_back(r);
    }
    return results;
  };
}

namespace {

// A custom vjp rule for the batched function, given the rule for one batch
// element and the primals' mapped axes (the outputs and their cotangents are
// mapped at axis 0). Cotangents of unmapped primals are summed over the batch.
CustomVjpFn batch_vjp_rule(CustomVjpFn rule, std::vector<int> axes) {
  return
      [rule = std::move(rule), axes = std::move(axes)](
          const std::vector<array>& primals, const std::vector<array>& cotangents, const std::vector<array>& outputs) {
        size_t np = primals.size(), nc = cotangents.size();
        MultiFn one = [rule, np, nc](const std::vector<array>& all) {
          return rule(std::vector<array>(all.begin(), all.begin() + np),
                      std::vector<array>(all.begin() + np, all.begin() + np + nc),
                      std::vector<array>(all.begin() + np + nc, all.end()));
        };
        std::vector<array> all = primals;
        all.insert(all.end(), cotangents.begin(), cotangents.end());
        all.insert(all.end(), outputs.begin(), outputs.end());
        std::vector<int> in_axes = axes;
        in_axes.resize(all.size(), 0);
        std::vector<array> cots = vmap(one, in_axes)(all);  // each mapped at axis 0
        for (size_t i = 0; i < cots.size() && i < axes.size(); ++i) {
          if (axes[i] < 0) {
            cots[i] = sum(cots[i], 0);
          } else if (axes[i] != 0) {
            cots[i] = moveaxis(cots[i], 0, axes[i]);
          }
        }
        return cots;
      };
}

// A custom jvp rule for the batched function: a tangent is mapped like its primal.
CustomJvpFn batch_jvp_rule(CustomJvpFn rule, std::vector<int> axes) {
  return [rule = std::move(rule), axes = std::move(axes)](
             const std::vector<array>& primals, const std::vector<array>& tangents, const std::vector<int>& argnums) {
    size_t np = primals.size();
    MultiFn one = [rule, np, argnums](const std::vector<array>& all) {
      return rule(std::vector<array>(all.begin(), all.begin() + np), std::vector<array>(all.begin() + np, all.end()),
                  argnums);
    };
    std::vector<array> all = primals;
    all.insert(all.end(), tangents.begin(), tangents.end());
    std::vector<int> in_axes = axes;
    for (int a : argnums) in_axes.push_back(axes[a]);
    return vmap(one, in_axes)(all);  // mapped at axis 0, like the batched outputs
  };
}

// The node custom_function builds: its inputs are fun's inputs followed by
// fun's outputs (behind stop_gradient), and evaluating it forwards those outputs.
class CustomTransforms : public Primitive {
 public:
  CustomTransforms(Stream s, int num_outputs, MultiFn fun, std::optional<CustomVjpFn> v, std::optional<CustomJvpFn> j,
                   std::optional<CustomVmapFn> m)
      : Primitive(s),
        num_outputs_(num_outputs),
        fun_(std::move(fun)),
        vjp_(std::move(v)),
        jvp_(std::move(j)),
        vmap_(std::move(m)) {}

  void eval_cpu(const std::vector<array>& inputs, std::vector<array>& outputs) override {
    size_t first = inputs.size() - outputs.size();
    for (size_t i = 0; i < outputs.size(); ++i) outputs[i].copy_shared_buffer(inputs[first + i]);
  }
  void eval_gpu(const std::vector<array>& inputs, std::vector<array>& outputs) override { eval_cpu(inputs, outputs); }

  std::vector<array> vjp(const std::vector<array>& primals, const std::vector<array>& cotangents,
                         const std::vector<int>& argnums, const std::vector<array>& outputs) override {
    if (!vjp_) throw std::invalid_argument("[custom_function] no vjp rule was given");
    size_t n = primals.size() - num_outputs_;
    std::vector<array> ins(primals.begin(), primals.begin() + n);
    std::vector<array> all = (*vjp_)(ins, cotangents, outputs);
    if (all.size() != n) {
      throw std::invalid_argument("[custom_function] the vjp rule returned " + std::to_string(all.size()) +
                                  " cotangents for " + std::to_string(n) + " inputs");
    }
    std::vector<array> out;
    for (int a : argnums) out.push_back(a < static_cast<int>(n) ? all[a] : zeros_like(primals[a]));
    return out;
  }

  std::vector<array> jvp(const std::vector<array>& primals, const std::vector<array>& tangents,
                         const std::vector<int>& argnums) override {
    if (!jvp_) throw std::invalid_argument("[custom_function] no jvp rule was given");
    size_t n = primals.size() - num_outputs_;
    std::vector<array> ins(primals.begin(), primals.begin() + n);
    std::vector<array> tans;
    std::vector<int> args;
    for (size_t k = 0; k < argnums.size(); ++k) {
      if (argnums[k] < static_cast<int>(n)) {
        tans.push_back(tangents[k]);
        args.push_back(argnums[k]);
      }
    }
    std::vector<array> out = (*jvp_)(ins, tans, args);
    if (out.size() != static_cast<size_t>(num_outputs_)) {
      throw std::invalid_argument("[custom_function] the jvp rule returned " + std::to_string(out.size()) +
                                  " tangents for " + std::to_string(num_outputs_) + " outputs");
    }
    return out;
  }

  std::pair<std::vector<array>, std::vector<int>> vmap(const std::vector<array>& inputs,
                                                       const std::vector<int>& axes) override {
    size_t n = inputs.size() - num_outputs_;
    std::vector<array> ins(inputs.begin(), inputs.begin() + n);
    std::vector<int> ax(axes.begin(), axes.begin() + n);
    if (vmap_) {
      auto result = (*vmap_)(ins, ax);
      if (result.first.size() != static_cast<size_t>(num_outputs_) || result.second.size() != result.first.size()) {
        throw std::invalid_argument("[custom_function] the vmap rule returned " + std::to_string(result.first.size()) +
                                    " outputs and " + std::to_string(result.second.size()) + " axes for " +
                                    std::to_string(num_outputs_) + " outputs");
      }
      return result;
    }
    // No rule: batch fun through its graph, and keep the custom vjp/jvp rules on
    // the batched function by batching them too (grad of vmap uses the rule).
    std::optional<CustomVjpFn> v;
    std::optional<CustomJvpFn> j;
    if (vjp_) v = batch_vjp_rule(*vjp_, ax);
    if (jvp_) j = batch_jvp_rule(*jvp_, ax);
    auto outs = custom_function(ember::vmap(fun_, ax), v, j)(ins);
    return {outs, std::vector<int>(outs.size(), 0)};
  }

  const char* name() const override { return "CustomTransforms"; }

 private:
  int num_outputs_;
  MultiFn fun_;
  std::optional<CustomVjpFn> vjp_;
  std::optional<CustomJvpFn> jvp_;
  std::optional<CustomVmapFn> vmap_;
};

}  // namespace

MultiFn custom_function(MultiFn fun, std::optional<CustomVjpFn> fun_vjp, std::optional<CustomJvpFn> fun_jvp,
                        std::optional<CustomVmapFn> fun_vmap) {
  return [=](const std::vector<array>& inputs) {
    std::vector<array> outs = fun(inputs);
    std::vector<Shape> shapes;
    std::vector<Dtype> dtypes;
    std::vector<array> node_inputs = inputs;
    for (auto& o : outs) {
      shapes.push_back(o.shape());
      dtypes.push_back(o.dtype());
      node_inputs.push_back(stop_gradient(o));
    }
    Stream s = default_stream(default_device());
    return array::make_arrays(
        std::move(shapes), dtypes,
        std::make_shared<CustomTransforms>(s, static_cast<int>(outs.size()), fun, fun_vjp, fun_jvp, fun_vmap),
        std::move(node_inputs));
  };
}

MultiFn custom_vjp(MultiFn fun, CustomVjpFn fun_vjp) { return custom_function(std::move(fun), std::move(fun_vjp)); }

MultiFn checkpoint(MultiFn fun) {
  // The vjp rule re-runs fun from the primals, so the backward graph holds
  // only the inputs, not the forward pass's intermediates.
  CustomVjpFn rule = [fun](const std::vector<array>& primals, const std::vector<array>& cotangents,
                           const std::vector<array>&) { return vjp(fun, primals, cotangents).second; };
  CustomJvpFn jrule = [fun](const std::vector<array>& primals, const std::vector<array>& tangents,
                            const std::vector<int>& argnums) {
    std::vector<array> all;
    for (auto& p : primals) all.push_back(zeros_like(p));
    for (size_t k = 0; k < argnums.size(); ++k) all[argnums[k]] = tangents[k];
    return jvp(fun, primals, all).second;
  };
  return custom_function(fun, rule, jrule);
}

UnaryFn vmap(const UnaryFn& fun, int in_axis, int out_axis) {
  auto f = vmap([fun](const std::vector<array>& x) { return std::vector<array>{fun(x[0])}; }, {in_axis}, {out_axis});
  return [f](const array& x) { return f({x})[0]; };
}

}  // namespace ember
