"""The course examples (autoencoder/VAE, GAN, diffusion, transfer) end to end on reduced settings: each
trains, saves its checkpoint and figure, and moves its quality figures the right way. The full runs'
bars are measured with the defaults (README)."""

import importlib.util
import math

import numpy as np
import pytest

import lamina

HAS_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None

pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def judge_dir(tmp_path_factory):
    """A judge trained once for this module (3 epochs: > 90% test accuracy, see test_examples)."""
    from lamina.examples import digits
    folder = tmp_path_factory.mktemp("judge")
    digits.train(epochs=3, out=str(folder), show_progress=False)
    return str(folder)


def test_judge_scores_real_digits_and_blank_images(judge_dir):
    from lamina.examples import _vision
    judge = _vision.load_judge(judge_dir)
    _, test_set = lamina.datasets.digits(test_fraction=0.2, seed=0)
    images, labels = test_set.tensors
    real = _vision.judge_images(judge, images)
    assert real["coverage"] > 0.95 and real["confident"] > 0.5
    assert (real["predicted"] == labels).float().mean().item() > 0.9
    blank = _vision.judge_images(judge, lamina.zeros(50, 1, 8, 8))
    assert blank["coverage"] == 0.0 and sum(blank["histogram"]) == 50  # one class: entropy 0
    assert not _vision.passes_bar(blank)
    assert _vision.passes_bar({"confident": 0.8, "coverage": 0.9})


def test_autoencoder_trains_saves_and_reconstructs(tmp_path, judge_dir, capsys):
    from lamina.examples import autoencoder
    result = autoencoder.main(["--epochs", "6", "--batch-size", "32", "--out", str(tmp_path), "--no-progress",
                               "--judge", judge_dir])
    mse = [h["recon_mse"] for h in result["history"]]
    assert mse[-1] < 0.5 * mse[0]
    assert result["judge_accuracy"] > 0.5  # chance is 0.1; the full run reads ~97%
    state = lamina.load(str(tmp_path / "autoencoder.safetensors"))
    autoencoder.AutoEncoder().load_state_dict(state["model"])
    assert (tmp_path / "autoencoder.png").exists() == HAS_MATPLOTLIB  # the figure needs the examples extra
    assert "test reconstruction MSE" in capsys.readouterr().out


def test_vae_elbo_rises_and_samples(tmp_path, judge_dir, capsys):
    from lamina.examples import autoencoder
    result = autoencoder.train(vae=True, epochs=3, out=str(tmp_path), show_progress=False, judge_dir=judge_dir)
    elbo = [h["elbo"] for h in result["history"]]
    assert elbo[-1] > elbo[0] and result["elbo"] == elbo[-1]
    assert sum(result["samples"]["histogram"]) == 100
    model = autoencoder.VAE()
    model.load_state_dict(lamina.load(str(tmp_path / "vae.safetensors"))["model"])
    # The reparameterised sample carries gradients to both the mean and the log-variance.
    x = lamina.rand(4, 1, 8, 8)
    loss, figures = model.loss(x)
    loss.backward()
    last = model.encoder.net[-1]
    assert last.weight.grad[:16].abs().sum().item() > 0 and last.weight.grad[16:].abs().sum().item() > 0
    assert figures["kl"] >= 0
    assert "test ELBO" in capsys.readouterr().out


def test_vae_kl_matches_closed_form():
    from lamina.examples import autoencoder
    lamina.manual_seed(0)
    model = autoencoder.VAE(latent_dim=4)
    x = lamina.rand(3, 1, 8, 8)
    mu, logvar = model.encoder(x).chunk(2, dim=1)
    mu, logvar = mu.detach().numpy().astype(np.float64), logvar.detach().numpy().astype(np.float64)
    expected = 0.5 * (mu ** 2 + np.exp(logvar) - 1 - logvar).sum() / 3
    assert model.loss(x)[1]["kl"] == pytest.approx(expected, rel=1e-4)


def test_transfer_freezes_loads_and_groups(tmp_path):
    from lamina.examples import _vision, transfer
    train_all, test_all = lamina.datasets.digits(test_fraction=0.2, seed=0)
    few = transfer.relabel(_vision.subset(train_all, transfer.NEW, per_class=3, seed=1), 5)
    assert len(few) == 15 and sorted(set(few.tensors[1].tolist())) == [0, 1, 2, 3, 4]
    test_loader = lamina.utils.data.DataLoader(transfer.relabel(_vision.subset(test_all, transfer.NEW), 5),
                                               batch_size=256)
    old = _vision.subset(train_all, transfer.OLD)
    pretrained, acc = transfer.pretrain(old, _vision.subset(test_all, transfer.OLD), 2, 2e-3, 0, False)
    assert acc > 0.8
    state = pretrained.state_dict()
    frozen, frozen_acc = transfer.adapt("frozen", state, few, test_loader, 4, 5, 2e-3, 0, False)
    # The frozen backbone (BatchNorm statistics included) is exactly the pretrained one.
    for k, v in frozen.backbone.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), state["backbone." + k].numpy())
    assert not any(p.requires_grad for p in frozen.backbone.parameters())
    tuned, tuned_acc = transfer.adapt("fine-tune", state, few, test_loader, 4, 5, 2e-3, 0, False)
    moved = [not np.array_equal(v.numpy(), state["backbone." + k].numpy())
             for k, v in tuned.backbone.state_dict().items() if v.is_floating_point()]
    assert all(moved)
    scratch, scratch_acc = transfer.adapt("scratch", state, few, test_loader, 4, 5, 2e-3, 0, False)
    assert min(frozen_acc, tuned_acc, scratch_acc) > 0.3  # chance: 0.2


def test_transfer_main_prints_the_table(tmp_path, capsys):
    from lamina.examples import transfer
    results = transfer.main(["--shots", "2", "--repeats", "1", "--pretrain-epochs", "1", "--epochs", "2",
                             "--out", str(tmp_path), "--no-progress"])
    assert set(results) == {"pretrain_acc", *transfer.METHODS}
    out = capsys.readouterr().out
    assert all(f"\n{m:<10}" in out for m in transfer.METHODS)
    assert (tmp_path / "pretrained.safetensors").exists() and (tmp_path / "finetuned.safetensors").exists()


def test_gan_trains_both_players(tmp_path, judge_dir):
    from lamina.examples import gan
    result = gan.main(["--epochs", "2", "--samples", "200", "--out", str(tmp_path), "--no-progress",
                       "--judge", judge_dir])
    last = result["history"][-1]
    assert all(math.isfinite(v) for v in last.values())
    assert 0 < last["d_fake"] < last["d_real"] < 1  # the discriminator tells them apart
    assert sum(result["verdict"]["histogram"]) == 200
    state = lamina.load(str(tmp_path / "gan.safetensors"))
    g = gan.Generator()
    g.load_state_dict(state["generator_ema"])
    images = gan.sample(g, 5, 64, 0)
    assert tuple(images.shape) == (5, 1, 8, 8) and 0 <= images.min().item() and images.max().item() <= 1
    assert (tmp_path / "gan.png").exists() == HAS_MATPLOTLIB  # the figure needs the examples extra


def test_diffusion_schedule_and_samplers():
    from lamina.examples import diffusion
    s = diffusion.Schedule(50)
    abar = np.array(s.abar)
    assert np.all(np.diff(abar) < 0) and abar[0] > 0.99 and abar[-1] < 1e-3
    x0, eps = lamina.rand(4, 1, 8, 8), lamina.randn(4, 1, 8, 8)
    t = lamina.tensor([0, 10, 30, 49])
    xt = s.noise(x0, t, eps).numpy()
    a = abar[[0, 10, 30, 49]][:, None, None, None]
    np.testing.assert_allclose(xt, np.sqrt(a) * x0.numpy() + np.sqrt(1 - a) * eps.numpy(), rtol=1e-5, atol=1e-5)
    emb = diffusion.timestep_embedding(lamina.tensor([0, 1, 40]), 16).numpy()
    assert emb.shape == (3, 16) and np.allclose(emb[0], [0] * 8 + [1] * 8)

    class Oracle(lamina.nn.Module):
        """Predicts the noise that turns a fixed image into x: both samplers must then return it."""

        def __init__(self, image):
            super().__init__()
            self.image = image

        def forward(self, x, t):
            a = lamina.tensor(s.abar)[t][:, None, None, None]
            return (x - a.sqrt() * self.image) / (1 - a).sqrt()

    image = lamina.rand(1, 1, 8, 8) * 1.6 - 0.8
    for images in (diffusion.ddim_sample(Oracle(image), s, 3, 10, 0), diffusion.ddpm_sample(Oracle(image), s, 3, 0)[0]):
        np.testing.assert_allclose(images.numpy(), np.broadcast_to(image.numpy(), (3, 1, 8, 8)), atol=1e-3)


def test_diffusion_trains_and_samples(tmp_path, judge_dir):
    from lamina.examples import diffusion
    result = diffusion.main(["--epochs", "2", "--timesteps", "20", "--ddim-steps", "5", "--width", "16",
                             "--samples", "64", "--out", str(tmp_path), "--no-progress", "--judge", judge_dir])
    losses = [h["loss"] for h in result["history"]]
    assert losses[-1] < losses[0]
    assert sum(result["ddpm"]["histogram"]) == sum(result["ddim"]["histogram"]) == 64
    model = diffusion.UNet(16)
    model.load_state_dict(lamina.load(str(tmp_path / "diffusion.safetensors"))["ema"])
    assert (tmp_path / "diffusion.png").exists() == HAS_MATPLOTLIB  # the figure needs the examples extra


@pytest.mark.parametrize("name", ["autoencoder", "gan", "diffusion", "transfer"])
def test_help(name, capsys):
    import importlib
    module = importlib.import_module(f"lamina.examples.{name}")
    with pytest.raises(SystemExit):
        module.main(["--help"])
    assert "--epochs" in capsys.readouterr().out
