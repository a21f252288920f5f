// lamina.dtype, lamina.device and runtime settings (threads, ISA level, default dtype).
#include "bindings/common.h"
#include "lamina/cpu/isa.h"
#include "lamina/cpu/parallel.h"

namespace lamina::bindings {

void register_size_type(py::object type);

void init_dtype_device(py::module_& m) {
  py::enum_<DType> dtype(m, "dtype", "The element type of a tensor.");
  for (DType d : {DType::Bool, DType::Int32, DType::Int64, DType::Float32, DType::Float64}) dtype.value(dtype_name(d), d);
  dtype.def("__repr__", [](DType d) { return std::string("lamina.") + dtype_name(d); })
      .def("__str__", [](DType d) { return std::string("lamina.") + dtype_name(d); })
      .def_property_readonly("is_floating_point", [](DType d) { return is_floating_point(d); })
      .def_property_readonly("itemsize", [](DType d) { return itemsize(d); });

  py::class_<Device>(m, "device", "Where a tensor lives: lamina.device('cpu').")
      .def(py::init([](const std::string& spec) { return Device::parse(spec); }), py::arg("type"))
      .def(py::init([](const std::string& type, int index) {
             Device d = Device::parse(type);
             LAMINA_CHECK(d.index < 0 && index >= 0, "device: invalid device index ", index);
             d.index = index;
             return d;
           }),
           py::arg("type"), py::arg("index"))
      .def_property_readonly("type", [](const Device& d) { return d.is_cpu() ? "cpu" : "cuda"; })
      .def_property_readonly("index", [](const Device& d) -> py::object {
        return d.index < 0 ? py::object(py::none()) : py::object(py::int_(d.index));
      })
      .def("__repr__", [](const Device& d) {
        std::string r = std::string("device(type='") + (d.is_cpu() ? "cpu" : "cuda") + "'";
        return d.index >= 0 ? r + ", index=" + std::to_string(d.index) + ")" : r + ")";
      })
      .def("__str__", &Device::str)
      .def("__eq__", [](const Device& a, py::handle b) {
        try {
          return a == parse_device(b);
        } catch (const std::exception&) {
          return false;
        }
      })
      .def("__hash__", [](const Device& d) { return int(d.type) * 1000 + d.index; });
}

void init_runtime(py::module_& m) {
  m.def("get_default_dtype", &default_float_dtype);
  m.def("set_default_dtype", [](py::handle d) { set_default_float_dtype(parse_dtype(d)); }, py::arg("d"));
  m.def("get_num_threads", &cpu::get_num_threads, "Threads used by CPU kernels.");
  m.def("set_num_threads", &cpu::set_num_threads, py::arg("num"),
        "Sets the threads used by CPU kernels (results are identical for any count).");
  m.def("_get_cpu_isa", [] { return cpu::isa_name(cpu::active_isa()); });
  m.def("_detected_cpu_isa", [] { return cpu::isa_name(cpu::detected_isa()); });
  m.def("_set_cpu_isa", [](const std::string& name) { cpu::set_active_isa(cpu::parse_isa(name)); }, py::arg("isa"));
  m.def("_register_size_type", &register_size_type);
  m.def("_cpu_cached_bytes", &cpu_cached_bytes, "Bytes of freed CPU blocks kept for reuse.");
  m.def("_cpu_empty_cache", &cpu_empty_cache, "Returns the cached CPU blocks to the system.");
  m.def("_has_cuda", [] {
#ifdef LAMINA_WITH_CUDA
    return true;
#else
    return false;
#endif
  });
}

}  // namespace lamina::bindings
