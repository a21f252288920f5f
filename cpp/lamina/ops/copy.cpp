// Casts, copies and fills, with their backward formulas.
#include "lamina/autograd/node.h"
#include "lamina/ops/elementwise.h"
#include "lamina/core/profiler.h"

namespace lamina {

using autograd::Node;

// Gradient of a dtype/device cast: cast back (the engine matches the input's dtype).
struct ToCopyBackward : Node {
  std::string name() const override { return "ToCopyBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override { return {grads[0]}; }
};

struct CloneBackward : Node {
  std::string name() const override { return "CloneBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override { return {grads[0]}; }
};

void copy_into(const Tensor& dst, const Tensor& src) {
  if (dst.numel() == 0) return;
  LAMINA_KERNEL(dst.device(), copy, "copy_")(dst, src);
}

Tensor to(const Tensor& t, Device device, DType dtype, bool copy) {
  LAMINA_PROFILE_OP("to", t);
  if (!copy && dtype == t.dtype() && device == t.device()) return t;
  LAMINA_CHECK(device == t.device(), "to: copying between devices ", t.device().str(), " and ",
               device.str(), " is not supported in this build");
  Tensor out = make_tensor(t.shape(), dtype, device);
  copy_into(out, t);
  if (is_floating_point(dtype)) {
    if (auto node = autograd::make_node<ToCopyBackward>(t)) autograd::set_history(out, node);
  }
  return out;
}

Tensor to(const Tensor& t, DType dtype, bool copy) {
  LAMINA_PROFILE_OP("to", t);
  return to(t, t.device(), dtype, copy);
}

Tensor clone(const Tensor& t) {
  LAMINA_PROFILE_OP("clone", t);
  Tensor out = make_tensor(t.shape(), t.dtype(), t.device());
  copy_into(out, t);
  if (auto node = autograd::make_node<CloneBackward>(t)) autograd::set_history(out, node);
  return out;
}

Tensor contiguous(const Tensor& t) { LAMINA_PROFILE_OP("contiguous", t); return t.is_contiguous() ? t : clone(t); }

Tensor detach(const Tensor& t) {
  LAMINA_PROFILE_OP("detach", t);
  Tensor out = make_view(t, t.shape(), t.strides(), t.offset());
  out.impl()->view_base = nullptr;  // a detached alias is outside autograd: in-place writes are fine
  return out;
}

// copy_(dst, src): dst's old value gets no gradient, src gets grad summed to its shape.
struct CopyBackward : Node {
  Shape src_shape;
  std::string name() const override { return "CopyBackwards"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    Tensor g_src = needs_input_grad(1) ? sum_to(grads[0], src_shape) : Tensor();
    return {needs_input_grad(0) ? zeros_like(grads[0]) : Tensor(), g_src};
  }
};

Tensor& copy_(Tensor& dst, const Tensor& src) {
  LAMINA_PROFILE_OP("copy_", dst, src);
  elementwise::check_same_device(dst, src, "copy_");
  LAMINA_CHECK(is_expandable_to(src.shape(), dst.shape()), "copy_: source shape ", str(src.shape()),
               " cannot be broadcast to destination shape ", str(dst.shape()));
  elementwise::check_no_internal_overlap(dst, "copy_");
  elementwise::check_inplace_autograd(dst, "copy_");
  bool record = elementwise::inplace_needs_grad(dst, {src});
  // A source overlapping the destination is copied out first so chunks cannot race.
  Tensor source = src.shares_storage(dst) && !src.is_same(dst) ? clone(detach(src)) : src;
  copy_into(dst, elementwise::expand_view(source, dst.shape()));
  dst.bump_version();
  if (record && elementwise::is_view(dst)) {
    // The written value, with src's history, becomes part of the base's history.
    elementwise::rebase_view_history(dst, to(expand(src, dst.shape()), dst.dtype(), true), "copy_");
  } else if (auto node = autograd::make_node<CopyBackward>(dst, src)) {
    node->src_shape = src.shape();
    autograd::set_history(dst, node);
  }
  return dst;
}

struct FillBackward : Node {
  std::string name() const override { return "FillBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override { return {zeros_like(grads[0])}; }
};

Tensor& fill_(Tensor& t, Scalar value) {
  LAMINA_PROFILE_OP("fill_", t);
  elementwise::check_no_internal_overlap(t, "fill_");
  elementwise::check_inplace_autograd(t, "fill_");
  if (t.numel() > 0) LAMINA_KERNEL(t.device(), fill, "fill_")(t, value);
  t.bump_version();
  if (elementwise::is_view(t) && elementwise::inplace_needs_grad(t, {})) {
    elementwise::rebase_view_history(t, full(t.shape(), value, {t.dtype(), t.device()}), "fill_");
  } else if (auto node = autograd::make_node<FillBackward>(t)) {
    autograd::set_history(t, node);
  }
  return t;
}

Tensor& zero_(Tensor& t) { LAMINA_PROFILE_OP("zero_", t); return fill_(t, Scalar(int64_t(0))); }

}  // namespace lamina
