"""Random argument pickers used by the op table. They run inside each worker on the actual input
shapes, from the step's seed, so lamina and torch get the same arguments as long as they agreed on
every earlier shape. Mostly valid values, sometimes edge or invalid ones (both sides must then raise).
"""

import numpy as np

from .values import DTYPES, FLOATS, random_array


def chance(r, p):
    return bool(r.random() < p)


def dim(r, ndim, p_bad=0.08, extra=0):
    """A dim for a tensor of `ndim` dims (`extra` allows ndim+extra positions, as unsqueeze needs)."""
    n = max(ndim + extra, 1)  # torch accepts dim 0 and -1 for 0-d tensors
    if chance(r, p_bad):
        return int(r.choice([n, -n - 1, 2**40]))
    return int(r.integers(-n, n))


def dims(r, ndim):
    """A list of distinct dims, possibly empty (which means 'all dims' for sum and amax)."""
    k = int(r.integers(0, ndim + 1))
    out = [int(d) for d in r.permutation(ndim)[:k]]
    return [d - ndim if chance(r, 0.3) else d for d in out]


def size(r, lo=0, hi=3):
    return int(r.integers(lo, hi + 1))


def scalar(r):
    """A Python scalar of a random kind: exercises the Python-scalar promotion rules."""
    kind = int(r.integers(5))
    if kind == 0:
        return int(r.integers(-3, 4))
    if kind == 1:
        return bool(chance(r, 0.5))
    if kind == 2:
        return float(r.choice([np.nan, np.inf, -np.inf, -0.0, 1e300]))
    return float(r.choice([0.5, -1.5, 2.0, 0.0, 3.0]))


def array(r, shape, dtype=None):
    return random_array(r, shape, dtype or str(r.choice(DTYPES)))


def float_dtype(r):
    return str(r.choice(FLOATS))


def broadcastable(r, shape):
    """A shape that broadcasts against `shape`: some dims set to 1, some leading dims dropped or added."""
    out = [1 if chance(r, 0.3) else s for s in shape]
    out = out[int(r.integers(0, len(out) + 1)):] if chance(r, 0.3) else out
    if chance(r, 0.15):
        out = [size(r, 1, 2)] + out
    if chance(r, 0.05) and out:
        out[int(r.integers(len(out)))] += 1  # incompatible
    return out


def reshape_target(r, shape):
    """A shape with the same number of elements (sometimes with -1, sometimes wrong)."""
    numel = int(np.prod(shape))
    choice = int(r.integers(6))
    if choice == 0:
        return [numel]
    if choice == 1:
        return [-1]
    if choice == 2:
        return list(reversed(shape))
    if choice == 3 and numel > 0:
        for d in (2, 3):
            if numel % d == 0:
                return [d, -1]
        return [1, numel, 1]
    if choice == 4:
        return [numel + 1] if chance(r, 0.5) else [-1, -1]
    return list(shape) + [1]


def permutation(r, ndim):
    perm = [int(d) for d in r.permutation(ndim)]
    if perm and chance(r, 0.3):
        perm[0] -= ndim
    if chance(r, 0.05):
        perm = perm + [0]  # duplicate or too long
    return perm


def slice_(r, n):
    start = None if chance(r, 0.3) else int(r.integers(-n - 2, n + 2))
    stop = None if chance(r, 0.3) else int(r.integers(-n - 2, n + 2))
    step = None if chance(r, 0.4) else int(r.choice([1, 2, 3]) if not chance(r, 0.03) else 0)
    return slice(start, stop, step)


def index(r, shape):
    """A __getitem__ key: ints, slices, None, Ellipsis, integer arrays and bool masks, in any mix."""
    if chance(r, 0.1) and shape:
        return np.asarray(r.random(shape) < 0.5)  # a full bool mask
    parts, d = [], 0
    for _ in range(int(r.integers(1, len(shape) + 2))):
        n = shape[d] if d < len(shape) else 1
        kind = int(r.integers(8))
        if kind == 0:
            parts.append(int(r.integers(-n - 1, n + 1)) if chance(r, 0.1) else int(r.integers(-n, max(n, 1))))
            d += 1
        elif kind in (1, 2):
            parts.append(slice_(r, n))
            d += 1
        elif kind == 3:
            parts.append(None)
        elif kind == 4:
            parts.append(Ellipsis)
        elif kind == 5:
            hi = n + 1 if chance(r, 0.05) else n
            idx_shape = [size(r, 0, 3)] if chance(r, 0.7) else [size(r, 1, 2), size(r, 1, 2)]
            parts.append(r.integers(-hi, max(hi, 1), size=idx_shape).astype(np.int64)
                         if n or hi else np.zeros(idx_shape, np.int64))
            d += 1
        elif kind == 6:
            parts.append(np.asarray(r.random([n]) < 0.5))
            d += 1
        else:
            parts.append([int(r.integers(-n, max(n, 1))) for _ in range(size(r, 1, 2))])
            d += 1
    return parts[0] if len(parts) == 1 and chance(r, 0.5) else tuple(parts)
