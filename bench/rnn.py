"""nn.LSTM / nn.GRU forward+backward, lamina vs PyTorch: sequence 64, batch 32, 128 -> 256 units,
1 and 2 layers, float32, at 1 and 2 threads.

    PYTHONPATH=python python bench/rnn.py [--threads 1 2] [--runs 3]

Each measurement is a fresh process of one library (PyTorch with OMP_WAIT_POLICY=PASSIVE); the
libraries alternate, --runs processes each, and the table gives the median over runs of each
process's median step time. Never run beside a build.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

SEQ, BATCH, IN, HIDDEN = 64, 32, 128, 256


def worker(lib, kind, layers, threads, steps=10):
    m = __import__("torch" if lib == "torch" else "lamina")
    m.set_num_threads(threads)
    m.manual_seed(0)
    net = getattr(m.nn, kind)(IN, HIDDEN, num_layers=layers)
    x = m.randn(SEQ, BATCH, IN, requires_grad=True)

    def step():
        out, _ = net(x)
        out.sum().backward()

    for _ in range(3):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        lib, kind, layers, threads = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
        print(json.dumps(worker(lib, kind, layers, threads)))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    env["PYTHONPATH"] = os.path.join(root, "python") + os.pathsep + env.get("PYTHONPATH", "")
    print(f"seq {SEQ}, batch {BATCH}, {IN} -> {HIDDEN}, float32, forward + backward; ratio = lamina / torch")
    print(f"{'case':<22} {'lamina ms':>10} {'torch ms':>10} {'ratio':>6}")
    for threads in args.threads:
        for kind in ("LSTM", "GRU"):
            for layers in (1, 2):
                res = {"lamina": [], "torch": []}
                for _ in range(args.runs):
                    for lib in res:
                        cmd = [sys.executable, __file__, "--worker", lib, kind, str(layers), str(threads)]
                        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
                        res[lib].append(json.loads(out.strip().splitlines()[-1]))
                lam, tor = statistics.median(res["lamina"]), statistics.median(res["torch"])
                print(f"{kind} {layers} layer{'s' if layers > 1 else ''}, {threads} thr{'':<5} {lam * 1e3:>10.1f} "
                      f"{tor * 1e3:>10.1f} {lam / tor:>6.2f}", flush=True)


if __name__ == "__main__":
    main()
