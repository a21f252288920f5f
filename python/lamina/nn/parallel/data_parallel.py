"""nn.DataParallel: PyTorch's single-process multi-GPU wrapper. lamina has no GPU yet, so, as
PyTorch without GPUs, it runs the wrapped module as is; its state dict keys carry the "module."
prefix, so checkpoints move between wrapped and unwrapped models as they do in PyTorch."""

from ..modules.module import Module


class DataParallel(Module):
    def __init__(self, module, device_ids=None, output_device=None, dim=0):
        super().__init__()
        if device_ids:
            raise ValueError(f"DataParallel: device_ids={device_ids!r} name GPUs, and lamina has none "
                             "(leave device_ids unset to run on the CPU)")
        self.module = module
        self.device_ids = []
        self.output_device = output_device
        self.dim = dim

    def forward(self, *inputs, **kwargs):
        return self.module(*inputs, **kwargs)
