"""nn.init: fans and gains against the formulas, sample statistics of every fill, default layer
initialisations, and the nn.utils helpers (clip_grad_norm_ by hand, vector conversion)."""

import math

import numpy as np
import pytest

import lamina
import lamina.nn as nn
from lamina.nn import init


def values(t):
    return t.detach().numpy().astype(np.float64).ravel()


def test_fans():
    assert init._calculate_fan_in_and_fan_out(lamina.empty(5, 7)) == (7, 5)
    assert init._calculate_fan_in_and_fan_out(lamina.empty(16, 3, 5, 4)) == (60, 320)
    assert init._calculate_fan_in_and_fan_out(lamina.empty(8, 2, 3)) == (6, 24)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(lamina.empty(4))


def test_calculate_gain():
    assert init.calculate_gain("linear") == 1 and init.calculate_gain("conv2d") == 1
    assert init.calculate_gain("sigmoid") == 1
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01 ** 2)))
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(2 / 6))
    assert init.calculate_gain("selu") == 0.75
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swish")


def test_uniform_normal_constant():
    t = lamina.empty(200, 300)
    v = values(init.uniform_(t, -2.0, 3.0))
    assert v.min() >= -2.0 and v.max() <= 3.0
    assert abs(v.mean() - 0.5) < 0.02 and abs(v.var() - 25 / 12) < 0.03
    v = values(init.normal_(t, 1.0, 0.5))
    assert abs(v.mean() - 1.0) < 0.01 and abs(v.std() - 0.5) < 0.01
    assert set(values(init.constant_(t, 0.25))) == {0.25}
    assert set(values(init.ones_(t))) == {1.0} and set(values(init.zeros_(t))) == {0.0}


def test_eye_and_dirac():
    np.testing.assert_array_equal(init.eye_(lamina.empty(3, 5)).numpy(), np.eye(3, 5))
    with pytest.raises(ValueError, match="2 dimensions"):
        init.eye_(lamina.empty(3))
    w = init.dirac_(lamina.empty(4, 2, 3, 3)).numpy()
    assert w.sum() == 2 and w[0, 0, 1, 1] == 1 and w[1, 1, 1, 1] == 1


@pytest.mark.parametrize("shape", [(256, 512), (64, 32, 3, 3)])
def test_xavier(shape):
    fan_in, fan_out = init._calculate_fan_in_and_fan_out(lamina.empty(*shape))
    gain = 1.7
    bound = gain * math.sqrt(6 / (fan_in + fan_out))
    v = values(init.xavier_uniform_(lamina.empty(*shape), gain=gain))
    assert v.max() <= bound and v.min() >= -bound and v.max() > 0.99 * bound
    assert abs(v.std() - bound / math.sqrt(3)) < 0.02 * bound
    v = values(init.xavier_normal_(lamina.empty(*shape), gain=gain))
    assert abs(v.std() / (gain * math.sqrt(2 / (fan_in + fan_out))) - 1) < 0.02


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
@pytest.mark.parametrize("nonlinearity,a", [("relu", 0), ("leaky_relu", 0.2), ("tanh", 0)])
def test_kaiming(mode, nonlinearity, a):
    shape = (128, 64, 3, 3)
    fan_in, fan_out = init._calculate_fan_in_and_fan_out(lamina.empty(*shape))
    fan = fan_in if mode == "fan_in" else fan_out
    std = init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    v = values(init.kaiming_uniform_(lamina.empty(*shape), a=a, mode=mode, nonlinearity=nonlinearity))
    bound = math.sqrt(3) * std
    assert v.max() <= bound and v.min() >= -bound and v.max() > 0.99 * bound
    v = values(init.kaiming_normal_(lamina.empty(*shape), a=a, mode=mode, nonlinearity=nonlinearity))
    assert abs(v.std() / std - 1) < 0.02 and abs(v.mean()) < 0.02 * std
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_normal_(lamina.empty(*shape), mode="fan_avg")


def test_trunc_normal():
    v = values(init.trunc_normal_(lamina.empty(400, 500), mean=0.0, std=1.0, a=-2.0, b=2.0))
    assert v.min() >= -2.0 and v.max() <= 2.0
    # standard normal truncated to [-2, 2]: variance 1 - 2*2*phi(2) / (2*Phi(2) - 1)
    phi2 = math.exp(-2) / math.sqrt(2 * math.pi)
    z = math.erf(2 / math.sqrt(2))
    assert abs(v.std() - math.sqrt(1 - 4 * phi2 / z)) < 0.005 and abs(v.mean()) < 0.01
    v = values(init.trunc_normal_(lamina.empty(10000), mean=1.0, std=0.1, a=0.9, b=1.5))
    assert v.min() >= 0.9 and v.max() <= 1.5


def test_orthogonal():
    for shape in [(6, 10), (10, 6), (4, 2, 3)]:
        w = init.orthogonal_(lamina.empty(*shape), gain=2.0).numpy().reshape(shape[0], -1).astype(np.float64)
        rows, cols = w.shape
        gram = w @ w.T if rows <= cols else w.T @ w
        np.testing.assert_allclose(gram, 4 * np.eye(min(rows, cols)), atol=1e-5)


def test_init_runs_under_no_grad_on_parameters_and_is_seeded():
    p = nn.Parameter(lamina.empty(3, 4))
    init.kaiming_uniform_(p, a=math.sqrt(5))
    assert p.grad_fn is None and p.is_leaf and p.requires_grad
    lamina.manual_seed(3)
    a = values(init.normal_(lamina.empty(10)))
    lamina.manual_seed(3)
    b = values(init.normal_(lamina.empty(10)))
    np.testing.assert_array_equal(a, b)
    g = lamina.Generator().manual_seed(5)
    c = values(init.uniform_(lamina.empty(10), generator=g))
    g.manual_seed(5)
    np.testing.assert_array_equal(c, values(init.uniform_(lamina.empty(10), generator=g)))


# ---- default layer initialisations -----------------------------------------------------------------

def _bound_check(t, bound):
    v = values(t)
    assert v.max() <= bound and v.min() >= -bound
    assert v.max() > 0.8 * bound  # really spread over the range


def test_linear_default_init():
    m = nn.Linear(400, 300)
    _bound_check(m.weight, 1 / math.sqrt(400))
    _bound_check(m.bias, 1 / math.sqrt(400))
    assert tuple(m.weight.shape) == (300, 400)
    assert nn.Linear(3, 2, bias=False).bias is None
    assert nn.Linear(3, 2, dtype=lamina.float64).weight.dtype == lamina.float64


def test_conv_default_init():
    m = nn.Conv2d(16, 32, 3)
    _bound_check(m.weight, 1 / math.sqrt(16 * 9))
    _bound_check(m.bias, 1 / math.sqrt(16 * 9))
    t = nn.ConvTranspose2d(16, 32, 3, groups=2)
    assert tuple(t.weight.shape) == (16, 16, 3, 3)
    _bound_check(t.weight, 1 / math.sqrt(16 * 9))
    c = nn.Conv1d(4, 8, 5, groups=2)
    assert tuple(c.weight.shape) == (8, 2, 5)
    _bound_check(c.weight, 1 / math.sqrt(10))
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)


def test_other_default_inits():
    b = nn.Bilinear(20, 30, 40)
    _bound_check(b.weight, 1 / math.sqrt(20))
    e = nn.Embedding(1000, 64, padding_idx=3)
    v = e.weight.detach().numpy()
    assert (v[3] == 0).all()
    assert abs(np.delete(v, 3, axis=0).std() - 1) < 0.02
    bn = nn.BatchNorm1d(5)
    assert values(bn.weight).tolist() == [1.0] * 5 and values(bn.bias).tolist() == [0.0] * 5
    assert values(bn.running_var).tolist() == [1.0] * 5 and bn.num_batches_tracked.item() == 0
    ln = nn.LayerNorm((4, 5))
    assert tuple(ln.weight.shape) == (4, 5) and set(values(ln.weight)) == {1.0}


# ---- nn.utils ------------------------------------------------------------------------------------

def _params_with_grads(grads):
    params = []
    for g in grads:
        p = nn.Parameter(lamina.zeros(*g.shape))
        p.grad = lamina.tensor(g)
        params.append(p)
    return params


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
def test_clip_grad_norm(norm_type):
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal(5).astype(np.float32)]
    flat = np.concatenate([g.ravel() for g in grads]).astype(np.float64)
    total = np.abs(flat).max() if norm_type == math.inf else (np.abs(flat) ** norm_type).sum() ** (1 / norm_type)
    params = _params_with_grads(grads)
    max_norm = total / 4
    result = nn.utils.clip_grad_norm_(params, max_norm, norm_type=norm_type)
    assert result.item() == pytest.approx(total, rel=1e-5)
    coef = max_norm / (total + 1e-6)
    for p, g in zip(params, grads):
        np.testing.assert_allclose(p.grad.numpy(), g * coef, rtol=1e-5)
    # below the limit: untouched
    params = _params_with_grads(grads)
    nn.utils.clip_grad_norm_(params, total * 2, norm_type=norm_type)
    for p, g in zip(params, grads):
        np.testing.assert_array_equal(p.grad.numpy(), g)


def test_clip_grad_norm_nonfinite_and_single_tensor():
    params = _params_with_grads([np.array([1.0, np.inf], dtype=np.float32)])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    p = _params_with_grads([np.array([3.0, 4.0], dtype=np.float32)])[0]
    assert nn.utils.clip_grad_norm_(p, 1.0).item() == pytest.approx(5.0)
    np.testing.assert_allclose(p.grad.numpy(), [0.6, 0.8], rtol=1e-5)
    assert nn.utils.clip_grad_norm_([nn.Parameter(lamina.zeros(2))], 1.0).item() == 0.0


def test_clip_grad_value():
    params = _params_with_grads([np.array([-3.0, 0.5, 2.0], dtype=np.float32)])
    nn.utils.clip_grad_value_(params, 1.0)
    assert params[0].grad.numpy().tolist() == [-1.0, 0.5, 1.0]


def test_parameters_to_vector_and_back():
    m = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    vec = nn.utils.parameters_to_vector(m.parameters())
    assert tuple(vec.shape) == (3 * 2 + 2 + 2 + 1,)
    np.testing.assert_array_equal(vec.detach().numpy()[:6], m[0].weight.detach().numpy().ravel())
    new = lamina.arange(11, dtype=lamina.float32)
    nn.utils.vector_to_parameters(new, m.parameters())
    assert m[0].bias.detach().numpy().tolist() == [6.0, 7.0]
    assert m[1].bias.item() == 10.0
    with pytest.raises(RuntimeError, match="expected \\(11,\\)"):
        nn.utils.vector_to_parameters(lamina.zeros(3), m.parameters())
