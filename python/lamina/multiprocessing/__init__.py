"""lamina.multiprocessing: the standard multiprocessing module with tensors shared, not copied.

A drop-in for torch.multiprocessing: everything of `multiprocessing` is re-exported, and tensors
sent through its queues, pipes and pools, or passed to a spawn/forkserver Process, travel as
handles to shared memory (see reductions.py; importing lamina registers them, so the standard
module shares tensors as well). `spawn` runs fn(i, *args) in several processes.

The only sharing strategy is "file_descriptor": segments are anonymous memory files passed over
Unix sockets, so nothing is ever left in /dev/shm. The process that sent a tensor must stay alive
until the receiver has taken it off the queue (the descriptor is fetched from the sender).
"""

import multiprocessing
from multiprocessing import *  # noqa: F401, F403

from .reductions import init_reductions
from .spawn import (ProcessContext, ProcessException, ProcessExitedException,  # noqa: F401
                    ProcessRaisedException, spawn, start_processes)

__all__ = ["get_all_sharing_strategies", "get_sharing_strategy", "set_sharing_strategy",
           "ProcessContext", "ProcessException", "ProcessExitedException", "ProcessRaisedException",
           "spawn", "start_processes"] + list(multiprocessing.__all__)

_STRATEGIES = ("file_descriptor",)
_strategy = "file_descriptor"


def set_sharing_strategy(new_strategy):
    """Sets how tensors are shared; lamina has one strategy, "file_descriptor"."""
    global _strategy
    if new_strategy not in _STRATEGIES:
        raise ValueError(f"set_sharing_strategy: unknown strategy {new_strategy!r} (lamina "
                         f"supports {', '.join(map(repr, _STRATEGIES))})")
    _strategy = new_strategy


def get_sharing_strategy():
    return _strategy


def get_all_sharing_strategies():
    return set(_STRATEGIES)


init_reductions()
