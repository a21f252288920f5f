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
