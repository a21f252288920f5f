"""Position encodings: the fixed sinusoidal table added to token embeddings ("Attention Is All You
Need", section 3.5) and rotary embeddings (RoPE, Su et al. 2021) applied to queries and keys.

Both tables are non-persistent buffers (rebuilt, never saved) grown on demand past their initial
length; `offset` shifts the positions, for decoding one step at a time with a KV cache.
"""

import math

from ... import _C
from .. import functional as F
from .dropout import Dropout
from .module import Module

__all__ = ["SinusoidalPositionalEncoding", "RotaryEmbedding"]


def _check_offset(offset, name):
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise ValueError(f"{name}: offset must be a non-negative int, got {offset!r}")


def _grown(length, needed):
    return max(needed, 2 * length)


class SinusoidalPositionalEncoding(Module):
    """x + PE[offset : offset + S], then dropout. PE[pos, 2i] = sin(pos / 10000^(2i / d_model)) and
    PE[pos, 2i + 1] = cos(pos / 10000^(2i / d_model)).

    Input (S, N, d_model), or (N, S, d_model) with batch_first=True, or unbatched (S, d_model).
    The table `pe` (max_len, d_model) is a non-persistent buffer, rebuilt longer if a sequence
    runs past max_len.
    """

    def __init__(self, d_model, max_len=5000, dropout=0.0, batch_first=False, device=None, dtype=None):
        super().__init__()
        if d_model <= 0 or max_len <= 0:
            raise ValueError(f"SinusoidalPositionalEncoding: d_model and max_len must be positive, "
                             f"got {d_model} and {max_len}")
        self.d_model, self.max_len, self.batch_first = d_model, max_len, batch_first
        self.dropout = Dropout(dropout)
        self.register_buffer("pe", self._table(max_len, device, dtype), persistent=False)

    def _table(self, length, device=None, dtype=None):
        dtype = _C.get_default_dtype() if dtype is None else dtype
        pos = _C.arange(length, dtype=_C.dtype.float64).unsqueeze(1)
        inv = (_C.arange(0, self.d_model, 2, dtype=_C.dtype.float64) * (-math.log(10000.0) / self.d_model)).exp()
        angles = pos * inv  # (length, ceil(d_model / 2))
        pe = _C.stack([angles.sin(), angles.cos()], -1).reshape(length, -1)[:, : self.d_model]
        pe = pe.to(dtype=dtype)
        return pe if device is None else pe.to(device=device)

    def forward(self, x, offset=0):
        _check_offset(offset, "SinusoidalPositionalEncoding")
        if x.dim() not in (2, 3) or x.shape[-1] != self.d_model:
            raise ValueError(f"SinusoidalPositionalEncoding: expected input (S, N, {self.d_model}), "
                             f"(N, S, {self.d_model}) or (S, {self.d_model}), got shape {tuple(x.shape)}")
        seq = x.shape[1] if (self.batch_first and x.dim() == 3) else x.shape[0]
        if offset + seq > self.pe.shape[0]:
            table = self._table(_grown(self.pe.shape[0], offset + seq), self.pe.device, self.pe.dtype)
            self.register_buffer("pe", table, persistent=False)
        pe = self.pe[offset: offset + seq].to(dtype=x.dtype)
        if x.dim() == 3:
            pe = pe.unsqueeze(0) if self.batch_first else pe.unsqueeze(1)
        return self.dropout(x + pe)

    def extra_repr(self):
        return f"d_model={self.d_model}, max_len={self.max_len}, batch_first={self.batch_first}"


class RotaryEmbedding(Module):
    """Rotates pairs of features by position-dependent angles, so that <rope(q, m), rope(k, n)>
    depends only on q, k and m - n.

    Half-split convention (GPT-NeoX, LLaMA as in Hugging Face): feature i pairs with feature
    i + dim/2, rotated by angle pos * base^(-2i / dim), i < dim/2. With dim smaller than the
    input's last dim, only the first `dim` features are rotated (partial rotary, as GPT-NeoX).

    forward(x, offset=0): x (..., S, D) with the sequence at `seq_dim` (default -2: (N, H, S, D)
    as scaled_dot_product_attention takes; -3 for (N, S, H, D)), positions offset .. offset + S - 1.
    cos_sin(S, offset) returns the (S, dim) tables for F.apply_rotary_emb.
    """

    def __init__(self, dim, base=10000.0, max_seq_len=2048, seq_dim=-2, device=None):
        super().__init__()
        if dim <= 0 or dim % 2:
            raise ValueError(f"RotaryEmbedding: dim must be a positive even number, got {dim}")
        if seq_dim >= 0:
            raise ValueError(f"RotaryEmbedding: seq_dim counts from the end (e.g. -2), got {seq_dim}")
        self.dim, self.base, self.max_seq_len, self.seq_dim = dim, float(base), max_seq_len, seq_dim
        inv_freq = 1.0 / self.base ** (_C.arange(0, dim, 2, dtype=_C.dtype.float64) / dim)
        self.register_buffer("inv_freq", inv_freq if device is None else inv_freq.to(device=device),
                             persistent=False)
        self._build(max_seq_len)

    def _build(self, length):
        # Angles in float64 so positions in the tens of thousands keep their precision; cast per call.
        angles = _C.arange(length, dtype=_C.dtype.float64, device=self.inv_freq.device).unsqueeze(1) * self.inv_freq
        angles = _C.cat([angles, angles], -1)
        self.register_buffer("cos_cached", angles.cos(), persistent=False)
        self.register_buffer("sin_cached", angles.sin(), persistent=False)

    def cos_sin(self, seq_len, offset=0, dtype=None):
        """(seq_len, dim) cos and sin tables for positions offset .. offset + seq_len - 1."""
        _check_offset(offset, "RotaryEmbedding")
        if offset + seq_len > self.cos_cached.shape[0]:
            self._build(_grown(self.cos_cached.shape[0], offset + seq_len))
        cos, sin = self.cos_cached[offset: offset + seq_len], self.sin_cached[offset: offset + seq_len]
        dtype = _C.get_default_dtype() if dtype is None else dtype
        return cos.to(dtype=dtype), sin.to(dtype=dtype)

    def forward(self, x, offset=0):
        if x.dim() < -self.seq_dim or x.shape[-1] < self.dim:
            raise ValueError(f"RotaryEmbedding: input of shape {tuple(x.shape)} needs a sequence dim at "
                             f"{self.seq_dim} and a last dim >= {self.dim}")
        cos, sin = self.cos_sin(x.shape[self.seq_dim], offset, x.dtype)
        trailing = (1,) * (-self.seq_dim - 2)  # dims between the sequence and the features
        shape = (cos.shape[0],) + trailing + (self.dim,)
        return F.apply_rotary_emb(x, cos.reshape(shape), sin.reshape(shape))

    def extra_repr(self):
        return f"dim={self.dim}, base={self.base}, seq_dim={self.seq_dim}"
