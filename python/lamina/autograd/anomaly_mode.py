"""Anomaly mode: while on, the first op (forward or backward) producing NaN/Inf raises RuntimeError.

The checks are in C++ (cpp/lamina/autograd/anomaly.h): forward where an op records its grad_fn
(autograd::set_history), backward right after each node's apply in the engine. Reports name the
op, the module running forward (a module-path stack that Module.__call__ keeps only while the
mode is on) and the input shapes. Like PyTorch's, the mode is process-wide.
"""

import functools

from .. import _C

__all__ = ["detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled", "is_anomaly_check_nan_enabled"]

# Mirror of the C++ flag read by Module.__call__ on every call (cheaper than a call into _C).
_ENABLED = [False]


def _set(mode, check_nan):
    _C._set_anomaly_enabled(bool(mode), bool(check_nan))
    _ENABLED[0] = bool(mode)


def is_anomaly_enabled():
    return _C._is_anomaly_enabled()


def is_anomaly_check_nan_enabled():
    return _C._is_anomaly_check_nan_enabled()


class detect_anomaly:
    """Context manager (or decorator) that turns anomaly detection on for its duration.

        with lamina.autograd.detect_anomaly():
            loss = model(x).sum()     # RuntimeError at the first op producing NaN/Inf
            loss.backward()           # ... or at the first backward function returning one

    check_nan=False keeps the mode on (module paths are recorded) without the NaN/Inf scans.
    """

    def __init__(self, check_nan=True):
        self.check_nan = check_nan
        self.prev = is_anomaly_enabled()
        self.prev_check_nan = is_anomaly_check_nan_enabled()

    def __enter__(self):
        _set(True, self.check_nan)
        return self

    def __exit__(self, *exc):
        _set(self.prev, self.prev_check_nan)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with detect_anomaly(self.check_nan):
                return fn(*args, **kwargs)

        return wrapper


class set_detect_anomaly:
    """set_detect_anomaly(mode, check_nan=True): takes effect at once; as a context manager it
    restores the previous setting on exit."""

    def __init__(self, mode, check_nan=True):
        self.prev = is_anomaly_enabled()
        self.prev_check_nan = is_anomaly_check_nan_enabled()
        _set(mode, check_nan)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _set(self.prev, self.prev_check_nan)
        return False
