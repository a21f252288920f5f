"""The index-op family beyond what the generic suites drive: each op against a numpy reference on
hand-picked cases (dims, 0-d and empty inputs, non-contiguous operands, int32 indices),
gradients in float64, the error cases listed in op_db/index.py, sort/topk ordering rules,
bitwise determinism across thread counts, one_hot and randperm."""

import numpy as np
import pytest

import lamina
import lamina.nn.functional as F
from lamina.autograd import gradcheck, gradgradcheck
from op_db import index as index_db

RNG = np.random.default_rng(0)


def T(a, **kw):
    return lamina.tensor(a, **kw)


def f64(*shape, seed=0):
    return T(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


def strided(a):
    """The values of `a` as a non-contiguous tensor (every other element of a wider buffer)."""
    wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    wide[..., ::2] = a
    return T(wide)[..., ::2]


ERROR_CASES = [(spec.name, i, case) for spec in index_db.SPECS for i, case in enumerate(spec.errors)]


@pytest.mark.parametrize("case", ERROR_CASES, ids=lambda c: f"{c[0]}-{c[1]}")
def test_errors(case):
    _, _, (fn, exc, regex) = case
    with pytest.raises(exc, match=regex):
        fn()


# ---- gather / scatter ----

def np_scatter(out, dim, index, src, add):
    """Reference: positions of `index` in row-major order write (or add) src into out."""
    out = out.copy()
    for pos in np.ndindex(*index.shape):
        target = list(pos)
        target[dim] = index[pos]
        if add:
            out[tuple(target)] += src[pos]
        else:
            out[tuple(target)] = src[pos]
    return out


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_gather_matches_numpy(dim, isa):
    a = RNG.standard_normal((4, 5, 3)).astype(np.float32)
    shape = [3, 4, 2]
    shape[dim] = 6  # longer than x along dim, shorter elsewhere
    idx = RNG.integers(0, a.shape[dim], size=shape)
    expected = np.empty(shape, np.float32)
    for pos in np.ndindex(*shape):
        src = list(pos)
        src[dim] = idx[pos]
        expected[pos] = a[tuple(src)]
    for x in (T(a), strided(a)):
        for index in (T(idx), T(idx.astype(np.int32)), strided(idx)):
            np.testing.assert_array_equal(lamina.gather(x, dim, index).numpy(), expected)


def test_gather_zero_dim_and_empty():
    assert lamina.gather(T(5.0), 0, T(0)).item() == 5.0
    np.testing.assert_array_equal(lamina.gather(T(5.0), 0, T([0, 0])).numpy(), [5.0, 5.0])
    assert lamina.gather(T([5.0, 6.0]), 0, T(1)).item() == 6.0
    assert tuple(lamina.gather(T(np.ones((2, 3))), 1, lamina.zeros(2, 0, dtype=lamina.int64)).shape) == (2, 0)


@pytest.mark.parametrize("add", [False, True], ids=["scatter", "scatter_add"])
@pytest.mark.parametrize("dim", [0, -1])
def test_scatter_matches_reference(add, dim, isa):
    base = RNG.standard_normal((4, 5)).astype(np.float32)
    src = RNG.standard_normal((5, 6)).astype(np.float32)
    shape = (3, 4) if dim == 0 else (4, 3)  # smaller than src, and than base apart from dim
    idx = RNG.integers(0, base.shape[dim], size=shape)
    expected = np_scatter(base, dim % 2, idx, src, add)
    for s in (T(src), strided(src)):
        out = lamina.scatter_add(T(base), dim, T(idx), s) if add else lamina.scatter(T(base), dim, T(idx), s)
        np.testing.assert_array_equal(out.numpy(), expected)
        inplace = T(base)
        (inplace.scatter_add_ if add else inplace.scatter_)(dim, T(idx.astype(np.int32)), s)
        np.testing.assert_array_equal(inplace.numpy(), expected)
        reduced = T(base).scatter(dim, T(idx), s, reduce="add" if add else None)
        np.testing.assert_array_equal(reduced.numpy(), expected)


def test_scatter_value_and_dtypes():
    idx = T([[0, 2], [1, 1]])
    out = lamina.zeros(2, 3).scatter(1, idx, 2.5)
    np.testing.assert_array_equal(out.numpy(), [[2.5, 0, 2.5], [0, 2.5, 0]])
    out = lamina.zeros(2, 3, dtype=lamina.int64).scatter(1, idx, value=2.7)
    np.testing.assert_array_equal(out.numpy(), [[2, 0, 2], [0, 2, 0]])
    x = lamina.zeros(2, 3)
    assert x.scatter_(1, idx, 1.0) is x
    np.testing.assert_array_equal(x.numpy(), [[1, 0, 1], [0, 1, 0]])
    out = lamina.zeros(2, 3).scatter(1, idx, 1.5, reduce="add")
    np.testing.assert_array_equal(out.numpy(), [[1.5, 0, 1.5], [0, 3.0, 0]])
    b = lamina.zeros(3, dtype=lamina.bool).scatter_add(0, T([0, 0, 2]), T([True, False, True]))
    np.testing.assert_array_equal(b.numpy(), [True, False, True])
    assert lamina.zeros(()).scatter(0, T(0), T(5.0)).item() == 5.0


def test_scatter_does_not_modify_input_and_bumps_version():
    x = T([1.0, 2.0, 3.0])
    lamina.scatter(x, 0, T([0]), T([9.0]))
    np.testing.assert_array_equal(x.numpy(), [1.0, 2.0, 3.0])
    v = x._version
    x.scatter_add_(0, T([0]), T([1.0]))
    assert x._version > v


# ---- index_select / index_add ----

@pytest.mark.parametrize("dim", [0, 1, -1])
def test_index_select_matches_numpy(dim, isa):
    a = RNG.standard_normal((4, 5, 6)).astype(np.float32)
    idx = RNG.integers(0, a.shape[dim], size=7)
    expected = np.take(a, idx, axis=dim)
    for x in (T(a), strided(a)):
        for index in (T(idx), T(idx.astype(np.int32)), strided(idx)):
            np.testing.assert_array_equal(lamina.index_select(x, dim, index).numpy(), expected)


def test_index_select_edge_cases():
    a = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(T(a).index_select(1, T(2)).numpy(), a[:, [2]])  # 0-d index keeps the dim
    assert tuple(T(a).index_select(0, T(np.zeros(0, np.int64))).shape) == (0, 3)
    assert T(3.0).index_select(0, T([0])).item() == 3.0
    assert T(3.0).index_select(0, T(0)).shape == ()


@pytest.mark.parametrize("dim", [0, -1])
def test_index_add_matches_numpy(dim, isa):
    base = RNG.standard_normal((4, 5)).astype(np.float32)
    n = 9
    idx = RNG.integers(0, base.shape[dim], size=n)
    src_shape = (n, 5) if dim == 0 else (4, n)
    src = RNG.standard_normal(src_shape).astype(np.float32)
    expected = base.copy()
    if dim == 0:
        np.add.at(expected, idx, src * np.float32(2.5))
    else:
        np.add.at(expected.T, idx, (src * np.float32(2.5)).T)
    for s in (T(src), strided(src)):
        out = T(base).index_add(dim, T(idx), s, alpha=2.5)
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6, atol=1e-6)
        inplace = T(base)
        assert inplace.index_add_(dim, T(idx.astype(np.int32)), s, alpha=2.5) is inplace
        np.testing.assert_allclose(inplace.numpy(), expected, rtol=1e-6, atol=1e-6)


def test_index_add_int_and_zero_dim():
    out = lamina.zeros(3, dtype=lamina.int64).index_add(0, T([0, 0]), T([1, 2]), alpha=3)
    np.testing.assert_array_equal(out.numpy(), [9, 0, 0])
    assert lamina.zeros(()).index_add(0, T([0]), T(5.0)).item() == 5.0
    np.testing.assert_array_equal(lamina.zeros(3).index_add(0, T(1), T([5.0])).numpy(), [0, 5, 0])


# ---- index_put ----

def test_index_put_matches_numpy():
    a = RNG.standard_normal((4, 5)).astype(np.float32)
    rows, cols = np.array([0, 3, 0]), np.array([1, 4, 1])
    vals = np.array([1.0, 2.0, 3.0], np.float32)
    expected = a.copy()
    expected[rows, cols] = vals  # numpy: the last write wins
    out = lamina.index_put(T(a), (T(rows), T(cols)), T(vals))
    np.testing.assert_array_equal(out.numpy(), expected)
    expected = a.copy()
    np.add.at(expected, (rows, cols), vals)
    x = T(a)
    assert x.index_put_([T(rows), T(cols)], T(vals), accumulate=True) is x
    np.testing.assert_array_equal(x.numpy(), expected)
    mask = a > 0
    out = T(a).index_put((None, T([0, 2])), 7.0)  # None skips a dim; a number broadcasts
    expected = a.copy()
    expected[:, [0, 2]] = 7.0
    np.testing.assert_array_equal(out.numpy(), expected)
    out = T(a).index_put((T(mask),), T(0.0))
    np.testing.assert_array_equal(out.numpy(), np.where(mask, 0.0, a))


# ---- masks and nonzero ----

def test_masked_fill_matches_numpy(isa):
    a = RNG.standard_normal((3, 4)).astype(np.float32)
    mask = RNG.random((3, 4)) < 0.5
    expected = np.where(mask, np.float32(-1.5), a)
    np.testing.assert_array_equal(T(a).masked_fill(T(mask), -1.5).numpy(), expected)
    np.testing.assert_array_equal(strided(a).masked_fill(strided(mask), T(-1.5)).numpy(), expected)
    x = strided(a)
    assert x.masked_fill_(T(mask), -1.5) is x
    np.testing.assert_array_equal(x.numpy(), expected)
    # out-of-place broadcasts x against the mask; the value takes x's dtype
    out = T([1.0, 2.0, 3.0]).masked_fill(T([[True], [False]]), T(9.0, dtype=lamina.float64))
    np.testing.assert_array_equal(out.numpy(), [[9, 9, 9], [1, 2, 3]])
    assert out.dtype == lamina.float32
    ints = lamina.zeros(3, dtype=lamina.int64).masked_fill(T([True, False, True]), 2.7)
    np.testing.assert_array_equal(ints.numpy(), [2, 0, 2])


def test_masked_fill_value_aliasing_input():
    x = T([1.0, 2.0, 3.0])
    x.masked_fill_(T([True, True, True]), x[2])  # the value is an element of x
    np.testing.assert_array_equal(x.numpy(), [3.0, 3.0, 3.0])
    b = T([True, False, True])
    b.masked_fill_(b, False)
    np.testing.assert_array_equal(b.numpy(), [False, False, False])


def test_masked_select_broadcasts():
    x = T([0.0, 1.0, 2.0])
    np.testing.assert_array_equal(x.masked_select(T([[True], [False]])).numpy(), [0, 1, 2])
    np.testing.assert_array_equal(lamina.masked_select(T(2.0), T(True)).numpy(), [2.0])


def test_nonzero_matches_numpy(isa):
    a = RNG.standard_normal((50, 41, 20)) * (RNG.random((50, 41, 20)) < 0.3)
    a[0, 0, 0] = np.nan  # NaN is nonzero
    x = T(np.ascontiguousarray(a.transpose(2, 0, 1))).permute(1, 2, 0)
    np.testing.assert_array_equal(lamina.nonzero(x).numpy(), np.argwhere(a))
    for got, want in zip(x.nonzero(as_tuple=True), np.nonzero(a)):
        np.testing.assert_array_equal(got.numpy(), want)
    assert tuple(lamina.nonzero(T(3.0)).shape) == (1, 0)
    assert tuple(lamina.nonzero(T(0.0)).shape) == (0, 0)
    (only,) = lamina.nonzero(T(3.0), as_tuple=True)
    np.testing.assert_array_equal(only.numpy(), [0])


# ---- sort / argsort / topk ----

def test_sort_is_stable_with_nan_last(isa):
    a = RNG.integers(0, 4, size=(3, 1000)).astype(np.float32)
    a[0, 5] = a[1, 7] = np.nan
    key = np.where(np.isnan(a), np.inf, a)  # NaN above every number: last ascending, first descending
    for descending in (False, True):
        order = np.argsort(-key if descending else key, axis=-1, kind="stable")
        res = T(a).sort(dim=-1, descending=descending, stable=True)
        np.testing.assert_array_equal(res.indices.numpy(), order)
        np.testing.assert_array_equal(res.values.numpy(), np.take_along_axis(a, order, -1))
        np.testing.assert_array_equal(T(a).argsort(-1, descending, True).numpy(), order)


def test_sort_dims_layouts_and_dtypes():
    a = RNG.integers(-5, 5, size=(4, 6, 3))
    for dim in (0, 1, -1):
        for x in (T(a), strided(a), T(a.astype(np.int32)), T(a > 0)):
            values, indices = lamina.sort(x, dim)
            ref = np.sort(x.numpy(), axis=dim, kind="stable")
            np.testing.assert_array_equal(values.numpy(), ref)
            np.testing.assert_array_equal(indices.numpy(), np.argsort(x.numpy(), axis=dim, kind="stable"))
            assert values.is_contiguous() and indices.dtype == lamina.int64
    s = T(3.0).sort()
    assert s.values.item() == 3.0 and s.indices.item() == 0
    assert tuple(lamina.sort(lamina.zeros(0, 3), 0).values.shape) == (0, 3)


def test_topk_order_ties_and_nan(isa):
    x = T([1.0, 2.0, 1.0, 2.0, 1.0])
    v, i = x.topk(3)
    np.testing.assert_array_equal(v.numpy(), [2, 2, 1])
    np.testing.assert_array_equal(i.numpy(), [1, 3, 0])  # ties: lower index first
    v, i = x.topk(2, largest=False, sorted=False)
    np.testing.assert_array_equal(i.numpy(), [0, 2])
    n = T([1.0, np.nan, 0.0, np.nan, -1.0])
    np.testing.assert_array_equal(n.topk(3).indices.numpy(), [1, 3, 0])  # NaN counts as largest
    np.testing.assert_array_equal(n.topk(3, largest=False).indices.numpy(), [4, 2, 0])
    assert tuple(x.topk(0).values.shape) == (0,)
    np.testing.assert_array_equal(x.topk(5).indices.numpy(), [1, 3, 0, 2, 4])
    assert T(3.0).topk(1).values.item() == 3.0


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_topk_matches_sort(dim):
    a = RNG.standard_normal((30, 40, 5)).astype(np.float32)
    for x in (T(a), strided(a)):
        for k in (1, 4, x.shape[dim]):
            for largest in (True, False):
                v, i = x.topk(k, dim=dim, largest=largest)
                sv, si = x.sort(dim=dim, descending=largest)
                np.testing.assert_array_equal(v.numpy(), sv.narrow(dim, 0, k).numpy())
                np.testing.assert_array_equal(i.numpy(), si.narrow(dim, 0, k).numpy())


# ---- one_hot / randperm ----

def test_one_hot():
    labels = np.array([[0, 2], [1, 2]])
    np.testing.assert_array_equal(F.one_hot(T(labels)).numpy(), np.eye(3, dtype=np.int64)[labels])
    np.testing.assert_array_equal(F.one_hot(T(labels), num_classes=5).numpy(), np.eye(5, dtype=np.int64)[labels])
    np.testing.assert_array_equal(F.one_hot(T(2)).numpy(), [0, 0, 1])
    assert tuple(F.one_hot(lamina.zeros(0, dtype=lamina.int64), 3).shape) == (0, 3)
    assert F.one_hot(T([1])).dtype == lamina.int64


def test_randperm_is_a_permutation():
    for n in (0, 1, 2, 1000):
        p = lamina.randperm(n)
        assert p.dtype == lamina.int64
        np.testing.assert_array_equal(np.sort(p.numpy()), np.arange(n))
    for dtype in (lamina.int32, lamina.float32, lamina.float64):
        p = lamina.randperm(50, dtype=dtype)
        assert p.dtype == dtype
        np.testing.assert_array_equal(np.sort(p.numpy()), np.arange(50))
    assert lamina.randperm(4, dtype=lamina.float64, requires_grad=True).requires_grad


def test_randperm_generator_and_spread():
    g = lamina.Generator().manual_seed(3)
    a = lamina.randperm(20, generator=g).numpy()
    b = lamina.randperm(20, generator=lamina.Generator().manual_seed(3)).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, lamina.randperm(20, generator=g).numpy())
    firsts = np.array([lamina.randperm(4)[0].item() for _ in range(400)])
    assert all(60 < np.sum(firsts == k) < 140 for k in range(4))  # roughly uniform


# ---- determinism ----

def _bytes_for_threads(threads, fn):
    results = []
    for n in (1, 2, 3):
        threads(n)
        results.append(fn().numpy().tobytes())
    return results


def test_accumulating_puts_are_bitwise_deterministic(threads, isa):
    rng = np.random.default_rng(7)
    vals = (rng.standard_normal((3000, 257)) * 10.0 ** rng.integers(-3, 4, size=(3000, 257))).astype(np.float32)
    idx0 = rng.integers(0, 40, size=3000)
    sidx = rng.integers(0, 40, size=(3000, 257))
    cases = {
        "scatter_add": lambda: lamina.zeros(40, 257).scatter_add(0, T(sidx), T(vals)),
        "index_add_dim0": lambda: lamina.zeros(40, 257).index_add(0, T(idx0), T(vals)),
        "index_add_dim1": lambda: lamina.zeros(257, 40).index_add(1, T(idx0), T(vals.T.copy())),
        "index_put_rows": lambda: lamina.zeros(40, 257).index_put((T(idx0),), T(vals), accumulate=True),
        "index_put_flat": lambda: lamina.zeros(40).index_put((T(sidx.ravel()),), T(vals.ravel()), accumulate=True),
    }
    # np.add.at adds in row-major order of the positions, which is the order lamina guarantees.
    refs = {"scatter_add": (sidx, None), "index_add_dim0": (idx0, None), "index_put_rows": (idx0, None)}
    for name, fn in cases.items():
        first, *others = _bytes_for_threads(threads, fn)
        assert all(o == first for o in others), name
        if name in refs:
            expected = np.zeros((40, 257), np.float32)
            if name == "scatter_add":
                np.add.at(expected, (sidx, np.arange(257)[None, :]), vals)
            else:
                np.add.at(expected, idx0, vals)
            assert np.frombuffer(first, np.float32).reshape(40, 257).tobytes() == expected.tobytes(), name


def test_sort_nonzero_randperm_thread_independent(threads):
    a = np.random.default_rng(8).integers(0, 50, size=(300, 500)).astype(np.float32)
    for fn in (lambda: T(a).sort(dim=0).indices, lambda: T(a).topk(7, dim=0).indices,
               lambda: lamina.nonzero(T(a > 25)), lambda: lamina.randperm(5000, generator=lamina.Generator())):
        first, *others = _bytes_for_threads(threads, fn)
        assert all(o == first for o in others)


# ---- gradients ----

GRAD_CASES = {
    "gather_dup": (lambda x: x.gather(0, T([[0, 1, 0], [0, 0, 1]])), [(2, 3)]),
    "scatter_self_src": (lambda x, s: x.scatter(1, T([[2, 0], [1, 1]]), s), [(2, 3), (2, 4)]),
    "scatter_value": (lambda x: x.scatter(0, T([[1, 0, 1]]), 3.0), [(2, 3)]),
    "scatter_add": (lambda x, s: x.scatter_add(0, T([[1, 1, 0], [1, 0, 0]]), s), [(2, 3), (3, 3)]),
    "index_select_dup": (lambda x: x.index_select(1, T([2, 2, 0])), [(2, 3)]),
    "index_add_alpha": (lambda x, s: x.index_add(0, T([1, 1, 0]), s, alpha=2.5), [(2, 3), (3, 3)]),
    "masked_fill_value": (lambda x, v: x.masked_fill(T([[True, False, True]]), v), [(2, 3), ()]),
    "masked_select": (lambda x: x.masked_select(T([False, True, True])), [(2, 3)]),
    "sort": (lambda x: x.sort(dim=0, descending=True).values, [(3, 2)]),
    "topk": (lambda x: x.topk(2, dim=-1).values, [(2, 4)]),
    "index_put": (lambda x, v: x.index_put((T([0, 1, 0]), T([2, 0, 2])), v), [(2, 3), (3,)]),
    "index_put_acc": (lambda x, v: x.index_put((T([0, 1, 0]),), v, accumulate=True), [(2, 3), (3,)]),
}


@pytest.mark.parametrize("name", list(GRAD_CASES))
def test_gradients(name):
    fn, shapes = GRAD_CASES[name]
    inputs = [f64(*s, seed=i) for i, s in enumerate(shapes)]
    assert gradcheck(fn, inputs)
    assert gradgradcheck(fn, inputs)


def test_repeated_writes_give_gradient_to_the_last_writer():
    src = f64(3)
    lamina.zeros(2, dtype=lamina.float64).scatter(0, T([1, 1, 0]), src).sum().backward()
    np.testing.assert_array_equal(src.grad.numpy(), [0.0, 1.0, 1.0])
    v = f64(3)
    lamina.zeros(2, dtype=lamina.float64).index_put((T([0, 0, 1]),), v).sum().backward()
    np.testing.assert_array_equal(v.grad.numpy(), [0.0, 1.0, 1.0])


def test_inplace_ops_on_non_leaf_record_history():
    x = f64(2, 3)
    s = f64(3, 3, seed=1)
    for op, name in ((lambda y: y.index_add_(0, T([1, 1, 0]), s), "IndexAddBackward0"),
                     (lambda y: y.scatter_add_(0, T([[1, 0, 0]]), s), "ScatterAddBackward0"),
                     (lambda y: y.scatter_(1, T([[2], [0]]), s), "ScatterBackward0"),
                     (lambda y: y.masked_fill_(T([True, False, True]), 0.0), "MaskedFillBackward0"),
                     (lambda y: y.index_put_((T([1]),), T(2.0, dtype=lamina.float64)), "IndexPutBackward0")):
        y = x * 1
        op(y)
        assert y.grad_fn.name() == name
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        x.index_add_(0, T([0]), f64(1, 3))


def test_grad_fn_names():
    x = f64(2, 3)
    assert x.gather(1, T([[0], [1]])).grad_fn.name() == "GatherBackward0"
    assert x.index_select(0, T([1])).grad_fn.name() == "IndexSelectBackward0"
    assert x.sort().values.grad_fn.name() == "SortBackward0"
    assert x.topk(1).values.grad_fn.name() == "TopkBackward0"
    assert x[[0]].grad_fn.name() == "IndexBackward0"
    assert x.sort().indices.grad_fn is None


# ---- against PyTorch ----

@pytest.mark.torch
def test_ops_match_torch():
    torch = pytest.importorskip("torch")
    a = RNG.integers(0, 4, size=(5, 7)).astype(np.float32)
    a[1, 2] = np.nan
    for kw in ({}, {"descending": True}):
        tv, ti = torch.sort(torch.tensor(a), dim=1, stable=True, **kw)
        lv, li = lamina.sort(T(a), 1, stable=True, **kw)
        np.testing.assert_array_equal(li.numpy(), ti.numpy())
        np.testing.assert_array_equal(lv.numpy(), tv.numpy())
    for largest in (True, False):
        tv, ti = torch.topk(torch.tensor(a), 3, dim=0, largest=largest)
        lv, li = lamina.topk(T(a), 3, dim=0, largest=largest)
        np.testing.assert_array_equal(lv.numpy(), tv.numpy())
    idx = RNG.integers(0, 5, size=(4, 7))
    np.testing.assert_array_equal(lamina.gather(T(a), 0, T(idx)).numpy(),
                                  torch.gather(torch.tensor(a), 0, torch.tensor(idx)).numpy())
    np.testing.assert_array_equal(
        lamina.zeros(5, 7).scatter_add(0, T(idx), T(a)).numpy(),
        torch.zeros(5, 7).scatter_add(0, torch.tensor(idx), torch.tensor(a)).numpy())
    np.testing.assert_array_equal(lamina.nonzero(T(a)).numpy(), torch.nonzero(torch.tensor(a)).numpy())
    labels = RNG.integers(0, 6, size=(3, 4))
    np.testing.assert_array_equal(F.one_hot(T(labels)).numpy(),
                                  torch.nn.functional.one_hot(torch.tensor(labels)).numpy())
