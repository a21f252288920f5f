"""lamina: a small, fast deep-learning engine with a PyTorch-style API.

Tensors, kernels and reverse-mode autograd live in the C++ extension ``lamina._C``; this package
re-exports them and adds the thin Python layer (nn, optim, data, serialization).
"""

from . import _C
from ._C import (  # noqa: F401
    Generator,
    Tensor,
    abs,
    all,
    amax,
    amin,
    any,
    arange,
    argmax,
    argmin,
    as_strided,
    as_tensor,
    atan2,
    bernoulli,
    bitwise_and,
    bitwise_not,
    bitwise_or,
    bitwise_xor,
    cat,
    ceil,
    chunk,
    clamp,
    clip,
    concat,
    concatenate,
    cos,
    cumsum,
    device,
    diagonal,
    div,
    divide,
    dtype,
    empty,
    empty_like,
    eq,
    erf,
    exp,
    expm1,
    eye,
    flatten,
    floor,
    floor_divide,
    fmod,
    from_numpy,
    full,
    full_like,
    ge,
    gelu,
    get_default_dtype,
    get_num_threads,
    greater,
    greater_equal,
    gt,
    initial_seed,
    is_grad_enabled,
    isfinite,
    isinf,
    isnan,
    le,
    less,
    less_equal,
    linspace,
    log,
    log1p,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    logsumexp,
    lt,
    manual_seed,
    max,
    maximum,
    mean,
    min,
    minimum,
    movedim,
    mul,
    multiply,
    narrow,
    ne,
    neg,
    negative,
    norm,
    normal,
    not_equal,
    ones,
    ones_like,
    permute,
    pow,
    prod,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    reciprocal,
    relu,
    relu_,
    remainder,
    reshape,
    round,
    rsqrt,
    scalar_tensor,
    seed,
    select,
    set_num_threads,
    sigmoid,
    sign,
    silu,
    sin,
    softplus,
    split,
    sqrt,
    square,
    squeeze,
    stack,
    std,
    sub,
    subtract,
    sum,
    swapaxes,
    swapdims,
    t,
    tanh,
    tensor,
    transpose,
    true_divide,
    trunc,
    unbind,
    unflatten,
    unsqueeze,
    var,
    where,
    zeros,
    zeros_like,
)
from ._tensor import Size, _install_tensor_methods

bool = _C.dtype.bool  # noqa: A001  (PyTorch spells the dtypes this way)
int32 = _C.dtype.int32
int64 = _C.dtype.int64
float32 = _C.dtype.float32
float64 = _C.dtype.float64
int = int32  # noqa: A001
long = int64
float = float32  # noqa: A001
double = float64

_install_tensor_methods()

from . import autograd  # noqa: E402
from .autograd import enable_grad, no_grad, set_grad_enabled  # noqa: E402, F401


def set_default_dtype(d):
    """Sets the dtype of Python floats and float factories (float32 or float64)."""
    _C.set_default_dtype(d)


def is_tensor(obj):
    return isinstance(obj, Tensor)


def numel(input):
    return input.numel()


__version__ = "0.1.0"
