// dropout: one fused kernel draws the keep mask from the Philox generator (4 elements per block,
// so the mask depends on the seed, the generator offset and the element index only) and writes
// x * mask / (1 - p). The backward reuses the saved mask: g * mask / (1 - p).
#include "lamina/ops/elementwise.h"
#include "lamina/ops/nn.h"
#include "lamina/ops/nn_common.h"
#include "lamina/core/profiler.h"

namespace lamina {

using autograd::Node;

namespace {

struct DropoutBackward : Node {
  Tensor mask_;  // bool, the input's shape
  double scale = 1;
  std::string name() const override { return "NativeDropoutBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override { return {grads[0] * mask_ * scale}; }
};

void check_p(double p) {
  LAMINA_CHECK_VALUE(p >= 0 && p <= 1, "dropout: probability has to be between 0 and 1, but got ", p);
}

// out (contiguous, x's shape) = x * mask * scale; returns the mask.
Tensor draw(const Tensor& out, const Tensor& x, double p, Generator* gen) {
  Tensor mask = make_tensor(x.shape(), DType::Bool, x.device());
  if (x.numel() == 0) return mask;
  Generator& g = gen ? *gen : default_generator();
  uint64_t first = g.reserve((uint64_t(x.numel()) + 3) / 4);
  autograd::GradModeGuard no_grad(false);
  LAMINA_KERNEL(x.device(), dropout, "dropout")(out, mask, nn_detail::dense(x, x.dtype()), p, 1.0 / (1.0 - p), g.seed(),
                                                first);
  return mask;
}

}  // namespace

Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  LAMINA_PROFILE_OP("dropout", x);
  check_p(p);
  if (!training || p == 0) return x;
  if (!x.is_floating_point()) elementwise::fail_dtype("dropout", x.dtype());
  if (p == 1) return x * zeros_like(x);  // keeps NaN and the graph, like PyTorch's x * 0
  Tensor out = make_tensor(x.shape(), x.dtype(), x.device());
  Tensor mask = draw(out, x, p, gen);
  if (auto node = autograd::make_node<DropoutBackward>(x)) {
    node->mask_ = mask;
    node->scale = 1.0 / (1.0 - p);
    autograd::set_history(out, node);
  }
  return out;
}

Tensor& dropout_(Tensor& x, double p, bool training, Generator* gen) {
  LAMINA_PROFILE_OP("dropout_", x);
  check_p(p);
  if (!training || p == 0) return x;
  if (!x.is_floating_point()) elementwise::fail_dtype("dropout_", x.dtype());
  return elementwise::apply_inplace(
      x, {}, "dropout_",
      [&] {
        Tensor out = make_tensor(x.shape(), x.dtype(), x.device());
        if (p == 1) fill_(out, Scalar(0.0));
        else draw(out, x, p, gen);
        copy_into(x, out);
      },
      [&](const Tensor& self) { return dropout(self, p, true, gen); }, false);
}

}  // namespace lamina
