"""Adam (and, with decoupled_weight_decay, AdamW) with amsgrad and maximize (PyTorch's rule)."""

from .. import _C
from .optimizer import Optimizer, _check_range, _check_unsupported, _number


def _check_betas(betas):
    _check_range("beta parameter at index 0", betas[0], 0.0, 1.0)
    _check_range("beta parameter at index 1", betas[1], 0.0, 1.0)


class Adam(Optimizer):
    """Adam: m = lerp(m, g, 1 - beta1), v = beta2 v + (1 - beta2) g^2 (v_max = max(v_max, v) with
    amsgrad), p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps). Weight decay is
    added to the gradient, or with decoupled_weight_decay applied as p *= 1 - lr * weight_decay.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
                 foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
                 decoupled_weight_decay=False):
        _check_unsupported(type(self).__name__, foreach, fused, capturable, differentiable)
        _check_range("learning rate", lr)
        _check_range("epsilon value", eps)
        _check_betas(betas)
        _check_range("weight_decay value", weight_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _step_group(self, group):
        params, grads = self._params_with_grad(group)
        if not params:
            return
        amsgrad = bool(group["amsgrad"])
        steps = self._step_counters(params)
        exp_avgs = self._state_list(params, "exp_avg", _C.zeros_like)
        exp_avg_sqs = self._state_list(params, "exp_avg_sq", _C.zeros_like)
        max_sqs = self._state_list(params, "max_exp_avg_sq", _C.zeros_like) if amsgrad else []
        beta1, beta2 = group["betas"]
        _C._fused_adam(params, grads, exp_avgs, exp_avg_sqs, max_sqs, steps, lr=_number(group["lr"]),
                       beta1=_number(beta1), beta2=_number(beta2), weight_decay=float(group["weight_decay"]),
                       eps=float(group["eps"]), amsgrad=amsgrad, maximize=bool(group["maximize"]),
                       decoupled_weight_decay=bool(group["decoupled_weight_decay"]))
