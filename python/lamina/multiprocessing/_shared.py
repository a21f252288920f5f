"""Shared-memory segments behind shared tensors, and the per-process table that finds them.

A segment is an anonymous memory file (memfd_create; elsewhere an unlinked temporary file) mapped
MAP_SHARED. It never has a name in /dev/shm: processes reach it only through its file descriptor,
which travels over Unix sockets (SCM_RIGHTS). The kernel frees it when the last descriptor and
mapping are gone, so a worker killed with SIGKILL leaks nothing. Each process keeps one descriptor
per live segment (to pass it on) and closes it when the last tensor using the segment dies.
"""

import bisect
import mmap
import os
import tempfile
import threading
import weakref

import numpy as np

from .. import _C


class _Segment:
    """One mapped segment in this process: its descriptor, address range and inode."""

    __slots__ = ("fd", "start", "nbytes", "key", "raw", "finalizer")

    def __init__(self, fd, start, nbytes, key, raw):
        self.fd = fd
        self.start = start
        self.nbytes = nbytes
        self.key = key
        self.raw = weakref.ref(raw)  # the uint8 array over the mapping; tensors' storages hold it
        self.finalizer = None


_lock = threading.RLock()  # reentrant: a segment's finalizer may run while the table is locked
_starts = []  # sorted start addresses of live segments (for address -> segment lookups)
_by_start = {}
_by_key = {}  # (st_dev, st_ino) -> segment: a segment received twice is mapped once


def _reset_lock_after_fork():
    global _lock
    _lock = threading.RLock()  # another thread may have held it at fork time


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_lock_after_fork)


def _create_file(nbytes):
    if hasattr(os, "memfd_create"):
        # Unlike shm_open, a memfd is not bounded by the size of the /dev/shm mount (64 MiB in
        # Docker by default) and has no name that could outlive a crash.
        fd = os.memfd_create("lamina-shared", os.MFD_CLOEXEC)
    else:
        # Opened and unlinked at once: the same lifetime rules as a memfd, backed by the page cache.
        with tempfile.NamedTemporaryFile(prefix="lamina-shared-", delete=False) as f:
            fd = os.dup(f.fileno())
            os.unlink(f.name)
    try:
        os.ftruncate(fd, nbytes)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _release(seg):
    with _lock:
        if _by_start.get(seg.start) is seg:
            del _by_start[seg.start]
            del _starts[bisect.bisect_left(_starts, seg.start)]
        if _by_key.get(seg.key) is seg:
            del _by_key[seg.key]
        fd, seg.fd = seg.fd, -1
    if fd >= 0:
        os.close(fd)


def _register(fd, size):
    """Maps the file and records it; the record ends (and fd is closed) with the last user."""
    mm = mmap.mmap(fd, size)
    raw = np.frombuffer(mm, dtype=np.uint8)
    del mm  # raw's buffer export keeps the mapping; it is unmapped once raw is gone
    st = os.fstat(fd)
    seg = _Segment(fd, raw.__array_interface__["data"][0], size, (st.st_dev, st.st_ino), raw)
    with _lock:
        _by_start[seg.start] = seg
        bisect.insort(_starts, seg.start)
        _by_key[seg.key] = seg
    seg.finalizer = weakref.finalize(raw, _release, seg)
    seg.finalizer.atexit = False  # the kernel closes descriptors at exit; queues may still send
    return seg, raw


def new_segment(nbytes):
    """A fresh zero-filled segment of at least one byte (an empty mmap is not allowed)."""
    size = max(int(nbytes), 1)
    fd = _create_file(size)
    try:
        return _register(fd, size)
    except BaseException:
        os.close(fd)
        raise


def open_segment(fd):
    """The mapping of a received descriptor; this process takes ownership of fd.

    A segment this process already maps (one it created and got back, or two tensors of one
    storage) is reused, so the tensors alias the same addresses as they did in the sender.
    """
    st = os.fstat(fd)
    key = (st.st_dev, st.st_ino)
    with _lock:
        seg = _by_key.get(key)
        raw = seg.raw() if seg is not None else None
        if raw is not None:
            if fd != seg.fd:  # spawn passes the same number for every use of one descriptor
                os.close(fd)
            return raw
        if seg is not None and seg.fd == fd:
            seg.fd = -1  # a dying record must not close the descriptor we are about to own
        try:
            return _register(fd, st.st_size)[1]
        except BaseException:
            os.close(fd)
            raise


def find(tensor):
    """(segment, byte offset of the tensor's storage in it), or (None, 0) if not shared."""
    if not tensor.is_cpu:
        return None, 0
    base = tensor.data_ptr() - tensor.storage_offset() * tensor.element_size()
    with _lock:
        i = bisect.bisect_right(_starts, base) - 1
        if i >= 0:
            seg = _by_start[_starts[i]]
            if base < seg.start + seg.nbytes:
                return seg, base - seg.start
    return None, 0


def tensor_in(raw, byte_start, dtype, shape, stride, offset):
    """A tensor over a segment's bytes: storage from byte_start, then shape/stride/offset."""
    np_dtype = np.dtype(dtype.name)
    count = (raw.shape[0] - byte_start) // np_dtype.itemsize
    typed = raw[byte_start:byte_start + count * np_dtype.itemsize].view(np_dtype)
    base = _C.from_numpy(typed)
    # .data: an alias with the view's geometry that is not an autograd view of `base`.
    return base.as_strided(tuple(shape), tuple(stride), offset).data


def share_memory_(tensor):
    """Moves the tensor's whole storage into a new segment in place (no-op if already shared).

    As in PyTorch, the storage moves, not the tensor: its base and every other view of that
    storage see the shared memory from then on (the C++ hook swaps the storage's bytes, so tensor
    identities, geometry, autograd history and version counters are untouched). An array that
    `.numpy()` or DLPack handed out earlier keeps the old memory alive and no longer aliases.
    """
    if not tensor.is_cpu:
        raise NotImplementedError(f"share_memory_: only CPU tensors can be shared across "
                                  f"processes (got a tensor on {tensor.device})")
    if find(tensor)[0] is not None:
        return tensor
    _, raw = new_segment(_C._storage_nbytes(tensor))
    _C._replace_storage_data(tensor, raw)
    return tensor


def empty_shared(shape, dtype):
    """A new contiguous tensor whose storage is a fresh segment (zero-filled)."""
    shape = tuple(shape)
    stride, step = [], 1
    for n in reversed(shape):
        stride.append(step)
        step *= max(n, 1)
    numel = int(np.prod(shape, dtype=np.int64)) if shape else 1
    _, raw = new_segment(numel * dtype.itemsize)
    return tensor_in(raw, 0, dtype, shape, tuple(reversed(stride)), 0)
