"""Threads under contention: training steps timed at 1 and 2 threads, on an idle machine and beside a
CPU-bound competing process, for lamina and PyTorch. Two steps: an elementwise + reduction step with
backward (128x512), and the MLP training step of train_steps.py (784-512-256-10, batch 128, SGD).

A thread pool whose workers spin for long, or whose parallel regions end in a barrier that
waits for every worker, collapses when another process wants the core; lamina's pool lets the
caller finish the work alone (cpu/parallel.h). The number to watch is the 2-thread time with a
competitor, next to the 1-thread time.

    PYTHONPATH=python python bench/contention.py [--steps 300] [--cases elementwise mlp]
"""

import argparse
import statistics
import subprocess
import sys
import time

import os

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_steps import make_training_step  # noqa: E402


def make_step(lib, batch=128, width=512):
    """A step of elementwise ops and reductions with a backward pass (no matmul yet)."""
    rng = np.random.default_rng(0)
    x = lib.tensor(rng.standard_normal((batch, width)).astype(np.float32))
    target = lib.tensor(rng.standard_normal((batch, width)).astype(np.float32))
    params = [lib.tensor(rng.standard_normal(width).astype(np.float32), requires_grad=True) for _ in range(4)]

    def step():
        w1, b1, w2, b2 = params
        h = (x * w1 + b1).tanh()
        h = h - h.mean(dim=1, keepdim=True)
        y = (h * w2 + b2).sigmoid()
        loss = ((y - target) ** 2).mean() + (h.abs().sum(dim=0) * 1e-4).sum()
        for p in params:
            p.grad = None
        loss.backward()

    return step


def time_steps(step, steps):
    for _ in range(20):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def run(case, lib_name, threads, steps):
    if lib_name == "lamina":
        import lamina as lib
    else:
        import torch as lib
    lib.set_num_threads(threads)
    step = make_step(lib) if case == "elementwise" else make_training_step(lib, case)
    return time_steps(step, steps)


def measure(case, steps):
    """Each configuration in a fresh process, so thread pools start from the same state."""
    results = {}
    for lib_name in ("lamina", "torch"):
        for threads in (1, 2):
            out = subprocess.run([sys.executable, __file__, "--child", case, lib_name, str(threads), str(steps)],
                                 capture_output=True, text=True, check=True)
            results[(lib_name, threads)] = float(out.stdout.strip())
    return results


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--cases", nargs="+", default=["elementwise", "mlp"])
    parser.add_argument("--child", nargs=4)
    args = parser.parse_args()
    if args.child:
        case, lib_name, threads, steps = args.child
        print(run(case, lib_name, int(threads), int(steps)))
        return

    for case in args.cases:
        steps = args.steps if case == "elementwise" else max(20, args.steps // 5)
        idle = measure(case, steps)
        busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            time.sleep(0.5)
            loaded = measure(case, steps)
        finally:
            busy.kill()
        print(f"\n{case}: median step time in ms")
        print(f"{'library':8s} {'threads':>7s} {'idle':>9s} {'with a busy process':>20s}")
        for key in idle:
            print(f"{key[0]:8s} {key[1]:7d} {idle[key]:9.3f} {loaded[key]:20.3f}")
        for lib_name in ("lamina", "torch"):
            ratio = loaded[(lib_name, 2)] / loaded[(lib_name, 1)]
            print(f"{lib_name}: under contention, 2 threads take {ratio:.2f}x the 1-thread time")


if __name__ == "__main__":
    main()
