"""Everyday PyTorch names that are composites of lamina ops: meshgrid, isclose/allclose,
inference_mode, the legacy tensor-type constructors (numpy references, PyTorch when installed)."""

import numpy as np
import pytest

import lamina


def test_meshgrid_ij_and_xy_are_expanded_views():
    x, y, z = lamina.arange(3.0), lamina.arange(4.0), lamina.tensor([7.0, 8.0])
    for indexing in ("ij", "xy"):
        got = lamina.meshgrid(x, y, z, indexing=indexing)
        want = np.meshgrid(x.numpy(), y.numpy(), z.numpy(), indexing=indexing)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g.numpy(), w)
    a, b = lamina.meshgrid([x, y])  # a list works too; "ij" is the default
    assert a.shape == (3, 4) and a.stride() == (1, 0) and b.stride() == (0, 1)
    assert [t.shape for t in lamina.meshgrid(lamina.tensor(5.0), y)] == [(1, 4), (1, 4)]
    with pytest.raises(RuntimeError, match="meshgrid: expected 0D or 1D tensors"):
        lamina.meshgrid(lamina.zeros(2, 2))
    with pytest.raises(ValueError, match="indexing must be 'ij' or 'xy'"):
        lamina.meshgrid(x, indexing="xx")


def test_isclose_and_allclose():
    a = lamina.tensor([1.0, 1.0 + 1e-6, float("inf"), float("nan"), -float("inf"), 0.0])
    b = lamina.tensor([1.0, 1.0, float("inf"), float("nan"), float("inf"), 1e-9])
    assert lamina.isclose(a, b).tolist() == [True, True, True, False, False, True]
    assert lamina.isclose(a, b, equal_nan=True).tolist()[3] is True
    assert lamina.isclose(a, b, rtol=0, atol=0).tolist() == [True, False, True, False, False, False]
    assert lamina.isclose(lamina.tensor([3, 4]), lamina.tensor([3, 5])).tolist() == [True, False]
    assert lamina.isclose(lamina.ones(2, 1), lamina.ones(3)).shape == (2, 3)
    assert lamina.allclose(lamina.ones(3), lamina.ones(3) + 1e-9) is True
    assert lamina.allclose(lamina.ones(3), lamina.zeros(3)) is False
    with pytest.raises(RuntimeError, match="did not match"):
        lamina.isclose(lamina.ones(2), lamina.ones(2, dtype=lamina.float64))


def test_inference_mode_records_nothing():
    x = lamina.ones(2, requires_grad=True)
    with lamina.inference_mode():
        assert not (x * 2).requires_grad
    with lamina.inference_mode(False):
        assert (x * 2).requires_grad

    @lamina.inference_mode()
    def f(t):
        return t * 2

    @lamina.inference_mode
    def g(t):
        return t * 3

    assert not f(x).requires_grad and not g(x).requires_grad and lamina.is_grad_enabled()


def test_legacy_tensor_types():
    assert lamina.LongTensor([1, 2]).dtype == lamina.int64 and lamina.LongTensor([1, 2]).tolist() == [1, 2]
    assert lamina.FloatTensor(2, 3).shape == (2, 3) and lamina.FloatTensor(2, 3).dtype == lamina.float32
    assert lamina.DoubleTensor(lamina.Size([4])).shape == (4,)
    assert lamina.BoolTensor([True, False]).dtype == lamina.bool and lamina.IntTensor((2, 3)).tolist() == [2, 3]
    assert lamina.FloatTensor().shape == (0,)


@pytest.mark.torch
def test_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    a = rng.standard_normal(50)
    b = a + rng.choice([0, 1e-7, 1e-4, np.inf, np.nan], 50)
    for kw in ({}, {"equal_nan": True}, {"rtol": 0, "atol": 0}, {"rtol": 1e-3, "atol": 0}):
        np.testing.assert_array_equal(lamina.isclose(lamina.tensor(a), lamina.tensor(b), **kw).numpy(),
                                      torch.isclose(torch.tensor(a), torch.tensor(b), **kw).numpy())
    for indexing in ("ij", "xy"):
        got = lamina.meshgrid(lamina.arange(3), lamina.arange(2), indexing=indexing)
        want = torch.meshgrid(torch.arange(3), torch.arange(2), indexing=indexing)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g.numpy(), w.numpy())


def test_special_functions():
    x = lamina.tensor([0.0, 0.5, 2.0, -1.0], dtype=lamina.float64)
    a = x.numpy()
    np.testing.assert_allclose(lamina.special.expm1(x).numpy(), np.expm1(a))
    np.testing.assert_allclose(lamina.special.expit(x).numpy(), 1 / (1 + np.exp(-a)))
    np.testing.assert_allclose(lamina.special.exp2(x).numpy(), np.exp2(a))
    p = lamina.tensor([0.0, 0.25, 0.5, 1.0], dtype=lamina.float64)
    np.testing.assert_allclose(lamina.special.logit(p, eps=1e-6).numpy(),
                               np.log(np.clip(p.numpy(), 1e-6, 1 - 1e-6) / (1 - np.clip(p.numpy(), 1e-6, 1 - 1e-6))))
    y = lamina.tensor([0.0, 2.0, float("nan"), 3.0], dtype=lamina.float64)
    got = lamina.special.xlogy(x, y).numpy()
    assert got[0] == 0.0 and np.isnan(got[2]) and got[1] == pytest.approx(0.5 * np.log(2.0))
    assert lamina.special.round(lamina.tensor([1.2345]), decimals=2).item() == pytest.approx(1.23)


def test_data_parallel_runs_the_module_on_the_cpu():
    inner = lamina.nn.Linear(2, 3)
    model = lamina.nn.DataParallel(inner)
    x = lamina.ones(4, 2)
    np.testing.assert_array_equal(model(x).detach().numpy(), inner(x).detach().numpy())
    assert list(model.state_dict()) == ["module.weight", "module.bias"] and model.module is inner
    assert lamina.nn.parallel.DataParallel is lamina.nn.DataParallel
    with pytest.raises(ValueError, match="device_ids"):
        lamina.nn.DataParallel(inner, device_ids=[0, 1])


def _seeded(seed):
    g = lamina.Generator()
    g.manual_seed(seed)
    return g


def test_multinomial_frequencies_and_shapes():
    p = lamina.tensor([0.1, 0.0, 0.6, 0.3])
    draws = lamina.multinomial(p, 40000, replacement=True, generator=_seeded(0)).numpy()
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / 40000, [0.1, 0.0, 0.6, 0.3], atol=0.01)
    first = lamina.multinomial(p.expand(20000, 4).contiguous() * 5, 1, generator=_seeded(1)).numpy().ravel()
    np.testing.assert_allclose(np.bincount(first, minlength=4) / 20000, [0.1, 0.0, 0.6, 0.3], atol=0.015)
    rows = lamina.multinomial(lamina.ones(3, 5), 5, generator=_seeded(2))
    assert rows.shape == (3, 5) and rows.dtype == lamina.int64
    assert all(sorted(r) == [0, 1, 2, 3, 4] for r in rows.tolist())  # a permutation: no repeats
    a = lamina.multinomial(p, 2, generator=_seeded(3)).tolist()
    assert a == lamina.multinomial(p, 2, generator=_seeded(3)).tolist() and 1 not in a


def test_multinomial_errors():
    with pytest.raises(RuntimeError, match="cannot sample n_sample > prob_dist.size"):
        lamina.multinomial(lamina.ones(3), 4)
    assert lamina.multinomial(lamina.tensor([1.0, 0.0, 0.0]), 2).tolist()[0] == 0  # PyTorch does not refuse
    with pytest.raises(RuntimeError, match="`inf`, `nan` or element < 0"):
        lamina.multinomial(lamina.tensor([1.0, -1.0]), 1)
    with pytest.raises(RuntimeError, match="sum of probabilities <= 0"):
        lamina.multinomial(lamina.zeros(3), 1, replacement=True)
    with pytest.raises(RuntimeError, match="prob_dist must be 1 or 2 dim"):
        lamina.multinomial(lamina.ones(2, 2, 2), 1)


def test_equal():
    assert lamina.equal(lamina.ones(2), lamina.ones(2, dtype=lamina.float64))
    assert not lamina.equal(lamina.ones(2), lamina.ones(3)) and not lamina.equal(lamina.ones(2), lamina.zeros(2))
    assert not lamina.equal(lamina.tensor([float("nan")]), lamina.tensor([float("nan")]))


def test_pixel_shuffle_round_trip_and_layout():
    a = np.arange(2 * 8 * 3 * 5, dtype=np.float64).reshape(2, 8, 3, 5)
    y = lamina.nn.PixelShuffle(2)(lamina.tensor(a))
    assert y.shape == (2, 2, 6, 10)
    # out[n, c, h r + i, w r + j] = in[n, c r^2 + i r + j, h, w]
    assert y[1, 1, 3, 5].item() == a[1, 1 * 4 + 1 * 2 + 1, 1, 2]
    back = lamina.nn.PixelUnshuffle(2)(y)
    np.testing.assert_array_equal(back.numpy(), a)
    x = lamina.tensor(a, requires_grad=True)
    assert lamina.autograd.gradcheck(lambda v: lamina.nn.functional.pixel_shuffle(v, 2) * 2, (x,))
    with pytest.raises(RuntimeError, match="pixel_shuffle: expected an input"):
        lamina.nn.functional.pixel_shuffle(lamina.zeros(1, 3, 2, 2), 2)


def test_tensor_new_factories_and_type():
    x = lamina.ones(2, dtype=lamina.float64)
    assert x.new_zeros(2, 3).dtype == lamina.float64 and x.new_zeros((2, 3)).shape == (2, 3)
    assert x.new_ones(4).tolist() == [1.0] * 4 and x.new_empty(3).shape == (3,)
    assert x.new_full((2,), 7, dtype=lamina.int64).tolist() == [7, 7]
    y = x.new_tensor([1, 2], requires_grad=True)
    assert y.dtype == lamina.float64 and y.requires_grad and y.is_leaf
    z = x.new_tensor(x)  # a detached copy
    assert not z.requires_grad and z.data_ptr() != x.data_ptr()
    assert x.type() == "lamina.DoubleTensor" and lamina.ones(2, dtype=lamina.int64).type() == "lamina.LongTensor"
    assert x.type(lamina.int32).dtype == lamina.int32 and x.type("torch.LongTensor").dtype == lamina.int64
    assert x.type(lamina.FloatTensor).dtype == lamina.float32
    with pytest.raises(ValueError, match="invalid type"):
        x.type("torch.HalfTensor")


def test_multinomial_same_draws_for_any_thread_count(threads):
    p = lamina.rand(64, 50, generator=_seeded(9)) + 0.01
    draws = []
    for n in (1, 2):
        threads(n)
        draws.append((lamina.multinomial(p, 7, generator=_seeded(4)).tolist(),
                      lamina.multinomial(p, 30, replacement=True, generator=_seeded(5)).tolist()))
    assert draws[0] == draws[1]
