"""Anomaly mode: the first forward op or backward function producing NaN/Inf raises, naming the
op, the module running forward and the input shapes; off by default and restored by the context."""

import numpy as np
import pytest

import lamina
import lamina.nn as nn
from lamina.autograd import detect_anomaly, is_anomaly_enabled, set_detect_anomaly


class Log(nn.Module):
    def forward(self, x):
        return (x * 1.0).log()


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Identity(), Log())

    def forward(self, x):
        return self.body(x) * 2


@pytest.fixture(autouse=True)
def _mode_off():
    yield
    set_detect_anomaly(False)


def test_off_by_default_and_context_restores():
    assert not is_anomaly_enabled()
    x = lamina.tensor([-1.0], requires_grad=True)
    assert np.isnan(x.log().item())  # no check when off
    with detect_anomaly():
        assert is_anomaly_enabled()
        with detect_anomaly(check_nan=False):
            assert lamina._C._is_anomaly_check_nan_enabled() is False
            assert np.isnan(x.log().item())  # mode on, scans off
        assert lamina._C._is_anomaly_check_nan_enabled() is True
    assert not is_anomaly_enabled()
    set_detect_anomaly(True)
    assert is_anomaly_enabled()
    with set_detect_anomaly(False):
        assert not is_anomaly_enabled()
    assert is_anomaly_enabled()

    @detect_anomaly()
    def f():
        return is_anomaly_enabled()

    set_detect_anomaly(False)
    assert f() and not is_anomaly_enabled()


def test_forward_nan_names_op_module_and_shapes():
    x = lamina.tensor([[1.0, -1.0, 2.0]], requires_grad=True)
    with detect_anomaly():
        with pytest.raises(RuntimeError) as info:
            Net()(x)
    msg = str(info.value)
    assert "op 'log' (grad_fn LogBackward0) produced nan" in msg, msg
    assert "module: model.body.1 (Log)" in msg
    assert "input shapes: (1, 3)" in msg
    # the module stack was unwound by the exception
    with detect_anomaly():
        with pytest.raises(RuntimeError, match=r"module: none"):
            x.log()


def test_forward_inf_and_input_shapes_of_binary_op():
    a = lamina.ones(2, 3, requires_grad=True)
    b = lamina.tensor([1.0, 0.0, 2.0])
    with detect_anomaly():
        with pytest.raises(RuntimeError, match=r"op 'div' \(grad_fn DivBackward0\) produced inf values in its "
                                               r"output 0 of shape \(2, 3\).*input shapes: \(2, 3\), \(3,\)"):
            a / b


def test_forward_finite_values_pass_even_when_the_sum_overflows():
    x = lamina.full((8,), 3e38, requires_grad=True)
    big = lamina.full((40000,), 3e38, requires_grad=True)  # large tensors are scanned by a sum
    with detect_anomaly():
        y = x * 1.0
        yb = big * 1.0  # the sum overflows float32; the exact confirmation finds no inf
        z = (x * -1.0).exp()
    assert np.isfinite(y.detach().numpy()).all() and np.isfinite(yb.detach().numpy()).all()
    assert z.detach().numpy().tolist() == [0.0] * 8


def test_backward_inf_names_function_and_forward_module():
    class Root(nn.Module):
        def forward(self, x):
            return x.sqrt().sum()

    x = lamina.tensor([0.0, 4.0], requires_grad=True)
    with detect_anomaly():
        y = Root()(x)
        with pytest.raises(RuntimeError) as info:
            y.backward()
    msg = str(info.value)
    assert msg.startswith("Function 'SqrtBackward0' returned inf values in its 0th output."), msg
    assert "ran in module: model (Root)" in msg and "forward input shapes: (2,)" in msg
    assert x.grad is None


def test_backward_nan_from_custom_function():
    class BadGrad(lamina.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * float("nan")

    x = lamina.ones(3, requires_grad=True)
    with detect_anomaly():
        y = BadGrad.apply(x).sum()
        with pytest.raises(RuntimeError, match=r"Function 'BadGradBackward' returned nan values in its 0th output"):
            y.backward()
    # off: the NaN just flows
    BadGrad.apply(x).sum().backward()
    assert np.isnan(x.grad.numpy()).all()


def test_backward_with_create_graph_reports_backward_function():
    x = lamina.tensor([0.0, 1.0], requires_grad=True)
    with detect_anomaly():
        y = x.sqrt().sum()
        with pytest.raises(RuntimeError, match=r"^Function 'SqrtBackward0' returned inf"):
            lamina.autograd.grad(y, x, create_graph=True)


def test_graph_built_before_mode_is_checked_in_backward():
    x = lamina.tensor([0.0], requires_grad=True)
    y = x.sqrt().sum()
    with detect_anomaly():
        with pytest.raises(RuntimeError, match=r"SqrtBackward0.*anomaly mode was off during forward"):
            y.backward()


def test_clean_forward_and_backward_with_mode_on():
    m = nn.Sequential(nn.Identity(), Log())
    x = lamina.tensor([1.0, 2.0], requires_grad=True)
    with detect_anomaly():
        m(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 0.5])


def test_float64_and_strided_outputs():
    x = lamina.tensor([[1.0, 0.0], [2.0, 3.0]], dtype=lamina.float64, requires_grad=True)
    with detect_anomaly():
        with pytest.raises(RuntimeError, match=r"op 'log' .* produced inf values"):
            x.log()
        y = x.t() * 1.0  # finite values pass whatever the layout
        big = lamina.full((3, 70000), 1.0, requires_grad=True)
        (big * 2.0).sum()  # large enough to be scanned in several chunks
        bad = big.detach().clone()
        bad[2, 69999] = float("nan")
        bad.requires_grad_(True)
        with pytest.raises(RuntimeError, match=r"op 'mul' .* produced nan values in its output 0 of shape \(3, 70000\)"):
            bad * 2.0
    assert tuple(y.shape) == (2, 2)
