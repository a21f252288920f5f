"""Tensor.share_memory_ moves the storage, not the tensor (PyTorch's semantics): the base and every
view of one storage are shared after any of them is moved, writes through a view reach a child
process, nothing is left in /dev/shm or mapped afterwards, autograd's version counters and saved
tensors are untouched, and arrays exported earlier (numpy, DLPack) stay valid."""

import gc
import os

import numpy as np
import pytest

import lamina
import lamina.multiprocessing as mp

_SEGMENT = "memfd:lamina-shared"


@pytest.fixture(autouse=True)
def _children_find_lamina(monkeypatch):
    root = os.path.dirname(os.path.dirname(lamina.__file__))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))


def _segments():
    """(segments mapped, segment descriptors open) in this process."""
    with open("/proc/self/maps") as f:
        mapped = sum(_SEGMENT in line for line in f)
    opened = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            opened += _SEGMENT in os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            pass
    return mapped, opened


def _dev_shm():
    return set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()


def _views(base):
    return [base[1:, 1:3], base.t(), base.reshape(-1), base[2], base.view(6, 2)[::2], base.detach(), base.data]


def test_base_share_memory_shares_every_view():
    base = lamina.arange(12.0).reshape(3, 4)
    views = _views(base)
    offsets = [v.data_ptr() - base.data_ptr() for v in views]
    before = [v.tolist() for v in views]
    assert base.share_memory_() is base
    assert base.is_shared() and all(v.is_shared() for v in views)
    assert [v.data_ptr() - base.data_ptr() for v in views] == offsets  # same geometry, new memory
    assert [v.tolist() for v in views] == before
    views[0].fill_(-1.0)
    assert base[1, 1:3].tolist() == [-1.0, -1.0] and views[1][1, 1].item() == -1.0


def test_view_share_memory_shares_its_base_and_siblings():
    base = lamina.arange(12.0).reshape(3, 4)
    view, sibling = base[1:, 1:3], base[0]
    assert view.share_memory_() is view
    assert base.is_shared() and sibling.is_shared()
    # The whole storage moved, not just the elements the view reaches.
    assert view.data_ptr() - base.data_ptr() == 5 * base.element_size()
    assert base.tolist() == np.arange(12.0).reshape(3, 4).tolist()
    base[2, 2] = 100.0
    sibling.fill_(7.0)
    assert view.tolist() == [[5.0, 6.0], [9.0, 100.0]] and base[0].tolist() == [7.0] * 4
    assert view.share_memory_() is view and base.share_memory_() is base  # already shared: no-ops


def _write_through_view(view, done):
    view.fill_(42.0)
    done.put(os.getpid())


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_writes_through_a_view_are_seen_by_the_parent(method):
    ctx = mp.get_context(method)
    base = lamina.zeros(4, 5)
    view = base[1:3, 1::2]
    view.share_memory_()  # fork passes arguments by inheritance: share first
    done = ctx.Queue()
    p = ctx.Process(target=_write_through_view, args=(base[:, 1], done))
    p.start()
    assert done.get(timeout=60) == p.pid
    p.join(60)
    assert p.exitcode == 0
    assert base[:, 1].tolist() == [42.0] * 4 and view.tolist() == [[42.0, 0.0]] * 2


def _send_view_back(q_in, q_out):
    t = q_in.get()
    t[0] = 5.0  # a write through the received view
    q_out.put(t)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_queued_view_moves_the_base_and_leaves_nothing(method):
    gc.collect()
    shm_before, segments_before = _dev_shm(), _segments()
    ctx = mp.get_context(method)
    q_in, q_out = ctx.Queue(), ctx.Queue()
    p = ctx.Process(target=_send_view_back, args=(q_in, q_out))
    p.start()
    base = lamina.zeros(3, 4)
    q_in.put(base[1])  # putting a view on a queue shares its storage: the base too
    back = q_out.get(timeout=60)
    p.join(60)
    assert p.exitcode == 0 and base.is_shared()
    assert base[1].tolist() == [5.0, 0.0, 0.0, 0.0] and back.data_ptr() == base[1].data_ptr()
    del base, back, q_in, q_out, p
    gc.collect()
    assert _segments() == segments_before
    assert not {n for n in _dev_shm() - shm_before if not n.startswith("sem.")}


def test_segment_is_released_with_the_last_view():
    gc.collect()
    before = _segments()
    base = lamina.randn(64, 64)
    view = base[3:7]
    base.share_memory_()
    assert _segments()[0] == before[0] + 1
    del base
    gc.collect()
    assert view.is_shared() and _segments()[0] == before[0] + 1  # the view keeps the storage alive
    del view
    gc.collect()
    assert _segments() == before


def test_autograd_history_and_version_counters_survive_the_move():
    x = lamina.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    y = x[1:]
    loss = (y * y).sum()  # saves the view y
    x.share_memory_()
    assert x.is_leaf and x.requires_grad and y.grad_fn is not None and y.is_shared()
    loss.backward()  # the move is not a write: the saved view's version still matches
    assert x.grad.tolist() == [0.0, 4.0, 6.0, 8.0]

    z = lamina.tensor([1.0, 2.0], requires_grad=True) * 1  # a non-leaf whose storage we move
    w = z[0:1]
    out = (w * z).sum()
    z.detach().share_memory_()  # detach() shares storage and version counter with z
    assert z.is_shared() and w.is_shared()
    with lamina.no_grad():
        z.detach().add_(1)  # a real write after the move still bumps the shared counter
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.backward()


def test_parameters_viewing_one_flat_buffer_move_together():
    flat = lamina.zeros(10)
    model = lamina.nn.Linear(3, 2)
    with lamina.no_grad():
        flat[:6].copy_(model.weight.reshape(-1))
        flat[6:8].copy_(model.bias)
    model.weight = lamina.nn.Parameter(flat[:6].view(2, 3))
    model.bias = lamina.nn.Parameter(flat[6:8])
    extra = flat[8:]
    model.share_memory()
    assert flat.is_shared() and extra.is_shared()
    with lamina.no_grad():
        model.weight.fill_(3.0)
    assert flat[:6].tolist() == [3.0] * 6 and model.weight.data_ptr() == flat.data_ptr()


def test_arrays_exported_before_the_move_stay_valid():
    t = lamina.arange(6.0)
    arr = t.numpy()
    capsule_owner = lamina.from_dlpack(t)  # imports t's memory through a DLPack capsule
    t.share_memory_()
    t.fill_(9.0)
    # They keep the old block (kept alive, not freed): readable, no longer aliasing t.
    assert arr.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert capsule_owner.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    arr[0] = -1.0
    assert t[0].item() == 9.0
    del t
    gc.collect()
    assert arr.tolist()[:2] == [-1.0, 1.0]


def test_from_numpy_tensor_moves_off_the_array():
    arr = np.arange(4.0, dtype=np.float32)
    t = lamina.from_numpy(arr)
    v = t[1:]
    v.share_memory_()
    assert t.is_shared() and t.tolist() == [0.0, 1.0, 2.0, 3.0]
    t.fill_(1.0)
    assert arr.tolist() == [0.0, 1.0, 2.0, 3.0]  # the array keeps its own memory


def test_empty_and_zero_dim_tensors():
    for t in (lamina.zeros(0), lamina.zeros(3, 0)[:, :0], lamina.tensor(2.5)):
        assert t.share_memory_() is t and t.is_shared()
    assert lamina.tensor(2.5).share_memory_().item() == 2.5
