// Chat-template string operations with Python semantics: str methods, case mapping, %-formatting.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "lm/text/chat_template_ast.h"

namespace ember::lm::tpl {

namespace {

// Case mapping for ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic (the scripts chat text
// mostly uses); other code points are uncased and pass through.
uint32_t cp_upper(uint32_t c) {
  if (c >= 'a' && c <= 'z') return c - 32;
  if (c < 0x80) return c;
  if ((c >= 0xe0 && c <= 0xfe && c != 0xf7)) return c - 0x20;
  if (c == 0xff) return 0x178;
  if (c == 0xb5) return 0x39c;
  if (c >= 0x100 && c <= 0x17f) {
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e)) return (c % 2 == 0) ? c - 1 : c;
    if (c == 0x131) return 'I';
    if (c == 0x17f) return 'S';
    if (c == 0x138 || c == 0x149 || c == 0x130) return c;
    return (c % 2 == 1) ? c - 1 : c;
  }
  if (c >= 0x3b1 && c <= 0x3c9 && c != 0x3c2) return c - 0x20;
  if (c == 0x3c2) return 0x3a3;
  if (c >= 0x3ac && c <= 0x3af) return c == 0x3ac ? 0x386 : c - 0x25;
  if (c >= 0x430 && c <= 0x44f) return c - 0x20;
  if (c >= 0x450 && c <= 0x45f) return c - 0x50;
  return c;
}
uint32_t cp_lower(uint32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c < 0x80) return c;
  if (c >= 0xc0 && c <= 0xde && c != 0xd7) return c + 0x20;
  if (c == 0x178) return 0xff;
  if (c >= 0x100 && c <= 0x17f) {
    if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e)) return (c % 2 == 1) ? c + 1 : c;
    if (c == 0x130) return 'i';
    if (c == 0x131 || c == 0x138 || c == 0x149 || c == 0x17f) return c;
    return (c % 2 == 0) ? c + 1 : c;
  }
  if (c >= 0x391 && c <= 0x3a9 && c != 0x3a2) return c + 0x20;
  if (c == 0x386) return 0x3ac;
  if (c >= 0x388 && c <= 0x38a) return c + 0x25;
  if (c >= 0x410 && c <= 0x42f) return c + 0x20;
  if (c >= 0x400 && c <= 0x40f) return c + 0x50;
  return c;
}
bool cp_cased(uint32_t c) { return cp_upper(c) != c || cp_lower(c) != c || c == 0xdf; }

// Maps each code point of `s` with f(cp, index, previous code point cased?).
template <class F>
std::string map_cps(const std::string& s, F f) {
  std::string out;
  bool prev_cased = false;
  size_t k = 0;
  for (size_t p = 0; p < s.size(); ++k) {
    uint32_t cp = decode_utf8(s, p);
    uint32_t m = f(cp, k, prev_cased);
    if (m == 0xdf + 0x1000000)
      out += "SS";  // sharp s upper-cases to two letters
    else
      append_utf8(out, m);
    prev_cased = cp_cased(cp);
  }
  return out;
}
uint32_t up_full(uint32_t c) { return c == 0xdf ? 0xdf + 0x1000000 : cp_upper(c); }
}  // namespace

std::string str_upper(const std::string& s) {
  return map_cps(s, [](uint32_t c, size_t, bool) { return up_full(c); });
}
std::string str_lower(const std::string& s) {
  return map_cps(s, [](uint32_t c, size_t, bool) { return cp_lower(c); });
}
std::string str_capitalize(const std::string& s) {
  return map_cps(s, [](uint32_t c, size_t k, bool) { return k == 0 ? up_full(c) : cp_lower(c); });
}
// Python str.title(): a cased letter is upper-cased after an uncased character, lower-cased otherwise.
std::string str_title(const std::string& s) {
  return map_cps(s, [](uint32_t c, size_t, bool prev) { return prev ? cp_lower(c) : up_full(c); });
}
bool is_word_sep(uint32_t c) { return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || is_py_space(c); }
// jinja2's title filter: words start after whitespace and - ( { [ <.
std::string jinja_title(const std::string& s) {
  std::string out;
  bool start = true;
  for (size_t p = 0; p < s.size();) {
    uint32_t c = decode_utf8(s, p);
    bool sep = is_word_sep(c);
    uint32_t m = sep ? c : start ? up_full(c) : cp_lower(c);
    if (m == 0xdf + 0x1000000)
      out += "SS";
    else
      append_utf8(out, m);
    start = sep;
  }
  return out;
}

// str.strip family: `chars` empty-optional means Python whitespace.
std::string str_strip(const std::string& s, const std::optional<std::string>& chars, bool left, bool right) {
  std::vector<uint32_t> set;
  if (chars)
    for (size_t p = 0; p < chars->size();) set.push_back(decode_utf8(*chars, p));
  auto drop = [&](uint32_t cp) { return chars ? std::find(set.begin(), set.end(), cp) != set.end() : is_py_space(cp); };
  std::vector<size_t> starts;
  std::vector<uint32_t> cps;
  for (size_t p = 0; p < s.size();) {
    starts.push_back(p);
    cps.push_back(decode_utf8(s, p));
  }
  size_t lo = 0, hi = cps.size();
  if (left)
    while (lo < hi && drop(cps[lo])) ++lo;
  if (right)
    while (hi > lo && drop(cps[hi - 1])) --hi;
  size_t b = lo < starts.size() ? starts[lo] : s.size();
  size_t e = hi < starts.size() ? starts[hi] : s.size();
  return s.substr(b, e - b);
}

List str_split(const std::string& s, const std::optional<std::string>& sep, int64_t maxsplit) {
  List out;
  if (!sep) {
    size_t p = 0;
    int64_t splits = 0;
    while (true) {
      while (p < s.size()) {  // skip whitespace
        size_t q = p;
        if (!is_py_space(decode_utf8(s, q))) break;
        p = q;
      }
      if (p >= s.size()) break;
      if (maxsplit >= 0 && splits >= maxsplit) {
        out.push_back(Value::string(str_strip(s.substr(p), std::nullopt, false, true)));
        break;
      }
      size_t q = p;
      while (q < s.size()) {
        size_t r = q;
        if (is_py_space(decode_utf8(s, r))) break;
        q = r;
      }
      out.push_back(Value::string(s.substr(p, q - p)));
      ++splits;
      p = q;
    }
    return out;
  }
  if (sep->empty()) throw RenderError("empty separator");
  size_t p = 0;
  int64_t splits = 0;
  while (maxsplit < 0 || splits < maxsplit) {
    size_t q = s.find(*sep, p);
    if (q == std::string::npos) break;
    out.push_back(Value::string(s.substr(p, q - p)));
    p = q + sep->size();
    ++splits;
  }
  out.push_back(Value::string(s.substr(p)));
  return out;
}

std::string str_replace(const std::string& s, const std::string& old, const std::string& repl, int64_t count) {
  std::string out;
  if (old.empty()) {
    std::vector<std::string> chars = utf8_chars(s);
    int64_t n = 0;
    for (size_t k = 0; k <= chars.size(); ++k) {
      if (count < 0 || n < count) {
        out += repl;
        ++n;
      }
      if (k < chars.size()) out += chars[k];
    }
    return out;
  }
  size_t p = 0;
  int64_t n = 0;
  while (count < 0 || n < count) {
    size_t q = s.find(old, p);
    if (q == std::string::npos) break;
    out.append(s, p, q - p);
    out += repl;
    p = q + old.size();
    ++n;
  }
  out.append(s, p, std::string::npos);
  return out;
}

int64_t str_count(const std::string& s, const std::string& sub) {
  if (sub.empty()) return static_cast<int64_t>(utf8_length(s)) + 1;
  int64_t n = 0;
  for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
  return n;
}

bool str_affix(const std::string& s, const Value& affix, bool start) {
  auto one = [&](const std::string& a) {
    if (a.size() > s.size()) return false;
    return start ? s.compare(0, a.size(), a) == 0 : s.compare(s.size() - a.size(), a.size(), a) == 0;
  };
  if (affix.is_list()) {
    for (const auto& a : *affix.list)
      if (a.is_string() && one(a.s)) return true;
    return false;
  }
  if (!affix.is_string()) throw RenderError("startswith/endswith first arg must be str or a tuple of str");
  return one(affix.s);
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

bool str_is_case(const std::string& s, bool upper_case) {
  bool any = false;
  for (size_t p = 0; p < s.size();) {
    uint32_t c = decode_utf8(s, p);
    if (!cp_cased(c)) continue;
    any = true;
    if (upper_case ? cp_upper(c) != c : cp_lower(c) != c) return false;
  }
  return any;
}

bool parse_py_int(std::string s, int64_t& out) {
  s = str_strip(s, std::nullopt, true, true);
  std::string digits;
  for (size_t k = 0; k < s.size(); ++k) {
    if (s[k] == '_' && k > 0 && k + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[k - 1])) &&
        std::isdigit(static_cast<unsigned char>(s[k + 1])))
      continue;
    digits += s[k];
  }
  if (digits.empty()) return false;
  size_t start = digits[0] == '+' || digits[0] == '-' ? 1 : 0;
  if (start == digits.size()) return false;
  for (size_t k = start; k < digits.size(); ++k)
    if (!std::isdigit(static_cast<unsigned char>(digits[k]))) return false;
  try {
    out = std::stoll(digits);
  } catch (const std::exception&) {
    return false;
  }
  return true;
}

bool parse_py_float(const std::string& raw, double& out) {
  std::string s = str_strip(raw, std::nullopt, true, true);
  if (s.empty()) return false;
  std::string l = str_lower(s);
  std::string body = (l[0] == '+' || l[0] == '-') ? l.substr(1) : l;
  if (body == "inf" || body == "infinity" || body == "nan") {
    out = body == "nan" ? NAN : (l[0] == '-' ? -INFINITY : INFINITY);
    return true;
  }
  for (char c : body)
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == 'e' || c == '+' || c == '-' || c == '_'))
      return false;
  char* end = nullptr;
  std::string clean;
  for (char c : s)
    if (c != '_') clean += c;
  out = std::strtod(clean.c_str(), &end);
  return end && *end == '\0';
}

std::string percent_format(const std::string& fmt, const Value& args) {
  List items = args.is_list() && args.tuple ? *args.list : List{args};
  const Dict* mapping = args.is_dict() ? args.dict.get() : nullptr;
  size_t next = 0;
  bool used_mapping = false;
  std::string out;
  for (size_t k = 0; k < fmt.size(); ++k) {
    if (fmt[k] != '%') {
      out += fmt[k];
      continue;
    }
    if (++k >= fmt.size()) throw RenderError("incomplete format");
    const Value* arg = nullptr;
    if (fmt[k] == '(') {
      size_t close = fmt.find(')', k);
      if (close == std::string::npos || !mapping) throw RenderError("format requires a mapping");
      arg = mapping->find(fmt.substr(k + 1, close - k - 1));
      if (!arg) throw RenderError("KeyError: '" + fmt.substr(k + 1, close - k - 1) + "'");
      used_mapping = true;
      k = close + 1;
    }
    std::string flags;
    while (k < fmt.size() && std::string("-+ #0").find(fmt[k]) != std::string::npos) flags += fmt[k++];
    std::string width, precision;
    while (k < fmt.size() && std::isdigit(static_cast<unsigned char>(fmt[k]))) width += fmt[k++];
    bool has_precision = k < fmt.size() && fmt[k] == '.';
    if (has_precision) {
      ++k;
      while (k < fmt.size() && std::isdigit(static_cast<unsigned char>(fmt[k]))) precision += fmt[k++];
    }
    if (k >= fmt.size()) throw RenderError("incomplete format");
    char conv = fmt[k];
    if (conv == '%') {
      out += '%';
      continue;
    }
    if (!arg) {
      if (next >= items.size()) throw RenderError("not enough arguments for format string");
      arg = &items[next++];
    }
    std::string spec = "%" + flags + width + (has_precision ? "." + (precision.empty() ? "0" : precision) : "");
    char buf[512];
    if (conv == 's' || conv == 'r' || conv == 'a') {
      std::string text = conv == 's' ? py_str(*arg) : py_repr(*arg);
      if (has_precision) {
        std::vector<std::string> chars = utf8_chars(text);
        size_t keep = precision.empty() ? 0 : std::stoul(precision);
        if (chars.size() > keep) {
          text.clear();
          for (size_t c = 0; c < keep; ++c) text += chars[c];
        }
      }
      size_t w = width.empty() ? 0 : std::stoul(width), n = utf8_length(text);
      if (n < w)
        text = flags.find('-') != std::string::npos ? text + std::string(w - n, ' ') : std::string(w - n, ' ') + text;
      out += text;
    } else if (std::string("dixXouc").find(conv) != std::string::npos) {
      if (!arg->is_number())
        throw RenderError(std::string("%") + conv + " format: a real number is required, not " + type_name(*arg));
      long long x = arg->kind == Kind::Float ? static_cast<long long>(arg->f) : arg->as_int();
      std::snprintf(buf, sizeof(buf), (spec + "ll" + (conv == 'i' ? 'd' : conv == 'c' ? 'd' : conv)).c_str(), x);
      out += buf;
    } else if (std::string("feEgG").find(conv) != std::string::npos || conv == 'F') {
      if (!arg->is_number()) throw RenderError(std::string("must be real number, not ") + type_name(*arg));
      std::snprintf(buf, sizeof(buf), (spec + conv).c_str(), arg->as_double());
      out += buf;
    } else {
      throw RenderError(std::string("unsupported format character '") + conv + "'");
    }
  }
  if (!used_mapping && !mapping && next < items.size())
    throw RenderError("not all arguments converted during string formatting");
  return out;
}

namespace {
// One replacement field of str.format: [[fill]align][sign][width][.precision][type].
std::string format_field(const Value& v, const std::string& spec) {
  size_t k = 0;
  std::string fill = " ";
  char align = 0;
  auto is_align = [](char c) { return c == '<' || c == '>' || c == '^' || c == '='; };
  if (spec.size() >= 2 && is_align(spec[1])) {
    fill = spec.substr(0, 1);
    align = spec[1];
    k = 2;
  } else if (!spec.empty() && is_align(spec[0])) {
    align = spec[0];
    k = 1;
  }
  char sign = 0;
  if (k < spec.size() && (spec[k] == '+' || spec[k] == '-' || spec[k] == ' ')) sign = spec[k++];
  std::string width, precision;
  if (k < spec.size() && spec[k] == '0' && !align) {  // "05d": zero padding after the sign
    fill = "0";
    align = '=';
  }
  while (k < spec.size() && std::isdigit(static_cast<unsigned char>(spec[k]))) width += spec[k++];
  if (k < spec.size() && spec[k] == '.') {
    ++k;
    while (k < spec.size() && std::isdigit(static_cast<unsigned char>(spec[k]))) precision += spec[k++];
  }
  char type = k < spec.size() ? spec[k++] : 0;
  if (k != spec.size()) throw RenderError("unsupported format spec '" + spec + "'");
  std::string text;
  bool numeric = v.is_number() && type != 's';
  if (spec.empty()) return py_str(v);
  if (type == 0 && !numeric) type = 's';
  if (type == 's') {
    if (!v.is_string()) throw RenderError("format code 's' needs a str, got " + type_name(v));
    text = v.s;
    if (!precision.empty()) {
      std::vector<std::string> chars = utf8_chars(text);
      size_t keep = std::stoul(precision);
      if (chars.size() > keep) {
        text.clear();
        for (size_t c = 0; c < keep; ++c) text += chars[c];
      }
    }
  } else {
    if (!v.is_number()) throw RenderError(std::string("unknown format code '") + type + "' for " + type_name(v));
    std::string cspec = "%";
    if (sign == '+' || sign == ' ') cspec += sign;
    char buf[512];
    if (type == 0 && v.is_integral() && precision.empty()) {
      std::snprintf(buf, sizeof(buf), (cspec + "lld").c_str(), static_cast<long long>(v.as_int()));
    } else if (type == 0) {
      text = format_float(v.as_double());
      if (!precision.empty())
        std::snprintf(buf, sizeof(buf), (cspec + "." + precision + "g").c_str(), v.as_double());
      else
        std::snprintf(buf, sizeof(buf), "%s%s", (sign == '+' && v.as_double() >= 0) ? "+" : "", text.c_str());
    } else if (type == 'd' || type == 'x' || type == 'X' || type == 'o' || type == 'b') {
      if (!v.is_integral()) throw RenderError(std::string("unknown format code '") + type + "' for float");
      if (type == 'b') throw RenderError("format code 'b' is not supported");
      std::snprintf(buf, sizeof(buf), (cspec + "ll" + type).c_str(), static_cast<long long>(v.as_int()));
    } else if (type == 'f' || type == 'F' || type == 'e' || type == 'E' || type == 'g' || type == 'G' || type == '%') {
      double x = v.as_double() * (type == '%' ? 100 : 1);
      std::string p = "." + (precision.empty() ? std::string("6") : precision);
      std::snprintf(buf, sizeof(buf), (cspec + p + (type == '%' ? 'f' : type)).c_str(), x);
      if (type == '%') std::strcat(buf, "%");
    } else {
      throw RenderError(std::string("unsupported format code '") + type + "'");
    }
    text = buf;
  }
  size_t w = width.empty() ? 0 : std::stoul(width), n = utf8_length(text);
  if (n >= w) return text;
  if (!align) align = numeric ? '>' : '<';
  size_t pad = w - n, left = align == '>' || align == '=' ? pad : align == '^' ? pad / 2 : 0;
  std::string lpad, rpad;
  for (size_t c = 0; c < left; ++c) lpad += fill;
  for (size_t c = left; c < pad; ++c) rpad += fill;
  if (align == '=' && !text.empty() && (text[0] == '+' || text[0] == '-' || text[0] == ' '))
    return text.substr(0, 1) + lpad + text.substr(1) + rpad;
  return lpad + text + rpad;
}
}  // namespace

std::string str_format(const std::string& fmt, const CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  for (size_t k = 0; k < fmt.size(); ++k) {
    char c = fmt[k];
    if (c == '}') {
      if (k + 1 < fmt.size() && fmt[k + 1] == '}')
        ++k;
      else
        throw RenderError("Single '}' encountered in format string");
      out += '}';
      continue;
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (k + 1 < fmt.size() && fmt[k + 1] == '{') {
      out += '{';
      ++k;
      continue;
    }
    size_t close = fmt.find('}', k);
    if (close == std::string::npos) throw RenderError("Single '{' encountered in format string");
    std::string field = fmt.substr(k + 1, close - k - 1), spec, conv;
    k = close;
    if (size_t colon = field.find(':'); colon != std::string::npos) {
      spec = field.substr(colon + 1);
      field = field.substr(0, colon);
    }
    if (size_t bang = field.find('!'); bang != std::string::npos) {
      conv = field.substr(bang + 1);
      field = field.substr(0, bang);
    }
    const Value* v = nullptr;
    if (field.empty()) {
      if (auto_index >= args.pos.size())
        throw RenderError("Replacement index " + std::to_string(auto_index) + " out of range");
      v = &args.pos[auto_index++];
    } else if (std::all_of(field.begin(), field.end(), ::isdigit)) {
      size_t index = std::stoul(field);
      if (index >= args.pos.size()) throw RenderError("Replacement index " + field + " out of range");
      v = &args.pos[index];
    } else {
      v = args.kwarg(field);
      if (!v)
        throw RenderError("KeyError: '" + field + "' (attribute/index lookups in format fields are not supported)");
    }
    Value shown = *v;
    if (conv == "r" || conv == "a")
      shown = Value::string(py_repr(*v));
    else if (conv == "s")
      shown = Value::string(py_str(*v));
    else if (!conv.empty())
      throw RenderError("Unknown conversion specifier " + conv);
    out += format_field(shown, spec);
  }
  return out;
}

std::string str_swapcase(const std::string& s) {
  return map_cps(s, [](uint32_t c, size_t, bool) { return cp_upper(c) != c ? up_full(c) : cp_lower(c); });
}

}  // namespace ember::lm::tpl
