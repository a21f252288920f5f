"""lamina.distributed: torch.distributed's API on MPI (mpi4py), for data-parallel training.

    pip install "lamina[distributed]"                     # mpi4py and the MPICH library (wheels)
    python -m lamina.distributed.run -n 2 train.py ARGS   # mpiexec, one thread budget split across ranks

Ranks and sizes come from MPI; collectives move tensors zero-copy from their storage; every wait is
bounded by the group's timeout and ends early, with an error naming the rank, when a peer raises or
dies. `set_debug_level(DebugLevel.DETAIL)` checks that all ranks call the same collective on the same
shapes. Importing this package does not import mpi4py: init_process_group does, and says what to
install when it is missing.
"""

from ._mpi import ReduceOp
from .collectives import (all_gather, all_gather_into_tensor, all_gather_object, all_reduce, barrier, broadcast,
                          broadcast_object_list, gather, irecv, isend, recv, reduce, reduce_scatter_tensor, scatter,
                          send)
from .process_group import (DebugLevel, ProcessGroup, default_pg_timeout, destroy_process_group, get_backend,
                            get_debug_level, get_process_group_ranks, get_rank, get_world_size, init_process_group,
                            is_initialized, is_mpi_available, new_group, set_debug_level)
from .work import DistBackendError, DistError, Work


def is_available():
    """True: lamina.distributed is always built (it needs mpi4py only once a process group starts)."""
    return True


def is_gloo_available():
    return False


def is_nccl_available():
    return False


class _GroupNamespace:
    """`group.WORLD`: the default process group, as torch.distributed.group.WORLD."""

    @property
    def WORLD(self):
        from . import process_group
        return process_group._default_group


group = _GroupNamespace()
GroupMember = group

__all__ = [
    "DebugLevel", "DistBackendError", "DistError", "GroupMember", "ProcessGroup", "ReduceOp", "Work", "all_gather",
    "all_gather_into_tensor", "all_gather_object", "all_reduce", "barrier", "broadcast", "broadcast_object_list",
    "default_pg_timeout", "destroy_process_group", "gather", "get_backend", "get_debug_level",
    "get_process_group_ranks", "get_rank", "get_world_size", "group", "init_process_group", "irecv",
    "is_available", "is_gloo_available", "is_initialized", "is_mpi_available", "is_nccl_available", "isend",
    "new_group", "recv", "reduce", "reduce_scatter_tensor", "scatter", "send", "set_debug_level",
]
