"""Tensor methods PyTorch code calls that are thin compositions of lamina functions: the new_*
factories (dtype and device from the tensor), Tensor.type, and the device queries and moves of a
CPU-only build (is_xpu, is_mps, cuda())."""

from numbers import Integral

from . import _C

_TYPE_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "int32": "IntTensor", "int64": "LongTensor",
               "bool": "BoolTensor"}


def _shape(size):
    """new_zeros(2, 3) and new_zeros((2, 3)) alike."""
    if len(size) == 1 and not isinstance(size[0], Integral):
        return tuple(size[0])
    return tuple(size)


def _options(self, dtype, device):
    return {"dtype": dtype if dtype is not None else self.dtype,
            "device": device if device is not None else self.device}


def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
    return _C.zeros(_shape(size), **_options(self, dtype, device)).requires_grad_(requires_grad)


def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
    return _C.ones(_shape(size), **_options(self, dtype, device)).requires_grad_(requires_grad)


def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
    return _C.empty(_shape(size), **_options(self, dtype, device)).requires_grad_(requires_grad)


def new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
    return _C.full(tuple(size), fill_value, **_options(self, dtype, device)).requires_grad_(requires_grad)


def new_tensor(self, data, *, dtype=None, device=None, requires_grad=False):
    """A copy of data (detached, as PyTorch's), in this tensor's dtype and device unless given."""
    if isinstance(data, _C.Tensor):
        data = data.detach().numpy()
    return _C.tensor(data, **_options(self, dtype, device)).requires_grad_(requires_grad)


def type_(self, dtype=None, non_blocking=False, **kwargs):
    """Without an argument, the type name ("lamina.FloatTensor"); with a dtype or a type name
    ("torch.LongTensor", "lamina.LongTensor", lamina.LongTensor), the tensor cast to it."""
    if dtype is None:
        return "lamina." + _TYPE_NAMES[str(self.dtype).split(".")[-1]]
    if isinstance(dtype, str) or callable(dtype) and not isinstance(dtype, _C.dtype):
        name = dtype if isinstance(dtype, str) else dtype.__name__
        by_name = {v: k for k, v in _TYPE_NAMES.items()}
        short = name.split(".")[-1]
        if short not in by_name:
            raise ValueError(f"Tensor.type: invalid type {name!r}")
        dtype = getattr(_C.dtype, by_name[short])
    return self.to(dtype)


def cuda(self, device=None, non_blocking=False, memory_format=None):
    raise AssertionError("Tensor.cuda: lamina not compiled with CUDA enabled")


def install(cls):
    cls.new_zeros, cls.new_ones, cls.new_empty, cls.new_full, cls.new_tensor = (
        new_zeros, new_ones, new_empty, new_full, new_tensor)
    cls.type = type_
    cls.cuda = cuda
    cls.is_xpu = property(lambda self: False)
    cls.is_mps = property(lambda self: False)
