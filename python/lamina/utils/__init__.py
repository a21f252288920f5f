"""lamina.utils: helpers outside the core (PyTorch's torch.utils). `data` (datasets, DataLoader) and `tensorboard` (SummaryWriter)."""

from . import data  # noqa: F401
