#include "lamina/autograd/engine.h"

#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "lamina/autograd/anomaly.h"
#include "lamina/autograd/node.h"
#include "lamina/core/profiler.h"
#include "lamina/ops/ops.h"

namespace lamina::autograd {

namespace {

// A backward node's run as a profiler event, named as PyTorch names it ("MmBackward0"), with
// the shapes of the gradients it receives. Costs one branch while no session is active.
class NodeRange {
 public:
  NodeRange(const Node& node, const std::vector<Tensor>& grads) {
    if (!profiler::enabled()) return;
    handle_ = profiler::detail::open(node.name(), profiler::EventKind::Backward);
    if (handle_ >= 0 && profiler::detail::recording_shapes())
      for (const Tensor& g : grads) profiler::detail::add_input(handle_, g);
  }
  ~NodeRange() {
    if (handle_ >= 0) profiler::detail::close(handle_);
  }
  NodeRange(const NodeRange&) = delete;
  NodeRange& operator=(const NodeRange&) = delete;

 private:
  int64_t handle_ = -1;
};

struct Capture {
  uint32_t input_nr;
  size_t index;
};

class GraphTask {
 public:
  GraphTask(bool keep_graph, bool create_graph, bool capture_only)
      : keep_graph_(keep_graph), create_graph_(create_graph), capture_only_(capture_only) {}

  void add_root(const Edge& edge, const Tensor& grad) {
    roots_.push_back(edge.node);
    accumulate(edge.node.get(), edge.input_nr, grad);
  }

  // Marks where the gradient of `inputs[index]` is to be read.
  void add_capture(const Edge& edge, size_t index) {
    keep_alive_.push_back(edge.node);  // the node may exist only for this call (an unused leaf)
    captures_[edge.node.get()].push_back({edge.input_nr, index});
  }

  std::vector<Tensor> run(size_t ncaptures) {
    captured_.assign(ncaptures, Tensor());
    find_needed();
    count_dependencies();
    auto later_first = [](Node* a, Node* b) { return a->sequence_nr < b->sequence_nr; };
    std::priority_queue<Node*, std::vector<Node*>, decltype(later_first)> ready(later_first);
    std::unordered_set<Node*> queued;
    for (auto& root : roots_)
      if (needed(root.get()) && deps_[root.get()] == 0 && queued.insert(root.get()).second) ready.push(root.get());
    while (!ready.empty()) {
      Node* node = ready.top();
      ready.pop();
      execute(node);
      for (const Edge& e : node->next_edges) {
        if (!e.valid() || !needed(e.node.get())) continue;
        if (--deps_[e.node.get()] == 0) ready.push(e.node.get());
      }
    }
    return captured_;
  }

 private:
  bool needed(Node* n) const { return needed_.count(n) > 0; }

  void accumulate(Node* node, uint32_t input_nr, const Tensor& grad) {
    auto& buf = buffers_[node];
    if (buf.size() < node->output_meta.size()) buf.resize(node->output_meta.size());
    Tensor& slot = buf[input_nr];
    if (!grad.defined()) return;
    slot = slot.defined() ? add(slot, grad) : grad;
  }

  // With captures, only nodes on a path to a capture run; otherwise everything reachable.
  void find_needed() {
    std::unordered_map<Node*, bool> memo;
    std::vector<std::pair<Node*, size_t>> stack;
    for (auto& root : roots_) {
      if (memo.count(root.get())) continue;
      stack.push_back({root.get(), 0});
      memo[root.get()] = false;
      while (!stack.empty()) {
        auto& [node, next] = stack.back();
        if (next < node->next_edges.size()) {
          Node* child = node->next_edges[next++].node.get();
          if (child && !memo.count(child)) {
            memo[child] = false;
            stack.push_back({child, 0});
          }
          continue;
        }
        bool need = !capture_only_ || captures_.count(node);
        if (capture_only_ && dynamic_cast<AccumulateGrad*>(node)) need = captures_.count(node) > 0;
        for (const Edge& e : node->next_edges) need = need || (e.node && memo[e.node.get()]);
        memo[node] = need;
        stack.pop_back();
      }
    }
    for (auto& [node, need] : memo)
      if (need) needed_.insert(node);
  }

  void count_dependencies() {
    for (Node* n : needed_)
      for (const Edge& e : n->next_edges)
        if (e.valid() && needed(e.node.get())) ++deps_[e.node.get()];
  }

  void execute(Node* node) {
    std::vector<Tensor> grads = std::move(buffers_[node]);
    buffers_.erase(node);
    grads.resize(node->output_meta.size());
    run_hooks(node, grads);
    if (auto it = captures_.find(node); it != captures_.end()) {
      for (const Capture& c : it->second) {
        Tensor g = grads[c.input_nr];
        if (auto* acc = dynamic_cast<AccumulateGrad*>(node)) g = run_leaf_hooks(acc->leaf, g);
        captured_[c.index] = captured_[c.index].defined() && g.defined() ? add(captured_[c.index], g) : g;
      }
      // Nothing further down the graph is wanted: the captured value is all we needed.
      bool more = false;
      for (const Edge& e : node->next_edges) more = more || (e.valid() && needed(e.node.get()));
      if (capture_only_ && !more) return;
    }
    bool any = false;
    for (const Tensor& g : grads) any = any || g.defined();
    if (!any) return;
    // Outputs that received no gradient contribute zeros.
    for (size_t i = 0; i < grads.size(); ++i)
      if (!grads[i].defined())
        grads[i] = zeros(node->output_meta[i].shape, {node->output_meta[i].dtype, node->output_meta[i].device});
    std::vector<Tensor> outputs;
    {
      GradModeGuard mode(create_graph_);
      NodeRange range(*node, grads);
      if (anomaly::enabled()) {
        anomaly::BackwardScope scope(node);
        outputs = node->apply(std::move(grads));
        anomaly::check_backward(*node, outputs);  // the backward NaN/Inf check
      } else {
        outputs = node->apply(std::move(grads));
      }
    }
    if (!keep_graph_) node->release_saved();
    if (dynamic_cast<AccumulateGrad*>(node)) return;
    LAMINA_CHECK(outputs.size() == node->next_edges.size(), "autograd: function ", node->name(), " returned ",
                 outputs.size(), " gradients, expected ", node->next_edges.size());
    for (size_t i = 0; i < outputs.size(); ++i) {
      const Edge& e = node->next_edges[i];
      if (!e.valid() || !needed(e.node.get()) || !outputs[i].defined()) continue;
      Tensor g = outputs[i];
      const TensorMeta& meta = node->input_meta[i];
      LAMINA_CHECK(g.shape() == meta.shape, "autograd: function ", node->name(),
                   " returned an invalid gradient at index ", i, " - got ", str(g.shape()),
                   " but expected shape compatible with ", str(meta.shape));
      if (g.dtype() != meta.dtype) {
        GradModeGuard mode(create_graph_);
        g = to(g, meta.dtype);
      }
      accumulate(e.node.get(), e.input_nr, g);
    }
  }

  static Tensor run_leaf_hooks(const Tensor& leaf, Tensor g) {
    auto* m = leaf.impl()->autograd();
    if (!m || !g.defined()) return g;
    return run_grad_hooks(m->hooks, std::move(g));
  }

  // Tensor hooks of non-leaf outputs, then retain_grad targets.
  void run_hooks(Node* node, std::vector<Tensor>& grads) {
    for (auto& [output_nr, hooks] : node->pre_hooks) {
      if (output_nr >= grads.size() || !grads[output_nr].defined()) continue;
      grads[output_nr] = run_grad_hooks(hooks, std::move(grads[output_nr]));
    }
    for (auto& [output_nr, weak] : node->retained) {
      auto impl = weak.lock();
      if (!impl || output_nr >= grads.size() || !grads[output_nr].defined()) continue;
      Tensor t(impl);
      Tensor g = create_graph_ ? grads[output_nr] : detach(grads[output_nr]);
      Tensor old = t.grad();
      t.set_grad(old.defined() ? add(old, g) : clone(g));
    }
  }

  bool keep_graph_, create_graph_, capture_only_;
  std::vector<std::shared_ptr<Node>> roots_, keep_alive_;
  std::unordered_map<Node*, std::vector<Tensor>> buffers_;
  std::unordered_map<Node*, std::vector<Capture>> captures_;
  std::unordered_set<Node*> needed_;
  std::unordered_map<Node*, int> deps_;
  std::vector<Tensor> captured_;
};

// The root gradients: given ones, or "ones" for one-element outputs.
void add_roots(GraphTask& task, const std::vector<Tensor>& tensors, const std::vector<Tensor>& grads,
               const char* api) {
  LAMINA_CHECK(grads.empty() || grads.size() == tensors.size(), api, ": got ", grads.size(),
               " gradients for ", tensors.size(), " tensors");
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    LAMINA_CHECK(t.defined(), api, ": tensor ", i, " is None");
    LAMINA_CHECK(t.requires_grad(), "element ", i, " of tensors does not require grad and does not have a grad_fn");
    Tensor g = i < grads.size() ? grads[i] : Tensor();
    if (!g.defined()) {
      LAMINA_CHECK(t.numel() == 1, "grad can be implicitly created only for scalar outputs (got a tensor of shape ",
                   str(t.shape()), ")");
      g = ones_like(t);
    } else {
      LAMINA_CHECK(g.shape() == t.shape(), "Mismatch in shape: grad_output[", i, "] has a shape of ", str(g.shape()),
                   " and output[", i, "] has a shape of ", str(t.shape()), ".");
    }
    task.add_root(gradient_edge(t), g);
  }
}

}  // namespace

void backward(const std::vector<Tensor>& tensors, const std::vector<Tensor>& grad_tensors, bool retain_graph,
              bool create_graph, const std::vector<Tensor>& inputs) {
  GraphTask task(retain_graph || create_graph, create_graph, !inputs.empty());
  add_roots(task, tensors, grad_tensors, "backward");
  // backward(inputs=...) accumulates only into the given leaves: capture there, then store.
  for (size_t i = 0; i < inputs.size(); ++i) {
    LAMINA_CHECK(inputs[i].requires_grad(), "backward: One of the differentiated Tensors does not require grad");
    task.add_capture(gradient_edge(inputs[i]), i);
  }
  std::vector<Tensor> captured = task.run(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!captured[i].defined()) continue;
    Tensor g = create_graph ? captured[i] : detach(captured[i]);
    Tensor old = inputs[i].grad();
    inputs[i].set_grad(old.defined() ? add(old, g) : (create_graph ? g : clone(g)));
  }
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs, bool retain_graph, bool create_graph,
                         bool allow_unused) {
  GraphTask task(retain_graph || create_graph, create_graph, true);
  add_roots(task, outputs, grad_outputs, "grad");
  for (size_t i = 0; i < inputs.size(); ++i) {
    LAMINA_CHECK(inputs[i].defined() && inputs[i].requires_grad(),
                 "grad: One of the differentiated Tensors does not require grad");
    task.add_capture(gradient_edge(inputs[i]), i);
  }
  std::vector<Tensor> result = task.run(inputs.size());
  for (size_t i = 0; i < result.size(); ++i) {
    LAMINA_CHECK(allow_unused || result[i].defined(),
                 "grad: One of the differentiated Tensors appears to not have been used in the graph. "
                 "Set allow_unused=True if this is the desired behavior.");
    if (result[i].defined() && !create_graph) result[i] = detach(result[i]);
  }
  return result;
}

}  // namespace lamina::autograd
