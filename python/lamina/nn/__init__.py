"""lamina.nn: neural-network building blocks (PyTorch's torch.nn). So far: `functional`."""

from . import functional  # noqa: F401
