"""lamina.lerp / Tensor.lerp / Tensor.lerp_ against numpy, float64 gradcheck, and PyTorch's errors."""

import numpy as np
import pytest

import lamina
from lamina.autograd import gradcheck


def _np_lerp(a, b, w):
    return np.where(np.abs(w) < 0.5, a + w * (b - a), b - (b - a) * (1 - w))


@pytest.mark.parametrize("weight", [0.0, 0.25, 0.5, 0.9, 1.0, -0.3, 1.7])
def test_lerp_scalar_weight_matches_numpy(weight):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4,))  # broadcast end
    out = lamina.lerp(lamina.from_numpy(a), lamina.from_numpy(b), weight)
    np.testing.assert_allclose(out.numpy(), _np_lerp(a, b, np.float64(weight)), rtol=0, atol=1e-15)
    if weight == 1.0:
        assert np.array_equal(out.numpy(), np.broadcast_to(b, a.shape))  # exact at the end point


def test_lerp_tensor_weight_and_method_forms():
    rng = np.random.default_rng(1)
    a, b, w = (rng.standard_normal((2, 5)).astype(np.float32) for _ in range(3))
    ta, tb, tw = (lamina.from_numpy(t.copy()) for t in (a, b, w))  # lerp_ must not write into a
    np.testing.assert_allclose(ta.lerp(tb, tw).numpy(), _np_lerp(a, b, w), rtol=1e-6, atol=1e-6)
    before = ta.clone()
    assert ta.lerp_(tb, 0.1) is ta
    np.testing.assert_allclose(ta.numpy(), a + 0.1 * (b - a), rtol=1e-6, atol=1e-6)
    assert not np.array_equal(ta.numpy(), before.numpy())


def test_lerp_gradcheck_float64():
    rng = np.random.default_rng(2)
    a, b, w = (lamina.from_numpy(rng.uniform(-1, 1, (3, 2))).requires_grad_() for _ in range(3))
    assert gradcheck(lambda x, y, z: lamina.lerp(x, y, z), (a, b, w))
    assert gradcheck(lambda x, y: lamina.lerp(x, y, 0.3), (a, b))
    assert gradcheck(lambda x, y: lamina.lerp(x, y, 0.8), (a, b))


def test_lerp_errors():
    a = lamina.zeros(3)
    with pytest.raises(RuntimeError, match="expected dtype"):
        lamina.lerp(a, lamina.zeros(3, dtype=lamina.float64), 0.5)
    with pytest.raises(TypeError, match="weight"):
        lamina.lerp(a, a, "half")
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        a.lerp_(lamina.zeros(2, 3), 0.5)


@pytest.mark.torch
def test_lerp_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    a, b, w = (rng.standard_normal((4, 3)).astype(np.float32) for _ in range(3))
    for weight in (0.3, 0.7, w):
        ours = lamina.lerp(lamina.from_numpy(a), lamina.from_numpy(b),
                           lamina.from_numpy(weight) if isinstance(weight, np.ndarray) else weight)
        theirs = torch.lerp(torch.from_numpy(a), torch.from_numpy(b),
                            torch.from_numpy(weight) if isinstance(weight, np.ndarray) else weight)
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, atol=1e-6)
