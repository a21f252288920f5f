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
  t.storage()->mark_exported();  // the array must stay valid if share_memory_ moves the storage
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

namespace {

// Maps a numpy dtype to lamina's, widening the widths lamina lacks (float16 -> float32, small
// ints -> int32, uint32/uint64 -> int64); nullopt for non-numbers (strings, objects, complex).
std::optional<DType> widened_dtype(const py::dtype& dt) {
  char kind = dt.kind();
  if (kind == 'b') return DType::Bool;
  if (kind == 'f') return dt.itemsize() == 8 ? DType::Float64 : DType::Float32;
  if (kind == 'i' || kind == 'u') return dt.itemsize() < 4 || (kind == 'i' && dt.itemsize() == 4) ? DType::Int32 : DType::Int64;
  return std::nullopt;
}

// PyTorch's dtype inference for Python data, with a shape check on nested sequences: Python
// floats give the default float dtype, ints int64, bools bool; numpy scalars/arrays and tensors
// keep their dtype; sequences promote over their items.
struct DataWalk {
  Shape shape;
  size_t leaf_depth = SIZE_MAX;  // depth of the scalars (or arrays); SIZE_MAX until one is seen
  std::optional<DType> dtype;
  bool int_overflow = false;

  void promote(DType d) { dtype = dtype ? promote_types(*dtype, d) : d; }

  // A leaf at `depth` whose own dims are `sub` (empty for a scalar); an array counts as the
  // nested sequences it holds, so its scalars sit at depth + sub.size().
  void leaf(size_t depth, const Shape& sub) {
    size_t end = depth + sub.size();
    bool ok;
    if (leaf_depth == SIZE_MAX) {
      ok = shape.size() == depth;  // else an empty sibling sequence already claimed this dim
      shape.insert(shape.end(), sub.begin(), sub.end());
      leaf_depth = end;
    } else {
      ok = end == leaf_depth && std::equal(sub.begin(), sub.end(), shape.begin() + long(depth));
    }
    LAMINA_CHECK_VALUE(ok, "tensor: expected sequence of length ", depth < shape.size() ? shape[depth] : 0,
                       " at dim ", depth, " (got ", sub.empty() ? std::string("a scalar") : "an array of shape " +
                       shape_string(sub), ")");
  }

  void sequence(size_t depth, int64_t n) {
    if (depth == shape.size() && leaf_depth == SIZE_MAX) {
      shape.push_back(n);
      return;
    }
    LAMINA_CHECK_VALUE(depth < shape.size() && depth < leaf_depth, "tensor: expected a scalar at dim ", depth,
                       " (got a sequence of length ", n, ")");
    LAMINA_CHECK_VALUE(shape[depth] == n, "tensor: expected sequence of length ", shape[depth], " at dim ", depth,
                       " (got ", n, ")");
  }

  void visit(py::handle obj, size_t depth) {
    LAMINA_CHECK_VALUE(depth <= size_t(kMaxDims), "tensor: data is nested deeper than ", kMaxDims, " dims");
    PyObject* p = obj.ptr();
    // Exact Python numbers first: the common case, and np.float64 subclasses float.
    if (PyBool_Check(p)) return leaf(depth, {}), promote(DType::Bool);
    if (PyFloat_CheckExact(p)) return leaf(depth, {}), promote(default_float_dtype());
    if (PyLong_CheckExact(p)) {
      int overflow = 0;
      PyLong_AsLongLongAndOverflow(p, &overflow);
      int_overflow |= overflow != 0;
      return leaf(depth, {}), promote(DType::Int64);
    }
    if (is_tensor(obj)) {
      Tensor t = obj.cast<Tensor>();
      return leaf(depth, t.shape()), promote(t.dtype());
    }
    if (py::isinstance<py::array>(obj) || py::hasattr(obj, "dtype")) {  // ndarray or numpy scalar
      py::array a = py::array::ensure(obj);
      if (a) {
        auto d = widened_dtype(a.dtype());
        LAMINA_CHECK_TYPE(d.has_value(), "tensor: can't convert numpy data of type ", std::string(py::str(a.dtype())));
        return leaf(depth, Shape(a.shape(), a.shape() + a.ndim())), promote(*d);
      }
      PyErr_Clear();
    }
    LAMINA_CHECK_TYPE(!PyUnicode_Check(p) && !PyBytes_Check(p), "tensor: invalid data type '",
                      std::string(py::str(py::type::of(obj).attr("__name__"))), "'");
    if (!PySequence_Check(p)) {
      if (auto s = to_scalar(obj)) return leaf(depth, {}), promote(s->dtype());  // other number-likes
      throw Error("tensor: Could not infer dtype of " + std::string(py::str(py::type::of(obj).attr("__name__"))));
    }
    py::object fast = py::reinterpret_steal<py::object>(PySequence_Fast(p, "tensor: expected a sequence"));
    if (!fast) throw py::error_already_set();
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast.ptr());
    sequence(depth, int64_t(n));
    PyObject** items = PySequence_Fast_ITEMS(fast.ptr());
    for (Py_ssize_t i = 0; i < n; ++i) visit(items[i], depth + 1);
  }
};

// PyTorch converts each Python number to an integer dtype with a range check: tensor([2**40],
// dtype=int32) and tensor([nan], dtype=int64) raise instead of wrapping.
void check_int_range(const py::module_& np, const py::array& arr, DType target) {
  py::object info = np.attr("iinfo")(numpy_dtype(target));
  py::object lo = info.attr("min"), hi = info.attr("max"), bad;
  if (arr.dtype().kind() == 'f') {  // [lo, hi + 1) in floats: hi + 1 is a power of two, exact
    py::object limit = py::float_(hi.cast<double>() + 1.0);
    bad = np.attr("logical_not")(np.attr("isfinite")(arr)) | np.attr("less")(arr, py::float_(lo.cast<double>())) |
          np.attr("greater_equal")(arr, limit);
  } else if (arr.dtype().kind() == 'i' || arr.dtype().kind() == 'u') {
    bad = np.attr("less")(arr, lo) | np.attr("greater")(arr, hi);
  } else {
    return;
  }
  LAMINA_CHECK(!np.attr("any")(bad).cast<bool>(), "tensor: value cannot be converted to type ", dtype_name(target),
               " without overflow");
}

}  // namespace

Tensor tensor_from_data(py::handle data, std::optional<DType> dtype, Device device) {
  if (is_tensor(data)) {
    Tensor t = data.cast<Tensor>();
    return clone(detach(to(t, device, dtype.value_or(t.dtype()), false)));
  }
  DataWalk walk;
  walk.visit(data, 0);
  DType target = dtype.value_or(walk.dtype.value_or(default_float_dtype()));
  // An int beyond int64 is fine on its way to a float tensor (tensor([2**63, 1.5])), as in PyTorch.
  LAMINA_CHECK(!walk.int_overflow || is_floating_point(target),
               "tensor: Overflow when unpacking long long (an int does not fit in int64)");
  check_shape(walk.shape, itemsize(target), "tensor");
  // numpy converts the nested data in C; lamina's copy kernel then casts straight to the target
  // (so tensor([0.1], dtype=float64) never passes through float32).
  py::module_ np = py::module_::import("numpy");
  py::array arr = walk.int_overflow ? np.attr("asarray")(data, "float64") : np.attr("asarray")(data);
  if (is_integral(target, false) && !py::isinstance<py::array>(data)) check_int_range(np, arr, target);
  auto wide = widened_dtype(arr.dtype());
  LAMINA_CHECK_TYPE(wide.has_value(), "tensor: could not convert data of type ", std::string(py::str(arr.dtype())));
  if (!from_numpy_dtype(arr.dtype())) arr = py::array(arr.attr("astype")(numpy_dtype(*wide)));
  Tensor src = from_numpy(arr);
  LAMINA_CHECK_VALUE(src.shape() == walk.shape, "tensor: inconsistent data shape ", str(src.shape()), " vs ",
                     str(walk.shape));
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
  // share_memory_'s hook: moves t's whole storage into `raw` (a writable C-contiguous array of at
  // least its size, e.g. over a shared segment, kept alive by the storage), for all its views.
  m.def("_replace_storage_data", [](const Tensor& t, py::array raw) {
    LAMINA_CHECK(t.device().is_cpu(), "share_memory_: expected a CPU tensor (got ", t.device().str(), ")");
    size_t nbytes = t.storage()->nbytes();
    LAMINA_CHECK(raw.writeable() && (raw.flags() & py::array::c_style) && size_t(raw.nbytes()) >= nbytes,
                 "share_memory_: the new memory must be a writable contiguous array of at least ", nbytes, " bytes");
    void* data = raw.mutable_data();
    t.storage()->replace_data(data, release_python(raw));
  }, py::arg("tensor"), py::arg("raw"));
  m.def("_storage_nbytes", [](const Tensor& t) { return t.storage()->nbytes(); }, py::arg("tensor"));
  cls.def("numpy", [](const Tensor& t, bool force) { return to_numpy(force ? detach(t) : t); },
          py::kw_only(), py::arg("force") = false);
  // numpy 2 protocol: copy=True must copy, copy=False must not (ValueError when a dtype change
  // needs one), None copies only for a dtype change.
  cls.def("__array__", [](const Tensor& t, py::handle dtype, py::handle copy) {
    py::array a = to_numpy(detach(t));
    bool must_copy = !copy.is_none() && copy.cast<bool>();
    bool no_copy = !copy.is_none() && !copy.cast<bool>();
    if (!dtype.is_none() && !a.dtype().equal(py::dtype::from_args(py::reinterpret_borrow<py::object>(dtype)))) {
      LAMINA_CHECK_VALUE(!no_copy, "__array__: converting a ", dtype_name(t.dtype()), " tensor to ",
                         std::string(py::str(dtype)), " needs a copy, but copy=False");
      return py::array(a.attr("astype")(dtype));
    }
    return must_copy ? py::array(a.attr("copy")()) : a;
  }, py::arg("dtype") = py::none(), py::arg("copy") = py::none());
}

}  // namespace lamina::bindings
