"""F.embedding, F.embedding_bag, nn.Embedding and nn.EmbeddingBag against numpy references written
here (forward and weight gradients), float64 gradchecks, error cases, and PyTorch (skipped without it)."""

import numpy as np
import pytest

import lamina
import lamina.nn as nn
import lamina.nn.functional as F
from lamina.autograd import gradcheck
from lamina.nn import _embedding

RNG = np.random.default_rng(7)


def t(a, dtype=np.float64, requires_grad=False):
    return lamina.tensor(np.asarray(a, dtype=dtype), requires_grad=requires_grad)


def close(x, ref, atol=1e-10):
    x = x.detach().numpy() if isinstance(x, lamina.Tensor) else np.asarray(x)
    assert x.shape == np.shape(ref), (x.shape, np.shape(ref))
    np.testing.assert_allclose(x, ref, atol=atol, rtol=1e-7)


# ---- numpy references -----------------------------------------------------------------------------

def ref_embedding_grad(idx, g, num, padding_idx=None, scale_grad_by_freq=False):
    idx, g = idx.ravel(), g.reshape(idx.size, -1)
    if scale_grad_by_freq:
        g = g / np.bincount(idx, minlength=num)[idx][:, None]
    out = np.zeros((num, g.shape[1]))
    np.add.at(out, idx, g)
    if padding_idx is not None:
        out[padding_idx] = 0
    return out


def ref_bags(idx, offsets, include_last_offset):
    """(list of index arrays, their start positions), one per bag: the loop the op must not run."""
    if idx.ndim == 2:
        return [row for row in idx], [i * idx.shape[1] for i in range(idx.shape[0])]
    ends = list(offsets[1:]) + ([] if include_last_offset else [len(idx)])
    starts = list(offsets[: len(ends)])
    return [idx[s:e] for s, e in zip(starts, ends)], starts


def ref_embedding_bag(idx, w, offsets=None, mode="mean", psw=None, include_last_offset=False, padding_idx=None,
                      g=None):
    """-> (output, weight gradient for the upstream gradient g)."""
    bags, starts = ref_bags(idx, offsets, include_last_offset)
    psw = None if psw is None else psw.ravel()
    out, grad = np.zeros((len(bags), w.shape[1])), np.zeros_like(w)
    g = np.ones_like(out) if g is None else g
    for b, (bag, start) in enumerate(zip(bags, starts)):
        pos = [start + k for k, i in enumerate(bag) if i != padding_idx]
        if not pos:
            continue
        rows = np.ravel(idx)[pos]
        if mode == "max":
            arg = w[rows].argmax(0)  # first max, as torch
            out[b] = w[rows[arg], np.arange(w.shape[1])]
            np.add.at(grad, (rows[arg], np.arange(w.shape[1])), g[b])
            continue
        scale = np.ones(len(pos)) if psw is None else psw[pos]
        if mode == "mean":
            scale = scale / len(pos)
        out[b] = (w[rows] * scale[:, None]).sum(0)
        np.add.at(grad, rows, scale[:, None] * g[b])
    return out, grad


# ---- embedding ------------------------------------------------------------------------------------

@pytest.mark.parametrize("idx_dtype", [np.int64, np.int32])
@pytest.mark.parametrize("padding_idx,scale", [(None, False), (3, False), (-2, False), (None, True), (1, True)])
def test_embedding_forward_and_weight_grad(idx_dtype, padding_idx, scale):
    num, dim = 7, 4
    w = RNG.standard_normal((num, dim))
    idx = RNG.integers(0, num, (3, 5)).astype(idx_dtype)
    idx[0, :3] = 1  # repeated indices, so that scale_grad_by_freq matters
    weight = t(w, requires_grad=True)
    out = F.embedding(lamina.tensor(idx), weight, padding_idx=padding_idx, scale_grad_by_freq=scale)
    close(out, w[idx])
    g = RNG.standard_normal(out.shape)
    (out * t(g)).sum().backward()
    pad = None if padding_idx is None else padding_idx % num
    close(weight.grad, ref_embedding_grad(idx.astype(np.int64), g, num, pad, scale))


@pytest.mark.parametrize("padding_idx", [None, 2, 0])
def test_embedding_gradcheck_float64(padding_idx):
    """The padding row gets no gradient by design, so it is held out of the checked input
    (scale_grad_by_freq is not a true gradient either: it is checked against numpy and torch)."""
    idx = lamina.tensor([[0, 2, 2], [4, 0, 2]])
    w = t(RNG.standard_normal((4 if padding_idx is not None else 5, 3)), requires_grad=True)
    pad_row = t(RNG.standard_normal((1, 3)))

    def fn(w):
        if padding_idx is not None:
            w = lamina.cat([w[:padding_idx], pad_row, w[padding_idx:]])
        return F.embedding(idx, w, padding_idx=padding_idx)
    assert gradcheck(fn, (w,))


def test_embedding_shapes_scalar_and_empty_index():
    w = t(RNG.standard_normal((4, 3)))
    close(F.embedding(lamina.tensor(2), w), w.numpy()[2])
    assert tuple(F.embedding(lamina.zeros(2, 0, dtype=lamina.int64), w).shape) == (2, 0, 3)


def test_embedding_max_norm_renormalizes_the_weight_in_place():
    w = RNG.standard_normal((6, 3)) * 3
    for norm_type in (2.0, 1.0, float("inf")):
        weight = t(w, requires_grad=True)
        idx = np.array([0, 2, 2, 5])
        out = F.embedding(lamina.tensor(idx), weight, max_norm=1.5, norm_type=norm_type)
        norms = np.linalg.norm(w, ord=norm_type, axis=1, keepdims=True)
        expected = w.copy()
        used = np.isin(np.arange(6), idx)[:, None] & (norms > 1.5)
        expected = np.where(used, w * 1.5 / (norms + 1e-7), w)
        close(weight, expected)  # rows not looked up keep their norm
        close(out, expected[idx])
        out.sum().backward()  # the renorm is outside autograd
        close(weight.grad, ref_embedding_grad(idx, np.ones((4, 3)), 6))


def test_embedding_module_options_and_repr():
    m = nn.Embedding(10, 3, padding_idx=-1, max_norm=2.0, scale_grad_by_freq=True)
    assert m.padding_idx == 9 and (m.weight.detach().numpy()[9] == 0).all()
    assert repr(m) == "Embedding(10, 3, padding_idx=9, max_norm=2.0, scale_grad_by_freq=True)"
    idx = lamina.tensor([[1, 1, 9]], dtype=lamina.int32)
    m(idx).sum().backward()
    g = m.weight.grad.numpy()
    np.testing.assert_allclose(g[1], np.ones(3))  # two uses, each divided by 2
    assert (g[9] == 0).all() and (g[0] == 0).all()
    w = t([[1.0, 2.0]])
    frozen = nn.Embedding.from_pretrained(w)
    assert not frozen.weight.requires_grad and frozen(lamina.tensor([0, 0])).shape == (2, 2)


def test_embedding_sparse_is_refused():
    """lamina has no sparse tensors: sparse=True raises rather than silently returning a dense grad."""
    with pytest.raises(NotImplementedError, match="embedding: sparse=True needs sparse gradients"):
        F.embedding(lamina.tensor([0]), t(np.ones((2, 2))), sparse=True)
    with pytest.raises(NotImplementedError, match="Embedding: sparse=True"):
        nn.Embedding(3, 2, sparse=True)
    with pytest.raises(NotImplementedError, match="EmbeddingBag: sparse=True"):
        nn.EmbeddingBag(3, 2, sparse=True)


def test_embedding_errors():
    w = t(np.ones((5, 2)))
    with pytest.raises(IndexError, match=r"embedding: index 5 out of range for a weight of 5 rows"):
        F.embedding(lamina.tensor([0, 5]), w)
    with pytest.raises(IndexError, match=r"embedding: index -1 out of range"):
        F.embedding(lamina.tensor([[0], [-1]], dtype=lamina.int32), w)
    with pytest.raises(RuntimeError, match=r"embedding: Expected tensor for argument 'indices' to have one of the "
                                           r"following scalar types: Long, Int; but got a float32 tensor of shape "
                                           r"\(2, 3\)"):
        F.embedding(lamina.ones(2, 3), w)
    with pytest.raises(RuntimeError, match="but got a bool tensor of shape"):
        F.embedding(lamina.ones(2, dtype=lamina.bool), w)
    with pytest.raises(RuntimeError, match=r"embedding: 'weight' must be 2-D .* got \(5,\)"):
        F.embedding(lamina.tensor([0]), lamina.ones(5))
    for bad in (5, -6):
        with pytest.raises(AssertionError, match=rf"padding_idx must be within num_embeddings \(5\).*got {bad}"):
            F.embedding(lamina.tensor([0]), w, padding_idx=bad)
        with pytest.raises(AssertionError, match="padding_idx must be within num_embeddings"):
            nn.Embedding(5, 2, padding_idx=bad)


# ---- embedding_bag --------------------------------------------------------------------------------

BAG_CASES = [
    # (input, offsets, include_last_offset): empty bags first, in the middle and last
    (np.array([3, 0, 2, 2, 5, 1, 0, 4]), np.array([0, 2, 2, 5]), False),
    (np.array([3, 0, 2, 2, 5, 1, 0, 4]), np.array([0, 0, 3, 8]), False),
    (np.array([3, 0, 2, 2, 5, 1, 0, 4]), np.array([0, 3, 3, 6]), True),  # entries 6, 7 belong to no bag
    (np.array([[1, 2, 3], [0, 0, 5], [4, 2, 2]]), None, False),
]


@pytest.mark.parametrize("case", range(len(BAG_CASES)))
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("padding_idx", [None, 2])
def test_embedding_bag_forward_and_weight_grad(case, mode, padding_idx):
    idx, offsets, last = BAG_CASES[case]
    w = RNG.standard_normal((6, 4))
    weight = t(w, requires_grad=True)
    out = F.embedding_bag(lamina.tensor(idx), weight, None if offsets is None else lamina.tensor(offsets),
                          mode=mode, include_last_offset=last, padding_idx=padding_idx)
    g = RNG.standard_normal(out.shape)
    ref, ref_grad = ref_embedding_bag(idx, w, offsets, mode, None, last, padding_idx, g)
    close(out, ref)
    (out * t(g)).sum().backward()
    close(weight.grad, ref_grad)


@pytest.mark.parametrize("case", range(len(BAG_CASES)))
def test_embedding_bag_per_sample_weights(case):
    idx, offsets, last = BAG_CASES[case]
    w, psw = RNG.standard_normal((6, 3)), RNG.standard_normal(idx.shape)
    weight, sample_w = t(w, requires_grad=True), t(psw, requires_grad=True)
    offs = None if offsets is None else lamina.tensor(offsets)
    out = F.embedding_bag(lamina.tensor(idx), weight, offs, mode="sum", per_sample_weights=sample_w,
                          include_last_offset=last, padding_idx=0)
    ref, ref_grad = ref_embedding_bag(idx, w, offsets, "sum", psw, last, 0)
    close(out, ref)
    out.sum().backward()
    close(weight.grad, ref_grad)
    assert gradcheck(lambda w, p: F.embedding_bag(lamina.tensor(idx), w, offs, mode="sum", per_sample_weights=p,
                                                  include_last_offset=last, padding_idx=0), (weight, sample_w))


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_gradcheck_float64(mode):
    idx, offsets = lamina.tensor([0, 3, 3, 1, 4, 0, 2]), lamina.tensor([0, 3, 3, 5])
    w = t(RNG.standard_normal((5, 3)), requires_grad=True)  # distinct values: max has no ties
    assert gradcheck(lambda w: F.embedding_bag(idx, w, offsets, mode=mode), (w,))


def test_embedding_bag_max_ties_go_to_the_first_row():
    w = t([[1.0, 5.0], [1.0, 2.0], [0.0, 5.0]], requires_grad=True)
    out = F.embedding_bag(lamina.tensor([[0, 1, 2]]), w, mode="max")
    close(out, [[1.0, 5.0]])
    out.sum().backward()
    close(w.grad, [[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]])


def test_embedding_bag_max_scan_and_padded_argmax_agree_with_ties():
    """max mode finds the argmax by padding the bags or, for skewed lengths, by a segmented scan:
    both give the first maximum of each bag and column (integer weights: many ties)."""
    w = t(RNG.integers(0, 4, (7, 5)))
    for lengths in ([3, 0, 1, 9, 2], [1] * 5 + [17], [0, 0], [40]):
        idx = lamina.tensor(RNG.integers(0, 7, sum(lengths)))
        bag = lamina.tensor(np.repeat(np.arange(len(lengths)), lengths))
        counts = lamina.tensor(lengths)
        longest = max(lengths)
        if longest == 0:
            continue
        padded = _embedding._bag_argmax_padded(w, idx, bag, counts, longest).numpy()
        scan = _embedding._bag_argmax_scan(w, idx, bag, counts, longest).numpy()
        nonempty = np.array(lengths) > 0
        np.testing.assert_array_equal(padded[nonempty], scan[nonempty])
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        for b in np.flatnonzero(nonempty):
            rows = idx.numpy()[offsets[b]: offsets[b] + lengths[b]]
            np.testing.assert_array_equal(scan[b], rows[w.numpy()[rows].argmax(0)])


def test_embedding_bag_max_skewed_bags_forward_and_grad():
    """One long bag among many short ones takes the scan path (padding would be 600x the input)."""
    lengths = np.array([1] * 600 + [0, 600, 2])
    idx = RNG.integers(0, 30, lengths.sum())
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    w = RNG.standard_normal((30, 4))
    weight = t(w, requires_grad=True)
    out = F.embedding_bag(lamina.tensor(idx), weight, lamina.tensor(offsets), mode="max")
    g = RNG.standard_normal(out.shape)
    ref, ref_grad = ref_embedding_bag(idx, w, offsets, "max", g=g)
    close(out, ref)
    (out * t(g)).sum().backward()
    close(weight.grad, ref_grad)


def test_embedding_bag_scale_grad_by_freq_and_max_norm():
    w = RNG.standard_normal((5, 3)) * 3
    weight = t(w, requires_grad=True)
    idx, offsets = np.array([1, 1, 4, 1, 0]), np.array([0, 2])
    out = F.embedding_bag(lamina.tensor(idx), weight, lamina.tensor(offsets), mode="sum", scale_grad_by_freq=True,
                          max_norm=1.0)
    norms = np.linalg.norm(w, axis=1, keepdims=True)
    renormed = np.where(np.isin(np.arange(5), idx)[:, None] & (norms > 1.0), w / (norms + 1e-7), w)
    close(weight, renormed)
    close(out, ref_embedding_bag(idx, renormed, offsets, "sum")[0])
    out.sum().backward()
    close(weight.grad, ref_embedding_grad(idx, np.ones((5, 3)), 5, scale_grad_by_freq=True))


def test_embedding_bag_int32_indices_and_offsets_and_no_bags():
    w = t(RNG.standard_normal((4, 2)))
    idx, offsets = lamina.tensor([1, 2, 3], dtype=lamina.int32), lamina.tensor([0, 1], dtype=lamina.int32)
    close(F.embedding_bag(idx, w, offsets, mode="sum"), ref_embedding_bag(np.array([1, 2, 3]), w.numpy(),
                                                                            np.array([0, 1]), "sum")[0])
    for mode in ("sum", "mean", "max"):
        out = F.embedding_bag(idx, w, lamina.tensor([0]), mode=mode, include_last_offset=True)
        assert tuple(out.shape) == (0, 2)
        close(F.embedding_bag(lamina.zeros(3, dtype=lamina.int64)[:0], w, lamina.tensor([0, 0]), mode=mode),
              np.zeros((2, 2)))


def test_embedding_bag_many_bags_is_vectorized():
    """10^4 bags of varied length in one call (a Python loop per bag would take seconds)."""
    lengths = RNG.integers(0, 8, 10_000)
    idx = RNG.integers(0, 50, lengths.sum())
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    w = RNG.standard_normal((50, 8))
    for mode in ("sum", "max"):
        out = F.embedding_bag(lamina.tensor(idx), t(w), lamina.tensor(offsets), mode=mode).numpy()
        for b in (0, 17, 9_999):
            rows = w[idx[offsets[b]: offsets[b] + lengths[b]]]
            expected = np.zeros(8) if len(rows) == 0 else (rows.sum(0) if mode == "sum" else rows.max(0))
            np.testing.assert_allclose(out[b], expected, atol=1e-12)


def test_embedding_bag_module():
    m = nn.EmbeddingBag(10, 3, mode="sum", padding_idx=0, include_last_offset=True)
    assert (m.weight.detach().numpy()[0] == 0).all()
    assert repr(m) == "EmbeddingBag(10, 3, padding_idx=0, mode='sum', include_last_offset=True)"
    idx, offsets = lamina.tensor([1, 0, 2, 3]), lamina.tensor([0, 2, 4])
    psw = lamina.tensor([2.0, 3.0, 1.0, 1.0])
    out = m(idx, offsets, psw)
    w = m.weight.detach().numpy()
    np.testing.assert_allclose(out.detach().numpy(), [2 * w[1], w[2] + w[3]], rtol=1e-6)
    m2 = nn.EmbeddingBag.from_pretrained(t(np.eye(3)), mode="max")
    assert not m2.weight.requires_grad and m2.mode == "max"
    close(m2(lamina.tensor([[0, 1], [2, 2]])), [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    with pytest.raises(ValueError, match="EmbeddingBag: mode has to be one of sum, mean or max"):
        nn.EmbeddingBag(3, 2, mode="min")


def test_embedding_bag_errors():
    w, idx = t(np.ones((5, 2))), lamina.tensor([0, 1, 2, 3])
    cases = [
        (lambda: F.embedding_bag(idx.reshape(2, 2), w, lamina.tensor([0, 1])), ValueError,
         r"embedding_bag: if input is 2-D, then offsets has to be None"),
        (lambda: F.embedding_bag(idx, w), ValueError, r"offsets has to be a 1-D tensor for a 1-D input, but got None"),
        (lambda: F.embedding_bag(idx, w, lamina.tensor([[0]])), ValueError, r"offsets has to be a 1-D tensor"),
        (lambda: F.embedding_bag(lamina.tensor(1), w), ValueError, r"input has to be a 1-D or 2-D tensor, but got shape \(\)"),
        (lambda: F.embedding_bag(idx, w, lamina.tensor([1, 2])), RuntimeError, r"offsets\[0\] has to be 0.*got 1"),
        (lambda: F.embedding_bag(idx, w, lamina.tensor([0, 5])), RuntimeError,
         r"offsets\[-1\] can not be greater than input's length 4, but got 5"),
        (lambda: F.embedding_bag(idx, w, lamina.tensor([0, 3, 1])), RuntimeError, r"non-decreasing, got \[0, 3, 1\]"),
        (lambda: F.embedding_bag(idx, w, lamina.tensor([], dtype=lamina.int64)), RuntimeError, "at least one entry"),
        (lambda: F.embedding_bag(idx, w, lamina.tensor([0.0, 1.0])), RuntimeError,
         r"argument 'offsets' .* Long, Int; but got a float32 tensor of shape \(2,\)"),
        (lambda: F.embedding_bag(idx.double(), w, lamina.tensor([0])), RuntimeError, r"embedding_bag: Expected tensor"),
        (lambda: F.embedding_bag(lamina.tensor([0, 7]), w, lamina.tensor([0])), IndexError,
         r"embedding_bag: index 7 out of range for a weight of 5 rows"),
        (lambda: F.embedding_bag(idx, w, lamina.tensor([0]), mode="min"), ValueError, "mode has to be one of"),
        (lambda: F.embedding_bag(idx, w, lamina.tensor([0]), per_sample_weights=t(np.ones(4))), NotImplementedError,
         r"per_sample_weights is only supported for mode='sum' \(got mode='mean'\)"),
        (lambda: F.embedding_bag(idx, w, lamina.tensor([0]), mode="sum", per_sample_weights=t(np.ones(3))),
         ValueError, r"per_sample_weights of shape \(3,\) must have the same shape as the input \(4,\)"),
        (lambda: F.embedding_bag(idx, w, lamina.tensor([0]), mode="sum", per_sample_weights=lamina.ones(4)),
         RuntimeError, "must have the dtype of weight, got float32 and float64"),
        (lambda: F.embedding_bag(idx, w, lamina.tensor([0]), mode="max", scale_grad_by_freq=True), ValueError,
         "max mode does not support scaling the gradient"),
        (lambda: F.embedding_bag(idx, w, lamina.tensor([0]), padding_idx=5), RuntimeError,
         r"padding_idx must be within num_embeddings \(5\)"),
        (lambda: F.embedding_bag(idx, w, lamina.tensor([0]), sparse=True), NotImplementedError, "sparse=True"),
    ]
    for call, exc, regex in cases:
        with pytest.raises(exc, match=regex):
            call()


# ---- PyTorch ---------------------------------------------------------------------------------------

@pytest.mark.torch
def test_embedding_and_embedding_bag_match_torch():
    torch = pytest.importorskip("torch")
    if not hasattr(torch, "tensor"):
        pytest.skip("PyTorch is not installed")
    TF = torch.nn.functional
    w = RNG.standard_normal((9, 5))
    idx = RNG.integers(0, 9, 14)
    offsets = np.array([0, 3, 3, 7, 12])
    configs = [dict(mode=m, padding_idx=p, include_last_offset=last)
               for m in ("sum", "mean", "max") for p in (None, 4, -1) for last in (False, True)]
    # Not scale_grad_by_freq: torch 2.13's CPU embedding_bag divides some rows by another index's count
    # (pytorch/pytorch#190063); lamina follows the documented meaning, checked against numpy above.
    configs += [dict(mode="sum", per_sample_weights=True), dict(mode="sum", max_norm=1.0, norm_type=1.0)]
    for cfg in configs:
        psw = RNG.standard_normal(14) if cfg.pop("per_sample_weights", False) else None
        results = []
        for m, fn in ((lamina, F.embedding_bag), (torch, TF.embedding_bag)):
            weight = m.tensor(w.copy(), requires_grad=True)
            sw = None if psw is None else m.tensor(psw)
            # torch assumes the last offset equals len(input) with include_last_offset
            offs = np.append(offsets, len(idx)) if cfg.get("include_last_offset") else offsets
            out = fn(m.tensor(idx), weight, m.tensor(offs), per_sample_weights=sw, **cfg)
            g = m.tensor(np.arange(out.numel(), dtype=np.float64).reshape(tuple(out.shape)))
            (out * g).sum().backward()
            results.append((out.detach().numpy(), weight.grad.numpy(), weight.detach().numpy()))
        for a, b in zip(*results):
            np.testing.assert_allclose(a, b, atol=1e-10, err_msg=str(cfg))
    for cfg in (dict(padding_idx=-3), dict(scale_grad_by_freq=True), dict(max_norm=0.5)):
        results = []
        for m, fn in ((lamina, F.embedding), (torch, TF.embedding)):
            weight = m.tensor(w.copy(), requires_grad=True)
            out = fn(m.tensor(idx.reshape(2, 7)), weight, **cfg)
            (out * m.tensor(np.arange(70.0).reshape(2, 7, 5))).sum().backward()
            results.append((out.detach().numpy(), weight.grad.numpy(), weight.detach().numpy()))
        for a, b in zip(*results):
            np.testing.assert_allclose(a, b, atol=1e-10, err_msg=str(cfg))
