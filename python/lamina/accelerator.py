"""lamina.accelerator: PyTorch's device-agnostic accelerator queries; no accelerator on this build."""


def is_available():
    return False


def current_accelerator(check_available=False):
    return None


def device_count():
    return 0
