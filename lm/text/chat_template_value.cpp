// Chat-template values: Python str()/repr()/==/< semantics, arithmetic, JSON in and out.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "lm/text/chat_template_ast.h"

namespace ember::lm::tpl {

uint32_t Value::depth() const {
  if (kind == Kind::List) return nest + 1;
  if (kind == Kind::Dict || kind == Kind::Namespace) return dict->nest + 1;
  return 0;
}

Value Value::make_list(List items, bool is_tuple) {
  Value v;
  v.kind = Kind::List;
  for (const auto& x : items) v.nest = std::max(v.nest, x.depth());
  if (v.nest >= kMaxValueDepth) throw RenderError("value nested too deeply");
  v.list = std::make_shared<List>(std::move(items));
  v.tuple = is_tuple;
  return v;
}

Value Value::make_dict() {
  Value v;
  v.kind = Kind::Dict;
  v.dict = std::make_shared<Dict>();
  return v;
}

Value Value::make_namespace() {
  Value v = make_dict();
  v.kind = Kind::Namespace;
  return v;
}

const Value* Dict::find(const std::string& key) const {
  for (const auto& [k, v] : items)
    if (k == key) return &v;
  return nullptr;
}

void Dict::set(const std::string& key, Value value) {
  nest = std::max(nest, value.depth());
  if (nest >= kMaxValueDepth) throw RenderError("value nested too deeply");
  for (auto& [k, v] : items)
    if (k == key) {
      v = std::move(value);
      return;
    }
  items.emplace_back(key, std::move(value));
}

std::optional<Value> CallArgs::take(size_t index, const std::string& name) {
  for (size_t k = 0; k < kw.size(); ++k)
    if (kw[k].first == name) {
      Value v = std::move(kw[k].second);
      kw.erase(kw.begin() + k);
      return v;
    }
  if (index < pos.size()) return pos[index];
  return std::nullopt;
}

const Value* CallArgs::kwarg(const std::string& name) const {
  for (const auto& [k, v] : kw)
    if (k == name) return &v;
  return nullptr;
}

const Value* Scope::find(const std::string& name) const {
  for (const Scope* s = this; s; s = s->parent)
    for (const auto& [k, v] : s->vars)
      if (k == name) return &v;
  return nullptr;
}

const Value* Scope::lookup(const std::string& name, bool* hidden) const {
  *hidden = false;
  for (const Scope* s = this; s; s = s->parent) {
    for (const auto& [k, v] : s->vars)
      if (k == name) return &v;
    if (s != this && s->declared && s->declared->count(name)) {
      *hidden = true;
      return nullptr;
    }
  }
  return nullptr;
}

void Scope::set(const std::string& name, Value v) {
  for (auto& [k, old] : vars)
    if (k == name) {
      old = std::move(v);
      return;
    }
  vars.emplace_back(name, std::move(v));
}

// ---------------------------------------------------------------------------------------------
// UTF-8

uint32_t decode_utf8(const std::string& s, size_t& pos) {
  auto c = static_cast<unsigned char>(s[pos]);
  int n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
  if (n <= 0 || pos + n >= s.size()) {  // ASCII, stray or truncated byte: one char
    ++pos;
    return c;
  }
  uint32_t cp = n == 0 ? c : n == 1 ? (c & 0x1f) : n == 2 ? (c & 0x0f) : (c & 0x07);
  for (int k = 1; k <= n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[pos + k]) & 0x3f);
  pos += n + 1;
  return cp;
}

std::vector<std::string> utf8_chars(const std::string& s) {
  std::vector<std::string> out;
  for (size_t pos = 0; pos < s.size();) {
    size_t start = pos;
    decode_utf8(s, pos);
    out.push_back(s.substr(start, pos - start));
  }
  return out;
}

size_t utf8_length(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xc0) != 0x80;
  return n;
}

bool is_py_space(uint32_t cp) {
  return (cp >= 9 && cp <= 13) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

// ---------------------------------------------------------------------------------------------
// str() / repr()

std::string format_float(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  if (x == 0) return std::signbit(x) ? "-0.0" : "0.0";
  // Python's repr: shortest round-trip digits, fixed notation when -4 <= exponent < 16.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf), x, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  size_t e = sci.find('e');
  std::string mant = sci.substr(0, e);
  int exp = std::stoi(sci.substr(e + 1));
  bool neg = mant[0] == '-';
  if (neg) mant = mant.substr(1);
  std::string digits;
  for (char c : mant)
    if (c != '.') digits += c;
  std::string out;
  if (exp >= -4 && exp < 16) {
    if (exp < 0) {
      out = "0." + std::string(-exp - 1, '0') + digits;
    } else if (static_cast<int>(digits.size()) <= exp + 1) {
      out = digits + std::string(exp + 1 - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, exp + 1) + "." + digits.substr(exp + 1);
    }
  } else {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char eb[16];
    std::snprintf(eb, sizeof(eb), "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    out += eb;
  }
  return neg ? "-" + out : out;
}

static std::string repr_string(const std::string& s) {
  char quote = '\'';
  if (s.find('\'') != std::string::npos && s.find('"') == std::string::npos) quote = '"';
  std::string out(1, quote);
  for (size_t pos = 0; pos < s.size();) {
    size_t start = pos;
    uint32_t cp = decode_utf8(s, pos);
    if (cp == static_cast<uint32_t>(quote) || cp == '\\') {
      out += '\\';
      out += static_cast<char>(cp);
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", cp);
      out += buf;
    } else {
      out.append(s, start, pos - start);
    }
  }
  out += quote;
  return out;
}

std::string type_name(const Value& v) {
  switch (v.kind) {
    case Kind::Undefined:
      return "Undefined";
    case Kind::None:
      return "NoneType";
    case Kind::Bool:
      return "bool";
    case Kind::Int:
      return "int";
    case Kind::Float:
      return "float";
    case Kind::String:
      return "str";
    case Kind::List:
      return v.tuple ? "tuple" : "list";
    case Kind::Dict:
      return "dict";
    case Kind::Namespace:
      return "Namespace";
    case Kind::Function:
      return "function";
    case Kind::Loop:
      return "LoopContext";
  }
  return "object";
}

static std::string repr_dict(const Dict& d) {
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : d.items) {
    if (!first) out += ", ";
    first = false;
    out += repr_string(k) + ": " + py_repr(v);
  }
  return out + "}";
}

namespace {
// Bounds repr recursion: a namespace can contain itself.
struct ReprDepth {
  static inline thread_local uint32_t depth = 0;
  ReprDepth() {
    if (++depth > kMaxValueDepth + 2) {
      depth = 0;
      throw RenderError("maximum recursion depth exceeded while getting the repr of an object");
    }
  }
  ~ReprDepth() {
    if (depth > 0) --depth;
  }
};
}  // namespace

std::string py_repr(const Value& v) {
  ReprDepth guard;
  switch (v.kind) {
    case Kind::Undefined:
      return "Undefined";
    case Kind::String:
      return repr_string(v.s);
    case Kind::List: {
      std::string out = v.tuple ? "(" : "[";
      for (size_t k = 0; k < v.list->size(); ++k) {
        if (k) out += ", ";
        out += py_repr((*v.list)[k]);
      }
      if (v.tuple && v.list->size() == 1) out += ",";
      return out + (v.tuple ? ")" : "]");
    }
    default:
      return py_str(v);
  }
}

std::string py_str(const Value& v) {
  ReprDepth guard;
  switch (v.kind) {
    case Kind::Undefined:
      return "";
    case Kind::None:
      return "None";
    case Kind::Bool:
      return v.b ? "True" : "False";
    case Kind::Int:
      return std::to_string(v.i);
    case Kind::Float:
      return format_float(v.f);
    case Kind::String:
      return v.s;
    case Kind::List:
      return py_repr(v);
    case Kind::Dict:
      return repr_dict(*v.dict);
    case Kind::Namespace:
      return "<Namespace " + repr_dict(*v.dict) + ">";
    case Kind::Function:
      return "<function " + v.fn->name + ">";
    case Kind::Loop:
      return "<LoopContext>";
  }
  return "";
}

bool truthy(const Value& v) {
  switch (v.kind) {
    case Kind::Undefined:
    case Kind::None:
      return false;
    case Kind::Bool:
      return v.b;
    case Kind::Int:
      return v.i != 0;
    case Kind::Float:
      return v.f != 0;
    case Kind::String:
      return !v.s.empty();
    case Kind::List:
      return !v.list->empty();
    case Kind::Dict:
      return !v.dict->items.empty();
    default:
      return true;
  }
}

[[noreturn]] void fail_undefined(const Value& v) { throw RenderError(v.s.empty() ? "value is undefined" : v.s); }

bool py_eq(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_integral() && b.is_integral()) return a.as_int() == b.as_int();
    return a.as_double() == b.as_double();
  }
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case Kind::Undefined:
    case Kind::None:
      return true;
    case Kind::String:
      return a.s == b.s;
    case Kind::List:
      if (a.tuple != b.tuple || a.list->size() != b.list->size()) return false;
      for (size_t k = 0; k < a.list->size(); ++k)
        if (!py_eq((*a.list)[k], (*b.list)[k])) return false;
      return true;
    case Kind::Dict: {
      if (a.dict->items.size() != b.dict->items.size()) return false;
      for (const auto& [k, v] : a.dict->items) {
        const Value* o = b.dict->find(k);
        if (!o || !py_eq(v, *o)) return false;
      }
      return true;
    }
    case Kind::Namespace:
      return a.dict == b.dict;
    case Kind::Function:
      return a.fn == b.fn;
    case Kind::Loop:
      return a.loop == b.loop;
    default:
      return false;
  }
}

int py_cmp(const Value& a, const Value& b, const char* op) {
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  if (a.is_number() && b.is_number()) {
    if (a.is_integral() && b.is_integral()) return a.as_int() < b.as_int() ? -1 : a.as_int() > b.as_int();
    double x = a.as_double(), y = b.as_double();
    return x < y ? -1 : x > y;
  }
  if (a.is_string() && b.is_string()) return a.s < b.s ? -1 : a.s > b.s;  // UTF-8 byte order = code point order
  if (a.is_list() && b.is_list() && a.tuple == b.tuple) {
    size_t n = std::min(a.list->size(), b.list->size());
    for (size_t k = 0; k < n; ++k) {
      if (py_eq((*a.list)[k], (*b.list)[k])) continue;
      return py_cmp((*a.list)[k], (*b.list)[k], op);
    }
    return a.list->size() < b.list->size() ? -1 : a.list->size() > b.list->size();
  }
  throw RenderError(std::string("'") + op + "' not supported between instances of '" + type_name(a) + "' and '" +
                    type_name(b) + "'");
}

// ---------------------------------------------------------------------------------------------
// JSON

template <class J>
static Value from_json_impl(const J& j, int depth = 0) {
  if (depth > static_cast<int>(kMaxValueDepth)) throw RenderError("context nested too deeply");
  switch (j.type()) {
    case nlohmann::json::value_t::null:
      return Value::none();
    case nlohmann::json::value_t::boolean:
      return Value::boolean(j.template get<bool>());
    case nlohmann::json::value_t::number_integer:
      return Value::integer(j.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned:
      return Value::integer(static_cast<int64_t>(j.template get<uint64_t>()));
    case nlohmann::json::value_t::number_float:
      return Value::number(j.template get<double>());
    case nlohmann::json::value_t::string:
      return Value::string(j.template get<std::string>());
    case nlohmann::json::value_t::array: {
      List items;
      items.reserve(j.size());
      for (const auto& x : j) items.push_back(from_json_impl(x, depth + 1));
      return Value::make_list(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      Value d = Value::make_dict();
      d.dict->items.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it) {
        Value x = from_json_impl(it.value(), depth + 1);
        d.dict->nest = std::max(d.dict->nest, x.depth());
        d.dict->items.emplace_back(it.key(), std::move(x));
      }
      return d;
    }
    default:
      return Value::none();
  }
}

Value from_json(const nlohmann::ordered_json& j) { return from_json_impl(j); }
Value from_json(const nlohmann::json& j) { return from_json_impl(j); }

static void json_string(std::string& out, const std::string& s, bool ensure_ascii) {
  out += '"';
  for (size_t pos = 0; pos < s.size();) {
    size_t start = pos;
    uint32_t cp = decode_utf8(s, pos);
    char buf[16];
    switch (cp) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (cp < 0x20 || (ensure_ascii && cp >= 0x7f)) {
          if (cp >= 0x10000) {
            uint32_t v = cp - 0x10000;
            std::snprintf(buf, sizeof(buf), "\\u%04x\\u%04x", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
          } else {
            std::snprintf(buf, sizeof(buf), "\\u%04x", cp);
          }
          out += buf;
        } else {
          out.append(s, start, pos - start);
        }
    }
  }
  out += '"';
}

namespace {
struct JsonWriter {
  const std::optional<std::string>& indent;
  const std::string& item_sep;
  const std::string& key_sep;
  bool sort_keys;
  bool ensure_ascii;
  std::string out;

  void newline(int level) {
    out += '\n';
    for (int k = 0; k < level; ++k) out += *indent;
  }
  void write(const Value& v, int level) {
    if (level > 512) throw RenderError("tojson: nesting too deep");
    switch (v.kind) {
      case Kind::None:
        out += "null";
        return;
      case Kind::Bool:
        out += v.b ? "true" : "false";
        return;
      case Kind::Int:
        out += std::to_string(v.i);
        return;
      case Kind::Float:
        if (std::isnan(v.f))
          out += "NaN";
        else if (std::isinf(v.f))
          out += v.f > 0 ? "Infinity" : "-Infinity";
        else
          out += format_float(v.f);
        return;
      case Kind::String:
        json_string(out, v.s, ensure_ascii);
        return;
      case Kind::List: {
        if (v.list->empty()) {
          out += "[]";
          return;
        }
        out += '[';
        for (size_t k = 0; k < v.list->size(); ++k) {
          if (k) out += item_sep;
          if (indent) newline(level + 1);
          write((*v.list)[k], level + 1);
        }
        if (indent) newline(level);
        out += ']';
        return;
      }
      case Kind::Dict: {
        if (v.dict->items.empty()) {
          out += "{}";
          return;
        }
        std::vector<const std::pair<std::string, Value>*> items;
        for (const auto& kv : v.dict->items) items.push_back(&kv);
        if (sort_keys)
          std::stable_sort(items.begin(), items.end(), [](auto* a, auto* b) { return a->first < b->first; });
        out += '{';
        for (size_t k = 0; k < items.size(); ++k) {
          if (k) out += item_sep;
          if (indent) newline(level + 1);
          json_string(out, items[k]->first, ensure_ascii);
          out += key_sep;
          write(items[k]->second, level + 1);
        }
        if (indent) newline(level);
        out += '}';
        return;
      }
      default:
        throw RenderError("Object of type " + type_name(v) + " is not JSON serializable");
    }
  }
};
}  // namespace

std::string to_json_text(const Value& v, const std::optional<std::string>& indent, const std::string& item_sep,
                         const std::string& key_sep, bool sort_keys, bool ensure_ascii) {
  JsonWriter w{indent, item_sep, key_sep, sort_keys, ensure_ascii, {}};
  w.write(v, 0);
  return std::move(w.out);
}

// ---------------------------------------------------------------------------------------------
// Arithmetic

static int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

static Value repeat(const Value& seq, int64_t n) {
  n = std::max<int64_t>(n, 0);
  size_t unit = seq.is_string() ? seq.s.size() : seq.list->size();
  if (unit && static_cast<uint64_t>(n) > (uint64_t{1} << 28) / unit) throw RenderError("repetition result too large");
  if (seq.is_string()) {
    std::string out;
    for (int64_t k = 0; k < n; ++k) out += seq.s;
    return Value::string(std::move(out));
  }
  List out;
  for (int64_t k = 0; k < n; ++k) out.insert(out.end(), seq.list->begin(), seq.list->end());
  return Value::make_list(std::move(out), seq.tuple);
}

Value binary_op(const std::string& op, const Value& a, const Value& b) {
  if (op == "~") return Value::string(py_str(a) + py_str(b));
  if (a.is_undefined()) fail_undefined(a);
  if (b.is_undefined()) fail_undefined(b);
  auto unsupported = [&]() -> Value {
    throw RenderError("unsupported operand type(s) for " + op + ": '" + type_name(a) + "' and '" + type_name(b) + "'");
  };
  bool ints = a.is_integral() && b.is_integral();
  bool nums = a.is_number() && b.is_number();
  if (op == "+") {
    if (ints) return Value::integer(a.as_int() + b.as_int());
    if (nums) return Value::number(a.as_double() + b.as_double());
    if (a.is_string() && b.is_string()) return Value::string(a.s + b.s);
    if (a.is_list() && b.is_list() && a.tuple == b.tuple) {
      List out = *a.list;
      out.insert(out.end(), b.list->begin(), b.list->end());
      return Value::make_list(std::move(out), a.tuple);
    }
    return unsupported();
  }
  if (op == "-") {
    if (ints) return Value::integer(a.as_int() - b.as_int());
    if (nums) return Value::number(a.as_double() - b.as_double());
    return unsupported();
  }
  if (op == "*") {
    if (ints) return Value::integer(a.as_int() * b.as_int());
    if (nums) return Value::number(a.as_double() * b.as_double());
    if ((a.is_string() || a.is_list()) && b.is_integral()) return repeat(a, b.as_int());
    if ((b.is_string() || b.is_list()) && a.is_integral()) return repeat(b, a.as_int());
    return unsupported();
  }
  if (op == "/" || op == "//" || op == "%") {
    if (!nums) {
      if (op == "%" && a.is_string()) return Value::string(percent_format(a.s, b));
      return unsupported();
    }
    if (b.as_double() == 0)
      throw RenderError(ints && op != "/" ? "integer division or modulo by zero" : "division by zero");
    if (op == "/") return Value::number(a.as_double() / b.as_double());
    if (ints) {
      int64_t q = floor_div(a.as_int(), b.as_int());
      return op == "//" ? Value::integer(q) : Value::integer(a.as_int() - q * b.as_int());
    }
    double x = a.as_double(), y = b.as_double();
    if (op == "//") return Value::number(std::floor(x / y));
    double m = std::fmod(x, y);
    if (m != 0 && ((m < 0) != (y < 0))) m += y;
    return Value::number(m);
  }
  if (op == "**") {
    if (ints && b.as_int() >= 0) {
      int64_t r = 1, base = a.as_int();
      for (int64_t k = 0; k < b.as_int() && r != 0; ++k) {
        if (__builtin_mul_overflow(r, base, &r)) throw RenderError("integer power result too large");
        if (r == 1 && base == 1) break;
      }
      return Value::integer(r);
    }
    if (nums) return Value::number(std::pow(a.as_double(), b.as_double()));
    return unsupported();
  }
  throw RenderError("unknown operator " + op);
}

}  // namespace ember::lm::tpl
