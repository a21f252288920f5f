// Bindings of the op profiler (core/profiler.h) as private lamina._C functions, which
// lamina.profiler and lamina.autograd.profiler wrap.
#include "bindings/common.h"
#include "lamina/core/profiler.h"

namespace lamina::bindings {

void init_profiler(py::module_& m) {
  m.def("_profiler_start", [](bool record_shapes, bool profile_memory) {
    profiler::start({record_shapes, profile_memory});
  }, py::arg("record_shapes") = false, py::arg("profile_memory") = false,
     "Starts recording ops, backward nodes, record_function ranges and parallel-region workers.");
  m.def("_profiler_stop", [] {
    std::vector<profiler::Event> events = profiler::stop();
    py::list out(events.size());
    for (size_t i = 0; i < events.size(); ++i) {
      profiler::Event& e = events[i];
      py::list shapes(e.shapes.size());
      for (size_t k = 0; k < e.shapes.size(); ++k) shapes[k] = py::cast(e.shapes[k]);
      out[i] = py::make_tuple(e.name, int(e.kind), e.thread, e.start_ns, e.end_ns, e.parent, e.mem_bytes, shapes);
    }
    return out;
  }, "Stops the session; returns its events as (name, kind, thread, start_ns, end_ns, parent, mem_bytes,\n"
     "input_shapes) tuples, kind 0 op, 1 backward node, 2 record_function, 3 parallel-region worker.");
  m.def("_profiler_active", &profiler::active);
  m.def("_profiler_enabled", &profiler::enabled, "Whether ops are being recorded (one relaxed load).");
  m.def("_record_function_enter", [](std::string name) {
    if (!profiler::enabled()) return int64_t(-1);
    return profiler::detail::open(std::move(name), profiler::EventKind::UserScope);
  }, py::arg("name"), "Opens a record_function range on this thread; -1 when no session is active.");
  m.def("_record_function_exit", [](int64_t handle) {
    if (handle >= 0) profiler::detail::close(handle);
  }, py::arg("handle"), "Closes a range opened on this thread by _record_function_enter.");
}

}  // namespace lamina::bindings
