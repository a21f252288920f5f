"""Reductions. Each spec is run over all dims, single dims, dim tuples and keepdim."""

import numpy as np

import lamina

from .spec import OpSpec

SPECS = [
    OpSpec("sum", lambda x: x.sum(), lambda a: np.sum(a), kind="reduction", check_dtype=False),
    OpSpec("sum_dim", lambda x: x.sum(dim=-1, keepdim=True), lambda a: a.sum(axis=-1, keepdims=True),
           kind="reduction", min_ndim=1),
    OpSpec("sum_dims", lambda x: x.sum(dim=(0, -1)), lambda a: a.sum(axis=(0, a.ndim - 1)), kind="reduction",
           min_ndim=2),
    OpSpec("mean", lambda x: x.mean(dim=0), lambda a: a.mean(axis=0), kind="reduction", min_ndim=1),
    OpSpec("amax", lambda x: x.amax(dim=-1), lambda a: a.max(axis=-1), kind="reduction", min_ndim=1),
    OpSpec("amin", lambda x: x.amin(), lambda a: a.min(), kind="reduction"),
    OpSpec("prod", lambda x: x.prod(dim=-1), lambda a: a.prod(axis=-1), kind="reduction", min_ndim=1,
           domain=(0.5, 1.5)),
    OpSpec("logsumexp", lambda x: lamina.logsumexp(x, dim=-1),
           lambda a: np.log(np.exp(a).sum(axis=-1)), kind="reduction", min_ndim=1),
    OpSpec("var", lambda x: x.var(dim=-1), lambda a: a.var(axis=-1, ddof=1), kind="reduction", min_ndim=1),
    OpSpec("std", lambda x: x.std(dim=-1, keepdim=True), lambda a: a.std(axis=-1, ddof=1, keepdims=True),
           kind="reduction", min_ndim=1),
    OpSpec("norm", lambda x: x.norm(), lambda a: np.sqrt((a.astype(np.float64) ** 2).sum()).astype(a.dtype),
           kind="reduction"),
    OpSpec("cumsum", lambda x: x.cumsum(dim=-1), lambda a: np.cumsum(a, axis=-1), kind="reduction", min_ndim=1),
]

COVERED_ELSEWHERE = []
