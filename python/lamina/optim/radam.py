"""RAdam (rectified Adam), optionally with decoupled weight decay (PyTorch's update rule)."""

from .. import _C
from .adam import _check_betas
from .optimizer import Optimizer, _check_range, _check_unsupported, _number


class RAdam(Optimizer):
    """RAdam: Adam's moments; while the variance estimate is unreliable (rho_t <= 5) the step is
    p -= lr m / (1 - beta1^t), afterwards it is scaled by the adaptive term and the rectification
    factor sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t)).
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        _check_unsupported("RAdam", foreach, None, capturable, differentiable)
        _check_range("learning rate", lr)
        _check_range("epsilon value", eps)
        _check_betas(betas)
        _check_range("weight_decay value", weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _step_group(self, group):
        params, grads = self._params_with_grad(group)
        if not params:
            return
        steps = self._step_counters(params)
        exp_avgs = self._state_list(params, "exp_avg", _C.zeros_like)
        exp_avg_sqs = self._state_list(params, "exp_avg_sq", _C.zeros_like)
        beta1, beta2 = group["betas"]
        _C._fused_radam(params, grads, exp_avgs, exp_avg_sqs, steps, lr=_number(group["lr"]), beta1=float(beta1),
                        beta2=float(beta2), eps=float(group["eps"]), weight_decay=float(group["weight_decay"]),
                        decoupled_weight_decay=bool(group["decoupled_weight_decay"]),
                        maximize=bool(group["maximize"]))
