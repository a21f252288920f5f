"""The per-ISA kernel build is safe on older CPUs: every function that uses AVX (ymm) or AVX-512
(zmm) registers lives in the lamina::cpu::avx2 / avx512 namespaces, so no shared inline function
(a COMDAT copy picked by the linker) drags AVX code into the baseline path."""

import re
import shutil
import subprocess

import pytest

import lamina


def functions_using(pattern):
    objdump = shutil.which("objdump")
    if objdump is None or not lamina._C.__file__.endswith(".so"):
        pytest.skip("objdump is not available")
    asm = subprocess.run([objdump, "-d", "--no-show-raw-insn", "-C", lamina._C.__file__], capture_output=True,
                         text=True, check=True).stdout
    found, name = {}, None
    register = re.compile(pattern)
    for line in asm.splitlines():
        if line.endswith(">:") and " <" in line:
            name = line.split(" <", 1)[1][:-2]
        elif name and register.search(line):
            found.setdefault(name, line.strip())
    return found


def test_avx_code_only_in_isa_namespaces():
    using_avx = functions_using(r"%[yz]mm\d")
    assert using_avx, "no AVX code found at all: is the build stripped or without ISA variants?"
    outside = {n: insn for n, insn in using_avx.items() if "::avx2::" not in n and "::avx512::" not in n}
    assert not outside, f"AVX instructions outside the ISA namespaces: {outside}"


def test_avx2_code_has_no_avx512():
    using_zmm = functions_using(r"%zmm\d|%k[1-7]")
    wrong = {n: insn for n, insn in using_zmm.items() if "::avx512::" not in n}
    assert not wrong, f"AVX-512 instructions outside the avx512 namespace: {wrong}"


def test_data_movement_kernels_are_built_for_the_baseline_only():
    """index.cpp and sort.cpp gain nothing from wider vectors, so only the baseline compiles them
    (CMakeLists.txt, LAMINA_BASELINE_ONLY_KERNELS): two fewer compiles each in every build."""
    nm = shutil.which("nm")
    if nm is None or not lamina._C.__file__.endswith(".so"):
        pytest.skip("nm is not available")
    names = subprocess.run([nm, "-C", lamina._C.__file__], capture_output=True, text=True, check=True).stdout
    for kernel in ("sort_kernel(", "nonzero_kernel("):
        levels = {level for level in ("baseline", "avx2", "avx512")
                  if re.search(rf"lamina::cpu::{level}::\(anonymous namespace\)::{re.escape(kernel)}", names)}
        assert levels == {"baseline"}, f"{kernel} built for {sorted(levels)}"
