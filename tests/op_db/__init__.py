"""The op table: every public op appears once, with a numpy reference, its input domain, dtypes
and tolerances (PyTorch OpInfo / ggml test_case style). The generic suites in tests/ops/ run
each spec on random inputs of many shapes and layouts, on every ISA level, and check gradients
against finite differences in float64.

Each family is a module of this package exporting SPECS (a list of OpSpec) and optionally
COVERED_ELSEWHERE ({public name: test file} for ops tested by hand-written tests instead) and
ALIASES ({alias: canonical name}). Modules are discovered automatically: add a family by adding
a file. tests/ops/test_coverage.py checks that every public function of lamina._C is claimed.
"""

import importlib
import pkgutil

from .spec import OpSpec  # noqa: F401

FAMILIES = [importlib.import_module(f"{__name__}.{m.name}") for m in sorted(pkgutil.iter_modules(__path__),
                                                                              key=lambda m: m.name)
            if m.name != "spec"]

ALL_SPECS = [s for family in FAMILIES for s in family.SPECS]
SPECS_BY_KIND = {}
for _s in ALL_SPECS:
    SPECS_BY_KIND.setdefault(_s.kind, []).append(_s)

# Public names of lamina._C covered by dedicated tests instead of an OpSpec, with the test file.
COVERED_ELSEWHERE = {}
ALIASES = {}
for _family in FAMILIES:
    _covered = getattr(_family, "COVERED_ELSEWHERE", {})
    if not isinstance(_covered, dict):  # a plain list of names (no test file named)
        _covered = {name: None for name in _covered}
    COVERED_ELSEWHERE.update(_covered)
    ALIASES.update(getattr(_family, "ALIASES", {}))
