"""DistributedDataParallel on 2 MPI ranks (workers/ddp.py): the same training as one process on the
global batch, bitwise the same across ranks and from run to run, no_sync, buckets, unused parameters;
and the digits example trained with --ddp."""

import pytest
from mpi_launch import launch, load_worker

CHECKS = [c.__name__ for c in load_worker("ddp.py").CHECKS]
DIGESTS = ["check_tiny_mlp_matches_one_process", "check_digits_cnn_matches_one_process",
           "check_digits_cnn_training_mode_bytes"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two independent 2-rank runs of the worker."""
    out = []
    for i in range(2):
        proc, reports = launch("ddp.py", tmp_path_factory.mktemp(f"ddp{i}"))
        assert all(reports), f"a rank wrote no report (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
        out.append(reports)
    return out


@pytest.mark.parametrize("check", CHECKS)
def test_ddp_on_every_rank(runs, check):
    for rank, report in enumerate(runs[0]):
        assert report["checks"][check] == "ok", f"rank {rank}:\n{report['checks'][check]}"


@pytest.mark.parametrize("check", DIGESTS)
def test_ddp_is_bitwise_repeatable_across_ranks_and_runs(runs, check):
    digests = {run[rank]["facts"][check] for run in runs for rank in range(len(run))}
    assert len(digests) == 1, digests


def test_digits_example_trains_with_ddp(tmp_path):
    pytest.importorskip("sklearn")
    proc, _ = launch_example(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert sum(line.startswith("digits (cnn)") for line in lines) == 1, proc.stdout   # rank 0 alone prints
    assert "per rank, 2 ranks" in proc.stdout
    accuracy = float(next(line for line in lines if line.startswith("final test accuracy")).split()[-1][:-1])
    assert accuracy > 90, proc.stdout   # 3 of the 15 epochs; the full run reaches about 98%, as one process
    assert (tmp_path / "run" / "digits.safetensors").exists()


def launch_example(tmp_path):
    import os
    import sys

    import lamina
    from mpi_launch import mpi_missing, run_bounded
    reason = mpi_missing()
    if reason:
        pytest.skip(f"MPI tests need MPI: {reason}")
    root = os.path.dirname(os.path.dirname(lamina.__file__))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    cmd = [sys.executable, "-m", "lamina.distributed.run", "-n", "2", "--oversubscribe", "-m", "lamina.examples.digits",
           "--ddp", "--epochs", "3", "--no-progress", "--out", str(tmp_path / "run")]
    return run_bounded(cmd, 120, env, cwd=tmp_path), None
