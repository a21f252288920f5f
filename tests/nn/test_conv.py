"""Convolutions (conv1d/2d, conv_transpose1d/2d) and unfold/fold against naive numpy references
written here (explicit loops over kernel taps and windows), gradients by finite differences in
float64, thread-count determinism and every ISA level."""

import itertools
import os

import numpy as np
import pytest

import lamina
import lamina.nn.functional as F
from lamina.autograd import gradcheck, gradgradcheck


# ---- naive references ----------------------------------------------------------------------

def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _pads(padding, w_shape, dilation):
    """(top, bottom, left, right) for an int / pair / 'same' / 'valid' padding."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        pads = []
        for k, d in zip(w_shape[2:], dilation):
            total = d * (k - 1)
            pads += [total // 2, total - total // 2]
        return tuple(pads)
    ph, pw = _pair(padding)
    return (ph, ph, pw, pw)


def ref_conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """Sum over kernel taps (a, c) of strided windows of the padded input times the weight."""
    stride, dilation = _pair(stride), _pair(dilation)
    pt, pb, pl, pr = _pads(padding, w.shape, dilation)
    n, _, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    ho = (h + pt + pb - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (wd + pl + pr - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, o, ho, wo), dtype=np.float64)
    og = o // groups
    for g in range(groups):
        xs, ws = xp[:, g * cg:(g + 1) * cg], w[g * og:(g + 1) * og]
        for a in range(kh):
            for c in range(kw):
                r0, c0 = a * dilation[0], c * dilation[1]
                win = xs[:, :, r0:r0 + stride[0] * (ho - 1) + 1:stride[0], c0:c0 + stride[1] * (wo - 1) + 1:stride[1]]
                out[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", win, ws[:, :, a, c])
    if b is not None:
        out += b[None, :, None, None]
    return out


def ref_conv_transpose2d(x, w, b=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Scatters every input pixel times the kernel into the output, then crops the padding."""
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = map(_pair, (stride, padding, output_padding, dilation))
    n, cin, h, wd = x.shape
    _, og, kh, kw = w.shape
    ho = (h - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1
    wo = (wd - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
    full = np.zeros((n, og * groups, (h - 1) * sh + dh * (kh - 1) + 1 + oph, (wd - 1) * sw + dw * (kw - 1) + 1 + opw))
    cg = cin // groups
    for g in range(groups):
        for a in range(kh):
            for c in range(kw):
                contrib = np.einsum("nchw,co->nohw", x[:, g * cg:(g + 1) * cg], w[g * cg:(g + 1) * cg, :, a, c])
                full[:, g * og:(g + 1) * og, a * dh:a * dh + sh * (h - 1) + 1:sh,
                     c * dw:c * dw + sw * (wd - 1) + 1:sw] += contrib
    out = full[:, :, ph:ph + ho, pw:pw + wo]
    if b is not None:
        out = out + b[None, :, None, None]
    return out


def ref_unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    (kh, kw), (dh, dw), (ph, pw), (sh, sw) = map(_pair, (kernel_size, dilation, padding, stride))
    n, c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    bh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    bw = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((n, c, kh, kw, bh, bw))
    for i in range(bh):
        for j in range(bw):
            for a in range(kh):
                for b in range(kw):
                    out[:, :, a, b, i, j] = xp[:, :, i * sh + a * dh, j * sw + b * dw]
    return out.reshape(n, c * kh * kw, bh * bw)


def ref_fold(col, output_size, kernel_size, dilation=1, padding=0, stride=1):
    (h, wd), (kh, kw), (dh, dw), (ph, pw), (sh, sw) = map(_pair, (output_size, kernel_size, dilation, padding, stride))
    n = col.shape[0]
    c = col.shape[1] // (kh * kw)
    bh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    bw = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    blocks = col.reshape(n, c, kh, kw, bh, bw)
    xp = np.zeros((n, c, h + 2 * ph, wd + 2 * pw))
    for i in range(bh):
        for j in range(bw):
            for a in range(kh):
                for b in range(kw):
                    xp[:, :, i * sh + a * dh, j * sw + b * dw] += blocks[:, :, a, b, i, j]
    return xp[:, :, ph:ph + h, pw:pw + wd]


def T(a, requires_grad=False):
    t = lamina.tensor(np.ascontiguousarray(a))
    if requires_grad:
        t.requires_grad_(True)
    return t


def close(actual, expected, dtype):
    tol = 1e-10 if dtype == "float64" else 2e-5
    scale = max(1.0, float(np.abs(expected).max(initial=0.0)))
    np.testing.assert_allclose(actual.detach().numpy().astype(np.float64), expected, rtol=tol * 10, atol=tol * scale * 10)


# ---- forward against the references ------------------------------------------------------------

# (N, C_in, H, W, C_out, kH, kW, stride, padding, dilation, groups, bias)
CONV2D_CASES = [
    (2, 3, 8, 8, 4, 3, 3, 1, 1, 1, 1, True),          # plain 3x3 pad 1
    (1, 4, 7, 9, 6, 3, 2, 2, 1, 1, 2, False),         # odd sizes, stride 2, groups 2
    (2, 3, 10, 7, 5, 3, 3, (2, 1), (0, 2), (2, 1), 1, True),  # per-dim stride/pad/dilation
    (2, 6, 9, 9, 6, 3, 3, 1, 1, 1, 6, True),          # depthwise
    (1, 4, 9, 8, 8, 5, 3, 2, 2, 1, 4, True),          # depthwise, multiplier 2, strided
    (2, 8, 5, 6, 3, 1, 1, 1, 0, 1, 1, True),          # 1x1 stride 1 (no im2col)
    (2, 8, 6, 6, 4, 1, 1, 1, 0, 1, 2, False),         # 1x1 grouped
    (3, 4, 9, 9, 5, 1, 1, 2, 0, 1, 1, True),          # 1x1 stride 2
    (2, 3, 8, 8, 4, 3, 3, 1, "same", 1, 1, True),     # 'same'
    (1, 2, 7, 8, 3, 4, 2, 1, "same", (1, 2), 1, True),  # "same" with an even kernel and dilation
    (2, 3, 6, 6, 4, 3, 3, 1, "valid", 1, 1, False),   # 'valid'
    (1, 3, 1, 9, 2, 1, 3, 1, (0, 1), 1, 1, True),     # size-1 spatial dim
    (1, 2, 1, 1, 3, 1, 1, 1, 0, 1, 1, True),          # 1x1 image
    (2, 2, 3, 3, 2, 3, 3, 1, 2, 1, 1, True),          # padding wider than half the kernel
    (1, 3, 40, 45, 7, 3, 3, 1, 1, 1, 1, True),        # odd large image
    (1, 16, 48, 48, 4, 3, 3, 1, 1, 1, 1, True),       # several column blocks per image (K * L > 1 MiB)
]


@pytest.mark.parametrize("case", CONV2D_CASES, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv2d_matches_reference(case, dtype):
    n, c, h, w, o, kh, kw, stride, padding, dilation, groups, has_bias = case
    rng = np.random.default_rng(1)
    x = rng.standard_normal((n, c, h, w))
    wt = rng.standard_normal((o, c // groups, kh, kw))
    b = rng.standard_normal(o) if has_bias else None
    out = F.conv2d(T(x.astype(dtype)), T(wt.astype(dtype)), None if b is None else T(b.astype(dtype)),
                   stride, padding, dilation, groups)
    assert out.dtype == getattr(lamina, dtype)
    close(out, ref_conv2d(x, wt, b, stride, padding, dilation, groups), dtype)


def test_conv2d_every_isa(isa):
    rng = np.random.default_rng(2)
    for n, c, h, w, o, kh, kw, stride, padding, dilation, groups, has_bias in CONV2D_CASES[:9]:
        x = rng.standard_normal((n, c, h, w)).astype(np.float32)
        wt = rng.standard_normal((o, c // groups, kh, kw)).astype(np.float32)
        b = rng.standard_normal(o).astype(np.float32) if has_bias else None
        out = F.conv2d(T(x), T(wt), None if b is None else T(b), stride, padding, dilation, groups)
        close(out, ref_conv2d(x.astype(np.float64), wt.astype(np.float64),
                              None if b is None else b.astype(np.float64), stride, padding, dilation, groups), "float32")


def test_conv2d_non_contiguous_and_unbatched():
    rng = np.random.default_rng(3)
    base = rng.standard_normal((6, 2, 9, 4))
    x = T(base).permute(1, 0, 3, 2)[:, ::2]            # (2, 3, 4, 9) view, not contiguous
    w = T(rng.standard_normal((3, 5, 3, 2))).transpose(0, 1)  # (5, 3, 3, 2) view
    assert not x.is_contiguous() and not w.is_contiguous()
    expected = ref_conv2d(x.numpy(), w.numpy(), None, 1, 1)
    close(F.conv2d(x, w, None, 1, 1), expected, "float64")
    close(F.conv2d(x[0], w, None, 1, 1), expected[0], "float64")  # (C, H, W)


@pytest.mark.parametrize("case", [(2, 3, 11, 4, 3, 1, 1, 1, 1, True), (1, 4, 9, 6, 2, 1, "same", 2, 2, False),
                                  (2, 4, 8, 4, 3, 2, "valid", 1, 4, True), (1, 6, 5, 3, 1, 1, 0, 1, 3, True)], ids=str)
def test_conv1d_matches_reference(case):
    n, c, length, o, k, stride, padding, dilation, groups, has_bias = case
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((n, c, length)), rng.standard_normal((o, c // groups, k))
    b = rng.standard_normal(o) if has_bias else None
    out = F.conv1d(T(x), T(w), None if b is None else T(b), stride, padding, dilation, groups)
    pad2 = padding if isinstance(padding, str) else (0, padding)
    expected = ref_conv2d(x[:, :, None], w[:, :, None], b, (1, stride), pad2, (1, dilation), groups)[:, :, 0]
    close(out, expected, "float64")
    close(F.conv1d(T(x[0]), T(w), None if b is None else T(b), stride, padding, dilation, groups), expected[0],
          "float64")


# (N, C_in, H, W, C_out, kH, kW, stride, padding, output_padding, groups, dilation, bias)
CONVT_CASES = [
    (2, 3, 5, 5, 4, 3, 3, 1, 0, 0, 1, 1, True),
    (1, 4, 4, 5, 6, 3, 2, 2, 1, 1, 2, 1, False),
    (2, 2, 3, 4, 3, 2, 3, (2, 3), (0, 1), (1, 2), 1, (1, 2), True),
    (1, 4, 4, 4, 4, 3, 3, 2, 1, 0, 4, 1, True),      # depthwise
    (2, 6, 3, 3, 4, 1, 1, 1, 0, 0, 2, 1, True),      # 1x1
    (1, 2, 3, 3, 2, 2, 2, 1, 0, 1, 1, 2, False),     # output_padding < dilation (not < stride)
]


@pytest.mark.parametrize("case", CONVT_CASES, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv_transpose2d_matches_reference(case, dtype):
    n, c, h, w, o, kh, kw, stride, padding, opad, groups, dilation, has_bias = case
    rng = np.random.default_rng(5)
    x = rng.standard_normal((n, c, h, w))
    wt = rng.standard_normal((c, o // groups, kh, kw))
    b = rng.standard_normal(o) if has_bias else None
    out = F.conv_transpose2d(T(x.astype(dtype)), T(wt.astype(dtype)), None if b is None else T(b.astype(dtype)),
                             stride, padding, opad, groups, dilation)
    close(out, ref_conv_transpose2d(x, wt, b, stride, padding, opad, groups, dilation), dtype)


def test_conv_transpose_is_the_adjoint_of_conv():
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((2, 4, 9, 8)), rng.standard_normal((6, 2, 3, 3))
    y = F.conv2d(T(x), T(w), None, 2, 1, 1, 2)
    v = rng.standard_normal(tuple(y.shape))
    xt = F.conv_transpose2d(T(v), T(w), None, 2, 1, (0, 1), 2, 1)
    assert tuple(xt.shape) == x.shape
    np.testing.assert_allclose(np.sum(y.numpy() * v), np.sum(x * xt.numpy()), rtol=1e-12)


def test_conv_transpose1d_matches_reference():
    rng = np.random.default_rng(7)
    x, w, b = rng.standard_normal((2, 4, 6)), rng.standard_normal((4, 3, 3)), rng.standard_normal(6)
    out = F.conv_transpose1d(T(x), T(w), T(b), 2, 1, 1, 2, 1)
    expected = ref_conv_transpose2d(x[:, :, None], w[:, :, None], b, (1, 2), (0, 1), (0, 1), 2, 1)[:, :, 0]
    close(out, expected, "float64")
    close(F.conv_transpose1d(T(x[1]), T(w), T(b), 2, 1, 1, 2, 1), expected[1], "float64")


# ---- unfold / fold ------------------------------------------------------------------------------

UNFOLD_CASES = [((2, 3, 6, 7), 3, 1, 0, 1), ((1, 2, 8, 5), (2, 3), (2, 1), (1, 2), (2, 1)), ((2, 1, 4, 4), 1, 1, 0, 2),
                ((1, 2, 5, 5), 2, 1, 1, 3)]


@pytest.mark.parametrize("case", UNFOLD_CASES, ids=str)
def test_unfold_fold_match_reference(case):
    shape, k, d, p, s = case
    rng = np.random.default_rng(8)
    x = rng.standard_normal(shape)
    col = F.unfold(T(x), k, d, p, s)
    close(col, ref_unfold(x, k, d, p, s), "float64")
    close(F.unfold(T(x[0]), k, d, p, s), ref_unfold(x, k, d, p, s)[0], "float64")
    c = rng.standard_normal(tuple(col.shape))
    close(F.fold(T(c), shape[2:], k, d, p, s), ref_fold(c, shape[2:], k, d, p, s), "float64")
    close(F.fold(T(c[0]), shape[2:], k, d, p, s), ref_fold(c, shape[2:], k, d, p, s)[0], "float64")


def test_unfold_fold_gradients():
    rng = np.random.default_rng(9)
    x = T(rng.standard_normal((1, 2, 4, 5)), True)
    assert gradcheck(lambda t: F.unfold(t, (2, 3), 1, 1, (2, 1)), (x,))
    assert gradgradcheck(lambda t: F.unfold(t, (2, 3), 1, 1, (2, 1)) ** 2, (x,))
    col = T(rng.standard_normal((1, 8, 6)), True)
    assert gradcheck(lambda t: F.fold(t, (3, 4), 2, 1, 0, 1), (col,))
    assert F.unfold(x, 2).grad_fn.name() == "Im2ColBackward0"


# ---- gradients ----------------------------------------------------------------------------------

GRAD_CASES = [  # (x shape, w shape, stride, padding, dilation, groups, bias)
    ((2, 2, 4, 5), (3, 2, 3, 2), 1, 1, 1, 1, True),
    ((1, 4, 5, 5), (4, 2, 3, 3), 2, (1, 0), (1, 2), 2, False),
    ((1, 3, 5, 4), (6, 1, 3, 3), 1, 1, 1, 3, True),      # depthwise, multiplier 2
    ((2, 3, 3, 3), (2, 3, 1, 1), 1, 0, 1, 1, True),      # 1x1
    ((1, 2, 4, 4), (2, 2, 2, 3), 1, "same", 1, 1, True),
    ((1, 8, 4, 4), (8, 8, 3, 3), 1, 1, 1, 1, True),              # implicit GEMM, flat runs
    ((1, 16, 5, 6), (16, 8, 3, 3), (2, 1), 1, (1, 2), 2, False),  # implicit GEMM, row runs, groups
]


@pytest.mark.parametrize("case", GRAD_CASES, ids=str)
def test_conv2d_gradcheck(case):
    xs, ws, stride, padding, dilation, groups, has_bias = case
    rng = np.random.default_rng(10)
    inputs = [T(rng.standard_normal(xs), True), T(rng.standard_normal(ws), True)]
    if has_bias:
        inputs.append(T(rng.standard_normal(ws[0]), True))

    def f(x, w, b=None):
        return F.conv2d(x, w, b, stride, padding, dilation, groups)
    assert gradcheck(f, inputs)


def test_conv2d_gradgradcheck():
    rng = np.random.default_rng(11)
    x, w = T(rng.standard_normal((1, 2, 4, 4)), True), T(rng.standard_normal((2, 1, 2, 3)), True)
    b = T(rng.standard_normal(2), True)
    assert gradgradcheck(lambda x, w, b: F.conv2d(x, w, b, (2, 1), 1, 1, 2), (x, w, b))
    y = F.conv2d(x, w, b, 1, 1, 1, 2)
    assert y.grad_fn.name() == "ConvolutionBackward0"
    # A shape on the implicit-GEMM path (k = 72, 8 output channels), stride 1: the input
    # gradient is itself the flipped conv there.
    x, w = T(rng.standard_normal((1, 8, 4, 4)), True), T(rng.standard_normal((8, 8, 3, 3)), True)
    assert gradgradcheck(lambda x, w: F.conv2d(x, w, None, 1, 1), (x, w))


def test_conv_transpose_gradcheck():
    rng = np.random.default_rng(12)
    x, w, b = (T(rng.standard_normal(s), True) for s in [(1, 4, 3, 3), (4, 1, 3, 2), (2,)])
    assert gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, 2, 1, (1, 0), 2, 1), (x, w, b))
    assert gradgradcheck(lambda x, w: F.conv_transpose2d(x, w, None, 2, 1, 1, 2, 1), (x, w))
    x1, w1 = T(rng.standard_normal((2, 2, 4)), True), T(rng.standard_normal((2, 3, 2)), True)
    assert gradcheck(lambda x, w: F.conv_transpose1d(x, w, None, 2, 0, 1, 1, 1), (x1, w1))


def test_conv1d_gradcheck():
    rng = np.random.default_rng(13)
    x, w, b = (T(rng.standard_normal(s), True) for s in [(2, 2, 6), (3, 2, 3), (3,)])
    assert gradcheck(lambda x, w, b: F.conv1d(x, w, b, 2, 1, 2, 1), (x, w, b))
    assert gradcheck(lambda x, w, b: F.conv1d(x, w, b, 1, "same", 1, 1), (x, w, b))


def test_conv2d_gradients_on_larger_shapes():
    """First-order gradients of a bigger float32 conv against the references (adjoint formulas)."""
    rng = np.random.default_rng(14)
    xs, ws = (3, 8, 21, 19), (12, 4, 3, 3)
    x, w, b = (T(rng.standard_normal(s).astype(np.float32), True) for s in [xs, ws, (12,)])
    y = F.conv2d(x, w, b, (2, 1), 1, (1, 2), 2)
    g = rng.standard_normal(tuple(y.shape))
    y.backward(T(g.astype(np.float32)))
    x64, w64 = x.detach().numpy().astype(np.float64), w.detach().numpy().astype(np.float64)
    gx = ref_conv_transpose2d(g, w64, None, (2, 1), 1, (0, 0), 2, (1, 2))
    gx = np.pad(gx, ((0, 0), (0, 0), (0, xs[2] - gx.shape[2]), (0, xs[3] - gx.shape[3])))
    close(x.grad, gx, "float32")
    xp = np.pad(x64, ((0, 0), (0, 0), (1, 1), (1, 1)))
    gw = np.zeros(ws)
    for gi in range(2):
        for a in range(3):
            for c in range(3):
                win = xp[:, gi * 4:(gi + 1) * 4, a:a + 2 * (y.shape[2] - 1) + 1:2, 2 * c:2 * c + y.shape[3]]
                gw[gi * 6:(gi + 1) * 6, :, a, c] = np.einsum("nchw,nohw->oc", win, g[:, gi * 6:(gi + 1) * 6])
    close(w.grad, gw, "float32")
    close(b.grad, g.sum(axis=(0, 2, 3)), "float32")


def test_conv2d_gradients_across_column_blocks():
    """Input and weight gradients when an image's column matrix is split into several blocks."""
    rng = np.random.default_rng(17)
    xa, wa = rng.standard_normal((2, 16, 48, 48)), rng.standard_normal((4, 16, 3, 3))
    x, w = T(xa, True), T(wa, True)
    y = F.conv2d(x, w, None, 1, 1)
    g = rng.standard_normal(tuple(y.shape))
    y.backward(T(g))
    close(x.grad, ref_conv_transpose2d(g, wa, None, 1, 1), "float64")
    xp = np.pad(xa, ((0, 0), (0, 0), (1, 1), (1, 1)))
    gw = np.zeros(wa.shape)
    for a in range(3):
        for c in range(3):
            gw[:, :, a, c] = np.einsum("nchw,nohw->oc", xp[:, :, a:a + 48, c:c + 48], g)
    close(w.grad, gw, "float64")


def test_conv2d_weight_gradient_with_several_images_per_gemm():
    """Small images with a big weight on the im2col path (a strided 1x1 kernel: the implicit
    GEMM takes the 3x3 ones): the weight gradient sums several images per gemm call."""
    rng = np.random.default_rng(18)
    xa, wa = rng.standard_normal((8, 512, 4, 4)), rng.standard_normal((512, 512, 1, 1))
    w = T(wa, True)
    y = F.conv2d(T(xa), w, None, 2, 0)
    g = rng.standard_normal(tuple(y.shape))
    y.backward(T(g))
    gw = np.einsum("nchw,nohw->oc", xa[:, :, ::2, ::2], g)[:, :, None, None]
    close(w.grad, gw, "float64")



@pytest.mark.parametrize("padding,dilation,groups,kernel", [
    (1, 1, 1, (3, 3)), (0, 1, 1, (3, 3)), (2, 2, 2, (3, 3)), ("same", 1, 1, (3, 2)), ("same", (2, 1), 1, (2, 4)),
    ((0, 1), 1, 2, (1, 3)), (3, 1, 1, (5, 5))])
def test_conv2d_stride1_wide_rows(padding, dilation, groups, kernel, isa):
    # Stride-1 shapes with 16 channels per group and rows wider than a panel: the implicit GEMM
    # packs whole output rows (or images) per run; the bias rides in the tile stores.
    rng = np.random.default_rng(21)
    x = rng.standard_normal((4, 16 * groups, 17, 33))
    w = rng.standard_normal((8 * groups, 16, *kernel))
    b = rng.standard_normal(8 * groups)
    ref = ref_conv2d(x, w, b, 1, padding, dilation, groups)
    for dtype, name in ((np.float64, "float64"), (np.float32, "float32")):
        y = F.conv2d(T(x.astype(dtype)), T(w.astype(dtype)), T(b.astype(dtype)), 1, padding, dilation, groups)
        close(y, ref, name)


# ---- implicit GEMM (AVX-512: k = C_in / groups * kH * kW >= 64, unit column stride) ---------------

# (N, C_in, H, W, C_out, kH, kW, stride, padding, dilation, groups): flat runs need stride 1,
# in_w == out_w and H_out * W_out a multiple of 16; the others pack output row by output row.
IMPLICIT_CASES = [
    (2, 8, 8, 8, 16, 3, 3, 1, 1, 1, 1),               # flat, one k slice
    (1, 96, 8, 8, 16, 3, 3, 1, 1, 1, 1),              # flat, two k slices (k = 864)
    (3, 80, 6, 6, 24, 3, 3, 1, 1, 1, 1),              # rows (L = 36), k = 720: one slice
    (2, 8, 9, 11, 10, 3, 3, 1, 0, 1, 1),              # rows (in_w != out_w); 10 channels: 14-row tiles
    (2, 8, 9, 10, 8, 3, 3, (2, 1), 1, 1, 1),          # stride 2 down the rows
    (2, 16, 10, 12, 12, 3, 3, 1, 2, 2, 2),            # dilation 2, groups 2
    (2, 8, 7, 9, 6, 4, 2, 1, "same", (1, 2), 1),      # even kernel, 'same' (asymmetric padding)
    (1, 8, 4, 80, 8, 3, 3, 1, 1, 1, 1),               # flat, long rows (20 vectors per image row)
    (1, 8, 3, 100, 9, 3, 3, 1, 1, 1, 1),              # rows of 100 columns
    (5, 8, 7, 5, 8, 5, 5, 1, 2, 1, 1),                # blocks across images, N not a panel multiple
    (2, 8, 6, 6, 8, 3, 3, 1, 3, 1, 1),                # padding wider than the kernel: empty taps
]


def ref_conv2d_grads(x, w, g, stride=1, padding=0, dilation=1, groups=1):
    """Input and weight gradients of ref_conv2d for the output gradient g: every tap's strided
    window of the padded input meets g (weight) and scatters g back (input)."""
    stride, dilation = _pair(stride), _pair(dilation)
    pt, pb, pl, pr = _pads(padding, w.shape, dilation)
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    gxp, gw = np.zeros_like(xp), np.zeros_like(w)
    o, cg, kh, kw = w.shape
    ho, wo = g.shape[2:]
    og = o // groups
    for gi in range(groups):
        cs, os_ = slice(gi * cg, (gi + 1) * cg), slice(gi * og, (gi + 1) * og)
        for a in range(kh):
            for c in range(kw):
                r0, c0 = a * dilation[0], c * dilation[1]
                rows, cols = slice(r0, r0 + stride[0] * (ho - 1) + 1, stride[0]), slice(c0, c0 + stride[1] * (wo - 1) + 1, stride[1])
                gw[os_, :, a, c] = np.einsum("nchw,nohw->oc", xp[:, cs, rows, cols], g[:, os_])
                gxp[:, cs, rows, cols] += np.einsum("nohw,oc->nchw", g[:, os_], w[os_, :, a, c])
    return gxp[:, :, pt:pt + x.shape[2], pl:pl + x.shape[3]], gw


@pytest.mark.parametrize("case", IMPLICIT_CASES, ids=str)
def test_conv2d_implicit_gemm_forward_and_gradients(case, isa):
    """Forward, input gradient (stride 1: itself a convolution on the same path) and weight
    gradient of shapes that the implicit GEMM takes, in float64 and float32, on every ISA."""
    n, c, h, w, o, kh, kw, stride, padding, dilation, groups = case
    rng = np.random.default_rng(30)
    xa = rng.standard_normal((n, c, h, w))
    wa = rng.standard_normal((o, c // groups, kh, kw)) / np.sqrt(c // groups * kh * kw)
    ba = rng.standard_normal(o)
    ref = ref_conv2d(xa, wa, ba, stride, padding, dilation, groups)
    g = rng.standard_normal(ref.shape)
    gx, gw = ref_conv2d_grads(xa, wa, g, stride, padding, dilation, groups)
    for dtype in ("float64", "float32"):
        x, wt, b = T(xa.astype(dtype), True), T(wa.astype(dtype), True), T(ba.astype(dtype), True)
        y = F.conv2d(x, wt, b, stride, padding, dilation, groups)
        close(y, ref, dtype)
        y.backward(T(g.astype(dtype)))
        close(x.grad, gx, dtype)
        close(wt.grad, gw, dtype)
        close(b.grad, g.sum(axis=(0, 2, 3)), dtype)


def test_conv_transpose2d_stride1_output_padding_on_the_implicit_path():
    # conv_transpose2d runs the input-gradient kernel; with stride 1 and output_padding < dilation
    # the flipped conv has one more output row and column than its padding gives.
    rng = np.random.default_rng(31)
    x, w, b = rng.standard_normal((2, 16, 7, 6)), rng.standard_normal((16, 6, 3, 3)), rng.standard_normal(6)
    for dtype in ("float64", "float32"):
        y = F.conv_transpose2d(T(x.astype(dtype)), T(w.astype(dtype)), T(b.astype(dtype)), 1, 1, 1, 1, 2)
        close(y, ref_conv_transpose2d(x, w, b, 1, 1, 1, 1, 2), dtype)


# ---- determinism ------------------------------------------------------------------------------

DET_CASES = [((4, 16, 20, 20), (24, 16, 3, 3), 1, 1, 1), ((1, 8, 37, 29), (8, 8, 3, 3), 1, 1, 1),
             ((3, 12, 15, 15), (12, 1, 3, 3), 2, 1, 12), ((2, 32, 12, 12), (48, 32, 1, 1), 1, 0, 1),
             ((2, 16, 14, 14), (32, 16, 1, 1), 2, 0, 1), ((8, 128, 4, 4), (128, 128, 3, 3), 1, 1, 1),
             ((3, 96, 8, 8), (20, 96, 3, 3), 1, 1, 1), ((5, 8, 7, 9), (10, 8, 3, 3), (2, 1), 1, 1)]


@pytest.mark.parametrize("case", DET_CASES, ids=str)
def test_same_bytes_for_any_thread_count(case, isa, threads):
    xs, ws, stride, padding, groups = case
    rng = np.random.default_rng(15)
    xa, wa = rng.standard_normal(xs).astype(np.float32), rng.standard_normal(ws).astype(np.float32)
    ba = rng.standard_normal(ws[0]).astype(np.float32)
    results = []
    for n in (1, 2, 3):
        threads(n)
        x, w, b = T(xa, True), T(wa, True), T(ba, True)
        y = F.conv2d(x, w, b, stride, padding, 1, groups)
        y.backward(T(np.cos(np.arange(y.numel(), dtype=np.float32)).reshape(tuple(y.shape))))
        results.append([t.numpy().tobytes() for t in (y.detach(), x.grad, w.grad, b.grad)])
    assert results[0] == results[1] == results[2]


# ---- errors -------------------------------------------------------------------------------------

def test_conv_errors():
    x, w = lamina.zeros(2, 4, 8, 8), lamina.zeros(6, 3, 3, 3)
    with pytest.raises(RuntimeError, match=r"conv2d: .*expected input \(N, C, H, W\) with C = 3 channels, "
                                           r"got \(2, 4, 8, 8\)"):
        F.conv2d(x, w)
    with pytest.raises(RuntimeError, match=r"conv2d: given groups=4, expected weight to be divisible by 4"):
        F.conv2d(x, lamina.zeros(6, 1, 3, 3), groups=4)
    with pytest.raises(RuntimeError, match=r"conv2d: expected 3-d \(unbatched\) or 4-d"):
        F.conv2d(lamina.zeros(4, 8), w)
    with pytest.raises(RuntimeError, match=r"conv2d: expected a 4-d weight"):
        F.conv2d(x, lamina.zeros(6, 4, 3))
    with pytest.raises(RuntimeError, match=r"conv2d: calculated padded input size"):
        F.conv2d(lamina.zeros(1, 3, 2, 2), w)
    with pytest.raises(RuntimeError, match=r"conv2d: non-positive stride"):
        F.conv2d(lamina.zeros(1, 3, 5, 5), w, stride=0)
    with pytest.raises(RuntimeError, match=r"conv2d: negative padding"):
        F.conv2d(lamina.zeros(1, 3, 5, 5), w, padding=-1)
    with pytest.raises(RuntimeError, match=r"conv2d: dilation should be greater than zero"):
        F.conv2d(lamina.zeros(1, 3, 5, 5), w, dilation=(1, 0))
    with pytest.raises(RuntimeError, match=r"conv2d: non-positive groups"):
        F.conv2d(lamina.zeros(1, 3, 5, 5), w, groups=0)
    with pytest.raises(RuntimeError, match=r"conv2d: expected stride to be a single integer value or a list of 2"):
        F.conv2d(lamina.zeros(1, 3, 5, 5), w, stride=(1, 1, 1))
    with pytest.raises(RuntimeError, match=r"conv2d: .*expected bias to be 1-d with 6 elements"):
        F.conv2d(lamina.zeros(1, 3, 5, 5), w, lamina.zeros(5))
    with pytest.raises(RuntimeError, match=r"conv2d: padding='same' is not supported for strided"):
        F.conv2d(lamina.zeros(1, 3, 5, 5), w, stride=2, padding="same")
    with pytest.raises(ValueError, match=r"conv2d: invalid padding string 'full'"):
        F.conv2d(lamina.zeros(1, 3, 5, 5), w, padding="full")
    with pytest.raises(RuntimeError, match=r"conv2d: input dtype float64 and weight dtype float32"):
        F.conv2d(lamina.zeros(1, 3, 5, 5, dtype=lamina.float64), w)
    with pytest.raises(RuntimeError, match=r"conv2d: expected a float32 or float64 input, got int64"):
        F.conv2d(lamina.zeros(1, 3, 5, 5, dtype=lamina.int64), w)
    with pytest.raises(RuntimeError, match=r"conv1d: .*expected input \(N, C, L\) with C = 2 channels"):
        F.conv1d(lamina.zeros(1, 3, 5), lamina.zeros(4, 2, 3))
    with pytest.raises(RuntimeError, match=r"conv_transpose2d: output padding must be smaller than either stride or "
                                           r"dilation"):
        F.conv_transpose2d(lamina.zeros(1, 6, 4, 4), w, output_padding=1)
    with pytest.raises(RuntimeError, match=r"conv_transpose2d: given weight of shape \(6, 3, 3, 3\), expected input "
                                           r"\(N, C, H, W\) with C = 6 channels, got \(1, 5, 4, 4\)"):
        F.conv_transpose2d(lamina.zeros(1, 5, 4, 4), w)
    with pytest.raises(RuntimeError, match=r"conv_transpose2d: .*output size \(-1, -1\) is too small"):
        F.conv_transpose2d(lamina.zeros(1, 6, 1, 1), w, padding=2)
    with pytest.raises(RuntimeError, match=r"unfold: .*sliding blocks \(0, 0\) must be at least \(1, 1\)"):
        F.unfold(lamina.zeros(1, 2, 2, 2), 3)
    with pytest.raises(RuntimeError, match=r"fold: expected size of input's dimension 1 to be divisible"):
        F.fold(lamina.zeros(1, 5, 4), (3, 3), 2)
    with pytest.raises(RuntimeError, match=r"fold: .*calculated number of sliding blocks 2 \* 2 = 4"):
        F.fold(lamina.zeros(1, 8, 5), (3, 3), 2)
    with pytest.raises(TypeError):
        F.conv2d(x, "w")



_HUGE_SCRATCH = """
import lamina, lamina.nn.functional as F
lamina.set_num_threads({threads})
# Padding and dilation of 2**40 columns leave a (1, 2, 1, 1) output, but the depthwise kernel's
# padded row would take 2**41 floats per thread: the scratch allocation fails inside the tasks.
P = 1 << 40
x = lamina.randn(1, 2, 1, 1, requires_grad=True)
w = lamina.randn(2, 1, 1, 2)
for name, f in [("conv2d", F.conv2d), ("conv_transpose2d", F.conv_transpose2d)]:
    try:
        f(x, w, padding=(0, P), dilation=(1, 2 * P), groups=2)  # conv_transpose2d: the input-grad kernel
        print(name, "no error")
    except MemoryError:
        print(name, "MemoryError")
"""


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_scratch_allocation_failure_raises_memory_error(threads):
    # In a child process: before the fix a bad_alloc on a worker thread terminated the process.
    import subprocess
    import sys
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.run([sys.executable, "-c", _HUGE_SCRATCH.format(threads=threads)], capture_output=True,
                          text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["conv2d", "MemoryError", "conv_transpose2d", "MemoryError"]


def test_empty_batch_and_zero_size():
    w = lamina.ones(4, 3, 3, 3, requires_grad=True)
    x = lamina.zeros(0, 3, 5, 5, requires_grad=True)
    y = F.conv2d(x, w, None, 1, 1)
    assert tuple(y.shape) == (0, 4, 5, 5)
    y.sum().backward()
    assert tuple(x.grad.shape) == (0, 3, 5, 5) and float(w.grad.abs().sum()) == 0.0


def test_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(16)
    for stride, padding, dilation, groups in itertools.product((1, 2), (0, 1, "same"), (1, 2), (1, 2)):
        if padding == "same" and stride != 1:
            continue
        x, w, b = rng.standard_normal((2, 4, 9, 8)), rng.standard_normal((6, 4 // groups, 3, 2)), rng.standard_normal(6)
        ref = torch.nn.functional.conv2d(*map(torch.from_numpy, (x, w, b)), stride=stride, padding=padding,
                                         dilation=dilation, groups=groups).numpy()
        close(F.conv2d(T(x), T(w), T(b), stride, padding, dilation, groups), ref, "float64")


def test_unfold_refuses_an_empty_channel_or_spatial_dim():
    """As PyTorch (found by the differential fuzzer: lamina returned the padding's zeros); an empty
    batch is fine."""
    for shape in [(1, 3, 2, 0), (1, 0, 2, 2), (3, 0, 2)]:
        with pytest.raises(RuntimeError, match="possibly 0 batch size and other non-zero dimensions"):
            F.unfold(lamina.zeros(shape), kernel_size=2, padding=1)
    assert tuple(F.unfold(lamina.zeros(0, 3, 2, 2), kernel_size=2, padding=1).shape) == (0, 12, 9)


def test_conv_refuses_empty_spatial_inputs_and_weights_without_output_channels():
    """As PyTorch (found by the differential fuzzer: lamina returned empty results)."""
    with pytest.raises(RuntimeError, match="expected weight to be at least 1 at dimension 0"):
        F.conv1d(lamina.zeros(1, 2, 4), lamina.zeros(0, 2, 1))
    with pytest.raises(RuntimeError, match="only zero batch or zero channel inputs are supported"):
        F.conv2d(lamina.zeros(1, 5, 2, 0), lamina.zeros(3, 5, 1, 1), padding=1)
    assert tuple(F.conv2d(lamina.zeros(0, 5, 2, 2), lamina.zeros(3, 5, 1, 1)).shape) == (0, 3, 2, 2)

