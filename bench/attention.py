"""scaled_dot_product_attention, lamina vs PyTorch: forward and forward+backward times and the peak
memory each call adds, B=8, H=8, D=64, float32, T = 128..4096, causal and not, at 1 and 2 threads.

    PYTHONPATH=python python bench/attention.py [--lengths 128 512 1024 2048 4096] [--threads 1 2]

Each measurement runs in a fresh process of one library only (PyTorch with OMP_WAIT_POLICY=PASSIVE),
and the two libraries alternate, so neither sees the other's threads or allocator state. Times are
medians of up to --reps calls after one warm-up call; peak memory is the growth of the process's
maximum resident set during the first call (the inputs already exist). Never run beside a build.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

B, H, D = 8, 8, 64


def worker(lib, T, causal, threads, backward, reps):
    if lib == "torch":
        import torch as m
        import torch.nn.functional as F
    else:
        import lamina as m
        import lamina.nn.functional as F
    m.set_num_threads(threads)
    m.manual_seed(0)
    q, k, v = (m.randn(B, H, T, D, requires_grad=backward) for _ in range(3))
    g = m.randn(B, H, T, D)

    def call():
        if backward:
            F.scaled_dot_product_attention(q, k, v, is_causal=causal).backward(g)
        else:
            with m.no_grad():
                F.scaled_dot_product_attention(q, k, v, is_causal=causal)

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    call()
    first = time.perf_counter() - start
    peak_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    times = [first]
    for _ in range(max(0, min(reps, int(20 / max(first, 1e-3))) - 1)):  # about 20 s at most
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return {"seconds": statistics.median(times[1:] or times), "peak_mib": peak_mib}


def measure(lib, T, causal, threads, backward, reps):
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.path.join(root, "python") + os.pathsep + env.get("PYTHONPATH", "")
    args = [sys.executable, __file__, "--worker", lib, str(T), str(int(causal)), str(threads), str(int(backward)),
            str(reps)]
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        lib, T, causal, threads, backward, reps = sys.argv[2:8]
        print(json.dumps(worker(lib, int(T), causal == "1", int(threads), backward == "1", int(reps))))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--lengths", type=int, nargs="+", default=[128, 512, 1024, 2048, 4096])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    print(f"B={B} H={H} D={D} float32; lamina/torch time ratio (< 1: lamina faster); peak = memory added by the call")
    print(f"{'case':<34} {'lamina ms':>10} {'torch ms':>10} {'ratio':>6} {'lamina MiB':>11} {'torch MiB':>10}")
    for threads in args.threads:
        for backward in (False, True):
            for causal in (False, True):
                for T in args.lengths:
                    res = {lib: measure(lib, T, causal, threads, backward, args.reps) for lib in ("lamina", "torch")}
                    name = f"{'fwd+bwd' if backward else 'fwd'} T={T}{' causal' if causal else ''} {threads}thr"
                    lam, tor = res["lamina"], res["torch"]
                    print(f"{name:<34} {lam['seconds'] * 1e3:>10.1f} {tor['seconds'] * 1e3:>10.1f} "
                          f"{lam['seconds'] / tor['seconds']:>6.2f} {lam['peak_mib']:>11.0f} {tor['peak_mib']:>10.0f}",
                          flush=True)


if __name__ == "__main__":
    main()
