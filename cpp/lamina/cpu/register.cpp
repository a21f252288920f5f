// Fills the CPU kernel table: baseline kernels first, then those of each higher level up to the
// active one, so an ISA only needs to provide the kernels it speeds up.
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "lamina/core/kernel_table.h"
#include "lamina/cpu/isa.h"

namespace lamina::cpu {

namespace baseline {
void register_kernels(KernelTable& table);
}
#if LAMINA_HAVE_AVX2
namespace avx2 {
void register_kernels(KernelTable& table);
}
#endif
#if LAMINA_HAVE_AVX512
namespace avx512 {
void register_kernels(KernelTable& table);
}
#endif

namespace {
Isa g_active = Isa::Baseline;
std::once_flag g_init_once;

Isa compiled_max() {
#if LAMINA_HAVE_AVX512
  return Isa::Avx512;
#elif LAMINA_HAVE_AVX2
  return Isa::Avx2;
#else
  return Isa::Baseline;
#endif
}
}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Baseline: return "baseline";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
  }
  return "baseline";
}

Isa parse_isa(const std::string& name) {
  if (name == "baseline" || name == "default") return Isa::Baseline;
  if (name == "avx2") return Isa::Avx2;
  if (name == "avx512") return Isa::Avx512;
  throw ValueError("set_cpu_isa: unknown ISA level '" + name + "' (expected baseline, avx2 or avx512)");
}

Isa detected_isa() {
  Isa cpu = Isa::Baseline;
#if defined(__x86_64__) || defined(_M_X64)
  __builtin_cpu_init();
  bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  cpu = avx512 ? Isa::Avx512 : avx2 ? Isa::Avx2 : Isa::Baseline;
#endif
  return int(cpu) < int(compiled_max()) ? cpu : compiled_max();
}

Isa active_isa() {
  init_kernels();
  return g_active;
}

void set_active_isa(Isa isa) {
  LAMINA_CHECK_VALUE(int(isa) <= int(detected_isa()), "set_cpu_isa: ", isa_name(isa),
                     " is not supported by this CPU or build (highest: ", isa_name(detected_isa()), ")");
  KernelTable table;
  baseline::register_kernels(table);
#if LAMINA_HAVE_AVX2
  if (int(isa) >= int(Isa::Avx2)) avx2::register_kernels(table);
#endif
#if LAMINA_HAVE_AVX512
  if (int(isa) >= int(Isa::Avx512)) avx512::register_kernels(table);
#endif
  kernel_table(Device{}) = table;
  g_active = isa;
}

void init_kernels() {
  std::call_once(g_init_once, [] {
    Isa isa = detected_isa();
    if (const char* env = std::getenv("LAMINA_CPU_ISA")) {
      try {
        Isa wanted = parse_isa(env);
        if (int(wanted) < int(isa)) isa = wanted;
      } catch (const ValueError& e) {
        std::fprintf(stderr, "lamina: ignoring LAMINA_CPU_ISA: %s\n", e.what());
      }
    }
    set_active_isa(isa);
  });
}

// Fill the table when the library loads, so kernel_table() never sees it empty.
static const bool g_registered = (init_kernels(), true);

}  // namespace lamina::cpu
