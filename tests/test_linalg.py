"""lamina.svd, lamina.linalg.svd / svdvals: what does not depend on the arbitrary signs of singular
vectors. Singular values against numpy, orthonormal factors, U diag(S) Vh == A, on tall, wide,
square, batched, size-0, non-contiguous, rank-deficient, zero, repeated-value and badly scaled
inputs; full_matrices and the legacy some/compute_uv shapes; errors and special values as PyTorch;
gauge-invariant gradients by float64 finite differences; PyTorch comparisons marked `torch`.
(tests/op_db/linalg.py runs S, the reconstruction and U Vh through the generic suites too.)"""

import numpy as np
import pytest

import lamina
from lamina.autograd import gradcheck, gradgradcheck

SHAPES = [(1, 1), (3, 3), (6, 4), (4, 6), (9, 2), (2, 9), (2, 5, 3), (3, 2, 3, 4), (1, 7), (7, 1)]


def tol(dtype):
    return 2e-5 if dtype == lamina.float32 else 1e-12


def check_factorisation(a, U, S, Vh, full):
    """A's SVD: shapes, descending S against numpy, orthonormal U/Vh, U diag(S) Vh == A."""
    an = a.detach().numpy().astype(np.float64)
    m, n = an.shape[-2:]
    k = min(m, n)
    batch = an.shape[:-2]
    assert tuple(S.shape) == batch + (k,)
    assert tuple(U.shape) == batch + ((m, m) if full else (m, k))
    assert tuple(Vh.shape) == batch + ((n, n) if full else (k, n))
    assert U.dtype == S.dtype == Vh.dtype == a.dtype
    u, s, vh = (x.detach().numpy().astype(np.float64) for x in (U, S, Vh))
    eps = tol(a.dtype)
    scale = max(np.abs(an).max(), 1e-300) if an.size else 1.0
    np.testing.assert_allclose(s, np.linalg.svd(an, compute_uv=False), atol=eps * scale * max(m, n), rtol=eps * 10)
    assert np.all(np.diff(s, axis=-1) <= 0)
    assert np.all(s >= 0)
    np.testing.assert_allclose(np.swapaxes(u, -1, -2) @ u, np.broadcast_to(np.eye(u.shape[-1]), batch + (u.shape[-1],) * 2),
                               atol=eps * 10 * max(m, n))
    np.testing.assert_allclose(vh @ np.swapaxes(vh, -1, -2), np.broadcast_to(np.eye(vh.shape[-2]), batch + (vh.shape[-2],) * 2),
                               atol=eps * 10 * max(m, n))
    recon = (u[..., :, :k] * s[..., None, :]) @ vh[..., :k, :]
    np.testing.assert_allclose(recon, an, atol=eps * 10 * scale * max(m, n))


@pytest.mark.parametrize("dtype", [lamina.float32, lamina.float64])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("full", [False, True])
def test_linalg_svd_forward(shape, dtype, full):
    a = lamina.tensor(np.random.default_rng(0).standard_normal(shape), dtype=dtype)
    U, S, Vh = lamina.linalg.svd(a, full_matrices=full)
    check_factorisation(a, U, S, Vh, full)
    np.testing.assert_array_equal(lamina.linalg.svdvals(a).numpy(), S.numpy())


def test_linalg_svd_returns_named_tuple_and_legacy_svd():
    a = lamina.randn(5, 3, dtype=lamina.float64)
    r = lamina.linalg.svd(a, full_matrices=False)
    assert r._fields == ("U", "S", "Vh") and r.U is r[0] and r.Vh is r[2]
    legacy = lamina.svd(a)
    assert legacy._fields == ("U", "S", "V")
    np.testing.assert_array_equal(legacy.U.numpy(), r.U.numpy())
    np.testing.assert_array_equal(legacy.V.numpy(), r.Vh.mT.numpy())
    for method in (a.svd(), a.svd(some=True)):
        np.testing.assert_array_equal(method.V.numpy(), legacy.V.numpy())
    full = lamina.svd(a, some=False)
    assert tuple(full.U.shape) == (5, 5) and tuple(full.V.shape) == (3, 3)
    wide = lamina.svd(a.mT.contiguous(), some=True)
    assert tuple(wide.U.shape) == (3, 3) and tuple(wide.V.shape) == (5, 3)


@pytest.mark.parametrize("some", [True, False])
def test_svd_compute_uv_false_gives_zero_factors(some):
    a = lamina.randn(2, 4, 3, dtype=lamina.float64, requires_grad=True)
    U, S, V = lamina.svd(a, some=some, compute_uv=False)
    # PyTorch: zero-filled U (m, m) and V (n, n) whatever `some` is; they need no grad.
    assert tuple(U.shape) == (2, 4, 4) and tuple(V.shape) == (2, 3, 3)
    assert not U.requires_grad and not V.requires_grad and S.requires_grad
    assert not U.detach().numpy().any() and not V.detach().numpy().any()
    np.testing.assert_allclose(S.detach().numpy(), np.linalg.svd(a.detach().numpy(), compute_uv=False), rtol=1e-12)
    assert S.grad_fn.name() == "LinalgSvdBackward0"
    assert gradcheck(lambda x: lamina.svd(x, compute_uv=False)[1], [a])


@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (0, 0), (0, 2, 3), (2, 0, 4), (3, 0, 0)], ids=str)
def test_linalg_svd_size_zero(shape, full):
    a = lamina.zeros(*shape, dtype=lamina.float64)
    U, S, Vh = lamina.linalg.svd(a, full_matrices=full)
    m, n = shape[-2:]
    k = min(m, n)
    assert tuple(S.shape) == shape[:-2] + (k,)
    assert tuple(U.shape) == shape[:-2] + ((m, m) if full else (m, k))
    assert tuple(Vh.shape) == shape[:-2] + ((n, n) if full else (k, n))
    if np.prod(shape[:-2], dtype=int) > 0 and full:  # the complete factor of an empty side is I
        eye_u = np.broadcast_to(np.eye(m), U.shape)
        eye_v = np.broadcast_to(np.eye(n), Vh.shape)
        np.testing.assert_allclose(U.numpy() @ np.swapaxes(U.numpy(), -1, -2), eye_u, atol=1e-15)
        np.testing.assert_allclose(Vh.numpy() @ np.swapaxes(Vh.numpy(), -1, -2), eye_v, atol=1e-15)
    x = lamina.zeros(*shape, dtype=lamina.float64, requires_grad=True)
    lamina.linalg.svdvals(x).sum().backward()
    assert tuple(x.grad.shape) == shape


@pytest.mark.parametrize("layout", ["transposed", "strided", "expanded"])
def test_linalg_svd_non_contiguous(layout):
    base = np.random.default_rng(1).standard_normal((3, 6, 5))
    if layout == "transposed":
        a = lamina.tensor(base).transpose(-1, -2)
    elif layout == "strided":
        a = lamina.tensor(base)[:, ::2, 1:]
    else:
        a = lamina.tensor(base[:1]).expand(4, 6, 5)
    assert not a.is_contiguous()
    for full in (False, True):
        check_factorisation(a, *lamina.linalg.svd(a, full_matrices=full), full)


@pytest.mark.parametrize("dtype", [lamina.float32, lamina.float64])
@pytest.mark.parametrize("shape,rank", [((6, 4), 2), ((4, 6), 1), ((5, 5), 3), ((7, 3), 0)], ids=str)
def test_linalg_svd_rank_deficient_and_zero(shape, rank, dtype):
    rng = np.random.default_rng(2)
    m, n = shape
    an = rng.standard_normal((m, rank)) @ rng.standard_normal((rank, n))
    a = lamina.tensor(an, dtype=dtype)
    for full in (False, True):
        U, S, Vh = lamina.linalg.svd(a, full_matrices=full)
        check_factorisation(a, U, S, Vh, full)
        assert np.all(S.numpy()[rank:] <= 1e-5 * max(1.0, float(S.numpy()[:1].max(initial=0))))


@pytest.mark.parametrize("values", [[2.0, 2.0, 1.0], [3.0, 3.0, 3.0], [1.0, 0.0, 0.0], [5.0, 1.0, 1.0, 1.0]])
def test_linalg_svd_repeated_singular_values(values):
    rng = np.random.default_rng(3)
    k = len(values)
    q1, _ = np.linalg.qr(rng.standard_normal((k + 2, k)))
    q2, _ = np.linalg.qr(rng.standard_normal((k, k)))
    a = lamina.tensor(q1 @ np.diag(values) @ q2.T)
    for full in (False, True):
        U, S, Vh = lamina.linalg.svd(a, full_matrices=full)
        check_factorisation(a, U, S, Vh, full)
        np.testing.assert_allclose(S.numpy(), values, atol=1e-13)


@pytest.mark.parametrize("scale,dtype", [(1e-300, lamina.float64), (1e300, lamina.float64), (1e-30, lamina.float32),
                                         (1e30, lamina.float32), (1e-42, lamina.float32)], ids=str)
def test_linalg_svd_extreme_scales(scale, dtype):
    an = np.random.default_rng(4).standard_normal((5, 3))
    a = lamina.tensor(an * scale, dtype=dtype)
    U, S, Vh = lamina.linalg.svd(a, full_matrices=False)
    ref = np.linalg.svd(an, compute_uv=False) * scale
    rtol = 1e-12 if dtype == lamina.float64 else (2e-1 if scale < 1e-38 else 1e-5)  # 1e-42: subnormal inputs
    np.testing.assert_allclose(S.numpy().astype(np.float64), ref, rtol=rtol)
    assert np.isfinite(U.numpy()).all() and np.isfinite(Vh.numpy()).all()
    np.testing.assert_allclose(U.numpy().T.astype(np.float64) @ U.numpy(), np.eye(3), atol=tol(dtype) * 10)


def test_linalg_svd_special_values_as_pytorch():
    nan, inf = float("nan"), float("inf")
    with pytest.raises(lamina.linalg.LinAlgError, match=r"^linalg\.svd: The algorithm failed to converge because "
                                                         r"the input matrix contained non-finite values\.$"):
        lamina.linalg.svd(lamina.tensor([[1.0, nan], [0.0, 1.0]]))
    batch = lamina.tensor([[[1.0, 0.0], [0.0, 1.0]], [[nan, 0.0], [0.0, 1.0]]])
    with pytest.raises(RuntimeError, match=r"linalg\.svd: \(Batch element 1\): The algorithm failed to converge"):
        lamina.linalg.svdvals(batch)
    with pytest.raises(lamina.linalg.LinAlgError):
        lamina.svd(batch)
    # An infinity without NaN: NaN factors (PyTorch's LAPACK result), no error.
    for x in ([[1.0, inf], [0.0, 1.0]], [[1.0, -inf], [0.0, 1.0], [2.0, 2.0]]):
        U, S, Vh = lamina.linalg.svd(lamina.tensor(x, dtype=lamina.float64))
        assert np.isnan(U.numpy()).all() and np.isnan(S.numpy()).all() and np.isnan(Vh.numpy()).all()
    assert issubclass(lamina.linalg.LinAlgError, RuntimeError)
    assert lamina.linalg.LinAlgError.__module__ == "lamina.linalg"


def test_linalg_svd_errors():
    with pytest.raises(RuntimeError, match=r"linalg\.svd: The input tensor A must have at least 2 dimensions "
                                           r"\(got shape \(3,\)\)"):
        lamina.linalg.svd(lamina.ones(3))
    with pytest.raises(RuntimeError, match=r"linalg\.svd: .*at least 2 dimensions \(got shape \(\)\)"):
        lamina.svd(lamina.tensor(1.0))
    for dtype, name in ((lamina.int64, "Long"), (lamina.int32, "Int"), (lamina.bool, "Bool")):
        with pytest.raises(RuntimeError, match=rf"linalg\.svd: Expected a floating point tensor as input\. Got "
                                               rf"{name} \(shape \(2, 3\)\)"):
            lamina.linalg.svdvals(lamina.ones(2, 3, dtype=dtype))
    with pytest.raises(RuntimeError, match="driver="):
        lamina.linalg.svd(lamina.ones(2, 2), driver="gesvd")
    with pytest.raises(TypeError):
        lamina.linalg.svd(np.ones((2, 2)))


def test_linalg_svd_same_bits_for_any_thread_count(threads):
    a = lamina.randn(16, 12, 9, dtype=lamina.float64)
    results = []
    for n in (1, 2, 3):
        threads(n)
        results.append([x.numpy().copy() for x in lamina.linalg.svd(a)])
    for other in results[1:]:
        for x, y in zip(results[0], other):
            np.testing.assert_array_equal(x, y)


# ---- gradients ----------------------------------------------------------------------------------
# Functions invariant to flipping the sign of a singular vector pair (the gauge), on inputs with
# well-separated singular values: the gradient is then well defined and finite differences see it.

def _separated(shape, seed=5):
    """A random (..., m, n) float64 matrix with singular values 1..k spaced by at least 0.5."""
    rng = np.random.default_rng(seed)
    m, n = shape[-2:]
    k = min(m, n)
    out = np.empty(shape)
    for idx in np.ndindex(*shape[:-2]):
        q1, _ = np.linalg.qr(rng.standard_normal((m, k)))
        q2, _ = np.linalg.qr(rng.standard_normal((n, k)))
        out[idx] = q1 @ np.diag(1.0 + 0.7 * np.arange(k)[::-1]) @ q2.T
    return lamina.tensor(out, dtype=lamina.float64, requires_grad=True)


GAUGE_INVARIANT = {
    "S": lambda x, full: lamina.linalg.svd(x, full_matrices=full)[1],
    "svdvals": lambda x, full: lamina.linalg.svdvals(x),
    "U@Vh": lambda x, full: _first_k(x, full)[0] @ _first_k(x, full)[2],
    "U*S@Vh": lambda x, full: (lambda u, s, vh: (u * s.unsqueeze(-2)) @ vh)(*_first_k(x, full)),
    "U**2": lambda x, full: _first_k(x, full)[0] ** 2,
    "Vh**2": lambda x, full: _first_k(x, full)[2] ** 2,
    "U S U^T": lambda x, full: (lambda u, s, vh: (u * s.unsqueeze(-2)) @ u.mT)(*_first_k(x, full)),
    "legacy V S V^T": lambda x, full: (lambda u, s, v: (v[..., :s.shape[-1]] * s.unsqueeze(-2)) @ v[..., :s.shape[-1]].mT)(
        *lamina.svd(x, some=not full)),
}


def _first_k(x, full):
    U, S, Vh = lamina.linalg.svd(x, full_matrices=full)
    k = S.shape[-1]
    return U[..., :k], S, Vh[..., :k, :]


@pytest.mark.parametrize("shape", [(3, 3), (4, 2), (2, 4), (2, 3, 2), (1, 5)], ids=str)
@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("name", sorted(GAUGE_INVARIANT))
def test_linalg_svd_gradcheck(name, shape, full):
    x = _separated(shape)
    assert gradcheck(lambda t: GAUGE_INVARIANT[name](t, full), [x])


@pytest.mark.parametrize("name", ["S", "U*S@Vh", "U@Vh"])
def test_linalg_svd_gradgradcheck(name):
    x = _separated((3, 2))
    assert gradgradcheck(lambda t: GAUGE_INVARIANT[name](t, False), [x], atol=1e-4, rtol=1e-3)


def test_linalg_svd_gradient_of_values_with_repeated_and_zero_values_is_finite():
    # Only S is used: PyTorch's formula skips the 1 / (s_j^2 - s_i^2) terms, so repeated singular
    # values (here all equal) and a rank-deficient input still get U diag(gS) Vh.
    x = lamina.eye(3, dtype=lamina.float64).requires_grad_()
    U, S, Vh = lamina.linalg.svd(x)
    S.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.eye(3), atol=1e-14)
    y = lamina.zeros(4, 3, dtype=lamina.float64, requires_grad=True)
    lamina.linalg.svdvals(y).sum().backward()
    assert np.isfinite(y.grad.numpy()).all()


def test_linalg_svd_full_matrices_ignores_extra_columns_in_backward():
    # PyTorch: U[..., k:] and Vh[..., k:, :] are arbitrary bases; their gradients are dropped.
    x = _separated((5, 3))
    U, S, Vh = lamina.linalg.svd(x, full_matrices=True)
    (g_all,) = lamina.autograd.grad((U * 1.5).sum() + (Vh ** 3).sum(), [x])
    U, S, Vh = lamina.linalg.svd(x, full_matrices=True)
    (g_first,) = lamina.autograd.grad((U[:, :3] * 1.5).sum() + (Vh ** 3).sum(), [x])
    np.testing.assert_array_equal(g_all.numpy(), g_first.numpy())
    assert U.grad_fn.name() == "LinalgSvdBackward0" and S.grad_fn is U.grad_fn


def test_linalg_svd_saved_outputs_detect_inplace_changes():
    x = _separated((3, 3))
    U, S, Vh = lamina.linalg.svd(x)
    loss = (U ** 2).sum()
    S.mul_(2)  # S is saved for backward
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


# ---- against PyTorch ------------------------------------------------------------------------------

@pytest.mark.torch
@pytest.mark.parametrize("shape", [(4, 3), (3, 5), (2, 3, 3)], ids=str)
@pytest.mark.parametrize("full", [False, True])
def test_linalg_svd_matches_torch(shape, full):
    torch = pytest.importorskip("torch")
    x = _separated(shape, seed=7)
    xt = torch.tensor(x.detach().numpy(), requires_grad=True)
    for name in ("S", "U*S@Vh", "U@Vh", "U**2", "U S U^T"):
        ours = GAUGE_INVARIANT[name](x, full)
        (g,) = lamina.autograd.grad((ours * ours).sum(), [x])
        U, S, Vh = torch.linalg.svd(xt, full_matrices=full)
        k = S.shape[-1]
        U, Vh = U[..., :k], Vh[..., :k, :]
        theirs = {"S": lambda: S, "U*S@Vh": lambda: (U * S.unsqueeze(-2)) @ Vh, "U@Vh": lambda: U @ Vh,
                  "U**2": lambda: U ** 2, "U S U^T": lambda: (U * S.unsqueeze(-2)) @ U.mT}[name]()
        (gt,) = torch.autograd.grad((theirs * theirs).sum(), [xt])
        np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy(), atol=1e-12, err_msg=name)
        np.testing.assert_allclose(g.numpy(), gt.numpy(), atol=1e-10, err_msg=name)


@pytest.mark.torch
def test_linalg_svd_special_values_match_torch():
    torch = pytest.importorskip("torch")
    nan, inf = float("nan"), float("inf")
    for data in ([[1.0, nan], [0.0, 1.0]], [[[1.0, 0.0], [0.0, 1.0]], [[nan, 0.0], [0.0, 1.0]]]):
        with pytest.raises(RuntimeError) as theirs:
            torch.linalg.svdvals(torch.tensor(data))
        with pytest.raises(lamina.linalg.LinAlgError) as ours:
            lamina.linalg.svdvals(lamina.tensor(data))
        assert str(ours.value) == str(theirs.value)
    data = [[1.0, inf], [0.0, 1.0]]
    assert torch.linalg.svdvals(torch.tensor(data)).isnan().all()
    assert lamina.linalg.svdvals(lamina.tensor(data)).isnan().all()
    U, _, V = torch.svd(torch.ones(4, 3), compute_uv=False)
    Ul, _, Vl = lamina.svd(lamina.ones(4, 3), compute_uv=False)
    assert tuple(Ul.shape) == tuple(U.shape) and tuple(Vl.shape) == tuple(V.shape)
