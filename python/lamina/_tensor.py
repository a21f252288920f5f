"""Python-side sugar on lamina.Tensor: repr, iteration, tolist, Size. No math lives here."""

import numpy as np

from . import _C


class Size(tuple):
    """The shape of a tensor: a tuple of ints (like torch.Size)."""

    def numel(self):
        n = 1
        for d in self:
            n *= d
        return n

    def __repr__(self):
        return f"lamina.Size([{', '.join(str(d) for d in self)}])"


def _format_values(array):
    """Formats a numpy array the way PyTorch prints tensors (4 decimals, shared width)."""
    kind = array.dtype.kind
    if array.size == 0:
        return "[]"
    if kind == "b":
        fmt = lambda v: str(bool(v))  # noqa: E731
    elif kind in "iu":
        fmt = lambda v: str(int(v))  # noqa: E731
    else:
        finite = array[np.isfinite(array)]
        ints = finite.size == 0 or np.all(finite == np.round(finite))
        big = finite.size > 0 and np.max(np.abs(finite)) >= 1e8
        small = finite.size > 0 and np.min(np.abs(finite[finite != 0]), initial=1.0) < 1e-4
        if big or (small and not ints):
            fmt = lambda v: f"{v:.4e}"  # noqa: E731
        elif ints:
            fmt = lambda v: f"{v:.0f}." if np.isfinite(v) else str(v)  # noqa: E731
        else:
            fmt = lambda v: f"{v:.4f}" if np.isfinite(v) else str(v)  # noqa: E731
    texts = np.vectorize(fmt, otypes=[object])(array)
    width = max(len(t) for t in texts.ravel()) if texts.size else 0
    return np.array2string(texts, separator=", ", formatter={"all": lambda t: t.rjust(width)},
                           threshold=1000, edgeitems=3, max_line_width=80, prefix="tensor(")


def _tensor_repr(self):
    data = self.detach()
    if data.ndim == 0:
        body = _format_values(np.array([data.item()]).astype(data.numpy().dtype))[1:-1]
    else:
        body = _format_values(data.numpy())
    extras = []
    if self.dtype not in (_C.dtype.float32, _C.dtype.int64, _C.dtype.bool) or self.numel() == 0:
        extras.append(f"dtype={self.dtype}")
    if self.numel() == 0 and self.ndim != 1:
        body = "[]"
        extras.insert(0, f"size={tuple(self.shape)}")
    if self.grad_fn is not None:
        extras.append(f"grad_fn=<{self.grad_fn.name()}>")
    elif self.requires_grad:
        extras.append("requires_grad=True")
    return "tensor(" + body + "".join(", " + e for e in extras) + ")"


def _tensor_iter(self):
    if self.ndim == 0:
        raise TypeError("iteration over a 0-d tensor")
    return iter(self.unbind(0))


def _tolist(self):
    return self.detach().cpu().numpy().tolist()


def _install_tensor_methods():
    _C._register_size_type(Size)
    cls = _C.Tensor
    cls.__repr__ = _tensor_repr
    cls.__str__ = _tensor_repr
    cls.__iter__ = _tensor_iter
    cls.tolist = _tolist
    cls.__array_priority__ = 1000  # numpy defers binary ops with tensors to lamina
