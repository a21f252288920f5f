"""Every layer's forward against a numpy reference and its gradients (input and parameters) by
central finite differences in float64. A layer whose functional op is not in this build yet is
skipped (the layers call lamina.nn.functional, written by the op families)."""

import math

import numpy as np
import pytest

import lamina
import lamina.nn as nn
import lamina.nn.functional as F

RNG = np.random.default_rng(0)


def needs(*names):
    """Skips unless lamina.nn.functional has these ops (matmul: lamina.matmul, used by Bilinear)."""
    missing = [n for n in names if not hasattr(lamina if n == "matmul" else F, n)]
    if missing:
        pytest.skip(f"functional op(s) {missing} not in this build yet")


def t64(a, requires_grad=False):
    return lamina.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


def randn(*shape):
    return RNG.standard_normal(shape)


def np_params(m):
    return {n: p.detach().numpy().astype(np.float64) for n, p in m.named_parameters()}


def check_grads(module, *inputs, eps=1e-6, tol=1e-5, max_elems=24, loss=None):
    """Compares autograd gradients of sum(out * R) w.r.t. float inputs and every parameter with
    central differences (on up to max_elems elements of each)."""
    module.double()
    inputs = [t64(x, requires_grad=True) if isinstance(x, np.ndarray) and x.dtype.kind == "f" else x
              for x in inputs]
    out = module(*inputs)
    weights = lamina.tensor(RNG.standard_normal(tuple(out.shape)))

    def objective():
        with lamina.no_grad():
            return float((module(*inputs) * weights).sum().item())

    for x in inputs:
        if isinstance(x, lamina.Tensor) and x.requires_grad:
            x.grad = None
    module.zero_grad()
    (module(*inputs) * weights).sum().backward()
    targets = [(f"input{i}", x) for i, x in enumerate(inputs) if isinstance(x, lamina.Tensor) and x.requires_grad]
    targets += [(n, p) for n, p in module.named_parameters() if p.requires_grad]
    for name, target in targets:
        analytical = target.grad.numpy().ravel() if target.grad is not None else np.zeros(target.numel())
        flat = target.data.reshape(-1)
        idx = RNG.choice(target.numel(), size=min(max_elems, target.numel()), replace=False)
        for k in idx:
            k = int(k)
            orig = flat[k].item()
            flat[k] = orig + eps
            plus = objective()
            flat[k] = orig - eps
            minus = objective()
            flat[k] = orig
            numerical = (plus - minus) / (2 * eps)
            assert abs(analytical[k] - numerical) <= tol + 1e-3 * abs(numerical), \
                f"{type(module).__name__}: d/d{name}[{k}] analytical {analytical[k]} vs numerical {numerical}"


def close(actual, expected, atol=1e-10, rtol=1e-7):
    np.testing.assert_allclose(actual.detach().numpy(), expected, atol=atol, rtol=rtol)


# ---- numpy references ----------------------------------------------------------------------------

def ref_conv2d(x, w, b, stride, padding, dilation, groups):
    n, c, h, wd = x.shape
    oc, icg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding[0], padding[0]), (padding[1], padding[1])))
    oh = (h + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, oc, oh, ow))
    ocg = oc // groups
    for o in range(oc):
        g = o // ocg
        for i in range(oh):
            for j in range(ow):
                patch = xp[:, g * icg:(g + 1) * icg,
                           i * stride[0]:i * stride[0] + dilation[0] * (kh - 1) + 1:dilation[0],
                           j * stride[1]:j * stride[1] + dilation[1] * (kw - 1) + 1:dilation[1]]
                out[:, o, i, j] = (patch * w[o]).sum(axis=(1, 2, 3))
    if b is not None:
        out += b[None, :, None, None]
    return out


def ref_conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation):
    n, c, h, wd = x.shape
    _, ocg, kh, kw = w.shape
    icg = c // groups
    oh = (h - 1) * stride[0] - 2 * padding[0] + dilation[0] * (kh - 1) + output_padding[0] + 1
    ow = (wd - 1) * stride[1] - 2 * padding[1] + dilation[1] * (kw - 1) + output_padding[1] + 1
    full = np.zeros((n, ocg * groups, oh + 2 * padding[0] + stride[0], ow + 2 * padding[1] + stride[1]))
    for ci in range(c):
        g = ci // icg
        for i in range(h):
            for j in range(wd):
                for a in range(kh):
                    for bb in range(kw):
                        full[:, g * ocg:(g + 1) * ocg, i * stride[0] + a * dilation[0],
                             j * stride[1] + bb * dilation[1]] += x[:, ci, i, j][:, None] * w[ci, :, a, bb][None, :]
    out = full[:, :, padding[0]:padding[0] + oh, padding[1]:padding[1] + ow]
    if b is not None:
        out = out + b[None, :, None, None]
    return out


def ref_pool2d(x, k, s, p, kind, count_include_pad=True):
    n, c, h, w = x.shape
    fill = -np.inf if kind == "max" else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=fill)
    ones = np.pad(np.ones((h, w)), ((p, p), (p, p)))
    oh, ow = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = xp[:, :, i * s:i * s + k, j * s:j * s + k]
            if kind == "max":
                out[:, :, i, j] = win.max(axis=(2, 3))
            else:
                div = k * k if count_include_pad else ones[i * s:i * s + k, j * s:j * s + k].sum()
                out[:, :, i, j] = win.sum(axis=(2, 3)) / div
    return out


def ref_adaptive2d(x, out_size, kind):
    n, c, h, w = x.shape
    oh, ow = out_size
    out = np.zeros((n, c, oh, ow))
    for i in range(oh):
        h0, h1 = (i * h) // oh, -((-(i + 1) * h) // oh)
        for j in range(ow):
            w0, w1 = (j * w) // ow, -((-(j + 1) * w) // ow)
            win = x[:, :, h0:h1, w0:w1]
            out[:, :, i, j] = win.max(axis=(2, 3)) if kind == "max" else win.mean(axis=(2, 3))
    return out


# ---- linear family -------------------------------------------------------------------------------

def test_linear():
    needs("linear")
    m = nn.Linear(5, 3).double()
    x = randn(2, 4, 5)
    p = np_params(m)
    close(m(t64(x)), x @ p["weight"].T + p["bias"])
    check_grads(m, randn(3, 5))
    m = nn.Linear(4, 2, bias=False).double()
    close(m(t64(np.ones((1, 4)))), np.ones((1, 4)) @ np_params(m)["weight"].T)


def test_bilinear():
    needs("matmul")
    m = nn.Bilinear(3, 4, 2).double()
    x1, x2 = randn(5, 3), randn(5, 4)
    p = np_params(m)
    close(m(t64(x1), t64(x2)), np.einsum("bi,oij,bj->bo", x1, p["weight"], x2) + p["bias"])
    check_grads(m, randn(2, 3), randn(2, 4))
    with pytest.raises(RuntimeError, match="bilinear"):
        m(t64(randn(2, 3)), t64(randn(2, 5)))


def test_identity_flatten_are_differentiable():
    x = t64(randn(2, 3, 2), requires_grad=True)
    nn.Flatten()(x).sum().backward()
    close(x.grad, np.ones((2, 3, 2)))


# ---- convolutions --------------------------------------------------------------------------------

@pytest.mark.parametrize("stride,padding,dilation,groups", [(1, 0, 1, 1), (2, 1, 1, 1), (1, 2, 2, 2)])
def test_conv2d(stride, padding, dilation, groups):
    needs("conv2d")
    m = nn.Conv2d(4, 6, 3, stride=stride, padding=padding, dilation=dilation, groups=groups).double()
    x = randn(2, 4, 7, 6)
    p = np_params(m)
    s, pd, d = (stride,) * 2, (padding,) * 2, (dilation,) * 2
    close(m(t64(x)), ref_conv2d(x, p["weight"], p["bias"], s, pd, d, groups), atol=1e-9)
    check_grads(m, randn(1, 4, 5, 5))


def test_conv2d_padding_same_and_modes():
    needs("conv2d")
    m = nn.Conv2d(2, 3, 3, padding="same", dilation=2).double()  # symmetric: F.conv2d pads
    x = randn(1, 2, 5, 6)
    p = np_params(m)
    close(m(t64(x)), ref_conv2d(x, p["weight"], p["bias"], (1, 1), (2, 2), (2, 2), 1), atol=1e-9)
    needs("pad")  # asymmetric 'same' and padding modes pad the input first
    m = nn.Conv2d(2, 3, (3, 4), padding="same", bias=False).double()
    x = randn(1, 2, 5, 6)
    out = m(t64(x))
    assert tuple(out.shape) == (1, 3, 5, 6)
    w = np_params(m)["weight"]
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 2)))
    close(out, ref_conv2d(xp, w, None, (1, 1), (0, 0), (1, 1), 1), atol=1e-9)
    m = nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect").double()
    p = np_params(m)
    xr = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="reflect")
    close(m(t64(x)), ref_conv2d(xr, p["weight"], p["bias"], (1, 1), (0, 0), (1, 1), 1), atol=1e-9)


def test_conv1d():
    needs("conv1d")
    m = nn.Conv1d(3, 4, 3, stride=2, padding=1).double()
    x = randn(2, 3, 9)
    p = np_params(m)
    ref = ref_conv2d(x[:, :, None, :], p["weight"][:, :, None, :], p["bias"], (1, 2), (0, 1), (1, 1), 1)[:, :, 0]
    close(m(t64(x)), ref, atol=1e-9)
    check_grads(m, randn(1, 3, 6))


@pytest.mark.parametrize("stride,padding,output_padding,groups", [(1, 0, 0, 1), (2, 1, 1, 1), (2, 0, 0, 2)])
def test_conv_transpose2d(stride, padding, output_padding, groups):
    needs("conv_transpose2d")
    m = nn.ConvTranspose2d(4, 6, 3, stride=stride, padding=padding, output_padding=output_padding,
                           groups=groups).double()
    x = randn(2, 4, 4, 5)
    p = np_params(m)
    ref = ref_conv_transpose2d(x, p["weight"], p["bias"], (stride,) * 2, (padding,) * 2, (output_padding,) * 2,
                               groups, (1, 1))
    close(m(t64(x)), ref, atol=1e-9)
    check_grads(m, randn(1, 4, 3, 3))


def test_conv_transpose2d_output_size():
    needs("conv_transpose2d")
    m = nn.ConvTranspose2d(2, 2, 3, stride=2, padding=1).double()
    x = t64(randn(1, 2, 4, 4))
    assert tuple(m(x).shape) == (1, 2, 7, 7)
    assert tuple(m(x, output_size=(8, 8)).shape) == (1, 2, 8, 8)
    with pytest.raises(ValueError, match="valid sizes range from 7 to 8"):
        m(x, output_size=(9, 9))


# ---- pooling -------------------------------------------------------------------------------------

@pytest.mark.parametrize("k,s,p", [(2, 2, 0), (3, 2, 1), (3, 1, 1)])
def test_pool2d(k, s, p):
    needs("max_pool2d", "avg_pool2d")
    x = randn(2, 3, 7, 6)
    close(nn.MaxPool2d(k, s, p)(t64(x)), ref_pool2d(x, k, s, p, "max"))
    close(nn.AvgPool2d(k, s, p)(t64(x)), ref_pool2d(x, k, s, p, "avg"), atol=1e-9)
    close(nn.AvgPool2d(k, s, p, count_include_pad=False)(t64(x)), ref_pool2d(x, k, s, p, "avg", False), atol=1e-9)
    check_grads(nn.MaxPool2d(k, s, p), randn(1, 2, 5, 5))
    check_grads(nn.AvgPool2d(k, s, p), randn(1, 2, 5, 5))


def test_pool1d():
    needs("max_pool1d", "avg_pool1d")
    x = randn(2, 3, 9)
    close(nn.MaxPool1d(3, 2, 1)(t64(x)), ref_pool2d(x[:, :, None, :].repeat(3, axis=2), 3, 2, 1, "max")[:, :, 1])
    close(nn.AvgPool1d(2)(t64(x)), x[:, :, :8].reshape(2, 3, 4, 2).mean(-1))
    check_grads(nn.AvgPool1d(3, 2, 1), randn(1, 2, 7))


@pytest.mark.parametrize("out_size", [(1, 1), (2, 3), (4, 4)])
def test_adaptive_pool2d(out_size):
    needs("adaptive_avg_pool2d", "adaptive_max_pool2d")
    x = randn(2, 3, 7, 5)
    close(nn.AdaptiveAvgPool2d(out_size)(t64(x)), ref_adaptive2d(x, out_size, "avg"), atol=1e-9)
    close(nn.AdaptiveMaxPool2d(out_size)(t64(x)), ref_adaptive2d(x, out_size, "max"))
    check_grads(nn.AdaptiveAvgPool2d(out_size), randn(1, 2, 5, 4))
    check_grads(nn.AdaptiveMaxPool2d(out_size), randn(1, 2, 5, 4))


# ---- normalisation -------------------------------------------------------------------------------

@pytest.mark.parametrize("cls,shape", [(nn.BatchNorm1d, (8, 3)), (nn.BatchNorm1d, (4, 3, 5)),
                                       (nn.BatchNorm2d, (4, 3, 2, 5))])
def test_batch_norm_train_eval_running_stats(cls, shape):
    needs("batch_norm")
    m = cls(3, momentum=0.3).double()
    with lamina.no_grad():
        m.weight.copy_(t64([1.0, 2.0, -0.5]))
        m.bias.copy_(t64([0.0, 1.0, 0.5]))
    axes = tuple(i for i in range(len(shape)) if i != 1)
    bshape = [1] * len(shape)
    bshape[1] = 3
    w, b = np.array([1.0, 2.0, -0.5]).reshape(bshape), np.array([0.0, 1.0, 0.5]).reshape(bshape)
    running_mean, running_var = np.zeros(3), np.ones(3)
    for _ in range(2):
        x = randn(*shape) * 2 + 1
        mean, var = x.mean(axis=axes), x.var(axis=axes)
        count = x.size // 3
        close(m(t64(x)), (x - mean.reshape(bshape)) / np.sqrt(var.reshape(bshape) + 1e-5) * w + b, atol=1e-9)
        running_mean = 0.7 * running_mean + 0.3 * mean
        running_var = 0.7 * running_var + 0.3 * var * count / (count - 1)
        close(m.running_mean, running_mean, atol=1e-9)
        close(m.running_var, running_var, atol=1e-9)
    assert m.num_batches_tracked.item() == 2
    m.eval()
    x = randn(*shape)
    expected = (x - running_mean.reshape(bshape)) / np.sqrt(running_var.reshape(bshape) + 1e-5) * w + b
    close(m(t64(x)), expected, atol=1e-9)
    assert m.num_batches_tracked.item() == 2
    m.train()
    check_grads(m, randn(*shape))
    with pytest.raises(ValueError, match="expected"):
        m(t64(randn(2, 3, 2, 2, 2)))


def test_batch_norm_cumulative_average_and_no_stats():
    needs("batch_norm")
    m = nn.BatchNorm1d(2, momentum=None, affine=False).double()
    xs = [randn(6, 2) for _ in range(3)]
    for x in xs:
        m(t64(x))
    close(m.running_mean, np.mean([x.mean(0) for x in xs], axis=0), atol=1e-9)
    close(m.running_var, np.mean([x.var(0, ddof=1) for x in xs], axis=0), atol=1e-9)
    assert list(dict(m.named_parameters())) == []
    m = nn.BatchNorm1d(2, track_running_stats=False).double().eval()
    assert m.running_mean is None and "running_mean" not in m.state_dict()
    x = randn(5, 2)
    close(m(t64(x)), (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), atol=1e-9)  # batch stats even in eval


def test_batch_norm_loads_old_checkpoint_without_counter():
    m = nn.BatchNorm2d(3)
    sd = m.state_dict()
    del sd["num_batches_tracked"]
    assert m.load_state_dict(sd).missing_keys == []


def test_layer_norm():
    needs("layer_norm")
    m = nn.LayerNorm((3, 4)).double()
    with lamina.no_grad():
        m.weight.copy_(t64(randn(3, 4)))
        m.bias.copy_(t64(randn(3, 4)))
    x = randn(2, 3, 4)
    p = np_params(m)
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    close(m(t64(x)), (x - mean) / np.sqrt(var + 1e-5) * p["weight"] + p["bias"], atol=1e-9)
    check_grads(m, randn(2, 3, 4))
    plain = nn.LayerNorm(4, elementwise_affine=False).double()
    assert list(plain.parameters()) == []
    x = randn(3, 4)
    close(plain(t64(x)), (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5), atol=1e-9)


def test_group_norm():
    needs("group_norm")
    m = nn.GroupNorm(2, 4).double()
    with lamina.no_grad():
        m.weight.copy_(t64(randn(4)))
        m.bias.copy_(t64(randn(4)))
    x = randn(3, 4, 5)
    p = np_params(m)
    g = x.reshape(3, 2, -1)
    y = ((g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + 1e-5)).reshape(x.shape)
    close(m(t64(x)), y * p["weight"][None, :, None] + p["bias"][None, :, None], atol=1e-9)
    check_grads(m, randn(2, 4, 3))
    with pytest.raises(ValueError, match="divisible"):
        nn.GroupNorm(3, 4)


# ---- dropout -------------------------------------------------------------------------------------

def test_dropout():
    needs("dropout")
    m = nn.Dropout(0.3)
    x = lamina.ones(200, 100)
    y = m(x).numpy()
    kept = y != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    m.eval()
    assert m(x) is x or np.array_equal(m(x).numpy(), x.numpy())
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


def test_dropout2d_zeroes_whole_channels():
    needs("dropout2d")
    m = nn.Dropout2d(0.5)
    x = t64(np.ones((20, 30, 4, 5)), requires_grad=True)
    y = m(x)
    per_channel = y.detach().numpy().reshape(20, 30, -1)
    assert set(np.unique(per_channel)) <= {0.0, 2.0}
    assert (per_channel.min(-1) == per_channel.max(-1)).all()  # a channel is all kept or all dropped
    assert abs((per_channel[:, :, 0] != 0).mean() - 0.5) < 0.06
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.detach().numpy())  # d/dx = the scaled mask
    m.eval()
    assert m(x) is x
    assert (nn.Dropout2d(1.0)(x).detach().numpy() == 0).all()


# ---- embedding -----------------------------------------------------------------------------------

def test_embedding_forward_and_grad():
    m = nn.Embedding(6, 3).double()
    idx = lamina.tensor([[0, 2, 5], [2, 2, 1]])
    w = np_params(m)["weight"]
    close(m(idx), w[idx.numpy()])
    m(idx).sum().backward()
    expected = np.zeros((6, 3))
    np.add.at(expected, idx.numpy().ravel(), 1.0)
    close(m.weight.grad, expected)
    check_grads(m, idx)
    with pytest.raises(IndexError, match="index 6 out of range"):
        m(lamina.tensor([6]))


def test_embedding_padding_idx_gets_no_gradient():
    m = nn.Embedding(5, 2, padding_idx=1).double()
    assert (m.weight.detach().numpy()[1] == 0).all()
    with lamina.no_grad():
        m.weight[1] = t64([3.0, 4.0])  # the row is still returned as-is
    idx = lamina.tensor([1, 0, 1, 3])
    out = m(idx)
    close(out[0], [3.0, 4.0])
    g = randn(4, 2)
    (out * t64(g)).sum().backward()
    expected = np.zeros((5, 2))
    expected[0] = g[1]
    expected[3] = g[3]
    close(m.weight.grad, expected)
    assert nn.Embedding(5, 2, padding_idx=-1).padding_idx == 4


def test_embedding_max_norm_and_from_pretrained():
    w = t64([[3.0, 4.0], [0.3, 0.4], [6.0, 8.0]])
    m = nn.Embedding.from_pretrained(w, max_norm=1.0)
    assert not m.weight.requires_grad
    out = m(lamina.tensor([0, 1]))
    np.testing.assert_allclose(out.numpy(), [[0.6, 0.8], [0.3, 0.4]], rtol=1e-6)
    np.testing.assert_allclose(m.weight.detach().numpy()[2], [6.0, 8.0])  # rows not looked up keep their norm


# ---- activations ---------------------------------------------------------------------------------

def _softplus(x, beta=1.0, threshold=20.0):
    return np.where(x * beta > threshold, x, np.log1p(np.exp(beta * x)) / beta)


ACTIVATIONS = [
    ("relu", lambda: nn.ReLU(), lambda x: np.maximum(x, 0)),
    ("leaky_relu", lambda: nn.LeakyReLU(0.2), lambda x: np.where(x >= 0, x, 0.2 * x)),
    ("elu", lambda: nn.ELU(0.7), lambda x: np.where(x > 0, x, 0.7 * np.expm1(x))),
    ("gelu", lambda: nn.GELU(), lambda x: 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))),
    ("gelu", lambda: nn.GELU("tanh"),
     lambda x: 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))),
    ("silu", lambda: nn.SiLU(), lambda x: x / (1 + np.exp(-x))),
    ("mish", lambda: nn.Mish(), lambda x: x * np.tanh(np.log1p(np.exp(x)))),
    ("tanh", lambda: nn.Tanh(), np.tanh),
    ("sigmoid", lambda: nn.Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
    ("softplus", lambda: nn.Softplus(2.0, 3.0), lambda x: _softplus(x, 2.0, 3.0)),
    ("hardtanh", lambda: nn.Hardtanh(-0.5, 1.5), lambda x: np.clip(x, -0.5, 1.5)),
    ("softmax", lambda: nn.Softmax(dim=1),
     lambda x: np.exp(x - x.max(1, keepdims=True)) / np.exp(x - x.max(1, keepdims=True)).sum(1, keepdims=True)),
    ("log_softmax", lambda: nn.LogSoftmax(dim=-1),
     lambda x: x - x.max(-1, keepdims=True) - np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True))),
]


@pytest.mark.parametrize("fn,make,ref", ACTIVATIONS, ids=[a[0] + str(i) for i, a in enumerate(ACTIVATIONS)])
def test_activation(fn, make, ref):
    if fn not in ("tanh", "sigmoid"):
        needs(fn)
    x = randn(3, 4, 5) * 2
    x[np.abs(x) < 0.05] += 0.2  # away from kinks
    x[np.abs(x - 1.5) < 0.05] += 0.2
    x[np.abs(x + 0.5) < 0.05] += 0.2
    close(make()(t64(x)), ref(x), atol=1e-8, rtol=1e-6)
    check_grads(make(), x[:2, :2])


def test_inplace_activation_and_repr():
    needs("relu")
    x = lamina.tensor([-1.0, 2.0])
    y = nn.ReLU(inplace=True)(x)
    assert x.numpy().tolist() == [0.0, 2.0] and y.numpy().tolist() == [0.0, 2.0]
    assert repr(nn.ReLU(inplace=True)) == "ReLU(inplace=True)"
    assert repr(nn.GELU("tanh")) == "GELU(approximate='tanh')"
    assert repr(nn.LeakyReLU(0.1)) == "LeakyReLU(negative_slope=0.1)"


# ---- losses --------------------------------------------------------------------------------------

def _reduce(v, reduction):
    return {"none": v, "mean": v.mean(), "sum": v.sum()}[reduction]


def _log_softmax(x, axis=1):
    m = x.max(axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis, keepdims=True))


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_regression_losses(reduction):
    needs("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss")
    a, b = randn(4, 5), randn(4, 5)
    d = a - b
    close(nn.MSELoss(reduction=reduction)(t64(a), t64(b)), _reduce(d ** 2, reduction))
    close(nn.L1Loss(reduction=reduction)(t64(a), t64(b)), _reduce(np.abs(d), reduction))
    beta = 0.7
    smooth = np.where(np.abs(d) < beta, 0.5 * d ** 2 / beta, np.abs(d) - 0.5 * beta)
    close(nn.SmoothL1Loss(reduction=reduction, beta=beta)(t64(a), t64(b)), _reduce(smooth, reduction))
    delta = 0.8
    huber = np.where(np.abs(d) < delta, 0.5 * d ** 2, delta * (np.abs(d) - 0.5 * delta))
    close(nn.HuberLoss(reduction=reduction, delta=delta)(t64(a), t64(b)), _reduce(huber, reduction))
    for loss in [nn.MSELoss(reduction=reduction), nn.SmoothL1Loss(reduction=reduction, beta=beta),
                 nn.HuberLoss(reduction=reduction, delta=delta)]:
        check_grads(loss, randn(2, 3), t64(randn(2, 3)))


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_classification_losses(reduction):
    needs("cross_entropy", "nll_loss")
    logits = randn(6, 4)
    target = np.array([0, 3, 1, 1, 2, 0])
    weight = np.array([1.0, 2.0, 0.5, 1.5])
    logp = _log_softmax(logits)
    picked = -logp[np.arange(6), target]
    close(nn.CrossEntropyLoss(reduction=reduction)(t64(logits), lamina.tensor(target)), _reduce(picked, reduction))
    w = weight[target]
    expected = {"none": picked * w, "sum": (picked * w).sum(), "mean": (picked * w).sum() / w.sum()}[reduction]
    close(nn.NLLLoss(weight=t64(weight), reduction=reduction)(t64(logp), lamina.tensor(target)), expected)
    # ignore_index drops those rows from the mean
    tgt = target.copy()
    tgt[1] = -100
    keep = tgt != -100
    ce = nn.CrossEntropyLoss(reduction=reduction)(t64(logits), lamina.tensor(tgt)).detach().numpy()
    if reduction == "mean":
        np.testing.assert_allclose(ce, picked[keep].mean())
    check_grads(nn.CrossEntropyLoss(reduction=reduction), randn(3, 4), lamina.tensor([1, 0, 3]))


def test_cross_entropy_label_smoothing_and_probabilities():
    needs("cross_entropy")
    logits, target = randn(5, 3), np.array([2, 0, 1, 1, 0])
    eps = 0.1
    logp = _log_softmax(logits)
    q = np.full((5, 3), eps / 3)
    q[np.arange(5), target] += 1 - eps
    close(nn.CrossEntropyLoss(label_smoothing=eps)(t64(logits), lamina.tensor(target)), -(q * logp).sum(1).mean())
    probs = np.abs(randn(5, 3))
    probs /= probs.sum(1, keepdims=True)
    close(nn.CrossEntropyLoss()(t64(logits), t64(probs)), -(probs * logp).sum(1).mean())


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_binary_losses(reduction):
    needs("binary_cross_entropy", "binary_cross_entropy_with_logits")
    z, y = randn(4, 3), (RNG.random((4, 3)) > 0.5).astype(np.float64)
    p = 1 / (1 + np.exp(-z))
    bce = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    close(nn.BCELoss(reduction=reduction)(t64(p), t64(y)), _reduce(bce, reduction), atol=1e-9)
    close(nn.BCEWithLogitsLoss(reduction=reduction)(t64(z), t64(y)), _reduce(bce, reduction), atol=1e-9)
    pos = np.array([1.0, 3.0, 0.5])
    weighted = -(pos * y * np.log(p) + (1 - y) * np.log(1 - p))
    close(nn.BCEWithLogitsLoss(reduction=reduction, pos_weight=t64(pos))(t64(z), t64(y)),
          _reduce(weighted, reduction), atol=1e-9)
    check_grads(nn.BCEWithLogitsLoss(reduction=reduction), randn(2, 3), t64(y[:2]))


@pytest.mark.parametrize("reduction", ["none", "mean", "sum", "batchmean"])
def test_kl_div(reduction):
    needs("kl_div")
    logq = _log_softmax(randn(4, 5))
    p = np.exp(_log_softmax(randn(4, 5)))
    pointwise = p * (np.log(p) - logq)
    expected = pointwise.sum() / 4 if reduction == "batchmean" else _reduce(pointwise, reduction)
    close(nn.KLDivLoss(reduction=reduction)(t64(logq), t64(p)), expected, atol=1e-9)
    close(nn.KLDivLoss(reduction=reduction, log_target=True)(t64(logq), t64(np.log(p))), expected, atol=1e-9)


def test_loss_reduction_validated():
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        nn.MSELoss(reduction="avg")


# ---- upsampling ----------------------------------------------------------------------------------

def test_upsample():
    needs("interpolate")
    x = randn(1, 2, 3, 4)
    close(nn.Upsample(scale_factor=2)(t64(x)), x.repeat(2, axis=2).repeat(2, axis=3))
    out = nn.Upsample(size=(5, 7), mode="bilinear", align_corners=True)(t64(x)).detach().numpy()
    ys, xs = np.linspace(0, 2, 5), np.linspace(0, 3, 7)
    y0, x0 = np.clip(np.floor(ys).astype(int), 0, 1), np.clip(np.floor(xs).astype(int), 0, 2)
    wy, wx = (ys - y0)[:, None], (xs - x0)[None, :]
    ref = (x[..., y0[:, None], x0[None, :]] * (1 - wy) * (1 - wx) + x[..., y0[:, None] + 1, x0[None, :]] * wy * (1 - wx)
           + x[..., y0[:, None], x0[None, :] + 1] * (1 - wy) * wx + x[..., y0[:, None] + 1, x0[None, :] + 1] * wy * wx)
    np.testing.assert_allclose(out, ref, atol=1e-9)
    check_grads(nn.Upsample(scale_factor=2, mode="bilinear"), randn(1, 1, 2, 3))
    assert repr(nn.Upsample(scale_factor=2)) == "Upsample(scale_factor=2.0, mode='nearest')"


# ---- a small model end to end --------------------------------------------------------------------

def test_small_cnn_trains_one_step():
    needs("conv2d", "max_pool2d", "linear", "relu", "cross_entropy")
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 4 * 4, 10))
    x = lamina.randn(8, 1, 8, 8)
    y = lamina.randint(0, 10, (8,))
    loss = nn.CrossEntropyLoss()(model(x), y)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
    with lamina.no_grad():
        for p in model.parameters():
            p -= 0.1 * p.grad
    assert nn.CrossEntropyLoss()(model(x), y).item() < loss.item()


@pytest.mark.parametrize("in_features,out_features,lead", [(0, 4, (2,)), (3, 0, (2,)), (0, 0, (2, 5)), (3, 4, (0,)),
                                                           (0, 4, ())])
def test_linear_backward_with_empty_features(in_features, out_features, lead):
    # regression: backward reshaped with -1 next to a 0 ("shape '(-1, 0)' is invalid")
    x = lamina.ones(*lead, in_features, requires_grad=True)
    w = lamina.ones(out_features, in_features, requires_grad=True)
    b = lamina.ones(out_features, requires_grad=True)
    y = F.linear(x, w, b)
    assert y.shape == (*lead, out_features)
    (y * 2).sum().backward()
    assert x.grad.shape == x.shape and w.grad.shape == w.shape and b.grad.shape == b.shape
    np.testing.assert_array_equal(x.grad.numpy(), np.full(x.shape, 2.0 * out_features))
    np.testing.assert_array_equal(w.grad.numpy(), np.full(w.shape, 2.0 * math.prod(lead)))
    np.testing.assert_array_equal(b.grad.numpy(), np.full(b.shape, 2.0 * math.prod(lead)))


def test_linear_bias_broadcasts_to_the_output_like_pytorch():
    # regression: only a (out_features,) or one-element bias was accepted
    x = lamina.ones(2, 3, requires_grad=True)
    w = lamina.ones(4, 3)
    b = lamina.arange(8.0).reshape(2, 4).requires_grad_()
    y = F.linear(x, w, b)
    np.testing.assert_array_equal(y.detach().numpy(), 3 + np.arange(8.0).reshape(2, 4))
    y.sum().backward()
    np.testing.assert_array_equal(b.grad.numpy(), np.ones((2, 4)))
    assert F.linear(x, w, lamina.ones(1, 1)).shape == (2, 4)
    with pytest.raises(RuntimeError, match="linear: bias of shape"):
        F.linear(x, w, lamina.ones(5, 2, 4))
    with pytest.raises(RuntimeError, match="linear: bias of shape"):
        F.linear(x, w, lamina.ones(3))
