"""lamina.profiler / lamina.autograd.profiler: what a profiled training step records (ops, backward
nodes, nesting, threads, shapes, memory), the table, the Chrome trace, schedules, and a
PyTorch-tutorial profiling script run with lamina in place of torch."""

import gzip
import json
import threading
import time
import warnings

import pytest

import lamina
import lamina.nn.functional as F
from lamina import nn
from lamina.profiler import ProfilerAction, ProfilerActivity, profile, record_function, schedule


def small_cnn():
    lamina.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 13 * 13, 10))


def train_step(model, opt, x, y):
    opt.zero_grad()
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    opt.step()


@pytest.fixture
def cnn_step():
    model = small_cnn()
    opt = lamina.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x, y = lamina.randn(16, 1, 28, 28), lamina.randint(0, 10, (16,))
    train_step(model, opt, x, y)  # warm-up: first-call costs out of the profile
    return lambda: train_step(model, opt, x, y)


def main_thread_events(prof):
    main = threading.get_native_id()
    return [e for e in prof.events() if e.thread == main]


def test_training_step_records_forward_ops_backward_nodes_and_optimizer(cnn_step):
    with profile(record_shapes=True) as prof:
        cnn_step()
    names = {e.name for e in prof.events()}
    for expected in ("lamina::conv2d", "lamina::relu", "lamina::max_pool2d_with_indices", "lamina::linear",
                     "lamina::cross_entropy", "ConvolutionBackward0", "AddmmBackward0", "ReluBackward0",
                     "MaxPool2DWithIndicesBackward0", "AccumulateGrad", "lamina::fused_sgd"):
        assert expected in names, expected
    conv = next(e for e in prof.events() if e.name == "lamina::conv2d")
    assert conv.input_shapes == [[16, 1, 28, 28], [8, 1, 3, 3], [8]]
    # The backward formula's ops are children of their node.
    addmm_bw = next(e for e in prof.events() if e.name == "AddmmBackward0")
    assert {c.name for c in addmm_bw.cpu_children} & {"lamina::mm", "lamina::matmul"}
    for e in prof.events():
        assert e.time_range.end >= e.time_range.start >= 0
        if e.cpu_parent is not None:
            p = e.cpu_parent
            assert p.thread == e.thread
            assert p.time_range.start <= e.time_range.start and e.time_range.end <= p.time_range.end
            assert e in p.cpu_children


def test_self_times_sum_to_the_profiled_wall_time(cnn_step):
    with profile() as prof:
        t0 = time.perf_counter()
        with record_function("train_step"):
            cnn_step()
        wall_us = (time.perf_counter() - t0) * 1e6
    events = main_thread_events(prof)
    step = next(e for e in events if e.name == "train_step")
    assert all(e is step or e.cpu_parent is not None for e in events)  # everything ran inside the step
    # Self times partition the step's time exactly, and the step's time is the measured wall time
    # (less the Python around the `with`): generous bounds, this is about accounting, not speed.
    self_sum = sum(e.self_cpu_time_total for e in events)
    assert self_sum == pytest.approx(step.cpu_time_total, rel=1e-6)
    assert 0.5 * wall_us <= step.cpu_time_total <= wall_us
    assert all(e.self_cpu_time_total >= -1e-6 for e in events)
    # The ops and backward nodes, not the Python between them, hold most of a conv step's time.
    assert step.self_cpu_time_total < 0.9 * step.cpu_time_total
    averages = prof.key_averages()
    assert averages.self_cpu_time_total == pytest.approx(self_sum, rel=1e-6)


def test_table_has_pytorch_columns_and_sorts(cnn_step):
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], profile_memory=True) as prof:
        with record_function("model_inference"):
            cnn_step()
    text = prof.key_averages().table(sort_by="cpu_time_total", row_limit=5)
    lines = text.splitlines()
    assert lines[1].split() == ["Name", "Self", "CPU", "%", "Self", "CPU", "CPU", "total", "%", "CPU", "total",
                                "CPU", "time", "avg", "CPU", "Mem", "Self", "CPU", "Mem", "#", "of", "Calls"]
    assert lines[3].split()[0] == "model_inference" and lines[3].split()[3] == "100.00%"
    assert len(lines) == 3 + 5 + 2 and lines[-1].startswith("Self CPU time total: ")
    rows = prof.key_averages()
    by_total = sorted(rows, key=lambda r: r.cpu_time_total, reverse=True)
    assert [l.split()[0] for l in lines[3:8]] == [r.key for r in by_total[:5]]
    # Device columns are accepted for CUDA-era scripts: all zero, no crash.
    assert "Self CPU time total" in rows.table(sort_by="cuda_time_total", row_limit=3)
    assert "Self CPU time total" in rows.table(sort_by="self_cuda_time_total")
    with pytest.raises(AttributeError, match="sort_by='cpu_tme'"):
        rows.table(sort_by="cpu_tme")


def test_key_averages_groups_by_input_shape():
    a, b = lamina.randn(2, 3), lamina.randn(4, 5)
    with profile(record_shapes=True) as prof:
        for _ in range(2):
            lamina.exp(a)
            lamina.exp(b)
    by_name = {r.key: r for r in prof.key_averages()}
    assert by_name["lamina::exp"].count == 4 and by_name["lamina::exp"].input_shapes == ""
    grouped = [r for r in prof.key_averages(group_by_input_shape=True) if r.key == "lamina::exp"]
    assert sorted((r.input_shapes, r.count) for r in grouped) == [([[2, 3]], 2), ([[4, 5]], 2)]
    table = prof.key_averages(group_by_input_shape=True).table(sort_by="count")
    assert "Input Shapes" in table and "[[4, 5]]" in table and "[[2, 3]]" in table
    with profile() as plain:  # without record_shapes, no shapes are kept
        lamina.exp(a)
    assert all(e.input_shapes == [] for e in plain.events())


def test_memory_columns_count_the_bytes_an_op_allocates():
    with profile(profile_memory=True) as prof:
        z = lamina.zeros(256, 128)
        del z
    zeros = next(e for e in prof.events() if e.name == "lamina::zeros")
    assert zeros.cpu_memory_usage == 256 * 128 * 4 and zeros.self_cpu_memory_usage == 256 * 128 * 4
    with profile() as prof:
        lamina.zeros(256, 128)
    assert next(e for e in prof.events() if e.name == "lamina::zeros").cpu_memory_usage == 0


def test_record_function_nests_and_decorates():
    @record_function("helper")
    def helper(x):
        return x * 2

    x = lamina.randn(8)
    with profile() as prof:
        with record_function("outer"):
            with record_function("inner"):
                helper(x)
            helper(x)
    helper(x)  # outside a session: recorded nowhere, costs one call
    ev = {(e.name, e.cpu_parent.name if e.cpu_parent else None) for e in prof.events()}
    assert {("outer", None), ("inner", "outer"), ("helper", "inner"), ("helper", "outer"),
            ("lamina::mul", "helper")} <= ev
    assert [e.name for e in prof.events()].count("helper") == 2
    with pytest.raises(TypeError, match="record_function"):
        record_function(3)


def test_chrome_trace_is_valid_json_with_nested_ranges(tmp_path):
    x = lamina.randn(64, 64)
    with profile(record_shapes=True) as prof:
        with record_function("outer"):
            with record_function("inner"):
                x @ x
    prof.add_metadata("run", "unit-test")
    for name in ("trace.json", "trace.json.gz"):
        path = tmp_path / name
        prof.export_chrome_trace(str(path))
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rt") as f:
            trace = json.load(f)
        assert trace["run"] == "unit-test"
        spans = {e["name"]: e for e in trace["traceEvents"] if e["ph"] == "X" and e["cat"] != "parallel_worker"}
        outer, inner, mm = spans["outer"], spans["inner"], spans["lamina::matmul"]
        assert outer["cat"] == inner["cat"] == "user_annotation" and mm["cat"] == "cpu_op"
        assert mm["args"]["Input Dims"] == [[64, 64], [64, 64]]
        assert outer["tid"] == inner["tid"] == mm["tid"] == threading.get_native_id()
        for parent, child in ((outer, inner), (inner, mm)):
            assert parent["ts"] <= child["ts"] and child["ts"] + child["dur"] <= parent["ts"] + parent["dur"] + 1e-3
        names = [e for e in trace["traceEvents"] if e["ph"] == "M" and e["name"] == "thread_name"]
        assert any(e["tid"] == threading.get_native_id() for e in names)


def test_parallel_region_shows_its_worker_thread():
    threads = lamina.get_num_threads()
    lamina.set_num_threads(2)
    try:
        a = lamina.randn(768, 768)
        a @ a
        # The worker takes part unless the OS keeps it off a core for the whole product (a busy
        # machine): try a few times.
        for _ in range(20):
            with profile() as prof:
                for _ in range(4):
                    a @ a
            if any(e.kind == 3 for e in prof.events()):
                break
    finally:
        lamina.set_num_threads(threads)
    main = threading.get_native_id()
    workers = [e for e in prof.events() if e.kind == 3]
    assert workers, "no parallel-region worker event was recorded"
    assert all(e.thread != main and e.name in ("lamina::matmul", "lamina::mm") for e in workers)
    # Worker shares are not ops of their own: they stay out of key_averages.
    assert all(r.count == 4 for r in prof.key_averages() if r.key == "lamina::matmul")


def test_schedule_matches_the_wait_warmup_active_cycle():
    s = schedule(wait=1, warmup=1, active=2, repeat=2, skip_first=1)
    N, W, R, S = ProfilerAction.NONE, ProfilerAction.WARMUP, ProfilerAction.RECORD, ProfilerAction.RECORD_AND_SAVE
    assert [s(i) for i in range(11)] == [N, N, W, R, S, N, W, R, S, N, N]
    with pytest.raises(ValueError, match="active"):
        schedule(wait=1, warmup=1, active=0)


def test_schedule_cycle_calls_on_trace_ready_per_cycle():
    traces = []

    def on_trace_ready(prof):
        traces.append(sorted(e.name for e in prof.events() if e.name.startswith("ProfilerStep#")))

    x = lamina.randn(16, 16)
    with profile(schedule=schedule(wait=1, warmup=1, active=2, repeat=2), on_trace_ready=on_trace_ready) as prof:
        for _ in range(10):
            x @ x
            prof.step()
    assert traces == [["ProfilerStep#2", "ProfilerStep#3"], ["ProfilerStep#6", "ProfilerStep#7"]]
    assert not lamina._C._profiler_enabled()
    # A cycle still recording when the profiler stops is handed over at stop (step 4 had begun).
    traces.clear()
    with pytest.warns(UserWarning, match="warmup"):
        no_warmup = schedule(wait=0, warmup=0, active=3)
    with profile(schedule=no_warmup, on_trace_ready=on_trace_ready) as prof:
        for _ in range(4):
            x @ x
            prof.step()
    assert traces == [["ProfilerStep#0", "ProfilerStep#1", "ProfilerStep#2"], ["ProfilerStep#3", "ProfilerStep#4"]]


def test_tensorboard_trace_handler_writes_trace_files(tmp_path):
    x = lamina.randn(16, 16)
    handler = lamina.profiler.tensorboard_trace_handler(str(tmp_path / "log"), worker_name="w0")
    with profile(schedule=schedule(wait=0, warmup=1, active=1, repeat=1), on_trace_ready=handler) as prof:
        for _ in range(3):
            x @ x
            prof.step()
    files = list((tmp_path / "log").iterdir())
    assert len(files) == 1 and files[0].name.startswith("w0.") and files[0].name.endswith(".pt.trace.json")
    assert any(e.get("name") == "lamina::matmul" for e in json.loads(files[0].read_text())["traceEvents"])


def test_legacy_autograd_profiler_names():
    x = lamina.randn(32, 32, requires_grad=True)
    with pytest.warns(FutureWarning):
        prof = lamina.autograd.profiler.profile(use_cuda=True, record_shapes=True)
    with prof:
        with lamina.autograd.profiler.record_function("block"):
            (x @ x).sum().backward()
    assert prof.self_cpu_time_total > 0
    assert "MmBackward0" in prof.table(sort_by="cuda_time_total") and "block" in str(prof)
    assert prof.total_average().count == len([e for e in prof.function_events if e.kind != 3])
    off = lamina.autograd.profiler.profile(enabled=False)
    with off:
        x @ x
    with pytest.raises(RuntimeError, match="didn't finish"):
        off.key_averages()


def test_sessions_do_not_nest_and_end_on_errors():
    with profile():
        with pytest.raises(RuntimeError, match="already active"):
            with profile():
                pass
    with pytest.raises(ZeroDivisionError):
        with profile():
            1 / 0
    assert not lamina._C._profiler_enabled()
    p = profile(schedule=schedule(wait=5, warmup=1, active=1))
    with p:
        pass
    with pytest.raises(RuntimeError, match="no trace"):
        p.events()
    with pytest.raises(TypeError, match="ProfilerActivity"):
        profile(activities=["cpu"])


def _enabled_after_an_op():
    lamina.exp(lamina.ones(3))
    return lamina._C._profiler_enabled()


def test_a_process_forked_while_profiling_records_nothing():
    import multiprocessing

    with profile() as prof:
        with multiprocessing.get_context("fork").Pool(1) as pool:
            assert pool.apply(_enabled_after_an_op) is False
        lamina.exp(lamina.ones(3))
    assert "lamina::exp" in {e.name for e in prof.events()}


TUTORIAL = '''
import torch
import torch.nn as nn
from torch.profiler import profile, record_function, ProfilerActivity

model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
inputs = torch.randn(5, 3, 32, 32)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
    with record_function("model_inference"):
        model(inputs)
table1 = prof.key_averages().table(sort_by="cpu_time_total", row_limit=10)
table2 = prof.key_averages(group_by_input_shape=True).table(sort_by="cpu_time_total", row_limit=10)

with profile(activities=[ProfilerActivity.CPU], profile_memory=True, record_shapes=True) as prof:
    model(inputs)
table3 = prof.key_averages().table(sort_by="self_cpu_memory_usage", row_limit=10)
table4 = prof.key_averages().table(sort_by="cuda_time_total", row_limit=10)
prof.export_chrome_trace(TRACE)

def trace_handler(p):
    HANDLED.append(p.key_averages().table(sort_by="self_cpu_time_total", row_limit=-1))

with profile(activities=[ProfilerActivity.CPU],
             schedule=torch.profiler.schedule(wait=1, warmup=1, active=2),
             on_trace_ready=trace_handler) as p:
    for idx in range(8):
        loss = model(inputs).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        p.step()

with torch.autograd.profiler.profile() as legacy:
    model(inputs)
table5 = legacy.key_averages().table(sort_by="self_cpu_time_total")
'''


def run_tutorial(module, tmp_path):
    import sys

    saved = {k: v for k, v in sys.modules.items() if k == "torch" or k.startswith("torch.")}
    if module is lamina:  # `import torch` finds lamina, as with `import lamina as torch`
        for k in saved:
            del sys.modules[k]
        sys.modules.update({"torch": lamina, "torch.nn": lamina.nn, "torch.profiler": lamina.profiler})
    scope = {"TRACE": str(tmp_path / f"{module.__name__}.json"), "HANDLED": []}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(compile(TUTORIAL, "tutorial", "exec"), scope)
    finally:
        if module is lamina:
            for k in ("torch", "torch.nn", "torch.profiler"):
                sys.modules.pop(k, None)
            sys.modules.update(saved)
    return scope


def header_of(table):
    return table.splitlines()[1].split()


def test_tutorial_profiling_script_runs_with_lamina_as_torch(tmp_path):
    scope = run_tutorial(lamina, tmp_path)
    assert "model_inference" in scope["table1"] and "lamina::conv2d" in scope["table1"]
    assert "Input Shapes" in scope["table2"] and "[[5, 3, 32, 32], [8, 3, 3, 3], [8]]" in scope["table2"]
    assert "Self CPU Mem" in scope["table3"]
    assert len(scope["HANDLED"]) == 2 and all("ConvolutionBackward0" in t for t in scope["HANDLED"])
    json.loads((tmp_path / "lamina.json").read_text())


@pytest.mark.torch
def test_tutorial_tables_have_pytorchs_columns(tmp_path):
    torch = pytest.importorskip("torch")
    ours, theirs = run_tutorial(lamina, tmp_path), run_tutorial(torch, tmp_path)
    for key in ("table1", "table2", "table3", "table4", "table5"):
        assert header_of(ours[key]) == header_of(theirs[key]), key
    assert len(ours["HANDLED"]) == len(theirs["HANDLED"]) == 2
    for s in (dict(wait=1, warmup=1, active=2), dict(wait=2, warmup=0, active=1, repeat=3, skip_first=2),
              dict(wait=1, warmup=2, active=3, repeat=1, skip_first_wait=1)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # both warn when warmup is 0
            mine, ref = lamina.profiler.schedule(**s), torch.profiler.schedule(**s)
        assert [mine(i).name for i in range(20)] == [ref(i).name for i in range(20)], s
