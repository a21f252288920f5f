"""The training steps of the course examples (python/lamina/examples/{autoencoder,gan,diffusion,transfer}.py),
written once for any library with PyTorch's API so lamina and PyTorch run the same step:
`make_course_step(lib, name)` returns a zero-argument step on fixed random 8x8 data.

    vae       the --vae model (latent 16), batch 64, Adam: Gaussian likelihood with a learned sigma + KL
    dcgan     generator + discriminator (width 32), batch 64: one discriminator and one generator Adam
              step, then the generator's EMA update (swa_utils.AveragedModel)
    ddpm      the diffusion U-Net (width 24), batch 64: noise a batch at random steps, MSE on the
              noise, Adam, EMA update
    finetune  the transfer classifier, batch 25, Adam with two parameter groups (backbone lr / 10)

The layer shapes match the examples' modules (check_parameter_counts compares them).
"""

import math

import numpy as np

COURSE_MODELS = ("vae", "dcgan", "ddpm", "finetune")


def _vae(lib, latent=16, w=32):
    nn = lib.nn

    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(
                nn.Conv2d(1, w, 3, padding=1), nn.ReLU(), nn.Conv2d(w, 2 * w, 4, 2, 1), nn.ReLU(),
                nn.Conv2d(2 * w, 2 * w, 4, 2, 1), nn.ReLU(), nn.Flatten(), nn.Linear(2 * w * 4, 2 * latent))
            self.decoder = nn.Sequential(
                nn.Linear(latent, 2 * w * 4), nn.ReLU(), nn.Unflatten(1, (2 * w, 2, 2)),
                nn.ConvTranspose2d(2 * w, 2 * w, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(2 * w, w, 4, 2, 1), nn.ReLU(),
                nn.Conv2d(w, 1, 3, padding=1))
            self.log_sigma = nn.Parameter(lib.tensor(math.log(0.1)))

        def loss(self, x):
            mu, logvar = self.encoder(x).chunk(2, dim=1)
            z = mu + (0.5 * logvar).exp() * lib.randn_like(mu)
            sq = (lib.sigmoid(self.decoder(z)) - x).pow(2).sum() / x.shape[0]
            recon = 0.5 * sq / (2 * self.log_sigma).exp() + 64 * (self.log_sigma + 0.5 * math.log(2 * math.pi))
            return recon + 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum() / x.shape[0]

    return VAE()


def _dcgan(lib, z_dim=64, w=32):
    nn = lib.nn
    gen = nn.Sequential(
        nn.Linear(z_dim, 2 * w * 4), nn.Unflatten(1, (2 * w, 2, 2)), nn.BatchNorm2d(2 * w), nn.ReLU(),
        nn.ConvTranspose2d(2 * w, w, 4, 2, 1), nn.BatchNorm2d(w), nn.ReLU(),
        nn.ConvTranspose2d(w, w, 4, 2, 1), nn.BatchNorm2d(w), nn.ReLU(), nn.Conv2d(w, 1, 3, padding=1), nn.Tanh())
    disc = nn.Sequential(
        nn.Conv2d(1, w, 3, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(w, w, 4, 2, 1), nn.BatchNorm2d(w), nn.LeakyReLU(0.2),
        nn.Conv2d(w, 2 * w, 4, 2, 1), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(2 * w * 4, 1))
    return gen, disc


def _unet(lib, w=24, tdim=128):
    nn, F = lib.nn, lib.nn.functional

    class ResBlock(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.norm1, self.conv1 = nn.GroupNorm(8, cin), nn.Conv2d(cin, cout, 3, padding=1)
            self.time = nn.Linear(tdim, cout)
            self.norm2, self.conv2 = nn.GroupNorm(8, cout), nn.Conv2d(cout, cout, 3, padding=1)
            self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

        def forward(self, x, temb):
            h = self.conv1(F.silu(self.norm1(x))) + self.time(temb)[:, :, None, None]
            return self.conv2(F.silu(self.norm2(h))) + self.skip(x)

    class Attention(nn.Module):
        def __init__(self, c, heads=4):
            super().__init__()
            self.heads, self.norm = heads, nn.GroupNorm(8, c)
            self.qkv, self.proj = nn.Conv2d(c, 3 * c, 1), nn.Conv2d(c, c, 1)

        def forward(self, x):
            B, C, H, W = x.shape
            qkv = self.qkv(self.norm(x)).reshape(B, 3, self.heads, C // self.heads, H * W)
            q, k, v = qkv.transpose(3, 4).unbind(1)
            y = F.scaled_dot_product_attention(q, k, v)
            return x + self.proj(y.transpose(2, 3).reshape(B, C, H, W))

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.time_mlp = nn.Sequential(nn.Linear(w, tdim), nn.SiLU(), nn.Linear(tdim, tdim))
            self.conv_in = nn.Conv2d(1, w, 3, padding=1)
            self.down1, self.downsample = ResBlock(w, w), nn.Conv2d(w, w, 3, stride=2, padding=1)
            self.down2, self.mid1, self.attn = ResBlock(w, 2 * w), ResBlock(2 * w, 2 * w), Attention(2 * w)
            self.mid2, self.up2 = ResBlock(2 * w, 2 * w), ResBlock(4 * w, 2 * w)
            self.upsample, self.up1 = nn.Conv2d(2 * w, w, 3, padding=1), ResBlock(2 * w, w)
            self.norm_out, self.conv_out = nn.GroupNorm(8, w), nn.Conv2d(w, 1, 3, padding=1)

        def forward(self, x, t):
            half = w // 2
            freqs = lib.exp(-math.log(10000.0) * lib.arange(half, dtype=lib.float32) / half)
            angles = t.float()[:, None] * freqs[None]
            temb = self.time_mlp(lib.cat([angles.sin(), angles.cos()], dim=1))
            h1 = self.down1(self.conv_in(x), temb)
            h2 = self.down2(self.downsample(h1), temb)
            h = self.mid2(self.attn(self.mid1(h2, temb)), temb)
            h = self.up2(lib.cat([h, h2], dim=1), temb)
            h = self.upsample(F.interpolate(h, scale_factor=2, mode="nearest"))
            h = self.up1(lib.cat([h, h1], dim=1), temb)
            return self.conv_out(F.silu(self.norm_out(h)))

    return UNet()


def _classifier(lib):
    nn = lib.nn

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = nn.Sequential(
                nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
            self.head = nn.Sequential(nn.Linear(256, 128), nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, 5))

        def forward(self, x):
            return self.head(self.backbone(x))

    return Classifier()


def make_course_models(lib, name):
    """The modules of step `name` (for parameter-count checks)."""
    return {"vae": lambda: [_vae(lib)], "dcgan": lambda: list(_dcgan(lib)), "ddpm": lambda: [_unet(lib)],
            "finetune": lambda: [_classifier(lib)]}[name]()


def make_course_step(lib, name):
    """A training step of course model `name` in library `lib` (lamina or torch) on fixed random data."""
    rng = np.random.default_rng(0)
    lib.manual_seed(0)
    F = lib.nn.functional
    ema_fn = lib.optim.swa_utils.get_ema_multi_avg_fn(0.995)
    if name not in COURSE_MODELS:
        raise ValueError(f"unknown model {name!r}; expected one of {COURSE_MODELS}")
    batch = 25 if name == "finetune" else 64
    x = lib.from_numpy(rng.random((batch, 1, 8, 8)).astype(np.float32))
    if name == "vae":
        model = _vae(lib)
        opt = lib.optim.Adam(model.parameters(), lr=2e-3)

        def step():
            loss = model.loss(x)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
    elif name == "dcgan":
        gen, disc = _dcgan(lib)
        ema = lib.optim.swa_utils.AveragedModel(gen, multi_avg_fn=ema_fn, use_buffers=True)
        opt_g = lib.optim.Adam(gen.parameters(), lr=2e-4, betas=(0.5, 0.999))
        opt_d = lib.optim.Adam(disc.parameters(), lr=2e-4, betas=(0.5, 0.999))
        real = x * 2 - 1
        ones, smooth, zeros = lib.ones(batch, 1), lib.full((batch, 1), 0.9), lib.zeros(batch, 1)

        def step():
            fake = gen(lib.randn(batch, 64))
            loss_d = (F.binary_cross_entropy_with_logits(disc(real), smooth)
                      + F.binary_cross_entropy_with_logits(disc(fake.detach()), zeros))
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            loss_g = F.binary_cross_entropy_with_logits(disc(fake), ones)
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
            ema.update_parameters(gen)
            return loss_g
    elif name == "ddpm":
        model = _unet(lib)
        ema = lib.optim.swa_utils.AveragedModel(model, multi_avg_fn=ema_fn)
        opt = lib.optim.Adam(model.parameters(), lr=2e-3)
        abar = lib.from_numpy(np.linspace(0.999, 0.01, 200).astype(np.float32))
        x0 = x * 2 - 1

        def step():
            t = lib.randint(0, 200, (batch,))
            eps = lib.randn_like(x0)
            a = abar[t][:, None, None, None]
            loss = F.mse_loss(model(a.sqrt() * x0 + (1 - a).sqrt() * eps, t), eps)
            opt.zero_grad()
            loss.backward()
            opt.step()
            ema.update_parameters(model)
            return loss
    else:
        model = _classifier(lib)
        opt = lib.optim.Adam([{"params": model.backbone.parameters(), "lr": 2e-4},
                              {"params": model.head.parameters()}], lr=2e-3)
        y = lib.from_numpy(rng.integers(0, 5, batch).astype(np.int64))

        def step():
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
    return step


def check_parameter_counts():
    """The bench models have as many parameters as the examples' (a shape drift would show here)."""
    import lamina
    from lamina.examples import autoencoder, diffusion, gan, transfer
    examples = {"vae": [autoencoder.VAE()], "dcgan": [gan.Generator(), gan.Discriminator()],
                "ddpm": [diffusion.UNet(24)], "finetune": [transfer.Classifier()]}
    for name, modules in examples.items():
        ours = [sum(p.numel() for p in m.parameters()) for m in make_course_models(lamina, name)]
        theirs = [sum(p.numel() for p in m.parameters()) for m in modules]
        if ours != theirs:
            raise AssertionError(f"bench model {name}: {ours} parameters, the example's {theirs}")
