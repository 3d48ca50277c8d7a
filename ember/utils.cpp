#include "ember/utils.h"

#include <cmath>
#include <cstring>
#include <sstream>
#include <unordered_set>
#include <vector>

#include "ember/backend/common/utils.h"
#include "ember/primitives.h"

namespace ember {

namespace {

// NumPy and MLX summarize arrays above 1000 elements, keeping 3 items per edge.
constexpr size_t kSummarizeThreshold = 1000;
constexpr int kEdgeItems = 3;

std::string format_float(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::ostringstream os;
  os.precision(6);
  os << v;
  return os.str();
}

std::string format_element(const array& a, int64_t loc) {
  const char* base = static_cast<const char*>(a.raw_ptr());
  std::string out;
  dispatch_dtype(a.dtype(), [&](auto t) {
    using T = decltype(t);
    T v;
    std::memcpy(&v, base + loc * static_cast<int64_t>(sizeof(T)), sizeof(T));
    if constexpr (std::is_same_v<T, bool>) {
      out = v ? "True" : "False";  // Python spelling, as MLX prints
    } else if constexpr (std::is_same_v<T, complex64_t>) {
      std::string re = format_float(v.real()), im = format_float(std::abs(v.imag()));
      out = re + (std::signbit(v.imag()) ? "-" : "+") + im + "j";
    } else if constexpr (std::is_same_v<T, float16_t> || std::is_same_v<T, bfloat16_t>) {
      out = format_float(static_cast<float>(v));
    } else if constexpr (std::is_floating_point_v<T>) {
      out = format_float(v);
    } else if constexpr (sizeof(T) == 1) {
      out = std::to_string(static_cast<int>(v));
    } else {
      out = std::to_string(v);
    }
  });
  return out;
}

void print_rec(std::ostream& os, const array& a, size_t dim, int64_t loc, bool summarize, int indent) {
  if (dim == a.ndim()) {
    os << format_element(a, loc);
    return;
  }
  os << "[";
  int32_t n = a.shape()[dim];
  auto print_item = [&](int32_t i) { print_rec(os, a, dim + 1, loc + i * a.strides()[dim], summarize, indent + 1); };
  std::string sep = dim + 1 == a.ndim() ? ", " : ",\n" + std::string(indent + 1, ' ');
  if (summarize && n > 2 * kEdgeItems) {
    for (int32_t i = 0; i < kEdgeItems; ++i) {
      print_item(i);
      os << sep;
    }
    os << "..." << sep;
    for (int32_t i = n - kEdgeItems; i < n; ++i) {
      print_item(i);
      if (i + 1 < n) os << sep;
    }
  } else {
    for (int32_t i = 0; i < n; ++i) {
      print_item(i);
      if (i + 1 < n) os << sep;
    }
  }
  os << "]";
}

}  // namespace

std::ostream& operator<<(std::ostream& os, array a) {
  a.eval();
  os << "array(";
  if (a.size() == 0 && a.ndim() > 0) {
    os << "[]";
    if (a.ndim() > 1) os << ", shape=" << shape_to_string(a.shape());
  } else {
    print_rec(os, a, 0, 0, a.size() > kSummarizeThreshold, 6);
  }
  os << ", dtype=" << a.dtype() << ")";
  return os;
}

std::string shape_to_string(const Shape& shape) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  if (shape.size() == 1) os << ",";
  os << ")";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Shape& shape) { return os << shape_to_string(shape); }

namespace {

// Nodes below `outputs` in dependency order (inputs first), without recursion.
std::vector<array> graph_nodes(const std::vector<array>& outputs) {
  std::vector<array> order;
  std::unordered_set<uint64_t> seen;
  std::vector<std::pair<array, size_t>> stack;
  for (auto& o : outputs) {
    if (!seen.insert(o.id()).second) continue;
    stack.emplace_back(o, 0);
    while (!stack.empty()) {
      auto& [a, i] = stack.back();
      const auto& ins = a.status() == Status::unscheduled ? a.inputs() : std::vector<array>{};
      if (i < ins.size()) {
        const array& in = ins[i++];
        if (seen.insert(in.id()).second) stack.emplace_back(in, 0);
        continue;
      }
      order.push_back(std::move(a));
      stack.pop_back();
    }
  }
  return order;
}

std::string node_label(const array& a) {
  std::ostringstream os;
  if (a.has_primitive()) {
    a.primitive().print(os);
  } else {
    os << "array";
  }
  os << " " << shape_to_string(a.shape()) << " " << a.dtype();
  return os.str();
}

}  // namespace

void print_graph(std::ostream& os, const std::vector<array>& outputs) {
  for (auto& a : graph_nodes(outputs)) {
    os << "n" << a.id() << " = " << node_label(a);
    if (a.has_primitive()) {
      os << " (";
      for (size_t i = 0; i < a.inputs().size(); ++i) os << (i ? ", " : "") << "n" << a.inputs()[i].id();
      os << ")";
    }
    os << "\n";
  }
}

void export_to_dot(std::ostream& os, const std::vector<array>& outputs) {
  os << "digraph ember {\n  rankdir=LR;\n";
  for (auto& a : graph_nodes(outputs)) {
    os << "  n" << a.id() << " [label=\"" << node_label(a) << "\"" << (a.has_primitive() ? "" : " shape=box") << "];\n";
    if (a.has_primitive()) {
      for (auto& in : a.inputs()) os << "  n" << in.id() << " -> n" << a.id() << ";\n";
    }
  }
  os << "}\n";
}

}  // namespace ember
