// Ops that build a new tensor out of rearranged elements. cat/stack copy each input into a
// slice of the output; their gradients are the matching slices of the incoming gradient.
#include "lamina/ops/elementwise.h"

namespace lamina {

using autograd::Node;

namespace {
struct CatBackward : Node {
  int64_t dim = 0;
  std::vector<int64_t> sizes;  // each input's extent along dim (-1: an ignored empty 1-d input)
  std::string name() const override { return "CatBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    std::vector<Tensor> out;
    int64_t start = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      if (sizes[i] < 0) {
        out.push_back(needs_input_grad(i) ? zeros(input_meta[i].shape, {grads[0].dtype(), grads[0].device()}) : Tensor());
        continue;
      }
      out.push_back(needs_input_grad(i) ? narrow(grads[0], dim, start, sizes[i]) : Tensor());
      start += sizes[i];
    }
    return out;
  }
};
}  // namespace

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  LAMINA_CHECK(!tensors.empty(), "cat: expected a non-empty list of Tensors");
  // PyTorch skips 1-d empty tensors (legacy behaviour) when finding the reference shape.
  const Tensor* ref = nullptr;
  for (const Tensor& t : tensors)
    if (!(t.dim() == 1 && t.numel() == 0)) {
      ref = &t;
      break;
    }
  if (!ref) ref = &tensors[0];
  LAMINA_CHECK(ref->dim() > 0, "cat: zero-dimensional tensor (at position 0) cannot be concatenated");
  int64_t d = wrap_dim(dim, ref->dim(), "cat");
  DType dtype = tensors[0].dtype();
  Shape shape = ref->shape();
  shape[size_t(d)] = 0;
  std::vector<int64_t> sizes;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    elementwise::check_same_device(t, *ref, "cat");
    dtype = promote_types(dtype, t.dtype());
    if (t.dim() == 1 && t.numel() == 0 && ref->dim() != 1) {
      sizes.push_back(-1);
      continue;
    }
    LAMINA_CHECK(t.dim() == ref->dim(), "cat: Tensors must have same number of dimensions: got ", ref->dim(),
                 " and ", t.dim());
    for (int64_t k = 0; k < t.dim(); ++k)
      LAMINA_CHECK(k == d || t.shape()[size_t(k)] == ref->shape()[size_t(k)],
                   "cat: Sizes of tensors must match except in dimension ", d, ". Expected size ",
                   ref->shape()[size_t(k)], " but got size ", t.shape()[size_t(k)], " for tensor number ", i,
                   " in the list.");
    sizes.push_back(t.shape()[size_t(d)]);
    shape[size_t(d)] += t.shape()[size_t(d)];
  }
  check_shape(shape, itemsize(dtype), "cat");
  Tensor out = make_tensor(shape, dtype, ref->device());
  int64_t start = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (sizes[i] <= 0) continue;
    Shape rs = shape;
    rs[size_t(d)] = sizes[i];
    copy_into(make_view(out, rs, out.strides(), start * out.strides()[size_t(d)]), tensors[i]);
    start += sizes[i];
  }
  if (is_floating_point(dtype)) {
    if (auto node = autograd::make_node_from<CatBackward>(tensors)) {
      node->dim = d;
      node->sizes = sizes;
      autograd::set_history(out, node);
    }
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  LAMINA_CHECK(!tensors.empty(), "stack: expects a non-empty TensorList");
  int64_t d = wrap_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor> expanded;
  for (size_t i = 0; i < tensors.size(); ++i) {
    LAMINA_CHECK(tensors[i].shape() == tensors[0].shape(), "stack: expects each tensor to be equal size, but got ",
                 str(tensors[0].shape()), " at entry 0 and ", str(tensors[i].shape()), " at entry ", i);
    expanded.push_back(unsqueeze(tensors[i], d));
  }
  return cat(expanded, d);
}

}  // namespace lamina
