"""When a scheduled profiler records (schedule, ProfilerAction) and a ready-made on_trace_ready
callback that writes trace files for TensorBoard (tensorboard_trace_handler)."""

import enum
import os
import socket
import time
import warnings


class ProfilerAction(enum.Enum):
    """What the profiler does during a step: nothing, warm up, record, or record and then hand the
    trace to on_trace_ready."""

    NONE = 0
    WARMUP = 1
    RECORD = 2
    RECORD_AND_SAVE = 3


def schedule(*, wait, warmup, active, repeat=0, skip_first=0, skip_first_wait=0):
    """PyTorch's profiler schedule: after `skip_first` steps, cycles of `wait` idle steps, `warmup`
    steps and `active` recorded steps, whose trace goes to on_trace_ready at the cycle's end;
    `repeat` cycles (0: until the profiler stops). skip_first_wait=1 skips the first cycle's wait."""
    for name, value, least in (("wait", wait, 0), ("warmup", warmup, 0), ("active", active, 1),
                               ("repeat", repeat, 0), ("skip_first", skip_first, 0),
                               ("skip_first_wait", skip_first_wait, 0)):
        if not isinstance(value, int) or value < least:
            raise ValueError(f"lamina.profiler.schedule: expected {name} to be an int >= {least}, got {value!r}")
    if warmup == 0:
        warnings.warn("Profiler won't be using warmup, this can skew profiler results", stacklevel=2)

    def schedule_fn(step):
        if step < 0:
            raise ValueError(f"lamina.profiler.schedule: step must be >= 0, got {step}")
        if step < skip_first:
            return ProfilerAction.NONE
        step -= skip_first
        if skip_first_wait != 0:
            step += wait
        cycle = wait + warmup + active
        if repeat > 0 and step // cycle >= repeat:
            return ProfilerAction.NONE
        position = step % cycle
        if position < wait:
            return ProfilerAction.NONE
        if position < wait + warmup:
            return ProfilerAction.WARMUP
        return ProfilerAction.RECORD if position < cycle - 1 else ProfilerAction.RECORD_AND_SAVE

    return schedule_fn


def tensorboard_trace_handler(dir_name, worker_name=None, use_gzip=False):
    """An on_trace_ready callback that writes each trace to
    `dir_name/<worker_name>.<time in ms>.pt.trace.json[.gz]`, where TensorBoard's profiler plugin
    looks for it (worker_name defaults to "<hostname>_<pid>")."""

    def handler(prof):
        os.makedirs(dir_name, exist_ok=True)
        worker = worker_name or f"{socket.gethostname()}_{os.getpid()}"
        name = f"{worker}.{time.time_ns() // 1_000_000}.pt.trace.json"
        if use_gzip:
            name += ".gz"
        prof.export_chrome_trace(os.path.join(dir_name, name))

    return handler
