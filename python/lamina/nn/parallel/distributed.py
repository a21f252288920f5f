"""nn.parallel.DistributedDataParallel: PyTorch's data-parallel wrapper, on lamina.distributed (MPI).

Construction broadcasts parameters and buffers from rank 0 and checks that every rank has the same
parameters. Gradients are grouped into flat buckets in reverse registration order (roughly the
order backward produces them). A gradient hook on each parameter copies its gradient into its
bucket; a full bucket starts a non-blocking all-reduce (AVG) at once, so communication overlaps the
rest of backward. Buckets start in index order on every rank (one that fills early waits for the ones
before it), so all ranks run the same collectives in the same order. The hook of the last
parameter waits for all buckets and writes the averaged gradients back into `.grad`.

MPI moves a non-blocking all-reduce forward only while some thread calls into MPI, so while buckets
are in flight a helper thread pokes MPI's progress engine (an Iprobe every 200 us; backward runs
without the GIL) where MPI allows calls from several threads.

The hooks are tensor hooks (`register_hook`), which run just before the gradient is accumulated into
`.grad`: a bucket takes `.grad + grad` (what accumulation will give), and the last parameter's hook
returns its averaged gradient for autograd to store. `no_sync()` skips all of this, so gradients
accumulate locally and the next synchronized backward averages the sum.
"""

import threading
import time
import weakref
from contextlib import contextmanager

from ... import _C
from ...autograd import no_grad
from ..modules.module import Module

_DEFAULT_FIRST_BUCKET_BYTES = 1024 * 1024   # PyTorch's: a small first bucket starts communication early


def _flatten_tensors(obj, out):
    if isinstance(obj, _C.Tensor):
        out.append(obj)
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            _flatten_tensors(o, out)
    elif isinstance(obj, dict):
        for o in obj.values():
            _flatten_tensors(o, out)
    return out


class _Progress:
    """A daemon thread that drives MPI's progress engine while `running` is set (an Iprobe for a tag
    nobody sends touches no request of ours, so it may run beside the main thread's tests)."""

    def __init__(self, comm, any_source):
        self.comm, self.any_source, self.running = comm, any_source, threading.Event()
        threading.Thread(target=self._loop, name="lamina-ddp-progress", daemon=True).start()

    def _loop(self):
        while True:
            self.running.wait()
            while self.running.is_set():
                self.comm.Iprobe(source=self.any_source, tag=32000)
                time.sleep(0.0002)


class _Bucket:
    def __init__(self, dtype, indices, params):
        self.dtype, self.indices = dtype, indices
        self.offsets, total = {}, 0
        for i in indices:
            self.offsets[i] = total
            total += params[i].numel()
        self.flat = _C.zeros((total,), dtype=dtype)
        self.pending, self.work = len(indices), None

    def view(self, i, param):
        start = self.offsets[i]
        return self.flat[start:start + param.numel()].view(param.shape)


class DistributedDataParallel(Module):
    """Wraps `module` for data-parallel training across the ranks of `process_group`.

    Each rank feeds its own part of the batch; after backward every rank holds the gradient averaged
    over all ranks, so identical optimizer steps keep the replicas identical. State dict keys carry
    the "module." prefix, as in PyTorch.

    Args:
        bucket_cap_mb: bucket size in MiB (25 by default; the first bucket is 1 MiB).
        find_unused_parameters: look, after each forward, for parameters the output does not depend on
            and count them as reduced (needed when some parameters get no gradient in an iteration).
        broadcast_buffers: copy rank 0's buffers (BatchNorm statistics) to all ranks at each forward.
        init_sync: broadcast rank 0's parameters and buffers at construction (True).
    output_device, dim, check_reduction, gradient_as_bucket_view and static_graph are accepted as
    PyTorch's arguments and change nothing: gradients are copied into the buckets and back (PyTorch's
    gradient_as_bucket_view=False), and the check of the previous iteration's reduction always runs.
    """

    def __init__(self, module, device_ids=None, output_device=None, dim=0, broadcast_buffers=True,
                 process_group=None, bucket_cap_mb=None, find_unused_parameters=False, check_reduction=False,
                 gradient_as_bucket_view=False, static_graph=False, init_sync=True):
        super().__init__()
        from ... import distributed as dist
        if device_ids:
            raise ValueError(f"DistributedDataParallel: device_ids={device_ids!r} name GPUs, and lamina has none "
                             "(leave device_ids unset to run on the CPU)")
        self.module = module
        self.process_group = process_group if process_group is not None else \
            dist.process_group.default_group("nn.parallel.DistributedDataParallel")
        self.broadcast_buffers = broadcast_buffers
        self.find_unused_parameters = find_unused_parameters
        self.require_backward_grad_sync = True
        self.bucket_bytes_cap = int((25 if bucket_cap_mb is None else bucket_cap_mb) * 1024 * 1024)
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        if not named:
            raise RuntimeError("DistributedDataParallel is not needed when a module doesn't have any parameter "
                               "that requires a gradient.")
        self._param_names = [n for n, _ in named]
        self._params = [p for _, p in named]
        self._check_same_parameters()
        if init_sync:
            self._broadcast_coalesced([p for p in module.parameters()] + [b for b in module.buffers()])
        self._buckets = self._assign_buckets()
        self._bucket_of = {i: b for b in self._buckets for i in b.indices}
        self._reset_iteration(active=False)
        self._progress = self._start_progress_thread()
        ref = weakref.ref(self)   # the hooks must not keep the wrapper (and so the model) alive
        self._hook_handles = [p.register_hook(self._make_hook(ref, i)) for i, p in enumerate(self._params)]

    # ---- construction ----

    def _check_same_parameters(self):
        from ... import distributed as dist
        mine = [[n, list(p.shape), str(p.dtype)] for n, p in zip(self._param_names, self._params)]
        everyone = [None] * self.process_group.size()
        dist.all_gather_object(everyone, mine, group=self.process_group)
        for r, theirs in enumerate(everyone):
            if theirs != mine:
                diff = next(((a, b) for a, b in zip(mine, theirs) if a != b), None)
                detail = (f"{diff[0]} here, {diff[1]} there" if diff else
                          f"{len(mine)} parameters here, {len(theirs)} there")
                raise RuntimeError(f"DistributedDataParallel: rank {self.process_group.ranks[r]} has other "
                                   f"parameters than rank {dist.get_rank()}: {detail}")

    def _broadcast_coalesced(self, tensors):
        """Rank 0's values into `tensors` on every rank: one broadcast per dtype of a packed buffer."""
        from ... import distributed as dist
        by_dtype = {}
        for t in tensors:
            by_dtype.setdefault(t.dtype, []).append(t)
        src = self.process_group.ranks[0]
        with no_grad():
            for group in by_dtype.values():
                flat = _C.cat([t.detach().reshape(-1) for t in group]) if len(group) > 1 else \
                    group[0].detach().reshape(-1).clone()
                dist.broadcast(flat, src=src, group=self.process_group)
                start = 0
                for t in group:
                    t.detach().copy_(flat[start:start + t.numel()].view(t.shape))
                    start += t.numel()

    def _assign_buckets(self):
        """Parameters in reverse registration order, per dtype, cut into buckets of bucket_bytes_cap
        (the first one 1 MiB)."""
        buckets, open_ = [], {}
        cap = min(_DEFAULT_FIRST_BUCKET_BYTES, self.bucket_bytes_cap)
        for i in reversed(range(len(self._params))):
            p = self._params[i]
            indices, size = open_.get(p.dtype, ([], 0))
            indices.append(i)
            size += p.numel() * p.element_size()
            if size >= cap:
                buckets.append((p.dtype, indices))
                open_.pop(p.dtype, None)
                cap = self.bucket_bytes_cap
            else:
                open_[p.dtype] = (indices, size)
        buckets.extend((dtype, indices) for dtype, (indices, _) in open_.items())
        return [_Bucket(dtype, indices, self._params) for dtype, indices in buckets]

    def _start_progress_thread(self):
        from ...distributed import _mpi
        MPI = _mpi.load()
        if self.process_group.size() < 2 or MPI.Query_thread() != MPI.THREAD_MULTIPLE:
            return None
        return _Progress(self.process_group.world.notices, MPI.ANY_SOURCE)

    # ---- forward ----

    def _reset_iteration(self, active):
        if getattr(self, "_progress", None) is not None:
            self._progress.running.clear()
        self._active = active          # a synchronized backward is expected
        self._ready = set()
        self._next_bucket = 0
        self._unused = []
        self._used_work = None
        for b in self._buckets:
            b.pending, b.work = len(b.indices), None

    def forward(self, *inputs, **kwargs):
        if self._active and self._ready:
            missing = [self._param_names[i] for i in range(len(self._params)) if i not in self._ready]
            self._reset_iteration(active=False)
            raise RuntimeError(
                "DistributedDataParallel: Expected to have finished reduction in the prior iteration before starting "
                "a new one: parameters that did not receive a gradient on rank "
                f"{self.process_group.rank()}: {', '.join(missing)}. Pass find_unused_parameters=True if some "
                "parameters take no part in producing the loss, and make sure every output takes part in it.")
        if self.broadcast_buffers and self.process_group.size() > 1:
            buffers = list(self.module.buffers())
            if buffers:
                self._broadcast_coalesced(buffers)
        output = self.module(*inputs, **kwargs)
        sync = _C.is_grad_enabled() and self.require_backward_grad_sync and self.process_group.size() > 1
        self._reset_iteration(active=sync)
        if sync and self.find_unused_parameters:
            self._find_unused(output)
        return output

    def _find_unused(self, output):
        """Marks the parameters that `output` does not depend on: their bucket slots hold zeros."""
        stack, seen = [], {}
        for t in _flatten_tensors(output, []):
            if t.grad_fn is not None:
                stack.append(t.grad_fn)
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen[id(node)] = node
            for child, _ in node.next_functions:
                if child is not None and id(child) not in seen:
                    stack.append(child)
        # A parameter's AccumulateGrad node lives while a graph uses it, and the wrappers in `seen` keep
        # their Python objects: a used parameter's node comes back as one of them, an unused one's is new.
        # (Holding the nodes across iterations instead would keep their creation order, and the engine,
        # which runs later nodes first, would then accumulate every gradient at the end of backward.)
        self._unused = [i for i, p in enumerate(self._params)
                        if id(p.view_as(p).grad_fn.next_functions[0][0]) not in seen]

    # ---- backward ----

    @staticmethod
    def _make_hook(ref, index):
        def hook(grad):
            ddp = ref()
            return None if ddp is None else ddp._on_gradient(index, grad)
        return hook

    def _on_gradient(self, i, grad):
        if not self._active:
            return None
        if i in self._ready:
            raise RuntimeError(f"DistributedDataParallel: parameter {self._param_names[i]} received a gradient twice "
                               "in one iteration (backward through the same graph twice, or reentrant backward); "
                               "run forward again before each backward")
        if not self._ready and self._unused:
            self._start_unused()
        p = self._params[i]
        bucket = self._bucket_of[i]
        bucket.view(i, p).copy_(grad if p.grad is None else p.grad + grad)
        self._mark_ready(i)
        if len(self._ready) < len(self._params):
            for b in self._buckets[:self._next_bucket]:
                b.work.is_completed()   # MPI progresses only when called: keep started buckets moving
            return None
        return self._finalize(last=i)

    def _start_unused(self):
        from ... import distributed as dist
        used = _C.ones((len(self._params),), dtype=_C.dtype.int32)
        for i in self._unused:
            used[i] = 0
            self._bucket_of[i].view(i, self._params[i]).zero_()
        # Which parameters some rank used: only those get a gradient after the reduction.
        self._used_map = used
        self._used_work = dist.all_reduce(used, op=dist.ReduceOp.MAX, group=self.process_group, async_op=True)
        for i in self._unused:
            self._mark_ready(i)

    def _mark_ready(self, i):
        from ... import distributed as dist
        self._ready.add(i)
        bucket = self._bucket_of[i]
        bucket.pending -= 1
        while self._next_bucket < len(self._buckets) and self._buckets[self._next_bucket].pending == 0:
            b = self._buckets[self._next_bucket]
            b.work = dist.all_reduce(b.flat, op=dist.ReduceOp.AVG, group=self.process_group, async_op=True)
            self._next_bucket += 1
            if self._progress is not None:
                self._progress.running.set()

    def _finalize(self, last):
        """Waits for every bucket and writes the averaged gradients into .grad; returns the last
        parameter's gradient for autograd to store."""
        if self._progress is not None:
            self._progress.running.clear()   # from here this thread waits, and so drives MPI itself
        if self._used_work is not None:
            self._used_work.wait()
        for b in self._buckets:
            b.work.wait()
        used = self._used_map.tolist() if self._used_work is not None else None
        unused = set(self._unused)
        for i, p in enumerate(self._params):
            if i == last:
                continue
            reduced = self._bucket_of[i].view(i, p)
            if i in unused and p.grad is None:
                if used[i]:
                    p.grad = reduced.clone()
            else:
                p.grad.copy_(reduced)
        self._reset_iteration(active=False)
        p = self._params[last]
        if p.grad is not None:
            p.grad = None   # autograd stores what this hook returns, instead of adding it to .grad
        return self._bucket_of[last].view(last, p).clone()

    @contextmanager
    def no_sync(self):
        """Backward passes inside accumulate gradients locally; the first synchronized backward after
        averages the accumulated sum (gradient accumulation without communication)."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

