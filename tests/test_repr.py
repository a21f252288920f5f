"""repr/str of tensors follow PyTorch's printing (expected strings below are PyTorch 2.x output with
"torch." spelled "lamina."), plus the scalar conversions, iteration, tolist, __format__ and Size."""

import math

import numpy as np
import pytest

import lamina

L = lamina
NAN, INF = float("nan"), float("inf")

EXPECTED = [
    (lambda: L.tensor(3.5), "tensor(3.5000)"),
    (lambda: L.tensor(3.0), "tensor(3.)"),
    (lambda: L.tensor([-0.0, 1.0]), "tensor([-0., 1.])"),
    (lambda: L.tensor(5), "tensor(5)"),
    (lambda: L.tensor(True), "tensor(True)"),
    (lambda: L.tensor([1.0, 2.0, 3.0]), "tensor([1., 2., 3.])"),
    (lambda: L.tensor([1e-5, 2.0, 3.0]), "tensor([1.0000e-05, 2.0000e+00, 3.0000e+00])"),
    (lambda: L.tensor([1e10, 1.0]), "tensor([1.0000e+10, 1.0000e+00])"),
    (lambda: L.tensor([1.0, 1001.0]), "tensor([1.0000e+00, 1.0010e+03])"),
    (lambda: L.tensor([1.0, 1000.0]), "tensor([   1., 1000.])"),
    (lambda: L.tensor([NAN, INF, -INF, 1.0]), "tensor([nan, inf, -inf, 1.])"),
    (lambda: L.tensor([NAN, 0.0]), "tensor([nan, 0.])"),
    (lambda: L.tensor([0.1, 123.456]), "tensor([1.0000e-01, 1.2346e+02])"),
    (lambda: L.tensor([1.5, -2.25], dtype=L.float64), "tensor([ 1.5000, -2.2500], dtype=lamina.float64)"),
    (lambda: L.tensor([1, -20], dtype=L.int32), "tensor([  1, -20], dtype=lamina.int32)"),
    (lambda: L.tensor([[True, False], [False, True]]), "tensor([[ True, False],\n        [False,  True]])"),
    (lambda: L.zeros(0), "tensor([])"),
    (lambda: L.zeros(0, 3), "tensor([], size=(0, 3))"),
    (lambda: L.zeros(0, dtype=L.int64), "tensor([], dtype=lamina.int64)"),
    (lambda: L.zeros(2, 0, dtype=L.bool), "tensor([], size=(2, 0), dtype=lamina.bool)"),
    (lambda: L.arange(6.0).reshape(2, 3) / 4, "tensor([[0.0000, 0.2500, 0.5000],\n        [0.7500, 1.0000, 1.2500]])"),
    (lambda: L.arange(8).reshape(2, 2, 2), "tensor([[[0, 1],\n         [2, 3]],\n\n        [[4, 5],\n         [6, 7]]])"),
    (lambda: L.arange(30.0) * 1.5,
     "tensor([ 0.0000,  1.5000,  3.0000,  4.5000,  6.0000,  7.5000,  9.0000, 10.5000,\n"
     "        12.0000, 13.5000, 15.0000, 16.5000, 18.0000, 19.5000, 21.0000, 22.5000,\n"
     "        24.0000, 25.5000, 27.0000, 28.5000, 30.0000, 31.5000, 33.0000, 34.5000,\n"
     "        36.0000, 37.5000, 39.0000, 40.5000, 42.0000, 43.5000])"),
    (lambda: L.arange(2000), "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])"),
    (lambda: L.arange(1200.0).reshape(40, 30) / 7,
     "tensor([[0.0000e+00, 1.4286e-01, 2.8571e-01,  ..., 3.8571e+00, 4.0000e+00,\n"
     "         4.1429e+00],\n"
     "        [4.2857e+00, 4.4286e+00, 4.5714e+00,  ..., 8.1429e+00, 8.2857e+00,\n"
     "         8.4286e+00],\n"
     "        [8.5714e+00, 8.7143e+00, 8.8571e+00,  ..., 1.2429e+01, 1.2571e+01,\n"
     "         1.2714e+01],\n"
     "        ...,\n"
     "        [1.5857e+02, 1.5871e+02, 1.5886e+02,  ..., 1.6243e+02, 1.6257e+02,\n"
     "         1.6271e+02],\n"
     "        [1.6286e+02, 1.6300e+02, 1.6314e+02,  ..., 1.6671e+02, 1.6686e+02,\n"
     "         1.6700e+02],\n"
     "        [1.6714e+02, 1.6729e+02, 1.6743e+02,  ..., 1.7100e+02, 1.7114e+02,\n"
     "         1.7129e+02]])"),
    (lambda: L.tensor([123456789, -1]), "tensor([123456789,        -1])"),
    (lambda: L.tensor([1.0, 2.0], requires_grad=True), "tensor([1., 2.], requires_grad=True)"),
    (lambda: L.tensor([1.0, 2.0], requires_grad=True) * 2, "tensor([2., 4.], grad_fn=<MulBackward0>)"),
    (lambda: (L.arange(30.0) * 1.5).requires_grad_(),
     "tensor([ 0.0000,  1.5000,  3.0000,  4.5000,  6.0000,  7.5000,  9.0000, 10.5000,\n"
     "        12.0000, 13.5000, 15.0000, 16.5000, 18.0000, 19.5000, 21.0000, 22.5000,\n"
     "        24.0000, 25.5000, 27.0000, 28.5000, 30.0000, 31.5000, 33.0000, 34.5000,\n"
     "        36.0000, 37.5000, 39.0000, 40.5000, 42.0000, 43.5000],\n"
     "       requires_grad=True)"),
]


@pytest.mark.parametrize("make, expected", EXPECTED, ids=[e[1][:40] for e in EXPECTED])
def test_repr_matches_pytorch_output(make, expected):
    t = make()
    assert repr(t) == expected
    assert str(t) == expected


def test_repr_of_views_and_summaries():
    x = L.arange(12.0).reshape(3, 4)
    assert repr(x.t()) == repr(L.tensor(x.numpy().T.copy()))
    assert repr(x[:, 1::2]) == "tensor([[ 1.,  3.],\n        [ 5.,  7.],\n        [ 9., 11.]])"
    big = L.zeros(10, 10, 11)
    text = repr(big)
    assert text.count("...") == 6 * 6 + 6 + 1 and text.startswith("tensor([[[0., 0., 0.,  ..., 0., 0., 0.],")
    assert repr(L.ones(1001)).startswith("tensor([1., 1., 1.,  ..., 1., 1., 1.])")
    assert repr(L.ones(1000)).count("...") == 0


def test_repr_follows_default_dtype():
    L.set_default_dtype(L.float64)
    try:
        assert repr(L.tensor([1.5])) == "tensor([1.5000])"
        assert repr(L.tensor([1.5], dtype=L.float32)) == "tensor([1.5000], dtype=lamina.float32)"
        assert repr(L.zeros(0, dtype=L.float32)) == "tensor([], dtype=lamina.float32)"
    finally:
        L.set_default_dtype(L.float32)


def test_repr_matches_torch_on_random_tensors():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((3, 5)).astype(np.float32), rng.standard_normal((4, 3, 2)) * 1e5,
              rng.standard_normal(50).astype(np.float32) * 1e-3, rng.integers(-1000, 1000, (7, 9)),
              rng.integers(-5, 5, (2000,), dtype=np.int32), rng.standard_normal((1100,)).astype(np.float32),
              np.round(rng.standard_normal((6, 7)) * 100), rng.random((3, 3)) < 0.5,
              np.array([1e-30, 1e30, np.nan], np.float64), rng.standard_normal((2, 1, 600)).astype(np.float32)]
    for a in arrays:
        want = repr(torch.from_numpy(a.copy())).replace("torch.", "lamina.")
        assert repr(L.from_numpy(a.copy())) == want


# ---- scalar conversions, iteration, format --------------------------------------------------

def test_scalar_conversions():
    assert float(L.tensor([2.5])) == 2.5 and int(L.tensor(-2.7)) == -2 and int(L.tensor(True)) == 1
    assert type(int(L.tensor(True))) is int and bool(L.tensor([0.0])) is False
    assert [10, 20, 30][L.tensor(1)] == 20 and [10, 20][L.tensor(True)] == 20
    assert L.tensor(3.0).item() == 3.0 and type(L.tensor(3).item()) is int and type(L.tensor(True).item()) is bool
    with pytest.raises(ValueError, match="only one element tensors can be converted to Python scalars"):
        float(L.ones(2))
    with pytest.raises(ValueError, match="only one element tensors"):
        int(L.ones(0))
    with pytest.raises(RuntimeError, match="a Tensor with 2 elements cannot be converted to Scalar"):
        L.ones(2).item()
    with pytest.raises(RuntimeError, match="a Tensor with 0 elements cannot be converted to Scalar"):
        L.ones(0).item()
    with pytest.raises(RuntimeError, match="Boolean value of Tensor with more than one value is ambiguous"):
        bool(L.ones(2))
    with pytest.raises(RuntimeError, match="Boolean value of Tensor with no values is ambiguous"):
        bool(L.ones(0))
    with pytest.raises(TypeError, match="only integer tensors of a single element"):
        [1, 2][L.tensor(1.0)]
    with pytest.raises(TypeError, match="only integer tensors of a single element"):
        [1, 2][L.tensor([1, 0])]
    with pytest.raises(ValueError, match="NaN"):
        int(L.tensor(NAN))
    assert math.isnan(float(L.tensor(NAN)))


def test_item_of_requires_grad_and_views():
    x = L.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    assert x[1, 0].item() == 3.0 and float(x.t()[0, 1]) == 3.0


def test_iteration_and_tolist():
    x = L.arange(6).reshape(2, 3)
    rows = list(x)
    assert len(rows) == 2 and rows[1].tolist() == [3, 4, 5]
    assert x.tolist() == [[0, 1, 2], [3, 4, 5]] and x.t().tolist() == [[0, 3], [1, 4], [2, 5]]
    assert L.tensor(2.5).tolist() == 2.5 and L.tensor([True]).tolist() == [True]
    assert L.zeros(2, 0).tolist() == [[], []]
    assert L.tensor([0.1]).tolist() == [float(np.float32(0.1))]
    with pytest.raises(TypeError, match="iteration over a 0-d tensor"):
        iter(L.tensor(1.0))
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(L.tensor(1.0))
    g = L.ones(2, 2, requires_grad=True)
    sum(row.sum() for row in g).backward()
    assert g.grad.tolist() == [[1.0, 1.0], [1.0, 1.0]]


def test_format():
    assert f"{L.tensor(2.5):.3f}" == "2.500" and f"{L.tensor(7):4d}" == "   7"
    assert f"{L.tensor([1.0])}" == "tensor([1.])"
    with pytest.raises(TypeError):
        f"{L.tensor([1.0, 2.0]):.2f}"


def test_size():
    s = L.ones(2, 3, 4).shape
    assert isinstance(s, L.Size) and isinstance(s, tuple) and s == (2, 3, 4)
    assert repr(s) == "lamina.Size([2, 3, 4])" and repr(L.tensor(1.0).shape) == "lamina.Size([])"
    assert s.numel() == 24 and L.Size([]).numel() == 1
    assert isinstance(s[1:], L.Size) and s[1:] == (3, 4) and s[-1] == 4 and type(s[0]) is int
    assert isinstance(s + (5,), L.Size) and (1,) + s == (1, 2, 3, 4) and isinstance((1,) + s, L.Size)
    assert isinstance(s * 2, L.Size) and 2 * s == (2, 3, 4, 2, 3, 4)
    assert L.zeros(s).shape == s
    import pickle
    assert pickle.loads(pickle.dumps(s)) == s and isinstance(pickle.loads(pickle.dumps(s)), L.Size)
