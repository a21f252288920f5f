"""optim.swa_utils: AveragedModel's EMA and SWA averages against numpy, buffers, update_bn."""

import numpy as np
import pytest

import lamina
import lamina.nn as nn
from lamina.optim.swa_utils import (AveragedModel, get_ema_avg_fn, get_ema_multi_avg_fn, get_swa_multi_avg_fn,
                                    update_bn)


def _perturb(model, rng):
    with lamina.no_grad():
        for p in model.parameters():
            p.copy_(lamina.from_numpy(rng.standard_normal(tuple(p.shape)).astype(np.float32)))
    return [p.detach().numpy().copy() for p in model.parameters()]


@pytest.mark.parametrize("kind", ["ema_multi", "ema", "swa"])
def test_averaged_model_follows_numpy_average(kind):
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    decay = 0.9
    fn = {"ema_multi": dict(multi_avg_fn=get_ema_multi_avg_fn(decay)), "ema": dict(avg_fn=get_ema_avg_fn(decay)),
          "swa": dict(multi_avg_fn=get_swa_multi_avg_fn())}[kind]
    averaged = AveragedModel(model, **fn)
    expected = None
    for n in range(4):
        current = _perturb(model, rng)
        averaged.update_parameters(model)
        if expected is None:
            expected = current  # the first update copies
        elif kind == "swa":
            expected = [e + (c - e) / (n + 1) for e, c in zip(expected, current)]
        else:
            expected = [decay * e + (1 - decay) * c for e, c in zip(expected, current)]
    assert averaged.n_averaged.item() == 4
    for p, e in zip(averaged.module.parameters(), expected):
        np.testing.assert_allclose(p.detach().numpy(), e, rtol=1e-5, atol=1e-6)
    x = lamina.randn(5, 3)
    np.testing.assert_allclose(averaged(x).detach().numpy(), averaged.module(x).detach().numpy())
    # The averaged copy is independent of the model's parameters.
    assert all(a is not b for a, b in zip(averaged.parameters(), model.parameters()))


def test_averaged_model_buffers():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.5))
    model(lamina.randn(8, 2))
    ema.update_parameters(model)
    model(lamina.randn(8, 2) + 3)
    ema.update_parameters(model)
    # Without use_buffers the running statistics are copied, not averaged.
    np.testing.assert_array_equal(ema.module[1].running_mean.numpy(), model[1].running_mean.numpy())
    averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.5), use_buffers=True)
    old = model[1].running_mean.numpy().copy()
    averaged.update_parameters(model)
    model(lamina.randn(8, 2) - 3)
    averaged.update_parameters(model)
    np.testing.assert_allclose(averaged.module[1].running_mean.numpy(),
                               0.5 * old + 0.5 * model[1].running_mean.numpy(), rtol=1e-6, atol=1e-6)
    assert averaged.module[1].num_batches_tracked.item() == model[1].num_batches_tracked.item()
    with pytest.raises(AssertionError, match="Only one"):
        AveragedModel(model, avg_fn=get_ema_avg_fn(), multi_avg_fn=get_ema_multi_avg_fn())


def test_update_bn_recomputes_the_statistics():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    data = lamina.randn(40, 2) * 2 + 1
    loader = lamina.utils.data.DataLoader(lamina.utils.data.TensorDataset(data, lamina.zeros(40)), batch_size=10)
    model.eval()
    update_bn(loader, model)
    assert not model.training and model[1].momentum == 0.1
    with lamina.no_grad():
        h = model[0](data).numpy()
    # Equal batches: the cumulative average of the batch means is the mean of all rows.
    np.testing.assert_allclose(model[1].running_mean.numpy(), h.mean(axis=0), rtol=1e-5, atol=1e-5)


@pytest.mark.torch
def test_ema_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    ours, theirs = nn.Linear(3, 2), torch.nn.Linear(3, 2)
    a = AveragedModel(ours, multi_avg_fn=get_ema_multi_avg_fn(0.8))
    b = torch.optim.swa_utils.AveragedModel(theirs, multi_avg_fn=torch.optim.swa_utils.get_ema_multi_avg_fn(0.8))
    for _ in range(3):
        for p, q in zip(ours.parameters(), theirs.parameters()):
            v = rng.standard_normal(tuple(p.shape)).astype(np.float32)
            with lamina.no_grad():
                p.copy_(lamina.from_numpy(v))
            with torch.no_grad():
                q.copy_(torch.from_numpy(v))
        a.update_parameters(ours)
        b.update_parameters(theirs)
    for p, q in zip(a.module.parameters(), b.module.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-6, atol=1e-6)
