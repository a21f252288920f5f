// Random tensors from the counter-based generator (core/generator.h): element i of a draw uses
// counter (offset + i), so values do not depend on the thread count.
#pragma once

#include <optional>

#include "lamina/core/generator.h"
#include "lamina/ops/creation.h"

namespace lamina {

Tensor rand(const Shape& shape, TensorOptions options = {}, Generator* gen = nullptr);
Tensor randn(const Shape& shape, TensorOptions options = {}, Generator* gen = nullptr);
Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions options = {},
               Generator* gen = nullptr);
Tensor randperm(int64_t n, TensorOptions options = {}, Generator* gen = nullptr);
Tensor& uniform_(Tensor& t, double from = 0.0, double to = 1.0, Generator* gen = nullptr);
Tensor& normal_(Tensor& t, double mean = 0.0, double std = 1.0, Generator* gen = nullptr);
Tensor bernoulli(const Tensor& p, Generator* gen = nullptr);       // p: probabilities tensor
Tensor& bernoulli_(Tensor& t, double p, Generator* gen = nullptr);
Tensor& bernoulli_(Tensor& t, const Tensor& p, Generator* gen = nullptr);  // p broadcasts to t
// mean + std * N(0, 1) with mean and std broadcast (either may be a wrapped number).
Tensor normal(const Tensor& mean, const Tensor& std, Generator* gen = nullptr);

}  // namespace lamina
