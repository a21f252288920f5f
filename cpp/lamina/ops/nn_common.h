// Shared plumbing of the nn ops (softmax.cpp, norm.cpp, loss.cpp, pad.cpp, unfold.cpp): the (outer,
// n, inner) split of a shape, contiguous, detached operands for kernels, and shared argument checks.
// Not part of the public API.
#pragma once

#include "lamina/ops/elementwise.h"

namespace lamina::nn_detail {

struct Dim3 {
  int64_t outer = 1, n = 1, inner = 1;
};

// shape = (outer..., n, inner...) split around dim (0-d: all ones).
inline Dim3 split_at(const Shape& shape, int64_t dim) {
  Dim3 d;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (int64_t(i) < dim) d.outer *= shape[i];
    else if (int64_t(i) == dim) d.n = shape[i];
    else d.inner *= shape[i];
  }
  return d;
}

// A 3-D view of a contiguous tensor.
inline Tensor as3(const Tensor& t, Dim3 d) {
  return make_view(t, {d.outer, d.n, d.inner}, {d.n * d.inner, d.inner, 1}, t.offset());
}
inline Tensor as2(const Tensor& t, int64_t rows, int64_t cols) {
  return make_view(t, {rows, cols}, {cols, 1}, t.offset());
}

// t in `dtype`, contiguous, without autograd history (a copy only when needed).
inline Tensor dense(const Tensor& t, DType dtype) {
  autograd::GradModeGuard no_grad(false);
  Tensor c = elementwise::cast(t, dtype);
  return c.is_contiguous() ? c : contiguous(c);
}

// PyTorch's rule for ops on (batch, channels, spatial...) inputs that read neighbours (reflect and
// replicate padding, unfold): the last `dims` dims (channels and spatial) must be non-empty, only a
// leading batch dim may be 0. `context` ends the message (e.g. " in reflect mode").
inline void check_only_batch_empty(const Tensor& x, int64_t dims, const char* op, const std::string& context = "") {
  for (int64_t d = x.dim() - dims; d < x.dim(); ++d)
    LAMINA_CHECK(x.shape()[size_t(d)] > 0, op, ": expected a ", dims, "-d or ", dims + 1, "-d (batch mode) input ",
                 "with possibly 0 batch size and other non-zero dimensions", context, ", got input of shape ",
                 str(x.shape()));
}

}  // namespace lamina::nn_detail
