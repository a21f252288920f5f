"""Data-parallel scaling of the ResNet-style training step (bench/train_steps.py, global batch 64, SGD
with momentum) on this machine: 1 rank x 1 thread, 1 rank x 2 threads, and DistributedDataParallel
on 2 ranks x 1 thread (32 images each), for lamina (MPI) and PyTorch (gloo), each in its own processes.

    flock /tmp/lamina_build.lock python bench/ddp_scaling.py [--steps 12] [--libs lamina torch]

Throughput is global images per second at the median step time (rank 0's). For the 2-rank runs:
the DDP step against the same step under no_sync() (no communication; the difference is what
synchronizing costs, waiting for the slower rank included), the all-reduce of the gradients alone,
and, for lamina, the share of gradient bytes whose all-reduce had already completed when the last
gradient arrived (hidden behind backward; the bucket holding the first layers can never be).
The configurations take turns for --rounds rounds (figures: medians over rounds), so that load
from other processes falls on all alike. PyTorch runs with OMP_WAIT_POLICY=PASSIVE; ranks start through mpiexec (PyTorch's only read their
rank from its environment and meet over gloo's TCP on 127.0.0.1).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
GLOBAL_BATCH = 64


def median_time(fn, steps, sync=None):
    for _ in range(3):
        fn()
    times = []
    for _ in range(steps):
        if sync:
            sync()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _port():
    """A TCP port for gloo's rendezvous, the same for the ranks of one run (they share mpiexec's proxy
    as parent) and new for the next run (a fixed one can still be in TIME_WAIT)."""
    return 20000 + os.getppid() % 20000


def worker(lib_name, ranks, threads, steps, out):
    sys.path.insert(0, HERE)
    from train_steps import _resnet
    if lib_name == "torch":
        import torch as lib
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel as DDP
    else:
        sys.path.insert(0, os.path.join(ROOT, "python"))
        import lamina as lib
        import lamina.distributed as dist
        from lamina.nn.parallel import DistributedDataParallel as DDP
    lib.set_num_threads(threads)
    rank = 0
    if ranks > 1:
        if lib_name == "torch":
            rank = int(os.environ["PMI_RANK"])
            dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{_port()}", rank=rank, world_size=ranks)
        else:
            dist.init_process_group("mpi")
            rank = dist.get_rank()
    batch = GLOBAL_BATCH // ranks
    rng = np.random.default_rng(rank)
    x = lib.from_numpy(rng.standard_normal((batch, 3, 32, 32)).astype(np.float32))
    y = lib.from_numpy(rng.integers(0, 10, batch).astype(np.int64))
    lib.manual_seed(0)
    model = _resnet(lib.nn)
    model.train()
    net = DDP(model) if ranks > 1 else model
    optimizer = lib.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    loss_fn = lib.nn.CrossEntropyLoss()

    def step():
        optimizer.zero_grad()
        loss_fn(net(x), y).backward()
        optimizer.step()

    # 2 ranks: each step starts from a barrier, so that neither time includes waiting for the other rank
    # to finish its previous step (which would be charged to communication).
    sync = dist.barrier if ranks > 1 else None
    hidden = []
    if ranks > 1 and lib_name == "lamina":
        finalize = net._finalize

        def measured_finalize(last):   # runs when the last gradient has arrived
            sizes = [(b.flat.numel(), b.work is not None and b.work.is_completed()) for b in net._buckets]
            hidden.append(sum(n for n, done in sizes if done) / sum(n for n, _ in sizes))
            return finalize(last)
        net._finalize = measured_finalize
    result = {"step": median_time(step, steps, sync)}
    if hidden:
        result["hidden"] = statistics.median(hidden)
    if ranks > 1:
        def local_step():
            with net.no_sync():
                step()
        result["local_step"] = median_time(local_step, steps, sync)
        flat = [lib.zeros(sum(p.numel() for p in model.parameters()))]
        if lib_name == "lamina":   # the buckets DDP uses, all started, then all waited for
            flat = [b.flat for b in net._buckets]

        def all_reduce_gradients():
            works = [dist.all_reduce(t, async_op=True) for t in flat]
            for w in works:
                w.wait()
        result["all_reduce"] = median_time(all_reduce_gradients, steps, dist.barrier)
        result["gradient_mb"] = sum(t.numel() for t in flat) * 4 / 2**20
    if rank == 0:
        with open(out, "w") as f:
            json.dump(result, f)
    if ranks > 1 and lib_name == "torch":
        dist.destroy_process_group()   # else PyTorch aborts at exit ("terminate called ...")
        sys.stdout.flush()
        os._exit(0)                    # and gloo's teardown can still abort: the results are written


def run(lib, ranks, threads, steps):
    from lamina.distributed.run import find_mpiexec
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        env = dict(os.environ, LAMINA_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
                   OMP_WAIT_POLICY="PASSIVE")
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", lib, "--ranks", str(ranks), "--threads",
               str(threads), "--steps", str(steps), "--out", out]
        if ranks > 1:
            cmd = [find_mpiexec(), "-n", str(ranks)] + cmd
        subprocess.run(cmd, check=True, env=env, timeout=1800)
        with open(out) as f:
            return json.load(f)


def _has_torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--libs", nargs="+", default=["lamina", "torch"], choices=["lamina", "torch"])
    parser.add_argument("--worker", choices=["lamina", "torch"], help=argparse.SUPPRESS)
    parser.add_argument("--ranks", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.ranks, args.threads, args.steps, args.out)
        return
    sys.path.insert(0, os.path.join(ROOT, "python"))
    load_before = os.getloadavg()
    libs = [lib for lib in args.libs if lib != "torch" or _has_torch()]
    configs = [(lib, ranks, threads) for lib in libs for ranks, threads in ((1, 1), (1, 2), (2, 1))]
    rounds = [{c: run(*c, args.steps) for c in configs} for _ in range(args.rounds)]
    res = {c: {k: statistics.median(r[c][k] for r in rounds) for k in rounds[0][c]} for c in configs}
    print(f"load average before: {load_before}, after: {os.getloadavg()}")
    print("| library | 1 rank x 1 thread | 1 rank x 2 threads | 2 ranks x 1 thread (DDP) | DDP vs 1x1 | DDP vs 1x2 "
          "| 2-rank step under no_sync | gradient all-reduce alone | reduced before backward ended |")
    print("|---|---|---|---|---|---|---|---|---|")
    for lib in libs:
        one, two_threads, ddp = res[(lib, 1, 1)], res[(lib, 1, 2)], res[(lib, 2, 1)]
        ips = {k: GLOBAL_BATCH / r["step"] for k, r in (("1x1", one), ("1x2", two_threads), ("ddp", ddp))}
        print(f"| {lib} | {one['step'] * 1e3:.1f} ms ({ips['1x1']:.0f} img/s) | {two_threads['step'] * 1e3:.1f} ms "
              f"({ips['1x2']:.0f} img/s) | {ddp['step'] * 1e3:.1f} ms ({ips['ddp']:.0f} img/s) | "
              f"{ips['ddp'] / ips['1x1']:.2f}x | {ips['ddp'] / ips['1x2']:.2f}x | {ddp['local_step'] * 1e3:.1f} ms | "
              f"{ddp['all_reduce'] * 1e3:.2f} ms ({ddp['gradient_mb']:.1f} MiB) | "
              + (f"{ddp['hidden']:.0%} |" if "hidden" in ddp else "n/a |"))


if __name__ == "__main__":
    main()
