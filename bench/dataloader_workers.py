"""DataLoader worker speed-up on a slow dataset: an epoch over items that each take `--item-ms`
(sleep = I/O-bound, or spin = CPU-bound decoding), with 0, 1, 2, ... worker processes.

    python bench/dataloader_workers.py [--items 400] [--item-ms 5] [--workers 0 1 2 4] [--spin]

Sleeping items scale with workers beyond the core count; spinning items only up to it. Every
epoch's batches are checked for order and contents. Never run this beside a build or test suite.
"""

import argparse
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=400)
    parser.add_argument("--item-ms", type=float, default=5.0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2, 4])
    parser.add_argument("--spin", action="store_true", help="busy-wait instead of sleeping")
    parser.add_argument("--persistent", action="store_true", help="time a warm epoch only")
    args = parser.parse_args()
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
