"""Functional forms of neural-network operations (PyTorch's torch.nn.functional).

softmax, log_softmax, cross_entropy, nll_loss, layer_norm, batch_norm, group_norm and dropout run
fused C++ kernels (forward and backward); the other losses and activations are short compositions
of lamina ops, whose gradients come from those ops.
"""

import math

import numpy as np

from .. import _C
# embedding, embedding_bag and apply_rotary_emb live in their own module, re-exported here.
from ._embedding import _embedding_padding_idx, apply_rotary_emb, embedding, embedding_bag  # noqa: F401


def one_hot(tensor, num_classes=-1):
    """One-hot encoding of an int64 tensor of class indices.

    Args:
        tensor: int64 tensor of any shape (*), values in [0, num_classes).
        num_classes: number of classes C; -1 infers it as ``tensor.max() + 1``.

    Returns:
        int64 tensor of shape (*, C) with a single 1 per row, at the class index.
    """
    return _C._one_hot(tensor, num_classes)


# input (*, in_features) @ weight (out_features, in_features)^T + bias (out_features,) -> (*, out_features),
# the bias fused into the matrix product's store; bound directly so a call costs no Python frame.
linear = _C._linear


# ---- softmax ------------------------------------------------------------------------------------

def _softmax_dim(ndim):
    # PyTorch's implicit choice when dim is None (deprecated there, kept for ported code).
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    """exp(x) / sum(exp(x)) along `dim` (any shape; computed with max subtraction)."""
    return _C.softmax(input, _softmax_dim(input.dim()) if dim is None else dim, dtype=dtype)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """x - logsumexp(x) along `dim`."""
    return _C.log_softmax(input, _softmax_dim(input.dim()) if dim is None else dim, dtype=dtype)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    return softmax(-input, dim, dtype=dtype)


# ---- normalization ------------------------------------------------------------------------------

def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalizes over the trailing dims `normalized_shape` (int or tuple), then weight * x + bias."""
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    return _C.layer_norm(input, list(normalized_shape), weight, bias, eps)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """Per-channel normalization of input (N, C, *). Training uses batch statistics and updates the
    running ones in place (running_var with the unbiased variance); eval uses the running ones."""
    return _C._batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Normalizes input (N, C, *) over groups of C // num_groups channels; weight/bias are (C,)."""
    return _C.group_norm(input, num_groups, weight, bias, eps)


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats=True,
                  momentum=0.1, eps=1e-5):
    """Per-sample, per-channel normalization: group_norm with one group per channel."""
    if not use_input_stats or running_mean is not None or running_var is not None:
        raise NotImplementedError("instance_norm: running statistics are not supported")
    return group_norm(input, input.shape[1], weight, bias, eps)


def prelu(input, weight):
    """x where x > 0, else weight * x, with one weight per channel (dim 1) or one for all."""
    if weight.dim() != 1 and weight.numel() != 1:
        raise RuntimeError(f"prelu: weight must be 1-d or a single value, got shape {tuple(weight.shape)}")
    channels = input.shape[1] if input.dim() >= 2 else 1
    if weight.numel() not in (1, channels):
        raise RuntimeError(f"prelu: mismatch in parameter count: weight has {weight.numel()} elements, input "
                           f"{tuple(input.shape)} has {channels} channels (dim 1)")
    if weight.numel() > 1:  # (C,) against (N, C, *)
        weight = weight.reshape([channels] + [1] * (input.dim() - 2))
    elif weight.dim() > 0:
        weight = weight.reshape(())
    # At x = 0 the slope is the weight's (PyTorch's convention): the select sends 0 to the else branch.
    return _C.where(input > 0, input, weight * input)


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """sum((x1 / ||x1||) (x2 / ||x2||)) along dim, x1 and x2 broadcast. As PyTorch, each norm is
    clamped at eps for its value only (the gradient is the unclamped norm's), and dividing before
    multiplying keeps the result within [-1, 1]."""
    shape = tuple(np.broadcast_shapes(tuple(x1.shape), tuple(x2.shape)))
    x1, x2 = x1.expand(shape), x2.expand(shape)

    def norm(x):
        n = _C.norm(x, 2.0, dim, True)
        return n + (n.clamp(min=eps) - n).detach()
    return ((x1 / norm(x1)) * (x2 / norm(x2))).sum(dim)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """||x1 - x2 + eps||_p over the last dim (PyTorch adds eps to the difference)."""
    return _C.norm(x1 - x2 + eps, p, -1, keepdim)


def pixel_shuffle(input, upscale_factor):
    """(*, C r^2, H, W) -> (*, C, H r, W r): sub-pixel convolution's rearrangement."""
    r = upscale_factor
    if input.dim() < 3 or input.shape[-3] % (r * r):
        raise RuntimeError(f"pixel_shuffle: expected an input (*, C*r^2, H, W) with r={r}, got {tuple(input.shape)}")
    *batch, c, h, w = input.shape
    x = input.reshape(*batch, c // (r * r), r, r, h, w)
    n = len(batch)
    x = x.permute(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return x.reshape(*batch, c // (r * r), h * r, w * r)


def pixel_unshuffle(input, downscale_factor):
    """(*, C, H r, W r) -> (*, C r^2, H, W): the inverse of pixel_shuffle."""
    r = downscale_factor
    if input.dim() < 3 or input.shape[-2] % r or input.shape[-1] % r:
        raise RuntimeError(f"pixel_unshuffle: expected an input (*, C, H*r, W*r) with r={r}, got {tuple(input.shape)}")
    *batch, c, h, w = input.shape
    x = input.reshape(*batch, c, h // r, r, w // r, r)
    n = len(batch)
    x = x.permute(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return x.reshape(*batch, c * r * r, h // r, w // r)


def normalize(input, p=2.0, dim=1, eps=1e-12, out=None):
    """input / max(||input||_p along dim, eps)."""
    if out is not None:
        raise TypeError("normalize: out= is not supported")
    return input / _C.norm(input, p, dim, True).clamp(min=eps).expand_as(input)


# ---- attention ----------------------------------------------------------------------------------

def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """softmax(query @ key^T * scale + mask) @ value over the last two dims, as one fused kernel.

    query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev); the batch dims
    broadcast. attn_mask broadcasts to (..., L, S): a bool mask keeps the True positions, a float
    mask is added to the scores. is_causal masks key j > query i (top-left aligned). scale
    defaults to 1 / sqrt(E). enable_gqa lets key/value have fewer heads (dim -3) than query, each
    shared by a group of query heads. Memory is O(L) per head (no L x S matrix), a row with every
    key masked gives zeros, and dropout masks come from the counter-based generator. Gradients
    are first-order (create_graph raises).
    """
    return _C._scaled_dot_product_attention(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa)


# ---- dropout ------------------------------------------------------------------------------------

def _check_p(p):
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def dropout(input, p=0.5, training=True, inplace=False):
    """Zeroes each element with probability p (Philox counter-based draws, independent of the thread
    count) and scales the rest by 1 / (1 - p). Identity when not training."""
    _check_p(p)
    if inplace:
        return _C._dropout_(input, p, training)
    return _C.dropout(input, p, training)


def _channel_mask(input, p, batched):
    n_spatial = input.dim() - (2 if batched else 1)
    shape = tuple(input.shape[: input.dim() - n_spatial]) + (1,) * n_spatial
    keep = _C.bernoulli(_C.full(shape, 1.0 - p, dtype=input.dtype))
    return keep / (1.0 - p) if p < 1.0 else keep


def _feature_dropout(input, p, training, inplace, name, spatial):
    _check_p(p)
    if not training or p == 0.0:
        return input
    if input.dim() not in (spatial + 1, spatial + 2):
        raise RuntimeError(f"{name}: expected a {spatial + 1}-d or {spatial + 2}-d input, got {tuple(input.shape)}")
    mask = _channel_mask(input, p, input.dim() == spatial + 2)
    return input.mul_(mask) if inplace else input * mask


def dropout1d(input, p=0.5, training=True, inplace=False):
    """Zeroes whole channels of (N, C, L) or (C, L) input."""
    return _feature_dropout(input, p, training, inplace, "dropout1d", 1)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zeroes whole channels of (N, C, H, W) or (C, H, W) input with probability p."""
    return _feature_dropout(input, p, training, inplace, "dropout2d", 2)


def dropout3d(input, p=0.5, training=True, inplace=False):
    return _feature_dropout(input, p, training, inplace, "dropout3d", 3)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def alpha_dropout(input, p=0.5, training=False, inplace=False):
    """Dropout that keeps SELU's zero mean and unit variance: dropped elements take the value
    -alpha * scale, then an affine map restores the moments."""
    _check_p(p)
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * 0.0
    alpha = _SELU_ALPHA * _SELU_SCALE
    a = 1.0 / math.sqrt((alpha * alpha * p + 1) * (1 - p))
    keep = _C.bernoulli(_C.full(tuple(input.shape), 1.0 - p, dtype=input.dtype))
    out = input * (keep * a) + ((keep - 1.0) * (alpha * a) + alpha * a * p)
    return input.copy_(out) if inplace else out


# ---- activations --------------------------------------------------------------------------------

def relu(input, inplace=False):
    return _C.relu_(input) if inplace else _C.relu(input)


def _maybe_inplace(input, out, inplace):
    return input.copy_(out) if inplace else out


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    return _maybe_inplace(input, _C.hardtanh(input, min_val, max_val), inplace)


def relu6(input, inplace=False):
    return hardtanh(input, 0.0, 6.0, inplace)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    return _maybe_inplace(input, _C.where(input > 0, input, input * negative_slope), inplace)


def elu(input, alpha=1.0, inplace=False):
    return _maybe_inplace(input, _C.elu(input, alpha), inplace)


def selu(input, inplace=False):
    return _maybe_inplace(input, _C.elu(input, _SELU_ALPHA, _SELU_SCALE), inplace)


def celu(input, alpha=1.0, inplace=False):
    if alpha == 0:
        raise ValueError("celu: alpha cannot be 0")
    return _maybe_inplace(input, _C.elu(input, alpha, 1.0, 1.0 / alpha), inplace)


def gelu(input, approximate="none"):
    return _C.gelu(input, approximate=approximate)


def silu(input, inplace=False):
    return _maybe_inplace(input, _C.silu(input), inplace)


def mish(input, inplace=False):
    return _maybe_inplace(input, _C.mish(input), inplace)


def tanh(input):
    return _C.tanh(input)


def sigmoid(input):
    return _C.sigmoid(input)


def softplus(input, beta=1.0, threshold=20.0):
    return _C.softplus(input, beta, threshold)


def hardsigmoid(input, inplace=False):
    return _maybe_inplace(input, _C.hardsigmoid(input), inplace)


def hardswish(input, inplace=False):
    return _maybe_inplace(input, _C.hardswish(input), inplace)


def logsigmoid(input):
    return -_C.softplus(-input)


def softsign(input):
    return input / (_C.abs(input) + 1.0)


def tanhshrink(input):
    return input - _C.tanh(input)


# ---- losses -------------------------------------------------------------------------------------

def _reduction(size_average, reduce, reduction):
    """The legacy size_average/reduce flags mapped onto reduction, as in PyTorch."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    if not reduce:
        return "none"
    return "mean" if size_average else "sum"


def _reduce(loss, reduction, name):
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    raise ValueError(f"{name}: {reduction} is not a valid value for reduction")


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean",
                  label_smoothing=0.0):
    """Cross entropy of logits input (C), (N, C) or (N, C, d1, ...) with class-index targets (int64,
    the input's shape without C) or class probabilities (the input's shape). One fused kernel
    computes log_softmax, the weighted NLL and label smoothing."""
    reduction = _reduction(size_average, reduce, reduction)
    return _C._cross_entropy(input, target, weight, ignore_index, reduction, label_smoothing)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    """Negative log likelihood of log-probabilities input (N, C, ...) at class-index targets."""
    reduction = _reduction(size_average, reduce, reduction)
    return _C._nll_loss(input, target, weight, ignore_index, reduction)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    return _reduce(_C.square(input - target), _reduction(size_average, reduce, reduction), "mse_loss")


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    return _reduce(_C.abs(input - target), _reduction(size_average, reduce, reduction), "l1_loss")


def _huber_pieces(input, target, delta):
    """0.5 r^2 where |r| < delta, delta (|r| - 0.5 delta) elsewhere (r = input - target), with the
    gradients and second derivatives of PyTorch's huber_loss:
    - the inner piece squares r only where it is used (r_in is 0 elsewhere), so a huge or
      infinite r never meets a zero gradient (0 * inf = NaN) in either derivative;
    - the outer piece is c (r - c / 2) with c = clamp(r, -delta, delta) held constant: its slope is
      +-delta, NaN for a NaN r, and its curvature 0 (so 0 from |r| = delta on, 1 at r = 0)."""
    r = input - target
    inside = _C.abs(r) < delta
    r_in = _C.where(inside, r, 0.0)
    c = _C.clamp(r, -delta, delta).detach()
    return _C.where(inside, _C.square(r_in) * 0.5, c * (r - c * 0.5))


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, |d| - 0.5 beta elsewhere (d = input - target)."""
    if beta < 0:
        raise ValueError("smooth_l1_loss: beta must be non-negative")
    loss = _C.abs(input - target) if beta == 0 else _huber_pieces(input, target, beta) * (1.0 / beta)
    return _reduce(loss, _reduction(size_average, reduce, reduction), "smooth_l1_loss")


def huber_loss(input, target, reduction="mean", delta=1.0, weight=None):
    """0.5 d^2 where |d| < delta, delta (|d| - 0.5 delta) elsewhere."""
    if delta <= 0:
        raise ValueError("huber_loss: delta must be positive")
    loss = _huber_pieces(input, target, delta)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "huber_loss")


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """-(t log(x) + (1 - t) log(1 - x)) with the logs clamped at -100, as in PyTorch."""
    reduction = _reduction(size_average, reduce, reduction)
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"binary_cross_entropy: target {tuple(target.shape)} does not match input "
                         f"{tuple(input.shape)}")
    if input.numel() and not bool(((input >= 0) & (input <= 1)).all()):
        raise RuntimeError("binary_cross_entropy: all elements of input should be between 0 and 1")
    loss = _C._binary_cross_entropy(input, target.to(input.dtype))
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None, reduction="mean",
                                     pos_weight=None):
    """Sigmoid + binary cross entropy in one stable expression:
    (1 - t) x + (1 + (pos_weight - 1) t) softplus(-x)."""
    reduction = _reduction(size_average, reduce, reduction)
    if tuple(input.shape) != tuple(target.shape):
        raise ValueError(f"binary_cross_entropy_with_logits: target {tuple(target.shape)} does not match input "
                         f"{tuple(input.shape)}")
    sp = _C.softplus(-input)
    if pos_weight is not None:
        loss = (1.0 - target) * input + (1.0 + (pos_weight - 1.0) * target) * sp
    else:
        loss = (1.0 - target) * input + sp
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """KL(target || exp(input)) pointwise: target (log target - input); 'batchmean' divides the sum by
    the batch size (the mathematically correct KL), 'mean' by the element count."""
    reduction = _reduction(size_average, reduce, reduction)
    if log_target:
        loss = _C.exp(target) * (target - input)
    else:
        safe = _C.where(target > 0, target, 1.0)
        loss = _C.where(target > 0, target * _C.log(safe), 0.0) - target * input
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.dim() > 0 else 1)
    return _reduce(loss, reduction, "kl_div")


# ---- pooling, padding, interpolation ---------------------------------------------------------
# Inputs are (N, C, *spatial) or unbatched (C, *spatial); window arguments are an int or a tuple
# with one entry per spatial dim; stride=None means stride=kernel_size.

def _stride(stride):
    return () if stride is None else stride


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max pooling over L of (N, C, L) / (C, L); with return_indices also the argmax positions."""
    fn = _C.max_pool1d_with_indices if return_indices else _C.max_pool1d
    return fn(input, kernel_size, _stride(stride), padding, dilation, ceil_mode)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """Max pooling over (H, W) of (N, C, H, W) / (C, H, W). NaN propagates; indices are h * W + w."""
    fn = _C.max_pool2d_with_indices if return_indices else _C.max_pool2d
    return fn(input, kernel_size, _stride(stride), padding, dilation, ceil_mode)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Average pooling over L of (N, C, L) / (C, L)."""
    return _C.avg_pool1d(input, kernel_size, _stride(stride), padding, ceil_mode, count_include_pad)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Average pooling over (H, W) of (N, C, H, W) / (C, H, W)."""
    return _C.avg_pool2d(input, kernel_size, _stride(stride), padding, ceil_mode, count_include_pad,
                         divisor_override)


def _adaptive_size(input, output_size, nd):
    """output_size as a list of nd ints; None entries keep the input's size."""
    sizes = list(output_size) if isinstance(output_size, (tuple, list)) else [output_size] * nd
    if len(sizes) != nd:
        raise ValueError(f"adaptive pooling: output_size must have {nd} entries, got {tuple(sizes)}")
    return [input.shape[input.dim() - nd + i] if s is None else s for i, s in enumerate(sizes)]


def adaptive_avg_pool1d(input, output_size):
    """Average pooling of (N, C, L) / (C, L) into output_size windows of near-equal size."""
    return _C.adaptive_avg_pool1d(input, _adaptive_size(input, output_size, 1))


def adaptive_avg_pool2d(input, output_size):
    """Average pooling of (N, C, H, W) / (C, H, W) to output_size (an int, or (oh, ow) with None entries)."""
    return _C.adaptive_avg_pool2d(input, _adaptive_size(input, output_size, 2))


def adaptive_max_pool1d(input, output_size, return_indices=False):
    values, indices = _C.adaptive_max_pool1d(input, _adaptive_size(input, output_size, 1))
    return (values, indices) if return_indices else values


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pooling of (N, C, H, W) / (C, H, W) to output_size; with return_indices also the argmax."""
    values, indices = _C.adaptive_max_pool2d(input, _adaptive_size(input, output_size, 2))
    return (values, indices) if return_indices else values


def pad(input, pad, mode="constant", value=None):
    """Pads the last len(pad) // 2 dims: pad = (left, right, top, bottom, ...), last dim first.

    mode: 'constant' (with `value`, default 0), 'reflect', 'replicate' or 'circular'. Negative
    entries crop. Non-constant modes pad 1 to 3 dims of a 2-D to 5-D input."""
    return _C._pad(input, list(pad), mode, value)


_INTERP_MODES = "nearest | linear | bilinear | bicubic | trilinear | area | nearest-exact"


def _interp_sizes(input, size, scale_factor, recompute_scale_factor):
    dim = input.dim() - 2
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined")
    if size is not None:
        output_size = list(size) if isinstance(size, (list, tuple)) else [size] * dim
        if len(output_size) != dim:
            raise ValueError(
                "Input and output must have the same number of spatial dimensions, but got input with spatial "
                f"dimensions of {list(input.shape[2:])} and output size of {list(output_size)}. Please provide input "
                "tensor in (N, C, d1, d2, ...,dK) format and output size in (o1, o2, ...,oK) format.")
        if recompute_scale_factor:
            raise ValueError("recompute_scale_factor is not meaningful with an explicit size.")
        return [int(s) for s in output_size], None
    if scale_factor is None:
        raise ValueError("either size or scale_factor should be defined")
    scales = list(scale_factor) if isinstance(scale_factor, (list, tuple)) else [scale_factor] * dim
    if len(scales) != dim:
        raise ValueError(
            "Input and scale_factor must have the same number of spatial dimensions, but got input with spatial "
            f"dimensions of {list(input.shape[2:])} and scale_factor of shape {scales}. Please provide input tensor "
            "in (N, C, d1, d2, ...,dK) format and scale_factor in (s1, s2, ...,sK) format.")
    output_size = [math.floor(float(input.shape[i + 2]) * float(scales[i])) for i in range(dim)]
    return output_size, (None if recompute_scale_factor else [float(s) for s in scales])


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resizes the spatial dims of (N, C, L) or (N, C, H, W) input.

    mode: 'nearest' (PyTorch's floor rule), 'nearest-exact', 'linear' (3-D input), 'bilinear'
    (4-D input) or 'area' (adaptive average pooling). Give either size or scale_factor; with
    scale_factor the output size is floor(in * scale) and the scale itself drives the sampling
    unless recompute_scale_factor=True."""
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError("align_corners option can only be set with the interpolating modes: "
                             "linear | bilinear | bicubic | trilinear")
    elif align_corners is None:
        align_corners = False
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported")
    output_size, scales = _interp_sizes(input, size, scale_factor, recompute_scale_factor)
    scales = scales or []
    dim = input.dim()
    if mode in ("nearest", "nearest-exact") and dim in (3, 4):
        return _C._upsample(input, mode, output_size, scales, False)
    if mode == "area" and dim in (3, 4):
        return (adaptive_avg_pool1d if dim == 3 else adaptive_avg_pool2d)(input, output_size)
    if mode == "linear" and dim == 3:
        return _C._upsample(input, mode, output_size, scales, align_corners)
    if mode == "bilinear" and dim == 4:
        return _C._upsample(input, mode, output_size, scales, align_corners)
    if mode == "bilinear" and dim == 3:
        raise NotImplementedError("Got 3D input, but bilinear mode needs 4D input")
    if mode == "linear" and dim == 4:
        raise NotImplementedError("Got 4D input, but linear mode needs 3D input")
    raise NotImplementedError(f"Input Error: Only 3D and 4D input Tensors supported (got {dim}D) for the modes: "
                              f"{_INTERP_MODES} (got {mode}); lamina implements nearest, nearest-exact, linear, "
                              "bilinear and area")


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Deprecated alias of interpolate (as in PyTorch)."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)
# ---- convolutions -------------------------------------------------------------------------------

def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution (cross-correlation), as torch.nn.functional.conv1d.

    Args:
        input: (N, C_in, L) or unbatched (C_in, L).
        weight: (C_out, C_in / groups, k).
        bias: (C_out,) or None.
        stride, dilation: int or 1-tuple. padding: int, 1-tuple, 'valid' or 'same' (stride 1 only).
        groups: C_in and C_out are split into this many independent groups.

    Returns:
        (N, C_out, L_out) with L_out = (L + 2 * padding - dilation * (k - 1) - 1) // stride + 1.
    """
    return _C.conv1d(input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation) in NCHW, as torch.nn.functional.conv2d.

    Args:
        input: (N, C_in, H, W) or unbatched (C_in, H, W).
        weight: (C_out, C_in / groups, kH, kW).
        bias: (C_out,) or None.
        stride, dilation: int or pair. padding: int, pair, 'valid' or 'same' (stride 1 only).
        groups: C_in and C_out are split into this many independent groups (C_in for depthwise).

    Returns:
        (N, C_out, H_out, W_out), H_out = (H + 2 * padding[0] - dilation[0] * (kH - 1) - 1) // stride[0] + 1.
    """
    return _C.conv2d(input, weight, bias, stride, padding, dilation, groups)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 1-D convolution (the gradient of conv1d with respect to its input).

    Args:
        input: (N, C_in, L) or unbatched (C_in, L).
        weight: (C_in, C_out / groups, k).

    Returns:
        (N, C_out, L_out), L_out = (L - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1.
    """
    return _C.conv_transpose1d(input, weight, bias, stride, padding, output_padding, groups, dilation)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
    """Transposed 2-D convolution (the gradient of conv2d with respect to its input).

    Args:
        input: (N, C_in, H, W) or unbatched (C_in, H, W).
        weight: (C_in, C_out / groups, kH, kW).

    Returns:
        (N, C_out, H_out, W_out), H_out = (H - 1) * stride - 2 * padding + dilation * (kH - 1) + output_padding + 1.
    """
    return _C.conv_transpose2d(input, weight, bias, stride, padding, output_padding, groups, dilation)


def unfold(input, kernel_size, dilation=1, padding=0, stride=1):
    """Extracts sliding blocks: (N, C, H, W) -> (N, C * kH * kW, L), L the number of block positions."""
    return _C._im2col(input, kernel_size, dilation, padding, stride)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Sums sliding blocks back into an image: (N, C * kH * kW, L) -> (N, C, *output_size); unfold's adjoint."""
    return _C._col2im(input, output_size, kernel_size, dilation, padding, stride)


from ._multi_head_attention import multi_head_attention_forward  # noqa: E402,F401  (last: it imports this module)
