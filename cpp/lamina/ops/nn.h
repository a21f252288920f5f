// Neural-network functions with fused CPU kernels (softmax, normalization, losses, dropout).
// Each records one backward node whose first-order gradient is one fused kernel pass; under
// create_graph the node computes the same formula with lamina ops, so higher orders work.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "lamina/core/generator.h"
#include "lamina/core/tensor.h"

namespace lamina {

// softmax / log_softmax along `dim` (input cast to `dtype` first when given).
Tensor softmax(const Tensor& x, int64_t dim, std::optional<DType> dtype = std::nullopt);
Tensor log_softmax(const Tensor& x, int64_t dim, std::optional<DType> dtype = std::nullopt);

// Normalizes over the trailing dims `normalized_shape`; weight/bias (that shape) may be undefined.
Tensor layer_norm(const Tensor& x, const std::vector<int64_t>& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps = 1e-5);
// x (N, C, *): per-channel normalization. In training, batch statistics are used and the defined
// running_mean/running_var are updated in place (running_var with the unbiased variance).
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum = 0.1, double eps = 1e-5);
// x (N, C, *): normalization over groups of C / num_groups channels; weight/bias (C,) or undefined.
Tensor group_norm(const Tensor& x, int64_t num_groups, const Tensor& weight, const Tensor& bias, double eps = 1e-5);

// reduction: "none", "mean" or "sum". Class-index targets are int64 (N,) or (N, d1, ...); a float
// target of the input's shape holds class probabilities (cross_entropy only).
Tensor cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight, int64_t ignore_index = -100,
                     const std::string& reduction = "mean", double label_smoothing = 0.0);
Tensor nll_loss(const Tensor& input, const Tensor& target, const Tensor& weight, int64_t ignore_index = -100,
                const std::string& reduction = "mean");
// Unreduced -(t log(x) + (1 - t) log(1 - x)) with the logs clamped at -100; input and target alike.
Tensor binary_cross_entropy(const Tensor& input, const Tensor& target);

// Zeroes elements with probability p and scales the rest by 1 / (1 - p); identity when !training.
Tensor dropout(const Tensor& x, double p = 0.5, bool training = true, Generator* gen = nullptr);
Tensor& dropout_(Tensor& x, double p = 0.5, bool training = true, Generator* gen = nullptr);

// softmax(query key^T * scale + mask) value over the last two dims, by the fused kernel (no L x S
// buffer). query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev); attn_mask
// (undefined, bool or the query's dtype) broadcasts to (..., L, S); scale defaults to 1/sqrt(E).
Tensor scaled_dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                    const Tensor& attn_mask, double dropout_p = 0, bool is_causal = false,
                                    std::optional<double> scale = std::nullopt, bool enable_gqa = false,
                                    Generator* gen = nullptr);

}  // namespace lamina
