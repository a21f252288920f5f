"""lamina.distributed's collectives on 2 MPI ranks against numpy references (workers/collectives.py),
the launcher's thread budget, and what happens without MPI."""

import sys

import lamina.distributed as dist
import pytest
from lamina.distributed import _mpi
from lamina.distributed import run as launcher
from mpi_launch import RANKS, launch, load_worker

CHECKS = [c.__name__ for c in load_worker("collectives.py").CHECKS]


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    proc, reports = launch("collectives.py", tmp_path_factory.mktemp("collectives"))
    assert all(reports), f"a rank wrote no report (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return reports


@pytest.mark.parametrize("check", CHECKS)
def test_collective_on_every_rank(reports, check):
    for rank, report in enumerate(reports):
        assert report["checks"][check] == "ok", f"rank {rank}:\n{report['checks'][check]}"


def test_launcher_splits_the_thread_budget(reports):
    expected = max(1, launcher.cores() // RANKS)
    for report in reports:
        assert report["facts"]["check_thread_budget"] == {"LAMINA_NUM_THREADS": str(expected), "threads": expected}


def test_launcher_refuses_oversubscription():
    assert launcher.threads_per_rank(2, None, False, 2) == 1
    assert launcher.threads_per_rank(2, None, False, 16) == 8
    with pytest.raises(ValueError, match="3 ranks x 1 threads = 3 threads on 2 cores"):
        launcher.threads_per_rank(3, None, False, 2)
    with pytest.raises(ValueError, match="2 ranks x 2 threads = 4 threads on 2 cores"):
        launcher.threads_per_rank(2, 2, False, 2)
    assert launcher.threads_per_rank(3, None, True, 2) == 1


def test_launcher_keeps_script_arguments():
    assert launcher._split(["-n", "2", "-m", "pkg.mod", "--ddp", "-n", "5"]) == (["-n", "2"],
                                                                                 ["-m", "pkg.mod", "--ddp", "-n", "5"])
    assert launcher._split(["--oversubscribe", "-n", "2", "train.py", "--lr", "1"]) == (
        ["--oversubscribe", "-n", "2"], ["train.py", "--lr", "1"])


def test_without_mpi4py_init_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)   # makes `import mpi4py` fail
    monkeypatch.setattr(_mpi, "_MPI", None)
    with pytest.raises(ImportError, match=r'pip install "lamina\[distributed\]"'):
        dist.init_process_group()
    assert not dist.is_initialized()


def test_collectives_before_init_raise():
    with pytest.raises(ValueError, match="all_reduce: Default process group has not been initialized"):
        dist.all_reduce(lamina_ones())


def lamina_ones():
    import lamina
    return lamina.ones(2)
