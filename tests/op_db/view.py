"""View ops: compared against the numpy equivalent on contiguous, transposed, strided and expanded
inputs (VIEW_SHAPES: 0-d, size-0 and size-1 dims). Specs with shares_storage=True must return
views: tests/ops/test_generic.py writes through the result and reads the input back."""

import numpy as np

import lamina

from .spec import OpSpec


def _pieces(a, axis, sizes):
    """Consecutive slices of `a` along `axis` with the given sizes (torch.split's pieces)."""
    out, start = [], 0
    for s in sizes:
        out.append(np.take(a, np.arange(start, start + s), axis=axis))
        start += s
    return tuple(out)


def _split_sizes(n, size):
    return [min(size, n - i) for i in range(0, n, size)] or [0]


def _chunk_sizes(n, chunks):
    piece = -(-n // chunks)
    return [0] * chunks if piece == 0 else _split_sizes(n, piece)


def _narrow_args(n):
    """(start, length) of the narrow specs for a dim of size n: the middle of the dim."""
    start = min(1, n)
    return start, max(0, n - 2 * start)


def view(name, op, ref, shares=True, **kw):
    return OpSpec(name, op, ref, kind="view", shares_storage=shares, **kw)


NONEMPTY_FIRST = [(1,), (6,), (4, 5), (1, 3, 1), (2, 3, 4), (2, 1, 3, 2)]
AS_STRIDED = [(4,), (6,), (4, 5), (2, 3, 4)]

SPECS = [
    view("view", lambda x: x.view(-1), lambda a: a.reshape(-1), layouts=("contiguous",)),
    view("view_infer", lambda x: x.view(1, -1), lambda a: a.reshape(1, -1), fn="view", layouts=("contiguous",)),
    view("view_unit_dim", lambda x: x.view(*x.shape, 1), lambda a: a.reshape(a.shape + (1,)), fn="view"),
    view("view_as", lambda x: x.view_as(lamina.empty(x.numel())), lambda a: a.reshape(-1), layouts=("contiguous",)),
    view("reshape", lambda x: x.reshape(-1), lambda a: a.reshape(-1), shares=False),
    view("reshape_reversed", lambda x: lamina.reshape(x, tuple(reversed(x.shape))),
         lambda a: a.reshape(tuple(reversed(a.shape))), fn="reshape", shares=False),
    view("reshape_infer", lambda x: x.reshape(-1, *x.shape[1:]), lambda a: a.reshape((-1,) + a.shape[1:]),
         fn="reshape", shares=False, shapes=[(1,), (6,), (4, 5), (2, 3, 4), (3, 1, 2)]),
    view("reshape_as", lambda x: x.reshape_as(lamina.empty(1, x.numel())), lambda a: a.reshape(1, -1), shares=False),
    view("permute", lambda x: x.permute(*reversed(range(x.ndim))), np.transpose),
    view("permute_negative", lambda x: lamina.permute(x, [d - x.ndim for d in range(x.ndim)][::-1]),
         np.transpose, fn="permute"),
    view("transpose", lambda x: x.transpose(0, -1), lambda a: np.swapaxes(a, 0, -1), min_ndim=1),
    view("swapaxes", lambda x: lamina.swapaxes(x, -1, 0), lambda a: np.swapaxes(a, 0, -1), min_ndim=1),
    view("swapdims", lambda x: x.swapdims(0, -1), lambda a: np.swapaxes(a, 0, -1), min_ndim=1),
    view("t", lambda x: x.t(), lambda a: a.T, shapes=[(), (0,), (6,), (4, 5), (1, 3), (0, 2)]),
    view("t_fn", lambda x: lamina.t(x), lambda a: a.T, fn="t", shapes=[(4, 5), (1, 3)]),
    view("mT", lambda x: x.mT, lambda a: np.swapaxes(a, -1, -2), min_ndim=2),
    view("T", lambda x: x.T, np.transpose),
    view("expand", lambda x: x.expand(2, *x.shape), lambda a: np.broadcast_to(a, (2,) + a.shape)),
    view("expand_keep", lambda x: x.expand(3, *([-1] * x.ndim)), lambda a: np.broadcast_to(a, (3,) + a.shape),
         fn="expand"),
    view("expand_unit_dims", lambda x: x.expand(*[3 if s == 1 else -1 for s in x.shape]),
         lambda a: np.broadcast_to(a, tuple(3 if s == 1 else s for s in a.shape)), fn="expand"),
    view("expand_as", lambda x: x.expand_as(lamina.empty(2, 1, *x.shape)),
         lambda a: np.broadcast_to(a, (2, 1) + a.shape)),
    view("squeeze", lambda x: x.squeeze(), np.squeeze),
    view("squeeze_dim", lambda x: x.squeeze(0), lambda a: a.squeeze(0) if a.shape[0] == 1 else a, fn="squeeze",
         min_ndim=1),
    view("squeeze_dims", lambda x: lamina.squeeze(x, (0, -1)),
         lambda a: a.squeeze(tuple(d for d in (0, a.ndim - 1) if a.shape[d] == 1)), fn="squeeze", min_ndim=2),
    view("unsqueeze", lambda x: x.unsqueeze(0), lambda a: a[None]),
    view("unsqueeze_last", lambda x: lamina.unsqueeze(x, -1), lambda a: a[..., None], fn="unsqueeze"),
    view("unsqueeze_middle", lambda x: x.unsqueeze(1), lambda a: np.expand_dims(a, 1), fn="unsqueeze", min_ndim=1),
    view("flatten", lambda x: x.flatten(), lambda a: a.reshape(-1), shares=False),
    view("flatten_tail", lambda x: lamina.flatten(x, 1), lambda a: a.reshape(a.shape[:1] + (-1,)), fn="flatten",
         shares=False, shapes=[(4, 5), (1, 3, 1), (2, 3, 4), (2, 1, 3, 2)]),
    view("flatten_middle", lambda x: x.flatten(-3, -2), lambda a: a.reshape(a.shape[:-3] + (-1, a.shape[-1])),
         fn="flatten", shares=False, min_ndim=3),
    view("unflatten", lambda x: x.unflatten(-1, (1, -1)), lambda a: a.reshape(a.shape[:-1] + (1, a.shape[-1])),
         min_ndim=1),
    view("unflatten_split", lambda x: lamina.unflatten(x, 0, (2, -1)),
         lambda a: a.reshape((2, a.shape[0] // 2) + a.shape[1:]), fn="unflatten",
         shapes=[(6,), (4, 5), (2, 3, 4), (0, 3)]),
    view("narrow", lambda x: x.narrow(-1, *_narrow_args(x.shape[-1])),
         lambda a: a[..., _narrow_args(a.shape[-1])[0]:sum(_narrow_args(a.shape[-1]))], min_ndim=1),
    view("narrow_negative_start", lambda x: lamina.narrow(x, 0, -1, 1), lambda a: a[-1:], fn="narrow",
         shapes=NONEMPTY_FIRST),
    view("select", lambda x: x.select(0, -1), lambda a: a[-1], shapes=NONEMPTY_FIRST),
    view("select_last_dim", lambda x: lamina.select(x, -1, 0), lambda a: a[..., 0], fn="select",
         shapes=[(6,), (4, 5), (1, 3, 1), (2, 3, 4)]),
    view("diagonal", lambda x: x.diagonal(), lambda a: np.diagonal(a), min_ndim=2),
    view("diagonal_offset", lambda x: lamina.diagonal(x, 1), lambda a: np.diagonal(a, 1), fn="diagonal", min_ndim=2),
    view("diagonal_negative_offset", lambda x: x.diagonal(-1), lambda a: np.diagonal(a, -1), fn="diagonal",
         min_ndim=2),
    view("diagonal_far_offset", lambda x: x.diagonal(10), lambda a: np.diagonal(a, 10), fn="diagonal", min_ndim=2),
    view("diagonal_dims", lambda x: x.diagonal(1, -1, 0), lambda a: np.diagonal(a, 1, -1, 0), fn="diagonal",
         min_ndim=2),
    view("diagonal_inner_dims", lambda x: x.diagonal(offset=-1, dim1=1, dim2=2), lambda a: np.diagonal(a, -1, 1, 2),
         fn="diagonal", min_ndim=3),
    view("unbind", lambda x: x.unbind(), lambda a: tuple(a), min_ndim=1),
    view("unbind_last", lambda x: lamina.unbind(x, -1), lambda a: tuple(np.moveaxis(a, -1, 0)), fn="unbind",
         min_ndim=1),
    view("chunk", lambda x: x.chunk(2, -1), lambda a: _pieces(a, -1, _chunk_sizes(a.shape[-1], 2)), min_ndim=1),
    view("chunk_uneven", lambda x: lamina.chunk(x, 4, 0), lambda a: _pieces(a, 0, _chunk_sizes(a.shape[0], 4)),
         fn="chunk", min_ndim=1),
    view("split", lambda x: x.split(2, -1), lambda a: _pieces(a, -1, _split_sizes(a.shape[-1], 2)), min_ndim=1),
    view("split_sizes", lambda x: lamina.split(x, [1, x.shape[0] - 1]), lambda a: _pieces(a, 0, [1, a.shape[0] - 1]),
         fn="split", shapes=NONEMPTY_FIRST),
    view("movedim", lambda x: x.movedim(0, -1), lambda a: np.moveaxis(a, 0, -1), min_ndim=1),
    view("movedim_tuples", lambda x: lamina.movedim(x, (0, 1), (-1, 0)), lambda a: np.moveaxis(a, (0, 1), (-1, 0)),
         fn="movedim", min_ndim=2),
    view("as_strided", lambda x: x.as_strided((2, 2), (1, 2)),
         lambda a: np.lib.stride_tricks.as_strided(a.reshape(-1), (2, 2), (a.itemsize, 2 * a.itemsize)),
         layouts=("contiguous",), shapes=AS_STRIDED),
    view("as_strided_offset", lambda x: lamina.as_strided(x, (3,), (1,), 1), lambda a: a.reshape(-1)[1:4],
         fn="as_strided", layouts=("contiguous",), shapes=AS_STRIDED),
]

COVERED_ELSEWHERE = {}
