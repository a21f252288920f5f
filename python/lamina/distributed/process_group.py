"""Process groups on MPI: init_process_group, new_group, ranks and sizes, failure notices, debug mode.

The world (one per process) owns MPI's COMM_WORLD, a duplicate of it that carries only failure
notices, and every rank's host name and pid. A rank that raises an uncaught exception sends a
notice to all others (sys.excepthook); a waiting rank reads notices and checks that its peers on
this host still run, so a failure ends every wait with an error naming the failed rank. After a
failure the world is broken: every later collective raises at once, and MPI_Finalize (which would
wait for the dead rank forever) is skipped at exit.
"""

import atexit
import datetime
import enum
import json
import os
import socket
import sys
import time

import numpy as np

from . import _mpi
from .work import DistBackendError, describe, wait_requests

default_pg_timeout = datetime.timedelta(minutes=30)   # PyTorch's default for CPU backends
_NOTICE_TAG = 77
_NOTICE_BYTES = 4096


class DebugLevel(enum.Enum):
    """torch.distributed.DebugLevel. DETAIL checks, before every collective, that all ranks of the
    group call the same collective on the same shapes and dtypes (one extra small all-gather)."""
    OFF = 0
    INFO = 1
    DETAIL = 2


_debug_level = DebugLevel.OFF
_world = None


def set_debug_level(level):
    global _debug_level
    if not isinstance(level, DebugLevel):
        raise TypeError(f"lamina.distributed.set_debug_level: expected a DebugLevel, got {level!r}")
    _debug_level = level


def get_debug_level():
    return _debug_level


class _World:
    def __init__(self, MPI, timeout):
        self.MPI = MPI
        self.comm = MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.notices = self.comm.Dup()
        self.timeout = timeout
        self.broken = None            # the reason, once a peer failed or a wait timed out
        self.current = None           # the collective this rank waits in (for its own notice)
        self._notice_buf = bytearray(_NOTICE_BYTES)
        self._notice_req = self.notices.Irecv([self._notice_buf, MPI.BYTE], source=MPI.ANY_SOURCE, tag=_NOTICE_TAG)
        self._notice_status = MPI.Status()
        self.hosts, self.pids = [], []

    def exchange_identities(self, group):
        """Every rank's (host, pid), for liveness checks and error messages."""
        me = json.dumps([socket.gethostname(), os.getpid()]).encode()
        ids = allgather_bytes(group, me, "init_process_group", 0, "host names and pids")
        self.hosts = [json.loads(b)[0] for b in ids]
        self.pids = [json.loads(b)[1] for b in ids]

    def who(self, rank):
        if rank < len(self.pids):
            return f"rank {rank} (pid {self.pids[rank]} on {self.hosts[rank]})"
        return f"rank {rank}"

    def mark_broken(self, reason):
        if self.broken is None:
            self.broken = reason

    def _dead_local_peers(self):
        here = socket.gethostname()
        dead = []
        for r, (host, pid) in enumerate(zip(self.hosts, self.pids)):
            if r == self.rank or host != here:
                continue
            try:
                os.kill(pid, 0)
                with open(f"/proc/{pid}/stat", "rb") as f:   # a zombie answers kill(0) but runs no more
                    if f.read().rsplit(b")", 1)[-1].split()[0] == b"Z":
                        dead.append(r)
            except ProcessLookupError:
                dead.append(r)
            except OSError:
                pass
        return dead

    def check_peers(self, name, what):
        """Raises DistBackendError when a peer has sent a failure notice or has died on this host."""
        if self.broken is not None:
            raise DistBackendError(f"lamina.distributed.{name}: the process group is broken ({self.broken}); "
                                   f"rank {self.rank} cannot run {what}")
        if self._notice_req.Test(self._notice_status):
            src = self._notice_status.Get_source()
            n = self._notice_status.Get_count(self.MPI.BYTE)
            text = bytes(self._notice_buf[:n]).decode("utf-8", "replace")
            self.mark_broken(f"{self.who(src)} failed: {text}")
            raise DistBackendError(f"lamina.distributed.{name}: {self.who(src)} failed: {text}; rank {self.rank} "
                                   f"was waiting in {what}")
        dead = self._dead_local_peers()
        if dead:
            names = ", ".join(self.who(r) for r in dead)
            self.mark_broken(f"{names} died")
            raise DistBackendError(f"lamina.distributed.{name}: {names} died (its process is gone) while rank "
                                   f"{self.rank} waited in {what}")

    def timed_out(self, name, what, timeout, group):
        alive = [self.who(r) for r in group.ranks if r != self.rank]
        self.mark_broken(f"{what} timed out after {timeout:g} s")
        raise DistBackendError(
            f"lamina.distributed.{name}: {what} timed out after {timeout:g} s on rank {self.rank}: no rank reported "
            f"a failure and the peers on this host still run, so a rank of [{', '.join(alive)}] has not called it "
            f"(it is slower, or waits in another collective); raise the timeout in init_process_group(timeout=...) "
            f"if it is only slow")

    def send_notice(self, text):
        """Tells every other rank that this one failed (best effort: at most one second)."""
        data = text.encode("utf-8")[:_NOTICE_BYTES]
        reqs = [self.notices.Isend([data, self.MPI.BYTE], dest=r, tag=_NOTICE_TAG)
                for r in range(self.size) if r != self.rank]
        deadline = time.monotonic() + 1.0
        while reqs and not self.MPI.Request.Testall(reqs) and time.monotonic() < deadline:
            time.sleep(0.001)

    def close(self):
        if self._notice_req is not None:
            self._notice_req.Cancel()
            self._notice_req.Wait()
            self._notice_req = None
            self.notices.Free()


class ProcessGroup:
    """A set of ranks that run collectives together (torch.distributed.ProcessGroup). Collectives
    name ranks by their global rank; `rank()` and `size()` are this process's place in the group."""

    def __init__(self, world, comm, ranks, timeout):
        self.world, self.comm, self.ranks, self.timeout = world, comm, list(ranks), timeout
        self._rank = self.ranks.index(world.rank) if world.rank in self.ranks else -1
        self.seq = 0

    def rank(self):
        return self._rank

    def size(self):
        return len(self.ranks)

    def group_rank(self, global_rank, name, role):
        if global_rank not in self.ranks:
            raise ValueError(f"lamina.distributed.{name}: {role} rank {global_rank} is not in the group {self.ranks}")
        return self.ranks.index(global_rank)

    def next_seq(self):
        self.seq += 1
        return self.seq

    def __repr__(self):
        return f"<lamina.distributed.ProcessGroup ranks={self.ranks} backend=mpi>"


def allgather_bytes(group, data, name, seq, detail):
    """Every rank's `data` (bytes), through non-blocking MPI with the group's timeout."""
    MPI = _mpi.load()
    sizes = np.zeros(group.size(), np.int64)
    wait_requests([group.comm.Iallgather(np.array([len(data)], np.int64), sizes)], group, name, seq, detail)
    displs = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    out = np.empty(int(sizes.sum()), np.uint8)
    send = np.frombuffer(data, np.uint8) if data else np.empty(0, np.uint8)
    req = group.comm.Iallgatherv([send, MPI.BYTE], [out, (sizes.tolist(), displs.tolist()), MPI.BYTE])
    wait_requests([req], group, name, seq, detail)
    return [out[d:d + s].tobytes() for d, s in zip(displs.tolist(), sizes.tolist())]


# ---- init / destroy ------------------------------------------------------------------------------

def _seconds(timeout, name):
    if timeout is None:
        return default_pg_timeout.total_seconds()
    seconds = timeout.total_seconds() if isinstance(timeout, datetime.timedelta) else timeout
    if not isinstance(seconds, (int, float)) or seconds <= 0:
        raise ValueError(f"lamina.distributed.{name}: timeout must be a positive timedelta, got {timeout!r}")
    return float(seconds)


def _check_agrees(name, what, given, actual):
    if given is not None and int(given) != actual:
        raise ValueError(f"lamina.distributed.init_process_group: {name}={given} but MPI says {what} is {actual}; "
                         f"leave it unset (MPI gives ranks and sizes) or make them agree")


def init_process_group(backend=None, init_method=None, timeout=None, world_size=-1, rank=-1, store=None,
                       group_name="", pg_options=None, device_id=None):
    """Joins the MPI job as torch.distributed.init_process_group does. Rank and world size come from
    MPI (mpiexec, srun, or lamina.distributed.run); RANK, WORLD_SIZE and LOCAL_RANK in the environment
    and the rank/world_size arguments are accepted when they agree with MPI. `timeout` bounds every
    collective of the default group: a wait that outlasts it raises DistBackendError."""
    global _world, _default_group
    if backend not in (None, "mpi", "cpu:mpi"):
        raise ValueError(f"lamina.distributed.init_process_group: backend {backend!r} is not available; lamina "
                         f"runs on MPI: use backend='mpi' (or leave it out)")
    if init_method not in (None, "env://"):
        raise ValueError(f"lamina.distributed.init_process_group: init_method {init_method!r} is not supported: MPI "
                         f"starts and connects the ranks (use None or 'env://')")
    if store is not None:
        raise ValueError("lamina.distributed.init_process_group: store is not supported: MPI connects the ranks")
    if _default_group is not None:
        raise ValueError("lamina.distributed.init_process_group: trying to initialize the default process group twice!")
    seconds = _seconds(timeout, "init_process_group")
    MPI = _mpi.load()
    if _world is None:
        _world = _World(MPI, seconds)
        _install_failure_hooks()
    _world.timeout, _world.broken = seconds, None
    world = _world
    _check_agrees("rank", "this rank", None if rank == -1 else rank, world.rank)
    _check_agrees("world_size", "the world size", None if world_size == -1 else world_size, world.size)
    _check_agrees("RANK", "this rank", os.environ.get("RANK"), world.rank)
    _check_agrees("WORLD_SIZE", "the world size", os.environ.get("WORLD_SIZE"), world.size)
    group = ProcessGroup(world, world.comm, range(world.size), seconds)
    world.exchange_identities(group)
    _default_group = group


_default_group = None


def is_initialized():
    return _default_group is not None


def is_mpi_available():
    """True when mpi4py can be imported (without initializing MPI)."""
    import importlib.util
    return importlib.util.find_spec("mpi4py") is not None


def default_group(name):
    if _default_group is None:
        raise ValueError(f"lamina.distributed.{name}: Default process group has not been initialized, please make "
                         f"sure to call init_process_group.")
    return _default_group


def resolve(group, name):
    return default_group(name) if group is None else group


def get_rank(group=None):
    """This process's rank in `group` (the default group when None); -1 when it is not a member."""
    return resolve(group, "get_rank").rank()


def get_world_size(group=None):
    return resolve(group, "get_world_size").size()


def get_backend(group=None):
    resolve(group, "get_backend")
    return "mpi"


def get_process_group_ranks(group):
    return list(resolve(group, "get_process_group_ranks").ranks)


def new_group(ranks=None, timeout=None, backend=None, pg_options=None, use_local_synchronization=False,
              group_desc=None):
    """A group of the given global ranks (all when None). Every rank of the default group must call
    it, with the same ranks, as in PyTorch; a rank outside `ranks` gets a group it is not a member of."""
    world_group = default_group("new_group")
    if backend not in (None, "mpi", "cpu:mpi"):
        raise ValueError(f"lamina.distributed.new_group: backend {backend!r} is not available (lamina runs on MPI)")
    members = sorted(range(world_group.size()) if ranks is None else {int(r) for r in ranks})
    bad = [r for r in members if not 0 <= r < world_group.size()]
    if bad:
        raise ValueError(f"lamina.distributed.new_group: ranks {bad} are outside the world of size {world_group.size()}")
    seq = world_group.next_seq()
    # Agree on the membership first, with a timeout: MPI's Comm.Split would wait forever for a rank
    # that never calls new_group, or mix up two different calls.
    everyone = allgather_bytes(world_group, json.dumps(members).encode(), "new_group", seq, f"ranks {members}")
    for r, b in enumerate(everyone):
        if json.loads(b) != members:
            raise RuntimeError(f"lamina.distributed.new_group: rank {world_group.world.rank} asked for ranks {members} "
                               f"but rank {r} for ranks {json.loads(b)}")
    MPI = _mpi.load()
    member = world_group.world.rank in members
    comm = world_group.comm.Split(0 if member else MPI.UNDEFINED, world_group.world.rank)
    group = ProcessGroup(world_group.world, comm if member else None, members,
                         _seconds(timeout, "new_group") if timeout is not None else world_group.timeout)
    group.owns_comm = member
    return group


def destroy_process_group(group=None):
    """Frees `group` (the default group and every other one when None). MPI itself stays up, so
    init_process_group may be called again."""
    global _default_group
    if group is not None and group is not _default_group:
        if getattr(group, "owns_comm", False) and group.comm is not None:
            group.comm.Free()
            group.comm = None
        return
    default_group("destroy_process_group")
    _default_group = None


# ---- failures ------------------------------------------------------------------------------------

def _install_failure_hooks():
    previous = sys.excepthook

    def excepthook(kind, value, tb):
        world = _world
        if world is not None and world.size > 1:
            where = f" in {describe(*world.current)}" if world.current else ""
            try:
                world.send_notice(f"{kind.__name__}{where}: {value}")
            except Exception:   # the notice is best effort; the traceback below must still print
                pass
            world.mark_broken(f"rank {world.rank} raised {kind.__name__}")
        previous(kind, value, tb)

    sys.excepthook = excepthook
    atexit.register(_at_exit)


def _at_exit():
    """MPI_Finalize waits for every rank, forever if one died; so the ranks first meet in a barrier
    with the timeout, and a broken world skips MPI_Finalize."""
    world = _world
    if world is None:
        return
    if world.broken is None and world.size > 1:
        # On the notices communicator: a barrier on COMM_WORLD could match a collective a peer left
        # unfinished, and let this rank into MPI_Finalize while that peer is gone.
        group = ProcessGroup(world, world.notices, range(world.size), world.timeout)
        try:
            wait_requests([world.notices.Ibarrier()], group, "destroy_process_group", 0, "the barrier at exit")
        except DistBackendError as e:
            print(f"lamina.distributed: rank {world.rank} exits without MPI_Finalize: {e}", file=sys.stderr)
    if world.broken is None:
        world.close()
        if _mpi.owns_finalize:
            world.MPI.Finalize()
    elif not _mpi.owns_finalize:
        # mpi4py would call MPI_Finalize after us and wait for the failed rank forever.
        sys.stdout.flush(), sys.stderr.flush()
        os._exit(1)
