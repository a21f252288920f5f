// softmax and log_softmax along any dim. The input (cast to `dtype` first) is made contiguous and
// viewed as (outer, n, inner); one fused kernel computes the result with max subtraction, and
// SoftmaxBackward computes y (g - sum g y) (log: g - exp(y) sum g) in one pass. Under create_graph
// the backward uses the same formula written with lamina ops, so it is differentiable again.
#include "lamina/ops/elementwise.h"
#include "lamina/ops/nn.h"
#include "lamina/ops/nn_common.h"
#include "lamina/core/profiler.h"

namespace lamina {

using autograd::Node;
using autograd::SavedTensor;

namespace {

struct SoftmaxBackward : Node {
  SavedTensor result_;
  int64_t dim = 0;
  bool log = false;
  std::string name() const override { return log ? "LogSoftmaxBackward0" : "SoftmaxBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    Tensor y = unpack(result_), g = grads[0];
    if (autograd::GradMode::is_enabled()) {  // create_graph: differentiable formula
      if (log) return {g - exp(y) * sum(g, {dim}, true)};
      return {y * (g - sum(g * y, {dim}, true))};
    }
    nn_detail::Dim3 d = nn_detail::split_at(y.shape(), dim);
    Tensor gc = nn_detail::dense(g, y.dtype());
    Tensor gi = make_tensor(y.shape(), y.dtype(), y.device());
    LAMINA_KERNEL(y.device(), softmax_backward, name().c_str())
    (nn_detail::as3(gi, d), nn_detail::as3(gc, d), nn_detail::as3(nn_detail::dense(y, y.dtype()), d), log);
    return {gi};
  }
};

Tensor softmax_impl(const Tensor& x, int64_t dim, std::optional<DType> dtype, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  DType dt = dtype ? *dtype : x.dtype();
  if (!is_floating_point(dt)) elementwise::fail_dtype(name, dt);
  int64_t d = wrap_dim(dim, x.dim(), name);
  Tensor out = make_tensor(x.shape(), dt, x.device());
  nn_detail::Dim3 s = nn_detail::split_at(x.shape(), d);
  {
    autograd::GradModeGuard no_grad(false);
    Tensor in = nn_detail::dense(x, dt);
    LAMINA_KERNEL(x.device(), softmax, name)(nn_detail::as3(out, s), nn_detail::as3(in, s), log);
  }
  if (auto node = autograd::make_node<SoftmaxBackward>(x)) {
    node->dim = d;
    node->log = log;
    autograd::set_history(out, node);
    node->save(node->result_, out, /*is_output=*/true);
  }
  return out;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim, std::optional<DType> dtype) {
  LAMINA_PROFILE_OP("softmax", x);
  return softmax_impl(x, dim, dtype, false);
}
Tensor log_softmax(const Tensor& x, int64_t dim, std::optional<DType> dtype) {
  LAMINA_PROFILE_OP("log_softmax", x);
  return softmax_impl(x, dim, dtype, true);
}

}  // namespace lamina
