"""Embedding and EmbeddingBag: lookup tables of num_embeddings vectors indexed by int64/int32 tensors.

The math (lookup, padding_idx, max_norm, scale_grad_by_freq, bags) lives in F.embedding and
F.embedding_bag; these modules hold the weight and the options.
"""

from ... import _C
from ...autograd.grad_mode import no_grad
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .linear import _factory
from .module import Module

__all__ = ["Embedding", "EmbeddingBag"]

_NO_SPARSE = "{}: sparse=True needs sparse gradients, which lamina does not have; use sparse=False"


def _make_weight(module, num_embeddings, embedding_dim, _weight, freeze, device, dtype):
    if _weight is None:
        module.weight = Parameter(_C.empty((num_embeddings, embedding_dim), **_factory(device, dtype)),
                                  requires_grad=not freeze)
        module.reset_parameters()
    else:
        if tuple(_weight.shape) != (num_embeddings, embedding_dim):
            raise AssertionError("Shape of weight does not match num_embeddings and embedding_dim")
        module.weight = Parameter(_weight, requires_grad=not freeze)


class _EmbeddingBase(Module):
    def _init_options(self, name, num_embeddings, embedding_dim, padding_idx, max_norm, norm_type,
                      scale_grad_by_freq, sparse):
        if sparse:
            raise NotImplementedError(_NO_SPARSE.format(name))
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = F._embedding_padding_idx(padding_idx, num_embeddings, name)
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse

    def reset_parameters(self):
        init.normal_(self.weight)
        self._fill_padding_idx_with_zero()

    def _fill_padding_idx_with_zero(self):
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx].fill_(0)

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            s += ", scale_grad_by_freq=True"
        return s


class Embedding(_EmbeddingBase):
    """(*) int64/int32 indices -> (*, embedding_dim), the rows of weight (num_embeddings, embedding_dim).

    weight starts as N(0, 1) with the padding_idx row zeroed; that row gets no gradient. See
    F.embedding for max_norm (renormalizes weight in place) and scale_grad_by_freq.
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, max_norm=None, norm_type=2.0,
                 scale_grad_by_freq=False, sparse=False, _weight=None, _freeze=False, device=None, dtype=None):
        super().__init__()
        self._init_options("Embedding", num_embeddings, embedding_dim, padding_idx, max_norm, norm_type,
                           scale_grad_by_freq, sparse)
        _make_weight(self, num_embeddings, embedding_dim, _weight, _freeze, device, dtype)

    def forward(self, input):
        return F.embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                           self.scale_grad_by_freq, self.sparse)

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None, max_norm=None, norm_type=2.0,
                        scale_grad_by_freq=False, sparse=False):
        """An Embedding whose weight is `embeddings` (V, D), frozen unless freeze=False."""
        if embeddings.dim() != 2:
            raise AssertionError("Embeddings parameter is expected to be 2-dimensional")
        rows, cols = tuple(embeddings.shape)
        return cls(rows, cols, _weight=embeddings, _freeze=freeze, padding_idx=padding_idx, max_norm=max_norm,
                   norm_type=norm_type, scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)


class EmbeddingBag(_EmbeddingBase):
    """Sums, means or maxes bags of embeddings: input (B, L), or input (N,) with offsets -> (B, embedding_dim).

    forward(input, offsets=None, per_sample_weights=None); see F.embedding_bag for the bag layout,
    the modes and the options. weight (num_embeddings, embedding_dim) starts as N(0, 1), the
    padding_idx row zeroed (padding entries are left out of their bags).
    """

    def __init__(self, num_embeddings, embedding_dim, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
                 mode="mean", sparse=False, _weight=None, include_last_offset=False, padding_idx=None,
                 device=None, dtype=None, _freeze=False):
        super().__init__()
        if mode not in ("sum", "mean", "max"):
            raise ValueError(f"EmbeddingBag: mode has to be one of sum, mean or max, but got {mode!r}")
        self._init_options("EmbeddingBag", num_embeddings, embedding_dim, padding_idx, max_norm, norm_type,
                           scale_grad_by_freq, sparse)
        self.mode = mode
        self.include_last_offset = include_last_offset
        _make_weight(self, num_embeddings, embedding_dim, _weight, _freeze, device, dtype)

    def forward(self, input, offsets=None, per_sample_weights=None):
        return F.embedding_bag(input, self.weight, offsets, self.max_norm, self.norm_type, self.scale_grad_by_freq,
                               self.mode, self.sparse, per_sample_weights, self.include_last_offset,
                               self.padding_idx)

    def extra_repr(self):
        s = super().extra_repr() + f", mode={self.mode!r}"
        if self.include_last_offset:
            s += ", include_last_offset=True"
        return s

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
                        mode="mean", sparse=False, include_last_offset=False, padding_idx=None):
        """An EmbeddingBag whose weight is `embeddings` (V, D), frozen unless freeze=False."""
        if embeddings.dim() != 2:
            raise AssertionError("Embeddings parameter is expected to be 2-dimensional")
        rows, cols = tuple(embeddings.shape)
        return cls(rows, cols, max_norm=max_norm, norm_type=norm_type, scale_grad_by_freq=scale_grad_by_freq,
                   mode=mode, sparse=sparse, _weight=embeddings, include_last_offset=include_last_offset,
                   padding_idx=padding_idx, _freeze=freeze)
