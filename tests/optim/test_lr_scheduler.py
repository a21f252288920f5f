"""lamina.optim.lr_scheduler: every scheduler's learning rates against closed forms written here
(the schedulers step recursively, as PyTorch does), state dict round trips, warm-up then cosine
through SequentialLR, ReduceLROnPlateau's patience/cooldown/threshold logic, OneCycleLR phases."""

import math

import numpy as np
import pytest

import lamina
import lamina.optim as optim
from lamina.optim import lr_scheduler as sched


def make_opt(lrs=(1.0,), cls=optim.SGD, **kw):
    groups = [{"params": [lamina.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs]
    return cls(groups, **kw)


def trace(scheduler, epochs):
    """The lr of every group after construction and after each of `epochs` steps."""
    out = [list(scheduler.get_last_lr())]
    for _ in range(epochs):
        scheduler.optimizer.step()
        scheduler.step()
        out.append(list(scheduler.get_last_lr()))
        assert out[-1] == [g["lr"] for g in scheduler.optimizer.param_groups]
    return np.array(out)


def expect(fn, bases, epochs):
    return np.array([[fn(base, e) for base in bases] for e in range(epochs + 1)])


BASES = (1.0, 0.3)
CLOSED_FORMS = [
    ("step", lambda o: sched.StepLR(o, step_size=3, gamma=0.1), lambda b, e: b * 0.1 ** (e // 3)),
    ("multistep", lambda o: sched.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.5),
     lambda b, e: b * 0.5 ** sum(m <= e for m in [2, 5, 5, 9])),
    ("exponential", lambda o: sched.ExponentialLR(o, gamma=0.9), lambda b, e: b * 0.9 ** e),
    ("cosine", lambda o: sched.CosineAnnealingLR(o, T_max=10, eta_min=0.01),
     lambda b, e: 0.01 + (b - 0.01) * (1 + math.cos(math.pi * e / 10)) / 2),
    ("lambda", lambda o: sched.LambdaLR(o, lambda e: 1 / (1 + e)), lambda b, e: b / (1 + e)),
    ("multiplicative", lambda o: sched.MultiplicativeLR(o, lambda e: 0.95),
     lambda b, e: b * 0.95 ** e),
    ("linear", lambda o: sched.LinearLR(o, start_factor=0.25, end_factor=0.75, total_iters=4),
     lambda b, e: b * (0.25 + 0.5 * min(e, 4) / 4)),
    ("constant", lambda o: sched.ConstantLR(o, factor=0.5, total_iters=3), lambda b, e: b * (0.5 if e < 3 else 1)),
]


@pytest.mark.parametrize("name,make,closed", CLOSED_FORMS, ids=[c[0] for c in CLOSED_FORMS])
def test_matches_closed_form(name, make, closed):
    opt = make_opt(BASES)
    epochs = 25  # the cosine goes past T_max and comes back up
    np.testing.assert_allclose(trace(make(opt), epochs), expect(closed, BASES, epochs), rtol=1e-12, atol=1e-15)
    assert [g["initial_lr"] for g in opt.param_groups] == list(BASES)


@pytest.mark.parametrize("name,make,closed", CLOSED_FORMS, ids=[c[0] for c in CLOSED_FORMS])
def test_step_with_epoch_uses_the_closed_form(name, make, closed):
    if name in ("multiplicative",):
        pytest.skip("MultiplicativeLR has no closed form (PyTorch neither)")
    s = make(make_opt(BASES))
    with pytest.warns(UserWarning, match="deprecated"):
        s.step(7)
    np.testing.assert_allclose(s.get_last_lr(), [closed(b, 7) for b in BASES], rtol=1e-12)


def test_optimizer_uses_the_scheduled_lr():
    p = lamina.zeros(1, dtype=lamina.float64, requires_grad=True)
    opt = optim.SGD([p], lr=1.0)
    s = sched.StepLR(opt, step_size=1, gamma=0.5)
    total = 0.0
    for e in range(4):
        p.grad = lamina.ones(1, dtype=lamina.float64)
        opt.step()
        total += 0.5 ** e
        s.step()
    np.testing.assert_allclose(p.detach().numpy(), [-total])


def test_warmup_then_cosine_with_sequential_lr():
    opt = make_opt(BASES)
    warm = sched.LinearLR(opt, start_factor=0.1, total_iters=5)
    cos = sched.CosineAnnealingLR(opt, T_max=10, eta_min=0.0)
    s = sched.SequentialLR(opt, [warm, cos], milestones=[5])

    def closed(b, e):
        if e < 5:
            return b * (0.1 + 0.9 * e / 5)
        return b * (1 + math.cos(math.pi * (e - 5) / 10)) / 2

    np.testing.assert_allclose(trace(s, 15), expect(closed, BASES, 15), rtol=1e-12, atol=1e-15)


def test_sequential_lr_state_dict_round_trip():
    def build():
        opt = make_opt(BASES)
        warm = sched.LinearLR(opt, start_factor=0.1, total_iters=3)
        return opt, sched.SequentialLR(opt, [warm, sched.ExponentialLR(opt, gamma=0.8)], milestones=[3])

    opt, s = build()
    trace(s, 4)
    opt2, s2 = build()
    opt2.load_state_dict(opt.state_dict())
    s2.load_state_dict(s.state_dict())
    assert s2.last_epoch == s.last_epoch and s2._schedulers[1].last_epoch == s._schedulers[1].last_epoch
    np.testing.assert_array_equal(trace(s2, 5), trace(s, 5))


def test_sequential_lr_errors():
    opt = make_opt()
    a = sched.StepLR(opt, 2)
    with pytest.raises(ValueError, match="one more than the number of milestone"):
        sched.SequentialLR(opt, [a], milestones=[3])
    with pytest.raises(ValueError, match="at least one scheduler"):
        sched.SequentialLR(opt, [], milestones=[])
    with pytest.raises(ValueError, match="same optimizer"):
        sched.SequentialLR(opt, [a, sched.StepLR(make_opt(), 2)], milestones=[3])
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        sched.SequentialLR(opt, [a, sched.ReduceLROnPlateau(opt)], milestones=[3])


def test_chained_scheduler_composes():
    opt = make_opt(BASES)
    s = sched.ChainedScheduler([sched.ConstantLR(opt, factor=0.1, total_iters=2), sched.ExponentialLR(opt, 0.9)])
    np.testing.assert_allclose(trace(s, 6), expect(lambda b, e: b * 0.9 ** e * (0.1 if e < 2 else 1), BASES, 6),
                               rtol=1e-12)


@pytest.mark.parametrize("name,make,closed", CLOSED_FORMS, ids=[c[0] for c in CLOSED_FORMS])
def test_state_dict_round_trip(name, make, closed):
    opt = make_opt(BASES)
    s = make(opt)
    trace(s, 4)
    state = s.state_dict()
    assert "optimizer" not in state and state["last_epoch"] == 4
    opt2 = make_opt(BASES)
    s2 = make(opt2)
    opt2.load_state_dict(opt.state_dict())
    s2.load_state_dict(state)
    np.testing.assert_array_equal(trace(s2, 6), trace(s, 6))


def test_lambda_lr_state_dict_keeps_callable_objects_state():
    class Warmup:
        def __init__(self, n):
            self.n = n

        def __call__(self, e):
            return min(1.0, (e + 1) / self.n)

    s = sched.LambdaLR(make_opt(), Warmup(4))
    state = s.state_dict()
    assert state["lr_lambdas"] == [{"n": 4}]
    s2 = sched.LambdaLR(make_opt(), Warmup(10))
    s2.load_state_dict(state)
    assert s2.lr_lambdas[0].n == 4
    assert sched.LambdaLR(make_opt(), lambda e: 1.0).state_dict()["lr_lambdas"] == [None]
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas"):
        sched.LambdaLR(make_opt(BASES), [lambda e: 1.0])


def test_resuming_requires_initial_lr():
    with pytest.raises(KeyError, match="initial_lr"):
        sched.StepLR(make_opt(), 2, last_epoch=3)
    with pytest.raises(TypeError, match="is not an Optimizer"):
        sched.StepLR(object(), 2)


def test_reduce_lr_on_plateau_min_mode():
    opt = make_opt(BASES)
    s = sched.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=2, cooldown=1, min_lr=[0.1, 0.1])
    metrics = [10, 9, 9, 9, 9, 9, 9, 9, 9, 8.9999, 7, 7, 7, 7]
    lrs = []
    for m in metrics:
        s.step(m)
        lrs.append(s.get_last_lr()[0])
    # Bad epochs: steps 3, 4 and 5 (the third exceeds patience) -> 0.5; one step of cooldown, then
    # three more bad -> 0.25 at step 9; 8.9999 is not better by the relative threshold 1e-4.
    assert lrs[:4] == [1.0] * 4
    assert lrs[4] == 0.5 and lrs[5] == 0.5
    assert lrs[8] == 0.25 and lrs[9] == 0.25 and lrs[10] == 0.25
    assert s.best == 7
    assert opt.param_groups[1]["lr"] == 0.1  # 0.3 -> 0.15 -> clamped at min_lr


def test_reduce_lr_on_plateau_max_abs_mode_and_state():
    opt = make_opt()
    s = sched.ReduceLROnPlateau(opt, mode="max", factor=0.1, patience=0, threshold=0.5, threshold_mode="abs")
    s.step(1.0)
    s.step(1.4)  # not better by 0.5 -> reduce at once (patience 0)
    assert s.get_last_lr() == [pytest.approx(0.1)]
    s.step(2.0)
    assert s.get_last_lr() == [pytest.approx(0.1)] and s.best == 2.0
    state = s.state_dict()
    s2 = sched.ReduceLROnPlateau(make_opt(), mode="min")
    s2.load_state_dict(state)
    assert s2.mode == "max" and s2.best == 2.0 and s2.mode_worse == -math.inf
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        sched.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode avg is unknown"):
        sched.ReduceLROnPlateau(opt, mode="avg")


def _one_cycle_expected(total, max_lr, pct, div, final_div, anneal, three_phase, base_m=0.85, max_m=0.95):
    init, lo = max_lr / div, max_lr / div / final_div

    def ann(a, b, x):
        return b + (a - b) / 2 * (math.cos(math.pi * x) + 1) if anneal == "cos" else a + (b - a) * x

    up = pct * total - 1
    if three_phase:
        phases = [(up, init, max_lr, max_m, base_m), (2 * pct * total - 2, max_lr, init, base_m, max_m),
                  (total - 1, init, lo, max_m, max_m)]
    else:
        phases = [(up, init, max_lr, max_m, base_m), (total - 1, max_lr, lo, base_m, max_m)]
    lrs, moms = [], []
    for step in range(total):
        start = 0.0
        for i, (end, a, b, ma, mb) in enumerate(phases):
            if step <= end or i == len(phases) - 1:
                x = (step - start) / (end - start)
                lrs.append(ann(a, b, x))
                moms.append(ann(ma, mb, x))
                break
            start = end
    return lrs, moms


@pytest.mark.parametrize("anneal,three_phase", [("cos", False), ("linear", False), ("cos", True), ("linear", True)])
def test_one_cycle_lr(anneal, three_phase):
    opt = make_opt(cls=optim.SGD, momentum=0.9)
    s = sched.OneCycleLR(opt, max_lr=0.5, total_steps=20, pct_start=0.25, anneal_strategy=anneal,
                         three_phase=three_phase)
    lrs, moms = [s.get_last_lr()[0]], [opt.param_groups[0]["momentum"]]
    for _ in range(19):
        s.step()
        lrs.append(s.get_last_lr()[0])
        moms.append(opt.param_groups[0]["momentum"])
    exp_lrs, exp_moms = _one_cycle_expected(20, 0.5, 0.25, 25.0, 1e4, anneal, three_phase)
    np.testing.assert_allclose(lrs, exp_lrs, rtol=1e-12)
    np.testing.assert_allclose(moms, exp_moms, rtol=1e-12)
    assert lrs[0] == pytest.approx(0.02) and lrs[-1] == pytest.approx(0.5 / 25 / 1e4)
    s.step()  # step 20 still has a value (PyTorch allows it)
    with pytest.raises(ValueError, match="Tried to step 21 times"):
        s.step()


def test_one_cycle_lr_cycles_adam_beta1_and_validates():
    opt = make_opt(cls=optim.Adam)
    s = sched.OneCycleLR(opt, max_lr=0.1, epochs=2, steps_per_epoch=5)
    assert s.total_steps == 10 and opt.param_groups[0]["betas"] == (0.95, 0.999)
    s.step()
    assert opt.param_groups[0]["betas"][0] < 0.95
    with pytest.raises(ValueError, match="total_steps OR"):
        sched.OneCycleLR(opt, max_lr=0.1)
    with pytest.raises(ValueError, match="pct_start"):
        sched.OneCycleLR(opt, max_lr=0.1, total_steps=10, pct_start=2.0)
    with pytest.raises(ValueError, match="anneal_strategy"):
        sched.OneCycleLR(opt, max_lr=0.1, total_steps=10, anneal_strategy="exp")
    with pytest.raises(ValueError, match="momentum or beta1"):
        sched.OneCycleLR(make_opt(cls=optim.Adagrad), max_lr=0.1, total_steps=10)
