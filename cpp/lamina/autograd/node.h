// The autograd graph. An op that has an input requiring grad records a Node whose apply() maps
// the gradients of its outputs to gradients of its inputs; next_edges point at the nodes that
// produced those inputs (or at AccumulateGrad for leaves). Backward formulas are written with
// lamina ops, so running them with grad mode on (create_graph) builds the higher-order graph.
//
// Cycles are avoided by construction: a node saves its own outputs without their grad_fn
// (SavedTensor with is_output) and re-attaches itself when unpacking.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lamina/autograd/grad_mode.h"
#include "lamina/autograd/meta.h"
#include "lamina/core/tensor.h"

namespace lamina::autograd {

class Node;
namespace anomaly {
struct Record;
}

struct Edge {
  std::shared_ptr<Node> node;
  uint32_t input_nr = 0;  // which gradient input of `node` this edge feeds
  bool valid() const { return node != nullptr; }
};

// What a gradient flowing along an edge must look like; the engine casts dtype to match.
struct TensorMeta {
  Shape shape;
  DType dtype = DType::Float32;
  Device device;
};

// A tensor kept for backward, with the version it had when saved so that a later in-place write
// is reported instead of silently producing a wrong gradient.
class SavedTensor {
 public:
  void save(const Tensor& t, bool is_output);
  // `owner` is the node holding this slot; it becomes the grad_fn of a saved output.
  Tensor unpack(const std::shared_ptr<Node>& owner, const std::string& op) const;
  void release();
  bool defined() const { return was_defined_; }

 private:
  Tensor data_;
  uint32_t version_ = 0;
  uint32_t output_nr_ = 0;
  bool is_output_ = false;
  bool was_defined_ = false;
  bool released_ = false;
};

class Node : public std::enable_shared_from_this<Node> {
 public:
  Node();
  virtual ~Node();
  static int64_t live_count();  // live nodes, for leak tests
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // PyTorch-style name, e.g. "AddBackward0".
  virtual std::string name() const = 0;
  // grads has one entry per forward output (zeros where an output got no gradient). Returns one
  // gradient per next edge; an undefined Tensor means "no gradient".
  virtual std::vector<Tensor> apply(std::vector<Tensor>&& grads) = 0;

  // Frees saved tensors after a backward pass without retain_graph.
  void release_saved();
  // Keeps `t` for backward in `slot`; is_output says `t` is an output of this node.
  void save(SavedTensor& slot, const Tensor& t, bool is_output = false);
  Tensor unpack(const SavedTensor& slot) { return slot.unpack(shared_from_this(), name()); }

  void add_input(const Tensor& t);  // appends a next edge (invalid when t needs no grad)
  void reserve_inputs(size_t n) {
    next_edges.reserve(n);
    input_meta.reserve(n);
  }
  bool needs_input_grad(size_t i) const { return i < next_edges.size() && next_edges[i].valid(); }

  std::vector<Edge> next_edges;
  std::vector<TensorMeta> input_meta;   // one per next edge
  std::vector<TensorMeta> output_meta;  // one per forward output
  uint64_t sequence_nr;                 // creation order; later nodes run first in backward
  // Tensor hooks of non-leaf outputs, by output_nr then hook id.
  std::map<uint32_t, std::map<int, GradHook>> pre_hooks;
  // Non-leaf outputs that asked for retain_grad(), by output_nr.
  std::map<uint32_t, std::weak_ptr<TensorImpl>> retained;
  // Anomaly mode only (null otherwise): the module that created the node and its input shapes.
  std::unique_ptr<anomaly::Record> anomaly_record;

 private:
  std::vector<SavedTensor*> saved_;
};

// Accumulates incoming gradients into a leaf's .grad (after running the leaf's hooks).
class AccumulateGrad : public Node {
 public:
  // Runs as soon as it is ready, as in PyTorch: a leaf's node can outlive many iterations (its old
  // creation number would otherwise hold every .grad, and gradient hooks such as DDP's bucket
  // all-reduces, until the end of backward).
  explicit AccumulateGrad(Tensor leaf) : leaf(std::move(leaf)) { sequence_nr = UINT64_MAX; }
  std::string name() const override { return "AccumulateGrad"; }
  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override;
  Tensor leaf;
};

// True when grad mode is on and `t` requires grad.
bool needs_grad(const Tensor& t);
// The edge a gradient for `t` should flow along; invalid when t needs no grad. A view whose base
// was since written in place gets its history re-derived from the base first.
Edge gradient_edge(const Tensor& t);
// t's grad_fn, re-derived first for a stale view (what Tensor.grad_fn shows in Python).
std::shared_ptr<Node> current_grad_fn(const Tensor& t);
TensorMeta meta_of(const Tensor& t);

// Creates node N with the given inputs if grad mode is on and any input requires grad.
template <class N, class... Ts>
std::shared_ptr<N> make_node(const Ts&... inputs) {
  if (!GradMode::is_enabled() || !(needs_grad(inputs) || ...)) return nullptr;
  auto node = std::make_shared<N>();
  node->reserve_inputs(sizeof...(inputs));
  (node->add_input(inputs), ...);
  return node;
}
template <class N>
std::shared_ptr<N> make_node_from(const std::vector<Tensor>& inputs) {
  bool any = false;
  for (const Tensor& t : inputs) any = any || needs_grad(t);
  if (!GradMode::is_enabled() || !any) return nullptr;
  auto node = std::make_shared<N>();
  node->reserve_inputs(inputs.size());
  for (const Tensor& t : inputs) node->add_input(t);
  return node;
}

// Makes `out` the next output of `node` (output_nr = outputs so far).
void set_history(const Tensor& out, const std::shared_ptr<Node>& node);
// For in-place ops: `t` now holds the value of `result` and takes over its place in the graph.
void rebase_history(const Tensor& t, const Tensor& result);
// Raises if an in-place op on `t` would break autograd (a leaf requiring grad, or a view of a
// tensor that requires grad).
void check_inplace(const Tensor& t, const char* op);

}  // namespace lamina::autograd
