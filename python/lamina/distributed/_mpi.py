"""The MPI transport: loads mpi4py on first use and maps lamina dtypes and ReduceOps to MPI's.

mpi4py is an optional dependency (`pip install "lamina[distributed]"`); `import lamina` never
imports it. Importing mpi4py.MPI initializes MPI, so that happens only in init_process_group.
Tensors are handed to MPI as numpy views of their own storage (zero-copy, the buffer protocol).
"""

import enum
import sys

from .. import _C

INSTALL_HINT = ('pip install "lamina[distributed]" (or: pip install mpi4py mpich), then start the ranks with '
                "python -m lamina.distributed.run -n N script.py")

_MPI = None
# True when lamina imported mpi4py.MPI first and so turned off its automatic MPI_Finalize at exit:
# MPI_Finalize waits for every rank, and would hang if a peer died (process_group._at_exit says more).
owns_finalize = False


def load():
    """mpi4py's MPI module, imported (and MPI initialized) on the first call."""
    global _MPI, owns_finalize
    if _MPI is not None:
        return _MPI
    try:
        import mpi4py
    except ImportError as e:
        raise ImportError(f"lamina.distributed needs mpi4py and an MPI library, and mpi4py is not installed: "
                          f"{INSTALL_HINT}") from e
    if "mpi4py.MPI" not in sys.modules:
        mpi4py.rc.finalize = False
        owns_finalize = True
    try:
        from mpi4py import MPI
    except (ImportError, RuntimeError) as e:
        raise ImportError(f"lamina.distributed: mpi4py is installed but no MPI library could be loaded ({e}): "
                          f"{INSTALL_HINT}") from e
    _MPI = MPI
    return MPI


class ReduceOp(enum.Enum):
    """torch.distributed.ReduceOp: how all_reduce, reduce and reduce_scatter_tensor combine values."""
    SUM = "sum"
    AVG = "avg"
    PRODUCT = "product"
    MIN = "min"
    MAX = "max"
    BAND = "band"
    BOR = "bor"
    BXOR = "bxor"

    def __repr__(self):
        return f"ReduceOp.{self.name}"


_FLOAT = (_C.dtype.float32, _C.dtype.float64)
_INT = (_C.dtype.int32, _C.dtype.int64)


_OP_CACHE = {}


def mpi_op(op, dtype, collective):
    """The MPI operation for `op` on `dtype` (cached: this runs before every reduction)."""
    found = _OP_CACHE.get((op, dtype))
    if found is None:
        found = _OP_CACHE[(op, dtype)] = _mpi_op(op, dtype, collective)
    return found


def _mpi_op(op, dtype, collective):
    """The MPI operation for `op` on `dtype` (AVG is a SUM followed by a division by the group size).
    bool follows PyTorch: SUM and MAX are logical or, PRODUCT and MIN logical and."""
    MPI = load()
    if not isinstance(op, ReduceOp):
        raise TypeError(f"lamina.distributed.{collective}: op must be a lamina.distributed.ReduceOp, got {op!r}")
    if dtype in _FLOAT:
        table = {ReduceOp.SUM: MPI.SUM, ReduceOp.AVG: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD,
                 ReduceOp.MIN: MPI.MIN, ReduceOp.MAX: MPI.MAX}
    elif dtype in _INT:
        table = {ReduceOp.SUM: MPI.SUM, ReduceOp.PRODUCT: MPI.PROD, ReduceOp.MIN: MPI.MIN, ReduceOp.MAX: MPI.MAX,
                 ReduceOp.BAND: MPI.BAND, ReduceOp.BOR: MPI.BOR, ReduceOp.BXOR: MPI.BXOR}
    elif dtype == _C.dtype.bool:
        table = {ReduceOp.SUM: MPI.LOR, ReduceOp.MAX: MPI.LOR, ReduceOp.BOR: MPI.LOR, ReduceOp.PRODUCT: MPI.LAND,
                 ReduceOp.MIN: MPI.LAND, ReduceOp.BAND: MPI.LAND, ReduceOp.BXOR: MPI.LXOR}
    else:
        raise TypeError(f"lamina.distributed.{collective}: unsupported dtype {dtype}")
    if op not in table:
        raise RuntimeError(f"lamina.distributed.{collective}: {op!r} is not defined for {dtype} tensors"
                           + (" (AVG needs a floating-point tensor: use SUM and divide)" if op is ReduceOp.AVG else ""))
    return table[op]
