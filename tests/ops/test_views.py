"""Views beyond the op table: when reshape copies and view refuses, -1 inference, geometry (strides,
storage offsets, contiguity), views of views sharing storage and version counters, as_strided
relative to the storage, multi-output views and their gradients."""

import numpy as np
import pytest

import lamina


def arange(*shape, dtype=lamina.float32):
    n = int(np.prod(shape))
    return lamina.arange(n, dtype=dtype).reshape(*shape)


def test_view_refuses_what_strides_cannot_express_and_reshape_copies():
    x = arange(3, 4).t()
    with pytest.raises(RuntimeError, match=r"view: view size is not compatible with input tensor's size and stride"):
        x.view(-1)
    y = x.reshape(-1)
    np.testing.assert_array_equal(y.numpy(), np.arange(12).reshape(3, 4).T.reshape(-1))
    y.fill_(0)  # a copy: the input is untouched
    assert x.numpy().sum() == 66 and x._version == 0


def test_reshape_of_viewable_input_shares_storage():
    base = arange(2, 6)
    r = base.reshape(3, 4)
    r[0, 0] = 100
    assert base[0, 0].item() == 100 and r._version == base._version == 1
    split = base[:, ::2].reshape(2, 3)  # splitting/merging only the strided dim is still a view
    split.fill_(-1)
    assert base.numpy()[:, ::2].tolist() == [[-1] * 3] * 2


def test_view_merges_and_splits_contiguous_runs():
    base = arange(4, 6)
    v = base[1:3].view(3, 4)
    assert v.stride() == (4, 1) and v.storage_offset() == 6
    w = base.t().view(3, 2, 4)  # split the first (stride 1) dim of the transpose
    np.testing.assert_array_equal(w.numpy(), np.arange(24).reshape(4, 6).T.reshape(3, 2, 4))
    assert w.data_ptr() == base.data_ptr()


@pytest.mark.parametrize("shape,message", [
    ((-1, -1), "only one dimension can be inferred"),
    ((5, -1), r"shape '\(5, -1\)' is invalid for input of size 12"),
    ((5,), r"shape '\(5,\)' is invalid for input of size 12"),
    ((-2, 6), "invalid shape dimension -2"),
])
def test_view_shape_errors(shape, message):
    for fn in ("view", "reshape"):
        with pytest.raises(RuntimeError, match=f"{fn}: {message}"):
            getattr(arange(3, 4), fn)(*shape)


def test_minus_one_inference():
    assert tuple(arange(3, 4).view(2, -1, 3).shape) == (2, 2, 3)
    assert tuple(lamina.zeros(0, 4).reshape(-1, 2).shape) == (0, 2)
    assert tuple(lamina.zeros(0, 4).view(2, -1).shape) == (2, 0)
    with pytest.raises(RuntimeError, match="is invalid for input of size 0"):
        lamina.zeros(0, 4).view(0, -1)  # -1 could be anything
    assert tuple(lamina.tensor(3.0).view(-1).shape) == (1,) and lamina.tensor(3.0).view(()).shape == ()
    assert tuple(arange(1).reshape(()).shape) == ()


def test_geometry_of_views():
    x = arange(2, 3, 4)
    assert x.permute(2, 0, 1).stride() == (1, 12, 4) and not x.permute(2, 0, 1).is_contiguous()
    assert x.transpose(0, 1).stride() == (4, 12, 1)
    assert x.narrow(2, 1, 2).storage_offset() == 1 and x.select(1, 2).storage_offset() == 8
    assert x.diagonal(0, 1, 2).stride() == (12, 5) and x.diagonal(1, 1, 2).storage_offset() == 1
    assert x.diagonal(-2, 1, 2).storage_offset() == 8 and tuple(x.diagonal(-2, 1, 2).shape) == (2, 1)
    assert tuple(x.diagonal(7, 1, 2).shape) == (2, 0)
    assert x.unsqueeze(1).stride()[1] == 12 and x.unsqueeze(-1).stride()[-1] == 1
    e = x[:1].expand(5, 3, 4)
    assert e.stride() == (0, 4, 1) and not e.is_contiguous()
    assert x.expand(2, -1, -1, -1).stride() == (0, 12, 4, 1)
    assert x.mT.stride() == (12, 1, 4) and x.T.shape == (4, 3, 2)
    assert arange(5).T.shape == (5,) and lamina.tensor(1.0).T.shape == ()
    assert x.movedim((0, 2), (2, 0)).stride() == (1, 4, 12)
    assert x.flatten(1).is_contiguous() and x.unflatten(2, (2, 2)).stride() == (12, 4, 2, 1)


def test_views_of_views_share_storage_and_version():
    base = arange(4, 5)
    chain = base.t()[1:, ::2].unsqueeze(0).squeeze(0).narrow(0, 1, 2).diagonal()
    assert chain._version == base._version == 0
    chain.mul_(-1)
    assert base._version == 1 and chain._version == 1
    expected = np.arange(20, dtype=np.float32).reshape(4, 5)
    view = expected.T[1:, ::2][1:3]
    d = np.diagonal(view)
    idx = [(2 * i, 2 + i) for i in range(len(d))]  # (row, col) in `expected` of the diagonal elements
    for r, c in idx:
        expected[r, c] *= -1
    np.testing.assert_array_equal(base.numpy(), expected)
    base.zero_()
    assert chain.tolist() == [0.0] * len(idx) and chain._version == 2


def test_unbind_chunk_split_return_views():
    x = arange(4, 6)
    parts = x.unbind(1)
    assert isinstance(parts, tuple) and len(parts) == 6 and parts[2].tolist() == [2, 8, 14, 20]
    assert [tuple(p.shape) for p in x.chunk(4, 1)] == [(4, 2)] * 3
    assert [tuple(p.shape) for p in x.chunk(3, 0)] == [(2, 6), (2, 6)]
    assert [tuple(p.shape) for p in lamina.split(x, [1, 0, 3], 0)] == [(1, 6), (0, 6), (3, 6)]
    assert [tuple(p.shape) for p in x.split(4, 1)] == [(4, 4), (4, 2)]
    parts[0].fill_(-1)
    x.split(4, 1)[1].fill_(-2)
    assert x[:, 0].tolist() == [-1] * 4 and x[:, 4:].numpy().tolist() == [[-2, -2]] * 4
    assert lamina.zeros(0, 2).chunk(3)[0].shape == (0, 2) and len(lamina.zeros(0, 2).chunk(3)) == 3


def test_gradient_through_some_pieces_of_a_split():
    x = lamina.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    a, b, c = x.unbind(0)
    (b * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0] * 4, [2] * 4, [0] * 4])
    y = lamina.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    p, q = y.split([3, 1], 1)
    (q ** 2).sum().backward()
    np.testing.assert_array_equal(y.grad.numpy()[:, 3], 2 * np.arange(3, 12, 4))
    assert y.grad.numpy()[:, :3].sum() == 0


def test_as_strided_is_relative_to_the_storage():
    base = arange(10)
    v = base[2:]
    np.testing.assert_array_equal(v.as_strided((3,), (2,)).numpy(), [2, 4, 6])  # starts at v's offset
    np.testing.assert_array_equal(v.as_strided((2, 2), (1, 1), 0).numpy(), [[0, 1], [1, 2]])  # overlapping
    np.testing.assert_array_equal(lamina.as_strided(base, (2, 3), (3, 1), 4).numpy(), [[4, 5, 6], [7, 8, 9]])
    o = lamina.as_strided(base, (2,), (5,), 1)
    o.fill_(-1)
    assert base.tolist()[1] == -1 and base.tolist()[6] == -1 and base._version == 1
    with pytest.raises(RuntimeError, match=r"as_strided: .* out of bounds for storage of size 40"):
        base.as_strided((11,), (1,))
    with pytest.raises(RuntimeError, match="negative strides are not supported"):
        base.as_strided((2,), (-1,))


def test_as_strided_gradient():
    x = lamina.tensor(np.arange(6.0), requires_grad=True)
    y = x.as_strided((2, 2), (2, 1), 1)  # elements 1, 2, 3, 4
    (y * lamina.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=lamina.float64)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 1, 2, 3, 4, 0])


def test_squeeze_and_unsqueeze():
    x = lamina.zeros(1, 3, 1, 2)
    assert tuple(x.squeeze().shape) == (3, 2) and tuple(x.squeeze(1).shape) == (1, 3, 1, 2)
    assert tuple(x.squeeze((0, 2)).shape) == (3, 2) and tuple(lamina.squeeze(x, -2).shape) == (1, 3, 2)
    assert tuple(x.squeeze([0, 1]).shape) == (3, 1, 2)
    assert tuple(lamina.tensor(1.0).unsqueeze(-1).shape) == (1,) and tuple(x.unsqueeze(4).shape) == (1, 3, 1, 2, 1)
    assert lamina.tensor(1.0).squeeze().shape == () and tuple(lamina.zeros(0, 1).squeeze().shape) == (0,)


def test_expand_variants():
    x = lamina.tensor([[1.0], [2.0]])
    assert x.expand(2, 3).tolist() == [[1, 1, 1], [2, 2, 2]] and tuple(x.expand(-1, 4).shape) == (2, 4)
    assert tuple(x.expand(5, -1, 0).shape) == (5, 2, 0)
    assert tuple(x.expand_as(lamina.empty(3, 2, 7)).shape) == (3, 2, 7)
    assert x.expand(2, 1).tolist() == x.tolist()
    g = lamina.tensor([[1.0], [2.0]], requires_grad=True)
    g.expand(3, 2, 4).sum().backward()
    assert g.grad.tolist() == [[12.0], [12.0]]


def test_view_as_reshape_as():
    x = arange(2, 6)
    assert tuple(x.view_as(lamina.empty(3, 4)).shape) == (3, 4)
    assert x.t().reshape_as(lamina.empty(12)).tolist() == np.arange(12).reshape(2, 6).T.reshape(-1).tolist()
    with pytest.raises(RuntimeError):
        x.t().view_as(lamina.empty(12))


def test_movedim_variants():
    a = np.zeros((2, 3, 4, 5))
    x = lamina.zeros(2, 3, 4, 5)
    for src, dst in ((0, -1), ((0, 1), (2, 3)), ((-1, 0), (0, -1)), ((), ())):
        assert tuple(x.movedim(src, dst).shape) == np.moveaxis(a, src, dst).shape


def test_views_of_tensors_requiring_grad_keep_history():
    x = lamina.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    v = x.t()[1:].unsqueeze(0).flatten(0, 1).diagonal()
    assert v.grad_fn is not None and v.requires_grad
    v.sum().backward()
    idx = np.arange(6).reshape(2, 3).T[1:][None].reshape(2, 2)  # which element of x each view element is
    expected = np.zeros(6)
    expected[np.diagonal(idx)] = 1
    np.testing.assert_array_equal(x.grad.numpy(), expected.reshape(2, 3))


# ---- regressions from differential fuzzing against PyTorch ----------------------------------------

def test_movedim_of_0d_tensor_returns_it():
    # wrote past a zero-length permutation (segfault)
    x = lamina.tensor(2.0)
    for src, dst in [(0, 0), (-1, 0), ([0], [-1]), ([], [])]:
        y = x.movedim(src, dst)
        assert y.shape == () and float(y) == 2.0
    with pytest.raises(IndexError, match="movedim"):
        x.movedim(1, 0)


@pytest.mark.parametrize("size,stride,offset", [
    ((2, 2), (2**62, 2**62), 0),             # (size - 1) * stride sums past int64
    ((3,), (2**62,), 0),                     # (size - 1) * stride overflows alone
    ((2,), (1,), 2**63 - 1),                 # offset + span overflows
    ((2**40, 2**40), (1, 1), 0),             # element count overflows
])
def test_as_strided_overflowing_geometry_raises(size, stride, offset):
    # the check computed the last element's index in wrapping int64 and let the view address
    # foreign memory; fill_ then wrote outside the storage
    x = lamina.zeros(4)
    with pytest.raises(RuntimeError, match="as_strided.*overflow|as_strided.*out of bounds"):
        x.as_strided(size, stride, offset)


def test_as_strided_empty_view_strides_must_keep_byte_offsets_in_int64():
    # an empty view may point anywhere, but kernels still multiply its strides by sizes and item
    # sizes: strides that overflow int64 there are refused (UBSan caught the overflow)
    v = lamina.zeros(4).as_strided((0, 3), (2**40, 1))
    assert v.shape == (0, 3) and (v + 1).shape == (0, 3)
    with pytest.raises(RuntimeError, match="as_strided.*overflow"):
        lamina.zeros(4).as_strided((3, 0), (2**62, 1))


def test_size_and_stride_of_0d_tensor_raise_index_error():
    x = lamina.tensor(2.0)
    for f in (lambda: x.size(0), lambda: x.size(-1), lambda: x.stride(0)):
        with pytest.raises(IndexError, match="no dimensions"):
            f()
    assert x.size() == () and x.stride() == ()


def test_factory_size_overflow_before_a_zero_is_refused():
    # PyTorch multiplies sizes in order: (2**40, 2**40, 0) overflows before reaching the 0
    with pytest.raises(RuntimeError, match="ones.*storage size calculation overflow"):
        lamina.ones(2**40, 2**40, 0)
    # and, as in PyTorch, contiguous strides must fit too (a 0-sized dim counts as 1 there)
    with pytest.raises(RuntimeError, match="ones.*stride calculation overflow"):
        lamina.ones(0, 2**40, 2**40)
    assert lamina.ones(0, 2**40, 2**20).shape == (0, 2**40, 2**20)


@pytest.mark.parametrize("chain, row", [("b[1:2].select(0, 0)", 1), ("b[1::2].select(-2, 0)", 1),
                                        ("b.narrow(0, 1, 1).select(0, 0)", 1), ("b[1:][1]", 2)])
def test_second_derivative_through_a_view_of_a_view(chain, row):
    """Regression (found by the differential fuzzer): the double backward of a view of a view lost
    the offset of the inner gradient and read the wrong slice (row 0 instead of row 1)."""
    base = np.arange(9.0).reshape(3, 3) / 10 + 0.1
    weights = np.arange(9.0).reshape(3, 3) + 1
    b = lamina.tensor(base).requires_grad_(True)
    x = eval(chain, {"b": b})
    (g,) = lamina.autograd.grad((x * x).sum(), b, create_graph=True)
    (h,) = lamina.autograd.grad((g * lamina.tensor(weights)).sum(), b)
    expected = np.zeros((3, 3))
    expected[row] = 2 * weights[row]  # d/dx of 2x, weighted: only the viewed row
    np.testing.assert_array_equal(h.numpy(), expected)


# ---- Tensor.unfold: windows along a dim, as a view ----

def _unfold_reference(a, dim, size, step):
    """numpy: the windows stacked along dim, each window's elements in a new last axis."""
    dim %= a.ndim
    a = np.moveaxis(a, dim, -1)
    starts = range(0, a.shape[-1] - size + 1, step)
    windows = np.stack([a[..., s:s + size] for s in starts], axis=-2) if a.shape[-1] >= size else None
    return np.moveaxis(windows, -2, dim)


@pytest.mark.parametrize("shape,dim,size,step", [((3, 7), 1, 3, 2), ((3, 7), -1, 3, 1), ((5, 2, 4), 0, 2, 3),
                                                 ((4, 6), 1, 0, 1), ((6,), 0, 6, 1), ((2, 5), 1, 1, 10),
                                                 ((0, 4), 1, 2, 1), ((4, 0), 0, 2, 2)])
def test_tensor_unfold_matches_numpy_and_is_a_view(shape, dim, size, step):
    a = np.random.default_rng(0).standard_normal(shape)
    reversed_dims = list(range(a.ndim))[::-1]
    for x in (lamina.tensor(a), lamina.tensor(np.ascontiguousarray(a.T)).permute(reversed_dims)):  # two layouts
        y = x.unfold(dim, size, step)
        np.testing.assert_array_equal(y.numpy(), _unfold_reference(a, dim, size, step))
        if y.numel():
            assert y.data_ptr() >= x.data_ptr()  # shares the input's storage


def test_tensor_unfold_gradient_adds_overlapping_windows():
    x = lamina.arange(5.0, dtype=lamina.float64).requires_grad_()
    x.unfold(0, 3, 1).sum().backward()  # element i sits in min(i + 1, 3, 5 - i) windows
    assert x.grad.tolist() == [1.0, 2.0, 3.0, 2.0, 1.0]
    a = np.random.default_rng(1).standard_normal((3, 8))
    for dim, size, step in [(1, 3, 2), (0, 2, 1), (1, 2, 3), (1, 0, 1)]:
        x = lamina.tensor(a).requires_grad_()
        assert lamina.autograd.gradcheck(lambda v: v.unfold(dim, size, step) * 1.5, (x,))
        assert lamina.autograd.gradgradcheck(lambda v: v.unfold(dim, size, step).square(), (x,))


def test_tensor_unfold_of_0d_and_errors():
    s = lamina.tensor(5.0)
    assert s.unfold(0, 1, 1).tolist() == [5.0] and s.unfold(-1, 0, 2).shape == (0,)
    x = lamina.zeros(3, 4)
    with pytest.raises(RuntimeError, match="unfold: maximum size for tensor at dimension 1 is 4 but size is 5"):
        x.unfold(1, 5, 1)
    with pytest.raises(RuntimeError, match="unfold: size is -1 but must be >= 0"):
        x.unfold(1, -1, 1)
    with pytest.raises(RuntimeError, match="unfold: step is 0 but must be > 0"):
        x.unfold(1, 2, 0)
    with pytest.raises(IndexError):
        x.unfold(2, 1, 1)
    with pytest.raises(RuntimeError, match="maximum size for tensor at dimension 0 is 1 but size is 2"):
        s.unfold(0, 2, 1)


@pytest.mark.torch
def test_view_accepts_exactly_the_layouts_torch_accepts():
    # The fuzzer allowlists view refusals that come from elementwise results' layouts (torch keeps a
    # permuted input's layout, lamina writes contiguous results); this checks the stride rule itself.
    torch = pytest.importorskip("torch")
    import itertools
    for shape in [(1, 3, 2, 5), (3, 1, 2, 5), (2, 5, 1, 3), (5, 2, 3, 1), (2, 1, 15), (6, 5, 1)]:
        n = int(np.prod(shape))
        for perm in itertools.permutations(range(len(shape))):
            for target in [(2, 15), (30,), (6, 5), (3, 10), (15, 2), (1, 30), (2, 3, 5), (3, 2, 5), (5, 1, 6)]:
                if int(np.prod(target)) != n:
                    continue
                outcomes = []
                for lib in (lamina, torch):
                    x = lib.arange(float(n)).reshape(shape).permute(perm)
                    try:
                        outcomes.append(x.view(target).stride())
                    except RuntimeError:
                        outcomes.append(None)
                assert outcomes[0] == (tuple(outcomes[1]) if outcomes[1] is not None else None), (shape, perm, target)
