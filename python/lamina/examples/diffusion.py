"""Train a denoising diffusion model (DDPM) on the 8x8 digits; sample it with DDPM and with DDIM.

    python -m lamina.examples.diffusion [--epochs 120] [--timesteps 200] [--ddim-steps 50] [--out diffusion_run]

Images in [-1, 1] are noised as x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps over `timesteps` steps
(the cosine schedule of Nichol & Dhariwal), and a small U-Net learns to predict eps from (x_t, t) by
mean squared error. The U-Net: GroupNorm + SiLU residual blocks that add a projection of the
sinusoidal time embedding, a strided-convolution downsampling (8x8 -> 4x4) and a nearest-neighbour
upsampling (F.interpolate) joined by skip connections, and one self-attention block at the lowest
resolution (the 16 positions of the 4x4 maps). An exponential moving average of the weights
(optim.swa_utils.AveragedModel) samples. The DDPM sampler walks back all the steps; the DDIM sampler
(deterministic, eta = 0) takes `--ddim-steps` of them. The judge (the digits example's CNN) scores
1,000 samples of each: the share it reads with confidence >= 0.9 and its class-histogram entropy.
Saves the checkpoint and OUT/diffusion.png: a denoising chain and both samplers' grids.
"""

import argparse
import math
import os

import lamina
import lamina.nn as nn
import lamina.nn.functional as F
from lamina.examples import _vision
from lamina.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


def timestep_embedding(t, dim):
    """(B,) integer steps -> (B, dim) sinusoids at geometrically spaced frequencies (the transformer's
    position encoding), so nearby steps get nearby embeddings."""
    half = dim // 2
    freqs = lamina.exp(-math.log(10000.0) * lamina.arange(half, dtype=lamina.float32) / half)
    angles = t.float()[:, None] * freqs[None]
    return lamina.cat([angles.sin(), angles.cos()], dim=1)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, the time embedding added between, plus a (1x1 when widths differ) skip."""

    def __init__(self, cin, cout, tdim, groups=8):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time = nn.Linear(tdim, cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(temb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class SelfAttention(nn.Module):
    """Multi-head self-attention over the H*W positions of a feature map, pre-normed, residual."""

    def __init__(self, channels, heads=4, groups=8):
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        B, C, H, W = x.shape
        # (B, 3C, H, W) -> three (B, heads, H*W, C / heads): one token per position.
        q, k, v = self.qkv(self.norm(x)).reshape(B, 3, self.heads, C // self.heads, H * W).transpose(3, 4).unbind(1)
        y = F.scaled_dot_product_attention(q, k, v)
        return x + self.proj(y.transpose(2, 3).reshape(B, C, H, W))


class UNet(nn.Module):
    """(B, 1, 8, 8) noisy images and (B,) steps -> (B, 1, 8, 8) predicted noise."""

    def __init__(self, width=32, tdim=128):
        super().__init__()
        self.width = width
        self.time_mlp = nn.Sequential(nn.Linear(width, tdim), nn.SiLU(), nn.Linear(tdim, tdim))
        self.conv_in = nn.Conv2d(1, width, 3, padding=1)
        self.down1 = ResBlock(width, width, tdim)                                 # 8x8
        self.downsample = nn.Conv2d(width, width, 3, stride=2, padding=1)       # 8x8 -> 4x4
        self.down2 = ResBlock(width, 2 * width, tdim)                             # 4x4
        self.mid1 = ResBlock(2 * width, 2 * width, tdim)
        self.attn = SelfAttention(2 * width)
        self.mid2 = ResBlock(2 * width, 2 * width, tdim)
        self.up2 = ResBlock(4 * width, 2 * width, tdim)                           # with the 4x4 skip
        self.upsample = nn.Conv2d(2 * width, width, 3, padding=1)               # after 4x4 -> 8x8
        self.up1 = ResBlock(2 * width, width, tdim)                               # with the 8x8 skip
        self.norm_out = nn.GroupNorm(8, width)
        self.conv_out = nn.Conv2d(width, 1, 3, padding=1)

    def forward(self, x, t):
        temb = self.time_mlp(timestep_embedding(t, self.width))
        h1 = self.down1(self.conv_in(x), temb)
        h2 = self.down2(self.downsample(h1), temb)
        h = self.mid2(self.attn(self.mid1(h2, temb)), temb)
        h = self.up2(lamina.cat([h, h2], dim=1), temb)
        h = self.upsample(F.interpolate(h, scale_factor=2, mode="nearest"))
        h = self.up1(lamina.cat([h, h1], dim=1), temb)
        return self.conv_out(F.silu(self.norm_out(h)))


class Schedule:
    """The cosine noise schedule: abar_t = cos^2((t/T + s) / (1 + s) * pi/2) normalised to abar_0 = 1,
    betas clipped at 0.999; index t = 0..T-1 is the step that produces x_{t+1}."""

    def __init__(self, timesteps, s=0.008):
        self.T = timesteps
        f = [math.cos((i / timesteps + s) / (1 + s) * math.pi / 2) ** 2 for i in range(timesteps + 1)]
        betas = [min(1 - f[i + 1] / f[i], 0.999) for i in range(timesteps)]
        abar, run = [], 1.0
        for b in betas:
            run *= 1 - b
            abar.append(run)
        self.betas, self.abar = betas, abar
        self.abar_t = lamina.tensor(abar)

    def noise(self, x0, t, eps):
        """x_t for a batch of x_0, steps t (B,) and noise eps."""
        a = self.abar_t[t][:, None, None, None]
        return a.sqrt() * x0 + (1 - a).sqrt() * eps


def ddpm_sample(model, schedule, n, seed, keep=()):
    """n images in [-1, 1] by ancestral sampling through every step (Ho et al.'s algorithm 2, variance
    beta_t); also the intermediate x at the steps in `keep` (for the denoising chain)."""
    g = lamina.Generator().manual_seed(seed)
    x = lamina.randn(n, 1, 8, 8, generator=g)
    chain = {}
    model.eval()
    with lamina.no_grad():
        for t in reversed(range(schedule.T)):
            beta, abar = schedule.betas[t], schedule.abar[t]
            eps = model(x, lamina.full((n,), t, dtype=lamina.int64))
            x = (x - beta / math.sqrt(1 - abar) * eps) / math.sqrt(1 - beta)
            if t > 0:
                x = x + math.sqrt(beta) * lamina.randn(n, 1, 8, 8, generator=g)
            if t in keep:
                chain[t] = x
    return x.clamp(-1, 1), chain


def ddim_sample(model, schedule, n, steps, seed):
    """n images by deterministic DDIM (eta = 0) over `steps` evenly spaced steps of the schedule."""
    g = lamina.Generator().manual_seed(seed)
    x = lamina.randn(n, 1, 8, 8, generator=g)
    ts = sorted({round(i * (schedule.T - 1) / (steps - 1)) for i in range(steps)}, reverse=True)
    model.eval()
    with lamina.no_grad():
        for i, t in enumerate(ts):
            abar = schedule.abar[t]
            abar_prev = schedule.abar[ts[i + 1]] if i + 1 < len(ts) else 1.0
            eps = model(x, lamina.full((n,), t, dtype=lamina.int64))
            x0 = ((x - math.sqrt(1 - abar) * eps) / math.sqrt(abar)).clamp(-1, 1)
            x = math.sqrt(abar_prev) * x0 + math.sqrt(1 - abar_prev) * eps
    return x.clamp(-1, 1)


def train(epochs=120, batch_size=64, lr=2e-3, timesteps=200, ddim_steps=50, width=24, ema_decay=0.995,
          out="diffusion_run", seed=0, show_progress=True, judge_dir="digits_run", samples=1000):
    """Trains the DDPM, samples with both samplers; returns {"history", "ddpm", "ddim"} (judge verdicts)."""
    lamina.manual_seed(seed)
    train_loader, _ = _vision.digits_loaders(batch_size, seed)
    model = UNet(width)
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(ema_decay))
    schedule = Schedule(timesteps)
    optimizer = lamina.optim.Adam(model.parameters(), lr=lr)
    total = epochs * len(train_loader)
    scheduler = lamina.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=total, pct_start=0.05)
    print(f"diffusion: U-Net {sum(p.numel() for p in model.parameters())} parameters, {timesteps} steps, "
          f"{lamina.get_num_threads()} threads")

    def step(images, labels):
        x0 = images * 2 - 1
        t = lamina.randint(0, timesteps, (x0.shape[0],))
        eps = lamina.randn_like(x0)
        loss = F.mse_loss(model(schedule.noise(x0, t, eps), t), eps)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        ema.update_parameters(model)
        return {"loss": loss.item()}

    history = _vision.fit([model], train_loader, step, epochs, "diffusion", show_progress)
    judge = _vision.load_judge(judge_dir, show_progress)
    keep = [round(f * (timesteps - 1)) for f in (0.9, 0.6, 0.4, 0.25, 0.1, 0.0)]
    results = {"history": history}
    ddpm, chain = ddpm_sample(ema.module, schedule, samples, seed, set(keep))
    ddim = ddim_sample(ema.module, schedule, samples, ddim_steps, seed)
    for name, images in (("ddpm", ddpm), ("ddim", ddim)):
        verdict = _vision.judge_images(judge, (images + 1) / 2)
        results[name] = verdict
        label = f"DDPM ({timesteps} steps)" if name == "ddpm" else f"DDIM ({ddim_steps} steps)"
        print(f"{label}: of {samples} samples the judge reads {100 * verdict['confident']:.1f}% with confidence "
              f">= 0.9; class entropy {verdict['coverage']:.3f} x log(10); histogram {verdict['histogram']}; "
              f"bar: {'met' if _vision.passes_bar(verdict) else 'NOT met'}")
    gap = 100 * (results["ddpm"]["confident"] - results["ddim"]["confident"])
    print(f"DDIM is {gap:+.1f} points below DDPM (bar: within 5)")
    _vision.save_checkpoint(os.path.join(out, "diffusion.safetensors"),
                            {"model": model.state_dict(), "ema": ema.module.state_dict(),
                             "optimizer": optimizer.state_dict(), "history": history,
                             "config": {"width": width, "timesteps": timesteps}})
    rows = 8
    chain_images = lamina.cat([(chain[t][:rows] + 1) / 2 for t in keep], dim=0)
    # Row r of the chain panel follows sample r from noise (left) to image (right).
    chain_images = chain_images.reshape(len(keep), rows, 1, 8, 8).transpose(0, 1).reshape(-1, 1, 8, 8)
    _vision.save_figure(os.path.join(out, "diffusion.png"),
                        [("denoising chain, t = " + ", ".join(str(t + 1) for t in keep), chain_images, len(keep)),
                         (f"DDPM, {timesteps} steps", (ddpm[:48] + 1) / 2, 8),
                         (f"DDIM, {ddim_steps} steps", (ddim[:48] + 1) / 2, 8)],
                        "lamina diffusion (EMA weights)")
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=200, help="diffusion steps (the DDPM sampler's count)")
    parser.add_argument("--ddim-steps", type=int, default=50)
    parser.add_argument("--width", type=int, default=24, help="the U-Net's channels at 8x8 (twice that at 4x4)")
    parser.add_argument("--ema-decay", type=float, default=0.995)
    parser.add_argument("--samples", type=int, default=1000, help="images the judge classifies per sampler")
    parser.add_argument("--judge", default="digits_run",
                        help="folder of the digits example's checkpoint (trained there when missing)")
    _vision.add_common_arguments(parser, epochs=120, batch_size=64, lr=2e-3, out="diffusion_run")
    args = parser.parse_args(argv)
    return train(args.epochs, args.batch_size, args.lr, args.timesteps, args.ddim_steps, args.width,
                 args.ema_decay, args.out, args.seed, not args.no_progress, args.judge, args.samples)


if __name__ == "__main__":
    main()
