// numpy interop: .numpy() and lamina.from_numpy() share memory; lamina.tensor() copies.
#include <pybind11/numpy.h>

#include "bindings/common.h"

namespace lamina::bindings {

namespace {

py::dtype numpy_dtype(DType d) {
  switch (d) {
    case DType::Bool: return py::dtype::of<bool>();
    case DType::Int32: return py::dtype::of<int32_t>();
    case DType::Int64: return py::dtype::of<int64_t>();
    case DType::Float32: return py::dtype::of<float>();
    case DType::Float64: return py::dtype::of<double>();
  }
  return py::dtype::of<float>();
}

std::optional<DType> from_numpy_dtype(const py::dtype& dt) {
  if (dt.is(py::dtype::of<bool>()) || (dt.kind() == 'b')) return DType::Bool;
  if (dt.kind() == 'f' && dt.itemsize() == 4) return DType::Float32;
  if (dt.kind() == 'f' && dt.itemsize() == 8) return DType::Float64;
  if (dt.kind() == 'i' && dt.itemsize() == 4) return DType::Int32;
  if (dt.kind() == 'i' && dt.itemsize() == 8) return DType::Int64;
  return std::nullopt;
}

bool python_alive() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsInitialized() && !Py_IsFinalizing();
#else
  return Py_IsInitialized() && !_Py_IsFinalizing();
#endif
}

// Keeps `owner` alive as long as the storage; the release may run on any thread.
std::function<void()> release_python(py::object owner) {
  PyObject* raw = owner.release().ptr();
  return [raw] {
    if (!python_alive()) return;  // interpreter shutting down: leak rather than crash
    py::gil_scoped_acquire gil;
    Py_DECREF(raw);
  };
}

}  // namespace

py::array to_numpy(const Tensor& t) {
  LAMINA_CHECK(t.device().is_cpu(), "numpy: can't convert ", t.device().str(),
               " tensor to numpy. Use Tensor.cpu() to copy the tensor to host memory first.");
  LAMINA_CHECK(!t.requires_grad(), "numpy: Can't call numpy() on Tensor that requires grad. Use "
               "tensor.detach().numpy() instead.");
  std::vector<py::ssize_t> shape(t.shape().begin(), t.shape().end()), strides;
  for (int64_t s : t.strides()) strides.push_back(py::ssize_t(s * int64_t(t.itemsize())));
  auto* keep = new std::shared_ptr<Storage>(t.storage());
  py::capsule base(keep, [](void* p) { delete static_cast<std::shared_ptr<Storage>*>(p); });
  return py::array(numpy_dtype(t.dtype()), shape, strides, t.raw_data(), base);
}

Tensor from_numpy(py::handle obj) {
  LAMINA_CHECK_TYPE(py::isinstance<py::array>(obj), "from_numpy: expected np.ndarray (got ",
                    std::string(py::str(py::type::of(obj).attr("__name__"))), ")");
  py::array arr = py::reinterpret_borrow<py::array>(obj);
  auto dtype = from_numpy_dtype(arr.dtype());
  LAMINA_CHECK_TYPE(dtype.has_value(), "from_numpy: can't convert np.ndarray of type ",
                    std::string(py::str(arr.dtype())),
                    ". The only supported types are: float64, float32, int64, int32, and bool.");
  LAMINA_CHECK_TYPE(arr.dtype().attr("isnative").cast<bool>(), "from_numpy: non-native byte order is not supported");
  // Read-only memory (np.frombuffer over bytes, a read-only mmap) would crash on the first
  // in-place write: such arrays are copied instead of shared.
  if (!arr.writeable()) arr = py::array(arr.attr("copy")());
  Shape shape;
  Strides strides;
  int64_t extent = 0;
  size_t isz = itemsize(*dtype);
  for (py::ssize_t i = 0; i < arr.ndim(); ++i) {
    py::ssize_t s = arr.strides(i);
    LAMINA_CHECK_VALUE(s >= 0, "from_numpy: At least one stride in the given numpy array is negative, and tensors "
                       "with negative strides are not currently supported. (You can probably work around this by "
                       "making a copy of your array with array.copy().)");
    LAMINA_CHECK_VALUE(s % py::ssize_t(isz) == 0, "from_numpy: given numpy array strides not a multiple of the "
                       "element byte size. Copy the numpy array to reallocate the memory.");
    shape.push_back(arr.shape(i));
    strides.push_back(s / py::ssize_t(isz));
    extent += (arr.shape(i) - 1) * s;
  }
  check_shape(shape, isz, "from_numpy");
  size_t nbytes = numel(shape) == 0 ? 0 : size_t(extent) + isz;
  void* data = const_cast<void*>(arr.data());
  auto storage = Storage::borrow(data, nbytes, Device{}, release_python(arr));
  return Tensor(std::make_shared<TensorImpl>(std::move(storage), shape, strides, 0, *dtype));
}

Tensor tensor_from_data(py::handle data, std::optional<DType> dtype, Device device) {
  if (is_tensor(data)) {
    Tensor t = data.cast<Tensor>();
    return clone(detach(to(t, device, dtype.value_or(t.dtype()), false)));
  }
  py::module_ np = py::module_::import("numpy");
  bool was_array = py::isinstance<py::array>(data);
  py::array arr = np.attr("asarray")(data);
  py::dtype dt = arr.dtype();
  char kind = dt.kind();
  LAMINA_CHECK_TYPE(kind == 'b' || kind == 'i' || kind == 'u' || kind == 'f',
                    "tensor: could not infer dtype of ", std::string(py::str(py::type::of(data).attr("__name__"))),
                    " (numpy made it ", std::string(py::str(dt)), ")");
  // Python floats become the default float dtype and ints int64; numpy keeps its dtype where
  // lamina has it (other widths widen to the nearest supported type).
  DType inferred;
  if (kind == 'b') inferred = DType::Bool;
  else if (kind == 'f') inferred = (was_array && dt.itemsize() == 8) ? DType::Float64
                                   : was_array ? DType::Float32 : default_float_dtype();
  else inferred = (was_array && kind == 'i' && dt.itemsize() == 4) ? DType::Int32 : DType::Int64;
  if (!from_numpy_dtype(dt) || *from_numpy_dtype(dt) != inferred) arr = py::array(arr.attr("astype")(numpy_dtype(inferred)));
  arr = py::array(np.attr("asarray")(arr, py::arg("order") = "C"));  // ascontiguousarray turns 0-d into 1-d
  Tensor src = from_numpy(arr);
  DType target = dtype.value_or(inferred);
  return nogil([&] {
    Tensor out = make_tensor(src.shape(), target, device);
    copy_into(out, src);
    return out;
  });
}

void init_interop(py::module_& m, TensorClass& cls) {
  m.def("from_numpy", &from_numpy, py::arg("ndarray"), "A tensor sharing memory with a numpy array.");
  m.def("tensor", [](py::handle data, py::handle dtype, py::handle device, bool requires_grad) {
    Tensor t = tensor_from_data(data, parse_optional_dtype(dtype), parse_device(device));
    if (requires_grad) {
      LAMINA_CHECK(t.is_floating_point(), "only Tensors of floating point dtype can require gradients");
      t.set_requires_grad(true);
    }
    return t;
  }, py::arg("data"), py::kw_only(), py::arg("dtype") = py::none(), py::arg("device") = py::none(),
     py::arg("requires_grad") = false);
  m.def("as_tensor", [](py::handle data, py::handle dtype, py::handle device) {
    auto dt = parse_optional_dtype(dtype);
    Device dev = parse_device(device);
    if (is_tensor(data)) {
      Tensor t = data.cast<Tensor>();
      return to(t, dev, dt.value_or(t.dtype()), false);
    }
    if (py::isinstance<py::array>(data) && from_numpy_dtype(py::array(py::reinterpret_borrow<py::object>(data)).dtype())) {
      Tensor t = from_numpy(data);
      return to(t, dev, dt.value_or(t.dtype()), false);
    }
    return tensor_from_data(data, dt, dev);
  }, py::arg("data"), py::arg("dtype") = py::none(), py::arg("device") = py::none());
  cls.def("numpy", [](const Tensor& t, bool force) { return to_numpy(force ? detach(t) : t); },
          py::kw_only(), py::arg("force") = false);
  cls.def("__array__", [](const Tensor& t, py::handle dtype, py::handle copy) {
    py::array a = to_numpy(detach(t));
    if (!dtype.is_none()) a = py::array(a.attr("astype")(dtype));
    return a;
  }, py::arg("dtype") = py::none(), py::arg("copy") = py::none());
}

}  // namespace lamina::bindings
