"""Activation functions of lamina.nn.functional and normalize: forward against numpy on random
inputs (including a non-contiguous view), gradients by finite differences in float64 away from
kinks, and the in-place forms."""

import math

import numpy as np
import pytest

import lamina
import lamina.nn.functional as F
from lamina.autograd import gradcheck

ALPHA, SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def np_softplus(x, beta=1.0, threshold=20.0):
    return np.where(x * beta > threshold, x, np.log1p(np.exp(beta * x)) / beta)


def np_erf(x):
    return np.vectorize(math.erf)(x)


ACTIVATIONS = {
    "relu": (F.relu, lambda x: np.maximum(x, 0)),
    "relu6": (F.relu6, lambda x: np.clip(x, 0, 6)),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    "elu": (lambda x: F.elu(x, 1.5), lambda x: np.where(x > 0, x, 1.5 * np.expm1(x))),
    "selu": (F.selu, lambda x: SCALE * np.where(x > 0, x, ALPHA * np.expm1(x))),
    "celu": (lambda x: F.celu(x, 0.7), lambda x: np.where(x > 0, x, 0.7 * np.expm1(x / 0.7))),
    "gelu": (F.gelu, lambda x: 0.5 * x * (1 + np_erf(x / math.sqrt(2)))),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"),
                  lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))),
    "silu": (F.silu, lambda x: x / (1 + np.exp(-x))),
    "mish": (F.mish, lambda x: x * np.tanh(np_softplus(x))),
    "tanh": (F.tanh, np.tanh),
    "sigmoid": (F.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    "softplus": (lambda x: F.softplus(x, 2.0, 5.0), lambda x: np_softplus(x, 2.0, 5.0)),
    "hardtanh": (lambda x: F.hardtanh(x, -2.0, 1.5), lambda x: np.clip(x, -2.0, 1.5)),
    "hardsigmoid": (F.hardsigmoid, lambda x: np.clip(x / 6 + 0.5, 0, 1)),
    "hardswish": (F.hardswish, lambda x: x * np.clip(x + 3, 0, 6) / 6),
    "logsigmoid": (F.logsigmoid, lambda x: -np.logaddexp(0, -x)),
    "softsign": (F.softsign, lambda x: x / (1 + np.abs(x))),
    "tanhshrink": (F.tanhshrink, lambda x: x - np.tanh(x)),
}
KINKS = np.array([0.0, 6.0, -3.0, 3.0, -2.0, 1.5, 2.5])  # relu/relu6/hard* breakpoints, softplus threshold


def inputs(shape=(5, 7), seed=0):
    x = np.random.default_rng(seed).uniform(-8, 8, size=shape)
    near = np.abs(x[..., None] - KINKS).min(axis=-1) < 0.05
    return np.where(near, x + 0.1, x)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_activation_matches_numpy(name, dtype):
    fn, ref = ACTIVATIONS[name]
    x = inputs().astype(dtype)
    out = fn(lamina.tensor(x))
    assert out.dtype == getattr(lamina, dtype)
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(out.numpy(), ref(x.astype(np.float64)), rtol=tol, atol=tol)
    view = lamina.tensor(x).t()[::2]
    np.testing.assert_allclose(fn(view).numpy(), ref(x.T[::2].astype(np.float64)), rtol=tol, atol=tol)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_gradcheck(name):
    fn, _ = ACTIVATIONS[name]
    x = lamina.tensor(inputs((3, 6), seed=1)).requires_grad_(True)
    assert gradcheck(fn, (x,))


def test_activations_stay_finite_far_out():
    x = lamina.tensor([-1000.0, -100.0, 100.0, 1000.0], dtype=lamina.float64, requires_grad=True)
    for name in ("elu", "selu", "celu", "mish", "logsigmoid", "softplus"):
        x.grad = None
        y = ACTIVATIONS[name][0](x)
        y.sum().backward()
        assert np.isfinite(x.grad.numpy()).all(), name


@pytest.mark.parametrize("name", ["relu", "relu6", "leaky_relu", "elu", "selu", "celu", "silu", "hardtanh",
                                  "hardsigmoid", "hardswish", "mish"])
def test_activation_inplace(name):
    fn = getattr(F, name)
    x = lamina.tensor(inputs().astype(np.float32))
    expected = fn(x).numpy()
    out = fn(x, inplace=True)
    assert out is x
    np.testing.assert_array_equal(x.numpy(), expected)


def test_hardtanh_bounds_error():
    with pytest.raises(ValueError, match="min_val cannot be greater than max_val"):
        F.hardtanh(lamina.randn(3), 2.0, 1.0)


@pytest.mark.parametrize("p,dim", [(2.0, 1), (1.0, 0), (3.0, -1)])
def test_normalize(p, dim):
    x = np.random.default_rng(2).normal(size=(4, 5))
    x[1] = 0.0
    out = F.normalize(lamina.tensor(x), p=p, dim=dim)
    norm = np.sum(np.abs(x) ** p, axis=dim, keepdims=True) ** (1 / p)
    np.testing.assert_allclose(out.numpy(), x / np.maximum(norm, 1e-12), rtol=1e-12)
    xt = lamina.tensor(np.random.default_rng(3).normal(size=(3, 4))).requires_grad_(True)
    assert gradcheck(lambda a: F.normalize(a, p=p, dim=dim), (xt,))
