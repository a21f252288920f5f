// The backward pass: runs the graph's nodes in dependency order (later-created first among the
// ready ones), sums gradients arriving at the same node input, runs tensor hooks, and either
// accumulates into leaves' .grad (backward) or returns the gradients of `inputs` (grad).
#pragma once

#include <vector>

#include "lamina/core/tensor.h"

namespace lamina::autograd {

// tensors.backward(grad_tensors); an undefined grad means "ones" for a one-element tensor.
// Non-empty `inputs` limits accumulation to those leaves.
void backward(const std::vector<Tensor>& tensors, const std::vector<Tensor>& grad_tensors, bool retain_graph,
              bool create_graph, const std::vector<Tensor>& inputs = {});

// d(outputs)/d(inputs) weighted by grad_outputs. An input the outputs do not depend on gets an
// undefined Tensor when allow_unused, else an error.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, bool retain_graph, bool create_graph,
                         bool allow_unused);

}  // namespace lamina::autograd
