"""F.multi_head_attention_forward (torch's semantics, re-exported by lamina.nn.functional) and its mask helpers.

Inputs are sequence-first: query (L, N, E) or unbatched (L, E). Bool masks are True where attention is
forbidden and become float masks of -inf / 0 in query's dtype. need_weights=False goes through
F.scaled_dot_product_attention (the fused path); need_weights=True forms softmax(q k^T / sqrt(d)) itself.
"""

import math
import warnings

from .. import _C
from . import functional as F

_OP = "multi_head_attention_forward"


def _shape(t):
    return tuple(t.shape)


def _canonical_mask(mask, mask_name, other_type, other_name, target_type, check_other=True):
    """A bool mask (True = masked) becomes 0 / -inf in target_type; a float mask passes through."""
    if mask is None:
        return None
    is_float = mask.is_floating_point()
    if mask.dtype != _C.dtype.bool and not is_float:
        raise AssertionError(f"only bool and floating types of {mask_name} are supported")
    if check_other and other_type is not None and mask.dtype != other_type:
        warnings.warn(f"Support for mismatched {mask_name} and {other_name} is deprecated. Use same type for both "
                      "instead.", stacklevel=3)
    if not is_float:
        mask = _C.zeros(_shape(mask), dtype=target_type, device=mask.device).masked_fill(mask, float("-inf"))
    return mask


def _none_or_dtype(input):
    if input is None:
        return None
    if isinstance(input, _C.Tensor):
        return input.dtype
    raise RuntimeError("input to _none_or_dtype() must be None or lamina.Tensor")


def _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads):
    """Checks the ranks of the inputs and masks; returns whether the input is batched (3-d query)."""
    if query.dim() not in (2, 3):
        raise AssertionError(f"{_OP}: query should be unbatched 2D or batched 3D tensor but received "
                             f"{query.dim()}-D query tensor of shape {_shape(query)}")
    batched = query.dim() == 3
    kind = "batched (3-D)" if batched else "unbatched (2-D)"
    if key.dim() != query.dim() or value.dim() != query.dim():
        raise AssertionError(f"{_OP}: for {kind} `query`, expected `key` and `value` to be {query.dim()}-D but "
                             f"found {key.dim()}-D and {value.dim()}-D tensors respectively (shapes "
                             f"{_shape(key)} and {_shape(value)})")
    if key_padding_mask is not None and key_padding_mask.dim() != query.dim() - 1:
        raise AssertionError(f"{_OP}: for {kind} `query`, expected `key_padding_mask` to be `None` or "
                             f"{query.dim() - 1}-D but found {key_padding_mask.dim()}-D tensor of shape "
                             f"{_shape(key_padding_mask)} instead")
    if attn_mask is not None:
        if attn_mask.dim() not in (2, 3):
            raise AssertionError(f"{_OP}: for {kind} `query`, expected `attn_mask` to be `None`, 2-D or 3-D but "
                                 f"found {attn_mask.dim()}-D tensor of shape {_shape(attn_mask)} instead")
        expected = (num_heads, query.shape[0], key.shape[0])
        if not batched and attn_mask.dim() == 3 and _shape(attn_mask) != expected:
            raise AssertionError(f"{_OP}: expected `attn_mask` shape to be {expected} but got {_shape(attn_mask)}")
    return batched


def _in_projection_packed(q, k, v, w, b=None):
    """q, k, v (..., E) projected by the rows [0:E], [E:2E], [2E:3E] of the packed weight w (3E, E)."""
    E = q.shape[-1]
    if w.shape[0] != 3 * E or w.shape[1] != E:
        raise RuntimeError(f"{_OP}: in_proj_weight of shape {_shape(w)} does not match embed_dim {E} "
                           f"(expected {(3 * E, E)})")
    if k is v and q is k:
        return F.linear(q, w, b).chunk(3, -1)
    if k is v:
        w_q, w_kv = w.split([E, 2 * E])
        b_q, b_kv = (None, None) if b is None else b.split([E, 2 * E])
        k, v = F.linear(k, w_kv, b_kv).chunk(2, -1)
        return F.linear(q, w_q, b_q), k, v
    w_q, w_k, w_v = w.chunk(3)
    b_q, b_k, b_v = (None, None, None) if b is None else b.chunk(3)
    return F.linear(q, w_q, b_q), F.linear(k, w_k, b_k), F.linear(v, w_v, b_v)


def _in_projection(q, k, v, w_q, w_k, w_v, b_q=None, b_k=None, b_v=None):
    """Separate projections for query (Eq), key (Ek) and value (Ev) inputs, each to Eq features."""
    Eq, Ek, Ev = q.shape[-1], k.shape[-1], v.shape[-1]
    for name, w, want in (("q_proj_weight", w_q, (Eq, Eq)), ("k_proj_weight", w_k, (Eq, Ek)),
                          ("v_proj_weight", w_v, (Eq, Ev))):
        if _shape(w) != want:
            raise AssertionError(f"{_OP}: expecting {name} of shape {want}, but got {_shape(w)}")
    for name, bias in (("query", b_q), ("key", b_k), ("value", b_v)):
        if bias is not None and _shape(bias) != (Eq,):
            raise AssertionError(f"{_OP}: expecting {name} bias shape of {(Eq,)}, but got {_shape(bias)}")
    return F.linear(q, w_q, b_q), F.linear(k, w_k, b_k), F.linear(v, w_v, b_v)


def _check_attn_mask(attn_mask, bsz, num_heads, tgt_len, src_len):
    """A 2-d mask must be (L, S), a 3-d one (N * num_heads, L, S); returns it as 3-d."""
    if attn_mask.dim() == 2:
        if _shape(attn_mask) != (tgt_len, src_len):
            raise RuntimeError(f"{_OP}: the shape of the 2D attn_mask is {_shape(attn_mask)}, but should be "
                               f"{(tgt_len, src_len)}.")
        return attn_mask.unsqueeze(0)
    if _shape(attn_mask) != (bsz * num_heads, tgt_len, src_len):
        raise RuntimeError(f"{_OP}: the shape of the 3D attn_mask is {_shape(attn_mask)}, but should be "
                           f"{(bsz * num_heads, tgt_len, src_len)}.")
    return attn_mask


def _check_static(name, t, bsz, num_heads, head_dim):
    if t.dim() != 3 or t.shape[0] != bsz * num_heads or t.shape[2] != head_dim:
        raise AssertionError(f"{_OP}: expecting {name} of shape ({bsz * num_heads}, S, {head_dim}), but got "
                             f"{_shape(t)}")
    return t


def _append_key(k, v, extra_k, extra_v, attn_mask, key_padding_mask, dim):
    """Appends one key/value position along `dim` and an unmasked column to both masks."""
    k = _C.cat([k, extra_k], dim)
    v = _C.cat([v, extra_v], dim)
    attn_mask = None if attn_mask is None else F.pad(attn_mask, (0, 1))
    key_padding_mask = None if key_padding_mask is None else F.pad(key_padding_mask, (0, 1))
    return k, v, attn_mask, key_padding_mask


def _attention_with_weights(q, k, v, attn_mask, dropout_p, bsz, num_heads, average_attn_weights):
    """q (N*H, L, d), k/v (N*H, S, d) -> output (N*H, L, d) and weights (N, H, L, S) or averaged (N, L, S)."""
    q_scaled = q * math.sqrt(1.0 / float(q.shape[-1]))
    scores = q_scaled.bmm(k.transpose(-2, -1))
    if attn_mask is not None:
        scores = scores + attn_mask
    weights = F.softmax(scores, dim=-1)
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    out = weights.bmm(v)
    weights = weights.view(bsz, num_heads, weights.shape[1], weights.shape[2])
    return out, weights.mean(dim=1) if average_attn_weights else weights


def _check_inputs(query, key, value, embed_dim_to_check, num_heads, use_separate_proj_weight):
    tgt_len, bsz, embed_dim = _shape(query)
    if embed_dim != embed_dim_to_check:
        raise AssertionError(f"{_OP}: was expecting embedding dimension of {embed_dim_to_check}, but got "
                             f"{embed_dim} (query of shape {_shape(query)})")
    if embed_dim % num_heads != 0:
        raise AssertionError(f"{_OP}: embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if key.shape[1] != bsz:
        raise RuntimeError(f"{_OP}: query batch size {bsz} does not match key batch size {key.shape[1]} "
                           f"(query {_shape(query)}, key {_shape(key)})")
    if use_separate_proj_weight:
        if _shape(key)[:2] != _shape(value)[:2]:
            raise AssertionError(f"{_OP}: key's sequence and batch dims {_shape(key)[:2]} do not match value's "
                                 f"{_shape(value)[:2]}")
    elif _shape(key) != _shape(value):
        raise AssertionError(f"{_OP}: key shape {_shape(key)} does not match value shape {_shape(value)}")


def _project(query, key, value, in_proj_weight, in_proj_bias, use_separate_proj_weight, q_proj_weight,
             k_proj_weight, v_proj_weight):
    if not use_separate_proj_weight:
        if in_proj_weight is None:
            raise AssertionError(f"{_OP}: use_separate_proj_weight is False but in_proj_weight is None")
        return _in_projection_packed(query, key, value, in_proj_weight, in_proj_bias)
    for name, w in (("q_proj_weight", q_proj_weight), ("k_proj_weight", k_proj_weight),
                    ("v_proj_weight", v_proj_weight)):
        if w is None:
            raise AssertionError(f"{_OP}: use_separate_proj_weight is True but {name} is None")
    b_q, b_k, b_v = (None, None, None) if in_proj_bias is None else in_proj_bias.chunk(3)
    return _in_projection(query, key, value, q_proj_weight, k_proj_weight, v_proj_weight, b_q, b_k, b_v)


def _prepare_masks(query, key_padding_mask, attn_mask, need_weights, is_causal):
    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask", _none_or_dtype(attn_mask), "attn_mask",
                                       query.dtype)
    if is_causal and attn_mask is None:
        raise RuntimeError(f"{_OP}: Need attn_mask if specifying the is_causal hint. You may use the Transformer "
                           "module method `generate_square_subsequent_mask` to create this mask.")
    if is_causal and key_padding_mask is None and not need_weights:
        # The hint lets scaled_dot_product_attention build the causal mask itself.
        return None, None, True
    attn_mask = _canonical_mask(attn_mask, "attn_mask", None, "", query.dtype, check_other=False)
    return key_padding_mask, attn_mask, is_causal and key_padding_mask is None


def multi_head_attention_forward(query, key, value, embed_dim_to_check, num_heads, in_proj_weight, in_proj_bias,
                                 bias_k, bias_v, add_zero_attn, dropout_p, out_proj_weight, out_proj_bias,
                                 training=True, key_padding_mask=None, need_weights=True, attn_mask=None,
                                 use_separate_proj_weight=False, q_proj_weight=None, k_proj_weight=None,
                                 v_proj_weight=None, static_k=None, static_v=None, average_attn_weights=True,
                                 is_causal=False):
    """Multi-head attention of torch.nn.functional, sequence-first.

    query (L, N, E) or (L, E); key (S, N, Ek); value (S, N, Ev); key_padding_mask (N, S) or (S,);
    attn_mask (L, S) or (N * num_heads, L, S). Bool masks are True where attention is not allowed,
    float masks are added to the scores. static_k / static_v (N * num_heads, S, E / num_heads) replace
    the projected keys / values.

    Returns:
        (output (L, N, E) or (L, E), weights) with weights (N, L, S) averaged over heads, (N, num_heads,
        L, S) per head (average_attn_weights=False), unbatched without N, or None when not need_weights.
    """
    is_batched = _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not is_batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    tgt_len, bsz, embed_dim = _shape(query)
    src_len = key.shape[0]
    key_padding_mask, attn_mask, is_causal = _prepare_masks(query, key_padding_mask, attn_mask, need_weights,
                                                            is_causal)
    _check_inputs(query, key, value, embed_dim_to_check, num_heads, use_separate_proj_weight)
    head_dim = embed_dim // num_heads
    q, k, v = _project(query, key, value, in_proj_weight, in_proj_bias, use_separate_proj_weight, q_proj_weight,
                       k_proj_weight, v_proj_weight)
    if attn_mask is not None:
        attn_mask = _check_attn_mask(attn_mask, bsz, num_heads, tgt_len, src_len)
    if (bias_k is None) != (bias_v is None):
        raise AssertionError(f"{_OP}: bias_{'k' if bias_v is None else 'v'} is set but "
                             f"bias_{'v' if bias_v is None else 'k'} is None")
    if bias_k is not None:
        if static_k is not None or static_v is not None:
            raise AssertionError(f"{_OP}: bias cannot be added to static {'key' if static_k is not None else 'value'}.")
        k, v, attn_mask, key_padding_mask = _append_key(k, v, bias_k.expand(1, bsz, embed_dim),
                                                        bias_v.expand(1, bsz, embed_dim), attn_mask,
                                                        key_padding_mask, 0)
    q = q.reshape(tgt_len, bsz * num_heads, head_dim).transpose(0, 1)
    k = (k.reshape(k.shape[0], bsz * num_heads, head_dim).transpose(0, 1) if static_k is None
         else _check_static("static_k", static_k, bsz, num_heads, head_dim))
    v = (v.reshape(v.shape[0], bsz * num_heads, head_dim).transpose(0, 1) if static_v is None
         else _check_static("static_v", static_v, bsz, num_heads, head_dim))
    if add_zero_attn:
        zeros = _C.zeros((bsz * num_heads, 1, head_dim), dtype=k.dtype, device=k.device)
        k, v, attn_mask, key_padding_mask = _append_key(k, v, zeros, zeros, attn_mask, key_padding_mask, 1)
    src_len = k.shape[1]
    if key_padding_mask is not None:
        if _shape(key_padding_mask) != (bsz, src_len):
            raise AssertionError(f"{_OP}: expected key_padding_mask of shape {(bsz, src_len)}, but got "
                                 f"{_shape(key_padding_mask)}")
        key_padding_mask = (key_padding_mask.reshape(bsz, 1, 1, src_len).expand(bsz, num_heads, 1, src_len)
                            .reshape(bsz * num_heads, 1, src_len))
        attn_mask = key_padding_mask if attn_mask is None else attn_mask + key_padding_mask
    if not training:
        dropout_p = 0.0
    if need_weights:
        out, weights = _attention_with_weights(q, k, v, attn_mask, dropout_p, bsz, num_heads, average_attn_weights)
        out = out.transpose(0, 1).reshape(tgt_len * bsz, embed_dim)
    else:
        weights = None
        if attn_mask is not None:
            attn_mask = (attn_mask.unsqueeze(0) if attn_mask.shape[0] == 1
                         else attn_mask.view(bsz, num_heads, -1, src_len))
        out = F.scaled_dot_product_attention(q.view(bsz, num_heads, tgt_len, head_dim),
                                             k.view(bsz, num_heads, src_len, head_dim),
                                             v.view(bsz, num_heads, src_len, head_dim), attn_mask, dropout_p,
                                             is_causal)
        out = out.permute(2, 0, 1, 3).reshape(bsz * tgt_len, embed_dim)
    out = F.linear(out, out_proj_weight, out_proj_bias).view(tgt_len, bsz, -1)
    if not is_batched:
        out = out.squeeze(1)
        weights = None if weights is None else weights.squeeze(0)
    return out, weights
