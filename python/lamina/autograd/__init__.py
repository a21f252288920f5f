"""Reverse-mode automatic differentiation (the engine is C++; this is its Python face)."""

from .. import _C
from .anomaly_mode import detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from .function import Function
from .grad_mode import enable_grad, inference_mode, no_grad, set_grad_enabled
from .gradcheck import gradcheck, gradgradcheck
from . import profiler  # noqa: F401  (torch.autograd.profiler.profile / record_function)


def Variable(data, requires_grad=False, volatile=False):  # noqa: N802  (PyTorch's old name)
    """PyTorch's pre-0.4 wrapper, kept for old code: since then a Variable is just the tensor."""
    if requires_grad:
        data.requires_grad_(True)
    return data


def _as_list(x):
    if x is None:
        return []
    return [x] if isinstance(x, _C.Tensor) else list(x)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Computes the gradients of `tensors` and accumulates them into the leaves' .grad."""
    tensors = _as_list(tensors)
    grads = _as_list(grad_tensors) or [None] * len(tensors)
    if retain_graph is None:
        retain_graph = create_graph
    _C._backward(tensors, grads, retain_graph, create_graph, _as_list(inputs))


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Returns d(outputs)/d(inputs) as a tuple (weighted by grad_outputs), without touching .grad."""
    outputs = _as_list(outputs)
    grads = _as_list(grad_outputs) or [None] * len(outputs)
    if retain_graph is None:
        retain_graph = create_graph
    return _C._grad(outputs, _as_list(inputs), grads, retain_graph, create_graph, allow_unused)


__all__ = ["Function", "backward", "grad", "gradcheck", "gradgradcheck", "no_grad", "enable_grad",
           "set_grad_enabled", "detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled"]
