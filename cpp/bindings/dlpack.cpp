// DLPack both ways, zero-copy: Tensor.__dlpack__ / __dlpack_device__ export a capsule that keeps
// the tensor's storage alive, lamina.from_dlpack imports a capsule (or any object with
// __dlpack__) into a tensor whose storage calls the producer's deleter when it dies.
// Capsule protocol: an unconsumed capsule calls the deleter from its destructor; a consumer
// renames it "used_dltensor[_versioned]" and owns the deleter from then on, so every managed
// tensor is deleted exactly once. The structs below follow the public DLPack 1.x header.
#include <cstring>

#include "bindings/common.h"

namespace lamina::bindings {

namespace {

// ---- DLPack ABI (dlpack.h, v1.0) ----
enum DLDeviceType : int32_t { kDLCPU = 1 };
enum DLDataTypeCode : uint8_t { kDLInt = 0, kDLUInt = 1, kDLFloat = 2, kDLBfloat = 4, kDLComplex = 5, kDLBool = 6 };
struct DLDevice {
  int32_t device_type;
  int32_t device_id;
};
struct DLDataType {
  uint8_t code;
  uint8_t bits;
  uint16_t lanes;
};
struct DLTensor {
  void* data;
  DLDevice device;
  int32_t ndim;
  DLDataType dtype;
  int64_t* shape;
  int64_t* strides;  // in elements; NULL means compact row-major
  uint64_t byte_offset;
};
struct DLManagedTensor {
  DLTensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(DLManagedTensor* self);
};
struct DLPackVersion {
  uint32_t major;
  uint32_t minor;
};
struct DLManagedTensorVersioned {
  DLPackVersion version;
  void* manager_ctx;
  void (*deleter)(DLManagedTensorVersioned* self);
  uint64_t flags;
  DLTensor dl_tensor;
};
constexpr uint64_t kFlagReadOnly = 1u << 0, kFlagIsCopied = 1u << 1;
constexpr const char* kLegacyName = "dltensor";
constexpr const char* kVersionedName = "dltensor_versioned";
constexpr const char* kUsedLegacyName = "used_dltensor";
constexpr const char* kUsedVersionedName = "used_dltensor_versioned";

// ---- export ----

// Owns what an exported DLTensor points at; M is DLManagedTensor or DLManagedTensorVersioned.
template <class M>
struct ExportContext {
  M managed{};
  std::shared_ptr<Storage> storage;  // keeps the bytes alive; needs no GIL to release
  std::vector<int64_t> shape, strides;
};

template <class M>
void delete_export(M* self) {
  delete static_cast<ExportContext<M>*>(self->manager_ctx);
}

DLDataType dl_dtype(DType d) {
  switch (d) {
    case DType::Bool: return {kDLBool, 8, 1};
    case DType::Int32: return {kDLInt, 32, 1};
    case DType::Int64: return {kDLInt, 64, 1};
    case DType::Float32: return {kDLFloat, 32, 1};
    case DType::Float64: return {kDLFloat, 64, 1};
  }
  return {kDLFloat, 32, 1};
}

template <class M>
M* make_managed(const Tensor& t) {
  auto ctx = std::make_unique<ExportContext<M>>();
  ctx->storage = t.storage();
  ctx->storage->mark_exported();  // the consumer keeps this pointer even if share_memory_ moves the storage
  ctx->shape.assign(t.shape().begin(), t.shape().end());
  ctx->strides.assign(t.strides().begin(), t.strides().end());
  ctx->shape.push_back(0);  // never empty, so the pointers are valid even for 0-d tensors
  ctx->strides.push_back(0);
  DLTensor& dl = ctx->managed.dl_tensor;
  dl.data = t.numel() > 0 ? static_cast<void*>(t.raw_data()) : t.storage()->data();
  dl.device = {kDLCPU, 0};
  dl.ndim = int32_t(t.dim());
  dl.dtype = dl_dtype(t.dtype());
  dl.shape = ctx->shape.data();
  dl.strides = ctx->strides.data();
  dl.byte_offset = 0;
  ctx->managed.manager_ctx = ctx.get();
  ctx->managed.deleter = &delete_export<M>;
  return &ctx.release()->managed;
}

// Destructor of an exported capsule: deletes the tensor unless a consumer took it.
template <class M>
void capsule_destructor(PyObject* capsule) {
  const char* name = std::is_same_v<M, DLManagedTensor> ? kLegacyName : kVersionedName;
  if (!PyCapsule_IsValid(capsule, name)) return;  // renamed "used_...": the consumer owns it
  auto* managed = static_cast<M*>(PyCapsule_GetPointer(capsule, name));
  if (managed && managed->deleter) managed->deleter(managed);
}

template <class M>
py::capsule wrap_capsule(M* managed) {
  const char* name = std::is_same_v<M, DLManagedTensor> ? kLegacyName : kVersionedName;
  PyObject* cap = PyCapsule_New(managed, name, &capsule_destructor<M>);
  if (!cap) {
    managed->deleter(managed);
    throw py::error_already_set();
  }
  return py::reinterpret_steal<py::capsule>(cap);
}

// (major, minor) from a max_version argument; None means a pre-1.0 consumer.
bool wants_versioned(py::handle max_version) {
  if (max_version.is_none()) return false;
  py::tuple v = py::reinterpret_borrow<py::object>(max_version);
  LAMINA_CHECK_TYPE(py::len(v) == 2, "__dlpack__: max_version must be a (major, minor) tuple");
  return v[0].cast<int64_t>() >= 1;
}

py::capsule export_tensor(const Tensor& self, py::handle stream, py::handle max_version, py::handle dl_device,
                          py::handle copy) {
  if (self.requires_grad())
    throw py::buffer_error("Can't export tensors that require gradient, use tensor.detach()");
  LAMINA_CHECK(self.device().is_cpu(), "__dlpack__: only CPU tensors can be exported, got ", self.device().str());
  LAMINA_CHECK_VALUE(stream.is_none(), "__dlpack__: stream must be None for CPU tensors");
  if (!dl_device.is_none()) {
    py::tuple d = py::reinterpret_borrow<py::object>(dl_device);
    if (py::len(d) != 2 || d[0].cast<int64_t>() != kDLCPU || d[1].cast<int64_t>() != 0)
      throw py::buffer_error("__dlpack__: unsupported device requested (only (1, 0), the CPU, is available)");
  }
  bool copied = !copy.is_none() && copy.cast<bool>();
  Tensor t = copied ? nogil([&] { return clone(detach(self)); }) : self;
  if (!wants_versioned(max_version)) return wrap_capsule(make_managed<DLManagedTensor>(t));
  auto* managed = make_managed<DLManagedTensorVersioned>(t);
  managed->version = {1, 0};
  managed->flags = copied ? kFlagIsCopied : 0;
  return wrap_capsule(managed);
}

// ---- import ----

DType lamina_dtype(const DLDataType& t) {
  LAMINA_CHECK_TYPE(t.lanes == 1, "from_dlpack: vector dtypes (lanes=", t.lanes, ") are not supported");
  if (t.code == kDLFloat && t.bits == 32) return DType::Float32;
  if (t.code == kDLFloat && t.bits == 64) return DType::Float64;
  if (t.code == kDLInt && t.bits == 32) return DType::Int32;
  if (t.code == kDLInt && t.bits == 64) return DType::Int64;
  if (t.code == kDLBool && t.bits == 8) return DType::Bool;
  const char* kinds[] = {"int", "uint", "float", "opaque", "bfloat", "complex", "bool"};
  std::string kind = t.code < 7 ? kinds[t.code] : "code " + std::to_string(t.code);
  throw TypeError(detail::cat("from_dlpack: unsupported dtype ", kind, int(t.bits),
                              "; lamina supports float32, float64, int32, int64 and bool"));
}

// Calls the producer's deleter once, with the GIL (numpy's deleter touches Python objects).
template <class M>
std::function<void()> release_managed(M* managed) {
  return [managed] {
    if (!managed->deleter || !python_alive()) return;  // interpreter gone: leak rather than crash
    py::gil_scoped_acquire gil;
    managed->deleter(managed);
  };
}

// Builds the tensor over the producer's memory; `release` runs when its storage dies. Read-only
// memory and negative strides (which lamina tensors never expose) are copied, then released.
Tensor import_dltensor(const DLTensor& dl, bool read_only, bool force_copy, std::function<void()> release) {
  struct ReleaseOnError {  // until a storage owns `release`, an error still hands the memory back
    std::function<void()>& release;
    ~ReleaseOnError() {
      if (release) release();
    }
  } guard{release};
  LAMINA_CHECK(dl.device.device_type == kDLCPU, "from_dlpack: unsupported device type ", dl.device.device_type,
               " (lamina imports CPU memory only, device type 1)");
  DType dtype = lamina_dtype(dl.dtype);
  LAMINA_CHECK(dl.ndim >= 0 && dl.ndim <= kMaxDims, "from_dlpack: unsupported number of dims ", dl.ndim);
  Shape shape(dl.shape, dl.shape + dl.ndim);
  check_shape(shape, itemsize(dtype), "from_dlpack");
  Strides strides = dl.strides ? Strides(dl.strides, dl.strides + dl.ndim) : contiguous_strides(shape);
  // Span of the elements relative to the first one, in elements (low may be negative).
  int64_t low = 0, high = 0;
  bool negative = false, overflow = false;
  for (size_t i = 0; i < shape.size() && numel(shape) > 0; ++i) {
    if (shape[i] <= 1) continue;
    int64_t reach = 0;
    overflow |= __builtin_mul_overflow(shape[i] - 1, strides[i], &reach);
    overflow |= __builtin_add_overflow(strides[i] < 0 ? low : high, reach, strides[i] < 0 ? &low : &high);
    negative |= strides[i] < 0;
  }
  int64_t span = 0;
  overflow |= __builtin_sub_overflow(high, low, &span);
  LAMINA_CHECK(!overflow && span < INT64_MAX / int64_t(itemsize(dtype)), "from_dlpack: strides ",
               str(strides), " for shape ", str(shape), " span more memory than can be addressed");
  size_t isz = itemsize(dtype);
  char* first = static_cast<char*>(dl.data) + dl.byte_offset;
  size_t nbytes = numel(shape) == 0 ? 0 : size_t(span + 1) * isz;
  auto storage = Storage::borrow(first + low * int64_t(isz), nbytes, Device{}, std::move(release));
  release = nullptr;  // the storage owns it now
  Tensor t(std::make_shared<TensorImpl>(std::move(storage), shape, strides, -low, dtype));
  if (!(read_only || negative || force_copy)) return t;
  return nogil([&] {
    Tensor out = make_tensor(shape, dtype, Device{});
    copy_into(out, t);
    return out;
  });
}

Tensor import_capsule(py::handle obj, bool force_copy) {
  PyObject* cap = obj.ptr();
  if (PyCapsule_IsValid(cap, kVersionedName)) {
    auto* m = static_cast<DLManagedTensorVersioned*>(PyCapsule_GetPointer(cap, kVersionedName));
    if (m->version.major != 1)
      throw py::buffer_error(detail::cat("from_dlpack: unsupported DLPack version ", m->version.major, ".",
                                         m->version.minor, " (lamina reads 1.x)"));
    PyCapsule_SetName(cap, kUsedVersionedName);
    return import_dltensor(m->dl_tensor, m->flags & kFlagReadOnly, force_copy, release_managed(m));
  }
  if (PyCapsule_IsValid(cap, kLegacyName)) {
    auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(cap, kLegacyName));
    PyCapsule_SetName(cap, kUsedLegacyName);
    return import_dltensor(m->dl_tensor, false, force_copy, release_managed(m));
  }
  throw Error("from_dlpack received an invalid capsule. Note that DLTensor capsules can be consumed only once, "
              "so you might have already constructed a tensor from it once.");
}

Tensor from_dlpack(py::handle obj, py::handle device, py::handle copy) {
  if (!device.is_none()) {
    Device d = parse_device(device);
    LAMINA_CHECK(d.is_cpu(), "from_dlpack: only device='cpu' is supported, got ", d.str());
  }
  bool force_copy = !copy.is_none() && copy.cast<bool>();
  if (PyCapsule_CheckExact(obj.ptr())) return import_capsule(obj, force_copy);
  LAMINA_CHECK_TYPE(py::hasattr(obj, "__dlpack__"), "from_dlpack: expected an object with __dlpack__ or a DLPack "
                    "capsule, got ", std::string(py::str(py::type::of(obj).attr("__name__"))));
  if (py::hasattr(obj, "__dlpack_device__")) {
    py::tuple dev = obj.attr("__dlpack_device__")();
    LAMINA_CHECK(dev[0].cast<int64_t>() == kDLCPU, "from_dlpack: unsupported device type ", dev[0].cast<int64_t>(),
                 " (lamina imports CPU memory only, device type 1)");
  }
  py::object capsule;
  try {
    capsule = obj.attr("__dlpack__")(py::arg("max_version") = py::make_tuple(1, 0));
  } catch (py::error_already_set& e) {
    if (!e.matches(PyExc_TypeError)) throw;
    capsule = obj.attr("__dlpack__")();  // a producer from before DLPack 1.0
  }
  LAMINA_CHECK_TYPE(PyCapsule_CheckExact(capsule.ptr()), "from_dlpack: __dlpack__ did not return a capsule");
  return import_capsule(capsule, force_copy);
}

}  // namespace

void init_dlpack(py::module_& m, TensorClass& cls) {
  cls.def("__dlpack__", &export_tensor, py::arg("stream") = py::none(), py::kw_only(),
          py::arg("max_version") = py::none(), py::arg("dl_device") = py::none(), py::arg("copy") = py::none(),
          "Exports the tensor as a DLPack capsule sharing its memory.");
  cls.def("__dlpack_device__", [](const Tensor& t) {
    LAMINA_CHECK(t.device().is_cpu(), "__dlpack_device__: only CPU tensors can be exported");
    return py::make_tuple(int(kDLCPU), 0);
  });
  m.def("from_dlpack", &from_dlpack, py::arg("ext_tensor"), py::kw_only(), py::arg("device") = py::none(),
        py::arg("copy") = py::none(),
        "A tensor sharing memory with a DLPack producer (an object with __dlpack__, or a capsule).");
  m.def("to_dlpack", [](const Tensor& t) { return export_tensor(t, py::none(), py::none(), py::none(), py::none()); },
        py::arg("tensor"), "A legacy DLPack capsule sharing the tensor's memory.");
}

}  // namespace lamina::bindings
