// Tokenizer: added-token splitting, the normalize -> pre-tokenize -> BPE -> post-process pipeline,
// decoding, loading from tokenizer.json or GGUF metadata, and the streaming detokenizer.
#include "lm/text/tokenizer.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <stdexcept>

#include "lm/text/tokenizer_internal.h"

namespace ember::lm {

namespace detail {

struct AddedToken {
  std::string content;
  std::string text;  // what decode and id_to_token give: the normalized content when `normalized`
  int32_t id = -1;
  bool special = false, lstrip = false, rstrip = false, normalized = false, single_word = false;
};

// Leftmost-longest matching of the added tokens' texts (the aho-corasick MatchKind::LeftmostLongest
// Hugging Face uses): at the first position where any token matches, take the longest.
class TokenTrie {
 public:
  TokenTrie() : nodes_(1) { first_.fill(false); }
  bool empty() const { return nodes_.size() == 1; }
  void add(std::string_view s, int index) {
    if (s.empty()) return;
    first_[static_cast<unsigned char>(s[0])] = true;
    int node = 0;
    for (char c : s) {
      int child = find_child(node, static_cast<unsigned char>(c));
      if (child < 0) {
        child = static_cast<int>(nodes_.size());
        nodes_[node].children.emplace_back(static_cast<unsigned char>(c), child);
        nodes_.emplace_back();
      }
      node = child;
    }
    if (nodes_[node].index < 0) nodes_[node].index = index;
  }
  struct Match {
    size_t begin, end;
    int index;
  };
  std::vector<Match> find_all(std::string_view s) const {
    std::vector<Match> out;
    for (size_t i = 0; i < s.size();) {
      if (!first_[static_cast<unsigned char>(s[i])]) {
        ++i;
        continue;
      }
      int node = 0, best = -1;
      size_t best_end = 0;
      for (size_t k = i; k < s.size(); ++k) {
        node = find_child(node, static_cast<unsigned char>(s[k]));
        if (node < 0) break;
        if (nodes_[node].index >= 0) {
          best = nodes_[node].index;
          best_end = k + 1;
        }
      }
      if (best >= 0) {
        out.push_back({i, best_end, best});
        i = best_end;
      } else {
        ++i;
      }
    }
    return out;
  }

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int>> children;
    int index = -1;
  };
  int find_child(int node, unsigned char c) const {
    for (auto [ch, child] : nodes_[node].children)
      if (ch == c) return child;
    return -1;
  }
  std::vector<Node> nodes_;
  std::array<bool, 256> first_;
};

struct TokenizerImpl {
  std::unique_ptr<BpeModel> model;
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<Decoder> decoder;
  std::vector<AddedToken> added;
  std::unordered_map<int32_t, size_t> added_by_id;  // id -> index in `added`
  TokenMap added_by_content;
  TokenTrie raw_trie;                   // tokens matched on the input as written (normalized == false)
  TokenTrie normalized_trie;            // tokens matched after normalization, on their normalized text
  std::vector<int32_t> prefix, suffix;  // what the post-processor puts around one sequence
  std::optional<int32_t> bos, eos;
  int32_t vocab_size = 0;
  std::string empty;

  void finish_added(const JsonCtx& ctx);
  void encode_text(std::string_view text, bool at_start, std::vector<int32_t>& ids) const;
  void split_added(const std::string& text, bool at_start, bool normalized_pass, std::vector<int32_t>& ids) const;
};

void TokenizerImpl::finish_added(const JsonCtx& ctx) {
  vocab_size = static_cast<int32_t>(model->id_to_token.size());
  for (size_t k = 0; k < added.size(); ++k) {
    AddedToken& t = added[k];
    if (t.content.empty()) ctx.fail("added_tokens[" + std::to_string(k) + "].content", "empty");
    added_by_id[t.id] = k;
    added_by_content[t.content] = t.id;
    vocab_size = std::max(vocab_size, t.id + 1);
    t.text = t.content;
    if (t.normalized) {
      // Matched on normalized text, so in its normalized form; Hugging Face's id -> token map
      // keeps that form too (decode then runs it through the decoder).
      if (normalizer) normalizer->normalize(t.text);
      normalized_trie.add(t.text, static_cast<int>(k));
    } else {
      raw_trie.add(t.content, static_cast<int>(k));
    }
  }
}

namespace {

bool ends_with_word(std::string_view s) {
  if (s.empty()) return false;
  size_t start = s.size() - 1;
  while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
  return is_alphanumeric(utf8_next(s, start));
}

bool starts_with_word(std::string_view s) {
  size_t i = 0;
  return !s.empty() && is_alphanumeric(utf8_next(s, i));
}

}  // namespace

// Splits `text` at the added tokens of one trie (AddedVocabulary::split_with_indices): matched
// tokens give their id, the text between goes on down the pipeline.
void TokenizerImpl::split_added(const std::string& text, bool at_start, bool normalized_pass,
                                std::vector<int32_t>& ids) const {
  const TokenTrie& trie = normalized_pass ? normalized_trie : raw_trie;
  std::vector<TokenTrie::Match> matches;
  if (!trie.empty()) matches = trie.find_all(text);
  size_t start_offset = 0;
  auto emit_text = [&](size_t b, size_t e) {
    if (e <= b) return;
    std::string piece = text.substr(b, e - b);
    bool first = at_start && b == 0;
    if (normalized_pass) {
      std::vector<Piece> pieces{Piece{std::move(piece), first}};
      if (pre_tokenizer) pre_tokenizer->pre_tokenize(pieces);
      for (const Piece& p : pieces) model->tokenize(p.text, ids);
    } else {
      if (normalizer) normalizer->normalize(piece);
      split_added(piece, first, true, ids);
    }
  };
  for (TokenTrie::Match m : matches) {
    const AddedToken& t = added[m.index];
    size_t b = m.begin, e = m.end;
    if (t.single_word) {
      bool start_ok = b == 0 || !ends_with_word(std::string_view(text).substr(0, b));
      bool stop_ok = e == text.size() || !starts_with_word(std::string_view(text).substr(e));
      if (!start_ok || !stop_ok) continue;
    }
    if (t.lstrip) {  // swallow the whitespace before, down to the end of the previous match
      size_t nb = b;
      while (nb > start_offset) {
        size_t p = nb - 1;
        while (p > 0 && (static_cast<unsigned char>(text[p]) & 0xC0) == 0x80) --p;
        size_t q = p;
        if (!is_whitespace(utf8_next(text, q))) break;
        nb = p;
      }
      b = nb;
    }
    if (t.rstrip) {
      while (e < text.size()) {
        size_t q = e;
        if (!is_whitespace(utf8_next(text, q))) break;
        e = q;
      }
    }
    emit_text(start_offset, b);
    ids.push_back(t.id);
    start_offset = std::max(start_offset, e);
  }
  emit_text(start_offset, text.size());
}

void TokenizerImpl::encode_text(std::string_view text, bool at_start, std::vector<int32_t>& ids) const {
  split_added(utf8_lossy(text), at_start, false, ids);
}

}  // namespace detail

using detail::JsonCtx;
using detail::TokenizerImpl;
using nlohmann::json;

namespace {

std::optional<std::string> token_name(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object() && j.contains("content") && j["content"].is_string()) return j["content"].get<std::string>();
  return std::nullopt;
}

std::optional<int32_t> lookup(const TokenizerImpl& impl, std::string_view token) {
  auto it = impl.added_by_content.find(token);
  if (it != impl.added_by_content.end()) return it->second;
  auto mt = impl.model->vocab.find(token);
  if (mt != impl.model->vocab.end()) return mt->second;
  return std::nullopt;
}

// The ids one post-processor puts before and after a single sequence.
void parse_post_processor(const json& j, const JsonCtx& ctx, const std::string& path, std::vector<int32_t>& prefix,
                          std::vector<int32_t>& suffix) {
  if (j.is_null()) return;
  if (!j.is_object()) ctx.fail(path, "expected an object");
  std::string type = ctx.need_string(j, "type", path);
  if (type == "ByteLevel") return;  // only trims offsets
  if (type == "TemplateProcessing") {
    const json& single = ctx.need(j, "single", path);
    const json& specials = ctx.need(j, "special_tokens", path);
    if (!single.is_array()) ctx.fail(path + ".single", "expected an array");
    std::vector<int32_t> pre, post;
    bool seen_sequence = false;
    for (size_t k = 0; k < single.size(); ++k) {
      const json& item = single[k];
      std::string field = path + ".single[" + std::to_string(k) + "]";
      if (item.is_object() && item.contains("Sequence")) {
        seen_sequence = true;
      } else if (item.is_object() && item.contains("SpecialToken")) {
        std::string name = ctx.need_string(item["SpecialToken"], "id", field + ".SpecialToken");
        if (!specials.is_object() || !specials.contains(name))
          ctx.fail(path + ".special_tokens", "no entry for \"" + name + "\"");
        const json& ids = ctx.need(specials[name], "ids", path + ".special_tokens." + name);
        if (!ids.is_array()) ctx.fail(path + ".special_tokens." + name + ".ids", "expected an array");
        for (const json& id : ids) (seen_sequence ? post : pre).push_back(id.get<int32_t>());
      } else {
        ctx.fail(field, "expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
      }
    }
    prefix.insert(prefix.begin(), pre.begin(), pre.end());
    suffix.insert(suffix.end(), post.begin(), post.end());
    return;
  }
  if (type == "RobertaProcessing" || type == "BertProcessing") {
    for (const char* key : {"cls", "sep"}) {
      const json& pair = ctx.need(j, key, path);
      if (!pair.is_array() || pair.size() != 2 || !pair[1].is_number_integer())
        ctx.fail(path + "." + key, "expected [token, id]");
      auto id = pair[1].get<int32_t>();
      if (std::string(key) == "cls")
        prefix.insert(prefix.begin(), id);
      else
        suffix.push_back(id);
    }
    return;
  }
  if (type == "Sequence") {
    const json& items = ctx.need(j, "processors", path);
    if (!items.is_array()) ctx.fail(path + ".processors", "expected an array");
    for (size_t k = 0; k < items.size(); ++k)
      parse_post_processor(items[k], ctx, path + ".processors[" + std::to_string(k) + "]", prefix, suffix);
    return;
  }
  ctx.fail(path + ".type", "unsupported post-processor \"" + type + "\"");
}

json read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("[tokenizer] cannot open " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return json::parse(ss.str());
  } catch (const json::parse_error& e) {
    throw std::runtime_error("[tokenizer] " + path + ": malformed JSON: " + e.what());
  }
}

}  // namespace

namespace {

std::shared_ptr<TokenizerImpl> build_from_json(const json& j, const json& config, const std::string& source,
                                               const std::string& config_source);

}  // namespace

Tokenizer Tokenizer::from_file(const std::string& tokenizer_json, const std::string& tokenizer_config_json) {
  json tok = read_json_file(tokenizer_json);
  json config = tokenizer_config_json.empty() ? json() : read_json_file(tokenizer_config_json);
  return Tokenizer(build_from_json(tok, config, tokenizer_json, tokenizer_config_json));
}

Tokenizer Tokenizer::from_json(const json& j, const json& config, const std::string& source) {
  return Tokenizer(build_from_json(j, config, source, source + " (tokenizer_config)"));
}

Tokenizer Tokenizer::from_json(const json& j) { return from_json(j, json(), "tokenizer.json"); }

namespace {

std::shared_ptr<TokenizerImpl> build_impl(const json& j, const json& config, const std::string& source,
                                          const std::string& config_source) {
  JsonCtx ctx{source};
  if (!j.is_object()) ctx.fail("<root>", "expected an object");
  auto impl = std::make_shared<TokenizerImpl>();
  const json& model = ctx.need(j, "model", "");
  std::string type = model.is_object() ? ctx.get_string(model, "type", "BPE", "model") : "";
  if (!model.is_object()) ctx.fail("model", "expected an object");
  if (type != "BPE") ctx.fail("model.type", "unsupported model \"" + type + "\" (only BPE)");
  impl->model = detail::make_bpe(model, ctx, "model");
  impl->normalizer = detail::make_normalizer(j.value("normalizer", json()), ctx, "normalizer");
  impl->pre_tokenizer = detail::make_pre_tokenizer(j.value("pre_tokenizer", json()), ctx, "pre_tokenizer");
  impl->decoder = detail::make_decoder(j.value("decoder", json()), ctx, "decoder");

  if (j.contains("added_tokens") && !j["added_tokens"].is_null()) {
    const json& added = j["added_tokens"];
    if (!added.is_array()) ctx.fail("added_tokens", "expected an array");
    for (size_t k = 0; k < added.size(); ++k) {
      std::string path = "added_tokens[" + std::to_string(k) + "]";
      const json& a = added[k];
      detail::AddedToken t;
      t.content = ctx.need_string(a, "content", path);
      int64_t id = ctx.get_int(a, "id", -1, path);
      if (id < 0 || id > INT32_MAX) ctx.fail(path + ".id", "missing or negative");
      t.id = static_cast<int32_t>(id);
      t.special = ctx.get_bool(a, "special", false, path);
      t.lstrip = ctx.get_bool(a, "lstrip", false, path);
      t.rstrip = ctx.get_bool(a, "rstrip", false, path);
      t.single_word = ctx.get_bool(a, "single_word", false, path);
      t.normalized = ctx.get_bool(a, "normalized", !t.special, path);
      impl->added.push_back(std::move(t));
    }
  }
  impl->finish_added(ctx);
  parse_post_processor(j.value("post_processor", json()), ctx, "post_processor", impl->prefix, impl->suffix);

  JsonCtx cctx{config_source};
  if (config.is_object()) {
    for (auto [key, slot] : {std::pair{"bos_token", &impl->bos}, std::pair{"eos_token", &impl->eos}}) {
      if (!config.contains(key)) continue;
      if (auto name = token_name(config[key])) {
        *slot = lookup(*impl, *name);
        if (!*slot) cctx.fail(key, "\"" + *name + "\" is not a token");
      }
    }
    // transformers rebuilds the template of Llama/Gemma tokenizers from these two flags.
    std::string cls = config.value("tokenizer_class", std::string());
    bool rebuilds = cls.rfind("Llama", 0) == 0 || cls.rfind("CodeLlama", 0) == 0 || cls.rfind("Gemma", 0) == 0;
    if (rebuilds && (config.contains("add_bos_token") || config.contains("add_eos_token"))) {
      bool add_bos = cctx.get_bool(config, "add_bos_token", true, "");
      bool add_eos = cctx.get_bool(config, "add_eos_token", false, "");
      if ((add_bos && !impl->bos) || (add_eos && !impl->eos))
        cctx.fail(add_bos && !impl->bos ? "bos_token" : "eos_token", "needed by add_bos_token/add_eos_token");
      impl->prefix.clear();
      impl->suffix.clear();
      if (add_bos) impl->prefix.push_back(*impl->bos);
      if (add_eos) impl->suffix.push_back(*impl->eos);
    }
  } else if (!config.is_null()) {
    cctx.fail("<root>", "expected an object");
  }
  if (!impl->bos && impl->prefix.size() == 1) impl->bos = impl->prefix[0];
  for (int32_t id : impl->prefix)
    if (id < 0 || id >= impl->vocab_size) ctx.fail("post_processor", "id " + std::to_string(id) + " out of range");
  for (int32_t id : impl->suffix)
    if (id < 0 || id >= impl->vocab_size) ctx.fail("post_processor", "id " + std::to_string(id) + " out of range");
  return impl;
}

// Wraps what nlohmann::json throws on a value of the wrong type (e.g. an id that is a string)
// into the same kind of error as the checks above.
std::shared_ptr<TokenizerImpl> build_from_json(const json& j, const json& config, const std::string& source,
                                               const std::string& config_source) {
  try {
    return build_impl(j, config, source, config_source);
  } catch (const json::exception& e) {
    throw std::runtime_error("[tokenizer] " + source + ": " + e.what());
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// GGUF

namespace {

// Pre-tokenizer regexes of llama.cpp (llama-vocab.cpp), written as the tokenizer.json of the same
// model family has them.
const char* kLlama3Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char* kGpt2Regex = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const char* kQwen2Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

json byte_level(bool use_regex) {
  return {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", use_regex}, {"trim_offsets", false}};
}

json split_regex(const char* regex) {
  return {{"type", "Split"}, {"pattern", {{"Regex", regex}}}, {"behavior", "Isolated"}, {"invert", false}};
}

}  // namespace

Tokenizer Tokenizer::from_gguf(const GGUFVocab& v) {
  JsonCtx ctx{"GGUF tokenizer metadata"};
  const size_t n = v.tokens.size();
  if (n == 0) ctx.fail("tokenizer.ggml.tokens", "missing or empty");
  if (!v.token_types.empty() && v.token_types.size() != n)
    ctx.fail("tokenizer.ggml.token_type",
             std::to_string(v.token_types.size()) + " entries for " + std::to_string(n) + " tokens");
  auto impl = std::make_shared<TokenizerImpl>();
  impl->model = std::make_unique<detail::BpeModel>();
  detail::BpeModel& m = *impl->model;
  m.id_to_token = v.tokens;
  m.vocab.reserve(n);
  for (size_t i = 0; i < n; ++i) m.vocab.emplace(v.tokens[i], static_cast<int32_t>(i));  // first id wins
  auto check_id = [&](int32_t id, const char* field) -> std::optional<int32_t> {
    if (id < 0) return std::nullopt;
    if (static_cast<size_t>(id) >= n) ctx.fail(field, "id " + std::to_string(id) + " out of range");
    return id;
  };
  impl->bos = check_id(v.bos, "tokenizer.ggml.bos_token_id");
  impl->eos = check_id(v.eos, "tokenizer.ggml.eos_token_id");
  bool add_bos = false;
  if (v.model == "gpt2") {
    for (size_t r = 0; r < v.merges.size(); ++r) {
      const std::string& s = v.merges[r];
      size_t sp = s.find(' ', 1);
      std::string field = "tokenizer.ggml.merges[" + std::to_string(r) + "]";
      if (sp == std::string::npos) ctx.fail(field, "expected \"a b\", got \"" + s + "\"");
      auto ia = m.vocab.find(std::string_view(s).substr(0, sp));
      auto ib = m.vocab.find(std::string_view(s).substr(sp + 1));
      auto ij = m.vocab.find(s.substr(0, sp) + s.substr(sp + 1));
      if (ia == m.vocab.end() || ib == m.vocab.end() || ij == m.vocab.end())
        ctx.fail(field, "merge \"" + s + "\" uses a token missing from the vocabulary");
      uint64_t key =
          (static_cast<uint64_t>(static_cast<uint32_t>(ia->second)) << 32) | static_cast<uint32_t>(ib->second);
      m.merges.insert_or_assign(key, std::make_pair(static_cast<int32_t>(r), ij->second));
    }
    const std::string& pre = v.pre;
    auto is = [&](std::initializer_list<const char*> names) {
      return std::any_of(names.begin(), names.end(), [&](const char* n) { return pre == n; });
    };
    json pt;
    bool default_bos = false;
    if (is({"smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva"})) {
      // llama.cpp: "\p{N}" then the GPT-2 regex, i.e. digits one by one
      pt = {{"type", "Sequence"},
            {"pretokenizers", {{{"type", "Digits"}, {"individual_digits", true}}, byte_level(true)}}};
    } else if (is({"gpt2"})) {
      pt = byte_level(true);
    } else if (is({"default", ""})) {
      // llama.cpp's fallback for BPE vocabularies: four regexes applied one after the other
      pt = {{"type", "Sequence"},
            {"pretokenizers",
             {split_regex("[\\p{P}\\$\\+<=>\\^~\\|]+"), split_regex(kGpt2Regex), split_regex("\\p{N}+"),
              split_regex("[0-9][0-9][0-9]"), byte_level(false)}}};
    } else if (is({"llama-bpe", "llama3", "llama-v3", "falcon3"})) {
      pt = {{"type", "Sequence"}, {"pretokenizers", {split_regex(kLlama3Regex), byte_level(false)}}};
      m.ignore_merges = true;  // as llama.cpp and Llama-3's tokenizer.json
      default_bos = true;
    } else if (is({"qwen2", "deepseek-r1-qwen"})) {
      pt = {{"type", "Sequence"}, {"pretokenizers", {split_regex(kQwen2Regex), byte_level(false)}}};
      // Qwen2's tokenizer.json normalizes to NFC (llama.cpp does not; this follows Hugging Face)
      impl->normalizer = detail::make_normalizer({{"type", "NFC"}}, ctx, "normalizer");
    } else {
      ctx.fail("tokenizer.ggml.pre", "unsupported pre-tokenizer \"" + pre +
                                         "\" (known: smollm, starcoder, refact, command-r, codeshell, exaone, "
                                         "minerva, gpt2, default, llama-bpe, llama3, llama-v3, falcon3, qwen2, "
                                         "deepseek-r1-qwen)");
    }
    impl->pre_tokenizer = detail::make_pre_tokenizer(pt, ctx, "pre_tokenizer");
    impl->decoder = detail::make_decoder({{"type", "ByteLevel"}}, ctx, "decoder");
    add_bos = v.add_bos.value_or(default_bos);
  } else if (v.model == "llama") {
    if (v.scores.size() != n)
      ctx.fail("tokenizer.ggml.scores",
               std::to_string(v.scores.size()) + " entries for " + std::to_string(n) + " tokens");
    m.scores = v.scores;
    m.use_scores = true;
    m.byte_fallback = true;
    m.fuse_unk = true;
    m.unk = check_id(v.unk, "tokenizer.ggml.unknown_token_id");
    bool space_prefix = v.add_space_prefix.value_or(true);
    json norm = {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}};
    if (space_prefix)
      norm = {{"type", "Sequence"}, {"normalizers", {{{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}}, norm}}};
    impl->normalizer = detail::make_normalizer(norm, ctx, "normalizer");
    json dec = {{"type", "Sequence"},
                {"decoders",
                 {{{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
                  {{"type", "ByteFallback"}},
                  {{"type", "Fuse"}}}}};
    if (space_prefix) dec["decoders"].push_back({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
    impl->decoder = detail::make_decoder(dec, ctx, "decoder");
    add_bos = v.add_bos.value_or(true);
  } else {
    ctx.fail("tokenizer.ggml.model", "unsupported model \"" + v.model + "\" (known: gpt2, llama)");
  }
  m.finish_setup();
  // Control (3) and user-defined (4) tokens are matched in the text like added tokens; the
  // unknown token (2) too for "llama", as the tokenizer.json of Llama-2 lists <unk>.
  for (size_t i = 0; i < v.token_types.size(); ++i) {
    int32_t t = v.token_types[i];
    if (t == 3 || t == 4 || (t == 2 && v.model == "llama")) {
      detail::AddedToken a;
      a.content = v.tokens[i];
      a.id = static_cast<int32_t>(i);
      a.special = t != 4;
      if (!a.content.empty()) impl->added.push_back(std::move(a));
    }
  }
  impl->finish_added(ctx);
  if (add_bos) {
    if (!impl->bos) ctx.fail("tokenizer.ggml.bos_token_id", "missing but add_bos_token is true");
    impl->prefix.push_back(*impl->bos);
  }
  if (v.add_eos.value_or(false)) {
    if (!impl->eos) ctx.fail("tokenizer.ggml.eos_token_id", "missing but add_eos_token is true");
    impl->suffix.push_back(*impl->eos);
  }
  return Tokenizer(std::move(impl));
}

// ---------------------------------------------------------------------------------------------
// Encode / decode

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  std::vector<int32_t> ids;
  if (add_special_tokens) ids = impl_->prefix;
  impl_->encode_text(text, true, ids);
  if (add_special_tokens) ids.insert(ids.end(), impl_->suffix.begin(), impl_->suffix.end());
  return ids;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (skip_special_tokens && is_special(id)) continue;
    const std::string& t = id_to_token(id);
    if (t.empty()) continue;  // a hole in the ids: Hugging Face skips it too
    tokens.push_back(t);
  }
  if (!impl_->decoder) {
    std::string out;
    for (size_t k = 0; k < tokens.size(); ++k) out += (k ? " " : "") + tokens[k];
    return out;
  }
  impl_->decoder->decode_chain(tokens);
  std::string out;
  for (const std::string& t : tokens) out += t;
  return out;
}

int32_t Tokenizer::vocab_size() const { return impl_->vocab_size; }

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const { return lookup(*impl_, token); }

const std::string& Tokenizer::id_to_token(int32_t id) const {
  if (id < 0 || id >= impl_->vocab_size)
    throw std::out_of_range("[tokenizer] id " + std::to_string(id) + " is outside the vocabulary of " +
                            std::to_string(impl_->vocab_size) + " tokens");
  auto it = impl_->added_by_id.find(id);
  if (it != impl_->added_by_id.end()) return impl_->added[it->second].text;
  if (static_cast<size_t>(id) < impl_->model->id_to_token.size()) return impl_->model->id_to_token[id];
  return impl_->empty;
}

std::optional<int32_t> Tokenizer::bos_id() const { return impl_->bos; }
std::optional<int32_t> Tokenizer::eos_id() const { return impl_->eos; }

bool Tokenizer::is_special(int32_t id) const {
  auto it = impl_->added_by_id.find(id);
  return it != impl_->added_by_id.end() && impl_->added[it->second].special;
}

// ---------------------------------------------------------------------------------------------
// Streaming

StreamingDetokenizer::StreamingDetokenizer(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(&tokenizer), skip_special_(skip_special_tokens) {}

namespace {
bool ends_with_replacement(const std::string& s) {
  return s.size() >= 3 && s.compare(s.size() - 3, 3, "\xEF\xBF\xBD") == 0;
}
bool is_byte_token(const std::string& t) {
  return t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' &&
         std::isxdigit(static_cast<unsigned char>(t[3])) && std::isxdigit(static_cast<unsigned char>(t[4]));
}
}  // namespace

// Decodes a window that starts at the last id already emitted (its text gives the context the
// decoders need, e.g. the space Strip removes only at the very start) and emits what the new
// ids add, once it no longer ends in an incomplete character.
std::string StreamingDetokenizer::add(int32_t id) {
  const std::string& token = tokenizer_->id_to_token(id);  // range check
  if (skip_special_ && tokenizer_->is_special(id)) return "";
  ids_.push_back(id);
  // ByteFallback turns a whole run of <0xXX> tokens into U+FFFDs when any byte of it is invalid,
  // so nothing of a run is final before the token after it.
  if (tokenizer_->impl_->model->byte_fallback && is_byte_token(token)) return "";
  std::span<const int32_t> all(ids_);
  std::string before = tokenizer_->decode(all.subspan(prefix_, read_ - prefix_));
  std::string now = tokenizer_->decode(all.subspan(prefix_));
  if (now.size() <= before.size() || ends_with_replacement(now) || now.compare(0, before.size(), before) != 0)
    return "";
  prefix_ = read_;
  read_ = ids_.size();
  return now.substr(before.size());
}

std::string StreamingDetokenizer::finish() {
  if (read_ == ids_.size()) return "";
  std::span<const int32_t> all(ids_);
  std::string before = tokenizer_->decode(all.subspan(prefix_, read_ - prefix_));
  std::string now = tokenizer_->decode(all.subspan(prefix_));
  prefix_ = read_;  // later add()s go on from here, with the same context
  read_ = ids_.size();
  if (now.compare(0, before.size(), before) == 0) return now.substr(before.size());
  return now;
}

void StreamingDetokenizer::reset() {
  ids_.clear();
  prefix_ = read_ = 0;
}

}  // namespace ember::lm
