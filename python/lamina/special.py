"""lamina.special: the torch.special functions that lamina's ops already compute, under their
torch.special names (scipy.special's naming)."""

from . import _C


def expm1(input):
    return _C.expm1(input)


def log1p(input):
    return _C.log1p(input)


def erf(input):
    return _C.erf(input)


def erfc(input):
    """1 - erf(x) (this composite loses the tail's relative precision for large x)."""
    return 1 - _C.erf(input)


def expit(input):
    return _C.sigmoid(input)


def logit(input, eps=None):
    """log(p / (1 - p)), p clamped to [eps, 1 - eps] when eps is given."""
    p = input if eps is None else input.clamp(eps, 1 - eps)
    return _C.log(p / (1 - p))


def exp2(input):
    return _C.exp(input * 0.6931471805599453)


def xlogy(input, other):
    """x log(y), 0 where x == 0 (unless y is NaN), as scipy and PyTorch."""
    zero = (input == 0) & ~_C.isnan(other) if isinstance(other, _C.Tensor) else input == 0
    return _C.where(zero, 0.0, input * _C.log(other))


def logsumexp(input, dim, keepdim=False):
    return _C.logsumexp(input, dim, keepdim)


def softmax(input, dim, dtype=None):
    return _C.softmax(input, dim, dtype=dtype) if dtype is not None else _C.softmax(input, dim)


def log_softmax(input, dim, dtype=None):
    return _C.log_softmax(input, dim, dtype=dtype) if dtype is not None else _C.log_softmax(input, dim)


def round(input, decimals=0):  # noqa: A001  (torch.special's name)
    return _C.round(input, decimals=decimals)
