"""lamina.profiler.profile: PyTorch's profiler API over lamina's C++ op recorder.

Ops, backward nodes and record_function ranges are recorded by the C++ core (core/profiler.h)
while a session is active; this module starts and stops sessions (following a schedule when one
is given), keeps the last session's events and offers PyTorch's views of them: key_averages()
with its table, events() and export_chrome_trace(). lamina runs on the CPU: CUDA (and other
device) activities are accepted and ignored, and device columns read 0.
"""

import enum
import time
import warnings

from .. import _C
from ._chrome_trace import export_chrome_trace
from ._events import events_from_raw
from ._record_function import record_function
from ._schedule import ProfilerAction


class ProfilerActivity(enum.Enum):
    """The activities PyTorch's profiler can trace; lamina records CPU activity only."""

    CPU = 0
    XPU = 1
    MTIA = 2
    CUDA = 3
    HPU = 4
    PrivateUse1 = 5


def supported_activities():
    """The activities this build can record: the CPU."""
    return {ProfilerActivity.CPU}


class _Session:
    """One C++ recording session: start() and stop() -> EventList."""

    def __init__(self, record_shapes, profile_memory):
        self.record_shapes = bool(record_shapes)
        self.profile_memory = bool(profile_memory)
        self.start_ns = 0

    def start(self):
        self.start_ns = time.time_ns()
        try:
            _C._profiler_start(self.record_shapes, self.profile_memory)
        except RuntimeError as e:
            raise RuntimeError(f"{e}; stop the running lamina.profiler.profile before starting another") from None

    def stop(self):
        return events_from_raw(_C._profiler_stop(), self.profile_memory, self.record_shapes, self.start_ns)


def _check_activities(activities, where):
    if activities is None:
        return {ProfilerActivity.CPU}
    activities = set(activities)
    for a in activities:
        if not isinstance(a, ProfilerActivity):
            raise TypeError(f"{where}: expected activities to be ProfilerActivity values, got {a!r}")
    return activities


class profile:  # noqa: N801  (PyTorch's name)
    """Records the ops run inside it (a context manager, or start()/stop()).

    With ``schedule`` (see lamina.profiler.schedule), call ``step()`` once per training step: the
    profiler records only the schedule's active steps and calls ``on_trace_ready(prof)`` at the
    end of each recorded cycle (e.g. tensorboard_trace_handler). Without one it records from
    start to stop, then calls on_trace_ready if given.

    record_shapes adds the input shapes of each op (key_averages(group_by_input_shape=True));
    profile_memory the bytes each op allocated net of what it freed (CPU Mem columns).
    with_stack, with_flops and with_modules are accepted and record nothing more (lamina does not
    collect Python stacks, FLOP counts or module hierarchies); CUDA activity is ignored on CPU.
    """

    def __init__(self, *, activities=None, schedule=None, on_trace_ready=None, record_shapes=False,
                 profile_memory=False, with_stack=False, with_flops=False, with_modules=False,
                 experimental_config=None, execution_trace_observer=None, acc_events=False, use_cuda=None,
                 custom_trace_id_callback=None):
        self.activities = _check_activities(activities, "lamina.profiler.profile")
        if use_cuda is not None:
            warnings.warn("The use_cuda parameter is deprecated; pass activities=[ProfilerActivity.CUDA] instead "
                          "(lamina records CPU activity only)", FutureWarning, stacklevel=2)
        if schedule is not None and not callable(schedule):
            raise TypeError(f"lamina.profiler.profile: schedule must be callable (step -> ProfilerAction), "
                            f"got {schedule!r}")
        if on_trace_ready is not None and not callable(on_trace_ready):
            raise TypeError(f"lamina.profiler.profile: on_trace_ready must be callable, got {on_trace_ready!r}")
        self.schedule = schedule if schedule is not None else (lambda step: ProfilerAction.RECORD)
        self.record_steps = schedule is not None
        self.on_trace_ready = on_trace_ready
        self.record_shapes = record_shapes
        self.profile_memory = profile_memory
        self.with_stack = with_stack
        self.with_flops = with_flops
        self.with_modules = with_modules
        self.acc_events = acc_events
        self.step_num = 0
        self.current_action = ProfilerAction.NONE
        self._session = None
        self._events = None
        self._step_range = None
        self._metadata = {}

    # ---- lifecycle ----
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        self.stop()
        return False

    def start(self):
        self.current_action = self.schedule(self.step_num)
        self._transit(ProfilerAction.NONE, self.current_action)
        if self.record_steps:
            self._open_step_range()

    def stop(self):
        self._close_step_range()
        if self.current_action in (ProfilerAction.RECORD, ProfilerAction.RECORD_AND_SAVE):
            self._stop_trace()
            self._trace_ready()
        self.current_action = ProfilerAction.NONE

    def step(self):
        """Marks the end of a training step: moves along the schedule (recording, or handing a
        finished cycle's trace to on_trace_ready)."""
        self._close_step_range()
        previous = self.current_action
        self.step_num += 1
        self.current_action = self.schedule(self.step_num)
        self._transit(previous, self.current_action)
        self._open_step_range()

    def _transit(self, previous, current):
        recording = (ProfilerAction.RECORD, ProfilerAction.RECORD_AND_SAVE)
        if previous == ProfilerAction.RECORD_AND_SAVE or (previous in recording and current not in recording):
            if previous == ProfilerAction.RECORD:
                warnings.warn("lamina.profiler: incorrect schedule: RECORD followed by "
                              f"{current.name}; the trace is saved here", stacklevel=3)
            self._stop_trace()
            self._trace_ready()
        if current in recording and self._session is None:
            self._start_trace()

    def _start_trace(self):
        self._session = _Session(self.record_shapes, self.profile_memory)
        self._session.start()

    def _stop_trace(self):
        if self._session is not None:
            self._events = self._session.stop()
            self._session = None

    def _trace_ready(self):
        if self.on_trace_ready is not None:
            self.on_trace_ready(self)

    def _open_step_range(self):
        if self._session is not None:
            self._step_range = record_function(f"ProfilerStep#{self.step_num}")
            self._step_range.__enter__()

    def _close_step_range(self):
        if self._step_range is not None:
            self._step_range.__exit__(None, None, None)
            self._step_range = None

    # ---- results (of the last recorded trace) ----
    def events(self):
        """The recorded events (FunctionEvent) of the last trace, in EventList."""
        if self._events is None:
            raise RuntimeError("lamina.profiler.profile: no trace has been collected yet (the profiler is "
                               "still recording, or its schedule has not reached an active step)")
        return self._events

    def key_averages(self, group_by_input_shape=False, group_by_stack_n=0, group_by_overload_name=False):
        """Events averaged by name (and by input shapes when group_by_input_shape=True, which needs
        record_shapes=True); print it with .table(sort_by=..., row_limit=...)."""
        return self.events().key_averages(group_by_input_shape, group_by_stack_n, group_by_overload_name)

    def export_chrome_trace(self, path):
        """Writes the last trace as Chrome trace-event JSON (gzipped if path ends in .gz)."""
        events = self.events()
        export_chrome_trace(events, path, events._trace_start_ns, self._metadata)

    def export_stacks(self, path, metric="self_cpu_time_total"):
        raise NotImplementedError("lamina.profiler.profile.export_stacks: lamina does not record Python or C++ "
                                  "call stacks (with_stack is accepted and ignored)")

    def add_metadata(self, key, value):
        """Adds a string entry to the top level of the exported trace."""
        self._metadata[str(key)] = str(value)

    def add_metadata_json(self, key, value):
        """Adds an entry whose value is a JSON string to the top level of the exported trace."""
        import json

        self._metadata[str(key)] = json.loads(value)
