// Per-tensor autograd state, allocated only for tensors that require grad or have a grad_fn.
#pragma once

#include <functional>
#include <map>
#include <memory>

#include "lamina/core/tensor.h"

namespace lamina::autograd {

// A gradient hook: returns a replacement gradient, or an undefined Tensor to keep it.
using GradHook = std::function<Tensor(const Tensor&)>;
// Runs `hooks` in order on g; a replacement must keep g's shape and dtype (PyTorch's rule), or a
// leaf's .grad could end up with another shape than the leaf.
Tensor run_grad_hooks(const std::map<int, GradHook>& hooks, Tensor g);

struct AutogradMeta {
  bool requires_grad = false;
  bool retains_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;      // null for leaves
  uint32_t output_nr = 0;             // which output of grad_fn this tensor is
  uint32_t history_version = 0;       // views: the version when grad_fn was set (see view_edge)
  std::weak_ptr<Node> accumulator;    // leaves: the AccumulateGrad node, created on demand
  std::map<int, GradHook> hooks;      // leaves only; non-leaf hooks live on grad_fn
};

}  // namespace lamina::autograd
