"""Elementwise ops: unary, binary and ternary, with their numpy references (written to PyTorch's
semantics where numpy differs: integer division rounding, clamp with NaN, gelu's tanh form)."""

import math

import numpy as np

import lamina

from .spec import ALL_DTYPES, INTEGRAL, NUMERIC, OpSpec

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _sigmoid64(a):
    a = np.asarray(a, np.float64)
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1 / (1 + e), e / (1 + e))


def _gelu(a):
    return (0.5 * a * (1 + _erf(a / np.sqrt(2)))).astype(a.dtype)


def _gelu_tanh(a):
    u = np.sqrt(2 / np.pi) * (a.astype(np.float64) + 0.044715 * a.astype(np.float64) ** 3)
    return (a * _sigmoid64(2 * u)).astype(a.dtype)


def _softplus(a, beta=1.0, threshold=20.0):
    z = a.astype(np.float64) * beta
    return np.where(z > threshold, a, np.logaddexp(0, z) / beta).astype(a.dtype)


def _sigmoid(a):
    return _sigmoid64(a).astype(a.dtype)


def _float(ref):
    """A float function of an integer input computes in the default float dtype (float32)."""
    def f(a):
        out = ref(a.astype(np.float64) if a.dtype.kind != "f" else a)
        return np.asarray(out).astype(a.dtype if a.dtype.kind == "f" else np.float32)
    return f


def _as_float(a):
    return a if a.dtype.kind == "f" else a.astype(np.float32)


def _isnan_like(ref):
    """isnan/isinf of an integer or bool array: all False (numpy has no bool loop)."""
    return lambda a: ref(a) if a.dtype.kind == "f" else np.zeros(a.shape, bool)


def _div_trunc(a, b):
    if a.dtype.kind == "f":
        return np.trunc(a / b).astype(a.dtype)
    q = np.abs(a.astype(np.int64)) // np.abs(b.astype(np.int64))
    return (np.sign(a) * np.sign(b) * q).astype(np.result_type(a, b))


def _clamp(a, lo, hi):
    """PyTorch's clamp: min(max(a, lo), hi) with NaN in any operand giving NaN."""
    out = np.minimum(np.maximum(a, lo), hi)
    return out.astype(np.result_type(a, lo, hi))


near_zero = lambda a: np.abs(a) < 0.05  # noqa: E731
ZERO_DIVISOR = lambda a: np.abs(a) < 0.25  # noqa: E731  (moves integer zeros to 1, floats off 0)

UNARY = [
    OpSpec("neg", lambda x: -x, np.negative, dtypes=NUMERIC),
    OpSpec("abs", lambda x: x.abs(), np.abs, dtypes=NUMERIC, avoid=near_zero),
    OpSpec("sign", lambda x: x.sign(), lambda a: a.copy() if a.dtype == bool else np.sign(a), dtypes=ALL_DTYPES,
           avoid=near_zero),
    OpSpec("exp", lambda x: x.exp(), _float(np.exp), domain=(-5, 5), dtypes=NUMERIC),
    OpSpec("log", lambda x: x.log(), _float(np.log), domain=(0.1, 5)),
    OpSpec("log1p", lambda x: x.log1p(), _float(np.log1p), domain=(-0.9, 5)),
    OpSpec("expm1", lambda x: x.expm1(), _float(np.expm1), domain=(-3, 3)),
    OpSpec("sqrt", lambda x: x.sqrt(), _float(np.sqrt), domain=(0.1, 5), dtypes=NUMERIC),
    OpSpec("rsqrt", lambda x: x.rsqrt(), _float(lambda a: 1 / np.sqrt(a)), domain=(0.1, 5)),
    OpSpec("sin", lambda x: x.sin(), _float(np.sin), dtypes=NUMERIC),
    OpSpec("cos", lambda x: x.cos(), _float(np.cos)),
    OpSpec("tan", lambda x: x.tan(), _float(np.tan), domain=(-1.2, 1.2)),
    OpSpec("asin", lambda x: x.asin(), _float(np.arcsin), domain=(-0.9, 0.9)),
    OpSpec("acos", lambda x: x.acos(), _float(np.arccos), domain=(-0.9, 0.9)),
    OpSpec("atan", lambda x: x.atan(), _float(np.arctan)),
    OpSpec("sinh", lambda x: x.sinh(), _float(np.sinh)),
    OpSpec("cosh", lambda x: x.cosh(), _float(np.cosh)),
    OpSpec("asinh", lambda x: x.asinh(), _float(np.arcsinh)),
    OpSpec("acosh", lambda x: x.acosh(), _float(np.arccosh), domain=(1.1, 3.0)),
    OpSpec("atanh", lambda x: x.atanh(), _float(np.arctanh), domain=(-0.9, 0.9)),
    OpSpec("tanh", lambda x: x.tanh(), _float(np.tanh), domain=(-5, 5), dtypes=NUMERIC),
    OpSpec("sigmoid", lambda x: x.sigmoid(), _sigmoid, domain=(-8, 8)),
    OpSpec("relu", lambda x: x.relu(), lambda a: np.maximum(a, 0).astype(a.dtype), dtypes=NUMERIC, avoid=near_zero),
    OpSpec("gelu", lambda x: x.gelu(), _gelu, atol32=1e-6),
    OpSpec("gelu_tanh", lambda x: lamina.gelu(x, approximate="tanh"), _gelu_tanh, fn="gelu"),
    OpSpec("silu", lambda x: x.silu(), lambda a: (a * _sigmoid64(a)).astype(a.dtype), domain=(-8, 8)),
    OpSpec("softplus", lambda x: x.softplus(), _softplus, domain=(-25, 25)),
    OpSpec("softplus_beta", lambda x: lamina.softplus(x, beta=2.0, threshold=5.0), lambda a: _softplus(a, 2.0, 5.0),
           fn="softplus", avoid=lambda a: np.abs(a - 2.5) < 0.05),
    OpSpec("softplus_small_beta", lambda x: x.softplus(0.5, 1.0), lambda a: _softplus(a, 0.5, 1.0), fn="softplus",
           avoid=lambda a: np.abs(a - 2.0) < 0.05),
    OpSpec("hardtanh", lambda x: lamina.hardtanh(x, -1.5, 2.0), lambda a: np.clip(a, -1.5, 2.0),
           avoid=lambda a: (np.abs(a + 1.5) < 0.05) | (np.abs(a - 2.0) < 0.05)),
    OpSpec("hardsigmoid", lambda x: lamina.hardsigmoid(x), lambda a: (np.clip(a + 3, 0, 6) / 6).astype(a.dtype),
           domain=(-5, 5), avoid=lambda a: np.abs(np.abs(a) - 3) < 0.05),
    OpSpec("hardswish", lambda x: lamina.hardswish(x), lambda a: (a * np.clip(a + 3, 0, 6) / 6).astype(a.dtype),
           domain=(-5, 5), avoid=lambda a: np.abs(np.abs(a) - 3) < 0.05),
    OpSpec("elu", lambda x: lamina._C.elu(x, 0.7, 1.3, 0.5),
           lambda a: np.where(a > 0, 1.3 * a, 1.3 * 0.7 * np.expm1(0.5 * a)).astype(a.dtype),
           avoid=lambda a: np.abs(a) < 0.05),
    OpSpec("mish", lambda x: lamina._C.mish(x), lambda a: (a * np.tanh(np.log1p(np.exp(a)))).astype(a.dtype)),
    OpSpec("erf", lambda x: x.erf(), _float(_erf), atol32=2e-7),
    OpSpec("reciprocal", lambda x: x.reciprocal(), _float(lambda a: 1 / a), domain=(0.5, 3)),
    OpSpec("square", lambda x: x.square(), lambda a: np.square(a.astype(np.int64) if a.dtype == bool else a),
           dtypes=ALL_DTYPES),
    OpSpec("floor", lambda x: x.floor(), np.floor, dtypes=NUMERIC, grad=False),
    OpSpec("ceil", lambda x: x.ceil(), np.ceil, dtypes=NUMERIC, grad=False),
    OpSpec("round", lambda x: x.round(), np.round, dtypes=NUMERIC, grad=False),
    OpSpec("round_decimals", lambda x: x.round(decimals=2), lambda a: (np.round(a * a.dtype.type(100)) /
                                                                       a.dtype.type(100)).astype(a.dtype),
           fn="round", domain=(-30, 30), grad=False),
    OpSpec("round_neg_decimals", lambda x: lamina.round(x, decimals=-1),
           lambda a: (np.round(a / a.dtype.type(10)) * a.dtype.type(10)).astype(a.dtype), fn="round",
           domain=(-300, 300), grad=False),
    OpSpec("trunc", lambda x: x.trunc(), np.trunc, dtypes=NUMERIC, grad=False),
    OpSpec("clamp", lambda x: x.clamp(-1, 1), lambda a: np.clip(a, -1, 1), dtypes=NUMERIC,
           avoid=lambda a: np.abs(np.abs(a) - 1) < 0.05),
    OpSpec("clamp_min", lambda x: x.clamp(min=0.5), lambda a: np.maximum(a, a.dtype.type(0.5)),
           avoid=lambda a: np.abs(a - 0.5) < 0.05, fn="clamp"),
    OpSpec("clamp_max", lambda x: lamina.clamp(x, max=-1), lambda a: np.minimum(a, -1).astype(a.dtype), fn="clamp",
           dtypes=NUMERIC, avoid=lambda a: np.abs(a + 1) < 0.05),
    OpSpec("clamp_int_float_bounds", lambda x: x.clamp(-1.5, 1.5),
           lambda a: np.clip(a.astype(np.float32), -1.5, 1.5), fn="clamp", dtypes=("int32", "int64"), grad=False),
    OpSpec("clamp_inverted", lambda x: x.clamp(1, -1), lambda a: np.full_like(a, -1), fn="clamp", dtypes=NUMERIC),
    OpSpec("clip", lambda x: lamina.clip(x, -2, 2), lambda a: np.clip(a, -2, 2), dtypes=NUMERIC,
           avoid=lambda a: np.abs(np.abs(a) - 2) < 0.05),
    OpSpec("logical_not", lambda x: x.logical_not(), np.logical_not, dtypes=ALL_DTYPES, grad=False),
    OpSpec("isnan", lambda x: x.isnan(), _isnan_like(np.isnan), dtypes=ALL_DTYPES, grad=False),
    OpSpec("isinf", lambda x: x.isinf(), _isnan_like(np.isinf), dtypes=ALL_DTYPES, grad=False),
    OpSpec("isfinite", lambda x: x.isfinite(), lambda a: np.isfinite(a) if a.dtype.kind == "f" else
           np.ones(a.shape, bool), dtypes=ALL_DTYPES, grad=False),
    OpSpec("bitwise_not", lambda x: lamina.bitwise_not(x), np.invert, dtypes=INTEGRAL, grad=False),
    OpSpec("invert_operator", lambda x: ~x, np.invert, fn="bitwise_not", dtypes=INTEGRAL, grad=False),
]

BINARY = [
    OpSpec("add", lambda a, b: a + b, np.add, kind="binary", dtypes=ALL_DTYPES),
    OpSpec("add_alpha", lambda a, b: lamina.add(a, b, alpha=2), lambda a, b: a + 2 * b, kind="binary", fn="add",
           dtypes=NUMERIC),
    OpSpec("add_float_alpha", lambda a, b: lamina.add(a, b, alpha=-0.5), lambda a, b: a + a.dtype.type(-0.5) * b,
           kind="binary", fn="add"),
    OpSpec("sub", lambda a, b: a - b, np.subtract, kind="binary", dtypes=NUMERIC),
    OpSpec("sub_alpha", lambda a, b: lamina.sub(a, b, alpha=3), lambda a, b: a - 3 * b, kind="binary", fn="sub",
           dtypes=NUMERIC),
    OpSpec("mul", lambda a, b: a * b, np.multiply, kind="binary", dtypes=ALL_DTYPES),
    OpSpec("div", lambda a, b: a / b, lambda a, b: _float(lambda x: x)(a) / _float(lambda x: x)(b), kind="binary",
           domain=(0.5, 3), dtypes=NUMERIC),
    OpSpec("div_negative", lambda a, b: lamina.div(a, b), np.true_divide, kind="binary", fn="div",
           avoid=ZERO_DIVISOR),
    OpSpec("div_trunc", lambda a, b: lamina.div(a, b, rounding_mode="trunc"), _div_trunc, kind="binary", fn="div",
           domain=(-9, 9), dtypes=NUMERIC, avoid=ZERO_DIVISOR, grad=False),
    OpSpec("div_floor", lambda a, b: lamina.div(a, b, rounding_mode="floor"), np.floor_divide, kind="binary", fn="div",
           domain=(-9, 9), dtypes=NUMERIC, avoid=ZERO_DIVISOR, grad=False),
    OpSpec("floor_divide", lambda a, b: a // b, np.floor_divide, kind="binary", domain=(-9, 9),
           dtypes=NUMERIC, avoid=ZERO_DIVISOR, grad=False),
    OpSpec("remainder", lambda a, b: a % b, np.remainder, kind="binary", domain=(-9, 9), dtypes=NUMERIC,
           avoid=ZERO_DIVISOR),
    OpSpec("fmod", lambda a, b: lamina.fmod(a, b), np.fmod, kind="binary", domain=(-9, 9), dtypes=NUMERIC,
           avoid=ZERO_DIVISOR),
    OpSpec("pow", lambda a, b: a ** b, np.power, kind="binary", domain=(0.5, 2)),
    OpSpec("pow_int", lambda a, b: lamina.pow(a, b), np.power, kind="binary", fn="pow", domain=(0, 5),
           dtypes=("int32", "int64")),
    OpSpec("pow_negative_base", lambda a, b: lamina.pow(a, b), np.power, kind="binary", fn="pow", domain=(-2, 3),
           arg_dtypes=(None, "int64"), avoid=near_zero, check_dtype=False, grad=False),
    OpSpec("minimum", lambda a, b: lamina.minimum(a, b), np.minimum, kind="binary", dtypes=ALL_DTYPES),
    OpSpec("maximum", lambda a, b: lamina.maximum(a, b), np.maximum, kind="binary", dtypes=ALL_DTYPES),
    OpSpec("atan2", lambda a, b: lamina.atan2(a, b), lambda a, b: np.arctan2(_as_float(a), _as_float(b)),
           kind="binary", dtypes=NUMERIC, avoid=near_zero),
    OpSpec("eq", lambda a, b: a == b, np.equal, kind="binary", dtypes=ALL_DTYPES, grad=False),
    OpSpec("ne", lambda a, b: a != b, np.not_equal, kind="binary", dtypes=ALL_DTYPES, grad=False),
    OpSpec("lt", lambda a, b: a < b, np.less, kind="binary", dtypes=ALL_DTYPES, grad=False),
    OpSpec("le", lambda a, b: a <= b, np.less_equal, kind="binary", dtypes=ALL_DTYPES, grad=False),
    OpSpec("gt", lambda a, b: a > b, np.greater, kind="binary", dtypes=ALL_DTYPES, grad=False),
    OpSpec("ge", lambda a, b: a >= b, np.greater_equal, kind="binary", dtypes=ALL_DTYPES, grad=False),
    OpSpec("logical_and", lambda a, b: lamina.logical_and(a, b), np.logical_and, kind="binary",
           dtypes=ALL_DTYPES, grad=False),
    OpSpec("logical_or", lambda a, b: lamina.logical_or(a, b), np.logical_or, kind="binary",
           dtypes=ALL_DTYPES, grad=False),
    OpSpec("logical_xor", lambda a, b: lamina.logical_xor(a, b), np.logical_xor, kind="binary",
           dtypes=ALL_DTYPES, grad=False),
    OpSpec("bitwise_and", lambda a, b: a & b, np.bitwise_and, kind="binary", dtypes=INTEGRAL, grad=False,
           domain=(-100, 100)),
    OpSpec("bitwise_or", lambda a, b: lamina.bitwise_or(a, b), np.bitwise_or, kind="binary", dtypes=INTEGRAL,
           grad=False, domain=(-100, 100)),
    OpSpec("bitwise_xor", lambda a, b: a ^ b, np.bitwise_xor, kind="binary", dtypes=INTEGRAL, grad=False,
           domain=(-100, 100)),
]

TERNARY = [
    OpSpec("where", lambda c, a, b: lamina.where(c, a, b), np.where, kind="ternary", dtypes=ALL_DTYPES,
           arg_dtypes=("bool",)),
    OpSpec("where_method", lambda c, a, b: a.where(c, b), np.where, kind="ternary", fn="where",
           arg_dtypes=("bool",)),
    OpSpec("clamp_tensor", lambda x, lo, hi: x.clamp(lo, hi), _clamp, kind="ternary", fn="clamp", dtypes=NUMERIC,
           avoid=lambda a: (np.abs(a) < 0.05) | (np.abs(a - 1) < 0.05) | (np.abs(a + 1) < 0.05)),
    OpSpec("clamp_tensor_min", lambda x, lo, hi: lamina.clamp(x, min=lo), lambda a, lo, hi: _clamp(a, lo, np.inf)
           .astype(np.result_type(a, lo)), kind="ternary", fn="clamp", dtypes=NUMERIC,
           avoid=lambda a: np.abs(a) < 0.05),
    OpSpec("clip_tensor_max", lambda x, lo, hi: lamina.clip(x, max=hi), lambda a, lo, hi: np.minimum(a, hi),
           kind="ternary", fn="clip", avoid=lambda a: np.abs(a) < 0.05),
]

SPECS = UNARY + BINARY + TERNARY

# Alternative spellings: tests/ops/test_generic.py checks each gives the canonical op's result.
ALIASES = {
    "negative": "neg", "multiply": "mul", "subtract": "sub", "divide": "div", "true_divide": "div",
    "not_equal": "ne", "less": "lt", "less_equal": "le", "greater": "gt", "greater_equal": "ge",
}

# In-place variants and Python-number operands are covered by tests/ops/test_inplace.py and
# tests/ops/test_promotion.py; relu_ is also a module function.
COVERED_ELSEWHERE = {"relu_": "tests/ops/test_inplace.py"}
