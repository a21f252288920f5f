"""F.scaled_dot_product_attention (the fused flash-style kernel): forward against a numpy reference
(masks, causal, GQA, broadcast batch, lengths 1..1000, scale, layouts) at every ISA level,
gradients by finite differences in float64 (dropout included, with a fixed seed), bitwise thread
determinism with dropout, O(L) memory, errors, and PyTorch where it is installed."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import lamina
import lamina.nn.functional as F
from lamina.autograd import gradcheck


def np_sdpa(q, k, v, mask=None, causal=False, scale=None, gqa=False):
    """The math path: materialized scores, softmax, weights @ value (float64)."""
    q, k, v = (np.asarray(t, np.float64) for t in (q, k, v))
    if gqa and q.ndim >= 3 and k.shape[-3] != q.shape[-3]:
        k = np.repeat(k, q.shape[-3] // k.shape[-3], axis=-3)
        v = np.repeat(v, q.shape[-3] // v.shape[-3], axis=-3)
    if q.shape[-1] == 0:  # every score is an empty sum: 0 whatever the scale
        scale = 1.0
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    s = (q * scale) @ np.swapaxes(k, -1, -2)  # q scaled first, as the kernel (and PyTorch)
    L, S = s.shape[-2:]
    if causal:
        s = np.where(np.tril(np.ones((L, S), bool)), s, -np.inf)  # hidden keys are never read
    if mask is not None:
        s = s + np.where(mask, 0.0, -np.inf) if mask.dtype == bool else s + mask  # added: NaN stays NaN
    m = s.max(-1, keepdims=True, initial=-np.inf)
    dead = np.isneginf(m)  # every key masked: output 0, as the fused kernel (and PyTorch's)
    p = np.exp(s - np.where(dead, 0, m))
    p = np.where(dead, 0, p / np.where(dead, 1, p.sum(-1, keepdims=True)))
    return p @ v


def rand(rng, shape, dtype="float64"):
    return rng.normal(size=shape).astype(dtype)


CASES = [  # (q shape, k shape, v shape)
    ((2, 3, 7, 8), (2, 3, 7, 8), (2, 3, 7, 8)),
    ((2, 3, 1, 8), (2, 3, 1, 8), (2, 3, 1, 5)),
    ((1, 2, 129, 16), (1, 2, 129, 16), (1, 2, 129, 16)),
    ((1, 1, 65, 16), (1, 1, 130, 16), (1, 1, 130, 24)),  # L != S, Ev != E
    ((2, 130, 8), (2, 70, 8), (2, 70, 3)),  # 3-d
    ((9, 8), (11, 8), (11, 4)),  # 2-d
    ((2, 3, 5, 8), (3, 6, 8), (6, 2)),  # batch broadcast
    ((1, 1, 1000, 32), (1, 1, 1000, 32), (1, 1, 1000, 32)),
]


@pytest.mark.parametrize("shapes", CASES, ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("causal", [False, True])
def test_sdpa_forward_matches_numpy(shapes, dtype, causal, isa):
    rng = np.random.default_rng(0)
    q, k, v = (rand(rng, s, dtype) for s in shapes)
    out = F.scaled_dot_product_attention(lamina.tensor(q), lamina.tensor(k), lamina.tensor(v), is_causal=causal)
    ref = np_sdpa(q, k, v, causal=causal)
    assert out.dtype == getattr(lamina, dtype) and tuple(out.shape) == ref.shape
    tol = 2e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(out.numpy(), ref, rtol=tol, atol=tol)


MASKS = [(7, 9), (1, 1, 7, 9), (2, 1, 1, 9), (2, 3, 7, 9), (3, 1, 9), (9,)]


@pytest.mark.parametrize("mask_shape", MASKS, ids=str)
@pytest.mark.parametrize("kind", ["bool", "float"])
def test_sdpa_masks_broadcast(mask_shape, kind, isa):
    rng = np.random.default_rng(1)
    q, k, v = rand(rng, (2, 3, 7, 8)), rand(rng, (2, 3, 9, 8)), rand(rng, (2, 3, 9, 6))
    mask = rng.random(mask_shape) > 0.3 if kind == "bool" else rng.normal(size=mask_shape)
    out = F.scaled_dot_product_attention(lamina.tensor(q), lamina.tensor(k), lamina.tensor(v),
                                         attn_mask=lamina.tensor(mask))
    np.testing.assert_allclose(out.numpy(), np_sdpa(q, k, v, mask), rtol=1e-12, atol=1e-12)


def test_sdpa_mask_views_and_strided_operands(isa):
    # A transposed mask (last stride != 1) and q/k/v viewed from (B, L, H, E) as MultiheadAttention does.
    rng = np.random.default_rng(2)
    q, k, v = rand(rng, (2, 70, 4, 16)), rand(rng, (2, 90, 4, 16)), rand(rng, (2, 90, 4, 16))
    mask = rng.normal(size=(90, 70))
    lq, lk, lv = (lamina.tensor(t).transpose(1, 2) for t in (q, k, v))
    out = F.scaled_dot_product_attention(lq, lk, lv, attn_mask=lamina.tensor(mask).t())
    ref = np_sdpa(*(np.swapaxes(t, 1, 2) for t in (q, k, v)), mask.T)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("scale", [None, 0.3, 2.0])
def test_sdpa_scale(scale):
    rng = np.random.default_rng(3)
    q, k, v = rand(rng, (2, 5, 4)), rand(rng, (2, 6, 4)), rand(rng, (2, 6, 4))
    out = F.scaled_dot_product_attention(lamina.tensor(q), lamina.tensor(k), lamina.tensor(v), scale=scale)
    np.testing.assert_allclose(out.numpy(), np_sdpa(q, k, v, scale=scale), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("heads,kv_heads", [(4, 2), (6, 1), (4, 4)])
def test_sdpa_grouped_query_attention(heads, kv_heads, isa):
    rng = np.random.default_rng(4)
    q, k, v = rand(rng, (2, heads, 9, 8)), rand(rng, (2, kv_heads, 11, 8)), rand(rng, (2, kv_heads, 11, 5))
    out = F.scaled_dot_product_attention(lamina.tensor(q), lamina.tensor(k), lamina.tensor(v), enable_gqa=True)
    np.testing.assert_allclose(out.numpy(), np_sdpa(q, k, v, gqa=True), rtol=1e-12, atol=1e-12)


def test_sdpa_fully_masked_rows_give_zero_output_and_gradient():
    rng = np.random.default_rng(5)
    q, k, v = (lamina.tensor(rand(rng, s), requires_grad=True) for s in [(1, 1, 3, 4), (1, 1, 5, 4), (1, 1, 5, 2)])
    mask = np.ones((3, 5), bool)
    mask[1] = False
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=lamina.tensor(mask))
    assert np.all(out.detach().numpy()[0, 0, 1] == 0) and np.all(np.isfinite(out.detach().numpy()))
    out.sum().backward()
    assert np.all(q.grad.numpy()[0, 0, 1] == 0)
    assert all(np.all(np.isfinite(t.grad.numpy())) for t in (q, k, v))


def test_sdpa_empty_and_size_one_dims():
    for L, S, E, Ev in [(0, 3, 4, 2), (3, 0, 4, 2), (2, 3, 0, 2), (2, 3, 4, 0), (1, 1, 1, 1)]:
        rng = np.random.default_rng(6)
        q, k, v = rand(rng, (2, L, E)), rand(rng, (2, S, E)), rand(rng, (2, S, Ev))
        tq, tk, tv = (lamina.tensor(t, requires_grad=True) for t in (q, k, v))
        out = F.scaled_dot_product_attention(tq, tk, tv)
        assert tuple(out.shape) == (2, L, Ev)
        np.testing.assert_allclose(out.detach().numpy(), np_sdpa(q, k, v), atol=1e-12)
        out.sum().backward()
        assert tuple(tk.grad.shape) == k.shape


GRAD_CASES = [
    dict(shapes=[(2, 2, 5, 3), (2, 2, 6, 3), (2, 2, 6, 4)]),
    dict(shapes=[(2, 2, 5, 3), (2, 2, 5, 3), (2, 2, 5, 4)], is_causal=True),
    dict(shapes=[(1, 4, 5, 3), (1, 2, 6, 3), (1, 2, 6, 2)], enable_gqa=True),
    dict(shapes=[(2, 3, 4, 3), (3, 5, 3), (5, 2)]),  # broadcast batch
    dict(shapes=[(2, 4, 3), (2, 5, 3), (2, 5, 3)], mask="bool"),
    dict(shapes=[(2, 4, 3), (2, 5, 3), (2, 5, 3)], mask="float", scale=0.7),
    dict(shapes=[(1, 1, 70, 3), (1, 1, 67, 3), (1, 1, 67, 2)], is_causal=True),  # several tiles
]


@pytest.mark.parametrize("case", GRAD_CASES, ids=lambda c: str(c))
def test_sdpa_gradcheck(case):
    rng = np.random.default_rng(7)
    inputs = [lamina.tensor(rand(rng, s), requires_grad=True) for s in case["shapes"]]
    kwargs = {key: val for key, val in case.items() if key not in ("shapes", "mask")}
    if "mask" in case:
        L, S = case["shapes"][0][-2], case["shapes"][1][-2]
        m = rng.random((L, S)) > 0.3 if case["mask"] == "bool" else rng.normal(size=(L, S))
        kwargs["attn_mask"] = lamina.tensor(m)
    assert gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, **kwargs), inputs)


def test_sdpa_gradcheck_with_dropout_on_a_fixed_seed():
    # Re-seeding before each call draws the same mask, so forward and backward must agree on it.
    rng = np.random.default_rng(8)
    inputs = [lamina.tensor(rand(rng, s), requires_grad=True) for s in [(2, 2, 5, 3), (2, 2, 7, 3), (2, 2, 7, 4)]]

    def fn(q, k, v):
        lamina.manual_seed(11)
        return F.scaled_dot_product_attention(q, k, v, dropout_p=0.4)

    assert gradcheck(fn, inputs)
    lamina.manual_seed(11)
    out = F.scaled_dot_product_attention(*inputs, dropout_p=0.4).detach().numpy()
    ref = np_sdpa(*(t.detach().numpy() for t in inputs))
    assert not np.allclose(out, ref)  # dropout acted


def test_sdpa_dropout_keeps_the_expected_fraction():
    # With v = identity rows, out[i, j] = softmax weight * keep / (1 - p): the zeros are the drops.
    L = S = 256
    q = lamina.zeros((1, 1, L, 4))
    k = lamina.zeros((1, 1, S, 4))
    v = lamina.eye(S).reshape(1, 1, S, S)
    lamina.manual_seed(3)
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.25).numpy()
    kept = out != 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(out[kept], 1 / S / 0.75, rtol=1e-6)


def _run_threads(n, dtype):
    lamina.set_num_threads(n)
    rng = np.random.default_rng(9)
    q, k, v = (lamina.tensor(rand(rng, s, dtype), requires_grad=True)
               for s in [(2, 3, 150, 32), (2, 3, 170, 32), (2, 3, 170, 24)])
    lamina.manual_seed(5)
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=0.2, is_causal=True)
    out.backward(lamina.tensor(rand(rng, tuple(out.shape), dtype)))
    return [t.numpy().copy() for t in (out.detach(), q.grad, k.grad, v.grad)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sdpa_bitwise_identical_for_1_and_2_threads(dtype):
    old = lamina.get_num_threads()
    try:
        one, two = _run_threads(1, dtype), _run_threads(2, dtype)
    finally:
        lamina.set_num_threads(old)
    for a, b in zip(one, two):
        assert a.tobytes() == b.tobytes()


def test_sdpa_memory_is_linear_in_length():
    # T = 4096: one score matrix per head would be T * T * 4 = 64 MiB; the fused kernel needs tiles only.
    script = textwrap.dedent("""
        import resource, lamina, lamina.nn.functional as F
        T, D = 4096, 64
        q, k, v = (lamina.randn(1, 1, T, D, requires_grad=True) for _ in range(3))
        g = lamina.randn(1, 1, T, D)
        F.scaled_dot_product_attention(q[:, :, :64], k[:, :, :64], v[:, :, :64], is_causal=True).sum().backward()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        out.backward(g)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
    """)
    grown_kib = int(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                   check=True).stdout.strip())
    assert grown_kib * 1024 < 16 * 2**20, f"peak memory grew by {grown_kib} KiB"


def test_sdpa_double_backward_raises():
    q, k, v = (lamina.randn(1, 3, 4, dtype=lamina.float64, requires_grad=True) for _ in range(3))
    out = F.scaled_dot_product_attention(q, k, v)
    (gq,) = lamina.autograd.grad(out.sum(), [q], create_graph=False)
    assert tuple(gq.shape) == (1, 3, 4)
    out = F.scaled_dot_product_attention(q, k, v)
    with pytest.raises(RuntimeError, match="scaled_dot_product_attention: double backward"):
        lamina.autograd.grad(out.sum(), [q], create_graph=True)


@pytest.mark.parametrize("args,kwargs,exc,match", [
    (((3,), (3, 4), (3, 4)), {}, RuntimeError, r"at least 2 dims, got shapes \(3,\)"),
    (((2, 3, 4), (2, 5, 6), (2, 5, 4)), {}, RuntimeError, r"query \(2, 3, 4\) and key \(2, 5, 6\) must have the same last dim"),
    (((2, 3, 4), (2, 5, 4), (2, 6, 4)), {}, RuntimeError, r"key \(2, 5, 4\) and value \(2, 6, 4\)"),
    (((2, 3, 4), (3, 5, 4), (3, 5, 4)), {}, RuntimeError, r"cannot be broadcast"),
    (((2, 4, 3, 4), (2, 3, 5, 4), (2, 3, 5, 4)), {"enable_gqa": True}, RuntimeError, "must divide"),
    (((2, 3, 4), (2, 5, 4), (2, 5, 4)), {"dropout_p": 1.5}, ValueError, "dropout_p has to be between 0 and 1"),
])
def test_sdpa_errors(args, kwargs, exc, match):
    q, k, v = (lamina.randn(*s) for s in args)
    with pytest.raises(exc, match=match):
        F.scaled_dot_product_attention(q, k, v, **kwargs)


def test_sdpa_mask_errors():
    q, k, v = lamina.randn(2, 3, 4), lamina.randn(2, 5, 4), lamina.randn(2, 5, 4)
    with pytest.raises(RuntimeError, match=r"attn_mask of shape \(3, 4\) cannot be broadcast to the scores' shape \(2, 3, 5\)"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=lamina.ones(3, 4, dtype=lamina.bool))
    with pytest.raises(RuntimeError, match="attn_mask of dtype bool or the query's dtype float32, got int64"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=lamina.ones(3, 5, dtype=lamina.int64))
    with pytest.raises(RuntimeError, match="attn_mask should not be set when is_causal=True"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=lamina.ones(3, 5, dtype=lamina.bool), is_causal=True)
    with pytest.raises(RuntimeError, match="same dtype, got float32, float64 and float32"):
        F.scaled_dot_product_attention(q, k.double(), v)
    with pytest.raises(NotImplementedError, match="scaled_dot_product_attention"):
        F.scaled_dot_product_attention(q.long(), k.long(), v.long())
    with pytest.raises(RuntimeError, match="gradient with respect to a float attn_mask"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=lamina.zeros(3, 5, requires_grad=True))


@pytest.mark.torch
@pytest.mark.parametrize("kw", [dict(), dict(is_causal=True), dict(mask="bool"), dict(mask="float"),
                                dict(enable_gqa=True), dict(scale=0.2)], ids=str)
def test_sdpa_matches_torch_forward_and_grads(kw):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(10)
    kv_heads = 2 if kw.get("enable_gqa") else 4
    arrays = [rand(rng, s, "float32") for s in [(2, 4, 37, 16), (2, kv_heads, 45, 16), (2, kv_heads, 45, 8)]]
    kwargs = {key: val for key, val in kw.items() if key != "mask"}
    mask = None
    if "mask" in kw:
        mask = rng.random((37, 45)) > 0.2 if kw["mask"] == "bool" else rng.normal(size=(37, 45)).astype("float32")
    grad = rand(rng, (2, 4, 37, 8), "float32")
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    ref = torch.nn.functional.scaled_dot_product_attention(
        *ts, attn_mask=None if mask is None else torch.tensor(mask), **kwargs)
    ref.backward(torch.tensor(grad))
    ls = [lamina.tensor(a, requires_grad=True) for a in arrays]
    out = F.scaled_dot_product_attention(*ls, attn_mask=None if mask is None else lamina.tensor(mask), **kwargs)
    out.backward(lamina.tensor(grad))
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-4, atol=1e-5)
    for a, b in zip(ls, ts):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_sdpa_nan_in_a_query_row_reaches_only_that_row():
    q = np.random.default_rng(12).normal(size=(1, 2, 4))
    q[0, 0, 0] = np.nan
    out = F.scaled_dot_product_attention(lamina.tensor(q), lamina.randn(1, 3, 4, dtype=lamina.float64),
                                         lamina.randn(1, 3, 2, dtype=lamina.float64)).numpy()
    assert np.all(np.isnan(out[0, 0])) and np.all(np.isfinite(out[0, 1]))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sdpa_one_visible_key_gives_exactly_zero_key_gradient(dtype, isa):
    # softmax over a single key is 1 whatever the score, so d out / d key is exactly 0: the
    # backward's row term (dO . O) and dO . v must round alike (they once differed in float32).
    rng = np.random.default_rng(13)
    q = lamina.tensor((rng.standard_normal((1, 2, 65, 4)) * 100).astype(dtype), requires_grad=True)
    k = lamina.tensor(rng.standard_normal((1, 1, 1, 4)).astype(dtype), requires_grad=True)
    v = lamina.tensor((rng.standard_normal((1, 1, 1, 4)) * 100).astype(dtype), requires_grad=True)
    out = F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    out.backward(lamina.tensor((rng.standard_normal((1, 2, 65, 4)) * 100).astype(dtype)))
    assert np.all(k.grad.numpy() == 0) and np.all(q.grad.numpy() == 0)


def test_sdpa_gqa_key_and_value_with_different_head_counts():
    # PyTorch repeats key and value separately: each head count only has to divide the query's.
    rng = np.random.default_rng(14)
    arrays = [rand(rng, s) for s in [(2, 4, 5, 3), (2, 2, 6, 3), (2, 1, 6, 2)]]
    tensors = [lamina.tensor(a, requires_grad=True) for a in arrays]
    out = F.scaled_dot_product_attention(*tensors, enable_gqa=True)
    q, k, v = arrays
    ref = np_sdpa(q, np.repeat(k, 2, axis=1), np.repeat(v, 4, axis=1))
    np.testing.assert_allclose(out.detach().numpy(), ref, rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, enable_gqa=True), tensors)
    with pytest.raises(RuntimeError, match="must divide the number of heads in query"):
        F.scaled_dot_product_attention(*(lamina.randn(*s) for s in [(1, 2, 4), (1, 2, 4), (2, 2, 3)]),
                                       enable_gqa=True)
