// Copies, casts and fills.
#pragma once

#include "lamina/core/scalar.h"
#include "lamina/core/tensor.h"

namespace lamina {

Tensor to(const Tensor& t, DType dtype, bool copy = false);  // differentiable cast
Tensor to(const Tensor& t, Device device, DType dtype, bool copy = false);
Tensor contiguous(const Tensor& t);
Tensor clone(const Tensor& t);
Tensor detach(const Tensor& t);
Tensor& copy_(Tensor& dst, const Tensor& src);  // broadcasts src, casts dtype
Tensor& fill_(Tensor& t, Scalar value);
Tensor& zero_(Tensor& t);
// The raw copy kernel: same shape, any strides and dtypes, no autograd.
void copy_into(const Tensor& dst, const Tensor& src);

}  // namespace lamina
