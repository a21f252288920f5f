"""softmax / log_softmax: forward against numpy on many shapes, dims and layouts at every ISA level,
gradients by finite differences in float64 (first and second order), thread-count determinism of
the fused forward and backward kernels, dtype= and errors."""

import numpy as np
import pytest

import lamina
import lamina.nn.functional as F
from lamina.autograd import gradcheck, gradgradcheck


def np_log_softmax(x, dim):
    x = x.astype(np.float64)
    m = np.max(x, axis=dim, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=dim, keepdims=True))


def np_softmax(x, dim):
    return np.exp(np_log_softmax(x, dim))


CASES = [((5,), 0), ((3, 7), 1), ((3, 7), 0), ((2, 3, 4), 0), ((2, 3, 4), 1), ((2, 3, 4), -1), ((4, 1, 5), 1),
         ((1,), 0), ((), 0), ((0, 3), 1), ((37, 129), 1), ((37, 129), 0), ((2, 300, 19), 1), ((3, 1), -1)]


@pytest.mark.parametrize("shape,dim", CASES, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_forward_matches_numpy(shape, dim, dtype, log, isa):
    x = np.random.default_rng(1).normal(0, 3, size=shape).astype(dtype)
    fn, ref = (F.log_softmax, np_log_softmax) if log else (F.softmax, np_softmax)
    out = fn(lamina.tensor(x), dim)
    assert out.dtype == getattr(lamina, dtype) and tuple(out.shape) == shape
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(out.numpy(), ref(x, dim), rtol=tol, atol=tol)


@pytest.mark.parametrize("log", [False, True])
def test_softmax_non_contiguous_views(log, isa):
    fn, ref = (lamina.log_softmax, np_log_softmax) if log else (lamina.softmax, np_softmax)
    base = np.random.default_rng(2).normal(size=(6, 9, 5)).astype(np.float32)
    t = lamina.tensor(base)
    for view, arr in [(t.transpose(0, 2), base.transpose(2, 1, 0)), (t[:, ::2, 1:], base[:, ::2, 1:]),
                      (t[2].t(), base[2].T)]:
        for dim in range(arr.ndim):
            np.testing.assert_allclose(fn(view, dim).numpy(), ref(arr, dim), rtol=1e-5, atol=1e-6)


def test_softmax_is_stable_for_large_and_infinite_logits():
    x = np.array([[1000.0, 1001.0, 999.0], [-1e4, 0.0, -np.inf], [-np.inf, -np.inf, 5.0]], dtype=np.float32)
    np.testing.assert_allclose(F.softmax(lamina.tensor(x), 1).numpy(), np_softmax(x, 1), rtol=1e-6)
    out = F.log_softmax(lamina.tensor(x), 1).numpy()
    assert out[1, 2] == -np.inf and out[2, 0] == -np.inf
    np.testing.assert_allclose(out[0], np_log_softmax(x, 1)[0], rtol=1e-6)
    nan_row = F.softmax(lamina.tensor([[1.0, float("nan"), 2.0]]), 1).numpy()
    assert np.isnan(nan_row).all()


def test_softmax_dtype_argument_and_method():
    x = lamina.randn(3, 4)
    out = F.softmax(x, 1, dtype=lamina.float64)
    assert out.dtype == lamina.float64
    np.testing.assert_allclose(out.numpy(), np_softmax(x.numpy().astype(np.float64), 1), rtol=1e-12)
    np.testing.assert_array_equal(x.softmax(-1).numpy(), lamina.softmax(x, -1).numpy())
    np.testing.assert_array_equal(x.log_softmax(0).numpy(), lamina.log_softmax(x, 0).numpy())
    # dim=None keeps PyTorch's implicit choice: 1 for 2-d inputs
    np.testing.assert_array_equal(F.softmax(x).numpy(), F.softmax(x, 1).numpy())


def test_softmax_dtype_gradient_flows_back_in_the_input_dtype():
    x = lamina.randn(2, 5, requires_grad=True)
    F.log_softmax(x, 1, dtype=lamina.float64)[:, 0].sum().backward()
    assert x.grad.dtype == lamina.float32
    expected = -np_softmax(x.detach().numpy(), 1)
    expected[:, 0] += 1
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape,dim", [((4, 5), 1), ((4, 5), 0), ((2, 3, 4), 1), ((3,), 0), ((), 0), ((2, 1, 3), 1)],
                         ids=str)
@pytest.mark.parametrize("log", [False, True])
def test_softmax_gradcheck(shape, dim, log):
    fn = F.log_softmax if log else F.softmax
    x = lamina.tensor(np.random.default_rng(3).normal(size=shape)).requires_grad_(True)
    w = lamina.tensor(np.random.default_rng(4).normal(size=shape))
    assert gradcheck(lambda t: fn(t, dim) * w, (x,))
    assert gradgradcheck(lambda t: fn(t, dim) * w, (x,))


def test_softmax_grad_fn_names():
    x = lamina.randn(2, 3, requires_grad=True)
    assert F.softmax(x, 1).grad_fn.name() == "SoftmaxBackward0"
    assert F.log_softmax(x, 1).grad_fn.name() == "LogSoftmaxBackward0"


@pytest.mark.parametrize("shape,dim", [((300, 517), 1), ((517, 300), 0), ((8, 4001, 3), 1)], ids=str)
@pytest.mark.parametrize("log", [False, True])
def test_softmax_same_bytes_for_any_thread_count(shape, dim, log, isa, threads):
    fn = F.log_softmax if log else F.softmax
    x0 = lamina.tensor(np.random.default_rng(5).normal(size=shape).astype(np.float32))
    g = lamina.tensor(np.random.default_rng(6).normal(size=shape).astype(np.float32))
    results = []
    for n in (1, 2, 3):
        threads(n)
        x = x0.detach().requires_grad_(True)
        y = fn(x, dim)
        y.backward(g)
        results.append((y.detach().numpy().tobytes(), x.grad.numpy().tobytes()))
    assert results[0] == results[1] == results[2]


def test_softmax_errors():
    with pytest.raises(IndexError, match="softmax: dim 2 out of range"):
        F.softmax(lamina.randn(2, 3), 2)
    with pytest.raises(RuntimeError, match="log_softmax"):
        F.log_softmax(lamina.tensor([1, 2, 3]), 0)


@pytest.mark.parametrize("shape,dim", [((37, 129), 1), ((37, 129), 0), ((2, 300, 19), 1), ((5,), 0)], ids=str)
@pytest.mark.parametrize("log", [False, True])
def test_softmax_fused_backward_matches_composite(shape, dim, log, isa):
    """The fused backward kernel (plain backward) against the formula written with lamina ops
    (create_graph=True takes that path), in float32 at every ISA level."""
    fn = F.log_softmax if log else F.softmax
    x = lamina.tensor(np.random.default_rng(7).normal(size=shape).astype(np.float32)).requires_grad_(True)
    g = lamina.tensor(np.random.default_rng(8).normal(size=shape).astype(np.float32))
    (fused,) = lamina.autograd.grad(fn(x, dim), [x], g)
    (composite,) = lamina.autograd.grad(fn(x, dim), [x], g, create_graph=True)
    np.testing.assert_allclose(fused.numpy(), composite.detach().numpy(), rtol=1e-4, atol=1e-6)


def test_softmin_is_softmax_of_negated_input():
    x = np.random.default_rng(9).normal(size=(3, 4)).astype(np.float32)
    np.testing.assert_allclose(F.softmin(lamina.tensor(x), 1).numpy(), np_softmax(-x, 1), rtol=1e-5, atol=1e-7)
