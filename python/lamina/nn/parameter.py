"""Parameter: a Tensor subclass that a Module registers as a learnable parameter when assigned."""

from .. import _C


class Parameter(_C.Tensor):
    """A leaf tensor that requires grad (by default) and is registered by `Module.__setattr__`.

    `Parameter(data)` shares `data`'s storage (like PyTorch); `isinstance(p, Parameter)` is how
    modules tell parameters from buffers and plain attributes.
    """

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = _C.empty(0)
        if not isinstance(data, _C.Tensor):
            raise TypeError(f"Parameter: expected a Tensor as data, got {type(data).__name__}")
        _C.Tensor.__init__(self, data)  # a detached alias of data
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self):
        return "Parameter containing:\n" + _C.Tensor.__repr__(self)

    __str__ = __repr__

    def __reduce_ex__(self, protocol):
        return (_rebuild_parameter, (self.detach().numpy().copy(), self.requires_grad))

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        result = Parameter(self.detach().clone(), self.requires_grad)
        memo[id(self)] = result
        return result


def _rebuild_parameter(array, requires_grad):
    return Parameter(_C.from_numpy(array), requires_grad)
