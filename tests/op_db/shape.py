"""Shape ops that copy into new memory (flip, roll, repeat, tile, tril, triu): each spec is one
call compared with its numpy equivalent on every layout the generic view suite builds
(contiguous, transposed, strided, expanded) and gradient-checked in float64. cat and stack take
lists of tensors and are tested in tests/ops/test_shape_ops.py."""

import numpy as np

import lamina

from .spec import OpSpec


def _reps(ndim):
    """Repeat counts for repeat/tile: one extra leading dim, then alternating 1 and 2."""
    return (2,) + tuple(1 + i % 2 for i in range(ndim))


SPECS = [
    OpSpec("flip", lambda x: lamina.flip(x, list(range(x.ndim))), lambda a: np.flip(a, tuple(range(a.ndim))),
           kind="view"),
    OpSpec("flip_last", lambda x: x.flip(-1), lambda a: np.flip(a, -1), kind="view", min_ndim=1),
    OpSpec("roll", lambda x: lamina.roll(x, 2), lambda a: np.roll(a, 2), kind="view"),
    OpSpec("roll_dims", lambda x: x.roll((1, -4), (0, -1)), lambda a: np.roll(a, (1, -4), axis=(0, a.ndim - 1)),
           kind="view", min_ndim=1),
    OpSpec("repeat", lambda x: x.repeat(*_reps(x.ndim)), lambda a: np.tile(a, _reps(a.ndim)), kind="view"),
    OpSpec("tile", lambda x: lamina.tile(x, (3,)), lambda a: np.tile(a, (3,)), kind="view"),
    OpSpec("tril", lambda x: lamina.tril(x, 1), lambda a: np.tril(a, 1), kind="view", min_ndim=2),
    OpSpec("triu", lambda x: x.triu(-1), lambda a: np.triu(a, -1), kind="view", min_ndim=2),
]

COVERED_ELSEWHERE = dict.fromkeys(["cat", "concat", "concatenate", "stack"], "tests/ops/test_shape_ops.py")

# Specs whose name is a variant: the public function each one covers.
for _spec in SPECS:
    _spec.fn = {'flip_last': 'flip', 'roll_dims': 'roll'}.get(_spec.name, _spec.fn)
