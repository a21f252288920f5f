"""NAdam (Adam with Nesterov momentum and momentum decay), optionally with decoupled weight decay."""

from .. import _C
from .adam import _check_betas
from .optimizer import Optimizer, _check_range, _check_unsupported, _new_counter, _number


class NAdam(Optimizer):
    """NAdam: mu_t = beta1 (1 - 0.5 * 0.96^(t momentum_decay)); the update mixes the gradient and
    the first moment with weights from mu_t, mu_{t+1} and the running product of the mu's
    (state 'mu_product'), over sqrt(v / (1 - beta2^t)) + eps.
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False):
        _check_unsupported("NAdam", foreach, None, capturable, differentiable)
        _check_range("learning rate", lr)
        _check_range("epsilon value", eps)
        _check_betas(betas)
        _check_range("weight_decay value", weight_decay)
        _check_range("momentum_decay value", momentum_decay)
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
                        maximize=maximize)
        super().__init__(params, defaults)

    def _step_group(self, group):
        params, grads = self._params_with_grad(group)
        if not params:
            return
        steps = self._step_counters(params)
        mu_products = self._state_list(params, "mu_product", lambda p: _new_counter(1))
        exp_avgs = self._state_list(params, "exp_avg", _C.zeros_like)
        exp_avg_sqs = self._state_list(params, "exp_avg_sq", _C.zeros_like)
        beta1, beta2 = group["betas"]
        _C._fused_nadam(params, grads, exp_avgs, exp_avg_sqs, mu_products, steps, lr=_number(group["lr"]),
                        beta1=float(beta1), beta2=float(beta2), eps=float(group["eps"]),
                        weight_decay=float(group["weight_decay"]), momentum_decay=float(group["momentum_decay"]),
                        decoupled_weight_decay=bool(group["decoupled_weight_decay"]),
                        maximize=bool(group["maximize"]))
