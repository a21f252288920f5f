"""Reductions, each run over all dims, single (negative) dims, dim tuples and keepdim.

The numpy references follow PyTorch's dtype rules: integer and bool sums and products are int64,
argmax returns int64 and the first index among ties, std/var use `correction` as numpy's ddof.
"""

import numpy as np

import lamina

from .spec import ALL_DTYPES, NUMERIC, OpSpec

# (label, lamina kwargs, numpy axis, keepdims, min_ndim)
DIMS = [
    ("all", {}, None, False, 0),
    ("dim0", {"dim": 0}, 0, False, 1),
    ("dim_neg_keepdim", {"dim": -1, "keepdim": True}, -1, True, 1),
    ("dims", {"dim": (0, -1)}, (0, -1), False, 2),
    ("dims_keepdim", {"dim": (-1, -2), "keepdim": True}, (-1, -2), True, 2),
    ("dim_list", {"dim": [1]}, (1,), False, 2),
]
SINGLE_DIMS = [d for d in DIMS if d[2] is None or isinstance(d[2], int)]


def _axes(a, axis):
    """numpy axis for `a` (a 0-d tensor accepts dim 0 / -1 and reduces nothing)."""
    return None if a.ndim == 0 else axis


def _running(fn):
    """numpy's cumsum/cumprod as lamina computes them: integers in int64, float32 accumulated in
    float64 and rounded once per output (PyTorch's accumulation type)."""
    def ref(a, axis, keepdims):
        if a.dtype.kind in "biu":
            return fn(a, axis=axis, dtype=np.int64)
        return fn(a, axis=axis, dtype=np.float64).astype(a.dtype)
    return ref


def _family(name, method, ref, dims=DIMS, fn=None, **spec_kwargs):
    """One spec per dim configuration: `method(x, **kwargs)` against `ref(a, axis, keepdims)`."""
    return [OpSpec(f"{name}_{label}", lambda x, kw=kwargs: method(x, **kw),
                   lambda a, axis=axis, keepdims=keepdims: np.asarray(ref(a, _axes(a, axis), keepdims)),
                   kind="reduction", fn=fn or name, min_ndim=min_ndim, **spec_kwargs)
            for label, kwargs, axis, keepdims, min_ndim in dims]


def _sum(a, axis, keepdims, dtype=None):
    if dtype is None and a.dtype.kind in "biu":
        dtype = np.int64
    return np.sum(a, axis=axis, keepdims=keepdims, dtype=dtype)


def _prod(a, axis, keepdims):
    return np.prod(a, axis=axis, keepdims=keepdims, dtype=np.int64 if a.dtype.kind in "biu" else None)


def _norm(p):
    def ref(a, axis, keepdims):
        x = np.abs(a.astype(np.float64))
        if p == np.inf:
            r = np.max(x, axis=axis, keepdims=keepdims)
        elif p == -np.inf:
            r = np.min(x, axis=axis, keepdims=keepdims)
        elif p == 0:
            r = np.sum(x != 0, axis=axis, keepdims=keepdims)
        else:
            r = np.sum(x ** p, axis=axis, keepdims=keepdims) ** (1 / p)
        return np.asarray(r).astype(a.dtype)
    return ref


def _logsumexp(a, axis, keepdims):
    x = a.astype(np.float64)
    with np.errstate(divide="ignore"):
        r = np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))
    return np.asarray(r).astype(a.dtype if a.dtype.kind == "f" else np.float32)


def _arg(fn):
    def ref(a, axis, keepdims):
        if axis is None:
            r = fn(a.reshape(-1))
            return np.asarray(r).reshape((1,) * a.ndim) if keepdims else r
        return fn(a, axis=axis, keepdims=keepdims)
    return ref


near_zero = lambda a: np.abs(a) < 0.05  # noqa: E731

SPECS = [
    *_family("sum", lambda x, **k: x.sum(**k), _sum, dtypes=ALL_DTYPES),
    *_family("sum_dtype", lambda x, **k: lamina.sum(x, dtype=lamina.float64, **k),
             lambda a, axis, keepdims: _sum(a, axis, keepdims, np.float64), dims=DIMS[:3], fn="sum",
             dtypes=ALL_DTYPES),
    *_family("sum_int32", lambda x, **k: x.sum(dtype=lamina.int32, **k),
             lambda a, axis, keepdims: _sum(a, axis, keepdims, np.int32), dims=DIMS[:2], fn="sum",
             dtypes=("int32", "bool"), grad=False),
    *_family("mean", lambda x, **k: x.mean(**k), lambda a, axis, keepdims: np.mean(a, axis=axis, keepdims=keepdims)),
    *_family("mean_dtype", lambda x, **k: x.mean(dtype=lamina.float64, **k),
             lambda a, axis, keepdims: np.mean(a, axis=axis, keepdims=keepdims, dtype=np.float64), dims=DIMS[:2],
             fn="mean"),
    *_family("prod", lambda x, **k: x.prod(**k), _prod, dims=SINGLE_DIMS, dtypes=ALL_DTYPES, domain=(0.5, 1.5)),
    *_family("prod_dtype", lambda x, **k: lamina.prod(x, dtype=lamina.float64, **k),
             lambda a, axis, keepdims: np.prod(a, axis=axis, keepdims=keepdims, dtype=np.float64),
             dims=SINGLE_DIMS[:2], fn="prod", dtypes=("float32", "int32"), domain=(0.5, 1.5)),
    *_family("amax", lambda x, **k: x.amax(**k), lambda a, axis, keepdims: np.max(a, axis=axis, keepdims=keepdims),
             dtypes=ALL_DTYPES),
    *_family("amin", lambda x, **k: lamina.amin(x, **k),
             lambda a, axis, keepdims: np.min(a, axis=axis, keepdims=keepdims), dtypes=ALL_DTYPES),
    OpSpec("max_all", lambda x: x.max(), np.max, kind="reduction", fn="max", dtypes=ALL_DTYPES),
    OpSpec("min_all", lambda x: lamina.min(x), np.min, kind="reduction", fn="min", dtypes=ALL_DTYPES),
    *_family("max_values", lambda x, **k: x.max(**k).values,
             lambda a, axis, keepdims: np.max(a, axis=axis, keepdims=keepdims), dims=SINGLE_DIMS[1:], fn="max",
             dtypes=ALL_DTYPES),
    *_family("max_indices", lambda x, **k: lamina.max(x, **k)[1], _arg(np.argmax), dims=SINGLE_DIMS[1:],
             fn="max", dtypes=ALL_DTYPES, grad=False),
    *_family("min_values", lambda x, **k: x.min(**k)[0],
             lambda a, axis, keepdims: np.min(a, axis=axis, keepdims=keepdims), dims=SINGLE_DIMS[1:], fn="min",
             dtypes=ALL_DTYPES),
    *_family("min_indices", lambda x, **k: x.min(**k).indices, _arg(np.argmin), dims=SINGLE_DIMS[1:], fn="min",
             dtypes=ALL_DTYPES, grad=False),
    *_family("argmax", lambda x, **k: x.argmax(**k), _arg(np.argmax), dims=SINGLE_DIMS, dtypes=NUMERIC, grad=False),
    OpSpec("argmax_keepdim", lambda x: x.argmax(keepdim=True), lambda a: np.argmax(a).reshape((1,) * a.ndim),
           kind="reduction", fn="argmax", dtypes=NUMERIC, grad=False),
    *_family("argmin", lambda x, **k: lamina.argmin(x, **k), _arg(np.argmin), dims=SINGLE_DIMS, dtypes=NUMERIC,
             grad=False),
    *_family("var", lambda x, **k: x.var(**k),
             lambda a, axis, keepdims: np.var(a, axis=axis, keepdims=keepdims, ddof=1), dims=DIMS[:4]),
    *_family("var_correction0", lambda x, **k: x.var(correction=0, **k),
             lambda a, axis, keepdims: np.var(a, axis=axis, keepdims=keepdims), dims=DIMS[1:3], fn="var"),
    *_family("var_unbiased_false", lambda x, **k: lamina.var(x, unbiased=False, **k),
             lambda a, axis, keepdims: np.var(a, axis=axis, keepdims=keepdims), dims=DIMS[:1], fn="var"),
    *_family("var_correction2", lambda x, **k: x.var(correction=2, **k),
             lambda a, axis, keepdims: np.var(a, axis=axis, keepdims=keepdims, ddof=2), dims=DIMS[3:5], fn="var"),
    *_family("std", lambda x, **k: x.std(**k),
             lambda a, axis, keepdims: np.std(a, axis=axis, keepdims=keepdims, ddof=1), dims=DIMS[:5]),
    *_family("std_correction0", lambda x, **k: lamina.std(x, correction=0, **k),
             lambda a, axis, keepdims: np.std(a, axis=axis, keepdims=keepdims), dims=DIMS[1:2], fn="std"),
    *_family("logsumexp", lambda x, **k: lamina.logsumexp(x, **k), _logsumexp, dims=DIMS[1:], dtypes=NUMERIC),
    *_family("norm", lambda x, **k: x.norm(**k), _norm(2), dims=DIMS[:5]),
    *_family("norm_p1", lambda x, **k: x.norm(1, **k), _norm(1), dims=DIMS[:3], fn="norm", avoid=near_zero),
    *_family("norm_p3", lambda x, **k: lamina.norm(x, 3, **k), _norm(3), dims=DIMS[:4], fn="norm"),
    *_family("norm_p_half", lambda x, **k: x.norm(0.5, **k), _norm(0.5), dims=DIMS[:2], fn="norm",
             avoid=near_zero),
    *_family("norm_inf", lambda x, **k: x.norm(float("inf"), **k), _norm(np.inf), dims=DIMS[:3], fn="norm",
             avoid=near_zero),
    *_family("norm_neg_inf", lambda x, **k: x.norm(float("-inf"), **k), _norm(-np.inf), dims=DIMS[:3], fn="norm",
             avoid=near_zero),
    *_family("norm_p0", lambda x, **k: x.norm(0, **k), _norm(0), dims=DIMS[:2], fn="norm", gradgrad=False),
    *_family("norm_fro", lambda x, **k: x.norm("fro", **k), _norm(2), dims=[DIMS[0], DIMS[3]], fn="norm"),
    *_family("cumsum", lambda x, **k: x.cumsum(k["dim"]), _running(np.cumsum), dims=DIMS[1:3], dtypes=ALL_DTYPES),
    *_family("cumsum_dtype", lambda x, **k: lamina.cumsum(x, k["dim"], dtype=lamina.float64),
             lambda a, axis, keepdims: np.cumsum(a, axis=axis, dtype=np.float64), dims=DIMS[1:2], fn="cumsum",
             dtypes=("float32", "int32")),
    *_family("cumprod", lambda x, **k: x.cumprod(k["dim"]), _running(np.cumprod), dims=DIMS[1:3], dtypes=ALL_DTYPES),
    *_family("cumprod_dtype", lambda x, **k: lamina.cumprod(x, k["dim"], dtype=lamina.float64),
             lambda a, axis, keepdims: np.cumprod(a, axis=axis, dtype=np.float64), dims=DIMS[1:2], fn="cumprod",
             dtypes=("float32", "int32")),
    *_family("all", lambda x, **k: x.all(**k), lambda a, axis, keepdims: np.all(a, axis=axis, keepdims=keepdims),
             dims=DIMS[:4], dtypes=ALL_DTYPES, grad=False, avoid=near_zero),
    *_family("any", lambda x, **k: lamina.any(x, **k),
             lambda a, axis, keepdims: np.any(a, axis=axis, keepdims=keepdims), dims=DIMS[:4], dtypes=ALL_DTYPES,
             grad=False, avoid=near_zero),
]

COVERED_ELSEWHERE = {}
