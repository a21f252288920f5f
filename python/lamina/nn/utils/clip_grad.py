"""Gradient clipping: by total norm (clip_grad_norm_) or by value (clip_grad_value_)."""

import math

from ... import _C
from ...autograd.grad_mode import no_grad

__all__ = ["clip_grad_norm_", "clip_grad_norm", "clip_grad_value_"]


def _grads(parameters):
    if isinstance(parameters, _C.Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scales all gradients together so that their total norm is at most max_norm.

    The total norm is the norm_type-norm of the vector of all gradients (inf: the largest |g|).
    Gradients are multiplied in place by min(1, max_norm / (total_norm + 1e-6)). Returns the total
    norm (a 0-d tensor). error_if_nonfinite=True raises if the total norm is NaN or Inf.
    """
    grads = _grads(parameters)
    max_norm = float(max_norm)
    norm_type = float(norm_type)
    if not grads:
        return _C.tensor(0.0)
    with no_grad():
        if norm_type == math.inf:
            norms = [g.detach().abs().max().to(_C.dtype.float64) for g in grads]
            total = _C.stack(norms).max() if len(norms) > 1 else norms[0]
        else:
            norms = [g.detach().norm(norm_type).to(_C.dtype.float64) for g in grads]
            total = _C.stack(norms).norm(norm_type)
        total_value = total.item()
        if error_if_nonfinite and not math.isfinite(total_value):
            raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, "
                               "so it cannot be clipped. To disable this error and scale the gradients by the "
                               "non-finite norm anyway, set `error_if_nonfinite=False`")
        clip_coef = max_norm / (total_value + 1e-6)
        if clip_coef < 1 or math.isnan(clip_coef):  # a NaN norm spreads to every gradient, as in PyTorch
            for g in grads:
                g.mul_(clip_coef)
    return total.to(grads[0].dtype)


def clip_grad_norm(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Deprecated alias of clip_grad_norm_ (kept by PyTorch too)."""
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamps every gradient element into [-clip_value, clip_value] in place."""
    clip_value = float(clip_value)
    with no_grad():
        for g in _grads(parameters):
            g.copy_(g.clamp(-clip_value, clip_value))
