// Chat-template parser: jinja2's statement and expression grammar into the syntax tree.
#include <algorithm>
#include <cstring>
#include <set>

#include "lm/text/chat_template_ast.h"

namespace ember::lm::tpl {

namespace {

// Nested parsing (expressions and blocks) deeper than this is rejected instead of overflowing the stack.
constexpr int kMaxNesting = 200;

const std::set<std::string>& supported_filters() {
  static const std::set<std::string> s = {
      "abs",        "attr",    "batch",   "format", "capitalize", "center",      "count",      "d",        "default",
      "dictsort",   "e",       "escape",  "first",  "float",      "forceescape", "indent",     "int",      "items",
      "join",       "last",    "length",  "list",   "lower",      "map",         "max",        "min",      "reject",
      "rejectattr", "replace", "reverse", "round",  "safe",       "select",      "selectattr", "sort",     "string",
      "sum",        "title",   "tojson",  "trim",   "truncate",   "unique",      "upper",      "wordcount"};
  return s;
}

const std::set<std::string>& unsupported_filters() {
  static const std::set<std::string> s = {"filesizeformat", "groupby",   "pprint", "random",   "slice",
                                          "striptags",      "urlencode", "urlize", "wordwrap", "xmlattr"};
  return s;
}

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : toks_(std::move(tokens)) {}

  std::unique_ptr<Program> run() {
    auto prog = std::make_unique<Program>();
    prog->body = parse_body({});
    prog->declared = declared_in(prog->body);
    if (cur().type != Tok::Eof) syntax_error(cur().line, "unexpected '" + cur().text + "'");
    return prog;
  }

 private:
  const Token& cur() const { return toks_[pos_]; }
  const Token& peek(size_t k = 1) const { return toks_[std::min(pos_ + k, toks_.size() - 1)]; }
  void next() {
    if (pos_ + 1 < toks_.size()) ++pos_;
  }
  bool is_op(const char* op) const { return cur().type == Tok::Op && cur().text == op; }
  bool is_name(const char* name) const { return cur().type == Tok::Name && cur().text == name; }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool skip_name(const char* name) {
    if (!is_name(name)) return false;
    next();
    return true;
  }
  std::string describe(const Token& t) const {
    switch (t.type) {
      case Tok::Eof:
        return "end of template";
      case Tok::VarEnd:
        return "end of print statement '}}'";
      case Tok::BlockEnd:
        return "end of statement block '%}'";
      case Tok::Text:
        return "template text";
      default:
        return "'" + t.text + "'";
    }
  }
  void expect_op(const char* op) {
    if (!skip_op(op)) syntax_error(cur().line, std::string("expected '") + op + "', got " + describe(cur()));
  }
  std::string expect_name() {
    if (cur().type != Tok::Name) syntax_error(cur().line, "expected a name, got " + describe(cur()));
    std::string s = cur().text;
    next();
    return s;
  }
  void expect_block_end() {
    if (cur().type != Tok::BlockEnd)
      syntax_error(cur().line, "expected end of statement block '%}', got " + describe(cur()));
    next();
  }

  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& parser) : p(parser) {
      if (++p.depth_ > kMaxNesting) syntax_error(p.cur().line, "template nesting too deep");
    }
    ~DepthGuard() { --p.depth_; }
  };

  static ExprPtr node(ExprKind kind, int line) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = line;
    return e;
  }

  // Parses statements until a {% tag %} whose keyword is in `ends` (left unconsumed, positioned on
  // the keyword) or the end of the template.
  Body parse_body(const std::vector<std::string>& ends) {
    DepthGuard guard(*this);
    Body body;
    while (cur().type != Tok::Eof) {
      const Token& t = cur();
      if (t.type == Tok::Text) {
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::Text;
        s->line = t.line;
        s->text = t.text;
        body.push_back(std::move(s));
        next();
      } else if (t.type == Tok::VarBegin) {
        next();
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::Output;
        s->line = t.line;
        s->expr = parse_tuple(true);
        if (cur().type != Tok::VarEnd)
          syntax_error(cur().line, "expected end of print statement '}}', got " + describe(cur()));
        next();
        body.push_back(std::move(s));
      } else if (t.type == Tok::BlockBegin) {
        const Token& kw = peek();
        if (kw.type != Tok::Name) syntax_error(kw.line, "tag name expected");
        if (std::find(ends.begin(), ends.end(), kw.text) != ends.end()) {
          next();
          return body;
        }
        static const std::set<std::string> closers = {"endif",  "endfor",    "endmacro",     "endcall",
                                                      "endset", "endfilter", "endwith",      "endraw",
                                                      "else",   "elif",      "endgeneration"};
        if (closers.count(kw.text)) {
          std::string msg = "unexpected '" + kw.text + "'";
          if (!ends.empty()) {
            msg += ", expected ";
            for (size_t k = 0; k < ends.size(); ++k) msg += (k ? " or '" : "'") + ends[k] + "'";
          }
          syntax_error(kw.line, msg);
        }
        next();
        body.push_back(parse_statement());
      } else {
        syntax_error(t.line, "unexpected " + describe(t));
      }
    }
    if (!ends.empty()) {
      std::string list;
      for (const auto& e : ends) list += (list.empty() ? "'" : " or '") + e + "'";
      syntax_error(cur().line, "unexpected end of template, expected " + list + " (block opened on line " +
                                   std::to_string(open_lines_.empty() ? 0 : open_lines_.back()) + ")");
    }
    return body;
  }

  // Names a body assigns directly (not inside an if): the frame's unconditional locals.
  static std::set<std::string> declared_in(const Body& body) {
    std::set<std::string> names;
    for (const auto& s : body) {
      if ((s->kind == StmtKind::Set && s->text.empty()) || s->kind == StmtKind::SetBlock)
        names.insert(s->targets.begin(), s->targets.end());
      if (s->kind == StmtKind::Macro) names.insert(s->text);
    }
    return names;
  }

  // Parses `ends`' body and consumes the closing keyword; returns which keyword closed it.
  std::string parse_until(Body& body, const std::vector<std::string>& ends) {
    body = parse_body(ends);
    std::string kw = cur().text;
    next();
    return kw;
  }

  StmtPtr parse_statement() {
    const Token& kw = cur();
    int line = kw.line;
    auto s = std::make_unique<Stmt>();
    s->line = line;
    std::string name = kw.text;
    next();
    open_lines_.push_back(line);
    if (name == "if") {
      s->kind = StmtKind::If;
      s->exprs.push_back(parse_expression(false));
      expect_block_end();
      bool saved_soft = soft_;
      soft_ = true;
      while (true) {
        s->bodies.emplace_back();
        std::string end = parse_until(s->bodies.back(), {"elif", "else", "endif"});
        if (end == "elif") {
          s->exprs.push_back(parse_expression(false));
          expect_block_end();
        } else if (end == "else") {
          expect_block_end();
          s->bodies.emplace_back();
          s->has_else = true;
          parse_until(s->bodies.back(), {"endif"});
          expect_block_end();
          break;
        } else {
          expect_block_end();
          break;
        }
      }
      soft_ = saved_soft;
    } else if (name == "for") {
      s->kind = StmtKind::For;
      do {
        s->targets.push_back(expect_name());
      } while (skip_op(","));
      if (!skip_name("in")) syntax_error(cur().line, "expected 'in' in for loop, got " + describe(cur()));
      s->expr = parse_tuple(false, {"recursive"});
      if (skip_name("if")) s->cond = parse_expression(true);
      s->recursive = skip_name("recursive");
      expect_block_end();
      bool saved_soft = soft_;
      soft_ = false;
      ++loop_depth_;
      s->bodies.emplace_back();
      std::string end = parse_until(s->bodies.back(), {"else", "endfor"});
      --loop_depth_;
      if (end == "else") {
        expect_block_end();
        s->has_else = true;
        s->bodies.emplace_back();
        parse_until(s->bodies.back(), {"endfor"});
      }
      soft_ = saved_soft;
      expect_block_end();
    } else if (name == "set") {
      std::string first = expect_name();
      if (skip_op(".")) {
        s->text = expect_name();  // {% set ns.attr = value %}
        s->targets.push_back(first);
        expect_op("=");
        s->kind = StmtKind::Set;
        s->expr = parse_tuple(true);
        expect_block_end();
      } else {
        s->targets.push_back(first);
        while (skip_op(",")) s->targets.push_back(expect_name());
        if (skip_op("=")) {
          s->kind = StmtKind::Set;
          s->expr = parse_tuple(true);
          expect_block_end();
        } else {
          if (s->targets.size() != 1) syntax_error(line, "a block set takes a single name");
          s->kind = StmtKind::SetBlock;
          if (is_op("|")) s->expr = parse_filter_chain(nullptr);
          expect_block_end();
          s->bodies.emplace_back();
          parse_until(s->bodies.back(), {"endset"});
          expect_block_end();
        }
      }
    } else if (name == "macro" || name == "call") {
      bool is_call = name == "call";
      s->kind = is_call ? StmtKind::CallBlock : StmtKind::Macro;
      if (!is_call) s->text = expect_name();
      if (!is_call || is_op("(")) {
        expect_op("(");
        while (!is_op(")")) {
          s->targets.push_back(expect_name());
          s->exprs.push_back(skip_op("=") ? parse_expression(true) : nullptr);
          if (!skip_op(",")) break;
        }
        expect_op(")");
      }
      if (is_call) {
        s->text = "caller";
        s->expr = parse_expression(true);
        if (s->expr->kind != ExprKind::Call) syntax_error(line, "expected a macro call after 'call'");
      }
      expect_block_end();
      bool saved_soft = soft_, saved_varargs = saw_varargs_, saved_kwargs = saw_kwargs_;
      int saved_loops = loop_depth_;
      soft_ = false;
      loop_depth_ = 0;
      saw_varargs_ = saw_kwargs_ = false;
      s->bodies.emplace_back();
      parse_until(s->bodies.back(), {is_call ? "endcall" : "endmacro"});
      s->uses_varargs = saw_varargs_;
      s->uses_kwargs = saw_kwargs_;
      saw_varargs_ = saved_varargs || saw_varargs_;
      saw_kwargs_ = saved_kwargs || saw_kwargs_;
      soft_ = saved_soft;
      loop_depth_ = saved_loops;
      expect_block_end();
    } else if (name == "filter") {
      s->kind = StmtKind::FilterBlock;
      s->expr = parse_filter_chain(nullptr, false);
      expect_block_end();
      s->bodies.emplace_back();
      parse_until(s->bodies.back(), {"endfilter"});
      expect_block_end();
    } else if (name == "with") {
      s->kind = StmtKind::With;
      while (cur().type != Tok::BlockEnd) {
        if (!s->targets.empty()) expect_op(",");
        s->targets.push_back(expect_name());
        expect_op("=");
        s->exprs.push_back(parse_expression(true));
      }
      expect_block_end();
      s->bodies.emplace_back();
      parse_until(s->bodies.back(), {"endwith"});
      expect_block_end();
    } else if (name == "break" || name == "continue") {
      if (loop_depth_ == 0) syntax_error(line, "'" + name + "' is only allowed inside a for loop");
      s->kind = name == "break" ? StmtKind::Break : StmtKind::Continue;
      expect_block_end();
    } else if (name == "generation") {
      // transformers' AssistantTracker tag: renders its body unchanged.
      s->kind = StmtKind::Generation;
      expect_block_end();
      s->bodies.emplace_back();
      parse_until(s->bodies.back(), {"endgeneration"});
      expect_block_end();
    } else if (name == "include" || name == "extends" || name == "import" || name == "from" || name == "block" ||
               name == "autoescape" || name == "do" || name == "trans") {
      syntax_error(line, "unsupported tag '" + name + "'");
    } else {
      syntax_error(line, "encountered unknown tag '" + name + "'");
    }
    open_lines_.pop_back();
    if (s->kind == StmtKind::For || s->kind == StmtKind::Macro || s->kind == StmtKind::CallBlock ||
        s->kind == StmtKind::With || s->kind == StmtKind::SetBlock || s->kind == StmtKind::FilterBlock)
      s->declared = declared_in(s->bodies[0]);
    return s;
  }

  // ---- expressions -------------------------------------------------------------------------

  bool is_tuple_end(const std::vector<std::string>& extra_end) const {
    const Token& t = cur();
    if (t.type == Tok::VarEnd || t.type == Tok::BlockEnd || t.type == Tok::Eof) return true;
    if (t.type == Tok::Op && (t.text == ")" || t.text == "]" || t.text == "}")) return true;
    if (t.type == Tok::Name)
      for (const auto& e : extra_end)
        if (t.text == e) return true;
    return false;
  }

  // A comma-separated expression list; a single item without a comma is returned as is.
  ExprPtr parse_tuple(bool with_condexpr, const std::vector<std::string>& extra_end = {},
                      bool explicit_parens = false) {
    int line = cur().line;
    std::vector<ExprPtr> items;
    bool comma = false;
    while (true) {
      if (!items.empty()) {
        if (!skip_op(",")) break;
        comma = true;
      }
      if (is_tuple_end(extra_end) || (!with_condexpr && is_name("if"))) break;
      items.push_back(parse_expression(with_condexpr));
    }
    if (!comma && items.size() == 1) return std::move(items[0]);
    if (items.empty() && !explicit_parens) syntax_error(line, "expected an expression, got " + describe(cur()));
    auto t = node(ExprKind::TupleLit, line);
    t->args = std::move(items);
    return t;
  }

  ExprPtr parse_expression(bool with_condexpr) {
    DepthGuard guard(*this);
    if (!with_condexpr) return parse_or();
    ExprPtr e = parse_or();
    while (is_name("if")) {
      int line = cur().line;
      next();
      auto c = node(ExprKind::CondExpr, line);
      c->args.push_back(std::move(e));
      c->args.push_back(parse_or());
      c->args.push_back(skip_name("else") ? parse_expression(true) : nullptr);
      e = std::move(c);
    }
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr e = parse_and();
    while (is_name("or")) {
      auto o = node(ExprKind::Or, cur().line);
      next();
      o->args.push_back(std::move(e));
      o->args.push_back(parse_and());
      e = std::move(o);
    }
    return e;
  }

  ExprPtr parse_and() {
    ExprPtr e = parse_not();
    while (is_name("and")) {
      auto o = node(ExprKind::And, cur().line);
      next();
      o->args.push_back(std::move(e));
      o->args.push_back(parse_not());
      e = std::move(o);
    }
    return e;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      DepthGuard guard(*this);
      auto n = node(ExprKind::Not, cur().line);
      next();
      n->args.push_back(parse_not());
      return n;
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    int line = cur().line;
    ExprPtr e = parse_math1();
    std::vector<std::string> ops;
    std::vector<ExprPtr> operands;
    while (true) {
      std::string op;
      if (cur().type == Tok::Op && (cur().text == "==" || cur().text == "!=" || cur().text == "<" ||
                                    cur().text == ">" || cur().text == "<=" || cur().text == ">=")) {
        op = cur().text;
        next();
      } else if (is_name("in")) {
        op = "in";
        next();
      } else if (is_name("not") && peek().type == Tok::Name && peek().text == "in") {
        op = "not in";
        next();
        next();
      } else {
        break;
      }
      ops.push_back(op);
      operands.push_back(parse_math1());
    }
    if (ops.empty()) return e;
    auto c = node(ExprKind::Compare, line);
    c->args.push_back(std::move(e));
    for (auto& o : operands) c->args.push_back(std::move(o));
    c->ops = std::move(ops);
    return c;
  }

  ExprPtr binary(const std::string& op, ExprPtr a, ExprPtr b, int line) {
    auto n = node(ExprKind::Binary, line);
    n->name = op;
    n->args.push_back(std::move(a));
    n->args.push_back(std::move(b));
    return n;
  }

  ExprPtr parse_math1() {
    ExprPtr e = parse_concat();
    while (is_op("+") || is_op("-")) {
      std::string op = cur().text;
      int line = cur().line;
      next();
      e = binary(op, std::move(e), parse_concat(), line);
    }
    return e;
  }

  ExprPtr parse_concat() {
    ExprPtr e = parse_math2();
    while (is_op("~")) {
      int line = cur().line;
      next();
      e = binary("~", std::move(e), parse_math2(), line);
    }
    return e;
  }

  ExprPtr parse_math2() {
    ExprPtr e = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      std::string op = cur().text;
      int line = cur().line;
      next();
      e = binary(op, std::move(e), parse_pow(), line);
    }
    return e;
  }

  ExprPtr parse_pow() {
    ExprPtr e = parse_unary(true);
    while (is_op("**")) {
      int line = cur().line;
      next();
      e = binary("**", std::move(e), parse_unary(true), line);
    }
    return e;
  }

  ExprPtr parse_unary(bool with_filter) {
    DepthGuard guard(*this);
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      e = node(is_op("-") ? ExprKind::Neg : ExprKind::Pos, cur().line);
      next();
      e->args.push_back(parse_unary(false));
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filter_expr(std::move(e));
    return e;
  }

  ExprPtr parse_primary() {
    const Token& t = cur();
    int line = t.line;
    if (t.type == Tok::Name) {
      auto e = node(ExprKind::Literal, line);
      if (t.text == "true" || t.text == "True")
        e->value = Value::boolean(true);
      else if (t.text == "false" || t.text == "False")
        e->value = Value::boolean(false);
      else if (t.text == "none" || t.text == "None")
        e->value = Value::none();
      else {
        e->kind = ExprKind::Name;
        e->name = t.text;
        saw_varargs_ = saw_varargs_ || t.text == "varargs";
        saw_kwargs_ = saw_kwargs_ || t.text == "kwargs";
      }
      next();
      return e;
    }
    if (t.type == Tok::String) {
      std::string s;
      while (cur().type == Tok::String) {
        s += cur().text;
        next();
      }
      auto e = node(ExprKind::Literal, line);
      e->value = Value::string(std::move(s));
      return e;
    }
    if (t.type == Tok::Int || t.type == Tok::Float) {
      auto e = node(ExprKind::Literal, line);
      try {
        e->value = t.type == Tok::Int ? Value::integer(std::stoll(t.text)) : Value::number(std::stod(t.text));
      } catch (const std::exception&) {
        syntax_error(line, "number literal out of range: " + t.text);
      }
      next();
      return e;
    }
    if (skip_op("(")) {
      ExprPtr e = parse_tuple(true, {}, true);
      expect_op(")");
      return e;
    }
    if (skip_op("[")) {
      auto e = node(ExprKind::ListLit, line);
      while (!is_op("]")) {
        e->args.push_back(parse_expression(true));
        if (!skip_op(",")) break;
      }
      expect_op("]");
      return e;
    }
    if (skip_op("{")) {
      auto e = node(ExprKind::DictLit, line);
      while (!is_op("}")) {
        e->args.push_back(parse_expression(true));
        expect_op(":");
        e->args.push_back(parse_expression(true));
        if (!skip_op(",")) break;
      }
      expect_op("}");
      return e;
    }
    syntax_error(line, "unexpected " + describe(t));
  }

  ExprPtr parse_postfix(ExprPtr e) {
    while (true) {
      int line = cur().line;
      if (is_op(".")) {
        next();
        if (cur().type == Tok::Name) {
          auto a = node(ExprKind::Attr, line);
          a->name = cur().text;
          a->args.push_back(std::move(e));
          e = std::move(a);
        } else if (cur().type == Tok::Int) {
          auto a = node(ExprKind::Item, line);
          a->args.push_back(std::move(e));
          auto k = node(ExprKind::Literal, line);
          k->value = Value::integer(std::stoll(cur().text));
          a->args.push_back(std::move(k));
          e = std::move(a);
        } else {
          syntax_error(line, "expected an attribute name after '.'");
        }
        next();
      } else if (is_op("[")) {
        next();
        e = parse_subscript(std::move(e), line);
        expect_op("]");
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr obj, int line) {
    ExprPtr parts[3];
    int colons = 0;
    if (!is_op(":")) parts[0] = parse_tuple(true);
    while (colons < 2 && skip_op(":")) {
      ++colons;
      if (!is_op(":") && !is_op("]")) parts[colons] = parse_expression(true);
    }
    auto e = node(colons ? ExprKind::Slice : ExprKind::Item, line);
    e->args.push_back(std::move(obj));
    if (colons) {
      for (auto& p : parts) e->args.push_back(std::move(p));
    } else {
      if (!parts[0]) syntax_error(line, "expected a subscript");
      e->args.push_back(std::move(parts[0]));
    }
    return e;
  }

  void parse_call_args(Expr& e) {
    expect_op("(");
    while (!is_op(")")) {
      if (is_op("*") || is_op("**")) syntax_error(cur().line, "*args / **kwargs in calls are not supported");
      if (cur().type == Tok::Name && peek().type == Tok::Op && peek().text == "=") {
        std::string key = cur().text;
        next();
        next();
        e.kwargs.emplace_back(key, parse_expression(true));
      } else {
        if (!e.kwargs.empty()) syntax_error(cur().line, "positional argument follows keyword argument");
        e.args.push_back(parse_expression(true));
      }
      if (!skip_op(",")) break;
    }
    expect_op(")");
  }

  ExprPtr parse_call(ExprPtr callee) {
    auto e = node(ExprKind::Call, cur().line);
    e->args.push_back(std::move(callee));
    parse_call_args(*e);
    return e;
  }

  // `| name(args) | name ...`; `operand` is null for {% filter %} blocks and block sets.
  ExprPtr parse_filter_chain(ExprPtr operand, bool leading_pipe = true) {
    bool first = true;
    while (first ? (!leading_pipe || is_op("|")) : is_op("|")) {
      if (!first || leading_pipe) expect_op("|");
      first = false;
      int line = cur().line;
      std::string name = expect_name();
      while (skip_op(".")) {
        name += '.';
        name += expect_name();
      }
      auto f = node(ExprKind::Filter, line);
      f->name = name;
      check_known(name, true, *f);
      f->args.push_back(std::move(operand));
      if (is_op("(")) parse_call_args(*f);
      operand = std::move(f);
    }
    return operand;
  }

  void check_known(const std::string& name, bool filter, Expr& e) {
    bool known = filter ? is_known_filter(name) : is_known_test(name);
    if (known) return;
    bool unsupported = filter && unsupported_filters().count(name);
    std::string msg = unsupported ? "filter '" + name + "' is not supported"
                                  : std::string("no ") + (filter ? "filter" : "test") + " named '" + name + "'";
    if (soft_) {
      e.soft = true;  // jinja2 defers this to run time inside {% if %} bodies
      return;
    }
    syntax_error(e.line, msg);
  }

  ExprPtr parse_filter_expr(ExprPtr e) {
    while (true) {
      if (is_op("|")) {
        e = parse_filter_chain(std::move(e));
      } else if (is_name("is")) {
        int line = cur().line;
        next();
        auto t = node(ExprKind::Test, line);
        t->negated = skip_name("not");
        t->name = expect_name();
        check_known(t->name, false, *t);
        t->args.push_back(std::move(e));
        const Token& a = cur();
        if (is_op("(")) {
          parse_call_args(*t);
        } else if ((a.type == Tok::Name || a.type == Tok::String || a.type == Tok::Int || a.type == Tok::Float ||
                    is_op("[") || is_op("{")) &&
                   !(a.type == Tok::Name &&
                     (a.text == "else" || a.text == "or" || a.text == "and" || a.text == "is"))) {
          t->args.push_back(parse_postfix(parse_primary()));
        }
        e = std::move(t);
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  std::vector<Token> toks_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
  bool soft_ = false;
  bool saw_varargs_ = false, saw_kwargs_ = false;
  std::vector<int> open_lines_;
};

}  // namespace

bool is_known_filter(const std::string& name) { return supported_filters().count(name) > 0; }

bool is_known_test(const std::string& name) {
  static const std::set<std::string> s = {
      "boolean",  "callable", "defined",  "divisibleby", "eq",          "equalto", "escaped", "even",
      "false",    "filter",   "float",    "ge",          "greaterthan", "gt",      "in",      "integer",
      "iterable", "le",       "lessthan", "lower",       "lt",          "mapping", "ne",      "none",
      "number",   "odd",      "sameas",   "sequence",    "string",      "test",    "true",    "undefined",
      "upper",    "==",       "!=",       "<",           "<=",          ">",       ">="};
  return s.count(name) > 0;
}

std::unique_ptr<Program> parse_template(const std::string& source) { return Parser(lex_template(source)).run(); }

}  // namespace ember::lm::tpl
