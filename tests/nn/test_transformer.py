"""Transformer, TransformerEncoder/Decoder and their layers: against a reference composed in this file
from matmul, softmax and layer_norm, float64 gradcheck, the causal-mask helpers, and (marked torch)
against torch.nn with state dicts copied both ways (outputs and gradients)."""

import math
import warnings

import numpy as np
import pytest

import lamina
import lamina.nn as nn
import lamina.nn.functional as F
from lamina.autograd import gradcheck
from lamina.nn.modules.transformer import _detect_is_causal_mask, _generate_square_subsequent_mask

F64 = lamina.float64
D, HEADS, FF = 8, 2, 16


def randn(*shape):
    return lamina.from_numpy(np.random.randn(*shape))


def close(actual, desired, rtol=1e-10, atol=1e-12):
    as_np = lambda t: t.detach().numpy() if hasattr(t, "detach") else t  # noqa: E731  (lamina or torch)
    np.testing.assert_allclose(as_np(actual), as_np(desired), rtol=rtol, atol=atol)


def additive(mask):
    if mask is None or mask.is_floating_point():
        return mask
    return lamina.where(mask, lamina.full(tuple(mask.shape), float("-inf"), dtype=F64), lamina.zeros(tuple(mask.shape),
                                                                                                    dtype=F64))


def ref_attention(m, x, mem, attn_mask, kpm):
    """Sequence-first x (T, N, D), mem (S, N, D) through m's packed projections, one head at a time."""
    w, b = m.in_proj_weight, m.in_proj_bias
    q, k, v = x @ w[:D].t() + b[:D], mem @ w[D:2 * D].t() + b[D:2 * D], mem @ w[2 * D:].t() + b[2 * D:]
    d = D // m.num_heads
    attn_mask, kpm = additive(attn_mask), additive(kpm)
    rows = []
    for i in range(x.shape[1]):
        heads = []
        for h in range(m.num_heads):
            c = slice(h * d, (h + 1) * d)
            scores = q[:, i, c] @ k[:, i, c].t() / math.sqrt(d)
            if attn_mask is not None:
                scores = scores + attn_mask
            if kpm is not None:
                scores = scores + kpm[i]
            heads.append(lamina.softmax(scores, -1) @ v[:, i, c])
        rows.append(lamina.cat(heads, -1))
    return lamina.stack(rows, 1) @ m.out_proj.weight.t() + m.out_proj.bias


def ref_ff(layer, x):
    h = layer.activation(x @ layer.linear1.weight.t() + layer.linear1.bias)
    return h @ layer.linear2.weight.t() + layer.linear2.bias


def ln(norm, x):
    return F.layer_norm(x, (D,), norm.weight, norm.bias, norm.eps)


def ref_encoder_layer(layer, x, mask=None, kpm=None):
    """Sequence-first x; the residual blocks of "Attention Is All You Need" (post-norm) or pre-norm."""
    if layer.norm_first:
        h = ln(layer.norm1, x)
        x = x + ref_attention(layer.self_attn, h, h, mask, kpm)
        return x + ref_ff(layer, ln(layer.norm2, x))
    x = ln(layer.norm1, x + ref_attention(layer.self_attn, x, x, mask, kpm))
    return ln(layer.norm2, x + ref_ff(layer, x))


def ref_decoder_layer(layer, x, mem, tgt_mask=None, memory_mask=None, tgt_kpm=None, mem_kpm=None):
    if layer.norm_first:
        h = ln(layer.norm1, x)
        x = x + ref_attention(layer.self_attn, h, h, tgt_mask, tgt_kpm)
        x = x + ref_attention(layer.multihead_attn, ln(layer.norm2, x), mem, memory_mask, mem_kpm)
        return x + ref_ff(layer, ln(layer.norm3, x))
    x = ln(layer.norm1, x + ref_attention(layer.self_attn, x, x, tgt_mask, tgt_kpm))
    x = ln(layer.norm2, x + ref_attention(layer.multihead_attn, x, mem, memory_mask, mem_kpm))
    return ln(layer.norm3, x + ref_ff(layer, x))


def perturb(module):
    """Random values in every parameter (LayerNorm weights included) so that each one matters."""
    with lamina.no_grad():
        for p in module.parameters():
            p.copy_(randn(*p.shape) * 0.5)
    return module


def padding(n, s):
    kpm = np.zeros((n, s), dtype=bool)
    kpm[0, -1] = kpm[-1, 1] = True
    return lamina.from_numpy(kpm)


ACTIVATIONS = ["relu", "gelu", F.gelu, nn.GELU(), lambda x: F.silu(x) * 2.0]
ACT_IDS = ["relu", "gelu", "F.gelu", "GELU()", "lambda"]


@pytest.mark.filterwarnings("ignore:Support for mismatched")
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ACTIVATIONS, ids=ACT_IDS)
@pytest.mark.parametrize("batch_first", [False, True])
def test_encoder_layer_matches_reference(norm_first, activation, batch_first):
    layer = perturb(nn.TransformerEncoderLayer(D, HEADS, FF, dropout=0.0, activation=activation,
                                               norm_first=norm_first, batch_first=batch_first, dtype=F64))
    x = randn(5, 3, D)
    mask = randn(5, 5)
    kpm = padding(3, 5)  # bool, with a float attn_mask: allowed (torch warns that it is deprecated)
    want = ref_encoder_layer(layer, x, mask, kpm)
    x_in = x.transpose(0, 1) if batch_first else x
    for key_padding_mask in (kpm, additive(kpm)):  # a bool mask and its float form
        got = layer(x_in, src_mask=mask, src_key_padding_mask=key_padding_mask)
        close(got.transpose(0, 1) if batch_first else got, want)
    got = layer(x_in)
    close(got.transpose(0, 1) if batch_first else got, ref_encoder_layer(layer, x))


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu", lambda x: x.tanh()], ids=["relu", "gelu", "lambda"])
def test_decoder_layer_matches_reference(norm_first, activation):
    layer = perturb(nn.TransformerDecoderLayer(D, HEADS, FF, dropout=0.0, activation=activation,
                                               norm_first=norm_first, dtype=F64))
    tgt, mem = randn(4, 3, D), randn(6, 3, D)
    causal = nn.Transformer.generate_square_subsequent_mask(4, dtype=F64)
    memory_mask = randn(4, 6)
    t_kpm = lamina.from_numpy(np.triu(np.ones((3, 4), dtype=bool), 3))
    m_kpm = padding(3, 6)
    want = ref_decoder_layer(layer, tgt, mem, causal, memory_mask, additive(t_kpm), additive(m_kpm))
    got = layer(tgt, mem, tgt_mask=causal, memory_mask=memory_mask, tgt_key_padding_mask=additive(t_kpm),
                memory_key_padding_mask=additive(m_kpm), tgt_is_causal=True)
    close(got, want)
    close(layer(tgt, mem), ref_decoder_layer(layer, tgt, mem))


def test_unbatched_inputs_equal_a_batch_of_one():
    model = perturb(nn.Transformer(D, HEADS, 2, 2, FF, dropout=0.0, dtype=F64))
    src, tgt = randn(5, D), randn(4, D)
    causal = nn.Transformer.generate_square_subsequent_mask(4, dtype=F64)
    out = model(src, tgt, tgt_mask=causal)
    assert tuple(out.shape) == (4, D)
    close(out, model(src.unsqueeze(1), tgt.unsqueeze(1), tgt_mask=causal).squeeze(1))
    layer = model.encoder.layers[0]
    kpm = lamina.from_numpy(np.array([False, False, True, False, False]))
    close(layer(src, src_key_padding_mask=kpm), layer(src.unsqueeze(1), src_key_padding_mask=kpm.unsqueeze(0))
          .squeeze(1))


def test_stacks_apply_deep_copies_in_turn_then_norm():
    layer = nn.TransformerEncoderLayer(D, HEADS, FF, dropout=0.0, dtype=F64)
    enc = nn.TransformerEncoder(layer, 3, norm=nn.LayerNorm(D, dtype=F64), enable_nested_tensor=False)
    assert len(enc.layers) == 3 and enc.layers[0] is not layer and enc.layers[0] is not enc.layers[1]
    close(enc.layers[1].linear1.weight, layer.linear1.weight, 0, 0)  # copies start equal
    perturb(enc)
    x, mask, kpm = randn(5, 2, D), randn(5, 5), additive(padding(2, 5))
    h = x
    for lyr in enc.layers:
        h = ref_encoder_layer(lyr, h, mask, kpm)
    close(enc(x, mask=mask, src_key_padding_mask=kpm), ln(enc.norm, h))
    dec = perturb(nn.TransformerDecoder(nn.TransformerDecoderLayer(D, HEADS, FF, dropout=0.0, dtype=F64), 2))
    tgt = randn(3, 2, D)
    h = tgt
    for lyr in dec.layers:
        h = ref_decoder_layer(lyr, h, x)
    close(dec(tgt, x), h)
    assert dec.norm is None and enc.use_nested_tensor is False and enc.mask_check is True


def test_transformer_state_dict_names():
    model = nn.Transformer(D, HEADS, 2, 1, FF, bias=False)
    names = list(model.state_dict())
    assert names[:9] == ["encoder.layers.0.self_attn.in_proj_weight", "encoder.layers.0.self_attn.out_proj.weight",
                         "encoder.layers.0.linear1.weight", "encoder.layers.0.linear2.weight",
                         "encoder.layers.0.norm1.weight", "encoder.layers.0.norm2.weight",
                         "encoder.layers.1.self_attn.in_proj_weight", "encoder.layers.1.self_attn.out_proj.weight",
                         "encoder.layers.1.linear1.weight"]
    assert "encoder.norm.weight" in names and "decoder.norm.weight" in names and "decoder.norm.bias" not in names
    assert "decoder.layers.0.multihead_attn.in_proj_weight" in names and "decoder.layers.0.norm3.weight" in names
    layer = nn.TransformerDecoderLayer(D, HEADS, FF)
    assert [n for n, _ in layer.named_children()] == ["self_attn", "multihead_attn", "linear1", "dropout", "linear2",
                                                       "norm1", "norm2", "norm3", "dropout1", "dropout2", "dropout3"]
    assert nn.TransformerEncoderLayer(D, HEADS, activation="gelu").activation_relu_or_gelu == 2
    # Transformer re-initialises every matrix with xavier_uniform_ (LayerNorm weights stay ones).
    bound = math.sqrt(6.0 / (D + FF))
    assert np.abs(model.encoder.layers[0].linear1.weight.detach().numpy()).max() <= bound
    assert (model.encoder.layers[0].norm1.weight.detach().numpy() == 1).all()


def test_square_subsequent_mask_and_causal_detection():
    m = nn.Transformer.generate_square_subsequent_mask(3)
    want = np.array([[0, -np.inf, -np.inf], [0, 0, -np.inf], [0, 0, 0]], dtype=np.float32)
    assert m.dtype == lamina.float32
    np.testing.assert_array_equal(m.numpy(), want)
    assert _generate_square_subsequent_mask(2, dtype=F64).dtype == F64
    assert _detect_is_causal_mask(m, None, 3) and not _detect_is_causal_mask(m, None, 4)
    assert not _detect_is_causal_mask(m.flip(0), None, 3) and _detect_is_causal_mask(None, True)
    assert not _detect_is_causal_mask(m, False, 3)


def test_causal_hints_give_the_masked_result():
    model = perturb(nn.Transformer(D, HEADS, 1, 1, FF, dropout=0.0, dtype=F64, batch_first=True))
    src, tgt = randn(2, 5, D), randn(2, 4, D)
    s_mask = nn.Transformer.generate_square_subsequent_mask(5, dtype=F64)
    t_mask = nn.Transformer.generate_square_subsequent_mask(4, dtype=F64)
    want = model(src, tgt, src_mask=s_mask, tgt_mask=t_mask, src_is_causal=False, tgt_is_causal=False)
    close(model(src, tgt, src_mask=s_mask, tgt_mask=t_mask), want)  # detected
    close(model(src, tgt, src_mask=s_mask, tgt_mask=t_mask, src_is_causal=True, tgt_is_causal=True), want)


def test_dropout_only_in_training():
    model = nn.Transformer(D, HEADS, 1, 1, FF, dropout=0.5, dtype=F64)
    src, tgt = randn(5, 2, D), randn(4, 2, D)
    model.eval()
    a = model(src, tgt)
    close(model(src, tgt), a, 0, 0)
    model.train()
    assert not np.allclose(model(src, tgt).detach().numpy(), a.detach().numpy())


@pytest.mark.parametrize("norm_first", [False, True])
def test_layers_gradcheck(norm_first):
    enc = perturb(nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, activation="gelu", norm_first=norm_first,
                                             dtype=F64))
    x = randn(3, 2, 4).requires_grad_(True)
    kpm = padding(2, 3)
    assert gradcheck(lambda *a: enc(x, src_key_padding_mask=kpm), [x] + list(enc.parameters()))
    dec = perturb(nn.TransformerDecoderLayer(4, 2, 6, dropout=0.0, norm_first=norm_first, batch_first=True,
                                             dtype=F64))
    tgt, mem = randn(2, 3, 4).requires_grad_(True), randn(2, 2, 4).requires_grad_(True)
    causal = nn.Transformer.generate_square_subsequent_mask(3, dtype=F64)
    assert gradcheck(lambda *a: dec(tgt, mem, tgt_mask=causal, tgt_is_causal=True),
                     [tgt, mem] + list(dec.parameters()))


def test_transformer_gradcheck():
    model = perturb(nn.Transformer(4, 2, 1, 1, 4, dropout=0.0, dtype=F64))
    src, tgt = randn(2, 1, 4).requires_grad_(True), randn(2, 1, 4).requires_grad_(True)
    mask = nn.Transformer.generate_square_subsequent_mask(2, dtype=F64)
    assert gradcheck(lambda *a: model(src, tgt, tgt_mask=mask), [src, tgt] + list(model.parameters()))


# ---- against torch ---------------------------------------------------------------------------


def _to_torch(torch, t):
    return torch.from_numpy(t.detach().numpy().copy())


def _copy_from_torch(module, t_module):
    assert list(module.state_dict()) == list(t_module.state_dict())
    module.load_state_dict({k: lamina.from_numpy(v.detach().numpy().copy()) for k, v in t_module.state_dict().items()})


def _compare(torch, module, t_module, args, kwargs):
    """Same forward in both libraries; then gradients of a random projection of the output."""
    l_args = [a.detach().clone().requires_grad_(True) for a in args]
    t_args = [_to_torch(torch, a).requires_grad_(True) for a in args]
    t_kwargs = {k: _to_torch(torch, v) if isinstance(v, lamina.Tensor) else v for k, v in kwargs.items()}
    out, t_out = module(*l_args, **kwargs), t_module(*t_args, **t_kwargs)
    close(out, t_out, 1e-9, 1e-11)
    g = np.random.randn(*out.shape)
    out.backward(lamina.from_numpy(g))
    t_out.backward(torch.from_numpy(g))
    for a, ta in zip(l_args, t_args):
        close(a.grad, ta.grad, 1e-8, 1e-10)
    t_params = dict(t_module.named_parameters())
    for name, p in module.named_parameters():
        close(p.grad, t_params[name].grad, 1e-8, 1e-10)


def _torch_activation(torch, activation):
    return {"F.gelu": torch.nn.functional.gelu, "GELU()": torch.nn.GELU(),
            "lambda": lambda x: torch.nn.functional.silu(x) * 2.0}.get(activation, activation)


def _lamina_activation(activation):
    return {"F.gelu": F.gelu, "GELU()": nn.GELU(), "lambda": lambda x: F.silu(x) * 2.0}.get(activation, activation)


@pytest.fixture
def torch_mha_slow_path():
    torch = pytest.importorskip("torch")
    enabled = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)  # torch's fast path zeroes padded rows; lamina computes them
    yield torch
    torch.backends.mha.set_fastpath_enabled(enabled)


@pytest.mark.filterwarnings("ignore:Support for mismatched")
@pytest.mark.torch
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu", "F.gelu", "GELU()", "lambda"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_encoder_layer_matches_torch(torch_mha_slow_path, norm_first, activation, batch_first):
    torch = torch_mha_slow_path
    kw = dict(dropout=0.0, norm_first=norm_first, batch_first=batch_first, layer_norm_eps=1e-6)
    t_layer = torch.nn.TransformerEncoderLayer(D, HEADS, FF, activation=_torch_activation(torch, activation),
                                               dtype=torch.float64, **kw)
    layer = nn.TransformerEncoderLayer(D, HEADS, FF, activation=_lamina_activation(activation), dtype=F64, **kw)
    perturb(layer)
    t_layer.load_state_dict({k: _to_torch(torch, v) for k, v in layer.state_dict().items()})  # lamina -> torch
    _copy_from_torch(layer, t_layer)  # and back
    x = randn(3, 5, D) if batch_first else randn(5, 3, D)
    _compare(torch, layer, t_layer, [x], dict(src_mask=randn(5, 5), src_key_padding_mask=padding(3, 5)))
    _compare(torch, layer, t_layer, [x[0]], dict(src_mask=lamina.from_numpy(np.triu(np.ones((5, 5), bool), 1)),
                                                 is_causal=True))


@pytest.mark.torch
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu", "lambda"])
@pytest.mark.parametrize("bias", [True, False])
def test_decoder_layer_matches_torch(torch_mha_slow_path, norm_first, activation, bias):
    torch = torch_mha_slow_path
    kw = dict(dropout=0.0, norm_first=norm_first, bias=bias)
    t_layer = torch.nn.TransformerDecoderLayer(D, HEADS, FF, activation=_torch_activation(torch, activation),
                                               dtype=torch.float64, **kw)
    layer = nn.TransformerDecoderLayer(D, HEADS, FF, activation=_lamina_activation(activation), dtype=F64, **kw)
    _copy_from_torch(layer, t_layer)
    tgt, mem = randn(4, 3, D), randn(6, 3, D)
    causal = nn.Transformer.generate_square_subsequent_mask(4, dtype=F64)
    _compare(torch, layer, t_layer, [tgt, mem], dict(tgt_mask=causal, tgt_is_causal=True, memory_mask=randn(4, 6),
                                                     memory_key_padding_mask=additive(padding(3, 6))))


@pytest.mark.torch
@pytest.mark.parametrize("norm_first", [False, True])
def test_stacks_match_torch(torch_mha_slow_path, norm_first):
    torch = torch_mha_slow_path
    kw = dict(dropout=0.0, norm_first=norm_first, batch_first=True)
    t_enc = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(D, HEADS, FF, dtype=torch.float64, **kw),
                                        2, norm=torch.nn.LayerNorm(D, dtype=torch.float64),
                                        enable_nested_tensor=False)
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(D, HEADS, FF, dtype=F64, **kw), 2,
                                norm=nn.LayerNorm(D, dtype=F64), enable_nested_tensor=False)
    _copy_from_torch(enc, t_enc)
    src = randn(3, 5, D)
    causal = nn.Transformer.generate_square_subsequent_mask(5, dtype=F64)
    _compare(torch, enc, t_enc, [src], dict(mask=causal, src_key_padding_mask=additive(padding(3, 5))))
    t_dec = torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(D, HEADS, FF, dtype=torch.float64, **kw), 2)
    dec = nn.TransformerDecoder(nn.TransformerDecoderLayer(D, HEADS, FF, dtype=F64, **kw), 2)
    _copy_from_torch(dec, t_dec)
    _compare(torch, dec, t_dec, [randn(3, 4, D), src],
             dict(tgt_mask=nn.Transformer.generate_square_subsequent_mask(4, dtype=F64),
                  memory_key_padding_mask=additive(padding(3, 5))))


@pytest.mark.torch
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_transformer_matches_torch(torch_mha_slow_path, norm_first, activation, batch_first):
    torch = torch_mha_slow_path
    kw = dict(dropout=0.0, norm_first=norm_first, activation=activation, batch_first=batch_first)
    with warnings.catch_warnings():  # torch: enable_nested_tensor is True, but ...
        warnings.simplefilter("ignore")
        t_model = torch.nn.Transformer(D, HEADS, 2, 2, FF, dtype=torch.float64, **kw)
    model = nn.Transformer(D, HEADS, 2, 2, FF, dtype=F64, **kw)
    _copy_from_torch(model, t_model)
    src, tgt = (randn(3, 5, D), randn(3, 4, D)) if batch_first else (randn(5, 3, D), randn(4, 3, D))
    causal = nn.Transformer.generate_square_subsequent_mask(4, dtype=F64)
    _compare(torch, model, t_model, [src, tgt],
             dict(tgt_mask=causal, src_key_padding_mask=padding(3, 5), memory_key_padding_mask=padding(3, 5),
                  tgt_key_padding_mask=lamina.zeros((3, 4), dtype=F64)))
    t_mask = torch.nn.Transformer.generate_square_subsequent_mask(4, dtype=torch.float64)
    np.testing.assert_array_equal(causal.numpy(), t_mask.numpy())

