// Anomaly mode (lamina.autograd.detect_anomaly): while on, the first op that produces NaN/Inf
// raises, naming the op, the module running forward and the input shapes.
// Where the checks sit: forward in autograd::set_history (every op that records a grad_fn passes
// there after computing its output), backward in the engine right after each Node::apply. Both
// cost one relaxed atomic load when the mode is off. When on, each output is scanned once: small
// tensors by an exponent-bit test, large ones by the per-ISA sum kernel (NaN/Inf propagate; a
// non-finite sum is confirmed by the exact bit test, as large finite values may overflow it).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "lamina/core/tensor.h"

namespace lamina::autograd {

class Node;

namespace anomaly {

extern std::atomic<bool> g_enabled;
inline bool enabled() { return g_enabled.load(std::memory_order_relaxed); }
bool check_nan_enabled();
void set_enabled(bool enabled, bool check_nan = true);

// Module path stack of this thread, pushed by Module.__call__ only while the mode is on.
void push_module(std::string path);
void pop_module();

// What a node remembers while the mode is on (Node::anomaly_record): the module running forward
// when it was created and the shapes of its inputs, for backward reports.
struct Record {
  std::shared_ptr<const std::string> module;
  std::vector<Shape> input_shapes;
};
void on_node_created(Node& node);
void on_node_input(Node& node, const Tensor& input);

// Raises if `out`, just recorded as an output of `node`, holds NaN or Inf.
void check_forward(const Tensor& out, const Node& node);
// Raises if a gradient `node` returned holds NaN or Inf.
void check_backward(const Node& node, const std::vector<Tensor>& grads);

// Marks that `node`'s backward formula is running on this thread (its own ops are then reported
// by check_backward, not as forward ops).
class BackwardScope {
 public:
  explicit BackwardScope(const Node* node);
  ~BackwardScope();
  BackwardScope(const BackwardScope&) = delete;
  BackwardScope& operator=(const BackwardScope&) = delete;

 private:
  const Node* prev_;
};

}  // namespace anomaly
}  // namespace lamina::autograd
