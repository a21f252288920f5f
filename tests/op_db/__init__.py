"""The op table: every public op appears once, with a numpy reference, its input domain, dtypes
and tolerances (PyTorch OpInfo / ggml test_case style). The generic suites in tests/ops/ run
each spec on random inputs of many shapes and layouts, on every ISA level, and check gradients
against finite differences in float64.

Each family lives in its own module and exports SPECS; add a family by importing it below.
"""

from .spec import OpSpec  # noqa: F401
from . import elementwise, index, reduction, shape, view

FAMILIES = (elementwise, reduction, view, index, shape)
ALL_SPECS = [spec for family in FAMILIES for spec in family.SPECS]
SPECS_BY_KIND = {}
for _s in ALL_SPECS:
    SPECS_BY_KIND.setdefault(_s.kind, []).append(_s)

# Public names of lamina._C that are covered by dedicated tests instead of an OpSpec.
COVERED_ELSEWHERE = set()
for _module in FAMILIES:
    COVERED_ELSEWHERE |= set(getattr(_module, "COVERED_ELSEWHERE", ()))
