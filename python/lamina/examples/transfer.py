"""Transfer learning: reuse a CNN trained on digits 0-4 to learn digits 5-9 from 10 labels per class.

    python -m lamina.examples.transfer [--shots 10] [--repeats 3] [--out transfer_run]

First a CNN (the digits example's network with a 5-way output) is trained on every training image of
digits 0-4. The new task, digits 5-9, gets only `--shots` labelled images per class; it is learned
three ways with the same budget of steps:
  scratch    a fresh network, all of it trained on the few labels;
  frozen     the pretrained backbone loaded with load_state_dict(strict=False) (the old head is
             left out), frozen with requires_grad_(False) and kept in eval mode; only a new head trains;
  fine-tune  the same start, but the whole network trains, the backbone with a 10x smaller learning
             rate than the new head (two parameter groups).
Each is repeated on `--repeats` different draws of the few labels; the table gives the test accuracy
on all test images of 5-9 (mean and spread). Saves the pretrained and fine-tuned checkpoints and
OUT/transfer.png (accuracy per method, and the few-label training images).
"""

import argparse
import os

import numpy as np

import lamina
import lamina.nn as nn
import lamina.nn.functional as F
from lamina.examples import _vision
from lamina.utils.data import DataLoader

OLD, NEW = range(0, 5), range(5, 10)
METHODS = ("scratch", "frozen", "fine-tune")


class Backbone(nn.Module):
    """(B, 1, 8, 8) -> (B, 256) features: the digits CNN's two conv blocks. Cutting here, before the
    linear layers, transferred best (measured: the 128-wide embedding above it has specialised to
    the five old classes, and a frozen one scored 20 points lower on 5-9)."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        )

    def forward(self, x):
        return self.net(x)


class Classifier(nn.Module):
    """Backbone and a two-layer head, the digits CNN's classifier."""

    def __init__(self, classes=5):
        super().__init__()
        self.backbone = Backbone()
        self.head = nn.Sequential(nn.Linear(64 * 2 * 2, 128), nn.ReLU(), nn.Dropout(0.25),
                                  nn.Linear(128, classes))

    def forward(self, x):
        return self.head(self.backbone(x))


def relabel(dataset, first):
    """The dataset with labels shifted down by `first` (digits 5-9 become classes 0-4)."""
    images, labels = dataset.tensors
    return lamina.utils.data.TensorDataset(images, labels - first)


def classification_step(model, optimizer):
    def step(images, labels):
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return {"loss": loss.item()}
    return step


def pretrain(train_set, test_set, epochs, lr, seed, show_progress):
    """A Classifier trained on digits 0-4; returns (model, test accuracy on 0-4)."""
    lamina.manual_seed(seed)
    model = Classifier()
    loader = DataLoader(train_set, batch_size=32, shuffle=True, generator=lamina.Generator().manual_seed(seed))
    test_loader = DataLoader(test_set, batch_size=256)
    optimizer = lamina.optim.Adam(model.parameters(), lr=lr)
    _vision.fit([model], loader, classification_step(model, optimizer), epochs, "pretrain 0-4", show_progress,
                lambda epoch: {"test_acc": _vision.accuracy(model, test_loader)})
    return model, _vision.accuracy(model, test_loader)


def adapt(method, pretrained_state, train_set, test_loader, epochs, batch_size, lr, seed, show_progress):
    """Learns the few-label task one way; returns (model, test accuracy)."""
    lamina.manual_seed(seed)
    model = Classifier()
    trained = [model]
    if method == "scratch":
        optimizer = lamina.optim.Adam(model.parameters(), lr=lr)
    else:
        # The old 5-way head belongs to the old task: only the backbone's weights come over.
        backbone_only = {k: v for k, v in pretrained_state.items() if k.startswith("backbone.")}
        missing, unexpected = model.load_state_dict(backbone_only, strict=False)
        assert all(k.startswith("head.") for k in missing) and not unexpected
        if method == "frozen":
            model.backbone.requires_grad_(False)
            model.backbone.eval()  # BatchNorm keeps the pretrained statistics
            trained = [model.head]
            optimizer = lamina.optim.Adam([{"params": model.head.parameters()}], lr=lr)
        else:
            optimizer = lamina.optim.Adam([{"params": model.backbone.parameters(), "lr": lr / 10},
                                           {"params": model.head.parameters()}], lr=lr)
    loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, generator=lamina.Generator().manual_seed(seed))
    _vision.fit(trained, loader, classification_step(model, optimizer), epochs, method, show_progress)
    return model, _vision.accuracy(model, test_loader)


def run(shots=10, repeats=3, pretrain_epochs=20, epochs=100, batch_size=25, lr=2e-3, out="transfer_run", seed=0,
        show_progress=True):
    """Pretrains on 0-4, learns 5-9 from `shots` labels per class three ways, `repeats` times; saves
    checkpoints and the figure. Returns {"pretrain_acc", method: [accuracy per repeat]}."""
    train_all, test_all = lamina.datasets.digits(test_fraction=0.2, seed=seed)
    old_train, old_test = _vision.subset(train_all, OLD), _vision.subset(test_all, OLD)
    new_test = relabel(_vision.subset(test_all, NEW), NEW[0])
    test_loader = DataLoader(new_test, batch_size=256)
    print(f"transfer: pretrain on digits 0-4 ({len(old_train)} images), then digits 5-9 from {shots} labels "
          f"per class, tested on {len(new_test)} images; {lamina.get_num_threads()} threads")
    pretrained, pretrain_acc = pretrain(old_train, old_test, pretrain_epochs, lr, seed, show_progress)
    print(f"pretrained on 0-4: test accuracy {100 * pretrain_acc:.2f}%")
    os.makedirs(out, exist_ok=True)
    _vision.save_checkpoint(os.path.join(out, "pretrained.safetensors"), {"model": pretrained.state_dict()})
    state = pretrained.state_dict()
    results = {"pretrain_acc": pretrain_acc, **{m: [] for m in METHODS}}
    few_sets = []
    for r in range(repeats):
        few = relabel(_vision.subset(train_all, NEW, per_class=shots, seed=seed + 1 + r), NEW[0])
        few_sets.append(few)
        for method in METHODS:
            model, acc = adapt(method, state, few, test_loader, epochs, batch_size, lr, seed + r, show_progress)
            results[method].append(acc)
            if method == "fine-tune" and r == 0:
                _vision.save_checkpoint(os.path.join(out, "finetuned.safetensors"), {"model": model.state_dict()})
    print(f"\ndigits 5-9 from {shots} labels per class: test accuracy over {repeats} draws of the labels")
    print(f"{'method':<10} {'mean':>7} {'min':>7} {'max':>7}")
    for method in METHODS:
        a = 100 * np.array(results[method])
        print(f"{method:<10} {a.mean():6.2f}% {a.min():6.2f}% {a.max():6.2f}%")
    save_plot(results, few_sets[0], os.path.join(out, "transfer.png"), shots)
    return results


def save_plot(results, few, path, shots):
    plt = _vision._pyplot()
    if plt is None:
        print("matplotlib is not installed: no figure (pip install \"lamina[examples]\")")
        return
    fig, (ax_bar, ax_img) = plt.subplots(1, 2, figsize=(9, 3.6))
    means = [100 * np.mean(results[m]) for m in METHODS]
    ax_bar.bar(METHODS, means, color=["#999999", "#4477aa", "#228833"])
    for i, m in enumerate(METHODS):
        ax_bar.scatter([i] * len(results[m]), [100 * a for a in results[m]], color="black", s=10, zorder=3)
        ax_bar.text(i, means[i] + 1, f"{means[i]:.1f}%", ha="center")
    ax_bar.set_ylim(0, 105)
    ax_bar.set_ylabel("test accuracy on digits 5-9 (%)")
    images, labels = few.tensors
    order = lamina.from_numpy(np.argsort(labels.numpy(), kind="stable"))
    ax_img.imshow(_vision.grid(images[order], shots), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax_img.set_title(f"the {len(few)} labelled training images", fontsize=9)
    ax_img.axis("off")
    fig.suptitle("lamina transfer learning: digits 0-4 -> 5-9")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"saved figure to {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", type=int, default=10, help="labelled images per new class")
    parser.add_argument("--repeats", type=int, default=3, help="draws of the few labels")
    parser.add_argument("--pretrain-epochs", type=int, default=20)
    _vision.add_common_arguments(parser, epochs=100, batch_size=25, lr=2e-3, out="transfer_run")
    args = parser.parse_args(argv)
    return run(args.shots, args.repeats, args.pretrain_epochs, args.epochs, args.batch_size, args.lr, args.out, args.seed,
               not args.no_progress)


if __name__ == "__main__":
    main()
