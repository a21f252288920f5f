"""Every collective and dtype against numpy references, on every rank (run by test_collectives.py).

Each rank builds every rank's input from a seed, so it can compute the expected result itself."""

import os
import warnings

import lamina
import lamina.distributed as dist
import numpy as np
from lamina.distributed import ReduceOp
from lamina.serialization import CheckpointError
from worker_harness import run_checks

DTYPES = {"float32": lamina.float32, "float64": lamina.float64, "int32": lamina.int32, "int64": lamina.int64,
          "bool": lamina.bool}
NP = {"float32": np.float32, "float64": np.float64, "int32": np.int32, "int64": np.int64, "bool": np.bool_}
OPS = {"float": [ReduceOp.SUM, ReduceOp.AVG, ReduceOp.PRODUCT, ReduceOp.MIN, ReduceOp.MAX],
       "int": [ReduceOp.SUM, ReduceOp.PRODUCT, ReduceOp.MIN, ReduceOp.MAX, ReduceOp.BAND, ReduceOp.BOR, ReduceOp.BXOR],
       "bool": [ReduceOp.SUM, ReduceOp.PRODUCT, ReduceOp.MIN, ReduceOp.MAX, ReduceOp.BAND, ReduceOp.BOR, ReduceOp.BXOR]}
REF = {ReduceOp.SUM: np.add.reduce, ReduceOp.PRODUCT: np.multiply.reduce, ReduceOp.MIN: np.minimum.reduce,
       ReduceOp.MAX: np.maximum.reduce, ReduceOp.BAND: np.bitwise_and.reduce, ReduceOp.BOR: np.bitwise_or.reduce,
       ReduceOp.BXOR: np.bitwise_xor.reduce}
SHAPE = (3, 5)


def data(rank, name, shape=SHAPE, salt=0):
    """Rank `rank`'s input (the same on every process)."""
    rng = np.random.default_rng(1000 * rank + salt)
    if name == "bool":
        return rng.random(shape) < 0.5
    if name.startswith("int"):
        return rng.integers(-4, 5, shape).astype(NP[name])
    return rng.uniform(0.5, 2.0, shape).astype(NP[name])


def family(name):
    return "bool" if name == "bool" else "int" if name.startswith("int") else "float"


def expect(a, b, what):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        raise AssertionError(f"{what}: got {a.dtype} {a.shape}, expected {b.dtype} {b.shape}")
    if a.dtype.kind == "f":
        ok = np.allclose(a, b, rtol=1e-6 if a.dtype == np.float32 else 1e-12, atol=0)
    else:
        ok = np.array_equal(a, b)
    if not ok:
        raise AssertionError(f"{what}: got {a.tolist()}, expected {b.tolist()}")


def reference(op, name, world, salt=0):
    inputs = np.stack([data(r, name, salt=salt) for r in range(world)])
    if name == "bool":
        logical = {ReduceOp.SUM: np.logical_or, ReduceOp.MAX: np.logical_or, ReduceOp.BOR: np.logical_or,
                   ReduceOp.PRODUCT: np.logical_and, ReduceOp.MIN: np.logical_and, ReduceOp.BAND: np.logical_and,
                   ReduceOp.BXOR: np.logical_xor}[op]
        return logical.reduce(inputs)
    if op is ReduceOp.AVG:
        return (np.add.reduce(inputs) / world).astype(inputs.dtype)
    return REF[op](inputs).astype(inputs.dtype)


def check_all_reduce_every_op_and_dtype(rank, world):
    for name in DTYPES:
        for op in OPS[family(name)]:
            t = lamina.from_numpy(data(rank, name).copy())
            dist.all_reduce(t, op=op)
            expect(t.numpy(), reference(op, name, world), f"all_reduce {name} {op}")


def check_all_reduce_async_and_non_contiguous(rank, world):
    for name in DTYPES:
        base = lamina.from_numpy(np.ascontiguousarray(data(rank, name).T))   # (5, 3)
        view = base.t()                                                        # (3, 5), not contiguous
        work = dist.all_reduce(view, op=ReduceOp.MAX, async_op=True)
        assert isinstance(work, dist.Work)
        work.wait()
        assert work.is_completed() and work.is_success()
        expect(view.numpy(), reference(ReduceOp.MAX, name, world), f"async non-contiguous all_reduce {name}")
    works = [dist.all_reduce(lamina.ones(4) * (k + rank), async_op=True) for k in range(3)]
    while not all(w.is_completed() for w in works):
        pass


def check_zero_copy_buffers(rank, world):
    from lamina.distributed.collectives import _buffer
    t = lamina.arange(20.0)[3:13]
    buf, packed = _buffer(t)
    assert packed is None and buf.ctypes.data == t.data_ptr(), "a contiguous view must be handed to MPI in place"
    buf, packed = _buffer(lamina.zeros(4, 3).t())
    assert packed is not None and buf.flags["C_CONTIGUOUS"]


def check_broadcast(rank, world):
    for name in DTYPES:
        for src in range(world):
            t = lamina.from_numpy(data(rank, name).copy())
            dist.broadcast(t, src=src)
            expect(t.numpy(), data(src, name), f"broadcast {name} from {src}")
    t = lamina.from_numpy(np.ascontiguousarray(data(rank, "float64").T)).t()
    dist.broadcast(t, src=world - 1)
    expect(t.numpy(), data(world - 1, "float64"), "broadcast into a non-contiguous tensor")


def check_reduce(rank, world):
    for name in DTYPES:
        for op in OPS[family(name)][:3]:
            for dst in range(world):
                mine = data(rank, name)
                t = lamina.from_numpy(mine.copy())
                dist.reduce(t, dst=dst, op=op)
                expect(t.numpy(), reference(op, name, world) if rank == dst else mine, f"reduce {name} {op} to {dst}")


def check_all_gather(rank, world):
    for name, dtype in DTYPES.items():
        out = [lamina.zeros(*SHAPE, dtype=dtype) for _ in range(world)]
        dist.all_gather(out, lamina.from_numpy(data(rank, name)))
        for r in range(world):
            expect(out[r].numpy(), data(r, name), f"all_gather {name} from {r}")
        stacked = lamina.zeros(world * SHAPE[0], SHAPE[1], dtype=dtype)
        dist.all_gather_into_tensor(stacked, lamina.from_numpy(data(rank, name)))
        expect(stacked.numpy(), np.concatenate([data(r, name) for r in range(world)]), f"all_gather_into_tensor {name}")
        extra = lamina.zeros(world, *SHAPE, dtype=dtype)
        dist.all_gather_into_tensor(extra, lamina.from_numpy(data(rank, name)))
        expect(extra.numpy(), np.stack([data(r, name) for r in range(world)]), f"all_gather_into_tensor {name} stacked")


def check_reduce_scatter_tensor(rank, world):
    for name, dtype in DTYPES.items():
        for op in OPS[family(name)][:2]:
            full = lamina.from_numpy(np.concatenate([data(rank, name, salt=s) for s in range(world)]))
            out = lamina.zeros(*SHAPE, dtype=dtype)
            dist.reduce_scatter_tensor(out, full, op=op)
            inputs = np.stack([np.concatenate([data(r, name, salt=s) for s in range(world)]) for r in range(world)])
            part = inputs[:, rank * SHAPE[0]:(rank + 1) * SHAPE[0]]
            want = (np.logical_or.reduce(part) if op is ReduceOp.SUM else np.logical_and.reduce(part)) \
                if name == "bool" else (np.add.reduce(part) / world if op is ReduceOp.AVG else REF[op](part))
            expect(out.numpy(), want.astype(NP[name]), f"reduce_scatter_tensor {name} {op}")


def check_gather_and_scatter(rank, world):
    for name, dtype in DTYPES.items():
        for root in range(world):
            outs = [lamina.zeros(*SHAPE, dtype=dtype) for _ in range(world)] if rank == root else None
            dist.gather(lamina.from_numpy(data(rank, name)), outs, dst=root)
            if rank == root:
                for r in range(world):
                    expect(outs[r].numpy(), data(r, name), f"gather {name} to {root}")
            t = lamina.zeros(*SHAPE, dtype=dtype)
            parts = [lamina.from_numpy(data(root, name, salt=r)) for r in range(world)] if rank == root else None
            dist.scatter(t, parts, src=root)
            expect(t.numpy(), data(root, name, salt=rank), f"scatter {name} from {root}")


def check_send_recv(rank, world):
    for name, dtype in DTYPES.items():
        if rank == 0:
            dist.send(lamina.from_numpy(data(0, name)), dst=1, tag=3)
            work = dist.isend(lamina.from_numpy(data(0, name, salt=1)), dst=1)
            work.wait()
        elif rank == 1:
            t = lamina.zeros(*SHAPE, dtype=dtype)
            assert dist.recv(t, tag=3) == 0   # from any rank: the sender's rank comes back
            expect(t.numpy(), data(0, name), f"recv {name}")
            t2 = lamina.zeros(*SHAPE, dtype=dtype)
            w = dist.irecv(t2, src=0)
            assert w.result() == 0
            expect(t2.numpy(), data(0, name, salt=1), f"irecv {name}")


def check_barrier_and_groups(rank, world):
    dist.barrier()
    dist.barrier(async_op=True).wait()
    everyone = dist.new_group()
    t = lamina.ones(3)
    dist.all_reduce(t, group=everyone)
    expect(t.numpy(), np.full(3, float(world), np.float32), "all_reduce on new_group()")
    last = dist.new_group([world - 1])
    assert dist.get_rank(last) == (0 if rank == world - 1 else -1)
    assert dist.get_world_size(last) == 1 and dist.get_process_group_ranks(last) == [world - 1]
    t = lamina.full((2,), float(rank))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = dist.all_reduce(t, group=last)
    assert result is None
    expect(t.numpy(), np.full(2, float(rank), np.float32), "all_reduce in a one-rank group")
    assert (len(caught) == 1) == (rank != world - 1), [str(w.message) for w in caught]
    u = lamina.full((2,), float(rank))
    dist.broadcast(u, group=everyone, group_src=world - 1)
    expect(u.numpy(), np.full(2, float(world - 1), np.float32), "broadcast with group_src")
    dist.destroy_process_group(last)
    dist.destroy_process_group(everyone)


class Secret:
    """Not allowlisted: all_gather_object must refuse to rebuild it."""

    def __init__(self, x):
        self.x = x


def check_object_collectives(rank, world):
    objs = [None] * world
    dist.all_gather_object(objs, {"rank": rank, "t": lamina.full((2,), float(rank)), "s": "x" * rank})
    for r, o in enumerate(objs):
        assert o["rank"] == r and o["s"] == "x" * r and o["t"].tolist() == [float(r)] * 2, o
    items = [1, "two", (3.0, None), lamina.arange(3)] if rank == 0 else [None] * 4
    dist.broadcast_object_list(items, src=0)
    assert items[:3] == [1, "two", (3.0, None)] and items[3].tolist() == [0, 1, 2], items
    try:
        dist.all_gather_object(objs, Secret(rank))
    except CheckpointError as e:
        assert "Secret" in str(e) and "cannot be rebuilt safely" in str(e), str(e)
    else:
        raise AssertionError("an object of a class that is not allowlisted was rebuilt")


def _raises(kind, pattern, fn):
    try:
        fn()
    except kind as e:
        if pattern not in str(e):
            raise AssertionError(f"{kind.__name__} without {pattern!r}: {e}")
        return
    raise AssertionError(f"no {kind.__name__} ({pattern!r})")


def check_argument_errors(rank, world):
    _raises(RuntimeError, "ReduceOp.AVG is not defined for lamina.int64",
            lambda: dist.all_reduce(lamina.ones(2, dtype=lamina.int64), op=ReduceOp.AVG))
    _raises(RuntimeError, "ReduceOp.BAND is not defined for lamina.float32",
            lambda: dist.all_reduce(lamina.ones(2), op=ReduceOp.BAND))
    _raises(ValueError, "tensor_list has 1 tensors for a group of 2",
            lambda: dist.all_gather([lamina.ones(2)], lamina.ones(2)))
    _raises(ValueError, "tensor_list[1] is float64 (2,) but the input is float32 (2,)",
            lambda: dist.all_gather([lamina.ones(2), lamina.ones(2, dtype=lamina.float64)], lamina.ones(2)))
    _raises(ValueError, "src rank 7 is not in the group [0, 1]", lambda: dist.broadcast(lamina.ones(2), src=7))
    _raises(ValueError, "must hold 2 outputs of float32 (3,)",
            lambda: dist.reduce_scatter_tensor(lamina.zeros(3), lamina.zeros(5)))
    _raises(TypeError, "tensor must be a lamina.Tensor, got ndarray", lambda: dist.all_reduce(np.ones(2)))
    _raises(ValueError, "backend 'nccl' is not available", lambda: dist.init_process_group("nccl"))
    _raises(ValueError, "initialize the default process group twice", lambda: dist.init_process_group("mpi"))


def check_mismatch_detection(rank, world):
    dist.set_debug_level(dist.DebugLevel.DETAIL)
    dist.all_reduce(lamina.ones(2))    # identical calls pass
    try:
        dist.all_reduce(lamina.ones(2 + rank))
    except RuntimeError as e:
        other = 1 - rank
        for part in (f"rank {rank} is running", f"all_reduce (float32 ({2 + rank},), SUM)",
                     f"rank {other} is running", f"(float32 ({2 + other},), SUM)"):
            assert part in str(e), str(e)
    else:
        raise AssertionError("different shapes went undetected")
    try:
        if rank == 0:
            dist.all_reduce(lamina.ones(2))
        else:
            dist.broadcast(lamina.ones(2), src=0)
    except RuntimeError as e:
        assert "all_reduce (float32 (2,), SUM)" in str(e) and "broadcast (float32 (2,), root 0)" in str(e), str(e)
    else:
        raise AssertionError("different collectives went undetected")
    t = lamina.ones(2)
    dist.all_reduce(t)   # after a detected mismatch the ranks are still in step
    expect(t.numpy(), np.full(2, float(world), np.float32), "all_reduce after a mismatch")


def check_thread_budget(rank, world):
    return {"LAMINA_NUM_THREADS": os.environ.get("LAMINA_NUM_THREADS"), "threads": lamina.get_num_threads()}


CHECKS = [check_all_reduce_every_op_and_dtype, check_all_reduce_async_and_non_contiguous, check_zero_copy_buffers,
          check_broadcast, check_reduce, check_all_gather, check_reduce_scatter_tensor, check_gather_and_scatter,
          check_send_recv, check_barrier_and_groups, check_object_collectives, check_argument_errors,
          check_mismatch_detection, check_thread_budget]

if __name__ == "__main__":
    run_checks(CHECKS)
