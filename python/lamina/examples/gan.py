"""Train a DCGAN on the 8x8 digits and judge its samples with the digits classifier.

    python -m lamina.examples.gan [--epochs 250] [--label-smoothing 0.1] [--out gan_run]

The generator maps a 64-d Gaussian noise vector through a linear layer to 128 maps of 2x2, then two
nn.ConvTranspose2d (stride 2) with BatchNorm and ReLU to 8x8, and a 3x3 convolution with tanh. The
discriminator mirrors it with strided convolutions and LeakyReLU(0.2) to one logit. Both train with
binary cross-entropy on logits and their own Adam (betas 0.5, 0.999); with --label-smoothing s the
discriminator's targets for real images are 1 - s. An exponential moving average of the generator's
weights (optim.swa_utils.AveragedModel) makes the samples. The judge (the digits example's CNN)
classifies 1,000 samples: the share it reads with confidence >= 0.9 and the entropy of its class
histogram (all ten digits equally often: log 10). Saves the checkpoint and OUT/gan.png: sample grids
over training and the class histogram.
"""

import argparse
import os

import lamina
import lamina.nn as nn
import lamina.nn.functional as F
from lamina.examples import _vision
from lamina.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


class Generator(nn.Module):
    """(B, z_dim) noise -> (B, 1, 8, 8) images in [-1, 1]."""

    def __init__(self, z_dim=64, width=32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(z_dim, 2 * width * 4), nn.Unflatten(1, (2 * width, 2, 2)), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU(),  # 4x4
            nn.ConvTranspose2d(width, width, 4, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU(),  # 8x8
            nn.Conv2d(width, 1, 3, padding=1), nn.Tanh(),
        )

    def forward(self, z):
        return self.net(z)


class Discriminator(nn.Module):
    """(B, 1, 8, 8) images in [-1, 1] -> (B,) real-vs-fake logits."""

    def __init__(self, width=32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, width, 4, stride=2, padding=1), nn.BatchNorm2d(width), nn.LeakyReLU(0.2),  # 4x4
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(2 * width * 4, 1),
        )

    def forward(self, x):
        return self.net(x).reshape(-1)


def sample(generator, n, z_dim, seed):
    """n images in [0, 1] from a fixed noise seed, the generator in eval mode."""
    generator.eval()
    with lamina.no_grad():
        z = lamina.randn(n, z_dim, generator=lamina.Generator().manual_seed(seed))
        return (generator(z) + 1) / 2


def train(epochs=250, batch_size=64, lr=2e-4, z_dim=64, label_smoothing=0.1, ema_decay=0.995, out="gan_run",
          seed=0, show_progress=True, judge_dir="digits_run", samples=1000):
    """Trains the GAN; returns {"history", "verdict" (the judge on `samples` EMA samples), "grids"}."""
    lamina.manual_seed(seed)
    train_loader, _ = _vision.digits_loaders(batch_size, seed)
    gen, disc = Generator(z_dim), Discriminator()
    ema = AveragedModel(gen, multi_avg_fn=get_ema_multi_avg_fn(ema_decay), use_buffers=True)
    opt_g = lamina.optim.Adam(gen.parameters(), lr=lr, betas=(0.5, 0.999))
    opt_d = lamina.optim.Adam(disc.parameters(), lr=lr, betas=(0.5, 0.999))
    print(f"gan: generator {sum(p.numel() for p in gen.parameters())} / discriminator "
          f"{sum(p.numel() for p in disc.parameters())} parameters, {lamina.get_num_threads()} threads")

    def step(images, labels):
        real = images * 2 - 1
        n = real.shape[0]
        fake = gen(lamina.randn(n, z_dim))
        # Discriminator: real -> 1 - label_smoothing, fake -> 0; the fake is detached so only D learns.
        d_real, d_fake = disc(real), disc(fake.detach())
        loss_d = (F.binary_cross_entropy_with_logits(d_real, lamina.full((n,), 1.0 - label_smoothing))
                  + F.binary_cross_entropy_with_logits(d_fake, lamina.zeros(n)))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        # Generator: the non-saturating loss, -log D(G(z)).
        loss_g = F.binary_cross_entropy_with_logits(disc(fake), lamina.ones(n))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        ema.update_parameters(gen)
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item(), "d_real": lamina.sigmoid(d_real).mean().item(),
                "d_fake": lamina.sigmoid(d_fake).mean().item()}

    grids = []
    snapshot_epochs = {max(1, epochs // 10), epochs // 3, 2 * epochs // 3}

    def on_epoch(epoch):
        if epoch in snapshot_epochs:
            grids.append((f"epoch {epoch}", sample(ema.module, 40, z_dim, seed)))
        return {}

    history = _vision.fit([gen, disc], train_loader, step, epochs, "gan", show_progress, on_epoch)
    images = sample(ema.module, samples, z_dim, seed)
    grids.append((f"epoch {epochs} (EMA weights)", images[:40]))
    judge = _vision.load_judge(judge_dir, show_progress)
    verdict = _vision.judge_images(judge, images)
    print(f"gan: of {samples} samples the judge reads {100 * verdict['confident']:.1f}% with confidence >= 0.9; "
          f"class entropy {verdict['coverage']:.3f} x log(10); histogram {verdict['histogram']}; "
          f"bar (>= 80%, >= 0.9): {'met' if _vision.passes_bar(verdict) else 'NOT met'}")
    _vision.save_checkpoint(os.path.join(out, "gan.safetensors"),
                            {"generator": gen.state_dict(), "generator_ema": ema.module.state_dict(),
                             "discriminator": disc.state_dict(), "opt_g": opt_g.state_dict(),
                             "opt_d": opt_d.state_dict(), "config": {"z_dim": z_dim}, "history": history})
    _vision.save_figure(os.path.join(out, "gan.png"), [(c, g, 8) for c, g in grids],
                        f"lamina DCGAN: {100 * verdict['confident']:.0f}% confident, "
                        f"entropy {verdict['coverage']:.2f} log 10")
    return {"history": history, "verdict": verdict, "grids": grids}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--z-dim", type=int, default=64)
    parser.add_argument("--label-smoothing", type=float, default=0.1,
                        help="the discriminator's target for real images is 1 - this (0: off)")
    parser.add_argument("--ema-decay", type=float, default=0.995, help="of the generator weights that sample")
    parser.add_argument("--samples", type=int, default=1000, help="images the judge classifies")
    parser.add_argument("--judge", default="digits_run",
                        help="folder of the digits example's checkpoint (trained there when missing)")
    _vision.add_common_arguments(parser, epochs=250, batch_size=64, lr=2e-4, out="gan_run")
    args = parser.parse_args(argv)
    return train(args.epochs, args.batch_size, args.lr, args.z_dim, args.label_smoothing, args.ema_decay, args.out,
                 args.seed, not args.no_progress, args.judge, args.samples)


if __name__ == "__main__":
    main()
