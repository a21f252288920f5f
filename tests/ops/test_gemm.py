"""The GEMM kernel (kernel table entry `gemm`) through the private hook lamina._C._gemm:
c = act(alpha * a @ b + beta * c + bias) in place, against numpy in float64, on every ISA level,
for edge sizes, every operand layout, batches, the epilogue and thread-count determinism."""

import math

import numpy as np
import pytest

import lamina

_gemm = lamina._C._gemm
SIZES = [1, 2, 7, 15, 16, 17, 33, 255, 1023, 1025]
DTYPES = [np.float32, np.float64]

# (m, k, n): every size of SIZES in every position, skinny and fat shapes, and a few big ones
# (k > 256 spans several k slices of the packed path; m or n == 1 is the GEMV path).
SHAPES = sorted(
    {(s, 17, 33) for s in SIZES}
    | {(33, s, 16) for s in SIZES}
    | {(15, 7, s) for s in SIZES}
    | {(1, 1025, 255), (1025, 255, 1), (2, 1023, 1025), (1023, 2, 7), (255, 1025, 1023), (1025, 255, 33), (16, 16, 16)}
)


def _act(name, x):
    if name == "relu":
        return np.maximum(x, 0)
    if name == "gelu":
        return 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))
    if name == "gelu_tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    return x


def _product(a, b):
    """a @ b and |a| @ |b| in float64."""
    a64, b64 = np.ascontiguousarray(a, np.float64), np.ascontiguousarray(b, np.float64)
    return a64 @ b64, np.abs(a64) @ np.abs(b64)


def _expected(a, b, c0, alpha, beta, bias, act, product=None):
    ab, scale = product if product is not None else _product(a, b)
    out = alpha * ab
    if beta != 0:
        out = out + beta * c0.astype(np.float64)
    if bias is not None:
        out = out + bias.astype(np.float64)
    return _act(act, out), scale


def _check(got, a, b, c0, alpha=1.0, beta=0.0, bias=None, act="none", product=None):
    want, scale = _expected(a, b, c0, alpha, beta, bias, act, product)
    eps = np.finfo(got.dtype).eps
    k = a.shape[-1]
    # |error| <= (k + 2) eps (|alpha| |a| |b| + |beta c| + |bias|): the classical dot-product bound
    extra = (abs(beta) * np.abs(c0) if beta else 0) + (0 if bias is None else np.abs(bias))
    bound = (k + 4) * eps * (abs(alpha) * scale + extra + 1e-30)
    if act in ("gelu", "gelu_tanh"):
        bound = 2 * bound + 8 * eps * np.abs(want)
    err = np.abs(got.astype(np.float64) - want)
    assert np.all(np.isfinite(got)), "non-finite output"
    assert np.all(err <= bound), f"max error {err.max()} (bound there {bound.flat[err.argmax()]}) at {np.unravel_index(err.argmax(), err.shape)}"


def _t(x):
    return lamina.from_numpy(x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sizes(isa, dtype):
    rng = np.random.default_rng(0)
    for i, (m, k, n) in enumerate(SHAPES):
        a = rng.standard_normal((m, k)).astype(dtype)
        b = rng.standard_normal((k, n)).astype(dtype)
        beta = 0.5 if i % 2 else 0.0
        c = rng.standard_normal((m, n)).astype(dtype) if beta else np.full((m, n), np.nan, dtype)
        c0 = c.copy()
        _gemm(_t(a), _t(b), _t(c), 1.0, beta)
        _check(c, a, b, c0, 1.0, beta)


def _layouts(x, rng):
    """Views of the values of x (2-D) with different strides: contiguous, transposed storage,
    stepped slices of a bigger array, and stride 0 (a row repeated) -- with the values that view holds."""
    m, n = x.shape
    out = {"contiguous": np.ascontiguousarray(x)}
    out["transposed"] = np.ascontiguousarray(x.T).T
    big = rng.standard_normal((2 * m + 1, 3 * n + 2)).astype(x.dtype)
    big[1 : 2 * m + 1 : 2, 2 : 3 * n + 2 : 3] = x
    out["stepped"] = big[1 : 2 * m + 1 : 2, 2 : 3 * n + 2 : 3]
    bigt = rng.standard_normal((3 * n + 1, 2 * m)).astype(x.dtype)
    bigt[1::3, ::2] = x.T
    out["stepped transposed"] = bigt[1::3, ::2].T
    out["broadcast rows"] = np.broadcast_to(x[:1], (m, n))  # stride 0 along rows
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mkn", [(5, 6, 7), (37, 29, 45), (70, 300, 65), (1, 40, 33), (40, 33, 1)])
def test_layouts(isa, dtype, mkn):
    m, k, n = mkn
    rng = np.random.default_rng(1)
    a_views = _layouts(rng.standard_normal((m, k)).astype(dtype), rng)
    b_views = _layouts(rng.standard_normal((k, n)).astype(dtype), rng)
    for an, a in a_views.items():
        for bn, b in b_views.items():
            product = _product(a, b)  # the same values in every view but the broadcast one
            for cn in ["contiguous", "transposed", "stepped", "stepped transposed"]:
                c = _layouts(rng.standard_normal((m, n)).astype(dtype), rng)[cn]
                c0 = c.copy()
                try:
                    _gemm(_t(a), _t(b), _t(c), -0.75, 0.5)
                    _check(c, a, b, c0, -0.75, 0.5, product=product)
                except AssertionError as e:
                    raise AssertionError(f"a {an}, b {bn}, c {cn}: {e}") from None


@pytest.mark.parametrize("dtype", DTYPES)
def test_batched(isa, dtype):
    rng = np.random.default_rng(2)
    for m, k, n in [(3, 4, 5), (33, 300, 17), (17, 40, 1), (1, 40, 17)]:
        batch = 3
        a3 = rng.standard_normal((batch, m, k)).astype(dtype)
        b3 = rng.standard_normal((batch, k, n)).astype(dtype)
        a2 = rng.standard_normal((m, k)).astype(dtype)
        # a 3-D, b 3-D with transposed items; a 2-D (batch stride 0) with b 3-D; a broadcast along batch
        b3t = np.ascontiguousarray(b3.transpose(0, 2, 1)).transpose(0, 2, 1)
        cases = [(a3, b3, a3, b3), (a3, b3t, a3, b3), (a2, b3, np.broadcast_to(a2, (batch, m, k)), b3),
                 (np.broadcast_to(a2, (batch, m, k)), b3, np.broadcast_to(a2, (batch, m, k)), b3)]
        for a, b, a_full, b_full in cases:
            c = np.full((batch, m, n), np.nan, dtype)
            _gemm(_t(a), _t(b), _t(c))
            for i in range(batch):
                _check(c[i], a_full[i], b_full[i], c[i])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ["none", "relu", "gelu", "gelu_tanh"])
def test_epilogue(isa, dtype, act):
    rng = np.random.default_rng(3)
    for m, k, n in [(33, 300, 40), (6, 5, 7), (37, 600, 1), (1, 300, 37)]:
        a = rng.standard_normal((m, k)).astype(dtype) / 8
        b = rng.standard_normal((k, n)).astype(dtype) / 2
        for kind in ["row", "col", "full"]:
            if kind == "row":
                bias_t = _t(rng.standard_normal(n).astype(dtype))
                bias = bias_t.numpy()
            elif kind == "col":
                col = rng.standard_normal((m, 1)).astype(dtype)
                bias = np.broadcast_to(col, (m, n))
                bias_t = _t(bias)
            else:
                bias = rng.standard_normal((m, n)).astype(dtype)
                bias_t = _t(bias)
            for alpha, beta in [(1.0, 0.0), (0.5, -1.5)]:
                c = rng.standard_normal((m, n)).astype(dtype) if beta else np.full((m, n), np.nan, dtype)
                c0 = c.copy()
                _gemm(_t(a), _t(b), _t(c), alpha, beta, bias_t, act)
                _check(c, a, b, c0, alpha, beta, bias, act)


@pytest.mark.parametrize("dtype", DTYPES)
def test_beta_zero_ignores_nan_and_k_zero(isa, dtype):
    a = np.ones((4, 3), dtype)
    b = np.ones((3, 5), dtype)
    c = np.full((4, 5), np.nan, dtype)
    _gemm(_t(a), _t(b), _t(c), 2.0, 0.0)
    np.testing.assert_array_equal(c, np.full((4, 5), 6.0, dtype))
    # k == 0: beta * c + bias
    c = np.full((4, 5), 2.0, dtype)
    bias = np.arange(5, dtype=dtype)
    _gemm(_t(np.zeros((4, 0), dtype)), _t(np.zeros((0, 5), dtype)), _t(c), 1.0, 3.0, _t(bias), "relu")
    np.testing.assert_array_equal(c, 6.0 + np.broadcast_to(bias, (4, 5)))
    # empty outputs are fine
    _gemm(_t(np.zeros((0, 3), dtype)), _t(np.zeros((3, 5), dtype)), _t(np.zeros((0, 5), dtype)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_reference_kernel(isa, dtype):
    rng = np.random.default_rng(4)
    for m, k, n in [(70, 530, 90), (3, 9, 4), (129, 64, 1)]:
        a = rng.standard_normal((m, k)).astype(dtype)
        b = rng.standard_normal((k, n)).astype(dtype)
        bias = rng.standard_normal(n).astype(dtype)
        c1 = rng.standard_normal((m, n)).astype(dtype)
        c2 = c1.copy()
        _gemm(_t(a), _t(b), _t(c1), 0.5, 2.0, _t(bias), "gelu_tanh")
        _gemm(_t(a), _t(b), _t(c2), 0.5, 2.0, _t(bias), "gelu_tanh", reference=True)
        tol = 2e-3 if dtype == np.float32 else 1e-11
        np.testing.assert_allclose(c1, c2, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_threads_bitwise(isa, threads, dtype):
    rng = np.random.default_rng(5)
    shapes = [(1023, 255, 1025), (70, 600, 33), (4099, 300, 1), (1, 300, 2051), (9, 9, 9)]
    if isa == "baseline":
        shapes[0] = (255, 255, 1023)
    for i, (m, k, n) in enumerate(shapes):
        a = rng.standard_normal((2, m, k) if i % 2 else (m, k)).astype(dtype)
        b = rng.standard_normal((k, n)).astype(dtype)
        bias = rng.standard_normal(n).astype(dtype)
        outs = []
        for nt in (1, 2, 3):
            threads(nt)
            c = np.zeros(a.shape[:-1] + (n,), dtype)
            _gemm(_t(a), _t(b), _t(c), 1.0, 0.0, _t(bias), "gelu")
            outs.append(c)
        assert np.array_equal(outs[0], outs[1]) and np.array_equal(outs[0], outs[2]), (m, k, n)


def test_errors():
    f, d = np.zeros((2, 3), np.float32), np.zeros((2, 3), np.float64)
    with pytest.raises(TypeError, match="_gemm"):
        _gemm(_t(f), _t(np.zeros((3, 4), np.float64)), _t(np.zeros((2, 4), np.float32)))
    with pytest.raises(TypeError, match="_gemm"):
        _gemm(_t(np.zeros((2, 3), np.int64)), _t(np.zeros((3, 4), np.int64)), _t(np.zeros((2, 4), np.int64)))
    with pytest.raises(RuntimeError, match=r"_gemm: shapes cannot be multiplied"):
        _gemm(_t(d), _t(np.zeros((4, 4))), _t(np.zeros((2, 4))))
    with pytest.raises(RuntimeError, match="_gemm: batch sizes differ"):
        _gemm(_t(np.zeros((2, 2, 3))), _t(np.zeros((3, 3, 4))), _t(np.zeros((3, 2, 4))))
    with pytest.raises(ValueError, match="_gemm: expected 2-D or 3-D"):
        _gemm(_t(np.zeros(3)), _t(np.zeros((3, 4))), _t(np.zeros(4)))
    with pytest.raises(ValueError, match="activation"):
        _gemm(_t(d), _t(np.zeros((3, 4))), _t(np.zeros((2, 4))), activation="tanh")
    with pytest.raises(ValueError, match="overlap"):
        _gemm(_t(d), _t(np.zeros((3, 4))), _t(np.zeros((1, 4))).expand(2, 4))
    with pytest.raises(ValueError, match="share memory"):
        c = _t(np.zeros((3, 3)))
        _gemm(c, _t(np.zeros((3, 3))), c)
    with pytest.raises(ValueError, match="bias"):
        _gemm(_t(d), _t(np.zeros((3, 4))), _t(np.zeros((2, 4))), bias=_t(np.zeros(3)))
