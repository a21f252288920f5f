"""Reductions beyond the op table: max/min return types, ties and NaN, argmax, var/std's correction
forms, logsumexp with infinities, norm orders, cumsum promotion, all/any, empty inputs, 0-d
inputs with a dim, accuracy of long sums, and gradients at ties and zeros."""

import math

import numpy as np
import pytest

import lamina

nan, inf = float("nan"), float("inf")


def t(data, dtype=None):
    return lamina.tensor(np.asarray(data), dtype=dtype)


# ---- max / min / argmax / argmin ----

def test_max_without_dim_is_0d():
    x = t([[1.0, 5.0], [3.0, -2.0]])
    assert x.max().shape == () and x.max().item() == 5.0
    assert lamina.min(x).item() == -2.0


def test_max_with_dim_returns_values_and_indices():
    x = t([[1.0, 5.0, 5.0], [7.0, -2.0, 7.0]])
    out = x.max(1)
    assert out.values.tolist() == [5.0, 7.0] and out.indices.tolist() == [1, 0]  # ties: first index
    values, indices = lamina.max(x, dim=1, keepdim=True)
    assert tuple(values.shape) == (2, 1) and indices.tolist() == [[1], [0]]
    assert indices.dtype == lamina.int64
    assert out[0] is not None and out[1].tolist() == [1, 0]
    mn = x.min(dim=0)
    assert mn.values.tolist() == [1.0, -2.0, 5.0] and mn.indices.tolist() == [0, 1, 0]


def test_max_with_tensor_is_maximum():
    a, b = t([1.0, 5.0]), t([3.0, 2.0])
    assert lamina.max(a, b).tolist() == [3.0, 5.0] and a.min(b).tolist() == [1.0, 2.0]


@pytest.mark.parametrize("fn", ["max", "min", "amax", "amin"])
def test_nan_propagates(fn, isa):
    x = t([[1.0, nan, 3.0], [4.0, 5.0, 6.0], [nan, nan, 0.0]] + [[float(i)] * 3 for i in range(40)])
    f = getattr(lamina, fn)
    assert math.isnan(f(x).item())
    r = f(x, 1) if fn in ("amax", "amin") else f(x, 1).values
    assert math.isnan(r[0].item()) and not math.isnan(r[1].item()) and math.isnan(r[2].item())
    if fn in ("max", "min"):
        assert f(x, 1).indices[:3].tolist() == [1, 2 if fn == "max" else 0, 0]  # the first NaN wins
    big = lamina.zeros(100003)
    big[77777] = nan
    assert math.isnan(f(big).item())


def test_argmax_nan_and_ties():
    x = t([[2.0, 2.0, 1.0], [1.0, nan, nan], [-inf, -inf, -inf]])
    assert x.argmax(1).tolist() == [0, 1, 0] and x.argmin(1).tolist() == [2, 1, 0]
    assert x.argmax().item() == 4  # flat index of the first NaN
    assert t([3, 1, 3, 1]).argmax().item() == 0 and t([3, 1, 3, 1]).argmin().item() == 1


def test_argmax_dims_and_keepdim():
    a = np.random.default_rng(0).integers(0, 4, (3, 4, 5))
    x = t(a)
    assert x.argmax().item() == np.argmax(a)
    np.testing.assert_array_equal(x.argmax(1).numpy(), np.argmax(a, 1))
    np.testing.assert_array_equal(x.argmin(-1, keepdim=True).numpy(), np.argmin(a, -1, keepdims=True))
    assert tuple(x.argmax(keepdim=True).shape) == (1, 1, 1)
    assert lamina.argmax(x, dim=None).shape == ()


def test_max_min_of_bool():
    x = t([[True, False], [False, False]])
    assert x.max().item() is True and x.min().item() is False
    v, i = x.max(1)
    assert v.dtype == lamina.bool and v.tolist() == [True, False] and i.tolist() == [0, 0]
    assert x.amax(0).tolist() == [True, False] and x.amin(0).tolist() == [False, False]


def test_0d_inputs_accept_dim_0_and_minus_1():
    x = t(2.5)
    for fn in (lambda: x.sum(0), lambda: x.sum(-1, keepdim=True), lambda: x.mean(0), lambda: x.prod(0),
               lambda: x.amax(-1), lambda: x.max(0).values, lambda: x.logsumexp(0), lambda: x.norm(2, 0),
               lambda: x.cumsum(0), lambda: x.var(0, correction=0) + 2.5):
        out = fn()
        assert out.shape == () and out.item() == 2.5, fn
    assert x.argmax(0).item() == 0 and x.max(0).indices.item() == 0 and lamina.all(x, -1).item() is True
    g = t(2.0, lamina.float64).requires_grad_()
    (g.sum(0) * 3 + g.amax(-1) + g.max(0).values).backward()
    assert g.grad.item() == 5.0


# ---- sum / mean / prod ----

def test_sum_dtypes():
    assert t([1, 2], lamina.int32).sum().dtype == lamina.int64
    assert t([True, True, False]).sum().item() == 2 and t([True]).sum().dtype == lamina.int64
    assert t([1, 2], lamina.int32).sum(dtype=lamina.int32).dtype == lamina.int32
    assert t([1.5, 2.25]).sum(dtype=lamina.float64).dtype == lamina.float64
    assert t([1, 2], lamina.int32).prod().dtype == lamina.int64
    assert t([2**31 - 1, 2], lamina.int32).sum().item() == 2**31 + 1  # accumulated in int64
    with pytest.raises(RuntimeError, match="mean"):
        t([1, 2]).mean()
    assert t([1, 2]).mean(dtype=lamina.float64).item() == 1.5


def test_reductions_of_empty_tensors():
    e = lamina.zeros(0, 3)
    assert e.sum().item() == 0 and e.prod().item() == 1 and math.isnan(e.mean().item())
    assert e.sum(0).tolist() == [0, 0, 0] and e.sum(1).shape == (0,)
    assert lamina.all(e).item() is True and lamina.any(e).item() is False
    assert e.norm().item() == 0 and e.logsumexp((0, 1)).item() == -inf
    assert e.amax(1).shape == (0,) and e.max(1).values.shape == (0,)
    for fn in (lambda: e.amax(), lambda: e.max(), lambda: e.amin(0), lambda: e.argmax(), lambda: e.max(0)):
        with pytest.raises((RuntimeError, IndexError)):
            fn()


@pytest.mark.parametrize("n", [1000, 100003, 1 << 20])
def test_long_float32_sums_are_accurate(n, isa):
    a = np.random.default_rng(n).uniform(0, 1, n).astype(np.float32)
    exact = math.fsum(a.astype(np.float64))
    assert abs(t(a).sum().item() - exact) <= 2e-6 * exact  # blocked, vectorized accumulation
    assert abs(t(a).mean().item() - exact / n) <= 2e-6 * exact / n


def test_reduction_over_permuted_dims_copies_correctly():
    a = np.random.default_rng(1).standard_normal((4, 5, 6))
    x = t(a).permute(2, 0, 1)
    np.testing.assert_allclose(x.sum((0, 2)).numpy(), a.transpose(2, 0, 1).sum((0, 2)))
    np.testing.assert_allclose(x.amax((1,)).numpy(), a.transpose(2, 0, 1).max(1))
    np.testing.assert_allclose(x[::2].prod(-1).numpy(), a.transpose(2, 0, 1)[::2].prod(-1))


# ---- var / std ----

def test_var_std_correction_forms():
    a = np.random.default_rng(2).standard_normal((3, 7))
    x = t(a)
    np.testing.assert_allclose(x.var().item(), a.var(ddof=1))
    np.testing.assert_allclose(x.var(1).numpy(), a.var(1, ddof=1))
    np.testing.assert_allclose(x.var(1, unbiased=False).numpy(), a.var(1))
    np.testing.assert_allclose(x.var(False).item(), a.var())  # var(unbiased) positional form
    np.testing.assert_allclose(x.std(dim=(0, 1), correction=0).item(), a.std())
    np.testing.assert_allclose(x.std(0, correction=2, keepdim=True).numpy(), a.std(0, ddof=2, keepdims=True))
    np.testing.assert_allclose(lamina.var(x, 1, correction=0.5).numpy(), a.var(1, ddof=0.5))
    assert math.isinf(t([1.0, 2.0]).var(correction=2).item())  # N - correction = 0
    assert math.isnan(t([1.0]).var().item())


def test_var_std_of_float32_values_near_the_limit_stay_finite():
    # The sum of squares is accumulated in float64 (as PyTorch): in float32 it overflowed to inf.
    a = np.array([3e38, -3e38, 1e38, 0.0], dtype=np.float32)
    x = lamina.tensor(a)
    assert x.var().dtype == lamina.float32
    np.testing.assert_allclose(x.std(correction=0).item(), a.astype(np.float64).std(), rtol=1e-6)
    assert x.var(correction=0).item() == math.inf  # 4.7e76 is past float32's range; its root is not
    b = np.tile(np.array([1e19, -1e19], dtype=np.float32), 50)  # a float32 sum of squares overflows
    np.testing.assert_allclose(lamina.tensor(b).var(correction=0).item(), b.astype(np.float64).var(), rtol=1e-6)


def test_var_gradient_when_n_is_at_most_the_correction():
    # PyTorch's conventions where N - correction <= 0. Over given dims: the factor 2 / (N - correction)
    # as is (2 / (1 - 2) = -2 times a zero deviation is -0, N = correction gives inf * 0 = NaN).
    x = t([5.0], lamina.float64).requires_grad_()
    (g,) = lamina.autograd.grad(x.var(0, correction=2), x)
    assert g.tolist() == [0.0]
    (g,) = lamina.autograd.grad(x.var(0, correction=1), x)
    assert math.isnan(g.item())
    y = t([1.0, 3.0], lamina.float64).requires_grad_()
    (g,) = lamina.autograd.grad(y.var(0, correction=3), y)
    assert g.tolist() == [2.0, -2.0]  # 2 / (2 - 3) * (y - 2)
    # Over all dims (and for 0-d input): NaN where x equals the mean, inf elsewhere, times g.
    (g,) = lamina.autograd.grad(x.var(correction=2), x)
    assert math.isnan(g.item())
    (g,) = lamina.autograd.grad(y.var(correction=3) * 2, y)
    assert g.tolist() == [math.inf, math.inf]
    z = t(0.5, lamina.float64).requires_grad_()
    (g,) = lamina.autograd.grad(z.var(0, correction=1), z)
    assert math.isnan(g.item())


def test_var_gradient_and_second_derivative_match_finite_differences():
    a = np.random.default_rng(3).standard_normal((3, 4))
    for dims, keepdim, correction in [((1,), False, 1), ((0, 1), True, 0), ([], False, 2), ((-1,), True, 0.5)]:
        x = t(a, lamina.float64).requires_grad_()
        assert lamina.autograd.gradcheck(lambda v: v.var(dims, keepdim=keepdim, correction=correction), (x,))
        assert lamina.autograd.gradgradcheck(lambda v: v.std(dims, keepdim=keepdim, correction=correction), (x,))


def test_std_gradient_of_constant_rows_is_zero():
    x = lamina.ones(2, 3, dtype=lamina.float64, requires_grad=True)
    x.std(1).sum().backward()
    assert x.grad.tolist() == [[0.0] * 3] * 2


# ---- logsumexp ----

def test_logsumexp_with_infinities():
    x = t([[-inf, -inf], [0.0, -inf], [1000.0, 1000.0], [inf, 1.0], [-1e30, -1e30]])
    r = lamina.logsumexp(x, 1)
    assert r[0].item() == -inf and r[1].item() == 0.0 and r[3].item() == inf
    assert r[2].item() == pytest.approx(1000 + math.log(2))  # no overflow
    assert r[4].item() == pytest.approx(-1e30)
    g = t([[-inf, -inf, -inf], [0.0, 0.0, -inf]], lamina.float64).requires_grad_()
    lamina.logsumexp(g, 1).sum().backward()
    assert g.grad[1].tolist() == [0.5, 0.5, 0.0]
    assert not np.isnan(g.grad[1].numpy()).any()


def test_logsumexp_of_integers_is_float():
    assert lamina.logsumexp(t([0, 0], lamina.int64), 0).item() == pytest.approx(math.log(2))
    assert lamina.logsumexp(t([0, 0], lamina.int64), 0).dtype == lamina.float32


# ---- norm ----

@pytest.mark.parametrize("p,expected", [(2, 5.0), (None, 5.0), ("fro", 5.0), (1, 7.0), (inf, 4.0), (-inf, 0.0),
                                        (0, 2.0), (3, (27 + 64) ** (1 / 3)), (0.5, (3 ** 0.5 + 2) ** 2)])
def test_norm_orders(p, expected):
    x = t([[3.0, 0.0], [0.0, -4.0]])
    out = x.norm() if p is None else x.norm(p)
    assert out.item() == pytest.approx(expected)


def test_norm_dims_and_keepdim():
    a = np.random.default_rng(3).standard_normal((3, 4, 5))
    x = t(a)
    np.testing.assert_allclose(x.norm(dim=1).numpy(), np.sqrt((a ** 2).sum(1)), rtol=1e-6)
    np.testing.assert_allclose(x.norm(1, (0, 2), True).numpy(), np.abs(a).sum((0, 2), keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(lamina.norm(x, float("inf"), -1).numpy(), np.abs(a).max(-1), rtol=1e-6)


def test_norm_gradient_at_zero_is_zero():
    for p in (2, 3, 1.5):
        x = lamina.zeros(3, dtype=lamina.float64, requires_grad=True)
        x.norm(p).backward()
        assert x.grad.tolist() == [0.0, 0.0, 0.0], p


# ---- cumsum ----

def test_cumsum_gradient_is_the_reversed_running_sum():
    """Regression (found through the differential fuzzer): the backward was sum - cumsum + g, which
    cancels catastrophically and spreads one NaN over the whole row."""
    x = t([1.0, 2.0, 3.0], lamina.float64).requires_grad_()
    (g,) = lamina.autograd.grad(x.cumsum(0), x, t([1e20, 1.0, 1.0], lamina.float64))
    assert g.tolist() == [1e20 + 2.0, 2.0, 1.0]
    (g,) = lamina.autograd.grad(x.cumsum(0), x, t([np.nan, 1.0, 1.0], lamina.float64))
    assert np.isnan(g[0].item()) and g.tolist()[1:] == [2.0, 1.0]
    y = t([[1.0, 2.0], [3.0, 4.0]], lamina.float64).requires_grad_()
    (g,) = lamina.autograd.grad(y.cumsum(0), y, t([[1.0, 10.0], [100.0, 1000.0]], lamina.float64))
    assert g.tolist() == [[101.0, 1010.0], [100.0, 1000.0]]


def test_cumsum_promotion_and_dims():
    assert t([1, 2, 3], lamina.int32).cumsum(0).dtype == lamina.int64
    assert t([True, True]).cumsum(0).tolist() == [1, 2]
    assert t([1, 2], lamina.int32).cumsum(0, dtype=lamina.float32).dtype == lamina.float32
    a = np.arange(24).reshape(2, 3, 4)
    for d in (0, 1, 2, -1, -3):
        np.testing.assert_array_equal(t(a).cumsum(d).numpy(), np.cumsum(a, d))
    np.testing.assert_array_equal(t(a).transpose(0, 2).cumsum(1).numpy(), np.cumsum(a.transpose(2, 1, 0), 1))
    assert t(np.zeros((0, 3))).cumsum(0).shape == (0, 3)


# ---- all / any ----

def test_all_any():
    x = t([[1.0, 0.0], [2.0, nan]])
    assert x.all().item() is False and x.any().item() is True
    assert x.all(1).tolist() == [False, True] and x.any(0, keepdim=True).tolist() == [[True, True]]
    assert lamina.all(t([3, -1])).item() is True and lamina.any(t([0, 0])).item() is False
    assert x.all(dim=(0, 1)).shape == ()
    assert x.all().dtype == lamina.bool


# ---- gradients at ties (values PyTorch gives) ----

def test_amax_gradient_is_shared_among_ties():
    x = t([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], lamina.float64).requires_grad_()
    x.amax(1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])


def test_max_dim_gradient_goes_to_the_selected_index():
    x = t([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], lamina.float64).requires_grad_()
    x.max(1).values.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 1, 0], [1, 0, 0]])
    # A NaN gradient reaches only the selected entry (the mask was a product: NaN * 0 everywhere;
    # found by the differential fuzzer).
    x.grad = None
    x.min(1).values.rsqrt().sum().backward()  # rsqrt(-1): NaN value, NaN gradient
    y = t([[-1.0, 2.0], [3.0, 4.0]], lamina.float64).requires_grad_()
    y.min(0).values.rsqrt().sum().backward()
    g = y.grad.numpy()
    assert np.isnan(g[0, 0]) and g[1, 0] == 0 and g[1, 1] == 0 and np.isclose(g[0, 1], -0.5 * 2.0 ** -1.5)


def test_prod_gradient_with_zeros():
    x = t([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.0, 2.0, 4.0]], lamina.float64).requires_grad_()
    x.prod(1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 6, 0], [0, 0, 0], [8, 4, 2]])
    y = t([2.0, 0.0, 3.0], lamina.float64).requires_grad_()
    y.prod().backward()
    assert y.grad.tolist() == [0.0, 6.0, 0.0]


# ---- prod's double backward with zeros (regression: the zero entries' slope was lost) -------------

def prod_hessian_vector(values, weights, dim=None):
    """d/dx sum(w * d prod / dx), by autograd and by the exact formula sum_j w_j prod_{k != i, j} x_k."""
    x = lamina.tensor(values, dtype=lamina.float64, requires_grad=True)
    w = lamina.tensor(weights, dtype=lamina.float64)
    y = x.prod() if dim is None else x.prod(dim).sum()
    (g,) = lamina.autograd.grad(y, x, create_graph=True)
    (h,) = lamina.autograd.grad((g * w).sum(), x)
    return h.numpy()


def exact_prod_hv(row, w):
    n = len(row)
    return np.array([sum(w[j] * np.prod([row[k] for k in range(n) if k not in (i, j)]) for j in range(n) if j != i)
                     for i in range(n)])


@pytest.mark.parametrize("values", [[0.0, 2.0, 3.0], [0.0, 0.0, 3.0], [0.0, 2.0, 0.0, 5.0], [0.0, 0.0, 0.0, 2.0],
                                    [1.5, -2.0, 3.0], [0.0], [4.0, 0.0]])
def test_prod_double_backward_with_zeros(values):
    w = np.arange(1.0, len(values) + 1)
    np.testing.assert_allclose(prod_hessian_vector(values, w), exact_prod_hv(values, w), atol=1e-12)


def test_prod_double_backward_along_a_dim():
    rows = np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 4.0], [1.0, 2.0, 3.0]])
    w = np.arange(1.0, 10.0).reshape(3, 3)
    expected = np.stack([exact_prod_hv(r, wr) for r, wr in zip(rows, w)])
    np.testing.assert_allclose(prod_hessian_vector(rows.tolist(), w.tolist(), dim=1), expected, atol=1e-12)


@pytest.mark.parametrize("values", [[0.0], [-0.0], [3e38], [0.0, 0.0, 0.0], [0.0, 2.0], [float("nan")], []])
def test_sum_and_prod_with_bool_dtype_are_any_and_all(values):
    # regression: the bool kernel wrote nothing, so the result was whatever memory held
    x = lamina.tensor(values)
    for _ in range(3):
        assert bool(x.sum(dtype=lamina.bool)) == any(v != 0 for v in values)
        assert bool(x.prod(dtype=lamina.bool)) == all(v != 0 for v in values)
    m = lamina.tensor([[0, 1, 0], [0, 0, 0]], dtype=lamina.bool)
    assert m.sum(1, dtype=lamina.bool).tolist() == [True, False]


# ---- cumprod ----

def test_cumprod_gradient_with_zeros():
    # Rows with no zero, one zero and two zeros: the gradient before the first zero, at it, and 0
    # after it; finite differences agree (cumprod is a polynomial), second derivatives too.
    a = np.array([[2.0, 3.0, 0.5, -1.5], [2.0, 0.0, 3.0, 4.0], [0.0, 2.0, 0.0, 3.0], [1.5, -2.0, 3.0, 0.0]])
    x = t(a, lamina.float64).requires_grad_()
    g = np.arange(1.0, 17.0).reshape(4, 4)
    (grad,) = lamina.autograd.grad(x.cumprod(1), x, t(g, lamina.float64))
    expected = np.zeros_like(a)
    for r in range(4):
        for i in range(4):
            for j in range(i, 4):
                expected[r, i] += g[r, j] * np.prod(np.delete(a[r, :j + 1], i))
    np.testing.assert_allclose(grad.numpy(), expected)
    nonzero = t(a + (a == 0) * 0.7, lamina.float64).requires_grad_()
    for dim in (0, 1):
        for v in (x, nonzero):  # with zeros, create_graph takes the O(n^2) form
            assert lamina.autograd.gradcheck(lambda u: u.cumprod(dim), (v,))
            assert lamina.autograd.gradgradcheck(lambda u: u.cumprod(dim), (v,))
    s = t(3.0, lamina.float64).requires_grad_()
    assert lamina.autograd.grad(s.cumprod(0), s)[0].item() == 1.0
    assert lamina.tensor([2, 3, 4]).cumprod(0).dtype == lamina.int64


@pytest.mark.torch
def test_cumprod_matches_torch():
    torch = pytest.importorskip("torch")
    a = np.array([[2.0, 0.0, 3.0, 0.0], [1.0, -2.0, 0.5, 4.0]])
    g = np.array([[1.0, -1.0, 2.0, 0.5], [0.3, 2.0, -1.0, 1.0]])
    x, tx = t(a, lamina.float64).requires_grad_(), torch.tensor(a, requires_grad=True)
    np.testing.assert_allclose(lamina.autograd.grad(x.cumprod(1), x, t(g, lamina.float64))[0].numpy(),
                               torch.autograd.grad(tx.cumprod(1), tx, torch.tensor(g))[0].numpy())


def test_float32_running_sums_and_products_accumulate_in_float64():
    # As PyTorch: each output is rounded from a float64 running value, so a product that passes
    # float32's range comes back (-inf, then -5.28e10) and a sum that overflows returns (fuzzer case).
    x = lamina.tensor([-176.07, 3e38, 1e-30, 3e38, -60.5], dtype=lamina.float32)
    out = x.cumprod(0).tolist()
    assert out[1] == -math.inf and out[2] == pytest.approx(-176.07 * 3e38 * 1e-30, rel=1e-6) and out[3] == -math.inf
    assert lamina.tensor([3e38, 3e38, -3e38]).cumsum(0).tolist() == [pytest.approx(3e38), math.inf, pytest.approx(3e38)]


def test_cumprod_over_a_dim_of_one_passes_the_gradient_through():
    x = t([[2.0], [3.0]], lamina.float64).requires_grad_()
    (g,) = lamina.autograd.grad(x.cumprod(1), x, t([[5.0], [7.0]], lamina.float64), create_graph=True)
    assert g.tolist() == [[5.0], [7.0]] and not g.requires_grad  # no graph on x, as PyTorch


def test_var_of_equal_values_is_exactly_zero():
    # The corrected two-pass sum cancels the mean's rounding: three copies of 214.007822 gave a std of
    # 3.5e-14 and a gradient of -102.6 where PyTorch gives 0 (found by the CI fuzz budget).
    a = np.array([[214.007822] * 3, [-0.582633452] * 3, [31.3803312] * 3, [0.1] * 3])
    x = t(a, lamina.float64).requires_grad_()
    s = x.std(1)
    assert s.tolist() == [0.0] * 4 and x.var(1).tolist() == [0.0] * 4
    (g,) = lamina.autograd.grad(s.sum(), x)
    assert g.tolist() == [[0.0] * 3] * 4
    huge = t([1e300, -1e300, 5e299], lamina.float64)  # sums of squares overflow: inf, not inf - inf = NaN
    assert huge.var().item() == math.inf and huge.std().item() == math.inf
    b = np.random.default_rng(8).standard_normal((6, 7)) * 1e3 + 1e6  # a large mean: still accurate
    np.testing.assert_allclose(t(b, lamina.float64).var(1).numpy(), b.var(1, ddof=1), rtol=1e-9)


@pytest.mark.parametrize("fn", ["max", "min"])
def test_max_min_over_all_elements_give_exact_zeros_off_the_extremum(fn):
    # PyTorch's evenly_distribute_backward: a NaN gradient reaches only the extremal elements (the
    # fuzzer found max().asin() spreading NaN everywhere); amax/amin keep g * mask / count.
    x = lamina.tensor([[1.0, 3.0, 3.0], [0.5, -2.0, 0.0]], dtype=lamina.float64, requires_grad=True)
    out = getattr(x, fn)()
    assert out.grad_fn.name() == ("MaxBackward1" if fn == "max" else "MinBackward1")
    (out * math.nan).backward()
    hit = x.detach().numpy() == out.item()
    assert np.all(np.isnan(x.grad.numpy()[hit])) and np.all(x.grad.numpy()[~hit] == 0)
    x.grad = None
    getattr(x, fn)().backward()
    np.testing.assert_array_equal(x.grad.numpy(), hit / hit.sum())
    y = lamina.tensor([1.0, math.nan, 2.0, math.nan], requires_grad=True)  # a NaN result: the NaNs share it
    getattr(y, fn)().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [0.0, 0.5, 0.0, 0.5])
    z = lamina.tensor([1.0, 2.0], requires_grad=True)
    (z.amax() * math.nan).backward()
    assert np.all(np.isnan(z.grad.numpy()))
