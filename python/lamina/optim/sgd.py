"""SGD with momentum, dampening, Nesterov momentum and weight decay (PyTorch's update rule)."""

from .. import _C
from .optimizer import Optimizer, _check_range, _check_unsupported, _number


class SGD(Optimizer):
    """Stochastic gradient descent.

    g = grad (negated if maximize) + weight_decay * p; with momentum, buf = g on the first step,
    then buf = momentum * buf + (1 - dampening) * g, and g = g + momentum * buf (nesterov) or buf;
    p = p - lr * g.
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
                 maximize=False, foreach=None, differentiable=False, fused=None):
        _check_unsupported("SGD", foreach, fused, False, differentiable)
        _check_range("learning rate", lr)
        _check_range("momentum value", momentum)
        _check_range("weight_decay value", weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _step_group(self, group):
        params, grads = self._params_with_grad(group)
        if not params:
            return
        momentum = float(group["momentum"])
        bufs = [self.state[p].get("momentum_buffer") for p in params] if momentum != 0 else []
        bufs = _C._fused_sgd(params, grads, bufs, lr=_number(group["lr"]),
                             weight_decay=float(group["weight_decay"]), momentum=momentum,
                             dampening=float(group["dampening"]), nesterov=bool(group["nesterov"]),
                             maximize=bool(group["maximize"]))
        for p, buf in zip(params, bufs):
            self.state[p]["momentum_buffer"] = buf
