"""lamina.profiler: which ops a program runs, how long each takes, on which thread, with which
input shapes and how much memory it allocates (PyTorch's torch.profiler API).

    with lamina.profiler.profile(record_shapes=True, profile_memory=True) as prof:
        with lamina.profiler.record_function("train_step"):
            loss = model(x).sum(); loss.backward()
    print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=10))
    prof.export_chrome_trace("trace.json")   # chrome://tracing or https://ui.perfetto.dev

The recording is done in C++ (every op, every backward node, every parallel region's worker
threads); when no profiler runs, each op pays one predictable branch.
"""

from ._events import EventList, FunctionEvent, FunctionEventAvg
from ._record_function import record_function
from ._schedule import ProfilerAction, schedule, tensorboard_trace_handler
from .profiler import ProfilerActivity, profile, supported_activities

__all__ = [
    "EventList", "FunctionEvent", "FunctionEventAvg", "ProfilerAction", "ProfilerActivity", "profile",
    "record_function", "schedule", "supported_activities", "tensorboard_trace_handler",
]
