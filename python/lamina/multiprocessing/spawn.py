"""spawn / start_processes: run fn(i, *args) in nprocs processes and report the first failure.

Each child writes the traceback of an exception that escapes fn to its own file in a temporary
folder and exits with code 1. ProcessContext.join waits on the process sentinels; on the first
failure it stops the others (SIGTERM, then SIGKILL) and raises ProcessRaisedException with that
traceback, or ProcessExitedException for a child that died without one (a signal, os._exit).
"""

import ctypes
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
import warnings

__all__ = ["ProcessContext", "ProcessException", "ProcessExitedException", "ProcessRaisedException",
           "spawn", "start_processes"]


class ProcessException(Exception):
    """A spawned process failed; `error_index` is its index, `error_pid` its pid."""

    def __init__(self, msg, error_index, error_pid):
        super().__init__(msg)
        self.msg = msg
        self.error_index = error_index
        self.error_pid = error_pid

    def __reduce__(self):
        return type(self), (self.msg, self.error_index, self.error_pid)


class ProcessRaisedException(ProcessException):
    """The process raised an exception; the message holds its traceback."""


class ProcessExitedException(ProcessException):
    """The process exited with a non-zero code or was killed by a signal."""

    def __init__(self, msg, error_index, error_pid, exit_code, signal_name=None):
        super().__init__(msg, error_index, error_pid)
        self.exit_code = exit_code
        self.signal_name = signal_name

    def __reduce__(self):
        return type(self), (self.msg, self.error_index, self.error_pid, self.exit_code,
                            self.signal_name)


def _die_with_parent():
    # A child orphaned by a crashed parent would otherwise run on; SIGINT lets it unwind.
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGINT))  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def _wrap(fn, i, args, error_file):
    _die_with_parent()
    try:
        fn(i, *args)
    except KeyboardInterrupt:
        pass  # stopped by the parent (or its death): nothing to report
    except Exception:
        with open(error_file, "w") as f:
            f.write(traceback.format_exc())
        sys.exit(1)


class ProcessContext:
    """The processes started by start_processes; join() reports the first one that fails."""

    def __init__(self, processes, error_files):
        self.processes = processes
        self.error_files = error_files
        self.sentinels = {p.sentinel: i for i, p in enumerate(processes)}

    def pids(self):
        return [int(p.pid) for p in self.processes]

    def _join_all(self, seconds):
        end = time.monotonic() + seconds
        for p in self.processes:
            p.join(max(0.0, end - time.monotonic()))

    def _cleanup(self):
        folders = {os.path.dirname(f) for f in self.error_files}
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)

    def join(self, timeout=None, grace_period=None):
        """Waits for processes to exit (up to `timeout` seconds).

        Returns True once all have exited successfully, False if some are still running. When
        one fails, the others get `grace_period` seconds (default: none) before SIGTERM, then up
        to 30 s (or `grace_period`) before SIGKILL, and the failure is raised.
        """
        if not self.sentinels:
            return True
        ready = multiprocessing.connection.wait(list(self.sentinels), timeout=timeout)
        failed = None
        for sentinel in ready:
            index = self.sentinels.pop(sentinel)
            self.processes[index].join()
            if self.processes[index].exitcode != 0:
                failed = index
                break
        if failed is None:
            if not self.sentinels:
                self._cleanup()
                return True
            return False
        self._stop_others(grace_period)
        try:
            self._raise_failure(failed)
        finally:
            self._cleanup()

    def _stop_others(self, grace_period):
        if grace_period is not None:
            self._join_all(grace_period)
        for p in self.processes:
            if p.is_alive():
                p.terminate()
        self._join_all(30.0 if grace_period is None else grace_period)
        for p in self.processes:
            if p.is_alive():
                p.kill()
            p.join()
        self.sentinels.clear()

    def _raise_failure(self, index):
        process = self.processes[index]
        try:
            with open(self.error_files[index]) as f:
                original = f.read()
        except FileNotFoundError:
            code = process.exitcode
            if code < 0:
                try:
                    name = signal.Signals(-code).name
                except ValueError:
                    name = f"<Unknown signal {-code}>"
                raise ProcessExitedException(f"process {index} terminated with signal {name}",
                                             index, process.pid, code, name) from None
            raise ProcessExitedException(f"process {index} terminated with exit code {code}",
                                         index, process.pid, code) from None
        msg = f"\n\n-- Process {index} terminated with the following error:\n{original}"
        raise ProcessRaisedException(msg, index, process.pid)


def start_processes(fn, args=(), nprocs=1, join=True, daemon=False, start_method="spawn"):
    """Starts nprocs processes with the given start method, each running fn(i, *args).

    Returns None after all have exited successfully if `join`, else the ProcessContext.
    """
    ctx = multiprocessing.get_context(start_method)
    folder = tempfile.mkdtemp(prefix="lamina-spawn-")
    error_files = [os.path.join(folder, f"error-{i}.txt") for i in range(nprocs)]
    processes = []
    try:
        for i in range(nprocs):
            p = ctx.Process(target=_wrap, args=(fn, i, args, error_files[i]), daemon=daemon)
            p.start()
            processes.append(p)
    except BaseException:
        for p in processes:
            p.terminate()
            p.join()
        shutil.rmtree(folder, ignore_errors=True)
        raise
    context = ProcessContext(processes, error_files)
    if not join:
        return context
    while not context.join():
        pass
    return None


def spawn(fn, args=(), nprocs=1, join=True, daemon=False, start_method="spawn"):
    """Spawns nprocs processes running fn(i, *args) (PyTorch's torch.multiprocessing.spawn).

    fn must be picklable (defined at module level). If a process fails, the others are stopped
    and ProcessRaisedException (with the child's traceback) or ProcessExitedException is
    raised. Returns None if `join`, else a ProcessContext to join later.
    """
    if start_method != "spawn":
        warnings.warn(f"This method only supports start_method=spawn (got: {start_method}).\n"
                      "To use a different start_method use:\n\t\t"
                      " lamina.multiprocessing.start_processes(...)", FutureWarning, stacklevel=2)
    return start_processes(fn, args, nprocs, join, daemon, start_method="spawn")
