"""RMSprop with momentum, centering and weight decay (PyTorch's update rule)."""

from .. import _C
from .optimizer import Optimizer, _check_range, _check_unsupported, _number


class RMSprop(Optimizer):
    """RMSprop: v = alpha v + (1 - alpha) g^2; avg = sqrt(v - ga^2) (centered, ga = lerp(ga, g,
    1 - alpha)) or sqrt(v), plus eps; with momentum buf = momentum buf + g / avg and p -= lr buf,
    else p -= lr g / avg.
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                 capturable=False, foreach=None, maximize=False, differentiable=False):
        _check_unsupported("RMSprop", foreach, None, capturable, differentiable)
        _check_range("learning rate", lr)
        _check_range("epsilon value", eps)
        _check_range("momentum value", momentum)
        _check_range("weight_decay value", weight_decay)
        _check_range("alpha value", alpha)
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                        centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _step_group(self, group):
        params, grads = self._params_with_grad(group)
        if not params:
            return
        momentum, centered = float(group["momentum"]), bool(group["centered"])
        steps = self._step_counters(params)
        square_avgs = self._state_list(params, "square_avg", _C.zeros_like)
        bufs = self._state_list(params, "momentum_buffer", _C.zeros_like) if momentum > 0 else []
        grad_avgs = self._state_list(params, "grad_avg", _C.zeros_like) if centered else []
        _C._fused_rmsprop(params, grads, square_avgs, grad_avgs, bufs, steps, lr=_number(group["lr"]),
                          alpha=float(group["alpha"]), eps=float(group["eps"]),
                          weight_decay=float(group["weight_decay"]), momentum=momentum, centered=centered,
                          maximize=bool(group["maximize"]))
