"""DistributedDataParallel on every rank (run by test_ddp.py): DDP against one process on the same
global batch, no_sync against the large-batch gradient, buckets and their start from gradient hooks,
find_unused_parameters, broadcast_buffers, and the bytes of a training run for the determinism test."""

import hashlib

import lamina
import lamina.distributed as dist
import lamina.nn.functional as F
import numpy as np
from lamina import nn
from lamina.examples.digits import DigitsNet
from lamina.nn.parallel import DistributedDataParallel as DDP
from worker_harness import run_checks

GLOBAL_BATCH = 16


def batch(step, shape, classes, n=GLOBAL_BATCH):
    g = lamina.Generator().manual_seed(100 + step)
    return lamina.randn(n, *shape, generator=g), lamina.randint(0, classes, (n,), generator=g)


def shard(t, rank, world):
    per = t.shape[0] // world
    return t[rank * per:(rank + 1) * per]


def tiny_mlp():
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 4))


def train(model, rank, world, shape, classes, steps, distributed, make_optimizer):
    """`steps` optimizer steps on the global batch: each rank its shard when distributed."""
    optimizer = make_optimizer(model.parameters())
    for step in range(steps):
        x, y = batch(step, shape, classes)
        if distributed:
            x, y = shard(x, rank, world), shard(y, rank, world)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def params_of(module):
    return [p.detach().numpy().copy() for p in module.parameters()]


def assert_close(got, want, what, rtol=1e-5, atol=1e-6):
    for i, (a, b) in enumerate(zip(got, want)):
        if not np.allclose(a, b, rtol=rtol, atol=atol):
            raise AssertionError(f"{what}: parameter {i} differs by up to {np.abs(a - b).max():.3g}")


def assert_same_on_every_rank(module, what):
    digest = hashlib.sha256(b"".join(p.tobytes() for p in params_of(module))).hexdigest()
    everyone = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, digest)
    if len(set(everyone)) != 1:
        raise AssertionError(f"{what}: ranks hold different parameters: {everyone}")
    return digest


def compare_with_one_process(rank, world, make_model, shape, classes, steps, make_optimizer, eval_mode=False):
    lamina.manual_seed(1234 + rank)          # ranks start apart: DDP must broadcast rank 0's weights
    model = make_model()
    if eval_mode:
        model.eval()
    ddp = DDP(model)
    lamina.manual_seed(1234)
    reference = make_model()
    if eval_mode:
        reference.eval()
    train(ddp, rank, world, shape, classes, steps, True, make_optimizer)
    train(reference, rank, world, shape, classes, steps, False, make_optimizer)
    assert_close(params_of(model), params_of(reference), "DDP vs one process")
    return assert_same_on_every_rank(model, "DDP")


def check_tiny_mlp_matches_one_process(rank, world):
    return compare_with_one_process(rank, world, tiny_mlp, (6,), 4, 5,
                                    lambda p: lamina.optim.SGD(p, lr=0.2, momentum=0.9))


def check_digits_cnn_matches_one_process(rank, world):
    # BatchNorm in eval mode (running statistics) and no dropout: a replica's per-shard batch statistics
    # would otherwise differ from the global batch's, in PyTorch as well.
    return compare_with_one_process(rank, world, DigitsNet, (1, 8, 8), 10, 3,
                                    lambda p: lamina.optim.Adam(p, lr=1e-3), eval_mode=True)


def check_digits_cnn_training_mode_bytes(rank, world):
    """Training mode (BatchNorm batch statistics, dropout, buffers broadcast): the digest of the final
    parameters, which must be the same on every rank and in every run."""
    lamina.manual_seed(7)
    model = DigitsNet()
    ddp = DDP(model, bucket_cap_mb=0.05)   # several buckets
    lamina.manual_seed(8 + rank)           # each rank its own dropout masks
    train(ddp, rank, world, (1, 8, 8), 10, 4, True, lambda p: lamina.optim.Adam(p, lr=1e-3))
    return assert_same_on_every_rank(model, "DDP in training mode")


def check_no_sync_accumulation_equals_large_batch(rank, world):
    lamina.manual_seed(3)
    model = tiny_mlp()
    ddp = DDP(model)
    x, y = batch(0, (6,), 4)          # 16 samples: 2 micro-batches of 4 on each rank
    mine_x, mine_y = shard(x, rank, world), shard(y, rank, world)
    micro = mine_x.shape[0] // 2
    with ddp.no_sync():
        (F.cross_entropy(ddp(mine_x[:micro]), mine_y[:micro]) / 2).backward()
    local_only = [p.grad.numpy().copy() for p in model.parameters()]
    (F.cross_entropy(ddp(mine_x[micro:]), mine_y[micro:]) / 2).backward()
    lamina.manual_seed(3)
    reference = tiny_mlp()
    F.cross_entropy(reference(x), y).backward()
    want = [p.grad.numpy() for p in reference.parameters()]
    assert_close([p.grad.numpy() for p in model.parameters()], want, "no_sync accumulation vs the large batch")
    if all(np.allclose(a, b, rtol=1e-5, atol=1e-6) for a, b in zip(local_only, want)):
        raise AssertionError("no_sync: the local gradient already equalled the large-batch one (no test)")


def check_buckets_reverse_order_started_from_hooks(rank, world):
    model = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 3))
    started_before_first_layer = []
    # Registered before DDP's hook, so it runs first: the first layer's weight gets its gradient last,
    # and by then the buckets of the later layers must be on their way.
    model[0].weight.register_hook(lambda g: started_before_first_layer.append(
        [b.work is not None for b in ddp._buckets]))
    ddp = DDP(model, bucket_cap_mb=300 / 2**20)   # 300 bytes: a bucket per layer
    order = [i for b in ddp._buckets for i in b.indices]
    n = len(list(model.parameters()))
    if order != list(reversed(range(n))) or len(ddp._buckets) < 3:
        raise AssertionError(f"buckets {[b.indices for b in ddp._buckets]} are not in reverse registration order")
    x, y = batch(0, (8,), 3)
    F.cross_entropy(ddp(shard(x, rank, world)), shard(y, rank, world)).backward()
    (flags,) = started_before_first_layer
    if not flags[0] or all(flags):
        raise AssertionError(f"bucket all-reduces started before the last gradient: {flags} (expected the first "
                             f"buckets started and the last one not)")
    return len(ddp._buckets)


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.body, self.a, self.b, self.never = nn.Linear(4, 4), nn.Linear(4, 2), nn.Linear(4, 2), nn.Linear(4, 2)

    def forward(self, x, use_b):
        h = self.body(x)
        return self.a(h) + self.b(h) if use_b else self.a(h)


def check_find_unused_parameters(rank, world):
    lamina.manual_seed(5)
    model = TwoHeads()
    ddp = DDP(model, find_unused_parameters=True)
    x = lamina.randn(4, 4, generator=lamina.Generator().manual_seed(rank))
    ddp(x, use_b=rank == 0).sum().backward()        # rank 0 uses head b, rank 1 does not
    if model.never.weight.grad is not None:
        raise AssertionError("a parameter no rank used got a gradient")
    b_grads = [None] * world
    dist.all_gather_object(b_grads, model.b.weight.grad.numpy().tolist())
    if b_grads[0] != b_grads[1]:
        raise AssertionError("head b's gradient differs between the rank that used it and the one that did not")
    # Again without find_unused_parameters: the next forward must say which parameters got no gradient.
    ddp2 = DDP(TwoHeads())
    ddp2(x, use_b=True).sum().backward()
    try:
        ddp2(x, use_b=True)
    except RuntimeError as e:
        if "never.weight" not in str(e) or "find_unused_parameters=True" not in str(e):
            raise AssertionError(str(e))
    else:
        raise AssertionError("an unfinished reduction went unnoticed")


def check_broadcast_buffers_and_state_dict(rank, world):
    model = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
    ddp = DDP(model)
    model[1].running_mean.fill_(float(rank + 1))    # the ranks' buffers drift apart
    ddp.eval()
    with lamina.no_grad():
        ddp(lamina.randn(2, 3))
    if model[1].running_mean.tolist() != [1.0, 1.0, 1.0]:
        raise AssertionError(f"running_mean {model[1].running_mean.tolist()} is not rank 0's")
    keys = list(ddp.state_dict())
    if keys[:2] != ["module.0.weight", "module.0.bias"] or ddp.module is not model:
        raise AssertionError(f"state dict keys {keys}")


def check_different_models_are_refused(rank, world):
    try:
        DDP(nn.Linear(3, 3 + rank))
    except RuntimeError as e:
        if "has other parameters than rank" not in str(e) or "[3, 3]" not in str(e):
            raise AssertionError(str(e))
    else:
        raise AssertionError("ranks with different parameters were accepted")


CHECKS = [check_tiny_mlp_matches_one_process, check_digits_cnn_matches_one_process,
          check_digits_cnn_training_mode_bytes, check_no_sync_accumulation_equals_large_batch,
          check_buckets_reverse_order_started_from_hooks, check_broadcast_buffers_and_state_dict,
          check_different_models_are_refused, check_find_unused_parameters]

if __name__ == "__main__":
    run_checks(CHECKS)
