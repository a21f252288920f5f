// Linear algebra: lamina.svd / Tensor.svd (legacy), and _linalg_svd / _linalg_svdvals behind
// lamina.linalg (python/lamina/linalg.py). Results are named tuples like torch.return_types'.
#include "bindings/common.h"
#include "lamina/ops/linalg.h"

namespace lamina::bindings {

namespace {

// The named-tuple types are leaked: they must outlive the interpreter's teardown of this module.
py::object& svd_result_type(const char* name, const char* fields) {
  return *new py::object(py::module_::import("collections").attr("namedtuple")(name, fields));
}

bool svd_worth_nogil(const Tensor& a) { return a.numel() >= 64; }

}  // namespace

void init_linalg(py::module_& m, TensorClass& cls) {
  py::register_exception<LinAlgError>(m, "_LinAlgError", PyExc_RuntimeError);
  static py::object& svd_type = svd_result_type("svd", "U S V");
  static py::object& linalg_svd_type = svd_result_type("linalg_svd", "U S Vh");

  def_op(m, cls, "svd", [](const Tensor& a, bool some, bool compute_uv) {
    auto [u, s, v] = nogil_if(svd_worth_nogil(a), [&] { return svd(a, some, compute_uv); });
    return svd_type(u, s, v);
  }, py::arg("some") = true, py::arg("compute_uv") = true);
  m.def("_linalg_svd", [](const Tensor& a, bool full_matrices) {
    auto [u, s, vh] = nogil_if(svd_worth_nogil(a), [&] { return linalg_svd(a, full_matrices); });
    return linalg_svd_type(u, s, vh);
  }, py::arg("A"), py::arg("full_matrices") = true);
  m.def("_linalg_svdvals", [](const Tensor& a) { return nogil_if(svd_worth_nogil(a), [&] { return linalg_svdvals(a); }); },
        py::arg("A"));
}

}  // namespace lamina::bindings
