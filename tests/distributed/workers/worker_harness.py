"""What the MPI workers share: run named checks on every rank and write each rank's report.

A worker calls `run_checks(CHECKS)`: each check runs on every rank, and the report (OUT/rank<r>.json,
OUT from argv[1]) maps its name to "ok" or to the error it raised, with the rank's extra facts."""

import datetime
import json
import os
import sys
import traceback

import lamina.distributed as dist


def out_path(rank):
    return os.path.join(sys.argv[1], f"rank{rank}.json")


def write_report(rank, report):
    with open(out_path(rank) + ".tmp", "w") as f:
        json.dump(report, f)
    os.replace(out_path(rank) + ".tmp", out_path(rank))


def run_checks(checks, timeout_s=20):
    dist.init_process_group("mpi", timeout=datetime.timedelta(seconds=timeout_s))
    rank = dist.get_rank()
    report, facts = {}, {}
    for check in checks:
        try:
            result = check(rank, dist.get_world_size())
            report[check.__name__] = "ok"
            if result is not None:
                facts[check.__name__] = result
        except Exception:
            report[check.__name__] = traceback.format_exc()
        dist.set_debug_level(dist.DebugLevel.OFF)
    write_report(rank, {"checks": report, "facts": facts})
    dist.destroy_process_group()
