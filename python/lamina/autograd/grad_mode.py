"""Context managers (also usable as decorators) that switch gradient recording for this thread."""

import functools

from .. import _C


class _GradMode:
    """Sets grad mode to `self.mode` inside a `with` block or a decorated function."""

    mode = True

    def __enter__(self):
        self._prev = _C.is_grad_enabled()
        _C._set_grad_enabled(self.mode)
        return self

    def __exit__(self, *exc):
        _C._set_grad_enabled(self._prev)
        return False

    def __call__(self, fn):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with _fixed(mode):
                return fn(*args, **kwargs)

        return wrapper


def _fixed(mode):
    ctx = _GradMode()
    ctx.mode = mode
    return ctx


class no_grad(_GradMode):
    """Disables gradient recording: `with lamina.no_grad(): ...` or `@lamina.no_grad()`."""

    mode = False


class enable_grad(_GradMode):
    """Re-enables gradient recording inside a no_grad block."""

    mode = True


class set_grad_enabled(_GradMode):
    """set_grad_enabled(mode): takes effect at once, and as a context manager restores on exit."""

    def __init__(self, mode):
        self.mode = bool(mode)
        self._prev = _C.is_grad_enabled()
        _C._set_grad_enabled(self.mode)

    def __enter__(self):
        return self


class inference_mode(_GradMode):
    """inference_mode(mode=True): PyTorch's faster no_grad for inference. lamina's no_grad already
    records nothing, so this is no_grad (or, with mode=False, enable_grad); tensors made inside
    stay ordinary tensors (PyTorch marks them as inference tensors that autograd refuses later)."""

    def __new__(cls, mode=True):
        if callable(mode):  # bare @inference_mode, as PyTorch allows
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode=True):
        self.mode = not mode
