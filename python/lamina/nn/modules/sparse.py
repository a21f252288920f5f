"""Embedding: a lookup table of num_embeddings vectors, indexed by int64 tensors.

Forward is index_select on the weight. With padding_idx the output row is the weight's row (zero
at init) but that row receives no gradient: the backward scatters the incoming gradient with
index_add and leaves out the positions holding padding_idx.
"""

from ... import _C
from ...autograd.function import Function
from ...autograd.grad_mode import no_grad
from .. import init
from ..parameter import Parameter
from .linear import _factory
from .module import Module

__all__ = ["Embedding"]


class _EmbeddingPadded(Function):
    @staticmethod
    def forward(ctx, weight, flat_idx, padding_idx):
        ctx.save_for_backward(flat_idx)
        ctx.num_weights = weight.shape[0]
        ctx.padding_idx = padding_idx
        return weight.index_select(0, flat_idx)

    @staticmethod
    def backward(ctx, grad):
        (flat_idx,) = ctx.saved_tensors
        keep = (flat_idx != ctx.padding_idx).unsqueeze(1)
        grad = grad.masked_fill(keep.logical_not(), 0.0)
        zeros = _C.zeros((ctx.num_weights, grad.shape[1]), dtype=grad.dtype)
        return _C.index_add(zeros, 0, flat_idx, grad), None, None


def _embedding(input, weight, padding_idx=None, max_norm=None, norm_type=2.0):
    if input.dtype not in (_C.dtype.int64, _C.dtype.int32):
        raise RuntimeError(f"embedding: expected indices of dtype int64 or int32, got {input.dtype}")
    flat = input.reshape(-1)
    if input.dtype != _C.dtype.int64:
        flat = flat.long()
    n = weight.shape[0]
    if flat.numel() > 0:
        lo, hi = int(flat.min().item()), int(flat.max().item())
        if lo < 0 or hi >= n:
            bad = lo if lo < 0 else hi
            raise IndexError(f"embedding: index {bad} out of range for an embedding of {n} rows")
    if max_norm is not None:
        with no_grad():
            w = weight.data
            rows = w.index_select(0, flat)
            norms = rows.norm(norm_type, 1, True)
            scale = _C.where(norms > max_norm, max_norm / (norms + 1e-7), _C.ones_like(norms))
            w[flat] = rows * scale
    if padding_idx is not None and weight.requires_grad and _C.is_grad_enabled():
        out = _EmbeddingPadded.apply(weight, flat, padding_idx)
    else:
        out = weight.index_select(0, flat)
    return out.reshape(tuple(input.shape) + (weight.shape[1],))


class Embedding(Module):
    """(*) int64 indices -> (*, embedding_dim). weight (num_embeddings, embedding_dim) starts as N(0, 1),
    with the padding_idx row zeroed."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None, norm_type=2.0,
                 scale_grad_by_freq=False, sparse=False, _weight=None, _freeze=False, device=None, dtype=None):
        super().__init__()
        if scale_grad_by_freq or sparse:
            raise NotImplementedError("Embedding: scale_grad_by_freq and sparse gradients are not supported")
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        if padding_idx is not None:
            if padding_idx > 0:
                if padding_idx >= num_embeddings:
                    raise AssertionError("Padding_idx must be within num_embeddings")
            elif padding_idx < 0:
                if padding_idx < -num_embeddings:
                    raise AssertionError("Padding_idx must be within num_embeddings")
                padding_idx = num_embeddings + padding_idx
        self.padding_idx = padding_idx
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse
        if _weight is None:
            self.weight = Parameter(_C.empty((num_embeddings, embedding_dim), **_factory(device, dtype)),
                                    requires_grad=not _freeze)
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise AssertionError("Shape of weight does not match num_embeddings and embedding_dim")
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self):
        init.normal_(self.weight)
        self._fill_padding_idx_with_zero()

    def _fill_padding_idx_with_zero(self):
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx].fill_(0)

    def forward(self, input):
        return _embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type)

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        return s

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None, max_norm=None, norm_type=2.0,
                        scale_grad_by_freq=False, sparse=False):
        if embeddings.dim() != 2:
            raise AssertionError("Embeddings parameter is expected to be 2-dimensional")
        rows, cols = tuple(embeddings.shape)
        return cls(rows, cols, _weight=embeddings, _freeze=freeze, padding_idx=padding_idx, max_norm=max_norm,
                   norm_type=norm_type, scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)
