"""Pooling, padding and interpolation against torch.nn.functional (skipped without torch):
forward values, indices and input gradients of the same random inputs."""

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
