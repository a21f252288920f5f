"""Dropout layers. Dropout uses F.dropout; Dropout2d zeroes whole channels with one Bernoulli draw
per (sample, channel), scaling the kept ones by 1 / (1 - p)."""

from ... import _C
from ...autograd.grad_mode import no_grad
from .. import functional as F
from .module import Module

__all__ = ["Dropout", "Dropout1d", "Dropout2d"]


def _check_p(p):
    if p < 0 or p > 1:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


class _DropoutNd(Module):
    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        _check_p(p)
        self.p = p
        self.inplace = inplace

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zeroes each element with probability p in training and scales the rest by 1/(1-p)."""

    def forward(self, input):
        return F.dropout(input, self.p, self.training, self.inplace)


def _channel_dropout(input, p, training, inplace, spatial_dims, name):
    if not training or p == 0:
        return input
    batched = input.dim() == spatial_dims + 2
    if input.dim() not in (spatial_dims + 1, spatial_dims + 2):
        raise RuntimeError(f"{name}: expected a {spatial_dims + 1}-d or {spatial_dims + 2}-d input "
                           f"(got {input.dim()}-d input of shape {tuple(input.shape)})")
    keep_shape = tuple(input.shape[:2] if batched else input.shape[:1]) + (1,) * spatial_dims
    with no_grad():
        mask = _C.empty(keep_shape, dtype=input.dtype)
        if p == 1:
            mask.zero_()
        else:
            mask.bernoulli_(1 - p).div_(1 - p)
    if inplace:
        return input.mul_(mask)
    return input * mask


class Dropout1d(_DropoutNd):
    """Zeroes whole channels of (N, C, L) or (C, L) inputs."""

    def forward(self, input):
        return _channel_dropout(input, self.p, self.training, self.inplace, 1, "dropout1d")


class Dropout2d(_DropoutNd):
    """Zeroes whole channels of (N, C, H, W) or (C, H, W) inputs."""

    def forward(self, input):
        return _channel_dropout(input, self.p, self.training, self.inplace, 2, "dropout2d")
