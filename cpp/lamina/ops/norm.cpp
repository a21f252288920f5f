// layer_norm, batch_norm and group_norm. Each checks its arguments, runs the fused kernels on a
// contiguous copy of the input, and records one backward node: the fused kernels compute the
// gradient, or, under create_graph, the same formulas written with lamina ops (statistics
// recomputed from the input so that they are differentiated too).
#include <cmath>
#include <numeric>

#include "lamina/ops/elementwise.h"
#include "lamina/ops/nn.h"
#include "lamina/ops/nn_common.h"
#include "lamina/core/profiler.h"

namespace lamina {

using autograd::Node;
using autograd::SavedTensor;

namespace {

void check_float(const Tensor& x, const char* name) {
  if (!x.is_floating_point()) elementwise::fail_dtype(name, x.dtype());
}

// Optional per-feature tensor of exactly `shape`.
void check_param(const Tensor& p, const Shape& shape, const char* name, const char* what, const Tensor& x) {
  if (!p.defined()) return;
  elementwise::check_same_device(x, p, name);
  LAMINA_CHECK(p.shape() == shape, name, ": ", what, " ", str(p.shape()), " does not match the expected shape ",
               str(shape));
}

// (C,) parameter or undefined, as a (1, C, 1, ...) broadcastable view for composites.
Tensor per_channel(const Tensor& p, int64_t ndim) {
  if (!p.defined()) return p;
  Shape s(size_t(ndim), 1);
  s[1] = p.numel();
  return reshape(p, s);
}

// (x - mean) * rstd over `dims` with lamina ops (the differentiable form of the statistics).
Tensor normalized(const Tensor& x, const Dims& dims, double eps) {
  Tensor xm = x - mean(x, dims, true);
  return xm * rsqrt(mean(square(xm), dims, true) + eps);
}

// dx of y = xhat with wg = g * weight, normalization over `dims`: rstd (wg - E wg - xhat E wg xhat).
Tensor normalized_grad(const Tensor& wg, const Tensor& x, const Dims& dims, double eps) {
  Tensor xm = x - mean(x, dims, true);
  Tensor rstd = rsqrt(mean(square(xm), dims, true) + eps);
  Tensor xhat = xm * rstd;
  return rstd * (wg - mean(wg, dims, true) - xhat * mean(wg * xhat, dims, true));
}

std::vector<int64_t> all_but(int64_t ndim, int64_t keep) {
  std::vector<int64_t> d;
  for (int64_t i = 0; i < ndim; ++i)
    if (i != keep) d.push_back(i);
  return d;
}

// ---------------------------------------------------------------------------------------------
// What the backward of layer_norm and group_norm keeps: the input, the weight and the per-row
// statistics of the forward (never exposed).
struct RowNormBackward : Node {
  SavedTensor self_, weight_;
  Tensor mean_, rstd_;
  double eps = 1e-5;
};

// Fills the node from the forward's input, weight and statistics and makes it out's grad_fn.
template <class N>
void record_row_norm(const std::shared_ptr<N>& node, const Tensor& out, const Tensor& x, const Tensor& weight,
                     const Tensor& mean, const Tensor& rstd, double eps) {
  node->mean_ = mean;
  node->rstd_ = rstd;
  node->eps = eps;
  node->save(node->self_, x);
  if (weight.defined()) node->save(node->weight_, weight);
  autograd::set_history(out, node);
}

struct LayerNormBackward : RowNormBackward {
  Shape normalized_shape;
  std::string name() const override { return "NativeLayerNormBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    Tensor x = unpack(self_), w = weight_.defined() ? unpack(weight_) : Tensor(), g = grads[0];
    const int64_t k = int64_t(normalized_shape.size());
    Dims dims;
    for (int64_t i = x.dim() - k; i < x.dim(); ++i) dims.push_back(i);
    if (autograd::GradMode::is_enabled()) {
      Tensor dx = needs_input_grad(0) ? normalized_grad(w.defined() ? g * w : g, x, dims, eps) : Tensor();
      Tensor dw, db;
      if (needs_input_grad(1)) dw = sum_to(g * normalized(x, dims, eps), normalized_shape);
      if (needs_input_grad(2)) db = sum_to(g, normalized_shape);
      return {dx, dw, db};
    }
    const int64_t K = numel(normalized_shape), M = K == 0 ? 0 : x.numel() / K;
    DType dt = x.dtype();
    Tensor dx = needs_input_grad(0) ? make_tensor(x.shape(), dt, x.device()) : Tensor();
    Tensor dw = needs_input_grad(1) ? make_tensor(normalized_shape, dt, x.device()) : Tensor();
    Tensor db = needs_input_grad(2) ? make_tensor(normalized_shape, dt, x.device()) : Tensor();
    LAMINA_KERNEL(x.device(), layer_norm_backward, "layer_norm")
    (dx.defined() ? nn_detail::as2(dx, M, K) : dx, dw, db, nn_detail::as2(nn_detail::dense(g, dt), M, K),
     nn_detail::as2(nn_detail::dense(x, dt), M, K), mean_, rstd_, w.defined() ? nn_detail::dense(w, dt) : w);
    return {dx, dw, db};
  }
};

}  // namespace

Tensor layer_norm(const Tensor& x, const std::vector<int64_t>& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps) {
  LAMINA_PROFILE_OP("layer_norm", x, weight, bias);
  const char* name = "layer_norm";
  check_float(x, name);
  const int64_t k = int64_t(normalized_shape.size());
  LAMINA_CHECK(k >= 1, name, ": expected normalized_shape to be at least 1-dimensional, got ", str(normalized_shape));
  bool match = x.dim() >= k;
  for (int64_t i = 0; match && i < k; ++i) match = x.shape()[size_t(x.dim() - k + i)] == normalized_shape[size_t(i)];
  LAMINA_CHECK(match, name, ": normalized_shape ", str(normalized_shape),
               " does not match the trailing dims of input ", str(x.shape()));
  check_param(weight, normalized_shape, name, "weight", x);
  check_param(bias, normalized_shape, name, "bias", x);
  const int64_t K = numel(normalized_shape), M = K == 0 ? 0 : x.numel() / K;
  DType dt = x.dtype();
  Tensor out = make_tensor(x.shape(), dt, x.device());
  Tensor mu = make_tensor({M}, dt, x.device()), rstd = make_tensor({M}, dt, x.device());
  {
    autograd::GradModeGuard no_grad(false);
    LAMINA_KERNEL(x.device(), layer_norm, name)
    (nn_detail::as2(out, M, K), mu, rstd, nn_detail::as2(nn_detail::dense(x, dt), M, K),
     weight.defined() ? nn_detail::dense(weight, dt) : weight, bias.defined() ? nn_detail::dense(bias, dt) : bias,
     eps);
  }
  if (auto node = autograd::make_node<LayerNormBackward>(x, weight, bias)) {
    node->normalized_shape = normalized_shape;
    record_row_norm(node, out, x, weight, mu, rstd, eps);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
namespace {

// (N, C, S) sizes of an (N, C, *) tensor.
nn_detail::Dim3 ncs(const Tensor& x) { return nn_detail::split_at(x.shape(), 1); }

struct BatchNormBackward : Node {
  SavedTensor self_, weight_;
  Tensor mean_, invstd_;  // (C,) in x's dtype: batch statistics (training) or running ones (eval)
  bool training = true;
  double eps = 1e-5;
  std::string name() const override { return "NativeBatchNormBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    Tensor x = unpack(self_), w = weight_.defined() ? unpack(weight_) : Tensor(), g = grads[0];
    const Dims dims = all_but(x.dim(), 1);
    if (autograd::GradMode::is_enabled()) return composite(x, w, g, dims);
    DType dt = x.dtype();
    nn_detail::Dim3 d = ncs(x);
    const double M = double(d.outer * d.inner);
    Tensor xc = nn_detail::dense(x, dt), gc = nn_detail::dense(g, dt);
    Tensor sum_g = make_tensor({d.n}, dt, x.device()), sum_gx = make_tensor({d.n}, dt, x.device());
    LAMINA_KERNEL(x.device(), channel_grad_sums, "batch_norm")
    (sum_g, sum_gx, nn_detail::as3(gc, d), nn_detail::as3(xc, d), mean_);
    Tensor dx, dw, db;
    if (needs_input_grad(0)) {
      autograd::GradModeGuard no_grad(false);
      Tensor k = w.defined() ? nn_detail::dense(w, dt) * invstd_ : invstd_;
      dx = make_tensor(x.shape(), dt, x.device());
      if (training) {
        // dx = k (g - sum_g / M - (x - mean) invstd^2 sum_gx / M), as (x - mean) * b + g * k + shift.
        Tensor b = -(k * square(invstd_) * sum_gx / M);
        Tensor shift = -(k * sum_g / M);
        LAMINA_KERNEL(x.device(), channel_affine, "batch_norm")
        (nn_detail::as3(dx, d), nn_detail::as3(xc, d), b, mean_, nn_detail::as3(gc, d), k, shift);
      } else {
        LAMINA_KERNEL(x.device(), channel_affine, "batch_norm")
        (nn_detail::as3(dx, d), nn_detail::as3(gc, d), k, Tensor(), Tensor(), Tensor(), zeros_like(k));
      }
    }
    if (needs_input_grad(1)) dw = sum_gx * invstd_;
    if (needs_input_grad(2)) db = sum_g;
    return {dx, dw, db};
  }
  std::vector<Tensor> composite(const Tensor& x, const Tensor& w, const Tensor& g, const Dims& dims) {
    Tensor wb = per_channel(w, x.dim());
    Tensor wg = w.defined() ? g * wb : g;
    Tensor dx, dw, db;
    if (training) {
      if (needs_input_grad(0)) dx = normalized_grad(wg, x, dims, eps);
      if (needs_input_grad(1)) dw = sum(g * normalized(x, dims, eps), dims);
    } else {
      Tensor m = per_channel(mean_, x.dim()), is = per_channel(invstd_, x.dim());
      if (needs_input_grad(0)) dx = wg * is;
      if (needs_input_grad(1)) dw = sum(g * (x - m) * is, dims);
    }
    if (needs_input_grad(2)) db = sum(g, dims);
    return {dx, dw, db};
  }
};

}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight_in,
                  const Tensor& bias_in, bool training, double momentum, double eps) {
  LAMINA_PROFILE_OP("batch_norm", x, running_mean, running_var, weight_in, bias_in);
  const char* name = "batch_norm";
  check_float(x, name);
  LAMINA_CHECK_VALUE(x.dim() >= 2, name, ": expected a 2-d or higher input (N, C, *), got ", str(x.shape()));
  nn_detail::Dim3 d = ncs(x);
  const int64_t C = d.n;
  for (auto [t, what] : {std::pair{running_mean, "running_mean"}, std::pair{running_var, "running_var"}}) {
    if (!t.defined()) continue;
    elementwise::check_same_device(x, t, name);
    LAMINA_CHECK(t.numel() == C, name, ": ", what, " should contain ", C, " elements not ", t.numel());
  }
  // As PyTorch, the affine parameters need C elements in any shape ((C,), (1, C), (C, 1), ...).
  for (auto [t, what] : {std::pair{weight_in, "weight"}, std::pair{bias_in, "bias"}}) {
    if (!t.defined()) continue;
    elementwise::check_same_device(x, t, name);
    LAMINA_CHECK(t.numel() == C, name, ": ", what, " should contain ", C, " elements not ", t.numel());
  }
  const Tensor weight = weight_in.defined() ? reshape(weight_in, {C}) : weight_in;  // differentiable views
  const Tensor bias = bias_in.defined() ? reshape(bias_in, {C}) : bias_in;
  LAMINA_CHECK(training || (running_mean.defined() && running_var.defined()), name,
               ": running_mean and running_var must be defined in evaluation mode");
  const int64_t count = d.outer * d.inner;
  // PyTorch refuses exactly one value per channel; an empty batch passes (and leaves the running stats).
  LAMINA_CHECK_VALUE(!training || count != 1, name, ": expected more than 1 value per channel when training, got input ",
                     str(x.shape()));
  DType dt = x.dtype();
  Tensor out = make_tensor(x.shape(), dt, x.device());
  Tensor mu, invstd;
  {
    autograd::GradModeGuard no_grad(false);
    Tensor xc = nn_detail::dense(x, dt);
    Tensor var;
    if (training) {
      mu = make_tensor({C}, dt, x.device());
      var = make_tensor({C}, dt, x.device());
      if (x.numel() > 0) LAMINA_KERNEL(x.device(), channel_stats, name)(mu, var, nn_detail::as3(xc, d));
      // Running statistics take the unbiased variance, as in PyTorch.
      if (running_mean.defined() && x.numel() > 0) {
        copy_into(running_mean, to(running_mean, dt) * (1 - momentum) + mu * momentum);
        running_mean.bump_version();
      }
      if (running_var.defined() && x.numel() > 0) {
        double unbias = double(count) / double(count - 1);
        copy_into(running_var, to(running_var, dt) * (1 - momentum) + var * (momentum * unbias));
        running_var.bump_version();
      }
    } else {
      mu = nn_detail::dense(reshape(running_mean, {C}), dt);
      var = nn_detail::dense(reshape(running_var, {C}), dt);
    }
    invstd = rsqrt(var + eps);
    Tensor scale = weight.defined() ? nn_detail::dense(weight, dt) * invstd : invstd;
    Tensor shift = bias.defined() ? nn_detail::dense(bias, dt) : zeros_like(mu);
    LAMINA_KERNEL(x.device(), channel_affine, name)  // (x - mean) * scale + bias
    (nn_detail::as3(out, d), nn_detail::as3(xc, d), scale, mu, Tensor(), Tensor(), shift);
  }
  if (auto node = autograd::make_node<BatchNormBackward>(x, weight, bias)) {
    node->mean_ = mu;
    node->invstd_ = invstd;
    node->training = training;
    node->eps = eps;
    node->save(node->self_, x);
    if (weight.defined()) node->save(node->weight_, weight);
    autograd::set_history(out, node);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
namespace {

struct GroupNormBackward : RowNormBackward {
  Tensor xhat_;  // (N, C, S), only with an affine map; the statistics are (N * G,)
  int64_t groups = 1;
  std::string name() const override { return "NativeGroupNormBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    Tensor x = unpack(self_), w = weight_.defined() ? unpack(weight_) : Tensor(), g = grads[0];
    const int64_t N = x.shape()[0], C = x.shape()[1];
    if (autograd::GradMode::is_enabled()) {
      Shape grouped{N, groups, -1};
      Tensor wg = w.defined() ? g * per_channel(w, x.dim()) : g;
      Tensor dx, dw, db;
      if (needs_input_grad(0)) dx = reshape(normalized_grad(reshape(wg, grouped), reshape(x, grouped), {2}, eps), x.shape());
      Dims dims = all_but(x.dim(), 1);
      if (needs_input_grad(1)) dw = sum(g * reshape(normalized(reshape(x, grouped), {2}, eps), x.shape()), dims);
      if (needs_input_grad(2)) db = sum(g, dims);
      return {dx, dw, db};
    }
    DType dt = x.dtype();
    nn_detail::Dim3 d = ncs(x);
    const int64_t rows = N * groups, K = rows == 0 ? 0 : x.numel() / rows;
    Tensor gc = nn_detail::dense(g, dt), dx, dw, db;
    if (needs_input_grad(0)) {
      Tensor wg = gc;
      if (w.defined()) {
        wg = make_tensor(x.shape(), dt, x.device());
        LAMINA_KERNEL(x.device(), channel_affine, "group_norm")
        (nn_detail::as3(wg, d), nn_detail::as3(gc, d), nn_detail::dense(w, dt), Tensor(), Tensor(), Tensor(),
         zeros({C}, {dt, x.device()}));
      }
      dx = make_tensor(x.shape(), dt, x.device());
      LAMINA_KERNEL(x.device(), layer_norm_backward, "group_norm")
      (nn_detail::as2(dx, rows, K), Tensor(), Tensor(), nn_detail::as2(wg, rows, K),
       nn_detail::as2(nn_detail::dense(x, dt), rows, K), mean_, rstd_, Tensor());
    }
    if (needs_input_grad(1) || needs_input_grad(2)) {
      Tensor sum_g = make_tensor({C}, dt, x.device()), sum_gx = make_tensor({C}, dt, x.device());
      LAMINA_KERNEL(x.device(), channel_grad_sums, "group_norm")
      (sum_g, sum_gx, nn_detail::as3(gc, d), nn_detail::as3(xhat_, d), zeros({C}, {dt, x.device()}));
      if (needs_input_grad(1)) dw = sum_gx;
      if (needs_input_grad(2)) db = sum_g;
    }
    return {dx, dw, db};
  }
};

}  // namespace

Tensor group_norm(const Tensor& x, int64_t num_groups, const Tensor& weight, const Tensor& bias, double eps) {
  LAMINA_PROFILE_OP("group_norm", x, weight, bias);
  const char* name = "group_norm";
  check_float(x, name);
  LAMINA_CHECK(x.dim() >= 2, name, ": expected a 2-d or higher input (N, C, *), got ", str(x.shape()));
  const int64_t N = x.shape()[0], C = x.shape()[1];
  LAMINA_CHECK(num_groups > 0 && C % num_groups == 0, name, ": expected the number of channels of input ",
               str(x.shape()), " to be divisible by num_groups=", num_groups);
  // PyTorch's check (in training and eval alike): each group needs more than one value.
  Shape grouped{N * (C / num_groups), num_groups};
  grouped.insert(grouped.end(), x.shape().begin() + 2, x.shape().end());
  LAMINA_CHECK_VALUE(numel(grouped) / num_groups != 1, name,
                     ": expected more than 1 value per channel when training, got input size ", str(grouped));
  check_param(weight, {C}, name, "weight", x);
  check_param(bias, {C}, name, "bias", x);
  DType dt = x.dtype();
  nn_detail::Dim3 d = ncs(x);
  const int64_t rows = N * num_groups, K = rows == 0 ? 0 : x.numel() / rows;
  const bool affine = weight.defined() || bias.defined();
  Tensor xhat = make_tensor(x.shape(), dt, x.device());
  Tensor mu = make_tensor({rows}, dt, x.device()), rstd = make_tensor({rows}, dt, x.device());
  Tensor out = xhat;
  {
    autograd::GradModeGuard no_grad(false);
    LAMINA_KERNEL(x.device(), layer_norm, name)
    (nn_detail::as2(xhat, rows, K), mu, rstd, nn_detail::as2(nn_detail::dense(x, dt), rows, K), Tensor(), Tensor(),
     eps);
    if (affine) {
      out = make_tensor(x.shape(), dt, x.device());
      Tensor scale = weight.defined() ? nn_detail::dense(weight, dt) : ones({C}, {dt, x.device()});
      Tensor shift = bias.defined() ? nn_detail::dense(bias, dt) : zeros({C}, {dt, x.device()});
      LAMINA_KERNEL(x.device(), channel_affine, name)
      (nn_detail::as3(out, d), nn_detail::as3(xhat, d), scale, Tensor(), Tensor(), Tensor(), shift);
    }
  }
  if (auto node = autograd::make_node<GroupNormBackward>(x, weight, bias)) {
    if (affine) node->xhat_ = xhat;
    node->groups = num_groups;
    record_row_norm(node, out, x, weight, mu, rstd, eps);
  }
  return out;
}

}  // namespace lamina
