"""SinusoidalPositionalEncoding, RotaryEmbedding and F.apply_rotary_emb against numpy references,
RoPE's relative-position property, KV-cache offsets, gradients and errors."""

import math

import numpy as np
import pytest

import lamina
import lamina.nn as nn
import lamina.nn.functional as F
from lamina.autograd import gradcheck

RNG = np.random.default_rng(11)


def t(a, requires_grad=False):
    return lamina.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


def ref_sinusoid(length, d_model, offset=0):
    pe = np.zeros((length, d_model))
    for pos in range(length):
        for i in range(d_model):
            angle = (pos + offset) / 10000 ** (2 * (i // 2) / d_model)
            pe[pos, i] = math.sin(angle) if i % 2 == 0 else math.cos(angle)
    return pe


def ref_rope(x, dim, base=10000.0, offset=0):
    """Half-split RoPE on x (..., S, D), written pair by pair: feature i pairs with i + dim / 2."""
    out = x.copy()
    seq, half = x.shape[-2], dim // 2
    for pos in range(seq):
        for i in range(half):
            angle = (pos + offset) * base ** (-2 * i / dim)
            a, b = x[..., pos, i], x[..., pos, i + half]
            out[..., pos, i] = a * math.cos(angle) - b * math.sin(angle)
            out[..., pos, i + half] = b * math.cos(angle) + a * math.sin(angle)
    return out


# ---- sinusoidal -----------------------------------------------------------------------------------

@pytest.mark.parametrize("d_model", [8, 7])
def test_sinusoidal_table_and_layouts(d_model):
    m = nn.SinusoidalPositionalEncoding(d_model, max_len=50, dtype=lamina.float64)
    np.testing.assert_allclose(m.pe.numpy(), ref_sinusoid(50, d_model), atol=1e-12)
    x = RNG.standard_normal((6, 3, d_model))
    np.testing.assert_allclose(m(t(x)).numpy(), x + ref_sinusoid(6, d_model)[:, None], atol=1e-12)
    mb = nn.SinusoidalPositionalEncoding(d_model, batch_first=True, dtype=lamina.float64)
    xb = RNG.standard_normal((3, 6, d_model))
    np.testing.assert_allclose(mb(t(xb)).numpy(), xb + ref_sinusoid(6, d_model)[None], atol=1e-12)
    np.testing.assert_allclose(m(t(x[:, 0])).numpy(), x[:, 0] + ref_sinusoid(6, d_model), atol=1e-12)


def test_sinusoidal_offset_grows_the_table_and_is_not_saved():
    m = nn.SinusoidalPositionalEncoding(4, max_len=8)
    x = RNG.standard_normal((5, 1, 4)).astype(np.float32)
    out = m(lamina.tensor(x), offset=6)  # positions 6..10 run past max_len
    np.testing.assert_allclose(out.numpy(), x + ref_sinusoid(5, 4, offset=6)[:, None], atol=1e-5)
    assert m.pe.shape[0] >= 11 and m.pe.dtype == lamina.float32
    assert "pe" not in m.state_dict() and len(list(m.parameters())) == 0


def test_sinusoidal_dropout_and_gradient():
    m = nn.SinusoidalPositionalEncoding(4, dropout=0.5)
    x = lamina.ones(20, 2, 4, requires_grad=True)
    y = m(x)
    assert (y.detach().numpy() == 0).any()  # dropout in training
    y.sum().backward()
    assert x.grad.shape == x.shape
    m.eval()
    np.testing.assert_allclose(m(lamina.zeros(3, 1, 4)).numpy()[:, 0], ref_sinusoid(3, 4), atol=1e-6)


def test_sinusoidal_errors():
    m = nn.SinusoidalPositionalEncoding(4)
    with pytest.raises(ValueError, match=r"SinusoidalPositionalEncoding: expected input .* got shape \(2, 3, 5\)"):
        m(lamina.zeros(2, 3, 5))
    with pytest.raises(ValueError, match="offset must be a non-negative int, got -1"):
        m(lamina.zeros(2, 3, 4), offset=-1)
    with pytest.raises(ValueError, match="d_model and max_len must be positive"):
        nn.SinusoidalPositionalEncoding(0)


# ---- rotary ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("offset", [0, 5])
def test_rotary_matches_numpy(offset):
    rope = nn.RotaryEmbedding(8, max_seq_len=4)  # offset + S past max_seq_len grows the cache
    x = RNG.standard_normal((2, 3, 6, 8))  # (N, H, S, D)
    np.testing.assert_allclose(rope(t(x), offset=offset).numpy(), ref_rope(x, 8, offset=offset), atol=1e-12)


def test_rotary_partial_dim_base_and_seq_dim():
    x = RNG.standard_normal((2, 5, 3, 10))  # (N, S, H, D): sequence at -3
    rope = nn.RotaryEmbedding(6, base=500.0, seq_dim=-3)
    got = rope(t(x), offset=2).numpy()
    ref = ref_rope(x.transpose(0, 2, 1, 3), 6, base=500.0, offset=2).transpose(0, 2, 1, 3)
    np.testing.assert_allclose(got, ref, atol=1e-12)
    np.testing.assert_array_equal(got[..., 6:], x[..., 6:])  # features past dim pass through


def test_rotary_dot_products_depend_only_on_relative_position():
    rope = nn.RotaryEmbedding(16)
    q, k = RNG.standard_normal(16), RNG.standard_normal(16)

    def score(m, n):
        qm = rope(t(np.tile(q, (m + 1, 1))))[m].numpy()
        kn = rope(t(np.tile(k, (n + 1, 1))))[n].numpy()
        return qm @ kn

    for m, n in [(3, 1), (10, 8), (40, 38)]:
        assert score(m, n) == pytest.approx(score(2, 0), abs=1e-10)
    assert score(5, 5) == pytest.approx(q @ k, abs=1e-10)  # same position: no rotation between them
    assert abs(score(3, 0) - score(2, 0)) > 1e-6


def test_rotary_offset_matches_the_full_sequence_kv_cache():
    """Decoding token by token with offset gives the rows of the full-sequence rotation."""
    rope = nn.RotaryEmbedding(8)
    x = t(RNG.standard_normal((1, 2, 7, 8)))
    full = rope(x).numpy()
    steps = np.concatenate([rope(x[:, :, i: i + 1], offset=i).numpy() for i in range(7)], axis=2)
    np.testing.assert_allclose(steps, full, atol=1e-12)


def test_rotary_preserves_norms_gradients_and_dtype():
    rope = nn.RotaryEmbedding(4)
    x = t(RNG.standard_normal((3, 4)), requires_grad=True)
    y = rope(x)
    np.testing.assert_allclose(np.linalg.norm(y.detach().numpy(), axis=-1), np.linalg.norm(x.detach().numpy(), axis=-1))
    assert gradcheck(lambda x: rope(x, offset=2), (x,))
    assert rope(lamina.ones(2, 4)).dtype == lamina.float32
    assert "inv_freq" not in rope.state_dict() and len(list(rope.parameters())) == 0


def test_apply_rotary_emb_with_cos_sin_tables():
    rope = nn.RotaryEmbedding(6)
    cos, sin = rope.cos_sin(4, offset=1, dtype=lamina.float64)
    assert tuple(cos.shape) == (4, 6)
    x = RNG.standard_normal((2, 4, 6))
    np.testing.assert_allclose(F.apply_rotary_emb(t(x), cos, sin).numpy(), ref_rope(x, 6, offset=1), atol=1e-12)


def test_rotary_errors():
    with pytest.raises(ValueError, match="RotaryEmbedding: dim must be a positive even number, got 5"):
        nn.RotaryEmbedding(5)
    rope = nn.RotaryEmbedding(8)
    with pytest.raises(ValueError, match=r"RotaryEmbedding: input of shape \(2, 6\) needs .* last dim >= 8"):
        rope(lamina.zeros(2, 6))
    with pytest.raises(ValueError, match="offset must be a non-negative int"):
        rope(lamina.zeros(2, 8), offset=-3)
    with pytest.raises(ValueError, match=r"apply_rotary_emb: cos \(2, 3\) and sin \(2, 3\) must have the same shape, "
                                         r"with an even last dim"):
        F.apply_rotary_emb(lamina.zeros(2, 4), lamina.zeros(2, 3), lamina.zeros(2, 3))


@pytest.mark.torch
def test_sinusoidal_matches_the_pytorch_tutorial_formula():
    """The table of the PyTorch transformer tutorial's PositionalEncoding (div_term via exp/log)."""
    torch = pytest.importorskip("torch")
    if not hasattr(torch, "tensor"):
        pytest.skip("PyTorch is not installed")
    d_model, max_len = 10, 30
    position = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float64) * (-math.log(10000.0) / d_model))
    pe = torch.zeros(max_len, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term)
    m = nn.SinusoidalPositionalEncoding(d_model, max_len=max_len, dtype=lamina.float64)
    np.testing.assert_allclose(m.pe.numpy(), pe.numpy(), atol=1e-12)
