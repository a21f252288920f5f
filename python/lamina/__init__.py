"""lamina: a small, fast deep-learning engine with a PyTorch-style API.

Tensors, kernels and reverse-mode autograd live in the C++ extension ``lamina._C``; this package
re-exports them and adds the thin Python layer (nn, optim, data, serialization).
"""

from . import _C
from ._C import Generator, Tensor, device, dtype  # noqa: F401

# Every public function of the extension is a lamina function (lamina.add, lamina.zeros, ...).
globals().update({name: getattr(_C, name) for name in dir(_C) if not name.startswith("_")})

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

from . import autograd, nn  # noqa: E402
from . import optim  # noqa: E402
from .autograd import enable_grad, inference_mode, no_grad, set_grad_enabled  # noqa: E402, F401
from . import accelerator, backends, cuda  # noqa: E402, F401  (device queries answered for a CPU-only build)
from .functional import allclose, equal, isclose, meshgrid  # noqa: E402, F401
from . import special  # noqa: E402, F401
from . import linalg  # noqa: E402, F401
from ._multinomial import multinomial  # noqa: E402, F401
from ._lerp import install as _install_lerp, lerp  # noqa: E402, F401
_install_lerp(Tensor)
from ._legacy_tensor_types import BoolTensor, DoubleTensor, FloatTensor, IntTensor, LongTensor  # noqa: E402, F401
from . import datasets, utils  # noqa: E402, F401
from . import profiler  # noqa: E402, F401
from . import multiprocessing  # noqa: E402, F401  (registers tensor sharing with ForkingPickler)
from .serialization import load, save  # noqa: E402, F401
from . import distributed  # noqa: E402, F401  (torch.distributed's API; mpi4py loads in init_process_group only)


def set_default_dtype(d):
    """Sets the dtype of Python floats and float factories (float32 or float64)."""
    _C.set_default_dtype(d)


def is_tensor(obj):
    return isinstance(obj, Tensor)


def numel(input):
    return input.numel()


__version__ = "0.1.0"
