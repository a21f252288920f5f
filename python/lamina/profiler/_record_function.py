"""record_function: a named range in the profile, as a context manager or a decorator."""

import contextlib
import threading

from .. import _C


class record_function(contextlib.ContextDecorator):  # noqa: N801  (PyTorch's name)
    """Marks a block (``with record_function("name"):``) or every call of a function
    (``@record_function("name")``) as a range of its own in the profile; ops run inside it are its
    children. Costs one C call when no profiler is running."""

    def __init__(self, name, args=None):
        if not isinstance(name, str):
            raise TypeError(f"lamina.profiler.record_function: expected a str name, got {type(name).__name__}")
        self.name = name
        self.args = args
        self._handle = -1
        self._thread = None

    def __enter__(self):
        self._handle = _C._record_function_enter(self.name)
        self._thread = threading.get_ident()
        return self

    def __exit__(self, *exc):
        # A range is closed by the thread that opened it (each thread records into its own
        # buffer); one left on another thread ends when the session stops.
        if self._handle >= 0 and threading.get_ident() == self._thread:
            _C._record_function_exit(self._handle)
        self._handle = -1
        return False

    def _recreate_cm(self):
        # As a decorator, each call (recursive or on another thread) gets its own range.
        return record_function(self.name, self.args)
