// Pytrees: nested lists, tuples and dicts with arrays at the leaves. Flatten
// and unflatten walk them in one order (depth first, dict values in iteration
// order), so leaves taken out by tree_flatten go back with tree_unflatten.
#include "common.h"

namespace ember::py {

namespace {
void flatten_rec(nb::handle tree, bool strict, std::vector<array>& out) {
  if (PyList_Check(tree.ptr()) || PyTuple_Check(tree.ptr())) {
    for (nb::handle h : tree) flatten_rec(h, strict, out);
  } else if (PyDict_Check(tree.ptr())) {
    for (auto [k, v] : nb::borrow<nb::dict>(tree)) flatten_rec(v, strict, out);
  } else if (nb::isinstance<array>(tree)) {
    out.push_back(nb::cast<array>(tree));
  } else if (strict) {
    throw std::invalid_argument("[tree_flatten] The argument should contain only arrays, got a leaf of type " +
                                std::string(nb::str(nb::handle(tree.type()).attr("__name__")).c_str()));
  }
}

nb::object map_rec(nb::handle tree, const std::function<nb::object(const array&)>& f) {
  if (PyList_Check(tree.ptr())) {
    nb::list l;
    for (nb::handle h : tree) l.append(map_rec(h, f));
    return l;
  }
  if (PyTuple_Check(tree.ptr())) {
    nb::list l;
    for (nb::handle h : tree) l.append(map_rec(h, f));
    nb::object t = nb::tuple(l);
    // namedtuples keep their type.
    if (!PyTuple_CheckExact(tree.ptr()) && nb::hasattr(tree, "_fields")) return nb::handle(tree.type())(*t);
    return t;
  }
  if (PyDict_Check(tree.ptr())) {
    nb::dict d;
    for (auto [k, v] : nb::borrow<nb::dict>(tree)) d[k] = map_rec(v, f);
    return d;
  }
  if (nb::isinstance<array>(tree)) return f(nb::cast<array>(tree));
  return nb::borrow(tree);
}
}  // namespace

std::vector<array> tree_flatten(nb::handle tree, bool strict) {
  std::vector<array> out;
  flatten_rec(tree, strict, out);
  return out;
}

nb::object tree_map_arrays(nb::handle tree, const std::function<nb::object(const array&)>& f) {
  return map_rec(tree, f);
}

nb::object tree_unflatten(nb::handle tree, const std::vector<array>& leaves, size_t& pos) {
  return map_rec(tree, [&](const array&) -> nb::object {
    if (pos >= leaves.size()) throw std::invalid_argument("[tree_unflatten] too few leaves for the tree");
    return nb::cast(leaves[pos++]);
  });
}

void tree_replace(nb::handle tree, const std::vector<array>& leaves, size_t& pos) {
  auto next = [&]() -> nb::object {
    if (pos >= leaves.size()) throw std::invalid_argument("[tree_replace] too few leaves for the tree");
    return nb::cast(leaves[pos++]);
  };
  if (PyList_Check(tree.ptr())) {
    nb::list l = nb::borrow<nb::list>(tree);
    for (size_t i = 0; i < l.size(); ++i) {
      if (nb::isinstance<array>(l[i])) {
        l[i] = next();
      } else {
        tree_replace(l[i], leaves, pos);
      }
    }
  } else if (PyTuple_Check(tree.ptr())) {
    for (nb::handle h : tree) {
      if (nb::isinstance<array>(h)) {
        throw std::invalid_argument("[compile] state to update holds an array in a tuple; use a list or a dict");
      }
      tree_replace(h, leaves, pos);
    }
  } else if (PyDict_Check(tree.ptr())) {
    nb::dict d = nb::borrow<nb::dict>(tree);
    std::vector<nb::object> keys;
    for (auto [k, v] : d) keys.push_back(nb::borrow(k));
    for (auto& k : keys) {
      nb::object v = d[k];
      if (nb::isinstance<array>(v)) {
        d[k] = next();
      } else {
        tree_replace(v, leaves, pos);
      }
    }
  }
}

void tree_key(nb::handle tree, std::string& key) {
  PyObject* o = tree.ptr();
  if (PyList_Check(o) || PyTuple_Check(o)) {
    key += PyList_Check(o) ? '[' : '(';
    for (nb::handle h : tree) tree_key(h, key);
    key += PyList_Check(o) ? ']' : ')';
  } else if (PyDict_Check(o)) {
    key += '{';
    for (auto [k, v] : nb::borrow<nb::dict>(tree)) {
      key += nb::repr(k).c_str();
      key += ':';
      tree_key(v, key);
    }
    key += '}';
  } else if (nb::isinstance<array>(tree)) {
    key += 'A';
  } else if (o == Py_None || PyBool_Check(o) || PyLong_Check(o) || PyFloat_Check(o) || PyUnicode_Check(o) ||
             PyComplex_Check(o)) {
    key += nb::cast<std::string>(nb::handle(tree.type()).attr("__name__")) + "=" + nb::repr(tree).c_str();
  } else {
    key += "obj@" + std::to_string(reinterpret_cast<uintptr_t>(o));
  }
  key += ',';
}

}  // namespace ember::py
