"""Tensor hooks and retain_grad."""

import numpy as np
import pytest

import lamina


def leaf(n=3):
    return lamina.tensor(np.arange(1.0, n + 1), requires_grad=True)


def test_leaf_hook_sees_and_replaces_gradient():
    x = leaf()
    seen = []
    x.register_hook(lambda g: seen.append(g.numpy().copy()))
    handle = x.register_hook(lambda g: g * 10)
    (x * 2).sum().backward()
    np.testing.assert_allclose(seen[0], np.full(3, 2.0))
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, 20.0))
    handle.remove()
    x.grad = None
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, 2.0))


def test_nonleaf_hook_changes_downstream_gradient():
    x = leaf()
    y = x * 3
    y.register_hook(lambda g: g + 1)
    (y * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, 9.0))  # (2 + 1) * 3


def test_hook_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        lamina.ones(3).register_hook(lambda g: g)


def test_hook_exception_propagates():
    x = leaf()

    def bad(g):
        raise ValueError("boom in hook")

    x.register_hook(bad)
    with pytest.raises(ValueError, match="boom in hook"):
        (x * 2).sum().backward()


def test_retain_grad():
    x = leaf()
    y = x * 2
    y.retain_grad()
    z = y * y
    z.sum().backward()
    assert y.retains_grad
    np.testing.assert_allclose(y.grad.numpy(), 2 * y.detach().numpy())
    w = x * 3
    w.sum().backward()
    assert w.grad is None  # not retained


def test_hooks_run_in_autograd_grad():
    x = leaf()
    y = x * 2
    y.register_hook(lambda g: g * 0.5)
    (gx,) = lamina.autograd.grad(y.sum(), x)
    np.testing.assert_allclose(gx.numpy(), np.full(3, 1.0))


# ---- a hook may not change the gradient's shape or dtype (regression: stored as is) --------------

@pytest.mark.parametrize("replacement,words", [(lambda g: lamina.ones(2, 3, dtype=g.dtype), "size"),
                                               (lambda g: g.to(lamina.float32), "type")])
def test_hook_changing_size_or_type_raises(replacement, words):
    x = leaf()  # float64
    x.register_hook(replacement)
    with pytest.raises(RuntimeError, match=f"hook has changed the {words} of value"):
        (x * 2).sum().backward()
    assert x.grad is None
    y = leaf() * 1
    y.register_hook(replacement)
    with pytest.raises(RuntimeError, match=f"hook has changed the {words} of value"):
        (y * 2).sum().backward()
