"""Pooling (max, avg, adaptive; 1-d and 2-d) against naive numpy window loops written here, over
many parameter combinations and layouts; gradients by finite differences in float64; backward
bitwise identical for 1/2/3 threads; errors name the op and the shapes."""

import itertools
import math

import numpy as np
import pytest

import lamina
import lamina.nn.functional as F
from lamina.autograd import gradcheck, gradgradcheck


# ---- naive references ------------------------------------------------------------------------

def out_size(n, k, s, p, d, ceil_mode):
    num = n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)
    out = num // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def as_planes(x, nd):
    """(P, H, W) view of a numpy array with nd spatial dims (1-d: H = 1)."""
    spatial = x.shape[-nd:] if nd == 2 else (1,) + x.shape[-1:]
    return x.reshape((-1,) + spatial)


def ref_max_pool(x, nd, k, s, p, d, ceil_mode):
    """Values and indices (h * W + w) of max pooling; NaN wins (the last one), ties keep the first."""
    if nd == 1:
        k, s, p, d = (1,) + k, (1,) + s, (0,) + p, (1,) + d
    planes = as_planes(x, nd)
    P, H, W = planes.shape
    OH, OW = out_size(H, k[0], s[0], p[0], d[0], ceil_mode), out_size(W, k[1], s[1], p[1], d[1], ceil_mode)
    vals = np.zeros((P, OH, OW), x.dtype)
    idx = np.zeros((P, OH, OW), np.int64)
    for n, oh, ow in itertools.product(range(P), range(OH), range(OW)):
        best, at = -np.inf, None
        for i, j in itertools.product(range(k[0]), range(k[1])):
            h, w = oh * s[0] - p[0] + i * d[0], ow * s[1] - p[1] + j * d[1]
            if not (0 <= h < H and 0 <= w < W):
                continue
            v = planes[n, h, w]
            if at is None:
                at = h * W + w
            if v > best or np.isnan(v):
                best, at = v, h * W + w
        vals[n, oh, ow], idx[n, oh, ow] = best, at
    shape = x.shape[:-nd] + ((OH, OW) if nd == 2 else (OW,))
    return vals.reshape(shape), idx.reshape(shape)


def ref_avg_pool(x, nd, k, s, p, ceil_mode, count_include_pad, divisor=None):
    if nd == 1:
        k, s, p = (1,) + k, (1,) + s, (0,) + p
    planes = as_planes(x, nd).astype(np.float64)
    P, H, W = planes.shape
    OH, OW = out_size(H, k[0], s[0], p[0], 1, ceil_mode), out_size(W, k[1], s[1], p[1], 1, ceil_mode)
    out = np.zeros((P, OH, OW))
    for oh, ow in itertools.product(range(OH), range(OW)):
        h0, w0 = oh * s[0] - p[0], ow * s[1] - p[1]
        h1, w1 = min(h0 + k[0], H + p[0]), min(w0 + k[1], W + p[1])
        padded = (h1 - h0) * (w1 - w0)
        h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, H), min(w1, W)
        total = planes[:, h0:h1, w0:w1].sum(axis=(1, 2))
        div = divisor if divisor else (padded if count_include_pad else (h1 - h0) * (w1 - w0))
        out[:, oh, ow] = total / div
    return out.reshape(x.shape[:-nd] + ((OH, OW) if nd == 2 else (OW,))).astype(x.dtype)


def adaptive_windows(n, out):
    return [(o * n // out, -(-(o + 1) * n // out)) for o in range(out)]


def ref_adaptive(x, nd, size, kind):
    planes = as_planes(x, nd)
    P, H, W = planes.shape
    OH, OW = (size if nd == 2 else (1, size[0]))
    vals = np.zeros((P, OH, OW), x.dtype)
    idx = np.zeros((P, OH, OW), np.int64)
    for (oh, (h0, h1)), (ow, (w0, w1)) in itertools.product(enumerate(adaptive_windows(H, OH)),
                                                            enumerate(adaptive_windows(W, OW))):
        win = planes[:, h0:h1, w0:w1].reshape(P, (h1 - h0) * (w1 - w0))
        if kind == "avg":
            vals[:, oh, ow] = win.astype(np.float64).mean(axis=1)
        else:
            j = np.argmax(win, axis=1)
            vals[:, oh, ow] = win[np.arange(P), j]
            ww = w1 - w0
            idx[:, oh, ow] = (h0 + j // ww) * W + (w0 + j % ww)
    shape = x.shape[:-nd] + ((OH, OW) if nd == 2 else (OW,))
    return vals.reshape(shape), idx.reshape(shape)


def tensor(a, requires_grad=False, layout="contiguous"):
    """A lamina tensor holding `a`, optionally as a non-contiguous view with the same values."""
    if layout == "transposed":
        t = lamina.tensor(np.ascontiguousarray(np.swapaxes(a, -1, -2))).transpose(-1, -2)
    elif layout == "strided":
        big = np.zeros(a.shape[:-1] + (a.shape[-1] * 2,), a.dtype)
        big[..., ::2] = a
        t = lamina.tensor(big)[..., ::2]
    else:
        t = lamina.tensor(a)
    if requires_grad:
        t.requires_grad_(True)
    return t


def distinct(shape, dtype="float64", rng=None):
    """Values without ties (max pool gradients are then well defined)."""
    rng = rng or np.random.default_rng(0)
    n = int(np.prod(shape))
    return (rng.permutation(n).reshape(shape) / max(n, 1) * 4 - 2 + rng.uniform(0, 1e-3, shape)).astype(dtype)


# ---- max pooling -----------------------------------------------------------------------------

MAX2D_CASES = [  # (input shape, kernel, stride, padding, dilation, ceil_mode)
    ((2, 3, 7, 9), (2, 2), (2, 2), (0, 0), (1, 1), False),
    ((2, 3, 7, 9), (3, 3), (2, 2), (1, 1), (1, 1), False),
    ((2, 3, 7, 9), (3, 3), (2, 2), (1, 1), (1, 1), True),
    ((1, 2, 8, 8), (3, 2), (1, 2), (1, 0), (2, 1), False),
    ((1, 2, 10, 7), (2, 3), (3, 2), (1, 1), (2, 2), True),
    ((3, 5, 5), (2, 2), (2, 2), (0, 1), (1, 1), True),        # unbatched
    ((1, 1, 1, 1), (1, 1), (1, 1), (0, 0), (1, 1), False),    # size-1 everything
    ((0, 2, 4, 4), (2, 2), (2, 2), (0, 0), (1, 1), False),    # empty batch
    ((2, 1, 5, 6), (5, 1), (1, 3), (2, 0), (1, 1), True),
    ((1, 3, 6, 6), (4, 4), (3, 3), (2, 2), (1, 1), True),
]


@pytest.mark.parametrize("case", MAX2D_CASES, ids=str)
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "strided"])
def test_max_pool2d_forward(case, layout, isa):
    shape, k, s, p, d, ceil_mode = case
    x = np.random.default_rng(1).standard_normal(shape).astype("float32")
    vals, idx = F.max_pool2d(tensor(x, layout=layout), k, s, p, d, ceil_mode, return_indices=True)
    rv, ri = ref_max_pool(x, 2, k, s, p, d, ceil_mode)
    assert tuple(vals.shape) == rv.shape and vals.dtype == lamina.float32
    np.testing.assert_array_equal(vals.numpy(), rv)
    np.testing.assert_array_equal(idx.numpy(), ri)
    assert idx.dtype == lamina.int64


MAX1D_CASES = [
    ((2, 3, 11), (3,), (2,), (1,), (1,), False),
    ((2, 3, 11), (3,), (2,), (1,), (2,), True),
    ((4, 8), (2,), (2,), (0,), (1,), True),  # unbatched
    ((1, 1, 5), (5,), (5,), (2,), (1,), False),
    ((3, 2, 9), (4,), (1,), (2,), (1,), True),
]


@pytest.mark.parametrize("case", MAX1D_CASES, ids=str)
def test_max_pool1d_forward(case, isa):
    shape, k, s, p, d, ceil_mode = case
    x = np.random.default_rng(2).standard_normal(shape)
    vals, idx = F.max_pool1d(tensor(x, layout="strided"), k, s, p, d, ceil_mode, return_indices=True)
    rv, ri = ref_max_pool(x, 1, k, s, p, d, ceil_mode)
    np.testing.assert_array_equal(vals.numpy(), rv)
    np.testing.assert_array_equal(idx.numpy(), ri)
    np.testing.assert_array_equal(F.max_pool1d(tensor(x), k[0], s[0], p[0], d[0], ceil_mode).numpy(), rv)


def test_max_pool_defaults_and_int_args():
    x = np.random.default_rng(3).standard_normal((2, 2, 6, 6)).astype("float32")
    out = F.max_pool2d(tensor(x), 2)  # stride defaults to kernel_size
    np.testing.assert_array_equal(out.numpy(), ref_max_pool(x, 2, (2, 2), (2, 2), (0, 0), (1, 1), False)[0])
    out = lamina.max_pool2d(tensor(x), [3, 2], stride=1, padding=[1, 0])
    np.testing.assert_array_equal(out.numpy(), ref_max_pool(x, 2, (3, 2), (1, 1), (1, 0), (1, 1), False)[0])
    vals, idx = lamina.max_pool2d_with_indices(tensor(x), 3, 2, 1, 1, True)
    rv, ri = ref_max_pool(x, 2, (3, 3), (2, 2), (1, 1), (1, 1), True)
    np.testing.assert_array_equal(vals.numpy(), rv)
    np.testing.assert_array_equal(idx.numpy(), ri)
    flat = x.reshape(2, 2, 36)
    vals, idx = lamina.max_pool1d_with_indices(tensor(flat), 5, padding=2)
    rv, ri = ref_max_pool(flat, 1, (5,), (5,), (2,), (1,), False)
    np.testing.assert_array_equal(vals.numpy(), rv)
    np.testing.assert_array_equal(idx.numpy(), ri)


def test_max_pool_nan_and_inf():
    x = np.array([[[[1.0, np.nan, 3.0, -np.inf],
                    [np.nan, 0.0, -np.inf, -np.inf],
                    [2.0, 2.0, 5.0, 5.0],
                    [2.0, 2.0, 5.0, 7.0]]]], dtype="float32")
    vals, idx = F.max_pool2d(tensor(x), 2, return_indices=True)
    rv, ri = ref_max_pool(x, 2, (2, 2), (2, 2), (0, 0), (1, 1), False)
    np.testing.assert_array_equal(vals.numpy(), rv)
    np.testing.assert_array_equal(idx.numpy(), ri)
    assert np.isnan(vals.numpy()[0, 0, 0, 0]) and idx.numpy()[0, 0, 0, 0] == 4  # the last NaN
    assert vals.numpy()[0, 0, 0, 1] == 3.0
    assert idx.numpy()[0, 0, 1, 0] == 8  # ties keep the first


@pytest.mark.parametrize("case", [MAX2D_CASES[1], MAX2D_CASES[3], MAX2D_CASES[5], MAX2D_CASES[9]], ids=str)
def test_max_pool2d_gradcheck(case):
    shape, k, s, p, d, ceil_mode = case
    shape = (1,) * (len(shape) - 2) + shape[-2:]
    x = tensor(distinct(shape), requires_grad=True)
    assert gradcheck(lambda t: F.max_pool2d(t, k, s, p, d, ceil_mode), (x,))
    assert gradgradcheck(lambda t: F.max_pool2d(t, k, s, p, d, ceil_mode), (x,))


def test_max_pool1d_gradcheck_and_grad_fn():
    x = tensor(distinct((2, 2, 9)), requires_grad=True)
    assert gradcheck(lambda t: F.max_pool1d(t, 3, 2, 1, ceil_mode=True), (x,))
    assert F.max_pool1d(x, 3).grad_fn.name() == "MaxPool1DWithIndicesBackward0"
    y = F.max_pool2d(tensor(distinct((1, 2, 4, 4)), requires_grad=True), 2)
    assert y.grad_fn.name() == "MaxPool2DWithIndicesBackward0"


def test_max_pool_overlapping_windows_accumulate():
    # A single large value picked by every overlapping window receives all their gradients.
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 2] = 10.0
    t = tensor(x, requires_grad=True)
    F.max_pool2d(t, 3, 1, 1).sum().backward()
    assert t.grad.numpy()[0, 0, 2, 2] == 9.0 and t.grad.numpy().sum() == 25.0


# ---- average pooling -------------------------------------------------------------------------

AVG2D_CASES = [  # (shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
    ((2, 3, 7, 9), (2, 2), (2, 2), (0, 0), False, True, None),
    ((2, 3, 7, 9), (3, 3), (2, 2), (1, 1), False, True, None),
    ((2, 3, 7, 9), (3, 3), (2, 2), (1, 1), True, True, None),
    ((2, 3, 7, 9), (3, 3), (2, 2), (1, 1), True, False, None),
    ((1, 2, 8, 5), (4, 2), (3, 1), (2, 1), True, False, None),
    ((1, 2, 8, 5), (4, 2), (3, 1), (2, 1), True, True, 5),
    ((3, 6, 6), (3, 3), (3, 3), (1, 1), True, True, None),  # unbatched
    ((1, 1, 1, 1), (1, 1), (1, 1), (0, 0), False, True, None),
    ((0, 1, 4, 4), (2, 2), (2, 2), (0, 0), False, True, None),
]


@pytest.mark.parametrize("case", AVG2D_CASES, ids=str)
@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
def test_avg_pool2d_forward(case, layout, isa):
    shape, k, s, p, ceil_mode, include_pad, divisor = case
    x = np.random.default_rng(4).standard_normal(shape)
    out = F.avg_pool2d(tensor(x, layout=layout), k, s, p, ceil_mode, include_pad, divisor)
    np.testing.assert_allclose(out.numpy(), ref_avg_pool(x, 2, k, s, p, ceil_mode, include_pad, divisor),
                               rtol=1e-12, atol=1e-12)
    out32 = F.avg_pool2d(tensor(x.astype("float32")), k, s, p, ceil_mode, include_pad, divisor)
    np.testing.assert_allclose(out32.numpy(), ref_avg_pool(x, 2, k, s, p, ceil_mode, include_pad, divisor),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", [((2, 3, 10), (3,), (2,), (1,), False, True), ((2, 3, 10), (3,), (2,), (1,), True,
                                                                                     False),
                                  ((4, 7), (2,), (3,), (1,), True, True), ((1, 1, 4), (4,), (1,), (2,), True, False)],
                         ids=str)
def test_avg_pool1d_forward_and_grad(case):
    shape, k, s, p, ceil_mode, include_pad = case
    x = np.random.default_rng(5).standard_normal(shape)
    out = F.avg_pool1d(tensor(x, layout="strided"), k, s, p, ceil_mode, include_pad)
    np.testing.assert_allclose(out.numpy(), ref_avg_pool(x, 1, k, s, p, ceil_mode, include_pad), rtol=1e-12)
    t = tensor(x, requires_grad=True)
    assert gradcheck(lambda v: F.avg_pool1d(v, k, s, p, ceil_mode, include_pad), (t,))


@pytest.mark.parametrize("case", [AVG2D_CASES[2], AVG2D_CASES[3], AVG2D_CASES[5], AVG2D_CASES[6]], ids=str)
def test_avg_pool2d_gradcheck(case):
    shape, k, s, p, ceil_mode, include_pad, divisor = case
    shape = shape[:-3] + (1,) + shape[-2:]
    x = tensor(np.random.default_rng(6).standard_normal(shape), requires_grad=True)
    fn = lambda t: F.avg_pool2d(t, k, s, p, ceil_mode, include_pad, divisor)  # noqa: E731
    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))
    assert fn(x).grad_fn.name() == "AvgPool2DBackward0"


# ---- adaptive pooling ------------------------------------------------------------------------

ADAPTIVE_CASES = [((2, 3, 7, 9), (3, 4)), ((2, 3, 7, 9), (7, 9)), ((1, 2, 5, 5), (1, 1)), ((1, 2, 4, 6), (8, 9)),
                  ((3, 10, 3), (4, 2)), ((0, 2, 4, 4), (2, 2))]


@pytest.mark.parametrize("case", ADAPTIVE_CASES, ids=str)
def test_adaptive_pool2d_forward(case, isa):
    shape, size = case
    x = distinct(shape, "float32")
    np.testing.assert_allclose(F.adaptive_avg_pool2d(tensor(x, layout="transposed"), size).numpy(),
                               ref_adaptive(x, 2, size, "avg")[0], rtol=1e-5, atol=1e-6)
    vals, idx = F.adaptive_max_pool2d(tensor(x, layout="strided"), size, return_indices=True)
    rv, ri = ref_adaptive(x, 2, size, "max")
    np.testing.assert_array_equal(vals.numpy(), rv)
    np.testing.assert_array_equal(idx.numpy(), ri)


def test_adaptive_pool_empty_output():
    x = tensor(np.random.default_rng(14).standard_normal((1, 2, 3, 3)), requires_grad=True)
    for fn in (F.adaptive_avg_pool2d, F.adaptive_max_pool2d):
        y = fn(x, (0, 2))
        assert tuple(y.shape) == (1, 2, 0, 2)
        y.sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), np.zeros((1, 2, 3, 3)))
        x.grad = None
    assert tuple(F.interpolate(x, scale_factor=0.2, mode="area").shape) == (1, 2, 0, 0)


def test_adaptive_pool_none_and_int_sizes():
    x = np.random.default_rng(7).standard_normal((1, 2, 6, 5))
    out = F.adaptive_avg_pool2d(tensor(x), (None, 2))
    np.testing.assert_allclose(out.numpy(), ref_adaptive(x, 2, (6, 2), "avg")[0], rtol=1e-12)
    out = F.adaptive_avg_pool2d(tensor(x), 3)
    np.testing.assert_allclose(out.numpy(), ref_adaptive(x, 2, (3, 3), "avg")[0], rtol=1e-12)
    assert tuple(F.adaptive_max_pool2d(tensor(x), 1).shape) == (1, 2, 1, 1)


@pytest.mark.parametrize("shape,size", [((2, 3, 10), 4), ((3, 7), 3), ((1, 1, 5), 8)], ids=str)
def test_adaptive_pool1d(shape, size):
    x = distinct(shape)
    np.testing.assert_allclose(F.adaptive_avg_pool1d(tensor(x), size).numpy(), ref_adaptive(x, 1, (size,), "avg")[0],
                               rtol=1e-12)
    vals, idx = F.adaptive_max_pool1d(tensor(x), size, return_indices=True)
    rv, ri = ref_adaptive(x, 1, (size,), "max")
    np.testing.assert_array_equal(vals.numpy(), rv)
    np.testing.assert_array_equal(idx.numpy(), ri)
    t = tensor(x, requires_grad=True)
    assert gradcheck(lambda v: F.adaptive_avg_pool1d(v, size), (t,))
    assert gradcheck(lambda v: F.adaptive_max_pool1d(v, size), (t,))


def test_adaptive_pool2d_gradients():
    x = tensor(distinct((1, 2, 5, 7)), requires_grad=True)
    for size in [(2, 3), (5, 7), (7, 9)]:
        assert gradcheck(lambda t: F.adaptive_avg_pool2d(t, size), (x,))
        assert gradgradcheck(lambda t: F.adaptive_avg_pool2d(t, size), (x,))
        assert gradcheck(lambda t: F.adaptive_max_pool2d(t, size), (x,))
    assert F.adaptive_avg_pool2d(x, 2).grad_fn.name() == "AdaptiveAvgPool2DBackward0"
    assert F.adaptive_max_pool2d(x, 2).grad_fn.name() == "AdaptiveMaxPool2DBackward0"


# ---- determinism -----------------------------------------------------------------------------

POOL_FNS = {
    "max": lambda t: F.max_pool2d(t, 3, 2, 1),
    "max_overlap": lambda t: F.max_pool2d(t, 3, 1, 1, ceil_mode=True),
    "avg": lambda t: F.avg_pool2d(t, 3, 2, 1, count_include_pad=False),
    "adaptive_avg": lambda t: F.adaptive_avg_pool2d(t, (3, 5)),
    "adaptive_max": lambda t: F.adaptive_max_pool2d(t, (3, 5)),
    "max1d": lambda t: F.max_pool1d(t.flatten(2), 4, 3, 2),
}


@pytest.mark.parametrize("name", sorted(POOL_FNS))
def test_pool_same_bytes_for_any_thread_count(name, isa, threads):
    x = np.random.default_rng(8).standard_normal((4, 300, 9, 11)).astype("float32")
    g = None
    results = {}
    for n in (1, 2, 3):
        threads(n)
        t = tensor(x, requires_grad=True)
        y = POOL_FNS[name](t)
        if g is None:
            g = lamina.tensor(np.random.default_rng(9).standard_normal(tuple(y.shape)).astype("float32"))
        y.backward(g)
        results[n] = (y.detach().numpy().tobytes(), t.grad.numpy().tobytes())
    assert results[1] == results[2] == results[3]


# ---- errors ----------------------------------------------------------------------------------

def test_pool_errors():
    x = lamina.zeros(1, 1, 2, 6)
    with pytest.raises(RuntimeError, match=r"max_pool2d: output size \(0, 2\) is too small for input \(1, 1, 2, 6\)"
                                           r" with kernel \(3, 3\)"):
        F.max_pool2d(x, 3)
    with pytest.raises(RuntimeError, match="max_pool2d: pad should be at most half of kernel size"):
        F.max_pool2d(x, 2, padding=2)
    with pytest.raises(RuntimeError, match="avg_pool2d: pad should be at most half"):
        F.avg_pool2d(x, 3, padding=2)
    with pytest.raises(RuntimeError, match=r"max_pool2d: Expected 3D or 4D .* but got: \(2, 3\)"):
        F.max_pool2d(lamina.zeros(2, 3), 2)
    with pytest.raises(RuntimeError, match=r"max_pool2d: Expected 3D or 4D .* \(1, 2, 0, 3\)"):
        F.max_pool2d(lamina.zeros(1, 2, 0, 3), 2)
    with pytest.raises(RuntimeError, match="max_pool2d: kernel size should be greater than zero"):
        F.max_pool2d(x, 0)
    with pytest.raises(RuntimeError, match="max_pool2d: stride should be greater than zero"):
        F.max_pool2d(x, 2, stride=0)
    with pytest.raises(RuntimeError, match="max_pool2d: dilation should be greater than zero"):
        F.max_pool2d(x, 2, dilation=0)
    with pytest.raises(RuntimeError, match="max_pool2d: pad must be non-negative"):
        F.max_pool2d(x, 2, padding=-1)
    with pytest.raises(RuntimeError, match="max_pool2d: kernel_size must either be a single int, or a tuple of 2"):
        F.max_pool2d(x, (2, 2, 2))
    with pytest.raises(RuntimeError, match=r"max_pool1d: output size \(0,\) is too small"):
        F.max_pool1d(lamina.zeros(1, 1, 2), 3)
    with pytest.raises(RuntimeError, match="avg_pool2d: divisor must be not zero"):
        F.avg_pool2d(x, 2, divisor_override=0)
    with pytest.raises(NotImplementedError, match="max_pool1d: not implemented for 'Long'"):
        F.max_pool1d(lamina.zeros(1, 1, 4, dtype=lamina.int64), 2)
    with pytest.raises(NotImplementedError, match="adaptive_avg_pool2d: not implemented for 'Long'"):
        F.adaptive_avg_pool2d(lamina.zeros(1, 1, 4, 4, dtype=lamina.int64), 2)
    with pytest.raises(NotImplementedError, match="max_pool2d: not implemented for 'Bool'"):
        F.max_pool2d(lamina.zeros(1, 1, 4, 4, dtype=lamina.bool), 2)
    with pytest.raises(RuntimeError, match="adaptive_avg_pool2d: output_size must be non-negative"):
        F.adaptive_avg_pool2d(x, (-1, 2))
    with pytest.raises(RuntimeError, match=r"max_pool2d: pad should be at most half of kernel size, but got pad=2, "
                                           r"kernel_size=3"):
        F.max_pool2d(x, 3, padding=2, dilation=2)  # the dilated extent does not count, as in PyTorch
    with pytest.raises(RuntimeError, match=r"adaptive_max_pool2d: Expected 3D or 4D .* \(1, 2, 0, 3\)"):
        F.adaptive_max_pool2d(lamina.zeros(1, 2, 0, 3), 2)
    with pytest.raises(ValueError, match="output_size must have 2 entries"):
        F.adaptive_avg_pool2d(x, (2, 2, 2))
    with pytest.raises(TypeError):
        F.max_pool2d(x, 2.5)


def test_saved_indices_modified_in_place_is_detected():
    t = tensor(distinct((1, 1, 4, 4)), requires_grad=True)
    y, idx = F.max_pool2d(t, 2, return_indices=True)
    idx.zero_()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_ceil_mode_matches_formula_exhaustively():
    for n, k, s, p, d in itertools.product(range(1, 8), range(1, 4), range(1, 4), range(0, 2), range(1, 3)):
        if p > k // 2:
            continue
        for ceil_mode in (False, True):
            o = out_size(n, k, s, p, d, ceil_mode)
            x = lamina.zeros(1, 1, n)
            if o < 1:
                with pytest.raises(RuntimeError, match="too small"):
                    F.max_pool1d(x, k, s, p, d, ceil_mode)
                continue
            assert F.max_pool1d(x, k, s, p, d, ceil_mode).shape[-1] == o
            assert math.isfinite(F.avg_pool1d(x, k, s, p, ceil_mode).sum().item())


@pytest.mark.parametrize("name", ["max", "adaptive_max"])
def test_max_pool_double_backward_through_grad_output(name):
    # The input gradient is linear in the output gradient v; its derivative w.r.t. v gathers.
    x = tensor(distinct((1, 2, 5, 6)), requires_grad=True)
    fn = (lambda t: F.max_pool2d(t, 3, 2, 1)) if name == "max" else (lambda t: F.adaptive_max_pool2d(t, (2, 4)))
    shape = tuple(fn(x).shape)
    v = tensor(np.random.default_rng(10).standard_normal(shape), requires_grad=True)

    def input_grad(w):
        with lamina.enable_grad():  # gradcheck runs the function under no_grad for finite differences
            (g,) = lamina.autograd.grad(fn(x), x, w, create_graph=True)
        return g

    assert gradcheck(input_grad, (v,))
    assert input_grad(v).grad_fn.name().endswith("BackwardBackward0")


@pytest.mark.parametrize("pool", ["max_pool1d", "max_pool2d"])
def test_max_pool_double_backward_on_an_empty_batch(pool):
    # The second-order node once reshaped the indices to (0, -1), which is ambiguous (the fuzzer found it).
    x = lamina.zeros((0, 3, 6) if pool == "max_pool1d" else (0, 2, 4, 4), requires_grad=True)
    out = getattr(F, pool)(x, 2)
    (g,) = lamina.autograd.grad(out.exp().sum(), x, create_graph=True)
    (gg,) = lamina.autograd.grad(g.sum(), x, allow_unused=True)
    assert tuple(g.shape) == tuple(x.shape) and (gg is None or tuple(gg.shape) == tuple(x.shape))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("params", [((3, 3), (1, 1), (1, 1), (1, 1), False), ((3, 3), (2, 2), (1, 1), (1, 1), True),
                                    ((2, 2), (2, 2), (0, 0), (1, 1), False), ((2, 3), (1, 3), (0, 1), (1, 2), True),
                                    ((1, 5), (1, 1), (0, 2), (1, 1), False)], ids=str)
def test_max_pool2d_wide_rows(params, dtype, isa):
    # Rows wide enough for the vectorised interior (up to 16 lanes), with NaNs, infinities and ties.
    k, s, p, d, ceil_mode = params
    rng = np.random.default_rng(11)
    x = rng.integers(-3, 4, size=(2, 2, 5, 77)).astype(dtype)
    x[0, 0, 1, 5:40:7] = np.nan
    x[1, 1, 2, 10:20] = -np.inf
    x[0, 1, :, 30:34] = np.inf
    vals, idx = F.max_pool2d(tensor(x), k, s, p, d, ceil_mode, return_indices=True)
    rv, ri = ref_max_pool(x, 2, k, s, p, d, ceil_mode)
    np.testing.assert_array_equal(vals.numpy(), rv)
    np.testing.assert_array_equal(idx.numpy(), ri)


def test_huge_window_arguments_raise():
    x = lamina.zeros(1, 1, 4, 4)
    with pytest.raises(RuntimeError, match="too large"):
        F.max_pool2d(x, 2**40, dilation=2**40)
    with pytest.raises(RuntimeError, match="too small"):
        F.max_pool2d(x, 2**40, stride=2**61)
    with pytest.raises(RuntimeError, match="too large"):
        F.avg_pool2d(x, 2**63 - 1)
    with pytest.raises((RuntimeError, MemoryError)):
        F.adaptive_avg_pool2d(x, (2**40, 2**40))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("params", [((3, 3), (1, 1), (1, 1), False, True, None), ((3, 3), (2, 2), (1, 1), True, False, None),
                                    ((2, 4), (2, 3), (0, 2), True, True, None), ((1, 5), (1, 1), (0, 2), False, False, 7)],
                         ids=str)
def test_avg_pool2d_wide_rows(params, dtype, isa):
    k, s, p, ceil_mode, include_pad, divisor = params
    x = np.random.default_rng(12).standard_normal((2, 2, 6, 77)).astype(dtype)
    out = F.avg_pool2d(tensor(x), k, s, p, ceil_mode, include_pad, divisor)
    ref = ref_avg_pool(x.astype("float64"), 2, k, s, p, ceil_mode, include_pad, divisor)
    tol = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(out.numpy(), ref, rtol=tol, atol=tol)


def test_pool_results_identical_across_isa_levels():
    x = np.random.default_rng(13).standard_normal((2, 3, 9, 70)).astype("float32")
    previous = lamina._C._get_cpu_isa()
    results = []
    try:
        for level in ["baseline", "avx2", "avx512"][: ["baseline", "avx2", "avx512"].index(
                lamina._C._detected_cpu_isa()) + 1]:
            lamina._C._set_cpu_isa(level)
            t = tensor(x)
            results.append([F.max_pool2d(t, 3, 2, 1).numpy().tobytes(), F.avg_pool2d(t, 3, 1, 1).numpy().tobytes(),
                            F.max_pool2d(t, (2, 3), (1, 2), (1, 1), (2, 1), return_indices=True)[1].numpy().tobytes()])
    finally:
        lamina._C._set_cpu_isa(previous)
    assert all(r == results[0] for r in results)


def test_max_pool_window_inside_padding_only():
    # With dilation a window can miss the input entirely: -inf and PyTorch's out-of-plane index,
    # which backward (and double backward) must ignore rather than write past the plane.
    x = tensor(distinct((1, 1, 1, 10)), requires_grad=True)
    y, idx = F.max_pool2d(x, 2, None, 1, 2, True, return_indices=True)
    assert np.all(np.isneginf(y.detach().numpy())) and idx.numpy().max() >= 10
    (g,) = lamina.autograd.grad(y, x, lamina.ones(*y.shape), create_graph=True)
    np.testing.assert_array_equal(g.detach().numpy(), np.zeros((1, 1, 1, 10)))
    v = tensor(np.ones(tuple(y.shape)), requires_grad=True)
    (g,) = lamina.autograd.grad(F.max_pool2d(x, 2, None, 1, 2, True), x, v, create_graph=True)
    (gv,) = lamina.autograd.grad(g.sum(), v)
    np.testing.assert_array_equal(gv.numpy(), np.zeros(tuple(y.shape)))


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_integer_max_and_avg_pool(dtype, isa):
    # As in PyTorch: max_pool2d and avg_pool take integers (avg divides with truncation).
    x = np.random.default_rng(15).integers(-50, 50, size=(2, 3, 6, 41)).astype(dtype)
    vals, idx = F.max_pool2d(tensor(x), 3, 2, 1, return_indices=True)
    rv, ri = ref_max_pool(x, 2, (3, 3), (2, 2), (1, 1), (1, 1), False)
    assert vals.dtype == getattr(lamina, dtype)
    np.testing.assert_array_equal(vals.numpy(), rv)
    np.testing.assert_array_equal(idx.numpy(), ri)
    for k, s, p, include_pad in [(3, 1, 1, True), (2, 2, 0, True), (3, 2, 1, False)]:
        out = F.avg_pool2d(tensor(x), k, s, p, count_include_pad=include_pad)
        ref = ref_avg_pool(x.astype("float64"), 2, (k, k), (s, s), (p, p), False, include_pad)
        sums = np.round(ref * _divisors(x.shape, k, s, p, include_pad))
        np.testing.assert_array_equal(out.numpy(), np.trunc(sums / _divisors(x.shape, k, s, p, include_pad)))
    out = F.avg_pool1d(tensor(x[0]), 4, 3)  # (3, 6, 41) read as (N, C, L); windows of 4, no padding
    sums = np.round(ref_avg_pool(x[0].astype("float64"), 1, (4,), (3,), (0,), False, True) * 4)
    np.testing.assert_array_equal(out.numpy(), np.trunc(sums / 4))


def _divisors(shape, k, s, p, include_pad):
    """The divisor of every output of a square avg pool (without ceil_mode)."""
    ones = np.ones(shape[-2:])
    counts = ref_avg_pool(ones[None], 2, (k, k), (s, s), (p, p), False, False) * 0
    H, W = shape[-2:]
    OH, OW = counts.shape[-2:]
    for oh, ow in itertools.product(range(OH), range(OW)):
        h0, w0 = oh * s - p, ow * s - p
        h1, w1 = min(h0 + k, H + p), min(w0 + k, W + p)
        padded = (h1 - h0) * (w1 - w0)
        actual = (min(h1, H) - max(h0, 0)) * (min(w1, W) - max(w0, 0))
        counts[..., oh, ow] = padded if include_pad else actual
    return counts[0]


def test_max_pool_window_entirely_in_padding():
    # regression: with dilation a window can miss the input; its index lies past the plane (as in
    # PyTorch) and backward must not scatter there (it corrupted the heap)
    x = lamina.arange(2.0).reshape(1, 1, 1, 2).requires_grad_()
    y, idx = F.max_pool2d(x, 2, 2, 1, 2, return_indices=True)
    assert y.item() == -math.inf and idx.item() == 3
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[[[0.0, 0.0]]]])
    z = lamina.arange(6.0, dtype=lamina.float64).reshape(1, 1, 2, 3).requires_grad_()
    assert gradcheck(lambda t: F.max_pool2d(t, 2, 2, 1, 2).clamp(-1e3, None), (z,))


def test_integer_avg_pool_sums_wrap_instead_of_overflowing():
    # regression (UBSan under the fuzzer): the int32 window sum overflowed, which is undefined
    big = 2**31 - 1
    x = lamina.tensor([[[big, big, big, big]]], dtype=lamina.int32)
    y = F.avg_pool1d(x, 2, 2)  # (big + big) wraps to -2 in int32; -2 / 2 = -1
    assert y.tolist() == [[[-1, -1]]]
    y = F.avg_pool1d(x, 3, 1, padding=1)  # edge windows take the scalar path
    assert y.dtype == lamina.int32 and y.shape == (1, 1, 4)
