"""lamina vs PyTorch, in one process with interleaved runs: time ratios (lamina / PyTorch, below 1
means lamina is faster) for elementwise ops, reductions, per-op overhead, full training steps
(bench/train_steps.py), GEMM and the ResNet-style conv2d layers, at 1 and 2 threads.

    PYTHONPATH=python python bench/compare_torch.py [--quick] [--threads 1 2]
                                                    [--models mlp cnn resnet vae dcgan ddpm finetune]
                                                    [--only elementwise|overhead|training|gemm|conv]

Never run this beside a build or test suite: on 2 cores the timings would mean nothing.
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch

import lamina

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_steps import ALL_MODELS, make_training_step  # noqa: E402


def interleaved(fns, reps, inner):
    """Median seconds per call of each fn, alternating between them so drift hits all equally."""
    times = [[] for _ in fns]
    for fn in fns:  # warm up
        for _ in range(max(2, inner // 10)):
            fn()
    for _ in range(reps):
        for k, fn in enumerate(fns):
            start = time.perf_counter()
            for _ in range(inner):
                fn()
            times[k].append((time.perf_counter() - start) / inner)
    return [statistics.median(t) for t in times]


def elementwise_cases(n):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    pos = (rng.random(n) + 0.5).astype(np.float32)
    m = rng.standard_normal((3162, 3162)).astype(np.float32)
    L = {k: lamina.from_numpy(v) for k, v in dict(a=a, b=b, pos=pos, m=m).items()}
    T = {k: torch.from_numpy(v) for k, v in dict(a=a, b=b, pos=pos, m=m).items()}
    L["gelu"], T["gelu"] = lamina.gelu, torch.nn.functional.gelu
    ops = [
        ("add", lambda x: x["a"] + x["b"]),
        ("mul", lambda x: x["a"] * x["b"]),
        ("add scalar", lambda x: x["a"] + 1.5),
        ("relu", lambda x: x["a"].relu()),
        ("exp", lambda x: x["a"].exp()),
        ("log", lambda x: x["pos"].log()),
        ("tanh", lambda x: x["a"].tanh()),
        ("sigmoid", lambda x: x["a"].sigmoid()),
        ("gelu", lambda x: x["gelu"](x["a"])),
        ("sum", lambda x: x["a"].sum()),
        ("amax", lambda x: x["a"].amax()),
        ("mean dim=1 (3162x3162)", lambda x: x["m"].mean(1)),
        ("sum dim=0 (3162x3162)", lambda x: x["m"].sum(0)),
        ("clone of transposed (3162x3162)", lambda x: x["m"].t().contiguous()),
    ]
    return [(name, (lambda f=f: f(L)), (lambda f=f: f(T))) for name, f in ops]


def overhead_cases():
    la, lb = lamina.ones(1), lamina.ones(1)
    ta, tb = torch.ones(1), torch.ones(1)
    lg, tg = lamina.ones(1, requires_grad=True), torch.ones(1, requires_grad=True)
    return [
        ("1-element add", lambda: la + lb, lambda: ta + tb),
        ("1-element add, autograd", lambda: lg + lb, lambda: tg + tb),
        ("1-element add + backward", lambda: (lg * lb).sum().backward(), lambda: (tg * tb).sum().backward()),
    ]


def gemm_cases():
    """(label, flops, lamina fn, torch fn): C = A @ B into preallocated row-major outputs, through
    lamina's GEMM kernel (lamina._C._gemm) and torch.mm(out=)."""
    rng = np.random.default_rng(0)
    shapes = [("SGEMM", n, n, n, np.float32) for n in (256, 512, 1024, 2048)]
    shapes += [("DGEMM", n, n, n, np.float64) for n in (512, 1024)]
    for dt, name in ((np.float32, "SGEMM"), (np.float64, "DGEMM")):
        shapes += [(name, m, k, n, dt) for m, k, n in ((64, 784, 128), (128, 3072, 768), (8192, 64, 64), (4096, 4096, 1))]
    cases = []
    for name, m, k, n, dt in shapes:
        a = rng.standard_normal((m, k)).astype(dt)
        b = rng.standard_normal((k, n)).astype(dt)
        la, lb, lc = lamina.from_numpy(a), lamina.from_numpy(b), lamina.from_numpy(np.zeros((m, n), dt))
        ta, tb, tc = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(np.zeros((m, n), dt))
        label = f"{name} {m}x{k}x{n}" + (" (GEMV)" if n == 1 else "")
        cases.append((label, 2.0 * m * n * k, (lambda la=la, lb=lb, lc=lc: lamina._C._gemm(la, lb, lc)),
                      (lambda ta=ta, tb=tb, tc=tc: torch.mm(ta, tb, out=tc))))
    return cases


def report_gemm(title, cases, reps):
    print(f"\n{title}")
    print(f"{'case (m x k x n)':36s} {'lamina':>14s} {'PyTorch':>14s} {'ratio':>8s}")
    for name, flops, lf, tf in cases:
        inner = max(1, min(200, int(2e8 / flops)))
        lt, tt = interleaved([lf, tf], reps, inner)
        print(f"{name:36s} {flops / lt / 1e9:8.1f} GFLOP/s {flops / tt / 1e9:8.1f} GFLOP/s {lt / tt:8.2f}")


def training_cases(models):
    """Full training steps (forward + backward + optimizer) of bench/train_steps.py."""
    cases = []
    for name in models:
        lamina_step, torch_step = make_training_step(lamina, name), make_training_step(torch, name)
        cases.append((f"train step: {name}", lamina_step, torch_step))
    return cases


def conv_cases():
    """The ResNet-style conv2d layers at batch 32: forward, and forward + backward (input, weight, bias)."""
    rng = np.random.default_rng(0)
    layers = [("3->64 32x32 3x3", 3, 32, 64, 3, 1, 1), ("64->64 32x32 3x3", 64, 32, 64, 3, 1, 1),
              ("128->128 16x16 3x3", 128, 16, 128, 3, 1, 1), ("256->256 8x8 3x3", 256, 8, 256, 3, 1, 1),
              ("64->128 32x32 1x1 s2", 64, 32, 128, 1, 2, 0)]

    def runners(lib, arrays, gy, stride, pad):
        x, w, b = [lib.tensor(a, requires_grad=True) for a in arrays]
        g = lib.tensor(gy)
        conv = lib.nn.functional.conv2d

        def fwd():
            with lib.no_grad():
                conv(x, w, b, stride, pad)

        def both():
            lib.autograd.grad([conv(x, w, b, stride, pad)], [x, w, b], [g])
        return fwd, both

    cases = []
    for name, cin, hw, cout, k, stride, pad in layers:
        arrays = [rng.standard_normal(s).astype(np.float32) for s in [(32, cin, hw, hw), (cout, cin, k, k), (cout,)]]
        out_hw = (hw + 2 * pad - k) // stride + 1
        gy = rng.standard_normal((32, cout, out_hw, out_hw)).astype(np.float32)
        (lf, lb), (tf, tb) = (runners(lib, arrays, gy, stride, pad) for lib in (lamina, torch))
        cases += [(f"{name} fwd", lf, tf), (f"{name} fwd+bwd", lb, tb)]
    return cases


def report(title, cases, reps, inner, unit):
    print(f"\n{title}")
    print(f"{'case':36s} {'lamina':>12s} {'PyTorch':>12s} {'ratio':>8s}")
    for name, lf, tf in cases:
        lt, tt = interleaved([lf, tf], reps, inner)
        scale = 1e6 if unit == "us" else 1e3
        print(f"{name:36s} {lt * scale:10.3f}{unit} {tt * scale:10.3f}{unit} {lt / tt:8.2f}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--models", nargs="*", default=list(ALL_MODELS), help="training steps to time")
    parser.add_argument("--only", choices=["elementwise", "overhead", "training", "gemm", "conv"], help="run one section")
    args = parser.parse_args()
    reps = 5 if args.quick else 15
    print(f"lamina {lamina.__version__} ({lamina._C._get_cpu_isa()}) vs torch {torch.__version__}; "
          f"ratio = lamina time / PyTorch time (below 1: lamina faster)")
    for threads in args.threads:
        lamina.set_num_threads(threads)
        torch.set_num_threads(threads)
        if args.only in (None, "elementwise"):
            report(f"threads={threads}: 1e7 float32 elements (median ms)", elementwise_cases(10_000_000), reps, 3, "ms")
        if args.only in (None, "overhead"):
            report(f"threads={threads}: per-op overhead (median us)", overhead_cases(), reps, 2000, "us")
        if args.only in (None, "training"):
            report(f"threads={threads}: training steps (median ms)", training_cases(args.models), reps, 3, "ms")
        if args.only in (None, "gemm"):
            report_gemm(f"threads={threads}: GEMM, C = A @ B into a preallocated C (median GFLOP/s)", gemm_cases(), reps)
        if args.only in (None, "conv"):
            report(f"threads={threads}: conv2d, batch 32, float32 (median ms)", conv_cases(), max(5, reps // 3), 1, "ms")


if __name__ == "__main__":
    main()
