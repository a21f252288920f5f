"""dropout: keep-rate statistics, 1 / (1 - p) scaling, identity in eval mode, masks that depend on the
seed only (not the thread count or ISA), the gradient using the forward's mask, in-place form;
dropout2d zeroes whole channels; alpha_dropout keeps zero mean and unit variance."""

import math

import numpy as np
import pytest

import lamina
import lamina.nn.functional as F


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
@pytest.mark.parametrize("dtype", [lamina.float32, lamina.float64])
def test_dropout_statistics_and_scaling(p, dtype, isa):
    n = 200_000
    x = lamina.rand(n, dtype=dtype) + 0.5
    y = F.dropout(x, p, training=True)
    xn, yn = x.numpy(), y.numpy()
    kept = yn != 0
    # the kept fraction is binomial(n, 1 - p): within 5 standard deviations
    assert abs(kept.mean() - (1 - p)) < 5 * math.sqrt(p * (1 - p) / n)
    np.testing.assert_allclose(yn[kept], xn[kept] / (1 - p), rtol=1e-6)


def test_dropout_eval_and_p0_are_identity_and_p1_zeroes():
    x = lamina.randn(10, 7)
    assert F.dropout(x, 0.5, training=False) is x
    np.testing.assert_array_equal(F.dropout(x, 0.0).numpy(), x.numpy())
    np.testing.assert_array_equal(F.dropout(x, 1.0).numpy(), np.zeros((10, 7), np.float32))
    assert F.dropout(lamina.zeros(0), 0.3).shape == (0,)


def test_dropout_mask_depends_on_seed_only(isa, threads):
    x = lamina.ones(3, 50_001)
    results = []
    for n in (1, 2, 3):
        threads(n)
        lamina.manual_seed(123)
        results.append(F.dropout(x, 0.3).numpy().tobytes())
    assert results[0] == results[1] == results[2]
    lamina.manual_seed(124)
    assert F.dropout(x, 0.3).numpy().tobytes() != results[0]


def test_dropout_same_mask_on_every_isa():
    previous = lamina._C._get_cpu_isa()
    masks = []
    try:
        for level in ("baseline", lamina._C._detected_cpu_isa()):
            lamina._C._set_cpu_isa(level)
            lamina.manual_seed(7)
            masks.append(F.dropout(lamina.ones(1000), 0.5).numpy())
    finally:
        lamina._C._set_cpu_isa(previous)
    np.testing.assert_array_equal(masks[0], masks[1])


def test_dropout_successive_calls_differ_and_generator_argument():
    x = lamina.ones(1000)
    a, b = F.dropout(x, 0.5).numpy(), F.dropout(x, 0.5).numpy()
    assert not np.array_equal(a, b)
    g1, g2 = lamina.Generator(), lamina.Generator()
    g1.manual_seed(5)
    g2.manual_seed(5)
    np.testing.assert_array_equal(lamina.dropout(x, 0.5, True, generator=g1).numpy(),
                                  lamina.dropout(x, 0.5, True, generator=g2).numpy())


def test_dropout_gradient_uses_the_forward_mask():
    x = (lamina.rand(64, 33, dtype=lamina.float64) + 0.5).requires_grad_(True)
    y = F.dropout(x, 0.4)
    g = lamina.randn(64, 33, dtype=lamina.float64)
    y.backward(g)
    mask = y.detach().numpy() != 0
    np.testing.assert_allclose(x.grad.numpy(), g.numpy() * mask / 0.6, rtol=1e-15)
    assert y.grad_fn.name() == "NativeDropoutBackward0"


def test_dropout_inplace():
    x = lamina.rand(100) + 1.0
    before = x.numpy().copy()
    out = F.dropout(x, 0.5, inplace=True)
    assert out is x
    kept = x.numpy() != 0
    assert 0 < kept.sum() < 100
    np.testing.assert_allclose(x.numpy()[kept], before[kept] * 2, rtol=1e-6)
    leaf = lamina.rand(10, requires_grad=True)
    y = leaf * 1.0
    F.dropout(y, 0.5, inplace=True).sum().backward()
    np.testing.assert_allclose(leaf.grad.numpy(), (y.detach().numpy() != 0) * 2.0)


def test_dropout_errors():
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(lamina.randn(3), 1.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        lamina.dropout(lamina.randn(3), -0.1, True)


@pytest.mark.parametrize("shape", [(8, 16, 5, 5), (16, 5, 5)], ids=str)
def test_dropout2d_zeroes_whole_channels(shape):
    x = lamina.rand(*shape) + 1.0
    y = F.dropout2d(x, 0.5).numpy()
    planes = y.reshape(-1, shape[-2] * shape[-1])
    xs = x.numpy().reshape(-1, shape[-2] * shape[-1])
    zero = (planes == 0).all(axis=1)
    assert 0 < zero.sum() < len(zero)
    np.testing.assert_allclose(planes[~zero], xs[~zero] * 2, rtol=1e-6)
    np.testing.assert_array_equal(F.dropout2d(x, 0.5, training=False).numpy(), x.numpy())


def test_dropout2d_gradient():
    x = (lamina.rand(4, 6, 3, 3, dtype=lamina.float64) + 1).requires_grad_(True)
    y = F.dropout2d(x, 0.5)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), (y.detach().numpy() != 0) * 2.0)


def test_alpha_dropout_keeps_moments():
    x = lamina.randn(200_000, dtype=lamina.float64)
    y = F.alpha_dropout(x, 0.3, training=True).numpy()
    assert abs(y.mean()) < 0.02 and abs(y.std() - 1) < 0.02
    np.testing.assert_array_equal(F.alpha_dropout(x, 0.3, training=False).numpy(), x.numpy())


@pytest.mark.parametrize("fn,shape", [(F.dropout1d, (6, 20, 7)), (F.dropout3d, (3, 10, 2, 3, 4))], ids=["1d", "3d"])
def test_dropout1d_and_3d_zero_whole_channels(fn, shape):
    x = lamina.rand(*shape) + 1.0
    planes = fn(x, 0.5).numpy().reshape(shape[0] * shape[1], -1)
    zero = (planes == 0).all(axis=1)
    assert 0 < zero.sum() < len(zero)
    np.testing.assert_allclose(planes[~zero], x.numpy().reshape(len(zero), -1)[~zero] * 2, rtol=1e-6)
    with pytest.raises(RuntimeError, match="expected a"):
        fn(lamina.rand(3), 0.5)


@pytest.mark.parametrize("n", [7, 29, 300, 8195])
def test_dropout_mask_is_philox_word_at_element_index(n, isa):
    """Element i keeps iff word i % 4 of Philox block (offset + i // 4) is >= p * 2^32: checked against
    the reference block function, so the vectorised and scalar Philox paths of the kernel agree."""
    g = lamina.Generator().manual_seed(2**40 + 17)
    g.set_state((2**40 + 17, 5))  # a non-zero starting offset
    p = 0.37
    y = lamina.dropout(lamina.ones(n, dtype=lamina.float64), p, True, generator=g).numpy()
    seed = 2**40 + 17
    key = [seed & 0xFFFFFFFF, seed >> 32]
    words = np.array([lamina._C._philox4x32_10([b & 0xFFFFFFFF, b >> 32, 0, 0], key) for b in range(5, 5 + (n + 3) // 4)],
                     dtype=np.uint64).reshape(-1)[:n]
    expected = np.where(words >= int(p * 2**32), 1 / (1 - p), 0.0)
    np.testing.assert_array_equal(y, expected)
    assert int(g.get_state()[1]) == 5 + (n + 3) // 4
