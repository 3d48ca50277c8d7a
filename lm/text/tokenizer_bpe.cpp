// BPE over one pre-tokenized word: by merge rank (Hugging Face `tokenizers` models::bpe) or by
// the score of the joined token (SentencePiece BPE as llama.cpp runs GGUF "llama" vocabularies).
#include <cstdio>
#include <queue>
#include <stdexcept>

#include "lm/text/tokenizer_internal.h"

namespace ember::lm::detail {

namespace {

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

constexpr size_t kMaxCachedWord = 256;      // longer words are rare and not worth keeping
constexpr size_t kMaxCacheEntries = 65536;  // the cache is cleared when it grows past this

}  // namespace

void BpeModel::finish_setup() {
  byte_ids.fill(-1);
  char name[8];
  for (int b = 0; b < 256; ++b) {
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    auto it = vocab.find(std::string_view(name));
    if (it != vocab.end()) byte_ids[b] = it->second;
  }
}

// Appends the symbol(s) of one character: its token, its <0xXX> byte tokens, or unk.
void BpeModel::push_char(std::string_view ch, std::vector<int32_t>& ids, bool& last_unk) const {
  auto it = vocab.find(ch);
  if (it != vocab.end()) {
    ids.push_back(it->second);
    last_unk = false;
    return;
  }
  if (byte_fallback) {
    bool all = true;
    for (char c : ch) all &= byte_ids[static_cast<unsigned char>(c)] >= 0;
    if (all) {
      for (char c : ch) ids.push_back(byte_ids[static_cast<unsigned char>(c)]);
      last_unk = false;
      return;
    }
  }
  if (unk) {
    if (!(fuse_unk && last_unk)) ids.push_back(*unk);
    last_unk = true;
  }
  // Without an unk token the character is dropped, as Hugging Face does.
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges && !use_scores) {
    auto it = vocab.find(word);
    if (it != vocab.end()) {
      out.push_back(it->second);
      return;
    }
  }
  bool cacheable = word.size() < kMaxCachedWord;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mu_);
    auto it = cache_.find(word);
    if (it != cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids;
  if (use_scores)
    merge_by_score(word, ids);
  else
    merge_by_rank(word, ids);
  out.insert(out.end(), ids.begin(), ids.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mu_);
    if (cache_.size() >= kMaxCacheEntries) cache_.clear();
    cache_.emplace(std::string(word), std::move(ids));
  }
}

void BpeModel::merge_by_rank(std::string_view word, std::vector<int32_t>& out) const {
  std::vector<int32_t> ids;
  bool last_unk = false;
  for (size_t i = 0; i < word.size();) {
    size_t n = utf8_char_len(word, i);
    if (n == 0) n = 1;
    push_char(word.substr(i, n), ids, last_unk);
    i += n;
  }
  const int n = static_cast<int>(ids.size());
  if (n < 2) {
    out = std::move(ids);
    return;
  }
  // Symbols as a doubly linked list; candidate merges in a heap ordered by (rank, position),
  // lazily invalidated: an entry is used only if its pair still maps to the same merged id.
  std::vector<int> prev(n), next(n);
  std::vector<char> alive(n, 1);
  for (int i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  struct Cand {
    int32_t rank;
    int pos;
    int32_t new_id;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
  auto consider = [&](int left) {
    int right = next[left];
    if (right < 0) return;
    auto it = merges.find(pair_key(ids[left], ids[right]));
    if (it != merges.end()) heap.push({it->second.first, left, it->second.second});
  };
  for (int i = 0; i + 1 < n; ++i) consider(i);
  while (!heap.empty()) {
    Cand c = heap.top();
    heap.pop();
    if (!alive[c.pos] || next[c.pos] < 0) continue;
    int right = next[c.pos];
    auto it = merges.find(pair_key(ids[c.pos], ids[right]));
    if (it == merges.end() || it->second.second != c.new_id) continue;  // stale entry
    ids[c.pos] = c.new_id;
    alive[right] = 0;
    next[c.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = c.pos;
    if (prev[c.pos] >= 0) consider(prev[c.pos]);
    consider(c.pos);
  }
  out.clear();
  for (int i = 0; i >= 0; i = next[i]) out.push_back(ids[i]);
}

void BpeModel::merge_by_score(std::string_view word, std::vector<int32_t>& out) const {
  // Symbols are byte ranges of `word` (one character each at first); adjacent ranges are
  // contiguous, so a pair's text is word.substr(start[left], len[left] + len[right]).
  std::vector<size_t> start, len;
  for (size_t i = 0; i < word.size();) {
    size_t n = utf8_char_len(word, i);
    if (n == 0) n = 1;
    start.push_back(i);
    len.push_back(n);
    i += n;
  }
  const int n = static_cast<int>(start.size());
  std::vector<int> prev(n), next(n);
  for (int i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  struct Cand {
    float score;
    int pos;
    size_t len;
    bool operator<(const Cand& o) const { return score != o.score ? score < o.score : pos > o.pos; }
  };
  std::priority_queue<Cand> heap;  // highest score first, then leftmost
  auto consider = [&](int left) {
    int right = next[left];
    if (right < 0) return;
    size_t l = len[left] + len[right];
    auto it = vocab.find(word.substr(start[left], l));
    if (it == vocab.end()) return;
    float s = it->second < static_cast<int32_t>(scores.size()) ? scores[it->second] : 0.0f;
    heap.push({s, left, l});
  };
  for (int i = 0; i + 1 < n; ++i) consider(i);
  while (!heap.empty()) {
    Cand c = heap.top();
    heap.pop();
    int right = next[c.pos];
    if (len[c.pos] == 0 || right < 0 || len[c.pos] + len[right] != c.len) continue;  // stale entry
    len[c.pos] = c.len;
    len[right] = 0;
    next[c.pos] = next[right];
    if (next[right] >= 0) prev[next[right]] = c.pos;
    if (prev[c.pos] >= 0) consider(prev[c.pos]);
    consider(c.pos);
  }
  out.clear();
  bool last_unk = false;
  for (int i = 0; i >= 0 && n > 0; i = next[i]) {
    std::string_view piece = word.substr(start[i], len[i]);
    auto it = vocab.find(piece);
    if (it != vocab.end()) {
      out.push_back(it->second);
      last_unk = false;
      continue;
    }
    // A piece outside the vocabulary is always a single character (merges only make tokens).
    push_char(piece, out, last_unk);
  }
}

std::unique_ptr<BpeModel> make_bpe(const json& j, const JsonCtx& ctx, const std::string& path) {
  auto m = std::make_unique<BpeModel>();
  const json& vocab = ctx.need(j, "vocab", path);
  if (!vocab.is_object()) ctx.fail(path + ".vocab", "expected an object {token: id}");
  m->vocab.reserve(vocab.size());
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 || it.value().get<int64_t>() > INT32_MAX)
      ctx.fail(path + ".vocab[\"" + it.key() + "\"]", "expected a non-negative integer id");
    auto id = static_cast<int32_t>(it.value().get<int64_t>());
    m->vocab[it.key()] = id;
    if (static_cast<size_t>(id) >= m->id_to_token.size()) m->id_to_token.resize(static_cast<size_t>(id) + 1);
    m->id_to_token[id] = it.key();
  }
  for (const char* unsupported : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    std::string v = ctx.get_string(j, unsupported, "", path);
    if (!v.empty()) ctx.fail(path + "." + unsupported, "not supported (only empty/null)");
  }
  if (j.contains("dropout") && !j["dropout"].is_null() && j["dropout"].is_number() && j["dropout"].get<double>() > 0)
    ctx.fail(path + ".dropout", "BPE dropout is not supported");
  m->fuse_unk = ctx.get_bool(j, "fuse_unk", false, path);
  m->byte_fallback = ctx.get_bool(j, "byte_fallback", false, path);
  m->ignore_merges = ctx.get_bool(j, "ignore_merges", false, path);
  std::string unk = ctx.get_string(j, "unk_token", "", path);
  if (!unk.empty()) {
    auto it = m->vocab.find(unk);
    if (it == m->vocab.end()) ctx.fail(path + ".unk_token", "\"" + unk + "\" is not in the vocabulary");
    m->unk = it->second;
  }
  const json& merges = ctx.need(j, "merges", path);
  if (!merges.is_array()) ctx.fail(path + ".merges", "expected an array");
  m->merges.reserve(merges.size());
  for (size_t r = 0; r < merges.size(); ++r) {
    const json& e = merges[r];
    std::string field = path + ".merges[" + std::to_string(r) + "]";
    std::string a, b;
    if (e.is_string()) {  // "a b"
      const std::string& s = e.get_ref<const std::string&>();
      size_t sp = s.find(' ', 1);
      if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos)
        ctx.fail(field, "expected \"a b\", got \"" + s + "\"");
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else if (e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string()) {  // ["a", "b"]
      a = e[0].get<std::string>();
      b = e[1].get<std::string>();
    } else {
      ctx.fail(field, "expected \"a b\" or [\"a\", \"b\"]");
    }
    auto ia = m->vocab.find(a), ib = m->vocab.find(b), ij = m->vocab.find(a + b);
    if (ia == m->vocab.end() || ib == m->vocab.end() || ij == m->vocab.end())
      ctx.fail(field, "merge \"" + a + " " + b + "\" uses a token missing from the vocabulary");
    // A repeated pair keeps its last rank, as the hash map Hugging Face collects into does.
    m->merges.insert_or_assign(pair_key(ia->second, ib->second), std::make_pair(static_cast<int32_t>(r), ij->second));
  }
  m->finish_setup();
  return m;
}

}  // namespace ember::lm::detail
