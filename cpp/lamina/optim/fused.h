// Fused multi-tensor optimizer steps: one call updates every parameter of a param group in place
// (PyTorch's update rules, torch.optim single-tensor formulas), with one parallel kernel pass.
// The entry points check the lists, increment the per-parameter step counters, compute each
// tensor's step-dependent coefficients in double precision and hand FusedOptimArgs to the kernel.
// Element math runs in the parameter's dtype. Non-contiguous tensors go through contiguous copies.
#pragma once

#include <cstdint>
#include <vector>

#include "lamina/core/dtype.h"
#include "lamina/core/tensor.h"

namespace lamina {

enum class OptimAlgo : uint8_t { SGD, Adam, RMSprop, Adagrad, Adadelta, Adamax, NAdam, RAdam };

// Group-level hyper-parameters (not every algorithm reads every field).
struct OptimHyper {
  double lr = 0, weight_decay = 0, momentum = 0, dampening = 0;
  double beta1 = 0, beta2 = 0, eps = 0;  // RMSprop's alpha and Adadelta's rho travel as beta2
  bool nesterov = false, maximize = false, amsgrad = false, centered = false;
  bool decoupled_weight_decay = false;
};

// One parameter tensor and its state buffers, all contiguous with `numel` elements of `dtype`.
struct OptimSlot {
  void* param = nullptr;
  const void* grad = nullptr;
  void* state[3] = {nullptr, nullptr, nullptr};
  int64_t numel = 0;
  DType dtype = DType::Float32;
  double coef[4] = {0, 0, 0, 0};  // per-tensor coefficients from its step count (see fused.cpp)
  bool init = false;              // SGD: the momentum buffer is new and starts as the gradient
};

// The kernel contract of KernelTable::fused_optim. State buffers by algorithm:
//   SGD: momentum_buffer (momentum != 0)        Adam: exp_avg, exp_avg_sq, max_exp_avg_sq (amsgrad)
//   RMSprop: square_avg, grad_avg (centered), momentum_buffer (momentum > 0)
//   Adagrad: sum   Adadelta: square_avg, acc_delta   Adamax: exp_avg, exp_inf
//   NAdam / RAdam: exp_avg, exp_avg_sq
struct FusedOptimArgs {
  OptimAlgo algo = OptimAlgo::SGD;
  OptimHyper hyper;
  std::vector<OptimSlot> slots;
};

namespace optim {

// SGD. momentum_buffers is empty when momentum == 0; an undefined entry is created (as a copy
// of the gradient, like PyTorch). Returns the momentum buffers (created ones included).
std::vector<Tensor> fused_sgd(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                              const std::vector<Tensor>& momentum_buffers, const OptimHyper& h);

// Adam / AdamW (h.decoupled_weight_decay). max_exp_avg_sqs is empty unless h.amsgrad.
void fused_adam(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_avg_sqs,
                const std::vector<Tensor>& max_exp_avg_sqs, const std::vector<Tensor>& steps,
                const OptimHyper& h);

// RMSprop (alpha in h.beta2). grad_avgs is empty unless centered, momentum_buffers unless momentum > 0.
void fused_rmsprop(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                   const std::vector<Tensor>& square_avgs, const std::vector<Tensor>& grad_avgs,
                   const std::vector<Tensor>& momentum_buffers, const std::vector<Tensor>& steps,
                   const OptimHyper& h);

// Adagrad: the step-dependent rate is lr / (1 + (step - 1) * lr_decay).
void fused_adagrad(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                   const std::vector<Tensor>& sums, const std::vector<Tensor>& steps, const OptimHyper& h,
                   double lr_decay);

// Adadelta (rho in h.beta2).
void fused_adadelta(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                    const std::vector<Tensor>& square_avgs, const std::vector<Tensor>& acc_deltas,
                    const std::vector<Tensor>& steps, const OptimHyper& h);

void fused_adamax(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                  const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_infs,
                  const std::vector<Tensor>& steps, const OptimHyper& h);

// NAdam: mu_products are 0-d floating tensors updated in place like the step counters.
void fused_nadam(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                 const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_avg_sqs,
                 const std::vector<Tensor>& mu_products, const std::vector<Tensor>& steps, const OptimHyper& h,
                 double momentum_decay);

void fused_radam(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                 const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_avg_sqs,
                 const std::vector<Tensor>& steps, const OptimHyper& h);

}  // namespace optim
}  // namespace lamina
