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
    with pytest.raises(ValueError, match=r"min_val \(2\) cannot be greater than max_val \(1\)"):
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


# ---- gradients at masked elements and kinks (regressions from fuzzing against PyTorch) ------------

INF, NAN = float("inf"), float("nan")


def grad_of(f, values, dtype=lamina.float64):
    x = lamina.tensor(values, dtype=dtype, requires_grad=True)
    f(x).sum().backward()
    return x.grad.numpy()


@pytest.mark.parametrize("f", [
    lambda x: lamina.sqrt(lamina.relu(x)),                 # relu masks an infinite gradient
    lambda x: lamina.log(lamina.clamp(x, 0)),              # clamp masks an infinite gradient
    lambda x: lamina.log(lamina.clamp(x, 0, None)),
    lambda x: 1 / lamina.maximum(x, lamina.zeros(2, dtype=x.dtype)),
    lambda x: 1 / lamina.minimum(-x, lamina.zeros(2, dtype=x.dtype)),
    lambda x: lamina.sqrt(F.relu6(x)),
    lambda x: lamina.sqrt(F.hardtanh(x, 0.0, 1.0)),
])
def test_masked_elements_get_zero_not_nan_from_an_infinite_upstream_gradient(f):
    # the masks were multiplied in (0 * inf = nan); PyTorch selects
    g = grad_of(f, [-1.0, 0.5])
    assert g[0] == 0 and np.isfinite(g[1])


def test_relu_passes_gradient_of_nan_input_like_pytorch():
    np.testing.assert_array_equal(grad_of(lamina.relu, [NAN, 2.0, -1.0]), [1, 1, 0])


def test_maximum_minimum_split_ties_and_pass_nan_to_both():
    a = lamina.tensor([1.0, 2.0, NAN, 3.0], requires_grad=True)
    b = lamina.tensor([2.0, 2.0, 1.0, NAN], requires_grad=True)
    lamina.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0, 0.5, 1, 1])
    np.testing.assert_array_equal(b.grad.numpy(), [1, 0.5, 1, 1])
    a.grad = b.grad = None
    lamina.minimum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [1, 0.5, 1, 1])
    np.testing.assert_array_equal(b.grad.numpy(), [0, 0.5, 1, 1])


@pytest.mark.parametrize("f,points,expected", [
    (F.relu6, [0.0, 6.0, -1.0, 1.0, 7.0, NAN], [0, 0, 0, 1, 0, 1]),
    (F.hardtanh, [-1.0, 1.0, 0.0, -2.0, NAN], [0, 0, 1, 0, 1]),
    (lambda x: F.hardtanh(x, -2.0, 3.0), [-2.0, 3.0, 2.5], [0, 0, 1]),
    (F.hardsigmoid, [-3.0, 3.0, 0.0, NAN], [0, 0, 1 / 6, 0]),
    (F.hardswish, [-3.0, 3.0, 0.0, -4.0, 4.0, NAN], [0, 1, 0.5, 0, 1, 1]),
    (lambda x: lamina.clamp(x, 0.0, 6.0), [0.0, 6.0, NAN], [1, 1, 0]),  # clamp keeps inclusive bounds
])
def test_gradients_at_kinks_follow_pytorch(f, points, expected):
    np.testing.assert_allclose(grad_of(f, points), expected)


@pytest.mark.parametrize("f", [F.relu6, F.hardtanh, F.hardsigmoid, F.hardswish])
def test_hard_activations_gradcheck_and_gradgradcheck_away_from_kinks(f):
    from lamina.autograd import gradgradcheck
    x = lamina.tensor([-5.0, -2.5, -0.5, 0.3, 0.9, 2.0, 5.5, 8.0], dtype=lamina.float64, requires_grad=True)
    assert gradcheck(f, (x,))
    assert gradgradcheck(f, (x,))


def test_hard_activations_reject_integer_inputs_and_bad_bounds():
    with pytest.raises(RuntimeError, match="hardsigmoid"):
        F.hardsigmoid(lamina.tensor([1, 2]))
    with pytest.raises(ValueError, match="hardtanh"):
        F.hardtanh(lamina.zeros(2), 1.0, -1.0)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("dtype", [lamina.float32, lamina.float64])
def test_gelu_of_minus_infinity_is_nan_like_pytorch(approximate, dtype):
    for n in (1, 37):  # scalar and vector paths
        y = F.gelu(lamina.tensor([-INF] * n + [INF], dtype=dtype), approximate=approximate).numpy()
        assert np.isnan(y[:n]).all() and y[n] == INF


@pytest.mark.parametrize("dtype", [lamina.float32, lamina.float64])
def test_silu_of_minus_infinity_is_nan_like_pytorch(dtype):
    for n in (1, 37):
        y = F.silu(lamina.tensor([-INF] * n + [-1e30, INF], dtype=dtype)).numpy()
        assert np.isnan(y[:n]).all() and y[n] == 0 and y[n + 1] == INF


def test_new_activation_ops_and_bce_same_bits_with_1_and_2_threads(threads):
    # large enough that the elementwise kernels split the work across threads
    rng = np.random.default_rng(3)
    x = rng.uniform(-5, 5, 200_000)
    t = rng.uniform(0, 1, 200_000)
    fns = [lambda a: F.hardtanh(a, -2.0, 3.0), F.hardsigmoid, F.hardswish, F.relu6,
           lambda a: F.binary_cross_entropy(a.sigmoid(), lamina.tensor(t), reduction="none")]
    results = []
    for n in (1, 2):
        threads(n)
        run = []
        for f in fns:
            a = lamina.tensor(x, requires_grad=True)
            y = f(a)
            (y * 1.5).sum().backward()
            run.append((y.detach().numpy().copy(), a.grad.numpy().copy()))
        results.append(run)
    for (y1, g1), (y2, g2) in zip(*results):
        assert y1.tobytes() == y2.tobytes() and g1.tobytes() == g2.tobytes()


@pytest.mark.parametrize("name, alpha, scale, input_scale", [
    ("elu", 1.0, 1.0, 1.0), ("selu", 1.6732632423543772, 1.0507009873554805, 1.0), ("celu", 2.0, 1.0, 0.5)])
def test_elu_family_gradients_follow_pytorch(name, alpha, scale, input_scale):
    """Found by the differential fuzzer: differentiating alpha expm1(x) gave g (expm1(x) + 1), which is
    0 once expm1 rounds to -1 in float32; PyTorch's formula is alpha exp(x). Its curvature at 0 is 0."""
    fn = {"elu": lambda x: F.elu(x), "selu": F.selu, "celu": lambda x: F.celu(x, 2.0)}[name]
    values = np.array([-30.0, -18.705692, -5.0, -1e-3, 0.0, 0.7, 3.0], np.float32)
    x = lamina.tensor(values).requires_grad_(True)
    (g,) = lamina.autograd.grad(fn(x).sum(), x, create_graph=True)
    (h,) = lamina.autograd.grad(g.sum(), x)
    v = values.astype(np.float64)
    expected_g = np.where(v > 0, scale, scale * alpha * input_scale * np.exp(v * input_scale))
    expected_h = np.where(v < 0, scale * alpha * input_scale ** 2 * np.exp(v * input_scale), 0.0)
    np.testing.assert_allclose(g.detach().numpy(), expected_g, rtol=1e-5)
    np.testing.assert_allclose(h.numpy(), expected_h, rtol=1e-5)
    assert g.detach().numpy()[1] > 0  # was exactly 0


@pytest.mark.parametrize("fn", [F.elu, F.selu, lambda x: F.celu(x, 2.0)])
def test_elu_family_refuses_integer_input(fn):
    with pytest.raises(NotImplementedError, match="elu: not implemented for 'Long'"):
        fn(lamina.tensor([1, 2]))


# ---- PReLU, cosine_similarity, pairwise_distance (PyTorch names the API coverage tool found missing) ----

def test_prelu_matches_numpy_and_its_gradients():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((2, 3, 4))
    a[0, 0, :2] = 0.0  # the kink: PyTorch's slope there is the weight's
    w = np.array([0.1, -0.5, 2.0])
    out = F.prelu(lamina.tensor(a), lamina.tensor(w)).numpy()
    np.testing.assert_allclose(out, np.where(a > 0, a, w[None, :, None] * a))
    x = lamina.tensor(a, requires_grad=True)
    wt = lamina.tensor(w, requires_grad=True)
    F.prelu(x, wt).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.where(a > 0, 1.0, np.broadcast_to(w[None, :, None], a.shape)))
    np.testing.assert_allclose(wt.grad.numpy(), np.where(a > 0, 0.0, a).sum(axis=(0, 2)))
    b = rng.standard_normal((3, 2)) + 0.1
    assert lamina.autograd.gradcheck(lambda u, v: F.prelu(u, v), (lamina.tensor(b, requires_grad=True),
                                                                     lamina.tensor([0.3], dtype=lamina.float64, requires_grad=True)))
    # One weight for any input rank, 0-d included; channel counts must match.
    assert F.prelu(lamina.tensor(-2.0), lamina.tensor([0.25])).item() == -0.5
    with pytest.raises(RuntimeError, match="prelu: mismatch in parameter count"):
        F.prelu(lamina.zeros(2, 4), lamina.zeros(3))
    with pytest.raises(RuntimeError, match="prelu: mismatch in parameter count"):
        F.prelu(lamina.zeros(5), lamina.zeros(5))


def test_prelu_module():
    m = lamina.nn.PReLU(3, init=0.1)
    assert [n for n, _ in m.named_parameters()] == ["weight"] and m.weight.tolist() == pytest.approx([0.1] * 3)
    assert repr(m) == "PReLU(num_parameters=3)"
    out = m(lamina.tensor([[-1.0, 2.0, -3.0]]))
    assert out.flatten().tolist() == pytest.approx([-0.1, 2.0, -0.3])
    assert type(m).__module__ == "lamina.nn.modules.activation"


def test_cosine_similarity_and_pairwise_distance():
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((4, 5)), rng.standard_normal((1, 5))
    got = F.cosine_similarity(lamina.tensor(a), lamina.tensor(b)).numpy()
    want = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    np.testing.assert_allclose(got, want)
    np.testing.assert_allclose(F.cosine_similarity(lamina.tensor(a), lamina.tensor(a), dim=0).numpy(), np.ones(5))
    # A zero vector: value 0 (its norm clamped at eps), gradients finite.
    z = lamina.zeros(1, 5, dtype=lamina.float64, requires_grad=True)
    y = F.cosine_similarity(z, lamina.tensor(b))
    y.sum().backward()
    assert y.item() == 0.0 and np.isfinite(z.grad.numpy()).all()
    x = lamina.tensor(a, requires_grad=True)
    assert lamina.autograd.gradcheck(lambda u: F.cosine_similarity(u, lamina.tensor(b)), (x,))
    got = F.pairwise_distance(lamina.tensor(a), lamina.tensor(b)).numpy()
    np.testing.assert_allclose(got, np.linalg.norm(a - b + 1e-6, axis=-1))
    assert F.pairwise_distance(lamina.tensor(a), lamina.tensor(b), p=1.0, keepdim=True).shape == (4, 1)


def test_variable_is_the_tensor():
    t = lamina.ones(2)
    v = lamina.autograd.Variable(t, requires_grad=True)
    assert v is t and t.requires_grad


@pytest.mark.torch
def test_prelu_and_cosine_similarity_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    a, w = rng.standard_normal((3, 4, 2)), rng.standard_normal(4)
    np.testing.assert_allclose(F.prelu(lamina.tensor(a), lamina.tensor(w)).numpy(),
                               torch.nn.functional.prelu(torch.tensor(a), torch.tensor(w)).numpy())
    x1, x2 = rng.standard_normal((3, 1, 6)), rng.standard_normal((1, 5, 6))
    np.testing.assert_allclose(F.cosine_similarity(lamina.tensor(x1), lamina.tensor(x2), dim=-1).numpy(),
                               torch.nn.functional.cosine_similarity(torch.tensor(x1), torch.tensor(x2), dim=-1).numpy())
