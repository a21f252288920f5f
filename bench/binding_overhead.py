"""Per-call overhead of small ops, and a few kernels on 1e7 float32 elements, compared between two
lamina builds (for instance the bindings at -O3 and at -O1): each build runs in its own process on
one thread, the processes alternate, and the table shows the median over rounds of each case's
median time per call, and their ratio (B / A).

    python bench/binding_overhead.py PYTHONPATH_A PYTHONPATH_B [--rounds 5]

A PYTHONPATH is a folder holding a `lamina` package with its built `_C` module.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

# name: (expression, calls per timing)
CASES = {
    "a + b (4 elements)": ("a + b", 20000),
    "a.add(b, alpha=2)": ("a.add(b, alpha=2)", 20000),
    "lamina.relu(a)": ("lamina.relu(a)", 20000),
    "m.sum(dim=1)": ("m.sum(dim=1)", 20000),
    "m[1:3, 2]": ("m[1:3, 2]", 20000),
    "m.view(64)": ("m.view(64)", 20000),
    "m.shape": ("m.shape", 20000),
    "lamina.tensor([1., 2., 3.])": ("lamina.tensor([1.0, 2.0, 3.0])", 20000),
    "(w * 2).sum().backward()": ("(w * 2).sum().backward()", 20000),
    "x + x (1e7)": ("x + x", 20),
    "gelu(x) (1e7)": ("lamina.gelu(x)", 10),
    "silu(x) (1e7)": ("lamina.silu(x)", 10),
    "relu(x) (1e7)": ("lamina.relu(x)", 20),
    "x.sum() (1e7)": ("x.sum()", 40),
}

CHILD = r"""
import json, statistics, sys, time
import lamina
lamina.set_num_threads(1)
a = lamina.randn(4); b = lamina.randn(4); m = lamina.randn(8, 8); w = lamina.randn(4, requires_grad=True)
x = lamina.randn(10_000_000)
cases = json.loads(sys.argv[1])
out = {}
for name, (expr, calls) in cases.items():
    f = eval("lambda: " + expr)
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


def run(path):
    env = dict(os.environ, PYTHONPATH=path)
    r = subprocess.run([sys.executable, "-c", CHILD, json.dumps(CASES)], env=env, capture_output=True, text=True,
                       check=True)
    return json.loads(r.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    results = {"a": [], "b": []}
    for _ in range(args.rounds):  # alternate, so drifts of a noisy machine hit both
        results["a"].append(run(args.a))
        results["b"].append(run(args.b))
    print("| case | A µs | B µs | B / A |\n|---|---|---|---|")
    for name in CASES:
        ta = statistics.median(r[name] for r in results["a"]) / 1e3
        tb = statistics.median(r[name] for r in results["b"]) / 1e3
        print(f"| {name} | {ta:.3g} | {tb:.3g} | {tb / ta:.2f} |")


if __name__ == "__main__":
    main()
