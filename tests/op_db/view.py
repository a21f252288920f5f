"""View ops: compared against the numpy equivalent on strided and contiguous inputs."""

import numpy as np

from .spec import OpSpec

SPECS = [
    OpSpec("reshape", lambda x: x.reshape(-1), lambda a: a.reshape(-1), kind="view"),
    OpSpec("transpose", lambda x: x.transpose(0, -1), lambda a: np.swapaxes(a, 0, -1), kind="view", min_ndim=1),
    OpSpec("unsqueeze", lambda x: x.unsqueeze(0), lambda a: a[None], kind="view"),
    OpSpec("flatten", lambda x: x.flatten(), lambda a: a.reshape(-1), kind="view"),
]

COVERED_ELSEWHERE = []
