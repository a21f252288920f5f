"""All-reduce (SUM, float32, in place) between 2 ranks on this machine: lamina.distributed against raw
mpi4py on numpy buffers (the floor lamina's Python layer adds to), lamina with the DETAIL-mode
mismatch check, and torch.distributed with gloo, from 1 KiB to 64 MiB.

    flock /tmp/lamina_build.lock python bench/allreduce.py [--sizes-kib 1 4 ... 65536] [--seconds 0.3]

Each library runs in its own pair of processes started by mpiexec (PyTorch's ranks only take their
rank from mpiexec's environment and meet over gloo's TCP on 127.0.0.1), one thread per rank,
PyTorch with OMP_WAIT_POLICY=PASSIVE. Every timed all-reduce follows a barrier; rank 0's median is
reported as time and as bandwidth (buffer bytes / time), with lamina/MPI and lamina/gloo ratios.
The libraries take turns for --rounds rounds and each figure is the median over the rounds, so that
load from other processes falls on all of them alike.
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
DEFAULT_SIZES_KIB = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536]
LIBS = ["mpi4py", "lamina", "lamina-detail", "torch-gloo"]


def reps_for(nbytes, seconds):
    return max(5, min(2000, int(seconds / (2e-6 + nbytes / 2e9))))


def time_ops(op, barrier, nbytes, seconds):
    for _ in range(3):
        op()
    times = []
    for _ in range(reps_for(nbytes, seconds)):
        barrier()
        t0 = time.perf_counter()
        op()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _port():
    """A TCP port for gloo's rendezvous, the same for the ranks of one run (they share mpiexec's proxy
    as parent) and new for the next run (a fixed one can still be in TIME_WAIT)."""
    return 20000 + os.getppid() % 20000


def worker(lib, sizes, seconds, out):
    results = {}
    if lib == "torch-gloo":
        import torch
        import torch.distributed as tdist
        torch.set_num_threads(1)
        rank, size = int(os.environ["PMI_RANK"]), int(os.environ["PMI_SIZE"])
        tdist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{_port()}", rank=rank, world_size=size)
        for n in sizes:
            t = torch.zeros(n // 4)
            results[n] = time_ops(lambda t=t: tdist.all_reduce(t), tdist.barrier, n, seconds)
    elif lib == "mpi4py":
        from mpi4py import MPI
        comm = MPI.COMM_WORLD
        rank = comm.Get_rank()
        for n in sizes:
            a = np.zeros(n // 4, np.float32)
            results[n] = time_ops(lambda a=a: comm.Allreduce(MPI.IN_PLACE, a), comm.Barrier, n, seconds)
    else:
        sys.path.insert(0, os.path.join(ROOT, "python"))
        import lamina
        import lamina.distributed as dist
        dist.init_process_group("mpi")
        rank = dist.get_rank()
        if lib == "lamina-detail":
            dist.set_debug_level(dist.DebugLevel.DETAIL)
        for n in sizes:
            t = lamina.zeros(n // 4)
            results[n] = time_ops(lambda t=t: dist.all_reduce(t), dist.barrier, n, seconds)
    if rank == 0:
        with open(out, "w") as f:
            json.dump(results, f)
    if lib == "torch-gloo":
        tdist.destroy_process_group()   # else PyTorch aborts at exit ("terminate called ...")
        sys.stdout.flush()
        os._exit(0)                     # and gloo's teardown can still abort: the results are written


def run(lib, sizes_kib, seconds):
    from lamina.distributed.run import find_mpiexec
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "result.json")
        env = dict(os.environ, LAMINA_NUM_THREADS="1", OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE")
        cmd = [find_mpiexec(), "-n", "2", sys.executable, os.path.abspath(__file__), "--worker", lib, "--out", out,
               "--seconds", str(seconds), "--sizes-kib", *map(str, sizes_kib)]
        subprocess.run(cmd, check=True, env=env, timeout=1200)
        with open(out) as f:
            return {int(k): v for k, v in json.load(f).items()}


def human(nbytes):
    return f"{nbytes // 1024} KiB" if nbytes < 1 << 20 else f"{nbytes >> 20} MiB"


LOAD_BEFORE = os.getloadavg()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-kib", type=int, nargs="+", default=DEFAULT_SIZES_KIB)
    parser.add_argument("--seconds", type=float, default=0.2, help="time budget per size, library and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--libs", nargs="+", default=LIBS, choices=LIBS)
    parser.add_argument("--worker", choices=LIBS, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [k * 1024 for k in args.sizes_kib]
    if args.worker:
        worker(args.worker, sizes, args.seconds, args.out)
        return
    sys.path.insert(0, os.path.join(ROOT, "python"))
    libs = list(args.libs)
    if "torch-gloo" in libs:
        try:
            import torch  # noqa: F401
        except ImportError:
            libs.remove("torch-gloo")
    rounds = [{lib: run(lib, args.sizes_kib, args.seconds) for lib in libs} for _ in range(args.rounds)]
    res = {lib: {n: statistics.median(r[lib][n] for r in rounds) for n in sizes} for lib in libs}
    print(f"load average before: {LOAD_BEFORE}, after: {os.getloadavg()}")
    head = "| size | " + " | ".join(f"{lib} µs (GB/s)" for lib in libs) + " | lamina/mpi4py | detail/lamina |" + \
        (" lamina/gloo |" if "torch-gloo" in libs else "")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for n in sizes:
        cells = [f"{res[lib][n] * 1e6:.1f} ({n / res[lib][n] / 1e9:.2f})" for lib in libs]
        ratio = res["lamina"][n] / res["mpi4py"][n] if "mpi4py" in libs and "lamina" in libs else float("nan")
        detail = res["lamina-detail"][n] / res["lamina"][n] if "lamina-detail" in libs else float("nan")
        row = f"| {human(n)} | " + " | ".join(cells) + f" | {ratio:.2f} | {detail:.2f} |"
        if "torch-gloo" in libs:
            row += f" {res['lamina'][n] / res['torch-gloo'][n]:.2f} |"
        print(row)


if __name__ == "__main__":
    main()
