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


# ---- backward gets one gradient per output of forward (regression: one per differentiable output)

class MixedOutputs(Function):
    @staticmethod
    def forward(ctx, x):
        return x.argmax(), x * 2, 3, x > 0, x * 3

    @staticmethod
    def backward(ctx, g_idx, g_double, g_three, g_mask, g_triple):
        return g_double * 2 + g_triple * 3


def test_backward_receives_one_gradient_per_forward_output():
    x = lamina.tensor([1.0, -2.0, 3.0], requires_grad=True)
    idx, double, three, mask, triple = MixedOutputs.apply(x)
    assert three == 3 and idx.grad_fn is None and mask.grad_fn is None and double.grad_fn is not None
    seen = {}

    class Probe(MixedOutputs):
        @staticmethod
        def backward(ctx, *grads):
            seen["grads"] = grads
            return MixedOutputs.backward(ctx, *grads)

    idx, double, three, mask, triple = Probe.apply(x)
    double.sum().backward()
    g_idx, g_double, g_three, g_mask, g_triple = seen["grads"]
    # non-differentiable tensor outputs get zeros of their own dtype and shape (materialize_grads),
    # unused differentiable outputs zeros too, a non-tensor output None
    assert g_idx.dtype == lamina.int64 and g_idx.shape == () and int(g_idx) == 0
    assert g_mask.dtype == lamina.bool and g_mask.shape == (3,) and not g_mask.any()
    assert g_three is None
    np.testing.assert_array_equal(g_double.numpy(), [1, 1, 1])
    np.testing.assert_array_equal(g_triple.numpy(), [0, 0, 0])
    np.testing.assert_array_equal(x.grad.numpy(), [2, 2, 2])


def test_set_materialize_grads_false_passes_none_for_unused_outputs():
    seen = {}

    class TwoOut(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(False)
            return x * 2, x.argmax()

        @staticmethod
        def backward(ctx, g, g_idx):
            seen["grads"] = (g, g_idx)
            return g * 2

    x = lamina.ones(3, requires_grad=True)
    a, _ = TwoOut.apply(x)
    a.sum().backward()
    assert seen["grads"][1] is None
