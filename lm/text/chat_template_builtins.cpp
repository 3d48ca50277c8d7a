// Chat-template builtins: Python str/dict/list methods and the globals of transformers'
// chat-template environment (range, namespace, dict, raise_exception, strftime_now).
#include <algorithm>
#include <cstdio>

#include "lm/text/chat_template_ast.h"

namespace ember::lm::tpl {

namespace {

Value make_fn(std::string name, std::function<Value(Evaluator&, CallArgs&)> call) {
  auto fn = std::make_shared<Function>();
  fn->name = std::move(name);
  fn->call = std::move(call);
  Value v;
  v.kind = Kind::Function;
  v.fn = std::move(fn);
  return v;
}

}  // namespace

std::string arg_str(const std::optional<Value>& v, const std::string& dflt) {
  return v && !v->is_none() ? py_str(*v) : dflt;
}

bool arg_bool(const std::optional<Value>& v, bool dflt) { return v ? truthy(*v) : dflt; }

int64_t arg_int(const std::optional<Value>& v, int64_t dflt) {
  if (!v || v->is_none()) return dflt;
  if (!v->is_integral()) throw RenderError("expected an integer argument, got " + type_name(*v));
  return v->as_int();
}

std::optional<std::string> chars_arg(const std::optional<Value>& v) {
  if (!v || v->is_none() || v->is_undefined()) return std::nullopt;
  return py_str(*v);
}

int64_t len_of(const Value& v) {
  switch (v.kind) {
    case Kind::Undefined:
      return 0;
    case Kind::String:
      return static_cast<int64_t>(utf8_length(v.s));
    case Kind::List:
      return static_cast<int64_t>(v.list->size());
    case Kind::Dict:
      return static_cast<int64_t>(v.dict->items.size());
    default:
      throw RenderError("object of type '" + type_name(v) + "' has no len()");
  }
}

List iterate(const Value& v) {
  switch (v.kind) {
    case Kind::Undefined:
      return {};
    case Kind::String: {
      List out;
      for (auto& c : utf8_chars(v.s)) out.push_back(Value::string(std::move(c)));
      return out;
    }
    case Kind::List:
      return *v.list;
    case Kind::Dict: {
      List out;
      for (const auto& kv : v.dict->items) out.push_back(Value::string(kv.first));
      return out;
    }
    default:
      throw RenderError("'" + type_name(v) + "' object is not iterable");
  }
}

Value lookup_global(const std::string& name) {
  if (name == "range")
    return make_fn("range", [](Evaluator&, CallArgs& a) -> Value {
      if (a.pos.empty() || a.pos.size() > 3) throw RenderError("range expected 1 to 3 arguments");
      for (const auto& x : a.pos)
        if (!x.is_integral()) throw RenderError("'" + type_name(x) + "' object cannot be interpreted as an integer");
      int64_t start = 0, stop, step = 1;
      if (a.pos.size() == 1)
        stop = a.pos[0].as_int();
      else {
        start = a.pos[0].as_int();
        stop = a.pos[1].as_int();
        if (a.pos.size() == 3) step = a.pos[2].as_int();
      }
      if (step == 0) throw RenderError("range() arg 3 must not be zero");
      int64_t n = step > 0 ? (stop > start ? (stop - start + step - 1) / step : 0)
                           : (start > stop ? (start - stop - step - 1) / -step : 0);
      if (n > 100000) throw RenderError("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
      List out;
      for (int64_t k = 0; k < n; ++k) out.push_back(Value::integer(start + k * step));
      return Value::make_list(std::move(out));
    });
  if (name == "namespace" || name == "dict")
    return make_fn(name, [name](Evaluator& ev, CallArgs& a) -> Value {
      Value ns = name == "dict" ? Value::make_dict() : Value::make_namespace();
      if (name == "namespace") ev.track_namespace(ns.dict);
      for (const auto& p : a.pos) {
        if (!p.is_dict()) throw RenderError(name + "() positional argument must be a mapping");
        for (const auto& [k, v] : p.dict->items) ns.dict->set(k, v);
      }
      for (const auto& [k, v] : a.kw) ns.dict->set(k, v);
      return ns;
    });
  if (name == "raise_exception")
    return make_fn(name, [](Evaluator&, CallArgs& a) -> Value {
      throw TemplateRaise(a.pos.empty() ? std::string() : py_str(a.pos[0]));
    });
  if (name == "strftime_now")
    return make_fn(name, [](Evaluator& ev, CallArgs& a) -> Value {
      std::string fmt = a.pos.empty() ? std::string() : py_str(a.pos[0]);
      std::tm tm{};
      if (ev.fixed_time()) {
        tm = *ev.fixed_time();
      } else {
        std::time_t now = std::time(nullptr);
        localtime_r(&now, &tm);
      }
      if (fmt.empty()) return Value::string("");
      std::vector<char> buf(256 + fmt.size() * 16);
      size_t n = std::strftime(buf.data(), buf.size(), fmt.c_str(), &tm);
      return Value::string(std::string(buf.data(), n));
    });
  return Value::undefined("'" + name + "' is undefined");
}

Value method_of(const Value& obj, const std::string& name) {
  if (obj.is_string()) {
    const std::string s = obj.s;
    auto str_fn = [&](std::function<Value(CallArgs&)> f) {
      return make_fn(name, [f](Evaluator&, CallArgs& a) { return f(a); });
    };
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
      bool l = name != "rstrip", r = name != "lstrip";
      return str_fn(
          [s, l, r](CallArgs& a) { return Value::string(str_strip(s, chars_arg(a.take(0, "chars")), l, r)); });
    }
    if (name == "split" || name == "rsplit") {
      bool rs = name == "rsplit";
      return str_fn([s, rs](CallArgs& a) {
        auto sep = chars_arg(a.take(0, "sep"));
        int64_t maxsplit = arg_int(a.take(1, "maxsplit"), -1);
        if (!rs || maxsplit < 0) return Value::make_list(str_split(s, sep, maxsplit));
        if (!sep) throw RenderError("rsplit with maxsplit needs a separator here");
        List out;
        size_t end = s.size();
        for (int64_t k = 0; k < maxsplit; ++k) {
          size_t q = end >= sep->size() ? s.rfind(*sep, end - sep->size()) : std::string::npos;
          if (q == std::string::npos) break;
          out.insert(out.begin(), Value::string(s.substr(q + sep->size(), end - q - sep->size())));
          end = q;
        }
        out.insert(out.begin(), Value::string(s.substr(0, end)));
        return Value::make_list(std::move(out));
      });
    }
    if (name == "splitlines")
      return str_fn([s](CallArgs&) {
        List out;
        size_t p = 0;
        while (p < s.size()) {
          size_t q = s.find_first_of("\r\n", p);
          if (q == std::string::npos) {
            out.push_back(Value::string(s.substr(p)));
            break;
          }
          out.push_back(Value::string(s.substr(p, q - p)));
          p = q + ((s[q] == '\r' && q + 1 < s.size() && s[q + 1] == '\n') ? 2 : 1);
        }
        return Value::make_list(std::move(out));
      });
    if (name == "startswith" || name == "endswith") {
      bool st = name == "startswith";
      return str_fn([s, st](CallArgs& a) {
        if (a.pos.empty()) throw RenderError("startswith/endswith takes an argument");
        return Value::boolean(str_affix(s, a.pos[0], st));
      });
    }
    if (name == "upper") return str_fn([s](CallArgs&) { return Value::string(str_upper(s)); });
    if (name == "format") return str_fn([s](CallArgs& a) { return Value::string(str_format(s, a)); });
    if (name == "swapcase") return str_fn([s](CallArgs&) { return Value::string(str_swapcase(s)); });
    if (name == "lower") return str_fn([s](CallArgs&) { return Value::string(str_lower(s)); });
    if (name == "title") return str_fn([s](CallArgs&) { return Value::string(str_title(s)); });
    if (name == "capitalize") return str_fn([s](CallArgs&) { return Value::string(str_capitalize(s)); });
    if (name == "replace")
      return str_fn([s](CallArgs& a) {
        if (a.pos.size() < 2) throw RenderError("replace expected at least 2 arguments");
        return Value::string(str_replace(s, py_str(a.pos[0]), py_str(a.pos[1]), arg_int(a.take(2, "count"), -1)));
      });
    if (name == "find" || name == "rfind" || name == "index" || name == "rindex") {
      bool rev = name[0] == 'r', raise = name.find("index") != std::string::npos;
      return str_fn([s, rev, raise](CallArgs& a) {
        if (a.pos.empty()) throw RenderError("find expected an argument");
        std::string sub = py_str(a.pos[0]);
        size_t q = rev ? s.rfind(sub) : s.find(sub);
        if (q == std::string::npos) {
          if (raise) throw RenderError("substring not found");
          return Value::integer(-1);
        }
        return Value::integer(static_cast<int64_t>(utf8_length(s.substr(0, q))));
      });
    }
    if (name == "count")
      return str_fn([s](CallArgs& a) {
        if (a.pos.empty()) throw RenderError("count expected an argument");
        return Value::integer(str_count(s, py_str(a.pos[0])));
      });
    if (name == "join")
      return str_fn([s](CallArgs& a) {
        if (a.pos.empty()) throw RenderError("join expected an argument");
        std::string out;
        bool first = true;
        for (const auto& x : iterate(a.pos[0])) {
          if (!x.is_string()) throw RenderError("sequence item: expected str instance, " + type_name(x) + " found");
          if (!first) out += s;
          first = false;
          out += x.s;
        }
        return Value::string(std::move(out));
      });
    if (name == "isdigit" || name == "isalpha" || name == "isalnum" || name == "isspace" || name == "isupper" ||
        name == "islower") {
      std::string n = name;
      return str_fn([s, n](CallArgs&) {
        if (n == "isupper" || n == "islower") return Value::boolean(str_is_case(s, n == "isupper"));
        if (s.empty()) return Value::boolean(false);
        for (size_t p = 0; p < s.size();) {
          uint32_t cp = decode_utf8(s, p);
          bool ok = n == "isspace"   ? is_py_space(cp)
                    : cp >= 0x80     ? n != "isdigit"
                    : n == "isdigit" ? std::isdigit(static_cast<int>(cp)) != 0
                    : n == "isalpha" ? std::isalpha(static_cast<int>(cp)) != 0
                                     : std::isalnum(static_cast<int>(cp)) != 0;
          if (!ok) return Value::boolean(false);
        }
        return Value::boolean(true);
      });
    }
    return Value::undefined();
  }
  if (obj.is_dict()) {
    auto d = obj.dict;
    if (name == "items")
      return make_fn(name, [d](Evaluator&, CallArgs&) {
        List out;
        for (const auto& [k, v] : d->items) out.push_back(Value::make_list({Value::string(k), v}, true));
        return Value::make_list(std::move(out));
      });
    if (name == "keys")
      return make_fn(name, [d](Evaluator&, CallArgs&) {
        List out;
        for (const auto& kv : d->items) out.push_back(Value::string(kv.first));
        return Value::make_list(std::move(out));
      });
    if (name == "values")
      return make_fn(name, [d](Evaluator&, CallArgs&) {
        List out;
        for (const auto& kv : d->items) out.push_back(kv.second);
        return Value::make_list(std::move(out));
      });
    if (name == "get")
      return make_fn(name, [d](Evaluator&, CallArgs& a) {
        if (a.pos.empty()) throw RenderError("get expected at least 1 argument");
        if (a.pos[0].is_string())
          if (const Value* v = d->find(a.pos[0].s)) return *v;
        return a.pos.size() > 1 ? a.pos[1] : Value::none();
      });
    return Value::undefined();
  }
  if (obj.is_list()) {
    auto l = obj.list;
    if (name == "index" || name == "count") {
      bool idx = name == "index";
      return make_fn(name, [l, idx](Evaluator&, CallArgs& a) {
        if (a.pos.empty()) throw RenderError("expected an argument");
        int64_t n = 0;
        for (size_t k = 0; k < l->size(); ++k)
          if (py_eq((*l)[k], a.pos[0])) {
            if (idx) return Value::integer(static_cast<int64_t>(k));
            ++n;
          }
        if (idx) throw RenderError(py_repr(a.pos[0]) + " is not in list");
        return Value::integer(n);
      });
    }
  }
  return Value::undefined();
}

}  // namespace ember::lm::tpl
