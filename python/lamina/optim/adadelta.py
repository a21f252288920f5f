"""Adadelta with weight decay (PyTorch's update rule)."""

from .. import _C
from .optimizer import Optimizer, _check_range, _check_unsupported, _number


class Adadelta(Optimizer):
    """Adadelta: v = rho v + (1 - rho) g^2; delta = sqrt(u + eps) / sqrt(v + eps) * g;
    u = rho u + (1 - rho) delta^2; p -= lr delta.
    """

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *, capturable=False,
                 maximize=False, differentiable=False):
        _check_unsupported("Adadelta", foreach, None, capturable, differentiable)
        _check_range("learning rate", lr)
        _check_range("rho value", rho, 0.0, 1.0, high_open=False)
        _check_range("epsilon value", eps)
        _check_range("weight_decay value", weight_decay)
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _step_group(self, group):
        params, grads = self._params_with_grad(group)
        if not params:
            return
        steps = self._step_counters(params)
        square_avgs = self._state_list(params, "square_avg", _C.zeros_like)
        acc_deltas = self._state_list(params, "acc_delta", _C.zeros_like)
        _C._fused_adadelta(params, grads, square_avgs, acc_deltas, steps, lr=_number(group["lr"]),
                           rho=float(group["rho"]), eps=float(group["eps"]),
                           weight_decay=float(group["weight_decay"]), maximize=bool(group["maximize"]))
