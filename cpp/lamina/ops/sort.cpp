// sort, argsort and topk along one dim. The input is viewed as (outer, n, inner), copied only when
// its strides cannot express that, and ordered by the kernel (always stable: equal keys keep
// their order, NaN sorts above every number). Gradients go back to the positions the indices
// name, by scattering the incoming gradient into zeros.
#include "lamina/ops/index_common.h"
#include "lamina/core/profiler.h"

namespace lamina {

using autograd::Node;
using autograd::SavedTensor;

namespace {

// Values picked by `indices` along `dim`: the gradient is scattered back to those positions.
struct SelectIndicesBackward : Node {
  SavedTensor indices_;
  int64_t dim = 0;
  std::string label;
  std::string name() const override { return label; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor& g = grads[0];
    Tensor zero = zeros(input_meta[0].shape, {g.dtype(), g.device()});
    return {scatter(zero, dim, unpack(indices_), g)};
  }
};

// Orders x along d and keeps the first k of each row (k = n for sort).
std::tuple<Tensor, Tensor> order(const Tensor& x, int64_t d, int64_t k, bool descending, bool is_sort,
                                 const char* op) {
  int64_t outer = 1, inner = 1, n = x.dim() == 0 ? 1 : x.shape()[size_t(d)];
  for (int64_t i = 0; i < x.dim(); ++i) {
    if (i < d) outer *= x.shape()[size_t(i)];
    if (i > d) inner *= x.shape()[size_t(i)];
  }
  Shape shape = x.shape();
  if (x.dim() > 0) shape[size_t(d)] = k;
  Tensor values = make_tensor(shape, x.dtype(), x.device());
  Tensor indices = make_tensor(shape, DType::Int64, x.device());
  if (values.numel() > 0) {
    autograd::GradModeGuard no_grad(false);
    Tensor in = reshape(detach(x), {outer, n, inner});
    Tensor v = reshape(values, {outer, k, inner}), i = reshape(indices, {outer, k, inner});
    if (is_sort) LAMINA_KERNEL(x.device(), sort, op)(v, i, in, descending);
    else LAMINA_KERNEL(x.device(), topk, op)(v, i, in, k, descending);
  }
  if (values.is_floating_point()) {
    if (auto node = autograd::make_node<SelectIndicesBackward>(x)) {
      node->dim = d;
      node->label = is_sort ? "SortBackward0" : "TopkBackward0";
      autograd::set_history(values, node);
      node->save(node->indices_, indices);
    }
  }
  return {values, indices};
}

}  // namespace

std::tuple<Tensor, Tensor> sort(const Tensor& x, int64_t dim, bool descending, bool stable) {
  LAMINA_PROFILE_OP("sort", x);
  (void)stable;  // the kernel is always stable
  int64_t d = wrap_dim(dim, x.dim(), "sort");
  return order(x, d, x.dim() == 0 ? 1 : x.shape()[size_t(d)], descending, true, "sort");
}

Tensor argsort(const Tensor& x, int64_t dim, bool descending, bool stable) {
  LAMINA_PROFILE_OP("argsort", x);
  autograd::GradModeGuard no_grad(false);
  return std::get<1>(sort(x, dim, descending, stable));
}

std::tuple<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim, bool largest, bool sorted) {
  LAMINA_PROFILE_OP("topk", x);
  (void)sorted;  // the k values always come out in order
  int64_t d = wrap_dim(dim, x.dim(), "topk");
  int64_t n = x.dim() == 0 ? 1 : x.shape()[size_t(d)];
  LAMINA_CHECK(k >= 0 && k <= n, "topk: selected index k out of range (k = ", k, ", dimension ", d, " has size ", n,
               ")");
  // A 0-d input has one element, returned for k = 0 as well (PyTorch's behaviour).
  return order(x, d, x.dim() == 0 ? 1 : k, largest, false, "topk");
}

}  // namespace lamina
