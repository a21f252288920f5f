"""Functional forms of neural-network operations (PyTorch's torch.nn.functional)."""

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
