"""Train a small CNN on scikit-learn's 8x8 handwritten digits: lamina's first real model.

    pip install ".[examples]" && python -m lamina.examples.digits [--epochs 15] [--out digits_run]
                                                          [--model cnn|vit]

Prints per-epoch loss and test accuracy (a tqdm progress bar when tqdm is installed), saves the
trained weights to OUT/digits.safetensors and, when matplotlib is installed, the loss/accuracy
curves to OUT/digits.png. With --tensorboard DIR (needs pip install ".[tensorboard]") it also logs
train/loss per step and test/accuracy, test/loss, train/lr per epoch for `tensorboard --logdir DIR`.
--model vit trains a small vision transformer instead of the CNN (2x2 patches, a class token, three
nn.TransformerEncoderLayer blocks). The script reads like the PyTorch one it would be.

With --ddp it trains data-parallel on MPI ranks (pip install ".[distributed]"):
    python -m lamina.distributed.run -n 2 -m lamina.examples.digits --ddp
Each rank takes its share of every global batch of --batch-size images (DistributedSampler), the
model is wrapped in DistributedDataParallel, and rank 0 alone prints, logs and saves.
"""

import argparse
import os
import sys
import time

import lamina
import lamina.nn as nn
import lamina.nn.functional as F
from lamina.utils.data import DataLoader
from lamina.utils.tensorboard import SummaryWriter


class DigitsNet(nn.Module):
    """Two 3x3 conv blocks and a small classifier: 8x8 -> 4x4 -> 2x2 feature maps."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(0.25), nn.Linear(64 * 2 * 2, 128), nn.ReLU(), nn.Linear(128, 10),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


class DigitsViT(nn.Module):
    """A small vision transformer: the 8x8 image as 16 patches of 2x2 pixels plus a class token, through
    pre-norm encoder layers; the class token's output is classified."""

    def __init__(self, patch=2, d_model=96, nhead=4, num_layers=3, dim_feedforward=192, dropout=0.1):
        super().__init__()
        self.patch = patch
        n_patches = (8 // patch) ** 2
        self.embed = nn.Linear(patch * patch, d_model)
        self.cls_token = nn.Parameter(lamina.zeros(1, 1, d_model))
        self.pos_embed = nn.Parameter(0.02 * lamina.randn(1, n_patches + 1, d_model))
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, 10)

    def forward(self, x):
        """x (B, 1, 8, 8) -> (B, 10) logits."""
        B, p = x.shape[0], self.patch
        # (B, 1, 8, 8) -> (B, 4, 2, 4, 2) -> (B, 4, 4, 2, 2) -> (B, 16, 4): one row per patch.
        patches = x.reshape(B, 8 // p, p, 8 // p, p).permute(0, 1, 3, 2, 4).reshape(B, -1, p * p)
        tokens = lamina.cat([self.cls_token.expand(B, -1, -1), self.embed(patches)], dim=1)
        return self.head(self.norm(self.encoder(tokens + self.pos_embed))[:, 0])


MODELS = {"cnn": DigitsNet, "vit": DigitsViT}
DEFAULTS = {"cnn": dict(epochs=15, lr=2e-3), "vit": dict(epochs=30, lr=1e-3)}  # the ViT wants a gentler lr


def progress(iterable, desc, enabled):
    """tqdm when it is installed (and wanted), the plain iterable otherwise."""
    if enabled:
        try:
            from tqdm import tqdm
            return tqdm(iterable, desc=desc, leave=False, file=sys.stdout)
        except ImportError:
            pass
    return iterable


def evaluate(model, loader):
    """(mean loss, accuracy) over a loader, in eval mode without autograd."""
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    with lamina.no_grad():
        for images, labels in loader:
            logits = model(images)
            total_loss += F.cross_entropy(logits, labels, reduction="sum").item()
            correct += (logits.argmax(dim=1) == labels).sum().item()
            count += labels.shape[0]
    return total_loss / count, correct / count


def save_plot(history, path, name="cnn"):
    """Loss and accuracy curves as a PNG; returns False when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    epochs = range(1, len(history["train_loss"]) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax_loss.plot(epochs, history["train_loss"], label="train")
    ax_loss.plot(epochs, history["test_loss"], label="test")
    ax_loss.set_xlabel("epoch"), ax_loss.set_ylabel("cross-entropy"), ax_loss.legend()
    ax_acc.plot(epochs, [100 * a for a in history["test_acc"]])
    ax_acc.set_xlabel("epoch"), ax_acc.set_ylabel("test accuracy (%)")
    fig.suptitle(f"lamina: {name.upper()} on 8x8 digits")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def train(epochs=None, batch_size=32, lr=None, out="digits_run", seed=0, show_progress=True,
          tensorboard=None, model="cnn", ddp=False):
    """Trains DigitsNet (model="cnn") or DigitsViT ("vit") and returns the history dict (train_loss,
    test_loss, test_acc per epoch). epochs and lr default to the model's entry in DEFAULTS.

    tensorboard: a log directory for SummaryWriter, or None for no TensorBoard logging.
    ddp: train data-parallel across the MPI ranks this process was started among (the global batch
    stays batch_size); every rank returns the same history.
    """
    name = model
    epochs = DEFAULTS[name]["epochs"] if epochs is None else epochs
    lr = DEFAULTS[name]["lr"] if lr is None else lr
    lamina.manual_seed(seed)
    train_set, test_set = lamina.datasets.digits(test_fraction=0.2, seed=seed)
    net = MODELS[name]()
    rank, world, sampler, model = 0, 1, None, net
    if ddp:
        import lamina.distributed as dist
        from lamina.nn.parallel import DistributedDataParallel
        from lamina.utils.data.distributed import DistributedSampler
        if not dist.is_initialized():
            dist.init_process_group("mpi")
        rank, world = dist.get_rank(), dist.get_world_size()
        sampler = DistributedSampler(train_set, seed=seed, drop_last=True)
        model = DistributedDataParallel(net)   # rank 0's initial weights go to every rank
    train_loader = DataLoader(train_set, batch_size=max(1, batch_size // world), shuffle=sampler is None,
                              sampler=sampler, generator=lamina.Generator().manual_seed(seed))
    test_loader = DataLoader(test_set, batch_size=256)
    optimizer = lamina.optim.Adam(model.parameters(), lr=lr)
    scheduler = lamina.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    say = print if rank == 0 else (lambda *args, **kwargs: None)
    say(f"digits ({name}): {len(train_set)} train / {len(test_set)} test images, "
        f"{sum(p.numel() for p in model.parameters())} parameters, {lamina.get_num_threads()} threads"
        + (f" per rank, {world} ranks" if ddp else ""))

    writer = SummaryWriter(tensorboard) if tensorboard and rank == 0 else None
    history = {"train_loss": [], "test_loss": [], "test_acc": []}
    start, step = time.perf_counter(), 0
    for epoch in range(1, epochs + 1):
        model.train()
        if sampler is not None:
            sampler.set_epoch(epoch)   # a new shuffle each epoch, the same on every rank
        running, seen = 0.0, 0
        for images, labels in progress(train_loader, f"epoch {epoch}/{epochs}", show_progress and rank == 0):
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            running += loss.item() * labels.shape[0]
            seen += labels.shape[0]
            if writer:
                writer.add_scalar("train/loss", loss, step)
        if ddp:   # the loss averaged over all ranks' samples
            totals = lamina.tensor([running, float(seen)], dtype=lamina.float64)
            dist.all_reduce(totals)
            running, seen = totals.tolist()
        epoch_lr = optimizer.param_groups[0]["lr"]
        scheduler.step()
        test_loss, test_acc = evaluate(net, test_loader)   # every rank holds the same weights
        history["train_loss"].append(running / seen)
        history["test_loss"].append(test_loss)
        history["test_acc"].append(test_acc)
        if writer:
            writer.add_scalar("test/accuracy", test_acc, epoch)
            writer.add_scalar("test/loss", test_loss, epoch)
            writer.add_scalar("train/lr", epoch_lr, epoch)
        say(f"epoch {epoch:2d}/{epochs}  train loss {running / seen:.4f}  test loss {test_loss:.4f}  "
              f"test accuracy {100 * test_acc:.2f}%  ({time.perf_counter() - start:.1f} s)")
    if writer:
        writer.close()
        print(f"TensorBoard logs in {tensorboard} (view: tensorboard --logdir {tensorboard})")
    if rank != 0:
        return history

    os.makedirs(out, exist_ok=True)
    checkpoint = os.path.join(out, "digits.safetensors" if name == "cnn" else f"digits_{name}.safetensors")
    lamina.save({"model": net.state_dict(), "optimizer": optimizer.state_dict(), "history": history},
                checkpoint)
    print(f"saved checkpoint to {checkpoint}")
    plot = os.path.join(out, "digits.png" if name == "cnn" else f"digits_{name}.png")
    if save_plot(history, plot, name):
        print(f"saved loss/accuracy curves to {plot}")
    else:
        print("matplotlib is not installed: no plot (pip install \"lamina[examples]\")")
    return history


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="cnn",
                        help="cnn: two conv blocks; vit: a small vision transformer on 2x2 patches")
    parser.add_argument("--epochs", type=int, help="default: 15 (cnn), 30 (vit)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, help="default: 2e-3 (cnn), 1e-3 (vit)")
    parser.add_argument("--out", default="digits_run", help="folder for the checkpoint and the plot")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="plain lines instead of tqdm bars")
    parser.add_argument("--tensorboard", metavar="DIR",
                        help="log loss, accuracy and learning rate for TensorBoard to DIR")
    parser.add_argument("--ddp", action="store_true",
                        help="data-parallel across MPI ranks: python -m lamina.distributed.run -n 2 -m "
                             "lamina.examples.digits --ddp")
    args = parser.parse_args(argv)
    history = train(args.epochs, args.batch_size, args.lr, args.out, args.seed, not args.no_progress,
                    args.tensorboard, args.model, args.ddp)
    if args.ddp and lamina.distributed.get_rank() != 0:
        return
    print(f"final test accuracy: {100 * history['test_acc'][-1]:.2f}%")


if __name__ == "__main__":
    main()
