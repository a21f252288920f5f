// cross_entropy and nll_loss. Class-index cross entropy runs one fused kernel (logsumexp, weighted
// NLL and label smoothing per sample) and CrossEntropyBackward one fused gradient pass; the
// reduction on top is ordinary lamina ops. Probability targets and nll_loss are composites of
// lamina ops (log_softmax is itself fused), so their gradients come from those ops.
#include <cmath>
#include <limits>

#include "lamina/ops/elementwise.h"
#include "lamina/ops/nn.h"
#include "lamina/ops/nn_common.h"
#include "lamina/core/profiler.h"

namespace lamina {

using autograd::Node;
using autograd::SavedTensor;

namespace {

enum class Reduction { None, Mean, Sum };

Reduction parse_reduction(const std::string& r) {
  if (r == "none") return Reduction::None;
  if (r == "mean") return Reduction::Mean;
  if (r == "sum") return Reduction::Sum;
  throw ValueError(detail::cat(r, " is not a valid value for reduction"));
}

// The input as (N, C, S) and the target as (N, S), after the shape checks shared by both losses.
struct LossLayout {
  nn_detail::Dim3 d;     // N, C, S
  Shape target_shape;    // the shape of an unreduced loss
  bool unbatched = false;
};

LossLayout check_layout(const Tensor& input, const Tensor& target, const Tensor& weight, const char* name) {
  LAMINA_CHECK(input.dim() >= 1, name, ": input must have at least 1 dim (C,), got ", str(input.shape()));
  if (!input.is_floating_point()) elementwise::fail_dtype(name, input.dtype());
  elementwise::check_same_device(input, target, name);
  LossLayout l;
  l.unbatched = input.dim() == 1;
  l.d = l.unbatched ? nn_detail::Dim3{1, input.shape()[0], 1} : nn_detail::split_at(input.shape(), 1);
  if (weight.defined()) {
    elementwise::check_same_device(input, weight, name);
    LAMINA_CHECK(weight.dim() == 1 && weight.numel() == l.d.n, name, ": weight ", str(weight.shape()),
                 " does not match the number of classes ", l.d.n);
  }
  return l;
}

void check_index_target(const Tensor& input, const Tensor& target, LossLayout& l, const char* name) {
  LAMINA_CHECK(target.dtype() == DType::Int64, name, ": expected an int64 class-index target, got ",
               dtype_name(target.dtype()));
  Shape expected = input.shape();
  expected.erase(expected.begin() + (l.unbatched ? 0 : 1));
  LAMINA_CHECK(target.shape() == expected, name, ": target ", str(target.shape()), " does not match input ",
               str(input.shape()));
  l.target_shape = expected;
}

// Every target is in [0, C) or ignore_index (IndexError otherwise, as PyTorch).
void check_target_range(const Tensor& t, int64_t C, int64_t ignore_index, const char* name) {
  const int64_t* p = t.data<int64_t>();
  for (int64_t i = 0; i < t.numel(); ++i)
    LAMINA_CHECK_INDEX(p[i] == ignore_index || (p[i] >= 0 && p[i] < C), name, ": target ", p[i],
                       " is out of bounds for ", C, " classes");
}

// sum over non-ignored samples of weight[target] (the divisor of reduction='mean').
double weight_total(const Tensor& t, const Tensor& weight, int64_t ignore_index) {
  const int64_t* p = t.data<int64_t>();
  Tensor w = weight.defined() ? nn_detail::dense(weight, DType::Float64) : Tensor();
  double total = 0;
  for (int64_t i = 0; i < t.numel(); ++i)
    if (p[i] != ignore_index) total += w.defined() ? w.data<double>()[p[i]] : 1.0;
  return total;
}

Tensor reduce_loss(const Tensor& loss, Reduction r, double divisor) {
  if (r == Reduction::None) return loss;
  Tensor s = sum(loss);
  if (r == Reduction::Sum) return s;
  // No weight to divide by (every target ignored or of weight 0): PyTorch's weighted NLL is then
  // 0 / 0, so the loss is NaN even where label smoothing adds a non-zero term (s / 0 would be inf).
  return divisor == 0 ? s * std::nan("") : s / divisor;
}

// (1, C, 1, ...) view of a (C,) weight for the composites.
Tensor class_view(const Tensor& w, int64_t ndim, int64_t class_dim) {
  Shape s(size_t(ndim), 1);
  s[size_t(class_dim)] = w.numel();
  return reshape(w, s);
}

struct CrossEntropyBackward : Node {
  SavedTensor self_;
  Tensor lse_, target_, weight_;  // (N, S), (N, S) int64, (C,) or undefined; in the input dtype
  nn_detail::Dim3 d;
  int64_t ignore_index = -100;
  double label_smoothing = 0;
  std::string name() const override { return "CrossEntropyLossBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    Tensor x = unpack(self_);
    DType dt = x.dtype();
    if (autograd::GradMode::is_enabled()) return {composite(x, reshape(grads[0], {d.outer, 1, d.inner}))};
    Tensor gi = make_tensor(x.shape(), dt, x.device());
    LAMINA_KERNEL(x.device(), cross_entropy_backward, "cross_entropy")
    (nn_detail::as3(gi, d), nn_detail::dense(reshape(grads[0], {d.outer, d.inner}), dt),
     nn_detail::as3(nn_detail::dense(x, dt), d), lse_, target_, weight_, ignore_index, label_smoothing);
    return {gi};
  }
  // The kernel's formula with lamina ops: g (p coef - ls/C w - (1 - ls) w_t onehot(t)).
  Tensor composite(const Tensor& x, const Tensor& g) {
    const double ls = label_smoothing, C = double(d.n);
    Tensor x3 = reshape(x, {d.outer, d.n, d.inner});
    Tensor t = reshape(target_, {d.outer, 1, d.inner});
    Tensor valid = ne(t, wrapped_scalar(ignore_index));
    Tensor safe = where(valid, t, wrapped_scalar(int64_t(0)));
    Tensor w = weight_.defined() ? reshape(weight_, {1, d.n, 1}) : ones({1, d.n, 1}, {x.dtype(), x.device()});
    Tensor wt = gather(expand(w, {d.outer, d.n, d.inner}), 1, safe);
    Tensor classes = reshape(arange(Scalar(int64_t(0)), Scalar(d.n), Scalar(int64_t(1)), DType::Int64, x.device()),
                             {1, d.n, 1});
    Tensor onehot = eq(classes, safe);
    Tensor grad;
    if (ls == 0) {  // no smoothing terms: 0 * an infinite weight would be NaN
      grad = g * (softmax(x3, 1) * wt - onehot * wt);
    } else {
      Tensor coef = wt * (1 - ls) + sum(w) * (ls / C);
      grad = g * (softmax(x3, 1) * coef - w * (ls / C) - onehot * wt * (1 - ls));
    }
    // Ignored samples get exactly 0 (a select, as the kernel), whatever g, x or the weights are.
    return reshape(where(valid, grad, wrapped_scalar(0.0)), x.shape());
  }
};

Tensor cross_entropy_probs(const Tensor& input, const Tensor& target, const Tensor& weight, Reduction r,
                           double ls, const LossLayout& l) {
  LAMINA_CHECK(target.shape() == input.shape(), "cross_entropy: probability target ", str(target.shape()),
               " does not match input ", str(input.shape()));
  const int64_t class_dim = l.unbatched ? 0 : 1;
  Tensor q = ls > 0 ? target * (1 - ls) + ls / double(l.d.n) : target;
  Tensor wlogp = log_softmax(input, class_dim);
  if (weight.defined()) wlogp = wlogp * class_view(weight, input.dim(), class_dim);
  Tensor loss = -sum(wlogp * q, {class_dim});
  // PyTorch's mean divides by numel / C: 0 / 0 = NaN when there are no classes.
  const double count = l.d.n == 0 ? std::numeric_limits<double>::quiet_NaN() : double(l.d.outer * l.d.inner);
  return reduce_loss(loss, r, count);
}

}  // namespace

Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                     const std::string& reduction, double label_smoothing) {
  LAMINA_PROFILE_OP("cross_entropy", input, target, weight);
  const char* name = "cross_entropy";
  Reduction r = parse_reduction(reduction);
  LossLayout l = check_layout(input, target, weight, name);
  LAMINA_CHECK(label_smoothing >= 0 && label_smoothing <= 1, name,
               ": label_smoothing must be between 0.0 and 1.0, got ", label_smoothing);
  if (target.is_floating_point()) return cross_entropy_probs(input, target, weight, r, label_smoothing, l);
  check_index_target(input, target, l, name);
  DType dt = input.dtype();
  Tensor tgt = nn_detail::dense(target, DType::Int64);
  check_target_range(tgt, l.d.n, ignore_index, name);
  const int64_t N = l.d.outer, S = l.d.inner;
  Tensor w = weight.defined() ? nn_detail::dense(weight, dt) : Tensor();
  Tensor loss = make_tensor(l.target_shape, dt, input.device());
  Tensor lse = make_tensor({N, S}, dt, input.device());
  Tensor t2 = nn_detail::as2(tgt, N, S);
  LAMINA_KERNEL(input.device(), cross_entropy, name)
  (nn_detail::as2(loss, N, S), lse, nn_detail::as3(nn_detail::dense(input, dt), l.d), t2, w, ignore_index,
   label_smoothing);
  if (auto node = autograd::make_node<CrossEntropyBackward>(input)) {
    node->lse_ = lse;
    node->target_ = t2;
    node->weight_ = w;
    node->d = l.d;
    node->ignore_index = ignore_index;
    node->label_smoothing = label_smoothing;
    node->save(node->self_, input);
    autograd::set_history(loss, node);
  }
  return reduce_loss(loss, r, r == Reduction::Mean ? weight_total(tgt, weight, ignore_index) : 1.0);
}

Tensor nll_loss(const Tensor& input, const Tensor& target, const Tensor& weight, int64_t ignore_index,
                const std::string& reduction) {
  LAMINA_PROFILE_OP("nll_loss", input, target, weight);
  const char* name = "nll_loss";
  Reduction r = parse_reduction(reduction);
  LossLayout l = check_layout(input, target, weight, name);
  check_index_target(input, target, l, name);
  Tensor tgt = nn_detail::dense(target, DType::Int64);
  check_target_range(tgt, l.d.n, ignore_index, name);
  const int64_t N = l.d.outer, C = l.d.n, S = l.d.inner;
  Tensor t = reshape(tgt, {N, 1, S});
  Tensor valid = ne(t, wrapped_scalar(ignore_index));
  Tensor safe = where(valid, t, wrapped_scalar(int64_t(0)));
  // With no classes every target is ignored (checked above) and there is nothing to gather: the
  // sum over no classes is the 0 to pick, and keeps the loss in the input's graph.
  Tensor input3 = reshape(input, {N, C, S});
  Tensor picked = C == 0 ? sum(input3, {1}, true) : gather(input3, 1, safe);
  // A select, not a product with the mask: an ignored sample contributes exactly 0 to the loss and
  // gets exactly 0 gradient even when its input is infinite or the mean divides by 0 (as PyTorch).
  Tensor loss = where(valid, -picked, wrapped_scalar(0.0, input.device()));
  if (weight.defined() && C > 0) loss = loss * reshape(index_select(weight, 0, reshape(safe, {-1})), {N, 1, S});
  loss = reshape(loss, l.target_shape);
  return reduce_loss(loss, r, r == Reduction::Mean ? weight_total(tgt, weight, ignore_index) : 1.0);
}

// ---- binary cross entropy, unreduced: -(t log(x) + (1 - t) log(1 - x)), logs clamped at -100 ----

namespace {

// PyTorch's fused gradients. Through the composite, the clamped log's zero slope met log's 1 / x at
// x = 0 or 1 (a sigmoid saturated in float32) and gave 0 / 0 = NaN; here the input's gradient is
// (x - t) / max(x (1 - x), 1e-12) and the target's log(1 - x) - log(x).
Tensor bce_denominator(const Tensor& x) { return clamp(x * (1 - x), Scalar(1e-12), std::nullopt); }

// The input gradient g (x - t) / max(x (1 - x), 1e-12) as its own differentiable op, with PyTorch's
// explicit second derivatives (binary_cross_entropy_double_backward): for x,
// gg g (x^2 - 2xt + t) / ((x + eps)^2 (1 - x + eps)^2); for t, -gg g / max(x (1 - x), eps); for g,
// the first derivative again. Differentiating the first derivative instead parts from them where
// x (1 - x) < 1e-12 (a saturated sigmoid) and by ~1% elsewhere.
struct BinaryCrossEntropyBackwardBackward : Node {
  SavedTensor g_, x_, t_;
  std::string name() const override { return "BinaryCrossEntropyBackwardBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    Tensor gg = grads[0], g = unpack(g_), x = unpack(x_), t = unpack(t_), dg, dx, dt;
    const double eps = 1e-12;
    if (needs_input_grad(0)) dg = gg * (x - t) / bce_denominator(x);
    if (needs_input_grad(1))
      dx = (x * x - x * t * 2 + t) / (square(x + eps) * square(1 - x + eps)) * (gg * g);
    if (needs_input_grad(2)) dt = -(gg * g) / bce_denominator(x);
    return {dg, dx, dt};
  }
};

Tensor bce_input_grad(const Tensor& g, const Tensor& x, const Tensor& t) {
  Tensor gx;
  {
    autograd::GradModeGuard no_grad(false);
    gx = g * (x - t) / bce_denominator(x);
  }
  if (auto node = autograd::make_node<BinaryCrossEntropyBackwardBackward>(g, x, t)) {
    node->save(node->g_, g);
    node->save(node->x_, x);
    node->save(node->t_, t);
    autograd::set_history(gx, node);
  }
  return gx;
}

struct BinaryCrossEntropyBackward : Node {
  SavedTensor x_, t_;
  std::string name() const override { return "BinaryCrossEntropyBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    Tensor x = unpack(x_), t = unpack(t_), g = grads[0], gx, gt;
    if (needs_input_grad(0)) gx = bce_input_grad(g, x, t);
    if (needs_input_grad(1)) gt = g * (log1p(neg(x)) - log(x));  // unclamped, as PyTorch's
    return {gx, gt};
  }
};

}  // namespace

Tensor binary_cross_entropy(const Tensor& input, const Tensor& target) {
  LAMINA_PROFILE_OP("binary_cross_entropy", input, target);
  LAMINA_CHECK(input.is_floating_point() && target.dtype() == input.dtype(), "binary_cross_entropy: expected input "
               "and target of one floating point dtype, got ", dtype_name(input.dtype()), " and ",
               dtype_name(target.dtype()));
  LAMINA_CHECK_VALUE(target.shape() == input.shape(), "binary_cross_entropy: target ", str(target.shape()),
                     " does not match input ", str(input.shape()));
  Tensor loss;
  {
    autograd::GradModeGuard no_grad(false);
    Tensor log_x = clamp(log(input), Scalar(-100.0), std::nullopt);
    Tensor log_1mx = clamp(log1p(neg(input)), Scalar(-100.0), std::nullopt);  // exact for tiny x, as PyTorch
    loss = -(target * log_x + (1 - target) * log_1mx);
  }
  if (auto node = autograd::make_node<BinaryCrossEntropyBackward>(input, target)) {
    autograd::set_history(loss, node);
    node->save(node->x_, input);
    node->save(node->t_, target);
  }
  return loss;
}

}  // namespace lamina
