// Private entry points of lamina.optim: one fused step over a param group's tensor lists
// (lamina/optim/fused.h). Keyword-only hyper-parameters; the GIL is released for the update.
#include "bindings/common.h"
#include "lamina/optim/fused.h"

namespace lamina::bindings {

namespace {

using TensorList = std::vector<Tensor>;

// A sequence of tensors in which None stands for "not created yet".
TensorList optional_tensors(py::handle seq, const char* op) {
  TensorList out;
  for (py::handle item : py::reinterpret_borrow<py::sequence>(seq)) {
    if (item.is_none()) out.emplace_back();
    else if (is_tensor(item)) out.push_back(item.cast<Tensor>());
    else throw TypeError(detail::cat(op, ": expected a Tensor or None, got ",
                                     py::str(py::type::of(item).attr("__name__")).cast<std::string>()));
  }
  return out;
}

}  // namespace

void init_optim(py::module_& m) {
  m.def("_fused_sgd", [](const TensorList& params, const TensorList& grads, py::sequence momentum_buffers,
                         double lr, double weight_decay, double momentum, double dampening, bool nesterov,
                         bool maximize) {
    TensorList bufs = optional_tensors(momentum_buffers, "_fused_sgd");
    OptimHyper h;
    h.lr = lr, h.weight_decay = weight_decay, h.momentum = momentum, h.dampening = dampening;
    h.nesterov = nesterov, h.maximize = maximize;
    return nogil([&] { return optim::fused_sgd(params, grads, bufs, h); });
  }, py::arg("params"), py::arg("grads"), py::arg("momentum_buffers"), py::kw_only(), py::arg("lr"),
     py::arg("weight_decay"), py::arg("momentum"), py::arg("dampening"), py::arg("nesterov"), py::arg("maximize"),
     "One SGD step over a param group; None momentum buffers are created. Returns the buffers.");

  m.def("_fused_adam", [](const TensorList& params, const TensorList& grads, const TensorList& exp_avgs,
                          const TensorList& exp_avg_sqs, const TensorList& max_exp_avg_sqs, const TensorList& steps,
                          double lr, double beta1, double beta2, double weight_decay, double eps, bool amsgrad,
                          bool maximize, bool decoupled_weight_decay) {
    OptimHyper h;
    h.lr = lr, h.beta1 = beta1, h.beta2 = beta2, h.weight_decay = weight_decay, h.eps = eps;
    h.amsgrad = amsgrad, h.maximize = maximize, h.decoupled_weight_decay = decoupled_weight_decay;
    nogil([&] { optim::fused_adam(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, steps, h); });
  }, py::arg("params"), py::arg("grads"), py::arg("exp_avgs"), py::arg("exp_avg_sqs"), py::arg("max_exp_avg_sqs"),
     py::arg("steps"), py::kw_only(), py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("weight_decay"),
     py::arg("eps"), py::arg("amsgrad"), py::arg("maximize"), py::arg("decoupled_weight_decay"),
     "One Adam (AdamW with decoupled_weight_decay) step over a param group; increments the steps.");

  m.def("_fused_rmsprop", [](const TensorList& params, const TensorList& grads, const TensorList& square_avgs,
                             const TensorList& grad_avgs, const TensorList& momentum_buffers, const TensorList& steps,
                             double lr, double alpha, double eps, double weight_decay, double momentum, bool centered,
                             bool maximize) {
    OptimHyper h;
    h.lr = lr, h.beta2 = alpha, h.eps = eps, h.weight_decay = weight_decay, h.momentum = momentum;
    h.centered = centered, h.maximize = maximize;
    nogil([&] { optim::fused_rmsprop(params, grads, square_avgs, grad_avgs, momentum_buffers, steps, h); });
  }, py::arg("params"), py::arg("grads"), py::arg("square_avgs"), py::arg("grad_avgs"), py::arg("momentum_buffers"),
     py::arg("steps"), py::kw_only(), py::arg("lr"), py::arg("alpha"), py::arg("eps"), py::arg("weight_decay"),
     py::arg("momentum"), py::arg("centered"), py::arg("maximize"), "One RMSprop step over a param group.");

  m.def("_fused_adagrad", [](const TensorList& params, const TensorList& grads, const TensorList& sums,
                             const TensorList& steps, double lr, double lr_decay, double weight_decay, double eps,
                             bool maximize) {
    OptimHyper h;
    h.lr = lr, h.weight_decay = weight_decay, h.eps = eps, h.maximize = maximize;
    nogil([&] { optim::fused_adagrad(params, grads, sums, steps, h, lr_decay); });
  }, py::arg("params"), py::arg("grads"), py::arg("sums"), py::arg("steps"), py::kw_only(), py::arg("lr"),
     py::arg("lr_decay"), py::arg("weight_decay"), py::arg("eps"), py::arg("maximize"),
     "One Adagrad step over a param group.");

  m.def("_fused_adadelta", [](const TensorList& params, const TensorList& grads, const TensorList& square_avgs,
                              const TensorList& acc_deltas, const TensorList& steps, double lr, double rho, double eps,
                              double weight_decay, bool maximize) {
    OptimHyper h;
    h.lr = lr, h.beta2 = rho, h.eps = eps, h.weight_decay = weight_decay, h.maximize = maximize;
    nogil([&] { optim::fused_adadelta(params, grads, square_avgs, acc_deltas, steps, h); });
  }, py::arg("params"), py::arg("grads"), py::arg("square_avgs"), py::arg("acc_deltas"), py::arg("steps"),
     py::kw_only(), py::arg("lr"), py::arg("rho"), py::arg("eps"), py::arg("weight_decay"), py::arg("maximize"),
     "One Adadelta step over a param group.");

  m.def("_fused_adamax", [](const TensorList& params, const TensorList& grads, const TensorList& exp_avgs,
                            const TensorList& exp_infs, const TensorList& steps, double lr, double beta1, double beta2,
                            double eps, double weight_decay, bool maximize) {
    OptimHyper h;
    h.lr = lr, h.beta1 = beta1, h.beta2 = beta2, h.eps = eps, h.weight_decay = weight_decay, h.maximize = maximize;
    nogil([&] { optim::fused_adamax(params, grads, exp_avgs, exp_infs, steps, h); });
  }, py::arg("params"), py::arg("grads"), py::arg("exp_avgs"), py::arg("exp_infs"), py::arg("steps"), py::kw_only(),
     py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"), py::arg("maximize"),
     "One Adamax step over a param group.");

  m.def("_fused_nadam", [](const TensorList& params, const TensorList& grads, const TensorList& exp_avgs,
                           const TensorList& exp_avg_sqs, const TensorList& mu_products, const TensorList& steps,
                           double lr, double beta1, double beta2, double eps, double weight_decay,
                           double momentum_decay, bool decoupled_weight_decay, bool maximize) {
    OptimHyper h;
    h.lr = lr, h.beta1 = beta1, h.beta2 = beta2, h.eps = eps, h.weight_decay = weight_decay;
    h.decoupled_weight_decay = decoupled_weight_decay, h.maximize = maximize;
    nogil([&] { optim::fused_nadam(params, grads, exp_avgs, exp_avg_sqs, mu_products, steps, h, momentum_decay); });
  }, py::arg("params"), py::arg("grads"), py::arg("exp_avgs"), py::arg("exp_avg_sqs"), py::arg("mu_products"),
     py::arg("steps"), py::kw_only(), py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"),
     py::arg("weight_decay"), py::arg("momentum_decay"), py::arg("decoupled_weight_decay"), py::arg("maximize"),
     "One NAdam step over a param group; updates the mu products and steps.");

  m.def("_fused_radam", [](const TensorList& params, const TensorList& grads, const TensorList& exp_avgs,
                           const TensorList& exp_avg_sqs, const TensorList& steps, double lr, double beta1,
                           double beta2, double eps, double weight_decay, bool decoupled_weight_decay, bool maximize) {
    OptimHyper h;
    h.lr = lr, h.beta1 = beta1, h.beta2 = beta2, h.eps = eps, h.weight_decay = weight_decay;
    h.decoupled_weight_decay = decoupled_weight_decay, h.maximize = maximize;
    nogil([&] { optim::fused_radam(params, grads, exp_avgs, exp_avg_sqs, steps, h); });
  }, py::arg("params"), py::arg("grads"), py::arg("exp_avgs"), py::arg("exp_avg_sqs"), py::arg("steps"),
     py::kw_only(), py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"),
     py::arg("decoupled_weight_decay"), py::arg("maximize"), "One RAdam step over a param group.");
}

}  // namespace lamina::bindings
