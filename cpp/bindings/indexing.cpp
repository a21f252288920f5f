// Tensor.__getitem__ / __setitem__: Python index expressions become view ops (ints, slices,
// None, Ellipsis) followed, when tensors/lists/bool masks are present, by advanced indexing.
#include "bindings/common.h"

namespace lamina::bindings {

namespace {

struct ParsedIndex {
  Tensor view;                      // x after the basic (view) part of the index
  std::vector<Tensor> advanced;     // per dim of `view`: an index tensor or undefined
  bool has_advanced = false;
};

bool is_advanced(py::handle h) {
  return is_tensor(h) || py::isinstance<py::list>(h) || (py::hasattr(h, "__array__") && !PyLong_Check(h.ptr()) &&
                                                         !PyFloat_Check(h.ptr()) && py::hasattr(h, "shape"));
}

// Number of dims of x an index entry consumes.
int64_t consumed_dims(py::handle h) {
  if (h.is_none() || h.ptr() == Py_Ellipsis || PyBool_Check(h.ptr())) return 0;
  if (is_tensor(h)) {
    Tensor t = h.cast<Tensor>();
    return t.dtype() == DType::Bool ? std::max<int64_t>(t.dim(), 1) * (t.dim() > 0) : 1;
  }
  return 1;
}

Tensor index_tensor(py::handle h, Device device) {
  if (is_tensor(h)) return h.cast<Tensor>();
  Tensor t = tensor_from_data(h, std::nullopt, device);
  return t;
}

ParsedIndex parse(const Tensor& x, py::handle index) {
  py::tuple items = py::isinstance<py::tuple>(index) ? py::reinterpret_borrow<py::tuple>(index) : py::make_tuple(index);
  int64_t consumed = 0, ellipses = 0;
  for (auto h : items) {
    consumed += consumed_dims(h);
    ellipses += h.ptr() == Py_Ellipsis;
  }
  LAMINA_CHECK_INDEX(ellipses <= 1, "index: an index can only have a single ellipsis ('...')");
  LAMINA_CHECK_INDEX(consumed <= x.dim(), "index: too many indices for tensor of dimension ", x.dim());
  ParsedIndex p;
  p.view = x;
  int64_t dim = 0;
  std::vector<std::pair<int64_t, Tensor>> advanced;
  for (auto h : items) {
    PyObject* o = h.ptr();
    if (h.is_none()) {
      p.view = unsqueeze(p.view, dim++);
    } else if (o == Py_Ellipsis) {
      dim += x.dim() - consumed;
    } else if (PyBool_Check(o)) {
      p.view = unsqueeze(p.view, dim);
      if (o == Py_False) p.view = narrow(p.view, dim, 0, 0);
      ++dim;
    } else if (PyLong_Check(o) || (!is_tensor(h) && py::hasattr(h, "__index__") && !py::hasattr(h, "shape"))) {
      int64_t i = py::reinterpret_steal<py::object>(PyNumber_Index(o)).cast<int64_t>();
      p.view = select(p.view, dim, i);
    } else if (PySlice_Check(o)) {
      Py_ssize_t start, stop, step;
      LAMINA_CHECK_TYPE(PySlice_Unpack(o, &start, &stop, &step) == 0, "index: invalid slice");
      LAMINA_CHECK_VALUE(step > 0, "index: step must be greater than zero");
      p.view = slice(p.view, dim++, start, stop, step);
    } else if (is_advanced(h)) {
      Tensor t = index_tensor(h, x.device());
      advanced.push_back({dim, t});
      dim += t.dtype() == DType::Bool ? t.dim() : 1;
    } else {
      throw IndexError("index: only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables "
                       "are valid indices (got " + std::string(py::str(py::type::of(h).attr("__name__"))) + ")");
    }
  }
  if (!advanced.empty()) {
    p.has_advanced = true;
    p.advanced.assign(size_t(p.view.dim()), Tensor());
    for (auto& [d, t] : advanced) p.advanced[size_t(d)] = t;
  }
  return p;
}

}  // namespace

void init_indexing(py::module_& m, TensorClass& cls) {
  cls.def("__getitem__", [](const Tensor& x, py::handle index) {
    ParsedIndex p = parse(x, index);
    if (!p.has_advanced) return p.view;
    throw NotImplementedError("advanced indexing is not implemented yet");
  });
  cls.def("__setitem__", [](Tensor& x, py::handle index, py::handle value) {
    ParsedIndex p = parse(x, index);
    Tensor v = to_operand(value, x.device(), "__setitem__");
    if (!p.has_advanced) {
      nogil([&] { return copy_(p.view, v); });
      return;
    }
    throw NotImplementedError("advanced indexing is not implemented yet");
  });
  (void)m;
}

}  // namespace lamina::bindings
