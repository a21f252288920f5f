// Autograd from Python: backward/grad, grad mode, grad_fn objects, tensor hooks, and the C++
// node behind lamina.autograd.Function (PyNode).
#include "bindings/common.h"

#include <atomic>

#include "lamina/autograd/anomaly.h"
#include "lamina/autograd/engine.h"
#include "lamina/autograd/node.h"

namespace lamina::bindings {

using autograd::Node;
using autograd::SavedTensor;

namespace {

// A Python object owned from C++ that may be destroyed on any thread: takes the GIL to let go.
class PyRef {
 public:
  explicit PyRef(py::object obj) : obj_(obj.release().ptr()) {}
  PyRef(const PyRef&) = delete;
  PyRef& operator=(const PyRef&) = delete;
  ~PyRef() {
    if (!obj_ || !python_alive()) return;
    py::gil_scoped_acquire gil;
    Py_DECREF(obj_);
  }
  py::handle get() const { return obj_; }

 private:
  PyObject* obj_;
};

std::atomic<int> g_next_hook_id{0};

// A Python callable as a gradient hook: called with the GIL, None means "keep the gradient".
autograd::GradHook python_hook(py::function fn) {
  auto ref = std::make_shared<PyRef>(std::move(fn));
  return [ref](const Tensor& grad) {
    py::gil_scoped_acquire gil;
    py::object r = ref->get()(grad);
    return r.is_none() ? Tensor() : r.cast<Tensor>();
  };
}

// The handle returned by register_hook.
struct HookHandle {
  std::weak_ptr<TensorImpl> leaf;   // leaf hooks live in the tensor's autograd meta
  std::weak_ptr<Node> node;         // non-leaf hooks live on the grad_fn
  uint32_t output_nr = 0;
  int id = 0;
  void remove() {
    if (auto t = leaf.lock()) {
      if (auto* m = t->autograd()) m->hooks.erase(id);
    }
    if (auto n = node.lock()) {
      auto it = n->pre_hooks.find(output_nr);
      if (it != n->pre_hooks.end()) it->second.erase(id);
    }
  }
};

HookHandle register_hook(Tensor& t, py::function fn) {
  LAMINA_CHECK(t.requires_grad(), "cannot register a hook on a tensor that doesn't require gradient");
  HookHandle h;
  h.id = g_next_hook_id.fetch_add(1);
  auto& m = t.impl()->ensure_autograd();
  if (m.grad_fn) {
    h.node = m.grad_fn;
    h.output_nr = m.output_nr;
    m.grad_fn->pre_hooks[m.output_nr][h.id] = python_hook(std::move(fn));
  } else {
    h.leaf = t.impl_ptr();
    m.hooks[h.id] = python_hook(std::move(fn));
  }
  return h;
}

// ---- custom Functions ----

// ctx of a lamina.autograd.Function: saved tensors (kept without cycles) plus user attributes.
struct FunctionCtx {
  std::vector<Tensor> to_save;          // from save_for_backward, until the node exists
  std::vector<SavedTensor> saved;       // after: registered with the node, released by backward
  std::weak_ptr<Node> node;
  bool saved_set = false;
  py::tuple needs_input_grad;
  std::vector<Tensor> non_differentiable;
  bool materialize_grads = true;
};

// What backward receives for one output of forward: the node's gradient for a differentiable
// tensor, zeros (or None without materialize_grads) for another tensor, None for a non-tensor.
struct OutputSlot {
  int node_output = -1;  // index among the node's outputs, -1 when not differentiable
  bool is_tensor = false;
  Shape shape;
  DType dtype = DType::Float32;
  Device device;
};

class PyNode : public Node {
 public:
  PyNode(py::object ctx, py::object backward, std::string name, std::vector<bool> is_tensor_arg)
      : ctx_(std::move(ctx)), backward_(std::move(backward)), name_(std::move(name)),
        is_tensor_arg_(std::move(is_tensor_arg)) {}
  std::string name() const override { return name_; }
  std::vector<OutputSlot> slots;  // one per output of forward, in order
  py::handle ctx() const { return ctx_.get(); }

  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    py::gil_scoped_acquire gil;
    const bool materialize = ctx_.get().cast<FunctionCtx&>().materialize_grads;
    py::tuple args(slots.size() + 1);  // backward takes one gradient per output of forward
    args[0] = ctx_.get();
    for (size_t i = 0; i < slots.size(); ++i) {
      const OutputSlot& s = slots[i];
      Tensor g = s.node_output >= 0 ? grads[size_t(s.node_output)] : Tensor();
      if (!g.defined() && s.is_tensor && materialize) g = zeros(s.shape, {s.dtype, s.device});
      args[i + 1] = py::cast(g);
    }
    py::object result = backward_.get()(*args);
    py::tuple out = py::isinstance<py::tuple>(result) ? py::reinterpret_borrow<py::tuple>(result) : py::make_tuple(result);
    LAMINA_CHECK(out.size() == is_tensor_arg_.size(), "function ", name_,
                 " returned an incorrect number of gradients (expected ", is_tensor_arg_.size(), ", got ",
                 out.size(), ")");
    std::vector<Tensor> grads_in;
    for (size_t i = 0; i < out.size(); ++i) {
      if (!is_tensor_arg_[i]) continue;
      grads_in.push_back(out[i].is_none() ? Tensor() : out[i].cast<Tensor>());
    }
    return grads_in;
  }

 private:
  PyRef ctx_, backward_;
  std::string name_;
  std::vector<bool> is_tensor_arg_;
};

// Python's cycle collector cannot see through C++: `ctx.out = out` in a custom Function makes
// ctx -> out -> TensorImpl -> PyNode -> ctx, which it would never free. A tensor therefore reports
// its grad_fn's ctx as one of its references, when it is the only owner of its impl and that impl
// the only owner of the node (as PyTorch does): then the reference is really the tensor's, and the
// collector's counts stay exact.
int tensor_traverse(PyObject* self, visitproc visit, void* arg) {
  Py_VISIT(Py_TYPE(self));
  if (PyObject** dict = _PyObject_GetDictPtr(self)) Py_VISIT(*dict);
  auto* inst = reinterpret_cast<py::detail::instance*>(self);
  py::detail::value_and_holder vh = inst->get_value_and_holder();
  if (!vh.holder_constructed()) return 0;
  const auto& impl = vh.holder<std::shared_ptr<TensorImpl>>();
  autograd::AutogradMeta* meta = impl ? impl->autograd() : nullptr;
  if (impl.use_count() != 1 || !meta || meta->grad_fn.use_count() != 1) return 0;
  if (auto* node = dynamic_cast<PyNode*>(meta->grad_fn.get())) Py_VISIT(node->ctx().ptr());
  return 0;
}

int tensor_clear(PyObject* self) {
  if (PyObject** dict = _PyObject_GetDictPtr(self)) Py_CLEAR(*dict);
  return 0;
}

// Called by Function.apply after forward ran under no_grad: wires outputs into the graph.
py::object function_finish(py::object ctx_obj, py::object backward, const std::string& name, py::tuple args,
                           py::object outputs) {
  FunctionCtx& ctx = ctx_obj.cast<FunctionCtx&>();
  bool tuple_out = py::isinstance<py::tuple>(outputs);
  py::tuple outs = tuple_out ? py::reinterpret_borrow<py::tuple>(outputs) : py::make_tuple(outputs);
  std::vector<bool> is_tensor_arg;
  std::vector<Tensor> inputs;
  for (auto a : args) {
    is_tensor_arg.push_back(is_tensor(a));
    if (is_tensor(a)) inputs.push_back(a.cast<Tensor>());
  }
  bool record = false;
  for (const Tensor& t : inputs) record = record || autograd::needs_grad(t);
  std::shared_ptr<PyNode> pynode;
  if (record) {
    pynode = std::make_shared<PyNode>(ctx_obj, backward, name, is_tensor_arg);
    for (const Tensor& t : inputs) pynode->add_input(t);
  }
  py::list result;
  std::vector<Tensor> out_tensors;
  std::vector<OutputSlot> slots;
  for (auto o : outs) {
    slots.emplace_back();
    if (!is_tensor(o)) {
      result.append(o);
      continue;
    }
    Tensor t = o.cast<Tensor>();
    // An input returned as-is becomes a fresh alias, so its own history is left untouched.
    for (const Tensor& in : inputs)
      if (in.is_same(t)) t = make_view(t, t.shape(), t.strides(), t.offset());
    bool differentiable = t.is_floating_point();
    for (const Tensor& nd : ctx.non_differentiable) differentiable = differentiable && !nd.is_same(t);
    OutputSlot& slot = slots.back();
    slot.is_tensor = true, slot.shape = t.shape(), slot.dtype = t.dtype(), slot.device = t.device();
    if (pynode && differentiable) {
      t.impl()->clear_autograd();
      slot.node_output = int(pynode->output_meta.size());
      autograd::set_history(t, pynode);
    }
    out_tensors.push_back(t);
    result.append(py::cast(t));
  }
  // Saved tensors that are outputs are stored without their grad_fn (no cycle through ctx).
  ctx.saved.resize(ctx.to_save.size());
  for (size_t i = 0; i < ctx.to_save.size(); ++i) {
    Tensor s = ctx.to_save[i];
    bool is_output = false;
    for (const Tensor& o : out_tensors)
      if (s.defined() && o.shares_storage(s) && o.shape() == s.shape() && o.strides() == s.strides() &&
          o.offset() == s.offset() && pynode && o.grad_fn().get() == pynode.get()) {
        s = o;
        is_output = true;
      }
    if (pynode) pynode->save(ctx.saved[i], s, is_output);
    else ctx.saved[i].save(s, false);
  }
  if (pynode) pynode->slots = std::move(slots);
  ctx.to_save.clear();
  ctx.saved_set = true;
  ctx.node = pynode;
  if (!tuple_out) return result[0];
  return py::tuple(result);
}

}  // namespace

void setup_tensor_gc(PyHeapTypeObject* heap_type) {
  PyTypeObject* type = &heap_type->ht_type;
  type->tp_flags |= Py_TPFLAGS_HAVE_GC;
  type->tp_traverse = tensor_traverse;
  type->tp_clear = tensor_clear;
}

void init_autograd(py::module_& m, TensorClass& cls) {
  py::class_<Node, std::shared_ptr<Node>>(m, "Node", "A backward function in the autograd graph (Tensor.grad_fn).")
      .def("name", &Node::name)
      .def_property_readonly("next_functions", [](const Node& n) {
        py::tuple t(n.next_edges.size());
        for (size_t i = 0; i < n.next_edges.size(); ++i)
          t[i] = py::make_tuple(n.next_edges[i].node ? py::cast(n.next_edges[i].node) : py::none(),
                                n.next_edges[i].input_nr);
        return t;
      })
      .def("__repr__", [](const Node& n) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%p", static_cast<const void*>(&n));
        return "<" + n.name() + " object at " + buf + ">";
      });

  py::class_<HookHandle>(m, "RemovableHandle").def("remove", &HookHandle::remove);
  cls.def("register_hook", &register_hook, py::arg("hook"));

  m.def("is_grad_enabled", &autograd::GradMode::is_enabled);
  m.def("_set_grad_enabled", &autograd::GradMode::set_enabled, py::arg("mode"));

  m.def("_backward", [](const std::vector<Tensor>& tensors, py::list grads, bool retain_graph, bool create_graph,
                        const std::vector<Tensor>& inputs) {
    std::vector<Tensor> g;
    for (size_t i = 0; i < grads.size(); ++i)
      g.push_back(grads[i].is_none() ? Tensor() : to_operand(grads[i], tensors.at(i).device(), "backward"));
    nogil([&] {
      autograd::backward(tensors, g, retain_graph, create_graph, inputs);
      return 0;
    });
  });
  m.def("_grad", [](const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs, py::list grads,
                    bool retain_graph, bool create_graph, bool allow_unused) {
    std::vector<Tensor> g;
    for (size_t i = 0; i < grads.size(); ++i)
      g.push_back(grads[i].is_none() ? Tensor() : to_operand(grads[i], outputs.at(i).device(), "grad"));
    auto result = nogil([&] { return autograd::grad(outputs, inputs, g, retain_graph, create_graph, allow_unused); });
    py::tuple t(result.size());
    for (size_t i = 0; i < result.size(); ++i) t[i] = py::cast(result[i]);
    return t;
  });

  py::class_<FunctionCtx>(m, "FunctionCtx", py::dynamic_attr())
      .def(py::init<>())
      .def("save_for_backward", [](FunctionCtx& c, py::args tensors) {
        LAMINA_CHECK(!c.saved_set, "save_for_backward can only be called from forward");
        c.to_save.clear();
        for (auto t : tensors) c.to_save.push_back(t.is_none() ? Tensor() : t.cast<Tensor>());
      })
      .def_property_readonly("saved_tensors", [](FunctionCtx& c) {
        py::tuple out(c.saved.size());
        auto node = c.node.lock();
        for (size_t i = 0; i < c.saved.size(); ++i)
          out[i] = py::cast(c.saved[i].unpack(node, node ? node->name() : "Function"));
        return out;
      })
      .def("mark_non_differentiable", [](FunctionCtx& c, py::args tensors) {
        for (auto t : tensors) c.non_differentiable.push_back(t.cast<Tensor>());
      })
      .def("set_materialize_grads", [](FunctionCtx& c, bool v) { c.materialize_grads = v; })
      .def_readwrite("needs_input_grad", &FunctionCtx::needs_input_grad);
  m.def("_function_finish", &function_finish);
  m.def("_live_tensors", &TensorImpl::live_count, "Live C++ tensors (leak tests).");
  m.def("_live_nodes", &Node::live_count, "Live autograd nodes (leak tests).");
  // Anomaly mode (lamina.autograd.detect_anomaly); the module stack is pushed by Module.__call__.
  m.def("_set_anomaly_enabled", &autograd::anomaly::set_enabled, py::arg("enabled"), py::arg("check_nan") = true);
  m.def("_is_anomaly_enabled", &autograd::anomaly::enabled);
  m.def("_is_anomaly_check_nan_enabled", &autograd::anomaly::check_nan_enabled);
  m.def("_anomaly_push_module", &autograd::anomaly::push_module);
  m.def("_anomaly_pop_module", &autograd::anomaly::pop_module);
}

}  // namespace lamina::bindings
