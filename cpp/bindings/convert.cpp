// Argument conversion from Python objects to lamina types.
#include <cmath>

#include "bindings/common.h"

namespace pybind11::detail {

bool type_caster<lamina::Scalar>::load(handle src, bool) {
  auto s = lamina::bindings::to_scalar(src);
  if (!s) return false;
  value = *s;
  return true;
}

}  // namespace pybind11::detail

namespace lamina::bindings {

namespace {
py::object* g_size_type = new py::object();  // leaked: must not be released after Python shuts down
}

bool is_tensor(py::handle obj) {
  static py::handle tensor_type = py::type::of<TensorImpl>();
  PyTypeObject* type = Py_TYPE(obj.ptr());
  return type == reinterpret_cast<PyTypeObject*>(tensor_type.ptr()) ||
         PyType_IsSubtype(type, reinterpret_cast<PyTypeObject*>(tensor_type.ptr()));
}

std::optional<Scalar> to_scalar(py::handle obj) {
  PyObject* p = obj.ptr();
  if (PyBool_Check(p)) return Scalar(p == Py_True);
  if (PyLong_Check(p)) {
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(p, &overflow);
    if (overflow) throw TypeError("value cannot be converted to type int64 without overflow");
    return Scalar(int64_t(v));
  }
  if (PyFloat_Check(p)) return Scalar(PyFloat_AS_DOUBLE(p));
  // numpy scalars and other number-likes
  if (py::hasattr(obj, "dtype") && py::hasattr(obj, "item") && !is_tensor(obj)) {
    py::object shape = obj.attr("shape");
    if (py::len(shape) == 0) return to_scalar(obj.attr("item")());
  }
  return std::nullopt;
}

Tensor to_operand(py::handle obj, Device device, const char* op) {
  if (is_tensor(obj)) return obj.cast<Tensor>();
  if (auto s = to_scalar(obj)) return wrapped_scalar(*s, device);
  throw TypeError(std::string(op) + ": unsupported operand type " + std::string(py::str(py::type::of(obj).attr("__name__"))));
}

int64_t index_value(py::handle obj) {
  PyObject* index = PyNumber_Index(obj.ptr());
  if (!index) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(index).cast<int64_t>();
}

std::vector<int64_t> parse_dims(py::handle obj, const char* op) {
  if (obj.is_none()) return {};
  if (PyLong_Check(obj.ptr())) return {obj.cast<int64_t>()};
  if (py::isinstance<py::sequence>(obj) && !py::isinstance<py::str>(obj)) {
    std::vector<int64_t> dims;
    for (auto d : obj) {
      LAMINA_CHECK_TYPE(PyLong_Check(d.ptr()), op, ": dim must be an int or a sequence of ints");
      dims.push_back(d.cast<int64_t>());
    }
    return dims;
  }
  throw TypeError(std::string(op) + ": dim must be an int, a sequence of ints or None");
}

Shape parse_shape_obj(py::handle obj, const char* op) {
  Shape shape;
  if (PyLong_Check(obj.ptr())) return {obj.cast<int64_t>()};
  LAMINA_CHECK_TYPE(py::isinstance<py::sequence>(obj) && !py::isinstance<py::str>(obj), op,
                    ": size must be a sequence of ints");
  for (auto d : obj) {
    if (!PyLong_Check(d.ptr()) && py::hasattr(d, "__index__")) {
      shape.push_back(index_value(d));
      continue;
    }
    LAMINA_CHECK_TYPE(PyLong_Check(d.ptr()), op, ": size must contain ints, got ",
                      std::string(py::str(py::type::of(d).attr("__name__"))));
    shape.push_back(d.cast<int64_t>());
  }
  return shape;
}

Shape parse_shape(const py::args& args, const char* op) {
  if (args.size() == 1 && !PyLong_Check(args[0].ptr())) return parse_shape_obj(args[0], op);
  return parse_shape_obj(args, op);
}

DType parse_dtype(py::handle obj) {
  if (py::isinstance<DType>(obj)) return obj.cast<DType>();
  if (obj.ptr() == reinterpret_cast<PyObject*>(&PyFloat_Type)) return DType::Float64;
  if (obj.ptr() == reinterpret_cast<PyObject*>(&PyLong_Type)) return DType::Int64;
  if (obj.ptr() == reinterpret_cast<PyObject*>(&PyBool_Type)) return DType::Bool;
  throw TypeError("dtype must be a lamina.dtype, got " + std::string(py::str(obj)));
}

std::optional<DType> parse_optional_dtype(py::handle obj) {
  if (obj.is_none()) return std::nullopt;
  return parse_dtype(obj);
}

Device parse_device(py::handle obj) {
  if (obj.is_none()) return Device{};
  if (py::isinstance<Device>(obj)) return obj.cast<Device>();
  if (py::isinstance<py::str>(obj)) return Device::parse(obj.cast<std::string>());
  throw TypeError("device must be a string or lamina.device, got " + std::string(py::str(obj)));
}

py::object make_size(const Shape& shape) {
  py::tuple t(shape.size());
  for (size_t i = 0; i < shape.size(); ++i) t[i] = py::int_(shape[i]);
  return *g_size_type ? (*g_size_type)(t) : py::object(t);
}

void register_size_type(py::object type) { *g_size_type = std::move(type); }

}  // namespace lamina::bindings
