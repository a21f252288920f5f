"""lamina.optim: every optimizer's trajectory against hand-written numpy updates (float64 to
near machine precision, float32 within rounding), each option, param groups, state dicts,
zero_grad, add_param_group errors, non-contiguous tensors, thread-count determinism, the fused
entry points' argument checks, LBFGS on Rosenbrock and a least-squares convergence smoke test."""

import math

import numpy as np
import pytest

import lamina
import lamina.optim as optim

# ---- numpy references (float64), one step each; st is the per-parameter state dict -----------


def _grad(g, p, maximize, weight_decay):
    g = -g if maximize else g
    return g + weight_decay * p if weight_decay else g


def ref_sgd(p, g, st, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, maximize=False):
    g = _grad(g, p, maximize, weight_decay)
    if momentum:
        st["buf"] = g.copy() if "buf" not in st else momentum * st["buf"] + (1 - dampening) * g
        g = g + momentum * st["buf"] if nesterov else st["buf"]
    return p - lr * g


def ref_adam(p, g, st, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, maximize=False,
             decoupled=False):
    b1, b2 = betas
    t = st["t"] = st.get("t", 0) + 1
    if decoupled:
        p = p * (1 - lr * weight_decay)
        g = _grad(g, p, maximize, 0)
    else:
        g = _grad(g, p, maximize, weight_decay)
    m = st["m"] = b1 * st.get("m", 0) + (1 - b1) * g
    v = st["v"] = b2 * st.get("v", 0) + (1 - b2) * g * g
    if amsgrad:
        v = st["vmax"] = np.maximum(st.get("vmax", 0), v)
    m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps)


def ref_adamw(p, g, st, weight_decay=1e-2, **kw):
    return ref_adam(p, g, st, weight_decay=weight_decay, decoupled=True, **kw)


def ref_rmsprop(p, g, st, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
                maximize=False):
    g = _grad(g, p, maximize, weight_decay)
    v = st["v"] = alpha * st.get("v", 0) + (1 - alpha) * g * g
    if centered:
        ga = st["ga"] = alpha * st.get("ga", 0) + (1 - alpha) * g
        avg = np.sqrt(v - ga * ga) + eps
    else:
        avg = np.sqrt(v) + eps
    if momentum > 0:
        st["buf"] = momentum * st.get("buf", 0) + g / avg
        return p - lr * st["buf"]
    return p - lr * g / avg


def ref_adagrad(p, g, st, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10,
                maximize=False):
    t = st["t"] = st.get("t", 0) + 1
    g = _grad(g, p, maximize, weight_decay)
    s = st["sum"] = st.get("sum", initial_accumulator_value) + g * g
    return p - lr / (1 + (t - 1) * lr_decay) * g / (np.sqrt(s) + eps)


def ref_adadelta(p, g, st, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, maximize=False):
    g = _grad(g, p, maximize, weight_decay)
    v = st["v"] = rho * st.get("v", 0) + (1 - rho) * g * g
    delta = np.sqrt(st.get("u", 0) + eps) / np.sqrt(v + eps) * g
    st["u"] = rho * st.get("u", 0) + (1 - rho) * delta * delta
    return p - lr * delta


def ref_adamax(p, g, st, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, maximize=False):
    b1, b2 = betas
    t = st["t"] = st.get("t", 0) + 1
    g = _grad(g, p, maximize, weight_decay)
    m = st["m"] = b1 * st.get("m", 0) + (1 - b1) * g
    u = st["u"] = np.maximum(b2 * st.get("u", 0), np.abs(g) + eps)
    return p - lr / (1 - b1 ** t) * m / u


def ref_nadam(p, g, st, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
              decoupled_weight_decay=False, maximize=False):
    b1, b2 = betas
    t = st["t"] = st.get("t", 0) + 1
    if decoupled_weight_decay:
        p = p * (1 - lr * weight_decay)
        g = _grad(g, p, maximize, 0)
    else:
        g = _grad(g, p, maximize, weight_decay)
    mu = b1 * (1 - 0.5 * 0.96 ** (t * momentum_decay))
    mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
    # PyTorch keeps the product of the mu's in a float32 tensor (the default scalar dtype).
    prod = st["prod"] = float(np.float32(st.get("prod", 1.0)) * np.float32(mu))
    m = st["m"] = b1 * st.get("m", 0) + (1 - b1) * g
    v = st["v"] = b2 * st.get("v", 0) + (1 - b2) * g * g
    denom = np.sqrt(v / (1 - b2 ** t)) + eps
    return p - lr * (1 - mu) / (1 - prod) * g / denom - lr * mu_next / (1 - prod * mu_next) * m / denom


def ref_radam(p, g, st, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False,
              maximize=False):
    b1, b2 = betas
    t = st["t"] = st.get("t", 0) + 1
    if decoupled_weight_decay:
        p = p * (1 - lr * weight_decay)
        g = _grad(g, p, maximize, 0)
    else:
        g = _grad(g, p, maximize, weight_decay)
    m = st["m"] = b1 * st.get("m", 0) + (1 - b1) * g
    v = st["v"] = b2 * st.get("v", 0) + (1 - b2) * g * g
    m_hat = m / (1 - b1 ** t)
    rho_inf = 2 / (1 - b2) - 1
    rho_t = rho_inf - 2 * t * b2 ** t / (1 - b2 ** t)
    if rho_t <= 5:
        return p - lr * m_hat
    rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
    return p - lr * m_hat * rect * math.sqrt(1 - b2 ** t) / (np.sqrt(v) + eps)


# (id, class, kwargs, reference); the reference takes the same keyword arguments.
CASES = [
    ("sgd", optim.SGD, dict(lr=0.1), ref_sgd),
    ("sgd_wd_maximize", optim.SGD, dict(lr=0.1, weight_decay=0.05, maximize=True), ref_sgd),
    ("sgd_momentum", optim.SGD, dict(lr=0.1, momentum=0.9), ref_sgd),
    ("sgd_dampening", optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.01), ref_sgd),
    ("sgd_nesterov", optim.SGD, dict(lr=0.1, momentum=0.8, nesterov=True, weight_decay=0.01), ref_sgd),
    ("adam", optim.Adam, dict(lr=0.01), ref_adam),
    ("adam_wd_amsgrad", optim.Adam, dict(lr=0.01, betas=(0.8, 0.9), weight_decay=0.1, amsgrad=True), ref_adam),
    ("adam_maximize", optim.Adam, dict(lr=0.01, eps=1e-3, maximize=True), ref_adam),
    ("adam_small_beta1", optim.Adam, dict(lr=0.01, betas=(0.3, 0.5)), ref_adam),
    ("adamw", optim.AdamW, dict(lr=0.01), ref_adamw),
    ("adamw_amsgrad", optim.AdamW, dict(lr=0.01, weight_decay=0.2, amsgrad=True, maximize=True), ref_adamw),
    ("rmsprop", optim.RMSprop, dict(lr=0.01), ref_rmsprop),
    ("rmsprop_centered", optim.RMSprop, dict(lr=0.01, alpha=0.9, centered=True, weight_decay=0.1), ref_rmsprop),
    ("rmsprop_momentum", optim.RMSprop, dict(lr=0.01, momentum=0.9, maximize=True), ref_rmsprop),
    ("rmsprop_all", optim.RMSprop, dict(lr=0.01, momentum=0.5, centered=True, eps=1e-4), ref_rmsprop),
    ("adagrad", optim.Adagrad, dict(lr=0.1), ref_adagrad),
    ("adagrad_all", optim.Adagrad, dict(lr=0.1, lr_decay=0.1, weight_decay=0.1, initial_accumulator_value=0.5,
                                        maximize=True), ref_adagrad),
    ("adadelta", optim.Adadelta, dict(), ref_adadelta),
    ("adadelta_all", optim.Adadelta, dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.1, maximize=True), ref_adadelta),
    ("adamax", optim.Adamax, dict(lr=0.01), ref_adamax),
    ("adamax_all", optim.Adamax, dict(lr=0.01, betas=(0.7, 0.9), weight_decay=0.1, maximize=True), ref_adamax),
    ("nadam", optim.NAdam, dict(lr=0.01), ref_nadam),
    ("nadam_wd", optim.NAdam, dict(lr=0.01, weight_decay=0.1, momentum_decay=0.01), ref_nadam),
    ("nadam_decoupled", optim.NAdam, dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True),
     ref_nadam),
    ("radam", optim.RAdam, dict(lr=0.01), ref_radam),
    # beta2 = 0.9 reaches rho_t > 5 at step 6: both branches of the rectification run.
    ("radam_rectified", optim.RAdam, dict(lr=0.01, betas=(0.9, 0.9), weight_decay=0.1), ref_radam),
    ("radam_decoupled", optim.RAdam, dict(lr=0.01, betas=(0.9, 0.9), weight_decay=0.1, decoupled_weight_decay=True,
                                          maximize=True), ref_radam),
]
CASE_IDS = [c[0] for c in CASES]
SHAPES = [(3, 4), (5,), (), (1, 1), (0, 2)]
STEPS = 8
TOL = {"float64": dict(rtol=1e-11, atol=1e-13), "float32": dict(rtol=3e-5, atol=3e-6)}


def make_problem(dtype, seed=0, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    inits = [rng.standard_normal(s) for s in shapes]
    grads = [[rng.standard_normal(s) for s in shapes] for _ in range(STEPS)]
    params = [lamina.tensor(x.astype(dtype), requires_grad=True) for x in inits]
    return inits, grads, params


def run_lamina(cls, kwargs, params, grads, dtype, steps=STEPS):
    opt = cls(params, **kwargs)
    for k in range(steps):
        for p, g in zip(params, grads[k]):
            p.grad = lamina.tensor(g.astype(dtype))
        opt.step()
    return opt


def run_reference(ref, kwargs, inits, grads, dtype, steps=STEPS):
    # Inputs rounded to the dtype like lamina's; arithmetic in float64.
    ps = [x.astype(dtype).astype(np.float64) for x in inits]
    states = [{} for _ in ps]
    for k in range(steps):
        ps = [ref(p, g.astype(dtype).astype(np.float64), st, **kwargs) for p, g, st in zip(ps, grads[k], states)]
    return ps


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_trajectory_matches_reference(case, dtype):
    _, cls, kwargs, ref = case
    inits, grads, params = make_problem(dtype)
    run_lamina(cls, kwargs, params, grads, dtype)
    expected = run_reference(ref, kwargs, inits, grads, dtype)
    for p, e in zip(params, expected):
        assert p.dtype == getattr(lamina, dtype) and tuple(p.shape) == e.shape
        np.testing.assert_allclose(p.detach().numpy(), e, **TOL[dtype])


@pytest.mark.parametrize("case", [CASES[i] for i in (2, 6, 14, 16, 23, 25)], ids=lambda c: c[0])
def test_trajectory_on_every_isa(case, isa):
    _, cls, kwargs, ref = case
    shapes = [(37,), (5, 7)]  # vector bodies and scalar tails
    inits, grads, params = make_problem("float32", 1, shapes)
    run_lamina(cls, kwargs, params, grads, "float32")
    for p, e in zip(params, run_reference(ref, kwargs, inits, grads, "float32")):
        np.testing.assert_allclose(p.detach().numpy(), e, **TOL["float32"])


def test_state_layout_matches_pytorch():
    p = lamina.randn(3, requires_grad=True)
    p.grad = lamina.ones(3)
    cases = [
        (optim.SGD([p], lr=0.1, momentum=0.9), {"momentum_buffer"}),
        (optim.Adam([p], amsgrad=True), {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}),
        (optim.RMSprop([p], momentum=0.5, centered=True), {"step", "square_avg", "momentum_buffer", "grad_avg"}),
        (optim.Adagrad([p]), {"step", "sum"}),
        (optim.Adadelta([p]), {"step", "square_avg", "acc_delta"}),
        (optim.Adamax([p]), {"step", "exp_avg", "exp_inf"}),
        (optim.NAdam([p]), {"step", "mu_product", "exp_avg", "exp_avg_sq"}),
        (optim.RAdam([p]), {"step", "exp_avg", "exp_avg_sq"}),
    ]
    for opt, keys in cases:
        opt.step()
        opt.step()
        state = opt.state[p]
        assert set(state) == keys, type(opt).__name__
        if "step" in state:
            assert state["step"].dim() == 0 and state["step"].dtype == lamina.float32
            assert state["step"].item() == 2.0
    assert optim.SGD([p], lr=0.1).state == {}  # no momentum: no state, like PyTorch


def test_nadam_mu_product_is_tracked_in_float32():
    p = lamina.zeros(2, requires_grad=True)
    opt = optim.NAdam([p])
    mu_product = 1.0
    for t in range(1, 4):
        p.grad = lamina.ones(2)
        opt.step()
        mu = 0.9 * (1 - 0.5 * 0.96 ** (t * 4e-3))
        mu_product = float(np.float32(mu_product) * np.float32(mu))
        assert opt.state[p]["mu_product"].item() == mu_product


def test_params_without_grad_are_skipped():
    a = lamina.randn(4, requires_grad=True)
    b = lamina.randn(4, requires_grad=True)
    before = b.detach().clone().numpy()
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = lamina.ones(4)
    opt.step()
    assert b.grad is None and np.array_equal(b.detach().numpy(), before)
    assert b not in opt.state and a in opt.state
    assert opt.state[a]["step"].item() == 1.0


def test_param_groups_use_their_own_options():
    inits, grads, params = make_problem("float64", shapes=[(4,), (2, 3)])
    opt = optim.SGD([{"params": [params[0]]}, {"params": [params[1]], "lr": 0.5, "momentum": 0.9}], lr=0.1)
    assert opt.param_groups[0]["momentum"] == 0 and opt.param_groups[1]["lr"] == 0.5
    assert opt.param_groups[0]["nesterov"] is False  # defaults are filled in
    for k in range(3):
        for p, g in zip(params, grads[k]):
            p.grad = lamina.tensor(g)
        opt.step()
    e0 = run_reference(ref_sgd, dict(lr=0.1), inits[:1], [g[:1] for g in grads], "float64", steps=3)
    e1 = run_reference(ref_sgd, dict(lr=0.5, momentum=0.9), inits[1:], [g[1:] for g in grads], "float64", steps=3)
    np.testing.assert_allclose(params[0].detach().numpy(), e0[0], rtol=1e-12)
    np.testing.assert_allclose(params[1].detach().numpy(), e1[0], rtol=1e-12)


@pytest.mark.parametrize("cls,entry", [(optim.SGD, "_fused_sgd"), (optim.Adam, "_fused_adam"),
                                       (optim.AdamW, "_fused_adam"), (optim.RMSprop, "_fused_rmsprop"),
                                       (optim.Adagrad, "_fused_adagrad"), (optim.Adadelta, "_fused_adadelta"),
                                       (optim.Adamax, "_fused_adamax"), (optim.NAdam, "_fused_nadam"),
                                       (optim.RAdam, "_fused_radam")])
def test_one_fused_call_per_group(cls, entry, monkeypatch):
    groups = [{"params": [lamina.randn(3, requires_grad=True) for _ in range(4)]} for _ in range(2)]
    groups.append({"params": [lamina.randn(3, requires_grad=True)]})  # no grads: no call
    for g in groups[:2]:
        for p in g["params"]:
            p.grad = lamina.ones(3)
    opt = cls(groups, lr=0.1)
    calls = []
    real = getattr(lamina._C, entry)
    monkeypatch.setattr(lamina._C, entry, lambda params, *a, **k: (calls.append(len(params)), real(params, *a, **k))[1])
    opt.step()
    assert calls == [4, 4]


def test_changing_group_lr_takes_effect():
    p = lamina.zeros(3, requires_grad=True)
    opt = optim.SGD([p], lr=1.0)
    p.grad = lamina.ones(3)
    opt.step()
    opt.param_groups[0]["lr"] = 0.25
    opt.step()
    np.testing.assert_allclose(p.detach().numpy(), -1.25)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_state_dict_round_trip_continues_identically(case):
    _, cls, kwargs, _ = case
    inits, grads, params = make_problem("float32", shapes=[(3, 4), (5,)])
    opt = run_lamina(cls, kwargs, params, grads, "float32", steps=3)
    sd = opt.state_dict()
    assert sorted(sd) == ["param_groups", "state"]
    assert sd["param_groups"][0]["params"] == [0, 1]
    assert set(sd["state"]) <= {0, 1}
    clones = [lamina.tensor(p.detach().numpy(), requires_grad=True) for p in params]
    opt2 = cls(clones, **kwargs)
    opt2.load_state_dict(sd)
    for k in range(3, STEPS):
        for p, q, g in zip(params, clones, grads[k]):
            p.grad = lamina.tensor(g.astype("float32"))
            q.grad = lamina.tensor(g.astype("float32"))
        opt.step()
        opt2.step()
    for p, q in zip(params, clones):
        assert np.array_equal(p.detach().numpy(), q.detach().numpy())
    # The loaded state is a copy: stepping opt2 did not touch the tensors of sd.
    for i, st in opt.state_dict()["state"].items():
        for key, value in st.items():
            if isinstance(value, lamina.Tensor):
                assert value is not opt2.state[clones[i]][key]


def test_load_state_dict_validates_groups():
    a, b = lamina.randn(2, requires_grad=True), lamina.randn(2, requires_grad=True)
    sd = optim.SGD([a, b], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="size of optimizer's group"):
        optim.SGD([a], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1).load_state_dict(sd)


def test_load_state_dict_restores_hyper_parameters_and_casts():
    a = lamina.randn(3, requires_grad=True)
    opt = optim.Adam([a], lr=0.5)
    a.grad = lamina.ones(3)
    opt.step()
    sd = opt.state_dict()
    b = lamina.randn(3, dtype=lamina.float64, requires_grad=True)
    opt2 = optim.Adam([b], lr=0.1)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == 0.5 and opt2.param_groups[0]["params"][0] is b
    assert opt2.state[b]["exp_avg"].dtype == lamina.float64  # buffers follow the param's dtype
    assert opt2.state[b]["step"].dtype == lamina.float32  # the step keeps its own


def test_load_state_dict_accepts_string_indices():
    a = lamina.randn(3, requires_grad=True)
    opt = optim.SGD([a], lr=0.1, momentum=0.9)
    a.grad = lamina.ones(3)
    opt.step()
    sd = opt.state_dict()
    sd = {"state": {str(k): v for k, v in sd["state"].items()}, "param_groups": sd["param_groups"]}
    b = lamina.randn(3, requires_grad=True)
    opt2 = optim.SGD([b], lr=0.1, momentum=0.9)
    opt2.load_state_dict(sd)
    np.testing.assert_array_equal(opt2.state[b]["momentum_buffer"].numpy(), np.ones(3, np.float32))


def test_zero_grad():
    p = lamina.randn(3, requires_grad=True)
    (p * 2).sum().backward()
    opt = optim.SGD([p], lr=0.1)
    opt.zero_grad()
    assert p.grad is None
    (p * 2).sum().backward()
    g = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is g and np.array_equal(g.numpy(), np.zeros(3, np.float32))
    opt.zero_grad(set_to_none=False)  # no error when grads are None or already zero
    opt.zero_grad()
    opt.zero_grad()


def test_add_param_group_errors():
    a, b = lamina.randn(2, requires_grad=True), lamina.randn(2, requires_grad=True)
    opt = optim.SGD([a], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match="duplicate parameters"):
        opt.add_param_group({"params": [b, b]})
    with pytest.raises(TypeError, match="must be a dict"):
        opt.add_param_group([b])
    with pytest.raises(TypeError, match="ordered collections"):
        opt.add_param_group({"params": {b}})
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        opt.add_param_group({"params": [b, 3.0]})
    with pytest.raises(ValueError, match="non-leaf"):
        opt.add_param_group({"params": [b * 2]})
    assert len(opt.param_groups) == 1
    opt.add_param_group({"params": b, "lr": 0.01})
    assert len(opt.param_groups) == 2 and opt.param_groups[1]["params"] == [b]
    assert opt.param_groups[1]["momentum"] == 0


def test_constructor_errors():
    p = lamina.randn(2, requires_grad=True)
    with pytest.raises(TypeError, match="iterable of Tensors"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(ValueError, match="Invalid learning rate: -1"):
        optim.SGD([p], lr=-1)
    with pytest.raises(ValueError, match="Nesterov momentum requires"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1"):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="Invalid epsilon value"):
        optim.RMSprop([p], eps=-1)
    with pytest.raises(ValueError, match="Invalid rho value"):
        optim.Adadelta([p], rho=1.5)
    with pytest.raises(ValueError, match="Invalid momentum_decay value"):
        optim.NAdam([p], momentum_decay=-1)
    with pytest.raises(TypeError, match="floating point"):
        optim.SGD([lamina.tensor([1, 2])], lr=0.1)
    with pytest.raises(NotImplementedError, match="differentiable"):
        optim.Adam([p], differentiable=True)


@pytest.mark.parametrize("case", [CASES[i] for i in (3, 6, 14, 16, 18, 21, 23, 25)], ids=lambda c: c[0])
def test_non_contiguous_params_and_grads(case):
    _, cls, kwargs, ref = case
    rng = np.random.default_rng(3)
    init = rng.standard_normal((4, 6))
    grads = [rng.standard_normal((4, 6)) for _ in range(4)]
    p = lamina.tensor(init.T.copy()).t()  # a non-contiguous leaf
    p.requires_grad_(True)
    assert not p.is_contiguous()
    opt = cls([p], **kwargs)
    for g in grads:
        p.grad = lamina.tensor(g.T.copy()).t()
        assert not p.grad.is_contiguous()
        opt.step()
    assert not p.is_contiguous()  # updated in place
    expected = run_reference(ref, kwargs, [init], [[g] for g in grads], "float64", steps=4)
    np.testing.assert_allclose(p.detach().numpy(), expected[0], **TOL["float64"])


def test_stepped_slice_grad():
    p = lamina.zeros(5, dtype=lamina.float64, requires_grad=True)
    opt = optim.SGD([p], lr=1.0)
    p.grad = lamina.arange(10, dtype=lamina.float64)[::2]
    opt.step()
    np.testing.assert_array_equal(p.detach().numpy(), -np.arange(10.0)[::2])


@pytest.mark.parametrize("case", [CASES[i] for i in (4, 6, 14, 17, 19, 21, 23, 25)], ids=lambda c: c[0])
def test_same_bytes_for_any_thread_count(case, threads):
    _, cls, kwargs, _ = case
    shapes = [(100003,), (317, 211), (7,)]  # several parallel chunks, tensors of odd sizes
    results = {}
    for n in (1, 2, 3):
        threads(n)
        _, grads, params = make_problem("float32", 5, shapes)
        opt = run_lamina(cls, kwargs, params, grads[:3], "float32", steps=3)
        results[n] = [p.detach().numpy().tobytes() for p in params] + [
            v.numpy().tobytes() for p in params for v in opt.state[p].values() if isinstance(v, lamina.Tensor)]
    assert results[2] == results[1] and results[3] == results[1]


def test_update_bumps_versions():
    p = lamina.randn(3, requires_grad=True)
    p.grad = lamina.ones(3)
    v = p._version
    optim.Adam([p]).step()
    assert p._version > v


def test_step_runs_without_recording_history():
    p = lamina.randn(3, requires_grad=True)
    p.grad = lamina.ones(3)
    optim.SGD([p], lr=0.1, momentum=0.9).step()
    assert p.grad_fn is None and p.is_leaf and p.requires_grad


def test_closure_is_called_with_grad_enabled():
    p = lamina.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with lamina.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 5.0
    np.testing.assert_allclose(p.detach().numpy(), [0.8, 1.6], rtol=1e-6)


# ---- the fused entry points --------------------------------------------------------------------


def _adam_lists(n=2, dtype=lamina.float32):
    params = [lamina.randn(3, dtype=dtype) for _ in range(n)]
    grads = [lamina.randn(3, dtype=dtype) for _ in range(n)]
    m = [lamina.zeros(3, dtype=dtype) for _ in range(n)]
    v = [lamina.zeros(3, dtype=dtype) for _ in range(n)]
    steps = [lamina.tensor(0.0) for _ in range(n)]
    return params, grads, m, v, steps


ADAM_KW = dict(lr=0.1, beta1=0.9, beta2=0.999, weight_decay=0.0, eps=1e-8, amsgrad=False, maximize=False,
               decoupled_weight_decay=False)


def test_fused_adam_checks_arguments_and_changes_nothing_on_error():
    params, grads, m, v, steps = _adam_lists()
    before = [p.numpy().copy() for p in params]
    with pytest.raises(ValueError, match=r"_fused_adam: expected 2 grads \(one per param\), got 1"):
        lamina._C._fused_adam(params, grads[:1], m, v, [], steps, **ADAM_KW)
    bad = [grads[0], lamina.randn(4)]
    with pytest.raises(RuntimeError, match=r"_fused_adam: grads\[1\] has shape \(4,\) but its param has shape \(3,\)"):
        lamina._C._fused_adam(params, bad, m, v, [], steps, **ADAM_KW)
    with pytest.raises(TypeError, match=r"exp_avgs\[0\] has dtype float64"):
        lamina._C._fused_adam(params, grads, [lamina.zeros(3, dtype=lamina.float64), m[1]], v, [], steps, **ADAM_KW)
    with pytest.raises(TypeError, match="param 0 has dtype int64"):
        lamina._C._fused_adam([lamina.tensor([1, 2, 3])], grads[:1], m[:1], v[:1], [], steps[:1], **ADAM_KW)
    with pytest.raises(ValueError, match="max_exp_avg_sqs"):
        lamina._C._fused_adam(params, grads, m, v, m, steps, **ADAM_KW)
    with pytest.raises(RuntimeError, match="one element"):
        lamina._C._fused_adam(params, grads, m, v, [], [lamina.zeros(2), steps[1]], **ADAM_KW)
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
        lamina._C._fused_adam(params, grads, [lamina.zeros(1).expand(3), m[1]], v, [], steps, **ADAM_KW)
    assert all(s.item() == 0.0 for s in steps)
    assert all(np.array_equal(p.numpy(), b) for p, b in zip(params, before))


def test_fused_sgd_creates_buffers_and_checks():
    params, grads, *_ = _adam_lists()
    kw = dict(lr=0.1, weight_decay=0.0, momentum=0.9, dampening=0.0, nesterov=False, maximize=False)
    bufs = lamina._C._fused_sgd(params, grads, [None, None], **kw)
    for b, g in zip(bufs, grads):
        np.testing.assert_array_equal(b.numpy(), g.numpy())
    with pytest.raises(ValueError, match="momentum buffers given but momentum is 0"):
        lamina._C._fused_sgd(params, grads, bufs, **{**kw, "momentum": 0.0})
    with pytest.raises(TypeError, match="expected a Tensor or None"):
        lamina._C._fused_sgd(params, grads, [1, 2], **kw)
    assert lamina._C._fused_sgd([], [], [], **kw) == []


def test_fused_step_with_mixed_dtypes_in_one_group():
    a = lamina.tensor([1.0, 2.0], dtype=lamina.float32, requires_grad=True)
    b = lamina.tensor([1.0, 2.0], dtype=lamina.float64, requires_grad=True)
    opt = optim.SGD([a, b], lr=0.5)
    a.grad = lamina.ones(2, dtype=lamina.float32)
    b.grad = lamina.ones(2, dtype=lamina.float64)
    opt.step()
    np.testing.assert_array_equal(a.detach().numpy(), [0.5, 1.5])
    np.testing.assert_array_equal(b.detach().numpy(), [0.5, 1.5])


# ---- LBFGS and convergence ---------------------------------------------------------------------


def rosenbrock(xy):
    x, y = xy[0], xy[1]
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_minimises_rosenbrock(line_search_fn):
    xy = lamina.tensor([-1.5, 2.0], dtype=lamina.float64, requires_grad=True)
    opt = optim.LBFGS([xy], lr=1 if line_search_fn else 0.1, max_iter=50 if line_search_fn else 100,
                      history_size=10, line_search_fn=line_search_fn)
    calls = []

    def closure():
        opt.zero_grad()
        loss = rosenbrock(xy)
        loss.backward()
        calls.append(loss.item())
        return loss

    first = None
    for _ in range(20 if line_search_fn else 100):
        loss = opt.step(closure)
        first = loss.item() if first is None else first
    assert first == pytest.approx(rosenbrock(np.array([-1.5, 2.0])))
    np.testing.assert_allclose(xy.detach().numpy(), [1.0, 1.0], atol=1e-4)
    assert opt.state[xy]["func_evals"] == len(calls)
    assert opt.state[xy]["n_iter"] > 0


def test_lbfgs_respects_max_eval_and_groups():
    xy = lamina.tensor([-1.5, 2.0], dtype=lamina.float64, requires_grad=True)
    opt = optim.LBFGS([xy], max_iter=100, max_eval=7, line_search_fn="strong_wolfe")
    count = []

    def closure():
        opt.zero_grad()
        loss = rosenbrock(xy)
        loss.backward()
        count.append(1)
        return loss

    opt.step(closure)
    assert len(count) <= 7 + 1
    with pytest.raises(ValueError, match="parameter groups"):
        optim.LBFGS([{"params": [xy]}, {"params": [lamina.randn(2, requires_grad=True)]}])
    with pytest.raises(ValueError, match="line_search_fn"):
        optim.LBFGS([xy], line_search_fn="armijo")


def test_lbfgs_several_float32_params_least_squares():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((20, 5)).astype(np.float32)
    w_true = rng.standard_normal(5).astype(np.float32)
    y = A @ w_true + 0.5
    At, yt = lamina.tensor(A), lamina.tensor(y)
    w = lamina.zeros(5, requires_grad=True)
    b = lamina.zeros(1, requires_grad=True)
    opt = optim.LBFGS([w, b], line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        r = (At * w).sum(1) + b - yt
        loss = (r * r).mean()
        loss.backward()
        return loss

    for _ in range(5):
        opt.step(closure)
    np.testing.assert_allclose(w.detach().numpy(), w_true, atol=1e-3)
    np.testing.assert_allclose(b.detach().numpy(), [0.5], atol=1e-3)


CONVERGENCE = [
    (optim.SGD, dict(lr=0.05, momentum=0.9)),
    (optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
    (optim.Adam, dict(lr=0.05)),
    (optim.AdamW, dict(lr=0.05, weight_decay=1e-4)),
    (optim.RMSprop, dict(lr=0.01)),
    (optim.Adagrad, dict(lr=0.5)),
    (optim.Adadelta, dict(lr=10.0)),
    (optim.Adamax, dict(lr=0.05)),
    (optim.NAdam, dict(lr=0.05)),
    (optim.RAdam, dict(lr=0.05)),
]


@pytest.mark.parametrize("cls,kwargs", CONVERGENCE, ids=lambda x: getattr(x, "__name__", ""))
def test_least_squares_converges(cls, kwargs):
    rng = np.random.default_rng(1)
    A = rng.standard_normal((64, 4)).astype(np.float32)
    w_true = np.array([1.0, -2.0, 0.5, 3.0], np.float32)
    y = A @ w_true
    At, yt = lamina.tensor(A), lamina.tensor(y)
    w = lamina.zeros(4, requires_grad=True)
    opt = cls([w], **kwargs)

    def loss_fn():
        r = (At * w).sum(1) - yt
        return (r * r).mean()

    initial = loss_fn().item()
    for _ in range(300):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
    assert loss_fn().item() < 1e-2 * initial
