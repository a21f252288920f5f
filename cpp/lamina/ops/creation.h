// Tensor factories. Shapes are checked (negative dims, element-count overflow) before allocating.
#pragma once

#include <optional>

#include "lamina/core/scalar.h"
#include "lamina/core/tensor.h"

namespace lamina {

struct TensorOptions {
  DType dtype = DType::Float32;
  Device device;
};

Tensor empty(const Shape& shape, TensorOptions options = {});
Tensor zeros(const Shape& shape, TensorOptions options = {});
Tensor ones(const Shape& shape, TensorOptions options = {});
Tensor full(const Shape& shape, Scalar value, TensorOptions options = {});
Tensor empty_like(const Tensor& t);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, Scalar value);
// A 0-d tensor holding a Python number, marked as a wrapped number for type promotion.
Tensor scalar_tensor(Scalar value, DType dtype, Device device = {});
Tensor wrapped_scalar(Scalar value, Device device = {});
Tensor arange(Scalar start, Scalar end, Scalar step, std::optional<DType> dtype, Device device = {});
Tensor linspace(double start, double end, int64_t steps, TensorOptions options = {});
Tensor eye(int64_t n, int64_t m, TensorOptions options = {});

}  // namespace lamina
