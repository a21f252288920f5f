"""lamina.utils.data: datasets, samplers, collation, and the DataLoader in one process and with
worker processes (ordering, seeding, errors, crashes, shutdown)."""

import collections
import copy
import gc
import multiprocessing
import os
import pickle
import time

import numpy as np
import pytest

import lamina
from lamina.utils.data import (BatchSampler, ChainDataset, ConcatDataset, DataLoader, Dataset,
                               IterableDataset, RandomSampler, SequentialSampler, Subset,
                               SubsetRandomSampler, TensorDataset, WeightedRandomSampler,
                               default_collate, default_convert, get_worker_info, random_split)


def _values(batches, field=1):
    return [v for b in batches for v in b[field].tolist()]


def _no_children():
    deadline = time.monotonic() + 10
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not multiprocessing.active_children()


# ---- datasets ----------------------------------------------------------------------------------

class Squares(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return lamina.full((2,), float(i * i)), i


def test_tensor_dataset_indexing_and_length():
    x, y = lamina.arange(12.0).reshape(6, 2), lamina.arange(6)
    ds = TensorDataset(x, y)
    assert len(ds) == 6
    a, b = ds[4]
    assert a.tolist() == [8.0, 9.0] and b.item() == 4
    with pytest.raises(ValueError, match="size mismatch.*\\(6, 2\\), \\(5,\\)"):
        TensorDataset(x, lamina.arange(5))


def test_subset_concat_and_add():
    ds = Squares(5)
    sub = Subset(ds, [4, 0, 2])
    assert len(sub) == 3 and sub[0][1] == 4 and [s[1] for s in sub[[1, 2]]] == [0, 2]
    cat = ConcatDataset([ds, Squares(3)])
    assert len(cat) == 8 and cat.cumulative_sizes == [5, 8]
    assert [cat[i][1] for i in range(8)] == [0, 1, 2, 3, 4, 0, 1, 2]
    assert cat[-1][1] == 2 and cat[-8][1] == 0
    with pytest.raises(IndexError):
        cat[8]
    assert len(ds + ds) == 10
    with pytest.raises(ValueError, match="empty"):
        ConcatDataset([])


def test_random_split_lengths_fractions_and_generator():
    ds = Squares(10)
    parts = random_split(ds, [3, 7], generator=lamina.Generator().manual_seed(1))
    again = random_split(ds, [3, 7], generator=lamina.Generator().manual_seed(1))
    assert [len(p) for p in parts] == [3, 7]
    assert parts[0].indices == again[0].indices and parts[1].indices == again[1].indices
    assert sorted(parts[0].indices + parts[1].indices) == list(range(10))
    fractions = random_split(ds, [0.5, 0.3, 0.2], generator=lamina.Generator().manual_seed(2))
    assert [len(p) for p in fractions] == [5, 3, 2]
    assert [len(p) for p in random_split(Squares(11), [0.5, 0.5])] == [6, 5]
    lamina.manual_seed(3)
    a = random_split(ds, [5, 5])[0].indices
    lamina.manual_seed(3)
    assert random_split(ds, [5, 5])[0].indices == a
    with pytest.raises(ValueError, match="sum of input lengths"):
        random_split(ds, [3, 3])


# ---- samplers ----------------------------------------------------------------------------------

def test_samplers():
    ds = Squares(7)
    assert list(SequentialSampler(ds)) == list(range(7))
    g = lamina.Generator().manual_seed(5)
    first, second = list(RandomSampler(ds, generator=g)), list(RandomSampler(ds, generator=g))
    assert sorted(first) == list(range(7)) and sorted(second) == list(range(7))
    assert first == list(RandomSampler(ds, generator=lamina.Generator().manual_seed(5)))
    drawn = list(RandomSampler(ds, replacement=True, num_samples=20, generator=g))
    assert len(drawn) == 20 and all(0 <= i < 7 for i in drawn)
    longer = list(RandomSampler(ds, num_samples=10, generator=g))
    assert len(longer) == 10 and sorted(longer[:7]) == list(range(7))
    sub = list(SubsetRandomSampler([10, 20, 30], generator=g))
    assert sorted(sub) == [10, 20, 30]
    assert list(BatchSampler(range(7), 3, False)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(BatchSampler(range(7), 3, True)) == [[0, 1, 2], [3, 4, 5]]
    assert len(BatchSampler(range(7), 3, False)) == 3 and len(BatchSampler(range(7), 3, True)) == 2
    with pytest.raises(ValueError, match="batch_size"):
        BatchSampler(range(3), 0, False)
    with pytest.raises(ValueError, match="num_samples"):
        RandomSampler(ds, num_samples=0)


def test_weighted_random_sampler():
    g = lamina.Generator().manual_seed(0)
    draws = list(WeightedRandomSampler([1.0, 0.0, 3.0], 4000, generator=g))
    counts = np.bincount(draws, minlength=3)
    assert counts[1] == 0 and abs(counts[2] / 4000 - 0.75) < 0.04
    again = list(WeightedRandomSampler([1.0, 0.0, 3.0], 4000, generator=lamina.Generator().manual_seed(0)))
    assert again == draws
    picks = list(WeightedRandomSampler(lamina.tensor([5.0, 1.0, 0.0, 2.0]), 3, replacement=False,
                                       generator=g))
    assert sorted(picks) == [0, 1, 3]
    firsts = [next(iter(WeightedRandomSampler([9.0, 1.0], 1, replacement=False, generator=g)))
              for _ in range(400)]
    assert 0.85 < firsts.count(0) / 400 < 0.95
    with pytest.raises(ValueError, match="without replacement"):
        WeightedRandomSampler([1.0, 0.0], 2, replacement=False)
    with pytest.raises(ValueError, match="non-negative"):
        WeightedRandomSampler([1.0, -1.0], 2)


# ---- collation ---------------------------------------------------------------------------------

Point = collections.namedtuple("Point", ["x", "y"])


def test_default_collate_types():
    t = default_collate([lamina.tensor([1.0, 2.0]), lamina.tensor([3.0, 4.0])])
    assert t.shape == (2, 2) and t.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    ints = default_collate([1, 2, 3])
    assert ints.dtype == lamina.int64 and ints.tolist() == [1, 2, 3]
    floats = default_collate([1.5, 2.5])
    assert floats.dtype == lamina.float64
    assert default_collate([True, False]).dtype == lamina.bool
    assert default_collate(["a", "b"]) == ["a", "b"]
    arr = default_collate([np.ones((2, 2), np.uint8), np.zeros((2, 2), np.uint8)])
    assert arr.dtype == lamina.int64 and arr.shape == (2, 2, 2)
    assert default_collate([np.float32(1.0), np.float32(2.0)]).dtype == lamina.float32
    assert default_collate([np.ones(2, np.float16)] * 3).dtype == lamina.float32
    d = default_collate([{"a": 1, "b": lamina.zeros(3)}, {"a": 2, "b": lamina.ones(3)}])
    assert d["a"].tolist() == [1, 2] and d["b"].shape == (2, 3)
    p = default_collate([Point(1, 2.0), Point(3, 4.0)])
    assert isinstance(p, Point) and p.x.tolist() == [1, 3] and p.y.tolist() == [2.0, 4.0]
    nested = default_collate([(1, [2, 3]), (4, [5, 6])])
    assert isinstance(nested, list) and nested[0].tolist() == [1, 4]
    assert [v.tolist() for v in nested[1]] == [[2, 5], [3, 6]]


def test_default_collate_errors():
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [3]])
    with pytest.raises(TypeError, match="found <class 'object'>"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="dtype <U1"):
        default_collate([np.array(["a"]), np.array(["b"])])
    with pytest.raises(RuntimeError):
        default_collate([lamina.zeros(2), lamina.zeros(3)])


def test_default_convert():
    out = default_convert({"a": np.arange(3), "b": [np.ones(2)], "c": "text"})
    assert isinstance(out["a"], lamina.Tensor) and out["a"].tolist() == [0, 1, 2]
    assert isinstance(out["b"][0], lamina.Tensor) and out["c"] == "text"


# ---- DataLoader in the main process ------------------------------------------------------------

def test_loader_batches_and_len():
    ds = Squares(10)
    loader = DataLoader(ds, batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and len(batches) == 3
    assert [b[0].shape[0] for b in batches] == [4, 4, 2] and _values(batches) == list(range(10))
    assert batches[0][0].tolist()[3] == [9.0, 9.0]
    dropped = DataLoader(ds, batch_size=4, drop_last=True)
    assert len(dropped) == 2 and _values(list(dropped)) == list(range(8))
    single = list(DataLoader(ds, batch_size=None))
    assert len(single) == 10 and single[3][1] == 3 and single[3][0].shape == (2,)


def test_loader_shuffle_reproducible():
    ds = Squares(20)
    a = _values(DataLoader(ds, batch_size=6, shuffle=True, generator=lamina.Generator().manual_seed(7)))
    b = _values(DataLoader(ds, batch_size=6, shuffle=True, generator=lamina.Generator().manual_seed(7)))
    assert a == b and sorted(a) == list(range(20)) and a != list(range(20))
    lamina.manual_seed(11)
    loader = DataLoader(ds, batch_size=6, shuffle=True)
    epoch1, epoch2 = _values(loader), _values(loader)
    assert epoch1 != epoch2 and sorted(epoch2) == list(range(20))
    lamina.manual_seed(11)
    assert _values(loader) == epoch1


def test_loader_sampler_batch_sampler_collate():
    ds = Squares(6)
    assert _values(DataLoader(ds, batch_size=2, sampler=[5, 4, 3, 2, 1, 0])) == [5, 4, 3, 2, 1, 0]
    out = list(DataLoader(ds, batch_sampler=[[0, 1, 2], [5]]))
    assert _values(out) == [0, 1, 2, 5]
    loader = DataLoader(ds, batch_size=3, collate_fn=lambda samples: [s[1] for s in samples])
    assert list(loader) == [[0, 1, 2], [3, 4, 5]]
    assert len(DataLoader(ds, batch_size=4, pin_memory=True)) == 2


def test_loader_argument_errors():
    ds = Squares(4)
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        DataLoader(ds, sampler=[0, 1], shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        DataLoader(ds, batch_sampler=[[0]], batch_size=2)
    with pytest.raises(ValueError, match="non-negative"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(ValueError, match="prefetch_factor"):
        DataLoader(ds, prefetch_factor=2)
    with pytest.raises(ValueError, match="persistent_workers"):
        DataLoader(ds, persistent_workers=True)
    with pytest.raises(ValueError, match="drop_last"):
        DataLoader(ds, batch_size=None, drop_last=True)
    with pytest.raises(ValueError, match="shuffle"):
        DataLoader(Stream(4), shuffle=True)


# ---- iterable datasets -------------------------------------------------------------------------

class Stream(IterableDataset):
    """0..n-1, split between workers by contiguous ranges."""

    def __init__(self, n):
        self.n = n

    def __iter__(self):
        info = get_worker_info()
        start, end = 0, self.n
        if info is not None:
            per = -(-self.n // info.num_workers)
            start, end = info.id * per, min(self.n, (info.id + 1) * per)
        return iter(range(start, end))

    def __len__(self):
        return self.n


def test_iterable_dataset_single_process():
    loader = DataLoader(Stream(10), batch_size=4)
    assert [b.tolist() for b in loader] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]] and len(loader) == 3
    assert [b.tolist() for b in DataLoader(Stream(10), batch_size=4, drop_last=True)] == [
        [0, 1, 2, 3], [4, 5, 6, 7]]
    assert [int(v) for v in DataLoader(Stream(3), batch_size=None)] == [0, 1, 2]
    assert list(ChainDataset([Stream(2), Stream(3)])) == [0, 1, 0, 1, 2]


def test_iterable_dataset_workers_split():
    batches = [b.tolist() for b in DataLoader(Stream(11), batch_size=2, num_workers=2)]
    assert sorted(v for b in batches for v in b) == list(range(11))
    assert batches[0] == [0, 1] and batches[1] == [6, 7]  # round-robin over the two workers
    assert _no_children()


# ---- worker processes --------------------------------------------------------------------------

class Slow(Dataset):
    """Sleeps 5 ms per item and reports which process fetched it, and when."""

    def __len__(self):
        return 48

    def __getitem__(self, i):
        begin = time.monotonic()
        time.sleep(0.005)
        return i, os.getpid(), begin, time.monotonic()


def test_workers_keep_order_and_run_concurrently():
    batches = list(DataLoader(Slow(), batch_size=4, num_workers=2))
    assert _values(batches, 0) == list(range(48))
    pids = [p for b in batches for p in b[1].tolist()]
    assert os.getpid() not in pids and len(set(pids)) == 2
    spans = {pid: [] for pid in set(pids)}
    for b in batches:
        for pid, t0, t1 in zip(b[1].tolist(), b[2].tolist(), b[3].tolist()):
            spans[pid].append((t0, t1))
    a, c = spans.values()
    # Parallelism without a timing threshold: the two workers fetched items at the same time.
    assert any(s0 < e1 and s1 < e0 for s0, e0 in a for s1, e1 in c)
    assert _no_children()


def test_workers_match_single_process_with_shuffle():
    ds = Squares(37)
    kwargs = dict(batch_size=5, shuffle=True)
    lamina.manual_seed(4)
    ref = list(DataLoader(ds, **kwargs))
    lamina.manual_seed(4)
    got = list(DataLoader(ds, num_workers=3, prefetch_factor=1, **kwargs))
    assert len(got) == len(ref) == 8
    for r, g in zip(ref, got):
        assert g[0].tolist() == r[0].tolist() and g[1].tolist() == r[1].tolist()
    assert len(DataLoader(ds, num_workers=2, **kwargs)) == 8


class WorkerReport(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        info = get_worker_info()
        return {"worker": info.id, "threads": lamina.get_num_threads(), "rand": lamina.rand(1).item(),
                "np": float(np.random.rand()), "init": os.environ.get("LAMINA_TEST_INIT", "")}


def _init(worker_id):
    os.environ["LAMINA_TEST_INIT"] = f"init{worker_id}"


def test_worker_info_threads_seeds_and_init_fn():
    lamina.manual_seed(9)
    first = list(DataLoader(WorkerReport(), batch_size=2, num_workers=2, worker_init_fn=_init))
    lamina.manual_seed(9)
    second = list(DataLoader(WorkerReport(), batch_size=2, num_workers=2, worker_init_fn=_init))
    assert [b["worker"].tolist() for b in first] == [[0, 0], [1, 1], [0, 0], [1, 1]]
    assert all(b["threads"].tolist() == [1, 1] for b in first)
    assert [b["init"] for b in first] == [["init0"] * 2, ["init1"] * 2] * 2
    assert [b["rand"].tolist() for b in first] == [b["rand"].tolist() for b in second]
    assert first[0]["rand"].tolist() != first[1]["rand"].tolist()  # workers are seeded apart
    assert first[0]["np"].tolist() != first[1]["np"].tolist()
    assert get_worker_info() is None


class Failing(Dataset):
    def __init__(self, exc):
        self.exc = exc

    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == 5:
            raise self.exc
        return i


def test_worker_exception_reraised_with_traceback():
    loader = DataLoader(Failing(ValueError("bad sample 5")), batch_size=2, num_workers=2)
    it = iter(loader)
    assert next(it).tolist() == [0, 1] and next(it).tolist() == [2, 3]
    with pytest.raises(ValueError) as info:
        next(it)
    text = str(info.value)
    assert "Caught ValueError in DataLoader worker process 0" in text
    assert "Traceback (most recent call last)" in text and "__getitem__" in text
    assert "bad sample 5" in text
    assert next(it).tolist() == [6, 7]  # the loader goes on after an error, as PyTorch's does
    del it, info  # the traceback refers to the iterator
    gc.collect()
    with pytest.raises(KeyError, match="missing key"):
        list(DataLoader(Failing(KeyError("missing key")), batch_size=2, num_workers=1))
    gc.collect()
    assert _no_children()


class Crashing(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == 3:
            os._exit(7)
        return i


def test_worker_crash_reported():
    with pytest.raises(RuntimeError, match="exited unexpectedly.*exit code 7"):
        list(DataLoader(Crashing(), batch_size=2, num_workers=2))
    gc.collect()
    assert _no_children()


class Sleepy(Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        time.sleep(0.5)
        return i


def test_worker_timeout():
    with pytest.raises(RuntimeError, match="timed out after 0.2 seconds"):
        list(DataLoader(Sleepy(), num_workers=1, timeout=0.2))
    gc.collect()
    assert _no_children()


class Unpicklable(Dataset):
    def __len__(self):
        return 2

    def __getitem__(self, i):
        return lambda: i


def test_unpicklable_batch_is_an_error_not_a_hang():
    with pytest.raises(Exception, match="while pickling a batch"):
        list(DataLoader(Unpicklable(), batch_size=None, num_workers=1, timeout=30))
    gc.collect()
    assert _no_children()


def test_early_break_and_garbage_collection_stop_workers():
    loader = DataLoader(Slow(), batch_size=2, num_workers=2)
    for i, _ in enumerate(loader):
        if i == 1:
            break
    gc.collect()
    assert _no_children()


def test_persistent_workers_across_epochs():
    loader = DataLoader(Squares(9), batch_size=2, num_workers=2, persistent_workers=True)
    first = _values(loader)
    pids = [w.pid for w in loader._iterator._workers]
    it = iter(loader)
    next(it)  # abandon this epoch after one batch
    assert _values(loader) == first == list(range(9))
    assert [w.pid for w in loader._iterator._workers] == pids
    stream = DataLoader(Stream(7), batch_size=3, num_workers=2, persistent_workers=True)
    assert sorted(v for b in stream for v in b.tolist()) == list(range(7))
    assert sorted(v for b in stream for v in b.tolist()) == list(range(7))
    del loader, it, stream
    gc.collect()
    assert _no_children()


def test_out_of_order_delivery_returns_everything():
    got = _values(DataLoader(Squares(20), batch_size=3, num_workers=2, in_order=False))
    assert sorted(got) == list(range(20))


def test_spawn_context():
    x = lamina.arange(10.0)
    loader = DataLoader(TensorDataset(x, x * 2), batch_size=4, num_workers=1,
                        multiprocessing_context="spawn")
    assert [b[1].tolist() for b in loader] == [[0.0, 2.0, 4.0, 6.0], [8.0, 10.0, 12.0, 14.0],
                                              [16.0, 18.0]]


def test_tensor_pickle_round_trip():
    x = lamina.arange(12.0).reshape(3, 4).t()
    y = pickle.loads(pickle.dumps(x))
    assert y.tolist() == x.tolist() and y.dtype == x.dtype and y.is_contiguous()
    w = lamina.randn(3, requires_grad=True)
    z = pickle.loads(pickle.dumps(w))
    assert z.requires_grad and z.grad_fn is None and z.tolist() == w.tolist()
    assert pickle.loads(pickle.dumps(lamina.tensor(3))).shape == ()
    c = copy.deepcopy(x)
    c.add_(1)
    assert c.tolist() != x.tolist()
    b = pickle.loads(pickle.dumps(lamina.tensor([True, False])))
    assert b.dtype == lamina.bool and b.tolist() == [True, False]
