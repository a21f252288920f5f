// Elementwise functions of two tensors, with broadcasting and PyTorch's type promotion
// (Python numbers arrive as wrapped 0-d tensors, see creation.h).
#pragma once

#include <optional>
#include <string>

#include "lamina/core/scalar.h"
#include "lamina/core/tensor.h"

namespace lamina {

Tensor add(const Tensor& a, const Tensor& b, Scalar alpha = Scalar(int64_t(1)));
Tensor sub(const Tensor& a, const Tensor& b, Scalar alpha = Scalar(int64_t(1)));
Tensor mul(const Tensor& a, const Tensor& b);
// rounding_mode: "" (true division), "trunc" or "floor".
Tensor div(const Tensor& a, const Tensor& b, const std::string& rounding_mode = "");
Tensor floor_divide(const Tensor& a, const Tensor& b);
Tensor remainder(const Tensor& a, const Tensor& b);  // sign of the divisor, like Python's %
Tensor fmod(const Tensor& a, const Tensor& b);       // sign of the dividend, like C's fmod
Tensor pow(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor atan2(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);
Tensor logical_xor(const Tensor& a, const Tensor& b);
Tensor bitwise_and(const Tensor& a, const Tensor& b);
Tensor bitwise_or(const Tensor& a, const Tensor& b);
Tensor bitwise_xor(const Tensor& a, const Tensor& b);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
// Gradient masks as selects, not products: an infinite or NaN upstream gradient at an element the
// mask drops gives 0 there (as in PyTorch), where multiplying by 0 would give NaN.
Tensor grad_where(const Tensor& keep, const Tensor& g);   // g where keep, else 0
Tensor grad_unless(const Tensor& drop, const Tensor& g);  // 0 where drop, else g

Tensor& add_(Tensor& a, const Tensor& b, Scalar alpha = Scalar(int64_t(1)));
Tensor& sub_(Tensor& a, const Tensor& b, Scalar alpha = Scalar(int64_t(1)));
Tensor& mul_(Tensor& a, const Tensor& b);
Tensor& div_(Tensor& a, const Tensor& b, const std::string& rounding_mode = "");
Tensor& floor_divide_(Tensor& a, const Tensor& b);
Tensor& remainder_(Tensor& a, const Tensor& b);
Tensor& fmod_(Tensor& a, const Tensor& b);
Tensor& atan2_(Tensor& a, const Tensor& b);
Tensor& pow_(Tensor& a, const Tensor& b);
Tensor& bitwise_and_(Tensor& a, const Tensor& b);
Tensor& bitwise_or_(Tensor& a, const Tensor& b);
Tensor& bitwise_xor_(Tensor& a, const Tensor& b);

}  // namespace lamina
