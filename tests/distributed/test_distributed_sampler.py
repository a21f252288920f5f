"""DistributedSampler: every epoch's shards partition the dataset (padded or cut to equal sizes), the
same permutation on every rank, a new one per epoch (needs no MPI: ranks are given explicitly)."""

import pytest
from lamina.utils.data import DataLoader, TensorDataset
from lamina.utils.data.distributed import DistributedSampler


def shards(n, replicas, epoch=0, **kwargs):
    out = []
    for rank in range(replicas):
        sampler = DistributedSampler(range(n), num_replicas=replicas, rank=rank, **kwargs)
        sampler.set_epoch(epoch)
        out.append(list(sampler))
        assert len(out[-1]) == len(sampler)
    return out


@pytest.mark.parametrize("n", [12, 13, 7, 1])
@pytest.mark.parametrize("replicas", [2, 3])
@pytest.mark.parametrize("shuffle", [True, False])
def test_shards_partition_every_epoch(n, replicas, shuffle):
    for epoch in range(3):
        parts = shards(n, replicas, epoch, shuffle=shuffle)
        assert len({len(p) for p in parts}) == 1                 # every rank runs the same number of steps
        together = [i for p in parts for i in p]
        assert sorted(set(together)) == list(range(n))            # nothing left out
        size = -(-n // replicas) * replicas
        assert len(together) == size                              # padded to a multiple of replicas
        padding = size - n
        assert len(together) - len(set(together)) == padding     # repeats only for the padding


@pytest.mark.parametrize("n, replicas", [(13, 2), (14, 3), (12, 3)])
def test_drop_last_cuts_the_tail_without_repeats(n, replicas):
    parts = shards(n, replicas, drop_last=True)
    together = [i for p in parts for i in p]
    assert len(together) == len(set(together)) == (n // replicas) * replicas
    assert len({len(p) for p in parts}) == 1


def test_shuffle_depends_on_seed_and_epoch_only():
    first = shards(20, 2, epoch=1, seed=3)
    assert first == shards(20, 2, epoch=1, seed=3)               # the same on every rank and every call
    assert first != shards(20, 2, epoch=2, seed=3)
    assert first != shards(20, 2, epoch=1, seed=4)
    assert shards(20, 2, shuffle=False)[1] == list(range(1, 20, 2))


def test_with_a_dataloader():
    import lamina
    dataset = TensorDataset(lamina.arange(10))
    seen = []
    for rank in range(2):
        loader = DataLoader(dataset, batch_size=2, sampler=DistributedSampler(dataset, num_replicas=2, rank=rank))
        seen += [int(v) for (batch,) in loader for v in batch]
    assert sorted(seen) == list(range(10))


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"Invalid rank 2, rank should be in the interval \[0, 1\]"):
        DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(RuntimeError, match="no process group is initialized"):
        DistributedSampler(range(4))
