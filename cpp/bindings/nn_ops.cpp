// Bindings of the fused nn functions (ops/nn.h): softmax, log_softmax, layer_norm, group_norm and
// dropout are public like torch.<name>; batch_norm, the losses and attention are private
// (_batch_norm, _cross_entropy, _nll_loss, _scaled_dot_product_attention) with
// torch.nn.functional's argument order, wrapped by lamina.nn.functional.
#include "bindings/common.h"
#include "lamina/ops/nn.h"

namespace lamina::bindings {

namespace {

Tensor opt(const std::optional<Tensor>& t) { return t ? *t : Tensor(); }
bool big(const Tensor& x) { return x.numel() >= kGilReleaseElements; }

}  // namespace

void init_nn_ops(py::module_& m, TensorClass& cls) {
  for (bool log : {false, true}) {
    const char* name = log ? "log_softmax" : "softmax";
    auto fn = [log](const Tensor& x, int64_t dim, py::handle dtype) {
      auto dt = parse_optional_dtype(dtype);
      return nogil_if(big(x), [&] { return log ? log_softmax(x, dim, dt) : softmax(x, dim, dt); });
    };
    m.def(name, fn, py::arg("input"), py::arg("dim"), py::kw_only(), py::arg("dtype") = py::none());
    cls.def(name, fn, py::arg("dim"), py::kw_only(), py::arg("dtype") = py::none());
  }
  m.def("layer_norm", [](const Tensor& x, const std::vector<int64_t>& shape, const std::optional<Tensor>& weight,
                         const std::optional<Tensor>& bias, double eps) {
    return nogil_if(big(x), [&] { return layer_norm(x, shape, opt(weight), opt(bias), eps); });
  }, py::arg("input"), py::arg("normalized_shape"), py::arg("weight") = py::none(), py::arg("bias") = py::none(),
     py::arg("eps") = 1e-5);
  m.def("group_norm", [](const Tensor& x, int64_t groups, const std::optional<Tensor>& weight,
                         const std::optional<Tensor>& bias, double eps) {
    return nogil_if(big(x), [&] { return group_norm(x, groups, opt(weight), opt(bias), eps); });
  }, py::arg("input"), py::arg("num_groups"), py::arg("weight") = py::none(), py::arg("bias") = py::none(),
     py::arg("eps") = 1e-5);
  m.def("_batch_norm", [](const Tensor& x, const std::optional<Tensor>& running_mean,
                          const std::optional<Tensor>& running_var, const std::optional<Tensor>& weight,
                          const std::optional<Tensor>& bias, bool training, double momentum, double eps) {
    return nogil_if(big(x), [&] {
      return batch_norm(x, opt(running_mean), opt(running_var), opt(weight), opt(bias), training, momentum, eps);
    });
  }, py::arg("input"), py::arg("running_mean"), py::arg("running_var"), py::arg("weight") = py::none(),
     py::arg("bias") = py::none(), py::arg("training") = false, py::arg("momentum") = 0.1, py::arg("eps") = 1e-5);
  m.def("_cross_entropy", [](const Tensor& x, const Tensor& target, const std::optional<Tensor>& weight,
                             int64_t ignore_index, const std::string& reduction, double label_smoothing) {
    return nogil_if(big(x), [&] { return cross_entropy(x, target, opt(weight), ignore_index, reduction, label_smoothing); });
  }, py::arg("input"), py::arg("target"), py::arg("weight") = py::none(), py::arg("ignore_index") = -100,
     py::arg("reduction") = "mean", py::arg("label_smoothing") = 0.0);
  m.def("_nll_loss", [](const Tensor& x, const Tensor& target, const std::optional<Tensor>& weight,
                        int64_t ignore_index, const std::string& reduction) {
    return nogil_if(big(x), [&] { return nll_loss(x, target, opt(weight), ignore_index, reduction); });
  }, py::arg("input"), py::arg("target"), py::arg("weight") = py::none(), py::arg("ignore_index") = -100,
     py::arg("reduction") = "mean");
  m.def("_binary_cross_entropy", [](const Tensor& x, const Tensor& target) {
    return nogil_if(big(x), [&] { return binary_cross_entropy(x, target); });
  }, py::arg("input"), py::arg("target"));
  m.def("dropout", [](const Tensor& x, double p, bool train, Generator* gen) {
    return nogil_if(big(x), [&] { return dropout(x, p, train, gen); });
  }, py::arg("input"), py::arg("p") = 0.5, py::arg("train") = true, py::kw_only(), py::arg("generator") = nullptr);
  m.def("_dropout_", [](Tensor& x, double p, bool train, Generator* gen) -> Tensor& {
    return nogil_if(big(x), [&]() -> Tensor& { return dropout_(x, p, train, gen); });
  }, py::arg("input"), py::arg("p") = 0.5, py::arg("train") = true, py::kw_only(), py::arg("generator") = nullptr);
  m.def("_scaled_dot_product_attention", [](const Tensor& q, const Tensor& k, const Tensor& v,
                                            const std::optional<Tensor>& mask, double dropout_p, bool is_causal,
                                            std::optional<double> scale, bool enable_gqa, Generator* gen) {
    return nogil([&] { return scaled_dot_product_attention(q, k, v, opt(mask), dropout_p, is_causal, scale, enable_gqa, gen); });
  }, py::arg("query"), py::arg("key"), py::arg("value"), py::arg("attn_mask") = py::none(), py::arg("dropout_p") = 0.0,
     py::arg("is_causal") = false, py::arg("scale") = py::none(), py::arg("enable_gqa") = false, py::kw_only(),
     py::arg("generator") = nullptr);
}

}  // namespace lamina::bindings
