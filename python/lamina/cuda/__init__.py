"""lamina.cuda: PyTorch's device-query names for scripts that check for a GPU on a CPU-only build.

lamina has no CUDA backend yet, so this answers as a CPU-only PyTorch build does: nothing is
available, the seeding and cache calls are harmless no-ops, and anything that needs a device
raises the same AssertionError ("... not compiled with CUDA enabled").
"""

_NOT_COMPILED = "lamina not compiled with CUDA enabled"


def is_available():
    return False


def device_count():
    return 0


def is_initialized():
    return False


def is_bf16_supported(including_emulation=True):
    return False


def manual_seed(seed):
    """No device to seed (PyTorch queues the seed for a device that never comes)."""


def manual_seed_all(seed):
    """As manual_seed."""


def empty_cache():
    """No device cache to release."""


def memory_allocated(device=None):
    return 0


def max_memory_allocated(device=None):
    return 0


def _needs_device(name):
    def call(*args, **kwargs):
        raise AssertionError(f"lamina.cuda.{name}: {_NOT_COMPILED}")
    call.__name__ = name
    call.__doc__ = f"Raises AssertionError: {_NOT_COMPILED}, as PyTorch's CPU build."
    return call


synchronize = _needs_device("synchronize")
current_device = _needs_device("current_device")
set_device = _needs_device("set_device")
get_device_name = _needs_device("get_device_name")
get_device_properties = _needs_device("get_device_properties")
