// Matrix products on the kernel table's gemm entry (float32/float64; int32/int64 by a plain loop).
// Operands are passed to the kernel as strided views: transposes, slices and broadcast batch dims
// cost no copies. Results are fresh contiguous tensors.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "lamina/core/scalar.h"
#include "lamina/core/tensor.h"

namespace lamina {

// PyTorch's matmul: 1-D·1-D dot, matrix-vector, and batched products broadcasting batch dims.
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor mm(const Tensor& a, const Tensor& b);    // (n, k) @ (k, m)
Tensor bmm(const Tensor& a, const Tensor& b);   // (B, n, k) @ (B, k, m), no broadcasting
Tensor dot(const Tensor& a, const Tensor& b);   // 1-D · 1-D -> 0-d
Tensor mv(const Tensor& a, const Tensor& b);    // (n, k) @ (k,) -> (n,)
Tensor outer(const Tensor& a, const Tensor& b); // (n,) x (m,) -> (n, m)
// beta * input + alpha * (mat1 @ mat2); input broadcasts to the product's shape.
Tensor addmm(const Tensor& input, const Tensor& mat1, const Tensor& mat2, Scalar beta = Scalar(int64_t(1)),
             Scalar alpha = Scalar(int64_t(1)));
Tensor baddbmm(const Tensor& input, const Tensor& batch1, const Tensor& batch2, Scalar beta = Scalar(int64_t(1)),
               Scalar alpha = Scalar(int64_t(1)));
// input (*, in) @ weight (out, in)^T + bias (out,), the bias fused into the gemm's store.
Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor());
// Einstein summation (ellipsis, diagonals, sums over single-operand labels); operands are
// contracted left to right through matmul.
Tensor einsum(const std::string& equation, const std::vector<Tensor>& operands);

}  // namespace lamina
