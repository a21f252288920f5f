"""The embedding functions of lamina.nn.functional (re-exported there): embedding, embedding_bag
and apply_rotary_emb. Lookups are index_select on the weight; bags are segment sums (index_add over
a bag-id vector). Indices are checked here, so the ops below trust them.
"""

from .. import _C
from ..autograd.function import Function
from ..autograd.grad_mode import no_grad


class _EmbeddingLookup(Function):
    """weight.index_select(0, idx) whose backward skips padding_idx and, with scale_grad_by_freq,
    divides each gradient row by how often its index occurs in idx."""

    @staticmethod
    def forward(ctx, weight, idx, padding_idx, scale_grad_by_freq):
        ctx.save_for_backward(idx)
        ctx.num_weights, ctx.padding_idx, ctx.scale = weight.shape[0], padding_idx, scale_grad_by_freq
        return weight.index_select(0, idx)

    @staticmethod
    def backward(ctx, grad):
        (idx,) = ctx.saved_tensors
        if ctx.scale:
            counts = grad.new_zeros((ctx.num_weights,)).index_add(0, idx, grad.new_ones((idx.shape[0],)))
            grad = grad / counts.index_select(0, idx).unsqueeze(1)
        if ctx.padding_idx is not None:
            grad = grad.masked_fill((idx == ctx.padding_idx).unsqueeze(1), 0.0)
        return grad.new_zeros((ctx.num_weights, grad.shape[1])).index_add(0, idx, grad), None, None, None


def _check_indices(t, name, arg="indices"):
    if not isinstance(t, _C.Tensor) or t.dtype not in (_C.dtype.int64, _C.dtype.int32):
        got = (f"a {str(t.dtype).replace('lamina.', '')} tensor of shape {tuple(t.shape)}"
               if isinstance(t, _C.Tensor) else type(t).__name__)
        raise RuntimeError(f"{name}: Expected tensor for argument '{arg}' to have one of the following scalar "
                           f"types: Long, Int; but got {got} instead")


def _check_weight(weight, name):
    if not isinstance(weight, _C.Tensor) or weight.dim() != 2:
        got = tuple(weight.shape) if isinstance(weight, _C.Tensor) else type(weight).__name__
        raise RuntimeError(f"{name}: 'weight' must be 2-D (num_embeddings, embedding_dim), got {got}")


def _check_range(idx, n, name, exc):
    if idx.numel() > 0:
        lo, hi = int(idx.min().item()), int(idx.max().item())
        if lo < 0 or hi >= n:
            raise exc(f"{name}: index {lo if lo < 0 else hi} out of range for a weight of {n} rows "
                      f"(expected in [0, {n - 1}])")


def _embedding_padding_idx(padding_idx, n, name, exc=AssertionError):
    """padding_idx in [-n, n) -> [0, n) (None stays None)."""
    if padding_idx is None:
        return None
    if not -n <= padding_idx < n:
        raise exc(f"{name}: padding_idx must be within num_embeddings ({n}), i.e. in [{-n}, {n - 1}], "
                  f"but got {padding_idx}")
    return padding_idx + n if padding_idx < 0 else padding_idx


def _embedding_renorm_(weight, idx, max_norm, norm_type):
    # As torch.embedding_renorm_: rows used by idx with a norm above max_norm are scaled in place to
    # max_norm / (norm + 1e-7), outside autograd (duplicate indices write the same row twice).
    with no_grad():
        w = weight.detach()
        rows = w.index_select(0, idx)
        norms = rows.norm(norm_type, 1, True)
        scale = _C.where(norms > max_norm, max_norm / (norms + 1e-7), _C.ones_like(norms))
        w.index_put_((idx,), rows * scale)


def embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
              sparse=False):
    """Looks up rows of `weight`: input (*) int64/int32 indices, weight (V, D) -> (*, D).

    padding_idx (in [-V, V)): that row gets no gradient (its value is still returned). max_norm:
    rows looked up whose norm_type-norm exceeds it are renormalized to max_norm *in place* in
    `weight` (as torch). scale_grad_by_freq: each row's gradient is divided by how often its index
    occurs in `input`. sparse=True raises NotImplementedError: lamina has no sparse tensors (the
    dense gradient of sparse=False holds the same values).
    """
    _check_indices(input, "embedding")
    _check_weight(weight, "embedding")
    if sparse:
        raise NotImplementedError("embedding: sparse=True needs sparse gradients, which lamina does not have; "
                                  "use sparse=False (the dense gradient holds the same values)")
    n = weight.shape[0]
    padding_idx = _embedding_padding_idx(padding_idx, n, "embedding")
    idx = input.reshape(-1).long()
    _check_range(idx, n, "embedding", IndexError)
    if max_norm is not None:
        _embedding_renorm_(weight, idx, max_norm, norm_type)
    if (padding_idx is not None or scale_grad_by_freq) and weight.requires_grad and _C.is_grad_enabled():
        out = _EmbeddingLookup.apply(weight, idx, padding_idx, scale_grad_by_freq)
    else:
        out = weight.index_select(0, idx)
    return out.reshape(tuple(input.shape) + (weight.shape[1],))


def _bag_ids(input, offsets, include_last_offset, name):
    """-> (flat indices, bag id of each, number of bags) for 2-d input or 1-d input + offsets."""
    if input.dim() == 2:
        if offsets is not None:
            raise ValueError(f"{name}: if input is 2-D, then offsets has to be None (the rows are the bags), "
                             f"but got offsets of shape {tuple(offsets.shape)}")
        bags, length = input.shape
        bag = _C.arange(bags).unsqueeze(1).expand(bags, length).reshape(-1)
        return input.reshape(-1).long(), bag, bags
    if input.dim() != 1:
        raise ValueError(f"{name}: input has to be a 1-D or 2-D tensor, but got shape {tuple(input.shape)}")
    if offsets is None or not isinstance(offsets, _C.Tensor) or offsets.dim() != 1:
        got = tuple(offsets.shape) if isinstance(offsets, _C.Tensor) else offsets
        raise ValueError(f"{name}: offsets has to be a 1-D tensor for a 1-D input, but got {got}")
    _check_indices(offsets, name, "offsets")
    offsets, length = offsets.long(), input.shape[0]
    if offsets.numel() == 0:
        raise RuntimeError(f"{name}: offsets must hold at least one entry (the start of the first bag)")
    first, last = int(offsets[0].item()), int(offsets[-1].item())
    if first != 0:
        raise RuntimeError(f"{name}: offsets[0] has to be 0 (the first bag starts at position 0), but got {first}")
    if last > length:
        raise RuntimeError(f"{name}: offsets[-1] can not be greater than input's length {length}, but got {last}")
    if offsets.numel() > 1 and bool((offsets[1:] < offsets[:-1]).any().item()):
        raise RuntimeError(f"{name}: offsets must be non-decreasing, got {offsets.tolist()}")
    bags = offsets.shape[0] - (1 if include_last_offset else 0)
    # A 1 at each bag start (several for empty bags); the running sum minus one is the bag id.
    starts = offsets[offsets < length]
    marks = _C.zeros((length,), dtype=_C.dtype.int64).index_add(0, starts, _C.ones_like(starts))
    return input.long(), marks.cumsum(0) - 1, bags


def _bag_argmax_padded(weight, idx, bag, counts, longest):
    # Bags laid out as (bags, longest) slots, empty slots pointing at a -inf row n.
    bags, (n, dim) = counts.shape[0], weight.shape
    pos = _C.arange(idx.shape[0]) - (counts.cumsum(0) - counts).index_select(0, bag)
    slots = _C.full((bags * longest,), n, dtype=_C.dtype.int64).index_put_((bag * longest + pos,), idx)
    ext = _C.cat([weight.detach(), _C.full((1, dim), float("-inf"), dtype=weight.dtype)])
    _, arg = ext.index_select(0, slots).reshape(bags, longest, dim).max(1)  # first max wins, as torch
    return slots.reshape(bags, longest).gather(1, arg)


def _bag_argmax_scan(weight, idx, bag, counts, longest):
    # Segmented Hillis-Steele scan: after the step of size s, entry i holds the max (and its first
    # position) over its bag's entries in [i - 2s + 1, i]; the earlier range wins ties, as torch.
    dim = weight.shape[1]
    best = weight.detach().index_select(0, idx)
    first = _C.arange(idx.shape[0]).unsqueeze(1).expand(idx.shape[0], dim).contiguous()
    step = 1
    while step < longest:
        take = (bag[step:] == bag[:-step]).unsqueeze(1).logical_and(best[:-step] >= best[step:])
        best = _C.cat([best[:step], _C.where(take, best[:-step], best[step:])])
        first = _C.cat([first[:step], _C.where(take, first[:-step], first[step:])])
        step *= 2
    last = (counts.cumsum(0) - 1).clamp(min=0)  # each bag's last entry holds its scan result
    return idx.index_select(0, first.index_select(0, last).reshape(-1)).reshape(counts.shape[0], dim)


def _bag_max(weight, idx, bag, bags):
    """Per-bag, per-column max of weight[idx] (bag ids sorted); empty bags give 0. The first argmax
    rows are found without grad, padding the bags to the longest when that at most doubles the
    work, else by a scan (log2(longest) steps, O(len(idx) * D) memory); gathering those rows sends
    the gradient to the argmax rows only."""
    n, dim = weight.shape
    counts = _C.zeros((bags,), dtype=_C.dtype.int64).index_add(0, bag, _C.ones_like(bag))
    table = _C.cat([weight, weight.new_zeros((1, dim))])  # row n: 0 for empty bags, its gradient dropped
    if idx.shape[0] == 0:
        return table.index_select(0, _C.full((bags,), n, dtype=_C.dtype.int64))
    with no_grad():
        longest = int(counts.max().item())
        find = _bag_argmax_padded if bags * longest <= 2 * idx.shape[0] + 1024 else _bag_argmax_scan
        rows = find(weight, idx, bag, counts, longest)
        rows = _C.where((counts > 0).unsqueeze(1), rows, _C.full_like(rows, n))
    return table.gather(0, rows)


def embedding_bag(input, weight, offsets=None, max_norm=None, norm_type=2, scale_grad_by_freq=False, mode="mean",
                  sparse=False, per_sample_weights=None, include_last_offset=False, padding_idx=None):
    """Sums, means or maxes bags of embedding rows without materializing the (*, D) lookup per bag.

    input (B, L) int64/int32: B bags of L indices (offsets must be None); or input (N,) with
    offsets (B,) giving each bag's start (offsets[0] == 0; with include_last_offset, offsets has
    B + 1 entries, the last one the end of the last bag). weight (V, D) -> (B, D).
    mode: 'sum', 'mean' or 'max' (per column; the gradient goes to the argmax rows). Empty bags give 0.
    per_sample_weights (same shape as input, mode='sum' only) scale each looked-up row.
    padding_idx entries are left out of their bag (they count neither for the mean nor for max).
    max_norm, norm_type, scale_grad_by_freq and sparse are as in `embedding`.
    """
    name = "embedding_bag"
    _check_indices(input, name)
    _check_weight(weight, name)
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"{name}: mode has to be one of sum, mean or max, but got {mode!r}")
    if sparse:
        raise NotImplementedError(f"{name}: sparse=True needs sparse gradients, which lamina does not have; "
                                  "use sparse=False (the dense gradient holds the same values)")
    if scale_grad_by_freq and mode == "max":
        raise ValueError(f"{name}: max mode does not support scaling the gradient by the frequency")
    if per_sample_weights is not None:
        if mode != "sum":
            raise NotImplementedError(f"{name}: per_sample_weights is only supported for mode='sum' "
                                      f"(got mode={mode!r})")
        if tuple(per_sample_weights.shape) != tuple(input.shape):
            raise ValueError(f"{name}: per_sample_weights of shape {tuple(per_sample_weights.shape)} must have "
                             f"the same shape as the input {tuple(input.shape)}")
        if per_sample_weights.dtype != weight.dtype:
            raise RuntimeError(f"{name}: per_sample_weights must have the dtype of weight, got "
                               f"{per_sample_weights.dtype} and {weight.dtype}".replace("lamina.", ""))
    n = weight.shape[0]
    padding_idx = _embedding_padding_idx(padding_idx, n, name, RuntimeError)
    idx, bag, bags = _bag_ids(input, offsets, include_last_offset, name)
    _check_range(idx, n, name, IndexError)
    if max_norm is not None:
        _embedding_renorm_(weight, idx, max_norm, norm_type)
    psw = None if per_sample_weights is None else per_sample_weights.reshape(-1)
    keep = bag < bags  # entries past the last offset (include_last_offset) belong to no bag
    if padding_idx is not None:
        keep = keep.logical_and(idx != padding_idx)
    if not bool(keep.all().item()):
        sel = keep.nonzero().reshape(-1)
        idx, bag = idx.index_select(0, sel), bag.index_select(0, sel)
        psw = None if psw is None else psw.index_select(0, sel)
    if mode == "max":
        return _bag_max(weight, idx, bag, bags)
    if scale_grad_by_freq and weight.requires_grad and _C.is_grad_enabled():
        rows = _EmbeddingLookup.apply(weight, idx, None, True)
    else:
        rows = weight.index_select(0, idx)
    if psw is not None:
        rows = rows * psw.unsqueeze(1)
    out = weight.new_zeros((bags, weight.shape[1])).index_add(0, bag, rows)
    if mode == "mean":
        counts = weight.new_zeros((bags,)).index_add(0, bag, weight.new_ones((bag.shape[0],)))
        out = out / counts.clamp(min=1.0).unsqueeze(1)
    return out


def apply_rotary_emb(x, cos, sin):
    """Rotary position embedding (RoPE), half-split convention (GPT-NeoX / LLaMA in Hugging Face):
    feature i is paired with feature i + d/2 of the rotated part, not with its neighbour i + 1.

    x (..., S, ..., H_dim); cos, sin (the tables of RotaryEmbedding.cos_sin) broadcast against
    x[..., :d], d = cos.shape[-1] <= x.shape[-1] (features past d pass through unchanged):
        out[..., :d] = x[..., :d] * cos + rotate_half(x[..., :d]) * sin,
        rotate_half([x1, x2]) = [-x2, x1].
    """
    d = cos.shape[-1]
    if d % 2 or d > x.shape[-1] or tuple(sin.shape) != tuple(cos.shape):
        raise ValueError(f"apply_rotary_emb: cos {tuple(cos.shape)} and sin {tuple(sin.shape)} must have the "
                         f"same shape, with an even last dim <= the last dim of x {tuple(x.shape)}")
    rot, rest = (x, None) if d == x.shape[-1] else (x[..., :d], x[..., d:])
    x1, x2 = rot[..., : d // 2], rot[..., d // 2:]
    out = rot * cos + _C.cat([-x2, x1], -1) * sin
    return out if rest is None else _C.cat([out, rest], -1)
