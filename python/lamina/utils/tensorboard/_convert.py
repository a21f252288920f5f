"""What SummaryWriter accepts as data: lamina tensors, numpy arrays and Python numbers, as numpy.

Every helper takes ``where`` (the public method, e.g. ``lamina.utils.tensorboard.SummaryWriter
.add_scalar``) so that a rejected input is reported under the name the user called. Shapes are
printed as Python tuples, as in lamina's other errors.
"""

import numbers
import time

import numpy as np

from ... import _C

_NUMERIC_KINDS = "biuf"  # bool, signed, unsigned, floating


def is_tensor_or_number(value):
    """A lamina tensor, numpy array or scalar, or a Python number (bool included)."""
    return isinstance(value, (_C.Tensor, np.ndarray, np.generic, numbers.Number))


def to_numpy(value, where, name):
    """``value`` as a numpy array (a lamina tensor is detached first; no copy when avoidable)."""
    if isinstance(value, _C.Tensor):
        # Logging must never touch the graph: requires_grad tensors are read through detach().
        return value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (numbers.Number, np.generic, list, tuple)):
        array = np.asarray(value)
        if array.dtype.kind in _NUMERIC_KINDS:
            return array
    raise TypeError(f"{where}: expected {name} as a lamina tensor, numpy array or number, "
                    f"got {type(value).__name__}")


def to_float(value, where, name):
    """A one-element tensor, array or number as a Python float."""
    array = to_numpy(value, where, name)
    if array.dtype.kind not in _NUMERIC_KINDS:
        raise TypeError(f"{where}: expected {name} to be numeric, got dtype {array.dtype}")
    if array.size != 1:
        raise ValueError(f"{where}: expected {name} to be a number or a one-element tensor, "
                         f"got shape {tuple(array.shape)}")
    return float(array.reshape(()))


def to_step(step, where, name="global_step"):
    """The event step as an int (None stays None: the event then has step 0, as in PyTorch)."""
    if step is None:
        return None
    try:
        return int(step)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{where}: expected {name} to be an integer, got {step!r}") from e


def to_walltime(walltime, where):
    """Seconds since the epoch: ``walltime`` when given, now otherwise."""
    if walltime is None:
        return time.time()
    try:
        return float(walltime)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{where}: expected walltime to be seconds as a float, got {walltime!r}") from e
