// Which instruction-set level the CPU kernels run at. The level is detected from cpuid at import,
// can be lowered with LAMINA_CPU_ISA=baseline|avx2|avx512, and switched at runtime (tests run
// every op on every level the machine supports).
#pragma once

#include <string>

namespace lamina::cpu {

enum class Isa { Baseline = 0, Avx2 = 1, Avx512 = 2 };

const char* isa_name(Isa isa);
Isa parse_isa(const std::string& name);  // ValueError for an unknown name
// The highest level both this build and this CPU support.
Isa detected_isa();
Isa active_isa();
// Fills the CPU kernel table for `isa`; ValueError if the CPU or build lacks it.
void set_active_isa(Isa isa);
// Registers the CPU kernels (idempotent; also runs at load time).
void init_kernels();

}  // namespace lamina::cpu
