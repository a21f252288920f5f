// Shared by the binding files: the Tensor <-> Python conversion, argument parsers and the
// helpers that register an op as both lamina.<op>(input, ...) and Tensor.<op>(...).
// Bindings convert arguments and release the GIL around C++ work; they do no math.
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

#include "lamina/ops/ops.h"

namespace py = pybind11;

namespace pybind11::detail {

// A lamina::Tensor travels as its shared TensorImpl: the same impl maps back to the same live
// Python object, and Python subclasses (nn.Parameter) keep their type.
template <>
struct type_caster<lamina::Tensor> {
  using ImplCaster = copyable_holder_caster<lamina::TensorImpl, std::shared_ptr<lamina::TensorImpl>>;

 public:
  PYBIND11_TYPE_CASTER(lamina::Tensor, const_name("Tensor"));
  bool load(handle src, bool convert) {
    if (src.is_none()) return false;
    ImplCaster impl;
    if (!impl.load(src, convert)) return false;
    value = lamina::Tensor(static_cast<std::shared_ptr<lamina::TensorImpl>&>(impl));
    return true;
  }
  static handle cast(const lamina::Tensor& t, return_value_policy, handle parent) {
    if (!t.defined()) return none().release();
    return ImplCaster::cast(t.impl_ptr(), return_value_policy::take_ownership, parent);
  }
};

// Python bool / int / float (and numpy scalars) as lamina::Scalar.
template <>
struct type_caster<lamina::Scalar> {
 public:
  PYBIND11_TYPE_CASTER(lamina::Scalar, const_name("Number"));
  bool load(handle src, bool convert);
  static handle cast(const lamina::Scalar& s, return_value_policy, handle) {
    if (s.is_bool()) return bool_(s.to_int() != 0).release();
    if (s.is_float()) return float_(s.to_double()).release();
    return int_(s.to_int()).release();
  }
};

}  // namespace pybind11::detail

namespace lamina::bindings {

using TensorClass = py::class_<TensorImpl, std::shared_ptr<TensorImpl>>;

// Runs f with the GIL released (kernels may take a while; other Python threads keep going).
template <class F>
decltype(auto) nogil(F&& f) {
  py::gil_scoped_release release;
  return f();
}

// Elementwise work below this many elements takes less time than releasing and re-taking the
// GIL, so the hot operator bindings keep it for tiny tensors (per-op overhead).
constexpr int64_t kGilReleaseElements = 16384;
// Elements of the broadcast of a and b (an upper bound of the work of an elementwise op).
inline int64_t broadcast_numel(const Tensor& a, const Tensor& b) {
  int64_t n = 1;
  for (int64_t i = 1; i <= std::max(a.dim(), b.dim()); ++i) {
    int64_t da = i <= a.dim() ? a.shape()[size_t(a.dim() - i)] : 1, db = i <= b.dim() ? b.shape()[size_t(b.dim() - i)] : 1;
    n *= std::max(da, db);
  }
  return n;
}
// nogil(f) when the op is big enough to be worth it, f() otherwise.
template <class F>
decltype(auto) nogil_if(bool big, F&& f) {
  if (big) return nogil(std::forward<F>(f));
  return f();
}

// False once the interpreter is finalizing: releasing a Python object then would crash, so storage
// deleters that hold one leak it instead.
inline bool python_alive() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsInitialized() && !Py_IsFinalizing();
#else
  return Py_IsInitialized() && !_Py_IsFinalizing();
#endif
}

// A Tensor or Python number as an op operand (numbers become wrapped 0-d tensors on `device`).
Tensor to_operand(py::handle obj, Device device, const char* op);
bool is_tensor(py::handle obj);
std::optional<Scalar> to_scalar(py::handle obj);
// obj.__index__() as int64 (TypeError / OverflowError otherwise).
int64_t index_value(py::handle obj);
// None -> {} (all dims); int -> {d}; sequence -> list.
std::vector<int64_t> parse_dims(py::handle obj, const char* op);
// *size or a single sequence of ints.
Shape parse_shape(const py::args& args, const char* op);
Shape parse_shape_obj(py::handle obj, const char* op);
DType parse_dtype(py::handle obj);
std::optional<DType> parse_optional_dtype(py::handle obj);
Device parse_device(py::handle obj);
// Builds a tensor from Python data (lists, numbers, numpy arrays, tensors): lamina.tensor().
Tensor tensor_from_data(py::handle data, std::optional<DType> dtype, Device device);
// nonzero(x, as_tuple): a tensor of index rows, or a tuple of one index tensor per dim.
py::object nonzero_any(const Tensor& x, bool as_tuple);
// The Python class Size (a tuple subclass), registered by lamina/__init__.py.
py::object make_size(const Shape& shape);

// Registers `f(const Tensor& self, args...)` as lamina.<name>(input, ...) and Tensor.<name>.
template <class F, class... Extra>
void def_op(py::module_& m, TensorClass& cls, const char* name, F&& f, const Extra&... extra) {
  m.def(name, f, py::arg("input"), extra...);
  cls.def(name, std::forward<F>(f), extra...);
}

// Makes the Tensor type visible to Python's cycle collector through custom Functions' ctx.
void setup_tensor_gc(PyHeapTypeObject* heap_type);

void init_dtype_device(py::module_& m);
void init_tensor(py::module_& m, TensorClass& cls);
void init_ops(py::module_& m, TensorClass& cls);
void init_indexing(py::module_& m, TensorClass& cls);
void init_index_ops(py::module_& m, TensorClass& cls);
void init_autograd(py::module_& m, TensorClass& cls);
void init_interop(py::module_& m, TensorClass& cls);
void init_dlpack(py::module_& m, TensorClass& cls);
void init_shape_ops(py::module_& m, TensorClass& cls);
void init_random(py::module_& m, TensorClass& cls);
void init_creation(py::module_& m);
void init_runtime(py::module_& m);
void init_pool(py::module_& m);
void init_matmul(py::module_& m, TensorClass& cls);
void init_optim(py::module_& m);
void init_nn_ops(py::module_& m, TensorClass& cls);
void init_gemm_testing(py::module_& m);
void init_conv(py::module_& m);
void init_rnn(py::module_& m);
void init_profiler(py::module_& m);

}  // namespace lamina::bindings
