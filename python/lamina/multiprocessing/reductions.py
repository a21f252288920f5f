"""How tensors cross process boundaries: reducers registered with ForkingPickler.

ForkingPickler pickles everything multiprocessing sends (queues, pipes, Pool tasks, the arguments
of a spawn or forkserver Process). A tensor is moved into shared memory in place (as PyTorch
does) and sent as its segment's file descriptor plus its geometry, so the receiver maps the same
pages. Plain pickle.dumps is unaffected and still copies the values (Tensor.__reduce__).

Descriptors travel three ways. To a process being started (spawn, forkserver) multiprocessing
hands them over itself (reduction.DupFd). Otherwise the receiver fetches the descriptor from the
sender when it unpickles (_fd_sharer), so the sender must still be alive then; a child waits at
exit until its offers are taken. DataLoader workers pass a whole batch's descriptors over their
own socket beside the batch: collect_fds() gathers them and received_fds() supplies them.
"""

import contextlib
import os
import sys
import threading
import weakref
from multiprocessing import context
from multiprocessing.reduction import DupFd, ForkingPickler

from .. import _C
from . import _fd_sharer, _shared

_NON_LEAF = ("Cowardly refusing to serialize non-leaf tensor which requires_grad, since autograd "
             "does not support crossing process boundaries.  If you just want to transfer the "
             "data, call detach() on the tensor before serializing (e.g., putting it on the queue).")
_passed_to_child = weakref.WeakKeyDictionary()  # popen of a starting process -> {fd: handle}
_local = threading.local()  # .collecting: {fd: index} while pickling; .received: [fd] while unpickling


class _MessageFd:
    """Stands for the index-th descriptor passed beside a message (see collect_fds)."""

    def __init__(self, index):
        self.index = index

    def detach(self):
        fds = getattr(_local, "received", None)
        if fds is None:
            raise RuntimeError("lamina.multiprocessing: this message's tensors travel with file "
                               "descriptors passed beside it; unpickle it inside received_fds()")
        return os.dup(fds[self.index])  # a tensor may appear twice: each rebuild owns its copy


@contextlib.contextmanager
def collect_fds(copy_below=0):
    """While active (in this thread), pickled tensors record their descriptor in the yielded
    list (filled when the block ends) instead of offering it through the fd sharer; send the
    list with the message. Tensors not yet shared with fewer than `copy_below` bytes are
    pickled by value instead (a segment costs more than copying a few KiB)."""
    index = {}
    _local.collecting = index
    _local.copy_below = copy_below
    fds = []
    try:
        yield fds
    finally:
        _local.collecting = None
        fds.extend(sorted(index, key=index.get))


@contextlib.contextmanager
def received_fds(fds):
    """Unpickles messages made under collect_fds, given their descriptors; closes them after."""
    _local.received = fds
    try:
        yield
    finally:
        _local.received = None
        for fd in fds:
            os.close(fd)


def _offer(fd):
    collecting = getattr(_local, "collecting", None)
    if collecting is not None:
        return _MessageFd(collecting.setdefault(fd, len(collecting)))
    popen = context.get_spawning_popen()
    if popen is None and sys.platform.startswith("linux"):
        return _fd_sharer.offer(fd)
    if popen is None:
        return DupFd(fd)  # the standard library's resource sharer
    # Handed to the starting process directly. Tensors of one segment give one descriptor:
    # spawn would refuse to pass the same descriptor twice.
    passed = _passed_to_child.setdefault(popen, {})
    if fd not in passed:
        passed[fd] = DupFd(fd)
    return passed[fd]


def rebuild_tensor(cls, fd_handle, sender_pid, byte_start, dtype, shape, stride, offset,
                   requires_grad):
    """Maps the sender's segment and builds the tensor over it (Parameters stay Parameters)."""
    try:
        fd = fd_handle.detach()
    except (OSError, EOFError) as e:
        raise RuntimeError(f"lamina.multiprocessing: could not receive a shared tensor from "
                           f"process {sender_pid} ({type(e).__name__}: {e}); a process must stay "
                           f"alive until the tensors it sent have been received") from e
    raw = _shared.open_segment(fd)
    t = _shared.tensor_in(raw, byte_start, dtype, shape, stride, offset)
    if cls is not _C.Tensor:
        return cls(t, requires_grad)  # Parameter(data, requires_grad) shares data's storage
    return t.requires_grad_(True) if requires_grad else t


def reduce_tensor(tensor):
    """Shares the storage (moving it into shared memory first) and sends a handle to it.

    requires_grad and the type travel; `.grad` and the graph do not, as in PyTorch.
    """
    if tensor.requires_grad and not tensor.is_leaf:
        raise RuntimeError(_NON_LEAF)
    if (getattr(_local, "collecting", None) is not None
            and tensor.numel() * tensor.element_size() < _local.copy_below
            and not tensor.is_shared()):
        return tensor.__reduce__()
    _shared.share_memory_(tensor)
    seg, byte_start = _shared.find(tensor)
    return (rebuild_tensor, (type(tensor), _offer(seg.fd), os.getpid(), byte_start, tensor.dtype,
                             tuple(tensor.shape), tensor.stride(), tensor.storage_offset(),
                             tensor.requires_grad))


def init_reductions():
    """Registers the reducers (done when lamina.multiprocessing is imported, i.e. by lamina)."""
    from ..nn.parameter import Parameter

    # ForkingPickler looks reducers up by exact type; other Tensor subclasses are pickled by
    # value through their own __reduce__.
    for cls in (_C.Tensor, Parameter):
        ForkingPickler.register(cls, reduce_tensor)
