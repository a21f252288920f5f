"""python -m lamina.distributed.run -n N [--threads-per-rank T] [--oversubscribe] (script.py | -m module) ARGS

Starts N ranks of a training script on this machine with the installed MPI's mpiexec, and splits one
intra-op thread budget across them: each rank gets LAMINA_NUM_THREADS = cores // N (at least 1), and
N x threads may not exceed the cores unless --oversubscribe is given (ranks that share cores slow
each other down far more than they gain). With MPICH, the other ranks are kept alive when one fails
(-disable-auto-cleanup), so they can report which rank failed and in which collective before they
exit, instead of being killed without a word. Exits with mpiexec's exit status.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import sysconfig


def find_mpiexec():
    """The mpiexec of the MPI installed beside this Python (pip's mpich), else the one on PATH."""
    candidate = os.path.join(sysconfig.get_path("scripts"), "mpiexec")
    if os.access(candidate, os.X_OK):
        return candidate
    return shutil.which("mpiexec")


def _flavor(mpiexec):
    try:
        out = subprocess.run([mpiexec, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if "HYDRA" in out or "MPICH" in out:
        return "mpich"
    if "Open MPI" in out or "OpenRTE" in out:
        return "openmpi"
    return "unknown"


def cores():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def threads_per_rank(nproc, requested, oversubscribe, available):
    """The intra-op threads of each rank; raises ValueError when nproc x threads would exceed the cores."""
    threads = requested if requested is not None else max(1, available // nproc)
    if nproc * threads > available and not oversubscribe:
        raise ValueError(f"lamina.distributed.run: {nproc} ranks x {threads} threads = {nproc * threads} threads on "
                         f"{available} cores; use fewer ranks or threads, or pass --oversubscribe")
    return threads


def command(mpiexec, flavor, nproc, threads, target):
    env_args = []
    if flavor == "mpich":
        env_args = ["-disable-auto-cleanup", "-genv", "LAMINA_NUM_THREADS", str(threads),
                    "-genv", "OMP_NUM_THREADS", str(threads)]
    elif flavor == "openmpi":
        env_args = ["-x", f"LAMINA_NUM_THREADS={threads}", "-x", f"OMP_NUM_THREADS={threads}"]
    return [mpiexec, "-n", str(nproc), *env_args, sys.executable, *target]


def _split(argv):
    """(launcher options, target): the target starts at the script or at -m MODULE, and everything
    after it belongs to the script, even arguments that look like the launcher's."""
    with_value = ("-n", "--nproc", "--threads-per-rank")
    i = 0
    while i < len(argv):
        tok = argv[i]
        if tok == "-m":
            return argv[:i], argv[i:]
        if tok in with_value:
            i += 2
        elif tok.startswith("-"):
            i += 1
        else:
            return argv[:i], argv[i:]
    return argv, []


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m lamina.distributed.run", description=__doc__.splitlines()[0],
                                     usage="%(prog)s -n N [--threads-per-rank T] [--oversubscribe] "
                                           "(script.py | -m module) [args ...]")
    parser.add_argument("-n", "--nproc", type=int, required=True, help="number of ranks")
    parser.add_argument("--threads-per-rank", type=int, help="intra-op threads of each rank (default: cores // N)")
    parser.add_argument("--oversubscribe", action="store_true", help="allow ranks x threads > cores")
    options, target = _split(sys.argv[1:] if argv is None else list(argv))
    args = parser.parse_args(options)
    if args.nproc < 1:
        parser.error(f"-n must be at least 1, got {args.nproc}")
    if not target or target == ["-m"]:
        parser.error("give a script (or -m module) to run")
    try:
        threads = threads_per_rank(args.nproc, args.threads_per_rank, args.oversubscribe, cores())
    except ValueError as e:
        parser.error(str(e))
    mpiexec = find_mpiexec()
    if mpiexec is None:
        from ._mpi import INSTALL_HINT
        print(f"lamina.distributed.run: no mpiexec found: {INSTALL_HINT}", file=sys.stderr)
        return 2
    env = dict(os.environ, LAMINA_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    proc = subprocess.Popen(command(mpiexec, _flavor(mpiexec), args.nproc, threads, target), env=env)
    # mpiexec stops its ranks when it gets SIGTERM or SIGINT itself; this launcher must not die first.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: proc.send_signal(signum))
    return proc.wait()


if __name__ == "__main__":
    sys.exit(main())
