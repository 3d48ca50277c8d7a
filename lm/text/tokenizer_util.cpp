// Helpers of the tokenizer: tokenizer.json field access with errors naming the field, UTF-8,
// Unicode normalization (utf8proc), the GPT-2 byte map and the PCRE2 regex wrapper.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include <cstdlib>
#include <stdexcept>

#include "lm/text/tokenizer_internal.h"

namespace ember::lm::detail {

// ---------------------------------------------------------------------------------------------
// JSON access with errors that name the file and the field

void JsonCtx::fail(const std::string& field, const std::string& what) const {
  throw std::runtime_error("[tokenizer] " + source + ": field \"" + field + "\": " + what);
}

const json& JsonCtx::need(const json& j, const char* key, const std::string& path) const {
  std::string field = path.empty() ? std::string(key) : path + "." + key;
  if (!j.is_object()) fail(path.empty() ? "<root>" : path, "expected an object");
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) fail(field, "missing");
  return *it;
}

std::string JsonCtx::need_string(const json& j, const char* key, const std::string& path) const {
  const json& v = need(j, key, path);
  if (!v.is_string()) fail(path.empty() ? std::string(key) : path + "." + key, "expected a string");
  return v.get<std::string>();
}

bool JsonCtx::get_bool(const json& j, const char* key, bool fallback, const std::string& path) const {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) fail(path.empty() ? std::string(key) : path + "." + key, "expected true or false");
  return it->get<bool>();
}

int64_t JsonCtx::get_int(const json& j, const char* key, int64_t fallback, const std::string& path) const {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_number_integer()) fail(path.empty() ? std::string(key) : path + "." + key, "expected an integer");
  return it->get<int64_t>();
}

std::string JsonCtx::get_string(const json& j, const char* key, const std::string& fallback,
                                const std::string& path) const {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_string()) fail(path.empty() ? std::string(key) : path + "." + key, "expected a string");
  return it->get<std::string>();
}

// ---------------------------------------------------------------------------------------------
// UTF-8

size_t utf8_char_len(std::string_view s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;  // no overlong forms
    if (c == 0xED) hi = 0x9F;  // no surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;  // nothing past U+10FFFF
  } else {
    return 0;
  }
  for (size_t k = 1; k < n; ++k) {
    if (i + k >= s.size()) return 0;
    auto b = static_cast<unsigned char>(s[i + k]);
    if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return 0;
  }
  return n;
}

std::string utf8_lossy(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    size_t n = utf8_char_len(s, i);
    if (n > 0) {
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    // One U+FFFD per maximal subpart: the lead byte plus the continuation bytes that were valid.
    size_t skip = 1;
    auto c = static_cast<unsigned char>(s[i]);
    size_t want = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    if (c >= 0xC2 && c <= 0xF4) {
      unsigned char lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
      unsigned char hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
      for (size_t k = 1; k < want && i + k < s.size(); ++k) {
        auto b = static_cast<unsigned char>(s[i + k]);
        if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) break;
        ++skip;
      }
    }
    out += "\xEF\xBF\xBD";
    i += skip;
  }
  return out;
}

uint32_t utf8_next(std::string_view s, size_t& i) {
  auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) {
    ++i;
    return c;
  }
  size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
  uint32_t cp = c & (0x7F >> n);
  for (size_t k = 1; k < n && i + k < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  i += n;
  return cp;
}

bool is_whitespace(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

bool is_alphanumeric(uint32_t cp) {
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
      return true;
    default:
      return false;
  }
}

std::string unicode_normalize(std::string_view s, std::string_view form) {
  bool ascii = true;
  for (char c : s) ascii &= static_cast<unsigned char>(c) < 0x80;
  if (ascii) return std::string(s);  // every normal form leaves ASCII unchanged
  int options = UTF8PROC_STABLE;
  if (form == "NFC")
    options |= UTF8PROC_COMPOSE;
  else if (form == "NFD")
    options |= UTF8PROC_DECOMPOSE;
  else if (form == "NFKC")
    options |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
  else if (form == "NFKD")
    options |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
  else
    throw std::invalid_argument("[tokenizer] unknown normal form " + std::string(form));
  utf8proc_uint8_t* dst = nullptr;
  utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()), static_cast<utf8proc_ssize_t>(s.size()), &dst,
                   static_cast<utf8proc_option_t>(options));
  if (n < 0) throw std::runtime_error(std::string("[tokenizer] utf8proc: ") + utf8proc_errmsg(n));
  std::string out(reinterpret_cast<const char*>(dst), static_cast<size_t>(n));
  std::free(dst);
  return out;
}

const ByteMap& ByteMap::get() {
  static const ByteMap map = [] {
    ByteMap m;
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      uint32_t cp = printable ? static_cast<uint32_t>(b) : next++;
      append_utf8(m.byte_to_utf8[b], cp);
      m.char_to_byte[cp] = static_cast<uint8_t>(b);
    }
    return m;
  }();
  return map;
}

// ---------------------------------------------------------------------------------------------
// Regex

// tokenizer.json patterns are Oniguruma syntax; the ones models use mean the same in PCRE2 with
// UTF + UCP (\s, \p{L}, \p{N}, (?i:...), lookahead), \s matching U+0085 as Oniguruma's does.
Regex::Regex(const std::string& pattern) {
  const std::string& p = pattern;
  int err = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(p.data()), p.size(), PCRE2_UTF | PCRE2_UCP, &err, &offset, nullptr);
  if (!code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof(msg));
    throw std::runtime_error("[tokenizer] cannot compile regex " + pattern + " at offset " + std::to_string(offset) +
                             ": " + reinterpret_cast<const char*>(msg));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter when JIT is absent
  code_ = code;
}

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

std::vector<std::pair<size_t, size_t>> Regex::find_all(std::string_view s) const {
  auto* code = static_cast<pcre2_code*>(code_);
  std::vector<std::pair<size_t, size_t>> out;
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(code, nullptr);
  if (!md) throw std::bad_alloc();
  auto subject = reinterpret_cast<PCRE2_SPTR>(s.data());
  size_t start = 0;
  uint32_t options = PCRE2_NO_UTF_CHECK;  // the tokenizer repairs its input to valid UTF-8 first
  while (start <= s.size()) {
    int rc = pcre2_match(code, subject, s.size(), start, options, md, nullptr);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !(options & PCRE2_NO_JIT)) {
      options |= PCRE2_NO_JIT;  // very long runs: retry with the interpreter's heap-based stack
      continue;
    }
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      pcre2_match_data_free(md);
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof(msg));
      throw std::runtime_error(std::string("[tokenizer] regex match failed: ") + reinterpret_cast<const char*>(msg));
    }
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    size_t b = ov[0], e = ov[1];
    if (e > b) {
      out.emplace_back(b, e);
      start = e;
    } else {  // empty match: step over one character
      if (b >= s.size()) break;
      size_t n = utf8_char_len(s, b);
      start = b + (n ? n : 1);
    }
  }
  pcre2_match_data_free(md);
  return out;
}

}  // namespace ember::lm::detail
