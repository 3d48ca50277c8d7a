// Chat-template evaluator: statements, expressions, attribute/item lookup, macros; and ChatTemplate.
#include <algorithm>

#include "lm/text/chat_template.h"
#include "lm/text/chat_template_ast.h"

namespace ember::lm::tpl {

namespace {

// Macro recursion deeper than this throws (jinja2 would hit Python's recursion limit).
constexpr int kMaxCallDepth = 200;
// Output larger than this is refused rather than exhausting memory.
constexpr size_t kMaxOutput = size_t{1} << 28;

// Attaches the template line to errors raised below it (once, at the innermost statement/expression).
[[noreturn]] void rethrow_with_line(int line) {
  try {
    throw;
  } catch (const TemplateRaise&) {
    throw;
  } catch (const RenderError& e) {
    throw std::runtime_error("[chat_template] line " + std::to_string(line) + ": " + e.what());
  }
}

int64_t to_index(const Value& v) {
  if (v.is_none()) return 0;
  if (!v.is_integral()) throw RenderError("slice indices must be integers or None");
  return v.as_int();
}

}  // namespace

Evaluator::~Evaluator() {
  for (auto& weak : namespaces_)
    if (auto d = weak.lock()) {
      auto items = std::move(d->items);  // destroyed outside the dict, which `d` keeps alive meanwhile
      d->items.clear();
    }
}

void Evaluator::exec_body(const Body& body, Scope& scope, std::string& out, Flow* flow) {
  for (const auto& s : body) {
    Flow f = exec(*s, scope, out);
    if (out.size() > kMaxOutput) throw RenderError("rendered output too large");
    if (f != Flow::Normal) {
      if (flow) *flow = f;
      return;
    }
  }
  if (flow) *flow = Flow::Normal;
}

void Evaluator::assign(Scope& scope, const std::vector<std::string>& targets, const Value& v, int line) {
  if (targets.size() == 1) {
    scope.set(targets[0], v);
    return;
  }
  List items = iterate(v);
  if (items.size() != targets.size())
    throw RenderError("cannot unpack " + std::to_string(items.size()) + " values into " +
                      std::to_string(targets.size()) + " names");
  for (size_t k = 0; k < targets.size(); ++k) scope.set(targets[k], items[k]);
}

Flow Evaluator::exec(const Stmt& s, Scope& scope, std::string& out) {
  try {
    switch (s.kind) {
      case StmtKind::Text:
        out += s.text;
        return Flow::Normal;
      case StmtKind::Output:
        out += py_str(eval(*s.expr, scope));
        return Flow::Normal;
      case StmtKind::If: {
        for (size_t k = 0; k < s.exprs.size(); ++k)
          if (truthy(eval(*s.exprs[k], scope))) {
            Flow f;
            exec_body(s.bodies[k], scope, out, &f);
            return f;
          }
        if (s.has_else) {
          Flow f;
          exec_body(s.bodies.back(), scope, out, &f);
          return f;
        }
        return Flow::Normal;
      }
      case StmtKind::For:
        return run_for(s, scope, eval(*s.expr, scope), 0, out);
      case StmtKind::Set: {
        Value v = eval(*s.expr, scope);
        if (!s.text.empty()) {
          const Value* ns = scope.find(s.targets[0]);
          if (!ns || ns->kind != Kind::Namespace) throw RenderError("cannot assign attribute on non-namespace object");
          ns->dict->set(s.text, std::move(v));
        } else {
          assign(scope, s.targets, v, s.line);
        }
        return Flow::Normal;
      }
      case StmtKind::SetBlock: {
        std::string text;
        Scope inner;
        inner.parent = &scope;
        inner.declared = &s.declared;
        exec_body(s.bodies[0], inner, text, nullptr);
        Value v = Value::string(std::move(text));
        if (s.expr) {
          block_input_ = v;
          v = eval(*s.expr, scope);
        }
        scope.set(s.targets[0], std::move(v));
        return Flow::Normal;
      }
      case StmtKind::FilterBlock: {
        std::string text;
        Scope inner;
        inner.parent = &scope;
        inner.declared = &s.declared;
        exec_body(s.bodies[0], inner, text, nullptr);
        block_input_ = Value::string(std::move(text));
        out += py_str(eval(*s.expr, scope));
        return Flow::Normal;
      }
      case StmtKind::With: {
        Scope inner;
        inner.parent = &scope;
        inner.declared = &s.declared;
        for (size_t k = 0; k < s.targets.size(); ++k) inner.set(s.targets[k], eval(*s.exprs[k], inner));
        Flow f;
        exec_body(s.bodies[0], inner, out, &f);
        return f;
      }
      case StmtKind::Macro:
        scope.set(s.text, make_macro(s, root_, s.text));
        return Flow::Normal;
      case StmtKind::CallBlock: {
        // {% call(params) m(args) %}body{% endcall %}: m receives the body as `caller`.
        const Expr& call = *s.expr;
        Value callee = eval(*call.args[0], scope);
        CallArgs args;
        for (size_t k = 1; k < call.args.size(); ++k) args.pos.push_back(eval(*call.args[k], scope));
        for (const auto& [key, v] : call.kwargs) args.kw.emplace_back(key, eval(*v, scope));
        Value caller = make_macro(s, &scope, "caller");
        // `caller` points at this scope: disarm it once the block is done, in case it was stored.
        struct Disarm {
          Function& fn;
          ~Disarm() {
            fn.call = [](Evaluator&, CallArgs&) -> Value {
              throw RenderError("caller() used outside its {% call %} block");
            };
          }
        } disarm{*caller.fn};
        args.kw.emplace_back("caller", caller);
        out += py_str(call_value(callee, args, s.line));
        return Flow::Normal;
      }
      case StmtKind::Break:
        return Flow::Break;
      case StmtKind::Continue:
        return Flow::Continue;
      case StmtKind::Generation: {
        Flow f;
        exec_body(s.bodies[0], scope, out, &f);
        return f;
      }
    }
  } catch (const RenderError&) {
    rethrow_with_line(s.line);
  }
  return Flow::Normal;
}

Flow Evaluator::run_for(const Stmt& s, Scope& scope, const Value& iterable, int depth0, std::string& out) {
  auto items = std::make_shared<List>();
  List all = iterate(iterable);
  if (s.cond) {
    Scope filter_scope;
    filter_scope.parent = &scope;
    for (auto& item : all) {
      assign(filter_scope, s.targets, item, s.line);
      if (truthy(eval(*s.cond, filter_scope))) items->push_back(std::move(item));
    }
  } else {
    *items = std::move(all);
  }
  if (items->empty()) {
    if (!s.has_else) return Flow::Normal;
    Flow f;
    exec_body(s.bodies[1], scope, out, &f);
    return f;
  }
  Value loop;
  loop.kind = Kind::Loop;
  loop.loop = std::make_shared<LoopState>();
  loop.loop->items = items;
  loop.loop->depth0 = depth0;
  if (s.recursive) {
    loop.loop->stmt = &s;
    loop.loop->scope = &scope;
  }
  // A stored `loop` must not reach this scope after the loop is over.
  struct Disarm {
    LoopState& state;
    ~Disarm() {
      state.stmt = nullptr;
      state.scope = nullptr;
    }
  } disarm{*loop.loop};
  for (size_t k = 0; k < items->size(); ++k) {
    // Each iteration gets a fresh scope: a {% set %} in the body does not survive it (jinja2).
    Scope body_scope;
    body_scope.parent = &scope;
    body_scope.declared = &s.declared;
    loop.loop->index0 = k;
    body_scope.vars.emplace_back("loop", loop);
    assign(body_scope, s.targets, (*items)[k], s.line);
    Flow f;
    exec_body(s.bodies[0], body_scope, out, &f);
    if (f == Flow::Break) break;
  }
  return Flow::Normal;
}

Value Evaluator::call_loop(const LoopState& loop, CallArgs& args) {
  if (!loop.stmt) throw RenderError("Tried to call non recursive loop. Maybe you forgot the 'recursive' modifier.");
  if (args.pos.size() != 1 || !args.kw.empty()) throw RenderError("loop() takes exactly one iterable");
  if (call_depth >= kMaxCallDepth) throw RenderError("maximum recursion depth exceeded in recursive loop");
  std::string out;
  ++call_depth;
  try {
    run_for(*loop.stmt, *loop.scope, args.pos[0], loop.depth0 + 1, out);
  } catch (...) {
    --call_depth;
    throw;
  }
  --call_depth;
  return Value::string(std::move(out));
}

Value Evaluator::make_macro(const Stmt& s, Scope* parent, const std::string& name) {
  auto fn = std::make_shared<Function>();
  fn->name = name;
  const Stmt* def = &s;
  fn->call = [def, parent](Evaluator& ev, CallArgs& args) -> Value {
    if (ev.call_depth >= kMaxCallDepth) throw RenderError("maximum macro recursion depth exceeded");
    // Macros see the template's top-level variables (looked up when called), not the caller's
    // locals; a {% call %} body sees the scope around the call.
    Scope scope;
    scope.parent = parent;
    scope.declared = &def->declared;
    List varargs;
    for (size_t k = 0; k < args.pos.size(); ++k) {
      if (k < def->targets.size())
        scope.set(def->targets[k], args.pos[k]);
      else
        varargs.push_back(args.pos[k]);
    }
    Value kwargs = Value::make_dict();
    if (!varargs.empty() && !def->uses_varargs)
      throw RenderError("macro '" + def->text + "' takes not more than " + std::to_string(def->targets.size()) +
                        " argument(s)");
    for (auto& [key, v] : args.kw) {
      auto it = std::find(def->targets.begin(), def->targets.end(), key);
      if (it == def->targets.end() && key == "caller") {
        scope.set(key, v);
      } else if (it == def->targets.end()) {
        if (!def->uses_kwargs) throw RenderError("macro '" + def->text + "' takes no keyword argument '" + key + "'");
        kwargs.dict->set(key, v);
      } else {
        if (static_cast<size_t>(it - def->targets.begin()) < args.pos.size())
          throw RenderError("macro '" + def->text + "' got multiple values for argument '" + key + "'");
        scope.set(key, v);
      }
    }
    for (size_t k = 0; k < def->targets.size(); ++k) {
      bool bound = false;
      for (const auto& [name, v] : scope.vars) bound = bound || name == def->targets[k];
      if (bound) continue;
      scope.set(def->targets[k], def->exprs[k]
                                     ? ev.eval(*def->exprs[k], scope)
                                     : Value::undefined("parameter '" + def->targets[k] + "' was not provided"));
    }
    scope.set("varargs", Value::make_list(std::move(varargs), true));
    scope.set("kwargs", kwargs);
    std::string out;
    ++ev.call_depth;
    try {
      ev.exec_body(def->bodies[0], scope, out, nullptr);
    } catch (...) {
      --ev.call_depth;
      throw;
    }
    --ev.call_depth;
    return Value::string(std::move(out));
  };
  Value v;
  v.kind = Kind::Function;
  v.fn = fn;
  return v;
}

Value Evaluator::call_value(const Value& callee, CallArgs& args, int line) {
  if (callee.is_undefined()) fail_undefined(callee);
  if (callee.kind == Kind::Loop) return call_loop(*callee.loop, args);
  if (callee.kind != Kind::Function) throw RenderError("'" + type_name(callee) + "' object is not callable");
  return callee.fn->call(*this, args);
}

Value Evaluator::get_attr(const Value& obj, const std::string& name) {
  switch (obj.kind) {
    case Kind::Undefined:
      fail_undefined(obj);
    case Kind::Dict: {
      Value m = method_of(obj, name);
      if (!m.is_undefined()) return m;
      if (const Value* v = obj.dict->find(name)) return *v;
      break;
    }
    case Kind::Namespace:
      if (const Value* v = obj.dict->find(name)) return *v;
      break;
    case Kind::Loop: {
      const LoopState& L = *obj.loop;
      int64_t n = static_cast<int64_t>(L.items->size()), k = static_cast<int64_t>(L.index0);
      if (name == "index") return Value::integer(k + 1);
      if (name == "index0") return Value::integer(k);
      if (name == "revindex") return Value::integer(n - k);
      if (name == "revindex0") return Value::integer(n - k - 1);
      if (name == "first") return Value::boolean(k == 0);
      if (name == "last") return Value::boolean(k == n - 1);
      if (name == "length") return Value::integer(n);
      if (name == "depth") return Value::integer(L.depth0 + 1);
      if (name == "depth0") return Value::integer(L.depth0);
      if (name == "previtem") return k > 0 ? (*L.items)[k - 1] : Value::undefined("there is no previous item");
      if (name == "nextitem") return k + 1 < n ? (*L.items)[k + 1] : Value::undefined("there is no next item");
      if (name == "changed") {
        auto state = obj.loop;
        auto fn = std::make_shared<Function>();
        fn->name = "changed";
        fn->call = [state](Evaluator&, CallArgs& a) -> Value {
          List now = a.pos;
          bool same = state->last_changed && state->last_changed->size() == now.size() &&
                      std::equal(now.begin(), now.end(), state->last_changed->begin(), py_eq);
          state->last_changed = std::move(now);
          return Value::boolean(!same);
        };
        Value v;
        v.kind = Kind::Function;
        v.fn = fn;
        return v;
      }
      if (name == "cycle") {
        auto fn = std::make_shared<Function>();
        fn->name = "cycle";
        fn->call = [k](Evaluator&, CallArgs& a) -> Value {
          if (a.pos.empty()) throw RenderError("no items for cycling given");
          return a.pos[k % a.pos.size()];
        };
        Value v;
        v.kind = Kind::Function;
        v.fn = fn;
        return v;
      }
      break;
    }
    default: {
      Value m = method_of(obj, name);
      if (!m.is_undefined()) return m;
    }
  }
  std::string what = obj.is_none() ? "'None'" : "'" + type_name(obj) + " object'";
  return Value::undefined(what + " has no attribute '" + name + "'");
}

Value Evaluator::get_item(const Value& obj, const Value& key) {
  switch (obj.kind) {
    case Kind::Undefined:
      fail_undefined(obj);
    case Kind::Dict:
    case Kind::Namespace:
      if (key.is_string())
        if (const Value* v = obj.dict->find(key.s)) return *v;
      break;
    case Kind::List:
    case Kind::String:
      if (key.is_integral()) {
        int64_t k = key.as_int();
        if (obj.is_list()) {
          int64_t n = static_cast<int64_t>(obj.list->size());
          if (k < 0) k += n;
          if (k >= 0 && k < n) return (*obj.list)[k];
        } else {
          std::vector<std::string> chars = utf8_chars(obj.s);
          int64_t n = static_cast<int64_t>(chars.size());
          if (k < 0) k += n;
          if (k >= 0 && k < n) return Value::string(chars[k]);
        }
        return Value::undefined("'" + type_name(obj) + " object' has no element " + py_str(key));
      }
      break;
    default:
      break;
  }
  if (key.is_string()) return get_attr(obj, key.s);
  return Value::undefined("'" + type_name(obj) + " object' has no element " + py_repr(key));
}

static Value slice_value(const Value& obj, const Value& start, const Value& stop, const Value& step_v) {
  if (obj.is_undefined()) fail_undefined(obj);
  int64_t step = step_v.is_none() ? 1 : to_index(step_v);
  if (step == 0) throw RenderError("slice step cannot be zero");
  std::vector<std::string> chars;
  int64_t n;
  if (obj.is_string()) {
    chars = utf8_chars(obj.s);
    n = static_cast<int64_t>(chars.size());
  } else if (obj.is_list()) {
    n = static_cast<int64_t>(obj.list->size());
  } else {
    throw RenderError("'" + type_name(obj) + "' object is not subscriptable");
  }
  // Python's slice.indices().
  auto clamp = [&](const Value& v, int64_t dflt) {
    if (v.is_none()) return dflt;
    int64_t x = to_index(v);
    if (x < 0) x += n;
    if (step > 0) return std::clamp<int64_t>(x, 0, n);
    return std::clamp<int64_t>(x, -1, n - 1);
  };
  int64_t lo = clamp(start, step > 0 ? 0 : n - 1), hi = clamp(stop, step > 0 ? n : -1);
  std::string s;
  List items;
  for (int64_t k = lo; step > 0 ? k < hi : k > hi; k += step) {
    if (obj.is_string())
      s += chars[k];
    else
      items.push_back((*obj.list)[k]);
  }
  if (obj.is_string()) return Value::string(std::move(s));
  return Value::make_list(std::move(items), obj.tuple);
}

static bool contains(const Value& container, const Value& item) {
  switch (container.kind) {
    case Kind::Undefined:
      return false;
    case Kind::String:
      if (!item.is_string()) throw RenderError("'in <string>' requires string as left operand, not " + type_name(item));
      return container.s.find(item.s) != std::string::npos;
    case Kind::List:
      for (const auto& x : *container.list)
        if (py_eq(x, item)) return true;
      return false;
    case Kind::Dict:
      return item.is_string() && container.dict->find(item.s) != nullptr;
    default:
      throw RenderError("argument of type '" + type_name(container) + "' is not iterable");
  }
}

Value Evaluator::eval(const Expr& e, Scope& scope) {
  try {
    switch (e.kind) {
      case ExprKind::Literal:
        return e.value;
      case ExprKind::Name: {
        bool hidden = false;
        if (const Value* v = scope.lookup(e.name, &hidden)) return *v;
        if (hidden) return Value::undefined("'" + e.name + "' is undefined");
        Value g = lookup_global(e.name);
        if (!g.is_undefined()) return g;
        return Value::undefined("'" + e.name + "' is undefined");
      }
      case ExprKind::Attr:
        return get_attr(eval(*e.args[0], scope), e.name);
      case ExprKind::Item:
        return get_item(eval(*e.args[0], scope), eval(*e.args[1], scope));
      case ExprKind::Slice: {
        Value obj = eval(*e.args[0], scope);
        auto part = [&](int k) { return e.args[k] ? eval(*e.args[k], scope) : Value::none(); };
        return slice_value(obj, part(1), part(2), part(3));
      }
      case ExprKind::Call:
      case ExprKind::Filter:
      case ExprKind::Test: {
        if (e.soft)
          throw RenderError(std::string("no ") + (e.kind == ExprKind::Filter ? "filter" : "test") + " named '" +
                            e.name + "'");
        Value target;
        if (e.args[0])
          target = eval(*e.args[0], scope);
        else
          target = block_input_;
        CallArgs args;
        for (size_t k = 1; k < e.args.size(); ++k) args.pos.push_back(eval(*e.args[k], scope));
        for (const auto& [key, v] : e.kwargs) args.kw.emplace_back(key, eval(*v, scope));
        if (e.kind == ExprKind::Call) return call_value(target, args, e.line);
        if (e.kind == ExprKind::Filter) return apply_filter(e.name, target, args, scope);
        return Value::boolean(apply_test(e.name, target, args) != e.negated);
      }
      case ExprKind::Neg:
      case ExprKind::Pos: {
        Value v = eval(*e.args[0], scope);
        if (v.is_undefined()) fail_undefined(v);
        if (!v.is_number())
          throw RenderError("bad operand type for unary " + std::string(e.kind == ExprKind::Neg ? "-" : "+") + ": '" +
                            type_name(v) + "'");
        if (e.kind == ExprKind::Pos) return v.kind == Kind::Bool ? Value::integer(v.as_int()) : v;
        return v.kind == Kind::Float ? Value::number(-v.f) : Value::integer(-v.as_int());
      }
      case ExprKind::Not:
        return Value::boolean(!truthy(eval(*e.args[0], scope)));
      case ExprKind::Binary:
        return binary_op(e.name, eval(*e.args[0], scope), eval(*e.args[1], scope));
      case ExprKind::And: {
        Value a = eval(*e.args[0], scope);
        return truthy(a) ? eval(*e.args[1], scope) : a;
      }
      case ExprKind::Or: {
        Value a = eval(*e.args[0], scope);
        return truthy(a) ? a : eval(*e.args[1], scope);
      }
      case ExprKind::Compare: {
        Value left = eval(*e.args[0], scope);
        for (size_t k = 0; k < e.ops.size(); ++k) {
          Value right = eval(*e.args[k + 1], scope);
          const std::string& op = e.ops[k];
          bool r;
          if (op == "==")
            r = py_eq(left, right);
          else if (op == "!=")
            r = !py_eq(left, right);
          else if (op == "in")
            r = contains(right, left);
          else if (op == "not in")
            r = !contains(right, left);
          else {
            int c = py_cmp(left, right, op.c_str());
            r = op == "<" ? c < 0 : op == "<=" ? c <= 0 : op == ">" ? c > 0 : c >= 0;
          }
          if (!r) return Value::boolean(false);
          left = std::move(right);
        }
        return Value::boolean(true);
      }
      case ExprKind::CondExpr:
        if (truthy(eval(*e.args[1], scope))) return eval(*e.args[0], scope);
        if (e.args[2]) return eval(*e.args[2], scope);
        return Value::undefined("the inline if-expression evaluated to false and no else section was defined");
      case ExprKind::ListLit:
      case ExprKind::TupleLit: {
        List items;
        for (const auto& a : e.args) items.push_back(eval(*a, scope));
        return Value::make_list(std::move(items), e.kind == ExprKind::TupleLit);
      }
      case ExprKind::DictLit: {
        Value d = Value::make_dict();
        for (size_t k = 0; k + 1 < e.args.size(); k += 2) {
          Value key = eval(*e.args[k], scope);
          if (!key.is_string()) throw RenderError("only string dict keys are supported, got " + type_name(key));
          d.dict->set(key.s, eval(*e.args[k + 1], scope));
        }
        return d;
      }
    }
  } catch (const RenderError&) {
    rethrow_with_line(e.line);
  }
  return Value();
}

}  // namespace ember::lm::tpl

namespace ember::lm {

ChatTemplate::ChatTemplate(std::string source) : source_(std::move(source)) { program_ = tpl::parse_template(source_); }

ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

namespace {
std::string render_value(const tpl::Program& program, const tpl::Value& ctx, const std::optional<std::tm>& fixed) {
  if (ctx.kind != tpl::Kind::Dict) throw std::runtime_error("[chat_template] render: context must be a JSON object");
  // The context is the outermost frame; the template's top level is a frame of its own.
  tpl::Scope context;
  context.vars = ctx.dict->items;
  tpl::Scope root;
  root.parent = &context;
  root.declared = &program.declared;
  tpl::Evaluator ev(&root, fixed);
  std::string out;
  try {
    ev.exec_body(program.body, root, out, nullptr);
  } catch (const tpl::TemplateRaise& e) {
    throw ChatTemplateRaise(e.what());
  } catch (const tpl::RenderError& e) {
    throw std::runtime_error(std::string("[chat_template] ") + e.what());
  }
  return out;
}
}  // namespace

std::string ChatTemplate::render(const nlohmann::json& context) const {
  return render_value(*program_, tpl::from_json(context), fixed_time_);
}

std::string ChatTemplate::render_ordered(const nlohmann::ordered_json& context) const {
  return render_value(*program_, tpl::from_json(context), fixed_time_);
}

std::string ChatTemplate::apply(const nlohmann::json& messages, bool add_generation_prompt,
                                const nlohmann::json& extra) const {
  nlohmann::json ctx = extra.is_object() ? extra : nlohmann::json::object();
  ctx["messages"] = messages;
  ctx["add_generation_prompt"] = add_generation_prompt;
  return render(ctx);
}

}  // namespace ember::lm
