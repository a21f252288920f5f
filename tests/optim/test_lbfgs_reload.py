"""LBFGS resumed from a checkpoint: a state_dict saved with lamina.save and loaded into a fresh LBFGS,
and a whole LBFGS object saved and loaded, continue with bitwise the iterates of the uninterrupted
run (same operations on the same bits: the history lists, H_diag, d, t and the counters all travel).
PyTorch 2.13 restores the state_dict path too, but its whole-object load fails (no `_params`)."""

import numpy as np
import pytest

import lamina
import lamina.optim as optim

TARGET = np.array([[3.0, 1.0, -1.0], [1.0, 2.0, 0.5]])


def _params(dtype):
    rng = np.random.default_rng(5)
    w = lamina.nn.Parameter(lamina.tensor(rng.standard_normal((2, 3)), dtype=dtype))
    b = lamina.nn.Parameter(lamina.tensor(rng.standard_normal(3), dtype=dtype))
    return [w, b]


def _closure(opt, params):
    w, b = params
    a = lamina.tensor(TARGET, dtype=w.dtype)

    def closure():
        opt.zero_grad()
        # Non-quadratic, so the line search and the curvature history both matter.
        loss = ((w * a + b) ** 2).sum() + (w ** 4).sum() * 0.1 + ((b - 1) ** 4).sum()
        loss.backward()
        return loss
    return closure


def _make(params, line_search_fn):
    # history_size 2 < the iterations run, so the history lists are full and shift after reload.
    return optim.LBFGS(params, lr=0.5 if line_search_fn is None else 1, max_iter=3, history_size=2,
                       line_search_fn=line_search_fn)


def _run(opt, params, steps):
    losses = [opt.step(_closure(opt, params)).item() for _ in range(steps)]
    return losses, [p.detach().clone() for p in params]


def _assert_same(got, want):
    for g, w in zip(got, want):
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g.detach().numpy(), w.detach().numpy())


@pytest.mark.parametrize("dtype", [lamina.float32, lamina.float64])
@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_state_dict_reload_continues_bitwise(tmp_path, dtype, line_search_fn):
    params = _params(dtype)
    opt = _make(params, line_search_fn)
    _run(opt, params, 3)
    saved_params = [p.detach().clone() for p in params]
    n_iter, history = opt.state[params[0]]["n_iter"], len(opt.state[params[0]]["old_dirs"])
    lamina.save(opt.state_dict(), tmp_path / "opt.safetensors")
    losses, want = _run(opt, params, 4)  # the uninterrupted run

    fresh = [lamina.nn.Parameter(p.clone()) for p in saved_params]
    opt2 = _make(fresh, line_search_fn)
    opt2.load_state_dict(lamina.load(tmp_path / "opt.safetensors"))
    state = opt2.state[fresh[0]]
    assert state["n_iter"] == n_iter and len(state["old_dirs"]) == history == 2
    losses2, got = _run(opt2, fresh, 4)
    assert losses2 == losses
    _assert_same(got, want)
    assert opt2.state[fresh[0]]["func_evals"] == opt.state[params[0]]["func_evals"]
    assert opt2.state[fresh[0]]["n_iter"] == opt.state[params[0]]["n_iter"]


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_state_dict_reload_in_memory(line_search_fn):
    params = _params(lamina.float64)
    opt = _make(params, line_search_fn)
    _run(opt, params, 2)
    fresh = [lamina.nn.Parameter(p.detach().clone()) for p in params]
    opt2 = _make(fresh, line_search_fn)
    opt2.load_state_dict(opt.state_dict())
    # load_state_dict copies: the two optimizers' histories are independent lists and tensors.
    st, st2 = opt.state[params[0]], opt2.state[fresh[0]]
    assert st2["old_dirs"] is not st["old_dirs"] and st2["d"] is not st["d"]
    _, want = _run(opt, params, 3)
    _, got = _run(opt2, fresh, 3)
    _assert_same(got, want)


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_whole_object_reload_continues_bitwise(tmp_path, line_search_fn):
    params = _params(lamina.float64)
    opt = _make(params, line_search_fn)
    _run(opt, params, 3)
    lamina.save(opt, tmp_path / "opt.safetensors")
    lamina.save({"params": params, "opt": opt}, tmp_path / "both.safetensors")
    _, want = _run(opt, params, 4)

    alone = lamina.load(tmp_path / "opt.safetensors")
    assert type(alone) is optim.LBFGS
    _, got = _run(alone, alone.param_groups[0]["params"], 4)
    _assert_same(got, want)

    both = lamina.load(tmp_path / "both.safetensors")
    opt3, params3 = both["opt"], both["params"]
    assert all(a is b for a, b in zip(opt3.param_groups[0]["params"], params3))
    _, got = _run(opt3, params3, 4)
    _assert_same(got, want)
    _assert_same(params3, want)  # the saved parameter objects are the ones stepped


def test_lbfgs_reload_before_first_step(tmp_path):
    params = _params(lamina.float64)
    opt = _make(params, "strong_wolfe")
    lamina.save(opt, tmp_path / "opt.safetensors")
    _, want = _run(opt, params, 2)
    loaded = lamina.load(tmp_path / "opt.safetensors")
    _, got = _run(loaded, loaded.param_groups[0]["params"], 2)
    _assert_same(got, want)
