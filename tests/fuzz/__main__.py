"""Command line: `python -m tests.fuzz run ...` and `python -m tests.fuzz replay CASE.json`."""

import argparse
import sys

import numpy as np

from . import campaign, cases
from .compare import compare_traces
from .supervisor import Workers


def replay(path):
    program, arrays, report = cases.read_case(path)
    print(f"case {path}: {report.get('kind')} in {report.get('op')} (step {report.get('step')})")
    print(f"  {report.get('detail', '')}")
    with Workers() as workers:
        lam, ref = workers.run(program, arrays)
    for i, spec in enumerate(program["leaves"]):
        data = np.array2string(arrays[i], threshold=50, separator=",").replace("\n", "")
        print(f"leaf {i}: {spec}\n  base data {data}")
    results = [("lamina", lam)] + ([("torch", ref)] if ref is not None else [])
    for name, result in results:
        if result.status != "ok":
            print(f"{name}: {result.status} (exit {result.returncode}) in {result.op}\n{result.stderr[-3000:]}")
    for i, step in enumerate(program["steps"]):
        print(f"step {i}: {step['op']} inputs {step['inputs']}")
        for name, result in results:
            if result.status == "ok" and i < len(result.trace["steps"]):
                record = result.trace["steps"][i]
                print(f"  {name:6s} args {record['args']}")
                for key in ("out", "grad", "grad2"):
                    print(f"  {name:6s} {key:5s} {show(record[key])}")
    if lam.status == "ok" and ref is not None and ref.status == "ok":
        print(f"first difference: {compare_traces(program, lam.trace, ref.trace)}")
    return 0


def show(value):
    if value is None:
        return "-"
    if value[0] == "tensor":
        _, dtype, shape, grad, data = value
        text = "(too large)" if data is None else np.array2string(data, threshold=40).replace("\n", " ")
        return f"{dtype} {list(shape)}{' requires_grad' if grad else ''} {text}"
    if value[0] == "tuple":
        return "(" + ", ".join(show(v) for v in value[1]) + ")"
    return " ".join(str(v) for v in value)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="generate and run programs, write cases for what disagrees")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--programs", type=int, help="how many programs (default: 1000 unless --seconds)")
    run.add_argument("--seconds", type=float, help="stop after this long")
    run.add_argument("--out", default="fuzz-cases", help="folder for case files (default fuzz-cases/)")
    run.add_argument("--timeout", type=float, default=10.0, help="seconds per program before it is a hang")
    run.add_argument("--no-torch", action="store_true", help="lamina only: crashes and hangs")
    run.add_argument("-v", "--verbose", action="store_true", help="print each finding as it happens")
    run.add_argument("--fail-on-crash-only", action="store_true",
                     help="exit 1 only for crashes, hangs and sanitizer reports (disagreements are listed)")
    play = sub.add_parser("replay", help="run a case file again and print both sides")
    play.add_argument("case")
    args = parser.parse_args(argv)
    if args.command == "replay":
        return replay(args.case)
    programs = args.programs if args.programs or args.seconds else 1000
    summary = campaign.run(args.seed, programs, args.seconds, args.out, args.timeout, not args.no_torch,
                           log=print if args.verbose else None)
    print(summary.text())
    if args.fail_on_crash_only:
        return 1 if summary.crashes or summary.hangs else 0
    return 1 if summary.failures else 0


if __name__ == "__main__":
    sys.exit(main())
