"""lamina.multiprocessing: tensors shared across processes (queues, Process arguments, spawn),
Hogwild training under fork / spawn / forkserver, no shared memory left behind after SIGKILL,
spawn()'s error reports, DataLoader batches through shared memory, pickle and deepcopy."""

import copy
import gc
import os
import pickle
import signal
import time
from multiprocessing.reduction import ForkingPickler

import numpy as np
import pytest

import lamina
import lamina.multiprocessing as mp
import lamina.nn.functional as F
from lamina.utils.data import DataLoader, Dataset

METHODS = ["fork", "spawn", "forkserver"]
_SEGMENT = "memfd:lamina-shared"  # how /proc shows a segment (see multiprocessing/_shared.py)


@pytest.fixture(autouse=True)
def _children_find_lamina(monkeypatch):
    # spawn and forkserver children start a fresh interpreter: make sure it imports this lamina.
    root = os.path.dirname(os.path.dirname(lamina.__file__))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))


def _segments_mapped():
    with open("/proc/self/maps") as f:
        return sum(_SEGMENT in line for line in f)


def _segments_open():
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            n += _SEGMENT in os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            pass
    return n


# ---- functions run in child processes (module level, so spawn can pickle them) ---------------

def _modify(arg, view, q, done):
    arg.add_(1)
    view.add_(10)  # a second tensor on the same segment: both map the same memory
    q.get().fill_(7)
    done.put(os.getpid())


def _hogwild(rank, model, x, y, steps, done):
    lamina.set_num_threads(1)
    lamina.manual_seed(100 + rank)
    opt = lamina.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(steps):
        idx = lamina.randint(0, x.shape[0], (16,))
        loss = F.mse_loss(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    done[rank] = steps


def _echo(q_in, q_out):
    while True:
        item = q_in.get()
        if item is None:
            return
        q_out.put(item)
        q_out.put([(type(t).__name__, t.requires_grad, t.grad is None, t.is_shared()) for t in item])


def _send_and_hang(q_in, q_out):
    received = q_in.get()
    mine = lamina.arange(float(1 << 20))  # 4 MiB, created (and shared) by this process
    q_out.put((received, mine))
    time.sleep(60)  # killed long before


def _send_and_exit(q):
    q.put(lamina.full((1000,), 3.0))  # returns at once: the exit waits until the parent took it


def _double(t):
    t.mul_(2)
    return t.sum().item()


def _fail(i, mode):
    if i == 1:
        if mode == "raise":
            raise ValueError(f"boom in {i}")
        if mode == "exit":
            os._exit(3)
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(30)  # stopped by the parent once process 1 has failed


def _write_index(i, out):
    out[i] = i + 10


# ---- sharing between processes ------------------------------------------------------------------

@pytest.mark.parametrize("method", METHODS)
def test_child_writes_are_seen_by_parent(method):
    ctx = mp.get_context(method)
    # Fork passes arguments by inheritance, so only memory shared beforehand is shared.
    arg = lamina.zeros(5).share_memory_()
    queued = lamina.zeros(2, 3)  # not shared yet: putting it on the queue moves it (as PyTorch)
    q, done = ctx.Queue(), ctx.Queue()
    p = ctx.Process(target=_modify, args=(arg, arg[2:], q, done))
    p.start()
    q.put(queued)
    assert done.get(timeout=60) == p.pid
    p.join()
    assert p.exitcode == 0
    assert arg.tolist() == [1.0, 1.0, 11.0, 11.0, 11.0] and arg.is_shared()
    assert queued.tolist() == [[7.0] * 3] * 2 and queued.is_shared()


@pytest.mark.parametrize("method", METHODS)
def test_hogwild_training(method):
    lamina.manual_seed(0)
    x = lamina.randn(256, 4)
    y = x @ lamina.tensor([[1.0, -2.0, 0.5, 3.0]]).t() + 0.7
    model = lamina.nn.Linear(4, 1).share_memory()
    done = lamina.zeros(2, dtype=lamina.int64).share_memory_()
    weight = model.weight.detach().clone()
    with lamina.no_grad():
        before = F.mse_loss(model(x), y).item()
    mp.start_processes(_hogwild, args=(model, x, y, 300, done), nprocs=2, start_method=method)
    # The parent never trained: what it sees is the two workers' lock-free updates.
    assert done.tolist() == [300, 300]
    assert not lamina.equal(model.weight.detach(), weight)
    with lamina.no_grad():
        after = F.mse_loss(model(x), y).item()
    assert after < 1e-3 * before
    assert model.weight.is_shared() and model.weight.grad is None


def test_queue_round_trip_keeps_types_views_and_memory():
    ctx = mp.get_context("spawn")
    q_in, q_out = ctx.Queue(), ctx.Queue()
    p = ctx.Process(target=_echo, args=(q_in, q_out))
    p.start()
    try:
        base = lamina.arange(24.0).reshape(4, 6)
        grad_leaf = lamina.randn(3, requires_grad=True)
        (grad_leaf * 2).sum().backward()
        items = [
            lamina.nn.Parameter(lamina.randn(2, 3)),
            lamina.nn.Parameter(lamina.ones(2), requires_grad=False),
            grad_leaf,
            lamina.tensor([1.5, -2.0], dtype=lamina.float64),
            lamina.tensor([[1, 2], [3, 4]], dtype=lamina.int32),
            lamina.tensor([1 << 40, -5]),
            lamina.tensor([True, False, True]),
            lamina.tensor(2.5),
            lamina.empty(0, 3),
            base.t(),
            base[1:, 1:5:2],
            base[::2],
            lamina.tensor([1.0, 2.0]).expand(3, 2),
        ]
        expected = [(t.tolist(), t.dtype, tuple(t.shape)) for t in items]
        q_in.put(items)
        back = q_out.get(timeout=60)
        info = q_out.get(timeout=60)
    finally:
        q_in.put(None)
        p.join(60)
    assert [type(t).__name__ for t, _ in zip(items, info)] == [name for name, *_ in info]
    assert [rg for _, rg, _, _ in info] == [t.requires_grad for t in items]
    assert all(no_grad for _, _, no_grad, _ in info)  # .grad does not travel (PyTorch)
    assert all(shared for *_, shared in info)
    for orig, got, (values, dtype, shape) in zip(items, back, expected):
        assert type(got) is type(orig) and got.requires_grad == orig.requires_grad
        assert got.tolist() == values and got.dtype == dtype and tuple(got.shape) == shape
        assert got.stride() == orig.stride() and got.is_shared() and orig.is_shared()
        if orig.numel():
            # The segment came back to the process that made it: it is mapped once, so the
            # round trip lands on the very same memory.
            assert got.data_ptr() == orig.data_ptr()
    assert grad_leaf.grad.tolist() == [2.0] * 3


def test_views_share_memory_after_the_move():
    base = lamina.arange(12.0).reshape(3, 4)
    view = base[1:, 1:3]
    view.share_memory_()  # moves the whole storage, as PyTorch: `base` is shared too
    assert view.is_shared() and base.is_shared()  # (tests/test_share_memory_views.py: more)
    assert view.tolist() == [[5.0, 6.0], [9.0, 10.0]] and view.stride() == (4, 1)
    row = view[1]  # a view of the shared tensor is shared too
    row.fill_(0)
    assert row.is_shared() and view.tolist() == [[5.0, 6.0], [0.0, 0.0]]


def test_non_leaf_requiring_grad_is_refused():
    x = lamina.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="Cowardly refusing to serialize non-leaf tensor"):
        ForkingPickler.dumps(x * 2)
    detached = pickle.loads(ForkingPickler.dumps((x * 2).detach()))
    assert detached.tolist() == [2.0, 2.0] and detached.is_shared()


def test_sender_may_exit_right_after_sending():
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_send_and_exit, args=(q,))
    p.start()
    time.sleep(0.3)  # the child is already in its exit, waiting for us to take the tensor
    t = q.get(timeout=60)
    p.join(30)
    assert p.exitcode == 0 and t.tolist() == [3.0] * 1000 and t.is_shared()


def test_pool_shares_tensor_arguments():
    tensors = [lamina.ones(4), lamina.full((2,), 5.0)]
    with mp.get_context("fork").Pool(2) as pool:
        sums = pool.map(_double, tensors)
    assert sums == [8.0, 20.0]
    assert [t.tolist() for t in tensors] == [[2.0] * 4, [10.0, 10.0]]


# ---- nothing left behind ------------------------------------------------------------------------

def _dev_shm():
    return set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_no_leak_after_sigkill(method):
    gc.collect()
    shm_before, mapped_before, open_before = _dev_shm(), _segments_mapped(), _segments_open()
    ctx = mp.get_context(method)
    q_in, q_out = ctx.Queue(), ctx.Queue()
    p = ctx.Process(target=_send_and_hang, args=(q_in, q_out), daemon=True)
    p.start()
    ours = lamina.full((1000,), 2.0)
    q_in.put(ours)
    received, theirs = q_out.get(timeout=60)
    os.kill(p.pid, signal.SIGKILL)
    p.join(30)
    assert p.exitcode == -signal.SIGKILL
    # The segment the killed process created outlives it while we map it.
    assert theirs[-1].item() == float((1 << 20) - 1) and received.data_ptr() == ours.data_ptr()
    assert _segments_mapped() > mapped_before
    del ours, received, theirs, q_in, q_out, p
    gc.collect()
    assert _segments_mapped() == mapped_before and _segments_open() == open_before
    # Segments never have a name; the only entries multiprocessing itself may add are its
    # semaphores (sem.*), which it removes with their queues.
    assert not {n for n in _dev_shm() - shm_before if not n.startswith("sem.")}


class _Big(Dataset):
    def __len__(self):
        return 64

    def __getitem__(self, i):
        time.sleep(0.02)
        return lamina.full((64, 64), float(i)), i


def test_dataloader_worker_killed_leaves_nothing():
    gc.collect()
    mapped_before, open_before = _segments_mapped(), _segments_open()
    loader = DataLoader(_Big(), batch_size=4, num_workers=2)
    it = iter(loader)
    x, y = next(it)
    assert x.is_shared() and x[:, 0, 0].tolist() == y.tolist() == [0.0, 1.0, 2.0, 3.0]
    os.kill(it._workers[0].pid, signal.SIGKILL)
    with pytest.raises(RuntimeError, match="exited unexpectedly"):
        list(it)
    del loader, it, x, y
    gc.collect()
    assert _segments_mapped() == mapped_before and _segments_open() == open_before


# ---- spawn ----------------------------------------------------------------------------------------

def test_spawn_runs_fn_with_index_and_args():
    out = lamina.zeros(2, dtype=lamina.int64).share_memory_()
    assert mp.spawn(_write_index, args=(out,), nprocs=2) is None
    assert out.tolist() == [10, 11]
    ctx = mp.spawn(_write_index, args=(out,), nprocs=1, join=False)
    assert isinstance(ctx, mp.ProcessContext) and len(ctx.pids()) == 1
    while not ctx.join():
        pass


def test_spawn_reports_an_exception_with_its_traceback():
    start = time.monotonic()
    with pytest.raises(mp.ProcessRaisedException, match=r"(?s)Process 1 terminated.*ValueError: "
                                                        r"boom in 1") as info:
        mp.spawn(_fail, args=("raise",), nprocs=2)
    assert info.value.error_index == 1 and time.monotonic() - start < 20  # process 0 was stopped
    assert pickle.loads(pickle.dumps(info.value)).error_index == 1


def test_start_processes_reports_exit_codes_and_signals():
    with pytest.raises(mp.ProcessExitedException, match="process 1 terminated with exit code 3") as info:
        mp.start_processes(_fail, args=("exit",), nprocs=2, start_method="fork")
    assert info.value.exit_code == 3 and info.value.error_pid > 0
    with pytest.raises(mp.ProcessExitedException, match="terminated with signal SIGKILL") as info:
        mp.start_processes(_fail, args=("kill",), nprocs=2, start_method="fork")
    assert info.value.signal_name == "SIGKILL" and info.value.exit_code == -signal.SIGKILL
    with pytest.warns(FutureWarning, match="only supports start_method=spawn"):
        mp.spawn(_write_index, args=(lamina.zeros(1, dtype=lamina.int64),), start_method="fork")


def test_module_reexports_multiprocessing():
    import multiprocessing

    for name in multiprocessing.__all__:
        assert hasattr(mp, name), name
    assert mp.get_all_sharing_strategies() == {"file_descriptor"}
    assert mp.get_sharing_strategy() == "file_descriptor"
    with pytest.raises(ValueError, match="unknown strategy"):
        mp.set_sharing_strategy("file_system")


# ---- DataLoader ---------------------------------------------------------------------------------

class _Mixed(Dataset):
    """A large image-like tensor (its batches go through shared memory), a small one, a label."""

    def __len__(self):
        return 37

    def __getitem__(self, i):
        g = np.random.default_rng(i)
        return {"image": lamina.from_numpy(g.standard_normal((3, 48, 48)).astype(np.float32)),
                "small": lamina.tensor([i, -i]), "label": i % 5}


def test_dataloader_workers_match_single_process():
    def batches(**kwargs):
        gen = lamina.Generator().manual_seed(3)
        return list(DataLoader(_Mixed(), batch_size=8, shuffle=True, generator=gen,
                               pin_memory=True, **kwargs))

    single, multi = batches(), batches(num_workers=2)
    assert len(single) == len(multi) == 5
    for a, b in zip(single, multi):
        for key in ("image", "small", "label"):
            assert a[key].dtype == b[key].dtype and lamina.equal(a[key], b[key])
        assert b["image"].is_shared() and not a["image"].is_shared()
        assert not b["small"].is_shared()  # a few bytes are cheaper to copy than to map


# ---- in one process: shared/pinned flags, pickle and deepcopy -------------------------------------

def test_share_memory_flags_and_module():
    t = lamina.arange(6.0)
    assert not t.is_shared() and t.share_memory_() is t and t.is_shared()
    assert t.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert t.pin_memory() is t and not t.is_pinned()
    model = lamina.nn.Sequential(lamina.nn.Linear(3, 2), lamina.nn.BatchNorm1d(2))
    model(lamina.randn(4, 3)).sum().backward()
    weight = model[0].weight
    assert model.share_memory() is model and model[0].weight is weight
    assert all(p.is_shared() and p.grad.is_shared() for p in model.parameters())
    assert all(b.is_shared() for b in model.buffers())
    assert isinstance(weight, lamina.nn.Parameter) and weight.requires_grad


def test_pickle_and_deepcopy_copy():
    shared = lamina.arange(4.0).share_memory_()
    copied = pickle.loads(pickle.dumps(shared))
    copied.add_(1)
    assert not copied.is_shared() and shared.tolist() == [0.0, 1.0, 2.0, 3.0]
    w = lamina.randn(3, requires_grad=True)
    (w * 3).sum().backward()
    w.note = "kept"
    p = lamina.nn.Parameter(lamina.ones(2))
    a, b, c = copy.deepcopy([w, w, p])
    assert a is b and a is not w and a.requires_grad and a.is_leaf and a.note == "kept"
    assert a.grad.tolist() == [3.0] * 3 and a.tolist() == w.tolist()
    assert type(c) is lamina.nn.Parameter and c.requires_grad
    d = copy.deepcopy(shared)
    assert not d.is_shared() and d.tolist() == shared.tolist()
    with pytest.raises(RuntimeError, match="graph leaves"):
        copy.deepcopy(w * 2)
