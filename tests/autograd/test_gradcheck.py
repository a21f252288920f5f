"""gradcheck itself: it must catch wrong gradients, including for non-contiguous and 0-d inputs."""

import pytest

import lamina
from lamina.autograd import gradcheck


class WrongGrad(lamina.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        return g * 3  # wrong on purpose


@pytest.mark.parametrize("make", [
    lambda: lamina.randn(3, 4, dtype=lamina.float64).t(),          # transposed leaf
    lambda: lamina.randn(4, 6, dtype=lamina.float64)[:, ::2],      # stepped slice
    lambda: lamina.randn((), dtype=lamina.float64),                # 0-d
])
def test_gradcheck_layouts(make):
    x = make().requires_grad_()
    assert gradcheck(lambda t: (t * t).sin(), (x,))
    with pytest.raises(Exception):
        gradcheck(WrongGrad.apply, (x,))
    assert not gradcheck(WrongGrad.apply, (x,), raise_exception=False)
