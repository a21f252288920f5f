"""lamina.backends: PyTorch's backend flags, which scripts set and query on any machine.

On the CPU they change nothing: the cudnn and TF32 flags are plain settings kept for code that sets
them (`torch.backends.cudnn.benchmark = True`), and cuDNN, CUDA and MPS report themselves absent.
"""

from . import cuda, cudnn, mps  # noqa: F401
