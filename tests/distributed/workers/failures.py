"""A rank fails and the other must say so within the timeout (run by test_failures.py).

argv: OUT MODE. MODE kill: rank 1 kills itself (SIGKILL) before a collective; exit: rank 1 ends its
process at once (os._exit, no notice); raise: rank 1 raises;
slow: rank 1 is alive but joins long after the 1 s timeout. Rank 0 records the error it gets."""

import datetime
import os
import signal
import sys
import time

import lamina
import lamina.distributed as dist
from worker_harness import write_report

MODE = sys.argv[2]
dist.init_process_group("mpi", timeout=datetime.timedelta(seconds=1 if MODE == "slow" else 10))
rank = dist.get_rank()
dist.all_reduce(lamina.ones(2))          # both ranks are up and in step
if rank == 1:
    time.sleep(0.2)
    if MODE == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if MODE == "exit":     # dies at once, no notice, no cleanup (as a crash in native code would)
        os._exit(3)
    if MODE == "raise":
        raise ValueError("rank 1 gives up on purpose")
    time.sleep(4)
    write_report(rank, {"slept": True})
    sys.exit(0)
start = time.monotonic()
try:
    dist.all_reduce(lamina.ones(5))
    error = None
except Exception as e:
    error = f"{type(e).__name__}: {e}"
write_report(rank, {"error": error, "seconds": time.monotonic() - start})
