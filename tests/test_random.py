"""Random numbers: Philox4x32-10 known-answer vectors (Random123), reproducibility after
manual_seed, Generator objects and their state, identical bytes for 1/2/3 threads and every ISA
level, statistical sanity on 1e6 samples (within 5 standard errors), bounds, and bad arguments."""

import math

import numpy as np
import pytest

import lamina

L = lamina
N = 1_000_000


# ---- Philox known answers (Random123's kat_vectors for philox4x32_10) -----------------------

@pytest.mark.parametrize("counter, key, expected", [
    ([0, 0, 0, 0], [0, 0], [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
    ([0xFFFFFFFF] * 4, [0xFFFFFFFF] * 2, [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
    ([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0],
     [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]),
])
def test_philox_known_answers(counter, key, expected):
    assert list(L._C._philox4x32_10(counter, key)) == expected


# ---- reproducibility, generators, state ------------------------------------------------------

DRAWS = {
    "rand": lambda g: L.rand(3, 5, generator=g),
    "randn64": lambda g: L.randn(7, dtype=L.float64, generator=g),
    "randint": lambda g: L.randint(-5, 5, (9,), generator=g),
    "normal": lambda g: L.normal(2.0, 3.0, (4,), generator=g),
    "normal_": lambda g: L.empty(6).normal_(1.0, 0.5, generator=g),
    "uniform_": lambda g: L.empty(6, dtype=L.float64).uniform_(-1, 1, generator=g),
    "bernoulli_": lambda g: L.empty(8).bernoulli_(0.3, generator=g),
    "bernoulli": lambda g: L.bernoulli(L.full((8,), 0.5), generator=g),
    "rand_like": lambda g: L.rand_like(L.ones(4), generator=g),
}


@pytest.mark.parametrize("name", DRAWS)
def test_manual_seed_reproduces(name):
    draw = DRAWS[name]
    L.manual_seed(123)
    first, second = draw(None).numpy(), draw(None).numpy()
    L.manual_seed(123)
    np.testing.assert_array_equal(draw(None).numpy(), first)
    np.testing.assert_array_equal(draw(None).numpy(), second)
    if first.dtype != np.bool_ and first.size > 4:
        assert not np.array_equal(first, second), "consecutive draws must differ"
        L.manual_seed(124)
        assert not np.array_equal(draw(None).numpy(), first), "seeds must matter"
    g = L.Generator().manual_seed(123)
    np.testing.assert_array_equal(draw(g).numpy(), first)  # same stream as the default generator


def test_generators_are_independent():
    L.manual_seed(5)
    expected = L.rand(10).numpy()
    L.manual_seed(5)
    g = L.Generator()
    g.manual_seed(99)
    L.rand(100, generator=g)
    np.testing.assert_array_equal(L.rand(10).numpy(), expected)  # g did not advance the default


def test_generator_state_round_trip():
    g = L.Generator().manual_seed(7)
    L.rand(13, generator=g)
    state = g.get_state()
    assert state.dtype == L.int64 and state.shape == (2,)
    a = L.randn(100, generator=g).numpy()
    g.manual_seed(0)
    g.set_state(state)
    np.testing.assert_array_equal(L.randn(100, generator=g).numpy(), a)
    assert g.initial_seed() == 7 and g.device == L.device("cpu")
    state = L.get_rng_state()
    b = L.rand(5).numpy()
    L.set_rng_state(state)
    np.testing.assert_array_equal(L.rand(5).numpy(), b)
    big = L.Generator().manual_seed(2**64 - 1)  # seeds past int64 survive the int64 state tensor
    s = big.get_state()
    c = L.rand(3, generator=big).numpy()
    big.manual_seed(1)
    big.set_state(s)
    assert big.initial_seed() == 2**64 - 1
    np.testing.assert_array_equal(L.rand(3, generator=big).numpy(), c)
    with pytest.raises(TypeError, match="set_state"):
        g.set_state(L.zeros(2))
    with pytest.raises(ValueError, match="set_state"):
        g.set_state((1, 2, 3))


def test_seeds():
    L.manual_seed(42)
    assert L.initial_seed() == 42
    L.manual_seed(-1)
    assert L.initial_seed() == 2**64 - 1
    L.manual_seed(-(2**63))
    assert L.initial_seed() == 2**63
    L.manual_seed(2.9)  # PyTorch converts with int()
    assert L.initial_seed() == 2
    s = L.seed()
    assert isinstance(s, int) and L.initial_seed() == s and 0 <= s < 2**64
    assert L.manual_seed(3) is L.default_generator()
    for bad in (2**64, -(2**63) - 1):
        with pytest.raises(ValueError, match="manual_seed: seed must be in"):
            L.manual_seed(bad)


# ---- determinism across threads and ISA levels ----------------------------------------------

def _many_draws():
    L.manual_seed(2024)
    strided = L.zeros(300, 200).t()  # filled through a temporary
    return [L.rand(100_003).numpy(), L.randn(50_001, dtype=L.float64).numpy(),
            L.randint(-(2**62), 2**62, (40_000,)).numpy(), L.empty(70_000).bernoulli_(0.25).numpy(),
            strided.normal_(0.0, 2.0).numpy(), L.randn(5, 4, 3).numpy()]


def test_random_is_independent_of_thread_count(threads):
    results = []
    for n in (1, 2, 3):
        threads(n)
        results.append(_many_draws())
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert a.tobytes() == b.tobytes()


def test_random_is_identical_on_every_isa(isa):
    L._C._set_cpu_isa("baseline")
    reference = _many_draws()
    L._C._set_cpu_isa(isa)
    for a, b in zip(reference, _many_draws()):
        assert a.tobytes() == b.tobytes()


# ---- distributions ---------------------------------------------------------------------------

def _check_moments(x, mean, std, label):
    """Sample mean and std within 5 standard errors of the true values."""
    x = x.astype(np.float64)
    n = x.size
    assert abs(x.mean() - mean) < 5 * std / math.sqrt(n), label
    assert abs(x.std() - std) < 5 * std / math.sqrt(2 * n) * 1.5, label  # 1.5: allowance for kurtosis


@pytest.mark.parametrize("dtype", [L.float32, L.float64])
def test_uniform_statistics(dtype):
    x = L.rand(N, dtype=dtype).numpy()
    assert x.min() >= 0 and x.max() < 1 and x.dtype == np.dtype(str(dtype).split(".")[1])
    _check_moments(x, 0.5, math.sqrt(1 / 12), "rand")
    counts = np.histogram(x, bins=10, range=(0, 1))[0]
    assert np.all(np.abs(counts - N / 10) < 5 * math.sqrt(N / 10 * 0.9))
    y = L.empty(N, dtype=dtype).uniform_(-2.0, 5.0).numpy()
    assert y.min() >= -2 and y.max() < 5
    _check_moments(y, 1.5, 7 / math.sqrt(12), "uniform_")


@pytest.mark.parametrize("dtype", [L.float32, L.float64])
def test_normal_statistics(dtype):
    x = L.randn(N, dtype=dtype).numpy()
    _check_moments(x, 0.0, 1.0, "randn")
    assert np.all(np.isfinite(x))
    assert abs(np.mean(np.abs(x) < 1) - 0.6826894921) < 5 * math.sqrt(0.68 * 0.32 / N)
    y = L.empty(N, dtype=dtype).normal_(3.0, 2.0).numpy()
    _check_moments(y, 3.0, 2.0, "normal_")
    z = L.normal(-1.0, 0.5, (N,), dtype=dtype).numpy()
    _check_moments(z, -1.0, 0.5, "normal")


def test_bernoulli_statistics():
    for p in (0.0, 0.3, 1.0):
        x = L.empty(N).bernoulli_(p).numpy()
        assert set(np.unique(x)) <= {0.0, 1.0}
        assert abs(x.mean() - p) <= 5 * math.sqrt(p * (1 - p) / N)
    probs = L.tensor([0.1, 0.9]).repeat(N // 2)
    draws = L.bernoulli(probs).numpy().reshape(-1, 2)
    assert abs(draws[:, 0].mean() - 0.1) < 5 * math.sqrt(0.09 / (N / 2))
    assert abs(draws[:, 1].mean() - 0.9) < 5 * math.sqrt(0.09 / (N / 2))
    ints = L.zeros(1000, dtype=L.int64).bernoulli_(0.5)
    assert ints.dtype == L.int64 and set(ints.tolist()) == {0, 1}
    t = L.zeros(N // 2, 2).bernoulli_(L.tensor([0.2, 0.7]))
    means = t.numpy().mean(axis=0)
    assert abs(means[0] - 0.2) < 0.01 and abs(means[1] - 0.7) < 0.01
    same = L.bernoulli(L.zeros(3, dtype=L.float64), 0.5)
    assert same.dtype == L.float64 and same.shape == (3,)


def test_randint_bounds_and_uniformity():
    x = L.randint(3, 13, (N,)).numpy()
    assert x.dtype == np.int64 and x.min() == 3 and x.max() == 12
    counts = np.bincount(x - 3, minlength=10)
    assert np.all(np.abs(counts - N / 10) < 5 * math.sqrt(N / 10 * 0.9))
    assert set(L.randint(2, (1000,)).tolist()) == {0, 1}
    assert L.randint(-3, -2, (5,)).tolist() == [-3] * 5
    full = L.randint(-(2**63), 2**63 - 1, (1000,)).numpy()
    assert full.min() < -(2**60) and full.max() > 2**60
    near = L.randint(2**62, 2**62 + 3, (1000,)).numpy()  # bounds beyond 2^53 stay exact
    assert set(near.tolist()) == {2**62, 2**62 + 1, 2**62 + 2}
    i32 = L.randint(-(2**31), 2**31, (1000,), dtype=L.int32)
    assert i32.dtype == L.int32
    f = L.randint(0, 5, (1000,), dtype=L.float32)
    assert f.dtype == L.float32 and set(f.tolist()) == {0.0, 1.0, 2.0, 3.0, 4.0}
    assert set(L.randint(0, 2, (100,), dtype=L.bool).tolist()) == {False, True}
    assert L.randint(low=1, high=4, size=(50,)).min().item() >= 1 and L.randint(4, size=(3,)).shape == (3,)
    assert L.randint(7, 9, size=(50,)).min().item() == 7 and L.randint(high=2, size=[4]).shape == (4,)
    with pytest.raises(TypeError, match="randint\\(\\) takes at most 2 positional arguments"):
        L.randint(1, 5, (2,), size=(2,))
    with pytest.raises(TypeError, match="randint\\(\\) got multiple values for argument 'high'"):
        L.randint(1, (2,), high=3)


def test_random_fills_non_contiguous_targets():
    base = L.zeros(4, 6)
    view = base[:, ::2]
    view.uniform_(1.0, 2.0)
    values = base.numpy()
    assert np.all(values[:, 1::2] == 0) and np.all((values[:, ::2] >= 1) & (values[:, ::2] < 2))
    assert L.rand(0, 3).shape == (0, 3) and L.randn(()).shape == ()


def test_normal_with_tensors():
    mean = L.tensor([[0.0], [100.0]])
    out = L.normal(mean, L.full((3,), 0.001))
    assert out.shape == (2, 3) and out.dtype == L.float32
    assert np.allclose(out.numpy(), [[0.0] * 3, [100.0] * 3], atol=0.01)
    assert L.normal(L.zeros(4, dtype=L.float64), 1.0).dtype == L.float64
    assert L.normal(5.0, L.zeros(3)).tolist() == [5.0, 5.0, 5.0]
    assert L.normal(L.ones(2)).shape == (2,)
    x = L.normal(L.zeros(N // 4), 2.0).numpy()
    _check_moments(x, 0.0, 2.0, "normal(tensor, float)")
    m = L.zeros(3, requires_grad=True)
    y = L.normal(m, 1.0)
    assert y.grad_fn is not None
    y.sum().backward()
    assert m.grad.tolist() == [0.0, 0.0, 0.0]  # PyTorch defines this gradient as zero
    with pytest.raises(RuntimeError, match="normal: expects all elements of std >= 0.0"):
        L.normal(L.zeros(2), -L.ones(2))
    with pytest.raises(RuntimeError, match="normal: shapes"):
        L.normal(L.zeros(2), L.ones(3))
    with pytest.raises(NotImplementedError, match="normal"):
        L.normal(L.zeros(2, dtype=L.int64), 1.0)


# ---- errors ----------------------------------------------------------------------------------

def test_random_errors():
    for make, name in ((lambda: L.rand(2, dtype=L.int64), "rand"), (lambda: L.randn(2, dtype=L.bool), "randn"),
                       (lambda: L.zeros(2, dtype=L.int32).uniform_(), "uniform_"),
                       (lambda: L.zeros(2, dtype=L.int64).normal_(), "normal_"),
                       (lambda: L.randn_like(L.zeros(2, dtype=L.int64)), "randn"),
                       (lambda: L.bernoulli(L.ones(2, dtype=L.int64)), "bernoulli")):
        with pytest.raises(NotImplementedError, match=f"{name}: not implemented for"):
            make()
    with pytest.raises(RuntimeError, match="randint: random_ expects 'from' to be less than 'to'"):
        L.randint(3, 3, (2,))
    with pytest.raises(RuntimeError, match="randint: range .* out of bounds for int32"):
        L.randint(0, 2**40, (2,), dtype=L.int32)
    with pytest.raises(RuntimeError, match="randint: range .* out of bounds for bool"):
        L.randint(0, 3, (2,), dtype=L.bool)
    with pytest.raises(RuntimeError, match="randint: range .* out of bounds for float32"):
        L.randint(0, 2**30, (2,), dtype=L.float32)
    with pytest.raises(TypeError, match="randint"):
        L.randint(0, 2.5, (2,))
    with pytest.raises(TypeError, match="randint"):
        L.randint(5)
    with pytest.raises(RuntimeError, match="uniform_: expects to return a \\[from, to\\) range"):
        L.zeros(2).uniform_(1.0, 0.0)
    with pytest.raises(RuntimeError, match="uniform_: the range .* must be finite"):
        L.zeros(2).uniform_(0.0, float("inf"))
    with pytest.raises(RuntimeError, match="normal_: expects std >= 0.0"):
        L.zeros(2).normal_(0.0, -1.0)
    for p in (-0.1, 1.5, float("nan")):
        with pytest.raises(RuntimeError, match="bernoulli_: expects p to be in \\[0, 1\\]"):
            L.zeros(2).bernoulli_(p)
    with pytest.raises(RuntimeError, match="bernoulli: all probabilities must be in \\[0, 1\\]"):
        L.bernoulli(L.tensor([0.5, 1.5]))
    with pytest.raises(RuntimeError, match="bernoulli_: probabilities of shape"):
        L.zeros(2, 3).bernoulli_(L.full((2,), 0.5))
    with pytest.raises(RuntimeError, match="uniform_"):
        L.ones(2, requires_grad=True).uniform_()  # in-place on a leaf that requires grad
    with pytest.raises(RuntimeError, match="normal_"):
        L.zeros(1).expand(3).normal_()  # overlapping memory
    with pytest.raises(TypeError, match="normal"):
        L.normal(0.0, 1.0)
