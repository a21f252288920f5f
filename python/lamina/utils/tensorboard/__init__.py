"""lamina.utils.tensorboard: logging for TensorBoard with PyTorch's ``SummaryWriter`` API.

    from lamina.utils.tensorboard import SummaryWriter
    with SummaryWriter("runs/exp1") as writer:
        writer.add_scalar("train/loss", loss, step)

The event files are written by the ``tensorboard`` package (``pip install tensorboard``, or the
``lamina[tensorboard]`` extra); view them with ``tensorboard --logdir runs``.
"""

# Unlike torch.utils.tensorboard, importing this module does not need tensorboard: constructing a
# SummaryWriter does, and raises ImportError with the install command. A script can then import
# SummaryWriter at its top and need tensorboard only when it is asked to log (digits --tensorboard).
from .writer import SummaryWriter

__all__ = ["SummaryWriter"]
