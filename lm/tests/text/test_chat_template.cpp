// Chat-template interpreter vs jinja2 configured like transformers (fixtures written by
// lm/tests/fixtures/make_template_fixtures.py), plus error and resource-limit cases.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "lm/text/chat_template.h"

namespace fs = std::filesystem;
using ember::lm::ChatTemplate;
using nlohmann::ordered_json;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

fs::path fixtures_dir() { return fs::path(EMBER_LM_FIXTURES) / "templates"; }

// Matches FIXED_NOW in make_template_fixtures.py.
std::tm fixed_now() {
  std::tm tm{};
  tm.tm_year = 2024 - 1900;
  tm.tm_mon = 6;
  tm.tm_mday = 26;
  tm.tm_hour = 14;
  tm.tm_min = 5;
  tm.tm_sec = 9;
  tm.tm_wday = 5;    // Friday
  tm.tm_yday = 207;  // 0-based day of year
  tm.tm_isdst = -1;
  return tm;
}

// First differing position, with some context, for readable failures.
std::string diff(const std::string& want, const std::string& got) {
  size_t k = 0;
  while (k < want.size() && k < got.size() && want[k] == got[k]) ++k;
  size_t from = k > 40 ? k - 40 : 0;
  auto show = [&](const std::string& s) {
    return ordered_json(s.substr(std::min(from, s.size()), 100))
        .dump(-1, ' ', false, ordered_json::error_handler_t::replace);
  };
  return "first difference at byte " + std::to_string(k) + "\n  want: " + show(want) + "\n  got:  " + show(got);
}

std::vector<std::string> template_names() {
  std::vector<std::string> names;
  fs::path src = fs::path(EMBER_SOURCE_DIR) / "lm/tests/fixtures/templates";
  if (fs::exists(src))
    for (const auto& e : fs::directory_iterator(src))
      if (e.path().extension() == ".jinja") names.push_back(e.path().stem().string());
  names.push_back("smollm2");  // the real template, read from the model's GGUF at fixture time
  std::sort(names.begin(), names.end());
  return names;
}

class JinjaReference : public ::testing::TestWithParam<std::string> {};

TEST_P(JinjaReference, MatchesJinja2) {
  if (fs::exists(fs::path(EMBER_LM_FIXTURES) / "templates.SKIP"))
    GTEST_SKIP() << read_file(fs::path(EMBER_LM_FIXTURES) / "templates.SKIP");
  fs::path skip = fixtures_dir() / (GetParam() + ".SKIP");
  if (fs::exists(skip)) GTEST_SKIP() << read_file(skip);
  fs::path path = fixtures_dir() / (GetParam() + ".json");
  ASSERT_TRUE(fs::exists(path)) << path << " missing: run lm/tests/fixtures/make_all.py (ctest runs it)";
  ordered_json record = ordered_json::parse(read_file(path));
  ChatTemplate tpl(read_file(record["template"].get<std::string>()));
  tpl.set_fixed_time(fixed_now());
  ASSERT_FALSE(record["cases"].empty());
  for (const auto& c : record["cases"]) {
    std::string name = c["name"];
    if (c.contains("expected")) {
      std::string want = c["expected"];
      try {
        std::string got = tpl.render_ordered(c["context"]);
        EXPECT_EQ(got, want) << name << ": " << diff(want, got);
      } catch (const std::exception& e) {
        ADD_FAILURE() << name << ": threw " << e.what();
      }
    } else {
      std::string want = c["exception"];
      try {
        std::string got = tpl.render_ordered(c["context"]);
        ADD_FAILURE() << name << ": expected an exception (" << want << "), rendered " << ordered_json(got).dump();
      } catch (const ember::lm::ChatTemplateRaise& e) {
        // raise_exception's message comes through untouched; other errors just have to be errors.
        EXPECT_EQ(c["raised_by"], "raise_exception") << name << ": " << e.what();
        EXPECT_EQ(std::string(e.what()), want) << name;
      } catch (const std::runtime_error& e) {
        EXPECT_EQ(c["raised_by"], "jinja2") << name << ": " << e.what();
      }
    }
  }
}

// One-line templates (grammar, whitespace and filter edge cases) over one shared context.
TEST(JinjaReferenceSnippets, MatchJinja2) {
  if (fs::exists(fs::path(EMBER_LM_FIXTURES) / "templates.SKIP"))
    GTEST_SKIP() << read_file(fs::path(EMBER_LM_FIXTURES) / "templates.SKIP");
  fs::path path = fixtures_dir() / "snippets.json";
  ASSERT_TRUE(fs::exists(path)) << path << " missing: run lm/tests/fixtures/make_all.py (ctest runs it)";
  ordered_json record = ordered_json::parse(read_file(path));
  ASSERT_GT(record["cases"].size(), 100u);
  for (const auto& c : record["cases"]) {
    std::string source = c["source"];
    std::string label = c["name"].get<std::string>() + " " + ordered_json(source).dump();
    try {
      ChatTemplate tpl(source);
      tpl.set_fixed_time(fixed_now());
      std::string got = tpl.render_ordered(record["context"]);
      if (c.contains("expected"))
        EXPECT_EQ(got, c["expected"].get<std::string>()) << label;
      else
        ADD_FAILURE() << label << ": expected an exception (" << c["exception"] << "), rendered "
                      << ordered_json(got).dump();
    } catch (const std::runtime_error& e) {
      if (c.contains("expected")) ADD_FAILURE() << label << ": threw " << e.what();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Templates, JinjaReference, ::testing::ValuesIn(template_names()),
                         [](const auto& info) { return info.param; });

// ---- API --------------------------------------------------------------------------------------

std::string render(const std::string& src, const nlohmann::json& ctx = nlohmann::json::object()) {
  return ChatTemplate(src).render(ctx);
}

TEST(ChatTemplate, ApplyMatchesRender) {
  ChatTemplate tpl(
      "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}{% if add_generation_prompt %}<a>{% endif %}{{ "
      "bos_token }}");
  nlohmann::json msgs = {{{"role", "user"}, {"content", "hi"}}};
  EXPECT_EQ(tpl.apply(msgs, true, {{"bos_token", "<s>"}}), "<user>hi<a><s>");
  EXPECT_EQ(tpl.apply(msgs, false), "<user>hi");
  EXPECT_EQ(tpl.apply(msgs, true, {{"bos_token", "<s>"}}),
            tpl.render(nlohmann::json{{"messages", msgs}, {"add_generation_prompt", true}, {"bos_token", "<s>"}}));
}

TEST(ChatTemplate, OrderedContextKeepsKeyOrder) {
  ChatTemplate tpl("{{ d|tojson }}|{% for k in d %}{{ k }}{% endfor %}");
  EXPECT_EQ(tpl.render_ordered(ordered_json::parse(R"({"d": {"b": 1, "a": 2}})")), R"({"b": 1, "a": 2}|ba)");
  EXPECT_EQ(tpl.render(nlohmann::json::parse(R"({"d": {"b": 1, "a": 2}})")), R"({"a": 2, "b": 1}|ab)");
}

TEST(ChatTemplate, RaiseExceptionMessageIsExact) {
  try {
    render("line1\n{{ raise_exception('bad ' ~ 'roles') }}");
    FAIL() << "no exception";
  } catch (const ember::lm::ChatTemplateRaise& e) {
    EXPECT_STREQ(e.what(), "bad roles");
  }
}

TEST(ChatTemplate, StrftimeNowUsesClockByDefault) {
  std::string year = render("{{ strftime_now('%Y') }}");
  ASSERT_EQ(year.size(), 4u);
  EXPECT_GE(std::stoi(year), 2024);
}

// ---- errors -----------------------------------------------------------------------------------

// Expects construction or rendering to throw with `needle` (and the line) in the message.
void expect_error(const std::string& src, const std::string& needle,
                  const nlohmann::json& ctx = nlohmann::json::object()) {
  try {
    ChatTemplate(src).render(ctx);
    ADD_FAILURE() << "no exception for " << ordered_json(src).dump();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos)
        << "message '" << e.what() << "' lacks '" << needle << "' for " << ordered_json(src).dump();
  }
}

TEST(ChatTemplateErrors, SyntaxErrorsNameTheLine) {
  expect_error("ok\n{{ x", "line 2");
  expect_error("a\nb\n{% if x %}never closed", "line 3");
  expect_error("a\nb\n{% if x %}never closed", "endif");
  expect_error("{% for x in y %}{% endif %}", "endfor");
  expect_error("a\n{# unterminated comment", "line 2");
  expect_error("a\n\n{{ x|no_such_filter }}", "line 3: no filter named 'no_such_filter'");
  expect_error("{{ x is no_such_test }}", "no test named 'no_such_test'");
  expect_error("a\n{{ 1 + }}", "line 2");
  expect_error("{{ 'unterminated }}", "unterminated string");
  expect_error("{% for %}{% endfor %}", "line 1");
  expect_error("{% include 'x.jinja' %}", "unsupported tag 'include'");
  expect_error("{% call x %}{% endcall %}", "expected a macro call");
  expect_error("{% macro m() %}", "endmacro");
  expect_error("{% frobnicate %}", "unknown tag 'frobnicate'");
  expect_error("{% break %}", "only allowed inside a for loop");
  expect_error("{{ x|groupby('a') }}", "filter 'groupby' is not supported");
  expect_error("{{ (1 }}", "line 1");
  expect_error("{{ x ]}}", "line 1");
  expect_error("{% endfor %}", "line 1");
}

TEST(ChatTemplateErrors, UnknownFilterInsideIfFailsOnlyWhenRun) {
  // jinja2 defers unknown filters/tests inside {% if %} bodies to run time.
  ChatTemplate tpl("{% if flag %}{{ x|no_such_filter }}{% endif %}ok");
  EXPECT_EQ(tpl.render({{"flag", false}}), "ok");
  EXPECT_THROW(tpl.render({{"flag", true}}), std::runtime_error);
}

TEST(ChatTemplateErrors, RuntimeErrorsNameTheLine) {
  expect_error("a\n{{ nope.attr }}", "line 2: 'nope' is undefined");
  expect_error("a\nb\n{{ 'x' + 1 }}", "line 3");
  expect_error("{{ nope() }}", "is undefined");
  expect_error("{{ 1 / 0 }}", "division by zero");
  expect_error("{% for x in 5 %}{% endfor %}", "not iterable");
  expect_error("{% set x = 1 %}{% set x.y = 2 %}", "non-namespace");
  expect_error("{{ [1] < 'a' }}", "not supported between");
  expect_error("{{ undefined_thing|tojson }}", "not JSON serializable");
}

// ---- resource limits --------------------------------------------------------------------------

TEST(ChatTemplateLimits, MillionItemLoopRenders) {
  nlohmann::json items = nlohmann::json::array();
  for (int k = 0; k < 1000000; ++k) items.push_back(k % 10);
  std::string out = ChatTemplate("{% for x in items %}{{ x }}{% endfor %}").render({{"items", items}});
  EXPECT_EQ(out.size(), 1000000u);
  EXPECT_EQ(out.substr(0, 12), "012345678901");
}

TEST(ChatTemplateLimits, HugeRangeIsRefused) {
  expect_error("{% for i in range(1000000) %}{{ i }}{% endfor %}", "Range too big");
}

TEST(ChatTemplateLimits, InfiniteMacroRecursionThrows) {
  expect_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "recursion");
}

TEST(ChatTemplateLimits, InfiniteRecursiveLoopThrows) {
  expect_error("{% for x in [1] recursive %}{{ loop([1]) }}{% endfor %}", "recursion");
}

TEST(ChatTemplateLimits, DeepNestingThrows) {
  expect_error("{{ " + std::string(100000, '(') + "1" + std::string(100000, ')') + " }}", "nesting too deep");
  std::string nested;
  for (int k = 0; k < 5000; ++k) nested += "{% if true %}";
  expect_error(nested, "nesting too deep");
  expect_error("{{ " + std::string(100000, '-') + "1 }}", "nesting too deep");
  expect_error("{{ " + std::string(50000, '[') + std::string(50000, ']') + " }}", "nesting too deep");
}

TEST(ChatTemplateLimits, DeepValuesThrow) {
  // Building, printing or freeing values nested thousands deep would recurse without bound.
  expect_error(
      "{% set ns = namespace(x=[]) %}{% for i in range(100000) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x }}",
      "nested too deeply");
  expect_error("{% set ns = namespace(x=1) %}{% set ns.me = ns %}{{ ns }}", "recursion");
  std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_THROW(ChatTemplate("{{ x }}").render(nlohmann::json{{"x", nlohmann::json::parse(deep)}}), std::runtime_error);
}

TEST(ChatTemplateLimits, StoredCallerOutlivingItsBlockThrows) {
  // jinja2 would still run it; here the call block's scope is gone, so it must refuse, not crash.
  expect_error(
      "{% set ns = namespace(c=none) %}{% macro keep() %}{% set ns.c = caller %}{% endmacro %}"
      "{% call keep() %}body{% endcall %}{{ ns.c() }}",
      "outside its {% call %} block");
}

TEST(ChatTemplateLimits, HugeRepetitionIsRefused) { expect_error("{{ 'abc' * 1000000000 }}", "too large"); }

}  // namespace
