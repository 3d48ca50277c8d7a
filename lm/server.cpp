#include "lm/server.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "ember/allocator.h"
#include "lm/generate.h"
#include "lm/server_page.h"

namespace ember::lm {

namespace {

using nlohmann::json;

// A request the server refuses: the HTTP status and OpenAI's error fields.
struct ApiError : std::runtime_error {
  int status;
  std::string type, param;
  ApiError(int status, const std::string& message, std::string param = "", std::string type = "invalid_request_error")
      : std::runtime_error(message), status(status), type(std::move(type)), param(std::move(param)) {}
};

// JSON text that never throws on invalid UTF-8 (a token's bytes may be half a character).
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json error_body(const std::string& message, const std::string& type, const std::string& param, int status) {
  json e = {{"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}};
  if (!param.empty()) e["param"] = param;
  if (status == 401) e["code"] = "invalid_api_key";
  if (status == 404) e["code"] = "not_found";
  return json{{"error", e}};
}

void send_error(httplib::Response& res, int status, const std::string& message, const std::string& type,
                const std::string& param = "") {
  res.status = status;
  res.set_content(dump(error_body(message, type, param, status)), "application/json");
}

// ---------------------------------------------------------------- request fields

const char* kind_of(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::string:
      return "a string";
    case json::value_t::array:
      return "an array";
    case json::value_t::object:
      return "an object";
    default:
      return "a number";
  }
}

// body[name] when present and not null.
const json* field(const json& body, const char* name) {
  auto it = body.find(name);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

std::optional<double> number(const json& body, const char* name, double lo, double hi) {
  const json* v = field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_number()) throw ApiError(400, std::string("'") + name + "' must be a number, got " + kind_of(*v), name);
  double x = v->get<double>();
  if (!(x >= lo && x <= hi)) {
    throw ApiError(
        400,
        std::string("'") + name + "' must be in [" + json(lo).dump() + ", " + json(hi).dump() + "], got " + v->dump(),
        name);
  }
  return x;
}

std::optional<int64_t> integer(const json& body, const char* name, int64_t lo, int64_t hi) {
  const json* v = field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_number_integer()) {
    throw ApiError(
        400, std::string("'") + name + "' must be an integer, got " + (v->is_number() ? v->dump() : kind_of(*v)), name);
  }
  // nlohmann reads non-negative integers as unsigned: past int64's range is out of range too.
  const bool huge = v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX);
  const int64_t x = huge ? 0 : v->is_number_unsigned() ? static_cast<int64_t>(v->get<uint64_t>()) : v->get<int64_t>();
  if (huge || x < lo || x > hi) {
    throw ApiError(400,
                   std::string("'") + name + "' must be in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                       "], got " + v->dump(),
                   name);
  }
  return x;
}

std::optional<bool> boolean(const json& body, const char* name) {
  const json* v = field(body, name);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) throw ApiError(400, std::string("'") + name + "' must be a boolean, got " + kind_of(*v), name);
  return v->get<bool>();
}

// A message's content: a string, or an array of {"type": "text", "text": ...} parts (joined).
std::string message_content(const json& m, size_t i) {
  const std::string where = "messages[" + std::to_string(i) + "].content";
  auto it = m.find("content");
  if (it == m.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (!it->is_array()) throw ApiError(400, "'" + where + "' must be a string or an array of text parts", where);
  std::string text;
  for (const json& part : *it) {
    if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part["text"].is_string()) {
      throw ApiError(
          400, "'" + where + "' parts must be {\"type\": \"text\", \"text\": string}; other kinds are not supported",
          where);
    }
    text += part["text"].get<std::string>();
  }
  return text;
}

// ---------------------------------------------------------------- a generation job

struct Job {
  bool chat = true;
  std::vector<int32_t> prompt;
  std::string echo;  // /v1/completions with echo: the prompt text, before the answer
  GenerateOptions options;
  bool stream = false, include_usage = false;
  bool logprobs = false;
};

// The sampling fields both endpoints share (OpenAI's names and ranges; top_k, min_p and
// repetition_penalty as llama.cpp's and mlx-lm's servers take them).
void read_sampling(const json& body, const Model& model, int prompt_len, int default_max_tokens, Job& job) {
  SamplingParams& s = job.options.sampling;
  s.temperature = static_cast<float>(number(body, "temperature", 0, 2).value_or(1.0));
  s.top_p = static_cast<float>(number(body, "top_p", 0, 1).value_or(1.0));
  if (s.top_p == 0.0f) throw ApiError(400, "'top_p' must be greater than 0", "top_p");
  s.top_k = static_cast<int>(integer(body, "top_k", 0, std::numeric_limits<int>::max()).value_or(0));
  s.min_p = static_cast<float>(number(body, "min_p", 0, 1).value_or(0.0));
  s.presence_penalty = static_cast<float>(number(body, "presence_penalty", -2, 2).value_or(0.0));
  s.frequency_penalty = static_cast<float>(number(body, "frequency_penalty", -2, 2).value_or(0.0));
  s.repetition_penalty = static_cast<float>(number(body, "repetition_penalty", 1e-3, 100).value_or(1.0));
  if (auto seed = integer(body, "seed", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max())) {
    s.seed = static_cast<uint64_t>(*seed);
  }
  const int vocab = model.config.vocab_size;
  if (const json* lb = field(body, "logit_bias")) {
    if (!lb->is_object()) throw ApiError(400, "'logit_bias' must be an object of token id -> bias", "logit_bias");
    if (lb->size() > 300) throw ApiError(400, "'logit_bias' may name at most 300 tokens", "logit_bias");
    for (auto it = lb->begin(); it != lb->end(); ++it) {
      size_t used = 0;
      long id = -1;
      try {
        id = std::stol(it.key(), &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used == 0 || used != it.key().size() || id < 0 || id >= vocab) {
        throw ApiError(400,
                       "'logit_bias' key \"" + it.key() + "\" is not a token id in [0, " + std::to_string(vocab) + ")",
                       "logit_bias");
      }
      if (!it->is_number() || !(it->get<double>() >= -100 && it->get<double>() <= 100)) {
        throw ApiError(400, "'logit_bias' values must be numbers in [-100, 100], got " + it->dump(), "logit_bias");
      }
      s.logit_bias[static_cast<int32_t>(id)] = it->get<float>();
    }
  }
  if (const json* stop = field(body, "stop")) {
    if (stop->is_string()) {
      job.options.stop = {stop->get<std::string>()};
    } else if (stop->is_array() && stop->size() <= 4 &&
               std::all_of(stop->begin(), stop->end(), [](const json& x) { return x.is_string(); })) {
      for (const json& x : *stop) job.options.stop.push_back(x.get<std::string>());
    } else {
      throw ApiError(400, "'stop' must be a string or an array of at most 4 strings", "stop");
    }
    for (const auto& x : job.options.stop) {
      if (x.empty()) throw ApiError(400, "'stop' strings must not be empty", "stop");
    }
  }
  const int context = model.config.max_position_embeddings;
  const char* limit_name = field(body, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  std::optional<int64_t> max_tokens = integer(body, limit_name, 1, std::numeric_limits<int>::max());
  if (prompt_len >= context) {
    throw ApiError(
        400,
        "the prompt has " + std::to_string(prompt_len) + " tokens; this model's context is " + std::to_string(context),
        "messages");
  }
  if (max_tokens && *max_tokens + prompt_len > context) {
    throw ApiError(400,
                   "'" + std::string(limit_name) + "' (" + std::to_string(*max_tokens) + ") plus the prompt's " +
                       std::to_string(prompt_len) + " tokens exceed this model's context of " + std::to_string(context),
                   limit_name);
  }
  job.options.max_tokens = static_cast<int>(max_tokens.value_or(std::min(default_max_tokens, context - prompt_len)));
  if (auto n = integer(body, "n", 1, 1000); n && *n != 1) {
    throw ApiError(400, "only 'n' = 1 is supported, got " + std::to_string(*n), "n");
  }
  job.stream = boolean(body, "stream").value_or(false);
  if (const json* so = field(body, "stream_options")) {
    if (!so->is_object()) throw ApiError(400, "'stream_options' must be an object", "stream_options");
    job.include_usage = boolean(*so, "include_usage").value_or(false);
  }
}

Job chat_job(const json& body, const Model& model, int default_max_tokens) {
  if (!model.chat_template) throw ApiError(400, "this model has no chat template: use /v1/completions", "messages");
  const json* messages = field(body, "messages");
  if (!messages) throw ApiError(400, "'messages' is required", "messages");
  if (!messages->is_array() || messages->empty())
    throw ApiError(400, "'messages' must be a non-empty array", "messages");
  json ms = json::array();
  for (size_t i = 0; i < messages->size(); ++i) {
    const json& m = (*messages)[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) throw ApiError(400, "'" + where + "' must be an object", where);
    auto role = m.find("role");
    if (role == m.end() || !role->is_string())
      throw ApiError(400, "'" + where + ".role' must be a string", where + ".role");
    const std::string r = role->get<std::string>();
    if (r != "system" && r != "user" && r != "assistant" && r != "developer" && r != "tool") {
      throw ApiError(400, "'" + where + ".role' must be system, developer, user, assistant or tool, got \"" + r + "\"",
                     where + ".role");
    }
    ms.push_back({{"role", r == "developer" ? "system" : r}, {"content", message_content(m, i)}});
  }
  if (const json* model_name = field(body, "model"); model_name && !model_name->is_string()) {
    throw ApiError(400, "'model' must be a string", "model");
  }
  Job job;
  job.chat = true;
  std::string text;
  try {
    text = model.apply_chat_template(ms);
  } catch (const std::exception& e) {
    throw ApiError(400, std::string("the chat template rejected the messages: ") + e.what(), "messages");
  }
  job.prompt = model.encode_prompt(text, true);
  read_sampling(body, model, static_cast<int>(job.prompt.size()), default_max_tokens, job);
  job.logprobs = boolean(body, "logprobs").value_or(false);
  auto top = integer(body, "top_logprobs", 0, 20);
  if (top && !job.logprobs) throw ApiError(400, "'top_logprobs' needs 'logprobs': true", "top_logprobs");
  if (job.logprobs) job.options.logprobs = static_cast<int>(top.value_or(0));
  return job;
}

Job completion_job(const json& body, const Model& model, int default_max_tokens) {
  const json* prompt = field(body, "prompt");
  if (!prompt) throw ApiError(400, "'prompt' is required", "prompt");
  Job job;
  job.chat = false;
  const int vocab = model.config.vocab_size;
  auto ids_of = [&](const json& a) {
    std::vector<int32_t> ids;
    for (const json& x : a) {
      if (!x.is_number_integer() || x.get<int64_t>() < 0 || x.get<int64_t>() >= vocab) {
        throw ApiError(400, "'prompt' token ids must be integers in [0, " + std::to_string(vocab) + ")", "prompt");
      }
      ids.push_back(static_cast<int32_t>(x.get<int64_t>()));
    }
    return ids;
  };
  std::string text;
  if (prompt->is_string()) {
    text = prompt->get<std::string>();
    job.prompt = model.encode_prompt(text, false);
  } else if (prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_string()) {
    text = (*prompt)[0].get<std::string>();
    job.prompt = model.encode_prompt(text, false);
  } else if (prompt->is_array() && !prompt->empty() && (*prompt)[0].is_number()) {
    job.prompt = ids_of(*prompt);
    text = model.tokenizer->decode(job.prompt);
  } else if (prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_array()) {
    job.prompt = ids_of((*prompt)[0]);
    text = model.tokenizer->decode(job.prompt);
  } else {
    throw ApiError(400, "'prompt' must be a string, one string in an array, or token ids (batches are not supported)",
                   "prompt");
  }
  if (job.prompt.empty()) throw ApiError(400, "'prompt' encodes to no tokens", "prompt");
  if (boolean(body, "echo").value_or(false)) job.echo = text;
  read_sampling(body, model, static_cast<int>(job.prompt.size()), default_max_tokens, job);
  if (auto lp = integer(body, "logprobs", 0, 5)) {
    job.logprobs = true;
    job.options.logprobs = static_cast<int>(*lp);
  }
  return job;
}

// ---------------------------------------------------------------- responses

int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

json usage_of(const Job& job, const GenerationResult& r) {
  const int prompt = static_cast<int>(job.prompt.size()), completion = static_cast<int>(r.tokens.size());
  return {{"prompt_tokens", prompt},
          {"completion_tokens", completion},
          {"total_tokens", prompt + completion},
          {"prompt_tokens_details", {{"cached_tokens", r.cached_tokens}}}};
}

// OpenAI's logprobs objects: chat {"content": [{token, logprob, bytes, top_logprobs}]}, or
// completions {tokens, token_logprobs, top_logprobs, text_offset}.
json logprobs_json(const Job& job, const std::vector<TokenLogprob>& lps, const Tokenizer& tok) {
  auto text_of = [&](int32_t id) { return tok.decode(std::span<const int32_t>(&id, 1)); };
  auto bytes_of = [](const std::string& s) {
    json b = json::array();
    for (unsigned char c : s) b.push_back(c);
    return b;
  };
  if (job.chat) {
    json content = json::array();
    for (const auto& t : lps) {
      json top = json::array();
      for (auto [id, lp] : t.top) {
        std::string s = text_of(id);
        top.push_back({{"token", s}, {"logprob", lp}, {"bytes", bytes_of(s)}});
      }
      std::string s = text_of(t.token);
      content.push_back({{"token", s}, {"logprob", t.logprob}, {"bytes", bytes_of(s)}, {"top_logprobs", top}});
    }
    return {{"content", content}};
  }
  json tokens = json::array(), logprobs = json::array(), tops = json::array(), offsets = json::array();
  size_t offset = job.echo.size();
  for (const auto& t : lps) {
    std::string s = text_of(t.token);
    tokens.push_back(s);
    logprobs.push_back(t.logprob);
    json top = json::object();
    for (auto [id, lp] : t.top) top[text_of(id)] = lp;
    tops.push_back(top);
    offsets.push_back(offset);
    offset += s.size();
  }
  return {{"tokens", tokens}, {"token_logprobs", logprobs}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

std::string event(const json& j) { return "data: " + dump(j) + "\n\n"; }

// ---------------------------------------------------------------- continuous batching

// A request in flight: its job, and what the generating thread hands back (text pieces as they
// are produced, then the result or an error).
struct Request {
  Job job;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> pieces;
  bool finished = false;
  GenerationResult result;
  std::exception_ptr error;
  std::atomic<bool> cancelled{false};  // the client went away

  void push(std::string piece) {
    {
      std::lock_guard lk(mu);
      pieces.push_back(std::move(piece));
    }
    cv.notify_all();
  }
  void finish(GenerationResult r, std::exception_ptr e = nullptr) {
    {
      std::lock_guard lk(mu);
      result = std::move(r);
      error = e;
      finished = true;
    }
    cv.notify_all();
  }
};

// One thread owns the model and runs every request: new requests are prefilled between decode
// steps, and the decode steps of all running requests (up to max_batch) go through the model
// together (forward_decode: the weights are read once per step for all of them). The KV caches
// of recent conversations are kept in slots for their next turn.
class Batcher {
 public:
  Batcher(const Model& model, int max_batch, int cache_slots)
      : model_(model), max_batch_(max_batch), cache_slots_(cache_slots), decode_(model), thread_([this] { run(); }) {}
  ~Batcher() {
    {
      std::lock_guard lk(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  /// Requests being generated, and waiting for a place in the batch.
  std::pair<size_t, size_t> load() {
    std::lock_guard lk(mu_);
    return {running_count_, pending_.size()};
  }
  void submit(std::shared_ptr<Request> r) {
    {
      std::lock_guard lk(mu_);
      pending_.push_back(std::move(r));
    }
    cv_.notify_all();
  }

 private:
  struct Slot {
    PromptCache cache;
    uint64_t last_used = 0;
    bool busy = false;
  };
  struct Running {
    std::shared_ptr<Request> req;
    Slot* slot = nullptr;  // or the request keeps its own cache (every slot busy)
    std::unique_ptr<PromptCache> own;
    std::unique_ptr<Sequence> seq;
  };

  // A free slot for `prompt`: the conversation it continues (its last prompt whole, the
  // longest such), else an unused slot, else the least recently used; null when all are busy.
  Slot* slot_for(const std::vector<int32_t>& prompt) {
    Slot* best = nullptr;
    size_t best_len = 0;
    for (Slot& s : slots_) {
      const size_t at = s.cache.prompt_logits_at;
      if (!s.busy && at > best_len && at <= prompt.size() && s.cache.tokens.size() >= at &&
          std::equal(prompt.begin(), prompt.begin() + at, s.cache.tokens.begin())) {
        best = &s;
        best_len = at;
      }
    }
    if (!best && static_cast<int>(slots_.size()) < cache_slots_) best = &slots_.emplace_back();
    for (Slot& s : slots_) {  // else the least recently used free one
      if (!best_len && !s.busy && (!best || (best->busy || s.last_used < best->last_used))) best = &s;
    }
    if (best) {
      best->busy = true;
      best->last_used = ++uses_;
      if (!best_len) lend_prefix(*best, prompt);
    }
    return best;
  }

  // A new conversation still shares its start with others (the system prompt, the chat
  // template's first tokens): `to` takes copies of the longest exact prefix (exact_prefix) a
  // slot outside the decode batch holds, when its own is shorter. Its answer stays the same.
  void lend_prefix(Slot& to, const std::vector<int32_t>& prompt) {
    const Slot* from = nullptr;
    size_t most = exact_prefix(to.cache, prompt);
    for (const Slot& s : slots_) {
      const bool decoding =
          std::any_of(running_.begin(), running_.end(), [&](const Running& r) { return r.slot == &s; });
      if (&s == &to || decoding) continue;
      if (const size_t n = exact_prefix(s.cache, prompt); n > most) from = &s, most = n;
    }
    if (!from) return;
    try {
      copy_prefix(to.cache, from->cache, most);
    } catch (...) {
      to.cache = PromptCache{};  // out of memory: the request starts over, as it would have
    }
  }

  // Starts the admitted requests: their sequences, then their prompts prefilled together.
  void start(std::vector<std::shared_ptr<Request>> reqs) {
    std::vector<Running> runs;
    for (auto& req : reqs) {
      Running run;
      run.req = req;
      run.slot = slot_for(req->job.prompt);
      PromptCache* cache = nullptr;
      if (run.slot) {
        cache = &run.slot->cache;
      } else {
        run.own = std::make_unique<PromptCache>();
        cache = run.own.get();
      }
      Request* r = req.get();
      try {
        run.seq = std::make_unique<Sequence>(
            model_, req->job.prompt, req->job.options,
            [r](std::string_view piece) {
              if (r->job.stream) r->push(std::string(piece));  // a whole answer is read from the result
              return !r->cancelled.load();
            },
            cache);
      } catch (...) {
        end(run, std::current_exception());
        continue;
      }
      runs.push_back(std::move(run));
    }
    std::vector<Sequence*> seqs;
    for (auto& run : runs) seqs.push_back(run.seq.get());
    try {
      prefill_together(model_, seqs);
    } catch (...) {
      // Each alone from an empty cache, so a failure stays with its own request.
      for (auto& run : runs) {
        *(run.slot ? &run.slot->cache : run.own.get()) = PromptCache{};
        try {
          run.seq->prefill();
        } catch (...) {
          end(run, std::current_exception());
          run.req = nullptr;
        }
      }
    }
    for (auto& run : runs) {
      if (run.req) running_.push_back(std::move(run));
    }
  }

  void end(Running& run, std::exception_ptr e = nullptr) {
    // The sequence's caches back from the decode batch before its slot can be reused.
    if (run.seq) decode_.release(&run.seq->cache());
    if (run.slot) run.slot->busy = false;
    run.req->finish(run.seq && !e ? run.seq->result() : GenerationResult{}, e);
  }

  void run() {
    while (true) {
      std::vector<std::shared_ptr<Request>> admit;
      {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [&] { return stopping_ || !pending_.empty() || !running_.empty(); });
        if (stopping_) break;
        while (!pending_.empty() && static_cast<int>(running_.size() + admit.size()) < max_batch_) {
          admit.push_back(std::move(pending_.front()));
          pending_.pop_front();
        }
        running_count_ = running_.size() + admit.size();
      }
      if (!admit.empty()) start(std::move(admit));
      // One token for each running request: sample and emit, then one forward pass for all.
      std::vector<int32_t> tokens;
      std::vector<std::vector<KVCache>*> caches;
      std::vector<size_t> fed;
      for (size_t i = 0; i < running_.size(); ++i) {
        Running& run = running_[i];
        std::optional<int32_t> tok;
        try {
          tok = run.req->cancelled ? std::nullopt : run.seq->step();
        } catch (...) {
          end(run, std::current_exception());
          run.req = nullptr;
          continue;
        }
        if (!tok) {
          end(run);
          run.req = nullptr;
          continue;
        }
        tokens.push_back(*tok);
        caches.push_back(&run.seq->cache());
        fed.push_back(i);
      }
      if (!tokens.empty()) {
        try {
          std::vector<std::vector<float>> logits = decode_.step(tokens, caches);
          for (size_t j = 0; j < fed.size(); ++j) running_[fed[j]].seq->set_logits(std::move(logits[j]), tokens[j]);
        } catch (...) {
          for (size_t i : fed) {
            // The step's caches are not to be trusted: the next turn starts over (once the
            // decode batch has handed them back, which writes to them).
            Running& r = running_[i];
            end(r, std::current_exception());
            *(r.slot ? &r.slot->cache : r.own.get()) = PromptCache{};
            r.req = nullptr;
          }
        }
      }
      running_.erase(std::remove_if(running_.begin(), running_.end(), [](const Running& r) { return !r.req; }),
                     running_.end());
      {
        std::lock_guard lk(mu_);
        running_count_ = running_.size();
      }
    }
    for (auto& run : running_) end(run, std::make_exception_ptr(std::runtime_error("the server is stopping")));
    std::lock_guard lk(mu_);
    for (auto& r : pending_) r->finish({}, std::make_exception_ptr(std::runtime_error("the server is stopping")));
  }

  const Model& model_;
  const int max_batch_, cache_slots_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Request>> pending_;
  size_t running_count_ = 0;  // running_.size() (and those being admitted), readable under mu_
  bool stopping_ = false;
  std::vector<Running> running_;  // the generating thread's own
  std::deque<Slot> slots_;        // likewise (a deque: slots stay where they are)
  DecodeBatch decode_;            // likewise
  uint64_t uses_ = 0;
  std::thread thread_;  // last: starts once the rest is built
};

// ---------------------------------------------------------------- the server

std::atomic<httplib::Server*> g_running{nullptr};
bool g_stop_requested = false;  // by stop_server(), also before serve() listens
std::mutex g_running_mu;

class Handler {
 public:
  Handler(Model& model, const ServerOptions& opt)
      : model_(model), opt_(opt), batcher_(model, opt.max_batch, opt.cache_slots) {
    model_id_ = opt.model_id.empty() ? std::filesystem::path(model.path).filename().string() : opt.model_id;
    if (model_id_.empty()) model_id_ = model.path;
    created_ = now_seconds();
  }

  void install(httplib::Server& svr) {
    svr.set_payload_max_length(opt_.max_body_bytes);
    svr.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (opt_.api_key.empty() || req.path == "/" || req.path == "/health")
        return httplib::Server::HandlerResponse::Unhandled;
      if (req.get_header_value("Authorization") != "Bearer " + opt_.api_key) {
        send_error(res, 401, "a valid API key is required: send \"Authorization: Bearer <key>\"",
                   "authentication_error");
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    // Errors that reach no handler (unknown routes, bodies over the limit): OpenAI's body.
    svr.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      if (res.status == 404) {
        send_error(res, 404, "no route " + req.method + " " + req.path, "invalid_request_error");
      } else if (res.status == 413) {
        send_error(res, 413, "the request body is over the server's limit", "invalid_request_error");
      } else {
        send_error(res, res.status, "the request could not be served (HTTP " + std::to_string(res.status) + ")",
                   "invalid_request_error");
      }
    });
    svr.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      std::string what = "internal error";
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      send_error(res, 500, what, "server_error");
    });
    svr.Get("/", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(kChatPage, "text/html; charset=utf-8");
    });
    svr.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
      auto [running, waiting] = batcher_.load();
      res.set_content(dump({{"status", "ok"},
                            {"active_memory", get_active_memory()},
                            {"requests_running", running},
                            {"requests_waiting", waiting}}),
                      "application/json");
    });
    svr.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
      json m = {{"id", model_id_}, {"object", "model"}, {"created", created_}, {"owned_by", "ember"}};
      res.set_content(dump({{"object", "list"}, {"data", json::array({m})}}), "application/json");
    });
    svr.Post("/v1/chat/completions",
             [this](const httplib::Request& req, httplib::Response& res) { handle(req, res, true); });
    svr.Post("/v1/completions",
             [this](const httplib::Request& req, httplib::Response& res) { handle(req, res, false); });
    for (const char* path : {"/v1/chat/completions", "/v1/completions"}) {
      svr.Get(path, [](const httplib::Request& req, httplib::Response& res) {
        send_error(res, 405, req.path + " takes POST", "invalid_request_error");
      });
    }
  }

 private:
  void handle(const httplib::Request& req, httplib::Response& res, bool chat) {
    Job job;
    try {
      json body;
      try {
        body = json::parse(req.body);
      } catch (const json::parse_error& e) {
        throw ApiError(400, std::string("the body is not valid JSON: ") + e.what());
      }
      if (!body.is_object()) throw ApiError(400, std::string("the body must be a JSON object, got ") + kind_of(body));
      job = chat ? chat_job(body, model_, opt_.default_max_tokens)
                 : completion_job(body, model_, opt_.default_max_tokens);
      job.options.sampling.validate(model_.config.vocab_size);
    } catch (const ApiError& e) {
      return send_error(res, e.status, e.what(), e.type, e.param);
    } catch (const std::invalid_argument& e) {
      return send_error(res, 400, e.what(), "invalid_request_error");
    }
    const std::string id = (chat ? "chatcmpl-" : "cmpl-") + std::to_string(++requests_);
    if (!job.stream) {
      auto req = std::make_shared<Request>();
      req->job = job;
      batcher_.submit(req);
      auto answer = [this, job, id, chat](const Request& r) {
        const GenerationResult& g = r.result;
        json choice = {{"index", 0}, {"finish_reason", g.finish_reason}, {"logprobs", nullptr}};
        if (job.logprobs) choice["logprobs"] = logprobs_json(job, g.logprobs, *model_.tokenizer);
        if (chat) {
          choice["message"] = {{"role", "assistant"}, {"content", g.text}};
        } else {
          choice["text"] = job.echo + g.text;
        }
        return json{{"id", id},
                    {"object", chat ? "chat.completion" : "text_completion"},
                    {"created", now_seconds()},
                    {"model", model_id_},
                    {"choices", json::array({choice})},
                    {"usage", usage_of(job, g)}};
      };
      // A quick answer goes out whole, with its status.
      bool finished = false;
      {
        std::unique_lock lk(req->mu);
        finished = req->cv.wait_for(lk, std::chrono::seconds(1), [&] { return req->finished; });
      }
      if (finished) {
        if (req->error) std::rethrow_exception(req->error);  // the exception handler: 500
        res.set_content(dump(answer(*req)), "application/json");
        return;
      }
      // A longer one is sent chunked, a space every half second until it is ready (JSON allows
      // leading whitespace): a client that went away makes a write fail, which cancels its
      // request at the batcher's next step. An error from here on comes as the error body.
      res.set_chunked_content_provider("application/json", [req, answer](size_t, httplib::DataSink& sink) {
        while (true) {
          {
            std::unique_lock lk(req->mu);
            if (req->cv.wait_for(lk, std::chrono::milliseconds(500), [&] { return req->finished; })) break;
          }
          if (!sink.write(" ", 1)) {
            req->cancelled = true;
            return false;
          }
        }
        std::string body;
        if (req->error) {
          try {
            std::rethrow_exception(req->error);
          } catch (const std::exception& e) {
            body = dump(error_body(e.what(), "server_error", "", 500));
          }
        } else {
          body = dump(answer(*req));
        }
        sink.write(body.data(), body.size());
        sink.done();
        return true;
      });
      return;
    }
    // Server-sent events, generated while the response is written: a failed write (the
    // client went away) stops the generation at its next piece.
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider("text/event-stream", [this, job, id, chat](size_t, httplib::DataSink& sink) {
      const int64_t created = now_seconds();
      auto chunk = [&](const json& delta_or_text, const json& finish, const json& logprobs) {
        json choice = {{"index", 0}, {"finish_reason", finish}, {"logprobs", logprobs}};
        if (chat) {
          choice["delta"] = delta_or_text;
        } else {
          choice["text"] = delta_or_text;
        }
        return json{{"id", id},
                    {"object", chat ? "chat.completion.chunk" : "text_completion"},
                    {"created", created},
                    {"model", model_id_},
                    {"choices", json::array({choice})}};
      };
      bool open = true;
      auto send = [&](const std::string& s) { return open = open && sink.write(s.data(), s.size()); };
      if (chat) send(event(chunk({{"role", "assistant"}, {"content", ""}}, nullptr, nullptr)));
      if (!chat && !job.echo.empty()) send(event(chunk(job.echo, nullptr, nullptr)));
      auto req = std::make_shared<Request>();
      req->job = job;
      batcher_.submit(req);
      while (true) {  // pieces as they come, until the request finishes
        std::deque<std::string> pieces;
        bool finished = false;
        {
          std::unique_lock lk(req->mu);
          req->cv.wait(lk, [&] { return req->finished || !req->pieces.empty(); });
          pieces.swap(req->pieces);
          finished = req->finished;
        }
        for (const auto& text : pieces) {
          if (open) send(event(chunk(chat ? json{{"content", text}} : json(text), nullptr, nullptr)));
        }
        if (!open) req->cancelled = true;  // the client is gone: the batcher drops it at its next step
        if (finished) break;
      }
      if (!open) return false;  // nothing more to write
      if (req->error) {
        try {
          std::rethrow_exception(req->error);
        } catch (const std::exception& e) {
          send(event(error_body(e.what(), "server_error", "", 500)));
        }
        sink.done();
        return open;
      }
      const GenerationResult& r = req->result;
      json lp = job.logprobs ? logprobs_json(job, r.logprobs, *model_.tokenizer) : json(nullptr);
      send(event(chunk(chat ? json::object() : json(""), r.finish_reason, lp)));
      if (job.include_usage) {
        json u = chunk(chat ? json::object() : json(""), nullptr, nullptr);
        u["choices"] = json::array();
        u["usage"] = usage_of(job, r);
        send(event(u));
      }
      send("data: [DONE]\n\n");
      sink.done();
      return open;
    });
  }

  Model& model_;
  ServerOptions opt_;
  std::string model_id_;
  int64_t created_ = 0;
  std::atomic<uint64_t> requests_{0};
  Batcher batcher_;
};

}  // namespace

void serve(Model& model, const ServerOptions& options, const std::function<void(int port)>& on_listening) {
  if (options.port < 0 || options.port > 65535) {
    throw std::invalid_argument("[serve] port must be in [0, 65535], got " + std::to_string(options.port));
  }
  if (options.threads < 1) throw std::invalid_argument("[serve] threads must be >= 1");
  if (options.cache_slots < 1) throw std::invalid_argument("[serve] cache_slots must be >= 1");
  if (options.max_batch < 1) throw std::invalid_argument("[serve] max_batch must be >= 1");
  // A client that closes its connection makes the next write fail with EPIPE, not kill the
  // process with SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  httplib::Server svr;
  const int threads = options.threads;
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  Handler handler(model, options);
  handler.install(svr);
  int port = options.port;
  if (port == 0) {
    port = svr.bind_to_any_port(options.host);
    if (port < 0) throw std::runtime_error("[serve] cannot bind " + options.host + " to a free port");
  } else if (!svr.bind_to_port(options.host, port)) {
    throw std::runtime_error("[serve] cannot bind " + options.host + ":" + std::to_string(port) +
                             " (in use, or not an address of this machine)");
  }
  {
    std::lock_guard lk(g_running_mu);
    if (g_stop_requested) return;
    g_running = &svr;
  }
  if (on_listening) on_listening(port);
  svr.listen_after_bind();
  std::lock_guard lk(g_running_mu);
  g_running = nullptr;
}

void stop_server() {
  std::lock_guard lk(g_running_mu);
  g_stop_requested = true;
  if (httplib::Server* s = g_running.load()) s->stop();
}

}  // namespace ember::lm
