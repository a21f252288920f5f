"""Losses: cross_entropy (class indices with weight / ignore_index / label_smoothing, probability
targets, (N, C), (N, C, d1, d2) and unbatched inputs), nll_loss and the composite losses, against
numpy references; gradients by finite differences in float64; determinism of the fused kernel;
errors naming the op and shapes."""

import math

import numpy as np
import pytest

import lamina
import lamina.nn.functional as F
from lamina.autograd import gradcheck, gradgradcheck


def rng(seed=0):
    return np.random.default_rng(seed)


def np_log_softmax(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def np_reduce(loss, reduction, divisor=None):
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / (loss.size if divisor is None else divisor)


def np_nll(logp, target, weight, ignore_index, reduction):
    """logp (N, C, *) float64, target (N, *)."""
    c = logp.shape[1]
    w = np.ones(c) if weight is None else weight.astype(np.float64)
    valid = target != ignore_index
    safe = np.where(valid, target, 0)
    picked = np.take_along_axis(logp, safe[:, None], axis=1)[:, 0]
    wt = w[safe] * valid
    return np_reduce(-picked * wt, reduction, wt.sum())


def np_cross_entropy(x, target, weight=None, ignore_index=-100, reduction="mean", ls=0.0):
    unbatched = x.ndim == 1
    if unbatched:
        x, target = x[None], np.asarray(target)[None]
    x = x.astype(np.float64)
    logp = np_log_softmax(x, 1)
    c = x.shape[1]
    w = np.ones(c) if weight is None else weight.astype(np.float64)
    wshape = (1, c) + (1,) * (x.ndim - 2)
    if target.dtype.kind == "f":  # probabilities
        q = target * (1 - ls) + ls / c
        loss = -(logp * q * w.reshape(wshape)).sum(axis=1)
        out = np_reduce(loss, reduction, loss.size)
    else:
        valid = target != ignore_index
        nll = np_nll(logp, target, weight, ignore_index, "none")
        smooth = -(logp * w.reshape(wshape)).sum(axis=1) * valid
        loss = (1 - ls) * nll + ls / c * smooth
        out = np_reduce(loss, reduction, (w[np.where(valid, target, 0)] * valid).sum())
    return out[0] if unbatched and reduction == "none" else out


def targets(shape, c, seed, ignore=None):
    t = rng(seed).integers(0, c, size=shape)
    if ignore is not None:
        t[rng(seed + 1).random(shape) < 0.3] = ignore
    return t


CE_SHAPES = [(5, 4), (3, 4, 2, 3), (6,), (1, 1), (7, 133), (2, 5, 40)]


@pytest.mark.parametrize("shape", CE_SHAPES, ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ls", [0.0, 0.2])
def test_cross_entropy_class_indices_match_numpy(shape, reduction, weighted, ls, isa):
    c = shape[1] if len(shape) > 1 else shape[0]
    x = rng(1).normal(0, 2, size=shape).astype(np.float32)
    tshape = (shape[0],) + shape[2:] if len(shape) > 1 else ()
    tg = targets(tshape, c, 2, ignore=-100 if len(shape) > 1 else None)
    w = rng(3).uniform(0.5, 2, size=c).astype(np.float32) if weighted else None
    out = F.cross_entropy(lamina.tensor(x), lamina.tensor(tg), None if w is None else lamina.tensor(w),
                          reduction=reduction, label_smoothing=ls)
    expected = np_cross_entropy(x, tg, w, -100, reduction, ls)
    assert tuple(out.shape) == np.shape(expected)
    np.testing.assert_allclose(out.numpy(), expected, rtol=2e-5, atol=2e-6)


def test_cross_entropy_custom_ignore_index_and_all_ignored():
    x = rng(4).normal(size=(4, 3)).astype(np.float32)
    tg = np.array([0, 2, 2, 1])
    out = F.cross_entropy(lamina.tensor(x), lamina.tensor(tg), ignore_index=2)
    np.testing.assert_allclose(out.numpy(), np_cross_entropy(x, tg, ignore_index=2), rtol=1e-5)
    all_ignored = F.cross_entropy(lamina.tensor(x), lamina.tensor(np.full(4, -100)))
    assert np.isnan(all_ignored.item())


@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4), (4,)], ids=str)
@pytest.mark.parametrize("ls", [0.0, 0.1])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_probability_targets(shape, ls, reduction):
    x = rng(5).normal(size=shape)
    q = rng(6).random(size=shape)
    q /= q.sum(axis=0 if len(shape) == 1 else 1, keepdims=True)
    w = rng(7).uniform(0.5, 2, size=shape[1] if len(shape) > 1 else shape[0])
    out = F.cross_entropy(lamina.tensor(x), lamina.tensor(q), lamina.tensor(w), reduction=reduction,
                          label_smoothing=ls)
    np.testing.assert_allclose(out.numpy(), np_cross_entropy(x, q, w, reduction=reduction, ls=ls), rtol=1e-12)


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 2), (5,)], ids=str)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ls", [0.0, 0.3])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_cross_entropy_gradcheck(shape, weighted, ls, reduction):
    c = shape[1] if len(shape) > 1 else shape[0]
    x = lamina.tensor(rng(8).normal(size=shape)).requires_grad_(True)
    tshape = (shape[0],) + shape[2:] if len(shape) > 1 else ()
    tg = lamina.tensor(targets(tshape, c, 9, ignore=-100 if len(shape) > 1 else None))
    w = lamina.tensor(rng(10).uniform(0.5, 2, size=c)) if weighted else None

    def fn(x):
        return F.cross_entropy(x, tg, w, reduction=reduction, label_smoothing=ls)

    assert gradcheck(fn, (x,))
    assert gradgradcheck(fn, (x,))


def test_cross_entropy_probability_target_gradients():
    x = lamina.tensor(rng(11).normal(size=(3, 4))).requires_grad_(True)
    q = lamina.tensor(rng(12).random(size=(3, 4))).requires_grad_(True)
    assert gradcheck(lambda x, q: F.cross_entropy(x, q, label_smoothing=0.1), (x, q))


def test_cross_entropy_same_bytes_for_any_thread_count(isa, threads):
    x0 = lamina.tensor(rng(13).normal(size=(4096, 37)).astype(np.float32))
    tg = lamina.tensor(targets((4096,), 37, 14, ignore=-100))
    x1 = lamina.tensor(rng(15).normal(size=(16, 10, 2049)).astype(np.float32))
    t1 = lamina.tensor(targets((16, 2049), 10, 16))
    results = []
    for n in (1, 2, 3):
        threads(n)
        res = []
        for x_, t_ in ((x0, tg), (x1, t1)):
            x = x_.detach().requires_grad_(True)
            loss = F.cross_entropy(x, t_, label_smoothing=0.1)
            loss.backward()
            res += [loss.detach().numpy().tobytes(), x.grad.numpy().tobytes()]
        results.append(res)
    assert results[0] == results[1] == results[2]


def test_cross_entropy_errors():
    with pytest.raises(RuntimeError, match=r"cross_entropy: target \(4,\) does not match input \(3, 10\)"):
        F.cross_entropy(lamina.randn(3, 10), lamina.tensor([1, 2, 3, 4]))
    with pytest.raises(IndexError, match="cross_entropy: target 10 is out of bounds"):
        F.cross_entropy(lamina.randn(3, 10), lamina.tensor([1, 10, 3]))
    with pytest.raises(IndexError, match="target -1 is out of bounds"):
        F.cross_entropy(lamina.randn(3, 10), lamina.tensor([1, -1, 3]))
    with pytest.raises(ValueError, match="is not a valid value for reduction"):
        F.cross_entropy(lamina.randn(3, 10), lamina.tensor([1, 2, 3]), reduction="avg")
    with pytest.raises(RuntimeError, match=r"weight \(4,\) does not match the number of classes 10"):
        F.cross_entropy(lamina.randn(3, 10), lamina.tensor([1, 2, 3]), lamina.ones(4))
    with pytest.raises(RuntimeError, match="label_smoothing must be between 0.0 and 1.0"):
        F.cross_entropy(lamina.randn(3, 10), lamina.tensor([1, 2, 3]), label_smoothing=1.5)
    with pytest.raises(RuntimeError, match="int64 class-index target"):
        F.cross_entropy(lamina.randn(3, 10), lamina.tensor([1, 2, 3], dtype=lamina.int32))


# ---- nll_loss -----------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(5, 4), (3, 4, 2, 3)], ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss_matches_numpy(shape, reduction, weighted):
    c = shape[1]
    logp = np_log_softmax(rng(17).normal(size=shape), 1)
    tg = targets((shape[0],) + shape[2:], c, 18, ignore=-100)
    w = rng(19).uniform(0.5, 2, size=c) if weighted else None
    out = F.nll_loss(lamina.tensor(logp), lamina.tensor(tg), None if w is None else lamina.tensor(w),
                     reduction=reduction)
    np.testing.assert_allclose(out.numpy(), np_nll(logp, tg, w, -100, reduction), rtol=1e-12)
    x = lamina.tensor(logp).requires_grad_(True)
    assert gradcheck(lambda x: F.nll_loss(x, lamina.tensor(tg), reduction=reduction), (x,))


def test_nll_and_cross_entropy_with_nothing_to_average():
    """Found by the differential fuzzer; the expected values are PyTorch 2.13's. An ignored sample
    adds exactly 0 and gets exactly 0 gradient (even with an infinite input or a mean over no
    weight); with every weight 0 the mean is NaN, label smoothing included."""
    x = lamina.tensor([[np.inf, 1.0, 2.0], [0.5, 1.0, 2.0]], dtype=lamina.float64).requires_grad_(True)
    loss = F.nll_loss(x, lamina.tensor([-100, 1]))
    loss.backward()
    assert loss.item() == -1.0
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0, 0], [0, -1, 0]])
    x.grad = None
    loss = F.nll_loss(x, lamina.tensor([-100, -100]))
    loss.backward()
    assert np.isnan(loss.item())
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((2, 3)))
    z = lamina.tensor([[0.3, 1.0, 2.0], [0.5, 1.0, 2.0]], dtype=lamina.float64).requires_grad_(True)
    weight = lamina.tensor([1.0, 0.0, 1.0], dtype=lamina.float64)
    loss = F.cross_entropy(z, lamina.tensor([1, 1]), weight=weight, label_smoothing=0.2)
    loss.backward()
    assert np.isnan(loss.item()) and np.isnan(z.grad.numpy()).all()


def test_cross_entropy_ignored_samples_and_infinite_weights_get_zero_gradient():
    """Found by the differential fuzzer; the expected values are PyTorch 2.13's: an ignored sample's
    gradient is 0 (not 0 * inf = NaN) with an infinite class weight, an infinite mean factor or
    label smoothing, on both the fused path and the create_graph composite."""
    cases = [(dict(weight=[np.inf, 1.0, 3.0]), "none"), (dict(label_smoothing=0.1), "mean"),
             (dict(weight=[np.inf, 1.0, 3.0], label_smoothing=0.0), "sum")]
    for kw, reduction in cases:
        for create_graph in (False, True):
            x = lamina.tensor([[0.3, 1.0, 2.0]], dtype=lamina.float64).requires_grad_(True)
            if "weight" in kw:
                kw = dict(kw, weight=lamina.tensor(kw["weight"], dtype=lamina.float64))
            loss = F.cross_entropy(x, lamina.tensor([-100]), reduction=reduction, **kw)
            (g,) = lamina.autograd.grad(loss.sum(), x, create_graph=create_graph)
            np.testing.assert_array_equal(g.detach().numpy(), [[0.0, 0.0, 0.0]], err_msg=f"{kw} {reduction}")


def test_nll_loss_errors():
    with pytest.raises(IndexError, match="nll_loss: target 5 is out of bounds"):
        F.nll_loss(lamina.randn(2, 5), lamina.tensor([0, 5]))
    with pytest.raises(RuntimeError, match=r"nll_loss: target \(2, 2\) does not match input \(2, 5\)"):
        F.nll_loss(lamina.randn(2, 5), lamina.tensor([[0, 1], [1, 0]]))


# ---- composite losses ---------------------------------------------------------------------------

def _pair(shape=(4, 5), seed=20):
    return rng(seed).normal(size=shape), rng(seed + 1).normal(size=shape)


def _huber(d, delta):
    a = np.abs(d)
    return np.where(a < delta, 0.5 * a * a, delta * (a - 0.5 * delta))


def _bce(x, t):
    return -(t * np.maximum(np.log(x), -100) + (1 - t) * np.maximum(np.log(1 - x), -100))


def _softplus(z):
    return np.logaddexp(0, z)


POINTWISE = {
    "mse_loss": (lambda x, y, **kw: F.mse_loss(x, y, **kw), lambda x, y: (x - y) ** 2),
    "l1_loss": (lambda x, y, **kw: F.l1_loss(x, y, **kw), lambda x, y: np.abs(x - y)),
    "smooth_l1_loss": (lambda x, y, **kw: F.smooth_l1_loss(x, y, beta=0.7, **kw),
                       lambda x, y: _huber(x - y, 0.7) / 0.7),
    "huber_loss": (lambda x, y, **kw: F.huber_loss(x, y, delta=1.3, **kw), lambda x, y: _huber(x - y, 1.3)),
    "bce_with_logits": (lambda x, y, **kw: F.binary_cross_entropy_with_logits(x, y.sigmoid(), **kw),
                        lambda x, y: (1 - 1 / (1 + np.exp(-y))) * x + _softplus(-x)),
}


@pytest.mark.parametrize("name", sorted(POINTWISE))
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_pointwise_losses_match_numpy(name, reduction):
    fn, ref = POINTWISE[name]
    x, y = _pair()
    out = fn(lamina.tensor(x), lamina.tensor(y), reduction=reduction)
    np.testing.assert_allclose(out.numpy(), np_reduce(ref(x, y), reduction), rtol=1e-10, atol=1e-12)
    xt, yt = lamina.tensor(x).requires_grad_(True), lamina.tensor(y).requires_grad_(True)
    assert gradcheck(lambda a, b: fn(a, b, reduction=reduction), (xt, yt))


def test_huber_and_smooth_l1_at_infinite_differences():
    """Found by the differential fuzzer: the where() of both pieces back-propagated 0 * 2d = NaN
    from the unused square for infinite differences; PyTorch's gradient there is +-delta (+-1)."""
    d = [np.inf, -np.inf, 3.0, 0.5, -0.2]
    zeros = lamina.zeros(5, dtype=lamina.float64)
    for fn, grad in ((lambda a: F.huber_loss(a, zeros, delta=1.3, reduction="sum"),
                      [1.3, -1.3, 1.3, 0.5, -0.2]),
                     (lambda a: F.smooth_l1_loss(a, zeros, beta=0.7, reduction="sum"),
                      [1.0, -1.0, 1.0, 0.5 / 0.7, -0.2 / 0.7])):
        x = lamina.tensor(d, dtype=lamina.float64).requires_grad_(True)
        loss = fn(x)
        assert loss.item() == np.inf
        loss.backward()
        np.testing.assert_allclose(x.grad.numpy(), grad, rtol=1e-12)
    nan = F.huber_loss(lamina.tensor([np.nan, 1.0]), lamina.zeros(2), reduction="none").numpy()
    assert np.isnan(nan[0]) and nan[1] == 0.5
    # At a zero difference the second derivative is 1 (1 / beta), as PyTorch's: not 0 from |d|.
    for fn, curvature in ((lambda a: F.huber_loss(a, lamina.tensor(-0.0, dtype=lamina.float64), delta=0.5), 1.0),
                          (lambda a: F.smooth_l1_loss(a, lamina.tensor(0.0, dtype=lamina.float64), beta=0.5), 2.0)):
        x = lamina.tensor(0.0, dtype=lamina.float64).requires_grad_(True)
        (g,) = lamina.autograd.grad(fn(x), x, create_graph=True)
        (gg,) = lamina.autograd.grad(g, x)
        assert g.item() == 0 and gg.item() == curvature
    # From |d| = delta on (the tie included) the gradient is the constant +-delta: curvature 0.
    x = lamina.tensor([0.5, -0.5, 2.0], dtype=lamina.float64).requires_grad_(True)
    (g,) = lamina.autograd.grad(F.huber_loss(x, lamina.zeros(3, dtype=lamina.float64), delta=0.5,
                                             reduction="sum"), x, create_graph=True)
    (gg,) = lamina.autograd.grad(g.sum(), x)
    assert g.tolist() == [0.5, -0.5, 0.5] and gg.tolist() == [0.0, 0.0, 0.0]


def test_binary_cross_entropy():
    x = rng(22).uniform(0.05, 0.95, size=(3, 4))
    y = rng(23).random(size=(3, 4))
    w = rng(24).uniform(0.5, 2, size=(4,))
    for reduction in ("mean", "sum", "none"):
        out = F.binary_cross_entropy(lamina.tensor(x), lamina.tensor(y), lamina.tensor(w), reduction=reduction)
        np.testing.assert_allclose(out.numpy(), np_reduce(_bce(x, y) * w, reduction), rtol=1e-12)
    xt = lamina.tensor(x).requires_grad_(True)
    assert gradcheck(lambda a: F.binary_cross_entropy(a, lamina.tensor(y)), (xt,))
    edge = F.binary_cross_entropy(lamina.tensor([0.0, 1.0]), lamina.tensor([1.0, 0.0]), reduction="none")
    np.testing.assert_array_equal(edge.numpy(), [100.0, 100.0])
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(lamina.tensor([1.5]), lamina.tensor([1.0]))


def test_bce_with_logits_pos_weight_and_weight():
    x, y = rng(25).normal(0, 5, size=(4, 3)), rng(26).random(size=(4, 3))
    pw, w = rng(27).uniform(0.5, 3, size=3), rng(28).uniform(0.5, 2, size=(4, 1))
    out = F.binary_cross_entropy_with_logits(lamina.tensor(x), lamina.tensor(y), lamina.tensor(w), reduction="none",
                                             pos_weight=lamina.tensor(pw))
    sig = 1 / (1 + np.exp(-x))
    expected = -w * (pw * y * np.log(sig) + (1 - y) * np.log(1 - sig))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-8)
    big = F.binary_cross_entropy_with_logits(lamina.tensor([200.0, -200.0]), lamina.tensor([0.0, 1.0]),
                                             reduction="none")
    np.testing.assert_allclose(big.numpy(), [200.0, 200.0])
    xt = lamina.tensor(x).requires_grad_(True)
    assert gradcheck(lambda a: F.binary_cross_entropy_with_logits(a, lamina.tensor(y), pos_weight=lamina.tensor(pw)),
                     (xt,))


@pytest.mark.parametrize("log_target", [False, True])
@pytest.mark.parametrize("reduction", ["batchmean", "mean", "sum", "none"])
def test_kl_div(log_target, reduction):
    logp = np_log_softmax(rng(29).normal(size=(3, 5)), 1)
    q = rng(30).random(size=(3, 5))
    if not log_target:  # a zero target probability contributes 0 (log_target would give exp(-inf) * -inf)
        q[0, 1] = 0.0
    q /= q.sum(axis=1, keepdims=True)
    target = np.log(q) if log_target else q
    out = F.kl_div(lamina.tensor(logp), lamina.tensor(target), reduction=reduction, log_target=log_target)
    with np.errstate(divide="ignore"):
        pointwise = np.where(q > 0, q * (np.log(np.where(q > 0, q, 1)) - logp), 0.0)
    expected = pointwise.sum() / 3 if reduction == "batchmean" else np_reduce(pointwise, reduction)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-15)
    xt = lamina.tensor(logp).requires_grad_(True)
    assert gradcheck(lambda a: F.kl_div(a, lamina.tensor(target), reduction=reduction, log_target=log_target), (xt,))


def test_reduction_errors():
    with pytest.raises(ValueError, match="is not a valid value for reduction"):
        F.mse_loss(lamina.randn(2), lamina.randn(2), reduction="avg")


@pytest.mark.parametrize("shape", [(7, 133), (2, 5, 40), (3, 17)], ids=str)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ls", [0.0, 0.25])
def test_cross_entropy_fused_backward_matches_composite(shape, weighted, ls, isa):
    """The fused backward kernel (plain backward) against the formula written with lamina ops
    (create_graph=True takes that path), in float32 at every ISA level."""
    c = shape[1]
    x = lamina.tensor(rng(40).normal(0, 2, size=shape).astype(np.float32)).requires_grad_(True)
    tg = lamina.tensor(targets((shape[0],) + shape[2:], c, 41, ignore=-100))
    w = lamina.tensor(rng(42).uniform(0.5, 2, size=c).astype(np.float32)) if weighted else None
    g = lamina.tensor(rng(43).normal(size=(shape[0],) + shape[2:]).astype(np.float32))
    loss = F.cross_entropy(x, tg, w, reduction="none", label_smoothing=ls)
    (fused,) = lamina.autograd.grad(loss, [x], g)
    loss = F.cross_entropy(x, tg, w, reduction="none", label_smoothing=ls)
    (composite,) = lamina.autograd.grad(loss, [x], g, create_graph=True)
    np.testing.assert_allclose(fused.numpy(), composite.detach().numpy(), rtol=1e-4, atol=1e-6)


def test_binary_cross_entropy_gradient_at_saturated_inputs_is_finite_like_pytorch():
    # regression: through the composite, log's 1/x met the clamp's zero slope at x = 0 or 1 (a
    # float32 sigmoid saturates there) and the gradient was 0/0 = NaN
    x = lamina.tensor([0.0, 1.0, 0.0, 1.0, 0.3], dtype=lamina.float64, requires_grad=True)
    t = lamina.tensor([0.0, 1.0, 1.0, 0.0, 1.0], dtype=lamina.float64, requires_grad=True)
    loss = F.binary_cross_entropy(x, t, reduction="sum")
    np.testing.assert_allclose(loss.item(), 200 - math.log(0.3))
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.0, -1e12, 1e12, -0.7 / 0.21])
    np.testing.assert_allclose(t.grad.numpy(), [math.inf, -math.inf, math.inf, -math.inf, math.log(0.7) - math.log(0.3)])
    assert gradcheck(lambda a, b: F.binary_cross_entropy(a, b), (
        lamina.tensor([0.2, 0.7], dtype=lamina.float64, requires_grad=True),
        lamina.tensor([0.4, 0.9], dtype=lamina.float64, requires_grad=True)))
    from lamina.autograd import gradgradcheck
    assert gradgradcheck(lambda a: F.binary_cross_entropy(a, lamina.tensor([0.4, 0.9], dtype=lamina.float64)), (
        lamina.tensor([0.2, 0.7], dtype=lamina.float64, requires_grad=True),))


def test_losses_found_by_the_fuzzer_in_the_second_session():
    """Expected values are PyTorch 2.13's. huber's second derivative stays finite next to an
    infinite residual; binary_cross_entropy keeps tiny losses (log1p(-x), not log(1 - x)); nll_loss
    accepts zero classes when every target is ignored."""
    x = lamina.tensor([1.0, np.inf, 4.0], dtype=lamina.float64).requires_grad_(True)
    t = lamina.tensor([0.5, 0.0, 1.0], dtype=lamina.float64)
    z = lamina.where(lamina.tensor([True, False, True]), x, F.huber_loss(x, t, reduction="sum"))
    (g,) = lamina.autograd.grad(lamina.rsqrt(z).sum(), x, create_graph=True)
    (h,) = lamina.autograd.grad(g.sum(), x)
    assert h.tolist() == [0.75, 0.0, 0.0234375]
    tiny = lamina.tensor([1e-20, 1.8048513878454153e-35], dtype=lamina.float64)
    loss = F.binary_cross_entropy(tiny, lamina.zeros(2, dtype=lamina.float64), reduction="none")
    assert loss.tolist() == [1e-20, 1.8048513878454153e-35]
    assert np.isnan(F.nll_loss(lamina.zeros(0, dtype=lamina.float64), lamina.tensor(-100)).item())
    none = F.nll_loss(lamina.zeros(2, 0, dtype=lamina.float64), lamina.tensor([-100, -100]), reduction="none")
    assert none.tolist() == [0.0, 0.0]
    weighted = F.nll_loss(lamina.zeros(2, 0, dtype=lamina.float64), lamina.tensor([-100, -100]),
                          weight=lamina.zeros(0, dtype=lamina.float64), reduction="sum")
    assert weighted.item() == 0.0
    x = lamina.zeros(2, 0, dtype=lamina.float64).requires_grad_(True)  # still in the graph, as PyTorch
    F.nll_loss(x, lamina.tensor([-100, -100]), reduction="sum").backward()
    assert tuple(x.grad.shape) == (2, 0)


def test_cross_entropy_keeps_small_losses_accurate():
    # -log p_t formed as (max - x_t) + log(sum): the fuzzer found (max + log(sum)) - x_t losing the
    # small log(sum) to the rounding of max + log(sum) (relative error 1e-2 here; PyTorch's order).
    x = lamina.tensor([[30.0, 0.0, 0.0], [25.0, 1.0, -3.0]], dtype=lamina.float64)
    loss = F.cross_entropy(x, lamina.tensor([0, 0]), reduction="none").numpy()
    exact = [np.log1p(2 * np.exp(-30.0)), np.log1p(np.exp(-24.0) + np.exp(-28.0))]
    np.testing.assert_allclose(loss, exact, rtol=2e-3)
    xs = x.t().unsqueeze(0)  # (1, C, 2): the strided (N, C, d) kernel
    np.testing.assert_allclose(F.cross_entropy(xs, lamina.tensor([[0, 0]]), reduction="none").numpy()[0], exact,
                               rtol=2e-3)


def test_cross_entropy_probabilities_over_no_classes():
    # PyTorch's mean divides by numel / C, 0 / 0 = NaN with no classes; the sum is 0 (fuzzer case).
    x = lamina.zeros(2, 0, dtype=lamina.float64, requires_grad=True)
    target = lamina.zeros(2, 0, dtype=lamina.float64)
    assert np.isnan(F.cross_entropy(x, target).item())
    assert F.cross_entropy(x, target, reduction="sum").item() == 0.0
    assert F.cross_entropy(lamina.zeros(3, 0, 4, dtype=lamina.float64), lamina.zeros(3, 0, 4, dtype=lamina.float64),
                           reduction="none").shape == (3, 4)


def test_binary_cross_entropy_second_derivatives_are_pytorchs_explicit_formula():
    # d2/dx2 = (x^2 - 2xt + t) / ((x + eps)^2 (1 - x + eps)^2), d2/dxdt = -1 / max(x (1 - x), eps):
    # PyTorch's binary_cross_entropy_double_backward (the fuzzer found lamina's derivative of the
    # clamped first derivative 1% off, and far off where a sigmoid saturates).
    eps = 1e-12
    xs = np.array([0.3, 0.9, 1e-13, 1 - 1e-9])
    ts = np.array([0.0, 0.5, 1.0, 0.2])
    x = lamina.tensor(xs, requires_grad=True)
    t = lamina.tensor(ts, requires_grad=True)
    loss = F.binary_cross_entropy(x, t, reduction="sum")
    (gx,) = lamina.autograd.grad(loss, x, create_graph=True)
    np.testing.assert_allclose(gx.detach().numpy(), (xs - ts) / np.maximum(xs * (1 - xs), eps))
    hx, ht = lamina.autograd.grad(gx.sum(), (x, t))
    np.testing.assert_allclose(hx.numpy(), (xs * xs - 2 * xs * ts + ts) / ((xs + eps) ** 2 * (1 - xs + eps) ** 2))
    np.testing.assert_allclose(ht.numpy(), -1 / np.maximum(xs * (1 - xs), eps))
    assert gx.grad_fn.name() == "BinaryCrossEntropyBackwardBackward0"
