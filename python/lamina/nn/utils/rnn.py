"""Variable-length sequences for the recurrent layers (PyTorch's torch.nn.utils.rnn).

A PackedSequence stores the time steps back to back: step t holds the batch_sizes[t] sequences
still running, longest first, so each step is a prefix of the (sorted) batch. Packing and padding
are one differentiable index_select each (rows of the input, plus one padding row).
"""

from collections import namedtuple

import numpy as np

from ... import _C

__all__ = ["PackedSequence", "invert_permutation", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence",
           "unpad_sequence", "pack_sequence", "unpack_sequence"]

_PackedSequenceBase = namedtuple("PackedSequence_", ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])


class PackedSequence(_PackedSequenceBase):
    """Packed time steps: data (sum(batch_sizes), *), batch_sizes (T,) int64, and the permutation
    sorted_indices (batch position -> original sequence) with its inverse unsorted_indices, both
    None when the input was already sorted by decreasing length."""

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None and sorted_indices is not None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is None:
            raise TypeError("PackedSequence: batch_sizes is required (build one with pack_padded_sequence)")
        if not isinstance(batch_sizes, _C.Tensor):
            batch_sizes = _C.tensor(list(batch_sizes), dtype=_C.dtype.int64)
        if batch_sizes.dim() != 1:
            raise ValueError(f"PackedSequence: batch_sizes should be a 1-D tensor, got shape {tuple(batch_sizes.shape)}")
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs):
        """Moves/casts data (batch_sizes stay int64 on the CPU, as in PyTorch)."""
        data = self.data.to(*args, **kwargs)
        return self if data is self.data else type(self)(data, self.batch_sizes, self.sorted_indices,
                                                          self.unsorted_indices)

    def float(self):
        return self.to(dtype=_C.dtype.float32)

    def double(self):
        return self.to(dtype=_C.dtype.float64)

    @property
    def is_cuda(self):
        return False

    def is_pinned(self):
        return False


def invert_permutation(permutation):
    """The inverse of an int64 permutation tensor (None stays None)."""
    if permutation is None:
        return None
    p = np.asarray(permutation.tolist(), dtype=np.int64)
    inv = np.empty_like(p)
    inv[p] = np.arange(p.size, dtype=np.int64)
    return _C.tensor(inv, dtype=_C.dtype.int64)


def _lengths_list(lengths, op):
    if isinstance(lengths, _C.Tensor):
        if lengths.dim() != 1:
            raise RuntimeError(f"{op}: expected a 1-D lengths tensor, got shape {tuple(lengths.shape)}")
        return [int(v) for v in lengths.tolist()]
    return [int(v) for v in lengths]


def _flat_rows(x):
    """x (T, B, *) as (T * B, *) rows (a view when x is contiguous)."""
    return x.reshape((x.shape[0] * x.shape[1],) + tuple(x.shape[2:]))


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Packs a padded batch input (T, B, *) (or (B, T, *) with batch_first) of sequences with the
    given lengths. With enforce_sorted the lengths must be decreasing; otherwise the batch is
    sorted here and the permutation kept in the result."""
    op = "pack_padded_sequence"
    lens = _lengths_list(lengths, op)
    if input.dim() < 2:
        raise RuntimeError(f"{op}: expected an input of at least 2 dims (T, B, *), got shape {tuple(input.shape)}")
    if batch_first:
        input = input.transpose(0, 1)
    T, B = int(input.shape[0]), int(input.shape[1])
    if len(lens) != B:
        raise RuntimeError(f"{op}: Expected `len(lengths)` to be equal to batch_size, but got {len(lens)} "
                           f"(batch_size={B}) for input of shape {tuple(input.shape)}")
    if B == 0 or input.numel() == 0:
        raise RuntimeError(f"{op}: Cannot pack empty tensors (input shape {tuple(input.shape)})")
    if enforce_sorted:
        if any(lens[i] < lens[i + 1] for i in range(B - 1)):
            raise RuntimeError(f"{op}: `lengths` array must be sorted in decreasing order when `enforce_sorted` is "
                               f"True, got {lens}. You can pass `enforce_sorted=False` to pack_padded_sequence "
                               "and/or pack_sequence to sidestep this requirement if you do not need ONNX "
                               "exportability.")
        order = list(range(B))
        sorted_indices = None
    else:
        order = sorted(range(B), key=lambda b: -lens[b])  # stable, like a stable descending sort
        sorted_indices = _C.tensor(order, dtype=_C.dtype.int64)
    slens = [lens[b] for b in order]
    if slens[-1] <= 0:
        raise RuntimeError(f"{op}: Length of all samples has to be greater than 0, but found an element in "
                           f"'lengths' that is <= 0 (lengths {lens})")
    if slens[0] > T:
        raise RuntimeError(f"{op}: the longest length {slens[0]} exceeds the padded sequence length {T} of input "
                           f"{tuple(input.shape)}")
    batch_sizes = [sum(1 for v in slens if v > t) for t in range(slens[0])]
    rows = [t * B + order[j] for t, n in enumerate(batch_sizes) for j in range(n)]
    data = _C.index_select(_flat_rows(input), 0, _C.tensor(rows, dtype=_C.dtype.int64))
    return PackedSequence(data, _C.tensor(batch_sizes, dtype=_C.dtype.int64), sorted_indices,
                          invert_permutation(sorted_indices))


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Inverse of pack_padded_sequence: returns (padded (T, B, *) or (B, T, *), lengths int64 (B,)),
    the batch in its original order; total_length pads T up to that length."""
    data, batch_sizes, _, unsorted = sequence
    bs = [int(v) for v in batch_sizes.tolist()]
    T, B = len(bs), (bs[0] if bs else 0)
    if total_length is not None:
        if total_length < T:
            raise ValueError("pad_packed_sequence: Expected total_length to be at least the length of the longest "
                             f"sequence in input, but got total_length={total_length} and max sequence length being "
                             f"{T}")
        T_out = int(total_length)
    else:
        T_out = T
    slens = [sum(1 for n in bs if n > j) for j in range(B)]  # length of sorted sequence j
    offsets = np.concatenate([[0], np.cumsum(bs)]).astype(np.int64)
    pos = list(range(B)) if unsorted is None else [int(v) for v in unsorted.tolist()]  # sorted position of b
    pad_row = int(data.shape[0])
    idx = np.full((T_out, B), pad_row, dtype=np.int64)
    for b in range(B):
        j = pos[b]
        for t in range(slens[j]):
            idx[t, b] = offsets[t] + j
    if batch_first:
        idx = idx.T
    pad = _C.full((1,) + tuple(data.shape[1:]), padding_value, dtype=data.dtype)
    rows = _C.index_select(_C.cat([data, pad], 0), 0, _C.tensor(idx.reshape(-1), dtype=_C.dtype.int64))
    padded = rows.reshape(idx.shape + tuple(data.shape[1:]))
    lengths = _C.tensor([slens[pos[b]] for b in range(B)], dtype=_C.dtype.int64)
    return padded, lengths


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stacks tensors (L_i, *) into (max L, B, *) (or (B, max L, *)), padding with padding_value at
    the end (padding_side="right") or the start ("left")."""
    if padding_side not in ("left", "right"):
        raise ValueError(f"pad_sequence: Expected padding_side to be one of left or right, but got {padding_side}.")
    if isinstance(sequences, _C.Tensor):
        sequences = list(sequences.unbind(0))
    sequences = list(sequences)
    if not sequences:
        raise RuntimeError("pad_sequence: received an empty list of sequences")
    trailing = tuple(sequences[0].shape[1:])
    for s in sequences:
        if s.dim() < 1 or tuple(s.shape[1:]) != trailing:
            raise RuntimeError(f"pad_sequence: every sequence needs the trailing shape {trailing} of the first, got "
                               f"{tuple(s.shape)}")
    lens = [int(s.shape[0]) for s in sequences]
    T, B = max(lens), len(sequences)
    starts = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    pad_row = int(starts[-1])
    idx = np.full((T, B), pad_row, dtype=np.int64)
    for b, n in enumerate(lens):
        first = 0 if padding_side == "right" else T - n
        idx[first:first + n, b] = starts[b] + np.arange(n)
    if batch_first:
        idx = idx.T
    pad = _C.full((1,) + trailing, padding_value, dtype=sequences[0].dtype)
    rows = _C.index_select(_C.cat(list(sequences) + [pad], 0), 0, _C.tensor(idx.reshape(-1), dtype=_C.dtype.int64))
    return rows.reshape(idx.shape + trailing)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of sequences (L_i, *) inside a right-padded batch."""
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    return [padded_sequences[b, :n] for b, n in enumerate(_lengths_list(lengths, "unpad_sequence"))]


def pack_sequence(sequences, enforce_sorted=True):
    """Packs a list of tensors (L_i, *) (decreasing lengths unless enforce_sorted=False)."""
    lengths = [int(s.shape[0]) for s in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences):
    """The list of sequences inside a PackedSequence, in their original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)
