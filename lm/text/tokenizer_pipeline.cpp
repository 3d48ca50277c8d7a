// The text pipeline of tokenizer.json: normalizers, pre-tokenizers and decoders, each following
// the semantics of Hugging Face `tokenizers`.
#include <utf8proc.h>

#include <algorithm>
#include <stdexcept>

#include "lm/text/tokenizer_internal.h"

namespace ember::lm::detail {

// ---------------------------------------------------------------------------------------------
// Pattern: {"String": literal} or {"Regex": pattern}

namespace {

class Pattern {
 public:
  Pattern(const json& j, const JsonCtx& ctx, const std::string& path) {
    if (j.is_object() && j.contains("Regex") && j["Regex"].is_string()) {
      regex_ = std::make_unique<Regex>(j["Regex"].get<std::string>());
    } else if (j.is_object() && j.contains("String") && j["String"].is_string()) {
      literal_ = j["String"].get<std::string>();
    } else if (j.is_string()) {
      literal_ = j.get<std::string>();
    } else {
      ctx.fail(path, "expected {\"String\": ...} or {\"Regex\": ...}");
    }
  }
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view s) const {
    if (regex_) return regex_->find_all(s);
    std::vector<std::pair<size_t, size_t>> out;
    if (literal_.empty()) return out;
    for (size_t pos = s.find(literal_); pos != std::string_view::npos; pos = s.find(literal_, pos + literal_.size()))
      out.emplace_back(pos, pos + literal_.size());
    return out;
  }
  std::string replace_all(std::string_view s, std::string_view content) const {
    std::string out;
    size_t prev = 0;
    for (auto [b, e] : find_all(s)) {
      out.append(s.substr(prev, b - prev));
      out.append(content);
      prev = e;
    }
    out.append(s.substr(prev));
    return out;
  }

 private:
  std::unique_ptr<Regex> regex_;
  std::string literal_;
};

// ---------------------------------------------------------------------------------------------
// Normalizers

class UnicodeNormalizer final : public Normalizer {
 public:
  explicit UnicodeNormalizer(std::string form) : form_(std::move(form)) {}
  void normalize(std::string& s) const override { s = unicode_normalize(s, form_); }

 private:
  std::string form_;
};

class PrependNormalizer final : public Normalizer {
 public:
  explicit PrependNormalizer(std::string p) : prepend_(std::move(p)) {}
  void normalize(std::string& s) const override {
    if (!s.empty()) s.insert(0, prepend_);
  }

 private:
  std::string prepend_;
};

class ReplaceNormalizer final : public Normalizer {
 public:
  ReplaceNormalizer(const json& j, const JsonCtx& ctx, const std::string& path)
      : pattern_(ctx.need(j, "pattern", path), ctx, path + ".pattern"), content_(ctx.need_string(j, "content", path)) {}
  void normalize(std::string& s) const override { s = pattern_.replace_all(s, content_); }

 private:
  Pattern pattern_;
  std::string content_;
};

class LowercaseNormalizer final : public Normalizer {
 public:
  void normalize(std::string& s) const override {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();)
      append_utf8(out, utf8proc_tolower(static_cast<utf8proc_int32_t>(utf8_next(s, i))));
    s = std::move(out);
  }
};

class StripNormalizer final : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& s) const override {
    size_t b = 0, e = s.size();
    if (left_) {
      while (b < e) {
        size_t i = b;
        if (!is_whitespace(utf8_next(s, i))) break;
        b = i;
      }
    }
    if (right_) {
      while (e > b) {
        size_t start = e - 1;
        while (start > b && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
        size_t i = start;
        if (!is_whitespace(utf8_next(s, i))) break;
        e = start;
      }
    }
    s = s.substr(b, e - b);
  }

 private:
  bool left_, right_;
};

class SequenceNormalizer final : public Normalizer {
 public:
  std::vector<std::unique_ptr<Normalizer>> items;
  void normalize(std::string& s) const override {
    for (const auto& n : items) n->normalize(s);
  }
};

// ---------------------------------------------------------------------------------------------
// Pre-tokenizers

enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

Behavior parse_behavior(const std::string& b, const JsonCtx& ctx, const std::string& path) {
  if (b == "Removed") return Behavior::kRemoved;
  if (b == "Isolated") return Behavior::kIsolated;
  if (b == "MergedWithPrevious") return Behavior::kMergedWithPrevious;
  if (b == "MergedWithNext") return Behavior::kMergedWithNext;
  if (b == "Contiguous") return Behavior::kContiguous;
  ctx.fail(path, "unknown split behavior \"" + b + "\"");
}

// Splits every piece at the matches of `find`, keeping the delimiters as `behavior` says
// (NormalizedString::split of HF tokenizers). Empty results are dropped.
template <class Find>
void split_pieces(std::vector<Piece>& pieces, const Find& find, Behavior behavior, bool invert) {
  std::vector<Piece> out;
  out.reserve(pieces.size() * 2);
  struct Seg {
    size_t b, e;
    bool match;
  };
  std::vector<Seg> segs, merged;
  for (Piece& piece : pieces) {
    const std::string& s = piece.text;
    segs.clear();
    size_t prev = 0;
    for (auto [b, e] : find(s)) {
      if (b > prev) segs.push_back({prev, b, false});
      segs.push_back({b, e, true});
      prev = e;
    }
    if (prev < s.size()) segs.push_back({prev, s.size(), false});
    if (invert)
      for (Seg& g : segs) g.match = !g.match;
    merged.clear();
    switch (behavior) {
      case Behavior::kRemoved:
        for (const Seg& g : segs)
          if (!g.match) merged.push_back(g);
        break;
      case Behavior::kIsolated:
        merged = segs;
        break;
      case Behavior::kMergedWithPrevious: {
        bool prev_match = false;
        for (const Seg& g : segs) {
          if (g.match && !prev_match && !merged.empty())
            merged.back().e = g.e;
          else
            merged.push_back(g);
          prev_match = g.match;
        }
        break;
      }
      case Behavior::kMergedWithNext: {
        bool prev_match = false;
        for (size_t k = segs.size(); k-- > 0;) {
          const Seg& g = segs[k];
          if (g.match && !prev_match && !merged.empty())
            merged.back().b = g.b;
          else
            merged.push_back(g);
          prev_match = g.match;
        }
        std::reverse(merged.begin(), merged.end());
        break;
      }
      case Behavior::kContiguous: {
        bool prev_match = false;
        for (const Seg& g : segs) {
          if (g.match == prev_match && !merged.empty())
            merged.back().e = g.e;
          else
            merged.push_back(g);
          prev_match = g.match;
        }
        break;
      }
    }
    for (const Seg& g : merged)
      if (g.e > g.b) out.push_back(Piece{s.substr(g.b, g.e - g.b), piece.at_start && g.b == 0});
  }
  pieces = std::move(out);
}

const char* kGpt2Regex = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

class ByteLevelPreTokenizer final : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex) : add_prefix_space_(add_prefix_space) {
    if (use_regex) regex_ = std::make_unique<Regex>(kGpt2Regex);
  }
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    if (add_prefix_space_)
      for (Piece& p : pieces)
        if (p.text.empty() || p.text[0] != ' ') p.text = " " + p.text;
    if (regex_)
      split_pieces(
          pieces, [&](std::string_view s) { return regex_->find_all(s); }, Behavior::kIsolated, false);
    const ByteMap& map = ByteMap::get();
    for (Piece& p : pieces) {
      std::string mapped;
      mapped.reserve(p.text.size() * 2);
      for (char c : p.text) mapped += map.byte_to_utf8[static_cast<unsigned char>(c)];
      p.text = std::move(mapped);
    }
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<Regex> regex_;
};

class SplitPreTokenizer final : public PreTokenizer {
 public:
  SplitPreTokenizer(const json& j, const JsonCtx& ctx, const std::string& path)
      : pattern_(ctx.need(j, "pattern", path), ctx, path + ".pattern"),
        behavior_(parse_behavior(ctx.need_string(j, "behavior", path), ctx, path + ".behavior")),
        invert_(ctx.get_bool(j, "invert", false, path)) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_pieces(
        pieces, [&](std::string_view s) { return pattern_.find_all(s); }, behavior_, invert_);
  }

 private:
  Pattern pattern_;
  Behavior behavior_;
  bool invert_;
};

class RegexSplitPreTokenizer final : public PreTokenizer {
 public:
  RegexSplitPreTokenizer(const std::string& pattern, Behavior behavior, bool invert)
      : regex_(pattern), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    split_pieces(
        pieces, [&](std::string_view s) { return regex_.find_all(s); }, behavior_, invert_);
  }

 private:
  Regex regex_;
  Behavior behavior_;
  bool invert_;
};

class MetaspacePreTokenizer final : public PreTokenizer {
 public:
  enum class Prepend { kAlways, kFirst, kNever };
  MetaspacePreTokenizer(std::string replacement, Prepend prepend, bool split)
      : replacement_(std::move(replacement)), prepend_(prepend), split_(split) {}
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    for (Piece& p : pieces) {
      std::string t;
      t.reserve(p.text.size() + 3);
      for (char c : p.text) {
        if (c == ' ')
          t += replacement_;
        else
          t += c;
      }
      bool starts = t.compare(0, replacement_.size(), replacement_) == 0;
      if (!starts && (prepend_ == Prepend::kAlways || (prepend_ == Prepend::kFirst && p.at_start)))
        t.insert(0, replacement_);
      p.text = std::move(t);
    }
    if (split_) {
      auto find = [&](std::string_view s) {
        std::vector<std::pair<size_t, size_t>> out;
        for (size_t pos = s.find(replacement_); pos != std::string_view::npos;
             pos = s.find(replacement_, pos + replacement_.size()))
          out.emplace_back(pos, pos + replacement_.size());
        return out;
      };
      split_pieces(pieces, find, Behavior::kMergedWithNext, false);
    }
  }

 private:
  std::string replacement_;
  Prepend prepend_;
  bool split_;
};

class SequencePreTokenizer final : public PreTokenizer {
 public:
  std::vector<std::unique_ptr<PreTokenizer>> items;
  void pre_tokenize(std::vector<Piece>& pieces) const override {
    for (const auto& p : items) p->pre_tokenize(pieces);
  }
};

// ---------------------------------------------------------------------------------------------
// Decoders

class ByteLevelDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    const ByteMap& map = ByteMap::get();
    std::string bytes;
    for (const std::string& t : tokens) {
      size_t start = bytes.size();
      bool all_mapped = true;
      for (size_t i = 0; i < t.size();) {
        auto it = map.char_to_byte.find(utf8_next(t, i));
        if (it == map.char_to_byte.end()) {
          all_mapped = false;
          break;
        }
        bytes += static_cast<char>(it->second);
      }
      if (!all_mapped) {  // a token with a character outside the byte map is kept as it is
        bytes.resize(start);
        bytes += t;
      }
    }
    tokens.assign(1, utf8_lossy(bytes));
  }
};

class MetaspaceDecoder final : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, bool prepend) : replacement_(std::move(replacement)), prepend_(prepend) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string out;
      const std::string& t = tokens[i];
      for (size_t k = 0; k < t.size();) {
        if (t.compare(k, replacement_.size(), replacement_) == 0) {
          if (!(i == 0 && prepend_)) out += ' ';  // HF drops the replacements of the first token
          k += replacement_.size();
        } else {
          out += t[k++];
        }
      }
      tokens[i] = std::move(out);
    }
  }

 private:
  std::string replacement_;
  bool prepend_;
};

class ReplaceDecoder final : public Decoder {
 public:
  ReplaceDecoder(const json& j, const JsonCtx& ctx, const std::string& path)
      : pattern_(ctx.need(j, "pattern", path), ctx, path + ".pattern"), content_(ctx.need_string(j, "content", path)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) t = pattern_.replace_all(t, content_);
  }

 private:
  Pattern pattern_;
  std::string content_;
};

int parse_byte_token(const std::string& t) {
  if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
  int v = 0;
  for (int k = 3; k < 5; ++k) {
    char c = t[k];
    int d = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                   : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

class ByteFallbackDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string bytes;
    size_t count = 0;
    auto flush = [&] {
      if (count == 0) return;
      if (utf8_lossy(bytes) == bytes) {
        out.push_back(bytes);
      } else {  // invalid bytes: one U+FFFD per byte token
        for (size_t k = 0; k < count; ++k) out.emplace_back("\xEF\xBF\xBD");
      }
      bytes.clear();
      count = 0;
    };
    for (std::string& t : tokens) {
      int b = parse_byte_token(t);
      if (b >= 0) {
        bytes += static_cast<char>(b);
        ++count;
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens = std::move(out);
  }
};

class FuseDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const std::string& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

class StripDecoder final : public Decoder {
 public:
  StripDecoder(uint32_t content, size_t start, size_t stop) : content_(content), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) {
      std::vector<uint32_t> cps;
      for (size_t i = 0; i < t.size();) cps.push_back(utf8_next(t, i));
      size_t b = 0, e = cps.size();
      while (b < start_ && b < e && cps[b] == content_) ++b;
      for (size_t k = 0; k < stop_ && e > b && cps[e - 1] == content_; ++k) --e;
      std::string out;
      for (size_t k = b; k < e; ++k) append_utf8(out, cps[k]);
      t = std::move(out);
    }
  }

 private:
  uint32_t content_;
  size_t start_, stop_;
};

class SequenceDecoder final : public Decoder {
 public:
  std::vector<std::unique_ptr<Decoder>> items;
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& d : items) d->decode_chain(tokens);
  }
};

std::string type_of(const json& j, const JsonCtx& ctx, const std::string& path) {
  if (!j.is_object()) ctx.fail(path, "expected an object");
  return ctx.need_string(j, "type", path);
}

const json& need_array(const json& j, const char* key, const JsonCtx& ctx, const std::string& path) {
  const json& a = ctx.need(j, key, path);
  if (!a.is_array()) ctx.fail(path + "." + key, "expected an array");
  return a;
}

std::string single_char(const std::string& s, const JsonCtx& ctx, const std::string& field) {
  if (s.empty() || utf8_char_len(s, 0) != s.size()) ctx.fail(field, "expected one character");
  return s;
}

MetaspacePreTokenizer::Prepend metaspace_prepend(const json& j, const JsonCtx& ctx, const std::string& path) {
  using P = MetaspacePreTokenizer::Prepend;
  if (j.contains("prepend_scheme") && !j["prepend_scheme"].is_null()) {
    std::string s = ctx.need_string(j, "prepend_scheme", path);
    if (s == "always") return P::kAlways;
    if (s == "first") return P::kFirst;
    if (s == "never") return P::kNever;
    ctx.fail(path + ".prepend_scheme", "unknown value \"" + s + "\"");
  }
  return ctx.get_bool(j, "add_prefix_space", true, path) ? P::kAlways : P::kNever;  // older files
}

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const json& j, const JsonCtx& ctx, const std::string& path) {
  if (j.is_null()) return nullptr;
  std::string type = type_of(j, ctx, path);
  if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD")
    return std::make_unique<UnicodeNormalizer>(type);
  if (type == "Prepend") return std::make_unique<PrependNormalizer>(ctx.need_string(j, "prepend", path));
  if (type == "Replace") return std::make_unique<ReplaceNormalizer>(j, ctx, path);
  if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
  if (type == "Strip")
    return std::make_unique<StripNormalizer>(ctx.get_bool(j, "strip_left", true, path),
                                             ctx.get_bool(j, "strip_right", true, path));
  if (type == "Sequence") {
    auto seq = std::make_unique<SequenceNormalizer>();
    const json& items = need_array(j, "normalizers", ctx, path);
    for (size_t k = 0; k < items.size(); ++k) {
      auto n = make_normalizer(items[k], ctx, path + ".normalizers[" + std::to_string(k) + "]");
      if (n) seq->items.push_back(std::move(n));
    }
    return seq;
  }
  ctx.fail(path + ".type", "unsupported normalizer \"" + type + "\"");
}

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& j, const JsonCtx& ctx, const std::string& path) {
  if (j.is_null()) return nullptr;
  std::string type = type_of(j, ctx, path);
  if (type == "ByteLevel")
    return std::make_unique<ByteLevelPreTokenizer>(ctx.get_bool(j, "add_prefix_space", true, path),
                                                   ctx.get_bool(j, "use_regex", true, path));
  if (type == "Split") return std::make_unique<SplitPreTokenizer>(j, ctx, path);
  if (type == "Digits") {
    bool individual = ctx.get_bool(j, "individual_digits", false, path);
    return std::make_unique<RegexSplitPreTokenizer>(individual ? "\\p{N}" : "\\p{N}+", Behavior::kIsolated, false);
  }
  if (type == "WhitespaceSplit") return std::make_unique<RegexSplitPreTokenizer>("\\s+", Behavior::kRemoved, false);
  if (type == "Metaspace") {
    std::string rep = single_char(ctx.get_string(j, "replacement", "\xE2\x96\x81", path), ctx, path + ".replacement");
    return std::make_unique<MetaspacePreTokenizer>(rep, metaspace_prepend(j, ctx, path),
                                                   ctx.get_bool(j, "split", true, path));
  }
  if (type == "Sequence") {
    auto seq = std::make_unique<SequencePreTokenizer>();
    const json& items = need_array(j, "pretokenizers", ctx, path);
    for (size_t k = 0; k < items.size(); ++k) {
      auto p = make_pre_tokenizer(items[k], ctx, path + ".pretokenizers[" + std::to_string(k) + "]");
      if (p) seq->items.push_back(std::move(p));
    }
    return seq;
  }
  ctx.fail(path + ".type", "unsupported pre-tokenizer \"" + type + "\"");
}

std::unique_ptr<Decoder> make_decoder(const json& j, const JsonCtx& ctx, const std::string& path) {
  if (j.is_null()) return nullptr;
  std::string type = type_of(j, ctx, path);
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "Metaspace") {
    std::string rep = single_char(ctx.get_string(j, "replacement", "\xE2\x96\x81", path), ctx, path + ".replacement");
    return std::make_unique<MetaspaceDecoder>(
        rep, metaspace_prepend(j, ctx, path) != MetaspacePreTokenizer::Prepend::kNever);
  }
  if (type == "Replace") return std::make_unique<ReplaceDecoder>(j, ctx, path);
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip") {
    std::string c = single_char(ctx.need_string(j, "content", path), ctx, path + ".content");
    size_t i = 0;
    return std::make_unique<StripDecoder>(utf8_next(c, i), static_cast<size_t>(ctx.get_int(j, "start", 0, path)),
                                          static_cast<size_t>(ctx.get_int(j, "stop", 0, path)));
  }
  if (type == "Sequence") {
    auto seq = std::make_unique<SequenceDecoder>();
    const json& items = need_array(j, "decoders", ctx, path);
    for (size_t k = 0; k < items.size(); ++k) {
      auto d = make_decoder(items[k], ctx, path + ".decoders[" + std::to_string(k) + "]");
      if (d) seq->items.push_back(std::move(d));
    }
    return seq;
  }
  ctx.fail(path + ".type", "unsupported decoder \"" + type + "\"");
}

}  // namespace ember::lm::detail
