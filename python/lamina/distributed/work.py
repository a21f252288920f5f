"""Work: the handle of a collective in flight (torch.distributed's Work, returned with async_op=True).

Every collective is a non-blocking MPI request completed here, by polling, so that no wait can
outlast the group's timeout: while waiting, the failure notices other ranks send and the liveness
of peers on this host are checked, and a dead or failed peer ends the wait with an error naming it.
Polling spins for a short while (MPI progresses only when called) and then sleeps between tests.
"""

import time

from . import _mpi

# Spin this long before sleeping between tests: a collective between ranks that arrive together
# completes within it, and a rank that waits longer should leave the core to others.
_SPIN_S = 0.02
_SLEEP_S = 0.0002
# How often a waiting rank looks for failure notices and dead peers.
_CHECK_EVERY_S = 0.05


class DistError(RuntimeError):
    """torch.distributed.DistError: a distributed operation failed."""


class DistBackendError(DistError):
    """torch.distributed.DistBackendError: the transport failed, a peer died or raised, or a wait timed out."""


def describe(name, seq, detail):
    """"collective #12 all_reduce (float32 (4,), SUM)"; `detail` may be a callable, formatted only here
    (on the error path), so that a collective that succeeds never builds its message."""
    detail = detail() if callable(detail) else detail
    return f"collective #{seq} {name}" + (f" ({detail})" if detail else "")


def wait_requests(requests, group, name, seq, detail, timeout=None, statuses=None):
    """Completes MPI `requests` or raises DistBackendError when a peer fails or `timeout` (seconds,
    the group's by default) passes. `statuses`, when given, receives one MPI.Status per request."""
    MPI = _mpi.load()
    world = group.world
    timeout = group.timeout if timeout is None else timeout
    start = time.monotonic()
    next_check = start + _CHECK_EVERY_S
    world.current = (name, seq, detail)   # named in this rank's failure notice if it raises here
    try:
        while True:
            if MPI.Request.Testall(requests, statuses):
                world.current = None
                return
            now = time.monotonic()
            if now >= next_check:
                world.check_peers(name, describe(name, seq, detail))
                if now - start >= timeout:
                    world.timed_out(name, describe(name, seq, detail), timeout, group)
                next_check = now + _CHECK_EVERY_S
            if now - start > _SPIN_S:
                time.sleep(_SLEEP_S)
    except MPI.Exception as e:
        world.mark_broken(f"MPI error in {describe(name, seq, detail)}: {e}")
        raise DistBackendError(f"lamina.distributed.{name}: MPI failed in {describe(name, seq, detail)} on rank "
                               f"{world.rank}: {e}") from e


class Work:
    """A collective in flight. `wait()` blocks until it completes (or raises on a peer failure or
    timeout); `is_completed()` tests without blocking. The result is in the tensors passed to the
    collective once either has returned True."""

    def __init__(self, group, name, seq, detail, requests, finish=None, keep=(), statuses=None):
        self._group, self._name, self._seq, self._detail = group, name, seq, detail
        self._requests = list(requests)
        self._statuses = statuses
        self._finish = finish        # runs once on completion: unpacking, AVG's division, copy-back
        self._keep = keep            # the buffers MPI reads and writes, alive until completion
        self._done = False
        self._exception = None
        self._result = None

    def _complete(self):
        if self._finish is not None:
            finish, self._finish = self._finish, None
            self._result = finish()
        self._done, self._keep = True, ()

    def is_completed(self):
        """True once the collective has finished on this rank (and its results are in place)."""
        if self._done:
            return True
        if self._requests and not _mpi.load().Request.Testall(self._requests, self._statuses):
            return False
        self._complete()
        return True

    def wait(self, timeout=None):
        """Blocks until the collective completes; `timeout` (a timedelta or seconds) overrides the
        group's. Raises DistBackendError when a peer dies or fails, or when the time runs out."""
        if self._done:
            if self._exception is not None:
                raise self._exception
            return True
        seconds = timeout.total_seconds() if hasattr(timeout, "total_seconds") else timeout
        try:
            if self._requests:
                wait_requests(self._requests, self._group, self._name, self._seq, self._detail, seconds,
                              self._statuses)
        except BaseException as e:
            self._exception, self._done = e, True
            raise
        self._complete()
        return True

    def is_success(self):
        return self._done and self._exception is None

    def exception(self):
        return self._exception

    def result(self):
        """The collective's result where it has one (recv: the sender's rank)."""
        self.wait()
        return self._result

    def __repr__(self):
        state = "completed" if self._done else "pending"
        return f"<lamina.distributed.Work {describe(self._name, self._seq, self._detail)} {state}>"
