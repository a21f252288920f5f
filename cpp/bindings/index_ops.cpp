// The index-op family: gather/scatter, index_select/index_add, masked_fill/masked_select,
// nonzero, sort/argsort/topk, index_put, plus randperm and the op behind nn.functional.one_hot.
#include "bindings/common.h"

namespace lamina::bindings {

namespace {

// (values, indices) as a named tuple, like torch.return_types.sort / topk. The types are leaked:
// they must outlive the interpreter's teardown of this module.
py::object values_indices(const char* type_name, std::tuple<Tensor, Tensor> result) {
  auto make = [](const char* name) {
    return new py::object(py::module_::import("collections").attr("namedtuple")(name, "values indices"));
  };
  static py::object* sort_type = make("sort");
  static py::object* topk_type = make("topk");
  py::object& type = std::string(type_name) == "sort" ? *sort_type : *topk_type;
  return type(std::get<0>(result), std::get<1>(result));
}

// index_put's indices: a tuple or list of tensors (or None / index-like data).
std::vector<Tensor> parse_indices(py::handle obj, Device device) {
  LAMINA_CHECK_TYPE(py::isinstance<py::tuple>(obj) || py::isinstance<py::list>(obj),
                    "index_put: indices must be a tuple or list of tensors");
  std::vector<Tensor> out;
  for (auto h : obj) {
    if (h.is_none()) out.push_back(Tensor());
    else out.push_back(is_tensor(h) ? h.cast<Tensor>() : tensor_from_data(h, std::nullopt, device));
  }
  return out;
}

// scatter / scatter_ with a src tensor or a number, and reduce=None or 'add'.
Tensor scatter_any(Tensor& x, int64_t dim, const Tensor& index, py::handle src, py::handle value, py::handle reduce,
                   bool inplace) {
  const char* name = inplace ? "scatter_" : "scatter";
  py::handle v = src.is_none() ? value : src;
  LAMINA_CHECK_TYPE(!v.is_none(), name, ": expected a src tensor or a value");
  bool add = false;
  if (!reduce.is_none()) {
    std::string r = reduce.cast<std::string>();
    LAMINA_CHECK_VALUE(r == "add" || r == "multiply", name, ": reduce argument must be either add or multiply, got ", r);
    LAMINA_CHECK_AS(NotImplementedError, r == "add", name, ": reduce='multiply' is not supported");
    add = true;
  }
  Tensor s;
  if (is_tensor(v)) {
    s = v.cast<Tensor>();
  } else {
    auto number = to_scalar(v);
    LAMINA_CHECK_TYPE(number.has_value(), name, ": value must be a number or a tensor");
    if (!inplace && !add) return nogil([&] { return scatter(x, dim, index, *number); });
    s = full(index.shape(), *number, {x.dtype(), x.device()});
  }
  return nogil([&]() -> Tensor {
    if (inplace) return add ? scatter_add_(x, dim, index, s) : scatter_(x, dim, index, s);
    return add ? scatter_add(x, dim, index, s) : scatter(x, dim, index, s);
  });
}

}  // namespace

py::object nonzero_any(const Tensor& x, bool as_tuple) {
  if (!as_tuple) return py::cast(nogil([&] { return nonzero(x); }));
  // A 0-d input counts as 1-d here, as in PyTorch.
  Tensor nz = nogil([&] { return nonzero(x.dim() == 0 ? reshape(x, {1}) : x); });
  py::tuple out(size_t(nz.shape()[1]));
  for (int64_t j = 0; j < nz.shape()[1]; ++j) out[size_t(j)] = py::cast(select(nz, 1, j));
  return out;
}

void init_index_ops(py::module_& m, TensorClass& cls) {
  def_op(m, cls, "gather", [](const Tensor& x, int64_t dim, const Tensor& index, bool /*sparse_grad*/) {
    return nogil([&] { return gather(x, dim, index); });
  }, py::arg("dim"), py::arg("index"), py::kw_only(), py::arg("sparse_grad") = false);
  def_op(m, cls, "scatter", [](Tensor x, int64_t dim, const Tensor& index, py::handle src, py::handle value,
                               py::handle reduce) { return scatter_any(x, dim, index, src, value, reduce, false); },
         py::arg("dim"), py::arg("index"), py::arg("src") = py::none(), py::kw_only(), py::arg("value") = py::none(),
         py::arg("reduce") = py::none());
  cls.def("scatter_", [](Tensor& x, int64_t dim, const Tensor& index, py::handle src, py::handle value,
                         py::handle reduce) { return scatter_any(x, dim, index, src, value, reduce, true); },
          py::arg("dim"), py::arg("index"), py::arg("src") = py::none(), py::kw_only(), py::arg("value") = py::none(),
          py::arg("reduce") = py::none());
  def_op(m, cls, "scatter_add", [](const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
    return nogil([&] { return scatter_add(x, dim, index, src); });
  }, py::arg("dim"), py::arg("index"), py::arg("src"));
  cls.def("scatter_add_", [](Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) -> Tensor& {
    return nogil([&]() -> Tensor& { return scatter_add_(x, dim, index, src); });
  }, py::arg("dim"), py::arg("index"), py::arg("src"));

  def_op(m, cls, "index_select", [](const Tensor& x, int64_t dim, const Tensor& index) {
    return nogil([&] { return index_select(x, dim, index); });
  }, py::arg("dim"), py::arg("index"));
  def_op(m, cls, "index_add", [](const Tensor& x, int64_t dim, const Tensor& index, const Tensor& source, Scalar alpha) {
    return nogil([&] { return index_add(x, dim, index, source, alpha); });
  }, py::arg("dim"), py::arg("index"), py::arg("source"), py::kw_only(), py::arg("alpha") = Scalar(int64_t(1)));
  cls.def("index_add_", [](Tensor& x, int64_t dim, const Tensor& index, const Tensor& source, Scalar alpha) -> Tensor& {
    return nogil([&]() -> Tensor& { return index_add_(x, dim, index, source, alpha); });
  }, py::arg("dim"), py::arg("index"), py::arg("source"), py::kw_only(), py::arg("alpha") = Scalar(int64_t(1)));

  def_op(m, cls, "masked_fill", [](const Tensor& x, const Tensor& mask, py::handle value) {
    Tensor v = to_operand(value, x.device(), "masked_fill");
    return nogil([&] { return masked_fill(x, mask, v); });
  }, py::arg("mask"), py::arg("value"));
  cls.def("masked_fill_", [](Tensor& x, const Tensor& mask, py::handle value) -> Tensor& {
    Tensor v = to_operand(value, x.device(), "masked_fill_");
    return nogil([&]() -> Tensor& { return masked_fill_(x, mask, v); });
  }, py::arg("mask"), py::arg("value"));
  def_op(m, cls, "masked_select", [](const Tensor& x, const Tensor& mask) {
    return nogil([&] { return masked_select(x, mask); });
  }, py::arg("mask"));
  def_op(m, cls, "nonzero", &nonzero_any, py::kw_only(), py::arg("as_tuple") = false);

  def_op(m, cls, "sort", [](const Tensor& x, int64_t dim, bool descending, bool stable) {
    return values_indices("sort", nogil([&] { return sort(x, dim, descending, stable); }));
  }, py::arg("dim") = -1, py::arg("descending") = false, py::kw_only(), py::arg("stable") = false);
  def_op(m, cls, "argsort", [](const Tensor& x, int64_t dim, bool descending, bool stable) {
    return nogil([&] { return argsort(x, dim, descending, stable); });
  }, py::arg("dim") = -1, py::arg("descending") = false, py::arg("stable") = false);
  def_op(m, cls, "topk", [](const Tensor& x, int64_t k, int64_t dim, bool largest, bool sorted) {
    return values_indices("topk", nogil([&] { return topk(x, k, dim, largest, sorted); }));
  }, py::arg("k"), py::arg("dim") = -1, py::arg("largest") = true, py::arg("sorted") = true);

  def_op(m, cls, "index_put", [](const Tensor& x, py::handle indices, py::handle values, bool accumulate) {
    std::vector<Tensor> idx = parse_indices(indices, x.device());
    Tensor v = to_operand(values, x.device(), "index_put");
    return nogil([&] { return index_put(x, idx, v, accumulate); });
  }, py::arg("indices"), py::arg("values"), py::arg("accumulate") = false);
  cls.def("index_put_", [](Tensor& x, py::handle indices, py::handle values, bool accumulate) -> Tensor& {
    std::vector<Tensor> idx = parse_indices(indices, x.device());
    Tensor v = to_operand(values, x.device(), "index_put_");
    return nogil([&]() -> Tensor& { return index_put_(x, idx, v, accumulate); });
  }, py::arg("indices"), py::arg("values"), py::arg("accumulate") = false);

  m.def("_one_hot", [](const Tensor& x, int64_t num_classes) { return nogil([&] { return one_hot(x, num_classes); }); },
        py::arg("tensor"), py::arg("num_classes") = -1);
  m.def("randperm", [](int64_t n, Generator* gen, py::handle dtype, py::handle device, bool requires_grad,
                       py::handle /*layout*/, bool /*pin_memory*/) {
    TensorOptions options{parse_optional_dtype(dtype).value_or(DType::Int64), parse_device(device)};
    Tensor t = nogil([&] { return randperm(n, options, gen); });
    if (requires_grad) {
      LAMINA_CHECK(t.is_floating_point(), "only Tensors of floating point dtype can require gradients (got ",
                   dtype_name(t.dtype()), ")");
      t.set_requires_grad(true);
    }
    return t;
  }, py::arg("n"), py::kw_only(), py::arg("generator") = nullptr, py::arg("dtype") = py::none(),
     py::arg("device") = py::none(), py::arg("requires_grad") = false, py::arg("layout") = py::none(),
     py::arg("pin_memory") = false);
}

}  // namespace lamina::bindings
