"""What lamina.profiler costs.

disabled A B: the per-op cost of the profiler's guards when no profiler runs. Tiny ops (4-64
elements, where the per-call overhead is everything) and a small training step, timed in two
lamina builds (A: without the profiler, B: with it), each in its own process on one thread; the
processes alternate and the table gives the median over rounds of each case's median ns per
call, and B / A.

    python bench/profiler_overhead.py disabled PYTHONPATH_A PYTHONPATH_B [--rounds 8]

cpp BIN_A BIN_B: the same comparison through the C++ op layer alone (no Python), where the guard
is the largest share of a call it can be: two builds of bench/bench_op_overhead.cpp, run
alternately, medians over rounds.

    python bench/profiler_overhead.py cpp build_a/bench_op_overhead build_b/bench_op_overhead [--rounds 20]

enabled: the cost of recording, on the training steps of train_steps.py: median ms per step with
no profiler and inside an active session (recording every op, backward node and parallel-region
worker, shapes and memory on), interleaved in one process; plus what stopping a session and
building its events costs per event.

    PYTHONPATH=python python bench/profiler_overhead.py enabled [--threads 1 2] [--reps 15]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

# name: (statement, calls per timing)
CASES = {
    "a + b (4 elements)": ("a + b", 20000),
    "lamina.relu(a)": ("lamina.relu(a)", 20000),
    "a.exp()": ("a.exp()", 20000),
    "m.sum(dim=1)": ("m.sum(dim=1)", 20000),
    "m.view(64)": ("m.view(64)", 20000),
    "m.t()": ("m.t()", 20000),
    "lamina.zeros(4)": ("lamina.zeros(4)", 20000),
    "(w * 2).sum().backward()": ("(w * 2).sum().backward()", 10000),
    "MLP 16-16-4 step, batch 4": ("step()", 2000),
}

CHILD = r"""
import json, statistics, sys, time
import lamina
lamina.set_num_threads(1)
a = lamina.randn(4); b = lamina.randn(4); m = lamina.randn(8, 8); w = lamina.randn(4, requires_grad=True)
net = lamina.nn.Sequential(lamina.nn.Linear(16, 16), lamina.nn.ReLU(), lamina.nn.Linear(16, 4))
opt = lamina.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
xb, yb = lamina.randn(4, 16), lamina.randint(0, 4, (4,))
def step():
    opt.zero_grad()
    lamina.nn.functional.cross_entropy(net(xb), yb).backward()
    opt.step()
cases = json.loads(sys.argv[1])
out = {}
for name, (stmt, calls) in cases.items():
    f = eval("lambda: " + stmt)
    for _ in range(calls // 10 + 1):
        f()
    times = []
    for _ in range(7):
        t = time.perf_counter()
        for _ in range(calls):
            f()
        times.append((time.perf_counter() - t) / calls * 1e9)
    out[name] = statistics.median(times)
print(json.dumps(out))
"""


def run_child(path):
    env = dict(os.environ, PYTHONPATH=path, LAMINA_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-c", CHILD, json.dumps(CASES)], env=env, capture_output=True, text=True,
                       check=True)
    return json.loads(r.stdout)


def disabled(args):
    results = {"a": [], "b": []}
    for _ in range(args.rounds):  # alternate, so drifts of a noisy machine hit both
        results["a"].append(run_child(args.a))
        results["b"].append(run_child(args.b))
    print(f"median of {args.rounds} alternating processes per build, each the median of 7 timings")
    print("| case | A ns | B ns | B / A |\n|---|---|---|---|")
    for name in CASES:
        ta = statistics.median(r[name] for r in results["a"])
        tb = statistics.median(r[name] for r in results["b"])
        print(f"| {name} | {ta:.0f} | {tb:.0f} | {tb / ta:.3f} |")


def cpp(args):
    results = {"a": [], "b": []}
    for _ in range(args.rounds):
        for key, binary in (("a", args.a), ("b", args.b)):
            out = subprocess.run([binary], capture_output=True, text=True, check=True).stdout
            results[key].append(json.loads(out))
    names = list(dict.fromkeys(list(results["a"][0]) + list(results["b"][0])))
    print(f"median of {args.rounds} alternating runs per build, each the median of 15 timings of 20000 calls")
    print("| case | A ns | B ns | B / A |\n|---|---|---|---|")
    for name in names:
        ta = statistics.median(r[name] for r in results["a"]) if name in results["a"][0] else None
        tb = statistics.median(r[name] for r in results["b"]) if name in results["b"][0] else None
        cell = lambda t: "-" if t is None else f"{t:.1f}" if t < 10 else f"{t:.0f}"  # noqa: E731
        ratio = f"{tb / ta:.3f}" if ta and tb else "-"
        print(f"| {name} | {cell(ta)} | {cell(tb)} | {ratio} |")


def enabled(args):
    import lamina

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from train_steps import MODELS, make_training_step

    print("median ms per training step: no profiler / recording (record_shapes, profile_memory); "
          "then stop + events per event")
    for threads in args.threads:
        lamina.set_num_threads(threads)
        for name in MODELS:
            step = make_training_step(lamina, name)
            for _ in range(3):
                step()
            off, on, collect = [], [], []
            for _ in range(args.reps):
                t = time.perf_counter()
                for _ in range(args.inner):
                    step()
                off.append((time.perf_counter() - t) / args.inner)
                prof = lamina.profiler.profile(record_shapes=True, profile_memory=True)
                prof.start()
                t = time.perf_counter()
                for _ in range(args.inner):
                    step()
                on.append((time.perf_counter() - t) / args.inner)
                t = time.perf_counter()
                prof.stop()
                n = len(prof.events())
                collect.append((time.perf_counter() - t) / n)
            a, b = statistics.median(off), statistics.median(on)
            print(f"threads={threads} {name:7s} off {a * 1e3:8.3f}  recording {b * 1e3:8.3f}  "
                  f"overhead {100 * (b / a - 1):+6.1f}%  ({n // args.inner} events/step, "
                  f"collect {statistics.median(collect) * 1e6:.2f} us/event)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    d = sub.add_parser("disabled")
    d.add_argument("a")
    d.add_argument("b")
    d.add_argument("--rounds", type=int, default=8)
    c = sub.add_parser("cpp")
    c.add_argument("a")
    c.add_argument("b")
    c.add_argument("--rounds", type=int, default=20)
    e = sub.add_parser("enabled")
    e.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    e.add_argument("--reps", type=int, default=15)
    e.add_argument("--inner", type=int, default=3)
    args = parser.parse_args()
    {"disabled": disabled, "cpp": cpp, "enabled": enabled}[args.mode](args)


if __name__ == "__main__":
    main()
