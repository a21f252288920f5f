// Views: new geometry over the same storage, no copy. reshape copies only when the strides
// cannot express the new shape.
#pragma once

#include <vector>

#include "lamina/core/tensor.h"

namespace lamina {

Tensor view(const Tensor& x, const Shape& shape);  // shape may contain one -1
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor as_strided(const Tensor& x, const Shape& shape, const Strides& strides, int64_t offset);
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1);
Tensor t(const Tensor& x);         // 0-d, 1-d unchanged; 2-d transposed
Tensor mT(const Tensor& x);        // transposes the last two dims
Tensor expand(const Tensor& x, const Shape& shape);  // -1 keeps a dim
Tensor expand_as(const Tensor& x, const Tensor& other);
Tensor squeeze(const Tensor& x);
Tensor squeeze(const Tensor& x, const std::vector<int64_t>& dims);
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor unflatten(const Tensor& x, int64_t dim, const Shape& sizes);
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
Tensor select(const Tensor& x, int64_t dim, int64_t index);
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step);
Tensor diagonal(const Tensor& x, int64_t offset = 0, int64_t dim1 = 0, int64_t dim2 = 1);
Tensor unfold(const Tensor& x, int64_t dim, int64_t size, int64_t step);  // Tensor.unfold: windows along dim
std::vector<Tensor> unbind(const Tensor& x, int64_t dim = 0);
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim = 0);
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim = 0);
std::vector<Tensor> split_with_sizes(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim = 0);
Tensor movedim(const Tensor& x, const std::vector<int64_t>& source, const std::vector<int64_t>& destination);

}  // namespace lamina
