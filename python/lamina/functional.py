"""lamina.functional: the tensor functions PyTorch keeps in torch.functional (meshgrid) and the
closeness tests, all composites of lamina ops."""

from . import _C


def meshgrid(*tensors, indexing="ij"):
    """Coordinate grids of 1-d (or 0-d) tensors as expanded views: indexing "ij" (matrix, PyTorch's
    default) or "xy" (Cartesian: the first two dims swapped)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    for t in tensors:
        if t.dim() > 1:
            raise RuntimeError(f"meshgrid: expected 0D or 1D tensors, got a tensor of shape {tuple(t.shape)}")
    if len({t.dtype for t in tensors}) > 1:
        raise RuntimeError("meshgrid: expected all tensors to have the same dtype, got "
                           + ", ".join(str(t.dtype) for t in tensors))
    swap = indexing == "xy" and len(tensors) >= 2
    order = list(tensors)
    if swap:
        order[0], order[1] = order[1], order[0]
    sizes = [t.numel() for t in order]
    grids = []
    for i, t in enumerate(order):
        shape = [1] * len(order)
        shape[i] = sizes[i]
        grids.append(t.reshape(shape).expand(sizes))
    if swap:  # the grids of (y, x, ...) in matrix order are the Cartesian (x, y, ...) grids
        grids[0], grids[1] = grids[1], grids[0]
    return tuple(grids)


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """|input - other| <= atol + |rtol other|, elementwise and broadcast (PyTorch's definition):
    equal values (infinities included) are close, NaNs only with equal_nan, and with both
    tolerances 0 only equal values. Integers are compared in the default float dtype."""
    if rtol < 0 or atol < 0:
        raise RuntimeError(f"isclose: rtol and atol must be non-negative, got rtol={rtol}, atol={atol}")
    input, other = _as_tensor(input, other), _as_tensor(other, input)
    if input.dtype != other.dtype:
        raise RuntimeError(f"isclose: {input.dtype} did not match {other.dtype}")
    close = input == other
    if equal_nan and input.is_floating_point():
        close = close | (input.isnan() & other.isnan())
    if rtol == 0 and atol == 0:
        return close
    if not input.is_floating_point():
        input, other = input.to(_C.get_default_dtype()), other.to(_C.get_default_dtype())
    error = (input - other).abs()
    return close | (error.isfinite() & (error <= atol + (rtol * other).abs()))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Whether every element of input is close to other (isclose), as a Python bool."""
    return bool(isclose(input, other, rtol, atol, equal_nan).all().item())


def equal(input, other):
    """True when both tensors have the same shape and the same elements (PyTorch's torch.equal:
    dtypes may differ; NaN is never equal)."""
    return tuple(input.shape) == tuple(other.shape) and bool((input == other).all().item())


def _as_tensor(x, like):
    return x if isinstance(x, _C.Tensor) else _C.tensor(x, dtype=like.dtype)
