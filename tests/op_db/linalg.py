"""Linear algebra: the SVD through functions of it that do not depend on the arbitrary signs of
singular vectors (singular values, the reconstruction U diag(S) Vh, the polar factor U Vh), so
the generic suites check them against numpy on every layout, size-0 and batched shape, with
gradcheck and gradgradcheck. Sign-dependent properties, full_matrices, errors, special values and
PyTorch comparisons are in tests/test_linalg.py."""

import numpy as np

import lamina
from op_db.spec import OpSpec

# (m, n) tall, wide, square, size-1, size-0, batched and empty-batch.
SVD_SHAPES = [(4, 3), (3, 5), (1, 1), (1, 4), (5, 1), (0, 3), (3, 0), (2, 4, 3), (2, 3, 4), (0, 2, 3),
              (2, 1, 3, 3)]


def _svdvals(a):
    return np.linalg.svd(a.astype(np.float64), compute_uv=False).astype(a.dtype)


def _reconstruct(x):
    U, S, V = lamina.svd(x)
    return (U * S.unsqueeze(-2)) @ V.mT


def _polar(x):
    U, _, Vh = lamina.linalg.svd(x, full_matrices=False)
    return U @ Vh


def _np_polar(a):
    u, _, vh = np.linalg.svd(a.astype(np.float64), full_matrices=False)
    return (u @ vh).astype(a.dtype)


SPECS = [
    OpSpec("svd_singular_values", lamina.linalg.svdvals, _svdvals, fn="svd", min_ndim=2, shapes=SVD_SHAPES,
           atol32=2e-5, rtol32=2e-5, errors=[
               (lambda: lamina.linalg.svdvals(lamina.ones(3)), RuntimeError,
                r"linalg\.svd: .*at least 2 dimensions \(got shape \(3,\)\)"),
               (lambda: lamina.svd(lamina.ones(2, 2, dtype=lamina.int64)), RuntimeError,
                r"linalg\.svd: Expected a floating point tensor .*Long \(shape \(2, 2\)\)")]),
    OpSpec("svd_reconstruct", _reconstruct, lambda a: a.copy(), fn="svd", min_ndim=2, shapes=SVD_SHAPES,
           atol32=2e-5, rtol32=2e-5),
    OpSpec("svd_polar", _polar, _np_polar, fn="svd", min_ndim=2, shapes=SVD_SHAPES, atol32=5e-5, rtol32=5e-5),
]
