// Building blocks of lm/text/tokenizer.h: UTF-8 helpers, the PCRE2 regex wrapper, normalizers,
// pre-tokenizers, decoders and the BPE model. Internal to the tokenizer; not a public API.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "lm/text/utf8.h"

namespace ember::lm::detail {

using nlohmann::json;

// ---- Errors while reading tokenizer.json: "[tokenizer] <source>: field "a.b": <what>" ----
struct JsonCtx {
  std::string source;
  [[noreturn]] void fail(const std::string& field, const std::string& what) const;
  // j[key], which must exist and not be null.
  const json& need(const json& j, const char* key, const std::string& path) const;
  std::string need_string(const json& j, const char* key, const std::string& path) const;
  // j[key] as bool/int/string when present and not null, else `fallback`.
  bool get_bool(const json& j, const char* key, bool fallback, const std::string& path) const;
  int64_t get_int(const json& j, const char* key, int64_t fallback, const std::string& path) const;
  std::string get_string(const json& j, const char* key, const std::string& fallback, const std::string& path) const;
};

// ---- UTF-8 ----
// Repairs invalid UTF-8 like Rust's String::from_utf8_lossy (maximal invalid subparts -> U+FFFD).
std::string utf8_lossy(std::string_view s);
// Length of the valid UTF-8 character starting at s[i], or 0 when it is invalid or truncated.
size_t utf8_char_len(std::string_view s, size_t i);
// Code point at s[i] (s must be valid UTF-8); advances i.
uint32_t utf8_next(std::string_view s, size_t& i);
bool is_whitespace(uint32_t cp);    // Unicode White_Space (Rust char::is_whitespace)
bool is_alphanumeric(uint32_t cp);  // letters and numbers (Rust char::is_alphanumeric, approximately)
// NFC/NFD/NFKC/NFKD through utf8proc; `form` is one of those names.
std::string unicode_normalize(std::string_view s, std::string_view form);

// ---- GPT-2 byte <-> printable character mapping used by byte-level BPE ----
struct ByteMap {
  std::array<std::string, 256> byte_to_utf8;  // UTF-8 of the character standing for each byte
  std::unordered_map<uint32_t, uint8_t> char_to_byte;
  static const ByteMap& get();
};

// ---- Regex (PCRE2, UTF + UCP, JIT when available) ----
class Regex {
 public:
  explicit Regex(const std::string& pattern);  // throws std::runtime_error with PCRE2's message
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  // Non-overlapping matches [begin, end) in s (valid UTF-8), left to right; empty matches skipped.
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view s) const;

 private:
  void* code_ = nullptr;  // pcre2_code_8*
};

// A stretch of text between added tokens; at_start: it begins at offset 0 of the input.
struct Piece {
  std::string text;
  bool at_start = false;
};

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(std::string& s) const = 0;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Splits every piece further (and may rewrite it, e.g. byte-level mapping).
  virtual void pre_tokenize(std::vector<Piece>& pieces) const = 0;
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual void decode_chain(std::vector<std::string>& tokens) const = 0;
};

// From the tokenizer.json objects; null gives nullptr. `path` names the field in errors.
std::unique_ptr<Normalizer> make_normalizer(const json& j, const JsonCtx& ctx, const std::string& path);
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& j, const JsonCtx& ctx, const std::string& path);
std::unique_ptr<Decoder> make_decoder(const json& j, const JsonCtx& ctx, const std::string& path);

// ---- Heterogeneous-lookup string map ----
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TokenMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

// ---- BPE: by merge rank (tokenizer.json) or by token score (SentencePiece, GGUF "llama") ----
class BpeModel {
 public:
  TokenMap vocab;
  std::vector<std::string> id_to_token;                              // may have empty holes
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges;  // (a << 32 | b) -> (rank, merged id)
  std::vector<float> scores;  // when use_scores: merge the adjacent pair whose join has the highest score
  bool use_scores = false;
  std::optional<int32_t> unk;
  bool fuse_unk = false, byte_fallback = false, ignore_merges = false;
  std::array<int32_t, 256> byte_ids{};  // id of "<0xXX>", or -1

  // Fills byte_ids; call after vocab is set.
  void finish_setup();
  // Appends the ids of one pre-tokenized word.
  void tokenize(std::string_view word, std::vector<int32_t>& out) const;

 private:
  void merge_by_rank(std::string_view word, std::vector<int32_t>& out) const;
  void merge_by_score(std::string_view word, std::vector<int32_t>& out) const;
  void push_char(std::string_view ch, std::vector<int32_t>& ids, bool& last_unk) const;
  mutable std::mutex cache_mu_;
  mutable std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> cache_;
};

std::unique_ptr<BpeModel> make_bpe(const json& j, const JsonCtx& ctx, const std::string& path);

}  // namespace ember::lm::detail
