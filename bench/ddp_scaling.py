"""Data-parallel scaling of the ResNet-style training step (bench/train_steps.py, global batch 64, SGD
with momentum) on this machine: 1 rank x 1 thread, 1 rank x 2 threads, and DistributedDataParallel
on 2 ranks x 1 thread (32 images each), for lamina (MPI) and PyTorch (gloo), each in its own processes.

    flock /tmp/lamina_build.lock python bench/ddp_scaling.py [--steps 12] [--libs lamina torch]

Throughput is global images per second at the median step time (rank 0's). For the 2-rank runs,
the share of all-reduce time hidden behind backward is 1 - (DDP step - step under no_sync()) /
(time to all-reduce the gradients alone): 1 when communication costs the step nothing.
PyTorch runs with OMP_WAIT_POLICY=PASSIVE; ranks start through mpiexec (PyTorch's only read their
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
            dist.init_process_group("gloo", init_method="tcp://127.0.0.1:29518", rank=rank, world_size=ranks)
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

    result = {"step": median_time(step, steps)}
    if ranks > 1:
        def local_step():
            with net.no_sync():
                step()
        result["local_step"] = median_time(local_step, steps)
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
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
    print("| library | 1 rank x 1 thread | 1 rank x 2 threads | 2 ranks x 1 thread (DDP) | DDP vs 1x1 | DDP vs 1x2 "
          "| 2-rank step under no_sync | gradient all-reduce alone | all-reduce hidden |")
    print("|---|---|---|---|---|---|---|---|---|")
    for lib in args.libs:
        if lib == "torch":
            try:
                import torch  # noqa: F401
            except ImportError:
                continue
        one = run(lib, 1, 1, args.steps)
        two_threads = run(lib, 1, 2, args.steps)
        ddp = run(lib, 2, 1, args.steps)
        ips = {k: GLOBAL_BATCH / r["step"] for k, r in (("1x1", one), ("1x2", two_threads), ("ddp", ddp))}
        hidden = 1 - (ddp["step"] - ddp["local_step"]) / ddp["all_reduce"]
        print(f"| {lib} | {one['step'] * 1e3:.1f} ms ({ips['1x1']:.0f} img/s) | {two_threads['step'] * 1e3:.1f} ms "
              f"({ips['1x2']:.0f} img/s) | {ddp['step'] * 1e3:.1f} ms ({ips['ddp']:.0f} img/s) | "
              f"{ips['ddp'] / ips['1x1']:.2f}x | {ips['ddp'] / ips['1x2']:.2f}x | {ddp['local_step'] * 1e3:.1f} ms | "
              f"{ddp['all_reduce'] * 1e3:.2f} ms ({ddp['gradient_mb']:.1f} MiB) | {min(1, max(0, hidden)):.0%} |")


if __name__ == "__main__":
    main()
