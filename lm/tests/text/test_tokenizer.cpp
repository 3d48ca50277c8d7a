// lm/text/tokenizer.h against Hugging Face `tokenizers`: the references are written by
// lm/tests/fixtures/make_tokenizer_fixtures.py (SmolLM2's vocabulary from its GGUF, and tokenizers
// trained there in the styles of Llama-2, Mistral, Llama-3, Qwen2 and GPT-2).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "lm/text/tokenizer.h"

namespace {

using ember::lm::GGUFVocab;
using ember::lm::StreamingDetokenizer;
using ember::lm::Tokenizer;
using nlohmann::json;
namespace fs = std::filesystem;

const fs::path kDir = fs::path(EMBER_LM_FIXTURES) / "tokenizer";

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The reason to skip when the fixture script could not make this reference, else "".
std::string skip_reason(const std::string& name) {
  for (fs::path p : {kDir.parent_path() / "tokenizer.SKIP", kDir / (name + ".SKIP")})
    if (fs::exists(p)) return read_text(p);
  if (!fs::exists(kDir / (name + ".expected.json")))
    return "no fixture " + (kDir / (name + ".expected.json")).string() + " (run the lm_fixtures test first)";
  return "";
}

json load_json(const fs::path& p) { return json::parse(read_text(p)); }

// Strict UTF-8 check, written independently of the library's own.
bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? c : c & (0x7F >> n);
    for (int k = 1; k < n; ++k) {
      auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

GGUFVocab vocab_from_dump(const json& d) {
  GGUFVocab v;
  v.model = d.at("model").get<std::string>();
  v.pre = d.at("pre").get<std::string>();
  v.tokens = d.at("tokens").get<std::vector<std::string>>();
  v.token_types = d.at("token_types").get<std::vector<int32_t>>();
  if (d.contains("scores")) v.scores = d["scores"].get<std::vector<float>>();
  v.merges = d.at("merges").get<std::vector<std::string>>();
  v.bos = d.value("bos", -1);
  v.eos = d.value("eos", -1);
  v.unk = d.value("unk", -1);
  v.pad = d.value("pad", -1);
  for (auto [key, slot] : {std::pair{"add_bos", &v.add_bos}, std::pair{"add_eos", &v.add_eos},
                           std::pair{"add_space_prefix", &v.add_space_prefix}})
    if (d.contains(key) && d[key].is_boolean()) *slot = d[key].get<bool>();
  return v;
}

std::string show(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7F) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02X", c);
      out += buf;
    }
  }
  return out;
}

// Streams `ids` one at a time: every piece must be whole UTF-8 and the pieces must add up to
// `want` (what decode gives).
void check_streaming(const Tokenizer& tok, const std::vector<int32_t>& ids, bool skip, const std::string& want) {
  StreamingDetokenizer stream(tok, skip);
  std::string all;
  for (size_t k = 0; k < ids.size(); ++k) {
    std::string piece = stream.add(ids[k]);
    ASSERT_TRUE(valid_utf8(piece)) << "step " << k << " gave a broken character: " << show(piece);
    all += piece;
  }
  std::string rest = stream.finish();
  ASSERT_TRUE(valid_utf8(rest)) << show(rest);
  all += rest;
  EXPECT_EQ(all, want) << "streamed " << show(all) << "\n decoded " << show(want);
}

// Every reference of one tokenizer: ids of each text with and without special tokens, decodes
// (plain and skipping special tokens) of those and of random ids, streaming, invalid UTF-8.
void check_against_reference(const Tokenizer& tok, const json& exp, const std::string& what) {
  for (const json& c : exp.at("cases")) {
    std::string text = c.at("text").get<std::string>();
    auto ids = c.at("ids").get<std::vector<int32_t>>();
    SCOPED_TRACE(what + ": text \"" + show(text) + "\"");
    EXPECT_EQ(tok.encode(text, true), ids);
    EXPECT_EQ(tok.encode(text, false), c.at("ids_no_special").get<std::vector<int32_t>>());
    EXPECT_EQ(tok.decode(ids, false), c.at("decoded").get<std::string>());
    EXPECT_EQ(tok.decode(ids, true), c.at("decoded_skip_special").get<std::string>());
    check_streaming(tok, ids, false, c.at("decoded").get<std::string>());
    check_streaming(tok, ids, true, c.at("decoded_skip_special").get<std::string>());
  }
  for (const json& c : exp.at("random")) {
    auto ids = c.at("ids").get<std::vector<int32_t>>();
    SCOPED_TRACE(what + ": random ids " + c.at("ids").dump());
    EXPECT_EQ(tok.decode(ids, false), c.at("decoded").get<std::string>());
    EXPECT_EQ(tok.decode(ids, true), c.at("decoded_skip_special").get<std::string>());
    check_streaming(tok, ids, false, c.at("decoded").get<std::string>());
  }
  for (const json& c : exp.at("invalid_utf8")) {
    std::string raw = from_hex(c.at("hex").get<std::string>());
    SCOPED_TRACE(what + ": raw bytes " + c.at("hex").get<std::string>());
    EXPECT_EQ(tok.encode(raw, false), c.at("ids").get<std::vector<int32_t>>());
  }
}

class Reference : public ::testing::TestWithParam<std::string> {};

TEST_P(Reference, TokenizerJsonMatchesHuggingFace) {
  const std::string name = GetParam();
  if (auto why = skip_reason(name); !why.empty()) GTEST_SKIP() << why;
  Tokenizer tok = Tokenizer::from_file((kDir / (name + ".tokenizer.json")).string());
  json exp = load_json(kDir / (name + ".expected.json"));
  check_against_reference(tok, exp, name + ".tokenizer.json");
}

INSTANTIATE_TEST_SUITE_P(Tokenizer, Reference,
                         ::testing::Values("smollm2", "llama2", "metaspace", "llama2_gguf", "llama3", "qwen2", "gpt2"));

// The same references through the GGUF fields (model "gpt2" with pre smollm/llama-bpe/qwen2, and
// model "llama" scored by the merges of the SentencePiece-style tokenizer).
class GGUFReference : public ::testing::TestWithParam<std::string> {};

TEST_P(GGUFReference, MatchesHuggingFace) {
  const std::string name = GetParam();
  if (auto why = skip_reason(name); !why.empty()) GTEST_SKIP() << why;
  Tokenizer tok = Tokenizer::from_gguf(vocab_from_dump(load_json(kDir / (name + ".gguf.json"))));
  json exp = load_json(kDir / (name + ".expected.json"));
  check_against_reference(tok, exp, name + " from GGUF fields");
}

INSTANTIATE_TEST_SUITE_P(Tokenizer, GGUFReference, ::testing::Values("smollm2", "llama2_gguf", "llama3", "qwen2"));

// A long text: exact ids, and the time against Hugging Face's in the fixture script.
class LongText : public ::testing::TestWithParam<std::string> {};

TEST_P(LongText, MatchesAndIsFast) {
  const std::string name = GetParam();
  if (auto why = skip_reason(name); !why.empty()) GTEST_SKIP() << why;
  json exp = load_json(kDir / (name + ".expected.json"));
  Tokenizer tok = Tokenizer::from_file((kDir / (name + ".tokenizer.json")).string());
  std::string text = exp["big"]["text"].get<std::string>();
  auto t0 = std::chrono::steady_clock::now();
  std::vector<int32_t> ids = tok.encode(text, false);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(ids, exp["big"]["ids"].get<std::vector<int32_t>>());
  double hf = exp["big"]["hf_seconds"].get<double>();
  std::printf("[ %s ] encode %.0f KB: %.3f s (%.1f MB/s), Hugging Face %.3f s, ratio %.2f\n", name.c_str(),
              text.size() / 1e3, seconds, text.size() / 1e6 / seconds, hf, seconds / hf);
  EXPECT_LT(seconds, 2.0) << "a few hundred KB should encode well under a second in a release build";
}

INSTANTIATE_TEST_SUITE_P(Tokenizer, LongText, ::testing::Values("smollm2", "llama2", "llama3"));

// Other split behaviours, normalizers and added-token flags, on GPT-2's vocabulary.
TEST(Tokenizer, PipelineVariantsMatchHuggingFace) {
  if (auto why = skip_reason("gpt2"); !why.empty()) GTEST_SKIP() << why;
  auto names = load_json(kDir / "variants.json").get<std::vector<std::string>>();
  ASSERT_GE(names.size(), 10u);
  for (const std::string& name : names) {
    Tokenizer tok = Tokenizer::from_file((kDir / (name + ".tokenizer.json")).string());
    check_against_reference(tok, load_json(kDir / (name + ".expected.json")), name);
  }
}

// ---------------------------------------------------------------------------------------------
// Behaviour the references do not cover

TEST(Tokenizer, GGUFAndJsonAgreeOnSmolLM2Tables) {
  if (auto why = skip_reason("smollm2"); !why.empty()) GTEST_SKIP() << why;
  Tokenizer a = Tokenizer::from_file((kDir / "smollm2.tokenizer.json").string());
  GGUFVocab v = vocab_from_dump(load_json(kDir / "smollm2.gguf.json"));
  Tokenizer b = Tokenizer::from_gguf(v);
  ASSERT_EQ(a.vocab_size(), b.vocab_size());
  EXPECT_EQ(a.vocab_size(), static_cast<int32_t>(v.tokens.size()));
  for (int32_t id = 0; id < a.vocab_size(); id += 97) {
    EXPECT_EQ(a.id_to_token(id), b.id_to_token(id));
    EXPECT_EQ(a.token_to_id(a.id_to_token(id)), id);
    EXPECT_EQ(a.is_special(id), b.is_special(id)) << id;
  }
  EXPECT_EQ(b.bos_id(), v.bos);
  EXPECT_EQ(b.eos_id(), v.eos);
  EXPECT_TRUE(b.is_special(*b.token_to_id("<|im_start|>")));
  EXPECT_FALSE(b.token_to_id("no such token really"));
}

// Every pre-tokenizer type from_gguf knows loads, and byte-level BPE gives the text back whatever
// the splitting (the types without a Hugging Face twin above are checked this far only).
TEST(Tokenizer, GGUFPreTypesRoundTrip) {
  if (auto why = skip_reason("llama3"); !why.empty()) GTEST_SKIP() << why;
  GGUFVocab v = vocab_from_dump(load_json(kDir / "llama3.gguf.json"));
  json exp = load_json(kDir / "llama3.expected.json");
  for (const char* pre : {"smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva", "gpt2",
                          "default", "", "llama-bpe", "llama3", "llama-v3", "falcon3"}) {
    v.pre = pre;
    Tokenizer tok = Tokenizer::from_gguf(v);
    for (const json& c : exp["cases"]) {
      std::string text = c["text"].get<std::string>();
      EXPECT_EQ(tok.decode(tok.encode(text, false)), text) << "pre \"" << pre << "\"";
    }
  }
  // "default" isolates punctuation runs and cuts digit runs in threes, unlike "gpt2".
  v.pre = "default";
  Tokenizer def = Tokenizer::from_gguf(v);
  v.pre = "gpt2";
  Tokenizer gpt2 = Tokenizer::from_gguf(v);
  int differ = 0;
  for (const char* text : {"a +b 12345", "1000000", "x == y", "3.14159265", "a ... b"})
    differ += def.encode(text, false) != gpt2.encode(text, false);
  EXPECT_GT(differ, 0);
}

TEST(Tokenizer, ConfigAddsBosAndEosForLlamaClasses) {
  if (auto why = skip_reason("llama2"); !why.empty()) GTEST_SKIP() << why;
  fs::path dir = fs::temp_directory_path() / "ember_tokenizer_test";
  fs::create_directories(dir);
  fs::path cfg = dir / "tokenizer_config.json";
  std::ofstream(cfg) << R"({"tokenizer_class": "LlamaTokenizer", "add_bos_token": true, "add_eos_token": true,
                           "bos_token": {"content": "<s>"}, "eos_token": "</s>"})";
  Tokenizer plain = Tokenizer::from_file((kDir / "llama2.tokenizer.json").string());
  Tokenizer tok = Tokenizer::from_file((kDir / "llama2.tokenizer.json").string(), cfg.string());
  ASSERT_TRUE(tok.bos_id() && tok.eos_id());
  EXPECT_EQ(tok.id_to_token(*tok.bos_id()), "<s>");
  EXPECT_EQ(tok.id_to_token(*tok.eos_id()), "</s>");
  std::vector<int32_t> body = plain.encode("Hello world", false);
  std::vector<int32_t> want{*tok.bos_id()};
  want.insert(want.end(), body.begin(), body.end());
  want.push_back(*tok.eos_id());
  EXPECT_EQ(tok.encode("Hello world", true), want);
  EXPECT_EQ(plain.encode("Hello world", true).back(), body.back());  // no EOS without the config

  std::ofstream(cfg) << R"({"eos_token": "</nope>"})";
  EXPECT_THROW(Tokenizer::from_file((kDir / "llama2.tokenizer.json").string(), cfg.string()), std::runtime_error);
  fs::remove_all(dir);
}

// Expects `f` to throw E with every one of `parts` in its message.
template <class E, class F>
void expect_error(F f, std::vector<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "no exception; expected one mentioning " << parts[0];
  } catch (const E& e) {
    for (const std::string& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

TEST(Tokenizer, ErrorsNameTheFileAndField) {
  expect_error<std::runtime_error>([] { Tokenizer::from_file("/nonexistent/tokenizer.json"); },
                                   {"/nonexistent/tokenizer.json"});
  fs::path dir = fs::temp_directory_path() / "ember_tokenizer_errors";
  fs::create_directories(dir);
  fs::path bad = dir / "bad.json";
  std::ofstream(bad) << "{\"model\": {\"type\": \"BPE\", ";
  expect_error<std::runtime_error>([&] { Tokenizer::from_file(bad.string()); }, {bad.string(), "malformed"});
  std::ofstream(bad) << R"({"version": "1.0", "added_tokens": []})";
  expect_error<std::runtime_error>([&] { Tokenizer::from_file(bad.string()); }, {bad.string(), "\"model\""});
  std::ofstream(bad) << R"({"model": {"type": "BPE", "merges": []}})";
  expect_error<std::runtime_error>([&] { Tokenizer::from_file(bad.string()); }, {bad.string(), "model.vocab"});
  std::ofstream(bad) << R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a c"]}})";
  expect_error<std::runtime_error>([&] { Tokenizer::from_file(bad.string()); }, {"model.merges[0]", "a c"});
  std::ofstream(bad) << R"({"model": {"type": "BPE", "vocab": {"a": "zero"}, "merges": []}})";
  expect_error<std::runtime_error>([&] { Tokenizer::from_file(bad.string()); }, {bad.string(), "model.vocab"});
  std::ofstream(bad) << R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
                            "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "a"}}],
                                               "special_tokens": {"a": {"ids": ["zero"]}}}})";
  expect_error<std::runtime_error>([&] { Tokenizer::from_file(bad.string()); }, {bad.string()});
  std::ofstream(bad) << R"({"model": {"type": "WordPiece", "vocab": {}}})";
  expect_error<std::runtime_error>([&] { Tokenizer::from_file(bad.string()); }, {"model.type", "WordPiece"});
  std::ofstream(bad) << R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
                            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Nope"}]}})";
  expect_error<std::runtime_error>([&] { Tokenizer::from_file(bad.string()); },
                                   {"pre_tokenizer.pretokenizers[0].type", "Nope"});
  std::ofstream(bad) << R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
                            "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(unclosed"}, "behavior": "Isolated"}})";
  expect_error<std::runtime_error>([&] { Tokenizer::from_file(bad.string()); }, {"regex", "(unclosed"});
  fs::remove_all(dir);

  expect_error<std::runtime_error>([] { Tokenizer::from_json(json::array()); }, {"tokenizer.json", "<root>"});
  expect_error<std::runtime_error>(
      [] {
        Tokenizer::from_json(json{{"model", {{"type", "BPE"}, {"vocab", {{"a", 0}}}}}}, json(), "mem");
      },
      {"mem", "model.merges"});

  GGUFVocab v;
  expect_error<std::runtime_error>([&] { Tokenizer::from_gguf(v); }, {"tokenizer.ggml.tokens"});
  v.model = "gpt2";
  v.pre = "tekken-unknown";
  v.tokens = {"a", "b", "ab"};
  v.merges = {"a b"};
  expect_error<std::runtime_error>([&] { Tokenizer::from_gguf(v); }, {"tokenizer.ggml.pre", "tekken-unknown"});
  v.pre = "gpt2";
  v.merges = {"a c"};
  expect_error<std::runtime_error>([&] { Tokenizer::from_gguf(v); }, {"tokenizer.ggml.merges[0]"});
  v.merges = {"a b"};
  v.model = "bert";
  expect_error<std::runtime_error>([&] { Tokenizer::from_gguf(v); }, {"tokenizer.ggml.model", "bert"});
  v.model = "llama";
  expect_error<std::runtime_error>([&] { Tokenizer::from_gguf(v); }, {"tokenizer.ggml.scores"});
}

TEST(Tokenizer, OutOfRangeIdsThrow) {
  if (auto why = skip_reason("gpt2"); !why.empty()) GTEST_SKIP() << why;
  Tokenizer tok = Tokenizer::from_file((kDir / "gpt2.tokenizer.json").string());
  const int32_t n = tok.vocab_size();
  std::string size = std::to_string(n);
  std::vector<int32_t> ids{0, n};
  expect_error<std::out_of_range>([&] { tok.decode(ids); }, {std::to_string(n), size});
  ids = {-3};
  expect_error<std::out_of_range>([&] { tok.decode(ids); }, {"-3", size});
  expect_error<std::out_of_range>([&] { tok.id_to_token(n + 5); }, {std::to_string(n + 5), size});
  StreamingDetokenizer stream(tok);
  EXPECT_THROW(stream.add(n), std::out_of_range);
  EXPECT_NO_THROW(tok.id_to_token(n - 1));
}

// A tokenizer is shared between threads (the word cache is locked): results must not change.
TEST(Tokenizer, ConcurrentEncodeGivesTheSameIds) {
  if (auto why = skip_reason("llama3"); !why.empty()) GTEST_SKIP() << why;
  Tokenizer tok = Tokenizer::from_file((kDir / "llama3.tokenizer.json").string());
  json exp = load_json(kDir / "llama3.expected.json");
  std::vector<std::string> texts;
  std::vector<std::vector<int32_t>> want;
  for (const json& c : exp["cases"]) {
    texts.push_back(c["text"].get<std::string>());
    want.push_back(c["ids"].get<std::vector<int32_t>>());
  }
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      Tokenizer copy = tok;  // copies share the tables
      for (int rep = 0; rep < 20; ++rep)
        for (size_t k = 0; k < texts.size(); ++k) mismatches[t] += copy.encode(texts[k]) != want[k];
    });
  for (auto& th : threads) th.join();
  for (int m : mismatches) EXPECT_EQ(m, 0);
}

// Degenerate inputs: very long runs (regex backtracking, one huge BPE word) and random bytes.
TEST(Tokenizer, LongRunsAndRandomBytesRoundTrip) {
  if (auto why = skip_reason("llama3"); !why.empty()) GTEST_SKIP() << why;
  for (const char* name : {"llama3", "smollm2", "llama2"}) {
    if (!skip_reason(name).empty()) continue;
    Tokenizer tok = Tokenizer::from_file((kDir / (std::string(name) + ".tokenizer.json")).string());
    std::string emoji;
    for (int k = 0; k < 20000; ++k) emoji += "\U0001F600";
    for (const std::string& text : {std::string(200000, ' '), "x" + std::string(100000, '\n') + "y",
                                    std::string(200000, 'a'), std::string(100000, '7'), emoji}) {
      auto t0 = std::chrono::steady_clock::now();
      std::vector<int32_t> ids = tok.encode(text, false);
      double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::string back = tok.decode(ids);
      // Llama-2's decoder strips the space its normalizer put in front.
      EXPECT_EQ(back, text) << name << ": round trip of a run of " << show(text.substr(0, 4));
      EXPECT_LT(seconds, 2.0) << name << ": run of " << show(text.substr(0, 4));
    }
    std::mt19937 rng(7);
    for (int k = 0; k < 200; ++k) {
      std::string raw(rng() % 40, '\0');
      for (char& c : raw) c = static_cast<char>(rng() % 256);
      std::string back = tok.decode(tok.encode(raw, false));
      EXPECT_TRUE(valid_utf8(back)) << name << ": " << show(raw);
      EXPECT_EQ(tok.decode(tok.encode(back, false)), back) << name << ": " << show(raw);
    }
  }
}

TEST(StreamingDetokenizer, HoldsBackSplitCharactersAndResets) {
  if (auto why = skip_reason("llama2"); !why.empty()) GTEST_SKIP() << why;
  Tokenizer tok = Tokenizer::from_file((kDir / "llama2.tokenizer.json").string());
  // The crab (F0 9F A6 80) is not in this small vocabulary: it becomes four byte tokens.
  std::vector<int32_t> ids = tok.encode("a\U0001F980", false);
  ASSERT_EQ(ids.size(), 5u);
  StreamingDetokenizer stream(tok);
  std::string out;
  for (size_t k = 0; k + 1 < ids.size(); ++k) {
    std::string piece = stream.add(ids[k]);
    EXPECT_TRUE(valid_utf8(piece));
    out += piece;
  }
  EXPECT_EQ(out, "a");  // the character is still incomplete
  // A run of byte tokens is final only at the next ordinary token (or at finish()).
  out += stream.add(ids.back());
  EXPECT_EQ(out, "a");
  std::vector<int32_t> next = tok.encode(" ok", false);
  std::string tail = stream.add(next[0]);
  EXPECT_EQ(out + tail, tok.decode(std::vector<int32_t>{ids[0], ids[1], ids[2], ids[3], ids[4], next[0]}));
  EXPECT_EQ(stream.finish(), "");
  stream.reset();
  EXPECT_EQ(stream.add(ids[0]) + stream.finish(), tok.decode(std::vector<int32_t>{ids[0]}));
}

}  // namespace
