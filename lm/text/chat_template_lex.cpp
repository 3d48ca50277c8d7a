// Chat-template lexer: splits a template into text and tag tokens, applying jinja2's whitespace
// control ("-"/"+" markers, trim_blocks, lstrip_blocks) to the text between tags.
#include <algorithm>
#include <cstring>

#include "lm/text/chat_template_ast.h"

namespace ember::lm::tpl {

[[noreturn]] void syntax_error(int line, const std::string& msg) {
  throw std::runtime_error("[chat_template] line " + std::to_string(line) + ": " + msg);
}

namespace {

bool is_name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool is_name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string rstrip_ws(const std::string& s) {
  size_t n = s.size();
  while (n > 0 && is_space(s[n - 1])) --n;
  return s.substr(0, n);
}

// Decodes a jinja2 string literal body (Python unicode-escape rules; unknown escapes stay as written).
std::string unescape(const std::string& body, int line) {
  std::string out;
  for (size_t k = 0; k < body.size(); ++k) {
    char c = body[k];
    if (c != '\\' || k + 1 == body.size()) {
      out += c;
      continue;
    }
    char e = body[++k];
    auto hex = [&](int digits) {
      if (k + digits >= body.size()) syntax_error(line, "truncated escape in string");
      uint32_t cp = 0;
      for (int d = 0; d < digits; ++d) {
        char h = body[k + 1 + d];
        if (!std::isxdigit(static_cast<unsigned char>(h))) syntax_error(line, "bad escape in string");
        cp = cp * 16 + (std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (std::tolower(h) - 'a' + 10));
      }
      k += digits;
      append_utf8(out, cp);
    };
    switch (e) {
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      case '\\':
        out += '\\';
        break;
      case '\'':
        out += '\'';
        break;
      case '"':
        out += '"';
        break;
      case 'a':
        out += '\a';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'v':
        out += '\v';
        break;
      case '\n':
        break;
      case 'N':
        syntax_error(line, "named unicode escapes (\\N{...}) are not supported");
      case 'x':
        hex(2);
        break;
      case 'u':
        hex(4);
        break;
      case 'U':
        hex(8);
        break;
      default:
        if (e >= '0' && e <= '7') {
          uint32_t cp = e - '0';
          for (int d = 0; d < 2 && k + 1 < body.size() && body[k + 1] >= '0' && body[k + 1] <= '7'; ++d)
            cp = cp * 8 + (body[++k] - '0');
          append_utf8(out, cp);
        } else {
          out += '\\';
          out += e;
        }
    }
  }
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string src) : src_(std::move(src)) {}

  std::vector<Token> run() {
    size_t n = src_.size();
    while (pos_ < n) {
      size_t p = pos_;
      while (true) {
        p = src_.find('{', p);
        if (p == std::string::npos || p + 1 >= n) {
          p = std::string::npos;
          break;
        }
        char c = src_[p + 1];
        if (c == '{' || c == '%' || c == '#') break;
        ++p;
      }
      if (p == std::string::npos) {
        emit_text(src_.substr(pos_));
        break;
      }
      char kind = src_[p + 1];
      char sign = p + 2 < n && (src_[p + 2] == '-' || src_[p + 2] == '+') ? src_[p + 2] : 0;
      std::string text = src_.substr(pos_, p - pos_);
      bool raw = kind == '%' && is_raw_begin(p);
      if (sign == '-') {
        text = rstrip_ws(text);
      } else if (sign != '+' && kind != '{') {
        text = lstrip(text);
      }
      emit_text(text);
      count_lines(pos_, p);
      pos_ = p + 2 + (sign ? 1 : 0);
      if (kind == '#') {
        lex_comment();
      } else if (raw) {
        lex_raw();
      } else {
        lex_tag(kind == '{');
      }
    }
    tokens_.push_back({Tok::Eof, "", line_});
    return std::move(tokens_);
  }

 private:
  // lstrip_blocks: drop spaces/tabs between the start of the line and a block or comment tag.
  std::string lstrip(const std::string& text) {
    size_t nl = text.rfind('\n');
    size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
    if (l_pos == 0 && !line_starting_) return text;
    if (l_pos == text.size()) return text;
    for (size_t k = l_pos; k < text.size(); ++k)
      if (!is_space(text[k])) return text;
    return text.substr(0, l_pos);
  }

  void emit_text(const std::string& text) {
    if (!text.empty()) tokens_.push_back({Tok::Text, text, line_});
  }

  void count_lines(size_t from, size_t to) {
    line_ += static_cast<int>(std::count(src_.begin() + from, src_.begin() + to, '\n'));
  }

  // After a block or comment end: "-" strips all following whitespace, "+" keeps it, otherwise
  // trim_blocks removes one newline.
  void after_end(size_t end, char sign, bool trim) {
    size_t q = end;
    if (sign == '-') {
      while (q < src_.size() && is_space(src_[q])) ++q;
    } else if (sign != '+' && trim && q < src_.size() && src_[q] == '\n') {
      ++q;
    }
    count_lines(pos_, q);
    line_starting_ = q > end && src_[q - 1] == '\n';
    pos_ = q;
  }

  bool is_raw_begin(size_t p) {
    size_t q = p + 2;
    if (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) ++q;
    while (q < src_.size() && is_space(src_[q])) ++q;
    if (src_.compare(q, 3, "raw") != 0 || (q + 3 < src_.size() && is_name_char(src_[q + 3]))) return false;
    return true;
  }

  void lex_comment() {
    size_t q = src_.find("#}", pos_);
    if (q == std::string::npos) syntax_error(line_, "unexpected end of template: missing end of comment tag '#}'");
    char sign = q > pos_ && (src_[q - 1] == '-' || src_[q - 1] == '+') ? src_[q - 1] : 0;
    after_end(q + 2, sign, true);
  }

  void lex_raw() {
    int start_line = line_;
    size_t q = pos_;
    while (q < src_.size() && is_space(src_[q])) ++q;
    q += 3;
    while (q < src_.size() && is_space(src_[q])) ++q;
    bool strip = src_.compare(q, 3, "-%}") == 0;
    if (!strip && src_.compare(q, 2, "%}") != 0) syntax_error(line_, "expected '%}' after 'raw'");
    q += strip ? 3 : 2;
    if (strip)
      while (q < src_.size() && is_space(src_[q])) ++q;
    count_lines(pos_, q);
    pos_ = q;
    // Find {% endraw %} (with optional whitespace control).
    for (size_t p = src_.find("{%", pos_); p != std::string::npos; p = src_.find("{%", p + 2)) {
      size_t r = p + 2;
      char sign = r < src_.size() && (src_[r] == '-' || src_[r] == '+') ? src_[r] : 0;
      if (sign) ++r;
      while (r < src_.size() && is_space(src_[r])) ++r;
      if (src_.compare(r, 6, "endraw") != 0) continue;
      r += 6;
      while (r < src_.size() && is_space(src_[r])) ++r;
      char esign = r < src_.size() && (src_[r] == '-' || src_[r] == '+') ? src_[r] : 0;
      if (esign) ++r;
      if (src_.compare(r, 2, "%}") != 0) continue;
      std::string text = src_.substr(pos_, p - pos_);
      line_starting_ = false;
      text = sign == '-' ? rstrip_ws(text) : sign == '+' ? text : lstrip(text);
      emit_text(text);
      count_lines(pos_, p);
      pos_ = p;
      after_end(r + 2, esign, true);
      return;
    }
    syntax_error(start_line, "missing end of raw directive");
  }

  void lex_tag(bool var) {
    tokens_.push_back({var ? Tok::VarBegin : Tok::BlockBegin, "", line_});
    int depth = 0;
    size_t n = src_.size();
    while (true) {
      while (pos_ < n && is_space(src_[pos_])) {
        if (src_[pos_] == '\n') ++line_;
        ++pos_;
      }
      if (pos_ >= n)
        syntax_error(line_,
                     var ? "unexpected end of template: missing '}}'" : "unexpected end of template: missing '%}'");
      if (depth == 0) {
        const char* end = var ? "}}" : "%}";
        char sign = src_[pos_] == '-' || (src_[pos_] == '+' && !var) ? src_[pos_] : 0;
        size_t q = pos_ + (sign ? 1 : 0);
        if (src_.compare(q, 2, end) == 0) {
          tokens_.push_back({var ? Tok::VarEnd : Tok::BlockEnd, "", line_});
          after_end(q + 2, sign, !var);
          if (var && sign != '-') line_starting_ = false;
          return;
        }
      }
      char c = src_[pos_];
      size_t start = pos_;
      if (is_name_start(c)) {
        while (pos_ < n && is_name_char(src_[pos_])) ++pos_;
        tokens_.push_back({Tok::Name, src_.substr(start, pos_ - start), line_});
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        lex_number();
      } else if (c == '\'' || c == '"') {
        size_t q = pos_ + 1;
        while (q < n && src_[q] != c) q += src_[q] == '\\' ? 2 : 1;
        if (q >= n) syntax_error(line_, "unterminated string literal");
        std::string body = src_.substr(pos_ + 1, q - pos_ - 1);
        tokens_.push_back({Tok::String, unescape(body, line_), line_});
        count_lines(pos_, q);
        pos_ = q + 1;
      } else {
        static const char* ops[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<",
                                    ">",  "=",  ".",  ",",  ":",  "|",  "(", ")", "[", "]", "{", "}", ";"};
        const char* found = nullptr;
        for (const char* op : ops)
          if (src_.compare(pos_, std::strlen(op), op) == 0) {
            found = op;
            break;
          }
        if (!found) syntax_error(line_, std::string("unexpected character '") + c + "'");
        std::string op = found;
        if (op == "(" || op == "[" || op == "{") ++depth;
        if (op == ")" || op == "]" || op == "}") {
          if (depth == 0) syntax_error(line_, "unexpected '" + op + "'");
          --depth;
        }
        pos_ += op.size();
        tokens_.push_back({Tok::Op, op, line_});
      }
    }
  }

  void lex_number() {
    size_t n = src_.size(), q = pos_;
    auto digits = [&]() {
      while (q < n && (std::isdigit(static_cast<unsigned char>(src_[q])) ||
                       (src_[q] == '_' && q + 1 < n && std::isdigit(static_cast<unsigned char>(src_[q + 1])))))
        ++q;
    };
    digits();
    bool is_float = false;
    if (q + 1 < n && src_[q] == '.' && std::isdigit(static_cast<unsigned char>(src_[q + 1]))) {
      ++q;
      digits();
      is_float = true;
    }
    if (q < n && (src_[q] == 'e' || src_[q] == 'E')) {
      size_t r = q + 1;
      if (r < n && (src_[r] == '+' || src_[r] == '-')) ++r;
      if (r < n && std::isdigit(static_cast<unsigned char>(src_[r]))) {
        q = r;
        digits();
        is_float = true;
      }
    }
    std::string text;
    for (size_t k = pos_; k < q; ++k)
      if (src_[k] != '_') text += src_[k];
    tokens_.push_back({is_float ? Tok::Float : Tok::Int, text, line_});
    pos_ = q;
  }

  std::string src_;
  size_t pos_ = 0;
  int line_ = 1;
  bool line_starting_ = true;
  std::vector<Token> tokens_;
};

}  // namespace

std::vector<Token> lex_template(const std::string& source) {
  // jinja2 normalizes newlines and drops one trailing newline (keep_trailing_newline=False).
  std::string src;
  src.reserve(source.size());
  for (size_t k = 0; k < source.size(); ++k) {
    if (source[k] == '\r') {
      src += '\n';
      if (k + 1 < source.size() && source[k + 1] == '\n') ++k;
    } else {
      src += source[k];
    }
  }
  if (!src.empty() && src.back() == '\n') src.pop_back();
  return Lexer(std::move(src)).run();
}

}  // namespace ember::lm::tpl
