"""Shared fixtures: a fixed seed per test, every ISA level this CPU supports, thread counts."""

import numpy as np
import pytest

import lamina

_LEVELS = ["baseline", "avx2", "avx512"]
ISA_LEVELS = _LEVELS[: _LEVELS.index(lamina._C._detected_cpu_isa()) + 1]


@pytest.fixture(autouse=True)
def _seed():
    lamina.manual_seed(0)
    np.random.seed(0)
    yield


@pytest.fixture(params=ISA_LEVELS)
def isa(request):
    """Runs the test once per ISA level the machine supports, restoring the level afterwards."""
    previous = lamina._C._get_cpu_isa()
    lamina._C._set_cpu_isa(request.param)
    yield request.param
    lamina._C._set_cpu_isa(previous)


@pytest.fixture
def threads():
    """Yields a setter for the thread count and restores the original count afterwards."""
    previous = lamina.get_num_threads()
    yield lamina.set_num_threads
    lamina.set_num_threads(previous)
