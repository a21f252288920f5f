"""Adagrad with learning-rate decay, weight decay and an initial accumulator (PyTorch's rule)."""

from .. import _C
from .optimizer import Optimizer, _check_range, _check_unsupported, _new_counter, _number


class Adagrad(Optimizer):
    """Adagrad: sum += g^2; p -= lr / (1 + (t - 1) lr_decay) * g / (sqrt(sum) + eps). State is
    created for every parameter at construction (sum = initial_accumulator_value), like PyTorch.
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                 foreach=None, *, maximize=False, differentiable=False, fused=None):
        _check_unsupported("Adagrad", foreach, fused, False, differentiable)
        _check_range("learning rate", lr)
        _check_range("lr_decay value", lr_decay)
        _check_range("weight_decay value", weight_decay)
        _check_range("initial_accumulator_value value", initial_accumulator_value)
        _check_range("epsilon value", eps)
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                state["step"] = _new_counter(0)
                state["sum"] = _C.full_like(p, float(group["initial_accumulator_value"]))

    def _step_group(self, group):
        params, grads = self._params_with_grad(group)
        if not params:
            return
        init = float(group["initial_accumulator_value"])
        steps = self._step_counters(params)
        sums = self._state_list(params, "sum", lambda p: _C.full_like(p, init))
        _C._fused_adagrad(params, grads, sums, steps, lr=_number(group["lr"]), lr_decay=float(group["lr_decay"]),
                          weight_decay=float(group["weight_decay"]), eps=float(group["eps"]),
                          maximize=bool(group["maximize"]))
