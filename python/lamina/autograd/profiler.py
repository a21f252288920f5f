"""lamina.autograd.profiler: PyTorch's older profiler names (torch.autograd.profiler.profile and
record_function), over the same C++ recorder as lamina.profiler."""

import warnings

from ..profiler._events import EventList, FunctionEvent, FunctionEventAvg  # noqa: F401
from ..profiler._record_function import record_function  # noqa: F401
from ..profiler.profiler import _Session


class profile:  # noqa: N801  (PyTorch's name)
    """Records the ops run inside it; afterwards ``function_events``, ``key_averages()``,
    ``table()``, ``total_average()`` and ``export_chrome_trace(path)`` show them. With
    enabled=False it records nothing. use_cuda / use_device are accepted and ignored (lamina
    records CPU activity only); with_stack, with_flops and with_modules record nothing more."""

    def __init__(self, enabled=True, *, use_cuda=False, use_device=None, record_shapes=False, with_flops=False,
                 profile_memory=False, with_stack=False, with_modules=False, use_kineto=False, use_cpu=True,
                 experimental_config=None, acc_events=False, custom_trace_id_callback=None):
        self.enabled = enabled
        self.function_events = None
        if not enabled:
            return
        if use_cuda:
            warnings.warn("The attribute `use_cuda` will be deprecated soon, please use "
                          "``use_device = 'cuda'`` instead (lamina records CPU activity only).",
                          FutureWarning, stacklevel=2)
        self.use_cuda = use_cuda
        self.use_device = use_device
        self.record_shapes = record_shapes
        self.profile_memory = profile_memory
        self.with_stack = with_stack
        self.with_flops = with_flops
        self.with_modules = with_modules
        self._session = None
        self.entered = False

    def __enter__(self):
        if not self.enabled:
            return self
        if self.entered:
            raise RuntimeError("lamina.autograd.profiler.profile: this profiler context manager is not reentrant")
        self.entered = True
        self._session = _Session(self.record_shapes, self.profile_memory)
        self._session.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        if not self.enabled or self._session is None:
            return False
        self.function_events = self._session.stop()
        self._session = None
        return False

    def _check_finish(self):
        if self.function_events is None:
            raise RuntimeError("lamina.autograd.profiler.profile: the profiler didn't finish running "
                               "(leave its `with` block first; a profiler made with enabled=False records nothing)")

    def key_averages(self, group_by_input_shape=False, group_by_stack_n=0, group_by_overload_name=False):
        self._check_finish()
        return self.function_events.key_averages(group_by_input_shape, group_by_stack_n, group_by_overload_name)

    def table(self, sort_by=None, row_limit=100, max_src_column_width=75, max_name_column_width=55,
              max_shapes_column_width=80, header=None, top_level_events_only=False):
        self._check_finish()
        return self.function_events.table(sort_by=sort_by, row_limit=row_limit,
                                          max_name_column_width=max_name_column_width,
                                          max_shapes_column_width=max_shapes_column_width, header=header,
                                          top_level_events_only=top_level_events_only)

    def total_average(self):
        self._check_finish()
        return self.function_events.total_average()

    def export_chrome_trace(self, path):
        self._check_finish()
        self.function_events.export_chrome_trace(path)

    @property
    def self_cpu_time_total(self):
        """The sum of the self times of all events, in microseconds."""
        self._check_finish()
        return self.function_events.self_cpu_time_total

    def __str__(self):
        self._check_finish()
        return str(self.function_events)

    def __repr__(self):
        return "<unfinished lamina.autograd.profiler.profile>" if self.function_events is None else str(self)
