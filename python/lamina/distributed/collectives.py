"""The collectives of torch.distributed on MPI: all_reduce, broadcast, reduce, all_gather(_into_tensor),
reduce_scatter_tensor, gather, scatter, send/recv, barrier and the object collectives.

Each one checks its arguments, hands MPI numpy views of the tensors' own memory (a non-contiguous
tensor is packed once and copied back), starts one non-blocking MPI operation and returns a Work
(async_op=True) or waits for it. Ranks are global ranks (as in PyTorch); group_src/group_dst name
them within the group. Object collectives serialize with lamina.save and read back with
lamina.load(weights_only=True): received bytes never reach pickle.
"""

import io
import warnings

import numpy as np

from .. import _C
from . import _mpi
from . import process_group as pg
from ._mpi import ReduceOp
from .work import Work, wait_requests

_KINDS = ("all_reduce", "broadcast", "reduce", "all_gather", "all_gather_into_tensor", "reduce_scatter_tensor",
          "gather", "scatter", "barrier", "all_gather_object", "broadcast_object_list")
_DTYPES = (None, _C.dtype.bool, _C.dtype.int32, _C.dtype.int64, _C.dtype.float32, _C.dtype.float64)
_OPS = (None,) + tuple(ReduceOp)
_MAX_DIMS = 8


def _dtype_name(dtype):
    return str(dtype).replace("lamina.", "")


def _describe(t, op=None, root=None):
    parts = [] if t is None else [f"{_dtype_name(t.dtype)} {tuple(t.shape)}"]
    if op is not None:
        parts.append(op.name)
    if root is not None:
        parts.append(f"root {root}")
    return ", ".join(parts)


def _tensor(t, name, what="tensor"):
    if not isinstance(t, _C.Tensor):
        raise TypeError(f"lamina.distributed.{name}: {what} must be a lamina.Tensor, got {type(t).__name__}")
    if not t.is_cpu:
        raise RuntimeError(f"lamina.distributed.{name}: {what} is on {t.device}; the MPI backend takes CPU tensors")
    return t


def _buffer(t):
    """(numpy view of t's memory, packed copy or None): zero-copy unless t is not contiguous."""
    if t.is_contiguous():
        return (t.detach() if t.requires_grad else t).numpy(), None
    packed = t.detach().contiguous()
    return packed.numpy(), packed


def _copy_back(t, packed):
    if packed is not None:
        t.detach().copy_(packed)


def _begin(name, group, fingerprint_tensor=None, op=None, root=-1):
    """(group, seq) for a collective, or None for a rank outside `group` (PyTorch warns and skips)."""
    g = pg.resolve(group, name)
    if g.rank() < 0:
        warnings.warn(f"lamina.distributed.{name}: rank {g.world.rank} is not in the group {g.ranks}; skipping")
        return None
    if g.world.broken is not None:
        g.world.check_peers(name, f"{name}")
    seq = g.next_seq()
    if pg.get_debug_level() == pg.DebugLevel.DETAIL and name in _KINDS and g.size() > 1:
        _check_same_collective(g, name, seq, fingerprint_tensor, op, root)
    return g, seq


def _fingerprint(name, seq, t, op, root):
    fp = np.full(8 + _MAX_DIMS, -1, np.int64)
    fp[:5] = seq, _KINDS.index(name), _OPS.index(op), _DTYPES.index(None if t is None else t.dtype), root
    if t is not None:
        shape = tuple(t.shape)
        fp[5], fp[6] = len(shape), t.numel()
        fp[8:8 + min(len(shape), _MAX_DIMS)] = shape[:_MAX_DIMS]
    return fp


def _read_fingerprint(fp):
    seq, kind, op, dtype, root, ndim, numel = (int(v) for v in fp[:7])
    parts = []
    if dtype > 0:
        shape = tuple(int(v) for v in fp[8:8 + min(ndim, _MAX_DIMS)])
        parts.append(f"{_dtype_name(_DTYPES[dtype])} {shape}" + ("" if ndim <= _MAX_DIMS else f" ({numel} elements)"))
    if op > 0:
        parts.append(_OPS[op].name)
    if root >= 0:
        parts.append(f"root {root}")
    return f"collective #{seq} {_KINDS[kind]}" + (f" ({', '.join(parts)})" if parts else "")


def _check_same_collective(g, name, seq, t, op, root):
    """DebugLevel.DETAIL: all ranks of the group must call the same collective on the same dtype
    and shape (and op and root): one all-gather of a 16-number fingerprint first."""
    mine = _fingerprint(name, seq, t, op, root)
    everyone = np.empty((g.size(), mine.size), np.int64)
    req = g.comm.Iallgather(mine, everyone)
    wait_requests([req], g, name, seq, "the DETAIL-mode fingerprint check")
    for r in range(g.size()):
        if not np.array_equal(everyone[r], mine):
            raise RuntimeError(f"lamina.distributed.{name}: detected mismatch between collectives on ranks: rank "
                               f"{g.world.rank} is running {_read_fingerprint(mine)} but rank {g.ranks[r]} is "
                               f"running {_read_fingerprint(everyone[r])}")


def _finish(g, name, seq, detail, requests, finish, keep, async_op, statuses=None):
    if async_op:
        return Work(g, name, seq, detail, requests, finish, keep, statuses)
    wait_requests(requests, g, name, seq, detail)   # the synchronous path skips the Work object
    return None if finish is None else finish()


def _root(g, name, role, rank, group_rank):
    """The root's rank within the group, from a global rank or a group rank (exactly one)."""
    if (rank is None) == (group_rank is None):
        raise ValueError(f"lamina.distributed.{name}: give exactly one of {role} and group_{role} "
                         f"(got {role}={rank}, group_{role}={group_rank})")
    if group_rank is not None:
        if not 0 <= group_rank < g.size():
            raise ValueError(f"lamina.distributed.{name}: group_{role}={group_rank} is outside the group of size "
                             f"{g.size()}")
        return group_rank
    return g.group_rank(rank, name, role)


def _avg(g, buf, op):
    if op is ReduceOp.AVG:
        np.divide(buf, g.size(), out=buf)


# ---- collectives ---------------------------------------------------------------------------------

def all_reduce(tensor, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduces `tensor` across the group in place; every rank gets the result."""
    _tensor(tensor, "all_reduce")
    mop = _mpi.mpi_op(op, tensor.dtype, "all_reduce")
    begun = _begin("all_reduce", group, tensor, op)
    if begun is None:
        return None
    g, seq = begun
    MPI = _mpi.load()
    buf, packed = _buffer(tensor)
    req = g.comm.Iallreduce(MPI.IN_PLACE, buf, mop)

    def finish():
        _avg(g, buf, op)
        _copy_back(tensor, packed)
    return _finish(g, "all_reduce", seq, lambda: _describe(tensor, op), [req], finish, (buf,), async_op)


def broadcast(tensor, src=None, group=None, async_op=False, group_src=None):
    """Copies `tensor` from rank `src` into `tensor` on every other rank of the group."""
    _tensor(tensor, "broadcast")
    g0 = pg.resolve(group, "broadcast")
    root = _root(g0, "broadcast", "src", src, group_src)
    begun = _begin("broadcast", group, tensor, None, root)
    if begun is None:
        return None
    g, seq = begun
    buf, packed = _buffer(tensor)
    req = g.comm.Ibcast(buf, root=root)
    return _finish(g, "broadcast", seq, lambda: _describe(tensor, root=g.ranks[root]), [req],
                   lambda: _copy_back(tensor, packed) if g.rank() != root else None, (buf,), async_op)


def reduce(tensor, dst=None, op=ReduceOp.SUM, group=None, async_op=False, group_dst=None):
    """Reduces `tensor` across the group into `tensor` on rank `dst` (the others keep theirs)."""
    _tensor(tensor, "reduce")
    mop = _mpi.mpi_op(op, tensor.dtype, "reduce")
    g0 = pg.resolve(group, "reduce")
    root = _root(g0, "reduce", "dst", dst, group_dst)
    begun = _begin("reduce", group, tensor, op, root)
    if begun is None:
        return None
    g, seq = begun
    MPI = _mpi.load()
    buf, packed = _buffer(tensor)
    is_root = g.rank() == root
    req = g.comm.Ireduce(MPI.IN_PLACE if is_root else buf, buf if is_root else None, mop, root=root)

    def finish():
        if is_root:
            _avg(g, buf, op)
            _copy_back(tensor, packed)
    return _finish(g, "reduce", seq, lambda: _describe(tensor, op, g.ranks[root]), [req], finish, (buf,), async_op)


def _same_as(t, ref, name, what):
    _tensor(t, name, what)
    if t.dtype != ref.dtype or tuple(t.shape) != tuple(ref.shape):
        raise ValueError(f"lamina.distributed.{name}: {what} is {_describe(t)} but the input is {_describe(ref)}")


def all_gather(tensor_list, tensor, group=None, async_op=False):
    """tensor_list[i] receives rank i's `tensor` (the list has one tensor per rank of the group)."""
    _tensor(tensor, "all_gather")
    g0 = pg.resolve(group, "all_gather")
    if len(tensor_list) != g0.size():
        raise ValueError(f"lamina.distributed.all_gather: tensor_list has {len(tensor_list)} tensors for a group of "
                         f"{g0.size()} ranks")
    for i, t in enumerate(tensor_list):
        _same_as(t, tensor, "all_gather", f"tensor_list[{i}]")
    begun = _begin("all_gather", group, tensor)
    if begun is None:
        return None
    g, seq = begun
    buf, _ = _buffer(tensor)
    out = np.empty((g.size(),) + buf.shape, buf.dtype)
    req = g.comm.Iallgather(buf, out)

    def finish():
        for t, part in zip(tensor_list, out):
            t.detach().copy_(_C.from_numpy(part))
    return _finish(g, "all_gather", seq, lambda: _describe(tensor), [req], finish, (buf, out), async_op)


def all_gather_into_tensor(output_tensor, input_tensor, group=None, async_op=False):
    """Rank i's `input_tensor` lands in the i-th slice of `output_tensor` (its first dimension is the
    group size times the input's, or an extra leading dimension of the group size)."""
    _tensor(input_tensor, "all_gather_into_tensor", "input_tensor")
    _tensor(output_tensor, "all_gather_into_tensor", "output_tensor")
    g0 = pg.resolve(group, "all_gather_into_tensor")
    if output_tensor.dtype != input_tensor.dtype or output_tensor.numel() != g0.size() * input_tensor.numel():
        raise ValueError(f"lamina.distributed.all_gather_into_tensor: output_tensor is {_describe(output_tensor)} but "
                         f"must hold {g0.size()} inputs of {_describe(input_tensor)}")
    begun = _begin("all_gather_into_tensor", group, input_tensor)
    if begun is None:
        return None
    g, seq = begun
    src, _ = _buffer(input_tensor)
    out, packed = _buffer(output_tensor)
    req = g.comm.Iallgather(src, out)
    return _finish(g, "all_gather_into_tensor", seq, lambda: _describe(input_tensor), [req],
                   lambda: _copy_back(output_tensor, packed), (src, out), async_op)


def reduce_scatter_tensor(output, input, op=ReduceOp.SUM, group=None, async_op=False):
    """Reduces `input` (group size x output's elements) across the group; rank i gets slice i in `output`."""
    _tensor(input, "reduce_scatter_tensor", "input")
    _tensor(output, "reduce_scatter_tensor", "output")
    mop = _mpi.mpi_op(op, input.dtype, "reduce_scatter_tensor")
    g0 = pg.resolve(group, "reduce_scatter_tensor")
    if output.dtype != input.dtype or input.numel() != g0.size() * output.numel():
        raise ValueError(f"lamina.distributed.reduce_scatter_tensor: input is {_describe(input)} but must hold "
                         f"{g0.size()} outputs of {_describe(output)}")
    begun = _begin("reduce_scatter_tensor", group, input, op)
    if begun is None:
        return None
    g, seq = begun
    src, _ = _buffer(input)
    out, packed = _buffer(output)
    req = g.comm.Ireduce_scatter_block(src, out, mop)

    def finish():
        _avg(g, out, op)
        _copy_back(output, packed)
    return _finish(g, "reduce_scatter_tensor", seq, lambda: _describe(input, op), [req], finish, (src, out), async_op)


def _root_list(g, name, root, items, list_name, side, tensor):
    """Checks the per-rank list that only the root passes (gather's destination, scatter's source):
    one tensor like `tensor` per rank there, none elsewhere. Returns whether this rank is the root."""
    is_root = g.rank() == root
    if is_root:
        if items is None or len(items) != g.size():
            raise ValueError(f"lamina.distributed.{name}: the {side} rank needs a {list_name} of {g.size()} "
                             f"tensors, got {None if items is None else len(items)}")
        for i, t in enumerate(items):
            _same_as(t, tensor, name, f"{list_name}[{i}]")
    elif items:
        raise ValueError(f"lamina.distributed.{name}: Argument ``{list_name}`` must NOT be specified on "
                         f"non-{side} ranks.")
    return is_root


def gather(tensor, gather_list=None, dst=None, group=None, async_op=False, group_dst=None):
    """gather_list[i] on rank `dst` receives rank i's `tensor`; other ranks pass no gather_list."""
    _tensor(tensor, "gather")
    g0 = pg.resolve(group, "gather")
    root = _root(g0, "gather", "dst", 0 if dst is None and group_dst is None else dst, group_dst)
    is_root = _root_list(g0, "gather", root, gather_list, "gather_list", "destination", tensor)
    begun = _begin("gather", group, tensor, None, root)
    if begun is None:
        return None
    g, seq = begun
    buf, _ = _buffer(tensor)
    out = np.empty((g.size(),) + buf.shape, buf.dtype) if is_root else None
    req = g.comm.Igather(buf, out, root=root)

    def finish():
        if is_root:
            for t, part in zip(gather_list, out):
                t.detach().copy_(_C.from_numpy(part))
    return _finish(g, "gather", seq, lambda: _describe(tensor, root=g.ranks[root]), [req], finish, (buf, out), async_op)


def scatter(tensor, scatter_list=None, src=None, group=None, async_op=False, group_src=None):
    """Rank i receives scatter_list[i] of rank `src` in `tensor`; other ranks pass no scatter_list."""
    _tensor(tensor, "scatter")
    g0 = pg.resolve(group, "scatter")
    root = _root(g0, "scatter", "src", 0 if src is None and group_src is None else src, group_src)
    is_root = _root_list(g0, "scatter", root, scatter_list, "scatter_list", "source", tensor)
    begun = _begin("scatter", group, tensor, None, root)
    if begun is None:
        return None
    g, seq = begun
    buf, packed = _buffer(tensor)
    send = np.stack([_buffer(t)[0] for t in scatter_list]) if is_root else None
    req = g.comm.Iscatter(send, buf, root=root)
    return _finish(g, "scatter", seq, lambda: _describe(tensor, root=g.ranks[root]), [req],
                   lambda: _copy_back(tensor, packed), (buf, send), async_op)


def barrier(group=None, async_op=False, device_ids=None):
    """Waits until every rank of the group has entered the barrier (with the group's timeout)."""
    begun = _begin("barrier", group)
    if begun is None:
        return None
    g, seq = begun
    return _finish(g, "barrier", seq, "", [g.comm.Ibarrier()], None, (), async_op)


# ---- point to point ------------------------------------------------------------------------------

def _check_tag(tag, name):
    if not isinstance(tag, int) or tag < 0:
        raise ValueError(f"lamina.distributed.{name}: tag must be a non-negative int, got {tag!r}")


def isend(tensor, dst=None, group=None, tag=0, group_dst=None):
    """Starts sending `tensor` to rank `dst`; returns a Work."""
    _tensor(tensor, "isend")
    _check_tag(tag, "isend")
    g = pg.resolve(group, "isend")
    peer = _root(g, "isend", "dst", dst, group_dst)
    if peer == g.rank():
        raise ValueError(f"lamina.distributed.isend: rank {g.world.rank} cannot send to itself")
    buf, _ = _buffer(tensor)
    seq = g.next_seq()
    req = g.comm.Isend(buf, dest=peer, tag=tag)
    return Work(g, "send", seq, f"{_describe(tensor)} to rank {g.ranks[peer]}, tag {tag}", [req], None, (buf,))


def irecv(tensor, src=None, group=None, tag=0, group_src=None):
    """Starts receiving into `tensor` from rank `src` (any rank when both src and group_src are None);
    the Work's result() is the sender's global rank."""
    _tensor(tensor, "irecv")
    _check_tag(tag, "irecv")
    MPI = _mpi.load()
    g = pg.resolve(group, "irecv")
    peer = MPI.ANY_SOURCE if src is None and group_src is None else _root(g, "irecv", "src", src, group_src)
    buf, packed = _buffer(tensor)
    status = MPI.Status()
    seq = g.next_seq()
    req = g.comm.Irecv(buf, source=peer, tag=tag)

    def finish():
        _copy_back(tensor, packed)
        return g.ranks[status.Get_source()]
    source = "any rank" if peer == MPI.ANY_SOURCE else f"rank {g.ranks[peer]}"
    return Work(g, "recv", seq, f"{_describe(tensor)} from {source}, tag {tag}", [req], finish, (buf,), [status])


def send(tensor, dst=None, group=None, tag=0, group_dst=None):
    isend(tensor, dst, group, tag, group_dst).wait()


def recv(tensor, src=None, group=None, tag=0, group_src=None):
    """Receives into `tensor`; returns the sender's global rank."""
    return irecv(tensor, src, group, tag, group_src).result()


# ---- Python objects ------------------------------------------------------------------------------

def _dumps(obj):
    from ..serialization import save
    buf = io.BytesIO()
    save(obj, buf)
    return buf.getvalue()


def _loads(data, name, rank):
    from ..serialization import CheckpointError, load
    try:
        return load(io.BytesIO(data), weights_only=True)
    except CheckpointError as e:
        raise CheckpointError(f"lamina.distributed.{name}: the object from rank {rank} cannot be rebuilt safely: "
                              f"{e}") from e


def all_gather_object(object_list, obj, group=None):
    """object_list[i] receives rank i's `obj`. Objects travel as lamina checkpoints and are rebuilt
    with lamina.load(weights_only=True), so a class of your own must be allowlisted with
    lamina.serialization.add_safe_globals (received bytes are never unpickled)."""
    g0 = pg.resolve(group, "all_gather_object")
    if len(object_list) != g0.size():
        raise ValueError(f"lamina.distributed.all_gather_object: object_list has {len(object_list)} entries for a "
                         f"group of {g0.size()} ranks")
    data = _dumps(obj)
    begun = _begin("all_gather_object", group)
    if begun is None:
        return
    g, seq = begun
    chunks = pg.allgather_bytes(g, data, "all_gather_object", seq, f"{len(data)} bytes from this rank")
    for i, chunk in enumerate(chunks):
        object_list[i] = _loads(chunk, "all_gather_object", g.ranks[i])


def broadcast_object_list(object_list, src=None, group=None, device=None, group_src=None):
    """Replaces object_list's entries on every rank with those of rank `src` (same length everywhere);
    rebuilt with lamina.load(weights_only=True) as in all_gather_object."""
    g0 = pg.resolve(group, "broadcast_object_list")
    root = _root(g0, "broadcast_object_list", "src", 0 if src is None and group_src is None else src, group_src)
    begun = _begin("broadcast_object_list", group, None, None, root)
    if begun is None:
        return
    g, seq = begun
    is_root = g.rank() == root
    data = _dumps(list(object_list)) if is_root else b""
    size = np.array([len(data)], np.int64)
    detail = f"{len(object_list)} objects, root {g.ranks[root]}"
    Work(g, "broadcast_object_list", seq, detail, [g.comm.Ibcast(size, root=root)]).wait()
    payload = np.frombuffer(data, np.uint8).copy() if is_root else np.empty(int(size[0]), np.uint8)
    Work(g, "broadcast_object_list", seq, detail, [g.comm.Ibcast(payload, root=root)], keep=(payload,)).wait()
    if not is_root:
        received = _loads(payload.tobytes(), "broadcast_object_list", g.ranks[root])
        if len(received) != len(object_list):
            raise ValueError(f"lamina.distributed.broadcast_object_list: rank {g.world.rank} passed a list of "
                             f"{len(object_list)} objects but rank {g.ranks[root]} broadcast {len(received)}")
        object_list[:] = received
