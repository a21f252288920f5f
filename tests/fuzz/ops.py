"""The op table: each op is a function `(lib, *inputs, **kw) -> result` that runs unchanged with
lib=lamina and lib=torch, plus an argument picker `args(r, metas, hint) -> kw` (see args.py).

`inputs` are tensors from the program's value pool; `kw` values that are numpy arrays become tensors
of the library before the call (worker.to_lib), so generated targets, weights and indices need no
per-library code. An op may also give `leaves(r) -> ([(shape, dtype), ...], hint)`: fresh leaves of
fitting shapes (conv input and weight, logits and their class count), used most of the time.
"""

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from . import args as A


@dataclass
class Op:
    name: str
    fn: Callable
    arity: int
    args: Callable
    leaves: Optional[Callable] = None


OPS = {}


def no_args(r, metas, hint):
    return {}


def op(name, arity=1, args=no_args, leaves=None):
    def register(fn):
        OPS[name] = Op(name, fn, arity, args, leaves)
        return fn
    return register


def call(target, name, *positional, **kw):
    """target.name(*positional, **kw) without the kwargs that are None (lamina may not take dim=None)."""
    return getattr(target, name)(*positional, **{k: v for k, v in kw.items() if v is not None})


def F(lib):
    return lib.nn.functional


def form(r, metas, hint):
    return {"method": A.chance(r, 0.5)}


# ---- elementwise unary: x.name() or lib.name(x)
UNARY = ["neg", "abs", "exp", "log", "sqrt", "tanh", "sigmoid", "relu", "floor", "ceil", "round", "trunc",
         "sign", "reciprocal", "rsqrt", "log1p", "expm1", "erf", "square", "logical_not", "isnan", "isinf",
         "isfinite", "bitwise_not", "tan", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh"]


def unary(name):
    return lambda lib, x, method: call(x, name) if method else call(lib, name, x)


for _name in UNARY:
    op(_name, args=form)(unary(_name))

# ---- activations in nn.functional, with their parameters
ACTIVATIONS = {
    "gelu": lambda r: {"approximate": str(r.choice(["none", "tanh"]))},
    "silu": lambda r: {}, "mish": lambda r: {}, "logsigmoid": lambda r: {}, "softsign": lambda r: {},
    "tanhshrink": lambda r: {}, "selu": lambda r: {}, "hardsigmoid": lambda r: {}, "hardswish": lambda r: {},
    "relu6": lambda r: {},
    "softplus": lambda r: {"beta": float(r.choice([1.0, 2.0, 0.5])), "threshold": float(r.choice([20.0, 1.0]))},
    "elu": lambda r: {"alpha": float(r.choice([1.0, 0.5]))},
    "celu": lambda r: {"alpha": float(r.choice([1.0, 2.0]))},
    "leaky_relu": lambda r: {"negative_slope": float(r.choice([0.01, 0.2, -1.0]))},
    "hardtanh": lambda r: {"min_val": float(r.choice([-1.0, -2.0, 0.0])), "max_val": float(r.choice([1.0, 2.0]))},
}


def activation(name):
    return lambda lib, x, **kw: getattr(F(lib), name)(x, **kw)


for _name, _pick in ACTIVATIONS.items():
    op(_name, args=lambda r, metas, hint, _pick=_pick: _pick(r))(activation(_name))


def clamp_args(r, metas, hint):
    lo, hi = (None if A.chance(r, 0.3) else float(r.choice([-1.0, 0.0, 0.5, 2.0, np.nan])) for _ in range(2))
    if A.chance(r, 0.3):
        lo = None if lo is None else int(lo) if lo == lo else lo  # int bounds keep int dtypes
        hi = None if hi is None else int(hi) if hi == hi else hi
    return {"min": lo, "max": hi, "method": A.chance(r, 0.5)}


@op("clamp", args=clamp_args)
def clamp(lib, x, min, max, method):
    kw = {k: v for k, v in (("min", min), ("max", max)) if v is not None}
    return x.clamp(**kw) if method else lib.clamp(x, **kw)


@op("to", args=lambda r, metas, hint: {"dtype": str(r.choice(A.DTYPES))})
def to(lib, x, dtype):
    if x.is_floating_point() and dtype in ("int32", "int64"):
        # Casting nan/inf/out-of-range floats to integers is undefined (C++ UB, arbitrary in torch).
        x = lib.where(x.isfinite(), x, 0.0).clamp(-1e6, 1e6)
    return x.to(getattr(lib, dtype))


# ---- binary with broadcasting: the second operand is another pool value, a broadcastable array of
# any dtype, or a Python scalar; written as lib.name(a, b), a.name(b), or an operator either way round.
OPERATORS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**", "eq": "==", "ne": "!=",
             "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "remainder": "%", "floor_divide": "//",
             "bitwise_and": "&", "bitwise_or": "|", "bitwise_xor": "^"}
TENSOR_ONLY = ["maximum", "minimum", "atan2", "logical_and", "logical_or", "logical_xor"]
BINARY = list(OPERATORS) + TENSOR_ONLY + ["fmod"]


def other_args(r, metas, hint):
    kind = int(r.integers(3))
    if kind == 1 and hint.get("tensor_only"):  # torch.maximum(x, 2) is a TypeError by design
        kind = 2
    other = None if kind == 0 else A.scalar(r) if kind == 1 else A.array(r, A.broadcastable(r, metas[0].shape))
    forms = ["function", "method"] + (["operator", "roperator"] if hint.get("operator") else [])
    return {"other": other, "form": str(r.choice(forms))}


def binary(name):
    symbol = OPERATORS.get(name)

    def fn(lib, x, y, other, form):
        b = y if other is None else other
        if form == "operator":
            return eval(f"x {symbol} b")
        if form == "roperator":
            return eval(f"b {symbol} x")
        if form == "method":
            return getattr(x, name)(b)
        return getattr(lib, name)(x, b)
    return fn


for _name in BINARY:
    op(_name, 2, args=lambda r, m, h, hint_={"operator": _name in OPERATORS, "tensor_only": _name in TENSOR_ONLY}:
       other_args(r, m, hint_))(binary(_name))


@op("div_mode", 2, args=lambda r, m, h: dict(other_args(r, m, h), mode=str(r.choice(["trunc", "floor", "none"]))))
def div_mode(lib, x, y, other, form, mode):
    b = y if other is None else other
    mode = None if mode == "none" else mode
    return x.div(b, rounding_mode=mode) if form == "method" else lib.div(x, b, rounding_mode=mode)


def where_args(r, metas, hint):
    shape = A.broadcastable(r, metas[0].shape)
    return {"cond": np.asarray(r.random(shape) < 0.5), "other": None if A.chance(r, 0.5) else A.scalar(r)}


@op("where", 2, args=where_args)
def where(lib, x, y, cond, other):
    return lib.where(cond, x, y if other is None else other)


@op("where_nonzero")
def where_nonzero(lib, x):
    return lib.where(x)  # the one-argument form: a tuple of index tensors


@op("inplace", 2, args=lambda r, m, h: dict(other_args(r, m, h), name=str(r.choice(["add_", "mul_", "sub_", "div_"]))))
def inplace(lib, x, y, other, form, name):
    z = x.clone()  # in-place on a fresh non-leaf: torch refuses it on leaves requiring grad
    getattr(z, name)(y if other is None else other)
    return z


# ---- reductions
def reduce_args(r, metas, hint):
    nd = len(metas[0].shape)
    kind = int(r.integers(4))
    d = None if kind == 0 else A.dim(r, nd) if kind < 3 else A.dims(r, nd)
    return {"dim": d, "keepdim": A.chance(r, 0.3) if d is not None else None, "method": A.chance(r, 0.5)}


def reduction(name):
    def fn(lib, x, dim, keepdim, method):
        return call(x, name, dim=dim, keepdim=keepdim) if method else call(lib, name, x, dim=dim, keepdim=keepdim)
    return fn


for _name in ["sum", "mean", "amax", "amin"]:
    op(_name, args=reduce_args)(reduction(_name))


def int_dim_args(r, metas, hint, optional=True):
    nd = len(metas[0].shape)
    d = None if optional and A.chance(r, 0.3) else A.dim(r, nd)
    return {"dim": d, "keepdim": A.chance(r, 0.3) if d is not None else None, "method": A.chance(r, 0.5)}


for _name in ["prod", "argmax", "argmin", "max", "min", "all", "any"]:
    op(_name, args=int_dim_args)(reduction(_name))


@op("sum_dtype", args=lambda r, m, h: {"dtype": str(r.choice(A.DTYPES))})
def sum_dtype(lib, x, dtype):
    return x.sum(dtype=getattr(lib, dtype))


def var_args(r, metas, hint):
    kw = reduce_args(r, metas, hint)
    kw["correction"] = None if A.chance(r, 0.4) else int(r.choice([0, 1, 2]))
    return kw


def all_dims_for_torch(lib, dim):
    """dim=[] (all dims) as torch's dim=None: torch's var/std backward takes N = 1 for dim=[] (its
    gradient is 2 / (1 - correction) times too large: inf for correction 1); the forwards agree."""
    return None if dim == [] and lib.__name__ == "torch" else dim


@op("var", args=var_args)
def var(lib, x, dim, keepdim, method, correction):
    return call(x, "var", dim=all_dims_for_torch(lib, dim), keepdim=keepdim, correction=correction)


@op("std", args=var_args)
def std(lib, x, dim, keepdim, method, correction):
    return call(lib, "std", x, dim=all_dims_for_torch(lib, dim), keepdim=keepdim, correction=correction)


def required_dim(r, metas, hint):
    return {"dim": A.dim(r, len(metas[0].shape))}


@op("logsumexp", args=lambda r, m, h: dict(required_dim(r, m, h), keepdim=A.chance(r, 0.3)))
def logsumexp(lib, x, dim, keepdim):
    return lib.logsumexp(x, dim=dim, keepdim=keepdim)


@op("softmax", args=required_dim)
def softmax(lib, x, dim):
    return F(lib).softmax(x, dim=dim)


@op("log_softmax", args=required_dim)
def log_softmax(lib, x, dim):
    return x.log_softmax(dim)


@op("cumsum", args=required_dim)
def cumsum(lib, x, dim):
    return lib.cumsum(x, dim=dim)


@op("cumprod", args=required_dim)
def cumprod(lib, x, dim):
    return x.cumprod(dim)


# ---- views
@op("view", args=lambda r, m, h: {"shape": A.reshape_target(r, m[0].shape)})
def view(lib, x, shape):
    return x.view(*shape) if shape else x.view(shape)  # torch's x.view() without sizes is a TypeError


@op("reshape", args=lambda r, m, h: {"shape": A.reshape_target(r, m[0].shape)})
def reshape(lib, x, shape):
    return lib.reshape(x, shape)


@op("permute", args=lambda r, m, h: {"perm": A.permutation(r, len(m[0].shape))})
def permute(lib, x, perm):
    return x.permute(*perm) if perm else x.permute(perm)  # torch's x.permute() without dims is a TypeError


@op("transpose", args=lambda r, m, h: {"d0": A.dim(r, len(m[0].shape)), "d1": A.dim(r, len(m[0].shape))})
def transpose(lib, x, d0, d1):
    return x.transpose(d0, d1)


def movedim_args(r, metas, hint):
    nd = len(metas[0].shape)
    if A.chance(r, 0.6):
        return {"src": A.dim(r, nd), "dst": A.dim(r, nd)}
    k = int(r.integers(0, nd + 1))
    return {"src": A.dims(r, nd)[:k], "dst": [int(d) for d in r.permutation(max(nd, 1))[:k]]}


@op("movedim", args=movedim_args)
def movedim(lib, x, src, dst):
    return lib.movedim(x, src, dst)


def squeeze_args(r, metas, hint):
    nd = len(metas[0].shape)
    kind = int(r.integers(3))
    return {"dim": None if kind == 0 else A.dim(r, nd) if kind == 1 else tuple(A.dims(r, nd))}


@op("squeeze", args=squeeze_args)
def squeeze(lib, x, dim):
    return x.squeeze() if dim is None else x.squeeze(dim)


@op("unsqueeze", args=lambda r, m, h: {"dim": A.dim(r, len(m[0].shape), extra=1)})
def unsqueeze(lib, x, dim):
    return x.unsqueeze(dim)


def expand_args(r, metas, hint):
    shape = metas[0].shape
    sizes = [(A.size(r, 0, 3) if A.chance(r, 0.7) else -1) if s == 1 else (-1 if A.chance(r, 0.3) else s)
             for s in shape]
    if A.chance(r, 0.3):
        sizes = [A.size(r, 0, 2)] + sizes
    if A.chance(r, 0.05) and sizes:
        sizes[-1] = -1 if len(sizes) > len(shape) else sizes[-1] + 2  # invalid
    return {"sizes": sizes}


@op("expand", args=expand_args)
def expand(lib, x, sizes):
    return x.expand(*sizes) if sizes else x.expand(sizes)


def narrow_args(r, metas, hint):
    shape = metas[0].shape
    d = A.dim(r, len(shape))
    n = shape[d] if -len(shape) <= d < len(shape) else 1
    start = int(r.integers(-n - 1, n + 2))
    return {"dim": d, "start": start, "length": int(r.integers(0, n + 2))}


@op("narrow", args=narrow_args)
def narrow(lib, x, dim, start, length):
    return x.narrow(dim, start, length)


def select_args(r, metas, hint):
    shape = metas[0].shape
    d = A.dim(r, len(shape))
    n = shape[d] if -len(shape) <= d < len(shape) else 1
    return {"dim": d, "index": int(r.integers(-n - 1, n + 1))}


@op("select", args=select_args)
def select(lib, x, dim, index):
    return lib.select(x, dim, index)


def flatten_args(r, metas, hint):
    nd = len(metas[0].shape)
    return {"start": A.dim(r, nd) if A.chance(r, 0.7) else 0, "end": A.dim(r, nd) if A.chance(r, 0.7) else -1}


@op("flatten", args=flatten_args)
def flatten(lib, x, start, end):
    return x.flatten(start, end)


def as_strided_args(r, metas, hint):
    numel = int(np.prod(metas[0].shape))
    nd = int(r.integers(0, 3))
    sizes = [A.size(r, 0, 3) for _ in range(nd)]
    strides = [int(r.integers(0, 3)) for _ in range(nd)]
    offset = int(r.integers(0, 2))
    if A.chance(r, 0.1) and nd:
        strides[0] = int(r.choice([2**40, 2**62]))  # far out of bounds: must raise
    extent = offset + sum((s - 1) * st for s, st in zip(sizes, strides)) if all(sizes) else 0
    if extent >= numel and all(sizes) and A.chance(r, 0.8):
        sizes, strides, offset = [min(1, numel)], [1], 0
    return {"size": sizes, "stride": strides, "offset": offset}


@op("as_strided", args=as_strided_args)
def as_strided(lib, x, size, stride, offset):
    # A fresh row-major storage (torch's clone() keeps a transposed layout, so contiguous() first).
    return x.contiguous().clone().as_strided(size, stride, offset)


@op("t")
def t(lib, x):
    return x.t()


def diagonal_args(r, metas, hint):
    nd = len(metas[0].shape)
    return {"offset": int(r.integers(-3, 4)), "dim1": A.dim(r, nd), "dim2": A.dim(r, nd)}


@op("diagonal", args=diagonal_args)
def diagonal(lib, x, offset, dim1, dim2):
    return lib.diagonal(x, offset=offset, dim1=dim1, dim2=dim2)


@op("flip", args=lambda r, m, h: {"dims": A.dims(r, len(m[0].shape))})
def flip(lib, x, dims):
    return x.flip(dims)


@op("contiguous")
def contiguous(lib, x):
    return x.contiguous()


@op("size0")
def size0(lib, x):
    return x.size(0), x.shape, x.dim(), x.numel()


@op("tensor_unfold", args=lambda r, m, h: {"dim": A.dim(r, len(m[0].shape)), "size": A.size(r, 0, 3),
                                              "step": A.size(r, 1, 2)})
def tensor_unfold(lib, x, dim, size, step):
    return x.unfold(dim, size, step)


# ---- indexing
@op("getitem", args=lambda r, m, h: {"key": A.index(r, m[0].shape)})
def getitem(lib, x, key):
    return x[key]


def setitem_args(r, metas, hint):
    kind = int(r.integers(3))
    value = None if kind == 0 else A.scalar(r) if kind == 1 else A.array(r, [1] * int(r.integers(0, 2)))
    return {"key": A.index(r, metas[0].shape), "value": value}


@op("setitem", 2, args=setitem_args)
def setitem(lib, x, y, key, value):
    z = x.clone()  # a non-leaf, so the in-place write is allowed even when x requires grad
    z[key] = y if value is None else value
    return z


# ---- joining and splitting
def cat_args(r, metas, hint):
    shape = metas[0].shape
    d = A.dim(r, len(shape), extra=hint.get("extra", 0))
    extra = [A.array(r, shape, metas[0].dtype) for _ in range(int(r.integers(0, 2)))]
    return {"dim": d, "extra": extra, "use_y": A.chance(r, 0.5), "empty": A.chance(r, 0.03)}


@op("cat", 2, args=cat_args)
def cat(lib, x, y, dim, extra, use_y, empty):
    return lib.cat([] if empty else [x] + ([y] if use_y else []) + extra, dim=dim)


@op("stack", 2, args=lambda r, m, h: cat_args(r, m, {"extra": 1}))
def stack(lib, x, y, dim, extra, use_y, empty):
    return lib.stack([] if empty else [x] + ([y] if use_y else []) + extra, dim=dim)


def split_args(r, metas, hint):
    shape = metas[0].shape
    d = A.dim(r, len(shape))
    n = shape[d] if -len(shape) <= d < len(shape) else 1
    if A.chance(r, 0.5):
        return {"sizes": int(r.integers(0 if A.chance(r, 0.05) else 1, n + 2)), "dim": d}
    parts = []
    while sum(parts) < n:
        parts.append(int(r.integers(0, n - sum(parts) + 1)))
    if A.chance(r, 0.1):
        parts.append(1)  # sections that do not add up
    return {"sizes": parts, "dim": d}


@op("split", args=split_args)
def split(lib, x, sizes, dim):
    return x.split(sizes, dim)


@op("chunk", args=lambda r, m, h: {"chunks": int(r.integers(0 if A.chance(r, 0.05) else 1, 5)),
                                      "dim": A.dim(r, len(m[0].shape))})
def chunk(lib, x, chunks, dim):
    return lib.chunk(x, chunks, dim)


@op("unbind", args=required_dim)
def unbind(lib, x, dim):
    return x.unbind(dim)


# ---- matrix products
def matmul_leaves(r):
    dtype = A.float_dtype(r)
    k, n = A.size(r, 0, 4), A.size(r, 0, 3)
    batch = [A.size(r, 1, 2) for _ in range(int(r.integers(0, 3)))]
    x = batch + [A.size(r, 0, 3), k] if A.chance(r, 0.8) else [k]
    y = ([1] * A.chance(r, 0.5) + batch[len(batch) // 2:]) + [k, n] if A.chance(r, 0.8) else [k]
    return [(x, dtype), (y, dtype)], {}


@op("matmul", 2, leaves=matmul_leaves, args=lambda r, m, h: {"operator": A.chance(r, 0.5)})
def matmul(lib, x, y, operator):
    return x @ y if operator else lib.matmul(x, y)


def mm_leaves(r):
    dtype = A.float_dtype(r)
    b, m, k, n = (A.size(r, 0, 3) for _ in range(4))
    batch = [b] if A.chance(r, 0.5) else []
    return [(batch + [m, k], dtype), (batch + [k, n], dtype)], {}


@op("mm", 2, leaves=mm_leaves)
def mm(lib, x, y):
    return lib.mm(x, y)


@op("bmm", 2, leaves=mm_leaves)
def bmm(lib, x, y):
    return lib.bmm(x, y)


def linear_leaves(r):
    dtype = A.float_dtype(r)
    k, out = A.size(r, 0, 3), A.size(r, 0, 3)
    x = [A.size(r, 0, 2) for _ in range(int(r.integers(0, 3)))] + [k]
    return [(x, dtype), ([out, k], dtype), ([out], dtype)], {}


@op("linear", 3, leaves=linear_leaves, args=lambda r, m, h: {"bias": A.chance(r, 0.7)})
def linear(lib, x, w, b, bias):
    return F(lib).linear(x, w, b if bias else None)


# ---- convolution, pooling, padding, unfold
def conv_leaves(spatial):
    def leaves(r):
        dtype = A.float_dtype(r)
        groups = int(r.choice([1, 1, 2]))
        c, o = groups * A.size(r, 1, 2), groups * A.size(r, 1, 2)
        x = [A.size(r, 0, 2), c] + [A.size(r, 1, 6) for _ in range(spatial)]
        if A.chance(r, 0.2):
            x = x[1:]  # unbatched input
        w = [o, c // groups] + [A.size(r, 1, 3) for _ in range(spatial)]
        return [(x, dtype), (w, dtype), ([o], dtype)], {"groups": groups}
    return leaves


def conv_args(r, metas, hint):
    def geometry(lo, hi):
        return int(r.integers(lo, hi + 1)) if A.chance(r, 0.6) else tuple(int(v) for v in r.integers(lo, hi + 1, 2))
    padding = geometry(0, 2) if A.chance(r, 0.8) else str(r.choice(["same", "valid"]))
    return {"stride": geometry(1, 3), "padding": padding, "dilation": geometry(1, 2),
            "groups": hint.get("groups", 1), "bias": A.chance(r, 0.7)}


def one_d(kw):
    """conv1d and the 1-d pools take ints, or 1-tuples, where conv2d takes pairs."""
    return {k: (v[:1] if isinstance(v, tuple) else v) for k, v in kw.items()}


@op("conv1d", 3, leaves=conv_leaves(1), args=lambda r, m, h: one_d(conv_args(r, m, h)))
def conv1d(lib, x, w, b, bias, **kw):
    return F(lib).conv1d(x, w, b if bias else None, **kw)


@op("conv2d", 3, leaves=conv_leaves(2), args=conv_args)
def conv2d(lib, x, w, b, bias, **kw):
    return F(lib).conv2d(x, w, b if bias else None, **kw)


def image_leaves(spatial, channels=3):
    def leaves(r):
        x = [A.size(r, 1, 2), A.size(r, 1, channels)] + [A.size(r, 1, 6) for _ in range(spatial)]
        return [(x[1:] if A.chance(r, 0.2) else x, A.float_dtype(r))], {}
    return leaves


def pool_args(r, metas, hint):
    k = A.size(r, 1, 3)
    return {"kernel_size": k, "stride": None if A.chance(r, 0.3) else A.size(r, 1, 3),
            "padding": int(r.integers(0, k // 2 + 1 + A.chance(r, 0.05))), "ceil_mode": A.chance(r, 0.5)}


def max_pool_args(r, metas, hint):
    return dict(pool_args(r, metas, hint), dilation=A.size(r, 1, 2))


def avg_pool_args(r, metas, hint):
    return dict(pool_args(r, metas, hint), count_include_pad=A.chance(r, 0.5))


def pool(name):
    return lambda lib, x, **kw: getattr(F(lib), name)(x, **{k: v for k, v in kw.items() if v is not None})


op("max_pool1d", leaves=image_leaves(1), args=max_pool_args)(pool("max_pool1d"))
op("max_pool2d", leaves=image_leaves(2), args=max_pool_args)(pool("max_pool2d"))
op("avg_pool1d", leaves=image_leaves(1), args=avg_pool_args)(pool("avg_pool1d"))
op("avg_pool2d", leaves=image_leaves(2), args=avg_pool_args)(pool("avg_pool2d"))


def pad_args(r, metas, hint):
    n = int(r.choice([2, 4, 6]))
    mode = str(r.choice(["constant", "reflect", "replicate", "circular"]))
    lo = -1 if mode == "constant" else 0
    return {"pad": [int(v) for v in r.integers(lo, 3, n)], "mode": mode,
            "value": float(r.choice([0.0, 1.5])) if mode == "constant" else None}


@op("pad", leaves=image_leaves(2), args=pad_args)
def pad(lib, x, pad, mode, value):
    return F(lib).pad(x, pad, mode=mode, **({} if value is None else {"value": value}))


def unfold_args(r, metas, hint):
    return {"kernel_size": A.size(r, 1, 3), "dilation": A.size(r, 1, 2), "padding": A.size(r, 0, 1),
            "stride": A.size(r, 1, 2)}


@op("unfold", leaves=image_leaves(2), args=unfold_args)
def unfold(lib, x, **kw):
    return F(lib).unfold(x, **kw)


# ---- losses: logits leaves plus generated targets
def logits_leaves(r):
    x = [A.size(r, 0, 3), A.size(r, 1, 4)] + ([A.size(r, 1, 2)] if A.chance(r, 0.2) else [])
    return [(x[1:] if A.chance(r, 0.15) else x, A.float_dtype(r))], {}


def class_args(r, metas, hint):
    shape = metas[0].shape
    c = shape[1] if len(shape) > 1 else shape[0] if shape else 1
    target_shape = [shape[0]] + list(shape[2:]) if len(shape) > 1 else []
    target = np.asarray(r.integers(0, max(c, 1), size=target_shape), dtype=np.int64)
    if A.chance(r, 0.2) and target.size:
        target.flat[0] = int(r.choice([-100, c, -1]))  # ignored, or out of range (must raise)
    return {"target": target, "reduction": str(r.choice(["mean", "sum", "none"])),
            "weight": A.array(r, [c], metas[0].dtype).__abs__() if A.chance(r, 0.3) else None}


@op("cross_entropy", leaves=logits_leaves, args=lambda r, m, h: dict(
    class_args(r, m, h), label_smoothing=float(r.choice([0.0, 0.0, 0.1]))))
def cross_entropy(lib, x, target, reduction, weight, label_smoothing):
    return F(lib).cross_entropy(x, target, weight=weight, reduction=reduction, label_smoothing=label_smoothing)


@op("cross_entropy_probs", leaves=logits_leaves, args=lambda r, m, h: {"target": A.array(r, m[0].shape, m[0].dtype)})
def cross_entropy_probs(lib, x, target):
    return F(lib).cross_entropy(x, target.softmax(-1) if target.dim() else target)


@op("nll_loss", leaves=logits_leaves, args=class_args)
def nll_loss(lib, x, target, reduction, weight):
    return F(lib).nll_loss(x.log_softmax(-1) if x.dim() else x, target, weight=weight, reduction=reduction)


def target_args(r, metas, hint):
    shape = metas[0].shape if A.chance(r, 0.9) else A.broadcastable(r, metas[0].shape)
    return {"target": A.array(r, shape, metas[0].dtype), "reduction": str(r.choice(["mean", "sum", "none"]))}


def regression_leaves(r):
    return [([A.size(r, 0, 3) for _ in range(int(r.integers(0, 3)))], A.float_dtype(r))], {}


def loss(name, **extra):
    def fn(lib, x, target, reduction, **kw):
        return getattr(F(lib), name)(x, target, reduction=reduction, **kw)
    op(name, leaves=regression_leaves, args=lambda r, m, h: dict(
        target_args(r, m, h), **{k: float(r.choice(v)) for k, v in extra.items()}))(fn)


loss("mse_loss")
loss("l1_loss")
loss("smooth_l1_loss", beta=[1.0, 0.5, 0.0])
loss("huber_loss", delta=[1.0, 0.5])


def bce_args(r, metas, hint):
    kw = target_args(r, metas, hint)
    target = np.clip(np.abs(np.nan_to_num(kw["target"].astype(np.float64))), 0, 1)
    kw["target"] = np.asarray(target, dtype=kw["target"].dtype)  # np.clip turns 0-d arrays into scalars
    kw["pos_weight"] = A.array(r, metas[0].shape[-1:], metas[0].dtype) if A.chance(r, 0.2) else None
    return kw


@op("binary_cross_entropy_with_logits", leaves=regression_leaves, args=bce_args)
def bce_with_logits(lib, x, target, reduction, pos_weight):
    return F(lib).binary_cross_entropy_with_logits(x, target, reduction=reduction, pos_weight=pos_weight)


@op("binary_cross_entropy", leaves=regression_leaves, args=bce_args)
def bce(lib, x, target, reduction, pos_weight):
    # Below -88.7 torch's float32 sigmoid flushes to 0 (its exp(-x) overflows) where lamina's keeps
    # the subnormal value; clamping keeps that sigmoid difference out of the loss comparison.
    return F(lib).binary_cross_entropy(x.clamp(-80, 80).sigmoid(), target, reduction=reduction)


# ---- normalization: input, weight and bias leaves
def norm_leaves(r):
    dtype = A.float_dtype(r)
    x = [A.size(r, 1, 3), 2 * A.size(r, 1, 2)] + [A.size(r, 1, 3) for _ in range(int(r.integers(0, 3)))]
    return [(x, dtype), (x[1:2], dtype), (x[1:2], dtype)], {}


def layer_norm_leaves(r):
    dtype = A.float_dtype(r)
    x = [A.size(r, 0, 3) for _ in range(int(r.integers(1, 4)))]
    k = int(r.integers(1, len(x) + 1))
    return [(x, dtype), (x[-k:], dtype), (x[-k:], dtype)], {"k": k}


@op("layer_norm", 3, leaves=layer_norm_leaves, args=lambda r, m, h: {
    "k": h.get("k", 1), "affine": A.chance(r, 0.7), "eps": float(r.choice([1e-5, 0.0, 1.0]))})
def layer_norm(lib, x, w, b, k, affine, eps):
    shape = list(x.shape[len(x.shape) - k:])
    return F(lib).layer_norm(x, shape, w if affine else None, b if affine else None, eps=eps)


@op("group_norm", 3, leaves=norm_leaves, args=lambda r, m, h: {
    "groups": int(r.choice([1, 2])), "affine": A.chance(r, 0.7)})
def group_norm(lib, x, w, b, groups, affine):
    return F(lib).group_norm(x, groups, w if affine else None, b if affine else None)


def batch_norm_args(r, metas, hint):
    c = metas[0].shape[1] if len(metas[0].shape) > 1 else 1
    stats = A.chance(r, 0.6)
    return {"mean": r.standard_normal(c).astype(metas[0].dtype) if stats else None,
            "var": r.uniform(0.5, 2, c).astype(metas[0].dtype) if stats else None,
            "affine": A.chance(r, 0.7), "momentum": float(r.choice([0.1, 0.5]))}


@op("batch_norm", 3, leaves=norm_leaves, args=batch_norm_args)
def batch_norm(lib, x, w, b, mean, var, affine, momentum):
    if lib.__name__ == "torch":  # torch's batch_norm backward reads a strided weight as if contiguous
        w = w.contiguous()       # (checked: base[::2] as weight gives the gradient of base[:4])
    out = F(lib).batch_norm(x, mean, var, w if affine else None, b if affine else None, training=True,
                            momentum=momentum)
    return (out,) + ((mean, var) if mean is not None else ())  # the running stats are updated in place


# ---- attention: query, key and value leaves sharing their dims
def attention_leaves(r):
    dtype = A.float_dtype(r)
    heads = int(r.choice([1, 2, 4]))
    kv_heads = heads if A.chance(r, 0.7) else int(r.choice([1, 2]))
    lead = [[], [heads], [A.size(r, 1, 2), heads]][int(r.integers(0, 3))]
    kv_lead = lead[:-1] + [kv_heads] if lead else []
    L, S = (int(r.choice([0, 1, 3, 65])) for _ in range(2))
    E, Ev = A.size(r, 1, 8), A.size(r, 1, 8)
    return [(lead + [L, E], dtype), (kv_lead + [S, E], dtype), (kv_lead + [S, Ev], dtype)], {}


def attention_args(r, metas, hint):
    L, S = metas[0].shape[-2] if len(metas[0].shape) >= 2 else 1, metas[1].shape[-2] if len(metas[1].shape) >= 2 else 1
    kind = r.choice(["none", "none", "bool", "float", "causal"])
    mask = None
    if kind == "bool":
        mask = r.random((L, S)) > 0.2
    elif kind == "float":
        mask = r.standard_normal((L, S)).astype(metas[0].dtype)
    return {"mask": mask, "causal": kind == "causal", "scale": r.choice([None, 0.5, 2.0]), "gqa": A.chance(r, 0.5)}


@op("scaled_dot_product_attention", 3, leaves=attention_leaves, args=attention_args)
def scaled_dot_product_attention(lib, q, k, v, mask, causal, scale, gqa):
    return F(lib).scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal,
                                               scale=None if scale is None else float(scale), enable_gqa=gqa)
