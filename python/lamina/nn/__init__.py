"""lamina.nn: neural-network building blocks (PyTorch's torch.nn): Module and layers, Parameter,
`functional`, `init` and `utils`."""

from . import functional  # noqa: F401
from . import init, parallel, utils  # noqa: F401
from .modules import *  # noqa: F401,F403
from .modules import __all__ as _modules_all
from .parallel import DataParallel  # noqa: F401
from .parameter import Parameter  # noqa: F401

__all__ = ["DataParallel", "Parameter", "functional", "init", "parallel", "utils"] + list(_modules_all)
