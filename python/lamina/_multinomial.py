"""lamina.multinomial: samples of category indices from rows of non-negative weights, drawn from
lamina's counter-based generator (so results do not depend on the thread count)."""

from . import _C


def multinomial(input, num_samples, replacement=False, *, generator=None):
    """(k,) or (rows, k) int64 indices. Without replacement, PyTorch's exponential race: the k
    largest w / E with E ~ Exp(1) (an ordered sample without replacement); with replacement,
    inverse-CDF sampling of each draw."""
    if input.dim() not in (1, 2):
        raise RuntimeError(f"multinomial: prob_dist must be 1 or 2 dim, got shape {tuple(input.shape)}")
    if not input.is_floating_point():
        raise RuntimeError(f"multinomial: only supports floating-point dtypes for input, got {input.dtype}")
    if num_samples <= 0:
        raise RuntimeError(f"multinomial: cannot sample n_sample <= 0 samples, got {num_samples}")
    rows = input.reshape(1, -1) if input.dim() == 1 else input
    n = rows.shape[1]
    if not replacement and num_samples > n:
        raise RuntimeError(f"multinomial: cannot sample n_sample > prob_dist.size(-1) samples without replacement "
                           f"(n_sample={num_samples}, {n} categories)")
    weights = rows.detach().double()
    if n == 0 or not bool((weights.isfinite() & (weights >= 0)).all().item()):
        raise RuntimeError("multinomial: probability tensor contains either `inf`, `nan` or element < 0")
    totals = weights.sum(1, keepdim=True)
    if not bool((totals > 0).all().item()):
        raise RuntimeError("multinomial: invalid multinomial distribution (sum of probabilities <= 0)")
    if replacement:
        cdf = weights.cumsum(1) / totals
        u = _C.rand(rows.shape[0], num_samples, dtype=_C.dtype.float64, generator=generator)
        # the first category whose cumulative probability exceeds u (never a zero-weight one)
        below = (cdf.unsqueeze(1) <= u.unsqueeze(2)).sum(2)
        picked = below.clamp(max=n - 1)
    else:
        u = _C.rand(rows.shape[0], n, dtype=_C.dtype.float64, generator=generator)
        exponential = -(1 - u).log()  # 1 - u is in (0, 1]
        keys = weights / exponential  # zero-weight categories come last (as in PyTorch, not refused)
        picked = keys.topk(num_samples, 1).indices
    return picked.reshape(-1) if input.dim() == 1 else picked
