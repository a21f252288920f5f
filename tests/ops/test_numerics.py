"""Numerics of the elementwise kernels at every ISA level.

float32 vector math (cpu/kernels/vmath.h) against float64 references over the whole float range:
~1M float32 values spread evenly over all bit patterns plus dense grids of the interesting
ranges, on the vector path (contiguous) and the scalar path (strided). Errors are in float32
ulps of the correctly rounded result, subnormal results included (ulp = 2^-149 there). Measured
maxima (all ISA levels, 44M inputs): exp 1.0, log 0.78, log1p 1.44, tanh 1.31, expm1 0.77, erf 1.25,
sigmoid 2.28, softplus 1.88, silu 3.05, gelu_tanh 3.09, gelu 3.55; the bounds below add a small margin.

Also: special values, integer wrap-around and division semantics, NaN propagation."""

import math

import numpy as np
import pytest

import lamina

F32 = np.float32


def _grid():
    bits = np.arange(0, 2**32, 4093, dtype=np.uint64).astype(np.uint32)
    spread = bits.view(np.float32)
    dense = [np.linspace(-20, 20, 200001), np.linspace(-110, -80, 30001), np.linspace(80, 90, 10001),
             np.linspace(-16, -0.5, 30001), np.geomspace(1e-8, 1e-2, 10001), -np.geomspace(1e-8, 1e-2, 10001)]
    x = np.concatenate([spread] + [d.astype(np.float32) for d in dense])
    return x[np.isfinite(x)]


X = _grid()
X64 = X.astype(np.float64)


def _sigmoid64(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _gelu64(x):
    return 0.5 * x * np.vectorize(math.erfc, otypes=[np.float64])(-x / math.sqrt(2))


def _gelu_tanh64(x):
    with np.errstate(over="ignore"):
        u2 = 2 * math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)
    return x * _sigmoid64(u2)


def _softplus64(x):
    return np.where(x > 20, x, np.logaddexp(0, x))


# name: (lamina op, float64 reference, max error in ulps)
FUNCTIONS = {
    "exp": (lambda t: t.exp(), np.exp, 1.5),
    "log": (lambda t: t.log(), np.log, 1.0),
    "log1p": (lambda t: t.log1p(), np.log1p, 1.5),
    "expm1": (lambda t: t.expm1(), np.expm1, 1.0),
    "tanh": (lambda t: t.tanh(), np.tanh, 1.5),
    "erf": (lambda t: t.erf(), np.vectorize(math.erf, otypes=[np.float64]), 1.5),
    "sigmoid": (lambda t: t.sigmoid(), _sigmoid64, 2.5),
    "silu": (lambda t: t.silu(), lambda x: x * _sigmoid64(x), 3.5),
    "softplus": (lambda t: t.softplus(), _softplus64, 2.0),
    "gelu": (lambda t: t.gelu(), _gelu64, 4.0),
    "gelu_tanh": (lambda t: lamina.gelu(t, approximate="tanh"), _gelu_tanh64, 3.5),
}
_REFS = {}


def reference(name):
    if name not in _REFS:
        with np.errstate(all="ignore"):
            _REFS[name] = FUNCTIONS[name][1](X64)
    return _REFS[name]


def ulp_error(got, ref):
    """|got - ref| in float32 ulps of the correctly rounded result; 0 where both are the same inf or
    NaN, inf where only one is NaN or a finite result was expected to overflow (or vice versa)."""
    r32 = ref.astype(np.float32)
    spacing = np.maximum(np.spacing(np.abs(r32)).astype(np.float64), 2.0 ** -149)
    with np.errstate(all="ignore"):
        err = np.abs(got.astype(np.float64) - np.where(np.isinf(r32), r32, ref)) / spacing
    same = (got == r32) | (np.isnan(got) & np.isnan(ref))
    err[same] = 0
    err[np.isnan(got) != np.isnan(ref)] = np.inf
    return err


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_float32_accuracy_over_the_whole_range(name, isa):
    op, _, bound = FUNCTIONS[name]
    ref = reference(name)
    got = op(lamina.from_numpy(X)).numpy()
    err = ulp_error(got, ref)
    worst = int(np.argmax(err))
    assert err[worst] <= bound, (f"{name} [{isa}]: {err[worst]:.3g} ulp at x={X[worst]!r}: got {got[worst]!r}, "
                                 f"expected {ref[worst]!r}")
    # the scalar (strided) path computes the same function
    sub = slice(0, None, 7)
    pair = np.stack([X[sub], X[sub]], 1)
    strided = op(lamina.from_numpy(pair)[:, 0]).numpy()
    err = ulp_error(strided, ref[sub])
    assert err.max() <= bound, f"{name} [{isa}] strided: {err.max():.3g} ulp at x={X[sub][np.argmax(err)]!r}"


@pytest.mark.parametrize("name", ["exp", "log", "log1p", "tanh", "erf", "sigmoid", "silu", "gelu", "gelu_tanh",
                                  "softplus"])
def test_float64_matches_libm(name, isa):
    op, ref_fn, _ = FUNCTIONS[name]
    x = np.concatenate([np.linspace(-30, 30, 20001), np.linspace(-700, 700, 2001)])
    with np.errstate(all="ignore"):
        ref = ref_fn(x)
    got = op(lamina.tensor(x)).numpy()
    tiny = np.abs(ref) < 1e-300  # deep tails: compare absolutely
    # The gelu tails are ill-conditioned in the rounding of their inner argument (x / sqrt 2, or
    # u = c (x + 0.044715 x^3)), which the two formulas round differently: allow that much.
    cond = {"gelu": x ** 2, "gelu_tanh": 0.15 * np.abs(x) ** 3}.get(name, 0)
    rel = np.abs(got - ref) / np.abs(ref)
    bad = ~tiny & (rel > 2e-15 * (1 + cond))
    assert not bad.any(), f"{name}: relative error {rel[bad].max():.3g} at x={x[bad][0]!r}"
    np.testing.assert_allclose(got[tiny], ref[tiny], atol=1e-300, err_msg=name)


inf, nan = float("inf"), float("nan")
# (op, input, exact float32 result); -0.0 results are checked with their sign.
SPECIAL = [
    ("exp", 0.0, 1.0), ("exp", -0.0, 1.0), ("exp", inf, inf), ("exp", -inf, 0.0), ("exp", nan, nan),
    ("exp", 88.72283, 3.4028e38), ("exp", 88.7229, inf), ("exp", -103.0, 1.4e-45), ("exp", -104.0, 0.0),
    ("exp", 1e-30, 1.0), ("exp", 1e-45, 1.0),
    ("log", 0.0, -inf), ("log", -0.0, -inf), ("log", -1.0, nan), ("log", inf, inf), ("log", nan, nan),
    ("log", 1e-45, -103.27893), ("log", 1.0, 0.0), ("log", 3.4e38, 88.72201),
    ("log1p", -1.0, -inf), ("log1p", -2.0, nan), ("log1p", -0.0, -0.0), ("log1p", 1e-30, 1e-30), ("log1p", inf, inf),
    ("log1p", 1e-45, 1e-45),
    ("expm1", -0.0, -0.0), ("expm1", -inf, -1.0), ("expm1", 1e-30, 1e-30),
    ("tanh", -0.0, -0.0), ("tanh", inf, 1.0), ("tanh", -inf, -1.0), ("tanh", 1e-40, 1e-40), ("tanh", -9.0, -1.0),
    ("tanh", nan, nan),
    ("erf", -0.0, -0.0), ("erf", inf, 1.0), ("erf", -inf, -1.0), ("erf", 1e-40, 1.1283675e-40), ("erf", 5.0, 1.0),
    ("erf", nan, nan),
    ("sigmoid", 0.0, 0.5), ("sigmoid", inf, 1.0), ("sigmoid", -inf, 0.0), ("sigmoid", -88.7, 3.0066e-39),
    ("sigmoid", -103.0, 1.4e-45), ("sigmoid", -1e30, 0.0), ("sigmoid", 1e30, 1.0), ("sigmoid", nan, nan),
    ("silu", -0.0, -0.0), ("silu", inf, inf), ("silu", -inf, nan), ("silu", -88.7, -2.6669e-37), ("silu", nan, nan),
    ("silu", 3.4e38, 3.4e38), ("silu", -1e30, -0.0),
    ("gelu", -0.0, -0.0), ("gelu", inf, inf), ("gelu", -inf, nan), ("gelu", 3.4e38, 3.4e38), ("gelu", nan, nan),
    ("gelu", -10.0, -7.6199e-23), ("gelu", -14.0, -1.1e-43), ("gelu", -20.0, -0.0),
    ("gelu_tanh", -0.0, -0.0), ("gelu_tanh", inf, inf), ("gelu_tanh", -inf, nan), ("gelu_tanh", 3.4e38, 3.4e38),
    ("gelu_tanh", -10.0, -1.2040924e-37), ("gelu_tanh", nan, nan),
    ("softplus", -inf, 0.0), ("softplus", inf, inf), ("softplus", -103.0, 1.4e-45), ("softplus", 0.0, 0.6931472),
    ("softplus", 25.0, 25.0), ("softplus", nan, nan),
]


@pytest.mark.parametrize("name,x,expected", SPECIAL, ids=[f"{n}({x})" for n, x, _ in SPECIAL])
def test_special_values(name, x, expected, isa):
    op = FUNCTIONS[name][0]
    for data in ([x] * 37, [x]):  # vector and scalar paths
        got = op(lamina.tensor(np.array(data, dtype=np.float32))).numpy()
        if math.isnan(expected):
            assert np.isnan(got).all(), (name, x, got[0])
            continue
        np.testing.assert_allclose(got, np.float32(expected), rtol=1e-4, atol=0, err_msg=f"{name}({x}) [{isa}]")
        if expected == 0:
            assert (np.signbit(got) == (math.copysign(1, expected) < 0)).all(), f"{name}({x}): sign of zero"


# ---- integers: two's-complement wrap-around and Python-style division ----

I32 = np.iinfo(np.int32)
I64 = np.iinfo(np.int64)


@pytest.mark.parametrize("dtype,info", [(lamina.int32, I32), (lamina.int64, I64)])
def test_integer_overflow_wraps(dtype, info, isa):
    big = lamina.tensor([info.max] * 40, dtype=dtype)
    small = lamina.tensor([info.min] * 40, dtype=dtype)
    assert (big + 1).tolist() == [info.min] * 40
    assert (small - 1).tolist() == [info.max] * 40
    assert (big * 2).tolist() == [-2] * 40
    assert (-small).tolist() == [info.min] * 40 and small.abs().tolist() == [info.min] * 40
    assert lamina.tensor([info.max, 1], dtype=dtype).sum(dtype=dtype).item() == info.min
    assert (small // -1).tolist() == [info.min] * 40  # INT_MIN // -1 wraps instead of trapping
    assert (small % -1).tolist() == [0] * 40 and lamina.fmod(small, -1).tolist() == [0] * 40
    assert lamina.div(small, -1, rounding_mode="trunc").tolist() == [info.min] * 40


def test_integer_pow_wraps_and_handles_negative_exponents():
    assert (lamina.tensor([3], dtype=lamina.int32) ** 40).item() == int(np.int32(np.uint32(3 ** 40 % 2 ** 32)))
    assert (lamina.tensor([-3]) ** 41).item() == ((-3) ** 41 + 2 ** 63) % 2 ** 64 - 2 ** 63
    base = lamina.tensor([2, 1, -1, -1, 0, 5])
    assert (base ** lamina.tensor([-1, -2, -3, -2, 0, 0])).tolist() == [0, 1, -1, 1, 1, 1]
    assert (lamina.tensor([2, 3]) ** lamina.tensor([10, 0])).tolist() == [1024, 1]


@pytest.mark.parametrize("dtype", [lamina.int32, lamina.int64, lamina.float32, lamina.float64])
def test_division_signs(dtype, isa):
    a = lamina.tensor([7, -7, 7, -7, 6, -6, 0, 1] * 5, dtype=dtype)
    b = lamina.tensor([2, 2, -2, -2, 3, -3, 5, -9] * 5, dtype=dtype)
    assert (a // b).tolist() == [3, -4, -4, 3, 2, 2, 0, -1] * 5  # floor
    assert lamina.div(a, b, rounding_mode="trunc").tolist() == [3, -3, -3, 3, 2, 2, 0, 0] * 5
    assert (a % b).tolist() == [1, 1, -1, -1, 0, 0, 0, -8] * 5  # sign of the divisor
    assert lamina.fmod(a, b).tolist() == [1, -1, 1, -1, 0, 0, 0, 1] * 5  # sign of the dividend
    assert a.remainder(-2.5 if dtype.is_floating_point else -3).tolist()[:2] == (
        [-0.5, -2.0] if dtype.is_floating_point else [-2, -1])


def test_float_floor_division_matches_python():
    xs = [7.5, -7.5, 1e300, -0.0, 0.3, -1e-310, 5.0]
    ys = [2.0, 2.0, 1e-10, 3.0, 0.1, 7.0, -0.5]
    a, b = lamina.tensor(np.array(xs)), lamina.tensor(np.array(ys))
    assert (a // b).tolist() == [x // y for x, y in zip(xs, ys)]
    assert (a % b).tolist() == [x % y for x, y in zip(xs, ys)]  # (zeros keep PyTorch's sign: fmod's)


@pytest.mark.parametrize("call", [
    lambda a, z: a // z, lambda a, z: a % z, lambda a, z: lamina.fmod(a, z),
    lambda a, z: lamina.div(a, z, rounding_mode="trunc"), lambda a, z: lamina.div(a, z, rounding_mode="floor"),
    lambda a, z: a.floor_divide_(z), lambda a, z: a.remainder_(z), lambda a, z: a.fmod_(z),
    lambda a, z: a.div_(z, rounding_mode="trunc"),
])
def test_integer_division_by_zero_raises(call):
    for zero in (0, lamina.tensor([1, 0, 2]), lamina.tensor(0, dtype=lamina.int32)):
        a = lamina.tensor([4, 5, 6], dtype=lamina.int32)
        with pytest.raises(RuntimeError, match="ZeroDivisionError"):
            call(a, zero)
        assert a.tolist() == [4, 5, 6]
    # Nothing is divided when the dividend is empty: PyTorch returns an empty result (fuzzer).
    assert call(lamina.zeros(0, dtype=lamina.int32), 0).shape == (0,)
    assert call(lamina.zeros(0, 3, dtype=lamina.int64), lamina.tensor([1, 0, 2])).shape == (0, 3)


def test_float_division_by_zero_is_ieee():
    a = lamina.tensor([1.0, -1.0, 0.0])
    assert (a / 0).tolist()[:2] == [inf, -inf] and math.isnan((a / 0).tolist()[2])
    assert (lamina.tensor([1, 0]) / 0).tolist()[0] == inf  # true division of integers is float
    assert (a // 0).tolist()[:2] == [inf, -inf]
    assert all(math.isnan(v) for v in (a % 0).tolist())


# ---- NaN propagation ----

NAN_POSITIONS = [0, 1, 7, 8, 15, 16, 31, 63, 64, 99]


@pytest.mark.parametrize("name", ["minimum", "maximum", "clamp_tensor_min", "clamp_tensor_max"])
def test_binary_nan_propagation(name, isa):
    ops = {"minimum": lamina.minimum, "maximum": lamina.maximum,
           "clamp_tensor_min": lambda a, b: a.clamp(min=b), "clamp_tensor_max": lambda a, b: a.clamp(max=b)}
    op = ops[name]
    for dtype in (np.float32, np.float64):
        for pos in NAN_POSITIONS:
            a, b = np.arange(100, dtype=dtype), np.full(100, 50, dtype=dtype)
            a[pos] = np.nan
            for x, y in ((a, b), (b, a)):
                got = op(lamina.tensor(x), lamina.tensor(y)).numpy()
                assert np.isnan(got[pos]) and np.isnan(got).sum() == 1, (name, dtype, pos)


@pytest.mark.parametrize("name", ["amax", "amin", "max", "min", "argmax", "argmin", "max_dim", "relu", "clamp",
                                  "sum", "logsumexp"])
def test_reduction_and_unary_nan_propagation(name, isa):
    for n in (5, 100, 70001):
        for pos in (0, n // 2, n - 1):
            a = np.linspace(-1, 1, n, dtype=np.float32)
            a[pos] = np.nan
            x = lamina.tensor(a)
            if name == "argmax" or name == "argmin":
                assert getattr(x, name)().item() == pos
            elif name == "max_dim":
                out = x.view(1, n).max(1)
                assert math.isnan(out.values.item()) and out.indices.item() == pos
            elif name in ("relu", "clamp"):
                got = x.relu() if name == "relu" else x.clamp(-0.5, 0.5)
                assert np.isnan(got.numpy()).sum() == 1 and math.isnan(got[pos].item())
            else:
                assert math.isnan(getattr(lamina, name)(x, 0).item() if name == "logsumexp" else
                                  getattr(x, name)().item())


def test_clamp_with_nan_bounds_gives_nan():
    x = lamina.tensor([0.0, 1.0, 5.0])
    assert all(math.isnan(v) for v in x.clamp(min=nan).tolist())
    assert all(math.isnan(v) for v in x.clamp(0.0, nan).tolist())
    assert all(math.isnan(v) for v in x.clamp(max=lamina.tensor(nan)).tolist())


def test_atan2_gradient_at_the_origin_is_zero():
    """PyTorch takes 1 / (a^2 + b^2) as 0 where it is infinite; the plain formula gave 0 / 0 = NaN
    (found by the differential fuzzer). Signs follow b / (..) and -a / (..) as in PyTorch."""
    a = lamina.tensor([0.0, 0.0, 1.0, 1e-200], dtype=lamina.float64).requires_grad_(True)
    b = lamina.tensor([0.0, -0.0, 0.0, 1e-200], dtype=lamina.float64).requires_grad_(True)
    lamina.atan2(a, b).sum().backward()
    assert a.grad.tolist() == [0.0, 0.0, 0.0, 0.0] and b.grad.tolist() == [0.0, 0.0, -1.0, 0.0]
    assert str(a.grad.numpy()[1]) == "-0.0" and str(b.grad.numpy()[0]) == "-0.0"


def test_pow_and_square_gradients_overflow_where_pytorch_does():
    # Grouped as PyTorch's pow_backward, g (2 x): at x = -2e38 in float32, 2x overflows to -inf
    # before the multiplication by g = 0.5 (the fuzzer found lamina's (g x) 2 = -2e38 there).
    x = lamina.tensor([-2e38, 3.0], dtype=lamina.float32, requires_grad=True)
    g = lamina.tensor([0.5, 0.5])
    for y in (x.pow(2.0), x.square(), x ** lamina.tensor(2.0)):
        (grad,) = lamina.autograd.grad(y, x, g)
        assert grad.tolist() == [-math.inf, 3.0]
    # d/db a^b = g (a^b log a): a NaN or infinite g meets the zero of a = 0, b >= 0 as in PyTorch.
    a = lamina.tensor([0.0, 2.0], dtype=lamina.float64)
    b = lamina.tensor([1.0, 3.0], dtype=lamina.float64, requires_grad=True)
    (grad,) = lamina.autograd.grad(a ** b, b, lamina.tensor([math.inf, 1.0], dtype=lamina.float64))
    assert math.isnan(grad[0].item()) and grad[1].item() == pytest.approx(8 * math.log(2))


def test_mish_gradient_is_pytorchs_formula():
    # g (t + x sigmoid(x) (1 - t^2)): an infinite g at x = 0 gives inf (the composite's product
    # rule gave inf * tanh(log 2) + 0 * inf = NaN).
    x = lamina.tensor([0.0, 1.5, -2.0], dtype=lamina.float64, requires_grad=True)
    (g,) = lamina.autograd.grad(lamina.nn.functional.mish(x), x, lamina.tensor([math.inf, 1.0, 1.0], dtype=lamina.float64))
    assert g[0].item() == math.inf
    t = np.tanh(np.log1p(np.exp([1.5, -2.0])))
    s = 1 / (1 + np.exp(-np.array([1.5, -2.0])))
    np.testing.assert_allclose(g[1:].numpy(), t + np.array([1.5, -2.0]) * s * (1 - t * t))
    assert lamina.nn.functional.mish(x).grad_fn.name() == "MishBackward0"


def test_softplus_second_derivative_at_the_threshold_is_zero():
    # PyTorch: the first derivative takes the sigmoid branch at beta x == threshold, the second
    # derivative passes only strictly below it (the fuzzer found lamina's sigmoid' there).
    x = lamina.tensor([1.0, 0.5, 3.0], dtype=lamina.float64, requires_grad=True)
    y = lamina.nn.functional.softplus(x, beta=1.0, threshold=1.0)
    (g,) = lamina.autograd.grad(y.sum(), x, create_graph=True)
    s = 1 / (1 + np.exp(-np.array([1.0, 0.5])))
    np.testing.assert_allclose(g.detach().numpy(), [s[0], s[1], 1.0])
    (g2,) = lamina.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(g2.numpy(), [0.0, s[1] * (1 - s[1]), 0.0])


def test_division_gradient_does_not_square_the_divisor():
    # -g (a / b) / b as PyTorch: x / x at x = 1e-30 in float32 has gradient 0, where b^2 underflowed
    # to 0 and gave -inf (found by the differential fuzzer).
    x = lamina.tensor([1e-30, 2.0], dtype=lamina.float32, requires_grad=True)
    (g,) = lamina.autograd.grad((x / x).sum(), x)
    assert g.tolist() == [0.0, 0.0]
    a = lamina.tensor([3.0], dtype=lamina.float64, requires_grad=True)
    b = lamina.tensor([1e160], dtype=lamina.float64, requires_grad=True)  # b^2 overflows to inf
    ga, gb = lamina.autograd.grad((a / b).sum(), (a, b))
    assert gb.item() == -((3.0 / 1e160) / 1e160) and gb.item() != 0.0
