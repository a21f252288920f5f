// Elementwise ops and reductions over 1e7 float32 values (and a few int32 / bool ones), in GB/s
// (bytes read + written per second), next to this machine's copy bandwidth (memcpy of the same
// buffer). Memory-bound ops should reach ~80% of that copy figure; transcendental ones may be
// compute-bound. The 65536-element cases fit in L2, where the vector width shows.
//
//   cmake -S . -B build/bench -G Ninja -DLAMINA_BUILD_BENCH=ON -Dpybind11_DIR=$(python -m pybind11 --cmakedir)
//   ninja -C build/bench bench_ops && build/bench/bench_ops [threads...]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "bench_timing.h"
#include "lamina/cpu/isa.h"
#include "lamina/cpu/parallel.h"
#include "lamina/ops/ops.h"

using namespace lamina;

namespace {

constexpr int64_t kN = 10'000'000;

struct Case {
  const char* name;
  double bytes;  // bytes read + written
  std::function<Tensor()> run;
};

}  // namespace

int main(int argc, char** argv) {
  const std::vector<int> thread_counts = bench::thread_counts(argc, argv);
  cpu::init_kernels();

  Tensor a = randn({kN}), b = randn({kN}), pos = rand({kN}) + 0.5, m = randn({3162, 3162});
  TensorOptions int32;
  int32.dtype = DType::Int32;
  Tensor ia = randint(-1000, 1000, {kN}, int32), ib = randint(-1000, 1000, {kN}, int32);
  constexpr int64_t kSmall = 65536;
  Tensor sa = randn({kSmall}), sb = randn({kSmall});
  Tensor sia = to(sa * 100.0, DType::Int32), sib = to(sb * 100.0, DType::Int32);
  std::vector<char> src(size_t(kN) * 4, 1), dst(size_t(kN) * 4);
  const double f = 4.0 * kN;  // bytes of one float32 operand
  std::vector<Case> cases = {
      {"copy (clone)", 2 * f, [&] { return clone(a); }},
      {"add", 3 * f, [&] { return add(a, b); }},
      {"mul", 3 * f, [&] { return mul(a, b); }},
      {"add scalar", 2 * f, [&] { return a + 1.5; }},
      {"neg", 2 * f, [&] { return neg(a); }},
      {"relu", 2 * f, [&] { return relu(a); }},
      {"exp", 2 * f, [&] { return exp(a); }},
      {"log", 2 * f, [&] { return log(pos); }},
      {"tanh", 2 * f, [&] { return tanh(a); }},
      {"sigmoid", 2 * f, [&] { return sigmoid(a); }},
      {"gelu", 2 * f, [&] { return gelu(a); }},
      {"gt (-> bool)", 2.25 * f, [&] { return gt(a, b); }},
      {"add (int32)", 3 * f, [&] { return add(ia, ib); }},
      {"neg (int32)", 2 * f, [&] { return neg(ia); }},
      {"add (65536 in L2)", 3 * 4.0 * kSmall, [&] { return add(sa, sb); }},
      {"add (65536 int32 in L2)", 3 * 4.0 * kSmall, [&] { return add(sia, sib); }},
      {"gt (65536 in L2, -> bool)", 9.0 * kSmall, [&] { return gt(sa, sb); }},
      {"eq (65536 int32 in L2, -> bool)", 9.0 * kSmall, [&] { return eq(sia, sib); }},
      {"sum", f, [&] { return sum(a); }},
      {"amax", f, [&] { return amax(a); }},
      {"sum rows (3162x3162, dim=1)", f, [&] { return sum(m, {1}); }},
      {"sum cols (3162x3162, dim=0)", f, [&] { return sum(m, {0}); }},
  };

  std::printf("lamina bench_ops: %lld float32 elements, ISA %s\n", (long long)kN, cpu::isa_name(cpu::active_isa()));
  for (int threads : thread_counts) {
    cpu::set_num_threads(threads);
    double copy_s = bench::repeat_timed([&] { std::memcpy(dst.data(), src.data(), src.size()); }, 15, 2).median;
    double copy_gbs = 2 * f / copy_s / 1e9;
    std::printf("\nthreads=%d  memcpy: %.2f GB/s (%.3f ms)\n", threads, copy_gbs, copy_s * 1e3);
    std::printf("%-30s %10s %10s %12s\n", "op", "ms", "GB/s", "% of memcpy");
    for (auto& c : cases) {
      double s = bench::repeat_timed([&] { c.run(); }, 15, 2).median;
      double gbs = c.bytes / s / 1e9;
      std::printf("%-30s %10.3f %10.2f %11.0f%%\n", c.name, s * 1e3, gbs, 100 * gbs / copy_gbs);
    }
  }
  return 0;
}
