"""lamina.optim against torch.optim (skipped without torch): optimizer trajectories on the same
gradient sequence (float64 to near machine precision, float32 within rounding), LBFGS on
Rosenbrock, and every lr scheduler's learning rates."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import lamina  # noqa: E402
import lamina.optim as optim  # noqa: E402

CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.2, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.1, amsgrad=True, maximize=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("AdamW", dict(lr=0.01, amsgrad=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1, maximize=True)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.3)),
    ("Adadelta", dict(lr=0.5, rho=0.8, weight_decay=0.1)),
    ("Adamax", dict(lr=0.01, weight_decay=0.1, maximize=True)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("RAdam", dict(lr=0.01, betas=(0.9, 0.9), weight_decay=0.1)),
    ("RAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
]
SHAPES = [(3, 4), (7,), ()]
TOL = {"float64": dict(rtol=1e-12, atol=1e-14), "float32": dict(rtol=1e-5, atol=1e-6)}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}{i}" for i, (n, _) in enumerate(CASES)])
def test_trajectory_matches_torch(name, kwargs, dtype):
    rng = np.random.default_rng(0)
    inits = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    ours = [lamina.tensor(x, requires_grad=True) for x in inits]
    theirs = [torch.tensor(x, requires_grad=True) for x in inits]
    opt_l = getattr(optim, name)(ours, **kwargs)
    opt_t = getattr(torch.optim, name)(theirs, **kwargs)
    for _ in range(10):
        for a, b, s in zip(ours, theirs, SHAPES):
            g = rng.standard_normal(s).astype(dtype)
            a.grad = lamina.tensor(g)
            b.grad = torch.tensor(g)
        opt_l.step()
        opt_t.step()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), **TOL[dtype])
    for a, b in zip(ours, theirs):
        for key, value in opt_t.state[b].items():
            np.testing.assert_allclose(np.asarray(opt_l.state[a][key].numpy()), value.numpy(), **TOL[dtype],
                                       err_msg=key)


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_matches_torch(line_search_fn):
    def run(lib, x0):
        xy = lib.tensor(x0, dtype=lib.float64, requires_grad=True)
        opt = lib.optim.LBFGS([xy], lr=1 if line_search_fn else 0.05, max_iter=10, history_size=5,
                              line_search_fn=line_search_fn)

        def closure():
            opt.zero_grad()
            loss = (1 - xy[0]) ** 2 + 100 * (xy[1] - xy[0] * xy[0]) ** 2
            loss.backward()
            return loss

        losses = [float(opt.step(closure)) for _ in range(3)]
        return losses, xy.detach().numpy(), opt.state[xy]["func_evals"], opt.state[xy]["n_iter"]

    ours, theirs = run(lamina, [-1.5, 2.0]), run(torch, [-1.5, 2.0])
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-9)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-9, atol=1e-12)
    assert ours[2:] == theirs[2:]


SCHEDULERS = [
    ("StepLR", dict(step_size=3, gamma=0.3)),
    ("MultiStepLR", dict(milestones=[2, 4, 4, 9], gamma=0.5)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.01)),
    ("LinearLR", dict(start_factor=0.2, end_factor=0.9, total_iters=6)),
    ("ConstantLR", dict(factor=0.4, total_iters=3)),
    ("LambdaLR", dict(lr_lambda=lambda e: 1.0 / (e + 1))),
    ("MultiplicativeLR", dict(lr_lambda=lambda e: 0.93)),
    ("OneCycleLR", dict(max_lr=0.5, total_steps=25, pct_start=0.3)),
    ("OneCycleLR", dict(max_lr=[0.5, 0.2], total_steps=25, anneal_strategy="linear", three_phase=True)),
]


def _groups(lib):
    return [{"params": [lib.zeros(2, requires_grad=True)], "lr": 1.0},
            {"params": [lib.zeros(2, requires_grad=True)], "lr": 0.3}]


def _trace(lib, make, n=24, metric=None):
    opt = lib.optim.SGD(_groups(lib), lr=0.1, momentum=0.9)
    s = make(lib, opt)
    out = [list(s.get_last_lr()) + [opt.param_groups[0]["momentum"]]]
    for e in range(n):
        opt.step()
        s.step(metric(e)) if metric else s.step()
        out.append(list(s.get_last_lr()) + [opt.param_groups[0]["momentum"]])
    return np.array(out)


@pytest.mark.parametrize("name,kwargs", SCHEDULERS, ids=[f"{n}{i}" for i, (n, _) in enumerate(SCHEDULERS)])
def test_scheduler_matches_torch(name, kwargs):
    def make(lib, opt):
        return getattr(lib.optim.lr_scheduler, name)(opt, **kwargs)

    np.testing.assert_allclose(_trace(lamina, make), _trace(torch, make), rtol=1e-14, atol=0)


def test_sequential_and_chained_match_torch():
    def seq(lib, opt):
        sch = lib.optim.lr_scheduler
        return sch.SequentialLR(opt, [sch.LinearLR(opt, start_factor=0.1, total_iters=4),
                                      sch.CosineAnnealingLR(opt, T_max=12)], milestones=[4])

    def chained(lib, opt):
        sch = lib.optim.lr_scheduler
        return sch.ChainedScheduler([sch.ConstantLR(opt, factor=0.5, total_iters=3),
                                     sch.ExponentialLR(opt, gamma=0.95)])

    for make in (seq, chained):
        np.testing.assert_allclose(_trace(lamina, make), _trace(torch, make), rtol=1e-14, atol=0)


@pytest.mark.parametrize("kwargs", [dict(patience=2, factor=0.5, cooldown=2, min_lr=0.05),
                                    dict(mode="max", threshold=0.1, threshold_mode="abs", patience=0)])
def test_reduce_lr_on_plateau_matches_torch(kwargs):
    def make(lib, opt):
        return lib.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)

    def metric(e):
        return 10 - math.floor(e / 5) + 0.01 * (e % 3)

    np.testing.assert_allclose(_trace(lamina, make, 40, metric), _trace(torch, make, 40, metric), rtol=0)
