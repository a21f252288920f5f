"""Property-based fuzzing: random shapes, dtypes, layouts, indices and arguments thrown at every
public op and Tensor method. Whatever the input, lamina must either return or raise a Python
exception; a crash (or an ASan/UBSan report when CI runs this under sanitizers) fails the suite."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lamina

ALLOWED = (RuntimeError, IndexError, TypeError, ValueError, NotImplementedError, MemoryError, OverflowError,
           ZeroDivisionError)
DTYPES = [lamina.float32, lamina.float64, lamina.int32, lamina.int64, lamina.bool]
# Sizes stay tiny or impossibly large: a possible-but-huge allocation would only measure the
# machine's memory, not lamina's error handling.
INTS = st.one_of(st.integers(-6, 6), st.sampled_from([2**40, 2**62, -(2**63), 2**63 - 1]))
SETTINGS = settings(max_examples=1500, deadline=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))

# Calls that change process-wide state or take callables; tested elsewhere.
SKIP = {"set_num_threads", "set_default_dtype", "manual_seed", "seed", "default_generator", "register_hook",
        "backward", "device", "dtype", "Generator", "Tensor", "FunctionCtx", "RemovableHandle", "Node",
        "cuda"}  # cuda() raises AssertionError by design, as a CPU-only PyTorch (tests/test_device_queries.py)


@st.composite
def tensors(draw):
    shape = draw(st.lists(st.integers(0, 4), max_size=4))
    dtype = draw(st.sampled_from(DTYPES))
    data = np.random.default_rng(draw(st.integers(0, 2**16))).uniform(-4, 4, size=shape)
    t = lamina.tensor(data).to(dtype)
    layout = draw(st.sampled_from(["contiguous", "transposed", "strided", "expanded", "grad"]))
    if layout == "transposed" and t.ndim >= 2:
        t = t.transpose(0, -1)
    elif layout == "strided" and t.ndim >= 1:
        t = t[..., ::2]
    elif layout == "expanded" and t.ndim >= 1 and t.shape[0] == 1:
        t = t.expand(3, *t.shape[1:])
    elif layout == "grad" and t.is_floating_point():
        t = t.clone().requires_grad_()
    return t


def values():
    scalars = st.one_of(INTS, st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
                        st.sampled_from(["floor", "trunc", "none", "tanh", "fro", "", "cpu", "cuda"]),
                        st.sampled_from(DTYPES))
    return st.one_of(tensors(), scalars, st.lists(INTS, max_size=4).map(tuple), st.lists(INTS, max_size=3),
                     st.lists(tensors(), min_size=1, max_size=3))


def public_functions():
    return sorted(n for n in dir(lamina._C) if not n.startswith("_") and n not in SKIP
                  and callable(getattr(lamina._C, n)))


def tensor_methods():
    arithmetic = {f"__{op}__" for op in ("add", "radd", "iadd", "sub", "rsub", "isub", "mul", "rmul", "imul",
                                         "truediv", "rtruediv", "itruediv", "floordiv", "rfloordiv", "mod", "rmod",
                                         "pow", "rpow", "ipow", "and", "or", "xor", "lt", "le", "gt", "ge", "eq",
                                         "ne", "neg", "abs", "invert", "bool", "float", "int", "index", "len",
                                         "getitem", "setitem", "array", "iter", "repr")}
    names = {n for n in dir(lamina.Tensor) if not n.startswith("_")} | arithmetic
    return sorted(n for n in names - SKIP if callable(getattr(lamina.Tensor, n, None)))


def call(fn, args, kwargs):
    try:
        out = fn(*args, **kwargs)
        if isinstance(out, lamina.Tensor) and out.numel() < 10_000:
            repr(out)
    except ALLOWED:
        pass


KWARGS = st.dictionaries(st.sampled_from(["dim", "keepdim", "dtype", "alpha", "out", "k", "p", "rounding_mode",
                                          "correction", "approximate", "device", "requires_grad"]), values(),
                         max_size=2)


@SETTINGS
@given(name=st.sampled_from(public_functions()), args=st.lists(values(), max_size=4), kwargs=KWARGS)
def test_functions_never_crash(name, args, kwargs):
    previous = lamina.get_default_dtype()
    call(getattr(lamina._C, name), args, kwargs)
    lamina.set_default_dtype(previous)


@SETTINGS
@given(t=tensors(), name=st.sampled_from(tensor_methods()), args=st.lists(values(), max_size=3), kwargs=KWARGS)
def test_methods_never_crash(t, name, args, kwargs):
    call(getattr(t, name), args, kwargs)


def index_items():
    slices = st.builds(slice, st.one_of(st.none(), INTS), st.one_of(st.none(), INTS), st.one_of(st.none(), INTS))
    index_tensors = st.builds(lambda v, s: lamina.tensor(np.array(v, dtype=np.int64).reshape(s)),
                              st.lists(st.integers(-6, 6), min_size=2, max_size=2), st.sampled_from([(2,), (1, 2), (2, 1)]))
    masks = st.builds(lambda bits: lamina.tensor(np.array(bits, dtype=bool)), st.lists(st.booleans(), max_size=5))
    return st.one_of(INTS, slices, st.none(), st.just(Ellipsis), st.booleans(), index_tensors, masks,
                     st.lists(st.integers(-6, 6), max_size=3))


@SETTINGS
@given(t=tensors(), index=st.lists(index_items(), max_size=4).map(tuple), value=values())
def test_indexing_never_crashes(t, index, value):
    call(t.__getitem__, (index,), {})
    call(t.__setitem__, (index, value), {})


# ---- convolutions: random geometry through every conv kernel path ------------------------------
# Channels and kernels are drawn so that k = C_in / groups * kH * kW and C_out / groups often
# reach the implicit-GEMM paths (k >= 64, >= 8 output channels), besides im2col, 1x1 and
# depthwise; the forward and both gradients are checked against unfold (im2col) + matmul, a
# separate kernel, so a wrong index shows up here as well as under the sanitizers.

@st.composite
def conv_geometries(draw):
    groups = draw(st.sampled_from([1, 1, 2, 8]))
    cig = draw(st.sampled_from([1, 3, 8, 16]))
    cog = draw(st.sampled_from([1, 3, 8, 10, 16]))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 4)), draw(st.integers(0, 4)))
    n, h, w = draw(st.integers(1, 3)), draw(st.integers(1, 12)), draw(st.integers(1, 12))
    dtype = draw(st.sampled_from(["float32", "float64"]))
    seed = draw(st.integers(0, 2**16))
    return n, groups * cig, h, w, groups * cog, kh, kw, stride, padding, dilation, groups, dtype, seed


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(case=conv_geometries())
def test_conv2d_paths_match_unfold(case):
    import lamina.nn.functional as F
    n, c, h, w, o, kh, kw, stride, padding, dilation, groups, dtype, seed = case
    ho = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (w + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    rng = np.random.default_rng(seed)
    x = lamina.tensor(rng.standard_normal((n, c, h, w))).to(getattr(lamina, dtype)).requires_grad_()
    wt = lamina.tensor(rng.standard_normal((o, c // groups, kh, kw))).to(getattr(lamina, dtype)).requires_grad_()
    if ho <= 0 or wo <= 0:
        try:
            F.conv2d(x, wt, None, stride, padding, dilation, groups)
        except ALLOWED:
            return
        raise AssertionError("conv2d accepted an empty output")
    y = F.conv2d(x, wt, None, stride, padding, dilation, groups)
    g = lamina.tensor(rng.standard_normal(tuple(y.shape))).to(getattr(lamina, dtype))
    y.backward(g)
    # Reference: per group, y = w @ unfold(x), gw = g @ unfold(x)^T, gx = fold(w^T @ g).
    cols = F.unfold(x.detach(), (kh, kw), dilation, padding, stride).numpy().astype(np.float64)
    cols = cols.reshape(n, groups, c // groups * kh * kw, ho * wo)
    wm = wt.detach().numpy().astype(np.float64).reshape(groups, o // groups, -1)
    gm = g.numpy().astype(np.float64).reshape(n, groups, o // groups, ho * wo)
    y_ref = np.einsum("gok,ngkl->ngol", wm, cols).reshape(n, o, ho, wo)
    gw_ref = np.einsum("ngol,ngkl->gok", gm, cols).reshape(o, c // groups, kh, kw)
    gcols = np.einsum("gok,ngol->ngkl", wm, gm).reshape(n, -1, ho * wo)
    gx_ref = F.fold(lamina.tensor(gcols), (h, w), (kh, kw), dilation, padding, stride).numpy()
    tol = 1e-9 if dtype == "float64" else 2e-4
    for got, ref in ((y.detach(), y_ref), (wt.grad, gw_ref), (x.grad, gx_ref)):
        scale = max(1.0, float(np.abs(ref).max(initial=0.0)))
        np.testing.assert_allclose(got.numpy().astype(np.float64), ref, rtol=tol, atol=tol * scale)


# ---- attention: random geometry and arguments through the fused kernel ------------------------
# Lengths cross the 64-row tiles, masks are bool or float of any broadcastable (or not) shape,
# and the arguments include bad ones (mismatched dims, dtypes, dropout_p outside [0, 1], odd
# scales): each call must return or raise, and a valid call's output and gradients must match
# the materialized math path (numpy), so a wrong index shows here as well as under the sanitizers.

@st.composite
def attention_cases(draw):
    heads = draw(st.sampled_from([1, 2, 4]))
    kv_heads = draw(st.sampled_from([heads, heads, heads, 1, 2, 3]))
    L, S = draw(st.sampled_from([0, 1, 3, 64, 65, 130])), draw(st.sampled_from([0, 1, 5, 63, 64, 129]))
    E, Ev = draw(st.sampled_from([0, 1, 3, 16, 17])), draw(st.sampled_from([0, 1, 4, 33]))
    ndim = draw(st.sampled_from([2, 3, 4]))
    lead = (2, heads)[4 - ndim:] if ndim > 2 else ()
    kv_lead = (2, kv_heads)[4 - ndim:] if ndim > 2 else ()
    shapes = [lead + (L, E), kv_lead + (S, draw(st.sampled_from([E] * 8 + [E + 1]))), kv_lead + (S, Ev)]
    mask = draw(st.sampled_from([None, None, "bool", "bool", "float", "float", "int"]))
    mask_shape = draw(st.sampled_from([(L, S), (1, S), (L, 1), (S,), (2, 1, L, S), (3, L, S)]))
    kwargs = dict(dropout_p=draw(st.sampled_from([0.0] * 6 + [0.3, 1.0, -0.5, 1.5])),
                  is_causal=draw(st.sampled_from([False, False, True])),
                  scale=draw(st.sampled_from([None, 0.5, 0.0, -1.0, float("inf"), float("nan")])),
                  enable_gqa=draw(st.booleans()))
    dtype = draw(st.sampled_from(["float32", "float64", "float64", "float64", "float64", "int64"]))
    return shapes, mask, mask_shape, kwargs, dtype, draw(st.integers(0, 2**16))


def np_attention(q, k, v, mask, scale, causal, gqa):
    if gqa and q.ndim >= 3 and k.shape[-3] != q.shape[-3]:
        k, v = np.repeat(k, q.shape[-3] // k.shape[-3], -3), np.repeat(v, q.shape[-3] // v.shape[-3], -3)
    s = (q * (1.0 if q.shape[-1] == 0 else scale)) @ np.swapaxes(k, -1, -2)  # q scaled first, as the kernel
    if causal:
        s = np.where(np.tril(np.ones(s.shape[-2:], bool)), s, -np.inf)  # hidden keys are never read
    if mask is not None:
        s = s + np.where(mask, 0.0, -np.inf) if mask.dtype == bool else s + mask  # added: NaN stays NaN
    m = s.max(-1, keepdims=True, initial=-np.inf)
    dead = np.isneginf(m)
    p = np.exp(s - np.where(dead, 0, m))
    return np.where(dead, 0, p / np.where(dead, 1, p.sum(-1, keepdims=True))) @ v


@settings(max_examples=800, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(case=attention_cases())
def test_attention_never_crashes_and_matches_the_math_path(case):
    import lamina.nn.functional as F
    shapes, mask_kind, mask_shape, kwargs, dtype, seed = case
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in shapes]
    inputs = [lamina.tensor(a).to(getattr(lamina, dtype)) for a in arrays]
    if dtype != "int64":
        inputs = [t.requires_grad_() for t in inputs]
    mask = None
    if mask_kind is not None:
        m = rng.random(mask_shape) > 0.3 if mask_kind == "bool" else rng.standard_normal(mask_shape)
        mask = lamina.tensor(m).to({"bool": lamina.bool, "float": inputs[0].dtype, "int": lamina.int64}[mask_kind])
    try:
        out = F.scaled_dot_product_attention(*inputs, attn_mask=mask, **kwargs)
        out.sum().backward()
    except ALLOWED:
        return
    if kwargs["dropout_p"] > 0:
        return  # random by design; tests/nn/test_attention.py checks dropout against finite differences
    E = shapes[0][-1]
    scale = kwargs["scale"] if kwargs["scale"] is not None else 1 / np.sqrt(E) if E else 1.0
    with np.errstate(all="ignore"):
        ref = np_attention(*arrays, None if mask is None else mask.numpy(), scale, kwargs["is_causal"],
                           kwargs["enable_gqa"])
    tol = 1e-9 if dtype == "float64" else 1e-4
    np.testing.assert_allclose(out.detach().numpy(), ref, rtol=tol, atol=tol, equal_nan=True)


# ---- recurrent layers: random geometry and batch_sizes through the fused time loop ---------------
# _C._rnn_layer takes the packed batch_sizes straight from the caller, so the lists include bad
# ones (increasing, zero, negative, not summing to the rows); the weights sometimes have the wrong
# shape. Valid calls are checked step by step against numpy (forward, then backward must run).

@st.composite
def rnn_layer_cases(draw):
    mode = draw(st.sampled_from(["lstm", "lstm", "gru", "gru", "rnn_tanh", "rnn_relu", "bad"]))
    H, I = draw(st.sampled_from([1, 3, 17])), draw(st.sampled_from([0, 1, 5]))
    sizes = draw(st.lists(st.integers(0, 4), min_size=draw(st.sampled_from([0, 1, 1, 1])), max_size=5))
    valid = sorted((s for s in sizes if s > 0), reverse=True)
    batch_sizes = draw(st.sampled_from([valid, valid, sizes, valid + [5], [-1] + valid]))
    rows = sum(batch_sizes) + draw(st.sampled_from([0, 0, 0, 1, -1]))
    gate_rows = {"lstm": 4, "gru": 3}.get(mode, 1) * H + draw(st.sampled_from([0] * 7 + [1]))
    return (mode, H, I, batch_sizes, max(rows, 0), gate_rows, draw(st.booleans()), draw(st.booleans()),
            draw(st.booleans()), draw(st.integers(0, 2**16)))


def np_rnn_layer(mode, x, batch_sizes, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse):
    h, c, out, offsets = h0.copy(), c0.copy(), np.zeros((x.shape[0], h0.shape[1])), np.cumsum([0] + batch_sizes)
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    for t in (range(len(batch_sizes) - 1, -1, -1) if reverse else range(len(batch_sizes))):
        n, rows = batch_sizes[t], slice(offsets[t], offsets[t] + batch_sizes[t])
        gi, gh = x[rows] @ w_ih.T + b_ih, h[:n] @ w_hh.T + b_hh
        if mode == "lstm":
            i, f, g, o = np.split(gi + gh, 4, axis=1)
            c[:n] = sig(f) * c[:n] + sig(i) * np.tanh(g)
            h[:n] = sig(o) * np.tanh(c[:n])
        elif mode == "gru":
            H = h.shape[1]
            r, z = sig(gi[:, :H] + gh[:, :H]), sig(gi[:, H:2 * H] + gh[:, H:2 * H])
            h[:n] = (1 - z) * np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:]) + z * h[:n]
        else:
            h[:n] = np.maximum(gi + gh, 0) if mode == "rnn_relu" else np.tanh(gi + gh)
        out[rows] = h[:n]
    return out, h


@settings(max_examples=600, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(case=rnn_layer_cases())
def test_rnn_layer_never_crashes_and_matches_numpy(case):
    mode, H, I, batch_sizes, rows, gate_rows, with_state, with_bias, reverse, seed = case
    rng = np.random.default_rng(seed)
    B = max(batch_sizes, default=0)
    arrays = {"x": rng.standard_normal((rows, I)), "w_ih": rng.standard_normal((gate_rows, I)) * 0.5,
              "w_hh": rng.standard_normal((gate_rows, H)) * 0.5, "b_ih": rng.standard_normal(gate_rows),
              "b_hh": rng.standard_normal(gate_rows), "h0": rng.standard_normal((max(B, 0), H)),
              "c0": rng.standard_normal((max(B, 0), H))}
    t = {k: lamina.tensor(v).requires_grad_() for k, v in arrays.items()}
    try:
        out, h, c = lamina._C._rnn_layer(mode, t["x"], batch_sizes, t["h0"] if with_state else None,
                                         t["c0"] if with_state and mode == "lstm" else None, t["w_ih"], t["w_hh"],
                                         t["b_ih"] if with_bias else None, t["b_hh"] if with_bias else None, None,
                                         reverse)
        (out.sum() + h.sum() + (c.sum() if c is not None else 0)).backward()
    except ALLOWED:
        return
    zeros = np.zeros((B, H))
    ref_out, ref_h = np_rnn_layer(mode, arrays["x"], batch_sizes, arrays["h0"] if with_state else zeros,
                                  arrays["c0"] if with_state and mode == "lstm" else zeros, arrays["w_ih"],
                                  arrays["w_hh"], arrays["b_ih"] if with_bias else 0.0,
                                  arrays["b_hh"] if with_bias else 0.0, reverse)
    np.testing.assert_allclose(out.detach().numpy(), ref_out, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(h.detach().numpy(), ref_h, rtol=1e-9, atol=1e-9)


@st.composite
def svd_cases(draw):
    """Random (..., m, n) inputs with special values, scales and ranks for lamina.linalg.svd."""
    shape = tuple(draw(st.lists(st.integers(0, 3), max_size=2))) + (draw(st.integers(0, 7)), draw(st.integers(0, 7)))
    dtype = draw(st.sampled_from(["float32", "float64", "float64", "int64"]))
    kind = draw(st.sampled_from(["normal"] * 4 + ["rank1", "zero", "nan", "inf", "huge", "tiny", "ties"]))
    return shape, dtype, kind, draw(st.booleans()), draw(st.booleans()), draw(st.integers(0, 2**16))


@settings(max_examples=500, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(case=svd_cases())
def test_svd_never_crashes_and_factorises(case):
    shape, dtype, kind, full, transposed, seed = case
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape)
    if kind == "rank1" and a.size:
        a = a[..., :, :1] @ a[..., :1, :]
    a = {"zero": a * 0, "huge": a * 1e300, "tiny": a * 1e-300, "ties": np.round(a)}.get(kind, a)
    if kind in ("nan", "inf") and a.size:
        a.reshape(-1)[rng.integers(a.size)] = np.nan if kind == "nan" else -np.inf
    x = lamina.tensor(a).to(getattr(lamina, dtype))
    if transposed:
        x = x.mT.contiguous().mT if x.ndim >= 2 else x
    if dtype != "int64":
        x.requires_grad_()
    try:
        U, S, Vh = lamina.linalg.svd(x, full_matrices=full)
        (S.sum() + (U[..., :S.shape[-1]] * S.unsqueeze(-2) @ Vh[..., :S.shape[-1], :]).sum()).backward()
    except ALLOWED:
        assert dtype == "int64" or kind == "nan" and a.size, "only int inputs and NaN raise"
        return
    if kind in ("nan", "inf") or dtype != "float64" or kind in ("huge", "tiny"):
        return
    k = S.shape[-1]
    u, s, vh = U.detach().numpy(), S.detach().numpy(), Vh.detach().numpy()
    np.testing.assert_allclose(s, np.linalg.svd(a, compute_uv=False), atol=1e-12 * max(1.0, np.abs(a).max(initial=0)))
    np.testing.assert_allclose((u[..., :k] * s[..., None, :]) @ vh[..., :k, :], a, atol=1e-11 * max(1.0, np.abs(a).max(initial=0)))
    eye_u = np.broadcast_to(np.eye(u.shape[-1]), u.shape[:-2] + (u.shape[-1],) * 2)
    np.testing.assert_allclose(np.swapaxes(u, -1, -2) @ u, eye_u, atol=1e-12)
