// Chat-template interpreter: the subset of Jinja2 that Hugging Face chat templates use.
//
// Renders like transformers' apply_chat_template environment: an ImmutableSandboxedEnvironment
// with trim_blocks and lstrip_blocks, the loopcontrols extension (break/continue), the globals
// raise_exception(msg) and strftime_now(fmt), and a tojson filter that keeps non-ASCII text.
#pragma once

#include <ctime>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace ember::lm {

namespace tpl {
struct Program;
}

// Thrown when the template itself calls raise_exception(msg): what() is exactly msg (e.g.
// "Conversation roles must alternate user/assistant/user/assistant/..."), an error in the
// conversation rather than in the template.
class ChatTemplateRaise : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ChatTemplate {
 public:
  // Parses `source` once. Syntax errors, unknown filters/tests and unsupported constructs throw
  // std::runtime_error("[chat_template] line N: ...").
  explicit ChatTemplate(std::string source);
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

  // Renders with the variables of `context` (a JSON object: messages, add_generation_prompt,
  // bos_token, eos_token, tools, ... any extra keys). raise_exception(msg) in the template throws
  // ChatTemplateRaise(msg); other runtime errors throw std::runtime_error("[chat_template] line N: ...").
  std::string render(const nlohmann::json& context) const;
  // Same, keeping the key order of objects as Python dicts do (nlohmann::json sorts keys), which
  // matters for `tools|tojson` and for loops over dicts.
  std::string render_ordered(const nlohmann::ordered_json& context) const;

  // Convenience: messages (array of {role, content, ...}), add_generation_prompt, plus extra
  // variables (bos_token, eos_token, tools, ...).
  std::string apply(const nlohmann::json& messages, bool add_generation_prompt,
                    const nlohmann::json& extra = nlohmann::json::object()) const;

  // strftime_now() formats this fixed local time instead of the clock (for reproducible tests).
  void set_fixed_time(const std::tm& local_time) { fixed_time_ = local_time; }

  const std::string& source() const { return source_; }

 private:
  std::string source_;
  std::unique_ptr<tpl::Program> program_;
  std::optional<std::tm> fixed_time_;
};

}  // namespace ember::lm
