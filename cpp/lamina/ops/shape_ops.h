// Ops that rearrange elements into new memory: joining, flipping, rolling, repeating, triangles.
#pragma once

#include <vector>

#include "lamina/core/tensor.h"

namespace lamina {

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor flip(const Tensor& x, const std::vector<int64_t>& dims);
// dims empty: rolls the flattened tensor (shifts must then have one entry).
Tensor roll(const Tensor& x, const std::vector<int64_t>& shifts, const std::vector<int64_t>& dims);
// repeats.size() >= x.dim(); extra leading repeats add dims.
Tensor repeat(const Tensor& x, const std::vector<int64_t>& repeats);
// numpy's tile: like repeat, but fewer reps than dims repeat the trailing dims.
Tensor tile(const Tensor& x, const std::vector<int64_t>& reps);
// Keeps the elements on and below (tril) / above (triu) the diagonal-th diagonal of the last two dims.
Tensor tril(const Tensor& x, int64_t diagonal = 0);
Tensor triu(const Tensor& x, int64_t diagonal = 0);
Tensor& tril_(Tensor& x, int64_t diagonal = 0);
Tensor& triu_(Tensor& x, int64_t diagonal = 0);

}  // namespace lamina
