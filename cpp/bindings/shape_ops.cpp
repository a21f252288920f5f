// flip, roll, repeat, tile, tril, triu as lamina.<op>(input, ...) and Tensor.<op>(...), with
// PyTorch's signatures: Tensor methods take sizes as varargs or one sequence (x.repeat(2, 3) or
// x.repeat((2, 3))). cat and stack are bound in ops.cpp.
#include "bindings/common.h"

namespace lamina::bindings {

namespace {

// An int or a sequence of ints (shifts=1 or shifts=(1, 2)).
std::vector<int64_t> int_or_ints(py::handle obj, const char* op, const char* what) {
  if (PyLong_Check(obj.ptr())) return {obj.cast<int64_t>()};
  LAMINA_CHECK_TYPE(!obj.is_none(), op, "(): argument '", what, "' must be an int or a tuple of ints, not None");
  return parse_shape_obj(obj, op);
}

// Method varargs: x.flip(0, 1) or x.flip((0, 1)); PyTorch requires at least one argument.
std::vector<int64_t> varargs_list(const py::args& args, const char* op, const char* what) {
  LAMINA_CHECK_TYPE(args.size() > 0, op, "() missing 1 required positional arguments: \"", what, "\"");
  return parse_shape(args, op);
}

using DimsFn = Tensor (*)(const Tensor&, const std::vector<int64_t>&);

// lamina.<name>(input, <what>) plus Tensor.<name>(*<what>).
void def_list_op(py::module_& m, TensorClass& cls, const char* name, const char* what, DimsFn f, bool module_fn) {
  if (module_fn) {
    m.def(name, [f, name, what](const Tensor& x, py::handle list) {
      std::vector<int64_t> v = int_or_ints(list, name, what);
      return nogil([&] { return f(x, v); });
    }, py::arg("input"), py::arg(what));
  }
  cls.def(name, [f, name, what](const Tensor& x, const py::args& args) {
    std::vector<int64_t> v = varargs_list(args, name, what);
    return nogil([&] { return f(x, v); });
  });
}

Tensor roll_any(const Tensor& x, py::handle shifts, py::handle dims) {
  std::vector<int64_t> s = int_or_ints(shifts, "roll", "shifts");
  std::vector<int64_t> d = dims.is_none() ? std::vector<int64_t>{} : int_or_ints(dims, "roll", "dims");
  return nogil([&] { return roll(x, s, d); });
}

}  // namespace

void init_shape_ops(py::module_& m, TensorClass& cls) {
  def_list_op(m, cls, "flip", "dims", &flip, true);
  def_list_op(m, cls, "tile", "dims", &tile, true);
  // Like PyTorch, repeat is a Tensor method only (numpy's np.repeat is repeat_interleave).
  def_list_op(m, cls, "repeat", "repeats", &repeat, false);
  def_op(m, cls, "roll", &roll_any, py::arg("shifts"), py::arg("dims") = py::none());
  def_op(m, cls, "tril", [](const Tensor& x, int64_t diagonal) { return nogil([&] { return tril(x, diagonal); }); },
         py::arg("diagonal") = 0);
  def_op(m, cls, "triu", [](const Tensor& x, int64_t diagonal) { return nogil([&] { return triu(x, diagonal); }); },
         py::arg("diagonal") = 0);
  cls.def("tril_", [](Tensor& x, int64_t diagonal) -> Tensor& {
    return nogil([&]() -> Tensor& { return tril_(x, diagonal); });
  }, py::arg("diagonal") = 0);
  cls.def("triu_", [](Tensor& x, int64_t diagonal) -> Tensor& {
    return nogil([&]() -> Tensor& { return triu_(x, diagonal); });
  }, py::arg("diagonal") = 0);
}

}  // namespace lamina::bindings
