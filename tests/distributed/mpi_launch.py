"""Runs worker scripts on 2 MPI ranks (through lamina.distributed.run, so the launcher is tested too)
and hands each rank's JSON report to the tests; skips, saying why, when MPI is not installed."""

import importlib.util
import json
import os
import signal
import subprocess
import sys

import lamina
import pytest
from lamina.distributed import run as launcher

WORKERS = os.path.join(os.path.dirname(__file__), "workers")
RANKS = 2


def mpi_missing():
    """Why the MPI tests cannot run here, or None."""
    if importlib.util.find_spec("mpi4py") is None:
        return 'mpi4py is not installed (pip install ".[distributed]")'
    if launcher.find_mpiexec() is None:
        return 'no mpiexec found (pip install ".[distributed]" installs MPICH\'s)'
    return None


def launch(worker, tmp_path, *args, timeout=60, ranks=RANKS):
    """Runs workers/<worker> on `ranks` ranks; returns (CompletedProcess, [report of rank 0, 1, ...]).
    A rank's report is the JSON it wrote to OUT/rank<r>.json (None when it wrote none)."""
    reason = mpi_missing()
    if reason:
        pytest.skip(f"MPI tests need MPI: {reason}")
    out = tmp_path / worker.replace(".py", "")
    out.mkdir(exist_ok=True)
    root = os.path.dirname(os.path.dirname(lamina.__file__))   # the workers import this lamina
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    cmd = [sys.executable, "-m", "lamina.distributed.run", "-n", str(ranks), "--oversubscribe",
           os.path.join(WORKERS, worker), str(out), *args]
    proc = run_bounded(cmd, timeout, env)
    reports = []
    for r in range(ranks):
        path = out / f"rank{r}.json"
        reports.append(json.loads(path.read_text()) if path.exists() else None)
    return proc, reports


def run_bounded(cmd, timeout, env, cwd=None):
    """subprocess.run that, on timeout, kills the launcher, mpiexec and every rank (a new session)."""
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=cwd,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"{' '.join(cmd)} ran past {timeout} s and was killed:\n{out}\n{err}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def load_worker(worker):
    """The worker module itself (for its list of checks), without running it."""
    if WORKERS not in sys.path:
        sys.path.insert(0, WORKERS)   # for the workers' `from worker_harness import ...`
    spec = importlib.util.spec_from_file_location(worker.replace(".py", ""), os.path.join(WORKERS, worker))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
