"""lamina.nn.parallel: PyTorch's parallel wrappers (torch.nn.parallel)."""

from .data_parallel import DataParallel  # noqa: F401
from .distributed import DistributedDataParallel  # noqa: F401
