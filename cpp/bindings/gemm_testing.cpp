// lamina._C._gemm: a private hook for tests and benchmarks that runs the GEMM kernel on strided
// tensors in place: c = act(alpha * a @ b + beta * c + bias). Conversion and checks only.
#include <optional>
#include <string>

#include "bindings/common.h"
#include "lamina/core/kernel_table.h"

namespace lamina::cpu::baseline {
void gemm_reference_entry(const GemmArgs& g);  // kernels/gemm.cpp, the oracle
}

namespace lamina::bindings {

namespace {

Activation parse_activation(const std::string& s) {
  if (s == "none") return Activation::None;
  if (s == "relu") return Activation::Relu;
  if (s == "gelu") return Activation::Gelu;
  if (s == "gelu_tanh") return Activation::GeluTanh;
  throw ValueError("_gemm: activation must be 'none', 'relu', 'gelu' or 'gelu_tanh', got '" + s + "'");
}

// (batch stride, row stride, col stride) of a 2-D or 3-D operand; 2-D operands repeat per batch.
MatrixView view_of(const Tensor& t) {
  bool batched = t.dim() == 3;
  return MatrixView{t.raw_data(), t.stride(-2), t.stride(-1), batched ? t.stride(0) : 0};
}

void gemm_testing(const Tensor& a, const Tensor& b, const Tensor& c, double alpha, double beta,
                  const std::optional<Tensor>& bias, const std::string& activation, bool reference) {
  const Activation act = parse_activation(activation);
  for (const Tensor* t : {&a, &b, &c}) {
    LAMINA_CHECK_TYPE(t->dtype() == DType::Float32 || t->dtype() == DType::Float64,
                      "_gemm: expected float32 or float64 tensors, got ", dtype_name(t->dtype()));
    LAMINA_CHECK(t->device().is_cpu(), "_gemm: expected CPU tensors");
    LAMINA_CHECK_VALUE(t->dim() == 2 || t->dim() == 3, "_gemm: expected 2-D or 3-D tensors, got shape ",
                       shape_string(t->shape()));
  }
  LAMINA_CHECK_TYPE(a.dtype() == c.dtype() && b.dtype() == c.dtype(), "_gemm: a, b and c must share a dtype, got ",
                    dtype_name(a.dtype()), ", ", dtype_name(b.dtype()), " and ", dtype_name(c.dtype()));
  const int64_t m = c.size(-2), n = c.size(-1), k = a.size(-1);
  const int64_t batch = c.dim() == 3 ? c.size(0) : 1;
  LAMINA_CHECK(a.size(-2) == m && b.size(-2) == k && b.size(-1) == n,
               "_gemm: shapes cannot be multiplied: a ", shape_string(a.shape()), ", b ", shape_string(b.shape()),
               ", c ", shape_string(c.shape()));
  for (const Tensor* t : {&a, &b}) {
    LAMINA_CHECK(t->dim() == 2 || (c.dim() == 3 && t->size(0) == batch), "_gemm: batch sizes differ: a ",
                 shape_string(a.shape()), ", b ", shape_string(b.shape()), ", c ", shape_string(c.shape()));
  }
  for (int64_t d = 0; d < c.dim(); ++d) {
    LAMINA_CHECK_VALUE(c.numel() == 0 || c.size(d) == 1 || c.stride(d) != 0, "_gemm: c must not overlap itself, got strides ",
                       shape_string(c.strides()));
  }
  LAMINA_CHECK_VALUE(!c.shares_storage(a) && !c.shares_storage(b) && !(bias && c.shares_storage(*bias)),
                     "_gemm: c must not share memory with a, b or bias");

  GemmArgs g;
  g.dtype = c.dtype();
  g.batch = batch, g.m = m, g.n = n, g.k = k;
  g.alpha = alpha, g.beta = beta;
  g.a = view_of(a);
  g.b = view_of(b);
  MatrixView cv = view_of(c);
  g.c = MutMatrixView{c.raw_data(), cv.rows, cv.cols, cv.batch};
  g.epilogue.act = act;
  if (bias) {
    const Tensor& t = *bias;
    LAMINA_CHECK_TYPE(t.dtype() == c.dtype(), "_gemm: bias must have the dtype of c, got ", dtype_name(t.dtype()));
    LAMINA_CHECK_VALUE((t.dim() == 1 && t.size(0) == n) || (t.dim() == 2 && (t.size(0) == m || t.size(0) == 1) &&
                                                            (t.size(1) == n || t.size(1) == 1)),
                       "_gemm: bias of shape ", shape_string(t.shape()), " does not broadcast to (", m, ", ", n, ")");
    g.epilogue.bias = t.raw_data();
    g.epilogue.bias_rows = t.dim() == 2 && t.size(0) > 1 ? t.stride(0) : 0;
    g.epilogue.bias_cols = t.size(-1) > 1 ? t.stride(-1) : 0;
  }
  auto run = [&] {
    if (reference) cpu::baseline::gemm_reference_entry(g);
    else LAMINA_KERNEL(c.device(), gemm, "_gemm")(g);
  };
  nogil_if(double(batch) * m * n * (k + 1) >= kGilReleaseElements, run);
  c.bump_version();
}

}  // namespace

void init_gemm_testing(py::module_& m) {
  m.def("_gemm", &gemm_testing, py::arg("a"), py::arg("b"), py::arg("c"), py::arg("alpha") = 1.0,
        py::arg("beta") = 0.0, py::arg("bias") = py::none(), py::arg("activation") = "none",
        py::arg("reference") = false,
        "c = act(alpha * a @ b + beta * c + bias) in place through the GEMM kernel (tests and benchmarks "
        "only; reference=True runs the plain reference kernel).");
}

}  // namespace lamina::bindings
