"""Pooling, padding and interpolation against torch.nn.functional (skipped without torch):
forward values, indices and input gradients of the same random inputs."""

import zlib

import numpy as np
import pytest

import lamina
import lamina.nn.functional as F

torch = pytest.importorskip("torch")
if not hasattr(torch, "tensor"):  # this folder itself (a namespace package on the test path), not PyTorch
    pytest.skip("PyTorch is not installed", allow_module_level=True)
TF = torch.nn.functional

pytestmark = pytest.mark.torch

CASES = [
    ("max_pool2d", (2, 3, 9, 8), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("max_pool2d", (2, 3, 9, 8), dict(kernel_size=(2, 3), stride=(1, 2), dilation=(2, 1))),
    ("max_pool1d", (2, 3, 11), dict(kernel_size=4, stride=3, padding=2, ceil_mode=True)),
    ("avg_pool2d", (2, 3, 9, 8), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)),
    ("avg_pool2d", (3, 9, 8), dict(kernel_size=4, stride=3, padding=2, ceil_mode=True, divisor_override=3)),
    ("avg_pool1d", (2, 3, 11), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
    ("adaptive_avg_pool2d", (2, 3, 9, 8), dict(output_size=(4, 5))),
    ("adaptive_max_pool2d", (2, 3, 9, 8), dict(output_size=(4, 11))),
    ("adaptive_avg_pool1d", (2, 3, 11), dict(output_size=4)),
    ("pad", (2, 3, 9, 8), dict(pad=(2, -1, 3, 1), mode="reflect")),
    ("pad", (2, 3, 9, 8), dict(pad=(2, -1, 3, 1), mode="circular")),
    ("pad", (2, 3, 9, 8), dict(pad=(2, 4, 0, 1), mode="replicate")),
    ("pad", (2, 3, 9, 8), dict(pad=(2, -1, 3, 1, 1, 1), value=2.0)),
    ("interpolate", (2, 3, 9, 8), dict(scale_factor=1.7, mode="nearest")),
    ("interpolate", (2, 3, 9, 8), dict(size=(5, 13), mode="nearest-exact")),
    ("interpolate", (2, 3, 9, 8), dict(scale_factor=(0.6, 2.3), mode="bilinear")),
    ("interpolate", (2, 3, 9, 8), dict(size=(5, 13), mode="bilinear", align_corners=True)),
    ("interpolate", (2, 3, 9, 8), dict(scale_factor=0.7, mode="bilinear", recompute_scale_factor=True)),
    ("interpolate", (2, 3, 11), dict(scale_factor=1.9, mode="linear")),
]


@pytest.mark.parametrize("name,shape,kwargs", CASES, ids=lambda v: str(v))
def test_matches_torch(name, shape, kwargs):
    x = np.random.default_rng(0).standard_normal(shape)
    ours = lamina.tensor(x).requires_grad_(True)
    theirs = torch.tensor(x, requires_grad=True)
    a = getattr(F, name)(ours, **kwargs)
    b = getattr(TF, name)(theirs, **kwargs)
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(1).standard_normal(tuple(b.shape))
    a.backward(lamina.tensor(g))
    b.backward(torch.tensor(g))
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_max_pool_indices_match_torch():
    x = np.random.default_rng(2).standard_normal((2, 3, 9, 8)).astype("float32")
    x[0, 0, 1, 1] = np.nan
    _, ours = F.max_pool2d(lamina.tensor(x), 3, 2, 1, return_indices=True)
    _, theirs = TF.max_pool2d(torch.tensor(x), 3, 2, 1, return_indices=True)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def _has_empty_window(spatial, k, s, p, d, ceil_mode):
    """Whether some window lies entirely in the padding: PyTorch's max pool backward then writes
    past the gradient buffer (lamina ignores such windows), so those calls are not compared."""
    for n in spatial:
        num = n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)
        out = num // s + 1
        if ceil_mode and (out - 1) * s >= n + p:
            out -= 1
        for o in range(max(out, 0)):
            if not any(0 <= o * s - p + j * d < n for j in range(k)):
                return True
    return False


def _random_cases(seed, count):
    """Random pooling / interpolation / padding calls (window sizes, strides, paddings, ceil_mode,
    scales, negative pads), as (function name, kwargs, input shape, dtype, check_grad)."""
    import random
    rng = random.Random(seed)
    cases = []
    for _ in range(count):
        nd = rng.choice([1, 2])
        shape = (rng.randint(1, 2), rng.randint(1, 3)) + tuple(rng.randint(1, 11) for _ in range(nd))
        kind = rng.choice(["max", "avg", "adaptive_max", "adaptive_avg", "interpolate", "pad"])
        k, s, p = rng.randint(1, 5), rng.choice([None, 1, 2, 3]), rng.randint(0, 2)
        cm = rng.random() < 0.5
        if kind == "max":
            kw = dict(kernel_size=k, stride=s, padding=p, dilation=rng.randint(1, 2), ceil_mode=cm)
            if not _has_empty_window(shape[-nd:], k, s or k, p, kw["dilation"], cm):
                cases.append((f"max_pool{nd}d", kw, shape, "float64", True))
        elif kind == "avg":
            kw = dict(kernel_size=k, stride=s, padding=p, ceil_mode=cm, count_include_pad=rng.random() < 0.5)
            if nd == 2 and rng.random() < 0.3:
                kw["divisor_override"] = rng.randint(1, 5)
            cases.append((f"avg_pool{nd}d", kw, shape, "float64", True))
        elif kind.startswith("adaptive"):
            cases.append((f"{kind}_pool{nd}d", dict(output_size=rng.randint(0, 13)), shape, "float64", True))
        elif kind == "interpolate":
            mode = rng.choice(["nearest", "nearest-exact", "linear" if nd == 1 else "bilinear", "area"])
            kw = dict(mode=mode)
            if rng.random() < 0.5:
                kw["size"] = tuple(rng.randint(1, 17) for _ in range(nd))
            else:
                kw["scale_factor"] = round(rng.uniform(0.3, 3.5), 3)
                kw["recompute_scale_factor"] = rng.random() < 0.3
            if mode in ("linear", "bilinear"):
                kw["align_corners"] = rng.random() < 0.5
            # PyTorch's 1-d nearest backward uses other index rules than its forward.
            grad = not (nd == 1 and mode.startswith("nearest"))
            cases.append(("interpolate", kw, shape, rng.choice(["float32", "float64"]), grad))
        else:
            mode = rng.choice(["constant", "reflect", "replicate", "circular"])
            pad = tuple(rng.randint(-2, 3) for _ in range(2 * nd))
            kept = [shape[-1 - i] - max(-pad[2 * i], 0) - max(-pad[2 * i + 1], 0) for i in range(nd)]
            if mode == "circular" and any(max(pad[2 * i], pad[2 * i + 1]) > kept[i] for i in range(nd)):
                continue  # PyTorch reads memory it has not written yet there; lamina refuses
            cases.append(("pad", dict(pad=pad, mode=mode), shape, "float64", True))
    return cases


@pytest.mark.parametrize("name,kwargs,shape,dtype,grad", _random_cases(0, 300), ids=lambda v: str(v))
def test_random_calls_match_torch(name, kwargs, shape, dtype, grad):
    x = np.random.default_rng(zlib.crc32(str(kwargs).encode())).standard_normal(shape).astype(dtype)
    ours, theirs = lamina.tensor(x).requires_grad_(True), torch.tensor(x, requires_grad=True)
    try:
        b = getattr(TF, name)(theirs, **kwargs)
    except RuntimeError:
        with pytest.raises(RuntimeError):
            getattr(F, name)(ours, **kwargs)
        return
    a = getattr(F, name)(ours, **kwargs)
    tol = 1e-10 if dtype == "float64" else 2e-5
    assert tuple(a.shape) == tuple(b.shape)
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=tol, atol=tol)
    if grad and a.numel():
        g = np.random.default_rng(1).standard_normal(tuple(b.shape)).astype(dtype)
        a.backward(lamina.tensor(g))
        b.backward(torch.tensor(g))
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=tol * 10, atol=tol * 10)
