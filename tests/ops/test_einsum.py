"""einsum against np.einsum in float64: one, two and N operands, explicit and implicit outputs,
ellipsis with broadcasting, diagonals (repeated subscripts), sums over single-operand subscripts,
non-contiguous operands, size-0 dims, every ISA level; gradients by gradcheck/gradgradcheck;
errors naming the equation."""

import numpy as np
import pytest

import lamina
from lamina.autograd import gradcheck, gradgradcheck

CASES = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("ij,jk", [(2, 3), (3, 4)]),
    ("ij,kj->ik", [(2, 3), (4, 3)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("bij,jk->bik", [(2, 3, 4), (4, 5)]),
    ("ijk,ikl->ijl", [(3, 2, 4), (3, 4, 2)]),
    ("i,i->", [(5,), (5,)]),
    ("i,i", [(5,), (5,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("i,j", [(3,), (4,)]),
    ("ij,j->i", [(3, 4), (4,)]),
    ("ij,ij->ij", [(3, 4), (3, 4)]),
    ("ij,ij->", [(3, 4), (3, 4)]),
    ("ba,ab->", [(3, 4), (4, 3)]),
    ("ij->ji", [(3, 4)]),
    ("ij", [(3, 4)]),
    ("ba", [(3, 4)]),
    ("ij->", [(3, 4)]),
    ("ij->j", [(3, 4)]),
    ("ijk->kij", [(2, 3, 4)]),
    ("ii->i", [(4, 4)]),
    ("ii", [(4, 4)]),
    ("iij->j", [(3, 3, 2)]),
    ("iji->ij", [(3, 2, 3)]),
    ("ii,i->i", [(3, 3), (3,)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]),
    ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)]),
    ("i,i,i->i", [(4,), (4,), (4,)]),
    ("ij,jk,k->", [(2, 3), (3, 4), (4,)]),
    ("ik,jk,lk->ijl", [(2, 3), (4, 3), (2, 3)]),
    ("ijk,jl->ikl", [(2, 3, 4), (3, 5)]),
    ("abc,cd->abd", [(2, 3, 4), (4, 5)]),
    ("ij,kl->ijkl", [(2, 3), (2, 2)]),
    ("ijk,k->", [(2, 3, 4), (4,)]),
    ("Ab,bC->AC", [(2, 3), (3, 4)]),
    ("aB,Ba", [(2, 3), (3, 2)]),
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]),
    ("...ij,...jk", [(2, 3, 4), (4, 2)]),
    ("i...->...", [(3, 2, 4)]),
    ("...i->...", [(3, 2, 4)]),
    ("...->...", [(3, 2)]),
    ("i...j,j...->...i", [(2, 3, 4), (4, 3)]),
    ("...,...->...", [(2, 3), (3,)]),
    ("...ij,j->...i", [(3, 4), (4,)]),
    ("ij,jk->ik", [(0, 3), (3, 4)]),
    ("ij,jk->ik", [(2, 0), (0, 4)]),
    ("i,i->", [(0,), (0,)]),
    ("i,i->i", [(1,), (3,)]),
    ("ij,jk->", [(1, 3), (3, 1)]),
    ("->", [()]),
    (",->", [(), ()]),
    ("i,->i", [(3,), ()]),
]


def make(shape, rng, layout):
    shape = tuple(shape)
    if layout == "transposed" and len(shape) >= 2:
        a = rng.uniform(-1, 1, size=shape[::-1])
        return lamina.tensor(a).permute(*range(len(shape) - 1, -1, -1)), a.transpose()
    if layout == "stepped" and len(shape) >= 1:
        a = rng.uniform(-1, 1, size=shape[:-1] + (2 * shape[-1],))
        return lamina.tensor(a)[..., ::2], a[..., ::2]
    a = rng.uniform(-1, 1, size=shape)
    return lamina.tensor(a), a


@pytest.mark.parametrize("equation,shapes", CASES, ids=[c[0] + str(c[1]) for c in CASES])
def test_einsum_matches_numpy(equation, shapes, isa):
    rng = np.random.default_rng(0)
    for layout in ("contiguous", "transposed", "stepped"):
        pairs = [make(s, rng, layout) for s in shapes]
        expected = np.einsum(equation, *[a for _, a in pairs])
        for dtype in ("float64", "float32"):
            operands = [t.to(getattr(lamina, dtype)) for t, _ in pairs]
            out = lamina.einsum(equation, *operands)
            assert tuple(out.shape) == expected.shape and out.dtype == getattr(lamina, dtype)
            tol = 1e-12 if dtype == "float64" else 1e-5
            np.testing.assert_allclose(out.numpy(), expected, rtol=tol, atol=tol)


def test_einsum_operand_list_and_integers():
    a, b = lamina.tensor([[1, 2], [3, 4]]), lamina.tensor([[5, 6], [7, 8]])
    assert lamina.einsum("ij,jk->ik", [a, b]).tolist() == [[19, 22], [43, 50]]
    assert lamina.einsum("ij,jk->ik", (a, b)).dtype == lamina.int64
    assert lamina.einsum("ii", a).item() == 5
    assert lamina.einsum(" i j , j k -> i k ", a, b).tolist() == [[19, 22], [43, 50]]


def test_einsum_sums_ellipsis_dims_missing_from_the_output():
    # numpy refuses these; PyTorch (and lamina) sum the dims the ellipsis covers.
    x = np.random.default_rng(3).uniform(size=(2, 3, 4))
    np.testing.assert_allclose(lamina.einsum("...ij->ij", lamina.tensor(x)).numpy(), x.sum(0), rtol=1e-12)
    np.testing.assert_allclose(lamina.einsum("i...->i", lamina.tensor(x)).numpy(), x.sum((1, 2)), rtol=1e-12)
    np.testing.assert_allclose(lamina.einsum("...i,...i->i", lamina.tensor(x), lamina.tensor(x)).numpy(),
                               (x * x).sum((0, 1)), rtol=1e-12)


GRAD_CASES = [
    ("ij,jk->ik", [(2, 3), (3, 2)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
    ("i,i->", [(3,), (3,)]),
    ("i,j->ij", [(2,), (3,)]),
    ("ii->i", [(3, 3)]),
    ("ij->j", [(2, 3)]),
    ("ijk->kij", [(2, 2, 3)]),
    ("bn,anm,bm->ba", [(2, 2), (2, 2, 3), (2, 3)]),
    ("...ij,...jk->...ik", [(2, 1, 2, 3), (2, 3, 2)]),
    ("ij,ij->i", [(2, 3), (2, 3)]),
    ("i,i->i", [(1,), (3,)]),
]


@pytest.mark.parametrize("equation,shapes", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_einsum_gradients(equation, shapes):
    rng = np.random.default_rng(1)
    inputs = [lamina.tensor(rng.uniform(-1, 1, size=s)).requires_grad_(True) for s in shapes]

    def fn(*xs):
        return lamina.einsum(equation, *xs)

    assert gradcheck(fn, inputs)
    assert gradgradcheck(fn, inputs)


def test_einsum_same_bytes_for_any_thread_count(threads):
    rng = np.random.default_rng(2)
    a, b = lamina.tensor(rng.uniform(size=(4, 37, 50))), lamina.tensor(rng.uniform(size=(50, 4, 41)))
    results = []
    for n in (1, 2, 3):
        threads(n)
        results.append(lamina.einsum("bij,jbk->bik", a, b).numpy().tobytes())
    assert results[0] == results[1] == results[2]


@pytest.mark.parametrize("equation,shapes,pattern", [
    ("i$", [(3,)], r"invalid subscript '\$' at index 1 in the equation 'i\$'"),
    ("ij,jk", [(2, 3)], r"the equation 'ij,jk' names 2 operands, but 1 were given"),
    ("ij", [(2, 3), (3, 2)], r"the equation 'ij' names 1 operands, but 2 were given"),
    ("ij->ij", [(3,)], r"the equation 'ij->ij' gives operand 0 2 subscripts, but it has 1 dims"),
    ("ij...->ij", [(3,)], r"the equation 'ij...->ij' gives operand 0 2 subscripts and an ellipsis"),
    ("i,i->i", [(2,), (3,)], r"subscript 'i' has size 3 for operand 1 .* equation 'i,i->i'"),
    ("ij->k", [(2, 3)], r"output subscript 'k' does not appear in the inputs of the equation 'ij->k'"),
    ("ij->ii", [(2, 3)], r"output subscript 'i' appears more than once in the equation 'ij->ii'"),
    ("i..j", [(2, 3)], r"invalid ellipsis at index 1 in the equation 'i..j'"),
    ("......", [(2, 3)], r"invalid ellipsis"),
    ("ii->i", [(2, 3)], r"subscript 'i' is repeated in operand 0 of the equation 'ii->i' for dims of different sizes"),
])
def test_einsum_errors(equation, shapes, pattern):
    operands = [lamina.ones(*s) for s in shapes]
    with pytest.raises(RuntimeError, match=pattern):
        lamina.einsum(equation, *operands)


def test_einsum_operand_errors():
    with pytest.raises(RuntimeError, match="einsum: must provide at least one operand"):
        lamina.einsum("i")
    with pytest.raises(TypeError, match="einsum"):
        lamina.einsum("i,i", lamina.ones(2), 3)
    with pytest.raises(RuntimeError, match="einsum: expected all operands to have the same dtype, but got float32 and "
                                           "float64 in the equation 'i,i'"):
        lamina.einsum("i,i", lamina.ones(2), lamina.ones(2, dtype=lamina.float64))
