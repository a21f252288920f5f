"""Adamax (Adam with the infinity norm), with weight decay (PyTorch's update rule)."""

from .. import _C
from .adam import _check_betas
from .optimizer import Optimizer, _check_range, _check_unsupported, _number


class Adamax(Optimizer):
    """Adamax: m = lerp(m, g, 1 - beta1); u = max(beta2 u, |g| + eps); p -= lr / (1 - beta1^t) m / u."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
                 maximize=False, differentiable=False, capturable=False):
        _check_unsupported("Adamax", foreach, None, capturable, differentiable)
        _check_range("learning rate", lr)
        _check_range("epsilon value", eps)
        _check_betas(betas)
        _check_range("weight_decay value", weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _step_group(self, group):
        params, grads = self._params_with_grad(group)
        if not params:
            return
        steps = self._step_counters(params)
        exp_avgs = self._state_list(params, "exp_avg", _C.zeros_like)
        exp_infs = self._state_list(params, "exp_inf", _C.zeros_like)
        beta1, beta2 = group["betas"]
        _C._fused_adamax(params, grads, exp_avgs, exp_infs, steps, lr=_number(group["lr"]), beta1=float(beta1),
                         beta2=float(beta2), eps=float(group["eps"]), weight_decay=float(group["weight_decay"]),
                         maximize=bool(group["maximize"]))
