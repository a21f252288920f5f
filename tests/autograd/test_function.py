"""Custom autograd.Function."""

import numpy as np
import pytest

import lamina
from lamina.autograd import Function


class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        y = x.exp()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * y


class ScaleAdd(Function):
    """a * scale + b with a non-tensor argument."""

    @staticmethod
    def forward(ctx, a, scale, b):
        ctx.scale = scale
        ctx.save_for_backward(a, b)
        return a * scale + b

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.scale, None, grad


class Split2(Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2, x * 3

    @staticmethod
    def backward(ctx, g1, g2):
        return g1 * 2 + g2 * 3


def leaf(n=4, seed=0):
    return lamina.tensor(np.random.default_rng(seed).standard_normal(n), requires_grad=True)


def test_custom_exp_matches_builtin():
    x = leaf()
    y = Exp.apply(x)
    assert y.grad_fn.name() == "ExpBackward"
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp(x.detach().numpy()))
    assert lamina.autograd.gradcheck(Exp.apply, [leaf()])


def test_non_tensor_arguments_and_needs_input_grad():
    a, b = leaf(), lamina.tensor(np.ones(4))
    seen = {}

    class Probe(ScaleAdd):
        @staticmethod
        def forward(ctx, a, scale, b):
            seen["needs"] = ctx.needs_input_grad
            return ScaleAdd.forward(ctx, a, scale, b)

    out = Probe.apply(a, 3.0, b)
    assert seen["needs"] == (True, False, False)
    out.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), np.full(4, 3.0))


def test_multiple_outputs():
    x = leaf()
    p, q = Split2.apply(x)
    (p.sum() + q.sum() * 2).backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(4, 8.0))


def test_double_backward_through_custom_function():
    x = leaf()
    y = Exp.apply(x).sum()
    (g,) = lamina.autograd.grad(y, x, create_graph=True)
    (gg,) = lamina.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(gg.numpy(), np.exp(x.detach().numpy()))


def test_wrong_number_of_gradients_raises():
    class Bad(Function):
        @staticmethod
        def forward(ctx, x, y):
            return x + y

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(RuntimeError, match="incorrect number of gradients"):
        Bad.apply(leaf(), leaf(seed=1)).sum().backward()


def test_saved_tensors_freed_after_backward():
    x = leaf()
    y = Exp.apply(x)
    fn = y.grad_fn
    y.sum().backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.sum().backward()
    del fn


def test_no_graph_without_grad():
    x = lamina.ones(3)
    y = Exp.apply(x)
    assert y.grad_fn is None and not y.requires_grad
    np.testing.assert_allclose(y.numpy(), np.full(3, np.e), rtol=1e-6)


def test_returning_an_input_creates_an_alias():
    class Identity(Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 5

    x = leaf()
    y = Identity.apply(x)
    assert y is not x and x.is_leaf
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(4, 5.0))
