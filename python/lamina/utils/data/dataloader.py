"""DataLoader: batches from a dataset, in the main process or in worker processes.

With ``num_workers > 0`` each worker has its own index queue and all share one result queue.
The main process keeps ``prefetch_factor * num_workers`` batches in flight, hands tasks out
round-robin, and delivers batches in sampler order (a reorder buffer holds early arrivals).
Workers run with one intra-op thread. They are shut down when the iterator ends or is garbage
collected, or kept across epochs with ``persistent_workers=True`` (tasks carry an epoch number,
so results of an abandoned epoch are dropped). An exception in a worker is raised again in the
main process with the worker's traceback; a worker that dies is reported with its exit code.
Batches come back in shared memory: each worker also has a Unix socket over which it sends the
descriptors of a batch's segments just before putting the batch on the result queue.
"""

import itertools
import multiprocessing
import os
import pickle
import queue
import time
import weakref

from ... import _C
from ...multiprocessing import reductions
from . import _worker
from ._collate import default_collate, default_convert
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

_SEED_HIGH = 2 ** 62
_DELIVERED = object()  # marks a task whose batch went out early (in_order=False)


class _InfiniteConstantSampler(Sampler):
    """The index sampler of an IterableDataset: None forever (the fetcher ignores it)."""

    def __iter__(self):
        while True:
            yield None


class DataLoader:
    """Iterates over `dataset` in batches.

    Args follow PyTorch's: batch_size (None: no batching), shuffle (a RandomSampler drawing from
    `generator`, or from the default generator), sampler / batch_sampler, num_workers,
    collate_fn (default_collate), pin_memory (accepted, no effect on CPU), drop_last,
    timeout (seconds to wait for a worker batch, 0 = forever), worker_init_fn(worker_id),
    multiprocessing_context, generator, prefetch_factor (batches per worker in flight, default
    2), persistent_workers, in_order (False: deliver batches as workers finish them).
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor=None, persistent_workers=False, pin_memory_device="", in_order=True):
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError("DataLoader: num_workers option should be non-negative; use "
                             "num_workers=0 to disable multiprocessing")
        if timeout < 0:
            raise ValueError("DataLoader: timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("DataLoader: prefetch_factor option could only be specified in "
                             "multiprocessing (let num_workers > 0 to enable multiprocessing)")
        if prefetch_factor is not None and prefetch_factor < 1:
            raise ValueError("DataLoader: prefetch_factor option should be a positive integer")
        if persistent_workers and num_workers == 0:
            raise ValueError("DataLoader: persistent_workers option needs num_workers > 0")
        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = 2 if num_workers > 0 and prefetch_factor is None else prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.persistent_workers = persistent_workers
        self.in_order = in_order
        self.generator = generator
        self._is_iterable = isinstance(dataset, IterableDataset)

        if self._is_iterable:
            if shuffle not in (None, False):
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle "
                                 f"option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified sampler "
                                 f"option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: expected unspecified "
                                 f"batch_sampler option, but got batch_sampler={batch_sampler}")
        else:
            shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("DataLoader: batch_sampler option is mutually exclusive with "
                                 "batch_size, shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("DataLoader: batch_size=None option disables auto-batching and is "
                             "mutually exclusive with drop_last")

        if sampler is None:
            if self._is_iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        if collate_fn is None:
            collate_fn = default_collate if batch_sampler is not None else default_convert
        self.collate_fn = collate_fn
        self._iterator = None

    @property
    def _auto_collation(self):
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def __iter__(self):
        if self.num_workers == 0:
            return _SingleProcessIter(self)
        if self.persistent_workers:
            if self._iterator is None or not self._iterator._finalizer.alive:  # none yet, or crashed
                self._iterator = _MultiProcessIter(self)
            else:
                self._iterator._reset(self)
            return self._iterator
        return _MultiProcessIter(self)

    def __len__(self):
        if self._is_iterable:
            n = len(self.dataset)
            if self.batch_size is not None:
                n = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
            return n
        return len(self._index_sampler)

    def _draw_base_seed(self):
        return int(_C.randint(0, _SEED_HIGH, (1,), generator=self.generator).item())


class _BaseIter:
    def __init__(self, loader):
        self._dataset = loader.dataset
        self._is_iterable = loader._is_iterable
        self._auto_collation = loader._auto_collation
        self._collate_fn = loader.collate_fn
        self._drop_last = loader.drop_last
        self._index_sampler = loader._index_sampler
        # Drawn for every iterator (as PyTorch does), so a shuffle does not depend on num_workers.
        self._base_seed = loader._draw_base_seed()
        self._sampler_iter = iter(self._index_sampler)

    def __iter__(self):
        return self

    def _next_index(self):
        return next(self._sampler_iter)

    def __len__(self):
        return len(self._index_sampler)


class _SingleProcessIter(_BaseIter):
    def __init__(self, loader):
        super().__init__(loader)
        self._fetcher = _worker.make_fetcher(self._is_iterable, self._dataset, self._auto_collation,
                                             self._collate_fn, self._drop_last)

    def __next__(self):
        index = self._next_index()
        return self._fetcher.fetch(index)


class _MultiProcessIter(_BaseIter):
    def __init__(self, loader):
        super().__init__(loader)
        self._num_workers = loader.num_workers
        self._prefetch = loader.prefetch_factor * loader.num_workers
        self._timeout = loader.timeout
        self._in_order = loader.in_order
        self._persistent = loader.persistent_workers
        ctx = loader.multiprocessing_context
        if ctx is None:
            ctx = multiprocessing.get_context()
        elif isinstance(ctx, str):
            ctx = multiprocessing.get_context(ctx)
        self._data_queue = ctx.Queue()
        self._index_queues, self._workers, self._fd_sockets = [], [], []
        # A finalizer, not __del__: the garbage collector runs weakref callbacks (among them the
        # queues' own close-on-collect finalizers) before __del__, which would then find the
        # queues closed. The finalizer holds the queues, so they stay open until it has run.
        self._finalizer = weakref.finalize(self, _shutdown_workers, self._workers,
                                           self._index_queues, self._data_queue, self._fd_sockets)
        for worker_id in range(self._num_workers):
            index_queue = ctx.Queue()
            index_queue.cancel_join_thread()
            fd_socket, worker_end = _worker.fd_socket_pair()
            w = ctx.Process(target=_worker.worker_loop, daemon=True,
                            args=(self._is_iterable, self._dataset, index_queue, self._data_queue,
                                  worker_end, self._auto_collation, self._collate_fn,
                                  self._drop_last, self._base_seed + worker_id,
                                  loader.worker_init_fn, worker_id, self._num_workers, os.getpid()))
            self._index_queues.append(index_queue)
            self._fd_sockets.append(fd_socket)
            try:
                w.start()
            finally:
                worker_end.close()  # the worker has its own copy now
            self._workers.append(w)
        self._epoch = 0
        self._start_epoch()

    def _start_epoch(self):
        self._send_idx = 0  # index of the next task to send
        self._rcvd_idx = 0  # index of the next batch to return
        self._task_info = {}  # task index -> [worker id] or [worker id, data]
        self._worker_active = [True] * self._num_workers
        self._worker_cycle = itertools.cycle(range(self._num_workers))
        self._sampler_done = False
        for _ in range(self._prefetch):
            self._try_put_index()

    def _reset(self, loader):
        """A new epoch on the same (persistent) workers."""
        self._sampler_iter = iter(self._index_sampler)
        self._epoch += 1
        if self._is_iterable:
            for q in self._index_queues:
                q.put(_worker.ResetIteration(self._epoch))
        self._start_epoch()

    def _try_put_index(self):
        if self._sampler_done or not any(self._worker_active):
            return
        try:
            index = self._next_index()
        except StopIteration:
            self._sampler_done = True
            return
        for _ in range(self._num_workers):
            worker_id = next(self._worker_cycle)
            if self._worker_active[worker_id]:
                break
        self._index_queues[worker_id].put((self._epoch, self._send_idx, index))
        self._task_info[self._send_idx] = [worker_id]
        self._send_idx += 1

    def __next__(self):
        if not self._finalizer.alive:
            raise StopIteration  # the workers are gone (end of data, or a crash already reported)
        while True:
            # Skip batches already delivered out of order, and tasks sent to IterableDataset
            # workers that have since run out of data.
            while self._rcvd_idx < self._send_idx:
                info = self._task_info[self._rcvd_idx]
                if (info[-1] is not _DELIVERED) and (len(info) == 2 or self._worker_active[info[0]]):
                    break
                del self._task_info[self._rcvd_idx]
                self._rcvd_idx += 1
            else:
                if not self._persistent:
                    self._shutdown_workers()
                raise StopIteration
            info = self._task_info[self._rcvd_idx]
            if len(info) == 2:
                del self._task_info[self._rcvd_idx]
                self._rcvd_idx += 1
                return self._process(info[1])
            epoch, idx, data = self._get_data()
            if epoch != self._epoch or idx not in self._task_info:
                continue  # a result of an abandoned epoch
            if isinstance(data, _worker.IterableDatasetStop):
                # Its earlier results have all arrived (one queue, FIFO per worker); its pending
                # tasks are skipped above.
                self._worker_active[data.worker_id] = False
                self._try_put_index()
                continue
            if idx == self._rcvd_idx:
                del self._task_info[idx]
                self._rcvd_idx += 1
                return self._process(data)
            if not self._in_order:
                self._task_info[idx].append(_DELIVERED)
                return self._process(data)
            self._task_info[idx].append(data)

    def _process(self, data):
        self._try_put_index()
        if isinstance(data, _worker.ExceptionWrapper):
            data.reraise()
        return data

    def _get_data(self):
        start = time.monotonic()
        while True:
            wait = _worker._STATUS_CHECK_INTERVAL
            if self._timeout > 0:
                wait = min(wait, max(0.0, self._timeout - (time.monotonic() - start)))
            try:
                worker_id, num_fds, payload = self._data_queue.get(timeout=wait)
            except queue.Empty:
                pass
            else:
                fds = _worker.recv_fds(self._fd_sockets[worker_id], num_fds)
                with reductions.received_fds(fds):
                    return pickle.loads(payload)
            dead = [w for w in self._workers if not w.is_alive()]
            if dead:
                desc = ", ".join(f"pid {w.pid}" for w in dead)
                codes = ", ".join(str(w.exitcode) for w in dead)
                self._shutdown_workers()
                raise RuntimeError(f"DataLoader worker ({desc}) exited unexpectedly with exit code "
                                   f"{codes}")
            if self._timeout > 0 and time.monotonic() - start >= self._timeout:
                raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")

    def _shutdown_workers(self):
        self._finalizer()


def _shutdown_workers(workers, index_queues, data_queue, fd_sockets):
    """Asks each worker to exit, waits a little, then terminates stragglers."""
    try:
        for q in index_queues:
            q.put(None)
        for w in workers:
            w.join(timeout=5.0)
            if w.is_alive():
                w.terminate()
                w.join()
        for q in index_queues:
            q.close()
        data_queue.cancel_join_thread()
        data_queue.close()
        for sock in fd_sockets:
            sock.close()  # frees the segments of batches that were never read
    except Exception:  # interpreter shutdown: the daemon workers die with us
        pass
