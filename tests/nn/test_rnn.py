"""RNN, LSTM, GRU and their cells: forward against a numpy step-by-step reference for every option
(layers, bidirectional, batch_first, packed input, proj_size, initial states, no bias, unbatched),
gradients by finite differences in float64, bitwise equality for 1 and 2 threads, parameters and
repr, and torch comparisons (state dict loaded one-to-one, outputs and gradients)."""

import numpy as np
import pytest

import lamina
import lamina.nn as nn
from lamina.autograd import gradcheck
from lamina.nn.utils import rnn as rnn_utils

MODES = [("LSTM", {}), ("GRU", {}), ("RNN", {}), ("RNN", {"nonlinearity": "relu"})]
MODE_IDS = ["lstm", "gru", "rnn_tanh", "rnn_relu"]


def rng(seed=0):
    return np.random.default_rng(seed)


def sig(x):
    return 1 / (1 + np.exp(-x))


# ---- numpy reference ---------------------------------------------------------------------------

def np_cell(kind, relu, x, h, c, w):
    """One step for one sequence: x (I,), h (P,), c (H,) -> (h', c')."""
    w_ih, w_hh, b_ih, b_hh, w_hr = w
    gi = w_ih @ x + b_ih
    gh = w_hh @ h + b_hh
    if kind == "LSTM":
        i, f, g, o = np.split(gi + gh, 4)
        c = sig(f) * c + sig(i) * np.tanh(g)
        h = sig(o) * np.tanh(c)
        return (h if w_hr is None else w_hr @ h), c
    if kind == "GRU":
        H = h.shape[0]
        r = sig(gi[:H] + gh[:H])
        z = sig(gi[H:2 * H] + gh[H:2 * H])
        n = np.tanh(gi[2 * H:] + r * gh[2 * H:])
        return (1 - z) * n + z * h, c
    pre = gi + gh
    return (np.maximum(pre, 0) if relu else np.tanh(pre)), c


def np_weights(module):
    """Per layer/direction (w_ih, w_hh, b_ih, b_hh, w_hr) as float64 numpy arrays."""
    out = []
    for names in module._all_weights:
        get = {n.split("_l")[0]: getattr(module, n).detach().numpy().astype(np.float64) for n in names}
        G = get["weight_ih"].shape[0]
        out.append((get["weight_ih"], get["weight_hh"], get.get("bias_ih", np.zeros(G)), get.get("bias_hh", np.zeros(G)),
                    get.get("weight_hr")))
    return out


def np_rnn(module, seqs, h0, c0):
    """seqs: list of (L_b, I) arrays; h0 (L*D, B, P), c0 (L*D, B, H). Returns (outputs per sequence
    (L_b, D*P), h_n, c_n)."""
    kind = "LSTM" if isinstance(module, nn.LSTM) else "GRU" if isinstance(module, nn.GRU) else "RNN"
    relu = getattr(module, "nonlinearity", "tanh") == "relu"
    D = 2 if module.bidirectional else 1
    ws = np_weights(module)
    h_n, c_n = np.array(h0, dtype=np.float64), np.array(c0, dtype=np.float64)
    outs = []
    for b, x in enumerate(seqs):
        layer_in = np.asarray(x, dtype=np.float64)
        for layer in range(module.num_layers):
            dirs = []
            for d in range(D):
                k = layer * D + d
                h, c = h_n[k, b].copy(), c_n[k, b].copy()
                steps = range(len(layer_in) - 1, -1, -1) if d else range(len(layer_in))
                res = [None] * len(layer_in)
                for t in steps:
                    h, c = np_cell(kind, relu, layer_in[t], h, c, ws[k])
                    res[t] = h
                h_n[k, b], c_n[k, b] = h, c
                dirs.append(np.stack(res))
            layer_in = np.concatenate(dirs, axis=1)
        outs.append(layer_in)
    return outs, h_n, c_n


def make(kind, kw, dtype="float64", **extra):
    lamina.manual_seed(3)
    m = getattr(nn, kind)(3, 4, **kw, **extra)
    return m.double() if dtype == "float64" else m


def states(m, B, dtype, seed=5):
    D = 2 if m.bidirectional else 1
    P = m.proj_size or m.hidden_size
    h0 = rng(seed).normal(size=(m.num_layers * D, B, P)).astype(dtype)
    c0 = rng(seed + 1).normal(size=(m.num_layers * D, B, m.hidden_size)).astype(dtype)
    return h0, c0


def call(m, x, h0, c0):
    if isinstance(m, nn.LSTM):
        out, (h, c) = m(x, None if h0 is None else (lamina.tensor(h0), lamina.tensor(c0)))
        return out, h, c
    out, h = m(x, None if h0 is None else lamina.tensor(h0))
    return out, h, None


# ---- forward against numpy ---------------------------------------------------------------------

@pytest.mark.parametrize("kind,kw", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("layers,bidirectional", [(1, False), (2, False), (1, True), (2, True)], ids=str)
@pytest.mark.parametrize("batch_first", [False, True])
def test_rnn_matches_numpy(kind, kw, layers, bidirectional, batch_first):
    m = make(kind, kw, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
    T, B = 5, 3
    x = rng(1).normal(size=(T, B, 3))
    h0, c0 = states(m, B, "float64")
    xin = lamina.tensor(x.transpose(1, 0, 2).copy() if batch_first else x)
    out, h, c = call(m, xin, h0, c0)
    ref, h_ref, c_ref = np_rnn(m, [x[:, b] for b in range(B)], h0, c0)
    ref = np.stack(ref, axis=0 if batch_first else 1)
    np.testing.assert_allclose(out.detach().numpy(), ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h.detach().numpy(), h_ref, rtol=1e-12, atol=1e-12)
    if c is not None:
        np.testing.assert_allclose(c.detach().numpy(), c_ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind,kw", MODES, ids=MODE_IDS)
def test_rnn_float32_zero_state_and_no_bias(kind, kw, isa):
    for bias in (True, False):
        m = make(kind, kw, dtype="float32", bias=bias, num_layers=2)
        x = rng(2).normal(size=(6, 2, 3)).astype(np.float32)
        out, h, c = call(m, lamina.tensor(x), None, None)
        assert out.dtype == lamina.float32
        zeros = [np.zeros(s) for s in (tuple(h.shape), (2, 2, 4))]
        ref, h_ref, c_ref = np_rnn(m, [x[:, b] for b in range(2)], zeros[0], zeros[1])
        np.testing.assert_allclose(out.detach().numpy(), np.stack(ref, 1), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(h.detach().numpy(), h_ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("layers", [1, 2])
def test_lstm_proj_size_matches_numpy(layers, bidirectional):
    m = make("LSTM", {}, num_layers=layers, bidirectional=bidirectional, proj_size=2)
    assert tuple(m.weight_hr_l0.shape) == (2, 4) and tuple(m.weight_hh_l0.shape) == (16, 2)
    x = rng(3).normal(size=(4, 3, 3))
    h0, c0 = states(m, 3, "float64")
    out, h, c = call(m, lamina.tensor(x), h0, c0)
    D = 2 if bidirectional else 1
    assert tuple(out.shape) == (4, 3, 2 * D) and tuple(h.shape) == (layers * D, 3, 2) and tuple(c.shape) == (layers * D, 3, 4)
    ref, h_ref, c_ref = np_rnn(m, [x[:, b] for b in range(3)], h0, c0)
    np.testing.assert_allclose(out.detach().numpy(), np.stack(ref, 1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h.detach().numpy(), h_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(c.detach().numpy(), c_ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind,kw", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_rnn_packed_matches_numpy(kind, kw, enforce_sorted):
    extra = {"proj_size": 2} if kind == "LSTM" else {}
    m = make(kind, kw, num_layers=2, bidirectional=True, **extra)
    lens = [5, 4, 2, 1] if enforce_sorted else [2, 5, 1, 4]
    seqs = [rng(10 + i).normal(size=(n, 3)) for i, n in enumerate(lens)]
    h0, c0 = states(m, len(lens), "float64")
    packed = rnn_utils.pack_sequence([lamina.tensor(s) for s in seqs], enforce_sorted=enforce_sorted)
    out, h, c = call(m, packed, h0, c0)
    assert isinstance(out, rnn_utils.PackedSequence)
    padded, lengths = rnn_utils.pad_packed_sequence(out, batch_first=True)
    assert lengths.tolist() == lens
    ref, h_ref, c_ref = np_rnn(m, seqs, h0, c0)
    for b, n in enumerate(lens):
        np.testing.assert_allclose(padded[b, :n].detach().numpy(), ref[b], rtol=1e-12, atol=1e-12)
        assert np.all(padded[b, n:].detach().numpy() == 0)
    np.testing.assert_allclose(h.detach().numpy(), h_ref, rtol=1e-12, atol=1e-12)
    if c is not None:
        np.testing.assert_allclose(c.detach().numpy(), c_ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind,kw", MODES, ids=MODE_IDS)
def test_rnn_unbatched_input(kind, kw):
    m = make(kind, kw, num_layers=2, bidirectional=True)
    x = rng(4).normal(size=(5, 3))
    h0, c0 = states(m, 1, "float64")
    out, h, c = call(m, lamina.tensor(x), h0[:, 0], c0[:, 0])
    assert tuple(out.shape) == (5, 8) and tuple(h.shape) == (4, 4)
    ref, h_ref, c_ref = np_rnn(m, [x], h0, c0)
    np.testing.assert_allclose(out.detach().numpy(), ref[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h.detach().numpy(), h_ref[:, 0], rtol=1e-12, atol=1e-12)
    out2, _, _ = call(m, lamina.tensor(x), None, None)
    assert tuple(out2.shape) == (5, 8)


def test_rnn_dropout_between_layers_only_in_training():
    m = make("LSTM", {}, num_layers=3, dropout=0.5)
    x = lamina.tensor(rng(5).normal(size=(4, 2, 3)))
    m.eval()
    ref, _, _ = np_rnn(m, [x.numpy()[:, b] for b in range(2)], np.zeros((3, 2, 4)), np.zeros((3, 2, 4)))
    np.testing.assert_allclose(m(x)[0].detach().numpy(), np.stack(ref, 1), rtol=1e-12, atol=1e-12)
    m.train()
    lamina.manual_seed(1)
    a = m(x)[0].detach().numpy()
    lamina.manual_seed(1)
    b = m(x)[0].detach().numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, np.stack(ref, 1))
    # One layer: dropout has nothing to act on (PyTorch warns).
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        nn.GRU(3, 4, dropout=0.3)


@pytest.mark.parametrize("kind,kw", MODES, ids=MODE_IDS)
def test_cells_match_numpy(kind, kw):
    lamina.manual_seed(2)
    cell = getattr(nn, kind + "Cell")(3, 4, **kw).double()
    x = rng(6).normal(size=(2, 3))
    h = rng(7).normal(size=(2, 4))
    c = rng(8).normal(size=(2, 4))
    w = (cell.weight_ih.detach().numpy(), cell.weight_hh.detach().numpy(), cell.bias_ih.detach().numpy(),
         cell.bias_hh.detach().numpy(), None)
    relu = kw.get("nonlinearity") == "relu"
    refs = [np_cell(kind, relu, x[b], h[b], c[b], w) for b in range(2)]
    if kind == "LSTM":
        h1, c1 = cell(lamina.tensor(x), (lamina.tensor(h), lamina.tensor(c)))
        np.testing.assert_allclose(c1.detach().numpy(), np.stack([r[1] for r in refs]), rtol=1e-12, atol=1e-12)
        hu, cu = cell(lamina.tensor(x[0]), (lamina.tensor(h[0]), lamina.tensor(c[0])))
        assert tuple(hu.shape) == (4,) and tuple(cu.shape) == (4,)
    else:
        h1 = cell(lamina.tensor(x), lamina.tensor(h))
        hu = cell(lamina.tensor(x[0]), lamina.tensor(h[0]))
    np.testing.assert_allclose(h1.detach().numpy(), np.stack([r[0] for r in refs]), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hu.detach().numpy(), refs[0][0], rtol=1e-12, atol=1e-12)
    zero = cell(lamina.tensor(x))  # hx=None: zeros
    zero_h = zero[0] if kind == "LSTM" else zero
    z = [np_cell(kind, relu, x[b], np.zeros(4), np.zeros(4), w)[0] for b in range(2)]
    np.testing.assert_allclose(zero_h.detach().numpy(), np.stack(z), rtol=1e-12, atol=1e-12)


# ---- gradients ---------------------------------------------------------------------------------

LAYER_MODES = ["lstm", "gru", "rnn_tanh", "rnn_relu"]


@pytest.mark.parametrize("mode", LAYER_MODES)
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("batch_sizes", [[2, 2, 2], [3, 2, 2, 1]], ids=["plain", "packed"])
def test_rnn_layer_gradcheck(mode, reverse, batch_sizes):
    G = {"lstm": 4, "gru": 3}.get(mode, 1)
    H, I, B, N = 2, 2, batch_sizes[0], sum(batch_sizes)
    proj = mode == "lstm" and reverse  # covers weight_hr too
    P = 1 if proj else H
    r = rng(9)

    def t(*shape):
        return lamina.tensor(r.normal(size=shape) * 0.8).requires_grad_(True)

    x, h0, w_ih, w_hh, b_ih, b_hh = t(N, I), t(B, P), t(G * H, I), t(G * H, P), t(G * H), t(G * H)
    c0 = t(B, H) if mode == "lstm" else None
    w_hr = t(P, H) if proj else None
    if mode == "rnn_relu":  # keep pre-activations away from the kink
        with lamina.no_grad():
            b_ih.add_(2.0)

    def f(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr):
        out, h, c = lamina._C._rnn_layer(mode, x, batch_sizes, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, reverse)
        return (out, h) if c is None else (out, h, c)

    assert gradcheck(f, (x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr))


# The fused step kernel splits the hidden units into blocks of a few vectors and the rows into
# panels of the GEMM micro-kernel (14 rows with AVX-512, 6 with AVX2): these sizes give every ISA
# full vectors, a scalar tail of units, a partial block, full row panels and a short last panel.
@pytest.mark.parametrize("kind,kw", MODES, ids=MODE_IDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_rnn_vector_widths_match_numpy_every_isa(kind, kw, dtype, isa):
    lamina.manual_seed(3)
    m = getattr(nn, kind)(5, 37, **kw)
    if dtype == "float64":
        m = m.double()
    seqs = [rng(b).normal(size=(n, 5)).astype(dtype) for b, n in enumerate([4, 4, 3] * 6 + [1])]
    packed = rnn_utils.pack_sequence([lamina.tensor(x) for x in seqs], enforce_sorted=False)
    out, h, c = call(m, packed, None, None)
    out, lengths = rnn_utils.pad_packed_sequence(out, batch_first=True)
    zeros = np.zeros((1, len(seqs), 37))
    ref, h_ref, c_ref = np_rnn(m, seqs, zeros, zeros)
    tol = 1e-5 if dtype == "float32" else 1e-12
    for b, r in enumerate(ref):
        np.testing.assert_allclose(out.detach().numpy()[b, :len(r)], r, rtol=tol, atol=tol)
    np.testing.assert_allclose(h.detach().numpy(), h_ref, rtol=tol, atol=tol)
    if c is not None:
        np.testing.assert_allclose(c.detach().numpy(), c_ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("mode", LAYER_MODES)
def test_rnn_layer_gradcheck_vector_widths_every_isa(mode, isa):
    G = {"lstm": 4, "gru": 3}.get(mode, 1)
    H, I, batch_sizes = 9, 2, [8, 8, 5]
    B, N = batch_sizes[0], sum(batch_sizes)
    r = rng(10)

    def t(*shape):
        return lamina.tensor(r.normal(size=shape) * 0.5).requires_grad_(True)

    x, h0, w_ih, w_hh, b_ih, b_hh = t(N, I), t(B, H), t(G * H, I), t(G * H, H), t(G * H), t(G * H)
    c0 = t(B, H) if mode == "lstm" else None
    if mode == "rnn_relu":  # keep pre-activations away from the kink
        with lamina.no_grad():
            b_ih.add_(3.0)

    def f(x, h0, c0, w_hh):
        out, h, c = lamina._C._rnn_layer(mode, x, batch_sizes, h0, c0, w_ih, w_hh, b_ih, b_hh, None, False)
        return (out, h) if c is None else (out, h, c)

    assert gradcheck(f, (x, h0, c0, w_hh))


@pytest.mark.parametrize("kind,kw", MODES[:3], ids=MODE_IDS[:3])
def test_module_gradcheck_through_layers_and_directions(kind, kw):
    m = make(kind, kw, num_layers=2, bidirectional=True, batch_first=True)
    m.weight_ih_l0.data.mul_(2.0)
    x = lamina.tensor(rng(11).normal(size=(2, 3, 3))).requires_grad_(True)
    h0 = lamina.tensor(states(m, 2, "float64")[0]).requires_grad_(True)

    def f(x, h0):
        if kind == "LSTM":
            out, (h, c) = m(x, (h0, h0 * 0.5))
            return out, h, c
        return m(x, h0)

    assert gradcheck(f, (x, h0))


def test_double_backward_raises():
    m = make("LSTM", {})
    x = lamina.tensor(rng(12).normal(size=(3, 2, 3))).requires_grad_(True)
    out, _ = m(x)
    with pytest.raises(RuntimeError, match="lstm: double backward is not supported for the fused recurrent kernel"):
        lamina.autograd.grad(out.sum(), [x], create_graph=True)
    gru = make("GRU", {})
    out, _ = gru(x)
    with pytest.raises(RuntimeError, match="gru: double backward"):
        lamina.autograd.grad(out.sum(), [x], create_graph=True)


def _count_nodes(fn, name):
    seen, keep, stack, count = set(), [], [fn], 0  # keep: ids of freed wrappers could be reused
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        keep.append(node)
        count += node.name() == name
        stack.extend(nxt for nxt, _ in node.next_functions)
    return count


def test_grad_fn_is_one_node_per_layer_and_direction():
    x = lamina.tensor(rng(13).normal(size=(7, 2, 3))).requires_grad_(True)
    out, _ = make("GRU", {})(x)
    assert _count_nodes(out.grad_fn, "GruBackward0") == 1
    out, _ = make("LSTM", {}, num_layers=2, bidirectional=True)(x)
    assert _count_nodes(out.grad_fn, "LstmBackward0") == 4


# ---- determinism -------------------------------------------------------------------------------

@pytest.mark.parametrize("kind,kw", MODES, ids=MODE_IDS)
def test_rnn_bitwise_identical_for_1_and_2_threads(kind, kw, threads):
    def run(n):
        threads(n)
        lamina.manual_seed(4)
        res = []
        # LSTM twice: the fused product, and the unfused one of projections.
        for extra in [{}, {"proj_size": 24}] if kind == "LSTM" else [{}]:
            m = getattr(nn, kind)(16, 48, num_layers=2, bidirectional=True, **kw, **extra)
            x = lamina.tensor(rng(14).normal(size=(6, 130, 16)).astype(np.float32)).requires_grad_(True)
            out = m(x)[0]
            (out * out).sum().backward()
            res += [out.detach().numpy(), x.grad.numpy()] + [p.grad.numpy() for p in m.parameters()]
        return res

    for a, b in zip(run(1), run(2)):
        np.testing.assert_array_equal(a, b)


# ---- parameters, repr --------------------------------------------------------------------------

def test_parameter_names_shapes_and_init():
    m = nn.LSTM(5, 8, num_layers=2, bidirectional=True, proj_size=3)
    names = [n for n, _ in m.named_parameters()]
    assert names[:5] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_hr_l0"]
    assert names[5] == "weight_ih_l0_reverse" and names[-1] == "weight_hr_l1_reverse" and len(names) == 20
    assert tuple(m.weight_ih_l1.shape) == (32, 6) and tuple(m.weight_hh_l1_reverse.shape) == (32, 3)
    bound = 1 / np.sqrt(8)
    for p in m.parameters():
        v = p.detach().numpy()
        assert v.min() >= -bound and v.max() <= bound
    assert [len(w) for w in m.all_weights] == [5, 5, 5, 5]
    g = nn.GRU(5, 8, bias=False)
    assert [n for n, _ in g.named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]
    assert tuple(g.weight_ih_l0.shape) == (24, 5)


def test_flatten_parameters_keeps_one_contiguous_buffer():
    m = nn.LSTM(5, 8, num_layers=2, bidirectional=True)
    ws = m._flat_weights

    def contiguous_run(ws):
        item = ws[0].element_size()
        offset = ws[0].data_ptr()
        for w in ws:
            if w.data_ptr() != offset:
                return False
            offset += w.numel() * item
        return True

    assert contiguous_run(ws)
    before = [w.data_ptr() for w in ws]
    m.flatten_parameters()  # already flat: nothing moves
    assert [w.data_ptr() for w in m._flat_weights] == before
    m.double()
    assert m.weight_ih_l0.dtype == lamina.float64 and contiguous_run(m._flat_weights)
    sd = {k: v * 0 + 1 for k, v in m.state_dict().items()}
    m.load_state_dict(sd)
    assert contiguous_run(m._flat_weights) and float(m.bias_hh_l1_reverse.sum()) == 32


def test_extra_repr_like_torch():
    assert repr(nn.LSTM(10, 20)) == "LSTM(10, 20)"
    assert repr(nn.LSTM(10, 20, 2, bias=False, batch_first=True, dropout=0.5, bidirectional=True, proj_size=5)) == \
        "LSTM(10, 20, proj_size=5, num_layers=2, bias=False, batch_first=True, dropout=0.5, bidirectional=True)"
    assert repr(nn.GRU(3, 4, num_layers=2)) == "GRU(3, 4, num_layers=2)"
    assert repr(nn.RNN(3, 4, nonlinearity="relu")) == "RNN(3, 4)"
    assert repr(nn.RNNCell(3, 4, nonlinearity="relu")) == "RNNCell(3, 4, nonlinearity=relu)"
    assert repr(nn.LSTMCell(3, 4, bias=False)) == "LSTMCell(3, 4, bias=False)"
    assert repr(nn.GRUCell(3, 4)) == "GRUCell(3, 4)"


def test_module_paths():
    from lamina.nn.modules.rnn import GRU, LSTM, RNN
    assert nn.LSTM is LSTM and nn.GRU is GRU and nn.RNN is RNN
    assert lamina.nn.utils.rnn.pack_sequence is rnn_utils.pack_sequence


# ---- torch comparisons -------------------------------------------------------------------------

def _from_torch(lm, tm):
    lm.load_state_dict({k: lamina.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})


@pytest.mark.torch
@pytest.mark.parametrize("kind,kw", [("LSTM", {"proj_size": 3}), ("LSTM", {}), ("GRU", {}), ("RNN", {}),
                                     ("RNN", {"nonlinearity": "relu"})],
                         ids=["lstm_proj", "lstm", "gru", "rnn_tanh", "rnn_relu"])
@pytest.mark.parametrize("packed", [False, True])
def test_rnn_matches_torch(kind, kw, packed):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tm = getattr(torch.nn, kind)(4, 6, num_layers=2, bidirectional=True, batch_first=True, **kw).double()
    lm = getattr(nn, kind)(4, 6, num_layers=2, bidirectional=True, batch_first=True, **kw).double()
    _from_torch(lm, tm)
    lens = [3, 5, 2]
    x = rng(20).normal(size=(3, 5, 4))
    h0 = rng(21).normal(size=(4, 3, kw.get("proj_size", 6)))
    c0 = rng(22).normal(size=(4, 3, 6))
    tx, lx = torch.tensor(x, requires_grad=True), lamina.tensor(x).requires_grad_(True)
    th, lh = torch.tensor(h0, requires_grad=True), lamina.tensor(h0).requires_grad_(True)
    tc, lc = torch.tensor(c0, requires_grad=True), lamina.tensor(c0).requires_grad_(True)

    def run(lib, mod, x, h, c, utils):
        inp = utils.pack_padded_sequence(x, lens, batch_first=True, enforce_sorted=False) if packed else x
        out, hn = mod(inp, (h, c) if kind == "LSTM" else h)
        if packed:
            out = utils.pad_packed_sequence(out, batch_first=True)[0]
        hs = list(hn) if kind == "LSTM" else [hn]
        loss = (out * out).sum() + sum((v * v * v).sum() for v in hs)
        loss.backward()
        return [out] + hs

    t_out = run(torch, tm, tx, th, tc, torch.nn.utils.rnn)
    l_out = run(lamina, lm, lx, lh, lc, rnn_utils)
    for a, b in zip(t_out, l_out):
        np.testing.assert_allclose(b.detach().numpy(), a.detach().numpy(), rtol=1e-10, atol=1e-12)
    pairs = [(tx, lx), (th, lh)] + ([(tc, lc)] if kind == "LSTM" else [])
    pairs += [(p, getattr(lm, n)) for n, p in tm.named_parameters()]
    for a, b in pairs:
        np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), rtol=1e-9, atol=1e-10)


@pytest.mark.torch
@pytest.mark.parametrize("kind", ["LSTMCell", "GRUCell", "RNNCell"])
def test_cells_match_torch(kind):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tm, lm = getattr(torch.nn, kind)(4, 5).double(), getattr(nn, kind)(4, 5).double()
    _from_torch(lm, tm)
    x = rng(23).normal(size=(3, 4))
    h = rng(24).normal(size=(3, 5))
    tx, lx = torch.tensor(x, requires_grad=True), lamina.tensor(x).requires_grad_(True)
    th, lh = torch.tensor(h, requires_grad=True), lamina.tensor(h).requires_grad_(True)
    if kind == "LSTMCell":
        ta, tb = tm(tx, (th, th * 2))
        la, lb = lm(lx, (lh, lh * 2))
        to, lo = ta * tb, la * lb
    else:
        to, lo = tm(tx, th), lm(lx, lh)
    (to * to).sum().backward()
    (lo * lo).sum().backward()
    np.testing.assert_allclose(lo.detach().numpy(), to.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(lx.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(lh.grad.numpy(), th.grad.numpy(), rtol=1e-10, atol=1e-12)
    for n, p in tm.named_parameters():
        np.testing.assert_allclose(getattr(lm, n).grad.numpy(), p.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.torch
def test_float32_lstm_matches_torch_on_a_realistic_size():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tm, lm = torch.nn.LSTM(32, 64, num_layers=2), nn.LSTM(32, 64, num_layers=2)
    _from_torch(lm, tm)
    x = rng(25).normal(size=(16, 8, 32)).astype(np.float32)
    a = tm(torch.tensor(x))[0].detach().numpy()
    b = lm(lamina.tensor(x))[0].detach().numpy()
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind,kw", MODES, ids=MODE_IDS)
def test_rnn_empty_batch(kind, kw):
    m = make(kind, kw, num_layers=2, bidirectional=True)
    x = lamina.zeros(4, 0, 3, dtype=lamina.float64).requires_grad_(True)
    out, h, c = call(m, x, None, None)
    assert tuple(out.shape) == (4, 0, 8) and tuple(h.shape) == (4, 0, 4)
    out.sum().backward()
    assert tuple(x.grad.shape) == (4, 0, 3)
    assert all(float(p.grad.abs().sum()) == 0 for p in m.parameters())
