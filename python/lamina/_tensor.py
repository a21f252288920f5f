"""Python-side sugar on lamina.Tensor: repr, iteration, tolist, scalar conversions, Size,
pickling and deepcopy, and the shared/pinned-memory methods (share_memory_, is_shared, ...).

repr follows PyTorch's printing rules (4 decimals, one width per tensor, scientific notation when
the magnitudes span too much, "1." for integer-valued floats, "..." summaries past 1000 elements,
80-column lines, dtype / requires_grad / grad_fn suffixes). No math lives here.
"""

import copy
import math

import numpy as np

from . import _C

_PRECISION = 4
_THRESHOLD = 1000  # more elements than this: print only the edges
_EDGEITEMS = 3
_LINEWIDTH = 80


class Size(tuple):
    """The shape of a tensor: a tuple of ints (like torch.Size); slices and sums stay Sizes."""

    __slots__ = ()

    def numel(self):
        n = 1
        for d in self:
            n *= d
        return n

    def __getitem__(self, key):
        item = tuple.__getitem__(self, key)
        return Size(item) if isinstance(key, slice) else item

    def __add__(self, other):
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple.__add__(self, other))

    def __radd__(self, other):
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple.__add__(other, self))

    def __mul__(self, n):
        return Size(tuple.__mul__(self, n))

    __rmul__ = __mul__

    def __repr__(self):
        return f"lamina.Size([{', '.join(str(d) for d in self)}])"


# ---- repr --------------------------------------------------------------------------------------

class _Formatter:
    """Picks one notation and width for all values of a tensor (from its summarized values)."""

    def __init__(self, values):
        self.floating = values.dtype.kind == "f"
        self.int_mode = True  # floats that are all integers print as "1."
        self.sci_mode = False
        self.width = 1
        if not self.floating:
            self.width = max((len(str(v)) for v in values.ravel().tolist()), default=1)
            return
        shown = values[np.isfinite(values) & (values != 0)]
        if shown.size == 0:
            return
        magnitudes = np.abs(shown.astype(np.float64))
        low, high = magnitudes.min(), magnitudes.max()
        self.int_mode = bool(np.all(shown == np.ceil(shown)))
        self.sci_mode = bool(high / low > 1000.0 or high > 1.0e8 or low < 1.0e-4)
        if self.sci_mode:
            texts = [f"{v:.{_PRECISION}e}" for v in shown.tolist()]
        elif self.int_mode:
            texts = [f"{v:.0f}." for v in shown.tolist()]
        else:
            texts = [f"{v:.{_PRECISION}f}" for v in shown.tolist()]
        self.width = max(len(t) for t in texts)

    def format(self, value):
        if not self.floating:
            text = str(value)
        elif self.sci_mode:
            text = f"{value:{self.width}.{_PRECISION}e}"
        elif self.int_mode:
            text = f"{value:.0f}" + ("." if math.isfinite(value) else "")
        else:
            text = f"{value:.{_PRECISION}f}"
        return text.rjust(self.width)


def _summarized(array):
    """The values a summarized print shows: the first and last EDGEITEMS along every long dim."""
    index = []
    for n in array.shape:
        if n > 2 * _EDGEITEMS:
            index.append(np.r_[0:_EDGEITEMS, n - _EDGEITEMS:n])
        else:
            index.append(np.arange(n))
    return array[np.ix_(*index)] if array.ndim else array


def _vector_str(array, indent, summarize, fmt):
    per_line = max(1, math.floor((_LINEWIDTH - indent) / (fmt.width + 2)))
    if summarize and array.shape[0] > 2 * _EDGEITEMS:
        items = ([fmt.format(v) for v in array[:_EDGEITEMS].tolist()] + [" ..."]
                 + [fmt.format(v) for v in array[-_EDGEITEMS:].tolist()])
    else:
        items = [fmt.format(v) for v in array.tolist()]
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return "[" + ("," + "\n" + " " * (indent + 1)).join(lines) + "]"


def _nested_str(array, indent, summarize, fmt):
    if array.ndim == 0:
        return fmt.format(array.item())
    if array.ndim == 1:
        return _vector_str(array, indent, summarize, fmt)
    n = array.shape[0]
    if summarize and n > 2 * _EDGEITEMS:
        rows = list(range(_EDGEITEMS)) + [None] + list(range(n - _EDGEITEMS, n))
    else:
        rows = range(n)
    parts = ["..." if i is None else _nested_str(array[i], indent + 1, summarize, fmt) for i in rows]
    return "[" + ("," + "\n" * (array.ndim - 1) + " " * (indent + 1)).join(parts) + "]"


def _values_str(array, indent):
    summarize = array.size > _THRESHOLD
    fmt = _Formatter(_summarized(array) if summarize else array)
    return _nested_str(array, indent, summarize, fmt)


def _add_suffixes(text, suffixes, indent):
    """Appends ", suffix" items, starting a new line when the current one would pass 80 columns."""
    parts = [text]
    line_len = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if line_len + len(suffix) + 2 > _LINEWIDTH:
            parts.append(",\n" + " " * indent + suffix)
            line_len = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            line_len += len(suffix) + 2
    return "".join(parts) + ")"


def _tensor_repr(self):
    plain = type(self) is _C.Tensor or type(self).__name__ == "Parameter"
    prefix = "tensor(" if plain else f"{type(self).__name__}("
    indent = len(prefix)
    suffixes = []
    if self.device.type != "cpu":
        suffixes.append(f"device='{self.device}'")
    default_float = _C.get_default_dtype()
    if self.numel() == 0:
        body = "[]"
        if self.ndim != 1:
            suffixes.append(f"size={tuple(self.shape)}")
        if self.dtype != default_float:  # nothing to tell an int64 or bool tensor apart by
            suffixes.append(f"dtype={self.dtype}")
    else:
        body = _values_str(self.detach().cpu().numpy(), indent)
        if self.dtype not in (default_float, _C.dtype.int64, _C.dtype.bool):
            suffixes.append(f"dtype={self.dtype}")
    if self.grad_fn is not None:
        suffixes.append(f"grad_fn=<{self.grad_fn.name()}>")
    elif self.requires_grad:
        suffixes.append("requires_grad=True")
    return _add_suffixes(prefix + body, suffixes, indent)


def _tensor_format(self, spec):
    if self.ndim == 0 and type(self) is _C.Tensor:
        return self.item().__format__(spec)
    return object.__format__(self, spec)


# ---- Python protocol -------------------------------------------------------------------------

def _tensor_iter(self):
    if self.ndim == 0:
        raise TypeError("iteration over a 0-d tensor")
    return iter(self.unbind(0))


def _tolist(self):
    return self.detach().cpu().numpy().tolist()


def _single_value(self):
    if self.numel() != 1:
        raise ValueError("only one element tensors can be converted to Python scalars")
    return self.item()


def _tensor_float(self):
    return float(_single_value(self))


def _tensor_int(self):
    return int(_single_value(self))


def _tensor_bool(self):
    n = self.numel()
    if n != 1:
        which = "no values" if n == 0 else "more than one value"
        raise RuntimeError(f"Boolean value of Tensor with {which} is ambiguous")
    return bool(self.item())


def _tensor_index(self):
    if self.dtype not in (_C.dtype.int32, _C.dtype.int64, _C.dtype.bool) or self.numel() != 1:
        raise TypeError("only integer tensors of a single element can be converted to an index")
    return int(self.item())


# ---- pickling and copying -----------------------------------------------------------------------
# Plain pickle copies the values (for code that pickles tensors into its own files or pipes);
# multiprocessing's ForkingPickler shares them instead (lamina/multiprocessing/reductions.py).

def _rebuild_tensor(cls, array, requires_grad):
    t = _C.from_numpy(array)
    if cls is not _C.Tensor:
        return cls(t, requires_grad)  # Parameter(data, requires_grad)
    return t.requires_grad_(True) if requires_grad else t


def _tensor_reduce(self):
    """Pickles the values (a copy, through numpy) and requires_grad; not the graph or views."""
    array = np.asarray(self.detach().cpu().numpy(), order="C")  # keeps 0-d arrays 0-d
    return (_rebuild_tensor, (type(self), array, self.requires_grad))


def _tensor_deepcopy(self, memo):
    """A copy with the same type, requires_grad, grad and Python attributes (PyTorch's rules).

    The memo maps a tensor met twice to one copy; views of one storage become separate copies.
    """
    if not self.is_leaf:
        raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) support the "
                           "deepcopy protocol at the moment")
    done = memo.get(id(self))
    if done is not None:
        return done
    new = self.detach().clone()
    if type(self) is not _C.Tensor:
        new = type(self)(new, self.requires_grad)  # subclasses take (data, requires_grad)
    elif self.requires_grad:
        new.requires_grad_(True)
    memo[id(self)] = new
    if self.grad is not None:
        new.grad = copy.deepcopy(self.grad, memo)
    if self.__dict__:
        new.__dict__.update(copy.deepcopy(self.__dict__, memo))
    return new


# ---- shared and pinned memory ------------------------------------------------------------------

def _share_memory_(self):
    """Moves the tensor into shared memory in place (no-op if it is there already); returns self.

    Processes that receive it (through lamina.multiprocessing queues, pipes or Process arguments)
    then see each other's in-place updates. Only this tensor moves: other views of its old storage
    keep the old memory.
    """
    from .multiprocessing import _shared

    return _shared.share_memory_(self)


def _is_shared(self):
    """Whether the tensor's storage is in shared memory (share_memory_, or received from a queue)."""
    from .multiprocessing import _shared

    return _shared.find(self)[0] is not None


def _pin_memory(self, device=None):
    """Returns self: page-locked memory only speeds up copies to an accelerator, and lamina's CPU
    tensors never make one (DataLoader(pin_memory=True) is accepted for the same reason)."""
    return self


def _is_pinned(self, device=None):
    """False: lamina never allocates page-locked memory (see pin_memory)."""
    return False


from . import _tensor_compat  # noqa: E402


def _install_tensor_methods():
    _C._register_size_type(Size)
    cls = _C.Tensor
    cls.__repr__ = _tensor_repr
    cls.__str__ = _tensor_repr
    cls.__format__ = _tensor_format
    cls.__iter__ = _tensor_iter
    cls.tolist = _tolist
    # PyTorch's messages and exception types (ValueError for float() of several elements).
    cls.__float__ = _tensor_float
    cls.__int__ = _tensor_int
    cls.__bool__ = _tensor_bool
    cls.__index__ = _tensor_index
    cls.__reduce__ = _tensor_reduce
    cls.__deepcopy__ = _tensor_deepcopy
    cls.share_memory_ = _share_memory_
    cls.is_shared = _is_shared
    cls.pin_memory = _pin_memory
    cls.is_pinned = _is_pinned
    cls.__array_priority__ = 1000  # numpy defers binary ops with tensors to lamina
    _tensor_compat.install(cls)
