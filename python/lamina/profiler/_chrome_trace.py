"""Chrome trace-event JSON (the format chrome://tracing, Perfetto and TensorBoard's profiler
plugin read): one complete ("X") event per recorded range on its thread's track, in
microseconds since the epoch, plus thread-name metadata. A path ending in .gz is gzipped."""

import gzip
import json
import os
import threading

from ._events import _KIND_NAMES, WORKER


def trace_dict(events, trace_start_ns, metadata=None):
    pid = os.getpid()
    main = threading.main_thread().native_id
    base_us = trace_start_ns / 1000.0
    trace = []
    threads = {}
    for e in events:
        threads.setdefault(e.thread, e.kind == WORKER)
        args = {"External id": e.id}
        if e.input_shapes:
            args["Input Dims"] = e.input_shapes
        if e.cpu_memory_usage:
            args["Memory (bytes)"] = e.cpu_memory_usage
        trace.append({"ph": "X", "cat": _KIND_NAMES[e.kind], "name": e.name, "pid": pid, "tid": e.thread,
                      "ts": round(base_us + e.time_range.start, 3), "dur": round(e.cpu_time_total, 3), "args": args})
    meta = [{"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": f"lamina (pid {pid})"}}]
    for rank, (tid, worker_only) in enumerate(sorted(threads.items(), key=lambda kv: (kv[0] != main, kv[0]))):
        label = "main thread" if tid == main else "parallel-region worker" if worker_only else "thread"
        meta.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": f"{label} {tid}"}})
        meta.append({"ph": "M", "name": "thread_sort_index", "pid": pid, "tid": tid, "args": {"sort_index": rank}})
    out = {"schemaVersion": 1, "deviceProperties": [], "displayTimeUnit": "ms",
           "baseTimeNanoseconds": int(trace_start_ns)}
    out.update(metadata or {})
    out["traceEvents"] = meta + trace
    return out


def export_chrome_trace(events, path, trace_start_ns, metadata=None):
    path = os.fspath(path)
    data = json.dumps(trace_dict(events, trace_start_ns, metadata))
    if path.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(data)
    else:
        with open(path, "w", encoding="utf-8") as f:
            f.write(data)
