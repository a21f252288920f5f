// Matrix products as lamina.<op>(...) and Tensor.<op>(...), the @ operator, einsum and the
// private _linear behind nn.functional.linear. The GIL is released for products big enough.
#include "bindings/common.h"

namespace lamina::bindings {

namespace {

// Multiply-adds of a @ b, roughly (broadcast batch dims counted once per operand).
int64_t product_work(const Tensor& a, const Tensor& b) {
  int64_t n = b.dim() >= 2 ? b.size(-1) : 1, m = a.dim() >= 2 ? a.size(-2) : 1;
  return std::max(a.numel() * n, b.numel() * m);
}

bool big(int64_t work) { return work >= 8 * kGilReleaseElements; }

using ProductFn = Tensor (*)(const Tensor&, const Tensor&);

void def_product(py::module_& m, TensorClass& cls, const char* name, ProductFn f, const char* doc) {
  auto run = [f](const Tensor& a, const Tensor& b) {
    return nogil_if(big(product_work(a, b)), [&] { return f(a, b); });
  };
  m.def(name, run, py::arg("input"), py::arg("other"), doc);
  cls.def(name, run, py::arg("other"), doc);
}

// lamina.einsum(equation, *operands) or lamina.einsum(equation, [operands]).
Tensor einsum_any(const std::string& equation, const py::args& args) {
  std::vector<Tensor> operands;
  if (args.size() == 1 && !is_tensor(args[0]) && py::isinstance<py::sequence>(args[0])) {
    for (py::handle h : args[0].cast<py::sequence>()) operands.push_back(h.cast<Tensor>());
  } else {
    for (py::handle h : args) {
      LAMINA_CHECK_TYPE(is_tensor(h), "einsum(): operands must be tensors, not ",
                        std::string(py::str(py::type::of(h).attr("__name__"))));
      operands.push_back(h.cast<Tensor>());
    }
  }
  int64_t work = 0;
  for (const Tensor& t : operands) work += t.numel();
  return nogil_if(big(work), [&] { return einsum(equation, operands); });
}

}  // namespace

void init_matmul(py::module_& m, TensorClass& cls) {
  def_product(m, cls, "matmul", &matmul, "Matrix product with PyTorch's broadcasting and 1-D rules.");
  def_product(m, cls, "mm", &mm, "(n, k) @ (k, m) -> (n, m).");
  def_product(m, cls, "bmm", &bmm, "(B, n, k) @ (B, k, m) -> (B, n, m).");
  def_product(m, cls, "dot", &dot, "Dot product of two 1-D tensors (a 0-d result).");
  def_product(m, cls, "mv", &mv, "(n, k) @ (k,) -> (n,).");
  def_product(m, cls, "outer", &outer, "(n,) x (m,) -> (n, m).");
  cls.def("__matmul__", [](const Tensor& a, py::handle b) -> py::object {
    if (!is_tensor(b)) return py::reinterpret_borrow<py::object>(Py_NotImplemented);
    Tensor y = b.cast<Tensor>();
    return py::cast(nogil_if(big(product_work(a, y)), [&] { return matmul(a, y); }));
  });
  cls.def("__rmatmul__", [](const Tensor& a, py::handle b) -> py::object {
    if (!is_tensor(b)) return py::reinterpret_borrow<py::object>(Py_NotImplemented);
    Tensor x = b.cast<Tensor>();
    return py::cast(nogil_if(big(product_work(x, a)), [&] { return matmul(x, a); }));
  });
  auto addmm_fn = [](const Tensor& input, const Tensor& a, const Tensor& b, Scalar beta, Scalar alpha) {
    return nogil_if(big(product_work(a, b)), [&] { return addmm(input, a, b, beta, alpha); });
  };
  m.def("addmm", addmm_fn, py::arg("input"), py::arg("mat1"), py::arg("mat2"), py::kw_only(),
        py::arg("beta") = Scalar(int64_t(1)), py::arg("alpha") = Scalar(int64_t(1)),
        "beta * input + alpha * (mat1 @ mat2).");
  cls.def("addmm", addmm_fn, py::arg("mat1"), py::arg("mat2"), py::kw_only(), py::arg("beta") = Scalar(int64_t(1)),
          py::arg("alpha") = Scalar(int64_t(1)));
  auto baddbmm_fn = [](const Tensor& input, const Tensor& a, const Tensor& b, Scalar beta, Scalar alpha) {
    return nogil_if(big(product_work(a, b)), [&] { return baddbmm(input, a, b, beta, alpha); });
  };
  m.def("baddbmm", baddbmm_fn, py::arg("input"), py::arg("batch1"), py::arg("batch2"), py::kw_only(),
        py::arg("beta") = Scalar(int64_t(1)), py::arg("alpha") = Scalar(int64_t(1)),
        "beta * input + alpha * (batch1 @ batch2), batched.");
  cls.def("baddbmm", baddbmm_fn, py::arg("batch1"), py::arg("batch2"), py::kw_only(),
          py::arg("beta") = Scalar(int64_t(1)), py::arg("alpha") = Scalar(int64_t(1)));
  m.def("einsum", &einsum_any, py::arg("equation"),
        "Einstein summation: einsum('bij,bjk->bik', a, b) or einsum(equation, [operands]).");
  m.def("_linear", [](const Tensor& input, const Tensor& weight, std::optional<Tensor> bias) {
    Tensor b = bias ? *bias : Tensor();
    return nogil_if(big(product_work(input, weight)), [&] { return linear(input, weight, b); });
  }, py::arg("input"), py::arg("weight"), py::arg("bias") = py::none(),
        "linear(input, weight, bias=None) -> input @ weight.T + bias\n\n"
        "input (*, in_features), weight (out_features, in_features), bias (out_features,) or None;\n"
        "returns (*, out_features). The bias is fused into the matrix product's store.");
}

}  // namespace lamina::bindings
