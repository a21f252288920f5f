"""The backward engine: accumulation, graph retention, create_graph, autograd.grad, errors."""

import numpy as np
import pytest

import lamina


def leaf(*shape, seed=0):
    return lamina.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


def test_backward_accumulates_into_leaves():
    x = leaf(3)
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, 5.0))


def test_shared_subexpression_sums_gradients():
    x = leaf(4)
    y = x.exp()
    z = (y * y + y).sum()
    z.backward()
    e = np.exp(x.detach().numpy())
    np.testing.assert_allclose(x.grad.numpy(), 2 * e * e + e, rtol=1e-12)


def test_backward_twice_without_retain_graph_raises():
    x = leaf(3)
    y = x.exp().sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = leaf(3)
    y = x.exp().sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp(x.detach().numpy()))


def test_nonscalar_backward_needs_gradient():
    x = leaf(3)
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        (x * 2).backward()
    (x * 2).backward(lamina.ones(3, dtype=lamina.float64))
    np.testing.assert_allclose(x.grad.numpy(), np.full(3, 2.0))


def test_gradient_shape_mismatch_raises():
    x = leaf(3)
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        (x * 2).backward(lamina.ones(4, dtype=lamina.float64))


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        lamina.ones(3).sum().backward()


def test_autograd_grad_returns_without_touching_grad():
    x, w = leaf(3), leaf(3, seed=1)
    y = (x * w).sum()
    gx, gw = lamina.autograd.grad(y, [x, w])
    np.testing.assert_allclose(gx.numpy(), w.detach().numpy())
    np.testing.assert_allclose(gw.numpy(), x.detach().numpy())
    assert x.grad is None and w.grad is None


def test_autograd_grad_unused_input():
    x, unused = leaf(3), leaf(3, seed=1)
    y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="not have been used"):
        lamina.autograd.grad(y, [x, unused], retain_graph=True)
    gx, gu = lamina.autograd.grad(y, [x, unused], allow_unused=True)
    assert gu is None
    np.testing.assert_allclose(gx.numpy(), np.full(3, 2.0))


def test_autograd_grad_with_grad_outputs_and_nonleaf_input():
    x = leaf(3)
    h = x.exp()
    y = h * 3
    (gh,) = lamina.autograd.grad(y, h, grad_outputs=lamina.ones(3, dtype=lamina.float64) * 2)
    np.testing.assert_allclose(gh.numpy(), np.full(3, 6.0))


def test_create_graph_gives_higher_order_gradients():
    x = leaf(5)
    y = (x ** 3).sum()
    (g,) = lamina.autograd.grad(y, x, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), 3 * x.detach().numpy() ** 2)
    (gg,) = lamina.autograd.grad(g.sum(), x, create_graph=True)
    np.testing.assert_allclose(gg.detach().numpy(), 6 * x.detach().numpy())
    (ggg,) = lamina.autograd.grad(gg.sum(), x)
    np.testing.assert_allclose(ggg.numpy(), np.full(5, 6.0))


def test_backward_create_graph_makes_grad_differentiable():
    x = leaf(3)
    (x.sin().sum()).backward(create_graph=True)
    assert x.grad.requires_grad
    g = x.grad
    x.grad = None
    g.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), -np.sin(x.detach().numpy()))


def test_backward_inputs_restricts_accumulation():
    x, w = leaf(3), leaf(3, seed=1)
    (x * w).sum().backward(inputs=[x])
    assert w.grad is None
    np.testing.assert_allclose(x.grad.numpy(), w.detach().numpy())


def test_mixed_dtype_gradients_match_input_dtypes():
    a = lamina.ones(3, dtype=lamina.float32, requires_grad=True)
    b = lamina.ones(3, dtype=lamina.float64, requires_grad=True)
    (a * b * 2).sum().backward()
    assert a.grad.dtype == lamina.float32 and b.grad.dtype == lamina.float64
    np.testing.assert_allclose(a.grad.numpy(), np.full(3, 2.0))


def test_broadcast_gradients_are_summed_to_input_shape():
    a, b = leaf(4, 1), leaf(3)
    (a * b).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), np.full((4, 1), b.detach().numpy().sum()))
    np.testing.assert_allclose(b.grad.numpy(), np.full(3, a.detach().numpy().sum()))


def test_no_grad_and_enable_grad():
    x = leaf(3)
    with lamina.no_grad():
        y = x * 2
        with lamina.enable_grad():
            z = x * 2
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad
    assert lamina.is_grad_enabled()

    @lamina.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad
    lamina.set_grad_enabled(False)
    assert not (x * 2).requires_grad
    lamina.set_grad_enabled(True)
    with lamina.set_grad_enabled(False):
        assert not lamina.is_grad_enabled()
    assert lamina.is_grad_enabled()


def test_grad_fn_names_and_graph():
    x = leaf(3)
    y = (x.tanh() * 2 + 1).sum()
    assert y.grad_fn.name() == "SumBackward1"
    add = y.grad_fn.next_functions[0][0]
    assert add.name() == "AddBackward0"
    mul = add.next_functions[0][0]
    assert mul.name() == "MulBackward0"
    assert mul.next_functions[0][0].name() == "TanhBackward0"
    assert mul.next_functions[0][0].next_functions[0][0].name() == "AccumulateGrad"
    assert "TanhBackward0" in repr(mul.next_functions[0][0])


def test_requires_grad_rules():
    with pytest.raises(RuntimeError, match="floating point"):
        lamina.ones(3, dtype=lamina.int64).requires_grad_()
    x = leaf(3)
    y = x * 2
    with pytest.raises(RuntimeError, match="leaf variables"):
        y.requires_grad = False
    assert x.is_leaf and not y.is_leaf
    d = y.detach()
    assert not d.requires_grad and d.is_leaf
    assert (x > 0).requires_grad is False
    assert x.argmax().requires_grad is False


def test_leaf_inplace_raises_and_no_grad_inplace_allowed():
    x = leaf(3)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        x.add_(1)
    with lamina.no_grad():
        x.add_(1)
    assert x.requires_grad and x.is_leaf


def test_modified_saved_tensor_is_detected():
    x = leaf(3)
    y = x.exp()
    z = (y * 2).sum() + y.sum()
    w = y.exp()  # saves y's output
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        w.sum().backward()
    del z


def test_inplace_on_nonleaf_gradients():
    x = leaf(4)
    y = x * 1
    y.mul_(x)            # y = x * x
    y.add_(3, alpha=2)   # y = x^2 + 6
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.detach().numpy())
    assert y.grad_fn is not None


def test_grad_setter_validates():
    x = leaf(3)
    with pytest.raises(RuntimeError, match="different size"):
        x.grad = lamina.ones(4, dtype=lamina.float64)
    x.grad = lamina.ones(3, dtype=lamina.float64)
    x.grad = None
    assert x.grad is None


def test_multi_output_node_missing_gradients_are_zero():
    x = leaf(4, 3)
    a, b, c = x.unbind(1)
    (a * 2).sum().backward()
    expected = np.zeros((4, 3))
    expected[:, 0] = 2
    np.testing.assert_allclose(x.grad.numpy(), expected)
    x.grad = None
    p, q = x.split(2, dim=0)
    (q.sum() * 3).backward()
    expected = np.zeros((4, 3))
    expected[2:] = 3
    np.testing.assert_allclose(x.grad.numpy(), expected)


def test_data_alias_does_not_track_versions():
    x = leaf(3)
    y = x * x        # saves x
    x.data.mul_(2)   # optimizers write through .data: saved-tensor checks are not tripped
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.detach().numpy())
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z = x * x
        with lamina.no_grad():
            x.mul_(2)  # an in-place write through the tensor itself is tracked
        z.sum().backward()


def test_view_created_before_inplace_write_to_base_sees_new_history():
    """Regression: a view taken before an in-place write to its base kept the base's old history."""
    x = lamina.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    v = y[0]
    y.mul_(3)
    v.backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 0.0])


def test_view_of_base_written_through_another_view():
    x = lamina.tensor([1.0, 2.0, 3.0], requires_grad=True)
    buf = lamina.zeros(3)
    whole = buf[:]
    buf[1:] = x[1:] * 5     # written through a second view
    assert whole.requires_grad
    whole.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 5.0, 5.0])


# ---- in place on views that autograd cannot follow (regressions: silently wrong gradients) -------

def test_inplace_on_view_created_in_no_grad_raises():
    x = lamina.ones(3, requires_grad=True)
    y = x * 1
    with lamina.no_grad():
        v = y[:2]
    with pytest.raises(RuntimeError, match="created in no_grad mode"):
        v.mul_(2)
    with lamina.no_grad():
        w = y[:2]
    with pytest.raises(RuntimeError, match="created in no_grad mode"):
        w[:1].add_(1)  # a view of such a view too
    with lamina.no_grad():
        v.mul_(2)  # in place inside no_grad is fine
    z = lamina.ones(3) * 1
    with lamina.no_grad():
        u = z[:2]
    u.mul_(2)  # the base does not require grad: nothing to get wrong
    np.testing.assert_array_equal(z.numpy(), [2, 2, 1])


def test_detach_inplace_on_a_view_raises():
    y = lamina.ones(3, requires_grad=True) * 1
    with pytest.raises(RuntimeError, match="Can't detach views in-place"):
        y[:2].detach_()
    y.detach_()  # not a view: fine
    assert not y.requires_grad and y.grad_fn is None


def test_accumulate_grad_runs_as_soon_as_ready_even_when_created_long_ago():
    # A leaf's AccumulateGrad outlives an iteration while something holds it (DDP did). It must
    # still run as soon as its gradient is ready, before the earlier layers' backward, as in
    # PyTorch: with its old creation number it used to wait until the end of backward.
    w1, w2, x = leaf(3, 3, seed=1), leaf(3, 3, seed=2), lamina.ones(2, 3, dtype=lamina.float64)
    held = w2.view_as(w2).grad_fn.next_functions[0][0]
    assert "AccumulateGrad" in repr(held)
    order = []
    w2.register_hook(lambda g: order.append("w2"))
    for _ in range(2):  # the second iteration reuses the held node
        order.clear()
        h = x @ w1
        h.register_hook(lambda g: order.append("h"))  # runs with the first layer's backward
        (h @ w2).sum().backward()
        assert order == ["w2", "h"]
