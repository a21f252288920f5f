"""Elementwise ops: unary and binary, with their numpy references."""

import math

import numpy as np

import lamina

from .spec import ALL_DTYPES, OpSpec

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _gelu(a):
    return (0.5 * a * (1 + _erf(a / np.sqrt(2)))).astype(a.dtype)


def _gelu_tanh(a):
    return (0.5 * a * (1 + np.tanh(np.sqrt(2 / np.pi) * (a + 0.044715 * a ** 3)))).astype(a.dtype)


def _softplus(a, beta=1.0, threshold=20.0):
    return np.where(a * beta > threshold, a, np.log1p(np.exp(beta * a)) / beta).astype(a.dtype)


def _sigmoid(a):
    return (1 / (1 + np.exp(-a))).astype(a.dtype)


NUMERIC = ("float32", "float64", "int32", "int64")
near_zero = lambda a: np.abs(a) < 0.05  # noqa: E731

SPECS = [
    OpSpec("neg", lambda x: -x, np.negative, dtypes=NUMERIC),
    OpSpec("abs", lambda x: x.abs(), np.abs, dtypes=NUMERIC, avoid=near_zero),
    OpSpec("sign", lambda x: x.sign(), np.sign, dtypes=NUMERIC, avoid=near_zero, gradgrad=False),
    OpSpec("exp", lambda x: x.exp(), np.exp, domain=(-5, 5)),
    OpSpec("log", lambda x: x.log(), np.log, domain=(0.1, 5)),
    OpSpec("log1p", lambda x: x.log1p(), np.log1p, domain=(-0.9, 5)),
    OpSpec("expm1", lambda x: x.expm1(), np.expm1, domain=(-3, 3)),
    OpSpec("sqrt", lambda x: x.sqrt(), np.sqrt, domain=(0.1, 5)),
    OpSpec("rsqrt", lambda x: x.rsqrt(), lambda a: (1 / np.sqrt(a)).astype(a.dtype), domain=(0.1, 5)),
    OpSpec("sin", lambda x: x.sin(), np.sin),
    OpSpec("cos", lambda x: x.cos(), np.cos),
    OpSpec("tanh", lambda x: x.tanh(), np.tanh, domain=(-5, 5)),
    OpSpec("sigmoid", lambda x: x.sigmoid(), _sigmoid, domain=(-8, 8)),
    OpSpec("relu", lambda x: x.relu(), lambda a: np.maximum(a, 0).astype(a.dtype), dtypes=NUMERIC, avoid=near_zero),
    OpSpec("gelu", lambda x: x.gelu(), _gelu, atol32=1e-6),
    OpSpec("gelu_tanh", lambda x: x.gelu(approximate="tanh"), _gelu_tanh),
    OpSpec("silu", lambda x: x.silu(), lambda a: (a * _sigmoid(a)).astype(a.dtype), domain=(-8, 8)),
    OpSpec("softplus", lambda x: x.softplus(), _softplus, domain=(-25, 25)),
    OpSpec("softplus_beta", lambda x: x.softplus(beta=2.0, threshold=5.0),
           lambda a: _softplus(a, 2.0, 5.0), avoid=lambda a: np.abs(a - 2.5) < 0.05),
    OpSpec("erf", lambda x: x.erf(), lambda a: _erf(a).astype(a.dtype), atol32=2e-7),
    OpSpec("reciprocal", lambda x: x.reciprocal(), lambda a: (1 / a).astype(a.dtype), domain=(0.5, 3)),
    OpSpec("square", lambda x: x.square(), np.square, dtypes=NUMERIC),
    OpSpec("floor", lambda x: x.floor(), np.floor, dtypes=NUMERIC, grad=False),
    OpSpec("ceil", lambda x: x.ceil(), np.ceil, dtypes=NUMERIC, grad=False),
    OpSpec("round", lambda x: x.round(), np.round, dtypes=NUMERIC, grad=False),
    OpSpec("trunc", lambda x: x.trunc(), np.trunc, dtypes=NUMERIC, grad=False),
    OpSpec("clamp", lambda x: x.clamp(-1, 1), lambda a: np.clip(a, -1, 1), dtypes=NUMERIC,
           avoid=lambda a: np.abs(np.abs(a) - 1) < 0.05),
    OpSpec("logical_not", lambda x: x.logical_not(), np.logical_not, dtypes=ALL_DTYPES, grad=False),
    OpSpec("isnan", lambda x: x.isnan(), np.isnan, grad=False),
    OpSpec("isinf", lambda x: x.isinf(), np.isinf, grad=False),
    OpSpec("isfinite", lambda x: x.isfinite(), np.isfinite, grad=False),
    OpSpec("bitwise_not", lambda x: ~x, np.invert, dtypes=("int32", "int64", "bool"), grad=False),
    # ---- binary ----
    OpSpec("add", lambda a, b: a + b, np.add, kind="binary", dtypes=ALL_DTYPES[:-1]),
    OpSpec("add_alpha", lambda a, b: lamina.add(a, b, alpha=2), lambda a, b: a + 2 * b, kind="binary"),
    OpSpec("sub", lambda a, b: a - b, np.subtract, kind="binary", dtypes=ALL_DTYPES[:-1]),
    OpSpec("mul", lambda a, b: a * b, np.multiply, kind="binary", dtypes=ALL_DTYPES),
    OpSpec("div", lambda a, b: a / b, np.true_divide, kind="binary", domain=(0.5, 3), check_dtype=False),
    OpSpec("floor_divide", lambda a, b: a // b, np.floor_divide, kind="binary", domain=(1, 9),
           dtypes=NUMERIC, grad=False),
    OpSpec("remainder", lambda a, b: a % b, np.remainder, kind="binary", domain=(1, 9), dtypes=NUMERIC,
           grad=False),
    OpSpec("fmod", lambda a, b: lamina.fmod(a, b), np.fmod, kind="binary", domain=(1, 9), dtypes=NUMERIC,
           grad=False),
    OpSpec("pow", lambda a, b: a ** b, np.power, kind="binary", domain=(0.5, 2)),
    OpSpec("minimum", lambda a, b: lamina.minimum(a, b), np.minimum, kind="binary", dtypes=NUMERIC),
    OpSpec("maximum", lambda a, b: lamina.maximum(a, b), np.maximum, kind="binary", dtypes=NUMERIC),
    OpSpec("atan2", lambda a, b: lamina.atan2(a, b), np.arctan2, kind="binary", domain=(0.5, 3)),
    OpSpec("eq", lambda a, b: a == b, np.equal, kind="binary", dtypes=ALL_DTYPES, grad=False),
    OpSpec("ne", lambda a, b: a != b, np.not_equal, kind="binary", dtypes=ALL_DTYPES, grad=False),
    OpSpec("lt", lambda a, b: a < b, np.less, kind="binary", dtypes=NUMERIC, grad=False),
    OpSpec("le", lambda a, b: a <= b, np.less_equal, kind="binary", dtypes=NUMERIC, grad=False),
    OpSpec("gt", lambda a, b: a > b, np.greater, kind="binary", dtypes=NUMERIC, grad=False),
    OpSpec("ge", lambda a, b: a >= b, np.greater_equal, kind="binary", dtypes=NUMERIC, grad=False),
    OpSpec("logical_and", lambda a, b: lamina.logical_and(a, b), np.logical_and, kind="binary",
           dtypes=ALL_DTYPES, grad=False),
    OpSpec("logical_or", lambda a, b: lamina.logical_or(a, b), np.logical_or, kind="binary",
           dtypes=ALL_DTYPES, grad=False),
    OpSpec("logical_xor", lambda a, b: lamina.logical_xor(a, b), np.logical_xor, kind="binary",
           dtypes=ALL_DTYPES, grad=False),
    OpSpec("bitwise_and", lambda a, b: a & b, np.bitwise_and, kind="binary", dtypes=("int32", "int64", "bool"),
           grad=False),
    OpSpec("bitwise_or", lambda a, b: a | b, np.bitwise_or, kind="binary", dtypes=("int32", "int64", "bool"),
           grad=False),
    OpSpec("bitwise_xor", lambda a, b: a ^ b, np.bitwise_xor, kind="binary", dtypes=("int32", "int64", "bool"),
           grad=False),
]

COVERED_ELSEWHERE = []
