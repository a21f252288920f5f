"""Time and peak memory of lamina.save / lamina.load on a large checkpoint (default 1 GiB of float32
in 64 tensors, a state dict). Each save and each load runs in a fresh process, so its peak RSS
(ru_maxrss) belongs to that one call; the extra memory is that peak minus the RSS just before the
call. A load that reads each tensor straight into its final buffer needs about 1x the checkpoint;
reading the file whole and then copying it out needs about 2x. Loads read a file the page cache
already holds (the save just wrote it), so their times are warm-cache times.
load_mmap is lamina.load(path, mmap=True): tensors over a copy-on-write mapping of the file,
checksums verified in 8 MiB pieces whose pages are dropped right after; "then read" is the RSS
once every tensor has been summed (the pages are then mapped in, from the page cache).

    PYTHONPATH=python python bench/checkpoint_memory.py [--gib 1] [--reps 3] [--dir /tmp]
        [--impl path/to/serialization.py]   # time another implementation (e.g. an older commit's)
"""

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

_TENSORS = 64


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _serialization(impl):
    import lamina
    if not impl:
        return lamina
    spec = importlib.util.spec_from_file_location("lamina._bench_serialization", impl)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # relative imports resolve inside the lamina package
    return module


def _child(args):
    import lamina
    io_module = _serialization(args.impl)
    numel = int(args.gib * 2 ** 30) // 4 // _TENSORS
    if args.child == "save":
        state = {f"layer{i}.weight": lamina.randn(numel) for i in range(_TENSORS)}
        before = _rss_bytes()
        start = time.perf_counter()
        io_module.save(state, args.path)
    else:
        kwargs = {"mmap": True} if args.child == "load_mmap" else {}
        before = _rss_bytes()
        start = time.perf_counter()
        state = io_module.load(args.path, **kwargs)
        assert len(state) == _TENSORS and state["layer0.weight"].numel() == numel
    seconds = time.perf_counter() - start
    result = {"seconds": seconds, "before": before, "peak": _peak_bytes()}
    if args.child == "load_mmap":
        result["after"] = _rss_bytes()
        sum(t.sum().item() for t in state.values())
        result["after_read"] = _rss_bytes()
    print(json.dumps(result))


def _run(kind, path, args):
    command = [sys.executable, os.path.abspath(__file__), "--child", kind, "--path", path, "--gib", str(args.gib)]
    if args.impl:
        command += ["--impl", args.impl]
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=os.environ)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--dir", default=None, help="folder for the checkpoint file (default: a temp dir)")
    parser.add_argument("--impl", default=None)
    parser.add_argument("--child", choices=["save", "load", "load_mmap"], help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _child(args)
    gib = 2 ** 30
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        path = os.path.join(folder, "ckpt.safetensors")
        results = {"save": [], "load": [], "load_mmap": []}
        for _ in range(args.reps):
            for kind in ("save", "load", "load_mmap"):
                results[kind].append(_run(kind, path, args))
        size = os.path.getsize(path)
    print(f"checkpoint: {_TENSORS} float32 tensors, file {size / gib:.3f} GiB"
          + (f", implementation {args.impl}" if args.impl else ""))
    for kind, runs in results.items():
        seconds = statistics.median(r["seconds"] for r in runs)
        extra = max(0, max(r["peak"] - r["before"] for r in runs))  # statm and ru_maxrss differ by pages
        peak = max(r["peak"] for r in runs)
        print(f"{kind}: median {seconds:6.2f} s ({size / gib / seconds:5.2f} GiB/s), peak RSS {peak / gib:5.2f} GiB, "
              f"extra over the RSS before the call {extra / gib:5.2f} GiB ({extra / size:4.2f}x the file)")
        if kind == "load_mmap":
            after = max(r["after"] - r["before"] for r in runs)
            read = max(r["after_read"] - r["before"] for r in runs)
            print(f"  load_mmap: RSS over before {after / gib:5.2f} GiB when load returns, "
                  f"{read / gib:5.2f} GiB after reading every tensor (file pages, from the page cache)")


if __name__ == "__main__":
    main()
