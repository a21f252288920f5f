"""What the image-model examples (autoencoder.py, gan.py, diffusion.py, transfer.py) share: the digits
loaders, the training loop with its train/eval modes and progress bar, evaluation, the digits
classifier that judges generated images, and the image grids and figures they save.

A model plugs into the loop with a step function: `step(images, labels) -> {name: float}` runs one
optimizer step (or several: the GAN steps two optimizers) and returns the figures to average over the
epoch. The loop puts the modules in train mode, the evaluation in eval mode under no_grad.
"""

import math
import os
import time

import numpy as np

import lamina
import lamina.nn.functional as F
from lamina.examples.digits import DigitsNet, progress
from lamina.examples.digits import train as train_digits
from lamina.utils.data import DataLoader


def digits_loaders(batch_size, seed=0, classes=None):
    """(train_loader, test_loader) over the 8x8 digits in [0, 1]; `classes` keeps only those labels."""
    train_set, test_set = lamina.datasets.digits(test_fraction=0.2, seed=seed)
    if classes is not None:
        train_set, test_set = subset(train_set, classes), subset(test_set, classes)
    train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True,
                              generator=lamina.Generator().manual_seed(seed))
    return train_loader, DataLoader(test_set, batch_size=256)


def subset(dataset, classes, per_class=None, seed=0):
    """A TensorDataset of the images whose label is in `classes` (the first `per_class` of each in a
    seeded random order when given), labels unchanged."""
    images, labels = dataset.tensors
    y = labels.numpy()
    rng = np.random.default_rng(seed)
    keep = []
    for c in classes:
        members = np.flatnonzero(y == c)
        keep.extend(rng.permutation(members)[:per_class] if per_class is not None else members)
    index = lamina.from_numpy(np.sort(np.asarray(keep, dtype=np.int64)))
    return lamina.utils.data.TensorDataset(images[index], labels[index])


def fit(modules, loader, step, epochs, name, show_progress=True, on_epoch=None):
    """Runs `epochs` passes of `step(images, labels) -> {name: float}` over loader with the modules
    in train mode. After each epoch on_epoch(epoch) may return more figures (an evaluation); the
    epoch's line prints both. Returns the history: one dict of averaged figures per epoch."""
    history, start = [], time.perf_counter()
    for epoch in range(1, epochs + 1):
        for m in modules:
            m.train()
        sums, seen = {}, 0
        bar = progress(loader, f"{name} {epoch}/{epochs}", show_progress)
        for images, labels in bar:
            figures = step(images, labels)
            n = labels.shape[0]
            for k, v in figures.items():
                sums[k] = sums.get(k, 0.0) + v * n
            seen += n
            if hasattr(bar, "set_postfix"):
                bar.set_postfix({k: f"{v:.3f}" for k, v in figures.items()})
        record = {k: v / seen for k, v in sums.items()}
        if on_epoch is not None:
            record.update(on_epoch(epoch) or {})
        history.append(record)
        text = "  ".join(f"{k} {v:.4f}" for k, v in record.items())
        print(f"{name} epoch {epoch:3d}/{epochs}  {text}  ({time.perf_counter() - start:.1f} s)")
    return history


def evaluate(module, loader, measure):
    """{name: mean} of `measure(images, labels) -> {name: per-batch sum}` over loader, in eval mode
    without autograd. Every submodule gets its own mode back after (a frozen backbone stays in eval)."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    sums, count = {}, 0
    with lamina.no_grad():
        for images, labels in loader:
            for k, v in measure(images, labels).items():
                sums[k] = sums.get(k, 0.0) + float(v)
            count += labels.shape[0]
    for m, training in modes:
        m.training = training
    return {k: v / count for k, v in sums.items()}


def accuracy(model, loader):
    """Fraction of loader's images that model classifies correctly."""
    return evaluate(model, loader, lambda x, y: {"acc": (model(x).argmax(dim=1) == y).sum().item()})["acc"]


# ---- the judge ----------------------------------------------------------------------------------

def load_judge(folder="digits_run", show_progress=True):
    """The digits example's CNN from folder/digits.safetensors, in eval mode; trained there first
    (the digits example's defaults, ~20 s) when the folder has none. Trained once, it judges the
    images of every generative example."""
    path = os.path.join(folder, "digits.safetensors")
    if not os.path.exists(path):
        print(f"training the judge (the digits example's CNN) into {folder}")
        train_digits(out=folder, show_progress=show_progress)
    judge = DigitsNet()
    judge.load_state_dict(lamina.load(path)["model"])
    return judge.eval()


def judge_images(judge, images, threshold=0.9):
    """How a digit classifier sees images (N, 1, 8, 8) in [0, 1]: the fraction it classifies with
    confidence >= threshold ('confident'), the entropy of its predicted-class histogram over log(10)
    ('coverage': 1 when all ten digits are equally frequent), the histogram, and the predictions."""
    judge.eval()
    with lamina.no_grad():
        probs = F.softmax(judge(images.clamp(0, 1)), dim=1)
    confidence, predicted = probs.max(dim=1)
    hist = np.bincount(predicted.numpy(), minlength=10)
    p = hist[hist > 0] / hist.sum()
    return {"confident": float((confidence >= threshold).float().mean().item()),
            "coverage": max(0.0, float(-(p * np.log(p)).sum() / math.log(10))), "histogram": hist.tolist(),
            "predicted": predicted}


def passes_bar(verdict, confident=0.8, coverage=0.9):
    """The issue's bar for generated digits: >= 80% confident and a class entropy >= 0.9 log(10)."""
    return verdict["confident"] >= confident and verdict["coverage"] >= coverage


# ---- figures ------------------------------------------------------------------------------------

def _pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        return plt
    except ImportError:
        return None


def grid(images, nrow):
    """(N, 1, H, W) images -> one (rows*(H+1)-1, nrow*(W+1)-1) numpy mosaic with one-pixel gaps."""
    x = images.detach().clamp(0, 1).numpy()[:, 0]
    n, h, w = x.shape
    rows = -(-n // nrow)
    out = np.full((rows * (h + 1) - 1, nrow * (w + 1) - 1), 0.2, dtype=np.float32)  # light grey gaps
    for i in range(n):
        r, c = divmod(i, nrow)
        out[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = x[i]
    return out


def save_figure(path, panels, title, scatter=None):
    """A PNG of image panels [(caption, (N, 1, H, W) images, nrow)] side by side, plus an optional
    scatter panel (caption, (N, 2) points, labels); returns False (and says so) without matplotlib."""
    plt = _pyplot()
    if plt is None:
        print("matplotlib is not installed: no figure (pip install \"lamina[examples]\")")
        return False
    count = len(panels) + (scatter is not None)
    fig, axes = plt.subplots(1, count, figsize=(3.6 * count, 3.9), squeeze=False)
    for ax, (caption, images, nrow) in zip(axes[0], panels):
        ax.imshow(grid(images, nrow), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(caption, fontsize=9)
        ax.axis("off")
    if scatter is not None:
        caption, points, labels = scatter
        ax = axes[0][-1]
        sc = ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="tab10", s=6, vmin=-0.5, vmax=9.5)
        fig.colorbar(sc, ax=ax, ticks=range(10))
        ax.set_title(caption, fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"saved figure to {path}")
    return True


def save_checkpoint(path, state):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    lamina.save(state, path)  # writes a temp file and renames it: never half a checkpoint
    print(f"saved checkpoint to {path}")


def add_common_arguments(parser, *, epochs, batch_size, lr, out):
    """The options every image example takes, with that example's defaults."""
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--lr", type=float, default=lr)
    parser.add_argument("--out", default=out, help="folder for the checkpoint and the figure")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="plain lines instead of tqdm bars")
