"""PyTorch's legacy tensor-type constructors (torch.FloatTensor(2, 3), torch.LongTensor([1, 2])),
still common in older code: sizes give an uninitialised tensor, data gives a copy in that dtype."""

from numbers import Integral

from . import _C
from ._tensor import Size


def _legacy_type(name, dtype):
    def construct(*args, device=None):
        if not args:
            return _C.empty(0, dtype=dtype, device=device)
        if all(isinstance(a, Integral) and not isinstance(a, bool) for a in args):
            return _C.empty(tuple(args), dtype=dtype, device=device)
        if len(args) == 1 and isinstance(args[0], Size):  # a Size is a shape; a tuple is data
            return _C.empty(tuple(args[0]), dtype=dtype, device=device)
        if len(args) == 1:
            return _C.tensor(args[0], dtype=dtype, device=device)
        raise TypeError(f"{name}(): expected sizes (ints) or one sequence of data, got {args!r}")
    construct.__name__ = construct.__qualname__ = name
    construct.__doc__ = f"{name}(*sizes) or {name}(data): a {dtype} tensor (PyTorch's legacy constructor)."
    return construct


FloatTensor = _legacy_type("FloatTensor", _C.dtype.float32)
DoubleTensor = _legacy_type("DoubleTensor", _C.dtype.float64)
IntTensor = _legacy_type("IntTensor", _C.dtype.int32)
LongTensor = _legacy_type("LongTensor", _C.dtype.int64)
BoolTensor = _legacy_type("BoolTensor", _C.dtype.bool)
