"""lamina.nn.utils.rnn: pad_sequence, pack_padded_sequence (enforce_sorted both ways),
pad_packed_sequence (batch_first, padding_value, total_length), pack_sequence and the unpack
helpers, against hand-built numpy layouts; gradients flow through packing and padding; torch
comparisons of the packed layout."""

import numpy as np
import pytest

import lamina
from lamina.autograd import gradcheck
from lamina.nn.utils import rnn as U


def rng(seed=0):
    return np.random.default_rng(seed)


def seqs_np(lens, feat=(2,), seed=0):
    return [rng(seed + i).normal(size=(n,) + feat) for i, n in enumerate(lens)]


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_pad_sequence(batch_first, padding_side):
    lens = [2, 4, 1]
    seqs = seqs_np(lens, (2, 3))
    out = U.pad_sequence([lamina.tensor(s) for s in seqs], batch_first=batch_first, padding_value=-1.5,
                         padding_side=padding_side)
    ref = np.full((4, 3, 2, 3), -1.5)
    for b, s in enumerate(seqs):
        if padding_side == "right":
            ref[:len(s), b] = s
        else:
            ref[4 - len(s):, b] = s
    np.testing.assert_array_equal(out.numpy(), ref.transpose(1, 0, 2, 3) if batch_first else ref)


def test_pack_padded_sequence_sorted_layout():
    lens = [4, 3, 1]
    x = rng(1).normal(size=(5, 3, 2))  # T padded beyond the longest length
    p = U.pack_padded_sequence(lamina.tensor(x), lens)
    assert p.batch_sizes.tolist() == [3, 2, 2, 1] and p.batch_sizes.dtype == lamina.int64
    assert p.sorted_indices is None and p.unsorted_indices is None
    ref = np.concatenate([x[t, :n] for t, n in enumerate([3, 2, 2, 1])])
    np.testing.assert_array_equal(p.data.numpy(), ref)
    # Tensor lengths and batch_first give the same packing.
    q = U.pack_padded_sequence(lamina.tensor(x.transpose(1, 0, 2).copy()), lamina.tensor(lens), batch_first=True)
    np.testing.assert_array_equal(q.data.numpy(), ref)


def test_pack_padded_sequence_unsorted():
    lens = [2, 5, 3]
    x = rng(2).normal(size=(5, 3, 2))
    p = U.pack_padded_sequence(lamina.tensor(x), lens, enforce_sorted=False)
    assert p.sorted_indices.tolist() == [1, 2, 0] and p.unsorted_indices.tolist() == [2, 0, 1]
    assert p.batch_sizes.tolist() == [3, 3, 2, 1, 1]
    order = [1, 2, 0]
    ref = np.concatenate([x[t, order[:n]] for t, n in enumerate([3, 3, 2, 1, 1])])
    np.testing.assert_array_equal(p.data.numpy(), ref)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_pad_packed_round_trip(batch_first, enforce_sorted):
    lens = [5, 3, 3, 1] if enforce_sorted else [3, 1, 5, 3]
    seqs = seqs_np(lens, (2,), seed=3)
    packed = U.pack_sequence([lamina.tensor(s) for s in seqs], enforce_sorted=enforce_sorted)
    padded, lengths = U.pad_packed_sequence(packed, batch_first=batch_first, padding_value=7.0, total_length=6)
    assert lengths.tolist() == lens and lengths.dtype == lamina.int64
    ref = np.full((6, 4, 2), 7.0)
    for b, s in enumerate(seqs):
        ref[:len(s), b] = s
    np.testing.assert_array_equal(padded.numpy(), ref.transpose(1, 0, 2) if batch_first else ref)
    back = U.unpack_sequence(packed)
    for a, s in zip(back, seqs):
        np.testing.assert_array_equal(a.numpy(), s)
    unpadded = U.unpad_sequence(padded[:5] if not batch_first else padded[:, :5], lengths, batch_first=batch_first)
    for a, s in zip(unpadded, seqs):
        np.testing.assert_array_equal(a.numpy(), s)


def test_packed_sequence_is_a_namedtuple():
    p = U.pack_sequence([lamina.ones(3, 2), lamina.ones(1, 2)])
    data, batch_sizes, sorted_indices, unsorted_indices = p
    assert p._fields == ("data", "batch_sizes", "sorted_indices", "unsorted_indices")
    assert data is p.data and sorted_indices is None and unsorted_indices is None
    assert p.double().data.dtype == lamina.float64
    q = U.PackedSequence(p.data, p.batch_sizes, lamina.tensor([1, 0]))
    assert q.unsorted_indices.tolist() == [1, 0]


def test_gradients_flow_through_pack_and_pad():
    x = lamina.tensor(rng(4).normal(size=(4, 3, 2))).requires_grad_(True)

    def f(x):
        p = U.pack_padded_sequence(x, [2, 4, 3], enforce_sorted=False)
        return U.pad_packed_sequence(p, batch_first=True, padding_value=1.0)[0] * 2

    assert gradcheck(f, (x,))
    a = lamina.tensor(rng(5).normal(size=(3, 2))).requires_grad_(True)
    b = lamina.tensor(rng(6).normal(size=(1, 2))).requires_grad_(True)
    assert gradcheck(lambda a, b: U.pad_sequence([a, b], padding_side="left") * 3, (a, b))


@pytest.mark.torch
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_packing_matches_torch(enforce_sorted):
    torch = pytest.importorskip("torch")
    TU = torch.nn.utils.rnn
    lens = [6, 4, 4, 2, 1] if enforce_sorted else [2, 6, 1, 4, 4]
    seqs = seqs_np(lens, (3,), seed=7)
    tp = TU.pack_sequence([torch.tensor(s) for s in seqs], enforce_sorted=enforce_sorted)
    lp = U.pack_sequence([lamina.tensor(s) for s in seqs], enforce_sorted=enforce_sorted)
    assert lp.batch_sizes.tolist() == tp.batch_sizes.tolist()
    np.testing.assert_array_equal(lp.data.numpy(), tp.data.numpy())
    if not enforce_sorted:
        assert lp.sorted_indices.tolist() == tp.sorted_indices.tolist()
        assert lp.unsorted_indices.tolist() == tp.unsorted_indices.tolist()
    for bf in (False, True):
        tpad, tl = TU.pad_packed_sequence(tp, batch_first=bf, padding_value=-2.0, total_length=8)
        lpad, ll = U.pad_packed_sequence(lp, batch_first=bf, padding_value=-2.0, total_length=8)
        np.testing.assert_array_equal(lpad.numpy(), tpad.numpy())
        assert ll.tolist() == tl.tolist()
    for side in ("left", "right"):
        ref = TU.pad_sequence([torch.tensor(s) for s in seqs], batch_first=True, padding_side=side)
        got = U.pad_sequence([lamina.tensor(s) for s in seqs], batch_first=True, padding_side=side)
        np.testing.assert_array_equal(got.numpy(), ref.numpy())
