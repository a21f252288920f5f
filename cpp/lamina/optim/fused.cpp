// Fused optimizer steps: argument checks, step counters and per-tensor coefficients (computed in
// double precision like PyTorch's Python scalars), then one KernelTable::fused_optim call per
// group. Every check runs before anything is written, so a rejected call changes nothing.
#include "lamina/optim/fused.h"

#include <cmath>
#include <initializer_list>
#include <utility>

#include "lamina/core/kernel_table.h"
#include "lamina/ops/copy.h"
#include "lamina/ops/elementwise.h"
#include "lamina/core/profiler.h"

namespace lamina::optim {

namespace {

using TensorList = std::vector<Tensor>;

void check_count(const char* op, const char* what, const TensorList& list, size_t n) {
  LAMINA_CHECK_VALUE(list.size() == n, op, ": expected ", n, " ", what, " (one per param), got ", list.size());
}

void check_params(const char* op, const TensorList& params, const TensorList& grads) {
  check_count(op, "grads", grads, params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    LAMINA_CHECK_TYPE(p.defined(), op, ": param ", i, " is None");
    LAMINA_CHECK_TYPE(p.is_floating_point(), op, ": param ", i, " has dtype ", dtype_name(p.dtype()),
                      ", expected a floating point dtype");
    LAMINA_CHECK(p.device() == params[0].device(), op, ": expected all params on one device, but param ", i,
                 " is on ", p.device().str(), " and param 0 on ", params[0].device().str());
    elementwise::check_no_internal_overlap(p, op);
  }
}

// A gradient or state tensor must match its parameter in shape, dtype and device.
void check_like(const char* op, const char* what, const TensorList& list, const TensorList& params, bool written) {
  check_count(op, what, list, params.size());
  for (size_t i = 0; i < list.size(); ++i) {
    const Tensor &t = list[i], &p = params[i];
    LAMINA_CHECK_TYPE(t.defined(), op, ": ", what, "[", i, "] is None");
    LAMINA_CHECK(t.shape() == p.shape(), op, ": ", what, "[", i, "] has shape ", str(t.shape()),
                 " but its param has shape ", str(p.shape()));
    LAMINA_CHECK_TYPE(t.dtype() == p.dtype(), op, ": ", what, "[", i, "] has dtype ", dtype_name(t.dtype()),
                      " but its param has dtype ", dtype_name(p.dtype()));
    LAMINA_CHECK(t.device() == p.device(), op, ": ", what, "[", i, "] is on ", t.device().str(),
                 " but its param is on ", p.device().str());
    if (written) elementwise::check_no_internal_overlap(t, op);
  }
}

// Step counters (and NAdam's mu products): one-element floating tensors, any device dtype.
void check_counters(const char* op, const char* what, const TensorList& list, size_t n) {
  check_count(op, what, list, n);
  for (size_t i = 0; i < list.size(); ++i) {
    LAMINA_CHECK_TYPE(list[i].defined(), op, ": ", what, "[", i, "] is None");
    LAMINA_CHECK(list[i].numel() == 1, op, ": ", what, "[", i, "] must have one element, got shape ",
                 str(list[i].shape()));
    LAMINA_CHECK_TYPE(list[i].is_floating_point(), op, ": ", what, "[", i, "] has dtype ",
                      dtype_name(list[i].dtype()), ", expected a floating point dtype");
  }
}

double read_counter(const Tensor& t) {
  return dispatch_float(t.dtype(), [&](auto tag) { return double(*t.data<typename decltype(tag)::type>()); });
}
// Stores v rounded to the counter's dtype and returns the stored value (what PyTorch reads back).
double write_counter(const Tensor& t, double v) {
  return dispatch_float(t.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    *t.data<T>() = T(v);
    t.bump_version();
    return double(*t.data<T>());
  });
}
double increment_step(const Tensor& step) { return write_counter(step, read_counter(step) + 1); }

// Builds the kernel arguments. A non-contiguous tensor is worked on through a contiguous copy
// (written back after the kernel for params and state).
class Launch {
 public:
  Launch(const char* op, OptimAlgo algo, const OptimHyper& h) : op_(op) {
    args_.algo = algo;
    args_.hyper = h;
  }
  // Adds a parameter; returns its slot, or nullptr for an empty tensor (nothing to update).
  OptimSlot* add(const Tensor& param, const Tensor& grad) {
    if (param.numel() == 0) return nullptr;
    if (!device_set_) device_ = param.device(), device_set_ = true;
    OptimSlot s;
    s.param = inout(param);
    s.grad = in(grad);
    s.numel = param.numel();
    s.dtype = param.dtype();
    args_.slots.push_back(s);
    return &args_.slots.back();
  }
  void* inout(const Tensor& t) {
    written_.push_back(t);
    if (t.is_contiguous()) return t.raw_data();
    Tensor c = make_tensor(t.shape(), t.dtype(), t.device());
    copy_into(c, t);
    copies_.emplace_back(t, c);
    return c.raw_data();
  }
  void run() {
    if (!args_.slots.empty()) LAMINA_KERNEL(device_, fused_optim, op_)(args_);
    for (auto& [orig, c] : copies_) copy_into(orig, c);
    for (const Tensor& t : written_) t.bump_version();
  }
  void reserve(size_t n) { args_.slots.reserve(n); }  // add() hands out pointers into slots

 private:
  const void* in(const Tensor& t) {
    if (t.is_contiguous()) return t.raw_data();
    held_.push_back(contiguous(detach(t)));
    return held_.back().raw_data();
  }
  const char* op_;
  FusedOptimArgs args_;
  Device device_;
  bool device_set_ = false;
  std::vector<std::pair<Tensor, Tensor>> copies_;
  TensorList written_, held_;
};

// A per-parameter state list of a fused step: its name in errors and the list (null when the
// configuration does not use it; its slot index is kept either way).
using StateList = std::pair<const char*, const TensorList*>;

// Every fused step but SGD's: checks params, grads, the state lists (each like params) and the
// step counters, then runs the kernel once over a slot per non-empty parameter with its states
// at their list positions. coefs(slot, i, step) runs for every parameter, after its step counter
// is incremented, with slot null for an empty parameter.
template <class Coefs>
void fused_step(const char* op, OptimAlgo algo, const OptimHyper& h, const TensorList& params, const TensorList& grads,
                std::initializer_list<StateList> states, const TensorList& steps, const Coefs& coefs) {
  check_params(op, params, grads);
  check_like(op, "grads", grads, params, false);
  for (const auto& [name, list] : states)
    if (list) check_like(op, name, *list, params, true);
  check_counters(op, "steps", steps, params.size());
  Launch launch(op, algo, h);
  launch.reserve(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const double step = increment_step(steps[i]);
    OptimSlot* s = launch.add(params[i], grads[i]);
    coefs(s, i, step);
    if (!s) continue;
    int k = 0;
    for (const auto& [name, list] : states) {
      if (list) s->state[k] = launch.inout((*list)[i]);
      ++k;
    }
  }
  launch.run();
}

}  // namespace

TensorList fused_sgd(const TensorList& params, const TensorList& grads, const TensorList& momentum_buffers,
                     const OptimHyper& h) {
  LAMINA_PROFILE_OP("fused_sgd");
  const char* op = "_fused_sgd";
  check_params(op, params, grads);
  check_like(op, "grads", grads, params, false);
  const bool use_buf = h.momentum != 0;
  LAMINA_CHECK_VALUE(use_buf || momentum_buffers.empty(), op, ": momentum buffers given but momentum is 0");
  if (use_buf) {
    check_count(op, "momentum_buffers", momentum_buffers, params.size());
    for (size_t i = 0; i < params.size(); ++i) {
      if (!momentum_buffers[i].defined()) continue;  // created below
      check_like(op, "momentum_buffers", TensorList{momentum_buffers[i]}, TensorList{params[i]}, true);
    }
  }
  TensorList bufs = momentum_buffers;
  Launch launch(op, OptimAlgo::SGD, h);
  launch.reserve(params.size());
  for (size_t i = 0; i < params.size(); ++i) {
    bool init = use_buf && !bufs[i].defined();
    if (init) bufs[i] = make_tensor(params[i].shape(), params[i].dtype(), params[i].device());
    OptimSlot* s = launch.add(params[i], grads[i]);
    if (!s) continue;
    if (use_buf) s->state[0] = launch.inout(bufs[i]);
    s->init = init;
  }
  launch.run();
  return bufs;
}

void fused_adam(const TensorList& params, const TensorList& grads, const TensorList& exp_avgs,
                const TensorList& exp_avg_sqs, const TensorList& max_exp_avg_sqs, const TensorList& steps,
                const OptimHyper& h) {
  LAMINA_PROFILE_OP("fused_adam");
  const char* op = h.decoupled_weight_decay ? "_fused_adamw" : "_fused_adam";
  if (!h.amsgrad) check_count(op, "max_exp_avg_sqs without amsgrad", max_exp_avg_sqs, 0);
  fused_step(op, OptimAlgo::Adam, h, params, grads,
             {{"exp_avgs", &exp_avgs}, {"exp_avg_sqs", &exp_avg_sqs}, {"max_exp_avg_sqs", h.amsgrad ? &max_exp_avg_sqs : nullptr}},
             steps, [&](OptimSlot* s, size_t, double step) {
               if (!s) return;
               s->coef[0] = h.lr / (1 - std::pow(h.beta1, step));
               s->coef[1] = std::pow(1 - std::pow(h.beta2, step), 0.5);
             });
}

void fused_rmsprop(const TensorList& params, const TensorList& grads, const TensorList& square_avgs,
                   const TensorList& grad_avgs, const TensorList& momentum_buffers, const TensorList& steps,
                   const OptimHyper& h) {
  LAMINA_PROFILE_OP("fused_rmsprop");
  const char* op = "_fused_rmsprop";
  if (!h.centered) check_count(op, "grad_avgs without centered", grad_avgs, 0);
  if (!(h.momentum > 0)) check_count(op, "momentum_buffers without momentum", momentum_buffers, 0);
  fused_step(op, OptimAlgo::RMSprop, h, params, grads,
             {{"square_avgs", &square_avgs},
              {"grad_avgs", h.centered ? &grad_avgs : nullptr},
              {"momentum_buffers", h.momentum > 0 ? &momentum_buffers : nullptr}},
             steps, [](OptimSlot*, size_t, double) {});
}

void fused_adagrad(const TensorList& params, const TensorList& grads, const TensorList& sums, const TensorList& steps,
                   const OptimHyper& h, double lr_decay) {
  LAMINA_PROFILE_OP("fused_adagrad");
  fused_step("_fused_adagrad", OptimAlgo::Adagrad, h, params, grads, {{"sums", &sums}}, steps,
             [&](OptimSlot* s, size_t, double step) {
               if (s) s->coef[0] = h.lr / (1 + (step - 1) * lr_decay);
             });
}

void fused_adadelta(const TensorList& params, const TensorList& grads, const TensorList& square_avgs,
                    const TensorList& acc_deltas, const TensorList& steps, const OptimHyper& h) {
  LAMINA_PROFILE_OP("fused_adadelta");
  fused_step("_fused_adadelta", OptimAlgo::Adadelta, h, params, grads,
             {{"square_avgs", &square_avgs}, {"acc_deltas", &acc_deltas}}, steps, [](OptimSlot*, size_t, double) {});
}

void fused_adamax(const TensorList& params, const TensorList& grads, const TensorList& exp_avgs,
                  const TensorList& exp_infs, const TensorList& steps, const OptimHyper& h) {
  LAMINA_PROFILE_OP("fused_adamax");
  fused_step("_fused_adamax", OptimAlgo::Adamax, h, params, grads, {{"exp_avgs", &exp_avgs}, {"exp_infs", &exp_infs}},
             steps, [&](OptimSlot* s, size_t, double step) {
               if (s) s->coef[0] = h.lr / (1 - std::pow(h.beta1, step));
             });
}

void fused_nadam(const TensorList& params, const TensorList& grads, const TensorList& exp_avgs,
                 const TensorList& exp_avg_sqs, const TensorList& mu_products, const TensorList& steps,
                 const OptimHyper& h, double momentum_decay) {
  LAMINA_PROFILE_OP("fused_nadam");
  const char* op = "_fused_nadam";
  check_counters(op, "mu_products", mu_products, params.size());
  fused_step(op, OptimAlgo::NAdam, h, params, grads, {{"exp_avgs", &exp_avgs}, {"exp_avg_sqs", &exp_avg_sqs}}, steps,
             [&](OptimSlot* s, size_t i, double step) {
               double mu = h.beta1 * (1.0 - 0.5 * std::pow(0.96, step * momentum_decay));
               double mu_next = h.beta1 * (1.0 - 0.5 * std::pow(0.96, (step + 1) * momentum_decay));
               // PyTorch multiplies the counter tensor in its own dtype: the factor is rounded to it first.
               const Tensor& mp = mu_products[i];
               double mu_cast = mp.dtype() == DType::Float32 ? double(float(mu)) : mu;
               double mu_product = write_counter(mp, read_counter(mp) * mu_cast);
               if (!s) return;
               s->coef[0] = -h.lr * (1.0 - mu) / (1.0 - mu_product);
               s->coef[1] = (-h.lr * mu_next) / (1.0 - mu_product * mu_next);
               s->coef[2] = 1 - std::pow(h.beta2, step);
             });
}

void fused_radam(const TensorList& params, const TensorList& grads, const TensorList& exp_avgs,
                 const TensorList& exp_avg_sqs, const TensorList& steps, const OptimHyper& h) {
  LAMINA_PROFILE_OP("fused_radam");
  fused_step("_fused_radam", OptimAlgo::RAdam, h, params, grads, {{"exp_avgs", &exp_avgs}, {"exp_avg_sqs", &exp_avg_sqs}},
             steps, [&](OptimSlot* s, size_t, double step) {
               if (!s) return;
               double bc1 = 1 - std::pow(h.beta1, step), bc2 = 1 - std::pow(h.beta2, step);
               double rho_inf = 2 / (1 - h.beta2) - 1;
               double rho_t = rho_inf - 2 * step * std::pow(h.beta2, step) / bc2;
               s->coef[0] = bc1;
               s->coef[1] = std::pow(bc2, 0.5);
               if (rho_t > 5.0) {
                 s->coef[2] = std::pow((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t), 0.5);
                 s->coef[3] = 1;
               }
             });
}

}  // namespace lamina::optim
