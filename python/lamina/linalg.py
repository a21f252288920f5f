"""lamina.linalg: torch.linalg's singular value decomposition (svd, svdvals) and LinAlgError.

The C++ kernel is a one-sided Jacobi SVD in float64 (cpp/lamina/cpu/kernels/linalg.cpp); like
LAPACK's, its signs of singular vectors are arbitrary (they may differ from PyTorch's), so compare
factorisations through U diag(S) Vh, not U and Vh themselves.
"""

from . import _C

__all__ = ["LinAlgError", "svd", "svdvals"]

LinAlgError = _C._LinAlgError
LinAlgError.__module__ = __name__
LinAlgError.__qualname__ = LinAlgError.__name__ = "LinAlgError"
LinAlgError.__doc__ = ("A linear algebra routine could not compute its result (torch.linalg.LinAlgError; a "
                       "RuntimeError): here, an SVD of a matrix holding NaN.")


def _check_driver(driver):
    if driver is not None:
        raise RuntimeError("torch.linalg.svd: keyword argument `driver=` is only supported on CUDA inputs with "
                           "cuSOLVER backend.")


def svd(A, full_matrices=True, *, driver=None):
    """A = U @ diag(S) @ Vh for A of shape (*, m, n) (float32/float64, batched over *).

    Returns the named tuple (U, S, Vh): U (*, m, m) and Vh (*, n, n) when full_matrices, else
    (*, m, k) and (*, k, n) with k = min(m, n); S (*, k) in descending order. Differentiable as in
    PyTorch: gradients through U or Vh assume distinct singular values (and, for non-square A, a
    full rank), and the gradients of full_matrices' extra columns of U / rows of Vh are ignored.
    A matrix holding NaN raises LinAlgError; one holding an infinity gives NaN factors.
    """
    _check_driver(driver)
    return _C._linalg_svd(A, full_matrices)


def svdvals(A, *, driver=None):
    """The singular values of A (*, m, n), shape (*, min(m, n)), descending (differentiable)."""
    _check_driver(driver)
    return _C._linalg_svdvals(A)
