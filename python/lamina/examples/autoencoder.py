"""Train a convolutional autoencoder (or with --vae a variational one) on the 8x8 digits.

    python -m lamina.examples.autoencoder [--vae] [--epochs 60] [--latent-dim 16] [--out autoencoder_run]

The encoder halves the image twice with strided convolutions (8x8 -> 4x4 -> 2x2) into a latent code;
the decoder mirrors it with nn.ConvTranspose2d. The autoencoder minimises the per-image binary
cross-entropy of its reconstruction; the VAE encodes a Gaussian (mean, log-variance), samples it with
the reparameterisation trick (mu + sigma * randn_like) and maximises the ELBO (the Gaussian
log-likelihood of the image, with a learned pixel noise sigma, minus the KL divergence to N(0, I)).
Reports the test reconstruction error (mean squared error per pixel), the test ELBO (VAE), and how
often the digits classifier (the digits example's CNN, the judge) reads each reconstruction as its
original digit. Saves the checkpoint and OUT/NAME.png: reconstructions, the latent codes of the test
digits (their first two principal components) coloured by digit, and (VAE) samples from the prior.
"""

import argparse
import math
import os

import numpy as np

import lamina
import lamina.nn as nn
import lamina.nn.functional as F
from lamina.examples import _vision


class Encoder(nn.Module):
    """(B, 1, 8, 8) -> (B, out_dim): two stride-2 convolutions then a linear layer."""

    def __init__(self, out_dim, width=32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.ReLU(),      # 8x8 -> 4x4
            nn.Conv2d(2 * width, 2 * width, 4, stride=2, padding=1), nn.ReLU(),  # 4x4 -> 2x2
            nn.Flatten(), nn.Linear(2 * width * 4, out_dim),
        )

    def forward(self, x):
        return self.net(x)


class Decoder(nn.Module):
    """(B, latent_dim) -> (B, 1, 8, 8) pixel logits: the encoder mirrored with transposed convolutions."""

    def __init__(self, latent_dim, width=32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 2 * width * 4), nn.ReLU(), nn.Unflatten(1, (2 * width, 2, 2)),
            nn.ConvTranspose2d(2 * width, 2 * width, 4, stride=2, padding=1), nn.ReLU(),  # 2x2 -> 4x4
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), nn.ReLU(),      # 4x4 -> 8x8
            nn.Conv2d(width, 1, 3, padding=1),
        )

    def forward(self, z):
        return self.net(z)


class AutoEncoder(nn.Module):
    def __init__(self, latent_dim=16, width=32):
        super().__init__()
        self.encoder = Encoder(latent_dim, width)
        self.decoder = Decoder(latent_dim, width)

    def encode(self, x):
        return self.encoder(x)

    def forward(self, x):
        """(reconstruction logits, latent code)."""
        z = self.encode(x)
        return self.decoder(z), z

    def loss(self, x):
        """Per-image reconstruction cross-entropy (nats), averaged over the batch."""
        logits, _ = self(x)
        return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0], {}


class VAE(AutoEncoder):
    """The encoder outputs a diagonal Gaussian q(z|x) = N(mu, exp(logvar)); the prior is N(0, I)."""

    def __init__(self, latent_dim=16, width=32):
        nn.Module.__init__(self)
        self.latent_dim = latent_dim
        self.encoder = Encoder(2 * latent_dim, width)
        self.decoder = Decoder(latent_dim, width)
        # Gaussian likelihood N(x; sigmoid(decoder(z)), sigma^2) per pixel. A Bernoulli one (BCE) on
        # these grey levels weighs the 64 pixels so lightly against the KL that the posterior
        # collapses to a few dimensions (measured: 82% of reconstructions recognised instead of 96%);
        # a learned sigma balances the two by itself (sigma-VAE).
        self.log_sigma = nn.Parameter(lamina.tensor(math.log(0.1)))

    def encode(self, x):
        """The posterior's mean (the code the scatter plot and reconstructions use)."""
        return self.encoder(x)[:, :self.latent_dim]

    def forward(self, x):
        """(reconstruction logits of a sampled z, mu, logvar)."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        z = mu + (0.5 * logvar).exp() * lamina.randn_like(mu)  # reparameterised: gradients reach mu, logvar
        return self.decoder(z), mu, logvar

    def loss(self, x):
        """Negative ELBO per image (nats): -log N(x; decoder(z), sigma^2) + KL(q(z|x) || N(0, I))."""
        logits, mu, logvar = self(x)
        sq = (lamina.sigmoid(logits) - x).pow(2).sum() / x.shape[0]
        pixels = x[0].numel()
        recon = 0.5 * sq / (2 * self.log_sigma).exp() + pixels * (self.log_sigma + 0.5 * math.log(2 * math.pi))
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum() / x.shape[0]
        return recon + kl, {"kl": kl.item()}

    def sample(self, n, generator=None):
        """n images decoded from z ~ N(0, I), as probabilities in [0, 1]."""
        z = lamina.randn(n, self.latent_dim, generator=generator)
        return lamina.sigmoid(self.decoder(z))


def reconstruct(model, x):
    """Pixel probabilities decoded from the code of x (the VAE's posterior mean: no sampling)."""
    return lamina.sigmoid(model.decoder(model.encode(x)))


def principal_components(codes, k=2):
    """(N, D) numpy codes projected on their first k principal axes (themselves when D == k)."""
    if codes.shape[1] == k:
        return codes
    centred = codes - codes.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:k].T


def train(vae=False, epochs=60, batch_size=64, lr=2e-3, latent_dim=16, out="autoencoder_run", seed=0,
          show_progress=True, judge_dir="digits_run"):
    """Trains the autoencoder (or VAE), saves the checkpoint and figure; returns a dict of the test
    figures: recon_mse, elbo (VAE; nats per image), judge_accuracy of the reconstructions, and
    (VAE) the judge's verdict on prior samples, plus the per-epoch history."""
    name = "vae" if vae else "autoencoder"
    lamina.manual_seed(seed)
    train_loader, test_loader = _vision.digits_loaders(batch_size, seed)
    model = (VAE if vae else AutoEncoder)(latent_dim)
    optimizer = lamina.optim.Adam(model.parameters(), lr=lr)
    scheduler = lamina.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    print(f"{name}: latent dim {latent_dim}, {sum(p.numel() for p in model.parameters())} parameters, "
          f"{lamina.get_num_threads()} threads")

    def step(images, labels):
        loss, extra = model.loss(images)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return {"loss": loss.item(), **extra}

    def test_figures(images, labels):
        figures = {"recon_mse": F.mse_loss(reconstruct(model, images), images, reduction="sum").item() / 64}
        if vae:  # one reparameterised sample per image: the usual single-sample ELBO estimate
            figures["elbo"] = -model.loss(images)[0].item() * labels.shape[0]
        return figures

    def on_epoch(epoch):
        scheduler.step()
        return _vision.evaluate(model, test_loader, test_figures)

    history = _vision.fit([model], train_loader, step, epochs, name, show_progress, on_epoch)
    judge = _vision.load_judge(judge_dir, show_progress)
    images, labels = test_loader.dataset.tensors
    model.eval()
    with lamina.no_grad():
        recon = reconstruct(model, images)
        codes = model.encode(images).numpy()
        samples = model.sample(100, lamina.Generator().manual_seed(seed)) if vae else None
    verdict = _vision.judge_images(judge, recon)
    judged = float((verdict["predicted"] == labels).float().mean().item())
    result = {"history": history, "recon_mse": history[-1]["recon_mse"], "judge_accuracy": judged}
    line = f"{name}: test reconstruction MSE {result['recon_mse']:.4f} per pixel"
    if vae:
        result["elbo"] = history[-1]["elbo"]
        result["samples"] = _vision.judge_images(judge, samples)
        line += f", test ELBO {result['elbo']:.2f} nats per image"
    print(f"{line}; the judge reads {100 * judged:.1f}% of the reconstructions as their digit")
    if vae:
        s = result["samples"]
        print(f"prior samples: {100 * s['confident']:.1f}% judged with confidence >= 0.9, class entropy "
              f"{s['coverage']:.3f} x log(10), histogram {s['histogram']}")

    _vision.save_checkpoint(os.path.join(out, f"{name}.safetensors"),
                            {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                             "config": {"vae": vae, "latent_dim": latent_dim}, "history": history})
    order = np.concatenate([np.flatnonzero(labels.numpy() == d)[:5] for d in range(10)])
    index = lamina.from_numpy(order.reshape(10, 5).T.reshape(-1).copy())
    panels = [("test digits", images[index], 10), ("reconstructions", recon[index], 10)]
    if vae:
        panels.append(("samples from the prior", samples, 10))
    _vision.save_figure(os.path.join(out, f"{name}.png"), panels,
                        f"lamina {name}: test MSE {result['recon_mse']:.4f}",
                        scatter=("latent codes (2 principal components)", principal_components(codes),
                                 labels.numpy()))
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vae", action="store_true", help="a variational autoencoder (ELBO, prior samples)")
    parser.add_argument("--latent-dim", type=int, default=16)
    parser.add_argument("--judge", default="digits_run",
                        help="folder of the digits example's checkpoint (trained there when missing)")
    _vision.add_common_arguments(parser, epochs=60, batch_size=64, lr=2e-3, out="autoencoder_run")
    args = parser.parse_args(argv)
    return train(args.vae, args.epochs, args.batch_size, args.lr, args.latent_dim, args.out, args.seed,
                 not args.no_progress, args.judge)


if __name__ == "__main__":
    main()
