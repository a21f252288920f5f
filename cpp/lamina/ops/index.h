// Indexing by tensors: gather/scatter, advanced indexing, masks, sorting. Index values are
// checked before any kernel runs (IndexError naming the bad index and the dim size).
#pragma once

#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "lamina/core/scalar.h"
#include "lamina/core/tensor.h"

namespace lamina {

// Advanced indexing: entries index consecutive dims (undefined = the whole dim); a bool entry is
// a mask over as many dims as it has (a 0-d one inserts a dim of size 1). Integer indices may be
// negative; they broadcast together, and numpy's rule places the result dims (in place when the
// indexed dims are adjacent, first otherwise). index_put_ without accumulate writes repeated
// positions in row-major order, so the last one wins.
Tensor index(const Tensor& x, const std::vector<Tensor>& indices);
Tensor& index_put_(Tensor& x, const std::vector<Tensor>& indices, const Tensor& values,
                   bool accumulate = false);
Tensor index_put(const Tensor& x, const std::vector<Tensor>& indices, const Tensor& values,
                 bool accumulate = false);
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor scatter(const Tensor& x, int64_t dim, const Tensor& index, Scalar value);
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor& scatter_(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor& scatter_add_(Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& source,
                 Scalar alpha = Scalar(int64_t(1)));
Tensor& index_add_(Tensor& x, int64_t dim, const Tensor& index, const Tensor& source,
                   Scalar alpha = Scalar(int64_t(1)));
Tensor masked_fill(const Tensor& x, const Tensor& mask, const Tensor& value);
Tensor& masked_fill_(Tensor& x, const Tensor& mask, const Tensor& value);
Tensor masked_select(const Tensor& x, const Tensor& mask);
Tensor nonzero(const Tensor& x);
std::tuple<Tensor, Tensor> sort(const Tensor& x, int64_t dim = -1, bool descending = false,
                                bool stable = false);
Tensor argsort(const Tensor& x, int64_t dim = -1, bool descending = false, bool stable = false);
std::tuple<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim = -1, bool largest = true,
                                bool sorted = true);
Tensor one_hot(const Tensor& x, int64_t num_classes = -1);

}  // namespace lamina
