"""lamina.lerp and Tensor.lerp/lerp_: linear interpolation input + weight * (end - input), a composite
of lamina ops (its gradients, 1 - weight, weight and end - input, come from them)."""

from numbers import Real

from . import _C


def lerp(input, end, weight):
    """input + weight * (end - input), broadcast; weight a number or a tensor. As PyTorch does, weights
    of magnitude >= 0.5 use end - (end - input) * (1 - weight), so weight 1 gives end exactly."""
    if end.dtype != input.dtype:
        raise RuntimeError(f"expected dtype {input.dtype} for `end` but got dtype {end.dtype}")
    diff = end - input
    if isinstance(weight, _C.Tensor):
        if weight.dtype != input.dtype:
            raise RuntimeError(f"expected dtype {input.dtype} for `weight` but got dtype {weight.dtype}")
        return _C.where(weight.abs() < 0.5, input + weight * diff, end - diff * (1 - weight))
    if not isinstance(weight, Real):
        raise TypeError(f"lerp(): argument 'weight' must be Tensor or Number, not {type(weight).__name__}")
    return input + weight * diff if abs(weight) < 0.5 else end - diff * (1 - weight)


def _lerp_(self, end, weight):
    """In place: self becomes lerp(self, end, weight) (the result must keep self's shape)."""
    result = lerp(self, end, weight)
    if tuple(result.shape) != tuple(self.shape):
        raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the broadcast shape "
                           f"{list(result.shape)}")
    return self.copy_(result)


def install(cls):
    cls.lerp = lerp
    cls.lerp_ = _lerp_
