"""F.pad (constant, reflect, replicate, circular; negative pads crop) against numpy's np.pad, and
F.interpolate (nearest, nearest-exact, linear, bilinear, area) against naive references written
here with PyTorch's index formulas; gradients by finite differences in float64."""

import itertools
import math

import numpy as np
import pytest

import lamina
import lamina.nn.functional as F
from lamina.autograd import gradcheck, gradgradcheck

NP_MODE = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def ref_pad(x, pad, mode, value=0.0):
    """np.pad of the positive parts, with the negative parts cropped from the result (circular, as
    in PyTorch: cropped from the input first, then wrapped around what is left)."""
    out = x
    for i in range(len(pad) // 2):
        d = x.ndim - 1 - i
        lo, hi = pad[2 * i], pad[2 * i + 1]
        widths = [(0, 0)] * x.ndim
        widths[d] = (max(lo, 0), max(hi, 0))
        kw = {"constant_values": value} if mode == "constant" else {}
        if mode == "circular":
            n = out.shape[d]
            out = np.take(out, np.arange(max(-lo, 0), n - max(-hi, 0)), axis=d)
            out = np.pad(out, widths, mode="wrap")
            continue
        out = np.pad(out, widths, mode=NP_MODE[mode], **kw)
        n = out.shape[d]
        out = np.take(out, np.arange(max(-lo, 0), n - max(-hi, 0)), axis=d)
    return out


def tensor(a, requires_grad=False, transposed=False):
    t = lamina.tensor(np.ascontiguousarray(np.swapaxes(a, -1, -2))).transpose(-1, -2) if transposed else lamina.tensor(a)
    return t.requires_grad_(True) if requires_grad else t


PAD_CASES = [  # (shape, pad)
    ((2, 3, 5, 6), (1, 2)),
    ((2, 3, 5, 6), (1, 2, 3, 1)),
    ((2, 3, 5, 6), (0, 0, 2, 2)),
    ((2, 3, 5, 6), (-1, 2, 1, -2)),
    ((3, 5, 6), (2, 1, 1, 3)),
    ((3, 7), (3, 2)),
    ((1, 2, 3, 4, 5), (1, 1, 2, 0, 1, 2)),
    ((2, 1, 4), (-2, 3)),
]


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("case", PAD_CASES, ids=str)
def test_pad_forward(mode, case, isa):
    shape, pad = case
    x = np.random.default_rng(0).standard_normal(shape).astype("float32")
    if mode != "constant" and len(shape) not in (len(pad) // 2 + 1, len(pad) // 2 + 2):
        with pytest.raises(NotImplementedError, match="non-constant padding"):
            F.pad(tensor(x), pad, mode=mode)
        return
    kept = [shape[-1 - i] - max(-pad[2 * i], 0) - max(-pad[2 * i + 1], 0) for i in range(len(pad) // 2)]
    if mode == "circular" and any(max(pad[2 * i], pad[2 * i + 1]) > kept[i] for i in range(len(kept))):
        with pytest.raises(RuntimeError, match="wrapping around more than once"):
            F.pad(tensor(x), pad, mode=mode)
        return
    if mode == "reflect" and any(p >= shape[-1 - i // 2] for i, p in enumerate(pad)):
        pytest.skip("reflect padding must be smaller than the dim")
    for transposed in (False, True):
        kw = {"value": 1.5} if mode == "constant" else {}
        out = F.pad(tensor(x, transposed=transposed), pad, mode=mode, **kw)
        np.testing.assert_array_equal(out.numpy(), ref_pad(x, pad, mode, 1.5))


def test_constant_pad_any_rank_and_dtypes():
    x = np.arange(24).reshape(2, 3, 4)
    np.testing.assert_array_equal(F.pad(lamina.tensor(x), (1, 1, 0, 2, 1, 0)).numpy(),
                                  ref_pad(x, (1, 1, 0, 2, 1, 0), "constant"))
    out = lamina.constant_pad_nd(lamina.tensor(x.astype("float64")), [2, -1], 7.0)
    np.testing.assert_array_equal(out.numpy(), ref_pad(x.astype("float64"), (2, -1), "constant", 7.0))
    v = np.random.default_rng(1).standard_normal(5)
    np.testing.assert_array_equal(F.pad(lamina.tensor(v), (2, 3)).numpy(), np.pad(v, (2, 3)))
    t = lamina.tensor(v)
    out = F.pad(t, (0, 0))
    out.add_(1.0)  # the result never aliases the input
    np.testing.assert_array_equal(t.numpy(), v)


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_pad_gradcheck(mode):
    x = tensor(np.random.default_rng(2).standard_normal((1, 2, 3, 4)), requires_grad=True)
    pad = (2, -1, 1, 2)
    assert gradcheck(lambda t: F.pad(t, pad, mode=mode), (x,))
    assert gradgradcheck(lambda t: F.pad(t, pad, mode=mode), (x,))


def test_pad_errors():
    x = lamina.zeros(1, 2, 3)
    with pytest.raises(RuntimeError, match=r"pad: Padding size should be less than the corresponding input "
                                           r"dimension, but got: padding \(3, 3\) at dimension 2 of input \(1, 2, 3\)"):
        F.pad(x, (3, 3), mode="reflect")
    with pytest.raises(RuntimeError, match="Padding length must be divisible by 2"):
        F.pad(x, (1, 1, 1))
    with pytest.raises(RuntimeError, match="Padding length should be less than or equal to two times"):
        F.pad(x, (1,) * 8)
    with pytest.raises(NotImplementedError, match="Unrecognised padding mode bogus"):
        F.pad(x, (1, 1), mode="bogus")
    with pytest.raises(RuntimeError, match="doesn't take in value argument"):
        F.pad(x, (1, 1), mode="replicate", value=1.0)
    with pytest.raises(RuntimeError, match="resulted in a negative output size"):
        F.pad(x, (-4, 0))
    with pytest.raises(RuntimeError, match="wrapping around more than once"):
        F.pad(x, (4, 0), mode="circular")
    with pytest.raises(NotImplementedError, match="non-constant padding"):
        F.pad(lamina.zeros(3), (1, 1), mode="reflect")
    with pytest.raises(NotImplementedError, match="non-constant padding"):
        F.pad(lamina.zeros(2, 3), (1, 1, 1, 1), mode="replicate")
    with pytest.raises(RuntimeError, match=r"pad: input \(1, 2, 3\) is too small .* calculated output size \(0,\)"):
        F.pad(x, (-2, -1), mode="replicate")
    # With two padded dims only an empty result along both is refused (as in PyTorch).
    assert tuple(F.pad(lamina.zeros(1, 5, 5), (-2, -3, 1, 1), mode="reflect").shape) == (1, 7, 0)
    with pytest.raises(RuntimeError, match="too small"):
        F.pad(lamina.zeros(1, 5, 5), (-2, -3, -2, -3), mode="replicate")
    assert tuple(F.pad(x, (-2, -1), mode="circular").shape) == (1, 2, 0)
    with pytest.raises(RuntimeError, match="circular padding .* crops all of dimension 2"):
        F.pad(x, (-3, 1), mode="circular")
    v = np.arange(8.0).reshape(1, 1, 8)  # PyTorch crops (-1 on the right) before wrapping
    np.testing.assert_array_equal(F.pad(lamina.tensor(v), (2, -1), mode="circular").numpy()[0, 0],
                                  [5, 6, 0, 1, 2, 3, 4, 5, 6])
    with pytest.raises(RuntimeError, match="other non-zero dimensions in replicate mode"):
        F.pad(lamina.zeros(1, 1, 0), (1, 1), mode="replicate")


# ---- interpolate -----------------------------------------------------------------------------

def nearest_source(n_in, n_out, scale, exact, dtype=np.float32, two_d=False):
    """PyTorch's CPU nearest indices: 1-d positions in the tensor's precision, floored through
    float32; 2-d positions from a float32 scale, with nearest's copy and halving shortcuts."""
    s = dtype(1.0 / scale) if scale else dtype(n_in) / dtype(n_out)
    sf = np.float32(1.0 / scale) if scale else np.float32(n_in) / np.float32(n_out)
    out = []
    for o in range(n_out):
        if two_d and not exact and n_out in (n_in, 2 * n_in):
            src = o if n_out == n_in else o // 2
        elif two_d and exact:
            src = int(math.floor(np.float32((o + 0.5) * float(sf))))
        elif two_d:
            src = int(math.floor(np.float32(o) * sf))
        elif exact:
            real = max(s * (dtype(o) + dtype(0.5)) - dtype(0.5), dtype(0))
            src = int(math.floor(np.float32(float(real) + 0.5)))
        else:
            src = int(math.floor(np.float32(s * dtype(o))))
        out.append(min(src, n_in - 1))
    return out


def linear_taps(n_in, n_out, scale, align_corners):
    """(i0, i1, w0, w1) per output position, PyTorch's area_pixel_compute_source_index."""
    taps = []
    if align_corners:
        s = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    else:
        s = 1.0 / scale if scale else n_in / n_out
    for o in range(n_out):
        if n_out == n_in:
            taps.append((o, o, 1.0, 0.0))
            continue
        real = s * o if align_corners else max(s * (o + 0.5) - 0.5, 0.0)
        i0 = min(int(math.floor(np.float32(real))), n_in - 1)
        i1 = i0 + (1 if i0 < n_in - 1 else 0)
        l1 = min(max(real - i0, 0.0), 1.0)
        taps.append((i0, i1, 1.0 - l1, l1))
    return taps


def ref_interpolate(x, size, mode, align_corners=False, scales=None):
    nd = x.ndim - 2
    scales = scales or [None] * nd
    axes = []
    for i in range(nd):
        n_in, n_out = x.shape[2 + i], size[i]
        if mode in ("nearest", "nearest-exact"):
            src = nearest_source(n_in, n_out, scales[i], mode == "nearest-exact", x.dtype.type, nd == 2)
            axes.append([(s, s, 1.0, 0.0) for s in src])
        else:
            axes.append(linear_taps(n_in, n_out, scales[i], align_corners))
    xd = x.astype(np.float64)
    if nd == 1:
        out = np.zeros(x.shape[:2] + (size[0],))
        for o, (i0, i1, w0, w1) in enumerate(axes[0]):
            out[..., o] = w0 * xd[..., i0] + w1 * xd[..., i1]
        return out
    out = np.zeros(x.shape[:2] + tuple(size))
    for (oy, (y0, y1, a0, a1)), (ox, (x0, x1, b0, b1)) in itertools.product(enumerate(axes[0]), enumerate(axes[1])):
        out[..., oy, ox] = (a0 * (b0 * xd[..., y0, x0] + b1 * xd[..., y0, x1]) +
                            a1 * (b0 * xd[..., y1, x0] + b1 * xd[..., y1, x1]))
    return out


INTERP_2D = [  # (shape, size, scale_factor)
    ((2, 3, 4, 5), (8, 10), None),
    ((2, 3, 4, 5), (7, 3), None),
    ((2, 3, 4, 5), (4, 5), None),
    ((1, 2, 5, 3), None, 2),
    ((1, 2, 5, 3), None, (1.5, 0.5)),
    ((1, 2, 5, 3), None, 0.7),
    ((1, 1, 1, 1), (3, 2), None),
    ((2, 2, 6, 7), (1, 1), None),
]


@pytest.mark.parametrize("case", INTERP_2D, ids=str)
@pytest.mark.parametrize("mode,align_corners", [("nearest", None), ("nearest-exact", None), ("bilinear", False),
                                                ("bilinear", True)])
def test_interpolate_2d(case, mode, align_corners, isa):
    shape, size, sf = case
    x = np.random.default_rng(3).standard_normal(shape).astype("float32")
    out = F.interpolate(tensor(x, transposed=True), size=size, scale_factor=sf, mode=mode, align_corners=align_corners)
    if size is None:
        sfs = list(sf) if isinstance(sf, tuple) else [sf, sf]
        size = [math.floor(shape[2 + i] * sfs[i]) for i in range(2)]
        scales = sfs
    else:
        scales = None
    assert tuple(out.shape) == shape[:2] + tuple(size)
    ref = ref_interpolate(x, size, mode, bool(align_corners), scales)
    if mode.startswith("nearest"):
        np.testing.assert_array_equal(out.numpy(), ref.astype("float32"))
    else:
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode,align_corners", [("nearest", None), ("nearest-exact", None), ("linear", False),
                                                ("linear", True)])
@pytest.mark.parametrize("size,sf", [(9, None), (4, None), (7, None), (None, 2.5), (None, 0.5)], ids=str)
def test_interpolate_1d(mode, align_corners, size, sf):
    x = np.random.default_rng(4).standard_normal((2, 3, 7))
    out = F.interpolate(tensor(x), size=size, scale_factor=sf, mode=mode, align_corners=align_corners)
    n = size if size is not None else math.floor(7 * sf)
    ref = ref_interpolate(x, [n], mode, bool(align_corners), None if sf is None else [sf])
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12, atol=1e-12)


def test_interpolate_known_values():
    x = np.arange(6, dtype="float32").reshape(1, 1, 2, 3)
    np.testing.assert_array_equal(F.interpolate(lamina.tensor(x), scale_factor=2).numpy(),
                                  x.repeat(2, axis=2).repeat(2, axis=3))
    ramp = np.linspace(0, 1, 4).reshape(1, 1, 4)
    out = F.interpolate(lamina.tensor(ramp), size=7, mode="linear", align_corners=True)
    np.testing.assert_allclose(out.numpy().ravel(), np.linspace(0, 1, 7), atol=1e-15)
    out = F.upsample_bilinear(lamina.tensor(x), size=(3, 5))  # align_corners=True
    np.testing.assert_allclose(out.numpy()[0, 0], np.add.outer(np.linspace(0, 3, 3), np.linspace(0, 2, 5)),
                               atol=1e-6)


def test_interpolate_recompute_scale_factor():
    x = np.random.default_rng(5).standard_normal((1, 1, 5)).astype("float32")
    # With the user scale 0.7 the step is 1/0.7; recomputed it is 5/3.
    a = F.interpolate(tensor(x), scale_factor=0.7, mode="linear")
    b = F.interpolate(tensor(x), scale_factor=0.7, mode="linear", recompute_scale_factor=True)
    np.testing.assert_allclose(a.numpy(), ref_interpolate(x, [3], "linear", False, [0.7]), rtol=1e-5)
    np.testing.assert_allclose(b.numpy(), ref_interpolate(x, [3], "linear", False, None), rtol=1e-5)
    assert not np.allclose(a.numpy(), b.numpy())


def test_interpolate_area_is_adaptive_avg_pool():
    x = np.random.default_rng(6).standard_normal((1, 2, 6, 9))
    out = F.interpolate(tensor(x), size=(3, 4), mode="area")
    np.testing.assert_allclose(out.numpy(), F.adaptive_avg_pool2d(tensor(x), (3, 4)).numpy())


@pytest.mark.parametrize("mode,align_corners,size", [("nearest", None, (5, 3)), ("nearest-exact", None, (2, 7)),
                                                     ("bilinear", False, (5, 7)), ("bilinear", True, (2, 5)),
                                                     ("bilinear", False, (2, 2))])
def test_interpolate_gradcheck(mode, align_corners, size):
    x = tensor(np.random.default_rng(7).standard_normal((1, 2, 3, 4)), requires_grad=True)
    fn = lambda t: F.interpolate(t, size=size, mode=mode, align_corners=align_corners)  # noqa: E731
    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))


def test_interpolate_grad_fn_names_and_1d_grad():
    x = tensor(np.random.default_rng(8).standard_normal((1, 2, 5)), requires_grad=True)
    assert gradcheck(lambda t: F.interpolate(t, size=8, mode="linear"), (x,))
    assert F.interpolate(x, size=8, mode="linear").grad_fn.name() == "UpsampleLinear1DBackward0"
    y = F.interpolate(tensor(np.zeros((1, 1, 2, 2)), requires_grad=True), scale_factor=2, mode="bilinear")
    assert y.grad_fn.name() == "UpsampleBilinear2DBackward0"


def test_upsample_same_bytes_for_any_thread_count(isa, threads):
    x = np.random.default_rng(9).standard_normal((4, 200, 9, 11)).astype("float32")
    results = {}
    for n in (1, 2, 3):
        threads(n)
        t = tensor(x, requires_grad=True)
        y = F.interpolate(t, size=(13, 7), mode="bilinear")
        y.backward(lamina.ones(*y.shape))
        results[n] = (y.detach().numpy().tobytes(), t.grad.numpy().tobytes())
    assert results[1] == results[2] == results[3]


def test_interpolate_errors():
    x = lamina.zeros(1, 1, 2, 6)
    with pytest.raises(ValueError, match="only one of size or scale_factor"):
        F.interpolate(x, size=(3, 3), scale_factor=2)
    with pytest.raises(ValueError, match="either size or scale_factor"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="align_corners option can only be set"):
        F.interpolate(x, size=(3, 3), align_corners=True)
    with pytest.raises(ValueError, match="same number of spatial dimensions"):
        F.interpolate(x, size=(3, 3, 3))
    with pytest.raises(NotImplementedError, match="Got 4D input, but linear mode needs 3D input"):
        F.interpolate(x, size=(3, 3), mode="linear")
    with pytest.raises(NotImplementedError, match="got bogus"):
        F.interpolate(x, size=(3, 3), mode="bogus")
    with pytest.raises(NotImplementedError, match="got bicubic"):
        F.interpolate(x, size=(3, 3), mode="bicubic")
    with pytest.raises(RuntimeError, match="upsample_nearest2d: input and output sizes should be greater than 0"):
        F.interpolate(x, size=(0, 3))
    with pytest.raises(RuntimeError, match="upsample_bilinear2d: input and output sizes"):
        F.interpolate(lamina.zeros(1, 1, 0, 3), size=(3, 3), mode="bilinear")
    with pytest.raises(NotImplementedError, match="not implemented for 'Long'"):
        F.interpolate(lamina.zeros(1, 1, 2, 2, dtype=lamina.int64), size=(3, 3))
    with pytest.raises(ValueError, match="recompute_scale_factor is not meaningful"):
        F.interpolate(x, size=(3, 3), recompute_scale_factor=True)


def test_huge_pads_raise():
    x = lamina.zeros(1, 1, 4)
    with pytest.raises(RuntimeError, match="too large"):
        F.pad(x, (2**62, 2**62))
    with pytest.raises((RuntimeError, MemoryError)):
        F.pad(x, (2**40, 0))
    with pytest.raises((RuntimeError, MemoryError)):
        F.pad(x, (2**40, 0), mode="replicate")


def test_interpolate_huge_size_on_empty_batch_allocates_nothing():
    # Regression: the per-axis tables were sized by the requested output even for an empty batch
    # (tens of GB for scale_factor=1e9), which got the process OOM-killed instead of returning.
    x = lamina.randn(0, 2, 3, 1)
    out = F.interpolate(x, scale_factor=1e8, mode="bilinear")
    assert out.shape == (0, 2, 300_000_000, 100_000_000)
    # lamina wants even an empty tensor's contiguous strides to fit in int64 *bytes* (kernels
    # multiply strides by the item size); PyTorch counts elements, so this one it would accept
    with pytest.raises(RuntimeError, match="stride calculation overflowed"):
        F.interpolate(x, scale_factor=1e9, mode="bilinear")


def test_interpolate_impossible_output_raises_before_building_tables():
    x = lamina.randn(1, 1, 2, 2)
    with pytest.raises((MemoryError, RuntimeError)):
        F.interpolate(x, size=(2**40, 2**40), mode="nearest")


@pytest.mark.parametrize("mode", ["reflect", "replicate"])
def test_reflect_and_replicate_refuse_an_empty_channel_dim(mode):
    """PyTorch refuses reflect/replicate padding when a dim other than the batch dim is empty
    (found by the differential fuzzer: lamina returned an empty result); a 0-sized batch is fine."""
    with pytest.raises(RuntimeError, match="possibly 0 batch size and other non-zero dimensions"):
        F.pad(lamina.ones(2, 0, 3), (1, 1), mode=mode)
    with pytest.raises(RuntimeError, match="possibly 0 batch size and other non-zero dimensions"):
        F.pad(lamina.ones(1, 0, 2, 3), (1, 1, 1, 1), mode=mode)
    assert tuple(F.pad(lamina.ones(0, 2, 3), (1, 1), mode=mode).shape) == (0, 2, 5)
