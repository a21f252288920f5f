"""lamina.utils: helpers outside the core (PyTorch's torch.utils). So far: `data`."""

from . import data  # noqa: F401
