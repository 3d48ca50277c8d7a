// Private to the chat-template interpreter: values, syntax tree, parser and evaluator entry points.
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "lm/text/utf8.h"

namespace ember::lm::tpl {

// ---------------------------------------------------------------------------------------------
// Values: Python objects as jinja2 sees them.

struct Value;
struct Dict;
struct Function;
struct LoopState;
using List = std::vector<Value>;

enum class Kind { Undefined, None, Bool, Int, Float, String, List, Dict, Namespace, Function, Loop };

struct Value {
  Kind kind = Kind::Undefined;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;  // String payload; for Undefined, the jinja2 message used when it is misused
  std::shared_ptr<List> list;
  bool tuple = false;
  uint32_t nest = 0;           // List: nesting depth of its contents
  std::shared_ptr<Dict> dict;  // Dict and Namespace
  std::shared_ptr<Function> fn;
  std::shared_ptr<LoopState> loop;

  static Value undefined(std::string hint = "") {
    Value v;
    v.s = std::move(hint);
    return v;
  }
  static Value none() {
    Value v;
    v.kind = Kind::None;
    return v;
  }
  static Value boolean(bool x) {
    Value v;
    v.kind = Kind::Bool;
    v.b = x;
    return v;
  }
  static Value integer(int64_t x) {
    Value v;
    v.kind = Kind::Int;
    v.i = x;
    return v;
  }
  static Value number(double x) {
    Value v;
    v.kind = Kind::Float;
    v.f = x;
    return v;
  }
  static Value string(std::string x) {
    Value v;
    v.kind = Kind::String;
    v.s = std::move(x);
    return v;
  }
  static Value make_list(List items, bool is_tuple = false);
  static Value make_dict();
  static Value make_namespace();

  bool is_undefined() const { return kind == Kind::Undefined; }
  bool is_none() const { return kind == Kind::None; }
  bool is_string() const { return kind == Kind::String; }
  bool is_list() const { return kind == Kind::List; }
  bool is_dict() const { return kind == Kind::Dict; }
  // bool, int and float (bool is an int subclass in Python).
  bool is_number() const { return kind == Kind::Bool || kind == Kind::Int || kind == Kind::Float; }
  bool is_integral() const { return kind == Kind::Bool || kind == Kind::Int; }
  int64_t as_int() const { return kind == Kind::Bool ? (b ? 1 : 0) : i; }
  uint32_t depth() const;  // container nesting depth (0 for scalars)
  double as_double() const { return kind == Kind::Float ? f : static_cast<double>(as_int()); }
};

// Insertion-ordered string-keyed mapping (Python dict with str keys).
// Containers nested deeper than this are refused: printing, comparing and freeing them recurses.
constexpr uint32_t kMaxValueDepth = 512;

struct Dict {
  std::vector<std::pair<std::string, Value>> items;
  uint32_t nest = 0;  // nesting depth of its values (grows on set)
  const Value* find(const std::string& key) const;
  void set(const std::string& key, Value value);
};

struct CallArgs {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
  // Removes and returns keyword `name`, or positional `index` if present, else nullopt.
  std::optional<Value> take(size_t index, const std::string& name);
  const Value* kwarg(const std::string& name) const;
};

class Evaluator;
struct Function {
  std::string name;
  std::function<Value(Evaluator&, CallArgs&)> call;
};

struct Stmt;
struct Scope;
struct LoopState {
  std::shared_ptr<List> items;
  size_t index0 = 0;
  int depth0 = 0;
  // Recursive loops: loop(children) re-runs `stmt` in `scope` (both cleared when the loop ends).
  const Stmt* stmt = nullptr;
  Scope* scope = nullptr;
  std::optional<List> last_changed;  // loop.changed()'s previous arguments
};

// Errors raised while rendering; the evaluator adds the line number. raise_exception() throws
// TemplateRaise, whose message is passed through untouched.
struct RenderError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct TemplateRaise : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// value.cpp
Value from_json(const nlohmann::ordered_json& j);
Value from_json(const nlohmann::json& j);
bool truthy(const Value& v);
std::string py_str(const Value& v);   // str(v)
std::string py_repr(const Value& v);  // repr(v)
std::string type_name(const Value& v);
bool py_eq(const Value& a, const Value& b);
int py_cmp(const Value& a, const Value& b, const char* op);  // <0, 0, >0; throws TypeError-like
[[noreturn]] void fail_undefined(const Value& v);
std::string to_json_text(const Value& v, const std::optional<std::string>& indent, const std::string& item_sep,
                         const std::string& key_sep, bool sort_keys, bool ensure_ascii);
std::string format_float(double x);                                      // repr(float)
Value binary_op(const std::string& op, const Value& a, const Value& b);  // + - * / // % ** ~

// UTF-8 helpers (Python strings index by code point).
std::vector<std::string> utf8_chars(const std::string& s);
size_t utf8_length(const std::string& s);
bool is_py_space(uint32_t cp);
uint32_t decode_utf8(const std::string& s, size_t& pos);

// ---------------------------------------------------------------------------------------------
// Syntax tree.

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

enum class ExprKind {
  Literal,   // value
  Name,      // name
  Attr,      // args[0].name
  Item,      // args[0][args[1]]
  Slice,     // args[0][args[1]:args[2]:args[3]] (null = omitted)
  Call,      // args[0](args[1:], kwargs)
  Filter,    // args[0] | name(args[1:], kwargs)
  Test,      // args[0] is [not] name(args[1:], kwargs)
  Neg,       // -args[0]
  Pos,       // +args[0]
  Not,       // not args[0]
  Binary,    // args[0] <name> args[1]: + - * / // % ** ~
  And,       // args[0] and args[1]
  Or,        // args[0] or args[1]
  Compare,   // args[0] ops[0] args[1] ops[1] args[2] ...
  CondExpr,  // args[0] if args[1] else args[2]
  ListLit,   // [args...]
  TupleLit,  // (args...)
  DictLit,   // {args[0]: args[1], ...}
};

struct Expr {
  ExprKind kind;
  int line = 0;
  Value value;
  std::string name;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops;
  bool negated = false;
  bool soft = false;  // an unknown filter/test inside {% if %}: jinja2 fails only when it runs
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class StmtKind {
  Text,
  Output,
  If,
  For,
  Set,
  SetBlock,
  Macro,
  CallBlock,
  FilterBlock,
  With,
  Break,
  Continue,
  Generation
};

struct Stmt {
  StmtKind kind;
  int line = 0;
  std::string text;                  // Text; Macro name; SetBlock/Set namespace attribute
  ExprPtr expr;                      // Output value; Set value; For iterable; FilterBlock: filter chain
  ExprPtr cond;                      // For: inline filter
  std::vector<std::string> targets;  // For/Set/SetBlock names; With names
  std::vector<ExprPtr> exprs;        // If: one condition per branch; With values; Macro defaults
  std::vector<Body> bodies;          // If: one per branch (+ else); For: body, else; others: body
  bool has_else = false;
  bool uses_varargs = false, uses_kwargs = false;  // Macro: extra arguments allowed
  bool recursive = false;                          // For: `recursive` loop
  // Names this statement's body frame (For/Macro/With/SetBlock/FilterBlock) assigns unconditionally.
  std::set<std::string> declared;
};

struct Program {
  Body body;
  std::set<std::string> declared;  // names the top level assigns unconditionally
};

// lex.cpp
enum class Tok { Text, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Int, Float, Op, Eof };

struct Token {
  Tok type;
  std::string text;
  int line;
};
std::vector<Token> lex_template(const std::string& source);
[[noreturn]] void syntax_error(int line, const std::string& msg);  // "[chat_template] line N: msg"

// parse.cpp
std::unique_ptr<Program> parse_template(const std::string& source);
bool is_known_filter(const std::string& name);
bool is_known_test(const std::string& name);

// ---------------------------------------------------------------------------------------------
// Evaluation.

// One frame's variables. jinja2 quirk reproduced here: a name a frame assigns unconditionally is
// that frame's local from the start, so a nested frame (loop body, macro, ...) that reads it before
// the assignment ran sees it undefined instead of the outer value (`declared`).
struct Scope {
  std::vector<std::pair<std::string, Value>> vars;
  Scope* parent = nullptr;
  const std::set<std::string>* declared = nullptr;
  const Value* find(const std::string& name) const;
  void set(const std::string& name, Value v);
  // Variable lookup as seen from this frame (applies `declared`); nullptr when not found.
  const Value* lookup(const std::string& name, bool* hidden) const;
};

enum class Flow { Normal, Break, Continue };

class Evaluator {
 public:
  Evaluator(Scope* root, std::optional<std::tm> fixed_time) : root_(root), fixed_time_(fixed_time) {}
  ~Evaluator();
  Evaluator(const Evaluator&) = delete;
  Evaluator& operator=(const Evaluator&) = delete;
  // Namespaces are the only mutable values, so the only way to build a reference cycle; the ones
  // still alive when rendering ends are emptied to free such cycles.
  void track_namespace(const std::shared_ptr<Dict>& d) { namespaces_.push_back(d); }
  void exec_body(const Body& body, Scope& scope, std::string& out, Flow* flow);
  Value eval(const Expr& e, Scope& scope);
  Value call_value(const Value& callee, CallArgs& args, int line);
  // Renders a recursive loop's body over `items` one level deeper: `loop(items)`.
  Value call_loop(const LoopState& loop, CallArgs& args);
  Value apply_filter(const std::string& name, const Value& v, CallArgs& args, Scope& scope);
  bool apply_test(const std::string& name, const Value& v, CallArgs& args);
  Value get_attr(const Value& obj, const std::string& name);
  Value get_item(const Value& obj, const Value& key);
  std::optional<std::tm> fixed_time() const { return fixed_time_; }
  Scope* root() const { return root_; }
  int call_depth = 0;

 private:
  Flow exec(const Stmt& s, Scope& scope, std::string& out);
  Flow run_for(const Stmt& s, Scope& scope, const Value& iterable, int depth0, std::string& out);
  void assign(Scope& scope, const std::vector<std::string>& targets, const Value& v, int line);
  // A macro, or the `caller` of a {% call %} block (whose body sees the scope of the call site).
  Value make_macro(const Stmt& s, Scope* parent, const std::string& name);
  Scope* root_;
  std::optional<std::tm> fixed_time_;
  std::vector<std::weak_ptr<Dict>> namespaces_;
  Value block_input_;  // the rendered body a {% filter %} block or filtered block set feeds its filters
};

// strings.cpp: Python str semantics (code-point aware; case mapping covers Latin, Greek, Cyrillic).
std::string str_upper(const std::string& s);
std::string str_lower(const std::string& s);
std::string str_capitalize(const std::string& s);
std::string str_swapcase(const std::string& s);
std::string str_title(const std::string& s);    // str.title()
std::string jinja_title(const std::string& s);  // the |title filter
// strip/lstrip/rstrip; `chars` nullopt strips Python whitespace.
std::string str_strip(const std::string& s, const std::optional<std::string>& chars, bool left, bool right);
List str_split(const std::string& s, const std::optional<std::string>& sep, int64_t maxsplit);
std::string str_replace(const std::string& s, const std::string& old, const std::string& repl, int64_t count);
int64_t str_count(const std::string& s, const std::string& sub);
bool str_affix(const std::string& s, const Value& affix, bool start);  // startswith / endswith
bool str_is_case(const std::string& s, bool upper_case);               // isupper / islower
std::string html_escape(const std::string& s);
bool parse_py_int(std::string s, int64_t& out);
bool parse_py_float(const std::string& s, double& out);
std::string percent_format(const std::string& fmt, const Value& args);  // Python's `fmt % args`
std::string str_format(const std::string& fmt, const CallArgs& args);   // str.format (no field lookups)

// builtins.cpp: argument helpers shared by methods and filters.
std::string arg_str(const std::optional<Value>& v, const std::string& dflt);
bool arg_bool(const std::optional<Value>& v, bool dflt);
int64_t arg_int(const std::optional<Value>& v, int64_t dflt);
std::optional<std::string> chars_arg(const std::optional<Value>& v);  // None/undefined -> nullopt
int64_t len_of(const Value& v);                                       // len(); undefined -> 0
Value lookup_global(const std::string& name);
Value method_of(const Value& obj, const std::string& name);  // bound str/dict/list method or Undefined
List iterate(const Value& v);                                // Python iter() into a list; throws if not iterable

}  // namespace ember::lm::tpl
