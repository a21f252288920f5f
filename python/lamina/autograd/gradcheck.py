"""Finite-difference checks of analytical gradients (use float64 inputs)."""

import numpy as np

from .. import _C
from .grad_mode import enable_grad, no_grad


def _flat_outputs(fn, inputs):
    out = fn(*inputs)
    return [out] if isinstance(out, _C.Tensor) else [o for o in out if isinstance(o, _C.Tensor)]


def _numerical_jacobian(fn, inputs, i, eps):
    """Central differences of every output w.r.t. inputs[i]: a (numel_in, total_out) array."""
    x = inputs[i]
    # Perturb through a multi-index on a detached alias: reshape(-1) of a non-contiguous leaf
    # would be a copy, and the perturbation would silently miss the input.
    data = x.detach()
    positions = list(np.ndindex(*x.shape))
    base = [o.detach().numpy().ravel().copy() for o in _flat_outputs(fn, inputs)]
    jac = np.zeros((x.numel(), sum(b.size for b in base)))
    with no_grad():
        for k, pos in enumerate(positions):
            orig = data[pos].item()
            data[pos] = orig + eps
            plus = np.concatenate([o.detach().numpy().ravel() for o in _flat_outputs(fn, inputs)] or [np.zeros(0)])
            data[pos] = orig - eps
            minus = np.concatenate([o.detach().numpy().ravel() for o in _flat_outputs(fn, inputs)] or [np.zeros(0)])
            data[pos] = orig
            jac[k] = (plus - minus) / (2 * eps)
    return jac


def _analytical_jacobian(fn, inputs, i, create_graph=False):
    outputs = _flat_outputs(fn, inputs)
    total = sum(o.numel() for o in outputs)
    jac = np.zeros((inputs[i].numel(), total))
    col = 0
    for o in outputs:
        if not o.requires_grad:
            col += o.numel()
            continue
        flat = o.reshape(-1)
        for k in range(o.numel()):
            (g,) = _C._grad([flat[k]], [inputs[i]], [None], True, create_graph, True)
            if g is not None:
                jac[:, col] = g.detach().numpy().ravel()
            col += 1
    return jac


def gradcheck(func, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Compares autograd's gradients of `func` at `inputs` with central finite differences."""
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    for i, x in enumerate(inputs):
        if not (isinstance(x, _C.Tensor) and x.requires_grad):
            continue
        if x.dtype != _C.dtype.float64:
            raise ValueError("gradcheck: use float64 inputs (finite differences are too noisy in float32)")
        numerical = _numerical_jacobian(func, inputs, i, eps)
        analytical = _analytical_jacobian(func, inputs, i)
        if not np.allclose(analytical, numerical, atol=atol, rtol=rtol):
            if raise_exception:
                worst = np.unravel_index(np.argmax(np.abs(analytical - numerical)), numerical.shape)
                raise RuntimeError(
                    f"Jacobian mismatch for output 0 with respect to input {i},\n"
                    f"numerical:{numerical}\nanalytical:{analytical}\n"
                    f"largest difference at {worst}: {analytical[worst]} vs {numerical[worst]}")
            return False
    return True


def gradgradcheck(func, inputs, grad_outputs=None, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True):
    """Checks second derivatives: gradcheck of the function inputs -> d(func)/d(inputs) . v."""
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    diff = [x for x in inputs if isinstance(x, _C.Tensor) and x.requires_grad]
    outputs = _flat_outputs(func, inputs)
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = [_C.tensor(rng.standard_normal(tuple(o.shape)), dtype=o.dtype) for o in outputs]

    def first_grads(*xs):
        with enable_grad():  # finite differences call this under no_grad
            return _first_grads(*xs)

    def _first_grads(*xs):
        outs = _flat_outputs(func, xs)
        diff_xs = [x for x in xs if isinstance(x, _C.Tensor) and x.requires_grad]
        grads = _C._grad(outs, diff_xs, list(grad_outputs), True, True, True)
        return tuple(g for g in grads if g is not None)

    del diff
    return gradcheck(first_grads, inputs, eps=eps, atol=atol, rtol=rtol, raise_exception=raise_exception)
