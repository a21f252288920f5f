// The Tensor class: construction, properties, conversions and Python operators.
#include "bindings/common.h"

#include "lamina/autograd/engine.h"
#include "lamina/autograd/node.h"

namespace lamina::bindings {

namespace {

// Tensor(*args): alias of a tensor (detached), an uninitialized float tensor of a shape, or a
// float copy of data (the legacy torch.Tensor constructor).
std::shared_ptr<TensorImpl> construct(const py::args& args) {
  if (args.size() == 1 && is_tensor(args[0])) return detach(args[0].cast<Tensor>()).impl_ptr();
  if (args.size() == 0) return empty({0}).impl_ptr();
  if (args.size() == 1 && !PyLong_Check(args[0].ptr())) {
    py::handle a = args[0];
    bool is_shape = py::isinstance<py::tuple>(a) && py::len(a) > 0;
    for (auto x : py::iter(is_shape ? a : py::tuple())) is_shape = is_shape && PyLong_Check(x.ptr());
    if (!is_shape) return tensor_from_data(a, DType::Float32, Device{}).impl_ptr();
  }
  Shape shape = parse_shape(args, "Tensor");
  return empty(shape).impl_ptr();
}

Tensor operand(const Tensor& self, py::handle other, const char* op) { return to_operand(other, self.device(), op); }

// to(dtype), to(device), to(device, dtype), to(tensor), with keyword forms and copy=.
Tensor to_method(const Tensor& self, const py::args& args, const py::kwargs& kwargs) {
  Device device = self.device();
  DType dtype = self.dtype();
  bool copy = false;
  auto take = [&](py::handle a) {
    if (is_tensor(a)) {
      Tensor o = a.cast<Tensor>();
      device = o.device();
      dtype = o.dtype();
    } else if (py::isinstance<DType>(a) || a.ptr() == (PyObject*)&PyFloat_Type || a.ptr() == (PyObject*)&PyLong_Type ||
               a.ptr() == (PyObject*)&PyBool_Type) {
      dtype = parse_dtype(a);
    } else {
      device = parse_device(a);
    }
  };
  for (auto a : args) take(a);
  for (auto [k, v] : kwargs) {
    std::string key = py::str(k);
    if (key == "dtype") dtype = parse_dtype(v);
    else if (key == "device") device = parse_device(v);
    else if (key == "copy") copy = v.cast<bool>();
    else if (key == "non_blocking") continue;
    else throw TypeError("to() got an unexpected keyword argument '" + key + "'");
  }
  return nogil([&] { return to(self, device, dtype, copy); });
}

py::object item(const Tensor& self) {
  LAMINA_CHECK(self.numel() == 1, "a Tensor with ", self.numel(), " elements cannot be converted to Scalar");
  Tensor t = contiguous(to(detach(self), Device{}, self.dtype(), false));
  return dispatch(self.dtype(), [&](auto tag) -> py::object {
    using T = typename decltype(tag)::type;
    T v = *t.data<T>();
    if constexpr (std::is_same_v<T, bool>) return py::bool_(v);
    else if constexpr (std::is_floating_point_v<T>) return py::float_(double(v));
    else return py::int_(int64_t(v));
  });
}

// Tensor.data: an alias outside autograd with its own version counter, so optimizers may write
// through it without tripping saved-tensor checks (PyTorch semantics).
Tensor detach_data(const Tensor& t) {
  return Tensor(std::make_shared<TensorImpl>(t.storage(), t.shape(), t.strides(), t.offset(), t.dtype()));
}

void check_requires_grad_dtype(const Tensor& t, bool requires_grad) {
  LAMINA_CHECK(!requires_grad || t.is_floating_point(),
               "only Tensors of floating point dtype can require gradients (got ", dtype_name(t.dtype()), ")");
}

}  // namespace

void init_tensor(py::module_& m, TensorClass& cls) {
  cls.def(py::init(&construct))
      .def_property_readonly("shape", [](const Tensor& t) { return make_size(t.shape()); })
      .def_property_readonly("dtype", [](const Tensor& t) { return t.dtype(); })
      .def_property_readonly("device", [](const Tensor& t) { return t.device(); })
      .def_property_readonly("ndim", [](const Tensor& t) { return t.dim(); })
      .def_property_readonly("is_cuda", [](const Tensor& t) { return !t.device().is_cpu(); })
      .def_property_readonly("is_cpu", [](const Tensor& t) { return t.device().is_cpu(); })
      .def_property_readonly("itemsize", [](const Tensor& t) { return t.itemsize(); })
      .def_property_readonly("nbytes", [](const Tensor& t) { return size_t(t.numel()) * t.itemsize(); })
      .def_property_readonly("_version", [](const Tensor& t) { return t.version(); })
      .def_property_readonly("T", [](const Tensor& t) {
        std::vector<int64_t> perm;
        for (int64_t d = t.dim() - 1; d >= 0; --d) perm.push_back(d);
        return permute(t, perm);
      })
      .def_property_readonly("mT", &mT)
      .def("size", [](const Tensor& t, py::object dim) -> py::object {
        if (dim.is_none()) return make_size(t.shape());
        return py::int_(t.size(dim.cast<int64_t>()));
      }, py::arg("dim") = py::none())
      .def("stride", [](const Tensor& t, py::object dim) -> py::object {
        if (dim.is_none()) return py::tuple(py::cast(std::vector<int64_t>(t.strides())));  // a tuple, as PyTorch
        return py::int_(t.stride(dim.cast<int64_t>()));
      }, py::arg("dim") = py::none())
      .def("dim", [](const Tensor& t) { return t.dim(); })
      .def("ndimension", [](const Tensor& t) { return t.dim(); })
      .def("numel", [](const Tensor& t) { return t.numel(); })
      .def("nelement", [](const Tensor& t) { return t.numel(); })
      .def("element_size", [](const Tensor& t) { return t.itemsize(); })
      .def("storage_offset", [](const Tensor& t) { return t.offset(); })
      .def("data_ptr", [](const Tensor& t) { return reinterpret_cast<uintptr_t>(t.raw_data()); })
      .def("is_contiguous", [](const Tensor& t) { return t.is_contiguous(); })
      .def("is_floating_point", [](const Tensor& t) { return t.is_floating_point(); })
      .def("contiguous", [](const Tensor& t) { return nogil([&] { return contiguous(t); }); })
      .def("clone", [](const Tensor& t) { return nogil([&] { return clone(t); }); })
      .def("detach", &detach)
      .def("detach_", [](Tensor& t) -> Tensor& {
        LAMINA_CHECK(!t.impl()->view_base, "detach_: Can't detach views in-place. Use detach() instead.");
        t.impl()->clear_autograd();
        t.impl()->view_base = nullptr;
        return t;
      })
      .def("to", &to_method)
      .def("cpu", [](const Tensor& t) { return to(t, Device{}, t.dtype(), false); })
      .def("float", [](const Tensor& t) { return to(t, DType::Float32); })
      .def("double", [](const Tensor& t) { return to(t, DType::Float64); })
      .def("int", [](const Tensor& t) { return to(t, DType::Int32); })
      .def("long", [](const Tensor& t) { return to(t, DType::Int64); })
      .def("bool", [](const Tensor& t) { return to(t, DType::Bool); })
      .def("type_as", [](const Tensor& t, const Tensor& o) { return to(t, o.dtype()); }, py::arg("other"))
      .def("item", &item)
      .def("copy_", [](Tensor& t, py::handle src, bool /*non_blocking*/) -> Tensor& {
        Tensor s = operand(t, src, "copy_");
        return nogil([&]() -> Tensor& { return copy_(t, s); });
      }, py::arg("src"), py::arg("non_blocking") = false)
      .def("fill_", [](Tensor& t, py::handle v) -> Tensor& {
        if (is_tensor(v)) {
          Tensor vt = v.cast<Tensor>();
          LAMINA_CHECK(vt.dim() == 0, "fill_ only supports 0-dimension value tensor but got tensor with ",
                       vt.dim(), " dimensions.");
          return copy_(t, vt);
        }
        auto s = to_scalar(v);
        LAMINA_CHECK_TYPE(s.has_value(), "fill_: value must be a number or a 0-d tensor");
        return fill_(t, *s);
      }, py::arg("value"))
      .def("zero_", [](Tensor& t) -> Tensor& { return zero_(t); })
      // ---- autograd ----
      .def_property("requires_grad", [](const Tensor& t) { return autograd::current_grad_fn(t) != nullptr || t.requires_grad(); }, [](Tensor& t, bool r) {
        LAMINA_CHECK(t.is_leaf() || r, "you can only change requires_grad flags of leaf variables. If you want to "
                     "use a computed variable in a subgraph that doesn't require differentiation use "
                     "var_no_grad = var.detach().");
        check_requires_grad_dtype(t, r);
        t.set_requires_grad(r);
      })
      .def("requires_grad_", [](Tensor& t, bool r) -> Tensor& {
        LAMINA_CHECK(t.is_leaf() || r, "you can only change requires_grad flags of leaf variables.");
        check_requires_grad_dtype(t, r);
        t.set_requires_grad(r);
        return t;
      }, py::arg("requires_grad") = true)
      .def_property("grad", [](const Tensor& t) { return t.grad(); }, [](Tensor& t, py::object g) {
        if (g.is_none()) return t.set_grad(Tensor());
        Tensor gt = g.cast<Tensor>();
        LAMINA_CHECK(gt.shape() == t.shape(), "assigned grad has data of a different size: ", str(gt.shape()),
                     " vs ", str(t.shape()));
        LAMINA_CHECK(gt.dtype() == t.dtype(), "assigned grad has data of a different type: ", dtype_name(gt.dtype()),
                     " vs ", dtype_name(t.dtype()));
        t.set_grad(gt);
      })
      .def_property_readonly("is_leaf", [](const Tensor& t) { return t.is_leaf(); })
      .def_property_readonly("grad_fn", [](const Tensor& t) { return autograd::current_grad_fn(t); })
      .def_property_readonly("output_nr", [](const Tensor& t) { return t.output_nr(); })
      .def_property("data", &detach_data, [](Tensor& t, const Tensor& other) { t.impl()->set_data(*other.impl()); })
      .def("retain_grad", [](Tensor& t) {
        LAMINA_CHECK(t.requires_grad(), "can't retain_grad on Tensor that has requires_grad=False");
        if (t.is_leaf()) return;
        auto& m = t.impl()->ensure_autograd();
        m.retains_grad = true;
        m.grad_fn->retained[m.output_nr] = t.impl_ptr();
      })
      .def_property_readonly("retains_grad", [](const Tensor& t) {
        return t.impl()->autograd() && t.impl()->autograd()->retains_grad;
      })
      .def("backward", [](const Tensor& t, py::object gradient, py::object retain_graph, bool create_graph,
                          py::object inputs) {
        Tensor g = gradient.is_none() ? Tensor() : to_operand(gradient, t.device(), "backward");
        bool retain = retain_graph.is_none() ? create_graph : retain_graph.cast<bool>();
        std::vector<Tensor> in;
        if (!inputs.is_none()) in = is_tensor(inputs) ? std::vector<Tensor>{inputs.cast<Tensor>()}
                                                       : inputs.cast<std::vector<Tensor>>();
        nogil([&] {
          autograd::backward({t}, {g}, retain, create_graph, in);
          return 0;
        });
      }, py::arg("gradient") = py::none(), py::arg("retain_graph") = py::none(), py::arg("create_graph") = false,
         py::arg("inputs") = py::none())
      // ---- Python protocol ----
      .def("__len__", [](const Tensor& t) {
        LAMINA_CHECK_TYPE(t.dim() > 0, "len() of a 0-d tensor");
        return t.shape()[0];
      })
      .def("__bool__", [](const Tensor& t) {
        LAMINA_CHECK(t.numel() == 1, "Boolean value of Tensor with more than one value is ambiguous");
        return py::bool_(item(t));
      })
      .def("__float__", [](const Tensor& t) { return py::float_(item(t)); })
      .def("__int__", [](const Tensor& t) { return py::int_(item(t)); })
      .def("__index__", [](const Tensor& t) {
        LAMINA_CHECK_TYPE(is_integral(t.dtype(), true) && t.numel() == 1,
                          "only integer tensors of a single element can be converted to an index");
        return py::int_(item(t));
      })
      .def("__hash__", [](const Tensor& t) { return reinterpret_cast<intptr_t>(t.impl()); });
  (void)m;
}

}  // namespace lamina::bindings
