// einsum and einsum_path: parse the subscripts, simplify each operand alone
// (diagonals of repeated labels, size-1 axes that broadcast, labels only it
// uses), plan the order of pairwise contractions, and lower each contraction
// to transpose + reshape + one batched matmul (BLAS) -- or a broadcast
// multiply when nothing is summed or the dtype is not inexact.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <numeric>
#include <set>
#include <sstream>
#include <string>

#include "ember/einsum.h"
#include "ember/ops.h"
#include "ember/utils.h"

namespace ember {

namespace {

// Labels: a letter is its character code; axis t of the (right-aligned) "..." block is kEllipsis + t.
constexpr int kEllipsis = 256;
// Up to this many operands the path search is exhaustive.
constexpr size_t kOptimalMax = 5;

using Labels = std::vector<int>;

struct Parsed {
  std::vector<Labels> inputs;  // per operand, one label per axis ("..." expanded)
  Labels output;
  std::map<int, int64_t> size;  // label -> size (broadcast over size-1 axes)
  int ellipsis_ndim = 0;
};

[[noreturn]] void fail(const std::string& msg) { throw std::invalid_argument("[einsum] " + msg); }

// One term's letters and "..." position (-1: none); rejects other characters.
struct TermSyntax {
  std::vector<char> letters;
  int ellipsis_at = -1;  // number of letters before "..."
};

TermSyntax parse_term(const std::string& term, const std::string& subscripts) {
  TermSyntax t;
  for (size_t i = 0; i < term.size(); ++i) {
    char c = term[i];
    if (std::isalpha(static_cast<unsigned char>(c))) {
      t.letters.push_back(c);
    } else if (c == '.') {
      if (term.compare(i, 3, "...") != 0 || t.ellipsis_at >= 0) {
        fail("invalid ellipsis in term '" + term + "' of '" + subscripts + "' (use one '...' per term)");
      }
      t.ellipsis_at = static_cast<int>(t.letters.size());
      i += 2;
    } else {
      fail(std::string("invalid character '") + c + "' in subscripts '" + subscripts +
           "' (only letters, ',', '...' and '->' are allowed)");
    }
  }
  return t;
}

std::string label_name(int label) {
  if (label < kEllipsis) return std::string(1, static_cast<char>(label));
  return "...[" + std::to_string(label - kEllipsis) + "]";
}

Parsed parse(const std::string& subscripts_in, const std::vector<array>& ops) {
  std::string sub;
  for (char c : subscripts_in) {
    if (!std::isspace(static_cast<unsigned char>(c))) sub += c;
  }
  if (ops.empty()) fail("needs at least one operand");
  size_t arrow = sub.find("->");
  if (arrow != std::string::npos && sub.find("->", arrow + 2) != std::string::npos) {
    fail("subscripts '" + subscripts_in + "' have more than one '->'");
  }
  std::string lhs = sub.substr(0, arrow);
  std::vector<std::string> terms;
  {
    size_t start = 0;
    for (;;) {
      size_t comma = lhs.find(',', start);
      terms.push_back(lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  if (terms.size() != ops.size()) {
    fail("subscripts '" + subscripts_in + "' name " + std::to_string(terms.size()) + " operand(s) but " +
         std::to_string(ops.size()) + " array(s) were given");
  }
  Parsed p;
  std::vector<TermSyntax> syn;
  for (size_t i = 0; i < terms.size(); ++i) {
    syn.push_back(parse_term(terms[i], subscripts_in));
    int nd = static_cast<int>(ops[i].ndim()), nl = static_cast<int>(syn[i].letters.size());
    if (syn[i].ellipsis_at < 0 ? nl != nd : nl > nd) {
      fail("operand " + std::to_string(i) + " has " + std::to_string(nd) + " dimension(s) but its subscripts '" +
           terms[i] + "' name " + std::to_string(nl));
    }
    if (syn[i].ellipsis_at >= 0) p.ellipsis_ndim = std::max(p.ellipsis_ndim, nd - nl);
  }
  // Labels and sizes per operand; "..." axes right-aligned across operands.
  for (size_t i = 0; i < terms.size(); ++i) {
    const TermSyntax& t = syn[i];
    int nd = static_cast<int>(ops[i].ndim()), k = nd - static_cast<int>(t.letters.size());
    Labels labels;
    for (int j = 0; j <= static_cast<int>(t.letters.size()); ++j) {
      if (j == t.ellipsis_at) {
        for (int e = 0; e < k; ++e) labels.push_back(kEllipsis + p.ellipsis_ndim - k + e);
      }
      if (j < static_cast<int>(t.letters.size())) labels.push_back(t.letters[j]);
    }
    std::map<int, int64_t> own;
    for (int ax = 0; ax < nd; ++ax) {
      int l = labels[ax];
      int64_t d = ops[i].shape(ax);
      auto it = own.find(l);
      if (it != own.end() && it->second != d) {
        fail("label '" + label_name(l) + "' is repeated in operand " + std::to_string(i) + " with sizes " +
             std::to_string(it->second) + " and " + std::to_string(d) + " (shape " + shape_to_string(ops[i].shape()) +
             ")");
      }
      own[l] = d;
      auto g = p.size.find(l);
      if (g == p.size.end() || g->second == 1) {
        p.size[l] = d;
      } else if (d != 1 && d != g->second) {
        fail("label '" + label_name(l) + "' has size " + std::to_string(g->second) +
             " in an earlier operand but size " + std::to_string(d) + " in operand " + std::to_string(i) + " (shape " +
             shape_to_string(ops[i].shape()) + ")");
      }
    }
    p.inputs.push_back(labels);
  }
  // The output.
  if (arrow != std::string::npos) {
    std::string rhs = sub.substr(arrow + 2);
    TermSyntax t = parse_term(rhs, subscripts_in);
    if (t.ellipsis_at < 0 && p.ellipsis_ndim > 0) {
      fail("the inputs of '" + subscripts_in + "' have " + std::to_string(p.ellipsis_ndim) +
           " '...' dimension(s) but the output has no '...' (as NumPy, they are not summed implicitly)");
    }
    for (int j = 0; j <= static_cast<int>(t.letters.size()); ++j) {
      if (j == t.ellipsis_at) {
        for (int e = 0; e < p.ellipsis_ndim; ++e) p.output.push_back(kEllipsis + e);
      }
      if (j == static_cast<int>(t.letters.size())) break;
      int l = t.letters[j];
      if (std::count(p.output.begin(), p.output.end(), l)) {
        fail(std::string("output subscript '") + t.letters[j] + "' appears more than once in '" + subscripts_in + "'");
      }
      if (!p.size.count(l)) {
        fail(std::string("output subscript '") + t.letters[j] + "' does not appear in the inputs of '" + subscripts_in +
             "'");
      }
      p.output.push_back(l);
    }
  } else {
    std::map<int, int> count;
    for (const auto& in : p.inputs) {
      for (int l : in) ++count[l];
    }
    for (int e = 0; e < p.ellipsis_ndim; ++e) p.output.push_back(kEllipsis + e);
    for (auto [l, c] : count) {
      if (l < kEllipsis && c == 1) p.output.push_back(l);  // std::map: ASCII order
    }
  }
  return p;
}

// ---------------------------------------------------------------- operand simplification

bool contains(const Labels& v, int l) { return std::find(v.begin(), v.end(), l) != v.end(); }

// Takes the diagonal of repeated labels (kept at the first occurrence) and drops size-1 axes that broadcast
// (label size > 1: the operand is constant along them).
void simplify_axes(array& a, Labels& labels, const Parsed& p, Stream s) {
  for (;;) {
    int first = -1, second = -1;
    for (size_t i = 0; i < labels.size() && first < 0; ++i) {
      for (size_t j = i + 1; j < labels.size(); ++j) {
        if (labels[i] == labels[j]) {
          first = static_cast<int>(i);
          second = static_cast<int>(j);
          break;
        }
      }
    }
    if (first < 0) break;
    // diagonal() appends the diagonal as the last axis; it moves to `first`, keeping the label.
    a = moveaxis(diagonal(a, 0, first, second, s), -1, first, s);
    labels.erase(labels.begin() + second);
  }
  std::vector<int> squeeze_axes;
  Labels kept;
  for (size_t i = 0; i < labels.size(); ++i) {
    bool broadcast = p.size.at(labels[i]) != 1 && a.shape(static_cast<int>(i)) == 1;
    if (broadcast) {
      squeeze_axes.push_back(static_cast<int>(i));
    } else {
      kept.push_back(labels[i]);
    }
  }
  if (!squeeze_axes.empty()) a = squeeze(a, squeeze_axes, s);
  labels = kept;
}

// Drops the labels not in `needed`; returns the axes they were on.
std::vector<int> drop_unneeded(Labels& labels, const std::set<int>& needed) {
  std::vector<int> axes;
  Labels kept;
  for (size_t i = 0; i < labels.size(); ++i) {
    if (needed.count(labels[i])) {
      kept.push_back(labels[i]);
    } else {
      axes.push_back(static_cast<int>(i));
    }
  }
  labels = kept;
  return axes;
}

// Sums the axes of `a` whose labels are not in `needed`.
void sum_unneeded(array& a, Labels& labels, const std::set<int>& needed, Stream s) {
  std::vector<int> axes = drop_unneeded(labels, needed);
  if (!axes.empty()) a = sum(a, axes, false, s);
}

// Labels each operand must keep: in the output or in another operand.
std::set<int> needed_by_others(const std::vector<Labels>& ops, size_t self, const Labels& output) {
  std::set<int> needed(output.begin(), output.end());
  for (size_t j = 0; j < ops.size(); ++j) {
    if (j != self) needed.insert(ops[j].begin(), ops[j].end());
  }
  return needed;
}

// ---------------------------------------------------------------- planning

// NumPy / opt_einsum's FLOP count of one contraction over the union of `labels`.
double flop_count(const std::set<int>& labels, bool inner, int num_terms, const Parsed& p) {
  double size = 1;
  for (int l : labels) size *= static_cast<double>(p.size.at(l));
  double factor = std::max(1, num_terms - 1) + (inner ? 1 : 0);
  return size * factor;
}

double labels_size(const Labels& labels, const Parsed& p) {
  double size = 1;
  for (int l : labels) size *= static_cast<double>(p.size.at(l));
  return size;
}

// The result labels of contracting ops[i] and ops[j] (in the order the lowering produces:
// batch, then ops[i]'s free, then ops[j]'s free) and its FLOP count.
struct Step {
  Labels result;
  double flops;
  bool shares;  // the pair has a label in common (else it is an outer product)
};

Step plan_step(const std::vector<Labels>& ops, size_t i, size_t j, const Parsed& p) {
  std::set<int> needed(p.output.begin(), p.output.end());
  for (size_t k = 0; k < ops.size(); ++k) {
    if (k != i && k != j) needed.insert(ops[k].begin(), ops[k].end());
  }
  const Labels &a = ops[i], &b = ops[j];
  Step st;
  std::set<int> all(a.begin(), a.end());
  all.insert(b.begin(), b.end());
  bool inner = false;
  st.shares = false;
  for (int l : a) {
    if (contains(b, l)) {
      st.shares = true;
      if (needed.count(l)) {
        st.result.push_back(l);
      } else {
        inner = true;
      }
    }
  }
  for (int l : a) {
    if (!contains(b, l) && needed.count(l)) st.result.push_back(l);
    if (!contains(b, l) && !needed.count(l)) inner = true;
  }
  for (int l : b) {
    if (!contains(a, l) && needed.count(l)) st.result.push_back(l);
    if (!contains(a, l) && !needed.count(l)) inner = true;
  }
  st.flops = flop_count(all, inner, 2, p);
  return st;
}

// Applies step (i, j): removes both, appends the result.
std::vector<Labels> after_step(const std::vector<Labels>& ops, size_t i, size_t j, const Labels& result) {
  std::vector<Labels> next;
  for (size_t k = 0; k < ops.size(); ++k) {
    if (k != i && k != j) next.push_back(ops[k]);
  }
  next.push_back(result);
  return next;
}

struct Plan {
  std::vector<std::vector<int>> path;
  double flops = 0;
};

Plan optimal_path(const std::vector<Labels>& ops, const Parsed& p) {
  Plan best;
  best.flops = std::numeric_limits<double>::infinity();
  std::vector<std::vector<int>> cur;
  std::function<void(const std::vector<Labels>&, double)> search = [&](const std::vector<Labels>& o, double cost) {
    if (cost >= best.flops) return;
    if (o.size() == 1) {
      best.flops = cost;
      best.path = cur;
      return;
    }
    for (size_t i = 0; i < o.size(); ++i) {
      for (size_t j = i + 1; j < o.size(); ++j) {
        Step st = plan_step(o, i, j, p);
        cur.push_back({static_cast<int>(i), static_cast<int>(j)});
        search(after_step(o, i, j, st.result), cost + st.flops);
        cur.pop_back();
      }
    }
  };
  search(ops, 0.0);
  return best;
}

// opt_einsum's greedy: contract first the pair whose result removes the most memory
// (size(result) - size(a) - size(b)), preferring pairs that share a label; ties by FLOPs.
Plan greedy_path(std::vector<Labels> ops, const Parsed& p) {
  Plan plan;
  while (ops.size() > 1) {
    size_t bi = 0, bj = 1;
    std::tuple<int, double, double> best{2, 0, 0};
    for (size_t i = 0; i < ops.size(); ++i) {
      for (size_t j = i + 1; j < ops.size(); ++j) {
        Step st = plan_step(ops, i, j, p);
        double removed = labels_size(st.result, p) - labels_size(ops[i], p) - labels_size(ops[j], p);
        std::tuple<int, double, double> key{st.shares ? 0 : 1, removed, st.flops};
        if (std::get<0>(best) == 2 || key < best) {
          best = key;
          bi = i;
          bj = j;
        }
      }
    }
    Step st = plan_step(ops, bi, bj, p);
    plan.path.push_back({static_cast<int>(bi), static_cast<int>(bj)});
    plan.flops += st.flops;
    ops = after_step(ops, bi, bj, st.result);
  }
  return plan;
}

Plan plan_path(const std::vector<Labels>& ops, const Parsed& p) {
  if (ops.size() == 1) return {{{0}}, 0.0};
  return ops.size() <= kOptimalMax ? optimal_path(ops, p) : greedy_path(ops, p);
}

// ---------------------------------------------------------------- lowering

// a (labels la) permuted to `order` (a subset of la in any order; other labels must be gone).
array permute_to(const array& a, const Labels& la, const Labels& order, Stream s) {
  std::vector<int> perm;
  for (int l : order) perm.push_back(static_cast<int>(std::find(la.begin(), la.end(), l) - la.begin()));
  bool identity = true;
  for (size_t i = 0; i < perm.size(); ++i) identity = identity && perm[i] == static_cast<int>(i);
  return identity ? a : transpose(a, perm, s);
}

int32_t dim_product(const Labels& labels, const Parsed& p) {
  int64_t n = 1;
  for (int l : labels) n *= p.size.at(l);
  if (n > std::numeric_limits<int32_t>::max()) fail("an intermediate axis of " + std::to_string(n) + " is too large");
  return static_cast<int32_t>(n);
}

Shape dims_of(const Labels& labels, const Parsed& p) {
  Shape out;
  for (int l : labels) out.push_back(static_cast<int32_t>(p.size.at(l)));
  return out;
}

// Contracts (a, la) with (b, lb) keeping `needed` labels; returns the result and its labels
// (batch, a's free, b's free).
std::pair<array, Labels> contract_pair(array a, Labels la, array b, Labels lb, const std::set<int>& needed,
                                       const Parsed& p, Stream s) {
  // Labels only one side has and nobody needs are summed first.
  std::set<int> need_a = needed, need_b = needed;
  need_a.insert(lb.begin(), lb.end());
  need_b.insert(la.begin(), la.end());
  sum_unneeded(a, la, need_a, s);
  sum_unneeded(b, lb, need_b, s);
  Labels batch, contracted, free_a, free_b;
  for (int l : la) {
    if (contains(lb, l)) {
      (needed.count(l) ? batch : contracted).push_back(l);
    } else {
      free_a.push_back(l);
    }
  }
  for (int l : lb) {
    if (!contains(la, l)) free_b.push_back(l);
  }
  Labels result = batch;
  result.insert(result.end(), free_a.begin(), free_a.end());
  result.insert(result.end(), free_b.begin(), free_b.end());
  if (contracted.empty() || !is_inexact(a.dtype())) {
    // Broadcast product (then a sum for integer contractions): a as (batch, free_a, 1.., contracted),
    // b as (batch, 1.., free_b, contracted).
    Labels oa = batch, ob = batch;
    oa.insert(oa.end(), free_a.begin(), free_a.end());
    oa.insert(oa.end(), contracted.begin(), contracted.end());
    ob.insert(ob.end(), free_b.begin(), free_b.end());
    ob.insert(ob.end(), contracted.begin(), contracted.end());
    array x = permute_to(a, la, oa, s), y = permute_to(b, lb, ob, s);
    Shape xs = dims_of(batch, p), ys = xs;
    for (int l : free_a) {
      xs.push_back(static_cast<int32_t>(p.size.at(l)));
      ys.push_back(1);
    }
    for (int l : free_b) {
      xs.push_back(1);
      ys.push_back(static_cast<int32_t>(p.size.at(l)));
    }
    for (int l : contracted) {
      xs.push_back(static_cast<int32_t>(p.size.at(l)));
      ys.push_back(static_cast<int32_t>(p.size.at(l)));
    }
    array prod = multiply(reshape(x, xs, s), reshape(y, ys, s), s);
    if (!contracted.empty()) {
      std::vector<int> axes(contracted.size());
      std::iota(axes.begin(), axes.end(), static_cast<int>(result.size()));
      prod = sum(prod, axes, false, s);
    }
    return {prod, result};
  }
  // a -> (B, M, K), b -> (B, K, N), one batched matmul -> (B, M, N).
  Labels oa = batch, ob = batch;
  oa.insert(oa.end(), free_a.begin(), free_a.end());
  oa.insert(oa.end(), contracted.begin(), contracted.end());
  ob.insert(ob.end(), contracted.begin(), contracted.end());
  ob.insert(ob.end(), free_b.begin(), free_b.end());
  int32_t B = dim_product(batch, p), M = dim_product(free_a, p), K = dim_product(contracted, p),
          N = dim_product(free_b, p);
  array x = reshape(permute_to(a, la, oa, s), {B, M, K}, s);
  array y = reshape(permute_to(b, lb, ob, s), {B, K, N}, s);
  return {reshape(matmul(x, y, s), dims_of(result, p), s), result};
}

std::string fmt_fixed(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3f", x);
  return buf;
}

std::string fmt_sci(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3e", x);
  return buf;
}

// Letters for printing: "..." axes get letters the subscripts do not use.
std::map<int, char> printable(const Parsed& p) {
  std::set<char> used;
  for (const auto& in : p.inputs) {
    for (int l : in) {
      if (l < kEllipsis) used.insert(static_cast<char>(l));
    }
  }
  std::map<int, char> m;
  std::string pool = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  size_t next = 0;
  for (int e = 0; e < p.ellipsis_ndim; ++e) {
    while (next < pool.size() && used.count(pool[next])) ++next;
    m[kEllipsis + e] = next < pool.size() ? pool[next++] : '?';
  }
  return m;
}

std::string term_string(const Labels& labels, const std::map<int, char>& names) {
  std::string s;
  for (int l : labels) s += l < kEllipsis ? static_cast<char>(l) : names.at(l);
  return s;
}

// Each operand alone, in one dtype: diagonals, broadcast axes, sums of labels nobody
// else uses. Builds graph nodes only (nothing runs), so einsum_path shares it.
void prepare(const Parsed& p, const std::vector<array>& operands, Stream s, std::vector<array>& ops,
             std::vector<Labels>& labels) {
  Dtype t = operands[0].dtype();
  for (const auto& o : operands) t = promote_types(t, o.dtype());
  for (size_t i = 0; i < operands.size(); ++i) {
    array a = astype(operands[i], t, s);
    Labels l = p.inputs[i];
    simplify_axes(a, l, p, s);
    ops.push_back(a);
    labels.push_back(l);
  }
  std::vector<Labels> simplified = labels;
  for (size_t i = 0; i < ops.size(); ++i) {
    sum_unneeded(ops[i], labels[i], needed_by_others(simplified, i, p.output), s);
  }
}

}  // namespace

array einsum(const std::string& subscripts, const std::vector<array>& operands, StreamOrDevice sd) {
  Parsed p = parse(subscripts, operands);
  Stream s = to_stream(sd);
  std::vector<array> ops;
  std::vector<Labels> labels;
  prepare(p, operands, s, ops, labels);
  Plan plan = plan_path(labels, p);
  if (ops.size() > 1) {
    for (const auto& step : plan.path) {
      size_t i = step[0], j = step[1];
      std::set<int> needed(p.output.begin(), p.output.end());
      for (size_t k = 0; k < ops.size(); ++k) {
        if (k != i && k != j) needed.insert(labels[k].begin(), labels[k].end());
      }
      auto [r, lr] = contract_pair(ops[i], labels[i], ops[j], labels[j], needed, p, s);
      std::vector<array> next_ops;
      std::vector<Labels> next_labels;
      for (size_t k = 0; k < ops.size(); ++k) {
        if (k != i && k != j) {
          next_ops.push_back(ops[k]);
          next_labels.push_back(labels[k]);
        }
      }
      next_ops.push_back(r);
      next_labels.push_back(lr);
      ops = std::move(next_ops);
      labels = std::move(next_labels);
    }
  }
  array out = ops[0];
  Labels lo = labels[0];
  sum_unneeded(out, lo, std::set<int>(p.output.begin(), p.output.end()), s);
  // Every output label survives (only labels of size > 1 lose size-1 axes, and some operand
  // keeps such a label at full size); the reshape below only guards that invariant.
  Labels present;
  for (int l : p.output) {
    if (contains(lo, l)) present.push_back(l);
  }
  out = permute_to(out, lo, present, s);
  if (present.size() != p.output.size()) out = reshape(out, dims_of(p.output, p), s);
  return out;
}

std::pair<std::vector<std::vector<int>>, std::string> einsum_path(const std::string& subscripts,
                                                                  const std::vector<array>& operands) {
  Parsed p = parse(subscripts, operands);
  std::vector<array> ops;
  std::vector<Labels> labels;
  prepare(p, operands, to_stream({}), ops, labels);
  Plan plan = plan_path(labels, p);
  std::map<int, char> names = printable(p);

  // Naive: one loop nest over every label.
  std::set<int> all;
  for (const auto& in : p.inputs) all.insert(in.begin(), in.end());
  bool inner = false;
  for (int l : all) inner = inner || !contains(p.output, l);
  double naive = flop_count(all, inner, static_cast<int>(operands.size()), p);

  std::vector<std::string> lines;
  double optimized = 0, largest = 0;
  size_t opt_scaling = 0;
  std::vector<Labels> cur = labels;
  if (cur.size() == 1) {
    std::set<int> u(cur[0].begin(), cur[0].end());
    bool in = false;
    for (int l : cur[0]) in = in || !contains(p.output, l);
    optimized = flop_count(u, in, 1, p);
    opt_scaling = u.size();
    largest = labels_size(p.output, p);
  }
  for (const auto& step : plan.path) {
    if (step.size() != 2) break;
    size_t i = step[0], j = step[1];
    Step st = plan_step(cur, i, j, p);
    std::set<int> u(cur[i].begin(), cur[i].end());
    u.insert(cur[j].begin(), cur[j].end());
    optimized += st.flops;
    opt_scaling = std::max(opt_scaling, u.size());
    largest = std::max(largest, labels_size(st.result, p));
    std::string current =
        term_string(cur[i], names) + "," + term_string(cur[j], names) + "->" + term_string(st.result, names);
    cur = after_step(cur, i, j, st.result);
    std::string remaining;
    for (size_t k = 0; k < cur.size(); ++k) {
      if (k) remaining += ',';
      remaining += term_string(cur[k], names);
    }
    remaining += "->" + term_string(p.output, names);
    char buf[256];
    std::snprintf(buf, sizeof(buf), "%4zu    %24s %40s", u.size(), current.c_str(), remaining.c_str());
    lines.push_back(buf);
  }
  std::string complete;
  for (size_t i = 0; i < p.inputs.size(); ++i) {
    if (i) complete += ',';
    complete += term_string(p.inputs[i], names);
  }
  complete += "->" + term_string(p.output, names);
  std::ostringstream os;
  os << "  Complete contraction:  " << complete << "\n"
     << "         Naive scaling:  " << all.size() << "\n"
     << "     Optimized scaling:  " << opt_scaling << "\n"
     << "      Naive FLOP count:  " << fmt_sci(naive) << "\n"
     << "  Optimized FLOP count:  " << fmt_sci(optimized) << "\n"
     << "   Theoretical speedup:  " << fmt_fixed(optimized > 0 ? naive / optimized : 1.0) << "\n"
     << "  Largest intermediate:  " << fmt_sci(largest) << " elements\n"
     << std::string(74, '-') << "\n"
     << "scaling                  current                                remaining\n"
     << std::string(74, '-') << "\n";
  for (const auto& l : lines) os << l << "\n";
  return {plan.path, os.str()};
}

}  // namespace ember
