"""Functional forms of neural-network operations (PyTorch's torch.nn.functional)."""

import math

from .. import _C


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
