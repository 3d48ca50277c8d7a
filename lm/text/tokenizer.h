// Text <-> token ids, equal token for token to Hugging Face `tokenizers` for the models lm/ runs:
// byte-level BPE (Llama-3, Qwen2/2.5/3, SmolLM2, GPT-2) and SentencePiece-style BPE with byte
// fallback (Llama-2, Mistral). Loaded from tokenizer.json (+ tokenizer_config.json) or from the
// tokenizer.ggml.* metadata of a GGUF file.
//
// Input text that is not valid UTF-8 is first repaired the way Rust's String::from_utf8_lossy
// does (each maximal invalid subsequence becomes U+FFFD), so the result is the tokenization of
// that repaired string; the library never reads past the input on bad bytes.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace ember::lm {

namespace detail {
struct TokenizerImpl;
}

// The tokenizer.ggml.* metadata of a GGUF file, already parsed (lm/ reads the GGUF).
struct GGUFVocab {
  std::string model;                 // "gpt2" (byte-level BPE) or "llama" (SentencePiece-style BPE)
  std::string pre;                   // tokenizer.ggml.pre: "smollm", "llama-bpe", "qwen2", "gpt2", "default", ...
  std::vector<std::string> tokens;   // id -> token text
  std::vector<int32_t> token_types;  // 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
  std::vector<float> scores;         // "llama": merge priority of each token (higher merges first)
  std::vector<std::string> merges;   // "gpt2": "a b" pairs, rank = index
  int32_t bos = -1, eos = -1, unk = -1, pad = -1;
  std::optional<bool> add_bos, add_eos, add_space_prefix;
};

// A loaded tokenizer. Cheap to copy (the tables are shared) and safe to use from several threads.
class Tokenizer {
 public:
  // Reads tokenizer.json and, when the path is not empty, tokenizer_config.json (BOS/EOS names,
  // add_bos_token/add_eos_token for Llama/Gemma tokenizer classes). Throws std::runtime_error
  // naming the file and the field on a missing file or a malformed/unsupported field.
  static Tokenizer from_file(const std::string& tokenizer_json, const std::string& tokenizer_config_json = "");
  // Same from parsed JSON (config may be null); `source` names the origin in error messages.
  static Tokenizer from_json(const nlohmann::json& tokenizer, const nlohmann::json& config,
                             const std::string& source = "tokenizer.json");
  static Tokenizer from_json(const nlohmann::json& tokenizer);
  // Builds the tokenizer llama.cpp would use for these GGUF fields (pre-tokenizer chosen by
  // vocab.pre). Throws std::runtime_error on an unknown model or pre type or inconsistent fields.
  static Tokenizer from_gguf(const GGUFVocab& vocab);

  // Token ids of `text`. Added/special tokens written in the text are always matched; BOS/EOS
  // are added per the post-processor (or add_bos) only when add_special_tokens is true.
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens = true) const;
  // Text of `ids`; throws std::out_of_range naming an id outside [0, vocab_size()).
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens = false) const;

  // Number of ids, added tokens included (one past the largest id).
  int32_t vocab_size() const;
  // Id of a token's text (added tokens first, then the model's vocabulary).
  std::optional<int32_t> token_to_id(std::string_view token) const;
  // Text of a token as stored in the vocabulary (byte-level tokens are in their mapped form).
  // Throws std::out_of_range for an id outside [0, vocab_size()).
  const std::string& id_to_token(int32_t id) const;
  // Beginning/end-of-sequence ids, when the files name them.
  std::optional<int32_t> bos_id() const;
  std::optional<int32_t> eos_id() const;
  // True for special added tokens (what decode(skip_special_tokens=true) drops).
  bool is_special(int32_t id) const;

 private:
  explicit Tokenizer(std::shared_ptr<const detail::TokenizerImpl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const detail::TokenizerImpl> impl_;
  friend class StreamingDetokenizer;
};

// Decodes ids one at a time, as a model generates them. Each call returns the text that became
// final with that id: only whole UTF-8 characters, never a broken sequence, and the pieces
// concatenated (add()s then finish()) equal tokenizer.decode(all ids).
class StreamingDetokenizer {
 public:
  // Keeps a reference: the tokenizer must outlive this object.
  explicit StreamingDetokenizer(const Tokenizer& tokenizer, bool skip_special_tokens = false);
  // Text completed by `id` (may be empty while a multi-byte character is still incomplete).
  std::string add(int32_t id);
  // Whatever is still held back (an incomplete character at the end becomes U+FFFD, as decode
  // does). Later add()s continue the same sequence; reset() starts a new one.
  std::string finish();
  // Forgets all ids, to start a new sequence.
  void reset();

 private:
  const Tokenizer* tokenizer_;
  bool skip_special_;
  std::vector<int32_t> ids_;
  size_t prefix_ = 0;  // ids_[prefix_, read_) were decoded already and give the context of the next piece
  size_t read_ = 0;
};

}  // namespace ember::lm
