"""The events of a profiling session (PyTorch's FunctionEvent, FunctionEventAvg and EventList).

The C++ recorder returns flat tuples with a parent index per event; this module turns them into
events that know their children, so self time and self memory are exact (a parent's time minus
its children's on the same thread), and aggregates them for key_averages().
"""

from collections import OrderedDict

# Event kinds as numbered by the C++ recorder (core/profiler.h).
OP, BACKWARD, USER_SCOPE, WORKER = 0, 1, 2, 3
_KIND_NAMES = {OP: "cpu_op", BACKWARD: "cpu_op", USER_SCOPE: "user_annotation", WORKER: "parallel_worker"}
# lamina's ops are named with their own prefix: they are not ATen's ops (their set and the way
# composite ops break down differ), so the table should not claim ATen's namespace.
OP_PREFIX = "lamina::"

# table(sort_by=...) keys; the device ones are accepted (CUDA activity is ignored on CPU) and are 0.
SORT_KEYS = (
    "cpu_time", "cpu_time_total", "self_cpu_time_total", "cpu_memory_usage", "self_cpu_memory_usage",
    "count", "flops",
    "cuda_time", "cuda_time_total", "self_cuda_time_total", "cuda_memory_usage", "self_cuda_memory_usage",
    "device_time", "device_time_total", "self_device_time_total", "device_memory_usage",
    "self_device_memory_usage", "xpu_time", "xpu_time_total", "self_xpu_time_total",
)


class Interval:
    """A [start, end] time range in microseconds (PyTorch's profiler_util.Interval)."""

    def __init__(self, start, end):
        self.start = start
        self.end = end

    def elapsed_us(self):
        return self.end - self.start


class _DeviceZeros:
    """The device-side statistics of a CPU-only profile: all zero, present so that scripts written
    for CUDA (sort_by="cuda_time_total", evt.cuda_time) run unchanged."""

    device_time = device_time_total = self_device_time_total = 0.0
    cuda_time = cuda_time_total = self_cuda_time_total = 0.0
    xpu_time = xpu_time_total = self_xpu_time_total = 0.0
    device_memory_usage = self_device_memory_usage = 0
    cuda_memory_usage = self_cuda_memory_usage = 0
    flops = 0


class FunctionEvent(_DeviceZeros):
    """One recorded range: an op, a backward node, a record_function scope, or a worker thread's
    share of a parallel region. Times are in microseconds from the session's start."""

    def __init__(self, id, name, kind, thread, start_us, end_us, input_shapes, cpu_memory_usage):
        self.id = id
        self.name = name
        self.kind = kind
        self.thread = thread
        self.time_range = Interval(start_us, end_us)
        self.input_shapes = input_shapes
        self.cpu_memory_usage = cpu_memory_usage
        self.cpu_parent = None
        self.cpu_children = []
        self.count = 1
        self.node_id = -1
        self.is_async = False
        self.is_remote = False
        self.stack = []
        self.device_type = "cpu"

    @property
    def key(self):
        return self.name

    @property
    def trace_name(self):
        return self.name

    @property
    def is_user_annotation(self):
        return self.kind == USER_SCOPE

    @property
    def cpu_time_total(self):
        return self.time_range.elapsed_us()

    @property
    def cpu_time(self):
        return self.cpu_time_total

    @property
    def self_cpu_time_total(self):
        return self.cpu_time_total - sum(c.cpu_time_total for c in self.cpu_children)

    @property
    def self_cpu_memory_usage(self):
        return self.cpu_memory_usage - sum(c.cpu_memory_usage for c in self.cpu_children)

    def __repr__(self):
        return (f"<FunctionEvent id={self.id} name={self.name} thread={self.thread} "
                f"cpu_time_total={self.cpu_time_total:.3f}us self_cpu_time_total={self.self_cpu_time_total:.3f}us "
                f"input_shapes={self.input_shapes} cpu_memory_usage={self.cpu_memory_usage}>")


class FunctionEventAvg(_DeviceZeros):
    """Events of one key (name, plus input shapes when grouped by them) summed together."""

    def __init__(self):
        self.key = None
        self.count = 0
        self.cpu_time_total = 0.0
        self.self_cpu_time_total = 0.0
        self.cpu_memory_usage = 0
        self.self_cpu_memory_usage = 0
        self.input_shapes = None
        self.stack = []
        self.node_id = -1
        self.is_async = False
        self.is_remote = False
        self.is_user_annotation = False
        self.cpu_parent = None
        self.cpu_children = []

    def add(self, other):
        if self.key is None:
            self.key = other.key
            self.input_shapes = other.input_shapes
            self.is_user_annotation = other.is_user_annotation
            self.cpu_parent = other.cpu_parent
            self.cpu_children = other.cpu_children
        if other.key != self.key:
            raise ValueError(f"lamina.profiler: FunctionEventAvg.add: cannot add an event with key {other.key!r} "
                             f"to the average of {self.key!r}")
        self.count += other.count
        self.cpu_time_total += other.cpu_time_total
        self.self_cpu_time_total += other.self_cpu_time_total
        self.cpu_memory_usage += other.cpu_memory_usage
        self.self_cpu_memory_usage += other.self_cpu_memory_usage
        return self

    def __iadd__(self, other):
        return self.add(other)

    @property
    def cpu_time(self):
        return self.cpu_time_total / self.count if self.count else 0.0

    def __repr__(self):
        return (f"<FunctionEventAvg key={self.key} self_cpu_time={self.self_cpu_time_total:.3f}us "
                f"cpu_time={self.cpu_time:.3f}us input_shapes={self.input_shapes} count={self.count}>")


class EventList(list):
    """A list of events with PyTorch's EventList methods: key_averages(), table(),
    total_average(), export_chrome_trace() and self_cpu_time_total."""

    def __init__(self, *args, profile_memory=False, with_shapes=False, trace_start_ns=0, **kwargs):
        super().__init__(*args, **kwargs)
        self._profile_memory = profile_memory
        self._with_shapes = with_shapes
        self._trace_start_ns = trace_start_ns

    def _like(self, events, with_shapes=None):
        return EventList(events, profile_memory=self._profile_memory,
                         with_shapes=self._with_shapes if with_shapes is None else with_shapes,
                         trace_start_ns=self._trace_start_ns)

    @property
    def self_cpu_time_total(self):
        """The sum of self times of the events (worker-thread shares excluded), in microseconds."""
        return sum(e.self_cpu_time_total for e in self if getattr(e, "kind", OP) != WORKER)

    def key_averages(self, group_by_input_shape=False, group_by_stack_n=0, group_by_overload_name=False):
        """Events aggregated by name (and by input shapes when group_by_input_shape). Workers'
        shares of parallel regions are not ops and are left out (they are in the trace)."""
        stats = OrderedDict()
        for e in self:
            if getattr(e, "kind", OP) == WORKER:
                continue
            key = (e.key, str(e.input_shapes)) if group_by_input_shape else (e.key,)
            stats.setdefault(key, FunctionEventAvg()).add(e)
        averages = self._like(stats.values(), with_shapes=group_by_input_shape)
        if not group_by_input_shape:
            for avg in averages:
                avg.input_shapes = ""
        return averages

    def total_average(self):
        """All events summed into one FunctionEventAvg with key "Total"."""
        total = FunctionEventAvg()
        for e in self:
            if getattr(e, "kind", OP) == WORKER:
                continue
            total.count += e.count
            total.cpu_time_total += e.cpu_time_total
            total.self_cpu_time_total += e.self_cpu_time_total
            total.cpu_memory_usage += e.cpu_memory_usage
            total.self_cpu_memory_usage += e.self_cpu_memory_usage
        total.key = "Total"
        return total

    def table(self, sort_by=None, row_limit=100, max_src_column_width=75, max_name_column_width=55,
              max_shapes_column_width=80, header=None, top_level_events_only=False, time_unit=None):
        """PyTorch's profiler table, as a string (see _table.build_table)."""
        from ._table import build_table

        return build_table(self, sort_by=sort_by, row_limit=row_limit, max_name_column_width=max_name_column_width,
                           max_shapes_column_width=max_shapes_column_width, header=header,
                           profile_memory=self._profile_memory, with_shapes=self._with_shapes,
                           top_level_events_only=top_level_events_only, time_unit=time_unit)

    def export_chrome_trace(self, path):
        """Writes the events as Chrome trace-event JSON (chrome://tracing, Perfetto)."""
        from ._chrome_trace import export_chrome_trace

        export_chrome_trace(self, path, self._trace_start_ns)

    def __str__(self):
        return self.table()


def _display_name(name, kind, op_names):
    if kind == OP:
        return OP_PREFIX + name
    if kind == WORKER:  # named after the event that started the region: an op or a backward node
        if not name:
            return "parallel region"
        return OP_PREFIX + name if name in op_names else name
    return name


def events_from_raw(raw, profile_memory, record_shapes, trace_start_ns):
    """Builds an EventList from _C._profiler_stop()'s tuples (parents before their children)."""
    events = []
    op_names = {r[0] for r in raw if r[1] == OP}
    for i, (name, kind, thread, start_ns, end_ns, parent, mem_bytes, shapes) in enumerate(raw):
        e = FunctionEvent(i, _display_name(name, kind, op_names), kind, thread, start_ns / 1000.0, end_ns / 1000.0,
                          [list(s) for s in shapes] if record_shapes else [],
                          mem_bytes if profile_memory else 0)
        if parent >= 0:
            e.cpu_parent = events[parent]
            events[parent].cpu_children.append(e)
        events.append(e)
    return EventList(events, profile_memory=profile_memory, with_shapes=False, trace_start_ns=trace_start_ns)
