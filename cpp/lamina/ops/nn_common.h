// Shared plumbing of the nn ops (softmax.cpp, norm.cpp, loss.cpp): the (outer, n, inner) split of
// a shape and contiguous, detached operands for kernels. Not part of the public API.
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

}  // namespace lamina::nn_detail
