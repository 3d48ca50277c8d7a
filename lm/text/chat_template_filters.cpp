// Chat-template filters and tests (jinja2's builtin set, with transformers' tojson).
#include <algorithm>
#include <cmath>

#include "lm/text/chat_template_ast.h"

namespace ember::lm::tpl {

namespace {

// jinja2's make_attrgetter: "a.b.0" looks up each part with item-then-attribute semantics.
Value get_path(Evaluator& ev, const Value& obj, const Value& attribute) {
  if (!attribute.is_string()) return ev.get_item(obj, attribute);
  Value cur = obj;
  size_t p = 0;
  const std::string& path = attribute.s;
  while (true) {
    size_t q = path.find('.', p);
    std::string part = path.substr(p, q == std::string::npos ? std::string::npos : q - p);
    bool digits = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
    cur = digits ? ev.get_item(cur, Value::integer(std::stoll(part))) : ev.get_item(cur, Value::string(part));
    if (q == std::string::npos) break;
    p = q + 1;
  }
  return cur;
}

// Sort/unique/min/max key: the attribute, lower-cased when comparing strings case-insensitively.
Value sort_key(Evaluator& ev, const Value& item, const std::optional<Value>& attribute, bool case_sensitive) {
  Value k = attribute && !attribute->is_none() ? get_path(ev, item, *attribute) : item;
  if (!case_sensitive && k.is_string()) k.s = str_lower(k.s);
  return k;
}

Value round_value(const Value& v, int64_t precision, const std::string& method) {
  if (!v.is_number()) throw RenderError("round: expected a number, got " + type_name(v));
  if (method == "common") {
    if (v.is_integral()) return Value::integer(v.as_int());
    // Python's round() is correctly rounded from the exact binary value, as printf is.
    char buf[512];
    std::snprintf(buf, sizeof(buf), "%.*f", static_cast<int>(std::clamp<int64_t>(precision, 0, 300)), v.f);
    double r = std::strtod(buf, nullptr);
    if (precision < 0) {
      double scale = std::pow(10.0, static_cast<double>(-precision));
      r = std::nearbyint(v.f / scale) * scale;
    }
    return Value::number(r);
  }
  if (method != "ceil" && method != "floor") throw RenderError("method must be common, ceil or floor");
  double scale = std::pow(10.0, static_cast<double>(precision));
  double x = v.as_double() * scale;
  return Value::number((method == "ceil" ? std::ceil(x) : std::floor(x)) / scale);
}

}  // namespace

bool Evaluator::apply_test(const std::string& name, const Value& v, CallArgs& a) {
  auto arg = [&](size_t k) -> const Value& {
    if (k >= a.pos.size()) throw RenderError("test '" + name + "' is missing an argument");
    return a.pos[k];
  };
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "boolean") return v.kind == Kind::Bool;
  if (name == "true") return v.kind == Kind::Bool && v.b;
  if (name == "false") return v.kind == Kind::Bool && !v.b;
  if (name == "integer") return v.kind == Kind::Int;
  if (name == "float") return v.kind == Kind::Float;
  if (name == "number") return v.is_number();
  if (name == "string") return v.is_string();
  if (name == "mapping") return v.is_dict();
  if (name == "iterable" || name == "sequence") return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
  if (name == "callable") return v.kind == Kind::Function;
  if (name == "escaped") return false;
  if (name == "lower" || name == "upper") return str_is_case(py_str(v), name == "upper");
  if (name == "odd" || name == "even" || name == "divisibleby") {
    Value d = name == "divisibleby" ? arg(0) : Value::integer(2);
    Value m = binary_op("%", v, d);
    bool zero = !truthy(m);
    return name == "odd" ? !zero : zero;
  }
  if (name == "sameas") {
    const Value& o = arg(0);
    if (v.kind != o.kind) return false;
    if (v.is_list()) return v.list == o.list;
    if (v.is_dict() || v.kind == Kind::Namespace) return v.dict == o.dict;
    return py_eq(v, o);
  }
  if (name == "eq" || name == "equalto" || name == "==") return py_eq(v, arg(0));
  if (name == "ne" || name == "!=") return !py_eq(v, arg(0));
  if (name == "lt" || name == "lessthan" || name == "<") return py_cmp(v, arg(0), "<") < 0;
  if (name == "le" || name == "<=") return py_cmp(v, arg(0), "<=") <= 0;
  if (name == "gt" || name == "greaterthan" || name == ">") return py_cmp(v, arg(0), ">") > 0;
  if (name == "ge" || name == ">=") return py_cmp(v, arg(0), ">=") >= 0;
  if (name == "in") {
    const Value& seq = arg(0);
    if (seq.is_string()) return v.is_string() && seq.s.find(v.s) != std::string::npos;
    if (seq.is_dict()) return v.is_string() && seq.dict->find(v.s);
    for (const auto& x : iterate(seq))
      if (py_eq(x, v)) return true;
    return false;
  }
  if (name == "filter") return v.is_string() && is_known_filter(v.s);
  if (name == "test") return v.is_string() && is_known_test(v.s);
  throw RenderError("no test named '" + name + "'");
}

Value Evaluator::apply_filter(const std::string& name, const Value& v, CallArgs& a, Scope& scope) {
  if (name == "default" || name == "d") {
    Value dflt = a.take(0, "default_value").value_or(Value::string(""));
    bool boolean = arg_bool(a.take(1, "boolean"), false);
    return v.is_undefined() || (boolean && !truthy(v)) ? dflt : v;
  }
  if (name == "length" || name == "count") return Value::integer(len_of(v));
  if (name == "string") return Value::string(py_str(v));
  if (name == "safe") return v;
  if (name == "e" || name == "escape" || name == "forceescape") return Value::string(html_escape(py_str(v)));
  if (name == "trim") return Value::string(str_strip(py_str(v), chars_arg(a.take(0, "chars")), true, true));
  if (name == "upper") return Value::string(str_upper(py_str(v)));
  if (name == "lower") return Value::string(str_lower(py_str(v)));
  if (name == "capitalize") return Value::string(str_capitalize(py_str(v)));
  if (name == "title") return Value::string(jinja_title(py_str(v)));
  if (name == "replace") {
    if (a.pos.size() < 2) throw RenderError("replace filter expects old and new");
    return Value::string(str_replace(py_str(v), py_str(a.pos[0]), py_str(a.pos[1]), arg_int(a.take(2, "count"), -1)));
  }
  if (name == "tojson") {
    // transformers' tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False).
    bool ensure_ascii = arg_bool(a.take(0, "ensure_ascii"), false);
    std::optional<Value> indent_v = a.take(1, "indent");
    std::optional<Value> seps = a.take(2, "separators");
    bool sort_keys = arg_bool(a.take(3, "sort_keys"), false);
    std::optional<std::string> indent;
    if (indent_v && !indent_v->is_none()) {
      if (indent_v->is_string())
        indent = indent_v->s;
      else
        indent = std::string(static_cast<size_t>(std::max<int64_t>(0, arg_int(indent_v, 0))), ' ');
    }
    std::string item_sep = indent ? "," : ", ", key_sep = ": ";
    if (seps && !seps->is_none()) {
      if (!seps->is_list() || seps->list->size() != 2) throw RenderError("tojson: separators must be a pair");
      item_sep = py_str((*seps->list)[0]);
      key_sep = py_str((*seps->list)[1]);
    }
    return Value::string(to_json_text(v, indent, item_sep, key_sep, sort_keys, ensure_ascii));
  }
  if (name == "join") {
    std::string d = arg_str(a.take(0, "d"), "");
    std::optional<Value> attribute = a.take(1, "attribute");
    std::string out;
    bool first = true;
    for (const auto& x : iterate(v)) {
      if (!first) out += d;
      first = false;
      out += py_str(attribute && !attribute->is_none() ? get_path(*this, x, *attribute) : x);
    }
    return Value::string(std::move(out));
  }
  if (name == "first") {
    List items = iterate(v);
    return items.empty() ? Value::undefined("No first item, sequence was empty.") : items.front();
  }
  if (name == "last") {
    List items = iterate(v);
    return items.empty() ? Value::undefined("No last item, sequence was empty.") : items.back();
  }
  if (name == "list") return Value::make_list(iterate(v));
  if (name == "items") {
    if (v.is_undefined()) return Value::make_list({});
    if (!v.is_dict()) throw RenderError("Can only get item pairs from a mapping.");
    return method_of(v, "items").fn->call(*this, a);
  }
  if (name == "reverse") {
    if (v.is_string()) {
      std::vector<std::string> chars = utf8_chars(v.s);
      std::string out;
      for (auto it = chars.rbegin(); it != chars.rend(); ++it) out += *it;
      return Value::string(out);
    }
    List items = iterate(v);
    std::reverse(items.begin(), items.end());
    return Value::make_list(std::move(items));
  }
  if (name == "int") {
    int64_t dflt = arg_int(a.take(0, "default"), 0);
    if (v.is_integral()) return Value::integer(v.as_int());
    if (v.kind == Kind::Float && std::isfinite(v.f)) return Value::integer(static_cast<int64_t>(v.f));
    if (v.is_string()) {
      int64_t i;
      double f;
      if (parse_py_int(v.s, i)) return Value::integer(i);
      if (parse_py_float(v.s, f) && std::isfinite(f)) return Value::integer(static_cast<int64_t>(f));
    }
    return Value::integer(dflt);
  }
  if (name == "float") {
    std::optional<Value> dflt = a.take(0, "default");
    if (v.is_number()) return Value::number(v.as_double());
    double f;
    if (v.is_string() && parse_py_float(v.s, f)) return Value::number(f);
    return dflt ? *dflt : Value::number(0.0);
  }
  if (name == "abs") {
    if (v.kind == Kind::Float) return Value::number(std::fabs(v.f));
    if (v.is_integral()) return Value::integer(std::llabs(v.as_int()));
    throw RenderError("bad operand type for abs(): '" + type_name(v) + "'");
  }
  if (name == "round") {
    int64_t precision = arg_int(a.take(0, "precision"), 0);
    return round_value(v, precision, arg_str(a.take(1, "method"), "common"));
  }
  if (name == "sort" || name == "unique" || name == "min" || name == "max") {
    bool reverse = name == "sort" ? arg_bool(a.take(0, "reverse"), false) : false;
    size_t off = name == "sort" ? 1 : 0;
    bool case_sensitive = arg_bool(a.take(off, "case_sensitive"), false);
    std::optional<Value> attribute = a.take(off + 1, "attribute");
    List items = iterate(v);
    std::vector<Value> keys;
    for (const auto& x : items) keys.push_back(sort_key(*this, x, attribute, case_sensitive));
    if (name == "unique") {
      List out;
      std::vector<Value> seen;
      for (size_t k = 0; k < items.size(); ++k) {
        if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return py_eq(s, keys[k]); })) continue;
        seen.push_back(keys[k]);
        out.push_back(items[k]);
      }
      return Value::make_list(std::move(out));
    }
    std::vector<size_t> order(items.size());
    for (size_t k = 0; k < order.size(); ++k) order[k] = k;
    if (name == "sort") {
      std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
        return reverse ? py_cmp(keys[y], keys[x], "<") < 0 : py_cmp(keys[x], keys[y], "<") < 0;
      });
      List out;
      for (size_t k : order) out.push_back(items[k]);
      return Value::make_list(std::move(out));
    }
    if (items.empty()) return Value::undefined("No aggregated item, sequence was empty.");
    size_t best = 0;
    for (size_t k = 1; k < items.size(); ++k) {
      int c = py_cmp(keys[k], keys[best], "<");
      if (name == "min" ? c < 0 : c > 0) best = k;
    }
    return items[best];
  }
  if (name == "dictsort") {
    if (!v.is_dict()) throw RenderError("dictsort: expected a mapping");
    bool case_sensitive = arg_bool(a.take(0, "case_sensitive"), false);
    std::string by = arg_str(a.take(1, "by"), "key");
    bool reverse = arg_bool(a.take(2, "reverse"), false);
    List items;
    for (const auto& [k, x] : v.dict->items) items.push_back(Value::make_list({Value::string(k), x}, true));
    size_t pos = by == "value" ? 1 : 0;
    auto key = [&](const Value& item) {
      Value k = (*item.list)[pos];
      if (!case_sensitive && k.is_string()) k.s = str_lower(k.s);
      return k;
    };
    std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
      return reverse ? py_cmp(key(y), key(x), "<") < 0 : py_cmp(key(x), key(y), "<") < 0;
    });
    return Value::make_list(std::move(items));
  }
  if (name == "sum") {
    std::optional<Value> attribute = a.take(0, "attribute");
    Value total = a.take(1, "start").value_or(Value::integer(0));
    if (total.is_string()) throw RenderError("sum() can't sum strings [use ''.join(seq) instead]");
    for (const auto& x : iterate(v))
      total = binary_op("+", total, attribute && !attribute->is_none() ? get_path(*this, x, *attribute) : x);
    return total;
  }
  if (name == "map") {
    List out;
    if (const Value* attr = a.kwarg("attribute")) {
      const Value* dflt = a.kwarg("default");
      for (const auto& x : iterate(v)) {
        Value r = get_path(*this, x, *attr);
        out.push_back(r.is_undefined() && dflt ? *dflt : r);
      }
      return Value::make_list(std::move(out));
    }
    if (a.pos.empty()) throw RenderError("map requires a filter name or attribute=");
    std::string filter = py_str(a.pos[0]);
    if (!is_known_filter(filter)) throw RenderError("no filter named '" + filter + "'");
    for (const auto& x : iterate(v)) {
      CallArgs sub;
      sub.pos.assign(a.pos.begin() + 1, a.pos.end());
      sub.kw = a.kw;
      out.push_back(apply_filter(filter, x, sub, scope));
    }
    return Value::make_list(std::move(out));
  }
  if (name == "select" || name == "reject" || name == "selectattr" || name == "rejectattr") {
    bool attr_mode = name.size() > 6;
    bool want = name[0] == 's';
    size_t off = attr_mode ? 1 : 0;
    if (attr_mode && a.pos.empty()) throw RenderError(name + " requires an attribute name");
    std::string test = a.pos.size() > off ? py_str(a.pos[off]) : std::string();
    if (!test.empty() && !is_known_test(test)) throw RenderError("no test named '" + test + "'");
    List out;
    for (const auto& x : iterate(v)) {
      Value subject = attr_mode ? get_path(*this, x, a.pos[0]) : x;
      bool ok;
      if (test.empty()) {
        ok = truthy(subject);
      } else {
        CallArgs sub;
        sub.pos.assign(a.pos.begin() + off + 1, a.pos.end());
        sub.kw = a.kw;
        ok = apply_test(test, subject, sub);
      }
      if (ok == want) out.push_back(x);
    }
    return Value::make_list(std::move(out));
  }
  if (name == "indent") {
    std::optional<Value> width = a.take(0, "width");
    bool first = arg_bool(a.take(1, "first"), false);
    bool blank = arg_bool(a.take(2, "blank"), false);
    std::string ind = width && width->is_string()
                          ? width->s
                          : std::string(static_cast<size_t>(std::max<int64_t>(0, arg_int(width, 4))), ' ');
    std::string s = py_str(v) + "\n";
    List lines = str_split(s, std::string("\n"), -1);
    // str.splitlines() of a string ending in "\n" yields no trailing empty line.
    std::vector<std::string> ls;
    for (size_t k = 0; k + 1 < lines.size(); ++k) {
      std::string l = lines[k].s;
      if (!l.empty() && l.back() == '\r') l.pop_back();
      ls.push_back(l);
    }
    std::string rv;
    if (blank) {
      for (size_t k = 0; k < ls.size(); ++k) rv += (k ? "\n" + ind : "") + ls[k];
    } else {
      rv = ls.empty() ? "" : ls[0];
      for (size_t k = 1; k < ls.size(); ++k) rv += "\n" + (ls[k].empty() ? "" : ind + ls[k]);
    }
    if (first) rv = ind + rv;
    return Value::string(rv);
  }
  if (name == "center") {
    int64_t width = arg_int(a.take(0, "width"), 80);
    std::string s = py_str(v);
    int64_t n = static_cast<int64_t>(utf8_length(s));
    if (width <= n) return Value::string(s);
    int64_t marg = width - n, left = marg / 2 + (marg & width & 1);
    return Value::string(std::string(left, ' ') + s + std::string(marg - left, ' '));
  }
  if (name == "truncate") {
    std::string s = py_str(v);
    int64_t length = arg_int(a.take(0, "length"), 255);
    bool killwords = arg_bool(a.take(1, "killwords"), false);
    std::string end = arg_str(a.take(2, "end"), "...");
    int64_t leeway = arg_int(a.take(3, "leeway"), 5);
    std::vector<std::string> chars = utf8_chars(s);
    if (static_cast<int64_t>(chars.size()) <= length + leeway) return Value::string(s);
    std::string head;
    int64_t keep = std::max<int64_t>(0, length - static_cast<int64_t>(utf8_length(end)));
    for (int64_t k = 0; k < keep && k < static_cast<int64_t>(chars.size()); ++k) head += chars[k];
    if (!killwords) {
      size_t sp = head.rfind(' ');
      if (sp != std::string::npos) head = head.substr(0, sp);
    }
    return Value::string(head + end);
  }
  if (name == "wordcount") {
    std::string s = py_str(v);
    int64_t n = 0;
    bool in_word = false;
    for (unsigned char c : s) {
      bool w = std::isalnum(c) || c == '_' || c >= 0x80;
      if (w && !in_word) ++n;
      in_word = w;
    }
    return Value::integer(n);
  }
  if (name == "format") {
    if (!a.pos.empty() && !a.kw.empty())
      throw RenderError("can't handle positional and keyword arguments at the same time");
    Value args;
    if (!a.kw.empty()) {
      args = Value::make_dict();
      for (const auto& [k, x] : a.kw) args.dict->set(k, x);
    } else {
      args = Value::make_list(a.pos, true);
    }
    return Value::string(percent_format(py_str(v), args));
  }
  if (name == "batch") {
    int64_t size = arg_int(a.take(0, "linecount"), 0);
    if (size <= 0) throw RenderError("batch size must be positive");
    std::optional<Value> fill = a.take(1, "fill_with");
    List out, cur;
    for (const auto& x : iterate(v)) {
      cur.push_back(x);
      if (static_cast<int64_t>(cur.size()) == size) {
        out.push_back(Value::make_list(std::move(cur)));
        cur.clear();
      }
    }
    if (!cur.empty()) {
      if (fill && !fill->is_none())
        while (static_cast<int64_t>(cur.size()) < size) cur.push_back(*fill);
      out.push_back(Value::make_list(std::move(cur)));
    }
    return Value::make_list(std::move(out));
  }
  if (name == "attr") {
    if (a.pos.empty()) throw RenderError("attr requires a name");
    std::string attr = py_str(a.pos[0]);
    if (v.is_dict()) {
      Value m = method_of(v, attr);
      return m.is_undefined() ? Value::undefined("'dict object' has no attribute '" + attr + "'") : m;
    }
    return get_attr(v, attr);
  }
  throw RenderError("no filter named '" + name + "'");
}

}  // namespace ember::lm::tpl
