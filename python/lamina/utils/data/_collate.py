"""default_collate (samples -> batch) and default_convert (numpy -> tensors), following PyTorch's
rules: tensors and numpy arrays are stacked along a new first dim, Python numbers become int64 /
float64 / bool tensors, strings stay lists, and dicts, named tuples and sequences are collated
field by field. numpy dtypes lamina lacks are widened (uint8/int8/int16/uint16/uint32 -> int64,
float16 -> float32).
"""

import collections.abc

import numpy as np

from ... import _C
from ...multiprocessing import _shared
from . import _worker

_WIDEN = {"b": np.int64, "B": np.int64, "h": np.int64, "H": np.int64, "I": np.int64,
          "e": np.float32}


def _numpy_to_tensor(array):
    if array.dtype.kind in "USOV":
        raise TypeError(f"default_collate: numpy arrays of dtype {array.dtype} cannot become tensors")
    target = _WIDEN.get(array.dtype.char)
    if target is not None:
        array = array.astype(target)
    elif array.dtype.kind == "u" and array.dtype.itemsize == 8:
        raise TypeError("default_collate: uint64 numpy arrays are not supported (no uint64 dtype)")
    if not array.flags.c_contiguous or not array.flags.writeable or array.dtype.byteorder == ">":
        array = np.array(array, dtype=array.dtype.newbyteorder("="), order="C")
    return _C.from_numpy(array)


def _is_namedtuple(obj):
    return isinstance(obj, tuple) and hasattr(obj, "_fields")


def default_convert(data):
    """Converts numpy arrays (also inside dicts, lists, tuples) to tensors; leaves the rest."""
    if isinstance(data, np.ndarray):
        return data if data.dtype.kind in "USOV" else _numpy_to_tensor(data)
    if isinstance(data, np.generic) and data.dtype.kind not in "USOV":
        return _numpy_to_tensor(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        converted = {k: default_convert(v) for k, v in data.items()}
        try:
            return type(data)(converted)
        except TypeError:
            return converted
    if _is_namedtuple(data):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        try:
            return type(data)([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data


def _stack(tensors):
    """stack(tensors, 0); in a DataLoader worker, large batches are stacked straight into shared
    memory, which saves the copy that sending them back would otherwise make (as PyTorch does)."""
    first = tensors[0]
    nbytes = first.numel() * first.element_size() * len(tensors)
    if (_worker.get_worker_info() is None or nbytes < _worker.SHARE_MIN_BYTES
            or any(t.requires_grad or not t.is_cpu or t.dtype != first.dtype
                   or t.shape != first.shape for t in tensors)):
        return _C.stack(tensors, 0)  # also raises stack's errors
    out = _shared.empty_shared((len(tensors),) + tuple(first.shape), first.dtype)
    np.stack([t.numpy() for t in tensors], out=out.numpy())
    return out


def default_collate(batch):
    """Merges a list of samples into a batch (see the module docstring for the rules).

    ``default_collate([(x0, 0), (x1, 1)])`` -> ``[stack([x0, x1]), tensor([0, 1])]``
    """
    elem = batch[0]
    if isinstance(elem, _C.Tensor):
        return _stack(list(batch))
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind in "USOV":
            raise TypeError(f"default_collate: batch contains numpy arrays of dtype {elem.dtype}, "
                            "which cannot become tensors")
        return _stack([_numpy_to_tensor(b) for b in batch])
    if isinstance(elem, np.generic):
        return _numpy_to_tensor(np.asarray(batch))
    if isinstance(elem, bool):
        return _C.tensor(list(batch), dtype=_C.dtype.bool)
    if isinstance(elem, float):
        return _C.tensor(list(batch), dtype=_C.dtype.float64)
    if isinstance(elem, int):
        return _C.tensor(list(batch), dtype=_C.dtype.int64)
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        collated = {key: default_collate([d[key] for d in batch]) for key in elem}
        try:
            return type(elem)(collated)
        except TypeError:
            return collated
    if _is_namedtuple(elem):
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(b) != size for b in batch):
            raise RuntimeError("default_collate: each element in list of batch should be of equal size")
        transposed = [default_collate(list(s)) for s in zip(*batch)]
        if isinstance(elem, tuple):
            return transposed  # PyTorch returns a list for tuples too
        try:
            return type(elem)(transposed)
        except TypeError:
            return transposed
    if elem is None:
        raise TypeError("default_collate: batch contains None (return a value from __getitem__)")
    raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or "
                    f"lists; found {type(elem)}")
