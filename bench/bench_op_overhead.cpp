// Per-call time of tiny ops through the C++ op layer (no Python), where a fixed per-op cost such
// as the profiler's guard (core/profiler.h) is the largest share it can be. Prints one JSON object,
// {case: median ns per call}; bench/profiler_overhead.py `cpp` runs two builds of this program
// alternately and compares them.
//
//   cmake -S . -B build/bench -G Ninja -DLAMINA_BUILD_BENCH=ON -Dpybind11_DIR=$(python -m pybind11 --cmakedir)
//   ninja -C build/bench bench_op_overhead && build/bench/bench_op_overhead
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "bench_timing.h"
#include "lamina/autograd/engine.h"
#if __has_include("lamina/core/profiler.h")
#include "lamina/core/profiler.h"
#endif
#include "lamina/cpu/isa.h"
#include "lamina/cpu/parallel.h"
#include "lamina/ops/ops.h"

using namespace lamina;

int main() {
  cpu::init_kernels();
  cpu::set_num_threads(1);
  Tensor a = randn({4}), b = randn({4}), m = randn({8, 8});
  Tensor w = randn({4});
  w.set_requires_grad(true);
  const int kCalls = 20000;
  std::vector<std::pair<const char*, std::function<void()>>> cases = {
      {"add (4 elements)", [&] { add(a, b); }},
      {"relu (4)", [&] { relu(a); }},
      {"exp (4)", [&] { exp(a); }},
      {"sum dim 1 (8x8)", [&] { sum(m, {1}); }},
      {"view (8x8 -> 64)", [&] { view(m, {64}); }},
      {"t (8x8)", [&] { t(m); }},
      {"zeros (4)", [&] { zeros({4}); }},
      {"(w * 2).sum().backward()", [&] { autograd::backward({sum(w * 2.0)}, {}, false, false, {}); }},
      // The guard on its own, against the same call with nothing in it (built with the profiler).
      {"empty call (reference)", [&] { asm volatile("" ::: "memory"); }},
#if __has_include("lamina/core/profiler.h")
      {"disabled guard + empty call", [&] {
         LAMINA_PROFILE_OP("bench", a);
         asm volatile("" ::: "memory");
       }},
#endif
  };
  std::printf("{");
  for (size_t i = 0; i < cases.size(); ++i) {
    auto& fn = cases[i].second;
    auto r = bench::repeat_timed([&] { for (int k = 0; k < kCalls; ++k) fn(); }, 15, 2);
    std::printf("%s\"%s\": %.2f", i ? ", " : "", cases[i].first, r.median / kCalls * 1e9);
  }
  std::printf("}\n");
}
