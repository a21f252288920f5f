"""What runs inside a DataLoader worker process, and what it sends back.

A worker reads (epoch, task index, sampler indices) from its own index queue, fetches and collates
the batch, pickles it itself (so an unpicklable batch becomes an error message instead of a silent
feeder-thread failure) and puts (worker id, descriptor count, payload) on the shared result queue,
where the payload pickles (epoch, task index, batch). The batch's tensors are not in the payload:
they are moved into shared-memory segments whose descriptors go first over the worker's own Unix
socket (send_fds), so the main process maps the batch instead of copying it. It runs
with one intra-op thread, so N workers plus the main process never oversubscribe the cores, and it
exits when it reads None, when its parent dies, or on KeyboardInterrupt.
"""

import io
import os
import pickle
import queue
import random
import socket
import sys
import traceback
from multiprocessing.reduction import ForkingPickler

import numpy as np

from ... import _C
from ...multiprocessing import reductions

_STATUS_CHECK_INTERVAL = 1.0  # seconds between checks that the parent is still alive


class WorkerInfo:
    """Inside a worker: its ``id``, ``num_workers``, ``seed`` and its copy of ``dataset``."""

    def __init__(self, id, num_workers, seed, dataset):
        self.id = id
        self.num_workers = num_workers
        self.seed = seed
        self.dataset = dataset

    def __repr__(self):
        return f"WorkerInfo(id={self.id}, num_workers={self.num_workers}, seed={self.seed})"


_worker_info = None


def get_worker_info():
    """The `WorkerInfo` of the current DataLoader worker process, or None in the main process."""
    return _worker_info


class ExceptionWrapper:
    """An exception caught in a worker, carried to the main process with its formatted traceback."""

    def __init__(self, exc_info, where):
        self.exc_type = exc_info[0]
        self.exc_msg = "".join(traceback.format_exception(*exc_info))
        self.where = where
        try:  # an exception class defined in a function cannot be pickled: fall back to RuntimeError
            pickle.loads(pickle.dumps(self.exc_type))
        except Exception:
            self.exc_msg = f"{self.exc_type.__module__}.{self.exc_type.__qualname__}: " + self.exc_msg
            self.exc_type = RuntimeError

    def reraise(self):
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            msg = _KeyErrorMessage(msg)  # KeyError would repr() the message, losing the newlines
        try:
            exc = self.exc_type(msg)
        except Exception:
            raise RuntimeError(msg) from None
        raise exc


class _KeyErrorMessage(str):
    def __repr__(self):
        return self


class IterableDatasetStop:
    """Sent by a worker whose IterableDataset iterator is exhausted."""

    def __init__(self, worker_id):
        self.worker_id = worker_id


class ResetIteration:
    """Sent to persistent workers at a new epoch: restart the IterableDataset iterator."""

    def __init__(self, epoch):
        self.epoch = epoch


class MapFetcher:
    """Fetches dataset[i] for the indices of one batch (or one index without auto-collation)."""

    def __init__(self, dataset, auto_collation, collate_fn, drop_last):
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn

    def fetch(self, index):
        if self.auto_collation:
            getitems = getattr(self.dataset, "__getitems__", None)
            data = getitems(index) if getitems is not None else [self.dataset[i] for i in index]
        else:
            data = self.dataset[index]
        return self.collate_fn(data)


class IterableFetcher:
    """Takes the next batch_size samples (or the next sample) from the dataset's iterator."""

    def __init__(self, dataset, auto_collation, collate_fn, drop_last):
        self.dataset = dataset
        self.auto_collation = auto_collation
        self.collate_fn = collate_fn
        self.drop_last = drop_last
        self.iterator = iter(dataset)
        self.ended = False

    def fetch(self, index):
        if self.ended:
            raise StopIteration
        if not self.auto_collation:
            return self.collate_fn(next(self.iterator))
        data = []
        for _ in range(len(index)):
            try:
                data.append(next(self.iterator))
            except StopIteration:
                self.ended = True
                break
        if not data or (self.drop_last and len(data) < len(index)):
            raise StopIteration
        return self.collate_fn(data)


def make_fetcher(is_iterable, dataset, auto_collation, collate_fn, drop_last):
    cls = IterableFetcher if is_iterable else MapFetcher
    return cls(dataset, auto_collation, collate_fn, drop_last)


def seed_worker(seed):
    """Seeds lamina's default generator, `random` and numpy's global RNG from the worker seed."""
    _C.manual_seed(seed)
    random.seed(seed)
    np.random.seed(np.random.SeedSequence(seed).generate_state(4))


def _dumps(item, worker_id):
    """(payload, descriptors of the shared segments its tensors live in)."""
    try:
        buf = io.BytesIO()
        with reductions.collect_fds(copy_below=SHARE_MIN_BYTES) as fds:
            ForkingPickler(buf, pickle.HIGHEST_PROTOCOL).dump(item)
        return buf.getvalue(), fds
    except Exception:
        where = f"in DataLoader worker process {worker_id} while pickling a batch"
        return pickle.dumps(item[:2] + (ExceptionWrapper(sys.exc_info(), where),),
                            protocol=pickle.HIGHEST_PROTOCOL), []


# Tensors of a batch below this size are pickled by value: a shared segment costs a few system
# calls and page faults on both sides, which copying only beats for small tensors (see
# bench/RESULTS.md, "Data loading").
SHARE_MIN_BYTES = 64 * 1024
_FDS_PER_MESSAGE = 250  # the kernel passes at most 253 descriptors in one message (SCM_MAX_FD)
_FD_RECV_TIMEOUT = 60.0  # seconds; the descriptors are sent before the payload, so never reached


def fd_socket_pair():
    """(main end, worker end): SOCK_SEQPACKET keeps each batch's descriptors one message."""
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def send_fds(sock, fds):
    for i in range(0, len(fds), _FDS_PER_MESSAGE):
        socket.send_fds(sock, [b"\0"], fds[i:i + _FDS_PER_MESSAGE])


def recv_fds(sock, count):
    """The `count` descriptors a worker sent before the payload that announced them."""
    fds = []
    sock.settimeout(_FD_RECV_TIMEOUT)
    try:
        while len(fds) < count:
            _, got, flags, _ = socket.recv_fds(sock, 1, _FDS_PER_MESSAGE)
            fds.extend(got)
            if not got or flags & socket.MSG_CTRUNC:
                raise RuntimeError("DataLoader: lost the shared-memory descriptors of a batch")
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return fds


def worker_loop(is_iterable, dataset, index_queue, data_queue, fd_socket, auto_collation, collate_fn,
                drop_last, seed, init_fn, worker_id, num_workers, parent_pid):
    """The main function of a worker process."""
    global _worker_info
    try:
        _C.set_num_threads(1)
        seed_worker(seed)
        _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
        where = f"in DataLoader worker process {worker_id}"
        init_error, fetcher = None, None
        try:
            if init_fn is not None:
                init_fn(worker_id)
            fetcher = make_fetcher(is_iterable, dataset, auto_collation, collate_fn, drop_last)
        except Exception:
            init_error = ExceptionWrapper(sys.exc_info(), where)
        while True:
            try:
                task = index_queue.get(timeout=_STATUS_CHECK_INTERVAL)
            except queue.Empty:
                if os.getppid() != parent_pid:
                    break
                continue
            if task is None:
                break
            if isinstance(task, ResetIteration):
                if init_error is None:
                    try:
                        fetcher = make_fetcher(is_iterable, dataset, auto_collation, collate_fn, drop_last)
                    except Exception:
                        init_error = ExceptionWrapper(sys.exc_info(), where)
                continue
            epoch, idx, index = task
            if init_error is not None:
                data, init_error = init_error, None
            else:
                try:
                    data = fetcher.fetch(index)
                except StopIteration:
                    data = IterableDatasetStop(worker_id)
                except Exception:
                    data = ExceptionWrapper(sys.exc_info(), where)
            payload, fds = _dumps((epoch, idx, data), worker_id)
            send_fds(fd_socket, fds)  # before the payload: the main process reads them after it
            data_queue.put((worker_id, len(fds), payload))
            del data, payload, fds  # the segments live on in the main process
    except KeyboardInterrupt:
        pass
    # Results the main process no longer wants must not keep this process alive at exit.
    data_queue.cancel_join_thread()
    data_queue.close()
