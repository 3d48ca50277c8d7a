// ember.core transforms over pytrees: eval, async_eval, grad, value_and_grad,
// vjp, jvp, vmap, custom_function, checkpoint; graph printing. Python functions
// are wrapped into ember's MultiFn: the arrays of the traced arguments go in as
// one flat list and are put back into the arguments' trees (trees.cpp) before
// calling the function.
//
// The wrappers are called synchronously on the calling thread (which holds the
// GIL) while ember traces; they never run on the evaluation workers. Only
// custom_function/checkpoint keep Python objects in graph nodes, through PyRef.
#include <memory>
#include <sstream>
#include <unordered_map>

#include "common.h"

namespace ember::py {

namespace {

// argnums=None/int/sequence -> (indices, whether the result is a tuple).
std::pair<std::vector<int>, bool> parse_argnums(nb::handle argnums) {
  if (argnums.is_none()) return {{0}, false};
  if (PyLong_Check(argnums.ptr())) return {{nb::cast<int>(argnums)}, false};
  return {nb::cast<std::vector<int>>(argnums), true};
}

// Calls `fun` with args[argnums[i]] (then kwargs[argnames[j]]) replaced by the trees
// rebuilt from `leaves`.
nb::object call_with_leaves(nb::handle fun, const nb::tuple& args, const nb::dict& kwargs,
                            const std::vector<int>& argnums, const std::vector<array>& leaves,
                            const std::vector<std::string>& argnames = {}) {
  nb::list call_args;
  for (nb::handle h : args) call_args.append(h);
  size_t pos = 0;
  for (int i : argnums) call_args[i] = tree_unflatten(args[i], leaves, pos);
  if (argnames.empty()) return fun(*nb::tuple(call_args), **kwargs);
  nb::dict kw;
  for (auto [k, v] : kwargs) kw[k] = v;
  for (auto& name : argnames) kw[name.c_str()] = tree_unflatten(kwargs[name.c_str()], leaves, pos);
  return fun(*nb::tuple(call_args), **kw);
}

// A Python callable returned by a transform: a C++ function of (*args, **kwargs).
using Impl = std::function<nb::object(nb::args, nb::kwargs)>;
nb::object make_callable(Impl impl, nb::handle fun) {
  nb::object f = nb::cpp_function([impl](nb::args args, nb::kwargs kwargs) { return impl(args, kwargs); });
  // Keep the wrapped function's name and docs, as functools.wraps would.
  try {
    return nb::module_::import_("functools").attr("wraps")(fun)(f);
  } catch (...) {
    return f;
  }
}

// grad / value_and_grad as MLX: the gradient of each argument in argnums (one value for
// an int, a tuple for a sequence); with argnames, (positional gradients, {name: gradient}).
nb::object value_and_grad_impl(nb::object fun, nb::object argnums_obj, std::vector<std::string> argnames,
                               bool with_value) {
  auto [argnums, as_tuple] = parse_argnums(argnums_obj);
  if (argnums_obj.is_none() && !argnames.empty()) argnums.clear();
  const char* op = with_value ? "[value_and_grad]" : "[grad]";
  Impl impl = [fun, argnums, as_tuple, argnames, op, with_value](nb::args args, nb::kwargs kwargs) -> nb::object {
    std::vector<array> leaves;
    for (int i : argnums) {
      if (i < 0 || static_cast<size_t>(i) >= args.size()) {
        throw std::invalid_argument(std::string(op) + " Can't compute the gradient of argument index " +
                                    std::to_string(i) + " because the function is called with only " +
                                    std::to_string(args.size()) + " positional arguments.");
      }
      auto l = tree_flatten(args[i]);
      leaves.insert(leaves.end(), l.begin(), l.end());
    }
    for (auto& name : argnames) {
      if (!kwargs.contains(name.c_str())) {
        throw std::invalid_argument(std::string(op) + " Can't compute the gradient of keyword argument '" + name +
                                    "' because the function was not called with it.");
      }
      auto l = tree_flatten(kwargs[name.c_str()]);
      leaves.insert(leaves.end(), l.begin(), l.end());
    }
    nb::object out_tree;
    bool out_is_array = false;
    MultiFn f = [&](const std::vector<array>& xs) -> std::vector<array> {
      nb::object out = call_with_leaves(fun, args, kwargs, argnums, xs, argnames);
      if (nb::isinstance<array>(out)) {
        out_is_array = true;
        out_tree = out;
        return {nb::cast<array>(out)};
      }
      if ((PyTuple_Check(out.ptr()) || PyList_Check(out.ptr())) && nb::len(out) > 0 && nb::isinstance<array>(out[0])) {
        out_tree = out;
        return tree_flatten(out, false);  // auxiliary outputs may hold non-array leaves
      }
      throw std::invalid_argument(std::string(op) +
                                  " The return value of the function whose gradient we want to compute should be "
                                  "either a scalar array or a tuple with the first value being a scalar array.");
    };
    std::vector<int> all(leaves.size());
    for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
    auto [values, grads] = ember::value_and_grad(f, all)(leaves);
    nb::list g;
    size_t pos = 0;
    for (int i : argnums) g.append(tree_unflatten(args[i], grads, pos));
    nb::object grad_obj;
    if (argnames.empty()) {
      grad_obj = as_tuple ? nb::object(nb::tuple(g)) : nb::object(g[0]);
    } else {
      nb::dict kw;
      for (auto& name : argnames) kw[name.c_str()] = tree_unflatten(kwargs[name.c_str()], grads, pos);
      nb::object positional = g.size() == 1 && !as_tuple ? nb::object(g[0]) : nb::object(nb::tuple(g));
      grad_obj = nb::make_tuple(positional, kw);
    }
    if (!with_value) return grad_obj;
    size_t vpos = 0;
    nb::object value = out_is_array ? nb::cast(values[0]) : tree_unflatten(out_tree, values, vpos);
    return nb::make_tuple(value, grad_obj);
  };
  return make_callable(impl, fun);
}

std::vector<std::string> names_of(const std::variant<std::string, std::vector<std::string>>& v) {
  if (auto* one = std::get_if<std::string>(&v)) return {*one};
  return std::get<std::vector<std::string>>(v);
}

std::vector<array> outputs_of(nb::handle out, const char* op) {
  if (nb::isinstance<array>(out)) return {nb::cast<array>(out)};
  if (PyTuple_Check(out.ptr()) || PyList_Check(out.ptr())) return tree_flatten(out);
  throw std::invalid_argument(std::string(op) + " The function must return an array or a list/tuple of arrays.");
}

// vjp/jvp: fun(*primals) -> array or list of arrays; returns (outputs, products).
template <class Transform>
nb::tuple linear_transform(nb::handle fun, const std::vector<array>& primals, const std::vector<array>& vectors,
                           const char* op, Transform transform) {
  MultiFn f = [&](const std::vector<array>& xs) -> std::vector<array> {
    nb::list call_args;
    for (auto& x : xs) call_args.append(nb::cast(x));
    return outputs_of(fun(*nb::tuple(call_args)), op);
  };
  auto [outs, prods] = transform(f, primals, vectors);
  return nb::make_tuple(nb::cast(outs), nb::cast(prods));
}

// in_axes entry for one leaf: None -> -1 (not mapped), negative -> counted from the end.
int leaf_axis(nb::handle ax, const array& leaf) {
  if (ax.is_none()) return -1;
  int a = nb::cast<int>(ax);
  if (a < 0) a += static_cast<int>(leaf.ndim());
  if (a < 0 || a >= static_cast<int>(leaf.ndim())) {
    throw std::invalid_argument("[vmap] in_axes " + std::to_string(nb::cast<int>(ax)) +
                                " is out of range for an input with " + std::to_string(leaf.ndim()) + " dimensions");
  }
  return a;
}

// The axes of the array leaves of `arg` from its in_axes entry `ax`: an int or None
// for every leaf below, or a list/tuple/dict shaped like `arg` (a tree prefix).
void leaf_axes(nb::handle arg, nb::handle ax, std::vector<array>& leaves, std::vector<int>& axes) {
  if (ax.is_none() || PyLong_Check(ax.ptr())) {
    for (auto& x : tree_flatten(arg, false)) {
      axes.push_back(leaf_axis(ax, x));
      leaves.push_back(x);
    }
  } else if ((PyList_Check(ax.ptr()) || PyTuple_Check(ax.ptr())) &&
             (PyList_Check(arg.ptr()) || PyTuple_Check(arg.ptr())) && nb::len(ax) == nb::len(arg)) {
    for (size_t i = 0; i < nb::len(arg); ++i) leaf_axes(arg[i], ax[i], leaves, axes);
  } else if (PyDict_Check(ax.ptr()) && PyDict_Check(arg.ptr()) && nb::len(ax) == nb::len(arg)) {
    for (auto [k, v] : nb::borrow<nb::dict>(arg)) {
      if (!nb::borrow<nb::dict>(ax).contains(k)) throw std::invalid_argument("[vmap] in_axes is missing a key");
      leaf_axes(v, nb::borrow<nb::dict>(ax)[k], leaves, axes);
    }
  } else {
    throw std::invalid_argument("[vmap] in_axes entries must be ints, None, or trees matching the arguments");
  }
}

// The out_axes of each array in `out` (a prefix tree of it: an int or None covers a subtree),
// None as kUnmapped, in tree_flatten's order.
void out_leaf_axes(nb::handle out, nb::handle ax, std::vector<int>& axes) {
  if (ax.is_none() || PyLong_Check(ax.ptr())) {
    const int a = ax.is_none() ? kUnmapped : nb::cast<int>(ax);
    for (size_t i = tree_flatten(out, false).size(); i > 0; --i) axes.push_back(a);
  } else if ((PyList_Check(ax.ptr()) || PyTuple_Check(ax.ptr())) &&
             (PyList_Check(out.ptr()) || PyTuple_Check(out.ptr())) && nb::len(ax) == nb::len(out)) {
    for (size_t i = 0; i < nb::len(out); ++i) out_leaf_axes(out[i], ax[i], axes);
  } else if (PyDict_Check(ax.ptr()) && PyDict_Check(out.ptr()) && nb::len(ax) == nb::len(out)) {
    for (auto [k, v] : nb::borrow<nb::dict>(out)) {
      if (!nb::borrow<nb::dict>(ax).contains(k)) throw std::invalid_argument("[vmap] out_axes is missing a key");
      out_leaf_axes(v, nb::borrow<nb::dict>(ax)[k], axes);
    }
  } else {
    throw std::invalid_argument("[vmap] out_axes entries must be ints, None, or trees matching the outputs");
  }
}

nb::object vmap_impl(nb::object fun, nb::object in_axes, nb::object out_axes) {
  Impl impl = [fun, in_axes, out_axes](nb::args args, nb::kwargs kwargs) -> nb::object {
    bool per_arg = PyTuple_Check(in_axes.ptr()) || PyList_Check(in_axes.ptr());
    if (per_arg && nb::len(in_axes) != args.size()) {
      throw std::invalid_argument("[vmap] in_axes has " + std::to_string(nb::len(in_axes)) +
                                  " entries but the function got " + std::to_string(args.size()) + " arguments");
    }
    std::vector<array> leaves;
    std::vector<int> axes;
    std::vector<int> argnums;
    for (size_t i = 0; i < args.size(); ++i) {
      nb::handle ax = per_arg ? nb::handle(in_axes[i]) : nb::handle(in_axes);
      size_t before = leaves.size();
      leaf_axes(args[i], ax, leaves, axes);
      if (leaves.size() > before) argnums.push_back(static_cast<int>(i));  // others pass through
    }
    nb::object out_tree;
    MultiFn f = [&](const std::vector<array>& xs) -> std::vector<array> {
      nb::object out = call_with_leaves(fun, args, kwargs, argnums, xs);
      out_tree = out;
      return PyDict_Check(out.ptr()) ? tree_flatten(out) : outputs_of(out, "[vmap]");
    };
    // The outputs' axes follow from out_axes and the structure fun returned.
    std::vector<int> out_axes_v;
    std::vector<array> outs = ember::vmap_after_trace(f, axes, [&] {
      out_axes_v.clear();
      out_leaf_axes(out_tree, out_axes, out_axes_v);
      return out_axes_v;
    })(leaves);
    size_t pos = 0;
    return tree_map_arrays(out_tree, [&](const array&) { return nb::cast(outs[pos++]); });
  };
  return make_callable(impl, fun);
}

// A Python object held from C++ state that may be released on an evaluation
// worker (custom_function's rules live in a graph node). Without the GIL the
// reference is dropped later on the main thread (Py_AddPendingCall), so a worker
// never blocks on a GIL that a thread waiting for it holds.
struct PyRef {
  std::shared_ptr<nb::object> p;
  explicit PyRef(nb::object o) : p(new nb::object(std::move(o)), release) {}
  const nb::object& operator*() const { return *p; }

 private:
  static int drop(void* q) {
    delete static_cast<nb::object*>(q);
    return 0;
  }
  static void release(nb::object* q) {
    if (!Py_IsInitialized()) return;  // interpreter gone: leak rather than crash
    if (PyGILState_Check()) {
      delete q;
    } else if (Py_AddPendingCall(drop, q) != 0) {
      nb::gil_scoped_acquire gil;  // the pending-call queue is full
      delete q;
    }
  }
};

// Rebuilds the positional-argument tuple `args_tree` with array leaves from `xs`.
nb::tuple rebuild_args(const nb::object& args_tree, const std::vector<array>& xs) {
  size_t pos = 0;
  return nb::tuple(tree_unflatten(args_tree, xs, pos));
}

// mlx.core.compile: the function's array arguments (and the arrays of `inputs`, state it
// reads) go to the C++ compile as one flat list; its outputs come back with the arrays of
// `outputs` (state it writes), which are put back into that tree after each call. Calls
// whose arguments differ in structure or in non-array values (Python numbers, strings)
// use separate compiled functions.
struct PyCompiled {
  nb::object fun;
  std::optional<nb::object> inputs, outputs;
  bool shapeless;
  struct Entry {
    MultiFn fn;
    std::optional<nb::object> out_tree;
    size_t n_out = 0;
  };
  std::unordered_map<std::string, std::unique_ptr<Entry>> cache;
  nb::object current;  // (args, kwargs) of the call in progress: the non-array values of a trace

  std::vector<array> trace(Entry& e, size_t n_args, const std::vector<array>& xs) {
    size_t pos = 0;
    nb::object call = tree_unflatten(current, xs, pos);
    std::vector<array> saved;
    if (inputs) {
      saved = tree_flatten(*inputs, false);
      tree_replace(*inputs, xs, pos);
    }
    auto restore = [&] {
      if (inputs && tree_flatten(*inputs, false).size() == saved.size()) {
        size_t p = 0;
        tree_replace(*inputs, saved, p);
      }
    };
    nb::object out;
    try {
      out = fun(*nb::borrow<nb::tuple>(call[0]), **nb::borrow<nb::dict>(call[1]));
    } catch (...) {
      restore();
      throw;
    }
    std::vector<array> res = tree_flatten(out, false);
    e.out_tree = out;
    e.n_out = res.size();
    if (outputs) {
      auto state = tree_flatten(*outputs, false);
      res.insert(res.end(), state.begin(), state.end());
    }
    restore();
    (void)n_args;
    return res;
  }

  nb::object call(nb::args args, nb::kwargs kwargs) {
    nb::object tree = nb::make_tuple(nb::tuple(args), nb::dict(kwargs));
    std::string key;
    tree_key(tree, key);
    std::vector<array> xs = tree_flatten(tree, false);
    const size_t n_args = xs.size();
    if (inputs) {
      auto state = tree_flatten(*inputs, false);
      xs.insert(xs.end(), state.begin(), state.end());
      key += "|" + std::to_string(state.size());
    }
    auto& slot = cache[key];
    if (!slot) {
      slot = std::make_unique<Entry>();
      Entry* e = slot.get();
      slot->fn = ember::compile([this, e, n_args](const std::vector<array>& ins) { return trace(*e, n_args, ins); },
                                shapeless);
    }
    Entry& e = *slot;
    current = tree;
    std::vector<array> res;
    try {
      res = e.fn(xs);
    } catch (...) {
      current = nb::none();
      throw;
    }
    current = nb::none();
    std::vector<array> outs(res.begin(), res.begin() + static_cast<long>(e.n_out));
    size_t pos = 0;
    nb::object out = tree_unflatten(*e.out_tree, outs, pos);
    if (outputs) {
      size_t p = e.n_out;
      tree_replace(*outputs, res, p);
    }
    return out;
  }
};

// mlx.core.custom_function: a function with user vjp / jvp / vmap rules, set with
// the decorators f.vjp, f.jvp and f.vmap. Rules see trees shaped like the
// function's arguments and outputs:
//   vjp(primals, cotangents, outputs) -> cotangents of the primals (a tuple, or
//     one value for a single argument); jvp(primals, tangents) -> tangents of
//     the outputs; vmap(inputs, axes) -> (outputs, output axes).
struct CustomFunction {
  nb::object fun;
  std::optional<nb::object> vjp, jvp, vmap;

  nb::object call(nb::args args, nb::kwargs kwargs) const {
    nb::object args_tree = nb::tuple(args);
    std::vector<array> leaves = tree_flatten(args_tree, false);
    PyRef f(fun), tree(args_tree), kw{nb::object(kwargs)};
    auto out_tree = std::make_shared<std::optional<PyRef>>();
    MultiFn multi = [f, tree, kw, out_tree](const std::vector<array>& xs) {
      nb::object out = (*f)(*rebuild_args(*tree, xs), **nb::borrow<nb::dict>(*kw));
      *out_tree = PyRef(out);
      return outputs_of(out, "[custom_function]");
    };
    auto unflatten_like_out = [out_tree](const std::vector<array>& xs) {
      size_t pos = 0;
      return tree_unflatten(**out_tree->value(), xs, pos);
    };
    std::optional<CustomVjpFn> vjp_rule;
    if (vjp) {
      PyRef rule(*vjp);
      vjp_rule = [rule, tree, unflatten_like_out](const std::vector<array>& primals, const std::vector<array>& cots,
                                                  const std::vector<array>& outs) {
        nb::tuple p = rebuild_args(*tree, primals);
        nb::object r = (*rule)(p, unflatten_like_out(cots), unflatten_like_out(outs));
        if (nb::len(p) == 1 && !PyTuple_Check(r.ptr())) r = nb::make_tuple(r);
        return tree_flatten(r);
      };
    }
    std::optional<CustomJvpFn> jvp_rule;
    if (jvp) {
      PyRef rule(*jvp);
      jvp_rule = [rule, tree](const std::vector<array>& primals, const std::vector<array>& tangents,
                              const std::vector<int>& argnums) {
        std::vector<array> all;
        for (auto& x : primals) all.push_back(zeros_like(x));
        for (size_t k = 0; k < argnums.size(); ++k) all[argnums[k]] = tangents[k];
        nb::object r = (*rule)(rebuild_args(*tree, primals), rebuild_args(*tree, all));
        return outputs_of(r, "[custom_function]");
      };
    }
    std::optional<CustomVmapFn> vmap_rule;
    if (vmap) {
      PyRef rule(*vmap);
      vmap_rule = [rule, tree](const std::vector<array>& inputs, const std::vector<int>& axes) {
        // Axes go to the rule as a tree shaped like the arguments (None: not mapped).
        size_t pos = 0;
        nb::object ax_tree = tree_map_arrays(*tree, [&](const array&) -> nb::object {
          int a = axes[pos++];
          return a < 0 ? nb::none() : nb::object(nb::int_(a));
        });
        nb::object r = (*rule)(rebuild_args(*tree, inputs), ax_tree);
        if (!PyTuple_Check(r.ptr()) || nb::len(r) != 2) {
          throw std::invalid_argument("[custom_function] the vmap rule must return (outputs, axes)");
        }
        std::vector<array> outs = outputs_of(r[0], "[custom_function]");
        std::vector<int> out_axes;
        nb::object ax = r[1];
        if (PyTuple_Check(ax.ptr()) || PyList_Check(ax.ptr())) {
          for (nb::handle h : ax) out_axes.push_back(h.is_none() ? -1 : nb::cast<int>(h));
        } else {
          out_axes.assign(outs.size(), ax.is_none() ? -1 : nb::cast<int>(ax));
        }
        return std::make_pair(outs, out_axes);
      };
    }
    std::vector<array> outs = custom_function(multi, vjp_rule, jvp_rule, vmap_rule)(leaves);
    return unflatten_like_out(outs);
  }
};

// custom_function holds Python functions whose globals usually refer back to it
// (a decorated module-level function): let the garbage collector see them.
int custom_function_traverse(PyObject* self, visitproc visit, void* arg) {
  Py_VISIT(Py_TYPE(self));
  if (!nb::inst_ready(self)) return 0;
  auto* c = nb::inst_ptr<CustomFunction>(self);
  Py_VISIT(c->fun.ptr());
  for (auto* rule : {&c->vjp, &c->jvp, &c->vmap}) {
    if (*rule) Py_VISIT((*rule)->ptr());
  }
  return 0;
}
int custom_function_clear(PyObject* self) {
  auto* c = nb::inst_ptr<CustomFunction>(self);
  c->fun = nb::none();
  c->vjp.reset();
  c->jvp.reset();
  c->vmap.reset();
  return 0;
}
PyType_Slot custom_function_slots[] = {{Py_tp_traverse, reinterpret_cast<void*>(custom_function_traverse)},
                                       {Py_tp_clear, reinterpret_cast<void*>(custom_function_clear)},
                                       {0, nullptr}};

}  // namespace

void init_transforms(nb::module_& m) {
  m.def(
      "export_to_dot",
      [](nb::handle file, nb::args args) {
        std::ostringstream os;
        export_to_dot(os, tree_flatten(args, false));
        if (nb::hasattr(file, "write")) {
          file.attr("write")(os.str());
        } else {
          nb::object f = nb::module_::import_("builtins").attr("open")(file, "w");
          f.attr("write")(os.str());
          f.attr("close")();
        }
      },
      "file"_a, "args"_a,
      "Writes the unevaluated graph below the arrays in args to file (a path or a writable) as DOT.");
  m.def(
      "print_graph",
      [](nb::args args) {
        std::ostringstream os;
        print_graph(os, tree_flatten(args, false));
        return os.str();
      },
      "args"_a, "The unevaluated graph below the arrays in args, one node per line (a string).");
  nb::class_<CustomFunction>(m, "custom_function", nb::type_slots(custom_function_slots),
                             "Decorator: a function whose vjp, jvp and vmap can be set with the f.vjp, f.jvp and "
                             "f.vmap decorators.")
      .def(nb::init<nb::object>(), "f"_a)
      .def("__call__", &CustomFunction::call)
      .def(
          "vjp",
          [](CustomFunction& c, nb::object rule) {
            c.vjp = rule;
            return rule;
          },
          "f"_a, "Sets the rule vjp(primals, cotangents, outputs) -> cotangents of the primals.")
      .def(
          "jvp",
          [](CustomFunction& c, nb::object rule) {
            c.jvp = rule;
            return rule;
          },
          "f"_a, "Sets the rule jvp(primals, tangents) -> tangents of the outputs.")
      .def(
          "vmap",
          [](CustomFunction& c, nb::object rule) {
            c.vmap = rule;
            return rule;
          },
          "f"_a, "Sets the rule vmap(inputs, axes) -> (outputs, output axes).");
  m.def(
      "compile",
      [](nb::object fun, nb::object inputs, nb::object outputs, bool shapeless) -> nb::object {
        auto make = [inputs, outputs, shapeless](nb::object f) -> nb::object {
          auto c = std::make_shared<PyCompiled>();
          c->fun = f;
          if (!inputs.is_none()) c->inputs = inputs;
          if (!outputs.is_none()) c->outputs = outputs;
          c->shapeless = shapeless;
          return make_callable([c](nb::args args, nb::kwargs kwargs) { return c->call(args, kwargs); }, f);
        };
        if (fun.is_none()) return nb::cpp_function([make](nb::object f) { return make(f); });
        return make(fun);
      },
      "fun"_a.none() = nb::none(), "inputs"_a.none() = nb::none(), "outputs"_a.none() = nb::none(),
      "shapeless"_a = false,
      "compile(fun, inputs=None, outputs=None, shapeless=False): fun compiled: traced once per signature of its "
      "arguments (array dtypes and shapes, the structure of its argument trees and their non-array values), the "
      "graph simplified and chains of elementwise ops fused into generated kernels. inputs and outputs are trees of "
      "state the function reads and writes (a model's parameters, an optimizer's state); outputs are updated in "
      "place after each call. With shapeless=True a trace is reused for inputs of other shapes. Without fun it "
      "returns a decorator.");
  m.def("disable_compile", &ember::disable_compile,
        "disable_compile(): compiled functions call the original function (also EMBER_DISABLE_COMPILE=1).");
  m.def("enable_compile", &ember::enable_compile, "enable_compile(): turns compile back on.");
  m.def(
      "checkpoint",
      [](nb::callable fun) {
        Impl impl = [fun](nb::args args, nb::kwargs kwargs) -> nb::object {
          nb::object args_tree = nb::tuple(args);
          std::vector<array> leaves = tree_flatten(args_tree, false);
          PyRef f(fun), tree(args_tree), kw{nb::object(kwargs)};
          auto out_tree = std::make_shared<std::optional<PyRef>>();
          MultiFn multi = [f, tree, kw, out_tree](const std::vector<array>& xs) {
            nb::object out = (*f)(*rebuild_args(*tree, xs), **nb::borrow<nb::dict>(*kw));
            *out_tree = PyRef(out);
            return outputs_of(out, "[checkpoint]");
          };
          std::vector<array> outs = ember::checkpoint(multi)(leaves);
          size_t pos = 0;
          return tree_unflatten(**out_tree->value(), outs, pos);
        };
        return make_callable(impl, fun);
      },
      "fun"_a,
      "checkpoint(fun): fun with gradient checkpointing; the backward pass recomputes its intermediates from its "
      "inputs instead of keeping them.");
  m.def(
      "eval",
      [](nb::args args) {
        // Non-array leaves are ignored, as in MLX.
        eval_released(tree_flatten(args, false));
      },
      "args"_a, "Evaluates the arrays in the given trees, blocking until done.");
  m.def(
      "async_eval",
      [](nb::args args) {
        auto outs = tree_flatten(args, false);
        nb::gil_scoped_release release;
        async_eval(std::move(outs));
      },
      "args"_a, "Starts evaluating the arrays in the given trees without waiting.");
  m.def(
      "grad",
      [](nb::callable fun, nb::object argnums, std::variant<std::string, std::vector<std::string>> argnames) {
        return value_and_grad_impl(fun, argnums, names_of(argnames), false);
      },
      "fun"_a, "argnums"_a.none() = nb::none(), "argnames"_a = std::vector<std::string>{},
      "grad(fun, argnums=None, argnames=[]): a function returning the gradient of fun's scalar output with respect to "
      "the "
      "arguments in argnums (default 0) and the keyword arguments in argnames (then the result is (positional "
      "gradients, {name: gradient})); arguments may be trees of arrays.");
  m.def(
      "value_and_grad",
      [](nb::callable fun, nb::object argnums, std::variant<std::string, std::vector<std::string>> argnames) {
        return value_and_grad_impl(fun, argnums, names_of(argnames), true);
      },
      "fun"_a, "argnums"_a.none() = nb::none(), "argnames"_a = std::vector<std::string>{},
      "value_and_grad(fun, argnums=None, argnames=[]): a function returning (fun's output, its gradient). fun returns "
      "a "
      "scalar array or a tuple whose first element is the scalar to differentiate; argnums and argnames as in "
      "grad.");
  m.def(
      "vjp",
      [](nb::callable fun, std::vector<ArrayLike> primals, std::vector<ArrayLike> cotangents) {
        std::vector<array> p(primals.begin(), primals.end()), c(cotangents.begin(), cotangents.end());
        return linear_transform(fun, p, c, "[vjp]", [](auto& f, auto& x, auto& v) { return ember::vjp(f, x, v); });
      },
      "fun"_a, "primals"_a, "cotangents"_a,
      "vjp(fun, primals, cotangents) -> (outputs, vjps): the vector-Jacobian product of fun at primals.");
  m.def(
      "jvp",
      [](nb::callable fun, std::vector<ArrayLike> primals, std::vector<ArrayLike> tangents) {
        std::vector<array> p(primals.begin(), primals.end()), t(tangents.begin(), tangents.end());
        return linear_transform(fun, p, t, "[jvp]", [](auto& f, auto& x, auto& v) { return ember::jvp(f, x, v); });
      },
      "fun"_a, "primals"_a, "tangents"_a,
      "jvp(fun, primals, tangents) -> (outputs, jvps): the Jacobian-vector product of fun at primals.");
  m.def(
      "vmap",
      [](nb::callable fun, nb::object in_axes, nb::object out_axes) { return vmap_impl(fun, in_axes, out_axes); },
      "fun"_a, "in_axes"_a.none() = 0, "out_axes"_a.none() = 0,
      "vmap(fun, in_axes=0, out_axes=0): fun vectorized over the given axes. in_axes is an int or None for every "
      "argument, or a prefix tree of the positional arguments (an int or None covers a whole subtree; keyword "
      "arguments pass through unmapped); out_axes likewise for what fun returns (arrays, tuples, lists, dicts), "
      "None giving an output that does not depend on the mapped inputs back without a mapped axis.");
}

}  // namespace ember::py
