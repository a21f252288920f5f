"""lamina.nn.utils: gradient clipping, parameter <-> vector conversion and `rnn` (packed sequences)."""

from .clip_grad import clip_grad_norm, clip_grad_norm_, clip_grad_value_  # noqa: F401
from .convert_parameters import parameters_to_vector, vector_to_parameters  # noqa: F401
from . import rnn  # noqa: F401
from .rnn import (PackedSequence, pack_padded_sequence, pack_sequence, pad_packed_sequence,  # noqa: F401
                  pad_sequence, unpack_sequence, unpad_sequence)
