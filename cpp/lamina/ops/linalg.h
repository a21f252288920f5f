// Linear algebra (ops/linalg.cpp): the singular value decomposition, PyTorch's torch.linalg.svd,
// torch.linalg.svdvals and the legacy torch.svd. CPU kernel in cpu/kernels/linalg.cpp.
#pragma once

#include <tuple>

#include "lamina/core/error.h"
#include "lamina/core/tensor.h"

namespace lamina {

// torch.linalg.LinAlgError (a RuntimeError): a decomposition that cannot be computed.
struct LinAlgError : Error {
  using Error::Error;
};

// A = U diag(S) Vh for (..., m, n) float A: U (..., m, m or k), S (..., k) descending, Vh (..., n
// or k, n), k = min(m, n). Differentiable (PyTorch's svd_backward).
std::tuple<Tensor, Tensor, Tensor> linalg_svd(const Tensor& a, bool full_matrices = true);
Tensor linalg_svdvals(const Tensor& a);
// Legacy torch.svd: (U, S, V) with V = Vh^T; some=False gives full U and V; compute_uv=False
// gives zero-filled U (m, m) and V (n, n).
std::tuple<Tensor, Tensor, Tensor> svd(const Tensor& a, bool some = true, bool compute_uv = true);

}  // namespace lamina
