"""DataLoader worker speed-up on a slow dataset: an epoch over items that each take `--item-ms`
(sleep = I/O-bound, or spin = CPU-bound decoding), with 0, 1, 2, ... worker processes.

    python bench/dataloader_workers.py [--items 400] [--item-ms 5] [--workers 0 1 2 4] [--spin]

Sleeping items scale with workers beyond the core count; spinning items only up to it. Every
epoch's batches are checked for order and contents. Never run this beside a build or test suite.

    python bench/dataloader_workers.py --handoff [--batch-kib 4 64 1024 16384] [--workers 2]

measures what it costs to get a finished batch from a worker to the main process, for batches of
16 float32 items of the given total size: "main" is the time next() takes for a batch that is
already waiting (persistent workers filled the prefetch queue during a pause), i.e. receiving and
rebuilding it; "epoch" is the time per batch over an epoch of free items, where the workers'
side (collate, pickling or moving into shared memory) counts too; "0 workers" is the same epoch
collated in the main process.
"""

import argparse
import statistics
import time

import lamina
from lamina.utils.data import DataLoader, Dataset


class SlowDataset(Dataset):
    def __init__(self, n, seconds, spin):
        self.n, self.seconds, self.spin = n, seconds, spin

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if self.spin:
            end = time.perf_counter() + self.seconds
            while time.perf_counter() < end:
                pass
        else:
            time.sleep(self.seconds)
        return lamina.full((64,), float(i)), i


def epoch_seconds(dataset, workers, batch_size, persistent):
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers,
                        persistent_workers=persistent and workers > 0)
    if persistent and workers > 0:
        list(loader)  # start the workers outside the timed epoch
    start = time.perf_counter()
    labels = []
    for x, y in loader:
        labels.extend(y.tolist())
        assert x[:, 0].tolist() == [float(v) for v in y.tolist()]
    seconds = time.perf_counter() - start
    assert labels == list(range(len(dataset))), "batches out of order"
    return seconds


class FreeDataset(Dataset):
    """Items that cost nothing to make: views into one preallocated block."""

    def __init__(self, n, item_elems):
        self.block = lamina.arange(float(n)).unsqueeze(1).expand(n, item_elems).contiguous()

    def __len__(self):
        return self.block.shape[0]

    def __getitem__(self, i):
        return self.block[i]


def handoff(batch_kib, workers, batches, repeats):
    """(ms per waiting batch in next(), ms per batch over an epoch, same with 0 workers)."""
    batch_size = 16
    item_elems = max(1, batch_kib * 1024 // 4 // batch_size)
    prefetch = 4
    dataset = FreeDataset(batches * batch_size, item_elems)

    def check(x, k):
        assert x.shape == (batch_size, item_elems) and x[0, 0].item() == k * batch_size

    waiting, epoch = [], []
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers,
                        persistent_workers=True, prefetch_factor=prefetch)
    for _ in range(repeats):
        it = iter(loader)
        deadline = time.monotonic() + 30
        while it._data_queue.qsize() < prefetch * workers and time.monotonic() < deadline:
            time.sleep(0.01)  # let the workers fill the prefetch queue
        time.sleep(0.05)
        for k in range(prefetch * workers):
            start = time.perf_counter()
            x = next(it)
            waiting.append(time.perf_counter() - start)
            check(x, k)
            del x
        for k in range(prefetch * workers, batches):
            check(next(it), k)
        start = time.perf_counter()
        for k, x in enumerate(loader):
            check(x, k)
        epoch.append((time.perf_counter() - start) / batches)
    del loader, it
    single = []
    for _ in range(repeats):
        start = time.perf_counter()
        for k, x in enumerate(DataLoader(dataset, batch_size=batch_size)):
            check(x, k)
        single.append((time.perf_counter() - start) / batches)
    return (statistics.median(waiting) * 1e3, statistics.median(epoch) * 1e3,
            statistics.median(single) * 1e3)


def main_handoff(args):
    workers = args.workers[-1] if args.workers != [0, 1, 2, 4] else 2
    print(f"batch hand-off, 16 float32 items per batch, {workers} workers, medians of "
          f"{args.repeats} epochs")
    print("batch KiB | main ms/waiting batch | epoch ms/batch | 0 workers ms/batch")
    for kib in args.batch_kib:
        batches = max(24, min(200, 200 * 64 // max(kib, 1)))
        waiting, epoch, single = handoff(kib, workers, batches, args.repeats)
        print(f"{kib:9d} | {waiting:21.3f} | {epoch:14.3f} | {single:18.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=400)
    parser.add_argument("--item-ms", type=float, default=5.0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2, 4])
    parser.add_argument("--spin", action="store_true", help="busy-wait instead of sleeping")
    parser.add_argument("--persistent", action="store_true", help="time a warm epoch only")
    parser.add_argument("--handoff", action="store_true", help="time the batch hand-off instead")
    parser.add_argument("--batch-kib", type=int, nargs="+", default=[4, 64, 1024, 16384])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.handoff:
        main_handoff(args)
        return
    dataset = SlowDataset(args.items, args.item_ms / 1000.0, args.spin)
    ideal = args.items * args.item_ms / 1000.0
    print(f"{args.items} items x {args.item_ms} ms ({'spin' if args.spin else 'sleep'}), "
          f"batch {args.batch_size}: one process would need {ideal:.2f} s")
    base = None
    for workers in args.workers:
        seconds = epoch_seconds(dataset, workers, args.batch_size, args.persistent)
        base = base or seconds
        print(f"num_workers={workers}: {seconds:.3f} s/epoch, speed-up {base / seconds:.2f}x")


if __name__ == "__main__":
    main()
