"""nn.MultiheadAttention and F.multi_head_attention_forward: against a per-head reference written
with lamina's matmul and softmax, float64 gradcheck, every constructor and forward option, and
(marked torch) against torch.nn.MultiheadAttention with state dicts copied both ways."""

import itertools
import math

import numpy as np
import pytest

import lamina
import lamina.nn as nn
import lamina.nn.functional as F
from lamina.autograd import gradcheck

F64 = lamina.float64
L, S, N, E, H = 4, 5, 3, 8, 2


def randn(*shape):
    return lamina.from_numpy(np.random.randn(*shape))


def close(actual, desired, **kw):
    """assert_allclose of tensors or arrays."""
    as_np = lambda t: t.detach().numpy() if hasattr(t, "detach") else t  # noqa: E731  (lamina or torch)
    np.testing.assert_allclose(as_np(actual), as_np(desired), **kw)


def additive(mask, dtype=F64):
    """Bool mask (True = masked) -> 0 / -inf; float masks unchanged."""
    if mask is None or mask.is_floating_point():
        return mask
    return lamina.where(mask, lamina.full(tuple(mask.shape), float("-inf"), dtype=dtype),
                        lamina.zeros(tuple(mask.shape), dtype=dtype))


def reference(m, query, key, value, key_padding_mask=None, attn_mask=None):
    """Sequence-first (L, N, E) inputs -> output (L, N, E), per-head weights (N, H, L, S'), one head and one
    batch entry at a time."""
    E, H = m.embed_dim, m.num_heads
    d = E // H
    if m._qkv_same_embed_dim:
        wq, wk, wv = m.in_proj_weight[:E], m.in_proj_weight[E:2 * E], m.in_proj_weight[2 * E:]
    else:
        wq, wk, wv = m.q_proj_weight, m.k_proj_weight, m.v_proj_weight
    b = m.in_proj_bias
    q, k, v = query @ wq.t(), key @ wk.t(), value @ wv.t()
    if b is not None:
        q, k, v = q + b[:E], k + b[E:2 * E], v + b[2 * E:]
    n = query.shape[1]
    if m.bias_k is not None:
        k = lamina.cat([k, m.bias_k.expand(1, n, E)], 0)
        v = lamina.cat([v, m.bias_v.expand(1, n, E)], 0)
    if m.add_zero_attn:
        k = lamina.cat([k, lamina.zeros((1, n, E), dtype=k.dtype)], 0)
        v = lamina.cat([v, lamina.zeros((1, n, E), dtype=v.dtype)], 0)
    s_full = k.shape[0]
    attn_mask, key_padding_mask = additive(attn_mask), additive(key_padding_mask)
    outs, weights = [], []
    for i in range(n):
        heads, w_i = [], []
        for h in range(H):
            cols = slice(h * d, (h + 1) * d)
            scores = (q[:, i, cols] @ k[:, i, cols].t()) / math.sqrt(d)
            if attn_mask is not None:
                mask = attn_mask if attn_mask.dim() == 2 else attn_mask[i * H + h]
                scores = scores + F.pad(mask, (0, s_full - mask.shape[-1]))
            if key_padding_mask is not None:
                scores = scores + F.pad(key_padding_mask[i], (0, s_full - key_padding_mask.shape[-1]))
            p = lamina.softmax(scores, -1)
            heads.append(p @ v[:, i, cols])
            w_i.append(p)
        outs.append(lamina.cat(heads, -1))
        weights.append(lamina.stack(w_i))
    out = lamina.stack(outs, 1) @ m.out_proj.weight.t()
    if m.out_proj.bias is not None:
        out = out + m.out_proj.bias
    return out, lamina.stack(weights)


def make(**kw):
    m = nn.MultiheadAttention(E, H, dtype=F64, **kw)
    if m.in_proj_bias is not None:  # nonzero biases so they are exercised
        with lamina.no_grad():
            m.in_proj_bias.copy_(randn(3 * E))
            m.out_proj.bias.copy_(randn(E))
    return m


def inputs(m, batched=True):
    lead = (N,) if batched else ()
    return (randn(L, *lead, E), randn(S, *lead, m.kdim), randn(S, *lead, m.vdim))


def masks(kind, batched=True):
    """(key_padding_mask, attn_mask) of the given kind."""
    kpm = np.zeros((N, S), dtype=bool)
    kpm[0, -1] = kpm[2, 1] = True
    kpm = kpm if batched else kpm[0]
    bool2d = np.triu(np.ones((L, S), dtype=bool), 2)
    return {
        "none": (None, None),
        "kpm_bool": (lamina.from_numpy(kpm), None),
        "kpm_float": (lamina.from_numpy(np.where(kpm, -1e9, 0.5)), None),
        "attn_bool2d": (None, lamina.from_numpy(bool2d)),
        "attn_float2d": (None, randn(L, S)),
        "attn_float3d": (None, randn(N * H if batched else H, L, S)),
        "both_bool": (lamina.from_numpy(kpm), lamina.from_numpy(bool2d)),
        "both_float": (lamina.from_numpy(np.where(kpm, -1e9, 0.0)), randn(L, S)),
    }[kind]


OPTIONS = [dict(), dict(bias=False), dict(add_bias_kv=True), dict(add_zero_attn=True), dict(kdim=3, vdim=5),
           dict(add_bias_kv=True, add_zero_attn=True, kdim=6, vdim=7)]
MASKS = ["none", "kpm_bool", "kpm_float", "attn_bool2d", "attn_float2d", "attn_float3d", "both_bool", "both_float"]


@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()) or "default")
@pytest.mark.parametrize("mask_kind", MASKS)
def test_mha_matches_reference(opts, mask_kind):
    m = make(**opts)
    q, k, v = inputs(m)
    kpm, am = masks(mask_kind)
    want_out, want_w = reference(m, q, k, v, kpm, am)
    for need_weights, average in itertools.product([True, False], [True, False]):
        out, w = m(q, k, v, key_padding_mask=kpm, attn_mask=am, need_weights=need_weights,
                   average_attn_weights=average)
        close(out, want_out, rtol=1e-10, atol=1e-12)
        if not need_weights:
            assert w is None
        else:
            want = want_w.mean(1) if average else want_w
            assert tuple(w.shape) == tuple(want.shape)
            close(w, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mask_kind", ["none", "kpm_bool", "attn_float2d", "attn_float3d", "both_bool"])
def test_mha_unbatched_equals_batch_of_one(mask_kind):
    m = make(add_bias_kv=True)
    q, k, v = inputs(m, batched=False)
    kpm, am = masks(mask_kind, batched=False)
    out, w = m(q, k, v, key_padding_mask=kpm, attn_mask=am, average_attn_weights=False)
    ref_out, ref_w = reference(m, q.unsqueeze(1), k.unsqueeze(1), v.unsqueeze(1),
                               None if kpm is None else kpm.unsqueeze(0), am)
    assert tuple(out.shape) == (L, E) and tuple(w.shape) == (H, L, S + 1)
    close(out, ref_out.squeeze(1), rtol=1e-10, atol=1e-12)
    close(w, ref_w.squeeze(0), rtol=1e-10, atol=1e-12)
    fused, none = m(q, k, v, key_padding_mask=kpm, attn_mask=am, need_weights=False)
    assert none is None
    close(fused, out, rtol=1e-10, atol=1e-12)


def test_mha_batch_first_transposes_inputs_and_output():
    m = make(kdim=3, vdim=5)
    mb = make(kdim=3, vdim=5, batch_first=True)
    mb.load_state_dict(m.state_dict())
    q, k, v = inputs(m)
    kpm, am = masks("both_bool")
    out, w = m(q, k, v, key_padding_mask=kpm, attn_mask=am)
    out_b, w_b = mb(q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1), key_padding_mask=kpm, attn_mask=am)
    close(out_b.transpose(0, 1), out, rtol=1e-12, atol=1e-13)
    close(w_b, w, rtol=1e-12, atol=1e-13)


def test_mha_self_attention_paths_agree():
    """query is key is value (one packed projection), key is value, and three distinct tensors."""
    m = make(batch_first=True)
    x = randn(N, L, E)
    y = randn(N, S, E)
    close(m(x, x, x)[0], m(x, x.clone(), x.clone())[0], rtol=1e-12, atol=1e-13)
    close(m(x, y, y)[0], m(x, y, y.clone())[0], rtol=1e-12, atol=1e-13)


def test_mha_is_causal_hint_matches_the_causal_mask():
    m = make()
    x = randn(L, N, E)
    causal = nn.Transformer.generate_square_subsequent_mask(L, dtype=F64)
    want = reference(m, x, x, x, attn_mask=causal)[0].detach().numpy()
    for need_weights in (True, False):
        out = m(x, x, x, attn_mask=causal, is_causal=True, need_weights=need_weights)[0]
        close(out, want, rtol=1e-10, atol=1e-12)
    kpm = masks("kpm_bool")[0][:, :L]
    with pytest.warns(UserWarning, match="mismatched key_padding_mask and attn_mask is deprecated"):
        out = m(x, x, x, attn_mask=causal, key_padding_mask=kpm, is_causal=True, need_weights=False)[0]
    close(out, reference(m, x, x, x, kpm, causal)[0], rtol=1e-10, atol=1e-12)
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        m(x, x, x, is_causal=True)


def test_mha_parameters_init_and_state_dict_names():
    m = nn.MultiheadAttention(E, H)
    assert list(m.state_dict()) == ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]
    assert type(m.out_proj).__name__ == "NonDynamicallyQuantizableLinear" and isinstance(m.out_proj, nn.Linear)
    assert m.head_dim == E // H and m._qkv_same_embed_dim
    bound = math.sqrt(6.0 / (E + 3 * E))  # xavier_uniform_ over the packed (3E, E) weight
    assert np.abs(m.in_proj_weight.detach().numpy()).max() <= bound
    assert not m.in_proj_bias.detach().numpy().any() and not m.out_proj.bias.detach().numpy().any()
    m = nn.MultiheadAttention(E, H, bias=False, add_bias_kv=True, kdim=3, vdim=5)
    assert list(m.state_dict()) == ["q_proj_weight", "k_proj_weight", "v_proj_weight", "bias_k", "bias_v",
                                    "out_proj.weight"]
    assert m.in_proj_weight is None and m.in_proj_bias is None and not m._qkv_same_embed_dim
    assert tuple(m.k_proj_weight.shape) == (E, 3) and tuple(m.v_proj_weight.shape) == (E, 5)
    assert tuple(m.bias_k.shape) == (1, 1, E) and m.bias_k.detach().numpy().any()
    assert repr(nn.MultiheadAttention(4, 2)).startswith("MultiheadAttention(\n  (out_proj): "
                                                       "NonDynamicallyQuantizableLinear(in_features=4")
    assert nn.modules.activation.MultiheadAttention is nn.MultiheadAttention


def test_mha_dropout_only_in_training():
    m = make(dropout=0.5)
    q, k, v = inputs(m)
    m.eval()
    close(m(q, k, v)[0], reference(m, q, k, v)[0], rtol=1e-10, atol=1e-12)
    m.train()
    m.dropout = 1.0  # every attention weight dropped: the output is the out_proj bias
    for need_weights in (True, False):
        out, w = m(q, k, v, need_weights=need_weights)
        close(out, np.broadcast_to(m.out_proj.bias, (L, N, E)),
                                   atol=1e-12)
    m.dropout = 0.5
    out = m(q, k, v, need_weights=True)[1].detach().numpy()
    assert (out == 0).any() and np.isfinite(out).all()


def test_mha_float32_matches_float64():
    m = make(add_bias_kv=True)
    q, k, v = inputs(m)
    kpm, am = masks("both_bool")
    want = m(q, k, v, key_padding_mask=kpm, attn_mask=am)
    m32 = nn.MultiheadAttention(E, H, add_bias_kv=True)
    m32.load_state_dict({name: t.float() for name, t in m.state_dict().items()})
    got = m32(q.float(), k.float(), v.float(), key_padding_mask=kpm, attn_mask=am)
    assert got[0].dtype == lamina.float32
    for a, b in zip(got, want):
        close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("opts", [dict(), dict(add_bias_kv=True, add_zero_attn=True), dict(kdim=3, vdim=2)])
@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_gradcheck(opts, need_weights):
    m = nn.MultiheadAttention(4, 2, dtype=F64, **opts)
    q, k, v = randn(3, 2, 4), randn(2, 2, m.kdim), randn(2, 2, m.vdim)
    for t in (q, k, v):
        t.requires_grad_(True)
    kpm = lamina.from_numpy(np.array([[0.0, 0.0], [0.0, -1e9]]))
    am = randn(3, 2)

    def fn(*args):
        out, w = m(q, k, v, key_padding_mask=kpm, attn_mask=am, need_weights=need_weights)
        return out if w is None else (out, w)

    assert gradcheck(fn, [q, k, v] + list(m.parameters()))


def test_functional_matches_module_with_static_kv():
    m = make()
    q, k, v = inputs(m)
    args = (E, H, m.in_proj_weight, m.in_proj_bias, None, None, False, 0.0, m.out_proj.weight, m.out_proj.bias)
    out, w = F.multi_head_attention_forward(q, k, v, *args)
    close(out, m(q, k, v)[0], rtol=1e-12, atol=1e-13)
    # static_k / static_v replace the projected keys and values, laid out (N * H, S, E / H).
    d = E // H
    proj_k = (k @ m.in_proj_weight[E:2 * E].t() + m.in_proj_bias[E:2 * E]).reshape(S, N * H, d).transpose(0, 1)
    proj_v = (v @ m.in_proj_weight[2 * E:].t() + m.in_proj_bias[2 * E:]).reshape(S, N * H, d).transpose(0, 1)
    out_s, w_s = F.multi_head_attention_forward(q, randn(S, N, E), randn(S, N, E), *args,
                                                static_k=proj_k.contiguous(), static_v=proj_v.contiguous())
    close(out_s, out, rtol=1e-10, atol=1e-12)
    close(w_s, w, rtol=1e-10, atol=1e-12)


# ---- against torch ---------------------------------------------------------------------------


def _to_torch(torch, t):
    return torch.from_numpy(t.detach().numpy().copy())


def _to_lamina(t):
    return lamina.from_numpy(t.detach().numpy().copy())


TORCH_OPTIONS = OPTIONS + [dict(batch_first=True), dict(batch_first=True, kdim=3, vdim=5, add_bias_kv=True)]


@pytest.mark.torch
@pytest.mark.parametrize("opts", TORCH_OPTIONS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()) or "default")
@pytest.mark.parametrize("mask_kind", ["none", "kpm_bool", "attn_float3d", "both_bool", "both_float"])
@pytest.mark.parametrize("need_weights,average", [(True, True), (True, False), (False, True)])
def test_mha_matches_torch(opts, mask_kind, need_weights, average):
    torch = pytest.importorskip("torch")
    tm = torch.nn.MultiheadAttention(E, H, dtype=torch.float64, **opts)
    with torch.no_grad():
        for p in tm.parameters():
            p.copy_(torch.randn_like(p))
    m = nn.MultiheadAttention(E, H, dtype=F64, **opts)
    m.load_state_dict({name: _to_lamina(t) for name, t in tm.state_dict().items()})
    assert list(m.state_dict()) == list(tm.state_dict())
    q, k, v = inputs(m)
    if opts.get("batch_first"):
        q, k, v = (t.transpose(0, 1).contiguous() for t in (q, k, v))
    kpm, am = masks(mask_kind)
    tq, tk, tv = (_to_torch(torch, t).requires_grad_(True) for t in (q, k, v))
    for t in (q, k, v):
        t.requires_grad_(True)
    t_kpm, t_am = (None if x is None else _to_torch(torch, x) for x in (kpm, am))
    kw = dict(need_weights=need_weights, average_attn_weights=average)
    t_out, t_w = tm(tq, tk, tv, key_padding_mask=t_kpm, attn_mask=t_am, **kw)
    out, w = m(q, k, v, key_padding_mask=kpm, attn_mask=am, **kw)
    close(out, t_out, rtol=1e-10, atol=1e-12)
    assert (w is None) == (t_w is None)
    if w is not None:
        close(w, t_w, rtol=1e-10, atol=1e-12)
    g = np.random.randn(*out.shape)
    out.backward(lamina.from_numpy(g))
    t_out.backward(torch.from_numpy(g))
    for a, b in zip([q, k, v], [tq, tk, tv]):
        close(a.grad, b.grad, rtol=1e-9, atol=1e-11)
    t_params = dict(tm.named_parameters())
    for name, p in m.named_parameters():
        close(p.grad, t_params[name].grad, rtol=1e-9, atol=1e-11, err_msg=name)


@pytest.mark.torch
def test_mha_state_dict_round_trips_to_torch():
    torch = pytest.importorskip("torch")
    m = make(add_bias_kv=True, kdim=3, vdim=5)
    tm = torch.nn.MultiheadAttention(E, H, add_bias_kv=True, kdim=3, vdim=5, dtype=torch.float64)
    tm.load_state_dict({name: _to_torch(torch, t) for name, t in m.state_dict().items()})
    q, k, v = inputs(m)
    kpm = masks("kpm_bool")[0]
    out, w = m(q, k, v, key_padding_mask=kpm)
    t_out, t_w = tm(*(_to_torch(torch, t) for t in (q, k, v)), key_padding_mask=_to_torch(torch, kpm))
    close(out, t_out, rtol=1e-10, atol=1e-12)
    close(w, t_w, rtol=1e-10, atol=1e-12)


@pytest.mark.torch
def test_functional_matches_torch_unbatched_with_static_kv():
    torch = pytest.importorskip("torch")
    import torch.nn.functional as TF

    m = make()
    q, k, v = inputs(m, batched=False)
    sk, sv = randn(H, S, E // H), randn(H, S, E // H)
    args = [E, H, m.in_proj_weight, m.in_proj_bias, None, None, True, 0.0, m.out_proj.weight, m.out_proj.bias]
    out, w = F.multi_head_attention_forward(q, k, v, *args, static_k=sk, static_v=sv)
    t_args = [a if not isinstance(a, lamina.Tensor) else _to_torch(torch, a) for a in args]
    t_out, t_w = TF.multi_head_attention_forward(*(_to_torch(torch, t) for t in (q, k, v)), *t_args,
                                                 static_k=_to_torch(torch, sk), static_v=_to_torch(torch, sv))
    close(out, t_out, rtol=1e-10, atol=1e-12)
    close(w, t_w, rtol=1e-10, atol=1e-12)
