"""Parent side of the workers: start one persistent process per library, send it programs, and turn
a dead process (signal, ASan abort), a timeout, or a sanitizer report on stderr into a result
instead of an exception. The parent itself imports neither lamina nor torch.
"""

import os
import select
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .worker import pickle, send

# CI runs the parent under ASan via LD_PRELOAD; the lamina worker inherits that, torch must not
# (torch is not built for it and would only report its own noise).
SANITIZER_VARS = ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "SUMMARY: UndefinedBehavior")
STARTUP_SECONDS = 300  # importing torch, or lamina under ASan, is slow on a busy machine

# The worker runs as `python -c BOOT lib`: importable whether this package is tests.fuzz
# (python -m tests.fuzz) or fuzz (pytest with pythonpath = ["tests"]), without touching PYTHONPATH.
PACKAGE = __package__
ROOT = str(Path(__file__).resolve().parents[len(PACKAGE.split("."))])
BOOT = f"import sys; sys.path.insert(0, {ROOT!r}); from {PACKAGE}.worker import main; main()"


@dataclass
class Result:
    status: str  # ok | crash | hang | sanitizer | unavailable
    trace: dict = None
    stderr: str = ""  # the tail of what the worker wrote to stderr during this program
    returncode: int = None
    op: str = None  # the op the worker was running, from its last '@fuzz step' marker


class Worker:
    def __init__(self, library, timeout):
        self.library, self.timeout = library, timeout
        self.proc, self.reason = None, None
        self.stderr_fd = None

    def environment(self):
        env = dict(os.environ)
        if self.library == "torch":
            for name in SANITIZER_VARS:
                env.pop(name, None)
        return env

    def start(self):
        """Returns False (with self.reason) if the library cannot be imported in the worker."""
        path = tempfile.mkstemp(prefix=f"fuzz-{self.library}-", suffix=".stderr")[1]
        # O_APPEND: the parent may truncate the file while the worker keeps writing to it.
        self.stderr_fd = os.open(path, os.O_RDWR | os.O_APPEND)
        os.unlink(path)
        self.proc = subprocess.Popen([sys.executable, "-c", BOOT, self.library], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.stderr_fd, env=self.environment())
        self.mark = 0
        hello = self._read(time.monotonic() + STARTUP_SECONDS)
        if not isinstance(hello, dict) or not hello.get("ready"):
            self.reason = hello.get("error") if isinstance(hello, dict) else self._stderr_tail()
            self.stop()
            return False
        return True

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc.stdin.close()
            self.proc.stdout.close()
            self.proc = None
        if self.stderr_fd is not None:
            os.close(self.stderr_fd)
            self.stderr_fd = None

    def submit(self, request):
        if self.proc is None and not self.start():
            raise RuntimeError(f"the {self.library} worker does not start: {self.reason}")
        os.ftruncate(self.stderr_fd, 0)
        self.started = time.monotonic()
        try:
            send(self.proc.stdin, request)
        except BrokenPipeError:
            pass  # collect() reports the dead worker

    def collect(self):
        trace = self._read(self.started + self.timeout)
        if trace == "timeout":
            self.proc.kill()
            return self._dead("hang")
        if trace is None:
            return self._dead("crash")
        tail = self._stderr_tail()
        if any(marker in tail for marker in SANITIZER_MARKERS):
            return Result("sanitizer", trace, tail, None, self._last_op(tail))
        return Result("ok", trace)

    def _dead(self, status):
        self.proc.wait()
        tail = self._stderr_tail()
        result = Result(status, None, tail[-4000:], self.proc.returncode, self._last_op(tail))
        self.stop()  # restarted by the next submit()
        return result

    def _read(self, deadline):
        """One message, None on EOF (the worker died), or 'timeout'."""
        head = self._read_exact(8, deadline)
        if not isinstance(head, bytes):
            return head
        body = self._read_exact(struct.unpack("<Q", head)[0], deadline)
        return pickle.loads(body) if isinstance(body, bytes) else body

    def _read_exact(self, n, deadline):
        fd, chunks = self.proc.stdout.fileno(), []
        while n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return "timeout"
            chunk = os.read(fd, min(n, 1 << 20))
            if not chunk:
                return None
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def _stderr_tail(self, limit=200_000):
        size = os.fstat(self.stderr_fd).st_size
        return os.pread(self.stderr_fd, limit, max(0, size - limit)).decode(errors="replace")

    @staticmethod
    def _last_op(text):
        marks = [line for line in text.splitlines() if line.startswith("@fuzz step ")]
        return marks[-1].split()[-1] if marks else None


def torch_installed():
    """Checked without importing torch into the parent."""
    import importlib.util
    return importlib.util.find_spec("torch") is not None


class Workers:
    """The lamina worker and, when torch is installed, the torch worker; both run each program."""

    def __init__(self, timeout=10.0, use_torch=True):
        self.lamina = Worker("lamina", timeout)
        self.torch = Worker("torch", timeout) if use_torch and torch_installed() else None
        if self.torch is not None and not self.torch.start():
            print(f"fuzz: torch worker unavailable ({self.torch.reason}); lamina only", file=sys.stderr)
            self.torch = None
        if not self.lamina.start():
            raise RuntimeError(f"the lamina worker does not start: {self.lamina.reason}")

    def run(self, program, arrays):
        """Returns (lamina Result, torch Result or None); the two run in parallel."""
        request = {"program": program, "arrays": arrays}
        workers = [w for w in (self.lamina, self.torch) if w is not None]
        for w in workers:
            w.submit(request)
        results = [w.collect() for w in workers]
        return results[0], (results[1] if self.torch is not None else None)

    def close(self):
        for w in (self.lamina, self.torch):
            if w is not None:
                w.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
