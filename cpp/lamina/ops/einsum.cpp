// einsum: the equation is parsed into integer labels (A-Z, a-z in ASCII order, then one label per
// ellipsis dim, aligned from the right), repeated labels in an operand become diagonals, labels
// needed nowhere else are summed away, and operands are contracted left to right, each pair as
// one (batched) matmul of permuted, reshaped views. Autograd comes from the ops used.
#include <algorithm>
#include <numeric>

#include "lamina/ops/matmul.h"
#include "lamina/ops/ops.h"
#include "lamina/core/profiler.h"

namespace lamina {

namespace {

constexpr int kLetters = 52;  // labels below this are letters; the rest are ellipsis dims
using Labels = std::vector<int>;

struct Term {
  Labels labels;       // letters, with -1 where the ellipsis stands
  bool ellipsis = false;
};

std::string label_str(int l) {
  if (l >= kLetters) return "...";
  return std::string(1, char(l < 26 ? 'A' + l : 'a' + (l - 26)));
}

Term parse_term(const std::string& eq, size_t begin, size_t end) {
  Term t;
  for (size_t i = begin; i < end; ++i) {
    char ch = eq[i];
    if (ch == ' ') continue;
    if (ch == '.') {
      LAMINA_CHECK(!t.ellipsis && i + 3 <= end && eq.compare(i, 3, "...") == 0,
                   "einsum: invalid ellipsis at index ", i, " in the equation '", eq,
                   "' (an ellipsis is '...' and may appear once per operand)");
      t.ellipsis = true;
      t.labels.push_back(-1);
      i += 2;
      continue;
    }
    LAMINA_CHECK((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'), "einsum: invalid subscript '",
                 std::string(1, ch), "' at index ", i, " in the equation '", eq, "' (subscripts must be in [a-zA-Z])");
    t.labels.push_back(ch >= 'a' ? 26 + (ch - 'a') : ch - 'A');
  }
  return t;
}

// Replaces the ellipsis by labels for its dims (right-aligned across operands).
Labels expand_term(const Term& t, int64_t ndim, int64_t max_ell, size_t index, const std::string& eq) {
  int64_t letters = int64_t(t.labels.size()) - (t.ellipsis ? 1 : 0);
  LAMINA_CHECK(t.ellipsis ? ndim >= letters : ndim == letters, "einsum: the equation '", eq, "' gives operand ",
               index, " ", letters, " subscripts", t.ellipsis ? " and an ellipsis" : "", ", but it has ", ndim,
               " dims");
  Labels out;
  for (int l : t.labels) {
    if (l >= 0) {
      out.push_back(l);
      continue;
    }
    int64_t ell = ndim - letters;
    for (int64_t j = 0; j < ell; ++j) out.push_back(int(kLetters + max_ell - ell + j));
  }
  return out;
}

bool contains(const Labels& ls, int l) { return std::find(ls.begin(), ls.end(), l) != ls.end(); }

int64_t position(const Labels& ls, int l) { return int64_t(std::find(ls.begin(), ls.end(), l) - ls.begin()); }

Tensor permute_if(const Tensor& x, const std::vector<int64_t>& perm) {
  for (size_t i = 0; i < perm.size(); ++i)
    if (perm[i] != int64_t(i)) return permute(x, perm);
  return x;
}

Tensor reshape_if(const Tensor& x, const Shape& shape) { return x.shape() == shape ? x : reshape(x, shape); }

// Takes diagonals until every label of the operand is distinct.
void take_diagonals(Tensor& x, Labels& ls, size_t index, const std::string& eq) {
  for (size_t i = 0; i < ls.size(); ++i) {
    for (size_t j = i + 1; j < ls.size(); ++j) {
      if (ls[j] != ls[i]) continue;
      LAMINA_CHECK(x.size(int64_t(i)) == x.size(int64_t(j)), "einsum: subscript '", label_str(ls[i]),
                   "' is repeated in operand ", index, " of the equation '", eq, "' for dims of different sizes ",
                   x.size(int64_t(i)), " and ", x.size(int64_t(j)));
      int l = ls[i];
      x = diagonal(x, 0, int64_t(i), int64_t(j));
      ls.erase(ls.begin() + int64_t(j));
      ls.erase(ls.begin() + int64_t(i));
      ls.push_back(l);
      i = size_t(-1);  // rescan: positions moved
      break;
    }
  }
}

// Sums the dims whose labels are not in `keep`.
void sum_unneeded(Tensor& x, Labels& ls, const Labels& keep) {
  Dims dims;
  Labels rest;
  for (size_t i = 0; i < ls.size(); ++i) {
    if (contains(keep, ls[i])) rest.push_back(ls[i]);
    else dims.push_back(int64_t(i));
  }
  if (dims.empty()) return;
  x = sum(x, dims, false);
  ls = rest;
}

int64_t product(const Tensor& x, const std::vector<int64_t>& dims) {
  int64_t p = 1;
  for (int64_t d : dims) p *= x.size(d);
  return p;
}

// Contracts a and b over their shared labels not in `keep`; returns the labels of the result
// (shared kept labels, then a's own, then b's own).
Labels contract(Tensor& a, const Labels& la, Tensor b, const Labels& lb, const Labels& keep) {
  std::vector<int64_t> batch_a, batch_b, left, right, contr_a, contr_b;
  Labels batch, lefts, rights;
  for (size_t i = 0; i < la.size(); ++i) {
    int l = la[i];
    if (!contains(lb, l)) {
      left.push_back(int64_t(i));
      lefts.push_back(l);
    } else if (contains(keep, l)) {
      batch_a.push_back(int64_t(i));
      batch_b.push_back(position(lb, l));
      batch.push_back(l);
    } else {
      int64_t j = position(lb, l);
      // A contracted label broadcast from size 1 on one side: sum the other side first.
      if (a.size(int64_t(i)) == 1 && b.size(j) != 1) b = sum(b, {j}, true);
      if (b.size(j) == 1 && a.size(int64_t(i)) != 1) a = sum(a, {int64_t(i)}, true);
      contr_a.push_back(int64_t(i));
      contr_b.push_back(j);
    }
  }
  for (size_t j = 0; j < lb.size(); ++j)
    if (!contains(la, lb[j])) {
      right.push_back(int64_t(j));
      rights.push_back(lb[j]);
    }
  Shape sa, sb, out_shape;
  for (int64_t d : batch_a) sa.push_back(a.size(d));
  for (int64_t d : batch_b) sb.push_back(b.size(d));
  Shape bshape = broadcast_shapes(sa, sb, "einsum");
  const int64_t M = product(a, left), K = product(a, contr_a), N = product(b, right);
  std::vector<int64_t> pa = batch_a, pb = batch_b;
  pa.insert(pa.end(), left.begin(), left.end());
  pa.insert(pa.end(), contr_a.begin(), contr_a.end());
  pb.insert(pb.end(), contr_b.begin(), contr_b.end());
  pb.insert(pb.end(), right.begin(), right.end());
  sa.insert(sa.end(), {M, K});
  sb.insert(sb.end(), {K, N});
  Tensor r = matmul(reshape_if(permute_if(a, pa), sa), reshape_if(permute_if(b, pb), sb));
  out_shape = bshape;
  for (int64_t d : left) out_shape.push_back(a.size(d));
  for (int64_t d : right) out_shape.push_back(b.size(d));
  a = reshape_if(r, out_shape);
  Labels out = batch;
  out.insert(out.end(), lefts.begin(), lefts.end());
  out.insert(out.end(), rights.begin(), rights.end());
  return out;
}

}  // namespace

Tensor einsum(const std::string& eq, const std::vector<Tensor>& operands) {
  LAMINA_PROFILE_OP("einsum", operands);
  LAMINA_CHECK(!operands.empty(), "einsum: must provide at least one operand");
  for (const Tensor& t : operands)
    LAMINA_CHECK(t.dtype() == operands[0].dtype(), "einsum: expected all operands to have the same dtype, but got ",
                 dtype_name(operands[0].dtype()), " and ", dtype_name(t.dtype()), " in the equation '", eq, "'");
  size_t arrow = eq.find("->");
  size_t lhs_end = arrow == std::string::npos ? eq.size() : arrow;
  std::vector<Term> terms;
  for (size_t begin = 0;;) {
    size_t comma = eq.find(',', begin);
    size_t end = comma == std::string::npos || comma > lhs_end ? lhs_end : comma;
    terms.push_back(parse_term(eq, begin, end));
    if (end == lhs_end) break;
    begin = end + 1;
  }
  LAMINA_CHECK(terms.size() == operands.size(), "einsum: the equation '", eq, "' names ", terms.size(),
               " operands, but ", operands.size(), " were given");
  int64_t max_ell = 0;
  for (size_t i = 0; i < terms.size(); ++i) {
    int64_t letters = int64_t(terms[i].labels.size()) - (terms[i].ellipsis ? 1 : 0);
    if (terms[i].ellipsis) max_ell = std::max(max_ell, operands[i].dim() - letters);
  }
  std::vector<Tensor> xs(operands);
  std::vector<Labels> ls;
  for (size_t i = 0; i < terms.size(); ++i) {
    ls.push_back(expand_term(terms[i], xs[i].dim(), max_ell, i, eq));
    take_diagonals(xs[i], ls[i], i, eq);
  }
  // Sizes of each label must agree across operands (1 broadcasts).
  std::vector<int64_t> size(size_t(kLetters + max_ell), -1);
  std::vector<int> count(size.size(), 0);
  for (size_t i = 0; i < ls.size(); ++i)
    for (size_t d = 0; d < ls[i].size(); ++d) {
      int l = ls[i][d];
      int64_t s = xs[i].size(int64_t(d));
      ++count[size_t(l)];
      LAMINA_CHECK(size[size_t(l)] == -1 || size[size_t(l)] == s || size[size_t(l)] == 1 || s == 1,
                   "einsum: subscript '", label_str(l), "' has size ", s, " for operand ", i,
                   " which does not broadcast with size ", size[size_t(l)], " in the equation '", eq, "'");
      if (size[size_t(l)] == -1 || size[size_t(l)] == 1) size[size_t(l)] = s;
    }
  for (size_t i = 0; i < terms.size(); ++i)  // repeated labels count once per repetition
    for (int l : terms[i].labels)
      if (l >= 0 && std::count(terms[i].labels.begin(), terms[i].labels.end(), l) > 1) count[size_t(l)] = 2;
  Labels out;
  if (arrow != std::string::npos) {
    Term t = parse_term(eq, arrow + 2, eq.size());
    for (int l : t.labels) {
      if (l < 0) {
        for (int64_t j = 0; j < max_ell; ++j) out.push_back(int(kLetters + j));
        continue;
      }
      LAMINA_CHECK(count[size_t(l)] > 0, "einsum: output subscript '", label_str(l),
                   "' does not appear in the inputs of the equation '", eq, "'");
      LAMINA_CHECK(!contains(out, l), "einsum: output subscript '", label_str(l), "' appears more than once in "
                   "the equation '", eq, "'");
      out.push_back(l);
    }
  } else {
    for (int64_t j = 0; j < max_ell; ++j) out.push_back(int(kLetters + j));
    for (int l = 0; l < kLetters; ++l)
      if (count[size_t(l)] == 1) out.push_back(l);
  }
  // Contract left to right, summing each label as soon as nothing later needs it.
  auto needed_after = [&](size_t i) {
    Labels keep = out;
    for (size_t j = i + 1; j < ls.size(); ++j) keep.insert(keep.end(), ls[j].begin(), ls[j].end());
    return keep;
  };
  Tensor cur = xs[0];
  Labels cur_l = ls[0];
  sum_unneeded(cur, cur_l, needed_after(0));
  for (size_t i = 1; i < xs.size(); ++i) {
    Labels keep = needed_after(i);
    Labels keep_b = keep, keep_a = keep;
    keep_b.insert(keep_b.end(), cur_l.begin(), cur_l.end());
    keep_a.insert(keep_a.end(), ls[i].begin(), ls[i].end());
    sum_unneeded(xs[i], ls[i], keep_b);
    sum_unneeded(cur, cur_l, keep_a);
    cur_l = contract(cur, cur_l, xs[i], ls[i], keep);
  }
  std::vector<int64_t> perm;
  for (int l : out) perm.push_back(position(cur_l, l));
  return permute_if(cur, perm);
}

}  // namespace lamina
