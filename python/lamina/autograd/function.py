"""Custom differentiable operations written in Python.

    class Exp(lamina.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad):
            (y,) = ctx.saved_tensors
            return grad * y

Tensors passed to `ctx.save_for_backward` (inputs or outputs) are kept by the C++ node without
reference cycles, so a training loop of custom Functions does not leak.
"""

from .. import _C
from .grad_mode import no_grad


class Function:
    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement the backward function for custom autograd.Function.")

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = _C.FunctionCtx()
        ctx.needs_input_grad = tuple(isinstance(a, _C.Tensor) and a.requires_grad for a in args)
        with no_grad():
            outputs = cls.forward(ctx, *args, **kwargs)
        return _C._function_finish(ctx, cls.backward, cls.__name__ + "Backward", args, outputs)
